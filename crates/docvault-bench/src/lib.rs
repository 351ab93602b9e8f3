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
pub use workloads::{raw_connection, raw_get, raw_get_with_access, raw_list, run};

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
    /// Documents in the generated store (ignored with an existing `db`
    /// that holds live documents; the report then says so in a note).
    pub num_docs: usize,
    /// Thread counts for the concurrent workloads.
    pub threads: Vec<usize>,
    /// How long each workload runs.
    pub duration: Duration,
    /// An existing store to measure instead of a generated one. The bench
    /// writes to it: the create, update and mixed_90_10 workloads add and
    /// change documents there. The workloads read and change its live
    /// documents, whatever their ids.
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
    /// Notes about the run, e.g. that `num_docs` was ignored because the
    /// store already held documents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Resident memory the whole run may peak at beyond the read cache's
/// capacity: the peak RSS target is the capacity plus this.
pub const RSS_HEADROOM_BYTES: u64 = 64 * 1024 * 1024;
/// The disk target: database plus WAL at most this many times the raw
/// content.
pub const DISK_OVER_CONTENT_TARGET: f64 = 4.0;

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
    /// Something the user should know about the run (also in
    /// [`Report::notes`]).
    fn note(&mut self, _note: &str) {}
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

/// Most malloc arenas glibc keeps in a process that calls
/// [`limit_malloc_arenas`].
pub const MALLOC_ARENAS: i32 = 4;

