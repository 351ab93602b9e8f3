//! Profiling aid: `list` (limit 100, no content) on one thread for SECS
//! seconds. `lists DB [SECS]` on an existing store.
// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: lists DB [SECS]");
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let store = docvault::Store::open(&db, docvault::Config::default()).unwrap();
    let q = docvault::ListQuery {
        limit: 100,
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs_f64() < secs {
        store.list(&q).unwrap();
        n += 1;
    }
    println!(
        "{n} lists, {:.0} per s",
        n as f64 / t.elapsed().as_secs_f64()
    );
    store.close().unwrap();
}
