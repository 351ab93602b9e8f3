//! Changing how a store is keyed: [`rekey`] (new passphrase or key),
//! [`encrypt`] (a plaintext store becomes encrypted) and
//! [`Store::decrypt_to`] (a plaintext copy in a new file).
//!
//! # Crash safety
//!
//! A store is two files that must agree: the database and its key header
//! (`<db>.keyinfo`). Neither can be changed in place atomically together
//! with the other, so a key change goes through a journal:
//!
//! 1. The whole store is copied, re-encrypted under the new key, to
//!    `<db>.keyswap-db`, verified and synced. The old store is untouched.
//! 2. The journal `<db>.keyswap` is written atomically. It holds the new
//!    key header (no secret).
//! 3. The copy is renamed over the database (atomic).
//! 4. The journal's header is installed as `<db>.keyinfo` (atomic).
//! 5. The journal is removed.
//!
//! Every open (and every key change) first finishes or undoes an
//! interrupted change, without needing any key: a journal beside a copy
//! means step 3 never happened, so the copy and the journal are dropped
//! and the old store stands; a journal without a copy means step 3 did
//! happen, so steps 4 and 5 are redone. A crash at any point therefore
//! leaves the old store or the new one usable, never neither. The tests
//! kill the process at each step and at random moments.

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, CipherKey, Header, KdfParams, KeySource};
use crate::error::{Error, Result};
use crate::lock::StoreLock;
use crate::schema;
use crate::store::{apply_key, check_sqlcipher, existing_key, first_read, Store};

/// `<db><suffix>`.
fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn journal_path(db: &Path) -> PathBuf {
    sibling(db, ".keyswap")
}

fn copy_path(db: &Path) -> PathBuf {
    sibling(db, ".keyswap-db")
}

/// What the journal records: the header the store has once the change is
/// complete.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Journal {
    magic: String,
    header: Header,
}

const JOURNAL_MAGIC: &str = "docvault-keyswap";

/// Aborts the process at the named step when `DOCVAULT_FAILPOINT` names
/// it: how the crash-safety tests stop a key change mid-way.
fn failpoint(name: &str) {
    if std::env::var_os("DOCVAULT_FAILPOINT").is_some_and(|v| v == name) {
        std::process::abort();
    }
}

/// Removes a file, treating "already gone" as success.
fn remove_if_exists(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn remove_copy(db: &Path) -> Result<()> {
    let copy = copy_path(db);
    for suffix in ["-wal", "-shm", "-journal"] {
        remove_if_exists(&sibling(&copy, suffix))?;
    }
    remove_if_exists(&copy)
}

/// Finishes or undoes a key change interrupted by a crash (see the module
/// documentation). The caller holds the store lock.
pub(crate) fn recover(db: &Path) -> Result<()> {
    let jp = journal_path(db);
    let copy = copy_path(db);
    let text = match fs::read_to_string(&jp) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A copy without a journal was never committed to.
            if copy.exists() {
                remove_copy(db)?;
            }
            remove_if_exists(&sibling(&jp, ".tmp"))?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let journal: Journal = serde_json::from_str(&text)
        .ok()
        .filter(|j: &Journal| j.magic == JOURNAL_MAGIC)
        .ok_or_else(|| Error::BadKeyHeader {
            path: jp.clone(),
            reason: "the key change journal is damaged; the store needs attention by hand".into(),
        })?;
    if copy.exists() {
        // The copy never replaced the store: undo. The journal goes first,
        // so a crash here leaves a bare copy, which is dropped as above.
        remove_if_exists(&jp)?;
        crypto::sync_dir(&jp);
        remove_copy(db)?;
    } else {
        journal.header.write(&crypto::header_path(db))?;
        remove_if_exists(&jp)?;
        crypto::sync_dir(&jp);
    }
    Ok(())
}

/// The store as it is keyed now: an open connection, and for an
/// encrypted store its header and key.
struct Current {
    conn: Connection,
    keyed: Option<(Header, CipherKey)>,
}

/// Opens a connection on the store as it is keyed now, failing with the
/// same typed errors as [`Store::open`].
fn open_current(db: &Path, current: Option<&KeySource>) -> Result<Current> {
    if crypto::is_new(db)? {
        return Err(Error::NotFound {
            entity: "store",
            id: db.display().to_string(),
        });
    }
    let keyed = existing_key(db, current, &KdfParams::default())?;
    let conn = open_keyed(db, keyed.as_ref().map(|(_, k)| k))?;
    let version = first_read(&conn, db, keyed.is_some())?;
    if version > schema::LATEST {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: schema::LATEST,
        });
    }
    Ok(Current { conn, keyed })
}

