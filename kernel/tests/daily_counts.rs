//! Daily counts (`x-jingxi.dailyCounts`) agree with the records after any mix of inserts,
//! updates, state changes and deletes in several tenants; counts bounded on whole days are
//! answered from them, every other count from the records; a new daily count is filled from the
//! records already there. On SQLite always; on PostgreSQL too when `DATABASE_URL` names one.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use jingxi_kernel::model::EntityDef;
use jingxi_kernel::store::{Access, Expected, Filter, Metrics, Op, Rows, Store};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Map, Value, json};
use uuid::Uuid;

mod common;

const KINDS: [Option<&str>; 3] = [Some("质量"), Some("服务"), None];
const STATES: [&str; 3] = ["new", "accepted", "invalid"];

fn entity(table: &str, counted: bool) -> EntityDef {
    let mut extension = json!({});
    if counted {
        extension["dailyCounts"] = json!([
            {"day": "received_at", "utcOffset": "+08:00", "by": ["state", "kind", "urgent"]},
            {"day": "visit", "by": ["kind"]}
        ]);
    }
    EntityDef::new(
        "tally",
        table,
        json!({"type": "object", "title": "工单", "x-jingxi": extension, "properties": {
            "title": {"type": "string", "title": "标题"},
            "received_at": {"type": "string", "format": "date-time", "title": "受理时间"},
            "visit": {"type": "string", "format": "date", "title": "回访日期"},
            "kind": {"type": "string", "title": "类别"},
            "urgent": {"type": "boolean", "title": "紧急"},
            "score": {"type": "integer", "title": "评分"}
        }}),
    )
    .expect("the test entity is valid")
}

/// SplitMix64: the same sequence for the same seed, on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("offset")
}

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 1).expect("date")
}

/// A moment within 12 days from the first day, often right at or next to a midnight of UTC+8.
fn moment(rng: &mut Rng) -> Option<DateTime<Utc>> {
    if rng.below(10) == 0 {
        return None;
    }
    let midnight = shanghai()
        .from_local_datetime(
            &first_day()
                .checked_add_days(chrono::Days::new(rng.below(12)))
                .expect("day")
                .and_hms_opt(0, 0, 0)
                .expect("midnight"),
        )
        .single()
        .expect("a fixed offset has one local time")
        .with_timezone(&Utc);
    let seconds = match rng.below(4) {
        0 => 0,
        1 => -1,
        2 => 1,
        _ => rng.below(86_400) as i64,
    };
    Some(midnight + Duration::seconds(seconds))
}

/// What the test knows about one record.
#[derive(Debug, Clone)]
struct Known {
    tenant_id: i64,
    id: Uuid,
    received_at: Option<DateTime<Utc>>,
    visit: Option<NaiveDate>,
    kind: Option<&'static str>,
    urgent: Option<bool>,
    state: &'static str,
}

impl Known {
    fn fields(&self) -> Map<String, Value> {
        let mut record = Map::new();
        record.insert("title".into(), json!("工单"));
        if let Some(at) = self.received_at {
            // Sent in UTC+8, as clients in China send it.
            record.insert(
                "received_at".into(),
                json!(at.with_timezone(&shanghai()).to_rfc3339()),
            );
        }
        if let Some(visit) = self.visit {
            record.insert("visit".into(), json!(visit.to_string()));
        }
        if let Some(kind) = self.kind {
            record.insert("kind".into(), json!(kind));
        }
        if let Some(urgent) = self.urgent {
            record.insert("urgent".into(), json!(urgent));
        }
        record
    }

    fn randomize(&mut self, rng: &mut Rng) {
        self.received_at = moment(rng);
        self.visit = (rng.below(5) > 0).then(|| {
            first_day()
                .checked_add_days(chrono::Days::new(rng.below(12)))
                .expect("day")
        });
        self.kind = rng.pick(&KINDS);
        self.urgent = match rng.below(3) {
            0 => None,
            n => Some(n == 1),
        };
    }
}

