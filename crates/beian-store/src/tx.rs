//! Queries, all inside a transaction. Edges never see this module: the service layer does.

use crate::{Backend, Crypto, Result, StoreError};
use beian_core::dict::DictKind;
use beian_core::model::{
    AuditEvent, AuditItem, FaceStatus, FaceTask, FilingOrder, MediaMeta, MediaType, MiniProgram, Person,
    Subject,
};
use beian_core::payload::ApplyPayload;
use beian_core::state::{FilingState, ReadinessFlags};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::HashMap;

/// A database transaction with typed queries. Dropping it without [`Tx::commit`] rolls back.
pub struct Tx {
    pub(crate) tx: Transaction<'static, Any>,
    pub(crate) crypto: Crypto,
    pub(crate) backend: Backend,
    /// Write transactions: whom to tell, after commit, which mini programs' rows changed (the
    /// entrance cache).
    pub(crate) entrance: Option<(std::sync::Arc<dyn RowsChanged>, Vec<String>)>,
}

/// Told after a commit which mini programs' (or their orders') rows it changed.
pub(crate) trait RowsChanged: Send + Sync {
    fn invalidate(&self, appids: &[String]);
}

pub(crate) fn b(v: bool) -> i64 {
    i64::from(v)
}

pub(crate) fn u(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} out of range: {v}")))
}

impl Tx {
    pub(crate) fn new(tx: Transaction<'static, Any>, crypto: Crypto, backend: Backend) -> Tx {
        Tx { tx, crypto, backend, entrance: None }
    }

    pub(crate) fn invalidating(mut self, cache: std::sync::Arc<dyn RowsChanged>) -> Tx {
        self.entrance = Some((cache, Vec::new()));
        self
    }

    /// This transaction changes the mini program's or its order's row.
    pub(crate) fn touch(&mut self, appid: &str) {
        if let Some((_, touched)) = &mut self.entrance {
            touched.push(appid.to_string());
        }
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        if let Some((cache, touched)) = self.entrance {
            cache.invalidate(&touched);
        }
        Ok(())
    }

