//! Full-text search: the query language, ranking, highlighting, filters,
//! languages, and an index that stays consistent with every kind of write.

mod common;

use docvault::{
    DocType, DocumentPatch, Error, MetaValue, Metadata, NewDocument, SearchOptions, SearchQuery,
    SearchResults, Status, Store,
};

fn search(s: &Store, q: &str) -> SearchResults {
    s.search(&SearchQuery::new(q))
        .unwrap_or_else(|e| panic!("{q:?}: {e}"))
}

fn ids(s: &Store, q: &str) -> Vec<i64> {
    let mut v: Vec<i64> = search(s, q).results.iter().map(|h| h.id).collect();
    v.sort_unstable();
    v
}

fn query_error(s: &Store, q: &str) -> String {
    match s.search(&SearchQuery::new(q)) {
        Err(Error::Validation { field, reason }) => {
            assert_eq!(field, "query", "{q:?}");
            reason
        }
        other => panic!("{q:?}: expected a query validation error, got {other:?}"),
    }
}

/// The store's check passes, including the search index's part (FTS5's
/// integrity-check against the documents).
fn assert_consistent(s: &Store) {
    let report = s.check().expect("check");
    assert!(report.ok, "{:?}", report.problems);
}

fn patch() -> DocumentPatch {
    DocumentPatch::default()
}

fn meta(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), MetaValue::from(*v)))
        .collect()
}

// ---------------------------------------------------------------- basics

#[test]
fn a_word_in_two_documents_finds_both_with_the_term_highlighted() {
    let (_d, s) = common::store();
    let a = s
        .create(NewDocument::new("Alpha", "The kernel boots quickly."))
        .unwrap();
    let b = s
        .create(NewDocument::new("Beta", "Rebuild the kernel, then reboot."))
        .unwrap();
    s.create(NewDocument::new("Gamma", "Nothing relevant here."))
        .unwrap();
    let r = search(&s, "kernel");
    assert_eq!(r.total, 2);
    assert_eq!(ids(&s, "kernel"), vec![a.id, b.id]);
    for hit in &r.results {
        assert!(
            hit.snippet.contains("<mark>kernel</mark>"),
            "{:?}",
            hit.snippet
        );
    }
}

#[test]
fn hits_carry_the_document_fields() {
    let (_d, s) = common::store();
    let d = s
        .create(
            NewDocument::new("Install guide", "Run the installer.")
                .doc_type(DocType::UserGuide)
                .status(Status::Active),
        )
        .unwrap();
    let r = search(&s, "installer");
    assert_eq!(r.query, "installer");
    let h = &r.results[0];
    assert_eq!(h.id, d.id);
    assert_eq!(h.uuid, d.uuid);
    assert_eq!(h.title, "Install guide");
    assert_eq!(h.doc_type, DocType::UserGuide);
    assert_eq!(h.status, Status::Active);
    assert!(h.score > 0.0);
    assert_eq!(h.title_highlighted, "<mark>Install</mark> guide");
    assert_eq!(h.snippet, "Run the <mark>installer</mark>.");
}

#[test]
fn results_serialize_to_the_documented_json_shape() {
    let (_d, s) = common::store();
    s.create(NewDocument::new("Shape", "json shape test"))
        .unwrap();
    let v = serde_json::to_value(search(&s, "shape")).unwrap();
    assert_eq!(v["query"], "shape");
    assert_eq!(v["total"], 1);
    let hit = &v["results"][0];
    for key in [
        "id",
        "uuid",
        "title",
        "type",
        "status",
        "score",
        "title_highlighted",
        "snippet",
    ] {
        assert!(hit.get(key).is_some(), "missing {key} in {hit}");
    }
    assert_eq!(hit["type"], "other");
    let back: SearchResults = serde_json::from_value(v).unwrap();
    assert_eq!(back.total, 1);
}

