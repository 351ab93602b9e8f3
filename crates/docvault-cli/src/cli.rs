//! The command-line grammar. This is a public contract used by scripts:
//! rename nothing here without a deprecation path.
//!
//! Enumerated values (type, status, sort) are taken as plain strings and
//! parsed by the library, so a bad value is a `validation` error whose
//! message lists the valid values, exactly as the library words it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// A local document store over SQLite.
#[derive(Debug, Parser)]
#[command(name = "docvault", version, about, max_term_width = 100)]
pub struct Cli {
    /// Store file [env: DOCVAULT_DB] [default: <data dir>/docvault/docvault.db]
    // Read from the environment by hand rather than with clap's `env`, so that
    // `demo` can tell an explicit --db from an inherited one.
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Print exactly one JSON value on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Seconds to keep retrying while another process has the store open
    #[arg(long, global = true, value_name = "SECS", default_value = "10", value_parser = parse_wait)]
    pub wait: Duration,

    /// Passphrase of an encrypted store, from the first line of FILE [env: DOCVAULT_PASSPHRASE]
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "key_file")]
    pub passphrase_file: Option<PathBuf>,

    /// Raw 256-bit key of an encrypted store: a file of 32 bytes or 64 hex digits
    #[arg(long, global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

fn parse_wait(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    // An upper bound keeps Duration::from_secs_f64 from panicking on huge input.
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("{s:?} must be between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or migrate the store and print its path
    Init(InitArgs),
    /// Add a document
    Add(AddArgs),
    /// Show a document (or one of its versions)
    Get(GetArgs),
    /// Change fields, content or metadata of a document
    Update(UpdateArgs),
    /// Delete a document (soft by default)
    Delete(DeleteArgs),
    /// Reverse a soft delete
    Undelete(RefArg),
    /// List documents
    List(ListArgs),
    /// Show the version history of a document
    History(RefArg),
    /// Show a unified diff between two versions
    Diff(DiffArgs),
    /// Make an old version current again (as a new version)
    Restore(RestoreArgs),
    /// Import a directory of Markdown files
    Import(ImportArgs),
    /// Export every live document as Markdown with YAML front matter
    Export(ExportArgs),
    /// Show or verify the audit trail
    Audit(AuditArgs),
    /// Show counts, sizes and this process's metrics (operations, cache, reader pool)
    Stats,
    /// Refresh query statistics and compact the write-ahead log
    Optimize,
    /// Check the store's integrity (exit status 1 on problems)
    Check,
    /// Walk through the main features on a throwaway store
    Demo,
    /// Full-text search (words, "phrases", prefix*, -excluded, a OR b, title:word)
    Search(SearchArgs),
    /// Rebuild the full-text index from the documents
    Reindex,
    /// Measure throughput and latency (builds a temporary store unless --db is given)
    #[command(after_help = "\
--db PATH: the bench measures that store instead of a temporary one, and WRITES TO IT:
its write workloads (create, update, mixed_90_10) add documents to the store and
change its documents. Point it at a copy, not at documents you keep.")]
    Bench(BenchArgs),
    /// Change the passphrase or key of an encrypted store (crash-safe)
    Rekey(RekeyArgs),
    /// Encrypt a plaintext store in place with the given key (crash-safe)
    Encrypt,
    /// Write a decrypted, plaintext copy of an encrypted store to a new file
    Decrypt(DecryptArgs),
}

/// `rekey` options: the new key. The current key comes from the global
/// key options; a terminal prompts for whichever is missing.
#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// New passphrase, from the first line of FILE [env: DOCVAULT_NEW_PASSPHRASE]
    #[arg(long, value_name = "FILE", conflicts_with = "new_key_file")]
    pub new_passphrase_file: Option<PathBuf>,
    /// New raw 256-bit key: a file of 32 bytes or 64 hex digits
    #[arg(long, value_name = "FILE")]
    pub new_key_file: Option<PathBuf>,
}

/// `decrypt` options.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The plaintext copy to write; must not exist
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
}

