//! Criterion micro-benchmarks of the read path's hot spots: a cache hit,
//! an uncached get, what counting an access adds to each (the `*_no_access_tracking`
//! twins), and the writer's side of access tracking: a flush of the pending
//! counts of 1,000 documents.
//!
//! `cargo bench -p docvault-bench --bench hot_paths`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use docvault::{Config, Store};
use docvault_bench::corpus::{Corpus, Rng};

const DOCS: u64 = 2_000;

fn store(config: Config) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("hot.db"), config).expect("open");
    let corpus = Corpus::new();
    store
        .create_many((0..DOCS).map(|i| corpus.document(i)).collect())
        .expect("populate");
    for id in 1..=DOCS as i64 {
        store.get(id).expect("warm");
    }
    (dir, store)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("get");
    for (name, config) in [
        ("cache_hit", Config::default()),
        (
            "cache_hit_no_access_tracking",
            Config {
                access_tracking: false,
                ..Config::default()
            },
        ),
        (
            "uncached",
            Config {
                cache_capacity_bytes: 0,
                ..Config::default()
            },
        ),
        (
            "uncached_no_access_tracking",
            Config {
                cache_capacity_bytes: 0,
                access_tracking: false,
                ..Config::default()
            },
        ),
    ] {
        let (_dir, s) = store(config);
        let mut rng = Rng::new(1);
        g.bench_function(name, |b| {
            b.iter(|| s.get(1 + rng.below(DOCS) as i64).expect("get"))
        });
    }
    g.finish();

    // The background flush is pushed out of the way so that each iteration
    // flushes exactly the 1,000 counts its setup recorded.
    let (_dir, s) = store(Config {
        cache_capacity_bytes: 0,
        access_flush_interval: Duration::from_secs(3600),
        ..Config::default()
    });
    s.flush().expect("flush");
    let mut rng = Rng::new(2);
    c.bench_function("access/flush_1000_documents", |b| {
        b.iter_batched(
            || {
                let first = 1 + rng.below(DOCS - 1000) as i64;
                for id in first..first + 1000 {
                    s.get(id).expect("get");
                }
            },
            |()| s.flush().expect("flush"),
            BatchSize::PerIteration,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
