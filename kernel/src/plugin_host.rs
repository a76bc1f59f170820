//! Runs untrusted plugins: compile once, cache, sandbox every call.
//!
//! A plugin is a WebAssembly component implementing `jingxi:plugin@0.1.x` (`sdk/wit/v0.1`).
//! [`PluginHost::load`] compiles it (or maps the artifact cached on disk), resolves its imports
//! once and asks it to `describe` itself. Each hook call on a [`LoadedPlugin`] then gets a fresh
//! store and instance from the pooling allocator, an epoch deadline, a memory cap, optional fuel,
//! and size caps on what goes in and comes out; a plugin that loops, hoards memory, traps or
//! answers nonsense fails that one call with an [`Error`] naming it and the limit, and nothing
//! else.
//!
//! Calls are synchronous and CPU-bound: run them on a blocking thread (`spawn_blocking`). The
//! host imports are `log`, `query`, `aggregate` and `count`; the WASI imports that a
//! `wasm32-wasip2` guest carries are linked as functions that trap, so a plugin has no files,
//! network, clock or environment. The one exception is `wasi:random/insecure-seed`, which Rust's
//! std needs for any hash map; it gets a constant.
//!
//! **Invariant:** this is the only module that imports wasmtime, and WIT types never leave
//! `plugin_host/bindings.rs`.

mod bindings;
mod cache;
mod error;
mod sandbox;
pub mod worker;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};

pub use error::{Error, Result};

use bindings::{PluginInstance, PluginPre};
use cache::ArtifactCache;
use sandbox::{CallState, Slots};

pub use crate::config::PluginHostConfig;

/// The cap on a manifest returned by `describe`; it embeds every entity's JSON Schema, so it is
/// allowed to be larger than a hook's output.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// The cap on plugin-provided text copied into an error message.
const MAX_MESSAGE_BYTES: usize = 1024;

/// Reads records for a plugin's `query`, `aggregate` and `count` imports, through the calling
/// user's tenant and permissions. The kernel provides it per call; the host only forwards and
/// meters.
pub trait RecordSource: Send + Sync {
    /// Records of `entity` matching `filter` (JSON), at most `limit`, as JSON objects.
    fn query(
        &self,
        entity: &str,
        filter: &str,
        limit: u32,
    ) -> std::result::Result<Vec<String>, String>;

    /// Groups of the records of `entity` matching `filter` (JSON) by the fields `group_by`, at
    /// most `max_groups` (the largest first), with their count, sum, average, minimum and
    /// maximum, as one JSON array.
    fn aggregate(
        &self,
        entity: &str,
        filter: &str,
        group_by: &[String],
        max_groups: u32,
    ) -> std::result::Result<String, String>;

    /// The number of records of `entity` matching `filter` (JSON) per group of the fields
    /// `group_by`, at most `max_groups` groups (the largest first), as one JSON array of
    /// `{"key", "count"}` objects.
    fn count(
        &self,
        entity: &str,
        filter: &str,
        group_by: &[String],
        max_groups: u32,
    ) -> std::result::Result<String, String>;
}

/// Who is calling and when; the only identity, locale and time a plugin sees.
#[derive(Clone)]
pub struct HookContext {
    /// The tenant's slug.
    pub tenant: String,
    /// The calling user's id.
    pub user_id: String,
    /// The calling user's role ids.
    pub roles: Vec<String>,
    /// `zh-CN` or `en`.
    pub locale: String,
    /// Milliseconds since the Unix epoch, taken once per request.
    pub now_ms: i64,
    /// Where the `query`, `aggregate` and `count` imports read from; `None` makes every call of
    /// them fail with a message.
    pub records: Option<Arc<dyn RecordSource>>,
}

impl fmt::Debug for HookContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookContext")
            .field("tenant", &self.tenant)
            .field("user_id", &self.user_id)
            .field("roles", &self.roles)
            .field("locale", &self.locale)
            .field("now_ms", &self.now_ms)
            .field("records", &self.records.is_some())
            .finish()
    }
}

/// One problem with one field of one record, as a plugin's `validate` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON Pointer into the record, e.g. `/resolved_at`.
    pub pointer: String,
    /// A stable machine-readable code.
    pub code: String,
    /// A message for people, in the caller's locale.
    pub message: String,
}

/// A change a plugin's `on_transition` asks the kernel to make in the caller's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// Create or update.
    pub kind: EffectKind,
    /// Qualified entity name, e.g. `crm.visit_record`.
    pub entity: String,
    /// The record id, for updates.
    pub id: Option<String>,
    /// The record (create) or the JSON merge patch (update), as JSON text.
    pub record: String,
}

/// Whether an [`Effect`] creates or updates a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectKind {
    /// Creates a record.
    Create,
    /// Updates a record with a merge patch.
    Update,
}

