//! The audit trail, the transactional outbox and webhook deliveries.
//!
//! **Invariant:** audit and outbox rows are written in the same transaction as the change they
//! describe ([`Tx`]), so an acknowledged change always has its history and its event, and a
//! rolled-back one has neither. Nothing here updates or deletes an audit row.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Alias, Cond, Expr, LockType, Order as SqlOrder, Query};
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use uuid::Uuid;

use super::records::{Tx, scope};
use super::{Access, Error, Result, Store};

fn t(name: &str) -> Alias {
    Alias::new(name)
}

/// One entry of a record's history.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub id: Uuid,
    pub entity: String,
    pub record_id: Uuid,
    /// `create`, `update`, `delete` or `transition`.
    pub kind: String,
    pub actor: Uuid,
    pub at: DateTime<Utc>,
    pub transition: Option<String>,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub comment: Option<String>,
    /// `{"field": {"before": …, "after": …}}` for each field that changed, as JSON text.
    pub changes: String,
    pub owner_id: Option<Uuid>,
    pub org_unit_id: Option<Uuid>,
}

/// One event for the world outside: webhooks and subscriptions.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: Uuid,
    pub tenant_id: i64,
    pub entity: String,
    pub record_id: Uuid,
    pub kind: String,
    pub at: DateTime<Utc>,
    /// The JSON body sent to webhooks.
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    pub id: Uuid,
    pub tenant_id: i64,
    pub url: String,
    /// A qualified entity or `*`.
    pub entity: String,
    pub kinds: Vec<String>,
    pub secret: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// A delivery claimed for sending: where, with which secret, what.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: Uuid,
    pub tenant_id: i64,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub attempts: i32,
    pub url: String,
    pub secret: String,
    pub payload: String,
}

/// The state of one event's delivery to one webhook.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// What one attempt to deliver came to.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// `None` when delivered or given up; otherwise when to try again.
    pub retry_at: Option<DateTime<Utc>>,
    pub delivered: bool,
}

const WEBHOOK_COLUMNS: [&str; 8] = [
    "tenant_id",
    "id",
    "url",
    "entity",
    "kinds",
    "secret",
    "active",
    "created_at",
];

/// Audit and outbox rows per INSERT statement.
const APPEND_CHUNK: usize = 200;

const AUDIT_COLUMNS: &[&str] = &[
    "id",
    "entity",
    "record_id",
    "kind",
    "actor",
    "at",
    "transition",
    "from_state",
    "to_state",
    "comment",
    "changes",
    "owner_id",
    "org_unit_id",
];

fn audit_row(row: &QueryResult) -> Result<AuditRow> {
    let changes: String = row.try_get("", "changes")?;
    Ok(AuditRow {
        id: row.try_get("", "id")?,
        entity: row.try_get("", "entity")?,
        record_id: row.try_get("", "record_id")?,
        kind: row.try_get("", "kind")?,
        actor: row.try_get("", "actor")?,
        at: row.try_get("", "at")?,
        transition: row.try_get("", "transition")?,
        from_state: row.try_get("", "from_state")?,
        to_state: row.try_get("", "to_state")?,
        comment: row.try_get("", "comment")?,
        changes,
        owner_id: row.try_get("", "owner_id")?,
        org_unit_id: row.try_get("", "org_unit_id")?,
    })
}

fn webhook_row(row: &QueryResult) -> Result<WebhookRow> {
    let kinds: String = row.try_get("", "kinds")?;
    Ok(WebhookRow {
        id: row.try_get("", "id")?,
        tenant_id: row.try_get("", "tenant_id")?,
        url: row.try_get("", "url")?,
        entity: row.try_get("", "entity")?,
        kinds: kinds
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect(),
        secret: row.try_get("", "secret")?,
        active: row.try_get("", "active")?,
        created_at: row.try_get("", "created_at")?,
    })
}

