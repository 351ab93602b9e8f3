//! Profiling aid: `create_many` in batches of 1,000 into a new store.
//! `imports N [DB]` (default 30,000 documents, into a temporary store;
//! with `DB`, into that file, which is kept: a store to profile on).
// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30_000);
    let dir = tempfile::tempdir().unwrap();
    let path = std::env::args()
        .nth(2)
        .map_or_else(|| dir.path().join("i.db"), std::path::PathBuf::from);
    let store = docvault::Store::open(path, docvault::Config::default()).unwrap();
    let c = docvault_bench::corpus::Corpus::new();
    // Only the store's work is timed, as in `docvault bench`.
    let mut took = std::time::Duration::ZERO;
    let mut i = 0;
    while i < n {
        let end = (i + 1000).min(n);
        let docs = (i..end).map(|k| c.document(k)).collect();
        let t = std::time::Instant::now();
        store.create_many(docs).unwrap();
        took += t.elapsed();
        i = end;
    }
    println!("{n} documents, {:.0} per s", n as f64 / took.as_secs_f64());
    store.close().unwrap();
}
