//! `cargo xtask bench`: a real release server on SQLite and PostgreSQL, realistic data, and load
//! from this separate process over loopback HTTP, with bounded concurrency and time.
//!
//! Reports requests/s, p50, p99, errors and server RSS per scenario, start-up times (cold and warm
//! plugin cache), idle RSS, and the same load on a minimal actix-web JSON endpoint as the ceiling.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::{root, target_dir};

/// Options of one benchmark run.
#[derive(Debug, Clone)]
pub struct Options {
    pub records: usize,
    pub seconds: u64,
    pub clients: usize,
    pub databases: Vec<String>,
    pub write_docs: bool,
    /// Scenario numbers to run (all when empty), for profiling one of them.
    pub only: Vec<u32>,
}

impl Options {
    pub fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut options = Options {
            records: 10_000,
            seconds: 10,
            clients: 16,
            databases: vec!["sqlite".into(), "postgres".into()],
            write_docs: false,
            only: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .cloned()
                    .with_context(|| format!("{arg} needs a value"))
            };
            match arg.as_str() {
                "--records" => options.records = value()?.parse()?,
                "--seconds" => options.seconds = value()?.parse()?,
                "--clients" => options.clients = value()?.parse()?,
                "--db" => options.databases = value()?.split(',').map(str::to_string).collect(),
                "--write-docs" => options.write_docs = true,
                "--only" => {
                    options.only = value()?
                        .split(',')
                        .map(|n| {
                            n.trim()
                                .parse()
                                .context("--only takes scenario numbers 1..=8")
                        })
                        .collect::<anyhow::Result<_>>()?
                }
                other => bail!(
                    "unknown option {other}; use --records N --seconds S --clients C --db sqlite,postgres --only 1,5 --write-docs"
                ),
            }
        }
        if options.clients == 0
            || options.clients > 256
            || options.seconds == 0
            || options.seconds > 600
        {
            bail!("clients must be 1..=256 and seconds 1..=600");
        }
        if options.write_docs && !options.only.is_empty() {
            bail!("--write-docs needs every scenario; drop --only");
        }
        Ok(options)
    }

    fn runs(&self, scenario: u32) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }
}

