//! Glue between the WIT bindings and the [`Plugin`](crate::Plugin) trait; not part of the API.
#![allow(missing_docs)]

#[cfg(target_family = "wasm")]
use crate::{Context, Effect, EffectKind, FieldError, HookError};
use crate::{Plugin, Record};

#[cfg(target_family = "wasm")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/v0.1",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_component",
        default_bindings_module: "jingxi_sdk::__private::bindings",
    });
}

#[cfg(target_family = "wasm")]
pub use bindings::exports::jingxi::plugin::hooks::Guest;
#[cfg(target_family = "wasm")]
pub use bindings::jingxi::plugin::types::{
    Context as WitContext, Effect as WitEffect, EffectKind as WitEffectKind,
    FieldError as WitFieldError, HookError as WitHookError,
};

/// Log levels, mirrored from the WIT `host.level`.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[cfg(target_family = "wasm")]
pub fn log(level: Level, message: &str) {
    use bindings::jingxi::plugin::host::{Level as WitLevel, log};
    let level = match level {
        Level::Info => WitLevel::Info,
        Level::Warn => WitLevel::Warn,
        Level::Error => WitLevel::Error,
    };
    log(level, message);
}

#[cfg(not(target_family = "wasm"))]
pub fn log(level: Level, message: &str) {
    eprintln!("[plugin {level:?}] {message}");
}

#[cfg(target_family = "wasm")]
pub fn query(entity: &str, filter: &str, limit: u32) -> Result<Vec<String>, String> {
    bindings::jingxi::plugin::host::query(entity, filter, limit)
}

/// A fake answer for `query` in native tests: entity, filter, limit.
pub type FakeQuery = Box<dyn Fn(&str, &serde_json::Value, u32) -> Result<Vec<Record>, String>>;

thread_local! {
    static FAKE_QUERY: std::cell::RefCell<Option<FakeQuery>> = const { std::cell::RefCell::new(None) };
}

pub fn set_fake_query(fake: Option<FakeQuery>) {
    FAKE_QUERY.with(|slot| *slot.borrow_mut() = fake);
}

#[cfg(not(target_family = "wasm"))]
pub fn query(entity: &str, filter: &str, limit: u32) -> Result<Vec<String>, String> {
    let filter: serde_json::Value = serde_json::from_str(filter).map_err(|e| e.to_string())?;
    FAKE_QUERY.with(|slot| match slot.borrow().as_ref() {
        Some(fake) => fake(entity, &filter, limit).map(|rows| {
            rows.into_iter()
                .map(|r| serde_json::Value::Object(r).to_string())
                .collect()
        }),
        None => {
            Err("no record source outside wasm: use jingxi_sdk::query::fake in tests".to_string())
        }
    })
}

#[cfg(target_family = "wasm")]
pub fn aggregate(entity: &str, filter: &str, group_by: &[String]) -> Result<String, String> {
    bindings::jingxi::plugin::host::aggregate(entity, filter, group_by)
}

#[cfg(target_family = "wasm")]
pub fn count(entity: &str, filter: &str, group_by: &[String]) -> Result<String, String> {
    bindings::jingxi::plugin::host::count(entity, filter, group_by)
}

/// A fake answer for `aggregate` or `count` in native tests: entity, filter, fields grouped by.
pub type FakeAggregate =
    Box<dyn Fn(&str, &serde_json::Value, &[String]) -> Result<Vec<crate::query::Group>, String>>;

type FakeSlot = std::cell::RefCell<Option<FakeAggregate>>;

thread_local! {
    static FAKE_AGGREGATE: FakeSlot = const { std::cell::RefCell::new(None) };
    static FAKE_COUNT: FakeSlot = const { std::cell::RefCell::new(None) };
}

pub fn set_fake_aggregate(fake: Option<FakeAggregate>) {
    FAKE_AGGREGATE.with(|slot| *slot.borrow_mut() = fake);
}

pub fn set_fake_count(fake: Option<FakeAggregate>) {
    FAKE_COUNT.with(|slot| *slot.borrow_mut() = fake);
}

#[cfg(not(target_family = "wasm"))]
pub fn aggregate(entity: &str, filter: &str, group_by: &[String]) -> Result<String, String> {
    FAKE_AGGREGATE.with(|slot| answer_fake(slot, "fake_aggregate", entity, filter, group_by, true))
}

#[cfg(not(target_family = "wasm"))]
pub fn count(entity: &str, filter: &str, group_by: &[String]) -> Result<String, String> {
    FAKE_COUNT.with(|slot| answer_fake(slot, "fake_count", entity, filter, group_by, false))
}

