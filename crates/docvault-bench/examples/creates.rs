//! Profiling aid: one-document creates on one thread for SECS seconds.
//! `creates DB SECS` (DB: an existing store, e.g. one `docvault bench --db`
//! filled; it is written to).
// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: creates DB [SECS]");
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let store = docvault::Store::open(&db, docvault::Config::default()).unwrap();
    let c = docvault_bench::corpus::Corpus::new();
    let mut next = 10_000_000 + std::process::id() as u64 * 100_000;
    let t = std::time::Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs_f64() < secs {
        store.create(c.document(next)).unwrap();
        next += 1;
        n += 1;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let m = store.metrics();
    let wal = std::fs::metadata(format!("{db}-wal")).map_or(0, |m| m.len());
    eprintln!(
        "checkpoints: {} background, {} inline; WAL {} MiB",
        m.checkpoints_background,
        m.checkpoints_inline,
        wal >> 20
    );
    store.close().unwrap();
    println!("{n} creates, {rate:.0} per s");
}
