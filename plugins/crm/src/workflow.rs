//! Guards and effects of the complaint workflow (客户投诉, §8.3.5): `accept` and `resolve` stamp
//! their times, `propose` checks that a compensation and the solution agree, and `revisit` files
//! the follow-up as a visit record (投诉回访). The states, roles and thresholds are declared in
//! `plugin.json`; the kernel applies them before this hook runs.

use jingxi_sdk::{
    Context, Effect, EffectKind, HookError, Record, RecordExt, Value, json, values::Amount,
};

/// The qualified complaint entity: an update of the record itself names it.
const COMPLAINT: &str = "crm.complaint";
/// The qualified visit record entity.
const VISIT_RECORD: &str = "crm.visit_record";
/// The visit type of a complaint follow-up.
const COMPLAINT_FOLLOW_UP: &str = "投诉回访";
/// Offset of the tenant's time zone, Asia/Shanghai (UTC+8 all year, catalogue §3.1): it decides
/// the calendar date of a follow-up visit.
const TENANT_UTC_OFFSET_MS: i64 = 8 * MS_PER_HOUR;
const MS_PER_HOUR: i64 = 3_600_000;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// The effects of taking `transition` on `record` of `entity` (`complaint` or `crm.complaint`),
/// as it will be stored: the caller's fields merged in, `state` the destination and `id` set.
/// Other entities and the other transitions have none.
///
/// # Errors
/// [`HookError::InvalidInput`], with a message in the caller's language, when `propose` offers a
/// compensation the solution does not include, or the other way round, or when a record to
/// update or link has no `id`.
pub fn on_transition(
    ctx: &Context,
    entity: &str,
    transition: &str,
    record: &Record,
    comment: &str,
) -> Result<Vec<Effect>, HookError> {
    if entity.strip_prefix("crm.").unwrap_or(entity) != "complaint" {
        return Ok(Vec::new());
    }
    match transition {
        "accept" => Ok(vec![stamp(record, "accepted_at", ctx.now_ms)?]),
        "propose" => {
            check_compensation(ctx, record)?;
            Ok(Vec::new())
        }
        "resolve" => Ok(vec![stamp(record, "resolved_at", ctx.now_ms)?]),
        "revisit" => Ok(vec![follow_up_visit(ctx, record, comment)?]),
        _ => Ok(Vec::new()),
    }
}

/// An update of the complaint itself that sets the date-time `field` to `now_ms`.
fn stamp(record: &Record, field: &str, now_ms: i64) -> Result<Effect, HookError> {
    let mut patch = Record::new();
    patch.insert(field.into(), Value::String(utc_date_time(now_ms)));
    Ok(Effect {
        kind: EffectKind::Update,
        entity: COMPLAINT.into(),
        id: Some(record_id(record)?.into()),
        record: patch,
    })
}

/// The guard of `propose`: a solution with 补偿 needs a compensation above zero, and a
/// compensation above zero needs 补偿 in the solution.
fn check_compensation(ctx: &Context, record: &Record) -> Result<(), HookError> {
    let compensated = record
        .amount("compensation")
        .is_some_and(Amount::is_positive);
    let offered = record.has_option("solution", "补偿");
    if offered && !compensated {
        return Err(HookError::InvalidInput(ctx.text(
            "处理方案包含“补偿”时，须填写大于 0 的补偿金额。",
            "The solution includes compensation, so the compensation amount must be above zero.",
        )));
    }
    if compensated && !offered {
        return Err(HookError::InvalidInput(ctx.text(
            "填写了补偿金额时，处理方案须包含“补偿”。",
            "A compensation amount is entered, so the solution must include compensation.",
        )));
    }
    Ok(())
}

/// The visit record of a complaint follow-up: the caller visited the complaint's customer today
/// (in the tenant's time zone), the satisfaction is the complaint's, and the comment, if any, is
/// the notes.
fn follow_up_visit(ctx: &Context, record: &Record, comment: &str) -> Result<Effect, HookError> {
    let content = match comment.trim() {
        "" => COMPLAINT_FOLLOW_UP,
        text => text,
    };
    let mut visit = jingxi_sdk::record(json!({
        "visit_type": COMPLAINT_FOLLOW_UP,
        "visit_date": local_date(ctx.now_ms),
        "staff": ctx.user_id,
        "content": content,
        "complaint": record_id(record)?,
    }));
    if let Some(customer) = record.text("customer") {
        visit.insert("customer".into(), Value::String(customer.into()));
    }
    if let Some(satisfaction) = record.get("revisit_satisfaction").and_then(Value::as_i64) {
        visit.insert("satisfaction".into(), satisfaction.into());
    }
    Ok(Effect {
        kind: EffectKind::Create,
        entity: VISIT_RECORD.into(),
        id: None,
        record: visit,
    })
}

