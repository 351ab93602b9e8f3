//! The data model: documents, their fields and enums, metadata values,
//! versions, and the query and result shapes shared by every path.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A point in time, stored as microseconds since the Unix epoch (UTC).
///
/// Serialized as an RFC 3339 string in UTC, e.g. `2026-11-26T14:53:05.123456Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_micros() as i64)
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// Formats as RFC 3339 in UTC.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| self.0.to_string()),
            Err(_) => self.0.to_string(),
        }
    }

    /// Parses an RFC 3339 timestamp (any offset; converted to UTC), or a bare
    /// date `YYYY-MM-DD` meaning midnight UTC.
    pub fn parse(s: &str) -> Result<Self> {
        use time::format_description::well_known::Rfc3339;
        let s = s.trim();
        let parsed = time::OffsetDateTime::parse(s, &Rfc3339).or_else(|_| {
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(s, &fmt).map(|d| d.midnight().assume_utc())
        });
        match parsed {
            Ok(t) => Ok(Timestamp((t.unix_timestamp_nanos() / 1000) as i64)),
            Err(_) => Err(Error::validation(
                "timestamp",
                format!("{s:?} is not an RFC 3339 timestamp or YYYY-MM-DD date"),
            )),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Declares a string enum with a fixed set of snake_case names, parsing that
/// lists the valid values on error, and serde as the name.
macro_rules! name_enum {
    ($(#[$m:meta])* $name:ident, $field:literal, { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The stored and printed name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($s => Ok($name::$v),)+
                    _ => Err(Error::validation(
                        $field,
                        format!(
                            "unknown value {:?}; valid values: {}",
                            s,
                            [$($s),+].join(", ")
                        ),
                    )),
                }
            }
        }
    };
}

name_enum!(
    /// The kind of a document.
    DocType, "type", {
        /// Technical documentation.
        Technical = "technical",
        /// API reference.
        Api = "api",
        /// User guide.
        UserGuide = "user_guide",
        /// Tutorial.
        Tutorial = "tutorial",
        /// Reference material.
        Reference = "reference",
        /// Design document.
        Design = "design",
        /// README.
        Readme = "readme",
        /// Changelog.
        Changelog = "changelog",
        /// Anything else (the default).
        Other = "other",
    }
);

name_enum!(
    /// The lifecycle state of a document.
    Status, "status", {
        /// Work in progress (the default).
        Draft = "draft",
        /// Published.
        Active = "active",
        /// Kept but no longer current.
        Archived = "archived",
        /// Soft-deleted: hidden unless asked for; `undelete` reverses it.
        Deleted = "deleted",
    }
);

name_enum!(
    /// A column that [`ListQuery`] can sort by.
    SortField, "sort", {
        /// Document title.
        Title = "title",
        /// Creation time.
        CreatedAt = "created_at",
        /// Last write time (the default).
        UpdatedAt = "updated_at",
        /// Number of reads.
        AccessCount = "access_count",
        /// Content size in bytes.
        SizeBytes = "size_bytes",
    }
);

/// A typed metadata value.
///
/// Integers stay integers and floats stay floats across a round trip (the
/// original read `42` back as `42.0`). Arrays and objects are kept as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MetaValue {
    /// JSON null.
    Null,
    /// true or false.
    Bool(bool),
    /// A 64-bit signed integer.
    Integer(i64),
    /// A finite 64-bit float.
    Float(f64),
    /// A string.
    String(String),
    /// A JSON array or object.
    Json(serde_json::Value),
}

