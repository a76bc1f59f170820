//! Many clients updating the same records with `expectedVersion`: no update is lost, and every
//! loser of a race is told so with `CONFLICT`.

use jingxi_tests::{TestServer, error_code};
use serde_json::json;

use crate::fixtures::complaint;
use crate::workflow::staff;

const READ: &str = "query($id: ID!) { crmComplaint(id: $id) { version acceptSlaHours } }";
const WRITE: &str = "mutation($id: ID!, $v: Int!, $h: Int!) { updateCrmComplaint(id: $id, patch: {acceptSlaHours: $h}, expectedVersion: $v) { version acceptSlaHours } }";

/// Read-modify-write increments of `acceptSlaHours`, retried on CONFLICT. Returns how many
/// increments landed and how many conflicts were seen.
async fn increment(
    server: &TestServer,
    token: &str,
    id: &serde_json::Value,
    times: u32,
) -> (u32, u32) {
    let (mut landed, mut conflicts) = (0, 0);
    while landed < times {
        let current = server.ok(token, READ, json!({"id": id})).await["crmComplaint"].clone();
        let (version, hours) = (
            current["version"].as_i64().unwrap(),
            current["acceptSlaHours"].as_i64().unwrap(),
        );
        let (body, status) = server
            .graphql(
                token,
                WRITE,
                json!({"id": id, "v": version, "h": hours + 1}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        match body.get("errors") {
            None => {
                assert_eq!(body["data"]["updateCrmComplaint"]["version"], version + 1);
                landed += 1;
            }
            Some(_) => {
                assert_eq!(
                    error_code(&body),
                    "CONFLICT",
                    "only conflicts may fail: {body}"
                );
                conflicts += 1;
            }
        }
    }
    (landed, conflicts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_lose_nothing_and_losers_get_conflict() {
    let server = TestServer::new().await;
    let s = staff(&server, "acme").await;
    let records = [
        complaint(&server, &s.spec, &s.customer, "并发更新一").await,
        complaint(&server, &s.spec, &s.customer, "并发更新二").await,
    ];
    let (clients, times) = (8, 6);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let id = records[client % records.len()].clone();
        let token = if client % 2 == 0 {
            s.spec.clone()
        } else {
            s.sup.clone()
        };
        let server = &server;
        tasks.push(async move { (id.clone(), increment(server, &token, &id, times).await) });
    }
    let results = futures_util::future::join_all(tasks).await;
    let conflicts: u32 = results.iter().map(|(_, (_, c))| c).sum();
    assert!(conflicts > 0, "the clients really raced");
    for id in &records {
        let landed: u32 = results
            .iter()
            .filter(|(r, _)| r == id)
            .map(|(_, (l, _))| l)
            .sum();
        let last = server.ok(&s.sup, READ, json!({"id": id})).await["crmComplaint"].clone();
        // The complaint fixture starts at 24 hours and version 1.
        assert_eq!(
            last["acceptSlaHours"],
            24 + i64::from(landed),
            "no lost update"
        );
        assert_eq!(last["version"], 1 + i64::from(landed));
        let history = server
            .ok(
                &s.sup,
                "query($id: ID!) { history(entity: \"crm.complaint\", id: $id) { kind } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(
            history["history"].as_array().unwrap().len() as u32,
            1 + landed,
            "one history entry per landed update"
        );
    }
}
