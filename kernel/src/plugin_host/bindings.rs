//! Host bindings of the plugin contract `jingxi:plugin@0.1.x`, and every conversion between WIT
//! types and kernel types, so generated types never leave this file.
//!
//! A breaking contract version gets its own `bindgen!` module next to this one.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

use super::sandbox::CallState;
use super::{Effect, EffectKind, FieldError, HookContext};

mod wit {
    // The path is relative to the crate manifest, so the kernel reads the SDK's contract in place.
    wasmtime::component::bindgen!({
        path: "../sdk/wit/v0.1",
        world: "plugin",
    });
}

use wit::jingxi::plugin::{host, types};

/// The package name and the version this kernel implements.
pub(super) const CONTRACT_PACKAGE: &str = "jingxi:plugin";
pub(super) const CONTRACT_VERSION: (u64, u64, u64) = (0, 1, 0);
/// The interfaces of the contract the host implements (without their version).
pub(super) const HOST_INTERFACES: &[&str] = &["jingxi:plugin/host", "jingxi:plugin/types"];

/// A plugin ready to instantiate: imports resolved and types checked once, at load.
pub(super) type PluginPre = wit::PluginPre<CallState>;

/// An instantiated plugin, valid for the one call whose store holds it.
pub(super) type PluginInstance = wit::Plugin;

/// Adds the host's imports (`jingxi:plugin/host`, `jingxi:plugin/types`) to `linker`.
pub(super) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wit::Plugin::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
}

/// Checks that an instance-ready component exports the hooks with the expected types.
pub(super) fn plugin_pre(
    pre: wasmtime::component::InstancePre<CallState>,
) -> wasmtime::Result<PluginPre> {
    wit::PluginPre::new(pre)
}

/// A plugin's own `hook-error`: `input` when it refused the input (a rule, a guard), otherwise
/// a failure of the plugin.
#[derive(Debug)]
pub(super) struct Refusal {
    pub input: bool,
    pub message: String,
}

fn hook_error_message(error: types::HookError) -> Refusal {
    let (input, message) = match error {
        types::HookError::Unsupported => (false, "hook not supported by the plugin".to_owned()),
        types::HookError::InvalidInput(message) => (true, message),
        types::HookError::Internal(message) => (false, format!("internal error: {message}")),
    };
    Refusal { input, message }
}

/// What a hook call returned: the outer error is a trap or a host failure, the inner one the
/// plugin's own answer.
pub(super) type HookResult<T> = wasmtime::Result<Result<T, Refusal>>;

fn context(ctx: &HookContext) -> types::Context {
    types::Context {
        tenant: ctx.tenant.clone(),
        user_id: ctx.user_id.clone(),
        roles: ctx.roles.clone(),
        locale: ctx.locale.clone(),
        now_ms: ctx.now_ms,
    }
}

impl From<types::FieldError> for FieldError {
    fn from(error: types::FieldError) -> Self {
        FieldError {
            pointer: error.pointer,
            code: error.code,
            message: error.message,
        }
    }
}

impl From<types::Effect> for Effect {
    fn from(effect: types::Effect) -> Self {
        Effect {
            kind: match effect.kind {
                types::EffectKind::Create => EffectKind::Create,
                types::EffectKind::Update => EffectKind::Update,
            },
            entity: effect.entity,
            id: effect.id,
            record: effect.record,
        }
    }
}

pub(super) fn describe(
    plugin: &PluginInstance,
    store: &mut Store<CallState>,
) -> wasmtime::Result<String> {
    plugin.jingxi_plugin_hooks().call_describe(store)
}

pub(super) fn validate(
    plugin: &PluginInstance,
    store: &mut Store<CallState>,
    ctx: &HookContext,
    entity: &str,
    records: &[String],
) -> HookResult<Vec<Vec<FieldError>>> {
    let answer =
        plugin
            .jingxi_plugin_hooks()
            .call_validate(store, &context(ctx), entity, records)?;
    Ok(answer
        .map(|lists| {
            lists
                .into_iter()
                .map(|errors| errors.into_iter().map(FieldError::from).collect())
                .collect()
        })
        .map_err(hook_error_message))
}

pub(super) fn compute(
    plugin: &PluginInstance,
    store: &mut Store<CallState>,
    ctx: &HookContext,
    entity: &str,
    records: &[String],
) -> HookResult<Vec<String>> {
    let answer =
        plugin
            .jingxi_plugin_hooks()
            .call_compute(store, &context(ctx), entity, records)?;
    Ok(answer.map_err(hook_error_message))
}

pub(super) fn on_transition(
    plugin: &PluginInstance,
    store: &mut Store<CallState>,
    ctx: &HookContext,
    entity: &str,
    transition: &str,
    record: &str,
    comment: &str,
) -> HookResult<Vec<Effect>> {
    // `json` is a type alias for `string`, and the generated signature takes it as `&String`.
    let record = record.to_owned();
    let answer = plugin.jingxi_plugin_hooks().call_on_transition(
        store,
        &context(ctx),
        entity,
        transition,
        &record,
        comment,
    )?;
    Ok(answer
        .map(|effects| effects.into_iter().map(Effect::from).collect())
        .map_err(hook_error_message))
}

pub(super) fn kpi(
    plugin: &PluginInstance,
    store: &mut Store<CallState>,
    ctx: &HookContext,
    id: &str,
    params: &str,
) -> HookResult<String> {
    let params = params.to_owned();
    let answer = plugin
        .jingxi_plugin_hooks()
        .call_kpi(store, &context(ctx), id, &params)?;
    Ok(answer.map_err(hook_error_message))
}

impl types::Host for CallState {}

impl host::Host for CallState {
    fn log(&mut self, level: host::Level, message: String) {
        let level = match level {
            host::Level::Trace => tracing::Level::TRACE,
            host::Level::Debug => tracing::Level::DEBUG,
            host::Level::Info => tracing::Level::INFO,
            host::Level::Warn => tracing::Level::WARN,
            host::Level::Error => tracing::Level::ERROR,
        };
        self.log(level, &message);
    }

    fn query(&mut self, entity: String, filter: String, limit: u32) -> Result<Vec<String>, String> {
        CallState::query(self, &entity, &filter, limit)
    }

    fn aggregate(
        &mut self,
        entity: String,
        filter: String,
        group_by: Vec<String>,
    ) -> Result<String, String> {
        CallState::aggregate(self, &entity, &filter, &group_by)
    }

    fn count(
        &mut self,
        entity: String,
        filter: String,
        group_by: Vec<String>,
    ) -> Result<String, String> {
        CallState::count(self, &entity, &filter, &group_by)
    }
}
