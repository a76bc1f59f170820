//! Reading and writing plugin records, always inside the caller's tenant and row scope.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Asterisk, Cond, Condition, Expr, Func, NullOrdering, Order as SqlOrder,
    OrderedStatement, Query, SelectStatement, SimpleExpr, Value as SqlValue,
};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, QueryResult, TransactionTrait,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::codec::{from_row, from_sql, system_kind, to_sql};
use super::daily::{Tally, counted_columns};
use super::filter::{self, Filter, Order};
use super::{Access, Error, Result, Rows, Store};
use crate::model::{ChildDef, EntityDef, FieldDef, FieldIssue, FieldKind};

/// A record: schema field names to JSON values, child tables as arrays, plus the system fields
/// `id`, `owner_id`, `org_unit_id`, `state`, `version`, `created_at/by`, `updated_at/by`.
pub type Record = Map<String, Value>;

/// Offset and size of one page.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: u64,
    pub limit: u64,
    /// Load child tables too (one more statement per child table); lists that do not show
    /// them skip it.
    pub children: bool,
}

/// The system columns a record carries (every reserved name but the tenant, which callers
/// never see).
fn system_columns() -> impl Iterator<Item = &'static str> {
    crate::model::RESERVED
        .iter()
        .copied()
        .filter(|name| *name != "tenant_id")
}

/// Whether the entity or one of its child tables has a JSON field.
fn holds_json(entity: &EntityDef) -> bool {
    entity
        .fields
        .iter()
        .chain(entity.children.iter().flat_map(|c| c.fields.iter()))
        .any(|f| matches!(f.kind, FieldKind::Json))
}

/// Rows per INSERT statement; keeps the bound parameters far below both backends' limits.
const INSERT_CHUNK: usize = 200;

pub(super) fn col(table: &str, name: &str) -> Expr {
    Expr::col((Alias::new(table), Alias::new(name)))
}

/// `COUNT(*)`: the matching rows, without reading any column. `COUNT(id)` would make both
/// databases read the table rows, since no secondary index holds the id.
pub(super) fn count_rows() -> SimpleExpr {
    Func::count(Expr::col(Asterisk)).into()
}

/// The tenant predicate and the row scope: part of every statement on a record table.
pub(super) fn scope(table: &str, access: &Access) -> Condition {
    let tenant = col(table, "tenant_id").eq(access.tenant_id);
    let rows: SimpleExpr = match &access.rows {
        Rows::None => Expr::val(1).eq(0),
        Rows::All => Expr::val(1).eq(1),
        Rows::Own => col(table, "owner_id").eq(access.user_id),
        Rows::OrgUnit { path } => {
            col(table, "org_unit_id").in_subquery(units_under(access.tenant_id, path))
        }
    };
    Cond::all().add(tenant).add(rows)
}

/// The ids of the org units at and below `path` (a materialized-path prefix).
fn units_under(tenant_id: i64, path: &str) -> SelectStatement {
    Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("org_unit"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(Alias::new("path")).like(format!("{path}%")))
        .to_owned()
}

fn duplicate(error: DbErr, entity: &EntityDef) -> Error {
    let message = error.to_string();
    let is_unique =
        message.contains("UNIQUE constraint failed") || message.contains("duplicate key value");
    if !is_unique {
        return Error::Db(error);
    }
    let field = entity.fields.iter().filter(|f| f.unique).find(|f| {
        message.contains(&format!("{}__{}__uq", entity.table, f.name))
            || message.contains(&format!("{}.{}", entity.table, f.name))
    });
    match field {
        Some(field) => Error::Invalid {
            issues: vec![FieldIssue::new(
                format!("/{}", field.name),
                "duplicate",
                format!(
                    "「{}」已被使用 / {} is already used.",
                    field.title, field.title_en
                ),
            )],
        },
        None => Error::Db(error),
    }
}

