//! The `org` plugin: marketing organization master data and the role catalogue (chapter 1).

mod rules;

use jingxi_sdk::{Context, FieldError, Manifest, Plugin, Record};

/// The `org` plugin.
pub struct Org;

impl Plugin for Org {
    fn manifest() -> Manifest {
        Manifest::new(include_str!("../plugin.json"))
            .version(env!("CARGO_PKG_VERSION"))
            .entity(
                "region",
                include_str!("../../../schemas/org/region.schema.json"),
            )
            .entity(
                "product",
                include_str!("../../../schemas/org/product.schema.json"),
            )
            .entity(
                "position",
                include_str!("../../../schemas/org/position.schema.json"),
            )
            .entity(
                "department",
                include_str!("../../../schemas/org/department.schema.json"),
            )
    }

    fn validate(ctx: &Context, entity: &str, record: &Record) -> Vec<FieldError> {
        rules::validate(ctx, entity, record)
    }
}

jingxi_sdk::register_plugin!(Org);