fn access(tenant_id: i64, user_id: Uuid) -> Access {
    Access {
        tenant_id,
        user_id,
        org_unit_id: None,
        rows: Rows::All,
        level: Access::ALL_LEVELS,
    }
}

fn field(name: &str, op: Op) -> Filter {
    Filter::Field {
        field: name.into(),
        op,
    }
}

/// Midnight of `day` in UTC+8, as a filter value.
fn midnight(day: NaiveDate) -> Value {
    json!(format!("{day}T00:00:00+08:00"))
}

/// Whether a record matches (part of) a question.
type Test = Box<dyn Fn(&Known) -> bool>;

/// A random count question and the records it should count.
struct Question {
    filter: Filter,
    group_by: Vec<String>,
    matches: Test,
    /// Whether the daily counts can answer it (whole days, counted fields only).
    whole_days: bool,
}

fn question(rng: &mut Rng) -> Question {
    let from = first_day()
        .checked_add_days(chrono::Days::new(rng.below(12)))
        .expect("day");
    let until = from
        .checked_add_days(chrono::Days::new(rng.below(6)))
        .expect("day");
    let mut parts = Vec::new();
    let mut tests: Vec<Test> = Vec::new();
    let group_by: Vec<String>;
    let mut whole_days = true;
    if rng.below(4) == 0 {
        // On the date property: whole days whatever the comparison.
        let (lo, hi) = (from, until);
        parts.push(field("visit", Op::Gte(json!(lo.to_string()))));
        parts.push(field("visit", Op::Lte(json!(hi.to_string()))));
        tests.push(Box::new(move |k| {
            k.visit.is_some_and(|v| v >= lo && v <= hi)
        }));
        group_by = if rng.below(2) == 0 {
            vec!["kind".into()]
        } else {
            Vec::new()
        };
    } else {
        // On the date-time property: sometimes on midnights of UTC+8 (answered from the daily
        // counts), sometimes at noon (answered from the records).
        let noon = rng.below(4) == 0;
        whole_days = !noon;
        let at = |day: NaiveDate| {
            let time = if noon { "12:00:00" } else { "00:00:00" };
            json!(format!("{day}T{time}+08:00"))
        };
        let bound = |value: &Value| {
            DateTime::parse_from_rfc3339(value.as_str().expect("text"))
                .expect("moment")
                .with_timezone(&Utc)
        };
        let (lo, hi) = (bound(&at(from)), bound(&at(until)));
        parts.push(field("received_at", Op::Gte(at(from))));
        parts.push(field("received_at", Op::Lt(at(until))));
        tests.push(Box::new(move |k| {
            k.received_at.is_some_and(|t| t >= lo && t < hi)
        }));
        if rng.below(2) == 0 {
            parts.push(field("state", Op::Ne(json!("invalid"))));
            tests.push(Box::new(|k| k.state != "invalid"));
        }
        match rng.below(4) {
            0 => {
                parts.push(field("kind", Op::IsNull(true)));
                tests.push(Box::new(|k| k.kind.is_none()));
            }
            1 => {
                parts.push(field("kind", Op::In(vec![json!("质量"), json!("服务")])));
                tests.push(Box::new(|k| k.kind.is_some()));
            }
            2 => {
                parts.push(Filter::Not(Box::new(field("urgent", Op::Eq(json!(true))))));
                // SQL's NOT keeps unknowns unknown: records without the flag are not counted.
                tests.push(Box::new(|k| k.urgent == Some(false)));
            }
            _ => {}
        }
        let choices: [&[&str]; 4] = [&[], &["urgent"], &["state", "kind"], &["kind", "urgent"]];
        group_by = rng
            .pick(&choices)
            .iter()
            .map(|s| (*s).to_string())
            .collect();
    }
    Question {
        filter: Filter::And(parts),
        group_by,
        matches: Box::new(move |k| tests.iter().all(|test| test(k))),
        whole_days,
    }
}

