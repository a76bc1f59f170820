//! Property tests of record validation against the real crm entity schemas: arbitrary JSON never
//! makes `EntityDef::check` panic, and every issue names a JSON Pointer into the submitted record
//! with a message in both languages.
//!
//! Case count: 1,024 per property, or `PROPTEST_CASES`.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use jingxi_kernel::model::{EntityDef, FieldIssue, Locale};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Number, Value, json};

fn crm_schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/crm")
}

/// One crm entity with its valid example records.
struct Crm {
    entity: EntityDef,
    examples: Vec<Value>,
    /// Top-level property names, then child-table field names.
    names: Vec<String>,
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// The entity an example belongs to: `customer-hengda.json` → `customer`.
fn example_entity(path: &Path) -> String {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    stem.split('-').next().unwrap_or_default().to_string()
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().and_then(|e| e.to_str()) == Some(extension))
        .collect();
    files.sort();
    files
}

static CRM: LazyLock<Vec<Crm>> = LazyLock::new(|| {
    let dir = crm_schemas();
    let examples: Vec<PathBuf> = files(&dir.join("examples/valid"), "json");
    let mut entities = Vec::new();
    for path in files(&dir, "json") {
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some(name) = file.strip_suffix(".schema.json") else {
            continue;
        };
        let schema = read_json(&path);
        let mut names: Vec<String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        for property in schema["properties"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
        {
            if let Some(items) = property
                .pointer("/items/properties")
                .and_then(Value::as_object)
            {
                names.extend(items.keys().cloned());
            }
        }
        let entity = EntityDef::new("crm", name, schema)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let examples: Vec<Value> = examples
            .iter()
            .filter(|example| example_entity(example) == name)
            .map(|example| read_json(example))
            .collect();
        assert!(!examples.is_empty(), "no valid example for crm.{name}");
        entities.push(Crm {
            entity,
            examples,
            names,
        });
    }
    assert!(
        entities.len() >= 3,
        "expected the crm schemas under {}",
        dir.display()
    );
    entities
});

/// 1,024 cases per property (a second or two), or `PROPTEST_CASES`; no regression files are
/// written into the source tree.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_024);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

const HOSTILE: &[&str] = &[
    "' OR '1'='1",
    "'; DROP TABLE tenant; --",
    "\") OR 1=1 --",
    "%' --",
    "\\'; --",
    "a\\",
    "nul\0byte",
    "’ OR ‘1’=‘1",
    "＇ OR 1=1 --",
    "/~0~1/",
    "",
    " ",
    "NaN",
    "Infinity",
    "-0",
    "1e308",
    "99999999999999999999999",
    "1234567890123456.78",
    "12345678901234567.89",
    "0.001",
    "2026-02-30",
    "2026-11-27",
    "+275760-09-13",
    "2026-11-27T09:30:00",
    "2026-11-27T09:30:00+08:00",
    "9999-12-31T23:59:59.999999999+14:00",
    "00000000-0000-0000-0000-000000000000",
    "61090066-c6a6-47f6-a4a1-b536aa35fe0c",
];

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(HOSTILE).prop_map(str::to_string),
        2 => "\\PC{0,40}",
        2 => any::<String>(),
        1 => (0usize..20_000, prop::sample::select(&["x", "客", "'", "\\", "\0"][..]))
            .prop_map(|(n, unit)| unit.repeat(n)),
        1 => "-?[0-9]{1,30}(\\.[0-9]{0,6})?",
        1 => "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?)?",
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        prop::sample::select(vec![
            json!(1e308),
            json!(-1e308),
            json!(-0.0),
            json!(f64::MIN_POSITIVE),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(0),
            json!(1.5),
            json!(5),
            json!(6),
        ]),
    ]
}

fn key() -> impl Strategy<Value = String> {
    let known: Vec<String> = CRM.iter().flat_map(|c| c.names.clone()).collect();
    prop_oneof![
        3 => prop::sample::select(known),
        1 => hostile_string(),
        1 => prop::sample::select(&["id", "tenant_id", "version", "state", "owner_id", "__proto__", "$ref"][..])
            .prop_map(str::to_string),
    ]
}

