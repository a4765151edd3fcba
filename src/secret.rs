//! The server secret: 32 random bytes from which tally derives the keys it needs besides the
//! audit signing key, each under its own label (download-link signatures, per-workspace
//! pseudonyms). It comes from `secret_key` (`TALLY_SECRET_KEY` or `TALLY_SECRET_KEY_FILE`,
//! 64 hex digits), or is generated on first use into `<data_dir>/tally-secret.key` with
//! owner-only permissions. Replicas share it through config, so a link signed by one is
//! honoured by another and a user's pseudonym is the same on every replica.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;

/// The generated secret's file name in the data directory.
pub const FILE_NAME: &str = "tally-secret.key";

/// Why the server secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "cannot read or create the server secret {path}: {reason} (make the data directory writable, or set TALLY_SECRET_KEY / TALLY_SECRET_KEY_FILE to 64 hex digits)"
    )]
    Io { path: PathBuf, reason: String },
    #[error(
        "the server secret from {origin} is not 64 hex digits: generate one with `openssl rand -hex 32`"
    )]
    Malformed { origin: String },
}

/// The server secret, read once per process and source.
///
/// # Errors
/// When the configured secret is malformed or the file cannot be read or created.
pub fn server_secret(config: &Config) -> Result<[u8; 32], SecretError> {
    if let Some(hex_text) = &config.secret_key {
        return parse(hex_text.expose(), "secret_key");
    }
    static CACHE: Mutex<Option<HashMap<PathBuf, [u8; 32]>>> = Mutex::new(None);
    let path = config.data_dir.join(FILE_NAME);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(secret) = cache.get(&path) {
        return Ok(*secret);
    }
    let secret = read_or_create(&path)?;
    cache.insert(path, secret);
    Ok(secret)
}

/// A key for one purpose, derived from the secret: HMAC-SHA256(secret, label).
pub fn derive(secret: &[u8; 32], label: &str) -> [u8; 32] {
    hmac_sha256(secret, label.as_bytes())
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn parse(text: &str, origin: &str) -> Result<[u8; 32], SecretError> {
    let malformed = || SecretError::Malformed {
        origin: origin.to_string(),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| malformed())?;
    bytes.try_into().map_err(|_| malformed())
}

fn read_or_create(path: &Path) -> Result<[u8; 32], SecretError> {
    let io = |e: std::io::Error| SecretError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| io(std::io::Error::other(e.to_string())))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    writeln!(file, "{}", hex::encode(secret)).map_err(io)?;
                    file.sync_all().map_err(io)?;
                    Ok(secret)
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(path).map_err(io)?;
                    parse(&text, &path.display().to_string())
                }
                Err(e) => Err(io(e)),
            }
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_secret_is_kept_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let first = read_or_create(&path).unwrap();
        assert_eq!(read_or_create(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_configured_secret_must_be_64_hex_digits() {
        assert!(parse(&"ab".repeat(32), "x").is_ok());
        let err = parse("not hex", "TALLY_SECRET_KEY")
            .unwrap_err()
            .to_string();
        assert!(err.contains("TALLY_SECRET_KEY") && err.contains("64 hex"));
        assert!(parse(&"ab".repeat(16), "x").is_err());
    }

    #[test]
    fn derived_keys_differ_by_label() {
        let secret = [7u8; 32];
        assert_ne!(derive(&secret, "a"), derive(&secret, "b"));
        assert_eq!(derive(&secret, "a"), derive(&secret, "a"));
    }
}
