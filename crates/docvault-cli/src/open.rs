//! Finding and opening the store.
//!
//! Only one process may have a store open at a time, so commands run back to
//! back or side by side by scripts would trip over each other; instead they
//! wait for their turn (`--wait`).

use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use docvault::{Config, Error, KeySource, Result, Store};

/// Global options every command needs.
pub struct Ctx {
    /// `--db` as given on the command line.
    pub db: Option<PathBuf>,
    pub json: bool,
    pub wait: Duration,
    /// `--passphrase-file`.
    pub passphrase_file: Option<PathBuf>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
}

const ENV_DB: &str = "DOCVAULT_DB";
const ENV_PASSPHRASE: &str = "DOCVAULT_PASSPHRASE";

impl Ctx {
    /// `--db`, else `$DOCVAULT_DB`, else the platform data directory (created
    /// if missing: it is ours; a user-chosen directory is not).
    pub fn db_path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.db {
            return explicit(p, "--db");
        }
        if let Some(p) = std::env::var_os(ENV_DB).filter(|v| !v.is_empty()) {
            return explicit(Path::new(&p), ENV_DB);
        }
        let dir = dirs::data_dir()
            .ok_or_else(|| Error::Validation {
                field: "db".into(),
                reason: format!(
                    "this platform has no data directory; pass --db PATH or set {ENV_DB}"
                ),
            })?
            .join("docvault");
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        Ok(dir.join("docvault.db"))
    }

    /// True when a key was given (an option or the environment).
    pub fn has_key(&self) -> bool {
        self.key_file.is_some()
            || self.passphrase_file.is_some()
            || std::env::var_os(ENV_PASSPHRASE).is_some_and(|v| !v.is_empty())
    }

    /// The key given for the store: `--key-file`, else `--passphrase-file`,
    /// else `$DOCVAULT_PASSPHRASE`, else none (a plaintext store).
    pub fn key(&self) -> Result<Option<KeySource>> {
        if let Some(p) = &self.key_file {
            return Ok(Some(KeySource::KeyFile(p.clone())));
        }
        if let Some(p) = &self.passphrase_file {
            return read_passphrase_file(p).map(Some);
        }
        match std::env::var(ENV_PASSPHRASE) {
            Ok(v) if !v.is_empty() => Ok(Some(KeySource::Passphrase(v))),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::Validation {
                field: "passphrase".into(),
                reason: format!("{ENV_PASSPHRASE} is not valid UTF-8"),
            }),
        }
    }

    /// Opens the store, waiting while another process has it. The key
    /// options apply to every command.
    pub fn open(&self, mut config: Config) -> Result<Store> {
        let path = self.db_path()?;
        config.encryption = self.key()?;
        open_waiting(&path, config, self.wait)
    }

    /// Opens the store, runs `f`, and always closes the store, so pending
    /// access counts are persisted and the next process can get in. The
    /// first error wins; a close error alone still fails the command.
    pub fn with_store<T>(&self, config: Config, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        let store = self.open(config)?;
        let out = f(&store);
        let closed = store.close();
        let out = out?;
        closed?;
        Ok(out)
    }
}

fn explicit(p: &Path, source: &str) -> Result<PathBuf> {
    if p.as_os_str().is_empty() {
        return Err(Error::Validation {
            field: "db".into(),
            reason: format!("{source} is empty"),
        });
    }
    if p.is_dir() {
        return Err(Error::Validation {
            field: "db".into(),
            reason: format!("{} is a directory; give a file path", p.display()),
        });
    }
    // SQLite's own message for a missing directory does not name it.
    if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(io_error(
                parent,
                io::Error::new(io::ErrorKind::NotFound, "directory does not exist"),
            ));
        }
    }
    Ok(p.to_path_buf())
}

/// Retries `Store::open` while the store is in use, until `wait` runs out.
pub fn open_waiting(path: &Path, config: Config, wait: Duration) -> Result<Store> {
    let deadline = Instant::now() + wait;
    let mut delay = Duration::from_millis(50);
    loop {
        match Store::open(path, config.clone()) {
            Err(Error::StoreInUse { .. }) if Instant::now() < deadline => {
                let left = deadline.saturating_duration_since(Instant::now());
                thread::sleep(delay.min(left));
                delay = (delay + Duration::from_millis(10)).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// The passphrase is the file's first line (without its line ending); an
/// empty passphrase is refused.
fn read_passphrase_file(p: &Path) -> Result<KeySource> {
    let invalid = |reason: String| Error::Validation {
        field: "passphrase_file".into(),
        reason,
    };
    let text = zeroize::Zeroizing::new(
        std::fs::read(p).map_err(|e| invalid(format!("cannot read {}: {e}", p.display())))?,
    );
    let text = std::str::from_utf8(&text)
        .map_err(|_| invalid(format!("{} is not valid UTF-8", p.display())))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(invalid(format!(
            "{} holds an empty passphrase",
            p.display()
        )));
    }
    // KeySource wipes its copy when dropped; Zeroizing wipes the file's.
    Ok(KeySource::Passphrase(line.to_string()))
}

/// An I/O error that names the path it happened on.
pub fn io_error(path: &Path, e: io::Error) -> Error {
    Error::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
