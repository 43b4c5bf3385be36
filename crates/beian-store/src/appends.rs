//! Rows a use case only ever inserts (application versions, 站内信, jobs, audit events) and
//! new rows nothing reads before commit (a new subject, a new order: apply's group commit),
//! collected and written together in multi-row statements: a statement per table per group
//! instead of one per apply.

use crate::{Backend, Result, Tx};
use beian_core::model::{AuditEvent, FilingOrder, Subject};
use beian_core::payload::ApplyPayload;
use sqlx::AnyConnection;

/// Messages and jobs per multi-row statement (a few hundred bound parameters at most: the jobs'
/// statement repeats a `$N`, and sqlx resolves `$N` names one by one on SQLite; versions and
/// audit events go through `values_sql`, anonymous `?` on SQLite).
const ROWS: usize = 50;

#[derive(Debug, Clone)]
pub struct NewVersion {
    pub appid: String,
    pub version: u32,
    pub payload: ApplyPayload,
    /// `payload` already sealed ([`Store::seal_application`](crate::Store::seal_application)),
    /// so the writer does not compress and encrypt it: apply seals before it queues for the
    /// group commit.
    pub sealed: Option<Vec<u8>>,
    pub at: i64,
    pub actor: String,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub appid: String,
    pub title: String,
    pub body: String,
    pub at: i64,
}

/// A job as [`Jobs::enqueue`](crate::jobs::Jobs::enqueue) takes it (the payload is sealed when written).
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: String,
    pub dedupe_key: Option<String>,
    pub run_at: i64,
    pub max_attempts: u32,
    pub now: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Appends {
    /// New subjects with their creation time, written first (orders refer to them).
    pub subjects: Vec<(Subject, i64)>,
    /// New orders, written after the subjects.
    pub orders: Vec<FilingOrder>,
    pub versions: Vec<NewVersion>,
    pub messages: Vec<NewMessage>,
    pub jobs: Vec<NewJob>,
    pub audit: Vec<AuditEvent>,
}

impl Appends {
    pub fn extend(&mut self, other: Appends) {
        self.subjects.extend(other.subjects);
        self.orders.extend(other.orders);
        self.versions.extend(other.versions);
        self.messages.extend(other.messages);
        self.jobs.extend(other.jobs);
        self.audit.extend(other.audit);
    }

    pub fn is_empty(&self) -> bool {
        self.subjects.is_empty()
            && self.orders.is_empty()
            && self.versions.is_empty()
            && self.messages.is_empty()
            && self.jobs.is_empty()
            && self.audit.is_empty()
    }
}

/// `($1, $2, …), ($k+1, …)` for `rows` rows of `cols` values.
/// One row of `filing_versions`, its payload already sealed (`crypto::seal_payload`).
pub(crate) struct VersionRow<'a> {
    pub appid: &'a str,
    pub version: u32,
    pub payload_enc: &'a [u8],
    pub at: i64,
    pub actor: &'a str,
}

