//! Typed metadata: how values are stored and read back.
//!
//! Each entry stores its type name beside the value, so an integer comes back
//! as an integer, a float as a float, and JSON arrays and objects as JSON.

use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection};

use crate::error::{Error, Result};
use crate::model::{LazyMetadata, MetaValue, Metadata};

/// The SQL value stored for a metadata value.
pub(crate) fn to_value(v: &MetaValue) -> Value {
    match v {
        MetaValue::Null => Value::Null,
        MetaValue::Bool(b) => Value::Integer(i64::from(*b)),
        MetaValue::Integer(i) => Value::Integer(*i),
        MetaValue::Float(f) => Value::Real(*f),
        MetaValue::String(s) => Value::Text(s.clone()),
        MetaValue::Json(j) => Value::Text(j.to_string()),
    }
}

fn from_sql(key: &str, ty: &str, v: ValueRef<'_>) -> Result<MetaValue> {
    let bad = || {
        Error::Corrupt(format!(
            "metadata {key:?} of type {ty} has a mismatched value"
        ))
    };
    Ok(match (ty, v) {
        ("null", _) => MetaValue::Null,
        ("boolean", ValueRef::Integer(i)) => MetaValue::Bool(i != 0),
        ("integer", ValueRef::Integer(i)) => MetaValue::Integer(i),
        ("float", ValueRef::Real(f)) => MetaValue::Float(f),
        ("float", ValueRef::Integer(i)) => MetaValue::Float(i as f64),
        ("string", ValueRef::Text(t)) => {
            MetaValue::String(String::from_utf8(t.to_vec()).map_err(|_| bad())?)
        }
        ("json", ValueRef::Text(t)) => {
            MetaValue::Json(serde_json::from_slice(t).map_err(|_| bad())?)
        }
        _ => return Err(bad()),
    })
}

/// The metadata as the JSON object stored in the documents row. Typed
/// values survive the trip: integers are written without a fraction, floats
/// always with one (`42.0`), arrays and objects as themselves.
pub(crate) fn to_json_column(m: &Metadata) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

/// Reads the JSON metadata column `i` of a documents row.
pub(crate) fn from_json_column(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Metadata> {
    let text = text_column(r, i)?;
    parse_json_column(text).map_err(|e| damaged(i, e))
}

/// Column `i` as text, or a conversion failure that names the column.
pub(crate) fn text_column<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    r.get_ref(i)?.as_str().map_err(|e| damaged(i, e))
}

fn damaged(i: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
}

/// Parses the metadata column. Floats come back bit for bit: serde_json's
/// default float parser can be one unit in the last place off, so the
/// workspace enables its `float_roundtrip` feature.
pub(crate) fn parse_json_column(text: &str) -> serde_json::Result<Metadata> {
    match parse_flat(text) {
        Some(m) => Ok(m),
        None => serde_json::from_str(text),
    }
}

/// The column read without serde's machinery, for the common shape of the
/// text [`to_json_column`] writes: no escapes in strings (serde_json writes
/// them only for quotes, backslashes and control characters). `None` for
/// anything else (an escape, whitespace, a malformed or out-of-range
/// number, deep nesting, damage), which serde_json then reads or rejects.
///
/// serde_json had taken a fifth of a 100-document list's time on this
/// column (perf). The property tests below hold this path to serde_json's
/// result on arbitrary nearly-valid text.
fn parse_flat(text: &str) -> Option<Metadata> {
    Flat::<true>::top(text)
}

/// Whether [`parse_flat`] reads `text`, found without building anything:
/// the same code, with building switched off, so the two cannot disagree.
/// A list keeps such text unparsed (see [`crate::model::LazyMetadata`]).
pub(crate) fn check_flat(text: &str) -> bool {
    Flat::<false>::top(text).is_some()
}

/// The map of text that passed [`check_flat`].
pub(crate) fn parse_checked(text: &str) -> Metadata {
    parse_flat(text).unwrap_or_else(|| {
        // Cannot happen: `check_flat` ran this very parser on this text.
        // Should that ever break, tests stop here; a release build takes
        // serde_json's answer rather than panicking on a read.
        debug_assert!(false, "checked metadata text failed to parse: {text:?}");
        serde_json::from_str(text).unwrap_or_default()
    })
}

/// Reads the metadata column `i` of a documents row without building the
/// map: kept as text when [`check_flat`] passes it, else parsed now by
/// serde_json (or refused, as damage).
pub(crate) fn lazy_from_json_column(
    r: &rusqlite::Row<'_>,
    i: usize,
) -> rusqlite::Result<LazyMetadata> {
    let text = text_column(r, i)?;
    if check_flat(text) {
        Ok(LazyMetadata::from_checked(text))
    } else {
        // The fast reader has just said no: straight to serde_json.
        serde_json::from_str::<Metadata>(text)
            .map(Into::into)
            .map_err(|e| damaged(i, e))
    }
}

