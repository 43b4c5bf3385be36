//! Console accounts, their sessions and their memberships of mini programs; their e-mail
//! (encrypted, with a blind index), identities at an OpenID provider (issuer + subject),
//! pending OIDC sign-ins and password-reset tokens (hashed).

use crate::crypto::Crypto;
use crate::tx::{b, u};
use crate::{Result, StoreError, Tx};
use beian_core::platform::{Account, MemberRole, Membership, Permission};
use sqlx::any::AnyRow;
use sqlx::Row;

/// Console accounts, their sessions and their memberships of mini programs.
pub struct Accounts<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Console accounts, their sessions and their memberships of mini programs.
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

    /// End every session of an account; how many there were.
    pub async fn delete_sessions_of(&mut self, account_id: &str) -> Result<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE account_id = $1")
            .bind(account_id)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(r.rows_affected())
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

    pub async fn put_membership(&mut self, m: &Membership) -> Result<()> {
        sqlx::query(
            "INSERT INTO memberships (appid, account_id, role, perms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (appid, account_id) DO UPDATE SET role = excluded.role, perms = excluded.perms",
        )
        .bind(&m.appid)
        .bind(&m.account_id)
        .bind(m.role.as_str())
        .bind(m.perms.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","))
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    pub async fn memberships_of_account(&mut self, account_id: &str) -> Result<Vec<Membership>> {
        let rows = sqlx::query("SELECT * FROM memberships WHERE account_id = $1 ORDER BY appid")
            .bind(account_id)
            .fetch_all(&mut *self.tx.conn)
            .await?;
        rows.iter().map(membership_from_row).collect()
    }

    /// Remove `account_id` from `appid`; whether it was a member.
    pub async fn delete_membership(&mut self, appid: &str, account_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM memberships WHERE appid = $1 AND account_id = $2")
            .bind(appid)
            .bind(account_id)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Record an invitation to `appid` (migration 0019); the token only as its hash.
    pub async fn insert_invitation(&mut self, inv: &Invitation) -> Result<()> {
        sqlx::query(
            "INSERT INTO member_invitations (token_hash, appid, perm, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&inv.token_hash)
        .bind(&inv.appid)
        .bind(inv.perm.as_str())
        .bind(&inv.invited_by)
        .bind(inv.created_at)
        .bind(inv.expires_at)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// The invitation whose token hashes to `token_hash`, if any.
    pub async fn invitation(&mut self, token_hash: &str) -> Result<Option<Invitation>> {
        let row = sqlx::query("SELECT * FROM member_invitations WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| {
            let perm: String = r.try_get("perm")?;
            Ok(Invitation {
                token_hash: r.try_get("token_hash")?,
                appid: r.try_get("appid")?,
                perm: Permission::parse(&perm)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown permission {perm:?}")))?,
                invited_by: r.try_get("invited_by")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                accepted_by: r.try_get("accepted_by")?,
            })
        })
        .transpose()
    }

    /// Mark an invitation accepted by `account_id`, once: false when it already was.
    pub async fn accept_invitation(&mut self, token_hash: &str, account_id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE member_invitations SET accepted_by = $2, accepted_at = $3 \
             WHERE token_hash = $1 AND accepted_by IS NULL",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Invitations to `appid` not yet accepted that expire after `now`, newest first.
    pub async fn open_invitations(&mut self, appid: &str, now: i64) -> Result<Vec<(Permission, i64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT perm, expires_at FROM member_invitations \
             WHERE appid = $1 AND accepted_by IS NULL AND expires_at > $2 ORDER BY created_at DESC LIMIT 50",
        )
        .bind(appid)
        .bind(now)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.into_iter()
            .map(|(p, at)| {
                Permission::parse(&p)
                    .map(|p| (p, at))
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown permission {p:?}")))
            })
            .collect()
    }

    pub async fn memberships_of_app(&mut self, appid: &str) -> Result<Vec<Membership>> {
        let rows = sqlx::query("SELECT * FROM memberships WHERE appid = $1 ORDER BY role, account_id")
            .bind(appid)
            .fetch_all(&mut *self.tx.conn)
            .await?;
        rows.iter().map(membership_from_row).collect()
    }
}

/// An invitation to become a member of a mini program (`member_invitations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub token_hash: String,
    pub appid: String,
    pub perm: Permission,
    /// The admin's account id.
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_by: Option<String>,
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

fn membership_from_row(r: &AnyRow) -> Result<Membership> {
    let perms: String = r.try_get("perms")?;
    let role: String = r.try_get("role")?;
    let perms = perms
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| Permission::parse(p).ok_or_else(|| StoreError::Corrupt(format!("unknown permission {p:?}"))))
        .collect::<Result<Vec<_>>>()?;
    Ok(Membership {
        appid: r.try_get("appid")?,
        account_id: r.try_get("account_id")?,
        role: MemberRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown member role {role:?}")))?,
        perms,
    })
}
