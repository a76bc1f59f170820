//! Rules of the crm entities that a JSON Schema cannot state, one module per entity.

mod complaint;
mod customer;
mod visit_record;

use jingxi_sdk::{Context, FieldError, Record};

use crate::{decimal::Amount, fields};

/// Checks one record of `entity` (`customer` or `crm.customer`); unknown entities pass.
pub fn validate(ctx: &Context, entity: &str, record: &Record) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match entity.strip_prefix("crm.").unwrap_or(entity) {
        "customer" => customer::validate(ctx, record, &mut errors),
        "visit_record" => visit_record::validate(ctx, record, &mut errors),
        "complaint" => complaint::validate(ctx, record, &mut errors),
        _ => {}
    }
    errors
}

/// Reports each of `names` that holds only whitespace; the schema cannot say "not blank".
fn not_blank(ctx: &Context, record: &Record, names: &[&str], errors: &mut Vec<FieldError>) {
    for name in names {
        if fields::is_blank(record, name) {
            errors.push(FieldError::new(
                format!("/{name}"),
                "blank",
                ctx.text("此项不能只包含空白字符。", "This field must not be blank."),
            ));
        }
    }
}

/// Reads the money field `name`; a missing or malformed value (the schema's concern) is `None`.
fn amount(record: &Record, name: &str) -> Option<Amount> {
    fields::text(record, name).and_then(Amount::parse)
}

/// Reports each money field of `names` that is below zero.
fn not_negative(ctx: &Context, record: &Record, names: &[&str], errors: &mut Vec<FieldError>) {
    for name in names {
        if amount(record, name).is_some_and(Amount::is_negative) {
            errors.push(FieldError::new(
                format!("/{name}"),
                "negative_amount",
                ctx.text("金额不能为负数。", "The amount must not be negative."),
            ));
        }
    }
}

#[cfg(test)]
mod test_support {
    use jingxi_sdk::{Context, Value};

    /// Applies `patch` to `base` key by key (a `null` removes the key), runs the rules of `entity`
    /// and compares the `(pointer, code)` pairs with `expect`.
    #[track_caller]
    pub fn check(entity: &str, base: Value, patch: Value, expect: &[(&str, &str)]) {
        let mut record = jingxi_sdk::record(base);
        for (key, value) in jingxi_sdk::record(patch) {
            if value.is_null() {
                record.remove(&key);
            } else {
                record.insert(key, value);
            }
        }
        let errors = super::validate(&Context::for_test(), entity, &record);
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|error| (error.pointer.as_str(), error.code.as_str()))
            .collect();
        assert_eq!(got, expect);
    }
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
