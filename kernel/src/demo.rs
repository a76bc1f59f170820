//! The demo tenant: every plugin found in a folder, a small org chart, users with roles, and
//! realistic Chinese sample records from `demo.json`, some of them moved along their workflow.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;
use uuid::Uuid;

use crate::model::{EntityDef, Locale};
use crate::runtime::{Caller, Kernel};
use crate::store::Record;

const DEMO_TENANT: &str = "demo";
const DEMO_ADMIN: &str = "admin@demo.jingxi.dev";
/// Password of every demo user, for `/auth/login`.
pub const DEMO_PASSWORD: &str = "jingxi-demo";

/// Installs the plugins in `plugins_dir`, creates the demo tenant with sample data unless it
/// exists, and returns a fresh admin token.
pub async fn prepare(kernel: &Kernel, plugins_dir: &Path) -> anyhow::Result<String> {
    let mut files: Vec<_> = std::fs::read_dir(plugins_dir)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read {}: {e}. Hint: run `cargo xtask build` first",
                plugins_dir.display()
            )
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!(
            "no .wasm files in {}. Hint: run `cargo xtask build` first",
            plugins_dir.display()
        );
    }
    // Install in dependency order: a plugin whose requirements are not installed yet waits for a
    // later pass (compiling twice is avoided by the artifact cache).
    let mut pending: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    while !pending.is_empty() {
        let before = pending.len();
        let mut waiting = Vec::new();
        let mut last_error = None;
        for wasm in pending.drain(..) {
            match kernel.install_plugin(wasm.clone()).await {
                Ok(plugin) => {
                    tracing::info!(plugin = %plugin.def.id, version = %plugin.def.version, "installed")
                }
                Err(error @ crate::runtime::Error::RequirementsMissing(_)) => {
                    last_error = Some(error);
                    waiting.push(wasm);
                }
                Err(error) => return Err(error.into()),
            }
        }
        if let Some(error) = last_error
            && waiting.len() == before
        {
            return Err(error.into());
        }
        pending = waiting;
    }
    if kernel.store.tenant_by_slug(DEMO_TENANT).await?.is_none() {
        let plugins: Vec<String> = kernel
            .installed()
            .iter()
            .map(|p| p.def.id.clone())
            .collect();
        let tenant = kernel
            .create_tenant(DEMO_TENANT, "精细示范有限公司", &plugins)
            .await?;
        seed(kernel, tenant.id).await?;
    }
    Ok(kernel
        .create_token(DEMO_TENANT, DEMO_ADMIN, "demo", None)
        .await?)
}

