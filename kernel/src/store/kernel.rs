//! The kernel's own tables: tenants, org units, users, roles, grants, tokens, plugins.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, OnConflict, Order as SqlOrder, Query};
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use uuid::Uuid;

use super::{Error, Result, Store};

fn t(name: &str) -> Alias {
    Alias::new(name)
}

#[derive(Debug, Clone)]
pub struct TenantRow {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub schema_version: i64,
}

#[derive(Debug, Clone)]
pub struct OrgUnitRow {
    pub id: Uuid,
    pub name: String,
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: Uuid,
    pub tenant_id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub org_unit_id: Option<Uuid>,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct GrantRow {
    pub role: String,
    pub entity: String,
    pub action: String,
    pub scope: String,
}

#[derive(Debug, Clone)]
pub struct PluginRow {
    pub id: String,
    pub version: String,
    pub sha256: String,
    pub manifest: String,
}

/// Everything needed to act for the holder of a token.
#[derive(Debug, Clone)]
pub struct PrincipalRow {
    pub tenant: TenantRow,
    pub user: UserRow,
    pub org_unit_path: Option<String>,
    pub roles: Vec<String>,
}

fn tenant(row: &QueryResult) -> Result<TenantRow> {
    Ok(TenantRow {
        id: row.try_get("", "id")?,
        slug: row.try_get("", "slug")?,
        name: row.try_get("", "name")?,
        schema_version: row.try_get("", "schema_version")?,
    })
}

fn user(row: &QueryResult) -> Result<UserRow> {
    Ok(UserRow {
        id: row.try_get("", "id")?,
        tenant_id: row.try_get("", "tenant_id")?,
        email: row.try_get("", "email")?,
        name: row.try_get("", "name")?,
        password_hash: row.try_get("", "password_hash")?,
        org_unit_id: row.try_get("", "org_unit_id")?,
        active: row.try_get("", "active")?,
    })
}

const USER_COLUMNS: [&str; 7] = [
    "id",
    "tenant_id",
    "email",
    "name",
    "password_hash",
    "org_unit_id",
    "active",
];

impl Store {
    pub async fn create_tenant(&self, slug: &str, name: &str) -> Result<TenantRow> {
        if self.tenant_by_slug(slug).await?.is_some() {
            return Err(Error::Refused(format!("tenant {slug} already exists")));
        }
        let _guard = self.write_guard().await;
        let insert = Query::insert()
            .into_table(t("tenant"))
            .columns([t("slug"), t("name"), t("schema_version"), t("created_at")])
            .values_panic([slug.into(), name.into(), 0i64.into(), Utc::now().into()])
            .to_owned();
        self.db.execute(self.backend.build(&insert)).await?;
        drop(_guard);
        self.tenant_by_slug(slug)
            .await?
            .ok_or_else(|| Error::Refused(format!("tenant {slug} vanished")))
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantRow>> {
        let select = Query::select()
            .columns([t("id"), t("slug"), t("name"), t("schema_version")])
            .from(t("tenant"))
            .and_where(Expr::col(t("slug")).eq(slug))
            .to_owned();
        self.db
            .query_one(self.backend.build(&select))
            .await?
            .map(|row| tenant(&row))
            .transpose()
    }

    pub async fn tenants(&self) -> Result<Vec<TenantRow>> {
        let select = Query::select()
            .columns([t("id"), t("slug"), t("name"), t("schema_version")])
            .from(t("tenant"))
            .order_by(t("id"), SqlOrder::Asc)
            .to_owned();
        self.db
            .query_all(self.backend.build(&select))
            .await?
            .iter()
            .map(tenant)
            .collect()
    }

    /// Plugin ids enabled for the tenant.
    pub async fn enabled_plugins(&self, tenant_id: i64) -> Result<Vec<String>> {
        let select = Query::select()
            .column(t("plugin_id"))
            .from(t("tenant_plugin"))
            .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
            .and_where(Expr::col(t("enabled")).eq(true))
            .order_by(t("plugin_id"), SqlOrder::Asc)
            .to_owned();
        let rows = self.db.query_all(self.backend.build(&select)).await?;
        rows.iter()
            .map(|row| Ok(row.try_get("", "plugin_id")?))
            .collect()
    }

    /// Enables or disables a plugin for a tenant and bumps the tenant's schema version, so every
    /// kernel node rebuilds that tenant's API. Records are never touched.
    pub async fn set_plugin_enabled(
        &self,
        tenant_id: i64,
        plugin_id: &str,
        enabled: bool,
    ) -> Result<()> {
        let _guard = self.write_guard().await;
        let tx = self.db.begin().await?;
        let upsert = Query::insert()
            .into_table(t("tenant_plugin"))
            .columns([
                t("tenant_id"),
                t("plugin_id"),
                t("enabled"),
                t("changed_at"),
            ])
            .values_panic([
                tenant_id.into(),
                plugin_id.into(),
                enabled.into(),
                Utc::now().into(),
            ])
            .on_conflict(
                OnConflict::columns([t("tenant_id"), t("plugin_id")])
                    .update_columns([t("enabled"), t("changed_at")])
                    .to_owned(),
            )
            .to_owned();
        tx.execute(self.backend.build(&upsert)).await?;
        let bump = Query::update()
            .table(t("tenant"))
            .value(t("schema_version"), Expr::col(t("schema_version")).add(1))
            .and_where(Expr::col(t("id")).eq(tenant_id))
            .to_owned();
        tx.execute(self.backend.build(&bump)).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_org_unit(
        &self,
        tenant_id: i64,
        name: &str,
        parent: Option<Uuid>,
    ) -> Result<OrgUnitRow> {
        let id = Uuid::now_v7();
        let parent_path = match parent {
            Some(parent) => {
                let select = Query::select()
                    .column(t("path"))
                    .from(t("org_unit"))
                    .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
                    .and_where(Expr::col(t("id")).eq(parent))
                    .to_owned();
                let row = self.db.query_one(self.backend.build(&select)).await?;
                let path: String = row
                    .ok_or_else(|| Error::Refused(format!("org unit {parent} does not exist")))?
                    .try_get("", "path")?;
                path
            }
            None => "/".to_string(),
        };
        let path = format!("{parent_path}{id}/");
        let _guard = self.write_guard().await;
        let insert = Query::insert()
            .into_table(t("org_unit"))
            .columns([
                t("tenant_id"),
                t("id"),
                t("parent_id"),
                t("name"),
                t("path"),
            ])
            .values_panic([
                tenant_id.into(),
                id.into(),
                parent.into(),
                name.into(),
                path.clone().into(),
            ])
            .to_owned();
        self.db.execute(self.backend.build(&insert)).await?;
        Ok(OrgUnitRow {
            id,
            name: name.to_string(),
            path,
        })
    }

    pub async fn org_units(&self, tenant_id: i64) -> Result<Vec<OrgUnitRow>> {
        let select = Query::select()
            .columns([t("id"), t("name"), t("path")])
            .from(t("org_unit"))
            .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
            .order_by(t("path"), SqlOrder::Asc)
            .to_owned();
        let rows = self.db.query_all(self.backend.build(&select)).await?;
        rows.iter()
            .map(|row| {
                Ok(OrgUnitRow {
                    id: row.try_get("", "id")?,
                    name: row.try_get("", "name")?,
                    path: row.try_get("", "path")?,
                })
            })
            .collect()
    }

    pub async fn create_user(
        &self,
        tenant_id: i64,
        email: &str,
        name: &str,
        password_hash: Option<&str>,
        org_unit_id: Option<Uuid>,
    ) -> Result<UserRow> {
        if self.user_by_email(tenant_id, email).await?.is_some() {
            return Err(Error::Refused(format!(
                "user {email} already exists in this tenant"
            )));
        }
        let id = Uuid::now_v7();
        let _guard = self.write_guard().await;
        let insert = Query::insert()
            .into_table(t("user"))
            .columns([
                t("tenant_id"),
                t("id"),
                t("email"),
                t("name"),
                t("password_hash"),
                t("org_unit_id"),
                t("active"),
                t("created_at"),
            ])
            .values_panic([
                tenant_id.into(),
                id.into(),
                email.into(),
                name.into(),
                password_hash.map(str::to_string).into(),
                org_unit_id.into(),
                true.into(),
                Utc::now().into(),
            ])
            .to_owned();
        self.db.execute(self.backend.build(&insert)).await?;
        Ok(UserRow {
            id,
            tenant_id,
            email: email.to_string(),
            name: name.to_string(),
            password_hash: password_hash.map(str::to_string),
            org_unit_id,
            active: true,
        })
    }

    pub async fn user_by_email(&self, tenant_id: i64, email: &str) -> Result<Option<UserRow>> {
        let select = Query::select()
            .columns(USER_COLUMNS.map(t))
            .from(t("user"))
            .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
            .and_where(Expr::col(t("email")).eq(email))
            .to_owned();
        self.db
            .query_one(self.backend.build(&select))
            .await?
            .map(|row| user(&row))
            .transpose()
    }

    /// Users of a tenant by id (for nested `owner` fields); unknown ids are skipped.
    pub async fn users_by_id(&self, tenant_id: i64, ids: &[Uuid]) -> Result<Vec<UserRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let select = Query::select()
            .columns(USER_COLUMNS.map(t))
            .from(t("user"))
            .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
            .and_where(Expr::col(t("id")).is_in(ids.iter().copied()))
            .to_owned();
        self.db
            .query_all(self.backend.build(&select))
            .await?
            .iter()
            .map(user)
            .collect()
    }

    /// Creates or renames a role; `source` is the plugin that declared it (or `kernel`).
    pub async fn upsert_role(
        &self,
        tenant_id: i64,
        id: &str,
        title: &str,
        title_en: &str,
        source: &str,
    ) -> Result<()> {
        let _guard = self.write_guard().await;
        let upsert = Query::insert()
            .into_table(t("role"))
            .columns([
                t("tenant_id"),
                t("id"),
                t("title"),
                t("title_en"),
                t("source"),
            ])
            .values_panic([
                tenant_id.into(),
                id.into(),
                title.into(),
                title_en.into(),
                source.into(),
            ])
            .on_conflict(
                OnConflict::columns([t("tenant_id"), t("id")])
                    .update_columns([t("title"), t("title_en")])
                    .to_owned(),
            )
            .to_owned();
        self.db.execute(self.backend.build(&upsert)).await?;
        Ok(())
    }

    pub async fn role_exists(&self, tenant_id: i64, role: &str) -> Result<bool> {
        let select = Query::select()
            .column(t("id"))
            .from(t("role"))
            .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
            .and_where(Expr::col(t("id")).eq(role))
            .to_owned();
        Ok(self
            .db
            .query_one(self.backend.build(&select))
            .await?
            .is_some())
    }

    pub async fn assign_role(&self, tenant_id: i64, user_id: Uuid, role: &str) -> Result<()> {
        let _guard = self.write_guard().await;
        let insert = Query::insert()
            .into_table(t("user_role"))
            .columns([t("tenant_id"), t("user_id"), t("role_id")])
            .values_panic([tenant_id.into(), user_id.into(), role.into()])
            .on_conflict(
                OnConflict::columns([t("tenant_id"), t("user_id"), t("role_id")])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        self.db.execute(self.backend.build(&insert)).await?;
        Ok(())
    }

    /// Replaces the grants that `source` (a plugin id) gave in this tenant.
    pub async fn replace_grants(
        &self,
        tenant_id: i64,
        source: &str,
        grants: &[GrantRow],
    ) -> Result<()> {
        let _guard = self.write_guard().await;
        let tx = self.db.begin().await?;
        let delete = Query::delete()
            .from_table(t("grant"))
            .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
            .and_where(Expr::col(t("source")).eq(source))
            .to_owned();
        tx.execute(self.backend.build(&delete)).await?;
        for chunk in grants.chunks(200) {
            let mut insert = Query::insert();
            insert.into_table(t("grant")).columns([
                t("tenant_id"),
                t("id"),
                t("role_id"),
                t("entity"),
                t("action"),
                t("scope"),
                t("source"),
            ]);
            for grant in chunk {
                insert.values_panic([
                    tenant_id.into(),
                    Uuid::now_v7().into(),
                    grant.role.clone().into(),
                    grant.entity.clone().into(),
                    grant.action.clone().into(),
                    grant.scope.clone().into(),
                    source.into(),
                ]);
            }
            tx.execute(self.backend.build(&insert)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Grants held by any of `roles` in the tenant.
    pub async fn grants_for_roles(
        &self,
        tenant_id: i64,
        roles: &[String],
    ) -> Result<Vec<GrantRow>> {
        if roles.is_empty() {
            return Ok(Vec::new());
        }
        let select = Query::select()
            .columns([t("role_id"), t("entity"), t("action"), t("scope")])
            .from(t("grant"))
            .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
            .and_where(Expr::col(t("role_id")).is_in(roles.iter().cloned()))
            .to_owned();
        let rows = self.db.query_all(self.backend.build(&select)).await?;
        rows.iter()
            .map(|row| {
                Ok(GrantRow {
                    role: row.try_get("", "role_id")?,
                    entity: row.try_get("", "entity")?,
                    action: row.try_get("", "action")?,
                    scope: row.try_get("", "scope")?,
                })
            })
            .collect()
    }

    /// Stores the hash of a new token; the token itself is never stored.
    pub async fn create_token(
        &self,
        tenant_id: i64,
        user_id: Uuid,
        name: &str,
        token_hash: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Uuid> {
        let id = Uuid::now_v7();
        let _guard = self.write_guard().await;
        let insert = Query::insert()
            .into_table(t("api_token"))
            .columns([
                t("id"),
                t("tenant_id"),
                t("user_id"),
                t("token_hash"),
                t("name"),
                t("created_at"),
                t("expires_at"),
            ])
            .values_panic([
                id.into(),
                tenant_id.into(),
                user_id.into(),
                token_hash.into(),
                name.into(),
                Utc::now().into(),
                expires_at.into(),
            ])
            .to_owned();
        self.db.execute(self.backend.build(&insert)).await?;
        Ok(id)
    }

    /// The value of a shared setting, created with `value` when it does not exist yet (the first
    /// of several racing nodes wins; every node then reads the same value).
    pub async fn ensure_setting(&self, key: &str, value: &str) -> Result<String> {
        {
            let _guard = self.write_guard().await;
            let insert = Query::insert()
                .into_table(t("kernel_setting"))
                .columns([t("key"), t("value")])
                .values_panic([key.into(), value.into()])
                .on_conflict(OnConflict::column(t("key")).do_nothing().to_owned())
                .to_owned();
            self.db.execute(self.backend.build(&insert)).await?;
        }
        let select = Query::select()
            .column(t("value"))
            .from(t("kernel_setting"))
            .and_where(Expr::col(t("key")).eq(key))
            .to_owned();
        let row = self
            .db
            .query_one(self.backend.build(&select))
            .await?
            .ok_or_else(|| Error::Refused(format!("setting {key} vanished")))?;
        Ok(row.try_get("", "value")?)
    }

    /// Marks live tokens revoked: those of a user, or the one with `token_hash`. Returns how many.
    pub async fn revoke_tokens(
        &self,
        tenant_id: Option<i64>,
        user_id: Option<Uuid>,
        token_hash: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        if user_id.is_none() && token_hash.is_none() {
            return Err(Error::Refused("name a user or a token to revoke".into()));
        }
        let _guard = self.write_guard().await;
        let mut update = Query::update();
        update
            .table(t("api_token"))
            .value(t("revoked_at"), now)
            .and_where(Expr::col(t("revoked_at")).is_null());
        if let Some(tenant_id) = tenant_id {
            update.and_where(Expr::col(t("tenant_id")).eq(tenant_id));
        }
        if let Some(user_id) = user_id {
            update.and_where(Expr::col(t("user_id")).eq(user_id));
        }
        if let Some(hash) = token_hash {
            update.and_where(Expr::col(t("token_hash")).eq(hash));
        }
        Ok(self
            .db
            .execute(self.backend.build(&update))
            .await?
            .rows_affected())
    }

    /// The tenant, user, roles and org unit behind a token hash, if the token is live.
    pub async fn principal_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PrincipalRow>> {
        let select = Query::select()
            .columns([
                t("tenant_id"),
                t("user_id"),
                t("expires_at"),
                t("revoked_at"),
            ])
            .from(t("api_token"))
            .and_where(Expr::col(t("token_hash")).eq(token_hash))
            .to_owned();
        let Some(row) = self.db.query_one(self.backend.build(&select)).await? else {
            return Ok(None);
        };
        let expires_at: Option<DateTime<Utc>> = row.try_get("", "expires_at")?;
        let revoked_at: Option<DateTime<Utc>> = row.try_get("", "revoked_at")?;
        if revoked_at.is_some() || expires_at.is_some_and(|at| at <= now) {
            return Ok(None);
        }
        let tenant_id: i64 = row.try_get("", "tenant_id")?;
        let user_id: Uuid = row.try_get("", "user_id")?;
        self.principal(tenant_id, user_id).await
    }

    /// The tenant, user, roles and org unit path of one active user.
    pub async fn principal(&self, tenant_id: i64, user_id: Uuid) -> Result<Option<PrincipalRow>> {
        let Some(user) = self
            .users_by_id(tenant_id, &[user_id])
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        if !user.active {
            return Ok(None);
        }
        let select = Query::select()
            .columns([t("id"), t("slug"), t("name"), t("schema_version")])
            .from(t("tenant"))
            .and_where(Expr::col(t("id")).eq(tenant_id))
            .to_owned();
        let Some(tenant_row) = self.db.query_one(self.backend.build(&select)).await? else {
            return Ok(None);
        };
        let select = Query::select()
            .column(t("role_id"))
            .from(t("user_role"))
            .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
            .and_where(Expr::col(t("user_id")).eq(user_id))
            .to_owned();
        let roles = self
            .db
            .query_all(self.backend.build(&select))
            .await?
            .iter()
            .map(|row| Ok(row.try_get("", "role_id")?))
            .collect::<Result<Vec<String>>>()?;
        let org_unit_path = match user.org_unit_id {
            Some(unit) => {
                let select = Query::select()
                    .column(t("path"))
                    .from(t("org_unit"))
                    .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
                    .and_where(Expr::col(t("id")).eq(unit))
                    .to_owned();
                match self.db.query_one(self.backend.build(&select)).await? {
                    Some(row) => Some(row.try_get::<String>("", "path")?),
                    None => None,
                }
            }
            None => None,
        };
        Ok(Some(PrincipalRow {
            tenant: tenant(&tenant_row)?,
            user,
            org_unit_path,
            roles,
        }))
    }

    /// Saves an installed plugin (wasm and manifest), replacing an older version of it.
    pub async fn save_plugin(&self, plugin: &PluginRow, wasm: &[u8]) -> Result<()> {
        let _guard = self.write_guard().await;
        let upsert = Query::insert()
            .into_table(t("plugin"))
            .columns([
                t("id"),
                t("version"),
                t("sha256"),
                t("manifest"),
                t("wasm"),
                t("installed_at"),
            ])
            .values_panic([
                plugin.id.clone().into(),
                plugin.version.clone().into(),
                plugin.sha256.clone().into(),
                plugin.manifest.clone().into(),
                wasm.to_vec().into(),
                Utc::now().into(),
            ])
            .on_conflict(
                OnConflict::column(t("id"))
                    .update_columns([
                        t("version"),
                        t("sha256"),
                        t("manifest"),
                        t("wasm"),
                        t("installed_at"),
                    ])
                    .to_owned(),
            )
            .to_owned();
        self.db.execute(self.backend.build(&upsert)).await?;
        Ok(())
    }

    pub async fn plugins(&self) -> Result<Vec<PluginRow>> {
        let select = Query::select()
            .columns([t("id"), t("version"), t("sha256"), t("manifest")])
            .from(t("plugin"))
            .order_by(t("id"), SqlOrder::Asc)
            .to_owned();
        let rows = self.db.query_all(self.backend.build(&select)).await?;
        rows.iter()
            .map(|row| {
                Ok(PluginRow {
                    id: row.try_get("", "id")?,
                    version: row.try_get("", "version")?,
                    sha256: row.try_get("", "sha256")?,
                    manifest: row.try_get("", "manifest")?,
                })
            })
            .collect()
    }

    pub async fn plugin_wasm(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let select = Query::select()
            .column(t("wasm"))
            .from(t("plugin"))
            .and_where(Expr::col(t("id")).eq(id))
            .to_owned();
        match self.db.query_one(self.backend.build(&select)).await? {
            Some(row) => Ok(Some(row.try_get("", "wasm")?)),
            None => Ok(None),
        }
    }
}
