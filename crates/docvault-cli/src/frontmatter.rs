//! Markdown files with YAML front matter: reading them into document fields
//! and writing documents back so that a re-import reproduces them exactly.
//!
//! Front matter keys `title`, `type`, `status`, `language` and `format` set
//! those fields when their value is valid for the field; every other key
//! (and an invalid one of those) becomes typed metadata. When a document's
//! metadata itself uses one of those names, export nests all metadata under
//! a `metadata:` mapping, and import merges such a mapping back.

use docvault::{DocType, Document, Error, MetaValue, Metadata, Result, Status};
use serde_json::Value as J;
use serde_yaml_ng::{Mapping, Value as Y};

use crate::parse::validation;

/// Keys that are fields, not metadata, when they appear in front matter.
const FIELD_KEYS: &[&str] = &["title", "type", "status", "language", "format"];
/// Where export nests metadata whose keys collide with [`FIELD_KEYS`].
const NESTED_KEY: &str = "metadata";
const MAX_TITLE_CHARS: usize = docvault::validate::MAX_TITLE_CHARS;

/// A Markdown file, understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub title: String,
    pub doc_type: Option<DocType>,
    pub status: Option<Status>,
    pub language: Option<String>,
    pub format: Option<String>,
    pub metadata: Metadata,
    /// The text after the front matter, byte for byte.
    pub content: String,
}

/// Splits `---\n<yaml>---\n<body>` at the very start of the text. The
/// closing line may also be `...` (YAML's document end marker).
fn split(text: &str) -> Option<(&str, &str)> {
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut pos = 0;
    for line in rest.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare == "..." {
            return Some((&rest[..pos], &rest[pos + line.len()..]));
        }
        pos += line.len();
    }
    None
}

fn key_string(k: Y) -> Result<String> {
    match k {
        Y::String(s) => Ok(s),
        Y::Number(n) => Ok(n.to_string()),
        Y::Bool(b) => Ok(b.to_string()),
        Y::Tagged(t) => key_string(t.value),
        _ => Err(validation(
            "front matter",
            "keys must be strings, numbers or booleans",
        )),
    }
}

/// YAML to JSON, keeping integers integers and floats floats. Tags are
/// dropped: they carry no meaning for metadata.
fn yaml_to_json(v: Y) -> Result<J> {
    Ok(match v {
        Y::Null => J::Null,
        Y::Bool(b) => J::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else if let Some(u) = n.as_u64() {
                // Out of i64 range: MetaValue::from_json names the problem.
                J::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(J::Number)
                    .ok_or_else(|| {
                        validation("front matter", format!("{n} is not a finite number"))
                    })?
            }
        }
        Y::String(s) => J::String(s),
        Y::Sequence(seq) => J::Array(seq.into_iter().map(yaml_to_json).collect::<Result<_>>()?),
        Y::Mapping(m) => {
            let mut o = serde_json::Map::new();
            for (k, v) in m {
                o.insert(key_string(k)?, yaml_to_json(v)?);
            }
            J::Object(o)
        }
        Y::Tagged(t) => yaml_to_json(t.value)?,
    })
}

/// The library's title rule, checked here so that an unusable front matter
/// title falls back to the heading instead of failing the file.
fn valid_title(t: &str) -> bool {
    !t.trim().is_empty() && t.chars().count() <= MAX_TITLE_CHARS && !t.chars().any(char::is_control)
}

fn valid_language(l: &str) -> bool {
    l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase())
}

fn valid_format(f: &str) -> bool {
    !f.is_empty()
        && f.chars().count() <= 32
        && f.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
}

/// The first `# ` heading of the body, if it makes a valid title.
fn heading(body: &str) -> Option<String> {
    body.lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|h| h.trim().trim_end_matches('#').trim().to_string())
        .filter(|h| valid_title(h))
}

/// A usable title from a file name: control characters dropped, cut to the
/// longest title allowed.
fn stem_title(stem: &str) -> String {
    let t: String = stem
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TITLE_CHARS)
        .collect();
    if t.trim().is_empty() {
        "untitled".into()
    } else {
        t
    }
}

