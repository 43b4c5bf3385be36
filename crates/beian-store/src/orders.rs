//! Filing orders (备案单) and their submitted versions, the review queues and counts over
//! orders; the console's drafts.

use crate::crypto::seal_payload;
use crate::tx::{b, u};
use crate::{Crypto, Result, StoreError, Tx};
use beian_core::model::{AuditItem, FilingOrder};
use beian_core::payload::ApplyPayload;
use beian_core::state::FilingState;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Columns bound per row by [`Orders::insert_many`].
const ORDER_INSERT_COLS: usize = 20;

/// Filing orders and their submitted versions.
pub struct Orders<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Filing orders and their submitted versions.
    pub fn orders(&mut self) -> Orders<'_> {
        Orders { tx: self }
    }
}

impl Orders<'_> {
    pub async fn get(&mut self, appid: &str) -> Result<Option<FilingOrder>> {
        let row = sqlx::query("SELECT * FROM filing_orders WHERE appid = $1")
            .bind(appid)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| order_from_row(&r)).transpose()
    }

    pub async fn of_subject(&mut self, subject_id: &str) -> Result<Vec<FilingOrder>> {
        let rows = sqlx::query("SELECT * FROM filing_orders WHERE subject_id = $1 ORDER BY appid")
            .bind(subject_id)
            .fetch_all(&mut *self.tx.conn)
            .await?;
        rows.iter().map(order_from_row).collect()
    }

    pub async fn insert(&mut self, o: &FilingOrder) -> Result<()> {
        self.insert_many(std::slice::from_ref(o)).await
    }

    /// Insert new orders in multi-row statements (apply's group commit writes a group's new
    /// orders at once); an appid that already has an order is a conflict.
    pub async fn insert_many(&mut self, orders: &[FilingOrder]) -> Result<()> {
        for chunk in orders.chunks(crate::appends::rows_per_statement(ORDER_INSERT_COLS)) {
            let sql = format!(
                "INSERT INTO filing_orders (appid, subject_id, status, sms_verify_status, is_canceling, cancel_type, \
                 audit_data, subject_record_number, service_record_number, versions, submitted_at, updated_at, \
                 claimed_by, claimed_at, review_due_at, authority_round, row_version, change_status, filed_version, \
                 access_number) VALUES {}",
                crate::appends::values_sql(self.tx.backend, ORDER_INSERT_COLS, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for o in chunk {
                self.tx.touch(&o.appid);
                q = q
                    .bind(&o.appid)
                    .bind(&o.subject_id)
                    .bind(o.state.status_code())
                    .bind(o.state.sms_verify_status().map(|s| s.code()).unwrap_or(0))
                    .bind(b(o.state.is_canceling()))
                    .bind(o.cancel_type.map(|c| i64::from(c.code())))
                    .bind(audit_json(&o.audit_data))
                    .bind(&o.subject_record_number)
                    .bind(&o.service_record_number)
                    .bind(i64::from(o.versions))
                    .bind(o.submitted_at)
                    .bind(o.updated_at)
                    .bind(&o.claimed_by)
                    .bind(o.claimed_at)
                    .bind(o.review_due_at)
                    .bind(i64::from(o.authority_round))
                    .bind(0_i64)
                    .bind(o.state.change_status_code())
                    .bind(i64::from(o.filed_version))
                    .bind(&o.access_number);
            }
            q.execute(&mut *self.tx.conn).await?;
        }
        Ok(())
    }

    /// Write an order back; fails with a conflict if its `row_version` moved meanwhile.
    pub async fn update(&mut self, o: &FilingOrder) -> Result<()> {
        self.tx.touch(&o.appid);
        let res = sqlx::query(
            "UPDATE filing_orders SET subject_id = $2, status = $3, sms_verify_status = $4, is_canceling = $5, \
             cancel_type = $6, audit_data = $7, subject_record_number = $8, service_record_number = $9, versions = $10, \
             submitted_at = $11, updated_at = $12, claimed_by = $14, claimed_at = $15, review_due_at = $16, \
             authority_round = $17, change_status = $18, filed_version = $19, access_number = $20, \
             row_version = row_version + 1 \
             WHERE appid = $1 AND row_version = $13",
        )
        .bind(&o.appid)
        .bind(&o.subject_id)
        .bind(o.state.status_code())
        .bind(o.state.sms_verify_status().map(|s| s.code()).unwrap_or(0))
        .bind(b(o.state.is_canceling()))
        .bind(o.cancel_type.map(|c| i64::from(c.code())))
        .bind(audit_json(&o.audit_data))
        .bind(&o.subject_record_number)
        .bind(&o.service_record_number)
        .bind(i64::from(o.versions))
        .bind(o.submitted_at)
        .bind(o.updated_at)
        .bind(o.row_version)
        .bind(&o.claimed_by)
        .bind(o.claimed_at)
        .bind(o.review_due_at)
        .bind(i64::from(o.authority_round))
        .bind(o.state.change_status_code())
        .bind(i64::from(o.filed_version))
        .bind(&o.access_number)
        .execute(&mut *self.tx.conn)
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!("filing order {} changed concurrently", o.appid)));
        }
        Ok(())
    }

    pub async fn insert_version(
        &mut self,
        appid: &str,
        version: u32,
        payload: &ApplyPayload,
        at: i64,
        actor: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO filing_versions (appid, version, payload_enc, submitted_at, actor) VALUES ($1, $2, $3, $4, $5)")
            .bind(appid)
            .bind(i64::from(version))
            .bind(seal_payload(&self.tx.crypto, payload)?)
            .bind(at)
            .bind(actor)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    /// A submitted version (1-based), decrypted.
    pub async fn version(&mut self, appid: &str, version: u32) -> Result<Option<ApplyPayload>> {
        let enc: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT payload_enc FROM filing_versions WHERE appid = $1 AND version = $2")
                .bind(appid)
                .bind(i64::from(version))
                .fetch_optional(&mut *self.tx.conn)
                .await?;
        // An erased version (personal data past retention) reads as absent.
        enc.filter(|e| !e.is_empty()).map(|e| open_payload(&self.tx.crypto, &e, "filing version")).transpose()
    }

    pub async fn count_versions(&mut self, appid: &str) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM filing_versions WHERE appid = $1")
            .bind(appid)
            .fetch_one(&mut *self.tx.conn)
            .await?)
    }

    /// Orders in the given stored statuses — a new application's, or a change's stage —,
    /// oldest due first.
    pub async fn in_status(&mut self, statuses: &[i64], limit: i64) -> Result<Vec<FilingOrder>> {
        let list: Vec<String> = statuses.iter().map(|s| s.to_string()).collect();
        // Status codes are our own integers, never input: safe to inline.
        let list = if list.is_empty() { "NULL".to_string() } else { list.join(",") };
        let sql = format!(
            "SELECT * FROM filing_orders WHERE status IN ({list}) OR (change_status <> 0 AND change_status IN ({list})) \
             ORDER BY review_due_at, submitted_at, appid LIMIT $1"
        );
        let rows = sqlx::query(&sql).bind(limit).fetch_all(&mut *self.tx.conn).await?;
        rows.iter().map(order_from_row).collect()
    }

    /// Filing orders per stored status code.
    pub async fn count_by_status(&mut self) -> Result<Vec<(i64, i64)>> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM filing_orders GROUP BY status ORDER BY status")
                .fetch_all(&mut *self.tx.conn)
                .await?;
        rows.iter().map(|r| Ok((r.try_get("status")?, r.try_get("n")?))).collect()
    }

    /// Filing orders per (subject province code, stored status).
    pub async fn count_by_province_status(&mut self) -> Result<Vec<(String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT s.province AS province, o.status AS status, COUNT(*) AS n FROM filing_orders o \
             JOIN subjects s ON s.id = o.subject_id GROUP BY s.province, o.status",
        )
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("province")?, r.try_get("status")?, r.try_get("n")?))).collect()
    }

    /// Filed orders after `after` (appid order), for rebuilding the index.
    pub async fn filed_after(&mut self, after: &str, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT appid FROM filing_orders WHERE status = 6 AND appid > $1 ORDER BY appid LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?)
    }
}

