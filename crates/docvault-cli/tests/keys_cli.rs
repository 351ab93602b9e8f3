//! Key changes end to end: `encrypt`, `rekey`, `decrypt`, and what a crash
//! in the middle of one leaves behind. The crashes are real: the process
//! aborts at a named step (`DOCVAULT_FAILPOINT`) or is killed with SIGKILL
//! at a random moment.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{cmd, err_kind, json, kill_after, ok, Fractions, Key};
use docvault::{Config, KeySource, NewDocument, Store};
use serde_json::Value;

const MARKER: &str = "zqxkeysmarker";

fn write_key(dir: &Path, name: &str, byte: u8) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, hex_of(byte)).unwrap();
    p
}

fn hex_of(byte: u8) -> String {
    format!("{byte:02x}").repeat(32)
}

/// No file in `dir` holds the marker in the clear.
fn assert_no_marker(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
                "{} holds the marker in plaintext",
                p.display()
            );
        }
    }
}

/// A store of `n` documents whose content holds the marker.
fn make_store(db: &Path, key: Option<KeySource>, n: usize) {
    let store = Store::open(
        db,
        Config {
            encryption: key,
            ..Config::default()
        },
    )
    .unwrap();
    let docs = (0..n)
        .map(|i| {
            NewDocument::new(
                format!("Doc {i}"),
                format!(
                    "# Doc {i}\n\n{MARKER} body {i} {}",
                    "lorem ipsum ".repeat(40)
                ),
            )
            .meta("i", i as i64)
        })
        .collect();
    store.create_many(docs).unwrap();
    store.close().unwrap();
}

/// The store opens with `key` and holds its `n` documents intact.
fn assert_usable(db: &Path, key: Key<'_>, n: usize) {
    let stats = ok(db, key, &["stats"]);
    assert_eq!(stats["documents"].as_u64(), Some(n as u64));
    let doc = ok(db, key, &["get", "1"]);
    assert!(doc["content"].as_str().unwrap().contains("body 0"));
    let check = ok(db, key, &["check"]);
    assert_eq!(check["ok"], Value::Bool(true), "{check}");
}

#[test]
fn encrypt_rekey_decrypt_and_export_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let k1 = write_key(dir.path(), "k1", 0x11);
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "a long new passphrase\n").unwrap();
    make_store(&db, None, 5);

    let v = ok(&db, Key::File(&k1), &["encrypt"]);
    assert_eq!(v["encrypted"], Value::Bool(true));
    assert_eq!(err_kind(&db, Key::Plain, &["get", "1"]), "store_encrypted");
    assert_eq!(
        err_kind(&db, Key::File(&k1), &["encrypt"]),
        "store_encrypted"
    );
    assert_usable(&db, Key::File(&k1), 5);
    assert_no_marker(dir.path());

    // rekey needs a new key; without one (and no terminal) it says so.
    assert_eq!(err_kind(&db, Key::File(&k1), &["rekey"]), "validation");
    let v = ok(
        &db,
        Key::File(&k1),
        &["rekey", "--new-passphrase-file", pass.to_str().unwrap()],
    );
    assert_eq!(v["rekeyed"], Value::Bool(true));
    assert_eq!(err_kind(&db, Key::File(&k1), &["get", "1"]), "wrong_key");
    assert_usable(&db, Key::Pass(&pass), 5);
    // The new passphrase also works from the environment for the next rekey.
    let out = cmd(&db, Key::Pass(&pass), &["rekey"])
        .env("DOCVAULT_NEW_PASSPHRASE", "third one")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(err_kind(&db, Key::Pass(&pass), &["stats"]), "wrong_key");
    let pass3 = dir.path().join("pass3");
    std::fs::write(&pass3, "third one").unwrap();
    assert_usable(&db, Key::Pass(&pass3), 5);
    assert_no_marker(dir.path());

    // Export of an encrypted store writes plaintext: only when asked.
    let md = dir.path().join("md");
    let kind = err_kind(&db, Key::Pass(&pass3), &["export", md.to_str().unwrap()]);
    assert_eq!(kind, "validation");
    assert!(!md.exists());
    assert_no_marker(dir.path());

    // decrypt writes a plaintext copy elsewhere and leaves the store alone.
    let out_dir = tempfile::tempdir().unwrap();
    let plain = out_dir.path().join("plain.db");
    let v = ok(
        &db,
        Key::Pass(&pass3),
        &["decrypt", "--out", plain.to_str().unwrap()],
    );
    assert_eq!(v["documents"].as_u64(), Some(5));
    assert_usable(&plain, Key::Plain, 5);
    assert_eq!(
        err_kind(
            &db,
            Key::Pass(&pass3),
            &["decrypt", "--out", plain.to_str().unwrap()]
        ),
        "validation"
    );
    assert_usable(&db, Key::Pass(&pass3), 5);
    assert_no_marker(dir.path());

    let md = out_dir.path().join("md");
    ok(
        &db,
        Key::Pass(&pass3),
        &["export", md.to_str().unwrap(), "--allow-plaintext"],
    );
    assert_eq!(std::fs::read_dir(&md).unwrap().count(), 5);
}

