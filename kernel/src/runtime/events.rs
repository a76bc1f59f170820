//! What happened to records: the audit trail written with every change, the outbox that feeds
//! webhooks, the in-process feed that serves subscriptions, and webhook delivery.
//!
//! **Invariant:** a change and its audit and outbox rows commit together ([`ChangeLog::write`]
//! runs inside the change's transaction); subscribers and webhooks only ever hear of committed
//! changes, and each reader sees only what its own read permissions show.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use uuid::Uuid;

use super::{Caller, Error, Kernel, Result};
use crate::model::{EntityDef, Locale};
use crate::permissions::{Action, Principal};
use crate::store::{self, AttemptOutcome, AuditRow, OutboxRow, Record, Rows, Tx};

/// The record without the fields above `level`.
pub(super) fn visible(entity: &EntityDef, level: u8, mut record: Record) -> Record {
    record.retain(|key, _| entity.level_of(key) <= level);
    record
}

/// One change to one record, before it is logged.
#[derive(Debug, Clone)]
pub(super) struct Change {
    kind: &'static str,
    before: Option<Record>,
    after: Option<Record>,
    transition: Option<(String, Option<String>, String)>,
    comment: Option<String>,
}

impl Change {
    pub(super) fn created(after: &Record) -> Change {
        Change {
            kind: "create",
            before: None,
            after: Some(after.clone()),
            transition: None,
            comment: None,
        }
    }

    pub(super) fn updated(before: &Record, after: &Record) -> Change {
        Change {
            kind: "update",
            before: Some(before.clone()),
            after: Some(after.clone()),
            transition: None,
            comment: None,
        }
    }

    pub(super) fn deleted(before: &Record) -> Change {
        Change {
            kind: "delete",
            before: Some(before.clone()),
            after: None,
            transition: None,
            comment: None,
        }
    }

    pub(super) fn transitioned(
        before: &Record,
        after: &Record,
        transition: &str,
        comment: &str,
    ) -> Change {
        let state = |r: &Record| r.get("state").and_then(Value::as_str).map(str::to_string);
        Change {
            kind: "transition",
            before: Some(before.clone()),
            after: Some(after.clone()),
            transition: Some((
                transition.to_string(),
                state(before),
                state(after).unwrap_or_default(),
            )),
            comment: (!comment.trim().is_empty()).then(|| comment.to_string()),
        }
    }

    fn record(&self) -> &Record {
        self.after
            .as_ref()
            .or(self.before.as_ref())
            .expect("a change has a before or an after")
    }

    fn id(&self) -> Uuid {
        uuid_of(self.record(), "id").unwrap_or_default()
    }

    /// `{"field": {"before": …, "after": …}}` for every schema field, child table and the state
    /// that differ, as JSON text (written once, shared by the audit row and the outbox payload).
    fn changes_json(&self, entity: &EntityDef) -> String {
        serde_json::to_string(&Diff {
            entity,
            change: self,
        })
        .expect("JSON values always serialize")
    }
}

/// A change's diff, serialized straight from its records.
struct Diff<'a> {
    entity: &'a EntityDef,
    change: &'a Change,
}

/// One entry of a diff; an absent, null or empty-list value is `null`.
#[derive(serde::Serialize)]
struct BeforeAfter<'a> {
    before: Option<&'a Value>,
    after: Option<&'a Value>,
}

impl serde::Serialize for Diff<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let names = self
            .entity
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .chain(self.entity.children.iter().map(|c| c.name.as_str()))
            .chain(["state"]);
        let mut map = serializer.serialize_map(None)?;
        for name in names {
            let (before, after) = (
                present(&self.change.before, name),
                present(&self.change.after, name),
            );
            if before != after {
                map.serialize_entry(name, &BeforeAfter { before, after })?;
            }
        }
        map.end()
    }
}

fn present<'r>(record: &'r Option<Record>, name: &str) -> Option<&'r Value> {
    record
        .as_ref()
        .and_then(|r| r.get(name))
        .filter(|v| !v.is_null() && !matches!(v, Value::Array(items) if items.is_empty()))
}

/// The JSON body of an outbox event (webhooks), serialized from borrowed parts.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    id: Uuid,
    tenant: &'a str,
    entity: &'a str,
    kind: &'a str,
    record_id: Uuid,
    at: String,
    actor: Uuid,
    transition: Option<&'a str>,
    from: Option<&'a str>,
    to: Option<&'a str>,
    comment: Option<&'a str>,
    changes: &'a serde_json::value::RawValue,
    record: Option<&'a Record>,
    owner_id: Option<Uuid>,
    org_unit_id: Option<Uuid>,
}

