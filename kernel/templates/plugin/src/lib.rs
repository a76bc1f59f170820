//! The `{{id}}` plugin: {{title_en}}.
//!
//! This file is only glue. The manifest is `plugin.json` plus the entity schemas, which live in
//! `{{schemas}}/`.
//! Each hook hands over to a plain module, so that the rules and their unit tests run natively
//! under `cargo test`.

mod rules;

use jingxi_sdk::{Context, FieldError, Manifest, Plugin, Record};

/// The `{{id}}` plugin.
pub struct {{type_name}};

impl Plugin for {{type_name}} {
    fn manifest() -> Manifest {
        Manifest::new(include_str!("../plugin.json"))
            .version(env!("CARGO_PKG_VERSION"))
            .entity(
                "task",
                include_str!("../{{schemas}}/task.schema.json"),
            )
    }

    fn validate(ctx: &Context, entity: &str, record: &Record) -> Vec<FieldError> {
        rules::validate(ctx, entity, record)
    }
}

jingxi_sdk::register_plugin!({{type_name}});
