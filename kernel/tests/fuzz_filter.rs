//! Property tests of record filters against a real SQLite store: arbitrary filter trees (every
//! operator, values of every JSON type including hostile strings, known, hidden, system and
//! unknown field names) never make `list_records`/`count_records` panic or fail other than with
//! `BadFilter`; well-typed filters on known fields always succeed; answers stay inside the
//! caller's tenant and row scope.
//!
//! The SQL text built from a filter is not part of the public API, so "values are bound, never
//! inlined" is checked here by behaviour (a stored hostile string is found by equality, exactly)
//! and in `store::filter`'s unit tests by the SQL itself.
//!
//! Case count: 1,024 per property, or `PROPTEST_CASES`.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, Utc};
use jingxi_kernel::config::StoreConfig;
use jingxi_kernel::model::{EntityDef, FieldKind};
use jingxi_kernel::store::{Access, Error, Filter, Op, Order, Page, Rows, Store};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Number, Value, json};
use uuid::Uuid;

/// Strings stored as titles of seeded records and used as hostile filter values.
const HOSTILE: &[&str] = &[
    "' OR '1'='1",
    "'; DROP TABLE tenant; --",
    "\") OR 1=1 --",
    "%' --",
    "\\'; DELETE FROM fuzz__thing; --",
    "back\\slash\\",
    "’ OR ‘1’=‘1",
    "＇ OR 1=1 --",
    "1 UNION SELECT id FROM tenant --",
    "_%",
    "",
];

/// A field of every kind, a hidden one (level 2), JSON fields and a child table.
fn entity() -> EntityDef {
    EntityDef::new(
        "fuzz",
        "thing",
        json!({"type": "object", "title": "模糊", "properties": {
            "title": {"type": "string", "title": "标题"},
            "code": {"type": "string", "title": "编码", "x-jingxi": {"unique": true}},
            "day": {"type": "string", "format": "date", "title": "日期"},
            "at": {"type": "string", "format": "date-time", "title": "时间"},
            "amount": {"type": "string", "title": "金额", "x-jingxi": {"money": {}}},
            "rate": {"type": "string", "title": "比率", "x-jingxi": {"decimal": {"scale": 4}}},
            "whole": {"type": "string", "title": "整数金额", "x-jingxi": {"decimal": {"scale": 0}}},
            "qty": {"type": "integer", "title": "数量"},
            "ratio": {"type": "number", "title": "比例"},
            "flag": {"type": "boolean", "title": "标志"},
            "region": {"type": "string", "format": "uuid", "title": "区域",
                "x-jingxi": {"ref": "org.region"}},
            "tags": {"type": "array", "title": "标签", "items": {"type": "string"}},
            "meta": {"type": "object", "title": "元数据"},
            "secret": {"type": "integer", "title": "机密", "x-jingxi": {"level": 2}},
            "lines": {"type": "array", "title": "行", "items": {"type": "object", "properties": {
                "item": {"type": "string", "title": "项"},
                "n": {"type": "integer", "title": "数"}
            }}}
        }}),
    )
    .expect("the fuzz entity is valid")
}

/// System columns a filter may name, with their kinds.
const SYSTEM: &[&str] = &[
    "id",
    "owner_id",
    "org_unit_id",
    "created_by",
    "updated_by",
    "state",
    "version",
    "created_at",
    "updated_at",
];

fn system_kind(name: &str) -> Option<FieldKind> {
    Some(match name {
        "id" | "owner_id" | "org_unit_id" | "created_by" | "updated_by" => FieldKind::Ref {
            target: "kernel".into(),
        },
        "state" => FieldKind::Text,
        "version" => FieldKind::Integer,
        "created_at" | "updated_at" => FieldKind::DateTime,
        _ => return None,
    })
}

const USER_A: Uuid = Uuid::from_u128(0xA);
const USER_B: Uuid = Uuid::from_u128(0xB);

/// One seeded record: who may see it.
#[derive(Debug, Clone)]
struct Seeded {
    id: Uuid,
    tenant_id: i64,
    owner: Uuid,
    title: String,
}

struct World {
    runtime: tokio::runtime::Runtime,
    store: Store,
    entity: EntityDef,
    seeded: Vec<Seeded>,
    _dir: tempfile::TempDir,
}

fn access(tenant_id: i64, user_id: Uuid, rows: Rows, level: u8) -> Access {
    Access {
        tenant_id,
        user_id,
        org_unit_id: None,
        rows,
        level,
    }
}