/// Counters for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PluginHostStats {
    /// Plugins compiled by this host (cache misses).
    pub compiled: u64,
    /// Plugins loaded from the artifact cache.
    pub cache_hits: u64,
}

/// Limits every call applies, derived once from the configuration.
#[derive(Debug)]
struct CallLimits {
    hook_timeout_ms: u64,
    hook_ticks: u64,
    kpi_timeout_ms: u64,
    kpi_ticks: u64,
    memory_bytes: usize,
    fuel: Option<u64>,
    max_input_bytes: usize,
    max_output_bytes: usize,
    max_log_bytes: usize,
}

/// The plugin runtime: one engine, one linker, the artifact cache and the call slots.
///
/// Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<HostInner>,
}

struct HostInner {
    engine: Engine,
    linker: Linker<CallState>,
    cache: ArtifactCache,
    max_wasm_bytes: usize,
    compile_timeout: Duration,
    compile_memory_mib: u64,
    /// `jingxi compile-plugin` runs here; `None` compiles on a thread in this process.
    compile_worker: Option<std::path::PathBuf>,
    spec: worker::EngineSpec,
    limits: Arc<CallLimits>,
    slots: Arc<Slots>,
    compiled: AtomicU64,
    cache_hits: AtomicU64,
}

impl fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginHost")
            .field("limits", &self.inner.limits)
            .field("stats", &self.stats())
            .finish()
    }
}

impl PluginHost {
    /// Starts the engine (with its epoch thread) and opens the artifact cache.
    pub fn new(config: PluginHostConfig) -> Result<Self> {
        let setup = |message: String| Error::Setup { message };
        if config.hook_timeout_ms == 0 || config.kpi_timeout_ms == 0 {
            return Err(setup(
                "hook_timeout_ms and kpi_timeout_ms must be positive".into(),
            ));
        }
        if !(1..=4096).contains(&config.memory_limit_mib) {
            return Err(setup(format!(
                "memory_limit_mib is {}; it must be 1 to 4096",
                config.memory_limit_mib
            )));
        }
        if !(1..=10_000).contains(&config.max_concurrent_calls) {
            return Err(setup(format!(
                "max_concurrent_calls is {}; it must be 1 to 10000",
                config.max_concurrent_calls
            )));
        }
        if config.fuel == Some(0) {
            return Err(setup("fuel must be positive when set".into()));
        }
        let memory_bytes = usize::try_from(config.memory_limit_mib << 20)
            .map_err(|_| setup("memory too large".into()))?;

        let engine = sandbox::engine(
            memory_bytes,
            config.max_concurrent_calls,
            config.fuel.is_some(),
        )
        .map_err(|error| setup(format!("cannot configure wasmtime: {error}")))?;
        // A tick of a tenth of the shortest deadline (at most 10 ms) stops a runaway plugin within
        // about 10 % of its limit, without waking the thread needlessly often.
        let tick_ms = (config.hook_timeout_ms.min(config.kpi_timeout_ms) / 10).clamp(1, 10);
        sandbox::start_epoch_ticker(engine.weak(), Duration::from_millis(tick_ms))
            .map_err(setup)?;

        let mut linker = Linker::new(&engine);
        bindings::add_to_linker(&mut linker)
            .map_err(|error| setup(format!("cannot link host imports: {error:#}")))?;

        let cache = ArtifactCache::open(&config.cache_dir, &engine, config.artifact_key.as_deref())
            .map_err(|source| Error::Cache {
                path: config.cache_dir.clone(),
                source,
            })?;

        // One tick more than the deadline, so a plugin always gets at least its full time.
        let ticks = |timeout_ms: u64| timeout_ms.div_ceil(tick_ms) + 1;
        let limits = CallLimits {
            hook_timeout_ms: config.hook_timeout_ms,
            hook_ticks: ticks(config.hook_timeout_ms),
            kpi_timeout_ms: config.kpi_timeout_ms,
            kpi_ticks: ticks(config.kpi_timeout_ms),
            memory_bytes,
            fuel: config.fuel,
            max_input_bytes: config.max_input_bytes,
            max_output_bytes: config.max_output_bytes,
            max_log_bytes: config.max_log_bytes,
        };
        tracing::info!(
            cache_dir = %config.cache_dir.display(),
            hook_timeout_ms = config.hook_timeout_ms,
            memory_limit_mib = config.memory_limit_mib,
            fuel = ?config.fuel,
            slots = config.max_concurrent_calls,
            "plugin host ready"
        );
        Ok(PluginHost {
            inner: Arc::new(HostInner {
                engine,
                linker,
                cache,
                max_wasm_bytes: config.max_wasm_bytes,
                compile_timeout: Duration::from_millis(config.compile_timeout_ms),
                compile_memory_mib: config.compile_memory_limit_mib,
                compile_worker: config.compile_worker.clone(),
                spec: worker::EngineSpec {
                    memory_bytes,
                    slots: config.max_concurrent_calls,
                    fuel: config.fuel.is_some(),
                },
                limits: Arc::new(limits),
                slots: Arc::new(Slots::new(config.max_concurrent_calls)),
                compiled: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
            }),
        })
    }

