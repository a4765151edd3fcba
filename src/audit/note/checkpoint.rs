//! Checkpoints: the C2SP tlog-checkpoint body tally signs as a note (origin, tree size, base64
//! root hash, and the `timestamp <unix seconds>` extension line), with the rule that the key
//! signing a log's checkpoints is named after the log's origin.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{NoteError, Signer, Verifier, check_name, open_note, sign_note};
use crate::audit::merkle::Hash;

/// A signed statement of a log's size and root hash at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, `<public base URL host>/w/<wId>`; also the signing key's name.
    pub origin: String,
    /// How many leaves the tree holds.
    pub tree_size: u64,
    /// The tree's root hash.
    pub root_hash: Hash,
    /// When it was signed, in Unix seconds.
    pub timestamp: u64,
}

impl Checkpoint {
    /// The note body: `<origin>\n<tree size>\n<base64 root hash>\ntimestamp <unix seconds>\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\ntimestamp {}\n",
            self.origin,
            self.tree_size,
            BASE64.encode(self.root_hash),
            self.timestamp
        )
    }

    /// Reads a checkpoint body, exactly as [`Checkpoint::body`] writes one.
    ///
    /// # Errors
    ///
    /// [`NoteError::MalformedCheckpoint`] naming the first line that is wrong: not four lines,
    /// an origin that cannot be a key name, a size or timestamp that is not a plain decimal
    /// (no sign, no leading zero), or a root hash that is not canonical base64 of 32 bytes.
    pub fn parse_body(text: &str) -> Result<Checkpoint, NoteError> {
        let malformed = NoteError::MalformedCheckpoint;
        let lines = text
            .strip_suffix('\n')
            .ok_or(malformed("the body must end with a newline"))?;
        let lines: Vec<&str> = lines.split('\n').collect();
        let [origin, size, root, timestamp] = lines.as_slice() else {
            return Err(malformed(
                "it must have four lines: origin, tree size, root hash, timestamp",
            ));
        };
        check_name(origin).map_err(|_| malformed("the origin is empty or holds a space or '+'"))?;
        let tree_size = parse_decimal(size).ok_or(malformed("the tree size is not a decimal"))?;
        let root_hash =
            decode_hash(root).ok_or(malformed("the root hash is not base64 of 32 bytes"))?;
        let timestamp = timestamp
            .strip_prefix("timestamp ")
            .and_then(parse_decimal)
            .ok_or(malformed("the last line is not `timestamp <unix seconds>`"))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            tree_size,
            root_hash,
            timestamp,
        })
    }
}

/// Signs a checkpoint as a note.
///
/// # Errors
///
/// [`NoteError::OriginMismatch`] when the checkpoint's origin is not the signer's name.
pub fn sign_checkpoint(signer: &Signer, checkpoint: &Checkpoint) -> Result<String, NoteError> {
    if checkpoint.origin != signer.name() {
        return Err(NoteError::OriginMismatch {
            origin: checkpoint.origin.clone(),
            key_name: signer.name().to_string(),
        });
    }
    sign_note(signer, &checkpoint.body())
}

/// Opens a signed checkpoint: the note must be well formed, every signature by a known key
/// must verify, one of them must be by a key named as the checkpoint's origin, and the body
/// must be a checkpoint. Signatures by unknown keys (witnesses, say) are ignored.
///
/// # Errors
///
/// Those of [`open_note`] and [`Checkpoint::parse_body`], and [`NoteError::Unverified`] when
/// no known key named as the origin signed it.
pub fn open_checkpoint(note: &str, verifiers: &[Verifier]) -> Result<Checkpoint, NoteError> {
    let opened = open_note(note, verifiers)?;
    let checkpoint = Checkpoint::parse_body(&opened.text)?;
    if !opened
        .signed_by
        .iter()
        .any(|(name, _)| *name == checkpoint.origin)
    {
        return Err(NoteError::Unverified);
    }
    Ok(checkpoint)
}

/// A decimal without sign or leading zero, as tlog-checkpoint writes sizes.
fn parse_decimal(s: &str) -> Option<u64> {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !plain || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

fn decode_hash(b64: &str) -> Option<Hash> {
    BASE64.decode(b64).ok()?.try_into().ok()
}