#[test]
fn scores_never_increase_down_the_list() {
    let (_d, s) = common::store();
    let docs = (0..40)
        .map(|i| {
            NewDocument::new(
                format!("Doc {i}"),
                format!(
                    "{} filler text that pads the body {}",
                    "storage ".repeat(i % 7 + 1),
                    "padding ".repeat(i % 5)
                ),
            )
        })
        .collect();
    s.create_many(docs).unwrap();
    let mut q = SearchQuery::new("storage");
    q.limit = 100;
    let r = s.search(&q).unwrap();
    assert_eq!(r.total, 40);
    assert!(r.results.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn limit_offset_and_total_page_through_the_same_order() {
    let (_d, s) = common::store();
    let docs = (0..25)
        .map(|i| NewDocument::new(format!("Page {i}"), "paging ".repeat(i + 1)))
        .collect();
    s.create_many(docs).unwrap();
    let mut all = SearchQuery::new("paging");
    all.limit = 25;
    let all: Vec<i64> = s
        .search(&all)
        .unwrap()
        .results
        .iter()
        .map(|h| h.id)
        .collect();
    let mut paged = Vec::new();
    for page in 0..3 {
        let mut q = SearchQuery::new("paging");
        q.limit = 10;
        q.offset = page * 10;
        let r = s.search(&q).unwrap();
        assert_eq!(r.total, 25);
        paged.extend(r.results.iter().map(|h| h.id));
    }
    assert_eq!(paged, all);
    let mut past = SearchQuery::new("paging");
    past.offset = 100;
    let r = s.search(&past).unwrap();
    assert_eq!((r.total, r.results.len()), (25, 0));
}

#[test]
fn ranks_and_scores_equal_fts5_bm25_with_the_same_weights() {
    let (dir, s) = common::store();
    let words = ["common", "rare", "mid"];
    let docs = (0..120)
        .map(|i| {
            let mut body = String::new();
            for j in 0..(i % 9 + 1) {
                body.push_str(words[(i + j) % 3]);
                body.push(' ');
                body.push_str(&"pad ".repeat((i * 7 + j) % 13));
            }
            let title = if i % 10 == 0 {
                "common title"
            } else {
                "other title"
            };
            NewDocument::new(title, body).meta("tag", if i % 4 == 0 { "common" } else { "x" })
        })
        .collect();
    s.create_many(docs).unwrap();
    let raw = rusqlite::Connection::open(dir.path().join("test.db")).unwrap();
    for (text, limit, offset) in [
        ("common", 10, 0),
        ("common", 3, 5),
        ("rare mid", 10, 0),
        ("common OR rare", 7, 2),
        ("title:common", 5, 0),
        ("meta:common", 40, 0),
    ] {
        let mut q = SearchQuery::new(text);
        q.limit = limit;
        q.offset = offset;
        let ours: Vec<(i64, f64)> = s
            .search(&q)
            .unwrap()
            .results
            .iter()
            .map(|h| (h.id, h.score))
            .collect();
        let fts = match text {
            "common" => r#""common""#,
            "rare mid" => r#""rare" AND "mid""#,
            "title:common" => r#"{title title_cjk} : "common""#,
            "meta:common" => r#"{meta meta_cjk} : "common""#,
            _ => r#"("common" OR "rare")"#,
        };
        let mut stmt = raw
            .prepare(
                "SELECT rowid, -bm25(search_fts, 10.0, 1.0, 0.5, 10.0, 1.0, 0.5) AS s FROM search_fts
                 WHERE search_fts MATCH ?1 ORDER BY s DESC, rowid LIMIT ?2 OFFSET ?3",
            )
            .unwrap();
        let theirs: Vec<(i64, f64)> = stmt
            .query_map(rusqlite::params![fts, limit, offset], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(ours.len(), theirs.len(), "{text}");
        for (o, t) in ours.iter().zip(&theirs) {
            assert_eq!(o.0, t.0, "{text}: {ours:?} vs {theirs:?}");
            assert!((o.1 - t.1).abs() <= 1e-12 * t.1.abs().max(1.0), "{text}");
        }
    }
}

// ------------------------------------------------------- query language

#[test]
fn all_plain_words_must_match() {
    let (_d, s) = common::store();
    let both = s.create(NewDocument::new("t", "apple banana")).unwrap();
    s.create(NewDocument::new("t", "apple cherry")).unwrap();
    assert_eq!(ids(&s, "apple banana"), vec![both.id]);
    assert_eq!(ids(&s, "banana AND apple"), vec![both.id]);
}

#[test]
fn phrases_match_words_in_order_only() {
    let (_d, s) = common::store();
    let a = s
        .create(NewDocument::new("t", "the quick brown fox"))
        .unwrap();
    s.create(NewDocument::new("t", "brown and quick")).unwrap();
    assert_eq!(ids(&s, r#""quick brown""#), vec![a.id]);
    assert_eq!(ids(&s, r#""brown quick""#), Vec::<i64>::new());
}

#[test]
fn prefixes_exclusions_and_or() {
    let (_d, s) = common::store();
    let a = s
        .create(NewDocument::new("t", "configuration manual"))
        .unwrap();
    let b = s.create(NewDocument::new("t", "config file")).unwrap();
    let c = s.create(NewDocument::new("t", "manual pages")).unwrap();
    assert_eq!(ids(&s, "conf*"), vec![a.id, b.id]);
    assert_eq!(ids(&s, "manual -configuration"), vec![c.id]);
    assert_eq!(ids(&s, "manual NOT pages"), vec![a.id]);
    assert_eq!(ids(&s, "file OR pages"), vec![b.id, c.id]);
    assert_eq!(ids(&s, "file OR pages manual"), vec![c.id]);
}

#[test]
fn field_scopes_restrict_the_column() {
    let (_d, s) = common::store();
    let t = s
        .create(NewDocument::new("Deploy steps", "nothing here"))
        .unwrap();
    let c = s
        .create(NewDocument::new("Other", "how to deploy"))
        .unwrap();
    let m = s
        .create(NewDocument::new("Third", "body").meta("stage", "deploy"))
        .unwrap();
    assert_eq!(ids(&s, "deploy"), vec![t.id, c.id, m.id]);
    assert_eq!(ids(&s, "title:deploy"), vec![t.id]);
    assert_eq!(ids(&s, "content:deploy"), vec![c.id]);
    assert_eq!(ids(&s, "meta:deploy"), vec![m.id]);
    assert_eq!(ids(&s, "metadata:deploy"), vec![m.id]);
    assert_eq!(ids(&s, "deploy -title:deploy"), vec![c.id, m.id]);
    // Unknown fields are literal text.
    assert_eq!(ids(&s, "stage:deploy"), Vec::<i64>::new());
}

#[test]
fn punctuation_heavy_words_are_literal_text() {
    let (_d, s) = common::store();
    let d = s
        .create(NewDocument::new(
            "Notes",
            "A multi-agent setup on Ubuntu 20.04 in C++, don't panic.",
        ))
        .unwrap();
    for q in [
        "multi-agent",
        "20.04",
        "C++",
        "don't",
        "Ubuntu 20.04",
        "c++ don't",
    ] {
        assert_eq!(ids(&s, q), vec![d.id], "{q}");
    }
    // `multi-agent` is the phrase "multi agent": order matters.
    assert_eq!(ids(&s, "agent-multi"), Vec::<i64>::new());
}

#[test]
fn hostile_queries_never_fail_with_anything_but_a_query_validation_error() {
    let (_d, s) = common::store();
    s.create(NewDocument::new(
        "Or and not",
        "near match title content meta",
    ))
    .unwrap();
    let hostile = [
        "\"unbalanced",
        "unbalanced\"",
        "\"\"\"",
        "-",
        "--",
        "*",
        "**",
        "a**",
        "OR",
        "AND OR NOT",
        "NOT",
        "NEAR(a b)",
        "NEAR/2",
        "(a OR b",
        "a)",
        "{title}: a",
        "title:",
        "title:\"\"",
        "-title:",
        ":::",
        "^a",
        "a + b",
        "col:x",
        "rowid:1",
        "search_fts:match",
        "'; DROP TABLE documents; --",
        "\u{0}\u{1}\u{7f}",
        "a\u{0}b",
        "\u{202e}rtl\u{200b}",
        "\u{E000}\u{E001}",
        "😀 emoji",
        "中",
        "中\"文",
        "-中文",
        "title:中文*",
        "ä\u{308}",
    ];
    for q in hostile {
        match s.search(&SearchQuery::new(q)) {
            Ok(_) => {}
            Err(Error::Validation { field, .. }) if field == "query" => {}
            Err(e) => panic!("{q:?}: {e:?}"),
        }
    }
    assert_consistent(&s);
}

#[test]
fn empty_punctuation_and_exclusion_only_queries_are_validation_errors() {
    let (_d, s) = common::store();
    s.create(NewDocument::new("t", "body")).unwrap();
    assert!(query_error(&s, "").contains("empty"));
    assert!(query_error(&s, "   \t\n").contains("empty"));
    assert!(query_error(&s, "!!! ?? ... ---").contains("no words"));
    assert!(query_error(&s, "\"\" * ()").contains("no words"));
    assert!(query_error(&s, "-body").contains("excluded"));
    assert!(query_error(&s, &"x".repeat(docvault::MAX_QUERY_CHARS + 1)).contains("at most"));
    assert!(query_error(&s, &"w ".repeat(docvault::MAX_QUERY_TERMS + 1)).contains("terms"));
}

#[test]
fn other_inputs_are_validated_by_field() {
    let (_d, s) = common::store();
    let field = |q: SearchQuery| match s.search(&q) {
        Err(Error::Validation { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let base = || SearchQuery::new("x");
    assert_eq!(field(SearchQuery { limit: 0, ..base() }), "limit");
    assert_eq!(
        field(SearchQuery {
            limit: 1001,
            ..base()
        }),
        "limit"
    );
    assert_eq!(
        field(SearchQuery {
            offset: -1,
            ..base()
        }),
        "offset"
    );
    assert_eq!(
        field(SearchQuery {
            status: Some(Status::Deleted),
            ..base()
        }),
        "status"
    );
    let opts = |o: SearchOptions| SearchQuery {
        options: o,
        ..base()
    };
    let d = SearchOptions::default;
    assert_eq!(
        field(opts(SearchOptions {
            title_weight: f64::NAN,
            ..d()
        })),
        "title_weight"
    );
    assert_eq!(
        field(opts(SearchOptions {
            content_weight: -1.0,
            ..d()
        })),
        "content_weight"
    );
    assert_eq!(
        field(opts(SearchOptions {
            title_weight: 0.0,
            content_weight: 0.0,
            metadata_weight: 0.0,
            ..d()
        })),
        "title_weight"
    );
    assert_eq!(
        field(opts(SearchOptions {
            snippet_tokens: 0,
            ..d()
        })),
        "snippet_tokens"
    );
    assert_eq!(
        field(opts(SearchOptions {
            snippet_tokens: 65,
            ..d()
        })),
        "snippet_tokens"
    );
    assert_eq!(
        field(opts(SearchOptions {
            highlight_open: "a\0".into(),
            ..d()
        })),
        "highlight_open"
    );
    let mut bad_meta = base();
    bad_meta.meta = vec![(" padded ".into(), MetaValue::from("x"))];
    assert_eq!(field(bad_meta), "metadata");
}

// ------------------------------------------------------ ranking, display

#[test]
fn title_outranks_content_outranks_metadata_by_default() {
    let (_d, s) = common::store();
    let m = s
        .create(NewDocument::new("One", "filler words here").meta("k", "zebra"))
        .unwrap();
    let c = s
        .create(NewDocument::new("Two", "zebra filler words"))
        .unwrap();
    let t = s
        .create(NewDocument::new("Zebra", "filler words here"))
        .unwrap();
    s.create(NewDocument::new("Four", "unrelated")).unwrap();
    s.create(NewDocument::new("Five", "unrelated")).unwrap();
    let order: Vec<i64> = search(&s, "zebra").results.iter().map(|h| h.id).collect();
    assert_eq!(order, vec![t.id, c.id, m.id]);
}

#[test]
fn column_weights_are_configurable() {
    let (_d, s) = common::store();
    let t = s
        .create(NewDocument::new("Zebra", "filler words here"))
        .unwrap();
    let c = s
        .create(NewDocument::new("Two", "zebra filler words"))
        .unwrap();
    s.create(NewDocument::new("Four", "unrelated")).unwrap();
    let mut q = SearchQuery::new("zebra");
    q.options.title_weight = 0.1;
    q.options.content_weight = 5.0;
    let order: Vec<i64> = s.search(&q).unwrap().results.iter().map(|h| h.id).collect();
    assert_eq!(order, vec![c.id, t.id]);
}

#[test]
fn markers_and_snippet_length_are_configurable() {
    let (_d, s) = common::store();
    let words: Vec<String> = (0..60).map(|i| format!("w{i}")).collect();
    let body = format!("{} needle {}", words[..30].join(" "), words[30..].join(" "));
    s.create(NewDocument::new("Needle title", body)).unwrap();
    let mut q = SearchQuery::new("needle");
    q.options.highlight_open = "[".into();
    q.options.highlight_close = "]".into();
    q.options.snippet_tokens = 5;
    q.options.ellipsis = "...".into();
    let h = &s.search(&q).unwrap().results[0];
    assert_eq!(h.title_highlighted, "[Needle] title");
    assert!(h.snippet.contains("[needle]"), "{}", h.snippet);
    assert!(h.snippet.starts_with("...") && h.snippet.ends_with("..."));
    let words_shown = h.snippet.trim_matches('.').split_whitespace().count();
    assert_eq!(words_shown, 5, "{}", h.snippet);
}

// ------------------------------------------------------------- filters

#[test]
fn filters_by_type_status_and_metadata_like_list() {
    let (_d, s) = common::store();
    let guide = s
        .create(
            NewDocument::new("a", "shared word")
                .doc_type(DocType::UserGuide)
                .meta("team", "docs")
                .meta("priority", 2i64),
        )
        .unwrap();
    let api = s
        .create(
            NewDocument::new("b", "shared word")
                .doc_type(DocType::Api)
                .status(Status::Active)
                .meta("team", "core"),
        )
        .unwrap();
    let q = |f: &dyn Fn(&mut SearchQuery)| {
        let mut q = SearchQuery::new("shared");
        f(&mut q);
        let r = s.search(&q).unwrap();
        assert_eq!(r.total as usize, r.results.len());
        r.results.iter().map(|h| h.id).collect::<Vec<_>>()
    };
    assert_eq!(q(&|q| q.doc_type = Some(DocType::Api)), vec![api.id]);
    assert_eq!(q(&|q| q.status = Some(Status::Draft)), vec![guide.id]);
    assert_eq!(
        q(&|q| q.meta = vec![("team".into(), MetaValue::from("docs"))]),
        vec![guide.id]
    );
    // Typed, as in list: the integer 2 is not the string "2".
    assert_eq!(
        q(&|q| q.meta = vec![("priority".into(), MetaValue::Integer(2))]),
        vec![guide.id]
    );
    assert_eq!(
        q(&|q| q.meta = vec![("priority".into(), MetaValue::from("2"))]),
        Vec::<i64>::new()
    );
    assert_eq!(
        q(&|q| {
            q.doc_type = Some(DocType::Api);
            q.status = Some(Status::Draft);
        }),
        Vec::<i64>::new()
    );
}

// ------------------------------------------------------------ languages

#[test]
fn english_words_are_stemmed() {
    let (_d, s) = common::store();
    let a = s
        .create(NewDocument::new("Setup", "Configuration of the system."))
        .unwrap();
    let b = s
        .create(NewDocument::new("Run", "We configured it; running now."))
        .unwrap();
    assert_eq!(ids(&s, "configure"), vec![a.id, b.id]);
    assert_eq!(ids(&s, "run"), vec![b.id]);
    let h = &search(&s, "configure").results;
    assert!(h
        .iter()
        .any(|h| h.snippet.contains("<mark>Configuration</mark>")));
}

#[test]
fn case_and_diacritics_are_folded() {
    let (_d, s) = common::store();
    let a = s
        .create(NewDocument::new(
            "Café menu",
            "Crème brûlée at the CAFÉ in Zürich.",
        ))
        .unwrap();
    for q in ["cafe", "CAFE", "café", "creme brulee", "zurich", "ZÜRICH"] {
        assert_eq!(ids(&s, q), vec![a.id], "{q}");
    }
    assert_eq!(
        search(&s, "cafe").results[0].title_highlighted,
        "<mark>Café</mark> menu"
    );
}

#[test]
fn chinese_is_found_by_two_and_three_character_words() {
    let (_d, s) = common::store();
    let zh = s
        .create(NewDocument::new(
            "中文全文检索",
            "全文检索是一种从文档中查找信息的技术。搜索引擎使用倒排索引。",
        ))
        .unwrap();
    let other = s
        .create(NewDocument::new(
            "天气预报",
            "明天的天气晴朗，适合出门散步。",
        ))
        .unwrap();
    s.create(NewDocument::new("English", "No Chinese text here."))
        .unwrap();
    for q in ["检索", "倒排索引", "搜索引擎", "查找", "技术", "文档中"] {
        assert_eq!(ids(&s, q), vec![zh.id], "{q}");
    }
    for q in ["天气", "出门散步", "晴朗"] {
        assert_eq!(ids(&s, q), vec![other.id], "{q}");
    }
    // A pair that spans punctuation is not a word of the text.
    assert_eq!(ids(&s, "术搜"), Vec::<i64>::new());
    assert_eq!(ids(&s, "检索 -天气"), vec![zh.id]);
    assert_eq!(ids(&s, "title:天气"), vec![other.id]);
    assert_eq!(ids(&s, "content:中文"), Vec::<i64>::new());
    let h = &search(&s, "倒排索引").results[0];
    assert!(h.snippet.contains("<mark>倒排索引</mark>"), "{}", h.snippet);
    let h = &search(&s, "检索").results[0];
    assert_eq!(h.title_highlighted, "中文全文<mark>检索</mark>");
}

#[test]
fn japanese_is_found_by_words_of_any_script_mix() {
    let (_d, s) = common::store();
    let ja = s
        .create(NewDocument::new(
            "SQLiteの全文検索",
            "全文検索エンジンは、サーバーなしで動きます。カタカナとひらがなと漢字が混ざった文章です。",
        ))
        .unwrap();
    s.create(NewDocument::new("English", "A full text search engine."))
        .unwrap();
    for q in [
        "全文",
        "検索",
        "全文検索",
        "サーバー",
        "サーバ",
        "ひらがな",
        "漢字",
        "混ざった",
        "動きます",
        "SQLite",
        "sqlite",
        "SQLiteの全文",
    ] {
        assert_eq!(ids(&s, q), vec![ja.id], "{q}");
    }
    let h = &search(&s, "サーバー").results[0];
    assert!(h.snippet.contains("<mark>サーバー</mark>"), "{}", h.snippet);
    let h = &search(&s, "sqlite").results[0];
    assert_eq!(h.title_highlighted, "<mark>SQLite</mark>の全文検索");
    // Latin letters written after CJK text too.
    let api = s
        .create(NewDocument::new(
            "接続",
            "この関数はREST APIを呼ぶ。設定はJSON形式で、出力はUTF8",
        ))
        .unwrap();
    for q in ["REST", "API", "json", "utf8", "呼ぶ"] {
        assert_eq!(ids(&s, q), vec![api.id], "{q}");
    }
    // One character works too, as a prefix of the character pairs, even
    // where it ends a run.
    assert_eq!(ids(&s, "漢"), vec![ja.id]);
    assert_eq!(ids(&s, "す"), vec![ja.id]);
    assert_eq!(ids(&s, "だ"), Vec::<i64>::new());
}

#[test]
fn korean_and_cjk_metadata_are_searchable() {
    let (_d, s) = common::store();
    let ko = s
        .create(NewDocument::new("한국어 문서", "검색 테스트입니다.").meta("분류", "기술문서"))
        .unwrap();
    assert_eq!(ids(&s, "테스트"), vec![ko.id]);
    assert_eq!(ids(&s, "문서"), vec![ko.id]);
    assert_eq!(ids(&s, "meta:기술"), vec![ko.id]);
    assert_eq!(ids(&s, "title:기술"), Vec::<i64>::new());
}

#[test]
fn cjk_snippets_center_on_the_match_in_long_content() {
    let (_d, s) = common::store();
    let body = format!("{}目标词语{}", "前".repeat(500), "后".repeat(500));
    s.create(NewDocument::new("长文", body)).unwrap();
    let h = &search(&s, "目标词语").results[0];
    assert!(h.snippet.contains("<mark>目标词语</mark>"), "{}", h.snippet);
    assert!(h.snippet.starts_with('…') && h.snippet.ends_with('…'));
    assert!(h.snippet.chars().count() < 100, "{}", h.snippet);
}

// ------------------------------------ index consistency, per write kind

fn one_doc(s: &Store) -> i64 {
    s.create(
        NewDocument::new("Original title", "original body text")
            .meta("colour", "crimson")
            .meta("flag", true),
    )
    .unwrap()
    .id
}

#[test]
fn consistent_after_create() {
    let (_d, s) = common::store();
    let id = one_doc(&s);
    assert_eq!(ids(&s, "original"), vec![id]);
    assert_eq!(ids(&s, "crimson"), vec![id]);
    assert_consistent(&s);
}

#[test]
fn consistent_after_create_many() {
    let (_d, s) = common::store();
    let docs = (0..30)
        .map(|i| {
            NewDocument::new(format!("Batch {i}"), format!("batch body {i} 批量文档"))
                .meta("n", i as i64)
                .meta("tag", "bulk")
        })
        .collect();
    let made = s.create_many(docs).unwrap();
    assert_eq!(search(&s, "batch").total, 30);
    assert_eq!(search(&s, "批量").total, 30);
    assert_eq!(search(&s, "bulk").total, 30);
    assert_eq!(ids(&s, "17"), vec![made[17].id]);
    assert_consistent(&s);
}

#[test]
fn consistent_after_updating_content() {
    let (_d, s) = common::store();
    let id = one_doc(&s);
    s.update(
        id,
        DocumentPatch {
            content: Some("replacement words".into()),
            ..patch()
        },
    )
    .unwrap();
    assert_eq!(ids(&s, "original"), vec![id], "the title still says it");
    assert_eq!(ids(&s, "body"), Vec::<i64>::new());
    assert_eq!(ids(&s, "replacement"), vec![id]);
    assert_consistent(&s);
}

#[test]
fn consistent_after_updating_the_title() {
    let (_d, s) = common::store();
    let id = one_doc(&s);
    s.update(
        id,
        DocumentPatch {
            title: Some("Renamed heading".into()),
            ..patch()
        },
    )
    .unwrap();
    assert_eq!(ids(&s, "title:original"), Vec::<i64>::new());
    assert_eq!(ids(&s, "title:renamed"), vec![id]);
    assert_consistent(&s);
}

#[test]
fn consistent_after_metadata_changes() {
    let (_d, s) = common::store();
    let id = one_doc(&s);
    s.update(
        id,
        DocumentPatch {
            set_meta: meta(&[("colour", "teal"), ("size", "enormous")]),
            ..patch()
        },
    )
    .unwrap();
    assert_eq!(ids(&s, "crimson"), Vec::<i64>::new());
    assert_eq!(ids(&s, "meta:teal enormous"), vec![id]);
    assert_consistent(&s);
    s.update(
        id,
        DocumentPatch {
            unset_meta: vec!["size".into(), "flag".into()],
            ..patch()
        },
    )
    .unwrap();
    assert_eq!(ids(&s, "enormous"), Vec::<i64>::new());
    assert_consistent(&s);
    s.update(
        id,
        DocumentPatch {
            replace_meta: Some(meta(&[("note", "メタデータ")])),
            ..patch()
        },
    )
    .unwrap();
    assert_eq!(ids(&s, "teal"), Vec::<i64>::new());
    assert_eq!(ids(&s, "メタ"), vec![id]);
    assert_consistent(&s);
}

#[test]
fn consistent_after_restore() {
    let (_d, s) = common::store();
    let id = one_doc(&s);
    s.update(
        id,
        DocumentPatch {
            content: Some("second version".into()),
            ..patch()
        },
    )
    .unwrap();
    s.restore(id, 1, None).unwrap();
    assert_eq!(ids(&s, "second"), Vec::<i64>::new());
    assert_eq!(ids(&s, "body"), vec![id]);
    assert_consistent(&s);
}

#[test]
fn consistent_after_soft_delete() {
    let (_d, s) = common::store();
    let id = one_doc(&s);
    let other = s.create(NewDocument::new("Other", "original")).unwrap().id;
    s.delete(id, None).unwrap();
    assert_eq!(ids(&s, "original"), vec![other]);
    assert_eq!(ids(&s, "crimson"), Vec::<i64>::new());
    assert_eq!(search(&s, "original").total, 1);
    assert_consistent(&s);
}

#[test]
fn consistent_after_undelete() {
    let (_d, s) = common::store();
    let id = one_doc(&s);
    let other = s.create(NewDocument::new("Other", "original")).unwrap().id;
    s.delete(id, None).unwrap();
    s.undelete(id, None).unwrap();
    assert_eq!(ids(&s, "original"), vec![id, other]);
    assert_eq!(ids(&s, "crimson"), vec![id]);
    assert_eq!(search(&s, "original").total, 2);
    assert_consistent(&s);
}

/// The search index's part of the check passes.
fn assert_index_consistent(s: &Store) {
    let report = s.check().expect("check");
    let problems: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.starts_with("search:") || p.contains("fts5"))
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn metadata_changes_while_deleted_show_after_undelete() {
    let (dir, s) = common::store();
    let id = one_doc(&s);
    s.delete(id, None).unwrap();
    // The store's API refuses to patch deleted documents; the triggers must
    // still cope with a direct change (which bypasses the store's own
    // bookkeeping, so only the index is checked).
    let raw = rusqlite::Connection::open(dir.path().join("test.db")).unwrap();
    raw.execute(
        "UPDATE metadata SET value = 'violet' WHERE document_id = ?1 AND key = 'colour'",
        [id],
    )
    .unwrap();
    assert_index_consistent(&s);
    s.undelete(id, None).unwrap();
    assert_eq!(ids(&s, "violet"), vec![id]);
    assert_index_consistent(&s);
}

#[test]
fn a_direct_sql_change_is_indexed_after_the_next_store_write() {
    let (dir, s) = common::store();
    let id = one_doc(&s);
    s.flush().unwrap();
    // Outside the store nothing tells the store to index the change: the
    // document waits, out of the index, and check says so.
    let raw = rusqlite::Connection::open(dir.path().join("test.db")).unwrap();
    raw.execute(
        "UPDATE documents SET title = 'Sideways edit' WHERE id = ?1",
        [id],
    )
    .unwrap();
    assert_eq!(ids(&s, "sideways"), Vec::<i64>::new());
    let report = s.check().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("waiting to be indexed")),
        "{:?}",
        report.problems
    );
    s.create(NewDocument::new("Another", "unrelated")).unwrap();
    assert_eq!(ids(&s, "sideways"), vec![id]);
    assert_index_consistent(&s);
}

#[test]
fn consistent_after_hard_delete() {
    let (_d, s) = common::store();
    let id = one_doc(&s);
    let cjk = s
        .create(NewDocument::new("削除", "削除される文書").meta("k", "メタ"))
        .unwrap()
        .id;
    s.hard_delete(id, None).unwrap();
    s.hard_delete(cjk, None).unwrap();
    assert_eq!(ids(&s, "original"), Vec::<i64>::new());
    assert_eq!(ids(&s, "削除"), Vec::<i64>::new());
    assert_consistent(&s);
    // Hard delete of a soft-deleted document, too.
    let id = one_doc(&s);
    s.delete(id, None).unwrap();
    s.hard_delete(id, None).unwrap();
    assert_consistent(&s);
}

#[test]
fn writes_that_do_not_touch_text_leave_the_index_alone() {
    let (_d, s) = common::store();
    let id = one_doc(&s);
    s.update(
        id,
        DocumentPatch {
            doc_type: Some(DocType::Design),
            status: Some(Status::Archived),
            quality_score: Some(Some(50.0)),
            ..patch()
        },
    )
    .unwrap();
    s.get(id).unwrap();
    s.flush().unwrap();
    let h = &search(&s, "original").results[0];
    assert_eq!((h.doc_type, h.status), (DocType::Design, Status::Archived));
    assert_consistent(&s);
}

#[test]
fn consistent_after_concurrent_writes_committed_in_groups() {
    let (_d, s) = common::store();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..15 {
                    let d = s
                        .create(
                            NewDocument::new(format!("t{t} d{i}"), format!("shared 共有 {t} {i}"))
                                .meta("thread", format!("th{t}")),
                        )
                        .unwrap();
                    match i % 4 {
                        0 => s.delete(d.id, None).unwrap(),
                        1 => s.hard_delete(d.id, None).unwrap(),
                        2 => {
                            s.update(
                                d.id,
                                DocumentPatch {
                                    content: Some(format!("changed 変更 {t} {i}")),
                                    set_meta: meta(&[("thread", "moved")]),
                                    ..patch()
                                },
                            )
                            .unwrap();
                        }
                        _ => {
                            // A failing write in the same group commit must
                            // roll back its own index changes only.
                            let bad = DocumentPatch {
                                content: Some("never".into()),
                                expect_version: Some(99),
                                ..patch()
                            };
                            assert!(s.update(d.id, bad).is_err());
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_consistent(&s);
    // Per thread: 4 soft-deleted, 4 hard-deleted, 4 rewritten, 3 untouched.
    assert_eq!(search(&s, "shared").total, 4 * 3);
    assert_eq!(search(&s, "共有").total, 4 * 3);
    assert_eq!(search(&s, "変更").total, 4 * 4);
    assert_eq!(search(&s, "moved").total, 4 * 4);
    assert_eq!(search(&s, "never").total, 0);
}

// ------------------------------------------------------ reindex, check

#[test]
fn check_reports_a_damaged_index_and_reindex_repairs_it() {
    let (dir, s) = common::store();
    one_doc(&s);
    s.create(NewDocument::new("中文", "中文内容")).unwrap();
    s.flush().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join("test.db")).unwrap();
    raw.execute_batch("INSERT INTO search_fts(search_fts) VALUES ('delete-all');")
        .unwrap();
    let report = s.check().unwrap();
    assert!(!report.ok);
    assert!(
        report.problems.iter().any(|p| p.starts_with("search:")),
        "{:?}",
        report.problems
    );
    assert_eq!(s.reindex().unwrap(), 2);
    assert_consistent(&s);
    assert_eq!(search(&s, "original").total, 1);
    assert_eq!(search(&s, "内容").total, 1);
}

#[test]
fn check_reports_stale_metadata_text_and_missing_entries() {
    let (dir, s) = common::store();
    let id = one_doc(&s);
    s.flush().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join("test.db")).unwrap();
    // Behind the store's back: the documents row, which carries metadata
    // changes to the index, is left as it was.
    raw.execute_batch("UPDATE metadata SET value = 'scarlet' WHERE key = 'colour';")
        .unwrap();
    let report = s.check().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&format!("metadata of document {id}"))),
        "{:?}",
        report.problems
    );
}

#[test]
fn reindex_of_an_empty_store_is_fine() {
    let (_d, s) = common::store();
    assert_eq!(s.reindex().unwrap(), 0);
    assert_consistent(&s);
}

#[test]
fn search_metrics_count_searches() {
    let (_d, s) = common::store();
    s.create(NewDocument::new("t", "metric")).unwrap();
    search(&s, "metric");
    let _ = s.search(&SearchQuery::new(""));
    let m = s.metrics().search;
    assert_eq!((m.count, m.errors), (1, 1));
}

/// A metadata filter matching few documents leads the search (each of its
/// documents is looked up in the index) and a common one follows it; both
/// must rank, score and count exactly what filtering the unfiltered
/// results by hand gives.
#[test]
fn selective_and_common_metadata_filters_agree_with_filtering_by_hand() {
    let (_d, s) = common::store();
    let types = [DocType::Api, DocType::Tutorial];
    for i in 0..240i64 {
        let words = [
            "alpha beta",
            "alpha alpha gamma",
            "beta gamma",
            "alpha delta delta",
        ];
        s.create(
            NewDocument::new(
                format!("doc {i}"),
                format!("{} {i}", words[(i % 4) as usize]),
            )
            .doc_type(types[(i % 2) as usize])
            .meta("ticket", format!("T-{}", i % 120))
            .meta("group", i % 3)
            .meta("flag", i % 50 == 0)
            .meta(
                "owner",
                if i % 70 == 0 {
                    MetaValue::Null
                } else {
                    MetaValue::from("x")
                },
            ),
        )
        .unwrap();
    }
    let all = s
        .search(&SearchQuery {
            limit: 1000,
            ..SearchQuery::new("alpha")
        })
        .unwrap();
    assert!(all.total > 100);
    let filters: Vec<Vec<(String, MetaValue)>> = vec![
        vec![("ticket".into(), MetaValue::from("T-4"))],
        vec![("ticket".into(), MetaValue::from("T-none"))],
        vec![("flag".into(), MetaValue::from(true))],
        vec![("owner".into(), MetaValue::Null)],
        vec![("group".into(), MetaValue::from(2i64))],
        vec![
            ("group".into(), MetaValue::from(0i64)),
            ("ticket".into(), MetaValue::from("T-6")),
        ],
        vec![("group".into(), MetaValue::from("2"))],
    ];
    for meta in &filters {
        for doc_type in [None, Some(DocType::Api)] {
            let expected: Vec<(i64, f64)> = all
                .results
                .iter()
                .filter(|h| doc_type.is_none_or(|t| h.doc_type == t))
                .filter(|h| {
                    let d = s.get(h.id).unwrap();
                    meta.iter().all(|(k, v)| d.metadata.get(k) == Some(v))
                })
                .map(|h| (h.id, h.score))
                .collect();
            for (offset, limit) in [(0, 1000), (1, 2)] {
                let got = s
                    .search(&SearchQuery {
                        doc_type,
                        meta: meta.clone(),
                        offset,
                        limit,
                        ..SearchQuery::new("alpha")
                    })
                    .unwrap();
                let want: Vec<(i64, f64)> = expected
                    .iter()
                    .skip(offset as usize)
                    .take(limit as usize)
                    .copied()
                    .collect();
                let got_hits: Vec<(i64, f64)> =
                    got.results.iter().map(|h| (h.id, h.score)).collect();
                assert_eq!(got.total, expected.len() as i64, "{meta:?} {doc_type:?}");
                assert_eq!(
                    got_hits.len(),
                    want.len(),
                    "{meta:?} {doc_type:?} {offset}+{limit}"
                );
                for ((gi, gs), (wi, ws)) in got_hits.iter().zip(&want) {
                    assert_eq!(gi, wi, "{meta:?} {doc_type:?} {offset}+{limit}");
                    assert!((gs - ws).abs() <= 1e-9 * ws.abs().max(1.0), "{gs} vs {ws}");
                }
            }
        }
    }
}
