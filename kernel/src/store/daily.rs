//! Daily counts (`x-jingxi.dailyCounts`): for an entity that declares them, a table holding how
//! many records fall on each day and combination of a few fields. Every write adjusts it in the
//! same transaction, so it is never behind the records; a count bounded on whole days that filters
//! and groups only by those fields adds up a few rows per day instead of counting every record.
//!
//! The table is created and filled from the records the first time its definition is seen; a
//! changed definition gets a table of its own (the name ends in a hash of the definition).

use std::collections::HashMap;

use chrono::{Days, FixedOffset, NaiveDate, NaiveTime};
use sea_orm::sea_query::{
    Alias, ColumnDef, Expr, Func, Index, OnConflict, Order as SqlOrder, Query, SimpleExpr, Table,
};
use sea_orm::{ConnectionTrait, DatabaseBackend, TransactionTrait};
use serde_json::{Map, Value};

use super::codec::{column_type, from_row, from_sql, parse_datetime, system_kind, to_sql};
use super::filter::{self, Filter, Op};
use super::records::{Record, col};
use super::{Access, Group, Result, Rows, Store};
use crate::model::{DailyCount, EntityDef, FieldKind};

/// Rows read per statement while filling a new table from the records.
const FILL_PAGE: u64 = 10_000;
/// Counters written per statement.
const UPSERT_CHUNK: usize = 200;

/// The kind of a counted column: a property or the system column `state`.
fn kind(entity: &EntityDef, name: &str) -> FieldKind {
    system_kind(name)
        .or_else(|| entity.field(name).map(|field| field.kind.clone()))
        .unwrap_or(FieldKind::Text)
}

/// The columns whose values decide where a record is counted, each once.
pub(super) fn counted_columns(entity: &EntityDef) -> Vec<(String, FieldKind)> {
    let mut columns: Vec<(String, FieldKind)> = Vec::new();
    for daily in &entity.daily_counts {
        for name in std::iter::once(&daily.day).chain(&daily.by) {
            if !columns.iter().any(|(known, _)| known == name) {
                columns.push((name.clone(), kind(entity, name)));
            }
        }
    }
    columns
}

/// The day a value of the `day` column falls on, in the count's calendar.
fn day_of(daily: &DailyCount, value: &Value) -> Option<NaiveDate> {
    let text = value.as_str()?;
    match parse_datetime(text) {
        Some(at) => {
            let offset = FixedOffset::east_opt(daily.utc_offset_seconds)?;
            Some(at.with_timezone(&offset).date_naive())
        }
        None => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
    }
}

/// One counter: its day and field values, and how much it changes.
struct Change {
    day: NaiveDate,
    values: Vec<Value>,
    delta: i64,
}

/// The counter changes of one transaction (or one fill), netted per counter before they are
/// written.
#[derive(Default)]
pub(super) struct Tally {
    changes: HashMap<(usize, i64, String), Change>,
}

impl Tally {
    pub(super) fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Counts `record` (`delta` 1) or stops counting it (`delta` -1) in every daily count of the
    /// entity. Values are taken as the store reads them back, so that a record written and later
    /// read for an update lands on the same counter.
    pub(super) fn add(
        &mut self,
        entity: &EntityDef,
        tenant_id: i64,
        record: &Record,
        delta: i64,
        backend: DatabaseBackend,
    ) {
        for daily_idx in 0..entity.daily_counts.len() {
            self.count(entity, daily_idx, tenant_id, record, delta, backend);
        }
    }

    /// [`Tally::add`] for the daily count `daily_idx` of the entity alone.
    fn count(
        &mut self,
        entity: &EntityDef,
        daily_idx: usize,
        tenant_id: i64,
        record: &Record,
        delta: i64,
        backend: DatabaseBackend,
    ) {
        let daily = &entity.daily_counts[daily_idx];
        let Some(day) = record
            .get(&daily.day)
            .and_then(|value| day_of(daily, value))
        else {
            // A record without a day is in no day's count; bounded counts never include it.
            return;
        };
        let values: Vec<Value> = daily
            .by
            .iter()
            .map(|name| {
                let kind = kind(entity, name);
                to_sql(&kind, record.get(name), backend)
                    .map(|sql| from_sql(&kind, &sql))
                    .unwrap_or(Value::Null)
            })
            .collect();
        let key = format!("{day}|{}", Value::Array(values.clone()));
        let change = self
            .changes
            .entry((daily_idx, tenant_id, key))
            .or_insert(Change {
                day,
                values,
                delta: 0,
            });
        change.delta += delta;
    }

