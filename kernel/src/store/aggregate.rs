//! Aggregates pushed into SQL: the count per group and the sum, average, minimum and maximum of
//! the numeric fields asked for, inside the caller's tenant, row scope and field level like every
//! other read.

use rust_decimal::Decimal;
use sea_orm::sea_query::{Alias, Func, Order as SqlOrder, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseBackend};
use serde_json::{Map, Value};

use super::codec::from_row;
use super::filter::{self, Filter};
use super::records::{col, count_rows, scope};
use super::{Access, Error, Result, Rows, Store};
use crate::model::{EntityDef, FieldDef, FieldKind};

/// One group: the values of the grouping fields, the number of records, and per aggregated
/// numeric field its sum, average, minimum and maximum over the records that have a value.
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

/// The numeric fields an aggregate computes the sum, average, minimum and maximum of. The fewer
/// it computes, the fewer columns the database reads: a count alone can be answered from an index
/// that holds the filtered and grouped columns, without reading the table rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metrics<'a> {
    /// Every numeric field the caller may read.
    All,
    /// These numeric fields (schema names) only; none means counting alone.
    Only(&'a [String]),
}

impl Metrics<'_> {
    /// Counting alone, no metric.
    pub const COUNT: Metrics<'static> = Metrics::Only(&[]);

    /// The fields to aggregate for a caller at field level `level`. A field that is unknown,
    /// above the caller's level (unknown to them, as in filters) or not numeric is refused.
    fn fields<'e>(&self, entity: &'e EntityDef, level: u8) -> Result<Vec<&'e FieldDef>> {
        let names = match self {
            Metrics::All => {
                return Ok(entity
                    .fields
                    .iter()
                    .filter(|f| f.level <= level && numeric(&f.kind))
                    .collect());
            }
            Metrics::Only(names) => names,
        };
        names
            .iter()
            .map(|name| {
                let refuse = |message: String| Error::BadFilter {
                    field: name.clone(),
                    message,
                };
                let qualified = &entity.qualified;
                let field = entity
                    .field(name)
                    .filter(|f| f.level <= level)
                    .ok_or_else(|| {
                        refuse(format!(
                            "{qualified} 没有字段「{name}」。 / {qualified} has no field {name}."
                        ))
                    })?;
                if !numeric(&field.kind) {
                    return Err(refuse(format!(
                        "「{}」不是数值字段,没有合计、平均、最小或最大值。 / {} is not numeric: it has no sum, average, minimum or maximum.",
                        field.title, field.title_en
                    )));
                }
                Ok(field)
            })
            .collect()
    }
}

impl Store {
    /// Groups the records the caller may see that match `filter` by `group_by` (at most
    /// `max_groups` groups, largest first), counts them and aggregates the numeric fields
    /// `metrics` names.
    pub async fn aggregate_records(
        &self,
        access: &Access,
        entity: &EntityDef,
        filter: Option<&Filter>,
        group_by: &[String],
        metrics: Metrics<'_>,
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
        let metrics = metrics.fields(entity, access.level)?;
        if metrics.is_empty()
            && let Some(groups) = self
                .daily_groups(access, entity, filter, group_by, max_groups)
                .await?
        {
            return Ok(groups);
        }
        let mut select = Query::select();
        select.from(Alias::new(table));
        for (i, (field, _)) in keys.iter().enumerate() {
            select.expr_as(col(table, field), Alias::new(format!("k{i}")));
            select.group_by_col((Alias::new(table), Alias::new(field)));
        }
        select.expr_as(count_rows(), Alias::new("n"));
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
            .order_by_expr(count_rows(), SqlOrder::Desc)
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

    fn names(fields: &[&FieldDef]) -> Vec<String> {
        fields.iter().map(|f| f.name.clone()).collect()
    }

    #[test]
    fn metrics_are_the_readable_numeric_fields_asked_for() {
        let schema = serde_json::json!({"type": "object", "title": "东西", "properties": {
            "name": {"type": "string", "title": "名称", "x-jingxi": {"i18n": {"en": {"title": "Name"}}}},
            "qty": {"type": "integer", "title": "数量"},
            "amount": {"type": "string", "title": "金额", "x-jingxi": {"money": {"currency": "CNY"}}},
            "cost": {"type": "integer", "title": "成本", "x-jingxi": {"level": 1}}
        }});
        let entity = EntityDef::new("demo", "thing", schema).expect("entity");
        let all = Metrics::All.fields(&entity, 0).expect("all");
        assert_eq!(
            names(&all),
            ["qty", "amount"],
            "not the field above the level"
        );
        assert_eq!(
            names(&Metrics::All.fields(&entity, 1).expect("all")),
            ["qty", "amount", "cost"]
        );
        assert!(Metrics::COUNT.fields(&entity, 9).expect("none").is_empty());
        let asked = ["amount".to_string()];
        assert_eq!(
            names(&Metrics::Only(&asked).fields(&entity, 0).expect("asked")),
            ["amount"]
        );
        let refused = |field: &str, level: u8| match Metrics::Only(&[field.to_string()])
            .fields(&entity, level)
        {
            Err(Error::BadFilter { field, message }) => format!("{field}: {message}"),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused("name", 0),
            "name: 「名称」不是数值字段,没有合计、平均、最小或最大值。 / Name is not numeric: it has no sum, average, minimum or maximum."
        );
        assert_eq!(
            refused("color", 0),
            "color: demo.thing 没有字段「color」。 / demo.thing has no field color."
        );
        assert_eq!(
            refused("cost", 0),
            "cost: demo.thing 没有字段「cost」。 / demo.thing has no field cost.",
            "a field above the caller's level is unknown to them"
        );
    }

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
