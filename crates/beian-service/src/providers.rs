//! Third-party platforms (服务商): credentials, the token flow of WeChat's component API,
//! merchant authorization with permission sets, and the events that go with them.
//!
//! Every token, ticket and code is random, handed out once and stored as its SHA-256 only.

use crate::aggregates::Providers;
use crate::jobs::{enqueue, EventPush, JobSpec};
use crate::merchant_auth;
use crate::{audit, Actor, Result, Service, ServiceError};
use beian_core::errcode;
use beian_core::model::AuditAction;
use beian_core::platform::{Authorization, EventFilter, Provider, TokenKind, TokenRecord, ICP_SCOPES};
use beian_store::Tx;
use sha2::{Digest, Sha256};

pub const TICKET_TTL: i64 = 12 * 3600;
pub const TICKET_INTERVAL: i64 = 600;
pub const ACCESS_TTL: i64 = 7200;
pub const PRE_AUTH_TTL: i64 = 1800;
pub const AUTH_CODE_TTL: i64 = 3600;
pub const REFRESH_TTL: i64 = 10 * 365 * 24 * 3600;
/// A rotated refresh token, or a replaced access token, keeps working this long.
pub const GRACE: i64 = 300;

/// Permission sets a merchant can grant here: 17 小程序帐号管理, 18 小程序开发与数据分析,
/// 156 小程序备案. Only 18 and 156 open `/wxa/icp/*`.
pub const GRANTABLE_SCOPES: [u32; 3] = [17, 18, 156];

/// Shown once when a provider is created or its secret rotated.
#[derive(Debug, Clone)]
pub struct ProviderCredentials {
    pub component_appid: String,
    pub component_appsecret: String,
    pub token: String,
    pub encoding_aes_key: String,
}

/// How long a resolved authorizer token is remembered on a node. A revocation takes effect at
/// once on the node that records it (its cache is cleared) and within this many seconds on
/// the others.
pub const CALLER_CACHE_SECS: i64 = 5;

/// Resolved `authorizer_access_token`s (by hash), each with the unix second of the service
/// clock it stops being trusted (never after the token expires or its grace ends) and the
/// instant it stops being fresh (at most [`CALLER_CACHE_SECS`] after it was read, spread by
/// [`beian_store::spread_lifetime`] so tokens read together are not all read again together).
///
/// [`CallerCache::clear`] (after a revocation or authorization commits) also moves the
/// generation on: a token read from the database before that commit but put after the clear
/// is not remembered, so a revoked token is not brought back into this node's cache.
#[derive(Debug, Default)]
pub(crate) struct CallerCache {
    map: std::sync::Mutex<std::collections::HashMap<String, (Caller, i64, std::time::Instant)>>,
    generation: std::sync::atomic::AtomicU64,
}

impl CallerCache {
    fn get(&self, hash: &str, now: i64) -> Option<Caller> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(hash)
            .filter(|(_, until, fresh_until)| now < *until && std::time::Instant::now() < *fresh_until)
            .map(|(c, _, _)| c.clone())
    }

    /// The generation to pass to [`CallerCache::put`]; read before the database is.
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn put(&self, hash: String, caller: Caller, until: i64, generation: u64) {
        let max = std::time::Duration::from_secs(CALLER_CACHE_SECS.unsigned_abs());
        let fresh_until = std::time::Instant::now() + beian_store::spread_lifetime(max, &hash);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation() != generation {
            return;
        }
        if map.len() >= 100_000 {
            map.clear();
        }
        map.insert(hash, (caller, until, fresh_until));
    }

    pub(crate) fn clear(&self) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        map.clear();
    }
}

/// An access token resolved to who may act for which mini program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub component_appid: String,
    pub appid: String,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor::new("provider", &self.component_appid)
    }
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut b = [0u8; 36];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn refused(code: i64, msg: &str) -> ServiceError {
    ServiceError::refused(code, msg)
}

impl Service {
    // ---- provider administration ---------------------------------------------------------

    // ---- component_verify_ticket ---------------------------------------------------------

