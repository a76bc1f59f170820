//! Tenants, org units, users, roles, grants, API tokens, installed plugins and per-tenant enablement.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenant {
    Table,
    Id,
    Slug,
    Name,
    SchemaVersion,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OrgUnit {
    Table,
    TenantId,
    Id,
    ParentId,
    Name,
    Path,
}

#[derive(DeriveIden)]
enum User {
    Table,
    TenantId,
    Id,
    Email,
    Name,
    PasswordHash,
    OrgUnitId,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Role {
    Table,
    TenantId,
    Id,
    Title,
    TitleEn,
    Source,
}

#[derive(DeriveIden)]
enum UserRole {
    Table,
    TenantId,
    UserId,
    RoleId,
}

#[derive(DeriveIden)]
enum Grant {
    Table,
    TenantId,
    Id,
    RoleId,
    Entity,
    Action,
    Scope,
    Source,
}

#[derive(DeriveIden)]
enum ApiToken {
    Table,
    Id,
    TenantId,
    UserId,
    TokenHash,
    Name,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Plugin {
    Table,
    Id,
    Version,
    Sha256,
    Manifest,
    Wasm,
    InstalledAt,
}

#[derive(DeriveIden)]
enum TenantPlugin {
    Table,
    TenantId,
    PluginId,
    Enabled,
    ChangedAt,
}

fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn uuid(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).uuid().not_null().to_owned()
}

fn text(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).string().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenant::Table)
                    .col(
                        ColumnDef::new(Tenant::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(text(Tenant::Slug).unique_key().to_owned())
                    .col(text(Tenant::Name))
                    .col(
                        ColumnDef::new(Tenant::SchemaVersion)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(timestamp(Tenant::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrgUnit::Table)
                    .col(ColumnDef::new(OrgUnit::TenantId).big_integer().not_null())
                    .col(uuid(OrgUnit::Id))
                    .col(ColumnDef::new(OrgUnit::ParentId).uuid().null())
                    .col(text(OrgUnit::Name))
                    // Materialized path "/<root>/<child>/…/<self>/" so a subtree is one prefix match.
                    .col(text(OrgUnit::Path))
                    .primary_key(Index::create().col(OrgUnit::TenantId).col(OrgUnit::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("org_unit_path")
                    .table(OrgUnit::Table)
                    .col(OrgUnit::TenantId)
                    .col(OrgUnit::Path)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(User::Table)
                    .col(ColumnDef::new(User::TenantId).big_integer().not_null())
                    .col(uuid(User::Id))
                    .col(text(User::Email))
                    .col(text(User::Name))
                    .col(ColumnDef::new(User::PasswordHash).string().null())
                    .col(ColumnDef::new(User::OrgUnitId).uuid().null())
                    .col(
                        ColumnDef::new(User::Active)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(timestamp(User::CreatedAt))
                    .primary_key(Index::create().col(User::TenantId).col(User::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("user_email")
                    .table(User::Table)
                    .col(User::TenantId)
                    .col(User::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Role::Table)
                    .col(ColumnDef::new(Role::TenantId).big_integer().not_null())
                    .col(text(Role::Id))
                    .col(text(Role::Title))
                    .col(text(Role::TitleEn))
                    .col(text(Role::Source))
                    .primary_key(Index::create().col(Role::TenantId).col(Role::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserRole::Table)
                    .col(ColumnDef::new(UserRole::TenantId).big_integer().not_null())
                    .col(uuid(UserRole::UserId))
                    .col(text(UserRole::RoleId))
                    .primary_key(
                        Index::create()
                            .col(UserRole::TenantId)
                            .col(UserRole::UserId)
                            .col(UserRole::RoleId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Grant::Table)
                    .col(ColumnDef::new(Grant::TenantId).big_integer().not_null())
                    .col(uuid(Grant::Id))
                    .col(text(Grant::RoleId))
                    .col(text(Grant::Entity))
                    .col(text(Grant::Action))
                    .col(text(Grant::Scope))
                    .col(text(Grant::Source))
                    .primary_key(Index::create().col(Grant::TenantId).col(Grant::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("grant_role")
                    .table(Grant::Table)
                    .col(Grant::TenantId)
                    .col(Grant::RoleId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiToken::Table)
                    .col(uuid(ApiToken::Id).primary_key().to_owned())
                    .col(ColumnDef::new(ApiToken::TenantId).big_integer().not_null())
                    .col(uuid(ApiToken::UserId))
                    // SHA-256 of the token, hex. The token itself is never stored.
                    .col(text(ApiToken::TokenHash).unique_key().to_owned())
                    .col(text(ApiToken::Name))
                    .col(timestamp(ApiToken::CreatedAt))
                    .col(
                        ColumnDef::new(ApiToken::ExpiresAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ApiToken::RevokedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Plugin::Table)
                    .col(text(Plugin::Id).primary_key().to_owned())
                    .col(text(Plugin::Version))
                    .col(text(Plugin::Sha256))
                    .col(ColumnDef::new(Plugin::Manifest).text().not_null())
                    .col(ColumnDef::new(Plugin::Wasm).binary().not_null())
                    .col(timestamp(Plugin::InstalledAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TenantPlugin::Table)
                    .col(
                        ColumnDef::new(TenantPlugin::TenantId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(text(TenantPlugin::PluginId))
                    .col(ColumnDef::new(TenantPlugin::Enabled).boolean().not_null())
                    .col(timestamp(TenantPlugin::ChangedAt))
                    .primary_key(
                        Index::create()
                            .col(TenantPlugin::TenantId)
                            .col(TenantPlugin::PluginId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TenantPlugin::Table.into_iden(),
            Plugin::Table.into_iden(),
            ApiToken::Table.into_iden(),
            Grant::Table.into_iden(),
            UserRole::Table.into_iden(),
            Role::Table.into_iden(),
            User::Table.into_iden(),
            OrgUnit::Table.into_iden(),
            Tenant::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