/// The console's draft of an application, one per mini program.
pub struct Drafts<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// The console's draft of an application, one per mini program.
    pub fn drafts(&mut self) -> Drafts<'_> {
        Drafts { tx: self }
    }
}

impl Drafts<'_> {
    /// The draft and its version (for [`Drafts::put_if`]).
    pub async fn get(&mut self, appid: &str) -> Result<Option<(ApplyPayload, i64)>> {
        let row: Option<(Vec<u8>, i64)> =
            sqlx::query_as("SELECT payload_enc, row_version FROM drafts WHERE appid = $1")
                .bind(appid)
                .fetch_optional(&mut *self.tx.conn)
                .await?;
        row.map(|(e, v)| Ok((open_payload(&self.tx.crypto, &e, "draft")?, v))).transpose()
    }

    /// Write the draft if it is still at `expected` (`None`: if there is none yet); otherwise
    /// [`StoreError::Conflict`] — another edit landed since it was read.
    pub async fn put_if(
        &mut self,
        appid: &str,
        p: &ApplyPayload,
        expected: Option<i64>,
        now: i64,
    ) -> Result<()> {
        let sealed = seal_payload(&self.tx.crypto, p)?;
        let done = match expected {
            Some(v) => sqlx::query(
                "UPDATE drafts SET payload_enc = $1, updated_at = $2, row_version = row_version + 1 \
                 WHERE appid = $3 AND row_version = $4",
            )
            .bind(sealed)
            .bind(now)
            .bind(appid)
            .bind(v)
            .execute(&mut *self.tx.conn)
            .await?
            .rows_affected(),
            None => sqlx::query(
                "INSERT INTO drafts (appid, payload_enc, updated_at, row_version) VALUES ($1, $2, $3, 0) \
                 ON CONFLICT (appid) DO NOTHING",
            )
            .bind(appid)
            .bind(sealed)
            .bind(now)
            .execute(&mut *self.tx.conn)
            .await?
            .rows_affected(),
        };
        if done != 1 {
            return Err(StoreError::Conflict(format!("draft of {appid} changed concurrently")));
        }
        Ok(())
    }

    pub async fn delete(&mut self, appid: &str) -> Result<()> {
        sqlx::query("DELETE FROM drafts WHERE appid = $1").bind(appid).execute(&mut *self.tx.conn).await?;
        Ok(())
    }
}

