//! A VFS over `unix-excl` that writes each WAL commit with one system call.
//!
//! SQLite appends a frame to the WAL in two writes: its 24-byte header,
//! then the page. A one-document create commits ~24 pages, so 48 `pwrite`
//! calls, and since a frame is 4,120 bytes, each page write straddles two
//! pages of the OS page cache and each header write dirties a third: the
//! kernel's per-page work ran three times per frame. That was 20% of the
//! writer thread's time under 8-thread creates (`perf`, session 12).
//!
//! This VFS buffers a WAL file's contiguous writes in memory and hands them
//! to the file in one write when a commit frame is complete, before any
//! other operation of the writing handle on the file (read, sync, truncate,
//! size, lock, file control), before a write elsewhere in the file, and
//! past [`BUFFER_CAP`]. Every other file (the database, journals) is the
//! underlying VFS's own, untouched.
//!
//! Why this keeps SQLite's guarantees:
//! - A transaction becomes visible to other connections only when the
//!   writer updates the WAL index after writing all its frames, the last
//!   being the commit frame. That frame's page write flushes the buffer, so
//!   every committed frame is in the file before any reader can look for
//!   it. A frame is a commit frame when bytes 4..8 of its header (the
//!   database size after the commit) are not zero: the WAL file format,
//!   <https://sqlite.org/fileformat2.html#walformat>.
//! - `durability=full` syncs the WAL at commit, and a sync flushes first.
//! - An application crash loses only frames of a transaction that had not
//!   finished writing, which SQLite never acknowledged (the same as a crash
//!   between its two writes of a frame).
//! - Every byte reaches the file in the order SQLite wrote it, also across
//!   connections (see [`Pending`]), so the file always becomes what it
//!   would have been without the buffer.
//! - A commit header written on its own (SQLite rewriting frame checksums
//!   after a transaction changed pages it had spilled) is written at once:
//!   no page follows it to flush it.
//! - Files opened with `psow=0` are not wrapped: SQLite pads their commits
//!   with extra frames and splits a write at the sync point.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock, Weak};

use rusqlite::ffi;

/// The name connections pass to open a store file through this VFS.
pub(crate) const NAME: &str = "docvault-wal";
const NAME_C: &CStr = c"docvault-wal";
/// The VFS this one wraps.
const BASE: &CStr = c"unix-excl";
/// Bytes buffered at most before they go to the file, whatever the commit
/// state. The unix VFS writes at most 128 KiB - 1 per call (it masks the
/// length with 0x1ffff, and a length it masks to 0 fails as SQLITE_FULL);
/// a one-document commit (~24 frames, ~99 KB) fits.
const BUFFER_CAP: usize = 120 << 10;
/// The size of a WAL frame header (fileformat2, "WAL Frame Format").
const FRAME_HEADER: c_int = 24;

/// What every handle on one WAL file shares: the writes one of them (the
/// owner) made and has not handed to the file yet.
///
/// Shared, not per handle, so that every byte reaches the file in the order
/// SQLite wrote it, whichever connection wrote it: a handle that writes or
/// truncates while another owns buffered bytes writes those first. (They
/// are dead bytes, of a transaction that ended without committing them;
/// SQLite would have written them already. With a buffer per handle, such
/// bytes once reached the file after a second connection's newer frames
/// at the same offsets: `a_second_writer_is_never_overtaken_by_dead_bytes`.)
struct Pending {
    /// Id of the handle whose writes `buf` holds.
    owner: AtomicU64,
    buf: Mutex<Buf>,
}

#[derive(Default)]
struct Buf {
    data: Vec<u8>,
    /// File offset of `data[0]`.
    at: i64,
    /// The last header buffered was a commit frame's: its page completes
    /// the commit.
    commit_page_next: bool,
}