impl Tx<'_> {
    /// Appends history entries for changes made in this transaction.
    pub async fn append_audit(&self, tenant_id: i64, rows: Vec<AuditRow>) -> Result<()> {
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut insert = Query::insert();
            insert.into_table(t("audit_event")).columns(
                std::iter::once("tenant_id")
                    .chain(AUDIT_COLUMNS.iter().copied())
                    .map(t),
            );
            for row in rows.by_ref().take(APPEND_CHUNK) {
                insert
                    .values([
                        tenant_id.into(),
                        row.id.into(),
                        row.entity.into(),
                        row.record_id.into(),
                        row.kind.into(),
                        row.actor.into(),
                        row.at.into(),
                        row.transition.into(),
                        row.from_state.into(),
                        row.to_state.into(),
                        row.comment.into(),
                        row.changes.into(),
                        row.owner_id.into(),
                        row.org_unit_id.into(),
                    ])
                    .map_err(|error| Error::Refused(error.to_string()))?;
            }
            self.tx.execute(self.store.backend.build(&insert)).await?;
        }
        Ok(())
    }

    /// Queues events for delivery once this transaction commits.
    pub async fn append_outbox(&self, rows: Vec<OutboxRow>) -> Result<()> {
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let mut insert = Query::insert();
            insert.into_table(t("outbox_event")).columns(
                [
                    "tenant_id",
                    "id",
                    "entity",
                    "record_id",
                    "kind",
                    "at",
                    "payload",
                    "dispatched",
                ]
                .map(t),
            );
            for row in rows.by_ref().take(APPEND_CHUNK) {
                insert
                    .values([
                        row.tenant_id.into(),
                        row.id.into(),
                        row.entity.into(),
                        row.record_id.into(),
                        row.kind.into(),
                        row.at.into(),
                        row.payload.into(),
                        false.into(),
                    ])
                    .map_err(|error| Error::Refused(error.to_string()))?;
            }
            self.tx.execute(self.store.backend.build(&insert)).await?;
        }
        Ok(())
    }
}

