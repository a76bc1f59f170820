//! Workflows, history, webhooks, subscriptions and token revocation in the API: the
//! `transitions` of each record, `transition<Type>` mutations, `history`, webhook
//! administration, `<type>Changed` subscriptions and `revokeUserTokens`.

use std::sync::Arc;

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, SubscriptionField, SubscriptionFieldFuture,
    TypeRef,
};
use serde_json::{Map, Value, json};

use super::RequestContext;
use super::schema::{coded, json_object, lower_first, map_field, parse_id, parse_input, request};
use super::to_graphql_error;
use crate::error::Code;
use crate::model::{EntityDef, Locale};
use crate::runtime::{ChangeEvent, HISTORY_PAGE_MAX, TransitionView};

/// Types this module adds to every schema.
pub fn types() -> Vec<Object> {
    let text = |name: &str| map_field(name, name, TypeRef::named(TypeRef::STRING));
    let text_nn = |name: &str| map_field(name, name, TypeRef::named_nn(TypeRef::STRING));
    vec![
        Object::new("Transition")
            .description("A workflow step leaving the record's current state, as you see it.")
            .field(text_nn("id"))
            .field(text_nn("title"))
            .field(text_nn("to").description("The state the record would go to now (thresholds applied)."))
            .field(text_nn("toTitle"))
            .field(map_field("allowed", "allowed", TypeRef::named_nn(TypeRef::BOOLEAN)))
            .field(text("reason").description("Why you may not take it, when not allowed."))
            .field(map_field("fields", "fields", TypeRef::named_nn_list_nn(TypeRef::STRING))
                .description("Fields that can be set with the step (schema property names)."))
            .field(map_field("missing", "missing", TypeRef::named_nn_list_nn(TypeRef::STRING))
                .description("Required fields still empty; give them in `input`.")),
        Object::new("HistoryEntry")
            .description("One change of a record. Fields you may not read are left out of `changes`.")
            .field(map_field("id", "id", TypeRef::named_nn(TypeRef::ID)))
            .field(text_nn("kind").description("create, update, delete or transition"))
            .field(map_field("actorId", "actorId", TypeRef::named_nn(TypeRef::ID)))
            .field(map_field("at", "at", TypeRef::named_nn("DateTime")))
            .field(text("transition"))
            .field(text("fromState"))
            .field(text("toState"))
            .field(text("comment"))
            .field(map_field("changes", "changes", TypeRef::named_nn("JSON"))
                .description("{\"field\": {\"before\": …, \"after\": …}} for each field that changed.")),
        Object::new("Webhook")
            .field(map_field("id", "id", TypeRef::named_nn(TypeRef::ID)))
            .field(text_nn("url"))
            .field(text_nn("entity").description("A qualified entity, or * for all."))
            .field(map_field("kinds", "kinds", TypeRef::named_nn_list_nn(TypeRef::STRING)))
            .field(text_nn("secret").description(
                "HMAC-SHA256 key: X-Jingxi-Signature is sha256=hex(HMAC(secret, \"<X-Jingxi-Timestamp>.<body>\")).",
            ))
            .field(map_field("active", "active", TypeRef::named_nn(TypeRef::BOOLEAN)))
            .field(map_field("createdAt", "createdAt", TypeRef::named_nn("DateTime"))),
        Object::new("WebhookDelivery")
            .field(map_field("id", "id", TypeRef::named_nn(TypeRef::ID)))
            .field(map_field("eventId", "eventId", TypeRef::named_nn(TypeRef::ID)))
            .field(text_nn("status").description("pending, delivered, failed or cancelled"))
            .field(map_field("attempts", "attempts", TypeRef::named_nn(TypeRef::INT)))
            .field(map_field("nextAttemptAt", "nextAttemptAt", TypeRef::named_nn("DateTime")))
            .field(map_field("lastStatusCode", "lastStatusCode", TypeRef::named(TypeRef::INT)))
            .field(text("lastError"))
            .field(map_field("deliveredAt", "deliveredAt", TypeRef::named("DateTime"))),
    ]
}

