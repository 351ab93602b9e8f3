//! Profiling aid: the bench's `get_uncached` / `get_raw_sqlite` pair in
//! one process, as `docvault bench` runs it (the store open with its cache
//! off, bare statements on the same file, alternating slices of 0.1 s).
//! `pairs DB [SECS] [THREADS]` on an existing store (it is read, and its
//! read counts are written). `DV_SIDE=store` or `DV_SIDE=raw` runs one
//! side only, still with the store open, for profiles of one side.
// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: pairs DB [SECS] [THREADS]");
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4.0);
    let threads: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let side = std::env::var("DV_SIDE").unwrap_or_default();
    let store = docvault::Store::open(
        &db,
        docvault::Config {
            cache_capacity_bytes: 0,
            ..Default::default()
        },
    )
    .unwrap();
    store.optimize().unwrap();
    let max = store.stats().unwrap().documents as u64;
    let path = std::path::Path::new(&db);
    {
        let mut warm = docvault_bench::raw_connection(path);
        for id in 1..=max as i64 {
            let _ = docvault_bench::raw_get(&mut warm, id);
        }
    }
    let slices = (secs / 0.2).ceil() as u64;
    let (mut a, mut b) = ((0, 0.0), (0, 0.0));
    for i in 0..slices {
        if side != "raw" {
            let (n, t) = docvault_bench::run_for(
                threads,
                0.1,
                i * 1000,
                |_| (),
                |_, rng| {
                    let _ = store.get(1 + rng.below(max) as i64);
                },
            );
            a = (a.0 + n, a.1 + t);
        }
        if side != "store" {
            let (n, t) = docvault_bench::run_for(
                threads,
                0.1,
                i * 1000,
                |_| docvault_bench::raw_connection(path),
                |conn, rng| {
                    let _ = docvault_bench::raw_get(conn, 1 + rng.below(max) as i64);
                },
            );
            b = (b.0 + n, b.1 + t);
        }
    }
    let (ra, rb) = (a.0 as f64 / a.1.max(1e-9), b.0 as f64 / b.1.max(1e-9));
    println!(
        "{} ops; store {ra:.0} per s, bare {rb:.0} per s, store / bare {:.3} ({threads} threads)",
        a.0 + b.0,
        ra / rb.max(1e-9)
    );
    let m = store.metrics();
    println!(
        "access figures in memory: {}, pending: {}; reader waits {}, overflows {}",
        m.access_figures_in_memory, m.pending_access_updates, m.reader_waits, m.reader_overflows
    );
}
