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
//!
//! The persisted figures of a document read recently stay in memory
//! ([`Counters::known`]), kept exact like a cached entry's: every flush adds
//! its counts to them when it ends, and nothing else writes `access_stats`
//! while the store is open (the store owns its file; hard deletes forget
//! them). A get by id of such a document then reads its row alone, without
//! the `access_stats` look-up (a second b-tree search). They are kept for
//! documents read in the last few flush intervals, so their memory has the
//! bound of the pending counters: distinct documents read, here over a few
//! intervals rather than one. With the read cache on, a document the cache
//! keeps needs none (its entry has them).

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

/// How many flush intervals the persisted figures of a document stay in
/// memory after its last read: the interval of the read, and two more.
/// A document read at least once every two intervals or so (a second, by
/// default) keeps them; its reads then skip the `access_stats` look-up.
const KNOWN_INTERVALS: u64 = 3;

/// At most this many documents' figures per shard, whatever the store's
/// size and read rate: a shard that is full learns no more until figures
/// expire. 7/8 of 2,048, the most a table of 2,048 slots holds: 64 shards
/// then keep up to 114,688 documents' figures in ~6 MiB (49 bytes a slot).
const KNOWN_PER_SHARD: usize = 1792;

#[derive(Clone, Copy)]
struct Known {
    figures: Persisted,
    read_in: u64,
}

/// Per-shard counters of documents that are not cached, and the counts of
/// the flush in flight. Always used under the shard's lock.
/// `repr(C)`, the in-flight map first: see `cache::Shard`.
#[derive(Default)]
#[repr(C)]
pub(crate) struct Counters {
    in_flight: IdMap<Pending>,
    in_flight_epoch: u64,
    pending: IdMap<Pending>,
    /// Persisted figures of documents read in the last [`KNOWN_INTERVALS`]
    /// flush intervals, with the interval of their last read.
    known: IdMap<Known>,
    /// The current flush interval (flushes ended since the store opened).
    interval: u64,
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

    /// Whether the persisted figures of `id` are in memory.
    pub(crate) fn knows(&self, id: i64) -> bool {
        self.known.contains_key(&id)
    }

    /// The persisted figures of `id`, if in memory: as exact as a row read
    /// now, to be combined like one (in-flight counts included).
    pub(crate) fn known(&mut self, id: i64) -> Option<Persisted> {
        let k = self.known.get_mut(&id)?;
        k.read_in = self.interval;
        Some(k.figures)
    }

    /// Keeps the figures a read loaded, which must be exact (read with no
    /// flush beginning or ending meanwhile).
    pub(crate) fn learn(&mut self, id: i64, figures: Persisted) {
        let read_in = self.interval;
        if let Some(k) = self.known.get_mut(&id) {
            k.read_in = read_in;
        } else if self.known.len() < KNOWN_PER_SHARD {
            self.known.insert(id, Known { figures, read_in });
        }
    }

    /// Adds the counts flush `epoch` committed to the figures in memory,
    /// and starts a new interval.
    pub(crate) fn apply_flush(&mut self, epoch: u64, done: &[(i64, Pending)]) {
        for (id, p) in done {
            if let Some(k) = self.known.get_mut(id) {
                k.figures.apply(epoch, *p);
            }
        }
        self.next_interval();
    }

    /// Starts a new flush interval: figures not read in the last
    /// [`KNOWN_INTERVALS`] are dropped.
    pub(crate) fn next_interval(&mut self) {
        self.interval += 1;
        let now = self.interval;
        self.known.retain(|_, k| now - k.read_in < KNOWN_INTERVALS);
    }

    /// Drops every figure kept in memory (the next reads load them).
    pub(crate) fn forget_known(&mut self) {
        self.known.clear();
    }

    /// Forgets a document (hard delete).
    pub(crate) fn forget(&mut self, id: i64) {
        self.pending.remove(&id);
        self.in_flight.remove(&id);
        self.known.remove(&id);
    }

    /// Documents whose persisted figures are in memory.
    pub(crate) fn known_len(&self) -> usize {
        self.known.len()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(c: &mut Counters, id: i64, at: i64) {
        c.record(id, Timestamp(at));
    }

    /// Figures kept in memory take every flush's counts, once, and last
    /// for the interval they were read in and two more.
    #[test]
    fn known_figures_follow_flushes_and_expire_after_idle_intervals() {
        let mut c = Counters::default();
        let loaded = Persisted {
            count: 5,
            last: Some(10),
            epoch: 3,
        };
        c.learn(1, loaded);
        read(&mut c, 1, 20);
        read(&mut c, 1, 30);
        // Flush 4 carries the two reads.
        c.begin_flush(4);
        let done = c.end_flush(true);
        c.apply_flush(4, &done);
        let after = c.known(1).expect("read in the interval just flushed");
        assert_eq!((after.count, after.last, after.epoch), (7, Some(30), 4));
        // Applying the same flush again changes nothing.
        c.apply_flush(4, &done);
        assert_eq!(c.known(1).unwrap().count, 7);
        // A flush that failed adds nothing (its counts went back to pending).
        read(&mut c, 1, 40);
        c.begin_flush(5);
        let failed = c.end_flush(false);
        assert!(failed.is_empty());
        c.apply_flush(5, &failed);
        assert_eq!(c.known(1).unwrap().count, 7);
        assert_eq!(c.pending(1).count, 1);
        // Last read in this interval: kept through two more, then dropped.
        for _ in 1..KNOWN_INTERVALS {
            c.next_interval();
            assert!(c.knows(1));
        }
        c.next_interval();
        assert!(!c.knows(1));
        assert_eq!(c.known(1), None);
        assert_eq!(c.known_len(), 0);
    }

    /// A full shard learns no more, and learns again once figures expire.
    #[test]
    fn known_figures_are_capped_per_shard() {
        let mut c = Counters::default();
        let n = KNOWN_PER_SHARD as i64;
        for id in 0..n + 10 {
            c.learn(id, Persisted::default());
        }
        assert_eq!(c.known_len(), KNOWN_PER_SHARD);
        assert!(c.knows(0) && !c.knows(n));
        for _ in 0..KNOWN_INTERVALS {
            c.next_interval();
        }
        assert_eq!(c.known_len(), 0);
        c.learn(n, Persisted::default());
        assert!(c.knows(n));
    }

    /// A read (or a second learn) renews the figures' stay.
    #[test]
    fn reads_keep_known_figures() {
        let mut c = Counters::default();
        c.learn(1, Persisted::default());
        c.learn(2, Persisted::default());
        for _ in 0..10 {
            c.next_interval();
            c.known(1);
        }
        c.learn(3, Persisted::default());
        c.next_interval();
        c.learn(3, Persisted::default());
        assert!(c.knows(1) && !c.knows(2) && c.knows(3));
    }

    #[test]
    fn forgetting_a_document_drops_its_known_figures() {
        let mut c = Counters::default();
        c.learn(7, Persisted::default());
        c.next_interval();
        c.learn(8, Persisted::default());
        assert_eq!(c.known_len(), 2);
        c.forget(7);
        c.forget(8);
        assert!(!c.knows(7) && !c.knows(8));
        c.learn(9, Persisted::default());
        c.forget_known();
        assert_eq!(c.known_len(), 0);
    }
}