impl MetaValue {
    /// Converts any JSON value; numbers that fit `i64` become integers.
    /// Integers beyond the `i64` range are rejected rather than rounded.
    pub fn from_json(v: serde_json::Value) -> Result<Self> {
        use serde_json::Value as J;
        Ok(match v {
            J::Null => MetaValue::Null,
            J::Bool(b) => MetaValue::Bool(b),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    MetaValue::Integer(i)
                } else if n.is_u64() {
                    return Err(Error::validation(
                        "metadata",
                        format!("integer {n} is out of the 64-bit signed range"),
                    ));
                } else {
                    MetaValue::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            J::String(s) => MetaValue::String(s),
            v @ (J::Array(_) | J::Object(_)) => MetaValue::Json(v),
        })
    }

    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            MetaValue::Null => J::Null,
            MetaValue::Bool(b) => J::Bool(*b),
            MetaValue::Integer(i) => J::from(*i),
            MetaValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            MetaValue::String(s) => J::String(s.clone()),
            MetaValue::Json(v) => v.clone(),
        }
    }

    /// The stored type name: string, integer, float, boolean, null or json.
    pub fn type_name(&self) -> &'static str {
        match self {
            MetaValue::Null => "null",
            MetaValue::Bool(_) => "boolean",
            MetaValue::Integer(_) => "integer",
            MetaValue::Float(_) => "float",
            MetaValue::String(_) => "string",
            MetaValue::Json(_) => "json",
        }
    }
}