    /// Mark a point to roll back to without ending the transaction (one at a time).
    pub async fn savepoint(&mut self) -> Result<()> {
        sqlx::query("SAVEPOINT beian_sp").execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Keep what was done since [`Tx::savepoint`].
    pub async fn release_savepoint(&mut self) -> Result<()> {
        sqlx::query("RELEASE SAVEPOINT beian_sp").execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Undo what was done since [`Tx::savepoint`], and forget the savepoint.
    pub async fn rollback_to_savepoint(&mut self) -> Result<()> {
        sqlx::query("ROLLBACK TO SAVEPOINT beian_sp").execute(&mut *self.tx).await?;
        sqlx::query("RELEASE SAVEPOINT beian_sp").execute(&mut *self.tx).await?;
        Ok(())
    }

    pub fn blind_index(&self, value: &str) -> String {
        self.crypto.blind_index(value)
    }

    // ---- mini programs -------------------------------------------------------------------

    pub async fn insert_mini_program(&mut self, mp: &MiniProgram, owner: &str) -> Result<()> {
        self.touch(&mp.appid);
        sqlx::query(
            "INSERT INTO mini_programs (appid, name, admin_name, admin_id_enc, admin_id_bidx, admin_mobile_enc, \
             basic_info_filled, category_filled, certified, listed, cleared, owner, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        )
        .bind(&mp.appid)
        .bind(&mp.name)
        .bind(&mp.admin.name)
        .bind(self.crypto.encrypt_str(&mp.admin.id_number))
        .bind(self.crypto.blind_index(&mp.admin.id_number))
        .bind(self.crypto.encrypt_str(&mp.admin.mobile))
        .bind(b(mp.flags.basic_info_filled))
        .bind(b(mp.flags.category_filled))
        .bind(b(mp.flags.certified))
        .bind(b(mp.listed))
        .bind(b(mp.cleared))
        .bind(owner)
        .bind(mp.created_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Update everything but the appid and creation time.
    pub async fn update_mini_program(&mut self, mp: &MiniProgram, now: i64) -> Result<()> {
        self.touch(&mp.appid);
        sqlx::query(
            "UPDATE mini_programs SET name = $2, admin_name = $3, admin_id_enc = $4, admin_id_bidx = $5, \
             admin_mobile_enc = $6, basic_info_filled = $7, category_filled = $8, certified = $9, listed = $10, \
             cleared = $11, updated_at = $12 WHERE appid = $1",
        )
        .bind(&mp.appid)
        .bind(&mp.name)
        .bind(&mp.admin.name)
        .bind(self.crypto.encrypt_str(&mp.admin.id_number))
        .bind(self.crypto.blind_index(&mp.admin.id_number))
        .bind(self.crypto.encrypt_str(&mp.admin.mobile))
        .bind(b(mp.flags.basic_info_filled))
        .bind(b(mp.flags.category_filled))
        .bind(b(mp.flags.certified))
        .bind(b(mp.listed))
        .bind(b(mp.cleared))
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn get_mini_program(&mut self, appid: &str) -> Result<Option<MiniProgram>> {
        let row = sqlx::query("SELECT * FROM mini_programs WHERE appid = $1")
            .bind(appid)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| self.mini_program_from_row(&r)).transpose()
    }

    pub async fn list_mini_programs(&mut self, owner: Option<&str>, limit: i64) -> Result<Vec<MiniProgram>> {
        let rows = match owner {
            Some(o) => {
                sqlx::query("SELECT * FROM mini_programs WHERE owner = $1 ORDER BY appid LIMIT $2")
                    .bind(o)
                    .bind(limit)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM mini_programs ORDER BY appid LIMIT $1")
                    .bind(limit)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
        };
        rows.iter().map(|r| self.mini_program_from_row(r)).collect()
    }

    fn mini_program_from_row(&self, r: &AnyRow) -> Result<MiniProgram> {
        mini_program_from_row_as(&self.crypto, r, "")
    }

    // ---- subjects ------------------------------------------------------------------------

    /// The subject with this certificate, and its row version.
    pub async fn find_subject(
        &mut self,
        certificate_type: u32,
        certificate_number: &str,
    ) -> Result<Option<(Subject, i64)>> {
        let row = sqlx::query("SELECT * FROM subjects WHERE certificate_type = $1 AND cert_bidx = $2")
            .bind(i64::from(certificate_type))
            .bind(self.crypto.blind_index(certificate_number))
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| self.subject_from_row(&r)).transpose()
    }

    /// The subject and its row version.
    pub async fn get_subject(&mut self, id: &str) -> Result<Option<(Subject, i64)>> {
        let row = sqlx::query("SELECT * FROM subjects WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| self.subject_from_row(&r)).transpose()
    }

    pub async fn subject_version(&mut self, id: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT row_version FROM subjects WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?)
    }

    fn subject_from_row(&self, r: &AnyRow) -> Result<(Subject, i64)> {
        Ok((
            Subject {
                id: r.try_get("id")?,
                subject_type: u(r.try_get("subject_type")?, "subject_type")?,
                certificate_type: u(r.try_get("certificate_type")?, "certificate_type")?,
                certificate_number: self.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("cert_enc")?)?,
                name: r.try_get("name")?,
                province: r.try_get("province")?,
                filed_count: u(r.try_get("filed_count")?, "filed_count")?,
                ever_filed: r.try_get::<i64, _>("ever_filed")? != 0,
                in_progress: u(r.try_get("in_progress")?, "in_progress")?,
                record_number: r.try_get("record_number")?,
                service_seq: u(r.try_get("service_seq")?, "service_seq")?,
            },
            r.try_get("row_version")?,
        ))
    }

    /// Insert a new subject; a subject with the same certificate already there is a conflict.
    pub async fn insert_subject(&mut self, s: &Subject, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO subjects (id, subject_type, certificate_type, cert_enc, cert_bidx, name, province, \
             filed_count, ever_filed, in_progress, record_number, service_seq, row_version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $13)",
        )
        .bind(&s.id)
        .bind(i64::from(s.subject_type))
        .bind(i64::from(s.certificate_type))
        .bind(self.crypto.encrypt_str(&s.certificate_number))
        .bind(self.crypto.blind_index(&s.certificate_number))
        .bind(&s.name)
        .bind(&s.province)
        .bind(i64::from(s.filed_count))
        .bind(b(s.ever_filed))
        .bind(i64::from(s.in_progress))
        .bind(&s.record_number)
        .bind(i64::from(s.service_seq))
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Update a subject if nobody changed it since `expected_version` was read.
    pub async fn update_subject(&mut self, s: &Subject, expected_version: i64, now: i64) -> Result<()> {
        let res = sqlx::query(
            "UPDATE subjects SET subject_type = $2, name = $3, province = $4, filed_count = $5, ever_filed = $6, \
             in_progress = $7, record_number = $8, service_seq = $9, row_version = row_version + 1, updated_at = $10 \
             WHERE id = $1 AND row_version = $11",
        )
        .bind(&s.id)
        .bind(i64::from(s.subject_type))
        .bind(&s.name)
        .bind(&s.province)
        .bind(i64::from(s.filed_count))
        .bind(b(s.ever_filed))
        .bind(i64::from(s.in_progress))
        .bind(&s.record_number)
        .bind(i64::from(s.service_seq))
        .bind(now)
        .bind(expected_version)
        .execute(&mut *self.tx)
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!("subject {} changed concurrently", s.id)));
        }
        Ok(())
    }

    // ---- filing orders -------------------------------------------------------------------

    pub async fn get_order(&mut self, appid: &str) -> Result<Option<FilingOrder>> {
        let row = sqlx::query("SELECT * FROM filing_orders WHERE appid = $1")
            .bind(appid)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| order_from_row(&r)).transpose()
    }

