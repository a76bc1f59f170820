//! The demo tenant: its sample data passes every schema and rule, its complaints stand at several
//! points of their workflow, and its users see what their roles allow.

use jingxi_tests::TestServer;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn demo_tenant_loads_and_scopes_its_sample_data() {
    // Nothing installed: the demo installs every plugin itself, in dependency order.
    let server = TestServer::bare().await;
    let token = jingxi_kernel::demo::prepare(&server.kernel, &jingxi_tests::plugins_dir())
        .await
        .expect("demo prepared");
    let data = server
        .ok(&token, "{ crmCustomers { totalCount } crmComplaints { totalCount } orgRegions { totalCount } me { tenant } }", json!({}))
        .await;
    assert_eq!(data["me"]["tenant"], "demo");
    assert_eq!(data["crmCustomers"]["totalCount"], 6);
    assert_eq!(data["crmComplaints"]["totalCount"], 5);
    assert_eq!(data["orgRegions"]["totalCount"], 6);

    // The complaints were moved along their workflow: one at each stage worth showing.
    let complaints = server
        .ok(
            &token,
            "{ crmComplaints { edges { node { id state handlerId acceptedAt resolvedAt } } } }",
            json!({}),
        )
        .await["crmComplaints"]["edges"]
        .as_array()
        .expect("complaints")
        .iter()
        .map(|edge| edge["node"].clone())
        .collect::<Vec<Value>>();
    let mut states: Vec<&str> = complaints
        .iter()
        .map(|c| c["state"].as_str().expect("state"))
        .collect();
    states.sort_unstable();
    assert_eq!(
        states,
        vec![
            "closed",
            "investigating",
            "mgr_review",
            "registered",
            "resolved"
        ]
    );
    for complaint in &complaints {
        let registered = complaint["state"] == "registered";
        assert_eq!(complaint["handlerId"].is_null(), registered, "{complaint}");
        assert_eq!(complaint["acceptedAt"].is_null(), registered, "{complaint}");
        let resolved = ["resolved", "closed"].contains(&complaint["state"].as_str().unwrap());
        assert_eq!(complaint["resolvedAt"].is_string(), resolved, "{complaint}");
    }
    let closed = complaints
        .iter()
        .find(|c| c["state"] == "closed")
        .expect("a closed complaint");
    let history = server
        .ok(
            &token,
            "query($id: ID!) { history(entity: \"crm.complaint\", id: $id) { kind transition fromState toState } }",
            json!({"id": closed["id"]}),
        )
        .await["history"]
        .clone();
    let steps: Vec<String> = history
        .as_array()
        .expect("history")
        .iter()
        .map(|e| match e["transition"].as_str() {
            Some(t) => format!(
                "{t}:{}>{}",
                e["fromState"].as_str().unwrap(),
                e["toState"].as_str().unwrap()
            ),
            None => e["kind"].as_str().unwrap().to_string(),
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            "create",
            "accept:registered>accepted",
            "investigate:accepted>investigating",
            "propose:investigating>solution_pending",
            "approve:solution_pending>resolving",
            "resolve:resolving>resolved",
            "revisit:resolved>revisited",
            "close:revisited>closed",
        ]
    );
    // The handler is the demo complaint specialist.
    let (login, status) = server
        .post_json("/auth/login", json!({"tenant": "demo", "email": "wujing@demo.jingxi.dev", "password": jingxi_kernel::demo::DEMO_PASSWORD}))
        .await;
    assert_eq!(status, 200, "{login}");
    let specialist = login["token"].as_str().expect("token");
    let specialist_id = server.ok(specialist, "{ me { id } }", json!({})).await["me"]["id"].clone();
    assert_eq!(closed["handlerId"], specialist_id);
    let (login, status) = server
        .post_json("/auth/login", json!({"tenant": "demo", "email": "zhenghao@demo.jingxi.dev", "password": jingxi_kernel::demo::DEMO_PASSWORD}))
        .await;
    assert_eq!(status, 200, "{login}");
    let rep = login["token"].as_str().expect("token");
    let mine = server
        .ok(
            rep,
            "{ crmCustomers(orderBy: [{field: CUSTOMER_NO}]) { nodes { customerNo } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mine["crmCustomers"]["nodes"],
        json!([{"customerNo": "CUS-0001"}, {"customerNo": "CUS-0004"}]),
        "a sales rep sees own customers"
    );
    // Preparing again reuses the tenant and only issues a new token.
    let again = jingxi_kernel::demo::prepare(&server.kernel, &jingxi_tests::plugins_dir())
        .await
        .expect("demo again");
    assert_ne!(again, token);
}
