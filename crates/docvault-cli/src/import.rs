//! `import` and `export`: a directory of Markdown files in, a directory of
//! Markdown files out, such that export then import round-trips.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};

use docvault::{
    Config, Document, DocumentPatch, Error, GetOptions, ListQuery, NewDocument, Order, Result,
    SortField, Store,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::{ExportArgs, ImportArgs};
use crate::frontmatter::{self, Parsed};
use crate::open::{io_error, Ctx};
use crate::output::{to_json, Outcome};
use crate::parse;

/// New documents are written this many at a time: one transaction each is
/// far faster than one per file.
const BATCH_DOCS: usize = 500;
/// ...or once this much content is pending, to bound memory.
const BATCH_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Default, Serialize)]
struct Failure {
    path: String,
    kind: &'static str,
    error: String,
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    created: usize,
    updated: usize,
    unchanged: usize,
    failed: Vec<Failure>,
}

impl Summary {
    fn fail(&mut self, path: &str, e: &Error) {
        self.failed.push(Failure {
            path: path.to_string(),
            kind: e.kind(),
            error: e.to_string(),
        });
    }
}

fn is_markdown(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("md") || e.eq_ignore_ascii_case("markdown"))
}

/// Every Markdown file under `root` as (path, path relative to root with
/// forward slashes), sorted by the relative path. Symlinked directories are
/// not followed (they can loop); symlinked files are read.
fn walk(root: &Path, summary: &mut Summary) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            // The root must be readable; a subdirectory that is not is
            // reported and skipped like any other bad file.
            Err(e) if rel.is_empty() => return Err(io_error(&dir, e)),
            Err(e) => {
                summary.fail(&rel, &io_error(&dir, e));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    summary.fail(&rel, &io_error(&dir, e));
                    continue;
                }
            };
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                if is_markdown(&path) {
                    let shown = path.to_string_lossy().into_owned();
                    summary.fail(
                        &shown,
                        &parse::validation("path", "file name is not valid UTF-8"),
                    );
                }
                continue;
            };
            let child_rel = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                dirs.push((path, child_rel));
            } else if is_markdown(&path) && (ft.is_file() || path.is_file()) {
                out.push((path, child_rel));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

fn progress(len: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    bar
}

/// Errors about one file; anything else (the database failing) stops the
/// import, since every following file would fail the same way.
fn per_file(e: &Error) -> bool {
    matches!(
        e,
        Error::Validation { .. } | Error::Io(_) | Error::NotFound { .. } | Error::Conflict { .. }
    )
}

enum Step {
    Create(Box<NewDocument>),
    Updated,
    Unchanged,
}

/// A patch taking `existing` to what the file says; empty when they agree.
/// Fields the front matter does not mention are left alone.
fn patch_for(existing: &Document, p: Parsed) -> DocumentPatch {
    let mut patch = DocumentPatch::default();
    if existing.title != p.title {
        patch.title = Some(p.title);
    }
    patch.doc_type = p.doc_type.filter(|&t| t != existing.doc_type);
    patch.status = p.status.filter(|&s| s != existing.status);
    patch.language = p.language.filter(|l| *l != existing.language);
    patch.format = p.format.filter(|f| *f != existing.format);
    if existing.content.as_deref() != Some(p.content.as_str()) {
        patch.content = Some(p.content);
    }
    if existing.metadata != p.metadata {
        patch.replace_meta = Some(p.metadata);
    }
    patch
}

fn import_one(
    s: &Store,
    path: &Path,
    rel: &str,
    author: Option<&str>,
    max_bytes: usize,
) -> Result<Step> {
    let text = parse::content_file(path, max_bytes)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parsed = frontmatter::parse(&text, &stem)?;
    drop(text);
    let comment = Some(format!("imported from {rel}"));
    if let Some(existing) = s.find_by_source_path(rel)? {
        let mut patch = patch_for(&existing, parsed);
        if patch.is_empty() {
            return Ok(Step::Unchanged);
        }
        patch.author = author.map(str::to_string);
        patch.comment = comment;
        s.update(existing.id, patch)?;
        return Ok(Step::Updated);
    }
    Ok(Step::Create(Box::new(NewDocument {
        title: parsed.title,
        doc_type: parsed.doc_type,
        status: parsed.status,
        format: parsed.format,
        language: parsed.language,
        source_path: Some(rel.to_string()),
        file_path: None,
        content: parsed.content,
        quality_score: None,
        completeness_score: None,
        metadata: parsed.metadata,
        author: author.map(str::to_string),
        comment,
    })))
}

/// Writes pending new documents in one transaction. `create_many` is all or
/// nothing and its error does not say which document it refused, so on a
/// per-document error the batch is retried one by one to find the culprits.
fn flush(s: &Store, pending: &mut Vec<(String, NewDocument)>, summary: &mut Summary) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let batch = std::mem::take(pending);
    let docs: Vec<NewDocument> = batch.iter().map(|(_, d)| d.clone()).collect();
    match s.create_many(docs) {
        Ok(created) => summary.created += created.len(),
        Err(e) if per_file(&e) => {
            for (rel, d) in batch {
                match s.create(d) {
                    Ok(_) => summary.created += 1,
                    Err(e) if per_file(&e) => summary.fail(&rel, &e),
                    Err(e) => return Err(e),
                }
            }
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

pub fn import(ctx: &Ctx, a: ImportArgs) -> Result<Outcome> {
    if !a.dir.is_dir() {
        return Err(io_error(
            &a.dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let mut summary = Summary::default();
    let files = walk(&a.dir, &mut summary)?;
    let config = Config::default();
    let max = config.max_content_bytes;
    let author = a.author.as_deref();
    ctx.with_store(config, |s| {
        let bar = progress(files.len());
        let mut pending: Vec<(String, NewDocument)> = Vec::new();
        let mut pending_bytes = 0usize;
        for (path, rel) in &files {
            bar.set_message(rel.clone());
            match import_one(s, path, rel, author, max) {
                Ok(Step::Create(d)) => {
                    pending_bytes += d.content.len();
                    pending.push((rel.clone(), *d));
                    if pending.len() >= BATCH_DOCS || pending_bytes >= BATCH_BYTES {
                        flush(s, &mut pending, &mut summary)?;
                        pending_bytes = 0;
                    }
                }
                Ok(Step::Updated) => summary.updated += 1,
                Ok(Step::Unchanged) => summary.unchanged += 1,
                Err(e) if per_file(&e) => summary.fail(rel, &e),
                Err(e) => return Err(e),
            }
            bar.inc(1);
        }
        flush(s, &mut pending, &mut summary)?;
        bar.finish_and_clear();
        Ok(())
    })?;
    let mut text = format!(
        "imported {}: {} created, {} updated, {} unchanged, {} failed\n",
        a.dir.display(),
        summary.created,
        summary.updated,
        summary.unchanged,
        summary.failed.len()
    );
    for f in &summary.failed {
        let _ = writeln!(text, "  failed: {}: {}", f.path, f.error);
    }
    Ok(Outcome::new(to_json(&summary)?, text))
}

/// `source_path` as a path under the export directory, when it is relative,
/// stays inside (no `..`, no root) and names a Markdown file (so that
/// importing the export finds it again).
fn safe_relative(source: &str) -> Option<PathBuf> {
    let p = Path::new(source);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty() && is_markdown(&out)).then_some(out)
}

fn slug(title: &str) -> String {
    let mut s = String::new();
    for c in title.chars() {
        if c.is_alphanumeric() {
            s.extend(c.to_lowercase());
        } else if !s.is_empty() && !s.ends_with('-') {
            s.push('-');
        }
        if s.chars().count() >= 60 {
            break;
        }
    }
    let s = s.trim_end_matches('-');
    if s.is_empty() {
        "document".into()
    } else {
        s.to_string()
    }
}

/// Where a document goes; never a path already written in this export.
fn target(d: &Document, used: &mut HashSet<PathBuf>) -> PathBuf {
    if let Some(p) = d.source_path.as_deref().and_then(safe_relative) {
        if used.insert(p.clone()) {
            return p;
        }
    }
    let base = format!("{}-{}", d.id, slug(&d.title));
    let mut candidate = PathBuf::from(format!("{base}.md"));
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = PathBuf::from(format!("{base}-{n}.md"));
        n += 1;
    }
    candidate
}

pub fn export(ctx: &Ctx, a: ExportArgs) -> Result<Outcome> {
    // An export is not a reading of the documents: leave access counts
    // alone. Each document is read once, so a cache would only cost memory.
    let config = Config {
        access_tracking: false,
        cache_capacity_bytes: 0,
        ..Config::default()
    };
    let dir = a.dir.clone();
    let exported = ctx.with_store(config, |s| {
        // Markdown files cannot be encrypted: writing an encrypted store's
        // documents out in the clear takes an explicit yes.
        if s.is_encrypted() && !a.allow_plaintext {
            return Err(docvault::Error::Validation {
                field: "allow_plaintext".into(),
                reason: "the store is encrypted and an export writes plaintext Markdown files; \
                         pass --allow-plaintext to write them anyway"
                    .into(),
            });
        }
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let mut used = HashSet::new();
        let mut exported = 0usize;
        let mut q = ListQuery {
            sort: SortField::CreatedAt,
            order: Order::Asc,
            limit: docvault::MAX_LIMIT,
            ..ListQuery::default()
        };
        loop {
            let page = s.list(&q)?;
            if page.documents.is_empty() {
                break;
            }
            let ids: Vec<i64> = page.documents.iter().map(|d| d.id).collect();
            for d in s
                .get_many(&ids, GetOptions::default())?
                .into_iter()
                .flatten()
            {
                let path = dir.join(target(&d, &mut used));
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
                }
                std::fs::write(&path, frontmatter::render(&d)?).map_err(|e| io_error(&path, e))?;
                exported += 1;
            }
            q.offset += page.documents.len() as i64;
            if q.offset >= page.total {
                break;
            }
        }
        Ok(exported)
    })?;
    let shown = a.dir.to_string_lossy();
    Ok(Outcome::new(
        serde_json::json!({"exported": exported, "dir": shown}),
        format!("exported {exported} documents to {shown}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_contained_markdown_paths_are_kept() {
        assert_eq!(safe_relative("a/b.md"), Some(PathBuf::from("a/b.md")));
        assert_eq!(
            safe_relative("./a.markdown"),
            Some(PathBuf::from("a.markdown"))
        );
        assert_eq!(safe_relative("../a.md"), None);
        assert_eq!(safe_relative("a/../../b.md"), None);
        assert_eq!(safe_relative("/etc/a.md"), None);
        assert_eq!(safe_relative("a.txt"), None);
        assert_eq!(safe_relative(""), None);
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Hello, World!"), "hello-world");
        assert_eq!(slug("***"), "document");
        assert_eq!(slug("Größe"), "größe");
    }
}
