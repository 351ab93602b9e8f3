//! The audit trail.
//!
//! Every write appends an entry in the same transaction as the change it
//! records, so the trail and the data cannot disagree. Entries are chained:
//! each stores the hash of its predecessor and a SHA-256 over its own fields
//! and that predecessor hash; the newest entry's id and hash are kept in
//! `store_meta`. [`crate::Store::verify_audit`] walks the chain and reports
//! the first entry that was altered, removed or cut off the end.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::model::Timestamp;

/// Hash that the first entry chains to.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const HEAD_KEY: &str = "audit_head";
/// `store_meta` key: '1' while the trail's times run in id order.
const TIME_ORDERED_KEY: &str = "audit_time_ordered";
/// Largest step back of the clock that entries absorb by keeping the
/// previous entry's time (µs).
const STEP_BACK_MAX_US: i64 = 10 * 60 * 1_000_000;

/// Schema step 5 -> 6: records whether the trail's times already run in id
/// order. (Entries written before step 6 took the clock as it was.)
pub(crate) const MIGRATION_TIME_ORDER: &str = "
INSERT INTO store_meta (key, value)
SELECT 'audit_time_ordered',
       CASE WHEN EXISTS (
           SELECT 1 FROM (SELECT ts, lag(ts) OVER (ORDER BY id) AS prev FROM audit_log)
           WHERE ts < prev
       ) THEN '0' ELSE '1' END
ON CONFLICT (key) DO UPDATE SET value = excluded.value;
";

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number, increasing.
    pub id: i64,
    /// When the change committed. If the clock steps back by up to ten
    /// minutes, entries keep the previous entry's time until it catches
    /// up, so the trail's times stay in id order; a larger step back is
    /// recorded as it is.
    pub timestamp: Timestamp,
    /// What was done: create, update, delete, hard_delete, undelete, restore.
    pub operation: String,
    /// The document concerned.
    pub document_id: Option<i64>,
    /// Who did it, as given by the caller.
    pub actor: Option<String>,
    /// A summary of the state before (JSON), if there was one.
    pub old: Option<serde_json::Value>,
    /// A summary of the state after (JSON), if there is one.
    pub new: Option<serde_json::Value>,
    /// How long the operation took before the commit, in microseconds.
    pub duration_us: i64,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

/// Filters for [`crate::Store::audit`]. Results are newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only entries about this document.
    pub document_id: Option<i64>,
    /// Only this operation.
    pub operation: Option<String>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Strictly before.
    pub until: Option<Timestamp>,
    /// At most this many entries (default 100).
    pub limit: Option<i64>,
}

/// Result of [`crate::Store::verify_audit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerification {
    /// True when the whole chain is intact.
    pub ok: bool,
    /// Entries read.
    pub entries_checked: i64,
    /// The id of the first entry found altered, or that follows a removed one.
    pub first_bad_id: Option<i64>,
    /// What is wrong, when something is.
    pub reason: Option<String>,
}

/// The fields that an entry hashes.
pub(crate) struct NewEntry<'a> {
    pub operation: &'a str,
    pub document_id: Option<i64>,
    pub actor: Option<&'a str>,
    pub old: Option<&'a serde_json::Value>,
    pub new: Option<&'a serde_json::Value>,
    pub duration_us: i64,
}

#[allow(clippy::too_many_arguments)]
fn entry_hash(
    prev: &str,
    id: i64,
    ts: i64,
    op: &str,
    doc: Option<i64>,
    actor: Option<&str>,
    old: Option<&str>,
    new: Option<&str>,
    dur: i64,
) -> String {
    let mut h = Sha256::new();
    // Length-prefix each field so that no two field lists hash alike.
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(prev.as_bytes());
    field(&id.to_le_bytes());
    field(&ts.to_le_bytes());
    field(op.as_bytes());
    field(doc.map(|d| d.to_string()).unwrap_or_default().as_bytes());
    field(actor.unwrap_or("\u{0}none").as_bytes());
    field(old.unwrap_or("\u{0}none").as_bytes());
    field(new.unwrap_or("\u{0}none").as_bytes());
    field(&dur.to_le_bytes());
    hex::encode(h.finalize())
}

