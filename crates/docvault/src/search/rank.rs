//! `docvault_rank`: FTS5's BM25, computed only where it can matter.
//!
//! FTS5's own `bm25()` reads each matching row's length from the
//! `%_docsize` table, one prepared-statement lookup per row. Ranking every
//! match of a term found in 90,000 of 100,000 documents spends most of its
//! ~45 ms there. This function computes the same score (same formula, same
//! IDF, same `k1 = 1.2`, `b = 0.75`, so exactly the value `-bm25()` gives)
//! but first bounds it from above with what the row's position lists give
//! for free: the weighted term frequencies, and a lower bound on the row's
//! length (in each column, the end of the last match). BM25 falls as the
//! length grows, so that bound on the length bounds the score. The function
//! keeps the best `k` exact scores seen so far in this query; a row whose
//! bound is below the `k`-th of them cannot be in the top `k`, so it gets
//! its bound as its score (lower than every top-`k` score) without the
//! length lookup. The top `k` rows, and their scores, are therefore exactly
//! those of `bm25()`; only rows that can never be shown get a cheaper,
//! smaller number. Callers must ask for at most `k` rows (`LIMIT` plus
//! `OFFSET`), order by the score descending, and filter before ranking
//! (rows are only ranked after the WHERE clause accepted them, which holds
//! when the FTS table is the outer loop, hence CROSS JOIN in the queries).
//!
//! The function also counts the distinct rows it ranked, which is the
//! number of matches, so a search needs no separate `count(*)` pass. Its
//! state lives with one run of the FTS5 query: when the index is the inner
//! loop of a join (a search led by a selective metadata filter), FTS5 runs
//! its query afresh per outer row, every score comes out exact and the
//! count is of that run only, so such a caller counts the rows itself. It
//! reads each phrase's position list in place (xPhraseFirst/Next), not
//! through xInst, which first merges all phrases' positions into one
//! array; and for a one-phrase query without filters it leaves out the
//! IDF factor, which only scales every score alike, so FTS5 need not walk
//! the phrase's whole doclist a second time just to count its hits (the
//! caller multiplies by the IDF of the count it got for free).
//!
//! Measured with `cargo bench -p docvault --bench search` (100,000
//! documents of ~2 KB, top 10 with highlighted title and snippet, on a
//! shared 2-core machine): for a term in 75,895 documents, raw FTS5
//! `MATCH ? ORDER BY rank LIMIT 10` takes 70-85 ms at p50 and
//! `Store::search` 14-18 ms (in a prototype, about 1.4 % of such rows
//! still needed the length lookup); for a rare term (10 documents) the two
//! are within a few percent of each other at p50.
//!
//! Arguments: `docvault_rank(<fts table>, k, defer_idf, w0, w1, ...)`, where
//! `wN` is the weight of column N (missing weights are 1.0) and `k = 0`
//! disables pruning. With `defer_idf` set and a query of one phrase, the
//! scores come without their IDF factor and [`RankState::deferred_idf`]
//! gives it after the query; only valid when every row the FTS query
//! matches is ranked (no other filter), since the count of ranked rows
//! stands for the phrase's hit count.
//!
//! FTS5 auxiliary functions are registered per connection through the C
//! API; rusqlite has no safe wrapper for it, hence the `unsafe` here. It is
//! registered lazily on each reader connection the first time a search uses
//! it, and marked with SQLite "client data" so it is registered once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use rusqlite::{ffi, Connection};

use crate::error::{Error, Result};

/// Name of the SQL function.
pub(crate) const FUNCTION: &str = "docvault_rank";
const FUNCTION_C: &CStr = c"docvault_rank";
const CLIENT_DATA: &CStr = c"docvault.search.rank";

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Per-connection state shared with the function, about the last ranking
/// query run on the connection.
#[derive(Default)]
pub(crate) struct RankState {
    rows: AtomicI64,
    /// Rows in the whole index, when the IDF was left to the caller.
    deferred_rows: AtomicI64,
    deferred: AtomicBool,
}

impl RankState {
    /// Clears the state before a query.
    pub(crate) fn reset(&self) {
        self.rows.store(0, Ordering::Relaxed);
        self.deferred.store(false, Ordering::Relaxed);
    }

