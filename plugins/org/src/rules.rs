//! Rules of the org entities that a JSON Schema cannot state, one module per entity.

mod department;
mod position;
mod product;
mod region;

use jingxi_sdk::{Context, FieldError, Record};

use crate::{decimal::Amount, fields};

/// Checks one record of `entity` (`product` or `org.product`); unknown entities pass.
pub fn validate(ctx: &Context, entity: &str, record: &Record) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match entity.strip_prefix("org.").unwrap_or(entity) {
        "region" => region::validate(ctx, record, &mut errors),
        "product" => product::validate(ctx, record, &mut errors),
        "position" => position::validate(ctx, record, &mut errors),
        "department" => department::validate(ctx, record, &mut errors),
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

/// Reports a reference that points at the record itself (an existing record carries its `id`).
fn not_self(ctx: &Context, record: &Record, name: &str, code: &str, errors: &mut Vec<FieldError>) {
    if let (Some(id), Some(target)) = (fields::text(record, "id"), fields::text(record, name))
        && id.eq_ignore_ascii_case(target)
    {
        errors.push(FieldError::new(
            format!("/{name}"),
            code,
            ctx.text("不能引用记录自身。", "A record must not refer to itself."),
        ));
    }
}

#[cfg(test)]
mod test_support {
    use jingxi_sdk::{Context, Value};

    /// Applies `patch` to `base` key by key (a `null` removes the key) and runs the rules of
    /// `entity`, returning `(pointer, code)` pairs.
    pub fn run(entity: &str, base: Value, patch: Value) -> Vec<(String, String)> {
        let mut record = jingxi_sdk::record(base);
        for (key, value) in jingxi_sdk::record(patch) {
            if value.is_null() {
                record.remove(&key);
            } else {
                record.insert(key, value);
            }
        }
        super::validate(&Context::for_test(), entity, &record)
            .into_iter()
            .map(|error| (error.pointer, error.code))
            .collect()
    }

    /// Compares `run` output with the expected `(pointer, code)` pairs.
    #[track_caller]
    pub fn check(entity: &str, base: Value, patch: Value, expect: &[(&str, &str)]) {
        let got = run(entity, base, patch);
        let got: Vec<(&str, &str)> = got
            .iter()
            .map(|(pointer, code)| (pointer.as_str(), code.as_str()))
            .collect();
        assert_eq!(got, expect);
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
