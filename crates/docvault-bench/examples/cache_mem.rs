//! Checks the read cache's byte accounting against resident memory:
//! `cache_mem DB N` reads documents 1..=N of an existing store (e.g. one
//! filled by `docvault bench --db DB`) and prints counted bytes against the
//! growth of the process. Run it for two N and compare the differences:
//! the reader's page cache fills in both.
fn rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}
// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let db = std::env::args().nth(1).unwrap();
    let store = docvault::Store::open(
        &db,
        docvault::Config {
            access_tracking: false,
            ..Default::default()
        },
    )
    .unwrap();
    let n: i64 = std::env::args().nth(2).unwrap().parse().unwrap();
    let r0 = rss_kb();
    let st0 = store.metrics();
    for id in 1..=n {
        let _ = store.get(id);
    }
    let r1 = rss_kb();
    let st = store.metrics();
    println!(
        "cache entries {} bytes {} (before {}), rss delta {} KiB, rss/accounted {:.2}",
        st.cache.entries,
        st.cache.bytes,
        st0.cache.bytes,
        r1 - r0,
        (r1 - r0) as f64 * 1024.0 / st.cache.bytes as f64
    );
}