fn field_values(
    fields: &[FieldDef],
    record: &Record,
    backend: DatabaseBackend,
) -> Result<Vec<SqlValue>> {
    let mut issues = Vec::new();
    let mut values = Vec::with_capacity(fields.len());
    for field in fields {
        match to_sql(&field.kind, record.get(&field.name), backend) {
            Ok(value) => values.push(value),
            Err(expected) => issues.push(FieldIssue::new(
                format!("/{}", field.name),
                "type",
                format!(
                    "「{}」应为 {expected} / {} must be {expected}.",
                    field.title, field.title_en
                ),
            )),
        }
    }
    if issues.is_empty() {
        Ok(values)
    } else {
        Err(Error::Invalid { issues })
    }
}

/// The columns the caller may read: system columns and fields up to their read level.
pub(super) fn select_columns(entity: &EntityDef, level: u8) -> SelectStatement {
    let mut select = Query::select();
    select.from(Alias::new(&entity.table));
    for name in system_columns() {
        select.column((Alias::new(&entity.table), Alias::new(name)));
    }
    for field in entity.fields.iter().filter(|f| f.level <= level) {
        select.column((Alias::new(&entity.table), Alias::new(&field.name)));
    }
    select
}

/// The select of records by id within the caller's scope; `None` when nothing can match.
fn by_ids(access: &Access, entity: &EntityDef, ids: &[Uuid]) -> Option<SelectStatement> {
    if ids.is_empty() || access.rows == Rows::None {
        return None;
    }
    let mut select = select_columns(entity, access.level);
    select
        .cond_where(scope(&entity.table, access))
        .and_where(col(&entity.table, "id").is_in(ids.iter().copied()));
    Some(select)
}

pub(super) fn decode(
    entity: &EntityDef,
    row: &QueryResult,
    backend: DatabaseBackend,
    level: u8,
) -> Result<Record> {
    let mut record = Map::new();
    for name in system_columns() {
        let kind = system_kind(name).expect("system columns have kinds");
        record.insert(name.to_string(), from_row(row, name, &kind, backend)?);
    }
    for field in entity.fields.iter().filter(|f| f.level <= level) {
        record.insert(
            field.name.clone(),
            from_row(row, &field.name, &field.kind, backend)?,
        );
    }
    Ok(record)
}

