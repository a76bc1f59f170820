//! `insert_records` answers with the records as the values it wrote read back, without reading
//! them: for every field kind, child tables, absent values and the system columns, what it
//! returns must equal what `get_records` reads afterwards. On SQLite always; on PostgreSQL too
//! when `DATABASE_URL` names one.

use chrono::{DateTime, Utc};
use jingxi_kernel::model::EntityDef;
use jingxi_kernel::store::{Access, Rows};
use serde_json::{Map, Value, json};
use uuid::Uuid;

mod common;

fn entity(name: &str, with_json: bool) -> EntityDef {
    let mut properties = json!({
        "title": {"type": "string", "title": "标题"},
        "day": {"type": "string", "format": "date", "title": "日期"},
        "at": {"type": "string", "format": "date-time", "title": "时间"},
        "amount": {"type": "string", "title": "金额", "x-jingxi": {"money": {}}},
        "rate": {"type": "string", "title": "比率", "x-jingxi": {"decimal": {"scale": 4}}},
        "qty": {"type": "integer", "title": "数量"},
        "ratio": {"type": "number", "title": "比例"},
        "flag": {"type": "boolean", "title": "标志"},
        "region": {"type": "string", "format": "uuid", "title": "区域",
            "x-jingxi": {"ref": "org.region"}},
        "secret": {"type": "integer", "title": "机密", "x-jingxi": {"level": 2}},
        "lines": {"type": "array", "title": "行", "items": {"type": "object", "properties": {
            "item": {"type": "string", "title": "项"},
            "n": {"type": "integer", "title": "数"},
            "price": {"type": "string", "title": "价", "x-jingxi": {"money": {}}}
        }}}
    });
    if with_json {
        properties["meta"] = json!({"type": "object", "title": "元数据"});
        properties["tags"] = json!({"type": "array", "title": "标签", "items": {"type": "string"}});
    }
    EntityDef::new(
        "written",
        name,
        json!({"type": "object", "title": "写入", "properties": properties}),
    )
    .expect("the test entity is valid")
}

/// Values in the shapes clients send, which the database stores in its own.
fn inputs(with_json: bool) -> Vec<Map<String, Value>> {
    let mut records = vec![
        json!({
            "title": "杭州恒达", "day": "2026-02-28", "at": "2026-11-27T09:30:00.123456789+08:00",
            "amount": "1500.5", "rate": 0.25, "qty": 42, "ratio": 1, "flag": true,
            "region": Uuid::from_u128(7).to_string(), "secret": 9,
            "lines": [{"item": "冰箱", "n": 2, "price": "3999"}, {"item": "空调"}],
        }),
        json!({"title": "only a title"}),
        json!({
            "title": "", "amount": "-0.01", "rate": "12.3456", "qty": -1, "ratio": 0.1,
            "flag": false, "at": "2026-01-01T00:00:00Z", "lines": [],
        }),
    ];
    if with_json {
        records[0]["meta"] = json!({"zeta": 1.0, "a": [1, 2.5, {"b": null}], "long key": "值"});
        records[0]["tags"] = json!(["甲", "乙"]);
        records[2]["meta"] = json!({});
    }
    records
        .into_iter()
        .map(|r| r.as_object().cloned().expect("object"))
        .collect()
}

async fn check(url: &str, table: &str, with_json: bool) {
    let store = common::open_store(url).await;
    let entity = entity(table, with_json);
    store.ensure_tables(&entity).await.expect("tables");
    let access = Access {
        tenant_id: 1,
        user_id: Uuid::now_v7(),
        org_unit_id: Some(Uuid::now_v7()),
        rows: Rows::All,
        level: Access::ALL_LEVELS,
    };
    let now: DateTime<Utc> = Utc::now();
    let mut tx = store.begin().await.expect("transaction");
    let written = tx
        .insert_records(&access, &entity, &inputs(with_json), Some("draft"), now)
        .await
        .expect("insert");
    tx.commit().await.expect("commit");

    let ids: Vec<Uuid> = written
        .iter()
        .map(|r| Uuid::parse_str(r["id"].as_str().expect("id")).expect("uuid"))
        .collect();
    let mut read = store
        .get_records(&access, &entity, &ids)
        .await
        .expect("read back");
    read.sort_by_key(|r| ids.iter().position(|id| r["id"] == id.to_string()));
    assert_eq!(read.len(), written.len());
    for (written, read) in written.iter().zip(&read) {
        assert_eq!(
            serde_json::to_string(written).expect("json"),
            serde_json::to_string(read).expect("json"),
            "the written record, key order and text included, is what a read returns"
        );
    }
    // The shapes the database chose, not the client's.
    assert_eq!(written[0]["amount"], "1500.50");
    assert_eq!(written[0]["rate"], "0.2500");
    assert_eq!(written[0]["at"], "2026-11-27T01:30:00.123456Z");
    assert_eq!(written[0]["lines"][1], json!({"item": "空调"}));
    assert_eq!(written[1]["lines"], json!([]));
    assert_eq!(written[1]["qty"], Value::Null);
    assert_eq!(written[2]["version"], 1);
    assert_eq!(written[2]["state"], "draft");
}

#[tokio::test(flavor = "multi_thread")]
async fn written_records_equal_what_sqlite_reads_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
    check(&url, "plain", false).await;
    check(&url, "with_json", true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn written_records_equal_what_postgres_reads_back() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let suffix = Uuid::now_v7().simple().to_string();
    check(&url, &format!("plain_{}", &suffix[20..]), false).await;
    check(&url, &format!("json_{}", &suffix[20..]), true).await;
}
