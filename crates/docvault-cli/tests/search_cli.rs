//! `docvault search` and `reindex` end to end, through the `--json` contract.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_docvault");

fn run(db: &Path, args: &[&str]) -> (i32, Value) {
    let out = Command::new(BIN)
        .arg("--db")
        .arg(db)
        .arg("--json")
        .args(args)
        .env_remove("DOCVAULT_DB")
        .stdin(Stdio::null())
        .output()
        .expect("spawn docvault");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{args:?}: not one JSON value ({e}): {stdout}"));
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn search_finds_ranks_highlights_and_never_breaks_on_user_text() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    for (title, content, ty) in [
        (
            "Install guide",
            "Run the installer, then configure the proxy.",
            "user_guide",
        ),
        (
            "Proxy reference",
            "The proxy configuration keys for multi-agent setups.",
            "reference",
        ),
        (
            "Changelog",
            "Ubuntu 20.04 support; C++ bindings.",
            "changelog",
        ),
    ] {
        let (code, _) = run(
            &db,
            &["add", "--title", title, "--content", content, "--type", ty],
        );
        assert_eq!(code, 0);
    }
    let (code, r) = run(&db, &["search", "configuration"]);
    assert_eq!(code, 0);
    assert_eq!(r["query"], "configuration");
    // Stemming: "configure" and "configuration" both match.
    assert_eq!(r["total"], 2);
    let results = r["results"].as_array().unwrap();
    assert!(results[0]["score"].as_f64().unwrap() >= results[1]["score"].as_f64().unwrap());
    assert!(results
        .iter()
        .all(|h| h["snippet"].as_str().unwrap().contains("<mark>")));
    let (_, r) = run(&db, &["search", "proxy", "--type", "reference"]);
    assert_eq!(r["total"], 1);
    assert_eq!(
        r["results"][0]["title_highlighted"],
        "<mark>Proxy</mark> reference"
    );
    // The original raised on these.
    for hostile in [
        "multi-agent",
        "20.04",
        "C++",
        "\"unbalanced",
        "don't",
        "OR AND NOT",
    ] {
        let (code, r) = run(&db, &["search", hostile]);
        assert!(
            code == 0 || r["error"]["kind"] == "validation",
            "{hostile}: {r}"
        );
    }
    let (code, r) = run(&db, &["search", "!!!"]);
    assert_eq!(code, 1);
    assert_eq!(r["error"]["kind"], "validation");
    let (code, r) = run(&db, &["reindex"]);
    assert_eq!(code, 0);
    assert_eq!(r["reindexed"], 3);
    let (_, r) = run(&db, &["search", "20.04"]);
    assert_eq!(r["total"], 1);
}
