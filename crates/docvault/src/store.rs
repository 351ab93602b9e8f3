//! The store: opening, closing, connections, and the write path every
//! mutation goes through.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use crate::cache::Cache;
use crate::checkpoint::{CheckpointCounters, Checkpointer};
use crate::crypto::{self, CipherKey, KdfParams, KeySource};
use crate::error::{Error, Result};
use crate::lock::StoreLock;
use crate::metrics::Metrics;
use crate::pool::Pool;
use crate::schema;
use crate::writer::{Writer, WriterCounters};

/// How much a committed write survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: an application crash loses nothing;
    /// a power loss or OS crash may lose the last commits (never corrupts).
    #[default]
    Normal,
    /// WAL with `synchronous=FULL`: every acknowledged write survives a
    /// power loss, at the price of one sync per commit.
    Full,
}

/// Settings of a [`Store`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest accepted content, in bytes (default 10 MiB).
    pub max_content_bytes: usize,
    /// How long SQLite waits for a lock held by a checkpoint or reader
    /// before failing (default 5 s).
    pub busy_timeout: Duration,
    /// Commit durability (default [`Durability::Normal`]).
    pub durability: Durability,
    /// Count reads per document (default true).
    pub access_tracking: bool,
    /// How often pending access counts are written (default 1 s). They are
    /// also written at close and drop; a process killed outright loses the
    /// reads counted since the last write, never a document or a write.
    pub access_flush_interval: Duration,
    /// Idle reader connections kept open (default: number of cores).
    pub readers: usize,
    /// Read cache capacity in bytes (default 64 MiB; 0 disables the cache).
    /// The cache holds documents as stored, content included: for an
    /// encrypted store, decrypted documents stay in this process's memory
    /// (never on disk). Set 0 to keep none beyond the read in progress.
    pub cache_capacity_bytes: usize,
    /// Commit concurrent writes together, one transaction and one sync per
    /// group (default true). Off, every write commits on its own; useful
    /// only to measure what grouping gains.
    pub group_commit: bool,
    /// Encrypt the store at rest with this key (default `None`: plaintext).
    /// A new store is created encrypted; an existing store must match: a
    /// key for a plaintext store, no key for an encrypted one, or a wrong
    /// key are errors, never a fallback to plaintext. See [`crate::crypto`].
    pub encryption: Option<KeySource>,
    /// Argon2id parameters for a new passphrase-protected store (default
    /// 64 MiB, 5 passes, 1 lane: ~0.3 s). Existing stores use the parameters in
    /// their key header. Lower them only in tests.
    pub kdf: KdfParams,
    /// SQLCipher's `cipher_memory_security`: wipe every allocation SQLite
    /// frees and lock key memory (default false; it makes SQLite's memory
    /// management markedly slower, and once on it stays on for the process).
    pub cipher_memory_security: bool,
    /// WAL size, in bytes, at which a commit copies the WAL into the
    /// database itself so the WAL can start over (default 64 MiB, at least
    /// 4 MiB). A thread of the store's copies it in the background long
    /// before; this is the bound for when the writes outrun it. The file
    /// can pass it by a commit, by a quarter while a background copy is
    /// finishing, and further while readers hold snapshots the copy must
    /// not overwrite (tests allow 24 MiB past the quarter on a busy
    /// machine); close folds it back to nothing. Larger means fewer of the
    /// writer's stalls (each syncs both files), so faster sustained writes,
    /// for more disk; see the `checkpoint` module. There is no upper
    /// bound: a huge limit lets the WAL grow as long as writes go on.
    pub wal_limit_bytes: u64,
}

