//! Test harness: a real kernel served over real HTTP on a loopback port, on a fresh database.
//!
//! `DATABASE_URL` selects the backend: unset means a new SQLite file per test; a `postgres://` URL
//! means a new database per test, named after the test, on that server. Plugins come from
//! `JINGXI_TEST_PLUGINS` (default `target/plugins`, built by `cargo xtask plugins`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use jingxi_kernel::store::GrantRow;
use jingxi_kernel::{Config, Kernel};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

/// One running server with its own database.
pub struct TestServer {
    pub url: String,
    pub kernel: Arc<Kernel>,
    pub config: Config,
    _handle: actix_web_handle::Handle,
    _dir: tempfile::TempDir,
}

mod actix_web_handle {
    /// Stops the server when the test ends.
    pub struct Handle(pub tokio::task::JoinHandle<()>);
    impl Drop for Handle {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
}

/// A tenant made for a test, with an admin token.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub slug: String,
    pub admin: String,
}

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// The folder of built plugins.
pub fn plugins_dir() -> PathBuf {
    std::env::var_os("JINGXI_TEST_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/plugins"))
}

/// The `.wasm` of a test fixture under `tests/fixtures/<name>`.
pub fn fixture_wasm(name: &str) -> Vec<u8> {
    let path = plugins_dir().join("fixtures").join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read {}: {error}. Hint: run `cargo xtask plugins`",
            path.display()
        )
    })
}

/// The `.wasm` of a plugin built from this workspace.
pub fn plugin_wasm(id: &str) -> Vec<u8> {
    let path = plugins_dir().join(format!("{id}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read {}: {error}. Hint: run `cargo xtask test` (it builds the plugins first)",
            path.display()
        )
    })
}

/// `target/<profile>/jingxi`, next to the folder of the running test binary.
pub fn jingxi_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let binary = dir.join("jingxi");
    assert!(
        binary.exists(),
        "{} is missing. Hint: `cargo test --workspace` (or `cargo xtask test`) builds it",
        binary.display()
    );
    binary
}

fn database_name() -> String {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("test");
    let mut db: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    db.truncate(50);
    format!("jx_{db}_{}", std::process::id())
}

/// A fresh database URL for this test.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let name = database_name();
            let admin = Database::connect(&url)
                .await
                .expect("connect to PostgreSQL");
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .expect("drop database");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create database");
            admin.close().await.ok();
            let base = url.rsplit_once('/').map(|(base, _)| base).unwrap_or(&url);
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("jingxi.db").display()),
    }
}

impl TestServer {
    /// A server with `org` and `crm` installed and nothing else.
    pub async fn new() -> TestServer {
        Self::configured(|_| {}).await
    }

    /// A server with nothing installed.
    pub async fn bare() -> TestServer {
        Self::build(|_| {}, &[]).await
    }

    /// Like `new`, with configuration changes.
    pub async fn configured(change: impl FnOnce(&mut Config)) -> TestServer {
        Self::build(change, &["org", "crm"]).await
    }

    async fn build(change: impl FnOnce(&mut Config), plugins: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.database.url = fresh_database(dir.path()).await;
        config.database.max_connections = 8;
        config.plugins.cache_dir = workspace().join("target/test-plugin-cache");
        config.http.workers = 2;
        config.api.refresh_interval_ms = 100;
        // The sandbox's time limits are tested on their own (kernel/tests/sandbox.rs); here a
        // busy machine must not turn a slow but correct hook call into a failure.
        config.plugins.hook_timeout_ms = 2_000;
        change(&mut config);
        Self::start(config, dir, plugins).await
    }

    /// A server on an existing configuration (for a second node on the same database).
    pub async fn start(config: Config, dir: tempfile::TempDir, plugins: &[&str]) -> TestServer {
        jingxi_kernel::runtime::install_tls_provider();
        let kernel = jingxi_kernel::app(config.clone())
            .await
            .expect("kernel starts");
        for id in plugins {
            kernel
                .install_plugin(plugin_wasm(id))
                .await
                .expect("plugin installs");
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let serving = kernel.clone();
        let handle = tokio::spawn(async move {
            if let Err(error) = jingxi_kernel::serve(serving, listener).await {
                panic!("server failed: {error}");
            }
        });
        TestServer {
            url,
            kernel,
            config,
            _handle: actix_web_handle::Handle(handle),
            _dir: dir,
        }
    }

    /// Another server (another kernel node) on the same database, with nothing installed by it.
    pub async fn second_node(&self) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start(self.config.clone(), dir, &[]).await
    }

