//! Opening, closing and refusing: locks, schema versions, damaged files.

mod common;

use std::process::Command;

use docvault::{Config, Error, NewDocument, Store};

#[test]
fn open_creates_the_file_and_reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let s = Store::open(&path, Config::default()).unwrap();
    let d = s.create(NewDocument::new("t", "kept")).unwrap();
    s.close().unwrap();
    assert!(path.exists());
    let s = Store::open(&path, Config::default()).unwrap();
    assert_eq!(s.get(d.id).unwrap().content.as_deref(), Some("kept"));
    assert_eq!(s.stats().unwrap().schema_version, docvault::schema::LATEST);
}

#[test]
fn a_second_store_in_this_process_is_refused() {
    let (dir, s) = common::store();
    let e = Store::open(dir.path().join("test.db"), Config::default()).unwrap_err();
    match e {
        Error::StoreInUse { pid, .. } => assert_eq!(pid, Some(std::process::id())),
        other => panic!("expected StoreInUse, got {other:?}"),
    }
    assert!(e_msg(dir.path()).contains("in use by process"));
    // After close the file is free again.
    s.close().unwrap();
    Store::open(dir.path().join("test.db"), Config::default()).unwrap();
}

fn e_msg(dir: &std::path::Path) -> String {
    Store::open(dir.join("test.db"), Config::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn dropping_the_store_releases_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    {
        let s = Store::open(&path, Config::default()).unwrap();
        let clone = s.clone();
        drop(s);
        clone.create(NewDocument::new("t", "x")).unwrap();
    }
    Store::open(&path, Config::default()).unwrap();
}

#[test]
fn closed_store_refuses_calls() {
    let (_d, s) = common::store();
    let d = s.create(NewDocument::new("t", "x")).unwrap();
    let clone = s.clone();
    s.close().unwrap();
    assert!(matches!(clone.get(d.id), Err(Error::Closed)));
    assert!(matches!(
        clone.create(NewDocument::new("t", "x")),
        Err(Error::Closed)
    ));
    s.close().unwrap();
}

/// Run by the parent test in a child process: tries to open the store.
#[test]
fn child_process_probe() {
    let Ok(path) = std::env::var("DOCVAULT_TEST_CHILD_DB") else {
        return;
    };
    match Store::open(&path, Config::default()) {
        Ok(_) => println!("CHILD-RESULT: opened"),
        Err(e) => println!("CHILD-RESULT: {} | {}", e.kind(), e),
    }
}

fn probe_from_child(path: &std::path::Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_probe",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DOCVAULT_TEST_CHILD_DB", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.split_once("CHILD-RESULT: ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("no result from child: {stdout}"))
        .to_string()
}

#[test]
fn a_second_process_is_told_who_owns_the_store() {
    let (dir, s) = common::store();
    let path = dir.path().join("test.db");
    let r = probe_from_child(&path);
    assert!(r.starts_with("store_in_use"), "{r}");
    assert!(
        r.contains(&format!("process {}", std::process::id())),
        "{r}"
    );
    s.close().unwrap();
    assert_eq!(probe_from_child(&path), "opened");
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    Store::open(&path, Config::default())
        .unwrap()
        .close()
        .unwrap();
    let future = docvault::schema::LATEST + 5;
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", future).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    match Store::open(&path, Config::default()).unwrap_err() {
        Error::SchemaTooNew { found, supported } => {
            assert_eq!(found, future);
            assert_eq!(supported, docvault::schema::LATEST);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "file was modified");
    let msg = Store::open(&path, Config::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&future.to_string()) && msg.contains(&docvault::schema::LATEST.to_string())
    );
}

#[test]
fn a_file_that_is_not_a_database_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    std::fs::write(
        &path,
        b"this is certainly not an sqlite database, just text. ".repeat(200),
    )
    .unwrap();
    let e = Store::open(&path, Config::default()).unwrap_err();
    assert_eq!(e.kind(), "corrupt", "{e}");
}

#[test]
fn another_programs_sqlite_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE people (name TEXT)").unwrap();
    }
    let e = Store::open(&path, Config::default()).unwrap_err();
    assert_eq!(e.kind(), "corrupt", "{e}");
}

#[test]
fn a_damaged_page_is_reported_by_check_or_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dmg.db");
    {
        let s = Store::open(&path, Config::default()).unwrap();
        for i in 0..200 {
            s.create(NewDocument::new(format!("doc {i}"), "text ".repeat(200)))
                .unwrap();
        }
        s.close().unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    // Scribble over the middle of the file, leaving the header intact.
    for b in &mut bytes[len / 2..len / 2 + 8192] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    match Store::open(&path, Config::default()) {
        Err(e) => assert_eq!(e.kind(), "corrupt", "{e}"),
        Ok(s) => match s.check() {
            Ok(r) => assert!(!r.ok, "check missed the damage"),
            Err(e) => assert_eq!(e.kind(), "corrupt", "{e}"),
        },
    }
}

