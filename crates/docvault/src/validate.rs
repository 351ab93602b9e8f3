//! Input validation. Every check names the field it rejects; nothing is
//! written when one fails.

use crate::error::{Error, Result};
use crate::model::{MetaValue, Metadata};

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 255;
/// Longest metadata key, in characters.
pub const MAX_META_KEY_CHARS: usize = 100;
/// Longest format name, in characters.
pub const MAX_FORMAT_CHARS: usize = 32;
/// Longest path, author or comment, in bytes.
pub const MAX_SHORT_TEXT_BYTES: usize = 4096;

/// A title: 1–255 characters, not blank, no control characters.
pub fn title(t: &str) -> Result<()> {
    let n = t.chars().count();
    if t.trim().is_empty() {
        return Err(Error::validation("title", "must not be empty or blank"));
    }
    if n > MAX_TITLE_CHARS {
        return Err(Error::validation(
            "title",
            format!("is {n} characters; at most {MAX_TITLE_CHARS} allowed"),
        ));
    }
    no_control("title", t)
}

/// A language: two lowercase ASCII letters.
pub fn language(l: &str) -> Result<()> {
    if l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(Error::validation(
            "language",
            format!("{l:?} is not two lowercase letters (e.g. \"en\")"),
        ))
    }
}

/// A format name: 1–32 letters, digits, `-`, `_`, `.` or `+`.
pub fn format(f: &str) -> Result<()> {
    if f.is_empty()
        || f.chars().count() > MAX_FORMAT_CHARS
        || !f
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
    {
        return Err(Error::validation(
            "format",
            format!("{f:?} must be 1-{MAX_FORMAT_CHARS} characters of letters, digits, - _ . +"),
        ));
    }
    Ok(())
}

pub(crate) fn content(c: &str, max_bytes: usize) -> Result<()> {
    if c.len() > max_bytes {
        return Err(Error::validation(
            "content",
            format!("is {} bytes; at most {max_bytes} allowed", c.len()),
        ));
    }
    if c.as_bytes().contains(&0) {
        return Err(Error::validation(
            "content",
            "contains NUL bytes (binary content is not accepted)",
        ));
    }
    Ok(())
}

/// Turns raw bytes into content: valid UTF-8 without NUL bytes and at most
/// `max_bytes` long, or a validation error. Useful for content read from files.
pub fn content_from_bytes(bytes: Vec<u8>, max_bytes: usize) -> Result<String> {
    if bytes.len() > max_bytes {
        return Err(Error::validation(
            "content",
            format!("is {} bytes; at most {max_bytes} allowed", bytes.len()),
        ));
    }
    let s = String::from_utf8(bytes).map_err(|e| {
        Error::validation(
            "content",
            format!(
                "is not valid UTF-8 (binary content is not accepted): invalid byte at offset {}",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    content(&s, max_bytes)?;
    Ok(s)
}

pub(crate) fn score(field: &str, s: Option<f64>) -> Result<()> {
    match s {
        Some(v) if !(v.is_finite() && (0.0..=100.0).contains(&v)) => Err(Error::validation(
            field,
            format!("{v} is not a number between 0 and 100"),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn short_text(field: &str, s: Option<&str>) -> Result<()> {
    if let Some(s) = s {
        if s.len() > MAX_SHORT_TEXT_BYTES {
            return Err(Error::validation(
                field,
                format!(
                    "is {} bytes; at most {MAX_SHORT_TEXT_BYTES} allowed",
                    s.len()
                ),
            ));
        }
        if s.contains('\0') {
            return Err(Error::validation(field, "contains NUL bytes"));
        }
    }
    Ok(())
}

fn no_control(field: &str, s: &str) -> Result<()> {
    if s.chars().any(|c| c.is_control()) {
        return Err(Error::validation(field, "contains control characters"));
    }
    Ok(())
}

/// A metadata key: 1–100 characters, no surrounding spaces or control characters.
pub fn meta_key(k: &str) -> Result<()> {
    let n = k.chars().count();
    if n == 0 || n > MAX_META_KEY_CHARS {
        return Err(Error::validation(
            "metadata",
            format!("key {k:?} must be 1-{MAX_META_KEY_CHARS} characters"),
        ));
    }
    if k.trim() != k || k.chars().any(|c| c.is_control()) {
        return Err(Error::validation(
            "metadata",
            format!("key {k:?} must not have surrounding spaces or control characters"),
        ));
    }
    Ok(())
}

pub(crate) fn meta_value(k: &str, v: &MetaValue, max_bytes: usize) -> Result<()> {
    match v {
        MetaValue::Float(f) if !f.is_finite() => Err(Error::validation(
            "metadata",
            format!("value of {k:?} is not a finite number"),
        )),
        MetaValue::String(s) if s.contains('\0') || s.len() > max_bytes => Err(Error::validation(
            "metadata",
            format!("value of {k:?} contains NUL bytes or is larger than {max_bytes} bytes"),
        )),
        MetaValue::Json(j) if !(j.is_array() || j.is_object()) => Err(Error::validation(
            "metadata",
            format!("value of {k:?}: Json holds only arrays and objects"),
        )),
        MetaValue::Json(j) if j.to_string().len() > max_bytes => Err(Error::validation(
            "metadata",
            format!("value of {k:?} is larger than {max_bytes} bytes"),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn metadata(m: &Metadata, max_bytes: usize) -> Result<()> {
    for (k, v) in m {
        meta_key(k)?;
        meta_value(k, v, max_bytes)?;
    }
    Ok(())
}
