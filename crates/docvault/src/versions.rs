//! Version history: list, read, diff and restore.

use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

use crate::audit::{self, NewEntry};
use crate::documents::{self, push_version, sha256_hex, summary, write_row, VersionRow};
use crate::error::{Error, Result};
use crate::model::{DocRef, Document, Status, Timestamp, Version, VersionInfo};
use crate::store::Store;

const INFO_COLS: &str =
    "v.document_id, v.version, v.content_hash, v.size_bytes, v.author, v.comment, v.major, v.restored_from, v.created_at";

fn info_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VersionInfo> {
    Ok(VersionInfo {
        document_id: r.get(0)?,
        version: r.get(1)?,
        content_hash: r.get(2)?,
        size_bytes: r.get(3)?,
        author: r.get(4)?,
        comment: r.get(5)?,
        major: r.get(6)?,
        restored_from: r.get(7)?,
        created_at: Timestamp(r.get(8)?),
    })
}

/// The id of a document, soft-deleted or not, or NotFound.
fn resolve(conn: &Connection, r: DocRef) -> Result<i64> {
    let id: Option<i64> = match r {
        DocRef::Id(i) => conn
            .prepare_cached("SELECT id FROM documents WHERE id = ?1")?
            .query_row([i], |r| r.get(0))
            .optional()?,
        DocRef::Uuid(u) => conn
            .prepare_cached("SELECT id FROM documents WHERE uuid = ?1")?
            .query_row([u.to_string()], |r| r.get(0))
            .optional()?,
    };
    id.ok_or_else(|| Error::not_found("document", r))
}

/// One version with its content; the current version's content is the
/// document's own.
pub(crate) fn load_version(conn: &Connection, id: i64, n: i64) -> Result<Version> {
    let sql = format!(
        "SELECT {INFO_COLS}, coalesce(v.content, d.content)
         FROM versions v JOIN documents d ON d.id = v.document_id
         WHERE v.document_id = ?1 AND v.version = ?2"
    );
    conn.prepare_cached(&sql)?
        .query_row(params![id, n], |r| {
            Ok(Version {
                info: info_from_row(r)?,
                content: r.get(9)?,
            })
        })
        .optional()?
        .ok_or_else(|| Error::not_found("version", format!("{n} of document {id}")))
}

impl Store {
    /// The id of a document, soft-deleted or not, without counting a read.
    pub fn resolve(&self, r: impl Into<DocRef>) -> Result<i64> {
        let conn = self.reader()?;
        resolve(&conn, r.into())
    }

    /// The versions of a document (soft-deleted ones too), newest first,
    /// without content.
    pub fn versions(&self, r: impl Into<DocRef>) -> Result<Vec<VersionInfo>> {
        let conn = self.reader()?;
        let id = resolve(&conn, r.into())?;
        let sql = format!(
            "SELECT {INFO_COLS} FROM versions v WHERE v.document_id = ?1 ORDER BY v.version DESC"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([id], info_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// One version with its exact content.
    pub fn version(&self, r: impl Into<DocRef>, version: i64) -> Result<Version> {
        let conn = self.reader()?;
        let id = resolve(&conn, r.into())?;
        load_version(&conn, id, version)
    }

    /// A unified diff from version `from` to version `to`.
    pub fn diff(&self, r: impl Into<DocRef>, from: i64, to: i64) -> Result<String> {
        let conn = self.reader()?;
        let id = resolve(&conn, r.into())?;
        let a = load_version(&conn, id, from)?;
        let b = load_version(&conn, id, to)?;
        Ok(similar::TextDiff::from_lines(&a.content, &b.content)
            .unified_diff()
            .context_radius(3)
            .header(&format!("v{from}"), &format!("v{to}"))
            .to_string())
    }

    /// Makes the content of `version` current again, as a new version
    /// ("restored from vN"). Everything derived from content follows.
    pub fn restore(
        &self,
        r: impl Into<DocRef>,
        version: i64,
        author: Option<&str>,
    ) -> Result<Document> {
        let r = r.into();
        let started = Instant::now();
        let author = author.map(str::to_owned);
        let seq = self.flush_seq();
        let out = self.write(move |tx| {
            let author = author.as_deref();
            let (old, persisted) = match documents::load(tx, r, true)? {
                Some(row) if row.0.status != Status::Deleted => row,
                _ => return Err(Error::not_found("document", r)),
            };
            let v = load_version(tx, old.id, version)?;
            let now = Timestamp::now();
            let mut new = old.clone();
            new.content_hash = sha256_hex(&v.content);
            new.size_bytes = v.content.len() as i64;
            new.content = Some(v.content);
            new.version = old.version + 1;
            new.version_count = new.version;
            new.updated_at = now;
            let comment = format!("restored from v{version}");
            push_version(
                tx,
                old.id,
                old.content.as_deref(),
                &VersionRow {
                    version: new.version,
                    hash: &new.content_hash,
                    size: new.size_bytes,
                    author,
                    comment: Some(&comment),
                    major: false,
                    restored_from: Some(version),
                    at: now.0,
                },
            )?;
            write_row(tx, &new)?;
            let mut new_s = summary(&new);
            new_s["restored_from"] = json!(version);
            audit::append(
                tx,
                &NewEntry {
                    operation: "restore",
                    document_id: Some(old.id),
                    actor: author,
                    old: Some(&summary(&old)),
                    new: Some(&new_s),
                    duration_us: started.elapsed().as_micros() as i64,
                },
            )?;
            Ok((new, persisted))
        });
        self.finish_write(out, seq, started, &self.inner.metrics.restore)
    }
}