impl Store {
    pub(super) async fn load_children<C: ConnectionTrait>(
        &self,
        db: &C,
        entity: &EntityDef,
        access: &Access,
        records: &mut [Record],
    ) -> Result<()> {
        let tenant_id = access.tenant_id;
        if entity.children.is_empty() || records.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = records
            .iter()
            .filter_map(|r| {
                r.get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| Uuid::parse_str(id).ok())
            })
            .collect();
        for child in entity.children.iter().filter(|c| c.level <= access.level) {
            let mut select = Query::select();
            select
                .from(Alias::new(&child.table))
                .column(Alias::new("parent_id"))
                .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant_id))
                .and_where(Expr::col(Alias::new("parent_id")).is_in(ids.iter().copied()))
                .order_by(Alias::new("parent_id"), SqlOrder::Asc)
                .order_by(Alias::new("idx"), SqlOrder::Asc);
            for field in &child.fields {
                select.column(Alias::new(&field.name));
            }
            let rows = db.query_all(self.backend.build(&select)).await?;
            let mut by_parent: HashMap<Uuid, Vec<Value>> = HashMap::new();
            for row in rows {
                let parent: Uuid = row.try_get("", "parent_id")?;
                let mut item = Map::new();
                for field in &child.fields {
                    let value = from_row(&row, &field.name, &field.kind, self.backend)?;
                    if !value.is_null() {
                        item.insert(field.name.clone(), value);
                    }
                }
                by_parent
                    .entry(parent)
                    .or_default()
                    .push(Value::Object(item));
            }
            for record in records.iter_mut() {
                let id = record
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| Uuid::parse_str(id).ok());
                let items = id.and_then(|id| by_parent.remove(&id)).unwrap_or_default();
                record.insert(child.name.clone(), Value::Array(items));
            }
        }
        Ok(())
    }

    /// Writes the child rows of several parents with multi-row inserts. With `replace`, the
    /// parents' existing rows go first (an update); new parents have none (a create). Returns
    /// each parent's rows as a read returns them.
    async fn write_children<C: ConnectionTrait>(
        &self,
        db: &C,
        child: &ChildDef,
        tenant_id: i64,
        parents: &[(Uuid, &[Value])],
        replace: bool,
    ) -> Result<Vec<Vec<Value>>> {
        if replace && !parents.is_empty() {
            let delete = Query::delete()
                .from_table(Alias::new(&child.table))
                .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant_id))
                .and_where(
                    Expr::col(Alias::new("parent_id")).is_in(parents.iter().map(|(id, _)| *id)),
                )
                .to_owned();
            db.execute(self.backend.build(&delete)).await?;
        }
        let mut columns = vec![
            Alias::new("tenant_id"),
            Alias::new("parent_id"),
            Alias::new("idx"),
        ];
        columns.extend(child.fields.iter().map(|f| Alias::new(&f.name)));
        let rows: Vec<(Uuid, usize, &Value)> = parents
            .iter()
            .flat_map(|(parent_id, items)| {
                items
                    .iter()
                    .enumerate()
                    .map(move |(idx, item)| (*parent_id, idx, item))
            })
            .collect();
        let empty = Map::new();
        let mut written: Vec<Vec<Value>> = parents
            .iter()
            .map(|(_, items)| Vec::with_capacity(items.len()))
            .collect();
        let mut parent_idx = 0;
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut insert = Query::insert();
            insert
                .into_table(Alias::new(&child.table))
                .columns(columns.clone());
            for (parent_id, idx, item) in chunk {
                let item = item.as_object().unwrap_or(&empty);
                let mut row: Vec<SimpleExpr> =
                    vec![tenant_id.into(), (*parent_id).into(), (*idx as i32).into()];
                let values =
                    field_values(&child.fields, item, self.backend).map_err(
                        |error| match error {
                            Error::Invalid { issues } => Error::Invalid {
                                issues: issues
                                    .into_iter()
                                    .map(|i| FieldIssue {
                                        pointer: format!("/{}/{idx}{}", child.name, i.pointer),
                                        ..i
                                    })
                                    .collect(),
                            },
                            other => other,
                        },
                    )?;
                let mut read_back = Map::new();
                for (field, value) in child.fields.iter().zip(&values) {
                    let value = from_sql(&field.kind, value);
                    if !value.is_null() {
                        read_back.insert(field.name.clone(), value);
                    }
                }
                // Rows come parent by parent; a parent with no rows has nothing to receive.
                while parents[parent_idx].0 != *parent_id {
                    parent_idx += 1;
                }
                written[parent_idx].push(Value::Object(read_back));
                row.extend(values.into_iter().map(SimpleExpr::Value));
                insert
                    .values(row)
                    .map_err(|error| Error::Refused(error.to_string()))?;
            }
            db.execute(self.backend.build(&insert)).await?;
        }
        Ok(written)
    }

    /// Opens a write transaction: every change made through it lands together at
    /// [`Tx::commit`], or not at all (dropping it rolls back).
    pub async fn begin(&self) -> Result<Tx<'_>> {
        let guard = self.write_guard().await;
        let tx = self.db.begin().await?;
        Ok(Tx {
            store: self,
            tx,
            _guard: guard,
            grown: Vec::new(),
        })
    }

    /// Records by id that the caller may see, in no particular order; missing ids are skipped.
    pub async fn get_records(
        &self,
        access: &Access,
        entity: &EntityDef,
        ids: &[Uuid],
    ) -> Result<Vec<Record>> {
        self.get_records_with(access, entity, ids, true).await
    }

    /// Like [`Store::get_records`]; without child tables when `children` is false.
    pub async fn get_records_with(
        &self,
        access: &Access,
        entity: &EntityDef,
        ids: &[Uuid],
        children: bool,
    ) -> Result<Vec<Record>> {
        match by_ids(access, entity, ids) {
            Some(select) => {
                self.fetch(&self.db, entity, access, &select, children)
                    .await
            }
            None => Ok(Vec::new()),
        }
    }

    /// Whether a record owned by `owner_id` in `org_unit_id` (one that may no longer exist, such
    /// as a deleted one) lies within the caller's row scope: the predicate of [`scope`], applied
    /// to those two values.
    pub async fn reaches(
        &self,
        access: &Access,
        owner_id: Option<Uuid>,
        org_unit_id: Option<Uuid>,
    ) -> Result<bool> {
        Ok(match &access.rows {
            Rows::None => false,
            Rows::All => true,
            Rows::Own => owner_id == Some(access.user_id),
            Rows::OrgUnit { path } => {
                let Some(unit) = org_unit_id else {
                    return Ok(false);
                };
                let mut select = units_under(access.tenant_id, path);
                select.and_where(Expr::col(Alias::new("id")).eq(unit));
                self.db
                    .query_one(self.backend.build(&select))
                    .await?
                    .is_some()
            }
        })
    }

    /// Which of `ids` name records the caller may reach; reads the ids only.
    pub async fn existing_ids(
        &self,
        access: &Access,
        entity: &EntityDef,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>> {
        if ids.is_empty() || access.rows == Rows::None {
            return Ok(Vec::new());
        }
        let mut select = Query::select();
        select
            .from(Alias::new(&entity.table))
            .column((Alias::new(&entity.table), Alias::new("id")))
            .cond_where(scope(&entity.table, access))
            .and_where(col(&entity.table, "id").is_in(ids.iter().copied()));
        let rows = self.db.query_all(self.backend.build(&select)).await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<Uuid>("", "id")?))
            .collect()
    }

    /// Runs a select of `select_columns` and decodes the records with their child rows.
    async fn fetch<C: ConnectionTrait>(
        &self,
        db: &C,
        entity: &EntityDef,
        access: &Access,
        select: &SelectStatement,
        children: bool,
    ) -> Result<Vec<Record>> {
        let rows = db.query_all(self.backend.build(select)).await?;
        let mut records = rows
            .iter()
            .map(|row| decode(entity, row, self.backend, access.level))
            .collect::<Result<Vec<_>>>()?;
        if children {
            self.load_children(db, entity, access, &mut records).await?;
        }
        Ok(records)
    }

    pub(super) fn filtered(
        &self,
        entity: &EntityDef,
        access: &Access,
        filter: Option<&Filter>,
        select: &mut SelectStatement,
    ) -> Result<()> {
        select.cond_where(scope(&entity.table, access));
        if let Some(filter) = filter {
            select.cond_where(filter::condition(
                entity,
                filter,
                self.backend,
                access.level,
            )?);
        }
        Ok(())
    }

    /// One page of the records the caller may see, filtered and sorted; `id` breaks ties.
    pub async fn list_records(
        &self,
        access: &Access,
        entity: &EntityDef,
        filter: Option<&Filter>,
        order: &[Order],
        page: Page,
    ) -> Result<Vec<Record>> {
        if access.rows == Rows::None || page.limit == 0 {
            return Ok(Vec::new());
        }
        let mut select = select_columns(entity, access.level);
        self.filtered(entity, access, filter, &mut select)?;
        sort(&mut select, entity, access, order)?;
        // Both backends bind LIMIT and OFFSET as signed 64-bit integers.
        let (limit, offset) = (page.limit.min(i64::MAX as u64), page.offset);
        if offset > i64::MAX as u64 {
            return Ok(Vec::new());
        }
        select.limit(limit).offset(offset);
        self.fetch(&self.db, entity, access, &select, page.children)
            .await
    }

    /// How many records the caller may see that match the filter.
    pub async fn count_records(
        &self,
        access: &Access,
        entity: &EntityDef,
        filter: Option<&Filter>,
    ) -> Result<u64> {
        if access.rows == Rows::None {
            return Ok(0);
        }
        if let Some(groups) = self.daily_groups(access, entity, filter, &[], 1).await? {
            return Ok(groups.iter().map(|group| group.count).sum());
        }
        let mut select = Query::select();
        select
            .from(Alias::new(&entity.table))
            .expr_as(count_rows(), Alias::new("n"));
        self.filtered(entity, access, filter, &mut select)?;
        let row = self.db.query_one(self.backend.build(&select)).await?;
        let n: i64 = match row {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        Ok(n.max(0) as u64)
    }
}

