//! The docvault benchmark suite, behind `docvault bench`.
//!
//! It builds (or opens) a store, runs each workload for a fixed time on the
//! requested thread counts, and reports throughput and latency. Every figure
//! that matters is also reported as a ratio against a baseline measured in
//! the same run (the machine is shared and noisy): uncached reads against a
//! bare prepared statement on the same file, grouped against ungrouped
//! commits.
#![warn(missing_docs)]

pub mod corpus;
mod encryption;
pub mod floor;
mod runner;
mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use runner::Measurement;
pub use workloads::{raw_connection, raw_get, raw_list, run};

/// The original's target for get-by-id, queries per second.
pub const TARGET_QPS: f64 = 200_000.0;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The optimized paths only.
    Optimized,
    /// Also the cache-off paths and the raw SQLite baseline.
    Compare,
}

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// What to run.
    pub mode: Mode,
    /// Documents in the generated store (ignored with an existing `db`).
    pub num_docs: usize,
    /// Thread counts for the concurrent workloads.
    pub threads: Vec<usize>,
    /// How long each workload runs.
    pub duration: Duration,
    /// An existing store to measure instead of a generated one. The bench
    /// writes to it (create, update, mixed workloads).
    pub db: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Compare,
            num_docs: 100_000,
            threads: vec![1, 2, 8],
            duration: Duration::from_secs(1),
            db: None,
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// Workload name, e.g. `get_cached`.
    pub name: String,
    /// Threads that ran it.
    pub threads: usize,
    /// Operations per second, all threads together.
    pub ops_per_sec: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 95th percentile latency, µs.
    pub p95_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
    /// Operations performed.
    pub ops: u64,
    /// Peak resident memory of the process while this workload ran, MiB.
    #[serde(default)]
    pub peak_rss_mib: f64,
}

/// The whole report, as written by `--json FILE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Documents in the store.
    pub num_docs: usize,
    /// Every workload's result.
    pub results: Vec<BenchResult>,
    /// Ratios against the baselines of this run.
    pub ratios: Vec<Ratio>,
    /// Peak resident memory of the process over the plaintext workloads,
    /// bytes.
    pub peak_rss_bytes: u64,
    /// Peak resident memory over the encryption section alone, bytes
    /// (`--mode compare`; each Argon2id derivation allocates its 64 MiB).
    #[serde(default)]
    pub peak_rss_encrypted_bytes: Option<u64>,
    /// Read cache capacity, bytes.
    pub cache_capacity_bytes: u64,
    /// Database plus WAL, bytes.
    pub disk_bytes: u64,
    /// Disk bytes per document.
    pub disk_bytes_per_doc: f64,
    /// Disk bytes over raw content bytes.
    pub disk_over_content: f64,
    /// Time to open the store, ms.
    pub open_ms: f64,
    /// Time to open an encrypted copy of the store with its passphrase
    /// (Argon2id key derivation included), ms; `--mode compare` only.
    #[serde(default)]
    pub open_encrypted_ms: Option<f64>,
    /// The verdict against the 200,000 queries/s target.
    pub verdict: String,
}

/// A figure relative to a baseline measured in the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// What is compared, e.g. `get_uncached / get_raw_sqlite`.
    pub name: String,
    /// Threads of both sides.
    pub threads: usize,
    /// The quotient.
    pub ratio: f64,
    /// The target the issue set, if any (ratio must be at least this).
    pub target: Option<f64>,
}

/// Progress of the setup, for a progress bar.
pub trait Progress {
    /// A phase starts with `total` steps.
    fn start(&mut self, phase: &str, total: u64);
    /// `n` more steps are done.
    fn advance(&mut self, n: u64);
    /// The phase is over.
    fn finish(&mut self);
    /// A workload starts.
    fn workload(&mut self, _name: &str, _threads: usize) {}
}

/// Progress that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: &str, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// Turns transparent huge pages off for this process (Linux; nothing
/// elsewhere). The `docvault` binary calls it first thing, and so does
/// `examples/rss`, so that it matches the binary.
///
/// mimalloc (the binary's allocator) asks the kernel for huge pages on
/// the memory it reserves (`MADV_HUGEPAGE`), and on a system whose THP
/// mode is `madvise` (the common default) the kernel then backs each 2 MiB
/// region it touches with a whole huge page, however little of it is in
/// use. Under the read cache's churn that held 8–33 MiB more resident
/// memory: whole-run peaks of `docvault bench --mode optimized` were
/// 145–156 MiB with huge pages and 124 MiB without, in alternating runs,
/// with throughput within this machine's noise (ARCHITECTURE.md,
/// connections and pragmas). The flag is the
/// process's (`PR_SET_THP_DISABLE`, inherited by children); the library
/// never sets it, since that is its host's decision.
pub fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process's
    // memory map; it takes no pointers.
    unsafe {
        // The kernel reads each argument as an unsigned long. A kernel
        // without the option refuses it; the process then runs as before.
        let one: libc::c_ulong = 1;
        let zero: libc::c_ulong = 0;
        let _ = libc::prctl(libc::PR_SET_THP_DISABLE, one, zero, zero, zero);
    }
}