    /// Writes the changes: adds each delta to its counter, creating counters as needed.
    pub(super) async fn write(
        self,
        db: &impl ConnectionTrait,
        entity: &EntityDef,
        backend: DatabaseBackend,
    ) -> Result<()> {
        let mut per_table: Vec<Vec<(i64, String, Change)>> =
            entity.daily_counts.iter().map(|_| Vec::new()).collect();
        for ((daily_idx, tenant_id, key), change) in self.changes {
            if change.delta != 0 {
                per_table[daily_idx].push((tenant_id, key, change));
            }
        }
        for (daily, mut changes) in entity.daily_counts.iter().zip(per_table) {
            // One order for every writer: concurrent PostgreSQL transactions then lock
            // counters in the same order and cannot deadlock on them.
            changes.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            let table = Alias::new(&daily.table);
            let mut columns = vec![
                Alias::new("tenant_id"),
                Alias::new("bucket"),
                Alias::new("day"),
            ];
            columns.extend(daily.by.iter().map(Alias::new));
            columns.push(Alias::new("n"));
            let kinds: Vec<FieldKind> = daily.by.iter().map(|name| kind(entity, name)).collect();
            for chunk in changes.chunks(UPSERT_CHUNK) {
                let mut insert = Query::insert();
                insert.into_table(table.clone()).columns(columns.clone());
                for (tenant_id, key, change) in chunk {
                    let mut row: Vec<SimpleExpr> =
                        vec![(*tenant_id).into(), key.as_str().into(), change.day.into()];
                    for (kind, value) in kinds.iter().zip(&change.values) {
                        let sql = to_sql(kind, Some(value), backend).map_err(|expected| {
                            super::Error::Refused(format!("daily count value: expected {expected}"))
                        })?;
                        row.push(SimpleExpr::Value(sql));
                    }
                    row.push(change.delta.into());
                    insert
                        .values(row)
                        .map_err(|error| super::Error::Refused(error.to_string()))?;
                }
                insert.on_conflict(
                    OnConflict::columns([Alias::new("tenant_id"), Alias::new("bucket")])
                        .value(
                            Alias::new("n"),
                            col(&daily.table, "n").add(col("excluded", "n")),
                        )
                        .to_owned(),
                );
                db.execute(backend.build(&insert)).await?;
            }
        }
        Ok(())
    }
}

/// What a count asks of one daily count: the days (from, until exclusive) and the conditions
/// on its fields.
struct Plan<'a> {
    daily: &'a DailyCount,
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
    rest: Vec<Filter>,
}

fn conjuncts<'f>(filter: &'f Filter, into: &mut Vec<&'f Filter>) {
    match filter {
        Filter::And(items) => items.iter().for_each(|item| conjuncts(item, into)),
        other => into.push(other),
    }
}

fn names_only(filter: &Filter, allowed: &[String]) -> bool {
    match filter {
        Filter::And(items) | Filter::Or(items) => {
            items.iter().all(|item| names_only(item, allowed))
        }
        Filter::Not(inner) => names_only(inner, allowed),
        Filter::Field { field, .. } => allowed.contains(field),
    }
}

/// The whole days a comparison on the day column selects: `(from, until)`, either open. `None`
/// when the comparison does not fall on day boundaries of the count's calendar.
fn bounds(
    daily: &DailyCount,
    kind: &FieldKind,
    op: &Op,
) -> Option<(Option<NaiveDate>, Option<NaiveDate>)> {
    let next = |day: NaiveDate| day.checked_add_days(Days::new(1));
    match kind {
        FieldKind::DateTime => {
            let (value, lower) = match op {
                Op::Gte(value) => (value, true),
                Op::Lt(value) => (value, false),
                _ => return None,
            };
            let offset = FixedOffset::east_opt(daily.utc_offset_seconds)?;
            let local = parse_datetime(value.as_str()?)?.with_timezone(&offset);
            if local.time() != NaiveTime::MIN {
                return None;
            }
            let day = local.date_naive();
            Some(if lower {
                (Some(day), None)
            } else {
                (None, Some(day))
            })
        }
        FieldKind::Date => {
            let date = |value: &Value| NaiveDate::parse_from_str(value.as_str()?, "%Y-%m-%d").ok();
            Some(match op {
                Op::Gte(value) => (Some(date(value)?), None),
                Op::Gt(value) => (Some(next(date(value)?)?), None),
                Op::Lte(value) => (None, Some(next(date(value)?)?)),
                Op::Lt(value) => (None, Some(date(value)?)),
                Op::Eq(value) => {
                    let day = date(value)?;
                    (Some(day), Some(next(day)?))
                }
                _ => return None,
            })
        }
        _ => None,
    }
}

