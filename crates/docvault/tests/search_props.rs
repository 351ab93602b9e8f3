//! Property tests for search: no input string makes a search fail with
//! anything but a query validation error, and any sequence of writes
//! leaves an index that matches the documents.

mod common;

use std::collections::BTreeMap;

use docvault::{DocumentPatch, Error, MetaValue, NewDocument, SearchQuery, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};

/// `PROPTEST_CASES` overrides the default number of cases (for a longer
/// run than the test suite's).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seeded_store() -> (tempfile::TempDir, Store) {
    let (d, s) = common::store();
    s.create_many(vec![
        NewDocument::new("Or and not near", "title content meta OR AND NOT c++ 20.04")
            .meta("k", "value"),
        NewDocument::new("全文検索", "SQLiteの全文検索エンジンは速い。中文分词很难。"),
        NewDocument::new("Multi-agent", "don't panic: multi-agent systems \"quoted\""),
    ])
    .expect("seed");
    (d, s)
}

/// Pieces that mean something to our parser, to FTS5's, or to SQL.
const PIECES: &[&str] = &[
    "OR",
    "AND",
    "NOT",
    "NEAR",
    "NEAR(",
    "title:",
    "content:",
    "meta:",
    "metadata:",
    "x:",
    "-",
    "--",
    "*",
    "**",
    "\"",
    "\"\"",
    "(",
    ")",
    "{",
    "}",
    ":",
    "^",
    "+",
    "'",
    ";",
    "\\",
    "%",
    "_",
    "foo",
    "or",
    "c++",
    "20.04",
    "multi-agent",
    "中文",
    "検索",
    "全",
    "한국어",
    "\u{0}",
    "\t",
    "\n",
    "\u{7f}",
    "\u{E000}",
    "\u{E001}",
    "\u{FEFF}",
    "\u{301}",
    "😀",
    " ",
    "  ",
];

fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 \"*:()\\-+^{}.,'/\\\\_]{0,80}",
        proptest::collection::vec(proptest::sample::select(PIECES), 0..40).prop_map(|v| v.concat()),
        proptest::collection::vec(proptest::sample::select(PIECES), 0..20)
            .prop_map(|v| v.join(" ")),
        // Very long input, around and beyond the limits.
        proptest::collection::vec(any::<char>(), 900..2500).prop_map(|v| v.into_iter().collect()),
        proptest::collection::vec(
            proptest::sample::select(&["a", "中文", "OR", "-b"][..]),
            50..90
        )
        .prop_map(|v| v.join(" ")),
    ]
}

#[test]
fn no_query_string_fails_with_anything_but_a_query_validation_error() {
    let (_d, s) = seeded_store();
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(768),
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    runner
        .run(&hostile(), |text| {
            let mut q = SearchQuery::new(text.clone());
            q.limit = 5;
            match s.search(&q) {
                Ok(r) => {
                    prop_assert!(r.results.len() <= 5);
                    prop_assert!(r.total >= r.results.len() as i64);
                    prop_assert!(r.results.windows(2).all(|w| w[0].score >= w[1].score));
                    prop_assert!(r.results.iter().all(|h| h.score.is_finite()));
                }
                Err(Error::Validation { field, .. }) => prop_assert_eq!(field, "query"),
                Err(e) => prop_assert!(false, "{:?} failed: {:?}", text, e),
            }
            Ok(())
        })
        .unwrap();
}

// ------------------------------------------------- writes keep it in sync

const WORDS: &[&str] = &[
    "alpha", "bravo", "delta", "kilo", "lima", "oscar", "papa", "tango", "東京", "大阪",
];

#[derive(Debug, Clone)]
enum Op {
    Create {
        title: Vec<usize>,
        content: Vec<usize>,
        meta: Vec<(usize, usize)>,
    },
    CreateMany(Vec<Vec<usize>>),
    Content(usize, Vec<usize>),
    Title(usize, Vec<usize>),
    SetMeta(usize, usize, usize),
    UnsetMeta(usize, usize),
    Restore(usize, usize),
    Delete(usize),
    Undelete(usize),
    HardDelete(usize),
}

fn words() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..WORDS.len(), 1..5)
}

fn op() -> impl Strategy<Value = Op> {
    let doc = 0..8usize;
    prop_oneof![
        (
            words(),
            words(),
            proptest::collection::vec((0..3usize, 0..WORDS.len()), 0..3)
        )
            .prop_map(|(title, content, meta)| Op::Create {
                title,
                content,
                meta
            }),
        proptest::collection::vec(words(), 1..4).prop_map(Op::CreateMany),
        (doc.clone(), words()).prop_map(|(d, w)| Op::Content(d, w)),
        (doc.clone(), words()).prop_map(|(d, w)| Op::Title(d, w)),
        (doc.clone(), 0..3usize, 0..WORDS.len()).prop_map(|(d, k, w)| Op::SetMeta(d, k, w)),
        (doc.clone(), 0..3usize).prop_map(|(d, k)| Op::UnsetMeta(d, k)),
        (doc.clone(), 0..4usize).prop_map(|(d, v)| Op::Restore(d, v)),
        doc.clone().prop_map(Op::Delete),
        doc.clone().prop_map(Op::Undelete),
        doc.prop_map(Op::HardDelete),
    ]
}

