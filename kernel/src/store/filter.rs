//! Record filters and ordering, compiled to SQL conditions with bound parameters only.
//!
//! **Invariant:** a value from a client is always a bound parameter, never SQL text; a field name
//! is always checked against the entity definition before it becomes a column.

use sea_orm::DatabaseBackend;
use sea_orm::sea_query::extension::postgres::PgBinOper;
use sea_orm::sea_query::{Alias, Cond, Condition, Expr, SimpleExpr};
use serde_json::Value;

use super::codec::{system_kind, to_sql};
use super::{Error, Result};
use crate::model::{EntityDef, FieldKind};

/// A condition tree on one entity. Field names are schema names (`customer_no`) or system
/// columns (`id`, `state`, `version`, `owner_id`, `org_unit_id`, `created_at`, …).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Field { field: String, op: Op },
}

/// Comparison operators. `Like` uses `%` and `_` wildcards and ignores ASCII case on both backends.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Lt(Value),
    Lte(Value),
    Gt(Value),
    Gte(Value),
    Like(String),
    IsNull(bool),
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub field: String,
    pub descending: bool,
}

/// Largest `in`/`notIn` list accepted.
const MAX_IN_VALUES: usize = 1000;
/// Deepest nesting of `and`/`or`/`not` accepted.
pub const MAX_FILTER_DEPTH: usize = 32;
/// Most conditions (field comparisons and combinators) in one filter: keeps the statement far
/// inside SQLite's expression-depth limit.
const MAX_FILTER_NODES: usize = 500;
/// Most values bound by one filter: far below both backends' parameter limits.
const MAX_FILTER_VALUES: usize = 5000;
/// Longest `like` pattern, in characters.
const MAX_LIKE_CHARS: usize = 1000;

/// Refuses filters too deep, too wide or binding too many values before any SQL is built.
pub(super) fn check_size(filter: &Filter) -> Result<()> {
    fn walk(filter: &Filter, depth: usize, nodes: &mut usize, values: &mut usize) -> Result<()> {
        let too_big = |message: String| Error::BadFilter {
            field: String::new(),
            message,
        };
        if depth > MAX_FILTER_DEPTH {
            return Err(too_big(format!(
                "filters nest at most {MAX_FILTER_DEPTH} levels of and/or/not"
            )));
        }
        *nodes += 1;
        if *nodes > MAX_FILTER_NODES {
            return Err(too_big(format!(
                "a filter holds at most {MAX_FILTER_NODES} conditions"
            )));
        }
        match filter {
            Filter::And(items) | Filter::Or(items) => {
                for item in items {
                    walk(item, depth + 1, nodes, values)?;
                }
            }
            Filter::Not(inner) => walk(inner, depth + 1, nodes, values)?,
            Filter::Field { op, .. } => {
                *values += match op {
                    Op::In(items) | Op::NotIn(items) => items.len(),
                    _ => 1,
                };
                if *values > MAX_FILTER_VALUES {
                    return Err(too_big(format!(
                        "a filter compares with at most {MAX_FILTER_VALUES} values"
                    )));
                }
            }
        }
        Ok(())
    }
    walk(filter, 0, &mut 0, &mut 0)
}

/// The kind of a field the caller may filter or sort on: a field above the caller's read level
/// is as unknown as a missing one, so a filter cannot probe hidden values.
pub(super) fn kind_of(entity: &EntityDef, field: &str, level: u8) -> Result<FieldKind> {
    if let Some(kind) = system_kind(field) {
        return Ok(kind);
    }
    entity
        .field(field)
        .filter(|f| f.level <= level)
        .map(|f| f.kind.clone())
        .ok_or_else(|| Error::BadFilter {
            field: field.to_string(),
            message: format!("{} has no such field", entity.qualified),
        })
}

fn column(table: &str, field: &str) -> Expr {
    Expr::col((Alias::new(table), Alias::new(field)))
}

pub(super) fn condition(
    entity: &EntityDef,
    filter: &Filter,
    backend: DatabaseBackend,
    level: u8,
) -> Result<Condition> {
    check_size(filter)?;
    build(entity, filter, backend, level)
}

fn build(
    entity: &EntityDef,
    filter: &Filter,
    backend: DatabaseBackend,
    level: u8,
) -> Result<Condition> {
    Ok(match filter {
        Filter::And(items) => {
            let mut cond = Cond::all();
            for item in items {
                cond = cond.add(build(entity, item, backend, level)?);
            }
            cond
        }
        Filter::Or(items) => {
            let mut cond = Cond::any();
            for item in items {
                cond = cond.add(build(entity, item, backend, level)?);
            }
            cond
        }
        Filter::Not(inner) => build(entity, inner, backend, level)?.not(),
        Filter::Field { field, op } => Cond::all().add(compare(entity, field, op, backend, level)?),
    })
}

