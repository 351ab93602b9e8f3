//! Full-text search: ranked, highlighted, over every script.
//!
//! The index is SQLite FTS5 inside the store's own file, kept current by
//! triggers in the same transaction as every write (see [`schema`]). A
//! query is parsed by our own small language and compiled to an FTS5
//! expression that always parses (see [`query`]). Ranking is BM25 with
//! column weights, computed by `docvault_rank` (see [`rank`]), which
//! returns exactly FTS5's `bm25()` for every row it can return but skips
//! most of the per-row work for very common terms.
//!
//! A search runs in one read transaction, so its count, ranks and
//! snippets come from one snapshot:
//!
//! 1. rank: `SELECT rowid, docvault_rank(...) ... ORDER BY score DESC
//!    LIMIT ? OFFSET ?`, with `documents` joined only when a filter needs
//!    it; the ranking function also counts the matches;
//! 2. show: title highlight and content snippet (FTS5 `highlight()` and
//!    `snippet()`) for the page's rows only, plus their uuid, type and
//!    status; CJK matches, which FTS5 cannot highlight in the title and
//!    content columns, are highlighted here.

mod query;
mod rank;
pub(crate) mod schema;

use std::time::Instant;

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::list::MAX_LIMIT;
use crate::model::{DocType, ListQuery, MetaValue, Status};
use crate::store::Store;
use query::Needles;

pub use query::{MAX_QUERY_CHARS, MAX_QUERY_TERMS};

/// Results per page when [`SearchQuery::limit`] is not set otherwise.
pub const DEFAULT_SEARCH_LIMIT: i64 = 20;
/// Longest snippet FTS5 can cut, in tokens.
pub const MAX_SNIPPET_TOKENS: u32 = 64;

/// How results are ranked and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchOptions {
    /// BM25 weight of a match in the title (default 10).
    pub title_weight: f64,
    /// BM25 weight of a match in the content (default 1).
    pub content_weight: f64,
    /// BM25 weight of a match in a metadata value (default 0.5).
    pub metadata_weight: f64,
    /// Inserted before each match in `title_highlighted` and `snippet`
    /// (default `<mark>`). Inserted as is: the text around it is not
    /// escaped, so escape before rendering as HTML if the text may hold
    /// markup.
    pub highlight_open: String,
    /// Inserted after each match (default `</mark>`).
    pub highlight_close: String,
    /// Length of the snippet in tokens (words), 1 to
    /// [`MAX_SNIPPET_TOKENS`] (default 16).
    pub snippet_tokens: u32,
    /// Marks text cut from either end of the snippet (default `…`).
    pub ellipsis: String,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            title_weight: 10.0,
            content_weight: 1.0,
            metadata_weight: 0.5,
            highlight_open: "<mark>".into(),
            highlight_close: "</mark>".into(),
            snippet_tokens: 16,
            ellipsis: "…".into(),
        }
    }
}

/// A search. Build with [`SearchQuery::new`] and set fields as needed.
///
/// The query language:
///
/// | input | meaning |
/// | --- | --- |
/// | `install guide` | both words (in any field) |
/// | `"exact phrase"` | the words next to each other |
/// | `config*` | a word starting with `config` |
/// | `-draft`, `NOT draft` | documents without the word |
/// | `pdf OR epub` | either word (binds tighter than the implicit AND) |
/// | `title:install`, `content:`, `meta:` | the word in that field only |
///
/// Words are stemmed (`configure` finds `configuration`) and folded
/// (`cafe` finds `Café`). Chinese, Japanese and Korean text is found by any
/// run of two or more characters (one character works too, less exactly).
/// Anything else is searched as literal text: `C++`, `20.04`,
/// `multi-agent`, unbalanced quotes and stray operators never fail. A query
/// with nothing to search for (empty, only punctuation, only excluded
/// terms) is an [`Error::Validation`] on field `query`.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// The query text (at most [`MAX_QUERY_CHARS`] characters and
    /// [`MAX_QUERY_TERMS`] terms).
    pub text: String,
    /// Only documents of this type.
    pub doc_type: Option<DocType>,
    /// Only documents with this status. Soft-deleted documents are never
    /// found, so `Deleted` is rejected.
    pub status: Option<Status>,
    /// Only documents with these metadata key = typed value pairs (as
    /// [`ListQuery::meta`]).
    pub meta: Vec<(String, MetaValue)>,
    /// Results per page, 1 to [`crate::MAX_LIMIT`] (default
    /// [`DEFAULT_SEARCH_LIMIT`]).
    pub limit: i64,
    /// Results to skip.
    pub offset: i64,
    /// Ranking and display.
    pub options: SearchOptions,
}

impl SearchQuery {
    /// A search for `text` with default filters, page and options.
    pub fn new(text: impl Into<String>) -> Self {
        SearchQuery {
            text: text.into(),
            doc_type: None,
            status: None,
            meta: Vec::new(),
            limit: DEFAULT_SEARCH_LIMIT,
            offset: 0,
            options: SearchOptions::default(),
        }
    }
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery::new("")
    }
}

/// One found document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Document id.
    pub id: i64,
    /// Document uuid.
    pub uuid: uuid::Uuid,
    /// The title as stored.
    pub title: String,
    /// Kind of document.
    #[serde(rename = "type")]
    pub doc_type: DocType,
    /// Lifecycle state (never `deleted`).
    pub status: Status,
    /// BM25 relevance with the query's column weights; higher is better.
    pub score: f64,
    /// The title with matches between the highlight markers.
    pub title_highlighted: String,
    /// A part of the content around the best match, matches highlighted.
    pub snippet: String,
}