/// Caps glibc's malloc at [`MALLOC_ARENAS`] arenas (Linux with glibc;
/// nothing elsewhere, and nothing when `MALLOC_ARENA_MAX` is set, which
/// glibc reads itself). SQLite allocates through malloc, and glibc gives
/// threads that allocate at once arenas of their own (up to eight per
/// core), each keeping what was freed in it. Since writes run on their
/// callers' threads (session 10), the writer's memory spreads over more
/// arenas: two-thread `mixed_90_10` peaked at 121-129 MiB in three compare
/// runs, once over the bound of cache + 64 MiB. With 4 arenas, the whole
/// runs peaked at 117.7 and 121.2 MiB (two runs; with 2, 118.9), with
/// 8-thread uncached gets 0.95x as fast and creates, imports and lists
/// within noise. Like [`no_transparent_huge_pages`], this is the
/// process's choice: the library leaves it alone.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a glibc tunable; it takes no pointers.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        }
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
    /// The first result named `name` (at any thread count).
    pub fn result(&self, name: &str) -> Option<&BenchResult> {
        self.results.iter().find(|r| r.name == name)
    }

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
        // Cold reads against warm ones, beside the ratios (from the
        // results, so also for a report read back from its JSON).
        let one_thread = |name: &str| {
            self.results
                .iter()
                .find(|r| r.name == name && r.threads == 1)
                .map(|r| r.ops_per_sec)
        };
        if let (Some(cold), Some(warm)) = (one_thread("get_cold"), one_thread("get_cached")) {
            out.push_str(&format!(
                "{:<52} {:>2} threads: {:>8.3}\n",
                "get_cold / get_cached (cold cache / warm cache)",
                1,
                (cold / warm * 1000.0).floor() / 1000.0
            ));
        }
        // The targets below are upper bounds: their figures are rounded
        // up, so that a printed figure agrees with the verdict beside it.
        let rss_mib = (self.peak_rss_bytes as f64 / 1048576.0 * 10.0).ceil() / 10.0;
        let disk_verdict = if self.disk_over_content <= DISK_OVER_CONTENT_TARGET {
            "met"
        } else {
            "NOT met"
        };
        out.push_str(&format!(
            "\ndocuments {}   open {:.1} ms   peak RSS {:.1} MiB (cache capacity {:.0} MiB)\n\
             disk {:.1} MiB = {:.0} bytes/document = {:.2}x the raw content  \
             (target ≤ {DISK_OVER_CONTENT_TARGET}x: {disk_verdict})\n",
            self.num_docs,
            self.open_ms,
            rss_mib,
            self.cache_capacity_bytes as f64 / 1048576.0,
            self.disk_bytes as f64 / 1048576.0,
            self.disk_bytes_per_doc,
            (self.disk_over_content * 100.0).ceil() / 100.0,
        ));
        let rss_target = self.cache_capacity_bytes + RSS_HEADROOM_BYTES;
        let rss_verdict = match self.peak_rss_bytes {
            0 => "not measured on this system",
            b if b <= rss_target => "met",
            _ => "NOT met",
        };
        out.push_str(&format!(
            "peak RSS {:.1} MiB against the cache capacity + {:.0} MiB  (target ≤ {:.0} MiB: {rss_verdict})\n",
            rss_mib,
            RSS_HEADROOM_BYTES as f64 / 1048576.0,
            rss_target as f64 / 1048576.0,
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
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, threads: usize, ops_per_sec: f64) -> BenchResult {
        BenchResult {
            name: name.into(),
            threads,
            ops_per_sec,
            p50_us: 1.0,
            p95_us: 2.0,
            p99_us: 3.0,
            ops: 100,
            peak_rss_mib: 10.0,
        }
    }

    fn report() -> Report {
        Report {
            num_docs: 1000,
            results: vec![
                result("get_cached", 1, 400_000.0),
                result("get_cached", 2, 700_000.0),
                result("get_cold", 1, 100_000.0),
            ],
            ratios: Vec::new(),
            peak_rss_bytes: 100 << 20,
            peak_rss_encrypted_bytes: None,
            cache_capacity_bytes: 64 << 20,
            disk_bytes: 8 << 20,
            disk_bytes_per_doc: 8388.608,
            disk_over_content: 3.2,
            open_ms: 1.0,
            open_encrypted_ms: None,
            verdict: "VERDICT: test".into(),
            notes: Vec::new(),
        }
    }

    fn line_with<'a>(table: &'a str, start: &str) -> &'a str {
        table
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?} in\n{table}"))
    }

    /// Peak RSS is held against the cache capacity + 64 MiB, disk against
    /// 4x the raw content, each with a verdict in the style of the ratios'.
    #[test]
    fn the_table_gives_memory_and_disk_verdicts() {
        let mut r = report();
        let t = r.to_table();
        assert!(
            line_with(&t, "disk 8.0 MiB").ends_with("= 3.20x the raw content  (target ≤ 4x: met)"),
            "{t}"
        );
        assert_eq!(
            line_with(&t, "peak RSS 100.0 MiB"),
            "peak RSS 100.0 MiB against the cache capacity + 64 MiB  (target ≤ 128 MiB: met)"
        );

        r.peak_rss_bytes = (128 << 20) + 1;
        r.disk_over_content = 4.001;
        let t = r.to_table();
        // Rounded up, so the figure never reads as within a missed target.
        assert!(
            line_with(&t, "disk ").ends_with("= 4.01x the raw content  (target ≤ 4x: NOT met)"),
            "{t}"
        );
        assert_eq!(
            line_with(&t, "peak RSS 128.1 MiB"),
            "peak RSS 128.1 MiB against the cache capacity + 64 MiB  (target ≤ 128 MiB: NOT met)"
        );

        // The target follows the capacity the bench's store used.
        r.cache_capacity_bytes = 256 << 20;
        let t = r.to_table();
        assert!(
            line_with(&t, "peak RSS 128.1 MiB").ends_with("(target ≤ 320 MiB: met)"),
            "{t}"
        );

        r.peak_rss_bytes = 0;
        let t = r.to_table();
        assert!(
            line_with(&t, "peak RSS 0.0 MiB")
                .ends_with("(target ≤ 320 MiB: not measured on this system)"),
            "{t}"
        );
    }

    /// Cold reads against cached ones at one thread, when both ran there.
    #[test]
    fn the_table_sets_cold_reads_against_warm_ones() {
        let mut r = report();
        let t = r.to_table();
        let line = line_with(&t, "get_cold / get_cached (cold cache / warm cache)");
        assert!(line.ends_with(" 1 threads:    0.250"), "{line}");
        // get_cached at 2 threads is not set against get_cold at 1.
        r.results
            .retain(|x| !(x.name == "get_cached" && x.threads == 1));
        assert!(!r.to_table().contains("get_cold / get_cached"));
    }

    /// Notes are printed, and a report without any writes no `notes` key.
    #[test]
    fn notes_are_printed_and_optional_in_json() {
        let mut r = report();
        let json = serde_json::to_value(&r).unwrap();
        assert!(json.get("notes").is_none(), "{json}");
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
        r.notes.push("--num-docs 5 is ignored".into());
        assert!(r
            .to_table()
            .contains("\nnote: --num-docs 5 is ignored\nVERDICT: test\n"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["notes"][0], "--num-docs 5 is ignored");
    }
}
