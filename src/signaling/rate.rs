//! A token bucket: how many messages a connection may send, on average and in a burst.

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` tokens per second refill a bucket holding at most `burst`; it starts full.
    pub fn new(rate: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    /// Take one token at `now`; false when the bucket is empty.
    pub fn take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 5);
        for _ in 0..5 {
            assert!(bucket.take_at(start));
        }
        assert!(!bucket.take_at(start));
        // 10 per second: one more token every 100 ms.
        assert!(bucket.take_at(start + Duration::from_millis(100)));
        assert!(!bucket.take_at(start + Duration::from_millis(100)));
        // It never holds more than the burst.
        let later = start + Duration::from_secs(60);
        for _ in 0..5 {
            assert!(bucket.take_at(later));
        }
        assert!(!bucket.take_at(later));
    }
}
