//! Profiling aid: one-document content updates of random documents on one
//! thread for SECS seconds. `updates DB [SECS]` (DB: an existing store; it
//! is written to).
// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: updates DB [SECS]");
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let store = docvault::Store::open(&db, docvault::Config::default()).unwrap();
    let max = store.stats().unwrap().documents as u64;
    let mut rng = docvault_bench::corpus::Rng::new(9);
    let t = std::time::Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs_f64() < secs {
        let id = 1 + rng.below(max) as i64;
        // Ids of hard-deleted documents fail; only the rate matters here.
        let _ = store.update(
            id,
            docvault::DocumentPatch {
                content: Some(format!("Updated body {}.\n", rng.next_u64())),
                ..Default::default()
            },
        );
        n += 1;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    store.close().unwrap();
    println!("{n} updates, {rate:.0} per s");
}
