//! Hostile input over real HTTP: SQL-injection strings in every filter operator and in record
//! values, wrong types, huge numbers, long strings, deep nesting, malformed bodies, and every
//! request limit. Each answer is either data the caller may see or an error with a code; never a
//! 500, never an error without `extensions.code`, never `INTERNAL` for something the client sent.

use std::collections::HashSet;

use futures_util::StreamExt;
use jingxi_tests::{Tenant, TestServer, error_code};
use serde_json::{Value, json};

use crate::fixtures::{complaint, customer_input, region};

/// Classic injection payloads. NUL bytes and a trailing backslash have tests of their own.
const PAYLOADS: &[&str] = &[
    "' OR '1'='1",
    "'; DROP TABLE tenant; --",
    "\") OR 1=1 --",
    "%' --",
    "\\' OR 1=1 --",
    "a\\b\\%' OR 'x'='x",
    "’ OR ‘1’=‘1",
    "＇ OR 1=1 --",
    "1 UNION SELECT id, email FROM principal --",
];

const OPERATORS: &[&str] = &[
    "eq", "ne", "in", "notIn", "lt", "lte", "gt", "gte", "like", "isNull",
];

/// One answer: the HTTP status and the JSON body (a JSON string holding the text when the body
/// is not JSON).
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        error_code(&self.body)
    }

    fn has_errors(&self) -> bool {
        self.body.get("errors").is_some()
    }
}

/// A shared HTTP client (one connection pool for many requests).
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    url: String,
}

impl Api {
    fn new(server: &TestServer) -> Api {
        Api {
            client: reqwest::Client::new(),
            url: format!("{}/graphql", server.url),
        }
    }

    /// POSTs raw bytes. No answer at all (the server dropped the connection, as after a panic)
    /// is an answer with status 0.
    async fn raw(&self, token: Option<&str>, body: Vec<u8>) -> Answer {
        let mut request = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return Answer {
                    status: 0,
                    body: Value::String(format!(
                        "no answer: the server dropped the connection (a panic?): {error}"
                    )),
                };
            }
        };
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer { status, body }
    }

    async fn query(&self, token: &str, query: &str, variables: Value) -> Answer {
        let body = json!({"query": query, "variables": variables});
        self.raw(Some(token), body.to_string().into_bytes()).await
    }
}

/// What breaks the invariants of every answer: an answer at all, no 5xx, a JSON body, a code on
/// every error, and no `INTERNAL` (hostile input is the client's problem, not a server failure).
fn problems(answer: &Answer, context: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if answer.status == 0 || answer.status >= 500 {
        problems.push(format!(
            "{context}: status {} {}",
            answer.status, answer.body
        ));
    } else if !answer.body.is_object() {
        problems.push(format!("{context}: not a JSON object: {}", answer.body));
    }
    if let Some(errors) = answer.body.get("errors") {
        let errors = errors.as_array().cloned().unwrap_or_default();
        if errors.is_empty() {
            problems.push(format!("{context}: an empty error list"));
        }
        for error in errors {
            match error["extensions"]["code"].as_str().unwrap_or_default() {
                "" => problems.push(format!("{context}: an error without a code: {error}")),
                "INTERNAL" => {
                    problems.push(format!("{context}: INTERNAL for client input: {error}"))
                }
                _ => {}
            }
        }
    }
    problems
}