/// Any JSON value: scalars of every type, hostile strings, huge numbers, nested arrays/objects.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A change to a valid example record.
#[derive(Debug, Clone)]
enum Change {
    Remove(String),
    Set(String, Value),
    /// Sets a key inside the n-th item of an array property (child rows, multi-selects).
    SetInItem(String, usize, String, Value),
    ReplaceItem(String, usize, Value),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        key().prop_map(Change::Remove),
        (key(), json_value()).prop_map(|(k, v)| Change::Set(k, v)),
        (key(), 0usize..4, key(), json_value())
            .prop_map(|(a, i, k, v)| Change::SetInItem(a, i, k, v)),
        (key(), 0usize..4, json_value()).prop_map(|(a, i, v)| Change::ReplaceItem(a, i, v)),
    ]
}

fn apply(record: &mut Value, change: &Change) {
    let Some(map) = record.as_object_mut() else {
        return;
    };
    match change {
        Change::Remove(k) => {
            map.remove(k);
        }
        Change::Set(k, v) => {
            map.insert(k.clone(), v.clone());
        }
        Change::SetInItem(array, index, k, v) => {
            if let Some(Value::Object(item)) = map
                .get_mut(array)
                .and_then(Value::as_array_mut)
                .and_then(|items| items.get_mut(*index))
            {
                item.insert(k.clone(), v.clone());
            }
        }
        Change::ReplaceItem(array, index, v) => {
            if let Some(items) = map.get_mut(array).and_then(Value::as_array_mut) {
                if let Some(item) = items.get_mut(*index) {
                    *item = v.clone();
                } else {
                    items.push(v.clone());
                }
            }
        }
    }
}

/// A record to validate: a valid example with random changes, or arbitrary JSON.
fn record() -> impl Strategy<Value = (usize, Value)> {
    let entities = CRM.len();
    prop_oneof![
        4 => (0..entities, any::<prop::sample::Index>(), prop::collection::vec(change(), 0..6))
            .prop_map(|(e, example, changes)| {
                let examples = &CRM[e].examples;
                let mut record = examples[example.index(examples.len())].clone();
                for change in &changes {
                    apply(&mut record, change);
                }
                (e, record)
            }),
        1 => (0..entities, json_value()),
    ]
}

