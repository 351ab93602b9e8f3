//! Access tracking with no writes on the read path, and exact figures.
//!
//! A read adds to an in-memory counter of its document: inside its cache
//! entry when it is cached (the line the read touches anyway), else in the
//! [`Counters`] of its cache shard, under the lock the read takes anyway. The
//! writer persists the counters in batches, every `access_flush_interval`
//! and at close, into the small `access_stats` table. Nothing is ever
//! dropped: a failed flush puts its counts back. Memory is bounded by the
//! number of distinct documents read between two flushes.
//!
//! Every read reports persisted + in flight + pending, exactly, with no lock
//! held across the database read:
//!
//! - Each flush has an epoch number, written into every `access_stats` row
//!   it touches, in the same transaction. A read that loads a row learns from
//!   the row's epoch whether the flush in flight is already part of the
//!   persisted figure (row epoch ≥ flush epoch) or not, and adds the
//!   in-flight count only in the second case.
//! - A flush that ends adds its counts to the cached entries loaded before
//!   it committed, under the shard lock, and forgets them.
//! - A sequence number is bumped when a flush begins and when it ends. A
//!   read notes it before loading a row and checks it, under the shard
//!   lock, before combining: if a flush began or ended in between, the
//!   figures it holds may straddle that moment, so it reads again (after a
//!   few tries, holding flushes off). Flushes are rare, so retries are too.

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

/// Access figures as read from disk, with the epoch of the last flush that
/// wrote them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Persisted {
    pub count: i64,
    pub last: Option<i64>,
    pub epoch: u64,
}

impl Persisted {
    /// Adds a flush's counts, once: a no-op if the figures already hold it.
    pub(crate) fn apply(&mut self, epoch: u64, p: Pending) {
        if self.epoch < epoch {
            self.count += p.count;
            self.last = Some(self.last.map_or(p.last, |l| l.max(p.last)));
            self.epoch = epoch;
        }
    }
}

/// Per-shard counters of documents that are not cached, and the counts of
/// the flush in flight. Always used under the shard's lock.
#[derive(Default)]
pub(crate) struct Counters {
    pending: IdMap<Pending>,
    in_flight: IdMap<Pending>,
    in_flight_epoch: u64,
}

impl Counters {
    /// Records one access of an uncached document; returns its pending count.
    pub(crate) fn record(&mut self, id: i64, at: Timestamp) -> Pending {
        let p = self.pending.entry(id).or_default();
        p.count += 1;
        p.last = p.last.max(at.0);
        *p
    }

    /// The pending count of an uncached document.
    pub(crate) fn pending(&self, id: i64) -> Pending {
        self.pending.get(&id).copied().unwrap_or_default()
    }

    /// The in-flight count of a document that `persisted` does not hold
    /// yet; free when no flush is running.
    pub(crate) fn in_flight(&self, id: i64, persisted: &Persisted) -> Pending {
        if self.in_flight.is_empty() || persisted.epoch >= self.in_flight_epoch {
            return Pending::default();
        }
        self.in_flight.get(&id).copied().unwrap_or_default()
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

    /// Starts flush `epoch`: pending counters become in flight.
    pub(crate) fn begin_flush(&mut self, epoch: u64) -> Vec<(i64, Pending)> {
        let taken: Vec<(i64, Pending)> = self.pending.drain().collect();
        for (id, p) in &taken {
            self.in_flight.entry(*id).or_default().add(*p);
        }
        self.in_flight_epoch = epoch;
        taken
    }

    /// Ends the flush. On success returns the counts now persisted, for the
    /// caller to add to cached figures; on failure they go back to pending.
    pub(crate) fn end_flush(&mut self, committed: bool) -> Vec<(i64, Pending)> {
        let done: Vec<(i64, Pending)> = self.in_flight.drain().collect();
        self.in_flight_epoch = 0;
        if !committed {
            for (id, p) in &done {
                self.pending.entry(*id).or_default().add(*p);
            }
            return Vec::new();
        }
        done
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

/// The figures a read reports: persisted plus not yet persisted.
pub(crate) fn combine(persisted: &Persisted, p: Pending) -> (i64, Option<Timestamp>) {
    let last = match (persisted.last, p.count > 0) {
        (Some(l), true) => Some(l.max(p.last)),
        (None, true) => Some(p.last),
        (l, false) => l,
    };
    (persisted.count + p.count, last.map(Timestamp))
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
            // time_t and c_long are 32 bits on some targets.
            #[allow(clippy::unnecessary_cast)]
            return Timestamp(ts.tv_sec as i64 * 1_000_000 + ts.tv_nsec as i64 / 1000);
        }
    }
    Timestamp::now()
}
