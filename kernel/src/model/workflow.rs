//! Workflows (流程): the state machine a plugin declares for one of its entities, checked when the
//! manifest is read, and the pure decisions the runtime takes from it (where a transition leads,
//! who may take it, what must be filled).

use rust_decimal::Decimal;
use serde_json::Value;

use super::{EntityDef, FieldKind, Locale, english_title, str_at, strings};

/// The checked state machine of one entity.
#[derive(Debug, Clone)]
pub struct WorkflowDef {
    pub initial: String,
    pub states: Vec<StateDef>,
    pub transitions: Vec<TransitionDef>,
}

#[derive(Debug, Clone)]
pub struct StateDef {
    pub id: String,
    pub title: String,
    pub title_en: String,
    pub is_final: bool,
}

#[derive(Debug, Clone)]
pub struct TransitionDef {
    pub id: String,
    pub title: String,
    pub title_en: String,
    pub from: Vec<String>,
    pub to: String,
    pub roles: Vec<String>,
    /// A `kernel.user` reference field: the user it names may take the transition too.
    pub assignee: Option<String>,
    /// Fields the caller may set with the transition.
    pub fields: Vec<String>,
    /// Fields that must hold a value once the transition is taken.
    pub required: Vec<String>,
    pub routes: Vec<RouteDef>,
}

