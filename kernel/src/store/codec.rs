//! JSON values to SQL values and back, per field kind and backend.
//!
//! Decimals are exact everywhere: `NUMERIC(18, scale)` on PostgreSQL and a scaled `INTEGER` on
//! SQLite (so comparisons, ordering and sums stay exact there too).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{ColumnDef, Value as SqlValue};
use sea_orm::{DatabaseBackend, QueryResult};
use serde_json::Value;
use uuid::Uuid;

use crate::model::FieldKind;

/// Kind of the system columns every record table has.
pub fn system_kind(column: &str) -> Option<FieldKind> {
    Some(match column {
        "id" | "owner_id" | "org_unit_id" | "created_by" | "updated_by" => FieldKind::Ref {
            target: "kernel".into(),
        },
        "state" => FieldKind::Text,
        "version" => FieldKind::Integer,
        "created_at" | "updated_at" => FieldKind::DateTime,
        _ => return None,
    })
}

pub fn column_type(def: &mut ColumnDef, kind: &FieldKind, backend: DatabaseBackend) {
    match kind {
        FieldKind::Text => def.text(),
        FieldKind::Date => def.date(),
        FieldKind::DateTime => def.timestamp_with_time_zone(),
        FieldKind::Decimal { scale } => match backend {
            DatabaseBackend::Postgres => def.decimal_len(18, *scale),
            _ => def.big_integer(),
        },
        FieldKind::Integer => def.big_integer(),
        FieldKind::Float => def.double(),
        FieldKind::Boolean => def.boolean(),
        FieldKind::Ref { .. } => def.uuid(),
        FieldKind::Json => match backend {
            DatabaseBackend::Postgres => def.json_binary(),
            _ => def.json(),
        },
    };
}

fn null(kind: &FieldKind, backend: DatabaseBackend) -> SqlValue {
    match kind {
        FieldKind::Text => SqlValue::String(None),
        FieldKind::Date => SqlValue::ChronoDate(None),
        FieldKind::DateTime => SqlValue::ChronoDateTimeUtc(None),
        FieldKind::Decimal { .. } if backend == DatabaseBackend::Postgres => {
            SqlValue::Decimal(None)
        }
        FieldKind::Decimal { .. } | FieldKind::Integer => SqlValue::BigInt(None),
        FieldKind::Float => SqlValue::Double(None),
        FieldKind::Boolean => SqlValue::Bool(None),
        FieldKind::Ref { .. } => SqlValue::Uuid(None),
        FieldKind::Json => SqlValue::Json(None),
    }
}

/// Parses an RFC 3339 date-time, kept to microseconds (PostgreSQL's precision).
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    let micros = parsed.timestamp_micros();
    DateTime::from_timestamp_micros(micros)
}

