//! What to do after an attempt (vector's retry logic): retry timeouts, connection errors, 408,
//! 429 (honouring `Retry-After`) and 5xx but 501; split a batch the receiver found too large
//! (413); treat other 4xx (bad credentials, a refused request) as permanent, which stops the
//! stream visibly instead of retrying forever. Backoff is capped exponential with full jitter.

use std::time::Duration;

/// An attempt's outcome as the worker acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again, not before `after` when the receiver said so.
    Retry {
        after: Option<Duration>,
    },
    /// The batch is too large for the receiver: send it in halves.
    Split,
    /// Retrying cannot help.
    Permanent,
}

/// The verdict on an HTTP answer with `status` and its `Retry-After` header, if any.
pub fn classify(status: u16, retry_after: Option<&str>, now: jiff::Timestamp) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        413 => Verdict::Split,
        408 | 429 => Verdict::Retry {
            after: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        501 => Verdict::Permanent,
        500..=599 => Verdict::Retry {
            after: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        _ => Verdict::Permanent,
    }
}

/// The longest `Retry-After` honoured: a receiver asking for more is retried after this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// `Retry-After` as delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
        let micros = at
            .as_microsecond()
            .saturating_sub(now.as_microsecond())
            .max(0);
        Duration::from_micros(micros as u64)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// How retries back off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (0 for the first retry): uniform in
    /// `[0, min(cap, base × 2^attempt)]`, `unit` being a uniform draw in `[0, 1)`. Full jitter
    /// keeps replicas retrying against one receiver from retrying in step.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(30)))
            .min(self.cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait before a retry: the receiver's `Retry-After` when it gave one, else jittered.
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        retry_after.unwrap_or_else(|| self.delay(attempt, random_unit()))
    }
}

/// A uniform draw in `[0, 1)`.
pub fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    // Without randomness the wait is the ceiling: slower, never a busy loop.
    if getrandom::fill(&mut bytes).is_err() {
        return 0.999;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_contract_says() {
        let now = jiff::Timestamp::from_second(1_790_000_000).unwrap();
        let retry = Verdict::Retry { after: None };
        for (status, verdict) in [
            (200, Verdict::Delivered),
            (204, Verdict::Delivered),
            (408, retry.clone()),
            (429, retry.clone()),
            (500, retry.clone()),
            (502, retry.clone()),
            (503, retry.clone()),
            (599, retry.clone()),
            (501, Verdict::Permanent),
            (413, Verdict::Split),
            (400, Verdict::Permanent),
            (401, Verdict::Permanent),
            (403, Verdict::Permanent),
            (404, Verdict::Permanent),
            (302, Verdict::Permanent),
        ] {
            assert_eq!(classify(status, None, now), verdict, "{status}");
        }
        assert_eq!(
            classify(429, Some("7"), now),
            Verdict::Retry {
                after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date_and_is_capped() {
        let now = jiff::Timestamp::from_second(1_790_000_000).unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&(now + jiff::SignedDuration::from_secs(5)))
            .unwrap();
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("99999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_is_capped_exponential_with_full_jitter() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        };
        assert_eq!(
            b.delay(0, 0.999_999),
            Duration::from_millis(100).mul_f64(0.999_999)
        );
        assert_eq!(b.delay(3, 0.5), Duration::from_millis(400));
        assert_eq!(b.delay(40, 0.5), Duration::from_millis(2500), "capped");
        assert_eq!(b.delay(5, 0.0), Duration::ZERO, "full jitter reaches zero");
        for _ in 0..1000 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u));
            assert!(b.delay(10, u) <= b.cap);
        }
        assert_eq!(
            b.wait(2, Some(Duration::from_secs(9))),
            Duration::from_secs(9)
        );
    }
}