/// Answers like the kernel: the fake's groups as one JSON array, with their numbers for
/// `aggregate` and only their keys and counts for `count`.
#[cfg(not(target_family = "wasm"))]
fn answer_fake(
    slot: &FakeSlot,
    installer: &str,
    entity: &str,
    filter: &str,
    group_by: &[String],
    numbers: bool,
) -> Result<String, String> {
    let filter: serde_json::Value = serde_json::from_str(filter).map_err(|e| e.to_string())?;
    let Some(answer) = slot
        .borrow()
        .as_ref()
        .map(|fake| fake(entity, &filter, group_by))
    else {
        return Err(format!(
            "no record source outside wasm: use jingxi_sdk::query::{installer} in tests"
        ));
    };
    let groups = answer?
        .iter()
        .map(|group| {
            if numbers {
                group.to_value()
            } else {
                serde_json::json!({"key": group.key, "count": group.count})
            }
        })
        .collect();
    Ok(serde_json::Value::Array(groups).to_string())
}

#[cfg(target_family = "wasm")]
fn context(ctx: WitContext) -> Context {
    Context {
        tenant: ctx.tenant,
        user_id: ctx.user_id,
        roles: ctx.roles,
        locale: ctx.locale,
        now_ms: ctx.now_ms,
    }
}

#[cfg(target_family = "wasm")]
fn hook_error(error: HookError) -> WitHookError {
    match error {
        HookError::Unsupported => WitHookError::Unsupported,
        HookError::InvalidInput(message) => WitHookError::InvalidInput(message),
        HookError::Internal(message) => WitHookError::Internal(message),
    }
}

#[cfg(target_family = "wasm")]
fn parse_record(json: &str) -> Result<Record, HookError> {
    match serde_json::from_str(json) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(HookError::InvalidInput(
            "a record must be a JSON object".into(),
        )),
        Err(error) => Err(HookError::InvalidInput(format!(
            "record is not valid JSON: {error}"
        ))),
    }
}

#[cfg(target_family = "wasm")]
fn parse_records(records: &[String]) -> Result<Vec<Record>, HookError> {
    records.iter().map(|json| parse_record(json)).collect()
}

/// Sends a panic's message to the kernel's log instead of standard error (which the sandbox does
/// not provide), so the operator sees why a hook call failed.
#[cfg(target_family = "wasm")]
fn report_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log(Level::Error, &format!("plugin panicked: {info}"))
        }));
    });
}

pub fn describe<P: Plugin>() -> String {
    #[cfg(target_family = "wasm")]
    report_panics();
    P::manifest().to_json()
}

#[cfg(target_family = "wasm")]
pub fn validate<P: Plugin>(
    ctx: WitContext,
    entity: String,
    records: Vec<String>,
) -> Result<Vec<Vec<WitFieldError>>, WitHookError> {
    report_panics();
    let ctx = context(ctx);
    let records = parse_records(&records).map_err(hook_error)?;
    Ok(records
        .iter()
        .map(|record| {
            P::validate(&ctx, &entity, record)
                .into_iter()
                .map(
                    |FieldError {
                         pointer,
                         code,
                         message,
                     }| WitFieldError {
                        pointer,
                        code,
                        message,
                    },
                )
                .collect()
        })
        .collect())
}

#[cfg(target_family = "wasm")]
pub fn compute<P: Plugin>(
    ctx: WitContext,
    entity: String,
    records: Vec<String>,
) -> Result<Vec<String>, WitHookError> {
    report_panics();
    let ctx = context(ctx);
    let mut records = parse_records(&records).map_err(hook_error)?;
    for record in &mut records {
        P::compute(&ctx, &entity, record).map_err(hook_error)?;
    }
    Ok(records
        .into_iter()
        .map(|record| serde_json::Value::Object(record).to_string())
        .collect())
}

#[cfg(target_family = "wasm")]
pub fn on_transition<P: Plugin>(
    ctx: WitContext,
    entity: String,
    transition: String,
    record: String,
    comment: String,
) -> Result<Vec<WitEffect>, WitHookError> {
    report_panics();
    let ctx = context(ctx);
    let record = parse_record(&record).map_err(hook_error)?;
    let effects =
        P::on_transition(&ctx, &entity, &transition, &record, &comment).map_err(hook_error)?;
    Ok(effects
        .into_iter()
        .map(
            |Effect {
                 kind,
                 entity,
                 id,
                 record,
             }| WitEffect {
                kind: match kind {
                    EffectKind::Create => WitEffectKind::Create,
                    EffectKind::Update => WitEffectKind::Update,
                },
                entity,
                id,
                record: serde_json::Value::Object(record).to_string(),
            },
        )
        .collect())
}

#[cfg(target_family = "wasm")]
pub fn kpi<P: Plugin>(ctx: WitContext, id: String, params: String) -> Result<String, WitHookError> {
    report_panics();
    let ctx = context(ctx);
    let params: serde_json::Value = serde_json::from_str(&params)
        .map_err(|error| WitHookError::InvalidInput(error.to_string()))?;
    P::kpi(&ctx, &id, &params)
        .map(|value| value.to_string())
        .map_err(hook_error)
}