    pub async fn orders_of_subject(&mut self, subject_id: &str) -> Result<Vec<FilingOrder>> {
        let rows = sqlx::query("SELECT * FROM filing_orders WHERE subject_id = $1 ORDER BY appid")
            .bind(subject_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(order_from_row).collect()
    }

    pub async fn insert_order(&mut self, o: &FilingOrder) -> Result<()> {
        self.touch(&o.appid);
        sqlx::query(
            "INSERT INTO filing_orders (appid, subject_id, status, sms_verify_status, is_canceling, cancel_type, \
             audit_data, subject_record_number, service_record_number, versions, submitted_at, updated_at, \
             claimed_by, claimed_at, review_due_at, authority_round, row_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 0)",
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
        .bind(&o.claimed_by)
        .bind(o.claimed_at)
        .bind(o.review_due_at)
        .bind(i64::from(o.authority_round))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Write an order back; fails with a conflict if its `row_version` moved meanwhile.
    pub async fn update_order(&mut self, o: &FilingOrder) -> Result<()> {
        self.touch(&o.appid);
        let res = sqlx::query(
            "UPDATE filing_orders SET subject_id = $2, status = $3, sms_verify_status = $4, is_canceling = $5, \
             cancel_type = $6, audit_data = $7, subject_record_number = $8, service_record_number = $9, versions = $10, \
             submitted_at = $11, updated_at = $12, claimed_by = $14, claimed_at = $15, review_due_at = $16, \
             authority_round = $17, row_version = row_version + 1 WHERE appid = $1 AND row_version = $13",
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
        .execute(&mut *self.tx)
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
            .bind(seal_payload(&self.crypto, payload)?)
            .bind(at)
            .bind(actor)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// A submitted version (1-based), decrypted.
    pub async fn get_version(&mut self, appid: &str, version: u32) -> Result<Option<ApplyPayload>> {
        let enc: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT payload_enc FROM filing_versions WHERE appid = $1 AND version = $2")
                .bind(appid)
                .bind(i64::from(version))
                .fetch_optional(&mut *self.tx)
                .await?;
        // An erased version (personal data past retention) reads as absent.
        enc.filter(|e| !e.is_empty()).map(|e| open_payload(&self.crypto, &e, "filing version")).transpose()
    }

    pub async fn count_versions(&mut self, appid: &str) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM filing_versions WHERE appid = $1")
            .bind(appid)
            .fetch_one(&mut *self.tx)
            .await?)
    }

    // ---- media ---------------------------------------------------------------------------

    pub async fn insert_media(&mut self, m: &MediaMeta) -> Result<()> {
        sqlx::query(
            "INSERT INTO media (media_id, appid, media_type, certificate_type, icp_order_field, content_type, size, sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&m.media_id)
        .bind(&m.appid)
        .bind(m.media_type.as_str())
        .bind(m.certificate_type.map(i64::from))
        .bind(&m.icp_order_field)
        .bind(&m.content_type)
        .bind(i64::try_from(m.size).unwrap_or(i64::MAX))
        .bind(&m.sha256)
        .bind(m.created_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn get_media(&mut self, media_id: &str) -> Result<Option<MediaMeta>> {
        let row = sqlx::query("SELECT * FROM media WHERE media_id = $1")
            .bind(media_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| media_from_row(&r)).transpose()
    }

    /// The media rows with these ids (missing ids are absent), in one query.
    pub async fn get_media_many(&mut self, ids: &[&str]) -> Result<HashMap<String, MediaMeta>> {
        let mut unique: Vec<&str> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let mut out = HashMap::new();
        // A payload names a handful of media; chunks keep any statement's parameters few.
        for chunk in unique.chunks(100) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT * FROM media WHERE media_id IN ({})", marks.join(", "));
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&mut *self.tx).await? {
                let m = media_from_row(&r)?;
                out.insert(m.media_id.clone(), m);
            }
        }
        Ok(out)
    }

    // ---- face tasks ----------------------------------------------------------------------

    pub async fn insert_face_task(&mut self, t: &FaceTask) -> Result<()> {
        sqlx::query(
            "INSERT INTO face_tasks (task_id, appid, face_status, is_finish, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.task_id)
        .bind(&t.appid)
        .bind(t.face_status.code())
        .bind(b(t.is_finish))
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn get_face_task(&mut self, task_id: &str) -> Result<Option<FaceTask>> {
        let row = sqlx::query("SELECT * FROM face_tasks WHERE task_id = $1")
            .bind(task_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| {
            Ok(FaceTask {
                task_id: r.try_get("task_id")?,
                appid: r.try_get("appid")?,
                face_status: FaceStatus::from_code(r.try_get("face_status")?)
                    .ok_or_else(|| StoreError::Corrupt("face_status".into()))?,
                is_finish: r.try_get::<i64, _>("is_finish")? != 0,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn finish_face_task(&mut self, task_id: &str, status: FaceStatus, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE face_tasks SET face_status = $2, is_finish = 1, finished_at = $3 WHERE task_id = $1",
        )
        .bind(task_id)
        .bind(status.code())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    // ---- audit ---------------------------------------------------------------------------

    pub async fn append_audit(&mut self, e: &AuditEvent) -> Result<()> {
        sqlx::query("INSERT INTO audit_events (at, actor, entity, entity_id, action, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(e.at)
            .bind(&e.actor)
            .bind(&e.entity)
            .bind(&e.entity_id)
            .bind(&e.action)
            .bind(e.detail.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn audit_of(&mut self, entity: &str, entity_id: &str) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query("SELECT * FROM audit_events WHERE entity = $1 AND entity_id = $2 ORDER BY id")
            .bind(entity)
            .bind(entity_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AuditEvent {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    entity: r.try_get("entity")?,
                    entity_id: r.try_get("entity_id")?,
                    action: r.try_get("action")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }

    /// Audit events matching a text (entity id, actor or action), newest first.
    pub async fn search_audit(&mut self, needle: &str, limit: i64) -> Result<Vec<AuditEvent>> {
        let rows = if needle.is_empty() {
            sqlx::query("SELECT * FROM audit_events ORDER BY id DESC LIMIT $1")
                .bind(limit)
                .fetch_all(&mut *self.tx)
                .await?
        } else {
            sqlx::query(
                "SELECT * FROM audit_events WHERE entity_id = $1 OR actor = $1 OR action = $1 OR entity = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(needle)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?
        };
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AuditEvent {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    entity: r.try_get("entity")?,
                    entity_id: r.try_get("entity_id")?,
                    action: r.try_get("action")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }

    // ---- dictionaries, settings, counters ------------------------------------------------

    /// The latest version of a dictionary: (version, JSON).
    pub async fn latest_dictionary(&mut self, kind: DictKind) -> Result<Option<(i64, String)>> {
        let row = sqlx::query(
            "SELECT version, data FROM dictionaries WHERE kind = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(kind.as_str())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|r| Ok((r.try_get("version")?, r.try_get("data")?))).transpose()
    }

    pub async fn insert_dictionary(
        &mut self,
        kind: DictKind,
        version: i64,
        data: &str,
        author: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO dictionaries (kind, version, data, author, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(kind.as_str())
        .bind(version)
        .bind(data)
        .bind(author)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn get_setting(&mut self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await?)
    }

    pub async fn put_setting(&mut self, key: &str, value: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn delete_setting(&mut self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM settings WHERE key = $1").bind(key).execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Point every media row naming object `from` at object `to` (a plain object's sealed
    /// copy); returns how many rows.
    pub async fn rename_media_object(&mut self, from: &str, to: &str) -> Result<u64> {
        Ok(sqlx::query("UPDATE media SET sha256 = $1 WHERE sha256 = $2")
            .bind(to)
            .bind(from)
            .execute(&mut *self.tx)
            .await?
            .rows_affected())
    }

    /// Add `by` to a named counter and return the new value (atomic on both backends).
    pub async fn counter_add(&mut self, name: &str, by: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO counters (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value RETURNING value",
        )
        .bind(name)
        .bind(by)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    pub async fn counter_get(&mut self, name: &str) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT value FROM counters WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *self.tx)
            .await?
            .unwrap_or(0))
    }

    /// Filing orders per stored status code.
    pub async fn count_orders_by_status(&mut self) -> Result<Vec<(i64, i64)>> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM filing_orders GROUP BY status ORDER BY status")
                .fetch_all(&mut *self.tx)
                .await?;
        rows.iter().map(|r| Ok((r.try_get("status")?, r.try_get("n")?))).collect()
    }
}

fn audit_json(items: &[AuditItem]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// A mini program from a row whose columns carry the prefix `p` (e.g. `m_` in a join).
pub(crate) fn mini_program_from_row_as(crypto: &Crypto, r: &AnyRow, p: &str) -> Result<MiniProgram> {
    let c = |name: &str| format!("{p}{name}");
    let flag = |name: &str| -> Result<bool> { Ok(r.try_get::<i64, _>(c(name).as_str())? != 0) };
    Ok(MiniProgram {
        appid: r.try_get(c("appid").as_str())?,
        name: r.try_get(c("name").as_str())?,
        admin: Person {
            name: r.try_get(c("admin_name").as_str())?,
            id_number: crypto.decrypt_str(&r.try_get::<Vec<u8>, _>(c("admin_id_enc").as_str())?)?,
            mobile: crypto.decrypt_str(&r.try_get::<Vec<u8>, _>(c("admin_mobile_enc").as_str())?)?,
        },
        flags: ReadinessFlags {
            basic_info_filled: flag("basic_info_filled")?,
            category_filled: flag("category_filled")?,
            certified: flag("certified")?,
        },
        listed: flag("listed")?,
        cleared: flag("cleared")?,
        created_at: r.try_get(c("created_at").as_str())?,
    })
}

pub(crate) fn order_from_row(r: &AnyRow) -> Result<FilingOrder> {
    let status: i64 = r.try_get("status")?;
    let sms: i64 = r.try_get("sms_verify_status")?;
    let canceling = r.try_get::<i64, _>("is_canceling")? != 0;
    let state = FilingState::from_columns(status, sms, canceling)
        .ok_or_else(|| StoreError::Corrupt(format!("filing status {status}/{sms}")))?;
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
    })
}

fn media_from_row(r: &AnyRow) -> Result<MediaMeta> {
    let t: String = r.try_get("media_type")?;
    Ok(MediaMeta {
        media_id: r.try_get("media_id")?,
        appid: r.try_get("appid")?,
        media_type: MediaType::parse(&t).ok_or_else(|| StoreError::Corrupt(format!("media_type {t}")))?,
        certificate_type: r
            .try_get::<Option<i64>, _>("certificate_type")?
            .map(|v| u(v, "certificate_type"))
            .transpose()?,
        icp_order_field: r.try_get("icp_order_field")?,
        content_type: r.try_get("content_type")?,
        size: u64::try_from(r.try_get::<i64, _>("size")?).unwrap_or(0),
        sha256: r.try_get("sha256")?,
        created_at: r.try_get("created_at")?,
    })
}

/// An application payload as stored: its JSON, deflated and encrypted
/// ([`Crypto::encrypt_compressed`]).
pub(crate) fn seal_payload(crypto: &Crypto, p: &ApplyPayload) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(p).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(crypto.encrypt_compressed(&json))
}

/// The payload [`seal_payload`] stored (or one stored uncompressed before); `what` names it
/// in the error.
pub(crate) fn open_payload(crypto: &Crypto, enc: &[u8], what: &str) -> Result<ApplyPayload> {
    let json = crypto.decrypt_compressed(enc)?;
    serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}
