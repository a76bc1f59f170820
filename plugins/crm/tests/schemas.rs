//! Native checks of the crm manifest, its entity schemas and their example documents.

use jingxi_plugin_crm::Crm;
use jingxi_sdk::{Context, Plugin, Value, json, testing::PluginSchemas};

fn schemas() -> PluginSchemas {
    PluginSchemas::load::<Crm>(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn manifest_has_id_version_contract_and_entities() {
    let schemas = schemas();
    let manifest = schemas.manifest();
    assert_eq!(manifest["id"], "crm");
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["contract"], jingxi_sdk::CONTRACT_VERSION);
    assert_eq!(manifest["requires"], json!(["org"]));
    assert_eq!(
        manifest["hooks"],
        json!(["validate", "compute", "on-transition"])
    );
    assert_eq!(
        schemas.entity_names(),
        ["customer", "visit_record", "complaint"]
    );
}

/// The manifest schema, the dialect, the schema files and the valid and invalid examples; a
/// reference may name the org plugin's entities, which crm requires.
#[test]
fn schemas_and_examples_pass_the_sdk_checks() {
    schemas().check();
}

#[test]
fn roles_are_those_of_the_org_catalogue() {
    let org: Value = serde_json::from_str(include_str!("../../org/plugin.json"))
        .expect("org plugin.json is JSON");
    let catalogue = org["roles"].as_array().expect("list");
    for role in schemas().manifest()["roles"].as_array().expect("list") {
        assert!(
            catalogue.contains(role),
            "{role} differs from the org catalogue"
        );
    }
}

#[test]
fn only_computed_fields_are_filled_by_compute() {
    let schemas = schemas();
    let customer = schemas.entity("customer").expect("customer");
    let schema = &schemas.manifest()["entities"][0]["schema"];
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
fn computes_archive_completeness_of_the_examples() {
    let mut complete = Vec::new();
    for example in schemas()
        .examples("valid")
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
