//! Encryption at rest: where keys come from, how a passphrase becomes a key,
//! and the key header file beside an encrypted store.
//!
//! An encrypted store is a SQLCipher database: every page of the file (and
//! of its WAL) is encrypted, so documents, versions, metadata, the search
//! index and the audit trail are all unreadable without the key.
//!
//! * A passphrase is stretched with Argon2id (memory-hard) into a 256-bit
//!   key. The Argon2id parameters and a per-store random 16-byte salt are
//!   kept in `<db>.keyinfo`, a small JSON file beside the store that holds
//!   no secret. The key is derived once per [`Store::open`](crate::Store::open)
//!   and handed to every connection as a raw key, so SQLCipher's own
//!   per-connection key derivation never runs.
//! * A key file holds a raw 256-bit key: exactly 32 bytes, or 64 hex digits
//!   (surrounding whitespace allowed).
//!
//! Key material (passphrases, derived and raw keys, the `PRAGMA key`
//! statement text) is zeroized when dropped. The store keeps the derived key
//! in memory while it is open, because the reader pool opens connections on
//! demand.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// Where the key of an encrypted store comes from.
///
/// The secret is wiped from memory when the value is dropped; `Debug`
/// never prints it.
#[derive(Clone)]
pub enum KeySource {
    /// A passphrase, stretched with Argon2id using the store's salt.
    Passphrase(String),
    /// A file holding a raw 256-bit key: 32 bytes, or 64 hex digits.
    KeyFile(PathBuf),
    /// A raw 256-bit key.
    RawKey([u8; 32]),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Passphrase(_) => f.write_str("Passphrase(<redacted>)"),
            KeySource::KeyFile(p) => f.debug_tuple("KeyFile").field(p).finish(),
            KeySource::RawKey(_) => f.write_str("RawKey(<redacted>)"),
        }
    }
}

impl Drop for KeySource {
    fn drop(&mut self) {
        match self {
            KeySource::Passphrase(s) => s.zeroize(),
            KeySource::RawKey(k) => k.zeroize(),
            KeySource::KeyFile(_) => {}
        }
    }
}

impl KeySource {
    /// The kind of key recorded in the header: `argon2id` for a passphrase,
    /// `raw` for a key file or raw key.
    fn kdf_name(&self) -> &'static str {
        match self {
            KeySource::Passphrase(_) => KDF_ARGON2ID,
            KeySource::KeyFile(_) | KeySource::RawKey(_) => KDF_RAW,
        }
    }
}

/// Argon2id cost parameters used when a passphrase-protected store is
/// created. Existing stores use the parameters recorded in their header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB (default 65,536 = 64 MiB).
    pub memory_kib: u32,
    /// Passes over the memory (default 5).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams {
            memory_kib: 64 * 1024,
            iterations: 5,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    /// Rejects parameters Argon2id cannot use or that are unsafely weak
    /// (memory below 8 KiB per lane is refused by Argon2 itself).
    pub fn validate(&self) -> Result<()> {
        argon2_params(self).map(|_| ())
    }
}

fn argon2_params(p: &KdfParams) -> Result<argon2::Params> {
    if p.memory_kib > 4 * 1024 * 1024 {
        return Err(Error::validation(
            "kdf.memory_kib",
            "must be at most 4 GiB (4194304)",
        ));
    }
    argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, Some(KEY_LEN))
        .map_err(|e| Error::validation("kdf", format!("invalid Argon2id parameters: {e}")))
}

const KEY_LEN: usize = 32;
const SALT_LEN: usize = 16;
const MAGIC: &str = "docvault-keyinfo";
const HEADER_VERSION: u32 = 1;
const KDF_ARGON2ID: &str = "argon2id";
const KDF_RAW: &str = "raw";
/// A header larger than this is not ours.
const MAX_HEADER_BYTES: u64 = 4096;

/// A 256-bit key, wiped on drop.
pub(crate) type Key = Zeroizing<[u8; KEY_LEN]>;

