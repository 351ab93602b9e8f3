//! Model-based property test of access tracking: any sequence of reads
//! (cached or not, by id or uuid, single or many), lists, flushes, updates, hard deletes and
//! reopens leaves every figure a read reports exactly equal to the reads
//! made so far, its own included, and nothing is lost across a reopen.

mod common;

use docvault::{Config, DocRef, DocumentPatch, GetOptions, ListQuery, NewDocument, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};

/// `PROPTEST_CASES` overrides the default number of cases.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const SLOTS: usize = 5;

#[derive(Debug, Clone)]
enum Op {
    Get(usize),
    GetByUuid(usize),
    GetMany(Vec<usize>),
    List,
    Flush,
    Update(usize),
    HardDelete(usize),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..SLOTS;
    prop_oneof![
        6 => slot.clone().prop_map(Op::Get),
        2 => slot.clone().prop_map(Op::GetByUuid),
        2 => prop::collection::vec(slot.clone(), 1..4).prop_map(Op::GetMany),
        1 => Just(Op::List),
        2 => Just(Op::Flush),
        1 => slot.clone().prop_map(Op::Update),
        1 => slot.prop_map(Op::HardDelete),
        1 => Just(Op::Reopen),
    ]
}

struct Doc {
    id: i64,
    uuid: DocRef,
    reads: i64,
    alive: bool,
}

fn run(ops: &[Op], cache_capacity_bytes: usize) -> Result<(), TestCaseError> {
    // Flushes only when asked (or at close), so the model knows when;
    // exactness must not depend on it either way.
    let config = || Config {
        cache_capacity_bytes,
        access_flush_interval: std::time::Duration::from_secs(3600),
        ..Config::default()
    };
    let (dir, store) = common::store_with(config());
    let path = dir.path().join("test.db");
    let mut store = Some(store);
    let mut docs: Vec<Doc> = (0..SLOTS)
        .map(|i| {
            let d = store
                .as_ref()
                .unwrap()
                .create(NewDocument::new(format!("d{i}"), "x".repeat(200 * (i + 1))))
                .unwrap();
            Doc {
                id: d.id,
                uuid: d.uuid.into(),
                reads: 0,
                alive: true,
            }
        })
        .collect();
    for (step, op) in ops.iter().enumerate() {
        let s = store.as_ref().unwrap();
        match op {
            Op::Get(i) | Op::GetByUuid(i) => {
                let d = &mut docs[*i];
                let got = if matches!(op, Op::Get(_)) {
                    s.get(d.id)
                } else {
                    s.get(d.uuid)
                };
                if d.alive {
                    d.reads += 1;
                    let got = got.unwrap();
                    prop_assert_eq!(got.access_count, d.reads, "step {}: {:?}", step, op);
                    prop_assert!(got.last_accessed.is_some());
                } else {
                    prop_assert_eq!(got.unwrap_err().kind(), "not_found");
                }
            }
            Op::GetMany(slots) => {
                let ids: Vec<i64> = slots.iter().map(|&i| docs[i].id).collect();
                let got = s.get_many(&ids, GetOptions::default()).unwrap();
                for (&i, g) in slots.iter().zip(got) {
                    let d = &mut docs[i];
                    if d.alive {
                        d.reads += 1;
                        prop_assert_eq!(g.unwrap().access_count, d.reads, "step {}", step);
                    } else {
                        prop_assert!(g.is_none());
                    }
                }
            }
            Op::List => {
                let page = s.list(&ListQuery::default()).unwrap();
                for got in page.documents {
                    let d = docs.iter().find(|d| d.id == got.id).unwrap();
                    prop_assert!(d.alive);
                    prop_assert_eq!(got.access_count, d.reads, "step {}: list", step);
                }
            }
            Op::Flush => s.flush().unwrap(),
            Op::Update(i) => {
                let d = &docs[*i];
                if d.alive {
                    let got = s
                        .update(
                            d.id,
                            DocumentPatch {
                                content: Some(format!("changed at {step}")),
                                ..Default::default()
                            },
                        )
                        .unwrap();
                    prop_assert_eq!(got.access_count, d.reads, "step {}: update", step);
                }
            }
            Op::HardDelete(i) => {
                let d = &mut docs[*i];
                if d.alive {
                    s.hard_delete(d.id, None).unwrap();
                    d.alive = false;
                }
            }
            Op::Reopen => {
                store.take().unwrap().close().unwrap();
                let s = Store::open(&path, config()).unwrap();
                prop_assert_eq!(s.stats().unwrap().pending_access_updates, 0);
                store = Some(s);
            }
        }
    }
    // Whatever was pending is on disk after close.
    store.take().unwrap().close().unwrap();
    let s = Store::open(&path, config()).unwrap();
    let listed = s.list(&ListQuery::default()).unwrap().documents;
    prop_assert_eq!(listed.len(), docs.iter().filter(|d| d.alive).count());
    for got in listed {
        let d = docs.iter().find(|d| d.id == got.id).unwrap();
        prop_assert_eq!(got.access_count, d.reads, "after the last reopen");
    }
    s.close().unwrap();
    Ok(())
}

fn check(cache_capacity_bytes: usize) {
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(48),
        ..RunnerConfig::default()
    });
    runner
        .run(&prop::collection::vec(op(), 1..40), |ops| {
            run(&ops, cache_capacity_bytes)
        })
        .unwrap();
}

#[test]
fn access_figures_match_the_model_with_the_cache_off() {
    check(0);
}

#[test]
fn access_figures_match_the_model_with_a_cache_that_evicts() {
    // Room for a couple of the documents: reads move counts between cache
    // entries and the shard counters as entries come and go.
    check(3 * 1024);
}

#[test]
fn access_figures_match_the_model_with_every_document_cached() {
    check(1 << 20);
}
