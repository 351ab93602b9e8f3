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
    let (n, took) = docvault_bench::run_for(
        threads,
        secs,
        7,
        |_| (),
        |_, rng| {
            let _ = store.get(1 + rng.below(max) as i64);
        },
    );
    println!(
        "{n} gets on {threads} threads, {:.0} per s",
        n as f64 / took
    );
    store.close().unwrap();
}
