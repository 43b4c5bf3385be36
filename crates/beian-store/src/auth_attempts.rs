//! Counters of failed identity checks on the merchant authorization page (see migration
//! 0009): per pre_auth_code on its token row, per mini program and per provider in
//! `auth_attempts`. The service decides what the numbers mean; this module only reads and
//! writes them.
//!
//! [`AuthAttempts::lock`] takes the counter row's write lock (an upsert) before the answer
//! is checked, so on PostgreSQL concurrent attempts for the same subject wait for each other
//! and each sees the failures the one before it committed (on SQLite the single writer
//! connection already orders them).

use crate::{Result, Tx};
use sqlx::any::AnyRow;
use sqlx::Row;

/// What is counted for one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScope {
    /// A mini program (the subject is its appid).
    Appid,
    /// A provider, across mini programs (the subject is its component_appid).
    Provider,
}

impl AuthScope {
    fn as_str(self) -> &'static str {
        match self {
            AuthScope::Appid => "appid",
            AuthScope::Provider => "provider",
        }
    }
}

/// One counter row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCounter {
    pub scope: AuthScope,
    pub subject: String,
    /// Failures since `window_start`.
    pub failures: i64,
    pub window_start: i64,
    /// Lockouts so far (the service doubles each one's length).
    pub lockouts: i64,
    /// Unix second the lock ends; 0 or past when not locked.
    pub locked_until: i64,
}

fn counter_from_row(scope: AuthScope, subject: &str, r: &AnyRow) -> Result<AuthCounter> {
    Ok(AuthCounter {
        scope,
        subject: subject.to_string(),
        failures: r.try_get("failures")?,
        window_start: r.try_get("window_start")?,
        lockouts: r.try_get("lockouts")?,
        locked_until: r.try_get("locked_until")?,
    })
}

/// Failure counters of the merchant-authorization page and of token checks.
pub struct AuthAttempts<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Failure counters of the merchant-authorization page and of token checks.
    pub fn auth_attempts(&mut self) -> AuthAttempts<'_> {
        AuthAttempts { tx: self }
    }
}

impl AuthAttempts<'_> {
    /// The counter of `subject`, created empty (window starting at `now`) if missing, with
    /// its row locked until this transaction ends.
    pub async fn lock(&mut self, scope: AuthScope, subject: &str, now: i64) -> Result<AuthCounter> {
        let row = sqlx::query(
            "INSERT INTO auth_attempts (scope, subject, failures, window_start, lockouts, locked_until, updated_at) \
             VALUES ($1, $2, 0, $3, 0, 0, $3) ON CONFLICT (scope, subject) DO UPDATE SET updated_at = excluded.updated_at \
             RETURNING failures, window_start, lockouts, locked_until",
        )
        .bind(scope.as_str())
        .bind(subject)
        .bind(now)
        .fetch_one(&mut *self.tx.conn)
        .await?;
        counter_from_row(scope, subject, &row)
    }

    /// Write a counter read with [`AuthAttempts::lock`] in this transaction.
    pub async fn save(&mut self, c: &AuthCounter, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE auth_attempts SET failures = $3, window_start = $4, lockouts = $5, locked_until = $6, \
             updated_at = $7 WHERE scope = $1 AND subject = $2",
        )
        .bind(c.scope.as_str())
        .bind(&c.subject)
        .bind(c.failures)
        .bind(c.window_start)
        .bind(c.lockouts)
        .bind(c.locked_until)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// Count one failed answer against a one-time token (a pre_auth_code) that is still
    /// unused, and use it up (`superseded_at = now`) when that makes `max` failures. Returns
    /// the failures counted so far, or `None` if the token was already used.
    pub async fn count_token_failure(&mut self, hash: &str, max: i64, now: i64) -> Result<Option<i64>> {
        let failures: Option<i64> = sqlx::query_scalar(
            "UPDATE tokens SET failures = failures + 1, \
             superseded_at = CASE WHEN failures + 1 >= $2 THEN $3 ELSE NULL END \
             WHERE token_hash = $1 AND superseded_at IS NULL RETURNING failures",
        )
        .bind(hash)
        .bind(max)
        .bind(now)
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        Ok(failures)
    }
}
