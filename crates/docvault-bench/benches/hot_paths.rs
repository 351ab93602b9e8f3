//! Criterion micro-benchmarks of the read path's hot spots:
//! a cache hit, an uncached get, and what counting an access adds to a hit.
//!
//! `cargo bench -p docvault-bench --bench hot_paths`

use criterion::{criterion_group, criterion_main, Criterion};
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
    ] {
        let (_dir, s) = store(config);
        let mut rng = Rng::new(1);
        g.bench_function(name, |b| {
            b.iter(|| s.get(1 + rng.below(DOCS) as i64).expect("get"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
