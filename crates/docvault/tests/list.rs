//! Listing: filters, sorting, pagination, and its validation.

mod common;

use docvault::{
    DocType, DocumentPatch, ListQuery, MetaValue, NewDocument, Order, SortField, Status, Timestamp,
};

fn seed(s: &docvault::Store) {
    let docs = [
        ("alpha", DocType::Api, Status::Active, 10, "core", 1i64),
        ("bravo", DocType::Api, Status::Draft, 300, "web", 2),
        ("charlie", DocType::Tutorial, Status::Active, 20, "core", 3),
        ("delta", DocType::Design, Status::Archived, 4000, "core", 1),
        ("echo", DocType::Tutorial, Status::Active, 50, "web", 2),
    ];
    for (title, ty, st, size, team, prio) in docs {
        s.create(
            NewDocument::new(title, "x".repeat(size))
                .doc_type(ty)
                .status(st)
                .meta("team", team)
                .meta("priority", prio),
        )
        .unwrap();
    }
}

fn titles(p: &docvault::Page) -> Vec<&str> {
    p.documents.iter().map(|d| d.title.as_str()).collect()
}

#[test]
fn filters_and_together() {
    let (_d, s) = common::store();
    seed(&s);
    let q = ListQuery {
        doc_type: Some(DocType::Tutorial),
        sort: SortField::Title,
        order: Order::Asc,
        ..Default::default()
    };
    assert_eq!(titles(&s.list(&q).unwrap()), ["charlie", "echo"]);
    let q = ListQuery {
        status: Some(Status::Active),
        meta: vec![("team".into(), MetaValue::from("core"))],
        sort: SortField::Title,
        order: Order::Asc,
        ..Default::default()
    };
    assert_eq!(titles(&s.list(&q).unwrap()), ["alpha", "charlie"]);
    let q = ListQuery {
        meta: vec![
            ("team".into(), MetaValue::from("web")),
            ("priority".into(), MetaValue::Integer(2)),
        ],
        sort: SortField::Title,
        order: Order::Asc,
        ..Default::default()
    };
    assert_eq!(titles(&s.list(&q).unwrap()), ["bravo", "echo"]);
    // Typed: the string "2" is not the integer 2.
    let q = ListQuery {
        meta: vec![("priority".into(), MetaValue::from("2"))],
        ..Default::default()
    };
    assert_eq!(s.list(&q).unwrap().total, 0);
}