    /// Distinct rows ranked by the last query.
    pub(crate) fn rows(&self) -> i64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// When the last query left its IDF to the caller: the factor to
    /// multiply its scores by (see `docvault_rank`'s `defer_idf`).
    pub(crate) fn deferred_idf(&self) -> Option<f64> {
        self.deferred
            .load(Ordering::Relaxed)
            .then(|| idf(self.deferred_rows.load(Ordering::Relaxed), self.rows()))
    }
}

/// BM25's inverse document frequency exactly as FTS5 computes it: terms in
/// over half the rows get a tiny positive value instead of a negative one.
pub(crate) fn idf(rows: i64, hits: i64) -> f64 {
    let v = (((rows - hits) as f64 + 0.5) / (hits as f64 + 0.5)).ln();
    if v <= 0.0 {
        1e-6
    } else {
        v
    }
}

/// Registers the function on `conn` if it is not yet, and returns the
/// connection's state.
pub(crate) fn ensure(conn: &Connection) -> Result<&RankState> {
    // SAFETY: `handle` is the live connection behind `conn`; the client
    // data pointer, when present, was produced by `Arc::into_raw` below and
    // stays valid until the connection closes, which `conn`'s borrow outlives
    // the returned reference.
    unsafe {
        let db = conn.handle();
        let existing = ffi::sqlite3_get_clientdata(db, CLIENT_DATA.as_ptr());
        if !existing.is_null() {
            return Ok(&*(existing as *const RankState));
        }
        let api = fts5_api(db)?;
        let create = (*api)
            .xCreateFunction
            .ok_or_else(|| Error::Database("FTS5 API has no xCreateFunction".into()))?;
        let state = Arc::new(RankState::default());
        let for_function = Arc::into_raw(Arc::clone(&state)) as *mut c_void;
        let rc = create(
            api,
            FUNCTION_C.as_ptr(),
            for_function,
            Some(rank),
            Some(release_state),
        );
        if rc != ffi::SQLITE_OK {
            // FTS5 does not call the destructor when registration fails.
            release_state(for_function);
            return Err(Error::Database(format!(
                "could not register {FUNCTION} (code {rc})"
            )));
        }
        let for_marker = Arc::into_raw(state) as *mut c_void;
        // On failure SQLite runs the destructor itself.
        let rc =
            ffi::sqlite3_set_clientdata(db, CLIENT_DATA.as_ptr(), for_marker, Some(release_state));
        if rc != ffi::SQLITE_OK {
            return Err(Error::Database(format!(
                "could not mark {FUNCTION} as registered (code {rc})"
            )));
        }
        Ok(&*(for_marker as *const RankState))
    }
}

unsafe extern "C" fn release_state(p: *mut c_void) {
    if !p.is_null() {
        drop(Arc::from_raw(p as *const RankState));
    }
}

/// The connection's `fts5_api`, fetched the documented way: binding a
/// pointer to `SELECT fts5(?1)`.
unsafe fn fts5_api(db: *mut ffi::sqlite3) -> Result<*mut ffi::fts5_api> {
    let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
    let rc = ffi::sqlite3_prepare_v2(
        db,
        c"SELECT fts5(?1)".as_ptr(),
        -1,
        &mut stmt,
        ptr::null_mut(),
    );
    if rc != ffi::SQLITE_OK || stmt.is_null() {
        return Err(Error::Database(format!(
            "FTS5 is not available (code {rc})"
        )));
    }
    let mut api: *mut ffi::fts5_api = ptr::null_mut();
    let rc = ffi::sqlite3_bind_pointer(
        stmt,
        1,
        (&mut api as *mut *mut ffi::fts5_api).cast(),
        c"fts5_api_ptr".as_ptr(),
        None,
    );
    if rc == ffi::SQLITE_OK {
        ffi::sqlite3_step(stmt);
    }
    ffi::sqlite3_finalize(stmt);
    if api.is_null() {
        return Err(Error::Database("FTS5 API pointer unavailable".into()));
    }
    Ok(api)
}

