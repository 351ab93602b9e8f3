//! scratch
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().unwrap();
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let threads: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let max: i64 = 100_000;
    let t = std::time::Instant::now();
    let n: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|k| {
                let db = db.clone();
                scope.spawn(move || {
                    let c = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX).unwrap();
                    let mut rng = docvault_bench::corpus::Rng::new(7 + k);
                    let mut n = 0u64;
                    while t.elapsed().as_secs_f64() < secs {
                        for _ in 0..1000 {
                            let id = 1 + rng.below(max as u64) as i64;
                            let mut st = c.prepare_cached("SELECT id, uuid, title, content, metadata FROM documents WHERE id = ?1").unwrap();
                            let r: (i64, String, String, String, String) = st.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))).unwrap();
                            std::hint::black_box(r);
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
        "{n} raw gets on {threads} threads, {:.0} per s",
        n as f64 / t.elapsed().as_secs_f64()
    );
}
