//! Visit record rules: the next visit is not before this one, and a complaint follow-up names
//! its complaint.

use jingxi_sdk::{FieldErrors, Record, RecordExt};

pub fn validate(record: &Record, errors: &mut FieldErrors) {
    errors.not_blank(record, &["content"]);
    if let (Some(visit_date), Some(next_date)) =
        (record.date("visit_date"), record.date("next_date"))
        && next_date < visit_date
    {
        errors.add(
            "/next_date",
            "before_visit_date",
            "下次拜访日期不能早于本次拜访日期。",
            "The next visit must not be before this visit.",
        );
    }
    if record.text("visit_type") == Some("投诉回访") && record.text("complaint").is_none() {
        errors.add(
            "/complaint",
            "complaint_required",
            "投诉回访必须关联所回访的投诉。",
            "A complaint follow-up must name the complaint it follows up.",
        );
    }
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Value, json};

    use crate::Crm;

    fn visit() -> Value {
        json!({
            "customer": "0190a4c2-1d7e-7b3a-9c41-000000000031", "visit_type": "上门拜访",
            "visit_date": "2025-07-09", "staff": "0190a4c2-1d7e-7b3a-9c41-000000000041",
            "content": "沟通三季度备货计划。", "next_date": "2025-08-06"
        })
    }

    #[track_caller]
    fn check(patch: Value, expect: &[(&str, &str)]) {
        jingxi_sdk::testing::check_validate::<Crm>("visit_record", visit(), patch, expect);
    }

    #[test]
    fn accepts_a_next_visit_on_or_after_this_one() {
        check(json!({}), &[]);
        check(json!({"next_date": "2025-07-09"}), &[]);
        check(json!({"next_date": null}), &[]);
    }

    #[test]
    fn rejects_a_next_visit_before_this_one() {
        check(
            json!({"next_date": "2025-07-08"}),
            &[("/next_date", "before_visit_date")],
        );
        check(
            json!({"visit_date": "2025-12-31", "next_date": "2025-02-01"}),
            &[("/next_date", "before_visit_date")],
        );
    }

    #[test]
    fn requires_the_complaint_of_a_complaint_follow_up() {
        check(
            json!({"visit_type": "投诉回访"}),
            &[("/complaint", "complaint_required")],
        );
        check(
            json!({"visit_type": "投诉回访", "complaint": "0190a4c2-1d7e-7b3a-9c41-000000000051"}),
            &[],
        );
    }

    #[test]
    fn rejects_blank_notes() {
        check(json!({"content": "\n"}), &[("/content", "blank")]);
    }
}
