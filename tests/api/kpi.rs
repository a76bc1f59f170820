//! KPIs: the list in both languages, the crm complaint timeliness and satisfaction KPIs computed
//! exactly per period and within the caller's rows, refusals, and the `count` and `aggregate`
//! imports behind them.

use jingxi_tests::{TestServer, error_code, fixture_wasm};
use serde_json::{Value, json};

use crate::workflow::{Staff, me, staff, take};

const KPI: &str = "query($id: String!, $from: Date!, $to: Date!) { kpi(id: $id, from: $from, to: $to) { id value unit numerator denominator from to } }";

/// Deadlines no acceptance or resolution today can miss (about 114 years).
const GENEROUS: i64 = 1_000_000;

/// Creates a complaint received at `received_at` with the given deadlines; returns its id.
async fn complaint(
    server: &TestServer,
    token: &str,
    customer: &Value,
    received_at: &str,
    accept_sla_hours: i64,
    resolve_sla_hours: i64,
) -> Value {
    let input = json!({"customerId": customer, "channel": "电话", "receivedAt": received_at,
        "category": "安装/维修服务", "severity": "一般", "description": format!("{received_at} 接到的投诉"),
        "acceptSlaHours": accept_sla_hours, "resolveSlaHours": resolve_sla_hours});
    let query = "mutation($input: CrmComplaintInput!) { createCrmComplaint(input: $input) { id acceptedInTime resolvedInTime } }";
    let created =
        server.ok(token, query, json!({"input": input})).await["createCrmComplaint"].clone();
    assert_eq!(
        (&created["acceptedInTime"], &created["resolvedInTime"]),
        (&json!(false), &json!(false)),
        "a complaint just registered is neither accepted nor resolved in time"
    );
    created["id"].clone()
}

async fn accept(server: &TestServer, s: &Staff, id: &Value) -> Value {
    take(
        server,
        &s.spec,
        id,
        "accept",
        json!({"handlerId": s.handler_id}),
    )
    .await
}

/// Takes an accepted complaint through investigation and approval to `resolved`.
async fn resolve(server: &TestServer, s: &Staff, id: &Value) -> Value {
    take(server, &s.handler, id, "investigate", json!(null)).await;
    let input = json!({"rootCause": "安装师傅排班冲突。", "solution": ["道歉"]});
    take(server, &s.handler, id, "propose", input).await;
    take(server, &s.sup, id, "approve", json!(null)).await;
    take(server, &s.handler, id, "resolve", json!(null)).await
}

async fn flags(server: &TestServer, token: &str, id: &Value) -> (Value, Value) {
    let query = "query($id: ID!) { crmComplaint(id: $id) { acceptedInTime resolvedInTime } }";
    let found = server.ok(token, query, json!({"id": id})).await["crmComplaint"].clone();
    (
        found["acceptedInTime"].clone(),
        found["resolvedInTime"].clone(),
    )
}

async fn kpi(server: &TestServer, token: &str, id: &str, from: &str, to: &str) -> Value {
    server
        .ok(token, KPI, json!({"id": id, "from": from, "to": to}))
        .await["kpi"]
        .clone()
}

/// (value, numerator, denominator) of a KPI.
async fn rate(
    server: &TestServer,
    token: &str,
    id: &str,
    from: &str,
    to: &str,
) -> (Value, Value, Value) {
    let value = kpi(server, token, id, from, to).await;
    (
        value["value"].clone(),
        value["numerator"].clone(),
        value["denominator"].clone(),
    )
}

const ACCEPT: &str = "crm.complaint_accept_timeliness";
const RESOLVE: &str = "crm.complaint_resolve_timeliness";

