//! Profiling aid: uncached gets (cache off) of uniformly random ids on
//! THREADS threads (default 1) for SECS seconds. `gets DB [SECS] [THREADS]`
//! on an existing store; `DV_READERS` sets the pool size (default: cores),
//! `DV_ACCESS=0` turns access tracking off.
// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: gets DB [SECS] [THREADS]");
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let threads: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let store = docvault::Store::open(
        &db,
        docvault::Config {
            cache_capacity_bytes: 0,
            readers: std::env::var("DV_READERS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(docvault::Config::default().readers),
            access_tracking: std::env::var("DV_ACCESS").map_or(true, |v| v != "0"),
            ..Default::default()
        },
    )
    .unwrap();
    let max = store.stats().unwrap().documents as u64;
    let t = std::time::Instant::now();
    let n: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|k| {
                let store = &store;
                scope.spawn(move || {
                    let mut rng = docvault_bench::corpus::Rng::new(7 + k);
                    let mut n = 0u64;
                    while t.elapsed().as_secs_f64() < secs {
                        for _ in 0..1000 {
                            let _ = store.get(1 + rng.below(max) as i64);
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    println!(
        "{n} gets on {threads} threads, {:.0} per s",
        n as f64 / t.elapsed().as_secs_f64()
    );
    store.close().unwrap();
}