impl Store {
    /// The history of one record, oldest first, as far as the caller's row scope reaches (the
    /// scope applies to the record's owner and unit as they were when each event happened).
    pub async fn history(
        &self,
        access: &Access,
        entity: &str,
        record_id: Uuid,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<AuditRow>> {
        let mut select = Query::select();
        select
            .from(t("audit_event"))
            .columns(AUDIT_COLUMNS.iter().map(|c| (t("audit_event"), t(c))))
            .cond_where(scope("audit_event", access))
            .and_where(Expr::col((t("audit_event"), t("entity"))).eq(entity))
            .and_where(Expr::col((t("audit_event"), t("record_id"))).eq(record_id))
            .order_by((t("audit_event"), t("id")), SqlOrder::Asc)
            .limit(limit);
        if let Some(after) = after {
            select.and_where(Expr::col((t("audit_event"), t("id"))).gt(after));
        }
        let rows = self.db.query_all(self.backend.build(&select)).await?;
        rows.iter().map(audit_row).collect()
    }

    pub async fn create_webhook(&self, hook: &WebhookRow, created_by: Uuid) -> Result<()> {
        let _guard = self.write_guard().await;
        let insert = Query::insert()
            .into_table(t("webhook"))
            .columns(WEBHOOK_COLUMNS.iter().chain(&["created_by"]).map(|c| t(c)))
            .values_panic([
                hook.tenant_id.into(),
                hook.id.into(),
                hook.url.clone().into(),
                hook.entity.clone().into(),
                hook.kinds.join(",").into(),
                hook.secret.clone().into(),
                hook.active.into(),
                hook.created_at.into(),
                created_by.into(),
            ])
            .to_owned();
        self.db.execute(self.backend.build(&insert)).await?;
        Ok(())
    }

    pub async fn webhooks(&self, tenant_id: i64) -> Result<Vec<WebhookRow>> {
        let select = Query::select()
            .columns(WEBHOOK_COLUMNS.map(t))
            .from(t("webhook"))
            .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
            .order_by(t("created_at"), SqlOrder::Asc)
            .to_owned();
        let rows = self.db.query_all(self.backend.build(&select)).await?;
        rows.iter().map(webhook_row).collect()
    }

    /// Removes a webhook; its pending deliveries are dropped, its delivery log stays.
    pub async fn delete_webhook(&self, tenant_id: i64, id: Uuid) -> Result<bool> {
        let _guard = self.write_guard().await;
        let tx = self.db.begin().await?;
        let delete = Query::delete()
            .from_table(t("webhook"))
            .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
            .and_where(Expr::col(t("id")).eq(id))
            .to_owned();
        let removed = tx
            .execute(self.backend.build(&delete))
            .await?
            .rows_affected()
            > 0;
        let drop_pending = Query::update()
            .table(t("webhook_delivery"))
            .value(t("status"), "cancelled")
            .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
            .and_where(Expr::col(t("webhook_id")).eq(id))
            .and_where(Expr::col(t("status")).eq("pending"))
            .to_owned();
        tx.execute(self.backend.build(&drop_pending)).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// Turns committed outbox events into one pending delivery per matching webhook. Safe to run
    /// on several nodes at once: each event is taken by one of them. Returns the events taken.
    pub async fn dispatch_outbox(&self, limit: u64, now: DateTime<Utc>) -> Result<usize> {
        let _guard = self.write_guard().await;
        let tx = self.db.begin().await?;
        let mut select = Query::select();
        select
            .columns(["tenant_id", "id", "entity", "kind"].map(t))
            .from(t("outbox_event"))
            .and_where(Expr::col(t("dispatched")).eq(false))
            .order_by(t("id"), SqlOrder::Asc)
            .limit(limit);
        if self.is_postgres() {
            select.lock_with_behavior(
                LockType::Update,
                sea_orm::sea_query::LockBehavior::SkipLocked,
            );
        }
        let events = tx.query_all(self.backend.build(&select)).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let mut keys = Vec::with_capacity(events.len());
        for event in &events {
            let tenant_id: i64 = event.try_get("", "tenant_id")?;
            let event_id: Uuid = event.try_get("", "id")?;
            let entity: String = event.try_get("", "entity")?;
            let kind: String = event.try_get("", "kind")?;
            keys.push((tenant_id, event_id, entity, kind));
        }
        // The active webhooks of every tenant concerned, in one statement.
        let mut tenants: Vec<i64> = keys.iter().map(|k| k.0).collect();
        tenants.sort_unstable();
        tenants.dedup();
        let hooks = Query::select()
            .columns(WEBHOOK_COLUMNS.map(t))
            .from(t("webhook"))
            .and_where(Expr::col(t("tenant_id")).is_in(tenants))
            .and_where(Expr::col(t("active")).eq(true))
            .to_owned();
        let hooks: Vec<WebhookRow> = tx
            .query_all(self.backend.build(&hooks))
            .await?
            .iter()
            .map(webhook_row)
            .collect::<Result<_>>()?;
        let deliveries: Vec<(i64, Uuid, Uuid)> = keys
            .iter()
            .flat_map(|(tenant_id, event_id, entity, kind)| {
                hooks
                    .iter()
                    .filter(move |hook| {
                        hook.tenant_id == *tenant_id
                            && (hook.entity == "*" || &hook.entity == entity)
                            && hook.kinds.contains(kind)
                    })
                    .map(move |hook| (*tenant_id, hook.id, *event_id))
            })
            .collect();
        for chunk in deliveries.chunks(200) {
            let mut insert = Query::insert();
            insert
                .into_table(t("webhook_delivery"))
                .columns(
                    [
                        "tenant_id",
                        "id",
                        "webhook_id",
                        "event_id",
                        "status",
                        "attempts",
                        "next_attempt_at",
                        "created_at",
                    ]
                    .map(t),
                )
                .on_conflict(
                    sea_orm::sea_query::OnConflict::columns([t("webhook_id"), t("event_id")])
                        .do_nothing()
                        .to_owned(),
                );
            for (tenant_id, webhook_id, event_id) in chunk {
                insert.values_panic([
                    (*tenant_id).into(),
                    Uuid::now_v7().into(),
                    (*webhook_id).into(),
                    (*event_id).into(),
                    "pending".into(),
                    0i32.into(),
                    now.into(),
                    now.into(),
                ]);
            }
            tx.execute(self.backend.build(&insert)).await?;
        }
        let mark = Query::update()
            .table(t("outbox_event"))
            .value(t("dispatched"), true)
            .and_where(
                Expr::tuple([Expr::col(t("tenant_id")).into(), Expr::col(t("id")).into()])
                    .in_tuples(keys.iter().map(|(tenant_id, id, ..)| (*tenant_id, *id))),
            )
            .to_owned();
        tx.execute(self.backend.build(&mark)).await?;
        tx.commit().await?;
        Ok(events.len())
    }

    /// Outbox events committed at or after `since`, oldest first (at most `limit`): how a node
    /// hears of changes other nodes committed.
    pub async fn outbox_since(&self, since: DateTime<Utc>, limit: u64) -> Result<Vec<OutboxRow>> {
        let select = Query::select()
            .columns(
                [
                    "tenant_id",
                    "id",
                    "entity",
                    "record_id",
                    "kind",
                    "at",
                    "payload",
                ]
                .map(t),
            )
            .from(t("outbox_event"))
            .and_where(Expr::col(t("at")).gte(since))
            .order_by(t("at"), SqlOrder::Asc)
            .order_by(t("id"), SqlOrder::Asc)
            .limit(limit)
            .to_owned();
        let rows = self.db.query_all(self.backend.build(&select)).await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxRow {
                    id: row.try_get("", "id")?,
                    tenant_id: row.try_get("", "tenant_id")?,
                    entity: row.try_get("", "entity")?,
                    record_id: row.try_get("", "record_id")?,
                    kind: row.try_get("", "kind")?,
                    at: row.try_get("", "at")?,
                    payload: row.try_get("", "payload")?,
                })
            })
            .collect()
    }

    /// Deletes dispatched outbox events older than `before` that no pending delivery still needs.
    /// Returns how many went.
    pub async fn prune_outbox(&self, before: DateTime<Utc>) -> Result<u64> {
        let _guard = self.write_guard().await;
        let still_needed = Query::select()
            .column(t("event_id"))
            .from(t("webhook_delivery"))
            .and_where(Expr::col(t("status")).eq("pending"))
            .to_owned();
        let delete = Query::delete()
            .from_table(t("outbox_event"))
            .and_where(Expr::col(t("dispatched")).eq(true))
            .and_where(Expr::col(t("at")).lt(before))
            .and_where(Expr::col(t("id")).not_in_subquery(still_needed))
            .to_owned();
        Ok(self
            .db
            .execute(self.backend.build(&delete))
            .await?
            .rows_affected())
    }

    /// Claims up to `limit` deliveries that are due, leasing them for `lease` so no other node
    /// sends them meanwhile. A node that dies mid-send lets the lease run out: the delivery is
    /// sent again (at least once).
    pub async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u64,
        lease: Duration,
    ) -> Result<Vec<DueDelivery>> {
        let _guard = self.write_guard().await;
        let tx = self.db.begin().await?;
        let d = |c: &str| Expr::col((t("webhook_delivery"), t(c)));
        // The row of `table` a delivery points at through `column`, in the same tenant.
        let of_delivery = |table: &str, column: &str| {
            Expr::col((t(table), t("tenant_id")))
                .equals((t("webhook_delivery"), t("tenant_id")))
                .and(Expr::col((t(table), t("id"))).equals((t("webhook_delivery"), t(column))))
        };
        let mut select = Query::select();
        select
            .from(t("webhook_delivery"))
            .columns(
                ["tenant_id", "id", "webhook_id", "event_id", "attempts"]
                    .map(|c| (t("webhook_delivery"), t(c))),
            )
            .columns([(t("webhook"), t("url")), (t("webhook"), t("secret"))])
            .column((t("outbox_event"), t("payload")))
            .inner_join(t("webhook"), of_delivery("webhook", "webhook_id"))
            .inner_join(t("outbox_event"), of_delivery("outbox_event", "event_id"))
            .and_where(d("status").eq("pending"))
            .and_where(d("next_attempt_at").lte(now))
            .cond_where(
                Cond::any()
                    .add(d("lease_until").is_null())
                    .add(d("lease_until").lt(now)),
            )
            .order_by((t("webhook_delivery"), t("next_attempt_at")), SqlOrder::Asc)
            .limit(limit);
        if self.is_postgres() {
            select.lock_with_tables_behavior(
                LockType::Update,
                [t("webhook_delivery")],
                sea_orm::sea_query::LockBehavior::SkipLocked,
            );
        }
        let due = tx
            .query_all(self.backend.build(&select))
            .await?
            .iter()
            .map(|row| {
                Ok(DueDelivery {
                    id: row.try_get("", "id")?,
                    tenant_id: row.try_get("", "tenant_id")?,
                    webhook_id: row.try_get("", "webhook_id")?,
                    event_id: row.try_get("", "event_id")?,
                    attempts: row.try_get("", "attempts")?,
                    url: row.try_get("", "url")?,
                    secret: row.try_get("", "secret")?,
                    payload: row.try_get("", "payload")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if !due.is_empty() {
            let lease_them = Query::update()
                .table(t("webhook_delivery"))
                .value(t("lease_until"), now + lease)
                .and_where(
                    Expr::tuple([Expr::col(t("tenant_id")).into(), Expr::col(t("id")).into()])
                        .in_tuples(due.iter().map(|d| (d.tenant_id, d.id))),
                )
                .to_owned();
            tx.execute(self.backend.build(&lease_them)).await?;
        }
        tx.commit().await?;
        Ok(due)
    }

    /// Logs one attempt and moves the delivery on: delivered, retried later, or given up.
    pub async fn record_attempt(
        &self,
        delivery: &DueDelivery,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _guard = self.write_guard().await;
        let tx = self.db.begin().await?;
        let attempt = delivery.attempts + 1;
        let log = Query::insert()
            .into_table(t("webhook_attempt"))
            .columns(
                [
                    "tenant_id",
                    "delivery_id",
                    "attempt",
                    "at",
                    "status_code",
                    "error",
                    "duration_ms",
                ]
                .map(t),
            )
            .values_panic([
                delivery.tenant_id.into(),
                delivery.id.into(),
                attempt.into(),
                now.into(),
                outcome.status_code.into(),
                outcome.error.clone().into(),
                outcome.duration_ms.into(),
            ])
            .to_owned();
        tx.execute(self.backend.build(&log)).await?;
        let status = match (outcome.delivered, outcome.retry_at) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        let mut update = Query::update();
        update
            .table(t("webhook_delivery"))
            .value(t("status"), status)
            .value(t("attempts"), attempt)
            .value(t("last_status_code"), outcome.status_code)
            .value(t("last_error"), outcome.error.clone())
            .value(t("lease_until"), Option::<DateTime<Utc>>::None)
            .and_where(Expr::col(t("tenant_id")).eq(delivery.tenant_id))
            .and_where(Expr::col(t("id")).eq(delivery.id));
        if let Some(retry_at) = outcome.retry_at {
            update.value(t("next_attempt_at"), retry_at);
        }
        if outcome.delivered {
            update.value(t("delivered_at"), now);
        }
        tx.execute(self.backend.build(&update)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The latest deliveries of one webhook, newest first.
    pub async fn deliveries(
        &self,
        tenant_id: i64,
        webhook_id: Uuid,
        limit: u64,
    ) -> Result<Vec<DeliveryRow>> {
        let select = Query::select()
            .columns(
                [
                    "id",
                    "webhook_id",
                    "event_id",
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "last_status_code",
                    "last_error",
                    "delivered_at",
                ]
                .map(t),
            )
            .from(t("webhook_delivery"))
            .and_where(Expr::col(t("tenant_id")).eq(tenant_id))
            .and_where(Expr::col(t("webhook_id")).eq(webhook_id))
            .order_by(t("id"), SqlOrder::Desc)
            .limit(limit)
            .to_owned();
        let rows = self.db.query_all(self.backend.build(&select)).await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryRow {
                    id: row.try_get("", "id")?,
                    webhook_id: row.try_get("", "webhook_id")?,
                    event_id: row.try_get("", "event_id")?,
                    status: row.try_get("", "status")?,
                    attempts: row.try_get("", "attempts")?,
                    next_attempt_at: row.try_get("", "next_attempt_at")?,
                    last_status_code: row.try_get("", "last_status_code")?,
                    last_error: row.try_get("", "last_error")?,
                    delivered_at: row.try_get("", "delivered_at")?,
                })
            })
            .collect()
    }
}