// By hand rather than `#[serde(untagged)]`: untagged tries each variant in
// turn and formats an error message for every miss, which profiling showed
// was a third of an uncached read.
impl<'de> Deserialize<'de> for MetaValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = MetaValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a metadata value")
            }
            fn visit_unit<E>(self) -> std::result::Result<MetaValue, E> {
                Ok(MetaValue::Null)
            }
            fn visit_none<E>(self) -> std::result::Result<MetaValue, E> {
                Ok(MetaValue::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> std::result::Result<MetaValue, D::Error> {
                MetaValue::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> std::result::Result<MetaValue, E> {
                Ok(MetaValue::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> std::result::Result<MetaValue, E> {
                Ok(MetaValue::Integer(i))
            }
            fn visit_u64<E: serde::de::Error>(self, u: u64) -> std::result::Result<MetaValue, E> {
                i64::try_from(u).map(MetaValue::Integer).map_err(|_| {
                    E::custom(format!("integer {u} is out of the 64-bit signed range"))
                })
            }
            fn visit_f64<E>(self, f: f64) -> std::result::Result<MetaValue, E> {
                Ok(MetaValue::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<MetaValue, E> {
                Ok(MetaValue::String(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> std::result::Result<MetaValue, E> {
                Ok(MetaValue::String(s))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> std::result::Result<MetaValue, A::Error> {
                serde_json::Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(MetaValue::Json)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<MetaValue, A::Error> {
                serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(MetaValue::Json)
            }
        }
        d.deserialize_any(V)
    }
}

impl From<&str> for MetaValue {
    fn from(s: &str) -> Self {
        MetaValue::String(s.to_string())
    }
}
impl From<String> for MetaValue {
    fn from(s: String) -> Self {
        MetaValue::String(s)
    }
}
impl From<i64> for MetaValue {
    fn from(i: i64) -> Self {
        MetaValue::Integer(i)
    }
}
impl From<f64> for MetaValue {
    fn from(f: f64) -> Self {
        MetaValue::Float(f)
    }
}
impl From<bool> for MetaValue {
    fn from(b: bool) -> Self {
        MetaValue::Bool(b)
    }
}

/// Metadata of one document: key to typed value, ordered by key.
pub type Metadata = BTreeMap<String, MetaValue>;

/// How a document is addressed: by integer id or by uuid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocRef {
    /// The integer id.
    Id(i64),
    /// The uuid.
    Uuid(uuid::Uuid),
}

impl DocRef {
    /// Parses an integer id or a uuid.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if let Ok(i) = s.parse::<i64>() {
            return Ok(DocRef::Id(i));
        }
        uuid::Uuid::parse_str(s).map(DocRef::Uuid).map_err(|_| {
            Error::validation("id", format!("{s:?} is neither an integer id nor a uuid"))
        })
    }
}

impl fmt::Display for DocRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocRef::Id(i) => write!(f, "{i}"),
            DocRef::Uuid(u) => write!(f, "{u}"),
        }
    }
}

impl From<i64> for DocRef {
    fn from(i: i64) -> Self {
        DocRef::Id(i)
    }
}
impl From<uuid::Uuid> for DocRef {
    fn from(u: uuid::Uuid) -> Self {
        DocRef::Uuid(u)
    }
}

/// Everything stored about a document except its read statistics.
///
/// Shared, immutable snapshots of it sit in the read cache; [`Document`]
/// wraps one with the access figures of the moment it was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRecord {
    /// Integer id, assigned at creation, never reused.
    pub id: i64,
    /// Uuid, assigned at creation: version 7 (RFC 9562), so uuids sort in
    /// creation order and carry the creation time to the millisecond (as
    /// `created_at` does); the other 74 bits hold a counter that starts at a
    /// random value each millisecond (so uuids of one millisecond keep
    /// their order) and random bits, 32 of them new for every uuid.
    pub uuid: uuid::Uuid,
    /// Title, 1–255 characters.
    pub title: String,
    /// Kind of document.
    #[serde(rename = "type")]
    pub doc_type: DocType,
    /// Lifecycle state.
    pub status: Status,
    /// Content format, e.g. `markdown`.
    pub format: String,
    /// Two lowercase letters, e.g. `en`.
    pub language: String,
    /// Where the document came from (import records it).
    pub source_path: Option<String>,
    /// Where the document is written to, if anywhere.
    pub file_path: Option<String>,
    /// The content; `None` when it was not asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub content: Option<String>,
    /// SHA-256 of the content, lowercase hex.
    pub content_hash: String,
    /// Content length in UTF-8 bytes.
    pub size_bytes: i64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Time of the last write (never changed by reads).
    pub updated_at: Timestamp,
    /// Optional quality score, 0–100.
    pub quality_score: Option<f64>,
    /// Optional completeness score, 0–100.
    pub completeness_score: Option<f64>,
    /// Current version number (1 for a new document).
    pub version: i64,
    /// Number of stored versions.
    pub version_count: i64,
    /// Typed metadata (reach the map through `Deref`:
    /// `doc.metadata.get("team")`).
    pub metadata: LazyMetadata,
}

/// A document's metadata: a [`Metadata`] map, reached through `Deref`.
///
/// A list reads up to a thousand documents whose metadata a caller often
/// never looks at; building each map took a sixth of a list's time (perf).
/// So a list, and a get from a store without a read cache, keep the stored
/// text, already checked to be well formed, and build the map the first
/// time it is reached. Gets through the cache return it built. Either way
/// it compares, prints and serializes as the map.
pub struct LazyMetadata {
    /// The stored JSON object, checked by `metadata::check_flat`; empty
    /// once the map is built from something else.
    text: Box<str>,
    map: std::sync::OnceLock<Metadata>,
}

impl LazyMetadata {
    /// Metadata kept as checked text, built on first use.
    pub(crate) fn from_checked(text: &str) -> Self {
        LazyMetadata {
            text: text.into(),
            map: std::sync::OnceLock::new(),
        }
    }

    /// The map, built now if it was not yet. (Named so as not to hide
    /// the map's own `get`.)
    pub fn map(&self) -> &Metadata {
        self.map
            .get_or_init(|| crate::metadata::parse_checked(&self.text))
    }

    /// The map, owned.
    pub fn into_inner(mut self) -> Metadata {
        self.map();
        self.map.take().unwrap_or_default()
    }

    /// Whether the map has been built.
    pub(crate) fn is_built(&self) -> bool {
        self.map.get().is_some()
    }
}

impl Default for LazyMetadata {
    fn default() -> Self {
        Metadata::new().into()
    }
}

impl From<LazyMetadata> for Metadata {
    fn from(m: LazyMetadata) -> Self {
        m.into_inner()
    }
}

impl<'a> IntoIterator for &'a mut LazyMetadata {
    type Item = (&'a String, &'a mut MetaValue);
    type IntoIter = std::collections::btree_map::IterMut<'a, String, MetaValue>;
    fn into_iter(self) -> Self::IntoIter {
        std::ops::DerefMut::deref_mut(self).iter_mut()
    }
}

impl IntoIterator for LazyMetadata {
    type Item = (String, MetaValue);
    type IntoIter = std::collections::btree_map::IntoIter<String, MetaValue>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_inner().into_iter()
    }
}

impl From<Metadata> for LazyMetadata {
    fn from(m: Metadata) -> Self {
        LazyMetadata {
            text: Box::default(),
            map: std::sync::OnceLock::from(m),
        }
    }
}

impl std::ops::Deref for LazyMetadata {
    type Target = Metadata;
    fn deref(&self) -> &Metadata {
        self.map()
    }
}

impl std::ops::DerefMut for LazyMetadata {
    fn deref_mut(&mut self) -> &mut Metadata {
        self.map();
        self.text = Box::default();
        self.map.get_mut().expect("built just above")
    }
}

impl<'a> IntoIterator for &'a LazyMetadata {
    type Item = (&'a String, &'a MetaValue);
    type IntoIter = std::collections::btree_map::Iter<'a, String, MetaValue>;
    fn into_iter(self) -> Self::IntoIter {
        self.map().iter()
    }
}

impl Clone for LazyMetadata {
    fn clone(&self) -> Self {
        match self.map.get() {
            Some(m) => m.clone().into(),
            None => LazyMetadata::from_checked(&self.text),
        }
    }
}

impl PartialEq for LazyMetadata {
    fn eq(&self, other: &Self) -> bool {
        self.map() == other.map()
    }
}

impl PartialEq<Metadata> for LazyMetadata {
    fn eq(&self, other: &Metadata) -> bool {
        self.map() == other
    }
}

impl PartialEq<LazyMetadata> for Metadata {
    fn eq(&self, other: &LazyMetadata) -> bool {
        self == other.map()
    }
}

impl fmt::Debug for LazyMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.map().fmt(f)
    }
}

