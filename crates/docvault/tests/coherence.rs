//! The read cache never serves a state older than the last completed write,
//! and group commit keeps each write's outcome its own.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use docvault::{Config, DocumentPatch, Durability, Error, GetOptions, NewDocument};

#[test]
fn defect_stale_reads_under_concurrent_writes() {
    let (_d, s) = common::store();
    let docs: Vec<(i64, uuid::Uuid)> = (0..4)
        .map(|i| {
            let d = s.create(NewDocument::new(format!("d{i}"), "0")).unwrap();
            (d.id, d.uuid)
        })
        .collect();
    let docs = Arc::new(docs);
    // floor[i]: the version the last completed write of doc i returned.
    let floors: Arc<Vec<AtomicI64>> = Arc::new((0..4).map(|_| AtomicI64::new(1)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for w in 0..2 {
        let (s, docs, floors, stop) = (s.clone(), docs.clone(), floors.clone(), stop.clone());
        handles.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Writer w owns docs w and w + 2: floors only ever rise.
                let i = w + 2 * (n as usize % 2);
                n += 1;
                let d = s
                    .update(
                        docs[i].0,
                        DocumentPatch {
                            content: Some(format!("w{w} n{n}")),
                            ..Default::default()
                        },
                    )
                    .unwrap();
                floors[i].fetch_max(d.version, Ordering::SeqCst);
            }
            n
        }));
    }
    let mut readers = Vec::new();
    for r in 0..3 {
        let (s, docs, floors, stop) = (s.clone(), docs.clone(), floors.clone(), stop.clone());
        readers.push(std::thread::spawn(move || {
            let mut reads = 0u64;
            let mut k: usize = r;
            while !stop.load(Ordering::Relaxed) {
                k = k.wrapping_mul(31).wrapping_add(7);
                let i = k % 4;
                let floor = floors[i].load(Ordering::SeqCst);
                let d = if k.is_multiple_of(3) {
                    s.get(docs[i].1).unwrap()
                } else {
                    s.get(docs[i].0).unwrap()
                };
                assert!(
                    d.version >= floor,
                    "stale read: doc {i} version {} after a write returned {floor}",
                    d.version
                );
                reads += 1;
            }
            reads
        }));
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let writes: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let reads: u64 = readers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(
        writes > 50 && reads > 1000,
        "too little traffic: {writes} writes, {reads} reads"
    );
    let m = s.metrics();
    assert!(m.cache.hits > 0 && m.cache.misses > 0);
}

#[test]
fn a_failing_write_does_not_fail_its_group() {
    let (_d, s) = common::store_with(Config {
        durability: Durability::Full,
        ..Config::default()
    });
    let doc = s.create(NewDocument::new("t", "0")).unwrap();
    let id = doc.id;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut ok = 0;
                for i in 0..40 {
                    let r = if t % 2 == 0 {
                        // Always a conflict: a version that never exists.
                        s.update(
                            id,
                            DocumentPatch {
                                title: Some(format!("bad {t} {i}")),
                                expect_version: Some(-1),
                                ..Default::default()
                            },
                        )
                        .map(|_| ())
                    } else {
                        s.create(NewDocument::new(format!("t{t}-{i}"), "x"))
                            .map(|_| ())
                    };
                    match r {
                        Ok(()) => ok += 1,
                        Err(Error::Conflict { .. }) => assert_eq!(t % 2, 0),
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
                ok
            })
        })
        .collect();
    let ok: i32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(ok, 4 * 40);
    assert_eq!(s.stats().unwrap().documents, 1 + 160);
    assert_eq!(s.get(id).unwrap().title, "t");
    let m = s.metrics();
    assert_eq!(m.update.errors, 160);
    assert!(s.verify_audit().unwrap().ok);
}

#[test]
fn writes_from_many_threads_share_commits() {
    let (_d, s) = common::store_with(Config {
        durability: Durability::Full,
        ..Config::default()
    });
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    s.create(NewDocument::new(format!("{t}-{i}"), "x")).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let m = s.metrics();
    assert_eq!(m.write_jobs, 400);
    // Not a timing claim: just that grouping happened at all.
    assert!(
        m.commits < m.write_jobs,
        "{} commits for {} writes",
        m.commits,
        m.write_jobs
    );
}

#[test]
fn cache_serves_hits_and_can_be_disabled() {
    let (_d, s) = common::store();
    let d = s.create(NewDocument::new("t", "body")).unwrap();
    for _ in 0..10 {
        assert_eq!(s.get(d.id).unwrap().content.as_deref(), Some("body"));
    }
    let m = s.metrics();
    assert_eq!(m.cache.misses, 1);
    assert_eq!(m.cache.hits, 9);
    assert_eq!(m.cache.entries, 1);
    // A hit shares the cached record.
    let a = s.get(d.id).unwrap();
    let b = s.get(d.uuid).unwrap();
    assert!(Arc::ptr_eq(&a.record, &b.record));
    assert_eq!(b.access_count, 12);
    let no_content = s
        .get_with(
            d.id,
            GetOptions {
                include_content: false,
                include_deleted: false,
            },
        )
        .unwrap();
    assert_eq!(no_content.content, None);

    let (_d2, off) = common::store_with(Config {
        cache_capacity_bytes: 0,
        ..Config::default()
    });
    let d = off.create(NewDocument::new("t", "body")).unwrap();
    for _ in 0..5 {
        off.get(d.id).unwrap();
    }
    let m = off.metrics();
    assert!(!m.cache.enabled);
    assert_eq!((m.cache.hits, m.cache.misses, m.cache.entries), (0, 5, 0));
    assert_eq!(off.get(d.id).unwrap().access_count, 6);
}