/// One page of search results, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// The query text as given.
    pub query: String,
    /// Documents matching the query and filters, over all pages.
    pub total: i64,
    /// This page's hits, by score (ties by id).
    pub results: Vec<SearchHit>,
}

/// Highlight markers FTS5 is given; replaced by the caller's markers once
/// CJK matches are marked too. Private-use characters, so they cannot be
/// confused with markers a user chose; text that itself holds them may be
/// highlighted oddly, never wrongly matched.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// Below this many matches, fetching the page's snippets in one pass over
/// the matches is cheaper than one FTS5 lookup per hit.
const SCAN_SNIPPETS_BELOW: i64 = 20_000;

/// Most entries a metadata filter may match and still lead a search (see
/// `search_inner`): each is one lookup in the index, ~10-20 us for a
/// common term, so a rare term with few matches loses at most ~1 ms.
const DRIVE_MAX: i64 = 64;

fn check_marker(field: &str, s: &str) -> Result<()> {
    if s.len() > 64 || s.contains('\0') {
        return Err(Error::validation(
            field,
            "must be at most 64 bytes without NUL characters",
        ));
    }
    Ok(())
}

impl SearchOptions {
    /// Rejects options that cannot work, naming the field.
    pub fn validate(&self) -> Result<()> {
        let weights = [
            ("title_weight", self.title_weight),
            ("content_weight", self.content_weight),
            ("metadata_weight", self.metadata_weight),
        ];
        for (field, w) in weights {
            if !w.is_finite() || !(0.0..=1e6).contains(&w) {
                return Err(Error::validation(
                    field,
                    format!("{w} is not a number between 0 and 1000000"),
                ));
            }
        }
        if weights.iter().all(|(_, w)| *w == 0.0) {
            return Err(Error::validation(
                "title_weight",
                "at least one column weight must be greater than 0",
            ));
        }
        if !(1..=MAX_SNIPPET_TOKENS).contains(&self.snippet_tokens) {
            return Err(Error::validation(
                "snippet_tokens",
                format!(
                    "{} is not between 1 and {MAX_SNIPPET_TOKENS}",
                    self.snippet_tokens
                ),
            ));
        }
        check_marker("highlight_open", &self.highlight_open)?;
        check_marker("highlight_close", &self.highlight_close)?;
        check_marker("ellipsis", &self.ellipsis)
    }
}

fn validate(q: &SearchQuery) -> Result<()> {
    if !(1..=MAX_LIMIT).contains(&q.limit) {
        return Err(Error::validation(
            "limit",
            format!("{} is not between 1 and {MAX_LIMIT}", q.limit),
        ));
    }
    if q.offset < 0 {
        return Err(Error::validation("offset", "must not be negative"));
    }
    if q.status == Some(Status::Deleted) {
        return Err(Error::validation(
            "status",
            "soft-deleted documents are never searched",
        ));
    }
    for (k, v) in &q.meta {
        crate::validate::meta_key(k)?;
        crate::validate::meta_value(k, v, usize::MAX)?;
    }
    q.options.validate()
}

