//! Staff (reviewers, operators, admins), their browser sessions, and the catalogue of
//! rejection reasons.

use crate::tx::b;
use crate::{Result, StoreError, Tx};
use beian_core::platform::{Reason, Role, Staff};
use sqlx::any::AnyRow;
use sqlx::Row;

/// Staff (reviewers, operators, admins) and their browser sessions.
pub struct StaffMembers<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Staff (reviewers, operators, admins) and their browser sessions.
    pub fn staff(&mut self) -> StaffMembers<'_> {
        StaffMembers { tx: self }
    }
}

impl StaffMembers<'_> {
    pub async fn insert(&mut self, s: &Staff, token_hash: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO staff (id, name, role, token_hash, active, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&s.id)
            .bind(&s.name)
            .bind(s.role.as_str())
            .bind(token_hash)
            .bind(b(s.active))
            .bind(now)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    pub async fn by_token(&mut self, token_hash: &str) -> Result<Option<Staff>> {
        let row = sqlx::query("SELECT * FROM staff WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| staff_from_row(&r)).transpose()
    }

    pub async fn list(&mut self) -> Result<Vec<Staff>> {
        let rows =
            sqlx::query("SELECT * FROM staff ORDER BY created_at, id").fetch_all(&mut *self.tx.conn).await?;
        rows.iter().map(staff_from_row).collect()
    }

    pub async fn insert_session(
        &mut self,
        token_hash: &str,
        staff_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO staff_sessions (token_hash, staff_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(token_hash)
        .bind(staff_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// The staff member of a session, with its `last_seen_at` and `expires_at`.
    pub async fn session(&mut self, token_hash: &str) -> Result<Option<(Staff, i64, i64)>> {
        let row = sqlx::query(
            "SELECT st.id, st.name, st.role, st.active, s.last_seen_at, s.expires_at \
             FROM staff_sessions s JOIN staff st ON st.id = s.staff_id WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        row.map(|r| Ok((staff_from_row(&r)?, r.try_get("last_seen_at")?, r.try_get("expires_at")?)))
            .transpose()
    }

    pub async fn touch_session(&mut self, token_hash: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE staff_sessions SET last_seen_at = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(now)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&mut self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    /// Forget sessions past their end (`expires_at`) or idle since before `idle_before`.
    pub async fn delete_ended_sessions(&mut self, now: i64, idle_before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM staff_sessions WHERE expires_at <= $1 OR last_seen_at < $2")
            .bind(now)
            .bind(idle_before)
            .execute(&mut *self.tx.conn)
            .await?
            .rows_affected())
    }
}

/// The reviewers' catalogue of rejection reasons.
pub struct Reasons<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// The reviewers' catalogue of rejection reasons.
    pub fn reasons(&mut self) -> Reasons<'_> {
        Reasons { tx: self }
    }
}

impl Reasons<'_> {
    pub async fn insert(&mut self, r: &Reason, now: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO reasons (key_name, error, suggest, active, updated_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&r.key_name)
        .bind(&r.error)
        .bind(&r.suggest)
        .bind(b(r.active))
        .bind(now)
        .fetch_one(&mut *self.tx.conn)
        .await?)
    }

    pub async fn update(&mut self, r: &Reason, now: i64) -> Result<bool> {
        let res = sqlx::query("UPDATE reasons SET key_name = $2, error = $3, suggest = $4, active = $5, updated_at = $6 WHERE id = $1")
            .bind(r.id)
            .bind(&r.key_name)
            .bind(&r.error)
            .bind(&r.suggest)
            .bind(b(r.active))
            .bind(now)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn list(&mut self) -> Result<Vec<Reason>> {
        let rows = sqlx::query("SELECT * FROM reasons ORDER BY id").fetch_all(&mut *self.tx.conn).await?;
        rows.iter()
            .map(|r| {
                Ok(Reason {
                    id: r.try_get("id")?,
                    key_name: r.try_get("key_name")?,
                    error: r.try_get("error")?,
                    suggest: r.try_get("suggest")?,
                    active: r.try_get::<i64, _>("active")? != 0,
                })
            })
            .collect()
    }
}

fn staff_from_row(r: &AnyRow) -> Result<Staff> {
    let role: String = r.try_get("role")?;
    Ok(Staff {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
        active: r.try_get::<i64, _>("active")? != 0,
    })
}
