//! Plugin manifests and entity definitions: what a plugin declares, checked and turned into the
//! typed model that the store (tables, columns) and the API (types, fields) are generated from.
//!
//! **Invariant:** an `EntityDef` only exists for a schema that passed every check here, so later
//! layers can rely on its field kinds without re-checking.

mod validation;
mod workflow;

use std::sync::{Arc, LazyLock};

use serde_json::{Map, Value};

pub use validation::{FieldIssue, Locale, parse_decimal};
pub use workflow::{Compare, RouteDef, StateDef, TransitionDef, WorkflowDef, decimal_of};

/// The plugin contract major/minor versions this kernel serves.
pub const CONTRACT_VERSION: &str = "0.1.0";

static MANIFEST_SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(include_str!("../../schemas/manifest.schema.json"))
        .expect("schemas/manifest.schema.json is valid JSON (checked by tests)");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .expect("schemas/manifest.schema.json is a valid JSON Schema (checked by tests)")
});

/// Why a manifest or an entity schema was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the manifest is not valid JSON: {0}")]
    NotJson(String),
    #[error("the manifest does not match schemas/manifest.schema.json: {}", .problems.join("; "))]
    Manifest { problems: Vec<String> },
    #[error(
        "plugin {plugin} was built against jingxi:plugin@{found}; this kernel supports {supported}. Hint: rebuild it with a matching jingxi-sdk."
    )]
    Contract {
        plugin: String,
        found: String,
        supported: String,
    },
    #[error("entity {entity}: {message}")]
    Entity { entity: String, message: String },
}

/// The checked manifest of one plugin.
#[derive(Debug)]
pub struct PluginDef {
    pub id: String,
    pub version: String,
    pub title: String,
    pub title_en: String,
    pub requires: Vec<String>,
    pub hooks: Vec<String>,
    pub roles: Vec<RoleDef>,
    pub grants: Vec<GrantDef>,
    pub entities: Vec<Arc<EntityDef>>,
    /// The KPIs the plugin computes with its `kpi` hook.
    pub kpis: Vec<KpiDef>,
    /// The manifest as the plugin described it.
    pub manifest: Value,
}

/// One KPI a plugin declares (`kpis` in the manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiDef {
    /// The id as the plugin declares it, `complaint_accept_timeliness`.
    pub id: String,
    /// `crm.complaint_accept_timeliness`: the id in the API.
    pub qualified: String,
    pub title: String,
    pub title_en: String,
    pub description: String,
    pub description_en: String,
    pub unit: KpiUnit,
    pub better: KpiBetter,
}

/// What a KPI's value measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KpiUnit {
    /// A percentage, 0–100.
    Percent,
    /// A score, such as 0–100 points.
    Score,
    /// A number of things.
    Count,
    /// An amount of money.
    Money,
    /// Any other number.
    Number,
}

impl KpiUnit {
    fn parse(text: &str) -> Option<KpiUnit> {
        Some(match text {
            "percent" => KpiUnit::Percent,
            "score" => KpiUnit::Score,
            "count" => KpiUnit::Count,
            "money" => KpiUnit::Money,
            "number" => KpiUnit::Number,
            _ => return None,
        })
    }

    /// The name in the manifest, `percent`.
    pub fn as_str(self) -> &'static str {
        match self {
            KpiUnit::Percent => "percent",
            KpiUnit::Score => "score",
            KpiUnit::Count => "count",
            KpiUnit::Money => "money",
            KpiUnit::Number => "number",
        }
    }
}

/// Which way a KPI improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KpiBetter {
    Higher,
    Lower,
}

