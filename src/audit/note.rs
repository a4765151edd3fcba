//! C2SP signed notes with Ed25519: signing a text and opening a signed note against known
//! keys, strictly, as golang.org/x/mod/sumdb/note does, so existing note verifiers accept
//! tally's notes byte for byte. The keys live in `keys`, the checkpoints tally signs this way
//! in `checkpoint`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

mod checkpoint;
mod keys;
#[cfg(test)]
mod tests;

pub use checkpoint::{Checkpoint, open_checkpoint, sign_checkpoint};
pub use keys::{Signer, Verifier};

use keys::check_name;

/// What opens each signature line: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// The most signature lines a note may carry, as in the Go implementation.
const MAX_SIGNATURES: usize = 100;

/// Why a key, a note or a checkpoint was refused.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    /// A key name is empty or holds a space or a `+`.
    #[error("{0:?} is not a valid note key name (it must be non-empty, without spaces or '+')")]
    InvalidName(String),
    /// A verifier key string is not `<name>+<key id>+<base64 key>` with a matching key id.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    /// A signer key string is not `PRIVATE+KEY+<name>+<key id>+<base64 seed>`.
    #[error("malformed signer key: {0}")]
    MalformedSignerKey(&'static str),
    /// The text is not a note: the structure of the text or of a signature line is wrong.
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    /// The note's text is not a tally checkpoint.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// A known key's signature does not verify: the note was altered or forged.
    #[error("the signature by key {name}+{key_id:08x} does not verify")]
    InvalidSignature { name: String, key_id: u32 },
    /// No signature is by a known key (for a checkpoint: by a known key named as its origin).
    #[error("the note carries no signature by a known key")]
    Unverified,
    /// The checkpoint's origin is not the signing key's name.
    #[error("checkpoint origin {origin:?} is not the signing key's name {key_name:?}")]
    OriginMismatch { origin: String, key_name: String },
    /// The operating system gave no randomness for a new key.
    #[error("no randomness for a new signing key: {0}")]
    Random(getrandom::Error),
}

/// A note whose signatures were checked: its text and the known keys that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text, ending with a newline.
    pub text: String,
    /// The known keys whose signatures verified, as (name, key id), in note order.
    pub signed_by: Vec<(String, u32)>,
}

/// Signs `text` as a note: the text, a blank line, then the signature line.
///
/// # Errors
///
/// [`NoteError::MalformedNote`] when `text` does not end with a newline or holds control
/// characters other than newlines.
pub fn sign_note(signer: &Signer, text: &str) -> Result<String, NoteError> {
    check_text(text)?;
    let mut blob = signer.key_id().to_be_bytes().to_vec();
    blob.extend_from_slice(&signer.sign(text.as_bytes()));
    let line = format!(
        "{SIGNATURE_PREFIX}{} {}\n",
        signer.name(),
        BASE64.encode(blob)
    );
    Ok(format!("{text}\n{line}"))
}

/// Opens a signed note: checks its format strictly and every signature by a key in
/// `verifiers` (matched by name and key id); signatures by other keys are ignored.
///
/// # Errors
///
/// [`NoteError::MalformedNote`] for a malformed note, [`NoteError::InvalidSignature`] when a
/// known key's signature does not verify, and [`NoteError::Unverified`] when no known key
/// signed it.
pub fn open_note(note: &str, verifiers: &[Verifier]) -> Result<OpenedNote, NoteError> {
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::MalformedNote("it holds a control character"));
    }
    let split = note.rfind("\n\n").ok_or(NoteError::MalformedNote(
        "no blank line before the signatures",
    ))?;
    let (text, signatures) = (&note[..=split], &note[split + 2..]);
    if signatures.is_empty() || !signatures.ends_with('\n') {
        return Err(NoteError::MalformedNote(
            "signature lines must end with a newline",
        ));
    }
    let lines: Vec<&str> = signatures.lines().collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(NoteError::MalformedNote("more than 100 signatures"));
    }
    let mut signed_by = Vec::new();
    for line in lines {
        let (name, key_id, signature) = parse_signature_line(line)?;
        let signer = check_signature(verifiers, text, name, key_id, &signature)?;
        if let Some(signer) = signer.filter(|s| !signed_by.contains(s)) {
            signed_by.push(signer);
        }
    }
    if signed_by.is_empty() {
        return Err(NoteError::Unverified);
    }
    Ok(OpenedNote {
        text: text.to_string(),
        signed_by,
    })
}

/// `— <name> <base64(key id || signature)>` into its name, key id and signature bytes.
fn parse_signature_line(line: &str) -> Result<(&str, u32, Vec<u8>), NoteError> {
    let malformed = NoteError::MalformedNote;
    let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or(malformed(
        "a signature line does not start with an em dash and a space",
    ))?;
    let (name, blob) = rest
        .split_once(' ')
        .ok_or(malformed("a signature line lacks its signature"))?;
    check_name(name).map_err(|_| malformed("a signature line names an invalid key"))?;
    let blob = BASE64
        .decode(blob)
        .map_err(|_| malformed("a signature is not base64"))?;
    match blob.split_first_chunk::<4>() {
        Some((id, signature)) if !signature.is_empty() => {
            Ok((name, u32::from_be_bytes(*id), signature.to_vec()))
        }
        _ => Err(malformed("a signature is too short")),
    }
}

/// The (name, key id) that signed `text`, when a known key did; `None` for unknown keys.
fn check_signature(
    verifiers: &[Verifier],
    text: &str,
    name: &str,
    key_id: u32,
    signature: &[u8],
) -> Result<Option<(String, u32)>, NoteError> {
    let mut known = verifiers
        .iter()
        .filter(|v| v.name() == name && v.key_id() == key_id)
        .peekable();
    if known.peek().is_none() {
        return Ok(None);
    }
    if known.any(|v| v.verifies(text.as_bytes(), signature)) {
        return Ok(Some((name.to_string(), key_id)));
    }
    Err(NoteError::InvalidSignature {
        name: name.to_string(),
        key_id,
    })
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::MalformedNote("the text must end with a newline"));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::MalformedNote(
            "the text holds a control character",
        ));
    }
    Ok(())
}
