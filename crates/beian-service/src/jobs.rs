//! The durable job queue as the service exposes it: enqueue inside a use case's
//! transaction, and lease / complete / fail for workers.

use crate::aggregates::{JobQueue, Operations};
use crate::Result;
use beian_core::model::AuditAction;
use beian_core::platform::{backoff_secs, Job, JobState};
use beian_store::Tx;
use serde::{Deserialize, Serialize};

pub use beian_store::jobs::COMPLETE_CHUNK;

/// How long a worker holds a job before another may take it over.
pub const LEASE_SECS: i64 = 60;

/// What a job does. Stored as JSON in the (encrypted) payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSpec {
    /// Push one event (XML, encrypted) to a provider's authorization-event URL.
    Event(EventPush),
    /// Issue a component_verify_ticket, push it, schedule the next in 10 minutes.
    VerifyTicket { component_appid: String },
    /// Send one SMS through the configured sender (a vendor's template, the HTTP gateway, the
    /// development outbox): the rendered text, and the event + ordered parameters a vendor's
    /// template is chosen by (`beian_ports::messaging::SMS_EVENTS`; empty on older rows).
    Sms {
        phone: String,
        text: String,
        #[serde(default)]
        event: String,
        #[serde(default)]
        params: Vec<(String, String)>,
    },
    /// Send one e-mail over SMTP (skipped, and logged, when no SMTP server is configured).
    Email { to: String, subject: String, body: String },
    /// POST a template message to the mini program's webhook, if one is configured.
    Webhook { appid: String, payload: serde_json::Value },
    /// Hand the order to the authority: the gateway starts the SMS verification of `round`.
    AuthoritySubmit { appid: String, round: u32 },
    /// Written by the simulator before it became its own crate (a 24 h SMS window); run as
    /// its timer `sms_timeout:<purpose>`. New rows are [`JobSpec::AuthorityTimer`].
    SmsTimeout { appid: String, round: u32, purpose: String },
    /// Written by the simulator before it became its own crate; run as its timer `decision`.
    AuthorityDecision { appid: String, round: u32 },
    /// A timer the authority gateway set (`beian_ports::authority::AuthorityOutbox::schedule`),
    /// handed back to it when due.
    AuthorityTimer { name: String, appid: String, round: u32 },
    /// Hand a cancellation (注销) to the authority: it texts the principal to confirm.
    AuthorityCancel { appid: String, round: u32 },
    /// Remind listed, unfiled mini programs of the deadline (once per day).
    DeadlineReminders { day: String },
    /// Delist unfiled mini programs from the clearance date on (resumable).
    ClearanceSweep { sweep_id: String },
    /// Erase personal data kept past the retention period (once per day; see `privacy`).
    PersonalDataErasure { day: String },
}

impl JobSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            JobSpec::Event(_) => "event",
            JobSpec::VerifyTicket { .. } => "verify_ticket",
            JobSpec::Sms { .. } => "sms",
            JobSpec::Email { .. } => "email",
            JobSpec::Webhook { .. } => "webhook",
            JobSpec::AuthoritySubmit { .. } => "authority_submit",
            JobSpec::SmsTimeout { .. } => "sms_timeout",
            JobSpec::AuthorityDecision { .. } => "authority_decision",
            JobSpec::AuthorityTimer { .. } => "authority_timer",
            JobSpec::AuthorityCancel { .. } => "authority_cancel",
            JobSpec::DeadlineReminders { .. } => "deadline_reminders",
            JobSpec::ClearanceSweep { .. } => "clearance_sweep",
            JobSpec::PersonalDataErasure { .. } => "personal_data_erasure",
        }
    }

    /// `text` (a delivery error, about to be stored as the job's last error and logged) with
    /// the job's personal values masked: a gateway or mail server that echoes the phone
    /// number or address in its refusal must not put it into the database in plain text.
    pub fn redact(&self, text: &str) -> String {
        let values: Vec<&str> = match self {
            JobSpec::Sms { phone, .. } => vec![phone],
            JobSpec::Email { to, .. } => vec![to],
            _ => Vec::new(),
        };
        let mut out = text.to_string();
        for v in values.into_iter().filter(|v| v.trim().chars().count() >= 4) {
            let v = v.trim();
            out = out.replace(v, &mask_personal(v));
        }
        out
    }

    pub(crate) fn max_attempts(&self) -> u32 {
        match self {
            // ~3 days of hourly retries after the first quick ones: an event is not dropped
            // lightly; what still fails goes to the dead letters an operator can retry.
            JobSpec::Event(_) | JobSpec::Webhook { .. } => 80,
            // A newer ticket replaces a failed one every 10 minutes anyway.
            JobSpec::VerifyTicket { .. } => 3,
            JobSpec::Sms { .. } | JobSpec::Email { .. } => 20,
            _ => 30,
        }
    }
}

