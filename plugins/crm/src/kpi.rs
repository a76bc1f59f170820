//! KPIs of chapter 8 (catalogue §13.3), each computed by counting (the `count` import) or summing
//! (the `aggregate` import) in the database, over the records the calling user may read:
//!
//! - 客户投诉受理及时率 `complaint_accept_timeliness`: complaints received in the period, not
//!   invalid, accepted within `accept_sla_hours` of being received (`accepted_in_time`) ÷
//!   complaints received in the period, not invalid; a percentage.
//! - 客户投诉处理及时率 `complaint_resolve_timeliness`: the same with `resolved_in_time`
//!   (resolved within `resolve_sla_hours` of being accepted).
//! - 客户满意度 `customer_satisfaction`: 20 × the average `satisfaction` (1–5) of the visit records
//!   dated in the period, a score of 0–100. Complaint follow-ups are among them: the `revisit`
//!   step files one with the complaint's satisfaction.
//!
//! The period is the days `from` to `to` of the tenant's time zone, Asia/Shanghai (UTC+8).

use jingxi_sdk::{
    HookError, RecordExt, Value, json,
    query::{self, Group},
    values::Date,
};

const COMPLAINT: &str = "crm.complaint";
const VISIT_RECORD: &str = "crm.visit_record";
/// The offset of the tenant's time zone, which decides which day a date-time falls on.
const TENANT_UTC_OFFSET: &str = "+08:00";

/// Computes the KPI `id` (as declared in `plugin.json`, or qualified) for the period in
/// `params`: `{"from": "2026-11-01", "to": "2026-11-30"}`, both days included. Answers
/// `{"value", "numerator", "denominator"}`, the value null when there is nothing to measure.
///
/// # Errors
/// [`HookError::InvalidInput`] for an unknown KPI or a period that is not two dates in order;
/// [`HookError::Internal`] when the kernel refuses a count or an aggregate.
pub fn kpi(id: &str, params: &Value) -> Result<Value, HookError> {
    let period = Period::from_params(params)?;
    match id.strip_prefix("crm.").unwrap_or(id) {
        "complaint_accept_timeliness" => timeliness(&period, "accepted_in_time"),
        "complaint_resolve_timeliness" => timeliness(&period, "resolved_in_time"),
        "customer_satisfaction" => satisfaction(&period),
        other => Err(HookError::InvalidInput(format!(
            "crm 没有考核指标 {other}。 / crm has no KPI {other}."
        ))),
    }
}

/// The days `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Period {
    from: Date,
    to: Date,
}

impl Period {
    fn from_params(params: &Value) -> Result<Period, HookError> {
        let date = |name: &str| {
            params
                .as_object()
                .and_then(|params| params.date(name))
                .ok_or_else(|| {
                    HookError::InvalidInput(format!(
                        "KPI 参数缺少日期 {name}。 / The KPI parameters lack the date {name}."
                    ))
                })
        };
        let (from, to) = (date("from")?, date("to")?);
        if from > to {
            return Err(HookError::InvalidInput(
                "KPI 期间的结束日期早于开始日期。 / The KPI period ends before it starts.".into(),
            ));
        }
        Ok(Period { from, to })
    }

    /// A filter on the date-time `field` for the moments of the period in the tenant's time
    /// zone: from midnight of `from` up to, not including, midnight after `to`.
    fn moments(&self, field: &str) -> Result<Value, HookError> {
        let after = self.to.add_days(1).ok_or_else(|| {
            HookError::InvalidInput(
                "KPI 期间超出日历范围。 / The KPI period is out of range.".into(),
            )
        })?;
        Ok(json!({field: {
            "gte": format!("{}T00:00:00{TENANT_UTC_OFFSET}", self.from),
            "lt": format!("{after}T00:00:00{TENANT_UTC_OFFSET}"),
        }}))
    }

    /// A filter on the date `field` for the days of the period.
    fn days(&self, field: &str) -> Value {
        json!({field: {"gte": self.from.to_string(), "lte": self.to.to_string()}})
    }
}