fn uuid_of(record: &Record, key: &str) -> Option<Uuid> {
    record
        .get(key)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// A committed change, as subscribers receive it.
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    pub event_id: Uuid,
    pub tenant_id: i64,
    pub entity: String,
    pub record_id: Uuid,
    pub kind: String,
    pub at: DateTime<Utc>,
    pub actor: Uuid,
    pub transition: Option<String>,
    /// Owner and unit of the record, to decide who may hear of a deletion.
    pub owner_id: Option<Uuid>,
    pub org_unit_id: Option<Uuid>,
}

/// The changes of one transaction, turned into audit rows, outbox rows and events.
pub(super) struct ChangeLog<'a> {
    caller: &'a Caller<'a>,
    now: DateTime<Utc>,
    changes: Vec<(&'a EntityDef, Change)>,
}

impl<'a> ChangeLog<'a> {
    pub(super) fn new(caller: &'a Caller<'a>, now: DateTime<Utc>) -> ChangeLog<'a> {
        ChangeLog {
            caller,
            now,
            changes: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, entity: &'a EntityDef, change: Change) {
        self.changes.push((entity, change));
    }

    /// Appends the audit and outbox rows inside `tx`; returns the events to publish once it
    /// committed.
    pub(super) async fn write(self, tx: &Tx<'_>) -> Result<Vec<Arc<ChangeEvent>>> {
        let principal = self.caller.principal;
        let mut audit = Vec::with_capacity(self.changes.len());
        let mut outbox = Vec::with_capacity(self.changes.len());
        let mut published = Vec::with_capacity(self.changes.len());
        for (entity, change) in &self.changes {
            let record = change.record();
            let event_id = Uuid::now_v7();
            let changes = change.changes_json(entity);
            let (transition, from_state, to_state) = match &change.transition {
                Some((name, from, to)) => (Some(name.as_str()), from.as_deref(), Some(to.as_str())),
                None => (None, None, None),
            };
            let (owner_id, org_unit_id) =
                (uuid_of(record, "owner_id"), uuid_of(record, "org_unit_id"));
            let payload = serde_json::to_string(&Payload {
                id: event_id,
                tenant: &principal.tenant_slug,
                entity: &entity.qualified,
                kind: change.kind,
                record_id: change.id(),
                at: self
                    .now
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                actor: principal.user_id,
                transition,
                from: from_state,
                to: to_state,
                comment: change.comment.as_deref(),
                changes: serde_json::from_str(&changes).expect("a diff is JSON"),
                record: change.after.as_ref(),
                owner_id,
                org_unit_id,
            })
            .expect("JSON values always serialize");
            audit.push(AuditRow {
                id: event_id,
                entity: entity.qualified.clone(),
                record_id: change.id(),
                kind: change.kind.to_string(),
                actor: principal.user_id,
                at: self.now,
                transition: transition.map(str::to_string),
                from_state: from_state.map(str::to_string),
                to_state: to_state.map(str::to_string),
                comment: change.comment.clone(),
                changes,
                owner_id,
                org_unit_id,
            });
            outbox.push(OutboxRow {
                id: event_id,
                tenant_id: principal.tenant_id,
                entity: entity.qualified.clone(),
                record_id: change.id(),
                kind: change.kind.to_string(),
                at: self.now,
                payload,
            });
            published.push(Arc::new(ChangeEvent {
                event_id,
                tenant_id: principal.tenant_id,
                entity: entity.qualified.clone(),
                record_id: change.id(),
                kind: change.kind.to_string(),
                at: self.now,
                actor: principal.user_id,
                transition: transition.map(str::to_string),
                owner_id,
                org_unit_id,
            }));
        }
        tx.append_audit(principal.tenant_id, audit).await?;
        tx.append_outbox(outbox).await?;
        Ok(published)
    }
}

/// How far back (s) the event feed looks for commits whose timestamp predates the last one seen.
const FEED_LOOKBACK_SECONDS: i64 = 10;

/// Event ids published recently on this node, so the outbox feed sends each event once.
#[derive(Debug, Default)]
pub(super) struct Heard {
    order: std::collections::VecDeque<(Instant, Uuid)>,
    ids: std::collections::HashSet<Uuid>,
}

impl Heard {
    /// Records `id`; `false` when it was heard within the last minute already.
    fn first_time(&mut self, id: Uuid) -> bool {
        let now = Instant::now();
        while let Some((at, old)) = self.order.front().copied() {
            if now.duration_since(at) < Duration::from_secs(60) && self.order.len() < 100_000 {
                break;
            }
            self.order.pop_front();
            self.ids.remove(&old);
        }
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back((now, id));
        true
    }
}

