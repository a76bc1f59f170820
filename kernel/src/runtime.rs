//! The running kernel: installed plugins, each tenant's enabled set, and the record operations the
//! API and the CLI share (validate, run hooks, check permissions, store).
//!
//! **Invariant:** every record operation takes a [`Principal`]; the store receives the access it
//! derives, so no path reaches records without tenant and row predicates.

mod auth;
mod events;
mod kpi;
mod query;
mod tenancy;
mod workflow;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Config;
use crate::error::{Code, ErrorCode};
use crate::model::{EntityDef, FieldIssue, Locale, PluginDef};
use crate::permissions::{Action, Principal};
use crate::plugin_host::{self, HookContext, LoadedPlugin, PluginHost};
use crate::store::{self, Filter, Order, Page, Record, Store};

pub use events::{ChangeEvent, EVENT_KINDS, HISTORY_PAGE_MAX, HistoryEntry, install_tls_provider};
pub use kpi::{KpiValue, MAX_KPI_DAYS};
pub use tenancy::TenantCatalog;
pub use workflow::TransitionView;

/// A plugin installed on this kernel: its checked manifest and its compiled component.
#[derive(Debug)]
pub struct InstalledPlugin {
    pub def: PluginDef,
    pub component: LoadedPlugin,
}

/// One problem in a write, with the index of the record in a batch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordIssue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub pointer: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", validation_summary(.issues))]
    Validation { issues: Vec<RecordIssue> },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    /// A plugin needs others that are not installed; the message names them.
    #[error("{0}")]
    RequirementsMissing(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error(transparent)]
    Plugin(#[from] plugin_host::Error),
    #[error(transparent)]
    Model(#[from] crate::model::Error),
    #[error(transparent)]
    Store(store::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

fn validation_summary(issues: &[RecordIssue]) -> String {
    let first = issues
        .first()
        .map(|i| match i.pointer.as_str() {
            "" => format!(" {}", i.message),
            pointer => format!(" {pointer}: {}", i.message),
        })
        .unwrap_or_default();
    format!(
        "输入无效 / Invalid input ({} problem(s)).{first}",
        issues.len()
    )
}

impl From<store::Error> for Error {
    fn from(error: store::Error) -> Self {
        match error {
            store::Error::Invalid { issues } => Error::Validation {
                issues: issues.into_iter().map(|i| issue(None, i)).collect(),
            },
            store::Error::BadFilter { field, message } => Error::Validation {
                issues: vec![RecordIssue {
                    index: None,
                    pointer: format!("/{field}"),
                    code: "filter".into(),
                    message,
                }],
            },
            store::Error::Refused(message) => Error::BadRequest(message),
            other => Error::Store(other),
        }
    }
}

impl ErrorCode for Error {
    fn code(&self) -> Code {
        match self {
            Error::Validation { .. } => Code::ValidationFailed,
            Error::Forbidden(_) => Code::Forbidden,
            Error::NotFound(_) => Code::NotFound,
            Error::Conflict(_) => Code::Conflict,
            Error::BadRequest(_) | Error::RequirementsMissing(_) | Error::Model(_) => {
                Code::BadRequest
            }
            Error::LimitExceeded(_) => Code::LimitExceeded,
            Error::Plugin(error) => match error {
                plugin_host::Error::LimitExceeded { .. } => Code::LimitExceeded,
                plugin_host::Error::Refused { .. } => Code::ValidationFailed,
                plugin_host::Error::TooLarge { what, .. } if *what != "plugin wasm" => {
                    Code::LimitExceeded
                }
                plugin_host::Error::InvalidWasm { .. } | plugin_host::Error::TooLarge { .. } => {
                    Code::BadRequest
                }
                _ => Code::PluginFailed,
            },
            Error::Store(error) => error.code(),
            Error::Internal(_) => Code::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn issue(index: Option<usize>, issue: FieldIssue) -> RecordIssue {
    RecordIssue {
        index,
        pointer: issue.pointer,
        code: issue.code,
        message: issue.message,
    }
}

/// The SHA-256 of a token, hex: what the database keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Who writes, in which tenant catalog, in which language: what every write needs.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub principal: &'a Principal,
    pub catalog: &'a TenantCatalog,
    pub locale: Locale,
}

/// The kernel: one per process, shared by the API and the CLI.
pub struct Kernel {
    pub store: Store,
    pub host: PluginHost,
    pub config: Config,
    plugins: RwLock<HashMap<String, Arc<InstalledPlugin>>>,
    catalogs: RwLock<HashMap<i64, Arc<TenantCatalog>>>,
    principals: RwLock<HashMap<String, (Instant, Arc<Principal>)>>,
    /// Committed changes, for subscriptions on this node.
    events: tokio::sync::broadcast::Sender<Arc<ChangeEvent>>,
    /// Event ids already published here, so the outbox feed sends each once.
    heard: std::sync::Mutex<events::Heard>,
    logins: auth::LoginThrottle,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel").finish_non_exhaustive()
    }
}

/// Records per hook call on bulk paths: large enough to amortize the sandbox set-up, small
/// enough that each call stays far inside the per-call time and size limits.
const HOOK_BATCH: usize = 100;

/// How long an authenticated token is remembered before its user, roles and grants are re-read.
const PRINCIPAL_TTL: Duration = Duration::from_secs(2);

impl Kernel {
    /// Connects, migrates, and loads every installed plugin (from the compiled-artifact cache).
    pub async fn open(mut config: Config) -> anyhow::Result<Arc<Kernel>> {
        events::install_tls_provider();
        let store = Store::connect(&config.database).await?;
        store.migrate().await?;
        // Compiled artifacts are signed with a key kept in the database, away from the cache.
        let key = hex::encode(rand::random::<[u8; 32]>());
        config.plugins.artifact_key =
            Some(store.ensure_setting("plugin_artifact_key", &key).await?);
        let host = PluginHost::new(config.plugins.clone())?;
        let kernel = Arc::new(Kernel {
            store,
            host,
            config,
            plugins: RwLock::new(HashMap::new()),
            catalogs: RwLock::new(HashMap::new()),
            principals: RwLock::new(HashMap::new()),
            events: tokio::sync::broadcast::channel(4096).0,
            heard: Default::default(),
            logins: auth::LoginThrottle::default(),
        });
        kernel.sync_plugins().await?;
        kernel.sweep_plugin_cache();
        Ok(kernel)
    }

    /// Removes cached artifacts of plugins no longer installed (after an upgrade, say).
    fn sweep_plugin_cache(&self) {
        let installed = self.installed();
        let keep: Vec<&str> = installed.iter().map(|p| p.component.sha256()).collect();
        let removed = self.host.sweep_cache(&keep);
        if removed > 0 {
            tracing::info!(files = removed, "removed stale plugin artifacts");
        }
    }

    pub fn plugin(&self, id: &str) -> Option<Arc<InstalledPlugin>> {
        self.plugins
            .read()
            .expect("plugin registry lock")
            .get(id)
            .cloned()
    }

    pub fn installed(&self) -> Vec<Arc<InstalledPlugin>> {
        let mut plugins: Vec<_> = self
            .plugins
            .read()
            .expect("plugin registry lock")
            .values()
            .cloned()
            .collect();
        plugins.sort_by(|a, b| a.def.id.cmp(&b.def.id));
        plugins
    }

    /// Loads plugins installed (or upgraded) by any process since the last look.
    pub async fn sync_plugins(&self) -> Result<()> {
        for row in self.store.plugins().await? {
            let current = self.plugin(&row.id);
            if current
                .as_ref()
                .is_some_and(|p| p.component.sha256() == row.sha256)
            {
                continue;
            }
            let Some(wasm) = self.store.plugin_wasm(&row.id).await? else {
                continue;
            };
            let host = self.host.clone();
            let component = tokio::task::spawn_blocking(move || host.load(&wasm))
                .await
                .map_err(|error| Error::Internal(error.to_string()))??;
            let def = PluginDef::from_manifest(component.manifest_json())?;
            self.plugins
                .write()
                .expect("plugin registry lock")
                .insert(row.id.clone(), Arc::new(InstalledPlugin { def, component }));
        }
        Ok(())
    }

    /// Installs (or upgrades) a plugin from its `.wasm`: compiles it, checks its manifest, creates
    /// its tables, and stores it so every kernel node can load it.
    pub async fn install_plugin(&self, wasm: Vec<u8>) -> Result<Arc<InstalledPlugin>> {
        let host = self.host.clone();
        let (component, wasm) =
            tokio::task::spawn_blocking(move || host.load(&wasm).map(|c| (c, wasm)))
                .await
                .map_err(|error| Error::Internal(error.to_string()))??;
        let def = PluginDef::from_manifest(component.manifest_json())?;
        if def.id == "kernel" {
            return Err(Error::BadRequest(
                "插件 id `kernel` 已保留 / The plugin id `kernel` is reserved.".into(),
            ));
        }
        let missing: Vec<&str> = def
            .requires
            .iter()
            .filter(|id| self.plugin(id).is_none())
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let list = missing.join(", ");
            return Err(Error::RequirementsMissing(format!(
                "插件 {id} 需要先安装:{list} / The plugin {id} requires {list}, which is not installed. Hint: install {list} first.",
                id = def.id
            )));
        }
        if let Some(existing) = self.plugin(&def.id) {
            if existing.component.sha256() == component.sha256() {
                return Ok(existing);
            }
            self.check_upgrade(&existing.def, &def)?;
        }
        let mut newly_counted = Vec::new();
        for entity in &def.entities {
            if !self.store.ensure_tables(entity).await?.is_empty() {
                newly_counted.push(entity.qualified.clone());
            }
            if let Some(workflow) = &entity.workflow {
                self.store
                    .fill_missing_state(entity, &workflow.initial)
                    .await?;
            }
        }
        let row = store::PluginRow {
            id: def.id.clone(),
            version: def.version.clone(),
            sha256: component.sha256().to_string(),
            manifest: component.manifest_json().to_string(),
        };
        self.store.save_plugin(&row, &wasm).await?;
        let installed = Arc::new(InstalledPlugin { def, component });
        self.plugins
            .write()
            .expect("plugin registry lock")
            .insert(installed.def.id.clone(), installed.clone());
        self.catalogs.write().expect("catalog lock").clear();
        self.sweep_plugin_cache();
        for entity in installed
            .def
            .entities
            .iter()
            .filter(|entity| newly_counted.contains(&entity.qualified))
        {
            // Requests that began under the previous definition wrote without counting.
            self.store.refill_daily_counts(entity).await?;
        }
        Ok(installed)
    }

    /// An installed plugin may be replaced only by a higher version whose changes are additive.
    fn check_upgrade(&self, old: &PluginDef, new: &PluginDef) -> Result<()> {
        let id = &new.id;
        let parse = |v: &str| {
            semver::Version::parse(v)
                .map_err(|e| Error::BadRequest(format!("invalid version {v}: {e}")))
        };
        let (old_version, new_version) = (parse(&old.version)?, parse(&new.version)?);
        if new_version <= old_version {
            return Err(Error::Conflict(format!(
                "插件 {id} {old_version} 已安装,升级需要更高的版本号(收到 {new_version}) / The plugin {id} {old_version} is installed; an upgrade needs a higher version than {new_version}. Hint: bump the version in Cargo.toml."
            )));
        }
        let problems = new.upgrade_problems(old);
        if !problems.is_empty() {
            return Err(Error::Conflict(format!(
                "插件 {id} 从 {old_version} 升级到 {new_version} 不是纯增量变更 / Upgrading {id} from {old_version} to {new_version} is not additive: {}. Hint: keep old fields and add new ones as optional.",
                problems.join("; ")
            )));
        }
        Ok(())
    }

    /// Authenticates a bearer token; `None` for an unknown, expired or revoked token.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Arc<Principal>>> {
        let hash = token_hash(token);
        if let Some((at, principal)) = self
            .principals
            .read()
            .expect("principal cache lock")
            .get(&hash)
            && at.elapsed() < PRINCIPAL_TTL
        {
            return Ok(Some(principal.clone()));
        }
        let Some(row) = self.store.principal_by_token(&hash, Utc::now()).await? else {
            return Ok(None);
        };
        let grants = self
            .store
            .grants_for_roles(row.tenant.id, &row.roles)
            .await?;
        let principal = Arc::new(Principal::new(row, &grants));
        let mut cache = self.principals.write().expect("principal cache lock");
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < PRINCIPAL_TTL);
        }
        cache.insert(hash, (Instant::now(), principal.clone()));
        Ok(Some(principal))
    }

    /// What a hook sees: the caller, the clock, and the records the plugin may query for them.
    fn hook_context(
        &self,
        caller: &Caller<'_>,
        plugin: &InstalledPlugin,
        now: DateTime<Utc>,
    ) -> HookContext {
        let principal = caller.principal;
        HookContext {
            tenant: principal.tenant_slug.clone(),
            user_id: principal.user_id.to_string(),
            roles: principal.roles.clone(),
            locale: caller.locale.as_str().to_string(),
            now_ms: now.timestamp_millis(),
            records: query::PluginQuery::new(&self.store, caller, plugin)
                .map(|q| Arc::new(q) as Arc<dyn plugin_host::RecordSource>),
        }
    }

    /// Records by id, in the order asked; ids the caller cannot see are `None`.
    pub async fn get(
        &self,
        principal: &Principal,
        entity: &EntityDef,
        ids: &[Uuid],
    ) -> Result<Vec<Option<Record>>> {
        self.get_with(principal, entity, ids, true).await
    }

    /// Like [`Kernel::get`]; without child tables when `children` is false (a read that does not
    /// show them saves a statement).
    pub async fn get_with(
        &self,
        principal: &Principal,
        entity: &EntityDef,
        ids: &[Uuid],
        children: bool,
    ) -> Result<Vec<Option<Record>>> {
        let access = principal.access(&entity.qualified, Action::Read);
        let records = self
            .store
            .get_records_with(&access, entity, ids, children)
            .await?;
        let mut by_id: HashMap<String, Record> = records
            .into_iter()
            .filter_map(|r| {
                r.get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .map(|id| (id, r))
            })
            .collect();
        Ok(ids.iter().map(|id| by_id.remove(&id.to_string())).collect())
    }

    pub async fn list(
        &self,
        principal: &Principal,
        entity: &EntityDef,
        filter: Option<&Filter>,
        order: &[Order],
        page: Page,
    ) -> Result<Vec<Record>> {
        let access = principal.access(&entity.qualified, Action::Read);
        Ok(self
            .store
            .list_records(&access, entity, filter, order, page)
            .await?)
    }

    /// For each parent id, a page of the caller's `entity` records whose reference `field` names
    /// it (see [`Store::list_related`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn list_related(
        &self,
        principal: &Principal,
        entity: &EntityDef,
        field: &str,
        parents: &[Uuid],
        filter: Option<&Filter>,
        order: &[Order],
        page: Page,
    ) -> Result<HashMap<Uuid, store::Related>> {
        let access = principal.access(&entity.qualified, Action::Read);
        Ok(self
            .store
            .list_related(&access, entity, field, parents, filter, order, page)
            .await?)
    }

    pub async fn count(
        &self,
        principal: &Principal,
        entity: &EntityDef,
        filter: Option<&Filter>,
    ) -> Result<u64> {
        let access = principal.access(&entity.qualified, Action::Read);
        Ok(self.store.count_records(&access, entity, filter).await?)
    }

    /// The count per group of the records the caller may see, and the sum, average, minimum and
    /// maximum of the numeric fields `metrics` names, at most `api.max_page_size` groups (the
    /// largest first).
    pub async fn aggregate(
        &self,
        principal: &Principal,
        entity: &EntityDef,
        filter: Option<&Filter>,
        group_by: &[String],
        metrics: store::Metrics<'_>,
    ) -> Result<Vec<store::Group>> {
        let access = principal.access(&entity.qualified, Action::Read);
        Ok(self
            .store
            .aggregate_records(
                &access,
                entity,
                filter,
                group_by,
                metrics,
                self.config.api.max_page_size,
            )
            .await?)
    }

    /// Checks records against the schema, then the plugin's `validate` hook (one call per batch).
    async fn check_records(
        &self,
        caller: &Caller<'_>,
        entity: &EntityDef,
        records: &[Record],
        batch: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (catalog, locale) = (caller.catalog, caller.locale);
        let mut issues = Vec::new();
        for (record_idx, record) in records.iter().enumerate() {
            let index = batch.then_some(record_idx);
            for field in entity.fields.iter().filter(|f| f.computed) {
                if record.contains_key(&field.name) {
                    issues.push(RecordIssue {
                        index,
                        pointer: format!("/{}", field.name),
                        code: "computed".into(),
                        message: locale.pick(
                            format!("「{}」由系统计算,不能填写。", field.title),
                            format!("{} is computed and cannot be written.", field.title_en),
                        ),
                    });
                }
            }
            // System fields (`id`, `version`, `state` of an existing record) are for the
            // plugin's hooks; the form schema does not declare them.
            let value = Value::Object(
                record
                    .iter()
                    .filter(|(key, _)| !store_system_field(key))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
            issues.extend(
                entity
                    .check(&value, locale)
                    .into_iter()
                    .map(|i| issue(index, i)),
            );
        }
        if issues.is_empty() {
            issues = self
                .check_references(caller, entity, records, batch)
                .await?;
        }
        if !issues.is_empty() {
            return Err(Error::Validation { issues });
        }
        let Some(plugin) = catalog.plugin_of(entity) else {
            return Ok(());
        };
        if !plugin.def.has_hook("validate") {
            return Ok(());
        }
        let (ctx, component, name) = (
            self.hook_context(caller, plugin, now),
            plugin.component.clone(),
            entity.name.clone(),
        );
        let results =
            run_batch_hook(records, move |chunk| component.validate(&ctx, &name, chunk)).await?;
        for (record_idx, errors) in results.into_iter().enumerate() {
            let index = batch.then_some(record_idx);
            issues.extend(errors.into_iter().map(|e| RecordIssue {
                index,
                pointer: e.pointer,
                code: e.code,
                message: e.message,
            }));
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation { issues })
        }
    }

    /// Lets the plugin fill the fields marked `x-jingxi.computed` (one call per batch). Only those
    /// fields are taken from its answer; everything else stays as the client sent it.
    async fn compute_fields(
        &self,
        caller: &Caller<'_>,
        entity: &EntityDef,
        mut records: Vec<Record>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Record>> {
        let catalog = caller.catalog;
        let computed: Vec<String> = entity
            .fields
            .iter()
            .filter(|f| f.computed)
            .map(|f| f.name.clone())
            .collect();
        let Some(plugin) = catalog.plugin_of(entity) else {
            return Ok(records);
        };
        if computed.is_empty() || !plugin.def.has_hook("compute") {
            return Ok(records);
        }
        let (ctx, component, name) = (
            self.hook_context(caller, plugin, now),
            plugin.component.clone(),
            entity.name.clone(),
        );
        let outputs =
            run_batch_hook(&records, move |chunk| component.compute(&ctx, &name, chunk)).await?;
        // The host has checked that every call answered one JSON object per record.
        for (record, output) in records.iter_mut().zip(outputs) {
            let output: Value = serde_json::from_str(&output).map_err(|error| {
                Error::Plugin(plugin_host::Error::PluginFailed {
                    plugin: plugin.def.id.clone(),
                    hook: "compute",
                    message: format!("returned a record that is not JSON: {error}"),
                })
            })?;
            for field in &computed {
                match output.get(field) {
                    Some(value) if !value.is_null() => record.insert(field.clone(), value.clone()),
                    _ => record.remove(field),
                };
            }
        }
        Ok(records)
    }

    /// Every reference must name a record of the caller's tenant (whatever the caller may read):
    /// a dangling or foreign id is a validation problem, not a silent null later.
    async fn check_references(
        &self,
        caller: &Caller<'_>,
        entity: &EntityDef,
        records: &[Record],
        batch: bool,
    ) -> Result<Vec<RecordIssue>> {
        let (principal, catalog, locale) = (caller.principal, caller.catalog, caller.locale);
        let mut issues = Vec::new();
        for field in &entity.fields {
            let crate::model::FieldKind::Ref { target } = &field.kind else {
                continue;
            };
            let mut ids: Vec<(usize, Uuid)> = Vec::new();
            for (record_idx, record) in records.iter().enumerate() {
                if let Some(id) = record
                    .get(&field.name)
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok())
                {
                    ids.push((record_idx, id));
                }
            }
            if ids.is_empty() {
                continue;
            }
            let wanted: Vec<Uuid> = ids.iter().map(|(_, id)| *id).collect();
            let existing: std::collections::HashSet<String> = match target.as_str() {
                "kernel.user" => self
                    .store
                    .users_by_id(principal.tenant_id, &wanted)
                    .await?
                    .into_iter()
                    .map(|u| u.id.to_string())
                    .collect(),
                "kernel.org_unit" => self
                    .store
                    .org_units(principal.tenant_id)
                    .await?
                    .into_iter()
                    .map(|u| u.id.to_string())
                    .collect(),
                qualified => match catalog.entity(qualified) {
                    Some(target_def) => self
                        .store
                        .existing_ids(&tenant_wide(principal), &target_def, &wanted)
                        .await?
                        .into_iter()
                        .map(|id| id.to_string())
                        .collect(),
                    None => Default::default(),
                },
            };
            for (record_idx, id) in ids {
                if !existing.contains(&id.to_string()) {
                    issues.push(RecordIssue {
                        index: batch.then_some(record_idx),
                        pointer: format!("/{}", field.name),
                        code: "reference".into(),
                        message: locale.pick(
                            format!("「{}」引用的记录 {id} 不存在。", field.title),
                            format!("{} refers to {id}, which does not exist.", field.title_en),
                        ),
                    });
                }
            }
        }
        Ok(issues)
    }

    /// Creates records in one transaction; any invalid record means nothing is written.
    pub async fn create(
        &self,
        caller: &Caller<'_>,
        entity: &EntityDef,
        inputs: Vec<Record>,
        batch: bool,
    ) -> Result<Vec<Record>> {
        let (principal, locale) = (caller.principal, caller.locale);
        if !principal.may(&entity.qualified, Action::Create) {
            return Err(forbidden(locale, "create", &entity.qualified));
        }
        if inputs.len() > self.config.api.max_batch {
            return Err(Error::LimitExceeded(format!(
                "一次最多创建 {max} 条记录 / At most {max} records can be created at once.",
                max = self.config.api.max_batch
            )));
        }
        let now = Utc::now();
        let records: Vec<Record> = inputs.into_iter().map(without_nulls).collect();
        let level = principal.level(&entity.qualified);
        if let Some(key) = records
            .iter()
            .flat_map(|r| r.keys())
            .find(|key| entity.level_of(key) > level)
        {
            return Err(hidden_field(locale, key));
        }
        self.check_records(caller, entity, &records, batch, now)
            .await?;
        let records = self.compute_fields(caller, entity, records, now).await?;
        let access = principal.access(&entity.qualified, Action::Create);
        let initial = entity.workflow.as_ref().map(|w| w.initial.as_str());
        let mut tx = self.store.begin().await?;
        let created = tx
            .insert_records(&access, entity, &records, initial, now)
            .await?;
        let mut log = events::ChangeLog::new(caller, now);
        for record in &created {
            log.push(entity, events::Change::created(record));
        }
        let published = log.write(&tx).await?;
        tx.commit().await?;
        self.publish(published);
        let level = principal.level(&entity.qualified);
        Ok(created
            .into_iter()
            .map(|r| events::visible(entity, level, r))
            .collect())
    }

    /// The current record at every field level, if the caller may read it: the base a patch
    /// merges into (hidden fields must survive a write by someone who cannot see them).
    async fn current(
        &self,
        principal: &Principal,
        entity: &EntityDef,
        id: Uuid,
        locale: Locale,
    ) -> Result<Record> {
        let access = store::Access {
            level: store::Access::ALL_LEVELS,
            ..principal.access(&entity.qualified, Action::Read)
        };
        self.store
            .get_records(&access, entity, &[id])
            .await?
            .pop()
            .ok_or_else(|| not_found(locale, id))
    }

    /// Merges a patch into the current record: system fields, computed fields and fields above
    /// the caller's level cannot be written.
    fn merge_patch(
        &self,
        caller: &Caller<'_>,
        entity: &EntityDef,
        current: &Record,
        patch: Record,
    ) -> Result<Record> {
        let locale = caller.locale;
        let level = caller.principal.level(&entity.qualified);
        let mut merged: Record = current
            .iter()
            .filter(|(key, _)| !store_system_field(key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, value) in patch {
            if store_system_field(&key) {
                return Err(Error::Validation {
                    issues: vec![RecordIssue {
                        index: None,
                        pointer: format!("/{key}"),
                        code: "system".into(),
                        message: locale.pick(
                            format!("系统字段 {key} 不能修改。"),
                            format!("The system field {key} cannot be changed."),
                        ),
                    }],
                });
            }
            if entity.field(&key).is_some_and(|f| f.computed) {
                return Err(Error::Validation {
                    issues: vec![RecordIssue {
                        index: None,
                        pointer: format!("/{key}"),
                        code: "computed".into(),
                        message: locale.pick(
                            format!("「{key}」由系统计算,不能填写。"),
                            format!("{key} is computed and cannot be written."),
                        ),
                    }],
                });
            }
            if entity.level_of(&key) > level {
                return Err(hidden_field(locale, &key));
            }
            merged.insert(key, value);
        }
        Ok(without_nulls(merged))
    }

    /// Validates a merged record of an existing one and lets the plugin compute its fields.
    /// `state` is the state the record will be in.
    async fn prepare_existing(
        &self,
        caller: &Caller<'_>,
        entity: &EntityDef,
        current: &Record,
        merged: Record,
        state: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Record> {
        let computed: Vec<String> = entity
            .fields
            .iter()
            .filter(|f| f.computed)
            .map(|f| f.name.clone())
            .collect();
        let mut to_check = merged.clone();
        to_check.retain(|key, _| !computed.contains(key));
        for key in ["id", "version"] {
            if let Some(value) = current.get(key).filter(|v| !v.is_null()) {
                to_check.insert(key.to_string(), value.clone());
            }
        }
        if let Some(state) = state {
            to_check.insert("state".into(), Value::String(state.to_string()));
        }
        self.check_records(caller, entity, std::slice::from_ref(&to_check), false, now)
            .await?;
        Ok(self
            .compute_fields(caller, entity, vec![to_check], now)
            .await?
            .pop()
            .unwrap_or(merged))
    }

    /// Applies a JSON merge patch to one record, re-validates the whole record, and stores it if
    /// `expected_version` still matches.
    pub async fn update(
        &self,
        caller: &Caller<'_>,
        entity: &EntityDef,
        id: Uuid,
        patch: Record,
        expected_version: Option<i64>,
    ) -> Result<Record> {
        let (principal, locale) = (caller.principal, caller.locale);
        let current = self.current(principal, entity, id, locale).await?;
        if !principal.may(&entity.qualified, Action::Update) {
            return Err(forbidden(locale, "update", &entity.qualified));
        }
        let merged = self.merge_patch(caller, entity, &current, patch)?;
        let now = Utc::now();
        let state = current.get("state").and_then(Value::as_str);
        let merged = self
            .prepare_existing(caller, entity, &current, merged, state, now)
            .await?;
        let access = principal.access(&entity.qualified, Action::Update);
        let mut tx = self.store.begin().await?;
        let expected = store::Expected {
            version: expected_version,
            ..Default::default()
        };
        match tx
            .update_record(&access, entity, id, expected, &merged, now)
            .await
        {
            Ok(_) => {}
            Err(store::Error::NotFound) => {
                return Err(forbidden(locale, "update", &entity.qualified));
            }
            Err(store::Error::Conflict { expected, actual }) => {
                return Err(conflict(locale, expected, actual));
            }
            Err(other) => return Err(other.into()),
        }
        let after = tx
            .get_records(
                &store::Access {
                    level: store::Access::ALL_LEVELS,
                    ..access
                },
                entity,
                &[id],
            )
            .await?
            .pop()
            .ok_or_else(|| not_found(locale, id))?;
        let mut log = events::ChangeLog::new(caller, now);
        log.push(entity, events::Change::updated(&current, &after));
        let published = log.write(&tx).await?;
        tx.commit().await?;
        self.publish(published);
        Ok(events::visible(
            entity,
            principal.level(&entity.qualified),
            after,
        ))
    }

    /// Deletes one record. A record that other records still refer to is kept, and the answer
    /// names who refers to it (CONFLICT): references never dangle.
    pub async fn delete(&self, caller: &Caller<'_>, entity: &EntityDef, id: Uuid) -> Result<()> {
        let (principal, locale) = (caller.principal, caller.locale);
        let current = self.current(principal, entity, id, locale).await?;
        let tenant_wide = tenant_wide(principal);
        let mut referrers = Vec::new();
        for other in caller.catalog.entities() {
            for field in &other.fields {
                let crate::model::FieldKind::Ref { target } = &field.kind else {
                    continue;
                };
                if target != &entity.qualified {
                    continue;
                }
                let filter = Filter::Field {
                    field: field.name.clone(),
                    op: store::Op::Eq(Value::String(id.to_string())),
                };
                let n = self
                    .store
                    .count_records(&tenant_wide, other, Some(&filter))
                    .await?;
                if n > 0 {
                    referrers.push(format!("{}.{} ({n})", other.qualified, field.name));
                }
            }
        }
        if !referrers.is_empty() {
            let list = referrers.join(", ");
            return Err(Error::Conflict(locale.pick(
                format!("记录 {id} 仍被引用:{list}。请先修改或删除这些记录。"),
                format!("The record {id} is still referred to by {list}. Hint: change or delete those records first."),
            )));
        }
        let access = principal.access(&entity.qualified, Action::Delete);
        let mut tx = self.store.begin().await?;
        if !tx.delete_record(&access, entity, id).await? {
            return Err(forbidden(locale, "delete", &entity.qualified));
        }
        let mut log = events::ChangeLog::new(caller, Utc::now());
        log.push(entity, events::Change::deleted(&current));
        let published = log.write(&tx).await?;
        tx.commit().await?;
        self.publish(published);
        Ok(())
    }
}

/// Runs a batch hook on the blocking pool, `HOOK_BATCH` records per call, and joins the answers
/// in record order.
async fn run_batch_hook<T: Send + 'static>(
    records: &[Record],
    call: impl Fn(&[String]) -> Result<Vec<T>, plugin_host::Error> + Send + 'static,
) -> Result<Vec<T>> {
    let inputs: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).expect("a JSON map always serializes"))
        .collect();
    let answers = tokio::task::spawn_blocking(move || {
        let mut answers = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(HOOK_BATCH) {
            answers.extend(call(chunk)?);
        }
        Ok::<_, plugin_host::Error>(answers)
    })
    .await
    .map_err(|error| Error::Internal(error.to_string()))??;
    Ok(answers)
}

