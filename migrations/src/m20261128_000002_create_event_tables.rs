//! The audit trail, the transactional outbox, and webhooks with their delivery log.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    TenantId,
    Id,
    Entity,
    RecordId,
    Kind,
    Actor,
    At,
    Transition,
    FromState,
    ToState,
    Comment,
    Changes,
    OwnerId,
    OrgUnitId,
}

#[derive(DeriveIden)]
enum OutboxEvent {
    Table,
    TenantId,
    Id,
    Entity,
    RecordId,
    Kind,
    At,
    Payload,
    Dispatched,
}

#[derive(DeriveIden)]
enum Webhook {
    Table,
    TenantId,
    Id,
    Url,
    Entity,
    Kinds,
    Secret,
    Active,
    CreatedAt,
    CreatedBy,
}

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    TenantId,
    Id,
    WebhookId,
    EventId,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastStatusCode,
    LastError,
    DeliveredAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookAttempt {
    Table,
    TenantId,
    DeliveryId,
    Attempt,
    At,
    StatusCode,
    Error,
    DurationMs,
}

fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn nullable_text(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).text().null().to_owned()
}

fn text(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).text().not_null().to_owned()
}

fn uuid(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).uuid().not_null().to_owned()
}

fn tenant(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).big_integer().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Append-only: the kernel inserts and reads, never updates or deletes.
        manager
            .create_table(
                Table::create()
                    .table(AuditEvent::Table)
                    .col(tenant(AuditEvent::TenantId))
                    .col(uuid(AuditEvent::Id))
                    .col(text(AuditEvent::Entity))
                    .col(uuid(AuditEvent::RecordId))
                    .col(text(AuditEvent::Kind))
                    .col(uuid(AuditEvent::Actor))
                    .col(timestamp(AuditEvent::At))
                    .col(nullable_text(AuditEvent::Transition))
                    .col(nullable_text(AuditEvent::FromState))
                    .col(nullable_text(AuditEvent::ToState))
                    .col(nullable_text(AuditEvent::Comment))
                    // JSON: {"field": {"before": …, "after": …}} for the fields that changed.
                    .col(text(AuditEvent::Changes))
                    // The record's owner and unit when the event happened, so history keeps the
                    // row scope of a deleted record.
                    .col(ColumnDef::new(AuditEvent::OwnerId).uuid().null())
                    .col(ColumnDef::new(AuditEvent::OrgUnitId).uuid().null())
                    .primary_key(
                        Index::create()
                            .col(AuditEvent::TenantId)
                            .col(AuditEvent::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_event_record")
                    .table(AuditEvent::Table)
                    .col(AuditEvent::TenantId)
                    .col(AuditEvent::Entity)
                    .col(AuditEvent::RecordId)
                    .col(AuditEvent::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboxEvent::Table)
                    .col(tenant(OutboxEvent::TenantId))
                    // Stable event id (UUIDv7): receivers de-duplicate on it.
                    .col(uuid(OutboxEvent::Id))
                    .col(text(OutboxEvent::Entity))
                    .col(uuid(OutboxEvent::RecordId))
                    .col(text(OutboxEvent::Kind))
                    .col(timestamp(OutboxEvent::At))
                    .col(text(OutboxEvent::Payload))
                    .col(
                        ColumnDef::new(OutboxEvent::Dispatched)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .primary_key(
                        Index::create()
                            .col(OutboxEvent::TenantId)
                            .col(OutboxEvent::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_event_pending")
                    .table(OutboxEvent::Table)
                    .col(OutboxEvent::Dispatched)
                    .col(OutboxEvent::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Webhook::Table)
                    .col(tenant(Webhook::TenantId))
                    .col(uuid(Webhook::Id))
                    .col(text(Webhook::Url))
                    // A qualified entity, or `*` for every entity.
                    .col(text(Webhook::Entity))
                    // Comma-separated event kinds: create, update, delete, transition.
                    .col(text(Webhook::Kinds))
                    .col(text(Webhook::Secret))
                    .col(
                        ColumnDef::new(Webhook::Active)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(timestamp(Webhook::CreatedAt))
                    .col(uuid(Webhook::CreatedBy))
                    .primary_key(Index::create().col(Webhook::TenantId).col(Webhook::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDelivery::Table)
                    .col(tenant(WebhookDelivery::TenantId))
                    .col(uuid(WebhookDelivery::Id))
                    .col(uuid(WebhookDelivery::WebhookId))
                    .col(uuid(WebhookDelivery::EventId))
                    // pending, delivered, failed (gave up after the last retry)
                    .col(text(WebhookDelivery::Status))
                    .col(
                        ColumnDef::new(WebhookDelivery::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(timestamp(WebhookDelivery::NextAttemptAt))
                    .col(
                        ColumnDef::new(WebhookDelivery::LeaseUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDelivery::LastStatusCode)
                            .integer()
                            .null(),
                    )
                    .col(nullable_text(WebhookDelivery::LastError))
                    .col(
                        ColumnDef::new(WebhookDelivery::DeliveredAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(timestamp(WebhookDelivery::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(WebhookDelivery::TenantId)
                            .col(WebhookDelivery::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_delivery_once")
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::WebhookId)
                    .col(WebhookDelivery::EventId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_delivery_due")
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::Status)
                    .col(WebhookDelivery::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempt::Table)
                    .col(tenant(WebhookAttempt::TenantId))
                    .col(uuid(WebhookAttempt::DeliveryId))
                    .col(ColumnDef::new(WebhookAttempt::Attempt).integer().not_null())
                    .col(timestamp(WebhookAttempt::At))
                    .col(ColumnDef::new(WebhookAttempt::StatusCode).integer().null())
                    .col(nullable_text(WebhookAttempt::Error))
                    .col(
                        ColumnDef::new(WebhookAttempt::DurationMs)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(WebhookAttempt::TenantId)
                            .col(WebhookAttempt::DeliveryId)
                            .col(WebhookAttempt::Attempt),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebhookAttempt::Table.into_iden(),
            WebhookDelivery::Table.into_iden(),
            Webhook::Table.into_iden(),
            OutboxEvent::Table.into_iden(),
            AuditEvent::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
