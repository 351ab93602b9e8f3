//! The single-store commands: each parses its arguments fully before it
//! opens the store, so bad input fails fast and never holds the lock.

use docvault::{
    AuditQuery, Config, DocRef, DocumentPatch, GetOptions, ListQuery, Metadata, NewDocument, Order,
    Result, SortField, Store,
};
use serde_json::json;

use crate::cli::{
    AddArgs, AuditArgs, DeleteArgs, DiffArgs, FieldArgs, GetArgs, InitArgs, ListArgs, RefArg,
    RestoreArgs, UpdateArgs,
};
use crate::open::Ctx;
use crate::output::{self, to_json, Outcome};
use crate::parse;

/// Operations the audit trail records; `audit --operation` accepts only
/// these, so a typo is an error instead of an empty answer.
const OPERATIONS: &[&str] = &[
    "create",
    "update",
    "delete",
    "hard_delete",
    "undelete",
    "restore",
];

fn document(d: &docvault::Document) -> Result<Outcome> {
    Ok(Outcome::new(to_json(d)?, output::document_text(d)))
}

/// `--content` wins over nothing; `--file` reads a file or stdin. clap
/// already refuses both at once.
fn content(f: &FieldArgs, max_bytes: usize) -> Result<Option<String>> {
    match (&f.content, &f.file) {
        (Some(c), _) => Ok(Some(c.clone())),
        (None, Some(p)) => parse::content_file(p, max_bytes).map(Some),
        (None, None) => Ok(None),
    }
}

fn metadata(args: &[String]) -> Result<Metadata> {
    // Later occurrences of a key win, as with repeated flags anywhere.
    Ok(parse::metas(args)?.into_iter().collect())
}

pub fn init(ctx: &Ctx, a: InitArgs) -> Result<Outcome> {
    let mut config = Config::default();
    if a.encrypt && !ctx.has_key() {
        match crate::open::prompt_passphrase("new passphrase", true)? {
            Some(k) => config.encryption = Some(k),
            None => return Err(docvault::Error::Validation {
                field: "encrypt".into(),
                reason: "--encrypt needs a key: --passphrase-file FILE, --key-file FILE or DOCVAULT_PASSPHRASE".into(),
            }),
        }
    }
    let (path, schema, encrypted) = ctx.with_store(config, |s| {
        Ok((
            s.path().to_path_buf(),
            s.stats()?.schema_version,
            s.is_encrypted(),
        ))
    })?;
    let shown = output::shown_path(&path);
    let how = if encrypted { ", encrypted" } else { "" };
    Ok(Outcome::new(
        json!({"path": shown, "schema_version": schema, "encrypted": encrypted}),
        format!("store ready at {shown} (schema version {schema}{how})"),
    ))
}

pub fn add(ctx: &Ctx, a: AddArgs) -> Result<Outcome> {
    let config = Config::default();
    let f = a.fields;
    let doc = NewDocument {
        title: a.title,
        doc_type: parse::opt(f.doc_type.as_deref())?,
        status: parse::opt(f.status.as_deref())?,
        content: content(&f, config.max_content_bytes)?.unwrap_or_default(),
        metadata: metadata(&f.meta)?,
        format: f.format,
        language: f.language,
        source_path: f.source_path,
        file_path: f.file_path,
        quality_score: f.quality_score,
        completeness_score: f.completeness_score,
        author: f.author,
        comment: f.comment,
    };
    let created = ctx.with_store(config, |s| s.create(doc))?;
    document(&created)
}

pub fn get(ctx: &Ctx, a: GetArgs) -> Result<Outcome> {
    let r = parse::doc_ref(&a.id)?;
    if let Some(n) = a.version {
        let v = ctx.with_store(Config::default(), |s| s.version(r, n))?;
        return Ok(if a.no_content {
            Outcome::new(to_json(&v.info)?, output::version_info_text(&v.info))
        } else {
            Outcome::new(to_json(&v)?, output::version_text(&v))
        });
    }
    let opts = GetOptions {
        include_content: !a.no_content,
        include_deleted: a.include_deleted,
    };
    let d = ctx.with_store(Config::default(), |s| s.get_with(r, opts))?;
    document(&d)
}

