//! Computed fields: `customer.archive_complete` (档案完整), the basis of the KPI 客户档案完整率,
//! and `complaint.accepted_in_time` / `resolved_in_time` (及时受理 / 及时处理), the basis of the
//! KPIs 客户投诉受理及时率 and 客户投诉处理及时率.

use jingxi_sdk::{Context, Record, RecordExt, Value, values::Instant};

const SECONDS_PER_HOUR: i64 = 3600;

/// Fills the computed fields of one record of `entity`; other entities are left as they are.
pub fn compute(_ctx: &Context, entity: &str, record: &mut Record) {
    match entity.strip_prefix("crm.").unwrap_or(entity) {
        "customer" => {
            let complete = archive_complete(record);
            record.insert("archive_complete".into(), Value::Bool(complete));
        }
        "complaint" => {
            let accepted = within(record, "received_at", "accepted_at", "accept_sla_hours");
            let resolved = within(record, "accepted_at", "resolved_at", "resolve_sla_hours");
            record.insert("accepted_in_time".into(), Value::Bool(accepted));
            record.insert("resolved_in_time".into(), Value::Bool(resolved));
        }
        _ => {}
    }
}

/// Whether the date-time `end` is at most `hours` (an integer field) after the date-time
/// `start`: `accepted_at − received_at ≤ accept_sla_hours` and `resolved_at − accepted_at ≤
/// resolve_sla_hours` (catalogue §13.3). False while any of the three is missing.
fn within(record: &Record, start: &str, end: &str, hours: &str) -> bool {
    let deadline = |start: Instant| {
        let hours = record.get(hours).and_then(Value::as_i64)?;
        start.add_seconds(hours.checked_mul(SECONDS_PER_HOUR)?)
    };
    match (
        record.instant(start).and_then(deadline),
        record.instant(end),
    ) {
        (Some(deadline), Some(end)) => end <= deadline,
        _ => false,
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

    fn complaint() -> Value {
        json!({
            "channel": "电话", "received_at": "2026-11-20T09:00:00+08:00", "category": "服务态度",
            "severity": "一般", "description": "安装师傅迟到", "accept_sla_hours": 24, "resolve_sla_hours": 72
        })
    }

    #[track_caller]
    fn check_times(patch: Value, accepted: bool, resolved: bool) {
        let mut record = jingxi_sdk::testing::patched(complaint(), patch);
        super::compute(&Context::for_test(), "crm.complaint", &mut record);
        assert_eq!(
            (
                record.get("accepted_in_time"),
                record.get("resolved_in_time")
            ),
            (Some(&Value::Bool(accepted)), Some(&Value::Bool(resolved)))
        );
    }

    #[test]
    fn a_complaint_is_in_time_up_to_its_deadline_and_not_after() {
        // Received 2026-11-20 01:00 UTC; 24 hours to accept, 72 more to resolve.
        check_times(json!({}), false, false);
        check_times(
            json!({"accepted_at": "2026-11-20T10:00:00+08:00"}),
            true,
            false,
        );
        check_times(json!({"accepted_at": "2026-11-21T01:00:00Z"}), true, false);
        check_times(
            json!({"accepted_at": "2026-11-21T01:00:00.001Z"}),
            false,
            false,
        );
        check_times(
            json!({"accepted_at": "2026-11-21T01:00:00Z", "resolved_at": "2026-11-24T01:00:00Z"}),
            true,
            true,
        );
        check_times(
            json!({"accepted_at": "2026-11-22T09:00:00+08:00", "resolved_at": "2026-11-23T09:00:00+08:00"}),
            false,
            true,
        );
        check_times(
            json!({"accepted_at": "2026-11-20T10:00:00+08:00", "resolved_at": "2026-11-23T10:00:01+08:00"}),
            true,
            false,
        );
    }

    #[test]
    fn a_complaint_without_deadlines_is_not_in_time() {
        check_times(
            json!({"accepted_at": "2026-11-20T10:00:00+08:00", "accept_sla_hours": null}),
            false,
            false,
        );
        check_times(
            json!({"accepted_at": "2026-11-20T10:00:00+08:00", "accepted_in_time": false}),
            true,
            false,
        );
    }

    #[test]
    fn leaves_other_entities_alone() {
        let mut record = jingxi_sdk::record(json!({"visit_type": "上门拜访"}));
        super::compute(&Context::for_test(), "crm.visit_record", &mut record);
        assert_eq!(record.len(), 1);
    }
}
