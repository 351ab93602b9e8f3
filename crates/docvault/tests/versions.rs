//! Version history: numbering, exact content, diff, restore.

mod common;

use docvault::{DocumentPatch, NewDocument};

fn set_content(s: &docvault::Store, id: i64, c: &str, author: &str, major: bool) -> i64 {
    s.update(
        id,
        DocumentPatch {
            content: Some(c.into()),
            author: Some(author.into()),
            comment: Some(format!("set to {c}")),
            major,
            ..Default::default()
        },
    )
    .unwrap()
    .version
}

#[test]
fn every_content_change_is_a_version_with_exact_content() {
    let (_d, s) = common::store();
    let doc = s
        .create(NewDocument::new("t", "one\n").author("ann"))
        .unwrap();
    assert_eq!(set_content(&s, doc.id, "two\n", "bob", false), 2);
    assert_eq!(set_content(&s, doc.id, "three\n", "cy", true), 3);
    // A title-only change is not a content version.
    s.update(
        doc.id,
        DocumentPatch {
            title: Some("renamed".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let list = s.versions(doc.id).unwrap();
    let numbers: Vec<i64> = list.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [3, 2, 1], "newest first");
    assert_eq!(list[0].author.as_deref(), Some("cy"));
    assert!(list[0].major);
    assert!(!list[1].major);
    assert_eq!(list[1].comment.as_deref(), Some("set to two\n"));
    assert_eq!(list[2].author.as_deref(), Some("ann"));
    for (n, text) in [(1, "one\n"), (2, "two\n"), (3, "three\n")] {
        let v = s.version(doc.uuid, n).unwrap();
        assert_eq!(v.content, text);
        assert_eq!(v.info.size_bytes, text.len() as i64);
    }
    assert_eq!(s.version(doc.id, 4).unwrap_err().kind(), "not_found");
    assert_eq!(s.version(doc.id, 0).unwrap_err().kind(), "not_found");
}

#[test]
fn diff_is_unified() {
    let (_d, s) = common::store();
    let doc = s.create(NewDocument::new("t", "a\nb\nc\n")).unwrap();
    set_content(&s, doc.id, "a\nB\nc\n", "x", false);
    let d = s.diff(doc.id, 1, 2).unwrap();
    assert!(d.contains("--- v1"), "{d}");
    assert!(d.contains("+++ v2"), "{d}");
    assert!(d.contains("-b\n"), "{d}");
    assert!(d.contains("+B\n"), "{d}");
    assert_eq!(s.diff(doc.id, 2, 2).unwrap(), "");
    assert_eq!(s.diff(doc.id, 1, 9).unwrap_err().kind(), "not_found");
}

#[test]
fn restore_adds_a_version_and_updates_derived_fields() {
    let (_d, s) = common::store();
    let doc = s.create(NewDocument::new("t", "original")).unwrap();
    set_content(&s, doc.id, "edited text", "x", false);
    let r = s.restore(doc.id, 1, Some("rita")).unwrap();
    assert_eq!(r.version, 3);
    assert_eq!(r.content.as_deref(), Some("original"));
    assert_eq!(r.content_hash, doc.content_hash);
    assert_eq!(r.size_bytes, doc.size_bytes);
    let v = &s.versions(doc.id).unwrap()[0];
    assert_eq!(v.comment.as_deref(), Some("restored from v1"));
    assert_eq!(v.restored_from, Some(1));
    assert_eq!(v.author.as_deref(), Some("rita"));
    // Older versions remain readable and exact.
    assert_eq!(s.version(doc.id, 2).unwrap().content, "edited text");
    assert_eq!(s.get(doc.id).unwrap().content.as_deref(), Some("original"));
    let trail = s
        .audit(&docvault::AuditQuery {
            document_id: Some(doc.id),
            operation: Some("restore".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].actor.as_deref(), Some("rita"));
    assert!(s.check().unwrap().ok);
}

#[test]
fn history_survives_reopen_and_check_passes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let id = {
        let s = docvault::Store::open(&path, docvault::Config::default()).unwrap();
        let doc = s.create(NewDocument::new("t", "1")).unwrap();
        for i in 2..=10 {
            set_content(&s, doc.id, &i.to_string(), "x", false);
        }
        s.close().unwrap();
        doc.id
    };
    let s = docvault::Store::open(&path, docvault::Config::default()).unwrap();
    assert_eq!(s.versions(id).unwrap().len(), 10);
    for i in 1..=10 {
        assert_eq!(s.version(id, i).unwrap().content, i.to_string());
    }
    let report = s.check().unwrap();
    assert!(report.ok, "{:?}", report.problems);
}
