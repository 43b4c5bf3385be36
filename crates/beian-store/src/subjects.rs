//! Subjects (主体): the certificate holders that file, with their counters and row versions.

use crate::tx::{b, u};
use crate::{Result, StoreError, Tx};
use beian_core::model::Subject;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Subjects (主体): the certificate holders that file, with their counters.
pub struct Subjects<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Subjects (主体): the certificate holders that file, with their counters.
    pub fn subjects(&mut self) -> Subjects<'_> {
        Subjects { tx: self }
    }
}

impl Subjects<'_> {
    /// The subject with this certificate, and its row version.
    pub async fn find(
        &mut self,
        certificate_type: u32,
        certificate_number: &str,
    ) -> Result<Option<(Subject, i64)>> {
        let row = sqlx::query("SELECT * FROM subjects WHERE certificate_type = $1 AND cert_bidx = $2")
            .bind(i64::from(certificate_type))
            .bind(self.tx.crypto.blind_index(certificate_number))
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| self.subject_from_row(&r)).transpose()
    }

    /// The subjects with these certificates (type, number), each with its row version, in
    /// one statement per chunk; certificates with no subject are absent from the map.
    pub async fn find_many(
        &mut self,
        certificates: &[(u32, &str)],
    ) -> Result<std::collections::HashMap<(u32, String), (Subject, i64)>> {
        let mut out = std::collections::HashMap::with_capacity(certificates.len());
        let mut types: Vec<u32> = certificates.iter().map(|(t, _)| *t).collect();
        types.sort_unstable();
        types.dedup();
        for ty in types {
            // The unique index is (certificate_type, cert_bidx): one type per statement.
            let numbers: Vec<&str> = certificates.iter().filter(|(t, _)| *t == ty).map(|(_, n)| *n).collect();
            for chunk in numbers.chunks(crate::query::CHUNK) {
                let sql = format!(
                    "SELECT * FROM subjects WHERE certificate_type = $1 AND cert_bidx IN ({})",
                    crate::tx::placeholders(2, chunk.len())
                );
                let mut q = sqlx::query(&sql).bind(i64::from(ty));
                for number in chunk {
                    q = q.bind(self.tx.crypto.blind_index(number));
                }
                for r in q.fetch_all(&mut *self.tx.conn).await? {
                    let (s, v) = self.subject_from_row(&r)?;
                    out.insert((s.certificate_type, s.certificate_number.clone()), (s, v));
                }
            }
        }
        Ok(out)
    }

    /// The subject and its row version.
    pub async fn get(&mut self, id: &str) -> Result<Option<(Subject, i64)>> {
        let row = sqlx::query("SELECT * FROM subjects WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| self.subject_from_row(&r)).transpose()
    }

    pub async fn version(&mut self, id: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT row_version FROM subjects WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx.conn)
            .await?)
    }

    fn subject_from_row(&self, r: &AnyRow) -> Result<(Subject, i64)> {
        Ok((
            Subject {
                id: r.try_get("id")?,
                subject_type: u(r.try_get("subject_type")?, "subject_type")?,
                certificate_type: u(r.try_get("certificate_type")?, "certificate_type")?,
                certificate_number: self.tx.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("cert_enc")?)?,
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
    pub async fn insert(&mut self, s: &Subject, now: i64) -> Result<()> {
        self.insert_many(&[(s, now)]).await
    }

    /// Insert new subjects in multi-row statements (apply's group commit); a certificate
    /// that already has a subject is a conflict.
    pub async fn insert_many(&mut self, subjects: &[(&Subject, i64)]) -> Result<()> {
        const COLS: usize = 15;
        for chunk in subjects.chunks(crate::appends::rows_per_statement(COLS)) {
            let sql = format!(
                "INSERT INTO subjects (id, subject_type, certificate_type, cert_enc, cert_bidx, name, province, \
                 filed_count, ever_filed, in_progress, record_number, service_seq, row_version, created_at, updated_at) \
                 VALUES {}",
                crate::appends::values_sql(self.tx.backend, COLS, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for (s, now) in chunk {
                q = q
                    .bind(&s.id)
                    .bind(i64::from(s.subject_type))
                    .bind(i64::from(s.certificate_type))
                    .bind(self.tx.crypto.encrypt_str(&s.certificate_number))
                    .bind(self.tx.crypto.blind_index(&s.certificate_number))
                    .bind(&s.name)
                    .bind(&s.province)
                    .bind(i64::from(s.filed_count))
                    .bind(b(s.ever_filed))
                    .bind(i64::from(s.in_progress))
                    .bind(&s.record_number)
                    .bind(i64::from(s.service_seq))
                    .bind(0_i64)
                    .bind(*now)
                    .bind(*now);
            }
            q.execute(&mut *self.tx.conn).await?;
        }
        Ok(())
    }

    /// Update a subject if nobody changed it since `expected_version` was read.
    pub async fn update(&mut self, s: &Subject, expected_version: i64, now: i64) -> Result<()> {
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
        .execute(&mut *self.tx.conn)
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!("subject {} changed concurrently", s.id)));
        }
        Ok(())
    }
}