#[tokio::test(flavor = "multi_thread")]
async fn complaint_timeliness_is_exact_per_period_and_within_the_callers_rows() {
    let server = TestServer::new().await;
    let s = staff(&server, "acme").await;
    let admin = s.tenant.admin.clone();
    let rep = server
        .user(&s.tenant, "rep@acme.test", &["sales_rep"], None)
        .await;
    let c = &s.customer;

    // March 2025 (Asia/Shanghai). In time: received long ago, but with a deadline no
    // acceptance today misses; late: 24 hours, long past.
    let a = complaint(
        &server,
        &s.spec,
        c,
        "2025-03-05T02:00:00Z",
        GENEROUS,
        GENEROUS,
    )
    .await;
    let accepted = accept(&server, &s, &a).await;
    assert_eq!(accepted["state"], "accepted");
    assert_eq!(
        flags(&server, &admin, &a).await,
        (json!(true), json!(false)),
        "the acceptance time stamped by the workflow is computed into the flag"
    );
    resolve(&server, &s, &a).await;
    assert_eq!(flags(&server, &admin, &a).await, (json!(true), json!(true)));
    let b = complaint(&server, &s.spec, c, "2025-03-10T02:00:00Z", 24, 72).await;
    accept(&server, &s, &b).await;
    assert_eq!(
        flags(&server, &admin, &b).await,
        (json!(false), json!(false))
    );
    complaint(&server, &s.spec, c, "2025-03-20T02:00:00Z", 24, 72).await;
    let d = complaint(
        &server,
        &s.spec,
        c,
        "2025-03-25T02:00:00Z",
        GENEROUS,
        GENEROUS,
    )
    .await;
    take(&server, &s.sup, &d, "invalidate", json!(null)).await;
    // Midnight of 1 March in Shanghai opens the period.
    let e = complaint(
        &server,
        &s.spec,
        c,
        "2025-02-28T16:00:00Z",
        GENEROUS,
        GENEROUS,
    )
    .await;
    accept(&server, &s, &e).await;
    // The sales representative's own complaints: one accepted in time, two not accepted.
    let r1 = complaint(&server, &rep, c, "2025-03-12T02:00:00Z", GENEROUS, GENEROUS).await;
    accept(&server, &s, &r1).await;
    complaint(&server, &rep, c, "2025-03-15T02:00:00Z", 24, 72).await;
    complaint(&server, &rep, c, "2025-03-16T02:00:00Z", 24, 72).await;

    // April 2025: 00:30 on 1 April in Shanghai is still 31 March in UTC.
    let f = complaint(
        &server,
        &s.spec,
        c,
        "2025-03-31T16:30:00Z",
        GENEROUS,
        GENEROUS,
    )
    .await;
    accept(&server, &s, &f).await;
    // Accepted late, then resolved within an hour of its acceptance.
    let g = complaint(&server, &s.spec, c, "2025-04-15T08:00:00Z", 1, 1).await;
    accept(&server, &s, &g).await;
    resolve(&server, &s, &g).await;
    assert_eq!(
        flags(&server, &admin, &g).await,
        (json!(false), json!(true))
    );
    complaint(
        &server,
        &s.spec,
        c,
        "2025-04-30T15:59:59Z",
        GENEROUS,
        GENEROUS,
    )
    .await;
    // Midnight of 1 May in Shanghai is outside April.
    let i = complaint(
        &server,
        &s.spec,
        c,
        "2025-04-30T16:00:00Z",
        GENEROUS,
        GENEROUS,
    )
    .await;
    accept(&server, &s, &i).await;

    let (march, april) = (("2025-03-01", "2025-03-31"), ("2025-04-01", "2025-04-30"));
    let checks = [
        // March: a, e and r1 of a, b, c, e, r1 and the two unaccepted of the representative;
        // d is invalid.
        (&admin, ACCEPT, march, ("42.86", 3, 7)),
        (&admin, RESOLVE, march, ("14.29", 1, 7)),
        // April: f of f, g and the one received at 23:59:59; g resolved in time.
        (&admin, ACCEPT, april, ("33.33", 1, 3)),
        (&admin, RESOLVE, april, ("33.33", 1, 3)),
        (
            &admin,
            ACCEPT,
            ("2025-03-01", "2025-04-30"),
            ("40.00", 4, 10),
        ),
        // The representative reads their own complaints only.
        (&rep, ACCEPT, march, ("33.33", 1, 3)),
        (&rep, RESOLVE, march, ("0.00", 0, 3)),
        (&rep, ACCEPT, april, ("", 0, 0)),
    ];
    for (token, id, (from, to), (value, numerator, denominator)) in checks {
        let value = if value.is_empty() {
            Value::Null
        } else {
            json!(value)
        };
        assert_eq!(
            rate(&server, token, id, from, to).await,
            (
                value,
                json!(numerator.to_string()),
                json!(denominator.to_string())
            ),
            "{id} {from}..{to}"
        );
    }
    let whole = kpi(&server, &admin, ACCEPT, "2025-03-01", "2025-03-31").await;
    assert_eq!(
        whole,
        json!({"id": ACCEPT, "value": "42.86", "unit": "PERCENT", "numerator": "3",
               "denominator": "7", "from": "2025-03-01", "to": "2025-03-31"})
    );
    // A user who may read no complaint measures nothing.
    let planner = server
        .user(&s.tenant, "plan@acme.test", &["cust_dev_sup"], None)
        .await;
    assert_eq!(
        rate(&server, &planner, ACCEPT, "2025-03-01", "2025-03-31").await,
        (Value::Null, json!("0"), json!("0"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn satisfaction_is_twenty_times_the_average_rating_of_the_period() {
    let server = TestServer::new().await;
    let s = staff(&server, "acme").await;
    let staff_id = me(&server, &s.tenant.admin).await;
    let query =
        "mutation($input: CrmVisitRecordInput!) { createCrmVisitRecord(input: $input) { id } }";
    for (date, satisfaction) in [
        ("2025-03-01", Some(5)),
        ("2025-03-15", Some(4)),
        ("2025-03-31", Some(4)),
        ("2025-03-20", None),
        ("2025-04-01", Some(1)),
    ] {
        let mut input = json!({"customerId": s.customer, "visitType": "满意度回访", "visitDate": date,
            "staffId": staff_id, "content": "季度满意度回访。"});
        if let Some(satisfaction) = satisfaction {
            input["satisfaction"] = json!(satisfaction);
        }
        server
            .ok(&s.tenant.admin, query, json!({"input": input}))
            .await;
    }
    let value = kpi(
        &server,
        &s.tenant.admin,
        "crm.customer_satisfaction",
        "2025-03-01",
        "2025-03-31",
    )
    .await;
    assert_eq!(
        (
            &value["value"],
            &value["numerator"],
            &value["denominator"],
            &value["unit"]
        ),
        (&json!("86.67"), &json!("13"), &json!("3"), &json!("SCORE"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kpis_are_listed_in_the_callers_language() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let query = "{ kpis { id plugin title description unit better } }";
    let zh = server.ok(&acme.admin, query, json!({})).await;
    let titles = |data: &Value| -> Vec<(String, String)> {
        data["kpis"]
            .as_array()
            .expect("kpis")
            .iter()
            .map(|k| {
                (
                    k["id"].as_str().unwrap().to_string(),
                    k["title"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let pairs = |list: [(&str, &str); 3]| -> Vec<(String, String)> {
        list.iter()
            .map(|(id, title)| (id.to_string(), title.to_string()))
            .collect()
    };
    assert_eq!(
        titles(&zh),
        pairs([
            (ACCEPT, "客户投诉受理及时率"),
            (RESOLVE, "客户投诉处理及时率"),
            ("crm.customer_satisfaction", "客户满意度"),
        ])
    );
    let first = &zh["kpis"][0];
    assert_eq!(
        (&first["plugin"], &first["unit"], &first["better"]),
        (&json!("crm"), &json!("PERCENT"), &json!("HIGHER"))
    );
    assert!(
        first["description"].as_str().unwrap().contains("受理时限"),
        "{first}"
    );
    let (en, _) = server
        .graphql_with(Some(&acme.admin), query, json!({}), Some("en"))
        .await;
    assert_eq!(
        titles(&en["data"]),
        pairs([
            (ACCEPT, "Complaint acceptance timeliness"),
            (RESOLVE, "Complaint resolution timeliness"),
            ("crm.customer_satisfaction", "Customer satisfaction"),
        ])
    );
    assert!(
        en["data"]["kpis"][0]["description"]
            .as_str()
            .unwrap()
            .contains("acceptance deadline"),
        "{en}"
    );

    // A tenant without crm has none of them.
    let bare = server.tenant("bare", &["org"]).await;
    assert_eq!(
        server.ok(&bare.admin, query, json!({})).await["kpis"],
        json!([])
    );
    let (body, _) = server
        .graphql(
            &bare.admin,
            KPI,
            json!({"id": ACCEPT, "from": "2025-03-01", "to": "2025-03-31"}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_kpis_and_bad_periods_are_refused_with_codes() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let ask = |id: &str, from: &str, to: &str| {
        let variables = json!({"id": id, "from": from, "to": to});
        let server = &server;
        let token = acme.admin.clone();
        async move { server.graphql(&token, KPI, variables).await.0 }
    };
    for id in [
        "crm.no_such_kpi",
        "complaint_accept_timeliness",
        "org.complaint_accept_timeliness",
        "",
    ] {
        let body = ask(id, "2025-03-01", "2025-03-31").await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{id}: {body}");
    }
    let body = ask(ACCEPT, "2025-04-01", "2025-03-31").await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["details"][0]["pointer"],
        "/to"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("2025-03-31"),
        "{body}"
    );
    let body = ask(ACCEPT, "2024-01-01", "2025-01-01").await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "367 days: {body}");
    let leap_year = ask(ACCEPT, "2024-01-01", "2024-12-31").await;
    assert!(leap_year.get("errors").is_none(), "366 days: {leap_year}");
    for (from, to) in [("2025-02-29", "2025-03-31"), ("2025-03-01", "31/03/2025")] {
        let body = ask(ACCEPT, from, to).await;
        assert_eq!(
            error_code(&body),
            "VALIDATION_FAILED",
            "{from}..{to}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kpi_answer_of_the_wrong_shape_is_a_plugin_failure() {
    let server = TestServer::new().await;
    server
        .kernel
        .install_plugin(fixture_wasm("hostile"))
        .await
        .expect("hostile installs");
    let acme = server.tenant("acme", &["org", "crm", "hostile"]).await;
    let listed = server.ok(&acme.admin, "{ kpis { id } }", json!({})).await;
    assert_eq!(listed["kpis"][3]["id"], "hostile.echo", "{listed}");
    // The fixture answers {"id", "params"} instead of {"value", "numerator", "denominator"}.
    let (body, _) = server
        .graphql(
            &acme.admin,
            KPI,
            json!({"id": "hostile.echo", "from": "2025-03-01", "to": "2025-03-31"}),
        )
        .await;
    assert_eq!(error_code(&body), "PLUGIN_FAILED", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("hostile.echo") && message.contains("unknown key `id`"),
        "{message}"
    );
}

/// Creates a spy probe that counts `target` records through the `aggregate` import (or, with
/// `count_by`, per value of that field through the `count` import) and returns what the spy
/// reported.
async fn count_probe(
    server: &TestServer,
    token: &str,
    target: &str,
    filter: Value,
    count_by: Option<&str>,
) -> String {
    let input = match count_by {
        Some(field) => json!({"target": target, "filter": filter.to_string(), "countBy": field}),
        None => json!({"target": target, "filter": filter.to_string(), "count": true}),
    };
    let (body, _) = server
        .graphql(
            token,
            "mutation($input: SpyProbeInput!) { createSpyProbe(input: $input) { id } }",
            json!({"input": input}),
        )
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    body["errors"][0]["extensions"]["details"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aggregate_and_count_imports_count_only_what_the_caller_may_read() {
    let server = TestServer::configured(|config| config.plugins.hook_timeout_ms = 5_000).await;
    server
        .kernel
        .install_plugin(fixture_wasm("spy"))
        .await
        .expect("spy installs");
    server
        .kernel
        .install_plugin(fixture_wasm("hostile"))
        .await
        .expect("hostile installs");
    let s = staff(&server, "acme").await;
    server
        .kernel
        .enable_plugin("acme", "spy")
        .await
        .expect("spy enabled");
    server
        .kernel
        .enable_plugin("acme", "hostile")
        .await
        .expect("hostile enabled");
    let rep_grants: &[(&str, &[&str], &str)] = &[
        ("crm.complaint", &["read", "create"], "own"),
        ("spy.probe", &["create"], "own"),
    ];
    server.role("acme", "probing_rep", rep_grants).await;
    let rep = server
        .user(&s.tenant, "rep@acme.test", &["probing_rep"], None)
        .await;
    for (token, received_at) in [
        (&s.tenant.admin, "2025-03-05T02:00:00Z"),
        (&s.tenant.admin, "2025-03-06T02:00:00Z"),
        (&rep, "2025-03-07T02:00:00Z"),
    ] {
        complaint(&server, token, &s.customer, received_at, 24, 72).await;
    }
    let all = json!({});
    let admin = &s.tenant.admin;
    assert_eq!(
        count_probe(&server, admin, "crm.complaint", all.clone(), None).await,
        "counted: 3"
    );
    assert_eq!(
        count_probe(&server, &rep, "crm.complaint", all.clone(), None).await,
        "counted: 1"
    );
    let early = json!({"received_at": {"lt": "2025-03-06T00:00:00Z"}});
    assert_eq!(
        count_probe(&server, admin, "crm.complaint", early.clone(), None).await,
        "counted: 1"
    );
    // The `count` import: the same rows, per value of the field counted by.
    let by_state = Some("state");
    assert_eq!(
        count_probe(&server, admin, "crm.complaint", all.clone(), by_state).await,
        r#"counted: "registered"=3"#
    );
    assert_eq!(
        count_probe(&server, &rep, "crm.complaint", all.clone(), by_state).await,
        r#"counted: "registered"=1"#,
        "own scope applies to counts too"
    );
    let received = Some("received_at");
    assert_eq!(
        count_probe(&server, &rep, "crm.complaint", all.clone(), received).await,
        r#"counted: "2025-03-07T02:00:00.000000Z"=1"#
    );
    assert_eq!(
        count_probe(&server, admin, "crm.complaint", early, by_state).await,
        r#"counted: "registered"=1"#
    );
    let globex = server.tenant("globex", &["org", "crm", "spy"]).await;
    assert_eq!(
        count_probe(
            &server,
            &globex.admin,
            "crm.complaint",
            all.clone(),
            by_state
        )
        .await,
        "counted: ",
        "never another tenant's records"
    );
    // spy requires org and crm, not hostile.
    for count_by in [None, by_state] {
        let refused = count_probe(&server, admin, "hostile.anything", all.clone(), count_by).await;
        assert!(
            refused.starts_with("failed: plugin spy may not read hostile.anything"),
            "{refused}"
        );
    }
    // The compensation is a level-1 field the representative may not read, nor filter on, nor
    // count by.
    let hidden = json!({"compensation": {"gt": "0"}});
    assert_eq!(
        count_probe(&server, admin, "crm.complaint", hidden.clone(), None).await,
        "counted: 0"
    );
    assert_eq!(
        count_probe(&server, admin, "crm.complaint", hidden.clone(), by_state).await,
        "counted: "
    );
    for (filter, count_by) in [
        (hidden.clone(), None),
        (hidden, by_state),
        (all, Some("compensation")),
    ] {
        let refused = count_probe(&server, &rep, "crm.complaint", filter, count_by).await;
        assert!(
            refused.starts_with("failed:") && refused.contains("compensation"),
            "{refused}"
        );
    }
}
