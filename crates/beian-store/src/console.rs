//! Queries for the developer console: accounts, sessions, memberships, drafts, tickets and
//! notification preferences.

use crate::tx::{b, u};
use crate::{Result, StoreError, Tx};
use beian_core::payload::ApplyPayload;
use beian_core::platform::{Account, MemberRole, Membership, NotifyPrefs, Permission, Ticket, TicketMessage};
use sqlx::any::AnyRow;
use sqlx::Row;

impl Tx {
    // ---- accounts and sessions -----------------------------------------------------------

    pub async fn insert_account(&mut self, a: &Account, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO accounts (id, username, display_name, password_hash, failed_logins, created_at) VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind(&a.id)
        .bind(&a.username)
        .bind(&a.display_name)
        .bind(&a.password_hash)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn account_by_username(&mut self, username: &str) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| account_from_row(&r)).transpose()
    }

    pub async fn account(&mut self, id: &str) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| account_from_row(&r)).transpose()
    }

    pub async fn set_login_state(&mut self, id: &str, failed: u32, locked_until: Option<i64>) -> Result<()> {
        sqlx::query("UPDATE accounts SET failed_logins = $2, locked_until = $3 WHERE id = $1")
            .bind(id)
            .bind(i64::from(failed))
            .bind(locked_until)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn insert_session(
        &mut self,
        token_hash: &str,
        account_id: &str,
        csrf: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, account_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(account_id)
            .bind(csrf)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// (account id, csrf token, expires_at) of a session.
    pub async fn session(&mut self, token_hash: &str) -> Result<Option<(String, String, i64)>> {
        let row = sqlx::query("SELECT account_id, csrf, expires_at FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| Ok((r.try_get("account_id")?, r.try_get("csrf")?, r.try_get("expires_at")?))).transpose()
    }

    pub async fn delete_session(&mut self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    // ---- memberships ---------------------------------------------------------------------

    pub async fn upsert_membership(&mut self, m: &Membership) -> Result<()> {
        sqlx::query(
            "INSERT INTO memberships (appid, account_id, role, perms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (appid, account_id) DO UPDATE SET role = excluded.role, perms = excluded.perms",
        )
        .bind(&m.appid)
        .bind(&m.account_id)
        .bind(m.role.as_str())
        .bind(m.perms.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn memberships_of_account(&mut self, account_id: &str) -> Result<Vec<Membership>> {
        let rows = sqlx::query("SELECT * FROM memberships WHERE account_id = $1 ORDER BY appid")
            .bind(account_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(membership_from_row).collect()
    }

    pub async fn memberships_of_app(&mut self, appid: &str) -> Result<Vec<Membership>> {
        let rows = sqlx::query("SELECT * FROM memberships WHERE appid = $1 ORDER BY role, account_id")
            .bind(appid)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(membership_from_row).collect()
    }

    // ---- drafts --------------------------------------------------------------------------

    /// The draft and its version (for [`Tx::put_draft_if`]).
    pub async fn get_draft(&mut self, appid: &str) -> Result<Option<(ApplyPayload, i64)>> {
        let row: Option<(Vec<u8>, i64)> =
            sqlx::query_as("SELECT payload_enc, row_version FROM drafts WHERE appid = $1")
                .bind(appid)
                .fetch_optional(&mut *self.tx)
                .await?;
        row.map(|(e, v)| Ok((crate::tx::open_payload(&self.crypto, &e, "draft")?, v))).transpose()
    }

    /// Write the draft if it is still at `expected` (`None`: if there is none yet); otherwise
    /// [`StoreError::Conflict`] — another edit landed since it was read.
    pub async fn put_draft_if(
        &mut self,
        appid: &str,
        p: &ApplyPayload,
        expected: Option<i64>,
        now: i64,
    ) -> Result<()> {
        let sealed = crate::tx::seal_payload(&self.crypto, p)?;
        let done = match expected {
            Some(v) => sqlx::query(
                "UPDATE drafts SET payload_enc = $1, updated_at = $2, row_version = row_version + 1 \
                 WHERE appid = $3 AND row_version = $4",
            )
            .bind(sealed)
            .bind(now)
            .bind(appid)
            .bind(v)
            .execute(&mut *self.tx)
            .await?
            .rows_affected(),
            None => sqlx::query(
                "INSERT INTO drafts (appid, payload_enc, updated_at, row_version) VALUES ($1, $2, $3, 0) \
                 ON CONFLICT (appid) DO NOTHING",
            )
            .bind(appid)
            .bind(sealed)
            .bind(now)
            .execute(&mut *self.tx)
            .await?
            .rows_affected(),
        };
        if done != 1 {
            return Err(StoreError::Conflict(format!("draft of {appid} changed concurrently")));
        }
        Ok(())
    }

    pub async fn delete_draft(&mut self, appid: &str) -> Result<()> {
        sqlx::query("DELETE FROM drafts WHERE appid = $1").bind(appid).execute(&mut *self.tx).await?;
        Ok(())
    }

    // ---- tickets -------------------------------------------------------------------------

    pub async fn insert_ticket(&mut self, t: &Ticket) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO tickets (appid, account_id, title, context, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(&t.appid)
        .bind(&t.account_id)
        .bind(&t.title)
        .bind(&t.context)
        .bind(&t.state)
        .bind(t.created_at)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    pub async fn set_ticket_state(&mut self, id: i64, state: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE tickets SET state = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(state)
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn ticket(&mut self, id: i64) -> Result<Option<Ticket>> {
        let row =
            sqlx::query("SELECT * FROM tickets WHERE id = $1").bind(id).fetch_optional(&mut *self.tx).await?;
        row.map(|r| ticket_from_row(&r)).transpose()
    }

    /// Tickets of some mini programs (a developer's), or all (operators) when `appids` is None.
    pub async fn tickets(&mut self, appids: Option<&[String]>) -> Result<Vec<Ticket>> {
        let rows = sqlx::query("SELECT * FROM tickets ORDER BY updated_at DESC, id DESC LIMIT 500")
            .fetch_all(&mut *self.tx)
            .await?;
        let all: Vec<Ticket> = rows.iter().map(ticket_from_row).collect::<Result<_>>()?;
        Ok(match appids {
            Some(list) => all.into_iter().filter(|t| list.contains(&t.appid)).collect(),
            None => all,
        })
    }

    pub async fn insert_ticket_message(
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
            .fetch_one(&mut *self.tx)
            .await?)
    }

    pub async fn ticket_messages(&mut self, ticket_id: i64) -> Result<Vec<TicketMessage>> {
        let rows = sqlx::query("SELECT * FROM ticket_messages WHERE ticket_id = $1 ORDER BY id")
            .bind(ticket_id)
            .fetch_all(&mut *self.tx)
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

    // ---- notification preferences --------------------------------------------------------

    pub async fn notify_prefs(&mut self, appid: &str) -> Result<NotifyPrefs> {
        let row = sqlx::query("SELECT * FROM notify_prefs WHERE appid = $1")
            .bind(appid)
            .fetch_optional(&mut *self.tx)
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
    pub async fn notify_targets(&mut self, appid: &str) -> Result<(NotifyPrefs, bool)> {
        let r = sqlx::query(
            "SELECT p.sms, p.email, p.webhook, \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM webhooks w WHERE w.appid = $1) THEN 1 ELSE 0 END AS BIGINT) AS has_webhook \
             FROM (SELECT 1 AS one) x LEFT JOIN notify_prefs p ON p.appid = $1",
        )
        .bind(appid)
        .fetch_one(&mut *self.tx)
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

    pub async fn put_notify_prefs(&mut self, appid: &str, p: NotifyPrefs) -> Result<()> {
        sqlx::query(
            "INSERT INTO notify_prefs (appid, sms, email, webhook) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (appid) DO UPDATE SET sms = excluded.sms, email = excluded.email, webhook = excluded.webhook",
        )
        .bind(appid)
        .bind(b(p.sms))
        .bind(b(p.email))
        .bind(b(p.webhook))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

fn account_from_row(r: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        password_hash: r.try_get("password_hash")?,
        failed_logins: u(r.try_get("failed_logins")?, "failed_logins")?,
        locked_until: r.try_get("locked_until")?,
    })
}

fn membership_from_row(r: &AnyRow) -> Result<Membership> {
    let perms: String = r.try_get("perms")?;
    let role: String = r.try_get("role")?;
    let perms = perms
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| Permission::parse(p).ok_or_else(|| StoreError::Corrupt(format!("unknown permission {p:?}"))))
        .collect::<Result<Vec<_>>>()?;
    Ok(Membership {
        appid: r.try_get("appid")?,
        account_id: r.try_get("account_id")?,
        role: MemberRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown member role {role:?}")))?,
        perms,
    })
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
