//! Console accounts: argon2 passwords, sessions with CSRF tokens, lockout after repeated
//! failures, memberships with permissions; drafts, tickets and notification preferences.

use crate::aggregates::{Accounts, MiniPrograms};
use crate::{audit, token_hash, Actor, Result, ServiceError};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use beian_core::errcode;
use beian_core::model::AuditAction;
use beian_core::platform::{
    Access, Account, MemberRole, Membership, NotifyPrefs, Permission, Ticket, TicketMessage,
};
use beian_store::Tx;

/// Failed logins before the account is locked, and for how long.
pub const MAX_FAILED_LOGINS: u32 = 5;
/// Passwords are at most this long (argon2 reads all of it).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// An argon2 hash of a random password (made once per process), checked when the user name
/// is unknown so that an unknown name takes as long as a wrong password.
fn decoy_hash() -> String {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY
        .get_or_init(|| {
            Argon2::default()
                .hash_password(crate::random_id(16).as_bytes(), &SaltString::generate(&mut OsRng))
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

/// Hash a new password with argon2 on a blocking thread.
pub(crate) async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
            .map(|h| h.to_string())
            .map_err(|e| ServiceError::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("argon2 task: {e}")))?
}

/// Check a password against a stored hash (`None`: against the decoy) on a blocking thread.
async fn verify_password(stored: Option<String>, password: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let real = stored.is_some();
        let hash = stored.unwrap_or_else(decoy_hash);
        let ok = PasswordHash::new(&hash)
            .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
            .unwrap_or(false);
        real && ok
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("argon2 task: {e}")))
}
pub const LOCKOUT_SECS: i64 = 15 * 60;
pub const SESSION_TTL_SECS: i64 = 12 * 3600;

/// A signed-in session.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: Account,
    pub csrf: String,
}

/// The refusal of every sign-in method to a disabled account.
pub(crate) const DISABLED: &str = "帐号已停用，请联系平台管理员";

pub(crate) fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < 8 {
        return Err(refused("密码至少8位"));
    }
    let max = MAX_PASSWORD_CHARS;
    if password.chars().count() > max {
        return Err(refused(&format!("密码过长：最多{max}个字符")));
    }
    Ok(())
}

/// A new session for `account` in `tx` (token returned once, stored hashed).
pub(crate) async fn open_session(tx: &mut Tx, account: &Account, now: i64) -> Result<(String, Session)> {
    let token = crate::random_id(32);
    let csrf = crate::random_id(16);
    tx.account_sessions()
        .insert_session(&token_hash(&token), &account.id, &csrf, now, now + SESSION_TTL_SECS)
        .await?;
    Ok((token, Session { account: account.clone(), csrf }))
}

fn refused(msg: &str) -> ServiceError {
    ServiceError::refused(errcode::INVALID_INPUT, msg)
}

