//! How developers get an account and sign in besides the password form: the host platform's
//! OpenID provider (accounts linked by issuer + subject only, created at the first sign-in),
//! an authenticating proxy's trusted header (linked the same way, issuer
//! [`TRUSTED_HEADER_ISSUER`]), and local accounts run by operators: create, disable, enable,
//! list, set a password, and reset by an e-mailed, single-use link valid for 30 minutes.
//! A disabled account cannot sign in by any method, and disabling ends its sessions.

use crate::accounts::{check_password, hash_password, open_session, Session, DISABLED};
use crate::aggregates::SignIn;
use crate::jobs::{enqueue, JobSpec};
use crate::{audit, token_hash, Actor, Result, Service, ServiceError};
use beian_core::errcode;
use beian_core::model::{AuditAction, AuditEntity};
use beian_core::platform::Account;
use beian_ports::signin::SignInProvider;
use beian_store::Tx;
use std::sync::Arc;

/// How long the browser has to come back from the OpenID provider.
pub const OIDC_PENDING_SECS: i64 = 10 * 60;
/// How long a password-reset link works.
pub const RESET_TTL_SECS: i64 = 30 * 60;
/// The issuer recorded for identities asserted by the authenticating proxy.
pub const TRUSTED_HEADER_ISSUER: &str = "trusted-header";
/// The answer to every reset request, whether or not the account exists.
pub const RESET_REQUESTED: &str =
    "如果该帐号存在并绑定了已验证的邮箱，重置密码的链接已发送到该邮箱，30分钟内有效。";

fn refused(msg: &str) -> ServiceError {
    ServiceError::refused(errcode::INVALID_INPUT, msg)
}

/// A new local account (CLI, staff page).
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    pub password: String,
    /// Where reset links go; entered by an operator, so taken as verified.
    pub email: Option<String>,
}

/// A pending OIDC sign-in, kept encrypted server-side until the browser comes back.
#[derive(serde::Serialize, serde::Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    pkce_verifier: String,
    next: String,
}

impl Service {
    /// Sign-in through the host platform's OpenID provider (`[oidc]`); without it the
    /// console shows the password form only. Set once the server knows its address.
    pub fn set_signin_provider(&self, provider: Option<Arc<dyn SignInProvider>>) {
        *self.signin.write().unwrap_or_else(|p| p.into_inner()) = provider;
    }

