//! Checks of an assembled plugin manifest beyond what its JSON Schema can state.

use std::collections::BTreeSet;

use serde_json::Value;

use super::dialect::{en_title, is_identifier, keys, keys_of_enum};

/// Problems of an assembled manifest: what `schemas/manifest.schema.json` (`schema`) requires,
/// plus the cross-references it cannot state (grants name declared roles and entities, ids are
/// unique, KPIs need the `kpi` hook), one sentence each.
///
/// ```
/// use jingxi_sdk::{Manifest, json, testing::manifest_problems};
///
/// let manifest = Manifest::new(r#"{"id": "hello", "title": "你好", "version": "0.1.0",
///     "roles": [{"id": "clerk", "title": "文员", "i18n": {"en": {"title": "Clerk"}}}],
///     "grants": [{"role": "boss", "entity": "greeting", "actions": ["read"], "scope": "all"}]}"#)
///     .entity("greeting", r#"{"type": "object", "title": "问候", "properties": {}}"#);
/// let schema = json!({"required": ["id"], "properties": {
///     "contract": {}, "id": {}, "title": {}, "version": {}, "roles": {}, "grants": {}, "entities": {},
/// }});
/// assert_eq!(
///     manifest_problems(&manifest.to_value(), &schema),
///     ["grant names undeclared role boss"]
/// );
/// ```
pub fn manifest_problems(manifest: &Value, schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(map) = manifest.as_object() else {
        return vec!["manifest is not an object".into()];
    };
    let allowed = keys(&schema["properties"]);
    for key in map.keys().filter(|key| !allowed.contains(*key)) {
        problems.push(format!("unknown manifest key {key}"));
    }
    for key in schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !map.contains_key(key) {
            problems.push(format!("missing manifest key {key}"));
        }
    }
    let id = manifest["id"].as_str().unwrap_or_default();
    if !is_identifier(id) {
        problems.push(format!("bad plugin id {id:?}"));
    }
    let version = manifest["version"].as_str().unwrap_or_default();
    if version.split('.').count() != 3 || !version.split('.').all(|part| !part.is_empty()) {
        problems.push(format!("bad version {version:?}"));
    }
    if manifest["title"]
        .as_str()
        .is_none_or(|title| title.trim().is_empty())
    {
        problems.push("missing title".into());
    }
    let hook_names = keys_of_enum(&schema["properties"]["hooks"]["items"]["enum"]);
    for hook in manifest["hooks"].as_array().into_iter().flatten() {
        if !hook.as_str().is_some_and(|hook| hook_names.contains(hook)) {
            problems.push(format!("unknown hook {hook}"));
        }
    }
    for required in manifest["requires"].as_array().into_iter().flatten() {
        if !required.as_str().is_some_and(is_identifier) {
            problems.push(format!("bad required plugin {required}"));
        }
    }

    let mut role_ids = BTreeSet::new();
    for role in manifest["roles"].as_array().into_iter().flatten() {
        let role_id = role["id"].as_str().unwrap_or_default();
        new_identifier("role id", role_id, &mut role_ids, &mut problems);
        if role["title"]
            .as_str()
            .is_none_or(|title| title.trim().is_empty())
            || en_title(role).is_none()
        {
            problems.push(format!(
                "role {role_id} lacks a Chinese or an English title"
            ));
        }
        if !keys(role).is_subset(&["id", "title", "i18n"].map(String::from).into()) {
            problems.push(format!("role {role_id} has unknown keys"));
        }
    }

    let mut entity_names = BTreeSet::new();
    for entity in manifest["entities"].as_array().into_iter().flatten() {
        let name = entity["name"].as_str().unwrap_or_default();
        new_identifier("entity name", name, &mut entity_names, &mut problems);
        if keys(entity) != ["name", "schema"].map(String::from).into() {
            problems.push(format!("entity {name} must hold exactly name and schema"));
        }
    }

    let actions = ["read", "create", "update", "delete"];
    let scopes = ["own", "org_unit", "all"];
    for grant in manifest["grants"].as_array().into_iter().flatten() {
        let role = grant["role"].as_str().unwrap_or_default();
        let entity = grant["entity"].as_str().unwrap_or_default();
        let local = entity.strip_prefix(&format!("{id}.")).unwrap_or(entity);
        if keys(grant)
            != ["role", "entity", "actions", "scope"]
                .map(String::from)
                .into()
        {
            problems.push(format!(
                "grant {grant} must hold exactly role, entity, actions and scope"
            ));
        }
        if !role_ids.contains(role) {
            problems.push(format!("grant names undeclared role {role}"));
        }
        if !entity_names.contains(local) {
            problems.push(format!("grant names unknown entity {entity}"));
        }
        let granted: Vec<&str> = grant["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let unique: BTreeSet<&str> = granted.iter().copied().collect();
        if granted.is_empty()
            || unique.len() != granted.len()
            || !granted
                .iter()
                .all(|action| actions.contains(action) || is_level_read(action))
        {
            problems.push(format!("grant {grant} has bad actions"));
        }
        if !grant["scope"]
            .as_str()
            .is_some_and(|scope| scopes.contains(&scope))
        {
            problems.push(format!("grant {grant} has a bad scope"));
        }
    }
    kpi_problems(manifest, schema, &mut problems);
    problems
}