/// Open WAL files by name, so that every handle on one finds its
/// [`Pending`].
type Files = HashMap<Box<[u8]>, Weak<Pending>>;
static FILES: LazyLock<Mutex<Files>> = LazyLock::new(|| Mutex::new(HashMap::new()));
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

/// A WAL file: SQLite's file header, then our state; the underlying VFS's
/// file follows at [`REAL_OFFSET`] in the same allocation.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    handle: u64,
    name: Box<[u8]>,
    pending: Arc<Pending>,
}

/// Where the underlying file starts: a multiple of 16 past our header, as
/// aligned as SQLite's allocation (8 bytes), which the unix file needs.
const REAL_OFFSET: usize = std::mem::size_of::<WalFile>().next_multiple_of(16);

struct Registered {
    /// The wrapped VFS (SQLite keeps registered VFS objects for the
    /// process's lifetime).
    base: *mut ffi::sqlite3_vfs,
}
// SAFETY: the pointer is to a VFS object SQLite never frees or moves; it is
// only passed back to SQLite, which synchronises its own use of it.
unsafe impl Send for Registered {}
unsafe impl Sync for Registered {}

static REGISTERED: OnceLock<Result<Registered, c_int>> = OnceLock::new();

/// Registers the VFS (once per process). Returns SQLite's error code if
/// the underlying VFS is missing or registration fails.
pub(crate) fn register() -> Result<(), c_int> {
    REGISTERED
        .get_or_init(|| {
            // SAFETY: FFI calls with valid NUL-terminated names; the struct
            // registered is leaked, as SQLite requires it to live on.
            unsafe {
                let rc = ffi::sqlite3_initialize();
                if rc != ffi::SQLITE_OK {
                    return Err(rc);
                }
                let base = ffi::sqlite3_vfs_find(BASE.as_ptr());
                if base.is_null() {
                    return Err(ffi::SQLITE_ERROR);
                }
                let mut vfs: ffi::sqlite3_vfs = ptr::read(base);
                vfs.szOsFile = (REAL_OFFSET + (*base).szOsFile as usize) as c_int;
                vfs.pNext = ptr::null_mut();
                vfs.zName = NAME_C.as_ptr();
                vfs.xOpen = Some(open);
                let vfs = Box::into_raw(Box::new(vfs));
                let rc = ffi::sqlite3_vfs_register(vfs, 0);
                if rc != ffi::SQLITE_OK {
                    drop(Box::from_raw(vfs));
                    return Err(rc);
                }
                Ok(Registered { base })
            }
        })
        .as_ref()
        .map(|_| ())
        .map_err(|&rc| rc)
}

fn base_vfs() -> *mut ffi::sqlite3_vfs {
    match REGISTERED.get() {
        Some(Ok(r)) => r.base,
        _ => unreachable!("open is only reachable through the registered VFS"),
    }
}

fn files() -> MutexGuard<'static, Files> {
    FILES.lock().unwrap_or_else(|e| e.into_inner())
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let base = base_vfs();
    let base_open = (*base).xOpen.expect("every VFS opens files");
    // With `psow=0` (no powersafe overwrite) SQLite pads commits to a
    // sector with extra frames and splits a write at the sync point, which
    // the buffering below does not follow: such WAL files are not wrapped.
    if flags & ffi::SQLITE_OPEN_WAL == 0
        || name.is_null()
        || ffi::sqlite3_uri_boolean(name, c"psow".as_ptr(), 1) == 0
    {
        // The allocation is larger than the base VFS needs: it uses the
        // front, with its own methods.
        return base_open(base, name, file, flags, out_flags);
    }
    let real = file
        .cast::<u8>()
        .add(REAL_OFFSET)
        .cast::<ffi::sqlite3_file>();
    let rc = base_open(base, name, real, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        // SQLite calls xClose only if pMethods is set: close what the base
        // may have left open ourselves.
        if !(*real).pMethods.is_null() {
            if let Some(close) = (*(*real).pMethods).xClose {
                close(real);
            }
        }
        (*file).pMethods = ptr::null();
        return rc;
    }
    let key: Box<[u8]> = CStr::from_ptr(name).to_bytes().into();
    let pending = {
        let mut files = files();
        match files.get(&key).and_then(Weak::upgrade) {
            Some(p) => p,
            None => {
                let p = Arc::new(Pending {
                    owner: AtomicU64::new(0),
                    buf: Mutex::new(Buf::default()),
                });
                files.insert(key.clone(), Arc::downgrade(&p));
                p
            }
        }
    };
    ptr::write(
        file.cast::<WalFile>(),
        WalFile {
            base: ffi::sqlite3_file {
                pMethods: &WAL_METHODS,
            },
            real,
            handle: NEXT_HANDLE.fetch_add(1, Ordering::Relaxed),
            name: key,
            pending,
        },
    );
    ffi::SQLITE_OK
}

