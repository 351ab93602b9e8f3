//! Listing with filters, sorting and pages.
//!
//! The SQL is assembled from fixed fragments only: sort columns come from
//! the [`SortField`] enum and every value is a bound parameter, so no input
//! reaches the SQL text.

use rusqlite::types::Value;

use crate::documents::{from_row_lazily, ACCESS_JOIN, COLS_NO_CONTENT};
use crate::error::{Error, Result};
use crate::metadata;
use crate::model::{ListQuery, MetaValue, Order, Page, SortField};
use crate::store::Store;

/// Largest page.
pub const MAX_LIMIT: i64 = 1000;

fn sort_column(f: SortField) -> &'static str {
    match f {
        SortField::Title => "title",
        SortField::CreatedAt => "created_at",
        SortField::UpdatedAt => "updated_at",
        SortField::AccessCount => "coalesce(access_count, 0)",
        SortField::SizeBytes => "size_bytes",
    }
}

/// The WHERE clause and its parameters for a query's filters.
pub(crate) fn filters(q: &ListQuery, alias: &str) -> (String, Vec<Value>) {
    filters_except(q, alias, None)
}

/// The condition that metadata row `m` holds the entry `k` = `v` (same
/// key, value and, if `typed`, type), with its parameters appended to
/// `params`. Untyped, it reads the `(key, value)` index alone (a JSON
/// array and the string spelling it look alike there).
fn meta_match(m: &str, k: &str, v: &MetaValue, typed: bool, params: &mut Vec<Value>) -> String {
    params.push(Value::Text(k.to_owned()));
    let mut out = format!("{m}.key = ?{}", params.len());
    if typed {
        params.push(Value::Text(v.type_name().into()));
        out.push_str(&format!(" AND {m}.value_type = ?{}", params.len()));
    }
    match metadata::to_value(v) {
        Value::Null => out.push_str(&format!(" AND {m}.value IS NULL")),
        val => {
            params.push(val);
            out.push_str(&format!(" AND {m}.value = ?{}", params.len()));
        }
    }
    out
}

/// As [`filters`], leaving out metadata filter number `skip` (the one a
/// driven query joins on instead).
fn filters_except(q: &ListQuery, alias: &str, skip: Option<usize>) -> (String, Vec<Value>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let bind = |params: &mut Vec<Value>, v: Value| {
        params.push(v);
        format!("?{}", params.len())
    };
    if let Some(t) = q.doc_type {
        let p = bind(&mut params, Value::Text(t.as_str().into()));
        clauses.push(format!("{alias}doc_type = {p}"));
    }
    match q.status {
        Some(s) => {
            let p = bind(&mut params, Value::Text(s.as_str().into()));
            clauses.push(format!("{alias}status = {p}"));
        }
        None if !q.include_deleted => clauses.push(format!("{alias}status != 'deleted'")),
        None => {}
    }
    for (col, op, t) in [
        ("created_at", ">=", q.created_after),
        ("created_at", "<", q.created_before),
        ("updated_at", ">=", q.updated_after),
        ("updated_at", "<", q.updated_before),
    ] {
        if let Some(t) = t {
            let p = bind(&mut params, Value::Integer(t.0));
            clauses.push(format!("{alias}{col} {op} {p}"));
        }
    }
    for (i, (k, v)) in q.meta.iter().enumerate() {
        if skip == Some(i) {
            continue;
        }
        // A correlated EXISTS lets the planner walk a documents index in
        // the requested order and probe the metadata key per candidate; an
        // IN (subquery) was 30x slower with a type filter (measured).
        let m = meta_match("m", k, v, true, &mut params);
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM metadata m WHERE m.document_id = {alias}id AND {m})"
        ));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, params)
}

/// The filters of `q` for a query led by metadata filter `i`, whose
/// metadata rows are joined as `dm`: that filter's match on `dm`, then the
/// others, as one condition (no WHERE keyword).
pub(crate) fn led_filters(q: &ListQuery, alias: &str, i: usize) -> (String, Vec<Value>) {
    let (k, v) = &q.meta[i];
    let (rest, mut params) = filters_except(q, alias, Some(i));
    let lead = meta_match("dm", k, v, true, &mut params);
    match rest.strip_prefix("WHERE ") {
        Some(rest) => (format!("{lead} AND {rest}"), params),
        None => (lead, params),
    }
}