/// What one query keeps between rows.
struct QueryState {
    idf: Vec<f64>,
    /// Tokens per phrase (at least 1), for the end of a match.
    sizes: Vec<c_int>,
    avgdl: f64,
    weights: Vec<f64>,
    k: usize,
    /// The best `k` exact scores so far, smallest on top.
    best: BinaryHeap<Reverse<Score>>,
    /// The last row ranked and its score: SQLite may evaluate the function
    /// twice for a row, and a row must enter `best` once.
    last: Option<(i64, f64)>,
    rows: i64,
    freq: Vec<f64>,
    col_end: Vec<i64>,
}

/// A finite, non-negative score with a total order.
#[derive(Clone, Copy, PartialEq)]
struct Score(f64);
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

unsafe extern "C" fn free_query_state(p: *mut c_void) {
    if !p.is_null() {
        drop(Box::from_raw(p as *mut QueryState));
    }
}

unsafe extern "C" fn count_hit(
    _api: *const ffi::Fts5ExtensionApi,
    _fts: *mut ffi::Fts5Context,
    data: *mut c_void,
) -> c_int {
    *(data as *mut i64) += 1;
    ffi::SQLITE_OK
}

fn fail(ctx: *mut ffi::sqlite3_context, rc: c_int) {
    // SAFETY: `ctx` is the context SQLite passed to this call.
    unsafe { ffi::sqlite3_result_error_code(ctx, rc) };
}

/// Builds the per-query state: IDF per phrase exactly as FTS5's bm25 does.
unsafe fn new_query_state(
    a: &ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    args: &[*mut ffi::sqlite3_value],
    state: *const RankState,
) -> std::result::Result<QueryState, c_int> {
    let (Some(phrase_count), Some(column_count), Some(row_count), Some(total_size)) = (
        a.xPhraseCount,
        a.xColumnCount,
        a.xRowCount,
        a.xColumnTotalSize,
    ) else {
        return Err(ffi::SQLITE_MISUSE);
    };
    let (Some(query_phrase), Some(phrase_size)) = (a.xQueryPhrase, a.xPhraseSize) else {
        return Err(ffi::SQLITE_MISUSE);
    };
    let nphrase = phrase_count(fts).max(0) as usize;
    let ncol = column_count(fts).max(0) as usize;
    let mut nrow: i64 = 0;
    let rc = row_count(fts, &mut nrow);
    if rc != ffi::SQLITE_OK {
        return Err(rc);
    }
    let mut ntok: i64 = 0;
    let rc = total_size(fts, -1, &mut ntok);
    if rc != ffi::SQLITE_OK {
        return Err(rc);
    }
    let avgdl = if nrow > 0 && ntok > 0 {
        ntok as f64 / nrow as f64
    } else {
        1.0
    };
    let defer = match args.get(1) {
        Some(&v) => ffi::sqlite3_value_int64(v) != 0,
        None => false,
    };
    let mut idf_of = Vec::with_capacity(nphrase);
    if defer && nphrase == 1 {
        // One phrase: its IDF scales every score alike, so it changes
        // neither the order nor the pruning. Its hit count is the number
        // of rows ranked, known at the end for free, where the full pass
        // over the phrase's rows to count them would cost a fifth of the
        // query for a common term. The caller multiplies.
        idf_of.push(1.0);
        if !state.is_null() {
            (*state).deferred_rows.store(nrow, Ordering::Relaxed);
            (*state).deferred.store(true, Ordering::Relaxed);
        }
    }
    for i in idf_of.len()..nphrase {
        let mut hits: i64 = 0;
        let rc = query_phrase(
            fts,
            i as c_int,
            (&mut hits as *mut i64).cast(),
            Some(count_hit),
        );
        if rc != ffi::SQLITE_OK {
            return Err(rc);
        }
        idf_of.push(idf(nrow, hits));
    }
    let k = match args.first() {
        Some(&v) => ffi::sqlite3_value_int64(v).max(0) as usize,
        None => 0,
    };
    let weights = (0..ncol)
        .map(|c| match args.get(c + 2) {
            Some(&v) => ffi::sqlite3_value_double(v),
            None => 1.0,
        })
        .collect();
    let sizes = (0..nphrase)
        .map(|i| phrase_size(fts, i as c_int).max(1))
        .collect();
    Ok(QueryState {
        idf: idf_of,
        sizes,
        freq: vec![0.0; nphrase],
        col_end: vec![0; ncol],
        avgdl,
        weights,
        k,
        best: BinaryHeap::new(),
        last: None,
        rows: 0,
    })
}