    /// Compiles the plugin (or maps the artifact this kernel cached for the same bytes and
    /// engine), links it and calls `describe`.
    ///
    /// Compiling takes about a second per MiB of wasm: call this when a plugin is installed or
    /// at startup, never on a request path.
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedPlugin> {
        let inner = &*self.inner;
        if wasm.len() > inner.max_wasm_bytes {
            return Err(Error::TooLarge {
                what: "plugin wasm",
                size: wasm.len(),
                limit: inner.max_wasm_bytes,
            });
        }
        check_header(wasm).map_err(|message| Error::InvalidWasm { message })?;
        let sha256 = hex::encode(Sha256::digest(wasm));
        let component = self.component(wasm, &sha256)?;
        check_contract(&inner.engine, &component)
            .map_err(|message| Error::InvalidWasm { message })?;

        let mut linker = inner.linker.clone();
        let link_error = |error: wasmtime::Error| Error::InvalidWasm {
            message: format!("cannot link the plugin's imports: {error:#}"),
        };
        let mut denied_imports = Vec::new();
        for import in foreign_imports(&inner.engine, &component) {
            if !sandbox::link_benign_import(&mut linker, &import).map_err(link_error)? {
                denied_imports.push(import);
            }
        }
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(link_error)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(bindings::plugin_pre)
            .map_err(|error| Error::InvalidWasm {
                message: format!("plugin does not fit the contract: {error:#}"),
            })?;

        let mut plugin = PluginInner {
            sha256,
            id: String::new(),
            manifest_json: String::new(),
            denied_imports,
            pre,
            limits: Arc::clone(&inner.limits),
            slots: Arc::clone(&inner.slots),
        };
        plugin.id = format!("sha256:{}", &plugin.sha256[..12]);
        let manifest_json = plugin.call(Hook::Describe, 0, None, bindings::describe)?;
        if manifest_json.len() > MAX_MANIFEST_BYTES {
            return Err(plugin.limit_exceeded(
                Hook::Describe,
                format!("output size ({})", bytes(MAX_MANIFEST_BYTES)),
            ));
        }
        plugin.id = manifest_id(&manifest_json).unwrap_or_else(|| "?".to_owned());
        plugin.manifest_json = manifest_json;
        if !plugin.denied_imports.is_empty() {
            tracing::debug!(
                plugin = %plugin.id,
                imports = ?plugin.denied_imports,
                "plugin imports interfaces the sandbox does not provide; calling them traps"
            );
        }
        tracing::info!(plugin = %plugin.id, sha256 = %plugin.sha256, "plugin loaded");
        Ok(LoadedPlugin {
            inner: Arc::new(plugin),
        })
    }

    /// Deletes cached artifacts of plugins other than `keep` (wasm SHA-256s) and of other
    /// engines, once they are a few minutes old. Returns how many files went.
    pub fn sweep_cache(&self, keep: &[&str]) -> usize {
        self.inner.cache.sweep(keep)
    }

    /// How many plugins were compiled and how many came from the cache.
    pub fn stats(&self) -> PluginHostStats {
        PluginHostStats {
            compiled: self.inner.compiled.load(Ordering::Relaxed),
            cache_hits: self.inner.cache_hits.load(Ordering::Relaxed),
        }
    }

