//! Tenants and their module subsets: enabling, disabling, users, tokens, and the per-tenant catalog
//! of enabled entities that the API is built from.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use rand::RngCore;
use uuid::Uuid;

use super::{Error, InstalledPlugin, Kernel, Result, token_hash};
use crate::model::EntityDef;
use crate::permissions::ADMIN_ROLE;
use crate::store::{GrantRow, TenantRow, UserRow};

/// What one tenant has enabled: the plugins, their entities, and a key naming the set.
#[derive(Debug)]
pub struct TenantCatalog {
    pub tenant: TenantRow,
    pub plugins: Vec<Arc<InstalledPlugin>>,
    entities: HashMap<String, Arc<EntityDef>>,
    /// `crm@0.1.0+org@0.1.0`: tenants with the same key share one API schema.
    pub key: String,
}

impl TenantCatalog {
    /// The title of a role declared by an enabled plugin, in `locale`.
    pub fn role_title(&self, role: &str, locale: crate::model::Locale) -> Option<String> {
        self.plugins
            .iter()
            .flat_map(|p| p.def.roles.iter())
            .find(|r| r.id == role)
            .map(|r| locale.pick(r.title.clone(), r.title_en.clone()))
    }

    /// An enabled entity by qualified name (`crm.customer`).
    pub fn entity(&self, qualified: &str) -> Option<Arc<EntityDef>> {
        self.entities.get(qualified).cloned()
    }

    pub fn entities(&self) -> impl Iterator<Item = &Arc<EntityDef>> {
        self.plugins.iter().flat_map(|p| p.def.entities.iter())
    }

    pub fn plugin_of(&self, entity: &EntityDef) -> Option<&Arc<InstalledPlugin>> {
        self.plugins.iter().find(|p| p.def.id == entity.plugin)
    }
}

fn refused(zh: String, en: String) -> Error {
    Error::BadRequest(format!("{zh} / {en}"))
}

impl Kernel {
    /// The catalog of a tenant, rebuilt when its enabled set changed (here or in another process).
    pub async fn catalog(&self, tenant_id: i64) -> Result<Arc<TenantCatalog>> {
        if let Some(catalog) = self.catalogs.read().expect("catalog lock").get(&tenant_id) {
            return Ok(catalog.clone());
        }
        let tenant = self
            .store
            .tenants()
            .await?
            .into_iter()
            .find(|t| t.id == tenant_id)
            .ok_or_else(|| Error::NotFound(format!("tenant {tenant_id} does not exist")))?;
        let enabled = self.store.enabled_plugins(tenant_id).await?;
        if enabled.iter().any(|id| self.plugin(id).is_none()) {
            self.sync_plugins().await?;
        }
        let plugins: Vec<Arc<InstalledPlugin>> =
            enabled.iter().filter_map(|id| self.plugin(id)).collect();
        let entities = plugins
            .iter()
            .flat_map(|p| p.def.entities.iter())
            .map(|e| (e.qualified.clone(), e.clone()))
            .collect();
        let key = plugins
            .iter()
            .map(|p| format!("{}@{}", p.def.id, p.component.sha256()))
            .collect::<Vec<_>>()
            .join("+");
        let catalog = Arc::new(TenantCatalog {
            tenant,
            plugins,
            entities,
            key,
        });
        self.catalogs
            .write()
            .expect("catalog lock")
            .insert(tenant_id, catalog.clone());
        Ok(catalog)
    }

    /// Drops cached catalogs of tenants whose enabled set changed, and loads plugins installed by
    /// other processes. Every node runs this on a timer, so a change made by the CLI or another
    /// node shows within one interval.
    pub async fn refresh(&self) -> Result<()> {
        let tenants = self.store.tenants().await?;
        let stale: Vec<i64> = {
            let catalogs = self.catalogs.read().expect("catalog lock");
            tenants
                .iter()
                .filter(|t| {
                    catalogs
                        .get(&t.id)
                        .is_some_and(|c| c.tenant.schema_version != t.schema_version)
                })
                .map(|t| t.id)
                .collect()
        };
        let installed_changed = {
            let rows = self.store.plugins().await?;
            rows.iter().any(|row| {
                self.plugin(&row.id)
                    .is_none_or(|p| p.component.sha256() != row.sha256)
            })
        };
        if installed_changed {
            self.sync_plugins().await?;
            self.catalogs.write().expect("catalog lock").clear();
        } else if !stale.is_empty() {
            let mut catalogs = self.catalogs.write().expect("catalog lock");
            for id in stale {
                catalogs.remove(&id);
            }
        }
        Ok(())
    }

    pub async fn tenant(&self, slug: &str) -> Result<TenantRow> {
        self.store.tenant_by_slug(slug).await?.ok_or_else(|| {
            refused(
                format!("租户 {slug} 不存在"),
                format!("The tenant {slug} does not exist."),
            )
        })
    }

