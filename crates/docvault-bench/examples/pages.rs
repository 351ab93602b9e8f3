//! Profiling aid: which tables and indexes a one-document create writes.
//! `pages DB [N]` runs N creates (default 2,000) on DB (an existing store;
//! it is written to) while a connection opened before it holds a read snapshot, so
//! no checkpoint can restart the WAL; then it reads every frame the creates
//! appended and names the b-tree each page belongs to (`dbstat`).
use std::collections::HashMap;

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: pages DB [N]");
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let pin = rusqlite::Connection::open(&db).unwrap();
    pin.execute_batch("BEGIN").unwrap();
    let _: i64 = pin
        .query_row("SELECT count(*) FROM store_meta", [], |r| r.get(0))
        .unwrap();
    let store = docvault::Store::open(&db, docvault::Config::default()).unwrap();
    // What opening wrote is not counted.
    let wal_path = format!("{db}-wal");
    let start = frames(&wal_path).len();
    let c = docvault_bench::corpus::Corpus::new();
    let first = 20_000_000 + std::process::id() as u64 * 100_000;
    for k in first..first + n {
        store.create(c.document(k)).unwrap();
    }
    let all = frames(&wal_path);
    pin.execute_batch("COMMIT").unwrap();
    store.close().unwrap();

    let new = &all[start.min(all.len())..];
    let commits = new.iter().filter(|f| f.1).count().max(1);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut owner = HashMap::new();
    let mut q = conn.prepare("SELECT name, pageno FROM dbstat").unwrap();
    for row in q
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))
        .unwrap()
    {
        let (name, page) = row.unwrap();
        owner.insert(page, name);
    }
    let mut per: HashMap<&str, usize> = HashMap::new();
    for (page, _) in new {
        *per.entry(owner.get(page).map_or("(freed)", |s| s.as_str()))
            .or_default() += 1;
    }
    let mut per: Vec<_> = per.into_iter().collect();
    per.sort_by_key(|e| std::cmp::Reverse(e.1));
    println!(
        "{} frames, {commits} commits, {:.1} pages per commit",
        new.len(),
        new.len() as f64 / commits as f64
    );
    for (name, k) in per {
        println!("{:6.2}  {name}", k as f64 / commits as f64);
    }
}

/// The WAL's frames as (page number, whether the frame ends a commit).
fn frames(path: &str) -> Vec<(u32, bool)> {
    let wal = std::fs::read(path).unwrap_or_default();
    if wal.len() < 32 {
        return Vec::new();
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let page_size = be(&wal[8..12]) as usize;
    let salt = &wal[16..24];
    let mut out = Vec::new();
    let mut off = 32;
    while off + 24 + page_size <= wal.len() {
        let h = &wal[off..off + 24];
        // Frames left from before the WAL's last restart carry old salts.
        if &h[8..16] != salt {
            break;
        }
        out.push((be(&h[0..4]), be(&h[4..8]) != 0));
        off += 24 + page_size;
    }
    out
}
