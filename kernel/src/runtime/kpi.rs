//! KPIs: those the tenant's enabled plugins declare, and their value over a period, computed by
//! the declaring plugin's `kpi` hook over the records the caller may read (the hook counts and
//! aggregates through the `count` and `aggregate` imports, so the work happens in SQL).

use std::str::FromStr;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{Caller, Error, InstalledPlugin, Kernel, RecordIssue, Result, TenantCatalog};
use crate::model::{KpiDef, Locale};
use crate::plugin_host;

/// The longest period a KPI is computed over, in days (both ends included): a leap year.
pub const MAX_KPI_DAYS: i64 = 366;

/// The keys of a `kpi` hook's answer.
const ANSWER_KEYS: [&str; 3] = ["value", "numerator", "denominator"];

/// A KPI's value over a period, as its plugin computed it.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiValue {
    pub def: KpiDef,
    /// `None` when there is nothing to measure (a ratio over no records).
    pub value: Option<Decimal>,
    pub numerator: Option<Decimal>,
    pub denominator: Option<Decimal>,
    pub from: NaiveDate,
    /// The last day of the period, included.
    pub to: NaiveDate,
}

impl TenantCatalog {
    /// The KPIs of the enabled plugins, in plugin order, with the plugin declaring each.
    pub fn kpis(&self) -> impl Iterator<Item = (&Arc<InstalledPlugin>, &KpiDef)> {
        self.plugins
            .iter()
            .flat_map(|plugin| plugin.def.kpis.iter().map(move |kpi| (plugin, kpi)))
    }

    /// The KPI with the qualified id `crm.complaint_accept_timeliness`, if its plugin is enabled.
    pub fn kpi(&self, qualified: &str) -> Option<(&Arc<InstalledPlugin>, &KpiDef)> {
        let (plugin_id, _) = qualified.split_once('.')?;
        let plugin = self.plugins.iter().find(|p| p.def.id == plugin_id)?;
        plugin.def.kpi(qualified).map(|kpi| (plugin, kpi))
    }
}

impl Kernel {
    /// Computes the KPI `id` (qualified) for the days `from` to `to` (`YYYY-MM-DD`, both
    /// included): the plugin's `kpi` hook gets `{"id", "from", "to"}` and answers
    /// `{"value", "numerator", "denominator"}`, each a number, a decimal string or null.
    ///
    /// `NOT_FOUND` for a KPI no enabled plugin declares; `VALIDATION_FAILED` for a date that is
    /// not one, `from` after `to`, or a period over [`MAX_KPI_DAYS`]; `PLUGIN_FAILED` when the
    /// answer has another shape.
    pub async fn kpi(
        &self,
        caller: &Caller<'_>,
        id: &str,
        from: &str,
        to: &str,
    ) -> Result<KpiValue> {
        let locale = caller.locale;
        let Some((plugin, def)) = caller.catalog.kpi(id) else {
            return Err(Error::NotFound(locale.pick(
                format!("没有考核指标 {id}。可用的指标见 kpis 查询。"),
                format!("There is no KPI {id}. Hint: the kpis query lists them."),
            )));
        };
        let (from, to) = period(locale, from, to)?;
        let params = json!({
            "id": def.id,
            "from": from.format("%Y-%m-%d").to_string(),
            "to": to.format("%Y-%m-%d").to_string(),
        })
        .to_string();
        let ctx = self.hook_context(caller, plugin, Utc::now());
        let (component, hook_id) = (plugin.component.clone(), def.id.clone());
        let answer = tokio::task::spawn_blocking(move || component.kpi(&ctx, &hook_id, &params))
            .await
            .map_err(|error| Error::Internal(error.to_string()))??;
        let failed = |message: String| {
            Error::Plugin(plugin_host::Error::PluginFailed {
                plugin: plugin.def.id.clone(),
                hook: "kpi",
                message: format!("KPI {}: {message}", def.qualified),
            })
        };
        let answer: Value = serde_json::from_str(&answer)
            .map_err(|error| failed(format!("the answer is not JSON: {error}")))?;
        let Value::Object(answer) = answer else {
            return Err(failed(
                "the answer must be an object {\"value\", \"numerator\", \"denominator\"}".into(),
            ));
        };
        if let Some(key) = answer.keys().find(|k| !ANSWER_KEYS.contains(&k.as_str())) {
            return Err(failed(format!(
                "the answer holds the unknown key `{key}`; it may hold value, numerator and denominator"
            )));
        }
        if !answer.contains_key("value") {
            return Err(failed(
                "the answer has no `value` (null when there is none)".into(),
            ));
        }
        let number = |key: &str| {
            decimal(answer.get(key).unwrap_or(&Value::Null))
                .map_err(|message| failed(format!("`{key}` {message}")))
        };
        Ok(KpiValue {
            def: def.clone(),
            value: number("value")?,
            numerator: number("numerator")?,
            denominator: number("denominator")?,
            from,
            to,
        })
    }
}

