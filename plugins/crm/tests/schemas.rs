//! Native checks of the crm manifest, its entity schemas and their example documents.

#[path = "../../org/tests/dialect/check.rs"]
mod check;

use std::collections::BTreeSet;

use check::Entity;
use jingxi_plugin_crm::Crm;
use jingxi_sdk::{Context, Plugin, Value, json};

const PLUGIN: &str = "crm";

fn manifest() -> Value {
    Crm::manifest().to_value()
}

fn entities() -> Vec<Entity> {
    let manifest = manifest();
    let manifest_schema = check::manifest_schema();
    let mut known_refs: BTreeSet<String> =
        ["kernel.user", "kernel.org_unit"].map(String::from).into();
    for plugin in ["org", PLUGIN] {
        known_refs.extend(
            check::schema_files(plugin)
                .into_iter()
                .map(|name| format!("{plugin}.{name}")),
        );
    }
    manifest["entities"]
        .as_array()
        .expect("entities is a list")
        .iter()
        .map(|entity| {
            Entity::read(
                entity["name"].as_str().expect("name"),
                &entity["schema"],
                &manifest_schema,
                &known_refs,
            )
        })
        .collect()
}

#[test]
fn manifest_has_id_version_contract_and_entities() {
    let manifest = manifest();
    assert_eq!(manifest["id"], PLUGIN);
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["contract"], jingxi_sdk::CONTRACT_VERSION);
    assert_eq!(manifest["requires"], json!(["org"]));
    assert_eq!(manifest["hooks"], json!(["validate", "compute"]));
    let names: Vec<&str> = manifest["entities"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["customer", "visit_record", "complaint"]);
}

#[test]
fn manifest_follows_the_manifest_schema() {
    let problems = check::manifest_problems(&manifest(), &check::manifest_schema());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn manifest_declares_every_schema_file() {
    let declared: BTreeSet<String> = entities().into_iter().map(|entity| entity.name).collect();
    assert_eq!(declared, check::schema_files(PLUGIN));
}

#[test]
fn every_entity_schema_uses_the_dialect() {
    let problems: Vec<String> = entities()
        .into_iter()
        .flat_map(|entity| entity.problems)
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn roles_are_those_of_the_org_catalogue() {
    let org: Value = serde_json::from_str(include_str!("../../org/plugin.json"))
        .expect("org plugin.json is JSON");
    let catalogue = org["roles"].as_array().expect("list");
    for role in manifest()["roles"].as_array().expect("list") {
        assert!(
            catalogue.contains(role),
            "{role} differs from the org catalogue"
        );
    }
}

#[test]
fn only_computed_fields_are_filled_by_compute() {
    let customer = entities()
        .into_iter()
        .find(|entity| entity.name == "customer")
        .expect("customer");
    let schema = &manifest()["entities"][0]["schema"];
    let computed: Vec<&String> = customer
        .table
        .properties
        .iter()
        .map(|(name, _)| name)
        .filter(|name| schema["properties"][name.as_str()]["x-jingxi"]["computed"] == true)
        .collect();
    assert_eq!(computed, ["archive_complete"]);
}

#[test]
fn valid_examples_pass() {
    let entities = entities();
    let examples = check::examples(PLUGIN, "valid");
    for entity in &entities {
        let n_examples = examples
            .iter()
            .filter(|example| example.entity == entity.name)
            .count();
        assert!(
            n_examples >= 2,
            "{} has {n_examples} valid examples",
            entity.name
        );
    }
    for example in examples {
        let entity = entities
            .iter()
            .find(|entity| entity.name == example.entity)
            .expect("example names an entity");
        let errors = entity.validate(&example.document);
        assert!(errors.is_empty(), "{}: {errors:#?}", example.path.display());
        let hook_errors = Crm::validate(
            &Context::for_test(),
            &entity.name,
            &jingxi_sdk::record(example.document),
        );
        assert!(
            hook_errors.is_empty(),
            "{}: {hook_errors:#?}",
            example.path.display()
        );
    }
}

#[test]
fn invalid_examples_fail_as_their_err_files_say() {
    let entities = entities();
    let examples = check::examples(PLUGIN, "invalid");
    assert!(!examples.is_empty());
    for example in examples {
        let entity = entities
            .iter()
            .find(|entity| entity.name == example.entity)
            .expect("example names an entity");
        let expected = example
            .expected_error
            .unwrap_or_else(|| panic!("{} has no .err file", example.path.display()));
        let errors = entity.validate(&example.document);
        assert!(
            errors.contains(&expected),
            "{}: expected {expected:?}, got {errors:#?}",
            example.path.display()
        );
    }
}

#[test]
fn computes_archive_completeness_of_the_examples() {
    let mut complete = Vec::new();
    for example in check::examples(PLUGIN, "valid")
        .into_iter()
        .filter(|example| example.entity == "customer")
    {
        let mut record = jingxi_sdk::record(example.document);
        Crm::compute(&Context::for_test(), "customer", &mut record).expect("compute succeeds");
        let name = example
            .path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .expect("name")
            .to_string();
        complete.push((name, record["archive_complete"].clone()));
    }
    assert_eq!(
        complete,
        [
            ("customer-hengda".to_string(), json!(true)),
            ("customer-individual".to_string(), json!(false)),
            ("customer-mingyuan".to_string(), json!(true)),
        ]
    );
}