/// A connection of its own on `path`, keyed when `key` is given.
fn open_keyed(path: &Path, key: Option<&CipherKey>) -> Result<Connection> {
    let conn = crate::store::open_file(path)?;
    if let Some(k) = key {
        apply_key(&conn, k, false)?;
    }
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn utf8(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| Error::validation("path", format!("{} is not valid UTF-8", p.display())))
}

/// Runs `sql` (a `sqlcipher_export`) and the copy of the schema version
/// in one transaction, so the copy is one snapshot even while a writer
/// goes on.
fn export_in_snapshot(conn: &Connection, sql: &str, dest_schema: &str, version: i64) -> Result<()> {
    conn.execute_batch("BEGIN")?;
    let res = (|| -> Result<()> {
        conn.query_row(sql, [], |_| Ok(()))?;
        conn.pragma_update(Some(dest_schema), "user_version", version)?;
        Ok(())
    })();
    match res {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Copies the encrypted store behind `src` into a new plaintext file
/// `dest`. A plaintext database attaches with no cipher settings, so the
/// source's own settings never matter.
fn export_plaintext(src: &Connection, dest: &Path) -> Result<()> {
    let version = schema::version(src)?;
    src.execute("ATTACH DATABASE ?1 AS plain KEY ''", [utf8(dest)?])?;
    let copied = export_in_snapshot(src, "SELECT sqlcipher_export('plain')", "plain", version);
    let detached = src.execute_batch("DETACH DATABASE plain");
    copied?;
    detached?;
    Ok(())
}

/// Copies the plaintext store at `src` into a new file `dest` encrypted
/// with `key`. The new file is the main database of a connection keyed
/// and configured exactly as the store will be, and the plaintext source
/// is attached to it: SQLCipher applies per-connection cipher settings
/// only to the main database.
fn export_encrypted(src: &Path, version: i64, dest: &Path, key: &CipherKey) -> Result<()> {
    let conn = open_keyed(dest, Some(key))?;
    conn.execute("ATTACH DATABASE ?1 AS src KEY ''", [utf8(src)?])?;
    let copied = export_in_snapshot(
        &conn,
        "SELECT sqlcipher_export('main', 'src')",
        "main",
        version,
    );
    let detached = conn.execute_batch("DETACH DATABASE src");
    copied?;
    detached?;
    conn.close().map_err(|(_, e)| Error::from(e))?;
    Ok(())
}

/// Copies the (checkpointed) encrypted store file to `dest` byte for byte
/// and re-encrypts the copy under `new` with `PRAGMA rekey`, which keeps
/// the cipher settings of its pages.
fn rekey_copy(src: &Path, old: &CipherKey, dest: &Path, new: &CipherKey) -> Result<()> {
    fs::copy(src, dest)?;
    let conn = open_keyed(dest, Some(old))?;
    // The copy is one file: no WAL beside it, before or after the rekey.
    let mode: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(Error::Database(format!(
            "the copy is in journal mode {mode}"
        )));
    }
    conn.execute_batch(crypto::rekey_pragma(&new.key).as_str())?;
    conn.close().map_err(|(_, e)| Error::from(e))?;
    Ok(())
}

/// Opens the copy on its own, as the store will be opened: it must pass
/// SQLite's integrity check and hold as many rows as the original. Then
/// syncs it.
fn verify_copy(src: &Connection, dest: &Path, key: Option<&CipherKey>) -> Result<()> {
    let conn = open_keyed(dest, key)?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| Error::Corrupt(format!("the new copy cannot be read: {e}")))?;
    if check != "ok" {
        return Err(Error::Corrupt(format!(
            "the new copy failed its integrity check: {check}"
        )));
    }
    for table in ["documents", "versions", "audit_log", "metadata"] {
        let sql = format!("SELECT count(*) FROM {table}");
        let a: i64 = src.query_row(&sql, [], |r| r.get(0))?;
        let b: i64 = conn.query_row(&sql, [], |r| r.get(0))?;
        if a != b {
            return Err(Error::Corrupt(format!(
                "the new copy holds {b} rows of {table}, the store {a}"
            )));
        }
    }
    // The store will be opened in WAL mode again; the copy is one file.
    let mode: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(Error::Database(format!(
            "the new copy is in journal mode {mode}"
        )));
    }
    conn.close().map_err(|(_, e)| Error::from(e))?;
    fs::File::open(dest)?.sync_all()?;
    crypto::sync_dir(dest);
    Ok(())
}