/// The metadata filter to drive a list from, if one is selective enough.
///
/// A list normally walks a documents index in the requested order and
/// probes each candidate's metadata (see [`filters`]): cheap when the
/// filter is common, since the page fills fast, but the total then probes
/// every candidate, so a filter matching one document in 100,000 cost a
/// probe of all 100,000 (a quarter of a second). When a metadata filter
/// matches under a tenth of the candidates (the documents passing the
/// status and type filters, from `doc_counts`), the list instead starts
/// from that filter's entries in the `(key, value)` index, reads only
/// their documents, and sorts them: such a list of 100,000 documents ran
/// 40,000-55,000 times a second where it had run 3 times. Reading a matching
/// document's row costs about what probing a candidate's metadata does,
/// twice over (the page and the total), so at a seventh of the candidates
/// both ways cost the same (measured); a tenth keeps a margin. The
/// estimate reads the index alone and stops at the bound, or at `cap`
/// entries when that is lower.
pub(crate) fn metadata_driver(
    conn: &rusqlite::Connection,
    q: &ListQuery,
    cap: Option<i64>,
) -> Result<Option<usize>> {
    if q.meta.is_empty() {
        return Ok(None);
    }
    let candidates = doc_count(conn, q)?;
    let bound = (candidates / 10 + 1).min(cap.unwrap_or(i64::MAX));
    let mut best: Option<(usize, i64)> = None;
    for (i, (k, v)) in q.meta.iter().enumerate() {
        let mut params = Vec::new();
        let m = meta_match("m", k, v, false, &mut params);
        params.push(Value::Integer(bound));
        let n: i64 = conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM (SELECT 1 FROM metadata m WHERE {m} LIMIT ?{})",
                params.len()
            ))?
            .query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))?;
        if n < bound && best.is_none_or(|(_, b)| n < b) {
            best = Some((i, n));
        }
    }
    Ok(best.map(|(i, _)| i))
}

/// Whether a typed match of `v` is exactly an untyped match in the
/// `(key, value)` index: true for a string that cannot be mistaken for a
/// JSON array or object (those are stored as text too). Values compare by
/// storage class there, so the string "1" never equals the integer 1.
fn index_exact(v: &MetaValue) -> bool {
    matches!(v, MetaValue::String(s) if !s.starts_with(['[', '{']))
}

/// The total of a query with a common metadata filter, counted from that
/// filter's entries in the `(key, value)` index instead of by probing each
/// candidate's metadata rows.
///
/// The probes land all over the metadata table, so a count over 100,000
/// candidates read most of its pages (0.12 s for a filter matching 14% of
/// them); the filter's own entries are one short run of the index. The
/// entries are matched against the status and type filters through the
/// documents those filters keep (`IN`, from a covering index), or, for the
/// default filter alone (not deleted), through the deleted ones (`NOT
/// IN`): usually few, where `status != 'deleted'` would read every
/// document. Only for a string filter (typed and untyped matches agree, see
/// [`index_exact`]) and without time filters (their documents come from no
/// covering index).
fn count_from_metadata_index(q: &ListQuery) -> Option<(String, Vec<Value>)> {
    if time_filtered(q) {
        return None;
    }
    let lead = q.meta.iter().position(|(_, v)| index_exact(v))?;
    let (k, v) = &q.meta[lead];
    let mut params = Vec::new();
    let lead_match = meta_match("e", k, v, false, &mut params);
    let mut sql =
        format!("SELECT count(*) FROM metadata e INDEXED BY metadata_key_value WHERE {lead_match}");
    // The status and type filters alone, as one condition on `documents`.
    let mut doc = Vec::new();
    if let Some(t) = q.doc_type {
        params.push(Value::Text(t.as_str().into()));
        doc.push(format!("doc_type = ?{}", params.len()));
    }
    match q.status {
        Some(st) => {
            params.push(Value::Text(st.as_str().into()));
            doc.push(format!("status = ?{}", params.len()));
        }
        None if !q.include_deleted && doc.is_empty() => sql.push_str(
            " AND e.document_id NOT IN (SELECT id FROM documents WHERE status = 'deleted')",
        ),
        None if !q.include_deleted => doc.push("status != 'deleted'".into()),
        None => {}
    }
    if !doc.is_empty() {
        sql.push_str(&format!(
            " AND e.document_id IN (SELECT id FROM documents WHERE {})",
            doc.join(" AND ")
        ));
    }
    for (i, (k, v)) in q.meta.iter().enumerate() {
        if i != lead {
            let m = meta_match("m", k, v, true, &mut params);
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM metadata m WHERE m.document_id = e.document_id AND {m})"
            ));
        }
    }
    Some((sql, params))
}

/// Whether `q` filters by creation or update time.
fn time_filtered(q: &ListQuery) -> bool {
    q.created_after.is_some()
        || q.created_before.is_some()
        || q.updated_after.is_some()
        || q.updated_before.is_some()
}

/// Documents kept by the status and type filters of `q`, from
/// `doc_counts`.
fn doc_count(conn: &rusqlite::Connection, q: &ListQuery) -> Result<i64> {
    let plain = ListQuery {
        meta: Vec::new(),
        created_after: None,
        created_before: None,
        updated_after: None,
        updated_before: None,
        ..q.clone()
    };
    let (sql, p) = count_from_summary(&plain).expect("no metadata or time filters");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(p.iter()), |r| r.get(0))?)
}