#[track_caller]
fn assert_coded(answer: &Answer, context: &str) {
    let problems = problems(answer, context);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Like `assert_coded`, and the answer is a refusal with one of `codes`.
#[track_caller]
fn assert_refused(answer: &Answer, codes: &[&str], context: &str) {
    assert_coded(answer, context);
    assert!(
        answer.has_errors() && codes.contains(&answer.code()),
        "{context}: expected one of {codes:?}, got {} {}",
        answer.status,
        answer.body
    );
}

/// Like `assert_coded`, and the answer has data and no errors.
#[track_caller]
fn assert_data(answer: &Answer, context: &str) {
    assert_coded(answer, context);
    assert!(
        answer.status == 200 && !answer.has_errors() && answer.body["data"].is_object(),
        "{context}: expected data, got {} {}",
        answer.status,
        answer.body
    );
}

/// A GraphQL string literal (JSON string syntax is valid GraphQL).
fn literal(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// Two tenants; in `acme`, an admin and a sales rep who sees only their own records.
struct World {
    server: TestServer,
    api: Api,
    acme: Tenant,
    rep: String,
    /// Customer and complaint ids each caller may read.
    admin_customers: HashSet<String>,
    rep_customers: HashSet<String>,
    admin_complaints: HashSet<String>,
    rep_complaints: HashSet<String>,
}

impl World {
    async fn new() -> World {
        let server = TestServer::new().await;
        let acme = server.tenant("acme", &["org", "crm"]).await;
        let hz = region(&server, &acme.admin, "HZ", "杭州").await;
        let inputs: Vec<Value> = (0..4)
            .map(|i| {
                let mut input = customer_input(
                    &format!("CUS-{i}"),
                    &format!("客户{i}"),
                    &hz,
                    "潜在客户",
                    &format!("{i}000.50"),
                );
                if i % 2 == 0 {
                    input["firstDealDate"] = json!("2024-05-01");
                }
                input
            })
            .collect();
        let data = server
            .ok(
                &acme.admin,
                "mutation($inputs: [CrmCustomerInput!]!) { createCrmCustomers(inputs: $inputs) { id } }",
                json!({"inputs": inputs}),
            )
            .await;
        let admin_own: Vec<String> = data["createCrmCustomers"]
            .as_array()
            .expect("created")
            .iter()
            .map(|c| c["id"].as_str().expect("id").to_string())
            .collect();
        let rep_grants: &[(&str, &[&str], &str)] = &[
            ("crm.customer", &["read", "create"], "own"),
            ("crm.complaint", &["read", "create"], "own"),
            ("org.region", &["read"], "all"),
        ];
        server.role("acme", "rep", rep_grants).await;
        let rep = server.user(&acme, "rep@acme.test", &["rep"], None).await;
        let rep_customer = server
            .ok(
                &rep,
                "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { id } }",
                json!({"input": customer_input("CUS-R", "代表的客户", &hz, "意向客户", "1.00")}),
            )
            .await["createCrmCustomer"]["id"]
            .as_str()
            .expect("id")
            .to_string();
        let mut admin_complaints = HashSet::new();
        for description in ["噪音过大", "安装延误"] {
            let id = complaint(&server, &acme.admin, &json!(admin_own[0]), description).await;
            admin_complaints.insert(id.as_str().expect("id").to_string());
        }
        let rep_complaint = complaint(&server, &rep, &json!(rep_customer), "送货太慢").await;
        let rep_complaint = rep_complaint.as_str().expect("id").to_string();
        admin_complaints.insert(rep_complaint.clone());

        // Another tenant with records of the same shape, which no acme caller may see.
        let other = server.tenant("umbrella", &["org", "crm"]).await;
        let sh = region(&server, &other.admin, "SH", "上海").await;
        let theirs = server
            .ok(
                &other.admin,
                "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { id } }",
                json!({"input": customer_input("CUS-0", "' OR '1'='1", &sh, "潜在客户", "1.00")}),
            )
            .await["createCrmCustomer"]["id"]
            .clone();
        complaint(&server, &other.admin, &theirs, "'; DROP TABLE tenant; --").await;

        let mut admin_customers: HashSet<String> = admin_own.into_iter().collect();
        admin_customers.insert(rep_customer.clone());
        World {
            api: Api::new(&server),
            server,
            acme,
            rep,
            admin_customers,
            rep_customers: HashSet::from([rep_customer]),
            admin_complaints,
            rep_complaints: HashSet::from([rep_complaint]),
        }
    }

    /// Every record is still there, and so are the kernel's own tables.
    async fn assert_intact(&self) {
        for (token, customers, complaints) in [
            (
                &self.acme.admin,
                &self.admin_customers,
                &self.admin_complaints,
            ),
            (&self.rep, &self.rep_customers, &self.rep_complaints),
        ] {
            let answer = self
                .api
                .query(
                    token,
                    "{ me { email tenant } crmCustomers(first: 500) { totalCount } crmComplaints(first: 500) { totalCount } }",
                    json!({}),
                )
                .await;
            assert_data(&answer, "the follow-up query");
            let data = &answer.body["data"];
            assert_eq!(data["me"]["tenant"], "acme");
            assert_eq!(data["crmCustomers"]["totalCount"], customers.len());
            assert_eq!(data["crmComplaints"]["totalCount"], complaints.len());
        }
    }
}

/// What a filter case must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Data within the caller's records: exactly this many, or any subset.
    Exactly(usize),
    Subset,
    /// A refusal with a client-error code.
    Refused,
}

/// One filter field: its list, its API name and its GraphQL scalar.
#[derive(Debug, Clone, Copy)]
struct Column {
    list: &'static str,
    field: &'static str,
    scalar: &'static str,
}

const CUSTOMER_COLUMNS: &[Column] = &[
    Column {
        list: "crmCustomers",
        field: "name",
        scalar: "String",
    },
    Column {
        list: "crmCustomers",
        field: "customerNo",
        scalar: "String",
    },
    Column {
        list: "crmCustomers",
        field: "state",
        scalar: "String",
    },
    Column {
        list: "crmCustomers",
        field: "annualPotential",
        scalar: "Decimal",
    },
    Column {
        list: "crmCustomers",
        field: "firstDealDate",
        scalar: "Date",
    },
    Column {
        list: "crmCustomers",
        field: "createdAt",
        scalar: "DateTime",
    },
    Column {
        list: "crmCustomers",
        field: "archiveComplete",
        scalar: "Boolean",
    },
    Column {
        list: "crmCustomers",
        field: "regionId",
        scalar: "ID",
    },
    Column {
        list: "crmCustomers",
        field: "id",
        scalar: "ID",
    },
    Column {
        list: "crmCustomers",
        field: "version",
        scalar: "Int",
    },
];

const COMPLAINT_COLUMNS: &[Column] = &[
    Column {
        list: "crmComplaints",
        field: "description",
        scalar: "String",
    },
    Column {
        list: "crmComplaints",
        field: "receivedAt",
        scalar: "DateTime",
    },
    Column {
        list: "crmComplaints",
        field: "acceptSlaHours",
        scalar: "Int",
    },
    Column {
        list: "crmComplaints",
        field: "revisitSatisfaction",
        scalar: "Int",
    },
    Column {
        list: "crmComplaints",
        field: "compensation",
        scalar: "Decimal",
    },
    Column {
        list: "crmComplaints",
        field: "customerId",
        scalar: "ID",
    },
];

/// What a string payload in `op` of a column must answer. Strings are values of text columns
/// (none of the records holds a payload); every other scalar refuses them.
fn expect(column: &Column, op: &str, visible: usize) -> Expect {
    if column.scalar != "String" || op == "isNull" {
        return Expect::Refused;
    }
    match op {
        "eq" | "in" | "like" => Expect::Exactly(0),
        "ne" | "notIn" => Expect::Exactly(visible),
        _ => Expect::Subset,
    }
}

/// One request of the injection matrix.
#[derive(Debug, Clone)]
struct Case {
    context: String,
    token: String,
    query: String,
    variables: Value,
    expect: Expect,
    list: &'static str,
    visible: HashSet<String>,
}

/// Every column × operator × payload, as a variable and (for the admin) inline in the query.
fn injection_cases(columns: &[Column], callers: &[(&str, &String, &HashSet<String>)]) -> Vec<Case> {
    let mut cases = Vec::new();
    for column in columns {
        let filter_type = if column.list == "crmCustomers" {
            "CrmCustomerFilter"
        } else {
            "CrmComplaintFilter"
        };
        for op in OPERATORS {
            for payload in PAYLOADS {
                let operand = if matches!(*op, "in" | "notIn") {
                    json!([payload, "x"])
                } else {
                    json!(payload)
                };
                let inline = if matches!(*op, "in" | "notIn") {
                    format!("[{}, \"x\"]", literal(payload))
                } else {
                    literal(payload)
                };
                for (who, token, visible) in callers {
                    let expect = expect(column, op, visible.len());
                    let base = format!("{who} {}.{}.{op} {payload:?}", column.list, column.field);
                    cases.push(Case {
                        context: format!("{base} (variable)"),
                        token: token.to_string(),
                        query: format!(
                            "query($f: {filter_type}) {{ {}(filter: $f, first: 500) {{ totalCount nodes {{ id }} }} }}",
                            column.list
                        ),
                        variables: json!({"f": {column.field: {*op: operand}}}),
                        expect,
                        list: column.list,
                        visible: (*visible).clone(),
                    });
                    if *who == "admin" {
                        cases.push(Case {
                            context: format!("{base} (inline)"),
                            token: token.to_string(),
                            query: format!(
                                "{{ {}(filter: {{{}: {{{op}: {inline}}}}}, first: 500) {{ totalCount nodes {{ id }} }} }}",
                                column.list, column.field
                            ),
                            variables: json!({}),
                            expect,
                            list: column.list,
                            visible: (*visible).clone(),
                        });
                    }
                }
            }
        }
    }
    cases
}

async fn run_cases(api: &Api, cases: Vec<Case>) {
    let answers: Vec<(Case, Answer)> = futures_util::stream::iter(cases)
        .map(|case| {
            let api = api.clone();
            async move {
                let answer = api
                    .query(&case.token, &case.query, case.variables.clone())
                    .await;
                (case, answer)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for (case, answer) in &answers {
        match case.expect {
            Expect::Refused => {
                assert_refused(answer, &["VALIDATION_FAILED", "BAD_REQUEST"], &case.context)
            }
            Expect::Exactly(_) | Expect::Subset => {
                assert_data(answer, &case.context);
                let connection = &answer.body["data"][case.list];
                let ids: Vec<&str> = connection["nodes"]
                    .as_array()
                    .expect("nodes")
                    .iter()
                    .map(|n| n["id"].as_str().unwrap_or_default())
                    .collect();
                assert_eq!(connection["totalCount"], ids.len(), "{}", case.context);
                for id in &ids {
                    assert!(
                        case.visible.contains(*id),
                        "{}: a record the caller may not see: {id}",
                        case.context
                    );
                }
                if let Expect::Exactly(n) = case.expect {
                    assert_eq!(ids.len(), n, "{}: {}", case.context, answer.body);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn injection_strings_in_every_customer_filter_operator_stay_values() {
    let world = World::new().await;
    let callers = [
        ("admin", &world.acme.admin, &world.admin_customers),
        ("rep", &world.rep, &world.rep_customers),
    ];
    run_cases(&world.api, injection_cases(CUSTOMER_COLUMNS, &callers)).await;
    world.assert_intact().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn injection_strings_in_every_complaint_filter_operator_stay_values() {
    let world = World::new().await;
    let callers = [
        ("admin", &world.acme.admin, &world.admin_complaints),
        ("rep", &world.rep, &world.rep_complaints),
    ];
    // The rep has no `read_level:1` grant, so `compensation` is unknown to them.
    let cases = injection_cases(COMPLAINT_COLUMNS, &callers);
    run_cases(&world.api, cases).await;
    world.assert_intact().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn injection_strings_in_record_values_round_trip_verbatim() {
    let world = World::new().await;
    let (api, admin) = (&world.api, &world.acme.admin);
    let hz = region(&world.server, admin, "NB", "宁波").await;
    let create = "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { id name address remarks contacts { name } } }";
    for (i, payload) in PAYLOADS.iter().enumerate() {
        let mut input = customer_input(&format!("INJ-{i}"), payload, &hz, "潜在客户", "1.00");
        input["address"] = json!(payload);
        input["remarks"] = json!(payload);
        input["contacts"] = json!([{"name": payload, "isPrimary": true}]);
        let answer = api.query(admin, create, json!({"input": input})).await;
        assert_data(&answer, payload);
        let created = &answer.body["data"]["createCrmCustomer"];
        for field in ["name", "address", "remarks"] {
            assert_eq!(created[field], *payload, "{field}");
        }
        assert_eq!(created["contacts"][0]["name"], *payload);
        let id = created["id"].as_str().expect("id").to_string();

        // Found by equality, exactly once, and read back byte for byte.
        let answer = api
            .query(
                admin,
                "query($f: CrmCustomerFilter) { crmCustomers(filter: $f) { totalCount nodes { id name } } }",
                json!({"f": {"name": {"eq": payload}}}),
            )
            .await;
        assert_data(&answer, payload);
        assert_eq!(
            answer.body["data"]["crmCustomers"]["nodes"],
            json!([{"id": id, "name": payload}]),
            "{payload}"
        );

        // Updated with a payload as well.
        let answer = api
            .query(
                admin,
                "mutation($id: ID!, $patch: CrmCustomerInput!) { updateCrmCustomer(id: $id, patch: $patch) { remarks } }",
                json!({"id": id, "patch": {"remarks": format!("{payload}{payload}")}}),
            )
            .await;
        assert_data(&answer, payload);
        assert_eq!(
            answer.body["data"]["updateCrmCustomer"]["remarks"],
            format!("{payload}{payload}")
        );

        // Ids are never text in SQL either.
        let by_id = api
            .query(
                admin,
                "query($id: ID!) { crmCustomer(id: $id) { id } }",
                json!({"id": payload}),
            )
            .await;
        assert_refused(&by_id, &["VALIDATION_FAILED"], payload);
        let delete = api
            .query(
                admin,
                "mutation($id: ID!) { deleteCrmCustomer(id: $id) }",
                json!({"id": payload}),
            )
            .await;
        assert_refused(&delete, &["VALIDATION_FAILED"], payload);
    }
    let answer = api
        .query(
            admin,
            "{ crmCustomers(first: 500) { totalCount } }",
            json!({}),
        )
        .await;
    assert_data(&answer, "count");
    assert_eq!(
        answer.body["data"]["crmCustomers"]["totalCount"],
        world.admin_customers.len() + PAYLOADS.len()
    );
    // Every list field of the tenant still answers: no table was dropped.
    for list in ["crmComplaints", "crmVisitRecords", "orgRegions"] {
        let answer = api
            .query(admin, &format!("{{ {list} {{ totalCount }} }}"), json!({}))
            .await;
        assert_data(&answer, list);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_bytes_in_values_are_answered_with_a_code_not_internal() {
    let world = World::new().await;
    let (api, admin) = (&world.api, &world.acme.admin);
    let payload = "nul\u{0}byte' OR '1'='1";
    let mut found = Vec::new();
    for op in ["eq", "ne", "lt", "like", "in"] {
        let operand = if op == "in" {
            json!([payload])
        } else {
            json!(payload)
        };
        let answer = api
            .query(
                admin,
                "query($f: CrmCustomerFilter) { crmCustomers(filter: $f) { totalCount } }",
                json!({"f": {"name": {op: operand}}}),
            )
            .await;
        found.extend(problems(&answer, &format!("name.{op} with a NUL byte")));
    }
    // Refused on both backends (PostgreSQL text cannot hold NUL), never stored on one only.
    let hz = region(&world.server, admin, "NB", "宁波").await;
    let answer = api
        .query(
            admin,
            "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { name } }",
            json!({"input": customer_input("NUL-1", payload, &hz, "潜在客户", "1.00")}),
        )
        .await;
    found.extend(problems(&answer, "a name with a NUL byte"));
    assert!(
        answer.has_errors(),
        "a NUL byte is refused: {:?}",
        answer.body
    );
    if !answer.has_errors() && answer.status == 200 {
        assert_eq!(answer.body["data"]["createCrmCustomer"]["name"], payload);
        let answer = api
            .query(
                admin,
                "query($f: CrmCustomerFilter) { crmCustomers(filter: $f) { totalCount } }",
                json!({"f": {"name": {"eq": payload}}}),
            )
            .await;
        assert_data(&answer, "found by a name with a NUL byte");
        assert_eq!(answer.body["data"]["crmCustomers"]["totalCount"], 1);
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn like_patterns_ending_in_a_backslash_are_answered_not_internal() {
    let world = World::new().await;
    let mut found = Vec::new();
    for pattern in ["\\", "客户\\", "%\\", "\\\\\\"] {
        let answer = world
            .api
            .query(
                &world.acme.admin,
                "query($p: String) { crmCustomers(filter: {name: {like: $p}}) { totalCount } }",
                json!({"p": pattern}),
            )
            .await;
        found.extend(problems(&answer, &format!("like {pattern:?}")));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_filter_fields_operators_and_sort_keys_are_refused_with_codes() {
    let world = World::new().await;
    let (api, admin, rep) = (&world.api, &world.acme.admin, &world.rep);
    let inline = [
        "filter: {tenantId: {eq: 1}}",
        "filter: {tenant_id: {eq: 1}}",
        "filter: {createdBy: {eq: \"x\"}}",
        "filter: {contacts: {eq: \"x\"}}",
        "filter: {name: {regex: \".*\"}}",
        "filter: {name: {eq: \"x\", drop: \"table\"}}",
        "filter: {name: \"' OR '1'='1\"}",
        "filter: \"' OR '1'='1\"",
        "orderBy: [{field: TENANT_ID}]",
        "orderBy: [{field: CONTACTS}]",
        "orderBy: [{field: \"NAME; DROP TABLE tenant\"}]",
        "orderBy: [{field: NAME, direction: SIDEWAYS}]",
        "orderBy: [{field: ARCHIVE_COMPLETE}]",
    ];
    for args in inline {
        let answer = api
            .query(
                admin,
                &format!("{{ crmCustomers({args}) {{ totalCount }} }}"),
                json!({}),
            )
            .await;
        assert_refused(&answer, &["BAD_REQUEST", "VALIDATION_FAILED"], args);
    }
    let variables = [
        json!({"f": {"tenantId": {"eq": 1}}}),
        json!({"f": {"name; DROP TABLE tenant; --": {"eq": "x"}}}),
        json!({"f": {"name": {"eq\"; DROP TABLE tenant; --": "x"}}}),
        json!({"o": [{"field": "NAME; DROP TABLE tenant"}]}),
        json!({"o": [{"field": "name"}]}),
        json!({"o": [{"field": "NAME", "direction": "DESC; DROP TABLE tenant"}]}),
    ];
    for vars in variables {
        let answer = api
            .query(
                admin,
                "query($f: CrmCustomerFilter, $o: [CrmCustomerOrder!]) { crmCustomers(filter: $f, orderBy: $o) { totalCount } }",
                vars.clone(),
            )
            .await;
        assert_refused(
            &answer,
            &["BAD_REQUEST", "VALIDATION_FAILED"],
            &vars.to_string(),
        );
    }
    // A field above the caller's read level is as unknown as a missing one, for filters and
    // for sorting, so it cannot be probed.
    for args in [
        "filter: {compensation: {gt: \"0\"}}",
        "filter: {not: {compensation: {isNull: true}}}",
        "orderBy: [{field: COMPENSATION}]",
    ] {
        let answer = api
            .query(
                rep,
                &format!("{{ crmComplaints({args}) {{ totalCount }} }}"),
                json!({}),
            )
            .await;
        assert_refused(&answer, &["VALIDATION_FAILED"], args);
        let answer = api
            .query(
                admin,
                &format!("{{ crmComplaints({args}) {{ totalCount }} }}"),
                json!({}),
            )
            .await;
        assert_data(&answer, args);
    }
    world.assert_intact().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_and_odd_numbers_are_refused_or_compared_exactly() {
    let world = World::new().await;
    let (api, admin) = (&world.api, &world.acme.admin);
    let all = world.admin_customers.len();
    // (customer filter written inline, the count it must give, or None for a refusal)
    let inline: &[(&str, Option<usize>)] = &[
        ("version: {eq: 99999999999999999999999}", None),
        ("version: {gt: 1e308}", None),
        // `-0` is read as a float, so it is not an Int.
        ("version: {eq: -0}", None),
        ("version: {lt: 9223372036854775807}", Some(all)),
        ("version: {gte: -9223372036854775808}", Some(all)),
        ("version: {gte: -2147483648}", Some(all)),
        ("version: {lt: \"NaN\"}", None),
        ("version: {in: [1.5]}", None),
        ("annualPotential: {gt: 1e308}", None),
        ("annualPotential: {gt: \"1e308\"}", None),
        ("annualPotential: {gt: \"99999999999999999999999\"}", None),
        ("annualPotential: {gt: \"NaN\"}", None),
        ("annualPotential: {gt: \"Infinity\"}", None),
        ("annualPotential: {gt: \"0.001\"}", None),
        ("annualPotential: {gt: \"-0\"}", Some(all)),
        (
            "annualPotential: {gte: \"-9999999999999999.99\"}",
            Some(all),
        ),
        ("annualPotential: {lt: \"9999999999999999.99\"}", Some(all)),
        ("annualPotential: {eq: 1000.5}", Some(1)),
        ("annualPotential: {eq: {amount: 1}}", None),
        ("annualPotential: {eq: [1]}", None),
        ("firstDealDate: {eq: \"2024-02-30\"}", None),
        ("firstDealDate: {gt: \"+275760-09-13\"}", None),
        ("firstDealDate: {lt: \"9999-12-31\"}", Some(2)),
        ("firstDealDate: {eq: 20240501}", None),
        ("createdAt: {gt: \"0001-01-01T00:00:00Z\"}", Some(all)),
        (
            "createdAt: {lt: \"9999-12-31T23:59:59.999999999+14:00\"}",
            Some(all),
        ),
        ("createdAt: {gt: \"2024-01-01T00:00:00\"}", None),
        ("createdAt: {gt: 1e308}", None),
        ("archiveComplete: {eq: 1}", None),
        ("archiveComplete: {eq: \"true\"}", None),
        ("regionId: {eq: 1e308}", None),
    ];
    for (filter, expected) in inline {
        let answer = api
            .query(
                admin,
                &format!("{{ crmCustomers(filter: {{{filter}}}) {{ totalCount }} }}"),
                json!({}),
            )
            .await;
        match expected {
            Some(n) => {
                assert_data(&answer, filter);
                assert_eq!(
                    answer.body["data"]["crmCustomers"]["totalCount"], *n,
                    "{filter}"
                );
            }
            None => assert_refused(&answer, &["VALIDATION_FAILED", "BAD_REQUEST"], filter),
        }
    }
    // The same through variables, where JSON numbers are read by the server's JSON parser.
    let variables = [
        json!({"version": {"eq": 99999999999999999999999u128 as f64}}),
        json!({"version": {"eq": 1e308}}),
        json!({"version": {"eq": u64::MAX}}),
        json!({"version": {"eq": "1"}}),
        json!({"annualPotential": {"eq": 1e308}}),
        json!({"annualPotential": {"eq": u64::MAX}}),
        json!({"annualPotential": {"eq": "１０００.５０"}}),
        json!({"firstDealDate": {"eq": true}}),
        json!({"regionId": {"eq": 12}}),
    ];
    for filter in variables {
        let answer = api
            .query(
                admin,
                "query($f: CrmCustomerFilter) { crmCustomers(filter: $f) { totalCount } }",
                json!({"f": filter}),
            )
            .await;
        assert_refused(
            &answer,
            &["VALIDATION_FAILED", "BAD_REQUEST"],
            &filter.to_string(),
        );
    }
    // Numbers in record inputs.
    let cus = world.admin_customers.iter().next().expect("a customer");
    let base = json!({"customerId": cus, "channel": "电话", "receivedAt": "2026-11-20T09:00:00Z",
        "category": "服务态度", "severity": "一般", "description": "数值测试",
        "acceptSlaHours": 24, "resolveSlaHours": 72});
    let create =
        "mutation($input: CrmComplaintInput!) { createCrmComplaint(input: $input) { id } }";
    for (field, value) in [
        ("acceptSlaHours", json!(1e308)),
        ("acceptSlaHours", json!(u64::MAX)),
        ("acceptSlaHours", json!(-0.0)),
        ("acceptSlaHours", json!("24")),
        ("revisitSatisfaction", json!(i64::MIN)),
        ("revisitSatisfaction", json!(6)),
        ("compensation", json!(1e308)),
        ("compensation", json!("99999999999999999999999")),
        ("compensation", json!("NaN")),
        ("receivedAt", json!(1_700_000_000)),
        ("receivedAt", json!("+275760-09-13T00:00:00Z")),
    ] {
        let mut input = base.clone();
        input[field] = value.clone();
        let answer = api.query(admin, create, json!({"input": input})).await;
        assert_refused(
            &answer,
            &["VALIDATION_FAILED", "BAD_REQUEST"],
            &format!("{field}: {value}"),
        );
    }
    world.assert_intact().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_types_in_filters_and_inputs_are_refused_with_codes() {
    let world = World::new().await;
    let (api, admin) = (&world.api, &world.acme.admin);
    let filters = [
        json!({"name": {"eq": 5}}),
        json!({"name": {"eq": true}}),
        json!({"name": {"in": [1, 2]}}),
        json!({"name": {"eq": ["a"]}}),
        json!({"name": {"eq": {"$ne": null}}}),
        json!({"name": {"like": 1}}),
        json!({"name": {"isNull": "true"}}),
        json!({"version": {"eq": "1"}}),
        json!({"version": {"in": ["1"]}}),
        json!({"archiveComplete": {"eq": "true"}}),
        json!({"archiveComplete": {"eq": 0}}),
        json!({"id": {"eq": 1}}),
        json!({"id": {"in": [{"a": 1}]}}),
        json!({"or": "x"}),
        json!({"not": [{"name": {"eq": "x"}}]}),
        json!([{"name": {"eq": "x"}}]),
        json!("' OR '1'='1"),
    ];
    for filter in filters {
        let answer = api
            .query(
                admin,
                "query($f: CrmCustomerFilter) { crmCustomers(filter: $f) { totalCount } }",
                json!({"f": filter}),
            )
            .await;
        assert_refused(
            &answer,
            &["BAD_REQUEST", "VALIDATION_FAILED"],
            &filter.to_string(),
        );
    }
    let hz = region(&world.server, admin, "NB", "宁波").await;
    let create = "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { id } }";
    for (field, value) in [
        ("name", json!(5)),
        ("name", json!(["a"])),
        ("customerType", json!({"$gt": ""})),
        ("annualPotential", json!(0.1 + 0.2)),
        ("annualPotential", json!(1e20)),
        ("annualPotential", json!(12.345)),
        ("annualPotential", json!(true)),
        ("firstDealDate", json!(20240501)),
        ("regionId", json!(42)),
        ("contacts", json!("王海涛")),
        ("contacts", json!([1, 2])),
        ("contacts", json!([{"name": 5, "isPrimary": true}])),
        ("contacts", json!([{"name": "王海涛", "isPrimary": "yes"}])),
    ] {
        let mut input = customer_input("TYPE-1", "类型测试", &hz, "潜在客户", "1.00");
        input[field] = value.clone();
        let answer = api.query(admin, create, json!({"input": input})).await;
        assert_refused(
            &answer,
            &["BAD_REQUEST", "VALIDATION_FAILED"],
            &format!("{field}: {value}"),
        );
    }
    // A decimal written as a short JSON number is read as the number the client wrote, exactly.
    let mut input = customer_input("TYPE-2", "类型测试", &hz, "潜在客户", "1.00");
    input["annualPotential"] = json!(12.5);
    let answer = api
        .query(
            admin,
            "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { annualPotential } }",
            json!({"input": input}),
        )
        .await;
    assert_data(&answer, "annualPotential: 12.5");
    assert_eq!(
        answer.body["data"]["createCrmCustomer"]["annualPotential"],
        "12.50"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_variable_types_are_refused_with_codes() {
    let world = World::new().await;
    let (api, admin) = (&world.api, &world.acme.admin);
    let cases: &[(&str, Value)] = &[
        (
            "query($f: CrmCustomerFilter) { crmCustomers(filter: $f) { totalCount } }",
            json!({"f": 42}),
        ),
        (
            "query($n: Int) { crmCustomers(first: $n) { totalCount } }",
            json!({"n": "ten"}),
        ),
        (
            "query($n: Int) { crmCustomers(first: $n) { totalCount } }",
            json!({"n": 1.5}),
        ),
        (
            "query($n: Int) { crmCustomers(first: $n) { totalCount } }",
            json!({"n": 1e308}),
        ),
        (
            "query($n: Int) { crmCustomers(first: $n) { totalCount } }",
            json!({"n": u64::MAX}),
        ),
        (
            "query($id: ID!) { crmCustomer(id: $id) { id } }",
            json!({"id": null}),
        ),
        (
            "query($id: ID!) { crmCustomer(id: $id) { id } }",
            json!({"id": {"$ne": ""}}),
        ),
        ("query($id: ID!) { crmCustomer(id: $id) { id } }", json!({})),
        (
            "query($id: String) { crmCustomer(id: $id) { id } }",
            json!({"id": "x"}),
        ),
        ("query { crmCustomer(id: $undeclared) { id } }", json!({})),
        (
            "query($a: String) { crmCustomers(after: $a) { totalCount } }",
            json!({"a": ["' OR 1=1"]}),
        ),
    ];
    for (query, variables) in cases {
        let answer = api.query(admin, query, variables.clone()).await;
        assert_refused(
            &answer,
            &["BAD_REQUEST", "VALIDATION_FAILED"],
            &format!("{query} {variables}"),
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_bodies_are_refused_with_bad_request() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let api = Api::new(&server);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        (
            "invalid UTF-8 outside strings",
            b"{\"query\": \"{ me { email } }\"}\xff\xfe".to_vec(),
        ),
        (
            "invalid UTF-8 inside the query",
            b"{\"query\": \"{ me { email \xc3\x28 } }\"}".to_vec(),
        ),
        (
            "invalid UTF-8 inside a variable",
            b"{\"query\": \"query($n: String) { crmCustomers(filter: {name: {eq: $n}}) { totalCount } }\", \"variables\": {\"n\": \"\xed\xa0\x80\"}}".to_vec(),
        ),
        ("a lone surrogate escape", br#"{"query": "{ me { email } }", "variables": {"n": "\ud800"}}"#.to_vec()),
        ("truncated JSON", br#"{"query": "{ me { email } }""#.to_vec()),
        ("trailing garbage", br#"{"query": "{ me { email } }"} ; DROP TABLE tenant"#.to_vec()),
        ("JSON null", b"null".to_vec()),
        ("a JSON string", br#""{ me { email } }""#.to_vec()),
        ("a number query", br#"{"query": 5}"#.to_vec()),
        (
            "a batch of operations",
            br#"[{"query": "{ me { email } }"}, {"query": "{ me { email } }"}]"#.to_vec(),
        ),
        (
            "variables that are a string",
            br#"{"query": "{ me { email } }", "variables": "' OR '1'='1"}"#.to_vec(),
        ),
        (
            "variables that are a list",
            br#"{"query": "{ me { email } }", "variables": [1, 2]}"#.to_vec(),
        ),
        ("form data", b"query=%7B+me+%7B+email+%7D+%7D".to_vec()),
        ("NUL bytes", b"\0\0\0\0".to_vec()),
    ];
    for (what, body) in bodies {
        let answer = api.raw(Some(&acme.admin), body).await;
        assert_refused(&answer, &["BAD_REQUEST"], what);
        assert!(
            matches!(answer.status, 200 | 400),
            "{what}: status {}",
            answer.status
        );
    }
    // GraphQL documents that do not parse, or are not what they claim.
    for query in [
        "",
        "{",
        "{ me { email } ",
        "{ me { email } } }",
        "query { me { email } } query { me { email } }",
        "{ me { email \u{0} } }",
        "{ me(email: \"' OR '1'='1\") { email } }",
        "mutation { me { email } }",
        "subscription { me { email } }",
    ] {
        let answer = api.query(&acme.admin, query, json!({})).await;
        assert_refused(&answer, &["BAD_REQUEST"], query);
    }
    // Still serving.
    let answer = api.query(&acme.admin, "{ me { email } }", json!({})).await;
    assert_data(&answer, "after malformed bodies");
}

#[tokio::test(flavor = "multi_thread")]
async fn long_values_within_the_body_limit_are_answered_and_beyond_it_refused() {
    let world = World::new().await;
    let (api, admin) = (&world.api, &world.acme.admin);
    let megabyte = "'".repeat(1024 * 1024);
    let answer = api
        .query(
            admin,
            "query($v: String) { crmCustomers(filter: {name: {eq: $v}}) { totalCount } }",
            json!({"v": megabyte}),
        )
        .await;
    assert_data(&answer, "a 1 MB value");
    assert_eq!(answer.body["data"]["crmCustomers"]["totalCount"], 0);
    let answer = api
        .query(
            admin,
            "query($v: [String!]) { crmCustomers(filter: {name: {notIn: $v}}) { totalCount } }",
            json!({"v": ["a".repeat(512 * 1024), "b".repeat(512 * 1024)]}),
        )
        .await;
    assert_data(&answer, "1 MB in a list");
    assert_eq!(
        answer.body["data"]["crmCustomers"]["totalCount"],
        world.admin_customers.len()
    );
    // Inline in the query text too.
    let answer = api
        .query(
            admin,
            &format!(
                "{{ crmCustomers(filter: {{name: {{eq: {}}}}}) {{ totalCount }} }}",
                literal(&"客".repeat(300 * 1024))
            ),
            json!({}),
        )
        .await;
    assert_data(&answer, "a 900 kB literal");
    // A record value far over the schema's maxLength.
    let hz = region(&world.server, admin, "NB", "宁波").await;
    let mut input = customer_input("LONG-1", &"名".repeat(300 * 1024), &hz, "潜在客户", "1.00");
    input["remarks"] = json!("x".repeat(100 * 1024));
    let answer = api
        .query(
            admin,
            "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { id } }",
            json!({"input": input}),
        )
        .await;
    assert_refused(&answer, &["VALIDATION_FAILED"], "a 900 kB name");
    // Beyond the default body limit (2 MiB): 413 with a code, whatever the body holds.
    let oversized =
        json!({"query": "{ me { email } }", "variables": {"v": "'".repeat(3 * 1024 * 1024)}});
    let answer = api
        .raw(Some(admin), oversized.to_string().into_bytes())
        .await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(answer.code(), "LIMIT_EXCEEDED", "{}", answer.body);
    let answer = api.raw(None, vec![b'{'; 3 * 1024 * 1024]).await;
    assert_eq!(answer.status, 413, "without a token too: {}", answer.body);
    assert_eq!(answer.code(), "LIMIT_EXCEEDED");
    world.assert_intact().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn like_patterns_longer_than_the_database_allows_are_answered_not_internal() {
    let world = World::new().await;
    let mut found = Vec::new();
    for len in [10_000, 60_000, 1024 * 1024] {
        let answer = world
            .api
            .query(
                &world.acme.admin,
                "query($p: String) { crmCustomers(filter: {name: {like: $p}}) { totalCount } }",
                json!({"p": format!("%{}%", "x".repeat(len))}),
            )
            .await;
        found.extend(problems(
            &answer,
            &format!("a like pattern of {len} characters"),
        ));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn many_bound_values_in_one_filter_are_answered_not_internal() {
    // Each list is within the per-list cap of 1,000 values; together they bind more parameters
    // than SQLite (32,766) or PostgreSQL (65,535) accept in one statement.
    let world = World::new().await;
    let list: Vec<i64> = (0..1_000).collect();
    let filter =
        json!({"or": (0..70).map(|_| json!({"version": {"in": list}})).collect::<Vec<_>>()});
    let answer = world
        .api
        .query(
            &world.acme.admin,
            "query($f: CrmCustomerFilter) { crmCustomers(filter: $f) { totalCount } }",
            json!({"f": filter}),
        )
        .await;
    assert_coded(&answer, "70 000 bound values");
    world.assert_intact().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wide_or_filters_are_answered_not_internal() {
    // No bound values at all, but a flat OR of many terms.
    let world = World::new().await;
    let filter =
        json!({"or": (0..5_000).map(|_| json!({"id": {"isNull": true}})).collect::<Vec<_>>()});
    let answer = world
        .api
        .query(
            &world.acme.admin,
            "query($f: CrmCustomerFilter) { crmCustomers(filter: $f) { totalCount } }",
            json!({"f": filter}),
        )
        .await;
    assert_coded(&answer, "an OR of 5 000 terms");
    if !answer.has_errors() {
        assert_eq!(answer.body["data"]["crmCustomers"]["totalCount"], 0);
    }
}

/// A customer filter `depth` levels deep, alternating `not`, `and` and `or`, as GraphQL text.
fn nested_filter_text(depth: usize) -> String {
    let mut open = String::new();
    let mut close = String::new();
    for level in 0..depth {
        match level % 3 {
            0 => {
                open.push_str("{not: ");
                close.insert(0, '}');
            }
            1 => {
                open.push_str("{and: [");
                close.insert_str(0, "]}");
            }
            _ => {
                open.push_str("{or: [");
                close.insert_str(0, "]}");
            }
        }
    }
    format!("{open}{{name: {{eq: \"'; DROP TABLE tenant; --\"}}}}{close}")
}

/// The same as JSON, for a variable.
fn nested_filter_json(depth: usize) -> Value {
    let mut filter = json!({"name": {"eq": "'; DROP TABLE tenant; --"}});
    for level in 0..depth {
        filter = match level % 3 {
            0 => json!({"not": filter}),
            1 => json!({"and": [filter]}),
            _ => json!({"or": [filter]}),
        };
    }
    filter
}

#[tokio::test(flavor = "multi_thread")]
async fn deeply_nested_filters_in_variables_are_answered_or_refused() {
    let world = World::new().await;
    for depth in [10, 60, 120, 500] {
        let answer = world
            .api
            .query(
                &world.acme.admin,
                "query($f: CrmCustomerFilter) { crmCustomers(filter: $f) { totalCount } }",
                json!({"f": nested_filter_json(depth)}),
            )
            .await;
        assert_coded(&answer, &format!("a filter variable {depth} levels deep"));
        if !answer.has_errors() {
            assert_eq!(answer.body["data"]["crmCustomers"]["totalCount"], 0);
        }
    }
    world.assert_intact().await;
}

/// Set (to a depth) in the child process the next test starts.
const DEEP_PROBE: &str = "JINGXI_TEST_DEEP_FILTER_DEPTH";

/// Does nothing unless started by the test below: sends one inline filter `depth` levels deep to
/// a fresh server in this process. A stack overflow aborts the whole process, so it runs alone.
#[tokio::test(flavor = "multi_thread")]
async fn deep_filter_probe() {
    let Some(depth) = std::env::var(DEEP_PROBE)
        .ok()
        .and_then(|d| d.parse::<usize>().ok())
    else {
        return;
    };
    let world = World::new().await;
    let query = format!(
        "{{ crmCustomers(filter: {}) {{ totalCount }} }}",
        nested_filter_text(depth)
    );
    let answer = world.api.query(&world.acme.admin, &query, json!({})).await;
    assert_coded(&answer, &format!("an inline filter {depth} levels deep"));
    world.assert_intact().await;
}

#[test]
fn deeply_nested_filters_in_the_query_text_do_not_crash_the_server() {
    let mut found = Vec::new();
    for depth in [100, 500, 5_000, 50_000] {
        let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "hostile_input::deep_filter_probe",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DEEP_PROBE, depth.to_string())
            .output()
            .expect("the probe runs");
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let why: Vec<&str> = stderr
                .lines()
                .filter(|l| l.contains("overflow") || l.contains("panicked") || l.contains(": "))
                .take(4)
                .collect();
            found.push(format!(
                "an inline filter {depth} levels deep ({} kB): {}: {}",
                nested_filter_text(depth).len() / 1024,
                output.status,
                why.join(" | ")
            ));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn page_sizes_outside_the_limits_are_refused_with_codes() {
    let world = World::new().await;
    let (api, admin) = (&world.api, &world.acme.admin);
    let cases: &[(&str, &[&str])] = &[
        ("first: -1", &["VALIDATION_FAILED"]),
        ("last: -1", &["VALIDATION_FAILED"]),
        ("first: -2147483648", &["VALIDATION_FAILED"]),
        ("first: 501", &["LIMIT_EXCEEDED"]),
        ("last: 501", &["LIMIT_EXCEEDED"]),
        ("first: 1000000", &["LIMIT_EXCEEDED"]),
        ("last: 1000000", &["LIMIT_EXCEEDED"]),
        ("first: 2147483647", &["LIMIT_EXCEEDED"]),
        ("first: 2147483648", &["BAD_REQUEST", "LIMIT_EXCEEDED"]),
        (
            "last: 9223372036854775807",
            &["BAD_REQUEST", "LIMIT_EXCEEDED"],
        ),
        ("first: 99999999999999999999", &["BAD_REQUEST"]),
        ("first: 1e3", &["BAD_REQUEST"]),
        ("first: \"10\"", &["BAD_REQUEST"]),
        ("first: 1, last: -1", &["VALIDATION_FAILED"]),
    ];
    for (args, codes) in cases {
        let answer = api
            .query(
                admin,
                &format!("{{ crmCustomers({args}) {{ totalCount }} }}"),
                json!({}),
            )
            .await;
        assert_refused(&answer, codes, args);
    }
    for n in [json!(-1), json!(501), json!(i32::MAX)] {
        let answer = api
            .query(
                admin,
                "query($n: Int) { crmCustomers(first: $n) { totalCount } }",
                json!({"n": n}),
            )
            .await;
        assert_refused(
            &answer,
            &["VALIDATION_FAILED", "LIMIT_EXCEEDED"],
            &n.to_string(),
        );
    }
    // The limit itself is allowed, and so is zero.
    for args in ["first: 500", "last: 500", "first: 0", "last: 0"] {
        let answer = api
            .query(
                admin,
                &format!("{{ crmCustomers({args}) {{ totalCount }} }}"),
                json!({}),
            )
            .await;
        assert_data(&answer, args);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_cursors_are_refused_with_a_code() {
    let world = World::new().await;
    let (api, admin) = (&world.api, &world.acme.admin);
    let hex = |text: &str| hex::encode(text);
    let cursors = [
        "' OR '1'='1".to_string(),
        "'; DROP TABLE tenant; --".to_string(),
        "zz".to_string(),
        "abc".to_string(),
        String::new(),
        hex("offset:-1"),
        hex("offset:1e3"),
        hex("offset:1; DROP TABLE tenant"),
        hex("offset:18446744073709551616"),
        hex("limit:1"),
        hex("offset:\u{0}"),
        hex::encode([0xff, 0xfe, 0xfd]),
    ];
    for cursor in &cursors {
        for arg in ["after", "before"] {
            let answer = api
                .query(
                    admin,
                    &format!(
                        "query($c: String) {{ crmCustomers({arg}: $c, first: 5) {{ totalCount }} }}"
                    ),
                    json!({"c": cursor}),
                )
                .await;
            assert_refused(
                &answer,
                &["VALIDATION_FAILED"],
                &format!("{arg}: {cursor:?}"),
            );
        }
    }
    // Well-formed cursors far past the end are simply empty pages.
    for offset in [1_000u64, 1 << 40, i64::MAX as u64 - 1] {
        let answer = api
            .query(
                admin,
                "query($c: String) { crmCustomers(after: $c, first: 5) { totalCount nodes { id } } }",
                json!({"c": hex(&format!("offset:{offset}"))}),
            )
            .await;
        assert_data(&answer, &format!("after offset {offset}"));
        assert_eq!(answer.body["data"]["crmCustomers"]["nodes"], json!([]));
    }
    world.assert_intact().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cursors_beyond_the_largest_offset_are_answered_not_a_panic() {
    let world = World::new().await;
    let (api, admin) = (&world.api, &world.acme.admin);
    let mut found = Vec::new();
    for (args, offset) in [
        ("after: $c, first: 5", i64::MAX as u64),
        ("after: $c, first: 5", u64::MAX),
        ("before: $c, last: 5", u64::MAX),
    ] {
        let cursor = hex::encode(format!("offset:{offset}"));
        let query =
            format!("query($c: String) {{ crmCustomers({args}) {{ totalCount nodes {{ id }} }} }}");
        let answer = api.query(admin, &query, json!({"c": cursor})).await;
        found.extend(problems(&answer, &format!("{args} at offset {offset}")));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    world.assert_intact().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_creates_over_max_batch_are_refused_with_limit_exceeded() {
    let server = TestServer::configured(|config| config.api.max_batch = 20).await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let api = Api::new(&server);
    let hz = region(&server, &acme.admin, "HZ", "杭州").await;
    let create =
        "mutation($inputs: [CrmCustomerInput!]!) { createCrmCustomers(inputs: $inputs) { id } }";
    let valid = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| customer_input(&format!("B-{i}"), "批量", &hz, "潜在客户", "1.00"))
            .collect()
    };
    // Over the limit: refused before anything is checked or written, even when every record
    // is invalid.
    for inputs in [valid(21), vec![json!({}); 21], vec![json!({}); 5_000]] {
        let answer = api
            .query(&acme.admin, create, json!({"inputs": inputs}))
            .await;
        assert_refused(&answer, &["LIMIT_EXCEEDED"], "over max_batch");
    }
    // At the limit, the batch is written.
    let answer = api
        .query(
            &acme.admin,
            "mutation($a: [CrmCustomerInput!]!) { a: createCrmCustomers(inputs: $a) { id } }",
            json!({"a": valid(20)}),
        )
        .await;
    assert_data(&answer, "exactly max_batch");
    let answer = api
        .query(&acme.admin, "{ crmCustomers { totalCount } }", json!({}))
        .await;
    assert_eq!(answer.body["data"]["crmCustomers"]["totalCount"], 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_batch_limit_is_enforced_with_limit_exceeded() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let api = Api::new(&server);
    let create =
        "mutation($inputs: [CrmCustomerInput!]!) { createCrmCustomers(inputs: $inputs) { id } }";
    let answer = api
        .query(
            &acme.admin,
            create,
            json!({"inputs": vec![json!({}); 1_001]}),
        )
        .await;
    assert_refused(&answer, &["LIMIT_EXCEEDED"], "1 001 records");
    // At the limit the records are checked (and these are all invalid).
    let answer = api
        .query(
            &acme.admin,
            create,
            json!({"inputs": vec![json!({}); 1_000]}),
        )
        .await;
    assert_refused(&answer, &["VALIDATION_FAILED"], "1 000 records");
}

/// A query whose deepest field is at `depth` (introspection types nest without end):
/// `__type` › `fields` › `type` › `ofType`… › `name`.
fn deep_query(depth: usize) -> String {
    assert!(depth >= 4);
    let mut query = String::from("{ __type(name: \"Query\") { fields { type ");
    for _ in 0..depth - 4 {
        query.push_str("{ ofType ");
    }
    query.push_str("{ name }");
    for _ in 0..depth - 4 {
        query.push_str(" }");
    }
    query.push_str(" } } }");
    query
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_deeper_than_max_depth_are_refused_with_limit_exceeded() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let api = Api::new(&server);
    let max = server.config.api.max_depth;
    let answer = api.query(&acme.admin, &deep_query(max), json!({})).await;
    assert_data(&answer, "at max_depth");
    let answer = api
        .query(&acme.admin, &deep_query(max + 1), json!({}))
        .await;
    assert_refused(&answer, &["LIMIT_EXCEEDED"], "one level over max_depth");
    // Through fragments as well.
    let query = format!(
        "query {{ ...F }} fragment F on Query {{ __type(name: \"Query\") {{ fields {{ type {} }} }} }}",
        "{ ofType ".repeat(max) + "{ name }" + &" }".repeat(max)
    );
    let answer = api.query(&acme.admin, &query, json!({})).await;
    assert_refused(&answer, &["LIMIT_EXCEEDED"], "deep through a fragment");
}

#[tokio::test(flavor = "multi_thread")]
async fn much_deeper_queries_are_refused_with_limit_exceeded_too() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let api = Api::new(&server);
    let mut found = Vec::new();
    for depth in [40, 100, 10_000] {
        let answer = api.query(&acme.admin, &deep_query(depth), json!({})).await;
        assert_coded(&answer, &format!("a query {depth} levels deep"));
        if answer.code() != "LIMIT_EXCEEDED" {
            found.push(format!(
                "a query {depth} levels deep: {} instead of LIMIT_EXCEEDED: {}",
                answer.code(),
                answer.body["errors"][0]["message"]
            ));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_over_max_complexity_are_refused_with_limit_exceeded() {
    let server = TestServer::new().await;
    let acme = server.tenant("acme", &["org", "crm"]).await;
    let api = Api::new(&server);
    let aliases = |n: usize| -> String {
        let fields: String = (0..n).map(|i| format!(" a{i}: me {{ email }}")).collect();
        format!("{{{fields} }}")
    };
    let answer = api.query(&acme.admin, &aliases(100), json!({})).await;
    assert_data(&answer, "100 aliases");
    let over = server.config.api.max_complexity;
    let answer = api.query(&acme.admin, &aliases(over), json!({})).await;
    assert_refused(&answer, &["LIMIT_EXCEEDED"], "aliases over max_complexity");
    // Many list fields, each asking for a full page, in one request.
    let lists: String = (0..over / 4 + 1)
        .map(|i| format!(" l{i}: crmCustomers(first: 500) {{ totalCount nodes {{ id }} }}"))
        .collect();
    let answer = api
        .query(&acme.admin, &format!("{{{lists} }}"), json!({}))
        .await;
    assert_refused(
        &answer,
        &["LIMIT_EXCEEDED"],
        "list aliases over max_complexity",
    );
}
