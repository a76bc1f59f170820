//! Request limits answer with a code, like every other refusal.

use jingxi_tests::{TestServer, error_code};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_body_is_refused_with_limit_exceeded() {
    let server = TestServer::configured(|config| config.http.max_body_bytes = 64 * 1024).await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let padding = "客".repeat(40 * 1024);
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", server.url))
        .bearer_auth(&acme.admin)
        .json(&json!({"query": "{ me { email } }", "variables": {"padding": padding}}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.expect("a JSON body, not plain text");
    assert_eq!(error_code(&body), "LIMIT_EXCEEDED", "{body}");
    let (small, status) = server
        .graphql(&acme.admin, "{ me { email } }", json!({}))
        .await;
    assert_eq!(
        (status, &small["data"]["me"]["email"]),
        (200, &json!("admin@acme.test"))
    );
}
