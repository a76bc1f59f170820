//! Crash safety: the server process is killed with SIGKILL in the middle of a stream of single
//! and batch writes; after a restart every write a client saw acknowledged is there, with its
//! history, and no batch is partial.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jingxi_tests::{free_port, fresh_database, prepare_database, spawn_server, wait_healthy};
use serde_json::{Value, json};

/// Records per batch create.
const BATCH: usize = 40;

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Option<Value> {
    let response = client
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .ok()?;
    let body: Value = response.json().await.ok()?;
    body.get("errors").is_none().then_some(body)
}

/// Writes until the server dies: each task alternates a single create and a batch create of
/// regions; returns the codes of acknowledged single writes and the tags of acknowledged batches.
async fn write_until_killed(
    url: String,
    token: String,
    task: usize,
    acked: Arc<Mutex<(BTreeSet<String>, BTreeSet<String>)>>,
) {
    let client = reqwest::Client::new();
    let single = "mutation($input: OrgRegionInput!) { createOrgRegion(input: $input) { id } }";
    let batch =
        "mutation($inputs: [OrgRegionInput!]!) { createOrgRegions(inputs: $inputs) { id } }";
    for round in 0.. {
        let code = format!("S{task}-{round}");
        let input = json!({"code": code, "name": format!("单条 {code}"), "level": "城市"});
        match post(&client, &url, &token, single, json!({"input": input})).await {
            Some(_) => {
                acked.lock().unwrap().0.insert(code);
            }
            None => return,
        }
        let tag = format!("B{task}-{round}");
        let inputs: Vec<Value> = (0..BATCH)
            .map(|i| json!({"code": format!("{tag}-{i}"), "name": format!("批量 {tag}"), "level": "城市"}))
            .collect();
        match post(&client, &url, &token, batch, json!({"inputs": inputs})).await {
            Some(_) => {
                acked.lock().unwrap().1.insert(tag);
            }
            None => return,
        }
    }
}

async fn all_codes(url: &str, token: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let query = "query($after: String) { orgRegions(first: 500, after: $after) { pageInfo { hasNextPage endCursor } edges { node { code } } } }";
    let mut codes = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = post(&client, url, token, query, json!({"after": after}))
            .await
            .expect("reading after the restart works");
        let page = &body["data"]["orgRegions"];
        codes.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["code"].as_str().unwrap().to_string()),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            return codes;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9_and_no_batch_is_partial() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = fresh_database(dir.path()).await;
    let token = prepare_database(&database, &["org"]).await;

    let port = free_port();
    // `JINGXI_CRASH_ROUNDS` runs more kill/restart rounds (the long version); CI runs two.
    let rounds: usize = std::env::var("JINGXI_CRASH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2);
    let acked: Arc<Mutex<(BTreeSet<String>, BTreeSet<String>)>> = Arc::default();
    let mut server = spawn_server(&database, port);
    for round in 0..rounds {
        wait_healthy(&server.url).await;
        let before = acked.lock().unwrap().1.len();
        let writers: Vec<_> = (0..4)
            .map(|task| {
                let task = round * 4 + task;
                tokio::spawn(write_until_killed(
                    server.url.clone(),
                    token.clone(),
                    task,
                    acked.clone(),
                ))
            })
            .collect();
        // Let writes pile up, then kill the server mid-stream.
        let started = Instant::now();
        while acked.lock().unwrap().1.len() < before + 8
            && started.elapsed() < Duration::from_secs(20)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("reaped");
        for writer in writers {
            writer.await.expect("writer ends when the server is gone");
        }
        let (singles, batches) = acked.lock().unwrap().clone();
        assert!(
            batches.len() >= before + 8,
            "writes were acknowledged before the kill"
        );

        server = spawn_server(&database, port);
        wait_healthy(&server.url).await;
        let codes = all_codes(&server.url, &token).await;
        let present: BTreeSet<&str> = codes.iter().map(String::as_str).collect();
        for code in &singles {
            assert!(
                present.contains(code.as_str()),
                "round {round}: acknowledged {code} is lost"
            );
        }
        let mut per_batch: BTreeMap<String, usize> = BTreeMap::new();
        for code in codes.iter().filter(|c| c.starts_with('B')) {
            let tag = code.rsplit_once('-').map(|(tag, _)| tag).unwrap_or(code);
            *per_batch.entry(tag.to_string()).or_default() += 1;
        }
        for (tag, count) in &per_batch {
            assert_eq!(*count, BATCH, "round {round}: batch {tag} is partial");
        }
        for tag in &batches {
            assert!(
                per_batch.contains_key(tag),
                "round {round}: acknowledged batch {tag} is lost"
            );
        }
    }
    let restarted = &mut server;

    // Every stored record has its history: changes and their audit events commit together.
    let client = reqwest::Client::new();
    let sample = "query { orgRegions(first: 20) { edges { node { id } } } }";
    let body = post(&client, &restarted.url, &token, sample, json!({}))
        .await
        .unwrap();
    for edge in body["data"]["orgRegions"]["edges"].as_array().unwrap() {
        let history = post(
            &client,
            &restarted.url,
            &token,
            "query($id: ID!) { history(entity: \"org.region\", id: $id) { kind } }",
            json!({"id": edge["node"]["id"]}),
        )
        .await
        .unwrap();
        assert_eq!(history["data"]["history"], json!([{"kind": "create"}]));
    }
}