fn compare(
    entity: &EntityDef,
    field: &str,
    op: &Op,
    backend: DatabaseBackend,
    level: u8,
) -> Result<SimpleExpr> {
    let kind = kind_of(entity, field, level)?;
    let value = |json: &Value| {
        if json.is_null() {
            return Err(Error::BadFilter {
                field: field.into(),
                message: "null is not a value here; use isNull".into(),
            });
        }
        to_sql(&kind, Some(json), backend).map_err(|expected| Error::BadFilter {
            field: field.into(),
            message: format!("expected {expected}, got {json}"),
        })
    };
    let list = |items: &Vec<Value>| {
        if items.len() > MAX_IN_VALUES {
            return Err(Error::BadFilter {
                field: field.into(),
                message: format!("at most {MAX_IN_VALUES} values are allowed in a list"),
            });
        }
        items.iter().map(value).collect::<Result<Vec<_>>>()
    };
    let ordered = || {
        if matches!(kind, FieldKind::Json | FieldKind::Boolean) {
            return Err(Error::BadFilter {
                field: field.into(),
                message: "this field cannot be compared by order".into(),
            });
        }
        Ok(())
    };
    let col = column(&entity.table, field);
    Ok(match op {
        Op::Eq(v) => col.eq(value(v)?),
        Op::Ne(v) => {
            // SQL's `<>` drops NULLs; a client asking "not X" expects empty fields too.
            let col2 = column(&entity.table, field);
            Cond::any()
                .add(col.ne(value(v)?))
                .add(col2.is_null())
                .into()
        }
        Op::In(items) => {
            if items.is_empty() {
                Expr::val(1).eq(0)
            } else {
                col.is_in(list(items)?)
            }
        }
        Op::NotIn(items) => {
            if items.is_empty() {
                Expr::val(1).eq(1)
            } else {
                let col2 = column(&entity.table, field);
                Cond::any()
                    .add(col.is_not_in(list(items)?))
                    .add(col2.is_null())
                    .into()
            }
        }
        Op::Lt(v) => {
            ordered()?;
            col.lt(value(v)?)
        }
        Op::Lte(v) => {
            ordered()?;
            col.lte(value(v)?)
        }
        Op::Gt(v) => {
            ordered()?;
            col.gt(value(v)?)
        }
        Op::Gte(v) => {
            ordered()?;
            col.gte(value(v)?)
        }
        Op::Like(pattern) => {
            if kind != FieldKind::Text {
                return Err(Error::BadFilter {
                    field: field.into(),
                    message: "like applies to text fields only".into(),
                });
            }
            if pattern.chars().count() > MAX_LIKE_CHARS || pattern.contains('\0') {
                return Err(Error::BadFilter {
                    field: field.into(),
                    message: format!(
                        "a like pattern has at most {MAX_LIKE_CHARS} characters and no NUL"
                    ),
                });
            }
            match backend {
                // A backslash is an escape character in PostgreSQL's LIKE and a plain character
                // in SQLite's: doubling it makes it plain on both.
                DatabaseBackend::Postgres => {
                    col.binary(PgBinOper::ILike, Expr::val(pattern.replace('\\', "\\\\")))
                }
                _ => col.like(pattern.as_str()),
            }
        }
        Op::IsNull(true) => col.is_null(),
        Op::IsNull(false) => col.is_not_null(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Query, SqliteQueryBuilder};
    use serde_json::json;

    fn entity() -> EntityDef {
        EntityDef::new(
            "crm",
            "customer",
            json!({"type": "object", "title": "客户", "properties": {
                "name": {"type": "string", "title": "名称"},
                "potential": {"type": "string", "title": "潜力", "x-jingxi": {"money": {}}},
                "margin": {"type": "integer", "title": "毛利", "x-jingxi": {"level": 2}}
            }}),
        )
        .expect("entity")
    }

    fn sql(filter: Filter) -> Result<(String, Vec<String>)> {
        sql_at_level(filter, 0)
    }

    fn sql_at_level(filter: Filter, level: u8) -> Result<(String, Vec<String>)> {
        let entity = entity();
        let cond = condition(&entity, &filter, DatabaseBackend::Sqlite, level)?;
        let (sql, values) = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("t"))
            .cond_where(cond)
            .build(SqliteQueryBuilder);
        Ok((sql, values.0.iter().map(|v| format!("{v:?}")).collect()))
    }

    #[test]
    fn values_are_bound_never_inlined() {
        let hostile = "x'; DROP TABLE tenant; --";
        let (text, values) = sql(Filter::Field {
            field: "name".into(),
            op: Op::Eq(json!(hostile)),
        })
        .expect("filter");
        assert!(!text.contains("DROP"), "{text}");
        assert!(values[0].contains("DROP TABLE"), "{values:?}");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let error = sql(Filter::Field {
            field: "nope\"".into(),
            op: Op::Eq(json!(1)),
        })
        .expect_err("unknown");
        assert!(error.to_string().contains("no such field"));
        let error = sql(Filter::Field {
            field: "potential".into(),
            op: Op::Gt(json!("lots")),
        })
        .expect_err("decimal");
        assert!(error.to_string().contains("decimal"), "{error}");
    }

    #[test]
    fn fields_above_the_read_level_cannot_be_filtered() {
        let probe = || {
            Filter::Not(Box::new(Filter::Field {
                field: "margin".into(),
                op: Op::Gt(json!(10)),
            }))
        };
        let error = sql_at_level(probe(), 1).expect_err("hidden");
        assert!(error.to_string().contains("no such field"), "{error}");
        assert!(sql_at_level(probe(), 2).is_ok());
    }

    #[test]
    fn money_compares_as_scaled_integers_on_sqlite() {
        let (_, values) = sql(Filter::Field {
            field: "potential".into(),
            op: Op::Gte(json!("1000.5")),
        })
        .expect("filter");
        assert_eq!(values, vec!["BigInt(Some(100050))".to_string()]);
    }
}
