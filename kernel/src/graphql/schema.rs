//! Builds the dynamic schema of one enabled plugin set: types, inputs, queries and mutations for
//! every entity, plus the meta queries (`me`, `plugins`, `entityTypes`, `kpis`).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, Scalar,
    Schema, SchemaError, TypeRef, ValueAccessor,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::filter::{self, scalar};
use super::{RequestContext, graphql_error_of, to_graphql_error};
use super::{aggregate, events, kpi, related};
use crate::config::ApiConfig;
use crate::error::Code;
use crate::model::{ChildDef, EntityDef, FieldDef, FieldKind, Locale};
use crate::runtime::{self, TenantCatalog};
use crate::store::{Filter, Order, Page, Record};

/// `crmCustomer` for `CrmCustomer`.
pub(super) fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// English plural of the last word: `customers`, `policies`, `addresses`.
pub fn plural(name: &str) -> String {
    if let Some(stem) = name.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    if name.ends_with('s') || name.ends_with('x') || name.ends_with("sh") || name.ends_with("ch") {
        return format!("{name}es");
    }
    format!("{name}s")
}

pub(super) fn json_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn gql(value: &Value) -> async_graphql::Value {
    async_graphql::Value::from_json(value.clone()).unwrap_or(async_graphql::Value::Null)
}

pub(super) fn request(ctx: &ResolverContext<'_>) -> async_graphql::Result<RequestContext> {
    Ok(ctx.data::<RequestContext>()?.clone())
}

pub(super) fn coded(code: Code, message: String) -> async_graphql::Error {
    use async_graphql::ErrorExtensions;
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

pub(super) fn parse_id(value: ValueAccessor<'_>, locale: Locale) -> async_graphql::Result<Uuid> {
    let text = value.string()?;
    Uuid::parse_str(text).map_err(|_| {
        coded(
            Code::ValidationFailed,
            locale.pick(
                format!("{text} 不是有效的 ID。"),
                format!("{text} is not a valid ID."),
            ),
        )
    })
}

/// A resolver reading `key` from a parent JSON object.
pub(super) fn map_field(api: &str, key: &str, ty: TypeRef) -> Field {
    let key = key.to_string();
    Field::new(api, ty, move |ctx| {
        let key = key.clone();
        FieldFuture::new(async move {
            let parent = ctx.parent_value.try_downcast_ref::<Map<String, Value>>()?;
            Ok(parent
                .get(&key)
                .filter(|v| !v.is_null())
                .map(|v| FieldValue::value(gql(v))))
        })
    })
}

/// A reference to load: entity and id. Loaded in batches per entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefKey {
    entity: String,
    id: Uuid,
}

/// Loads referenced records for one request, through the caller's read access.
pub struct RecordLoader {
    context: RequestContext,
}

impl Loader<RefKey> for RecordLoader {
    type Value = Record;
    type Error = Arc<runtime::Error>;

    async fn load(&self, keys: &[RefKey]) -> Result<HashMap<RefKey, Record>, Self::Error> {
        let mut by_entity: HashMap<&str, Vec<Uuid>> = HashMap::new();
        for key in keys {
            by_entity.entry(&key.entity).or_default().push(key.id);
        }
        let mut found = HashMap::new();
        for (entity, ids) in by_entity {
            let Some(def) = self.context.catalog.entity(entity) else {
                continue;
            };
            let records = self
                .context
                .kernel
                .get(&self.context.principal, &def, &ids)
                .await
                .map_err(Arc::new)?;
            for (id, record) in ids.into_iter().zip(records) {
                if let Some(record) = record {
                    found.insert(
                        RefKey {
                            entity: entity.to_string(),
                            id,
                        },
                        record,
                    );
                }
            }
        }
        Ok(found)
    }
}

pub fn record_loader(context: RequestContext) -> DataLoader<RecordLoader> {
    DataLoader::new(RecordLoader { context }, tokio::spawn)
}

fn scalar_field(field: &FieldDef) -> Field {
    let api = match field.kind {
        FieldKind::Ref { .. } => format!("{}Id", field.graphql_name),
        _ => field.graphql_name.clone(),
    };
    map_field(&api, &field.name, TypeRef::named(scalar(&field.kind)))
        .description(format!("{} · {}", field.title, field.title_en))
}

