//! Visit record rules: the next visit is not before this one, and a complaint follow-up names
//! its complaint.

use jingxi_sdk::{Context, FieldError, Record};

use super::not_blank;
use crate::{calendar::Date, fields};

pub fn validate(ctx: &Context, record: &Record, errors: &mut Vec<FieldError>) {
    not_blank(ctx, record, &["content"], errors);
    let date = |name| fields::text(record, name).and_then(Date::parse);
    if let (Some(visit_date), Some(next_date)) = (date("visit_date"), date("next_date"))
        && next_date < visit_date
    {
        errors.push(FieldError::new(
            "/next_date",
            "before_visit_date",
            ctx.text(
                "下次拜访日期不能早于本次拜访日期。",
                "The next visit must not be before this visit.",
            ),
        ));
    }
    if fields::text(record, "visit_type") == Some("投诉回访")
        && fields::text(record, "complaint").is_none()
    {
        errors.push(FieldError::new(
            "/complaint",
            "complaint_required",
            ctx.text(
                "投诉回访必须关联所回访的投诉。",
                "A complaint follow-up must name the complaint it follows up.",
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Value, json};

    use crate::rules::test_support;

    fn visit() -> Value {
        json!({
            "customer": "0190a4c2-1d7e-7b3a-9c41-000000000031", "visit_type": "上门拜访",
            "visit_date": "2025-07-09", "staff": "0190a4c2-1d7e-7b3a-9c41-000000000041",
            "content": "沟通三季度备货计划。", "next_date": "2025-08-06"
        })
    }

    #[track_caller]
    fn check(patch: Value, expect: &[(&str, &str)]) {
        test_support::check("visit_record", visit(), patch, expect);
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
