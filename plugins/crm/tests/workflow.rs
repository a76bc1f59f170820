//! Native checks of the complaint workflow (客户投诉, §8.3.5): the declaration in the manifest, the
//! grants it relies on, and the records its effects write.

use std::collections::BTreeSet;

use jingxi_plugin_crm::Crm;
use jingxi_sdk::{
    Context, EffectKind, Plugin, Record, Value, json,
    testing::{PluginSchemas, Shape},
};

fn schemas() -> PluginSchemas {
    PluginSchemas::load::<Crm>(env!("CARGO_MANIFEST_DIR"))
}

fn complaint_workflow(schemas: &PluginSchemas) -> Value {
    let workflows = schemas.manifest()["workflows"]
        .as_array()
        .expect("workflows");
    assert_eq!(workflows.len(), 1, "crm declares one workflow");
    assert_eq!(workflows[0]["entity"], "complaint");
    workflows[0].clone()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Declared states, transitions through them, properties and roles agree; every state is
/// reachable from `registered` and every state but the final ones has a way out.
#[test]
fn the_workflow_is_consistent() {
    assert_eq!(schemas().workflow_problems(), Vec::<String>::new());
}

#[test]
fn states_follow_the_manual() {
    let workflow = complaint_workflow(&schemas());
    assert_eq!(workflow["initial"], "registered");
    let states: Vec<(&str, &str, bool)> = workflow["states"]
        .as_array()
        .expect("states")
        .iter()
        .map(|state| {
            (
                state["id"].as_str().expect("id"),
                state["title"].as_str().expect("title"),
                state["final"] == true,
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("registered", "已登记", false),
            ("accepted", "已受理", false),
            ("invalid", "无效投诉", true),
            ("investigating", "调查中", false),
            ("solution_pending", "方案待审批", false),
            ("mgr_review", "待客服部经理审批", false),
            ("director_review", "待营销总监审批", false),
            ("resolving", "处理中", false),
            ("resolved", "已解决", false),
            ("revisited", "已回访", false),
            ("closed", "已关闭", true),
        ]
    );
}

#[test]
fn transitions_follow_the_manual() {
    let workflow = complaint_workflow(&schemas());
    let transitions: Vec<String> = workflow["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|transition| {
            let assignee = match transition["assignee"].as_str() {
                Some(field) => format!(" or the {field}"),
                None => String::new(),
            };
            format!(
                "{}: {} -> {} by {}{assignee}",
                transition["id"].as_str().expect("id"),
                strings(&transition["from"]).join(", "),
                transition["to"].as_str().expect("to"),
                strings(&transition["roles"]).join(", "),
            )
        })
        .collect();
    assert_eq!(
        transitions,
        [
            "accept: registered -> accepted by complaint_spec, complaint_sup",
            "invalidate: registered -> invalid by complaint_sup",
            "investigate: accepted -> investigating by complaint_sup or the handler",
            "propose: investigating -> solution_pending by complaint_sup or the handler",
            "approve: solution_pending -> resolving by complaint_sup",
            "mgr_approve: mgr_review -> resolving by cs_mgr",
            "director_approve: director_review -> resolving by marketing_director",
            "return: solution_pending, mgr_review, director_review -> investigating \
             by complaint_sup, cs_mgr, marketing_director",
            "resolve: resolving -> resolved by after_sales_sup, complaint_sup or the handler",
            "revisit: resolved -> revisited by cust_relation_spec, call_center_spec",
            "close: revisited -> closed by complaint_sup",
        ]
    );
}

#[test]
fn transition_fields_and_routes_follow_the_manual() {
    let workflow = complaint_workflow(&schemas());
    let by_id = |id: &str| -> Value {
        workflow["transitions"]
            .as_array()
            .expect("transitions")
            .iter()
            .find(|transition| transition["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no transition {id}"))
    };
    let accept = by_id("accept");
    assert_eq!(
        (&accept["fields"], &accept["required"]),
        (&json!(["handler"]), &json!(["handler"]))
    );
    let propose = by_id("propose");
    assert_eq!(
        propose["fields"],
        json!(["root_cause", "solution", "compensation"])
    );
    assert_eq!(propose["required"], json!(["root_cause", "solution"]));
    // Threshold T5 (catalogue §3.4): above ¥5,000 the manager approves, above ¥50,000 the
    // marketing director too.
    assert_eq!(
        by_id("approve")["routes"],
        json!([{"field": "compensation", "gt": "5000", "to": "mgr_review"}])
    );
    assert_eq!(
        by_id("mgr_approve")["routes"],
        json!([{"field": "compensation", "gt": "50000", "to": "director_review"}])
    );
    let revisit = by_id("revisit");
    assert_eq!(
        (&revisit["fields"], &revisit["required"]),
        (
            &json!(["revisit_satisfaction"]),
            &json!(["revisit_satisfaction"])
        )
    );
    assert_eq!(
        revisit["routes"],
        json!([{"field": "revisit_satisfaction", "lte": 2, "to": "investigating"}])
    );
}

/// Every role that takes a step reads every complaint, whoever registered it.
#[test]
fn roles_that_take_steps_read_every_complaint() {
    let schemas = schemas();
    let workflow = complaint_workflow(&schemas);
    let roles: BTreeSet<&str> = workflow["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .flat_map(|transition| strings(&transition["roles"]))
        .collect();
    let grants = schemas.manifest()["grants"].as_array().expect("grants");
    for role in roles {
        assert!(
            grants.iter().any(|grant| grant["role"] == role
                && grant["entity"] == "complaint"
                && strings(&grant["actions"]).contains(&"read")
                && grant["scope"] == "all"),
            "{role} cannot read every complaint"
        );
    }
}

/// The compensation is a level-1 field: the roles that approve or carry out a solution read it.
#[test]
fn compensation_is_read_by_the_approvers_only() {
    let schemas = schemas();
    let manifest = schemas.manifest();
    let complaint = manifest["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .find(|entity| entity["name"] == "complaint")
        .expect("complaint");
    let properties = complaint["schema"]["properties"]
        .as_object()
        .expect("properties");
    let levelled: Vec<(&String, &Value)> = properties
        .iter()
        .filter_map(|(name, property)| property["x-jingxi"].get("level").map(|level| (name, level)))
        .collect();
    assert_eq!(levelled, [(&"compensation".to_string(), &json!(1))]);
    assert_eq!(
        properties["compensation"]["x-jingxi"]["money"],
        json!({"currency": "CNY"})
    );
    let readers: BTreeSet<&str> = manifest["grants"]
        .as_array()
        .expect("grants")
        .iter()
        .filter(|grant| strings(&grant["actions"]).contains(&"read_level:1"))
        .map(|grant| {
            assert_eq!(grant["entity"], "complaint");
            grant["role"].as_str().expect("role")
        })
        .collect();
    assert_eq!(
        readers,
        BTreeSet::from([
            "after_sales_sup",
            "complaint_spec",
            "complaint_sup",
            "cs_mgr",
            "marketing_director"
        ])
    );
}

/// The kernel's view of a complaint after a transition: the own-record updates of the effects
/// merged in and the computed fields computed again, other effects returned.
fn take(
    ctx: &Context,
    record: &mut Record,
    transition: &str,
    fields: Value,
    state: &str,
    comment: &str,
) -> Vec<jingxi_sdk::Effect> {
    record.extend(jingxi_sdk::record(fields));
    record.insert("state".into(), json!(state));
    let effects = Crm::on_transition(ctx, "complaint", transition, record, comment)
        .unwrap_or_else(|error| panic!("{transition} fails: {error:?}"));
    let id = record["id"].clone();
    let (own, others): (Vec<_>, Vec<_>) = effects.into_iter().partition(|effect| {
        effect.kind == EffectKind::Update
            && effect.entity == "crm.complaint"
            && effect.id.as_deref() == id.as_str()
    });
    for effect in own {
        record.extend(effect.record);
    }
    Crm::compute(ctx, "complaint", record).expect("compute succeeds");
    others
}

/// A stored record's fields, without the system fields the kernel adds.
fn fields_of(record: &Record) -> Value {
    let mut fields = record.clone();
    for key in ["id", "state", "version"] {
        fields.remove(key);
    }
    Value::Object(fields)
}

#[track_caller]
fn assert_valid(schemas: &PluginSchemas, entity: &str, record: &Record) {
    let document = fields_of(record);
    let schema_errors = schemas.entity(entity).expect("entity").validate(&document);
    assert_eq!(schema_errors, Vec::<String>::new(), "{document}");
    let ctx = Context::for_test();
    let rule_errors = Crm::validate(&ctx, entity, &jingxi_sdk::record(document));
    assert_eq!(rule_errors, [], "{entity}");
}

/// A complaint received by phone walks from registration to a dissatisfied follow-up; what the
/// effects write passes the schemas and the rules of the records they change or create.
#[test]
fn effects_of_a_walk_through_write_valid_records() {
    let schemas = schemas();
    let example = schemas
        .examples("valid")
        .into_iter()
        .find(|example| example.path.ends_with("complaint-late-delivery.json"))
        .expect("the late-delivery example");
    let mut complaint = jingxi_sdk::record(example.document);
    complaint.insert("id".into(), json!("0190a4c2-1d7e-7b3a-9c41-000000000051"));
    let mut ctx = Context::for_test();
    ctx.user_id = "0190a4c2-1d7e-7b3a-9c41-000000000041".into();
    // 2025-08-02T02:00:00Z, half an hour after the complaint was received.
    ctx.now_ms = 1_754_100_000_000;

    let handler = json!({"handler": "0190a4c2-1d7e-7b3a-9c41-000000000042"});
    assert_eq!(
        take(&ctx, &mut complaint, "accept", handler, "accepted", ""),
        []
    );
    assert_eq!(complaint["accepted_at"], "2025-08-02T02:00:00.000Z");
    // Accepted half an hour after it was received, within the 2 hours of an urgent complaint.
    assert_eq!(
        (
            &complaint["accepted_in_time"],
            &complaint["resolved_in_time"]
        ),
        (&json!(true), &json!(false))
    );
    assert_valid(&schemas, "complaint", &complaint);

    for (transition, fields, state) in [
        ("investigate", json!({}), "investigating"),
        (
            "propose",
            json!({"root_cause": "物流排期失误。", "solution": ["补偿", "道歉"], "compensation": "6000.00"}),
            "solution_pending",
        ),
        ("approve", json!({}), "mgr_review"),
        ("mgr_approve", json!({}), "resolving"),
    ] {
        assert_eq!(
            take(&ctx, &mut complaint, transition, fields, state, ""),
            [],
            "{transition}"
        );
    }
    // 2025-08-03T06:30:00Z.
    ctx.now_ms = 1_754_202_600_000;
    assert_eq!(
        take(&ctx, &mut complaint, "resolve", json!({}), "resolved", ""),
        []
    );
    assert_eq!(complaint["resolved_at"], "2025-08-03T06:30:00.000Z");
    // Resolved 28.5 hours after it was accepted, past the 24 hours it had.
    assert_eq!(
        (
            &complaint["accepted_in_time"],
            &complaint["resolved_in_time"]
        ),
        (&json!(true), &json!(false))
    );
    assert_valid(&schemas, "complaint", &complaint);

    let fields = json!({"revisit_satisfaction": 2});
    let created = take(
        &ctx,
        &mut complaint,
        "revisit",
        fields,
        "investigating",
        "客户认为补偿到账太慢。",
    );
    assert_eq!(created.len(), 1);
    let visit = &created[0];
    assert_eq!(
        (visit.kind, visit.entity.as_str(), &visit.id),
        (EffectKind::Create, "crm.visit_record", &None)
    );
    assert_valid(&schemas, "visit_record", &visit.record);
    assert_eq!(
        Value::Object(visit.record.clone()),
        json!({
            "customer": complaint["customer"], "visit_type": "投诉回访", "visit_date": "2025-08-03",
            "staff": "0190a4c2-1d7e-7b3a-9c41-000000000041", "content": "客户认为补偿到账太慢。",
            "satisfaction": 2, "complaint": "0190a4c2-1d7e-7b3a-9c41-000000000051"
        })
    );
    assert_valid(&schemas, "complaint", &complaint);
}

/// The kernel stores a follow-up's staff as a reference to the user who took the step.
#[test]
fn the_follow_up_staff_is_a_user_reference() {
    let schemas = schemas();
    let visit_record = schemas.entity("visit_record").expect("visit_record");
    assert_eq!(
        visit_record.table.property("staff"),
        Some(&Shape::Ref("kernel.user".into()))
    );
    assert_eq!(
        visit_record.table.required,
        ["content", "customer", "staff", "visit_date", "visit_type"]
    );
}
