//! The call log behind "Recent calls".

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now};

/// How a call by name ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Answered,
    Declined,
    Missed,
    Cancelled,
    Busy,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Answered => "answered",
            CallOutcome::Declined => "declined",
            CallOutcome::Missed => "missed",
            CallOutcome::Cancelled => "cancelled",
            CallOutcome::Busy => "busy",
        }
    }

    fn parse(s: &str) -> Option<CallOutcome> {
        Some(match s {
            "answered" => CallOutcome::Answered,
            "declined" => CallOutcome::Declined,
            "missed" => CallOutcome::Missed,
            "cancelled" => CallOutcome::Cancelled,
            "busy" => CallOutcome::Busy,
            _ => return None,
        })
    }
}

/// One row of someone's call history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    pub call_id: String,
    pub caller: String,
    pub callee: String,
    pub caller_user_id: Option<i64>,
    pub callee_user_id: Option<i64>,
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub outcome: Option<CallOutcome>,
}

fn record(row: &AnyRow) -> Result<CallRecord, sqlx::Error> {
    let outcome: Option<String> = row.try_get("outcome")?;
    Ok(CallRecord {
        call_id: row.try_get("call_id")?,
        caller: row.try_get("caller_name")?,
        callee: row.try_get("callee_name")?,
        caller_user_id: row.try_get("caller_user_id")?,
        callee_user_id: row.try_get("callee_user_id")?,
        started_at: row.try_get("started_at")?,
        answered_at: row.try_get("answered_at")?,
        ended_at: row.try_get("ended_at")?,
        outcome: outcome.as_deref().and_then(CallOutcome::parse),
    })
}

impl Store {
    pub async fn log_call_started(
        &self,
        call_id: &str,
        caller: (&str, Option<i64>),
        callee: (&str, Option<i64>),
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO call_log (call_id, caller_name, callee_name, caller_user_id, callee_user_id, started_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(call_id)
        .bind(caller.0)
        .bind(callee.0)
        .bind(caller.1)
        .bind(callee.1)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn log_call_answered(&self, call_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE call_log SET answered_at = $1, outcome = 'answered' WHERE call_id = $2",
        )
        .bind(now())
        .bind(call_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Close a call; an answered call keeps `answered` as its outcome.
    pub async fn log_call_ended(
        &self,
        call_id: &str,
        outcome: CallOutcome,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE call_log SET ended_at = $1, \
             outcome = CASE WHEN answered_at IS NULL THEN $2 ELSE 'answered' END \
             WHERE call_id = $3",
        )
        .bind(now())
        .bind(outcome.as_str())
        .bind(call_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` calls the user made or received.
    pub async fn recent_calls(
        &self,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT call_id, caller_name, callee_name, caller_user_id, callee_user_id, \
             started_at, answered_at, ended_at, outcome FROM call_log \
             WHERE caller_user_id = $1 OR callee_user_id = $1 \
             ORDER BY started_at DESC, id DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(record).collect::<Result<_, _>>()?)
    }
}
