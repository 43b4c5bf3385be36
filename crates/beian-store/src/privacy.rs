//! Personal data (个人信息) of a mini program's subject and principals: what an export reads
//! and what erasure after the retention period overwrites or deletes (PIPL Art. 19, 45, 47).
//!
//! What erasure leaves is non-personal: states, dates, counts, the numbers MIIT publishes.
//! Erased columns hold a marker ([`ERASED`], an encrypted empty string, an empty payload), so
//! readers keep working and `beian check` tells an erased row from a broken one.

use crate::orders::open_payload;
use crate::{Result, Tx};
use beian_core::model::MediaMeta;
use beian_core::payload::ApplyPayload;
use beian_core::platform::{OutboxSms, SmsCode};
use sqlx::Row;

/// The blind index of an erased identity (mini program admin; a subject's is
/// `erased:<subject id>`, unique like every certificate index).
pub const ERASED: &str = "erased";

/// What an erased name reads as.
pub const ERASED_NAME: &str = "（已删除）";

/// A mini program whose filing ended (cancelled or cleared) and that has no live or open
/// order, as of a cut-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub appid: String,
    /// `cancelled` (注销) or `cleared` (清退).
    pub reason: &'static str,
    /// When the filing ended (the later of the two if both apply).
    pub ended_at: i64,
    /// Whether it still holds personal data (a payload, draft, media, face task, SMS code or
    /// the admin's identity).
    pub holds_personal_data: bool,
}

/// What one erasure removed (non-personal counts, for the audit event).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    pub versions: u64,
    pub drafts: u64,
    pub media_rows: u64,
    pub face_tasks: u64,
    pub sms_codes: u64,
    pub sms_outbox: u64,
    /// 站内信 up to the end (rejection notices quote reviewers' free text).
    pub messages: u64,
    pub jobs: u64,
    pub admin_identity: u64,
    pub subjects: u64,
}

/// Ended mini programs: no order or an order not filed (1024–1031) and cancelled
/// (`cancel_type` set; a new application clears it) at or before `cutoff`, or cleared with
/// the row last changed at or before `cutoff`.
const ENDED_SQL: &str =
    "SELECT m.appid, m.cleared, m.updated_at AS m_updated, o.cancel_type, o.updated_at AS o_updated, \
     CASE WHEN m.admin_id_bidx <> 'erased' \
       OR EXISTS (SELECT 1 FROM filing_versions v WHERE v.appid = m.appid AND length(v.payload_enc) > 0) \
       OR EXISTS (SELECT 1 FROM drafts d WHERE d.appid = m.appid) \
       OR EXISTS (SELECT 1 FROM media x WHERE x.appid = m.appid) \
       OR EXISTS (SELECT 1 FROM face_tasks f WHERE f.appid = m.appid) \
       OR EXISTS (SELECT 1 FROM sms_codes c WHERE c.appid = m.appid) THEN 1 ELSE 0 END AS holds \
     FROM mini_programs m LEFT JOIN filing_orders o ON o.appid = m.appid \
     WHERE (o.appid IS NULL OR o.status >= 1024) \
       AND ((o.cancel_type IS NOT NULL AND o.updated_at <= $1) OR (m.cleared = 1 AND m.updated_at <= $1))";

fn ended_from_row(r: &sqlx::any::AnyRow) -> Result<Ended> {
    let cancelled: Option<i64> = r.try_get("cancel_type")?;
    let o_updated: Option<i64> = r.try_get("o_updated")?;
    let cleared = r.try_get::<i64, _>("cleared")? != 0;
    let m_updated: i64 = r.try_get("m_updated")?;
    let cancelled_at = cancelled.and(o_updated);
    let (reason, ended_at) = match (cancelled_at, cleared) {
        (Some(c), true) => (if c >= m_updated { "cancelled" } else { "cleared" }, c.max(m_updated)),
        (Some(c), false) => ("cancelled", c),
        (None, _) => ("cleared", m_updated),
    };
    Ok(Ended {
        appid: r.try_get("appid")?,
        reason,
        ended_at,
        holds_personal_data: r.try_get::<i64, _>("holds")? != 0,
    })
}