    fn component(&self, wasm: &[u8], sha256: &str) -> Result<Component> {
        let inner = &*self.inner;
        let key = inner.cache.key(sha256);
        let started = Instant::now();
        if let Some(component) = inner.cache.load(&inner.engine, &key) {
            inner.cache_hits.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                sha256,
                micros = started.elapsed().as_micros() as u64,
                "plugin loaded from cache"
            );
            return Ok(component);
        }
        let plugin = format!("sha256:{}", &sha256[..12]);
        let component = match &inner.compile_worker {
            Some(exe) => self.compile_in_worker(exe, wasm, &key, &plugin)?,
            None => self.compile_in_thread(wasm, sha256, &key, &plugin)?,
        };
        inner.compiled.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            sha256,
            wasm_bytes = wasm.len(),
            millis = started.elapsed().as_millis() as u64,
            worker = inner.compile_worker.is_some(),
            "plugin compiled"
        );
        Ok(component)
    }

    /// Compiles in a child process under the memory and time limits, stores the artifact, and
    /// maps it from the cache like any cached plugin.
    fn compile_in_worker(
        &self,
        exe: &std::path::Path,
        wasm: &[u8],
        key: &str,
        plugin: &str,
    ) -> Result<Component> {
        let inner = &*self.inner;
        let artifact = worker::compile(
            exe,
            inner.spec,
            wasm,
            inner.compile_memory_mib,
            inner.compile_timeout,
        )
        .map_err(|error| match error {
            worker::WorkerError::Timeout => Error::LimitExceeded {
                plugin: plugin.to_string(),
                hook: "compile",
                limit: format!("compile time ({} ms)", inner.compile_timeout.as_millis()),
            },
            worker::WorkerError::Memory => Error::LimitExceeded {
                plugin: plugin.to_string(),
                hook: "compile",
                limit: format!("compile memory ({} MiB)", inner.compile_memory_mib),
            },
            worker::WorkerError::Failed(message) => Error::InvalidWasm { message },
            worker::WorkerError::Spawn(error) => Error::Setup {
                message: format!("cannot start the compiler {}: {error}", exe.display()),
            },
        })?;
        inner
            .cache
            .store(key, &artifact)
            .map_err(|source| Error::Cache {
                path: inner.cache.dir().to_path_buf(),
                source,
            })?;
        inner
            .cache
            .load(&inner.engine, key)
            .ok_or_else(|| Error::Setup {
                message: format!(
                    "the artifact compiled by {} does not load; is it the same jingxi version?",
                    exe.display()
                ),
            })
    }

    /// Compiles on a thread of this process, under the time limit only (a thread's memory
    /// cannot be capped on its own).
    fn compile_in_thread(
        &self,
        wasm: &[u8],
        sha256: &str,
        key: &str,
        plugin: &str,
    ) -> Result<Component> {
        let inner = &*self.inner;
        // The thread's late result is dropped when the time limit passed.
        let (sender, receiver) = std::sync::mpsc::channel();
        let (engine, bytes) = (inner.engine.clone(), wasm.to_vec());
        std::thread::Builder::new()
            .name("plugin-compile".into())
            .spawn(move || {
                let _ = sender.send(Component::new(&engine, &bytes));
            })
            .map_err(|error| Error::Setup {
                message: format!("cannot start the compiler thread: {error}"),
            })?;
        let compiled =
            receiver
                .recv_timeout(inner.compile_timeout)
                .map_err(|_| Error::LimitExceeded {
                    plugin: plugin.to_string(),
                    hook: "compile",
                    limit: format!("compile time ({} ms)", inner.compile_timeout.as_millis()),
                })?;
        let component = compiled.map_err(|error| Error::InvalidWasm {
            message: format!("cannot compile: {error:#}"),
        })?;
        // A cache that cannot be written costs a compile at the next start, nothing more.
        match component.serialize() {
            Ok(artifact) => {
                if let Err(error) = inner.cache.store(key, &artifact) {
                    tracing::warn!(sha256, %error, "cannot write plugin artifact to the cache");
                }
            }
            Err(error) => {
                tracing::warn!(sha256, error = %format!("{error:#}"), "cannot serialize plugin artifact")
            }
        }
        Ok(component)
    }
}

/// A plugin ready to run hooks. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct LoadedPlugin {
    inner: Arc<PluginInner>,
}

struct PluginInner {
    sha256: String,
    /// The manifest id, or `sha256:<prefix>` while `describe` runs.
    id: String,
    manifest_json: String,
    denied_imports: Vec<String>,
    pre: PluginPre,
    limits: Arc<CallLimits>,
    slots: Arc<Slots>,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("id", &self.inner.id)
            .field("sha256", &self.inner.sha256)
            .finish()
    }
}

impl LoadedPlugin {
    /// The SHA-256 of the plugin's wasm, in lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// What `describe` returned, unchecked: the kernel validates it against the manifest schema.
    pub fn manifest_json(&self) -> &str {
        &self.inner.manifest_json
    }

    /// The manifest's `id` if it is a plausible plugin id, else `?`; for messages.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Imports the plugin declares that the sandbox does not provide (WASI interfaces, usually):
    /// they are linked as functions that trap.
    pub fn denied_imports(&self) -> &[String] {
        &self.inner.denied_imports
    }

    /// Creates one fresh sandbox and instance and drops them, running no hook: the set-up every
    /// hook call pays. Useful to check a plugin after loading and to measure.
    pub fn instantiate(&self) -> Result<()> {
        self.inner.call(Hook::Validate, 0, None, |_, _| Ok(()))
    }

    /// Runs `validate` on a batch of records (JSON objects as text); returns one list of errors
    /// per record, in order.
    pub fn validate(
        &self,
        ctx: &HookContext,
        entity: &str,
        records: &[String],
    ) -> Result<Vec<Vec<FieldError>>> {
        let hook = Hook::Validate;
        let input =
            context_len(ctx) + entity.len() + records.iter().map(String::len).sum::<usize>();
        let answer = self
            .inner
            .call(hook, input, ctx.records.clone(), |plugin, store| {
                bindings::validate(plugin, store, ctx, entity, records)
            })?;
        let lists = self.inner.refused(hook, answer)?;
        self.inner.check_count(hook, lists.len(), records.len())?;
        let size = lists
            .iter()
            .flatten()
            .map(|e| e.pointer.len() + e.code.len() + e.message.len())
            .sum();
        self.inner.check_output_size(hook, size)?;
        Ok(lists)
    }