/// `filing_versions` rows in multi-row statements (apply's group commit, bulk loads).
pub(crate) async fn insert_versions(
    conn: &mut AnyConnection,
    backend: Backend,
    rows: &[VersionRow<'_>],
) -> Result<u64> {
    let mut written = 0;
    for chunk in rows.chunks(rows_per_statement(5)) {
        let sql = format!(
            "INSERT INTO filing_versions (appid, version, payload_enc, submitted_at, actor) VALUES {}",
            values_sql(backend, 5, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for v in chunk {
            q = q.bind(v.appid).bind(i64::from(v.version)).bind(v.payload_enc).bind(v.at).bind(v.actor);
        }
        written += q.execute(&mut *conn).await?.rows_affected();
    }
    Ok(written)
}

/// Audit events in multi-row statements, `details` their `detail` as JSON text, in order.
pub(crate) async fn insert_audit(
    conn: &mut AnyConnection,
    backend: Backend,
    events: &[AuditEvent],
    details: &[String],
) -> Result<u64> {
    let mut written = 0;
    let per = rows_per_statement(6);
    for (chunk, details) in events.chunks(per).zip(details.chunks(per)) {
        let sql = format!(
            "INSERT INTO audit_events (at, actor, entity, entity_id, action, detail) VALUES {}",
            values_sql(backend, 6, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for (e, detail) in chunk.iter().zip(details) {
            q = q.bind(e.at).bind(&e.actor).bind(&e.entity).bind(&e.entity_id).bind(&e.action).bind(detail);
        }
        written += q.execute(&mut *conn).await?.rows_affected();
    }
    Ok(written)
}

impl Tx {
    /// Write every collected row, a multi-row statement per table and chunk. Jobs with a
    /// dedupe key already queued are skipped, as [`Jobs::enqueue`](crate::jobs::Jobs::enqueue) does.
    pub async fn insert_appends(&mut self, a: &Appends) -> Result<()> {
        if !a.subjects.is_empty() {
            let subjects: Vec<(&Subject, i64)> = a.subjects.iter().map(|(s, at)| (s, *at)).collect();
            self.subjects().insert_many(&subjects).await?;
        }
        if !a.orders.is_empty() {
            self.orders().insert_many(&a.orders).await?;
        }
        let sealed: Vec<std::borrow::Cow<'_, [u8]>> = a
            .versions
            .iter()
            .map(|v| match &v.sealed {
                Some(bytes) => Ok(std::borrow::Cow::Borrowed(bytes.as_slice())),
                None => crate::crypto::seal_payload(&self.crypto, &v.payload).map(std::borrow::Cow::Owned),
            })
            .collect::<Result<_>>()?;
        let versions: Vec<VersionRow<'_>> = a
            .versions
            .iter()
            .zip(&sealed)
            .map(|(v, payload_enc)| VersionRow {
                appid: &v.appid,
                version: v.version,
                payload_enc: payload_enc.as_ref(),
                at: v.at,
                actor: &v.actor,
            })
            .collect();
        insert_versions(&mut self.conn, self.backend, &versions).await?;
        for chunk in a.messages.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO messages (appid, title, body, created_at) VALUES {}",
                values_sql(self.backend, 4, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for m in chunk {
                q = q.bind(&m.appid).bind(&m.title).bind(&m.body).bind(m.at);
            }
            q.execute(&mut *self.conn).await?;
        }
        for chunk in a.jobs.chunks(ROWS) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let n = |c: usize| r * 6 + c;
                    format!(
                        "(${}, ${}, ${}, 'pending', ${}, 0, ${}, ${}, ${})",
                        n(1),
                        n(2),
                        n(3),
                        n(4),
                        n(5),
                        n(6),
                        n(6)
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, attempts, max_attempts, created_at, updated_at) \
                 VALUES {} ON CONFLICT (dedupe_key) DO NOTHING",
                rows.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for j in chunk {
                q = q
                    .bind(&j.kind)
                    .bind(self.seal(&j.payload))
                    .bind(&j.dedupe_key)
                    .bind(j.run_at)
                    .bind(i64::from(j.max_attempts))
                    .bind(j.now);
            }
            q.execute(&mut *self.conn).await?;
        }
        let details: Vec<String> = a.audit.iter().map(|e| e.detail.to_string()).collect();
        insert_audit(&mut self.conn, self.backend, &a.audit, &details).await?;
        Ok(())
    }
}

/// Bound parameters per statement: below SQLite's 32766 and PostgreSQL's 65535.
const MAX_PARAMS: usize = 30_000;
/// Rows per statement at most, whatever the column count.
const MAX_ROWS: usize = 2_000;

/// `($1, …), (…)` for `rows` rows of `cols` placeholders. SQLite gets anonymous `?`
/// placeholders: with numbered ones, preparing and binding cost grows with the square of the
/// parameter count (SQLite looks each `$N` up in a list, and sqlx asks every parameter's
/// name), which made a 2,000-row statement slower than 2,000 one-row statements.
pub(crate) fn values_sql(backend: Backend, cols: usize, rows: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            match backend {
                Backend::Sqlite => s.push('?'),
                Backend::Postgres => {
                    s.push('$');
                    s.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        s.push(')');
    }
    s
}

/// Rows per statement for a table of `cols` bound columns.
pub(crate) fn rows_per_statement(cols: usize) -> usize {
    (MAX_PARAMS / cols.max(1)).clamp(1, MAX_ROWS)
}

#[cfg(test)]
mod values_tests {
    use super::*;

    #[test]
    fn values_are_numbered_row_by_row() {
        assert_eq!(values_sql(Backend::Postgres, 2, 2), "($1, $2), ($3, $4)");
        assert_eq!(values_sql(Backend::Postgres, 3, 1), "($1, $2, $3)");
        assert_eq!(values_sql(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }

    #[test]
    fn statements_stay_under_the_parameter_limit() {
        for cols in 1..40 {
            let rows = rows_per_statement(cols);
            assert!((1..=MAX_ROWS).contains(&rows));
            assert!(rows * cols <= MAX_PARAMS);
        }
    }
}
