//! Crash consistency of the write path: the real CLI is killed (SIGKILL)
//! at random moments of an import, with the WAL, the checkpoint thread and
//! batched search indexing all in flight. Every time, the store must open,
//! pass `check`, hold whole import batches only, and find by search exactly
//! the documents it holds; a second import must then complete it.

mod common;

use std::path::Path;
use std::time::Instant;

use common::{cmd, kill_after, Fractions, Key};

/// Documents per import transaction (the CLI's `BATCH_DOCS`).
const BATCH: u64 = 500;
const FILES: u64 = 3000;

fn ok(db: &Path, args: &[&str]) -> serde_json::Value {
    common::ok(db, Key::Plain, args)
}

/// FILES Markdown files of ~3 KB, each with the word "zebrafinch" and a
/// word of its own.
fn write_corpus(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let filler = "The storage engine keeps every version of the text. ".repeat(55);
    for i in 0..FILES {
        let body = format!("# Note {i}\n\nzebrafinch unique{i}x\n\n{filler}\n");
        std::fs::write(dir.join(format!("note{i:05}.md")), body).unwrap();
    }
}

/// The store is whole: it opens, passes `check`, holds only complete
/// import batches, and its search index holds exactly its documents.
fn assert_whole(db: &Path, round: usize) -> u64 {
    let check = ok(db, &["check"]);
    assert_eq!(check["ok"], true, "round {round}: {check}");
    let docs = ok(db, &["stats"])["documents"].as_u64().unwrap();
    assert!(
        docs.is_multiple_of(BATCH) && docs <= FILES,
        "round {round}: {docs} documents is not a whole number of batches"
    );
    let found = ok(db, &["search", "zebrafinch", "--limit", "1"])["total"]
        .as_u64()
        .unwrap();
    assert_eq!(
        found, docs,
        "round {round}: search disagrees with the store"
    );
    docs
}

#[test]
fn imports_killed_at_random_moments_leave_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    write_corpus(&corpus);
    let corpus_arg = corpus.display().to_string();

    // How long a whole import takes, so that kills land all through it.
    let probe = dir.path().join("probe.db");
    let t = Instant::now();
    ok(&probe, &["import", &corpus_arg]);
    let full = t.elapsed();

    let mut partial = 0;
    for (round, f) in Fractions::new(0x2545_F491_4F6C_DD1D).take(6).enumerate() {
        let db = dir.path().join(format!("crash{round}.db"));
        kill_after(
            cmd(&db, Key::Plain, &["import", &corpus_arg]),
            full.mul_f64(f),
        );
        if !db.exists() {
            continue;
        }
        let docs = assert_whole(&db, round);
        if docs > 0 && docs < FILES {
            partial += 1;
        }
        // Importing again finishes the job without duplicates.
        ok(&db, &["import", &corpus_arg]);
        assert_eq!(assert_whole(&db, round), FILES, "round {round}");
        let one = ok(&db, &["search", "unique1234x"]);
        assert_eq!(one["total"], 1, "round {round}");
    }
    // Not a proof that kills landed mid-import, but a sign: report it.
    eprintln!("{partial} of 6 kills left a partial import");
}
