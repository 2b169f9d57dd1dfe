//! The store against both backends: SQLite in a temporary directory and a real PostgreSQL
//! (a database created for the test and dropped after). PostgreSQL is found at
//! `CONFER_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`); the test
//! command starts it when it is not running.

use std::path::PathBuf;

use confer::store::{CallOutcome, NewUser, Store, StoreError};
use sqlx::Connection;

fn admin_url() -> String {
    std::env::var("CONFER_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("confer-store-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A PostgreSQL database that exists for one test.
struct PgDatabase {
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(tag: &str) -> PgDatabase {
        sqlx::any::install_default_drivers();
        let name = format!("confer_test_{tag}_{}", std::process::id());
        let admin = admin_url();
        let mut conn = sqlx::AnyConnection::connect(&admin)
            .await
            .expect("PostgreSQL is reachable (the test command starts it)");
        let drop = sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"));
        sqlx::query(drop).execute(&mut conn).await.unwrap();
        let create = sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"));
        sqlx::query(create).execute(&mut conn).await.unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        PgDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }

    async fn drop_now(self) {
        let mut conn = sqlx::AnyConnection::connect(&admin_url()).await.unwrap();
        let sql = sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
}

/// Everything the store does, run against one backend.
async fn exercise(store: &Store) {
    // Migrations are idempotent.
    store.migrate().await.unwrap();

    let ann = store
        .create_user(NewUser {
            username: "Ann",
            email: "Ann@Example.org",
            password_hash: "h1",
        })
        .await
        .unwrap();
    assert_eq!(ann.username, "Ann");
    assert!(matches!(
        store
            .create_user(NewUser {
                username: "aNN",
                email: "x@example.org",
                password_hash: "h"
            })
            .await,
        Err(StoreError::UsernameTaken)
    ));
    assert!(matches!(
        store
            .create_user(NewUser {
                username: "ann2",
                email: "ann@example.ORG",
                password_hash: "h"
            })
            .await,
        Err(StoreError::EmailTaken)
    ));
    let ben = store
        .create_user(NewUser {
            username: "ben",
            email: "ben@example.org",
            password_hash: "h2",
        })
        .await
        .unwrap();
    assert_eq!(
        store.user_by_login("ANN").await.unwrap().unwrap().id,
        ann.id
    );
    assert_eq!(
        store
            .user_by_login("ann@example.org")
            .await
            .unwrap()
            .unwrap()
            .id,
        ann.id
    );
    assert!(store.user_by_login("nobody").await.unwrap().is_none());
    assert!(store.username_exists("BEN").await.unwrap());
    assert_eq!(store.list_users().await.unwrap().len(), 2);

    // Sessions: found while live, slide, revoked by a password change.
    store.create_session("s1", ann.id, 3600).await.unwrap();
    store.create_session("s2", ann.id, 3600).await.unwrap();
    store.create_session("expired", ann.id, -1).await.unwrap();
    assert_eq!(
        store.session_user("s1", 3600).await.unwrap().unwrap().id,
        ann.id
    );
    assert!(store.session_user("expired", 3600).await.unwrap().is_none());
    assert!(store.session_user("nope", 3600).await.unwrap().is_none());
    store.delete_session("s2").await.unwrap();
    assert!(store.session_user("s2", 3600).await.unwrap().is_none());

    // Reset links: single use, expiring, revoked by a password change.
    store.create_reset("r1", ann.id, 1800).await.unwrap();
    store.create_reset("r-old", ann.id, -1).await.unwrap();
    assert!(store.reset_is_valid("r1").await.unwrap());
    assert_eq!(store.consume_reset("r1").await.unwrap(), Some(ann.id));
    assert_eq!(store.consume_reset("r1").await.unwrap(), None);
    assert_eq!(store.consume_reset("r-old").await.unwrap(), None);
    store.create_reset("r2", ann.id, 1800).await.unwrap();
    store.set_password_hash(ann.id, "h1-new").await.unwrap();
    assert!(store.session_user("s1", 3600).await.unwrap().is_none());
    assert_eq!(store.consume_reset("r2").await.unwrap(), None);
    assert_eq!(
        store
            .user_by_id(ann.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "h1-new"
    );
    store
        .create_session("expired-too", ben.id, -1)
        .await
        .unwrap();
    assert_eq!(store.purge_expired().await.unwrap(), 1);

    // Call log.
    store
        .log_call_started("c1", ("Ann", Some(ann.id)), ("ben", Some(ben.id)))
        .await
        .unwrap();
    store.log_call_answered("c1").await.unwrap();
    store
        .log_call_ended("c1", CallOutcome::Answered)
        .await
        .unwrap();
    store
        .log_call_started("c2", ("ben", Some(ben.id)), ("Ann", Some(ann.id)))
        .await
        .unwrap();
    store
        .log_call_ended("c2", CallOutcome::Missed)
        .await
        .unwrap();
    store
        .log_call_started("c3", ("guest", None), ("ben", Some(ben.id)))
        .await
        .unwrap();
    store
        .log_call_ended("c3", CallOutcome::Declined)
        .await
        .unwrap();
    let anns = store.recent_calls(ann.id, 10).await.unwrap();
    assert_eq!(anns.len(), 2);
    assert!(
        anns.iter()
            .any(|c| c.call_id == "c1" && c.outcome == Some(CallOutcome::Answered))
    );
    assert!(
        anns.iter()
            .any(|c| c.call_id == "c2" && c.outcome == Some(CallOutcome::Missed))
    );
    assert_eq!(store.recent_calls(ben.id, 10).await.unwrap().len(), 3);
    assert_eq!(store.recent_calls(ben.id, 1).await.unwrap().len(), 1);

    // Deleting an account keeps the others' history.
    store.delete_user(ann.id).await.unwrap();
    assert!(matches!(
        store.delete_user(ann.id).await,
        Err(StoreError::NoSuchUser)
    ));
    assert_eq!(store.recent_calls(ben.id, 10).await.unwrap().len(), 3);
    assert!(store.ping().await);
}

#[tokio::test]
async fn sqlite_store() {
    let dir = temp_dir("sqlite");
    let store = Store::open(None, &dir).await.unwrap();
    assert!(dir.join("confer.db").exists());
    exercise(&store).await;
    store.close().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn postgres_store() {
    let db = PgDatabase::create("store").await;
    let store = Store::open(Some(&db.url), &temp_dir("pg")).await.unwrap();
    assert_eq!(store.backend(), confer::store::Backend::Postgres);
    exercise(&store).await;
    store.close().await;
    db.drop_now().await;
}

#[tokio::test]
async fn a_bad_database_url_is_a_clear_error() {
    let err = Store::open(Some("mysql://u:secret@h/db"), &temp_dir("bad"))
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("unsupported") && !msg.contains("secret"),
        "{msg}"
    );
}