fn ref_field(field: &FieldDef, target: &EntityDef) -> Field {
    let key = field.name.clone();
    let target_name = target.qualified.clone();
    Field::new(
        &field.graphql_name,
        TypeRef::named(&target.type_name),
        move |ctx| {
            let key = key.clone();
            let target_name = target_name.clone();
            FieldFuture::new(async move {
                let parent = ctx.parent_value.try_downcast_ref::<Map<String, Value>>()?;
                let Some(id) = parent
                    .get(&key)
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok())
                else {
                    return Ok(None);
                };
                let loader = ctx.data::<DataLoader<RecordLoader>>()?;
                let record = loader
                    .load_one(RefKey {
                        entity: target_name,
                        id,
                    })
                    .await
                    .map_err(|error| graphql_error_of(&error))?;
                Ok(record.map(FieldValue::owned_any))
            })
        },
    )
    .description(format!("{} · {}", field.title, field.title_en))
}

fn child_types(child: &ChildDef) -> (Object, InputObject) {
    let mut object =
        Object::new(&child.type_name).description(format!("{} · {}", child.title, child.title_en));
    let mut input = InputObject::new(format!("{}Input", child.type_name));
    for field in &child.fields {
        object = object.field(scalar_field(field));
        let api = match field.kind {
            FieldKind::Ref { .. } => format!("{}Id", field.graphql_name),
            _ => field.graphql_name.clone(),
        };
        input = input.field(InputValue::new(api, TypeRef::named(scalar(&field.kind))));
    }
    (object, input)
}

fn entity_object(entity: &Arc<EntityDef>, catalog: &TenantCatalog, limits: &ApiConfig) -> Object {
    let mut object = Object::new(&entity.type_name)
        .description(format!(
            "{} · {} ({})",
            entity.title, entity.title_en, entity.qualified
        ))
        .field(map_field("id", "id", TypeRef::named_nn(TypeRef::ID)))
        .field(
            map_field("version", "version", TypeRef::named_nn(TypeRef::INT))
                .description("Increases on every change; pass it as expectedVersion."),
        )
        .field(map_field("state", "state", TypeRef::named(TypeRef::STRING)))
        .field(map_field(
            "ownerId",
            "owner_id",
            TypeRef::named_nn(TypeRef::ID),
        ))
        .field(map_field(
            "orgUnitId",
            "org_unit_id",
            TypeRef::named(TypeRef::ID),
        ))
        .field(map_field(
            "createdAt",
            "created_at",
            TypeRef::named_nn("DateTime"),
        ))
        .field(map_field(
            "createdBy",
            "created_by",
            TypeRef::named_nn(TypeRef::ID),
        ))
        .field(map_field(
            "updatedAt",
            "updated_at",
            TypeRef::named_nn("DateTime"),
        ))
        .field(map_field(
            "updatedBy",
            "updated_by",
            TypeRef::named_nn(TypeRef::ID),
        ));
    for field in &entity.fields {
        object = object.field(scalar_field(field));
        if let FieldKind::Ref { target } = &field.kind
            && let Some(target) = catalog.entity(target)
        {
            object = object.field(ref_field(field, &target));
        }
    }
    for (source, field) in related::referring(catalog, entity) {
        object = object.field(related::field(source, field, limits));
    }
    for field in events::record_fields(entity) {
        object = object.field(field);
    }
    for child in &entity.children {
        let key = child.name.clone();
        let type_name = child.type_name.clone();
        object = object.field(
            Field::new(
                &child.graphql_name,
                TypeRef::named_nn_list_nn(&type_name),
                move |ctx| {
                    let key = key.clone();
                    FieldFuture::new(async move {
                        let parent = ctx.parent_value.try_downcast_ref::<Map<String, Value>>()?;
                        let items = parent
                            .get(&key)
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        Ok(Some(FieldValue::list(items.into_iter().filter_map(
                            |item| match item {
                                Value::Object(map) => Some(FieldValue::owned_any(map)),
                                _ => None,
                            },
                        ))))
                    })
                },
            )
            .description(format!("{} · {}", child.title, child.title_en)),
        );
    }
    object
}

fn input_object(entity: &EntityDef) -> InputObject {
    let mut input = InputObject::new(format!("{}Input", entity.type_name))
        .description("Fields of the form. In a patch, a field set to null is cleared and an absent field is kept.");
    for field in entity.fields.iter().filter(|f| !f.computed) {
        let api = match field.kind {
            FieldKind::Ref { .. } => format!("{}Id", field.graphql_name),
            _ => field.graphql_name.clone(),
        };
        input = input.field(
            InputValue::new(api, TypeRef::named(scalar(&field.kind)))
                .description(format!("{} · {}", field.title, field.title_en)),
        );
    }
    for child in &entity.children {
        input = input.field(InputValue::new(
            &child.graphql_name,
            TypeRef::named_nn_list(format!("{}Input", child.type_name)),
        ));
    }
    input
}

