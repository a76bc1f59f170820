//! Native checks of the `{{id}}` manifest, its entity schemas and their example documents.

use {{crate_name}}::{{type_name}};
use jingxi_sdk::{json, testing::PluginSchemas};

fn schemas() -> PluginSchemas {
    PluginSchemas::load::<{{type_name}}>(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn manifest_has_id_version_contract_and_entities() {
    let schemas = schemas();
    let manifest = schemas.manifest();
    assert_eq!(manifest["id"], "{{id}}");
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["contract"], jingxi_sdk::CONTRACT_VERSION);
    assert_eq!(manifest["hooks"], json!(["validate"]));
    assert_eq!(schemas.entity_names(), ["task"]);
}

/// The manifest schema, the dialect, the schema files and the valid and invalid examples.
#[test]
fn schemas_and_examples_pass_the_sdk_checks() {
    schemas().check();
}
