//! Customer rules: exactly one primary contact, and a credit code for every customer but a person.

use jingxi_sdk::{FieldErrors, Record, RecordExt};

pub fn validate(record: &Record, errors: &mut FieldErrors) {
    errors.not_blank(record, &["customer_no", "name", "address"]);
    contacts(record, errors);
    let individual = record.text("customer_type") == Some("个人");
    if !individual && record.text("tax_id").is_none() {
        errors.add(
            "/tax_id",
            "tax_id_required",
            "非个人客户必须填写统一社会信用代码。",
            "The unified social credit code is required unless the customer is an individual.",
        );
    }
    errors.not_negative(record, &["registered_capital", "annual_potential"]);
}

fn contacts(record: &Record, errors: &mut FieldErrors) {
    let mut n_primary = 0;
    for (row_idx, contact) in record.rows("contacts") {
        if contact.is_blank("name") {
            errors.add(
                format!("/contacts/{row_idx}/name"),
                "blank",
                "联系人姓名不能只包含空白字符。",
                "The contact's name must not be blank.",
            );
        }
        if contact.is_true("is_primary") {
            n_primary += 1;
            if n_primary > 1 {
                errors.add(
                    format!("/contacts/{row_idx}/is_primary"),
                    "multiple_primary_contacts",
                    "只能有一位主联系人。",
                    "Only one contact can be the primary contact.",
                );
            }
        }
    }
    if n_primary == 0 && record.contains_key("contacts") {
        errors.add(
            "/contacts",
            "no_primary_contact",
            "必须指定一位主联系人。",
            "One contact must be marked as the primary contact.",
        );
    }
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Value, json};

    use crate::Crm;

    fn customer() -> Value {
        json!({
            "customer_no": "CUS-0001", "name": "杭州恒达电器商场有限公司", "customer_type": "经销商/渠道",
            "region": "0190a4c2-1d7e-7b3a-9c41-000000000021", "address": "浙江省杭州市拱墅区莫干山路 188 号",
            "contacts": [{"name": "王海涛", "title": "采购经理", "phone": "138****1024", "is_primary": true},
                         {"name": "陈静", "title": "财务主管", "is_primary": false}],
            "source": "招商会", "stage": "忠诚客户", "tax_id": "91330105MA27XK3L5Q",
            "registered_capital": "20000000.00", "annual_potential": "15000000.00"
        })
    }

    #[track_caller]
    fn check(patch: Value, expect: &[(&str, &str)]) {
        jingxi_sdk::testing::check_validate::<Crm>("customer", customer(), patch, expect);
    }

    #[test]
    fn accepts_one_primary_contact() {
        check(json!({}), &[]);
        check(
            json!({"contacts": [{"name": "陈静"}, {"name": "王海涛", "is_primary": true}]}),
            &[],
        );
    }

    #[test]
    fn rejects_no_primary_contact() {
        check(
            json!({"contacts": [{"name": "王海涛", "is_primary": false}, {"name": "陈静"}]}),
            &[("/contacts", "no_primary_contact")],
        );
        check(
            json!({"contacts": []}),
            &[("/contacts", "no_primary_contact")],
        );
    }

    #[test]
    fn rejects_a_second_primary_contact_where_it_is() {
        check(
            json!({"contacts": [{"name": "王海涛", "is_primary": true}, {"name": "陈静"},
                                {"name": "李娜", "is_primary": true}, {"name": "周建平", "is_primary": true}]}),
            &[
                ("/contacts/2/is_primary", "multiple_primary_contacts"),
                ("/contacts/3/is_primary", "multiple_primary_contacts"),
            ],
        );
    }

    #[test]
    fn rejects_a_blank_contact_name() {
        check(
            json!({"contacts": [{"name": " ", "is_primary": true}]}),
            &[("/contacts/0/name", "blank")],
        );
    }

    #[test]
    fn requires_a_credit_code_unless_a_person() {
        check(json!({"tax_id": null}), &[("/tax_id", "tax_id_required")]);
        check(json!({"tax_id": "  "}), &[("/tax_id", "tax_id_required")]);
        check(
            json!({"customer_type": "政府/事业单位", "tax_id": null}),
            &[("/tax_id", "tax_id_required")],
        );
        check(json!({"customer_type": "个人", "tax_id": null}), &[]);
    }

    #[test]
    fn rejects_negative_amounts() {
        check(
            json!({"annual_potential": "-1"}),
            &[("/annual_potential", "negative_amount")],
        );
    }
}