    /// Creates a tenant with plugins and an admin user; returns its admin token.
    pub async fn tenant(&self, slug: &str, plugins: &[&str]) -> Tenant {
        let plugins: Vec<String> = plugins.iter().map(|p| p.to_string()).collect();
        self.kernel
            .create_tenant(slug, slug, &plugins)
            .await
            .expect("tenant created");
        let email = format!("admin@{slug}.test");
        self.kernel
            .create_user(
                slug,
                &email,
                "管理员",
                Some("correct horse battery"),
                &["admin".to_string()],
                None,
            )
            .await
            .expect("admin created");
        let admin = self
            .kernel
            .create_token(slug, &email, "test", None)
            .await
            .expect("token");
        Tenant {
            slug: slug.to_string(),
            admin,
        }
    }

    /// Creates a user with roles (and optionally an org unit) and returns a token for them.
    pub async fn user(
        &self,
        tenant: &Tenant,
        email: &str,
        roles: &[&str],
        org_unit: Option<uuid::Uuid>,
    ) -> String {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        self.kernel
            .create_user(&tenant.slug, email, email, None, &roles, org_unit)
            .await
            .expect("user created");
        self.kernel
            .create_token(&tenant.slug, email, "test", None)
            .await
            .expect("token")
    }

    /// Creates a role with exactly these grants: (entity, actions, scope).
    pub async fn role(&self, slug: &str, role: &str, grants: &[(&str, &[&str], &str)]) {
        let tenant = self.kernel.tenant(slug).await.expect("tenant");
        self.kernel
            .store
            .upsert_role(tenant.id, role, role, role, "test")
            .await
            .expect("role");
        let rows: Vec<GrantRow> = grants
            .iter()
            .flat_map(|(entity, actions, scope)| {
                actions.iter().map(move |action| GrantRow {
                    role: role.into(),
                    entity: (*entity).into(),
                    action: (*action).into(),
                    scope: (*scope).into(),
                })
            })
            .collect();
        self.kernel
            .store
            .replace_grants(tenant.id, &format!("test:{role}"), &rows)
            .await
            .expect("grants");
    }

    /// POSTs a GraphQL request with a token and returns the body and status.
    pub async fn graphql(&self, token: &str, query: &str, variables: Value) -> (Value, u16) {
        self.graphql_with(Some(token), query, variables, None).await
    }

    pub async fn graphql_with(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        locale: Option<&str>,
    ) -> (Value, u16) {
        let client = reqwest::Client::new();
        let mut request = client
            .post(format!("{}/graphql", self.url))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(locale) = locale {
            request = request.header("Accept-Language", locale);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let body = response.json().await.expect("JSON body");
        (body, status)
    }

    /// Like `graphql`, but panics on GraphQL errors and returns `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (body, status) = self.graphql(token, query, variables).await;
        assert!(
            body.get("errors").is_none() && status == 200,
            "unexpected errors ({status}): {body:#}"
        );
        body["data"].clone()
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (Value, u16) {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        (response.json().await.expect("JSON body"), status)
    }
}

/// The first error's `extensions.code`.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no code>")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A `jingxi serve` process of its own (for tests that kill it or measure its memory).
pub struct ServerProcess {
    pub child: std::process::Child,
    pub url: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Resident memory of the process in MiB (Linux), 0 where unknown.
    pub fn rss_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kib| kib.parse::<f64>().ok())
            })
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

/// Starts `jingxi serve` on `database` and a loopback `port`.
pub fn spawn_server(database: &str, port: u16) -> ServerProcess {
    let child = std::process::Command::new(jingxi_binary())
        .arg("serve")
        .env("JINGXI__DATABASE__URL", database)
        .env("JINGXI__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env(
            "JINGXI__PLUGINS__CACHE_DIR",
            workspace().join("target/test-plugin-cache"),
        )
        .env("JINGXI__PLUGINS__HOOK_TIMEOUT_MS", "2000")
        .env("JINGXI_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("jingxi serve starts");
    ServerProcess {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// Waits until the server answers `/healthz` (at most 30 s).
pub async fn wait_healthy(url: &str) {
    let started = std::time::Instant::now();
    while reqwest::get(format!("{url}/healthz")).await.is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the server did not come up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Installs `plugins` into a fresh database, creates the tenant `acme` with them and its admin,
/// and returns an admin token: a database ready for a separate server process.
pub async fn prepare_database(database: &str, plugins: &[&str]) -> String {
    jingxi_kernel::runtime::install_tls_provider();
    let mut config = Config::default();
    config.database.url = database.to_string();
    config.plugins.cache_dir = workspace().join("target/test-plugin-cache");
    let kernel = jingxi_kernel::app(config).await.expect("kernel");
    for id in plugins {
        kernel
            .install_plugin(plugin_wasm(id))
            .await
            .expect("plugin installs");
    }
    let plugins: Vec<String> = plugins.iter().map(|p| p.to_string()).collect();
    kernel
        .create_tenant("acme", "Acme", &plugins)
        .await
        .expect("tenant");
    kernel
        .create_user(
            "acme",
            "admin@acme.test",
            "管理员",
            None,
            &["admin".to_string()],
            None,
        )
        .await
        .expect("admin");
    kernel
        .create_token("acme", "admin@acme.test", "tests", None)
        .await
        .expect("token")
}