#[test]
fn a_missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = Store::open(dir.path().join("no/such/dir/x.db"), Config::default()).unwrap_err();
    assert_eq!(e.kind(), "io", "{e}");
}

#[test]
fn defect_two_instances_served_each_others_stale_data() {
    // The original let two instances share a file, each caching rows the
    // other changed. Here the second instance cannot exist.
    let (dir, s) = common::store();
    let d = s.create(NewDocument::new("t", "x")).unwrap();
    assert_eq!(
        Store::open(dir.path().join("test.db"), Config::default())
            .unwrap_err()
            .kind(),
        "store_in_use"
    );
    assert_eq!(s.get(d.id).unwrap().title, "t");
}

#[test]
fn defect_invalid_configuration_reset_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cfg.db");
    for bad in [
        Config {
            max_content_bytes: 0,
            ..Config::default()
        },
        Config {
            readers: 0,
            ..Config::default()
        },
        Config {
            access_flush_interval: std::time::Duration::ZERO,
            ..Config::default()
        },
        Config {
            wal_limit_bytes: (4 << 20) - 1,
            ..Config::default()
        },
    ] {
        let e = Store::open(&path, bad).unwrap_err();
        assert_eq!(e.kind(), "validation", "{e}");
    }
    // Nothing was created anywhere: not at the path given, not elsewhere.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn defect_backup_copied_the_file_without_its_wal() {
    let (dir, s) = common::store();
    for i in 0..50 {
        s.create(NewDocument::new(format!("d{i}"), "in the wal"))
            .unwrap();
    }
    // The writes sit in the WAL: the main file alone would miss them.
    assert!(s.stats().unwrap().wal_bytes > 0);
    let copy = dir.path().join("backup.db");
    s.backup(&copy).unwrap();
    assert_eq!(s.backup(&copy).unwrap_err().kind(), "validation");
    let b = Store::open(&copy, Config::default()).unwrap();
    assert_eq!(b.stats().unwrap().documents, 50);
    assert!(b.check().unwrap().ok);
}

fn fts_hashsize(path: &std::path::Path) -> Option<i64> {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row(
        "SELECT v FROM search_fts_config WHERE k = 'hashsize'",
        [],
        |r| r.get(0),
    )
    .ok()
}

#[test]
fn a_version_2_store_is_migrated_to_the_larger_fts_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    let s = Store::open(&path, Config::default()).unwrap();
    let d = s
        .create(NewDocument::new("Old store", "migrated words"))
        .unwrap();
    s.close().unwrap();
    assert_eq!(fts_hashsize(&path), Some(8 << 20));
    // Back to what a version 2 file holds (as far as later steps look).
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DELETE FROM search_fts_config WHERE k = 'hashsize';
             DROP TABLE search_state;
             DROP TABLE search_removals;
             PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    assert_eq!(fts_hashsize(&path), None);
    let s = Store::open(&path, Config::default()).unwrap();
    assert_eq!(s.stats().unwrap().schema_version, docvault::schema::LATEST);
    assert_eq!(s.get(d.id).unwrap().title, "Old store");
    let hits = s
        .search(&docvault::SearchQuery::new("migrated"))
        .unwrap()
        .total;
    assert_eq!(hits, 1);
    s.close().unwrap();
    assert_eq!(fts_hashsize(&path), Some(8 << 20));
}

/// Schema 8 drops the insert trigger of `doc_counts` (a create counts its
/// documents itself). A store from schema 7, trigger in place, is migrated
/// and then counts each new document once, not twice.
#[test]
fn a_schema_7_store_counts_new_documents_once_after_migrating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let s = Store::open(&path, Config::default()).unwrap();
    s.create(NewDocument::new("before", "x")).unwrap();
    s.close().unwrap();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TRIGGER doc_counts_insert AFTER INSERT ON documents BEGIN
                 INSERT INTO doc_counts (status, doc_type, n) VALUES (NEW.status, NEW.doc_type, 1)
                 ON CONFLICT(status, doc_type) DO UPDATE SET n = n + 1;
             END;
             PRAGMA user_version = 7;",
        )
        .unwrap();
    }
    let s = Store::open(&path, Config::default()).unwrap();
    assert_eq!(s.stats().unwrap().schema_version, docvault::schema::LATEST);
    s.create(NewDocument::new("after", "y")).unwrap();
    s.create_many(vec![NewDocument::new("a", "1"), NewDocument::new("b", "2")])
        .unwrap();
    assert_eq!(s.list(&docvault::ListQuery::default()).unwrap().total, 4);
    let report = s.check().unwrap();
    assert!(report.ok, "{:?}", report.problems);
}