/// The properties every answer of `check` has, whatever the record.
fn assert_well_formed(entity: &EntityDef, record: &Value) -> Result<(), TestCaseError> {
    let zh: Vec<FieldIssue> = entity.check(record, Locale::ZhCn);
    let en: Vec<FieldIssue> = entity.check(record, Locale::En);
    prop_assert_eq!(zh.len(), en.len(), "both languages find the same issues");
    for (zh, en) in zh.iter().zip(&en) {
        prop_assert!(
            zh.pointer.is_empty() || zh.pointer.starts_with('/'),
            "not a JSON Pointer: {:?}",
            zh.pointer
        );
        prop_assert_eq!(&zh.pointer, &en.pointer);
        prop_assert_eq!(&zh.code, &en.code);
        prop_assert!(!zh.code.is_empty(), "an issue without a code: {:?}", zh);
        prop_assert!(
            !zh.message.trim().is_empty(),
            "no Chinese message: {:?}",
            zh
        );
        prop_assert!(
            !en.message.trim().is_empty(),
            "no English message: {:?}",
            en
        );
        // The pointer names the bad value; for a missing property, the object it is missing from.
        let target = if zh.code == "required" {
            zh.pointer
                .rsplit_once('/')
                .map(|(parent, _)| parent)
                .unwrap_or("")
        } else {
            zh.pointer.as_str()
        };
        prop_assert!(
            record.pointer(target).is_some(),
            "{:?} points at nothing in the record",
            zh
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn check_never_panics_and_every_issue_has_a_pointer_and_messages(
        (index, record) in record()
    ) {
        assert_well_formed(&CRM[index].entity, &record)?;
    }

    #[test]
    fn a_value_of_the_wrong_json_type_is_reported_at_its_field(
        e in 0..CRM.len(),
        example in any::<prop::sample::Index>(),
        field in any::<prop::sample::Index>(),
        wrong in json_value(),
    ) {
        let crm = &CRM[e];
        let mut record = crm.examples[example.index(crm.examples.len())].clone();
        let properties = crm.entity.schema["properties"].as_object().expect("properties");
        let (name, property) = properties
            .iter()
            .nth(field.index(properties.len()))
            .expect("a property");
        let declared = property["type"].as_str().unwrap_or_default();
        let matches = match declared {
            "string" => wrong.is_string(),
            "integer" => wrong.as_f64().is_some_and(|f| f.fract() == 0.0),
            "number" => wrong.is_number(),
            "boolean" => wrong.is_boolean(),
            "array" => wrong.is_array(),
            "object" => wrong.is_object(),
            _ => true,
        };
        prop_assume!(!matches);
        record[name.as_str()] = wrong;
        assert_well_formed(&crm.entity, &record)?;
        let pointer = format!("/{name}");
        let issues = crm.entity.check(&record, Locale::En);
        prop_assert!(
            issues.iter().any(|issue| issue.pointer == pointer),
            "a {} field holding a value of another type was accepted: {:?}",
            declared,
            issues
        );
    }

    #[test]
    fn an_unknown_field_is_reported(
        e in 0..CRM.len(),
        example in any::<prop::sample::Index>(),
        name in hostile_string(),
        value in json_value(),
    ) {
        let crm = &CRM[e];
        prop_assume!(!crm.entity.schema["properties"]
            .as_object()
            .is_some_and(|p| p.contains_key(&name)));
        let mut record = crm.examples[example.index(crm.examples.len())].clone();
        record[name.as_str()] = value;
        assert_well_formed(&crm.entity, &record)?;
        let issues = crm.entity.check(&record, Locale::En);
        prop_assert!(
            issues.iter().any(|issue| issue.code == "unknown_field" && issue.pointer.is_empty()),
            "an unknown field was accepted: {:?}",
            issues
        );
    }
}

#[test]
fn every_valid_example_passes() {
    for crm in CRM.iter() {
        for example in &crm.examples {
            for locale in [Locale::ZhCn, Locale::En] {
                let issues = crm.entity.check(example, locale);
                assert!(
                    issues.is_empty(),
                    "{}: {issues:#?}\n{example:#}",
                    crm.entity.qualified
                );
            }
        }
    }
}

#[test]
fn every_invalid_example_is_refused_at_the_pointer_its_err_file_names() {
    let dir = crm_schemas().join("examples/invalid");
    let mut seen = 0;
    for path in files(&dir, "json") {
        let name = example_entity(&path);
        let crm = CRM
            .iter()
            .find(|c| c.entity.name == name)
            .unwrap_or_else(|| panic!("{}: no schema crm.{name}", path.display()));
        let expected = std::fs::read_to_string(path.with_extension("err"))
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let record = read_json(&path);
        let issues = crm.entity.check(&record, Locale::En);
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            let pointer = line.split(':').next().unwrap_or_default().trim();
            assert!(
                issues.iter().any(|issue| issue.pointer == pointer),
                "{}: expected an issue at {pointer}, got {issues:#?}",
                path.display()
            );
        }
        seen += 1;
    }
    assert!(seen > 0, "no invalid examples under {}", dir.display());
}

#[test]
fn records_that_are_not_objects_are_refused_at_the_root() {
    for crm in CRM.iter() {
        for record in [
            json!(null),
            json!([]),
            json!("'; DROP TABLE tenant; --"),
            json!(1e308),
            json!(true),
        ] {
            let issues = crm.entity.check(&record, Locale::En);
            assert!(
                issues.iter().any(|i| i.pointer.is_empty()),
                "{}: {record} gave {issues:?}",
                crm.entity.qualified
            );
        }
    }
}