fn key_of(known: &Known, group_by: &[String]) -> String {
    let value = |name: &str| match name {
        "state" => json!(known.state),
        "kind" => json!(known.kind),
        "urgent" => json!(known.urgent),
        other => panic!("not grouped by {other}"),
    };
    let key: Map<String, Value> = group_by
        .iter()
        .map(|name| (name.clone(), value(name)))
        .collect();
    Value::Object(key).to_string()
}

async fn ask(
    store: &Store,
    entity: &EntityDef,
    tenant_id: i64,
    question: &Question,
) -> BTreeMap<String, u64> {
    let groups = store
        .aggregate_records(
            &access(tenant_id, Uuid::nil()),
            entity,
            Some(&question.filter),
            &question.group_by,
            Metrics::COUNT,
            1000,
        )
        .await
        .expect("count");
    groups
        .into_iter()
        .map(|group| (Value::Object(group.key).to_string(), group.count))
        .collect()
}

fn expected(known: &[Known], tenant_id: i64, question: &Question) -> BTreeMap<String, u64> {
    let mut groups = BTreeMap::new();
    if question.group_by.is_empty() {
        // Without groups, one answer: zero included.
        groups.insert("{}".to_string(), 0);
    }
    for record in known
        .iter()
        .filter(|k| k.tenant_id == tenant_id && (question.matches)(k))
    {
        *groups
            .entry(key_of(record, &question.group_by))
            .or_insert(0) += 1;
    }
    groups
}

/// Random writes in two tenants, then random questions, each compared with the records the test
/// knows of.
async fn counts_follow_every_write(url: &str, table: &str, seed: u64) {
    let store = common::open_store(url).await;
    let entity = entity(table, true);
    store.ensure_tables(&entity).await.expect("tables");
    let mut rng = Rng(seed);
    let user = Uuid::now_v7();
    let mut known: Vec<Known> = Vec::new();
    for _round in 0..40 {
        let tenant_id = 1 + rng.below(2) as i64;
        let access = access(tenant_id, user);
        let mut tx = store.begin().await.expect("transaction");
        match rng.below(5) {
            0 | 1 => {
                let mut batch: Vec<Known> = (0..1 + rng.below(12))
                    .map(|_| {
                        let mut k = Known {
                            tenant_id,
                            id: Uuid::nil(),
                            received_at: None,
                            visit: None,
                            kind: None,
                            urgent: None,
                            state: "new",
                        };
                        k.randomize(&mut rng);
                        k
                    })
                    .collect();
                let fields: Vec<Map<String, Value>> = batch.iter().map(Known::fields).collect();
                let written = tx
                    .insert_records(&access, &entity, &fields, Some("new"), Utc::now())
                    .await
                    .expect("insert");
                for (k, w) in batch.iter_mut().zip(&written) {
                    k.id = Uuid::parse_str(w["id"].as_str().expect("id")).expect("uuid");
                }
                known.extend(batch);
            }
            2 | 3 => {
                let mine: Vec<usize> = (0..known.len())
                    .filter(|i| known[*i].tenant_id == tenant_id)
                    .collect();
                if let Some(&i) = mine.get(rng.below(mine.len().max(1) as u64) as usize) {
                    let mut changed = known[i].clone();
                    if rng.below(2) == 0 {
                        changed.randomize(&mut rng);
                    }
                    let new_state = (rng.below(2) == 0).then(|| rng.pick(&STATES));
                    tx.update_record(
                        &access,
                        &entity,
                        changed.id,
                        Expected {
                            version: None,
                            state: None,
                            new_state,
                        },
                        &changed.fields(),
                        Utc::now(),
                    )
                    .await
                    .expect("update");
                    if let Some(state) = new_state {
                        changed.state = state;
                    }
                    known[i] = changed;
                }
            }
            _ => {
                let mine: Vec<usize> = (0..known.len())
                    .filter(|i| known[*i].tenant_id == tenant_id)
                    .collect();
                if let Some(&i) = mine.get(rng.below(mine.len().max(1) as u64) as usize) {
                    assert!(
                        tx.delete_record(&access, &entity, known[i].id)
                            .await
                            .expect("delete")
                    );
                    known.remove(i);
                }
            }
        }
        if rng.below(8) == 0 {
            // Dropped without commit: rolled back, counts included.
            drop(tx);
            known.truncate(0);
            known = reread(&store, &entity, user).await;
        } else {
            tx.commit().await.expect("commit");
        }
    }
    for _ in 0..60 {
        let question = question(&mut rng);
        for tenant_id in [1, 2] {
            assert_eq!(
                ask(&store, &entity, tenant_id, &question).await,
                expected(&known, tenant_id, &question),
                "tenant {tenant_id}, {:?} grouped by {:?} (seed {seed})",
                question.filter,
                question.group_by
            );
            let total = store
                .count_records(&access(tenant_id, user), &entity, Some(&question.filter))
                .await
                .expect("count");
            assert_eq!(
                total,
                expected(&known, tenant_id, &question).values().sum::<u64>()
            );
        }
    }
    // Remove the records behind the store's back: questions on whole days still get the same
    // answers, from the daily counts; the others now find nothing.
    let db = Database::connect(url).await.expect("second connection");
    db.execute_unprepared(&format!("DELETE FROM tally__{table}"))
        .await
        .expect("raw delete");
    for _ in 0..30 {
        let question = question(&mut rng);
        for tenant_id in [1, 2] {
            let answer = ask(&store, &entity, tenant_id, &question).await;
            if question.whole_days {
                assert_eq!(answer, expected(&known, tenant_id, &question));
            } else {
                assert_eq!(answer, expected(&[], tenant_id, &question));
            }
        }
    }
}

