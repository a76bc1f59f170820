//! Reading other records from a hook: the `query`, `aggregate` and `count` imports, and fakes for
//! native tests.
//!
//! The kernel answers through the calling user's tenant and permissions, so a plugin never sees
//! more than the person whose action runs it. Only the plugin's own entities and those of the
//! plugins it `requires` can be read.

use serde_json::{Map, Value};

use crate::Record;

/// Reads up to `limit` records (at most 1000) of `entity` (qualified, e.g. `crm.customer`) that
/// match `filter`: schema field names with operators `eq ne in notIn lt lte gt gte like isNull`,
/// combined with `and`, `or`, `not`; `{}` matches every record the caller may read.
///
/// In native tests the answer comes from [`fake`].
///
/// ```
/// use jingxi_sdk::{json, query};
///
/// let _guard = query::fake(|entity, filter, _limit| {
///     assert_eq!(entity, "crm.customer");
///     assert_eq!(filter["stage"]["eq"], "成交客户");
///     Ok(vec![jingxi_sdk::record(json!({"name": "杭州恒达"}))])
/// });
/// let found = query::query("crm.customer", &json!({"stage": {"eq": "成交客户"}}), 10).unwrap();
/// assert_eq!(found[0]["name"], "杭州恒达");
/// ```
pub fn query(entity: &str, filter: &Value, limit: u32) -> Result<Vec<Record>, String> {
    let rows = crate::glue::query(entity, &filter.to_string(), limit)?;
    rows.iter()
        .map(|row| match serde_json::from_str(row) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err("the kernel returned a record that is not a JSON object".to_string()),
        })
        .collect()
}

/// Answers [`query`] calls of the current thread with `answer` until the guard is dropped, so
/// hooks that read other records can be unit-tested without wasm or a kernel.
///
/// ```
/// let _guard = jingxi_sdk::query::fake(|_, _, _| Err("no records here".into()));
/// assert!(jingxi_sdk::query::query("crm.customer", &jingxi_sdk::json!({}), 1).is_err());
/// ```
pub fn fake(
    answer: impl Fn(&str, &Value, u32) -> Result<Vec<Record>, String> + 'static,
) -> FakeGuard {
    crate::glue::set_fake_query(Some(Box::new(answer)));
    FakeGuard(())
}

/// Removes the fake answer when dropped.
#[derive(Debug)]
pub struct FakeGuard(());

impl Drop for FakeGuard {
    fn drop(&mut self) {
        crate::glue::set_fake_query(None);
    }
}

/// One group of an [`aggregate`] or a [`count_by`]: the values of the fields grouped by, the
/// number of records, and (for an aggregate) per numeric field its sum, average, minimum and
/// maximum over the records that have a value, all keyed by schema field names. Money and
/// decimals are exact strings (`"1500.00"`), integers numbers, averages of integers and floats
/// floating-point numbers; a field without values is `null`. The groups of a count have empty
/// `sum`, `avg`, `min` and `max`.
///
/// ```
/// use jingxi_sdk::{RecordExt, json, query::Group, values::Amount};
///
/// let group = Group::with_count(2)
///     .with_key("stage", json!("成交客户"))
///     .with_sum("annual_potential", json!("3000000.30"));
/// assert_eq!(group.count, 2);
/// assert_eq!(group.sum.amount("annual_potential"), Amount::parse("3000000.30"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    /// The values of the fields grouped by; empty without `group_by`.
    pub key: Record,
    /// The number of records in the group.
    pub count: u64,
    /// Sums per numeric field.
    pub sum: Record,
    /// Averages per numeric field.
    pub avg: Record,
    /// Smallest values per numeric field.
    pub min: Record,
    /// Largest values per numeric field.
    pub max: Record,
}

impl Group {
    /// A group of `count` records and nothing else: the start of a fake answer.
    pub fn with_count(count: u64) -> Group {
        Group {
            count,
            ..Group::default()
        }
    }

    /// The group with `field` set to `value` in its key.
    pub fn with_key(mut self, field: &str, value: Value) -> Group {
        self.key.insert(field.into(), value);
        self
    }

