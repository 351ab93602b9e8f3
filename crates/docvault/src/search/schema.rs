//! The search index's tables and triggers (schema steps 1 -> 2 to
//! 4 -> 5, and 6 -> 7).
//!
//! Consistency: every change to `documents` fires a trigger, in the same
//! statement and so the same transaction as the write; the write path in
//! Rust knows nothing about search. (Metadata changes reach the index
//! through the row's `metadata` JSON column, which every metadata write
//! rewrites: see [`MIGRATION_METADATA_VIA_DOCUMENTS`].) A change copies
//! the values the document's entry was indexed from into
//! `search_removals` (FTS5 needs exactly those to take the entry out, and
//! only the trigger has them; see [`MIGRATION_DEFER_REMOVALS`]) and marks
//! the document pending. The flush takes the old entries out first.
//! A new document needs no mark: it is pending by its id (see
//! [`MIGRATION_ADOPT_NEW_DOCUMENTS`]).
//! [`FLUSH_PENDING`] indexes all pending documents from their current rows,
//! in one FTS5 segment. It runs through the writer when a search (or
//! `check`, `flush`, `close`) finds writes it has not seen indexed, once a
//! second in the background, and before a COMMIT that leaves
//! 256 or more documents pending ([`FLUSH_PENDING_IF_MANY`]).
//! So a search always sees every write that returned before it began, a
//! create with ten metadata entries indexes its document once, and a run
//! of single-document writes shares one FTS5 flush and one segment instead
//! of paying one each (an FTS5 flush, with the merges its segments cause,
//! was half the cost of a one-document create: measured). Pending state is
//! in the database, so a crash loses none of it.
//!
//! The index is an external-content FTS5 table over the view
//! `search_source`, so the text is stored once, in `documents`. FTS5 can
//! remove an entry only when given exactly the values it indexed: title
//! and content come from the trigger's `old` row, and everything derived
//! (the metadata text and the CJK bigrams) is kept in `search_text`, one
//! row per live document, so removal never recomputes or guesses.
//!
//! CJK: FTS5's `unicode61` tokenizer reads a run of Chinese, Japanese or
//! Korean characters as one long token. The flush therefore also feeds
//! the text of documents holding CJK characters through a scratch FTS5
//! table (whose tokenizer splits words exactly as the index's does), keeps
//! the tokens holding a CJK character, and writes for each of them its
//! overlapping character bigrams plus the last character of each run (so a
//! one-character query can be a prefix query), and the Latin letters glued
//! to a run (so `SQLite` is found in `SQLiteの全文検索`). Those go to the
//! `*_cjk` columns. Latin-only documents skip all of it, and no Latin text
//! is n-gram indexed.

/// The characters the index treats as CJK, as inclusive code point ranges:
/// CJK symbols, kana, Bopomofo, Hangul compatibility Jamo and the unified
/// ideographs with extension A (U+3000-U+9FFF); Hangul syllables
/// (U+AC00-U+D7FF); the supplementary ideograph planes. (Rarer blocks, such
/// as conjoining Jamo or half-width katakana, are left out so that the
/// cheap byte test in [`may_hold_cjk`] stays short.) The SQL below spells
/// out the same ranges; unit tests keep them equal.
pub(crate) const CJK_RANGES: &[(u32, u32)] =
    &[(0x3000, 0x9FFF), (0xAC00, 0xD7FF), (0x20000, 0x3FFFD)];