/// Replaces the store at `db` by a copy keyed with `new`, through the
/// journal described in the module documentation.
fn swap_key(
    db: &Path,
    current: Option<&KeySource>,
    new: &KeySource,
    kdf: &KdfParams,
) -> Result<()> {
    if let KeySource::Passphrase(p) = new {
        if p.is_empty() {
            return Err(Error::validation("new_passphrase", "must not be empty"));
        }
    }
    kdf.validate()?;
    let _lock = StoreLock::acquire(db)?;
    recover(db)?;
    let cur = open_current(db, current)?;
    // The copy must hold everything: fold the WAL into the file first.
    cur.conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    check_sqlcipher()?;
    let mut header = Header::new(new, kdf)?;
    if let Some((old_header, _)) = &cur.keyed {
        header = header.with_hmac_of(old_header);
    }
    let key = header.derive(new, &crypto::header_path(db))?;
    remove_copy(db)?;
    let copy = copy_path(db);
    let made = match &cur.keyed {
        Some((_, old_key)) => rekey_copy(db, old_key, &copy, &key),
        None => export_encrypted(db, schema::version(&cur.conn)?, &copy, &key),
    }
    .and_then(|()| verify_copy(&cur.conn, &copy, Some(&key)));
    if let Err(e) = made {
        let _ = remove_copy(db);
        return Err(e);
    }
    failpoint("keyswap-after-copy");

    let journal = Journal {
        magic: JOURNAL_MAGIC.into(),
        header: header.clone(),
    };
    let text = serde_json::to_string_pretty(&journal)
        .map_err(|e| Error::Database(format!("cannot encode the key change journal: {e}")))?;
    let jp = journal_path(db);
    if let Err(e) = crypto::write_atomically(&jp, text.as_bytes()) {
        let _ = remove_copy(db);
        return Err(e);
    }
    failpoint("keyswap-after-journal");

    // Closing the last connection removes the (checkpointed) WAL; a WAL
    // left with frames in it would be replayed onto the new file.
    cur.conn.close().map_err(|(_, e)| Error::from(e))?;
    let wal = sibling(db, "-wal");
    if fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        recover(db)?;
        return Err(Error::Database(format!(
            "{} still holds changes after a checkpoint; nothing was changed",
            wal.display()
        )));
    }
    remove_if_exists(&wal)?;
    remove_if_exists(&sibling(db, "-shm"))?;
    fs::rename(&copy, db)?;
    crypto::sync_dir(db);
    failpoint("keyswap-after-rename");

    header.write(&crypto::header_path(db))?;
    failpoint("keyswap-after-header");
    remove_if_exists(&jp)?;
    crypto::sync_dir(&jp);
    Ok(())
}

