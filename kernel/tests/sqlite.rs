//! What the store does to SQLite behind the records: the write-ahead log is copied into the
//! database file in the background and started again from its beginning even while writers
//! never pause (so it does not grow without end, and every committed record stays readable);
//! planner statistics keep no `sqlite_stat4` samples, with which SQLite would compile every
//! statement on an indexed column again at each run.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use jingxi_kernel::model::EntityDef;
use jingxi_kernel::store::{Access, Rows};
use sea_orm::{ConnectionTrait, Database, Statement};
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

fn access() -> Access {
    Access {
        tenant_id: 1,
        user_id: Uuid::now_v7(),
        org_unit_id: None,
        rows: Rows::All,
        level: Access::ALL_LEVELS,
    }
}

fn note(n: usize) -> Map<String, Value> {
    let mut record = Map::new();
    record.insert("title".into(), json!(format!("note {n}")));
    record
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
    let access = access();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_of_a_grown_table_keep_no_samples() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("stats.db").display()
    );
    let store = common::open_store(&url).await;
    let entity = entity();
    store.ensure_tables(&entity).await.expect("tables");
    let records: Vec<Map<String, Value>> = (0..1_500).map(note).collect();
    let mut tx = store.begin().await.expect("begin");
    tx.insert_records(&access(), &entity, &records, None, Utc::now())
        .await
        .expect("insert");
    tx.commit().await.expect("commit");

    // 1,500 new rows are more than the 1,000 after which the table's statistics are refreshed,
    // in the background.
    let db = Database::connect(&url).await.expect("second connection");
    let rows_of = |statistics: &'static str| {
        let (db, table) = (&db, &entity.table);
        async move {
            let sql = format!("SELECT COUNT(*) AS n FROM {statistics} WHERE tbl = '{table}'");
            let row = db
                .query_one(Statement::from_string(db.get_database_backend(), sql))
                .await
                .ok()
                .flatten();
            row.and_then(|row| row.try_get::<i64>("", "n").ok())
                .unwrap_or(0)
        }
    };
    let started = Instant::now();
    while rows_of("sqlite_stat1").await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the statistics of {} were never refreshed",
            entity.table
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        rows_of("sqlite_stat4").await,
        0,
        "sqlite_stat4 keeps samples of {}",
        entity.table
    );
}