/// The contents of `<db>.keyinfo`. No secret: the KDF, its parameters and
/// the salt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Header {
    magic: String,
    version: u32,
    /// `argon2id` or `raw`.
    kdf: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    params: Option<KdfParams>,
    /// Hex, 16 bytes; present for `argon2id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    salt: Option<String>,
    /// SQLCipher's page HMAC (`HMAC_SHA256` for stores created now);
    /// absent: SQLCipher 4's default, `HMAC_SHA512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cipher_hmac: Option<String>,
}

/// The page HMAC of new stores. Measured with `docvault bench` on this
/// project's machines: an uncached read decrypts and authenticates one
/// 4 KiB page, and HMAC-SHA256 (hardware-accelerated with SHA-NI) makes it
/// about 1.5 times faster than SQLCipher's default HMAC-SHA512, which has
/// no such instructions. Both are full-strength MACs.
const DEFAULT_HMAC: &str = "HMAC_SHA256";
const HMACS: &[&str] = &["HMAC_SHA1", "HMAC_SHA256", "HMAC_SHA512"];

/// A store's raw key with the SQLCipher settings it must be used with.
/// The key is wiped on drop.
pub(crate) struct CipherKey {
    pub(crate) key: Key,
    /// Validated against [`HMACS`]; `None`: SQLCipher's default.
    pub(crate) hmac: Option<&'static str>,
}

/// The header file of a database path.
pub(crate) fn header_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".keyinfo");
    PathBuf::from(s)
}

