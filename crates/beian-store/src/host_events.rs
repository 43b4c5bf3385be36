//! The host platform's events as beian recorded them (migration 0013): one row per event id,
//! written in the transaction of the event's effect (`beian-service` `host`), and what a
//! repeated delivery reads back. Also what only the host's events change: a filed mini
//! program whose principal must change (负责人须变更, `principal_changes`, migration 0019).

use crate::{Result, Tx};

/// The host platform's events, by event id (`tx.host_events()`).
pub struct HostEvents<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// The host platform's events as received.
    pub fn host_events(&mut self) -> HostEvents<'_> {
        HostEvents { tx: self }
    }
}

impl HostEvents<'_> {
    /// Record event `event_id` with `outcome`; false (and nothing written) when the id is
    /// already recorded. On PostgreSQL a concurrent delivery of the same id waits here until
    /// the first commits or rolls back.
    pub async fn insert(
        &mut self,
        event_id: &str,
        kind: &str,
        appid: &str,
        outcome: &str,
        now: i64,
    ) -> Result<bool> {
        let inserted: Option<String> = sqlx::query_scalar(
            "INSERT INTO host_events (event_id, kind, appid, outcome, received_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        )
        .bind(event_id)
        .bind(kind)
        .bind(appid)
        .bind(outcome)
        .bind(now)
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        Ok(inserted.is_some())
    }

    /// Replace the outcome of a recorded event (in the transaction that recorded it).
    pub async fn set_outcome(&mut self, event_id: &str, outcome: &str) -> Result<()> {
        sqlx::query("UPDATE host_events SET outcome = $2 WHERE event_id = $1")
            .bind(event_id)
            .bind(outcome)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    /// The stored outcome of event `event_id`, if it was recorded.
    pub async fn outcome(&mut self, event_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT outcome FROM host_events WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(&mut *self.tx.conn)
            .await?)
    }

    /// Mark `appid` as 负责人须变更 (kept as first marked when already marked).
    pub async fn mark_principal_change(&mut self, appid: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO principal_changes (appid, marked_at) VALUES ($1, $2) ON CONFLICT (appid) DO NOTHING",
        )
        .bind(appid)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// Clear the mark of `appid`; whether there was one.
    pub async fn clear_principal_change(&mut self, appid: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM principal_changes WHERE appid = $1")
            .bind(appid)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// When `appid` was marked 负责人须变更, if it is.
    pub async fn principal_change(&mut self, appid: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT marked_at FROM principal_changes WHERE appid = $1")
            .bind(appid)
            .fetch_optional(&mut *self.tx.conn)
            .await?)
    }

    /// The marked mini programs, oldest mark first, at most `limit`: (appid, name, marked_at);
    /// and how many there are.
    pub async fn principal_changes(&mut self, limit: i64) -> Result<(i64, Vec<(String, String, i64)>)> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM principal_changes")
            .fetch_one(&mut *self.tx.conn)
            .await?;
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT p.appid, COALESCE(m.name, ''), p.marked_at FROM principal_changes p \
             LEFT JOIN mini_programs m ON m.appid = p.appid ORDER BY p.marked_at, p.appid LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        Ok((count, rows))
    }
}
