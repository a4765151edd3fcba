//! Access: API keys (minted, hashed, checked against a route's needs) and console passwords.
//! A key's secret is shown once, on creation; only its SHA-256 is stored, which is safe for a
//! 256-bit random secret. Passwords, which people choose, get Argon2id instead.

use sha2::{Digest, Sha256};

use crate::model::{Role, Scope};
use crate::storage::ApiKey;

/// What a route needs from the key that calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// At least this role.
    Role(Role),
    /// This scope, whatever the role.
    Scope(Scope),
}

/// Why a key may not do what it asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The key has expired or was revoked (HTTP 401).
    #[error("{0}")]
    Invalid(String),
    /// The key belongs to another workspace: answered like an unknown workspace (HTTP 404).
    #[error("workspace not found")]
    OtherWorkspace,
    /// The key lacks the role or scope (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
}

/// A key just minted: the record to store, the secret to show once, and the hash to store.
pub struct MintedKey {
    pub key: ApiKey,
    pub secret: String,
    pub secret_hash: String,
}

/// Mints a new API key for a workspace.
///
/// # Errors
/// When the operating system's random source fails.
pub fn mint_key(
    workspace: &str,
    name: &str,
    role: Role,
    mut scopes: Vec<Scope>,
    expires_at: Option<i64>,
    now: i64,
) -> Result<MintedKey, getrandom::Error> {
    scopes.sort();
    scopes.dedup();
    let id = format!("key_{}", random_hex(8)?);
    let secret = format!("tally_{}", random_hex(32)?);
    let secret_hash = hash_secret(&secret);
    let key = ApiKey {
        id,
        workspace_id: workspace.to_string(),
        name: name.to_string(),
        role,
        scopes,
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    Ok(MintedKey {
        key,
        secret,
        secret_hash,
    })
}

/// The stored form of a secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `n` random bytes as lower-case hex.
///
/// # Errors
/// When the operating system's random source fails.
pub fn random_hex(n: usize) -> Result<String, getrandom::Error> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// `n` random characters from `[A-Za-z0-9]`, drawn without bias.
///
/// # Panics
/// When the operating system's random source fails, which leaves nothing safe to do.
pub fn random_alphanumeric(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).expect("the operating system's random source works");
        // 248 = 4 * 62: larger bytes are redrawn so every character is equally likely.
        if byte[0] < 248 {
            out.push(ALPHABET[usize::from(byte[0]) % 62] as char);
        }
    }
    out
}

/// Decides whether `key` may act on `workspace` with `need` at instant `now`.
///
/// # Errors
/// The reason it may not, in the order a caller should learn it: invalid key, wrong workspace,
/// missing role or scope.
pub fn authorize(key: &ApiKey, workspace: &str, need: Need, now: i64) -> Result<(), Denied> {
    if key.revoked_at.is_some() {
        return Err(Denied::Invalid("the API key has been revoked".into()));
    }
    if key.expires_at.is_some_and(|at| at <= now) {
        return Err(Denied::Invalid("the API key has expired".into()));
    }
    if key.workspace_id != workspace {
        return Err(Denied::OtherWorkspace);
    }
    match need {
        Need::Role(role) if key.role < role => Err(Denied::Forbidden(format!(
            "this route needs an API key with role {role} or above; this key has role {}",
            key.role
        ))),
        Need::Scope(scope) if !key.scopes.contains(&scope) => Err(Denied::Forbidden(format!(
            "this route needs an API key with scope {scope}; create one with --scope {scope}"
        ))),
        _ => Ok(()),
    }
}

/// Hashes a console password with Argon2id and a random salt, as a PHC string.
///
/// # Errors
/// When the random source or the hasher fails.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches a hash made by [`hash_password`].
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role, scopes: Vec<Scope>) -> ApiKey {
        mint_key("acme", "test", role, scopes, Some(2_000), 1_000)
            .unwrap()
            .key
    }

    #[test]
    fn minted_secrets_are_random_and_only_their_hash_is_kept() {
        let a = mint_key("acme", "a", Role::User, vec![], None, 0).unwrap();
        let b = mint_key("acme", "a", Role::User, vec![], None, 0).unwrap();
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.key.id, b.key.id);
        assert_eq!(a.secret_hash, hash_secret(&a.secret));
        assert!(!a.secret_hash.contains(&a.secret));
    }

    #[test]
    fn roles_and_scopes_decide_access() {
        let builder = key(Role::Builder, vec![Scope::Ingest]);
        assert_eq!(
            authorize(&builder, "acme", Need::Role(Role::Builder), 1_500),
            Ok(())
        );
        assert_eq!(
            authorize(&builder, "acme", Need::Scope(Scope::Ingest), 1_500),
            Ok(())
        );
        let err = authorize(&builder, "acme", Need::Role(Role::Admin), 1_500).unwrap_err();
        assert!(matches!(err, Denied::Forbidden(m) if m.contains("role admin")));
        let err = authorize(&builder, "acme", Need::Scope(Scope::AuditRead), 1_500).unwrap_err();
        assert!(matches!(err, Denied::Forbidden(m) if m.contains("audit_read")));
    }

    #[test]
    fn keys_never_reach_another_workspace_and_expire() {
        let admin = key(Role::Admin, vec![]);
        assert_eq!(
            authorize(&admin, "other", Need::Role(Role::User), 1_500),
            Err(Denied::OtherWorkspace)
        );
        assert!(matches!(
            authorize(&admin, "acme", Need::Role(Role::User), 2_000),
            Err(Denied::Invalid(_))
        ));
        let mut revoked = admin.clone();
        revoked.revoked_at = Some(1_200);
        assert!(matches!(
            authorize(&revoked, "acme", Need::Role(Role::User), 1_500),
            Err(Denied::Invalid(m)) if m.contains("revoked")
        ));
    }

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}
