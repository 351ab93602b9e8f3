//! The audit trail: one entry per write, in the same transaction, chained.

mod common;

use docvault::{AuditQuery, Config, DocumentPatch, NewDocument, Store};

fn tamper(path: &std::path::Path, sql: &str) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(sql).unwrap();
}

fn populated() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let s = Store::open(&path, Config::default()).unwrap();
    let d = s.create(NewDocument::new("t", "1").author("ann")).unwrap();
    s.update(
        d.id,
        DocumentPatch {
            content: Some("2".into()),
            author: Some("bob".into()),
            ..Default::default()
        },
    )
    .unwrap();
    s.delete(d.id, Some("cy")).unwrap();
    s.undelete(d.id, Some("cy")).unwrap();
    s.restore(d.id, 1, Some("dee")).unwrap();
    s.hard_delete(d.id, Some("eve")).unwrap();
    s.close().unwrap();
    (dir, path)
}

#[test]
fn every_write_is_recorded_with_actor_and_summaries() {
    let (_dir, path) = populated();
    let s = Store::open(&path, Config::default()).unwrap();
    let all = s.audit(&AuditQuery::default()).unwrap();
    let ops: Vec<(&str, Option<&str>)> = all
        .iter()
        .rev()
        .map(|e| (e.operation.as_str(), e.actor.as_deref()))
        .collect();
    assert_eq!(
        ops,
        [
            ("create", Some("ann")),
            ("update", Some("bob")),
            ("delete", Some("cy")),
            ("undelete", Some("cy")),
            ("restore", Some("dee")),
            ("hard_delete", Some("eve")),
        ]
    );
    let update = &all[4];
    assert_eq!(update.old.as_ref().unwrap()["version"], 1);
    assert_eq!(update.new.as_ref().unwrap()["version"], 2);
    assert!(all.windows(2).all(|w| w[0].timestamp >= w[1].timestamp));
    let only_delete = s
        .audit(&AuditQuery {
            operation: Some("delete".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(only_delete.len(), 1);
    let limited = s
        .audit(&AuditQuery {
            limit: Some(2),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(limited.len(), 2);
    let future = s
        .audit(&AuditQuery {
            since: Some(docvault::Timestamp(i64::MAX / 2)),
            ..Default::default()
        })
        .unwrap();
    assert!(future.is_empty());
    let v = s.verify_audit().unwrap();
    assert!(v.ok);
    assert_eq!(v.entries_checked, 6);
}

#[test]
fn a_failed_write_leaves_no_audit_entry() {
    let (_d, s) = common::store();
    let d = s.create(NewDocument::new("t", "1")).unwrap();
    let _ = s.update(
        d.id,
        DocumentPatch {
            content: Some("2".into()),
            expect_version: Some(7),
            ..Default::default()
        },
    );
    assert_eq!(s.audit(&AuditQuery::default()).unwrap().len(), 1);
}

#[test]
fn verify_finds_an_altered_entry() {
    let (_dir, path) = populated();
    tamper(&path, "UPDATE audit_log SET actor = 'mallory' WHERE id = 3");
    let s = Store::open(&path, Config::default()).unwrap();
    let v = s.verify_audit().unwrap();
    assert!(!v.ok);
    assert_eq!(v.first_bad_id, Some(3));
    assert!(!s.check().unwrap().ok);
}

#[test]
fn verify_finds_a_removed_entry() {
    let (_dir, path) = populated();
    tamper(&path, "DELETE FROM audit_log WHERE id = 2");
    let s = Store::open(&path, Config::default()).unwrap();
    let v = s.verify_audit().unwrap();
    assert_eq!(v.first_bad_id, Some(3));
}

#[test]
fn verify_finds_entries_cut_from_the_end() {
    let (_dir, path) = populated();
    tamper(&path, "DELETE FROM audit_log WHERE id >= 5");
    let s = Store::open(&path, Config::default()).unwrap();
    let v = s.verify_audit().unwrap();
    assert!(!v.ok);
    assert_eq!(v.first_bad_id, Some(5));
}

#[test]
fn verify_finds_a_recomputed_rewrite_of_the_summary() {
    let (_dir, path) = populated();
    // Change a summary and its own hash: the successor's link breaks.
    tamper(
        &path,
        "UPDATE audit_log SET new_summary = '{}', hash = 'ff' WHERE id = 2",
    );
    let s = Store::open(&path, Config::default()).unwrap();
    assert_eq!(s.verify_audit().unwrap().first_bad_id, Some(2));
}

/// Every combination of filters returns exactly the entries that filtering
/// the whole trail by hand gives, newest first, cut at the limit.
#[test]
fn filters_agree_with_filtering_the_whole_trail_by_hand() {
    let (_d, s) = common::store();
    let mut ids = Vec::new();
    for i in 0..6 {
        let d = s
            .create(NewDocument::new(format!("doc {i}"), "x").author("ann"))
            .unwrap();
        ids.push(d.id);
        if i % 2 == 0 {
            s.update(
                d.id,
                DocumentPatch {
                    content: Some(format!("x {i}")),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        if i % 3 == 0 {
            s.delete(d.id, Some("bob")).unwrap();
        }
    }
    let all = s
        .audit(&AuditQuery {
            limit: Some(1000),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.len(), 6 + 3 + 2);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    let times = [None, Some(all[7].timestamp), Some(all[3].timestamp)];
    let mut combos = 0;
    for doc in [None, Some(ids[0]), Some(ids[3]), Some(ids[5]), Some(9999)] {
        for op in [
            None,
            Some("create"),
            Some("update"),
            Some("delete"),
            Some("restore"),
        ] {
            for since in times {
                for until in times {
                    for limit in [1000, 2] {
                        let q = AuditQuery {
                            document_id: doc,
                            operation: op.map(String::from),
                            since,
                            until,
                            limit: Some(limit),
                        };
                        let want: Vec<i64> = all
                            .iter()
                            .filter(|e| doc.is_none_or(|d| e.document_id == Some(d)))
                            .filter(|e| op.is_none_or(|o| e.operation == o))
                            .filter(|e| since.is_none_or(|t| e.timestamp >= t))
                            .filter(|e| until.is_none_or(|t| e.timestamp < t))
                            .take(limit as usize)
                            .map(|e| e.id)
                            .collect();
                        let got: Vec<i64> = s.audit(&q).unwrap().iter().map(|e| e.id).collect();
                        assert_eq!(got, want, "{q:?}");
                        combos += 1;
                    }
                }
            }
        }
    }
    assert_eq!(combos, 5 * 5 * 3 * 3 * 2);
}

/// Whether the store has the index on audit times (only a trail whose
/// times no longer run in id order needs it).
fn has_time_index(path: &std::path::Path) -> bool {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'audit_ts'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

fn time_ordered(path: &std::path::Path) -> Option<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row(
        "SELECT value FROM store_meta WHERE key = 'audit_time_ordered'",
        [],
        |r| r.get(0),
    )
    .ok()
}

/// Ids of the entries a query returns.
fn ids(s: &Store, q: AuditQuery) -> Vec<i64> {
    s.audit(&q).unwrap().iter().map(|e| e.id).collect()
}

/// A clock stepped back a little (here: the newest entry's time moved two
/// minutes ahead) leaves the next entry at the previous time, so times stay
/// in id order; a large step (an hour) is recorded as it is, and time
/// filters then walk the trail by id: newest first means the same with
/// every filter.
#[test]
fn clock_steps_back_keep_time_queries_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = Store::open(&path, Config::default()).unwrap();
    let d = s.create(NewDocument::new("t", "1")).unwrap();
    s.close().unwrap();
    assert_eq!(time_ordered(&path).as_deref(), Some("1"));
    assert!(!has_time_index(&path), "ordered times need no index");
    let ahead = |us: i64| {
        let t = docvault::Timestamp::now().0 + us;
        tamper(
            &path,
            &format!("UPDATE audit_log SET ts = {t} WHERE id = (SELECT max(id) FROM audit_log)"),
        );
        t
    };
    let small = ahead(120_000_000);
    let s = Store::open(&path, Config::default()).unwrap();
    s.delete(d.id, None).unwrap();
    let all = s.audit(&AuditQuery::default()).unwrap();
    assert_eq!(all[0].operation, "delete");
    assert_eq!(all[0].timestamp.0, small);
    s.close().unwrap();
    assert_eq!(time_ordered(&path).as_deref(), Some("1"));

    let large = ahead(3_600_000_000);
    let s = Store::open(&path, Config::default()).unwrap();
    s.undelete(d.id, None).unwrap();
    let all = s.audit(&AuditQuery::default()).unwrap();
    assert_eq!(all[0].operation, "undelete");
    assert!(all[0].timestamp.0 < large, "recorded as it is");
    assert_eq!(time_ordered(&path).as_deref(), Some("0"));
    assert!(has_time_index(&path), "built when the order broke");
    // Newest first by id, with or without a time filter.
    let by_id: Vec<i64> = all.iter().map(|e| e.id).collect();
    let since_start = AuditQuery {
        since: Some(docvault::Timestamp(0)),
        ..Default::default()
    };
    assert_eq!(ids(&s, since_start), by_id);
    let limited = AuditQuery {
        since: Some(docvault::Timestamp(0)),
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(ids(&s, limited), vec![by_id[0]]);
    let until = AuditQuery {
        until: Some(docvault::Timestamp(large)),
        ..Default::default()
    };
    let want: Vec<i64> = all
        .iter()
        .filter(|e| e.timestamp.0 < large)
        .map(|e| e.id)
        .collect();
    assert_eq!(ids(&s, until), want);
}

/// A store from before schema 6 learns on opening whether its trail's
/// times run in id order.
#[test]
fn opening_an_older_store_checks_the_order_of_its_times() {
    let dir = tempfile::tempdir().unwrap();
    for (name, inverted) in [("ordered.db", false), ("inverted.db", true)] {
        let path = dir.path().join(name);
        let s = Store::open(&path, Config::default()).unwrap();
        for i in 0..3 {
            s.create(NewDocument::new(format!("t{i}"), "1")).unwrap();
        }
        s.close().unwrap();
        tamper(
            &path,
            &format!(
                "DELETE FROM store_meta WHERE key = 'audit_time_ordered';
                 {}
                 PRAGMA user_version = 5;",
                if inverted {
                    "UPDATE audit_log SET ts = ts + 3600000000 WHERE id = 1;"
                } else {
                    ""
                }
            ),
        );
        let s = Store::open(&path, Config::default()).unwrap();
        assert_eq!(s.stats().unwrap().schema_version, docvault::schema::LATEST);
        s.close().unwrap();
        let want = if inverted { "0" } else { "1" };
        assert_eq!(time_ordered(&path).as_deref(), Some(want), "{name}");
        // Schema 9 keeps the index on times only where they are out of order.
        assert_eq!(has_time_index(&path), inverted, "{name}");
        let s = Store::open(&path, Config::default()).unwrap();
        let q = AuditQuery {
            since: Some(docvault::Timestamp(0)),
            ..Default::default()
        };
        assert_eq!(ids(&s, q), vec![3, 2, 1], "{name}");
    }
}

/// A batch create appends one chained entry per document and leaves the
/// head at the last of them, so later writes chain on and the trail
/// verifies, also after a reopen.
#[test]
fn a_batch_create_chains_one_entry_per_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let s = Store::open(&path, Config::default()).unwrap();
    let first = s.create(NewDocument::new("first", "x")).unwrap();
    let batch = s
        .create_many(
            (0..5)
                .map(|i| NewDocument::new(format!("b{i}"), "y"))
                .collect(),
        )
        .unwrap();
    let last = s.create(NewDocument::new("last", "z")).unwrap();
    s.close().unwrap();
    let s = Store::open(&path, Config::default()).unwrap();
    s.delete(last.id, None).unwrap();
    let v = s.verify_audit().unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!(v.entries_checked, 8);
    let mut all = s.audit(&AuditQuery::default()).unwrap();
    all.sort_by_key(|e| e.id);
    let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=8).collect::<Vec<_>>());
    let docs: Vec<Option<i64>> = all.iter().map(|e| e.document_id).collect();
    let mut want = vec![Some(first.id)];
    want.extend(batch.iter().map(|d| Some(d.id)));
    want.extend([Some(last.id), Some(last.id)]);
    assert_eq!(docs, want);
    assert!(all.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
}

/// A tampered trail whose last id is i64::MAX: time filters still answer
/// (no overflow in the search for the ids), and `verify` names the damage.
#[test]
fn time_filters_answer_on_a_trail_ending_at_the_largest_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("max.db");
    let s = Store::open(&path, Config::default()).unwrap();
    s.create(NewDocument::new("a", "1")).unwrap();
    s.create(NewDocument::new("b", "2")).unwrap();
    s.close().unwrap();
    tamper(
        &path,
        "UPDATE audit_log SET id = 9223372036854775807 WHERE id = 2",
    );
    let s = Store::open(&path, Config::default()).unwrap();
    let all = s.audit(&AuditQuery::default()).unwrap();
    assert_eq!(all.len(), 2);
    let after_all = docvault::Timestamp(all[0].timestamp.0 + 1);
    let since = AuditQuery {
        since: Some(after_all),
        ..Default::default()
    };
    assert_eq!(ids(&s, since), Vec::<i64>::new());
    let until = AuditQuery {
        until: Some(after_all),
        ..Default::default()
    };
    assert_eq!(ids(&s, until), vec![i64::MAX, 1]);
    let last_only = AuditQuery {
        since: Some(all[0].timestamp),
        ..Default::default()
    };
    assert!(ids(&s, last_only).contains(&i64::MAX));
    assert!(!s.verify_audit().unwrap().ok);
}
