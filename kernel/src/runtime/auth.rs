//! Token lifetimes, revocation, and the brakes on password guessing: an account is locked for a
//! while after repeated failures, and one client address may try only so often per minute.
//!
//! The counters live in memory on each node, so the limits apply per node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Caller, Error, Kernel, Result, token_hash};
use crate::config::AuthConfig;

/// Failed logins of one account.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last_at: Instant,
    locked_until: Option<Instant>,
}

/// Attempts from one address in the current minute.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    attempts: u32,
}

/// Entries kept before stale ones are swept: bounds memory under a flood of made-up names.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct LoginThrottle {
    accounts: Mutex<HashMap<String, Failures>>,
    addresses: Mutex<HashMap<String, Window>>,
}

impl LoginThrottle {
    /// `Err(seconds to wait)` when the address or the account may not try now.
    fn admit(&self, config: &AuthConfig, account: &str, address: Option<&str>) -> Result<(), u64> {
        let now = Instant::now();
        if let Some(address) = address {
            let mut addresses = self.addresses.lock().expect("login throttle lock");
            if addresses.len() > MAX_ENTRIES {
                addresses.retain(|_, w| now.duration_since(w.started) < Duration::from_secs(60));
            }
            let window = addresses.entry(address.to_string()).or_insert(Window {
                started: now,
                attempts: 0,
            });
            if now.duration_since(window.started) >= Duration::from_secs(60) {
                *window = Window {
                    started: now,
                    attempts: 0,
                };
            }
            window.attempts += 1;
            if window.attempts > config.logins_per_minute_per_address {
                let wait = 60 - now.duration_since(window.started).as_secs();
                return Err(wait.max(1));
            }
        }
        let accounts = self.accounts.lock().expect("login throttle lock");
        if let Some(until) = accounts.get(account).and_then(|f| f.locked_until)
            && until > now
        {
            return Err(until.duration_since(now).as_secs().max(1));
        }
        Ok(())
    }

    fn failed(&self, config: &AuthConfig, account: &str) {
        let now = Instant::now();
        let lockout = Duration::from_secs(config.lockout_seconds);
        let mut accounts = self.accounts.lock().expect("login throttle lock");
        if accounts.len() > MAX_ENTRIES {
            accounts.retain(|_, f| now.duration_since(f.last_at) < lockout);
        }
        let failures = accounts.entry(account.to_string()).or_insert(Failures {
            count: 0,
            last_at: now,
            locked_until: None,
        });
        // Failures far apart do not add up; a lock that ran out starts a new count.
        let expired = failures.locked_until.is_some_and(|until| until <= now);
        if expired || now.duration_since(failures.last_at) > lockout {
            *failures = Failures {
                count: 0,
                last_at: now,
                locked_until: None,
            };
        }
        failures.count += 1;
        failures.last_at = now;
        if failures.count >= config.max_failed_logins.max(1) {
            failures.locked_until = Some(now + lockout);
        }
    }

    fn succeeded(&self, account: &str) {
        self.accounts
            .lock()
            .expect("login throttle lock")
            .remove(account);
    }
}

fn too_many(wait: u64) -> Error {
    Error::LimitExceeded(format!(
        "登录尝试过多,请 {wait} 秒后再试。 / Too many login attempts; try again in {wait} s."
    ))
}

impl Kernel {
    /// Password login with throttling: `Ok(None)` for a wrong tenant, user or password (the
    /// caller cannot tell which), `LIMIT_EXCEEDED` while the account or the address must wait.
    pub async fn login_from(
        &self,
        slug: &str,
        email: &str,
        password: &str,
        address: Option<&str>,
    ) -> Result<Option<String>> {
        let config = &self.config.auth;
        let account = format!("{slug}\u{0}{}", email.to_lowercase());
        self.logins
            .admit(config, &account, address)
            .map_err(too_many)?;
        let token = self.login(slug, email, password).await?;
        match &token {
            Some(_) => self.logins.succeeded(&account),
            None => self.logins.failed(config, &account),
        }
        Ok(token)
    }

    /// When a new login token stops working.
    pub(super) fn login_token_expiry(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::hours(i64::from(self.config.auth.login_token_ttl_hours))
    }

    /// When a new API token stops working: `ttl_days` (0 for never), or the configured default.
    pub fn api_token_expiry(&self, ttl_days: Option<u32>) -> Option<DateTime<Utc>> {
        match ttl_days.unwrap_or(self.config.auth.api_token_ttl_days) {
            0 => None,
            days => Some(Utc::now() + chrono::Duration::days(i64::from(days))),
        }
    }

    /// Revokes the token itself (logging out). `false` when it was not a live token.
    pub async fn revoke_token(&self, token: &str) -> Result<bool> {
        let revoked = self
            .store
            .revoke_tokens(None, None, Some(&token_hash(token)), Utc::now())
            .await?;
        self.forget_principals();
        Ok(revoked > 0)
    }

    /// Revokes every token of a user of the caller's tenant (admins only); returns how many.
    pub async fn revoke_user_tokens(&self, caller: &Caller<'_>, email: &str) -> Result<u64> {
        let (principal, locale) = (caller.principal, caller.locale);
        if !principal.is_admin() {
            return Err(Error::Forbidden(locale.pick(
                "只有租户管理员可以吊销令牌。".to_string(),
                "Only tenant admins may revoke tokens.".to_string(),
            )));
        }
        let user = self
            .store
            .user_by_email(principal.tenant_id, email)
            .await?
            .ok_or_else(|| {
                Error::NotFound(
                    locale.pick(format!("没有用户 {email}。"), format!("No user {email}.")),
                )
            })?;
        self.revoke_all(principal.tenant_id, user.id).await
    }

    /// Revokes every token of one user.
    pub async fn revoke_all(&self, tenant_id: i64, user_id: Uuid) -> Result<u64> {
        let revoked = self
            .store
            .revoke_tokens(Some(tenant_id), Some(user_id), None, Utc::now())
            .await?;
        self.forget_principals();
        Ok(revoked)
    }

    /// Drops remembered principals so a revocation takes effect on this node at once (other
    /// nodes notice within the cache's two seconds).
    fn forget_principals(&self) {
        self.principals
            .write()
            .expect("principal cache lock")
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuthConfig {
        AuthConfig {
            max_failed_logins: 3,
            lockout_seconds: 60,
            logins_per_minute_per_address: 5,
            ..AuthConfig::default()
        }
    }

    #[test]
    fn an_account_locks_after_repeated_failures_and_a_success_clears_it() {
        let throttle = LoginThrottle::default();
        let config = config();
        for _ in 0..2 {
            assert!(throttle.admit(&config, "acme/a", None).is_ok());
            throttle.failed(&config, "acme/a");
        }
        throttle.succeeded("acme/a");
        for _ in 0..3 {
            assert!(throttle.admit(&config, "acme/a", None).is_ok());
            throttle.failed(&config, "acme/a");
        }
        let wait = throttle.admit(&config, "acme/a", None).expect_err("locked");
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(
            throttle.admit(&config, "acme/b", None).is_ok(),
            "other accounts are not locked"
        );
    }

    #[test]
    fn an_address_gets_a_fixed_number_of_tries_per_minute() {
        let throttle = LoginThrottle::default();
        let config = config();
        for i in 0..5 {
            assert!(
                throttle
                    .admit(&config, &format!("acme/{i}"), Some("10.0.0.1"))
                    .is_ok()
            );
        }
        assert!(throttle.admit(&config, "acme/x", Some("10.0.0.1")).is_err());
        assert!(throttle.admit(&config, "acme/x", Some("10.0.0.2")).is_ok());
    }
}
