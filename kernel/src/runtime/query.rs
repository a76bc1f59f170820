//! The records a plugin may read during a hook call (`query`, `aggregate` and `count` imports):
//! its own entities and those of the plugins it requires, through the calling user's tenant, row
//! scope and field level.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Caller, InstalledPlugin};
use crate::model::EntityDef;
use crate::permissions::{Action, Principal};
use crate::plugin_host::RecordSource;
use crate::store::{Filter, Group, Metrics, Op, Page, Store};

/// A `RecordSource` bound to one caller and one plugin.
pub struct PluginQuery {
    store: Store,
    principal: Principal,
    plugin: String,
    readable: Vec<Arc<EntityDef>>,
    runtime: tokio::runtime::Handle,
}

impl PluginQuery {
    /// What `plugin` may read for `caller`: entities of the plugin and of its requirements that
    /// the tenant has enabled.
    pub fn new(
        store: &Store,
        caller: &Caller<'_>,
        plugin: &InstalledPlugin,
    ) -> Option<PluginQuery> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let readable = caller
            .catalog
            .entities()
            .filter(|e| e.plugin == plugin.def.id || plugin.def.requires.contains(&e.plugin))
            .cloned()
            .collect();
        Some(PluginQuery {
            store: store.clone(),
            principal: caller.principal.clone(),
            plugin: plugin.def.id.clone(),
            readable,
            runtime,
        })
    }
}

impl PluginQuery {
    /// The entity `entity` names, if the plugin may read it, and the parsed filter.
    fn target(&self, entity: &str, filter: &str) -> Result<(&EntityDef, Option<Filter>), String> {
        let Some(def) = self.readable.iter().find(|e| e.qualified == entity) else {
            return Err(format!(
                "plugin {} may not read {entity}: only its own entities and those of the plugins it requires (and the tenant enabled)",
                self.plugin
            ));
        };
        let filter: Value =
            serde_json::from_str(filter).map_err(|e| format!("filter is not JSON: {e}"))?;
        Ok((def, parse(&filter)?))
    }

    /// The groups of the `aggregate` (every readable numeric field) and `count` (no numbers)
    /// imports, as one JSON array.
    fn groups(
        &self,
        entity: &str,
        filter: &str,
        group_by: &[String],
        metrics: Metrics<'_>,
        max_groups: u32,
    ) -> Result<String, String> {
        let (def, filter) = self.target(entity, filter)?;
        let access = self.principal.access(&def.qualified, Action::Read);
        let groups = self
            .runtime
            .block_on(self.store.aggregate_records(
                &access,
                def,
                filter.as_ref(),
                group_by,
                metrics,
                u64::from(max_groups),
            ))
            .map_err(|e| e.to_string())?;
        let numbers = metrics != Metrics::COUNT;
        let groups = groups.into_iter().map(|g| group_json(g, numbers)).collect();
        Ok(Value::Array(groups).to_string())
    }
}

impl RecordSource for PluginQuery {
    fn query(&self, entity: &str, filter: &str, limit: u32) -> Result<Vec<String>, String> {
        let (def, filter) = self.target(entity, filter)?;
        let access = self.principal.access(&def.qualified, Action::Read);
        let page = Page {
            children: true,
            offset: 0,
            limit: u64::from(limit),
        };
        let records = self
            .runtime
            .block_on(
                self.store
                    .list_records(&access, def, filter.as_ref(), &[], page),
            )
            .map_err(|e| e.to_string())?;
        Ok(records
            .into_iter()
            .map(|r| Value::Object(r).to_string())
            .collect())
    }

    fn aggregate(
        &self,
        entity: &str,
        filter: &str,
        group_by: &[String],
        max_groups: u32,
    ) -> Result<String, String> {
        self.groups(entity, filter, group_by, Metrics::All, max_groups)
    }

    fn count(
        &self,
        entity: &str,
        filter: &str,
        group_by: &[String],
        max_groups: u32,
    ) -> Result<String, String> {
        self.groups(entity, filter, group_by, Metrics::COUNT, max_groups)
    }
}

