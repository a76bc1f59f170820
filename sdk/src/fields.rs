//! Typed reads of record fields that tolerate missing or ill-typed values, which the schema reports.

use serde_json::Value;

use crate::{
    Record,
    values::{Amount, Date, Instant},
};

/// Reads of a [`Record`]'s fields for rules and computed fields.
///
/// A field that is missing, of the wrong type or malformed reads as `None` (or `false`): the
/// entity's JSON Schema already reports it, so a rule only judges the values that are there.
///
/// ```
/// use jingxi_sdk::RecordExt;
///
/// let record = jingxi_sdk::record(jingxi_sdk::json!({
///     "name": "杭州恒达", "note": "  ", "list_price": "3999.00", "visit_date": "2025-07-09",
/// }));
/// assert_eq!(record.text("name"), Some("杭州恒达"));
/// assert_eq!(record.text("note"), None);
/// assert!(record.is_blank("note"));
/// assert!(record.amount("list_price") > jingxi_sdk::values::Amount::parse("3000"));
/// assert!(record.date("visit_date").is_some());
/// ```
pub trait RecordExt {
    /// The string value of `name`, or `None` when it is missing, not a string, or blank.
    ///
    /// ```
    /// use jingxi_sdk::RecordExt;
    ///
    /// let record = jingxi_sdk::record(jingxi_sdk::json!({"code": "HZ", "name": " ", "level": 2}));
    /// assert_eq!(record.text("code"), Some("HZ"));
    /// assert_eq!(record.text("name"), None);
    /// assert_eq!(record.text("level"), None);
    /// ```
    fn text(&self, name: &str) -> Option<&str>;

    /// Whether `name` holds a string made only of whitespace (a missing field is not blank).
    ///
    /// ```
    /// use jingxi_sdk::RecordExt;
    ///
    /// let record = jingxi_sdk::record(jingxi_sdk::json!({"name": "\t", "code": "HZ"}));
    /// assert!(record.is_blank("name"));
    /// assert!(!record.is_blank("code"));
    /// assert!(!record.is_blank("missing"));
    /// ```
    fn is_blank(&self, name: &str) -> bool;

    /// Whether the boolean field `name` is `true`.
    ///
    /// ```
    /// use jingxi_sdk::RecordExt;
    ///
    /// let record = jingxi_sdk::record(jingxi_sdk::json!({"is_primary": true, "active": "true"}));
    /// assert!(record.is_true("is_primary"));
    /// assert!(!record.is_true("active"));
    /// ```
    fn is_true(&self, name: &str) -> bool;

    /// Whether the multi-select field `name` includes `option`.
    ///
    /// ```
    /// use jingxi_sdk::RecordExt;
    ///
    /// let record = jingxi_sdk::record(jingxi_sdk::json!({"solution": ["维修", "补偿"]}));
    /// assert!(record.has_option("solution", "补偿"));
    /// assert!(!record.has_option("solution", "退货"));
    /// ```
    fn has_option(&self, name: &str, option: &str) -> bool;

    /// The money or decimal field `name` as an exact [`Amount`].
    ///
    /// ```
    /// use jingxi_sdk::{RecordExt, values::Amount};
    ///
    /// let record = jingxi_sdk::record(jingxi_sdk::json!({"list_price": "10", "dealer_price": "9.99"}));
    /// assert!(record.amount("dealer_price") < record.amount("list_price"));
    /// assert_eq!(record.amount("cost_price"), None);
    /// ```
    fn amount(&self, name: &str) -> Option<Amount>;

    /// The date field `name` as a [`Date`].
    ///
    /// ```
    /// use jingxi_sdk::RecordExt;
    ///
    /// let record = jingxi_sdk::record(jingxi_sdk::json!({"visit_date": "2025-07-09", "next_date": "2025-08-06"}));
    /// assert!(record.date("next_date") > record.date("visit_date"));
    /// ```
    fn date(&self, name: &str) -> Option<Date>;

    /// The date-time field `name` as an [`Instant`].
    ///
    /// ```
    /// use jingxi_sdk::RecordExt;
    ///
    /// let record = jingxi_sdk::record(jingxi_sdk::json!({
    ///     "received_at": "2025-07-14T09:20:00+08:00", "accepted_at": "2025-07-14T01:21:00Z",
    /// }));
    /// assert!(record.instant("accepted_at") > record.instant("received_at"));
    /// ```
    fn instant(&self, name: &str) -> Option<Instant>;

    /// The rows of the child table `name` with their indexes; rows that are not objects are skipped.
    ///
    /// ```
    /// use jingxi_sdk::RecordExt;
    ///
    /// let record = jingxi_sdk::record(jingxi_sdk::json!({"duties": [{"seq": 1}, "x", {"seq": 2}]}));
    /// let indexes: Vec<usize> = record.rows("duties").map(|(row_idx, _)| row_idx).collect();
    /// assert_eq!(indexes, [0, 2]);
    /// ```
    fn rows(&self, name: &str) -> impl Iterator<Item = (usize, &Record)>;

    /// Whether the child table `name` is present and has no rows.
    ///
    /// ```
    /// use jingxi_sdk::RecordExt;
    ///
    /// let record = jingxi_sdk::record(jingxi_sdk::json!({"duties": []}));
    /// assert!(record.is_empty_table("duties"));
    /// assert!(!record.is_empty_table("powers"));
    /// ```
    fn is_empty_table(&self, name: &str) -> bool;
}

impl RecordExt for Record {
    fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Value::String(value)) if !value.trim().is_empty() => Some(value),
            _ => None,
        }
    }

    fn is_blank(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Value::String(value)) if value.trim().is_empty())
    }

    fn is_true(&self, name: &str) -> bool {
        self.get(name).and_then(Value::as_bool) == Some(true)
    }

    fn has_option(&self, name: &str, option: &str) -> bool {
        match self.get(name) {
            Some(Value::Array(options)) => options.iter().any(|item| item.as_str() == Some(option)),
            _ => false,
        }
    }

    fn amount(&self, name: &str) -> Option<Amount> {
        self.text(name).and_then(Amount::parse)
    }

    fn date(&self, name: &str) -> Option<Date> {
        self.text(name).and_then(Date::parse)
    }

    fn instant(&self, name: &str) -> Option<Instant> {
        self.text(name).and_then(Instant::parse)
    }

    fn rows(&self, name: &str) -> impl Iterator<Item = (usize, &Record)> {
        let rows = match self.get(name) {
            Some(Value::Array(rows)) => rows.as_slice(),
            _ => &[],
        };
        rows.iter()
            .enumerate()
            .filter_map(|(row_idx, row)| row.as_object().map(|row| (row_idx, row)))
    }

    fn is_empty_table(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Value::Array(rows)) if rows.is_empty())
    }
}