/// Figures of one scenario.
#[derive(Debug, Clone)]
pub struct Figures {
    pub name: String,
    pub errors: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub rss_mib: f64,
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PORT: u16 = 18_190;
const CEILING_PORT: u16 = 18_191;

/// The server measured: `JINGXI_BENCH_SERVER` if set (to compare two builds back to back), else
/// the release build.
fn jingxi_binary() -> PathBuf {
    std::env::var_os("JINGXI_BENCH_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("release").join("jingxi"))
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn jingxi(env: &[(&str, String)], args: &[&str]) -> anyhow::Result<String> {
    let mut command = Command::new(jingxi_binary());
    command
        .current_dir(root())
        .args(args)
        .env("JINGXI_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command
        .output()
        .with_context(|| format!("cannot run jingxi {args:?}"))?;
    if !output.status.success() {
        bail!(
            "jingxi {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

async fn wait_healthy(client: &reqwest::Client, url: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if client
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!("the server at {url} did not become healthy within 60 s")
}

fn start_server(env: &[(&str, String)]) -> anyhow::Result<Server> {
    let mut command = Command::new(jingxi_binary());
    command
        .current_dir(root())
        .arg("serve")
        .env("JINGXI_LOG", "warn")
        .stdout(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().context("cannot start jingxi serve")?;
    Ok(Server {
        child,
        url: format!("http://127.0.0.1:{PORT}"),
    })
}

/// Runs `request` from `clients` tasks for `seconds` and measures it.
async fn drive<F, Fut>(name: &str, clients: usize, seconds: u64, pid: u32, request: F) -> Figures
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let request = request.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                if !request(n).await {
                    errors += 1;
                }
                latencies.push(started.elapsed());
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((mut l, e)) = task.await {
            latencies.append(&mut l);
            errors += e;
        }
    }
    latencies.sort();
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let idx = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[idx].as_secs_f64() * 1000.0
    };
    let figures = Figures {
        name: name.to_string(),
        errors,
        per_second: latencies.len() as f64 / seconds as f64,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        rss_mib: if pid == 0 { 0.0 } else { rss_mib(pid) },
    };
    eprintln!(
        "  {:<44} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {:>4}  RSS {:>6.1} MiB",
        figures.name,
        figures.per_second,
        figures.p50_ms,
        figures.p99_ms,
        figures.errors,
        figures.rss_mib
    );
    figures
}

/// Asks for crm's complaint acceptance timeliness over the days `from` to `to`; true when it
/// answers with complaints counted.
async fn acceptance_timeliness(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    from: &str,
    to: &str,
) -> bool {
    let query = "query($from: Date!, $to: Date!) { kpi(id: \"crm.complaint_accept_timeliness\", from: $from, to: $to) { value denominator } }";
    graphql(client, url, token, query, json!({"from": from, "to": to}))
        .await
        .is_some_and(|d| d["kpi"]["denominator"].as_str().is_some_and(|n| n != "0"))
}

async fn graphql(
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
        .await;
    let response = match response {
        Ok(response) => response,
        Err(error) => {
            report_error(&format!("request failed: {error}"));
            return None;
        }
    };
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() || body.get("errors").is_some() {
        report_error(&format!(
            "{status}: {}",
            body.get("errors").unwrap_or(&body)
        ));
        return None;
    }
    Some(body["data"].clone())
}

/// Prints the first few failures of a run, so errors in the tables can be explained.
fn report_error(message: &str) {
    static SEEN: AtomicU64 = AtomicU64::new(0);
    if SEEN.fetch_add(1, Ordering::Relaxed) < 5 {
        let mut short = message.to_string();
        short.truncate(400);
        eprintln!("  error: {short}");
    }
}

const STAGES: [&str; 5] = ["潜在客户", "意向客户", "成交客户", "忠诚客户", "流失客户"];
const CITIES: [&str; 8] = [
    "杭州", "上海", "南京", "宁波", "苏州", "合肥", "福州", "温州",
];

fn customer(i: usize, region: &str) -> Value {
    json!({
        "customerNo": format!("CUS-{i:07}"),
        "name": format!("{}客户{i:07}有限公司", CITIES[i % CITIES.len()]),
        "customerType": if i.is_multiple_of(7) { "个人" } else { "经销商/渠道" },
        "industry": "家电零售",
        "regionId": region,
        "address": format!("{}市文三路 {} 号", CITIES[i % CITIES.len()], i % 999 + 1),
        "source": "招商会",
        "stage": STAGES[i % STAGES.len()],
        "taxId": format!("9133{i:014}"),
        "annualPotential": format!("{}.{:02}", (i * 7919) % 10_000_000, i % 100),
        "contacts": [
            {"name": "王海涛", "title": "采购经理", "phone": format!("138{:08}", i % 100_000_000), "isPrimary": true},
            {"name": "刘敏", "title": "财务主管", "phone": format!("139{:08}", i % 100_000_000), "isPrimary": false}
        ],
    })
}

/// A complaint about customer `customer`, received some day of 2026 (accept SLA 24 h).
fn complaint(i: usize, customer: &str) -> Value {
    let (month, day, hour) = (i % 12 + 1, i % 28 + 1, i % 24);
    let category = ["产品质量", "安装/维修服务", "服务态度", "交货延迟"][i % 4];
    let severity = ["一般", "重要", "紧急"][i % 3];
    json!({
        "customerId": customer,
        "channel": "电话",
        "receivedAt": format!("2026-{month:02}-{day:02}T{hour:02}:00:00Z"),
        "category": category,
        "severity": severity,
        "description": format!("第 {i} 号投诉:空调安装后噪音偏大"),
        "acceptSlaHours": 24,
        "resolveSlaHours": 72,
    })
}

/// Visit records filed per customer.
const VISITS_PER_CUSTOMER: usize = 2;

/// Visit number `i`, of `customer` by `staff`, dated some day of 2026.
fn visit(i: usize, customer: &str, staff: &str) -> Value {
    let kind = ["上门拜访", "电话回访", "售后回访", "满意度回访"][i % 4];
    json!({
        "customerId": customer,
        "visitType": kind,
        "visitDate": format!("2026-{:02}-{:02}", i % 12 + 1, i % 28 + 1),
        "staffId": staff,
        "content": format!("第 {i} 次回访:了解门店空调销售与安装情况"),
        "satisfaction": i % 5 + 1,
    })
}

/// Records per batch while loading.
const LOAD_BATCH: usize = 1000;

/// Creates `count` records of `type_name` (`CrmCustomer`) with `make(i)` through its batch
/// mutation, two batches in flight at a time; answers their ids in order.
async fn load(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    type_name: &str,
    count: usize,
    make: impl Fn(usize) -> Value,
) -> anyhow::Result<Vec<String>> {
    let field = format!("create{type_name}s");
    let query =
        format!("mutation($inputs: [{type_name}Input!]!) {{ {field}(inputs: $inputs) {{ id }} }}");
    let batch = |start: usize| {
        let inputs: Vec<Value> = (start..(start + LOAD_BATCH).min(count))
            .map(&make)
            .collect();
        json!({"inputs": inputs})
    };
    let mut ids = Vec::with_capacity(count);
    let starts: Vec<usize> = (0..count).step_by(LOAD_BATCH).collect();
    for pair in starts.chunks(2) {
        let second = async {
            match pair.get(1) {
                Some(start) => graphql(client, url, token, &query, batch(*start)).await,
                None => Some(json!({field.as_str(): []})),
            }
        };
        let (a, b) = tokio::join!(graphql(client, url, token, &query, batch(pair[0])), second);
        for data in [a, b] {
            let data = data.with_context(|| format!("loading {type_name} failed"))?;
            for record in data[&field].as_array().into_iter().flatten() {
                ids.push(record["id"].as_str().unwrap_or_default().to_string());
            }
        }
        if pair[0] % 100_000 == 0 && pair[0] > 0 {
            eprintln!("  {type_name}: {} / {count}", ids.len());
        }
    }
    if ids.len() != count {
        bail!("loading {type_name}: {} of {count} created", ids.len());
    }
    Ok(ids)
}

/// Everything measured on one database.
pub struct DatabaseRun {
    pub database: String,
    pub records: usize,
    pub cold_start_ms: f64,
    pub warm_start_ms: f64,
    pub idle_rss_mib: f64,
    pub load_records_per_second: f64,
    pub scenarios: Vec<Figures>,
}

async fn bench_database(database: &str, options: &Options) -> anyhow::Result<DatabaseRun> {
    let data = root().join("target/bench").join(database);
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let url = match database {
        "sqlite" => format!("sqlite://{}?mode=rwc", data.join("bench.db").display()),
        "postgres" => {
            let admin = std::env::var("JINGXI_BENCH_POSTGRES")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
            for sql in [
                "DROP DATABASE IF EXISTS jingxi_bench WITH (FORCE)",
                "CREATE DATABASE jingxi_bench",
            ] {
                let status = Command::new("psql")
                    .args([&format!("{admin}/postgres"), "-q", "-c", sql])
                    .status()?;
                if !status.success() {
                    bail!("psql {sql} failed");
                }
            }
            format!("{admin}/jingxi_bench")
        }
        other => bail!("unknown database {other}"),
    };
    let cache = data.join("plugin-cache");
    let env = vec![
        ("JINGXI__DATABASE__URL", url),
        ("JINGXI__HTTP__BIND", format!("127.0.0.1:{PORT}")),
        ("JINGXI__PLUGINS__CACHE_DIR", cache.display().to_string()),
        ("JINGXI__API__MAX_BATCH", "1000".to_string()),
    ];
    let plugins = target_dir().join("plugins");
    jingxi(&env, &["migrate"])?;
    for id in ["org", "crm"] {
        jingxi(
            &env,
            &[
                "plugin",
                "install",
                &plugins.join(format!("{id}.wasm")).display().to_string(),
            ],
        )?;
    }
    jingxi(&env, &["tenant", "create", "bench", "--plugins", "org,crm"])?;
    jingxi(
        &env,
        &[
            "user",
            "create",
            "--tenant",
            "bench",
            "admin@bench.test",
            "--role",
            "admin",
        ],
    )?;
    let token = jingxi(
        &env,
        &[
            "token",
            "create",
            "--tenant",
            "bench",
            "--user",
            "admin@bench.test",
        ],
    )?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.clients * 2)
        .build()?;

    // Cold start: no compiled plugins on disk; warm start: the cache from the cold start.
    let _ = std::fs::remove_dir_all(&cache);
    let server = start_server(&env)?;
    let cold = wait_healthy(&client, &server.url).await?;
    drop(server);
    let server = start_server(&env)?;
    let warm = wait_healthy(&client, &server.url).await?;
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss = rss_mib(pid);
    eprintln!("{database}: cold start {cold:?}, warm start {warm:?}, idle RSS {idle_rss:.1} MiB");

    let mut regions = Vec::new();
    for (i, city) in CITIES.iter().enumerate() {
        let data = graphql(
            &client,
            &server.url,
            &token,
            "mutation($input: OrgRegionInput!) { createOrgRegion(input: $input) { id } }",
            json!({"input": {"code": format!("R{i}"), "name": city, "level": "城市"}}),
        )
        .await
        .context("creating a region failed")?;
        regions.push(
            data["createOrgRegion"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let staff = graphql(&client, &server.url, &token, "{ me { id } }", json!({}))
        .await
        .context("reading the admin's id failed")?["me"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let started = Instant::now();
    let ids = load(
        &client,
        &server.url,
        &token,
        "CrmCustomer",
        options.records,
        |i| customer(i, &regions[i % regions.len()]),
    )
    .await?;
    let load_rate = options.records as f64 / started.elapsed().as_secs_f64();
    eprintln!(
        "  loaded {} customers at {load_rate:.0} records/s (batches of {LOAD_BATCH})",
        ids.len()
    );
    // One complaint per customer, spread over the year, for the KPI scenario; visit records
    // for the nested connection.
    load(
        &client,
        &server.url,
        &token,
        "CrmComplaint",
        options.records,
        |i| complaint(i, &ids[i]),
    )
    .await?;
    let visits = options.records * VISITS_PER_CUSTOMER;
    load(
        &client,
        &server.url,
        &token,
        "CrmVisitRecord",
        visits,
        |i| visit(i, &ids[i / VISITS_PER_CUSTOMER], &staff),
    )
    .await?;
    eprintln!(
        "  loaded {} complaints and {visits} visit records",
        options.records
    );

    let ids = Arc::new(ids);
    let regions = Arc::new(regions);
    let mut scenarios = Vec::new();
    let (url, token) = (server.url.clone(), token.clone());
    if options.runs(1) {
        let (client, url, token, ids) = (client.clone(), url.clone(), token.clone(), ids.clone());
        scenarios.push(
            drive("1. customer by id", options.clients, options.seconds, pid, move |n| {
                let (client, url, token, ids) = (client.clone(), url.clone(), token.clone(), ids.clone());
                async move {
                    let id = &ids[(n as usize * 7919) % ids.len()];
                    graphql(&client, &url, &token, "query($id: ID!) { crmCustomer(id: $id) { id name stage annualPotential } }", json!({"id": id}))
                        .await
                        .is_some_and(|d| !d["crmCustomer"].is_null())
                }
            })
            .await,
        );
    }
    if options.runs(2) {
        let (client, url, token, regions) =
            (client.clone(), url.clone(), token.clone(), regions.clone());
        scenarios.push(
            drive("2. page of 50, two indexed filters, sorted", options.clients, options.seconds, pid, move |n| {
                let (client, url, token, regions) = (client.clone(), url.clone(), token.clone(), regions.clone());
                async move {
                    let query = "query($stage: String!, $region: ID!) { crmCustomers(first: 50, filter: {stage: {eq: $stage}, regionId: {eq: $region}}, orderBy: [{field: CUSTOMER_NO}]) { nodes { id customerNo name } } }";
                    let variables = json!({"stage": STAGES[n as usize % STAGES.len()], "region": regions[n as usize % regions.len()]});
                    graphql(&client, &url, &token, query, variables).await.is_some()
                }
            })
            .await,
        );
    }
    if options.runs(3) {
        let (client, url, token, ids) = (client.clone(), url.clone(), token.clone(), ids.clone());
        scenarios.push(
            drive("3. customer with its region and latest 10 visits", options.clients, options.seconds, pid, move |n| {
                let (client, url, token, ids) = (client.clone(), url.clone(), token.clone(), ids.clone());
                async move {
                    let id = &ids[(n as usize * 104_729) % ids.len()];
                    let query = "query($id: ID!) { crmCustomer(id: $id) { name region { name code } crmVisitRecordsByCustomer(first: 10, orderBy: [{field: VISIT_DATE, direction: DESC}]) { totalCount nodes { visitDate visitType content } } } }";
                    graphql(&client, &url, &token, query, json!({"id": id})).await.is_some_and(|d| {
                        let customer = &d["crmCustomer"];
                        !customer["region"].is_null() && customer["crmVisitRecordsByCustomer"]["nodes"].as_array().is_some_and(|v| v.len() == VISITS_PER_CUSTOMER)
                    })
                }
            })
            .await,
        );
    }
    if options.runs(4) {
        let (client, url, token, regions) =
            (client.clone(), url.clone(), token.clone(), regions.clone());
        let base = options.records;
        scenarios.push(
            drive("4. create one customer", options.clients, options.seconds, pid, move |n| {
                let (client, url, token, regions) = (client.clone(), url.clone(), token.clone(), regions.clone());
                async move {
                    let i = base + 1_000_000 + n as usize;
                    let query = "mutation($input: CrmCustomerInput!) { createCrmCustomer(input: $input) { id } }";
                    graphql(&client, &url, &token, query, json!({"input": customer(i, &regions[i % regions.len()])})).await.is_some()
                }
            })
            .await,
        );
    }
    if options.runs(5) {
        let (client, url, token, regions) =
            (client.clone(), url.clone(), token.clone(), regions.clone());
        let base = options.records + 50_000_000;
        let clients = options.clients.min(4);
        let mut figures = drive("5. batch create of 500 (requests)", clients, options.seconds, pid, move |n| {
            let (client, url, token, regions) = (client.clone(), url.clone(), token.clone(), regions.clone());
            async move {
                let start = base + n as usize * 500;
                let inputs: Vec<Value> = (start..start + 500).map(|i| customer(i, &regions[i % regions.len()])).collect();
                let query = "mutation($inputs: [CrmCustomerInput!]!) { createCrmCustomers(inputs: $inputs) { id } }";
                graphql(&client, &url, &token, query, json!({"inputs": inputs})).await.is_some()
            }
        })
        .await;
        figures.name = format!(
            "5. batch create of 500 ({:.0} records/s)",
            figures.per_second * 500.0
        );
        scenarios.push(figures);
    }
    if options.runs(6) {
        let (client, url, token, regions) =
            (client.clone(), url.clone(), token.clone(), regions.clone());
        scenarios.push(
            drive("6. aggregate: count and sum by stage, one region", options.clients, options.seconds, pid, move |n| {
                let (client, url, token, regions) = (client.clone(), url.clone(), token.clone(), regions.clone());
                async move {
                    let query = "query($region: ID!) { crmCustomersAggregate(filter: {regionId: {eq: $region}}, groupBy: [STAGE]) { key count sum { annualPotential } } }";
                    let variables = json!({"region": regions[n as usize % regions.len()]});
                    graphql(&client, &url, &token, query, variables)
                        .await
                        .is_some_and(|d| d["crmCustomersAggregate"].as_array().is_some_and(|g| !g.is_empty()))
                }
            })
            .await,
        );
    }
    if options.runs(7) {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        scenarios.push(
            drive(
                "7. KPI: complaint acceptance timeliness, one month",
                options.clients,
                options.seconds,
                pid,
                move |n| {
                    let (client, url, token) = (client.clone(), url.clone(), token.clone());
                    async move {
                        let month = n as usize % 12 + 1;
                        let last = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
                        let (from, to) = (
                            format!("2026-{month:02}-01"),
                            format!("2026-{month:02}-{last}"),
                        );
                        acceptance_timeliness(&client, &url, &token, &from, &to).await
                    }
                },
            )
            .await,
        );
    }
    if options.runs(8) {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        scenarios.push(
            drive(
                "8. KPI: complaint acceptance timeliness, whole year",
                options.clients,
                options.seconds,
                pid,
                move |_| {
                    let (client, url, token) = (client.clone(), url.clone(), token.clone());
                    async move {
                        acceptance_timeliness(&client, &url, &token, "2026-01-01", "2026-12-31")
                            .await
                    }
                },
            )
            .await,
        );
    }
    drop(server);
    Ok(DatabaseRun {
        database: database.to_string(),
        records: options.records,
        cold_start_ms: cold.as_secs_f64() * 1000.0,
        warm_start_ms: warm.as_secs_f64() * 1000.0,
        idle_rss_mib: idle_rss,
        load_records_per_second: load_rate,
        scenarios,
    })
}

/// Serves `GET /json` → `{"ok": true}` with actix-web: the ceiling a JSON API can reach here.
pub fn ceiling_server() -> anyhow::Result<()> {
    let system = actix_web::rt::System::new();
    system.block_on(async {
        actix_web::HttpServer::new(|| {
            actix_web::App::new().route(
                "/json",
                actix_web::web::get()
                    .to(|| async { actix_web::HttpResponse::Ok().json(json!({"ok": true})) }),
            )
        })
        .bind(("127.0.0.1", CEILING_PORT))?
        .run()
        .await
    })?;
    Ok(())
}

async fn bench_ceiling(options: &Options) -> anyhow::Result<Figures> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("ceiling-server")
        .stdout(Stdio::null())
        .spawn()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.clients * 2)
        .build()?;
    let url = format!("http://127.0.0.1:{CEILING_PORT}");
    let started = Instant::now();
    while client.get(format!("{url}/json")).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            bail!("the ceiling server did not start");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = child.id();
    let figures = drive(
        "minimal actix-web JSON endpoint",
        options.clients,
        options.seconds,
        pid,
        move |_| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                client
                    .get(format!("{url}/json"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        },
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    Ok(figures)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {memory} memory, Linux; load generator and server share the machine"
    )
}

fn report(options: &Options, runs: &[DatabaseRun], ceiling: &Figures) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Machine: {}.\n{} clients, {} s per scenario, {} customers (each with 2 contacts), as many complaints and {VISITS_PER_CUSTOMER} visit records per customer loaded before the runs.\n\n",
        machine(),
        options.clients,
        options.seconds,
        options.records
    ));
    for run in runs {
        out.push_str(&format!(
            "### {} — {} customers\n\nStart-up to healthy: cold plugin cache {:.0} ms, warm {:.0} ms. Idle RSS {:.1} MiB. Loading: {:.0} records/s.\n\n",
            run.database, run.records, run.cold_start_ms, run.warm_start_ms, run.idle_rss_mib, run.load_records_per_second
        ));
        out.push_str("| scenario | requests/s | p50 ms | p99 ms | errors | server RSS MiB |\n|---|---:|---:|---:|---:|---:|\n");
        for s in &run.scenarios {
            out.push_str(&format!(
                "| {} | {:.0} | {:.2} | {:.2} | {} | {:.1} |\n",
                s.name, s.per_second, s.p50_ms, s.p99_ms, s.errors, s.rss_mib
            ));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "### Ceiling: minimal actix-web JSON endpoint\n\n| requests/s | p50 ms | p99 ms | errors | RSS MiB |\n|---:|---:|---:|---:|---:|\n| {:.0} | {:.2} | {:.2} | {} | {:.1} |\n",
        ceiling.per_second, ceiling.p50_ms, ceiling.p99_ms, ceiling.errors, ceiling.rss_mib
    ));
    out
}

/// Builds release, runs every database and the ceiling, prints the tables (and writes them into
/// docs/benchmarks.md with `--write-docs`).
pub fn bench(options: Options) -> anyhow::Result<()> {
    crate::build()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (runs, ceiling) = runtime.block_on(async {
        let mut runs = Vec::new();
        for database in &options.databases {
            if database == "postgres" {
                crate::ensure_postgres()?;
            }
            eprintln!("== {database}: {} customers", options.records);
            runs.push(bench_database(database, &options).await?);
        }
        eprintln!("== ceiling");
        let ceiling = bench_ceiling(&options).await?;
        anyhow::Ok((runs, ceiling))
    })?;
    let text = report(&options, &runs, &ceiling);
    eprintln!("\n{text}");
    if options.write_docs {
        let path = root().join("docs/benchmarks.md");
        write_section(&path, options.records, &text)?;
        eprintln!("updated {}", path.display());
    }
    Ok(())
}

/// Replaces the section for `records` in docs/benchmarks.md between its markers, keeping the rest.
fn write_section(path: &Path, records: usize, text: &str) -> anyhow::Result<()> {
    let begin = format!("<!-- bench:{records}:begin -->");
    let end = format!("<!-- bench:{records}:end -->");
    let current = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n\n".into());
    let section = format!("{begin}\n## {records} customers\n\n{text}{end}\n");
    let updated = match (current.find(&begin), current.find(&end)) {
        (Some(start), Some(stop)) => format!(
            "{}{}{}",
            &current[..start],
            section,
            &current[stop + end.len() + 1..]
        ),
        _ => format!("{}\n{}", current.trim_end(), section),
    };
    std::fs::write(path, updated)?;
    Ok(())
}