/// Complaints received in the period and not invalid, and those of them whose computed `flag`
/// (`accepted_in_time` or `resolved_in_time`) holds, as a percentage: one count grouped by the
/// flag counts both in one pass over the period's complaints, which the complaint index on
/// (received_at, state, accepted_in_time, resolved_in_time) answers without reading the records.
fn timeliness(period: &Period, flag: &str) -> Result<Value, HookError> {
    let mut valid = period.moments("received_at")?;
    valid["state"] = json!({"ne": "invalid"});
    let groups = query::count_by(COMPLAINT, &valid, &[flag]).map_err(HookError::Internal)?;
    let denominator: u64 = groups.iter().map(|group| group.count).sum();
    let numerator: u64 = groups
        .iter()
        .filter(|group| group.key.get(flag) == Some(&Value::Bool(true)))
        .map(|group| group.count)
        .sum();
    Ok(json!({
        "value": ratio(u128::from(numerator) * 100, u128::from(denominator)),
        "numerator": numerator,
        "denominator": denominator,
    }))
}

/// 20 × Σ satisfaction ÷ the number of visit records with a satisfaction, dated in the period.
fn satisfaction(period: &Period) -> Result<Value, HookError> {
    let mut rated = period.days("visit_date");
    rated["satisfaction"] = json!({"isNull": false});
    let groups = query::aggregate(VISIT_RECORD, &rated, &[]).map_err(HookError::Internal)?;
    let (sum, n_rated) = groups.iter().fold((0u64, 0u64), |(sum, n), group: &Group| {
        let group_sum = group
            .sum
            .get("satisfaction")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        (sum + group_sum, n + group.count)
    });
    Ok(json!({
        "value": ratio(u128::from(sum) * 20, u128::from(n_rated)),
        "numerator": sum,
        "denominator": n_rated,
    }))
}