impl Config {
    /// Rejects settings that cannot work, naming the field. [`Store::open`]
    /// calls it: a bad value is an error, never silently replaced.
    pub fn validate(&self) -> Result<()> {
        if self.max_content_bytes == 0 {
            return Err(Error::validation(
                "max_content_bytes",
                "must be greater than 0",
            ));
        }
        if self.readers == 0 {
            return Err(Error::validation("readers", "must be at least 1"));
        }
        self.kdf.validate()?;
        if matches!(&self.encryption, Some(KeySource::Passphrase(p)) if p.is_empty()) {
            return Err(Error::validation("passphrase", "must not be empty"));
        }
        if self.wal_limit_bytes < crate::checkpoint::MIN_WAL_LIMIT_BYTES {
            return Err(Error::validation(
                "wal_limit_bytes",
                format!(
                    "must be at least {} (4 MiB)",
                    crate::checkpoint::MIN_WAL_LIMIT_BYTES
                ),
            ));
        }
        if self.access_flush_interval.is_zero() {
            return Err(Error::validation(
                "access_flush_interval",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_content_bytes: 10 * 1024 * 1024,
            busy_timeout: Duration::from_secs(5),
            durability: Durability::Normal,
            access_tracking: true,
            access_flush_interval: Duration::from_secs(1),
            readers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            cache_capacity_bytes: 64 * 1024 * 1024,
            group_commit: true,
            encryption: None,
            kdf: KdfParams::default(),
            cipher_memory_security: false,
            wal_limit_bytes: 64 << 20,
        }
    }
}

/// A document store in one SQLite file.
///
/// `Store` is `Send + Sync` and cheap to clone: clones share one set of
/// connections. Only one `Store` in any process may have a file open at a
/// time; a second [`Store::open`] fails with [`Error::StoreInUse`].
///
/// ```
/// use docvault::{Config, NewDocument, Store};
/// # fn main() -> docvault::Result<()> {
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path().join("docs.db"), Config::default())?;
/// let doc = store.create(NewDocument::new("Getting started", "# Hello"))?;
/// assert_eq!(store.get(doc.id)?.content.as_deref(), Some("# Hello"));
/// store.close()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) path: PathBuf,
    pub(crate) config: Config,
    /// The raw key of an encrypted store, kept while it is open so that new
    /// connections can be keyed; wiped on drop.
    key: Option<Arc<CipherKey>>,
    /// The key header of an encrypted store, as read (or written) at open.
    header: Option<crypto::Header>,
    writer: RwLock<Option<Writer>>,
    pub(crate) writer_counters: Arc<WriterCounters>,
    pub(crate) checkpoint_counters: Arc<CheckpointCounters>,
    /// Stopped before the writer's last checkpoint at close.
    checkpointer: Mutex<Option<Checkpointer>>,
    pub(crate) readers: Pool,
    pub(crate) cache: Cache,
    /// Epoch of the last access flush (see `access`).
    access_epoch: AtomicU64,
    pub(crate) metrics: Metrics,
    pub(crate) operations: AtomicU64,
    closed: AtomicBool,
    /// Held for a whole access flush.
    pub(crate) flush_lock: Mutex<()>,
    /// Bumped when an access flush begins and when it ends (see `access`).
    pub(crate) flush_seq: AtomicU64,
    /// Writes completed through [`Store::write`]; starts at 1, so that a
    /// store opened with documents left pending (by a crash) indexes them.
    pub(crate) search_written: AtomicU64,
    /// The `search_written` every write up to which is indexed for search
    /// (see `search::schema`).
    pub(crate) search_indexed: AtomicU64,
    lock: Mutex<Option<StoreLock>>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    wake: Arc<(Mutex<bool>, Condvar)>,
}

