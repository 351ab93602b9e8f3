//! Search speed on a large store, next to raw FTS5 on the same file.
//!
//! ```text
//! cargo bench -p docvault --bench search
//! ```
//!
//! Builds (once, then reuses) a store of `DOCVAULT_BENCH_DOCS` documents
//! (default 100,000) of about 2 KB: synthetic words with a Zipf
//! distribution, plus three marker terms with fixed document frequencies:
//! a rare one (10 documents), a mid-frequency one (2 %) and a common one
//! (76 %, 1 to 6 times each). For each, it times a top-10 search with
//! highlighted title and snippet through `Store::search`, and the same
//! top 10 straight from FTS5 (`MATCH ? ORDER BY rank LIMIT 10`, `rank`
//! being bm25 with the same weights, same highlight and snippet calls) on
//! its own connection to the same file, alternating the two in one run.
//! It prints p50, p99 and ops/s for both, then runs the same pairs
//! through criterion (each iteration runs both and times one, so the pair
//! shares the machine's state). `cargo bench ... -- table` prints the
//! table alone. `DOCVAULT_BENCH_ITERS` sets the iterations per
//! measurement of the table (default 200).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use docvault::{Config, MetaValue, NewDocument, SearchQuery, Store};
use rusqlite::{Connection, OpenFlags};

const RARE: &str = "zyzzyva";
const MID: &str = "quartz";
const COMMON: &str = "system";

const RAW_SQL: &str = "SELECT rowid, highlight(search_fts, 0, '<mark>', '</mark>'),
        snippet(search_fts, 1, '<mark>', '</mark>', '…', 16)
    FROM search_fts WHERE search_fts MATCH ?1 ORDER BY rank LIMIT 10";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64: deterministic, so every run builds the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Corpus {
    rng: Rng,
    vocab: Vec<String>,
    cumulative: Vec<f64>,
}

impl Corpus {
    fn new() -> Corpus {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let syllables = [
            "ka", "to", "mi", "ra", "ne", "so", "lu", "pe", "di", "vo", "ar", "en", "is", "on",
            "ut", "ber", "con", "fig", "ure", "tion", "ex", "pro", "ma", "li", "ste",
        ];
        let mut seen = std::collections::HashSet::new();
        let mut vocab = Vec::new();
        while vocab.len() < 30_000 {
            let k = 1 + rng.below(4) as usize;
            let w: String = (0..k)
                .map(|_| syllables[rng.below(syllables.len() as u64) as usize])
                .collect();
            if w.len() >= 3 && ![RARE, MID, COMMON].contains(&w.as_str()) && seen.insert(w.clone())
            {
                vocab.push(w);
            }
        }
        let h: f64 = (1..=vocab.len()).map(|r| 1.0 / r as f64).sum();
        let mut acc = 0.0;
        let cumulative = (1..=vocab.len())
            .map(|r| {
                acc += 1.0 / (r as f64 * h);
                acc
            })
            .collect();
        Corpus {
            rng,
            vocab,
            cumulative,
        }
    }

    fn word(&mut self) -> &str {
        let x = self.rng.unit();
        let i = self.cumulative.partition_point(|&c| c < x);
        &self.vocab[i.min(self.vocab.len() - 1)]
    }

    fn document(&mut self, i: usize) -> NewDocument {
        let title_len = 3 + self.rng.below(6) as usize;
        let mut title: Vec<String> = (0..title_len).map(|_| self.word().to_string()).collect();
        let mut words: Vec<String> = Vec::new();
        let mut len = 0;
        while len < 2000 {
            let w = self.word().to_string();
            len += w.len() + 1;
            words.push(w);
        }
        let mut put = |rng: &mut Rng, term: &str, most: u64| {
            for _ in 0..1 + rng.below(most) {
                let at = rng.below(words.len() as u64) as usize;
                words.insert(at, term.to_string());
            }
        };
        if i % 10_000 == 7 {
            put(&mut self.rng, RARE, 2);
        }
        if self.rng.below(50) == 0 {
            put(&mut self.rng, MID, 3);
        }
        if self.rng.below(100) < 76 {
            put(&mut self.rng, COMMON, 6);
            if self.rng.below(20) == 0 {
                title.push(COMMON.to_string());
            }
        }
        let mut content = String::with_capacity(len + 64);
        for (n, w) in words.iter().enumerate() {
            content.push_str(w);
            content.push_str(if n % 13 == 12 { ". " } else { " " });
        }
        let team = format!("team{}", self.rng.below(20));
        NewDocument::new(title.join(" "), content).meta("team", MetaValue::String(team))
    }
}