    fn signin_provider(&self) -> Option<Arc<dyn SignInProvider>> {
        self.signin.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// `a@b.c`-shaped and short; the address is checked by the mail it receives.
fn parse_email(email: &str) -> Result<Option<String>> {
    let e = email.trim();
    if e.is_empty() {
        return Ok(None);
    }
    let ok = e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'));
    if ok {
        Ok(Some(e.to_string()))
    } else {
        Err(refused("邮箱格式不正确"))
    }
}

impl SignIn<'_> {
    /// The OpenID sign-in button's label, when `[oidc]` is configured.
    pub fn oidc_label(&self) -> Option<String> {
        self.signin_provider().map(|p| p.label())
    }

    /// Begin an OpenID sign-in: the provider's URL to send the browser to, and the random
    /// key for the browser's cookie under which state, nonce and PKCE verifier are kept.
    pub async fn oidc_begin(&self, next: &str) -> Result<(String, String)> {
        let provider = self.signin_provider().ok_or_else(|| refused("未配置平台账号登录"))?;
        let auth = provider.start().await.map_err(port_error)?;
        let key = crate::random_id(32);
        let now = self.now().timestamp();
        let pending = serde_json::to_string(&Pending {
            state: auth.state,
            nonce: auth.nonce,
            pkce_verifier: auth.pkce_verifier,
            next: next.to_string(),
        })
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let mut tx = self.store.begin().await?;
        tx.account_sessions()
            .put_oidc_pending(&token_hash(&key), &pending, now + OIDC_PENDING_SECS, now)
            .await?;
        tx.commit().await?;
        Ok((auth.url, key))
    }

    /// Finish an OpenID sign-in: the pending sign-in under `key` (used up whatever happens),
    /// its `state`, the code exchanged and the ID token verified by the provider adapter;
    /// then the account linked to issuer + subject, or a new one. Returns the session token,
    /// the session and where to go next.
    pub async fn oidc_finish(&self, key: &str, state: &str, code: &str) -> Result<(String, Session, String)> {
        let provider = self.signin_provider().ok_or_else(|| refused("未配置平台账号登录"))?;
        let now = self.now().timestamp();
        let pending = {
            let mut tx = self.store.begin().await?;
            let p = tx.account_sessions().take_oidc_pending(&token_hash(key), now).await?;
            tx.commit().await?;
            p
        };
        let expired = || refused("登录请求已失效，请重新登录");
        let pending: Pending = serde_json::from_str(&pending.ok_or_else(expired)?)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        if state.is_empty()
            || !beian_store::crypto::constant_time_eq(state.as_bytes(), pending.state.as_bytes())
        {
            return Err(expired());
        }
        let claims =
            provider.finish(code, &pending.pkce_verifier, &pending.nonce).await.map_err(|e| match e {
                beian_ports::PortError::Refused(why) => {
                    tracing::warn!("OpenID sign-in refused: {why}");
                    refused("平台账号登录失败：身份令牌校验未通过，请重新登录")
                }
                other => port_error(other),
            })?;
        let name = claims.name.clone().or(claims.preferred_username.clone());
        let email = claims.email.as_deref().map(parse_email).transpose().ok().flatten().flatten();
        let (token, sess) = self
            .external_sign_in(
                &claims.issuer,
                &claims.subject,
                claims.preferred_username.as_deref(),
                name.as_deref(),
                email.as_deref(),
                claims.email_verified,
            )
            .await?;
        Ok((token, sess, pending.next))
    }

    /// The authenticating proxy vouched for `user` (the console checked the peer address):
    /// the account linked to it, created at the first request.
    pub async fn trusted_header_sign_in(
        &self,
        user: &str,
        name: Option<&str>,
        email: Option<&str>,
    ) -> Result<(String, Session)> {
        let user = user.trim();
        if user.is_empty() || user.len() > 255 || user.chars().any(char::is_control) {
            return Err(refused("代理传来的用户名无效"));
        }
        let email = email.map(parse_email).transpose().ok().flatten().flatten();
        // The proxy authenticated the person; whether it verified the address is unknown.
        self.external_sign_in(TRUSTED_HEADER_ISSUER, user, Some(user), name, email.as_deref(), false).await
    }

    /// Sign in the account linked to `issuer` + `subject`, creating and linking one at the
    /// first sign-in. An e-mail never finds an account: an address equal to another
    /// account's links nothing.
    async fn external_sign_in(
        &self,
        issuer: &str,
        subject: &str,
        username_hint: Option<&str>,
        name: Option<&str>,
        email: Option<&str>,
        email_verified: bool,
    ) -> Result<(String, Session)> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let account = match tx.accounts().by_identity(issuer, subject).await? {
            Some(a) => {
                if a.is_disabled() {
                    return Err(refused(DISABLED));
                }
                tx.accounts().touch_identity(issuer, subject, now).await?;
                a
            }
            None => {
                let username = free_username(&mut tx, username_hint).await?;
                let display: String = name
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(&username)
                    .chars()
                    .take(beian_core::bounds::NAME_CHARS)
                    .collect();
                let account = Account {
                    id: format!("acc-{}", crate::random_id(6)),
                    username,
                    display_name: display,
                    // No password: a random hash nobody knows (the break-glass form stays
                    // for local accounts; an operator may set one with reset-password).
                    password_hash: hash_password(crate::random_id(24)).await?,
                    failed_logins: 0,
                    locked_until: None,
                    email: email.map(str::to_string),
                    email_verified: email.is_some() && email_verified,
                    disabled_at: None,
                };
                tx.accounts().insert(&account, now).await?;
                tx.accounts().link_identity(issuer, subject, &account.id, now).await?;
                let actor = Actor::new("account", &account.id);
                for (action, detail) in [
                    (AuditAction::Create, serde_json::json!({})),
                    (AuditAction::LinkIdentity, serde_json::json!({ "issuer": issuer })),
                ] {
                    audit(&mut tx, now, &actor, AuditEntity::Account, &account.id, action, detail).await?;
                }
                account
            }
        };
        let (token, sess) = open_session(&mut tx, &account, now).await?;
        audit(
            &mut tx,
            now,
            &Actor::new("account", &account.id),
            AuditEntity::Account,
            &account.id,
            AuditAction::Login,
            serde_json::json!({ "via": issuer }),
        )
        .await?;
        tx.commit().await?;
        Ok((token, sess))
    }

