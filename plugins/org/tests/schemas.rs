//! Native checks of the org manifest, its entity schemas and their example documents.

use jingxi_plugin_org::Org;
use jingxi_sdk::{
    json,
    testing::{PluginSchemas, Shape},
};

fn schemas() -> PluginSchemas {
    PluginSchemas::load::<Org>(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn manifest_has_id_version_contract_and_entities() {
    let schemas = schemas();
    let manifest = schemas.manifest();
    assert_eq!(manifest["id"], "org");
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["contract"], jingxi_sdk::CONTRACT_VERSION);
    assert_eq!(manifest["hooks"], json!(["validate"]));
    assert_eq!(
        schemas.entity_names(),
        ["region", "product", "position", "department"]
    );
}

/// The manifest schema, the dialect, the schema files and the valid and invalid examples.
#[test]
fn schemas_and_examples_pass_the_sdk_checks() {
    schemas().check();
}

#[test]
fn position_roles_are_the_role_catalogue() {
    let schemas = schemas();
    let roles: Vec<String> = schemas.manifest()["roles"]
        .as_array()
        .expect("list")
        .iter()
        .map(|role| role["id"].as_str().expect("id").to_string())
        .collect();
    let position = schemas.entity("position").expect("position is declared");
    let Some(Shape::Enum(values)) = position.table.property("role") else {
        panic!("position.role is a single select");
    };
    assert_eq!(values, &roles);
    assert_eq!(roles.len(), 99);
}

#[test]
fn marketing_roles_read_products_and_regions() {
    let schemas = schemas();
    let manifest = schemas.manifest();
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
