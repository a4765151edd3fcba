//! Signed-note keys: the Ed25519 [`Signer`] and [`Verifier`], their key ids, and the
//! `PRIVATE+KEY+<name>+<id>+<key>` / `<name>+<id>+<key>` strings of
//! golang.org/x/mod/sumdb/note that other tools read.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::NoteError;

/// The signed-note algorithm byte for Ed25519.
const ALG_ED25519: u8 = 0x01;

/// A note signing key: a name (tally uses the log's origin) and an Ed25519 key.
/// `Debug` shows the name and key id, never the key.
pub struct Signer {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl Signer {
    /// The signer for the Ed25519 key with this 32-byte seed.
    ///
    /// # Errors
    ///
    /// [`NoteError::InvalidName`] when `name` is empty or holds a space or `+`.
    pub fn new(name: &str, seed: [u8; 32]) -> Result<Signer, NoteError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(name, &key.verifying_key().to_bytes());
        Ok(Signer {
            name: name.to_string(),
            key,
            key_id,
        })
    }

    /// A signer with a fresh random key.
    ///
    /// # Errors
    ///
    /// [`NoteError::InvalidName`], or [`NoteError::Random`] when no randomness is available.
    pub fn generate(name: &str) -> Result<Signer, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(NoteError::Random)?;
        Signer::new(name, seed)
    }

    /// Reads a signer key string, `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>`.
    ///
    /// # Errors
    ///
    /// [`NoteError::MalformedSignerKey`] when it is not one, or names the wrong key id;
    /// [`NoteError::InvalidName`] for a bad name.
    pub fn from_skey(skey: &str) -> Result<Signer, NoteError> {
        let malformed = NoteError::MalformedSignerKey;
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(malformed("it does not start with PRIVATE+KEY+"))?;
        let (name, id, key) = split_key(rest).ok_or(malformed("it lacks a '+' separator"))?;
        let key = decode_key(key).ok_or(malformed("the key is not base64 of 0x01 || 32 bytes"))?;
        let signer = Signer::new(name, key)?;
        if parse_key_id(id) != Some(signer.key_id) {
            return Err(malformed("the key id does not match the key"));
        }
        Ok(signer)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id: the first 4 bytes of SHA-256(name || "\n" || 0x01 || public key).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The key id as 8 lower-case hex digits, as in key strings and the keys API.
    pub fn key_id_hex(&self) -> String {
        format!("{:08x}", self.key_id)
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The signer key string: a secret, to store as such.
    pub fn skey(&self) -> String {
        let key = encode_key(self.key.as_bytes());
        format!("PRIVATE+KEY+{}+{:08x}+{key}", self.name, self.key_id)
    }

    /// The verifier key string `<name>+<key id>+<base64(0x01 || public key)>`.
    pub fn vkey(&self) -> String {
        self.verifier().vkey()
    }

    /// The verifier for this signer's signatures.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    pub(super) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &self.key_id_hex())
            .finish_non_exhaustive()
    }
}

/// A note verifier key: the name and Ed25519 public key a signature line must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Verifier {
    /// Reads a verifier key string, `<name>+<key id>+<base64(0x01 || public key)>`.
    ///
    /// # Errors
    ///
    /// [`NoteError::MalformedVerifierKey`] when it is not one, holds no valid Ed25519 point or
    /// names the wrong key id; [`NoteError::InvalidName`] for a bad name.
    pub fn from_vkey(vkey: &str) -> Result<Verifier, NoteError> {
        let malformed = NoteError::MalformedVerifierKey;
        let (name, id, key) = split_key(vkey).ok_or(malformed("it lacks a '+' separator"))?;
        check_name(name)?;
        let key = decode_key(key).ok_or(malformed("the key is not base64 of 0x01 || 32 bytes"))?;
        let expected_id = key_id(name, &key);
        if parse_key_id(id) != Some(expected_id) {
            return Err(malformed("the key id does not match the name and key"));
        }
        let key = VerifyingKey::from_bytes(&key)
            .map_err(|_| malformed("the key is not an Ed25519 public key"))?;
        Ok(Verifier {
            name: name.to_string(),
            key_id: expected_id,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id (see [`Signer::key_id`]).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The key id as 8 lower-case hex digits.
    pub fn key_id_hex(&self) -> String {
        format!("{:08x}", self.key_id)
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The verifier key string.
    pub fn vkey(&self) -> String {
        let key = encode_key(self.key.as_bytes());
        format!("{}+{:08x}+{key}", self.name, self.key_id)
    }

    /// Whether `signature` is this key's signature of `message`. Strict verification: no
    /// malleable signatures, no weak keys.
    pub(super) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        let signature = Signature::from_bytes(&bytes);
        self.key.verify_strict(message, &signature).is_ok()
    }
}

impl FromStr for Verifier {
    type Err = NoteError;

    fn from_str(vkey: &str) -> Result<Verifier, NoteError> {
        Verifier::from_vkey(vkey)
    }
}

/// A key name: non-empty, without Unicode spaces or `+` (C2SP signed-note).
pub(super) fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// The signed-note key id of an Ed25519 key.
fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ALG_ED25519]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// `<name>+<id>+<key>`, where the base64 key may itself hold `+`.
fn split_key(s: &str) -> Option<(&str, &str, &str)> {
    let (name, rest) = s.split_once('+')?;
    let (id, key) = rest.split_once('+')?;
    Some((name, id, key))
}

fn parse_key_id(hex: &str) -> Option<u32> {
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

fn encode_key(key: &[u8; 32]) -> String {
    let mut bytes = vec![ALG_ED25519];
    bytes.extend_from_slice(key);
    BASE64.encode(bytes)
}

/// The 32 key bytes of `base64(0x01 || key)`.
fn decode_key(b64: &str) -> Option<[u8; 32]> {
    let bytes = BASE64.decode(b64).ok()?;
    match bytes.split_first() {
        Some((&ALG_ED25519, key)) => key.try_into().ok(),
        _ => None,
    }
}
