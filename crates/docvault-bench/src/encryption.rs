//! The cost of encryption at rest, measured against the plaintext store
//! of the same run: a copy of the bench store is encrypted in place, then
//! opened (Argon2id included), connected to, read without the cache,
//! written to and searched.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use docvault::{Config, KdfParams, KeySource, Store};

use crate::corpus::Corpus;
use crate::workloads::{err, raw_get, Ctx};

/// The bench store's passphrase: the figures are about cost, not secrecy.
const PASSPHRASE: &str = "docvault bench passphrase";

/// What the encryption section leaves for the report.
pub(crate) struct EncryptionFigures {
    /// Opening the encrypted store, Argon2id key derivation included, ms.
    pub open_ms: f64,
}

/// The raw key and page HMAC of the encrypted copy, read from its key
/// header the way docvault does, so bare connections can be keyed.
fn raw_keying(db: &Path) -> Result<String, String> {
    let mut hp = db.as_os_str().to_owned();
    hp.push(".keyinfo");
    let text = std::fs::read_to_string(&hp).map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let p = &v["params"];
    let params = KdfParams {
        memory_kib: p["memory_kib"].as_u64().unwrap_or(0) as u32,
        iterations: p["iterations"].as_u64().unwrap_or(0) as u32,
        parallelism: p["parallelism"].as_u64().unwrap_or(0) as u32,
    };
    let salt = hex_decode(v["salt"].as_str().unwrap_or(""))?;
    let key =
        docvault::crypto::derive_argon2id(PASSPHRASE.as_bytes(), &salt, &params).map_err(err)?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut sql = format!("PRAGMA key = \"x'{hex}'\";");
    if let Some(h) = v["cipher_hmac"].as_str() {
        sql.push_str(&format!(" PRAGMA cipher_hmac_algorithm = {h};"));
    }
    Ok(sql)
}

fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// A bare read-only connection, keyed when `key_sql` is given: the
/// baseline for what one pooled connection costs and for an uncached read.
fn raw_connection(path: &Path, key_sql: Option<&str>) -> Result<rusqlite::Connection, String> {
    let c = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    if let Some(k) = key_sql {
        c.execute_batch(k).map_err(|e| e.to_string())?;
    }
    c.set_prepared_statement_cache_capacity(16);
    // The same page cache as docvault's readers.
    c.pragma_update(None, "cache_size", -8192)
        .map_err(|e| e.to_string())?;
    Ok(c)
}

/// Runs the section on a copy of the (closed) plaintext store at `plain`,
/// whose live documents have the (non-empty) `ids`.
pub(crate) fn run(
    ctx: &mut Ctx<'_>,
    plain: &Path,
    corpus: &Corpus,
    ids: &[i64],
) -> Result<EncryptionFigures, String> {
    let num_docs = ids.len() as u64;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let enc = dir.path().join("encrypted.db");
    std::fs::copy(plain, &enc).map_err(|e| e.to_string())?;
    let pass = KeySource::Passphrase(PASSPHRASE.into());

    ctx.progress.workload("encrypt", 1);
    ctx.take_peak();
    let t = Instant::now();
    docvault::encrypt(&enc, &pass, &KdfParams::default()).map_err(err)?;
    ctx.record_phase("encrypt_store", num_docs, t.elapsed());

    // One connection each, opened and asked for the schema: what the pool
    // pays per connection, with and without the raw key and its checks.
    let key_sql = raw_keying(&enc)?;
    let (key_sql, plain_path, enc_path) = (&key_sql, plain, enc.as_path());
    ctx.measure(
        "connect",
        1,
        1,
        |_| (),
        |_, _| {
            let c = raw_connection(plain_path, None)?;
            c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(drop)
            .map_err(|e| e.to_string())
        },
    )?;
    ctx.measure(
        "connect_encrypted",
        1,
        1,
        |_| (),
        |_, _| {
            let c = raw_connection(enc_path, Some(key_sql))?;
            c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(drop)
            .map_err(|e| e.to_string())
        },
    )?;

    // The plaintext side of every ratio: a copy rebuilt the way the
    // encrypted copy was (VACUUM INTO and sqlcipher_export both write the
    // tables afresh), measured interleaved with it.
    let twin = dir.path().join("plaintext.db");
    rusqlite::Connection::open(plain)
        .and_then(|c| c.execute("VACUUM INTO ?1", [twin.to_string_lossy()]))
        .map_err(|e| e.to_string())?;
    let uncached = |encryption| Config {
        encryption,
        cache_capacity_bytes: 0,
        ..Config::default()
    };
    let t = Instant::now();
    let store = Store::open(&enc, uncached(Some(pass))).map_err(err)?;
    let open_ms = t.elapsed().as_secs_f64() * 1000.0;
    let plain_store = Store::open(&twin, uncached(None)).map_err(err)?;
    let (s, p) = (&store, &plain_store);
    let twin_path = twin.as_path();
    {
        // Every page of both files read once: neither side warms the OS
        // cache for the other.
        let mut warm = raw_connection(enc_path, Some(key_sql))?;
        let mut warm_plain = raw_connection(twin_path, None)?;
        for &id in ids {
            raw_get(&mut warm, id)?;
            raw_get(&mut warm_plain, id)?;
        }
    }
    for &t in &ctx.opts.threads.clone() {
        ctx.measure_pair(
            ("get_uncached_encrypted", "get_uncached_plaintext_copy"),
            t,
            4,
            |_| (),
            |_, rng| {
                s.get(ids[rng.below(num_docs) as usize])
                    .map(drop)
                    .map_err(err)
            },
            |_| (),
            |_, rng| {
                p.get(ids[rng.below(num_docs) as usize])
                    .map(drop)
                    .map_err(err)
            },
        )?;
        ctx.measure_pair(
            ("get_raw_sqlite_encrypted", "get_raw_sqlite_plaintext_copy"),
            t,
            4,
            |_| raw_connection(enc_path, Some(key_sql)).expect("keyed baseline connection"),
            |conn, rng| raw_get(conn, ids[rng.below(num_docs) as usize]),
            |_| raw_connection(twin_path, None).expect("baseline connection"),
            |conn, rng| raw_get(conn, ids[rng.below(num_docs) as usize]),
        )?;
    }
    let q = docvault::SearchQuery {
        limit: 10,
        ..docvault::SearchQuery::new(crate::corpus::MID_TERM)
    };
    ctx.measure_pair(
        ("search_mid_encrypted", "search_mid_plaintext_copy"),
        1,
        1,
        |_| (),
        |_, _| s.search(&q).map(drop).map_err(err),
        |_| (),
        |_, _| p.search(&q).map(drop).map_err(err),
    )?;
    let next = AtomicU64::new(num_docs + 5_000_000);
    let pool = crate::corpus::DocPool::new(corpus, num_docs + 5_000_000, 256);
    let create = |st: &Store| {
        st.create(pool.document(next.fetch_add(1, Ordering::Relaxed)))
            .map(drop)
            .map_err(err)
    };
    ctx.measure_pair(
        ("create_encrypted", "create_plaintext_copy"),
        1,
        1,
        |_| (),
        |_, _| create(s),
        |_| (),
        |_, _| create(p),
    )?;
    plain_store.close().map_err(err)?;
    store.close().map_err(err)?;
    Ok(EncryptionFigures { open_ms })
}
