//! The host platform's events as beian recorded them (migration 0013): one row per event id,
//! written in the transaction of the event's effect (`beian-service` `host`), and what a
//! repeated delivery reads back. Also the one mini-program column only the host changes
//! (its owner account).

use crate::{Result, Tx};

impl Tx {
    /// Record event `event_id` with `outcome`; false (and nothing written) when the id is
    /// already recorded. On PostgreSQL a concurrent delivery of the same id waits here until
    /// the first commits or rolls back.
    pub async fn insert_host_event(
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
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(inserted.is_some())
    }

    /// Replace the outcome of a recorded event (in the transaction that recorded it).
    pub async fn set_host_event_outcome(&mut self, event_id: &str, outcome: &str) -> Result<()> {
        sqlx::query("UPDATE host_events SET outcome = $2 WHERE event_id = $1")
            .bind(event_id)
            .bind(outcome)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The stored outcome of event `event_id`, if it was recorded.
    pub async fn host_event_outcome(&mut self, event_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT outcome FROM host_events WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(&mut *self.tx)
            .await?)
    }

    /// The developer account that owns a mini program (the console's owner).
    pub async fn set_mini_program_owner(&mut self, appid: &str, owner: &str, now: i64) -> Result<()> {
        self.touch(appid);
        sqlx::query("UPDATE mini_programs SET owner = $2, updated_at = $3 WHERE appid = $1")
            .bind(appid)
            .bind(owner)
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
