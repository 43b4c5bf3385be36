//! The host platform's events as beian recorded them (migration 0013): one row per event id,
//! written in the transaction of the event's effect (`beian-service` `host`), and what a
//! repeated delivery reads back. Also the one mini-program column only the host changes
//! (its owner account).

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
}