fn plan<'a>(
    entity: &'a EntityDef,
    filter: &Filter,
    group_by: &[String],
    level: u8,
) -> Option<Plan<'a>> {
    let mut parts = Vec::new();
    conjuncts(filter, &mut parts);
    entity.daily_counts.iter().find_map(|daily| {
        if !group_by.iter().all(|field| daily.by.contains(field)) {
            return None;
        }
        let day_field = entity
            .field(&daily.day)
            .filter(|field| field.level <= level)?;
        let mut plan = Plan {
            daily,
            from: None,
            until: None,
            rest: Vec::new(),
        };
        for part in &parts {
            match part {
                Filter::Field { field, op } if *field == daily.day => {
                    let (from, until) = bounds(daily, &day_field.kind, op)?;
                    plan.from = plan.from.max(from);
                    plan.until = match (plan.until, until) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                other if names_only(other, &daily.by) => plan.rest.push((*other).clone()),
                _ => return None,
            }
        }
        (plan.from.is_some() || plan.until.is_some()).then_some(plan)
    })
}

impl Store {
    /// Creates and fills the daily-count tables of `entity` that do not exist yet, and returns
    /// their names. Each table is created and filled in one transaction, so a failure leaves no
    /// half-filled table behind. Runs under the write lock (from `ensure_tables`).
    pub(super) async fn ensure_daily_counts(&self, entity: &EntityDef) -> Result<Vec<String>> {
        let mut created = Vec::new();
        for (daily_idx, daily) in entity.daily_counts.iter().enumerate() {
            if self.existing_columns(&daily.table).await?.is_some() {
                continue;
            }
            let backend = self.backend;
            let tx = self.db.begin().await?;
            self.hold_writers(&tx, entity).await?;
            let mut create = Table::create();
            create
                .table(Alias::new(&daily.table))
                .col(
                    ColumnDef::new(Alias::new("tenant_id"))
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Alias::new("bucket")).text().not_null())
                .col(ColumnDef::new(Alias::new("day")).date().not_null());
            for name in &daily.by {
                let mut column = ColumnDef::new(Alias::new(name));
                column_type(&mut column, &kind(entity, name), backend);
                create.col(column.null());
            }
            create
                .col(ColumnDef::new(Alias::new("n")).big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(Alias::new("tenant_id"))
                        .col(Alias::new("bucket")),
                );
            tx.execute(backend.build(&create)).await?;
            let by_day = Index::create()
                .name(format!("{}__day", daily.table))
                .table(Alias::new(&daily.table))
                .col(Alias::new("tenant_id"))
                .col(Alias::new("day"))
                .to_owned();
            tx.execute(backend.build(&by_day)).await?;
            let counted = self.fill_daily_count(&tx, entity, daily_idx).await?;
            tx.commit().await?;
            tracing::info!(table = %daily.table, records = counted, "daily counts filled from the records");
            created.push(daily.table.clone());
        }
        Ok(created)
    }

    /// Keeps other writers of the entity's records out until `tx` ends, so that a fill counts a
    /// set of records that does not move. SQLite has one writer, and the caller holds the write
    /// lock; PostgreSQL takes a lock that waits for running writers and holds off new ones.
    async fn hold_writers(&self, tx: &impl ConnectionTrait, entity: &EntityDef) -> Result<()> {
        if self.backend == DatabaseBackend::Postgres {
            let lock = format!("LOCK TABLE \"{}\" IN SHARE MODE", entity.table);
            tx.execute_unprepared(&lock).await?;
        }
        Ok(())
    }

    /// Counts every record of every tenant into the (empty) table of the entity's daily count
    /// `daily_idx`, reading the records in pages along the primary key.
    async fn fill_daily_count(
        &self,
        db: &impl ConnectionTrait,
        entity: &EntityDef,
        daily_idx: usize,
    ) -> Result<u64> {
        let daily = &entity.daily_counts[daily_idx];
        let backend = self.backend;
        let table = entity.table.as_str();
        let columns: Vec<(String, FieldKind)> = std::iter::once(&daily.day)
            .chain(&daily.by)
            .map(|name| (name.clone(), kind(entity, name)))
            .collect();
        let mut tally = Tally::default();
        let mut after: Option<(i64, uuid::Uuid)> = None;
        let mut counted = 0u64;
        loop {
            let mut select = Query::select();
            select
                .from(Alias::new(table))
                .column(Alias::new("tenant_id"))
                .column(Alias::new("id"));
            for (name, _) in &columns {
                select.column(Alias::new(name));
            }
            if let Some((tenant_id, id)) = after {
                select.and_where(
                    Expr::tuple([
                        Expr::col(Alias::new("tenant_id")).into(),
                        Expr::col(Alias::new("id")).into(),
                    ])
                    .gt(Expr::tuple([
                        Expr::val(tenant_id).into(),
                        Expr::val(id).into(),
                    ])),
                );
            }
            select
                .order_by(Alias::new("tenant_id"), SqlOrder::Asc)
                .order_by(Alias::new("id"), SqlOrder::Asc)
                .limit(FILL_PAGE);
            let rows = db.query_all(backend.build(&select)).await?;
            for row in &rows {
                let tenant_id: i64 = row.try_get("", "tenant_id")?;
                let mut record = Map::new();
                for (name, kind) in &columns {
                    record.insert(name.clone(), from_row(row, name, kind, backend)?);
                }
                tally.count(entity, daily_idx, tenant_id, &record, 1, backend);
                after = Some((tenant_id, row.try_get("", "id")?));
            }
            counted += rows.len() as u64;
            if (rows.len() as u64) < FILL_PAGE {
                break;
            }
        }
        tally.write(db, entity, backend).await?;
        Ok(counted)
    }

    /// Empties and refills every daily-count table of `entity` from the records. The kernel
    /// calls it after a plugin that adds daily counts is in place: writes that still used the
    /// previous definition while the counts were first filled are counted then.
    pub async fn refill_daily_counts(&self, entity: &EntityDef) -> Result<()> {
        let _guard = self.write_guard().await;
        self.refill_daily_counts_locked(entity).await
    }

    /// [`Store::refill_daily_counts`] for a caller that holds the write lock.
    pub(super) async fn refill_daily_counts_locked(&self, entity: &EntityDef) -> Result<()> {
        for (daily_idx, daily) in entity.daily_counts.iter().enumerate() {
            let tx = self.db.begin().await?;
            self.hold_writers(&tx, entity).await?;
            let delete = Query::delete()
                .from_table(Alias::new(&daily.table))
                .to_owned();
            tx.execute(self.backend.build(&delete)).await?;
            self.fill_daily_count(&tx, entity, daily_idx).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// The count per group, answered from a daily count when the caller sees the whole tenant and
    /// the filter bounds the day on whole days and otherwise names only counted fields. `None`
    /// when no daily count can answer; the caller then counts the records.
    pub(super) async fn daily_groups(
        &self,
        access: &Access,
        entity: &EntityDef,
        filter: Option<&Filter>,
        group_by: &[String],
        max_groups: u64,
    ) -> Result<Option<Vec<Group>>> {
        // Row scopes (own records, an org unit's) are not counted apart.
        let (Rows::All, Some(filter)) = (&access.rows, filter) else {
            return Ok(None);
        };
        filter::check_size(filter)?;
        let Some(plan) = plan(entity, filter, group_by, access.level) else {
            return Ok(None);
        };
        let backend = self.backend;
        // The daily table is read under the entity table's name, so the filter's columns resolve
        // to its copies of the counted fields.
        let table = entity.table.as_str();
        let total = || -> SimpleExpr {
            let sum: SimpleExpr = Func::sum(col(table, "n")).into();
            match backend {
                // PostgreSQL sums BIGINT as NUMERIC.
                DatabaseBackend::Postgres => Func::cast_as(sum, Alias::new("BIGINT")).into(),
                _ => sum,
            }
        };
        let mut select = Query::select();
        select.from_as(Alias::new(&plan.daily.table), Alias::new(table));
        let mut keys = Vec::with_capacity(group_by.len());
        for (i, field) in group_by.iter().enumerate() {
            keys.push((field.clone(), filter::kind_of(entity, field, access.level)?));
            select.expr_as(col(table, field), Alias::new(format!("k{i}")));
            select.group_by_col((Alias::new(table), Alias::new(field)));
        }
        select
            .expr_as(total(), Alias::new("n"))
            .and_where(col(table, "tenant_id").eq(access.tenant_id));
        if let Some(from) = plan.from {
            select.and_where(col(table, "day").gte(from));
        }
        if let Some(until) = plan.until {
            select.and_where(col(table, "day").lt(until));
        }
        if !plan.rest.is_empty() {
            select.cond_where(filter::condition(
                entity,
                &Filter::And(plan.rest),
                backend,
                access.level,
            )?);
        }
        if !group_by.is_empty() {
            // Counters of records since changed or deleted stay at zero: no group, as when
            // counting records. Without groups there is one answer, zero included.
            select.and_having(Expr::expr(total()).gt(0));
        }
        select
            .order_by_expr(total(), SqlOrder::Desc)
            .limit(max_groups);
        let rows = self.db.query_all(backend.build(&select)).await?;
        let groups = rows
            .iter()
            .map(|row| {
                let mut key = Map::new();
                for (i, (field, kind)) in keys.iter().enumerate() {
                    key.insert(
                        field.clone(),
                        from_row(row, &format!("k{i}"), kind, backend)?,
                    );
                }
                Ok(Group {
                    key,
                    // The sum of no counters is NULL.
                    count: row.try_get::<Option<i64>>("", "n")?.unwrap_or(0).max(0) as u64,
                    sum: Map::new(),
                    avg: Map::new(),
                    min: Map::new(),
                    max: Map::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(groups))
    }
}
