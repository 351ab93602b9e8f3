//! Schema and migrations.
//!
//! The schema version lives in `PRAGMA user_version`. Each migration step runs
//! in its own transaction together with the bump of `user_version`, so a file
//! is always at exactly one known version, never half-migrated. A file whose
//! version is newer than [`LATEST`] is refused before anything is written.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// One migration step: SQL, or code where the change depends on what the
/// file holds.
enum Step {
    Sql(&'static str),
    Code(fn(&Connection) -> Result<()>),
}

/// Migration steps; step `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[Step] = &[
    // 0 -> 1: the core store.
    Step::Sql(
        r#"
CREATE TABLE documents (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid                 TEXT    NOT NULL UNIQUE,
    title                TEXT    NOT NULL,
    doc_type             TEXT    NOT NULL,
    status               TEXT    NOT NULL,
    status_before_delete TEXT,
    format               TEXT    NOT NULL,
    language             TEXT    NOT NULL,
    source_path          TEXT,
    file_path            TEXT,
    content              TEXT    NOT NULL,
    content_hash         TEXT    NOT NULL,
    size_bytes           INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    quality_score        REAL,
    completeness_score   REAL,
    version              INTEGER NOT NULL,
    -- The metadata as one JSON object, so a read is one row; the metadata
    -- table below holds the same entries, indexed for filters.
    metadata             TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX documents_status_updated ON documents(status, updated_at);
-- Type filters in updated order, with status, without reading the rows.
CREATE INDEX documents_type_updated ON documents(doc_type, updated_at, status);
CREATE INDEX documents_created ON documents(created_at);
CREATE INDEX documents_updated ON documents(updated_at);
CREATE INDEX documents_title ON documents(title);
CREATE INDEX documents_source_path ON documents(source_path) WHERE source_path IS NOT NULL;

-- The current version's content is the document's own: its row here holds
-- NULL content, so a document with one version stores its text once.
CREATE TABLE versions (
    document_id   INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    content       TEXT,
    content_hash  TEXT    NOT NULL,
    size_bytes    INTEGER NOT NULL,
    author        TEXT,
    comment       TEXT,
    major         INTEGER NOT NULL DEFAULT 0,
    restored_from INTEGER,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (document_id, version)
) WITHOUT ROWID;

-- Read statistics live apart from the documents: flushing a count then
-- rewrites a 20-byte row, not a document with its content.
CREATE TABLE access_stats (
    document_id   INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    access_count  INTEGER NOT NULL DEFAULT 0,
    last_accessed INTEGER,
    -- The flush that last wrote the row (see the access module).
    access_epoch  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE metadata (
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    key         TEXT    NOT NULL,
    value_type  TEXT    NOT NULL,
    -- BLOB affinity: SQLite stores each value exactly as bound (a string
    -- that looks like a number stays a string).
    value       BLOB,
    PRIMARY KEY (document_id, key)
) WITHOUT ROWID;
CREATE INDEX metadata_key_value ON metadata(key, value);

-- No foreign key: the trail outlives hard-deleted documents.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          INTEGER NOT NULL,
    operation   TEXT    NOT NULL,
    document_id INTEGER,
    actor       TEXT,
    old_summary TEXT,
    new_summary TEXT,
    duration_us INTEGER NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
CREATE INDEX audit_document ON audit_log(document_id, id);
CREATE INDEX audit_operation ON audit_log(operation, id);
CREATE INDEX audit_ts ON audit_log(ts);

-- Documents per (status, type), kept by triggers (by the create itself
-- from schema 8) so that a list's total is a sum over a few rows instead
-- of a count over every document.
CREATE TABLE doc_counts (
    status   TEXT    NOT NULL,
    doc_type TEXT    NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (status, doc_type)
) WITHOUT ROWID;
CREATE TRIGGER doc_counts_insert AFTER INSERT ON documents BEGIN
    INSERT INTO doc_counts (status, doc_type, n) VALUES (NEW.status, NEW.doc_type, 1)
    ON CONFLICT(status, doc_type) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER doc_counts_delete AFTER DELETE ON documents BEGIN
    UPDATE doc_counts SET n = n - 1 WHERE status = OLD.status AND doc_type = OLD.doc_type;
END;
CREATE TRIGGER doc_counts_update AFTER UPDATE OF status, doc_type ON documents
WHEN OLD.status != NEW.status OR OLD.doc_type != NEW.doc_type BEGIN
    UPDATE doc_counts SET n = n - 1 WHERE status = OLD.status AND doc_type = OLD.doc_type;
    INSERT INTO doc_counts (status, doc_type, n) VALUES (NEW.status, NEW.doc_type, 1)
    ON CONFLICT(status, doc_type) DO UPDATE SET n = n + 1;
END;

CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"#,
    ),
    // 1 -> 2: the full-text search index and the triggers that maintain it.
    Step::Sql(crate::search::schema::MIGRATION),
    // 2 -> 3: a larger FTS5 term buffer.
    Step::Sql(crate::search::schema::MIGRATION_HASHSIZE),
    // 3 -> 4: metadata changes reach the search index through the documents row.
    Step::Sql(crate::search::schema::MIGRATION_METADATA_VIA_DOCUMENTS),
    // 4 -> 5: new documents wait for the index by their id, with no row.
    Step::Sql(crate::search::schema::MIGRATION_ADOPT_NEW_DOCUMENTS),
    // 5 -> 6: whether the audit trail's times run in id order.
    Step::Sql(crate::audit::MIGRATION_TIME_ORDER),
    // 6 -> 7: index entries are taken out at the flush, not at each write.
    Step::Sql(crate::search::schema::MIGRATION_DEFER_REMOVALS),
    // 7 -> 8: a create counts its documents itself.
    Step::Sql(MIGRATION_COUNTS_ON_CREATE),
    // 8 -> 9: no index on the audit trail's times while they run in id order.
    Step::Code(crate::audit::fit_time_index_to_order),
];

/// Schema 8: a create adds its new documents to `doc_counts` itself, one
/// statement per batch and kind (`documents::count_created`), instead of a
/// trigger per row. The trigger made every `documents` insert a write of
/// several rows, which SQLite guards with a statement journal: a copy of
/// each page the insert touches, in case it must undo it alone. Imports ran
/// 1.05-1.17x faster without it (three alternating runs of
/// `examples/imports 50000`). Updates and deletes keep their triggers.
const MIGRATION_COUNTS_ON_CREATE: &str = "DROP TRIGGER IF EXISTS doc_counts_insert;";

/// The schema version this build writes and reads.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Reads the schema version of an open database.
pub fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the database up to [`LATEST`], or refuses a newer one.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let found = version(conn)?;
    if found > LATEST {
        return Err(Error::SchemaTooNew {
            found,
            supported: LATEST,
        });
    }
    if found < 0 {
        return Err(Error::Corrupt(format!("negative schema version {found}")));
    }
    if found == 0 {
        // A non-empty file at version 0 is someone else's database.
        let tables: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
            [],
            |r| r.get(0),
        )?;
        if tables > 0 {
            return Err(Error::Corrupt(
                "file is an SQLite database but not a docvault store".into(),
            ));
        }
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        match step {
            Step::Sql(sql) => tx.execute_batch(sql)?,
            Step::Code(f) => f(&tx)?,
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
