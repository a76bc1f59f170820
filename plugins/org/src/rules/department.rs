//! Department charter rules: duties and powers are listed, numbered once each, and the
//! prepare/review/approve dates follow each other.

use std::collections::HashSet;

use jingxi_sdk::{FieldErrors, Record, RecordExt};

pub fn validate(record: &Record, errors: &mut FieldErrors) {
    errors.not_blank(record, &["name", "code"]);
    for table in ["duties", "powers"] {
        if record.is_empty_table(table) {
            errors.add(
                format!("/{table}"),
                "empty",
                "至少需要填写一行。",
                "At least one row is required.",
            );
        }
        unique_seq(record, table, errors);
    }
    if let (Some(head), Some(leader)) = (record.text("head_position"), record.text("direct_leader"))
        && head.eq_ignore_ascii_case(leader)
    {
        errors.add(
            "/direct_leader",
            "same_as_head",
            "直属领导不能是部门负责人岗位本身。",
            "The direct leader must not be the head position itself.",
        );
    }
    sign_off_order(record, errors);
}

fn unique_seq(record: &Record, table: &str, errors: &mut FieldErrors) {
    let mut seen = HashSet::new();
    for (row_idx, row) in record.rows(table) {
        if let Some(seq) = row.get("seq").and_then(|seq| seq.as_i64())
            && !seen.insert(seq)
        {
            errors.add(
                format!("/{table}/{row_idx}/seq"),
                "duplicate_seq",
                &format!("序号 {seq} 重复。"),
                &format!("Number {seq} is used twice."),
            );
        }
    }
}

/// 审核日期 is not before 编制日期, and 批准日期 is not before the latest earlier sign-off.
fn sign_off_order(record: &Record, errors: &mut FieldErrors) {
    let prepared_on = record.date("prepared_on");
    let reviewed_on = record.date("reviewed_on");
    if let (Some(prepared_on), Some(reviewed_on)) = (prepared_on, reviewed_on)
        && reviewed_on < prepared_on
    {
        errors.add(
            "/reviewed_on",
            "before_prepared",
            "审核日期不能早于编制日期。",
            "The review date must not be before the preparation date.",
        );
    }
    let Some(approved_on) = record.date("approved_on") else {
        return;
    };
    if let Some(reviewed_on) = reviewed_on {
        if approved_on < reviewed_on {
            errors.add(
                "/approved_on",
                "before_reviewed",
                "批准日期不能早于审核日期。",
                "The approval date must not be before the review date.",
            );
        }
    } else if let Some(prepared_on) = prepared_on
        && approved_on < prepared_on
    {
        errors.add(
            "/approved_on",
            "before_prepared",
            "批准日期不能早于编制日期。",
            "The approval date must not be before the preparation date.",
        );
    }
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Value, json};

    use crate::Org;

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
        jingxi_sdk::testing::check_validate::<Org>("department", department(), patch, expect);
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