fn head(tx: &Connection) -> Result<(i64, String)> {
    let v: Option<String> = tx
        .prepare_cached("SELECT value FROM store_meta WHERE key = ?1")?
        .query_row([HEAD_KEY], |r| r.get(0))
        .optional()?;
    Ok(v.and_then(|v| {
        let (id, hash) = v.split_once(':')?;
        Some((id.parse().ok()?, hash.to_string()))
    })
    .unwrap_or((0, GENESIS.to_string())))
}

/// Appends an entry inside the caller's transaction.
pub(crate) fn append(tx: &Connection, e: &NewEntry<'_>) -> Result<i64> {
    let (head_id, prev) = head(tx)?;
    // The head is the newest entry and is updated in the same transaction
    // as every insert, so the next id is known before inserting: the hash
    // (which covers the id) goes in with the row.
    let id = head_id + 1;
    let last_ts: Option<i64> = tx
        .prepare_cached("SELECT ts FROM audit_log WHERE id = ?1")?
        .query_row([head_id], |r| r.get(0))
        .optional()?;
    let now = Timestamp::now().0;
    let ts = match last_ts {
        // A small step back: keep the trail's times in id order.
        Some(last) if now < last && last - now <= STEP_BACK_MAX_US => last,
        // A large one (or a bad clock reading before it): record the time
        // as it is, and queries stop relying on the order.
        Some(last) if now < last => {
            tx.prepare_cached("UPDATE store_meta SET value = '0' WHERE key = ?1")?
                .execute([TIME_ORDERED_KEY])?;
            now
        }
        _ => now,
    };
    let old = e.old.map(|v| v.to_string());
    let new = e.new.map(|v| v.to_string());
    let hash = entry_hash(
        &prev,
        id,
        ts,
        e.operation,
        e.document_id,
        e.actor,
        old.as_deref(),
        new.as_deref(),
        e.duration_us,
    );
    tx.prepare_cached(
        "INSERT INTO audit_log (id, ts, operation, document_id, actor, old_summary, new_summary, duration_us, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        id,
        ts,
        e.operation,
        e.document_id,
        e.actor,
        old,
        new,
        e.duration_us,
        prev,
        hash
    ])?;
    tx.prepare_cached(
        "INSERT INTO store_meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![HEAD_KEY, format!("{id}:{hash}")])?;
    Ok(id)
}

fn parse_json(s: Option<String>) -> Option<serde_json::Value> {
    s.map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
}

fn row_to_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.get(0)?,
        timestamp: Timestamp(r.get(1)?),
        operation: r.get(2)?,
        document_id: r.get(3)?,
        actor: r.get(4)?,
        old: parse_json(r.get(5)?),
        new: parse_json(r.get(6)?),
        duration_us: r.get(7)?,
        prev_hash: r.get(8)?,
        hash: r.get(9)?,
    })
}

const COLUMNS: &str =
    "id, ts, operation, document_id, actor, old_summary, new_summary, duration_us, prev_hash, hash";