/// "Above this amount, go elsewhere": the first route whose condition holds decides the target.
#[derive(Debug, Clone)]
pub struct RouteDef {
    pub field: String,
    pub op: Compare,
    pub threshold: Decimal,
    pub to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Compare {
    fn holds(self, value: Decimal, threshold: Decimal) -> bool {
        match self {
            Compare::Gt => value > threshold,
            Compare::Gte => value >= threshold,
            Compare::Lt => value < threshold,
            Compare::Lte => value <= threshold,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Compare::Gt => ">",
            Compare::Gte => "≥",
            Compare::Lt => "<",
            Compare::Lte => "≤",
        }
    }
}

/// A number in a record or a manifest (JSON number or decimal string) as an exact decimal.
pub fn decimal_of(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(number) => number.to_string().parse().ok().or_else(|| {
            number
                .as_f64()
                .and_then(|f| Decimal::from_f64_retain(f).map(|d| d.normalize()))
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

impl WorkflowDef {
    /// Parses one entry of the manifest's `workflows` (already checked against the manifest
    /// schema) and checks it against the entity it governs. Errors say what to fix.
    pub fn parse(value: &Value, entity: &EntityDef) -> Result<WorkflowDef, String> {
        let states: Vec<StateDef> = value
            .get("states")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|state| {
                let title = str_at(state, "/title").unwrap_or_default().to_string();
                StateDef {
                    id: str_at(state, "/id").unwrap_or_default().to_string(),
                    title_en: english_title(state, &title),
                    title,
                    is_final: state.get("final").and_then(Value::as_bool) == Some(true),
                }
            })
            .collect();
        let known = |id: &str| states.iter().any(|s| s.id == id);
        let initial = str_at(value, "/initial").unwrap_or_default().to_string();
        if !known(&initial) {
            return Err(format!("the initial state `{initial}` is not declared"));
        }
        for (i, state) in states.iter().enumerate() {
            if states[..i].iter().any(|s| s.id == state.id) {
                return Err(format!("state `{}` is declared twice", state.id));
            }
        }
        let mut transitions: Vec<TransitionDef> = Vec::new();
        for item in value
            .get("transitions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let transition = parse_transition(item, entity)?;
            let id = &transition.id;
            if transitions.iter().any(|t| &t.id == id) {
                return Err(format!("transition `{id}` is declared twice"));
            }
            let targets = std::iter::once(&transition.to)
                .chain(transition.routes.iter().map(|r| &r.to))
                .chain(transition.from.iter());
            for state in targets {
                if !known(state) {
                    return Err(format!(
                        "transition `{id}` names the state `{state}`, which is not declared"
                    ));
                }
            }
            if let Some(from) = transition
                .from
                .iter()
                .find(|from| states.iter().any(|s| &s.id == *from && s.is_final))
            {
                return Err(format!(
                    "transition `{id}` leaves `{from}`, which is declared final"
                ));
            }
            transitions.push(transition);
        }
        Ok(WorkflowDef {
            initial,
            states,
            transitions,
        })
    }

    pub fn state(&self, id: &str) -> Option<&StateDef> {
        self.states.iter().find(|s| s.id == id)
    }

    pub fn transition(&self, id: &str) -> Option<&TransitionDef> {
        self.transitions.iter().find(|t| t.id == id)
    }

    /// Transitions that leave `state`.
    pub fn from_state<'a>(&'a self, state: &'a str) -> impl Iterator<Item = &'a TransitionDef> {
        self.transitions
            .iter()
            .filter(move |t| t.from.iter().any(|f| f == state))
    }

    /// What an upgrade to `new` would strand: records may sit in any old state.
    pub fn upgrade_problems(&self, owner: &str, new: Option<&WorkflowDef>) -> Vec<String> {
        let Some(new) = new else {
            return vec![format!(
                "the workflow of {owner} is removed, but records keep their states"
            )];
        };
        self.states
            .iter()
            .filter(|s| new.state(&s.id).is_none())
            .map(|s| {
                format!(
                    "state `{}` of {owner} is removed, but records may be in it",
                    s.id
                )
            })
            .collect()
    }
}

fn parse_transition(item: &Value, entity: &EntityDef) -> Result<TransitionDef, String> {
    let id = str_at(item, "/id").unwrap_or_default().to_string();
    let field_of = |name: &str, what: &str| -> Result<(), String> {
        if entity.field(name).is_some() || entity.children.iter().any(|c| c.name == name) {
            Ok(())
        } else {
            Err(format!(
                "transition `{id}`: {what} `{name}` is not a property of {}",
                entity.qualified
            ))
        }
    };
    let fields = strings(item.get("fields"));
    for name in &fields {
        field_of(name, "field")?;
        if entity.field(name).is_some_and(|f| f.computed) {
            return Err(format!(
                "transition `{id}`: field `{name}` is computed and cannot be set"
            ));
        }
    }
    let required = strings(item.get("required"));
    for name in &required {
        field_of(name, "required field")?;
    }
    let assignee = str_at(item, "/assignee").map(str::to_string);
    if let Some(name) = &assignee {
        match entity.field(name).map(|f| &f.kind) {
            Some(FieldKind::Ref { target }) if target == "kernel.user" => {}
            _ => {
                return Err(format!(
                    "transition `{id}`: assignee `{name}` must be a property referring to kernel.user"
                ));
            }
        }
    }
    let mut routes = Vec::new();
    for route in item
        .get("routes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = str_at(route, "/field").unwrap_or_default().to_string();
        match entity.field(&field).map(|f| &f.kind) {
            Some(FieldKind::Decimal { .. } | FieldKind::Integer | FieldKind::Float) => {}
            _ => {
                return Err(format!(
                    "transition `{id}`: route field `{field}` must be a numeric property of {}",
                    entity.qualified
                ));
            }
        }
        let mut conditions = [
            ("gt", Compare::Gt),
            ("gte", Compare::Gte),
            ("lt", Compare::Lt),
            ("lte", Compare::Lte),
        ]
        .into_iter()
        .filter_map(|(key, op)| route.get(key).map(|v| (op, v)));
        let (Some((op, threshold)), None) = (conditions.next(), conditions.next()) else {
            return Err(format!(
                "transition `{id}`: each route needs exactly one of gt, gte, lt, lte"
            ));
        };
        let threshold = decimal_of(threshold)
            .ok_or_else(|| format!("transition `{id}`: route threshold is not a number"))?;
        routes.push(RouteDef {
            field,
            op,
            threshold,
            to: str_at(route, "/to").unwrap_or_default().to_string(),
        });
    }
    let title = str_at(item, "/title").unwrap_or_default().to_string();
    Ok(TransitionDef {
        title_en: english_title(item, &title),
        title,
        from: strings(item.get("from")),
        to: str_at(item, "/to").unwrap_or_default().to_string(),
        roles: strings(item.get("roles")),
        assignee,
        fields,
        required,
        routes,
        id,
    })
}

impl TransitionDef {
    /// Where the transition leads for this record, and the route that decided it, if any.
    pub fn target(&self, record: &serde_json::Map<String, Value>) -> (&str, Option<&RouteDef>) {
        for route in &self.routes {
            if let Some(value) = record.get(&route.field).and_then(decimal_of)
                && route.op.holds(value, route.threshold)
            {
                return (&route.to, Some(route));
            }
        }
        (&self.to, None)
    }

    /// Required fields without a value in `record`.
    pub fn missing<'a>(&'a self, record: &serde_json::Map<String, Value>) -> Vec<&'a str> {
        self.required
            .iter()
            .filter(|name| match record.get(*name) {
                None | Some(Value::Null) => true,
                Some(Value::String(text)) => text.trim().is_empty(),
                Some(Value::Array(items)) => items.is_empty(),
                Some(_) => false,
            })
            .map(String::as_str)
            .collect()
    }

    pub fn title_in(&self, locale: Locale) -> &str {
        match locale {
            Locale::En => &self.title_en,
            _ => &self.title,
        }
    }
}

impl StateDef {
    pub fn title_in(&self, locale: Locale) -> &str {
        match locale {
            Locale::En => &self.title_en,
            _ => &self.title,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entity() -> EntityDef {
        EntityDef::new(
            "crm",
            "complaint",
            json!({"type": "object", "title": "投诉", "properties": {
                "amount": {"type": "string", "title": "金额", "x-jingxi": {"money": {"currency": "CNY"}}},
                "note": {"type": "string", "title": "说明"},
                "handler": {"type": "string", "format": "uuid", "title": "处理人", "x-jingxi": {"ref": "kernel.user"}}
            }}),
        )
        .unwrap()
    }

    fn workflow(transitions: Value) -> Result<WorkflowDef, String> {
        WorkflowDef::parse(
            &json!({"entity": "complaint", "initial": "draft", "states": [
                {"id": "draft", "title": "草稿"}, {"id": "review", "title": "审批"},
                {"id": "director", "title": "总监审批"}, {"id": "done", "title": "完成", "final": true}
            ], "transitions": transitions}),
            &entity(),
        )
    }

    #[test]
    fn routes_pick_the_first_threshold_that_holds() {
        let wf = workflow(
            json!([{"id": "approve", "title": "批准", "from": ["review"], "to": "done",
            "routes": [{"field": "amount", "gt": "50000", "to": "director"}]}]),
        )
        .unwrap();
        let approve = wf.transition("approve").unwrap();
        let record = |amount: &str| json!({"amount": amount}).as_object().unwrap().clone();
        assert_eq!(approve.target(&record("50000.00")).0, "done");
        assert_eq!(approve.target(&record("50000.01")).0, "director");
        assert_eq!(approve.target(&serde_json::Map::new()).0, "done");
    }

    #[test]
    fn undeclared_states_fields_and_bad_assignees_are_refused() {
        let unknown_state =
            workflow(json!([{"id": "a", "title": "A", "from": ["draft"], "to": "nowhere"}]));
        assert!(unknown_state.unwrap_err().contains("nowhere"));
        let unknown_field = workflow(
            json!([{"id": "a", "title": "A", "from": ["draft"], "to": "done", "fields": ["ghost"]}]),
        );
        assert!(unknown_field.unwrap_err().contains("ghost"));
        let bad_assignee = workflow(
            json!([{"id": "a", "title": "A", "from": ["draft"], "to": "done", "assignee": "note"}]),
        );
        assert!(bad_assignee.unwrap_err().contains("kernel.user"));
        let from_final =
            workflow(json!([{"id": "a", "title": "A", "from": ["done"], "to": "draft"}]));
        assert!(from_final.unwrap_err().contains("final"));
        let text_route = workflow(
            json!([{"id": "a", "title": "A", "from": ["draft"], "to": "done",
            "routes": [{"field": "note", "gt": 1, "to": "review"}]}]),
        );
        assert!(text_route.unwrap_err().contains("numeric"));
    }

    #[test]
    fn required_fields_count_blank_text_as_missing() {
        let wf = workflow(json!([{"id": "a", "title": "A", "from": ["draft"], "to": "done", "required": ["note", "amount"]}]))
            .unwrap();
        let record = json!({"note": "  ", "amount": "1"})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(wf.transition("a").unwrap().missing(&record), vec!["note"]);
    }
}
