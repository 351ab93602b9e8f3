//! The single-owner lock: one `Store` (in any process) owns a store file.
//!
//! Two owners would each cache rows the other changes (the original's two
//! instances served each other stale data forever), so a second open fails
//! with [`Error::StoreInUse`] naming the owner. The lock is an advisory
//! exclusive lock on `<db>.lock`, which the OS drops if the owner dies, so a
//! crash never leaves a store locked. (On Unix the store's SQLite
//! connections lock the database file itself too: see `store::VFS`.)

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Holds the lock until dropped.
#[derive(Debug)]
pub(crate) struct StoreLock {
    _file: File,
}

/// The lock file of a database path.
pub(crate) fn lock_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

impl StoreLock {
    pub(crate) fn acquire(db: &Path) -> Result<Self> {
        let path = lock_path(db);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut s = String::new();
                let pid = file
                    .read_to_string(&mut s)
                    .ok()
                    .and_then(|_| s.trim().parse().ok());
                return Err(Error::StoreInUse {
                    path: db.to_path_buf(),
                    pid,
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::Io(e)),
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        write!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(StoreLock { _file: file })
    }
}
