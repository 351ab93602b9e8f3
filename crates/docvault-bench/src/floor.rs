//! The floor under the write targets: what bare SQLite manages for the
//! least work a create must do.
//!
//! A create stores the document, its first version and an audit entry, and
//! indexes the document for search (the issue's "version, index and audit
//! included"). [`Floor`] does exactly that and nothing more, with no
//! docvault code: one table per concern with only the index a lookup by
//! uuid needs, a contentless FTS5 index (the text is not stored twice) fed
//! in batches of 256 as the store's pending batches are, with the store's
//! 8 MiB term buffer, in a file of its own. No hash chain, no metadata
//! table, no list or audit indexes, no writer thread. Like the store, it
//! copies the WAL back into the file on a thread of its own, so the
//! thread that writes never checkpoints.
//! Its rate bounds what any design on SQLite and FTS5 reaches on this
//! machine, so the bench reports the store's write rates against it.

use std::path::Path;

use docvault::NewDocument;
use rusqlite::{params, Connection};

/// Documents indexed per FTS5 insert batch, as the store's pending flush.
const FTS_BATCH: usize = 256;

/// Per connection: what the store's writer sets (its 4 MiB page cache
/// included), and no automatic checkpoint (see [`Checkpointer`]).
const PRAGMAS: &str = "
PRAGMA synchronous = NORMAL;
PRAGMA cache_size = -4096;
PRAGMA wal_autocheckpoint = 0;
";

