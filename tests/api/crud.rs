//! Create, read, update with optimistic concurrency, delete.

use jingxi_tests::{TestServer, error_code};
use serde_json::json;

use crate::fixtures::{CUSTOMER_FIELDS, complaint, customer, customer_input, region};

#[tokio::test(flavor = "multi_thread")]
async fn creates_reads_updates_and_deletes_a_customer() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hangzhou = region(&server, &acme.admin, "HZ", "杭州").await;
    let created = customer(
        &server,
        &acme.admin,
        customer_input(
            "CUS-0001",
            "杭州恒达电器商场有限公司",
            &hangzhou,
            "忠诚客户",
            "15000000.00",
        ),
    )
    .await;
    assert_eq!(created["version"], 1);
    assert_eq!(created["annualPotential"], "15000000.00");
    assert_eq!(created["contacts"][0]["name"], "王海涛");
    let id = created["id"].as_str().expect("id").to_string();

    let query = format!(
        "query($id: ID!) {{ crmCustomer(id: $id) {{ {CUSTOMER_FIELDS} region {{ name code }} }} }}"
    );
    let read = server.ok(&acme.admin, &query, json!({"id": id})).await;
    assert_eq!(read["crmCustomer"]["name"], "杭州恒达电器商场有限公司");
    assert_eq!(read["crmCustomer"]["region"]["name"], "杭州");

    let update = format!(
        "mutation($id: ID!, $patch: CrmCustomerInput!, $v: Int) {{ updateCrmCustomer(id: $id, patch: $patch, expectedVersion: $v) {{ {CUSTOMER_FIELDS} }} }}"
    );
    let updated = server
        .ok(
            &acme.admin,
            &update,
            json!({"id": id, "patch": {"stage": "成交客户"}, "v": 1}),
        )
        .await;
    assert_eq!(updated["updateCrmCustomer"]["stage"], "成交客户");
    assert_eq!(updated["updateCrmCustomer"]["version"], 2);
    assert_eq!(
        updated["updateCrmCustomer"]["name"], "杭州恒达电器商场有限公司",
        "a patch keeps absent fields"
    );

    let (stale, _) = server
        .graphql(
            &acme.admin,
            &update,
            json!({"id": id, "patch": {"stage": "流失客户"}, "v": 1}),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");
    let after = server.ok(&acme.admin, &query, json!({"id": id})).await;
    assert_eq!(
        after["crmCustomer"]["stage"], "成交客户",
        "a conflicting update changes nothing"
    );

    let deleted = server
        .ok(
            &acme.admin,
            "mutation($id: ID!) { deleteCrmCustomer(id: $id) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(deleted["deleteCrmCustomer"], id);
    let gone = server.ok(&acme.admin, &query, json!({"id": id})).await;
    assert!(gone["crmCustomer"].is_null());
    let (again, _) = server
        .graphql(
            &acme.admin,
            "mutation($id: ID!) { deleteCrmCustomer(id: $id) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&again), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_with_null_clears_a_field_and_child_rows_are_replaced() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let created = customer(
        &server,
        &acme.admin,
        customer_input(
            "CUS-1",
            "浙江新宇酒店管理有限公司",
            &hz,
            "忠诚客户",
            "3000000.00",
        ),
    )
    .await;
    let update = format!(
        "mutation($id: ID!, $patch: CrmCustomerInput!) {{ updateCrmCustomer(id: $id, patch: $patch) {{ {CUSTOMER_FIELDS} }} }}"
    );
    let patch = json!({"annualPotential": null, "contacts": [
        {"name": "周建平", "phone": "13700008890", "isPrimary": true},
        {"name": "陈晓", "phone": "13700001111", "isPrimary": false}
    ]});
    let data = server
        .ok(
            &acme.admin,
            &update,
            json!({"id": created["id"], "patch": patch}),
        )
        .await;
    let record = &data["updateCrmCustomer"];
    assert!(record["annualPotential"].is_null());
    let names: Vec<&str> = record["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["周建平", "陈晓"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn unique_fields_are_unique_per_tenant_only() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let globex = server.tenant("globex", &["org", "crm"]).await;
    region(&server, &acme.admin, "HZ", "杭州").await;
    let (body, _) = server
        .graphql(&acme.admin, "mutation { createOrgRegion(input: {code: \"HZ\", name: \"杭州2\", level: \"城市\"}) { id } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["details"][0]["pointer"],
        "/code"
    );
    region(&server, &globex.admin, "HZ", "杭州").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn decimals_stay_exact_or_are_refused() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let mutation = "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { annualPotential } }";
    let mut input = customer_input("CUS-1", "杭州恒达", &hz, "成交客户", "0");
    input["annualPotential"] = json!(1234.5);
    let data = server
        .ok(&acme.admin, mutation, json!({"input": input}))
        .await;
    assert_eq!(
        data["createCrmCustomer"]["annualPotential"], "1234.50",
        "a short JSON number is taken exactly"
    );
    let mut input = customer_input("CUS-2", "上海明远", &hz, "成交客户", "0");
    input["annualPotential"] = serde_json::from_str("1234567890123456.78").expect("a JSON number");
    let (body, _) = server
        .graphql(&acme.admin, mutation, json!({"input": input}))
        .await;
    assert_eq!(
        error_code(&body),
        "VALIDATION_FAILED",
        "a number past float precision is refused: {body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["details"][0]["pointer"],
        "/annual_potential"
    );
    let mut input = customer_input("CUS-3", "上海明远", &hz, "成交客户", "1234567890123456.78");
    input["customerNo"] = json!("CUS-3");
    let data = server
        .ok(&acme.admin, mutation, json!({"input": input}))
        .await;
    assert_eq!(
        data["createCrmCustomer"]["annualPotential"], "1234567890123456.78",
        "strings keep every digit"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn computed_fields_are_filled_by_the_plugin_and_closed_to_clients() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let fields = "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { id archiveComplete } }";
    let complete = server
        .ok(
            &acme.admin,
            fields,
            json!({"input": customer_input("CUS-1", "杭州恒达", &hz, "成交客户", "1.00")}),
        )
        .await;
    assert_eq!(complete["createCrmCustomer"]["archiveComplete"], true);
    let mut partial = customer_input("CUS-2", "浙江新宇", &hz, "成交客户", "1.00");
    partial.as_object_mut().expect("object").remove("industry");
    let data = server
        .ok(&acme.admin, fields, json!({"input": partial}))
        .await;
    assert_eq!(data["createCrmCustomer"]["archiveComplete"], false);

    // Filling the missing field recomputes it on update.
    let update = "mutation($id: ID!) { updateCrmCustomer(id: $id, patch: {industry: \"酒店管理\"}) { archiveComplete } }";
    let data = server
        .ok(
            &acme.admin,
            update,
            json!({"id": data["createCrmCustomer"]["id"]}),
        )
        .await;
    assert_eq!(data["updateCrmCustomer"]["archiveComplete"], true);

    // The input type has no such field: a client cannot set it.
    let mut forged = customer_input("CUS-3", "上海明远", &hz, "成交客户", "1.00");
    forged["archiveComplete"] = json!(true);
    let (body, _) = server
        .graphql(&acme.admin, fields, json!({"input": forged}))
        .await;
    assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_referenced_record_cannot_be_deleted() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let cus = customer(
        &server,
        &acme.admin,
        customer_input("CUS-1", "浙江新宇", &hz, "成交客户", "1.00"),
    )
    .await;
    let complaint = complaint(&server, &acme.admin, &cus["id"], "回访不及时").await;
    let delete = "mutation($id: ID!) { deleteCrmCustomer(id: $id) }";
    let (body, _) = server
        .graphql(&acme.admin, delete, json!({"id": cus["id"]}))
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("crm.complaint.customer (1)"),
        "the refusal names who refers to it: {message}"
    );
    let (body, _) = server.graphql(&acme.admin, delete, json!({"id": hz})).await;
    assert_eq!(
        error_code(&body),
        "NOT_FOUND",
        "a region id is not a customer id: {body}"
    );

    server
        .ok(
            &acme.admin,
            "mutation($id: ID!) { deleteCrmComplaint(id: $id) }",
            json!({"id": complaint}),
        )
        .await;
    server
        .ok(&acme.admin, delete, json!({"id": cus["id"]}))
        .await;
    let (body, _) = server
        .graphql(
            &acme.admin,
            "mutation($id: ID!) { deleteOrgRegion(id: $id) }",
            json!({"id": hz}),
        )
        .await;
    assert!(
        body.get("errors").is_none(),
        "nothing refers to the region any more: {body}"
    );
}
