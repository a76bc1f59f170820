//! Tables generated from entity definitions: created when missing, extended when a plugin adds
//! fields. Columns are never dropped, so data of a removed field or a disabled plugin stays.

use std::collections::HashSet;

use sea_orm::sea_query::{Alias, ColumnDef, Index, Table};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use super::codec::column_type;
use super::{Result, Store};
use crate::model::{EntityDef, FieldDef, FieldKind};

fn system_columns() -> Vec<ColumnDef> {
    let column = |name: &str| ColumnDef::new(Alias::new(name));
    vec![
        column("tenant_id").big_integer().not_null().to_owned(),
        column("id").uuid().not_null().to_owned(),
        column("owner_id").uuid().not_null().to_owned(),
        column("org_unit_id").uuid().null().to_owned(),
        column("state").text().null().to_owned(),
        column("version").big_integer().not_null().to_owned(),
        column("created_at")
            .timestamp_with_time_zone()
            .not_null()
            .to_owned(),
        column("created_by").uuid().not_null().to_owned(),
        column("updated_at")
            .timestamp_with_time_zone()
            .not_null()
            .to_owned(),
        column("updated_by").uuid().not_null().to_owned(),
    ]
}

fn field_column(field: &FieldDef, backend: DatabaseBackend) -> ColumnDef {
    let mut def = ColumnDef::new(Alias::new(&field.name));
    column_type(&mut def, &field.kind, backend);
    def.null();
    def
}

/// PostgreSQL cuts identifiers to 63 bytes: two long index names sharing their first 63 bytes
/// would be one name, and `IF NOT EXISTS` would skip the second index without a word.
const MAX_IDENTIFIER: usize = 63;

/// `<table>__<column>__<column>…`; a name longer than PostgreSQL keeps ends in a hash of the
/// whole name instead, so that it stays unique and is the same on both backends.
fn index_name(table: &str, columns: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let name = format!("{table}__{}", columns.join("__"));
    if name.len() <= MAX_IDENTIFIER {
        return name;
    }
    let hash = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
    let keep = MAX_IDENTIFIER - hash.len() - 2;
    let cut = (0..=keep)
        .rev()
        .find(|i| name.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}__{hash}", &name[..cut])
}

/// A reference field no composite index starts with: it gets an index of its own, so that reverse
/// references (a customer's visits) and filters on it read through an index.
fn unindexed_reference(entity: &EntityDef, field: &FieldDef) -> bool {
    matches!(field.kind, FieldKind::Ref { .. })
        && !entity
            .indexes
            .iter()
            .any(|columns| columns.first() == Some(&field.name))
}

impl Store {
    pub(super) async fn existing_columns(&self, table: &str) -> Result<Option<HashSet<String>>> {
        let statement = match self.backend {
            DatabaseBackend::Postgres => Statement::from_sql_and_values(
                self.backend,
                "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
                [table.into()],
            ),
            _ => Statement::from_sql_and_values(
                self.backend,
                "SELECT name FROM pragma_table_info(?)",
                [table.into()],
            ),
        };
        let rows = self.db.query_all(statement).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut names = HashSet::new();
        for row in rows {
            names.insert(row.try_get::<String>("", "name")?);
        }
        Ok(Some(names))
    }

    /// Puts records without a workflow state (written before their entity had a workflow) into
    /// `initial`. A schema migration like the DDL here, so it spans every tenant.
    pub async fn fill_missing_state(&self, entity: &EntityDef, initial: &str) -> Result<u64> {
        use sea_orm::sea_query::{Expr, Query};
        let _guard = self.write_guard().await;
        let update = Query::update()
            .table(Alias::new(&entity.table))
            .value(Alias::new("state"), initial)
            .and_where(Expr::col(Alias::new("state")).is_null())
            .to_owned();
        let filled = self
            .db
            .execute(self.backend.build(&update))
            .await?
            .rows_affected();
        if filled > 0
            && entity
                .daily_counts
                .iter()
                .any(|d| d.by.iter().any(|f| f == "state"))
        {
            // The states changed outside the record writes that keep the counts.
            self.refill_daily_counts_locked(entity).await?;
        }
        Ok(filled)
    }