    /// The group with the sum of `field` set to `value`.
    pub fn with_sum(mut self, field: &str, value: Value) -> Group {
        self.sum.insert(field.into(), value);
        self
    }

    /// The group with the average of `field` set to `value`.
    pub fn with_avg(mut self, field: &str, value: Value) -> Group {
        self.avg.insert(field.into(), value);
        self
    }

    /// The group with the minimum of `field` set to `value`.
    pub fn with_min(mut self, field: &str, value: Value) -> Group {
        self.min.insert(field.into(), value);
        self
    }

    /// The group with the maximum of `field` set to `value`.
    pub fn with_max(mut self, field: &str, value: Value) -> Group {
        self.max.insert(field.into(), value);
        self
    }

    /// The group as the kernel sends it.
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("key".into(), Value::Object(self.key.clone()));
        map.insert("count".into(), Value::from(self.count));
        for (name, values) in [
            ("sum", &self.sum),
            ("avg", &self.avg),
            ("min", &self.min),
            ("max", &self.max),
        ] {
            map.insert(name.into(), Value::Object(values.clone()));
        }
        Value::Object(map)
    }

    /// Reads a group as the kernel sends it.
    fn from_value(value: Value) -> Result<Group, String> {
        let Value::Object(mut map) = value else {
            return Err("the kernel returned a group that is not a JSON object".into());
        };
        let mut object = |name: &str| match map.remove(name) {
            Some(Value::Object(values)) => Ok(values),
            None | Some(Value::Null) => Ok(Map::new()),
            Some(_) => Err(format!(
                "the kernel returned a group whose {name} is not an object"
            )),
        };
        Ok(Group {
            key: object("key")?,
            sum: object("sum")?,
            avg: object("avg")?,
            min: object("min")?,
            max: object("max")?,
            count: map
                .get("count")
                .and_then(Value::as_u64)
                .ok_or("the kernel returned a group without a count")?,
        })
    }
}

/// Groups the records of `entity` that match `filter` (as for [`query`]) by the fields
/// `group_by`, and counts, sums, averages and finds the minimum and maximum of every numeric
/// field per group, in the database: the way to compute a KPI over many records without
/// reading them. Without `group_by` there is one group of every matching record (none when the
/// caller may not read the entity at all). At most 1000 groups come back, the largest first, and
/// the call counts against the same budget as [`query`].
///
/// The numbers make the database read every matching record; when counts are all you need,
/// [`count_by`] and [`count`] can be answered from an index and are much faster.
///
/// In native tests the answer comes from [`fake_aggregate`].
///
/// ```
/// use jingxi_sdk::{json, query::{self, Group}};
///
/// let _guard = query::fake_aggregate(|entity, filter, group_by| {
///     assert_eq!((entity, group_by), ("crm.complaint", &["severity".to_string()][..]));
///     assert_eq!(filter["accepted_in_time"]["eq"], true);
///     Ok(vec![Group::with_count(7).with_key("severity", json!("一般")),
///             Group::with_count(2).with_key("severity", json!("紧急"))])
/// });
/// let groups = query::aggregate(
///     "crm.complaint",
///     &json!({"accepted_in_time": {"eq": true}}),
///     &["severity"],
/// )
/// .unwrap();
/// assert_eq!(groups[1].key["severity"], "紧急");
/// assert_eq!(groups.iter().map(|g| g.count).sum::<u64>(), 9);
/// ```
pub fn aggregate(entity: &str, filter: &Value, group_by: &[&str]) -> Result<Vec<Group>, String> {
    let group_by: Vec<String> = group_by.iter().map(|field| field.to_string()).collect();
    let answer = crate::glue::aggregate(entity, &filter.to_string(), &group_by)?;
    parse_groups(&answer)
}

