//! The Jingxi schema dialect: which shapes an entity property may take, and how the kernel
//! checks a document against them.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::values::{Date, Instant};

/// The `pattern` of a money property: up to 16 integer digits and 2 decimals.
pub const MONEY_PATTERN: &str = "^-?[0-9]{1,16}(\\.[0-9]{1,2})?$";
/// The `pattern` of a decimal property: up to 14 integer digits and 4 decimals.
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
/// The kernel's system columns an index may name besides properties (`tenant_id` always leads).
const INDEXABLE_SYSTEM_COLUMNS: &[&str] = &[
    "id",
    "owner_id",
    "org_unit_id",
    "state",
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
];

/// Whether `text` is an identifier of the dialect: it matches `^[a-z][a-z0-9]*(_[a-z0-9]+)*$`
/// and is at most 40 long. Plugin ids, entity, property and role names are identifiers.
///
/// ```
/// use jingxi_sdk::testing::is_identifier;
///
/// assert!(is_identifier("visit_record"));
/// assert!(!is_identifier("Visit") && !is_identifier("a__b") && !is_identifier("b_"));
/// ```
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

pub(crate) fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}

pub(crate) fn en_title(value: &Value) -> Option<&str> {
    value
        .pointer("/i18n/en/title")
        .and_then(Value::as_str)
        .filter(|title| !title.trim().is_empty())
}

pub(crate) fn keys_of_enum(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

/// The shape of one property, as the kernel maps it to a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// A string with `maxLength`: up to 200 on one line, or 5000 in a `textarea`.
    Text {
        /// The `maxLength`, in characters.
        max_length: u64,
    },
    /// A single select: a string `enum`, with its values.
    Enum(Vec<String>),
    /// A string of `format: date`.
    Date,
    /// A string of `format: date-time`, with an offset.
    DateTime,
    /// A string of `format: uuid` that refers to the qualified entity in `x-jingxi.ref`.
    Ref(String),
    /// A money (`x-jingxi.money`) or decimal (`x-jingxi.decimal`) string with its `pattern`.
    Decimal {
        /// The most digits before the point.
        integer_digits: usize,
        /// The most digits after the point.
        fraction_digits: usize,
    },
    /// An integer with optional bounds.
    Integer {
        /// The `minimum`, if any.
        minimum: Option<i64>,
        /// The `maximum`, if any.
        maximum: Option<i64>,
    },
    /// A boolean.
    Boolean,
    /// A multi-select: an array of unique strings from an `enum`, with its values.
    MultiSelect(Vec<String>),
    /// A child table: an array of objects with their own properties.
    Child(Table),
}

/// Properties and required names of an entity or of a child table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The names in `required`.
    pub required: Vec<String>,
    /// Each property that has a shape of the dialect, in schema order, with that shape.
    pub properties: Vec<(String, Shape)>,
}

impl Table {
    /// The shape of the property `name`, if it has one.
    ///
    /// ```
    /// use std::collections::BTreeSet;
    ///
    /// use jingxi_sdk::{json, testing::{Entity, Shape}};
    ///
    /// let schema = json!({"type": "object", "properties": {
    ///     "done": {"type": "boolean", "title": "完成"},
    /// }});
    /// let entity = Entity::read("task", &schema, &json!({}), &BTreeSet::new());
    /// assert_eq!(entity.table.property("done"), Some(&Shape::Boolean));
    /// assert_eq!(entity.table.property("missing"), None);
    /// ```
    pub fn property(&self, name: &str) -> Option<&Shape> {
        self.properties
            .iter()
            .find(|(property, _)| property == name)
            .map(|(_, shape)| shape)
    }
}

/// An entity schema read against the dialect; `problems` lists everything outside it.
#[derive(Debug, Clone)]
pub struct Entity {
    /// The entity's name in its plugin, e.g. `customer`.
    pub name: String,
    /// Its properties, as the kernel would store them.
    pub table: Table,
    /// Everything the schema states outside the dialect, one sentence each, prefixed by
    /// the entity name and the property's pointer: `customer/score: not one of the dialect's shapes`.
    pub problems: Vec<String>,
}

