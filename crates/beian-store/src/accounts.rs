//! Console accounts: their e-mail (encrypted, with a blind index), passwords and sign-in
//! failures, identities at an OpenID provider (issuer + subject). Their sessions, pending
//! OIDC sign-ins and password resets are in `account_sessions`; their memberships of mini
//! programs in `memberships`.

use crate::crypto::Crypto;
use crate::tx::{b, u};
use crate::{Result, Tx};
use beian_core::platform::Account;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Console accounts and their identities.
pub struct Accounts<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Console accounts and their identities.
    pub fn accounts(&mut self) -> Accounts<'_> {
        Accounts { tx: self }
    }
}

impl Accounts<'_> {
    pub async fn insert(&mut self, a: &Account, now: i64) -> Result<()> {
        let (enc, index) = self.email_columns(a.email.as_deref());
        sqlx::query(
            "INSERT INTO accounts (id, username, display_name, password_hash, failed_logins, created_at, \
             email_enc, email_index, email_verified) VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8)",
        )
        .bind(&a.id)
        .bind(&a.username)
        .bind(&a.display_name)
        .bind(&a.password_hash)
        .bind(now)
        .bind(enc)
        .bind(index)
        .bind(b(a.email_verified))
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// The encrypted address and its blind index (lower-cased: addresses compare without case).
    fn email_columns(&self, email: Option<&str>) -> (Option<Vec<u8>>, Option<String>) {
        match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => {
                (Some(self.tx.crypto.encrypt_str(e)), Some(self.tx.crypto.blind_index(&e.to_lowercase())))
            }
            None => (None, None),
        }
    }

    /// Every account, by username.
    pub async fn list(&mut self) -> Result<Vec<Account>> {
        let rows =
            sqlx::query("SELECT * FROM accounts ORDER BY username").fetch_all(&mut *self.tx.conn).await?;
        rows.iter().map(|r| account_from_row(&self.tx.crypto, r)).collect()
    }

    /// Accounts whose e-mail is `email` (any case).
    pub async fn by_email(&mut self, email: &str) -> Result<Vec<Account>> {
        let index = self.tx.crypto.blind_index(&email.trim().to_lowercase());
        let rows = sqlx::query("SELECT * FROM accounts WHERE email_index = $1 ORDER BY id")
            .bind(index)
            .fetch_all(&mut *self.tx.conn)
            .await?;
        rows.iter().map(|r| account_from_row(&self.tx.crypto, r)).collect()
    }

    pub async fn set_email(&mut self, id: &str, email: Option<&str>, verified: bool) -> Result<()> {
        let (enc, index) = self.email_columns(email);
        sqlx::query(
            "UPDATE accounts SET email_enc = $2, email_index = $3, email_verified = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(enc)
        .bind(index)
        .bind(b(verified))
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// Disable (`Some(when)`) or enable (`None`) an account.
    pub async fn set_disabled(&mut self, id: &str, at: Option<i64>) -> Result<()> {
        sqlx::query("UPDATE accounts SET disabled_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    /// A new password hash; the lockout is lifted with it.
    pub async fn set_password(&mut self, id: &str, hash: &str) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET password_hash = $2, failed_logins = 0, locked_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(hash)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// The account linked to `subject` at `issuer`.
    pub async fn by_identity(&mut self, issuer: &str, subject: &str) -> Result<Option<Account>> {
        let row = sqlx::query(
            "SELECT a.* FROM accounts a JOIN account_identities i ON i.account_id = a.id \
             WHERE i.issuer = $1 AND i.subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        row.map(|r| account_from_row(&self.tx.crypto, &r)).transpose()
    }

    pub async fn link_identity(
        &mut self,
        issuer: &str,
        subject: &str,
        account_id: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO account_identities (issuer, subject, account_id, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(issuer)
        .bind(subject)
        .bind(account_id)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    pub async fn touch_identity(&mut self, issuer: &str, subject: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE account_identities SET last_login_at = $3 WHERE issuer = $1 AND subject = $2")
            .bind(issuer)
            .bind(subject)
            .bind(now)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    /// (issuer, subject) pairs linked to an account.
    pub async fn identities_of(&mut self, account_id: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT issuer, subject FROM account_identities WHERE account_id = $1 ORDER BY issuer",
        )
        .bind(account_id)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("issuer")?, r.try_get("subject")?))).collect()
    }

    pub async fn by_username(&mut self, username: &str) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| account_from_row(&self.tx.crypto, &r)).transpose()
    }

    pub async fn get(&mut self, id: &str) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| account_from_row(&self.tx.crypto, &r)).transpose()
    }

    pub async fn set_login_state(&mut self, id: &str, failed: u32, locked_until: Option<i64>) -> Result<()> {
        sqlx::query("UPDATE accounts SET failed_logins = $2, locked_until = $3 WHERE id = $1")
            .bind(id)
            .bind(i64::from(failed))
            .bind(locked_until)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }
}

fn account_from_row(crypto: &Crypto, r: &AnyRow) -> Result<Account> {
    let email: Option<Vec<u8>> = r.try_get("email_enc")?;
    let verified: i64 = r.try_get("email_verified")?;
    Ok(Account {
        email: email.map(|e| crypto.decrypt_str(&e)).transpose()?,
        email_verified: verified != 0,
        disabled_at: r.try_get("disabled_at")?,
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        password_hash: r.try_get("password_hash")?,
        failed_logins: u(r.try_get("failed_logins")?, "failed_logins")?,
        locked_until: r.try_get("locked_until")?,
    })
}
