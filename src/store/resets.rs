//! Password reset links: stored hashed, single use, short-lived.

use sqlx::Row;

use super::{Store, StoreError, now};

impl Store {
    pub async fn create_reset(
        &self,
        token_hash: &str,
        user_id: i64,
        lifetime_secs: i64,
    ) -> Result<(), StoreError> {
        let t = now();
        sqlx::query(
            "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(t)
        .bind(t + lifetime_secs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Mark a live, unused reset link as used and return its user. The conditional UPDATE
    /// makes two simultaneous uses of one link impossible: only one changes a row.
    pub async fn consume_reset(&self, token_hash: &str) -> Result<Option<i64>, StoreError> {
        let t = now();
        let done = sqlx::query(
            "UPDATE password_resets SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(t)
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT user_id FROM password_resets WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("user_id")).transpose()?)
    }

    /// Whether a reset link is live (for showing the form before it is used).
    pub async fn reset_is_valid(&self, token_hash: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT user_id FROM password_resets \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }
}
