//! The worker that runs durable jobs: it leases a due job, does it, and marks it done, or
//! failed with backoff (dead-lettered after its last attempt, or at once when the failure is
//! permanent: [`PortError::Refused`]).
//!
//! Jobs are written by use cases in the same transaction as the change that caused them;
//! this is the only place that talks to the network on their behalf. Several workers (in
//! several `beian` processes on one PostgreSQL) may run at once: leases keep a job with one.
//! Outbound messages go through the senders of [`Channels`] (`beian_ports::messaging`
//! traits); which implementation is chosen from configuration in `beian/src/app.rs`.
//!
//! An event counts as delivered only when the receiver answers HTTP 2xx with the body
//! `success`, as WeChat requires; anything else is retried.

pub mod notify;

use beian_core::platform::backoff_secs;
use beian_ports::authority::{AuthorityGateway, Operation, Timer};
use beian_ports::messaging::{
    EmailMessage, EmailSender, NoSmsChannel, SmsMessage, SmsSender, WebhookDelivery, WebhookSender,
};
use beian_ports::{PortError, PortResult};
use beian_service::jobs::{EventPush, JobSpec, LeasedJob};
use beian_service::Service;
use beian_wxcrypt::{xml_message, WxCrypt, XmlValue};
use std::sync::Arc;
use std::time::Duration;

/// Where the worker sends what it sends: one sender per kind of message.
#[derive(Clone)]
pub struct Channels {
    /// Texts: the HTTP gateway, the development outbox (a stand-in), or [`NoSmsChannel`].
    pub sms: Arc<dyn SmsSender>,
    /// `None`: no e-mail channel; e-mail jobs are skipped (logged), not failed (and none are
    /// queued while the service is told so, see `Service::set_email_channel`).
    pub email: Option<Arc<dyn EmailSender>>,
    pub webhook: Arc<dyn WebhookSender>,
    /// Where submissions go and whose timers run (the binary wires the built-in simulator);
    /// `None`: authority jobs fail and are retried until one is configured.
    pub authority: Option<Arc<dyn AuthorityGateway>>,
    /// Texts pass beian's dedupe and per-number caps first (`beian_service::sms_limits`):
    /// set for the real senders (a vendor, the HTTP gateway), not the development outbox.
    pub sms_limited: bool,
}

impl Default for Channels {
    /// Nothing configured: no SMS channel (texts are dead-lettered), no e-mail, webhooks over
    /// HTTP, no authority gateway.
    fn default() -> Self {
        Channels {
            sms: Arc::new(NoSmsChannel),
            email: None,
            webhook: Arc::new(notify::HttpWebhookSender::new(notify::http_client())),
            authority: None,
            sms_limited: false,
        }
    }
}

/// A failure the job may get past on a later attempt.
fn retry(e: impl std::fmt::Display) -> PortError {
    PortError::Retry(e.to_string())
}

