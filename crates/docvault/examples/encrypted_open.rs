//! Measures what encryption costs: opening an encrypted store (Argon2id with
//! the production parameters), keying one more connection with a raw key
//! against SQLCipher's own passphrase derivation, and uncached gets on an
//! encrypted store against a plaintext one.
//!
//! `cargo run --release -p docvault --example encrypted_open`

use std::time::{Duration, Instant};

use docvault::crypto::derive_argon2id;
use docvault::{Config, KdfParams, KeySource, NewDocument, Store};
use rusqlite::Connection;

const DOCS: i64 = 5_000;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fill(store: &Store) {
    let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(36);
    for i in 0..DOCS {
        store
            .create(NewDocument::new(format!("doc {i}"), body.clone()).meta("n", i))
            .unwrap();
    }
}

/// Uncached gets per second over every document, best of three rounds.
fn uncached_gets(store: &Store) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..3 {
        let t = Instant::now();
        for id in 1..=DOCS {
            std::hint::black_box(store.get(id).unwrap());
        }
        best = best.max(DOCS as f64 / t.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let enc = dir.path().join("enc.db");
    let plain = dir.path().join("plain.db");
    let pass = || Some(KeySource::Passphrase("correct horse battery staple".into()));
    let no_cache = |encryption| Config {
        encryption,
        cache_capacity_bytes: 0,
        access_tracking: false,
        ..Config::default()
    };

    // Creating includes the header and one Argon2id derivation.
    let t = Instant::now();
    let s = Store::open(&enc, no_cache(pass())).unwrap();
    let create = t.elapsed();
    fill(&s);
    s.close().unwrap();
    let s = Store::open(&plain, no_cache(None)).unwrap();
    fill(&s);
    s.close().unwrap();

    let mut opens_enc = Vec::new();
    let mut opens_plain = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let s = Store::open(&enc, no_cache(pass())).unwrap();
        opens_enc.push(t.elapsed());
        s.close().unwrap();
        let t = Instant::now();
        let s = Store::open(&plain, no_cache(None)).unwrap();
        opens_plain.push(t.elapsed());
        s.close().unwrap();
    }

    let kdf = |params: KdfParams| {
        median(
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    derive_argon2id(b"correct horse battery staple", &[7; 16], &params).unwrap();
                    t.elapsed()
                })
                .collect(),
        )
    };
    let kdf_default = kdf(KdfParams::default());

    // One connection to a small store: open, key, first read.
    let key =
        "PRAGMA key = \"x'000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'\";";
    let keyed = dir.path().join("raw.db");
    let phrase = dir.path().join("phrase.db");
    let small_plain = dir.path().join("small.db");
    for (p, k) in [
        (&keyed, key),
        (&phrase, "PRAGMA key = 'secret';"),
        (&small_plain, ""),
    ] {
        let c = Connection::open(p).unwrap();
        c.execute_batch(k).unwrap();
        c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let conn_cost = |p: &std::path::Path, k: Option<&str>| {
        median(
            (0..9)
                .map(|_| {
                    let t = Instant::now();
                    let c = Connection::open(p).unwrap();
                    if let Some(k) = k {
                        c.execute_batch(k).unwrap();
                    }
                    let _: i64 = c
                        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                        .unwrap();
                    t.elapsed()
                })
                .collect(),
        )
    };
    let raw_conn = conn_cost(&keyed, Some(key));
    let phrase_conn = conn_cost(&phrase, Some("PRAGMA key = 'secret';"));
    let plain_conn = conn_cost(&small_plain, None);

    let s = Store::open(&enc, no_cache(pass())).unwrap();
    let enc_gets = uncached_gets(&s);
    s.close().unwrap();
    let s = Store::open(&plain, no_cache(None)).unwrap();
    let plain_gets = uncached_gets(&s);
    s.close().unwrap();

    println!("Argon2id derivation alone (m=64 MiB t=5 p=1), median of 3: {kdf_default:.2?}");
    println!("create encrypted store (Argon2id m=64 MiB t=5 p=1): {create:.2?}");
    println!(
        "open encrypted store, median of 5:  {:.2?} (plaintext {:.2?})",
        median(opens_enc),
        median(opens_plain)
    );
    println!(
        "one connection (open + key + first read): raw key {raw_conn:.2?}, \
         SQLCipher passphrase {phrase_conn:.2?}, plaintext {plain_conn:.2?}"
    );
    println!(
        "uncached get, 1 thread, {DOCS} docs: encrypted {enc_gets:.0}/s, plaintext {plain_gets:.0}/s, ratio {:.2}",
        enc_gets / plain_gets
    );
}
