//! Console accounts' sessions, pending OIDC sign-ins and password-reset tokens (all stored
//! hashed).

use crate::{Result, Tx};
use sqlx::Row;

/// Console sessions, pending OIDC sign-ins and password resets.
pub struct AccountSessions<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Console sessions, pending OIDC sign-ins and password resets.
    pub fn account_sessions(&mut self) -> AccountSessions<'_> {
        AccountSessions { tx: self }
    }
}

impl AccountSessions<'_> {
    /// End every session of an account; how many there were.
    pub async fn delete_sessions_of(&mut self, account_id: &str) -> Result<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE account_id = $1")
            .bind(account_id)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(r.rows_affected())
    }

    /// Keep a pending OIDC sign-in (`plain` is encrypted here); expired ones are dropped.
    pub async fn put_oidc_pending(
        &mut self,
        key_hash: &str,
        plain: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query("DELETE FROM oidc_pending WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *self.tx.conn)
            .await?;
        sqlx::query("INSERT INTO oidc_pending (key_hash, pending_enc, expires_at) VALUES ($1, $2, $3)")
            .bind(key_hash)
            .bind(self.tx.crypto.encrypt_str(plain))
            .bind(expires_at)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    /// Take (read and delete: single use) a pending OIDC sign-in still valid at `now`.
    pub async fn take_oidc_pending(&mut self, key_hash: &str, now: i64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT pending_enc, expires_at FROM oidc_pending WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        sqlx::query("DELETE FROM oidc_pending WHERE key_hash = $1")
            .bind(key_hash)
            .execute(&mut *self.tx.conn)
            .await?;
        let expires: i64 = row.try_get("expires_at")?;
        if expires <= now {
            return Ok(None);
        }
        let enc: Vec<u8> = row.try_get("pending_enc")?;
        Ok(Some(self.tx.crypto.decrypt_str(&enc)?))
    }

    pub async fn insert_password_reset(
        &mut self,
        token_hash: &str,
        account_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO password_resets (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// The account of an unused, unexpired reset token (without using it).
    pub async fn password_reset(&mut self, token_hash: &str, now: i64) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT account_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        row.map(|r| Ok(r.try_get("account_id")?)).transpose()
    }

    /// Mark every open reset token of the account used (the one just used, and older links).
    pub async fn use_password_resets(&mut self, account_id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE password_resets SET used_at = $2 WHERE account_id = $1 AND used_at IS NULL")
            .bind(account_id)
            .bind(now)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    pub async fn insert_session(
        &mut self,
        token_hash: &str,
        account_id: &str,
        csrf: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, account_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(account_id)
            .bind(csrf)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    /// (account id, csrf token, expires_at) of a session.
    pub async fn session(&mut self, token_hash: &str) -> Result<Option<(String, String, i64)>> {
        let row = sqlx::query("SELECT account_id, csrf, expires_at FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| Ok((r.try_get("account_id")?, r.try_get("csrf")?, r.try_get("expires_at")?))).transpose()
    }

    pub async fn delete_session(&mut self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }
}
