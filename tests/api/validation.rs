//! Invalid input: `VALIDATION_FAILED` with a JSON Pointer per bad field, and nothing written.

use jingxi_tests::{TestServer, error_code};
use serde_json::{Value, json};

use crate::fixtures::{customer, customer_input, region};

async fn count(server: &TestServer, token: &str) -> u64 {
    server
        .ok(token, "{ crmCustomers { totalCount } }", json!({}))
        .await["crmCustomers"]["totalCount"]
        .as_u64()
        .expect("count")
}

fn pointers(body: &Value) -> Vec<String> {
    body["errors"][0]["extensions"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|i| i["pointer"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_violations_name_each_field_and_write_nothing() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let mut input = customer_input("CUS-1", "杭州恒达", &hz, "不存在的阶段", "12.345");
    input.as_object_mut().expect("object").remove("name");
    let (body, status) = server
        .graphql(
            &acme.admin,
            "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { id } }",
            json!({"input": input}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    let pointers = pointers(&body);
    for expected in ["/name", "/stage", "/annual_potential"] {
        assert!(
            pointers.contains(&expected.to_string()),
            "{expected} missing in {pointers:?}"
        );
    }
    assert_eq!(count(&server, &acme.admin).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_follow_the_callers_language() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let query = "mutation { createOrgRegion(input: {name: \"杭州\", level: \"城市\"}) { id } }";
    let (zh, _) = server
        .graphql_with(Some(&acme.admin), query, json!({}), None)
        .await;
    let (en, _) = server
        .graphql_with(Some(&acme.admin), query, json!({}), Some("en-US"))
        .await;
    let zh_message = zh["errors"][0]["extensions"]["details"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let en_message = en["errors"][0]["extensions"]["details"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(zh_message.contains("必填"), "{zh_message}");
    assert!(en_message.contains("required"), "{en_message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_bad_record_leaves_no_partial_batch() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let mut inputs: Vec<Value> = (0..5)
        .map(|i| customer_input(&format!("CUS-{i}"), "客户", &hz, "潜在客户", "1.00"))
        .collect();
    inputs[3]["customerType"] = json!("外星人");
    let (body, _) = server
        .graphql(&acme.admin, "mutation($inputs: [CrmCustomerInput!]!) { createCrmCustomers(inputs: $inputs) { id } }", json!({"inputs": inputs}))
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["details"][0]["index"], 3);
    assert_eq!(
        body["errors"][0]["extensions"]["details"][0]["pointer"],
        "/customer_type"
    );
    assert_eq!(count(&server, &acme.admin).await, 0);

    // A duplicate inside the batch fails in the database: the transaction rolls back as a whole.
    let mut inputs: Vec<Value> = (0..3)
        .map(|i| customer_input(&format!("CUS-{i}"), "客户", &hz, "潜在客户", "1.00"))
        .collect();
    inputs[2]["customerNo"] = json!("CUS-0");
    let (body, _) = server
        .graphql(&acme.admin, "mutation($inputs: [CrmCustomerInput!]!) { createCrmCustomers(inputs: $inputs) { id } }", json!({"inputs": inputs}))
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    assert_eq!(count(&server, &acme.admin).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_rules_run_after_the_schema() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let cus = customer(
        &server,
        &acme.admin,
        customer_input("CUS-1", "杭州恒达", &hz, "成交客户", "1.00"),
    )
    .await;
    let complaint = json!({
        "customerId": cus["id"], "channel": "电话", "receivedAt": "2026-11-20T09:00:00+08:00",
        "resolvedAt": "2026-11-19T09:00:00+08:00", "category": "产品质量", "severity": "一般",
        "description": "空调外机噪音过大", "acceptSlaHours": 24, "resolveSlaHours": 72,
    });
    let mutation = "mutation($input: CrmComplaintInput!) { createCrmComplaint(input: $input) { id receivedAt } }";
    let (body, _) = server
        .graphql(&acme.admin, mutation, json!({"input": complaint}))
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    assert!(
        pointers(&body).contains(&"/resolved_at".to_string()),
        "{body}"
    );
    let (count, _) = server
        .graphql(&acme.admin, "{ crmComplaints { totalCount } }", json!({}))
        .await;
    assert_eq!(count["data"]["crmComplaints"]["totalCount"], 0);

    let mut fixed = complaint.clone();
    fixed["acceptedAt"] = json!("2026-11-20T10:00:00+08:00");
    fixed["resolvedAt"] = json!("2026-11-21T10:30:00+08:00");
    let data = server
        .ok(&acme.admin, mutation, json!({"input": fixed}))
        .await;
    assert_eq!(
        data["createCrmComplaint"]["receivedAt"], "2026-11-20T01:00:00.000000Z",
        "stored in UTC"
    );

    // The customer rule: exactly one primary contact.
    let mut two_primaries = customer_input("CUS-2", "上海明远置业", &hz, "成交客户", "1.00");
    two_primaries["contacts"] =
        json!([{"name": "李娜", "isPrimary": true}, {"name": "张伟", "isPrimary": true}]);
    let (body, _) = server
        .graphql(
            &acme.admin,
            "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { id } }",
            json!({"input": two_primaries}),
        )
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    assert!(
        pointers(&body).iter().any(|p| p.starts_with("/contacts")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hooks_see_the_id_of_an_existing_record() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let (body, _) = server
        .graphql(
            &acme.admin,
            "mutation($id: ID!) { updateOrgRegion(id: $id, patch: {parentId: $id}) { id } }",
            json!({"id": hz}),
        )
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    assert_eq!(pointers(&body), vec!["/parent".to_string()], "{body}");
}
