//! Module subsets per tenant: requirements, references, enable/disable without a restart, also
//! when another process makes the change.

use std::time::{Duration, Instant};

use jingxi_tests::{TestServer, error_code};
use serde_json::json;

use crate::fixtures::{customer, customer_input, region};

async fn crm_visible(server: &TestServer, token: &str) -> bool {
    let (body, _) = server
        .graphql(token, "{ crmCustomers { totalCount } }", json!({}))
        .await;
    body.get("errors").is_none()
}

#[tokio::test(flavor = "multi_thread")]
async fn crm_needs_org_and_the_refusal_names_it() {
    let server = TestServer::new().await;
    let error = server
        .kernel
        .create_tenant("acme", "Acme", &["crm".to_string()])
        .await
        .expect_err("crm without org");
    let message = error.to_string();
    assert!(message.contains("org"), "{message}");
    server
        .kernel
        .enable_plugin("acme", "org")
        .await
        .expect("org enables");
    server
        .kernel
        .enable_plugin("acme", "crm")
        .await
        .expect("then crm enables");
    let error = server
        .kernel
        .disable_plugin("acme", "org")
        .await
        .expect_err("org is required by crm");
    assert!(error.to_string().contains("crm"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn disabling_hides_the_api_keeps_the_data_and_touches_no_other_tenant() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let globex = server.tenant("globex", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let created = customer(
        &server,
        &acme.admin,
        customer_input("CUS-1", "杭州恒达", &hz, "成交客户", "15000000.00"),
    )
    .await;

    server
        .kernel
        .disable_plugin("acme", "crm")
        .await
        .expect("disable");
    let (body, status) = server
        .graphql(&acme.admin, "{ crmCustomers { totalCount } }", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        error_code(&body),
        "BAD_REQUEST",
        "the field is gone from acme's schema: {body}"
    );
    let data = server
        .ok(
            &acme.admin,
            "{ plugins { id } orgRegions { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["plugins"], json!([{"id": "org"}]));
    assert_eq!(data["orgRegions"]["totalCount"], 1);
    assert!(
        crm_visible(&server, &globex.admin).await,
        "globex keeps crm"
    );

    server
        .kernel
        .enable_plugin("acme", "crm")
        .await
        .expect("enable again");
    let data = server
        .ok(
            &acme.admin,
            "query($id: ID!) { crmCustomer(id: $id) { name annualPotential } }",
            json!({"id": created["id"]}),
        )
        .await;
    assert_eq!(data["crmCustomer"]["name"], "杭州恒达");
    assert_eq!(data["crmCustomer"]["annualPotential"], "15000000.00");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_made_by_another_node_shows_within_a_second() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let other = server.second_node().await;
    assert!(
        crm_visible(&other, &acme.admin).await,
        "the second node serves the same tenant"
    );
    assert!(crm_visible(&server, &acme.admin).await);

    // The second node disables crm; the first node must notice by itself.
    other
        .kernel
        .disable_plugin("acme", "crm")
        .await
        .expect("disable on the other node");
    let started = Instant::now();
    while crm_visible(&server, &acme.admin).await {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still visible after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    other
        .kernel
        .enable_plugin("acme", "crm")
        .await
        .expect("enable on the other node");
    let started = Instant::now();
    while !crm_visible(&server, &acme.admin).await {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still hidden after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
