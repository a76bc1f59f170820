//! The `jingxi` binary against a running server's database: changes made by another process
//! reach the server without a restart.

use std::process::Command;
use std::time::{Duration, Instant};

use jingxi_tests::{TestServer, jingxi_binary};
use serde_json::json;

fn run(server: &TestServer, args: &[&str]) -> String {
    let output = Command::new(jingxi_binary())
        .args(args)
        .env("JINGXI__DATABASE__URL", &server.config.database.url)
        .env(
            "JINGXI__PLUGINS__CACHE_DIR",
            &server.config.plugins.cache_dir,
        )
        .env("JINGXI_LOG", "warn")
        .output()
        .expect("jingxi runs");
    assert!(
        output.status.success(),
        "jingxi {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

async fn crm_visible(server: &TestServer, token: &str) -> bool {
    let (body, _) = server
        .graphql(token, "{ crmCustomers { totalCount } }", json!({}))
        .await;
    body.get("errors").is_none()
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_administers_a_running_servers_tenants() {
    let server = TestServer::new().await;
    let listed = run(&server, &["plugin", "list"]);
    assert!(
        listed.contains("crm\t") && listed.contains("org\t"),
        "{listed}"
    );

    run(
        &server,
        &["tenant", "create", "acme", "--plugins", "crm,org"],
    );
    run(
        &server,
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "boss@acme.test",
            "--role",
            "admin",
        ],
    );
    let token = run(
        &server,
        &[
            "token",
            "create",
            "--tenant",
            "acme",
            "--user",
            "boss@acme.test",
        ],
    );
    let token = token.trim();
    assert!(
        token.starts_with("jx_") && !token.contains(char::is_whitespace),
        "only the token is printed: {token:?}"
    );
    assert!(crm_visible(&server, token).await);

    run(&server, &["tenant", "disable", "acme", "crm"]);
    let started = Instant::now();
    while crm_visible(&server, token).await {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the server still shows crm after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run(&server, &["tenant", "enable", "acme", "crm"]);
    let started = Instant::now();
    while !crm_visible(&server, token).await {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the server still hides crm after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Revoked by another process: the server stops accepting the token within its two-second
    // principal cache.
    let revoked = run(
        &server,
        &[
            "token",
            "revoke",
            "--tenant",
            "acme",
            "--user",
            "boss@acme.test",
        ],
    );
    assert!(revoked.contains("revoked 1 token"), "{revoked}");
    let started = Instant::now();
    loop {
        let (_, status) = server.graphql(token, "{ me { email } }", json!({})).await;
        if status == 401 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the revoked token still works after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
