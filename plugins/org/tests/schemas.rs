//! Native checks of the org manifest, its entity schemas and their example documents.

#[path = "dialect/check.rs"]
mod check;

use std::collections::BTreeSet;

use check::{Entity, Shape};
use jingxi_plugin_org::Org;
use jingxi_sdk::{Plugin, Value};

const PLUGIN: &str = "org";

fn manifest() -> Value {
    Org::manifest().to_value()
}

fn entities() -> Vec<Entity> {
    let manifest = manifest();
    let manifest_schema = check::manifest_schema();
    let mut known_refs: BTreeSet<String> =
        ["kernel.user", "kernel.org_unit"].map(String::from).into();
    known_refs.extend(
        check::schema_files(PLUGIN)
            .into_iter()
            .map(|name| format!("{PLUGIN}.{name}")),
    );
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

fn entity(name: &str) -> Entity {
    entities()
        .into_iter()
        .find(|entity| entity.name == name)
        .expect("entity is declared")
}

#[test]
fn manifest_has_id_version_contract_and_entities() {
    let manifest = manifest();
    assert_eq!(manifest["id"], PLUGIN);
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["contract"], jingxi_sdk::CONTRACT_VERSION);
    assert_eq!(manifest["hooks"], jingxi_sdk::json!(["validate"]));
    let names: Vec<&str> = manifest["entities"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["region", "product", "position", "department"]);
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
fn position_roles_are_the_role_catalogue() {
    let roles: Vec<String> = manifest()["roles"]
        .as_array()
        .expect("list")
        .iter()
        .map(|role| role["id"].as_str().expect("id").to_string())
        .collect();
    let position = entity("position");
    let Some((_, Shape::Enum(values))) = position
        .table
        .properties
        .iter()
        .find(|(name, _)| name == "role")
    else {
        panic!("position.role is a single select");
    };
    assert_eq!(values, &roles);
    assert_eq!(roles.len(), 99);
}

#[test]
fn marketing_roles_read_products_and_regions() {
    let manifest = manifest();
    let grants = manifest["grants"].as_array().expect("list");
    for role in manifest["roles"].as_array().expect("list") {
        for entity in ["product", "region"] {
            let reads = grants.iter().any(|grant| {
                grant["role"] == role["id"]
                    && grant["entity"] == entity
                    && grant["scope"] == "all"
                    && grant["actions"]
                        .as_array()
                        .is_some_and(|actions| actions.contains(&"read".into()))
            });
            assert!(reads, "{} cannot read every {entity}", role["id"]);
        }
    }
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
        let hook_errors = Org::validate(
            &jingxi_sdk::Context::for_test(),
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