fn seed_records(offset: usize) -> Vec<Map<String, Value>> {
    let mut records = Vec::new();
    for (i, title) in HOSTILE.iter().enumerate() {
        let n = offset + i;
        let record = json!({
            "title": title,
            "code": format!("C-{n:03}"),
            "day": format!("2026-{:02}-{:02}", n % 12 + 1, n % 28 + 1),
            "at": format!("2026-11-{:02}T{:02}:30:00+08:00", n % 28 + 1, n % 24),
            "amount": format!("{}.{:02}", n * 1000, n % 100),
            "rate": format!("0.{:04}", n * 37 % 10_000),
            "whole": format!("{}", n * 7),
            "qty": n as i64 - 5,
            "ratio": n as f64 / 3.0,
            "flag": n.is_multiple_of(2),
            "region": Uuid::from_u128(n as u128 + 100).to_string(),
            "tags": ["a", title],
            "meta": {"n": n, "title": title},
            "secret": n * 11,
            "lines": [{"item": title, "n": n}],
        });
        let mut map = record.as_object().cloned().expect("object");
        // Every kind also has empty values.
        if n % 5 == 4 {
            for field in ["day", "at", "amount", "qty", "ratio", "flag", "region"] {
                map.remove(field);
            }
        }
        records.push(map);
    }
    records
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let entity = entity();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("fuzz.db").display());
    let (store, seeded) = runtime.block_on(async {
        let store = Store::connect(&StoreConfig {
            url,
            max_connections: 4,
            ..StoreConfig::default()
        })
        .await
        .expect("store");
        store.migrate().await.expect("migrations");
        store.ensure_tables(&entity).await.expect("tables");
        let mut seeded = Vec::new();
        // Tenant 1: user A owns most records, user B some; tenant 2 has its own.
        for (offset, tenant_id, owner, count) in [
            (0, 1, USER_A, HOSTILE.len()),
            (100, 1, USER_B, 4),
            (200, 2, USER_A, 4),
        ] {
            let records: Vec<Map<String, Value>> =
                seed_records(offset).into_iter().take(count).collect();
            let mut tx = store.begin().await.expect("transaction");
            let written = tx
                .insert_records(
                    &access(tenant_id, owner, Rows::All, Access::ALL_LEVELS),
                    &entity,
                    &records,
                    Some("draft"),
                    Utc::now(),
                )
                .await
                .expect("seed records");
            tx.commit().await.expect("commit");
            for (row, record) in written.iter().zip(&records) {
                seeded.push(Seeded {
                    id: row["id"]
                        .as_str()
                        .and_then(|id| uuid::Uuid::parse_str(id).ok())
                        .expect("a written record has its id"),
                    tenant_id,
                    owner,
                    title: record["title"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
        (store, seeded)
    });
    World {
        runtime,
        store,
        entity,
        seeded,
        _dir: dir,
    }
});

/// 1,024 cases per property (a second or two), or `PROPTEST_CASES`; no regression files are
/// written into the source tree.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_024);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// The seeded records an access may see.
fn visible(world: &World, access: &Access) -> HashSet<Uuid> {
    world
        .seeded
        .iter()
        .filter(|s| s.tenant_id == access.tenant_id)
        .filter(|s| match &access.rows {
            Rows::All => true,
            Rows::Own => s.owner == access.user_id,
            Rows::None | Rows::OrgUnit { .. } => false,
        })
        .map(|s| s.id)
        .collect()
}

/// Whether a field name is one the caller may filter on at `level`.
fn known(entity: &EntityDef, field: &str, level: u8) -> bool {
    system_kind(field).is_some() || entity.field(field).is_some_and(|f| f.level <= level)
}

/// Whether any leaf of the filter names a field the caller may not filter on.
fn names_unknown(entity: &EntityDef, filter: &Filter, level: u8) -> bool {
    match filter {
        Filter::And(items) | Filter::Or(items) => {
            items.iter().any(|f| names_unknown(entity, f, level))
        }
        Filter::Not(inner) => names_unknown(entity, inner, level),
        Filter::Field { field, .. } => !known(entity, field, level),
    }
}

// ----- strategies -----

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(HOSTILE).prop_map(str::to_string),
        2 => "\\PC{0,24}",
        2 => any::<String>(),
        1 => (0usize..3_000, prop::sample::select(&["%", "_", "'", "\\", "客"][..]))
            .prop_map(|(n, unit)| unit.repeat(n)),
        1 => "-?[0-9]{1,30}(\\.[0-9]{0,6})?",
        1 => "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?)?",
        1 => any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()),
    ]
}

