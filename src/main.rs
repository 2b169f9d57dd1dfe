use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use confer::auth::{password, rules};
use confer::config::{Config, LogFormat, ServeArgs};
use confer::store::{NewUser, Store, StoreError};

/// Confer: self-hosted video calls. Run with no arguments to serve on 0.0.0.0:8080.
///
/// Every setting can also come from `confer.toml` (in the working directory, or --config)
/// and from a CONFER_<NAME> environment variable; flags win over the environment, which wins
/// over the file.
#[derive(Parser)]
#[command(name = "confer", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web client, signaling and API (the default).
    Serve,
    /// Create or update the database schema, then exit.
    Migrate,
    /// (Re)generate the self-signed HTTPS certificate in data_dir/tls, print its fingerprint.
    GenCert,
    /// Manage accounts in the configured database.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create an account. The password is read from standard input (or asked for on a terminal).
    Add {
        username: String,
        #[arg(long)]
        email: String,
    },
    /// List accounts.
    List,
    /// Delete an account, its sessions and reset links (its calls stay in others' history).
    Delete { username: String },
    /// Set a new password (read like `add`) and sign the account out everywhere.
    SetPassword { username: String },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(&cli.settings)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONFER_LOG")
        .unwrap_or_else(|_| "confer=info,warn".into());
    match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(false)
            .with_env_filter(filter)
            .init(),
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = config.workers {
        runtime.worker_threads(workers);
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        None | Some(Command::Serve) => runtime.block_on(serve(config)),
        Some(Command::Migrate) => runtime.block_on(async {
            let store = open_store(&config).await?;
            store.close().await;
            println!("database is up to date");
            Ok(())
        }),
        Some(Command::GenCert) => {
            confer::tls::install_crypto_provider();
            let fingerprint = confer::tls::generate_self_signed(&config.data_dir)?;
            let (cert, key) = confer::tls::self_signed_paths(&config.data_dir);
            println!(
                "wrote {} and {}\nSHA-256 fingerprint: {fingerprint}\n(used when tls = self-signed; restart a running server)",
                cert.display(),
                key.display()
            );
            Ok(())
        }
        Some(Command::User { action }) => runtime.block_on(user_command(action, &config)),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Watch the signals before saying "ready": one sent right after must drain, not kill.
    let stop = stop_requested()?;
    let server = confer::start(config).await?;
    println!(
        "Confer is ready: open {} (listening on {})",
        server.local_url(),
        server.addr
    );
    for url in server.lan_urls() {
        println!("  on this network: {url}");
    }
    if let Some(fingerprint) = &server.tls_fingerprint {
        println!("  certificate SHA-256 fingerprint: {fingerprint}");
        println!(
            "  (a self-signed certificate: check this fingerprint in the browser's warning before accepting it)"
        );
    }
    let mut server = server;
    tokio::select! {
        result = &mut server.task => result.context("server task failed")??,
        _ = stop => {
            tracing::info!("stopping: asking clients to reconnect elsewhere");
            server.drain().await;
            tracing::info!("stopped");
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (what systemd and container runtimes send); the handlers
/// are installed when this is called.
fn stop_requested() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
    Store::open(config.database_url.as_deref(), &config.data_dir)
        .await
        .context("cannot open the database")
}

async fn user_command(action: UserAction, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match action {
        UserAction::Add { username, email } => {
            if let Some(p) = rules::username_problem(&username) {
                bail!("username: {p}");
            }
            if let Some(p) = rules::email_problem(&email) {
                bail!("email: {p}");
            }
            let hash = password::hash(&read_new_password()?).await?;
            match store
                .create_user(NewUser {
                    username: &username,
                    email: &email,
                    password_hash: &hash,
                })
                .await
            {
                Ok(user) => println!("created {} <{}>", user.username, user.email),
                Err(StoreError::UsernameTaken) => bail!("the username {username} is taken"),
                Err(StoreError::EmailTaken) => bail!("an account already uses {email}"),
                Err(e) => return Err(e.into()),
            }
        }
        UserAction::List => {
            for user in store.list_users().await? {
                println!("{}\t{}\t{}", user.username, user.email, user.created_at);
            }
        }
        UserAction::Delete { username } => {
            let user = find(&store, &username).await?;
            store.delete_user(user.id).await?;
            println!("deleted {}", user.username);
        }
        UserAction::SetPassword { username } => {
            let user = find(&store, &username).await?;
            let hash = password::hash(&read_new_password()?).await?;
            store.set_password_hash(user.id, &hash).await?;
            println!(
                "password changed for {}; all its sessions are signed out",
                user.username
            );
        }
    }
    store.close().await;
    Ok(())
}

async fn find(store: &Store, username: &str) -> anyhow::Result<confer::store::User> {
    store
        .user_by_username(username)
        .await?
        .with_context(|| format!("no account named {username}"))
}

/// A password from a terminal prompt (not echoed), or the first line of standard input.
fn read_new_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Confirm password: ")?;
        if first != again {
            bail!("the passwords do not match");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if let Some(p) = rules::password_problem(&password) {
        bail!("password: {p}");
    }
    Ok(password)
}
