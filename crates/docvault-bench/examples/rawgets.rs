//! Profiling aid: the bench's bare baseline (`get_raw_sqlite`) on its own,
//! to profile beside `examples/gets`: uniformly random ids read by one
//! prepared statement per thread, no docvault code. `rawgets DB [SECS]
//! [THREADS]` on an existing store that is not open elsewhere. With
//! `DV_ACCESS=1`, the row with its read statistics (`get_raw_sqlite_with_access`).
// The CLI's allocator, so that profiles match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: rawgets DB [SECS] [THREADS]");
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let threads: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let access = std::env::var("DV_ACCESS").is_ok_and(|v| v == "1");
    let max: i64 = docvault_bench::raw_connection(db.as_ref())
        .query_row("SELECT max(id) FROM documents", [], |r| r.get(0))
        .unwrap();
    let (n, took) = docvault_bench::run_for(
        threads,
        secs,
        7,
        |_| {
            let c = docvault_bench::raw_connection(db.as_ref());
            // As in the bench: without QPSG, STAT4 re-prepares the join on
            // every bind.
            c.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )
            .unwrap();
            c
        },
        |conn, rng| {
            let id = 1 + rng.below(max as u64) as i64;
            if access {
                docvault_bench::raw_get_with_access(conn, id).unwrap()
            } else {
                docvault_bench::raw_get(conn, id).unwrap()
            }
        },
    );
    println!(
        "{n} bare gets on {threads} threads, {:.0} per s",
        n as f64 / took
    );
}
