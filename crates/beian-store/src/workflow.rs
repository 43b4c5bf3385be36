//! Queries for staff, the reason catalogue, SMS verification codes, 站内信, the SMS outbox,
//! webhooks, review queues and clearance sweeps; staff browser sessions.

use crate::tx::{b, u};
use crate::{Result, StoreError, Tx};
use beian_core::model::FilingOrder;
use beian_core::platform::{Message, OutboxSms, Reason, Role, SmsCode, Staff, Sweep};
use sqlx::any::AnyRow;
use sqlx::Row;

impl Tx {
    // ---- staff ---------------------------------------------------------------------------

    pub async fn insert_staff(&mut self, s: &Staff, token_hash: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO staff (id, name, role, token_hash, active, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&s.id)
            .bind(&s.name)
            .bind(s.role.as_str())
            .bind(token_hash)
            .bind(b(s.active))
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn staff_by_token(&mut self, token_hash: &str) -> Result<Option<Staff>> {
        let row = sqlx::query("SELECT * FROM staff WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| staff_from_row(&r)).transpose()
    }

    pub async fn list_staff(&mut self) -> Result<Vec<Staff>> {
        let rows =
            sqlx::query("SELECT * FROM staff ORDER BY created_at, id").fetch_all(&mut *self.tx).await?;
        rows.iter().map(staff_from_row).collect()
    }

    // ---- staff browser sessions ----------------------------------------------------------

    pub async fn insert_staff_session(
        &mut self,
        token_hash: &str,
        staff_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO staff_sessions (token_hash, staff_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(token_hash)
        .bind(staff_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The staff member of a session, with its `last_seen_at` and `expires_at`.
    pub async fn staff_session(&mut self, token_hash: &str) -> Result<Option<(Staff, i64, i64)>> {
        let row = sqlx::query(
            "SELECT st.id, st.name, st.role, st.active, s.last_seen_at, s.expires_at \
             FROM staff_sessions s JOIN staff st ON st.id = s.staff_id WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|r| Ok((staff_from_row(&r)?, r.try_get("last_seen_at")?, r.try_get("expires_at")?)))
            .transpose()
    }

    pub async fn touch_staff_session(&mut self, token_hash: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE staff_sessions SET last_seen_at = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn delete_staff_session(&mut self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Forget sessions past their end (`expires_at`) or idle since before `idle_before`.
    pub async fn delete_ended_staff_sessions(&mut self, now: i64, idle_before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM staff_sessions WHERE expires_at <= $1 OR last_seen_at < $2")
            .bind(now)
            .bind(idle_before)
            .execute(&mut *self.tx)
            .await?
            .rows_affected())
    }

    // ---- reasons -------------------------------------------------------------------------

    pub async fn insert_reason(&mut self, r: &Reason, now: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO reasons (key_name, error, suggest, active, updated_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&r.key_name)
        .bind(&r.error)
        .bind(&r.suggest)
        .bind(b(r.active))
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    pub async fn update_reason(&mut self, r: &Reason, now: i64) -> Result<bool> {
        let res = sqlx::query("UPDATE reasons SET key_name = $2, error = $3, suggest = $4, active = $5, updated_at = $6 WHERE id = $1")
            .bind(r.id)
            .bind(&r.key_name)
            .bind(&r.error)
            .bind(&r.suggest)
            .bind(b(r.active))
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn list_reasons(&mut self) -> Result<Vec<Reason>> {
        let rows = sqlx::query("SELECT * FROM reasons ORDER BY id").fetch_all(&mut *self.tx).await?;
        rows.iter()
            .map(|r| {
                Ok(Reason {
                    id: r.try_get("id")?,
                    key_name: r.try_get("key_name")?,
                    error: r.try_get("error")?,
                    suggest: r.try_get("suggest")?,
                    active: r.try_get::<i64, _>("active")? != 0,
                })
            })
            .collect()
    }

    // ---- SMS verification codes ----------------------------------------------------------

    pub async fn insert_sms_code(&mut self, c: &SmsCode) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO sms_codes (appid, purpose, round, phone_bidx, phone_enc, id_last6_hash, code_hash, attempts, state, sent_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&c.appid)
        .bind(&c.purpose)
        .bind(i64::from(c.round))
        .bind(self.crypto.blind_index(&c.phone))
        .bind(self.crypto.encrypt_str(&c.phone))
        .bind(&c.id_last6_hash)
        .bind(&c.code_hash)
        .bind(i64::from(c.attempts))
        .bind(&c.state)
        .bind(c.sent_at)
        .bind(c.expires_at)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// Pending codes sent to a phone, newest first.
    pub async fn pending_codes_for_phone(&mut self, phone: &str) -> Result<Vec<SmsCode>> {
        let rows = sqlx::query(
            "SELECT * FROM sms_codes WHERE phone_bidx = $1 AND state = 'pending' ORDER BY id DESC",
        )
        .bind(self.crypto.blind_index(phone))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| self.sms_code_from_row(r)).collect()
    }

    pub async fn codes_of(&mut self, appid: &str, purpose: &str, round: u32) -> Result<Vec<SmsCode>> {
        let rows = sqlx::query(
            "SELECT * FROM sms_codes WHERE appid = $1 AND purpose = $2 AND round = $3 ORDER BY id",
        )
        .bind(appid)
        .bind(purpose)
        .bind(i64::from(round))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| self.sms_code_from_row(r)).collect()
    }

    pub async fn update_sms_code(&mut self, id: i64, attempts: u32, state: &str) -> Result<()> {
        sqlx::query("UPDATE sms_codes SET attempts = $2, state = $3 WHERE id = $1")
            .bind(id)
            .bind(i64::from(attempts))
            .bind(state)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Expire every pending code of an order's round (on timeout or resend).
    pub async fn expire_codes(&mut self, appid: &str, purpose: &str) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE sms_codes SET state = 'expired' WHERE appid = $1 AND purpose = $2 AND state = 'pending'",
        )
        .bind(appid)
        .bind(purpose)
        .execute(&mut *self.tx)
        .await?;
        Ok(res.rows_affected())
    }

    fn sms_code_from_row(&self, r: &AnyRow) -> Result<SmsCode> {
        Ok(SmsCode {
            id: r.try_get("id")?,
            appid: r.try_get("appid")?,
            purpose: r.try_get("purpose")?,
            round: u(r.try_get("round")?, "round")?,
            phone: self.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("phone_enc")?)?,
            id_last6_hash: r.try_get("id_last6_hash")?,
            code_hash: r.try_get("code_hash")?,
            attempts: u(r.try_get("attempts")?, "attempts")?,
            state: r.try_get("state")?,
            sent_at: r.try_get("sent_at")?,
            expires_at: r.try_get("expires_at")?,
        })
    }

    // ---- 站内信 ----------------------------------------------------------------------------

    pub async fn insert_message(&mut self, appid: &str, title: &str, body: &str, now: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO messages (appid, title, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(appid)
        .bind(title)
        .bind(body)
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    pub async fn messages_of(&mut self, appid: &str, limit: i64) -> Result<Vec<Message>> {
        let rows = sqlx::query("SELECT * FROM messages WHERE appid = $1 ORDER BY id DESC LIMIT $2")
            .bind(appid)
            .bind(limit)
            .fetch_all(&mut *self.tx)
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
            .fetch_one(&mut *self.tx)
            .await?)
    }

    pub async fn mark_read(&mut self, appid: &str, id: i64, now: i64) -> Result<bool> {
        let res =
            sqlx::query("UPDATE messages SET read_at = $3 WHERE appid = $1 AND id = $2 AND read_at IS NULL")
                .bind(appid)
                .bind(id)
                .bind(now)
                .execute(&mut *self.tx)
                .await?;
        Ok(res.rows_affected() == 1)
    }

    // ---- SMS outbox ----------------------------------------------------------------------

    pub async fn insert_outbox(&mut self, phone: &str, text: &str, now: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO sms_outbox (phone_bidx, phone_enc, text_enc, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(self.crypto.blind_index(phone))
        .bind(self.crypto.encrypt_str(phone))
        .bind(self.crypto.encrypt_str(text))
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// Newest first; only one phone's messages when `phone` is given.
    pub async fn outbox(&mut self, phone: Option<&str>, limit: i64) -> Result<Vec<OutboxSms>> {
        let rows = match phone {
            Some(p) => {
                sqlx::query("SELECT * FROM sms_outbox WHERE phone_bidx = $1 ORDER BY id DESC LIMIT $2")
                    .bind(self.crypto.blind_index(p))
                    .bind(limit)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM sms_outbox ORDER BY id DESC LIMIT $1")
                    .bind(limit)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(OutboxSms {
                    id: r.try_get("id")?,
                    phone: self.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("phone_enc")?)?,
                    text: self.crypto.decrypt_str(&r.try_get::<Vec<u8>, _>("text_enc")?)?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    // ---- webhooks ------------------------------------------------------------------------

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
        .bind(secret.map(|s| self.crypto.encrypt_str(s)))
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// (url, secret) of a mini program's webhook.
    pub async fn get_webhook(&mut self, appid: &str) -> Result<Option<(String, Option<String>)>> {
        let row = sqlx::query("SELECT url, secret_enc FROM webhooks WHERE appid = $1")
            .bind(appid)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| {
            let secret: Option<Vec<u8>> = r.try_get("secret_enc")?;
            Ok((r.try_get("url")?, secret.map(|s| self.crypto.decrypt_str(&s)).transpose()?))
        })
        .transpose()
    }

    // ---- queues --------------------------------------------------------------------------

    /// Orders in the given stored statuses, oldest due first.
    pub async fn orders_in_status(&mut self, statuses: &[i64], limit: i64) -> Result<Vec<FilingOrder>> {
        let list: Vec<String> = statuses.iter().map(|s| s.to_string()).collect();
        // Status codes are our own integers, never input: safe to inline.
        let sql = format!(
            "SELECT * FROM filing_orders WHERE status IN ({}) ORDER BY review_due_at, submitted_at, appid LIMIT $1",
            if list.is_empty() { "NULL".to_string() } else { list.join(",") }
        );
        let rows = sqlx::query(&sql).bind(limit).fetch_all(&mut *self.tx).await?;
        rows.iter().map(crate::tx::order_from_row).collect()
    }

    /// Listed, not cleared mini programs without a filed order, after `after` (appid order).
    pub async fn listed_unfiled_after(&mut self, after: &str, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT m.appid FROM mini_programs m LEFT JOIN filing_orders o ON o.appid = m.appid \
             WHERE m.appid > $1 AND m.listed = 1 AND m.cleared = 0 AND (o.status IS NULL OR o.status <> 6) \
             ORDER BY m.appid LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// Mini programs after `after`, in appid order (for sweeps that count what they check).
    pub async fn appids_after(&mut self, after: &str, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT appid FROM mini_programs WHERE appid > $1 ORDER BY appid LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?)
    }

    /// The next at most `limit` mini programs after `after` in appid order: how many, and the
    /// last appid (`None` when there are none).
    pub async fn appid_batch(&mut self, after: &str, limit: i64) -> Result<(u64, Option<String>)> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, MAX(appid) AS last FROM \
             (SELECT appid FROM mini_programs WHERE appid > $1 ORDER BY appid LIMIT $2) t",
        )
        .bind(after)
        .bind(limit)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok((u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0), r.try_get("last")?))
    }

    /// Delist (清退) every mini program in `(after, last]` that is listed and not filed, in
    /// one statement; returns their appids.
    pub async fn clear_unfiled_between(&mut self, after: &str, last: &str, now: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "UPDATE mini_programs SET listed = 0, cleared = 1, updated_at = $3 \
             WHERE appid > $1 AND appid <= $2 AND listed = 1 AND cleared = 0 \
             AND NOT EXISTS (SELECT 1 FROM filing_orders o WHERE o.appid = mini_programs.appid AND o.status = 6) \
             RETURNING appid",
        )
        .bind(after)
        .bind(last)
        .bind(now)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// The same 站内信 to each of these mini programs, in multi-row statements.
    pub async fn insert_message_to_each(
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
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    // ---- sweeps --------------------------------------------------------------------------

    pub async fn upsert_sweep(&mut self, s: &Sweep) -> Result<()> {
        sqlx::query(
            "INSERT INTO sweeps (id, started_at, finished_at, cursor_appid, checked, delisted) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET finished_at = excluded.finished_at, cursor_appid = excluded.cursor_appid, \
             checked = excluded.checked, delisted = excluded.delisted",
        )
        .bind(&s.id)
        .bind(s.started_at)
        .bind(s.finished_at)
        .bind(&s.cursor_appid)
        .bind(i64::try_from(s.checked).unwrap_or(i64::MAX))
        .bind(i64::try_from(s.delisted).unwrap_or(i64::MAX))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn get_sweep(&mut self, id: &str) -> Result<Option<Sweep>> {
        let row =
            sqlx::query("SELECT * FROM sweeps WHERE id = $1").bind(id).fetch_optional(&mut *self.tx).await?;
        row.map(|r| {
            Ok(Sweep {
                id: r.try_get("id")?,
                started_at: r.try_get("started_at")?,
                finished_at: r.try_get("finished_at")?,
                cursor_appid: r.try_get("cursor_appid")?,
                checked: u64::try_from(r.try_get::<i64, _>("checked")?).unwrap_or(0),
                delisted: u64::try_from(r.try_get::<i64, _>("delisted")?).unwrap_or(0),
            })
        })
        .transpose()
    }
}

fn staff_from_row(r: &AnyRow) -> Result<Staff> {
    let role: String = r.try_get("role")?;
    Ok(Staff {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
        active: r.try_get::<i64, _>("active")? != 0,
    })
}