fn input_value(field: &FieldDef, value: &ValueAccessor<'_>) -> Value {
    let json = value.as_value().clone().into_json().unwrap_or(Value::Null);
    match (&field.kind, json) {
        // A JSON number reached us as a binary float. With at most 15 significant digits its
        // shortest text is the number the client wrote; beyond that it may not be, so it is
        // left as a number and refused by the schema ("must be a string").
        (FieldKind::Decimal { .. }, Value::Number(n))
            if significant_digits(&n.to_string()) <= 15 =>
        {
            Value::String(n.to_string())
        }
        (_, json) => json,
    }
}

fn significant_digits(text: &str) -> usize {
    let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
    mantissa
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .trim_start_matches('0')
        .len()
}

fn fields_by_api(fields: &[FieldDef]) -> HashMap<String, &FieldDef> {
    fields
        .iter()
        .map(|f| {
            let api = match f.kind {
                FieldKind::Ref { .. } => format!("{}Id", f.graphql_name),
                _ => f.graphql_name.clone(),
            };
            (api, f)
        })
        .collect()
}

/// Turns an input object into a record with schema field names.
pub(super) fn parse_input(
    entity: &EntityDef,
    value: ValueAccessor<'_>,
) -> async_graphql::Result<Record> {
    let object = value.object()?;
    let fields = fields_by_api(&entity.fields);
    let mut record = Map::new();
    for (name, value) in object.iter() {
        if let Some(field) = fields.get(name.as_str()) {
            record.insert(field.name.clone(), input_value(field, &value));
        } else if let Some(child) = entity
            .children
            .iter()
            .find(|c| c.graphql_name == name.as_str())
        {
            if value.is_null() {
                // Clearing a child table means no rows (a null would be dropped as "absent").
                record.insert(child.name.clone(), Value::Array(Vec::new()));
                continue;
            }
            let child_fields = fields_by_api(&child.fields);
            let mut items = Vec::new();
            for item in value.list()?.iter() {
                let mut row = Map::new();
                for (name, value) in item.object()?.iter() {
                    if let Some(field) = child_fields.get(name.as_str()) {
                        row.insert(field.name.clone(), input_value(field, &value));
                    }
                }
                items.push(Value::Object(row));
            }
            record.insert(child.name.clone(), Value::Array(items));
        }
    }
    Ok(record)
}

/// What a connection field resolves from.
pub(super) struct Connection {
    pub entity: Arc<EntityDef>,
    /// Selects every record of the connection, not only the page (for `totalCount`).
    pub filter: Option<Filter>,
    pub records: Vec<Record>,
    pub offset: u64,
    pub has_next: bool,
    pub has_previous: bool,
    /// `totalCount` when the page's statement already counted it.
    pub total: Option<u64>,
}

fn cursor(offset: u64) -> String {
    hex::encode(format!("offset:{offset}"))
}

/// Offsets beyond this cannot be bound as SQL integers.
const MAX_OFFSET: u64 = i64::MAX as u64 - 1;

fn parse_cursor(text: &str) -> Option<u64> {
    let bytes = hex::decode(text).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()
        .filter(|offset| *offset <= MAX_OFFSET)
}

