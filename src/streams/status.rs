//! A stream as the API shows it, with its delivery status: the cursor, how far it lags the
//! log (in events, and in seconds since the oldest undelivered event), the last success, the
//! last error and the records delivered. Secrets are never part of it.

use serde_json::{Map, Value, json};

use crate::model::from_micros;
use crate::storage::streams::StoredStream;

/// How far a stream lags the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    pub events: u64,
    pub seconds: u64,
}

/// The lag of a stream at `cursor` in a log of `tree_size` leaves whose leaf at the cursor
/// occurred at `oldest_pending` (microseconds), at `now`.
pub fn lag(cursor: u64, tree_size: u64, oldest_pending: Option<i64>, now: i64) -> Lag {
    let events = tree_size.saturating_sub(cursor);
    let seconds = match oldest_pending {
        Some(at) if events > 0 => u64::try_from(now.saturating_sub(at) / 1_000_000).unwrap_or(0),
        _ => 0,
    };
    Lag { events, seconds }
}

/// The stream's JSON: `{"id", "kind", "config", "status", "createdAt", "updatedAt"}`.
pub fn stream_json(s: &StoredStream, public: &Map<String, Value>, lag: Lag) -> Value {
    let time = |us: Option<i64>| us.map(|us| from_micros(us).to_string());
    json!({
        "id": s.id,
        "kind": s.kind,
        "config": public,
        "status": {
            "state": s.state,
            "cursor": s.cursor,
            "lagEvents": lag.events,
            "lagSeconds": lag.seconds,
            "lastSuccessAt": time(s.last_success_at),
            "lastError": s.last_error,
            "delivered": s.delivered,
        },
        "createdAt": from_micros(s.created_at).to_string(),
        "updatedAt": from_micros(s.updated_at).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_undelivered_events_and_the_age_of_the_oldest() {
        let now = 1_790_000_000_000_000;
        assert_eq!(lag(10, 10, None, now), Lag::default());
        assert_eq!(
            lag(7, 10, Some(now - 42_500_000), now),
            Lag {
                events: 3,
                seconds: 42
            }
        );
        assert_eq!(
            lag(10, 10, Some(now - 42_000_000), now).seconds,
            0,
            "caught up"
        );
        assert_eq!(
            lag(3, 10, Some(now + 5_000_000), now).seconds,
            0,
            "a future event"
        );
    }
}
