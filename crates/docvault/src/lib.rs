//! docvault: a local document store in one SQLite file.
//!
//! Documents carry typed metadata, a full version history and a
//! tamper-evident audit trail. Open a [`Store`], then create, read, patch,
//! list, version and delete documents:
//!
//! ```
//! use docvault::{Config, DocumentPatch, ListQuery, NewDocument, Store};
//! # fn main() -> docvault::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("docs.db"), Config::default())?;
//! let doc = store.create(NewDocument::new("Install", "Run the installer.").meta("team", "docs"))?;
//! let doc = store.update(doc.id, DocumentPatch {
//!     content: Some("Run the installer, then reboot.".into()),
//!     ..Default::default()
//! })?;
//! assert_eq!(doc.version, 2);
//! assert_eq!(store.versions(doc.id)?.len(), 2);
//! assert_eq!(store.list(&ListQuery::default())?.total, 1);
//! # Ok(()) }
//! ```
//!
//! See ARCHITECTURE.md in the repository for the read and write paths.
#![warn(missing_docs)]

mod access;
pub mod audit;
mod cache;
mod checkpoint;
pub mod crypto;
mod documents;
pub mod error;
mod list;
mod lock;
mod maintenance;
mod metadata;
pub mod metrics;
pub mod model;
mod pool;
pub mod rekey;
pub mod schema;
mod search;
mod store;
pub mod validate;
mod versions;
#[cfg(unix)]
mod wal_vfs;
mod writer;

pub use audit::{AuditEntry, AuditQuery, AuditVerification};
pub use cache::CacheStats;
pub use crypto::{KdfParams, KeySource};
pub use error::{Error, Result};
pub use list::MAX_LIMIT;
pub use maintenance::{CheckReport, Stats};
pub use metrics::MetricsSnapshot;
pub use model::{
    DocRef, DocType, Document, DocumentPatch, DocumentRecord, GetOptions, LazyMetadata, ListQuery,
    MetaValue, Metadata, NewDocument, Order, Page, SortField, Status, Timestamp, Version,
    VersionInfo,
};
pub use rekey::{encrypt, rekey};
pub use search::{
    SearchHit, SearchOptions, SearchQuery, SearchResults, DEFAULT_SEARCH_LIMIT, MAX_QUERY_CHARS,
    MAX_QUERY_TERMS, MAX_SNIPPET_TOKENS,
};
pub use store::{Config, Durability, Store};