fn connection_types(entity: &EntityDef) -> (Object, Object) {
    let edge = Object::new(format!("{}Edge", entity.type_name))
        .field(Field::new(
            "cursor",
            TypeRef::named_nn(TypeRef::STRING),
            |ctx| {
                FieldFuture::new(async move {
                    let (offset, _) = ctx.parent_value.try_downcast_ref::<(u64, Record)>()?;
                    Ok(Some(FieldValue::value(cursor(*offset))))
                })
            },
        ))
        .field(Field::new(
            "node",
            TypeRef::named_nn(&entity.type_name),
            |ctx| {
                FieldFuture::new(async move {
                    let (_, record) = ctx.parent_value.try_downcast_ref::<(u64, Record)>()?;
                    Ok(Some(FieldValue::borrowed_any(record)))
                })
            },
        ));
    let connection = Object::new(format!("{}Connection", entity.type_name))
        .field(Field::new(
            "edges",
            TypeRef::named_nn_list_nn(format!("{}Edge", entity.type_name)),
            |ctx| {
                FieldFuture::new(async move {
                    let conn = ctx.parent_value.try_downcast_ref::<Connection>()?;
                    Ok(Some(FieldValue::list(conn.records.iter().enumerate().map(
                        |(i, r)| FieldValue::owned_any((conn.offset + i as u64, r.clone())),
                    ))))
                })
            },
        ))
        .field(Field::new(
            "nodes",
            TypeRef::named_nn_list_nn(&entity.type_name),
            |ctx| {
                FieldFuture::new(async move {
                    let conn = ctx.parent_value.try_downcast_ref::<Connection>()?;
                    Ok(Some(FieldValue::list(
                        conn.records.iter().map(|r| FieldValue::borrowed_any(r)),
                    )))
                })
            },
        ))
        .field(Field::new(
            "pageInfo",
            TypeRef::named_nn("PageInfo"),
            |ctx| {
                FieldFuture::new(async move {
                    let conn = ctx.parent_value.try_downcast_ref::<Connection>()?;
                    let mut info = Map::new();
                    info.insert("hasNextPage".into(), Value::Bool(conn.has_next));
                    info.insert("hasPreviousPage".into(), Value::Bool(conn.has_previous));
                    if !conn.records.is_empty() {
                        info.insert("startCursor".into(), Value::String(cursor(conn.offset)));
                        info.insert(
                            "endCursor".into(),
                            Value::String(cursor(conn.offset + conn.records.len() as u64 - 1)),
                        );
                    }
                    Ok(Some(FieldValue::owned_any(info)))
                })
            },
        ))
        .field(Field::new(
            "totalCount",
            TypeRef::named_nn(TypeRef::INT),
            |ctx| {
                FieldFuture::new(async move {
                    let conn = ctx.parent_value.try_downcast_ref::<Connection>()?;
                    if let Some(total) = conn.total {
                        return Ok(Some(FieldValue::value(total as i64)));
                    }
                    let request = request(&ctx)?;
                    let n = request
                        .kernel
                        .count(&request.principal, &conn.entity, conn.filter.as_ref())
                        .await
                        .map_err(to_graphql_error)?;
                    Ok(Some(FieldValue::value(n as i64)))
                })
            },
        ));
    (edge, connection)
}

pub(super) fn page_argument(
    ctx: &ResolverContext<'_>,
    name: &str,
    limits: &ApiConfig,
    locale: Locale,
) -> async_graphql::Result<Option<u64>> {
    let Some(value) = ctx.args.get(name).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let n = value.i64()?;
    if n < 0 {
        return Err(coded(
            Code::ValidationFailed,
            locale.pick(
                format!("{name} 不能为负数。"),
                format!("{name} must not be negative."),
            ),
        ));
    }
    if n as u64 > limits.max_page_size {
        return Err(coded(
            Code::LimitExceeded,
            locale.pick(
                format!("{name} 最大为 {}。", limits.max_page_size),
                format!("{name} is at most {}.", limits.max_page_size),
            ),
        ));
    }
    Ok(Some(n as u64))
}

pub(super) fn cursor_argument(
    ctx: &ResolverContext<'_>,
    name: &str,
    locale: Locale,
) -> async_graphql::Result<Option<u64>> {
    let Some(value) = ctx.args.get(name).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    parse_cursor(value.string()?).map(Some).ok_or_else(|| {
        coded(
            Code::ValidationFailed,
            locale.pick(
                format!("{name} 游标无效。"),
                format!("Invalid {name} cursor."),
            ),
        )
    })
}

/// Whether a selection asks for any child table of `entity`.
pub(super) fn wants_children(entity: &EntityDef, selection: async_graphql::Lookahead<'_>) -> bool {
    entity
        .children
        .iter()
        .any(|child| selection.field(&child.graphql_name).exists())
}

/// Whether a connection's selection asks for any child table of its nodes.
pub(super) fn connection_wants_children(ctx: &ResolverContext<'_>, entity: &EntityDef) -> bool {
    let selection = ctx.look_ahead();
    wants_children(entity, selection.field("nodes"))
        || wants_children(entity, selection.field("edges").field("node"))
}

/// The `filter` and `orderBy` arguments of a connection field.
pub(super) fn filter_and_order(
    ctx: &ResolverContext<'_>,
    entity: &EntityDef,
) -> async_graphql::Result<(Option<Filter>, Vec<Order>)> {
    let filter = match ctx.args.get("filter").filter(|v| !v.is_null()) {
        Some(value) => Some(filter::parse_filter(entity, &value.object()?)?),
        None => None,
    };
    let order = match ctx.args.get("orderBy").filter(|v| !v.is_null()) {
        Some(value) => filter::parse_order(entity, value)?,
        None => Vec::new(),
    };
    Ok((filter, order))
}

