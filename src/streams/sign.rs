//! Webhook signatures, as payment APIs sign theirs: `Tally-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256 of "<t>.<body>">` under the stream's secret. Each attempt is signed afresh, so a
//! receiver can refuse any `t` older than [`TOLERANCE_SECONDS`] and so refuse replays.

use crate::secret::hmac_sha256;

/// The header's name.
pub const HEADER: &str = "Tally-Signature";
/// How old a signature receivers accept, in seconds.
pub const TOLERANCE_SECONDS: i64 = 300;

/// The header value for `body` sent at unix second `t`.
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body)))
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> [u8; 32] {
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    hmac_sha256(secret, &message)
}

/// Whether `header` signs `body` under `secret` at most [`TOLERANCE_SECONDS`] before `now`
/// (unix seconds). What a receiver runs; tally's tests run it too.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64) -> bool {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if now - t > TOLERANCE_SECONDS || t - now > TOLERANCE_SECONDS {
        return false;
    }
    let expected = mac(secret, t, body);
    // Constant time: a receiver must not leak how much of a guess matched.
    v1.iter().any(|candidate| {
        candidate.len() == 32
            && candidate
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_for_its_body_secret_and_time_only() {
        let header = signature(b"whsec", 1_790_000_000, b"{\"records\":[]}");
        assert!(header.starts_with("t=1790000000,v1="));
        assert_eq!(header.len(), "t=1790000000,v1=".len() + 64);
        assert!(verify(
            b"whsec",
            &header,
            b"{\"records\":[]}",
            1_790_000_100
        ));
        assert!(!verify(
            b"whsec",
            &header,
            b"{\"records\":[1]}",
            1_790_000_100
        ));
        assert!(!verify(
            b"other",
            &header,
            b"{\"records\":[]}",
            1_790_000_100
        ));
        assert!(
            !verify(b"whsec", &header, b"{\"records\":[]}", 1_790_000_301),
            "too old"
        );
        assert!(!verify(b"whsec", "v1=00", b"", 0));
    }

    #[test]
    fn the_mac_is_over_time_dot_body() {
        // Python: hmac.new(b"k", b"5.x", hashlib.sha256).hexdigest()
        let expected = hex::encode(crate::secret::hmac_sha256(b"k", b"5.x"));
        assert_eq!(signature(b"k", 5, b"x"), format!("t=5,v1={expected}"));
    }
}
