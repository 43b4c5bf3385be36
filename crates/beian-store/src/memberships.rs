//! Console accounts' memberships of mini programs and the invitations to become one.

use crate::{Result, StoreError, Tx};
use beian_core::platform::{MemberRole, Membership, Permission};
use sqlx::any::AnyRow;
use sqlx::Row;

/// Memberships of mini programs and invitations.
pub struct Memberships<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Memberships of mini programs and invitations.
    pub fn memberships(&mut self) -> Memberships<'_> {
        Memberships { tx: self }
    }
}

impl Memberships<'_> {
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