fn transition_value(view: TransitionView) -> FieldValue<'static> {
    FieldValue::owned_any(json_object(json!({
        "id": view.id, "title": view.title, "to": view.to, "toTitle": view.to_title,
        "allowed": view.allowed, "reason": view.reason, "fields": view.fields, "missing": view.missing,
    })))
}

/// `stateTitle` and `transitions` on the type of an entity with a workflow.
pub fn record_fields(entity: &Arc<EntityDef>) -> Vec<Field> {
    if entity.workflow.is_none() {
        return Vec::new();
    }
    let def = entity.clone();
    let transitions = Field::new(
        "transitions",
        TypeRef::named_nn_list_nn("Transition"),
        move |ctx| {
            let def = def.clone();
            FieldFuture::new(async move {
                let request = request(&ctx)?;
                let record = ctx.parent_value.try_downcast_ref::<Map<String, Value>>()?;
                let views = request
                    .kernel
                    .transitions_for(&request.caller(), &def, record);
                Ok(Some(FieldValue::list(
                    views.into_iter().map(transition_value),
                )))
            })
        },
    )
    .description("The steps leaving the current state: portals draw their buttons from it.");
    let def = entity.clone();
    let state_title = Field::new("stateTitle", TypeRef::named(TypeRef::STRING), move |ctx| {
        let def = def.clone();
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            let record = ctx.parent_value.try_downcast_ref::<Map<String, Value>>()?;
            let title = record
                .get("state")
                .and_then(Value::as_str)
                .and_then(|state| def.workflow.as_ref()?.state(state))
                .map(|state| state.title_in(request.locale).to_string());
            Ok(title.map(FieldValue::value))
        })
    });
    vec![state_title, transitions]
}

/// `transition<Type>` for an entity with a workflow.
pub fn mutation_fields(entity: &Arc<EntityDef>) -> Vec<Field> {
    if entity.workflow.is_none() {
        return Vec::new();
    }
    let type_name = entity.type_name.clone();
    let def = entity.clone();
    let field = Field::new(
        format!("transition{type_name}"),
        TypeRef::named_nn(&type_name),
        move |ctx| {
            let def = def.clone();
            FieldFuture::new(async move {
                let request = request(&ctx)?;
                let id = parse_id(ctx.args.try_get("id")?, request.locale)?;
                let transition = ctx.args.try_get("transition")?.string()?.to_string();
                let comment = match ctx.args.get("comment").filter(|v| !v.is_null()) {
                    Some(value) => value.string()?.to_string(),
                    None => String::new(),
                };
                let patch = match ctx.args.get("input").filter(|v| !v.is_null()) {
                    Some(value) => parse_input(&def, value)?,
                    None => Map::new(),
                };
                let expected = ctx
                    .args
                    .get("expectedVersion")
                    .filter(|v| !v.is_null())
                    .map(|v| v.i64())
                    .transpose()?;
                let record = request
                    .kernel
                    .transition(
                        &request.caller(),
                        &def,
                        id,
                        &transition,
                        &comment,
                        patch,
                        expected,
                    )
                    .await
                    .map_err(to_graphql_error)?;
                Ok(Some(FieldValue::owned_any(record)))
            })
        },
    )
    .description(
        "Takes a workflow step. `input` sets the fields the step takes (see Transition.fields); \
         the plugin's effects and the history entry are written in the same transaction. \
         FORBIDDEN when your roles may not take it; CONFLICT when the record moved on.",
    )
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new(
        "transition",
        TypeRef::named_nn(TypeRef::STRING),
    ))
    .argument(InputValue::new("comment", TypeRef::named(TypeRef::STRING)))
    .argument(InputValue::new(
        "input",
        TypeRef::named(format!("{type_name}Input")),
    ))
    .argument(InputValue::new(
        "expectedVersion",
        TypeRef::named(TypeRef::INT),
    ));
    vec![field]
}