fn store(docs: usize) -> (PathBuf, Store) {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("search-bench-{docs}.db"));
    if path.exists() {
        let s = Store::open(&path, Config::default()).expect("open the bench store");
        if s.stats().map(|st| st.documents as usize).ok() == Some(docs) {
            return (path, s);
        }
        s.close().expect("close");
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
    eprintln!(
        "building a store of {docs} documents at {} ...",
        path.display()
    );
    let started = Instant::now();
    let s = Store::open(&path, Config::default()).expect("create the bench store");
    let mut corpus = Corpus::new();
    let mut i = 0;
    while i < docs {
        let n = 1000.min(docs - i);
        let batch = (i..i + n).map(|j| corpus.document(j)).collect();
        s.create_many(batch).expect("create_many");
        i += n;
    }
    s.optimize().expect("optimize");
    // Merge the index into one segment, as Store::reindex leaves it (ours
    // and raw FTS5 read the same index, so this favours neither).
    Connection::open(&path)
        .and_then(|c| c.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')", []))
        .expect("merge the index");
    eprintln!("built in {:.1} s", started.elapsed().as_secs_f64());
    (path, s)
}

fn raw_connection(path: &PathBuf) -> Connection {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("raw read-only connection");
    conn.set_prepared_statement_cache_capacity(16);
    conn
}

fn raw_search(conn: &Connection, term: &str) -> Vec<i64> {
    let mut stmt = conn.prepare_cached(RAW_SQL).expect("prepare");
    let rows = stmt
        .query_map([format!("\"{term}\"")], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .expect("query");
    rows.map(|r| r.expect("row").0).collect()
}

fn our_search(s: &Store, term: &str) -> Vec<i64> {
    let mut q = SearchQuery::new(term);
    q.limit = 10;
    s.search(&q)
        .expect("search")
        .results
        .iter()
        .map(|h| h.id)
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// p50, p99 and ops/s of ours and raw, alternating, on one line per term.
fn table(path: &PathBuf, s: &Store) {
    let raw = raw_connection(path);
    let iters = env_usize("DOCVAULT_BENCH_ITERS", 200);
    println!(
        "\n{:<8} {:>7} | {:>9} {:>9} {:>8} | {:>9} {:>9} {:>8} | {:>8}",
        "term",
        "matches",
        "raw p50",
        "raw p99",
        "raw op/s",
        "ours p50",
        "ours p99",
        "ops/s",
        "p50 diff"
    );
    for (label, term) in [("rare", RARE), ("mid", MID), ("common", COMMON)] {
        let total = s.search(&SearchQuery::new(term)).expect("search").total;
        // The same ten documents (the order of exact ties may differ).
        let mut ours = our_search(s, term);
        let mut theirs = raw_search(&raw, term);
        ours.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(ours, theirs, "{term}");
        for _ in 0..5 {
            our_search(s, term);
            raw_search(&raw, term);
        }
        let mut t_raw = Vec::with_capacity(iters);
        let mut t_ours = Vec::with_capacity(iters);
        for _ in 0..iters {
            let t = Instant::now();
            raw_search(&raw, term);
            t_raw.push(t.elapsed());
            let t = Instant::now();
            our_search(s, term);
            t_ours.push(t.elapsed());
        }
        let ops = |v: &[Duration]| v.len() as f64 / v.iter().sum::<Duration>().as_secs_f64();
        let (ops_raw, ops_ours) = (ops(&t_raw), ops(&t_ours));
        t_raw.sort();
        t_ours.sort();
        let (r50, o50) = (percentile(&t_raw, 0.5), percentile(&t_ours, 0.5));
        println!(
            "{:<8} {:>7} | {:>7.3}ms {:>7.3}ms {:>8.0} | {:>7.3}ms {:>7.3}ms {:>8.0} | {:>+7.1}%",
            label,
            total,
            ms(r50),
            ms(percentile(&t_raw, 0.99)),
            ops_raw,
            ms(o50),
            ms(percentile(&t_ours, 0.99)),
            ops_ours,
            (ms(o50) / ms(r50) - 1.0) * 100.0
        );
    }
    println!();
}

fn bench(c: &mut Criterion) {
    let docs = env_usize("DOCVAULT_BENCH_DOCS", 100_000);
    let (path, s) = store(docs);
    table(&path, &s);
    let raw = raw_connection(&path);
    let mut group = c.benchmark_group(format!("search_{docs}"));
    group.sample_size(30);
    // Each iteration runs both searches and times one, so the two
    // measurements share the machine's state (caches, other load) instead
    // of taking turns at it for seconds each.
    for (label, term) in [("rare", RARE), ("mid", MID), ("common", COMMON)] {
        group.bench_function(format!("{label}/docvault"), |b| {
            b.iter_custom(|n| {
                let mut timed = Duration::ZERO;
                for _ in 0..n {
                    raw_search(&raw, term);
                    let t = Instant::now();
                    std::hint::black_box(our_search(&s, term));
                    timed += t.elapsed();
                }
                timed
            })
        });
        group.bench_function(format!("{label}/raw_fts5"), |b| {
            b.iter_custom(|n| {
                let mut timed = Duration::ZERO;
                for _ in 0..n {
                    our_search(&s, term);
                    let t = Instant::now();
                    std::hint::black_box(raw_search(&raw, term));
                    timed += t.elapsed();
                }
                timed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