fn configure_common(conn: &Connection, config_busy: Duration) -> Result<()> {
    conn.busy_timeout(config_busy)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// The SQLite VFS of every connection to an open store. On Unix,
/// `unix-excl`: the first connection takes an exclusive OS lock on the
/// file, which other processes cannot share (one owner per store, as the
/// `lock` module already demands of docvault processes; now also of any
/// other SQLite program, which could otherwise change rows behind the
/// cache), and in exchange the WAL index lives in this process's memory
/// instead of a mapped `-shm` file, so a read transaction takes no
/// `fcntl` lock. Without it, every read began and ended with a file-lock
/// system call under SQLite's process-wide mutex: uncached gets ran 1.27×
/// faster on one thread and 1.16× on eight (see ARCHITECTURE.md).
///
/// Through [`crate::wal_vfs`], which wraps `unix-excl` to write each WAL
/// commit in one system call.
#[cfg(unix)]
pub(crate) const VFS: Option<&str> = Some(crate::wal_vfs::NAME);
/// Elsewhere, SQLite's default VFS.
#[cfg(not(unix))]
pub(crate) const VFS: Option<&str> = None;

/// Opens a connection to the store file. Every connection of an open store
/// goes through here: all must use the same VFS.
pub(crate) fn open_file(path: &Path) -> Result<Connection> {
    Ok(match VFS {
        Some(vfs) => {
            #[cfg(unix)]
            crate::wal_vfs::register().map_err(|rc| {
                Error::Database(format!(
                    "cannot register the {vfs} VFS: {}",
                    rusqlite::ffi::code_to_str(rc)
                ))
            })?;
            Connection::open_with_flags_and_vfs(path, rusqlite::OpenFlags::default(), vfs)?
        }
        None => Connection::open(path)?,
    })
}

/// A connection of the writer's kind (the writer's own, the checkpoint
/// thread's): keyed if the store is encrypted, with the common settings.
fn connect(path: &Path, key: Option<&CipherKey>, config: &Config) -> Result<Connection> {
    let conn = open_file(path)?;
    if let Some(k) = key {
        apply_key(&conn, k, config.cipher_memory_security)?;
    }
    configure_common(&conn, config.busy_timeout)?;
    Ok(conn)
}

/// Hands `key` to SQLCipher as a raw key. Must be the first statement on
/// a connection.
pub(crate) fn apply_key(conn: &Connection, key: &CipherKey, memory_security: bool) -> Result<()> {
    if memory_security {
        conn.execute_batch("PRAGMA cipher_memory_security = ON;")?;
    }
    conn.execute_batch(crypto::key_statements(key).as_str())?;
    Ok(())
}

/// Refuses to go on unless the linked SQLite is SQLCipher. Also silences
/// SQLCipher's own log, which by default writes to stderr (a wrong key
/// must be one clean error, not noise).
pub(crate) fn check_sqlcipher() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    let version: Option<String> = conn
        .query_row("PRAGMA cipher_version", [], |r| r.get(0))
        .ok();
    match version.filter(|v| !v.trim().is_empty()) {
        Some(_) => {
            let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
            Ok(())
        }
        None => Err(Error::EncryptionUnavailable(
            "this build's SQLite is not SQLCipher; refusing to open without encryption".into(),
        )),
    }
}

/// Checks the files on disk against the configured key, creating the key
/// header of a new encrypted store, and returns the header and the raw key
/// (derived once).
fn prepare_key(path: &Path, config: &Config) -> Result<Option<(crypto::Header, CipherKey)>> {
    if let Some(source) = &config.encryption {
        if crypto::is_new(path)? {
            check_sqlcipher()?;
            let header_path = crypto::header_path(path);
            let header = crypto::Header::new(source, &config.kdf)?;
            let key = header.derive(source, &header_path)?;
            header.write(&header_path)?;
            return Ok(Some((header, key)));
        }
    }
    existing_key(path, config.encryption.as_ref(), &config.kdf)
}

/// Checks an existing store's files against `source` and derives its key:
/// no key for an encrypted store, a key for a plaintext one and a missing
/// header a passphrase needs are each their own error. `kdf` only shapes
/// the stand-in header of a raw key whose header is missing.
pub(crate) fn existing_key(
    path: &Path,
    source: Option<&KeySource>,
    kdf: &KdfParams,
) -> Result<Option<(crypto::Header, CipherKey)>> {
    let header_path = crypto::header_path(path);
    let Some(source) = source else {
        if !crypto::looks_plaintext(path)? && header_path.exists() {
            return Err(Error::StoreEncrypted {
                path: path.to_path_buf(),
            });
        }
        return Ok(None);
    };
    check_sqlcipher()?;
    if crypto::looks_plaintext(path)? {
        return Err(Error::NotEncrypted {
            path: path.to_path_buf(),
        });
    }
    let header = match crypto::Header::read(&header_path)? {
        Some(h) => h,
        None if matches!(source, KeySource::Passphrase(_)) => {
            return Err(Error::BadKeyHeader {
                path: header_path,
                reason: "the file is missing; it holds the salt a passphrase needs".into(),
            })
        }
        // A raw key needs no salt: try it.
        None => crypto::Header::new(source, kdf)?,
    };
    let key = header.derive(source, &header_path)?;
    Ok(Some((header, key)))
}

/// The schema version, read first so that "not a database" becomes a clean
/// error before anything tries to write: with a key, the key is wrong;
/// without one, the file may be an encrypted store.
pub(crate) fn first_read(conn: &Connection, path: &Path, keyed: bool) -> Result<i64> {
    match schema::version(conn) {
        Err(Error::Corrupt(m)) if keyed => Err(Error::WrongKey(format!(
            "{} cannot be decrypted with it ({m})",
            path.display()
        ))),
        Err(Error::Corrupt(m)) if !crypto::looks_plaintext(path)? => Err(Error::Corrupt(format!(
            "{m} (if it is an encrypted store, give its passphrase or key)"
        ))),
        other => other,
    }
}