/// One event for one provider: `InfoType` and its fields (besides AppId/CreateTime/InfoType).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPush {
    pub component_appid: String,
    pub info_type: String,
    pub create_time: i64,
    /// (name, value, is_number)
    pub fields: Vec<(String, String, bool)>,
}

/// Enqueue inside the caller's transaction. A `dedupe_key` makes the enqueue idempotent.
pub async fn enqueue(
    tx: &mut Tx,
    spec: &JobSpec,
    dedupe_key: Option<&str>,
    run_at: i64,
    now: i64,
) -> Result<Option<i64>> {
    let payload = serde_json::to_string(spec).map_err(|e| crate::ServiceError::Internal(e.to_string()))?;
    Ok(tx.jobs().enqueue(spec.kind(), &payload, dedupe_key, run_at, spec.max_attempts(), now).await?)
}

/// A job row to write later with other rows ([`beian_store::appends::Appends`]); what
/// [`enqueue`] writes at once.
pub(crate) fn new_job(
    spec: &JobSpec,
    dedupe_key: Option<&str>,
    run_at: i64,
    now: i64,
) -> Result<beian_store::appends::NewJob> {
    Ok(beian_store::appends::NewJob {
        kind: spec.kind().to_string(),
        payload: serde_json::to_string(spec).map_err(|e| crate::ServiceError::Internal(e.to_string()))?,
        dedupe_key: dedupe_key.map(str::to_string),
        run_at,
        max_attempts: spec.max_attempts(),
        now,
    })
}

/// A leased job with its decoded spec.
#[derive(Debug, Clone)]
pub struct LeasedJob {
    pub job: Job,
    pub spec: Option<JobSpec>,
}

