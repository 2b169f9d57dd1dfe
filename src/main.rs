use anyhow::Context;
use clap::{Parser, Subcommand};

use confer::config::{Config, ServeArgs};

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
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web client, signaling and API (the default).
    Serve(ServeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CONFER_LOG")
                .unwrap_or_else(|_| "confer=info,warn".into()),
        )
        .init();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        None => cli.serve,
    };
    let config = Config::load(&args)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let server = confer::start(config).await?;
    println!(
        "Confer is ready: open {} (listening on {})",
        server.local_url(),
        server.addr
    );
    tokio::select! {
        result = server.task => result.context("server task failed")??,
        _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
    }
    Ok(())
}
