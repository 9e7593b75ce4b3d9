//! The master key that encrypts signing keys at rest (and keys the secret
//! hashes): from `M2M_KEY_ENCRYPTION_KEY`, or a key file beside the SQLite
//! database.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine as _;

/// The environment variable holding the master key (32 bytes, base64 or hex).
pub(crate) const ENV: &str = "M2M_KEY_ENCRYPTION_KEY";

/// Where the key came from, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The environment variable.
    Env,
    /// An existing key file.
    File(PathBuf),
    /// A key file generated now.
    Generated(PathBuf),
    /// A random key that lives as long as the process (in-memory database).
    Ephemeral,
}

/// A 32-byte master key. Never printed.
pub(crate) struct MasterKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Parses 32 bytes given as 64 hex digits or base64 (standard or URL-safe, padded or not).
pub(crate) fn parse(text: &str) -> Result<MasterKey> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .ok()
    } else {
        let unpadded = text.trim_end_matches('=');
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(unpadded)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
            .ok()
    };
    match bytes.and_then(|b| <[u8; 32]>::try_from(b).ok()) {
        Some(key) => Ok(MasterKey(key)),
        None => bail!("the key encryption key must be 32 bytes, as 64 hex digits or base64"),
    }
}

/// Finds the master key: the environment first; else, for a SQLite file,
/// `<database>.key` beside it (made on first use, mode 0600); else, for
/// in-memory SQLite, a random one. PostgreSQL needs the variable, so that
/// every replica has the same key.
pub(crate) fn load(
    env_value: Option<String>,
    sqlite_file: Option<&Path>,
    is_postgres: bool,
) -> Result<(MasterKey, Source)> {
    if let Some(value) = env_value {
        return Ok((
            parse(&value).with_context(|| format!("invalid {ENV}"))?,
            Source::Env,
        ));
    }
    if is_postgres {
        bail!(
            "set {ENV} (32 bytes, hex or base64): every replica sharing a PostgreSQL database must use the same key"
        );
    }
    let Some(db) = sqlite_file else {
        return Ok((MasterKey(m2m_core::random_bytes()?), Source::Ephemeral));
    };
    let path = key_file(db);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((
            parse(&text).with_context(|| format!("invalid key file {}", path.display()))?,
            Source::File(path),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = m2m_core::random_bytes()?;
            let text = base64::engine::general_purpose::STANDARD.encode(key);
            write_private(&path, text.as_bytes())?;
            Ok((MasterKey(key), Source::Generated(path)))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read the key file {}", path.display())),
    }
}

/// The key file of the SQLite database `db`: `<db>.key` beside it.
pub(crate) fn key_file(db: &Path) -> PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push(".key");
    PathBuf::from(path)
}

/// Creates an empty file readable by its owner only (0600), refusing to
/// overwrite.
pub(crate) fn create_private(path: &Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Writes a file readable by its owner only (0600), refusing to overwrite.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = create_private(path)?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hex_and_base64() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(parse(&hex).unwrap().0[31], 0xff);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(parse(&b64).unwrap().0, [7u8; 32]);
        assert!(parse("short").is_err());
        assert!(parse(&"zz".repeat(32)).is_err());
    }
}
