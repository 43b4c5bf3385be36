//! Read-only queries behind `beian check`: the database's invariants, read as raw columns so a
//! corrupt row is reported (and counted) instead of failing the whole check.
//!
//! Every query pages by primary key, so a check of a large platform never holds more than one
//! page in memory. [`Store::check_snapshot`] gives one consistent snapshot for the whole run.

use crate::tx::Tx;
use crate::{Backend, Result, Store};
use beian_core::payload::ApplyPayload;
use sqlx::Row;

/// One filing order as stored, with the counts its invariants compare against.
#[derive(Debug, Clone)]
pub struct OrderFacts {
    pub appid: String,
    pub subject_id: Option<String>,
    pub status: i64,
    pub sms_verify_status: i64,
    pub is_canceling: i64,
    /// A change's stage (0 without one).
    pub change_status: i64,
    pub subject_record_number: Option<String>,
    pub service_record_number: Option<String>,
    pub versions: i64,
    /// `filing_versions` rows of this appid.
    pub version_rows: i64,
    /// `apply` audit events of this appid.
    pub apply_events: i64,
    /// The subject row's id if it exists (a dangling `subject_id` gives `None`).
    pub subject_found: Option<String>,
    /// The subject's current record number.
    pub subject_number_now: Option<String>,
}

/// One subject with the counts of its orders.
#[derive(Debug, Clone)]
pub struct SubjectFacts {
    pub id: String,
    pub in_progress: i64,
    pub filed_count: i64,
    /// Orders of the subject in status 2 or 4.
    pub orders_in_progress: i64,
    /// Orders of the subject in status 6.
    pub orders_filed: i64,
    /// Why the certificate number cannot be read back (or its blind index is stale).
    pub problem: Option<String>,
}

/// A stored row that must decrypt (a filing version, a mini program's admin identity).
#[derive(Debug, Clone)]
pub struct DecryptFacts {
    pub key: String,
    /// `None` when the row decrypts and parses.
    pub problem: Option<String>,
}

/// One media row.
#[derive(Debug, Clone)]
pub struct MediaFacts {
    pub media_id: String,
    pub appid: String,
    pub sha256: String,
    pub size: i64,
}

/// A job whose lease ran out without another worker taking it over.
#[derive(Debug, Clone)]
pub struct StaleJob {
    pub id: i64,
    pub kind: String,
    pub locked_by: Option<String>,
    pub locked_until: Option<i64>,
}

impl Store {
    /// A read transaction over one consistent snapshot (REPEATABLE READ on PostgreSQL; a
    /// SQLite read transaction keeps its WAL snapshot from its first read).
    pub async fn check_snapshot(&self) -> Result<Tx> {
        let mut tx = self.read().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx.conn)
                .await?;
        }
        Ok(tx)
    }
}

/// An SQL identifier in double quotes (valid on SQLite and PostgreSQL).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Read-only pages of raw columns for `beian check`.
pub struct Check<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Read-only pages of raw columns for `beian check`.
    pub fn check(&mut self) -> Check<'_> {
        Check { tx: self }
    }
}

