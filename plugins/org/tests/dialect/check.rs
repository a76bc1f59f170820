//! Native checks of a plugin's manifest, of its entity schemas against the Jingxi schema dialect,
//! and of its example documents; included by the `schemas` tests of each plugin.

#![allow(dead_code)]

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use serde_json::{Map, Value};

pub const MONEY_PATTERN: &str = "^-?[0-9]{1,16}(\\.[0-9]{1,2})?$";
pub const DECIMAL_PATTERN: &str = "^-?[0-9]{1,14}(\\.[0-9]{1,4})?$";
const SHORT_TEXT_MAX: u64 = 200;
const LONG_TEXT_MAX: u64 = 5000;
/// Names the kernel owns: system columns (§3.0 of the catalogue) and the document number.
const RESERVED: &[&str] = &[
    "id",
    "tenant_id",
    "state",
    "status",
    "version",
    "owner",
    "owner_id",
    "department",
    "org_unit_id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "doc_no",
];

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The manifest's own schema, `schemas/manifest.schema.json`.
pub fn manifest_schema() -> Value {
    read_json(&workspace_root().join("schemas/manifest.schema.json"))
}

pub fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// The entity names of `plugin` as its schema files name them (`schemas/<plugin>/<entity>.schema.json`).
pub fn schema_files(plugin: &str) -> BTreeSet<String> {
    let dir = workspace_root().join("schemas").join(plugin);
    fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .filter_map(|entry| {
            entry
                .ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".schema.json")
                .map(String::from)
        })
        .collect()
}

/// One example document: `schemas/<plugin>/examples/<kind>/<entity>-<name>.json`.
#[derive(Debug)]
pub struct Example {
    pub path: PathBuf,
    pub entity: String,
    pub document: Value,
    /// The first line of the sibling `.err` file, if there is one.
    pub expected_error: Option<String>,
}

pub fn examples(plugin: &str, kind: &str) -> Vec<Example> {
    let dir = workspace_root()
        .join("schemas")
        .join(plugin)
        .join("examples")
        .join(kind);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.map(|entry| entry.path()).expect("directory entry"))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .expect("utf-8 file name");
            let entity = stem
                .split('-')
                .next()
                .expect("split yields one part")
                .to_string();
            let err_path = path.with_extension("err");
            let expected_error = fs::read_to_string(&err_path)
                .ok()
                .map(|text| text.lines().next().unwrap_or_default().trim().to_string());
            Example {
                document: read_json(&path),
                path,
                entity,
                expected_error,
            }
        })
        .collect()
}

/// Whether `text` matches `^[a-z][a-z0-9]*(_[a-z0-9]+)*$` and is at most 40 long.
pub fn is_identifier(text: &str) -> bool {
    let starts_with_letter = text
        .bytes()
        .next()
        .is_some_and(|byte| byte.is_ascii_lowercase());
    starts_with_letter
        && text.len() <= 40
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
        && !text.contains("__")
        && !text.ends_with('_')
}

fn is_qualified(text: &str) -> bool {
    matches!(text.split_once('.'), Some((plugin, entity)) if is_identifier(plugin) && is_identifier(entity))
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}

fn en_title(value: &Value) -> Option<&str> {
    value
        .pointer("/i18n/en/title")
        .and_then(Value::as_str)
        .filter(|title| !title.trim().is_empty())
}

/// Problems of an assembled manifest: what `schemas/manifest.schema.json` requires, plus the
/// cross-references it cannot state (grants name declared roles and entities, ids are unique).
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
        if !is_identifier(role_id) || !role_ids.insert(role_id.to_string()) {
            problems.push(format!("bad or repeated role id {role_id:?}"));
        }
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
        if !is_identifier(name) || !entity_names.insert(name.to_string()) {
            problems.push(format!("bad or repeated entity name {name:?}"));
        }
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
            || !granted.iter().all(|action| actions.contains(action))
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
    problems
}