unsafe fn wal<'a>(f: *mut ffi::sqlite3_file) -> &'a WalFile {
    &*f.cast::<WalFile>()
}

unsafe fn real_methods(w: &WalFile) -> &ffi::sqlite3_io_methods {
    &*(*w.real).pMethods
}

impl WalFile {
    fn lock(&self) -> MutexGuard<'_, Buf> {
        self.pending.buf.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shared buffer, made this handle's: for a handle about to write
    /// or truncate. Another handle's bytes (see [`Pending`]) go to the file
    /// first, in the order SQLite wrote them; with the error if that fails.
    unsafe fn take_over(&self) -> (MutexGuard<'_, Buf>, c_int) {
        let mut b = self.lock();
        let mut rc = ffi::SQLITE_OK;
        if self.pending.owner.load(Ordering::Relaxed) != self.handle {
            rc = self.flush(&mut b);
            self.pending.owner.store(self.handle, Ordering::Relaxed);
        }
        (b, rc)
    }

    /// Hands this handle's buffered bytes to the file, if it owns any:
    /// before any other operation of this handle on the file.
    unsafe fn flush_own(&self) -> c_int {
        // Only this handle makes itself the owner, so a stale `false` is
        // impossible; a stale `true` is checked again under the lock.
        if self.pending.owner.load(Ordering::Relaxed) != self.handle {
            return ffi::SQLITE_OK;
        }
        let mut b = self.lock();
        if self.pending.owner.load(Ordering::Relaxed) != self.handle {
            return ffi::SQLITE_OK;
        }
        self.flush(&mut b)
    }

    /// Writes `b` to the file; the caller owns it.
    unsafe fn flush(&self, b: &mut Buf) -> c_int {
        b.commit_page_next = false;
        if b.data.is_empty() {
            return ffi::SQLITE_OK;
        }
        let rc = self.write_through(b.data.as_ptr().cast(), b.data.len() as c_int, b.at);
        b.data.clear();
        rc
    }

    /// The underlying file's write, unbuffered.
    unsafe fn write_through(&self, data: *const c_void, amount: c_int, offset: i64) -> c_int {
        match real_methods(self).xWrite {
            Some(m) => m(self.real, data, amount, offset),
            None => ffi::SQLITE_ERROR,
        }
    }
}

