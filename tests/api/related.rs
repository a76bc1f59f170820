//! Reverse references as connections: a customer's visit records, paged, filtered, sorted and
//! counted per customer, inside the caller's read access.

use jingxi_tests::{Tenant, TestServer, error_code};
use serde_json::{Value, json};

use crate::fixtures::{customer, customer_input, region};
use crate::workflow::me;

const CREATE_VISIT: &str =
    "mutation($input: CrmVisitRecordInput!) { createCrmVisitRecord(input: $input) { id } }";

async fn visit(server: &TestServer, token: &str, customer: &Value, date: &str, kind: &str) {
    let staff = me(server, token).await;
    let input = json!({"customerId": customer, "visitType": kind, "visitDate": date,
        "staffId": staff, "content": format!("{date} 拜访。")});
    server
        .ok(token, CREATE_VISIT, json!({"input": input}))
        .await;
}

/// Three customers: CUS-A with three visits, CUS-B with one, CUS-C with none.
async fn visited(server: &TestServer) -> (Tenant, Vec<Value>) {
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(server, &acme.admin, "HZ", "杭州").await;
    let mut ids = Vec::new();
    for no in ["CUS-A", "CUS-B", "CUS-C"] {
        let created = customer(
            server,
            &acme.admin,
            customer_input(no, &format!("客户{no}"), &hz, "成交客户", "1.00"),
        )
        .await;
        ids.push(created["id"].clone());
    }
    visit(server, &acme.admin, &ids[0], "2026-11-01", "上门拜访").await;
    visit(server, &acme.admin, &ids[0], "2026-11-03", "电话回访").await;
    visit(server, &acme.admin, &ids[0], "2026-11-02", "上门拜访").await;
    visit(server, &acme.admin, &ids[1], "2026-11-05", "电话回访").await;
    (acme, ids)
}

/// Per customer number: the visit dates of the page, `totalCount` and `hasNextPage`.
async fn visits_per_customer(
    server: &TestServer,
    token: &str,
    args: &str,
) -> Vec<(String, Vec<String>, Value, Value)> {
    let args = if args.is_empty() {
        String::new()
    } else {
        format!("({args})")
    };
    let query = format!(
        "{{ crmCustomers(orderBy: [{{field: CUSTOMER_NO}}]) {{ nodes {{ customerNo
           crmVisitRecordsByCustomer{args} {{ totalCount nodes {{ visitDate }}
             pageInfo {{ hasNextPage endCursor }} }} }} }} }}"
    );
    let data = server.ok(token, &query, json!({})).await;
    data["crmCustomers"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| {
            let visits = &node["crmVisitRecordsByCustomer"];
            let dates = visits["nodes"]
                .as_array()
                .expect("visit nodes")
                .iter()
                .map(|v| v["visitDate"].as_str().unwrap_or_default().to_string())
                .collect();
            (
                node["customerNo"].as_str().unwrap_or_default().to_string(),
                dates,
                visits["totalCount"].clone(),
                visits["pageInfo"]["hasNextPage"].clone(),
            )
        })
        .collect()
}