pub(crate) fn query(conn: &rusqlite::Connection, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=100_000).contains(&limit) {
        return Err(crate::Error::validation(
            "limit",
            format!("{limit} is not between 1 and 100000"),
        ));
    }
    // Only the filters given, each a plain comparison: a generic
    // `(?1 IS NULL OR document_id = ?1)` compiles to one plan for every
    // binding, and that plan scanned the whole trail (the readers keep
    // plans stable, QPSG), leaving the document, operation and time
    // indexes unused: 23-28 ms per selective query at 110,000 entries.
    let mut clauses: Vec<&str> = Vec::new();
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(d) = q.document_id {
        clauses.push("document_id = ?");
        values.push(d.into());
    }
    if let Some(op) = &q.operation {
        clauses.push("operation = ?");
        values.push(op.clone().into());
    }
    if let Some(t) = q.since {
        clauses.push("ts >= ?");
        values.push(t.0.into());
    }
    if let Some(t) = q.until {
        clauses.push("ts < ?");
        values.push(t.0.into());
    }
    values.push(limit.into());
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    // The flag and the entries from one snapshot.
    let tx = conn.unchecked_transaction()?;
    // Time alone, while the trail's times run in id order (see
    // `AuditEntry::timestamp`): the time index gives the range already in
    // that order, and the query stops after `limit` entries wherever the
    // range lies. Otherwise the trail is walked by id.
    let time_only = q.document_id.is_none()
        && q.operation.is_none()
        && (q.since.is_some() || q.until.is_some());
    let order = if time_only && time_ordered(&tx)? {
        "ts DESC, id DESC"
    } else {
        "id DESC"
    };
    let sql = format!("SELECT {COLUMNS} FROM audit_log {filter} ORDER BY {order} LIMIT ?");
    let entries = tx
        .prepare_cached(&sql)?
        .query_map(rusqlite::params_from_iter(values), row_to_entry)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.finish()?;
    Ok(entries)
}

/// Whether the trail's times run in id order.
fn time_ordered(conn: &Connection) -> Result<bool> {
    let v: Option<String> = conn
        .prepare_cached("SELECT value FROM store_meta WHERE key = ?1")?
        .query_row([TIME_ORDERED_KEY], |r| r.get(0))
        .optional()?;
    Ok(v.as_deref() == Some("1"))
}

pub(crate) fn verify(conn: &rusqlite::Connection) -> Result<AuditVerification> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY id"))?;
    let mut rows = stmt.query([])?;
    let mut prev = GENESIS.to_string();
    let mut prev_id = 0i64;
    let mut checked = 0i64;
    let bad = |id: i64, checked: i64, reason: String| AuditVerification {
        ok: false,
        entries_checked: checked,
        first_bad_id: Some(id),
        reason: Some(reason),
    };
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let old: Option<String> = r.get(5)?;
        let new: Option<String> = r.get(6)?;
        let actor: Option<String> = r.get(4)?;
        let op: String = r.get(2)?;
        let row_prev: String = r.get(8)?;
        let row_hash: String = r.get(9)?;
        checked += 1;
        if row_prev != prev {
            return Ok(bad(
                id,
                checked,
                format!("entry {id} does not chain to entry {prev_id}: an entry between them was removed or altered"),
            ));
        }
        let expect = entry_hash(
            &row_prev,
            id,
            r.get(1)?,
            &op,
            r.get(3)?,
            actor.as_deref(),
            old.as_deref(),
            new.as_deref(),
            r.get(7)?,
        );
        if expect != row_hash {
            return Ok(bad(id, checked, format!("entry {id} was altered")));
        }
        prev = row_hash;
        prev_id = id;
    }
    let head: Option<String> = conn
        .query_row(
            "SELECT value FROM store_meta WHERE key = ?1",
            [HEAD_KEY],
            |r| r.get(0),
        )
        .optional()?;
    let expected_head = if prev_id == 0 {
        None
    } else {
        Some(format!("{prev_id}:{prev}"))
    };
    if head != expected_head {
        let head_id = head
            .as_deref()
            .and_then(|h| h.split_once(':'))
            .and_then(|(i, _)| i.parse::<i64>().ok())
            .unwrap_or(0);
        return Ok(bad(
            prev_id + 1,
            checked,
            format!("the trail ends at entry {prev_id} but its recorded head is entry {head_id}: entries were removed from the end or the head was altered"),
        ));
    }
    Ok(AuditVerification {
        ok: true,
        entries_checked: checked,
        first_bad_id: None,
        reason: None,
    })
}