impl Accounts<'_> {
    /// Create an account (console sign-up is the platform's business; the demo and the
    /// operator create them).
    pub async fn create_account(
        &self,
        actor: &Actor,
        username: &str,
        display_name: &str,
        password: &str,
    ) -> Result<Account> {
        let username = username.trim();
        if username.len() < 3
            || username.len() > 64
            || !username.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
        {
            return Err(refused("用户名须为3至64位字母、数字或 . _ - @"));
        }
        beian_core::bounds::text("显示名称", display_name, beian_core::bounds::NAME_CHARS)?;
        check_password(password)?;
        let hash = hash_password(password.to_string()).await?;
        let account = Account {
            id: format!("acc-{}", crate::random_id(6)),
            username: username.into(),
            display_name: display_name.trim().into(),
            password_hash: hash,
            failed_logins: 0,
            locked_until: None,
            email: None,
            email_verified: false,
            disabled_at: None,
        };
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        if tx.accounts().by_username(username).await?.is_some() {
            return Err(refused("用户名已被使用"));
        }
        tx.accounts().insert(&account, now).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Account,
            &account.id,
            AuditAction::Create,
            // A username may be a phone number or an address: the account id names it.
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(account)
    }

    /// Sign in: a new session (token returned once, stored hashed) or a clear refusal. Five
    /// wrong passwords lock the account for 15 minutes.
    pub async fn login(&self, username: &str, password: &str) -> Result<(String, Session)> {
        let now = self.now().timestamp();
        // The password is checked off the async executor and outside the write transaction
        // (argon2 takes tens of milliseconds: it must hold neither a worker thread nor SQLite's
        // one writer); an unknown user name costs the same check, so timing does not tell
        // which names exist.
        let known = { self.store.read().await?.accounts().by_username(username.trim()).await? };
        let locked = |a: &Account| a.locked_until.is_some_and(|t| t > now);
        let refuse_locked = |a: &Account| {
            let minutes = (a.locked_until.unwrap_or(now) - now + 59) / 60;
            refused(&format!("密码错误次数过多，帐号已锁定，请{minutes}分钟后再试"))
        };
        if let Some(a) = known.as_ref().filter(|a| locked(a)) {
            return Err(refuse_locked(a));
        }
        let stored = known.as_ref().map(|a| a.password_hash.clone());
        let ok = verify_password(stored, password.chars().take(MAX_PASSWORD_CHARS).collect()).await?;
        let mut tx = self.store.begin().await?;
        // Read again in the write transaction: the failure count is the current one.
        let Some(account) = tx.accounts().by_username(username.trim()).await? else {
            return Err(refused("用户名或密码错误"));
        };
        if locked(&account) {
            return Err(refuse_locked(&account));
        }
        if !ok || known.as_ref().map(|a| &a.password_hash) != Some(&account.password_hash) {
            let failed = account.failed_logins + 1;
            let lock = (failed >= MAX_FAILED_LOGINS).then_some(now + LOCKOUT_SECS);
            tx.accounts().set_login_state(&account.id, if lock.is_some() { 0 } else { failed }, lock).await?;
            audit(
                &mut tx,
                now,
                &Actor::new("account", &account.id),
                beian_core::model::AuditEntity::Account,
                &account.id,
                AuditAction::LoginFailed,
                serde_json::json!({ "failed": failed }),
            )
            .await?;
            tx.commit().await?;
            return Err(refused(if lock.is_some() {
                "密码错误次数过多，帐号已锁定15分钟"
            } else {
                "用户名或密码错误"
            }));
        }
        // A disabled account is told so only after the right password (no probing).
        if account.is_disabled() {
            tx.commit().await?;
            return Err(refused(DISABLED));
        }
        tx.accounts().set_login_state(&account.id, 0, None).await?;
        let (token, session) = open_session(&mut tx, &account, now).await?;
        audit(
            &mut tx,
            now,
            &Actor::new("account", &account.id),
            beian_core::model::AuditEntity::Account,
            &account.id,
            AuditAction::Login,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok((token, session))
    }

    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        let now = self.now().timestamp();
        let mut tx = self.store.read().await?;
        let Some((account_id, csrf, expires)) = tx.account_sessions().session(&token_hash(token)).await?
        else {
            return Ok(None);
        };
        if expires <= now {
            return Ok(None);
        }
        // A disabled account's sessions were deleted; this also covers a race with it.
        Ok(tx
            .accounts()
            .get(&account_id)
            .await?
            .filter(|a| !a.is_disabled())
            .map(|account| Session { account, csrf }))
    }

    pub async fn logout(&self, token: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.account_sessions().delete_session(&token_hash(token)).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn grant(
        &self,
        actor: &Actor,
        appid: &str,
        account_id: &str,
        role: MemberRole,
        perms: &[Permission],
    ) -> Result<()> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        tx.memberships()
            .put_membership(&Membership {
                appid: appid.into(),
                account_id: account_id.into(),
                role,
                perms: perms.to_vec(),
            })
            .await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Membership,
            &format!("{appid}/{account_id}"),
            AuditAction::Grant,
            serde_json::json!({ "role": role, "perms": perms }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn memberships(&self, account_id: &str) -> Result<Vec<Membership>> {
        let mut tx = self.store.read().await?;
        Ok(tx.memberships().memberships_of_account(account_id).await?)
    }

    /// The account's membership in `appid`, if it has `perm`; otherwise a refusal naming the
    /// admin who can act (PRODUCT rule 11).
    pub async fn require(&self, account: &Account, appid: &str, need: Access) -> Result<Membership> {
        let mut tx = self.store.read().await?;
        let all = tx.memberships().memberships_of_app(appid).await?;
        if let Some(m) = all.iter().find(|m| m.account_id == account.id && m.can(need)) {
            return Ok(m.clone());
        }
        let mut admins = Vec::new();
        for m in all.iter().filter(|m| m.is_admin()) {
            if let Some(a) = tx.accounts().get(&m.account_id).await? {
                admins.push(mask(&a.display_name));
            }
        }
        let who = if admins.is_empty() {
            "小程序管理员".to_string()
        } else {
            format!("管理员帐号（{}）", admins.join("、"))
        };
        Err(ServiceError::refused(
            errcode::API_UNAUTHORIZED,
            format!("暂无查看权限，请使用{who}登录，或请管理员在「成员管理」（/console/apps/{appid}/members）为你开通权限"),
        ))
    }

    /// Open a ticket; `context` carries the appid and the rejection notice automatically.
    pub async fn open_ticket(&self, account: &Account, appid: &str, title: &str, body: &str) -> Result<i64> {
        if title.trim().is_empty() || body.trim().is_empty() {
            return Err(refused("请填写工单标题和问题描述"));
        }
        beian_core::bounds::text("工单标题", title, beian_core::bounds::TICKET_TITLE_CHARS)?;
        beian_core::bounds::text("问题描述", body, beian_core::bounds::TICKET_BODY_CHARS)?;
        let now = self.now().timestamp();
        let info = self.filings().entrance_info(appid).await?;
        let mut context = format!("AppID：{appid}\n备案状态：{}", info.status);
        if !info.audit_data.is_empty() {
            context.push_str("\n驳回通知：");
            for a in &info.audit_data {
                context.push_str(&format!("\n· {}：{}（建议：{}）", a.key_name, a.error, a.suggest));
            }
        }
        let mut tx = self.store.begin().await?;
        let id = tx
            .tickets()
            .insert(&Ticket {
                id: 0,
                appid: appid.into(),
                account_id: account.id.clone(),
                title: title.trim().into(),
                context,
                state: "open".into(),
                created_at: now,
                updated_at: now,
            })
            .await?;
        tx.tickets()
            .insert_message(id, &format!("developer:{}", account.display_name), body.trim(), now)
            .await?;
        audit(
            &mut tx,
            now,
            &Actor::new("account", &account.id),
            beian_core::model::AuditEntity::Ticket,
            &id.to_string(),
            AuditAction::Open,
            serde_json::json!({ "appid": appid }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Reply on a ticket: `author` is `developer:<name>` or `operator:<id>`.
    pub async fn reply_ticket(&self, id: i64, author: &str, body: &str) -> Result<()> {
        if body.trim().is_empty() {
            return Err(refused("请填写回复内容"));
        }
        beian_core::bounds::text("回复内容", body, beian_core::bounds::TICKET_BODY_CHARS)?;
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let t = tx.tickets().get(id).await?.ok_or_else(|| refused("工单不存在"))?;
        tx.tickets().insert_message(id, author, body.trim(), now).await?;
        let state = if author.starts_with("operator:") { "answered" } else { "open" };
        tx.tickets().set_state(id, state, now).await?;
        if author.starts_with("operator:") {
            tx.messages().insert(&t.appid, &format!("工单「{}」有新回复", t.title), body.trim(), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn ticket(&self, id: i64) -> Result<Option<(Ticket, Vec<TicketMessage>)>> {
        let mut tx = self.store.read().await?;
        let Some(t) = tx.tickets().get(id).await? else { return Ok(None) };
        let msgs = tx.tickets().messages(id).await?;
        Ok(Some((t, msgs)))
    }

    pub async fn tickets(&self, appids: Option<&[String]>) -> Result<Vec<Ticket>> {
        let mut tx = self.store.read().await?;
        Ok(tx.tickets().list(appids).await?)
    }
}

impl MiniPrograms<'_> {
    pub async fn notify_prefs(&self, appid: &str) -> Result<NotifyPrefs> {
        let mut tx = self.store.read().await?;
        Ok(tx.notify().prefs(appid).await?)
    }

    pub async fn set_notify_prefs(&self, actor: &Actor, appid: &str, p: NotifyPrefs) -> Result<()> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        tx.notify().put_prefs(appid, p).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::NotifyPrefs,
            appid,
            AuditAction::Set,
            serde_json::json!(p),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// `张三` → `张*`: enough to say who, without publishing the name.
fn mask(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(first) => format!("{first}{}", "*".repeat(c.count().max(1))),
        None => "*".into(),
    }
}
