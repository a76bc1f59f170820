//! Filter and ordering inputs: their GraphQL types, and their translation to `store::Filter`.

use async_graphql::dynamic::{
    Enum, EnumItem, InputObject, InputValue, ObjectAccessor, TypeRef, ValueAccessor,
};
use serde_json::Value;

use crate::model::{EntityDef, FieldKind};
use crate::store::{Filter, Op, Order};

/// A column that can be filtered and sorted: its API name, its schema name and its kind.
#[derive(Debug, Clone)]
pub struct Column {
    pub api: String,
    pub field: String,
    pub kind: FieldKind,
}

/// The filterable columns of an entity: system columns, then scalar fields (`regionId` for refs).
pub fn columns(entity: &EntityDef) -> Vec<Column> {
    let system = [
        (
            "id",
            "id",
            FieldKind::Ref {
                target: "kernel".into(),
            },
        ),
        ("state", "state", FieldKind::Text),
        ("version", "version", FieldKind::Integer),
        (
            "ownerId",
            "owner_id",
            FieldKind::Ref {
                target: "kernel.user".into(),
            },
        ),
        (
            "orgUnitId",
            "org_unit_id",
            FieldKind::Ref {
                target: "kernel.org_unit".into(),
            },
        ),
        ("createdAt", "created_at", FieldKind::DateTime),
        ("updatedAt", "updated_at", FieldKind::DateTime),
    ];
    let mut columns: Vec<Column> = system
        .into_iter()
        .map(|(api, field, kind)| Column {
            api: api.into(),
            field: field.into(),
            kind,
        })
        .collect();
    for field in &entity.fields {
        if field.kind == FieldKind::Json {
            continue;
        }
        let api = match field.kind {
            FieldKind::Ref { .. } => format!("{}Id", field.graphql_name),
            _ => field.graphql_name.clone(),
        };
        columns.push(Column {
            api,
            field: field.name.clone(),
            kind: field.kind.clone(),
        });
    }
    columns
}

/// The GraphQL scalar of a kind.
pub fn scalar(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "String",
        FieldKind::Date => "Date",
        FieldKind::DateTime => "DateTime",
        FieldKind::Decimal { .. } => "Decimal",
        FieldKind::Integer => "Int",
        FieldKind::Float => "Float",
        FieldKind::Boolean => "Boolean",
        FieldKind::Ref { .. } => "ID",
        FieldKind::Json => "JSON",
    }
}

/// The operator input types (`StringFilter`, `IDFilter`, …), shared by every entity.
pub fn operator_inputs() -> Vec<InputObject> {
    let mut inputs = Vec::new();
    for scalar in [
        "String", "ID", "Int", "Float", "Decimal", "Date", "DateTime", "Boolean",
    ] {
        let mut input = InputObject::new(format!("{scalar}Filter"))
            .description("Every operator given must hold (they combine with AND).")
            .field(InputValue::new("eq", TypeRef::named(scalar)))
            .field(
                InputValue::new("ne", TypeRef::named(scalar))
                    .description("Not equal; empty fields count as not equal."),
            )
            .field(InputValue::new("in", TypeRef::named_nn_list(scalar)))
            .field(InputValue::new("notIn", TypeRef::named_nn_list(scalar)));
        if !matches!(scalar, "ID" | "Boolean") {
            input = input
                .field(InputValue::new("lt", TypeRef::named(scalar)))
                .field(InputValue::new("lte", TypeRef::named(scalar)))
                .field(InputValue::new("gt", TypeRef::named(scalar)))
                .field(InputValue::new("gte", TypeRef::named(scalar)));
        }
        if scalar == "String" {
            input = input.field(
                InputValue::new("like", TypeRef::named(TypeRef::STRING)).description(
                    "Pattern with `%` (any run) and `_` (one character); ASCII case is ignored.",
                ),
            );
        }
        input = input.field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN)));
        inputs.push(input);
    }
    inputs
}

pub fn filter_input(entity: &EntityDef) -> InputObject {
    let name = format!("{}Filter", entity.type_name);
    let mut input = InputObject::new(&name)
        .description(format!(
            "Conditions on {}; all given conditions must hold.",
            entity.qualified
        ))
        .field(InputValue::new("and", TypeRef::named_nn_list(&name)))
        .field(InputValue::new("or", TypeRef::named_nn_list(&name)))
        .field(InputValue::new("not", TypeRef::named(&name)));
    for column in columns(entity) {
        input = input.field(InputValue::new(
            &column.api,
            TypeRef::named(format!("{}Filter", scalar(&column.kind))),
        ));
    }
    input
}

/// `CUSTOMER_NO` for `customer_no`.
fn order_item(field: &str) -> String {
    field.to_ascii_uppercase()
}

