//! `docvault bench` end to end: its help, the global options around it,
//! and an existing store given with `--db`.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{cmd, json, Key, BIN};
use docvault::{Config, Store};
use serde_json::Value;

/// The fastest run that still runs every optimized workload.
const QUICK: &[&str] = &[
    "--mode",
    "optimized",
    "--threads",
    "1",
    "--duration",
    "0.05",
];

fn bin(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("DOCVAULT_DB")
        .env_remove("DOCVAULT_PASSPHRASE")
        .stdin(Stdio::null());
    c
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `bench --help` warns that `--db` hands the bench a store it writes to.
#[test]
fn bench_help_warns_that_db_is_written_to() {
    for help in ["--help", "-h"] {
        let out = bin(&["bench", help]).output().unwrap();
        assert_success(&out);
        let text = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for words in [
            "--db PATH: the bench measures that store",
            "WRITES TO IT",
            "(create, update, mixed_90_10) add documents to the store and change its documents",
        ] {
            assert!(text.contains(words), "{help}: no {words:?} in {text}");
        }
    }
}

/// A global option that takes a value before `bench` (here `--key-file`,
/// which the bench does not use) does not stop `--json FILE` from naming
/// the results file.
#[test]
fn bench_json_file_after_a_key_file_option() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    let file = dir.path().join("out.json");
    let out = bin(&[
        "--key-file",
        key.to_str().unwrap(),
        "bench",
        "--num-docs",
        "50",
    ])
    .args(QUICK)
    .arg("--json")
    .arg(&file)
    .output()
    .unwrap();
    assert_success(&out);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v["num_docs"], 50);
}

/// A store with soft-deleted documents, gaps and ids from 11 on: 60
/// documents, 10 hard-deleted first, then every 4th hard- and every 5th
/// soft-deleted.
fn existing_store(path: &Path) -> usize {
    let store = Store::open(path, Config::default()).unwrap();
    let corpus = docvault_bench::corpus::Corpus::new();
    let docs = store
        .create_many((0..60).map(|i| corpus.document(i)).collect())
        .unwrap();
    let mut live = 0;
    for (k, d) in docs.iter().enumerate() {
        if k < 10 || k % 4 == 1 {
            store.hard_delete(d.id, None).unwrap();
        } else if k % 5 == 2 {
            store.delete(d.id, None).unwrap();
        } else {
            live += 1;
        }
    }
    store.close().unwrap();
    live
}

/// `bench --db` on a store of its own documents measures those, and says
/// that `--num-docs` was ignored: in the table and in the JSON.
#[test]
fn bench_on_an_existing_store_with_gaps_notes_the_ignored_num_docs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mine.db");
    let live = existing_store(&db);
    let note = "--num-docs 500 is ignored";

    let out = bin(&["--db", db.to_str().unwrap(), "bench", "--num-docs", "500"])
        .args(QUICK)
        .output()
        .unwrap();
    assert_success(&out);
    let table = String::from_utf8_lossy(&out.stdout);
    let line = table
        .lines()
        .find(|l| l.starts_with("note: "))
        .unwrap_or_else(|| panic!("no note in\n{table}"));
    assert!(line.contains(note), "{line}");
    assert!(line.contains(&format!("{live} live documents")), "{line}");

    let mut args = vec!["bench", "--num-docs", "500"];
    args.extend_from_slice(QUICK);
    let out = cmd(&db, Key::Plain, &args).output().unwrap();
    assert_success(&out);
    let v = json(&out);
    assert!(v["notes"][0].as_str().unwrap().contains(note), "{v}");
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["name"] != "import"));
}