/// The complaint's own id, which the kernel puts into the record it hands over.
fn record_id(record: &Record) -> Result<&str, HookError> {
    record.text("id").ok_or_else(|| {
        HookError::InvalidInput("投诉记录缺少 id。 / The complaint record has no id.".into())
    })
}

/// `ms` since the Unix epoch as an RFC 3339 UTC date-time with milliseconds,
/// `2025-07-14T01:20:00.000Z`.
fn utc_date_time(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(MS_PER_DAY), ms.rem_euclid(MS_PER_DAY));
    let (year, month, day) = civil_from_days(days);
    let seconds = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        ms_of_day % 1000
    )
}

/// The calendar date in the tenant's time zone at `ms` since the Unix epoch, `2025-07-14`.
fn local_date(ms: i64) -> String {
    let (year, month, day) = civil_from_days((ms + TENANT_UTC_OFFSET_MS).div_euclid(MS_PER_DAY));
    format!("{year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian (year, month, day) of `days` since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, the inverse of the SDK's `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use jingxi_sdk::{
        Context, Effect, EffectKind, HookError, Record, json,
        values::{Date, Instant},
    };

    use super::{civil_from_days, local_date, on_transition, utc_date_time};

    const ID: &str = "0190a4c2-1d7e-7b3a-9c41-000000000051";
    const CUSTOMER: &str = "0190a4c2-1d7e-7b3a-9c41-000000000031";
    /// 2025-07-14T01:20:00.000Z, 09:20 in Asia/Shanghai.
    const NOW_MS: i64 = 1_752_456_000_000;

    fn ctx(now_ms: i64) -> Context {
        let mut ctx = Context::for_test();
        ctx.now_ms = now_ms;
        ctx.user_id = "0190a4c2-1d7e-7b3a-9c41-000000000041".into();
        ctx
    }

    /// A complaint as the kernel hands it to the hook, in `state`, changed by `patch`.
    fn complaint(state: &str, patch: jingxi_sdk::Value) -> Record {
        let base = json!({
            "id": ID, "state": state, "version": 3, "customer": CUSTOMER, "channel": "呼叫中心",
            "received_at": "2025-07-14T09:05:00+08:00", "category": "产品质量", "severity": "重要",
            "description": "客房空调运行噪音大。", "handler": "0190a4c2-1d7e-7b3a-9c41-000000000042",
            "root_cause": "减震垫安装不到位。", "solution": ["维修", "道歉"],
            "accept_sla_hours": 24, "resolve_sla_hours": 48
        });
        jingxi_sdk::testing::patched(base, patch)
    }

    fn effects(transition: &str, record: &Record, comment: &str) -> Vec<Effect> {
        on_transition(&ctx(NOW_MS), "complaint", transition, record, comment)
            .unwrap_or_else(|error| panic!("{transition} fails: {error:?}"))
    }

    fn refusal(record: &Record) -> String {
        refusal_in("zh-CN", record)
    }

    fn refusal_in(locale: &str, record: &Record) -> String {
        let ctx = ctx(NOW_MS).with_locale(locale);
        match on_transition(&ctx, "complaint", "propose", record, "") {
            Err(HookError::InvalidInput(message)) => message,
            other => panic!("propose should be refused, got {other:?}"),
        }
    }

    fn own_update(patch: jingxi_sdk::Value) -> Effect {
        Effect {
            kind: EffectKind::Update,
            entity: "crm.complaint".into(),
            id: Some(ID.into()),
            record: jingxi_sdk::record(patch),
        }
    }

    #[test]
    fn accept_stamps_the_acceptance_time_on_the_complaint_itself() {
        let record = complaint("accepted", json!({}));
        assert_eq!(
            effects("accept", &record, ""),
            [own_update(
                json!({"accepted_at": "2025-07-14T01:20:00.000Z"})
            )]
        );
    }

    #[test]
    fn resolve_stamps_the_resolution_time_on_the_complaint_itself() {
        let record = complaint(
            "resolved",
            json!({"accepted_at": "2025-07-14T09:20:00+08:00"}),
        );
        let ctx = ctx(NOW_MS + 86_400_000 + 1_234);
        assert_eq!(
            on_transition(&ctx, "crm.complaint", "resolve", &record, "已上门维修。"),
            Ok(vec![own_update(
                json!({"resolved_at": "2025-07-15T01:20:01.234Z"})
            )])
        );
    }

    #[test]
    fn refuses_to_stamp_a_record_without_an_id() {
        let record = complaint("accepted", json!({"id": null}));
        assert!(matches!(
            on_transition(&ctx(NOW_MS), "complaint", "accept", &record, ""),
            Err(HookError::InvalidInput(message)) if message.contains(" / ")
        ));
    }

    #[test]
    fn propose_passes_a_solution_that_agrees_with_the_compensation() {
        for patch in [
            json!({}),
            json!({"compensation": "0.00"}),
            json!({"solution": ["补偿", "道歉"], "compensation": "6800.00"}),
        ] {
            let record = complaint("solution_pending", patch.clone());
            assert_eq!(effects("propose", &record, ""), [], "{patch}");
        }
    }

    #[test]
    fn propose_refuses_compensation_in_the_solution_without_an_amount() {
        for patch in [
            json!({"solution": ["补偿"]}),
            json!({"solution": ["补偿"], "compensation": "0"}),
            json!({"solution": ["补偿"], "compensation": "-10.00"}),
        ] {
            let record = complaint("solution_pending", patch);
            let message = refusal(&record);
            assert!(message.contains("大于 0 的补偿金额"), "{message}");
            assert!(!message.contains("The solution"), "{message}");
            let english = refusal_in("en", &record);
            assert!(
                english.starts_with("The solution includes compensation"),
                "{english}"
            );
        }
    }

    #[test]
    fn propose_refuses_an_amount_the_solution_does_not_include() {
        let record = complaint("solution_pending", json!({"compensation": "0.01"}));
        let message = refusal(&record);
        assert!(message.contains("处理方案须包含“补偿”"), "{message}");
        let english = refusal_in("en", &record);
        assert!(
            english.starts_with("A compensation amount is entered"),
            "{english}"
        );
    }

    #[test]
    fn revisit_files_a_complaint_follow_up_visit() {
        let record = complaint("revisited", json!({"revisit_satisfaction": 4}));
        assert_eq!(
            effects("revisit", &record, "  客户对维修结果满意。 "),
            [Effect {
                kind: EffectKind::Create,
                entity: "crm.visit_record".into(),
                id: None,
                record: jingxi_sdk::record(json!({
                    "customer": CUSTOMER, "visit_type": "投诉回访", "visit_date": "2025-07-14",
                    "staff": "0190a4c2-1d7e-7b3a-9c41-000000000041",
                    "content": "客户对维修结果满意。", "satisfaction": 4, "complaint": ID
                })),
            }]
        );
    }

    #[test]
    fn a_dissatisfied_revisit_is_filed_too_and_an_empty_comment_gets_a_default() {
        let record = complaint("investigating", json!({"revisit_satisfaction": 2}));
        let visit = &effects("revisit", &record, " \n")[0].record;
        assert_eq!(visit["content"], "投诉回访");
        assert_eq!(visit["satisfaction"], 2);
        assert_eq!(visit["complaint"], ID);
    }

    #[test]
    fn a_revisit_without_satisfaction_leaves_it_out() {
        let visit = &effects("revisit", &complaint("revisited", json!({})), "")[0].record;
        assert!(!visit.contains_key("satisfaction"));
    }

    #[test]
    fn the_visit_date_is_the_tenants_day() {
        // 2025-07-13T16:30:00Z is already 00:30 on the 14th in Asia/Shanghai.
        let ctx = ctx(1_752_424_200_000);
        let record = complaint("revisited", json!({"revisit_satisfaction": 5}));
        let visit = &on_transition(&ctx, "complaint", "revisit", &record, "")
            .expect("revisit succeeds")[0]
            .record;
        assert_eq!(visit["visit_date"], "2025-07-14");
    }

    #[test]
    fn other_transitions_and_entities_have_no_effects() {
        let record = complaint("resolving", json!({"solution": ["补偿"]}));
        for transition in [
            "invalidate",
            "investigate",
            "approve",
            "mgr_approve",
            "director_approve",
            "return",
            "close",
        ] {
            assert_eq!(effects(transition, &record, ""), [], "{transition}");
        }
        for entity in ["customer", "crm.visit_record"] {
            assert_eq!(
                on_transition(&ctx(NOW_MS), entity, "accept", &record, ""),
                Ok(Vec::new())
            );
        }
    }

    #[test]
    fn formats_utc_date_times() {
        assert_eq!(utc_date_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_date_time(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(utc_date_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc_date_time(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(utc_date_time(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(
            Instant::parse(&utc_date_time(NOW_MS)),
            Instant::parse("2025-07-14T09:20:00+08:00")
        );
    }

    #[test]
    fn local_dates_follow_asia_shanghai() {
        assert_eq!(local_date(0), "1970-01-01");
        assert_eq!(local_date(16 * 3_600_000 - 1), "1970-01-01");
        assert_eq!(local_date(16 * 3_600_000), "1970-01-02");
    }

    #[test]
    fn every_day_from_1900_to_2298_is_a_valid_date_after_the_one_before() {
        let mut previous = None;
        for days in -25_567..=120_000 {
            let (year, month, day) = civil_from_days(days);
            let date = Date::parse(&format!("{year:04}-{month:02}-{day:02}"))
                .unwrap_or_else(|| panic!("day {days} gives {year}-{month}-{day}"));
            assert!(previous < Some(date), "day {days}");
            previous = Some(date);
        }
        assert_eq!(civil_from_days(-25_567), (1900, 1, 1));
        assert_eq!(civil_from_days(120_000), (2298, 7, 20));
    }
}