impl KpiBetter {
    /// The name in the manifest, `higher`.
    pub fn as_str(self) -> &'static str {
        match self {
            KpiBetter::Higher => "higher",
            KpiBetter::Lower => "lower",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RoleDef {
    pub id: String,
    pub title: String,
    pub title_en: String,
}

#[derive(Debug, Clone)]
pub struct GrantDef {
    pub role: String,
    /// Qualified entity name.
    pub entity: String,
    pub actions: Vec<String>,
    pub scope: String,
}

/// One entity type: one table, one GraphQL type, one form.
#[derive(Debug)]
pub struct EntityDef {
    pub plugin: String,
    pub name: String,
    /// `crm.customer`.
    pub qualified: String,
    /// `crm__customer`.
    pub table: String,
    /// `CrmCustomer`.
    pub type_name: String,
    pub title: String,
    pub title_en: String,
    pub fields: Vec<FieldDef>,
    pub children: Vec<ChildDef>,
    /// Composite indexes (field names and system columns), tenant_id is prepended by the store.
    pub indexes: Vec<Vec<String>>,
    /// Counts of records per day the store keeps as records are written (`x-jingxi.dailyCounts`).
    pub daily_counts: Vec<DailyCount>,
    /// The JSON Schema as declared (Chinese titles, `x-jingxi` intact).
    pub schema: Value,
    /// The state machine `state` follows, when the plugin declares one.
    pub workflow: Option<WorkflowDef>,
    validator: jsonschema::Validator,
}

/// Records counted per day and per combination of a few fields, kept by the store in its own
/// table as records are written (`x-jingxi.dailyCounts`). A count whose filter bounds `day` on
/// whole days and otherwise names only `by` fields is answered from these counts: a year of
/// complaints is then a few thousand rows to add up instead of a million to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyCount {
    /// The date or date-time property that decides a record's day.
    pub day: String,
    /// For a date-time `day`: the UTC offset, in seconds east, whose calendar days are counted.
    pub utc_offset_seconds: i32,
    /// Properties (and the system column `state`) counted apart, in order.
    pub by: Vec<String>,
    /// `crm__complaint__daily_1a2b3c4d`; the suffix hashes the definition, so a changed definition
    /// gets a new table, filled from the records.
    pub table: String,
}

/// Most fields one daily count keeps apart.
pub const MAX_DAILY_COUNT_FIELDS: usize = 8;

impl DailyCount {
    fn parse(
        entity: &str,
        table: &str,
        value: &Value,
        fields: &[FieldDef],
    ) -> Result<Self, String> {
        let day = value
            .get("day")
            .and_then(Value::as_str)
            .ok_or("a daily count names its `day` property")?
            .to_string();
        let day_kind = fields
            .iter()
            .find(|field| field.name == day)
            .map(|field| &field.kind);
        let offset = value.get("utcOffset").and_then(Value::as_str);
        let utc_offset_seconds = match (day_kind, offset) {
            (Some(FieldKind::DateTime), offset) => parse_utc_offset(offset.unwrap_or("+00:00"))
                .ok_or_else(|| {
                    format!("daily count on `{day}`: utcOffset is not of the form +08:00")
                })?,
            (Some(FieldKind::Date), None) => 0,
            (Some(FieldKind::Date), Some(_)) => {
                return Err(format!(
                    "daily count on `{day}`: a date has no utcOffset; it is its own day"
                ));
            }
            _ => {
                return Err(format!(
                    "daily count on `{day}`: the day must be a date or date-time property"
                ));
            }
        };
        let by = strings(value.get("by"));
        if by.len() > MAX_DAILY_COUNT_FIELDS {
            return Err(format!(
                "daily count on `{day}`: at most {MAX_DAILY_COUNT_FIELDS} fields in `by`"
            ));
        }
        for (i, name) in by.iter().enumerate() {
            let countable = name == "state"
                || fields.iter().any(|field| {
                    &field.name == name
                        && matches!(
                            field.kind,
                            FieldKind::Text
                                | FieldKind::Date
                                | FieldKind::Integer
                                | FieldKind::Boolean
                                | FieldKind::Ref { .. }
                        )
                });
            if !countable || by[..i].contains(name) || *name == day {
                return Err(format!(
                    "daily count on `{day}`: `{name}` in `by` is not a text, date, integer, boolean or reference property, nor `state`, or is named twice"
                ));
            }
        }
        use sha2::{Digest, Sha256};
        let definition = format!("{entity}|{day}|{utc_offset_seconds}|{}", by.join(","));
        let hash = hex::encode(&Sha256::digest(definition.as_bytes())[..4]);
        Ok(DailyCount {
            table: format!("{table}__daily_{hash}"),
            day,
            utc_offset_seconds,
            by,
        })
    }
}

/// `+08:00` or `-05:30` as seconds east of UTC; at most 14 hours either way.
fn parse_utc_offset(text: &str) -> Option<i32> {
    let pattern_ok = text.len() == 6 && text.as_bytes()[3] == b':';
    let seconds = text
        .parse::<chrono::FixedOffset>()
        .ok()
        .filter(|_| pattern_ok)?
        .local_minus_utc();
    (seconds.abs() <= 14 * 3600).then_some(seconds)
}

/// A child table: an array of objects inside a record (contacts, order lines).
#[derive(Debug)]
pub struct ChildDef {
    pub name: String,
    pub graphql_name: String,
    /// `crm__customer__contacts`.
    pub table: String,
    /// `CrmCustomerContacts`.
    pub type_name: String,
    pub title: String,
    pub title_en: String,
    pub fields: Vec<FieldDef>,
    /// Field-level permission level of the whole child table (`x-jingxi.level`).
    pub level: u8,
}

#[derive(Debug, Clone)]
pub struct FieldDef {
    /// Schema property name, also the column name.
    pub name: String,
    /// camelCase name in the API.
    pub graphql_name: String,
    pub kind: FieldKind,
    pub required: bool,
    pub index: bool,
    pub unique: bool,
    pub computed: bool,
    /// Field-level permission level (`x-jingxi.level`): 0 is readable with `read`, N needs a
    /// `read_level:N` grant (or higher).
    pub level: u8,
    pub title: String,
    pub title_en: String,
}

/// How a property is stored and exposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Date,
    DateTime,
    /// Exact decimal with a fixed number of fraction digits; money has scale 2.
    Decimal {
        scale: u32,
    },
    Integer,
    Float,
    Boolean,
    /// A reference to another entity (`org.region`) or to `kernel.user` / `kernel.org_unit`.
    Ref {
        target: String,
    },
    /// Anything else (multi-selects, nested objects), stored as JSON.
    Json,
}

