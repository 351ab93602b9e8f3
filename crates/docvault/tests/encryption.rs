//! Encryption at rest: no plaintext on disk, the right key reopens, and
//! every unsafe state fails closed with its own error.

use std::path::{Path, PathBuf};

use docvault::{
    Config, DocumentPatch, Error, KdfParams, KeySource, MetaValue, NewDocument, SearchQuery, Store,
};

/// Lowercase and one token, so the search index stores it as is.
const MARKER: &str = "qzvmarkerqzv";

/// Cheap Argon2id parameters: tests only, never a production default.
fn cheap() -> KdfParams {
    KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    }
}

fn config(key: Option<KeySource>) -> Config {
    Config {
        encryption: key,
        kdf: cheap(),
        ..Config::default()
    }
}

fn pass(p: &str) -> Option<KeySource> {
    Some(KeySource::Passphrase(p.into()))
}

fn open(path: &Path, key: Option<KeySource>) -> docvault::Result<Store> {
    Store::open(path, config(key))
}

fn kind(r: docvault::Result<Store>) -> String {
    match r {
        Ok(_) => panic!("expected an error, the store opened"),
        Err(e) => e.kind().to_string(),
    }
}

/// Writes the marker into a title, content, metadata (key and value), the
/// version history and the search index, and the audit trail (titles).
fn write_marked(store: &Store) -> i64 {
    let doc = store
        .create(
            NewDocument::new(
                format!("Title {MARKER}"),
                format!("Body with {MARKER} inside"),
            )
            .meta(format!("key_{MARKER}"), format!("value {MARKER}")),
        )
        .unwrap();
    store
        .update(
            doc.id,
            DocumentPatch {
                content: Some(format!("Second version, still {MARKER}")),
                comment: Some(format!("comment {MARKER}")),
                ..Default::default()
            },
        )
        .unwrap();
    for i in 0..50 {
        store
            .create(NewDocument::new(
                format!("filler {i}"),
                format!("filler {i} {MARKER} ").repeat(20),
            ))
            .unwrap();
    }
    assert!(!store
        .search(&SearchQuery::new(MARKER))
        .unwrap()
        .results
        .is_empty());
    doc.id
}