fn list_field(entity: &Arc<EntityDef>, limits: &ApiConfig) -> Field {
    let name = lower_first(&plural(&entity.type_name));
    let def = entity.clone();
    let limits = limits.clone();
    let field = Field::new(
        name,
        TypeRef::named_nn(format!("{}Connection", entity.type_name)),
        move |ctx| {
            let def = def.clone();
            let limits = limits.clone();
            FieldFuture::new(async move {
                let request = request(&ctx)?;
                let locale = request.locale;
                let (filter, order) = filter_and_order(&ctx, &def)?;
                let first = page_argument(&ctx, "first", &limits, locale)?;
                let last = page_argument(&ctx, "last", &limits, locale)?;
                let after = cursor_argument(&ctx, "after", locale)?;
                let before = cursor_argument(&ctx, "before", locale)?;
                let (offset, limit) = match (last, before) {
                    (Some(last), Some(before)) => (before.saturating_sub(last), last.min(before)),
                    (Some(last), None) if first.is_none() => {
                        let total = request
                            .kernel
                            .count(&request.principal, &def, filter.as_ref())
                            .await
                            .map_err(to_graphql_error)?;
                        (total.saturating_sub(last), last.min(total))
                    }
                    _ => {
                        let offset = after.map(|a| a.saturating_add(1)).unwrap_or(0);
                        let limit = first.unwrap_or(limits.default_page_size);
                        let limit = match before {
                            Some(before) => limit.min(before.saturating_sub(offset)),
                            None => limit,
                        };
                        (offset, limit)
                    }
                };
                let mut records = request
                    .kernel
                    .list(
                        &request.principal,
                        &def,
                        filter.as_ref(),
                        &order,
                        Page {
                            offset,
                            limit: limit + 1,
                            children: connection_wants_children(&ctx, &def),
                        },
                    )
                    .await
                    .map_err(to_graphql_error)?;
                let has_next = records.len() as u64 > limit;
                records.truncate(limit as usize);
                Ok(Some(FieldValue::owned_any(Connection {
                    entity: def,
                    filter,
                    records,
                    offset,
                    has_next,
                    has_previous: offset > 0,
                    total: None,
                })))
            })
        },
    )
    .description(format!(
        "{} · {}: a page of records you may read",
        entity.title, entity.title_en
    ));
    forward_arguments(field, entity)
        .argument(InputValue::new("last", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("before", TypeRef::named(TypeRef::STRING)))
}

/// The `filter`, `orderBy`, `first` and `after` arguments of a connection of `entity`.
pub(super) fn forward_arguments(field: Field, entity: &EntityDef) -> Field {
    field
        .argument(InputValue::new(
            "filter",
            TypeRef::named(format!("{}Filter", entity.type_name)),
        ))
        .argument(InputValue::new(
            "orderBy",
            TypeRef::named_nn_list(format!("{}Order", entity.type_name)),
        ))
        .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("after", TypeRef::named(TypeRef::STRING)))
}

fn get_field(entity: &Arc<EntityDef>) -> Field {
    let def = entity.clone();
    Field::new(
        lower_first(&entity.type_name),
        TypeRef::named(&entity.type_name),
        move |ctx| {
            let def = def.clone();
            FieldFuture::new(async move {
                let request = request(&ctx)?;
                let id = parse_id(ctx.args.try_get("id")?, request.locale)?;
                let children = wants_children(&def, ctx.look_ahead());
                let record = request
                    .kernel
                    .get_with(&request.principal, &def, &[id], children)
                    .await
                    .map_err(to_graphql_error)?
                    .pop()
                    .flatten();
                Ok(record.map(FieldValue::owned_any))
            })
        },
    )
    .description(format!(
        "{} · {} by id; null when it does not exist for you",
        entity.title, entity.title_en
    ))
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
}

