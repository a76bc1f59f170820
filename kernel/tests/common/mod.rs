//! Helpers shared by the store-level tests.
// Each test binary uses the helpers it needs.
#![allow(dead_code)]

use jingxi_kernel::config::StoreConfig;
use jingxi_kernel::store::Store;

/// A store on `url` with the kernel's tables migrated.
pub async fn open_store(url: &str) -> Store {
    let store = Store::connect(&StoreConfig {
        url: url.to_string(),
        max_connections: 2,
        ..StoreConfig::default()
    })
    .await
    .expect("store");
    store.migrate().await.expect("migrations");
    store
}

/// The PostgreSQL URL in `DATABASE_URL`, if the environment names one.
pub fn postgres_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
}
