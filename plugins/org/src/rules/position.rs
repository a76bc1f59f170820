//! Position rules: a position does not report to itself.

use jingxi_sdk::{FieldErrors, Record};

use super::not_self;

pub fn validate(record: &Record, errors: &mut FieldErrors) {
    errors.not_blank(record, &["title"]);
    not_self(record, "reports_to", "reports_to_self", errors);
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Value, json};

    use crate::Org;

    const ID: &str = "0190a4c2-1d7e-7b3a-9c41-5f2e8d6a0b17";

    fn position() -> Value {
        json!({"id": ID, "title": "市场部经理", "role": "market_mgr", "level": "经理级", "headcount": 1,
            "reports_to": "0190a4c2-1d7e-7b3a-9c41-000000000002"})
    }

    #[track_caller]
    fn check(patch: Value, expect: &[(&str, &str)]) {
        jingxi_sdk::testing::check_validate::<Org>("position", position(), patch, expect);
    }

    #[test]
    fn accepts_a_superior_position() {
        check(json!({}), &[]);
        check(json!({"reports_to": null}), &[]);
    }

    #[test]
    fn rejects_reporting_to_itself() {
        check(
            json!({"reports_to": ID}),
            &[("/reports_to", "reports_to_self")],
        );
    }
}
