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

/// Schema step 8 -> 9: a trail whose times run in id order needs no index
/// on them (see [`query`]): the index is dropped, and built again the
/// moment the order breaks ([`append`]); a trail out of order keeps it (or
/// gets it, if the file lost it). Every write appends an audit
/// entry, so the index was one more b-tree leaf written at every commit.
/// In three `docvault bench` runs alternating with three without this
/// step, one-document creates at 1 / 2 / 8 threads ran 6.7-7.4k /
/// 5.3-5.5k / 7.3-7.6k per s against 6.3-6.8k / 5.1-5.4k / 6.8-7.1k.
pub(crate) fn fit_time_index_to_order(tx: &Connection) -> Result<()> {
    if time_ordered(tx)? {
        tx.execute_batch("DROP INDEX IF EXISTS audit_ts")?;
    } else {
        tx.execute_batch(TIME_INDEX)?;
    }
    Ok(())
}

/// The index on the trail's times, for a trail whose times no longer run
/// in id order.
const TIME_INDEX: &str = "CREATE INDEX IF NOT EXISTS audit_ts ON audit_log(ts)";

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
        // as it is, and queries stop relying on the order: from now on
        // they need the index on times, built here (once: the order never
        // comes back).
        Some(last) if now < last => {
            let changed = tx
                .prepare_cached(
                    "UPDATE store_meta SET value = '0' WHERE key = ?1 AND value != '0'",
                )?
                .execute([TIME_ORDERED_KEY])?;
            if changed > 0 {
                tx.execute_batch(TIME_INDEX)?;
            }
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
    // The flag, the bounds and the entries from one snapshot.
    let tx = conn.unchecked_transaction()?;
    // While the trail's times run in id order (see `AuditEntry::timestamp`),
    // a time range is a range of ids, found by bisecting the ids: the
    // query walks that range alone, newest first, in the table or in the
    // document or operation index. Otherwise the index on times (built
    // when the order broke) finds the range.
    let by_id = (q.since.is_some() || q.until.is_some()) && time_ordered(&tx)?;
    // The last item: the clause when every entry is before the time and
    // the last id is i64::MAX (a tampered file), so no id splits them.
    for (t, by_time, by_id_clause, past_every_id) in [
        (q.since, "ts >= ?", "id >= ?", Some("0")),
        (q.until, "ts < ?", "id < ?", None),
    ] {
        let Some(t) = t else { continue };
        if by_id {
            match first_id_at_or_after(&tx, t.0)? {
                Some(id) => {
                    clauses.push(by_id_clause);
                    values.push(id.into());
                }
                None => clauses.extend(past_every_id),
            }
        } else {
            clauses.push(by_time);
            values.push(t.0.into());
        }
    }
    values.push(limit.into());
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!("SELECT {COLUMNS} FROM audit_log {filter} ORDER BY id DESC LIMIT ?");
    let entries = tx
        .prepare_cached(&sql)?
        .query_map(rusqlite::params_from_iter(values), row_to_entry)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.finish()?;
    Ok(entries)
}

/// An id that splits the trail at time `t`: entries below it are before
/// `t`, entries from it on are not (`None` if every entry is before `t`
/// and the last id is `i64::MAX`). For a trail whose times run in id
/// order: a bisection over the ids, each step a look-up in the rowid
/// b-tree. Ids may have gaps.
fn first_id_at_or_after(conn: &Connection, t: i64) -> Result<Option<i64>> {
    let mut next =
        conn.prepare_cached("SELECT id, ts FROM audit_log WHERE id >= ?1 ORDER BY id LIMIT 1")?;
    let (first, last): (i64, i64) = conn
        .prepare_cached("SELECT coalesce(min(id), 1), coalesce(max(id), 0) FROM audit_log")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    // Entries below `lo` are before `t`; entries from `hi` on are not.
    // In i128: a tampered trail may hold any ids, i64::MAX among them.
    let (mut lo, mut hi) = (i128::from(first), i128::from(last) + 1);
    while lo < hi {
        // Below `hi`, so at most i64::MAX.
        let mid = (lo + (hi - lo) / 2) as i64;
        match next
            .query_row([mid], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .optional()?
        {
            Some((id, ts)) if ts < t => lo = i128::from(id) + 1,
            _ => hi = i128::from(mid),
        }
    }
    Ok(i64::try_from(lo).ok())
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trail(entries: &[(i64, i64)]) -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE audit_log (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL)")
            .unwrap();
        for (id, ts) in entries {
            c.execute("INSERT INTO audit_log VALUES (?1, ?2)", [id, ts])
                .unwrap();
        }
        c
    }

    /// Ids at the ends of the integer range (a tampered file) give a
    /// split, not an overflow.
    #[test]
    fn the_bisection_survives_extreme_ids() {
        let entries = [(i64::MIN, 1), (0, 2), (i64::MAX, 3)];
        let c = trail(&entries);
        for t in 0..=3 {
            let split = first_id_at_or_after(&c, t).unwrap().unwrap();
            for (id, ts) in entries {
                assert_eq!(id >= split, ts >= t, "t {t}: id {id} split {split}");
            }
        }
        // Nothing at or after 4, and no id past the last.
        assert_eq!(first_id_at_or_after(&c, 4).unwrap(), None);
    }

    proptest! {
        /// On a trail whose times run in id order, with gaps in the ids
        /// and runs of equal times, the bisection finds the id that splits
        /// the entries before `t` from the others.
        #[test]
        fn the_bisection_splits_the_trail_at_a_time(
            steps in proptest::collection::vec((1i64..4, 0i64..3), 0..60),
            t in -1i64..200,
        ) {
            let mut entries = Vec::new();
            let (mut id, mut ts) = (0, 0);
            for (id_step, ts_step) in steps {
                id += id_step;
                ts += ts_step;
                entries.push((id, ts));
            }
            let c = trail(&entries);
            let split = first_id_at_or_after(&c, t).unwrap().unwrap();
            for &(id, ts) in &entries {
                prop_assert_eq!(id >= split, ts >= t, "id {} ts {} split {}", id, ts, split);
            }
        }
    }
}
