//! Department charter rules: duties and powers are listed, numbered once each, and the
//! prepare/review/approve dates follow each other.

use std::collections::HashSet;

use jingxi_sdk::{Context, FieldError, Record};

use super::not_blank;
use crate::{calendar::Date, fields};

pub fn validate(ctx: &Context, record: &Record, errors: &mut Vec<FieldError>) {
    not_blank(ctx, record, &["name", "code"], errors);
    for table in ["duties", "powers"] {
        if fields::is_empty_table(record, table) {
            errors.push(FieldError::new(
                format!("/{table}"),
                "empty",
                ctx.text("至少需要填写一行。", "At least one row is required."),
            ));
        }
        unique_seq(ctx, record, table, errors);
    }
    if let (Some(head), Some(leader)) = (
        fields::text(record, "head_position"),
        fields::text(record, "direct_leader"),
    ) && head.eq_ignore_ascii_case(leader)
    {
        errors.push(FieldError::new(
            "/direct_leader",
            "same_as_head",
            ctx.text(
                "直属领导不能是部门负责人岗位本身。",
                "The direct leader must not be the head position itself.",
            ),
        ));
    }
    sign_off_order(ctx, record, errors);
}

fn unique_seq(ctx: &Context, record: &Record, table: &str, errors: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (row_idx, row) in fields::rows(record, table) {
        if let Some(seq) = row.get("seq").and_then(|seq| seq.as_i64())
            && !seen.insert(seq)
        {
            errors.push(FieldError::new(
                format!("/{table}/{row_idx}/seq"),
                "duplicate_seq",
                ctx.text(
                    &format!("序号 {seq} 重复。"),
                    &format!("Number {seq} is used twice."),
                ),
            ));
        }
    }
}

/// 审核日期 is not before 编制日期, and 批准日期 is not before the latest earlier sign-off.
fn sign_off_order(ctx: &Context, record: &Record, errors: &mut Vec<FieldError>) {
    let date = |name| fields::text(record, name).and_then(Date::parse);
    let prepared_on = date("prepared_on");
    let reviewed_on = date("reviewed_on");
    if let (Some(prepared_on), Some(reviewed_on)) = (prepared_on, reviewed_on)
        && reviewed_on < prepared_on
    {
        errors.push(FieldError::new(
            "/reviewed_on",
            "before_prepared",
            ctx.text(
                "审核日期不能早于编制日期。",
                "The review date must not be before the preparation date.",
            ),
        ));
    }
    let Some(approved_on) = date("approved_on") else {
        return;
    };
    if let Some(reviewed_on) = reviewed_on {
        if approved_on < reviewed_on {
            errors.push(FieldError::new(
                "/approved_on",
                "before_reviewed",
                ctx.text(
                    "批准日期不能早于审核日期。",
                    "The approval date must not be before the review date.",
                ),
            ));
        }
    } else if let Some(prepared_on) = prepared_on
        && approved_on < prepared_on
    {
        errors.push(FieldError::new(
            "/approved_on",
            "before_prepared",
            ctx.text(
                "批准日期不能早于编制日期。",
                "The approval date must not be before the preparation date.",
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Value, json};

    use crate::rules::test_support;

    fn department() -> Value {
        json!({
            "name": "市场部", "code": "MKT", "dept_type": "职能部门",
            "head_position": "0190a4c2-1d7e-7b3a-9c41-000000000011",
            "direct_leader": "0190a4c2-1d7e-7b3a-9c41-000000000012",
            "headcount_manager": 1, "headcount_supervisor": 7, "headcount_specialist": 12,
            "duties": [{"seq": 1, "content": "根据市场调研结果,实施现有市场分析和未来市场预测"},
                       {"seq": 2, "content": "负责市场策划、公关与市场开拓工作"}],
            "powers": [{"seq": 1, "power_type": "参与权", "object": "市场战略制定"},
                       {"seq": 2, "power_type": "审核权", "object": "各类市场策划方案"}],
            "prepared_on": "2025-01-06", "reviewed_on": "2025-01-08", "approved_on": "2025-01-10"
        })
    }

    #[track_caller]
    fn check(patch: Value, expect: &[(&str, &str)]) {
        test_support::check("department", department(), patch, expect);
    }

    #[test]
    fn accepts_a_complete_charter() {
        check(json!({}), &[]);
        check(
            json!({"prepared_on": null, "reviewed_on": null, "approved_on": null}),
            &[],
        );
    }

    #[test]
    fn rejects_empty_duties_and_powers() {
        check(
            json!({"duties": [], "powers": []}),
            &[("/duties", "empty"), ("/powers", "empty")],
        );
    }

    #[test]
    fn rejects_a_number_used_twice() {
        check(
            json!({"powers": [{"seq": 1, "power_type": "参与权", "object": "市场战略制定"},
                              {"seq": 2, "power_type": "审核权", "object": "各类市场策划方案"},
                              {"seq": 1, "power_type": "考核权", "object": "部门员工"}]}),
            &[("/powers/2/seq", "duplicate_seq")],
        );
    }

    #[test]
    fn rejects_the_head_as_its_own_leader() {
        check(
            json!({"direct_leader": "0190A4C2-1D7E-7B3A-9C41-000000000011"}),
            &[("/direct_leader", "same_as_head")],
        );
    }

    #[test]
    fn rejects_sign_offs_out_of_order() {
        check(
            json!({"reviewed_on": "2025-01-05"}),
            &[("/reviewed_on", "before_prepared")],
        );
        check(
            json!({"approved_on": "2025-01-07"}),
            &[("/approved_on", "before_reviewed")],
        );
        check(
            json!({"reviewed_on": null, "approved_on": "2025-01-02"}),
            &[("/approved_on", "before_prepared")],
        );
        check(json!({"approved_on": "2025-01-08"}), &[]);
    }
}
