//! Complaint rules: received, accepted and resolved times follow each other, and a compensation
//! is a positive amount that the chosen solution includes.

use jingxi_sdk::{FieldErrors, Record, RecordExt, values::Amount};

pub fn validate(record: &Record, errors: &mut FieldErrors) {
    errors.not_blank(record, &["description"]);
    time_order(record, errors);
    errors.not_negative(record, &["compensation"]);
    let compensated = record
        .amount("compensation")
        .is_some_and(Amount::is_positive);
    if compensated && !record.has_option("solution", "补偿") {
        errors.add(
            "/solution",
            "compensation_not_selected",
            "填写了补偿金额时，处理方案须包含“补偿”。",
            "A compensation amount is entered, so the solution must include compensation.",
        );
    }
}

fn time_order(record: &Record, errors: &mut FieldErrors) {
    let received_at = record.instant("received_at");
    let accepted_at = record.instant("accepted_at");
    let resolved_at = record.instant("resolved_at");

    if let (Some(received_at), Some(accepted_at)) = (received_at, accepted_at)
        && accepted_at < received_at
    {
        errors.add(
            "/accepted_at",
            "before_received",
            "受理时间不能早于接收时间。",
            "The complaint cannot be accepted before it was received.",
        );
    }
    if record.text("resolved_at").is_some() && record.text("accepted_at").is_none() {
        errors.add(
            "/accepted_at",
            "required_when_resolved",
            "已填写解决时间的投诉必须有受理时间。",
            "A resolved complaint must have the time it was accepted.",
        );
    }
    let Some(resolved_at) = resolved_at else {
        return;
    };
    if received_at.is_some_and(|received_at| resolved_at < received_at) {
        errors.add(
            "/resolved_at",
            "before_received",
            "解决时间不能早于接收时间。",
            "The complaint cannot be resolved before it was received.",
        );
    } else if accepted_at.is_some_and(|accepted_at| resolved_at < accepted_at) {
        errors.add(
            "/resolved_at",
            "before_accepted",
            "解决时间不能早于受理时间。",
            "The complaint cannot be resolved before it was accepted.",
        );
    }
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{Value, json};

    use crate::Crm;

    fn complaint() -> Value {
        json!({
            "customer": "0190a4c2-1d7e-7b3a-9c41-000000000031", "channel": "呼叫中心",
            "received_at": "2025-07-14T09:20:00+08:00", "accepted_at": "2025-07-14T10:05:00+08:00",
            "resolved_at": "2025-07-15T16:40:00+08:00",
            "category": "产品质量", "severity": "重要", "description": "客房空调运行噪音大。",
            "solution": ["维修", "道歉"], "accept_sla_hours": 24, "resolve_sla_hours": 48
        })
    }

    #[track_caller]
    fn check(patch: Value, expect: &[(&str, &str)]) {
        jingxi_sdk::testing::check_validate::<Crm>("complaint", complaint(), patch, expect);
    }

    #[test]
    fn accepts_times_in_order() {
        check(json!({}), &[]);
        check(
            json!({"accepted_at": "2025-07-14T09:20:00+08:00", "resolved_at": "2025-07-14T09:20:00+08:00"}),
            &[],
        );
        check(json!({"accepted_at": null, "resolved_at": null}), &[]);
    }

    #[test]
    fn rejects_acceptance_before_receipt() {
        check(
            json!({"accepted_at": "2025-07-14T09:19:59+08:00"}),
            &[("/accepted_at", "before_received")],
        );
    }

    #[test]
    fn rejects_resolution_before_receipt() {
        check(
            json!({"resolved_at": "2025-07-13T18:00:00+08:00"}),
            &[("/resolved_at", "before_received")],
        );
    }

    #[test]
    fn rejects_resolution_before_acceptance() {
        check(
            json!({"resolved_at": "2025-07-14T10:00:00+08:00"}),
            &[("/resolved_at", "before_accepted")],
        );
    }

    #[test]
    fn compares_times_across_offsets() {
        check(json!({"accepted_at": "2025-07-14T01:21:00Z"}), &[]);
        check(
            json!({"accepted_at": "2025-07-14T01:19:00Z"}),
            &[("/accepted_at", "before_received")],
        );
    }

    #[test]
    fn rejects_a_resolution_without_acceptance() {
        check(
            json!({"accepted_at": null}),
            &[("/accepted_at", "required_when_resolved")],
        );
    }

    #[test]
    fn reports_every_broken_order_at_once() {
        check(
            json!({"accepted_at": "2025-07-13T10:00:00+08:00", "resolved_at": "2025-07-13T09:00:00+08:00"}),
            &[
                ("/accepted_at", "before_received"),
                ("/resolved_at", "before_received"),
            ],
        );
    }

    #[test]
    fn needs_the_compensation_solution_for_a_compensation() {
        check(
            json!({"compensation": "6800.00"}),
            &[("/solution", "compensation_not_selected")],
        );
        check(
            json!({"compensation": "6800.00", "solution": null}),
            &[("/solution", "compensation_not_selected")],
        );
        check(
            json!({"compensation": "6800.00", "solution": ["补偿", "内部整改"]}),
            &[],
        );
        check(json!({"compensation": "0.00"}), &[]);
    }

    #[test]
    fn rejects_a_negative_compensation() {
        check(
            json!({"compensation": "-100", "solution": ["补偿"]}),
            &[("/compensation", "negative_amount")],
        );
    }

    #[test]
    fn rejects_a_blank_description() {
        check(json!({"description": "   "}), &[("/description", "blank")]);
    }
}
