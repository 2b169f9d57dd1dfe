//! Sign-in sessions, keyed by the SHA-256 of the cookie token (the token itself is never stored).

use sqlx::Row;

use super::{Store, StoreError, User, now};

impl Store {
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        lifetime_secs: i64,
    ) -> Result<(), StoreError> {
        let t = now();
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(t)
        .bind(t + lifetime_secs)
        .bind(t)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user of a live session, sliding its expiry forward by `lifetime_secs`.
    pub async fn session_user(
        &self,
        token_hash: &str,
        lifetime_secs: i64,
    ) -> Result<Option<User>, StoreError> {
        let t = now();
        let row =
            sqlx::query("SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(t)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user_id: i64 = row.try_get("user_id")?;
        sqlx::query("UPDATE sessions SET last_seen = $1, expires_at = $2 WHERE token_hash = $3")
            .bind(t)
            .bind(t + lifetime_secs)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        self.user_by_id(user_id).await
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Remove expired sessions and reset links; returns how many rows went.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let t = now();
        let a = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(t)
            .execute(&self.pool)
            .await?;
        let b = sqlx::query("DELETE FROM password_resets WHERE expires_at <= $1")
            .bind(t)
            .execute(&self.pool)
            .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }
}