/// Converts `customer_no` to `customerNo`.
pub fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for ch in name.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.extend(ch.to_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

/// Converts `key_accounts` to `KeyAccounts`.
pub fn pascal_case(name: &str) -> String {
    let camel = camel_case(name);
    let mut chars = camel.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn english_description(value: &Value, fallback: &str) -> String {
    str_at(value, "/i18n/en/description")
        .unwrap_or(fallback)
        .to_string()
}

fn english_title(value: &Value, fallback: &str) -> String {
    str_at(value, "/x-jingxi/i18n/en/title")
        .or(str_at(value, "/i18n/en/title"))
        .unwrap_or(fallback)
        .to_string()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl PluginDef {
    /// Parses and checks the JSON a plugin's `describe` returned.
    pub fn from_manifest(json: &str) -> Result<PluginDef, Error> {
        let manifest: Value =
            serde_json::from_str(json).map_err(|error| Error::NotJson(error.to_string()))?;
        let problems: Vec<String> = MANIFEST_SCHEMA
            .iter_errors(&manifest)
            .take(20)
            .map(|error| {
                let path = error.instance_path().as_str().to_string();
                format!("{}: {}", if path.is_empty() { "/" } else { &path }, error)
            })
            .collect();
        if !problems.is_empty() {
            return Err(Error::Manifest { problems });
        }
        let id = str_at(&manifest, "/id").unwrap_or_default().to_string();
        let contract = str_at(&manifest, "/contract").unwrap_or_default();
        if !contract_compatible(contract) {
            return Err(Error::Contract {
                plugin: id,
                found: contract.to_string(),
                supported: "0.1.x".to_string(),
            });
        }
        let title = str_at(&manifest, "/title").unwrap_or_default().to_string();
        let roles = manifest
            .get("roles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|role| {
                let title = str_at(role, "/title").unwrap_or_default().to_string();
                RoleDef {
                    id: str_at(role, "/id").unwrap_or_default().to_string(),
                    title_en: english_title(role, &title),
                    title,
                }
            })
            .collect();
        let mut entities = Vec::new();
        for entity in manifest
            .get("entities")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = str_at(entity, "/name").unwrap_or_default();
            let schema = entity.get("schema").cloned().unwrap_or(Value::Null);
            entities.push(EntityDef::new(&id, name, schema)?);
        }
        for workflow in manifest
            .get("workflows")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = str_at(workflow, "/entity").unwrap_or_default();
            let Some(entity) = entities.iter_mut().find(|e| e.name == name) else {
                return Err(Error::Entity {
                    entity: format!("{id}.{name}"),
                    message: "a workflow names an entity this plugin does not declare".into(),
                });
            };
            if entity.workflow.is_some() {
                return Err(Error::Entity {
                    entity: entity.qualified.clone(),
                    message: "an entity has at most one workflow".into(),
                });
            }
            entity.workflow =
                Some(
                    WorkflowDef::parse(workflow, entity).map_err(|message| Error::Entity {
                        entity: entity.qualified.clone(),
                        message: format!("workflow: {message}"),
                    })?,
                );
        }
        let entities: Vec<Arc<EntityDef>> = entities.into_iter().map(Arc::new).collect();
        let mut grants = Vec::new();
        for grant in manifest
            .get("grants")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let entity = str_at(grant, "/entity").unwrap_or_default();
            let qualified = if entity.contains('.') {
                entity.to_string()
            } else {
                format!("{id}.{entity}")
            };
            if !entities.iter().any(|def| def.qualified == qualified) {
                return Err(Error::Entity {
                    entity: qualified,
                    message: "a grant names an entity this plugin does not declare; plugins may only grant on their own entities".into(),
                });
            }
            grants.push(GrantDef {
                role: str_at(grant, "/role").unwrap_or_default().to_string(),
                entity: qualified,
                actions: strings(grant.get("actions")),
                scope: str_at(grant, "/scope").unwrap_or_default().to_string(),
            });
        }
        let hooks = strings(manifest.get("hooks"));
        let kpis = kpi_defs(&id, &manifest, &hooks)?;
        Ok(PluginDef {
            version: str_at(&manifest, "/version")
                .unwrap_or_default()
                .to_string(),
            title_en: english_title(&manifest, &title),
            title,
            requires: strings(manifest.get("requires")),
            hooks,
            roles,
            grants,
            entities,
            kpis,
            id,
            manifest,
        })
    }

    /// What an upgrade from `old` to `self` would break. An upgrade may add entities, optional
    /// fields and child tables; removing or retyping anything, or adding a required field that
    /// existing records lack, needs a declared migration and is refused.
    pub fn upgrade_problems(&self, old: &PluginDef) -> Vec<String> {
        let mut problems = Vec::new();
        for old_entity in &old.entities {
            let Some(new_entity) = self.entities.iter().find(|e| e.name == old_entity.name) else {
                problems.push(format!("entity {} is removed", old_entity.qualified));
                continue;
            };
            let owner = &old_entity.qualified;
            compare_fields(owner, &old_entity.fields, &new_entity.fields, &mut problems);
            if let Some(old_workflow) = &old_entity.workflow {
                problems.extend(old_workflow.upgrade_problems(owner, new_entity.workflow.as_ref()));
            }
            for old_child in &old_entity.children {
                match new_entity
                    .children
                    .iter()
                    .find(|c| c.name == old_child.name)
                {
                    Some(new_child) => compare_fields(
                        &format!("{owner}.{}", old_child.name),
                        &old_child.fields,
                        &new_child.fields,
                        &mut problems,
                    ),
                    None => {
                        problems.push(format!("child table {owner}.{} is removed", old_child.name))
                    }
                }
            }
            for new_field in &new_entity.fields {
                match old_entity.fields.iter().find(|f| f.name == new_field.name) {
                    None if new_field.required => problems.push(format!(
                        "new field {owner}.{} is required, but existing records have no value",
                        new_field.name
                    )),
                    Some(old_field) if new_field.required && !old_field.required => problems.push(format!(
                        "field {owner}.{} becomes required, but existing records may have no value",
                        new_field.name
                    )),
                    _ => {}
                }
            }
        }
        problems
    }

    pub fn has_hook(&self, hook: &str) -> bool {
        self.hooks.iter().any(|h| h == hook)
    }

    /// The KPI with the qualified id `crm.complaint_accept_timeliness`.
    pub fn kpi(&self, qualified: &str) -> Option<&KpiDef> {
        self.kpis.iter().find(|kpi| kpi.qualified == qualified)
    }

    /// Qualified names of entities in other plugins that this plugin's references point at.
    pub fn foreign_refs(&self) -> Vec<(String, String)> {
        let mut refs = Vec::new();
        for entity in &self.entities {
            let fields = entity
                .fields
                .iter()
                .chain(entity.children.iter().flat_map(|child| child.fields.iter()));
            for field in fields {
                if let FieldKind::Ref { target } = &field.kind {
                    let plugin = target.split('.').next().unwrap_or_default();
                    if plugin != self.id && plugin != "kernel" {
                        refs.push((
                            format!("{}.{}", entity.qualified, field.name),
                            target.clone(),
                        ));
                    }
                }
            }
        }
        refs
    }
}