fn store_system_field(key: &str) -> bool {
    crate::model::RESERVED.contains(&key)
}

/// JSON merge patch semantics: `null` means "no value", so it is dropped before validation.
fn without_nulls(record: Record) -> Record {
    record
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| match value {
            Value::Array(items) => (
                key,
                Value::Array(
                    items
                        .into_iter()
                        .map(|item| match item {
                            Value::Object(map) => Value::Object(
                                map.into_iter()
                                    .filter(|(_, v)| !v.is_null())
                                    .collect::<Map<_, _>>(),
                            ),
                            other => other,
                        })
                        .collect(),
                ),
            ),
            other => (key, other),
        })
        .collect()
}

/// Every record of the caller's tenant, every field: for the kernel's own checks (references,
/// referrers, effects), never for what a caller reads.
fn tenant_wide(principal: &Principal) -> store::Access {
    store::Access {
        tenant_id: principal.tenant_id,
        user_id: principal.user_id,
        org_unit_id: principal.org_unit_id,
        rows: store::Rows::All,
        level: store::Access::ALL_LEVELS,
    }
}

/// A write of a field above the caller's read level.
fn hidden_field(locale: Locale, key: &str) -> Error {
    Error::Forbidden(locale.pick(
        format!("无权填写字段 {key}。"),
        format!("You may not write the field {key}."),
    ))
}

fn conflict(locale: Locale, expected: i64, actual: i64) -> Error {
    Error::Conflict(locale.pick(
        format!("记录已被他人修改(当前版本 {actual},期望版本 {expected})。请重新读取后再试。"),
        format!("The record was changed by someone else (version {actual}, expected {expected}). Hint: read it again and retry."),
    ))
}

fn forbidden(locale: Locale, action: &str, entity: &str) -> Error {
    Error::Forbidden(locale.pick(
        format!("无权对 {entity} 执行 {action} 操作。"),
        format!("You may not {action} {entity}."),
    ))
}

fn not_found(locale: Locale, id: Uuid) -> Error {
    Error::NotFound(locale.pick(format!("找不到记录 {id}。"), format!("No record {id}.")))
}
