//! Stream secrets at rest: ChaCha20-Poly1305 under a key derived from the server secret
//! (label `log-stream-secrets`), a fresh random nonce per seal, and the stream's workspace
//! and id as associated data, so a sealed value copied onto another stream does not open.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::config::Config;
use crate::secret::{SecretError, derive, server_secret};

/// Why secrets could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the stream secrets do not open: the server secret changed, or the row was edited")]
    Open,
    #[error("cannot seal stream secrets: {0}")]
    Seal(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// The key stream secrets are sealed with.
///
/// # Errors
/// When the server secret cannot be had.
pub fn key(config: &Config) -> Result<[u8; 32], SealError> {
    Ok(derive(&server_secret(config)?, "log-stream-secrets"))
}

fn cipher(key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).expect("a 32-byte key"))
}

fn associated(workspace: &str, stream: &str) -> Vec<u8> {
    format!("{workspace}\n{stream}").into_bytes()
}

/// Seals `plain`: the nonce, then the ciphertext with its tag.
///
/// # Errors
/// When no random nonce can be had.
pub fn seal(
    key: &[u8; 32],
    workspace: &str,
    stream: &str,
    plain: &[u8],
) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| SealError::Seal(e.to_string()))?;
    let mut sealed = plain.to_vec();
    cipher(key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(associated(workspace, stream)),
            &mut sealed,
        )
        .map_err(|_| SealError::Seal("encryption failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend(sealed);
    Ok(out)
}

/// Opens what [`seal`] sealed for the same stream.
///
/// # Errors
/// [`SealError::Open`] when the key, the stream or the bytes differ.
pub fn open(
    key: &[u8; 32],
    workspace: &str,
    stream: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, SealError> {
    if sealed.len() < NONCE_LEN {
        return Err(SealError::Open);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
    let mut buf = rest.to_vec();
    let plain = cipher(key)
        .open_in_place(nonce, Aad::from(associated(workspace, stream)), &mut buf)
        .map_err(|_| SealError::Open)?;
    Ok(plain.to_vec())
}

/// Seals a stream's secrets for storage.
///
/// # Errors
/// When no random nonce can be had.
pub fn seal_map(
    key: &[u8; 32],
    workspace: &str,
    id: &str,
    secrets: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<u8>, SealError> {
    let plain = serde_json::Value::Object(secrets.clone()).to_string();
    seal(key, workspace, id, plain.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_stream_and_key() {
        let key = [9u8; 32];
        let sealed = seal(&key, "acme", "ls_1", b"{\"token\":\"t\"}").unwrap();
        assert!(
            !sealed.windows(5).any(|w| w == b"token"),
            "ciphertext hides the text"
        );
        assert_eq!(
            open(&key, "acme", "ls_1", &sealed).unwrap(),
            b"{\"token\":\"t\"}"
        );
        assert!(open(&key, "acme", "ls_2", &sealed).is_err());
        assert!(open(&key, "other", "ls_1", &sealed).is_err());
        assert!(open(&[8u8; 32], "acme", "ls_1", &sealed).is_err());
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(open(&key, "acme", "ls_1", &flipped).is_err());
        assert!(open(&key, "acme", "ls_1", &sealed[..4]).is_err());
        assert_ne!(
            seal(&key, "acme", "ls_1", b"x").unwrap(),
            seal(&key, "acme", "ls_1", b"x").unwrap()
        );
    }
}