/// `init` options.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Create the store encrypted (needs --passphrase-file, --key-file or DOCVAULT_PASSPHRASE)
    #[arg(long)]
    pub encrypt: bool,
}

/// `search` options.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query; any text is accepted
    #[arg(allow_hyphen_values = true)]
    pub query: String,
    /// Only this type
    #[arg(long = "type", value_name = "TYPE")]
    pub doc_type: Option<String>,
    /// Only this status
    #[arg(long)]
    pub status: Option<String>,
    /// Only documents whose metadata KEY equals VALUE (string) or JSON (typed); repeatable
    #[arg(long = "meta", value_name = "KEY=VALUE", allow_hyphen_values = true)]
    pub meta: Vec<String>,
    /// Results per page, 1-1000
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20,
        allow_negative_numbers = true
    )]
    pub limit: i64,
    /// Results to skip
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub offset: i64,
}

/// `bench` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// compare (adds cache-off and raw SQLite baselines) or optimized
    #[arg(long, default_value = "compare")]
    pub mode: String,
    /// Documents in the generated store (ignored when --db names a store that holds documents)
    #[arg(long, default_value_t = 100_000)]
    pub num_docs: usize,
    /// Thread counts for the concurrent workloads, e.g. 1,2,8
    #[arg(long, default_value = "1,2,8")]
    pub threads: String,
    /// Seconds each workload runs
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub duration: f64,
    /// Also write the report as JSON to FILE (spelled `--json FILE`)
    #[arg(long = "json-file", value_name = "FILE")]
    pub json_file: Option<PathBuf>,
}

/// Document fields shared by `add` and `update`.
#[derive(Debug, Args)]
pub struct FieldArgs {
    /// Document type (technical, api, user_guide, tutorial, reference, design, readme, changelog, other)
    #[arg(long = "type", value_name = "TYPE")]
    pub doc_type: Option<String>,
    /// Status (draft, active, archived)
    #[arg(long)]
    pub status: Option<String>,
    /// Content format, e.g. markdown
    #[arg(long)]
    pub format: Option<String>,
    /// Two-letter language code, e.g. en
    #[arg(long)]
    pub language: Option<String>,
    /// Where the document came from
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub source_path: Option<String>,
    /// Where the document is written to
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub file_path: Option<String>,
    /// Quality score, 0-100
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub quality_score: Option<f64>,
    /// Completeness score, 0-100
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub completeness_score: Option<f64>,
    /// Author of the version, recorded in the audit trail
    #[arg(long, allow_hyphen_values = true)]
    pub author: Option<String>,
    /// Comment on the version
    #[arg(long, allow_hyphen_values = true)]
    pub comment: Option<String>,
    /// Content as text
    #[arg(
        long,
        value_name = "TEXT",
        allow_hyphen_values = true,
        conflicts_with = "file"
    )]
    pub content: Option<String>,
    /// Read content from a file, or from stdin with "-"
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Metadata: KEY=VALUE stores a string, KEY:=JSON a typed value (repeatable)
    #[arg(long = "meta", value_name = "KEY=VALUE", allow_hyphen_values = true)]
    pub meta: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Title, 1-255 characters
    #[arg(long, allow_hyphen_values = true)]
    pub title: String,
    #[command(flatten)]
    pub fields: FieldArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Document id or uuid
    pub id: String,
    /// New title
    #[arg(long, allow_hyphen_values = true)]
    pub title: Option<String>,
    #[command(flatten)]
    pub fields: FieldArgs,
    /// Remove a metadata key (repeatable)
    #[arg(long = "unset-meta", value_name = "KEY", allow_hyphen_values = true)]
    pub unset_meta: Vec<String>,
    /// Mark the new version as major
    #[arg(long)]
    pub major: bool,
    /// Fail with a conflict unless the current version is N
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub expect_version: Option<i64>,
    /// Remove the source path
    #[arg(long, conflicts_with = "source_path")]
    pub clear_source_path: bool,
    /// Remove the file path
    #[arg(long, conflicts_with = "file_path")]
    pub clear_file_path: bool,
    /// Remove the quality score
    #[arg(long, conflicts_with = "quality_score")]
    pub clear_quality_score: bool,
    /// Remove the completeness score
    #[arg(long, conflicts_with = "completeness_score")]
    pub clear_completeness_score: bool,
}

