//! Schema migrations for the kernel's own tables (plugin tables are generated from JSON Schemas by the store).
//!
//! **Invariant:** a released migration never changes; a change is a new file.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_kernel_tables;
mod m20261128_000002_create_event_tables;
mod m20261128_000003_create_setting_table;

/// All kernel migrations, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_kernel_tables::Migration),
            Box::new(m20261128_000002_create_event_tables::Migration),
            Box::new(m20261128_000003_create_setting_table::Migration),
        ]
    }
}
