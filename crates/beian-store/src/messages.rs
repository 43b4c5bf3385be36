//! What is said to a mini program's developers: 站内信, the SMS outbox, SMS verification
//! codes, webhook and notice preferences, console tickets (工单).

use crate::tx::{b, u};
use crate::{Result, Tx};
use beian_core::platform::{Message, NotifyPrefs, OutboxSms, SmsCode, Ticket, TicketMessage};
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

    /// The same 站内信 to each of these mini programs, in multi-row statements.
    pub async fn insert_to_each(
        &mut self,
        appids: &[String],
        title: &str,
        body: &str,
        now: i64,
    ) -> Result<()> {
        for chunk in appids.chunks(250) {
            let values: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, $1, $2, $3)", i + 4)).collect();
            let sql =
                format!("INSERT INTO messages (appid, title, body, created_at) VALUES {}", values.join(", "));
            let mut q = sqlx::query(&sql).bind(title).bind(body).bind(now);
            for appid in chunk {
                q = q.bind(appid);
            }
            q.execute(&mut *self.tx.conn).await?;
        }
        Ok(())
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
    pub async fn put_webhook(
        &mut self,
        appid: &str,
        url: &str,
        secret: Option<&str>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhooks (appid, url, secret_enc, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (appid) DO UPDATE SET url = excluded.url, secret_enc = excluded.secret_enc, updated_at = excluded.updated_at",
        )
        .bind(appid)
        .bind(url)
        .bind(secret.map(|s| self.tx.crypto.encrypt_str(s)))
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// (url, secret) of a mini program's webhook.
    pub async fn webhook(&mut self, appid: &str) -> Result<Option<(String, Option<String>)>> {
        let row = sqlx::query("SELECT url, secret_enc FROM webhooks WHERE appid = $1")
            .bind(appid)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| {
            let secret: Option<Vec<u8>> = r.try_get("secret_enc")?;
            Ok((r.try_get("url")?, secret.map(|s| self.tx.crypto.decrypt_str(&s)).transpose()?))
        })
        .transpose()
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

    /// The channel preferences and whether a webhook is configured, in one statement.
    pub async fn targets(&mut self, appid: &str) -> Result<(NotifyPrefs, bool)> {
        let r = sqlx::query(
            "SELECT p.sms, p.email, p.webhook, \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM webhooks w WHERE w.appid = $1) THEN 1 ELSE 0 END AS BIGINT) AS has_webhook \
             FROM (SELECT 1 AS one) x LEFT JOIN notify_prefs p ON p.appid = $1",
        )
        .bind(appid)
        .fetch_one(&mut *self.tx.conn)
        .await?;
        let prefs = match r.try_get::<Option<i64>, _>("sms")? {
            Some(sms) => NotifyPrefs {
                sms: sms != 0,
                email: r.try_get::<i64, _>("email")? != 0,
                webhook: r.try_get::<i64, _>("webhook")? != 0,
            },
            None => NotifyPrefs::default(),
        };
        Ok((prefs, r.try_get::<i64, _>("has_webhook")? != 0))
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