fn mutation_fields(entity: &Arc<EntityDef>) -> Vec<Field> {
    let type_name = entity.type_name.clone();
    let input = format!("{type_name}Input");
    let create = {
        let def = entity.clone();
        Field::new(
            format!("create{type_name}"),
            TypeRef::named_nn(&type_name),
            move |ctx| {
                let def = def.clone();
                FieldFuture::new(async move {
                    let request = request(&ctx)?;
                    let record = parse_input(&def, ctx.args.try_get("input")?)?;
                    let mut created = request
                        .kernel
                        .create(&request.caller(), &def, vec![record], false)
                        .await
                        .map_err(to_graphql_error)?;
                    Ok(created.pop().map(FieldValue::owned_any))
                })
            },
        )
        .argument(InputValue::new("input", TypeRef::named_nn(&input)))
    };
    let create_many = {
        let def = entity.clone();
        Field::new(
            format!("create{}", plural(&type_name)),
            TypeRef::named_nn_list_nn(&type_name),
            move |ctx| {
                let def = def.clone();
                FieldFuture::new(async move {
                    let request = request(&ctx)?;
                    let inputs = ctx
                        .args
                        .try_get("inputs")?
                        .list()?
                        .iter()
                        .map(|value| parse_input(&def, value))
                        .collect::<async_graphql::Result<Vec<_>>>()?;
                    let created = request
                        .kernel
                        .create(&request.caller(), &def, inputs, true)
                        .await
                        .map_err(to_graphql_error)?;
                    Ok(Some(FieldValue::list(
                        created.into_iter().map(FieldValue::owned_any),
                    )))
                })
            },
        )
        .description("Creates all records in one transaction, or none when any is invalid.")
        .argument(InputValue::new("inputs", TypeRef::named_nn_list_nn(&input)))
    };
    let update = {
        let def = entity.clone();
        Field::new(format!("update{type_name}"), TypeRef::named_nn(&type_name), move |ctx| {
            let def = def.clone();
            FieldFuture::new(async move {
                let request = request(&ctx)?;
                let id = parse_id(ctx.args.try_get("id")?, request.locale)?;
                let patch = parse_input(&def, ctx.args.try_get("patch")?)?;
                let expected = ctx.args.get("expectedVersion").filter(|v| !v.is_null()).map(|v| v.i64()).transpose()?;
                let record = request
                    .kernel
                    .update(&request.caller(), &def, id, patch, expected)
                    .await
                    .map_err(to_graphql_error)?;
                Ok(Some(FieldValue::owned_any(record)))
            })
        })
        .description("Applies a patch; with expectedVersion, fails with CONFLICT if the record changed meanwhile.")
        .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
        .argument(InputValue::new("patch", TypeRef::named_nn(&input)))
        .argument(InputValue::new("expectedVersion", TypeRef::named(TypeRef::INT)))
    };
    let delete = {
        let def = entity.clone();
        Field::new(
            format!("delete{type_name}"),
            TypeRef::named_nn(TypeRef::ID),
            move |ctx| {
                let def = def.clone();
                FieldFuture::new(async move {
                    let request = request(&ctx)?;
                    let id = parse_id(ctx.args.try_get("id")?, request.locale)?;
                    request
                        .kernel
                        .delete(&request.caller(), &def, id)
                        .await
                        .map_err(to_graphql_error)?;
                    Ok(Some(FieldValue::value(id.to_string())))
                })
            },
        )
        .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    };
    vec![create, create_many, update, delete]
}

fn meta_types() -> Vec<Object> {
    vec![
        Object::new("PageInfo")
            .field(map_field(
                "hasNextPage",
                "hasNextPage",
                TypeRef::named_nn(TypeRef::BOOLEAN),
            ))
            .field(map_field(
                "hasPreviousPage",
                "hasPreviousPage",
                TypeRef::named_nn(TypeRef::BOOLEAN),
            ))
            .field(map_field(
                "startCursor",
                "startCursor",
                TypeRef::named(TypeRef::STRING),
            ))
            .field(map_field(
                "endCursor",
                "endCursor",
                TypeRef::named(TypeRef::STRING),
            )),
        Object::new("EntityType")
            .description(
                "An entity type with its form schema (JSON Schema 2020-12, `x-jingxi` extensions).",
            )
            .field(
                map_field("name", "name", TypeRef::named_nn(TypeRef::STRING))
                    .description("Qualified name, e.g. crm.customer."),
            )
            .field(map_field(
                "plugin",
                "plugin",
                TypeRef::named_nn(TypeRef::STRING),
            ))
            .field(map_field(
                "typeName",
                "typeName",
                TypeRef::named_nn(TypeRef::STRING),
            ))
            .field(map_field(
                "title",
                "title",
                TypeRef::named_nn(TypeRef::STRING),
            ))
            .field(map_field("schema", "schema", TypeRef::named_nn("JSON")))
            .field(
                map_field("workflow", "workflow", TypeRef::named("JSON")).description(
                    "The state machine of the entity: states, initial state, transitions (from, to, roles, fields, required, routes); null without one.",
                ),
            ),
        Object::new("Plugin")
            .field(map_field("id", "id", TypeRef::named_nn(TypeRef::STRING)))
            .field(map_field(
                "version",
                "version",
                TypeRef::named_nn(TypeRef::STRING),
            ))
            .field(map_field(
                "title",
                "title",
                TypeRef::named_nn(TypeRef::STRING),
            ))
            .field(map_field(
                "requires",
                "requires",
                TypeRef::named_nn_list_nn(TypeRef::STRING),
            )),
        Object::new("Me")
            .field(map_field("id", "id", TypeRef::named_nn(TypeRef::ID)))
            .field(map_field(
                "email",
                "email",
                TypeRef::named_nn(TypeRef::STRING),
            ))
            .field(map_field(
                "name",
                "name",
                TypeRef::named_nn(TypeRef::STRING),
            ))
            .field(map_field(
                "tenant",
                "tenant",
                TypeRef::named_nn(TypeRef::STRING),
            ))
            .field(map_field(
                "roles",
                "roles",
                TypeRef::named_nn_list_nn(TypeRef::STRING),
            ))
            .field(map_field(
                "orgUnitId",
                "orgUnitId",
                TypeRef::named(TypeRef::ID),
            )),
    ]
}

