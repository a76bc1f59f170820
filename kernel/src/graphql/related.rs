//! Reverse references as connections: `CrmCustomer.crmVisitRecordsByCustomer` lists the visit
//! records whose `customer` names the customer. The pages of every parent in a response that
//! ask the same question are read in one statement (a DataLoader batch), never one per row.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, TypeRef};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::schema::{
    Connection, connection_wants_children, cursor_argument, filter_and_order, forward_arguments,
    lower_first, page_argument, plural, request,
};
use super::{RequestContext, graphql_error_of};
use crate::config::ApiConfig;
use crate::model::{EntityDef, FieldDef, FieldKind};
use crate::runtime::{self, TenantCatalog};
use crate::store::{Filter, Op, Order, Page, Related};

/// One question asked of many parents: which page of `entity`'s records refer to each of them
/// through `field`.
struct Question {
    /// Tells questions apart: the entity, field, filter, order and page, spelled out.
    text: String,
    entity: Arc<EntityDef>,
    field: String,
    filter: Option<Filter>,
    order: Vec<Order>,
    page: Page,
}

/// One parent of one question.
#[derive(Clone)]
pub struct RelatedKey {
    question: Arc<Question>,
    parent: Uuid,
}

impl PartialEq for RelatedKey {
    fn eq(&self, other: &Self) -> bool {
        self.parent == other.parent && self.question.text == other.question.text
    }
}

impl Eq for RelatedKey {}

impl Hash for RelatedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.question.text.hash(state);
        self.parent.hash(state);
    }
}

/// Reads reverse references for one request, through the caller's read access.
pub struct RelatedLoader {
    context: RequestContext,
}

impl Loader<RelatedKey> for RelatedLoader {
    type Value = Related;
    type Error = Arc<runtime::Error>;

    // Keys hash and compare by the question's text and the parent only, never by the entity
    // definition's caches.
    #[allow(clippy::mutable_key_type)]
    async fn load(&self, keys: &[RelatedKey]) -> Result<HashMap<RelatedKey, Related>, Self::Error> {
        let mut questions: HashMap<&str, (&Arc<Question>, Vec<Uuid>)> = HashMap::new();
        for key in keys {
            questions
                .entry(&key.question.text)
                .or_insert_with(|| (&key.question, Vec::new()))
                .1
                .push(key.parent);
        }
        let mut answers = HashMap::new();
        for (question, parents) in questions.into_values() {
            let mut pages = self
                .context
                .kernel
                .list_related(
                    &self.context.principal,
                    &question.entity,
                    &question.field,
                    &parents,
                    question.filter.as_ref(),
                    &question.order,
                    question.page,
                )
                .await
                .map_err(Arc::new)?;
            for parent in parents {
                let page = pages.remove(&parent).unwrap_or_default();
                let key = RelatedKey {
                    question: question.clone(),
                    parent,
                };
                answers.insert(key, page);
            }
        }
        Ok(answers)
    }
}

pub fn related_loader(context: RequestContext) -> DataLoader<RelatedLoader> {
    DataLoader::new(RelatedLoader { context }, tokio::spawn)
}

/// The reference fields of the catalog's entities that point at `target`, with their entity.
pub fn referring<'a>(
    catalog: &'a TenantCatalog,
    target: &'a EntityDef,
) -> impl Iterator<Item = (&'a Arc<EntityDef>, &'a FieldDef)> + 'a {
    catalog.entities().flat_map(move |source| {
        source
            .fields
            .iter()
            .filter(move |field| {
                matches!(&field.kind, FieldKind::Ref { target: t } if *t == target.qualified)
            })
            .map(move |field| (source, field))
    })
}

/// `crmVisitRecordsByCustomer`: the list field's name, `By`, the reference field's name.
pub fn field_name(source: &EntityDef, field: &FieldDef) -> String {
    let mut name = lower_first(&plural(&source.type_name));
    name.push_str("By");
    let mut chars = field.graphql_name.chars();
    if let Some(first) = chars.next() {
        name.extend(first.to_uppercase());
        name.push_str(chars.as_str());
    }
    name
}

/// The connection of `source` records whose reference `field` names the parent record.
pub fn field(source: &Arc<EntityDef>, field: &FieldDef, limits: &ApiConfig) -> Field {
    let def = source.clone();
    let key = field.name.clone();
    let limits = limits.clone();
    let connection = Field::new(
        field_name(source, field),
        TypeRef::named_nn(format!("{}Connection", source.type_name)),
        move |ctx| {
            let def = def.clone();
            let key = key.clone();
            let limits = limits.clone();
            FieldFuture::new(async move {
                let request = request(&ctx)?;
                let parent = ctx.parent_value.try_downcast_ref::<Map<String, Value>>()?;
                let Some(parent) = parent
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| Uuid::parse_str(id).ok())
                else {
                    return Ok(None);
                };
                let (filter, order) = filter_and_order(&ctx, &def)?;
                let limit = page_argument(&ctx, "first", &limits, request.locale)?
                    .unwrap_or(limits.default_page_size);
                let offset = cursor_argument(&ctx, "after", request.locale)?
                    .map(|after| after.saturating_add(1))
                    .unwrap_or(0);
                let page = Page {
                    offset,
                    limit: limit + 1,
                    children: connection_wants_children(&ctx, &def),
                };
                let question = Question {
                    text: format!(
                        "{}|{key}|{filter:?}|{order:?}|{offset}|{limit}|{}",
                        def.qualified, page.children
                    ),
                    entity: def.clone(),
                    field: key.clone(),
                    filter: filter.clone(),
                    order,
                    page,
                };
                let loader = ctx.data::<DataLoader<RelatedLoader>>()?;
                let related = loader
                    .load_one(RelatedKey {
                        question: Arc::new(question),
                        parent,
                    })
                    .await
                    .map_err(|error| graphql_error_of(&error))?
                    .unwrap_or_default();
                let mut records = related.records;
                let has_next = records.len() as u64 > limit;
                records.truncate(limit as usize);
                // No row from the first page on: nothing refers to the parent.
                let total = related.total.or((offset == 0).then_some(0));
                // `totalCount` beyond the last page counts with the parent as a condition.
                let mut scope = vec![Filter::Field {
                    field: key,
                    op: Op::Eq(Value::String(parent.to_string())),
                }];
                scope.extend(filter);
                Ok(Some(FieldValue::owned_any(Connection {
                    entity: def,
                    filter: Some(Filter::And(scope)),
                    records,
                    offset,
                    has_next,
                    has_previous: offset > 0,
                    total,
                })))
            })
        },
    )
    .description(format!(
        "{} · {} whose {} · {} is this record",
        source.title, source.title_en, field.title, field.title_en
    ));
    forward_arguments(connection, source)
}
