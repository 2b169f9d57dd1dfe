//! Persistent data on sqlx: SQLite (`confer.db` in `data_dir`, the default) or PostgreSQL.
//!
//! Both backends run the same SQL through sqlx's `Any` driver, so every column is one of the
//! types `Any` carries: integers (times are Unix seconds), text. Each backend has its own
//! migrations because their DDL differs.

mod calls;
mod resets;
mod sessions;
mod users;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

pub use calls::{CallOutcome, CallRecord};
pub use users::{NewUser, User, key as users_key};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("that username is already taken")]
    UsernameTaken,
    #[error("that email address is already registered")]
    EmailTaken,
    #[error("no such user")]
    NoSuchUser,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database_url {0:?}: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
}

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connect to `database_url`, or to `confer.db` in `data_dir` when there is none, and
    /// bring the schema up to date.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Store, StoreError> {
        let store = Store::connect(database_url, data_dir).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connect without migrating.
    pub async fn connect(database_url: Option<&str>, data_dir: &Path) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let url = match database_url {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}?mode=rwc", data_dir.join("confer.db").display()),
        };
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact(&url)));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                // SQLite allows one writer; a small pool avoids "database is locked" storms.
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            })
            .acquire_timeout(std::time::Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in [
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA busy_timeout = 5000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Store { pool, backend })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Current time in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A URL with its password hidden, for error messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Whether a database error is a unique-constraint violation on a column named in `what`.
fn unique_violation(err: &sqlx::Error, what: &str) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            let msg = db.message();
            let unique =
                db.is_unique_violation() || msg.contains("UNIQUE") || msg.contains("duplicate key");
            unique && (msg.contains(what) || db.constraint().is_some_and(|c| c.contains(what)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://app:s3cret@db:5432/confer"),
            "postgres://app:***@db:5432/confer"
        );
        assert_eq!(super::redact("mysql://x"), "mysql://x");
    }
}
