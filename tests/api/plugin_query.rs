//! The `query` import: a plugin reads other records only through its caller's tenant and row
//! scope, only entities it owns or requires, and only within the per-call budget.

use jingxi_tests::{TestServer, error_code, fixture_wasm};
use serde_json::{Value, json};

use crate::fixtures::{customer, customer_input, region};

/// Creates a probe and returns what the spy plugin reported.
async fn probe(server: &TestServer, token: &str, input: Value) -> String {
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
async fn plugin_reads_only_what_its_caller_may_read() {
    // The time limit of a hook call includes the queries it makes; these tests are about what a
    // plugin may read and how often, so the limit is generous.
    let server = TestServer::configured(|config| config.plugins.hook_timeout_ms = 5_000).await;
    server
        .kernel
        .install_plugin(fixture_wasm("spy"))
        .await
        .expect("spy installs");
    let acme = server.tenant("acme", &["org", "crm", "spy"]).await;
    let globex = server.tenant("globex", &["org", "crm", "spy"]).await;
    let rep_grants: &[(&str, &[&str], &str)] = &[
        ("crm.customer", &["read", "create"], "own"),
        ("org.region", &["read"], "all"),
        ("spy.probe", &["create"], "own"),
    ];
    server.role("acme", "rep", rep_grants).await;
    let rep = server.user(&acme, "rep@acme.test", &["rep"], None).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    customer(
        &server,
        &rep,
        customer_input("CUS-1", "郑浩的客户", &hz, "成交客户", "1.00"),
    )
    .await;
    customer(
        &server,
        &acme.admin,
        customer_input("CUS-2", "公司的客户", &hz, "潜在客户", "2.00"),
    )
    .await;
    let globex_region = region(&server, &globex.admin, "HZ", "杭州").await;
    customer(
        &server,
        &globex.admin,
        customer_input("CUS-9", "乙方客户", &globex_region, "成交客户", "9.00"),
    )
    .await;

    let all = json!({"target": "crm.customer", "filter": "{}"});
    assert_eq!(
        probe(&server, &acme.admin, all.clone()).await,
        "found: 公司的客户,郑浩的客户"
    );
    assert_eq!(
        probe(&server, &rep, all.clone()).await,
        "found: 郑浩的客户",
        "own scope applies inside the plugin"
    );
    assert_eq!(
        probe(&server, &globex.admin, all).await,
        "found: 乙方客户",
        "never another tenant's records"
    );
    let filtered =
        json!({"target": "crm.customer", "filter": "{\"stage\": {\"eq\": \"潜在客户\"}}"});
    assert_eq!(
        probe(&server, &acme.admin, filtered).await,
        "found: 公司的客户"
    );
    let regions = json!({"target": "org.region", "filter": "{}"});
    assert_eq!(
        probe(&server, &acme.admin, regions).await,
        "found: 杭州",
        "a required plugin's entity"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_queries_are_bounded_and_limited_to_declared_entities() {
    // The time limit of a hook call includes the queries it makes; these tests are about what a
    // plugin may read and how often, so the limit is generous.
    let server = TestServer::configured(|config| config.plugins.hook_timeout_ms = 5_000).await;
    server
        .kernel
        .install_plugin(fixture_wasm("spy"))
        .await
        .expect("spy installs");
    server
        .kernel
        .install_plugin(fixture_wasm("notes_v1"))
        .await
        .expect("notes installs");
    let acme = server.tenant("acme", &["org", "crm", "spy", "notes"]).await;
    let undeclared = probe(
        &server,
        &acme.admin,
        json!({"target": "notes.note", "filter": "{}"}),
    )
    .await;
    assert!(
        undeclared.starts_with("failed: plugin spy may not read notes.note"),
        "{undeclared}"
    );
    let unknown = probe(
        &server,
        &acme.admin,
        json!({"target": "kernel.user", "filter": "{}"}),
    )
    .await;
    assert!(
        unknown.starts_with("failed: plugin spy may not read"),
        "{unknown}"
    );
    let bad_filter = probe(
        &server,
        &acme.admin,
        json!({"target": "crm.customer", "filter": "{\"stage\": {\"almost\": 1}}"}),
    )
    .await;
    assert!(bad_filter.contains("unknown operator"), "{bad_filter}");
    let flood = probe(
        &server,
        &acme.admin,
        json!({"target": "crm.customer", "filter": "{}", "times": 101}),
    )
    .await;
    assert!(flood.contains("at most 100 queries"), "{flood}");
    let fine = probe(
        &server,
        &acme.admin,
        json!({"target": "crm.customer", "filter": "{}", "times": 100}),
    )
    .await;
    assert_eq!(fine, "found: ");
}