/// A change event from an outbox row (written by any node).
fn event_of(row: &OutboxRow) -> Option<ChangeEvent> {
    let payload: Value = serde_json::from_str(&row.payload).ok()?;
    let uuid = |key: &str| {
        payload
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
    };
    Some(ChangeEvent {
        event_id: row.id,
        tenant_id: row.tenant_id,
        entity: row.entity.clone(),
        record_id: row.record_id,
        kind: row.kind.clone(),
        at: row.at,
        actor: uuid("actor").unwrap_or_default(),
        transition: payload
            .get("transition")
            .and_then(Value::as_str)
            .map(str::to_string),
        owner_id: uuid("ownerId"),
        org_unit_id: uuid("orgUnitId"),
    })
}

/// One entry of a record's history, with the fields the reader may not see left out.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub id: Uuid,
    pub kind: String,
    pub actor: Uuid,
    pub at: DateTime<Utc>,
    pub transition: Option<String>,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub comment: Option<String>,
    pub changes: Value,
}

/// Most history entries returned at once.
pub const HISTORY_PAGE_MAX: u64 = 1000;

impl Kernel {
    /// Tells subscribers of this node about committed changes.
    pub(super) fn publish(&self, events: Vec<Arc<ChangeEvent>>) {
        for event in events {
            if self
                .heard
                .lock()
                .expect("heard events lock")
                .first_time(event.event_id)
            {
                // No receiver is not an error: nobody subscribes right now.
                let _ = self.events.send(event);
            }
        }
    }

    /// Passes changes committed through other nodes to this node's subscribers: polls the
    /// outbox while anyone subscribes, skipping events already published here.
    pub async fn run_event_feed(self: Arc<Kernel>) {
        let every = Duration::from_millis(self.config.api.event_poll_ms.max(20));
        // Events from before anyone subscribed are not replayed.
        let mut floor = Utc::now();
        let mut since = floor;
        loop {
            tokio::time::sleep(every).await;
            if self.events.receiver_count() == 0 {
                floor = Utc::now();
                since = floor;
                continue;
            }
            // Commits land after their timestamp was taken; look back a little, de-duplicated.
            let from = (since - chrono::Duration::seconds(FEED_LOOKBACK_SECONDS)).max(floor);
            match self.store.outbox_since(from, 2000).await {
                Ok(rows) => {
                    if let Some(last) = rows.last() {
                        since = since.max(last.at);
                    }
                    let events = rows.iter().filter_map(event_of).map(Arc::new).collect();
                    self.publish(events);
                }
                Err(error) => tracing::warn!(%error, "reading the outbox for subscriptions failed"),
            }
        }
    }

    /// Every committed change on this node, for subscriptions; filter with [`Kernel::may_see`].
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<ChangeEvent>> {
        self.events.subscribe()
    }

    /// The record an event is about, as `principal` may read it now; `None` when the change is
    /// outside what they may read. A deletion is judged by the record's owner and unit.
    pub async fn may_see(
        &self,
        principal: &Principal,
        entity: &EntityDef,
        event: &ChangeEvent,
    ) -> Result<Option<Record>> {
        if event.tenant_id != principal.tenant_id || event.entity != entity.qualified {
            return Ok(None);
        }
        if event.kind != "delete" {
            return Ok(self
                .get(principal, entity, &[event.record_id])
                .await?
                .pop()
                .flatten());
        }
        let access = principal.access(&entity.qualified, Action::Read);
        let visible = self
            .store
            .reaches(&access, event.owner_id, event.org_unit_id)
            .await?;
        Ok(visible.then(|| {
            let mut record = Map::new();
            record.insert("id".into(), Value::String(event.record_id.to_string()));
            record
        }))
    }

