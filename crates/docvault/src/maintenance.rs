//! Statistics and maintenance: stats, optimize, check.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use crate::audit;
use crate::documents::sha256_hex;
use crate::error::Result;
use crate::schema;
use crate::store::Store;

/// Counts and sizes of a store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Documents of every status.
    pub documents: i64,
    /// Documents per status.
    pub by_status: BTreeMap<String, i64>,
    /// Documents per type (soft-deleted excluded).
    pub by_type: BTreeMap<String, i64>,
    /// Stored versions.
    pub versions: i64,
    /// Metadata entries.
    pub metadata_entries: i64,
    /// Audit entries.
    pub audit_entries: i64,
    /// Bytes of content of the current versions.
    pub content_bytes: i64,
    /// Size of the database file.
    pub db_bytes: u64,
    /// Size of the write-ahead log.
    pub wal_bytes: u64,
    /// Database plus WAL.
    pub total_bytes: u64,
    /// Operations served since the store was opened.
    pub operations: u64,
    /// Documents with access counts not yet written to disk.
    pub pending_access_updates: usize,
    /// Schema version of the file.
    pub schema_version: i64,
}

/// Result of [`Store::check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// True when no problem was found.
    pub ok: bool,
    /// Documents examined.
    pub documents_checked: i64,
    /// Every problem found, in words.
    pub problems: Vec<String>,
}

