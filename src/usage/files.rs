//! The export store: usage export files under one directory (`export_dir`, by default
//! `<data_dir>/exports`; replicas share one), at `<dataType>-usage/<wId>/<name>.csv`, each
//! served only through a signed, expiring link and deleted after the retention period.
//!
//! A link is `/api/v1/export/file?path=P&expires=E&signature=S` with `S` the hex HMAC-SHA256,
//! under a key derived from the server secret, of `P`, a newline and `E` (unix seconds). It
//! names one file: changing the path, the expiry or the signature breaks it.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::secret;

/// Where export files live, and the key their links are signed with.
#[derive(Clone)]
pub struct ExportFiles {
    root: PathBuf,
    link_key: [u8; 32],
}

/// Why a download link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the download link is not valid: its path, expiry or signature was changed")]
    BadSignature,
    #[error("the download link expired: request the export again for a fresh link")]
    Expired,
}

impl ExportFiles {
    pub fn new(root: PathBuf, server_secret: &[u8; 32]) -> Self {
        ExportFiles {
            root,
            link_key: secret::derive(server_secret, "tally export links"),
        }
    }

    /// The store a configuration names.
    ///
    /// # Errors
    /// When the server secret cannot be had.
    pub fn from_config(config: &crate::config::Config) -> Result<Self, secret::SecretError> {
        let root = config
            .export_dir
            .clone()
            .unwrap_or_else(|| config.data_dir.join("exports"));
        Ok(ExportFiles::new(root, &secret::server_secret(config)?))
    }

    /// A new file's writer at `path` (relative, `/`-separated); the file appears whole or not
    /// at all when the writer is committed.
    ///
    /// # Errors
    /// When the directory cannot be created or written.
    pub fn create(&self, path: &str) -> std::io::Result<FileWriter> {
        let target = self.root.join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let partial = target.with_extension("partial");
        let file = std::fs::File::create(&partial)?;
        Ok(FileWriter {
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            partial,
            target,
        })
    }

    /// The file at a link's `path`, if it is still there.
    pub fn locate(&self, path: &str) -> Option<PathBuf> {
        let safe = !path.is_empty()
            && path.split('/').all(|part| {
                !part.is_empty() && part != "." && part != ".." && !part.contains('\\')
            });
        let file = self.root.join(path);
        (safe && file.is_file()).then_some(file)
    }

    fn signature(&self, path: &str, expires: i64) -> String {
        let message = format!("{path}\n{expires}");
        hex::encode(secret::hmac_sha256(&self.link_key, message.as_bytes()))
    }

    /// A signed link's query string for `path`, valid until `expires` (unix seconds).
    pub fn link_query(&self, path: &str, expires: i64) -> String {
        format!(
            "path={}&expires={expires}&signature={}",
            encode_path(path),
            self.signature(path, expires)
        )
    }

    /// Checks a link at `now` (unix seconds).
    ///
    /// # Errors
    /// [`LinkError`] for a changed or expired link.
    pub fn check(
        &self,
        path: &str,
        expires: i64,
        signature: &str,
        now: i64,
    ) -> Result<(), LinkError> {
        let expected = self.signature(path, expires);
        let same = expected.len() == signature.len()
            && expected
                .bytes()
                .zip(signature.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err(LinkError::BadSignature);
        }
        if now >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }

    /// Deletes files (and leftovers of interrupted writes) older than `max_age`; answers how
    /// many were deleted.
    pub fn sweep(&self, max_age: std::time::Duration) -> usize {
        let now = std::time::SystemTime::now();
        let mut deleted = 0;
        sweep_dir(&self.root, now, max_age, &mut deleted);
        deleted
    }
}

fn sweep_dir(
    dir: &Path,
    now: std::time::SystemTime,
    max_age: std::time::Duration,
    deleted: &mut usize,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            sweep_dir(&path, now, max_age, deleted);
            continue;
        }
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= max_age);
        if old && std::fs::remove_file(&path).is_ok() {
            *deleted += 1;
        }
    }
}

/// Percent-encodes what a path may hold besides ids' characters.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A file being written; [`FileWriter::commit`] makes it appear whole.
pub struct FileWriter {
    out: std::io::BufWriter<std::fs::File>,
    partial: PathBuf,
    target: PathBuf,
}

impl FileWriter {
    /// Appends bytes.
    ///
    /// # Errors
    /// When the disk fails.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)
    }

    /// Flushes, syncs and moves the file into place.
    ///
    /// # Errors
    /// When the disk fails; the partial file is removed.
    pub fn commit(self) -> std::io::Result<()> {
        let partial = self.partial.clone();
        let result = (|| {
            let file = self.out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&self.partial, &self.target)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ExportFiles) {
        let dir = tempfile::tempdir().unwrap();
        let files = ExportFiles::new(dir.path().to_path_buf(), &[3; 32]);
        (dir, files)
    }

    #[test]
    fn a_link_serves_its_own_file_until_it_expires() {
        let (_dir, files) = store();
        let path = "users-usage/acme/users-usage-2024-01-01-2024-01-31-abcd1234.csv";
        let query = files.link_query(path, 1_000);
        let signature = query.rsplit_once("signature=").unwrap().1;
        assert!(files.check(path, 1_000, signature, 999).is_ok());
        assert_eq!(
            files.check(path, 1_000, signature, 1_000),
            Err(LinkError::Expired)
        );
        assert_eq!(
            files.check(path, 2_000, signature, 999),
            Err(LinkError::BadSignature)
        );
        let other = "users-usage/acme/users-usage-2024-01-01-2024-01-31-zzzz9999.csv";
        assert_eq!(
            files.check(other, 1_000, signature, 999),
            Err(LinkError::BadSignature)
        );
        let mut forged = signature.to_string();
        forged.replace_range(0..1, if &forged[0..1] == "0" { "1" } else { "0" });
        assert_eq!(
            files.check(path, 1_000, &forged, 999),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn files_appear_whole_and_paths_cannot_leave_the_store() {
        let (dir, files) = store();
        let mut w = files.create("models-usage/acme/m.csv").unwrap();
        w.write(b"a,b\r\n").unwrap();
        assert!(
            files.locate("models-usage/acme/m.csv").is_none(),
            "not before commit"
        );
        w.commit().unwrap();
        let found = files.locate("models-usage/acme/m.csv").unwrap();
        assert_eq!(std::fs::read(found).unwrap(), b"a,b\r\n");
        std::fs::write(dir.path().parent().unwrap().join("secret.txt"), "x").ok();
        for bad in [
            "../secret.txt",
            "models-usage/../../secret.txt",
            "",
            "/etc/passwd",
            "a//b",
        ] {
            assert!(files.locate(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_sweep_deletes_only_old_files() {
        let (_dir, files) = store();
        let mut w = files.create("users-usage/acme/u.csv").unwrap();
        w.write(b"x").unwrap();
        w.commit().unwrap();
        assert_eq!(files.sweep(std::time::Duration::from_secs(3600)), 0);
        assert_eq!(files.sweep(std::time::Duration::ZERO), 1);
        assert!(files.locate("users-usage/acme/u.csv").is_none());
    }
}