/// A hostile string text columns can hold: no NUL character (refused on every backend).
fn storable_string() -> impl Strategy<Value = String> {
    hostile_string().prop_map(|s| s.replace('\0', ""))
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        prop::sample::select(vec![
            json!(1e308),
            json!(-1e308),
            json!(-0.0),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(0),
        ]),
    ]
}

/// Any JSON value, including null, nested arrays and objects.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Field names: the entity's fields, system columns, hidden, JSON and child names, and garbage.
fn any_field() -> impl Strategy<Value = String> {
    let names: Vec<String> = WORLD
        .entity
        .fields
        .iter()
        .map(|f| f.name.clone())
        .chain(SYSTEM.iter().map(|s| s.to_string()))
        .chain(
            [
                "tenant_id",
                "lines",
                "TITLE",
                "title ",
                "title\"; DROP TABLE tenant; --",
                "fuzz__thing.title",
                "",
            ]
            .map(str::to_string),
        )
        .collect();
    prop_oneof![
        4 => prop::sample::select(names),
        1 => hostile_string(),
    ]
}

fn any_op() -> impl Strategy<Value = Op> {
    let list = || prop::collection::vec(any_value(), 0..6);
    prop_oneof![
        any_value().prop_map(Op::Eq),
        any_value().prop_map(Op::Ne),
        list().prop_map(Op::In),
        list().prop_map(Op::NotIn),
        any_value().prop_map(Op::Lt),
        any_value().prop_map(Op::Lte),
        any_value().prop_map(Op::Gt),
        any_value().prop_map(Op::Gte),
        hostile_string().prop_map(Op::Like),
        any::<bool>().prop_map(Op::IsNull),
    ]
}

fn tree(leaf: BoxedStrategy<Filter>) -> impl Strategy<Value = Filter> {
    leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 0..5).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

/// Arbitrary leaves mixed with well-typed ones, so that larger trees are not always refused.
fn any_filter() -> impl Strategy<Value = Filter> {
    tree(
        prop_oneof![
            (any_field(), any_op()).prop_map(|(field, op)| Filter::Field { field, op }),
            typed_leaf(),
        ]
        .boxed(),
    )
}

/// A value the store accepts for a kind.
fn typed_value(kind: &FieldKind) -> BoxedStrategy<Value> {
    match kind {
        FieldKind::Text => prop_oneof![
            3 => storable_string().prop_map(Value::String),
            1 => number(),
            1 => any::<bool>().prop_map(Value::Bool),
        ]
        .boxed(),
        FieldKind::Date => (1i32..=9999, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| json!(format!("{y:04}-{m:02}-{d:02}")))
            .boxed(),
        FieldKind::DateTime => (
            // Years 2 to 9998, so any offset keeps a four-digit year.
            -62_104_060_800i64..253_370_764_800,
            0u32..1_000_000_000,
            -14 * 3600..=14 * 3600,
        )
            .prop_map(|(secs, nanos, offset)| {
                let utc = DateTime::from_timestamp(secs, nanos).expect("in range");
                let zone = FixedOffset::east_opt(offset).expect("offset");
                json!(utc.with_timezone(&zone).to_rfc3339())
            })
            .boxed(),
        FieldKind::Decimal { scale } => {
            let scale = *scale as usize;
            let whole = 18 - scale;
            prop_oneof![
                (any::<bool>(), "[0-9]{1,20}", "[0-9]{0,20}").prop_map(move |(neg, i, f)| {
                    let i: String = i.chars().take(whole).collect();
                    let f: String = f.chars().take(scale).collect();
                    let sign = if neg { "-" } else { "" };
                    if f.is_empty() {
                        json!(format!("{sign}{i}"))
                    } else {
                        json!(format!("{sign}{i}.{f}"))
                    }
                }),
                any::<i32>().prop_map(Value::from),
            ]
            .boxed()
        }
        FieldKind::Integer => any::<i64>().prop_map(Value::from).boxed(),
        FieldKind::Float => any::<f64>()
            .prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number))
            .boxed(),
        FieldKind::Boolean => any::<bool>().prop_map(Value::Bool).boxed(),
        FieldKind::Ref { .. } => prop_oneof![
            3 => any::<u128>().prop_map(|n| json!(Uuid::from_u128(n).to_string())),
            1 => prop::sample::select(WORLD.seeded.iter().map(|s| s.id).collect::<Vec<_>>())
                .prop_map(|id| json!(id.to_string())),
        ]
        .boxed(),
        FieldKind::Json => any_value()
            .prop_filter("not null", |v| !v.is_null())
            .boxed(),
    }
}