/// The workflow of an entity as `EntityType.workflow` shows it.
pub fn workflow_json(entity: &EntityDef, locale: Locale) -> Value {
    let Some(workflow) = &entity.workflow else {
        return Value::Null;
    };
    json!({
        "initial": workflow.initial,
        "states": workflow.states.iter().map(|s| json!({
            "id": s.id, "title": s.title_in(locale), "final": s.is_final,
        })).collect::<Vec<_>>(),
        "transitions": workflow.transitions.iter().map(|t| json!({
            "id": t.id, "title": t.title_in(locale), "from": t.from, "to": t.to,
            "roles": t.roles, "assignee": t.assignee, "fields": t.fields, "required": t.required,
            "routes": t.routes.iter().map(|r| json!({
                "field": r.field, "op": r.op.symbol(), "threshold": r.threshold.to_string(), "to": r.to,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Date-times as records show them: RFC 3339, UTC, microseconds.
fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn webhook_value(hook: crate::store::WebhookRow) -> FieldValue<'static> {
    FieldValue::owned_any(json_object(json!({
        "id": hook.id, "url": hook.url, "entity": hook.entity, "kinds": hook.kinds,
        "secret": hook.secret, "active": hook.active, "createdAt": timestamp(hook.created_at),
    })))
}

/// `history`, `webhooks` and `webhookDeliveries`.
pub fn query_fields() -> Vec<Field> {
    let history = Field::new("history", TypeRef::named_nn_list_nn("HistoryEntry"), |ctx| {
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            let name = ctx.args.try_get("entity")?.string()?;
            let id = parse_id(ctx.args.try_get("id")?, request.locale)?;
            let Some(entity) = request.catalog.entity(name) else {
                return Err(coded(
                    Code::NotFound,
                    request.locale.pick(format!("没有实体 {name}。"), format!("There is no entity {name}.")),
                ));
            };
            let after = match ctx.args.get("after").filter(|v| !v.is_null()) {
                Some(value) => Some(parse_id(value, request.locale)?),
                None => None,
            };
            let first = match ctx.args.get("first").filter(|v| !v.is_null()) {
                Some(value) => value.u64()?,
                None => 100,
            };
            if first > HISTORY_PAGE_MAX {
                return Err(coded(
                    Code::LimitExceeded,
                    request.locale.pick(
                        format!("一次最多读取 {HISTORY_PAGE_MAX} 条历史。"),
                        format!("At most {HISTORY_PAGE_MAX} history entries at once."),
                    ),
                ));
            }
            let entries = request
                .kernel
                .history(&request.principal, &entity, id, (after, first), request.locale)
                .await
                .map_err(to_graphql_error)?;
            Ok(Some(FieldValue::list(entries.into_iter().map(|e| {
                FieldValue::owned_any(json_object(json!({
                    "id": e.id, "kind": e.kind, "actorId": e.actor,
                    "at": timestamp(e.at),
                    "transition": e.transition, "fromState": e.from_state, "toState": e.to_state,
                    "comment": e.comment, "changes": e.changes,
                })))
            }))))
        })
    })
    .description("The change history of one record, oldest first (append-only; nothing changes or deletes it). Page with `first` (default 100, at most 1000) and `after` (the id of the last entry you have).")
    .argument(InputValue::new("entity", TypeRef::named_nn(TypeRef::STRING)).description("Qualified, e.g. crm.complaint."))
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)))
    .argument(InputValue::new("after", TypeRef::named(TypeRef::ID)));
    let webhooks = Field::new("webhooks", TypeRef::named_nn_list_nn("Webhook"), |ctx| {
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            let hooks = request
                .kernel
                .webhooks(&request.caller())
                .await
                .map_err(to_graphql_error)?;
            Ok(Some(FieldValue::list(hooks.into_iter().map(webhook_value))))
        })
    })
    .description("Your tenant's webhooks (admins only).");
    let deliveries = Field::new("webhookDeliveries", TypeRef::named_nn_list_nn("WebhookDelivery"), |ctx| {
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            let id = parse_id(ctx.args.try_get("webhookId")?, request.locale)?;
            let first = match ctx.args.get("first").filter(|v| !v.is_null()) {
                Some(value) => value.u64()?,
                None => 50,
            };
            let rows = request
                .kernel
                .webhook_deliveries(&request.caller(), id, first)
                .await
                .map_err(to_graphql_error)?;
            Ok(Some(FieldValue::list(rows.into_iter().map(|d| {
                FieldValue::owned_any(json_object(json!({
                    "id": d.id, "eventId": d.event_id, "status": d.status, "attempts": d.attempts,
                    "nextAttemptAt": timestamp(d.next_attempt_at), "lastStatusCode": d.last_status_code,
                    "lastError": d.last_error, "deliveredAt": d.delivered_at.map(timestamp),
                })))
            }))))
        })
    })
    .description("The latest deliveries of one webhook, newest first (admins only).")
    .argument(InputValue::new("webhookId", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)));
    vec![history, webhooks, deliveries]
}

