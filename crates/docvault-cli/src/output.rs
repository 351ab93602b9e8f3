//! What a command produces and how it is printed: one JSON value with
//! `--json`, readable text otherwise.

use std::fmt::Write as _;
use std::io::{self, Write};

use docvault::{
    AuditEntry, AuditVerification, CheckReport, Document, Error, MetaValue, Metadata,
    MetricsSnapshot, Page, Stats, Timestamp, Version, VersionInfo,
};
use serde::Serialize;
use serde_json::{json, Value};

/// The result of a command that ran.
pub struct Outcome {
    /// Printed with `--json`.
    pub json: Value,
    /// Printed otherwise.
    pub text: String,
    /// The command ran but found something wrong (a failed check): printed on
    /// stderr, and the exit status is 1.
    pub failure: Option<String>,
}

impl Outcome {
    pub fn new(json: Value, text: impl Into<String>) -> Self {
        Outcome {
            json,
            text: text.into(),
            failure: None,
        }
    }

    pub fn failing_if(mut self, failed: bool, message: impl Into<String>) -> Self {
        if failed {
            self.failure = Some(message.into());
        }
        self
    }
}

/// A path as commands report it: absolute, so scripts can use it from any
/// directory.
pub fn shown_path(p: &std::path::Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// Serializes output. The library's types always serialize; should one ever
/// not, the user gets an error instead of a panic.
pub fn to_json<T: Serialize>(v: &T) -> Result<Value, Error> {
    serde_json::to_value(v)
        .map_err(|e| Error::Io(io::Error::other(format!("cannot serialize output: {e}"))))
}

/// Writes to stdout. A closed pipe (`docvault list | head`) is not an error
/// worth a panic or a message: the reader has what it wanted.
pub fn print_stdout(s: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(s.as_bytes()).and_then(|_| out.flush());
}

pub fn print_stderr(s: &str) {
    let _ = io::stderr().lock().write_all(s.as_bytes());
}

/// Prints a command's result and returns the exit status.
pub fn emit(result: Result<Outcome, Error>, json_mode: bool) -> i32 {
    match result {
        Ok(o) => {
            if json_mode {
                print_stdout(&format!("{}\n", o.json));
            } else {
                let mut text = o.text;
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                print_stdout(&text);
            }
            match o.failure {
                Some(msg) => {
                    print_stderr(&format!("error: {msg}\n"));
                    1
                }
                None => 0,
            }
        }
        Err(e) => {
            emit_error(e.kind(), &e.to_string(), json_mode);
            1
        }
    }
}

pub fn emit_error(kind: &str, message: &str, json_mode: bool) {
    if json_mode {
        let v = json!({"error": {"kind": kind, "message": message}});
        print_stdout(&format!("{v}\n"));
    }
    print_stderr(&format!("error: {message}\n"));
}

/// A metadata value as one line: strings bare, everything else as JSON, so
/// `42` (integer) and `"42"` (string) read differently.
fn meta_display(v: &MetaValue) -> String {
    match v {
        MetaValue::String(s) if !s.contains(['\n', '\r']) && !s.is_empty() => s.clone(),
        other => other.to_json().to_string(),
    }
}

fn opt_ts(t: Option<Timestamp>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into())
}

fn opt_score(s: Option<f64>) -> String {
    s.map(|s| s.to_string()).unwrap_or_else(|| "-".into())
}

fn metadata_lines(out: &mut String, m: &Metadata) {
    if m.is_empty() {
        out.push_str("metadata:     (none)\n");
        return;
    }
    out.push_str("metadata:\n");
    let width = m.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    for (k, v) in m {
        let _ = writeln!(
            out,
            "  {k:<width$} = {} ({})",
            meta_display(v),
            v.type_name()
        );
    }
}