/// Everything personal held for one mini program, decrypted (the export).
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    pub versions: Vec<(u32, i64, Option<ApplyPayload>)>,
    pub draft: Option<ApplyPayload>,
    pub media: Vec<MediaMeta>,
    pub face_tasks: Vec<(String, i64, i64, bool)>,
    pub sms_codes: Vec<SmsCode>,
}

impl crate::Store {
    /// After an erasure on SQLite: copy the write-ahead log into the database and truncate
    /// it, so the older page images it holds (with the erased values) are gone from disk.
    /// Rows themselves are zeroed when freed (`secure_delete`). PostgreSQL: nothing to do
    /// here (dead row versions are reclaimed by vacuum).
    pub async fn scrub_freed(&self) -> Result<()> {
        if self.backend == crate::Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.write).await?;
        }
        Ok(())
    }
}

/// Personal data across tables: export and erasure.
pub struct Privacy<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Personal data across tables: export and erasure.
    pub fn privacy(&mut self) -> Privacy<'_> {
        Privacy { tx: self }
    }
}

impl Privacy<'_> {
    /// Ended mini programs (see [`ENDED_SQL`]) after `after`, by appid, `limit` at a time.
    pub async fn ended_after(&mut self, cutoff: i64, after: &str, limit: i64) -> Result<Vec<Ended>> {
        let sql = format!("{ENDED_SQL} AND m.appid > $2 ORDER BY m.appid LIMIT $3");
        let rows =
            sqlx::query(&sql).bind(cutoff).bind(after).bind(limit).fetch_all(&mut *self.tx.conn).await?;
        rows.iter().map(ended_from_row).collect()
    }

    /// This mini program if it has ended as of `cutoff`.
    pub async fn ended(&mut self, cutoff: i64, appid: &str) -> Result<Option<Ended>> {
        let sql = format!("{ENDED_SQL} AND m.appid = $2");
        let row = sqlx::query(&sql).bind(cutoff).bind(appid).fetch_optional(&mut *self.tx.conn).await?;
        row.as_ref().map(ended_from_row).transpose()
    }

    /// The personal data held for `appid` (versions, draft, media rows, face tasks, SMS codes).
    pub async fn holdings(&mut self, appid: &str) -> Result<Holdings> {
        let mut h = Holdings::default();
        let rows = sqlx::query(
            "SELECT version, submitted_at, payload_enc FROM filing_versions WHERE appid = $1 ORDER BY version",
        )
        .bind(appid)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        for r in &rows {
            let enc: Vec<u8> = r.try_get("payload_enc")?;
            let payload = if enc.is_empty() {
                None
            } else {
                Some(open_payload(&self.tx.crypto, &enc, "filing version")?)
            };
            let version = crate::tx::u(r.try_get("version")?, "version")?;
            h.versions.push((version, r.try_get("submitted_at")?, payload));
        }
        h.draft = self.tx.drafts().get(appid).await?.map(|(p, _)| p);
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT media_id FROM media WHERE appid = $1 ORDER BY media_id")
                .bind(appid)
                .fetch_all(&mut *self.tx.conn)
                .await?;
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut media: Vec<MediaMeta> = self.tx.media().get_many(&refs).await?.into_values().collect();
        media.sort_by(|a, b| a.media_id.cmp(&b.media_id));
        h.media = media;
        let rows = sqlx::query(
            "SELECT task_id, created_at, expires_at, is_finish FROM face_tasks WHERE appid = $1 ORDER BY created_at",
        )
        .bind(appid)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        for r in &rows {
            h.face_tasks.push((
                r.try_get("task_id")?,
                r.try_get("created_at")?,
                r.try_get("expires_at")?,
                r.try_get::<i64, _>("is_finish")? != 0,
            ));
        }
        let rounds: Vec<(String, i64)> = sqlx::query_as(
            "SELECT DISTINCT purpose, round FROM sms_codes WHERE appid = $1 ORDER BY purpose, round",
        )
        .bind(appid)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        for (purpose, round) in rounds {
            h.sms_codes.extend(
                self.tx.authority().sms_codes().of(appid, &purpose, crate::tx::u(round, "round")?).await?,
            );
        }
        Ok(h)
    }

    /// Outbox texts to any of `phones` sent between `from` and `to` (inclusive), oldest first.
    pub async fn outbox_to(&mut self, phones: &[String], from: i64, to: i64) -> Result<Vec<OutboxSms>> {
        let mut out = Vec::new();
        for phone in phones {
            let rows = sqlx::query(
                "SELECT * FROM sms_outbox WHERE phone_bidx = $1 AND created_at >= $2 AND created_at <= $3 ORDER BY id",
            )
            .bind(self.tx.crypto.blind_index(phone))
            .bind(from)
            .bind(to)
            .fetch_all(&mut *self.tx.conn)
            .await?;
            for r in &rows {
                out.push(OutboxSms {
                    id: r.try_get("id")?,
                    phone: self.tx.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("phone_enc")?)?,
                    text: self.tx.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("text_enc")?)?,
                    created_at: r.try_get("created_at")?,
                });
            }
        }
        out.sort_by_key(|m| m.id);
        out.dedup_by_key(|m| m.id);
        Ok(out)
    }

    /// Objects (media names) that the media rows of `appid` name and no other row does: what
    /// may be deleted with those rows.
    pub async fn objects_only_of(&mut self, appid: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT m.sha256 FROM media m WHERE m.appid = $1 \
             AND NOT EXISTS (SELECT 1 FROM media o WHERE o.sha256 = m.sha256 AND o.appid <> $1) ORDER BY m.sha256",
        )
        .bind(appid)
        .fetch_all(&mut *self.tx.conn)
        .await?)
    }

    /// Erase what is personal of one ended mini program (the caller checked it ended, inside
    /// this transaction): payloads emptied, draft, media rows, face tasks and SMS codes
    /// deleted, outbox texts and finished SMS / e-mail jobs to `contacts` between `from` and
    /// `to` deleted, 站内信 up to `to` deleted, rejection reasons cleared, the admin's identity replaced by the marker.
    /// Media objects are the caller's (see [`Privacy::objects_only_of`]).
    pub async fn erase(&mut self, appid: &str, contacts: &[String], from: i64, to: i64) -> Result<Erased> {
        if self.tx.backend == crate::Backend::Sqlite {
            // Zero every freed byte of this transaction, whole pages included (back to FAST
            // before it ends, see SQLITE_PRAGMAS).
            sqlx::query("PRAGMA secure_delete=ON").execute(&mut *self.tx.conn).await?;
        }
        let mut e = Erased::default();
        let empty: Vec<u8> = Vec::new();
        e.versions = sqlx::query(
            "UPDATE filing_versions SET payload_enc = $2 WHERE appid = $1 AND length(payload_enc) > 0",
        )
        .bind(appid)
        .bind(&empty)
        .execute(&mut *self.tx.conn)
        .await?
        .rows_affected();
        // Reviewers' reasons are free text about the application.
        sqlx::query("UPDATE filing_orders SET audit_data = '[]' WHERE appid = $1 AND audit_data <> '[]'")
            .bind(appid)
            .execute(&mut *self.tx.conn)
            .await?;
        e.drafts = self.exec_count("DELETE FROM drafts WHERE appid = $1", appid).await?;
        e.media_rows = self.exec_count("DELETE FROM media WHERE appid = $1", appid).await?;
        e.face_tasks = self.exec_count("DELETE FROM face_tasks WHERE appid = $1", appid).await?;
        e.sms_codes = self.exec_count("DELETE FROM sms_codes WHERE appid = $1", appid).await?;
        // The simulator's copy of whom it texted goes with the codes (never without them).
        self.exec_count("DELETE FROM authority_sim_submissions WHERE appid = $1", appid).await?;
        // The manual desk keeps its work items (what was recorded, by whom) without the
        // operation, which holds the application.
        self.exec_count("UPDATE desk_items SET operation_enc = NULL WHERE appid = $1", appid).await?;
        for c in contacts {
            e.sms_outbox += sqlx::query(
                "DELETE FROM sms_outbox WHERE phone_bidx = $1 AND created_at >= $2 AND created_at <= $3",
            )
            .bind(self.tx.crypto.blind_index(c))
            .bind(from)
            .bind(to)
            .execute(&mut *self.tx.conn)
            .await?
            .rows_affected();
        }
        e.messages = sqlx::query("DELETE FROM messages WHERE appid = $1 AND created_at <= $2")
            .bind(appid)
            .bind(to)
            .execute(&mut *self.tx.conn)
            .await?
            .rows_affected();
        e.jobs = self.delete_finished_jobs_naming(contacts, from, to).await?;
        self.tx.touch(appid);
        e.admin_identity = sqlx::query(
            "UPDATE mini_programs SET admin_name = $2, admin_id_enc = $3, admin_id_bidx = 'erased', \
             admin_mobile_enc = $4, updated_at = updated_at WHERE appid = $1 AND admin_id_bidx <> 'erased'",
        )
        .bind(appid)
        .bind(ERASED_NAME)
        .bind(self.tx.crypto.encrypt_str(""))
        .bind(self.tx.crypto.encrypt_str(""))
        .execute(&mut *self.tx.conn)
        .await?
        .rows_affected();
        if self.tx.backend == crate::Backend::Sqlite {
            sqlx::query("PRAGMA secure_delete=FAST").execute(&mut *self.tx.conn).await?;
        }
        Ok(e)
    }

    /// Erase a subject's certificate number (and, for a person, the name): the marker index
    /// `erased:<id>` keeps the unique key. False if already erased.
    pub async fn erase_subject(&mut self, id: &str, erase_name: bool, now: i64) -> Result<bool> {
        let name_sql = if erase_name { ", name = $4" } else { "" };
        let sql = format!(
            "UPDATE subjects SET cert_enc = $2, cert_bidx = 'erased:' || id, updated_at = $3, \
             row_version = row_version + 1{name_sql} WHERE id = $1 AND cert_bidx NOT LIKE 'erased:%'"
        );
        let mut q = sqlx::query(&sql).bind(id).bind(self.tx.crypto.encrypt_str("")).bind(now);
        if erase_name {
            q = q.bind(ERASED_NAME);
        }
        Ok(q.execute(&mut *self.tx.conn).await?.rows_affected() == 1)
    }

    async fn exec_count(&mut self, sql: &str, appid: &str) -> Result<u64> {
        Ok(sqlx::query(sql).bind(appid).execute(&mut *self.tx.conn).await?.rows_affected())
    }

    /// Delete finished (done or dead) SMS and e-mail jobs created between `from` and `to`
    /// whose payload names one of `values`. Payloads are encrypted, so each is opened.
    async fn delete_finished_jobs_naming(&mut self, values: &[String], from: i64, to: i64) -> Result<u64> {
        let values: Vec<&String> = values.iter().filter(|v| !v.trim().is_empty()).collect();
        if values.is_empty() {
            return Ok(0);
        }
        let rows = sqlx::query(
            "SELECT id, payload FROM jobs WHERE kind IN ('sms', 'email') AND state IN ('done', 'dead') \
             AND created_at >= $1 AND created_at <= $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        let mut ids = Vec::new();
        for r in &rows {
            let payload = self.tx.unseal(&r.try_get::<String, _>("payload")?)?;
            if values.iter().any(|v| payload.contains(v.as_str())) {
                ids.push(r.try_get::<i64, _>("id")?);
            }
        }
        let mut n = 0;
        for id in ids {
            n += sqlx::query("DELETE FROM jobs WHERE id = $1")
                .bind(id)
                .execute(&mut *self.tx.conn)
                .await?
                .rows_affected();
        }
        Ok(n)
    }
}