#[test]
fn cache_stays_within_its_capacity() {
    let (_d, s) = common::store_with(Config {
        cache_capacity_bytes: 1024 * 1024,
        ..Config::default()
    });
    let body = "x".repeat(4096);
    let ids: Vec<i64> = (0..400)
        .map(|i| {
            s.create(NewDocument::new(format!("d{i}"), body.clone()))
                .unwrap()
                .id
        })
        .collect();
    for &id in &ids {
        s.get(id).unwrap();
    }
    let m = s.metrics();
    assert!(
        m.cache.bytes <= 1024 * 1024,
        "{} bytes cached",
        m.cache.bytes
    );
    assert!(m.cache.evictions > 0);
    // Evicted documents are still read correctly.
    assert_eq!(
        s.get(ids[0]).unwrap().content.as_deref(),
        Some(body.as_str())
    );
}

#[test]
fn deleted_documents_leave_the_cache() {
    let (_d, s) = common::store();
    let d = s.create(NewDocument::new("t", "x")).unwrap();
    s.get(d.id).unwrap();
    s.get(d.uuid).unwrap();
    s.delete(d.id, None).unwrap();
    assert_eq!(s.get(d.id).unwrap_err().kind(), "not_found");
    assert_eq!(s.get(d.uuid).unwrap_err().kind(), "not_found");
    s.undelete(d.id, None).unwrap();
    s.get(d.uuid).unwrap();
    s.hard_delete(d.uuid, None).unwrap();
    let any = GetOptions {
        include_deleted: true,
        ..GetOptions::default()
    };
    assert_eq!(s.get_with(d.id, any).unwrap_err().kind(), "not_found");
    assert_eq!(s.get_with(d.uuid, any).unwrap_err().kind(), "not_found");
}

#[test]
fn metrics_count_operations() {
    let (_d, s) = common::store();
    let started = Instant::now();
    let d = s.create(NewDocument::new("t", "x")).unwrap();
    s.get(d.id).unwrap();
    let _ = s.get(999);
    s.list(&docvault::ListQuery::default()).unwrap();
    let m = s.metrics();
    assert_eq!(m.create.count, 1);
    assert_eq!(m.get_miss.count, 1);
    assert_eq!(m.get_miss.errors, 1);
    assert_eq!(m.list.count, 1);
    assert!(m.create.latency.p50_us > 0.0);
    assert!(m.create.latency.p50_us <= started.elapsed().as_secs_f64() * 1e6 * 1.25 + 1.0);
}

/// Batch creates have a bucket of their own (an import of 1,000 documents
/// would otherwise set the latency of one-document creates), and a batch
/// refused by validation counts as an error; a batch read counts once,
/// and each of its documents as a get.
#[test]
fn metrics_count_batches_apart() {
    let (_d, s) = common::store();
    let docs = s
        .create_many(vec![NewDocument::new("a", "x"), NewDocument::new("b", "y")])
        .unwrap();
    let bad = s.create_many(vec![NewDocument::new("", "x")]).unwrap_err();
    assert_eq!(bad.kind(), "validation");
    let got = s
        .get_many(&[docs[0].id, docs[1].id, 999], GetOptions::default())
        .unwrap();
    assert_eq!(got.iter().filter(|d| d.is_some()).count(), 2);
    let m = s.metrics();
    assert_eq!((m.create_many.count, m.create_many.errors), (1, 1));
    assert_eq!((m.create.count, m.create.errors), (0, 0));
    assert_eq!(m.get_many.count, 1);
    assert_eq!(m.get_hit.count + m.get_miss.count, 2);
    assert_eq!(m.get_miss.errors, 1, "the missing id");
}

/// Uncached reads are all counted, successes and failures, and one in
/// eight is timed: enough for the latency figures, without two clock
/// reads on every read.
#[test]
fn uncached_reads_are_counted_exactly_and_timed_by_sample() {
    let (_d, s) = common::store_with(docvault::Config {
        cache_capacity_bytes: 0,
        ..docvault::Config::default()
    });
    let d = s.create(NewDocument::new("t", "x")).unwrap();
    for _ in 0..400 {
        s.get(d.id).unwrap();
    }
    for _ in 0..40 {
        s.get(d.id + 1000).unwrap_err();
    }
    let m = s.metrics();
    assert_eq!(m.get_miss.count, 400);
    assert_eq!(m.get_miss.errors, 40);
    assert_eq!(m.get_hit.count, 0);
    // Each test runs on a thread of its own, whose count of gets starts
    // here: the 1st, 9th, 17th... of its 440 gets are timed.
    let every = u64::from(docvault::metrics::MISS_SAMPLE);
    assert_eq!(m.get_miss.latency.samples, 440 / every);
}
