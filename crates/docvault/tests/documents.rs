//! Document create / get / update / delete behaviour, including the
//! original's defects, each in a test named for it.

mod common;

use docvault::{
    Config, DocRef, DocType, DocumentPatch, Error, GetOptions, ListQuery, MetaValue, NewDocument,
    Status,
};

fn sha(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn validation_field(e: Error) -> String {
    match e {
        Error::Validation { field, .. } => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn create_returns_the_stored_document() {
    let (_d, s) = common::store();
    let doc = s
        .create(
            NewDocument::new("Install guide", "Run it.")
                .doc_type(DocType::UserGuide)
                .status(Status::Active)
                .meta("team", "docs")
                .meta("priority", 3i64),
        )
        .unwrap();
    assert!(doc.id > 0);
    assert_eq!(doc.title, "Install guide");
    assert_eq!(doc.doc_type, DocType::UserGuide);
    assert_eq!(doc.status, Status::Active);
    assert_eq!(doc.format, "markdown");
    assert_eq!(doc.language, "en");
    assert_eq!(doc.content.as_deref(), Some("Run it."));
    assert_eq!(doc.content_hash, sha("Run it."));
    assert_eq!(doc.size_bytes, 7);
    assert_eq!((doc.version, doc.version_count), (1, 1));
    assert_eq!(doc.access_count, 0);
    assert_eq!(doc.metadata["priority"], MetaValue::Integer(3));
    assert_eq!(doc.created_at, doc.updated_at);
    let by_uuid = s.get(doc.uuid).unwrap();
    assert_eq!(by_uuid.id, doc.id);
    assert_eq!(by_uuid.content, doc.content);
}

#[test]
fn size_bytes_counts_utf8_bytes_not_characters() {
    let (_d, s) = common::store();
    let doc = s.create(NewDocument::new("Café", "héllo wörld ✓")).unwrap();
    assert_eq!(doc.size_bytes, "héllo wörld ✓".len() as i64);
    assert_eq!(doc.content_hash, sha("héllo wörld ✓"));
}

#[test]
fn get_without_content_omits_it() {
    let (_d, s) = common::store();
    let doc = s.create(NewDocument::new("t", "body")).unwrap();
    let got = s
        .get_with(
            doc.id,
            GetOptions {
                include_content: false,
                include_deleted: false,
            },
        )
        .unwrap();
    assert_eq!(got.content, None);
    assert_eq!(got.content_hash, doc.content_hash);
}

/// Uuids are version 7: creation-ordered, so the uuid index grows at its
/// right edge instead of reading and splitting a random leaf per create.
#[test]
fn uuids_follow_creation_order() {
    let (_d, s) = common::store();
    let docs: Vec<_> = (0..200)
        .map(|i| s.create(NewDocument::new(format!("d{i}"), "x")).unwrap())
        .collect();
    for d in &docs {
        assert_eq!(d.uuid.get_version_num(), 7, "{}", d.uuid);
        assert_eq!(s.get(d.uuid).unwrap().id, d.id);
    }
    for w in docs.windows(2) {
        assert!(w[0].uuid < w[1].uuid, "{} then {}", w[0].uuid, w[1].uuid);
    }
    let many = s
        .create_many(
            (0..50)
                .map(|i| NewDocument::new(format!("i{i}"), "y"))
                .collect(),
        )
        .unwrap();
    assert!(many.iter().all(|d| d.uuid.get_version_num() == 7));
    assert!(docs.last().unwrap().uuid < many[0].uuid);
}

#[test]
fn unknown_ids_are_not_found() {
    let (_d, s) = common::store();
    assert_eq!(s.get(42).unwrap_err().kind(), "not_found");
    assert_eq!(s.get(uuid::Uuid::new_v4()).unwrap_err().kind(), "not_found");
    assert_eq!(
        s.update(
            42,
            DocumentPatch {
                title: Some("x".into()),
                ..Default::default()
            }
        )
        .unwrap_err()
        .kind(),
        "not_found"
    );
    assert_eq!(s.delete(42, None).unwrap_err().kind(), "not_found");
    assert_eq!(s.hard_delete(42, None).unwrap_err().kind(), "not_found");
    assert_eq!(s.versions(42).unwrap_err().kind(), "not_found");
    assert!(DocRef::parse("not-an-id").is_err());
}

#[test]
fn get_many_preserves_order_and_reports_missing() {
    let (_d, s) = common::store();
    let a = s.create(NewDocument::new("a", "1")).unwrap();
    let b = s.create(NewDocument::new("b", "2")).unwrap();
    let c = s.create(NewDocument::new("c", "3")).unwrap();
    s.delete(c.id, None).unwrap();
    let got = s
        .get_many(&[b.id, 999, a.id, c.id], GetOptions::default())
        .unwrap();
    let titles: Vec<Option<&str>> = got
        .iter()
        .map(|d| d.as_ref().map(|d| d.title.as_str()))
        .collect();
    assert_eq!(titles, vec![Some("b"), None, Some("a"), None]);
}

#[test]
fn validation_errors_name_the_field_and_write_nothing() {
    let (_d, s) = common::store();
    let cases: Vec<(NewDocument, &str)> = vec![
        (NewDocument::new("", "x"), "title"),
        (NewDocument::new("   ", "x"), "title"),
        (NewDocument::new("a".repeat(256), "x"), "title"),
        (
            NewDocument {
                language: Some("EN".into()),
                ..NewDocument::new("t", "x")
            },
            "language",
        ),
        (
            NewDocument {
                language: Some("eng".into()),
                ..NewDocument::new("t", "x")
            },
            "language",
        ),
        (NewDocument::new("t", "nul\0byte"), "content"),
        (
            NewDocument {
                quality_score: Some(f64::NAN),
                ..NewDocument::new("t", "x")
            },
            "quality_score",
        ),
        (NewDocument::new("t", "x").meta("", "v"), "metadata"),
        (
            NewDocument::new("t", "x").meta("k".repeat(101), "v"),
            "metadata",
        ),
        (
            NewDocument::new("t", "x").meta("f", f64::INFINITY),
            "metadata",
        ),
        (NewDocument::new("t", "x").status(Status::Deleted), "status"),
    ];
    for (doc, field) in cases {
        let e = s.create(doc).unwrap_err();
        assert_eq!(e.kind(), "validation");
        assert_eq!(validation_field(e), field);
    }
    // 255 characters is fine, even when they are multi-byte.
    s.create(NewDocument::new("é".repeat(255), "x")).unwrap();
    assert_eq!(s.list(&ListQuery::default()).unwrap().total, 1);
    assert_eq!(s.stats().unwrap().audit_entries, 1);
}

#[test]
fn unknown_enum_values_list_the_valid_ones() {
    let e = "manual".parse::<DocType>().unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("user_guide") && msg.contains("changelog"),
        "{msg}"
    );
    let e = "gone".parse::<Status>().unwrap_err();
    assert!(e.to_string().contains("archived"));
}

#[test]
fn oversized_content_is_rejected() {
    let (_d, s) = common::store_with(Config {
        max_content_bytes: 1024,
        ..Config::default()
    });
    let e = s
        .create(NewDocument::new("big", "x".repeat(1025)))
        .unwrap_err();
    assert_eq!(validation_field(e), "content");
    s.create(NewDocument::new("ok", "x".repeat(1024))).unwrap();
    let doc = s.create(NewDocument::new("small", "x")).unwrap();
    let e = s
        .update(
            doc.id,
            DocumentPatch {
                content: Some("y".repeat(2000)),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(validation_field(e), "content");
    assert_eq!(s.get(doc.id).unwrap().content.as_deref(), Some("x"));
}

#[test]
fn binary_content_from_bytes_is_rejected() {
    let max = 10 << 20;
    let e = docvault::validate::content_from_bytes(vec![0xff, 0xfe, 0x00, 0x41], max).unwrap_err();
    assert_eq!(validation_field(e), "content");
    let e = docvault::validate::content_from_bytes(b"ab\0cd".to_vec(), max).unwrap_err();
    assert_eq!(validation_field(e), "content");
    assert_eq!(
        docvault::validate::content_from_bytes("ok ✓".as_bytes().to_vec(), max).unwrap(),
        "ok ✓"
    );
}

#[test]
fn defect_update_overwrote_omitted_fields_with_defaults() {
    let (_d, s) = common::store();
    let doc = s
        .create(NewDocument {
            doc_type: Some(DocType::Api),
            status: Some(Status::Active),
            language: Some("de".into()),
            format: Some("rst".into()),
            source_path: Some("api/x.rst".into()),
            quality_score: Some(80.0),
            ..NewDocument::new("API", "body").meta("team", "core")
        })
        .unwrap();
    let up = s
        .update(
            doc.id,
            DocumentPatch {
                title: Some("API v2".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(up.title, "API v2");
    assert_eq!(up.doc_type, DocType::Api);
    assert_eq!(up.status, Status::Active);
    assert_eq!(up.language, "de");
    assert_eq!(up.format, "rst");
    assert_eq!(up.source_path.as_deref(), Some("api/x.rst"));
    assert_eq!(up.quality_score, Some(80.0));
    assert_eq!(up.content.as_deref(), Some("body"));
    assert_eq!(up.metadata["team"], MetaValue::from("core"));
    assert_eq!(up.version, 1, "a title change is not a content version");
    let reread = s.get(doc.id).unwrap();
    assert_eq!(reread.title, "API v2");
    assert_eq!(reread.language, "de");
}

#[test]
fn defect_content_could_never_be_cleared() {
    let (_d, s) = common::store();
    let doc = s.create(NewDocument::new("t", "something")).unwrap();
    let up = s
        .update(
            doc.id,
            DocumentPatch {
                content: Some(String::new()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(up.content.as_deref(), Some(""));
    assert_eq!(up.size_bytes, 0);
    assert_eq!(up.content_hash, sha(""));
    assert_eq!(up.version, 2);
    assert_eq!(s.get(doc.id).unwrap().content.as_deref(), Some(""));
}

#[test]
fn defect_updated_at_changed_on_every_read() {
    let (_d, s) = common::store();
    let doc = s.create(NewDocument::new("t", "x")).unwrap();
    for _ in 0..5 {
        std::thread::sleep(std::time::Duration::from_millis(2));
        let got = s.get(doc.id).unwrap();
        assert_eq!(got.updated_at, doc.updated_at);
    }
    s.flush().unwrap();
    let got = s.get(doc.id).unwrap();
    assert_eq!(got.updated_at, doc.updated_at);
    assert_eq!(got.access_count, 6);
    std::thread::sleep(std::time::Duration::from_millis(2));
    let up = s
        .update(
            doc.id,
            DocumentPatch {
                title: Some("t2".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(up.updated_at > doc.updated_at);
}

#[test]
fn clearing_optional_fields() {
    let (_d, s) = common::store();
    let doc = s
        .create(NewDocument {
            source_path: Some("a.md".into()),
            quality_score: Some(5.0),
            ..NewDocument::new("t", "x")
        })
        .unwrap();
    let up = s
        .update(
            doc.id,
            DocumentPatch {
                source_path: Some(None),
                quality_score: Some(None),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(up.source_path, None);
    assert_eq!(up.quality_score, None);
}

#[test]
fn a_patch_that_changes_nothing_writes_nothing() {
    let (_d, s) = common::store();
    let doc = s.create(NewDocument::new("t", "x")).unwrap();
    let same = s
        .update(
            doc.id,
            DocumentPatch {
                title: Some("t".into()),
                content: Some("x".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(same.updated_at, doc.updated_at);
    assert_eq!(same.version, 1);
    assert_eq!(s.stats().unwrap().audit_entries, 1);
}

#[test]
fn expected_version_conflict_changes_nothing() {
    let (_d, s) = common::store();
    let doc = s.create(NewDocument::new("t", "v1")).unwrap();
    s.update(
        doc.id,
        DocumentPatch {
            content: Some("v2".into()),
            expect_version: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    let e = s
        .update(
            doc.id,
            DocumentPatch {
                content: Some("stale edit".into()),
                title: Some("stale title".into()),
                expect_version: Some(1),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(
        e,
        Error::Conflict {
            expected: 1,
            actual: 2,
            ..
        }
    ));
    let now = s.get(doc.id).unwrap();
    assert_eq!(now.content.as_deref(), Some("v2"));
    assert_eq!(now.title, "t");
    assert_eq!(now.version, 2);
}

#[test]
fn status_deleted_cannot_be_set_by_update() {
    let (_d, s) = common::store();
    let doc = s.create(NewDocument::new("t", "x")).unwrap();
    let e = s
        .update(
            doc.id,
            DocumentPatch {
                status: Some(Status::Deleted),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(validation_field(e), "status");
}

#[test]
fn metadata_types_round_trip_exactly() {
    let (_d, s) = common::store();
    let doc = s
        .create(
            NewDocument::new("t", "x")
                .meta("s", "text")
                .meta("i", 42i64)
                .meta("f", 42.5)
                .meta("whole_float", 42.0)
                .meta("b", true)
                .meta("n", MetaValue::Null)
                .meta(
                    "arr",
                    MetaValue::Json(serde_json::json!([1, "two", {"three": 3}])),
                )
                .meta(
                    "obj",
                    MetaValue::Json(serde_json::json!({"a": {"b": [true]}})),
                ),
        )
        .unwrap();
    let got = s.get(doc.id).unwrap().metadata.clone();
    assert_eq!(got["s"], MetaValue::String("text".into()));
    assert_eq!(got["i"], MetaValue::Integer(42));
    assert_eq!(got["f"], MetaValue::Float(42.5));
    assert_eq!(got["whole_float"], MetaValue::Float(42.0));
    assert_eq!(got["b"], MetaValue::Bool(true));
    assert_eq!(got["n"], MetaValue::Null);
    assert_eq!(
        got["arr"],
        MetaValue::Json(serde_json::json!([1, "two", {"three": 3}]))
    );
    // The original read 42 back as 42.0: through JSON too it stays 42.
    let json = serde_json::to_value(&got).unwrap();
    assert_eq!(json["i"].to_string(), "42");
    assert_eq!(json["whole_float"].to_string(), "42.0");
    assert_eq!(
        MetaValue::from_json(serde_json::json!(42)).unwrap(),
        MetaValue::Integer(42)
    );
    assert!(MetaValue::from_json(serde_json::json!(u64::MAX)).is_err());
}

/// Regression: serde_json's default float parser is not always exact, and
/// a document read back from disk (its metadata column is JSON) returned
/// 1.865947633148075e74 for 1.8659476331480753e74. Found by the round-trip
/// property test in `metadata`.
#[test]
fn metadata_floats_read_back_bit_for_bit() {
    let (_d, s) = common::store_with(docvault::Config {
        cache_capacity_bytes: 0,
        ..Default::default()
    });
    let hard = 1.865_947_633_148_075_3e74_f64;
    // The same value as a user would type it, parsed as the CLI parses JSON.
    let typed: serde_json::Value = serde_json::from_str("1.8659476331480753e74").unwrap();
    let doc = s
        .create(
            NewDocument::new("t", "x")
                .meta("f", hard)
                .meta("typed", MetaValue::from_json(typed).unwrap()),
        )
        .unwrap();
    let got = s.get(doc.id).unwrap();
    assert_eq!(got.metadata["f"], MetaValue::Float(hard));
    assert_eq!(got.metadata["typed"], MetaValue::Float(hard));
    let listed = s
        .list(&docvault::ListQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(listed.documents[0].metadata["f"], MetaValue::Float(hard));
}

#[test]
fn metadata_set_replace_and_remove() {
    let (_d, s) = common::store();
    let doc = s
        .create(NewDocument::new("t", "x").meta("a", 1i64).meta("b", 2i64))
        .unwrap();
    let mut p = DocumentPatch::default();
    p.set_meta.insert("b".into(), MetaValue::from("two"));
    p.set_meta.insert("c".into(), MetaValue::from(true));
    p.unset_meta.push("a".into());
    p.unset_meta.push("absent".into());
    let up = s.update(doc.id, p).unwrap();
    let keys: Vec<&str> = up.metadata.keys().map(String::as_str).collect();
    assert_eq!(keys, ["b", "c"]);
    assert_eq!(up.metadata["b"], MetaValue::from("two"));
    let up = s
        .update(
            doc.id,
            DocumentPatch {
                replace_meta: Some([("z".to_string(), MetaValue::Integer(9))].into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(up.metadata.len(), 1);
    assert_eq!(s.get(doc.id).unwrap().metadata, up.metadata);
}

#[test]
fn defect_soft_deleted_documents_returned_on_some_paths() {
    let (_d, s) = common::store();
    let doc = s.create(NewDocument::new("t", "x")).unwrap();
    s.delete(doc.id, Some("alice")).unwrap();
    // Every read path hides it: by id, by uuid, many, list.
    assert_eq!(s.get(doc.id).unwrap_err().kind(), "not_found");
    assert_eq!(s.get(doc.uuid).unwrap_err().kind(), "not_found");
    assert_eq!(
        s.get_many(&[doc.id], GetOptions::default()).unwrap(),
        vec![None]
    );
    assert_eq!(s.list(&ListQuery::default()).unwrap().total, 0);
    // Writes treat it as gone too.
    assert_eq!(
        s.update(
            doc.id,
            DocumentPatch {
                title: Some("x".into()),
                ..Default::default()
            }
        )
        .unwrap_err()
        .kind(),
        "not_found"
    );
    // Unless asked for explicitly.
    let opts = GetOptions {
        include_deleted: true,
        ..GetOptions::default()
    };
    assert_eq!(s.get_with(doc.uuid, opts).unwrap().status, Status::Deleted);
    let all = s
        .list(&ListQuery {
            include_deleted: true,
            ..ListQuery::default()
        })
        .unwrap();
    assert_eq!(all.total, 1);
}

#[test]
fn undelete_restores_the_previous_status() {
    let (_d, s) = common::store();
    let doc = s
        .create(NewDocument::new("t", "x").status(Status::Active))
        .unwrap();
    assert_eq!(s.undelete(doc.id, None).unwrap_err().kind(), "validation");
    s.delete(doc.id, None).unwrap();
    let back = s.undelete(doc.id, None).unwrap();
    assert_eq!(back.status, Status::Active);
    assert_eq!(s.get(doc.id).unwrap().status, Status::Active);
}

#[test]
fn defect_deleted_document_readable_by_uuid_after_secure_delete() {
    let (_d, s) = common::store();
    let doc = s
        .create(NewDocument::new("secret plan", "the launch code is 12345").meta("k", "v"))
        .unwrap();
    s.update(
        doc.id,
        DocumentPatch {
            content: Some("second version".into()),
            ..Default::default()
        },
    )
    .unwrap();
    s.hard_delete(doc.uuid, Some("admin")).unwrap();
    let opts = GetOptions {
        include_deleted: true,
        ..GetOptions::default()
    };
    assert_eq!(s.get_with(doc.uuid, opts).unwrap_err().kind(), "not_found");
    assert_eq!(s.get_with(doc.id, opts).unwrap_err().kind(), "not_found");
    assert_eq!(s.versions(doc.id).unwrap_err().kind(), "not_found");
    let st = s.stats().unwrap();
    assert_eq!((st.documents, st.versions, st.metadata_entries), (0, 0, 0));
    // The audit trail keeps the fact, not the content.
    let trail = s
        .audit(&docvault::AuditQuery {
            document_id: Some(doc.id),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(trail[0].operation, "hard_delete");
    let text = serde_json::to_string(&trail).unwrap();
    assert!(!text.contains("launch code"));
}

#[test]
fn hard_delete_zeroes_the_freed_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let marker = "ZEBRA-MARKER-7f3a";
    {
        let s = docvault::Store::open(&path, Config::default()).unwrap();
        // Enough text that the content sits on its own pages.
        let body = format!("{marker} {}", "filler text ".repeat(2000));
        let doc = s.create(NewDocument::new("doomed", body.clone())).unwrap();
        s.update(
            doc.id,
            DocumentPatch {
                content: Some(format!("{body} v2")),
                ..Default::default()
            },
        )
        .unwrap();
        s.create(NewDocument::new("keeper", "stays")).unwrap();
        s.hard_delete(doc.id, None).unwrap();
        s.close().unwrap();
    }
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let found = bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
        assert!(!found, "marker survived a hard delete");
    }
}

#[test]
fn create_many_is_all_or_nothing() {
    let (_d, s) = common::store();
    let e = s
        .create_many(vec![NewDocument::new("ok", "1"), NewDocument::new("", "2")])
        .unwrap_err();
    assert_eq!(validation_field(e), "documents[1].title");
    assert_eq!(s.stats().unwrap().documents, 0);
    let docs = s
        .create_many(
            (0..50)
                .map(|i| NewDocument::new(format!("d{i}"), "x"))
                .collect(),
        )
        .unwrap();
    assert_eq!(docs.len(), 50);
    assert_eq!(s.stats().unwrap().documents, 50);
    assert_eq!(s.verify_audit().unwrap().entries_checked, 50);
}

#[test]
fn resolve_finds_ids_without_counting_a_read() {
    let (_d, s) = common::store();
    let doc = s.create(NewDocument::new("t", "x")).unwrap();
    assert_eq!(s.resolve(doc.uuid).unwrap(), doc.id);
    s.delete(doc.id, None).unwrap();
    assert_eq!(s.resolve(doc.uuid).unwrap(), doc.id);
    assert_eq!(
        s.resolve(uuid::Uuid::new_v4()).unwrap_err().kind(),
        "not_found"
    );
    let any = GetOptions {
        include_deleted: true,
        ..GetOptions::default()
    };
    assert_eq!(s.get_with(doc.id, any).unwrap().access_count, 1);
}

#[test]
fn find_by_source_path() {
    let (_d, s) = common::store();
    assert!(s.find_by_source_path("a/b.md").unwrap().is_none());
    let doc = s
        .create(NewDocument {
            source_path: Some("a/b.md".into()),
            ..NewDocument::new("t", "x")
        })
        .unwrap();
    assert_eq!(s.find_by_source_path("a/b.md").unwrap().unwrap().id, doc.id);
}

#[test]
fn numeric_looking_strings_stay_strings() {
    // Regression: a column with numeric affinity turned "42" into 42 and
    // made the document unreadable.
    let (_d, s) = common::store();
    let doc = s
        .create(
            NewDocument::new("t", "x")
                .meta("version", "2")
                .meta("zip", "01234")
                .meta("real", "1.50")
                .meta("int", 2i64),
        )
        .unwrap();
    let got = s.get(doc.id).unwrap();
    assert_eq!(got.metadata["version"], MetaValue::from("2"));
    assert_eq!(got.metadata["zip"], MetaValue::from("01234"));
    assert_eq!(got.metadata["real"], MetaValue::from("1.50"));
    assert_eq!(got.metadata["int"], MetaValue::Integer(2));
    let mut p = DocumentPatch::default();
    p.set_meta.insert("zip".into(), MetaValue::from("007"));
    s.update(doc.id, p).unwrap();
    s.clear_cache();
    assert_eq!(
        s.get(doc.id).unwrap().metadata["zip"],
        MetaValue::from("007")
    );
    let q = ListQuery {
        meta: vec![("version".into(), MetaValue::from("2"))],
        ..Default::default()
    };
    assert_eq!(s.list(&q).unwrap().total, 1);
    let q = ListQuery {
        meta: vec![("int".into(), MetaValue::Integer(2))],
        ..Default::default()
    };
    assert_eq!(s.list(&q).unwrap().total, 1);
    assert!(s.check().unwrap().ok);
}

/// Without a cache, a get keeps metadata of the store's own shape as text
/// until it is used (and parses metadata with escapes at once): either way
/// it reads back as with a cache, by id and by uuid, and damaged metadata
/// is still a typed error at the get, not an empty map later.
#[test]
fn gets_without_a_cache_read_metadata_as_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nc.db");
    let tags = MetaValue::Json(serde_json::json!(["x", {"y": 2.5}]));
    let cached = docvault::Store::open(&path, Config::default()).unwrap();
    let written: Vec<_> = [
        NewDocument::new("plain", "body")
            .meta("team", "core")
            .meta("n", -4i64)
            .meta("tags", tags.clone()),
        NewDocument::new("escaped", "body")
            .meta("q", "a \"quoted\" word")
            .meta("tags", tags.clone()),
    ]
    .into_iter()
    .map(|n| cached.create(n).unwrap())
    .collect();
    cached.close().unwrap();
    drop(cached);
    let uncached = Config {
        cache_capacity_bytes: 0,
        ..Config::default()
    };
    let s = docvault::Store::open(&path, uncached.clone()).unwrap();
    for d in &written {
        for r in [DocRef::Id(d.id), DocRef::Uuid(d.uuid)] {
            let got = s.get(r).unwrap();
            assert_eq!(got.metadata, d.metadata, "{}", d.title);
            assert_eq!(got.metadata.get("tags"), Some(&tags));
        }
    }
    s.close().unwrap();
    drop(s);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE documents SET metadata = '{\"n\":01}' WHERE id = ?1",
        [written[0].id],
    )
    .unwrap();
    drop(conn);
    let s = docvault::Store::open(&path, uncached).unwrap();
    let id = written[0].id;
    assert!(
        matches!(s.get(id), Err(Error::Corrupt(_))),
        "{:?}",
        s.get(id)
    );
}
