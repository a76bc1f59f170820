//! Soak: mixed reads and writes against a server process for a bounded time, with zero errors
//! and memory that stays flat once warm. `JINGXI_SOAK_SECONDS` runs longer (CI runs a short one).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jingxi_tests::{free_port, fresh_database, prepare_database, spawn_server, wait_healthy};
use serde_json::{Value, json};

async fn call(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    let response = client
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    match body.get("errors") {
        None if status.is_success() => Ok(body["data"].clone()),
        _ => Err(format!("{status}: {body}")),
    }
}

/// One client: creates regions, reads them back, updates with expectedVersion, lists, counts,
/// aggregates and reads history, in a loop until `until`.
async fn client_loop(
    url: String,
    token: String,
    client_no: usize,
    until: Instant,
    done: Arc<AtomicU64>,
) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut errors = Vec::new();
    let mut round = 0usize;
    while Instant::now() < until {
        round += 1;
        let code = format!("K{client_no}-{round}");
        let created = call(
            &client,
            &url,
            &token,
            "mutation($input: OrgRegionInput!) { createOrgRegion(input: $input) { id version } }",
            json!({"input": {"code": code, "name": format!("区域 {code}"), "level": "城市"}}),
        )
        .await;
        let Ok(created) = created else {
            errors.push(created.unwrap_err());
            continue;
        };
        let id = created["createOrgRegion"]["id"].clone();
        let steps = [
            call(&client, &url, &token, "query($id: ID!) { orgRegion(id: $id) { code name } }", json!({"id": id})).await,
            call(&client, &url, &token,
                "mutation($id: ID!) { updateOrgRegion(id: $id, patch: {name: \"已更新\"}, expectedVersion: 1) { version } }",
                json!({"id": id})).await,
            call(&client, &url, &token,
                "query($p: String!) { orgRegions(first: 20, filter: {code: {like: $p}}, orderBy: [{field: CODE, direction: DESC}]) { totalCount nodes { id } } }",
                json!({"p": format!("K{client_no}-%")})).await,
            call(&client, &url, &token, "{ orgRegionsAggregate(groupBy: [LEVEL]) { key count } }", json!({})).await,
            call(&client, &url, &token, "query($id: ID!) { history(entity: \"org.region\", id: $id) { kind } }", json!({"id": id})).await,
        ];
        for step in steps {
            match step {
                Ok(_) => {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => errors.push(error),
            }
        }
        if round.is_multiple_of(10)
            && let Err(error) = call(
                &client,
                &url,
                &token,
                "mutation($id: ID!) { deleteOrgRegion(id: $id) }",
                json!({"id": id}),
            )
            .await
        {
            errors.push(error);
        }
    }
    errors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_load_runs_without_errors_and_memory_stays_flat() {
    let seconds: u64 = std::env::var("JINGXI_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let dir = tempfile::tempdir().expect("temp dir");
    let database = fresh_database(dir.path()).await;
    let token = prepare_database(&database, &["org"]).await;
    let server = spawn_server(&database, free_port());
    wait_healthy(&server.url).await;

    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let done = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..8)
        .map(|n| {
            tokio::spawn(client_loop(
                server.url.clone(),
                token.clone(),
                n,
                until,
                done.clone(),
            ))
        })
        .collect();
    // Memory is sampled through the run; the first 40 % is warm-up (caches, pools, pages).
    let mut samples = Vec::new();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(250)).await;
        samples.push((started.elapsed(), server.rss_mib()));
    }
    let mut errors = Vec::new();
    for client in clients {
        errors.extend(client.await.expect("client task"));
    }
    let operations = done.load(Ordering::Relaxed);
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    assert!(operations > 100, "the load ran ({operations} operations)");
    let warm = Duration::from_secs_f64(seconds as f64 * 0.4);
    let after_warm_up: Vec<f64> = samples
        .iter()
        .filter(|(at, _)| *at >= warm)
        .map(|(_, rss)| *rss)
        .collect();
    let (first, peak) = (
        after_warm_up.first().copied().unwrap_or(0.0),
        after_warm_up.iter().copied().fold(0.0, f64::max),
    );
    assert!(first > 0.0, "RSS is readable");
    eprintln!(
        "soak: {operations} operations in {seconds} s; RSS after warm-up {first:.1} MiB, peak {peak:.1} MiB"
    );
    assert!(
        peak <= first * 1.25 + 16.0,
        "RSS grew from {first:.1} MiB to {peak:.1} MiB after warm-up: {samples:?}"
    );
}
