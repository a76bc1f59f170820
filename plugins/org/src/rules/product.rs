//! Product rules: prices are not negative and the dealer price does not exceed the list price.

use jingxi_sdk::{FieldErrors, Record, RecordExt};

pub fn validate(record: &Record, errors: &mut FieldErrors) {
    errors.not_blank(record, &["code", "name", "product_line"]);
    errors.not_negative(record, &["list_price", "dealer_price", "cost_price"]);
    if let (Some(list_price), Some(dealer_price)) =
        (record.amount("list_price"), record.amount("dealer_price"))
        && dealer_price > list_price
    {
        errors.add(
            "/dealer_price",
            "above_list_price",
            "经销价不得高于零售指导价。",
            "The dealer price must not exceed the list price.",
        );
    }
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Value, json};

    use crate::Org;

    fn product() -> Value {
        json!({"code": "KT-35GW", "name": "精细 1.5匹变频挂壁式空调", "product_line": "家用空调", "unit": "台",
            "list_price": "3999.00", "dealer_price": "3299.00", "cost_price": "2450.00", "lifecycle": "在售"})
    }

    #[track_caller]
    fn check(patch: Value, expect: &[(&str, &str)]) {
        jingxi_sdk::testing::check_validate::<Org>("product", product(), patch, expect);
    }

    #[test]
    fn accepts_a_dealer_price_up_to_the_list_price() {
        check(json!({}), &[]);
        check(json!({"dealer_price": "3999"}), &[]);
        check(json!({"dealer_price": null}), &[]);
    }

    #[test]
    fn rejects_a_dealer_price_above_the_list_price() {
        check(
            json!({"dealer_price": "3999.01"}),
            &[("/dealer_price", "above_list_price")],
        );
        check(
            json!({"list_price": "52.5", "dealer_price": "100"}),
            &[("/dealer_price", "above_list_price")],
        );
    }

    #[test]
    fn compares_amounts_by_value_not_by_text() {
        check(json!({"list_price": "10", "dealer_price": "9.99"}), &[]);
    }

    #[test]
    fn rejects_negative_prices() {
        check(
            json!({"list_price": "-1", "dealer_price": "-2", "cost_price": "-0.01"}),
            &[
                ("/list_price", "negative_amount"),
                ("/dealer_price", "negative_amount"),
                ("/cost_price", "negative_amount"),
            ],
        );
    }

    #[test]
    fn rejects_blank_codes_and_names() {
        check(
            json!({"code": "  ", "name": "\t"}),
            &[("/code", "blank"), ("/name", "blank")],
        );
    }
}