impl Entity {
    /// Reads `schema` of the entity `name`. `manifest_schema` is `schemas/manifest.schema.json`,
    /// which lists the allowed `x-jingxi` keywords; `known_refs` are the qualified entities
    /// (`org.region`) a reference may name.
    ///
    /// ```
    /// use std::collections::BTreeSet;
    ///
    /// use jingxi_sdk::{json, testing::Entity};
    ///
    /// let schema = json!({
    ///     "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
    ///     "title": "任务", "additionalProperties": false,
    ///     "properties": {"score": {"type": "number", "title": "分数"}},
    /// });
    /// let entity = Entity::read("task", &schema, &json!({}), &BTreeSet::new());
    /// assert!(entity.problems.contains(&"task/score: not one of the dialect's shapes".to_string()));
    /// assert!(entity.problems.contains(&"task: no English title".to_string()));
    /// ```
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
                INDEXABLE_SYSTEM_COLUMNS.contains(column)
                    || table.properties.iter().any(|(name, shape)| {
                        name == column && !matches!(shape, Shape::Child(_) | Shape::MultiSelect(_))
                    })
            };
            if columns.is_empty() || !columns.iter().all(scalar) {
                problems.push(format!(
                    "{name}: index {index} names a missing or non-scalar property or system column"
                ));
            }
        }
        for count in schema["x-jingxi"]["dailyCounts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let shape = |column: &str| {
                table
                    .properties
                    .iter()
                    .find(|(name, _)| name == column)
                    .map(|(_, shape)| shape)
            };
            let day = count["day"].as_str().unwrap_or_default();
            if !matches!(shape(day), Some(Shape::Date | Shape::DateTime)) {
                problems.push(format!(
                    "{name}: daily count {count} does not count by a date or date-time property"
                ));
            }
            let countable = |column: &str| {
                column == "state"
                    || matches!(
                        shape(column),
                        Some(
                            Shape::Text { .. }
                                | Shape::Enum(_)
                                | Shape::Date
                                | Shape::Integer { .. }
                                | Shape::Boolean
                                | Shape::Ref(_)
                        )
                    )
            };
            if !count["by"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|column| column.as_str().is_some_and(countable))
            {
                problems.push(format!(
                    "{name}: daily count {count} keeps apart a missing property or one that is not text, a date, an integer, a boolean or a reference"
                ));
            }
        }
        Entity {
            name: name.to_string(),
            table,
            problems,
        }
    }

    /// Validates `document` like the kernel would, as `<pointer>: <reason>` lines; an `.err` file
    /// of an invalid example holds one of these lines.
    ///
    /// ```
    /// use std::collections::BTreeSet;
    ///
    /// use jingxi_sdk::{json, testing::Entity};
    ///
    /// let schema = json!({"type": "object", "required": ["done"], "properties": {
    ///     "done": {"type": "boolean", "title": "完成"},
    ///     "due": {"type": "string", "format": "date", "title": "截止日期"},
    /// }});
    /// let entity = Entity::read("task", &schema, &json!({}), &BTreeSet::new());
    /// assert!(entity.validate(&json!({"done": true, "due": "2025-07-09"})).is_empty());
    /// assert_eq!(
    ///     entity.validate(&json!({"due": "2025-02-29"})),
    ///     ["/done: required property missing", "/due: not a valid date"]
    /// );
    /// ```
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
                Shape::Date if Date::parse(text).is_none() => error("not a valid date"),
                Shape::DateTime if Instant::parse(text).is_none() => error("not a valid date-time"),
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

    use super::{Entity, Shape, is_decimal, is_identifier, is_uuid, validate_value};
    use crate::testing::workspace_manifest_schema;

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
            "x-jingxi": {"i18n": {"en": {"title": "Test"}}, "prefix": "TST", "titleField": "title",
                "indexes": [["name", "state"], ["lines"], ["tenant_id"]],
                "dailyCounts": [{"day": "name", "by": []}, {"day": "missing", "by": ["price"]}]}
        });
        let known_refs: BTreeSet<String> = ["kernel.user".to_string()].into();
        let problems =
            Entity::read("test", &schema, &workspace_manifest_schema(), &known_refs).problems;
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
            r#"test: index ["lines"] names a missing or non-scalar property or system column"#,
            r#"test: index ["tenant_id"] names a missing or non-scalar property or system column"#,
            r#"test: daily count {"day":"name","by":[]} does not count by a date or date-time property"#,
            r#"test: daily count {"day":"missing","by":["price"]} keeps apart a missing property or one that is not text, a date, an integer, a boolean or a reference"#,
        ] {
            assert!(
                problems.iter().any(|problem| problem == expected),
                "missing {expected:?} in {problems:#?}"
            );
        }
        assert!(
            !problems.iter().any(|problem| problem.contains("state")),
            "system columns may be indexed: {problems:#?}"
        );
    }

    #[test]
    fn recognises_the_formats_examples_use() {
        assert!(
            is_decimal("3999.00", 16, 2)
                && is_decimal("-1", 16, 2)
                && !is_decimal("1.005", 16, 2)
                && !is_decimal("1.", 16, 2)
        );
        let is = |shape: Shape, text: &str| {
            let mut errors = Vec::new();
            validate_value(&shape, "", &json!(text), &mut errors);
            errors.is_empty()
        };
        let is_date = |text| is(Shape::Date, text);
        let is_date_time = |text| is(Shape::DateTime, text);
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