/// Everything in both tenants, read from the records (after a rollback).
async fn reread(store: &Store, entity: &EntityDef, user: Uuid) -> Vec<Known> {
    let mut known = Vec::new();
    for tenant_id in [1, 2] {
        let records = store
            .list_records(
                &access(tenant_id, user),
                entity,
                None,
                &[],
                jingxi_kernel::store::Page {
                    offset: 0,
                    limit: 10_000,
                    children: false,
                },
            )
            .await
            .expect("list");
        for r in records {
            let text = |name: &str| r.get(name).and_then(Value::as_str).map(str::to_string);
            known.push(Known {
                tenant_id,
                id: Uuid::parse_str(&text("id").expect("id")).expect("uuid"),
                received_at: text("received_at").map(|t| {
                    DateTime::parse_from_rfc3339(&t)
                        .expect("moment")
                        .with_timezone(&Utc)
                }),
                visit: text("visit").map(|t| t.parse().expect("date")),
                kind: KINDS
                    .into_iter()
                    .find(|k| k.map(str::to_string) == text("kind"))
                    .expect("known kind"),
                urgent: r.get("urgent").and_then(Value::as_bool),
                state: STATES
                    .into_iter()
                    .find(|s| Some(s.to_string()) == text("state"))
                    .expect("known state"),
            });
        }
    }
    known
}