/// Sorts by `order`, then by id so that ties keep one order across pages. Empty values sort
/// last in both directions, on both backends.
pub(super) fn sort(
    statement: &mut impl OrderedStatement,
    entity: &EntityDef,
    access: &Access,
    order: &[Order],
) -> Result<()> {
    for key in order {
        filter::kind_of(entity, &key.field, access.level)?;
        let direction = if key.descending {
            SqlOrder::Desc
        } else {
            SqlOrder::Asc
        };
        statement.order_by_with_nulls(
            (Alias::new(&entity.table), Alias::new(&key.field)),
            direction,
            NullOrdering::Last,
        );
    }
    statement.order_by((Alias::new(&entity.table), Alias::new("id")), SqlOrder::Asc);
    Ok(())
}

/// One write transaction (see [`Store::begin`]). On SQLite it holds the single-writer lock.
pub struct Tx<'s> {
    pub(super) store: &'s Store,
    pub(super) tx: DatabaseTransaction,
    _guard: Option<super::WriteGuard<'s>>,
    grown: Vec<(String, u64)>,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").finish_non_exhaustive()
    }
}

/// A record as an update or delete finds it.
struct Current {
    version: i64,
    state: Option<String>,
    /// The values of the columns its daily counts count it by (`state` among them if counted).
    counted: Record,
}