/// BM25 of the current row for a row length of `len` tokens, given the
/// weighted frequencies in `q.freq`; the same expression as FTS5's.
fn score(q: &QueryState, len: f64) -> f64 {
    let mut s = 0.0;
    for (f, idf) in q.freq.iter().zip(&q.idf) {
        s += idf * ((f * (K1 + 1.0)) / (f + K1 * (1.0 - B + B * len / q.avgdl)));
    }
    s
}

unsafe extern "C" fn rank(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    ctx: *mut ffi::sqlite3_context,
    nargs: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    let a = &*api;
    let (Some(get_aux), Some(set_aux), Some(user_data), Some(rowid_of)) =
        (a.xGetAuxdata, a.xSetAuxdata, a.xUserData, a.xRowid)
    else {
        return fail(ctx, ffi::SQLITE_MISUSE);
    };
    let (Some(phrase_first), Some(phrase_next), Some(column_size)) =
        (a.xPhraseFirst, a.xPhraseNext, a.xColumnSize)
    else {
        return fail(ctx, ffi::SQLITE_MISUSE);
    };
    let state = user_data(fts) as *const RankState;
    let mut q = get_aux(fts, 0) as *mut QueryState;
    if q.is_null() {
        let args: &[*mut ffi::sqlite3_value] = if nargs > 0 && !argv.is_null() {
            std::slice::from_raw_parts(argv, nargs as usize)
        } else {
            &[]
        };
        match new_query_state(a, fts, args, state) {
            Ok(s) => {
                q = Box::into_raw(Box::new(s));
                let rc = set_aux(fts, q.cast(), Some(free_query_state));
                if rc != ffi::SQLITE_OK {
                    // xSetAuxdata runs the destructor itself on failure.
                    return fail(ctx, rc);
                }
            }
            Err(rc) => return fail(ctx, rc),
        }
    }
    let q = &mut *q;
    let rowid = rowid_of(fts);
    if let Some((r, s)) = q.last {
        if r == rowid {
            ffi::sqlite3_result_double(ctx, s);
            return;
        }
    }
    q.rows += 1;
    if !state.is_null() {
        (*state).rows.store(q.rows, Ordering::Relaxed);
    }

    q.col_end.iter_mut().for_each(|e| *e = 0);
    // Each phrase's own position list, walked in place: cheaper than
    // xInst, which first merges every phrase's positions into one array.
    for p in 0..q.freq.len() {
        let mut f = 0.0;
        let size = i64::from(q.sizes[p]);
        let mut it = ffi::Fts5PhraseIter {
            a: ptr::null(),
            b: ptr::null(),
        };
        let (mut col, mut off): (c_int, c_int) = (0, 0);
        let rc = phrase_first(fts, p as c_int, &mut it, &mut col, &mut off);
        if rc != ffi::SQLITE_OK {
            return fail(ctx, rc);
        }
        while col >= 0 {
            let c = col as usize;
            f += q.weights.get(c).copied().unwrap_or(1.0);
            if let Some(e) = q.col_end.get_mut(c) {
                *e = (*e).max(i64::from(off) + size);
            }
            phrase_next(fts, &mut it, &mut col, &mut off);
        }
        q.freq[p] = f;
    }

    let full = q.k > 0 && q.best.len() >= q.k;
    let threshold = q.best.peek().map(|r| r.0 .0);
    let result = match threshold {
        Some(t) if full => {
            let bound = score(q, q.col_end.iter().sum::<i64>() as f64);
            if bound < t {
                Some(bound)
            } else {
                None
            }
        }
        _ => None,
    };
    let s = match result {
        Some(bound) => bound,
        None => {
            let mut len: c_int = 0;
            let rc = column_size(fts, -1, &mut len);
            if rc != ffi::SQLITE_OK {
                return fail(ctx, rc);
            }
            let s = score(q, f64::from(len));
            if q.k > 0 {
                if q.best.len() < q.k {
                    q.best.push(Reverse(Score(s)));
                } else if q.best.peek().is_some_and(|m| s > m.0 .0) {
                    q.best.pop();
                    q.best.push(Reverse(Score(s)));
                }
            }
            s
        }
    };
    q.last = Some((rowid, s));
    ffi::sqlite3_result_double(ctx, s);
}
