//! Telling people: every status change writes a 站内信 in the same transaction, and queues
//! the SMS to the admin, the e-mail to the mini-program principal and the template message
//! to the developer's webhook as jobs (PRODUCT rule 8).

use crate::aggregates::{JobQueue, MiniPrograms};
use crate::jobs::{new_job, JobSpec};
use crate::{Result, Service};
use beian_core::model::MiniProgram;
use beian_core::platform::{Message, NotifyPrefs, OutboxSms, WebhookTarget};
use beian_store::appends::{NewJob, NewMessage};
use beian_store::Tx;
use std::sync::Arc;

pub use beian_core::plan::Notice;

/// Record the 站内信 and queue the outbound copies. The notice's key makes a retried use case
/// not notify twice. Only copies that can go somewhere are queued: e-mail when the node can send
/// it (`email_channel`, an SMTP server is configured) and the principal gave an address, the
/// webhook when the mini program has one switched on and subscribed to the notice's kind, each
/// as the channel preferences allow.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn notify(
    tx: &mut Tx,
    mp: &MiniProgram,
    email_channel: bool,
    email: Option<&str>,
    notice: &Notice,
    now: i64,
) -> Result<()> {
    let targets = tx.notify().targets(&mp.appid).await?;
    let (message, jobs) = notice_rows(mp, targets, email_channel, email, notice, now)?;
    tx.messages().insert(&message.appid, &message.title, &message.body, message.at).await?;
    for j in jobs {
        tx.jobs()
            .enqueue(&j.kind, &j.payload, j.dedupe_key.as_deref(), j.run_at, j.max_attempts, j.now)
            .await?;
    }
    Ok(())
}

/// The rows [`notify`] writes, with the channel preferences and the webhook's subscription read
/// (apply reads them before it takes the writer and writes the rows with its group).
#[allow(clippy::too_many_arguments)]
pub(crate) fn notice_rows(
    mp: &MiniProgram,
    (prefs, hook): (NotifyPrefs, Option<WebhookTarget>),
    email_channel: bool,
    email: Option<&str>,
    notice: &Notice,
    now: i64,
) -> Result<(NewMessage, Vec<NewJob>)> {
    let dedupe = &notice.key;
    let message = NewMessage {
        appid: mp.appid.clone(),
        title: notice.title.clone(),
        body: notice.body.clone(),
        at: now,
    };
    let mut jobs = Vec::new();
    if prefs.sms {
        let sms = JobSpec::Sms {
            phone: mp.admin.mobile.clone(),
            text: format!("【小程序备案】{}：{}", mp.name, notice.title),
            event: "status_notice".into(),
            params: vec![("name".into(), mp.name.clone()), ("title".into(), notice.title.clone())],
        };
        jobs.push(new_job(&sms, Some(&format!("{dedupe}:sms")), now, now)?);
    }
    if let Some(to) = email.filter(|e| email_channel && prefs.email && !e.is_empty()) {
        let mail = JobSpec::Email {
            to: to.to_string(),
            subject: format!("小程序备案通知：{}", notice.title),
            body: format!("小程序「{}」（{}）\n\n{}\n\n{}", mp.name, mp.appid, notice.title, notice.body),
        };
        jobs.push(new_job(&mail, Some(&format!("{dedupe}:email")), now, now)?);
    }
    if prefs.webhook && hook.is_some_and(|h| h.wants(notice.kind)) {
        let hook = JobSpec::Webhook {
            appid: mp.appid.clone(),
            payload: serde_json::json!({
                "template": notice.kind,
                "appid": mp.appid,
                "name": mp.name,
                "title": notice.title,
                "body": notice.body,
                "time": now,
            }),
        };
        jobs.push(new_job(&hook, Some(&format!("{dedupe}:webhook")), now, now)?);
    }
    Ok((message, jobs))
}

impl MiniPrograms<'_> {
    /// 站内信 of a mini program, newest first, and the unread count.
    pub async fn messages(&self, appid: &str, limit: i64) -> Result<(Vec<Message>, i64)> {
        let mut tx = self.store.read().await?;
        Ok((tx.messages().of(appid, limit).await?, tx.messages().unread_count(appid).await?))
    }

    pub async fn mark_message_read(&self, appid: &str, id: i64) -> Result<bool> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let ok = tx.messages().mark_read(appid, id, now).await?;
        tx.commit().await?;
        Ok(ok)
    }
}

impl JobQueue<'_> {
    /// The development SMS outbox (what the built-in SMS provider "sent").
    pub async fn sms_outbox(&self, phone: Option<&str>, limit: i64) -> Result<Vec<OutboxSms>> {
        let mut tx = self.store.read().await?;
        Ok(tx.outbox().list(phone, limit).await?)
    }
}

impl Service {
    /// The development outbox as an SMS sender (demo mode, or `sms_outbox = true`).
    pub fn sms_outbox_sender(&self) -> SmsOutbox {
        SmsOutbox { writes: self.small_writes.clone(), clock: self.clock.clone() }
    }
}

/// **A stand-in, not a channel**: the development SMS outbox. Texts are kept (encrypted) in
/// beian's own database, where operators read them (`GET /api/operator/sms-outbox`, `beian
/// outbox`); nothing reaches a phone. Selected only in demo mode or when configured
/// (`sms_outbox = true`, `BEIAN_SMS_OUTBOX`); see `beian/src/app.rs` `channels`. It lives
/// here, not beside the real senders, because it writes beian's own rows.
pub struct SmsOutbox {
    /// Texts are committed with the worker's other small writes (see `small_writes`).
    writes: crate::small_writes::SmallWrites,
    clock: Arc<dyn crate::Clock>,
}

impl beian_ports::messaging::SmsSender for SmsOutbox {
    fn send_sms<'a>(
        &'a self,
        m: &'a beian_ports::messaging::SmsMessage,
    ) -> beian_ports::BoxFuture<'a, beian_ports::PortResult<()>> {
        Box::pin(async move {
            let write = crate::small_writes::SmallWrite::Outbox {
                phone: m.phone.clone(),
                text: m.text.clone(),
                at: self.clock.now().timestamp(),
            };
            self.writes.write(write).await.map_err(|e| beian_ports::PortError::Retry(e.to_string()))
        })
    }
}
