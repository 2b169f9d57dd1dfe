//! Fixed-window rate limits keyed by client IP or account, answered with `429` and
//! `Retry-After` by the HTTP layer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `max` attempts per key in each `window`.
pub struct RateLimiter {
    max: u32,
    window: Duration,
    hits: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Keys kept before expired windows are swept out, bounding memory under key floods.
const SWEEP_AT: usize = 10_000;

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            max,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Count one attempt for `key`; `Err(wait)` when over the limit.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if hits.len() >= SWEEP_AT {
            let window = self.window;
            hits.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = hits.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            return Err(self.window.saturating_sub(now.duration_since(entry.0)));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// The limits on account endpoints.
pub struct AccountLimits {
    pub sign_in_ip: RateLimiter,
    pub sign_in_account: RateLimiter,
    pub sign_up_ip: RateLimiter,
    pub reset_ip: RateLimiter,
    pub reset_account: RateLimiter,
}

impl Default for AccountLimits {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        AccountLimits {
            sign_in_ip: RateLimiter::new(30, minutes(5)),
            sign_in_account: RateLimiter::new(10, minutes(5)),
            sign_up_ip: RateLimiter::new(10, minutes(60)),
            reset_ip: RateLimiter::new(10, minutes(60)),
            reset_account: RateLimiter::new(3, minutes(60)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_then_refuses_with_a_wait() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(limiter.check("1.2.3.4").is_ok());
        }
        let wait = limiter.check("1.2.3.4").unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert!(limiter.check("5.6.7.8").is_ok(), "keys are independent");
    }

    #[test]
    fn a_new_window_starts_afresh() {
        let limiter = RateLimiter::new(1, Duration::from_millis(1));
        assert!(limiter.check("k").is_ok());
        std::thread::sleep(Duration::from_millis(5));
        assert!(limiter.check("k").is_ok());
    }
}
