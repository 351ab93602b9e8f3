//! Operation counts and latency histograms.
//!
//! Counters are relaxed atomics. Latencies go into log-linear histograms
//! (4 buckets per power of two, 1 µs to ~1 h). Cached reads are the one path
//! where two clock reads and a shared atomic would cost more than the read
//! itself, so their latency is sampled (1 read in [`GET_SAMPLE`]) while their
//! count stays exact (kept in the cache shards). Uncached reads sample
//! theirs too, 1 in [`MISS_SAMPLE`]: the clock reads and the histogram's
//! shared lines were 2.5% of one (perf); their counts stay exact.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One cached read in this many has its latency measured (counted per
/// thread, over all its gets).
pub const GET_SAMPLE: u32 = 64;

/// One uncached read by id or uuid in this many has its latency measured
/// (counted per thread, over all its gets).
pub const MISS_SAMPLE: u32 = 8;

const BUCKETS: usize = 4 * 32;

/// A latency histogram.
pub(crate) struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }
}

fn bucket_of(ns: u64) -> usize {
    let ns = ns.max(1);
    let log = 63 - ns.leading_zeros() as usize;
    let sub = if log >= 2 {
        ((ns >> (log - 2)) & 3) as usize
    } else {
        0
    };
    (log * 4 + sub).min(BUCKETS - 1)
}

fn bucket_upper_ns(b: usize) -> u64 {
    let log = b / 4;
    let sub = (b % 4) as u64;
    if log < 2 {
        return 1u64 << (log + 1);
    }
    (1u64 << log) + ((sub + 1) << (log - 2))
}

impl Histogram {
    pub(crate) fn record(&self, d: Duration) {
        let ns = d.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.buckets[bucket_of(ns)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    fn quantile_us(&self, counts: &[u64], total: u64, q: f64) -> f64 {
        if total == 0 {
            return 0.0;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, &c) in counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return bucket_upper_ns(b) as f64 / 1000.0;
            }
        }
        0.0
    }

    pub(crate) fn snapshot(&self) -> LatencySummary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let sum = self.sum_ns.load(Relaxed);
        LatencySummary {
            samples: total,
            mean_us: if total == 0 {
                0.0
            } else {
                sum as f64 / total as f64 / 1000.0
            },
            p50_us: self.quantile_us(&counts, total, 0.50),
            p95_us: self.quantile_us(&counts, total, 0.95),
            p99_us: self.quantile_us(&counts, total, 0.99),
        }
    }
}

/// Latency figures of one operation (upper bounds of histogram buckets,
/// within 25%).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Measurements taken.
    pub samples: u64,
    /// Mean, µs.
    pub mean_us: f64,
    /// Median, µs.
    pub p50_us: f64,
    /// 95th percentile, µs.
    pub p95_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
}

/// Count and latency of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OpMetrics {
    /// Calls that succeeded.
    pub count: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Latency (sampled for `get_hit`, 1 call in 64, and `get_miss`, 1 in 8).
    pub latency: LatencySummary,
}

#[derive(Default)]
pub(crate) struct Op {
    count: AtomicU64,
    errors: AtomicU64,
    latency: Histogram,
}

impl Op {
    pub(crate) fn done<T>(&self, started: Instant, r: &crate::Result<T>) {
        if r.is_ok() {
            self.count.fetch_add(1, Relaxed);
        } else {
            self.errors.fetch_add(1, Relaxed);
        }
        self.latency.record(started.elapsed());
    }

    /// As [`Op::done`], measuring the latency only if `started` is set.
    pub(crate) fn done_sampled<T>(&self, started: Option<Instant>, r: &crate::Result<T>) {
        match started {
            Some(t) => self.done(t, r),
            None if r.is_ok() => {
                self.count.fetch_add(1, Relaxed);
            }
            None => {
                self.errors.fetch_add(1, Relaxed);
            }
        }
    }

    pub(crate) fn snapshot(&self, count_override: Option<u64>) -> OpMetrics {
        OpMetrics {
            count: count_override.unwrap_or_else(|| self.count.load(Relaxed)),
            errors: self.errors.load(Relaxed),
            latency: self.latency.snapshot(),
        }
    }

    pub(crate) fn sample(&self, d: Duration) {
        self.latency.record(d);
    }
}