#[test]
fn sorting_by_each_field() {
    let (_d, s) = common::store();
    seed(&s);
    let q = |sort, order| ListQuery {
        sort,
        order,
        ..Default::default()
    };
    assert_eq!(
        titles(&s.list(&q(SortField::SizeBytes, Order::Desc)).unwrap()),
        ["delta", "bravo", "echo", "charlie", "alpha"]
    );
    assert_eq!(
        titles(&s.list(&q(SortField::Title, Order::Desc)).unwrap()),
        ["echo", "delta", "charlie", "bravo", "alpha"]
    );
    assert_eq!(
        titles(&s.list(&q(SortField::CreatedAt, Order::Asc)).unwrap()),
        ["alpha", "bravo", "charlie", "delta", "echo"]
    );
    // Touch charlie: updated_at order changes, created_at does not.
    let charlie = s.list(&q(SortField::Title, Order::Asc)).unwrap().documents[2].id;
    s.update(
        charlie,
        DocumentPatch {
            title: Some("charlie2".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        titles(&s.list(&q(SortField::UpdatedAt, Order::Desc)).unwrap())[0],
        "charlie2"
    );
    for _ in 0..3 {
        s.get(charlie).unwrap();
    }
    let by_access = s.list(&q(SortField::AccessCount, Order::Desc)).unwrap();
    assert_eq!(by_access.documents[0].id, charlie);
    assert_eq!(by_access.documents[0].access_count, 3);
    assert!(
        "nonsense"
            .parse::<SortField>()
            .unwrap_err()
            .to_string()
            .contains("size_bytes"),
        "the error lists the valid fields"
    );
}

#[test]
fn pages_and_totals() {
    let (_d, s) = common::store();
    for i in 0..25 {
        s.create(NewDocument::new(format!("doc {i:02}"), "x"))
            .unwrap();
    }
    let q = |offset| ListQuery {
        limit: 10,
        offset,
        sort: SortField::Title,
        order: Order::Asc,
        ..Default::default()
    };
    let p1 = s.list(&q(0)).unwrap();
    assert_eq!(
        (p1.total, p1.page, p1.pages, p1.documents.len()),
        (25, 1, 3, 10)
    );
    let p3 = s.list(&q(20)).unwrap();
    assert_eq!(
        (p3.total, p3.page, p3.pages, p3.documents.len()),
        (25, 3, 3, 5)
    );
    assert_eq!(p3.documents[0].title, "doc 20");
    let past = s.list(&q(100)).unwrap();
    assert_eq!((past.total, past.documents.len()), (25, 0));
    // Listing never carries content.
    assert!(p1.documents.iter().all(|d| d.content.is_none()));
}

#[test]
fn defect_list_total_was_the_page_length() {
    let (_d, s) = common::store();
    for i in 0..7 {
        s.create(NewDocument::new(format!("d{i}"), "x")).unwrap();
    }
    let p = s
        .list(&ListQuery {
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.documents.len(), 2);
    assert_eq!(p.total, 7);
    assert_eq!(p.pages, 4);
}

#[test]
fn limits_are_validated() {
    let (_d, s) = common::store();
    for limit in [0, -1, 1001] {
        let e = s
            .list(&ListQuery {
                limit,
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.kind(), "validation");
    }
    let e = s
        .list(&ListQuery {
            offset: -5,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.kind(), "validation");
    s.list(&ListQuery {
        limit: 1000,
        ..Default::default()
    })
    .unwrap();
}

#[test]
fn time_ranges() {
    let (_d, s) = common::store();
    s.create(NewDocument::new("old", "x")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let cut = Timestamp::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    s.create(NewDocument::new("new", "x")).unwrap();
    let after = s
        .list(&ListQuery {
            created_after: Some(cut),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(titles(&after), ["new"]);
    let before = s
        .list(&ListQuery {
            created_before: Some(cut),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(titles(&before), ["old"]);
    let updated = s
        .list(&ListQuery {
            updated_after: Some(cut),
            updated_before: Some(Timestamp::now()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(titles(&updated), ["new"]);
    assert!(Timestamp::parse("2026-01-02").is_ok());
    assert!(Timestamp::parse("2026-01-02T03:04:05+02:00").is_ok());
    assert_eq!(
        Timestamp::parse("yesterday").unwrap_err().kind(),
        "validation"
    );
}

#[test]
fn hostile_filter_values_are_just_values() {
    let (_d, s) = common::store();
    seed(&s);
    let q = ListQuery {
        meta: vec![(
            "team'; DROP TABLE documents; --".into(),
            MetaValue::from("x' OR '1'='1"),
        )],
        ..Default::default()
    };
    assert_eq!(s.list(&q).unwrap().total, 0);
    assert_eq!(s.list(&ListQuery::default()).unwrap().total, 5);
}

#[test]
fn totals_follow_every_kind_of_write() {
    // Totals of status/type-only queries come from trigger-kept counts:
    // they must agree with the documents after each kind of write.
    let (_d, s) = common::store();
    seed(&s);
    let page = |q: ListQuery| s.list(&q).unwrap();
    let all = page(ListQuery::default());
    let (a, b) = (all.documents[0].id, all.documents[1].id);
    s.delete(a, None).unwrap();
    s.update(
        b,
        DocumentPatch {
            doc_type: Some(DocType::Readme),
            status: Some(Status::Archived),
            ..Default::default()
        },
    )
    .unwrap();
    s.undelete(a, None).unwrap();
    s.delete(a, None).unwrap();
    let c = all.documents[2].id;
    s.hard_delete(c, None).unwrap();
    s.create(NewDocument::new("new", "x").doc_type(DocType::Readme))
        .unwrap();
    for status in [
        None,
        Some(Status::Active),
        Some(Status::Deleted),
        Some(Status::Archived),
    ] {
        for doc_type in [None, Some(DocType::Readme), Some(DocType::Api)] {
            for include_deleted in [false, true] {
                let q = ListQuery {
                    status,
                    doc_type,
                    include_deleted,
                    limit: 1000,
                    ..Default::default()
                };
                let p = page(q.clone());
                // Adding a no-op time filter forces an actual count.
                let counted = page(ListQuery {
                    created_after: Some(Timestamp(0)),
                    ..q
                });
                assert_eq!(
                    p.total, counted.total,
                    "{status:?} {doc_type:?} {include_deleted}"
                );
                assert_eq!(p.total, p.documents.len() as i64);
            }
        }
    }
    let st = s.stats().unwrap();
    assert_eq!(st.documents, 5);
    assert_eq!(st.by_status["deleted"], 1);
    assert!(s.check().unwrap().ok);
}

/// Metadata filters matching few documents start from the metadata index,
/// common ones walk the documents in order; both must give exactly what
/// filtering the unfiltered list gives, page by page, with the same total.
#[test]
fn selective_and_common_metadata_filters_agree_with_filtering_by_hand() {
    let (_d, s) = common::store();
    let types = [DocType::Api, DocType::Design, DocType::Tutorial];
    let statuses = [Status::Active, Status::Draft, Status::Archived];
    for i in 0..300i64 {
        let d = s
            .create(
                NewDocument::new(
                    format!("doc {:03}", (i * 37) % 300),
                    "x".repeat(1 + (i % 7) as usize),
                )
                .doc_type(types[(i % 3) as usize])
                .status(statuses[(i % 5 % 3) as usize])
                .meta("group", i % 3)
                .meta("ticket", format!("T-{}", i % 150))
                .meta("flag", i % 40 == 0)
                .meta(
                    "owner",
                    if i % 60 == 0 {
                        MetaValue::Null
                    } else {
                        MetaValue::from("team")
                    },
                )
                // The same text as a JSON array and as a string.
                .meta(
                    "tags",
                    if i % 2 == 0 {
                        MetaValue::Json(serde_json::json!(["a"]))
                    } else {
                        MetaValue::from(r#"["a"]"#)
                    },
                ),
            )
            .unwrap();
        if i % 11 == 0 {
            s.delete(d.id, None).unwrap();
        }
    }
    let filters: Vec<Vec<(String, MetaValue)>> = vec![
        vec![("ticket".into(), MetaValue::from("T-7"))],
        vec![("ticket".into(), MetaValue::from("T-none"))],
        vec![("flag".into(), MetaValue::from(true))],
        vec![("owner".into(), MetaValue::Null)],
        vec![("group".into(), MetaValue::from(1i64))],
        vec![
            ("group".into(), MetaValue::from(2i64)),
            ("flag".into(), MetaValue::from(true)),
        ],
        vec![
            ("flag".into(), MetaValue::from(true)),
            ("group".into(), MetaValue::from(0i64)),
        ],
        // Same value, other type: a string "1" is not the integer 1.
        vec![("group".into(), MetaValue::from("1"))],
        // A string spelling a JSON array is not the array.
        vec![("tags".into(), MetaValue::from(r#"["a"]"#))],
        vec![("tags".into(), MetaValue::Json(serde_json::json!(["a"])))],
        // A common string with a selective one, either first.
        vec![
            ("owner".into(), MetaValue::from("team")),
            ("ticket".into(), MetaValue::from("T-7")),
        ],
        vec![
            ("ticket".into(), MetaValue::from("T-8")),
            ("owner".into(), MetaValue::from("team")),
        ],
        vec![("owner".into(), MetaValue::from("team"))],
    ];
    let mut driven_seen = false;
    for meta in &filters {
        for (doc_type, status, include_deleted) in [
            (None, None, false),
            (Some(DocType::Api), None, false),
            (None, Some(Status::Deleted), false),
            (Some(DocType::Tutorial), None, true),
            (None, None, true),
            (Some(DocType::Design), Some(Status::Active), false),
        ] {
            for (sort, order) in [
                (SortField::Title, Order::Asc),
                (SortField::UpdatedAt, Order::Desc),
                (SortField::SizeBytes, Order::Desc),
            ] {
                let base = ListQuery {
                    doc_type,
                    status,
                    include_deleted,
                    sort,
                    order,
                    limit: 1000,
                    ..Default::default()
                };
                let all = s.list(&base).unwrap();
                let expected: Vec<i64> = all
                    .documents
                    .iter()
                    .filter(|d| meta.iter().all(|(k, v)| d.metadata.get(k) == Some(v)))
                    .map(|d| d.id)
                    .collect();
                let bound = all.total / 10 + 1;
                driven_seen |= meta.iter().any(|(k, v)| {
                    (all.documents
                        .iter()
                        .filter(|d| d.metadata.get(k) == Some(v))
                        .count() as i64)
                        < bound
                });
                for (offset, limit) in [(0, 1000), (0, 3), (2, 3)] {
                    let got = s
                        .list(&ListQuery {
                            meta: meta.clone(),
                            offset,
                            limit,
                            ..base.clone()
                        })
                        .unwrap();
                    let want: Vec<i64> = expected
                        .iter()
                        .skip(offset as usize)
                        .take(limit as usize)
                        .copied()
                        .collect();
                    let ids: Vec<i64> = got.documents.iter().map(|d| d.id).collect();
                    assert_eq!(
                        ids, want,
                        "{meta:?} {doc_type:?} {status:?} {sort:?} {offset}+{limit}"
                    );
                    assert_eq!(
                        got.total,
                        expected.len() as i64,
                        "{meta:?} {doc_type:?} {status:?}"
                    );
                }
            }
        }
    }
    assert!(
        driven_seen,
        "no filter was selective enough to drive a list"
    );
}

/// A list reads metadata as a get does, whether it keeps the stored text
/// until the map is used (the common shape) or parses it at once (escapes),
/// and damaged metadata fails the list with a typed error rather than
/// turning up later as an empty map.
#[test]
fn listed_metadata_matches_a_get_and_damage_is_an_error() {
    let (dir, s) = common::store();
    let nested = serde_json::json!(["a", {"b": [1.5, null, -7]}]);
    let plain = s
        .create(
            NewDocument::new("plain", "x")
                .meta("team", "core")
                .meta("n", 3i64)
                .meta("ratio", 0.1)
                .meta("ok", true)
                .meta("tags", MetaValue::Json(nested.clone())),
        )
        .unwrap();
    s.create(
        NewDocument::new("escaped", "y")
            .meta("quote", "say \"hi\"\n")
            .meta("clé \\ \"q\"", MetaValue::Null),
    )
    .unwrap();
    s.create(NewDocument::new("bare", "z")).unwrap();
    let page = s.list(&ListQuery::default()).unwrap();
    assert_eq!(page.documents.len(), 3);
    for d in &page.documents {
        let got = s.get(d.id).unwrap();
        assert_eq!(d.metadata, got.metadata, "{}", d.title);
        assert_eq!(
            serde_json::to_value(&d.metadata).unwrap(),
            serde_json::to_value(&got.metadata).unwrap()
        );
    }
    let listed = page.documents.iter().find(|d| d.id == plain.id).unwrap();
    assert_eq!(listed.metadata.get("tags"), Some(&MetaValue::Json(nested)));
    assert_eq!(listed.metadata.get("ratio"), Some(&MetaValue::Float(0.1)));
    s.close().unwrap();
    drop(s);

    let path = dir.path().join("test.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE documents SET metadata = '{\"team\":\"co' WHERE id = ?1",
        [plain.id],
    )
    .unwrap();
    drop(conn);
    let s = docvault::Store::open(&path, docvault::Config::default()).unwrap();
    match s.list(&ListQuery::default()) {
        Err(docvault::Error::Corrupt(_)) => {}
        other => panic!("expected a corrupt-store error, got {other:?}"),
    }
}

/// Creates add their documents to the per-kind counts that list totals come
/// from (schema 8 counts them in the create, not by a trigger per row): one
/// at a time and in batches mixing kinds, so every (status, type) total
/// matches the documents, and `check` agrees.
#[test]
fn creates_count_their_documents_by_status_and_type() {
    let (_d, s) = common::store();
    let kinds = [
        (DocType::Api, Status::Active),
        (DocType::Api, Status::Draft),
        (DocType::Tutorial, Status::Active),
        (DocType::Design, Status::Archived),
    ];
    let mut want = std::collections::HashMap::new();
    for (i, (ty, st)) in kinds.iter().enumerate() {
        s.create(
            NewDocument::new(format!("one {i}"), "x")
                .doc_type(*ty)
                .status(*st),
        )
        .unwrap();
        *want.entry((*ty, *st)).or_insert(0i64) += 1;
    }
    let batch: Vec<NewDocument> = (0..11)
        .map(|i| {
            let (ty, st) = kinds[i % kinds.len()];
            *want.entry((ty, st)).or_insert(0i64) += 1;
            NewDocument::new(format!("batch {i}"), "y")
                .doc_type(ty)
                .status(st)
        })
        .collect();
    s.create_many(batch).unwrap();
    for ((ty, st), n) in &want {
        let total = s
            .list(&ListQuery {
                doc_type: Some(*ty),
                status: Some(*st),
                ..Default::default()
            })
            .unwrap()
            .total;
        assert_eq!(total, *n, "{ty:?} {st:?}");
    }
    assert_eq!(s.list(&ListQuery::default()).unwrap().total, 15);
    let report = s.check().unwrap();
    assert!(report.ok, "{:?}", report.problems);
}
