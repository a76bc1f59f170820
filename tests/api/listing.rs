//! Filters, sorting, cursor pagination and totalCount.

use jingxi_tests::{Tenant, TestServer, error_code};
use serde_json::{Value, json};

use crate::fixtures::{customer, customer_input, region};

const STAGES: [&str; 3] = ["潜在客户", "成交客户", "忠诚客户"];

/// Twelve customers: numbers CUS-00..11, stages cycling, potential i × 1000.50, half in 杭州.
async fn twelve(server: &TestServer) -> (Tenant, String, String) {
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(server, &acme.admin, "HZ", "杭州").await;
    let sh = region(server, &acme.admin, "SH", "上海").await;
    let inputs: Vec<Value> = (0..12)
        .map(|i| {
            let region = if i % 2 == 0 { &hz } else { &sh };
            let mut input = customer_input(
                &format!("CUS-{i:02}"),
                &format!("客户{i:02}"),
                region,
                STAGES[i % 3],
                &format!("{}.50", i * 1000),
            );
            if i == 11 {
                input["annualPotential"] = Value::Null;
            }
            input
        })
        .collect();
    let data = server
        .ok(&acme.admin, "mutation($inputs: [CrmCustomerInput!]!) { createCrmCustomers(inputs: $inputs) { id } }", json!({"inputs": inputs}))
        .await;
    assert_eq!(
        data["createCrmCustomers"].as_array().map(Vec::len),
        Some(12)
    );
    (acme, hz, sh)
}

