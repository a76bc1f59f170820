//! Tenant isolation: tenant B reaches none of tenant A's records by any path.

use jingxi_tests::{TestServer, error_code};
use serde_json::json;

use crate::fixtures::{customer, customer_input, region};

#[tokio::test(flavor = "multi_thread")]
async fn another_tenant_reaches_nothing_by_any_path() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let globex = server.tenant("globex", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let secret = customer(
        &server,
        &acme.admin,
        customer_input("CUS-A", "甲方机密客户", &hz, "忠诚客户", "99.00"),
    )
    .await;
    let id = secret["id"].as_str().expect("id");

    // A reference to another tenant's record is refused: for Globex that record does not exist.
    let (refused, _) = server
        .graphql(
            &globex.admin,
            "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { id } }",
            json!({"input": customer_input("CUS-B", "乙方客户", &hz, "潜在客户", "1.00")}),
        )
        .await;
    assert_eq!(error_code(&refused), "VALIDATION_FAILED", "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"]["details"][0]["pointer"],
        "/region"
    );
    let globex_region = region(&server, &globex.admin, "HZ", "杭州").await;
    customer(
        &server,
        &globex.admin,
        customer_input("CUS-B", "乙方客户", &globex_region, "潜在客户", "1.00"),
    )
    .await;

    let get = server
        .ok(
            &globex.admin,
            "query($id: ID!) { crmCustomer(id: $id) { id name } }",
            json!({"id": id}),
        )
        .await;
    assert!(get["crmCustomer"].is_null(), "get by id");
    let region_get = server
        .ok(
            &globex.admin,
            "query($id: ID!) { orgRegion(id: $id) { id } }",
            json!({"id": hz}),
        )
        .await;
    assert!(region_get["orgRegion"].is_null(), "get region by id");
    let list = server
        .ok(
            &globex.admin,
            "{ crmCustomers { totalCount nodes { name } } orgRegions { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        list["crmCustomers"]["totalCount"], 1,
        "count sees only globex's own"
    );
    assert_eq!(list["crmCustomers"]["nodes"][0]["name"], "乙方客户");
    assert_eq!(list["orgRegions"]["totalCount"], 1);
    let filtered = server
        .ok(
            &globex.admin,
            "query($id: ID!) { crmCustomers(filter: {id: {eq: $id}}) { totalCount } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(filtered["crmCustomers"]["totalCount"], 0, "filter by id");
    let (update, _) = server
        .graphql(
            &globex.admin,
            "mutation($id: ID!) { updateCrmCustomer(id: $id, patch: {name: \"篡改\"}) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&update), "NOT_FOUND", "{update}");
    let (delete, _) = server
        .graphql(
            &globex.admin,
            "mutation($id: ID!) { deleteCrmCustomer(id: $id) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&delete), "NOT_FOUND", "{delete}");

    let still = server
        .ok(
            &acme.admin,
            "query($id: ID!) { crmCustomer(id: $id) { name version } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(still["crmCustomer"]["name"], "甲方机密客户");
    assert_eq!(still["crmCustomer"]["version"], 1);
}
