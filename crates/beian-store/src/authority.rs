//! The authority seam's rows (migration 0012): the events the inbox received, by event id,
//! and the built-in simulator's copy of whom it texts for a submission (encrypted).
//!
//! The service decides what an event means; the simulator what its copy holds (JSON it
//! writes and reads back). This module only stores and reads.

use crate::{Result, Tx};
use sqlx::Row;

/// One event as the inbox recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityEventRow {
    pub event_id: String,
    pub appid: String,
    pub round: u32,
    pub kind: String,
    /// `applied` or `ignored` (a round the order had left).
    pub outcome: String,
    /// The event as JSON.
    pub detail: String,
    pub received_at: i64,
}

fn event_from_row(r: &sqlx::any::AnyRow) -> Result<AuthorityEventRow> {
    Ok(AuthorityEventRow {
        event_id: r.try_get("event_id")?,
        appid: r.try_get("appid")?,
        round: crate::tx::u(r.try_get("round")?, "round")?,
        kind: r.try_get("kind")?,
        outcome: r.try_get("outcome")?,
        detail: r.try_get("detail")?,
        received_at: r.try_get("received_at")?,
    })
}

/// The authority seam's rows, reached from a transaction (`tx.authority()`).
pub struct Authority<'t> {
    pub(crate) tx: &'t mut Tx,
}

impl Tx {
    /// The authority inbox's events and the simulator's submission copies.
    pub fn authority(&mut self) -> Authority<'_> {
        Authority { tx: self }
    }
}

impl Authority<'_> {
    /// Whether an event with this id was recorded.
    pub async fn event_seen(&mut self, event_id: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM authority_events WHERE event_id = $1")
            .bind(event_id)
            .fetch_one(&mut *self.tx.conn)
            .await?;
        Ok(n > 0)
    }

    /// Record an event; false if one with its id was recorded first (nothing is written).
    pub async fn record_event(&mut self, e: &AuthorityEventRow) -> Result<bool> {
        let res = sqlx::query(
            "INSERT INTO authority_events (event_id, appid, round, kind, outcome, detail, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&e.event_id)
        .bind(&e.appid)
        .bind(i64::from(e.round))
        .bind(&e.kind)
        .bind(&e.outcome)
        .bind(&e.detail)
        .bind(e.received_at)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(res.rows_affected() > 0)
    }

    /// The latest applied event of `kind` for `appid` and `round`.
    /// The newest applied events of one `kind`, at most `limit`, newest first.
    pub async fn recent_of_kind(&mut self, kind: &str, limit: i64) -> Result<Vec<AuthorityEventRow>> {
        let rows = sqlx::query(
            "SELECT event_id, appid, round, kind, outcome, detail, received_at FROM authority_events \
             WHERE kind = $1 AND outcome = 'applied' ORDER BY id DESC LIMIT $2",
        )
        .bind(kind)
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    pub async fn latest_event(
        &mut self,
        appid: &str,
        kind: &str,
        round: u32,
    ) -> Result<Option<AuthorityEventRow>> {
        let row = sqlx::query(
            "SELECT event_id, appid, round, kind, outcome, detail, received_at FROM authority_events \
             WHERE appid = $1 AND kind = $2 AND round = $3 AND outcome = 'applied' ORDER BY id DESC LIMIT 1",
        )
        .bind(appid)
        .bind(kind)
        .bind(i64::from(round))
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// The simulator's copy of a submission's recipients (`json`, stored encrypted); a second
    /// write of the same (appid, purpose, round) keeps the first.
    pub async fn put_sim_submission(
        &mut self,
        appid: &str,
        purpose: &str,
        round: u32,
        json: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO authority_sim_submissions (appid, purpose, round, principals_enc, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (appid, purpose, round) DO NOTHING",
        )
        .bind(appid)
        .bind(purpose)
        .bind(i64::from(round))
        .bind(self.tx.crypto.encrypt_str(json))
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// Every submission the simulator kept for `appid`, oldest first: (purpose, round, json).
    pub async fn sim_submissions_of(&mut self, appid: &str) -> Result<Vec<(String, u32, String)>> {
        let rows: Vec<(String, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT purpose, round, principals_enc FROM authority_sim_submissions WHERE appid = $1 \
             ORDER BY created_at, round, purpose",
        )
        .bind(appid)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.into_iter()
            .map(|(purpose, round, enc)| {
                Ok((purpose, u32::try_from(round).unwrap_or(0), self.tx.crypto.decrypt_str(&enc)?))
            })
            .collect()
    }

    pub async fn sim_submission(&mut self, appid: &str, purpose: &str, round: u32) -> Result<Option<String>> {
        let enc: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT principals_enc FROM authority_sim_submissions WHERE appid = $1 AND purpose = $2 AND round = $3",
        )
        .bind(appid)
        .bind(purpose)
        .bind(i64::from(round))
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        Ok(match enc {
            Some(e) => Some(self.tx.crypto.decrypt_str(&e)?),
            None => None,
        })
    }
}