pub fn format_datetime(value: DateTime<Utc>) -> String {
    value.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Converts one JSON value to the SQL value of a column; `Err` says what was expected.
pub fn to_sql(
    kind: &FieldKind,
    value: Option<&Value>,
    backend: DatabaseBackend,
) -> Result<SqlValue, String> {
    let value = match value {
        None | Some(Value::Null) => return Ok(null(kind, backend)),
        Some(value) => value,
    };
    let text = value.as_str();
    // PostgreSQL text cannot hold NUL characters; refusing them everywhere keeps both backends
    // alike.
    if text.is_some_and(|t| t.contains('\0')) {
        return Err("text without NUL characters".into());
    }
    let sql = match kind {
        FieldKind::Text => SqlValue::String(Some(Box::new(
            text.map(str::to_string)
                .unwrap_or_else(|| value.to_string()),
        ))),
        FieldKind::Date => {
            let date = text
                .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
                .ok_or("a date such as 2026-11-27")?;
            SqlValue::ChronoDate(Some(Box::new(date)))
        }
        FieldKind::DateTime => {
            let at = text
                .and_then(parse_datetime)
                .ok_or("a date-time such as 2026-11-27T09:30:00+08:00")?;
            SqlValue::ChronoDateTimeUtc(Some(Box::new(at)))
        }
        FieldKind::Decimal { scale } => {
            let decimal = match value {
                Value::String(t) => crate::model::parse_decimal(t, *scale),
                Value::Number(n) => crate::model::parse_decimal(&n.to_string(), *scale),
                _ => None,
            }
            .ok_or("a decimal string such as \"1234.50\"")?;
            match backend {
                DatabaseBackend::Postgres => SqlValue::Decimal(Some(Box::new(decimal))),
                _ => SqlValue::BigInt(Some(scaled(decimal, *scale).ok_or("a smaller amount")?)),
            }
        }
        FieldKind::Integer => SqlValue::BigInt(Some(value.as_i64().ok_or("an integer")?)),
        FieldKind::Float => SqlValue::Double(Some(value.as_f64().ok_or("a number")?)),
        FieldKind::Boolean => SqlValue::Bool(Some(value.as_bool().ok_or("true or false")?)),
        FieldKind::Ref { .. } => {
            let id = text.and_then(|t| Uuid::parse_str(t).ok()).ok_or("a UUID")?;
            SqlValue::Uuid(Some(Box::new(id)))
        }
        FieldKind::Json => {
            if value.to_string().contains("\\u0000") {
                return Err("JSON without NUL characters".into());
            }
            SqlValue::Json(Some(Box::new(value.clone())))
        }
    };
    Ok(sql)
}

fn scaled(decimal: Decimal, scale: u32) -> Option<i64> {
    let mut value = decimal;
    value.rescale(scale);
    i64::try_from(value.mantissa()).ok()
}

/// The JSON a column written with `value` reads back as: what [`from_row`] returns for it, without
/// asking the database.
pub fn from_sql(kind: &FieldKind, value: &SqlValue) -> Value {
    match value {
        SqlValue::String(Some(text)) => Value::String(text.to_string()),
        SqlValue::ChronoDate(Some(date)) => Value::String(date.format("%Y-%m-%d").to_string()),
        SqlValue::ChronoDateTimeUtc(Some(at)) => Value::String(format_datetime(**at)),
        SqlValue::Decimal(Some(decimal)) => {
            let mut decimal = **decimal;
            if let FieldKind::Decimal { scale } = kind {
                decimal.rescale(*scale);
            }
            Value::String(decimal.to_string())
        }
        SqlValue::BigInt(Some(number)) => match kind {
            FieldKind::Decimal { scale } => {
                let mut decimal = Decimal::new(*number, *scale);
                decimal.rescale(*scale);
                Value::String(decimal.to_string())
            }
            _ => Value::from(*number),
        },
        SqlValue::Double(Some(number)) => Value::from(*number),
        SqlValue::Bool(Some(flag)) => Value::Bool(*flag),
        SqlValue::Uuid(Some(id)) => Value::String(id.to_string()),
        SqlValue::Json(Some(json)) => (**json).clone(),
        _ => Value::Null,
    }
}

/// Reads one column of a row as JSON.
pub fn from_row(
    row: &QueryResult,
    column: &str,
    kind: &FieldKind,
    backend: DatabaseBackend,
) -> Result<Value, sea_orm::DbErr> {
    Ok(match kind {
        FieldKind::Text => row
            .try_get::<Option<String>>("", column)?
            .map(Value::String)
            .unwrap_or(Value::Null),
        FieldKind::Date => row
            .try_get::<Option<NaiveDate>>("", column)?
            .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
            .unwrap_or(Value::Null),
        FieldKind::DateTime => row
            .try_get::<Option<DateTime<Utc>>>("", column)?
            .map(|d| Value::String(format_datetime(d)))
            .unwrap_or(Value::Null),
        FieldKind::Decimal { scale } => {
            let decimal = match backend {
                DatabaseBackend::Postgres => row.try_get::<Option<Decimal>>("", column)?,
                _ => row
                    .try_get::<Option<i64>>("", column)?
                    .map(|v| Decimal::new(v, *scale)),
            };
            decimal
                .map(|mut d| {
                    d.rescale(*scale);
                    Value::String(d.to_string())
                })
                .unwrap_or(Value::Null)
        }
        FieldKind::Integer => row
            .try_get::<Option<i64>>("", column)?
            .map(Value::from)
            .unwrap_or(Value::Null),
        FieldKind::Float => row
            .try_get::<Option<f64>>("", column)?
            .map(Value::from)
            .unwrap_or(Value::Null),
        FieldKind::Boolean => row
            .try_get::<Option<bool>>("", column)?
            .map(Value::Bool)
            .unwrap_or(Value::Null),
        FieldKind::Ref { .. } => row
            .try_get::<Option<Uuid>>("", column)?
            .map(|id| Value::String(id.to_string()))
            .unwrap_or(Value::Null),
        FieldKind::Json => row
            .try_get::<Option<Value>>("", column)?
            .unwrap_or(Value::Null),
    })
}