fn keys_of_enum(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

/// The shape of one property, as the kernel maps it to a column.
#[derive(Debug, Clone)]
pub enum Shape {
    Text {
        max_length: u64,
    },
    Enum(Vec<String>),
    Date,
    DateTime,
    Ref(String),
    Decimal {
        integer_digits: usize,
        fraction_digits: usize,
    },
    Integer {
        minimum: Option<i64>,
        maximum: Option<i64>,
    },
    Boolean,
    MultiSelect(Vec<String>),
    Child(Table),
}

/// Properties and required names of an entity or of a child table.
#[derive(Debug, Clone)]
pub struct Table {
    pub required: Vec<String>,
    pub properties: Vec<(String, Shape)>,
}

/// An entity schema read against the dialect; `problems` lists everything outside it.
#[derive(Debug)]
pub struct Entity {
    pub name: String,
    pub table: Table,
    pub problems: Vec<String>,
}

impl Entity {
    /// Reads `schema`; `known_refs` are the qualified targets a reference may name.
    pub fn read(
        name: &str,
        schema: &Value,
        manifest_schema: &Value,
        known_refs: &BTreeSet<String>,
    ) -> Entity {
        let mut problems = Vec::new();
        let mut expect = |ok: bool, problem: &str| {
            if !ok {
                problems.push(format!("{name}: {problem}"));
            }
        };
        expect(
            schema["$schema"] == "https://json-schema.org/draft/2020-12/schema",
            "$schema is not draft 2020-12",
        );
        expect(schema["type"] == "object", "type is not object");
        expect(
            schema["additionalProperties"] == false,
            "additionalProperties is not false",
        );
        expect(
            schema["title"]
                .as_str()
                .is_some_and(|title| !title.trim().is_empty()),
            "no Chinese title",
        );
        expect(en_title(&schema["x-jingxi"]).is_some(), "no English title");
        let allowed_top = [
            "$schema",
            "type",
            "title",
            "description",
            "additionalProperties",
            "required",
            "properties",
            "x-jingxi",
        ];
        expect(
            keys(schema)
                .iter()
                .all(|key| allowed_top.contains(&key.as_str())),
            "unknown top-level keyword",
        );
        let allowed_x = keys(
            &manifest_schema
                .pointer("/$defs/entitySchema/properties/x-jingxi/properties")
                .cloned()
                .unwrap_or_default(),
        );
        expect(
            keys(&schema["x-jingxi"]).is_subset(&allowed_x),
            "unknown x-jingxi keyword",
        );
        let prefix = schema["x-jingxi"]["prefix"].as_str().unwrap_or_default();
        expect(
            (2..=5).contains(&prefix.len()) && prefix.bytes().all(|byte| byte.is_ascii_uppercase()),
            "prefix is not 2-5 capitals",
        );

        let mut reader = Reader {
            entity: name,
            manifest_schema,
            known_refs,
            problems: Vec::new(),
        };
        let table = reader.table("", schema, false);
        problems.append(&mut reader.problems);
        let names: BTreeSet<&str> = table
            .properties
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        for reserved in RESERVED {
            if names.contains(reserved) {
                problems.push(format!("{name}: declares the kernel's {reserved}"));
            }
        }
        if let Some(title_field) = schema["x-jingxi"]["titleField"].as_str()
            && !names.contains(title_field)
        {
            problems.push(format!(
                "{name}: titleField {title_field} is not a property"
            ));
        }
        for index in schema["x-jingxi"]["indexes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let columns: Vec<&str> = index
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let scalar = |column: &&str| {
                table.properties.iter().any(|(name, shape)| {
                    name == column && !matches!(shape, Shape::Child(_) | Shape::MultiSelect(_))
                })
            };
            if columns.is_empty() || !columns.iter().all(scalar) {
                problems.push(format!(
                    "{name}: index {index} names a missing or non-scalar property"
                ));
            }
        }
        Entity {
            name: name.to_string(),
            table,
            problems,
        }
    }

    /// Validates `document` like the kernel would, as `<pointer>: <reason>` lines.
    pub fn validate(&self, document: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        validate_table(&self.table, "", document, &mut errors);
        errors
    }
}

struct Reader<'a> {
    entity: &'a str,
    manifest_schema: &'a Value,
    known_refs: &'a BTreeSet<String>,
    problems: Vec<String>,
}

