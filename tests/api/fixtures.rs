//! Records the tests build on: regions and customers with realistic Chinese data.

use jingxi_tests::TestServer;
use serde_json::{Value, json};

pub const CUSTOMER_FIELDS: &str = "id version customerNo name customerType stage annualPotential regionId ownerId contacts { name phone isPrimary }";

/// Creates a region and returns its id.
pub async fn region(server: &TestServer, token: &str, code: &str, name: &str) -> String {
    let data = server
        .ok(
            token,
            "mutation($input: OrgRegionInput!) { createOrgRegion(input: $input) { id } }",
            json!({"input": {"code": code, "name": name, "level": "城市"}}),
        )
        .await;
    data["createOrgRegion"]["id"]
        .as_str()
        .expect("region id")
        .to_string()
}

/// A valid customer input.
pub fn customer_input(no: &str, name: &str, region: &str, stage: &str, potential: &str) -> Value {
    json!({
        "customerNo": no,
        "name": name,
        "customerType": "经销商/渠道",
        "industry": "家电零售",
        "regionId": region,
        "address": "杭州市西湖区文三路 100 号",
        "source": "招商会",
        "stage": stage,
        "taxId": "91330100MA2B3C4D5E",
        "annualPotential": potential,
        "contacts": [{"name": "王海涛", "title": "采购经理", "phone": "13800001024", "isPrimary": true}],
    })
}

/// Creates a customer and returns it with `CUSTOMER_FIELDS`.
pub async fn customer(server: &TestServer, token: &str, input: Value) -> Value {
    let query = format!(
        "mutation($input: CrmCustomerInput!) {{ createCrmCustomer(input: $input) {{ {CUSTOMER_FIELDS} }} }}"
    );
    server.ok(token, &query, json!({"input": input})).await["createCrmCustomer"].clone()
}

/// Creates a complaint (服务态度, received 2026-11-20) about a customer and returns its id.
pub async fn complaint(
    server: &TestServer,
    token: &str,
    customer_id: &Value,
    description: &str,
) -> Value {
    let input = json!({"customerId": customer_id, "channel": "电话", "receivedAt": "2026-11-20T09:00:00Z",
        "category": "服务态度", "severity": "一般", "description": description, "acceptSlaHours": 24, "resolveSlaHours": 72});
    let query = "mutation($input: CrmComplaintInput!) { createCrmComplaint(input: $input) { id } }";
    server.ok(token, query, json!({"input": input})).await["createCrmComplaint"]["id"].clone()
}