impl Check<'_> {
    /// Filing orders after `after` (appid order), with their version and apply-event counts.
    pub async fn orders_page(&mut self, after: &str, limit: i64) -> Result<Vec<OrderFacts>> {
        let rows = sqlx::query(
            "SELECT o.appid, o.subject_id, o.status, o.sms_verify_status, o.is_canceling, o.change_status, o.subject_record_number, \
             o.service_record_number, o.versions, \
             (SELECT COUNT(*) FROM filing_versions v WHERE v.appid = o.appid) AS version_rows, \
             (SELECT COUNT(*) FROM audit_events a WHERE a.entity = 'filing' AND a.entity_id = o.appid \
              AND a.action IN ('apply', 'apply_change')) AS apply_events, \
             s.id AS subject_found, s.record_number AS subject_number_now \
             FROM filing_orders o LEFT JOIN subjects s ON s.id = o.subject_id \
             WHERE o.appid > $1 ORDER BY o.appid LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OrderFacts {
                    appid: r.try_get("appid")?,
                    subject_id: r.try_get("subject_id")?,
                    status: r.try_get("status")?,
                    sms_verify_status: r.try_get("sms_verify_status")?,
                    is_canceling: r.try_get("is_canceling")?,
                    change_status: r.try_get("change_status")?,
                    subject_record_number: r.try_get("subject_record_number")?,
                    service_record_number: r.try_get("service_record_number")?,
                    versions: r.try_get("versions")?,
                    version_rows: r.try_get("version_rows")?,
                    apply_events: r.try_get("apply_events")?,
                    subject_found: r.try_get("subject_found")?,
                    subject_number_now: r.try_get("subject_number_now")?,
                })
            })
            .collect()
    }

    /// Subjects after `after` (id order), with the counts of their orders in review and filed;
    /// the certificate number is decrypted and its blind index recomputed.
    pub async fn subjects_page(&mut self, after: &str, limit: i64) -> Result<Vec<SubjectFacts>> {
        let rows = sqlx::query(
            "SELECT s.id, s.in_progress, s.filed_count, s.cert_enc, s.cert_bidx, \
             (SELECT COUNT(*) FROM filing_orders o WHERE o.subject_id = s.id AND o.status IN (2, 4)) AS orders_in_progress, \
             (SELECT COUNT(*) FROM filing_orders o WHERE o.subject_id = s.id AND o.status = 6) AS orders_filed \
             FROM subjects s WHERE s.id > $1 ORDER BY s.id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter()
            .map(|r| {
                let enc: Vec<u8> = r.try_get("cert_enc")?;
                let bidx: String = r.try_get("cert_bidx")?;
                let problem = match self.tx.crypto.decrypt_str(&enc) {
                    Err(e) => Some(format!("certificate number does not decrypt: {e}")),
                    Ok(cert) if cert.is_empty() && bidx.starts_with("erased:") => None,
                    Ok(cert) if self.tx.crypto.blind_index(&cert) != bidx => {
                        Some("certificate blind index does not match the certificate number".to_string())
                    }
                    Ok(_) => None,
                };
                Ok(SubjectFacts {
                    id: r.try_get("id")?,
                    in_progress: r.try_get("in_progress")?,
                    filed_count: r.try_get("filed_count")?,
                    orders_in_progress: r.try_get("orders_in_progress")?,
                    orders_filed: r.try_get("orders_filed")?,
                    problem,
                })
            })
            .collect()
    }

    /// Service record numbers held by more than one order: (number, how many).
    pub async fn duplicate_service_numbers(&mut self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT service_record_number AS n, COUNT(*) AS c FROM filing_orders \
             WHERE service_record_number IS NOT NULL GROUP BY service_record_number HAVING COUNT(*) > 1 \
             ORDER BY service_record_number",
        )
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("n")?, r.try_get("c")?))).collect()
    }

    /// Subject record numbers held by more than one subject: (number, how many).
    pub async fn duplicate_subject_numbers(&mut self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT record_number AS n, COUNT(*) AS c FROM subjects WHERE record_number IS NOT NULL \
             GROUP BY record_number HAVING COUNT(*) > 1 ORDER BY record_number",
        )
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("n")?, r.try_get("c")?))).collect()
    }

    /// Filing versions after (`after_appid`, `after_version`), each decrypted and parsed.
    /// `key` is `appid#version`.
    pub async fn versions_page(
        &mut self,
        after_appid: &str,
        after_version: i64,
        limit: i64,
    ) -> Result<Vec<(String, i64, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT appid, version, payload_enc FROM filing_versions \
             WHERE appid > $1 OR (appid = $1 AND version > $2) ORDER BY appid, version LIMIT $3",
        )
        .bind(after_appid)
        .bind(after_version)
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter()
            .map(|r| {
                let enc: Vec<u8> = r.try_get("payload_enc")?;
                let problem = match self.tx.crypto.decrypt_compressed(&enc) {
                    // Erased after the retention period.
                    _ if enc.is_empty() => None,
                    Err(e) => Some(format!("does not decrypt: {e}")),
                    Ok(plain) => serde_json::from_slice::<ApplyPayload>(&plain)
                        .err()
                        .map(|e| format!("decrypts but is not an application: {e}")),
                };
                Ok((r.try_get("appid")?, r.try_get("version")?, problem))
            })
            .collect()
    }

    /// Mini programs after `after` (appid order): the admin's ID number and mobile decrypt, and
    /// the ID number's blind index matches.
    pub async fn mini_programs_page(&mut self, after: &str, limit: i64) -> Result<Vec<DecryptFacts>> {
        let rows = sqlx::query(
            "SELECT appid, admin_id_enc, admin_id_bidx, admin_mobile_enc FROM mini_programs \
             WHERE appid > $1 ORDER BY appid LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter()
            .map(|r| {
                let id_enc: Vec<u8> = r.try_get("admin_id_enc")?;
                let bidx: String = r.try_get("admin_id_bidx")?;
                let mobile_enc: Vec<u8> = r.try_get("admin_mobile_enc")?;
                let problem =
                    match (self.tx.crypto.decrypt_str(&id_enc), self.tx.crypto.decrypt_str(&mobile_enc)) {
                        (Err(e), _) => Some(format!("admin ID number does not decrypt: {e}")),
                        (_, Err(e)) => Some(format!("admin mobile does not decrypt: {e}")),
                        (Ok(id), Ok(_)) if id.is_empty() && bidx == crate::privacy::ERASED => None,
                        (Ok(id), Ok(_)) if self.tx.crypto.blind_index(&id) != bidx => {
                            Some("admin ID blind index does not match the ID number".to_string())
                        }
                        _ => None,
                    };
                Ok(DecryptFacts { key: r.try_get("appid")?, problem })
            })
            .collect()
    }

    /// Media rows after `after` (media_id order).
    pub async fn media_page(&mut self, after: &str, limit: i64) -> Result<Vec<MediaFacts>> {
        let rows = sqlx::query(
            "SELECT media_id, appid, sha256, size FROM media WHERE media_id > $1 ORDER BY media_id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MediaFacts {
                    media_id: r.try_get("media_id")?,
                    appid: r.try_get("appid")?,
                    sha256: r.try_get("sha256")?,
                    size: r.try_get("size")?,
                })
            })
            .collect()
    }

    /// Jobs still `running` whose lease ended before `before` (at most `limit`).
    pub async fn stale_jobs(&mut self, before: i64, limit: i64) -> Result<Vec<StaleJob>> {
        let rows = sqlx::query(
            "SELECT id, kind, locked_by, locked_until FROM jobs WHERE state = 'running' AND locked_until < $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StaleJob {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    locked_by: r.try_get("locked_by")?,
                    locked_until: r.try_get("locked_until")?,
                })
            })
            .collect()
    }

    /// Rows per table of this database (or PostgreSQL schema), by table name.
    pub async fn table_counts(&mut self) -> Result<Vec<(String, i64)>> {
        let list = match self.tx.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
            }
        };
        let names: Vec<String> = sqlx::query_scalar(list).fetch_all(&mut *self.tx.conn).await?;
        let mut out = Vec::new();
        for name in names {
            // Names come from the catalogue, quoted as identifiers.
            let sql = format!("SELECT COUNT(*) FROM {}", quote_ident(&name));
            let n: i64 = sqlx::query_scalar(&sql).fetch_one(&mut *self.tx.conn).await?;
            out.push((name, n));
        }
        Ok(out)
    }
}
