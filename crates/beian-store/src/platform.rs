//! Queries for providers, tokens, authorizations and jobs.

use crate::tx::{b, u};
use crate::{Backend, Result, StoreError, Tx};
use beian_core::platform::{
    scopes_from_string, scopes_to_string, Authorization, Job, JobState, Provider, TokenKind, TokenRecord,
};
use sqlx::any::AnyRow;
use sqlx::Row;

impl Tx {
    // ---- providers -----------------------------------------------------------------------

    pub async fn insert_provider(&mut self, p: &Provider) -> Result<()> {
        sqlx::query(
            "INSERT INTO providers (component_appid, name, secret_hash, msg_token_enc, aes_key_enc, event_url, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&p.component_appid)
        .bind(&p.name)
        .bind(&p.secret_hash)
        .bind(self.crypto.encrypt_str(&p.msg_token))
        .bind(self.crypto.encrypt_str(&p.encoding_aes_key))
        .bind(&p.event_url)
        .bind(p.created_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Update name, secret hash, keys and event URL.
    pub async fn update_provider(&mut self, p: &Provider, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE providers SET name = $2, secret_hash = $3, msg_token_enc = $4, aes_key_enc = $5, event_url = $6, \
             updated_at = $7 WHERE component_appid = $1",
        )
        .bind(&p.component_appid)
        .bind(&p.name)
        .bind(&p.secret_hash)
        .bind(self.crypto.encrypt_str(&p.msg_token))
        .bind(self.crypto.encrypt_str(&p.encoding_aes_key))
        .bind(&p.event_url)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn get_provider(&mut self, component_appid: &str) -> Result<Option<Provider>> {
        let row = sqlx::query("SELECT * FROM providers WHERE component_appid = $1")
            .bind(component_appid)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| self.provider_from_row(&r)).transpose()
    }

    pub async fn list_providers(&mut self) -> Result<Vec<Provider>> {
        let rows =
            sqlx::query("SELECT * FROM providers ORDER BY component_appid").fetch_all(&mut *self.tx).await?;
        rows.iter().map(|r| self.provider_from_row(r)).collect()
    }

    fn provider_from_row(&self, r: &AnyRow) -> Result<Provider> {
        Ok(Provider {
            component_appid: r.try_get("component_appid")?,
            name: r.try_get("name")?,
            secret_hash: r.try_get("secret_hash")?,
            msg_token: self.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("msg_token_enc")?)?,
            encoding_aes_key: self.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("aes_key_enc")?)?,
            event_url: r.try_get("event_url")?,
            created_at: r.try_get("created_at")?,
        })
    }

    // ---- tokens --------------------------------------------------------------------------

    pub async fn insert_token(&mut self, hash: &str, t: &TokenRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, kind, component_appid, appid, scopes, created_at, expires_at, superseded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(hash)
        .bind(t.kind.as_str())
        .bind(&t.component_appid)
        .bind(&t.appid)
        .bind(scopes_to_string(&t.scopes))
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.superseded_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn get_token(&mut self, hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query("SELECT * FROM tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| token_from_row(&r)).transpose()
    }

    /// Mark every live token of this kind and owner as superseded at `now`.
    pub async fn supersede_tokens(
        &mut self,
        kind: TokenKind,
        component_appid: &str,
        appid: &str,
        now: i64,
    ) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE tokens SET superseded_at = $4 WHERE kind = $1 AND component_appid = $2 AND appid = $3 \
             AND superseded_at IS NULL",
        )
        .bind(kind.as_str())
        .bind(component_appid)
        .bind(appid)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(res.rows_affected())
    }

