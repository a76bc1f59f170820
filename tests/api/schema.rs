//! The API's shape: the SDL of a crm tenant (snapshot) and the form schemas by locale.

use jingxi_tests::TestServer;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn crm_tenant_sdl_snapshot() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let tenant = server.kernel.tenant(&acme.slug).await.expect("tenant");
    let catalog = server.kernel.catalog(tenant.id).await.expect("catalog");
    let schema =
        jingxi_kernel::graphql::build_schema(&catalog, &server.kernel.config.api).expect("schema");
    insta::assert_snapshot!("crm_tenant_sdl", schema.sdl());
}

#[tokio::test(flavor = "multi_thread")]
async fn entity_types_come_in_chinese_and_english() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let query = "query($l: String) { entityTypes(locale: $l) { name typeName title schema } }";
    let zh = server.ok(&acme.admin, query, json!({})).await;
    let en = server.ok(&acme.admin, query, json!({"l": "en"})).await;
    let find = |data: &serde_json::Value, name: &str| {
        data["entityTypes"]
            .as_array()
            .expect("list")
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .expect("entity type")
    };
    let zh_customer = find(&zh, "crm.customer");
    let en_customer = find(&en, "crm.customer");
    assert_eq!(zh_customer["title"], "客户档案");
    assert_eq!(
        zh_customer["schema"]["properties"]["name"]["title"],
        "客户名称"
    );
    assert_eq!(en_customer["typeName"], "CrmCustomer");
    let en_title = en_customer["schema"]["properties"]["name"]["title"]
        .as_str()
        .expect("title");
    assert!(en_title.is_ascii() && !en_title.is_empty(), "{en_title}");
    assert_eq!(
        en_customer["schema"]["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let names: Vec<&str> = zh["entityTypes"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for expected in [
        "org.region",
        "org.product",
        "crm.customer",
        "crm.visit_record",
        "crm.complaint",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
}

/// The introspection query GraphiQL and code generators send (types nested seven `ofType` deep).
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}"#;

#[tokio::test(flavor = "multi_thread")]
async fn standard_introspection_works_for_tools() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let data = server.ok(&acme.admin, INTROSPECTION, json!({})).await;
    let types = data["__schema"]["types"].as_array().expect("types");
    assert!(types.iter().any(|t| t["name"] == "CrmCustomer"));
}