/// The manifest's `kpis` (already checked against the manifest schema): ids unique, and the
/// `kpi` hook declared whenever there is one.
fn kpi_defs(plugin: &str, manifest: &Value, hooks: &[String]) -> Result<Vec<KpiDef>, Error> {
    let mut kpis: Vec<KpiDef> = Vec::new();
    for kpi in manifest
        .get("kpis")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = str_at(kpi, "/id").unwrap_or_default().to_string();
        let problem = |message: String| Error::Manifest {
            problems: vec![format!("/kpis: {message}")],
        };
        if kpis.iter().any(|other| other.id == id) {
            return Err(problem(format!("the KPI id {id} is declared twice")));
        }
        let title = str_at(kpi, "/title").unwrap_or_default().to_string();
        let description = str_at(kpi, "/description").unwrap_or_default().to_string();
        kpis.push(KpiDef {
            qualified: format!("{plugin}.{id}"),
            title_en: english_title(kpi, &title),
            description_en: english_description(kpi, &description),
            title,
            description,
            unit: str_at(kpi, "/unit")
                .and_then(KpiUnit::parse)
                .ok_or_else(|| problem(format!("the KPI {id} has no known unit")))?,
            better: match str_at(kpi, "/better") {
                Some("lower") => KpiBetter::Lower,
                _ => KpiBetter::Higher,
            },
            id,
        });
    }
    if !kpis.is_empty() && !hooks.iter().any(|hook| hook == "kpi") {
        return Err(Error::Manifest {
            problems: vec![
                "/hooks: the plugin declares KPIs, so `hooks` must list `kpi`".to_string(),
            ],
        });
    }
    Ok(kpis)
}

fn compare_fields(owner: &str, old: &[FieldDef], new: &[FieldDef], problems: &mut Vec<String>) {
    for old_field in old {
        match new.iter().find(|f| f.name == old_field.name) {
            None => problems.push(format!("field {owner}.{} is removed", old_field.name)),
            Some(new_field) if new_field.kind != old_field.kind => problems.push(format!(
                "field {owner}.{} changes from {:?} to {:?}",
                old_field.name, old_field.kind, new_field.kind
            )),
            Some(_) => {}
        }
    }
}

