//! The checkpoint signing key: one Ed25519 seed, kept as a C2SP signer key string in a file
//! (generated on first use into the data directory, owner-only, or named by
//! `audit_signing_key_file`), from which each workspace's signer is derived under the name of
//! its log's origin, `<public base URL host>/w/<wId>`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::note::{NoteError, Signer};
use crate::config::Config;

/// The key file's name in the data directory.
pub const KEY_FILE_NAME: &str = "audit-signing.key";
/// The name the key file's signer key string carries (workspaces sign under their origin).
const FILE_KEY_NAME: &str = "tally-audit";

/// Why the signing key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error(
        "cannot read or create the audit signing key {path}: {reason} (make the data directory writable, or point audit_signing_key_file / TALLY_AUDIT_SIGNING_KEY_FILE at a key file)"
    )]
    Io { path: PathBuf, reason: String },
    #[error("the audit signing key {path} is not a signer key string (PRIVATE+KEY+…): {source}")]
    Malformed { path: PathBuf, source: NoteError },
}

/// The key file a configuration names.
pub fn key_path(config: &Config) -> PathBuf {
    config
        .audit_signing_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join(KEY_FILE_NAME))
}

/// The log origin of a workspace: the public base URL's host (and port), `/w/`, its id.
pub fn origin(base_url: &str, workspace: &str) -> String {
    let rest = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    format!("{host}/w/{workspace}")
}

/// The configured seed, read once per process and file (generated when the file is missing).
///
/// # Errors
/// When the file cannot be read or created, or does not hold a signer key.
pub fn seed(config: &Config) -> Result<[u8; 32], SigningKeyError> {
    static CACHE: Mutex<Option<HashMap<PathBuf, [u8; 32]>>> = Mutex::new(None);
    let path = key_path(config);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(seed) = cache.get(&path) {
        return Ok(*seed);
    }
    let seed = load_or_create(&path)?;
    cache.insert(path, seed);
    Ok(seed)
}

/// The signer of a workspace's checkpoints.
///
/// # Errors
/// [`NoteError::InvalidName`] when the origin cannot be a key name.
pub fn signer(config: &Config, seed: [u8; 32], workspace: &str) -> Result<Signer, NoteError> {
    Signer::new(&origin(&config.base_url(), workspace), seed)
}

/// Reads the seed from a signer key file, creating the file (mode 0600) with a fresh key when
/// it does not exist. Creation is atomic: a concurrent starter reads the winner's key.
///
/// # Errors
/// When the file cannot be read or written, or does not hold a signer key string.
pub fn load_or_create(path: &Path) -> Result<[u8; 32], SigningKeyError> {
    let io = |e: std::io::Error| SigningKeyError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    match std::fs::read_to_string(path) {
        Ok(text) => return parse_seed(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let signer = Signer::generate(FILE_KEY_NAME).map_err(|source| SigningKeyError::Malformed {
        path: path.to_path_buf(),
        source,
    })?;
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    write_private(&temp, &format!("{}\n", signer.skey())).map_err(io)?;
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    parse_seed(path, &std::fs::read_to_string(path).map_err(io)?)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// The seed of a signer key string `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>`.
fn parse_seed(path: &Path, text: &str) -> Result<[u8; 32], SigningKeyError> {
    let text = text.trim();
    let malformed = |source| SigningKeyError::Malformed {
        path: path.to_path_buf(),
        source,
    };
    Signer::from_skey(text).map_err(malformed)?;
    // from_skey checked the shape: the key is what follows the fourth '+' after the prefix.
    let key = text
        .strip_prefix("PRIVATE+KEY+")
        .and_then(|rest| rest.splitn(3, '+').nth(2))
        .and_then(|b64| BASE64.decode(b64).ok())
        .and_then(|bytes| <[u8; 33]>::try_from(bytes).ok())
        .ok_or(malformed(NoteError::MalformedSignerKey("unreadable key")))?;
    let mut seed = [0; 32];
    seed.copy_from_slice(&key[1..]);
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_created_once_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(KEY_FILE_NAME);
        let first = load_or_create(&path).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let signer = Signer::from_skey(text.trim()).unwrap();
        assert_eq!(
            Signer::new("tally-audit", first).unwrap().vkey(),
            signer.vkey()
        );
        std::fs::write(&path, "nonsense").unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(SigningKeyError::Malformed { .. })
        ));
    }

    #[test]
    fn the_key_file_defaults_to_the_data_directory_and_can_be_configured() {
        let config = crate::config::Layers::defaults()
            .flags([("data_dir", Some("/srv/tally".to_string()))])
            .resolve()
            .unwrap();
        assert_eq!(
            key_path(&config),
            PathBuf::from("/srv/tally").join(KEY_FILE_NAME)
        );
        let vars = [(
            "TALLY_AUDIT_SIGNING_KEY_FILE".to_string(),
            "/etc/tally/audit.key".to_string(),
        )];
        let config = crate::config::Layers::defaults()
            .env(vars)
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(key_path(&config), PathBuf::from("/etc/tally/audit.key"));
    }

    #[test]
    fn origins_take_the_host_of_the_base_url() {
        assert_eq!(
            origin("https://tally.example.com/base", "acme"),
            "tally.example.com/w/acme"
        );
        assert_eq!(
            origin("http://127.0.0.1:8080", "demo"),
            "127.0.0.1:8080/w/demo"
        );
    }
}
