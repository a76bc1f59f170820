//! Configuration: built-in defaults < `jingxi.toml` < `JINGXI__SECTION__KEY` environment variables.
//!
//! **Invariant:** each layer receives only its own section; nothing else reads the environment.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::plugin_host::PluginHostConfig;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: StoreConfig,
    pub http: HttpConfig,
    pub plugins: PluginHostConfig,
    pub api: ApiConfig,
}

/// Where records live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://path/to/file.db?mode=rwc` (default, embedded) or `postgres://user@host/db`.
    pub url: String,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite://jingxi-data/jingxi.db?mode=rwc".into(),
            max_connections: 16,
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
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_depth: 12,
            max_complexity: 5000,
            max_page_size: 500,
            default_page_size: 50,
            max_batch: 1000,
            refresh_interval_ms: 500,
            operator_tenant: None,
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