    // ---- component token flow ------------------------------------------------------------

    async fn resolve_token(&self, token: Option<&str>, kind: TokenKind) -> Result<TokenRecord> {
        let hashed = token_hash_checked(token)?;
        let mut tx = self.store.read().await?;
        let t = tx.tokens().get(&hashed).await?;
        self.live_token(t, kind)
    }

    /// A stored token that is of `kind`, unexpired and not superseded beyond the grace.
    fn live_token(&self, t: Option<TokenRecord>, kind: TokenKind) -> Result<TokenRecord> {
        let Some(t) = t.filter(|t| t.kind == kind) else {
            return Err(ServiceError::code(errcode::INVALID_CREDENTIAL));
        };
        let now = self.now().timestamp();
        if t.expires_at <= now {
            return Err(ServiceError::code(errcode::ACCESS_TOKEN_EXPIRED));
        }
        if t.superseded_at.is_some_and(|s| now >= s + GRACE) {
            return Err(ServiceError::code(errcode::INVALID_CREDENTIAL));
        }
        Ok(t)
    }
}

impl Providers<'_> {
    /// Create a provider; the secret is returned once and stored hashed. Its first
    /// component_verify_ticket push is queued at once, then every 10 minutes.
    pub async fn create_provider(
        &self,
        actor: &Actor,
        name: &str,
        event_url: &str,
    ) -> Result<ProviderCredentials> {
        if name.trim().is_empty() {
            return Err(refused(errcode::INVALID_INPUT, "请填写服务商名称"));
        }
        beian_core::bounds::text("服务商名称", name, beian_core::bounds::NAME_CHARS * 2)?;
        beian_core::bounds::text("事件接收地址", event_url, beian_core::bounds::URL_CHARS)?;
        check_event_url(event_url)?;
        let now = self.now().timestamp();
        let creds = ProviderCredentials {
            component_appid: format!("wx{}", &crate::random_id(8)),
            component_appsecret: crate::random_id(16),
            token: crate::random_id(12),
            encoding_aes_key: beian_wxcrypt::generate_encoding_aes_key(),
        };
        let p = Provider {
            component_appid: creds.component_appid.clone(),
            name: name.trim().to_string(),
            secret_hash: hash(&creds.component_appsecret),
            msg_token: creds.token.clone(),
            encoding_aes_key: creds.encoding_aes_key.clone(),
            event_url: event_url.trim().to_string(),
            created_at: now,
        };
        let mut tx = self.store.begin().await?;
        tx.providers().insert(&p).await?;
        let spec = JobSpec::VerifyTicket { component_appid: p.component_appid.clone() };
        enqueue(&mut tx, &spec, Some(&format!("ticket:{}:{now}", p.component_appid)), now, now).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Provider,
            &p.component_appid,
            AuditAction::Create,
            serde_json::json!({ "name": p.name, "event_url": p.event_url }),
        )
        .await?;
        tx.commit().await?;
        Ok(creds)
    }

    pub async fn provider(&self, component_appid: &str) -> Result<Provider> {
        let mut tx = self.store.read().await?;
        tx.providers()
            .get(component_appid)
            .await?
            .ok_or_else(|| refused(errcode::INVALID_INPUT, "服务商不存在"))
    }

    pub async fn list_providers(&self) -> Result<Vec<Provider>> {
        let mut tx = self.store.read().await?;
        Ok(tx.providers().list().await?)
    }

    /// Change a provider's event URL.
    pub async fn set_provider_event_url(
        &self,
        actor: &Actor,
        component_appid: &str,
        event_url: &str,
    ) -> Result<()> {
        check_event_url(event_url)?;
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let mut p = tx
            .providers()
            .get(component_appid)
            .await?
            .ok_or_else(|| refused(errcode::INVALID_INPUT, "服务商不存在"))?;
        p.event_url = event_url.trim().to_string();
        tx.providers().update(&p, now).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Provider,
            component_appid,
            AuditAction::SetEventUrl,
            serde_json::json!({ "event_url": p.event_url }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A provider's own event settings: its event URL and the events it receives (beian
    /// extension `beian_get_event_config`).
    pub async fn event_config(&self, component_appid: &str) -> Result<(String, EventFilter)> {
        let mut tx = self.store.read().await?;
        let p = tx
            .providers()
            .get(component_appid)
            .await?
            .ok_or_else(|| refused(errcode::INVALID_INPUT, "服务商不存在"))?;
        Ok((p.event_url, tx.providers().events(component_appid).await?))
    }

    /// A provider sets its own event URL and chooses its events (beian extension
    /// `beian_set_event_config`; the URL rules of developers' webhooks apply, see
    /// [`crate::webhooks::check_webhook_url`]). `None` events: every event. The
    /// component_verify_ticket push is always delivered. Audited.
    pub async fn set_event_config(
        &self,
        actor: &Actor,
        component_appid: &str,
        event_url: &str,
        events: Option<Vec<String>>,
    ) -> Result<EventFilter> {
        let url = crate::webhooks::check_webhook_url(event_url)?;
        let events = crate::webhooks::check_events(events, beian_core::platform::PROVIDER_EVENTS)?;
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        if !tx.providers().set_event_config(component_appid, &url, &events, now).await? {
            return Err(refused(errcode::INVALID_INPUT, "服务商不存在"));
        }
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Provider,
            component_appid,
            AuditAction::SetEventUrl,
            serde_json::json!({ "event_url": url, "events": events.0 }),
        )
        .await?;
        tx.commit().await?;
        Ok(events)
    }

    /// Rotate a provider's component_appsecret (returned once, stored hashed).
    pub async fn rotate_provider_secret(&self, actor: &Actor, component_appid: &str) -> Result<String> {
        let now = self.now().timestamp();
        let secret = crate::random_id(16);
        let mut tx = self.store.begin().await?;
        let mut p = tx
            .providers()
            .get(component_appid)
            .await?
            .ok_or_else(|| refused(errcode::INVALID_INPUT, "服务商不存在"))?;
        p.secret_hash = hash(&secret);
        tx.providers().update(&p, now).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Provider,
            component_appid,
            AuditAction::RotateSecret,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Issue a fresh ticket (12 h) for the ticket job; returns it in clear for the push.
    pub async fn issue_verify_ticket(&self, component_appid: &str) -> Result<String> {
        let now = self.now().timestamp();
        let ticket = format!("ticket@@@{}", new_token());
        let mut tx = self.store.begin().await?;
        tx.tokens()
            .insert(
                &hash(&ticket),
                &record(TokenKind::VerifyTicket, component_appid, "", &[], now, TICKET_TTL),
            )
            .await?;
        tx.commit().await?;
        Ok(ticket)
    }

    /// Queue the next ticket push (idempotent per 10-minute slot).
    pub async fn schedule_next_ticket(&self, component_appid: &str) -> Result<()> {
        let now = self.now().timestamp();
        let at = (now / TICKET_INTERVAL + 1) * TICKET_INTERVAL;
        let mut tx = self.store.begin().await?;
        let spec = JobSpec::VerifyTicket { component_appid: component_appid.to_string() };
        enqueue(&mut tx, &spec, Some(&format!("ticket:{component_appid}:{at}")), at, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// api_component_token.
    pub async fn component_token(
        &self,
        component_appid: &str,
        secret: &str,
        ticket: &str,
    ) -> Result<(String, i64)> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let p = tx.providers().get(component_appid).await?;
        let Some(p) = p.filter(|p| p.secret_hash == hash(secret)) else {
            return Err(refused(errcode::INVALID_APPSECRET, "component_appid 或 component_appsecret 不正确"));
        };
        match tx.tokens().get(&hash(ticket)).await? {
            Some(t)
                if t.kind == TokenKind::VerifyTicket
                    && t.component_appid == p.component_appid
                    && t.expires_at > now => {}
            _ => {
                return Err(refused(
                    errcode::INVALID_TICKET,
                    "component_verify_ticket 无效或已过期，请使用最近一次推送到授权事件接收URL的票据",
                ))
            }
        }
        let token = new_token();
        tx.tokens().supersede(TokenKind::ComponentAccess, component_appid, "", now).await?;
        tx.tokens()
            .insert(
                &hash(&token),
                &record(TokenKind::ComponentAccess, component_appid, "", &[], now, ACCESS_TTL),
            )
            .await?;
        tx.commit().await?;
        Ok((token, ACCESS_TTL))
    }

    /// Resolve a component_access_token to its provider.
    pub async fn component_caller(&self, token: Option<&str>) -> Result<String> {
        let t = self.resolve_token(token, TokenKind::ComponentAccess).await?;
        Ok(t.component_appid)
    }

    /// api_create_preauthcode.
    pub async fn create_pre_auth_code(&self, component_appid: &str) -> Result<(String, i64)> {
        let now = self.now().timestamp();
        let code = format!("preauthcode@@@{}", new_token());
        let mut tx = self.store.begin().await?;
        tx.tokens()
            .insert(
                &hash(&code),
                &record(TokenKind::PreAuthCode, component_appid, "", &[], now, PRE_AUTH_TTL),
            )
            .await?;
        tx.commit().await?;
        Ok((code, PRE_AUTH_TTL))
    }

    /// The provider a pre_auth_code belongs to, if it is still usable (authorization page).
    pub async fn pre_auth_provider(&self, component_appid: &str, pre_auth_code: &str) -> Result<Provider> {
        let now = self.now().timestamp();
        let mut tx = self.store.read().await?;
        usable_pre_auth(tx.tokens().get(&hash(pre_auth_code)).await?, component_appid, now)?;
        tx.providers()
            .get(component_appid)
            .await?
            .ok_or_else(|| refused(errcode::INVALID_INPUT, "服务商不存在"))
    }

    /// The merchant (proved by the admin's mobile and the last 6 characters of the admin's
    /// ID number) grants permission sets. Returns the authorization code (one-time, 1 h).
    pub async fn authorize_provider(
        &self,
        component_appid: &str,
        pre_auth_code: &str,
        appid: &str,
        admin_mobile: &str,
        admin_id_last6: &str,
        scopes: &[u32],
    ) -> Result<(String, i64)> {
        self.pre_auth_provider(component_appid, pre_auth_code).await?;
        let scopes: Vec<u32> = GRANTABLE_SCOPES.iter().copied().filter(|s| scopes.contains(s)).collect();
        if scopes.is_empty() {
            return Err(refused(errcode::INVALID_INPUT, "请至少选择一个权限集"));
        }
        let now = self.now().timestamp();
        let code_hash = hash(pre_auth_code);
        let mut tx = self.store.begin().await?;
        let mp = tx.mini_programs().get(appid.trim()).await?;
        // Counters first (their rows stay locked until commit), then the code again: another
        // attempt may have used it up while this one waited.
        let guard = merchant_auth::guard(&mut tx, component_appid, mp.as_ref(), now).await?;
        usable_pre_auth(tx.tokens().get(&code_hash).await?, component_appid, now)?;
        let mp = match mp {
            Some(mp) if merchant_auth::identity_matches(Some(&mp), admin_mobile, admin_id_last6) => mp,
            mp => {
                let refusal = self
                    .count_identity_failure(&mut tx, guard, &code_hash, component_appid, mp.as_ref(), now)
                    .await?;
                tx.commit().await?;
                return Err(refusal);
            }
        };
        self.count_identity_success(&mut tx, guard, now).await?;
        if !tx.tokens().consume(&code_hash, now).await? {
            return Err(ServiceError::Conflict("pre_auth_code used concurrently".into()));
        }
        let previous = tx.providers().authorization(component_appid, &mp.appid).await?;
        let info_type = match &previous {
            Some(a) if a.active => AuditAction::UpdateAuthorized,
            _ => AuditAction::Authorized,
        };
        tx.providers()
            .put_authorization(&Authorization {
                component_appid: component_appid.to_string(),
                appid: mp.appid.clone(),
                scopes: scopes.clone(),
                active: true,
                created_at: previous.map(|a| a.created_at).unwrap_or(now),
                updated_at: now,
            })
            .await?;
        // A new authorization replaces the old one whole: its tokens and unused codes end
        // now, including those still in a refresh's grace. (Authorization row first, then
        // tokens: the order revocation takes its locks in.)
        end_authorization_tokens(&mut tx, component_appid, &mp.appid, now).await?;
        let code = format!("queryauthcode@@@{}", new_token());
        tx.tokens()
            .insert(
                &hash(&code),
                &record(
                    TokenKind::AuthorizationCode,
                    component_appid,
                    &mp.appid,
                    &scopes,
                    now,
                    AUTH_CODE_TTL,
                ),
            )
            .await?;
        let event = EventPush {
            component_appid: component_appid.to_string(),
            info_type: info_type.as_str().to_string(),
            create_time: now,
            fields: vec![
                ("AuthorizerAppid".into(), mp.appid.clone(), false),
                ("AuthorizationCode".into(), code.clone(), false),
                ("AuthorizationCodeExpiredTime".into(), (now + AUTH_CODE_TTL).to_string(), true),
                ("PreAuthCode".into(), pre_auth_code.to_string(), false),
            ],
        };
        push_event(&mut tx, event, None, now).await?;
        audit(
            &mut tx,
            now,
            &Actor::new("admin", &mp.appid),
            beian_core::model::AuditEntity::Authorization,
            &format!("{component_appid}/{}", mp.appid),
            info_type,
            serde_json::json!({ "scopes": scopes }),
        )
        .await?;
        tx.commit().await?;
        // Scopes may have changed: resolved tokens of this node are asked again.
        self.callers.clear();
        Ok((code, AUTH_CODE_TTL))
    }

    /// The merchant withdraws a provider's authorization: tokens stop working, and the
    /// provider is told (`unauthorized`).
    pub async fn revoke_authorization(
        &self,
        actor: &Actor,
        component_appid: &str,
        appid: &str,
    ) -> Result<()> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let Some(mut a) = tx.providers().authorization(component_appid, appid).await?.filter(|a| a.active)
        else {
            return Err(refused(errcode::INVALID_INPUT, "该服务商未获得此小程序的授权"));
        };
        a.active = false;
        a.updated_at = now;
        tx.providers().put_authorization(&a).await?;
        end_authorization_tokens(&mut tx, component_appid, appid, now).await?;
        let event = EventPush {
            component_appid: component_appid.into(),
            info_type: "unauthorized".into(),
            create_time: now,
            fields: vec![("AuthorizerAppid".into(), appid.into(), false)],
        };
        push_event(&mut tx, event, None, now).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Authorization,
            &format!("{component_appid}/{appid}"),
            AuditAction::Unauthorized,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        self.callers.clear();
        Ok(())
    }

    /// Active authorizations of a mini program.
    pub async fn authorizations_of(&self, appid: &str) -> Result<Vec<Authorization>> {
        let mut tx = self.store.read().await?;
        Ok(tx.providers().authorizations_of(appid).await?)
    }

    /// api_query_auth: exchange the authorization code for the authorizer's tokens.
    pub async fn query_auth(&self, component_appid: &str, code: &str) -> Result<AuthorizerTokens> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let t = tx.tokens().get(&hash(code)).await?;
        let Some(t) =
            t.filter(|t| t.kind == TokenKind::AuthorizationCode && t.component_appid == component_appid)
        else {
            return Err(refused(errcode::INVALID_AUTH_CODE, "authorization_code 无效"));
        };
        if t.expires_at <= now || !tx.tokens().consume(&hash(code), now).await? {
            return Err(refused(
                errcode::INVALID_AUTH_CODE,
                "authorization_code 已使用或已过期，请重新发起授权",
            ));
        }
        let a = tx.providers().authorization(component_appid, &t.appid).await?.filter(|a| a.active);
        let Some(a) = a else {
            return Err(refused(errcode::NOT_AUTHORIZED, "该小程序未授权给此服务商"));
        };
        let tokens = issue_authorizer_tokens(&mut tx, component_appid, &t.appid, &a.scopes, now).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// api_authorizer_token: refresh. The old refresh token stays valid for 5 minutes.
    pub async fn refresh_authorizer_token(
        &self,
        component_appid: &str,
        appid: &str,
        refresh_token: &str,
    ) -> Result<AuthorizerTokens> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let t = tx.tokens().get(&hash(refresh_token)).await?;
        let valid = t.as_ref().is_some_and(|t| {
            t.kind == TokenKind::AuthorizerRefresh
                && t.component_appid == component_appid
                && t.appid == appid
                && t.superseded_at.is_none_or(|s| now < s + GRACE)
        });
        if !valid {
            return Err(refused(
                errcode::INVALID_REFRESH_TOKEN,
                "authorizer_refresh_token 无效，请重新授权获取",
            ));
        }
        let a = tx.providers().authorization(component_appid, appid).await?.filter(|a| a.active);
        let Some(a) = a else {
            return Err(refused(errcode::NOT_AUTHORIZED, "该小程序未授权给此服务商"));
        };
        let tokens = issue_authorizer_tokens(&mut tx, component_appid, appid, &a.scopes, now).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// Resolve an authorizer_access_token for an ICP call: the provider must still hold an
    /// active authorization with permission set 18 or 156. One statement (token joined with
    /// its authorization): this runs before every `/wxa/icp/*` call.
    pub async fn icp_caller(&self, token: Option<&str>) -> Result<Caller> {
        let hashed = token_hash_checked(token)?;
        let now = self.now().timestamp();
        if let Some(c) = self.callers.get(&hashed, now) {
            return Ok(c);
        }
        let generation = self.callers.generation();
        let (t, a) = match self.store.token_with_authorization(&hashed).await? {
            Some((t, a)) => (Some(t), a),
            None => (None, None),
        };
        let t = self.live_token(t, TokenKind::AuthorizerAccess)?;
        match a.filter(|a| a.active) {
            Some(a) if a.scopes.iter().any(|s| ICP_SCOPES.contains(s)) => {}
            Some(_) => return Err(ServiceError::code(errcode::API_UNAUTHORIZED)),
            None => return Err(ServiceError::code(errcode::INVALID_CREDENTIAL)),
        }
        let caller = Caller { component_appid: t.component_appid, appid: t.appid };
        let mut until = (now + CALLER_CACHE_SECS).min(t.expires_at);
        if let Some(s) = t.superseded_at {
            until = until.min(s + GRACE);
        }
        self.callers.put(hashed, caller.clone(), until, generation);
        Ok(caller)
    }

    /// Like [`Service::icp_caller`] but requiring permission set 18 (`/wxa/sec/*`).
    pub async fn sec_caller(&self, token: Option<&str>) -> Result<Caller> {
        let c = self.icp_caller(token).await?;
        let mut tx = self.store.read().await?;
        let a = tx.providers().authorization(&c.component_appid, &c.appid).await?;
        if !a.is_some_and(|a| a.scopes.contains(&18)) {
            return Err(ServiceError::code(errcode::API_UNAUTHORIZED));
        }
        Ok(c)
    }
}

/// The stored hash of a presented token, after refusing missing and malformed ones.
fn token_hash_checked(token: Option<&str>) -> Result<String> {
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(ServiceError::code(errcode::ACCESS_TOKEN_MISSING));
    };
    if token.len() > 512 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_@.=+/".contains(&b)) {
        return Err(ServiceError::code(errcode::INVALID_ACCESS_TOKEN));
    }
    Ok(hash(token))
}