/// `createWebhook` and `deleteWebhook`.
pub fn admin_mutations() -> Vec<Field> {
    let create = Field::new("createWebhook", TypeRef::named_nn("Webhook"), |ctx| {
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            let url = ctx.args.try_get("url")?.string()?.to_string();
            let entity = ctx.args.try_get("entity")?.string()?.to_string();
            let kinds = ctx
                .args
                .try_get("kinds")?
                .list()?
                .iter()
                .map(|v| v.string().map(str::to_string))
                .collect::<async_graphql::Result<Vec<_>>>()?;
            let hook = request
                .kernel
                .create_webhook(&request.caller(), &url, &entity, &kinds)
                .await
                .map_err(to_graphql_error)?;
            Ok(Some(webhook_value(hook)))
        })
    })
    .description(
        "Registers a webhook (admins only): every committed event of `entity` (or * for all) whose \
         kind is in `kinds` (create, update, delete, transition) is POSTed as JSON, signed, retried \
         with backoff until a 2xx answer; X-Jingxi-Event-Id is stable for de-duplication.",
    )
    .argument(InputValue::new("url", TypeRef::named_nn(TypeRef::STRING)))
    .argument(InputValue::new("entity", TypeRef::named_nn(TypeRef::STRING)))
    .argument(InputValue::new("kinds", TypeRef::named_nn_list_nn(TypeRef::STRING)));
    let delete = Field::new("deleteWebhook", TypeRef::named_nn(TypeRef::ID), |ctx| {
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            let id = parse_id(ctx.args.try_get("id")?, request.locale)?;
            request
                .kernel
                .delete_webhook(&request.caller(), id)
                .await
                .map_err(to_graphql_error)?;
            Ok(Some(FieldValue::value(id.to_string())))
        })
    })
    .description("Removes a webhook; its pending deliveries are cancelled, its delivery log stays.")
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)));
    let revoke = Field::new("revokeUserTokens", TypeRef::named_nn(TypeRef::INT), |ctx| {
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            let email = ctx.args.try_get("email")?.string()?.to_string();
            let revoked = request
                .kernel
                .revoke_user_tokens(&request.caller(), &email)
                .await
                .map_err(to_graphql_error)?;
            Ok(Some(FieldValue::value(revoked as i64)))
        })
    })
    .description("Revokes every token of a user of your tenant (admins only); returns how many.")
    .argument(InputValue::new("email", TypeRef::named_nn(TypeRef::STRING)));
    vec![create, delete, revoke]
}

