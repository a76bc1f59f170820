//! Persistence of tenants, users, grants, plugins and records, on SQLite or PostgreSQL.
//!
//! **Invariant:** nothing here knows about GraphQL, HTTP or wasm. Every statement on a record table
//! carries the tenant predicate and the caller's row scope ([`Access`]); there is no way to reach a
//! record table without one. This is the only module that writes SQL or imports sea-orm.

mod aggregate;
mod codec;
mod daily;
mod ddl;
mod events;
mod filter;
mod kernel;
mod records;
mod related;

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    SqlxSqliteConnector, TransactionTrait,
};
use uuid::Uuid;

use crate::config::StoreConfig;
use crate::error::{Code, ErrorCode};
use crate::model::FieldIssue;

pub use aggregate::{Group, Metrics, groupable, numeric};
pub use events::{AttemptOutcome, AuditRow, DeliveryRow, DueDelivery, OutboxRow, WebhookRow};
pub use filter::{Filter, MAX_FILTER_DEPTH, Op, Order};
pub use kernel::{GrantRow, OrgUnitRow, PluginRow, PrincipalRow, TenantRow, UserRow};
pub use records::{Expected, Page, Record, Tx};
pub use related::Related;

/// The database, and the single-writer lock SQLite needs.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    backend: DatabaseBackend,
    /// SQLite's single writer and the checkpoints of its log. PostgreSQL needs neither.
    writer: Option<std::sync::Arc<SqliteWriter>>,
    /// Rows inserted per table since its statistics were last refreshed.
    growth: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Growth>>>,
}

/// How much a table grew since the query planner last looked at it.
#[derive(Debug, Default, Clone, Copy)]
struct Growth {
    inserted: u64,
    analyzed_at_rows: u64,
}

/// What the caller may reach in one entity for one action: the tenant, and which rows.
#[derive(Debug, Clone)]
pub struct Access {
    pub tenant_id: i64,
    pub user_id: Uuid,
    pub org_unit_id: Option<Uuid>,
    pub rows: Rows,
    /// The highest field level (`x-jingxi.level`) the caller may read; fields above it are
    /// neither selected nor accepted in filters and sort keys.
    pub level: u8,
}

impl Access {
    /// Every field level: for the kernel's own reads (merging a patch, checking references).
    pub const ALL_LEVELS: u8 = 9;
}

/// Row scope of a grant, as SQL sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rows {
    /// No grant: the entity is empty for this caller.
    None,
    /// Records the caller owns.
    Own,
    /// Records of the caller's org unit and the units below it (a materialized-path prefix).
    OrgUnit { path: String },
    /// Every record of the tenant.
    All,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("record not found")]
    NotFound,
    #[error("the record was changed by someone else (version {actual}, expected {expected})")]
    Conflict { expected: i64, actual: i64 },
    #[error("invalid record")]
    Invalid { issues: Vec<FieldIssue> },
    #[error("invalid filter on `{field}`: {message}")]
    BadFilter { field: String, message: String },
    #[error("{0}")]
    Refused(String),
}