/// Page cache per reader, KiB, by measurement (`docvault bench`, 100,000
/// documents). Plaintext: 4 MiB reads as fast as 8 MiB (a miss costs a
/// pread from the OS cache) and keeps the process within the cache plus
/// 64 MiB. Encrypted: every miss also decrypts and authenticates a page, and
/// 4 MiB made uncached reads 0.45x plaintext where 8 MiB gave 0.54-0.58x.
const READER_CACHE_KIB: i64 = 4096;
const READER_CACHE_KIB_ENCRYPTED: i64 = 8192;

fn configure_reader(conn: &Connection, encrypted: bool) -> Result<()> {
    configure_common(conn, Duration::from_secs(5))?;
    conn.pragma_update(None, "query_only", true)?;
    let kib = if encrypted {
        READER_CACHE_KIB_ENCRYPTED
    } else {
        READER_CACHE_KIB
    };
    conn.pragma_update(None, "cache_size", -kib)?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `path`, creating it if absent, and migrates it to
    /// the current schema.
    ///
    /// Fails with [`Error::StoreInUse`] if another `Store` has it open,
    /// [`Error::SchemaTooNew`] if a newer docvault wrote it, and
    /// [`Error::Corrupt`] if it is not a docvault store.
    pub fn open(path: impl AsRef<Path>, config: Config) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        config.validate()?;
        let lock = StoreLock::acquire(&path)?;
        // An interrupted key change is finished or undone before anything
        // looks at the files.
        crate::rekey::recover(&path)?;
        let (header, key) = match prepare_key(&path, &config)? {
            Some((h, k)) => (Some(h), Some(Arc::new(k))),
            None => (None, None),
        };
        // The secret is not kept: the derived key is all connections need.
        let mut config = config;
        config.encryption = None;
        let mut writer = connect(&path, key.as_deref(), &config)?;
        first_read(&writer, &path, key.is_some())?;
        let mode: String = writer.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Database(format!(
                "could not enable WAL mode (journal_mode is {mode})"
            )));
        }
        writer.pragma_update(
            None,
            "synchronous",
            match config.durability {
                Durability::Normal => "NORMAL",
                Durability::Full => "FULL",
            },
        )?;
        // Freed pages are zeroed, so hard-deleted text does not linger.
        writer.pragma_update(None, "secure_delete", true)?;
        // 4 MiB: imports of 1,000 documents per transaction and single
        // creates ran as fast as with 16 MiB (side by side, examples/imports
        // and examples/creates), and the memory counts against the bound.
        writer.pragma_update(None, "cache_size", -4096)?;
        // STAT4 would otherwise re-prepare cached statements on every bind.
        writer.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        schema::migrate(&mut writer)?;
        let access_epoch: i64 = writer.query_row(
            "SELECT coalesce(max(access_epoch), 0) FROM access_stats",
            [],
            |r| r.get(0),
        )?;
        let access_epoch = access_epoch.max(0) as u64;

        let checkpoint_counters = Arc::new(CheckpointCounters::default());
        let checkpointer = {
            let conn = connect(&path, key.as_deref(), &config)?;
            // A checkpoint syncs as the writer's own would have.
            let sync: i64 = writer.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
            conn.pragma_update(None, "synchronous", sync)?;
            // SQLCipher answers for a keyed connection with its
            // `cipher_page_size`, as text.
            let page_size = match writer.query_row("PRAGMA page_size", [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })? {
                rusqlite::types::Value::Integer(n) => u32::try_from(n).ok(),
                rusqlite::types::Value::Text(t) => t.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| Error::Database("unreadable page_size".into()))?;
            let limits = crate::checkpoint::Limits::new(config.wal_limit_bytes, page_size);
            Checkpointer::start(&mut writer, conn, Arc::clone(&checkpoint_counters), limits)?
        };
        let writer_counters = Arc::new(WriterCounters::default());
        let max_batch = if config.group_commit {
            crate::writer::MAX_BATCH
        } else {
            1
        };
        let writer = Writer::start(writer, Arc::clone(&writer_counters), max_batch)?;
        let reader_key = key.clone();
        let memory_security = config.cipher_memory_security;
        let configure: crate::pool::Configure = Box::new(move |c: &Connection| {
            if let Some(k) = &reader_key {
                apply_key(c, k, memory_security)?;
            }
            configure_reader(c, reader_key.is_some())
        });
        let inner = Arc::new(Inner {
            readers: Pool::new(path.clone(), config.readers, configure),
            key,
            header,
            path,
            writer: RwLock::new(Some(writer)),
            writer_counters,
            checkpoint_counters,
            checkpointer: Mutex::new(Some(checkpointer)),
            cache: Cache::new(config.cache_capacity_bytes),
            access_epoch: AtomicU64::new(access_epoch),
            metrics: Metrics::default(),
            operations: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            flush_lock: Mutex::new(()),
            flush_seq: AtomicU64::new(0),
            search_written: AtomicU64::new(1),
            search_indexed: AtomicU64::new(0),
            lock: Mutex::new(Some(lock)),
            flusher: Mutex::new(None),
            wake: Arc::new((Mutex::new(false), Condvar::new())),
            config,
        });
        {
            let weak = Arc::downgrade(&inner);
            let wake = Arc::clone(&inner.wake);
            let interval = inner.config.access_flush_interval;
            let handle = std::thread::Builder::new()
                .name("docvault-flush".into())
                .spawn(move || flush_loop(weak, wake, interval))?;
            *inner.flusher.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        }
        Ok(Store { inner })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// True when the store is encrypted at rest.
    pub fn is_encrypted(&self) -> bool {
        self.inner.key.is_some()
    }

    /// A new connection of its own to the store, keyed if it is encrypted.
    pub(crate) fn open_connection(&self) -> Result<Connection> {
        let conn = open_file(self.path())?;
        if let Some(k) = &self.inner.key {
            apply_key(&conn, k, self.inner.config.cipher_memory_security)?;
        }
        conn.busy_timeout(self.config().busy_timeout)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        Ok(conn)
    }

    /// The settings the store was opened with. `encryption` is always
    /// `None` here: the passphrase or key is not kept once the store is
    /// open (see [`Store::is_encrypted`]).
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Writes pending access counts, checkpoints the WAL and releases the
    /// file. Further calls on this store (and its clones) fail with
    /// [`Error::Closed`]. Dropping the last clone does the same silently.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.stop_flusher();
        let handle = self
            .inner
            .flusher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        self.inner.shutdown()
    }

    /// Writes a consistent copy of the whole store (including what is still
    /// in the WAL) to `dest`, which must not exist. The copy is compacted.
    /// The copy of an encrypted store is encrypted with the same key, and
    /// its key header is copied to `<dest>.keyinfo`.
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<()> {
        let dest = dest.as_ref();
        if dest.exists() {
            return Err(Error::validation(
                "backup",
                format!("{} already exists", dest.display()),
            ));
        }
        self.flush()?;
        let dest_str = dest
            .to_str()
            .ok_or_else(|| Error::validation("backup", "destination path is not valid UTF-8"))?;
        let dest_header = crypto::header_path(dest);
        if let Some(h) = &self.inner.header {
            if dest_header.exists() {
                return Err(Error::validation(
                    "backup",
                    format!("{} already exists", dest_header.display()),
                ));
            }
            h.for_vacuum_copy().write(&dest_header)?;
        }
        let res = self.vacuum_into(dest_str);
        if res.is_err() && self.inner.header.is_some() {
            let _ = std::fs::remove_file(&dest_header);
        }
        res
    }

    /// VACUUM INTO `dest`; for an encrypted store SQLCipher writes the copy
    /// with the same key.
    fn vacuum_into(&self, dest_str: &str) -> Result<()> {
        let conn = self.reader()?;
        // VACUUM INTO reads one snapshot, so the copy is consistent even
        // while writers go on. It writes only the new file, but SQLite counts
        // it as a write, so lift the reader's query_only for its duration.
        conn.pragma_update(None, "query_only", false)?;
        let res = conn.execute("VACUUM INTO ?1", [dest_str]);
        conn.pragma_update(None, "query_only", true)?;
        res?;
        Ok(())
    }

    /// Writes pending access counts and indexes the documents waiting to
    /// be indexed for search, now.
    pub fn flush(&self) -> Result<()> {
        let access = self.inner.flush_access();
        self.inner.index_pending().and(access)
    }

    /// Runs `f` in the writer's next group transaction: an error rolls
    /// back `f`'s changes only. Returns after the commit. `f` may run more
    /// than once (when another write of its group fails, see `writer`), so
    /// it must have no effect outside the transaction.
    pub(crate) fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T> + Send + 'static,
    {
        let guard = self.inner.writer.read().unwrap_or_else(|e| e.into_inner());
        let writer = guard.as_ref().ok_or(Error::Closed)?;
        let out = writer.submit(f);
        // Before the caller hears back: a search it starts next must see
        // that this write may have left documents to index.
        self.inner.search_written.fetch_add(1, Ordering::SeqCst);
        if out.is_ok() {
            self.inner.operations.fetch_add(1, Ordering::Relaxed);
        }
        out
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Relaxed)
    }

    /// Borrows a reader connection.
    pub(crate) fn reader(&self) -> Result<crate::pool::PooledConn<'_>> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        self.inner.operations.fetch_add(1, Ordering::Relaxed);
        self.inner.readers.get()
    }
}

