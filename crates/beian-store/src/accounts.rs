//! Console accounts, their sessions and their memberships of mini programs.

use crate::tx::u;
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
        sqlx::query(
            "INSERT INTO accounts (id, username, display_name, password_hash, failed_logins, created_at) VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind(&a.id)
        .bind(&a.username)
        .bind(&a.display_name)
        .bind(&a.password_hash)
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
        row.map(|r| account_from_row(&r)).transpose()
    }

    pub async fn get(&mut self, id: &str) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| account_from_row(&r)).transpose()
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

fn account_from_row(r: &AnyRow) -> Result<Account> {
    Ok(Account {
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