/// Reads a Markdown file's text. `stem` names the file for the last-resort
/// title.
pub fn parse(text: &str, stem: &str) -> Result<Parsed> {
    let (front, body) = match split(text) {
        Some((yaml, body)) => (Some(yaml), body),
        None => (None, text),
    };
    let mut out = Parsed {
        title: String::new(),
        doc_type: None,
        status: None,
        language: None,
        format: None,
        metadata: Metadata::new(),
        content: body.to_string(),
    };
    let mut title = None;
    if let Some(yaml) = front {
        let value: Y = serde_yaml_ng::from_str(yaml)
            .map_err(|e| validation("front matter", format!("is not valid YAML: {e}")))?;
        let map = match value {
            Y::Mapping(m) => m,
            Y::Null => Mapping::new(),
            _ => {
                return Err(validation(
                    "front matter",
                    "must be a mapping of keys to values",
                ))
            }
        };
        for (k, v) in map {
            let key = key_string(k)?;
            let v = yaml_to_json(v)?;
            let s = v.as_str();
            match key.as_str() {
                "title" if s.is_some_and(valid_title) => title = s.map(str::to_string),
                "type" if s.and_then(|s| s.parse::<DocType>().ok()).is_some() => {
                    out.doc_type = s.and_then(|s| s.parse().ok());
                }
                "status"
                    if s.and_then(|s| s.parse::<Status>().ok())
                        .is_some_and(|st| st != Status::Deleted) =>
                {
                    out.status = s.and_then(|s| s.parse().ok());
                }
                "language" if s.is_some_and(valid_language) => {
                    out.language = s.map(str::to_string);
                }
                "format" if s.is_some_and(valid_format) => out.format = s.map(str::to_string),
                NESTED_KEY if v.is_object() => {
                    if let J::Object(o) = v {
                        for (k, v) in o {
                            out.metadata.insert(k, MetaValue::from_json(v)?);
                        }
                    }
                }
                _ => {
                    out.metadata.insert(key, MetaValue::from_json(v)?);
                }
            }
        }
    }
    out.title = title
        .or_else(|| heading(body))
        .unwrap_or_else(|| stem_title(stem));
    Ok(out)
}

fn yaml(v: &J) -> Result<Y> {
    serde_yaml_ng::to_value(v).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))
}

/// The document as a Markdown file: front matter, then the content as is.
pub fn render(d: &Document) -> Result<String> {
    let mut m = Mapping::new();
    m.insert("title".into(), d.title.clone().into());
    m.insert("type".into(), d.doc_type.as_str().into());
    m.insert("status".into(), d.status.as_str().into());
    m.insert("language".into(), d.language.clone().into());
    if d.format != "markdown" {
        m.insert("format".into(), d.format.clone().into());
    }
    let mut meta = Mapping::new();
    for (k, v) in &d.metadata {
        meta.insert(k.clone().into(), yaml(&v.to_json())?);
    }
    let collides = d
        .metadata
        .keys()
        .any(|k| FIELD_KEYS.contains(&k.as_str()) || k == NESTED_KEY);
    if collides {
        m.insert(NESTED_KEY.into(), Y::Mapping(meta));
    } else {
        m.extend(meta);
    }
    let front = serde_yaml_ng::to_string(&Y::Mapping(m))
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    let content = d.content.as_deref().unwrap_or("");
    Ok(format!("---\n{front}---\n{content}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_front_matter_uses_heading_then_stem() {
        let p = parse("intro\n# Hello  \nbody", "file").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.title, "Hello");
        assert_eq!(p.content, "intro\n# Hello  \nbody");
        let p = parse("no heading", "my-file").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.title, "my-file");
    }

    #[test]
    fn front_matter_fields_and_typed_metadata() {
        let text = "---\ntitle: T\ntype: api\nstatus: bogus\nn: 42\nf: 1.0\ntags: [a, b]\nmetadata:\n  title: inner\n---\n# Body\n";
        let p = parse(text, "x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.title, "T");
        assert_eq!(p.doc_type, Some(DocType::Api));
        assert_eq!(p.status, None);
        assert_eq!(
            p.metadata.get("status"),
            Some(&MetaValue::String("bogus".into()))
        );
        assert_eq!(p.metadata.get("n"), Some(&MetaValue::Integer(42)));
        assert_eq!(p.metadata.get("f"), Some(&MetaValue::Float(1.0)));
        assert_eq!(
            p.metadata.get("title"),
            Some(&MetaValue::String("inner".into()))
        );
        assert!(matches!(p.metadata.get("tags"), Some(MetaValue::Json(_))));
        assert_eq!(p.content, "# Body\n");
    }

    #[test]
    fn empty_and_unterminated_front_matter() {
        let p = parse("---\n---\nbody", "s").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.content, "body");
        let p = parse("---\nnot closed", "s").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.content, "---\nnot closed");
        assert!(parse("---\n[1, 2]\n---\n", "s").is_err());
        assert!(parse("---\na: [\n---\n", "s").is_err());
    }
}