impl Inner {
    fn stop_flusher(&self) {
        let (m, cv) = &*self.wake;
        *m.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }

    /// Persists pending access counts (see `access`). Flushes are
    /// serialized; reads go on during them.
    pub(crate) fn flush_access(&self) -> Result<()> {
        let _one_at_a_time = self.flush_lock.lock().unwrap_or_else(|e| e.into_inner());
        let epoch = self.access_epoch.fetch_add(1, Ordering::SeqCst) + 1;
        let mut taken = Vec::new();
        self.flush_seq.fetch_add(1, Ordering::SeqCst);
        self.cache
            .for_each_shard(|s| taken.extend(s.begin_flush(epoch)));
        if taken.is_empty() {
            self.flush_seq.fetch_add(1, Ordering::SeqCst);
            self.cache.for_each_shard(|s| s.end_flush(true, epoch));
            return Ok(());
        }
        // In id order, each page of `access_stats` is visited once per
        // flush rather than once per document. Sorted here, off the writer.
        taken.sort_unstable_by_key(|&(id, _)| id);
        let guard = self.writer.read().unwrap_or_else(|e| e.into_inner());
        let res = match guard.as_ref() {
            None => Err(Error::Closed),
            Some(w) => w.submit(move |conn| {
                // A row that exists belongs to a live document (hard
                // deletes cascade), so only a first read of a document
                // pays the look-up in `documents`, whose leaves hold the
                // content: one page read per document, which made the
                // flush most of the writer's time under uniform reads.
                let mut update = conn.prepare_cached(
                    "UPDATE access_stats SET
                        access_count = access_count + ?1,
                        last_accessed = max(coalesce(last_accessed, 0), ?2),
                        access_epoch = ?4
                     WHERE document_id = ?3",
                )?;
                // A document hard-deleted since its reads has nothing to update.
                let mut insert = conn.prepare_cached(
                    "INSERT INTO access_stats (document_id, access_count, last_accessed, access_epoch)
                     SELECT ?3, ?1, ?2, ?4 WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?3)",
                )?;
                for (id, p) in &taken {
                    let args = params![p.count, p.last, id, epoch as i64];
                    if update.execute(args)? == 0 {
                        insert.execute(args)?;
                    }
                }
                Ok(())
            }),
        };
        let committed = res.is_ok();
        self.flush_seq.fetch_add(1, Ordering::SeqCst);
        self.cache.for_each_shard(|s| s.end_flush(committed, epoch));
        res
    }

    /// Indexes for search every document left pending by the writes that
    /// completed before this call, unless a finished flush already did.
    pub(crate) fn index_pending(&self) -> Result<()> {
        let target = self.search_written.load(Ordering::SeqCst);
        if self.search_indexed.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        let guard = self.writer.read().unwrap_or_else(|e| e.into_inner());
        let writer = guard.as_ref().ok_or(Error::Closed)?;
        writer.submit(|conn| {
            conn.execute_batch(crate::search::schema::FLUSH_PENDING)?;
            Ok(())
        })?;
        self.search_indexed.fetch_max(target, Ordering::SeqCst);
        Ok(())
    }

    fn shutdown(&self) -> Result<()> {
        // The file at rest has nothing waiting to be indexed.
        let indexed = self.index_pending();
        let flushed = self.flush_access().and(indexed);
        self.readers.clear();
        let writer = self
            .writer
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let mut result = flushed;
        // Its connection must be gone before the final checkpoint, which
        // would otherwise find it busy (dropping it joins the thread).
        drop(
            self.checkpointer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        if let Some(conn) = writer.and_then(|mut w| w.stop()) {
            // Fold the WAL back so the file alone is the whole store.
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            if let Err((_, e)) = conn.close() {
                result = result.and(Err(e.into()));
            }
        }
        self.cache.clear();
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            self.stop_flusher();
            let _ = self.shutdown();
        }
    }
}

