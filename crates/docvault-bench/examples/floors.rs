//! What the store's feature set costs a one-document create, without any
//! docvault code: `floors SECS [DOCS] [ROUNDS] [STORE]`. Builds two bare
//! SQLite files of DOCS documents (default 100,000) in a temporary
//! directory, the bench's floor (the least a create must do) and the same
//! with the store's other b-trees (`Floor::create_with_store_indexes`),
//! then runs one-document creates on each for SECS seconds, alternating,
//! ROUNDS times (default 3). With STORE (an existing store of as many
//! documents, e.g. a copy of one `docvault bench --db` filled; it is
//! written to), the store's own creates join the rotation.
// The CLI's allocator, so that figures match `docvault bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use docvault_bench::corpus::{Corpus, DocPool};
use docvault_bench::floor::Floor;

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let docs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rounds: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let store = args
        .next()
        .map(|p| docvault::Store::open(p, docvault::Config::default()).unwrap());
    let c = Corpus::new();
    // Creates copy pooled documents, as the bench's do: building one from
    // the corpus costs tens of µs, which would be timed with the create.
    let pool = DocPool::new(&c, docs + 1_000_000, 1024);
    let dir = tempfile::tempdir().unwrap();
    let fill = |f: &mut Floor| {
        let mut took = 0.0;
        for start in (0..docs).step_by(1000) {
            let batch = (start..(start + 1000).min(docs))
                .map(|i| c.document(i))
                .collect();
            let t = Instant::now();
            f.import(batch).unwrap();
            took += t.elapsed().as_secs_f64();
        }
        docs as f64 / took
    };
    let mut bare = Floor::create(&dir.path().join("bare.db")).unwrap();
    let rate = fill(&mut bare);
    println!("filled the floor: {rate:.0} documents per s");
    let mut indexed = Floor::create_with_store_indexes(&dir.path().join("indexed.db")).unwrap();
    let rate = fill(&mut indexed);
    println!("filled the floor with the store's b-trees: {rate:.0} documents per s");
    let mut next = docs;
    let mut run = |op: &mut dyn FnMut(docvault::NewDocument)| {
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed().as_secs_f64() < secs {
            op(pool.document(next));
            next += 1;
            n += 1;
        }
        n as f64 / t.elapsed().as_secs_f64()
    };
    for round in 1..=rounds {
        let a = run(&mut |d| bare.create_one(d).unwrap());
        let b = run(&mut |d| indexed.create_one(d).unwrap());
        let s = store
            .as_ref()
            .map(|s| run(&mut |d| drop(s.create(d).unwrap())));
        print!(
            "round {round}: floor {a:.0}, with the store's b-trees {b:.0} ({:.2}x)",
            b / a
        );
        if let Some(s) = s {
            print!(
                ", store {s:.0} ({:.2}x the floor, {:.2}x with b-trees)",
                s / a,
                s / b
            );
        }
        println!(" creates per s");
    }
    if let Some(s) = store {
        s.close().unwrap();
    }
}