/// Changes the passphrase or key of the encrypted store at `db` from
/// `current` to `new` (a passphrase gets a fresh salt and `kdf`'s Argon2id
/// parameters). The store must not be open. Afterwards only `new` opens
/// it. Crash-safe: see the [module documentation](self).
///
/// ```
/// use docvault::{Config, KdfParams, KeySource, NewDocument, Store};
/// # fn main() -> docvault::Result<()> {
/// let dir = tempfile::tempdir()?;
/// let db = dir.path().join("docs.db");
/// let kdf = KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 };
/// let old = KeySource::Passphrase("old secret".into());
/// let store = Store::open(&db, Config { encryption: Some(old.clone()), kdf, ..Config::default() })?;
/// store.create(NewDocument::new("Plan", "text"))?;
/// store.close()?;
///
/// let new = KeySource::Passphrase("new secret".into());
/// docvault::rekey(&db, &old, &new, &kdf)?;
/// let err = Store::open(&db, Config { encryption: Some(old), ..Config::default() }).unwrap_err();
/// assert_eq!(err.kind(), "wrong_key");
/// let store = Store::open(&db, Config { encryption: Some(new), ..Config::default() })?;
/// assert_eq!(store.get(1)?.title, "Plan");
/// # Ok(()) }
/// ```
pub fn rekey(
    db: impl AsRef<Path>,
    current: &KeySource,
    new: &KeySource,
    kdf: &KdfParams,
) -> Result<()> {
    swap_key(db.as_ref(), Some(current), new, kdf)
}

/// Encrypts the plaintext store at `db` under `key`. The store must not be
/// open. Crash-safe: see the [module documentation](self). The old
/// plaintext file is replaced by rename, so its bytes are no longer
/// reachable through the file system, but the disk may still hold them
/// until overwritten.
pub fn encrypt(db: impl AsRef<Path>, key: &KeySource, kdf: &KdfParams) -> Result<()> {
    swap_key(db.as_ref(), None, key, kdf)
}

impl Store {
    /// Writes a decrypted, plaintext copy of this encrypted store to `dest`,
    /// which must not exist. The copy is one consistent snapshot, built in
    /// a temporary file beside `dest` and renamed into place, so a crash
    /// leaves either no `dest` or a complete one. Fails with
    /// [`Error::NotEncrypted`] for a plaintext store (use
    /// [`Store::backup`]).
    pub fn decrypt_to(&self, dest: impl AsRef<Path>) -> Result<()> {
        let dest = dest.as_ref();
        if !self.is_encrypted() {
            return Err(Error::NotEncrypted {
                path: self.path().to_path_buf(),
            });
        }
        if dest.exists() {
            return Err(Error::validation(
                "out",
                format!("{} already exists", dest.display()),
            ));
        }
        self.flush()?;
        let tmp = sibling(dest, ".partial");
        remove_if_exists(&tmp)?;
        let conn = self.open_connection()?;
        if let Err(e) = export_plaintext(&conn, &tmp).and_then(|()| verify_copy(&conn, &tmp, None))
        {
            let _ = remove_if_exists(&tmp);
            return Err(e);
        }
        failpoint("decrypt-before-rename");
        // Refuse to replace a file that appeared meanwhile.
        if dest.exists() {
            let _ = remove_if_exists(&tmp);
            return Err(Error::validation(
                "out",
                format!("{} already exists", dest.display()),
            ));
        }
        fs::rename(&tmp, dest)?;
        crypto::sync_dir(dest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, NewDocument};

    fn kdf() -> KdfParams {
        KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn config(key: Option<KeySource>) -> Config {
        Config {
            encryption: key,
            kdf: kdf(),
            ..Config::default()
        }
    }

    fn pass(s: &str) -> KeySource {
        KeySource::Passphrase(s.into())
    }

    fn fill(db: &Path, key: Option<KeySource>, n: usize) {
        let store = Store::open(db, config(key)).unwrap();
        for i in 0..n {
            let d = store
                .create(
                    NewDocument::new(format!("Doc {i}"), format!("secret body {i}"))
                        .meta("k", i as i64),
                )
                .unwrap();
            if i % 3 == 0 {
                store
                    .update(
                        d.id,
                        crate::DocumentPatch {
                            content: Some(format!("second body {i}")),
                            ..Default::default()
                        },
                    )
                    .unwrap();
            }
        }
        store.close().unwrap();
    }

    fn assert_intact(db: &Path, key: Option<KeySource>, n: usize) {
        let store = Store::open(db, config(key)).unwrap();
        assert_eq!(store.stats().unwrap().documents as usize, n);
        let d = store.get(1).unwrap();
        assert_eq!(d.content.as_deref(), Some("second body 0"));
        assert_eq!(store.versions(1).unwrap().len(), 2);
        let hits = store.search(&crate::SearchQuery::new("second")).unwrap();
        assert!(hits.total > 0);
        assert!(store.verify_audit().unwrap().ok);
        let report = store.check().unwrap();
        assert!(report.ok, "{report:?}");
        store.close().unwrap();
    }

    #[test]
    fn rekey_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        fill(&db, Some(pass("one")), 21);
        // Ids are never reused: the AUTOINCREMENT sequence must survive.
        let store = Store::open(&db, config(Some(pass("one")))).unwrap();
        store.hard_delete(21, None).unwrap();
        store.close().unwrap();
        rekey(&db, &pass("one"), &pass("two"), &kdf()).unwrap();
        let store = Store::open(&db, config(Some(pass("two")))).unwrap();
        let d = store.create(NewDocument::new("Doc 21", "x")).unwrap();
        assert_eq!(d.id, 22);
        store.hard_delete(22, None).unwrap();
        store.close().unwrap();
        let err = Store::open(&db, config(Some(pass("one")))).unwrap_err();
        assert_eq!(err.kind(), "wrong_key");
        assert_intact(&db, Some(pass("two")), 20);
        // And to a raw key and back to a passphrase.
        let raw = KeySource::RawKey([9; 32]);
        rekey(&db, &pass("two"), &raw, &kdf()).unwrap();
        assert_eq!(
            Store::open(&db, config(Some(pass("two"))))
                .unwrap_err()
                .kind(),
            "wrong_key"
        );
        assert_intact(&db, Some(raw.clone()), 20);
        rekey(&db, &raw, &pass("three"), &kdf()).unwrap();
        assert_intact(&db, Some(pass("three")), 20);
        for leftover in [".keyswap", ".keyswap-db", "-wal"] {
            assert!(!sibling(&db, leftover).exists(), "{leftover} left behind");
        }
    }

    #[test]
    fn rekey_refuses_a_wrong_current_key_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        fill(&db, Some(pass("one")), 4);
        let before = fs::read(&db).unwrap();
        let err = rekey(&db, &pass("nope"), &pass("two"), &kdf()).unwrap_err();
        assert_eq!(err.kind(), "wrong_key");
        assert_eq!(fs::read(&db).unwrap(), before);
        assert!(!copy_path(&db).exists());
        assert_intact(&db, Some(pass("one")), 4);
    }

