//! What is said to a mini program's developers: 站内信, the SMS outbox, SMS verification
//! codes, webhook and notice preferences, console tickets (工单).

use crate::query::CHUNK;
use crate::tx::{b, u};
use crate::{Result, Tx};
use beian_core::platform::{
    EventFilter, JobState, Message, NotifyPrefs, OutboxSms, SmsCode, Ticket, TicketMessage, WebhookConfig,
    WebhookDeliveryRecord, WebhookTarget,
};
use sqlx::any::AnyRow;
use sqlx::Row;

/// 站内信: messages to a mini program's developers.
pub struct Messages<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// 站内信: messages to a mini program's developers.
    pub fn messages(&mut self) -> Messages<'_> {
        Messages { tx: self }
    }
}

impl Messages<'_> {
    pub async fn insert(&mut self, appid: &str, title: &str, body: &str, now: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO messages (appid, title, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(appid)
        .bind(title)
        .bind(body)
        .bind(now)
        .fetch_one(&mut *self.tx.conn)
        .await?)
    }

    pub async fn of(&mut self, appid: &str, limit: i64) -> Result<Vec<Message>> {
        let rows = sqlx::query("SELECT * FROM messages WHERE appid = $1 ORDER BY id DESC LIMIT $2")
            .bind(appid)
            .bind(limit)
            .fetch_all(&mut *self.tx.conn)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Message {
                    id: r.try_get("id")?,
                    appid: r.try_get("appid")?,
                    title: r.try_get("title")?,
                    body: r.try_get("body")?,
                    created_at: r.try_get("created_at")?,
                    read_at: r.try_get("read_at")?,
                })
            })
            .collect()
    }

    pub async fn unread_count(&mut self, appid: &str) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE appid = $1 AND read_at IS NULL")
            .bind(appid)
            .fetch_one(&mut *self.tx.conn)
            .await?)
    }

    pub async fn mark_read(&mut self, appid: &str, id: i64, now: i64) -> Result<bool> {
        let res =
            sqlx::query("UPDATE messages SET read_at = $3 WHERE appid = $1 AND id = $2 AND read_at IS NULL")
                .bind(appid)
                .bind(id)
                .bind(now)
                .execute(&mut *self.tx.conn)
                .await?;
        Ok(res.rows_affected() == 1)
    }
}

/// The SMS outbox (what the simulator's phone receives).
pub struct Outbox<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// The SMS outbox (what the simulator's phone receives).
    pub fn outbox(&mut self) -> Outbox<'_> {
        Outbox { tx: self }
    }
}

impl Outbox<'_> {
    pub async fn insert(&mut self, phone: &str, text: &str, now: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO sms_outbox (phone_bidx, phone_enc, text_enc, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(self.tx.crypto.blind_index(phone))
        .bind(self.tx.crypto.encrypt_str(phone))
        .bind(self.tx.crypto.encrypt_str(text))
        .bind(now)
        .fetch_one(&mut *self.tx.conn)
        .await?)
    }

    /// Several texts (phone, text, time) in multi-row statements, in the order given.
    pub async fn insert_many(&mut self, texts: &[(&str, &str, i64)]) -> Result<()> {
        for chunk in texts.chunks(CHUNK / 4) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${}, ${})", 4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4))
                .collect();
            let sql = format!(
                "INSERT INTO sms_outbox (phone_bidx, phone_enc, text_enc, created_at) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (phone, text, at) in chunk {
                q = q
                    .bind(self.tx.crypto.blind_index(phone))
                    .bind(self.tx.crypto.encrypt_str(phone))
                    .bind(self.tx.crypto.encrypt_str(text))
                    .bind(*at);
            }
            q.execute(&mut *self.tx.conn).await?;
        }
        Ok(())
    }

    /// Newest first; only one phone's messages when `phone` is given.
    pub async fn list(&mut self, phone: Option<&str>, limit: i64) -> Result<Vec<OutboxSms>> {
        let rows = match phone {
            Some(p) => {
                sqlx::query("SELECT * FROM sms_outbox WHERE phone_bidx = $1 ORDER BY id DESC LIMIT $2")
                    .bind(self.tx.crypto.blind_index(p))
                    .bind(limit)
                    .fetch_all(&mut *self.tx.conn)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM sms_outbox ORDER BY id DESC LIMIT $1")
                    .bind(limit)
                    .fetch_all(&mut *self.tx.conn)
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(OutboxSms {
                    id: r.try_get("id")?,
                    phone: self.tx.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("phone_enc")?)?,
                    text: self.tx.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("text_enc")?)?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}

/// SMS verification codes (stored as keyed MACs).
pub struct SmsCodes<'t> {
    tx: &'t mut Tx,
}

impl<'t> crate::authority::Authority<'t> {
    /// The simulator's verification codes (the authority seam's rows).
    pub fn sms_codes(self) -> SmsCodes<'t> {
        SmsCodes { tx: self.tx }
    }
}

