//! Per-key request rates: a token bucket per API key that holds a whole minute's allowance (so
//! a burst of the minute's allowance passes) and refills evenly. Kept in each replica's memory:
//! with several replicas behind a load balancer the allowance applies per replica.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets by key id.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// Takes one request from `key`'s allowance of `per_minute`.
    ///
    /// # Errors
    /// The whole seconds to wait before the next request passes.
    pub fn take(&self, key: &str, per_minute: u32, now: Instant) -> Result<(), u64> {
        let capacity = f64::from(per_minute.max(1));
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_minutes_allowance_passes_at_once_then_refills_evenly() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(limiter.take("k", 60, t0).is_ok());
        }
        assert_eq!(limiter.take("k", 60, t0), Err(1));
        assert!(
            limiter.take("other", 60, t0).is_ok(),
            "each key has its own"
        );
        assert!(limiter.take("k", 60, t0 + Duration::from_secs(1)).is_ok());
        assert!(limiter.take("k", 60, t0 + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn the_wait_says_when_the_next_request_passes() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        assert!(limiter.take("k", 2, t0).is_ok());
        assert!(limiter.take("k", 2, t0).is_ok());
        assert_eq!(limiter.take("k", 2, t0), Err(30));
    }
}