/// An operator the store accepts for a kind.
fn typed_op(kind: FieldKind) -> BoxedStrategy<Op> {
    let value = typed_value(&kind);
    let list = prop::collection::vec(value.clone(), 0..6);
    let mut ops: Vec<BoxedStrategy<Op>> = vec![
        value.clone().prop_map(Op::Eq).boxed(),
        value.clone().prop_map(Op::Ne).boxed(),
        list.clone().prop_map(Op::In).boxed(),
        list.prop_map(Op::NotIn).boxed(),
        any::<bool>().prop_map(Op::IsNull).boxed(),
    ];
    if !matches!(kind, FieldKind::Boolean | FieldKind::Json) {
        ops.push(value.clone().prop_map(Op::Lt).boxed());
        ops.push(value.clone().prop_map(Op::Lte).boxed());
        ops.push(value.clone().prop_map(Op::Gt).boxed());
        ops.push(value.prop_map(Op::Gte).boxed());
    }
    if kind == FieldKind::Text {
        ops.push(
            storable_string()
                .prop_filter("a pattern within the limit", |p| p.chars().count() <= 1000)
                .prop_map(Op::Like)
                .boxed(),
        );
    }
    prop::strategy::Union::new(ops).boxed()
}

/// A comparison on a known field with a value of the right type.
fn typed_leaf() -> BoxedStrategy<Filter> {
    let fields: Vec<(String, FieldKind)> = WORLD
        .entity
        .fields
        .iter()
        .map(|f| (f.name.clone(), f.kind.clone()))
        .chain(
            SYSTEM
                .iter()
                .map(|s| (s.to_string(), system_kind(s).expect("system kind"))),
        )
        .collect();
    let leaves: Vec<BoxedStrategy<Filter>> = fields
        .into_iter()
        .map(|(field, kind)| {
            typed_op(kind)
                .prop_map(move |op| Filter::Field {
                    field: field.clone(),
                    op,
                })
                .boxed()
        })
        .collect();
    prop::strategy::Union::new(leaves).boxed()
}

/// A filter on known fields only, with values of the right type.
fn typed_filter() -> impl Strategy<Value = Filter> {
    tree(typed_leaf())
}

fn any_access() -> impl Strategy<Value = Access> {
    let rows = prop_oneof![
        4 => Just(Rows::All),
        2 => Just(Rows::Own),
        1 => Just(Rows::None),
        1 => hostile_string().prop_map(|path| Rows::OrgUnit { path }),
    ];
    let user = prop_oneof![
        Just(USER_A),
        Just(USER_B),
        any::<u128>().prop_map(Uuid::from_u128)
    ];
    (prop::sample::select(vec![1i64, 2, 3]), user, rows, 0u8..=9)
        .prop_map(|(tenant, user, rows, level)| access(tenant, user, rows, level))
}

fn any_order() -> impl Strategy<Value = Vec<Order>> {
    prop::collection::vec(
        (any_field(), any::<bool>()).prop_map(|(field, descending)| Order { field, descending }),
        0..3,
    )
}

fn run<T>(future: impl Future<Output = T>) -> T {
    WORLD.runtime.block_on(future)
}

/// Counts tenant 1's records matching `filter`, with every permission.
fn count_all(filter: &Filter) -> Result<u64, Error> {
    let world = &*WORLD;
    let all = access(1, USER_A, Rows::All, Access::ALL_LEVELS);
    run(world.store.count_records(&all, &world.entity, Some(filter)))
}

/// A description of anything but `Ok` or `BadFilter`.
fn unexpected(result: &Result<u64, Error>, context: &str) -> Option<String> {
    match result {
        Ok(_) | Err(Error::BadFilter { .. }) => None,
        Err(error) => Some(format!("{context} failed with {error:?}")),
    }
}