/// A header block of key fields, the metadata, then the content.
pub fn document_text(d: &Document) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "{:<13} {value}", format!("{name}:"));
    };
    field("id", &d.id.to_string());
    field("uuid", &d.uuid.to_string());
    field("title", &d.title);
    field("type", d.doc_type.as_str());
    field("status", d.status.as_str());
    field("format", &d.format);
    field("language", &d.language);
    field(
        "version",
        &format!("{} ({} stored)", d.version, d.version_count),
    );
    field("size", &format!("{} bytes", d.size_bytes));
    field("content hash", &d.content_hash);
    field("created", &d.created_at.to_rfc3339());
    field("updated", &d.updated_at.to_rfc3339());
    field(
        "accessed",
        &format!("{} ({} reads)", opt_ts(d.last_accessed), d.access_count),
    );
    field("source path", d.source_path.as_deref().unwrap_or("-"));
    field("file path", d.file_path.as_deref().unwrap_or("-"));
    field("quality", &opt_score(d.quality_score));
    field("completeness", &opt_score(d.completeness_score));
    metadata_lines(&mut out, &d.metadata);
    if let Some(c) = &d.content {
        out.push_str("---\n");
        out.push_str(c);
        if !c.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

pub fn version_info_text(v: &VersionInfo) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "document:     {}", v.document_id);
    let _ = writeln!(
        out,
        "version:      {}{}",
        v.version,
        if v.major { " (major)" } else { "" }
    );
    let _ = writeln!(out, "created:      {}", v.created_at);
    let _ = writeln!(out, "author:       {}", v.author.as_deref().unwrap_or("-"));
    let _ = writeln!(out, "comment:      {}", v.comment.as_deref().unwrap_or("-"));
    if let Some(r) = v.restored_from {
        let _ = writeln!(out, "restored from: v{r}");
    }
    let _ = writeln!(out, "size:         {} bytes", v.size_bytes);
    let _ = writeln!(out, "content hash: {}", v.content_hash);
    out
}

pub fn version_text(v: &Version) -> String {
    let mut out = version_info_text(&v.info);
    out.push_str("---\n");
    out.push_str(&v.content);
    out
}

/// Left-aligned columns; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            if i + 1 < n {
                let pad = widths[i].saturating_sub(c.chars().count());
                s.push_str(c);
                s.push_str(&" ".repeat(pad + 2));
            } else {
                s.push_str(c);
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

/// Timestamps in tables are cut to the second: enough to read, and narrower.
fn short_ts(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    match s.find('.') {
        Some(i) => format!("{}Z", &s[..i]),
        None => s,
    }
}

pub fn page_text(p: &Page) -> String {
    if p.documents.is_empty() {
        return format!("no documents (total {})\n", p.total);
    }
    let rows: Vec<Vec<String>> = p
        .documents
        .iter()
        .map(|d| {
            vec![
                d.id.to_string(),
                d.doc_type.to_string(),
                d.status.to_string(),
                d.version.to_string(),
                short_ts(d.updated_at),
                d.title.clone(),
            ]
        })
        .collect();
    let mut out = table(
        &["ID", "TYPE", "STATUS", "VERSION", "UPDATED", "TITLE"],
        &rows,
    );
    let _ = writeln!(
        out,
        "{} of {} documents (page {} of {})",
        p.documents.len(),
        p.total,
        p.page,
        p.pages
    );
    out
}

pub fn history_text(versions: &[VersionInfo]) -> String {
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            let mut comment = v.comment.clone().unwrap_or_default();
            if comment.is_empty() {
                comment = "-".into();
            }
            vec![
                v.version.to_string(),
                short_ts(v.created_at),
                v.size_bytes.to_string(),
                v.author.clone().unwrap_or_else(|| "-".into()),
                if v.major { "yes" } else { "" }.into(),
                comment,
            ]
        })
        .collect();
    table(
        &["VERSION", "CREATED", "BYTES", "AUTHOR", "MAJOR", "COMMENT"],
        &rows,
    )
}