/// One group as the `aggregate` import (with `numbers`) or the `count` import answers it, keyed
/// by schema field names.
fn group_json(group: Group, numbers: bool) -> Value {
    let mut value = Map::new();
    value.insert("key".into(), Value::Object(group.key));
    value.insert("count".into(), Value::from(group.count));
    if numbers {
        value.insert("sum".into(), Value::Object(group.sum));
        value.insert("avg".into(), Value::Object(group.avg));
        value.insert("min".into(), Value::Object(group.min));
        value.insert("max".into(), Value::Object(group.max));
    }
    Value::Object(value)
}

/// Reads the JSON filter of the `query`, `aggregate` and `count` imports (schema field names).
/// `{}` is no condition, so inside `and`/`or`/`not` it is "always true", exactly as in GraphQL
/// filters.
pub fn parse(value: &Value) -> Result<Option<Filter>, String> {
    let Value::Object(map) = value else {
        return Err("a filter is a JSON object".into());
    };
    let mut all = Vec::new();
    for (key, operand) in map {
        match key.as_str() {
            "and" | "or" => {
                let items = operand
                    .as_array()
                    .ok_or_else(|| format!("`{key}` takes a list of filters"))?;
                let parsed = items
                    .iter()
                    .map(|item| Ok(parse(item)?.unwrap_or(Filter::And(Vec::new()))))
                    .collect::<Result<Vec<_>, String>>()?;
                all.push(if key == "and" {
                    Filter::And(parsed)
                } else {
                    Filter::Or(parsed)
                });
            }
            "not" => {
                let inner = parse(operand)?.unwrap_or(Filter::And(Vec::new()));
                all.push(Filter::Not(Box::new(inner)));
            }
            field => {
                let ops = operand
                    .as_object()
                    .ok_or_else(|| format!("`{field}` takes an object of operators"))?;
                for (op, argument) in ops {
                    let list = || {
                        argument
                            .as_array()
                            .cloned()
                            .ok_or_else(|| format!("`{op}` takes a list"))
                    };
                    let op = match op.as_str() {
                        "eq" => Op::Eq(argument.clone()),
                        "ne" => Op::Ne(argument.clone()),
                        "in" => Op::In(list()?),
                        "notIn" => Op::NotIn(list()?),
                        "lt" => Op::Lt(argument.clone()),
                        "lte" => Op::Lte(argument.clone()),
                        "gt" => Op::Gt(argument.clone()),
                        "gte" => Op::Gte(argument.clone()),
                        "like" => Op::Like(
                            argument
                                .as_str()
                                .ok_or("`like` takes a string")?
                                .to_string(),
                        ),
                        "isNull" => {
                            Op::IsNull(argument.as_bool().ok_or("`isNull` takes true or false")?)
                        }
                        other => return Err(format!("unknown operator `{other}`")),
                    };
                    all.push(Filter::Field {
                        field: field.to_string(),
                        op,
                    });
                }
            }
        }
    }
    Ok(match all.len() {
        0 => None,
        1 => all.pop(),
        _ => Some(Filter::And(all)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_conditions_mean_always_true_as_in_graphql() {
        let always = Filter::And(Vec::new());
        assert_eq!(parse(&json!({})).unwrap(), None);
        assert_eq!(
            parse(&json!({"not": {}})).unwrap(),
            Some(Filter::Not(Box::new(always.clone())))
        );
        assert_eq!(
            parse(&json!({"or": [{}]})).unwrap(),
            Some(Filter::Or(vec![always]))
        );
    }

    #[test]
    fn parses_nested_filters() {
        let filter =
            parse(&json!({"stage": {"eq": "成交客户"}, "or": [{"grade": {"in": ["A", "B"]}}]}))
                .expect("parses");
        let Some(Filter::And(items)) = filter else {
            panic!("an AND of two conditions")
        };
        assert_eq!(items.len(), 2);
        assert_eq!(parse(&json!({})).expect("empty"), None);
        assert!(
            parse(&json!({"stage": {"almost": 1}}))
                .expect_err("operator")
                .contains("almost")
        );
        assert!(parse(&json!([])).is_err());
    }
}