    /// Creates a tenant with the built-in `admin` role and enables `plugins` in order of their
    /// requirements.
    pub async fn create_tenant(
        &self,
        slug: &str,
        name: &str,
        plugins: &[String],
    ) -> Result<TenantRow> {
        let valid = !slug.is_empty()
            && slug.len() <= 40
            && slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && slug.starts_with(|c: char| c.is_ascii_lowercase());
        if !valid {
            return Err(refused(
                format!("租户标识 {slug} 无效:只能使用小写字母、数字和连字符,且以字母开头"),
                format!(
                    "Invalid tenant slug {slug}. Hint: use lowercase letters, digits and '-', starting with a letter."
                ),
            ));
        }
        let tenant = self.store.create_tenant(slug, name).await?;
        self.store
            .upsert_role(
                tenant.id,
                ADMIN_ROLE,
                "系统管理员",
                "Administrator",
                "kernel",
            )
            .await?;
        for plugin in self.install_order(plugins)? {
            self.enable_plugin(slug, &plugin).await?;
        }
        self.tenant(slug).await
    }

    /// `requested` plus nothing else, sorted so every plugin comes after what it requires.
    fn install_order(&self, requested: &[String]) -> Result<Vec<String>> {
        let mut ordered: Vec<String> = Vec::new();
        let mut pending: Vec<String> = requested.to_vec();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|id| {
                let requires = self
                    .plugin(id)
                    .map(|p| p.def.requires.clone())
                    .unwrap_or_default();
                let ready = requires
                    .iter()
                    .all(|r| ordered.contains(r) || !requested.contains(r));
                if ready {
                    ordered.push(id.clone());
                }
                !ready
            });
            if pending.len() == before {
                ordered.append(&mut pending);
            }
        }
        Ok(ordered)
    }

    /// Enables a plugin for a tenant: checks its requirements and references, adds its roles and
    /// default grants. Other tenants are untouched; records from an earlier enablement reappear.
    pub async fn enable_plugin(&self, slug: &str, plugin_id: &str) -> Result<()> {
        let tenant = self.tenant(slug).await?;
        let plugin = self.plugin(plugin_id).ok_or_else(|| {
            refused(
                format!("插件 {plugin_id} 未安装"),
                format!(
                    "The plugin {plugin_id} is not installed. Hint: jingxi plugin install FILE.wasm"
                ),
            )
        })?;
        let enabled: BTreeSet<String> = self
            .store
            .enabled_plugins(tenant.id)
            .await?
            .into_iter()
            .collect();
        let missing: Vec<&String> = plugin
            .def
            .requires
            .iter()
            .filter(|r| !enabled.contains(*r))
            .collect();
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(refused(
                format!("插件 {plugin_id} 需要先启用:{list}"),
                format!(
                    "The plugin {plugin_id} requires {list}, which the tenant {slug} has not enabled. Hint: enable {list} first."
                ),
            ));
        }
        for (field, target) in plugin.def.foreign_refs() {
            let target_plugin = target.split('.').next().unwrap_or_default().to_string();
            if !enabled.contains(&target_plugin) {
                return Err(refused(
                    format!("字段 {field} 引用了 {target},但租户未启用插件 {target_plugin}"),
                    format!(
                        "The field {field} refers to {target}, but the tenant {slug} has not enabled the plugin {target_plugin}."
                    ),
                ));
            }
            let target_exists = self
                .plugin(&target_plugin)
                .is_some_and(|p| p.def.entities.iter().any(|e| e.qualified == target));
            if !target_exists {
                return Err(refused(
                    format!("字段 {field} 引用的实体 {target} 不存在"),
                    format!(
                        "The field {field} refers to {target}, which the plugin {target_plugin} does not declare."
                    ),
                ));
            }
        }
        for entity in &plugin.def.entities {
            self.store.ensure_tables(entity).await?;
        }
        for role in &plugin.def.roles {
            self.store
                .upsert_role(tenant.id, &role.id, &role.title, &role.title_en, plugin_id)
                .await?;
        }
        let grants: Vec<GrantRow> = plugin
            .def
            .grants
            .iter()
            .flat_map(|g| {
                g.actions.iter().map(move |action| GrantRow {
                    role: g.role.clone(),
                    entity: g.entity.clone(),
                    action: action.clone(),
                    scope: g.scope.clone(),
                })
            })
            .collect();
        self.store
            .replace_grants(tenant.id, plugin_id, &grants)
            .await?;
        self.store
            .set_plugin_enabled(tenant.id, plugin_id, true)
            .await?;
        self.forget_tenant(tenant.id);
        Ok(())
    }

    /// Disables a plugin for a tenant. Its records stay in place and return when it is enabled again.
    pub async fn disable_plugin(&self, slug: &str, plugin_id: &str) -> Result<()> {
        let tenant = self.tenant(slug).await?;
        let enabled = self.store.enabled_plugins(tenant.id).await?;
        if !enabled.iter().any(|id| id == plugin_id) {
            return Err(refused(
                format!("租户 {slug} 未启用插件 {plugin_id}"),
                format!("The tenant {slug} has not enabled {plugin_id}."),
            ));
        }
        let dependants: Vec<String> = enabled
            .iter()
            .filter(|id| {
                self.plugin(id)
                    .is_some_and(|p| p.def.requires.iter().any(|r| r == plugin_id))
            })
            .cloned()
            .collect();
        if !dependants.is_empty() {
            let list = dependants.join(", ");
            return Err(refused(
                format!("插件 {list} 依赖 {plugin_id},请先停用它们"),
                format!("{list} require(s) {plugin_id}. Hint: disable {list} first."),
            ));
        }
        self.store
            .set_plugin_enabled(tenant.id, plugin_id, false)
            .await?;
        self.forget_tenant(tenant.id);
        Ok(())
    }

    fn forget_tenant(&self, tenant_id: i64) {
        self.catalogs
            .write()
            .expect("catalog lock")
            .remove(&tenant_id);
        self.principals
            .write()
            .expect("principal cache lock")
            .clear();
    }

    /// Creates a user with roles; a password, if given, is stored as an argon2id hash.
    pub async fn create_user(
        &self,
        slug: &str,
        email: &str,
        name: &str,
        password: Option<&str>,
        roles: &[String],
        org_unit: Option<Uuid>,
    ) -> Result<UserRow> {
        let tenant = self.tenant(slug).await?;
        if !email.contains('@') || email.len() > 200 {
            return Err(refused(
                format!("邮箱 {email} 无效"),
                format!("Invalid email address {email}."),
            ));
        }
        for role in roles {
            if !self.store.role_exists(tenant.id, role).await? {
                return Err(refused(
                    format!("角色 {role} 不存在"),
                    format!(
                        "The role {role} does not exist in {slug}. Hint: enable the plugin that declares it."
                    ),
                ));
            }
        }
        let hash = match password {
            Some(password) => Some(hash_password(password)?),
            None => None,
        };
        let user = self
            .store
            .create_user(tenant.id, email, name, hash.as_deref(), org_unit)
            .await?;
        for role in roles {
            self.store.assign_role(tenant.id, user.id, role).await?;
        }
        Ok(user)
    }

    /// Issues a new API token for a user and returns it; only its hash is kept. It expires after
    /// `ttl_days` (0: never), by default after `auth.api_token_ttl_days`.
    pub async fn create_token(
        &self,
        slug: &str,
        email: &str,
        name: &str,
        ttl_days: Option<u32>,
    ) -> Result<String> {
        let tenant = self.tenant(slug).await?;
        let user = self
            .store
            .user_by_email(tenant.id, email)
            .await?
            .ok_or_else(|| {
                refused(
                    format!("用户 {email} 不存在"),
                    format!("No user {email} in the tenant {slug}."),
                )
            })?;
        let expires_at = self.api_token_expiry(ttl_days);
        self.issue_token(tenant.id, user.id, name, expires_at).await
    }

    async fn issue_token(
        &self,
        tenant_id: i64,
        user_id: Uuid,
        name: &str,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<String> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = format!("jx_{}", hex::encode(bytes));
        self.store
            .create_token(tenant_id, user_id, name, &token_hash(&token), expires_at)
            .await?;
        Ok(token)
    }

    /// Password login: a new token for the user (valid `auth.login_token_ttl_hours`), or `None`
    /// when the tenant, user or password is wrong (the caller cannot tell which). Without the
    /// throttling of [`Kernel::login_from`]: for the CLI and tests.
    pub async fn login(&self, slug: &str, email: &str, password: &str) -> Result<Option<String>> {
        let Some(tenant) = self.store.tenant_by_slug(slug).await? else {
            return Ok(None);
        };
        let user = self.store.user_by_email(tenant.id, email).await?;
        let Some(user) = user.filter(|u| u.active) else {
            return Ok(None);
        };
        let Some(hash) = user.password_hash.clone() else {
            return Ok(None);
        };
        let password = password.to_string();
        let verified = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .map_err(|error| Error::Internal(error.to_string()))?;
        if !verified {
            return Ok(None);
        }
        let expires_at = Some(self.login_token_expiry());
        Ok(Some(
            self.issue_token(tenant.id, user.id, "login", expires_at)
                .await?,
        ))
    }
}

fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < 8 {
        return Err(refused(
            "密码至少需要 8 个字符".into(),
            "The password needs at least 8 characters.".into(),
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| Error::Internal(format!("cannot hash password: {error}")))
}
