//! Who the caller is and what they may do: roles, grants and row scopes, turned into the
//! [`store::Access`] that every store call requires.
//!
//! **Invariant:** this layer decides *which* rows; the store applies that decision inside the SQL.

use std::collections::HashMap;

use uuid::Uuid;

use crate::store::{self, GrantRow, PrincipalRow, Rows};

/// The built-in role that may do everything in its tenant.
pub const ADMIN_ROLE: &str = "admin";

/// What a caller wants to do with records of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Read,
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// Breadth of a grant, from none to the whole tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Own,
    OrgUnit,
    All,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "own" => Some(Scope::Own),
            "org_unit" => Some(Scope::OrgUnit),
            "all" => Some(Scope::All),
            _ => None,
        }
    }
}

/// An authenticated user acting in one tenant.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: i64,
    pub tenant_slug: String,
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub org_unit_id: Option<Uuid>,
    pub org_unit_path: Option<String>,
    pub roles: Vec<String>,
    /// Broadest scope per (qualified entity, action).
    scopes: HashMap<(String, Action), Scope>,
    /// Highest field level readable per qualified entity (`read_level:N` grants).
    levels: HashMap<String, u8>,
}

impl Principal {
    pub fn new(row: PrincipalRow, grants: &[GrantRow]) -> Principal {
        let mut scopes: HashMap<(String, Action), Scope> = HashMap::new();
        let mut levels: HashMap<String, u8> = HashMap::new();
        for grant in grants {
            if let Some(level) = grant
                .action
                .strip_prefix("read_level:")
                .and_then(|n| n.parse::<u8>().ok())
            {
                let slot = levels.entry(grant.entity.clone()).or_insert(0);
                *slot = (*slot).max(level.min(store::Access::ALL_LEVELS));
                continue;
            }
            let action = match grant.action.as_str() {
                "read" => Action::Read,
                "create" => Action::Create,
                "update" => Action::Update,
                "delete" => Action::Delete,
                _ => continue,
            };
            let Some(scope) = Scope::parse(&grant.scope) else {
                continue;
            };
            let slot = scopes
                .entry((grant.entity.clone(), action))
                .or_insert(scope);
            *slot = (*slot).max(scope);
        }
        Principal {
            tenant_id: row.tenant.id,
            tenant_slug: row.tenant.slug,
            user_id: row.user.id,
            email: row.user.email,
            name: row.user.name,
            org_unit_id: row.user.org_unit_id,
            org_unit_path: row.org_unit_path,
            roles: row.roles,
            scopes,
            levels,
        }
    }

    /// The highest field level of `entity` the caller may read (0 without `read_level` grants).
    pub fn level(&self, entity: &str) -> u8 {
        if self.is_admin() {
            return store::Access::ALL_LEVELS;
        }
        self.levels.get(entity).copied().unwrap_or(0)
    }

    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|role| role == ADMIN_ROLE)
    }

    /// The broadest scope the caller holds for `action` on `entity`, if any.
    pub fn scope(&self, entity: &str, action: Action) -> Option<Scope> {
        if self.is_admin() {
            return Some(Scope::All);
        }
        self.scopes.get(&(entity.to_string(), action)).copied()
    }

    pub fn may(&self, entity: &str, action: Action) -> bool {
        self.scope(entity, action).is_some()
    }

    /// The rows of `entity` the caller may reach for `action`, as the store applies them.
    pub fn access(&self, entity: &str, action: Action) -> store::Access {
        let rows = match self.scope(entity, action) {
            None => Rows::None,
            Some(Scope::All) => Rows::All,
            Some(Scope::Own) => Rows::Own,
            // A user outside the org tree sees what an `own` grant would show.
            Some(Scope::OrgUnit) => match &self.org_unit_path {
                Some(path) => Rows::OrgUnit { path: path.clone() },
                None => Rows::Own,
            },
        };
        store::Access {
            tenant_id: self.tenant_id,
            user_id: self.user_id,
            org_unit_id: self.org_unit_id,
            rows,
            level: self.level(entity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{TenantRow, UserRow};

    fn principal(roles: &[&str], grants: &[(&str, &str, &str)], path: Option<&str>) -> Principal {
        let row = PrincipalRow {
            tenant: TenantRow {
                id: 7,
                slug: "acme".into(),
                name: "Acme".into(),
                schema_version: 0,
            },
            user: UserRow {
                id: Uuid::nil(),
                tenant_id: 7,
                email: "a@b.c".into(),
                name: "A".into(),
                password_hash: None,
                org_unit_id: None,
                active: true,
            },
            org_unit_path: path.map(str::to_string),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        };
        let grants: Vec<GrantRow> = grants
            .iter()
            .map(|(entity, action, scope)| GrantRow {
                role: roles[0].into(),
                entity: (*entity).into(),
                action: (*action).into(),
                scope: (*scope).into(),
            })
            .collect();
        Principal::new(row, &grants)
    }

    #[test]
    fn broadest_grant_wins_and_missing_grant_reaches_nothing() {
        let p = principal(
            &["sales_rep"],
            &[
                ("crm.customer", "read", "own"),
                ("crm.customer", "read", "all"),
            ],
            None,
        );
        assert_eq!(p.access("crm.customer", Action::Read).rows, Rows::All);
        assert_eq!(p.access("crm.customer", Action::Delete).rows, Rows::None);
        assert_eq!(p.access("crm.complaint", Action::Read).rows, Rows::None);
    }

    #[test]
    fn org_unit_scope_without_unit_falls_back_to_own() {
        let p = principal(&["cs_mgr"], &[("crm.customer", "read", "org_unit")], None);
        assert_eq!(p.access("crm.customer", Action::Read).rows, Rows::Own);
        let p = principal(
            &["cs_mgr"],
            &[("crm.customer", "read", "org_unit")],
            Some("/a/"),
        );
        assert_eq!(
            p.access("crm.customer", Action::Read).rows,
            Rows::OrgUnit { path: "/a/".into() }
        );
    }

    #[test]
    fn read_level_grants_raise_the_field_level_of_their_entity_only() {
        let p = principal(
            &["complaint_sup"],
            &[
                ("crm.complaint", "read", "all"),
                ("crm.complaint", "read_level:1", "all"),
                ("crm.complaint", "read_level:3", "own"),
            ],
            None,
        );
        assert_eq!(p.access("crm.complaint", Action::Read).level, 3);
        assert_eq!(p.access("crm.customer", Action::Read).level, 0);
        assert_eq!(principal(&["admin"], &[], None).level("crm.customer"), 9);
    }

    #[test]
    fn admin_reaches_everything_in_its_tenant() {
        let p = principal(&["admin"], &[], None);
        let access = p.access("crm.customer", Action::Delete);
        assert_eq!((access.rows, access.tenant_id), (Rows::All, 7));
    }
}