/// Every file in `dir` (recursively) whose bytes contain the marker, in any
/// letter case.
fn files_with_marker(dir: &Path) -> Vec<PathBuf> {
    let needles: Vec<Vec<u8>> = [MARKER.to_string(), MARKER.to_uppercase()]
        .into_iter()
        .map(String::into_bytes)
        .collect();
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            if needles
                .iter()
                .any(|n| bytes.windows(n.len()).any(|w| w == n.as_slice()))
            {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn the_scan_finds_the_marker_in_a_plaintext_store() {
    // Proves the scan below would see plaintext if there were any.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("p.db"), None).unwrap();
    write_marked(&store);
    store.close().unwrap();
    assert!(!files_with_marker(dir.path()).is_empty());
}

#[test]
fn no_plaintext_on_disk_before_and_after_checkpoint_and_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.db");
    let store = open(&path, pass("correct horse")).unwrap();
    assert!(store.is_encrypted());
    let id = write_marked(&store);
    store.flush().unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    assert!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0,
        "the WAL holds the writes before the checkpoint"
    );
    assert_eq!(files_with_marker(dir.path()), Vec::<PathBuf>::new());
    store.optimize().unwrap();
    assert_eq!(files_with_marker(dir.path()), Vec::<PathBuf>::new());
    // A backup of an encrypted store is encrypted too.
    let backup = dir.path().join("backup.db");
    store.backup(&backup).unwrap();
    assert_eq!(files_with_marker(dir.path()), Vec::<PathBuf>::new());
    store.close().unwrap();
    assert_eq!(files_with_marker(dir.path()), Vec::<PathBuf>::new());

    for p in [&path, &backup] {
        let head = std::fs::read(p).unwrap();
        assert_ne!(&head[..16], b"SQLite format 3\0", "{}", p.display());
        assert_eq!(kind(open(p, None)), "store_encrypted");
        assert_eq!(kind(open(p, pass("wrong"))), "wrong_key");
    }

    for p in [&path, &backup] {
        let store = open(p, pass("correct horse")).unwrap();
        let doc = store.get(id).unwrap();
        assert!(doc.title.contains(MARKER));
        assert_eq!(doc.version, 2);
        assert_eq!(store.versions(id).unwrap().len(), 2);
        assert_eq!(
            doc.metadata.get(&format!("key_{MARKER}")),
            Some(&MetaValue::String(format!("value {MARKER}")))
        );
        assert_eq!(
            store.search(&SearchQuery::new(MARKER)).unwrap().total,
            51,
            "{}",
            p.display()
        );
        assert!(store.check().unwrap().ok);
        assert!(store.verify_audit().unwrap().ok);
        store.close().unwrap();
    }
    assert_eq!(files_with_marker(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn the_key_header_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    open(&path, pass("hunter2-passphrase"))
        .unwrap()
        .close()
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join("s.db.keyinfo")).unwrap();
    assert!(text.contains("argon2id"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn a_wrong_passphrase_is_wrong_key_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let s = open(&path, pass("right")).unwrap();
    s.create(NewDocument::new("a", "b")).unwrap();
    s.close().unwrap();
    let before = std::fs::read(&path).unwrap();
    let e = open(&path, pass("wrong")).unwrap_err();
    assert_eq!(e.kind(), "wrong_key", "{e}");
    assert!(e.to_string().starts_with("wrong passphrase or key"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let s = open(&path, pass("right")).unwrap();
    assert_eq!(s.get(1).unwrap().title, "a");
}

#[test]
fn no_key_for_an_encrypted_store_is_store_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    open(&path, pass("right")).unwrap().close().unwrap();
    let e = open(&path, None).unwrap_err();
    assert_eq!(e.kind(), "store_encrypted", "{e}");
    assert!(matches!(e, Error::StoreEncrypted { .. }));
    // Even with the database file gone, its header keeps a plaintext store
    // from being created in its place.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(kind(open(&path, None)), "store_encrypted");
}

#[test]
fn a_key_for_a_plaintext_store_is_not_encrypted_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let s = open(&path, None).unwrap();
    s.create(NewDocument::new("a", "b")).unwrap();
    s.close().unwrap();
    let before = std::fs::read(&path).unwrap();
    assert_eq!(kind(open(&path, pass("x"))), "not_encrypted");
    assert_eq!(
        kind(open(&path, Some(KeySource::RawKey([1; 32])))),
        "not_encrypted"
    );
    assert!(!dir.path().join("p.db.keyinfo").exists());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(open(&path, None).unwrap().get(1).unwrap().title, "a");
}

#[test]
fn a_damaged_or_missing_header_is_bad_key_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let header = dir.path().join("s.db.keyinfo");
    open(&path, pass("right")).unwrap().close().unwrap();
    let good = std::fs::read(&header).unwrap();
    for bad in [
        &b""[..],
        b"not json",
        b"{\"magic\":\"docvault-keyinfo\",\"version\":1,\"kdf\":\"argon2id\"}",
        b"{\"magic\":\"other\",\"version\":1,\"kdf\":\"raw\"}",
        b"{\"magic\":\"docvault-keyinfo\",\"version\":9,\"kdf\":\"raw\"}",
        b"{\"magic\":\"docvault-keyinfo\",\"version\":1,\"kdf\":\"argon2id\",\
           \"params\":{\"memory_kib\":64,\"iterations\":1,\"parallelism\":1},\"salt\":\"00\"}",
    ] {
        std::fs::write(&header, bad).unwrap();
        assert_eq!(
            kind(open(&path, pass("right"))),
            "bad_key_header",
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    std::fs::remove_file(&header).unwrap();
    assert_eq!(kind(open(&path, pass("right"))), "bad_key_header");
    // A different salt derives a different key.
    let text = String::from_utf8(good.clone()).unwrap();
    let salt_at = text.find("\"salt\": \"").unwrap() + 9;
    let mut other = text.clone();
    let flipped = if &text[salt_at..salt_at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    other.replace_range(salt_at..salt_at + 1, flipped);
    std::fs::write(&header, other).unwrap();
    assert_eq!(kind(open(&path, pass("right"))), "wrong_key");
    std::fs::write(&header, good).unwrap();
    open(&path, pass("right")).unwrap().close().unwrap();
}

#[test]
fn key_files_and_raw_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let key_file = dir.path().join("key.hex");
    std::fs::write(&key_file, format!("{}\n", "5a".repeat(32))).unwrap();
    let s = open(&path, Some(KeySource::KeyFile(key_file.clone()))).unwrap();
    s.create(NewDocument::new(MARKER, MARKER)).unwrap();
    s.close().unwrap();
    // The same key given as 32 raw bytes, or directly.
    let raw_file = dir.path().join("key.bin");
    std::fs::write(&raw_file, [0x5a; 32]).unwrap();
    for key in [KeySource::KeyFile(raw_file), KeySource::RawKey([0x5a; 32])] {
        let s = open(&path, Some(key)).unwrap();
        assert_eq!(s.get(1).unwrap().title, MARKER);
        s.close().unwrap();
    }
    assert_eq!(
        kind(open(&path, Some(KeySource::RawKey([0x5b; 32])))),
        "wrong_key"
    );
    assert_eq!(kind(open(&path, pass("5a5a"))), "wrong_key");
    assert_eq!(kind(open(&path, None)), "store_encrypted");
    let bad = dir.path().join("bad.key");
    for content in [&b"too short"[..], &[0u8; 31][..], &[0u8; 33][..]] {
        std::fs::write(&bad, content).unwrap();
        assert_eq!(
            kind(open(&path, Some(KeySource::KeyFile(bad.clone())))),
            "validation"
        );
    }
    assert_eq!(
        kind(open(
            &path,
            Some(KeySource::KeyFile(dir.path().join("missing")))
        )),
        "validation"
    );
    // The key file is not in the store's directory listing of secrets: the
    // marker scan covers the database files only.
    std::fs::remove_file(&key_file).unwrap();
    assert_eq!(files_with_marker(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_new_store_with_a_bad_key_file_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, b"nope").unwrap();
    assert_eq!(
        kind(open(&path, Some(KeySource::KeyFile(bad)))),
        "validation"
    );
    assert!(!path.exists());
    assert!(!dir.path().join("n.db.keyinfo").exists());
}

#[test]
fn readers_beyond_the_pool_are_keyed_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let s = Store::open(
        &path,
        Config {
            readers: 1,
            cache_capacity_bytes: 0,
            ..config(pass("p"))
        },
    )
    .unwrap();
    for i in 0..20 {
        s.create(NewDocument::new(format!("t{i}"), "c")).unwrap();
    }
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                for i in 1..=20 {
                    assert_eq!(s.get(i).unwrap().title, format!("t{}", i - 1));
                }
            });
        }
    });
    s.close().unwrap();
}

