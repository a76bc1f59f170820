//! SQLite's write-ahead log is copied into the database file in the background, and started
//! again from its beginning even while writers never pause: under a steady stream of write
//! transactions the log is restarted over and over instead of growing without end, and every
//! committed record stays readable.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use jingxi_kernel::model::EntityDef;
use jingxi_kernel::store::{Access, Rows};
use serde_json::{Map, Value, json};
use uuid::Uuid;

mod common;

fn entity() -> EntityDef {
    EntityDef::new(
        "note",
        "log_note",
        json!({"type": "object", "title": "便笺", "properties": {
            "title": {"type": "string", "title": "标题"},
            "body": {"type": "string", "title": "正文"}
        }}),
    )
    .expect("the test entity is valid")
}

/// The first salt of the log's header: SQLite changes it each time it starts the log again.
fn log_salt(database: &Path) -> Option<[u8; 4]> {
    let mut log = database.as_os_str().to_owned();
    log.push("-wal");
    let header = std::fs::read(log).ok()?;
    header
        .get(16..20)
        .map(|salt| salt.try_into().expect("four bytes"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_restarts_under_writes_that_never_pause() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.db");
    let store = common::open_store(&format!("sqlite://{}?mode=rwc", path.display())).await;
    let entity = entity();
    store.ensure_tables(&entity).await.expect("tables");
    let access = Access {
        tenant_id: 1,
        user_id: Uuid::now_v7(),
        org_unit_id: None,
        rows: Rows::All,
        level: Access::ALL_LEVELS,
    };
    let body = "记录".repeat(200);

    // One writer, one transaction after another, for long enough to span several checkpoint
    // intervals; the log's salt is read between transactions.
    let started = Instant::now();
    let (mut written, mut salts) = (0u64, HashSet::new());
    while started.elapsed() < Duration::from_secs(3) {
        let records: Vec<Map<String, Value>> = (0..20)
            .map(|n| {
                let mut record = Map::new();
                record.insert("title".into(), json!(format!("note {written}-{n}")));
                record.insert("body".into(), json!(body));
                record
            })
            .collect();
        let mut tx = store.begin().await.expect("begin");
        tx.insert_records(&access, &entity, &records, None, Utc::now())
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
        written += records.len() as u64;
        salts.extend(log_salt(&path));
    }

    assert!(
        salts.len() >= 3,
        "the log was started again {} times in 3 s of writes ({written} records)",
        salts.len().saturating_sub(1)
    );
    let stored = store
        .count_records(&access, &entity, None)
        .await
        .expect("count");
    assert_eq!(stored, written, "every committed record is readable");
}