    #[test]
    fn encrypt_then_decrypt_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        fill(&db, None, 12);
        // A key for a plaintext store is refused; encrypt is the way.
        assert_eq!(
            rekey(&db, &pass("x"), &pass("y"), &kdf())
                .unwrap_err()
                .kind(),
            "not_encrypted"
        );
        encrypt(&db, &pass("k"), &kdf()).unwrap();
        assert!(!crypto::looks_plaintext(&db).unwrap());
        assert_eq!(
            Store::open(&db, config(None)).unwrap_err().kind(),
            "store_encrypted"
        );
        assert_eq!(
            encrypt(&db, &pass("k"), &kdf()).unwrap_err().kind(),
            "store_encrypted"
        );
        assert_intact(&db, Some(pass("k")), 12);

        let out = dir.path().join("plain.db");
        let store = Store::open(&db, config(Some(pass("k")))).unwrap();
        store.decrypt_to(&out).unwrap();
        assert_eq!(store.decrypt_to(&out).unwrap_err().kind(), "validation");
        store.close().unwrap();
        assert!(crypto::looks_plaintext(&out).unwrap());
        assert!(!crypto::header_path(&out).exists());
        assert_intact(&out, None, 12);
        // The encrypted original is untouched.
        assert_intact(&db, Some(pass("k")), 12);
    }

    #[test]
    fn decrypt_of_a_plaintext_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let store = Store::open(&db, config(None)).unwrap();
        let err = store.decrypt_to(dir.path().join("o.db")).unwrap_err();
        assert_eq!(err.kind(), "not_encrypted");
    }

    #[test]
    fn key_changes_need_the_store_closed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let store = Store::open(&db, config(Some(pass("a")))).unwrap();
        let err = rekey(&db, &pass("a"), &pass("b"), &kdf()).unwrap_err();
        assert_eq!(err.kind(), "store_in_use");
        store.close().unwrap();
        let err = rekey(dir.path().join("absent.db"), &pass("a"), &pass("b"), &kdf()).unwrap_err();
        assert_eq!(err.kind(), "not_found");
    }

    /// Leaves the files as a crash right after the journal was written
    /// would: the store keyed with "one", its copy under "two" beside it,
    /// and the journal naming "two"'s header.
    fn stage_until_journal(db: &Path) {
        fill(db, Some(pass("one")), 5);
        let cur = open_current(db, Some(&pass("one"))).unwrap();
        cur.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        let h = Header::new(&pass("two"), &kdf()).unwrap();
        let k = h.derive(&pass("two"), &crypto::header_path(db)).unwrap();
        let old = &cur.keyed.as_ref().unwrap().1;
        rekey_copy(db, old, &copy_path(db), &k).unwrap();
        drop(cur);
        let j = Journal {
            magic: JOURNAL_MAGIC.into(),
            header: h,
        };
        crypto::write_atomically(
            &journal_path(db),
            serde_json::to_string(&j).unwrap().as_bytes(),
        )
        .unwrap();
    }

    #[test]
    fn recovery_undoes_a_change_that_did_not_reach_the_rename() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        stage_until_journal(&db);
        assert_intact(&db, Some(pass("one")), 5);
        assert!(!journal_path(&db).exists() && !copy_path(&db).exists());
    }

    #[test]
    fn recovery_completes_a_change_past_the_rename() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        stage_until_journal(&db);
        let _ = fs::remove_file(sibling(&db, "-wal"));
        let _ = fs::remove_file(sibling(&db, "-shm"));
        fs::rename(copy_path(&db), &db).unwrap();
        // The old header is still in place: only recovery makes "two" work.
        assert_intact(&db, Some(pass("two")), 5);
        assert!(!journal_path(&db).exists());
    }

    #[test]
    fn stores_with_sqlciphers_default_hmac_open_and_rekey() {
        // A store whose header names no HMAC uses SQLCipher's default
        // (HMAC-SHA512), as stores made before the header recorded it.
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.db");
        fill(&plain, None, 6);
        let db = dir.path().join("old.db");
        let conn = Connection::open(&plain).unwrap();
        let version = schema::version(&conn).unwrap();
        conn.execute(
            "ATTACH DATABASE ?1 AS enc KEY ?2",
            [db.to_str().unwrap(), &format!("x'{}'", "5a".repeat(32))],
        )
        .unwrap();
        conn.query_row("SELECT sqlcipher_export('enc')", [], |_| Ok(()))
            .unwrap();
        conn.pragma_update(Some("enc"), "user_version", version)
            .unwrap();
        conn.execute_batch("DETACH DATABASE enc").unwrap();
        drop(conn);
        fs::write(
            crypto::header_path(&db),
            r#"{"magic":"docvault-keyinfo","version":1,"kdf":"raw"}"#,
        )
        .unwrap();
        let old = KeySource::RawKey([0x5a; 32]);
        assert_intact(&db, Some(old.clone()), 6);
        let new = KeySource::RawKey([0x5b; 32]);
        rekey(&db, &old, &new, &kdf()).unwrap();
        assert_intact(&db, Some(new), 6);
        let h = fs::read_to_string(crypto::header_path(&db)).unwrap();
        assert!(!h.contains("cipher_hmac"), "{h}");

        // New stores record the HMAC they use; an unknown one is refused.
        let fresh = dir.path().join("fresh.db");
        fill(&fresh, Some(pass("p")), 1);
        let hp = crypto::header_path(&fresh);
        let h = fs::read_to_string(&hp).unwrap();
        assert!(h.contains("HMAC_SHA256"), "{h}");
        fs::write(&hp, h.replace("HMAC_SHA256", "HMAC_MD5")).unwrap();
        let err = Store::open(&fresh, config(Some(pass("p")))).unwrap_err();
        assert_eq!(err.kind(), "bad_key_header");
    }

    #[test]
    fn a_damaged_journal_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        fill(&db, None, 1);
        fs::write(journal_path(&db), b"{not json").unwrap();
        let err = Store::open(&db, config(None)).unwrap_err();
        assert_eq!(err.kind(), "bad_key_header");
    }
}