#[derive(Debug, Args)]
pub struct RefArg {
    /// Document id or uuid
    pub id: String,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Document id or uuid
    pub id: String,
    /// Leave the content out
    #[arg(long)]
    pub no_content: bool,
    /// Show soft-deleted documents too
    #[arg(long)]
    pub include_deleted: bool,
    /// Show this version instead of the current document
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub version: Option<i64>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Document id or uuid
    pub id: String,
    /// Remove the document, its versions and metadata for good
    #[arg(long)]
    pub hard: bool,
    /// Who deletes, recorded in the audit trail
    #[arg(long, allow_hyphen_values = true)]
    pub author: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this type
    #[arg(long = "type", value_name = "TYPE")]
    pub doc_type: Option<String>,
    /// Only this status
    #[arg(long)]
    pub status: Option<String>,
    /// Only documents whose metadata KEY equals VALUE (string) or JSON (typed); repeatable
    #[arg(long = "meta", value_name = "KEY=VALUE", allow_hyphen_values = true)]
    pub meta: Vec<String>,
    /// Sort by title, created_at, updated_at, access_count or size_bytes
    #[arg(long, value_name = "FIELD", default_value = "updated_at")]
    pub sort: String,
    /// Smallest first
    #[arg(long, conflicts_with = "desc")]
    pub asc: bool,
    /// Largest first (the default)
    #[arg(long)]
    pub desc: bool,
    /// Page size, 1-1000
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100,
        allow_negative_numbers = true
    )]
    pub limit: i64,
    /// Rows to skip
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub offset: i64,
    /// Include soft-deleted documents
    #[arg(long)]
    pub include_deleted: bool,
    /// Created at or after (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_name = "TS")]
    pub created_after: Option<String>,
    /// Created strictly before
    #[arg(long, value_name = "TS")]
    pub created_before: Option<String>,
    /// Updated at or after
    #[arg(long, value_name = "TS")]
    pub updated_after: Option<String>,
    /// Updated strictly before
    #[arg(long, value_name = "TS")]
    pub updated_before: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Document id or uuid
    pub id: String,
    /// Old version
    #[arg(allow_negative_numbers = true)]
    pub from: i64,
    /// New version
    #[arg(allow_negative_numbers = true)]
    pub to: i64,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Document id or uuid
    pub id: String,
    /// Version to make current again
    #[arg(allow_negative_numbers = true)]
    pub version: i64,
    /// Who restores, recorded in the audit trail
    #[arg(long, allow_hyphen_values = true)]
    pub author: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Directory to walk for *.md and *.markdown files
    pub dir: PathBuf,
    /// Author of the created and updated versions
    #[arg(long, allow_hyphen_values = true)]
    pub author: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Directory to write into (created if missing)
    pub dir: PathBuf,
    /// Allow exporting an encrypted store: the Markdown files are plaintext
    #[arg(long)]
    pub allow_plaintext: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only entries about this document (id or uuid)
    #[arg(long, value_name = "ID", conflicts_with = "verify")]
    pub doc: Option<String>,
    /// Only this operation (create, update, delete, hard_delete, undelete, restore)
    #[arg(long, value_name = "OP", conflicts_with = "verify")]
    pub operation: Option<String>,
    /// Entries at or after (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_name = "TS", conflicts_with = "verify")]
    pub since: Option<String>,
    /// Entries strictly before
    #[arg(long, value_name = "TS", conflicts_with = "verify")]
    pub until: Option<String>,
    /// At most N entries, newest first (default 100)
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        conflicts_with = "verify"
    )]
    pub limit: Option<i64>,
    /// Verify the hash chain instead of listing (exit status 1 if broken)
    #[arg(long)]
    pub verify: bool,
}