async fn seed(kernel: &Kernel, tenant_id: i64) -> anyhow::Result<()> {
    let head = kernel
        .store
        .create_org_unit(tenant_id, "总部", None)
        .await?;
    let marketing = kernel
        .store
        .create_org_unit(tenant_id, "营销中心", Some(head.id))
        .await?;
    let sales = kernel
        .store
        .create_org_unit(tenant_id, "销售部", Some(marketing.id))
        .await?;
    let service = kernel
        .store
        .create_org_unit(tenant_id, "客服部", Some(head.id))
        .await?;
    let units = [head.id, marketing.id, sales.id, service.id];
    let known_roles: Vec<String> = kernel
        .installed()
        .iter()
        .flat_map(|p| p.def.roles.iter().map(|r| r.id.clone()))
        .collect();
    for (email, name, role, unit) in users_list() {
        let roles: Vec<String> = [role]
            .into_iter()
            .map(str::to_string)
            .filter(|r| r == "admin" || known_roles.contains(r))
            .collect();
        kernel
            .create_user(
                DEMO_TENANT,
                email,
                name,
                Some(DEMO_PASSWORD),
                &roles,
                Some(units[unit]),
            )
            .await?;
    }
    let admin = kernel
        .store
        .user_by_email(tenant_id, DEMO_ADMIN)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo admin missing"))?;
    let row = kernel
        .store
        .principal(tenant_id, admin.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo admin missing"))?;
    let principal = crate::permissions::Principal::new(row, &[]);
    let catalog = kernel.catalog(tenant_id).await?;
    let admin_caller = Caller {
        principal: &principal,
        catalog: &catalog,
        locale: Locale::ZhCn,
    };
    let items: Vec<Value> = serde_json::from_str(include_str!("demo.json"))?;
    let mut ids: HashMap<String, String> = HashMap::new();
    for (email, ..) in users_list() {
        if let Some(user) = kernel.store.user_by_email(tenant_id, email).await? {
            ids.insert(format!("user:{email}"), user.id.to_string());
        }
    }
    for item in items {
        let entity_name = item["entity"].as_str().unwrap_or_default();
        let Some(entity) = catalog.entity(entity_name) else {
            continue;
        };
        let record = resolve(item["record"].clone(), &ids);
        let Value::Object(record) = record else {
            continue;
        };
        let actor = match item["as"].as_str() {
            Some(email) => {
                let user = kernel
                    .store
                    .user_by_email(tenant_id, email)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no demo user {email}"))?;
                let row = kernel
                    .store
                    .principal(tenant_id, user.id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no demo user {email}"))?;
                let grants = kernel.store.grants_for_roles(tenant_id, &row.roles).await?;
                crate::permissions::Principal::new(row, &grants)
            }
            None => principal.clone(),
        };
        let created = kernel
            .create(
                &Caller {
                    principal: &actor,
                    catalog: &catalog,
                    locale: Locale::ZhCn,
                },
                &entity,
                vec![record],
                false,
            )
            .await
            .map_err(|e| anyhow::anyhow!("demo record for {entity_name} refused: {e}"))?;
        let id = created.first().and_then(|r| r["id"].as_str());
        if let (Some(key), Some(id)) = (item["key"].as_str(), id) {
            ids.insert(key.to_string(), id.to_string());
        }
        if let Some(steps) = item["steps"].as_array() {
            let id = id
                .and_then(|id| Uuid::parse_str(id).ok())
                .ok_or_else(|| anyhow::anyhow!("demo record for {entity_name} has no id"))?;
            take_steps(kernel, &admin_caller, &entity, id, steps, &ids).await?;
        }
    }
    Ok(())
}

/// Moves a demo record along its workflow as the admin, who may take every step. Each step names
/// a `transition` and may give the fields it sets (`input`, with `"@key"` references) and a
/// `comment`; the plugin's effects fill in the rest (for complaints, the times accepted and
/// resolved).
async fn take_steps(
    kernel: &Kernel,
    admin: &Caller<'_>,
    entity: &EntityDef,
    id: Uuid,
    steps: &[Value],
    ids: &HashMap<String, String>,
) -> anyhow::Result<()> {
    let entity_name = &entity.qualified;
    for step in steps {
        let transition = step["transition"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("a demo step of {entity_name} names no transition"))?;
        let patch: Record = match resolve(step["input"].clone(), ids) {
            Value::Object(fields) => fields,
            Value::Null => Record::new(),
            other => anyhow::bail!("demo step {transition} of {entity_name} has input {other}"),
        };
        let comment = step["comment"].as_str().unwrap_or_default();
        kernel
            .transition(admin, entity, id, transition, comment, patch, None)
            .await
            .map_err(|e| anyhow::anyhow!("demo step {transition} of {entity_name} refused: {e}"))?;
    }
    Ok(())
}

/// Demo users: email, name, role, index of the org unit (总部, 营销中心, 销售部, 客服部).
fn users_list() -> [(&'static str, &'static str, &'static str, usize); 6] {
    [
        (DEMO_ADMIN, "系统管理员", "admin", 0),
        ("zhenghao@demo.jingxi.dev", "郑浩", "sales_rep", 2),
        ("heli@demo.jingxi.dev", "何丽", "sales_rep", 2),
        ("zhouqiang@demo.jingxi.dev", "周强", "cs_mgr", 3),
        ("wujing@demo.jingxi.dev", "吴静", "complaint_spec", 3),
        ("lintao@demo.jingxi.dev", "林涛", "marketing_director", 1),
    ]
}

/// Replaces `"@key"` strings with the id of the record created under that key.
fn resolve(value: Value, ids: &HashMap<String, String>) -> Value {
    match value {
        Value::String(text) => match text.strip_prefix('@').and_then(|key| ids.get(key)) {
            Some(id) => Value::String(id.clone()),
            None => Value::String(text),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(|v| resolve(v, ids)).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, resolve(v, ids))).collect())
        }
        other => other,
    }
}