impl Reader<'_> {
    fn problem(&mut self, pointer: &str, problem: &str) {
        self.problems
            .push(format!("{}{pointer}: {problem}", self.entity));
    }

    fn table(&mut self, pointer: &str, schema: &Value, in_child: bool) -> Table {
        let Some(properties) = schema["properties"].as_object() else {
            self.problem(pointer, "no properties");
            return Table {
                required: Vec::new(),
                properties: Vec::new(),
            };
        };
        let required: Vec<String> = keys_of_enum(&schema["required"]).into_iter().collect();
        for name in &required {
            if !properties.contains_key(name) {
                self.problem(pointer, &format!("required {name} is not a property"));
            }
        }
        let mut shapes = Vec::new();
        for (name, property) in properties {
            let pointer = format!("{pointer}/{name}");
            if !is_identifier(name) {
                self.problem(&pointer, "name is not snake_case");
            }
            if let Some(shape) = self.property(&pointer, property, in_child) {
                shapes.push((name.clone(), shape));
            }
        }
        Table {
            required,
            properties: shapes,
        }
    }

    fn property(&mut self, pointer: &str, property: &Value, in_child: bool) -> Option<Shape> {
        let Some(map) = property.as_object() else {
            self.problem(pointer, "not an object");
            return None;
        };
        if map
            .get("title")
            .and_then(Value::as_str)
            .is_none_or(|title| title.trim().is_empty())
        {
            self.problem(pointer, "no Chinese title");
        }
        let x = map.get("x-jingxi").cloned().unwrap_or_default();
        if en_title(&x).is_none() {
            self.problem(pointer, "no English title");
        }
        let allowed_x = keys(
            &self
                .manifest_schema
                .pointer("/$defs/property/properties/x-jingxi/properties")
                .cloned()
                .unwrap_or_default(),
        );
        if !keys(&x).is_subset(&allowed_x) {
            self.problem(pointer, "unknown x-jingxi keyword");
        }
        let computed = x["computed"] == true;
        if computed != (map.get("readOnly") == Some(&Value::Bool(true))) {
            self.problem(pointer, "computed and readOnly go together");
        }
        let (shape, shape_keys, x_keys): (Shape, &[&str], &[&str]) =
            match self.classify(pointer, map, &x, in_child) {
                Some(found) => found,
                None => {
                    self.problem(pointer, "not one of the dialect's shapes");
                    return None;
                }
            };
        let common = ["type", "title", "description", "x-jingxi", "readOnly"];
        for key in map.keys() {
            if !common.contains(&key.as_str()) && !shape_keys.contains(&key.as_str()) {
                self.problem(
                    pointer,
                    &format!("keyword {key} does not belong to its shape"),
                );
            }
        }
        let common_x = ["i18n", "index", "unique", "level", "computed"];
        for key in keys(&x) {
            if !common_x.contains(&key.as_str()) && !x_keys.contains(&key.as_str()) {
                self.problem(
                    pointer,
                    &format!("x-jingxi.{key} does not belong to its shape"),
                );
            }
        }
        if in_child
            && ["index", "unique", "level", "computed"]
                .iter()
                .any(|key| x.get(key).is_some())
        {
            self.problem(
                pointer,
                "child-table columns take no index, unique, level or computed",
            );
        }
        Some(shape)
    }

    fn classify(
        &mut self,
        pointer: &str,
        map: &Map<String, Value>,
        x: &Value,
        in_child: bool,
    ) -> Option<(Shape, &'static [&'static str], &'static [&'static str])> {
        match map.get("type")?.as_str()? {
            "string" => {
                if let Some(values) = map.get("enum") {
                    let values = string_list(values)?;
                    return Some((Shape::Enum(values), &["enum"], &[]));
                }
                match (
                    map.get("format").and_then(Value::as_str),
                    map.get("pattern").and_then(Value::as_str),
                ) {
                    (Some("date"), None) => return Some((Shape::Date, &["format"], &[])),
                    (Some("date-time"), None) => return Some((Shape::DateTime, &["format"], &[])),
                    (Some("uuid"), None) => {
                        let target = x["ref"].as_str()?;
                        if !is_qualified(target) || !self.known_refs.contains(target) {
                            self.problem(pointer, &format!("unknown reference target {target}"));
                        }
                        return Some((Shape::Ref(target.to_string()), &["format"], &["ref"]));
                    }
                    (None, Some(MONEY_PATTERN)) => {
                        let currency = x["money"]["currency"].as_str()?;
                        if currency.len() != 3
                            || !currency.bytes().all(|byte| byte.is_ascii_uppercase())
                        {
                            self.problem(pointer, "currency is not ISO 4217");
                        }
                        return Some((
                            Shape::Decimal {
                                integer_digits: 16,
                                fraction_digits: 2,
                            },
                            &["pattern"],
                            &["money"],
                        ));
                    }
                    (None, Some(DECIMAL_PATTERN)) => {
                        x["decimal"]["scale"].as_u64()?;
                        return Some((
                            Shape::Decimal {
                                integer_digits: 14,
                                fraction_digits: 4,
                            },
                            &["pattern"],
                            &["decimal"],
                        ));
                    }
                    (None, None) => {}
                    _ => return None,
                }
                let max_length = map.get("maxLength")?.as_u64()?;
                if max_length == LONG_TEXT_MAX && x["widget"] == "textarea" {
                    Some((Shape::Text { max_length }, &["maxLength"], &["widget"]))
                } else if (1..=SHORT_TEXT_MAX).contains(&max_length) && x.get("widget").is_none() {
                    Some((Shape::Text { max_length }, &["maxLength"], &[]))
                } else {
                    None
                }
            }
            "integer" => {
                let bound = |key| map.get(key).map(|value: &Value| value.as_i64());
                let (minimum, maximum) = (bound("minimum"), bound("maximum"));
                if minimum == Some(None) || maximum == Some(None) {
                    return None;
                }
                Some((
                    Shape::Integer {
                        minimum: minimum.flatten(),
                        maximum: maximum.flatten(),
                    },
                    &["minimum", "maximum"],
                    &[],
                ))
            }
            "boolean" => Some((Shape::Boolean, &[], &[])),
            "array" if !in_child => {
                let items = map.get("items")?;
                match items["type"].as_str()? {
                    "string" if map.get("uniqueItems") == Some(&Value::Bool(true)) => {
                        if keys(items) != ["type", "enum"].map(String::from).into() {
                            return None;
                        }
                        Some((
                            Shape::MultiSelect(string_list(&items["enum"])?),
                            &["items", "uniqueItems"],
                            &[],
                        ))
                    }
                    "object" => {
                        if items["additionalProperties"] != false
                            || !keys(items).is_subset(
                                &["type", "additionalProperties", "required", "properties"]
                                    .map(String::from)
                                    .into(),
                            )
                        {
                            return None;
                        }
                        let table = self.table(pointer, items, true);
                        Some((Shape::Child(table), &["items"], &[]))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

fn string_list(value: &Value) -> Option<Vec<String>> {
    let values: Vec<String> = value
        .as_array()?
        .iter()
        .map(|item| item.as_str().map(String::from))
        .collect::<Option<_>>()?;
    let unique: BTreeSet<&String> = values.iter().collect();
    (!values.is_empty() && unique.len() == values.len()).then_some(values)
}

fn validate_table(table: &Table, pointer: &str, value: &Value, errors: &mut Vec<String>) {
    let Some(map) = value.as_object() else {
        errors.push(format!("{pointer}: wrong type"));
        return;
    };
    for name in &table.required {
        if !map.contains_key(name) {
            errors.push(format!("{pointer}/{name}: required property missing"));
        }
    }
    for (name, value) in map {
        let pointer = format!("{pointer}/{name}");
        match table
            .properties
            .iter()
            .find(|(property, _)| property == name)
        {
            Some((_, shape)) => validate_value(shape, &pointer, value, errors),
            None => errors.push(format!("{pointer}: unknown property")),
        }
    }
}

fn validate_value(shape: &Shape, pointer: &str, value: &Value, errors: &mut Vec<String>) {
    let mut error = |reason: &str| errors.push(format!("{pointer}: {reason}"));
    match shape {
        Shape::Enum(values) => {
            if !value
                .as_str()
                .is_some_and(|value| values.iter().any(|allowed| allowed == value))
            {
                error("not one of the allowed values");
            }
        }
        Shape::Boolean => {
            if !value.is_boolean() {
                error("wrong type");
            }
        }
        Shape::Integer { minimum, maximum } => match value.as_i64() {
            None => error("wrong type"),
            Some(number) if minimum.is_some_and(|minimum| number < minimum) => {
                error("below the minimum")
            }
            Some(number) if maximum.is_some_and(|maximum| number > maximum) => {
                error("above the maximum")
            }
            Some(_) => {}
        },
        Shape::MultiSelect(values) => {
            let Some(items) = value.as_array() else {
                return error("wrong type");
            };
            let unique: BTreeSet<String> = items.iter().map(Value::to_string).collect();
            if unique.len() != items.len() {
                error("items are not unique");
            }
            for (item_idx, item) in items.iter().enumerate() {
                if !item
                    .as_str()
                    .is_some_and(|item| values.iter().any(|allowed| allowed == item))
                {
                    errors.push(format!(
                        "{pointer}/{item_idx}: not one of the allowed values"
                    ));
                }
            }
        }
        Shape::Child(table) => {
            let Some(rows) = value.as_array() else {
                return error("wrong type");
            };
            for (row_idx, row) in rows.iter().enumerate() {
                validate_table(table, &format!("{pointer}/{row_idx}"), row, errors);
            }
        }
        Shape::Text { .. }
        | Shape::Date
        | Shape::DateTime
        | Shape::Ref(_)
        | Shape::Decimal { .. } => {
            let Some(text) = value.as_str() else {
                return error("wrong type");
            };
            match shape {
                Shape::Text { max_length } if text.chars().count() as u64 > *max_length => {
                    error("longer than maxLength")
                }
                Shape::Date if !is_date(text) => error("not a valid date"),
                Shape::DateTime if !is_date_time(text) => error("not a valid date-time"),
                Shape::Ref(_) if !is_uuid(text) => error("not a valid uuid"),
                Shape::Decimal {
                    integer_digits,
                    fraction_digits,
                } if !is_decimal(text, *integer_digits, *fraction_digits) => {
                    error("does not match the pattern")
                }
                _ => {}
            }
        }
    }
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// `^-?[0-9]{1,integer_digits}(\.[0-9]{1,fraction_digits})?$`
fn is_decimal(text: &str, integer_digits: usize, fraction_digits: usize) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (integer, fraction) = match unsigned.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (unsigned, None),
    };
    all_digits(integer)
        && integer.len() <= integer_digits
        && fraction.is_none_or(|fraction| all_digits(fraction) && fraction.len() <= fraction_digits)
}

fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return false;
    };
    if year.len() != 4
        || month.len() != 2
        || day.len() != 2
        || ![year, month, day].iter().all(|part| all_digits(part))
    {
        return false;
    }
    let (year, month, day): (u32, u32, u32) = (
        year.parse().unwrap_or(0),
        month.parse().unwrap_or(0),
        day.parse().unwrap_or(0),
    );
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn is_date_time(text: &str) -> bool {
    let Some((date, time)) = text.split_once(['T', 't']) else {
        return false;
    };
    let (clock, offset) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, "+00:00")
    } else if time.len() > 6 {
        time.split_at(time.len() - 6)
    } else {
        return false;
    };
    let clock = clock.split_once('.').map_or(
        clock,
        |(clock, fraction)| if all_digits(fraction) { clock } else { "" },
    );
    let hms: Vec<&str> = clock.split(':').collect();
    let offset_ok = offset.len() == 6
        && (offset.starts_with('+') || offset.starts_with('-'))
        && offset[1..]
            .split(':')
            .map(|part| part.len() == 2 && all_digits(part))
            .eq([true, true]);
    is_date(date)
        && offset_ok
        && hms.len() == 3
        && hms.iter().all(|part| part.len() == 2 && all_digits(part))
        && hms[0] < "24"
        && hms[1] < "60"
        && hms[2] <= "60"
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|group| group.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|group| group.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::{
        Entity, is_date, is_date_time, is_decimal, is_identifier, is_uuid, manifest_schema,
    };

    #[test]
    fn flags_what_is_outside_the_dialect() {
        let en = |title: &str| json!({"i18n": {"en": {"title": title}}});
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "title": "测试",
            "additionalProperties": false, "required": ["name", "missing"],
            "properties": {
                "name": {"type": "string", "title": "名称", "maxLength": 200, "x-jingxi": en("Name")},
                "score": {"type": "number", "title": "分数", "x-jingxi": en("Score")},
                "price": {"type": "string", "title": "价格", "pattern": "^[0-9]+$", "x-jingxi": {"i18n": {"en": {"title": "Price"}}, "money": {"currency": "CNY"}}},
                "customer": {"type": "string", "title": "客户", "format": "uuid", "x-jingxi": {"i18n": {"en": {"title": "Customer"}}, "ref": "crm.client"}},
                "owner": {"type": "string", "title": "负责人", "format": "uuid", "x-jingxi": {"i18n": {"en": {"title": "Owner"}}, "ref": "kernel.user"}},
                "note": {"type": "string", "title": "说明", "maxLength": 200},
                "lines": {"type": "array", "title": "明细", "x-jingxi": en("Lines"), "items": {"type": "object", "additionalProperties": false,
                    "properties": {"tags": {"type": "array", "title": "标签", "x-jingxi": en("Tags"), "items": {"type": "string", "enum": ["a"]}, "uniqueItems": true}}}},
                "BadName": {"type": "boolean", "title": "布尔", "x-jingxi": en("Flag")}
            },
            "x-jingxi": {"i18n": {"en": {"title": "Test"}}, "prefix": "TST", "titleField": "title"}
        });
        let known_refs: BTreeSet<String> = ["kernel.user".to_string()].into();
        let problems = Entity::read("test", &schema, &manifest_schema(), &known_refs).problems;
        for expected in [
            "test: required missing is not a property",
            "test/score: not one of the dialect's shapes",
            "test/price: not one of the dialect's shapes",
            "test/customer: unknown reference target crm.client",
            "test: declares the kernel's owner",
            "test/note: no English title",
            "test/lines/tags: not one of the dialect's shapes",
            "test/BadName: name is not snake_case",
            "test: titleField title is not a property",
        ] {
            assert!(
                problems.iter().any(|problem| problem == expected),
                "missing {expected:?} in {problems:#?}"
            );
        }
    }

    #[test]
    fn recognises_the_formats_examples_use() {
        assert!(
            is_decimal("3999.00", 16, 2)
                && is_decimal("-1", 16, 2)
                && !is_decimal("1.005", 16, 2)
                && !is_decimal("1.", 16, 2)
        );
        assert!(is_date("2024-02-29") && !is_date("2025-02-29") && !is_date("2025-2-01"));
        assert!(
            is_date_time("2025-07-14T09:20:00+08:00") && is_date_time("2025-08-02T01:30:00.5Z")
        );
        assert!(!is_date_time("2025-08-02 09:30") && !is_date_time("2025-08-02T09:30:00"));
        assert!(is_uuid("0190a4c2-1d7e-7b3a-9c41-5f2e8d6a0b17") && !is_uuid("华东大区"));
        assert!(
            is_identifier("visit_record")
                && !is_identifier("Visit")
                && !is_identifier("a__b")
                && !is_identifier("b_")
        );
    }
}