/// `Ok`, or the error a bad filter deserves; anything else is a failure.
fn refused_as_bad_filter<T: std::fmt::Debug>(
    result: &Result<T, Error>,
    what: &str,
) -> Result<bool, TestCaseError> {
    match result {
        Ok(_) => Ok(false),
        Err(Error::BadFilter { field, message }) => {
            prop_assert!(
                !message.is_empty(),
                "{what}: BadFilter on {field:?} without a message"
            );
            Ok(true)
        }
        Err(other) => Err(TestCaseError::fail(format!(
            "{what} failed with {other:?} (expected Ok or BadFilter)"
        ))),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_filters_answer_or_fail_as_bad_filters(
        filter in any_filter(),
        order in any_order(),
        access in any_access(),
        offset in 0u64..20,
        limit in 0u64..60,
    ) {
        let world = &*WORLD;
        let entity = &world.entity;
        let page = Page {
            offset,
            limit,
            children: true,
        };
        let listed = run(world.store.list_records(&access, entity, Some(&filter), &order, page));
        let counted = run(world.store.count_records(&access, entity, Some(&filter)));
        let list_refused = refused_as_bad_filter(&listed, "list_records")?;
        let count_refused = refused_as_bad_filter(&counted, "count_records")?;
        let empty_scope = access.rows == Rows::None;
        // A filter naming an unknown (or hidden) field is refused, so it cannot probe values.
        if names_unknown(entity, &filter, access.level) && !empty_scope {
            prop_assert!(count_refused, "count accepted an unknown field: {filter:?} → {counted:?}");
            if limit > 0 {
                prop_assert!(list_refused, "list accepted an unknown field: {filter:?}");
            }
        }
        let sortable = order.iter().all(|o| known(entity, &o.field, access.level));
        if !sortable && limit > 0 && !empty_scope {
            prop_assert!(list_refused, "list accepted an unknown sort key: {order:?}");
        }
        let visible = visible(world, &access);
        if let Ok(records) = &listed {
            prop_assert!(records.len() as u64 <= limit);
            for record in records {
                let id = record["id"].as_str().and_then(|id| Uuid::parse_str(id).ok());
                prop_assert!(
                    id.is_some_and(|id| visible.contains(&id)),
                    "a record outside the caller's scope: {record:?}"
                );
                // Fields above the caller's level are never returned.
                for field in entity.fields.iter().filter(|f| f.level > access.level) {
                    prop_assert!(!record.contains_key(&field.name), "hidden {} returned", field.name);
                }
            }
        }
        if let Ok(n) = counted {
            prop_assert!(n <= visible.len() as u64, "count {n} > visible {}", visible.len());
        }
    }

    #[test]
    fn well_typed_filters_on_known_fields_succeed_and_agree_with_counts(
        filter in typed_filter(),
        other in typed_filter(),
    ) {
        let world = &*WORLD;
        let entity = &world.entity;
        let all = access(1, USER_A, Rows::All, Access::ALL_LEVELS);
        let total = visible(world, &all).len() as u64;
        let count = |f: &Filter| -> Result<u64, TestCaseError> {
            run(world.store.count_records(&all, entity, Some(f)))
                .map_err(|e| TestCaseError::fail(format!("{f:?} was refused: {e:?}")))
        };
        let n = count(&filter)?;
        let order: Vec<Order> = ["title", "amount", "at", "qty", "id", "version"]
            .into_iter()
            .map(|field| Order { field: field.into(), descending: n.is_multiple_of(2) })
            .collect();
        let records = run(world.store.list_records(
            &all,
            entity,
            Some(&filter),
            &order,
            Page {
                offset: 0,
                limit: 1_000,
                children: true,
            },
        ))
        .map_err(|e| TestCaseError::fail(format!("{filter:?} was refused by list: {e:?}")))?;
        prop_assert_eq!(records.len() as u64, n, "list and count disagree on {:?}", filter);
        prop_assert!(n <= total);
        // Boolean algebra that holds under SQL's three-valued logic too.
        let m = count(&other)?;
        let both = count(&Filter::And(vec![filter.clone(), other.clone()]))?;
        let either = count(&Filter::Or(vec![filter.clone(), other.clone()]))?;
        let negated = count(&Filter::Not(Box::new(filter.clone())))?;
        prop_assert!(both <= n.min(m), "AND widened: {both} > min({n}, {m})");
        prop_assert!(either >= n.max(m), "OR narrowed: {either} < max({n}, {m})");
        prop_assert!(either <= total);
        prop_assert!(n + negated <= total, "f and NOT f overlap: {n} + {negated} > {total}");
    }
}

#[test]
fn nul_characters_are_refused_as_bad_filters_not_stored_or_sent() {
    let world = &*WORLD;
    let all = access(1, USER_A, Rows::All, Access::ALL_LEVELS);
    for op in [
        Op::Eq(json!("nul\0byte")),
        Op::In(vec![json!("nul\0byte")]),
        Op::Like("nul\0%".into()),
    ] {
        let filter = Filter::Field {
            field: "title".into(),
            op: op.clone(),
        };
        let answer = run(world
            .store
            .count_records(&all, &world.entity, Some(&filter)));
        assert!(
            matches!(answer, Err(Error::BadFilter { .. })),
            "{op:?}: {answer:?}"
        );
    }
}

#[test]
fn hostile_strings_are_compared_as_values() {
    let world = &*WORLD;
    let all = access(1, USER_A, Rows::All, Access::ALL_LEVELS);
    let titles: Vec<&str> = world
        .seeded
        .iter()
        .filter(|s| s.tenant_id == 1)
        .map(|s| s.title.as_str())
        .collect();
    for hostile in HOSTILE {
        let expected = titles.iter().filter(|t| *t == hostile).count() as u64;
        for op in [
            Op::Eq(json!(hostile)),
            Op::In(vec![json!(hostile), json!("no such title")]),
        ] {
            let filter = Filter::Field {
                field: "title".into(),
                op: op.clone(),
            };
            let n = run(world
                .store
                .count_records(&all, &world.entity, Some(&filter)))
            .unwrap_or_else(|e| panic!("{op:?}: {e:?}"));
            assert_eq!(n, expected, "{op:?}");
        }
        let ne = Filter::Field {
            field: "title".into(),
            op: Op::Ne(json!(hostile)),
        };
        let n = run(world.store.count_records(&all, &world.entity, Some(&ne)))
            .unwrap_or_else(|e| panic!("ne {hostile:?}: {e:?}"));
        assert_eq!(n, titles.len() as u64 - expected, "ne {hostile:?}");
    }
    // The tables are all still there.
    let n = run(world.store.count_records(&all, &world.entity, None)).expect("count");
    assert_eq!(n, titles.len() as u64);
}

#[test]
fn empty_and_matches_everything_and_empty_or_matches_nothing() {
    let world = &*WORLD;
    let all = access(1, USER_A, Rows::All, Access::ALL_LEVELS);
    let total = visible(world, &all).len() as u64;
    let count = |filter: Filter| {
        run(world
            .store
            .count_records(&all, &world.entity, Some(&filter)))
        .unwrap_or_else(|e| panic!("{e:?}"))
    };
    assert_eq!(count(Filter::And(vec![])), total, "AND of nothing is true");
    assert_eq!(count(Filter::Or(vec![])), 0, "OR of nothing is false");
    assert_eq!(count(Filter::Not(Box::new(Filter::And(vec![])))), 0);
    assert_eq!(count(Filter::Not(Box::new(Filter::Or(vec![])))), total);
    let empty_in = Filter::Field {
        field: "title".into(),
        op: Op::In(vec![]),
    };
    let empty_not_in = Filter::Field {
        field: "title".into(),
        op: Op::NotIn(vec![]),
    };
    assert_eq!(count(empty_in), 0);
    assert_eq!(count(empty_not_in), total);
}

/// Set (to a depth) in the child process `deep_filters_…` starts.
const DEEP_PROBE: &str = "JINGXI_FUZZ_DEEP_FILTER_DEPTH";

/// A filter `depth` levels deep, alternating `not`, `and` and `or` around one comparison.
fn deep_filter(depth: usize) -> Filter {
    let mut filter = Filter::Field {
        field: "title".into(),
        op: Op::Eq(json!("'; DROP TABLE tenant; --")),
    };
    for level in 0..depth {
        filter = match level % 3 {
            0 => Filter::Not(Box::new(filter)),
            1 => Filter::And(vec![filter]),
            _ => Filter::Or(vec![filter]),
        };
    }
    filter
}

/// Does nothing unless started by the test below: counts with a deep filter on a thread with
/// the 2 MiB stack of a server worker. A stack overflow aborts the process, so it runs alone.
#[test]
fn deep_filter_probe() {
    let Some(depth) = std::env::var(DEEP_PROBE)
        .ok()
        .and_then(|d| d.parse::<usize>().ok())
    else {
        return;
    };
    let answer = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let world = &*WORLD;
            let all = access(1, USER_A, Rows::All, Access::ALL_LEVELS);
            let filter = deep_filter(depth);
            let result = run(world
                .store
                .count_records(&all, &world.entity, Some(&filter)));
            let answer = format!("{result:?}");
            // Dropping a deep tree recurses too; leak it, the process ends right after.
            std::mem::forget(filter);
            (
                matches!(result, Ok(_) | Err(Error::BadFilter { .. })),
                answer,
            )
        })
        .expect("probe thread")
        .join()
        .expect("the probe thread does not panic");
    assert!(
        answer.0,
        "a filter {depth} levels deep failed with {}",
        answer.1
    );
}