/// Flushes access counts and indexes pending documents every `interval`
/// until told to stop. It holds the store only while flushing, so dropping
/// the last `Store` is never delayed.
fn flush_loop(weak: Weak<Inner>, wake: Arc<(Mutex<bool>, Condvar)>, interval: Duration) {
    let (m, cv) = &*wake;
    loop {
        let deadline = Instant::now() + interval;
        let mut stop = m.lock().unwrap_or_else(|e| e.into_inner());
        while !*stop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            stop = cv
                .wait_timeout(stop, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if *stop {
            return;
        }
        drop(stop);
        let Some(inner) = weak.upgrade() else { return };
        // A failed flush keeps its counts (and its pending documents) for
        // the next round.
        if inner.config.access_tracking {
            let _ = inner.flush_access();
        }
        let _ = inner.index_pending();
    }
}

#[cfg(test)]
mod tests {
    use crate::access::{read_time, Persisted};
    use crate::{Config, NewDocument, Store};

    /// SQLCipher encrypts the database and its WAL, not temporary files:
    /// a statement journal or temporary table spilled to disk would hold
    /// decrypted pages. So every connection of an encrypted store keeps
    /// them in memory (`temp_store` 2), the writer's included, whatever
    /// its statement journals cost in memory (ARCHITECTURE.md, write path).
    #[test]
    fn encrypted_stores_keep_temporary_data_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(
            dir.path().join("enc.db"),
            Config {
                encryption: Some(crate::KeySource::RawKey([7; 32])),
                ..Config::default()
            },
        )
        .unwrap();
        let temp_store = |c: &rusqlite::Connection| -> i64 {
            c.query_row("PRAGMA temp_store", [], |r| r.get(0)).unwrap()
        };
        assert_eq!(s.write(move |c| Ok(temp_store(c))).unwrap(), 2, "writer");
        assert_eq!(temp_store(&s.reader().unwrap()), 2, "reader");
        assert_eq!(
            temp_store(&s.open_connection().unwrap()),
            2,
            "own connection"
        );
    }

    /// The store's connections use `unix-excl` (see [`super::VFS`]): the
    /// WAL index is in memory, so no `-shm` file appears, while another
    /// connection of this process (the bench's bare baseline) still reads.
    #[cfg(unix)]
    #[test]
    fn wal_index_lives_in_memory_and_the_process_can_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("excl.db");
        let s = Store::open(&path, Config::default()).unwrap();
        let id = s.create(NewDocument::new("t", "body")).unwrap().id;
        let wal = dir.path().join("excl.db-wal");
        assert!(wal.exists(), "the store runs in WAL mode");
        assert!(!dir.path().join("excl.db-shm").exists());
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let title: String = conn
            .query_row("SELECT title FROM documents WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(title, "t");
        drop(conn);
        s.close().unwrap();
    }

    /// A flush updates the rows it has, adds the rows it lacks, and skips a
    /// document gone since its reads (the race a hard delete can lose with
    /// a read), without failing the rest of the batch.
    #[test]
    fn access_flush_updates_inserts_and_skips_deleted_documents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flush.db");
        let s = Store::open(&path, Config::default()).unwrap();
        let a = s.create(NewDocument::new("a", "x")).unwrap().id;
        let b = s.create(NewDocument::new("b", "x")).unwrap().id;
        s.get(a).unwrap();
        s.flush().unwrap();
        // a now has a row; b has none; the third id has no document.
        let gone = b + 1000;
        for id in [a, a, b, gone] {
            s.inner
                .cache
                .shard(id)
                .access(id, &Persisted::default(), Some(read_time()));
        }
        s.flush().unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let count = |id: i64| -> Option<i64> {
            conn.query_row(
                "SELECT access_count FROM access_stats WHERE document_id = ?1",
                [id],
                |r| r.get(0),
            )
            .ok()
        };
        assert_eq!(count(a), Some(3));
        assert_eq!(count(b), Some(1));
        assert_eq!(count(gone), None);
        assert_eq!(s.stats().unwrap().pending_access_updates, 0);
        drop(conn);
        s.close().unwrap();
    }
}
