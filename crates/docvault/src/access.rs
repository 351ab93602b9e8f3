//! Access tracking with no writes on the read path.
//!
//! A read adds to an in-memory counter for its document; the writer flushes
//! the counters to disk in one transaction, every `access_flush_interval` and
//! at close. A read reports the persisted count plus the pending one, so the
//! figure it returns is exact at every moment. The gate makes "read the
//! persisted row, add the pending count" and "persist the pending counts,
//! forget them" mutually exclusive, so no read can count a flushed access
//! twice or miss one. Memory is bounded by the number of distinct documents
//! read between two flushes; nothing is ever dropped.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::model::Timestamp;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pending {
    pub count: i64,
    pub last: i64,
}

#[derive(Default)]
pub(crate) struct Tracker {
    pending: Mutex<HashMap<i64, Pending>>,
    gate: RwLock<()>,
}

impl Tracker {
    /// Held by readers while they combine a persisted row with pending counts.
    pub(crate) fn read_gate(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Held by the flusher while it persists and forgets pending counts.
    pub(crate) fn write_gate(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().unwrap_or_else(|e| e.into_inner())
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one access and returns the pending total including it.
    pub(crate) fn record(&self, id: i64, at: Timestamp) -> Pending {
        let mut m = self.map();
        let p = m.entry(id).or_default();
        p.count += 1;
        p.last = p.last.max(at.0);
        *p
    }

    /// The pending total without recording an access.
    pub(crate) fn peek(&self, id: i64) -> Option<Pending> {
        self.map().get(&id).copied()
    }

    /// Takes every pending counter. Call with the write gate held.
    pub(crate) fn take(&self) -> HashMap<i64, Pending> {
        std::mem::take(&mut *self.map())
    }

    /// Puts counters back after a failed flush so that nothing is lost.
    pub(crate) fn restore(&self, taken: HashMap<i64, Pending>) {
        let mut m = self.map();
        for (id, p) in taken {
            let e = m.entry(id).or_default();
            e.count += p.count;
            e.last = e.last.max(p.last);
        }
    }

    /// Forgets a document (hard delete).
    pub(crate) fn forget(&self, id: i64) {
        self.map().remove(&id);
    }

    /// Number of documents with pending counts.
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }
}

/// Applies pending counts to a document read from disk.
pub(crate) fn apply(doc: &mut crate::model::Document, p: Pending) {
    doc.access_count += p.count;
    if p.count > 0 {
        let last = doc.last_accessed.map_or(p.last, |t| t.0.max(p.last));
        doc.last_accessed = Some(Timestamp(last));
    }
}
