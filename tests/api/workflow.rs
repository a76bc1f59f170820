//! Workflows: the complaint process (客户投诉) end to end with its multi-level approval, refusals,
//! concurrent transitions, effects that roll back, and the history each step leaves.

use jingxi_tests::{Tenant, TestServer, error_code, fixture_wasm};
use serde_json::{Value, json};

use crate::fixtures::{complaint, customer, customer_input, region};

const RECORD: &str = "id version state stateTitle handlerId rootCause solution compensation \
    acceptedAt resolvedAt revisitSatisfaction transitions { id allowed reason to missing fields }";

pub async fn me(server: &TestServer, token: &str) -> String {
    server.ok(token, "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .expect("user id")
        .to_string()
}

pub async fn step(
    server: &TestServer,
    token: &str,
    id: &Value,
    transition: &str,
    input: Value,
) -> (Value, u16) {
    let query = format!(
        "mutation($id: ID!, $t: String!, $input: CrmComplaintInput, $c: String) {{ \
         transitionCrmComplaint(id: $id, transition: $t, input: $input, comment: $c) {{ {RECORD} }} }}"
    );
    server
        .graphql(
            token,
            &query,
            json!({"id": id, "t": transition, "input": input, "c": format!("{transition} 备注")}),
        )
        .await
}

pub async fn take(
    server: &TestServer,
    token: &str,
    id: &Value,
    transition: &str,
    input: Value,
) -> Value {
    let (body, status) = step(server, token, id, transition, input).await;
    assert!(
        body.get("errors").is_none() && status == 200,
        "{transition}: {body:#}"
    );
    body["data"]["transitionCrmComplaint"].clone()
}

/// Accepts a complaint for the staff's handler, investigates it, and proposes a solution.
async fn propose(
    server: &TestServer,
    s: &Staff,
    id: &Value,
    root_cause: &str,
    solution: Value,
    compensation: &str,
) {
    take(
        server,
        &s.spec,
        id,
        "accept",
        json!({"handlerId": s.handler_id}),
    )
    .await;
    take(server, &s.handler, id, "investigate", json!(null)).await;
    let input =
        json!({"rootCause": root_cause, "solution": solution, "compensation": compensation});
    let proposed = take(server, &s.handler, id, "propose", input).await;
    assert_eq!(proposed["state"], "solution_pending");
}

async fn read(server: &TestServer, token: &str, id: &Value) -> Value {
    let query = format!("query($id: ID!) {{ crmComplaint(id: $id) {{ {RECORD} }} }}");
    server.ok(token, &query, json!({"id": id})).await["crmComplaint"].clone()
}

/// The people of a complaint department, each with their role's default grants.
pub struct Staff {
    pub tenant: Tenant,
    pub spec: String,
    pub handler: String,
    pub handler_id: String,
    pub sup: String,
    pub mgr: String,
    pub director: String,
    pub revisitor: String,
    pub customer: Value,
}

pub async fn staff(server: &TestServer, slug: &str) -> Staff {
    let tenant = server.tenant(slug, &["org", "crm"]).await;
    let hangzhou = region(server, &tenant.admin, "HZ", "杭州").await;
    let customer = customer(
        server,
        &tenant.admin,
        customer_input(
            "CUS-0001",
            "杭州恒达电器商场有限公司",
            &hangzhou,
            "成交客户",
            "800000.00",
        ),
    )
    .await["id"]
        .clone();
    let handler = server
        .user(
            &tenant,
            &format!("handler@{slug}.test"),
            &["complaint_spec"],
            None,
        )
        .await;
    let handler_id = me(server, &handler).await;
    Staff {
        spec: server
            .user(
                &tenant,
                &format!("spec@{slug}.test"),
                &["complaint_spec"],
                None,
            )
            .await,
        sup: server
            .user(
                &tenant,
                &format!("sup@{slug}.test"),
                &["complaint_sup"],
                None,
            )
            .await,
        mgr: server
            .user(&tenant, &format!("mgr@{slug}.test"), &["cs_mgr"], None)
            .await,
        director: server
            .user(
                &tenant,
                &format!("director@{slug}.test"),
                &["marketing_director"],
                None,
            )
            .await,
        revisitor: server
            .user(
                &tenant,
                &format!("visit@{slug}.test"),
                &["cust_relation_spec"],
                None,
            )
            .await,
        handler,
        handler_id,
        customer,
        tenant,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_complaint_runs_from_receipt_through_two_approval_levels_to_closure() {
    let server = TestServer::new().await;
    let s = staff(&server, "acme").await;
    let id = complaint(
        &server,
        &s.spec,
        &s.customer,
        "安装师傅迟到三小时且态度恶劣",
    )
    .await;

    let registered = read(&server, &s.spec, &id).await;
    assert_eq!(registered["state"], "registered");
    assert_eq!(registered["stateTitle"], "已登记");
    let buttons: Vec<(&str, bool)> = registered["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["allowed"].as_bool().unwrap()))
        .collect();
    assert_eq!(buttons, vec![("accept", true), ("invalidate", false)]);
    let invalidate = &registered["transitions"][1];
    assert!(
        invalidate["reason"]
            .as_str()
            .unwrap()
            .contains("客户投诉主管"),
        "{invalidate}"
    );
    assert_eq!(registered["transitions"][0]["missing"], json!(["handler"]));

    let accepted = take(
        &server,
        &s.spec,
        &id,
        "accept",
        json!({"handlerId": s.handler_id}),
    )
    .await;
    assert_eq!(accepted["state"], "accepted");
    assert!(
        accepted["acceptedAt"].is_string(),
        "the plugin's effect sets accepted_at: {accepted}"
    );

    // The handler may investigate because the record names them, not because of a role.
    let investigating = take(&server, &s.handler, &id, "investigate", json!(null)).await;
    assert_eq!(investigating["state"], "investigating");
    let (body, _) = step(
        &server,
        &s.spec,
        &id,
        "propose",
        json!({"rootCause": "x", "solution": ["道歉"]}),
    )
    .await;
    assert_eq!(
        error_code(&body),
        "FORBIDDEN",
        "only the handler or a supervisor: {body}"
    );

    let (body, _) = step(
        &server,
        &s.handler,
        &id,
        "propose",
        json!({"rootCause": "派单系统未提醒"}),
    )
    .await;
    assert_eq!(
        error_code(&body),
        "VALIDATION_FAILED",
        "solution is required: {body}"
    );
    let proposed = take(
        &server,
        &s.handler,
        &id,
        "propose",
        json!({"rootCause": "派单系统未提醒,师傅漏看工单", "solution": ["道歉", "补偿"], "compensation": "60000.00"}),
    )
    .await;
    assert_eq!(proposed["state"], "solution_pending");

    // Above ¥5,000 the supervisor's approval goes to the department manager …
    let approved = take(&server, &s.sup, &id, "approve", json!(null)).await;
    assert_eq!(approved["state"], "mgr_review");

    // … a role that may not take the next step is refused and changes nothing …
    let before = read(&server, &s.sup, &id).await;
    let (body, _) = step(&server, &s.director, &id, "mgr_approve", json!(null)).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let after = read(&server, &s.sup, &id).await;
    assert_eq!(
        (&after["state"], &after["version"]),
        (&before["state"], &before["version"])
    );

    // … and above ¥50,000 the marketing director approves after the manager.
    let mgr = take(&server, &s.mgr, &id, "mgr_approve", json!(null)).await;
    assert_eq!(mgr["state"], "director_review");
    let director = take(&server, &s.director, &id, "director_approve", json!(null)).await;
    assert_eq!(director["state"], "resolving");

    let resolved = take(&server, &s.handler, &id, "resolve", json!(null)).await;
    assert_eq!(resolved["state"], "resolved");
    assert!(resolved["resolvedAt"].is_string(), "{resolved}");
    let revisited = take(
        &server,
        &s.revisitor,
        &id,
        "revisit",
        json!({"revisitSatisfaction": 4}),
    )
    .await;
    assert_eq!(revisited["state"], "revisited");
    let closed = take(&server, &s.sup, &id, "close", json!(null)).await;
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["transitions"], json!([]), "closed is final");

    let history = server
        .ok(
            &s.sup,
            "query($id: ID!) { history(entity: \"crm.complaint\", id: $id) { kind transition fromState toState comment actorId changes } }",
            json!({"id": id}),
        )
        .await["history"]
        .clone();
    let steps: Vec<String> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e["transition"].as_str() {
            Some(t) => format!(
                "{t}:{}>{}",
                e["fromState"].as_str().unwrap(),
                e["toState"].as_str().unwrap()
            ),
            None => e["kind"].as_str().unwrap().to_string(),
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            "create",
            "accept:registered>accepted",
            "investigate:accepted>investigating",
            "propose:investigating>solution_pending",
            "approve:solution_pending>mgr_review",
            "mgr_approve:mgr_review>director_review",
            "director_approve:director_review>resolving",
            "resolve:resolving>resolved",
            "revisit:resolved>revisited",
            "close:revisited>closed",
        ]
    );
    assert_eq!(history[2]["actorId"], s.handler_id.as_str());
    // The same history, page by page.
    let page = "query($id: ID!, $after: ID) { history(entity: \"crm.complaint\", id: $id, first: 4, after: $after) { id transition } }";
    let mut paged = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = server
            .ok(&s.sup, page, json!({"id": id, "after": after}))
            .await;
        let entries = data["history"].as_array().unwrap().clone();
        if entries.is_empty() {
            break;
        }
        assert!(entries.len() <= 4);
        after = entries.last().unwrap()["id"].clone();
        paged.extend(entries.into_iter().map(|e| e["transition"].clone()));
    }
    let whole: Vec<Value> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["transition"].clone())
        .collect();
    assert_eq!(paged, whole);
    assert_eq!(history[1]["comment"], "accept 备注");
    assert_eq!(
        history[1]["changes"]["handler"],
        json!({"before": null, "after": s.handler_id})
    );
    assert_eq!(
        history[3]["changes"]["compensation"]["after"], "60000.00",
        "a supervisor may read level-1 fields"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_low_revisit_score_reopens_the_complaint_and_small_compensation_skips_the_managers() {
    let server = TestServer::new().await;
    let s = staff(&server, "acme").await;
    let id = complaint(&server, &s.spec, &s.customer, "送货延误两天").await;
    propose(
        &server,
        &s,
        &id,
        "物流排期错误",
        json!(["道歉", "补偿"]),
        "300.00",
    )
    .await;
    let pending = read(&server, &s.sup, &id).await;
    assert_eq!(pending["transitions"][0]["to"], "resolving", "{pending}");
    assert_eq!(
        take(&server, &s.sup, &id, "approve", json!(null)).await["state"],
        "resolving"
    );
    take(&server, &s.handler, &id, "resolve", json!(null)).await;
    let reopened = take(
        &server,
        &s.revisitor,
        &id,
        "revisit",
        json!({"revisitSatisfaction": 2}),
    )
    .await;
    assert_eq!(
        reopened["state"], "investigating",
        "satisfaction ≤ 2 reopens"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_one_of_two_concurrent_transitions_wins() {
    let server = TestServer::new().await;
    let s = staff(&server, "acme").await;
    for round in 0..3 {
        let id = complaint(&server, &s.spec, &s.customer, &format!("并发测试 {round}")).await;
        let accept = step(
            &server,
            &s.spec,
            &id,
            "accept",
            json!({"handlerId": s.handler_id}),
        );
        let invalidate = step(&server, &s.sup, &id, "invalidate", json!(null));
        let ((a, _), (b, _)) = tokio::join!(accept, invalidate);
        let codes = [error_code(&a), error_code(&b)];
        let winners = codes.iter().filter(|c| **c == "<no code>").count();
        assert_eq!(winners, 1, "exactly one wins: {a} {b}");
        assert!(
            codes.contains(&"CONFLICT"),
            "the loser gets CONFLICT: {a} {b}"
        );
        let history = server
            .ok(
                &s.sup,
                "query($id: ID!) { history(entity: \"crm.complaint\", id: $id) { kind } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(
            history["history"].as_array().unwrap().len(),
            2,
            "create + one transition"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn effects_roll_back_with_their_transition_and_guards_refuse() {
    let server = TestServer::bare().await;
    server
        .kernel
        .install_plugin(fixture_wasm("flow"))
        .await
        .expect("flow installs");
    let tenant = server.tenant("acme", &["flow"]).await;
    let closer = server
        .user(&tenant, "closer@acme.test", &["closer"], None)
        .await;
    let create = "mutation($t: String!) { createFlowTicket(input: {title: $t}) { id state } }";
    let close = "mutation($id: ID!) { transitionFlowTicket(id: $id, transition: \"close\", comment: \"完成\") { id state note } }";
    let logs = "{ flowLogs { totalCount edges { node { code ticketId } } } }";

    let ok =
        server.ok(&tenant.admin, create, json!({"t": "正常"})).await["createFlowTicket"].clone();
    assert_eq!(ok["state"], "open");
    let done =
        server.ok(&closer, close, json!({"id": ok["id"]})).await["transitionFlowTicket"].clone();
    assert_eq!(
        (done["state"].as_str(), done["note"].as_str()),
        (Some("done"), Some("完成"))
    );
    let written = server.ok(&tenant.admin, logs, json!({})).await;
    assert_eq!(written["flowLogs"]["totalCount"], 2, "{written}");

    // The second log collides with the first one's unique code inside the transaction.
    let doomed = server
        .ok(&tenant.admin, create, json!({"t": "closed"}))
        .await["createFlowTicket"]
        .clone();
    let (body, _) = server
        .graphql(&closer, close, json!({"id": doomed["id"]}))
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    let after = server
        .ok(
            &tenant.admin,
            "query($id: ID!) { flowTicket(id: $id) { state note version } }",
            json!({"id": doomed["id"]}),
        )
        .await;
    assert_eq!(
        after["flowTicket"],
        json!({"state": "open", "note": null, "version": 1})
    );
    let still = server.ok(&tenant.admin, logs, json!({})).await;
    assert_eq!(
        still["flowLogs"]["totalCount"], 2,
        "no effect of the failed transition stays: {still}"
    );
    let history = server
        .ok(
            &tenant.admin,
            "query($id: ID!) { history(entity: \"flow.ticket\", id: $id) { kind } }",
            json!({"id": doomed["id"]}),
        )
        .await;
    assert_eq!(history["history"], json!([{"kind": "create"}]));

    let refused = server
        .ok(&tenant.admin, create, json!({"t": "refuse"}))
        .await["createFlowTicket"]
        .clone();
    let (body, _) = server
        .graphql(&closer, close, json!({"id": refused["id"]}))
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("不能关闭"),
        "{body}"
    );

    let (body, _) = server
        .graphql(
            &closer,
            "mutation($id: ID!) { transitionFlowTicket(id: $id, transition: \"reopen\") { id } }",
            json!({"id": ok["id"]}),
        )
        .await;
    assert_eq!(
        error_code(&body),
        "VALIDATION_FAILED",
        "unknown transition: {body}"
    );
    let (body, _) = server
        .graphql(
            &closer,
            "mutation($id: ID!) { transitionFlowTicket(id: $id, transition: \"close\") { id } }",
            json!({"id": ok["id"]}),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "done is final: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn state_changes_only_through_transitions() {
    let server = TestServer::new().await;
    let s = staff(&server, "acme").await;
    let id = complaint(&server, &s.spec, &s.customer, "产品外观划伤").await;
    let (body, _) = server
        .graphql(
            &s.tenant.admin,
            "mutation($id: ID!) { updateCrmComplaint(id: $id, patch: {description: \"改\"}) { state } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        body["data"]["updateCrmComplaint"]["state"], "registered",
        "{body}"
    );
    let (body, _) = step(
        &server,
        &s.spec,
        &id,
        "accept",
        json!({"handlerId": s.handler_id, "description": "改写"}),
    )
    .await;
    assert_eq!(
        error_code(&body),
        "VALIDATION_FAILED",
        "a step sets only its own fields: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hidden_fields_do_not_leak_through_records_filters_or_history() {
    let server = TestServer::new().await;
    let s = staff(&server, "acme").await;
    let id = complaint(&server, &s.spec, &s.customer, "空调噪音大").await;
    propose(
        &server,
        &s,
        &id,
        "压缩机支架松动",
        json!(["维修", "补偿"]),
        "800.00",
    )
    .await;

    // compensation is level 1: customer relations specialists hold no read_level:1 grant.
    let seen = read(&server, &s.revisitor, &id).await;
    assert_eq!(seen["compensation"], Value::Null, "{seen}");
    assert_eq!(seen["rootCause"], "压缩机支架松动");
    assert_eq!(read(&server, &s.sup, &id).await["compensation"], "800.00");
    let (body, _) = server
        .graphql(
            &s.revisitor,
            "{ crmComplaints(filter: {compensation: {gt: \"500\"}}) { totalCount } }",
            json!({}),
        )
        .await;
    assert!(
        body.get("errors").is_some(),
        "a hidden field cannot be probed by a filter: {body}"
    );
    let query =
        "query($id: ID!) { history(entity: \"crm.complaint\", id: $id) { transition changes } }";
    let visitor_history = server.ok(&s.revisitor, query, json!({"id": id})).await;
    let text = visitor_history.to_string();
    assert!(
        !text.contains("compensation") && !text.contains("800.00"),
        "{text}"
    );
    assert!(
        text.contains("压缩机支架松动"),
        "visible changes stay: {text}"
    );
    let sup_history = server.ok(&s.sup, query, json!({"id": id})).await;
    assert!(sup_history.to_string().contains("800.00"));

    // Nor can they write it: a call centre specialist may register complaints, not compensation.
    let caller = server
        .user(&s.tenant, "call@acme.test", &["call_center_spec"], None)
        .await;
    let input = json!({"customerId": s.customer, "channel": "电话", "receivedAt": "2026-11-20T09:00:00Z",
        "category": "服务态度", "severity": "一般", "description": "要求赔偿", "acceptSlaHours": 24,
        "resolveSlaHours": 72, "compensation": "99999.00"});
    let (body, _) = server
        .graphql(
            &caller,
            "mutation($input: CrmComplaintInput!) { createCrmComplaint(input: $input) { id } }",
            json!({"input": input}),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");

    // Nobody outside the tenant, and nobody without read, sees the history.
    let other = server.tenant("other", &["org", "crm"]).await;
    let (body, _) = server.graphql(&other.admin, query, json!({"id": id})).await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    let reader = server.user(&s.tenant, "nobody@acme.test", &[], None).await;
    let (body, _) = server.graphql(&reader, query, json!({"id": id})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
}