unsafe extern "C" fn write(
    f: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let w = wal(f);
    let n = amount.max(0) as usize;
    let (mut b, rc) = w.take_over();
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    // After a commit header written on its own (below), its page continues
    // the run though nothing is buffered.
    let contiguous =
        (!b.data.is_empty() || b.commit_page_next) && offset == b.at + b.data.len() as i64;
    if !contiguous || b.data.len() + n > BUFFER_CAP {
        let commit_page_next = b.commit_page_next && contiguous;
        let rc = w.flush(&mut b);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        b.commit_page_next = commit_page_next;
        b.at = offset;
        if n > BUFFER_CAP {
            // Larger than any frame SQLite writes; passed on whole, as the
            // underlying VFS would have had it.
            b.commit_page_next = false;
            return w.write_through(data, amount, offset);
        }
    }
    let bytes = std::slice::from_raw_parts(data.cast::<u8>(), n);
    let commit_header = amount == FRAME_HEADER && bytes[4..8] != [0, 0, 0, 0];
    if commit_header && !contiguous {
        // A commit header that does not continue the buffered run: SQLite
        // rewriting checksums after a transaction changed pages it had
        // spilled (walRewriteChecksums), with no page after it. Written
        // now, or a crash would find the commit frame's old checksum and
        // recover nothing from there on.
        let rc = w.write_through(data, amount, offset);
        b.at = offset + i64::from(FRAME_HEADER);
        b.commit_page_next = rc == ffi::SQLITE_OK;
        return rc;
    }
    b.data.extend_from_slice(bytes);
    if amount == FRAME_HEADER {
        b.commit_page_next = commit_header;
        return ffi::SQLITE_OK;
    }
    if b.commit_page_next {
        return w.flush(&mut b);
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let w = wal(f);
    let (mut b, rc) = w.take_over();
    let rc = if rc == ffi::SQLITE_OK {
        w.flush(&mut b)
    } else {
        rc
    };
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    match real_methods(w).xTruncate {
        Some(m) => m(w.real, size),
        None => ffi::SQLITE_ERROR,
    }
}

unsafe extern "C" fn close(f: *mut ffi::sqlite3_file) -> c_int {
    let w = wal(f);
    let flushed = {
        // Under the lock: another handle may have taken over meanwhile.
        let mut b = w.lock();
        if w.pending.owner.load(Ordering::Relaxed) == w.handle {
            let rc = w.flush(&mut b);
            b.data = Vec::new();
            w.pending.owner.store(0, Ordering::Relaxed);
            rc
        } else {
            ffi::SQLITE_OK
        }
    };
    let closed = match real_methods(w).xClose {
        Some(close) => close(w.real),
        None => ffi::SQLITE_OK,
    };
    {
        let mut files = files();
        if Arc::strong_count(&w.pending) == 1 {
            files.remove(&w.name);
        }
        // Ours to drop: SQLite frees the allocation without running Rust
        // drops. Under the map's lock, so that no open upgrades a handle
        // being dropped.
        ptr::drop_in_place(f.cast::<WalFile>());
    }
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

/// Forwards a method to the underlying file after handing this handle's
/// buffered bytes to it.
macro_rules! flushing {
    ($name:ident, $method:ident, $missing:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(f: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            let w = wal(f);
            let rc = w.flush_own();
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            match real_methods(w).$method {
                Some(m) => m(w.real $(, $arg)*),
                None => $missing,
            }
        }
    };
}

flushing!(read, xRead, ffi::SQLITE_ERROR, (buf: *mut c_void, amount: c_int, offset: i64));
flushing!(sync, xSync, ffi::SQLITE_ERROR, (flags: c_int));
flushing!(file_size, xFileSize, ffi::SQLITE_ERROR, (size: *mut i64));
flushing!(lock, xLock, ffi::SQLITE_OK, (level: c_int));
flushing!(unlock, xUnlock, ffi::SQLITE_OK, (level: c_int));
flushing!(check_reserved_lock, xCheckReservedLock, ffi::SQLITE_ERROR, (out: *mut c_int));
flushing!(file_control, xFileControl, ffi::SQLITE_NOTFOUND, (op: c_int, arg: *mut c_void));

unsafe extern "C" fn sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    let w = wal(f);
    real_methods(w).xSectorSize.map_or(4096, |m| m(w.real))
}

unsafe extern "C" fn device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    let w = wal(f);
    real_methods(w)
        .xDeviceCharacteristics
        .map_or(0, |m| m(w.real))
}