pub fn order_types(entity: &EntityDef) -> (Enum, InputObject) {
    let field_enum = format!("{}OrderField", entity.type_name);
    let mut items = Enum::new(&field_enum);
    for column in columns(entity) {
        if matches!(column.kind, FieldKind::Boolean) {
            continue;
        }
        items = items.item(EnumItem::new(order_item(&column.field)));
    }
    let input = InputObject::new(format!("{}Order", entity.type_name))
        .field(InputValue::new("field", TypeRef::named_nn(&field_enum)))
        .field(
            InputValue::new("direction", TypeRef::named_nn("SortDirection"))
                .default_value(async_graphql::Value::Enum(async_graphql::Name::new("ASC"))),
        );
    (items, input)
}

/// Reads an `orderBy` argument.
pub fn parse_order(
    entity: &EntityDef,
    value: ValueAccessor<'_>,
) -> async_graphql::Result<Vec<Order>> {
    let mut order = Vec::new();
    for item in value.list()?.iter() {
        let item = item.object()?;
        let name = item.try_get("field")?.enum_name()?.to_string();
        let column = columns(entity)
            .into_iter()
            .find(|c| order_item(&c.field) == name)
            .ok_or_else(|| async_graphql::Error::new(format!("unknown order field {name}")))?;
        let descending = item
            .get("direction")
            .map(|d| d.enum_name().map(|n| n == "DESC"))
            .transpose()?
            .unwrap_or(false);
        order.push(Order {
            field: column.field,
            descending,
        });
    }
    Ok(order)
}

fn json(value: &ValueAccessor<'_>) -> Value {
    value.as_value().clone().into_json().unwrap_or(Value::Null)
}

/// Reads a `filter` argument into a condition tree.
pub fn parse_filter(
    entity: &EntityDef,
    object: &ObjectAccessor<'_>,
) -> async_graphql::Result<Filter> {
    parse_nested(entity, object, 0)
}

fn parse_nested(
    entity: &EntityDef,
    object: &ObjectAccessor<'_>,
    depth: usize,
) -> async_graphql::Result<Filter> {
    if depth > crate::store::MAX_FILTER_DEPTH {
        use async_graphql::ErrorExtensions;
        return Err(async_graphql::Error::new(format!(
            "过滤条件嵌套过深 / Filters nest at most {} levels of and/or/not.",
            crate::store::MAX_FILTER_DEPTH
        ))
        .extend_with(|_, e| e.set("code", crate::error::Code::LimitExceeded.as_str())));
    }
    let columns = columns(entity);
    let mut all = Vec::new();
    for (name, value) in object.iter() {
        if value.is_null() {
            continue;
        }
        match name.as_str() {
            "and" => {
                let items = value
                    .list()?
                    .iter()
                    .map(|v| parse_nested(entity, &v.object()?, depth + 1))
                    .collect::<async_graphql::Result<_>>()?;
                all.push(Filter::And(items));
            }
            "or" => {
                let items = value
                    .list()?
                    .iter()
                    .map(|v| parse_nested(entity, &v.object()?, depth + 1))
                    .collect::<async_graphql::Result<_>>()?;
                all.push(Filter::Or(items));
            }
            "not" => all.push(Filter::Not(Box::new(parse_nested(
                entity,
                &value.object()?,
                depth + 1,
            )?))),
            api => {
                let column = columns.iter().find(|c| c.api == api).ok_or_else(|| {
                    async_graphql::Error::new(format!("unknown filter field {api}"))
                })?;
                for (op_name, operand) in value.object()?.iter() {
                    if operand.is_null() {
                        return Err(async_graphql::Error::new(format!(
                            "{api}.{op_name} is null; to match empty fields use {{{api}: {{isNull: true}}}}"
                        )));
                    }
                    let list = || -> async_graphql::Result<Vec<Value>> {
                        Ok(operand.list()?.iter().map(|v| json(&v)).collect())
                    };
                    let op = match op_name.as_str() {
                        "eq" => Op::Eq(json(&operand)),
                        "ne" => Op::Ne(json(&operand)),
                        "in" => Op::In(list()?),
                        "notIn" => Op::NotIn(list()?),
                        "lt" => Op::Lt(json(&operand)),
                        "lte" => Op::Lte(json(&operand)),
                        "gt" => Op::Gt(json(&operand)),
                        "gte" => Op::Gte(json(&operand)),
                        "like" => Op::Like(operand.string()?.to_string()),
                        "isNull" => Op::IsNull(operand.boolean()?),
                        other => {
                            return Err(async_graphql::Error::new(format!(
                                "unknown operator {other}"
                            )));
                        }
                    };
                    all.push(Filter::Field {
                        field: column.field.clone(),
                        op,
                    });
                }
            }
        }
    }
    Ok(if all.len() == 1 {
        all.pop().expect("one condition")
    } else {
        Filter::And(all)
    })
}