/// The days `from` to `to`, checked: real dates, in order, at most [`MAX_KPI_DAYS`].
fn period(locale: Locale, from: &str, to: &str) -> Result<(NaiveDate, NaiveDate)> {
    let invalid = |pointer: &str, code: &str, message: String| Error::Validation {
        issues: vec![RecordIssue {
            index: None,
            pointer: pointer.into(),
            code: code.into(),
            message,
        }],
    };
    let date = |pointer: &str, text: &str| {
        parse_date(text).ok_or_else(|| {
            invalid(
                pointer,
                "date",
                locale.pick(
                    format!("{text} 不是有效日期,格式为 2026-11-27。"),
                    format!("{text} is not a date such as 2026-11-27."),
                ),
            )
        })
    };
    let (from, to) = (date("/from", from)?, date("/to", to)?);
    if from > to {
        return Err(invalid(
            "/to",
            "period",
            locale.pick(
                format!("结束日期 {to} 早于开始日期 {from}。"),
                format!("The period ends ({to}) before it starts ({from})."),
            ),
        ));
    }
    let days = (to - from).num_days() + 1;
    if days > MAX_KPI_DAYS {
        return Err(invalid(
            "/to",
            "period",
            locale.pick(
                format!("统计期间为 {days} 天,最长 {MAX_KPI_DAYS} 天。"),
                format!("The period spans {days} days; at most {MAX_KPI_DAYS} are allowed."),
            ),
        ));
    }
    Ok((from, to))
}

/// A date written exactly `YYYY-MM-DD`.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let well_formed = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    well_formed
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
}

/// A number of a KPI answer: a JSON number, a decimal string, or null.
fn decimal(value: &Value) -> std::result::Result<Option<Decimal>, String> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            let plain = !digits.is_empty()
                && !digits.starts_with('.')
                && !digits.ends_with('.')
                && digits.bytes().filter(|b| *b == b'.').count() <= 1
                && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            if !plain {
                return Err(format!("is {s:?}, not a decimal such as \"95.50\""));
            }
            s.clone()
        }
        other => {
            return Err(format!(
                "is {other}, not a number, a decimal string or null"
            ));
        }
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map(Some)
        .map_err(|_| format!("is {text}, out of the range of exact decimals"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_decimal_strings_and_null() {
        assert_eq!(decimal(&json!(null)), Ok(None));
        assert_eq!(decimal(&json!(3)), Ok(Some(Decimal::from(3))));
        assert_eq!(
            decimal(&json!("66.67")).map(|d| d.map(|d| d.to_string())),
            Ok(Some("66.67".to_string()))
        );
        assert_eq!(
            decimal(&json!(0.5)).map(|d| d.map(|d| d.to_string())),
            Ok(Some("0.5".to_string()))
        );
        assert_eq!(
            decimal(&json!(1e-7)).map(|d| d.map(|d| d.to_string())),
            Ok(Some("0.0000001".to_string()))
        );
        for bad in [
            json!("1e3"),
            json!(""),
            json!("1."),
            json!("abc"),
            json!([1]),
        ] {
            assert!(decimal(&bad).is_err(), "{bad}");
        }
        assert!(decimal(&json!(1e300)).is_err());
    }

    #[test]
    fn periods_are_ordered_real_dates_of_at_most_a_leap_year() {
        let en = Locale::En;
        assert!(period(en, "2024-01-01", "2024-12-31").is_ok(), "366 days");
        assert!(period(en, "2025-03-01", "2025-03-01").is_ok(), "one day");
        let code = |from: &str, to: &str| match period(en, from, to) {
            Err(Error::Validation { issues }) => {
                format!("{} {}", issues[0].pointer, issues[0].code)
            }
            other => format!("{other:?}"),
        };
        assert_eq!(code("2025-03-02", "2025-03-01"), "/to period");
        assert_eq!(code("2024-01-01", "2025-01-01"), "/to period");
        assert_eq!(code("2025-02-29", "2025-03-01"), "/from date");
        assert_eq!(code("2025-03-01", "2025-3-1"), "/to date");
        assert_eq!(code("2025-03-01", "2025-03-01T00:00:00Z"), "/to date");
    }
}