/// Tokens handed to a provider for one mini program.
#[derive(Debug, Clone)]
pub struct AuthorizerTokens {
    pub appid: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub scopes: Vec<u32>,
}

async fn issue_authorizer_tokens(
    tx: &mut Tx,
    component: &str,
    appid: &str,
    scopes: &[u32],
    now: i64,
) -> Result<AuthorizerTokens> {
    let access = new_token();
    let refresh = format!("refreshtoken@@@{}", new_token());
    tx.tokens().supersede(TokenKind::AuthorizerAccess, component, appid, now).await?;
    tx.tokens().supersede(TokenKind::AuthorizerRefresh, component, appid, now).await?;
    tx.tokens()
        .insert(
            &hash(&access),
            &record(TokenKind::AuthorizerAccess, component, appid, scopes, now, ACCESS_TTL),
        )
        .await?;
    tx.tokens()
        .insert(
            &hash(&refresh),
            &record(TokenKind::AuthorizerRefresh, component, appid, scopes, now, REFRESH_TTL),
        )
        .await?;
    Ok(AuthorizerTokens {
        appid: appid.to_string(),
        access_token: access,
        refresh_token: refresh,
        expires_in: ACCESS_TTL,
        scopes: scopes.to_vec(),
    })
}

/// End every token of an authorization — access and refresh tokens, including those still
/// in a refresh's grace, and authorization codes not yet exchanged — so none answers after
/// `now` (revocation, re-authorization). The caller forgets this node's resolved tokens
/// after commit.
async fn end_authorization_tokens(tx: &mut Tx, component: &str, appid: &str, now: i64) -> Result<()> {
    for kind in [TokenKind::AuthorizerAccess, TokenKind::AuthorizerRefresh, TokenKind::AuthorizationCode] {
        tx.tokens().end(kind, component, appid, now - GRACE).await?;
    }
    Ok(())
}