impl SmsCodes<'_> {
    pub async fn insert(&mut self, c: &SmsCode) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO sms_codes (appid, purpose, round, phone_bidx, phone_enc, id_last6_hash, code_hash, attempts, state, sent_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&c.appid)
        .bind(&c.purpose)
        .bind(i64::from(c.round))
        .bind(self.tx.crypto.blind_index(&c.phone))
        .bind(self.tx.crypto.encrypt_str(&c.phone))
        .bind(&c.id_last6_hash)
        .bind(&c.code_hash)
        .bind(i64::from(c.attempts))
        .bind(&c.state)
        .bind(c.sent_at)
        .bind(c.expires_at)
        .fetch_one(&mut *self.tx.conn)
        .await?)
    }

    /// Pending codes sent to a phone, newest first.
    pub async fn pending_for_phone(&mut self, phone: &str) -> Result<Vec<SmsCode>> {
        let rows = sqlx::query(
            "SELECT * FROM sms_codes WHERE phone_bidx = $1 AND state = 'pending' ORDER BY id DESC",
        )
        .bind(self.tx.crypto.blind_index(phone))
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter().map(|r| self.sms_code_from_row(r)).collect()
    }

    pub async fn of(&mut self, appid: &str, purpose: &str, round: u32) -> Result<Vec<SmsCode>> {
        let rows = sqlx::query(
            "SELECT * FROM sms_codes WHERE appid = $1 AND purpose = $2 AND round = $3 ORDER BY id",
        )
        .bind(appid)
        .bind(purpose)
        .bind(i64::from(round))
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter().map(|r| self.sms_code_from_row(r)).collect()
    }

    pub async fn update(&mut self, id: i64, attempts: u32, state: &str) -> Result<()> {
        sqlx::query("UPDATE sms_codes SET attempts = $2, state = $3 WHERE id = $1")
            .bind(id)
            .bind(i64::from(attempts))
            .bind(state)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    /// Expire every pending code of an order's round (on timeout or resend).
    pub async fn expire(&mut self, appid: &str, purpose: &str) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE sms_codes SET state = 'expired' WHERE appid = $1 AND purpose = $2 AND state = 'pending'",
        )
        .bind(appid)
        .bind(purpose)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(res.rows_affected())
    }

    fn sms_code_from_row(&self, r: &AnyRow) -> Result<SmsCode> {
        Ok(SmsCode {
            id: r.try_get("id")?,
            appid: r.try_get("appid")?,
            purpose: r.try_get("purpose")?,
            round: u(r.try_get("round")?, "round")?,
            phone: self.tx.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("phone_enc")?)?,
            id_last6_hash: r.try_get("id_last6_hash")?,
            code_hash: r.try_get("code_hash")?,
            attempts: u(r.try_get("attempts")?, "attempts")?,
            state: r.try_get("state")?,
            sent_at: r.try_get("sent_at")?,
            expires_at: r.try_get("expires_at")?,
        })
    }
}

/// Where a mini program's notices go: webhook and preferences.
pub struct NotifySettings<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Where a mini program's notices go: webhook and preferences.
    pub fn notify(&mut self) -> NotifySettings<'_> {
        NotifySettings { tx: self }
    }
}

