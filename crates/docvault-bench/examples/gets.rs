//! Profiling aid: uncached gets (cache off) of uniformly random ids on one
//! thread for SECS seconds. `gets DB [SECS]` on an existing store.
// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: gets DB [SECS]");
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let store = docvault::Store::open(
        &db,
        docvault::Config {
            cache_capacity_bytes: 0,
            ..Default::default()
        },
    )
    .unwrap();
    let max = store.stats().unwrap().documents as u64;
    let mut rng = docvault_bench::corpus::Rng::new(7);
    let t = std::time::Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs_f64() < secs {
        for _ in 0..1000 {
            let _ = store.get(1 + rng.below(max) as i64);
            n += 1;
        }
    }
    println!(
        "{n} gets, {:.0} per s",
        n as f64 / t.elapsed().as_secs_f64()
    );
    store.close().unwrap();
}