#[test]
fn debug_output_never_shows_the_secret() {
    let c = config(pass("sekrit-words"));
    assert!(!format!("{c:?}").contains("sekrit"));
    let k = KeySource::RawKey([0xab; 32]);
    assert!(!format!("{k:?}").contains("171"));
}

#[test]
fn the_open_store_keeps_no_passphrase_and_memory_security_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let s = Store::open(
        &path,
        Config {
            cipher_memory_security: true,
            ..config(pass("p"))
        },
    )
    .unwrap();
    assert!(s.config().encryption.is_none());
    assert!(s.is_encrypted());
    s.create(NewDocument::new("t", "c")).unwrap();
    s.close().unwrap();
    let s = open(&path, None);
    assert_eq!(kind(s), "store_encrypted");
    let s = open(&path, pass("p")).unwrap();
    assert_eq!(s.get(1).unwrap().title, "t");
}

#[test]
fn an_empty_passphrase_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(kind(open(&dir.path().join("e.db"), pass(""))), "validation");
}

/// Ids never come back after a hard delete, even across encrypting,
/// rekeying and decrypting (each copies the store table by table): the
/// cache, the access figures and the search index's "new document" mark
/// all rely on it. A document created afterwards is found by search.
#[test]
fn ids_are_never_reused_across_encrypt_rekey_and_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.db");
    let s = open(&path, None).unwrap();
    let a = s.create(NewDocument::new("a", "first")).unwrap().id;
    let b = s.create(NewDocument::new("b", "second")).unwrap().id;
    // Indexed, then the highest id goes.
    assert_eq!(s.search(&SearchQuery::new("second")).unwrap().total, 1);
    s.hard_delete(b, None).unwrap();
    s.close().unwrap();
    let key = pass("ids secret");
    docvault::encrypt(&path, key.as_ref().unwrap(), &cheap()).unwrap();
    let s = open(&path, key.clone()).unwrap();
    let c = s.create(NewDocument::new("c", "third kiwi")).unwrap().id;
    assert!(c > b, "id {c} reused after encrypt (a={a}, b={b})");
    assert_eq!(s.search(&SearchQuery::new("kiwi")).unwrap().total, 1);
    s.hard_delete(c, None).unwrap();
    s.close().unwrap();
    let new_key = pass("ids secret 2");
    docvault::rekey(
        &path,
        key.as_ref().unwrap(),
        new_key.as_ref().unwrap(),
        &cheap(),
    )
    .unwrap();
    let s = open(&path, new_key).unwrap();
    let d = s.create(NewDocument::new("d", "fourth weka")).unwrap().id;
    assert!(d > c, "id {d} reused after rekey (c={c})");
    s.hard_delete(d, None).unwrap();
    let plain = dir.path().join("plain.db");
    s.decrypt_to(&plain).unwrap();
    s.close().unwrap();
    let p = open(&plain, None).unwrap();
    let e = p.create(NewDocument::new("e", "fifth tui")).unwrap().id;
    assert!(e > d, "id {e} reused after decrypt (d={d})");
    assert_eq!(p.search(&SearchQuery::new("tui")).unwrap().total, 1);
    assert!(p.check().unwrap().ok, "{:?}", p.check().unwrap());
}