/// For a query filtered by status and type only, the total from the
/// trigger-kept `doc_counts` table (a few rows) instead of a count over
/// every document.
fn count_from_summary(q: &ListQuery) -> Option<(String, Vec<Value>)> {
    if !q.meta.is_empty() || time_filtered(q) {
        return None;
    }
    let mut sql = String::from("SELECT coalesce(sum(n), 0) FROM doc_counts WHERE 1");
    let mut params = Vec::new();
    match q.status {
        Some(s) => {
            params.push(Value::Text(s.as_str().into()));
            sql.push_str(&format!(" AND status = ?{}", params.len()));
        }
        None if !q.include_deleted => sql.push_str(" AND status != 'deleted'"),
        None => {}
    }
    if let Some(t) = q.doc_type {
        params.push(Value::Text(t.as_str().into()));
        sql.push_str(&format!(" AND doc_type = ?{}", params.len()));
    }
    Some((sql, params))
}

impl Store {
    /// One page of documents matching `q`, without content.
    ///
    /// Soft-deleted documents are excluded unless `q.include_deleted` is set
    /// or `q.status` is `Deleted`. `total` counts all matches.
    pub fn list(&self, q: &ListQuery) -> Result<Page> {
        if !(1..=MAX_LIMIT).contains(&q.limit) {
            return Err(Error::validation(
                "limit",
                format!("{} is not between 1 and {MAX_LIMIT}", q.limit),
            ));
        }
        if q.offset < 0 {
            return Err(Error::validation("offset", "must not be negative"));
        }
        for (k, v) in &q.meta {
            crate::validate::meta_key(k)?;
            crate::validate::meta_value(k, v, usize::MAX)?;
        }
        if q.sort == SortField::AccessCount {
            // Pending reads must count in the order, not only in the figures.
            self.flush()?;
        }
        let started = std::time::Instant::now();
        let conn = self.reader()?;
        // The FROM clause and the filters, starting from a selective
        // metadata filter's index entries when there is one.
        let driver = metadata_driver(&conn, q, None)?;
        // A common metadata filter: count from its index entries.
        let meta_count = match driver {
            None if !q.meta.is_empty() => count_from_metadata_index(q),
            _ => None,
        };
        let (from, where_sql, mut params) = match driver {
            None => {
                let (w, p) = filters(q, "");
                ("FROM documents", w, p)
            }
            Some(i) => {
                let (w, p) = led_filters(q, "", i);
                // CROSS JOIN: SQLite keeps the metadata entries outermost.
                (
                    "FROM metadata dm CROSS JOIN documents ON documents.id = dm.document_id",
                    format!("WHERE {w}"),
                    p,
                )
            }
        };
        let dir = match q.order {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        };
        let n = params.len();
        let page_sql = format!(
            "SELECT {COLS_NO_CONTENT} {from} {ACCESS_JOIN} {where_sql}
             ORDER BY {col} {dir}, id {dir} LIMIT ?{} OFFSET ?{}",
            n + 1,
            n + 2,
            col = sort_column(q.sort),
        );
        let count_params = params.clone();
        params.push(Value::Integer(q.limit));
        params.push(Value::Integer(q.offset));
        let mut attempt = 0;
        let (total, docs) = loop {
            attempt += 1;
            // See `access`: a flush that begins or ends while the page is
            // read means reading it again (after a few tries, holding
            // flushes off).
            let hold = (attempt > 3).then(|| self.inner.flush_lock.lock());
            let seq = self.flush_seq();
            // One read transaction: the total and the page agree.
            conn.prepare_cached("BEGIN")?.execute([])?;
            let total: i64 = match count_from_summary(q).or_else(|| meta_count.clone()) {
                Some((sql, p)) => conn
                    .prepare_cached(&sql)?
                    .query_row(rusqlite::params_from_iter(p.iter()), |r| r.get(0))?,
                None => conn
                    .prepare_cached(&format!("SELECT count(*) {from} {where_sql}"))?
                    .query_row(rusqlite::params_from_iter(count_params.iter()), |r| {
                        r.get(0)
                    })?,
            };
            // Past the last match the page is empty: skip the query, which
            // would probe every candidate to find nothing.
            let rows = if total > q.offset {
                conn.prepare_cached(&page_sql)?
                    .query_map(rusqlite::params_from_iter(params.iter()), from_row_lazily)?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            } else {
                Vec::new()
            };
            conn.prepare_cached("COMMIT")?.execute([])?;
            let docs: Option<Vec<_>> = rows
                .into_iter()
                .map(|(d, p)| self.access_if_unchanged(d, p, seq, hold.is_some()))
                .collect();
            if let Some(docs) = docs {
                break (total, docs);
            }
        };
        let out = Ok(Page {
            documents: docs,
            total,
            page: q.offset / q.limit + 1,
            pages: (total + q.limit - 1) / q.limit,
        });
        self.inner.metrics.list.done(started, &out);
        out
    }
}
