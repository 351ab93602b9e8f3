//! Typed metadata: how values are stored and read back.
//!
//! Each entry stores its type name beside the value, so an integer comes back
//! as an integer, a float as a float, and JSON arrays and objects as JSON.

use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection};

use crate::error::{Error, Result};
use crate::model::{MetaValue, Metadata};

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
    let text = r.get_ref(i)?.as_str()?;
    parse_json_column(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Parses the metadata column. Floats come back bit for bit: serde_json's
/// default float parser can be one unit in the last place off, so the
/// workspace enables its `float_roundtrip` feature.
pub(crate) fn parse_json_column(text: &str) -> serde_json::Result<Metadata> {
    serde_json::from_str(text)
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
        #[test]
        fn metadata_column_round_trips(
            m in proptest::collection::btree_map("[a-z_\"\\\\é]{1,8}", meta_value(), 0..6)
        ) {
            let text = to_json_column(&m);
            prop_assert_eq!(parse_json_column(&text).unwrap(), m);
        }
    }
}