/// Counts the records of `entity` that match `filter` (as for [`query`]) per group of the fields
/// `group_by`, in the database, without sums or other numbers: like [`aggregate`] (same groups,
/// limits and budget), but the database can answer it from an index that holds the filtered and
/// grouped fields, without reading the records. The groups carry only their key and count.
/// On a kernel that predates the `count` import the call fails as a plugin failure.
///
/// In native tests the answer comes from [`fake_count`].
///
/// ```
/// use jingxi_sdk::{json, query::{self, Group}};
///
/// let _guard = query::fake_count(|entity, filter, group_by| {
///     assert_eq!((entity, group_by), ("crm.complaint", &["accepted_in_time".to_string()][..]));
///     assert_eq!(filter["state"]["ne"], "invalid");
///     Ok(vec![Group::with_count(7).with_key("accepted_in_time", json!(true)),
///             Group::with_count(2).with_key("accepted_in_time", json!(false))])
/// });
/// let groups = query::count_by(
///     "crm.complaint",
///     &json!({"state": {"ne": "invalid"}}),
///     &["accepted_in_time"],
/// )
/// .unwrap();
/// assert_eq!(groups[0].key["accepted_in_time"], true);
/// assert_eq!(groups.iter().map(|g| g.count).sum::<u64>(), 9);
/// ```
pub fn count_by(entity: &str, filter: &Value, group_by: &[&str]) -> Result<Vec<Group>, String> {
    let group_by: Vec<String> = group_by.iter().map(|field| field.to_string()).collect();
    let answer = crate::glue::count(entity, &filter.to_string(), &group_by)?;
    parse_groups(&answer)
}

/// The number of records of `entity` that match `filter`: one [`count_by`] without grouping.
///
/// ```
/// use jingxi_sdk::{json, query::{self, Group}};
///
/// let _guard = query::fake_count(|_, _, _| Ok(vec![Group::with_count(12)]));
/// assert_eq!(query::count("crm.complaint", &json!({})), Ok(12));
/// ```
pub fn count(entity: &str, filter: &Value) -> Result<u64, String> {
    Ok(count_by(entity, filter, &[])?
        .iter()
        .map(|group| group.count)
        .sum())
}

/// Reads the groups the kernel answered.
fn parse_groups(answer: &str) -> Result<Vec<Group>, String> {
    match serde_json::from_str(answer) {
        Ok(Value::Array(groups)) => groups.into_iter().map(Group::from_value).collect(),
        _ => Err("the kernel returned groups that are not a JSON array".to_string()),
    }
}

/// Answers [`aggregate`] calls of the current thread with `answer` until the guard is dropped,
/// so KPIs and other hooks that aggregate can be unit-tested without wasm or a kernel. The fake
/// gets the entity, the filter and the fields grouped by.
///
/// ```
/// let _guard = jingxi_sdk::query::fake_aggregate(|_, _, _| Err("no records here".into()));
/// assert!(jingxi_sdk::query::aggregate("crm.complaint", &jingxi_sdk::json!({}), &[]).is_err());
/// ```
pub fn fake_aggregate(
    answer: impl Fn(&str, &Value, &[String]) -> Result<Vec<Group>, String> + 'static,
) -> FakeAggregateGuard {
    crate::glue::set_fake_aggregate(Some(Box::new(answer)));
    FakeAggregateGuard(())
}

/// Removes the fake answer of [`aggregate`] when dropped.
#[derive(Debug)]
pub struct FakeAggregateGuard(());

impl Drop for FakeAggregateGuard {
    fn drop(&mut self) {
        crate::glue::set_fake_aggregate(None);
    }
}

/// Answers [`count_by`] and [`count`] calls of the current thread with `answer` until the guard
/// is dropped, like [`fake_aggregate`] for [`aggregate`]; only the keys and counts of the fake's
/// groups come back, as from the kernel.
///
/// ```
/// let _guard = jingxi_sdk::query::fake_count(|_, _, _| Err("no records here".into()));
/// assert!(jingxi_sdk::query::count("crm.complaint", &jingxi_sdk::json!({})).is_err());
/// ```
pub fn fake_count(
    answer: impl Fn(&str, &Value, &[String]) -> Result<Vec<Group>, String> + 'static,
) -> FakeCountGuard {
    crate::glue::set_fake_count(Some(Box::new(answer)));
    FakeCountGuard(())
}

/// Removes the fake answer of [`count_by`] and [`count`] when dropped.
#[derive(Debug)]
pub struct FakeCountGuard(());

impl Drop for FakeCountGuard {
    fn drop(&mut self) {
        crate::glue::set_fake_count(None);
    }
}