/// Wraps each needle occurrence in `text` in the sentinel markers.
fn mark_needles(text: &str, needles: &Needles, out: &mut String) {
    // Latin needles only match against CJK text, CJK needles only in it.
    if !text.chars().any(schema::is_cjk) {
        out.push_str(text);
        return;
    }
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match needles.match_at(&chars, i) {
            Some(n) => {
                out.push(OPEN);
                out.extend(&chars[i..i + n]);
                out.push(CLOSE);
                i += n;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
}

/// Adds the hand-made highlights to FTS5 output (outside its own) and
/// swaps the sentinels for the caller's markers.
fn render(raw: &str, needles: &Needles, open: &str, close: &str) -> String {
    let mut marked = String::with_capacity(raw.len());
    if needles.is_empty() {
        marked.push_str(raw);
    } else {
        let mut inside = false;
        let mut plain = String::new();
        for c in raw.chars() {
            match c {
                OPEN | CLOSE => {
                    if inside {
                        marked.push_str(&plain);
                    } else {
                        mark_needles(&plain, needles, &mut marked);
                    }
                    plain.clear();
                    marked.push(c);
                    inside = c == OPEN;
                }
                _ => plain.push(c),
            }
        }
        if inside {
            marked.push_str(&plain);
        } else {
            mark_needles(&plain, needles, &mut marked);
        }
    }
    let mut out = String::with_capacity(marked.len());
    for c in marked.chars() {
        match c {
            OPEN => out.push_str(open),
            CLOSE => out.push_str(close),
            _ => out.push(c),
        }
    }
    out
}

/// A snippet around the first CJK match in the content, for hits where
/// FTS5's snippet (which only sees Latin matches in the content column)
/// shows none. `None` if no needle occurs in the content (the match was in
/// the title or metadata).
fn cjk_snippet(
    conn: &Connection,
    id: i64,
    needles: &Needles,
    o: &SearchOptions,
) -> Result<Option<String>> {
    if needles.cjk.is_empty() {
        return Ok(None);
    }
    let mut first: Option<i64> = None;
    for n in &needles.cjk {
        let n: String = n.iter().collect();
        let pos: Option<i64> = conn
            .prepare_cached("SELECT instr(content, ?2) FROM documents WHERE id = ?1")?
            .query_row(params![id, n], |r| r.get(0))
            .optional()?;
        if let Some(p) = pos.filter(|p| *p > 0) {
            first = Some(first.map_or(p, |f| f.min(p)));
        }
    }
    let Some(pos) = first else { return Ok(None) };
    // A CJK character is about a word: the window is three characters per
    // snippet token, a third of it before the match.
    let width = i64::from(o.snippet_tokens) * 3;
    let start = (pos - width / 3).max(1);
    let (text, total): (String, i64) = conn
        .prepare_cached(
            "SELECT substr(content, ?2, ?3), length(content) FROM documents WHERE id = ?1",
        )?
        .query_row(params![id, start, width], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut raw = String::new();
    if start > 1 {
        raw.push_str(&o.ellipsis);
    }
    raw.push_str(&text);
    if start + width - 1 < total {
        raw.push_str(&o.ellipsis);
    }
    Ok(Some(raw))
}

/// Shortens a snippet without matches: FTS5 counts tokens, and a token of
/// CJK text can be a whole sentence.
fn cap_snippet(raw: &mut String, o: &SearchOptions) {
    let max = o.snippet_tokens as usize * 8;
    if let Some((cut, _)) = raw.char_indices().nth(max) {
        raw.truncate(cut);
        raw.push_str(&o.ellipsis);
    }
}

struct Shown {
    uuid: String,
    title: String,
    doc_type: String,
    status: String,
    title_raw: String,
    snippet_raw: String,
}

fn corrupt(what: &str, v: &str) -> Error {
    Error::Corrupt(format!("search: unexpected {what} {v:?}"))
}

impl Store {
    /// Searches live documents; see [`SearchQuery`] for the language and
    /// [`SearchResults`] for what comes back. Soft-deleted documents are
    /// never found.
    ///
    /// ```
    /// use docvault::{Config, NewDocument, SearchQuery, Store};
    /// # fn main() -> docvault::Result<()> {
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path().join("docs.db"), Config::default())?;
    /// store.create(NewDocument::new("Installing", "Configuration of the installer."))?;
    /// let found = store.search(&SearchQuery::new("configure install*"))?;
    /// assert_eq!(found.total, 1);
    /// assert_eq!(found.results[0].title_highlighted, "<mark>Installing</mark>");
    /// # Ok(()) }
    /// ```
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults> {
        let started = Instant::now();
        let out = self.search_inner(q);
        self.inner.metrics.search.done(started, &out);
        out
    }

    fn search_inner(&self, q: &SearchQuery) -> Result<SearchResults> {
        validate(q)?;
        let compiled = query::compile(&q.text)?;
        // Every write that returned before this search is in the index.
        self.inner.index_pending()?;
        let conn = self.reader()?;
        let state = rank::ensure(&conn)?;
        let tx = conn.unchecked_transaction()?;

        // 1. Rank. The FTS table is the outer loop (CROSS JOIN), so rows
        // are ranked after the filters accepted them, as docvault_rank needs.
        // A metadata filter matching at most DRIVE_MAX entries goes before
        // it: the index is then asked about those documents alone (a rowid
        // lookup each) instead of ranking every match and probing each one's
        // metadata, which made a common term with a filter matching nothing
        // cost as much as ranking all its matches. FTS5 starts its query
        // afresh for each of those documents, which resets docvault_rank's
        // count (and its pruning, so every score is exact): that query
        // returns all its (at most DRIVE_MAX) rows, and the total and the
        // page are taken here.
        let filtered = q.doc_type.is_some() || q.status.is_some() || !q.meta.is_empty();
        let lq = ListQuery {
            doc_type: q.doc_type,
            status: q.status,
            meta: q.meta.clone(),
            ..ListQuery::default()
        };
        // No metadata filter, no driver.
        let driver = crate::list::metadata_driver(&tx, &lq, Some(DRIVE_MAX))?;
        let driven = driver.is_some();
        let join = "CROSS JOIN documents d ON d.id = f.rowid";
        let (lead, join, mut where_sql, mut args) = match driver {
            Some(i) => {
                let (w, p) = crate::list::led_filters(&lq, "d.", i);
                let w = format!("f.rowid = dm.document_id AND {w}");
                ("metadata dm CROSS JOIN ", join, w, p)
            }
            None if filtered => {
                let (w, p) = crate::list::filters(&lq, "d.");
                let w = w.strip_prefix("WHERE ").unwrap_or(&w).to_string();
                ("", join, w, p)
            }
            None => ("", "", String::new(), Vec::new()),
        };
        if !where_sql.is_empty() {
            where_sql = format!(" AND {where_sql}");
        }
        let base = args.len();
        let o = &q.options;
        let keep = q.offset.saturating_add(q.limit);
        args.extend([
            Value::Text(compiled.fts.clone()),
            Value::Integer(keep),
            Value::Integer(i64::from(!filtered)),
            Value::Real(o.title_weight),
            Value::Real(o.content_weight),
            Value::Real(o.metadata_weight),
            Value::Integer(if driven { -1 } else { q.limit }),
            Value::Integer(if driven { 0 } else { q.offset }),
        ]);
        let p = |i: usize| base + i;
        let sql = format!(
            "SELECT f.rowid, {func}(f.search_fts, ?{k}, ?{defer}, ?{wt}, ?{wc}, ?{wm}, ?{wt}, ?{wc}, ?{wm}) AS score
             FROM {lead}search_fts f {join}
             WHERE f.search_fts MATCH ?{m}{where_sql}
             ORDER BY score DESC, f.rowid LIMIT ?{lim} OFFSET ?{off}",
            func = rank::FUNCTION,
            m = p(1),
            k = p(2),
            defer = p(3),
            wt = p(4),
            wc = p(5),
            wm = p(6),
            lim = p(7),
            off = p(8),
        );
        state.reset();
        let ranked: Vec<(i64, f64)> = {
            let mut stmt = tx.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let (total, ranked) = if driven {
            let total = ranked.len() as i64;
            let page = ranked
                .into_iter()
                .skip(q.offset as usize)
                .take(q.limit as usize)
                .collect();
            (total, page)
        } else {
            (state.rows(), ranked)
        };
        let ranked: Vec<(i64, f64)> = match state.deferred_idf() {
            // Unfiltered, so every match was ranked: multiplied here, the
            // scores are the very values bm25() gives.
            Some(idf) => ranked.into_iter().map(|(id, s)| (id, idf * s)).collect(),
            None => ranked,
        };

        // 2. Show the page.
        let mut shown: std::collections::HashMap<i64, Shown> = Default::default();
        if !ranked.is_empty() {
            let cols = "f.rowid, d.uuid, d.title, d.doc_type, d.status,
                        highlight(f.search_fts, 0, ?2, ?3), snippet(f.search_fts, 1, ?2, ?3, ?4, ?5)";
            let from = "FROM search_fts f CROSS JOIN documents d ON d.id = f.rowid WHERE f.search_fts MATCH ?1";
            let read = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(i64, Shown)> {
                Ok((
                    r.get(0)?,
                    Shown {
                        uuid: r.get(1)?,
                        title: r.get(2)?,
                        doc_type: r.get(3)?,
                        status: r.get(4)?,
                        title_raw: r.get(5)?,
                        snippet_raw: r.get(6)?,
                    },
                ))
            };
            let (open, close) = (OPEN.to_string(), CLOSE.to_string());
            let tokens = i64::from(o.snippet_tokens);
            // With filters, `total` counts filtered rows, not what a scan
            // of the matches would read.
            if !filtered && total < SCAN_SNIPPETS_BELOW {
                let ids = serde_json::to_string(&ranked.iter().map(|r| r.0).collect::<Vec<_>>())
                    .map_err(|e| Error::Database(e.to_string()))?;
                let sql = format!(
                    "SELECT {cols} {from} AND +f.rowid IN (SELECT value FROM json_each(?6))"
                );
                let mut stmt = tx.prepare_cached(&sql)?;
                let rows = stmt.query_map(
                    params![compiled.fts, open, close, o.ellipsis, tokens, ids],
                    read,
                )?;
                for row in rows {
                    let (id, s) = row?;
                    shown.insert(id, s);
                }
            } else {
                let sql = format!("SELECT {cols} {from} AND f.rowid = ?6");
                let mut stmt = tx.prepare_cached(&sql)?;
                for (id, _) in &ranked {
                    if let Some((id, s)) = stmt
                        .query_row(
                            params![compiled.fts, open, close, o.ellipsis, tokens, id],
                            read,
                        )
                        .optional()?
                    {
                        shown.insert(id, s);
                    }
                }
            }
        }
        let needles = &compiled.needles;
        let mut results = Vec::with_capacity(ranked.len());
        for (id, score) in ranked {
            // Ranked and shown in one snapshot: a hit missing here would
            // mean the index and the documents disagree.
            let s = shown.remove(&id).ok_or_else(|| {
                Error::Corrupt(format!("search: document {id} ranked but not found"))
            })?;
            let mut snippet_raw = s.snippet_raw;
            if !snippet_raw.contains(CLOSE) {
                // FTS5 found nothing to show in the content column: the match
                // is CJK (a CJK run is one token there), or in another field.
                match cjk_snippet(&tx, id, needles, o)? {
                    Some(raw) => snippet_raw = raw,
                    None => cap_snippet(&mut snippet_raw, o),
                }
            }
            results.push(SearchHit {
                id,
                uuid: uuid::Uuid::parse_str(&s.uuid).map_err(|_| corrupt("uuid", &s.uuid))?,
                doc_type: s
                    .doc_type
                    .parse()
                    .map_err(|_| corrupt("type", &s.doc_type))?,
                status: s.status.parse().map_err(|_| corrupt("status", &s.status))?,
                title: s.title,
                score,
                title_highlighted: render(
                    &s.title_raw,
                    needles,
                    &o.highlight_open,
                    &o.highlight_close,
                ),
                snippet: render(&snippet_raw, needles, &o.highlight_open, &o.highlight_close),
            });
        }
        tx.finish()?;
        Ok(SearchResults {
            query: q.text.clone(),
            total,
            results,
        })
    }

    /// Rebuilds the search index from the documents: every live document is
    /// indexed afresh, then the index is merged into one segment. Returns
    /// the number of documents indexed. Runs as one write; searches keep
    /// seeing the old index until it commits.
    pub fn reindex(&self) -> Result<i64> {
        self.write(|conn| {
            conn.execute_batch(
                "INSERT INTO search_fts(search_fts) VALUES ('delete-all');
                 INSERT INTO search_scratch(search_scratch) VALUES ('delete-all');
                 DELETE FROM search_text;
                 DELETE FROM search_removals;
                 -- The batches below give every live document its row, so
                 -- the flush must not adopt any on its own.
                 UPDATE search_state SET adopted = coalesce((SELECT max(id) FROM documents), 0);",
            )?;
            // In batches, so the CJK scratch work stays small.
            let mut stmt = conn.prepare(
                "INSERT INTO search_text(doc_id)
                 SELECT id FROM documents WHERE status != 'deleted' AND id > ?1 ORDER BY id LIMIT 1000
                 RETURNING doc_id",
            )?;
            let mut last = i64::MIN;
            let mut total = 0;
            loop {
                let ids: Vec<i64> = stmt
                    .query_map([last], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                let Some(&max) = ids.iter().max() else { break };
                conn.execute("INSERT INTO search_flush (id) VALUES (NULL)", [])?;
                last = max;
                total += ids.len() as i64;
            }
            conn.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')", [])?;
            Ok(total)
        })
    }
}

/// The search index's part of [`Store::check`]: one entry per problem.
///
/// On the reader: every live document, and nothing else, has an index
/// entry, the indexed metadata text is current, and the scratch table is
/// empty. Through the writer (so it sees a settled index and holds writes
/// off while it runs): FTS5's `integrity-check` against the documents,
/// which re-tokenizes every live document and compares with the index, and
/// the CJK bigram text recomputed for documents holding CJK characters.
pub(crate) fn check_index(store: &Store, conn: &Connection) -> Result<Vec<String>> {
    // FTS5 refreshes a connection's cached index structure when a cursor
    // opens, but not for PRAGMA integrity_check, which then reports
    // corruption after another connection rewrote the index: open one.
    conn.query_row(
        "SELECT (SELECT count(*) FROM search_fts WHERE search_fts MATCH '\"\"'),
                (SELECT count(*) FROM search_scratch WHERE search_scratch MATCH '\"\"')",
        [],
        |_| Ok(()),
    )?;
    let mut problems = Vec::new();
    let mut list = |sql: &str, what: &dyn Fn(i64) -> String| -> Result<()> {
        let mut stmt = conn.prepare(sql)?;
        let ids = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        for id in ids {
            problems.push(what(id?));
        }
        Ok(())
    };
    list(
        "SELECT d.id FROM documents d WHERE d.status != 'deleted'
         AND d.id <= (SELECT adopted FROM search_state)
         AND NOT EXISTS (SELECT 1 FROM search_text s WHERE s.doc_id = d.id) ORDER BY d.id",
        &|id| format!("search: document {id} is not indexed"),
    )?;
    list(
        "SELECT s.doc_id FROM search_text s LEFT JOIN documents d ON d.id = s.doc_id
         WHERE d.id IS NULL OR d.status = 'deleted' ORDER BY s.doc_id",
        &|id| format!("search: index holds document {id}, which is deleted or missing"),
    )?;
    list(
        "SELECT doc_id FROM search_text s WHERE meta IS NOT (
            SELECT group_concat(CAST(value AS TEXT), ' ' ORDER BY key) FROM metadata
            WHERE document_id = s.doc_id AND value_type IN ('string', 'integer', 'float', 'json'))
         ORDER BY doc_id",
        &|id| format!("search: indexed metadata of document {id} is out of date"),
    )?;
    list(
        "SELECT id FROM search_fts_docsize EXCEPT SELECT doc_id FROM search_text ORDER BY 1",
        &|id| format!("search: orphan index entry for document {id}"),
    )?;
    list(
        "SELECT doc_id FROM search_text EXCEPT SELECT id FROM search_fts_docsize ORDER BY 1",
        &|id| format!("search: index entry of document {id} is missing"),
    )?;
    list(schema::PENDING_IDS, &|id| {
        format!("search: document {id} is waiting to be indexed")
    })?;
    list(
        "SELECT DISTINCT doc_id FROM search_removals ORDER BY doc_id",
        &|id| format!("search: an old index entry of document {id} is waiting to be removed"),
    )?;
    let scratch: i64 = conn.query_row("SELECT count(*) FROM search_scratch_terms", [], |r| {
        r.get(0)
    })?;
    if scratch != 0 {
        problems.push("search: scratch table is not empty".into());
    }
    problems.extend(store.write(|conn| {
        let mut problems = Vec::new();
        if let Err(e) = conn.execute(
            "INSERT INTO search_fts(search_fts, rank) VALUES ('integrity-check', 1)",
            [],
        ) {
            problems.push(format!("search: index does not match the documents: {e}"));
        }
        // Recompute the bigram text of each document holding CJK text (the
        // scratch table is emptied again before the job ends).
        let ids: Vec<i64> = conn
            .prepare(concat!(
                "SELECT d.id FROM documents d JOIN search_text s ON s.doc_id = d.id WHERE ",
                schema::may_hold_cjk!("d.title"),
                " OR ",
                schema::may_hold_cjk!("d.content"),
                " OR ",
                schema::may_hold_cjk!("s.meta"),
                " OR s.title_cjk IS NOT NULL OR s.content_cjk IS NOT NULL OR s.meta_cjk IS NOT NULL
                 ORDER BY d.id"
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in ids {
            conn.execute(
                "INSERT INTO search_scratch(rowid, t, c, m)
                 SELECT d.id, d.title, d.content, s.meta
                 FROM documents d JOIN search_text s ON s.doc_id = d.id WHERE d.id = ?1",
                [id],
            )?;
            let stale: bool = conn.query_row(
                "SELECT (s.title_cjk, s.content_cjk, s.meta_cjk) IS NOT
                        (SELECT g.title_cjk, g.content_cjk, g.meta_cjk FROM search_cjk_grams g WHERE g.doc = s.doc_id)
                 FROM search_text s WHERE s.doc_id = ?1",
                [id],
                |r| r.get(0),
            )?;
            conn.execute("INSERT INTO search_scratch(search_scratch) VALUES ('delete-all')", [])?;
            if stale {
                problems.push(format!("search: CJK text of document {id} is out of date"));
            }
        }
        Ok(problems)
    })?);
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, NewDocument};

    fn pending(store: &Store) -> i64 {
        pending_on(&store.reader().unwrap())
    }

    fn pending_on(conn: &rusqlite::Connection) -> i64 {
        rows(conn, schema::PENDING_IDS)
    }

    /// The rows `sql` returns.
    fn rows(conn: &rusqlite::Connection, sql: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM ({sql})"), [], |r| r.get(0))
            .unwrap()
    }

    /// A store whose background round stays out of the way.
    fn quiet_store(dir: &tempfile::TempDir) -> Store {
        Store::open(
            dir.path().join("s.db"),
            Config {
                access_flush_interval: std::time::Duration::from_secs(3600),
                ..Config::default()
            },
        )
        .unwrap()
    }

    /// Ids of the documents a search for `text` finds, in id order.
    fn search_ids(store: &Store, text: &str) -> Vec<i64> {
        let mut v: Vec<i64> = store
            .search(&SearchQuery::new(text))
            .unwrap()
            .results
            .iter()
            .map(|h| h.id)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn the_batch_threshold_in_sql_is_index_batch() {
        let limit = format!("LIMIT {})) >= {}", schema::INDEX_BATCH, schema::INDEX_BATCH);
        assert!(schema::FLUSH_PENDING_IF_MANY.contains(&limit));
    }

    #[test]
    fn writes_are_indexed_in_batches_and_every_search_sees_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = quiet_store(&dir);
        let d = store
            .create(NewDocument::new("Quokka", "marsupial notes"))
            .unwrap();
        // Left pending by the write ...
        assert_eq!(pending(&store), 1);
        // ... but a search that starts after it returned finds it.
        assert_eq!(store.search(&SearchQuery::new("quokka")).unwrap().total, 1);
        assert_eq!(pending(&store), 0);
        // An update takes the old text out at once; the new text is found.
        store
            .update(
                d.id,
                crate::DocumentPatch {
                    title: Some("Wombat".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(store.search(&SearchQuery::new("quokka")).unwrap().total, 0);
        assert_eq!(store.search(&SearchQuery::new("wombat")).unwrap().total, 1);
        // Piled-up writes are indexed by the commit that reaches the batch.
        for i in 0..schema::INDEX_BATCH - 1 {
            store
                .create(NewDocument::new(format!("Doc {i}"), "echidna"))
                .unwrap();
        }
        assert_eq!(pending(&store), schema::INDEX_BATCH - 1);
        store.create(NewDocument::new("Last", "echidna")).unwrap();
        assert_eq!(pending(&store), 0);
        // Deletes leave the index at once.
        store.delete(d.id, None).unwrap();
        assert_eq!(store.search(&SearchQuery::new("wombat")).unwrap().total, 0);
        assert!(store.check().unwrap().ok);
    }

    /// The batch test measures new documents as the highest id less the
    /// adopted one. Hard-deleting the newest documents after a flush puts
    /// the highest id below the adopted one: that must count as none, not
    /// as less than none, or marked writes would wait past the batch.
    #[test]
    fn the_batch_test_is_not_thrown_off_by_hard_deleted_newest_documents() {
        let dir = tempfile::tempdir().unwrap();
        let store = quiet_store(&dir);
        let n = schema::INDEX_BATCH + 10;
        let docs = store
            .create_many(
                (0..n)
                    .map(|i| NewDocument::new(format!("Doc {i}"), "numbat"))
                    .collect(),
            )
            .unwrap();
        for d in &docs[docs.len() - 10..] {
            store.hard_delete(d.id, None).unwrap();
        }
        // A search flushes everything waiting, removals included.
        assert_eq!(
            store.search(&SearchQuery::new("numbat")).unwrap().total,
            schema::INDEX_BATCH
        );
        assert_eq!(pending(&store), 0);
        // An update waits twice (its mark and its old entry's removal), so
        // half a batch of updates reaches the batch, and not one fewer.
        const _: () = assert!(schema::INDEX_BATCH % 2 == 0);
        let half = schema::INDEX_BATCH / 2;
        let retitle = |d: &crate::Document| {
            store
                .update(
                    d.id,
                    crate::DocumentPatch {
                        title: Some(format!("Renamed {}", d.id)),
                        ..Default::default()
                    },
                )
                .unwrap();
        };
        for d in &docs[..half as usize - 1] {
            retitle(d);
        }
        assert_eq!(pending(&store), half - 1);
        retitle(&docs[half as usize - 1]);
        assert_eq!(pending(&store), 0, "the commit reaching the batch flushed");
        assert!(store.check().unwrap().ok);
    }

    #[test]
    fn documents_left_pending_at_a_crash_are_indexed_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let store = Store::open(&db, Config::default()).unwrap();
        store.create(NewDocument::new("Platypus", "x")).unwrap();
        // A crash: the store is never closed, and the pending mark stays.
        std::mem::forget(store);
        let conn = rusqlite::Connection::open(&db).unwrap();
        assert_eq!(pending_on(&conn), 1);
        drop(conn);
        std::fs::remove_file(crate::lock::lock_path(&db)).ok();
        // The leaked store still holds the lock in this process; a second
        // process would get in. Simulate that by opening under another
        // name: a copy of the files.
        let copy = dir.path().join("copy.db");
        std::fs::copy(&db, &copy).unwrap();
        let wal = dir.path().join("s.db-wal");
        if wal.exists() {
            std::fs::copy(&wal, dir.path().join("copy.db-wal")).unwrap();
        }
        let store = Store::open(&copy, Config::default()).unwrap();
        assert_eq!(
            store.search(&SearchQuery::new("platypus")).unwrap().total,
            1
        );
        store.close().unwrap();
    }

    #[test]
    fn cjk_sql_matches_the_ranges() {
        let c = |u| char::from_u32(u).unwrap_or('?');
        let class: String = schema::CJK_RANGES
            .iter()
            .map(|&(lo, hi)| format!("{}-{}", c(lo), c(hi)))
            .collect();
        assert_eq!(class, schema::cjk_class!());
        let between: Vec<String> = schema::CJK_RANGES
            .iter()
            .map(|&(lo, hi)| format!("x BETWEEN 0x{lo:X} AND 0x{hi:X}"))
            .collect();
        assert_eq!(
            format!("({})", between.join(" OR ")),
            schema::is_cjk_code!("x")
        );
        // The lead bytes the cheap test looks for cover every range.
        let leads = [
            0xE3u8, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xF0,
        ];
        for &(lo, hi) in schema::CJK_RANGES {
            for u in (lo..=hi).step_by(61).chain([hi]) {
                let mut buf = [0u8; 4];
                let lead = c(u).encode_utf8(&mut buf).as_bytes()[0];
                assert!(leads.contains(&lead), "U+{u:X}");
                let hex = format!("x'{lead:02X}'");
                assert!(schema::may_hold_cjk!("x").contains(&hex), "{hex}");
            }
        }
    }

    #[test]
    fn render_adds_cjk_marks_outside_fts5_marks() {
        let raw = format!("a {OPEN}b{CLOSE} 全文検索 c SQLiteの sqlite");
        let needles = Needles {
            cjk: vec!["全文".chars().collect()],
            latin: vec!["sqlite".chars().collect()],
        };
        assert_eq!(
            render(&raw, &needles, "[", "]"),
            "a [b] [全文]検索 c [SQLite]の sqlite"
        );
        assert_eq!(render("x", &Needles::default(), "<", ">"), "x");
    }

    /// A version 3 store (metadata triggers on the metadata table, a
    /// `search_text` row for every live document) moves to the latest
    /// version (4: metadata changes reach the index through the documents
    /// row; 5: new documents wait by their id) with its index intact,
    /// pending document included, and later writes are indexed.
    #[test]
    fn a_version_3_store_keeps_its_index_and_follows_metadata_changes() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("v3.db");
        let store = Store::open(&db, Config::default()).unwrap();
        let mut meta = crate::Metadata::new();
        meta.insert("colour".into(), "crimson".into());
        let indexed = store
            .create(NewDocument {
                metadata: meta.clone(),
                ..NewDocument::new("Indexed", "first words")
            })
            .unwrap();
        store.flush().unwrap();
        let waiting = store
            .create(NewDocument {
                metadata: meta,
                ..NewDocument::new("Pending", "second words")
            })
            .unwrap();
        // Closing would index the second document: leave it pending.
        let conn = rusqlite::Connection::open(&db).unwrap();
        assert_eq!(pending_on(&conn), 1);
        std::mem::forget(store);
        // What a version 3 file holds: every live document has its
        // search_text row (pending or not), no search_state, and step
        // 1 -> 2's triggers as written.
        let tail = &schema::MIGRATION[schema::MIGRATION
            .find("CREATE TRIGGER search_flush_pending")
            .unwrap()..];
        conn.execute_batch(&format!(
            "INSERT INTO search_text (doc_id)
                 SELECT id FROM documents WHERE id > (SELECT adopted FROM search_state);
             DROP TABLE search_state;
             DROP TABLE search_removals;
             DROP TRIGGER search_flush_pending;
             DROP TRIGGER search_documents_update;
             DROP TRIGGER search_documents_delete;
             {tail} PRAGMA user_version = 3;"
        ))
        .unwrap();
        assert_eq!(rows(&conn, "SELECT 1 FROM search_text WHERE pending"), 1);
        let metadata_triggers = |c: &rusqlite::Connection| -> i64 {
            c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'metadata'",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(metadata_triggers(&conn), 3);
        drop(conn);
        // The leaked store holds the lock file; open a copy, as a second
        // process would after a crash.
        let copy = dir.path().join("copy.db");
        std::fs::copy(&db, &copy).unwrap();
        std::fs::copy(dir.path().join("v3.db-wal"), dir.path().join("copy.db-wal")).unwrap();
        let store = Store::open(&copy, Config::default()).unwrap();
        assert_eq!(
            crate::schema::version(&store.reader().unwrap()).unwrap(),
            crate::schema::LATEST
        );
        assert_eq!(metadata_triggers(&store.reader().unwrap()), 0);
        let ids = |text: &str| search_ids(&store, text);
        assert_eq!(ids("crimson"), vec![indexed.id, waiting.id]);
        assert_eq!(ids("words"), vec![indexed.id, waiting.id]);
        for id in [indexed.id, waiting.id] {
            let mut p = crate::DocumentPatch::default();
            p.set_meta.insert("colour".into(), "teal".into());
            store.update(id, p).unwrap();
        }
        assert_eq!(ids("crimson"), Vec::<i64>::new());
        assert_eq!(ids("teal"), vec![indexed.id, waiting.id]);
        // Removing the entry takes its text out of the index too.
        let mut p = crate::DocumentPatch::default();
        p.unset_meta.push("colour".into());
        store.update(indexed.id, p).unwrap();
        assert_eq!(ids("teal"), vec![waiting.id]);
        let late = store
            .create(NewDocument::new("Late", "third words"))
            .unwrap();
        assert_eq!(ids("words"), vec![indexed.id, waiting.id, late.id]);
        assert_eq!(pending(&store), 0);
        assert!(store.check().unwrap().ok, "{:?}", store.check().unwrap());
        store.close().unwrap();
    }

    /// A new document waits for the index by its id alone; every write that
    /// can reach it before the flush adopts it leaves the index right.
    #[test]
    fn documents_written_again_before_their_first_flush_are_indexed_right() {
        let dir = tempfile::tempdir().unwrap();
        let store = quiet_store(&dir);
        let conn = store.reader().unwrap();
        let mk = |t: &str| store.create(NewDocument::new(t, "kiwi")).unwrap().id;
        let updated = mk("updated");
        let deleted = mk("deleted");
        let restored = mk("restored");
        let gone = mk("gone");
        let plain = mk("plain");
        // A create writes nothing for search.
        assert_eq!(rows(&conn, "SELECT 1 FROM search_text"), 0);
        assert_eq!(pending(&store), 5);
        store
            .update(
                updated,
                crate::DocumentPatch {
                    content: Some("kiwi tui".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        store.delete(deleted, None).unwrap();
        store.delete(restored, None).unwrap();
        store.undelete(restored, None).unwrap();
        store.hard_delete(gone, None).unwrap();
        // The update and the undelete marked theirs through a row.
        assert_eq!(rows(&conn, "SELECT 1 FROM search_text WHERE pending"), 2);
        assert_eq!(pending(&store), 3);
        let found = |text: &str| search_ids(&store, text);
        assert_eq!(found("kiwi"), vec![updated, restored, plain]);
        assert_eq!(found("tui"), vec![updated]);
        assert_eq!(pending(&store), 0);
        assert_eq!(rows(&conn, "SELECT 1 FROM search_text"), 3);
        let adopted: i64 = conn
            .query_row("SELECT adopted FROM search_state", [], |r| r.get(0))
            .unwrap();
        assert_eq!(adopted, plain);
        // Undeleting after the flush marks the document through its row.
        store.undelete(deleted, None).unwrap();
        assert_eq!(found("kiwi"), vec![updated, deleted, restored, plain]);
        // A rebuild with new documents waiting indexes each of them once.
        let fresh = mk("fresh");
        assert_eq!(store.reindex().unwrap(), 5);
        assert_eq!(
            found("kiwi"),
            vec![updated, deleted, restored, plain, fresh]
        );
        drop(conn);
        assert!(store.check().unwrap().ok, "{:?}", store.check().unwrap());
    }

    /// Updates and hard deletes leave the index alone until the flush: the
    /// old entries wait in `search_removals` (FTS5 writes no segment), and
    /// the flush that a search starts with takes them out.
    #[test]
    fn removals_wait_for_the_flush_and_searches_never_see_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = quiet_store(&dir);
        let ids: Vec<i64> = (0..10)
            .map(|i| {
                store
                    .create(NewDocument::new(format!("kakapo {i}"), "parrot"))
                    .unwrap()
                    .id
            })
            .collect();
        store.flush().unwrap();
        let conn = store.reader().unwrap();
        let segments = || rows(&conn, "SELECT 1 FROM search_fts_data");
        let before = segments();
        for &id in &ids[..8] {
            store
                .update(
                    id,
                    crate::DocumentPatch {
                        content: Some("kea".into()),
                        ..Default::default()
                    },
                )
                .unwrap();
        }
        store.hard_delete(ids[8], None).unwrap();
        store.delete(ids[9], None).unwrap();
        assert_eq!(rows(&conn, "SELECT 1 FROM search_removals"), 10);
        assert_eq!(segments(), before, "no FTS5 write before the flush");
        let total = |text: &str| store.search(&SearchQuery::new(text)).unwrap().total;
        assert_eq!(total("parrot"), 0);
        assert_eq!(total("kea"), 8);
        assert_eq!(total("kakapo"), 8);
        assert_eq!(rows(&conn, "SELECT 1 FROM search_removals"), 0);
        drop(conn);
        assert!(store.check().unwrap().ok, "{:?}", store.check().unwrap());
    }
}
