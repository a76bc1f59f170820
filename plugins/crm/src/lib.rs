//! The `crm` plugin: customer files, visit records and complaints with their workflow, and the
//! chapter's KPIs (chapter 8).

mod compute;
mod kpi;
mod rules;
mod workflow;

use jingxi_sdk::{Context, Effect, FieldError, HookError, Manifest, Plugin, Record, Value};

/// The `crm` plugin.
pub struct Crm;

impl Plugin for Crm {
    fn manifest() -> Manifest {
        Manifest::new(include_str!("../plugin.json"))
            .version(env!("CARGO_PKG_VERSION"))
            .entity(
                "customer",
                include_str!("../../../schemas/crm/customer.schema.json"),
            )
            .entity(
                "visit_record",
                include_str!("../../../schemas/crm/visit_record.schema.json"),
            )
            .entity(
                "complaint",
                include_str!("../../../schemas/crm/complaint.schema.json"),
            )
    }

    fn validate(ctx: &Context, entity: &str, record: &Record) -> Vec<FieldError> {
        rules::validate(ctx, entity, record)
    }

    fn compute(ctx: &Context, entity: &str, record: &mut Record) -> Result<(), HookError> {
        compute::compute(ctx, entity, record);
        Ok(())
    }

    fn on_transition(
        ctx: &Context,
        entity: &str,
        transition: &str,
        record: &Record,
        comment: &str,
    ) -> Result<Vec<Effect>, HookError> {
        workflow::on_transition(ctx, entity, transition, record, comment)
    }

    fn kpi(_ctx: &Context, id: &str, params: &Value) -> Result<Value, HookError> {
        kpi::kpi(id, params)
    }
}

jingxi_sdk::register_plugin!(Crm);