    /// Create a local account (operators: `beian account create`, `/admin/accounts`).
    pub async fn create_local_account(&self, actor: &Actor, new: &NewAccount) -> Result<Account> {
        let email = new.email.as_deref().map(parse_email).transpose()?.flatten();
        let account =
            self.accounts().create_account(actor, &new.username, &new.display_name, &new.password).await?;
        if let Some(e) = &email {
            let mut tx = self.store.begin().await?;
            tx.accounts().set_email(&account.id, Some(e), true).await?;
            tx.commit().await?;
        }
        Ok(Account { email_verified: email.is_some(), email, ..account })
    }

    /// Every account (operators).
    pub async fn list_accounts(&self) -> Result<Vec<Account>> {
        Ok(self.store.read().await?.accounts().list().await?)
    }

    /// An account by username or id.
    pub async fn find_account(&self, who: &str) -> Result<Option<Account>> {
        let mut tx = self.store.read().await?;
        match tx.accounts().by_username(who.trim()).await? {
            Some(a) => Ok(Some(a)),
            None => Ok(tx.accounts().get(who.trim()).await?),
        }
    }

    /// Disable (it cannot sign in by any method; its sessions end now) or enable again.
    pub async fn set_account_disabled(&self, actor: &Actor, who: &str, disabled: bool) -> Result<Account> {
        let account = self.find_account(who).await?.ok_or_else(|| refused("帐号不存在"))?;
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        tx.accounts().set_disabled(&account.id, disabled.then_some(now)).await?;
        let ended = if disabled { tx.account_sessions().delete_sessions_of(&account.id).await? } else { 0 };
        let action = if disabled { AuditAction::Disable } else { AuditAction::Enable };
        audit(
            &mut tx,
            now,
            actor,
            AuditEntity::Account,
            &account.id,
            action,
            serde_json::json!({ "sessions_ended": ended }),
        )
        .await?;
        tx.commit().await?;
        Ok(Account { disabled_at: disabled.then_some(now), ..account })
    }

    /// An operator sets a new password (`beian account reset-password`): the lockout is
    /// lifted and every session ends.
    pub async fn set_account_password(&self, actor: &Actor, who: &str, password: &str) -> Result<Account> {
        check_password(password)?;
        let account = self.find_account(who).await?.ok_or_else(|| refused("帐号不存在"))?;
        let hash = hash_password(password.to_string()).await?;
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        self.apply_password(&mut tx, actor, &account.id, &hash, now).await?;
        tx.commit().await?;
        Ok(account)
    }

    async fn apply_password(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        account_id: &str,
        hash: &str,
        now: i64,
    ) -> Result<()> {
        tx.accounts().set_password(account_id, hash).await?;
        tx.account_sessions().use_password_resets(account_id, now).await?;
        let ended = tx.account_sessions().delete_sessions_of(account_id).await?;
        audit(
            tx,
            now,
            actor,
            AuditEntity::Account,
            account_id,
            AuditAction::PasswordReset,
            serde_json::json!({ "sessions_ended": ended }),
        )
        .await
    }