    /// Runs `compute` on a batch of records; returns the records with their computed fields
    /// filled, in order. Each is checked to be a JSON object.
    pub fn compute(
        &self,
        ctx: &HookContext,
        entity: &str,
        records: &[String],
    ) -> Result<Vec<String>> {
        let hook = Hook::Compute;
        let input =
            context_len(ctx) + entity.len() + records.iter().map(String::len).sum::<usize>();
        let answer = self
            .inner
            .call(hook, input, ctx.records.clone(), |plugin, store| {
                bindings::compute(plugin, store, ctx, entity, records)
            })?;
        let computed = self.inner.refused(hook, answer)?;
        self.inner
            .check_count(hook, computed.len(), records.len())?;
        self.inner
            .check_output_size(hook, computed.iter().map(String::len).sum())?;
        for (record_idx, record) in computed.iter().enumerate() {
            if !is_json_object(record) {
                return Err(self.inner.failed(
                    hook,
                    format!("returned record {record_idx} that is not a JSON object"),
                ));
            }
        }
        Ok(computed)
    }

    /// Runs `on_transition` for one record; returns the effects the kernel should apply.
    pub fn on_transition(
        &self,
        ctx: &HookContext,
        entity: &str,
        transition: &str,
        record: &str,
        comment: &str,
    ) -> Result<Vec<Effect>> {
        let hook = Hook::OnTransition;
        let input =
            context_len(ctx) + entity.len() + transition.len() + record.len() + comment.len();
        let answer = self
            .inner
            .call(hook, input, ctx.records.clone(), |plugin, store| {
                bindings::on_transition(plugin, store, ctx, entity, transition, record, comment)
            })?;
        let effects = self.inner.refused(hook, answer)?;
        let size = effects
            .iter()
            .map(|e| e.entity.len() + e.id.as_ref().map_or(0, String::len) + e.record.len())
            .sum();
        self.inner.check_output_size(hook, size)?;
        for (effect_idx, effect) in effects.iter().enumerate() {
            if !is_json_object(&effect.record) {
                return Err(self.inner.failed(
                    hook,
                    format!("returned effect {effect_idx} whose record is not a JSON object"),
                ));
            }
        }
        Ok(effects)
    }

    /// Runs `kpi` for the KPI `id` with its `params` (JSON text); returns the answer as JSON text.
    pub fn kpi(&self, ctx: &HookContext, id: &str, params: &str) -> Result<String> {
        let hook = Hook::Kpi;
        let input = context_len(ctx) + id.len() + params.len();
        let answer = self
            .inner
            .call(hook, input, ctx.records.clone(), |plugin, store| {
                bindings::kpi(plugin, store, ctx, id, params)
            })?;
        let value = self.inner.refused(hook, answer)?;
        self.inner.check_output_size(hook, value.len())?;
        if serde_json::from_str::<serde::de::IgnoredAny>(&value).is_err() {
            return Err(self
                .inner
                .failed(hook, "returned an answer that is not JSON".into()));
        }
        Ok(value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    Describe,
    Validate,
    Compute,
    OnTransition,
    Kpi,
}

impl Hook {
    fn name(self) -> &'static str {
        match self {
            Hook::Describe => "describe",
            Hook::Validate => "validate",
            Hook::Compute => "compute",
            Hook::OnTransition => "on_transition",
            Hook::Kpi => "kpi",
        }
    }

    /// Hooks under `kpi_timeout_ms` rather than `hook_timeout_ms`.
    fn is_slow(self) -> bool {
        matches!(self, Hook::Kpi | Hook::Describe)
    }
}

impl PluginInner {
    /// A batch hook answers once per record, in order; anything else breaks the contract.
    fn check_count(&self, hook: Hook, answered: usize, records: usize) -> Result<()> {
        if answered == records {
            return Ok(());
        }
        Err(self.failed(
            hook,
            format!("returned {answered} answers for {records} records"),
        ))
    }

