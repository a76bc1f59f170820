//! Rules of the crm entities that a JSON Schema cannot state, one module per entity.

mod complaint;
mod customer;
mod visit_record;

use jingxi_sdk::{Context, FieldError, FieldErrors, Record};

/// Checks one record of `entity` (`customer` or `crm.customer`); unknown entities pass.
pub fn validate(ctx: &Context, entity: &str, record: &Record) -> Vec<FieldError> {
    let mut errors = FieldErrors::new(ctx);
    match entity.strip_prefix("crm.").unwrap_or(entity) {
        "customer" => customer::validate(record, &mut errors),
        "visit_record" => visit_record::validate(record, &mut errors),
        "complaint" => complaint::validate(record, &mut errors),
        _ => {}
    }
    errors.into_vec()
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Context, json};

    use super::validate;

    fn late_complaint() -> jingxi_sdk::Record {
        jingxi_sdk::record(
            json!({"customer": "0190a4c2-1d7e-7b3a-9c41-000000000031", "channel": "电话",
            "received_at": "2025-08-02T09:30:00+08:00", "resolved_at": "2025-08-01T18:00:00+08:00",
            "accepted_at": "2025-08-02T09:40:00+08:00", "category": "交货延迟", "severity": "一般",
            "description": "到货延迟。", "accept_sla_hours": 24, "resolve_sla_hours": 72}),
        )
    }

    #[test]
    fn accepts_qualified_entity_names() {
        let ctx = Context::for_test();
        assert_eq!(
            validate(&ctx, "complaint", &late_complaint()),
            validate(&ctx, "crm.complaint", &late_complaint())
        );
        assert_eq!(validate(&ctx, "crm.complaint", &late_complaint()).len(), 1);
    }

    #[test]
    fn passes_unknown_entities() {
        assert!(validate(&Context::for_test(), "crm.call_record", &late_complaint()).is_empty());
    }

    #[test]
    fn speaks_the_callers_locale() {
        let zh = validate(&Context::for_test(), "complaint", &late_complaint());
        let en = validate(
            &Context::for_test().with_locale("en"),
            "complaint",
            &late_complaint(),
        );
        assert_eq!(
            (zh[0].pointer.as_str(), zh[0].code.as_str()),
            ("/resolved_at", "before_received")
        );
        assert_eq!(zh[0].code, en[0].code);
        assert!(zh[0].message.contains("解决时间"), "{}", zh[0].message);
        assert!(en[0].message.contains("resolved"), "{}", en[0].message);
    }
}
