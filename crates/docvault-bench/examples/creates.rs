//! Profiling aid: one-document creates for SECS seconds on THREADS threads
//! (default 1). `creates DB [SECS] [THREADS]` (DB: an existing store, e.g.
//! one `docvault bench --db` filled; it is written to).
// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicU64, Ordering};

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: creates DB [SECS] [THREADS]");
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let threads: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let store = docvault::Store::open(&db, docvault::Config::default()).unwrap();
    let c = docvault_bench::corpus::Corpus::new();
    let next = AtomicU64::new(10_000_000 + std::process::id() as u64 * 100_000);
    let t = std::time::Instant::now();
    let n: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0u64;
                    while t.elapsed().as_secs_f64() < secs {
                        store
                            .create(c.document(next.fetch_add(1, Ordering::Relaxed)))
                            .unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let m = store.metrics();
    let wal = std::fs::metadata(format!("{db}-wal")).map_or(0, |m| m.len());
    eprintln!(
        "{} write jobs in {} commits; checkpoints: {} background, {} inline; WAL {} MiB",
        m.write_jobs,
        m.commits,
        m.checkpoints_background,
        m.checkpoints_inline,
        wal >> 20
    );
    store.close().unwrap();
    println!("{n} creates on {threads} threads, {rate:.0} per s");
}