    /// Runs one hook in a fresh store and instance, within the call limits.
    fn call<R>(
        &self,
        hook: Hook,
        input_bytes: usize,
        records: Option<Arc<dyn RecordSource>>,
        run: impl FnOnce(&PluginInstance, &mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R> {
        let limits = &*self.limits;
        if input_bytes > limits.max_input_bytes {
            return Err(Error::TooLarge {
                what: "hook input",
                size: input_bytes,
                limit: limits.max_input_bytes,
            });
        }
        // Taken before the store exists and released after it is gone (locals drop in reverse
        // order), so the pool never holds more instances than there are slots.
        let _slot = self.slots.try_acquire().ok_or_else(|| self.busy(hook))?;
        let span = tracing::debug_span!("plugin_call", plugin = %self.id, hook = hook.name());
        let _entered = span.enter();
        let started = Instant::now();

        let state = CallState::new(
            Arc::from(self.id.as_str()),
            limits.memory_bytes,
            limits.max_log_bytes,
            records,
            limits.max_output_bytes,
        );
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(if hook.is_slow() {
            limits.kpi_ticks
        } else {
            limits.hook_ticks
        });
        store.epoch_deadline_trap();
        if let Some(fuel) = limits.fuel {
            store
                .set_fuel(fuel)
                .expect("fuel metering is on whenever a fuel budget is configured");
        }
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|plugin| run(&plugin, &mut store));
        tracing::debug!(
            micros = started.elapsed().as_micros() as u64,
            ok = result.is_ok(),
            "plugin call finished"
        );
        result.map_err(|error| self.classify(hook, store.data(), &error))
    }

    /// Turns a trap or host error into the kernel's error, naming the limit that was hit.
    fn classify(&self, hook: Hook, state: &CallState, error: &wasmtime::Error) -> Error {
        let limits = &*self.limits;
        if state.memory_exceeded() {
            return self.limit_exceeded(hook, format!("memory ({})", bytes(limits.memory_bytes)));
        }
        if error
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
        {
            return self.busy(hook);
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                let timeout_ms = if hook.is_slow() {
                    limits.kpi_timeout_ms
                } else {
                    limits.hook_timeout_ms
                };
                self.limit_exceeded(hook, format!("time ({timeout_ms} ms)"))
            }
            Some(Trap::OutOfFuel) => {
                self.limit_exceeded(hook, format!("fuel ({})", limits.fuel.unwrap_or_default()))
            }
            Some(trap) => {
                // The full chain starts with the wasm backtrace; operators get it at debug level,
                // the error keeps what happened.
                tracing::debug!(plugin = %self.id, hook = hook.name(), error = ?error, "plugin trapped");
                self.failed(hook, trap.to_string())
            }
            None => {
                tracing::debug!(plugin = %self.id, hook = hook.name(), error = ?error, "plugin call failed");
                let cause = error.root_cause().to_string();
                let import = cause
                    .strip_prefix("unknown import: ")
                    .map(|rest| rest.trim_end_matches(" has not been defined"));
                let message = match import {
                    // A guest built for wasm32-wasip2 reaches these when it touches files, the
                    // clock or the environment; so does a panic, which reads `RUST_BACKTRACE`.
                    Some(import) => format!(
                        "called {import}: the sandbox gives plugins no files, network, clock or environment \
                         (a panic ends here too)"
                    ),
                    None => cause,
                };
                self.failed(hook, message)
            }
        }
    }

    /// Unwraps the plugin's own answer; a `hook-error` becomes [`Error::PluginFailed`].
    fn refused<T>(
        &self,
        hook: Hook,
        answer: std::result::Result<T, bindings::Refusal>,
    ) -> Result<T> {
        answer.map_err(|refusal| {
            if refusal.input {
                let (message, _) = sandbox::escape_capped(&refusal.message, MAX_MESSAGE_BYTES);
                Error::Refused {
                    plugin: self.id.clone(),
                    hook: hook.name(),
                    message,
                }
            } else {
                self.failed(hook, refusal.message)
            }
        })
    }

    fn check_output_size(&self, hook: Hook, size: usize) -> Result<()> {
        let limit = self.limits.max_output_bytes;
        if size > limit {
            return Err(self.limit_exceeded(hook, format!("output size ({})", bytes(limit))));
        }
        Ok(())
    }

    fn failed(&self, hook: Hook, message: String) -> Error {
        let (message, _) = sandbox::escape_capped(&message, MAX_MESSAGE_BYTES);
        Error::PluginFailed {
            plugin: self.id.clone(),
            hook: hook.name(),
            message,
        }
    }

    fn limit_exceeded(&self, hook: Hook, limit: String) -> Error {
        Error::LimitExceeded {
            plugin: self.id.clone(),
            hook: hook.name(),
            limit,
        }
    }

