//! Reverse references: for many parent records at once, a page of the records that refer to each
//! of them (a customer's visits), in one statement inside the caller's scope.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Asterisk, Expr, Order as SqlOrder, Query, WindowStatement};
use serde_json::Value;
use uuid::Uuid;

use super::filter::{self, Filter, Order};
use super::records::{Record, col, count_rows, decode, select_columns, sort};
use super::{Access, Error, Page, Result, Rows, Store};
use crate::model::{EntityDef, FieldKind};

/// One parent's page of referring records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Related {
    /// The page, sorted.
    pub records: Vec<Record>,
    /// How many records the caller may see refer to the parent and match the filter; `None`
    /// when the page is empty because it starts past the end (the statement then saw no row
    /// to count from).
    pub total: Option<u64>,
}

/// Column names of the window values; schema field names never contain `__`.
const ROW_NUMBER: &str = "jx__row";
const TOTAL: &str = "jx__total";

impl Store {
    /// For each of `parents`, the page of the caller's records of `entity` whose reference
    /// field `field` names it, filtered and sorted like [`Store::list_records`]. One statement
    /// numbers each parent's records with a window function and keeps the rows of the page.
    /// Parents with no such record are absent from the answer.
    #[allow(clippy::too_many_arguments)]
    pub async fn list_related(
        &self,
        access: &Access,
        entity: &EntityDef,
        field: &str,
        parents: &[Uuid],
        filter: Option<&Filter>,
        order: &[Order],
        page: Page,
    ) -> Result<HashMap<Uuid, Related>> {
        if !matches!(
            filter::kind_of(entity, field, access.level)?,
            FieldKind::Ref { .. }
        ) {
            return Err(Error::BadFilter {
                field: field.to_string(),
                message: "not a reference field".into(),
            });
        }
        if parents.is_empty() || access.rows == Rows::None || page.limit == 0 {
            return Ok(HashMap::new());
        }
        let table = entity.table.as_str();
        let mut inner = select_columns(entity, access.level);
        self.filtered(entity, access, filter, &mut inner)?;
        inner.and_where(col(table, field).is_in(parents.iter().copied()));
        let partition = || WindowStatement::partition_by((Alias::new(table), Alias::new(field)));
        let mut numbered = partition();
        sort(&mut numbered, entity, access, order)?;
        inner
            .expr_window_as(Expr::cust("ROW_NUMBER()"), numbered, Alias::new(ROW_NUMBER))
            .expr_window_as(count_rows(), partition(), Alias::new(TOTAL));
        // Both backends bind integers as signed 64-bit values.
        let first = page.offset.min(i64::MAX as u64 - 1) as i64;
        let last = first.saturating_add(page.limit.min(i64::MAX as u64) as i64);
        let window = Alias::new("w");
        let mut select = Query::select();
        select
            .column(Asterisk)
            .from_subquery(inner, window.clone())
            .and_where(Expr::col((window.clone(), Alias::new(ROW_NUMBER))).gt(first))
            .and_where(Expr::col((window.clone(), Alias::new(ROW_NUMBER))).lte(last))
            .order_by((window.clone(), Alias::new(field)), SqlOrder::Asc)
            .order_by((window, Alias::new(ROW_NUMBER)), SqlOrder::Asc);
        let rows = self.db.query_all(self.backend.build(&select)).await?;
        let mut records = Vec::with_capacity(rows.len());
        let mut totals = Vec::with_capacity(rows.len());
        for row in &rows {
            records.push(decode(entity, row, self.backend, access.level)?);
            totals.push(row.try_get::<i64>("", TOTAL)?.max(0) as u64);
        }
        if page.children {
            self.load_children(&self.db, entity, access, &mut records)
                .await?;
        }
        let mut pages: HashMap<Uuid, Related> = HashMap::new();
        for (record, total) in records.into_iter().zip(totals) {
            let Some(parent) = record
                .get(field)
                .and_then(Value::as_str)
                .and_then(|id| Uuid::parse_str(id).ok())
            else {
                continue;
            };
            let related = pages.entry(parent).or_default();
            related.total = Some(total);
            related.records.push(record);
        }
        Ok(pages)
    }
}