fn bad_header(path: &Path, reason: impl fmt::Display) -> Error {
    Error::BadKeyHeader {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl Header {
    /// A fresh header for a new store keyed by `source`.
    pub(crate) fn new(source: &KeySource, params: &KdfParams) -> Result<Header> {
        match source.kdf_name() {
            KDF_ARGON2ID => {
                argon2_params(params)?;
                let mut salt = [0u8; SALT_LEN];
                getrandom::fill(&mut salt).map_err(|e| {
                    Error::Io(std::io::Error::other(format!(
                        "no randomness for the key salt: {e}"
                    )))
                })?;
                Ok(Header {
                    magic: MAGIC.into(),
                    version: HEADER_VERSION,
                    kdf: KDF_ARGON2ID.into(),
                    params: Some(*params),
                    salt: Some(hex::encode(salt)),
                    cipher_hmac: Some(DEFAULT_HMAC.into()),
                })
            }
            _ => Ok(Header {
                magic: MAGIC.into(),
                version: HEADER_VERSION,
                kdf: KDF_RAW.into(),
                params: None,
                salt: None,
                cipher_hmac: Some(DEFAULT_HMAC.into()),
            }),
        }
    }

    /// Reads and checks the header at `path`; `Ok(None)` if it does not exist.
    pub(crate) fn read(path: &Path) -> Result<Option<Header>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad_header(path, e)),
        };
        let mut text = String::new();
        file.take(MAX_HEADER_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| bad_header(path, e))?;
        if text.len() as u64 > MAX_HEADER_BYTES {
            return Err(bad_header(path, "file is too large to be a key header"));
        }
        let h: Header = serde_json::from_str(&text).map_err(|e| bad_header(path, e))?;
        h.check().map_err(|r| bad_header(path, r))?;
        Ok(Some(h))
    }

    fn check(&self) -> std::result::Result<(), String> {
        if let Some(h) = &self.cipher_hmac {
            if !HMACS.contains(&h.as_str()) {
                return Err(format!("unknown cipher_hmac {h:?}"));
            }
        }
        if self.magic != MAGIC {
            return Err(format!("magic is {:?}, expected {MAGIC:?}", self.magic));
        }
        if self.version != HEADER_VERSION {
            return Err(format!(
                "header version {} is not supported (expected {HEADER_VERSION})",
                self.version
            ));
        }
        match self.kdf.as_str() {
            KDF_ARGON2ID => {
                let p = self.params.as_ref().ok_or("argon2id without parameters")?;
                argon2_params(p).map_err(|e| e.to_string())?;
                let salt = self.salt.as_deref().ok_or("argon2id without a salt")?;
                match hex::decode(salt) {
                    Ok(s) if s.len() == SALT_LEN => Ok(()),
                    _ => Err(format!("salt must be {SALT_LEN} bytes in hex")),
                }
            }
            KDF_RAW => Ok(()),
            other => Err(format!("unknown key derivation {other:?}")),
        }
    }

    /// Writes the header to `path` atomically (see [`write_atomically`]).
    pub(crate) fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Database(format!("cannot encode key header: {e}")))?;
        text.push('\n');
        write_atomically(path, text.as_bytes())
    }

    /// The SQLCipher page HMAC this header names (see [`CipherKey`]).
    fn hmac(&self) -> Option<&'static str> {
        let h = self.cipher_hmac.as_deref()?;
        HMACS.iter().copied().find(|&known| known == h)
    }

    /// The header of a copy made by `VACUUM INTO`, which writes the copy
    /// with the store's key but SQLCipher's default page settings.
    pub(crate) fn for_vacuum_copy(&self) -> Header {
        Header {
            cipher_hmac: None,
            ..self.clone()
        }
    }

    /// This header with another store's page HMAC: a key change keeps the
    /// cipher settings of the pages it copies.
    pub(crate) fn with_hmac_of(mut self, other: &Header) -> Header {
        self.cipher_hmac = other.cipher_hmac.clone();
        self
    }

    /// The key for `source` under this header, with the header's cipher
    /// settings. A passphrase is stretched with the header's Argon2id
    /// parameters and salt; a raw key is used as given.
    pub(crate) fn derive(&self, source: &KeySource, header_path: &Path) -> Result<CipherKey> {
        Ok(CipherKey {
            key: self.derive_key(source, header_path)?,
            hmac: self.hmac(),
        })
    }

    fn derive_key(&self, source: &KeySource, header_path: &Path) -> Result<Key> {
        match (source, self.kdf.as_str()) {
            (KeySource::Passphrase(p), KDF_ARGON2ID) => {
                let params = self
                    .params
                    .as_ref()
                    .ok_or_else(|| bad_header(header_path, "argon2id without parameters"))?;
                let salt = self
                    .salt
                    .as_deref()
                    .and_then(|s| hex::decode(s).ok())
                    .ok_or_else(|| bad_header(header_path, "bad salt"))?;
                derive_argon2id(p.as_bytes(), &salt, params)
            }
            (KeySource::Passphrase(_), _) => Err(Error::WrongKey(
                "this store is keyed by a key file, not a passphrase".into(),
            )),
            (_, KDF_ARGON2ID) => Err(Error::WrongKey(
                "this store is keyed by a passphrase, not a key file".into(),
            )),
            (KeySource::KeyFile(p), _) => read_key_file(p),
            (KeySource::RawKey(k), _) => Ok(Zeroizing::new(*k)),
        }
    }
}

/// Argon2id of `passphrase` with `salt` (at least 8 bytes) into a 256-bit
/// key, wiped on drop.
pub fn derive_argon2id(
    passphrase: &[u8],
    salt: &[u8],
    params: &KdfParams,
) -> Result<Zeroizing<[u8; 32]>> {
    let a = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2_params(params)?,
    );
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    a.hash_password_into(passphrase, salt, key.as_mut())
        .map_err(|e| Error::validation("passphrase", format!("key derivation failed: {e}")))?;
    Ok(key)
}

