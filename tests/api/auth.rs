//! Authentication: tokens (stored as hashes only) and password login.

use jingxi_tests::{TestServer, error_code};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_a_valid_token_are_unauthenticated() {
    let server = TestServer::new().await;
    server.tenant("acme", &["org", "crm"]).await;
    let (body, status) = server
        .graphql_with(None, "{ me { email } }", json!({}), None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );
    let (body, status) = server
        .graphql("jx_not-a-real-token", "{ me { email } }", json!({}))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "UNAUTHENTICATED"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn password_login_returns_a_working_token() {
    let server = TestServer::new().await;
    server.tenant("acme", &["org", "crm"]).await;
    let (body, status) = server
        .post_json("/auth/login", json!({"tenant": "acme", "email": "admin@acme.test", "password": "correct horse battery"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().expect("token");
    let data = server
        .ok(token, "{ me { email tenant roles } }", json!({}))
        .await;
    assert_eq!(
        data["me"],
        json!({"email": "admin@acme.test", "tenant": "acme", "roles": ["admin"]})
    );

    let (body, status) = server
        .post_json(
            "/auth/login",
            json!({"tenant": "acme", "email": "admin@acme.test", "password": "wrong"}),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
    let (_, status) = server.post_json("/auth/login", json!({"tenant": "nope", "email": "admin@acme.test", "password": "correct horse battery"})).await;
    assert_eq!(status, 401, "an unknown tenant looks like a wrong password");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_stored_only_as_hashes() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hash = jingxi_kernel::runtime::token_hash(&acme.admin);
    assert_ne!(hash, acme.admin);
    let tenant = server.kernel.tenant("acme").await.expect("tenant");
    let principal = server
        .kernel
        .store
        .principal_by_token(&hash, chrono_now())
        .await
        .expect("query")
        .expect("found by hash");
    assert_eq!(principal.tenant.id, tenant.id);
    let by_plain = server
        .kernel
        .store
        .principal_by_token(&acme.admin, chrono_now())
        .await
        .expect("query");
    assert!(by_plain.is_none(), "the plain token is not in the database");
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