fn record(kind: TokenKind, component: &str, appid: &str, scopes: &[u32], now: i64, ttl: i64) -> TokenRecord {
    TokenRecord {
        kind,
        component_appid: component.to_string(),
        appid: appid.to_string(),
        scopes: scopes.to_vec(),
        created_at: now,
        expires_at: now + ttl,
        superseded_at: None,
    }
}

fn check_event_url(url: &str) -> Result<()> {
    let u = url.trim();
    if !(u.starts_with("http://") || u.starts_with("https://"))
        || u.len() > 1024
        || u.contains(char::is_whitespace)
    {
        return Err(refused(errcode::INVALID_INPUT, "授权事件接收URL须以 http:// 或 https:// 开头"));
    }
    Ok(())
}

/// Queue one event push, if the provider receives events of its kind (its own choice,
/// [`Providers::set_event_config`]).
async fn push_event(tx: &mut Tx, event: EventPush, dedupe: Option<&str>, now: i64) -> Result<()> {
    if tx.providers().events(&event.component_appid).await?.wants(&event.info_type) {
        enqueue(tx, &JobSpec::Event(event), dedupe, now, now).await?;
    }
    Ok(())
}

/// Events for every provider acting for `appid`, enqueued in the caller's transaction.
pub(crate) async fn notify_providers(
    tx: &mut Tx,
    appid: &str,
    info_type: &str,
    fields: Vec<(String, String, bool)>,
    dedupe: Option<&str>,
    now: i64,
) -> Result<()> {
    for a in tx.providers().authorizations_of(appid).await? {
        let event = EventPush {
            component_appid: a.component_appid.clone(),
            info_type: info_type.to_string(),
            create_time: now,
            fields: fields.clone(),
        };
        let key = dedupe.map(|d| format!("{d}:{}", a.component_appid));
        push_event(tx, event, key.as_deref(), now).await?;
    }
    Ok(())
}

/// A pre_auth_code token that is still usable for this provider: not expired, not used up.
fn usable_pre_auth(t: Option<TokenRecord>, component_appid: &str, now: i64) -> Result<()> {
    match t {
        Some(t)
            if t.kind == TokenKind::PreAuthCode
                && t.component_appid == component_appid
                && t.expires_at > now
                && t.superseded_at.is_none() =>
        {
            Ok(())
        }
        _ => Err(refused(errcode::INVALID_INPUT, "授权链接已失效，请回到服务商页面重新发起授权")),
    }
}