/// Whether the index treats `c` as a CJK character.
pub(crate) fn is_cjk(c: char) -> bool {
    let c = c as u32;
    CJK_RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// The body of a GLOB character class matching [`CJK_RANGES`] (escaped:
/// some CJK characters change under Unicode normalization, which an
/// editor may apply to literal ones).
macro_rules! cjk_class {
    () => {
        "\u{3000}-\u{9FFF}\u{AC00}-\u{D7FF}\u{20000}-\u{3FFFD}"
    };
}
pub(crate) use cjk_class;

/// SQL literal: a GLOB pattern matching text that holds a CJK character.
macro_rules! cjk_anywhere {
    () => {
        concat!("'*[", $crate::search::schema::cjk_class!(), "]*'")
    };
}

/// SQL: whether the code point `$c` is in [`CJK_RANGES`] (integer
/// comparisons, far cheaper than a GLOB class per character).
macro_rules! is_cjk_code {
    ($c:literal) => {
        concat!(
            "(",
            $c,
            " BETWEEN 0x3000 AND 0x9FFF OR ",
            $c,
            " BETWEEN 0xAC00 AND 0xD7FF OR ",
            $c,
            " BETWEEN 0x20000 AND 0x3FFFD)"
        )
    };
}
#[cfg(test)]
pub(crate) use is_cjk_code;

/// SQL: false only if the text `$x` certainly holds no CJK character. A
/// GLOB class over a 2 KB document costs ~200 µs; this costs ~4 µs for
/// ASCII text and ~20 µs otherwise: it looks for the UTF-8 lead bytes of
/// the CJK ranges (E3-E9 for U+3000-U+9FFF, EA-ED for the Hangul
/// syllables, F0 for the supplementary planes), so text with other
/// characters from those bytes' blocks (emoji, say) passes too, and the
/// exact test runs on its words later.
macro_rules! may_hold_cjk {
    ($x:literal) => {
        concat!(
            "(length(",
            $x,
            ") != length(CAST(",
            $x,
            " AS BLOB)) AND length(CAST(",
            $x,
            " AS BLOB)) != length(",
            "replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(",
            "replace(replace(CAST(",
            $x,
            " AS BLOB), x'E3', x''), x'E4', x''), x'E5', x''), ",
            "x'E6', x''), x'E7', x''), x'E8', x''), x'E9', x''), x'EA', x''), x'EB', x''), ",
            "x'EC', x''), x'ED', x''), x'F0', x'')))"
        )
    };
}
pub(crate) use may_hold_cjk;

/// Run by the writer once per group transaction, just before COMMIT: indexes
/// everything the group's writes left pending, in one statement. Indexing
/// from a trigger at every operation instead cost an FTS5 flush per
/// operation (FTS5 writes its pending terms out at every statement
/// savepoint), which made imports five times slower: measured.
pub(crate) const FLUSH_PENDING: &str = "INSERT INTO search_flush (id) SELECT NULL
    WHERE EXISTS (SELECT 1 FROM search_text WHERE pending)
       OR (SELECT max(id) FROM documents) > (SELECT adopted FROM search_state)
       OR EXISTS (SELECT 1 FROM search_removals)";

/// Pending documents that make a COMMIT index them itself.
macro_rules! index_batch {
    () => {
        256
    };
}

#[cfg(test)]
pub(crate) const INDEX_BATCH: i64 = index_batch!();

/// [`FLUSH_PENDING`] when at least `index_batch!()` documents are
/// pending; run by the writer before every COMMIT, so the test must be
/// cheap. Marked rows and waiting removals are counted up to the batch
/// size (the partial index of pending rows, the small removals table).
/// New documents are not counted but measured: the highest id less the
/// adopted one, two lookups at the ends of b-trees. Counting them walked
/// the rowid range of `documents`, whose leaves hold the content: a page
/// per pending document at every commit (ARCHITECTURE.md, write path,
/// has the measurement). The sum can overcount: a new document written again before
/// its first flush is in two parts, an updated one in two, a new one
/// already deleted (softly, or hard, which leaves a gap in the ids) in
/// one. That only flushes a little early, and the flush adopts them all.
pub(crate) const FLUSH_PENDING_IF_MANY: &str = concat!(
    "INSERT INTO search_flush (id) SELECT NULL WHERE
    (SELECT count(*) FROM (SELECT 1 FROM search_text WHERE pending LIMIT ",
    index_batch!(),
    ")) + max(0, coalesce((SELECT max(id) FROM documents) - (SELECT adopted FROM search_state), 0))
    + (SELECT count(*) FROM (SELECT 1 FROM search_removals LIMIT ",
    index_batch!(),
    ")) >= ",
    index_batch!()
);

/// SQL: the documents waiting to be indexed, in id order: those marked
/// pending and the live ones created since the last flush.
pub(crate) const PENDING_IDS: &str = "SELECT doc_id FROM search_text WHERE pending
    UNION SELECT id FROM documents
    WHERE id > (SELECT adopted FROM search_state) AND status != 'deleted'
    ORDER BY 1";

/// The flush trigger's work once its pending documents all have their
/// `search_text` row: fill in each one's metadata text and CJK text, add
/// its entry to the index, clear its mark. (The end of
/// `search_flush_pending` in every version of that trigger.)
macro_rules! flush_body {
    () => {
        concat!(
            r#"    UPDATE search_text SET meta = (
            SELECT group_concat(CAST(m.value AS TEXT), ' ' ORDER BY m.key) FROM metadata m
            WHERE m.document_id = search_text.doc_id
              AND m.value_type IN ('string', 'integer', 'float', 'json')),
        title_cjk = NULL, content_cjk = NULL, meta_cjk = NULL
    WHERE pending;
    INSERT INTO search_scratch (rowid, t, c, m)
        SELECT d.id, d.title, d.content, s.meta
        FROM search_text s JOIN documents d ON d.id = s.doc_id
        WHERE s.pending AND ("#,
    may_hold_cjk!("d.title"),
    r#" OR "#,
    may_hold_cjk!("d.content"),
    r#" OR "#,
    may_hold_cjk!("s.meta"),
    r#");
    UPDATE search_text SET title_cjk = g.title_cjk, content_cjk = g.content_cjk, meta_cjk = g.meta_cjk
        FROM search_cjk_grams AS g
        WHERE g.doc = search_text.doc_id AND EXISTS (SELECT 1 FROM search_scratch_terms);
    INSERT INTO search_scratch (search_scratch) SELECT 'delete-all'
        WHERE EXISTS (SELECT 1 FROM search_scratch_terms);
    INSERT INTO search_fts (rowid, title, content, meta, title_cjk, content_cjk, meta_cjk)
        SELECT d.id, d.title, d.content, s.meta, s.title_cjk, s.content_cjk, s.meta_cjk
        FROM search_text s JOIN documents d ON d.id = s.doc_id
        WHERE s.pending;
    UPDATE search_text SET pending = 0 WHERE pending;
"#
        )
    };
}

/// Schema step 1 -> 2: the search index. The CJK tests are spliced in from
/// the macros above.
pub(crate) const MIGRATION: &str = concat!(
    r#"-- What the index holds for a document besides its title and content, one
-- row per live document. pending = 0: the document's entry is in
-- search_fts, built from its title, its content and exactly the text in
-- this row. pending = 1: it has no entry; the next flush adds one. No
-- foreign key: a cascade would remove the row before the documents
-- trigger has read it.
CREATE TABLE search_text (
    doc_id      INTEGER PRIMARY KEY,
    pending     INTEGER NOT NULL DEFAULT 1,
    meta        TEXT,
    title_cjk   TEXT,
    content_cjk TEXT,
    meta_cjk    TEXT
);
CREATE INDEX search_text_pending ON search_text(doc_id) WHERE pending;

-- The external content of the index.
CREATE VIEW search_source AS
    SELECT d.id AS id, d.title AS title, d.content AS content, s.meta AS meta,
           s.title_cjk AS title_cjk, s.content_cjk AS content_cjk, s.meta_cjk AS meta_cjk
    FROM documents d JOIN search_text s ON s.doc_id = d.id
    WHERE d.status != 'deleted' AND NOT s.pending;

CREATE VIRTUAL TABLE search_fts USING fts5(
    title, content, meta, title_cjk, content_cjk, meta_cjk,
    content = 'search_source', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
-- Plain `ORDER BY rank` uses the default column weights too.
INSERT INTO search_fts(search_fts, rank) VALUES ('rank', 'bm25(10.0, 1.0, 0.5, 10.0, 1.0, 0.5)');

-- Scratch space for splitting CJK text, filled and emptied by one flush.
-- Its tokenizer cuts words where the index's does.
CREATE VIRTUAL TABLE search_scratch USING fts5(
    t, c, m, content = '', tokenize = 'unicode61 remove_diacritics 0'
);
CREATE VIRTUAL TABLE search_scratch_terms USING fts5vocab(search_scratch, 'instance');

-- The bigram text of each document in search_scratch. Each token holding
-- a CJK character is walked one UTF-8 character at a time (byte offsets
-- into a BLOB, so a step is O(1)): a CJK character after a CJK character
-- emits the pair, the end of a CJK run emits its last character, and a
-- stretch of other letters emits itself. A row holds the offset p and
-- width w of the next character (p = n + 1: the end, which gets a step of
-- its own to emit what is left), the CJK character before it (prev) or the
-- offset where the current stretch of other letters began (frag), and what
-- the step that made the row emitted (tok).
CREATE VIEW search_cjk_grams (doc, title_cjk, content_cjk, meta_cjk) AS
WITH RECURSIVE
    terms (doc, col, off, b, n) AS (
        SELECT doc, col, "offset", CAST(term AS BLOB), length(CAST(term AS BLOB))
        FROM search_scratch_terms
        WHERE length(term) != length(CAST(term AS BLOB)) AND term GLOB "#,
    cjk_anywhere!(),
    r#"
    ),
    walk (doc, col, off, b, n, p, w, prev, frag, tok) AS (
        SELECT doc, col, off, b, n, 1,
               CASE WHEN substr(b, 1, 1) < x'80' THEN 1 WHEN substr(b, 1, 1) < x'E0' THEN 2
                                WHEN substr(b, 1, 1) < x'F0' THEN 3 ELSE 4 END,
               NULL, NULL, NULL
        FROM terms
        UNION ALL
        SELECT doc, col, off, b, n, p + w,
               CASE WHEN substr(b, p + w, 1) < x'80' THEN 1 WHEN substr(b, p + w, 1) < x'E0' THEN 2
                                WHEN substr(b, p + w, 1) < x'F0' THEN 3 ELSE 4 END,
               CASE WHEN p <= n AND "#,
    is_cjk_code!("unicode(CAST(substr(b, p, w) AS TEXT))"),
    r#" THEN CAST(substr(b, p, w) AS TEXT) END,
               CASE WHEN p > n OR "#,
    is_cjk_code!("unicode(CAST(substr(b, p, w) AS TEXT))"),
    r#" THEN NULL ELSE coalesce(frag, p) END,
               CASE WHEN p > n THEN coalesce(prev, CAST(substr(b, frag, p - frag) AS TEXT))
                    WHEN "#,
    is_cjk_code!("unicode(CAST(substr(b, p, w) AS TEXT))"),
    r#"
                        THEN coalesce(prev || CAST(substr(b, p, w) AS TEXT),
                                      CAST(substr(b, frag, p - frag) AS TEXT))
                    ELSE prev END
        FROM walk WHERE p <= n + 1
    ),
    grams (doc, col, text) AS (
        SELECT doc, col, group_concat(tok, ' ' ORDER BY off, p)
        FROM walk WHERE tok IS NOT NULL GROUP BY doc, col
    )
SELECT doc, max(CASE col WHEN 't' THEN text END), max(CASE col WHEN 'c' THEN text END),
       max(CASE col WHEN 'm' THEN text END)
FROM grams GROUP BY doc;

-- Inserting a row here indexes every pending document from its current
-- rows. The table itself stays empty.
CREATE TABLE search_flush (id INTEGER PRIMARY KEY);
CREATE TRIGGER search_flush_pending AFTER INSERT ON search_flush BEGIN
    DELETE FROM search_flush;
"#,
    flush_body!(),
    r#"END;

CREATE TRIGGER search_documents_insert AFTER INSERT ON documents
WHEN new.status != 'deleted' BEGIN
    INSERT INTO search_text (doc_id) VALUES (new.id);
END;

-- Update, restore (content), soft delete and undelete (status). Other
-- columns (scores, paths, ...) never touch the index.
CREATE TRIGGER search_documents_update AFTER UPDATE OF id, title, content, status ON documents
WHEN old.id IS NOT new.id OR old.title IS NOT new.title OR old.content IS NOT new.content
     OR (old.status = 'deleted') IS NOT (new.status = 'deleted')
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, content, meta, title_cjk, content_cjk, meta_cjk)
        SELECT 'delete', s.doc_id, old.title, old.content, s.meta, s.title_cjk, s.content_cjk, s.meta_cjk
        FROM search_text s WHERE s.doc_id = old.id AND NOT s.pending;
    DELETE FROM search_text WHERE doc_id = old.id;
    INSERT INTO search_text (doc_id) SELECT new.id WHERE new.status != 'deleted';
END;

-- Hard delete. The cascade has already removed the metadata rows (their
-- triggers, until step 3 -> 4 removed them, did nothing: the document row
-- was gone), but search_text still holds the metadata text as indexed.
CREATE TRIGGER search_documents_delete AFTER DELETE ON documents BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, content, meta, title_cjk, content_cjk, meta_cjk)
        SELECT 'delete', s.doc_id, old.title, old.content, s.meta, s.title_cjk, s.content_cjk, s.meta_cjk
        FROM search_text s WHERE s.doc_id = old.id AND NOT s.pending;
    DELETE FROM search_text WHERE doc_id = old.id;
END;

-- (Step 3 -> 4 replaces the three metadata triggers below, and the update
-- trigger above: MIGRATION_METADATA_VIA_DOCUMENTS.)
-- A metadata change that can alter the metadata text (null and boolean
-- values are not indexed) takes an indexed document out of the index and
-- leaves it pending; further changes to a pending document cost nothing.
-- Only AFTER triggers: an upsert fires BEFORE INSERT and then the UPDATE
-- triggers, and a second take-out of a pending document does nothing.
CREATE TRIGGER search_metadata_insert AFTER INSERT ON metadata
WHEN new.value_type NOT IN ('null', 'boolean') BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, content, meta, title_cjk, content_cjk, meta_cjk)
        SELECT 'delete', s.doc_id, d.title, d.content, s.meta, s.title_cjk, s.content_cjk, s.meta_cjk
        FROM search_text s JOIN documents d ON d.id = s.doc_id
        WHERE s.doc_id = new.document_id AND NOT s.pending;
    UPDATE search_text SET pending = 1 WHERE doc_id = new.document_id AND NOT pending;
END;

CREATE TRIGGER search_metadata_update AFTER UPDATE ON metadata
WHEN (old.value_type NOT IN ('null', 'boolean') OR new.value_type NOT IN ('null', 'boolean'))
 AND (old.document_id IS NOT new.document_id OR old.key IS NOT new.key
      OR old.value_type IS NOT new.value_type OR old.value IS NOT new.value)
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, content, meta, title_cjk, content_cjk, meta_cjk)
        SELECT 'delete', s.doc_id, d.title, d.content, s.meta, s.title_cjk, s.content_cjk, s.meta_cjk
        FROM search_text s JOIN documents d ON d.id = s.doc_id
        WHERE s.doc_id IN (old.document_id, new.document_id) AND NOT s.pending;
    UPDATE search_text SET pending = 1
    WHERE doc_id IN (old.document_id, new.document_id) AND NOT pending;
END;

-- During a hard delete's cascade the document row is already gone: the
-- join finds nothing and the documents trigger does the removal.
CREATE TRIGGER search_metadata_delete AFTER DELETE ON metadata
WHEN old.value_type NOT IN ('null', 'boolean') BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, content, meta, title_cjk, content_cjk, meta_cjk)
        SELECT 'delete', s.doc_id, d.title, d.content, s.meta, s.title_cjk, s.content_cjk, s.meta_cjk
        FROM search_text s JOIN documents d ON d.id = s.doc_id
        WHERE s.doc_id = old.document_id AND NOT s.pending;
    UPDATE search_text SET pending = 1
    WHERE doc_id = old.document_id AND NOT pending
      AND EXISTS (SELECT 1 FROM documents WHERE id = old.document_id);
END;
"#,
);

/// Schema step 3 -> 4: a metadata change reaches the index through the
/// documents row, not the metadata table. Every write that changes
/// metadata also rewrites the row's `metadata` JSON column (the table is
/// its indexed mirror), so the documents update trigger sees the change
/// there: it takes an indexed document out of the index and leaves it
/// pending, as for a new title. The metadata table has no triggers left,
/// so a create's metadata rows are plain inserts: its three per-entry
/// triggers each looked the new document up in `search_text` only to find
/// it pending. (Dropping them sped one-document creates up 1.1x in three
/// alternating runs of `examples/creates`; over more runs, and with step
/// 4 -> 5, creates moved within noise and imports ran 1.06-1.22x faster.)
/// A change to null or boolean values only (never indexed) now re-indexes
/// the document too: harmless, and rare.
pub(crate) const MIGRATION_METADATA_VIA_DOCUMENTS: &str = r#"
DROP TRIGGER IF EXISTS search_metadata_insert;
DROP TRIGGER IF EXISTS search_metadata_update;
DROP TRIGGER IF EXISTS search_metadata_delete;
DROP TRIGGER IF EXISTS search_documents_update;
-- Update, restore (content), soft delete and undelete (status), metadata.
-- Other columns (scores, paths, ...) never touch the index.
CREATE TRIGGER search_documents_update AFTER UPDATE OF id, title, content, status, metadata ON documents
WHEN old.id IS NOT new.id OR old.title IS NOT new.title OR old.content IS NOT new.content
     OR (old.status = 'deleted') IS NOT (new.status = 'deleted')
     OR old.metadata IS NOT new.metadata
BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, content, meta, title_cjk, content_cjk, meta_cjk)
        SELECT 'delete', s.doc_id, old.title, old.content, s.meta, s.title_cjk, s.content_cjk, s.meta_cjk
        FROM search_text s WHERE s.doc_id = old.id AND NOT s.pending;
    DELETE FROM search_text WHERE doc_id = old.id;
    INSERT INTO search_text (doc_id) SELECT new.id WHERE new.status != 'deleted';
