//! Region rules: a region is not its own parent.

use jingxi_sdk::{FieldErrors, Record};

use super::not_self;

pub fn validate(record: &Record, errors: &mut FieldErrors) {
    errors.not_blank(record, &["code", "name"]);
    not_self(record, "parent", "parent_is_self", errors);
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Value, json};

    use crate::Org;

    const ID: &str = "0190a4c2-1d7e-7b3a-9c41-5f2e8d6a0b17";

    fn region() -> Value {
        json!({"id": ID, "code": "HZ", "name": "杭州", "level": "城市", "parent": "0190a4c2-1d7e-7b3a-9c41-000000000001"})
    }

    #[track_caller]
    fn check(patch: Value, expect: &[(&str, &str)]) {
        jingxi_sdk::testing::check_validate::<Org>("region", region(), patch, expect);
    }

    #[test]
    fn accepts_another_parent_or_none() {
        check(json!({}), &[]);
        check(json!({"parent": null}), &[]);
        check(json!({"id": null, "parent": ID}), &[]);
    }

    #[test]
    fn rejects_itself_as_parent() {
        check(json!({"parent": ID}), &[("/parent", "parent_is_self")]);
        check(
            json!({"parent": ID.to_uppercase()}),
            &[("/parent", "parent_is_self")],
        );
    }

    #[test]
    fn rejects_a_blank_name() {
        check(json!({"name": " "}), &[("/name", "blank")]);
    }
}
