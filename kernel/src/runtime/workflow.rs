//! Taking workflow transitions: who may, what must be filled, where the record goes, and the
//! plugin's effects, all applied in one transaction with the record's audit event.

use chrono::Utc;
use serde_json::Value;
use uuid::Uuid;

use super::events::{Change, ChangeLog, visible};
use super::{
    Caller, Error, Kernel, RecordIssue, Result, conflict, store_system_field, tenant_wide,
    without_nulls,
};
use crate::model::{EntityDef, Locale, TransitionDef};
use crate::permissions::{ADMIN_ROLE, Action, Principal};
use crate::plugin_host::{self, EffectKind};
use crate::store::{self, Record};

/// A transition as one user sees it on one record: portals draw their buttons from it.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionView {
    pub id: String,
    pub title: String,
    /// The state the record would go to now (thresholds applied to its current values).
    pub to: String,
    pub to_title: String,
    /// Whether this user may take it now.
    pub allowed: bool,
    /// Why not, when not allowed.
    pub reason: Option<String>,
    /// Fields that can be set with the transition.
    pub fields: Vec<String>,
    /// Required fields still empty: they must be given with the transition.
    pub missing: Vec<String>,
}

/// Most effects one transition may return.
const MAX_EFFECTS: usize = 100;

fn may_take(principal: &Principal, transition: &TransitionDef, record: &Record) -> bool {
    if principal.roles.iter().any(|r| r == ADMIN_ROLE) {
        return true;
    }
    let by_role = transition
        .roles
        .iter()
        .any(|role| principal.roles.contains(role));
    let assigned = transition.assignee.as_ref().is_some_and(|field| {
        record.get(field).and_then(Value::as_str) == Some(principal.user_id.to_string().as_str())
    });
    by_role || assigned
}

fn who_may(transition: &TransitionDef, catalog: &super::TenantCatalog, locale: Locale) -> String {
    let mut names: Vec<String> = transition
        .roles
        .iter()
        .map(|role| {
            catalog
                .role_title(role, locale)
                .unwrap_or_else(|| role.clone())
        })
        .collect();
    if let Some(field) = &transition.assignee {
        names.push(locale.pick(
            format!("记录的「{field}」"),
            format!("the record's {field}"),
        ));
    }
    names.join(locale.pick("、".to_string(), ", ".to_string()).as_str())
}

impl Kernel {
    /// The transitions leaving the record's current state, as `caller` sees them.
    pub fn transitions_for(
        &self,
        caller: &Caller<'_>,
        entity: &EntityDef,
        record: &Record,
    ) -> Vec<TransitionView> {
        let Some(workflow) = &entity.workflow else {
            return Vec::new();
        };
        let locale = caller.locale;
        let state = record.get("state").and_then(Value::as_str).unwrap_or("");
        workflow
            .from_state(state)
            .map(|transition| {
                let (to, _) = transition.target(record);
                let allowed = may_take(caller.principal, transition, record);
                TransitionView {
                    id: transition.id.clone(),
                    title: transition.title_in(locale).to_string(),
                    to: to.to_string(),
                    to_title: workflow
                        .state(to)
                        .map(|s| s.title_in(locale).to_string())
                        .unwrap_or_default(),
                    allowed,
                    reason: (!allowed).then(|| {
                        let who = who_may(transition, caller.catalog, locale);
                        locale.pick(
                            format!("仅限{who}执行。"),
                            format!("Only {who} may take this step."),
                        )
                    }),
                    fields: transition.fields.clone(),
                    missing: transition
                        .missing(record)
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                }
            })
            .collect()
    }