    fn busy(&self, hook: Hook) -> Error {
        Error::Busy {
            plugin: self.id.clone(),
            hook: hook.name(),
            slots: self.slots.max(),
        }
    }
}

/// Tells apart "not wasm", "a core module" and "a component" from the 8-byte preamble, so the
/// common mistakes get a plain answer before the compiler's.
fn check_header(wasm: &[u8]) -> std::result::Result<(), String> {
    if wasm.starts_with(b"\x7fELF") {
        return Err("not a WebAssembly component but a native (ELF) file".into());
    }
    if wasm.len() < 8 || !wasm.starts_with(b"\0asm") {
        return Err(
            "not a WebAssembly component (the file does not start with the wasm magic bytes)"
                .into(),
        );
    }
    match wasm[4..8] {
        [1, 0, 0, 0] => Err(
            "not a WebAssembly component but a core module; build the plugin for wasm32-wasip2 \
             or wrap it with `wasm-tools component new`"
                .into(),
        ),
        [_, _, 1, 0] => Ok(()),
        _ => Err("not a WebAssembly component (unknown binary layer)".into()),
    }
}

/// Checks the versions of every `jingxi:plugin` interface the component imports or exports,
/// so an incompatible plugin is refused with the version it was built against.
fn check_contract(engine: &Engine, component: &Component) -> std::result::Result<(), String> {
    let (major, minor, _) = bindings::CONTRACT_VERSION;
    let supported = format!("{major}.{minor}.x");
    let component_type = component.component_type();
    let exports: Vec<&str> = component_type
        .exports(engine)
        .map(|(name, _)| name)
        .collect();
    let imports = component_type.imports(engine).map(|(name, _)| name);
    let prefix = format!("{}/", bindings::CONTRACT_PACKAGE);
    for name in exports.iter().copied().chain(imports) {
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Some((_, version)) = rest.split_once('@') else {
            return Err(format!(
                "plugin uses `{name}` without a version; this kernel supports {}@{supported}",
                bindings::CONTRACT_PACKAGE
            ));
        };
        if !is_compatible(version) {
            return Err(format!(
                "plugin was built against {}@{version}; this kernel supports {supported}",
                bindings::CONTRACT_PACKAGE
            ));
        }
    }
    if !exports
        .iter()
        .any(|name| name.starts_with(&format!("{prefix}hooks@")))
    {
        let mut listed = exports
            .iter()
            .take(5)
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ");
        if listed.is_empty() {
            listed = "nothing".into();
        }
        return Err(format!(
            "plugin does not export {}/hooks (it exports {listed}); is it built with jingxi-sdk?",
            bindings::CONTRACT_PACKAGE
        ));
    }
    Ok(())
}

/// Semver compatibility with [`bindings::CONTRACT_VERSION`]: same major, and for 0.x the same
/// minor too.
fn is_compatible(version: &str) -> bool {
    let (major, minor, _) = bindings::CONTRACT_VERSION;
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let mut parts = core.split('.').map(str::parse::<u64>);
    match (parts.next(), parts.next()) {
        (Some(Ok(v_major)), Some(Ok(v_minor))) => {
            v_major == major && (major != 0 || v_minor == minor)
        }
        _ => false,
    }
}

/// The component's imports that the host's linker does not define: what
/// `define_unknown_imports_as_traps` stubs, unless the sandbox answers them harmlessly.
fn foreign_imports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| {
            let interface = name
                .split_once('@')
                .map_or(*name, |(interface, _)| interface);
            !bindings::HOST_INTERFACES.contains(&interface)
        })
        .map(str::to_owned)
        .collect()
}

/// The manifest's `id`, when it looks like a plugin id (it ends up in logs and messages).
fn manifest_id(manifest_json: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Head {
        id: String,
    }
    let id = serde_json::from_str::<Head>(manifest_json).ok()?.id;
    let plausible = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.'
        });
    plausible.then_some(id)
}