    /// The history of a record, oldest first, `first` entries after the entry `after`: only for
    /// callers who may read the entity, within their row scope, and without the values of
    /// fields above their level.
    pub async fn history(
        &self,
        principal: &Principal,
        entity: &EntityDef,
        id: Uuid,
        page: (Option<Uuid>, u64),
        locale: Locale,
    ) -> Result<Vec<HistoryEntry>> {
        let (after, first) = page;
        let access = principal.access(&entity.qualified, Action::Read);
        if access.rows == Rows::None {
            return Err(super::forbidden(locale, "read", &entity.qualified));
        }
        let rows = self
            .store
            .history(
                &access,
                &entity.qualified,
                id,
                after,
                first.clamp(1, HISTORY_PAGE_MAX),
            )
            .await?;
        if rows.is_empty() && after.is_none() {
            return Err(super::not_found(locale, id));
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let changes = match serde_json::from_str(&row.changes).unwrap_or(Value::Null) {
                    Value::Object(map) => Value::Object(
                        map.into_iter()
                            .filter(|(key, _)| entity.level_of(key) <= access.level)
                            .collect(),
                    ),
                    other => other,
                };
                HistoryEntry {
                    id: row.id,
                    kind: row.kind,
                    actor: row.actor,
                    at: row.at,
                    transition: row.transition,
                    from_state: row.from_state,
                    to_state: row.to_state,
                    comment: row.comment,
                    changes,
                }
            })
            .collect())
    }

    /// Delivers webhooks until the process ends: moves committed outbox events to deliveries and
    /// sends the due ones, retrying failures with exponential backoff.
    pub async fn run_webhooks(self: Arc<Kernel>) {
        let config = self.config.webhooks.clone();
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "webhook delivery is off: no HTTP client");
                return;
            }
        };
        let mut tick =
            tokio::time::interval(Duration::from_millis(config.poll_interval_ms.max(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned_at = Instant::now();
        loop {
            tick.tick().await;
            if let Err(error) = self.deliver_due(&client).await {
                tracing::warn!(%error, "webhook delivery round failed; retrying");
            }
            if pruned_at.elapsed() > Duration::from_secs(3600) {
                pruned_at = Instant::now();
                let before = Utc::now() - chrono::Duration::days(i64::from(config.retention_days));
                match self.store.prune_outbox(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(events = n, "pruned sent events from the outbox"),
                    Err(error) => tracing::warn!(%error, "pruning the outbox failed"),
                }
            }
        }
    }

    /// One round: dispatch new events, send what is due. Returns how many sends were tried.
    pub async fn deliver_due(&self, client: &reqwest::Client) -> Result<usize> {
        let config = &self.config.webhooks;
        let now = Utc::now();
        while self.store.dispatch_outbox(200, now).await? == 200 {}
        let due = self
            .store
            .claim_deliveries(
                now,
                50,
                chrono::Duration::milliseconds(config.timeout_ms as i64 * 2 + 1000),
            )
            .await?;
        let tried = due.len();
        let sends = due.into_iter().map(|delivery| async move {
            let outcome = send(client, &delivery, config).await;
            if let Err(error) = self
                .store
                .record_attempt(&delivery, &outcome, Utc::now())
                .await
            {
                tracing::warn!(%error, delivery = %delivery.id, "recording a webhook attempt failed");
            }
        });
        futures_util::future::join_all(sends).await;
        Ok(tried)
    }
}

/// The event kinds a webhook can ask for.
pub const EVENT_KINDS: &[&str] = &["create", "update", "delete", "transition"];

impl Kernel {
    fn require_admin(principal: &Principal, locale: Locale) -> Result<()> {
        if principal.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(locale.pick(
                "只有租户管理员可以管理 Webhook。".to_string(),
                "Only tenant admins may manage webhooks.".to_string(),
            )))
        }
    }

    /// Registers a webhook for events of `entity` (qualified, or `*`) of the given kinds. The
    /// answer carries the signing secret; it is shown here and in `webhooks`, to admins only.
    pub async fn create_webhook(
        &self,
        caller: &Caller<'_>,
        url: &str,
        entity: &str,
        kinds: &[String],
    ) -> Result<store::WebhookRow> {
        let (principal, locale) = (caller.principal, caller.locale);
        Self::require_admin(principal, locale)?;
        let invalid = |pointer: &str, zh: String, en: String| Error::Validation {
            issues: vec![super::RecordIssue {
                index: None,
                pointer: pointer.to_string(),
                code: "invalid".into(),
                message: locale.pick(zh, en),
            }],
        };
        let parsed = reqwest::Url::parse(url).map_err(|error| {
            invalid(
                "/url",
                format!("URL 无效:{error}"),
                format!("The URL is not valid: {error}."),
            )
        })?;
        let web = matches!(parsed.scheme(), "http" | "https");
        if !web || parsed.host_str().is_none() || url.len() > 2000 {
            return Err(invalid(
                "/url",
                "Webhook 地址须为 http:// 或 https:// URL。".into(),
                "A webhook URL must be an http:// or https:// URL.".into(),
            ));
        }
        if entity != "*" && caller.catalog.entity(entity).is_none() {
            return Err(invalid(
                "/entity",
                format!("本租户没有实体 {entity}。"),
                format!(
                    "This tenant has no entity {entity}; use a qualified name such as crm.complaint, or *."
                ),
            ));
        }
        if kinds.is_empty() || kinds.iter().any(|k| !EVENT_KINDS.contains(&k.as_str())) {
            return Err(invalid(
                "/kinds",
                format!("事件类型须取自 {}。", EVENT_KINDS.join(", ")),
                format!("Event kinds must be some of {}.", EVENT_KINDS.join(", ")),
            ));
        }
        let mut kinds = kinds.to_vec();
        kinds.sort();
        kinds.dedup();
        let secret: [u8; 32] = rand::random();
        let hook = store::WebhookRow {
            id: Uuid::now_v7(),
            tenant_id: principal.tenant_id,
            url: url.to_string(),
            entity: entity.to_string(),
            kinds,
            secret: hex::encode(secret),
            active: true,
            created_at: Utc::now(),
        };
        self.store.create_webhook(&hook, principal.user_id).await?;
        Ok(hook)
    }

    pub async fn webhooks(&self, caller: &Caller<'_>) -> Result<Vec<store::WebhookRow>> {
        Self::require_admin(caller.principal, caller.locale)?;
        Ok(self.store.webhooks(caller.principal.tenant_id).await?)
    }

    pub async fn delete_webhook(&self, caller: &Caller<'_>, id: Uuid) -> Result<()> {
        Self::require_admin(caller.principal, caller.locale)?;
        if self
            .store
            .delete_webhook(caller.principal.tenant_id, id)
            .await?
        {
            Ok(())
        } else {
            Err(super::not_found(caller.locale, id))
        }
    }

    /// The latest deliveries of one webhook of the caller's tenant, newest first.
    pub async fn webhook_deliveries(
        &self,
        caller: &Caller<'_>,
        webhook_id: Uuid,
        limit: u64,
    ) -> Result<Vec<store::DeliveryRow>> {
        Self::require_admin(caller.principal, caller.locale)?;
        let tenant_id = caller.principal.tenant_id;
        if !self
            .store
            .webhooks(tenant_id)
            .await?
            .iter()
            .any(|hook| hook.id == webhook_id)
        {
            return Err(super::not_found(caller.locale, webhook_id));
        }
        Ok(self
            .store
            .deliveries(tenant_id, webhook_id, limit.min(500))
            .await?)
    }
}

