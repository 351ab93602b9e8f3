#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().unwrap();
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3.0);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let access = args.next().map_or(true, |a| a != "noaccess");
    let readers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let store = docvault::Store::open(
        &db,
        docvault::Config {
            cache_capacity_bytes: 0,
            access_tracking: access,
            readers,
            ..Default::default()
        },
    )
    .unwrap();
    let max = store.stats().unwrap().documents as u64;
    let t = std::time::Instant::now();
    let total = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|sc| {
        for k in 0..threads {
            let (store, total) = (&store, &total);
            sc.spawn(move || {
                let mut rng = docvault_bench::corpus::Rng::new(7 + k as u64);
                let mut n = 0;
                while t.elapsed().as_secs_f64() < secs {
                    for _ in 0..1000 {
                        let _ = store.get(1 + rng.below(max) as i64);
                        n += 1;
                    }
                }
                total.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            });
        }
    });
    let n = total.into_inner();
    println!(
        "threads {threads} access {access} readers {readers}: {:.0} per s",
        n as f64 / t.elapsed().as_secs_f64()
    );
    store.close().unwrap();
}
