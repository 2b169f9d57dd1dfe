//! Accounts: username (unique case-insensitively), email (unique), argon2id hash.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now, unique_violation};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: i64,
}

/// What creating an account needs; the password is already hashed.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
}

const COLUMNS: &str = "id, username, email, password_hash, created_at";

fn user(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The key that makes usernames and emails unique regardless of case.
pub fn key(s: &str) -> String {
    s.trim().to_lowercase()
}

impl Store {
    pub async fn create_user(&self, new: NewUser<'_>) -> Result<User, StoreError> {
        let created_at = now();
        let result = sqlx::query(
            "INSERT INTO users (username, username_key, email, email_key, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new.username)
        .bind(key(new.username))
        .bind(new.email.trim())
        .bind(key(new.email))
        .bind(new.password_hash)
        .bind(created_at)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => {}
            Err(e) if unique_violation(&e, "username") => return Err(StoreError::UsernameTaken),
            Err(e) if unique_violation(&e, "email") => return Err(StoreError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        self.user_by_username(new.username)
            .await?
            .ok_or(StoreError::NoSuchUser)
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM users WHERE id = $1"));
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(user).transpose()?)
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM users WHERE username_key = $1"
        ));
        let row = sqlx::query(sql)
            .bind(key(username))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user).transpose()?)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM users WHERE email_key = $1"));
        let row = sqlx::query(sql)
            .bind(key(email))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user).transpose()?)
    }

    /// Sign-in accepts a username or an email address.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        if login.contains('@') {
            self.user_by_email(login).await
        } else {
            self.user_by_username(login).await
        }
    }

    pub async fn username_exists(&self, username: &str) -> Result<bool, StoreError> {
        Ok(self.user_by_username(username).await?.is_some())
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM users ORDER BY username_key"));
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(user).collect::<Result<_, _>>()?)
    }

    /// Replace the password hash and revoke every session and reset link of the user.
    pub async fn set_password_hash(&self, user_id: i64, hash: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NoSuchUser);
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM password_resets WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_user(&self, user_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM sessions WHERE user_id = $1",
            "DELETE FROM password_resets WHERE user_id = $1",
            "UPDATE call_log SET caller_user_id = NULL WHERE caller_user_id = $1",
            "UPDATE call_log SET callee_user_id = NULL WHERE callee_user_id = $1",
        ] {
            sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NoSuchUser);
        }
        tx.commit().await?;
        Ok(())
    }
}
