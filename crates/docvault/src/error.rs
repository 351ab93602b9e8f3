//! The one error type of the library.
//!
//! Every fallible operation returns [`Error`]. Each variant maps to a stable,
//! snake_case [`Error::kind`] that the CLI prints and scripts match on.

use std::path::PathBuf;

/// Result alias used throughout docvault.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in docvault.
///
/// The enum is non-exhaustive: new failure cases may be added in minor
/// releases, so match with a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The requested entity (document, version, ...) does not exist, or is
    /// soft-deleted and deleted documents were not asked for.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked for: "document", "version", ...
        entity: &'static str,
        /// The identifier as given by the caller.
        id: String,
    },

    /// An input failed validation. Nothing was written.
    #[error("invalid {field}: {reason}")]
    Validation {
        /// The field (or argument) that was rejected.
        field: String,
        /// Why it was rejected, including the valid values where there is a set.
        reason: String,
    },

    /// An update carried an expected version that is no longer current.
    /// Nothing was written.
    #[error("conflict on document {id}: expected version {expected}, current version is {actual}")]
    Conflict {
        /// The document id.
        id: i64,
        /// The version the caller expected.
        expected: i64,
        /// The version actually stored.
        actual: i64,
    },

    /// Another process (or another `Store` in this process) has the store open.
    #[error("store {} is in use by {}", path.display(), match pid { Some(p) => format!("process {p}"), None => "another process".to_string() })]
    StoreInUse {
        /// The database path.
        path: PathBuf,
        /// The owning process id, when it could be read from the lock file.
        pid: Option<u32>,
    },

    /// The store was written by a newer docvault whose schema this build
    /// does not know. The file was not modified.
    #[error("store schema version {found} is newer than this docvault supports ({supported}); upgrade docvault")]
    SchemaTooNew {
        /// Schema version found in the file.
        found: i64,
        /// Newest schema version this build can read.
        supported: i64,
    },

    /// The file is not a docvault store, or is damaged.
    #[error("store is corrupt or not a docvault database: {0}")]
    Corrupt(String),

    /// The store has been closed.
    #[error("store is closed")]
    Closed,

    /// An operating-system I/O error (lock file, directory creation, ...).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// An unexpected error reported by SQLite.
    #[error("database error: {0}")]
    Database(String),

    /// A key was configured but this build's SQLite is not SQLCipher, so
    /// the store cannot be encrypted. Nothing was written.
    #[error("encryption unavailable: {0}")]
    EncryptionUnavailable(String),

    /// The store is encrypted and no key was given.
    #[error("store {} is encrypted; give its passphrase or key", path.display())]
    StoreEncrypted {
        /// The database path.
        path: PathBuf,
    },

    /// The passphrase or key does not open the store.
    #[error("wrong passphrase or key: {0}")]
    WrongKey(String),

    /// A key was given for a store that is not encrypted. Nothing was
    /// written; the store stays plaintext.
    #[error("store {} is not encrypted, but a key was given", path.display())]
    NotEncrypted {
        /// The database path.
        path: PathBuf,
    },

    /// The key header file (`<db>.keyinfo`) is missing, unreadable or damaged.
    #[error("key header {} is missing or damaged: {reason}", path.display())]
    BadKeyHeader {
        /// The header file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// A stable snake_case name for the variant, for scripts and JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "not_found",
            Error::Validation { .. } => "validation",
            Error::Conflict { .. } => "conflict",
            Error::StoreInUse { .. } => "store_in_use",
            Error::SchemaTooNew { .. } => "schema_too_new",
            Error::Corrupt(_) => "corrupt",
            Error::Closed => "closed",
            Error::Io(_) => "io",
            Error::Database(_) => "database",
            Error::EncryptionUnavailable(_) => "encryption_unavailable",
            Error::StoreEncrypted { .. } => "store_encrypted",
            Error::WrongKey(_) => "wrong_key",
            Error::NotEncrypted { .. } => "not_encrypted",
            Error::BadKeyHeader { .. } => "bad_key_header",
        }
    }

    pub(crate) fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Error::NotFound {
            entity,
            id: id.to_string(),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            match f.code {
                ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                    return Error::Corrupt(e.to_string())
                }
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    return Error::Database(format!("database is busy: {e}"))
                }
                _ => {}
            }
        }
        if let rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::Utf8Error(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) = &e
        {
            // A stored value that does not decode (text that is not UTF-8,
            // a NULL or a number where text belongs, a uuid, an enum name or
            // metadata JSON that does not parse): the store wrote it, so the
            // file is damaged.
            return Error::Corrupt(e.to_string());
        }
        Error::Database(e.to_string())
    }
}
