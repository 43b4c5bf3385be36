//! The worker that runs durable jobs: it leases due jobs, does them, and marks them done, or
//! failed with backoff (dead-lettered after its last attempt, or at once when the failure is
//! permanent: [`PortError::Refused`]).
//!
//! One worker runs up to [`Worker::with_concurrency`] jobs at once (`[jobs] concurrency`,
//! default [`DEFAULT_CONCURRENCY`]). It leases them in batches and marks the finished ones done
//! in batches, each batch one transaction (`JobQueue::complete_and_claim`).
//! Jobs with the same [`sequence_key`] (the same provider and mini program for events, the same
//! mini program for authority jobs and webhooks, the same number or address for texts and
//! e-mails) run one after another in the order they were leased, as when the worker ran one
//! job at a time; other jobs run side by side.
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
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Jobs one worker runs at once unless configured (`[jobs] concurrency`).
pub const DEFAULT_CONCURRENCY: usize = 64;

/// Finished jobs are marked done at the latest this long after they finished (usually sooner:
/// with the next lease of more jobs).
const FLUSH_AFTER: Duration = Duration::from_millis(200);

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
    concurrency: usize,
    last_daily_check: std::sync::Mutex<Option<std::time::Instant>>,
}

/// What became of a job [`Worker::process`] ran.
enum Ran {
    /// It succeeded: to be marked done (with others, in one statement).
    Done,
    /// Already written: failed with backoff, deferred, or dead-lettered.
    Settled,
}

/// The key that orders jobs within one worker: jobs sharing it run one at a time, in the order
/// they were leased; `None`, no order is kept. Events: per provider and mini program (the
/// `…appid` field of the event); authority jobs and webhooks: per mini program; texts: per
/// number (their dedupe and caps are checked before and counted after sending); e-mails: per
/// address; the daily jobs: one after another.
pub fn sequence_key(leased: &LeasedJob) -> Option<String> {
    Some(match leased.spec.as_ref()? {
        JobSpec::Event(push) => {
            let appid = push
                .fields
                .iter()
                .find(|(name, _, _)| name.to_ascii_lowercase().ends_with("appid"))
                .map(|(_, v, _)| v.as_str())
                .unwrap_or("");
            format!("event:{}:{appid}", push.component_appid)
        }
        JobSpec::VerifyTicket { component_appid } => format!("event:{component_appid}:"),
        JobSpec::Sms { phone, .. } => format!("sms:{phone}"),
        JobSpec::Email { to, .. } => format!("email:{to}"),
        JobSpec::Webhook { appid, .. } => format!("webhook:{appid}"),
        JobSpec::AuthoritySubmit { appid, .. }
        | JobSpec::AuthorityCancel { appid, .. }
        | JobSpec::AuthorityTimer { appid, .. }
        | JobSpec::AuthorityDecision { appid, .. }
        | JobSpec::SmsTimeout { appid, .. } => format!("authority:{appid}"),
        JobSpec::DeadlineReminders { .. }
        | JobSpec::ClearanceSweep { .. }
        | JobSpec::PersonalDataErasure { .. } => "daily".to_string(),
    })
}

/// The jobs a running worker holds: running, or waiting behind a running job of the same
/// [`sequence_key`].
#[derive(Default)]
struct Pool {
    running: tokio::task::JoinSet<Result<Ran, String>>,
    /// The running task's key and job id.
    tasks: HashMap<tokio::task::Id, (Option<String>, i64)>,
    /// Per key with a running job: the leased jobs of that key waiting their turn.
    waiting: HashMap<String, VecDeque<LeasedJob>>,
    /// Running plus waiting.
    held: usize,
}

impl Pool {
    fn start(&mut self, w: &Arc<Worker>, job: LeasedJob) {
        self.held += 1;
        let key = sequence_key(&job);
        if let Some(k) = &key {
            match self.waiting.get_mut(k) {
                Some(queue) => return queue.push_back(job),
                None => {
                    self.waiting.insert(k.clone(), VecDeque::new());
                }
            }
        }
        self.spawn(w, key, job);
    }

    fn spawn(&mut self, w: &Arc<Worker>, key: Option<String>, job: LeasedJob) {
        let id = job.job.id;
        let w = w.clone();
        let handle = self.running.spawn(async move { w.process(&job).await.map_err(|e| e.to_string()) });
        self.tasks.insert(handle.id(), (key, id));
    }

    /// A task ended: start the next job of its key; the finished job's id if it is to be
    /// marked done.
    fn finished(
        &mut self,
        w: &Arc<Worker>,
        res: Result<(tokio::task::Id, Result<Ran, String>), tokio::task::JoinError>,
    ) -> Option<i64> {
        let (tid, outcome) = match res {
            Ok((tid, outcome)) => (tid, outcome.map_err(|e| format!("job worker: {e}"))),
            Err(e) => (e.id(), Err(format!("job worker: a job's task ended abnormally: {e}"))),
        };
        let (key, id) = self.tasks.remove(&tid)?;
        self.held = self.held.saturating_sub(1);
        if let Some(k) = key {
            match self.waiting.get_mut(&k).and_then(VecDeque::pop_front) {
                Some(next) => self.spawn(w, Some(k), next),
                None => {
                    self.waiting.remove(&k);
                }
            }
        }
        match outcome {
            Ok(Ran::Done) => Some(id),
            Ok(Ran::Settled) => None,
            // The job stays leased; it runs again when its lease ends.
            Err(e) => {
                tracing::error!(job = id, "{e}");
                None
            }
        }
    }
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
            concurrency: DEFAULT_CONCURRENCY,
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

