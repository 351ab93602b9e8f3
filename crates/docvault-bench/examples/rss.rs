//! Profiling aid: where resident memory goes, stage by stage. `rss DB
//! [CACHE_MIB]` on an existing store (it writes: use a copy). After each
//! stage it prints RssAnon/RssFile, the peak, the bytes glibc's malloc holds
//! and uses (SQLite allocates there), and what mimalloc has committed (the
//! Rust side, as in the CLI). Environment: `DV_FLUSH_MS` (access flush
//! interval, default 1000), `DV_ACCESS=0` (no access tracking),
//! `DV_READERS` (pool size, default 2), `DV_THP=1` (keep transparent huge
//! pages, which the CLI turns off).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc() -> String {
    // SAFETY: mallinfo2 only reads glibc's allocator statistics.
    let m = unsafe { libc::mallinfo2() };
    format!(
        "glibc holds {} KiB, uses {} KiB",
        (m.arena + m.hblkhd) >> 10,
        (m.uordblks + m.hblkhd) >> 10
    )
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn glibc() -> String {
    String::new()
}

fn mimalloc_commit_kib() -> usize {
    let mut v = [0usize; 8];
    let [a, b, c, d, e, f, g, h] = &mut v;
    // SAFETY: every pointer is to a distinct, writable usize.
    unsafe { libmimalloc_sys::mi_process_info(a, b, c, d, e, f, g, h) };
    v[5] >> 10
}

fn report(stage: &str) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_string()
    };
    println!(
        "{stage:<14} RssAnon {} KiB  RssFile {} KiB  peak {} KiB  {}  mimalloc committed {} KiB",
        field("RssAnon:"),
        field("RssFile:"),
        field("VmHWM:"),
        glibc(),
        mimalloc_commit_kib()
    );
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if env("DV_THP", 0) == 0 {
        docvault_bench::no_transparent_huge_pages();
    }
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: rss DB [CACHE_MIB]");
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    report("start");
    let store = docvault::Store::open(
        &db,
        docvault::Config {
            cache_capacity_bytes: mib << 20,
            access_tracking: env("DV_ACCESS", 1) != 0,
            readers: env("DV_READERS", 2),
            access_flush_interval: Duration::from_millis(env("DV_FLUSH_MS", 1000)),
            ..Default::default()
        },
    )
    .unwrap();
    report("open");
    let max = store.stats().unwrap().documents as u64;
    #[derive(Clone, Copy, PartialEq)]
    enum Op {
        Get,
        List,
        Mixed,
    }
    let run = |threads: u64, secs: f64, op: Op| {
        let t = Instant::now();
        std::thread::scope(|scope| {
            for k in 0..threads {
                let store = &store;
                scope.spawn(move || {
                    let mut rng = docvault_bench::corpus::Rng::new(7 + k);
                    while t.elapsed().as_secs_f64() < secs {
                        let id = 1 + rng.below(max) as i64;
                        if op == Op::List {
                            let q = docvault::ListQuery {
                                limit: 100,
                                ..Default::default()
                            };
                            let _ = store.list(&q);
                        } else if op == Op::Mixed && rng.below(10) == 0 {
                            let patch = docvault::DocumentPatch {
                                title: Some(format!("t{}", rng.below(1000))),
                                ..Default::default()
                            };
                            let _ = store.update(id, patch);
                        } else {
                            let _ = store.get(id);
                        }
                    }
                });
            }
        });
    };
    run(1, 3.0, Op::Get);
    report("get 1 thread");
    run(1, 1.0, Op::List);
    report("list 1 thread");
    run(8, 2.0, Op::List);
    report("list 8 threads");
    run(8, 2.0, Op::Get);
    report("get 8 threads");
    // Two threads: where `docvault bench` peaks (`mixed_90_10`).
    run(2, 3.0, Op::Mixed);
    report("mixed 2");
    run(8, 3.0, Op::Mixed);
    report("mixed 8");
    store.close().unwrap();
    report("closed");
}
