//! `<plural>Aggregate(filter, groupBy)`: count, sum, avg, min and max per group, computed in SQL
//! over the records the caller may read. Only the numeric fields the query selects under `sum`,
//! `avg`, `min` or `max` are computed, so a query of counts alone reads no numeric column.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Lookahead;
use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, InputValue, Object, TypeRef,
};
use serde_json::{Map, Value};

use super::filter::{self, columns, scalar};
use super::schema::{lower_first, map_field, request};
use super::to_graphql_error;
use crate::model::EntityDef;
use crate::store::{self, Group, Metrics};

/// The fields of a group that hold one number per numeric field.
const METRIC_FIELDS: [&str; 4] = ["sum", "avg", "min", "max"];

fn group_enum(entity: &EntityDef) -> String {
    format!("{}GroupField", entity.type_name)
}

fn numbers_type(entity: &EntityDef) -> String {
    format!("{}AggregateNumbers", entity.type_name)
}

fn group_type(entity: &EntityDef) -> String {
    format!("{}AggregateGroup", entity.type_name)
}

fn has_numbers(entity: &EntityDef) -> bool {
    entity.fields.iter().any(|f| store::numeric(&f.kind))
}

/// The enum of groupable fields, the numbers object and the group object of one entity.
pub fn types(entity: &EntityDef) -> (Enum, Option<Object>, Object) {
    let mut fields = Enum::new(group_enum(entity));
    for column in columns(entity) {
        if store::groupable(&column.kind) && column.field != "id" {
            fields = fields.item(EnumItem::new(column.field.to_ascii_uppercase()));
        }
    }
    let numbers = has_numbers(entity).then(|| {
        let mut numbers = Object::new(numbers_type(entity)).description(
            "Per numeric field; fields you may not read and groups without values are null.",
        );
        for field in entity.fields.iter().filter(|f| store::numeric(&f.kind)) {
            numbers = numbers.field(map_field(
                &field.graphql_name,
                &field.name,
                TypeRef::named(scalar(&field.kind)),
            ));
        }
        numbers
    });
    let mut group = Object::new(group_type(entity))
        .field(
            map_field("key", "key", TypeRef::named_nn("JSON"))
                .description("The values of the groupBy fields, by their API names."),
        )
        .field(map_field("count", "count", TypeRef::named_nn(TypeRef::INT)));
    if has_numbers(entity) {
        for (name, description) in METRIC_FIELDS.into_iter().zip([
            "Sums, exact for money and decimals.",
            "Averages over the records with a value.",
            "Smallest values.",
            "Largest values.",
        ]) {
            let key = name.to_string();
            group = group.field(
                Field::new(name, TypeRef::named_nn(numbers_type(entity)), move |ctx| {
                    let key = key.clone();
                    FieldFuture::new(async move {
                        let parent = ctx.parent_value.try_downcast_ref::<Map<String, Value>>()?;
                        let values = parent
                            .get(&key)
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default();
                        Ok(Some(FieldValue::owned_any(values)))
                    })
                })
                .description(description),
            );
        }
    }
    (fields, numbers, group)
}

/// The numeric fields (schema names) the query selects under `sum`, `avg`, `min` or `max` that a
/// caller at field level `level` may read; the others stay null without being computed.
fn selected_metrics(entity: &EntityDef, group: &Lookahead<'_>, level: u8) -> Vec<String> {
    let mut selected = Vec::new();
    for metric in METRIC_FIELDS {
        for numbers in group.field(metric).selection_fields() {
            for number in numbers.selection_set() {
                let field = entity.fields.iter().find(|f| {
                    f.graphql_name == number.name() && f.level <= level && store::numeric(&f.kind)
                });
                if let Some(field) = field.filter(|f| !selected.contains(&f.name)) {
                    selected.push(field.name.clone());
                }
            }
        }
    }
    selected
}

fn group_value(api_names: &HashMap<String, String>, group: Group) -> FieldValue<'static> {
    let key: Map<String, Value> = group
        .key
        .into_iter()
        .map(|(name, value)| (api_names.get(&name).cloned().unwrap_or(name), value))
        .collect();
    let mut value = Map::new();
    value.insert("key".into(), Value::Object(key));
    value.insert("count".into(), Value::from(group.count));
    value.insert("sum".into(), Value::Object(group.sum));
    value.insert("avg".into(), Value::Object(group.avg));
    value.insert("min".into(), Value::Object(group.min));
    value.insert("max".into(), Value::Object(group.max));
    FieldValue::owned_any(value)
}

/// `<plural>Aggregate(filter, groupBy)`.
pub fn query_field(entity: &Arc<EntityDef>, plural: &str) -> Field {
    let def = entity.clone();
    Field::new(
        format!("{}Aggregate", lower_first(plural)),
        TypeRef::named_nn_list_nn(group_type(entity)),
        move |ctx| {
            let def = def.clone();
            FieldFuture::new(async move {
                let request = request(&ctx)?;
                let filter = match ctx.args.get("filter").filter(|v| !v.is_null()) {
                    Some(value) => Some(filter::parse_filter(&def, &value.object()?)?),
                    None => None,
                };
                let mut group_by = Vec::new();
                if let Some(list) = ctx.args.get("groupBy").filter(|v| !v.is_null()) {
                    for item in list.list()?.iter() {
                        let name = item.enum_name()?.to_ascii_lowercase();
                        if !group_by.contains(&name) {
                            group_by.push(name);
                        }
                    }
                }
                let level = request.principal.level(&def.qualified);
                let metrics = selected_metrics(&def, &ctx.look_ahead(), level);
                let groups = request
                    .kernel
                    .aggregate(
                        &request.principal,
                        &def,
                        filter.as_ref(),
                        &group_by,
                        Metrics::Only(&metrics),
                    )
                    .await
                    .map_err(to_graphql_error)?;
                let api_names: HashMap<String, String> = columns(&def)
                    .into_iter()
                    .map(|c| (c.field, c.api))
                    .collect();
                Ok(Some(FieldValue::list(
                    groups.into_iter().map(|g| group_value(&api_names, g)),
                )))
            })
        },
    )
    .description(format!(
        "{} · {}: count, sum, avg, min and max per group of the records you may read, largest groups first",
        entity.title, entity.title_en
    ))
    .argument(InputValue::new(
        "filter",
        TypeRef::named(format!("{}Filter", entity.type_name)),
    ))
    .argument(InputValue::new(
        "groupBy",
        TypeRef::named_nn_list(group_enum(entity)),
    ))
}
