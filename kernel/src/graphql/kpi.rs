//! `kpis` (the KPIs of the enabled plugins) and `kpi(id, from, to)` (one KPI's value over a
//! period, computed by its plugin over the records the caller may read).

use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, InputValue, Object, TypeRef,
};
use serde_json::{Value, json};

use super::schema::{json_object, map_field, request};
use super::to_graphql_error;
use crate::model::{KpiDef, Locale};
use crate::runtime::{KpiValue, MAX_KPI_DAYS};

/// The enums and objects of the KPI queries.
pub fn types() -> (Vec<Enum>, Vec<Object>) {
    let text_nn = |name: &str| map_field(name, name, TypeRef::named_nn(TypeRef::STRING));
    let decimal = |name: &str| map_field(name, name, TypeRef::named("Decimal"));
    let enums = vec![
        Enum::new("KpiUnit")
            .description("What a KPI's value measures.")
            .item(EnumItem::new("PERCENT").description("A percentage, 0–100."))
            .item(EnumItem::new("SCORE").description("A score, such as 0–100 points."))
            .item(EnumItem::new("COUNT").description("A number of things."))
            .item(EnumItem::new("MONEY").description("An amount of money, CNY."))
            .item(EnumItem::new("NUMBER").description("Any other number.")),
        Enum::new("KpiBetter")
            .description("Which way a KPI improves.")
            .item(EnumItem::new("HIGHER").description("A higher value is better."))
            .item(
                EnumItem::new("LOWER").description("A lower value is better, as for a churn rate."),
            ),
    ];
    let objects = vec![
        Object::new("Kpi")
            .description("A KPI (考核指标) an enabled plugin computes.")
            .field(text_nn("id").description("Qualified id, e.g. crm.complaint_accept_timeliness."))
            .field(text_nn("plugin"))
            .field(text_nn("title").description("In your language (Accept-Language)."))
            .field(map_field("description", "description", TypeRef::named(TypeRef::STRING))
                .description("The formula, in your language."))
            .field(map_field("unit", "unit", TypeRef::named_nn("KpiUnit")))
            .field(map_field("better", "better", TypeRef::named_nn("KpiBetter"))),
        Object::new("KpiValue")
            .description("A KPI over a period, computed over the records you may read.")
            .field(text_nn("id"))
            .field(decimal("value").description(
                "Exact decimal in the KPI's unit (PERCENT: 0–100, rounded by the plugin); null when there is nothing to measure, such as a rate over no records.",
            ))
            .field(map_field("unit", "unit", TypeRef::named_nn("KpiUnit")))
            .field(decimal("numerator").description("The numerator of the ratio the value comes from; null when the KPI is not a ratio."))
            .field(decimal("denominator").description("The denominator of the ratio the value comes from; null when the KPI is not a ratio."))
            .field(map_field("from", "from", TypeRef::named_nn("Date")).description("First day of the period."))
            .field(map_field("to", "to", TypeRef::named_nn("Date")).description("Last day of the period, included.")),
    ];
    (enums, objects)
}

fn kpi_json(plugin: &str, kpi: &KpiDef, locale: Locale) -> Value {
    let description = locale.pick(kpi.description.clone(), kpi.description_en.clone());
    json!({
        "id": kpi.qualified, "plugin": plugin,
        "title": locale.pick(kpi.title.clone(), kpi.title_en.clone()),
        "description": (!description.is_empty()).then_some(description),
        "unit": kpi.unit.as_str().to_ascii_uppercase(),
        "better": kpi.better.as_str().to_ascii_uppercase(),
    })
}

fn value_json(value: &KpiValue) -> Value {
    let text = |d: &Option<rust_decimal::Decimal>| d.map(|d| d.to_string());
    json!({
        "id": value.def.qualified,
        "value": text(&value.value),
        "unit": value.def.unit.as_str().to_ascii_uppercase(),
        "numerator": text(&value.numerator),
        "denominator": text(&value.denominator),
        "from": value.from.format("%Y-%m-%d").to_string(),
        "to": value.to.format("%Y-%m-%d").to_string(),
    })
}

/// `kpis` and `kpi(id, from, to)`.
pub fn query_fields() -> Vec<Field> {
    let kpis = Field::new("kpis", TypeRef::named_nn_list_nn("Kpi"), |ctx| {
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            let locale = request.locale;
            Ok(Some(FieldValue::list(request.catalog.kpis().map(
                |(plugin, kpi)| {
                    FieldValue::owned_any(json_object(kpi_json(&plugin.def.id, kpi, locale)))
                },
            ))))
        })
    })
    .description("The KPIs of the plugins enabled for your tenant.");
    let kpi = Field::new("kpi", TypeRef::named_nn("KpiValue"), |ctx| {
        FieldFuture::new(async move {
            let request = request(&ctx)?;
            let id = ctx.args.try_get("id")?.string()?;
            let from = ctx.args.try_get("from")?.string()?;
            let to = ctx.args.try_get("to")?.string()?;
            let value = request
                .kernel
                .kpi(&request.caller(), id, from, to)
                .await
                .map_err(to_graphql_error)?;
            Ok(Some(FieldValue::owned_any(json_object(value_json(&value)))))
        })
    })
    .description(format!(
        "One KPI over the days from `from` to `to` (both included, at most {MAX_KPI_DAYS}), computed over the records you may read."
    ))
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING)).description("Qualified id, from `kpis`."))
    .argument(InputValue::new("from", TypeRef::named_nn("Date")))
    .argument(InputValue::new("to", TypeRef::named_nn("Date")));
    vec![kpis, kpi]
}
