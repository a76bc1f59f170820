//! Configuration: built-in defaults < `jingxi.toml` < `JINGXI__SECTION__KEY` environment variables.
//!
//! **Invariant:** each layer receives only its own section; nothing else reads the environment.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: StoreConfig,
    pub http: HttpConfig,
    pub plugins: PluginHostConfig,
    pub api: ApiConfig,
    pub auth: AuthConfig,
    pub webhooks: WebhookConfig,
}

/// Tokens and password login.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Hours a token from `/auth/login` stays valid.
    pub login_token_ttl_hours: u32,
    /// Days an API token from `jingxi token create` stays valid unless `--ttl-days` says otherwise.
    pub api_token_ttl_days: u32,
    /// Failed logins of one account before it is locked for `lockout_seconds`.
    pub max_failed_logins: u32,
    /// How long an account stays locked after too many failed logins, in seconds.
    pub lockout_seconds: u64,
    /// Login attempts one client address may make per minute.
    pub logins_per_minute_per_address: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            login_token_ttl_hours: 12,
            api_token_ttl_days: 90,
            max_failed_logins: 5,
            lockout_seconds: 900,
            logins_per_minute_per_address: 30,
        }
    }
}

/// Delivery of events to the webhooks tenants register.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Deliver at all (`false` keeps events in the outbox for another node to send).
    pub enabled: bool,
    /// How often (ms) the outbox is checked for new events and due retries.
    pub poll_interval_ms: u64,
    /// Longest one delivery may take, in ms.
    pub timeout_ms: u64,
    /// Attempts before a delivery is given up (and marked failed).
    pub max_attempts: u32,
    /// Wait before the first retry, in ms; doubles with each attempt.
    pub retry_base_ms: u64,
    /// Longest wait between retries, in ms.
    pub retry_max_ms: u64,
    /// Days a sent event stays in the outbox (the audit trail keeps every change for good).
    pub retention_days: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            enabled: true,
            poll_interval_ms: 500,
            timeout_ms: 5000,
            max_attempts: 10,
            retry_base_ms: 1000,
            retry_max_ms: 3_600_000,
            retention_days: 7,
        }
    }
}

/// Where records live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://path/to/file.db?mode=rwc` (default, embedded) or `postgres://user@host/db`.
    pub url: String,
    /// Connections in the pool.
    pub max_connections: u32,
    /// SQLite only: the page cache of each connection, in MiB (0 keeps SQLite's 2 MB).
    pub sqlite_cache_mib: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite://jingxi-data/jingxi.db?mode=rwc".into(),
            max_connections: 16,
            sqlite_cache_mib: 16,
        }
    }
}

/// The HTTP listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub bind: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bind: "127.0.0.1:8080".into(),
            max_body_bytes: 2 * 1024 * 1024,
            workers: 0,
        }
    }
}

/// Limits of the GraphQL API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Largest `first`/`last` of a list.
    pub max_page_size: u64,
    /// Default page size when neither `first` nor `last` is given.
    pub default_page_size: u64,
    /// Largest number of records in one batch create.
    pub max_batch: usize,
    /// How often (ms) a node looks for module changes made by other processes.
    pub refresh_interval_ms: u64,
    /// The tenant whose admins may install plugins through the API (plugins are shared by all
    /// tenants). Unset: installing is only possible with the CLI.
    pub operator_tenant: Option<String>,
    /// How often (ms) an open subscription checks its token again; a revoked or expired token,
    /// or changed roles, close it.
    pub subscription_recheck_ms: u64,
    /// How often (ms) a node with subscribers reads the outbox for changes other nodes committed.
    pub event_poll_ms: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_depth: 20,
            max_complexity: 5000,
            max_page_size: 500,
            default_page_size: 50,
            max_batch: 1000,
            refresh_interval_ms: 500,
            operator_tenant: None,
            subscription_recheck_ms: 5000,
            event_poll_ms: 250,
        }
    }
}