impl ErrorCode for Error {
    fn code(&self) -> Code {
        match self {
            Error::Db(_) => Code::Internal,
            Error::NotFound => Code::NotFound,
            Error::Conflict { .. } => Code::Conflict,
            Error::Invalid { .. } | Error::BadFilter { .. } => Code::ValidationFailed,
            Error::Refused(_) => Code::BadRequest,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Store {
    /// Connects to `config.url`; for SQLite, creates the file (and its folder) when missing.
    pub async fn connect(config: &StoreConfig) -> Result<Store> {
        let url = config.url.as_str();
        if url.starts_with("sqlite:") {
            if let Some(path) = sqlite_path(url)
                && let Some(parent) = path.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|error| {
                    Error::Refused(format!("cannot create {}: {error}", parent.display()))
                })?;
            }
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|error| Error::Refused(format!("invalid SQLite URL {url}: {error}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(false)
                // A batch's statements roll back one by one through a statement journal: keep
                // it in memory rather than in a temporary file.
                .pragma("temp_store", "memory")
                // A batch of 500 records dirties more pages than the default 2 MiB cache holds,
                // which then spills them into the log before the commit.
                .pragma("cache_size", sqlite_cache_size(config.sqlite_cache_mib))
                // The committing writer no longer copies the log into the database file while
                // holding the write lock; `Checkpoints` does it after the write.
                .pragma("wal_autocheckpoint", "0")
                // Once restarted, the log file is cut back to this size.
                .pragma("journal_size_limit", (64 * 1024 * 1024).to_string());
            // An embedded file cannot drop a connection: no ping before every statement (with
            // it, each statement cost a second round trip to SQLite's worker thread).
            let pool = SqlitePoolOptions::new()
                .max_connections(config.max_connections.max(1))
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .map_err(|error| {
                    Error::Refused(format!("cannot open SQLite database {url}: {error}"))
                })?;
            let db = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
            Ok(Store {
                db,
                backend: DatabaseBackend::Sqlite,
                writer: Some(Default::default()),
                growth: Default::default(),
            })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let mut options = ConnectOptions::new(url);
            options
                .max_connections(config.max_connections.max(1))
                .sqlx_logging(false);
            let db = Database::connect(options).await?;
            Ok(Store {
                db,
                backend: DatabaseBackend::Postgres,
                writer: None,
                growth: Default::default(),
            })
        } else {
            Err(Error::Refused(format!(
                "unsupported database URL {url}. Hint: use sqlite://FILE?mode=rwc or postgres://USER@HOST/DB"
            )))
        }
    }

    /// Applies the kernel's migrations.
    pub async fn migrate(&self) -> Result<()> {
        use jingxi_migrations::MigratorTrait;
        jingxi_migrations::Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Counts inserted rows and refreshes the planner statistics of a table that grew by a fifth
    /// (at least 1,000 rows) since the last refresh, in the background. Without it a table
    /// filled in bulk keeps the statistics of an empty one, and the planner scans it whole.
    /// PostgreSQL also vacuums it: only pages its visibility map marks all-visible let a
    /// covering index answer without reading the table (a month's KPI over 1,000,000
    /// complaints: 220 ms before, 20–28 ms after).
    fn note_growth(&self, tables: &[&str], rows: u64) {
        let mut due = Vec::new();
        {
            let mut growth = self.growth.lock().expect("growth lock");
            for table in tables {
                let entry = growth.entry((*table).to_string()).or_default();
                entry.inserted += rows;
                if entry.inserted >= 1_000.max(entry.analyzed_at_rows / 5) {
                    entry.analyzed_at_rows += entry.inserted;
                    entry.inserted = 0;
                    due.push((*table).to_string());
                }
            }
        }
        if due.is_empty() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            for table in due {
                let _guard = store.write_guard().await;
                let table = table.replace(['"', '\''], "");
                let result = match store.backend {
                    DatabaseBackend::Postgres => store
                        .db
                        .execute_unprepared(&format!("VACUUM (ANALYZE) \"{table}\""))
                        .await
                        .map(drop),
                    _ => store.analyze_sqlite(&table).await,
                };
                if let Err(error) = result {
                    tracing::warn!(%table, %error, "refreshing planner statistics failed");
                }
            }
        });
    }

    /// `ANALYZE` on SQLite, keeping only the per-index averages (`sqlite_stat1`). With the
    /// samples of `sqlite_stat4`, SQLite compiles a statement again whenever the values bound
    /// to an indexed column change, which is every time: every read by id or page of a
    /// filtered list would be planned anew (a fifth of the server's samples for pages of 50).
    async fn analyze_sqlite(&self, table: &str) -> Result<(), DbErr> {
        let tx = self.db.begin().await?;
        tx.execute_unprepared(&format!("ANALYZE \"{table}\""))
            .await?;
        let samples = tx
            .query_one(sea_orm::Statement::from_string(
                self.backend,
                "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat4'",
            ))
            .await?;
        if samples.is_some() {
            tx.execute_unprepared(&format!("DELETE FROM sqlite_stat4 WHERE tbl = '{table}'"))
                .await?;
            // Reloads the statistics of this connection, which the `ANALYZE` above had loaded
            // with the samples; the others reload them once the transaction commits.
            tx.execute_unprepared("ANALYZE sqlite_schema").await?;
        }
        tx.commit().await
    }

    pub fn is_postgres(&self) -> bool {
        self.backend == DatabaseBackend::Postgres
    }

    /// On SQLite, the single-writer lock; the log is checkpointed once it is released.
    async fn write_guard(&self) -> Option<WriteGuard<'_>> {
        match &self.writer {
            Some(writer) => Some(WriteGuard {
                _lock: writer.lock.lock().await,
                store: self,
            }),
            None => None,
        }
    }

    /// Copies the log into the database file in the background, at most once per
    /// [`CHECKPOINT_INTERVAL`]. Most of it is copied while writers go on; the rest with writers
    /// held off, so the log ends fully copied and the next writer starts it again from the
    /// beginning (if writers never paused, the log would grow without end).
    fn after_write(&self) {
        let Some(writer) = &self.writer else {
            return;
        };
        writer.checkpoint_pending.store(true, Ordering::Release);
        if writer.checkpoint_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            writer.checkpoint_running.store(false, Ordering::Release);
            return;
        };
        let (db, writer) = (self.db.clone(), writer.clone());
        runtime.spawn(async move {
            loop {
                while writer.checkpoint_pending.swap(false, Ordering::AcqRel) {
                    tokio::time::sleep(CHECKPOINT_INTERVAL).await;
                    let mut result = db.execute_unprepared(CHECKPOINT).await;
                    if result.is_ok() {
                        // Not `write_guard`: releasing that would schedule another checkpoint.
                        let _writers_wait = writer.lock.lock().await;
                        result = db.execute_unprepared(CHECKPOINT).await;
                    }
                    if let Err(error) = result {
                        tracing::warn!(%error, "checkpointing the SQLite log failed");
                    }
                }
                writer.checkpoint_running.store(false, Ordering::Release);
                // A write that ended after the last look, while this task still ran, left
                // its checkpoint to it.
                if !writer.checkpoint_pending.load(Ordering::Acquire)
                    || writer.checkpoint_running.swap(true, Ordering::AcqRel)
                {
                    break;
                }
            }
        });
    }
}

/// A checkpoint that waits for no reader or writer: it copies what it can.
const CHECKPOINT: &str = "PRAGMA wal_checkpoint(PASSIVE)";

/// SQLite's `cache_size` for a cache of `mib` MiB (negative: in KiB); 0 keeps SQLite's default.
fn sqlite_cache_size(mib: u32) -> String {
    match mib {
        0 => "-2000".into(),
        mib => format!("-{}", u64::from(mib) * 1024),
    }
}

/// The least time between two checkpoints of the SQLite log: the writes in between are copied
/// together.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);

/// SQLite allows one writer: taking `lock` first avoids `SQLITE_BUSY` between our own
/// transactions. After each write a task checkpoints the log (see [`Store::after_write`]).
#[derive(Debug, Default)]
struct SqliteWriter {
    lock: tokio::sync::Mutex<()>,
    /// Whether a checkpoint task runs.
    checkpoint_running: AtomicBool,
    /// Whether a write ended since that task last looked.
    checkpoint_pending: AtomicBool,
}

/// The SQLite single-writer lock; releasing it schedules a checkpoint of what was written.
struct WriteGuard<'s> {
    _lock: tokio::sync::MutexGuard<'s, ()>,
    store: &'s Store,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.store.after_write();
    }
}

fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}