impl Serialize for LazyMetadata {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.map().serialize(s)
    }
}

impl<'de> Deserialize<'de> for LazyMetadata {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Metadata::deserialize(d).map(Into::into)
    }
}

/// A document as read: a shared [`DocumentRecord`] (reach its fields
/// directly, `doc.title`, through `Deref`) plus the access figures at the
/// moment of the read.
///
/// Cloning is cheap: the record, content included, is shared, never copied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The stored fields.
    #[serde(flatten)]
    pub record: Arc<DocumentRecord>,
    /// Number of reads, including those not yet flushed to disk.
    pub access_count: i64,
    /// Time of the last read, if any.
    pub last_accessed: Option<Timestamp>,
}

impl std::ops::Deref for Document {
    type Target = DocumentRecord;
    fn deref(&self) -> &DocumentRecord {
        &self.record
    }
}

/// A document to create. Build with [`NewDocument::new`] and the setters.
#[derive(Debug, Clone, Default)]
pub struct NewDocument {
    /// Title (required).
    pub title: String,
    /// Kind; default `other`.
    pub doc_type: Option<DocType>,
    /// State; default `draft`. `deleted` is rejected.
    pub status: Option<Status>,
    /// Format; default `markdown`.
    pub format: Option<String>,
    /// Language; default `en`.
    pub language: Option<String>,
    /// Source path.
    pub source_path: Option<String>,
    /// File path.
    pub file_path: Option<String>,
    /// Content; default empty.
    pub content: String,
    /// Quality score, 0–100.
    pub quality_score: Option<f64>,
    /// Completeness score, 0–100.
    pub completeness_score: Option<f64>,
    /// Initial metadata.
    pub metadata: Metadata,
    /// Author of version 1 and actor in the audit log.
    pub author: Option<String>,
    /// Comment on version 1.
    pub comment: Option<String>,
}

impl NewDocument {
    /// A document with this title and content and default everything else.
    pub fn new(title: impl Into<String>, content: impl Into<String>) -> Self {
        NewDocument {
            title: title.into(),
            content: content.into(),
            ..Default::default()
        }
    }

    /// Sets the type.
    pub fn doc_type(mut self, t: DocType) -> Self {
        self.doc_type = Some(t);
        self
    }

    /// Sets the status.
    pub fn status(mut self, s: Status) -> Self {
        self.status = Some(s);
        self
    }

    /// Adds one metadata entry.
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<MetaValue>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the author.
    pub fn author(mut self, a: impl Into<String>) -> Self {
        self.author = Some(a.into());
        self
    }
}

