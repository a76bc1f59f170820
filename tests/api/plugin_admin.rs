//! Installing, upgrading and switching plugins at runtime through the API: who may, what is
//! refused, and that a refusal leaves everything as it was.

use base64::Engine as _;
use jingxi_tests::{TestServer, error_code, fixture_wasm};
use serde_json::{Value, json};

const INSTALL: &str = "mutation($wasm: String!) { installPlugin(wasm: $wasm) { id version } }";

fn encoded(name: &str) -> Value {
    json!({"wasm": base64::engine::general_purpose::STANDARD.encode(fixture_wasm(name))})
}

fn installed_version(server: &TestServer, id: &str) -> Option<String> {
    server.kernel.plugin(id).map(|p| p.def.version.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn only_admins_of_the_operator_tenant_install() {
    let server =
        TestServer::configured(|config| config.api.operator_tenant = Some("ops".into())).await;
    let ops = server.tenant("ops", &[]).await;
    let acme = server.tenant("acme", &["org"]).await;
    let (body, _) = server
        .graphql(&acme.admin, INSTALL, encoded("notes_v1"))
        .await;
    assert_eq!(
        error_code(&body),
        "FORBIDDEN",
        "a tenant admin elsewhere: {body}"
    );
    let clerk = server.user(&ops, "clerk@ops.test", &[], None).await;
    let (body, _) = server.graphql(&clerk, INSTALL, encoded("notes_v1")).await;
    assert_eq!(
        error_code(&body),
        "FORBIDDEN",
        "a non-admin of the operator tenant: {body}"
    );
    assert_eq!(installed_version(&server, "notes"), None);
    let data = server.ok(&ops.admin, INSTALL, encoded("notes_v1")).await;
    assert_eq!(
        data["installPlugin"],
        json!({"id": "notes", "version": "1.0.0"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrades_must_be_higher_and_additive_and_keep_data() {
    let server =
        TestServer::configured(|config| config.api.operator_tenant = Some("ops".into())).await;
    let ops = server.tenant("ops", &[]).await;
    let acme = server.tenant("acme", &[]).await;
    server.ok(&ops.admin, INSTALL, encoded("notes_v1")).await;
    let again = server.ok(&ops.admin, INSTALL, encoded("notes_v1")).await;
    assert_eq!(
        again["installPlugin"]["version"], "1.0.0",
        "installing the same file twice is harmless"
    );

    let enabled = server
        .ok(
            &acme.admin,
            "mutation { enablePlugin(id: \"notes\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(enabled["enablePlugin"], json!([{"id": "notes"}]));
    let note = server
        .ok(
            &acme.admin,
            "mutation { createNotesNote(input: {text: \"周五前回访恒达\"}) { id } }",
            json!({}),
        )
        .await;
    let id = note["createNotesNote"]["id"].clone();

    let (body, _) = server
        .graphql(&ops.admin, INSTALL, encoded("notes_v2_breaking"))
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("notes.note.text"),
        "the refusal names the field: {message}"
    );
    assert_eq!(
        installed_version(&server, "notes").as_deref(),
        Some("1.0.0"),
        "nothing half-installed"
    );

    let data = server.ok(&ops.admin, INSTALL, encoded("notes_v2")).await;
    assert_eq!(data["installPlugin"]["version"], "2.0.0");
    let read = server
        .ok(
            &acme.admin,
            "query($id: ID!) { notesNote(id: $id) { text pinned } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        read["notesNote"],
        json!({"text": "周五前回访恒达", "pinned": null}),
        "old data kept, new field added"
    );
    let finished = server
        .ok(
            &acme.admin,
            "mutation($id: ID!) { transitionNotesNote(id: $id, transition: \"finish\") { state } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        finished["transitionNotesNote"]["state"], "done",
        "a note written before the workflow existed starts in its initial state"
    );
    server
        .ok(
            &acme.admin,
            "mutation($id: ID!) { updateNotesNote(id: $id, patch: {pinned: true}) { pinned } }",
            json!({"id": id}),
        )
        .await;

    let (body, _) = server
        .graphql(&ops.admin, INSTALL, encoded("notes_v1"))
        .await;
    assert_eq!(
        error_code(&body),
        "CONFLICT",
        "a downgrade is refused: {body}"
    );
    assert_eq!(
        installed_version(&server, "notes").as_deref(),
        Some("2.0.0")
    );

    let garbage =
        json!({"wasm": base64::engine::general_purpose::STANDARD.encode(b"\0asm not really")});
    let (body, _) = server.graphql(&ops.admin, INSTALL, garbage).await;
    assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn enabling_names_missing_requirements() {
    let server = TestServer::new().await;
    let lean = server.tenant("lean", &[]).await;
    let (body, _) = server
        .graphql(
            &lean.admin,
            "mutation { enablePlugin(id: \"crm\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("org"), "{message}");
    let data = server
        .ok(
            &lean.admin,
            "mutation { enablePlugin(id: \"org\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(data["enablePlugin"], json!([{"id": "org"}]));
    let data = server
        .ok(
            &lean.admin,
            "mutation { enablePlugin(id: \"crm\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(data["enablePlugin"].as_array().map(Vec::len), Some(2));
    let rep = server
        .user(&lean, "rep@lean.test", &["sales_rep"], None)
        .await;
    let (body, _) = server
        .graphql(
            &rep,
            "mutation { disablePlugin(id: \"crm\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
}
