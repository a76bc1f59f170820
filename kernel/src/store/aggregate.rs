//! Aggregates pushed into SQL: count, sum, average, minimum and maximum per group, inside the
//! caller's tenant, row scope and field level like every other read.

use rust_decimal::Decimal;
use sea_orm::sea_query::{Alias, Expr, Func, Order as SqlOrder, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseBackend};
use serde_json::{Map, Value};

use super::codec::from_row;
use super::filter::{self, Filter};
use super::records::scope;
use super::{Access, Error, Result, Rows, Store};
use crate::model::{EntityDef, FieldKind};

/// One group: the values of the grouping fields, the number of records, and per numeric field
/// its sum, average, minimum and maximum over the records that have a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub key: Map<String, Value>,
    pub count: u64,
    pub sum: Map<String, Value>,
    pub avg: Map<String, Value>,
    pub min: Map<String, Value>,
    pub max: Map<String, Value>,
}

/// Fields that can be grouped by: scalars, not JSON.
pub fn groupable(kind: &FieldKind) -> bool {
    !matches!(kind, FieldKind::Json)
}

/// Fields that are summed and averaged.
pub fn numeric(kind: &FieldKind) -> bool {
    matches!(
        kind,
        FieldKind::Decimal { .. } | FieldKind::Integer | FieldKind::Float
    )
}

fn col(table: &str, name: &str) -> Expr {
    Expr::col((Alias::new(table), Alias::new(name)))
}

impl Store {
    /// Groups the records the caller may see that match `filter` by `group_by` (at most
    /// `max_groups` groups, largest first) and aggregates every numeric field the caller may
    /// read.
    pub async fn aggregate_records(
        &self,
        access: &Access,
        entity: &EntityDef,
        filter: Option<&Filter>,
        group_by: &[String],
        max_groups: u64,
    ) -> Result<Vec<Group>> {
        if access.rows == Rows::None {
            return Ok(Vec::new());
        }
        let table = entity.table.as_str();
        let mut keys = Vec::with_capacity(group_by.len());
        for field in group_by {
            let kind = filter::kind_of(entity, field, access.level)?;
            if !groupable(&kind) {
                return Err(Error::BadFilter {
                    field: field.clone(),
                    message: "JSON fields cannot be grouped by".into(),
                });
            }
            keys.push((field.clone(), kind));
        }
        let metrics: Vec<_> = entity
            .fields
            .iter()
            .filter(|f| f.level <= access.level && numeric(&f.kind))
            .collect();
        let mut select = Query::select();
        select.from(Alias::new(table));
        for (i, (field, _)) in keys.iter().enumerate() {
            select.expr_as(col(table, field), Alias::new(format!("k{i}")));
            select.group_by_col((Alias::new(table), Alias::new(field)));
        }
        select.expr_as(Func::count(col(table, "id")), Alias::new("n"));
        for (i, field) in metrics.iter().enumerate() {
            let sum: SimpleExpr = Func::sum(col(table, &field.name)).into();
            let sum = match (&field.kind, self.backend) {
                // PostgreSQL sums BIGINT as NUMERIC; the count of a page of money stays exact.
                (FieldKind::Integer, DatabaseBackend::Postgres) => {
                    Func::cast_as(sum, Alias::new("BIGINT")).into()
                }
                _ => sum,
            };
            select
                .expr_as(sum, Alias::new(format!("s{i}")))
                .expr_as(
                    Func::count(col(table, &field.name)),
                    Alias::new(format!("c{i}")),
                )
                .expr_as(
                    Func::min(col(table, &field.name)),
                    Alias::new(format!("lo{i}")),
                )
                .expr_as(
                    Func::max(col(table, &field.name)),
                    Alias::new(format!("hi{i}")),
                );
        }
        select.cond_where(scope(table, access));
        if let Some(filter) = filter {
            select.cond_where(filter::condition(
                entity,
                filter,
                self.backend,
                access.level,
            )?);
        }
        select
            .order_by_expr(Func::count(col(table, "id")).into(), SqlOrder::Desc)
            .limit(max_groups);
        let rows = self.db.query_all(self.backend.build(&select)).await?;
        rows.iter()
            .map(|row| {
                let mut group = Group {
                    key: Map::new(),
                    count: row.try_get::<i64>("", "n")?.max(0) as u64,
                    sum: Map::new(),
                    avg: Map::new(),
                    min: Map::new(),
                    max: Map::new(),
                };
                for (i, (field, kind)) in keys.iter().enumerate() {
                    let value = from_row(row, &format!("k{i}"), kind, self.backend)?;
                    group.key.insert(field.clone(), value);
                }
                for (i, field) in metrics.iter().enumerate() {
                    let sum = from_row(row, &format!("s{i}"), &field.kind, self.backend)?;
                    let present: i64 = row.try_get("", &format!("c{i}"))?;
                    group
                        .avg
                        .insert(field.name.clone(), average(&sum, present, &field.kind));
                    group.sum.insert(field.name.clone(), sum);
                    group.min.insert(
                        field.name.clone(),
                        from_row(row, &format!("lo{i}"), &field.kind, self.backend)?,
                    );
                    group.max.insert(
                        field.name.clone(),
                        from_row(row, &format!("hi{i}"), &field.kind, self.backend)?,
                    );
                }
                Ok(group)
            })
            .collect()
    }
}

/// The exact average of `present` values summing to `sum`: decimals keep two more digits than
/// their scale, integers and floats become floats.
fn average(sum: &Value, present: i64, kind: &FieldKind) -> Value {
    if present <= 0 {
        return Value::Null;
    }
    match kind {
        FieldKind::Decimal { scale } => sum
            .as_str()
            .and_then(|s| s.parse::<Decimal>().ok())
            .and_then(|s| s.checked_div(Decimal::from(present)))
            .map(|avg| {
                let mut avg = avg.round_dp(scale + 2);
                avg.rescale(scale + 2);
                Value::String(avg.to_string())
            })
            .unwrap_or(Value::Null),
        _ => sum
            .as_f64()
            .map(|s| Value::from(s / present as f64))
            .unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_of_money_stay_exact_decimals() {
        let kind = FieldKind::Decimal { scale: 2 };
        assert_eq!(
            average(&Value::String("100.00".into()), 3, &kind),
            Value::String("33.3333".into())
        );
        assert_eq!(
            average(&Value::String("3.00".into()), 2, &kind),
            Value::String("1.5000".into()),
            "averages carry two more digits than the field, always"
        );
        assert_eq!(average(&Value::Null, 0, &kind), Value::Null);
        assert_eq!(
            average(&Value::from(7), 2, &FieldKind::Integer),
            Value::from(3.5)
        );
    }
}
