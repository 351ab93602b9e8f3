//! WAL checkpoints run off the write path (see the `checkpoint` module):
//! they must happen, keep the WAL bounded, and lose nothing.

mod common;

use docvault::{NewDocument, Store};

fn doc(i: usize) -> NewDocument {
    NewDocument::new(
        format!("Doc {i}"),
        format!("checkpointed text {i} ").repeat(150),
    )
}

#[test]
fn checkpoints_run_in_the_background_and_bound_the_wal() {
    let (dir, store) = common::store();
    let db = dir.path().join("test.db");
    let wal = dir.path().join("test.db-wal");
    // ~50-70 KiB of WAL frames per create: 5,000 would make well over
    // 200 MiB of WAL if it never started over.
    let n = 5000;
    let mut wal_max = 0;
    for i in 0..n {
        store.create(doc(i)).unwrap();
        wal_max = wal_max.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    let m = store.metrics();
    assert!(
        m.checkpoints_background > 0,
        "no background checkpoint ran: {m:?}"
    );
    // Without any checkpoint the WAL would hold every page written
    // (over 200 MiB here); the inline fallback starts it over at the default
    // `wal_limit_bytes`, 64 MiB, and waits for a background copy from
    // 80 MiB on.
    assert!(wal_max < 96 << 20, "WAL grew to {} MiB", wal_max >> 20);
    // The checkpoints copied the documents into the database file itself.
    let db_len = std::fs::metadata(&db).unwrap().len();
    assert!(
        db_len > (n as u64) * 3000,
        "database file is {db_len} bytes"
    );
    store.close().unwrap();
    assert_eq!(
        std::fs::metadata(&wal).map_or(0, |m| m.len()),
        0,
        "close folds the WAL back"
    );

    let store = Store::open(&db, docvault::Config::default()).unwrap();
    assert_eq!(store.stats().unwrap().documents, n as i64);
    let last = store.get(n as i64).unwrap();
    assert_eq!(last.title, format!("Doc {}", n - 1));
    assert!(store.check().unwrap().ok);
}

#[test]
fn full_durability_checkpoints_too() {
    let (_dir, store) = common::store_with(docvault::Config {
        durability: docvault::Durability::Full,
        ..docvault::Config::default()
    });
    for i in 0..600 {
        store.create(doc(i)).unwrap();
    }
    assert!(store.metrics().checkpoints_background > 0);
    assert!(store.check().unwrap().ok);
}

/// The first background checkpointer (session 1) let the WAL grow past
/// 1 GB under steady reads: its checkpoints never saw every frame copied
/// at the moment a write began. Readers on other threads must not keep
/// the WAL from starting over.
#[test]
fn steady_uncached_reads_do_not_let_the_wal_grow() {
    let (dir, store) = common::store_with(docvault::Config {
        cache_capacity_bytes: 0,
        wal_limit_bytes: 16 << 20,
        ..docvault::Config::default()
    });
    let wal = dir.path().join("test.db-wal");
    for i in 0..50 {
        store.create(doc(i)).unwrap();
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let reads = std::sync::atomic::AtomicU64::new(0);
    // ~50-70 KiB of WAL frames per create: 5,000 would make well over
    // 200 MiB of WAL if it never started over.
    let n = 5000;
    let mut created = 50;
    let mut wal_max = 0;
    std::thread::scope(|s| {
        for t in 0..2 {
            let (store, stop, reads) = (&store, &stop, &reads);
            s.spawn(move || {
                let mut id = t;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    id = (id * 31 + 7) % 50;
                    store.get(id + 1).unwrap();
                    reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
        // Writes go on until the readers have read a good deal meanwhile:
        // a busy machine (the other tests) may starve them for a while.
        while created < n
            || (reads.load(std::sync::atomic::Ordering::Relaxed) < 2000 && created < 20 * n)
        {
            store.create(doc(created)).unwrap();
            created += 1;
            wal_max = wal_max.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let reads = reads.into_inner();
    assert!(reads >= 2000, "the readers hardly ran: {reads} reads");
    // From 20 MiB (a quarter past the limit) on, a commit waits for a
    // checkpoint. How far past that readers holding old snapshots keep
    // the WAL depends on how long the machine stalls them, not on the
    // limit, so the room is absolute: 24 MiB. (A bound of twice the limit,
    // 32 MiB, failed 4 runs of 12 beside four busy loops, at 33-41 MiB; a
    // WAL that never starts over passes 200 MiB here.) This test once
    // wrote 1,500 documents against a bound of 48 MiB: too few to tell
    // the two apart, and it failed under load at 52 MiB.
    assert!(
        wal_max < (20 << 20) + (24 << 20),
        "WAL grew to {} MiB under reads",
        wal_max >> 20
    );
    assert_eq!(store.stats().unwrap().documents, created as i64);
}

/// The WAL stays bounded while the disk is slow to sync. Two writers of
/// large synced files beside the store make each background checkpoint's
/// sync take long enough that commits kept finding the checkpoint thread
/// busy and skipped the fallback: with the limit at 32 MiB, the WAL reached
/// 51-60 MiB here in three runs out of three (and 84 MiB in a CI run,
/// session 9). The fallback now waits for the thread's checkpoint.
#[test]
fn the_wal_stays_bounded_while_syncs_are_slow() {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    // ~75-100 MiB of frames in all, against a limit of 8 MiB.
    let (dir, store) = common::store_with(docvault::Config {
        wal_limit_bytes: 8 << 20,
        ..docvault::Config::default()
    });
    let wal = dir.path().join("test.db-wal");
    let stop = AtomicBool::new(false);
    let wal_max = std::thread::scope(|s| {
        for n in 0..2 {
            let load = dir.path().join(format!("load{n}.bin"));
            let stop = &stop;
            s.spawn(move || {
                let block = vec![7u8; 1 << 20];
                while !stop.load(Ordering::Relaxed) {
                    let mut f = std::fs::File::create(&load).unwrap();
                    for _ in 0..256 {
                        f.write_all(&block).unwrap();
                    }
                    f.sync_all().unwrap();
                }
            });
        }
        let mut wal_max = 0;
        for i in 0..1500 {
            store.create(doc(i)).unwrap();
            wal_max = wal_max.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        stop.store(true, Ordering::Relaxed);
        wal_max
    });
    // Past 10 MiB a commit waits for the thread's checkpoint.
    assert!(wal_max < 12 << 20, "WAL grew to {} MiB", wal_max >> 20);
    assert!(store.check().unwrap().ok);
}