/// The `<Type>Change` object of an entity's subscription.
pub fn change_type(entity: &EntityDef) -> Object {
    let text = |name: &str| map_field(name, name, TypeRef::named(TypeRef::STRING));
    let record_key = "record".to_string();
    Object::new(format!("{}Change", entity.type_name))
        .field(map_field(
            "eventId",
            "eventId",
            TypeRef::named_nn(TypeRef::ID),
        ))
        .field(map_field(
            "kind",
            "kind",
            TypeRef::named_nn(TypeRef::STRING),
        ))
        .field(map_field(
            "recordId",
            "recordId",
            TypeRef::named_nn(TypeRef::ID),
        ))
        .field(map_field("at", "at", TypeRef::named_nn("DateTime")))
        .field(map_field(
            "actorId",
            "actorId",
            TypeRef::named_nn(TypeRef::ID),
        ))
        .field(text("transition"))
        .field(
            Field::new("record", TypeRef::named(&entity.type_name), move |ctx| {
                let key = record_key.clone();
                FieldFuture::new(async move {
                    let parent = ctx.parent_value.try_downcast_ref::<Map<String, Value>>()?;
                    Ok(parent
                        .get(&key)
                        .and_then(Value::as_object)
                        .cloned()
                        .map(FieldValue::owned_any))
                })
            })
            .description("The record as you may read it now; null after a delete."),
        )
}

fn change_value(event: &ChangeEvent, record: Map<String, Value>) -> Map<String, Value> {
    json_object(json!({
        "eventId": event.event_id, "kind": event.kind, "recordId": event.record_id,
        "at": timestamp(event.at),
        "actorId": event.actor, "transition": event.transition,
        "record": (event.kind != "delete").then_some(Value::Object(record)),
    }))
}

/// `<type>Changed(kinds)`: committed changes of records the subscriber may read, as they happen.
pub fn subscription_field(entity: &Arc<EntityDef>) -> SubscriptionField {
    let def = entity.clone();
    SubscriptionField::new(
        format!("{}Changed", lower_first(&entity.type_name)),
        TypeRef::named_nn(format!("{}Change", entity.type_name)),
        move |ctx| {
            let def = def.clone();
            SubscriptionFieldFuture::new(async move {
                let request: RequestContext = request(&ctx)?;
                let kinds: Option<Vec<String>> = match ctx.args.get("kinds").filter(|v| !v.is_null()) {
                    Some(value) => Some(
                        value
                            .list()?
                            .iter()
                            .map(|v| v.string().map(str::to_string))
                            .collect::<async_graphql::Result<_>>()?,
                    ),
                    None => None,
                };
                if let Some(unknown) = kinds
                    .iter()
                    .flatten()
                    .find(|k| !crate::runtime::EVENT_KINDS.contains(&k.as_str()))
                {
                    return Err(coded(
                        Code::ValidationFailed,
                        request.locale.pick(
                            format!("没有事件类型 {unknown};可用:{}。", crate::runtime::EVENT_KINDS.join(", ")),
                            format!("There is no event kind {unknown}; use {}.", crate::runtime::EVENT_KINDS.join(", ")),
                        ),
                    ));
                }
                let receiver = request.kernel.subscribe();
                let state = (receiver, request, def, kinds);
                Ok(futures_util::stream::unfold(state, |(mut receiver, request, def, kinds)| async move {
                    loop {
                        let event = match receiver.recv().await {
                            Ok(event) => event,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                                let error = coded(
                                    Code::LimitExceeded,
                                    request.locale.pick(
                                        format!("订阅跟不上,错过了 {missed} 个事件。"),
                                        format!("The subscription fell behind and missed {missed} events."),
                                    ),
                                );
                                return Some((Err(error), (receiver, request, def, kinds)));
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                        };
                        if kinds.as_ref().is_some_and(|k| !k.contains(&event.kind)) {
                            continue;
                        }
                        match request.kernel.may_see(&request.principal, &def, &event).await {
                            Ok(Some(record)) => {
                                let value = FieldValue::owned_any(change_value(&event, record));
                                return Some((Ok(value), (receiver, request, def, kinds)));
                            }
                            Ok(None) => continue,
                            Err(error) => {
                                return Some((Err(to_graphql_error(error)), (receiver, request, def, kinds)));
                            }
                        }
                    }
                }))
            })
        },
    )
    .description(format!(
        "Committed changes of {} records you may read (create, update, delete, transition).",
        entity.qualified
    ))
    .argument(InputValue::new("kinds", TypeRef::named_nn_list(TypeRef::STRING)).description("Only these kinds; all when absent."))
}
