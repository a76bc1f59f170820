//! Roles, grants and row scopes, enforced where the SQL is built: lists, counts, gets, nested
//! references and writes.

use jingxi_tests::{TestServer, error_code};
use serde_json::json;

use crate::fixtures::{complaint, customer, customer_input, region};

#[tokio::test(flavor = "multi_thread")]
async fn a_role_without_read_gets_nothing() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let cus = customer(
        &server,
        &acme.admin,
        customer_input("CUS-1", "杭州恒达", &hz, "成交客户", "1.00"),
    )
    .await;
    server
        .role("acme", "visitor", &[("org.region", &["read"], "all")])
        .await;
    let clerk = server
        .user(&acme, "clerk@acme.test", &["visitor"], None)
        .await;
    let data = server
        .ok(&clerk, "query($id: ID!) { crmCustomers { totalCount nodes { id } } crmCustomer(id: $id) { id } }", json!({"id": cus["id"]}))
        .await;
    assert_eq!(data["crmCustomers"]["totalCount"], 0);
    assert!(data["crmCustomer"].is_null());
    let (body, _) = server
        .graphql(
            &clerk,
            "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { id } }",
            json!({"input": customer_input("CUS-2", "x", &hz, "潜在客户", "1.00")}),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let (body, _) = server
        .graphql(
            &clerk,
            "mutation($id: ID!) { deleteCrmCustomer(id: $id) }",
            json!({"id": cus["id"]}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn own_scope_sees_and_changes_only_own_records() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let rep: &[(&str, &[&str], &str)] = &[
        ("crm.customer", &["read", "create", "update"], "own"),
        ("org.region", &["read"], "all"),
    ];
    server.role("acme", "rep", rep).await;
    let zheng = server
        .user(&acme, "zhenghao@acme.test", &["rep"], None)
        .await;
    let he = server.user(&acme, "heli@acme.test", &["rep"], None).await;
    let mine = customer(
        &server,
        &zheng,
        customer_input("CUS-Z", "郑浩的客户", &hz, "意向客户", "1.00"),
    )
    .await;
    let theirs = customer(
        &server,
        &he,
        customer_input("CUS-H", "何丽的客户", &hz, "意向客户", "2.00"),
    )
    .await;
    customer(
        &server,
        &acme.admin,
        customer_input("CUS-A", "管理员的客户", &hz, "意向客户", "3.00"),
    )
    .await;

    let data = server
        .ok(
            &zheng,
            "{ crmCustomers { totalCount nodes { customerNo } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["crmCustomers"]["totalCount"], 1);
    assert_eq!(data["crmCustomers"]["nodes"][0]["customerNo"], "CUS-Z");
    let data = server
        .ok(
            &zheng,
            "query($id: ID!) { crmCustomer(id: $id) { id } }",
            json!({"id": theirs["id"]}),
        )
        .await;
    assert!(data["crmCustomer"].is_null());
    let (body, _) = server
        .graphql(
            &zheng,
            "mutation($id: ID!) { updateCrmCustomer(id: $id, patch: {name: \"改\"}) { id } }",
            json!({"id": theirs["id"]}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    server.ok(&zheng, "mutation($id: ID!) { updateCrmCustomer(id: $id, patch: {name: \"郑浩的大客户\"}) { id } }", json!({"id": mine["id"]})).await;
    let admin = server
        .ok(&acme.admin, "{ crmCustomers { totalCount } }", json!({}))
        .await;
    assert_eq!(admin["crmCustomers"]["totalCount"], 3, "admin sees all");
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_references_follow_the_targets_read_grant() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let cus = customer(
        &server,
        &acme.admin,
        customer_input("CUS-1", "杭州恒达", &hz, "成交客户", "1.00"),
    )
    .await;
    server
        .role(
            "acme",
            "complaints_only",
            &[("crm.complaint", &["read"], "all")],
        )
        .await;
    let spec = server
        .user(&acme, "spec@acme.test", &["complaints_only"], None)
        .await;
    let complaint = complaint(&server, &acme.admin, &cus["id"], "上门服务迟到三小时").await;
    let query = "query($id: ID!) { crmComplaint(id: $id) { description customer { name region { name } } } }";
    let data = server.ok(&spec, query, json!({"id": complaint})).await;
    let seen = &data["crmComplaint"];
    assert_eq!(seen["description"], "上门服务迟到三小时");
    assert!(
        seen["customer"].is_null(),
        "no read grant on crm.customer: the nested customer is null"
    );
    let admin = server
        .ok(&acme.admin, query, json!({"id": complaint}))
        .await;
    assert_eq!(admin["crmComplaint"]["customer"]["name"], "杭州恒达");
    assert_eq!(admin["crmComplaint"]["customer"]["region"]["name"], "杭州");
}

#[tokio::test(flavor = "multi_thread")]
async fn org_unit_scope_covers_the_unit_and_below() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let tenant = server.kernel.tenant("acme").await.expect("tenant");
    let service = server
        .kernel
        .store
        .create_org_unit(tenant.id, "客服部", None)
        .await
        .expect("unit");
    let hotline = server
        .kernel
        .store
        .create_org_unit(tenant.id, "呼叫中心", Some(service.id))
        .await
        .expect("unit");
    let sales = server
        .kernel
        .store
        .create_org_unit(tenant.id, "销售部", None)
        .await
        .expect("unit");
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    server
        .role("acme", "writer", &[("crm.customer", &["create"], "own")])
        .await;
    server
        .role(
            "acme",
            "unit_reader",
            &[("crm.customer", &["read"], "org_unit")],
        )
        .await;
    let rep_hotline = server
        .user(&acme, "a@acme.test", &["writer"], Some(hotline.id))
        .await;
    let rep_sales = server
        .user(&acme, "b@acme.test", &["writer"], Some(sales.id))
        .await;
    customer(
        &server,
        &rep_hotline,
        customer_input("CUS-1", "呼叫中心的客户", &hz, "意向客户", "1.00"),
    )
    .await;
    customer(
        &server,
        &rep_sales,
        customer_input("CUS-2", "销售部的客户", &hz, "意向客户", "1.00"),
    )
    .await;
    let manager = server
        .user(&acme, "m@acme.test", &["unit_reader"], Some(service.id))
        .await;
    let data = server
        .ok(
            &manager,
            "{ crmCustomers { totalCount nodes { customerNo } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["crmCustomers"]["totalCount"], 1, "{data}");
    assert_eq!(
        data["crmCustomers"]["nodes"][0]["customerNo"], "CUS-1",
        "the unit below is covered, the sibling is not"
    );
    let outsider = server
        .user(&acme, "o@acme.test", &["unit_reader"], Some(sales.id))
        .await;
    let data = server
        .ok(
            &outsider,
            "{ crmCustomers { totalCount nodes { customerNo } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["crmCustomers"]["nodes"][0]["customerNo"], "CUS-2");
    assert_eq!(data["crmCustomers"]["totalCount"], 1);
}
