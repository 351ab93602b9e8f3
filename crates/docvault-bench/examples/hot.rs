//! Profiling aid: gets on N threads over 10,000 documents, cached or not.
//! `hot THREADS [nocache]`
// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2);
    let cache = std::env::args().nth(2).is_none_or(|a| a != "nocache");
    let dir = tempfile::tempdir().unwrap();
    let config = docvault::Config {
        cache_capacity_bytes: if cache { 64 << 20 } else { 0 },
        access_tracking: std::env::var_os("NO_ACCESS").is_none(),
        ..Default::default()
    };
    let store = docvault::Store::open(dir.path().join("h.db"), config).unwrap();
    let c = docvault_bench::corpus::Corpus::new();
    for chunk in 0..10 {
        store
            .create_many(
                (chunk * 1000..(chunk + 1) * 1000)
                    .map(|i| c.document(i))
                    .collect(),
            )
            .unwrap();
    }
    for id in 1..=10_000 {
        store.get(id).unwrap();
    }
    let (total, took) = docvault_bench::run_for(
        threads as u64,
        3.0,
        0,
        |_| (),
        |_, rng| {
            store.get(1 + rng.below(10_000) as i64).unwrap();
        },
    );
    println!(
        "{threads} threads, cache {cache}: {:.0} ops/s",
        total as f64 / took
    );
    let m = store.metrics();
    println!(
        "reader waits {}, overflow connections {}",
        m.reader_waits, m.reader_overflows
    );
}