#[derive(Default)]
pub(crate) struct Metrics {
    pub get_hit: Op,
    pub get_miss: Op,
    pub get_many: Op,
    pub list: Op,
    pub search: Op,
    pub create: Op,
    pub create_many: Op,
    pub update: Op,
    pub delete: Op,
    pub undelete: Op,
    pub hard_delete: Op,
    pub restore: Op,
}

thread_local! {
    static TICK: Cell<u32> = const { Cell::new(0) };
}

/// Counts a get on this thread; the count decides which gets are timed
/// (see [`Tick::hit`] and [`Tick::miss`]).
pub(crate) fn tick() -> Tick {
    TICK.with(|t| {
        let n = t.get().wrapping_add(1);
        t.set(n);
        Tick(n)
    })
}

/// A get's place in its thread's sequence.
#[derive(Clone, Copy)]
pub(crate) struct Tick(u32);

impl Tick {
    /// Whether this get, if a cache hit, is timed: 1 in [`GET_SAMPLE`],
    /// starting with a thread's first get (often its slowest).
    pub(crate) fn hit(self) -> bool {
        self.0 % GET_SAMPLE == 1
    }

    /// Whether this get, if it misses, is timed: 1 in [`MISS_SAMPLE`],
    /// starting with a thread's first get.
    pub(crate) fn miss(self) -> bool {
        self.0 % MISS_SAMPLE == 1
    }
}

/// Everything the store measures, as returned by [`crate::Store::metrics`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// Reads by id or uuid served from the cache, each document of a
    /// `get_many` included (the cache's hits).
    pub get_hit: OpMetrics,
    /// Reads by id or uuid that went to the database, each document of a
    /// `get_many` included.
    pub get_miss: OpMetrics,
    /// Batch reads (`get_many` calls; their documents also count in
    /// `get_hit` or `get_miss`).
    pub get_many: OpMetrics,
    /// List calls.
    pub list: OpMetrics,
    /// Search calls.
    pub search: OpMetrics,
    /// One-document creates (`create`).
    pub create: OpMetrics,
    /// Batch creates and imports (`create_many` calls, each one transaction
    /// of any number of documents).
    #[serde(default)]
    pub create_many: OpMetrics,
    /// Updates.
    pub update: OpMetrics,
    /// Soft deletes.
    pub delete: OpMetrics,
    /// Undeletes.
    pub undelete: OpMetrics,
    /// Hard deletes.
    pub hard_delete: OpMetrics,
    /// Restores.
    pub restore: OpMetrics,
    /// The read cache.
    pub cache: crate::cache::CacheStats,
    /// Most reader connections the pool keeps open at once
    /// ([`crate::Config::readers`]).
    #[serde(default)]
    pub reader_pool_size: usize,
    /// Reader connections the pool has open, idle or in use (temporary
    /// extra connections, see `reader_overflows`, are not counted).
    #[serde(default)]
    pub open_readers: usize,
    /// Reader connections open and in use by a read (open minus idle).
    #[serde(default)]
    pub busy_readers: usize,
    /// Reader connections open and idle.
    pub idle_readers: usize,
    /// Reads that found every pooled reader busy and, after yielding their
    /// core a few times, slept until one was returned.
    pub reader_waits: u64,
    /// Temporary extra reader connections opened because a wait outlasted
    /// 50 ms (each costs a connection open and its own page cache).
    pub reader_overflows: u64,
    /// Group commits performed by the writer.
    pub commits: u64,
    /// Writes (jobs) those commits carried.
    pub write_jobs: u64,
    /// Groups of writes run a second time, each write in a savepoint of
    /// its own, because one of them failed (see ARCHITECTURE.md).
    #[serde(default)]
    pub write_group_reruns: u64,
    /// WAL checkpoints run by the checkpoint thread, off the write path.
    pub checkpoints_background: u64,
    /// WAL checkpoints a commit ran itself because the WAL outgrew the
    /// checkpoint thread (see ARCHITECTURE.md).
    pub checkpoints_inline: u64,
    /// Documents with access counts not yet written to disk.
    pub pending_access_updates: usize,
    /// Documents whose persisted access figures are kept in memory, so an
    /// uncached get by id reads their row alone (documents the cache does
    /// not hold, read in the last three flush intervals).
    #[serde(default)]
    pub access_figures_in_memory: usize,
}