/// Makes `ring` the process's TLS crypto provider (for HTTPS webhooks); harmless when one is
/// installed already.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`: what receivers recompute with their secret.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    format!(
        "sha256={}",
        hmac_sha256_hex(secret.as_bytes(), format!("{timestamp}.{body}").as_bytes())
    )
}

fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

async fn send(
    client: &reqwest::Client,
    delivery: &store::DueDelivery,
    config: &crate::config::WebhookConfig,
) -> AttemptOutcome {
    let started = Instant::now();
    let timestamp = Utc::now().timestamp();
    let result = client
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header("user-agent", "jingxi-webhooks")
        .header("x-jingxi-event-id", delivery.event_id.to_string())
        .header("x-jingxi-delivery-id", delivery.id.to_string())
        .header("x-jingxi-timestamp", timestamp.to_string())
        .header(
            "x-jingxi-signature",
            signature(&delivery.secret, timestamp, &delivery.payload),
        )
        .body(delivery.payload.clone())
        .send()
        .await;
    let duration_ms = started.elapsed().as_millis() as i64;
    let (status_code, error) = match result {
        Ok(response) => (Some(i32::from(response.status().as_u16())), None),
        Err(error) => {
            // The whole chain: "error sending request" alone does not say a TLS handshake failed.
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            (None, Some(message))
        }
    };
    let delivered = status_code.is_some_and(|code| (200..300).contains(&code));
    let attempt = delivery.attempts + 1;
    let retry_at = (!delivered && (attempt as u32) < config.max_attempts).then(|| {
        let backoff = config
            .retry_base_ms
            .saturating_mul(1u64 << (attempt as u32 - 1).min(20))
            .min(config.retry_max_ms);
        Utc::now() + chrono::Duration::milliseconds(backoff as i64)
    });
    AttemptOutcome {
        status_code,
        error,
        duration_ms,
        retry_at,
        delivered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_test_vector() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signature_covers_timestamp_and_body() {
        let signed = signature("secret", 1_700_000_000, "{}");
        assert_eq!(
            signed,
            format!("sha256={}", hmac_sha256_hex(b"secret", b"1700000000.{}"))
        );
        assert_ne!(signature("other", 1_700_000_000, "{}"), signed);
        assert_ne!(signature("secret", 1_700_000_001, "{}"), signed);
        assert_ne!(signature("secret", 1_700_000_000, "{ }"), signed);
    }
}
