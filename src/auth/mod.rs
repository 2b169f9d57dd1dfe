//! Accounts: password hashing, session and reset tokens, rate limits, input rules.

pub mod password;
pub mod rate_limit;
pub mod rules;
pub mod token;

/// Sessions last 30 days from the last time they were used.
pub const SESSION_LIFETIME_SECS: i64 = 30 * 24 * 3600;
/// Password reset links work for 30 minutes, once.
pub const RESET_LIFETIME_SECS: i64 = 30 * 60;
/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "confer_session";
