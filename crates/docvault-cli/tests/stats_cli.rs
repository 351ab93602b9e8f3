//! `docvault stats` shows the store's metrics: the library's snapshot as
//! `metrics` in the JSON, and a section of its own in the text.

mod common;

use std::path::Path;

use common::{ok, Key};
use serde_json::Value;

/// A store with three documents, two of them read.
fn store_with_reads(db: &Path) {
    let mut ids = Vec::new();
    for title in ["one", "two", "three"] {
        let d = ok(db, Key::Plain, &["add", "--title", title, "--content", "x"]);
        ids.push(d["id"].to_string());
    }
    for id in &ids[..2] {
        ok(db, Key::Plain, &["get", id]);
    }
}

fn text_stats(db: &Path) -> String {
    let out = common::text_cmd(db, Key::Plain, &["stats"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const OPS: &[&str] = &[
    "get_hit",
    "get_miss",
    "get_many",
    "list",
    "search",
    "create",
    "update",
    "delete",
    "undelete",
    "hard_delete",
    "restore",
];

fn u64_at(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count in {v}"))
}

#[test]
fn json_stats_has_a_metrics_object_and_keeps_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    store_with_reads(&db);
    let st = ok(&db, Key::Plain, &["stats"]);

    // The existing fields are unchanged.
    assert_eq!(st["documents"], 3);
    assert_eq!(st["versions"], 3);
    for k in ["operations", "pending_access_updates", "schema_version"] {
        u64_at(&st, k);
    }

    let m = &st["metrics"];
    assert!(m.is_object(), "no metrics object in {st}");
    for op in OPS {
        let o = &m[op];
        u64_at(o, "count");
        u64_at(o, "errors");
        let l = &o["latency"];
        u64_at(l, "samples");
        let p = |k: &str| l[k].as_f64().unwrap_or_else(|| panic!("{k} in {o}"));
        assert!(
            0.0 <= p("p50_us") && p("p50_us") <= p("p95_us") && p("p95_us") <= p("p99_us"),
            "{op}: {o}"
        );
    }
    // This process opened the store and ran only the stats.
    assert_eq!(u64_at(&m["create"], "count"), 0);

    let c = &m["cache"];
    assert!(u64_at(c, "capacity_bytes") > 0, "{c}");
    for k in ["hits", "misses", "evictions", "entries", "bytes"] {
        u64_at(c, k);
    }

    let size = u64_at(m, "reader_pool_size");
    let open = u64_at(m, "open_readers");
    let idle = u64_at(m, "idle_readers");
    assert!(size >= 1, "{m}");
    // The stats query borrowed a reader and returned it.
    assert!(1 <= open && open <= size, "{m}");
    assert_eq!(u64_at(m, "busy_readers"), 0, "{m}");
    assert_eq!(idle, open, "{m}");
    for k in [
        "reader_waits",
        "reader_overflows",
        "commits",
        "write_jobs",
        "checkpoints_background",
        "checkpoints_inline",
    ] {
        u64_at(m, k);
    }
    assert_eq!(
        u64_at(m, "pending_access_updates"),
        u64_at(&st, "pending_access_updates")
    );
}

#[test]
fn text_stats_has_a_metrics_section() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    store_with_reads(&db);
    let text = text_stats(&db);
    let section = text
        .find("metrics (this process, since the store was opened):")
        .map(|i| &text[i..])
        .unwrap_or_else(|| panic!("no metrics section in:\n{text}"));
    // The store's figures come first and stay.
    assert!(text.starts_with("documents:        3\n"), "{text}");
    for needle in [
        "\noperations:",
        "\nOPERATION",
        "P50 µs",
        "P95 µs",
        "P99 µs",
        "\nget (cache hit) ",
        "\nget (miss) ",
        "\nget many ",
        "\nlist ",
        "\nsearch ",
        "\ncreate ",
        "\nhard delete ",
        "\ncache:            on,",
        "\nreader pool:      size ",
        "\nwriter:           ",
        "\npending access updates: ",
        "\naccess figures in memory: ",
    ] {
        assert!(section.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let cache = section.lines().find(|l| l.starts_with("cache:")).unwrap();
    let capacity: u64 = cache
        .rsplit(" of ")
        .next()
        .and_then(|s| s.strip_suffix(" bytes"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no capacity in {cache:?}"));
    assert!(capacity > 0, "{cache}");
}