/// Reads a key file: exactly 32 raw bytes, or 64 hex digits (surrounding
/// whitespace allowed). Anything else is a validation error.
pub fn read_key_file(path: &Path) -> Result<Key> {
    let field = "key_file";
    let file = File::open(path)
        .map_err(|e| Error::validation(field, format!("cannot read {}: {e}", path.display())))?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(80));
    file.take(1024)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::validation(field, format!("cannot read {}: {e}", path.display())))?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if bytes.len() == KEY_LEN {
        key.copy_from_slice(&bytes);
        return Ok(key);
    }
    let trimmed = bytes.trim_ascii();
    if trimmed.len() == 2 * KEY_LEN && hex::decode_to_slice(trimmed, key.as_mut()).is_ok() {
        return Ok(key);
    }
    Err(Error::validation(
        field,
        format!(
            "{} must hold exactly 32 bytes or 64 hex digits (it holds {} bytes)",
            path.display(),
            bytes.len()
        ),
    ))
}

/// The statements that hand `key` to SQLCipher as a raw key (no SQLCipher
/// key derivation) and set its page HMAC. Wiped on drop.
pub(crate) fn key_statements(key: &CipherKey) -> Zeroizing<String> {
    let mut s = key_pragma(&key.key);
    if let Some(h) = key.hmac {
        s.push_str(" PRAGMA cipher_hmac_algorithm = ");
        s.push_str(h);
        s.push(';');
    }
    s
}

/// The statement that hands `key` to SQLCipher as a raw key (no SQLCipher
/// key derivation). Wiped on drop.
pub(crate) fn key_pragma(key: &Key) -> Zeroizing<String> {
    raw_key_pragma("key", key)
}

/// The statement that re-encrypts a keyed database under `key`.
pub(crate) fn rekey_pragma(key: &Key) -> Zeroizing<String> {
    raw_key_pragma("rekey", key)
}

fn raw_key_pragma(pragma: &str, key: &Key) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(80 + 2 * KEY_LEN));
    s.push_str("PRAGMA ");
    s.push_str(pragma);
    s.push_str(" = \"x'");
    let mut hexbuf = Zeroizing::new([0u8; 2 * KEY_LEN]);
    // Cannot fail: the buffer is exactly twice the key.
    let _ = hex::encode_to_slice(key.as_ref(), hexbuf.as_mut());
    for &b in hexbuf.iter() {
        s.push(b as char);
    }
    s.push_str("'\";");
    s
}

/// True when the file starts with SQLite's plaintext header.
pub(crate) fn looks_plaintext(db: &Path) -> Result<bool> {
    let mut f = match File::open(db) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n == 16 && &head == b"SQLite format 3\0")
}

/// True when `db` is absent or empty (a store about to be created).
pub(crate) fn is_new(db: &Path) -> Result<bool> {
    match fs::metadata(db) {
        Ok(m) => Ok(m.len() == 0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it,
/// synced, renamed over `path`, and the directory synced. A crash leaves
/// the old file or the new one, never a mix.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(path);
    Ok(())
}

/// Syncs the directory holding `path`, so a rename or removal in it is
/// durable. Best effort: some file systems cannot sync a directory.
pub(crate) fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_holds_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.keyinfo");
        let src = KeySource::Passphrase("correct horse".into());
        let h = Header::new(&src, &KdfParams::default()).unwrap();
        h.write(&p).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert!(!text.contains("correct horse"));
        assert_eq!(Header::read(&p).unwrap(), Some(h));
    }

    #[test]
    fn key_files_must_be_32_bytes_or_64_hex() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        fs::write(&p, [7u8; 32]).unwrap();
        assert_eq!(*read_key_file(&p).unwrap(), [7u8; 32]);
        fs::write(&p, format!("{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(*read_key_file(&p).unwrap(), [0xab; 32]);
        for bad in [
            &b"short"[..],
            &[1u8; 33][..],
            "zz".repeat(32).as_bytes(),
            b"",
        ] {
            fs::write(&p, bad).unwrap();
            assert_eq!(read_key_file(&p).unwrap_err().kind(), "validation");
        }
    }

    #[test]
    fn key_pragma_is_a_raw_key() {
        let k = Zeroizing::new([0x0f; 32]);
        assert_eq!(
            key_pragma(&k).as_str(),
            format!("PRAGMA key = \"x'{}'\";", "0f".repeat(32))
        );
    }
}