fn clearable<T>(clear: bool, v: Option<T>) -> Option<Option<T>> {
    if clear {
        Some(None)
    } else {
        v.map(Some)
    }
}

pub fn update(ctx: &Ctx, a: UpdateArgs) -> Result<Outcome> {
    let config = Config::default();
    let r = parse::doc_ref(&a.id)?;
    let f = a.fields;
    let patch = DocumentPatch {
        title: a.title,
        doc_type: parse::opt(f.doc_type.as_deref())?,
        status: parse::opt(f.status.as_deref())?,
        content: content(&f, config.max_content_bytes)?,
        set_meta: metadata(&f.meta)?,
        unset_meta: a.unset_meta,
        format: f.format,
        language: f.language,
        source_path: clearable(a.clear_source_path, f.source_path),
        file_path: clearable(a.clear_file_path, f.file_path),
        quality_score: clearable(a.clear_quality_score, f.quality_score),
        completeness_score: clearable(a.clear_completeness_score, f.completeness_score),
        replace_meta: None,
        author: f.author,
        comment: f.comment,
        major: a.major,
        expect_version: a.expect_version,
    };
    let d = ctx.with_store(config, |s| s.update(r, patch))?;
    document(&d)
}

/// The integer id behind a reference, for output and audit filters. Uses the
/// version list because, unlike `get`, it neither counts as a read nor
/// hides soft-deleted documents.
fn resolve_id(s: &Store, r: DocRef) -> Result<i64> {
    match r {
        DocRef::Id(i) => Ok(i),
        DocRef::Uuid(_) => s
            .versions(r)?
            .first()
            .map(|v| v.document_id)
            .ok_or_else(|| docvault::Error::NotFound {
                entity: "document",
                id: r.to_string(),
            }),
    }
}

pub fn delete(ctx: &Ctx, a: DeleteArgs) -> Result<Outcome> {
    let r = parse::doc_ref(&a.id)?;
    let id = ctx.with_store(Config::default(), |s| {
        let id = resolve_id(s, r)?;
        if a.hard {
            s.hard_delete(r, a.author.as_deref())?;
        } else {
            s.delete(r, a.author.as_deref())?;
        }
        Ok(id)
    })?;
    let text = if a.hard {
        format!("document {id} deleted permanently")
    } else {
        format!("document {id} deleted (undelete {id} reverses this)")
    };
    Ok(Outcome::new(json!({"deleted": id, "hard": a.hard}), text))
}

pub fn undelete(ctx: &Ctx, a: RefArg) -> Result<Outcome> {
    let r = parse::doc_ref(&a.id)?;
    let d = ctx.with_store(Config::default(), |s| s.undelete(r, None))?;
    document(&d)
}

pub fn list(ctx: &Ctx, a: ListArgs) -> Result<Outcome> {
    let q = ListQuery {
        doc_type: parse::opt(a.doc_type.as_deref())?,
        status: parse::opt(a.status.as_deref())?,
        include_deleted: a.include_deleted,
        meta: parse::metas(&a.meta)?,
        created_after: parse::timestamp(a.created_after.as_deref())?,
        created_before: parse::timestamp(a.created_before.as_deref())?,
        updated_after: parse::timestamp(a.updated_after.as_deref())?,
        updated_before: parse::timestamp(a.updated_before.as_deref())?,
        sort: a.sort.parse::<SortField>()?,
        order: if a.asc { Order::Asc } else { Order::Desc },
        limit: a.limit,
        offset: a.offset,
    };
    let page = ctx.with_store(Config::default(), |s| s.list(&q))?;
    Ok(Outcome::new(to_json(&page)?, output::page_text(&page)))
}