/// Copies the WAL back every few milliseconds from a connection of its
/// own. A PASSIVE checkpoint never waits for the writer; once it has
/// copied everything, the writer's next transaction starts the WAL over,
/// which with one writer and this cadence keeps the WAL small.
struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer, String> {
        let conn = Connection::open(path).map_err(|e| e.to_string())?;
        conn.execute_batch(PRAGMAS).map_err(|e| e.to_string())?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
CREATE TABLE documents (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    metadata TEXT NOT NULL
);
CREATE TABLE versions (
    document_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (document_id, version)
) WITHOUT ROWID;
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    operation TEXT NOT NULL,
    document_id INTEGER,
    summary TEXT NOT NULL
);
CREATE VIRTUAL TABLE search USING fts5(
    title, content, content = '', tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO search (search, rank) VALUES ('hashsize', 8388608);
";

/// What [`Floor::create_with_store_indexes`] adds to [`SCHEMA`]: the
/// b-trees the store writes for its features beyond the least a create
/// must do (list indexes, metadata rows and their filter index, audit
/// indexes, per-kind counts, the audit head), as the store declares them.
/// Still no docvault code, no hand-off, no hash chain, no validation.
/// It does less than a create of the store (on purpose, so that its rate
/// bounds the store's from above): no AUTOINCREMENT counters, no foreign
/// key checks, narrower rows (no hash, size, format or score columns, no
/// audit hashes), no `search_text` row, no metadata text in the search
/// index. A target it misses is out of reach of this feature set on
/// SQLite here, whatever the code around it.
const STORE_INDEXES: &str = "
ALTER TABLE documents ADD COLUMN doc_type TEXT NOT NULL DEFAULT 'other';
ALTER TABLE documents ADD COLUMN status TEXT NOT NULL DEFAULT 'draft';
ALTER TABLE documents ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE documents ADD COLUMN source_path TEXT;
CREATE INDEX documents_status_updated ON documents(status, updated_at);
CREATE INDEX documents_type_updated ON documents(doc_type, updated_at, status);
CREATE INDEX documents_created ON documents(created_at);
CREATE INDEX documents_updated ON documents(updated_at);
CREATE INDEX documents_title ON documents(title);
CREATE INDEX documents_source_path ON documents(source_path) WHERE source_path IS NOT NULL;
CREATE TABLE metadata (
    document_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value_type TEXT NOT NULL,
    value BLOB,
    PRIMARY KEY (document_id, key)
) WITHOUT ROWID;
CREATE INDEX metadata_key_value ON metadata(key, value);
CREATE INDEX audit_document ON audit_log(document_id, id);
CREATE INDEX audit_operation ON audit_log(operation, id);
CREATE TABLE doc_counts (
    status TEXT NOT NULL, doc_type TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (status, doc_type)
) WITHOUT ROWID;
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
INSERT INTO store_meta VALUES ('audit_head', '');
";

/// A bare SQLite file doing the least work of a create.
pub struct Floor {
    conn: Connection,
    _checkpointer: Checkpointer,
    /// Documents stored but not indexed yet: (id, title, content).
    pending: Vec<(i64, String, String)>,
    clock: i64,
    /// Made by [`Floor::create_with_store_indexes`]: every create also
    /// writes what [`STORE_INDEXES`] adds.
    store_indexes: bool,
}

impl Floor {
    /// Creates the file at `path` (which must not exist).
    pub fn create(path: &Path) -> Result<Floor, String> {
        Connection::open(path)
            .and_then(|c| c.execute_batch(SCHEMA))
            .map_err(|e| e.to_string())?;
        Floor::open(path)
    }

    /// Creates the file at `path` (which must not exist) with the store's
    /// other b-trees too ([`STORE_INDEXES`]).
    pub fn create_with_store_indexes(path: &Path) -> Result<Floor, String> {
        Connection::open(path)
            .and_then(|c| c.execute_batch(&format!("{SCHEMA}{STORE_INDEXES}")))
            .map_err(|e| e.to_string())?;
        Floor::open(path)
    }

    /// Opens a file made by [`Floor::create`] or
    /// [`Floor::create_with_store_indexes`].
    pub fn open(path: &Path) -> Result<Floor, String> {
        let conn = Connection::open(path).map_err(|e| e.to_string())?;
        conn.execute_batch(PRAGMAS).map_err(|e| e.to_string())?;
        let store_indexes = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'metadata'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| e.to_string())?
            > 0;
        // Times go on from the last document's, as the store's clock
        // does: a reopened file that started again from 0 would insert
        // into the middle of every index on a time.
        let clock = conn
            .query_row(
                "SELECT coalesce(max(created_at), 0) FROM documents",
                [],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        Ok(Floor {
            conn,
            _checkpointer: Checkpointer::start(path)?,
            pending: Vec::with_capacity(FTS_BATCH),
            clock,
            store_indexes,
        })
    }

    /// One document in a transaction of its own.
    pub fn create_one(&mut self, d: NewDocument) -> Result<(), String> {
        self.transaction(std::iter::once(d), FTS_BATCH)
    }

    /// Many documents in one transaction, all indexed before it commits.
    pub fn import(&mut self, docs: Vec<NewDocument>) -> Result<(), String> {
        self.transaction(docs, 1)
    }

    /// Stores `docs` in one transaction and indexes the pending documents
    /// in it if at least `index_from` are pending.
    fn transaction(
        &mut self,
        docs: impl IntoIterator<Item = NewDocument>,
        index_from: usize,
    ) -> Result<(), String> {
        let e = |e: rusqlite::Error| e.to_string();
        let c = &self.conn;
        c.prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .map_err(e)?;
        for d in docs {
            self.clock += 1;
            let (uuid, metadata) = (
                uuid::Uuid::now_v7().to_string(),
                serde_json::to_string(&d.metadata).map_err(|e| e.to_string())?,
            );
            if self.store_indexes {
                // The list columns in the same row, as the store writes it.
                c.prepare_cached(
                    "INSERT INTO documents (uuid, title, content, created_at, metadata,
                         doc_type, status, updated_at, source_path)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?4, ?8)",
                )
                .map_err(e)?
                .execute(params![
                    uuid,
                    d.title,
                    d.content,
                    self.clock,
                    metadata,
                    d.doc_type.unwrap_or(docvault::DocType::Other).as_str(),
                    d.status.unwrap_or(docvault::Status::Draft).as_str(),
                    d.source_path,
                ])
                .map_err(e)?;
            } else {
                c.prepare_cached(
                    "INSERT INTO documents (uuid, title, content, created_at, metadata)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(e)?
                .execute(params![uuid, d.title, d.content, self.clock, metadata])
                .map_err(e)?;
            }
            let id = c.last_insert_rowid();
            c.prepare_cached("INSERT INTO versions VALUES (?1, 1, ?2)")
                .map_err(e)?
                .execute(params![id, self.clock])
                .map_err(e)?;
            c.prepare_cached(
                "INSERT INTO audit_log (ts, operation, document_id, summary)
                 VALUES (?1, 'create', ?2, ?3)",
            )
            .map_err(e)?
            .execute(params![
                self.clock,
                id,
                serde_json::json!({"title": d.title, "version": 1}).to_string()
            ])
            .map_err(e)?;
            if self.store_indexes {
                store_writes(c, id, &d).map_err(e)?;
            }
            self.pending.push((id, d.title, d.content));
        }
        if self.pending.len() >= index_from {
            let mut st = c
                .prepare_cached("INSERT INTO search (rowid, title, content) VALUES (?1, ?2, ?3)")
                .map_err(e)?;
            for (id, title, content) in self.pending.drain(..) {
                st.execute(params![id, title, content]).map_err(e)?;
            }
        }
        c.prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
            .map_err(e)?;
        Ok(())
    }
}