    /// Run up to `n` jobs at once (at least 1).
    pub fn with_concurrency(mut self, n: usize) -> Worker {
        self.concurrency = n.max(1);
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Run one due job, if any. `Ok(true)` when a job was processed (whatever its outcome).
    pub async fn run_once(&self) -> Result<bool, beian_service::ServiceError> {
        let Some(leased) = self.svc.job_queue().claim_job(&self.id).await? else { return Ok(false) };
        if let Ran::Done = self.process(&leased).await? {
            if !self.svc.job_queue().complete_job(leased.job.id, &self.id).await? {
                tracing::warn!(job = leased.job.id, "job finished after its lease was taken over");
            }
        }
        Ok(true)
    }

    /// Do a leased job and record a failure; a success is left to the caller to mark done.
    async fn process(&self, leased: &LeasedJob) -> Result<Ran, beian_service::ServiceError> {
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
                    return Ok(Ran::Done);
                }
                SmsAdmission::Capped { until, reason } => {
                    tracing::info!(job = job.id, until, "{reason}");
                    self.svc.job_queue().defer_job(job, &self.id, &reason, until).await?;
                    return Ok(Ran::Settled);
                }
            }
        }
        match self.handle(leased).await {
            Ok(()) => return Ok(Ran::Done),
            Err(PortError::Retry(e)) => {
                let e = redact(e);
                tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, "job failed, retry in {}s: {e}", backoff_secs(job.attempts));
                self.svc.job_queue().fail_job(job, &self.id, &e).await?;
            }
            Err(PortError::Refused(e)) => {
                self.svc.job_queue().dead_letter_job(job, &self.id, &redact(e)).await?;
            }
        }
        Ok(Ran::Settled)
    }

    /// Work until `shutdown` resolves: up to the configured number of jobs at once, leased
    /// and marked done in batches. On shutdown no more jobs are leased; those in hand are
    /// finished (and marked done) first.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let me = Arc::new(self);
        let k = me.concurrency;
        tokio::pin!(shutdown);
        let mut pool = Pool::default();
        let mut done: Vec<i64> = Vec::new();
        let mut done_since: Option<Instant> = None;
        let mut stopping = false;
        loop {
            // Stop leasing between jobs, not only when the queue is empty: a long backlog
            // must not keep the process from shutting down.
            if !stopping {
                tokio::select! {
                    biased;
                    _ = &mut shutdown => stopping = true,
                    _ = std::future::ready(()) => {}
                }
            }
            if !stopping {
                me.daily().await;
            }
            // Lease more when half the slots are free: one transaction per several jobs.
            let refill = !stopping && pool.held <= k / 2;
            let flush = !done.is_empty()
                && (refill
                    || pool.held == 0
                    || done.len() >= beian_service::jobs::COMPLETE_CHUNK
                    || done_since.is_some_and(|t| t.elapsed() >= FLUSH_AFTER));
            if refill || flush {
                let limit = if refill { k - pool.held } else { 0 };
                match me.svc.job_queue().complete_and_claim(&me.id, &done, limit).await {
                    Ok((completed, leased)) => {
                        if completed.len() < done.len() {
                            tracing::warn!(
                                lost = done.len() - completed.len(),
                                "jobs finished after their lease was taken over"
                            );
                        }
                        done.clear();
                        done_since = None;
                        for job in leased {
                            pool.start(&me, job);
                        }
                    }
                    // Finished ids are kept for the next attempt.
                    Err(e) => tracing::error!("job worker: {e}"),
                }
            }
            if pool.held == 0 {
                if stopping {
                    if !done.is_empty()
                        && me.svc.job_queue().complete_and_claim(&me.id, &done, 0).await.is_err()
                    {
                        tracing::error!(
                            jobs = done.len(),
                            "job worker: finished jobs not marked done; they run again when their leases end"
                        );
                    }
                    break;
                }
                // Idle (or a failed write to retry): wait, unless told to stop.
                tokio::select! {
                    _ = &mut shutdown => stopping = true,
                    _ = tokio::time::sleep(me.idle_poll) => {}
                }
                continue;
            }
            tokio::select! {
                biased;
                Some(res) = pool.running.join_next_with_id() => {
                    if let Some(id) = pool.finished(&me, res) {
                        done.push(id);
                        done_since.get_or_insert_with(Instant::now);
                    }
                    while let Some(res) = pool.running.try_join_next_with_id() {
                        if let Some(id) = pool.finished(&me, res) {
                            done.push(id);
                            done_since.get_or_insert_with(Instant::now);
                        }
                    }
                }
                _ = &mut shutdown, if !stopping => stopping = true,
                _ = tokio::time::sleep(FLUSH_AFTER), if !done.is_empty() => {}
                // Free slots while slow jobs run: look for new due jobs as an idle worker would.
                _ = tokio::time::sleep(me.idle_poll), if !stopping && pool.held <= k / 2 => {}
                else => tokio::time::sleep(FLUSH_AFTER).await,
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
                .clearance_sweep(
                    &beian_service::Actor::system(),
                    sweep_id,
                    beian_service::SWEEP_BATCH,
                    |_| {},
                )
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
