//! Customer rules: exactly one primary contact, and a credit code for every customer but a person.

use jingxi_sdk::{Context, FieldError, Record, Value};

use super::{not_blank, not_negative};
use crate::fields;

pub fn validate(ctx: &Context, record: &Record, errors: &mut Vec<FieldError>) {
    not_blank(ctx, record, &["customer_no", "name", "address"], errors);
    contacts(ctx, record, errors);
    let individual = fields::text(record, "customer_type") == Some("个人");
    if !individual && fields::text(record, "tax_id").is_none() {
        errors.push(FieldError::new(
            "/tax_id",
            "tax_id_required",
            ctx.text(
                "非个人客户必须填写统一社会信用代码。",
                "The unified social credit code is required unless the customer is an individual.",
            ),
        ));
    }
    not_negative(
        ctx,
        record,
        &["registered_capital", "annual_potential"],
        errors,
    );
}

fn contacts(ctx: &Context, record: &Record, errors: &mut Vec<FieldError>) {
    let mut n_primary = 0;
    for (row_idx, contact) in fields::rows(record, "contacts") {
        if fields::is_blank(contact, "name") {
            errors.push(FieldError::new(
                format!("/contacts/{row_idx}/name"),
                "blank",
                ctx.text(
                    "联系人姓名不能只包含空白字符。",
                    "The contact's name must not be blank.",
                ),
            ));
        }
        if contact.get("is_primary").and_then(Value::as_bool) == Some(true) {
            n_primary += 1;
            if n_primary > 1 {
                errors.push(FieldError::new(
                    format!("/contacts/{row_idx}/is_primary"),
                    "multiple_primary_contacts",
                    ctx.text(
                        "只能有一位主联系人。",
                        "Only one contact can be the primary contact.",
                    ),
                ));
            }
        }
    }
    if n_primary == 0 && record.contains_key("contacts") {
        errors.push(FieldError::new(
            "/contacts",
            "no_primary_contact",
            ctx.text(
                "必须指定一位主联系人。",
                "One contact must be marked as the primary contact.",
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Value, json};

    use crate::rules::test_support;

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
        test_support::check("customer", customer(), patch, expect);
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
