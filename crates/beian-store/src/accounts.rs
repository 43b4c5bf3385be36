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

    pub async fn memberships_of_app(&mut self, appid: &str) -> Result<Vec<Membership>> {
        let rows = sqlx::query("SELECT * FROM memberships WHERE appid = $1 ORDER BY role, account_id")
            .bind(appid)
            .fetch_all(&mut *self.tx.conn)
            .await?;
        rows.iter().map(membership_from_row).collect()
    }
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