fn meta_fields() -> Vec<Field> {
    let me = Field::new("me", TypeRef::named_nn("Me"), |ctx| {
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            let p = &request.principal;
            let value = serde_json::json!({
                "id": p.user_id.to_string(), "email": p.email, "name": p.name, "tenant": p.tenant_slug,
                "roles": p.roles, "orgUnitId": p.org_unit_id.map(|id| id.to_string()),
            });
            Ok(Some(FieldValue::owned_any(json_object(value))))
        })
    });
    let plugins = Field::new("plugins", TypeRef::named_nn_list_nn("Plugin"), |ctx| {
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            let locale = request.locale;
            Ok(Some(FieldValue::list(request.catalog.plugins.iter().map(|p| {
                FieldValue::owned_any(json_object(serde_json::json!({
                    "id": p.def.id, "version": p.def.version,
                    "title": locale.pick(p.def.title.clone(), p.def.title_en.clone()), "requires": p.def.requires,
                })))
            }))))
        })
    })
    .description("Plugins enabled for your tenant.");
    let entity_types = Field::new("entityTypes", TypeRef::named_nn_list_nn("EntityType"), |ctx| {
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            let locale = match ctx.args.get("locale").filter(|v| !v.is_null()) {
                Some(value) => Locale::parse(value.string()?),
                None => request.locale,
            };
            Ok(Some(FieldValue::list(request.catalog.entities().map(|e| {
                FieldValue::owned_any(json_object(serde_json::json!({
                    "name": e.qualified, "plugin": e.plugin, "typeName": e.type_name,
                    "title": locale.pick(e.title.clone(), e.title_en.clone()), "schema": e.schema_for(locale),
                    "workflow": events::workflow_json(e, locale),
                })))
            }))))
        })
    })
    .description("Every enabled entity type with its JSON Schema, in zh-CN (default) or en.")
    .argument(InputValue::new("locale", TypeRef::named(TypeRef::STRING)));
    vec![me, plugins, entity_types]
}

fn plugin_value(plugin: &crate::runtime::InstalledPlugin, locale: Locale) -> FieldValue<'static> {
    FieldValue::owned_any(json_object(serde_json::json!({
        "id": plugin.def.id, "version": plugin.def.version,
        "title": locale.pick(plugin.def.title.clone(), plugin.def.title_en.clone()), "requires": plugin.def.requires,
    })))
}

fn require_admin(request: &RequestContext) -> async_graphql::Result<()> {
    if request.principal.is_admin() {
        return Ok(());
    }
    Err(coded(
        Code::Forbidden,
        request.locale.pick(
            "只有租户管理员可以管理模块。",
            "Only a tenant admin may manage modules.",
        ),
    ))
}