fn is_json_object(text: &str) -> bool {
    text.trim_start().starts_with('{')
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

fn context_len(ctx: &HookContext) -> usize {
    ctx.tenant.len()
        + ctx.user_id.len()
        + ctx.locale.len()
        + ctx.roles.iter().map(String::len).sum::<usize>()
}

/// `64 MiB`, `4 KiB`, `1000 bytes`: limits as people configure them.
fn bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(cache_dir: &std::path::Path) -> PluginHost {
        let config = PluginHostConfig {
            cache_dir: cache_dir.to_owned(),
            max_concurrent_calls: 4,
            ..Default::default()
        };
        PluginHost::new(config).expect("the host starts")
    }

    #[track_caller]
    fn check_invalid(wasm: &[u8], expect: &str) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        match host(dir.path()).load(wasm) {
            Err(Error::InvalidWasm { message }) => {
                assert!(
                    message.contains(expect),
                    "{message:?} should contain {expect:?}"
                )
            }
            other => panic!("expected InvalidWasm, got {other:?}"),
        }
    }

    #[test]
    fn rejects_garbage() {
        check_invalid(b"", "not a WebAssembly component");
        check_invalid(b"hello, world", "not a WebAssembly component");
        check_invalid(b"\x7fELF\x02\x01\x01\0", "native (ELF) file");
    }

    #[test]
    fn rejects_a_core_module() {
        check_invalid(
            b"\0asm\x01\0\0\0",
            "not a WebAssembly component but a core module",
        );
    }

    #[test]
    fn rejects_a_component_without_the_hooks() {
        check_invalid(
            b"\0asm\x0d\0\x01\0",
            "plugin does not export jingxi:plugin/hooks (it exports nothing)",
        );
    }

    #[test]
    fn caches_artifacts_and_recompiles_tampered_ones() {
        // The empty component compiles (then fails the contract check), which is enough to
        // exercise the cache through the public API.
        let empty_component = b"\0asm\x0d\0\x01\0";
        let dir = tempfile::tempdir().expect("a temporary directory");
        let load = || {
            let host = host(dir.path());
            assert!(matches!(
                host.load(empty_component),
                Err(Error::InvalidWasm { .. })
            ));
            host.stats()
        };
        assert_eq!(
            load(),
            PluginHostStats {
                compiled: 1,
                cache_hits: 0
            }
        );
        assert_eq!(
            load(),
            PluginHostStats {
                compiled: 0,
                cache_hits: 1
            }
        );

        let artifact = std::fs::read_dir(dir.path())
            .expect("the cache directory")
            .map(|entry| entry.expect("an entry").path())
            .find(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
            .expect("an artifact");
        let mut bytes = std::fs::read(&artifact).expect("the artifact");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&artifact, bytes).expect("tampering");
        assert_eq!(
            load(),
            PluginHostStats {
                compiled: 1,
                cache_hits: 0
            }
        );
        assert_eq!(
            load(),
            PluginHostStats {
                compiled: 0,
                cache_hits: 1
            }
        );
    }

    #[test]
    fn reports_an_unusable_cache_directory() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("file");
        std::fs::write(&file, "").expect("a file");
        let config = PluginHostConfig {
            cache_dir: file.join("cache"),
            ..Default::default()
        };
        let error = PluginHost::new(config).expect_err("a file is in the way");
        assert!(matches!(error, Error::Cache { .. }), "{error}");
    }

    #[test]
    fn rejects_a_truncated_component() {
        check_invalid(b"\0asm\x0d\0\x01\0\x07\x05", "cannot compile");
    }

    #[test]
    fn rejects_oversized_wasm() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = PluginHostConfig {
            cache_dir: dir.path().to_owned(),
            max_wasm_bytes: 10,
            ..Default::default()
        };
        let host = PluginHost::new(config).expect("the host starts");
        let error = host.load(&[0; 11]).expect_err("over the cap");
        assert_eq!(
            error.to_string(),
            "plugin wasm is 11 bytes, over the limit of 10 bytes"
        );
    }

    #[test]
    fn refuses_unusable_settings() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = PluginHostConfig {
            cache_dir: dir.path().to_owned(),
            memory_limit_mib: 0,
            ..Default::default()
        };
        let error = PluginHost::new(config).expect_err("zero memory");
        assert_eq!(
            error.to_string(),
            "plugin host cannot start: memory_limit_mib is 0; it must be 1 to 4096"
        );
    }

    #[test]
    fn config_has_safe_defaults_and_rejects_unknown_keys() {
        let config: PluginHostConfig =
            serde_json::from_str(r#"{"hook_timeout_ms": 20}"#).expect("valid config");
        assert_eq!(config.hook_timeout_ms, 20);
        assert_eq!(config.memory_limit_mib, 64);
        assert_eq!(config.fuel, None);
        assert_eq!(config.max_concurrent_calls, 64);
        let error = serde_json::from_str::<PluginHostConfig>(r#"{"hook_timeout": 20}"#)
            .expect_err("unknown key");
        assert!(
            error.to_string().contains("unknown field `hook_timeout`"),
            "{error}"
        );
    }

    #[test]
    fn versions_follow_semver() {
        assert!(is_compatible("0.1.0"));
        assert!(is_compatible("0.1.7"));
        assert!(is_compatible("0.1.1-rc.1"));
        assert!(!is_compatible("0.2.0"));
        assert!(!is_compatible("1.0.0"));
        assert!(!is_compatible("2.0.0"));
        assert!(!is_compatible("x"));
    }

    #[test]
    fn reads_plausible_manifest_ids_only() {
        assert_eq!(
            manifest_id(r#"{"id": "key_accounts", "title": "大客户"}"#).as_deref(),
            Some("key_accounts")
        );
        assert_eq!(manifest_id(r#"{"id": "evil\u001b[2J"}"#), None);
        assert_eq!(manifest_id(r#"{"title": "no id"}"#), None);
        assert_eq!(manifest_id("not json"), None);
    }

    #[test]
    fn formats_limits_for_people() {
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(bytes(4096), "4 KiB");
        assert_eq!(bytes(1000), "1000 bytes");
    }

    #[test]
    fn host_and_plugins_are_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<PluginHost>();
        assert_send_sync::<LoadedPlugin>();
    }
}