/// Version 1: SQLite maps no shared memory and no pages of a WAL file.
static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{Config, DocumentPatch, Durability, NewDocument, Store};

    /// Copies the store's WAL, then its file, as a process killed right
    /// now would leave them, and opens the copy with SQLite's default VFS.
    fn as_left_by_a_crash(path: &Path, into: &Path) -> rusqlite::Connection {
        let wal = |p: &Path| {
            let mut s = p.as_os_str().to_owned();
            s.push("-wal");
            std::path::PathBuf::from(s)
        };
        // The WAL first: a checkpoint between the two copies then only
        // puts into the file pages the copied WAL holds too.
        std::fs::copy(wal(path), wal(into)).unwrap();
        std::fs::copy(path, into).unwrap();
        let c = rusqlite::Connection::open(into).unwrap();
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        c
    }

    fn count(c: &rusqlite::Connection) -> i64 {
        c.query_row(
            "SELECT count(*) FROM documents WHERE status != 'deleted'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// `n` rows of a random blob of `len` bytes, as SQL.
    fn blobs(n: u32, len: u32) -> String {
        format!(
            "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {n})
             SELECT randomblob({len}) FROM k"
        )
    }

    /// A transaction larger than its connection's page cache writes frames
    /// before it commits; rolled back, they are dead, and a second
    /// connection then commits over the same part of the WAL. Were the
    /// first connection's dead bytes still buffered (a buffer per handle),
    /// its next read would write them over the second's committed frames.
    #[test]
    fn a_second_writer_is_never_overtaken_by_dead_bytes() {
        super::register().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.db");
        let open = || {
            let c = rusqlite::Connection::open_with_flags_and_vfs(
                &path,
                rusqlite::OpenFlags::default(),
                super::NAME,
            )
            .unwrap();
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
            c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
            c.pragma_update(None, "cache_size", 16).unwrap();
            c
        };
        let a = open();
        a.execute_batch("CREATE TABLE t (x BLOB); CREATE TABLE u (y BLOB);")
            .unwrap();
        // An empty WAL: the rollback below then reloads pages from the
        // file, not from the WAL (which would hand out the dead bytes
        // before anyone else writes).
        a.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        // Rows of another size than the second connection's, so that its
        // pages written over the second's would show.
        a.execute_batch(&format!(
            "BEGIN; INSERT INTO t {}; ROLLBACK;",
            blobs(200, 2000)
        ))
        .unwrap();
        let b = open();
        b.execute_batch(&format!("INSERT INTO u {};", blobs(200, 3000)))
            .unwrap();
        let (n, bytes): (i64, i64) = a
            .query_row("SELECT count(*), sum(length(y)) FROM u", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((n, bytes), (200, 600_000));
        drop((a, b));
        let c = rusqlite::Connection::open(&path).unwrap();
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let t: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(t, 0);
        let (n, bytes): (i64, i64) = c
            .query_row("SELECT count(*), sum(length(y)) FROM u", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((n, bytes), (200, 600_000));
    }

    fn open_raw(path: &str, synchronous: &str, cache_pages: i64) -> rusqlite::Connection {
        super::register().unwrap();
        let c = rusqlite::Connection::open_with_flags_and_vfs(
            path,
            rusqlite::OpenFlags::default(),
            super::NAME,
        )
        .unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        c.pragma_update(None, "synchronous", synchronous).unwrap();
        c.pragma_update(None, "cache_size", cache_pages).unwrap();
        c
    }

    /// A transaction that changes pages it had spilled to the WAL makes
    /// SQLite rewrite the frame checksums at commit, each header alone, the
    /// commit frame's last, with no page after it. Found by review: that
    /// header stayed in the buffer, and a crash then recovered none of the
    /// 300 rows; after the writer closed beside another connection, it was
    /// never written at all.
    #[test]
    fn a_commit_that_rewrites_checksums_survives_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recksum.db");
        let c = open_raw(path.to_str().unwrap(), "NORMAL", 10);
        c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, x BLOB);")
            .unwrap();
        c.execute_batch(
            "BEGIN;
             WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 300)
               INSERT INTO t SELECT i, randomblob(1000) FROM k;
             UPDATE t SET x = randomblob(1000);
             UPDATE t SET x = randomblob(1000);
             COMMIT;",
        )
        .unwrap();
        let n: i64 = as_left_by_a_crash(&path, &dir.path().join("copy1.db"))
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 300);
        // The writer closes while another connection keeps the WAL.
        let other = open_raw(path.to_str().unwrap(), "NORMAL", 10);
        c.execute_batch(
            "BEGIN; UPDATE t SET x = randomblob(1000); UPDATE t SET x = zeroblob(999); COMMIT;",
        )
        .unwrap();
        drop(c);
        let copy = as_left_by_a_crash(&path, &dir.path().join("copy2.db"));
        let (n, last): (i64, i64) = copy
            .query_row("SELECT count(*), sum(length(x) = 999) FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((n, last), (300, 300));
        drop(other);
    }

    /// With `psow=0` SQLite pads each `synchronous=FULL` commit to a sector
    /// and splits a write at the sync; such files are left unwrapped.
    /// Found by review: wrapped, another connection read torn pages after
    /// each of 40 commits.
    #[test]
    fn commits_padded_to_a_sector_are_readable_by_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("padded.db");
        let uri = format!("file:{}?psow=0", path.display());
        let c = open_raw(&uri, "FULL", 2000);
        c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, x BLOB);")
            .unwrap();
        for i in 0..40 {
            c.execute("INSERT INTO t VALUES (?1, randomblob(3000))", [i])
                .unwrap();
            let r = open_raw(path.to_str().unwrap(), "FULL", 2000);
            let check: String = r
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(check, "ok", "after commit {i}");
        }
    }

    /// Whatever a write returned is in the WAL file when it returns (an
    /// application crash loses nothing), also for transactions larger
    /// than the buffer. Fails if a commit frame stays in the buffer.
    #[test]
    fn every_acknowledged_commit_is_in_the_wal_file() {
        for durability in [Durability::Normal, Durability::Full] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.db");
            let store = Store::open(
                &path,
                Config {
                    durability,
                    // Nothing writes but the test.
                    access_tracking: false,
                    ..Config::default()
                },
            )
            .unwrap();
            let copy = |n: u32| as_left_by_a_crash(&path, &dir.path().join(format!("copy{n}.db")));
            let mut n = 0;
            let mut expect = 0;
            for i in 0..20 {
                let d = store
                    .create(NewDocument::new(format!("d{i}"), format!("body {i}")))
                    .unwrap();
                expect += 1;
                n += 1;
                assert_eq!(count(&copy(n)), expect, "after create {i}");
                store
                    .update(
                        d.id,
                        DocumentPatch {
                            content: Some(format!("changed {i}")),
                            ..Default::default()
                        },
                    )
                    .unwrap();
                n += 1;
                let c = copy(n);
                let content: String = c
                    .query_row("SELECT content FROM documents WHERE id = ?1", [d.id], |r| {
                        r.get(0)
                    })
                    .unwrap();
                assert_eq!(content, format!("changed {i}"));
            }
            // One transaction of ~6 MiB of frames: many buffer-fulls, and
            // more than the writer's 4 MiB page cache, so pages spill to
            // the WAL before the commit. (It does not make SQLite rewrite
            // checksums; `a_commit_that_rewrites_checksums_survives_a_crash`
            // does.)
            let big: Vec<NewDocument> = (0..120)
                .map(|i| {
                    let words: String = (0..10_000)
                        .map(|j| format!("w{} ", (i * 7 + j * 13) % 5000))
                        .collect();
                    NewDocument::new(format!("big{i}"), words)
                })
                .collect();
            store.create_many(big).unwrap();
            expect += 120;
            n += 1;
            assert_eq!(count(&copy(n)), expect);
            store.close().unwrap();
        }
    }
}