/// The rows a create of the store writes besides the floor's (the list
/// columns went into the document row): one metadata row per entry, the
/// per-kind count, the audit head.
fn store_writes(c: &Connection, id: i64, d: &NewDocument) -> rusqlite::Result<()> {
    let status = d.status.unwrap_or(docvault::Status::Draft).as_str();
    let doc_type = d.doc_type.unwrap_or(docvault::DocType::Other).as_str();
    for (k, v) in &d.metadata {
        let value: rusqlite::types::Value = match v {
            docvault::MetaValue::Null => rusqlite::types::Value::Null,
            docvault::MetaValue::Bool(b) => i64::from(*b).into(),
            docvault::MetaValue::Integer(i) => (*i).into(),
            docvault::MetaValue::Float(f) => (*f).into(),
            docvault::MetaValue::String(t) => t.clone().into(),
            docvault::MetaValue::Json(j) => j.to_string().into(),
        };
        c.prepare_cached("INSERT INTO metadata VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![id, k, v.type_name(), value])?;
    }
    c.prepare_cached(
        "INSERT INTO doc_counts VALUES (?1, ?2, 1)
         ON CONFLICT (status, doc_type) DO UPDATE SET n = n + 1",
    )?
    .execute(params![status, doc_type])?;
    c.prepare_cached("UPDATE store_meta SET value = ?1 WHERE key = 'audit_head'")?
        .execute(params![format!("{id:064x}")])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Corpus;

    /// The floor with the store's b-trees writes what a create of the
    /// store writes besides: metadata rows, counts, the audit head, the
    /// list columns; and stays searchable like the floor.
    #[test]
    fn the_floor_with_store_indexes_writes_the_stores_other_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("indexed.db");
        let mut f = Floor::create_with_store_indexes(&path).unwrap();
        let c = Corpus::new();
        let metadata: usize = (0..10).map(|i| c.document(i).metadata.len()).sum();
        for i in 0..4 {
            f.create_one(c.document(i)).unwrap();
        }
        f.import((4..10).map(|i| c.document(i)).collect()).unwrap();
        drop(f);
        let f = Floor::open(&path).unwrap();
        assert!(f.store_indexes, "reopened as the indexed variant");
        assert_eq!(f.clock, 10, "times go on after a reopen");
        let count = |sql: &str| -> i64 { f.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM metadata") as usize, metadata);
        assert_eq!(count("SELECT sum(n) FROM doc_counts"), 10);
        assert_eq!(
            count("SELECT count(*) FROM documents WHERE updated_at = created_at"),
            10
        );
        assert_eq!(
            count("SELECT count(*) FROM store_meta WHERE key = 'audit_head' AND value != ''"),
            1
        );
        assert_eq!(count("SELECT count(*) FROM audit_log"), 10);
        // The plain floor has none of it.
        let plain = Floor::create(&dir.path().join("plain.db")).unwrap();
        assert!(!plain.store_indexes);
    }

    #[test]
    fn the_floor_stores_versions_audits_and_indexes_every_document() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Floor::create(&dir.path().join("floor.db")).unwrap();
        let c = Corpus::new();
        for i in 0..300 {
            f.create_one(c.document(i)).unwrap();
        }
        f.import((300..1300).map(|i| c.document(i)).collect())
            .unwrap();
        let count = |sql: &str| -> i64 { f.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM documents"), 1300);
        assert_eq!(count("SELECT count(*) FROM versions"), 1300);
        assert_eq!(count("SELECT count(*) FROM audit_log"), 1300);
        // Every document is indexed, the import's pending ones included:
        // each title's number finds exactly its own document.
        for i in [0i64, 299, 300, 1299] {
            let found: Vec<i64> = f
                .conn
                .prepare(&format!(
                    "SELECT rowid FROM search WHERE search MATCH 'title : {i}'"
                ))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(found, vec![i + 1], "title number {i}");
        }
    }
}
