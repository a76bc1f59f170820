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

async fn login(server: &TestServer, email: &str, password: &str) -> (serde_json::Value, u16) {
    server
        .post_json(
            "/auth/login",
            json!({"tenant": "acme", "email": email, "password": password}),
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_wrong_passwords_lock_the_account_for_a_while() {
    let server = TestServer::configured(|config| {
        config.auth.max_failed_logins = 3;
        config.auth.logins_per_minute_per_address = 1000;
    })
    .await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    server
        .kernel
        .create_user(
            "acme",
            "li@acme.test",
            "李",
            Some("another good password"),
            &[],
            None,
        )
        .await
        .expect("user");
    for _ in 0..3 {
        let (_, status) = login(&server, "admin@acme.test", "guess").await;
        assert_eq!(status, 401);
    }
    let (body, status) = login(&server, "admin@acme.test", "correct horse battery").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("LIMIT_EXCEEDED")),
        "even the right password waits: {body}"
    );
    let (_, status) = login(&server, "li@acme.test", "another good password").await;
    assert_eq!(status, 200, "other accounts are not locked");
    // Existing tokens keep working: the lock is on guessing, not on the account's sessions.
    server.ok(&acme.admin, "{ me { email } }", json!({})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_may_try_only_so_often_per_minute() {
    let server = TestServer::configured(|config| {
        config.auth.logins_per_minute_per_address = 4;
    })
    .await;
    server.tenant("acme", &["org", "crm"]).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let (_, status) = login(&server, &format!("user{i}@acme.test"), "guess").await;
        statuses.push(status);
    }
    assert_eq!(statuses, vec![401, 401, 401, 401, 429, 429]);
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_expire_and_can_be_revoked() {
    let server = TestServer::configured(|config| config.auth.login_token_ttl_hours = 0).await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let (body, status) = login(&server, "admin@acme.test", "correct horse battery").await;
    assert_eq!(status, 200);
    let expired = body["token"].as_str().unwrap();
    let (_, status) = server.graphql(expired, "{ me { email } }", json!({})).await;
    assert_eq!(status, 401, "a login token lives login_token_ttl_hours");

    // Logging out revokes the token at once.
    let token = server
        .kernel
        .create_token("acme", "admin@acme.test", "laptop", Some(1))
        .await
        .unwrap();
    server.ok(&token, "{ me { email } }", json!({})).await;
    let response = reqwest::Client::new()
        .post(format!("{}/auth/logout", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, status) = server.graphql(&token, "{ me { email } }", json!({})).await;
    assert_eq!(status, 401, "a logged-out token no longer works");

    // An admin revokes every token of a user; a non-admin may not.
    let user = server
        .user(&acme, "wang@acme.test", &["sales_rep"], None)
        .await;
    let revoke = "mutation($e: String!) { revokeUserTokens(email: $e) }";
    let (body, _) = server
        .graphql(&user, revoke, json!({"e": "admin@acme.test"}))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let data = server
        .ok(&acme.admin, revoke, json!({"e": "wang@acme.test"}))
        .await;
    assert_eq!(data["revokeUserTokens"], 1);
    let (_, status) = server.graphql(&user, "{ me { email } }", json!({})).await;
    assert_eq!(status, 401);
    server.ok(&acme.admin, "{ me { email } }", json!({})).await;
}
