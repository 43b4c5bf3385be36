//! Media rows and face-verification tasks (the media bytes are [`crate::media`]'s).

use crate::tx::{b, u};
use crate::{Result, StoreError, Tx};
use beian_core::model::{FaceStatus, FaceTask, MediaMeta, MediaType};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;

/// Media rows (the bytes are in [`crate::MediaStore`]).
pub struct Media<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Media rows (the bytes are in [`crate::MediaStore`]).
    pub fn media(&mut self) -> Media<'_> {
        Media { tx: self }
    }
}

impl Media<'_> {
    pub async fn insert(&mut self, m: &MediaMeta) -> Result<()> {
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
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    pub async fn get(&mut self, media_id: &str) -> Result<Option<MediaMeta>> {
        let row = sqlx::query("SELECT * FROM media WHERE media_id = $1")
            .bind(media_id)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| media_from_row(&r)).transpose()
    }

    /// The media rows with these ids (missing ids are absent), in one query.
    pub async fn get_many(&mut self, ids: &[&str]) -> Result<HashMap<String, MediaMeta>> {
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
            for r in q.fetch_all(&mut *self.tx.conn).await? {
                let m = media_from_row(&r)?;
                out.insert(m.media_id.clone(), m);
            }
        }
        Ok(out)
    }

    /// Point every media row naming object `from` at object `to` (a plain object's sealed
    /// copy); returns how many rows.
    pub async fn rename_object(&mut self, from: &str, to: &str) -> Result<u64> {
        Ok(sqlx::query("UPDATE media SET sha256 = $1 WHERE sha256 = $2")
            .bind(to)
            .bind(from)
            .execute(&mut *self.tx.conn)
            .await?
            .rows_affected())
    }
}

/// Face-verification tasks (人脸核身).
/// A face task's verification session at an identity provider (migration 0015).
#[derive(Debug, Clone, PartialEq)]
pub struct FaceSession {
    /// `builtin`, `tencent_faceid`, `aliyun_cloudauth`.
    pub provider: String,
    pub session_id: String,
    pub expires_at: i64,
    /// `passed`, `failed`, `expired` once decided; `None` while pending.
    pub outcome: Option<String>,
    /// The provider's raw result code.
    pub raw_code: Option<String>,
    pub score: Option<f64>,
}

pub struct FaceTasks<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Face-verification tasks (人脸核身).
    pub fn face_tasks(&mut self) -> FaceTasks<'_> {
        FaceTasks { tx: self }
    }
}

impl FaceTasks<'_> {
    pub async fn insert(&mut self, t: &FaceTask) -> Result<()> {
        sqlx::query(
            "INSERT INTO face_tasks (task_id, appid, face_status, is_finish, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.task_id)
        .bind(&t.appid)
        .bind(t.face_status.code())
        .bind(b(t.is_finish))
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    pub async fn get(&mut self, task_id: &str) -> Result<Option<FaceTask>> {
        let row = sqlx::query("SELECT * FROM face_tasks WHERE task_id = $1")
            .bind(task_id)
            .fetch_optional(&mut *self.tx.conn)
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

    pub async fn finish(&mut self, task_id: &str, status: FaceStatus, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE face_tasks SET face_status = $2, is_finish = 1, finished_at = $3 WHERE task_id = $1",
        )
        .bind(task_id)
        .bind(status.code())
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// The task's current verification session (none before the first start).
    pub async fn session(&mut self, task_id: &str) -> Result<Option<FaceSession>> {
        let row = sqlx::query(
            "SELECT provider, session_id, session_expires_at, outcome, raw_code, score FROM face_tasks \
             WHERE task_id = $1",
        )
        .bind(task_id)
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let (Some(provider), Some(session_id), Some(expires_at)) = (
            r.try_get::<Option<String>, _>("provider")?,
            r.try_get::<Option<String>, _>("session_id")?,
            r.try_get::<Option<i64>, _>("session_expires_at")?,
        ) else {
            return Ok(None);
        };
        Ok(Some(FaceSession {
            provider,
            session_id,
            expires_at,
            outcome: r.try_get("outcome")?,
            raw_code: r.try_get("raw_code")?,
            score: r.try_get("score")?,
        }))
    }

    /// A new session was started for the task: it replaces the previous one and clears its
    /// outcome (the person tries again).
    pub async fn start_session(
        &mut self,
        task_id: &str,
        provider: &str,
        session_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE face_tasks SET provider = $2, session_id = $3, session_expires_at = $4, outcome = NULL, \
             raw_code = NULL, score = NULL WHERE task_id = $1",
        )
        .bind(task_id)
        .bind(provider)
        .bind(session_id)
        .bind(expires_at)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// The provider's verdict on the task's session, kept for operators.
    pub async fn record_outcome(
        &mut self,
        task_id: &str,
        outcome: &str,
        raw_code: &str,
        score: Option<f64>,
    ) -> Result<()> {
        // A NULL score is written by its own statement: through the `Any` driver a NULL bound
        // where PostgreSQL later sees a float in the same cached statement is refused.
        let q = match score {
            Some(score) => sqlx::query(
                "UPDATE face_tasks SET outcome = $2, raw_code = $3, score = $4 WHERE task_id = $1",
            )
            .bind(task_id)
            .bind(outcome)
            .bind(raw_code)
            .bind(score),
            None => sqlx::query(
                "UPDATE face_tasks SET outcome = $2, raw_code = $3, score = NULL WHERE task_id = $1",
            )
            .bind(task_id)
            .bind(outcome)
            .bind(raw_code),
        };
        q.execute(&mut *self.tx.conn).await?;
        Ok(())
    }
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