/// Records written before the entity declared its daily counts are counted when it does; counts
/// bounded on whole days then come from the daily table (rows removed behind the store's back
/// are still counted there), every other count from the records.
async fn counts_are_filled_then_read(url: &str, table: &str) {
    let store = common::open_store(url).await;
    let plain = entity(table, false);
    store.ensure_tables(&plain).await.expect("tables");
    let user = Uuid::now_v7();
    let day = NaiveDate::from_ymd_opt(2026, 5, 1).expect("date");
    let before_midnight = "2026-04-30T23:59:59+08:00";
    let records: Vec<Map<String, Value>> = [
        before_midnight,
        "2026-05-01T00:00:00+08:00",
        "2026-04-30T16:30:00Z",
        "2026-05-01T23:00:00+08:00",
    ]
    .iter()
    .map(|at| {
        json!({"received_at": at, "kind": "质量"})
            .as_object()
            .cloned()
            .expect("object")
    })
    .collect();
    let mut tx = store.begin().await.expect("transaction");
    tx.insert_records(&access(7, user), &plain, &records, None, Utc::now())
        .await
        .expect("insert");
    tx.commit().await.expect("commit");

    let counted = entity(table, true);
    let created = store.ensure_tables(&counted).await.expect("daily tables");
    assert_eq!(
        created.len(),
        2,
        "two daily counts, two new tables: {created:?}"
    );
    assert!(
        store
            .ensure_tables(&counted)
            .await
            .expect("again")
            .is_empty(),
        "made once"
    );
    let one_day = Filter::And(vec![
        field("received_at", Op::Gte(midnight(day))),
        field(
            "received_at",
            Op::Lt(midnight(day.succ_opt().expect("next day"))),
        ),
    ]);
    let count = |filter: Filter, rows: Rows| {
        let store = &store;
        let counted = &counted;
        async move {
            let mut access = access(7, user);
            access.rows = rows;
            store
                .count_records(&access, counted, Some(&filter))
                .await
                .expect("count")
        }
    };
    assert_eq!(
        count(one_day.clone(), Rows::All).await,
        3,
        "filled from the records"
    );

    // Records without a state get one; the daily counts follow.
    assert_eq!(
        store
            .fill_missing_state(&counted, "new")
            .await
            .expect("fill states"),
        4
    );
    let groups = store
        .aggregate_records(
            &access(7, user),
            &counted,
            Some(&one_day),
            &["state".to_string()],
            Metrics::COUNT,
            10,
        )
        .await
        .expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].key["state"], json!("new"));
    assert_eq!(groups[0].count, 3);

    // Remove the rows behind the store's back: only the daily table still holds them.
    let db = Database::connect(url).await.expect("second connection");
    let delete = format!("DELETE FROM tally__{table} WHERE tenant_id = 7");
    db.execute_unprepared(&delete).await.expect("raw delete");
    assert_eq!(
        count(one_day.clone(), Rows::All).await,
        3,
        "a count on whole days reads the daily table"
    );
    let noon = Filter::And(vec![
        field("received_at", Op::Gte(json!("2026-05-01T12:00:00+08:00"))),
        field("received_at", Op::Lt(json!("2026-05-02T00:00:00+08:00"))),
    ]);
    assert_eq!(
        count(noon, Rows::All).await,
        0,
        "other counts read the records"
    );
    assert_eq!(
        count(one_day.clone(), Rows::Own).await,
        0,
        "a caller limited to own records is counted from the records"
    );
    let by_title = Filter::And(vec![one_day.clone(), field("title", Op::Eq(json!("工单")))]);
    assert_eq!(
        count(by_title, Rows::All).await,
        0,
        "uncounted fields read the records"
    );
    store.refill_daily_counts(&counted).await.expect("refill");
    assert_eq!(
        count(one_day.clone(), Rows::All).await,
        0,
        "refilled from the records"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_counts_follow_every_write_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("d.db").display());
    for seed in 1..=4 {
        counts_follow_every_write(&url, &format!("random_{seed}"), seed).await;
    }
    counts_are_filled_then_read(&url, "filled").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_counts_follow_every_write_on_postgres() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let suffix = &Uuid::now_v7().simple().to_string()[20..];
    for seed in 1..=4 {
        counts_follow_every_write(&url, &format!("random_{seed}_{suffix}"), seed).await;
    }
    counts_are_filled_then_read(&url, &format!("filled_{suffix}")).await;
}