    /// 忘记密码: `login` is a username or an e-mail address. When it names an enabled account
    /// with a verified address, a reset link (token stored hashed, 30 minutes, single use)
    /// is e-mailed; the caller always answers [`RESET_REQUESTED`], so the answer does not
    /// tell whether the account exists. At most one link per account per minute.
    pub async fn request_password_reset(&self, login: &str) -> Result<()> {
        let login = login.trim();
        if login.is_empty() || login.len() > 254 {
            return Ok(());
        }
        if !self.email_channel() {
            tracing::warn!("a password reset was requested, but no e-mail channel is configured ([smtp])");
            return Ok(());
        }
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let mut found = tx.accounts().by_username(login).await?.into_iter().collect::<Vec<_>>();
        if found.is_empty() && login.contains('@') {
            found = tx.accounts().by_email(login).await?;
        }
        let base = self.public_url();
        for a in found.iter().filter(|a| !a.is_disabled() && a.email_verified) {
            let Some(to) = a.email.as_deref() else { continue };
            let token = crate::random_id(32);
            let mail = JobSpec::Email {
                to: to.to_string(),
                subject: "小程序备案平台：重置密码".into(),
                body: format!(
                    "{}，你好：\n\n有人（希望是你）请求重置帐号 {} 的密码。请在30分钟内打开以下链接设置新密码（仅可使用一次）：\n\n{base}/console/reset?token={token}\n\n如果不是你本人操作，请忽略本邮件，你的密码不会改变。",
                    a.display_name, a.username
                ),
            };
            // One link per account per minute: the dedupe key drops the rest.
            if enqueue(&mut tx, &mail, Some(&format!("password_reset:{}:{}", a.id, now / 60)), now, now)
                .await?
                .is_some()
            {
                tx.account_sessions()
                    .insert_password_reset(&token_hash(&token), &a.id, now, now + RESET_TTL_SECS)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether a reset link still works (the page shows the form only then).
    pub async fn password_reset_valid(&self, token: &str) -> Result<bool> {
        let now = self.now().timestamp();
        Ok(self
            .store
            .read()
            .await?
            .account_sessions()
            .password_reset(&token_hash(token), now)
            .await?
            .is_some())
    }

    /// Set a new password through a reset link: the link (and any older one) is used up,
    /// the lockout lifted, every session of the account ended.
    pub async fn complete_password_reset(&self, token: &str, password: &str) -> Result<()> {
        check_password(password)?;
        let hash = hash_password(password.to_string()).await?;
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let account_id = tx
            .account_sessions()
            .password_reset(&token_hash(token), now)
            .await?
            .ok_or_else(|| refused("重置链接无效或已过期，请重新申请"))?;
        let account = tx
            .accounts()
            .get(&account_id)
            .await?
            .ok_or_else(|| refused("重置链接无效或已过期，请重新申请"))?;
        if account.is_disabled() {
            return Err(refused(DISABLED));
        }
        self.apply_password(&mut tx, &Actor::new("account", &account_id), &account_id, &hash, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// `hint` if it is a valid, unused username; else `u-<random>`.
async fn free_username(tx: &mut Tx, hint: Option<&str>) -> Result<String> {
    if let Some(h) = hint.map(str::trim) {
        let valid =
            (3..=64).contains(&h.len()) && h.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
        if valid && tx.accounts().by_username(h).await?.is_none() {
            return Ok(h.to_string());
        }
    }
    Ok(format!("u-{}", crate::random_id(5)))
}

fn port_error(e: beian_ports::PortError) -> ServiceError {
    tracing::warn!("OpenID provider: {e}");
    ServiceError::refused(errcode::SYSTEM_ERROR, "平台账号服务暂时无法访问，请稍后再试")
}

impl SignIn<'_> {
    /// Whether `account_id` is the account linked to `issuer` + `subject` (false on errors).
    pub async fn is_identity(&self, account_id: &str, issuer: &str, subject: &str) -> bool {
        match self.store.read().await {
            Ok(mut tx) => tx
                .accounts()
                .identities_of(account_id)
                .await
                .map(|ids| ids.iter().any(|(i, s)| i == issuer && s == subject))
                .unwrap_or(false),
            Err(_) => false,
        }
    }
}

/// A random 16-character password without look-alike characters, for an operator to hand
/// over once (`beian account create`, `/admin/accounts`).
pub fn generate_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..16).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}