fn audit_json(items: &[AuditItem]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn order_from_row(r: &AnyRow) -> Result<FilingOrder> {
    let status: i64 = r.try_get("status")?;
    let sms: i64 = r.try_get("sms_verify_status")?;
    let canceling = r.try_get::<i64, _>("is_canceling")? != 0;
    let change: i64 = r.try_get("change_status")?;
    let state = FilingState::from_columns(status, sms, canceling, change)
        .ok_or_else(|| StoreError::Corrupt(format!("filing status {status}/{sms}/{change}")))?;
    let audit: String = r.try_get("audit_data")?;
    Ok(FilingOrder {
        appid: r.try_get("appid")?,
        subject_id: r.try_get("subject_id")?,
        state,
        audit_data: serde_json::from_str(&audit)
            .map_err(|e| StoreError::Corrupt(format!("audit_data: {e}")))?,
        subject_record_number: r.try_get("subject_record_number")?,
        service_record_number: r.try_get("service_record_number")?,
        versions: u(r.try_get("versions")?, "versions")?,
        filed_version: u(r.try_get("filed_version")?, "filed_version")?,
        cancel_type: r
            .try_get::<Option<i64>, _>("cancel_type")?
            .map(|v| {
                u(v, "cancel_type").and_then(|c| {
                    beian_core::model::CancelType::from_code(c)
                        .ok_or_else(|| StoreError::Corrupt(format!("cancel_type out of range: {c}")))
                })
            })
            .transpose()?,
        submitted_at: r.try_get("submitted_at")?,
        updated_at: r.try_get("updated_at")?,
        claimed_by: r.try_get("claimed_by")?,
        claimed_at: r.try_get("claimed_at")?,
        review_due_at: r.try_get("review_due_at")?,
        authority_round: u(r.try_get("authority_round")?, "authority_round")?,
        row_version: r.try_get("row_version")?,
        access_number: r.try_get("access_number")?,
    })
}

/// The payload [`seal_payload`] stored (or one stored uncompressed before); `what` names it
/// in the error.
pub(crate) fn open_payload(crypto: &Crypto, enc: &[u8], what: &str) -> Result<ApplyPayload> {
    let json = crypto.decrypt_compressed(enc)?;
    serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}