pub fn audit_text(entries: &[AuditEntry]) -> String {
    if entries.is_empty() {
        return "no audit entries\n".into();
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let title = e
                .new
                .as_ref()
                .or(e.old.as_ref())
                .and_then(|v| v.get("title"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            vec![
                e.id.to_string(),
                short_ts(e.timestamp),
                e.operation.clone(),
                e.document_id
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                e.actor.clone().unwrap_or_else(|| "-".into()),
                title,
            ]
        })
        .collect();
    table(&["ID", "TIME", "OPERATION", "DOC", "ACTOR", "TITLE"], &rows)
}

pub fn verification_text(v: &AuditVerification) -> String {
    if v.ok {
        format!(
            "audit chain intact ({} entries checked)\n",
            v.entries_checked
        )
    } else {
        format!(
            "audit chain BROKEN at entry {}: {} ({} entries checked)\n",
            v.first_bad_id
                .map(|i| i.to_string())
                .unwrap_or_else(|| "?".into()),
            v.reason.as_deref().unwrap_or("unknown reason"),
            v.entries_checked
        )
    }
}

pub fn stats_text(s: &Stats) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "documents:        {}", s.documents);
    for (k, v) in &s.by_status {
        let _ = writeln!(out, "  {:<15} {v}", format!("{k}:"));
    }
    if !s.by_type.is_empty() {
        out.push_str("by type (live):\n");
        for (k, v) in &s.by_type {
            let _ = writeln!(out, "  {:<15} {v}", format!("{k}:"));
        }
    }
    let _ = writeln!(out, "versions:         {}", s.versions);
    let _ = writeln!(out, "metadata entries: {}", s.metadata_entries);
    let _ = writeln!(out, "audit entries:    {}", s.audit_entries);
    let _ = writeln!(out, "content bytes:    {}", s.content_bytes);
    let _ = writeln!(
        out,
        "file size:        {} bytes ({} database + {} WAL)",
        s.total_bytes, s.db_bytes, s.wal_bytes
    );
    let _ = writeln!(out, "schema version:   {}", s.schema_version);
    out
}

/// A latency in µs, or `-` when nothing was measured.
fn micros(samples: u64, us: f64) -> String {
    if samples == 0 {
        "-".into()
    } else {
        format!("{us:.1}")
    }
}

/// The metrics section of `stats`: a table of operations, then the cache,
/// reader pool and writer figures. `operations` is [`Stats::operations`].
pub fn metrics_text(m: &MetricsSnapshot, operations: u64) -> String {
    let mut out = String::from("metrics (this process, since the store was opened):\n");
    let _ = writeln!(out, "operations:       {operations}");
    let ops = [
        ("get (cache hit)", &m.get_hit),
        ("get (miss)", &m.get_miss),
        ("get many", &m.get_many),
        ("list", &m.list),
        ("search", &m.search),
        ("create", &m.create),
        ("create many", &m.create_many),
        ("update", &m.update),
        ("delete", &m.delete),
        ("undelete", &m.undelete),
        ("hard delete", &m.hard_delete),
        ("restore", &m.restore),
    ];
    let rows: Vec<Vec<String>> = ops
        .iter()
        .map(|(name, o)| {
            let l = &o.latency;
            vec![
                name.to_string(),
                o.count.to_string(),
                o.errors.to_string(),
                l.samples.to_string(),
                micros(l.samples, l.p50_us),
                micros(l.samples, l.p95_us),
                micros(l.samples, l.p99_us),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "OPERATION",
            "COUNT",
            "ERRORS",
            "TIMED",
            "P50 µs",
            "P95 µs",
            "P99 µs",
        ],
        &rows,
    ));
    let c = &m.cache;
    let _ = writeln!(
        out,
        "cache:            {}, {} hits, {} misses, {} evictions, {} entries, {} of {} bytes",
        if c.enabled { "on" } else { "off" },
        c.hits,
        c.misses,
        c.evictions,
        c.entries,
        c.bytes,
        c.capacity_bytes
    );
    let _ = writeln!(
        out,
        "reader pool:      size {}, {} open ({} in use, {} idle), {} waits, {} overflows",
        m.reader_pool_size,
        m.open_readers,
        m.busy_readers,
        m.idle_readers,
        m.reader_waits,
        m.reader_overflows
    );
    let _ = writeln!(
        out,
        "writer:           {} commits of {} writes ({} groups run again after a failed write), checkpoints {} background + {} inline",
        m.commits,
        m.write_jobs,
        m.write_group_reruns,
        m.checkpoints_background,
        m.checkpoints_inline
    );
    let _ = writeln!(out, "pending access updates: {}", m.pending_access_updates);
    let _ = writeln!(
        out,
        "access figures in memory: {} documents",
        m.access_figures_in_memory
    );
    out
}

pub fn check_text(r: &CheckReport) -> String {
    let mut out = String::new();
    if r.ok {
        let _ = writeln!(
            out,
            "ok: {} documents checked, no problems",
            r.documents_checked
        );
    } else {
        let _ = writeln!(
            out,
            "{} problems in {} documents checked:",
            r.problems.len(),
            r.documents_checked
        );
        for p in &r.problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    out
}