#[test]
fn deep_filters_are_answered_or_refused_without_overflowing_the_stack() {
    let mut found = Vec::new();
    for depth in [100, 500, 1_000, 5_000, 50_000] {
        let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "deep_filter_probe",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DEEP_PROBE, depth.to_string())
            .output()
            .expect("the probe runs");
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let why: Vec<&str> = stderr
                .lines()
                .filter(|l| l.contains("overflow") || l.contains("failed with"))
                .take(2)
                .collect();
            found.push(format!(
                "a filter {depth} levels deep: {}: {}",
                output.status,
                why.join(" | ")
            ));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn oversized_in_lists_are_refused_as_bad_filters() {
    let world = &*WORLD;
    let all = access(1, USER_A, Rows::All, Access::ALL_LEVELS);
    let values: Vec<Value> = (0..1_001).map(|i| json!(format!("t{i}"))).collect();
    for op in [Op::In(values.clone()), Op::NotIn(values)] {
        let filter = Filter::Field {
            field: "title".into(),
            op,
        };
        let result = run(world
            .store
            .count_records(&all, &world.entity, Some(&filter)));
        assert!(matches!(result, Err(Error::BadFilter { .. })), "{result:?}");
    }
}

#[test]
fn many_in_lists_together_are_answered_or_refused_as_bad_filters() {
    // Each list is within the per-list cap; together they bind more parameters than SQLite
    // (32,766) or PostgreSQL (65,535) accept in one statement.
    let list: Vec<Value> = (0..1_000).map(Value::from).collect();
    let mut found = Vec::new();
    for lists in [10, 40, 70] {
        let filter = Filter::Or(
            (0..lists)
                .map(|_| Filter::Field {
                    field: "qty".into(),
                    op: Op::In(list.clone()),
                })
                .collect(),
        );
        found.extend(unexpected(
            &count_all(&filter),
            &format!("{lists} 000 bound values"),
        ));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn wide_or_filters_are_answered_or_refused_as_bad_filters() {
    // No bound values at all, but many terms in one OR.
    let mut found = Vec::new();
    for width in [500, 1_001, 5_000] {
        let filter = Filter::Or(
            (0..width)
                .map(|_| Filter::Field {
                    field: "id".into(),
                    op: Op::IsNull(true),
                })
                .collect(),
        );
        found.extend(unexpected(
            &count_all(&filter),
            &format!("an OR of {width} terms"),
        ));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn long_like_patterns_are_answered_or_refused_as_bad_filters() {
    let mut found = Vec::new();
    for len in [10_000, 60_000, 1_000_000] {
        let filter = Filter::Field {
            field: "title".into(),
            op: Op::Like(format!("%{}%", "x".repeat(len))),
        };
        found.extend(unexpected(
            &count_all(&filter),
            &format!("a like pattern of {len} characters"),
        ));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn page_offsets_beyond_i64_are_answered_without_a_panic() {
    let world = &*WORLD;
    let all = access(1, USER_A, Rows::All, Access::ALL_LEVELS);
    let mut found = Vec::new();
    for (offset, limit) in [
        (i64::MAX as u64, 1),
        (i64::MAX as u64 + 1, 1),
        (u64::MAX, 1),
        (0, u64::MAX),
    ] {
        let page = Page {
            offset,
            limit,
            children: true,
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(world
                .store
                .list_records(&all, &world.entity, None, &[], page))
        }));
        match result {
            Ok(Ok(records)) if offset >= 100 && !records.is_empty() => {
                found.push(format!("{page:?} returned {} records", records.len()))
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => found.push(format!("{page:?} failed with {error:?}")),
            Err(panic) => found.push(format!(
                "{page:?} panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("?")
            )),
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
