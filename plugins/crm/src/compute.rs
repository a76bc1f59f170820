//! Computed fields: `customer.archive_complete` (档案完整), the basis of the KPI 客户档案完整率.

use jingxi_sdk::{Context, Record, RecordExt, Value};

/// Fills the computed fields of one record of `entity`; other entities are left as they are.
pub fn compute(_ctx: &Context, entity: &str, record: &mut Record) {
    if entity.strip_prefix("crm.").unwrap_or(entity) == "customer" {
        let complete = archive_complete(record);
        record.insert("archive_complete".into(), Value::Bool(complete));
    }
}

/// The core fields every customer file needs: name, type, industry, region, address, the primary
/// contact's name and phone, source, owner, and the credit code unless the customer is a person.
/// The owner is a kernel column that every record has, so it is not in the record to check.
pub fn archive_complete(record: &Record) -> bool {
    let filled = |name| record.text(name).is_some();
    let primary_contact_filled = record
        .rows("contacts")
        .find(|(_, contact)| contact.is_true("is_primary"))
        .is_some_and(|(_, contact)| {
            contact.text("name").is_some() && contact.text("phone").is_some()
        });
    let individual = record.text("customer_type") == Some("个人");
    [
        "name",
        "customer_type",
        "industry",
        "region",
        "address",
        "source",
    ]
    .into_iter()
    .all(filled)
        && primary_contact_filled
        && (individual || filled("tax_id"))
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Context, Value, json};

    fn customer() -> Value {
        json!({
            "customer_no": "CUS-0001", "name": "杭州恒达电器商场有限公司", "customer_type": "经销商/渠道",
            "industry": "家电零售", "region": "0190a4c2-1d7e-7b3a-9c41-000000000021",
            "address": "浙江省杭州市拱墅区莫干山路 188 号",
            "contacts": [{"name": "陈静", "phone": "0571-8*****66", "is_primary": false},
                         {"name": "王海涛", "title": "采购经理", "phone": "138****1024", "is_primary": true}],
            "source": "招商会", "stage": "忠诚客户", "tax_id": "91330105MA27XK3L5Q"
        })
    }

    #[track_caller]
    fn check(patch: Value, expect: bool) {
        let mut record = jingxi_sdk::testing::patched(customer(), patch);
        super::compute(&Context::for_test(), "customer", &mut record);
        assert_eq!(record.get("archive_complete"), Some(&Value::Bool(expect)));
    }

    #[test]
    fn marks_a_full_file_complete() {
        check(json!({}), true);
    }

    #[test]
    fn marks_a_file_without_core_fields_incomplete() {
        check(json!({"industry": null}), false);
        check(json!({"address": "  "}), false);
        check(json!({"tax_id": null}), false);
    }

    #[test]
    fn needs_the_primary_contacts_phone() {
        check(
            json!({"contacts": [{"name": "王海涛", "is_primary": true}, {"name": "陈静", "phone": "0571-8*****66"}]}),
            false,
        );
        check(
            json!({"contacts": [{"name": "王海涛", "phone": "138****1024"}]}),
            false,
        );
    }

    #[test]
    fn does_not_need_a_credit_code_for_a_person() {
        check(json!({"customer_type": "个人", "tax_id": null}), true);
    }

    #[test]
    fn overwrites_a_value_sent_by_the_client() {
        check(json!({"industry": null, "archive_complete": true}), false);
    }

    #[test]
    fn leaves_other_entities_alone() {
        let mut record = jingxi_sdk::record(json!({"visit_type": "上门拜访"}));
        super::compute(&Context::for_test(), "crm.visit_record", &mut record);
        assert!(!record.contains_key("archive_complete"));
    }
}