/// Nesting beyond this goes to serde_json (which stops at 128).
const MAX_DEPTH: usize = 32;

/// A reader of the column's text. With `BUILD` false it only checks the
/// text: values come back as placeholders and nothing is allocated.
struct Flat<'a, const BUILD: bool> {
    text: &'a str,
    at: usize,
}

enum Num {
    Int(i64),
    Float(f64),
}

/// A value that is neither an array nor an object, as read.
enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl<'a, const BUILD: bool> Flat<'a, BUILD> {
    fn top(text: &'a str) -> Option<Metadata> {
        let mut p = Flat::<BUILD> { text, at: 0 };
        let mut out = Metadata::new();
        p.object(|p, key| {
            let v = match p.peek()? {
                b'[' | b'{' => MetaValue::Json(p.json(0)?),
                _ => match p.scalar()? {
                    Scalar::Null => MetaValue::Null,
                    Scalar::Bool(b) => MetaValue::Bool(b),
                    Scalar::Int(n) => MetaValue::Integer(n),
                    Scalar::Float(f) => MetaValue::Float(f),
                    // Not copied when only checking.
                    Scalar::Str(s) if BUILD => MetaValue::String(s.to_owned()),
                    Scalar::Str(_) => MetaValue::Null,
                },
            };
            if BUILD {
                out.insert(key.to_owned(), v);
            }
            Some(())
        })?;
        (p.at == text.len()).then_some(out)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// `{"key":value,...}`, calling `entry` after each key and colon to
    /// read the value.
    fn object(&mut self, mut entry: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            entry(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string without escapes or control characters.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let b = self.text.as_bytes();
        let len = b[self.at..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        let end = self.at + len;
        if b[end] != b'"' {
            return None;
        }
        // Quotes are ASCII, so both ends are character boundaries.
        let s = &self.text[self.at..end];
        self.at = end + 1;
        Some(s)
    }

    /// A string, literal or number: what the top level and nested JSON
    /// share.
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        Some(match self.peek()? {
            b'"' => Scalar::Str(self.string()?),
            b'n' => self.word("null", Scalar::Null)?,
            b't' => self.word("true", Scalar::Bool(true))?,
            b'f' => self.word("false", Scalar::Bool(false))?,
            _ => match self.number()? {
                Num::Int(n) => Scalar::Int(n),
                Num::Float(f) => Scalar::Float(f),
            },
        })
    }

    fn word<T>(&mut self, word: &str, v: T) -> Option<T> {
        self.text[self.at..].starts_with(word).then(|| {
            self.at += word.len();
            v
        })
    }

    /// A JSON number: an integer within i64 (not `-0`, which serde_json
    /// reads as a float) or a finite float.
    fn number(&mut self) -> Option<Num> {
        let b = self.text.as_bytes();
        let start = self.at;
        let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
        let mut j = start + usize::from(b.get(start) == Some(&b'-'));
        let int = digits(j);
        // No leading zeros: "0" alone, or a digit 1-9 first.
        if int == 0 || (int > 1 && b[j] == b'0') {
            return None;
        }
        j += int;
        let mut float = false;
        if b.get(j) == Some(&b'.') {
            let frac = digits(j + 1);
            if frac == 0 {
                return None;
            }
            j += 1 + frac;
            float = true;
        }
        if matches!(b.get(j), Some(b'e' | b'E')) {
            j += 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            let exp = digits(j);
            if exp == 0 {
                return None;
            }
            j += exp;
            float = true;
        }
        let s = &self.text[start..j];
        let n = if float {
            // Rust's parse rounds correctly, as serde_json's float_roundtrip
            // does.
            let f: f64 = s.parse().ok()?;
            Num::Float(f.is_finite().then_some(f)?)
        } else {
            let n: i64 = s.parse().ok()?;
            if n == 0 && b[start] == b'-' {
                return None;
            }
            Num::Int(n)
        };
        self.at = j;
        Some(n)
    }

    /// Any JSON value, at most [`MAX_DEPTH`] arrays and objects deep
    /// (`depth` of them enclose it).
    fn json(&mut self, depth: usize) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        if depth >= MAX_DEPTH {
            return None;
        }
        Some(match self.peek()? {
            b'{' => {
                let mut m = serde_json::Map::new();
                self.object(|p, key| {
                    let v = p.json(depth + 1)?;
                    if BUILD {
                        m.insert(key.to_owned(), v);
                    }
                    Some(())
                })?;
                J::Object(m)
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']').is_none() {
                    loop {
                        let v = self.json(depth + 1)?;
                        if BUILD {
                            items.push(v);
                        }
                        match self.peek()? {
                            b',' => self.at += 1,
                            b']' => {
                                self.at += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                J::Array(items)
            }
            _ => match self.scalar()? {
                Scalar::Null => J::Null,
                Scalar::Bool(b) => J::Bool(b),
                Scalar::Int(n) => J::from(n),
                Scalar::Float(f) => J::from(serde_json::Number::from_f64(f)?),
                Scalar::Str(s) if BUILD => J::String(s.to_owned()),
                Scalar::Str(_) => J::Null,
            },
        })
    }
}

/// Metadata of one document as the indexed table holds it (for `check`).
pub(crate) fn load(conn: &Connection, id: i64) -> Result<Metadata> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, value_type, value FROM metadata WHERE document_id = ?1 ORDER BY key",
    )?;
    let mut rows = stmt.query([id])?;
    let mut out = Metadata::new();
    while let Some(r) = rows.next()? {
        let key: String = r.get(0)?;
        let ty: String = r.get(1)?;
        let v = from_sql(&key, &ty, r.get_ref(2)?)?;
        out.insert(key, v);
    }
    Ok(out)
}

pub(crate) fn set(conn: &Connection, id: i64, key: &str, v: &MetaValue) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO metadata (document_id, key, value_type, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(document_id, key) DO UPDATE SET value_type = excluded.value_type, value = excluded.value",
    )?
    .execute(params![id, key, v.type_name(), to_value(v)])?;
    Ok(())
}

pub(crate) fn remove(conn: &Connection, id: i64, key: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM metadata WHERE document_id = ?1 AND key = ?2")?
        .execute(params![id, key])?
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A decimal longer than any float's exact digits, just above halfway
    /// between two floats near 1.
    const LONG_DECIMAL: &str = concat!(
        "1.00000000000000011102230246251565404236316680908203125",
        "000000000000000000000000000000000000000000000000000000000000000000000000000001"
    );

    /// Spellings the fast path must leave to serde_json or read as it does.
    const ODD: &[&str] = &[
        "-0",
        "-0.0",
        "0",
        "01",
        "-01",
        "1.",
        ".5",
        "1.5e",
        "1e400",
        "-1e400",
        "1e-400",
        // Rounding: past 2^53, halfway cases, the largest and smallest floats.
        "9007199254740993",
        "9007199254740993.0",
        "0.1e1",
        "2.5000000000000001",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "4.9406564584124654e-324",
        LONG_DECIMAL,
        "2E+3",
        "2e-0",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "{",
        "}",
        ",",
        ":",
        "\"",
        " ",
        "[1]",
        "{}",
        "{\"a\":1}",
        "nul",
        "nulll",
        "true",
        "tru",
        "-",
        "+1",
        "[",
        "]",
        "[]",
        "[1,]",
        "[-0]",
        "[1e400]",
        "[18446744073709551615]",
        "{\"a\":[1,{\"b\":2.5}]}",
        "[[[[]]]]",
        "{\"a\"}",
        "\"\\\"\"",
        "\"\\u00e9\"",
        "\"\u{1}\"",
        "\"é\"",
    ];

    /// Metadata whose values all take the fast path.
    fn flat_metadata() -> impl Strategy<Value = Metadata> {
        let value = prop_oneof![
            Just(MetaValue::Null),
            any::<bool>().prop_map(MetaValue::Bool),
            any::<i64>().prop_map(MetaValue::Integer),
            proptest::num::f64::NORMAL
                .prop_union(proptest::num::f64::SUBNORMAL)
                .or(proptest::num::f64::ZERO)
                .prop_map(MetaValue::Float),
            "[a-z é日{}\\[\\]:,]{0,12}".prop_map(MetaValue::String),
            // Tags, as the bench's corpus has them, and nested JSON.
            proptest::collection::vec("[a-z é日]{0,6}", 0..4)
                .prop_map(|v| MetaValue::Json(v.into())),
            ("[a-z]{1,4}", any::<i64>(), any::<bool>()).prop_map(|(k, n, b)| {
                MetaValue::Json(serde_json::json!({ k: [n, null, b, 1.5, {"x": []}] }))
            }),
        ];
        proptest::collection::btree_map("[a-z_é]{1,8}", value, 0..6)
    }

    fn meta_value() -> impl Strategy<Value = MetaValue> {
        let text = "[a-z\"\\\\/\u{0}-\u{1f} éü日{}\\[\\]:,]{0,12}";
        prop_oneof![
            Just(MetaValue::Null),
            any::<bool>().prop_map(MetaValue::Bool),
            any::<i64>().prop_map(MetaValue::Integer),
            proptest::num::f64::NORMAL
                .prop_union(proptest::num::f64::SUBNORMAL)
                .or(proptest::num::f64::ZERO)
                .prop_map(MetaValue::Float),
            text.prop_map(MetaValue::String),
            proptest::collection::vec(text, 0..4).prop_map(|v| MetaValue::Json(v.into())),
            (text, any::<i64>())
                .prop_map(|(k, n)| MetaValue::Json(serde_json::json!({ k: [n, null] }))),
        ]
    }

    proptest! {
        // Each odd spelling turns up as a whole value in about one case in
        // a hundred: enough cases that each is met many times.
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The fast path agrees with serde_json wherever it answers, on
        /// objects whose values are written by serde_json or picked from
        /// odd spellings (numbers at the edges of their ranges, leading
        /// zeros, escapes, nested JSON), with up to two fragments spliced
        /// in anywhere: mostly nearly valid text.
        #[test]
        fn the_fast_path_agrees_with_serde_json(
            entries in proptest::collection::vec(("[a-zé]{0,3}", prop_oneof![
                meta_value().prop_map(|v| serde_json::to_string(&v).unwrap()),
                proptest::sample::select(ODD).prop_map(str::to_owned),
            ]), 0..4),
            splices in proptest::collection::vec(
                (any::<usize>(), proptest::sample::select(ODD)), 0..3),
        ) {
            let body: Vec<String> = entries.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let mut text: Vec<char> = format!("{{{}}}", body.join(",")).chars().collect();
            for (at, frag) in splices {
                let at = at % (text.len() + 1);
                text.splice(at..at, frag.chars());
            }
            let text: String = text.into_iter().collect();
            // The check a list keeps text on answers exactly where the
            // parser does.
            prop_assert_eq!(check_flat(&text), parse_flat(&text).is_some(), "{}", text);
            if let Some(fast) = parse_flat(&text) {
                let slow: std::result::Result<Metadata, _> = serde_json::from_str(&text);
                prop_assert_eq!(Some(fast), slow.ok(), "{}", text);
            }
        }
    }

    /// Checked text builds its map on first use and behaves as the map
    /// throughout: equality, printing, JSON, clones, edits.
    #[test]
    fn lazy_metadata_acts_as_its_map() {
        let text = r#"{"n":7,"tags":["a","b"],"team":"core"}"#;
        assert!(check_flat(text));
        let map = parse_json_column(text).unwrap();
        let lazy = LazyMetadata::from_checked(text);
        let clone = lazy.clone();
        assert_eq!(lazy.get("team"), Some(&MetaValue::from("core")));
        assert_eq!(lazy, map);
        assert_eq!(map, clone);
        assert_eq!(lazy, clone);
        assert_eq!(format!("{lazy:?}"), format!("{map:?}"));
        assert_eq!(serde_json::to_string(&clone).unwrap(), text);
        assert_eq!((&lazy).into_iter().count(), 3);
        let mut edited = lazy.clone();
        edited.insert("n".into(), MetaValue::Integer(8));
        assert_eq!(edited.get("n"), Some(&MetaValue::Integer(8)));
        assert_eq!(edited.clone().into_inner().len(), 3);
        let back: LazyMetadata = serde_json::from_str(text).unwrap();
        assert_eq!(back, map);
    }

    /// Nesting too deep for the fast path goes to serde_json, which reads
    /// moderate depths and refuses extreme ones; neither overflows the stack.
    #[test]
    fn deep_nesting_falls_back_to_serde_json() {
        let nested = |n: usize| format!("{{\"a\":{}{}}}", "[".repeat(n), "]".repeat(n));
        assert!(parse_flat(&nested(MAX_DEPTH)).is_some());
        assert!(parse_flat(&nested(MAX_DEPTH + 1)).is_none());
        assert!(parse_json_column(&nested(MAX_DEPTH + 1)).is_ok());
        assert!(parse_json_column(&nested(100_000)).is_err());
    }

    proptest! {
        /// Flat metadata as the store writes it takes the fast path, and
        /// the fast path reads it back exactly.
        #[test]
        fn flat_metadata_takes_the_fast_path(m in flat_metadata()) {
            prop_assert_eq!(parse_flat(&to_json_column(&m)), Some(m));
        }

        #[test]
        fn metadata_column_round_trips(
            m in proptest::collection::btree_map("[a-z_\"\\\\é]{1,8}", meta_value(), 0..6)
        ) {
            let text = to_json_column(&m);
            prop_assert_eq!(parse_json_column(&text).unwrap(), m);
        }
    }
}