/// A partial update: only the fields that are `Some` change.
///
/// For optional fields, `Some(None)` clears the field.
#[derive(Debug, Clone, Default)]
pub struct DocumentPatch {
    /// New title.
    pub title: Option<String>,
    /// New type.
    pub doc_type: Option<DocType>,
    /// New status (`deleted` is rejected: use delete).
    pub status: Option<Status>,
    /// New format.
    pub format: Option<String>,
    /// New language.
    pub language: Option<String>,
    /// New or cleared source path.
    pub source_path: Option<Option<String>>,
    /// New or cleared file path.
    pub file_path: Option<Option<String>>,
    /// New content (may be empty). A change records a new version.
    pub content: Option<String>,
    /// New or cleared quality score.
    pub quality_score: Option<Option<f64>>,
    /// New or cleared completeness score.
    pub completeness_score: Option<Option<f64>>,
    /// Replace all metadata with this map (applied before `set_meta`/`unset_meta`).
    pub replace_meta: Option<Metadata>,
    /// Metadata keys to set or replace.
    pub set_meta: Metadata,
    /// Metadata keys to remove (absent keys are ignored).
    pub unset_meta: Vec<String>,
    /// Author of the new version and actor in the audit log.
    pub author: Option<String>,
    /// Comment on the new version.
    pub comment: Option<String>,
    /// Marks the new version as major.
    pub major: bool,
    /// Fail with [`Error::Conflict`] unless the current version is this one.
    pub expect_version: Option<i64>,
}

impl DocumentPatch {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.doc_type.is_none()
            && self.status.is_none()
            && self.format.is_none()
            && self.language.is_none()
            && self.source_path.is_none()
            && self.file_path.is_none()
            && self.content.is_none()
            && self.quality_score.is_none()
            && self.completeness_score.is_none()
            && self.replace_meta.is_none()
            && self.set_meta.is_empty()
            && self.unset_meta.is_empty()
    }
}

/// Options of a read.
#[derive(Debug, Clone, Copy)]
pub struct GetOptions {
    /// Return the content (default true).
    pub include_content: bool,
    /// Return soft-deleted documents too (default false).
    pub include_deleted: bool,
}

impl Default for GetOptions {
    fn default() -> Self {
        GetOptions {
            include_content: true,
            include_deleted: false,
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Smallest first.
    Asc,
    /// Largest first (the default).
    #[default]
    Desc,
}

/// A list query. All filters AND together.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Only this type.
    pub doc_type: Option<DocType>,
    /// Only this status. Deleted documents are excluded unless this is
    /// `Deleted` or `include_deleted` is set.
    pub status: Option<Status>,
    /// Include soft-deleted documents.
    pub include_deleted: bool,
    /// Metadata key = typed value filters.
    pub meta: Vec<(String, MetaValue)>,
    /// Created at or after.
    pub created_after: Option<Timestamp>,
    /// Created strictly before.
    pub created_before: Option<Timestamp>,
    /// Updated at or after.
    pub updated_after: Option<Timestamp>,
    /// Updated strictly before.
    pub updated_before: Option<Timestamp>,
    /// Sort column.
    pub sort: SortField,
    /// Sort direction.
    pub order: Order,
    /// Page size, 1–1000 (default 100).
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            doc_type: None,
            status: None,
            include_deleted: false,
            meta: Vec::new(),
            created_after: None,
            created_before: None,
            updated_after: None,
            updated_before: None,
            sort: SortField::UpdatedAt,
            order: Order::Desc,
            limit: 100,
            offset: 0,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// The documents of this page, without content.
    pub documents: Vec<Document>,
    /// Number of documents matching the filters, over all pages.
    pub total: i64,
    /// This page's number, from 1.
    pub page: i64,
    /// Number of pages.
    pub pages: i64,
}

/// A version without its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The document id.
    pub document_id: i64,
    /// Version number, from 1, gapless.
    pub version: i64,
    /// SHA-256 of this version's content.
    pub content_hash: String,
    /// Content length in bytes.
    pub size_bytes: i64,
    /// Who wrote it.
    pub author: Option<String>,
    /// Why.
    pub comment: Option<String>,
    /// Flagged as a major change.
    pub major: bool,
    /// The version this one restored, if it was made by a restore.
    pub restored_from: Option<i64>,
    /// When.
    pub created_at: Timestamp,
}

/// A version with its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// Everything but the content.
    #[serde(flatten)]
    pub info: VersionInfo,
    /// The content exactly as it was.
    pub content: String,
}
