//! Access tracking with no writes on the read path, and exact figures.
//!
//! A read adds to an in-memory counter of its document: inside its cache
//! entry when it is cached (the line the read touches anyway), else in the
//! [`Counters`] of its cache shard, under the lock the read takes anyway. The
//! writer persists the counters in batches, every `access_flush_interval`
//! and at close. Every read reports persisted + in-flight + pending, so the
//! figure it returns is exact at every moment:
//!
//! - a flush moves `pending` to `in_flight`, commits, then (under the shard
//!   lock) adds `in_flight` to the cached persisted figures and clears it;
//!   a cache hit always sees a consistent sum;
//! - a cache miss reads the persisted figure from disk; it holds the read
//!   side of [`Gate`] while doing so, and a flush holds the write side from
//!   taking the counters to clearing `in_flight`, so a miss never sees a
//!   flush half done.
//!
//! Memory is bounded by the number of distinct documents read between two
//! flushes; nothing is ever dropped (a failed flush puts its counts back).

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::cache::IdMap;
use crate::model::Timestamp;

/// Reads not yet persisted: how many, and the latest time (µs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    pub count: i64,
    pub last: i64,
}

impl Pending {
    pub(crate) fn add(&mut self, other: Pending) {
        self.count += other.count;
        self.last = self.last.max(other.last);
    }
}

/// Per-shard counters. Always used under the shard's lock.
#[derive(Default)]
pub(crate) struct Counters {
    pending: IdMap<Pending>,
    in_flight: IdMap<Pending>,
}

impl Counters {
    /// Records one access; returns everything not yet applied to the
    /// persisted figure (pending and in flight), this access included.
    pub(crate) fn record(&mut self, id: i64, at: Timestamp) -> Pending {
        let p = self.pending.entry(id).or_default();
        p.count += 1;
        p.last = p.last.max(at.0);
        let mut total = *p;
        if let Some(f) = self.in_flight.get(&id) {
            total.add(*f);
        }
        total
    }

    /// Everything not yet applied to the persisted figure, without
    /// recording an access.
    pub(crate) fn peek(&self, id: i64) -> Pending {
        let mut total = self.pending.get(&id).copied().unwrap_or_default();
        if let Some(f) = self.in_flight.get(&id) {
            total.add(*f);
        }
        total
    }

    /// Starts a flush: pending counters become in flight.
    pub(crate) fn begin_flush(&mut self) -> Vec<(i64, Pending)> {
        let taken: Vec<(i64, Pending)> = self.pending.drain().collect();
        for (id, p) in &taken {
            self.in_flight.entry(*id).or_default().add(*p);
        }
        taken
    }

    /// Ends a flush. On success the in-flight counts are now persisted and
    /// are returned for the caller to add to cached figures; on failure
    /// they go back to pending.
    pub(crate) fn end_flush(&mut self, committed: bool) -> Vec<(i64, Pending)> {
        let done: Vec<(i64, Pending)> = self.in_flight.drain().collect();
        if !committed {
            for (id, p) in &done {
                self.pending.entry(*id).or_default().add(*p);
            }
            return Vec::new();
        }
        done
    }

    /// Takes the pending count of one document (it moves into a cache entry).
    pub(crate) fn take_pending(&mut self, id: i64) -> Pending {
        self.pending.remove(&id).unwrap_or_default()
    }

    /// Adds to the pending count of one document (from an evicted entry).
    pub(crate) fn add_pending(&mut self, id: i64, p: Pending) {
        if p.count > 0 {
            self.pending.entry(id).or_default().add(p);
        }
    }

    /// The in-flight count of one document; free when no flush is running.
    pub(crate) fn in_flight(&self, id: i64) -> Pending {
        if self.in_flight.is_empty() {
            return Pending::default();
        }
        self.in_flight.get(&id).copied().unwrap_or_default()
    }

    /// Forgets a document (hard delete).
    pub(crate) fn forget(&mut self, id: i64) {
        self.pending.remove(&id);
        self.in_flight.remove(&id);
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len() + self.in_flight.len()
    }
}

/// Orders cache misses against flushes (see the module docs).
#[derive(Default)]
pub(crate) struct Gate(RwLock<()>);

impl Gate {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, ()> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, ()> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The figures a read reports: persisted plus not yet persisted.
pub(crate) fn combine(
    persisted_count: i64,
    persisted_last: Option<i64>,
    p: Pending,
) -> (i64, Option<Timestamp>) {
    let last = match (persisted_last, p.count > 0) {
        (Some(l), true) => Some(l.max(p.last)),
        (None, true) => Some(p.last),
        (l, false) => l,
    };
    (persisted_count + p.count, last.map(Timestamp))
}

/// The time of a read, at the resolution of the kernel's coarse clock
/// (a few ms on Linux). Reading it costs a fraction of a precise clock
/// read, which profiling showed was a tenth of a cache hit.
pub(crate) fn read_time() -> Timestamp {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } == 0 {
            return Timestamp(ts.tv_sec as i64 * 1_000_000 + ts.tv_nsec as i64 / 1000);
        }
    }
    Timestamp::now()
}