impl Config {
    /// Loads defaults, then `file` (or `./jingxi.toml` when it exists), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<(Config, Option<PathBuf>)> {
        let default_file = PathBuf::from("jingxi.toml");
        let file = match file {
            Some(path) => Some(path.to_path_buf()),
            None => default_file.exists().then_some(default_file),
        };
        let mut builder = config::Config::builder();
        if let Some(path) = &file {
            builder = builder.add_source(config::File::from(path.as_path()).required(true));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("JINGXI")
                .separator("__")
                .try_parsing(true),
        );
        let config: Config = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|error| anyhow::anyhow!("invalid configuration: {error}"))?;
        Ok((config, file))
    }
}

/// Settings of the plugin host (the `[plugins]` section of the kernel configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginHostConfig {
    /// Where compiled plugins are cached; created private to the kernel. Default
    /// `jingxi-data/plugin-cache`.
    pub cache_dir: PathBuf,
    /// Wall-clock limit of `validate`, `compute` and `on_transition`, including instantiation.
    /// Default 50.
    pub hook_timeout_ms: u64,
    /// Wall-clock limit of `kpi`, which may aggregate many records, and of `describe` at load,
    /// which must not fail because a restart keeps the machine busy. Default 2000.
    pub kpi_timeout_ms: u64,
    /// Linear memory a plugin may use during one call. Default 64.
    pub memory_limit_mib: u64,
    /// Fuel (roughly, wasm instructions) per call, for budgets that are the same on every run.
    /// Default `None`: only the time limit applies. Turning it on makes every plugin slightly
    /// slower and recompiles cached artifacts once, because metering changes the generated code.
    pub fuel: Option<u64>,
    /// Hook calls that may run at once; a call beyond that fails with [`Error::Busy`] at once.
    /// Each slot reserves about 8 GiB of virtual address space (not memory). Default 64.
    pub max_concurrent_calls: u32,
    /// The largest plugin accepted by [`PluginHost::load`]. Default 8 MiB.
    pub max_wasm_bytes: usize,
    /// Longest a plugin may take to compile at install; a slower one is refused. Default 30000.
    pub compile_timeout_ms: u64,
    /// Data memory the compiler may use for one plugin, in MiB; a plugin that needs more is
    /// refused. Enforced when compiling in a worker process (see `compile_worker`). Default 1024.
    pub compile_memory_limit_mib: u64,
    /// The `jingxi` executable that compiles plugins in a child process (`jingxi
    /// compile-plugin`). The `jingxi` command sets it to itself; unset, a library embedding the
    /// kernel compiles in-process on a thread (time-limited, not memory-limited).
    pub compile_worker: Option<PathBuf>,
    /// The key that signs cached artifacts. The kernel sets it from its database; it is not
    /// read from files or the environment.
    #[serde(skip)]
    pub artifact_key: Option<String>,
    /// The largest input of one call (records, params, comment and names). Default 1 MiB.
    pub max_input_bytes: usize,
    /// The largest output of one call. Default 1 MiB.
    pub max_output_bytes: usize,
    /// Log text a plugin may write during one call; the rest is dropped. Default 4 KiB.
    pub max_log_bytes: usize,
}

impl Default for PluginHostConfig {
    fn default() -> Self {
        PluginHostConfig {
            cache_dir: PathBuf::from("jingxi-data/plugin-cache"),
            hook_timeout_ms: 50,
            kpi_timeout_ms: 2000,
            memory_limit_mib: 64,
            fuel: None,
            max_concurrent_calls: 64,
            max_wasm_bytes: 8 * 1024 * 1024,
            compile_timeout_ms: 30_000,
            compile_memory_limit_mib: 1024,
            compile_worker: None,
            artifact_key: None,
            max_input_bytes: 1024 * 1024,
            max_output_bytes: 1024 * 1024,
            max_log_bytes: 4 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_lists_every_key_and_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../jingxi.example.toml");
        let (config, file) = Config::load(Some(&path)).expect("jingxi.example.toml loads");
        assert!(file.is_some());
        assert_eq!(config.http.bind, HttpConfig::default().bind);
        assert_eq!(config.database.url, StoreConfig::default().url);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[http]\nbindd = \"0.0.0.0:1\"\n").expect("write");
        let error = Config::load(Some(&path)).expect_err("unknown key");
        assert!(error.to_string().contains("bindd"), "{error}");
    }
}