pub struct Worker {
    svc: Arc<Service>,
    id: String,
    http: reqwest::Client,
    idle_poll: Duration,
    channels: Channels,
    last_daily_check: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Worker {
    pub fn new(svc: Arc<Service>) -> Worker {
        let id = format!("worker-{}-{}", std::process::id(), &random_hex(4));
        let http = notify::http_client();
        Worker {
            svc,
            id,
            http,
            idle_poll: Duration::from_millis(500),
            channels: Channels::default(),
            last_daily_check: std::sync::Mutex::new(None),
        }
    }

    pub fn with_channels(mut self, channels: Channels) -> Worker {
        self.channels = channels;
        self
    }

    /// Queue the daily jobs (reminders, clearance) at most once a minute.
    async fn daily(&self) {
        {
            let mut last = self.last_daily_check.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(60)) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        if let Err(e) = self.svc.job_queue().ensure_daily_jobs().await {
            tracing::error!("queueing daily jobs: {e}");
        }
    }

    /// How long to sleep when no job is due.
    pub fn with_idle_poll(mut self, d: Duration) -> Worker {
        self.idle_poll = d;
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Run one due job, if any. `Ok(true)` when a job was processed (whatever its outcome).
    pub async fn run_once(&self) -> Result<bool, beian_service::ServiceError> {
        let Some(leased) = self.svc.job_queue().claim_job(&self.id).await? else { return Ok(false) };
        let redact = |e: String| match &leased.spec {
            Some(spec) => spec.redact(&e),
            None => e,
        };
        let job = &leased.job;
        // A text over a per-number cap waits for its window (sms_limits), not the backoff.
        if let Some(JobSpec::Sms { phone, event, params, .. }) =
            leased.spec.as_ref().filter(|_| self.channels.sms_limited)
        {
            use beian_service::sms_limits::SmsAdmission;
            match self.svc.job_queue().admit_sms(phone, event, params).await? {
                SmsAdmission::Send => {}
                SmsAdmission::Duplicate => {
                    tracing::info!(job = job.id, event = %event, "the same text went to this number within the dedupe window: not sent again");
                    self.svc.job_queue().complete_job(job.id, &self.id).await?;
                    return Ok(true);
                }
                SmsAdmission::Capped { until, reason } => {
                    tracing::info!(job = job.id, until, "{reason}");
                    self.svc.job_queue().defer_job(job, &self.id, &reason, until).await?;
                    return Ok(true);
                }
            }
        }
        match self.handle(&leased).await {
            Ok(()) => {
                if !self.svc.job_queue().complete_job(job.id, &self.id).await? {
                    tracing::warn!(job = job.id, "job finished after its lease was taken over");
                }
            }
            Err(PortError::Retry(e)) => {
                let e = redact(e);
                tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, "job failed, retry in {}s: {e}", backoff_secs(job.attempts));
                self.svc.job_queue().fail_job(job, &self.id, &e).await?;
            }
            Err(PortError::Refused(e)) => {
                self.svc.job_queue().dead_letter_job(job, &self.id, &redact(e)).await?;
            }
        }
        Ok(true)
    }

    /// Work until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            // Stop between jobs, not only when the queue is empty: a long backlog must not
            // keep the process from shutting down (a job in hand is finished first).
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = std::future::ready(()) => {}
            }
            self.daily().await;
            let worked = match self.run_once().await {
                Ok(w) => w,
                Err(e) => {
                    tracing::error!("job worker: {e}");
                    false
                }
            };
            if worked {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.idle_poll) => {}
            }
        }
    }

    async fn handle(&self, leased: &LeasedJob) -> PortResult<()> {
        match &leased.spec {
            Some(JobSpec::Event(push)) => self.deliver(push).await.map_err(PortError::Retry),
            Some(JobSpec::VerifyTicket { component_appid }) => {
                // The next push is scheduled whatever happens to this one.
                self.svc.providers().schedule_next_ticket(component_appid).await.map_err(retry)?;
                let ticket =
                    self.svc.providers().issue_verify_ticket(component_appid).await.map_err(retry)?;
                let push = EventPush {
                    component_appid: component_appid.clone(),
                    info_type: "component_verify_ticket".into(),
                    create_time: self.svc.now().timestamp(),
                    fields: vec![("ComponentVerifyTicket".into(), ticket, false)],
                };
                self.deliver(&push).await.map_err(PortError::Retry)
            }
            Some(JobSpec::Sms { phone, text, event, params }) => {
                let m = SmsMessage {
                    phone: phone.clone(),
                    text: text.clone(),
                    event: event.clone(),
                    params: params.clone(),
                };
                self.channels.sms.send_sms(&m).await?;
                if !self.channels.sms_limited {
                    return Ok(());
                }
                if let Err(e) = self.svc.job_queue().record_sms(phone, event, params).await {
                    tracing::warn!("counting a sent SMS against its number's limits: {e}");
                }
                Ok(())
            }
            Some(JobSpec::Email { to, subject, body }) => match &self.channels.email {
                Some(email) => {
                    let m = EmailMessage { to: to.clone(), subject: subject.clone(), body: body.clone() };
                    email.send_email(&m).await
                }
                None => {
                    tracing::debug!("no SMTP server configured; e-mail to a principal skipped");
                    Ok(())
                }
            },
            Some(JobSpec::Webhook { appid, payload }) => {
                let event = payload["template"].as_str().unwrap_or("notice").to_string();
                let id = leased.job.id;
                match self.svc.mini_programs().webhook_for_delivery(appid, id, &event).await.map_err(retry)? {
                    Some(hook) => {
                        let d = WebhookDelivery {
                            url: hook.url,
                            secret: hook.secret,
                            event,
                            // The job's id: the same on every retry of this delivery.
                            event_id: format!("evt_{id}"),
                            payload: payload.clone(),
                        };
                        self.channels.webhook.send_webhook(&d).await
                    }
                    // Removed or switched off since the notice: nothing to send.
                    None => Ok(()),
                }
            }
            Some(JobSpec::AuthoritySubmit { appid, round }) => {
                let op = self.svc.filings().authority_submission(appid, *round).await.map_err(retry)?;
                self.submit(op).await
            }
            Some(JobSpec::AuthorityCancel { appid, round }) => {
                let op = self.svc.filings().authority_cancellation(appid, *round).await.map_err(retry)?;
                self.submit(op).await
            }
            Some(JobSpec::AuthorityTimer { name, appid, round }) => {
                self.fire(Timer { name: name.clone(), appid: appid.clone(), round: *round }).await
            }
            // Rows the simulator wrote before it had its own timers.
            Some(JobSpec::AuthorityDecision { appid, round }) => {
                self.fire(Timer { name: "decision".into(), appid: appid.clone(), round: *round }).await
            }
            Some(JobSpec::SmsTimeout { appid, round, purpose }) => {
                self.fire(Timer {
                    name: format!("sms_timeout:{purpose}"),
                    appid: appid.clone(),
                    round: *round,
                })
                .await
            }
            Some(JobSpec::DeadlineReminders { day }) => {
                let day: chrono::NaiveDate = day.parse().map_err(|e| retry(format!("bad day {day}: {e}")))?;
                self.svc.job_queue().deadline_reminders(day).await.map(|_| ()).map_err(retry)
            }
            Some(JobSpec::ClearanceSweep { sweep_id }) => self
                .svc
                .job_queue()
                .clearance_sweep(&beian_service::Actor::system(), sweep_id, 1000, |_| {})
                .await
                .map(|_| ())
                .map_err(retry),
            Some(JobSpec::PersonalDataErasure { .. }) => self
                .svc
                .operations()
                .erase_expired(&beian_service::Actor::system(), false)
                .await
                .map(|r| {
                    if r.erased > 0 {
                        tracing::info!(erased = r.erased, "personal data past retention erased");
                    }
                })
                .map_err(retry),
            // Retried, not refused: during a rolling upgrade a newer node may know the kind.
            None => Err(retry(format!("unknown job payload of kind {}", leased.job.kind))),
        }
    }

    fn gateway(&self) -> PortResult<&Arc<dyn AuthorityGateway>> {
        self.channels.authority.as_ref().ok_or_else(|| retry("no authority gateway is configured"))
    }

    /// Hand an operation to the gateway; `None` (the order moved on) is done.
    async fn submit(&self, op: Option<Operation>) -> PortResult<()> {
        match op {
            Some(op) => self.gateway()?.submit(op).await,
            None => Ok(()),
        }
    }

    async fn fire(&self, timer: Timer) -> PortResult<()> {
        self.gateway()?.fire(timer).await
    }

    /// POST the encrypted, signed XML envelope to the provider's event URL.
    async fn deliver(&self, push: &EventPush) -> Result<(), String> {
        let p = self.svc.providers().provider(&push.component_appid).await.map_err(|e| e.to_string())?;
        let crypt =
            WxCrypt::new(&p.msg_token, &p.encoding_aes_key, &p.component_appid).map_err(|e| e.to_string())?;
        let mut fields = vec![
            ("AppId", XmlValue::Text(p.component_appid.clone())),
            ("CreateTime", XmlValue::Number(push.create_time)),
            ("InfoType", XmlValue::Text(push.info_type.clone())),
        ];
        for (k, v, numeric) in &push.fields {
            let value = match (numeric, v.parse::<i64>()) {
                (true, Ok(n)) => XmlValue::Number(n),
                _ => XmlValue::Text(v.clone()),
            };
            fields.push((k.as_str(), value));
        }
        let encrypt = crypt.encrypt(&xml_message(&fields));
        let timestamp = self.svc.now().timestamp().to_string();
        let nonce = random_hex(8);
        let signature = crypt.sign(&timestamp, &nonce, &encrypt);
        let resp = self
            .http
            .post(&p.event_url)
            .query(&[
                ("timestamp", timestamp.as_str()),
                ("nonce", &nonce),
                ("encrypt_type", "aes"),
                ("msg_signature", &signature),
            ])
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(crypt.envelope(&encrypt))
            .send()
            .await
            .map_err(|e| format!("POST {}: {e}", p.event_url))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status.is_success() && body.trim() == "success" {
            Ok(())
        } else {
            Err(format!(
                "receiver answered HTTP {status} {:?}, not \"success\"",
                body.chars().take(80).collect::<String>()
            ))
        }
    }
}

fn random_hex(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}