fn contract_compatible(found: &str) -> bool {
    let mut parts = found.split('.');
    matches!((parts.next(), parts.next()), (Some("0"), Some("1")))
}

impl EntityDef {
    /// Checks an entity schema against the dialect and builds its typed definition.
    pub fn new(plugin: &str, name: &str, schema: Value) -> Result<EntityDef, Error> {
        let qualified = format!("{plugin}.{name}");
        let fail = |message: String| Error::Entity {
            entity: qualified.clone(),
            message,
        };
        let title = str_at(&schema, "/title").unwrap_or(name).to_string();
        let required: Vec<String> = strings(schema.get("required"));
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .ok_or_else(|| fail("the schema has no `properties` object".into()))?;
        let mut fields = Vec::new();
        let mut children = Vec::new();
        for (field_name, property) in properties {
            if RESERVED.contains(&field_name.as_str()) {
                return Err(fail(format!(
                    "property `{field_name}` is a system field the kernel keeps; remove it from the schema"
                )));
            }
            if field_name.contains("__") {
                return Err(fail(format!(
                    "property `{field_name}` must not contain `__`"
                )));
            }
            if let Some(items) = child_items(property) {
                let child_fields = items
                    .get("properties")
                    .and_then(Value::as_object)
                    .ok_or_else(|| {
                        fail(format!("child table `{field_name}` has no `properties`"))
                    })?;
                let child_required = strings(items.get("required"));
                let mut defs = Vec::new();
                for (child_field, child_property) in child_fields {
                    if child_items(child_property).is_some() {
                        return Err(fail(format!(
                            "`{field_name}.{child_field}`: child tables cannot nest"
                        )));
                    }
                    if CHILD_RESERVED.contains(&child_field.as_str()) {
                        return Err(fail(format!(
                            "`{field_name}.{child_field}` is a reserved column name"
                        )));
                    }
                    defs.push(
                        field_def(child_field, child_property, &child_required).map_err(&fail)?,
                    );
                }
                let child_title = str_at(property, "/title").unwrap_or(field_name).to_string();
                children.push(ChildDef {
                    graphql_name: camel_case(field_name),
                    table: format!("{plugin}__{name}__{field_name}"),
                    type_name: format!(
                        "{}{}{}",
                        pascal_case(plugin),
                        pascal_case(name),
                        pascal_case(field_name)
                    ),
                    title_en: english_title(property, &child_title),
                    title: child_title,
                    name: field_name.clone(),
                    fields: defs,
                    level: level_of(property),
                });
            } else {
                fields.push(field_def(field_name, property, &required).map_err(&fail)?);
            }
        }
        let indexes: Vec<Vec<String>> = schema
            .pointer("/x-jingxi/indexes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|index| strings(Some(index)))
            .collect();
        for index in &indexes {
            for column in index {
                // System columns such as `state` may be indexed; `tenant_id` always leads.
                let system = RESERVED.contains(&column.as_str()) && column != "tenant_id";
                if !system && !fields.iter().any(|field| &field.name == column) {
                    return Err(fail(format!(
                        "index column `{column}` is not a scalar property or a system column"
                    )));
                }
            }
        }
        let table = format!("{plugin}__{name}");
        let daily_counts = schema
            .pointer("/x-jingxi/dailyCounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|value| DailyCount::parse(&qualified, &table, value, &fields).map_err(&fail))
            .collect::<Result<Vec<_>, _>>()?;
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|error| fail(format!("the schema does not compile: {error}")))?;
        Ok(EntityDef {
            plugin: plugin.to_string(),
            name: name.to_string(),
            table,
            type_name: format!("{}{}", pascal_case(plugin), pascal_case(name)),
            title_en: english_title(&schema, &title),
            title,
            fields,
            children,
            indexes,
            daily_counts,
            validator,
            schema,
            qualified,
            workflow: None,
        })
    }

    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// The read level a field or child table needs (`x-jingxi.level`); unknown names are 0.
    pub fn level_of(&self, name: &str) -> u8 {
        self.field(name)
            .map(|f| f.level)
            .or_else(|| {
                self.children
                    .iter()
                    .find(|c| c.name == name)
                    .map(|c| c.level)
            })
            .unwrap_or(0)
    }

    /// The JSON Schema in the caller's language: titles and descriptions from `x-jingxi.i18n`
    /// replace the Chinese ones for `en`.
    pub fn schema_for(&self, locale: Locale) -> Value {
        let mut schema = self.schema.clone();
        if locale == Locale::En {
            localize(&mut schema);
        }
        schema
    }

    /// Validates one record against the JSON Schema; every problem names its JSON Pointer.
    pub fn check(&self, record: &Value, locale: Locale) -> Vec<FieldIssue> {
        validation::check(&self.validator, self, record, locale)
    }
}

/// Columns every entity table has; plugins may not declare them.
pub const RESERVED: &[&str] = &[
    "id",
    "tenant_id",
    "owner_id",
    "org_unit_id",
    "state",
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
];

const CHILD_RESERVED: &[&str] = &["tenant_id", "parent_id", "idx"];

fn child_items(property: &Value) -> Option<&Map<String, Value>> {
    if property.get("type").and_then(Value::as_str) != Some("array") {
        return None;
    }
    let items = property.get("items")?.as_object()?;
    (items.get("type").and_then(Value::as_str) == Some("object")).then_some(items)
}

fn field_def(name: &str, property: &Value, required: &[String]) -> Result<FieldDef, String> {
    let extension = property.get("x-jingxi");
    let flag = |key: &str| {
        extension
            .and_then(|x| x.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let kind = field_kind(name, property)?;
    let title = str_at(property, "/title").unwrap_or(name).to_string();
    Ok(FieldDef {
        name: name.to_string(),
        graphql_name: camel_case(name),
        required: required.iter().any(|r| r == name),
        // References are always indexed: nested resolution and filters look them up by id.
        index: flag("index") || matches!(kind, FieldKind::Ref { .. }),
        unique: flag("unique"),
        computed: flag("computed"),
        level: level_of(property),
        title_en: english_title(property, &title),
        title,
        kind,
    })
}

fn level_of(property: &Value) -> u8 {
    property
        .pointer("/x-jingxi/level")
        .and_then(Value::as_u64)
        .map_or(0, |level| level.min(9) as u8)
}

fn field_kind(name: &str, property: &Value) -> Result<FieldKind, String> {
    let json_type = property.get("type").and_then(Value::as_str);
    let format = property.get("format").and_then(Value::as_str);
    let extension = property.get("x-jingxi");
    if let Some(target) = extension.and_then(|x| x.get("ref")).and_then(Value::as_str) {
        if json_type != Some("string") || format != Some("uuid") {
            return Err(format!(
                "reference `{name}` must be {{\"type\": \"string\", \"format\": \"uuid\"}}"
            ));
        }
        return Ok(FieldKind::Ref {
            target: target.to_string(),
        });
    }
    if extension.and_then(|x| x.get("money")).is_some() {
        return decimal(name, json_type, 2);
    }
    if let Some(scale) = extension
        .and_then(|x| x.pointer("/decimal/scale"))
        .and_then(Value::as_u64)
    {
        return decimal(name, json_type, scale as u32);
    }
    Ok(match (json_type, format) {
        (Some("string"), Some("date")) => FieldKind::Date,
        (Some("string"), Some("date-time")) => FieldKind::DateTime,
        (Some("string"), _) => FieldKind::Text,
        (Some("integer"), _) => FieldKind::Integer,
        (Some("number"), _) => FieldKind::Float,
        (Some("boolean"), _) => FieldKind::Boolean,
        (Some("array" | "object"), _) => FieldKind::Json,
        _ => return Err(format!("property `{name}` needs a single `type`")),
    })
}

fn decimal(name: &str, json_type: Option<&str>, scale: u32) -> Result<FieldKind, String> {
    if json_type != Some("string") {
        return Err(format!(
            "decimal `{name}` must be a string with a pattern, so amounts stay exact (never a JSON number)"
        ));
    }
    Ok(FieldKind::Decimal { scale })
}

fn localize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(en) = map
                .get("x-jingxi")
                .and_then(|x| x.pointer("/i18n/en"))
                .cloned()
            {
                for key in ["title", "description"] {
                    if let Some(text) = en.get(key) {
                        map.insert(key.to_string(), text.clone());
                    }
                }
            }
            for (key, child) in map.iter_mut() {
                if key != "x-jingxi" {
                    localize(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(localize),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(entities: Value) -> String {
        json!({"contract": "0.1.0", "id": "demo", "version": "1.0.0", "title": "演示", "entities": entities})
            .to_string()
    }

    #[test]
    fn maps_property_shapes_to_kinds() {
        let json = manifest(json!([{"name": "thing", "schema": {
        "type": "object", "title": "东西",
        "properties": {
            "name": {"type": "string", "title": "名称"},
            "amount": {"type": "string", "title": "金额", "x-jingxi": {"money": {"currency": "CNY"}}},
            "region": {"type": "string", "format": "uuid", "title": "区域", "x-jingxi": {"ref": "org.region"}},
            "lines": {"type": "array", "title": "行", "items": {"type": "object", "properties": {
                "qty": {"type": "integer", "title": "数量"}}}}
        }}}]));
        let plugin = PluginDef::from_manifest(&json).expect("valid manifest");
        let entity = &plugin.entities[0];
        assert_eq!(entity.table, "demo__thing");
        assert_eq!(
            entity.field("amount").map(|f| f.kind.clone()),
            Some(FieldKind::Decimal { scale: 2 })
        );
        assert!(entity.field("region").is_some_and(|f| f.index));
        assert_eq!(entity.children[0].table, "demo__thing__lines");
        assert_eq!(
            plugin.foreign_refs(),
            vec![("demo.thing.region".to_string(), "org.region".to_string())]
        );
    }

    #[test]
    fn refuses_system_fields_and_float_money() {
        let system = manifest(
            json!([{"name": "thing", "schema": {"type": "object", "title": "东西",
            "properties": {"version": {"type": "integer", "title": "版本"}}}}]),
        );
        let error = PluginDef::from_manifest(&system).expect_err("system field");
        assert!(
            error.to_string().contains("`version` is a system field"),
            "{error}"
        );
        let float_money = manifest(
            json!([{"name": "thing", "schema": {"type": "object", "title": "东西",
            "properties": {"price": {"type": "number", "title": "价格", "x-jingxi": {"money": {}}}}}}]),
        );
        let error = PluginDef::from_manifest(&float_money).expect_err("float money");
        assert!(error.to_string().contains("never a JSON number"), "{error}");
    }

    #[test]
    fn indexes_take_properties_and_system_columns_but_not_the_tenant() {
        let with_index = |columns: Value| {
            manifest(
                json!([{"name": "thing", "schema": {"type": "object", "title": "东西",
                "properties": {"name": {"type": "string", "title": "名称"}},
                "x-jingxi": {"indexes": [columns]}}}]),
            )
        };
        let plugin = PluginDef::from_manifest(&with_index(json!(["name", "state"]))).expect("ok");
        assert_eq!(plugin.entities[0].indexes, [["name", "state"]]);
        for bad in ["tenant_id", "color"] {
            let error = PluginDef::from_manifest(&with_index(json!([bad]))).expect_err(bad);
            assert!(
                error
                    .to_string()
                    .contains(&format!("index column `{bad}` is not")),
                "{error}"
            );
        }
    }

    #[test]
    fn daily_counts_take_a_day_and_countable_fields() {
        let with_count = |count: Value| {
            manifest(
                json!([{"name": "thing", "schema": {"type": "object", "title": "东西",
                "properties": {
                    "name": {"type": "string", "title": "名称"},
                    "at": {"type": "string", "format": "date-time", "title": "时间"},
                    "on": {"type": "string", "format": "date", "title": "日期"},
                    "amount": {"type": "string", "title": "金额", "x-jingxi": {"money": {}}}
                },
                "x-jingxi": {"dailyCounts": [count]}}}]),
            )
        };
        let plugin = PluginDef::from_manifest(&with_count(
            json!({"day": "at", "utcOffset": "-05:30", "by": ["state", "name"]}),
        ))
        .expect("ok");
        let count = &plugin.entities[0].daily_counts[0];
        assert_eq!(count.utc_offset_seconds, -(5 * 3600 + 30 * 60));
        assert_eq!(count.by, ["state", "name"]);
        assert!(
            count.table.starts_with("demo__thing__daily_"),
            "{}",
            count.table
        );
        let other = PluginDef::from_manifest(&with_count(
            json!({"day": "at", "utcOffset": "+08:00", "by": ["state", "name"]}),
        ))
        .expect("ok");
        assert_ne!(
            other.entities[0].daily_counts[0].table, count.table,
            "another definition, another table"
        );
        let date = PluginDef::from_manifest(&with_count(json!({"day": "on", "by": []})))
            .expect("a date needs no offset");
        assert_eq!(date.entities[0].daily_counts[0].utc_offset_seconds, 0);
        for (bad, says) in [
            (
                json!({"day": "name", "by": []}),
                "must be a date or date-time",
            ),
            (
                json!({"day": "on", "utcOffset": "+08:00", "by": []}),
                "a date has no utcOffset",
            ),
            (
                json!({"day": "at", "utcOffset": "+15:00", "by": []}),
                "utcOffset is not",
            ),
            (json!({"day": "at", "by": ["amount"]}), "`amount` in `by`"),
            (
                json!({"day": "at", "by": ["name", "name"]}),
                "does not match",
            ),
            (json!({"day": "at", "by": ["at"]}), "`at` in `by`"),
        ] {
            let error = PluginDef::from_manifest(&with_count(bad.clone())).expect_err(says);
            assert!(error.to_string().contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn upgrades_may_only_add_optional_things() {
        let v1 = manifest(
            json!([{"name": "thing", "schema": {"type": "object", "title": "东西",
            "properties": {"name": {"type": "string", "title": "名称"}, "qty": {"type": "integer", "title": "数量"}}}}]),
        );
        let additive = manifest(
            json!([{"name": "thing", "schema": {"type": "object", "title": "东西",
            "properties": {"name": {"type": "string", "title": "名称"}, "qty": {"type": "integer", "title": "数量"},
                "note": {"type": "string", "title": "备注"}}}},
            {"name": "other", "schema": {"type": "object", "title": "其他", "properties": {}}}]),
        );
        let breaking = manifest(
            json!([{"name": "thing", "schema": {"type": "object", "title": "东西", "required": ["code"],
            "properties": {"name": {"type": "integer", "title": "名称"}, "code": {"type": "string", "title": "编码"}}}}]),
        );
        let stricter = manifest(
            json!([{"name": "thing", "schema": {"type": "object", "title": "东西", "required": ["qty"],
            "properties": {"name": {"type": "string", "title": "名称"}, "qty": {"type": "integer", "title": "数量"}}}}]),
        );
        let v1 = PluginDef::from_manifest(&v1).expect("v1");
        assert_eq!(
            PluginDef::from_manifest(&stricter)
                .expect("stricter")
                .upgrade_problems(&v1),
            vec![
                "field demo.thing.qty becomes required, but existing records may have no value"
                    .to_string()
            ]
        );
        assert!(
            PluginDef::from_manifest(&additive)
                .expect("additive")
                .upgrade_problems(&v1)
                .is_empty()
        );
        let problems = PluginDef::from_manifest(&breaking)
            .expect("breaking")
            .upgrade_problems(&v1);
        assert_eq!(
            problems,
            vec![
                "field demo.thing.name changes from Text to Integer".to_string(),
                "field demo.thing.qty is removed".to_string(),
                "new field demo.thing.code is required, but existing records have no value"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn reads_kpis_with_qualified_ids_and_checks_the_hook() {
        let kpis = json!([
            {"id": "complaint_accept_timeliness", "title": "客户投诉受理及时率", "unit": "percent",
             "description": "及时受理的投诉数 / 有效投诉数",
             "i18n": {"en": {"title": "Complaint acceptance timeliness"}}},
            {"id": "churn_rate", "title": "客户流失率", "unit": "percent", "better": "lower"}
        ]);
        let json = json!({"contract": "0.1.0", "id": "demo", "version": "1.0.0", "title": "演示",
            "hooks": ["kpi"], "entities": [], "kpis": kpis});
        let plugin = PluginDef::from_manifest(&json.to_string()).expect("valid manifest");
        let kpi = plugin
            .kpi("demo.complaint_accept_timeliness")
            .expect("declared");
        assert_eq!(
            (kpi.id.as_str(), kpi.title_en.as_str(), kpi.unit, kpi.better),
            (
                "complaint_accept_timeliness",
                "Complaint acceptance timeliness",
                KpiUnit::Percent,
                KpiBetter::Higher
            )
        );
        assert_eq!(kpi.description_en, "及时受理的投诉数 / 有效投诉数");
        assert_eq!(
            plugin
                .kpi("demo.churn_rate")
                .map(|k| (k.better, k.title_en.as_str())),
            Some((KpiBetter::Lower, "客户流失率"))
        );
        assert!(plugin.kpi("complaint_accept_timeliness").is_none());

        let without_hook = json!({"contract": "0.1.0", "id": "demo", "version": "1.0.0", "title": "演示",
            "entities": [], "kpis": kpis});
        let error = PluginDef::from_manifest(&without_hook.to_string()).expect_err("no hook");
        assert!(error.to_string().contains("must list `kpi`"), "{error}");
        let twice = json!({"contract": "0.1.0", "id": "demo", "version": "1.0.0", "title": "演示",
            "hooks": ["kpi"], "entities": [], "kpis": [kpis[1], kpis[1]]});
        let error = PluginDef::from_manifest(&twice.to_string()).expect_err("twice");
        assert!(error.to_string().contains("declared twice"), "{error}");
        let bad_unit = json!({"contract": "0.1.0", "id": "demo", "version": "1.0.0", "title": "演示",
            "hooks": ["kpi"], "entities": [], "kpis": [{"id": "x", "title": "某", "unit": "ratio"}]});
        let error = PluginDef::from_manifest(&bad_unit.to_string()).expect_err("unit");
        assert!(error.to_string().contains("/kpis/0/unit"), "{error}");
    }

    #[test]
    fn refuses_incompatible_contract_naming_versions() {
        let json = json!({"contract": "2.0.0", "id": "demo", "version": "1.0.0", "title": "演示", "entities": []});
        let error = PluginDef::from_manifest(&json.to_string()).expect_err("contract");
        assert!(error.to_string().contains("jingxi:plugin@2.0.0"), "{error}");
    }

    #[test]
    fn manifest_schema_problems_name_the_pointer() {
        let json = json!({"contract": "0.1.0", "id": "Bad Id", "version": "1", "title": "x", "entities": []});
        let error = PluginDef::from_manifest(&json.to_string()).expect_err("bad manifest");
        let text = error.to_string();
        assert!(text.contains("/id") && text.contains("/version"), "{text}");
    }
}