impl NotifySettings<'_> {
    /// Write a mini program's webhook; the secret is stored encrypted (it signs deliveries,
    /// so it cannot be hashed).
    pub async fn put_webhook(
        &mut self,
        appid: &str,
        url: &str,
        secret: &str,
        target: &WebhookTarget,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhooks (appid, url, secret_enc, events, enabled, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (appid) DO UPDATE SET url = excluded.url, secret_enc = excluded.secret_enc, \
             events = excluded.events, enabled = excluded.enabled, updated_at = excluded.updated_at",
        )
        .bind(appid)
        .bind(url)
        .bind(self.tx.crypto.encrypt_str(secret))
        .bind(target.events.to_column())
        .bind(b(target.enabled))
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// A mini program's webhook, secret decrypted.
    pub async fn webhook(&mut self, appid: &str) -> Result<Option<WebhookConfig>> {
        let row =
            sqlx::query("SELECT url, secret_enc, events, enabled, updated_at FROM webhooks WHERE appid = $1")
                .bind(appid)
                .fetch_optional(&mut *self.tx.conn)
                .await?;
        row.map(|r| {
            let secret: Option<Vec<u8>> = r.try_get("secret_enc")?;
            Ok(WebhookConfig {
                url: r.try_get("url")?,
                secret: secret.map(|s| self.tx.crypto.decrypt_str(&s)).transpose()?,
                target: WebhookTarget {
                    enabled: r.try_get::<i64, _>("enabled")? != 0,
                    events: EventFilter::from_column(r.try_get("events")?),
                },
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    /// Log that job `job_id` delivers `event` to `appid`'s webhook (once per job).
    pub async fn log_delivery(&mut self, job_id: i64, appid: &str, event: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (job_id, appid, event, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (job_id) DO NOTHING",
        )
        .bind(job_id)
        .bind(appid)
        .bind(event)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// `appid`'s webhook deliveries, newest first, with their jobs' state.
    pub async fn deliveries(&mut self, appid: &str, limit: i64) -> Result<Vec<WebhookDeliveryRecord>> {
        let rows = sqlx::query(
            "SELECT d.job_id, d.event, d.created_at, j.state, j.attempts, j.run_at, j.last_error \
             FROM webhook_deliveries d JOIN jobs j ON j.id = d.job_id \
             WHERE d.appid = $1 ORDER BY d.job_id DESC LIMIT $2",
        )
        .bind(appid)
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// One delivery of `appid`'s webhook (`None` when the job is not one of them).
    pub async fn delivery(&mut self, appid: &str, job_id: i64) -> Result<Option<WebhookDeliveryRecord>> {
        let row = sqlx::query(
            "SELECT d.job_id, d.event, d.created_at, j.state, j.attempts, j.run_at, j.last_error \
             FROM webhook_deliveries d JOIN jobs j ON j.id = d.job_id WHERE d.appid = $1 AND d.job_id = $2",
        )
        .bind(appid)
        .bind(job_id)
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    /// Send a failed delivery of `appid` again, now: a dead job gets one more attempt, a
    /// pending one (backing off after a failure) is due at once. False when the job is not a
    /// failed delivery of `appid`.
    pub async fn redeliver(&mut self, appid: &str, job_id: i64, now: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE jobs SET state = 'pending', run_at = $3, \
             max_attempts = CASE WHEN state = 'dead' AND attempts >= max_attempts THEN attempts + 1 ELSE max_attempts END, \
             updated_at = $3 \
             WHERE id = $2 AND (state = 'dead' OR (state = 'pending' AND last_error IS NOT NULL)) \
             AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.job_id = $2 AND d.appid = $1)",
        )
        .bind(appid)
        .bind(job_id)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn prefs(&mut self, appid: &str) -> Result<NotifyPrefs> {
        let row = sqlx::query("SELECT * FROM notify_prefs WHERE appid = $1")
            .bind(appid)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        Ok(match row {
            Some(r) => NotifyPrefs {
                sms: r.try_get::<i64, _>("sms")? != 0,
                email: r.try_get::<i64, _>("email")? != 0,
                webhook: r.try_get::<i64, _>("webhook")? != 0,
            },
            None => NotifyPrefs::default(),
        })
    }

    /// The channel preferences and the webhook's subscription (if one is configured), in one
    /// statement.
    pub async fn targets(&mut self, appid: &str) -> Result<(NotifyPrefs, Option<WebhookTarget>)> {
        let r = sqlx::query(&format!(
            "SELECT {TARGET_COLUMNS} FROM (SELECT 1 AS one) x {TARGET_JOINS}",
            TARGET_JOINS = target_joins("$1")
        ))
        .bind(appid)
        .fetch_one(&mut *self.tx.conn)
        .await?;
        targets_from_row(&r)
    }

    pub async fn put_prefs(&mut self, appid: &str, p: NotifyPrefs) -> Result<()> {
        sqlx::query(
            "INSERT INTO notify_prefs (appid, sms, email, webhook) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (appid) DO UPDATE SET sms = excluded.sms, email = excluded.email, webhook = excluded.webhook",
        )
        .bind(appid)
        .bind(b(p.sms))
        .bind(b(p.email))
        .bind(b(p.webhook))
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }
}

/// Console tickets (工单) and their messages.
pub struct Tickets<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Console tickets (工单) and their messages.
    pub fn tickets(&mut self) -> Tickets<'_> {
        Tickets { tx: self }
    }
}

impl Tickets<'_> {
    pub async fn insert(&mut self, t: &Ticket) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO tickets (appid, account_id, title, context, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(&t.appid)
        .bind(&t.account_id)
        .bind(&t.title)
        .bind(&t.context)
        .bind(&t.state)
        .bind(t.created_at)
        .fetch_one(&mut *self.tx.conn)
        .await?)
    }

    pub async fn set_state(&mut self, id: i64, state: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE tickets SET state = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(state)
            .bind(now)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    pub async fn get(&mut self, id: i64) -> Result<Option<Ticket>> {
        let row = sqlx::query("SELECT * FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| ticket_from_row(&r)).transpose()
    }

    /// Tickets of some mini programs (a developer's), or all (operators) when `appids` is None.
    pub async fn list(&mut self, appids: Option<&[String]>) -> Result<Vec<Ticket>> {
        let rows = sqlx::query("SELECT * FROM tickets ORDER BY updated_at DESC, id DESC LIMIT 500")
            .fetch_all(&mut *self.tx.conn)
            .await?;
        let all: Vec<Ticket> = rows.iter().map(ticket_from_row).collect::<Result<_>>()?;
        Ok(match appids {
            Some(list) => all.into_iter().filter(|t| list.contains(&t.appid)).collect(),
            None => all,
        })
    }

    pub async fn insert_message(
        &mut self,
        ticket_id: i64,
        author: &str,
        body: &str,
        now: i64,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar("INSERT INTO ticket_messages (ticket_id, author, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(ticket_id)
            .bind(author)
            .bind(body)
            .bind(now)
            .fetch_one(&mut *self.tx.conn)
            .await?)
    }

    pub async fn messages(&mut self, ticket_id: i64) -> Result<Vec<TicketMessage>> {
        let rows = sqlx::query("SELECT * FROM ticket_messages WHERE ticket_id = $1 ORDER BY id")
            .bind(ticket_id)
            .fetch_all(&mut *self.tx.conn)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TicketMessage {
                    id: r.try_get("id")?,
                    ticket_id: r.try_get("ticket_id")?,
                    author: r.try_get("author")?,
                    body: r.try_get("body")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}

fn ticket_from_row(r: &AnyRow) -> Result<Ticket> {
    Ok(Ticket {
        id: r.try_get("id")?,
        appid: r.try_get("appid")?,
        account_id: r.try_get("account_id")?,
        title: r.try_get("title")?,
        context: r.try_get("context")?,
        state: r.try_get("state")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn delivery_from_row(r: &AnyRow) -> Result<WebhookDeliveryRecord> {
    let state: String = r.try_get("state")?;
    Ok(WebhookDeliveryRecord {
        job_id: r.try_get("job_id")?,
        event: r.try_get("event")?,
        created_at: r.try_get("created_at")?,
        state: JobState::parse(&state)
            .ok_or_else(|| crate::StoreError::Corrupt(format!("job state {state}")))?,
        attempts: u(r.try_get("attempts")?, "attempts")?,
        run_at: r.try_get("run_at")?,
        last_error: r.try_get("last_error")?,
    })
}

/// The columns [`targets_from_row`] reads, from the joins of [`target_joins`].
pub(crate) const TARGET_COLUMNS: &str = "np.sms AS np_sms, np.email AS np_email, np.webhook AS np_webhook, \
     nw.enabled AS hook_enabled, nw.events AS hook_events";

/// The joins of a mini program's channel preferences and webhook, `appid` an SQL expression.
pub(crate) fn target_joins(appid: &str) -> String {
    format!("LEFT JOIN notify_prefs np ON np.appid = {appid} LEFT JOIN webhooks nw ON nw.appid = {appid}")
}

/// Channel preferences (defaults when none are stored) and the webhook's subscription.
pub(crate) fn targets_from_row(r: &AnyRow) -> Result<(NotifyPrefs, Option<WebhookTarget>)> {
    let prefs = match r.try_get::<Option<i64>, _>("np_sms")? {
        Some(sms) => NotifyPrefs {
            sms: sms != 0,
            email: r.try_get::<i64, _>("np_email")? != 0,
            webhook: r.try_get::<i64, _>("np_webhook")? != 0,
        },
        None => NotifyPrefs::default(),
    };
    let hook = match r.try_get::<Option<i64>, _>("hook_enabled")? {
        Some(enabled) => Some(WebhookTarget {
            enabled: enabled != 0,
            events: EventFilter::from_column(r.try_get("hook_events")?),
        }),
        None => None,
    };
    Ok((prefs, hook))
}
