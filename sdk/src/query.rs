//! Reading other records from a hook: the `query` import, and a fake for native tests.
//!
//! The kernel answers through the calling user's tenant and permissions, so a plugin never sees
//! more than the person whose action runs it. Only the plugin's own entities and those of the
//! plugins it `requires` can be read.

use serde_json::Value;

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