    /// Creates or extends the tables of one entity (main table and child tables) and its indexes,
    /// and creates and fills its daily counts. Returns the daily-count tables it created.
    pub async fn ensure_tables(&self, entity: &EntityDef) -> Result<Vec<String>> {
        let backend = self.backend;
        let _guard = self.write_guard().await;
        match self.existing_columns(&entity.table).await? {
            None => {
                let mut create = Table::create();
                create.table(Alias::new(&entity.table)).if_not_exists();
                for mut column in system_columns() {
                    create.col(&mut column);
                }
                for field in &entity.fields {
                    create.col(field_column(field, backend));
                }
                create.primary_key(
                    Index::create()
                        .col(Alias::new("tenant_id"))
                        .col(Alias::new("id")),
                );
                self.db.execute(backend.build(&create)).await?;
            }
            Some(existing) => {
                for field in entity.fields.iter().filter(|f| !existing.contains(&f.name)) {
                    let alter = Table::alter()
                        .table(Alias::new(&entity.table))
                        .add_column(field_column(field, backend))
                        .to_owned();
                    self.db.execute(backend.build(&alter)).await?;
                }
            }
        }
        let mut indexes: Vec<(String, Vec<String>, bool)> = vec![
            (
                format!("{}__owner", entity.table),
                vec!["owner_id".into()],
                false,
            ),
            (
                format!("{}__org_unit", entity.table),
                vec!["org_unit_id".into()],
                false,
            ),
        ];
        for field in &entity.fields {
            if field.unique {
                indexes.push((
                    format!("{}__{}__uq", entity.table, field.name),
                    vec![field.name.clone()],
                    true,
                ));
            } else if field.index || unindexed_reference(entity, field) {
                indexes.push((
                    index_name(&entity.table, std::slice::from_ref(&field.name)),
                    vec![field.name.clone()],
                    false,
                ));
            }
        }
        for columns in &entity.indexes {
            indexes.push((index_name(&entity.table, columns), columns.clone(), false));
        }
        for (name, columns, unique) in indexes {
            let mut index = Index::create();
            index
                .name(&name)
                .table(Alias::new(&entity.table))
                .if_not_exists()
                .col(Alias::new("tenant_id"));
            for column in &columns {
                index.col(Alias::new(column));
            }
            if unique {
                index.unique();
            }
            self.db.execute(backend.build(&index)).await?;
        }
        for child in &entity.children {
            match self.existing_columns(&child.table).await? {
                None => {
                    let mut create = Table::create();
                    create
                        .table(Alias::new(&child.table))
                        .if_not_exists()
                        .col(
                            ColumnDef::new(Alias::new("tenant_id"))
                                .big_integer()
                                .not_null(),
                        )
                        .col(ColumnDef::new(Alias::new("parent_id")).uuid().not_null())
                        .col(ColumnDef::new(Alias::new("idx")).integer().not_null());
                    for field in &child.fields {
                        create.col(field_column(field, backend));
                    }
                    create.primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("parent_id"))
                            .col(Alias::new("idx")),
                    );
                    self.db.execute(backend.build(&create)).await?;
                }
                Some(existing) => {
                    for field in child.fields.iter().filter(|f| !existing.contains(&f.name)) {
                        let alter = Table::alter()
                            .table(Alias::new(&child.table))
                            .add_column(field_column(field, backend))
                            .to_owned();
                        self.db.execute(backend.build(&alter)).await?;
                    }
                }
            }
        }
        self.ensure_daily_counts(entity).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_index_names_stay_unique_within_postgres_identifiers() {
        let columns = |last: &str| -> Vec<String> {
            ["received_at", "state", "accepted_in_time", last]
                .map(str::to_string)
                .to_vec()
        };
        let short = index_name("crm__visit", &["customer".to_string()]);
        assert_eq!(short, "crm__visit__customer");
        let a = index_name("crm__complaint", &columns("resolved_in_time"));
        let b = index_name("crm__complaint", &columns("resolved_in_time_2"));
        assert!(
            a.len() <= MAX_IDENTIFIER && b.len() <= MAX_IDENTIFIER,
            "{a} {b}"
        );
        assert_ne!(a, b, "same 63-byte prefix, different indexes");
        assert!(a.starts_with("crm__complaint__received_at__state__"));
        assert_eq!(
            a,
            index_name("crm__complaint", &columns("resolved_in_time"))
        );
    }

    #[test]
    fn references_get_an_index_unless_a_composite_index_starts_with_them() {
        let uuid_ref = |target: &str| {
            serde_json::json!({"type": "string", "format": "uuid", "title": "引用",
                "x-jingxi": {"ref": target}})
        };
        let schema = serde_json::json!({"type": "object", "title": "拜访", "properties": {
            "customer": uuid_ref("crm.customer"),
            "complaint": uuid_ref("crm.complaint"),
            "visit_date": {"type": "string", "format": "date", "title": "日期"}
        }, "x-jingxi": {"indexes": [["customer", "visit_date"]]}});
        let entity = EntityDef::new("crm", "visit", schema).expect("entity");
        let field = |name: &str| {
            entity
                .fields
                .iter()
                .find(|f| f.name == name)
                .expect("field")
        };
        assert!(!unindexed_reference(&entity, field("customer")));
        assert!(unindexed_reference(&entity, field("complaint")));
        assert!(!unindexed_reference(&entity, field("visit_date")));
    }
}
