//! The demo tenant: its sample data passes every schema and rule, and its users see what their
//! roles allow.

use jingxi_tests::TestServer;
use serde_json::json;

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
    assert_eq!(data["crmComplaints"]["totalCount"], 3);
    assert_eq!(data["orgRegions"]["totalCount"], 6);
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