/// What an update expects to find, and the state it moves the record to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected<'a> {
    /// The version the caller read; `None` takes whatever is current.
    pub version: Option<i64>,
    /// The workflow state the record must still be in.
    pub state: Option<&'a str>,
    /// The workflow state to write.
    pub new_state: Option<&'a str>,
}

impl Tx<'_> {
    /// Inserts records: the caller owns them; their org unit is the caller's. Returns them as a
    /// read at every field level returns them (built from the values written, not read back).
    pub async fn insert_records(
        &mut self,
        access: &Access,
        entity: &EntityDef,
        records: &[Record],
        initial_state: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Record>> {
        if access.rows == Rows::None {
            return Err(Error::NotFound);
        }
        let backend = self.store.backend;
        let ids: Vec<Uuid> = records.iter().map(|_| Uuid::now_v7()).collect();
        let mut columns: Vec<Alias> = [
            "tenant_id",
            "id",
            "owner_id",
            "org_unit_id",
            "state",
            "version",
        ]
        .into_iter()
        .chain(["created_at", "created_by", "updated_at", "updated_by"])
        .map(Alias::new)
        .collect();
        columns.extend(entity.fields.iter().map(|f| Alias::new(&f.name)));
        let mut written: Vec<Record> = Vec::with_capacity(records.len());
        for (chunk_idx, chunk) in records.chunks(INSERT_CHUNK).enumerate() {
            let mut insert = Query::insert();
            insert
                .into_table(Alias::new(&entity.table))
                .columns(columns.clone());
            for (offset, record) in chunk.iter().enumerate() {
                let record_idx = chunk_idx * INSERT_CHUNK + offset;
                let system: [SqlValue; 9] = [
                    ids[record_idx].into(),
                    access.user_id.into(),
                    SqlValue::Uuid(access.org_unit_id.map(Box::new)),
                    SqlValue::String(initial_state.map(|s| Box::new(s.to_string()))),
                    1i64.into(),
                    now.into(),
                    access.user_id.into(),
                    now.into(),
                    access.user_id.into(),
                ];
                let values = field_values(&entity.fields, record, backend)?;
                let mut read_back = Record::new();
                for (name, value) in system_columns().zip(&system) {
                    let kind = system_kind(name).expect("system columns have kinds");
                    read_back.insert(name.to_string(), from_sql(&kind, value));
                }
                for (field, value) in entity.fields.iter().zip(&values) {
                    read_back.insert(field.name.clone(), from_sql(&field.kind, value));
                }
                written.push(read_back);
                let row: Vec<SimpleExpr> = std::iter::once(access.tenant_id.into())
                    .chain(system.into_iter().map(SimpleExpr::Value))
                    .chain(values.into_iter().map(SimpleExpr::Value))
                    .collect();
                insert
                    .values(row)
                    .map_err(|error| Error::Refused(error.to_string()))?;
            }
            self.tx
                .execute(backend.build(&insert))
                .await
                .map_err(|error| duplicate(error, entity))?;
        }
        if !entity.daily_counts.is_empty() {
            let mut tally = Tally::default();
            for record in &written {
                tally.add(entity, access.tenant_id, record, 1, backend);
            }
            tally.write(&self.tx, entity, backend).await?;
        }
        for child in &entity.children {
            let parents: Vec<(Uuid, &[Value])> = records
                .iter()
                .zip(&ids)
                .filter_map(|(record, id)| match record.get(&child.name) {
                    Some(Value::Array(items)) => Some((*id, items.as_slice())),
                    _ => None,
                })
                .collect();
            let mut rows = self
                .store
                .write_children(&self.tx, child, access.tenant_id, &parents, false)
                .await?
                .into_iter();
            for (record, source) in written.iter_mut().zip(records) {
                let items = match source.get(&child.name) {
                    Some(Value::Array(_)) => rows.next().unwrap_or_default(),
                    _ => Vec::new(),
                };
                record.insert(child.name.clone(), Value::Array(items));
            }
        }
        if backend == DatabaseBackend::Postgres && holds_json(entity) {
            // jsonb orders object keys and rewrites numbers its own way: read those back.
            let all = Access {
                rows: Rows::All,
                level: Access::ALL_LEVELS,
                ..*access
            };
            let mut read = self.get_records(&all, entity, &ids).await?;
            let position: HashMap<String, usize> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.to_string(), i))
                .collect();
            read.sort_by_key(|r| {
                r.get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| position.get(id))
                    .copied()
            });
            written = read;
        }
        self.grown.push((entity.table.clone(), ids.len() as u64));
        for child in &entity.children {
            self.grown.push((child.table.clone(), ids.len() as u64));
        }
        Ok(written)
    }

    /// Records by id inside this transaction (the caller's scope applies as everywhere).
    pub async fn get_records(
        &self,
        access: &Access,
        entity: &EntityDef,
        ids: &[Uuid],
    ) -> Result<Vec<Record>> {
        match by_ids(access, entity, ids) {
            Some(select) => {
                self.store
                    .fetch(&self.tx, entity, access, &select, true)
                    .await
            }
            None => Ok(Vec::new()),
        }
    }

    /// Replaces the fields of one record (the caller merged the patch and validated the result).
    /// `expected_version` guards against lost updates; child tables present in `record` are
    /// replaced. Returns the new version.
    pub async fn update_record(
        &mut self,
        access: &Access,
        entity: &EntityDef,
        id: Uuid,
        expected: Expected<'_>,
        record: &Record,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let backend = self.store.backend;
        let Current {
            version: actual,
            state,
            counted: before,
        } = self
            .current(access, entity, id)
            .await?
            .ok_or(Error::NotFound)?;
        let expected_version = expected.version;
        if let Some(from) = expected.state
            && state.as_deref() != Some(from)
        {
            return Err(Error::Conflict {
                expected: expected_version.unwrap_or(actual),
                actual,
            });
        }
        if let Some(expected) = expected_version
            && expected != actual
        {
            return Err(Error::Conflict { expected, actual });
        }
        let mut update = Query::update();
        update
            .table(Alias::new(&entity.table))
            .value(Alias::new("version"), actual + 1)
            .value(Alias::new("updated_at"), now)
            .value(Alias::new("updated_by"), access.user_id);
        if let Some(to) = expected.new_state {
            update.value(Alias::new("state"), to);
        }
        for (field, value) in
            entity
                .fields
                .iter()
                .zip(field_values(&entity.fields, record, backend)?)
        {
            update.value(Alias::new(&field.name), value);
        }
        update
            .cond_where(scope(&entity.table, access))
            .and_where(col(&entity.table, "id").eq(id))
            .and_where(col(&entity.table, "version").eq(actual));
        let result = self
            .tx
            .execute(backend.build(&update))
            .await
            .map_err(|error| duplicate(error, entity))?;
        if result.rows_affected() == 0 {
            return Err(Error::Conflict {
                expected: expected_version.unwrap_or(actual),
                actual: actual + 1,
            });
        }
        if !entity.daily_counts.is_empty() {
            let mut after: Record = counted_columns(entity)
                .into_iter()
                .map(|(name, _)| {
                    let value = record.get(&name).cloned().unwrap_or(Value::Null);
                    (name, value)
                })
                .collect();
            let state = expected.new_state.map(str::to_string).or(state);
            after.insert("state".into(), state.map_or(Value::Null, Value::String));
            let mut tally = Tally::default();
            tally.add(entity, access.tenant_id, &before, -1, backend);
            tally.add(entity, access.tenant_id, &after, 1, backend);
            tally.write(&self.tx, entity, backend).await?;
        }
        for child in &entity.children {
            if let Some(Value::Array(items)) = record.get(&child.name) {
                self.store
                    .write_children(
                        &self.tx,
                        child,
                        access.tenant_id,
                        &[(id, items.as_slice())],
                        true,
                    )
                    .await?;
            }
        }
        Ok(actual + 1)
    }

    /// The record's version and state, and the values its daily counts count it by, locked
    /// against concurrent writers on PostgreSQL.
    async fn current(
        &self,
        access: &Access,
        entity: &EntityDef,
        id: Uuid,
    ) -> Result<Option<Current>> {
        let counted = counted_columns(entity);
        let mut select = Query::select();
        select
            .from(Alias::new(&entity.table))
            .column((Alias::new(&entity.table), Alias::new("version")))
            .column((Alias::new(&entity.table), Alias::new("state")));
        for (name, _) in counted.iter().filter(|(name, _)| name != "state") {
            select.column((Alias::new(&entity.table), Alias::new(name)));
        }
        select
            .cond_where(scope(&entity.table, access))
            .and_where(col(&entity.table, "id").eq(id));
        if self.store.is_postgres() {
            // Concurrent writers of one record queue here instead of both reading a version.
            select.lock(sea_orm::sea_query::LockType::Update);
        }
        let backend = self.store.backend;
        let Some(row) = self.tx.query_one(backend.build(&select)).await? else {
            return Ok(None);
        };
        let mut values = Record::new();
        for (name, kind) in &counted {
            values.insert(name.clone(), from_row(&row, name, kind, backend)?);
        }
        Ok(Some(Current {
            version: row.try_get("", "version")?,
            state: row.try_get("", "state")?,
            counted: values,
        }))
    }

    /// Deletes one record and its child rows. `Ok(false)` when the caller cannot reach it.
    pub async fn delete_record(
        &mut self,
        access: &Access,
        entity: &EntityDef,
        id: Uuid,
    ) -> Result<bool> {
        let backend = self.store.backend;
        let mut tally = Tally::default();
        if !entity.daily_counts.is_empty() {
            match self.current(access, entity, id).await? {
                Some(current) => tally.add(entity, access.tenant_id, &current.counted, -1, backend),
                None => return Ok(false),
            }
        }
        let delete = Query::delete()
            .from_table(Alias::new(&entity.table))
            .cond_where(scope(&entity.table, access))
            .and_where(col(&entity.table, "id").eq(id))
            .to_owned();
        let result = self.tx.execute(backend.build(&delete)).await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        if !tally.is_empty() {
            tally.write(&self.tx, entity, backend).await?;
        }
        for child in &entity.children {
            let delete = Query::delete()
                .from_table(Alias::new(&child.table))
                .and_where(Expr::col(Alias::new("tenant_id")).eq(access.tenant_id))
                .and_where(Expr::col(Alias::new("parent_id")).eq(id))
                .to_owned();
            self.tx.execute(backend.build(&delete)).await?;
        }
        Ok(true)
    }

    /// Makes every change of the transaction durable.
    pub async fn commit(self) -> Result<()> {
        let Tx {
            store, tx, grown, ..
        } = self;
        tx.commit().await?;
        for (table, rows) in grown {
            store.note_growth(&[table.as_str()], rows);
        }
        Ok(())
    }
}