async fn numbers(server: &TestServer, token: &str, args: &str) -> (Vec<String>, Value) {
    let query = format!(
        "{{ crmCustomers({args}) {{ totalCount nodes {{ customerNo }} pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}"
    );
    let data = server.ok(token, &query, json!({})).await;
    let list = data["crmCustomers"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["customerNo"].as_str().unwrap_or_default().to_string())
        .collect();
    (list, data["crmCustomers"].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_by_every_operator() {
    let server = TestServer::new().await;
    let (acme, hz, _) = twelve(&server).await;
    let t = &acme.admin;
    let sorted = "orderBy: [{field: CUSTOMER_NO}]";
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "filter: {customerNo: {eq: \"CUS-03\"}}".to_string(),
            vec!["CUS-03"],
        ),
        (
            format!("filter: {{stage: {{in: [\"忠诚客户\"]}}}}, {sorted}"),
            vec!["CUS-02", "CUS-05", "CUS-08", "CUS-11"],
        ),
        (
            format!("filter: {{annualPotential: {{gte: \"9000.5\"}}}}, {sorted}"),
            vec!["CUS-09", "CUS-10"],
        ),
        (
            format!("filter: {{annualPotential: {{lt: \"1000.50\"}}}}, {sorted}"),
            vec!["CUS-00"],
        ),
        (
            format!("filter: {{annualPotential: {{lte: \"1000.50\"}}}}, {sorted}"),
            vec!["CUS-00", "CUS-01"],
        ),
        (
            format!("filter: {{annualPotential: {{gt: \"9000.50\"}}}}, {sorted}"),
            vec!["CUS-10"],
        ),
        (
            "filter: {annualPotential: {isNull: true}}".to_string(),
            vec!["CUS-11"],
        ),
        (
            format!("filter: {{name: {{like: \"%1_\"}}}}, {sorted}"),
            vec!["CUS-10", "CUS-11"],
        ),
        (
            format!(
                "filter: {{regionId: {{eq: \"{hz}\"}}, stage: {{ne: \"潜在客户\"}}}}, {sorted}"
            ),
            vec!["CUS-02", "CUS-04", "CUS-08", "CUS-10"],
        ),
        (
            format!(
                "filter: {{stage: {{notIn: [\"潜在客户\", \"成交客户\"]}}, customerNo: {{lt: \"CUS-06\"}}}}, {sorted}"
            ),
            vec!["CUS-02", "CUS-05"],
        ),
        (
            format!(
                "filter: {{or: [{{customerNo: {{eq: \"CUS-01\"}}}}, {{customerNo: {{eq: \"CUS-07\"}}}}]}}, {sorted}"
            ),
            vec!["CUS-01", "CUS-07"],
        ),
        (
            format!("filter: {{not: {{customerNo: {{lte: \"CUS-09\"}}}}}}, {sorted}"),
            vec!["CUS-10", "CUS-11"],
        ),
        (
            format!(
                "filter: {{and: [{{stage: {{eq: \"成交客户\"}}}}, {{customerNo: {{gt: \"CUS-04\"}}}}]}}, {sorted}"
            ),
            vec!["CUS-07", "CUS-10"],
        ),
    ];
    for (args, expected) in cases {
        let (list, connection) = numbers(&server, t, &args).await;
        assert_eq!(list, expected, "{args}");
        assert_eq!(connection["totalCount"], expected.len(), "{args}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sorts_and_pages_forwards_and_backwards() {
    let server = TestServer::new().await;
    let (acme, _, _) = twelve(&server).await;
    let t = &acme.admin;
    let (first, page) = numbers(
        &server,
        t,
        "first: 5, orderBy: [{field: ANNUAL_POTENTIAL, direction: DESC}]",
    )
    .await;
    assert_eq!(first, ["CUS-10", "CUS-09", "CUS-08", "CUS-07", "CUS-06"]);
    assert_eq!(page["totalCount"], 12);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], false);
    let end = page["pageInfo"]["endCursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let (second, page) = numbers(
        &server,
        t,
        &format!(
            "first: 5, after: \"{end}\", orderBy: [{{field: ANNUAL_POTENTIAL, direction: DESC}}]"
        ),
    )
    .await;
    assert_eq!(second, ["CUS-05", "CUS-04", "CUS-03", "CUS-02", "CUS-01"]);
    let end = page["pageInfo"]["endCursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let (third, page) = numbers(
        &server,
        t,
        &format!(
            "first: 5, after: \"{end}\", orderBy: [{{field: ANNUAL_POTENTIAL, direction: DESC}}]"
        ),
    )
    .await;
    assert_eq!(
        third.len(),
        2,
        "CUS-00 and the one without potential: {third:?}"
    );
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
    let start = page["pageInfo"]["startCursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let (back, page) = numbers(
        &server,
        t,
        &format!(
            "last: 3, before: \"{start}\", orderBy: [{{field: ANNUAL_POTENTIAL, direction: DESC}}]"
        ),
    )
    .await;
    assert_eq!(back, ["CUS-03", "CUS-02", "CUS-01"]);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], true);
    let (last, _) = numbers(&server, t, "last: 2, orderBy: [{field: CUSTOMER_NO}]").await;
    assert_eq!(last, ["CUS-10", "CUS-11"]);
    let (by_two, _) = numbers(
        &server,
        t,
        "first: 4, orderBy: [{field: STAGE}, {field: CUSTOMER_NO, direction: DESC}]",
    )
    .await;
    assert_eq!(by_two.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_filters_and_page_sizes_are_refused_with_codes() {
    let server = TestServer::new().await;
    let (acme, _, _) = twelve(&server).await;
    let (body, _) = server
        .graphql(
            &acme.admin,
            "{ crmCustomers(filter: {annualPotential: {gt: \"lots\"}}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    let (body, _) = server
        .graphql(
            &acme.admin,
            "{ crmCustomers(first: 100000) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "LIMIT_EXCEEDED", "{body}");
    let (body, _) = server
        .graphql(
            &acme.admin,
            "{ crmCustomers(after: \"garbage\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    let hostile = "x' OR '1'='1";
    let (list, _) = numbers(
        &server,
        &acme.admin,
        &format!("filter: {{name: {{eq: \"{hostile}\"}}}}"),
    )
    .await;
    assert!(list.is_empty());
    let (list, _) = numbers(
        &server,
        &acme.admin,
        "filter: {name: {like: \"%' OR 1=1 --\"}}",
    )
    .await;
    assert!(list.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_null_operand_is_refused_with_a_hint() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let (body, _) = server
        .graphql(
            &acme.admin,
            "{ crmCustomers(filter: {grade: {eq: null}}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("isNull"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn child_tables_come_back_however_they_are_asked_for() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let created = customer(
        &server,
        &acme.admin,
        customer_input(
            "CUS-0001",
            "杭州恒达电器商场有限公司",
            &hz,
            "成交客户",
            "1.00",
        ),
    )
    .await;
    let queries = [
        "{ crmCustomers { nodes { contacts { name } } } }",
        "{ crmCustomers { edges { node { contacts { name } } } } }",
        "{ crmCustomers { nodes { ...C } } } fragment C on CrmCustomer { contacts { name } }",
        "{ crmCustomers { edges { node { ... on CrmCustomer { contacts { name } } } } } }",
    ];
    for query in queries {
        let data = server.ok(&acme.admin, query, json!({})).await;
        let text = data.to_string();
        assert!(text.contains("王海涛"), "{query}: {text}");
    }
    let by_id = server
        .ok(
            &acme.admin,
            "query($id: ID!) { crmCustomer(id: $id) { ...C } } fragment C on CrmCustomer { contacts { name } }",
            json!({"id": created["id"]}),
        )
        .await;
    assert_eq!(by_id["crmCustomer"]["contacts"][0]["name"], "王海涛");
}