END;
"#;

/// The flush's first step since schema 5: new documents get their
/// `search_text` rows and the mark moves past them.
macro_rules! adopt_new {
    () => {
        r#"    INSERT INTO search_text (doc_id)
        SELECT id FROM documents
        WHERE id > (SELECT adopted FROM search_state) AND status != 'deleted'
        ON CONFLICT (doc_id) DO NOTHING;
    UPDATE search_state SET adopted = (SELECT max(id) FROM documents)
        WHERE (SELECT max(id) FROM documents) > adopted;
"#
    };
}

/// Schema step 4 -> 5: a create writes nothing for search. Its document
/// is pending by its id alone: every live document with an id above
/// `search_state.adopted` is, whether or not it has a `search_text` row
/// (ids only grow: `AUTOINCREMENT`). The flush first gives each of them
/// its row, in one statement, and moves the mark past the last document,
/// then indexes as before. The insert trigger wrote a `search_text` row
/// and an entry in its pending index for every create, two of the ~27
/// pages a one-document create wrote (`examples/pages`), one by one.
/// Updates, deletes and undeletes still mark their document through its
/// row: a document the flush has adopted is not new any more.
pub(crate) const MIGRATION_ADOPT_NEW_DOCUMENTS: &str = concat!(
    r#"
-- The highest document id the index has adopted: a live document above it
-- waits to be indexed even without a search_text row.
CREATE TABLE search_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    adopted INTEGER NOT NULL
);
-- Every live document has its row already.
INSERT INTO search_state (id, adopted) VALUES (1, coalesce((SELECT max(id) FROM documents), 0));
DROP TRIGGER IF EXISTS search_documents_insert;
DROP TRIGGER IF EXISTS search_flush_pending;
CREATE TRIGGER search_flush_pending AFTER INSERT ON search_flush BEGIN
    DELETE FROM search_flush;
