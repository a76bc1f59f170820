//! The Jingxi plugin SDK: implement [`Plugin`], call [`register_plugin!`], build for `wasm32-wasip2`.
//!
//! A plugin is one chapter of business logic: the JSON Schemas of its forms (embedded with
//! [`Manifest::entity`]), the rules a schema cannot state ([`Plugin::validate`]), computed fields,
//! workflow effects and KPIs. The kernel stores the records, checks permissions and serves the API;
//! the plugin only answers questions about records it is shown.
//!
//! ```
//! use jingxi_sdk::{Context, FieldError, Manifest, Plugin, Record};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn manifest() -> Manifest {
//!         Manifest::new(r#"{"id": "hello", "title": "你好", "hooks": ["validate"]}"#)
//!             .entity("greeting", r#"{"type": "object", "title": "问候",
//!                 "properties": {"text": {"type": "string", "title": "内容"}}}"#)
//!     }
//!
//!     fn validate(ctx: &Context, _entity: &str, record: &Record) -> Vec<FieldError> {
//!         match record.get("text").and_then(|v| v.as_str()) {
//!             Some(text) if text.trim().is_empty() => vec![FieldError::new(
//!                 "/text",
//!                 "blank",
//!                 ctx.text("内容不能为空白。", "The text must not be blank."),
//!             )],
//!             _ => Vec::new(),
//!         }
//!     }
//! }
//!
//! // In a plugin crate: `jingxi_sdk::register_plugin!(Hello);`
//! let ctx = Context::for_test();
//! let record = jingxi_sdk::record(serde_json::json!({"text": "  "}));
//! assert_eq!(Hello::validate(&ctx, "greeting", &record)[0].code, "blank");
//! ```
//!
//! Rules read fields through [`RecordExt`], which turns money, decimal, date and date-time strings
//! into the exact [`values`], and collect their errors in [`FieldErrors`]. The [`testing`] module
//! checks a plugin's schemas and example documents in its native tests.
#![deny(missing_docs)]

mod fields;
mod manifest;
pub mod query;
mod rules;
pub mod testing;
mod types;
pub mod values;

pub use fields::RecordExt;
pub use manifest::Manifest;
pub use rules::FieldErrors;
pub use serde_json::{self, Value, json};
pub use types::{Context, Effect, EffectKind, FieldError, HookError, Record, record};

/// The version of the WIT contract (`jingxi:plugin`) this SDK builds against.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The business logic of one plugin. Every hook but [`Plugin::manifest`] has a default, so a
/// plugin implements only what it needs and lists those hooks in its manifest's `hooks`.
pub trait Plugin {
    /// The manifest: id, titles, requirements, roles, grants and the entity schemas.
    fn manifest() -> Manifest;

    /// Rules a JSON Schema cannot state, for one record that already passed schema validation.
    /// Return one [`FieldError`] per problem; an empty list accepts the record.
    fn validate(ctx: &Context, entity: &str, record: &Record) -> Vec<FieldError> {
        let _ = (ctx, entity, record);
        Vec::new()
    }

    /// Fills the fields marked `x-jingxi.computed` in place.
    fn compute(ctx: &Context, entity: &str, record: &mut Record) -> Result<(), HookError> {
        let _ = (ctx, entity, record);
        Ok(())
    }

    /// Effects of taking a workflow transition, applied by the kernel in the same transaction.
    fn on_transition(
        ctx: &Context,
        entity: &str,
        transition: &str,
        record: &Record,
        comment: &str,
    ) -> Result<Vec<Effect>, HookError> {
        let _ = (ctx, entity, transition, record, comment);
        Ok(Vec::new())
    }

    /// Computes the KPI `id` (as the manifest's `kpis` declares it) over the period in `params`,
    /// `{"id": "…", "from": "2025-03-01", "to": "2025-03-31"}` (both days included). Answer
    /// `{"value": …, "numerator": …, "denominator": …}`, each a decimal string, a number or
    /// null; count with [`query::count_by`] and aggregate with [`query::aggregate`] rather than
    /// reading records.
    fn kpi(ctx: &Context, id: &str, params: &Value) -> Result<Value, HookError> {
        let _ = (ctx, id, params);
        Err(HookError::Unsupported)
    }
}

/// Exports a [`Plugin`] implementation as the component's `jingxi:plugin/hooks` interface.
///
/// Call it once, at the root of the plugin crate: `jingxi_sdk::register_plugin!(Crm);`
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        #[cfg(target_family = "wasm")]
        const _: () = {
            struct JingxiComponent;
            impl $crate::__private::Guest for JingxiComponent {
                fn describe() -> ::std::string::String {
                    $crate::__private::describe::<$plugin>()
                }
                fn validate(
                    ctx: $crate::__private::WitContext,
                    entity: ::std::string::String,
                    records: ::std::vec::Vec<::std::string::String>,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<::std::vec::Vec<$crate::__private::WitFieldError>>,
                    $crate::__private::WitHookError,
                > {
                    $crate::__private::validate::<$plugin>(ctx, entity, records)
                }
                fn compute(
                    ctx: $crate::__private::WitContext,
                    entity: ::std::string::String,
                    records: ::std::vec::Vec<::std::string::String>,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<::std::string::String>,
                    $crate::__private::WitHookError,
                > {
                    $crate::__private::compute::<$plugin>(ctx, entity, records)
                }
                fn on_transition(
                    ctx: $crate::__private::WitContext,
                    entity: ::std::string::String,
                    transition: ::std::string::String,
                    record: ::std::string::String,
                    comment: ::std::string::String,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<$crate::__private::WitEffect>,
                    $crate::__private::WitHookError,
                > {
                    $crate::__private::on_transition::<$plugin>(ctx, entity, transition, record, comment)
                }
                fn kpi(
                    ctx: $crate::__private::WitContext,
                    id: ::std::string::String,
                    params: ::std::string::String,
                ) -> ::std::result::Result<::std::string::String, $crate::__private::WitHookError> {
                    $crate::__private::kpi::<$plugin>(ctx, id, params)
                }
            }
            $crate::__private::bindings::export_component!(JingxiComponent with_types_in $crate::__private::bindings);
        };
        // Outside wasm (native tests, `cargo check`) the plugin type is still used.
        #[cfg(not(target_family = "wasm"))]
        const _: fn() -> $crate::Manifest = <$plugin as $crate::Plugin>::manifest;
    };
}

/// Log lines go to the kernel's log, tagged with the plugin id. Outside wasm (native tests) they
/// go to standard error.
pub mod log {
    /// Writes an informational line.
    pub fn info(message: &str) {
        crate::glue::log(crate::glue::Level::Info, message);
    }
    /// Writes a warning.
    pub fn warn(message: &str) {
        crate::glue::log(crate::glue::Level::Warn, message);
    }
    /// Writes an error line.
    pub fn error(message: &str) {
        crate::glue::log(crate::glue::Level::Error, message);
    }
}

mod glue;

#[doc(hidden)]
pub mod __private {
    pub use crate::glue::*;
}