/// Problems of the manifest's `kpis`: ids, titles in both languages, units and directions, and
/// the `kpi` hook that computes them.
fn kpi_problems(manifest: &Value, schema: &Value, problems: &mut Vec<String>) {
    let kpi_schema = &schema["$defs"]["kpi"]["properties"];
    let allowed = keys(kpi_schema);
    let units = keys_of_enum(&kpi_schema["unit"]["enum"]);
    let directions = keys_of_enum(&kpi_schema["better"]["enum"]);
    let mut kpi_ids = BTreeSet::new();
    for kpi in manifest["kpis"].as_array().into_iter().flatten() {
        let kpi_id = kpi["id"].as_str().unwrap_or_default();
        new_identifier("KPI id", kpi_id, &mut kpi_ids, problems);
        if kpi["title"]
            .as_str()
            .is_none_or(|title| title.trim().is_empty())
            || en_title(kpi).is_none()
        {
            problems.push(format!("KPI {kpi_id} lacks a Chinese or an English title"));
        }
        if !keys(kpi).is_subset(&allowed) {
            problems.push(format!("KPI {kpi_id} has unknown keys"));
        }
        if !kpi["unit"]
            .as_str()
            .is_some_and(|unit| units.contains(unit))
        {
            problems.push(format!("KPI {kpi_id} has no known unit"));
        }
        if kpi.get("better").is_some()
            && !kpi["better"]
                .as_str()
                .is_some_and(|better| directions.contains(better))
        {
            problems.push(format!("KPI {kpi_id} is better neither higher nor lower"));
        }
    }
    let has_kpi_hook = manifest["hooks"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|hook| hook == "kpi");
    let has_kpis = manifest["kpis"]
        .as_array()
        .is_some_and(|kpis| !kpis.is_empty());
    if has_kpis && !has_kpi_hook {
        problems.push("the manifest declares KPIs but not the kpi hook".into());
    }
}

/// Reports `id`, the `what` of a role or an entity, unless it is an identifier not in `seen`; adds
/// it to `seen`.
fn new_identifier(what: &str, id: &str, seen: &mut BTreeSet<String>, problems: &mut Vec<String>) {
    if !is_identifier(id) || !seen.insert(id.to_string()) {
        problems.push(format!("bad or repeated {what} {id:?}"));
    }
}

/// `read_level:1` … `read_level:9`: the field-level read grants.
pub(super) fn is_level_read(action: &str) -> bool {
    action
        .strip_prefix("read_level:")
        .is_some_and(|level| matches!(level.as_bytes(), [b'1'..=b'9']))
}