fn file_len(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

impl Store {
    /// Counts, sizes and operations served.
    pub fn stats(&self) -> Result<Stats> {
        let conn = self.reader()?;
        let mut by_status = BTreeMap::new();
        let mut by_type = BTreeMap::new();
        let mut documents = 0;
        {
            let mut stmt =
                conn.prepare_cached("SELECT status, doc_type, n FROM doc_counts WHERE n > 0")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let status: String = r.get(0)?;
                let ty: String = r.get(1)?;
                let n: i64 = r.get(2)?;
                documents += n;
                if status != "deleted" {
                    *by_type.entry(ty).or_insert(0) += n;
                }
                *by_status.entry(status).or_insert(0) += n;
            }
        }
        let count = |sql: &str| -> Result<i64> { Ok(conn.query_row(sql, [], |r| r.get(0))?) };
        let db_bytes = file_len(self.path());
        let mut wal = self.path().as_os_str().to_owned();
        wal.push("-wal");
        let wal_bytes = file_len(std::path::Path::new(&wal));
        Ok(Stats {
            documents,
            by_status,
            by_type,
            versions: count("SELECT count(*) FROM versions")?,
            metadata_entries: count("SELECT count(*) FROM metadata")?,
            audit_entries: count("SELECT count(*) FROM audit_log")?,
            content_bytes: count("SELECT coalesce(sum(size_bytes), 0) FROM documents")?,
            db_bytes,
            wal_bytes,
            total_bytes: db_bytes + wal_bytes,
            operations: self.inner.operations.load(Ordering::Relaxed),
            pending_access_updates: self.pending_access_updates(),
            schema_version: schema::version(&conn)?,
        })
    }

    fn pending_access_updates(&self) -> usize {
        self.shard_total(crate::cache::Shard::pending_len)
    }

    fn access_figures_in_memory(&self) -> usize {
        self.shard_total(crate::cache::Shard::known_len)
    }

    /// `count` summed over the cache's shards, each locked in turn.
    fn shard_total(&self, count: impl Fn(&crate::cache::Shard) -> usize) -> usize {
        let mut n = 0;
        self.inner.cache.for_each_shard(|s| n += count(s));
        n
    }

    /// Operation counts and latencies, cache, pool and writer figures.
    pub fn metrics(&self) -> crate::metrics::MetricsSnapshot {
        use std::sync::atomic::Ordering::Relaxed;
        let m = &self.inner.metrics;
        let cache = self.inner.cache.stats();
        let pool = self.inner.readers.counts();
        crate::metrics::MetricsSnapshot {
            get_hit: m.get_hit.snapshot(Some(cache.hits)),
            get_miss: m.get_miss.snapshot(None),
            get_many: m.get_many.snapshot(None),
            list: m.list.snapshot(None),
            search: m.search.snapshot(None),
            create: m.create.snapshot(None),
            create_many: m.create_many.snapshot(None),
            update: m.update.snapshot(None),
            delete: m.delete.snapshot(None),
            undelete: m.undelete.snapshot(None),
            hard_delete: m.hard_delete.snapshot(None),
            restore: m.restore.snapshot(None),
            cache,
            reader_pool_size: pool.capacity,
            open_readers: pool.open,
            busy_readers: pool.in_use(),
            idle_readers: pool.idle,
            reader_waits: self.inner.readers.waits.load(Relaxed),
            reader_overflows: self.inner.readers.overflows.load(Relaxed),
            commits: self.inner.writer_counters.commits.load(Relaxed),
            write_jobs: self.inner.writer_counters.jobs.load(Relaxed),
            write_group_reruns: self.inner.writer_counters.reruns.load(Relaxed),
            checkpoints_background: self.inner.checkpoint_counters.background.load(Relaxed),
            checkpoints_inline: self.inner.checkpoint_counters.inline.load(Relaxed),
            pending_access_updates: self.pending_access_updates(),
            access_figures_in_memory: self.access_figures_in_memory(),
        }
    }

    /// Drops every cached document (the next reads go to the database).
    pub fn clear_cache(&self) {
        self.inner.cache.clear();
    }

    /// Refreshes the query planner's statistics (ANALYZE, PRAGMA optimize)
    /// and folds the WAL into the database file.
    pub fn optimize(&self) -> Result<()> {
        self.flush()?;
        self.write(|tx| {
            tx.execute_batch("ANALYZE; PRAGMA optimize;")?;
            Ok(())
        })?;
        // Readers are query_only; a checkpoint that truncates the WAL needs
        // a connection of its own.
        let conn = self.open_connection()?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// SQLite's integrity and foreign-key checks plus docvault's own
    /// invariants: content hashes and sizes, gapless versions whose newest
    /// is current, valid enum values, an intact audit chain, and a search
    /// index that matches the documents.
    pub fn check(&self) -> Result<CheckReport> {
        // Documents waiting to be indexed are not a problem: index them.
        self.inner.index_pending()?;
        let conn = self.reader()?;
        // First: it also refreshes the connection's cached FTS5 structure,
        // which PRAGMA integrity_check would otherwise read stale.
        let mut problems = crate::search::check_index(self, &conn)?;
        {
            let mut stmt = conn.prepare("PRAGMA integrity_check")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            for r in rows {
                let r = r?;
                if r != "ok" {
                    problems.push(format!("sqlite integrity: {r}"));
                }
            }
        }
        {
            let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
            let rows = stmt.query_map([], |r| {
                Ok(format!(
                    "orphan row {} in {}",
                    r.get::<_, Option<i64>>(1)?.unwrap_or_default(),
                    r.get::<_, String>(0)?
                ))
            })?;
            for r in rows {
                problems.push(r?);
            }
        }
        let mut checked = 0;
        {
            let mut stmt = conn.prepare(
                "SELECT d.id, d.content, d.content_hash, d.size_bytes, d.version, d.doc_type, d.status,
                        (SELECT count(*) FROM versions v WHERE v.document_id = d.id),
                        (SELECT max(version) FROM versions v WHERE v.document_id = d.id),
                        (SELECT count(*) FROM versions v WHERE v.document_id = d.id AND v.content IS NULL),
                        (SELECT content_hash FROM versions v WHERE v.document_id = d.id AND v.version = d.version)
                 FROM documents d",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                checked += 1;
                let id: i64 = r.get(0)?;
                let content: String = r.get(1)?;
                let hash: String = r.get(2)?;
                let size: i64 = r.get(3)?;
                let version: i64 = r.get(4)?;
                let ty: String = r.get(5)?;
                let status: String = r.get(6)?;
                let n: i64 = r.get(7)?;
                let max: Option<i64> = r.get(8)?;
                let nulls: i64 = r.get(9)?;
                let vhash: Option<String> = r.get(10)?;
                if sha256_hex(&content) != hash {
                    problems.push(format!("document {id}: content does not match its hash"));
                }
                if content.len() as i64 != size {
                    problems.push(format!(
                        "document {id}: size_bytes {size} but content is {} bytes",
                        content.len()
                    ));
                }
                if n != version || max != Some(version) {
                    problems.push(format!(
                        "document {id}: version {version} but {n} versions stored (newest {max:?})"
                    ));
                }
                if nulls != 1 || vhash.as_deref() != Some(hash.as_str()) {
                    problems.push(format!(
                        "document {id}: current version record does not match the document"
                    ));
                }
                if ty.parse::<crate::DocType>().is_err() {
                    problems.push(format!("document {id}: unknown type {ty:?}"));
                }
                if status.parse::<crate::Status>().is_err() {
                    problems.push(format!("document {id}: unknown status {status:?}"));
                }
            }
        }
        {
            let mut stmt = conn.prepare(
                "SELECT document_id, version, content, content_hash FROM versions WHERE content IS NOT NULL",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let content: String = r.get(2)?;
                let hash: String = r.get(3)?;
                if sha256_hex(&content) != hash {
                    problems.push(format!(
                        "document {}: version {} does not match its hash",
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?
                    ));
                }
            }
        }
        {
            // Each stored value must have the storage class its type implies.
            let mut stmt = conn.prepare(
                "SELECT document_id, key, value_type, typeof(value) FROM metadata
                 WHERE NOT (
                    (value_type = 'null' AND typeof(value) = 'null')
                    OR (value_type IN ('integer', 'boolean') AND typeof(value) = 'integer')
                    OR (value_type = 'float' AND typeof(value) IN ('real', 'integer'))
                    OR (value_type IN ('string', 'json') AND typeof(value) = 'text'))",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                problems.push(format!(
                    "document {}: metadata {:?} of type {} is stored as {}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?
                ));
            }
        }
        {
            // The JSON copy in each row must match the indexed entries.
            let mut stmt = conn.prepare("SELECT id, metadata FROM documents")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                let stored = crate::metadata::from_json_column(r, 1);
                let indexed = crate::metadata::load(&conn, id);
                match (stored, indexed) {
                    (Ok(a), Ok(b)) if a == b => {}
                    _ => problems.push(format!(
                        "document {id}: metadata column does not match the metadata table"
                    )),
                }
            }
        }
        {
            let mut stmt = conn.prepare(
                "SELECT status, doc_type, n, (SELECT count(*) FROM documents d
                     WHERE d.status = c.status AND d.doc_type = c.doc_type)
                 FROM doc_counts c",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let (n, actual): (i64, i64) = (r.get(2)?, r.get(3)?);
                if n != actual {
                    problems.push(format!(
                        "document count for status {} type {} is {n} but {actual} documents exist",
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?
                    ));
                }
            }
        }
        let v = audit::verify(&conn)?;
        if let Some(reason) = v.reason {
            problems.push(format!("audit: {reason}"));
        }
        Ok(CheckReport {
            ok: problems.is_empty(),
            documents_checked: checked,
            problems,
        })
    }

    /// Audit entries matching `q`, newest first.
    pub fn audit(&self, q: &audit::AuditQuery) -> Result<Vec<audit::AuditEntry>> {
        let conn = self.reader()?;
        audit::query(&conn, q)
    }

    /// Walks the audit chain and reports the first entry altered or removed.
    pub fn verify_audit(&self) -> Result<audit::AuditVerification> {
        let conn = self.reader()?;
        audit::verify(&conn)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Store};

    /// The pool's figures in [`Store::metrics`]: its size from the config, a
    /// borrowed reader open and busy, then open and idle once returned.
    #[test]
    fn metrics_show_the_reader_pool() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            readers: 3,
            ..Config::default()
        };
        let s = Store::open(dir.path().join("m.db"), config).unwrap();
        let pool = |s: &Store| {
            let m = s.metrics();
            (
                m.reader_pool_size,
                m.open_readers,
                m.busy_readers,
                m.idle_readers,
            )
        };
        // Opening may or may not have used a reader; none is busy after it.
        let (size, open, busy, idle) = pool(&s);
        assert_eq!((size, busy, idle), (3, 0, open));
        let conn = s.reader().unwrap();
        let open = open.max(1);
        assert_eq!(pool(&s), (3, open, 1, open - 1), "while borrowed");
        drop(conn);
        assert_eq!(pool(&s), (3, open, 0, open), "once returned");
        s.close().unwrap();
    }
}
