//! Rules of the org entities that a JSON Schema cannot state, one module per entity.

mod department;
mod position;
mod product;
mod region;

use jingxi_sdk::{Context, FieldError, FieldErrors, Record, RecordExt};

/// Checks one record of `entity` (`product` or `org.product`); unknown entities pass.
pub fn validate(ctx: &Context, entity: &str, record: &Record) -> Vec<FieldError> {
    let mut errors = FieldErrors::new(ctx);
    match entity.strip_prefix("org.").unwrap_or(entity) {
        "region" => region::validate(record, &mut errors),
        "product" => product::validate(record, &mut errors),
        "position" => position::validate(record, &mut errors),
        "department" => department::validate(record, &mut errors),
        _ => {}
    }
    errors.into_vec()
}

/// Reports a reference that points at the record itself (an existing record carries its `id`).
fn not_self(record: &Record, name: &str, code: &str, errors: &mut FieldErrors) {
    if let (Some(id), Some(target)) = (record.text("id"), record.text(name))
        && id.eq_ignore_ascii_case(target)
    {
        errors.add(
            format!("/{name}"),
            code,
            "不能引用记录自身。",
            "A record must not refer to itself.",
        );
    }
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Context, json};

    use super::validate;

    fn bad_product() -> jingxi_sdk::Record {
        jingxi_sdk::record(
            json!({"code": "P1", "name": "空调", "product_line": "家用空调", "unit": "台",
            "list_price": "100", "dealer_price": "120", "lifecycle": "在售"}),
        )
    }

    #[test]
    fn accepts_qualified_entity_names() {
        let ctx = Context::for_test();
        assert_eq!(
            validate(&ctx, "product", &bad_product()),
            validate(&ctx, "org.product", &bad_product())
        );
        assert_eq!(validate(&ctx, "org.product", &bad_product()).len(), 1);
    }

    #[test]
    fn passes_unknown_entities() {
        assert!(validate(&Context::for_test(), "org.policy", &bad_product()).is_empty());
    }

    #[test]
    fn speaks_the_callers_locale() {
        let zh = validate(&Context::for_test(), "product", &bad_product());
        let en = validate(
            &Context::for_test().with_locale("en"),
            "product",
            &bad_product(),
        );
        assert_eq!(zh[0].code, en[0].code);
        assert!(zh[0].message.contains("经销价"), "{}", zh[0].message);
        assert!(en[0].message.contains("dealer price"), "{}", en[0].message);
    }
}