impl JobQueue<'_> {
    /// Lease the next due job for `worker`.
    pub async fn claim_job(&self, worker: &str) -> Result<Option<LeasedJob>> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let job = tx.jobs().claim(worker, now, LEASE_SECS).await?;
        tx.commit().await?;
        Ok(job.map(|job| {
            let spec = serde_json::from_str(&job.payload).ok();
            LeasedJob { job, spec }
        }))
    }

    /// In one transaction: mark `done` finished (those `worker` still holds; the ids marked
    /// are returned, a missing one had lost its lease) and lease up to `limit` more due jobs,
    /// the earliest due first. What a worker running many jobs at once calls between them.
    pub async fn complete_and_claim(
        &self,
        worker: &str,
        done: &[i64],
        limit: usize,
    ) -> Result<(Vec<i64>, Vec<LeasedJob>)> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let completed = tx.jobs().complete_batch(done, worker, now).await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let jobs = tx.jobs().claim_batch(worker, now, LEASE_SECS, limit).await?;
        tx.commit().await?;
        let leased = jobs
            .into_iter()
            .map(|job| {
                let spec = serde_json::from_str(&job.payload).ok();
                LeasedJob { job, spec }
            })
            .collect();
        Ok((completed, leased))
    }

    /// The job succeeded; false if the lease was lost meanwhile.
    pub async fn complete_job(&self, id: i64, worker: &str) -> Result<bool> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let ok = tx.jobs().complete(id, worker, now).await?;
        tx.commit().await?;
        Ok(ok)
    }

    /// The job failed: retry with backoff, or dead-letter after its last attempt.
    pub async fn fail_job(&self, job: &Job, worker: &str, error: &str) -> Result<bool> {
        let now = self.now().timestamp();
        let retry_at = (job.attempts < job.max_attempts).then(|| now + backoff_secs(job.attempts));
        let mut tx = self.store.begin().await?;
        let ok = tx.jobs().fail(job.id, worker, error, retry_at, now).await?;
        tx.commit().await?;
        if retry_at.is_none() {
            tracing::warn!(job = job.id, kind = %job.kind, "job moved to dead letters after {} attempts: {error}", job.attempts);
        }
        Ok(ok)
    }

    /// The job failed for good (its sender refused it: retrying cannot help): dead-letter it
    /// now, whatever attempts it has left, for an operator to look at and retry or discard.
    pub async fn dead_letter_job(&self, job: &Job, worker: &str, error: &str) -> Result<bool> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let ok = tx.jobs().fail(job.id, worker, error, None, now).await?;
        tx.commit().await?;
        tracing::warn!(job = job.id, kind = %job.kind, "job moved to dead letters, refused: {error}");
        Ok(ok)
    }

    pub async fn jobs(&self, state: Option<JobState>, limit: i64) -> Result<Vec<Job>> {
        let mut tx = self.store.read().await?;
        Ok(tx.jobs().list(state, limit).await?)
    }

    pub async fn job(&self, id: i64) -> Result<Option<Job>> {
        let mut tx = self.store.read().await?;
        Ok(tx.jobs().get(id).await?)
    }

    /// Put a dead-lettered job back in the queue.
    pub async fn retry_dead_job(&self, id: i64) -> Result<bool> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let ok = tx.jobs().retry(id, now).await?;
        tx.commit().await?;
        Ok(ok)
    }

    /// Give up on a dead-lettered job (operators), audited.
    pub async fn discard_dead_job(&self, actor: &crate::Actor, id: i64) -> Result<bool> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let ok = tx.jobs().discard(id, now).await?;
        if ok {
            crate::audit(
                &mut tx,
                now,
                actor,
                beian_core::model::AuditEntity::Job,
                &id.to_string(),
                AuditAction::Discard,
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ok)
    }

    /// (state, count, oldest run_at) for dashboards and metrics.
    pub async fn job_stats(&self) -> Result<Vec<(String, i64, i64)>> {
        let mut tx = self.store.read().await?;
        Ok(tx.jobs().stats().await?)
    }
}

impl Operations<'_> {
    /// Audit events matching an entity id, actor or action (empty: the latest).
    pub async fn search_audit(&self, needle: &str, limit: i64) -> Result<Vec<beian_core::model::AuditEvent>> {
        let mut tx = self.store.read().await?;
        Ok(tx.audit().search(needle.trim(), limit).await?)
    }
}

impl Operations<'_> {
    /// Filing orders per stored status code (metrics, dashboards).
    pub async fn filings_by_status(&self) -> Result<Vec<(i64, i64)>> {
        let mut tx = self.store.read().await?;
        Ok(tx.orders().count_by_status().await?)
    }
}

/// A phone number or e-mail address shown by its edges only: `138****0001`, `a***@example.com`.
pub fn mask_personal(v: &str) -> String {
    if let Some((local, domain)) = v.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    let c: Vec<char> = v.chars().collect();
    if c.len() <= 7 {
        return "*".repeat(c.len());
    }
    let head: String = c[..3].iter().collect();
    let tail: String = c[c.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[cfg(test)]
mod redact_tests {
    use super::*;

    #[test]
    fn delivery_errors_lose_the_personal_values() {
        let sms = JobSpec::Sms {
            phone: "13800010001".into(),
            text: "t".into(),
            event: "status_notice".into(),
            params: vec![],
        };
        assert_eq!(
            sms.redact("gateway said: \"13800010001\" is blocked"),
            "gateway said: \"138****0001\" is blocked"
        );
        let mail = JobSpec::Email { to: "admin7@example.com".into(), subject: "s".into(), body: "b".into() };
        assert_eq!(
            mail.redact("RCPT TO: 550 <admin7@example.com> unknown"),
            "RCPT TO: 550 <a***@example.com> unknown"
        );
    }
}
