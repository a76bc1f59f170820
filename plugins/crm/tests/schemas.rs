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
        json!(["validate", "compute", "on-transition", "kpi"])
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
    let computed = |entity_idx: usize, name: &str| -> Vec<String> {
        let entity = schemas.entity(name).expect("declared");
        let schema = &schemas.manifest()["entities"][entity_idx]["schema"];
        entity
            .table
            .properties
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| schema["properties"][name.as_str()]["x-jingxi"]["computed"] == true)
            .collect()
    };
    assert_eq!(computed(0, "customer"), ["archive_complete"]);
    assert_eq!(
        computed(2, "complaint"),
        ["accepted_in_time", "resolved_in_time"]
    );
    for example in schemas
        .examples("valid")
        .into_iter()
        .filter(|example| example.entity == "complaint")
    {
        let mut record = jingxi_sdk::record(example.document);
        let before = record.clone();
        Crm::compute(&Context::for_test(), "complaint", &mut record).expect("compute succeeds");
        record.remove("accepted_in_time");
        record.remove("resolved_in_time");
        assert_eq!(record, before, "{}", example.path.display());
    }
}

#[test]
fn declares_the_chapters_kpis() {
    let schemas = schemas();
    let kpis: Vec<(&str, &str, &str)> = schemas.manifest()["kpis"]
        .as_array()
        .expect("kpis")
        .iter()
        .map(|kpi| {
            (
                kpi["id"].as_str().expect("id"),
                kpi["title"].as_str().expect("title"),
                kpi["unit"].as_str().expect("unit"),
            )
        })
        .collect();
    assert_eq!(
        kpis,
        [
            (
                "complaint_accept_timeliness",
                "客户投诉受理及时率",
                "percent"
            ),
            (
                "complaint_resolve_timeliness",
                "客户投诉处理及时率",
                "percent"
            ),
            ("customer_satisfaction", "客户满意度", "score"),
        ]
    );
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