/// Hands the free memory glibc's malloc holds back to the OS
/// (`malloc_trim`; Linux with glibc, nothing elsewhere). SQLite allocates
/// there, one arena per thread that used it, so without this a workload's
/// peak also holds what the threads of earlier workloads freed.
/// Measurement hygiene between workloads, like `mi_collect` for mimalloc;
/// a store does not need it.
pub fn trim_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Starts a new peak for [`peak_rss_bytes`] (Linux; nothing elsewhere).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size of this process, bytes (Linux; 0 elsewhere).
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

impl Report {
    /// The report as an aligned text table.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "{:<32} {:>7} {:>14} {:>10} {:>10} {:>10} {:>9}\n",
            "workload", "threads", "ops/s", "p50 µs", "p95 µs", "p99 µs", "peak MiB"
        );
        for r in &self.results {
            out.push_str(&format!(
                "{:<32} {:>7} {:>14} {:>10.1} {:>10.1} {:>10.1} {:>9.0}\n",
                r.name,
                r.threads,
                group_thousands(r.ops_per_sec),
                r.p50_us,
                r.p95_us,
                r.p99_us,
                r.peak_rss_mib
            ));
        }
        out.push('\n');
        for r in &self.ratios {
            let target = match r.target {
                Some(t) if r.ratio >= t => format!("  (target ≥ {t}: met)"),
                Some(t) => format!("  (target ≥ {t}: NOT met)"),
                None => String::new(),
            };
            // Rounded down to three decimals: rounded to nearest, 0.698 had
            // printed as "0.70 (target ≥ 0.7: NOT met)".
            out.push_str(&format!(
                "{:<52} {:>2} threads: {:>8.3}{}\n",
                r.name,
                r.threads,
                (r.ratio * 1000.0).floor() / 1000.0,
                target
            ));
        }
        out.push_str(&format!(
            "\ndocuments {}   open {:.1} ms   peak RSS {:.1} MiB (cache capacity {:.0} MiB)\n\
             disk {:.1} MiB = {:.0} bytes/document = {:.2}x the raw content\n",
            self.num_docs,
            self.open_ms,
            self.peak_rss_bytes as f64 / 1048576.0,
            self.cache_capacity_bytes as f64 / 1048576.0,
            self.disk_bytes as f64 / 1048576.0,
            self.disk_bytes_per_doc,
            self.disk_over_content,
        ));
        if let Some(ms) = self.open_encrypted_ms {
            out.push_str(&format!(
                "open of the encrypted copy with its passphrase (Argon2id included) {ms:.1} ms\n"
            ));
        }
        if let Some(b) = self.peak_rss_encrypted_bytes {
            out.push_str(&format!(
                "peak RSS of the encryption section {:.1} MiB (Argon2id takes 64 MiB per derivation)\n",
                b as f64 / 1048576.0
            ));
        }
        out.push_str(&self.verdict);
        out.push('\n');
        out
    }
}

fn group_thousands(x: f64) -> String {
    let s = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// For the profiling examples: runs `op` on `threads` threads until `secs`
/// seconds have passed, thread `k` with the state `init(k)` and a generator
/// seeded `seed + k`. Returns the operations done, all threads together,
/// and the seconds the run took.
pub fn run_for<S>(
    threads: u64,
    secs: f64,
    seed: u64,
    init: impl Fn(u64) -> S + Sync,
    op: impl Fn(&mut S, &mut corpus::Rng) + Sync,
) -> (u64, f64) {
    let t = std::time::Instant::now();
    let n = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|k| {
                let (init, op) = (&init, &op);
                scope.spawn(move || {
                    let mut state = init(k);
                    let mut rng = corpus::Rng::new(seed + k);
                    let mut n = 0u64;
                    while t.elapsed().as_secs_f64() < secs {
                        for _ in 0..1000 {
                            op(&mut state, &mut rng);
                        }
                        n += 1000;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    (n, t.elapsed().as_secs_f64())
}
