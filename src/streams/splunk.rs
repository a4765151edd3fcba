//! Splunk's HTTP Event Collector. Every request names a channel (`X-Splunk-Request-Channel`,
//! fixed per destination), which HEC requires when the receiver enables indexer
//! acknowledgement and ignores otherwise. When an answer carries an `ackId`, the batch counts as
//! delivered only once `/services/collector/ack` confirms it was indexed, so a receiver that
//! accepted a batch and lost it before indexing gets it again.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::record::{self, Item, SplunkFields};
use super::retry::Verdict;
use super::sink::{Attempt, post_response};

/// How long tally waits for Splunk to confirm a batch was indexed before sending it again.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// One HEC destination.
pub struct Hec {
    base: String,
    token: String,
    fields: SplunkFields,
    channel: String,
}

impl Hec {
    pub fn new(base: String, token: String, fields: SplunkFields) -> Hec {
        let channel = channel(&base, &token);
        Hec {
            base,
            token,
            fields,
            channel,
        }
    }

    fn request(&self, client: &reqwest::Client, path: &str) -> reqwest::RequestBuilder {
        client
            .post(format!("{}{path}", self.base))
            .header("authorization", format!("Splunk {}", self.token))
            .header("x-splunk-request-channel", &self.channel)
            .header("content-type", "application/json")
    }

    /// Sends a batch and, when HEC acknowledges by id, waits for its indexing.
    pub async fn send(&self, client: &reqwest::Client, items: &[Item]) -> Attempt {
        let request = self
            .request(client, "/services/collector/event")
            .body(record::splunk_body(items, &self.fields));
        let response = match post_response(request).await {
            Ok(response) => response,
            Err(attempt) => return attempt,
        };
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        match answer.get("ackId").and_then(Value::as_u64) {
            Some(id) => self.await_ack(client, id).await,
            None => Attempt::delivered(),
        }
    }

    async fn await_ack(&self, client: &reqwest::Client, id: u64) -> Attempt {
        let deadline = Instant::now() + ACK_TIMEOUT;
        let mut wait = Duration::from_millis(100);
        loop {
            let request = self
                .request(
                    client,
                    &format!("/services/collector/ack?channel={}", self.channel),
                )
                .body(json!({"acks": [id]}).to_string());
            let response = match post_response(request).await {
                Ok(response) => response,
                Err(attempt) => return attempt,
            };
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if answer["acks"][id.to_string()] == Value::Bool(true) {
                return Attempt::delivered();
            }
            if Instant::now() + wait > deadline {
                return Attempt::failed(
                    Verdict::Retry { after: None },
                    format!(
                        "Splunk did not confirm indexing (ackId {id}) within {} s",
                        ACK_TIMEOUT.as_secs()
                    ),
                );
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
    }
}

/// A GUID-shaped channel fixed by the destination, so acknowledgements survive restarts.
fn channel(base: &str, token: &str) -> String {
    let digest = crate::secret::hmac_sha256(
        b"tally-splunk-channel",
        format!("{base}\n{token}").as_bytes(),
    );
    let h = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_channel_is_a_guid_fixed_by_the_destination() {
        let a = super::channel("https://splunk.example.com:8088", "t");
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert_eq!(a, super::channel("https://splunk.example.com:8088", "t"));
        assert_ne!(a, super::channel("https://splunk.example.com:8088", "u"));
    }
}