/// What the store should hold, to know what a search must find.
#[derive(Debug, Clone)]
struct ModelDoc {
    id: i64,
    title: String,
    versions: Vec<String>,
    meta: BTreeMap<String, String>,
    live: bool,
    gone: bool,
}

fn text(ws: &[usize]) -> String {
    ws.iter().map(|&w| WORDS[w]).collect::<Vec<_>>().join(" ")
}

fn key(k: usize) -> String {
    format!("k{k}")
}

fn apply(s: &Store, model: &mut Vec<ModelDoc>, op: &Op) {
    let pick = |model: &Vec<ModelDoc>, i: usize| -> Option<usize> {
        (!model.is_empty()).then(|| i % model.len())
    };
    match op {
        Op::Create {
            title,
            content,
            meta,
        } => {
            let mut nd = NewDocument::new(text(title), text(content));
            let mut m = BTreeMap::new();
            for (k, w) in meta {
                nd = nd.meta(key(*k), WORDS[*w]);
                m.insert(key(*k), WORDS[*w].to_string());
            }
            let d = s.create(nd).unwrap();
            model.push(ModelDoc {
                id: d.id,
                title: text(title),
                versions: vec![text(content)],
                meta: m,
                live: true,
                gone: false,
            });
        }
        Op::CreateMany(contents) => {
            let docs = contents
                .iter()
                .map(|c| NewDocument::new("batch", text(c)).meta("k0", WORDS[c[0]]))
                .collect();
            for (d, c) in s.create_many(docs).unwrap().into_iter().zip(contents) {
                model.push(ModelDoc {
                    id: d.id,
                    title: "batch".into(),
                    versions: vec![text(c)],
                    meta: [("k0".to_string(), WORDS[c[0]].to_string())].into(),
                    live: true,
                    gone: false,
                });
            }
        }
        Op::Content(i, w) => {
            let Some(i) = pick(model, *i) else { return };
            let p = DocumentPatch {
                content: Some(text(w)),
                ..Default::default()
            };
            if s.update(model[i].id, p).is_ok() && model[i].versions.last() != Some(&text(w)) {
                model[i].versions.push(text(w));
            }
        }
        Op::Title(i, w) => {
            let Some(i) = pick(model, *i) else { return };
            let p = DocumentPatch {
                title: Some(text(w)),
                ..Default::default()
            };
            if s.update(model[i].id, p).is_ok() {
                model[i].title = text(w);
            }
        }
        Op::SetMeta(i, k, w) => {
            let Some(i) = pick(model, *i) else { return };
            let p = DocumentPatch {
                set_meta: [(key(*k), MetaValue::from(WORDS[*w]))].into(),
                ..Default::default()
            };
            if s.update(model[i].id, p).is_ok() {
                model[i].meta.insert(key(*k), WORDS[*w].to_string());
            }
        }
        Op::UnsetMeta(i, k) => {
            let Some(i) = pick(model, *i) else { return };
            let p = DocumentPatch {
                unset_meta: vec![key(*k)],
                ..Default::default()
            };
            if s.update(model[i].id, p).is_ok() {
                model[i].meta.remove(&key(*k));
            }
        }
        Op::Restore(i, v) => {
            let Some(i) = pick(model, *i) else { return };
            let v = v % model[i].versions.len() + 1;
            if s.restore(model[i].id, v as i64, None).is_ok() {
                let c = model[i].versions[v - 1].clone();
                model[i].versions.push(c);
            }
        }
        Op::Delete(i) => {
            let Some(i) = pick(model, *i) else { return };
            if s.delete(model[i].id, None).is_ok() {
                model[i].live = false;
            }
        }
        Op::Undelete(i) => {
            let Some(i) = pick(model, *i) else { return };
            if s.undelete(model[i].id, None).is_ok() {
                model[i].live = true;
            }
        }
        Op::HardDelete(i) => {
            let Some(i) = pick(model, *i) else { return };
            if s.hard_delete(model[i].id, None).is_ok() {
                model[i].live = false;
                model[i].gone = true;
            }
        }
    }
    model.retain(|d| !d.gone);
}

fn expected(model: &[ModelDoc], word: &str) -> Vec<i64> {
    let mut v: Vec<i64> = model
        .iter()
        .filter(|d| d.live)
        .filter(|d| {
            let has = |t: &str| t.split(' ').any(|w| w.contains(word));
            has(&d.title)
                || d.versions.last().is_some_and(|c| has(c))
                || d.meta.values().any(|m| has(m))
        })
        .map(|d| d.id)
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn any_sequence_of_writes_leaves_the_index_matching_the_documents() {
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(32),
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 1..14), |ops| {
            let (_d, s) = common::store();
            let mut model = Vec::new();
            for op in &ops {
                apply(&s, &mut model, op);
            }
            let report = s.check().unwrap();
            prop_assert!(report.ok, "{:?} after {:?}", report.problems, ops);
            for w in WORDS {
                let mut q = SearchQuery::new(*w);
                q.limit = 1000;
                let mut got: Vec<i64> =
                    s.search(&q).unwrap().results.iter().map(|h| h.id).collect();
                got.sort_unstable();
                prop_assert_eq!(got, expected(&model, w), "word {} after {:?}", w, ops);
            }
            Ok(())
        })
        .unwrap();
}
