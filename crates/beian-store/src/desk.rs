//! The manual desk's rows (migration 0016): work items — one per operation handed to the
//! desk gateway, its operation encrypted — and what operators recorded on them.
//!
//! `beian-authority-desk` decides what an item and a record mean (the operation as JSON it
//! writes and reads back, which forms close an item); this module only stores and reads.

use crate::{Result, Tx};
use sqlx::Row;

/// A work item without its operation (what the work list shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskItem {
    pub id: i64,
    pub appid: String,
    /// `Operation::kind` (`new_subject_and_service`, `cancel_service`, …).
    pub kind: String,
    pub round: u32,
    /// The mini program's name when submitted.
    pub name: String,
    /// Open until an outcome closes it.
    pub open: bool,
    /// The last form recorded (`''` before any).
    pub outcome: String,
    pub submitted_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

/// A new work item: the operation as JSON (stored encrypted).
#[derive(Debug, Clone)]
pub struct NewDeskItem<'a> {
    pub appid: &'a str,
    pub kind: &'a str,
    pub round: u32,
    pub name: &'a str,
    pub operation_json: &'a str,
    pub now: i64,
}

/// One outcome an operator recorded, under the event id sent to the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskRecord {
    pub event_id: String,
    pub item_id: i64,
    pub form: String,
    /// `applied`, `ignored` or `duplicate` (the inbox had the event already).
    pub receipt: String,
    pub staff_id: String,
    pub staff_name: String,
    /// What was recorded, without personal data (masked phones, numbers, reasons).
    pub summary: String,
    pub recorded_at: i64,
}

/// The manual desk's rows, reached from a transaction (`tx.desk()`).
pub struct Desk<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// The manual desk's work items and records.
    pub fn desk(&mut self) -> Desk<'_> {
        Desk { tx: self }
    }
}

const ITEM_COLUMNS: &str =
    "id, appid, kind, round, name, state, outcome, submitted_at, updated_at, closed_at";

fn item(r: &sqlx::any::AnyRow) -> Result<DeskItem> {
    let state: String = r.try_get("state")?;
    Ok(DeskItem {
        id: r.try_get("id")?,
        appid: r.try_get("appid")?,
        kind: r.try_get("kind")?,
        round: u32::try_from(r.try_get::<i64, _>("round")?).unwrap_or(0),
        name: r.try_get("name")?,
        open: state == "open",
        outcome: r.try_get("outcome")?,
        submitted_at: r.try_get("submitted_at")?,
        updated_at: r.try_get("updated_at")?,
        closed_at: r.try_get("closed_at")?,
    })
}

impl Desk<'_> {
    /// Add a work item; `None` (nothing written) when one for the same appid, kind and round
    /// exists — a repeated submission is the same item.
    pub async fn insert(&mut self, i: &NewDeskItem<'_>) -> Result<Option<i64>> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO desk_items (appid, kind, round, name, operation_enc, state, outcome, submitted_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'open', '', $6, $6) ON CONFLICT (appid, kind, round) DO NOTHING RETURNING id",
        )
        .bind(i.appid)
        .bind(i.kind)
        .bind(i64::from(i.round))
        .bind(i.name)
        .bind(self.tx.crypto.encrypt_compressed(i.operation_json.as_bytes()))
        .bind(i.now)
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        Ok(id)
    }

    /// Items, open ones first (oldest first: they have waited longest), then closed ones
    /// (most recently closed first); `open_only` leaves the closed out. At most `limit`.
    pub async fn list(&mut self, open_only: bool, limit: i64) -> Result<Vec<DeskItem>> {
        let filter = if open_only { "WHERE state = 'open'" } else { "" };
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM desk_items {filter} \
             ORDER BY CASE WHEN state = 'open' THEN 0 ELSE 1 END, \
             CASE WHEN state = 'open' THEN submitted_at ELSE -COALESCE(closed_at, 0) END, id LIMIT $1"
        );
        let rows = sqlx::query(&sql).bind(limit).fetch_all(&mut *self.tx.conn).await?;
        rows.iter().map(item).collect()
    }

    /// One item and its operation as JSON (`None` once personal data was erased).
    pub async fn get(&mut self, id: i64) -> Result<Option<(DeskItem, Option<String>)>> {
        let sql = format!("SELECT {ITEM_COLUMNS}, operation_enc FROM desk_items WHERE id = $1");
        let Some(r) = sqlx::query(&sql).bind(id).fetch_optional(&mut *self.tx.conn).await? else {
            return Ok(None);
        };
        let enc: Option<Vec<u8>> = r.try_get("operation_enc")?;
        let json = match enc {
            Some(e) => Some(
                String::from_utf8(self.tx.crypto.decrypt_compressed(&e)?)
                    .map_err(|e| crate::StoreError::Corrupt(format!("desk item {id}: {e}")))?,
            ),
            None => None,
        };
        Ok(Some((item(&r)?, json)))
    }

    /// The item for (appid, kind, round), if one was submitted.
    pub async fn find(&mut self, appid: &str, kind: &str, round: u32) -> Result<Option<DeskItem>> {
        let sql =
            format!("SELECT {ITEM_COLUMNS} FROM desk_items WHERE appid = $1 AND kind = $2 AND round = $3");
        let r = sqlx::query(&sql)
            .bind(appid)
            .bind(kind)
            .bind(i64::from(round))
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        r.as_ref().map(item).transpose()
    }

    /// Record an outcome; false (nothing written) when its event id was recorded before.
    pub async fn record(&mut self, r: &DeskRecord) -> Result<bool> {
        let res = sqlx::query(
            "INSERT INTO desk_records (event_id, item_id, form, receipt, staff_id, staff_name, summary, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&r.event_id)
        .bind(r.item_id)
        .bind(&r.form)
        .bind(&r.receipt)
        .bind(&r.staff_id)
        .bind(&r.staff_name)
        .bind(&r.summary)
        .bind(r.recorded_at)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Set an item's last outcome, closing it when `close`.
    pub async fn set_outcome(&mut self, id: i64, outcome: &str, close: bool, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE desk_items SET outcome = $2, updated_at = $3, \
             state = CASE WHEN $4 = 1 THEN 'closed' ELSE state END, \
             closed_at = CASE WHEN $4 = 1 AND closed_at IS NULL THEN $3 ELSE closed_at END WHERE id = $1",
        )
        .bind(id)
        .bind(outcome)
        .bind(now)
        .bind(i64::from(close))
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// What was recorded on an item, in the order it was recorded.
    pub async fn records(&mut self, item_id: i64) -> Result<Vec<DeskRecord>> {
        let rows = sqlx::query(
            "SELECT event_id, item_id, form, receipt, staff_id, staff_name, summary, recorded_at \
             FROM desk_records WHERE item_id = $1 ORDER BY id",
        )
        .bind(item_id)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeskRecord {
                    event_id: r.try_get("event_id")?,
                    item_id: r.try_get("item_id")?,
                    form: r.try_get("form")?,
                    receipt: r.try_get("receipt")?,
                    staff_id: r.try_get("staff_id")?,
                    staff_name: r.try_get("staff_name")?,
                    summary: r.try_get("summary")?,
                    recorded_at: r.try_get("recorded_at")?,
                })
            })
            .collect()
    }

    /// Whether an outcome with this event id was recorded.
    pub async fn recorded(&mut self, event_id: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM desk_records WHERE event_id = $1")
            .bind(event_id)
            .fetch_one(&mut *self.tx.conn)
            .await?;
        Ok(n > 0)
    }
}