/// Runs `args` with the process aborting at `point`; it must not succeed.
fn crash_at(db: &Path, key: Key<'_>, args: &[&str], point: &str) {
    let out = cmd(db, key, args)
        .env("DOCVAULT_FAILPOINT", point)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{args:?} went through failpoint {point}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_crash_at_each_step_of_a_key_change_leaves_one_usable_store() {
    // Before the rename the old store stands; from it on, the new one.
    let steps = [
        ("keyswap-after-copy", false),
        ("keyswap-after-journal", false),
        ("keyswap-after-rename", true),
        ("keyswap-after-header", true),
    ];
    for (point, new_wins) in steps {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let k1 = write_key(dir.path(), "k1", 0x21);
        let k2 = write_key(dir.path(), "k2", 0x22);
        make_store(&db, Some(KeySource::KeyFile(k1.clone())), 30);
        crash_at(
            &db,
            Key::File(&k1),
            &["rekey", "--new-key-file", k2.to_str().unwrap()],
            point,
        );
        let (good, bad) = if new_wins { (&k2, &k1) } else { (&k1, &k2) };
        assert_eq!(
            err_kind(&db, Key::File(bad), &["stats"]),
            "wrong_key",
            "{point}"
        );
        assert_usable(&db, Key::File(good), 30);
        assert!(!dir.path().join("s.db.keyswap").exists(), "{point}");
        assert!(!dir.path().join("s.db.keyswap-db").exists(), "{point}");
        assert_no_marker(dir.path());
        // And a key change after the crash goes through.
        ok(
            &db,
            Key::File(good),
            &["rekey", "--new-key-file", bad.to_str().unwrap()],
        );
        assert_usable(&db, Key::File(bad), 30);

        // The same steps when encrypting a plaintext store.
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("p.db");
        let k = write_key(dir.path(), "k", 0x23);
        make_store(&db, None, 30);
        crash_at(&db, Key::File(&k), &["encrypt"], point);
        if new_wins {
            assert_eq!(err_kind(&db, Key::Plain, &["stats"]), "store_encrypted");
            assert_usable(&db, Key::File(&k), 30);
        } else {
            assert_eq!(err_kind(&db, Key::File(&k), &["stats"]), "not_encrypted");
            assert_usable(&db, Key::Plain, 30);
        }
    }
}

#[test]
fn a_crash_before_decrypt_finishes_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let k = write_key(dir.path(), "k", 0x31);
    make_store(&db, Some(KeySource::KeyFile(k.clone())), 10);
    let out = dir.path().join("plain.db");
    crash_at(
        &db,
        Key::File(&k),
        &["decrypt", "--out", out.to_str().unwrap()],
        "decrypt-before-rename",
    );
    assert!(!out.exists());
    assert_usable(&db, Key::File(&k), 10);
    // A retry replaces the partial file and completes.
    ok(
        &db,
        Key::File(&k),
        &["decrypt", "--out", out.to_str().unwrap()],
    );
    assert_usable(&out, Key::Plain, 10);
}

#[test]
fn rekey_killed_at_random_moments_never_loses_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let keys = [
        write_key(dir.path(), "ka", 0x41),
        write_key(dir.path(), "kb", 0x42),
    ];
    let n = 3000;
    make_store(&db, Some(KeySource::KeyFile(keys[0].clone())), n);
    let rekey_args = |to: &Path| {
        vec![
            "rekey".to_string(),
            "--new-key-file".into(),
            to.display().to_string(),
        ]
    };
    // How long one whole rekey takes, so kills land all through it.
    let mut cur = 0;
    let t = Instant::now();
    let args = rekey_args(&keys[1]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&db, Key::File(&keys[cur]), &args);
    let full = t.elapsed();
    cur = 1;
    let mut outcomes = [0usize; 2];
    for (round, f) in Fractions::new(0x9E37_79B9_7F4A_7C15).take(12).enumerate() {
        let delay = full.mul_f64(f * 1.1);
        let other = 1 - cur;
        let args = rekey_args(&keys[other]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kill_after(cmd(&db, Key::File(&keys[cur]), &args), delay);
        // Exactly one of the two keys opens the store, and it is whole.
        let with_cur = cmd(&db, Key::File(&keys[cur]), &["stats"])
            .output()
            .unwrap();
        let winner = if with_cur.status.success() {
            cur
        } else {
            assert_eq!(
                json(&with_cur)["error"]["kind"],
                "wrong_key",
                "round {round}"
            );
            other
        };
        let loser = 1 - winner;
        assert_eq!(
            err_kind(&db, Key::File(&keys[loser]), &["stats"]),
            "wrong_key",
            "round {round}"
        );
        let stats = ok(&db, Key::File(&keys[winner]), &["stats"]);
        assert_eq!(stats["documents"].as_u64(), Some(n as u64), "round {round}");
        outcomes[usize::from(winner != cur)] += 1;
        cur = winner;
    }
    assert_usable(&db, Key::File(&keys[cur]), n);
    assert_no_marker(dir.path());
    // Not a proof that kills landed mid-way, but a sign: report the split.
    eprintln!(
        "killed rekeys: {} left the old key, {} the new (full rekey took {:?})",
        outcomes[0], outcomes[1], full
    );
}
