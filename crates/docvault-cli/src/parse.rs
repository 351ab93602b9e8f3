//! Turning command-line strings into library values. Every failure is a
//! `validation` error (or `io` for files), never a panic.

use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use docvault::{DocRef, Error, MetaValue, Result, Timestamp};

use crate::open::io_error;

pub fn validation(field: &str, reason: impl Into<String>) -> Error {
    Error::Validation {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Parses with the library's `FromStr`, whose error lists the valid values.
pub fn opt<T: FromStr<Err = Error>>(s: Option<&str>) -> Result<Option<T>> {
    s.map(str::parse).transpose()
}

pub fn doc_ref(s: &str) -> Result<DocRef> {
    DocRef::parse(s)
}

pub fn timestamp(s: Option<&str>) -> Result<Option<Timestamp>> {
    s.map(Timestamp::parse).transpose()
}

/// `KEY=VALUE` is a string; `KEY:=JSON` a typed value. The split is at the
/// first `=`, so values may contain `=` but keys may not.
pub fn meta(arg: &str) -> Result<(String, MetaValue)> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(validation(
            "metadata",
            format!("{arg:?} is not KEY=VALUE or KEY:=JSON"),
        ));
    };
    match key.strip_suffix(':') {
        Some(key) => {
            let json: serde_json::Value = serde_json::from_str(value).map_err(|e| {
                validation(
                    "metadata",
                    format!(
                        "value of {key:?} is not valid JSON ({e}): {:?}",
                        excerpt(value)
                    ),
                )
            })?;
            // serde_json reads integers beyond u64 as floats; refuse them as
            // from_json refuses those beyond i64, instead of rounding.
            let digits = value.trim().strip_prefix('-').unwrap_or(value.trim());
            if json.is_f64() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(validation(
                    "metadata",
                    format!("integer {} is out of the 64-bit signed range", value.trim()),
                ));
            }
            Ok((key.to_string(), MetaValue::from_json(json)?))
        }
        None => Ok((key.to_string(), MetaValue::String(value.to_string()))),
    }
}

/// The start of a long value, for error messages that should stay one line.
fn excerpt(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(MAX).collect::<String>())
    }
}

pub fn metas(args: &[String]) -> Result<Vec<(String, MetaValue)>> {
    args.iter().map(|a| meta(a)).collect()
}

/// Reads content from a file, or stdin for `-`. Reading stops just past
/// `max_bytes`, so a huge file is refused without being loaded whole.
pub fn content_file(path: &Path, max_bytes: usize) -> Result<String> {
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(Path::new("<stdin>"), e))?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_end(&mut bytes))
            .map_err(|e| io_error(path, e))?;
    }
    if bytes.len() > max_bytes {
        return Err(validation(
            "content",
            format!(
                "{} is larger than {max_bytes} bytes, the most allowed",
                path.display()
            ),
        ));
    }
    docvault::validate::content_from_bytes(bytes, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_forms() {
        assert_eq!(
            meta("a=b=c").ok(),
            Some(("a".into(), MetaValue::String("b=c".into())))
        );
        assert_eq!(
            meta("n:=42").ok(),
            Some(("n".into(), MetaValue::Integer(42)))
        );
        assert_eq!(
            meta("f:=1.5").ok(),
            Some(("f".into(), MetaValue::Float(1.5)))
        );
        assert_eq!(meta("x:=null").ok(), Some(("x".into(), MetaValue::Null)));
        assert_eq!(
            meta("a:b=c").ok(),
            Some(("a:b".into(), MetaValue::String("c".into())))
        );
        assert_eq!(
            meta("e=").ok(),
            Some(("e".into(), MetaValue::String("".into())))
        );
        assert!(meta("novalue").is_err());
        assert!(meta("bad:={").is_err());
        assert!(meta("big:=99999999999999999999").is_err());
        assert!(meta("big:=9223372036854775808").is_err());
        assert_eq!(
            meta("f:=1e20").ok(),
            Some(("f".into(), MetaValue::Float(1e20)))
        );
    }
}