pub fn history(ctx: &Ctx, a: RefArg) -> Result<Outcome> {
    let r = parse::doc_ref(&a.id)?;
    let versions = ctx.with_store(Config::default(), |s| s.versions(r))?;
    Ok(Outcome::new(
        to_json(&versions)?,
        output::history_text(&versions),
    ))
}

pub fn diff(ctx: &Ctx, a: DiffArgs) -> Result<Outcome> {
    let r = parse::doc_ref(&a.id)?;
    let d = ctx.with_store(Config::default(), |s| s.diff(r, a.from, a.to))?;
    let text = if d.is_empty() {
        format!("v{} and v{} have the same content", a.from, a.to)
    } else {
        d.clone()
    };
    Ok(Outcome::new(json!({"diff": d}), text))
}

pub fn restore(ctx: &Ctx, a: RestoreArgs) -> Result<Outcome> {
    let r = parse::doc_ref(&a.id)?;
    let d = ctx.with_store(Config::default(), |s| {
        s.restore(r, a.version, a.author.as_deref())
    })?;
    document(&d)
}

pub fn audit(ctx: &Ctx, a: AuditArgs) -> Result<Outcome> {
    if a.verify {
        let v = ctx.with_store(Config::default(), |s| s.verify_audit())?;
        let msg = format!(
            "audit chain is broken at entry {}: {}",
            v.first_bad_id
                .map(|i| i.to_string())
                .unwrap_or_else(|| "?".into()),
            v.reason.as_deref().unwrap_or("unknown reason")
        );
        return Ok(Outcome::new(to_json(&v)?, output::verification_text(&v)).failing_if(!v.ok, msg));
    }
    if let Some(op) = &a.operation {
        if !OPERATIONS.contains(&op.as_str()) {
            return Err(parse::validation(
                "operation",
                format!(
                    "unknown value {op:?}; valid values: {}",
                    OPERATIONS.join(", ")
                ),
            ));
        }
    }
    let doc = a.doc.as_deref().map(parse::doc_ref).transpose()?;
    let mut q = AuditQuery {
        document_id: None,
        operation: a.operation,
        since: parse::timestamp(a.since.as_deref())?,
        until: parse::timestamp(a.until.as_deref())?,
        limit: a.limit,
    };
    let entries = ctx.with_store(Config::default(), |s| {
        q.document_id = doc.map(|r| resolve_id(s, r)).transpose()?;
        s.audit(&q)
    })?;
    Ok(Outcome::new(
        to_json(&entries)?,
        output::audit_text(&entries),
    ))
}

/// The store's counts and sizes, then this process's metrics (since the
/// store was opened: most are zero, but the cache's capacity, the reader
/// pool and pending access updates are real). The JSON is [`docvault::Stats`]
/// with the snapshot added as `metrics`.
pub fn stats(ctx: &Ctx) -> Result<Outcome> {
    let (st, m) = ctx.with_store(Config::default(), |s| Ok((s.stats()?, s.metrics())))?;
    let mut json = to_json(&st)?;
    json["metrics"] = to_json(&m)?;
    let mut text = output::stats_text(&st);
    text.push('\n');
    text.push_str(&output::metrics_text(&m, st.operations));
    Ok(Outcome::new(json, text))
}

pub fn optimize(ctx: &Ctx) -> Result<Outcome> {
    ctx.with_store(Config::default(), |s| s.optimize())?;
    Ok(Outcome::new(json!({"ok": true}), "optimized"))
}

pub fn check(ctx: &Ctx) -> Result<Outcome> {
    let r = ctx.with_store(Config::default(), |s| s.check())?;
    let msg = format!("check found {} problems", r.problems.len());
    Ok(Outcome::new(to_json(&r)?, output::check_text(&r)).failing_if(!r.ok, msg))
}