    /// End every token of this kind and owner, including those already superseded and still
    /// in their grace: afterwards none was superseded later than `ended_at` (revocation and
    /// re-authorization pass a moment whose grace is already over).
    pub async fn end_tokens(
        &mut self,
        kind: TokenKind,
        component_appid: &str,
        appid: &str,
        ended_at: i64,
    ) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE tokens SET superseded_at = $4 WHERE kind = $1 AND component_appid = $2 AND appid = $3 \
             AND (superseded_at IS NULL OR superseded_at > $4)",
        )
        .bind(kind.as_str())
        .bind(component_appid)
        .bind(appid)
        .bind(ended_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(res.rows_affected())
    }

    /// Use a one-time token: expire it now. False if it was already used.
    pub async fn consume_token(&mut self, hash: &str, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE tokens SET superseded_at = $2 WHERE token_hash = $1 AND superseded_at IS NULL",
        )
        .bind(hash)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Forget tokens that expired before `before` (housekeeping).
    pub async fn purge_tokens(&mut self, before: i64) -> Result<u64> {
        let res = sqlx::query("DELETE FROM tokens WHERE expires_at < $1")
            .bind(before)
            .execute(&mut *self.tx)
            .await?;
        Ok(res.rows_affected())
    }

    // ---- authorizations ------------------------------------------------------------------

    pub async fn upsert_authorization(&mut self, a: &Authorization) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorizations (component_appid, appid, scopes, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (component_appid, appid) DO UPDATE SET \
             scopes = excluded.scopes, active = excluded.active, updated_at = excluded.updated_at",
        )
        .bind(&a.component_appid)
        .bind(&a.appid)
        .bind(scopes_to_string(&a.scopes))
        .bind(b(a.active))
        .bind(a.created_at)
        .bind(a.updated_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn get_authorization(
        &mut self,
        component_appid: &str,
        appid: &str,
    ) -> Result<Option<Authorization>> {
        let row = sqlx::query("SELECT * FROM authorizations WHERE component_appid = $1 AND appid = $2")
            .bind(component_appid)
            .bind(appid)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| authorization_from_row(&r)).transpose()
    }

    /// Active authorizations of a mini program (which providers act for it).
    pub async fn authorizations_of(&mut self, appid: &str) -> Result<Vec<Authorization>> {
        let rows = sqlx::query(
            "SELECT * FROM authorizations WHERE appid = $1 AND active = 1 ORDER BY component_appid",
        )
        .bind(appid)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(authorization_from_row).collect()
    }

    // ---- jobs ----------------------------------------------------------------------------

    /// Enqueue a job. With a `dedupe_key` already present nothing is added (`None`).
    pub async fn enqueue_job(
        &mut self,
        kind: &str,
        payload: &str,
        dedupe_key: Option<&str>,
        run_at: i64,
        max_attempts: u32,
        now: i64,
    ) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, attempts, max_attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, 'pending', $4, 0, $5, $6, $6) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        )
        .bind(kind)
        .bind(self.seal(payload))
        .bind(dedupe_key)
        .bind(run_at)
        .bind(i64::from(max_attempts))
        .bind(now)
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    /// Lease the next due job (pending and due, or running with an expired lease).
    pub async fn claim_job(&mut self, worker: &str, now: i64, lease_secs: i64) -> Result<Option<Job>> {
        let pick = match self.backend {
            // Several nodes: skip rows another transaction is claiming.
            Backend::Postgres => {
                "SELECT id FROM jobs WHERE (state = 'pending' AND run_at <= $3) OR (state = 'running' AND locked_until < $3) \
                 ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
            }
            // One writer connection: the select and update cannot interleave with another claim.
            Backend::Sqlite => {
                "SELECT id FROM jobs WHERE (state = 'pending' AND run_at <= $3) OR (state = 'running' AND locked_until < $3) \
                 ORDER BY run_at, id LIMIT 1"
            }
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id = ({pick}) RETURNING *"
        );
        let row = sqlx::query(&sql)
            .bind(worker)
            .bind(now + lease_secs)
            .bind(now)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| self.job_from_row(&r)).transpose()
    }

    /// Mark a job done, if `worker` still holds its lease.
    pub async fn complete_job(&mut self, id: i64, worker: &str, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, last_error = NULL, updated_at = $3 \
             WHERE id = $1 AND locked_by = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Record a failure: retry at `retry_at`, or dead-letter when `retry_at` is `None`.
    pub async fn fail_job(
        &mut self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let (state, run_at) = match retry_at {
            Some(t) => ("pending", t),
            None => ("dead", now),
        };
        let res = sqlx::query(
            "UPDATE jobs SET state = $3, run_at = $4, last_error = $5, locked_by = NULL, locked_until = NULL, updated_at = $6 \
             WHERE id = $1 AND locked_by = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(state)
        .bind(run_at)
        .bind(error)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn get_job(&mut self, id: i64) -> Result<Option<Job>> {
        let row =
            sqlx::query("SELECT * FROM jobs WHERE id = $1").bind(id).fetch_optional(&mut *self.tx).await?;
        row.map(|r| self.job_from_row(&r)).transpose()
    }

    pub async fn list_jobs(&mut self, state: Option<JobState>, limit: i64) -> Result<Vec<Job>> {
        let rows = match state {
            Some(s) => {
                sqlx::query("SELECT * FROM jobs WHERE state = $1 ORDER BY id DESC LIMIT $2")
                    .bind(s.as_str())
                    .bind(limit)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM jobs ORDER BY id DESC LIMIT $1")
                    .bind(limit)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
        };
        rows.iter().map(|r| self.job_from_row(r)).collect()
    }

    /// Give up on a dead job for good (kept, marked done with a note).
    pub async fn discard_job(&mut self, id: i64, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE jobs SET state = 'done', last_error = COALESCE(last_error, '') || ' (discarded by an operator)', updated_at = $2 \
             WHERE id = $1 AND state = 'dead'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Put a dead job back in the queue now.
    pub async fn retry_job(&mut self, id: i64, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE jobs SET state = 'pending', run_at = $2, attempts = 0, updated_at = $2 WHERE id = $1 AND state = 'dead'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Jobs per state: (state, count, oldest run_at).
    pub async fn job_stats(&mut self) -> Result<Vec<(String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n, MIN(run_at) AS oldest FROM jobs GROUP BY state ORDER BY state",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("state")?, r.try_get("n")?, r.try_get("oldest")?))).collect()
    }
}

pub(crate) fn token_from_row(r: &AnyRow) -> Result<TokenRecord> {
    let kind: String = r.try_get("kind")?;
    Ok(TokenRecord {
        kind: TokenKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("token kind {kind}")))?,
        component_appid: r.try_get("component_appid")?,
        appid: r.try_get("appid")?,
        scopes: scopes_from_string(&r.try_get::<String, _>("scopes")?),
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        superseded_at: r.try_get("superseded_at")?,
    })
}

fn authorization_from_row(r: &AnyRow) -> Result<Authorization> {
    Ok(Authorization {
        component_appid: r.try_get("component_appid")?,
        appid: r.try_get("appid")?,
        scopes: scopes_from_string(&r.try_get::<String, _>("scopes")?),
        active: r.try_get::<i64, _>("active")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Tx {
    /// Job payloads can carry secrets (tickets, authorization codes): encrypted at rest.
    pub(crate) fn seal(&self, payload: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.crypto.encrypt_str(payload))
    }

    pub(crate) fn unseal(&self, stored: &str) -> Result<String> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(stored)
            .map_err(|_| StoreError::Corrupt("job payload is not base64".into()))?;
        Ok(self.crypto.decrypt_str(&bytes)?)
    }

    fn job_from_row(&self, r: &AnyRow) -> Result<Job> {
        job_from_row(r, self.unseal(&r.try_get::<String, _>("payload")?)?)
    }
}

fn job_from_row(r: &AnyRow, payload: String) -> Result<Job> {
    let state: String = r.try_get("state")?;
    Ok(Job {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        payload,
        dedupe_key: r.try_get("dedupe_key")?,
        state: JobState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("job state {state}")))?,
        run_at: r.try_get("run_at")?,
        attempts: u(r.try_get("attempts")?, "attempts")?,
        max_attempts: u(r.try_get("max_attempts")?, "max_attempts")?,
        locked_by: r.try_get("locked_by")?,
        locked_until: r.try_get("locked_until")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
    })
}