/// `numerator ÷ denominator` rounded half up to two decimals, as an exact decimal string
/// (`"66.67"`); null for a zero denominator.
fn ratio(numerator: u128, denominator: u128) -> Value {
    if denominator == 0 {
        return Value::Null;
    }
    let hundredths = (numerator * 200 + denominator) / (denominator * 2);
    Value::String(format!("{}.{:02}", hundredths / 100, hundredths % 100))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use jingxi_sdk::{
        json,
        query::{self, Group},
    };

    use super::*;

    #[test]
    fn rounds_ratios_half_up_to_two_decimals() {
        assert_eq!(ratio(200, 3), json!("66.67"));
        assert_eq!(ratio(100, 3), json!("33.33"));
        assert_eq!(ratio(100, 8), json!("12.50"));
        assert_eq!(ratio(1, 200), json!("0.01"));
        assert_eq!(ratio(1, 201), json!("0.00"));
        assert_eq!(ratio(300, 3), json!("100.00"));
        assert_eq!(ratio(0, 7), json!("0.00"));
        assert_eq!(ratio(5, 0), Value::Null);
    }

    /// Answers `timely` complaints with `flag` true, `late` with it false and `open` with it
    /// null, and records every filter asked for.
    fn fake_groups(
        flag: &'static str,
        timely: u64,
        late: u64,
        open: u64,
    ) -> (query::FakeCountGuard, Rc<RefCell<Vec<Value>>>) {
        let calls = Rc::new(RefCell::new(Vec::new()));
        let seen = calls.clone();
        let guard = query::fake_count(move |entity, filter, group_by| {
            assert_eq!(entity, "crm.complaint");
            assert_eq!(group_by, [flag.to_string()]);
            seen.borrow_mut().push(filter.clone());
            // Largest group first, as the kernel answers; empty groups do not exist.
            let mut groups: Vec<Group> = [
                (json!(true), timely),
                (json!(false), late),
                (Value::Null, open),
            ]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(key, n)| Group::with_count(n).with_key(flag, key))
            .collect();
            groups.sort_by_key(|group| std::cmp::Reverse(group.count));
            Ok(groups)
        });
        (guard, calls)
    }

    #[test]
    fn acceptance_timeliness_counts_valid_complaints_of_the_period_in_the_tenants_time_zone() {
        let (_guard, calls) = fake_groups("accepted_in_time", 2, 3, 1);
        let answer = kpi(
            "complaint_accept_timeliness",
            &json!({"id": "complaint_accept_timeliness", "from": "2026-11-01", "to": "2026-11-30"}),
        )
        .expect("computed");
        assert_eq!(
            answer,
            json!({"value": "33.33", "numerator": 2, "denominator": 6})
        );
        assert_eq!(
            *calls.borrow(),
            [json!({
                "received_at": {"gte": "2026-11-01T00:00:00+08:00", "lt": "2026-12-01T00:00:00+08:00"},
                "state": {"ne": "invalid"},
            })]
        );
    }

    #[test]
    fn resolution_timeliness_uses_its_own_flag_and_the_qualified_id_works_too() {
        let (_guard, calls) = fake_groups("resolved_in_time", 8, 0, 0);
        let answer = kpi(
            "crm.complaint_resolve_timeliness",
            &json!({"from": "2026-12-31", "to": "2026-12-31"}),
        )
        .expect("computed");
        assert_eq!(
            answer,
            json!({"value": "100.00", "numerator": 8, "denominator": 8})
        );
        assert_eq!(
            calls.borrow()[0]["received_at"],
            json!({"gte": "2026-12-31T00:00:00+08:00", "lt": "2027-01-01T00:00:00+08:00"})
        );
    }

    #[test]
    fn a_period_without_complaints_has_no_value() {
        let (_guard, calls) = fake_groups("accepted_in_time", 0, 0, 0);
        let answer = kpi(
            "complaint_accept_timeliness",
            &json!({"from": "2026-11-01", "to": "2026-11-30"}),
        )
        .expect("computed");
        assert_eq!(
            answer,
            json!({"value": null, "numerator": 0, "denominator": 0})
        );
        assert_eq!(calls.borrow().len(), 1);
    }

    #[test]
    fn none_in_time_is_zero_percent() {
        let (_guard, _) = fake_groups("resolved_in_time", 0, 4, 3);
        let answer = kpi(
            "complaint_resolve_timeliness",
            &json!({"from": "2026-11-01", "to": "2026-11-30"}),
        )
        .expect("computed");
        assert_eq!(
            answer,
            json!({"value": "0.00", "numerator": 0, "denominator": 7})
        );
    }

    #[test]
    fn a_caller_who_may_read_no_complaint_gets_no_groups_and_no_value() {
        let _guard = query::fake_count(|_, _, _| Ok(Vec::new()));
        let answer = kpi(
            "complaint_resolve_timeliness",
            &json!({"from": "2026-11-01", "to": "2026-11-30"}),
        )
        .expect("computed");
        assert_eq!(answer["value"], Value::Null);
    }

    #[test]
    fn satisfaction_is_twenty_times_the_average_rating_of_the_period() {
        let _guard = query::fake_aggregate(|entity, filter, _| {
            assert_eq!(entity, "crm.visit_record");
            assert_eq!(
                *filter,
                json!({"visit_date": {"gte": "2026-11-01", "lte": "2026-11-30"},
                       "satisfaction": {"isNull": false}})
            );
            Ok(vec![
                Group::with_count(3).with_sum("satisfaction", json!(13)),
            ])
        });
        let answer = kpi(
            "customer_satisfaction",
            &json!({"from": "2026-11-01", "to": "2026-11-30"}),
        )
        .expect("computed");
        assert_eq!(
            answer,
            json!({"value": "86.67", "numerator": 13, "denominator": 3})
        );
    }

    #[test]
    fn refuses_unknown_kpis_and_bad_periods_and_reports_refused_counts_and_aggregates() {
        let params = json!({"from": "2026-11-01", "to": "2026-11-30"});
        assert!(matches!(
            kpi("churn_rate", &params),
            Err(HookError::InvalidInput(message)) if message.contains("churn_rate")
        ));
        for bad in [
            json!({"from": "2026-11-01"}),
            json!({"from": "2026-11-31", "to": "2026-12-01"}),
            json!({"from": "2026-12-01", "to": "2026-11-30"}),
            json!("2026-11"),
        ] {
            assert!(
                matches!(
                    kpi("customer_satisfaction", &bad),
                    Err(HookError::InvalidInput(_))
                ),
                "{bad}"
            );
        }
        let _count = query::fake_count(|_, _, _| Err("limit exceeded".into()));
        assert_eq!(
            kpi("complaint_accept_timeliness", &params),
            Err(HookError::Internal("limit exceeded".into()))
        );
        let _aggregate = query::fake_aggregate(|_, _, _| Err("no such field".into()));
        assert_eq!(
            kpi("customer_satisfaction", &params),
            Err(HookError::Internal("no such field".into()))
        );
    }
}