"#,
    adopt_new!(),
    flush_body!(),
    "END;\n"
);

/// In a documents trigger: keeps the values the `old` row's index entry
/// was built from (if it has one) for the next flush to take out, and
/// drops its `search_text` row.
macro_rules! take_out_old {
    () => {
        r#"    INSERT INTO search_removals (doc_id, title, content, meta, title_cjk, content_cjk, meta_cjk)
        SELECT s.doc_id, old.title, old.content, s.meta, s.title_cjk, s.content_cjk, s.meta_cjk
        FROM search_text s WHERE s.doc_id = old.id AND NOT s.pending;
    DELETE FROM search_text WHERE doc_id = old.id;
"#
    };
}

/// Schema step 6 -> 7: taking a changed document's entry out of the index
/// waits for the flush too. The triggers still run at the write, while the
/// old values exist, but they copy those values into `search_removals`;
/// the flush hands them all to FTS5 in one statement before it indexes.
/// FTS5 writes its in-memory terms out as a segment at every commit, so a
/// removal done at once cost each one-document update a segment of its own
/// (with the merges that follow): 42% of the writer's time in a profile of
/// content updates on 100,000 documents. Deferred, content updates ran
/// 1.19x faster (median of seven alternating 5 s pairs); the batched flush
/// still tokenizes both texts. A search flushes before it reads, so it
/// never sees an entry whose removal is waiting.
pub(crate) const MIGRATION_DEFER_REMOVALS: &str = concat!(
    r#"
-- The exact values of index entries to remove at the next flush.
CREATE TABLE IF NOT EXISTS search_removals (
    doc_id      INTEGER NOT NULL,
    title       TEXT,
    content     TEXT,
    meta        TEXT,
    title_cjk   TEXT,
    content_cjk TEXT,
    meta_cjk    TEXT
);
DROP TRIGGER IF EXISTS search_documents_update;
DROP TRIGGER IF EXISTS search_documents_delete;
DROP TRIGGER IF EXISTS search_flush_pending;
-- Update, restore (content), soft delete and undelete (status), metadata.
-- Other columns (scores, paths, ...) never touch the index.
CREATE TRIGGER search_documents_update AFTER UPDATE OF id, title, content, status, metadata ON documents
WHEN old.id IS NOT new.id OR old.title IS NOT new.title OR old.content IS NOT new.content
     OR (old.status = 'deleted') IS NOT (new.status = 'deleted')
     OR old.metadata IS NOT new.metadata
BEGIN
"#,
    take_out_old!(),
    r#"    INSERT INTO search_text (doc_id) SELECT new.id WHERE new.status != 'deleted';
END;
-- Hard delete (the metadata rows are gone already; search_text holds the
-- metadata text as indexed).
CREATE TRIGGER search_documents_delete AFTER DELETE ON documents BEGIN
"#,
    take_out_old!(),
    r#"END;
CREATE TRIGGER search_flush_pending AFTER INSERT ON search_flush BEGIN
    DELETE FROM search_flush;
    INSERT INTO search_fts (search_fts, rowid, title, content, meta, title_cjk, content_cjk, meta_cjk)
        SELECT 'delete', doc_id, title, content, meta, title_cjk, content_cjk, meta_cjk
        FROM search_removals ORDER BY rowid;
    DELETE FROM search_removals;
"#,
    adopt_new!(),
    flush_body!(),
    "END;\n"
);

/// Schema step 2 -> 3: FTS5 keeps up to 8 MiB of new terms in memory
/// before writing a segment (its default is 1 MiB). An import indexes its
/// 1,000 documents per transaction as one segment instead of several, which
/// saves the merges: imports ran 1.1-1.15x faster (medians of five
/// interleaved runs of `examples/imports 20000`). The memory is the writer's,
/// only while a large batch is being indexed.
pub(crate) const MIGRATION_HASHSIZE: &str =
    "INSERT INTO search_fts (search_fts, rank) VALUES ('hashsize', 8388608);";
