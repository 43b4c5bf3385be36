//! The audit trail, appended in the transaction of every change, and the dashboard's
//! aggregates over it.

use crate::tx::placeholders;
use crate::{Result, Tx};
use beian_core::model::AuditEvent;
use sqlx::any::AnyRow;
use sqlx::Row;

/// The audit trail, and the dashboard's aggregates over it.
pub struct Audit<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// The audit trail, and the dashboard's aggregates over it.
    pub fn audit(&mut self) -> Audit<'_> {
        Audit { tx: self }
    }
}

impl Audit<'_> {
    pub async fn append(&mut self, e: &AuditEvent) -> Result<()> {
        sqlx::query("INSERT INTO audit_events (at, actor, entity, entity_id, action, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(e.at)
            .bind(&e.actor)
            .bind(&e.entity)
            .bind(&e.entity_id)
            .bind(&e.action)
            .bind(e.detail.to_string())
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    pub async fn of(&mut self, entity: &str, entity_id: &str) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query("SELECT * FROM audit_events WHERE entity = $1 AND entity_id = $2 ORDER BY id")
            .bind(entity)
            .bind(entity_id)
            .fetch_all(&mut *self.tx.conn)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    /// Audit events matching a text (entity id, actor or action), newest first.
    pub async fn search(&mut self, needle: &str, limit: i64) -> Result<Vec<AuditEvent>> {
        let rows = if needle.is_empty() {
            sqlx::query("SELECT * FROM audit_events ORDER BY id DESC LIMIT $1")
                .bind(limit)
                .fetch_all(&mut *self.tx.conn)
                .await?
        } else {
            sqlx::query(
                "SELECT * FROM audit_events WHERE entity_id = $1 OR actor = $1 OR action = $1 OR entity = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(needle)
            .bind(limit)
            .fetch_all(&mut *self.tx.conn)
            .await?
        };
        rows.iter().map(audit_from_row).collect()
    }

    /// The time of the latest `action` audit event of one entity.
    pub async fn last_at(&mut self, entity: &str, entity_id: &str, action: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(at) FROM audit_events WHERE entity = $1 AND entity_id = $2 AND action = $3",
        )
        .bind(entity)
        .bind(entity_id)
        .bind(action)
        .fetch_one(&mut *self.tx.conn)
        .await?)
    }

    /// `action` events of `entity` since `since`, per Beijing day: (days since 1970-01-01
    /// in UTC+8, count).
    pub async fn per_day(&mut self, entity: &str, action: &str, since: i64) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT (at + 28800) / 86400 AS day, COUNT(*) AS n FROM audit_events \
             WHERE entity = $1 AND action = $2 AND at >= $3 GROUP BY (at + 28800) / 86400 ORDER BY 1",
        )
        .bind(entity)
        .bind(action)
        .bind(since)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("day")?, r.try_get("n")?))).collect()
    }

    /// Distinct entities that ever had each of `actions`: (action, count).
    pub async fn distinct_entities(&mut self, entity: &str, actions: &[&str]) -> Result<Vec<(String, i64)>> {
        let sql = format!(
            "SELECT action, COUNT(DISTINCT entity_id) AS n FROM audit_events WHERE entity = $1 AND action IN ({}) GROUP BY action",
            placeholders(2, actions.len())
        );
        let mut q = sqlx::query(&sql).bind(entity);
        for a in actions {
            q = q.bind(*a);
        }
        let rows = q.fetch_all(&mut *self.tx.conn).await?;
        rows.iter().map(|r| Ok((r.try_get("action")?, r.try_get("n")?))).collect()
    }

    /// Every `decisions` event of `entity` since `since`, with the time of the latest
    /// `starts` event of the same entity before it: (decided at, started at).
    pub async fn decisions_since(
        &mut self,
        entity: &str,
        decisions: &[&str],
        starts: &[&str],
        since: i64,
    ) -> Result<Vec<(i64, Option<i64>)>> {
        let sql = format!(
            "SELECT d.at AS decided, (SELECT MAX(s.at) FROM audit_events s WHERE s.entity = $1 AND s.entity_id = d.entity_id \
             AND s.action IN ({}) AND s.id < d.id) AS started FROM audit_events d \
             WHERE d.entity = $1 AND d.action IN ({}) AND d.at >= $2",
            placeholders(3, starts.len()),
            placeholders(3 + starts.len(), decisions.len())
        );
        let mut q = sqlx::query(&sql).bind(entity).bind(since);
        for a in starts.iter().chain(decisions) {
            q = q.bind(*a);
        }
        let rows = q.fetch_all(&mut *self.tx.conn).await?;
        rows.iter().map(|r| Ok((r.try_get("decided")?, r.try_get("started")?))).collect()
    }

    /// The newest `actions` events of `entity` since `since`: (action, detail JSON), at most
    /// `limit`.
    pub async fn details_since(
        &mut self,
        entity: &str,
        actions: &[&str],
        since: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        let sql = format!(
            "SELECT action, detail FROM audit_events WHERE entity = $1 AND action IN ({}) AND at >= $2 \
             ORDER BY at DESC LIMIT $3",
            placeholders(4, actions.len())
        );
        let mut q = sqlx::query(&sql).bind(entity).bind(since).bind(limit);
        for a in actions {
            q = q.bind(*a);
        }
        let rows = q.fetch_all(&mut *self.tx.conn).await?;
        rows.iter().map(|r| Ok((r.try_get("action")?, r.try_get("detail")?))).collect()
    }
}

fn audit_from_row(r: &AnyRow) -> Result<AuditEvent> {
    let detail: String = r.try_get("detail")?;
    Ok(AuditEvent {
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        entity: r.try_get("entity")?,
        entity_id: r.try_get("entity_id")?,
        action: r.try_get("action")?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
    })
}
