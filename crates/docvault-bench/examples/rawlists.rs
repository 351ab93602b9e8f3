//! Profiling aid: the bench's bare list baseline (`list_100_raw_sqlite`)
//! on its own, to run beside `examples/lists`: the first page of 100
//! documents and the total, by bare statements, on one thread for SECS
//! seconds. `rawlists DB [SECS]` on an existing store.
// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: rawlists DB [SECS]");
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let mut conn = docvault_bench::raw_connection(db.as_ref());
    let t = std::time::Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs_f64() < secs {
        docvault_bench::raw_list(&mut conn).unwrap();
        n += 1;
    }
    println!(
        "{n} bare lists, {:.0} per s",
        n as f64 / t.elapsed().as_secs_f64()
    );
}