fn row(no: &str, dates: &[&str], total: u64, more: bool) -> (String, Vec<String>, Value, Value) {
    (
        no.to_string(),
        dates.iter().map(|d| d.to_string()).collect(),
        json!(total),
        json!(more),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_customer_lists_its_own_visits_paged_and_counted() {
    let server = TestServer::new().await;
    let (acme, _) = visited(&server).await;
    let newest_two = "first: 2, orderBy: [{field: VISIT_DATE, direction: DESC}]";
    assert_eq!(
        visits_per_customer(&server, &acme.admin, newest_two).await,
        vec![
            row("CUS-A", &["2026-11-03", "2026-11-02"], 3, true),
            row("CUS-B", &["2026-11-05"], 1, false),
            row("CUS-C", &[], 0, false),
        ]
    );
    let phone = "filter: {visitType: {eq: \"电话回访\"}}";
    assert_eq!(
        visits_per_customer(&server, &acme.admin, phone).await,
        vec![
            row("CUS-A", &["2026-11-03"], 1, false),
            row("CUS-B", &["2026-11-05"], 1, false),
            row("CUS-C", &[], 0, false),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_page_follows_the_cursor_and_past_the_end_still_counts() {
    let server = TestServer::new().await;
    let (acme, ids) = visited(&server).await;
    let page = |after: Option<&str>| {
        let after = after
            .map(|a| format!(", after: \"{a}\""))
            .unwrap_or_default();
        format!(
            "query($id: ID!) {{ crmCustomer(id: $id) {{ crmVisitRecordsByCustomer(first: 2, orderBy: [{{field: VISIT_DATE}}]{after}) {{
               totalCount nodes {{ visitDate }} pageInfo {{ hasNextPage hasPreviousPage endCursor }} }} }} }}"
        )
    };
    let first = server
        .ok(&acme.admin, &page(None), json!({"id": ids[0]}))
        .await["crmCustomer"]["crmVisitRecordsByCustomer"]
        .clone();
    assert_eq!(
        first["nodes"],
        json!([{"visitDate": "2026-11-01"}, {"visitDate": "2026-11-02"}])
    );
    let end = first["pageInfo"]["endCursor"].as_str().expect("cursor");
    let second = server
        .ok(&acme.admin, &page(Some(end)), json!({"id": ids[0]}))
        .await["crmCustomer"]["crmVisitRecordsByCustomer"]
        .clone();
    assert_eq!(second["nodes"], json!([{"visitDate": "2026-11-03"}]));
    assert_eq!(second["pageInfo"]["hasNextPage"], false);
    assert_eq!(second["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(second["totalCount"], 3);
    let end = second["pageInfo"]["endCursor"].as_str().expect("cursor");
    let past = server
        .ok(&acme.admin, &page(Some(end)), json!({"id": ids[0]}))
        .await["crmCustomer"]["crmVisitRecordsByCustomer"]
        .clone();
    assert_eq!(past["nodes"], json!([]));
    assert_eq!(past["totalCount"], 3, "counted without a row to count from");
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_visits_keep_to_the_callers_rows_and_fields() {
    let server = TestServer::new().await;
    let (acme, ids) = visited(&server).await;
    let rep: &[(&str, &[&str], &str)] = &[
        ("crm.customer", &["read"], "all"),
        ("crm.visit_record", &["read", "create"], "own"),
        ("org.region", &["read"], "all"),
    ];
    server.role("acme", "rep", rep).await;
    let zheng = server
        .user(&acme, "zhenghao@acme.test", &["rep"], None)
        .await;
    visit(&server, &zheng, &ids[0], "2026-11-09", "上门拜访").await;
    assert_eq!(
        visits_per_customer(&server, &zheng, "").await,
        vec![
            row("CUS-A", &["2026-11-09"], 1, false),
            row("CUS-B", &[], 0, false),
            row("CUS-C", &[], 0, false),
        ],
        "only the rep's own visit, counted alone"
    );
    server
        .role("acme", "reader", &[("crm.customer", &["read"], "all")])
        .await;
    let reader = server
        .user(&acme, "reader@acme.test", &["reader"], None)
        .await;
    assert_eq!(
        visits_per_customer(&server, &reader, "").await,
        vec![
            row("CUS-A", &[], 0, false),
            row("CUS-B", &[], 0, false),
            row("CUS-C", &[], 0, false),
        ],
        "no read grant on visits: no visit, no count"
    );
    let other = server.tenant("other", &["org", "crm"]).await;
    let query =
        "query($id: ID!) { crmCustomer(id: $id) { crmVisitRecordsByCustomer { totalCount } } }";
    let data = server.ok(&other.admin, query, json!({"id": ids[0]})).await;
    assert!(data["crmCustomer"].is_null(), "another tenant: {data}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_arguments_are_refused_with_a_code() {
    let server = TestServer::new().await;
    let (acme, ids) = visited(&server).await;
    for (args, code) in [
        ("first: -1", "VALIDATION_FAILED"),
        ("first: 100000", "LIMIT_EXCEEDED"),
        ("after: \"not-a-cursor\"", "VALIDATION_FAILED"),
        (
            "filter: {visitDate: {eq: \"yesterday\"}}",
            "VALIDATION_FAILED",
        ),
    ] {
        let query = format!(
            "query($id: ID!) {{ crmCustomer(id: $id) {{ crmVisitRecordsByCustomer({args}) {{ totalCount }} }} }}"
        );
        let (body, _) = server
            .graphql(&acme.admin, &query, json!({"id": ids[0]}))
            .await;
        assert_eq!(error_code(&body), code, "{args}: {body}");
    }
}
