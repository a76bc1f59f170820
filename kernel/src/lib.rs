//! Jingxi kernel: tenants, users, permissions, storage and one GraphQL API, with business modules
//! as sandboxed WebAssembly plugins.
//!
//! Layers, each using only those before it:
//! `config` → `model` (manifests, entity definitions) → `store` (SQL) → `plugin_host` (wasm) →
//! `permissions` → `runtime` (record operations, tenancy) → `graphql` → `http` → `scaffold`
//! (`jingxi plugin new`) → `cli`.
//! [`app`] builds the kernel for `main.rs` and the tests.

pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod graphql;
pub mod http;
pub mod model;
pub mod permissions;
pub mod plugin_host;
pub mod runtime;
pub mod scaffold;
pub mod store;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

pub use config::Config;
pub use runtime::Kernel;

/// Opens the kernel (database, migrations, installed plugins) for `config`.
pub async fn app(config: Config) -> anyhow::Result<Arc<Kernel>> {
    Kernel::open(config).await
}

/// Serves the API on `listener`, delivers webhooks, and keeps every tenant's schema in step with
/// changes made by other processes. Resolves when the server stops.
pub async fn serve(kernel: Arc<Kernel>, listener: TcpListener) -> anyhow::Result<()> {
    let server = http::serve(kernel.clone(), listener)?;
    let webhooks = kernel
        .config
        .webhooks
        .enabled
        .then(|| tokio::spawn(kernel.clone().run_webhooks()));
    let feed = tokio::spawn(kernel.clone().run_event_feed());
    let refresher = tokio::spawn(refresh_loop(kernel));
    let result = server.await;
    refresher.abort();
    feed.abort();
    if let Some(webhooks) = webhooks {
        webhooks.abort();
    }
    Ok(result?)
}

/// Looks for module changes made by the CLI or other nodes on the same database.
pub async fn refresh_loop(kernel: Arc<Kernel>) {
    let interval = Duration::from_millis(kernel.config.api.refresh_interval_ms.max(50));
    loop {
        tokio::time::sleep(interval).await;
        if let Err(error) = kernel.refresh().await {
            tracing::warn!(%error, "refreshing tenant catalogs failed");
        }
    }
}
