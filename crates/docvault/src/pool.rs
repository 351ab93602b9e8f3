//! A small pool of reader connections.
//!
//! SQLite connections are not shareable between threads at once, so each
//! reader borrows one for the duration of a read. Connections keep their
//! prepared-statement caches across borrows. The pool never blocks: when all
//! idle connections are taken it opens another, and keeps at most `max_idle`
//! of them when they come back.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;

use crate::error::Result;

pub(crate) struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
    configure: fn(&Connection) -> Result<()>,
}

pub(crate) struct PooledConn<'a> {
    pool: &'a Pool,
    conn: Option<Connection>,
}

impl Pool {
    pub(crate) fn new(
        path: PathBuf,
        max_idle: usize,
        configure: fn(&Connection) -> Result<()>,
    ) -> Self {
        Pool {
            path,
            idle: Mutex::new(Vec::new()),
            max_idle: max_idle.max(1),
            configure,
        }
    }

    pub(crate) fn get(&self) -> Result<PooledConn<'_>> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                (self.configure)(&c)?;
                c
            }
        };
        Ok(PooledConn {
            pool: self,
            conn: Some(conn),
        })
    }

    /// Idle connections now.
    pub(crate) fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Closes every idle connection.
    pub(crate) fn clear(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Deref for PooledConn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl DerefMut for PooledConn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for PooledConn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            // A connection left inside a transaction would pin an old snapshot.
            if !c.is_autocommit() {
                return;
            }
            let mut idle = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < self.pool.max_idle {
                idle.push(c);
            }
        }
    }
}