/// Module management: install (operator tenant only), enable and disable (tenant admins).
fn admin_mutations() -> Vec<Field> {
    let install = Field::new("installPlugin", TypeRef::named_nn("Plugin"), |ctx| {
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            require_admin(&request)?;
            let operator = request.kernel.config.api.operator_tenant.as_deref();
            if operator != Some(request.principal.tenant_slug.as_str()) {
                return Err(coded(
                    Code::Forbidden,
                    request.locale.pick(
                        "插件由所有租户共享,只有运维租户的管理员可以安装。",
                        "Plugins are shared by all tenants; only admins of the operator tenant (api.operator_tenant) may install them.",
                    ),
                ));
            }
            use base64::Engine as _;
            let wasm = base64::engine::general_purpose::STANDARD.decode(ctx.args.try_get("wasm")?.string()?).map_err(|error| {
                coded(Code::ValidationFailed, format!("wasm is not base64: {error}"))
            })?;
            let installed = request.kernel.install_plugin(wasm).await.map_err(to_graphql_error)?;
            Ok(Some(plugin_value(&installed, request.locale)))
        })
    })
    .description("Installs or upgrades a plugin from its .wasm (base64). Upgrades must be additive.")
    .argument(InputValue::new("wasm", TypeRef::named_nn(TypeRef::STRING)));
    let switch = |name: &'static str, enable: bool| {
        Field::new(name, TypeRef::named_nn_list_nn("Plugin"), move |ctx| {
            FieldFuture::new(async move {
                let request = request(&ctx)?;
                require_admin(&request)?;
                let id = ctx.args.try_get("id")?.string()?.to_string();
                let slug = request.principal.tenant_slug.clone();
                let result = if enable {
                    request.kernel.enable_plugin(&slug, &id).await
                } else {
                    request.kernel.disable_plugin(&slug, &id).await
                };
                result.map_err(to_graphql_error)?;
                let catalog = request
                    .kernel
                    .catalog(request.principal.tenant_id)
                    .await
                    .map_err(to_graphql_error)?;
                Ok(Some(FieldValue::list(
                    catalog
                        .plugins
                        .iter()
                        .map(|p| plugin_value(p, request.locale)),
                )))
            })
        })
        .description(if enable {
            "Enables an installed plugin for your tenant; returns the enabled plugins."
        } else {
            "Disables a plugin for your tenant (its records stay); returns the enabled plugins."
        })
        .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING)))
    };
    vec![
        install,
        switch("enablePlugin", true),
        switch("disablePlugin", false),
    ]
}

/// Builds the schema for one tenant catalog.
pub fn build_schema(catalog: &TenantCatalog, limits: &ApiConfig) -> Result<Schema, SchemaError> {
    let mut query = Object::new("Query");
    let mut mutation = Object::new("Mutation");
    let mut subscription = async_graphql::dynamic::Subscription::new("Subscription");
    let has_entities = catalog.entities().next().is_some();
    let mut builder = Schema::build(
        "Query",
        Some("Mutation"),
        has_entities.then_some("Subscription"),
    )
    .register(
        Scalar::new("Decimal")
            .description("An exact decimal number, written as a string: \"1234.50\"."),
    )
    .register(Scalar::new("Date").description("A calendar date: \"2026-11-27\"."))
    .register(
        Scalar::new("DateTime").description("An RFC 3339 date-time: \"2026-11-27T09:30:00Z\"."),
    )
    .register(Scalar::new("JSON").description("Any JSON value."))
    .register(Enum::new("SortDirection").item("ASC").item("DESC"));
    for input in filter::operator_inputs() {
        builder = builder.register(input);
    }
    let (kpi_enums, kpi_objects) = kpi::types();
    for item in kpi_enums {
        builder = builder.register(item);
    }
    for object in meta_types()
        .into_iter()
        .chain(events::types())
        .chain(kpi_objects)
    {
        builder = builder.register(object);
    }
    for field in meta_fields()
        .into_iter()
        .chain(events::query_fields())
        .chain(kpi::query_fields())
    {
        query = query.field(field);
    }
    for entity in catalog.entities() {
        builder = builder
            .register(entity_object(entity, catalog, limits))
            .register(input_object(entity))
            .register(filter::filter_input(entity));
        for child in &entity.children {
            let (object, input) = child_types(child);
            builder = builder.register(object).register(input);
        }
        let (order_enum, order_input) = filter::order_types(entity);
        let (edge, connection) = connection_types(entity);
        builder = builder
            .register(order_enum)
            .register(order_input)
            .register(edge)
            .register(connection);
        let (group_fields, numbers, group) = aggregate::types(entity);
        builder = builder.register(group_fields).register(group);
        if let Some(numbers) = numbers {
            builder = builder.register(numbers);
        }
        query = query
            .field(get_field(entity))
            .field(list_field(entity, limits))
            .field(aggregate::query_field(entity, &plural(&entity.type_name)));
        for field in mutation_fields(entity)
            .into_iter()
            .chain(events::mutation_fields(entity))
        {
            mutation = mutation.field(field);
        }
        builder = builder.register(events::change_type(entity));
        subscription = subscription.field(events::subscription_field(entity));
    }
    for field in admin_mutations()
        .into_iter()
        .chain(events::admin_mutations())
    {
        mutation = mutation.field(field);
    }
    if has_entities {
        builder = builder.register(subscription);
    }
    builder
        .register(query)
        .register(mutation)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .finish()
}
