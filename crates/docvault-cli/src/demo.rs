//! `demo`: the main job end to end on a throwaway store, so a newcomer can
//! see what docvault does with one command and no setup.

use std::fmt::Write as _;

use docvault::{
    Config, DocType, Document, DocumentPatch, ListQuery, MetaValue, NewDocument, Result, Status,
    Store,
};
use serde_json::json;

use crate::open::{open_waiting, Ctx};
use crate::output::{self, to_json, Outcome};

const INSTALL_V1: &str = "# Installing docvault

1. Download the release archive for your platform.
2. Put the `docvault` binary somewhere on your PATH.
3. Run `docvault init` to create the store.
";

const INSTALL_V2: &str = "# Installing docvault

1. Download the release archive for your platform.
2. Copy the `docvault` binary to `~/.local/bin` (or anywhere on your PATH).
3. Run `docvault init` to create the store.
4. Run `docvault check` to make sure everything is in order.
";

fn samples() -> Vec<NewDocument> {
    vec![
        NewDocument::new("Installing docvault", INSTALL_V1)
            .doc_type(DocType::UserGuide)
            .status(Status::Active)
            .meta("team", "docs")
            .meta("audience", "operators")
            .meta("reviewed", true)
            .meta(
                "tags",
                MetaValue::Json(json!(["install", "getting-started"])),
            )
            .author("alice"),
        NewDocument::new(
            "Documents API",
            "# Documents API\n\n`GET /documents/{id}` returns one document.\n\
             `POST /documents` creates one; the body is the document as JSON.\n",
        )
        .doc_type(DocType::Api)
        .status(Status::Active)
        .meta("api_version", "v1")
        .meta("endpoints", 6i64)
        .meta("stable", true)
        .author("bob"),
        NewDocument {
            quality_score: Some(85.0),
            ..NewDocument::new(
                "Storage design",
                "# Storage design\n\nOne SQLite file in WAL mode. Every content change \
                 becomes a version; every write is chained into a tamper-evident audit log.\n",
            )
            .doc_type(DocType::Design)
            .meta("owner", "platform")
            .meta("priority", 1i64)
            .author("carol")
        },
        NewDocument::new(
            "Release notes 0.1",
            "# 0.1.0\n\n- First release: documents, versions, typed metadata, audit trail.\n",
        )
        .doc_type(DocType::Changelog)
        .status(Status::Active)
        .meta("release", "0.1.0")
        .author("alice"),
    ]
}

fn summary_line(d: &Document) -> String {
    let meta: Vec<String> = d
        .metadata
        .iter()
        .map(|(k, v)| format!("{k}={}", v.to_json()))
        .collect();
    format!(
        "  #{} {} [{}, {}] {}\n",
        d.id,
        d.title,
        d.doc_type,
        d.status,
        meta.join(" ")
    )
}

fn run(store: &Store, shown_path: &str, temporary: bool) -> Result<Outcome> {
    let mut text = String::new();
    let _ = writeln!(text, "== docvault demo ==");
    if temporary {
        let _ = writeln!(
            text,
            "store: {shown_path} (temporary, removed on exit; pass --db PATH to keep one)"
        );
    } else {
        let _ = writeln!(text, "store: {shown_path}");
    }

    let mut created = Vec::new();
    for d in samples() {
        created.push(store.create(d)?);
    }
    let _ = writeln!(text, "\n== 1. Added {} documents ==", created.len());
    for d in &created {
        text.push_str(&summary_line(d));
    }

    let install = created[0].id;
    let mut set_meta = docvault::Metadata::new();
    set_meta.insert("steps".into(), MetaValue::Integer(4));
    let updated = store.update(
        install,
        DocumentPatch {
            content: Some(INSTALL_V2.into()),
            set_meta,
            author: Some("bob".into()),
            comment: Some("Add a verification step".into()),
            expect_version: Some(1),
            ..DocumentPatch::default()
        },
    )?;
    let _ = writeln!(
        text,
        "\n== 2. Updated \"{}\" (now version {}) ==",
        updated.title, updated.version
    );
    text.push_str(&summary_line(&updated));

    let page = store.list(&ListQuery::default())?;
    let _ = writeln!(
        text,
        "\n== 3. All documents, most recently updated first =="
    );
    text.push_str(&output::page_text(&page));

    let history = store.versions(install)?;
    let _ = writeln!(text, "\n== 4. History of \"{}\" ==", updated.title);
    text.push_str(&output::history_text(&history));

    let diff = store.diff(install, 1, 2)?;
    let _ = writeln!(text, "\n== 5. What changed from v1 to v2 ==");
    text.push_str(&diff);

    let audit = store.verify_audit()?;
    let _ = writeln!(text, "\n== 6. Audit trail ==");
    text.push_str(&output::verification_text(&audit));

    let json = json!({
        "store": shown_path,
        "temporary": temporary,
        "created": to_json(&created)?,
        "updated": to_json(&updated)?,
        "list": to_json(&page)?,
        "history": to_json(&history)?,
        "diff": diff,
        "audit": to_json(&audit)?,
    });
    let broken = !audit.ok;
    Ok(Outcome::new(json, text).failing_if(broken, "the demo's audit chain did not verify"))
}

pub fn demo(ctx: &Ctx) -> Result<Outcome> {
    // Only an explicit --db is used: a DOCVAULT_DB inherited from the
    // environment most likely points at real documents.
    let (tmp, path) = match &ctx.db {
        Some(_) => (None, ctx.db_path()?),
        None => {
            let tmp = tempfile::tempdir()?;
            let path = tmp.path().join("demo.db");
            (Some(tmp), path)
        }
    };
    let shown = path.to_string_lossy().into_owned();
    let store = open_waiting(&path, Config::default(), ctx.wait)?;
    let out = run(&store, &shown, tmp.is_some());
    let closed = store.close();
    // The temporary directory goes only after the store has let go of it.
    drop(tmp);
    let out = out?;
    closed?;
    Ok(out)
}