    /// Takes a transition: checks the state, the caller's right and the required fields, runs
    /// the plugin's guard and effects, and stores the record with its new state, the effects
    /// and the audit events in one transaction. `CONFLICT` when the record moved on meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub async fn transition(
        &self,
        caller: &Caller<'_>,
        entity: &EntityDef,
        id: Uuid,
        transition_id: &str,
        comment: &str,
        patch: Record,
        expected_version: Option<i64>,
    ) -> Result<Record> {
        let (principal, locale) = (caller.principal, caller.locale);
        let Some(workflow) = &entity.workflow else {
            return Err(Error::BadRequest(locale.pick(
                format!("{} 没有流程。", entity.qualified),
                format!("{} has no workflow.", entity.qualified),
            )));
        };
        if comment.chars().count() > 2000 {
            return Err(Error::LimitExceeded(locale.pick(
                "备注最多 2000 字。".to_string(),
                "A comment has at most 2000 characters.".to_string(),
            )));
        }
        let current = self.current(principal, entity, id, locale).await?;
        let Some(transition) = workflow.transition(transition_id) else {
            let known: Vec<&str> = workflow.transitions.iter().map(|t| t.id.as_str()).collect();
            return Err(Error::Validation {
                issues: vec![RecordIssue {
                    index: None,
                    pointer: "/transition".into(),
                    code: "unknown_transition".into(),
                    message: locale.pick(
                        format!("没有流程动作 {transition_id};可用:{}", known.join(", ")),
                        format!(
                            "There is no transition {transition_id}; the workflow has {}.",
                            known.join(", ")
                        ),
                    ),
                }],
            });
        };
        let state = current
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !may_take(principal, transition, &current) {
            let who = who_may(transition, caller.catalog, locale);
            return Err(Error::Forbidden(locale.pick(
                format!("「{}」仅限{who}执行。", transition.title),
                format!("Only {who} may take the step {}.", transition.title_en),
            )));
        }
        if !transition.from.contains(&state) {
            let title = workflow
                .state(&state)
                .map(|s| s.title_in(locale).to_string())
                .unwrap_or_else(|| state.clone());
            return Err(Error::Conflict(locale.pick(
                format!("记录处于「{title}」,不能执行「{}」。", transition.title),
                format!(
                    "The record is {title}; {} is not possible from there. Hint: read it again.",
                    transition.title_en
                ),
            )));
        }
        for key in patch.keys() {
            if !transition.fields.contains(key) || store_system_field(key) {
                return Err(Error::Validation {
                    issues: vec![RecordIssue {
                        index: None,
                        pointer: format!("/{key}"),
                        code: "not_transition_field".into(),
                        message: locale.pick(
                            format!("「{}」不能在此步骤填写。", transition.title),
                            format!(
                                "{key} cannot be set with {}; it takes {}.",
                                transition.title_en,
                                transition.fields.join(", ")
                            ),
                        ),
                    }],
                });
            }
        }
        // Fields above the caller's level are refused here, as in any update.
        let mut merged = self.merge_patch(caller, entity, &current, patch)?;
        let now = Utc::now();
        let (target, _) = transition.target(&merged);
        let target = target.to_string();

        // The plugin's guard and effects see the record as it will be stored.
        let effects = self
            .transition_effects(
                caller,
                entity,
                &current,
                &merged,
                &target,
                transition_id,
                comment,
                now,
            )
            .await?;
        let mut others = Vec::new();
        for effect in effects {
            let own_record = effect.kind == EffectKind::Update
                && effect.entity == entity.qualified
                && effect.id.as_deref() == Some(id.to_string().as_str());
            if own_record {
                for (key, value) in effect.record {
                    if !store_system_field(&key) {
                        merged.insert(key, value);
                    }
                }
            } else {
                others.push(effect);
            }
        }
        let merged = without_nulls(merged);
        let missing = transition.missing(&merged);
        if !missing.is_empty() {
            return Err(Error::Validation {
                issues: missing
                    .into_iter()
                    .map(|name| RecordIssue {
                        index: None,
                        pointer: format!("/{name}"),
                        code: "required".into(),
                        message: locale.pick(
                            format!("「{}」需要先填写「{name}」。", transition.title),
                            format!("{} needs {name}.", transition.title_en),
                        ),
                    })
                    .collect(),
            });
        }
        let merged = self
            .prepare_existing(caller, entity, &current, merged, Some(&target), now)
            .await?;
        let prepared = self.prepare_effects(caller, entity, others, now).await?;

        let access = store::Access {
            level: store::Access::ALL_LEVELS,
            ..principal.access(&entity.qualified, Action::Read)
        };
        let expected = store::Expected {
            version: expected_version.or_else(|| current.get("version").and_then(Value::as_i64)),
            state: Some(&state),
            new_state: Some(&target),
        };
        let mut tx = self.store.begin().await?;
        match tx
            .update_record(&access, entity, id, expected, &merged, now)
            .await
        {
            Ok(_) => {}
            Err(store::Error::NotFound) => return Err(super::not_found(locale, id)),
            Err(store::Error::Conflict { expected, actual }) => {
                return Err(conflict(locale, expected, actual));
            }
            Err(other) => return Err(other.into()),
        }
        let after = tx
            .get_records(&access, entity, &[id])
            .await?
            .pop()
            .ok_or_else(|| super::not_found(locale, id))?;
        let mut log = ChangeLog::new(caller, now);
        log.push(
            entity,
            Change::transitioned(&current, &after, transition_id, comment),
        );
        let wide = tenant_wide(principal);
        for effect in &prepared {
            match effect {
                Prepared::Create { entity, record } => {
                    let created = tx
                        .insert_records(
                            &wide,
                            entity,
                            std::slice::from_ref(record),
                            entity.workflow.as_ref().map(|w| w.initial.as_str()),
                            now,
                        )
                        .await?;
                    for record in &created {
                        log.push(entity, Change::created(record));
                    }
                }
                Prepared::Update {
                    entity,
                    current,
                    record,
                } => {
                    let effect_id = current
                        .get("id")
                        .and_then(Value::as_str)
                        .and_then(|s| Uuid::parse_str(s).ok())
                        .unwrap_or_default();
                    let expected = store::Expected {
                        version: current.get("version").and_then(Value::as_i64),
                        ..Default::default()
                    };
                    match tx
                        .update_record(&wide, entity, effect_id, expected, record, now)
                        .await
                    {
                        Ok(_) => {}
                        Err(store::Error::Conflict { expected, actual }) => {
                            return Err(conflict(locale, expected, actual));
                        }
                        Err(other) => return Err(other.into()),
                    }
                    if let Some(updated) = tx.get_records(&wide, entity, &[effect_id]).await?.pop()
                    {
                        log.push(entity, Change::updated(current, &updated));
                    }
                }
            }
        }
        let published = log.write(&tx).await?;
        tx.commit().await?;
        self.publish(published);
        Ok(visible(entity, principal.level(&entity.qualified), after))
    }

    /// Calls the plugin's `on-transition` (when it implements it): its refusal is the guard, its
    /// answer the effects.
    #[allow(clippy::too_many_arguments)]
    async fn transition_effects(
        &self,
        caller: &Caller<'_>,
        entity: &EntityDef,
        current: &Record,
        merged: &Record,
        target: &str,
        transition: &str,
        comment: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<Vec<Effect>> {
        let Some(plugin) = caller.catalog.plugin_of(entity) else {
            return Ok(Vec::new());
        };
        if !plugin.def.has_hook("on-transition") {
            return Ok(Vec::new());
        }
        let mut input = merged.clone();
        for key in [
            "id",
            "version",
            "owner_id",
            "org_unit_id",
            "created_at",
            "created_by",
        ] {
            if let Some(value) = current.get(key) {
                input.insert(key.to_string(), value.clone());
            }
        }
        input.insert("state".into(), Value::String(target.to_string()));
        let ctx = self.hook_context(caller, plugin, now);
        let component = plugin.component.clone();
        let (name, transition_name, comment) = (
            entity.name.clone(),
            transition.to_string(),
            comment.to_string(),
        );
        let record = Value::Object(input).to_string();
        let answer = tokio::task::spawn_blocking(move || {
            component.on_transition(&ctx, &name, &transition_name, &record, &comment)
        })
        .await
        .map_err(|error| Error::Internal(error.to_string()))?;
        let effects = match answer {
            Ok(effects) => effects,
            Err(plugin_host::Error::Refused { message, .. }) => {
                return Err(Error::Validation {
                    issues: vec![RecordIssue {
                        index: None,
                        pointer: String::new(),
                        code: "guard".into(),
                        message,
                    }],
                });
            }
            Err(other) => return Err(other.into()),
        };
        if effects.len() > MAX_EFFECTS {
            return Err(Error::Plugin(plugin_host::Error::PluginFailed {
                plugin: plugin.def.id.clone(),
                hook: "on-transition",
                message: format!(
                    "returned {} effects; at most {MAX_EFFECTS} are applied",
                    effects.len()
                ),
            }));
        }
        // The host checked that every effect's record is a JSON object.
        Ok(effects
            .into_iter()
            .map(|effect| Effect {
                kind: effect.kind,
                entity: effect.entity,
                id: effect.id,
                record: match serde_json::from_str(&effect.record) {
                    Ok(Value::Object(map)) => map,
                    _ => Record::new(),
                },
            })
            .collect())
    }

    /// Validates the plugin's effects like any write (schema, references, rules, computed
    /// fields). A plugin may only touch its own entities and those of the plugins it requires.
    async fn prepare_effects(
        &self,
        caller: &Caller<'_>,
        source: &EntityDef,
        effects: Vec<Effect>,
        now: chrono::DateTime<Utc>,
    ) -> Result<Vec<Prepared>> {
        let plugin_id = source.plugin.clone();
        let requires = caller
            .catalog
            .plugin_of(source)
            .map(|p| p.def.requires.clone())
            .unwrap_or_default();
        let failed = |message: String| {
            Error::Plugin(plugin_host::Error::PluginFailed {
                plugin: plugin_id.clone(),
                hook: "on-transition",
                message,
            })
        };
        let mut prepared = Vec::with_capacity(effects.len());
        for effect in effects {
            let target = caller
                .catalog
                .entity(&effect.entity)
                .filter(|e| e.plugin == plugin_id || requires.contains(&e.plugin))
                .ok_or_else(|| {
                    failed(format!(
                        "an effect names {}, which is neither its own entity nor one of a plugin it requires (enabled on this tenant)",
                        effect.entity
                    ))
                })?;
            match effect.kind {
                EffectKind::Create => {
                    if let Some(key) = effect.record.keys().find(|k| store_system_field(k)) {
                        return Err(failed(format!("an effect sets the system field {key}")));
                    }
                    let record = without_nulls(effect.record);
                    self.check_records(caller, &target, std::slice::from_ref(&record), false, now)
                        .await?;
                    let record = self
                        .compute_fields(caller, &target, vec![record], now)
                        .await?
                        .pop()
                        .unwrap_or_default();
                    prepared.push(Prepared::Create {
                        entity: target,
                        record,
                    });
                }
                EffectKind::Update => {
                    let effect_id = effect
                        .id
                        .as_deref()
                        .and_then(|s| Uuid::parse_str(s).ok())
                        .ok_or_else(|| failed("an update effect has no valid id".into()))?;
                    let current = self
                        .store
                        .get_records(&tenant_wide(caller.principal), &target, &[effect_id])
                        .await?
                        .pop()
                        .ok_or_else(|| {
                            failed(format!(
                                "an effect updates {effect_id}, which does not exist"
                            ))
                        })?;
                    let mut merged: Record = current
                        .iter()
                        .filter(|(key, _)| !store_system_field(key))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    for (key, value) in effect.record {
                        if store_system_field(&key) {
                            return Err(failed(format!("an effect sets the system field {key}")));
                        }
                        merged.insert(key, value);
                    }
                    let state = current.get("state").and_then(Value::as_str);
                    let record = self
                        .prepare_existing(
                            caller,
                            &target,
                            &current,
                            without_nulls(merged),
                            state,
                            now,
                        )
                        .await?;
                    prepared.push(Prepared::Update {
                        entity: target,
                        current,
                        record,
                    });
                }
            }
        }
        Ok(prepared)
    }
}

/// An effect as the plugin returned it, its record parsed.
struct Effect {
    kind: EffectKind,
    entity: String,
    id: Option<String>,
    record: Record,
}

/// An effect checked and ready to write.
enum Prepared {
    Create {
        entity: std::sync::Arc<EntityDef>,
        record: Record,
    },
    Update {
        entity: std::sync::Arc<EntityDef>,
        current: Record,
        record: Record,
    },
}
