//! Many threads on one store: no lost updates, gapless versions, exact
//! access counts.

mod common;

use std::sync::Arc;
use std::time::Duration;

use docvault::{Config, DocumentPatch, Error, MetaValue, NewDocument, Store};

#[test]
fn eight_writers_lose_no_update_and_versions_are_gapless() {
    let (_d, s) = common::store();
    let doc = s.create(NewDocument::new("counter", "0")).unwrap();
    let doc_id = doc.id;
    let per_thread = 25;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    // Optimistic read-modify-write: retry on conflict.
                    loop {
                        let cur = s.get(doc_id).unwrap();
                        let n: i64 = cur.content.as_deref().unwrap().parse().unwrap();
                        let mut p = DocumentPatch {
                            content: Some((n + 1).to_string()),
                            expect_version: Some(cur.version),
                            author: Some(format!("t{t}")),
                            ..Default::default()
                        };
                        p.set_meta.insert(format!("t{t}"), MetaValue::Integer(i));
                        match s.update(doc_id, p) {
                            Ok(_) => break,
                            Err(Error::Conflict { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let total = 8 * per_thread;
    let end = s.get(doc.id).unwrap();
    assert_eq!(end.content.as_deref(), Some(total.to_string().as_str()));
    assert_eq!(end.version, total + 1);
    // Every thread's own metadata key survived the others' patches.
    for t in 0..8 {
        assert_eq!(
            end.metadata[&format!("t{t}")],
            MetaValue::Integer(per_thread - 1)
        );
    }
    let versions = s.versions(doc.id).unwrap();
    let numbers: Vec<i64> = versions.iter().rev().map(|v| v.version).collect();
    assert_eq!(numbers, (1..=total + 1).collect::<Vec<_>>());
    for v in [1, total / 2, total + 1] {
        assert_eq!(s.version(doc.id, v).unwrap().content, (v - 1).to_string());
    }
    assert!(s.check().unwrap().ok);
}

#[test]
fn concurrent_creates_all_land() {
    let (_d, s) = common::store();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| {
                        s.create(NewDocument::new(format!("t{t}-{i}"), "x"))
                            .unwrap()
                            .id
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<i64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 400);
    assert_eq!(s.stats().unwrap().documents, 400);
    assert!(s.verify_audit().unwrap().ok);
}

#[test]
fn defect_access_counts_lost_under_concurrency() {
    access_counts_exact_under_racing_flushes(64 << 20);
}

#[test]
fn access_counts_exact_when_every_read_misses_the_cache() {
    access_counts_exact_under_racing_flushes(0);
}

fn access_counts_exact_under_racing_flushes(cache_capacity_bytes: usize) {
    // A tiny flush interval makes flushes race with the reads.
    let (dir, s) = common::store_with(Config {
        access_flush_interval: Duration::from_millis(1),
        cache_capacity_bytes,
        ..Config::default()
    });
    let docs: Vec<i64> = (0..4)
        .map(|i| s.create(NewDocument::new(format!("d{i}"), "x")).unwrap().id)
        .collect();
    let docs = Arc::new(docs);
    let reads_per_thread = 500;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = s.clone();
            let docs = Arc::clone(&docs);
            std::thread::spawn(move || {
                let id = docs[t % docs.len()];
                let mut last = 0;
                for _ in 0..reads_per_thread {
                    let n = s.get(id).unwrap().access_count;
                    // Exact at every moment: never goes back, never skips our own read.
                    assert!(n > last, "count went from {last} to {n}");
                    last = n;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Two threads per document.
    let expect = 2 * reads_per_thread as i64;
    for &id in docs.iter() {
        let d = s
            .list(&docvault::ListQuery::default())
            .unwrap()
            .documents
            .into_iter()
            .find(|d| d.id == id)
            .unwrap();
        assert_eq!(d.access_count, expect);
    }
    // Nothing is dropped at close: reopen and read the persisted figures.
    s.close().unwrap();
    let s = Store::open(dir.path().join("test.db"), Config::default()).unwrap();
    assert_eq!(s.stats().unwrap().pending_access_updates, 0);
    for &id in docs.iter() {
        assert_eq!(s.get(id).unwrap().access_count, expect + 1);
    }
}

/// With the cache off and flushes every millisecond, each read reports
/// exactly the reads so far, its own included, whichever flush it meets.
/// (The racing-flush tests above check only that counts grow and end
/// right: a constant offset would pass them.)
#[test]
fn every_uncached_read_reports_the_exact_count_across_flushes() {
    let (_dir, s) = common::store_with(Config {
        access_flush_interval: Duration::from_millis(1),
        cache_capacity_bytes: 0,
        ..Config::default()
    });
    let a = s.create(NewDocument::new("a", "x")).unwrap().id;
    let b = s.create(NewDocument::new("b", "x")).unwrap().id;
    let mut reads = [0i64; 2];
    for i in 0..3000 {
        // Mostly a, sometimes b: b's figures age out of the last flush.
        let (k, id) = if i % 7 == 0 { (1, b) } else { (0, a) };
        reads[k] += 1;
        let d = s.get(id).unwrap();
        assert_eq!(d.access_count, reads[k], "read {i} of document {id}");
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(3));
        }
    }
}

#[test]
fn defect_access_queue_dropped_updates_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let id = {
        // A flush interval longer than the test: only close can persist.
        let s = Store::open(
            &path,
            Config {
                access_flush_interval: Duration::from_secs(3600),
                ..Config::default()
            },
        )
        .unwrap();
        let id = s.create(NewDocument::new("t", "x")).unwrap().id;
        for _ in 0..20_000 {
            s.get(id).unwrap();
        }
        assert_eq!(s.stats().unwrap().pending_access_updates, 1);
        // Drop without close: drop must persist too.
        drop(s);
        id
    };
    let s = Store::open(&path, Config::default()).unwrap();
    let d = s
        .list(&docvault::ListQuery::default())
        .unwrap()
        .documents
        .remove(0);
    assert_eq!(d.id, id);
    assert_eq!(d.access_count, 20_000);
    assert!(d.last_accessed.is_some());
}

#[test]
fn access_tracking_can_be_disabled() {
    let (_d, s) = common::store_with(Config {
        access_tracking: false,
        ..Config::default()
    });
    let id = s.create(NewDocument::new("t", "x")).unwrap().id;
    for _ in 0..5 {
        s.get(id).unwrap();
    }
    s.flush().unwrap();
    let d = s.get(id).unwrap();
    assert_eq!(d.access_count, 0);
    assert_eq!(d.last_accessed, None);
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

#[test]
fn more_threads_than_reader_connections() {
    // One pooled reader for 8 threads: they wait their turn (or, past the
    // overflow delay, open a temporary connection); none fails or deadlocks.
    let (_d, s) = common::store_with(Config {
        readers: 1,
        cache_capacity_bytes: 0,
        ..Config::default()
    });
    let ids: Vec<i64> = (0..20)
        .map(|i| s.create(NewDocument::new(format!("d{i}"), "x")).unwrap().id)
        .collect();
    let ids = Arc::new(ids);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (s, ids) = (s.clone(), ids.clone());
            std::thread::spawn(move || {
                for &id in ids.iter() {
                    s.get(id).unwrap();
                    s.list(&docvault::ListQuery::default()).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(s.metrics().idle_readers <= 1);
}

/// Writes that fail inside a group (conflicting updates) make the writer
/// undo the group and run the other writes again: each create beside them
/// must still land exactly once, as returned, with one audit entry.
#[test]
fn creates_beside_failing_updates_land_once_each() {
    let (_d, s) = common::store();
    let target = s.create(NewDocument::new("contended", "0")).unwrap().id;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let updaters: Vec<_> = (0..4)
        .map(|_| {
            let (s, stop) = (s.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut conflicts = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let cur = s.get(target).unwrap();
                    let p = DocumentPatch {
                        content: Some(format!("{}", cur.version)),
                        expect_version: Some(cur.version),
                        ..Default::default()
                    };
                    match s.update(target, p) {
                        Ok(_) => {}
                        Err(Error::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                conflicts
            })
        })
        .collect();
    let creators: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut made = Vec::new();
                // Until the writer has run groups again, or for at most 20 s.
                let started = std::time::Instant::now();
                while made.len() < 100
                    || (s.metrics().write_group_reruns < 5
                        && started.elapsed() < Duration::from_secs(20))
                {
                    let title = format!("t{t}-{}", made.len());
                    made.push((
                        title.clone(),
                        s.create(NewDocument::new(title, "x")).unwrap(),
                    ));
                }
                made
            })
        })
        .collect();
    let made: Vec<_> = creators
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let conflicts: u64 = updaters.into_iter().map(|u| u.join().unwrap()).sum();
    let m = s.metrics();
    assert!(conflicts > 0, "the updates conflicted");
    assert!(m.write_group_reruns >= 5, "groups ran again: {m:?}");
    for (title, doc) in &made {
        let stored = s.get(doc.id).unwrap();
        assert_eq!((&stored.title, stored.uuid), (title, doc.uuid));
        assert_eq!(stored.version, 1);
    }
    assert_eq!(s.stats().unwrap().documents as usize, made.len() + 1);
    let audit = s.verify_audit().unwrap();
    assert!(audit.ok, "{audit:?}");
    let end = s.get(target).unwrap();
    assert_eq!(s.versions(target).unwrap().len() as i64, end.version);
    assert!(s.check().unwrap().ok);
}
