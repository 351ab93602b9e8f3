//! Finding and opening the store.
//!
//! Only one process may have a store open at a time, so commands run back to
//! back or side by side by scripts would trip over each other; instead they
//! wait for their turn (`--wait`).

use std::io::{self, IsTerminal};
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
const ENV_NEW_PASSPHRASE: &str = "DOCVAULT_NEW_PASSPHRASE";

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
        passphrase_from_env(ENV_PASSPHRASE)
    }

    /// The store's key as given, else asked for on the terminal (twice
    /// when `confirm`: a new passphrase); an error naming the options when
    /// there is neither.
    pub fn key_or_prompt(&self, what: &str, confirm: bool) -> Result<KeySource> {
        if let Some(k) = self.key()? {
            return Ok(k);
        }
        prompt_passphrase(what, confirm)?.ok_or_else(|| Error::Validation {
            field: "passphrase".into(),
            reason: format!(
                "{what} is needed: --passphrase-file FILE, --key-file FILE or {ENV_PASSPHRASE}"
            ),
        })
    }

    /// Opens the store, waiting while another process has it. The key
    /// options apply to every command; with none given, an encrypted store
    /// asks for its passphrase when stdin is a terminal.
    pub fn open(&self, mut config: Config) -> Result<Store> {
        let path = self.db_path()?;
        if config.encryption.is_none() {
            config.encryption = self.key()?;
        }
        let prompt_ok = config.encryption.is_none();
        match open_waiting(&path, config.clone(), self.wait) {
            Err(Error::StoreEncrypted { .. }) if prompt_ok => {
                let what = format!("passphrase for {}", path.display());
                match prompt_passphrase(&what, false)? {
                    Some(k) => {
                        config.encryption = Some(k);
                        open_waiting(&path, config, self.wait)
                    }
                    None => Err(Error::StoreEncrypted { path }),
                }
            }
            other => other,
        }
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
    retry_while_in_use(wait, || Store::open(path, config.clone()))
}

/// Runs `f` again while it fails with `store_in_use`, until `wait` runs out.
pub fn retry_while_in_use<T>(wait: Duration, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let deadline = Instant::now() + wait;
    let mut delay = Duration::from_millis(50);
    loop {
        match f() {
            Err(Error::StoreInUse { .. }) if Instant::now() < deadline => {
                let left = deadline.saturating_duration_since(Instant::now());
                thread::sleep(delay.min(left));
                delay = (delay + Duration::from_millis(10)).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// A passphrase from the environment variable `var`, if set and non-empty.
fn passphrase_from_env(var: &str) -> Result<Option<KeySource>> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(Some(KeySource::Passphrase(v))),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Validation {
            field: "passphrase".into(),
            reason: format!("{var} is not valid UTF-8"),
        }),
    }
}

/// The new key of `rekey`: `--new-key-file`, else `--new-passphrase-file`,
/// else `$DOCVAULT_NEW_PASSPHRASE`, else asked twice on a terminal.
pub fn new_key(key_file: Option<&Path>, passphrase_file: Option<&Path>) -> Result<KeySource> {
    if let Some(p) = key_file {
        return Ok(KeySource::KeyFile(p.to_path_buf()));
    }
    if let Some(p) = passphrase_file {
        return read_passphrase_file(p);
    }
    if let Some(k) = passphrase_from_env(ENV_NEW_PASSPHRASE)? {
        return Ok(k);
    }
    prompt_passphrase("new passphrase", true)?.ok_or_else(|| Error::Validation {
        field: "new_passphrase".into(),
        reason: format!(
            "a new key is needed: --new-passphrase-file FILE, --new-key-file FILE or {ENV_NEW_PASSPHRASE}"
        ),
    })
}

/// Asks for a passphrase on the terminal, without echo; `Ok(None)` when
/// stdin is not a terminal (scripts must pass a key explicitly). With
/// `confirm` it asks twice and refuses a mismatch.
pub fn prompt_passphrase(what: &str, confirm: bool) -> Result<Option<KeySource>> {
    if !io::stdin().is_terminal() {
        return Ok(None);
    }
    let ask = |prompt: &str| -> Result<zeroize::Zeroizing<String>> {
        rpassword::prompt_password(prompt)
            .map(zeroize::Zeroizing::new)
            .map_err(Error::Io)
    };
    let first = ask(&format!("{what}: "))?;
    if first.is_empty() {
        return Err(Error::Validation {
            field: "passphrase".into(),
            reason: "must not be empty".into(),
        });
    }
    if confirm && *ask(&format!("{what} (again): "))? != *first {
        return Err(Error::Validation {
            field: "passphrase".into(),
            reason: "the two entries differ".into(),
        });
    }
    Ok(Some(KeySource::Passphrase(first.to_string())))
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
