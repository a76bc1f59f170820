//! Reads of record fields that tolerate missing or ill-typed values, which the schema reports.

use jingxi_sdk::{Record, Value};

/// The string value of `name`, or `None` when it is missing, not a string, or blank.
pub fn text<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
    match record.get(name) {
        Some(Value::String(value)) if !value.trim().is_empty() => Some(value),
        _ => None,
    }
}

/// Whether `name` holds a string made only of whitespace.
pub fn is_blank(record: &Record, name: &str) -> bool {
    matches!(record.get(name), Some(Value::String(value)) if value.trim().is_empty())
}

/// The rows of the child table `name` with their indexes; rows that are not objects are skipped.
pub fn rows<'a>(record: &'a Record, name: &str) -> impl Iterator<Item = (usize, &'a Record)> {
    let rows = match record.get(name) {
        Some(Value::Array(rows)) => rows.as_slice(),
        _ => &[],
    };
    rows.iter()
        .enumerate()
        .filter_map(|(row_idx, row)| row.as_object().map(|row| (row_idx, row)))
}
