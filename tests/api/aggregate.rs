//! Aggregates: count, sum, avg, min and max per group, computed in SQL within the caller's rights.

use jingxi_kernel::error::{Code, ErrorCode};
use jingxi_kernel::store::Metrics;
use jingxi_tests::{TestServer, error_code};
use serde_json::{Value, json};

use crate::fixtures::{customer, customer_input, region};
use crate::workflow::{staff, take};

const BY_STAGE: &str = "query($f: CrmCustomerFilter) { crmCustomersAggregate(filter: $f, groupBy: [STAGE]) { key count sum { annualPotential } avg { annualPotential } min { annualPotential } max { annualPotential } } }";

fn groups(data: &Value) -> Vec<(String, u64, String)> {
    let mut out: Vec<_> = data["crmCustomersAggregate"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["key"]["stage"].as_str().unwrap_or("-").to_string(),
                g["count"].as_u64().unwrap(),
                g["sum"]["annualPotential"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn sums_and_counts_per_group_are_exact_and_stay_within_the_callers_rows() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let rep = server
        .user(&acme, "rep@acme.test", &["sales_rep"], None)
        .await;
    for (i, (token, stage, potential)) in [
        (&acme.admin, "成交客户", "1000000.10"),
        (&acme.admin, "成交客户", "2000000.20"),
        (&acme.admin, "潜在客户", "0.01"),
        (&rep, "潜在客户", "300.00"),
        (&rep, "忠诚客户", "99999999.99"),
    ]
    .into_iter()
    .enumerate()
    {
        customer(
            &server,
            token,
            customer_input(
                &format!("CUS-{i:04}"),
                &format!("客户{i}"),
                &hz,
                stage,
                potential,
            ),
        )
        .await;
    }
    let all = server.ok(&acme.admin, BY_STAGE, json!({})).await;
    assert_eq!(
        groups(&all),
        vec![
            ("忠诚客户".to_string(), 1, "99999999.99".to_string()),
            ("成交客户".to_string(), 2, "3000000.30".to_string()),
            ("潜在客户".to_string(), 2, "300.01".to_string()),
        ]
    );
    let dealt = all["crmCustomersAggregate"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"]["stage"] == "成交客户")
        .unwrap();
    assert_eq!(dealt["avg"]["annualPotential"], "1500000.1500");
    assert_eq!(dealt["min"]["annualPotential"], "1000000.10");
    assert_eq!(dealt["max"]["annualPotential"], "2000000.20");

    // A sales representative aggregates only the customers they own.
    let own = server.ok(&rep, BY_STAGE, json!({})).await;
    assert_eq!(
        groups(&own),
        vec![
            ("忠诚客户".to_string(), 1, "99999999.99".to_string()),
            ("潜在客户".to_string(), 1, "300.00".to_string()),
        ]
    );
    // Filters apply before grouping; no groupBy means one group over everything.
    let total = server
        .ok(
            &acme.admin,
            "query($f: CrmCustomerFilter) { crmCustomersAggregate(filter: $f) { key count sum { annualPotential } } }",
            json!({"f": {"annualPotential": {"gte": "300.00"}}}),
        )
        .await;
    assert_eq!(
        total["crmCustomersAggregate"],
        json!([{"key": {}, "count": 4, "sum": {"annualPotential": "103000300.29"}}])
    );
    // Another tenant sees nothing of it.
    let other = server.tenant("other", &["org", "crm"]).await;
    let none = server.ok(&other.admin, BY_STAGE, json!({})).await;
    assert_eq!(none["crmCustomersAggregate"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn hidden_fields_are_neither_summed_nor_grouped_for_those_who_may_not_read_them() {
    let server = TestServer::new().await;
    let s = staff(&server, "acme").await;
    let id = crate::fixtures::complaint(&server, &s.spec, &s.customer, "漏水").await;
    take(
        &server,
        &s.spec,
        &id,
        "accept",
        json!({"handlerId": s.handler_id}),
    )
    .await;
    take(&server, &s.handler, &id, "investigate", json!(null)).await;
    take(
        &server,
        &s.handler,
        &id,
        "propose",
        json!({"rootCause": "密封圈老化", "solution": ["维修", "补偿"], "compensation": "1200.00"}),
    )
    .await;
    let query = "{ crmComplaintsAggregate(groupBy: [STATE]) { key count sum { compensation acceptSlaHours } } }";
    let sup = server.ok(&s.sup, query, json!({})).await;
    assert_eq!(
        sup["crmComplaintsAggregate"],
        json!([{"key": {"state": "solution_pending"}, "count": 1, "sum": {"compensation": "1200.00", "acceptSlaHours": 24}}])
    );
    let visitor = server.ok(&s.revisitor, query, json!({})).await;
    assert_eq!(
        visitor["crmComplaintsAggregate"],
        json!([{"key": {"state": "solution_pending"}, "count": 1, "sum": {"compensation": null, "acceptSlaHours": 24}}])
    );
    let (body, _) = server
        .graphql(
            &s.revisitor,
            "{ crmComplaintsAggregate(groupBy: [COMPENSATION]) { count } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn computes_only_the_numbers_asked_for_and_refuses_numbers_of_other_fields() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    for (i, (stage, potential)) in [
        ("成交客户", "100.00"),
        ("成交客户", "300.00"),
        ("潜在客户", "7.50"),
    ]
    .into_iter()
    .enumerate()
    {
        let input = customer_input(
            &format!("CUS-{i}"),
            &format!("客户{i}"),
            &hz,
            stage,
            potential,
        );
        customer(&server, &acme.admin, input).await;
    }
    let counts = server
        .ok(
            &acme.admin,
            "{ crmCustomersAggregate(groupBy: [STAGE]) { key count } }",
            json!({}),
        )
        .await;
    assert_eq!(
        counts["crmCustomersAggregate"],
        json!([{"key": {"stage": "成交客户"}, "count": 2}, {"key": {"stage": "潜在客户"}, "count": 1}])
    );
    // Numbers asked through fragments and aliases are computed like direct selections.
    let numbers = server
        .ok(
            &acme.admin,
            "{ crmCustomersAggregate(groupBy: [STAGE]) { count ...Sums max { ... on CrmCustomerAggregateNumbers { top: annualPotential } } } }
             fragment Sums on CrmCustomerAggregateGroup { sum { annualPotential } }",
            json!({}),
        )
        .await;
    assert_eq!(
        numbers["crmCustomersAggregate"][0],
        json!({"count": 2, "sum": {"annualPotential": "400.00"}, "max": {"top": "300.00"}})
    );

    // The kernel computes exactly the numbers asked for: none, or one field.
    let tenant = server.kernel.tenant("acme").await.expect("tenant");
    let catalog = server.kernel.catalog(tenant.id).await.expect("catalog");
    let def = catalog.entity("crm.customer").expect("customer");
    let admin = server
        .kernel
        .authenticate(&acme.admin)
        .await
        .expect("authenticates")
        .expect("a principal");
    let aggregate = |metrics: &[&str]| {
        let metrics: Vec<String> = metrics.iter().map(|m| m.to_string()).collect();
        let (kernel, admin, def) = (server.kernel.clone(), admin.clone(), def.clone());
        async move {
            kernel
                .aggregate(&admin, &def, None, &[], Metrics::Only(&metrics))
                .await
        }
    };
    let counted = aggregate(&[]).await.expect("count only");
    assert_eq!((counted.len(), counted[0].count), (1, 3));
    assert!(counted[0].sum.is_empty() && counted[0].max.is_empty());
    let summed = aggregate(&["annual_potential"]).await.expect("one field");
    assert_eq!(
        Value::Object(summed[0].sum.clone()),
        json!({"annual_potential": "407.50"}),
        "registered_capital was not asked for"
    );
    for (field, problem) in [
        ("name", "「客户名称」不是数值字段"),
        ("no_such_field", "crm.customer has no field no_such_field"),
    ] {
        let error = aggregate(&[field]).await.expect_err(field);
        assert_eq!(error.code(), Code::ValidationFailed, "{error}");
        assert!(error.to_string().contains(problem), "{field}: {error}");
    }
}

/// A table filled in bulk gets fresh planner statistics, and on PostgreSQL a vacuum, so that
/// aggregates and KPIs can count from covering indexes instead of reading the table.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_filled_in_bulk_is_analyzed_and_on_postgres_vacuumed() {
    use sea_orm::{ConnectionTrait, Database, Statement};

    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let inputs: Vec<Value> = (0..1000)
        .map(|i| {
            customer_input(
                &format!("BULK-{i:04}"),
                &format!("客户{i}"),
                &hz,
                "潜在客户",
                "1.00",
            )
        })
        .collect();
    server
        .ok(
            &acme.admin,
            "mutation($inputs: [CrmCustomerInput!]!) { createCrmCustomers(inputs: $inputs) { id } }",
            json!({"inputs": inputs}),
        )
        .await;
    let db = Database::connect(server.config.database.url.as_str())
        .await
        .expect("database");
    let backend = db.get_database_backend();
    let probe = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT 1 AS done FROM pg_stat_user_tables WHERE relname = 'crm__customer' \
             AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL"
        }
        _ => "SELECT 1 AS done FROM sqlite_stat1 WHERE tbl = 'crm__customer'",
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let found = db
            .query_one(Statement::from_string(backend, probe))
            .await
            .ok()
            .flatten()
            .is_some();
        if found {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "crm__customer was not refreshed after 1,000 inserted rows"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
