//! The merchant authorization page's guards: where it may send the merchant back
//! (`redirect_uri`), and how often the admin's identity may be answered wrongly (身份核验:
//! the admin's mobile and the last 6 characters of the admin's ID number).
//!
//! Failures are counted in the database, in the transaction that checks the answer (several
//! nodes share the counters): a pre_auth_code is used up after [`CODE_MAX_FAILURES`] wrong
//! answers; a mini program is locked after [`APPID_FAILURES_PER_LOCK`] (15 minutes, doubling
//! with each lockout, an audit event and a 站内信 to its members); a provider is stopped for
//! the rest of the hour after [`PROVIDER_FAILURES_PER_HOUR`] across mini programs. Nothing
//! here touches SQL: the counters are read and written through `beian_store::auth_attempts`.

use crate::aggregates::Providers;
use crate::notify::Notice;
use crate::{audit, Actor, Result, Service, ServiceError};
use beian_core::errcode;
use beian_core::ident::ResidentId;
use beian_core::model::AuditAction;
use beian_core::model::MiniProgram;
use beian_store::auth_attempts::{AuthCounter, AuthScope};
use beian_store::Tx;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Wrong answers one pre_auth_code takes before it is used up.
pub const CODE_MAX_FAILURES: i64 = 3;
/// Wrong answers for one mini program (across codes and providers) before it is locked.
pub const APPID_FAILURES_PER_LOCK: i64 = 5;
/// The first lockout; each further one lasts twice as long, up to [`APPID_LOCK_MAX_SECS`].
pub const APPID_LOCK_SECS: i64 = 15 * 60;
pub const APPID_LOCK_MAX_SECS: i64 = 24 * 3600;
/// A day after the last lockout ended without another one, failures and the backoff are
/// forgotten.
pub const APPID_FORGET_SECS: i64 = 24 * 3600;
/// Wrong answers a provider's authorization pages may collect per clock hour, all mini
/// programs together.
pub const PROVIDER_FAILURES_PER_HOUR: i64 = 30;
const HOUR: i64 = 3600;
/// Longest `redirect_uri` accepted.
pub const REDIRECT_MAX_LEN: usize = 2048;

fn refused(code: i64, msg: impl Into<String>) -> ServiceError {
    ServiceError::refused(code, msg)
}

// ---- redirect_uri -------------------------------------------------------------------------

/// Where the authorization page sends the merchant back with `auth_code`: a checked,
/// absolute http(s) URL.
///
/// WeChat only redirects to the provider's registered 授权发起页域名. beian stores no such
/// domain for a provider; the one address a provider registers is its 授权事件接收URL
/// (`event_url`), whose server proves it is the provider's by answering every signed push.
/// So the decision: `redirect_uri` must be an absolute `http://` or `https://` URL without
/// user name or password whose host is the event URL's host or a subdomain of it (a host
/// given as an IP address must be equal; ports are not compared, as WeChat compares domains).
/// Should a stored event URL have no host that parses, only the scheme is required. In every
/// case a `redirect_uri` with whitespace or control characters (CR/LF header injection) or
/// longer than [`REDIRECT_MAX_LEN`] is refused. An empty `redirect_uri` means "no redirect":
/// the page shows that the authorization succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRedirect(url::Url);

impl AuthRedirect {
    /// Parse `redirect_uri` against the provider's registered event URL. `Ok(None)`: empty.
    pub fn parse(event_url: &str, redirect_uri: &str) -> Result<Option<AuthRedirect>> {
        const AGAIN: &str = "请服务商检查授权链接后重新发起授权";
        if redirect_uri.is_empty() {
            return Ok(None);
        }
        if redirect_uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(refused(
                errcode::INVALID_INPUT,
                format!("回调地址 redirect_uri 含有空白或控制字符（如换行），{AGAIN}"),
            ));
        }
        if redirect_uri.len() > REDIRECT_MAX_LEN {
            return Err(refused(
                errcode::INVALID_INPUT,
                format!("回调地址 redirect_uri 过长（最多 {REDIRECT_MAX_LEN} 个字符），{AGAIN}"),
            ));
        }
        let lower = redirect_uri.to_ascii_lowercase();
        let parsed = url::Url::parse(redirect_uri).ok().filter(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && (lower.starts_with("http://") || lower.starts_with("https://"))
        });
        let Some(u) = parsed else {
            return Err(refused(
                errcode::INVALID_INPUT,
                format!("回调地址 redirect_uri 须是以 http:// 或 https:// 开头的完整网址，{AGAIN}"),
            ));
        };
        if !u.username().is_empty() || u.password().is_some() {
            return Err(refused(
                errcode::INVALID_INPUT,
                format!("回调地址 redirect_uri 不能含有用户名或密码（“@”之前的部分），{AGAIN}"),
            ));
        }
        let registered = url::Url::parse(event_url.trim()).ok();
        if let Some(domain) = registered.as_ref().and_then(|r| r.host()) {
            if !host_within(&u, &domain) {
                return Err(refused(
                    errcode::INVALID_INPUT,
                    format!(
                        "回调地址 redirect_uri 的域名 {} 不是服务商登记的域名 {domain} 或其子域名，\
                         请服务商使用登记域名下的地址重新发起授权",
                        u.host_str().unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(Some(AuthRedirect(u)))
    }

    /// The URL the merchant is sent to: this one with `auth_code` and `expires_in` added to
    /// its query (before any fragment). Always ASCII, so always a valid `Location`.
    pub fn with_code(&self, auth_code: &str, expires_in: i64) -> String {
        let code: String = url::form_urlencoded::byte_serialize(auth_code.as_bytes()).collect();
        let add = format!("auth_code={code}&expires_in={expires_in}");
        let mut u = self.0.clone();
        let query = match u.query() {
            Some(q) if !q.is_empty() => format!("{q}&{add}"),
            _ => add,
        };
        u.set_query(Some(&query));
        u.to_string()
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// `u`'s host is `domain` or, for a domain name, one of its subdomains.
fn host_within(u: &url::Url, domain: &url::Host<&str>) -> bool {
    match (u.host(), domain) {
        (Some(url::Host::Domain(h)), url::Host::Domain(d)) => {
            let (h, d) = (h.trim_end_matches('.'), d.trim_end_matches('.'));
            h == d || h.strip_suffix(d).is_some_and(|rest| rest.ends_with('.'))
        }
        (Some(url::Host::Ipv4(a)), url::Host::Ipv4(b)) => a == *b,
        (Some(url::Host::Ipv6(a)), url::Host::Ipv6(b)) => a == *b,
        _ => false,
    }
}

impl Providers<'_> {
    /// The provider's checked `redirect_uri` (authorization page), before anything is written.
    pub async fn authorization_redirect(
        &self,
        component_appid: &str,
        redirect_uri: &str,
    ) -> Result<Option<AuthRedirect>> {
        let p = self.provider(component_appid).await?;
        AuthRedirect::parse(&p.event_url, redirect_uri)
    }
}

// ---- identity check -----------------------------------------------------------------------

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Whether the mobile and the last 6 characters of the ID number are the admin's of `mp`.
/// The answers are compared as SHA-256 digests in constant time, both always, so the time
/// taken says nothing about which part or how much of it was right.
pub(crate) fn identity_matches(mp: Option<&MiniProgram>, mobile: &str, last6: &str) -> bool {
    let last6 = last6.trim().to_uppercase();
    let expected = mp.and_then(|mp| {
        let id = ResidentId::parse(&mp.admin.id_number).ok()?;
        let s = id.as_str();
        let tail = s.get(s.len().checked_sub(6)?..)?.to_string();
        Some((mp.admin.mobile.clone(), tail))
    });
    let present = expected.is_some() && last6.chars().count() == 6;
    let (want_mobile, want_last6) = expected.unwrap_or_default();
    let same =
        digest(mobile.trim()).ct_eq(&digest(&want_mobile)) & digest(&last6).ct_eq(&digest(&want_last6));
    present & bool::from(same)
}

/// "HH:MM" Beijing time of `until`, with the date if it is not today's.
pub(crate) fn clock_text(now: i64, until: i64) -> String {
    let bj = beian_core::time::beijing();
    let (n, u) = (
        beian_core::time::from_ts(now).with_timezone(&bj),
        beian_core::time::from_ts(until).with_timezone(&bj),
    );
    if n.date_naive() == u.date_naive() {
        u.format("%H:%M").to_string()
    } else {
        u.format("%m月%d日 %H:%M").to_string()
    }
}

/// The provider's counter for this clock hour.
fn provider_window(c: &mut AuthCounter, now: i64) {
    let hour = now - now.rem_euclid(HOUR);
    if c.window_start != hour {
        c.window_start = hour;
        c.failures = 0;
    }
}

/// Count one failure of a mini program; `Some(until)` when it locks the mini program.
fn appid_failure(c: &mut AuthCounter, now: i64) -> Option<i64> {
    if now - c.window_start >= APPID_FORGET_SECS {
        c.window_start = now;
        c.failures = 0;
        c.lockouts = 0;
    }
    c.failures += 1;
    if c.failures < APPID_FAILURES_PER_LOCK {
        return None;
    }
    let factor = 1_i64 << c.lockouts.clamp(0, 16);
    let until = now + APPID_LOCK_SECS.saturating_mul(factor).min(APPID_LOCK_MAX_SECS);
    c.lockouts += 1;
    c.failures = 0;
    c.locked_until = until;
    // Forgetting starts when the lock ends.
    c.window_start = until;
    Some(until)
}

/// The counters of one attempt, each row locked until the transaction ends.
pub(crate) struct Guard {
    provider: AuthCounter,
    appid: Option<AuthCounter>,
}

/// Lock the counters of an attempt (provider first, then mini program: one order, so no two
/// attempts wait for each other in a cycle) and refuse at once if either is stopped.
pub(crate) async fn guard(
    tx: &mut Tx,
    component_appid: &str,
    mp: Option<&MiniProgram>,
    now: i64,
) -> Result<Guard> {
    let mut provider = tx.auth_attempts().lock(AuthScope::Provider, component_appid, now).await?;
    provider_window(&mut provider, now);
    if provider.failures >= PROVIDER_FAILURES_PER_HOUR {
        return Err(refused(
            errcode::RATE_LIMITED,
            format!(
                "该服务商的授权页面本小时内身份核验失败次数过多，已暂停授权，请于{}后再试",
                clock_text(now, provider.window_start + HOUR)
            ),
        ));
    }
    let appid = match mp {
        Some(mp) => Some(tx.auth_attempts().lock(AuthScope::Appid, &mp.appid, now).await?),
        None => None,
    };
    if let Some(c) = appid.as_ref().filter(|c| c.locked_until > now) {
        return Err(refused(
            errcode::RATE_LIMITED,
            format!(
                "该小程序的管理员身份核验失败次数过多，授权已暂停，请于{}后再试；如非本人操作，请勿向他人透露管理员信息",
                clock_text(now, c.locked_until)
            ),
        ));
    }
    Ok(Guard { provider, appid })
}

impl Service {
    /// Count a wrong answer in `tx` (the caller commits it and returns the refusal this
    /// gives): against the pre_auth_code (used up at the last allowed failure), the mini
    /// program (locked with an audit event and a 站内信 at the threshold) and the provider.
    pub(crate) async fn count_identity_failure(
        &self,
        tx: &mut Tx,
        g: Guard,
        code_hash: &str,
        component_appid: &str,
        mp: Option<&MiniProgram>,
        now: i64,
    ) -> Result<ServiceError> {
        let Guard { mut provider, appid } = g;
        let code_failures = tx.auth_attempts().count_token_failure(code_hash, CODE_MAX_FAILURES, now).await?;
        provider.failures += 1;
        tx.auth_attempts().save(&provider, now).await?;
        if provider.failures == PROVIDER_FAILURES_PER_HOUR {
            audit(
                tx,
                now,
                &Actor::new("system", "authorization-guard"),
                beian_core::model::AuditEntity::Provider,
                component_appid,
                AuditAction::AuthorizationPaused,
                serde_json::json!({ "failures": provider.failures, "until": provider.window_start + HOUR }),
            )
            .await?;
        }
        let mut locked = None;
        if let (Some(mut c), Some(mp)) = (appid, mp) {
            locked = appid_failure(&mut c, now);
            tx.auth_attempts().save(&c, now).await?;
            if let Some(until) = locked {
                self.tell_locked(tx, mp, component_appid, c.lockouts, until, now).await?;
            }
        }
        let used_up = code_failures.is_none_or(|n| n >= CODE_MAX_FAILURES);
        let msg = match (locked, used_up) {
            (Some(until), used_up) => format!(
                "管理员身份核验连续失败{APPID_FAILURES_PER_LOCK}次，该小程序的授权已暂停，请于{}后再试{}；\
                 管理员已收到站内信通知",
                clock_text(now, until),
                if used_up { "（届时请服务商重新发起授权）" } else { "" }
            ),
            (None, true) => "身份核验失败次数过多，该授权链接已失效，请服务商重新发起授权".to_string(),
            (None, false) => format!(
                "小程序或管理员信息不正确：请核对小程序的 appid、管理员手机号和管理员身份证号后6位\
                 （该授权链接还可尝试{}次）",
                CODE_MAX_FAILURES - code_failures.unwrap_or(CODE_MAX_FAILURES)
            ),
        };
        Ok(refused(errcode::INVALID_INPUT, msg))
    }

    /// A correct answer: the mini program's failures and backoff are forgotten.
    pub(crate) async fn count_identity_success(&self, tx: &mut Tx, g: Guard, now: i64) -> Result<()> {
        if let Some(mut c) = g.appid.filter(|c| c.failures > 0 || c.lockouts > 0) {
            c.failures = 0;
            c.lockouts = 0;
            c.locked_until = 0;
            c.window_start = now;
            tx.auth_attempts().save(&c, now).await?;
        }
        Ok(())
    }

    /// The lockout's audit event and the 站内信 (with the SMS to the admin) of `mp`.
    async fn tell_locked(
        &self,
        tx: &mut Tx,
        mp: &MiniProgram,
        component_appid: &str,
        lockouts: i64,
        until: i64,
        now: i64,
    ) -> Result<()> {
        audit(
            tx,
            now,
            &Actor::new("system", "authorization-guard"),
            beian_core::model::AuditEntity::MiniProgram,
            &mp.appid,
            AuditAction::AuthorizationLocked,
            serde_json::json!({ "component_appid": component_appid, "lockouts": lockouts, "until": until }),
        )
        .await?;
        let provider = tx.providers().get(component_appid).await?.map(|p| p.name).unwrap_or_default();
        let until_text = clock_text(now, until);
        let notice = Notice {
            kind: "authorization_locked",
            title: "服务商授权的身份核验多次失败，已暂停授权".into(),
            body: format!(
                "有人在服务商「{provider}」（{component_appid}）的授权页面上为小程序「{}」连续{APPID_FAILURES_PER_LOCK}次\
                 填写了错误的管理员手机号或身份证号后6位。为保护你的小程序，授权已暂停至 {until_text}（北京时间）。\
                 如是你本人操作，请于 {until_text} 后核对信息再试；如不是，请勿向任何人透露管理员信息，\
                 并在「服务商授权」中检查已授权的服务商。",
                mp.name
            ),
            key: format!("authorization_locked:{}:{now}", mp.appid),
        };
        crate::notify::notify(tx, mp, self.email_channel(), None, &notice, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> AuthCounter {
        AuthCounter {
            scope: AuthScope::Appid,
            subject: "wx1".into(),
            failures: 0,
            window_start: 0,
            lockouts: 0,
            locked_until: 0,
        }
    }

    #[test]
    fn redirect_targets() {
        let ev = "https://api.provider.example:8443/events";
        let ok = |r: &str| AuthRedirect::parse(ev, r).expect(r).expect("some").as_str().to_string();
        assert_eq!(ok("https://api.provider.example/cb?x=1"), "https://api.provider.example/cb?x=1");
        assert_eq!(ok("http://m.API.provider.example:81/cb"), "http://m.api.provider.example:81/cb");
        assert_eq!(AuthRedirect::parse(ev, "").expect("empty"), None);
        for bad in [
            "https://api.provider.example/cb\r\nSet-Cookie: a=b",
            "https://api.provider.example/cb\n",
            "https://api.provider.example/c b",
            "https://api.provider.example/cb\u{7f}",
            "https://evil.example/cb",
            "https://api.provider.example.evil.example/cb",
            "https://xapi.provider.example/cb",
            "https://provider.example/cb",
            "https://api.provider.example@evil.example/cb",
            "https://evil.example\\@api.provider.example/cb",
            "https://user:pw@api.provider.example/cb",
            "javascript:alert(1)",
            "//api.provider.example/cb",
            "/cb",
            "ftp://api.provider.example/cb",
            "https:api.provider.example/cb",
        ] {
            assert!(AuthRedirect::parse(ev, bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("https://api.provider.example/{}", "a".repeat(REDIRECT_MAX_LEN));
        assert!(AuthRedirect::parse(ev, &long).is_err());
        // IP hosts: equal only.
        let ip = "http://127.0.0.1:9/events";
        assert!(AuthRedirect::parse(ip, "http://127.0.0.1:1/callback").is_ok());
        assert!(AuthRedirect::parse(ip, "http://127.0.0.2/callback").is_err());
        assert!(AuthRedirect::parse(ip, "http://localhost/callback").is_err());
        // No registered host that parses: scheme and characters only.
        assert!(AuthRedirect::parse("not a url", "https://anywhere.example/cb").is_ok());
        assert!(AuthRedirect::parse("not a url", "https://anywhere.example/cb\r\n").is_err());
    }

    #[test]
    fn redirect_location_keeps_query_and_fragment() {
        let r = AuthRedirect::parse("https://p.example/e", "https://p.example/cb?x=1#top")
            .expect("ok")
            .expect("some");
        assert_eq!(
            r.with_code("queryauthcode@@@a-b_c", 3600),
            "https://p.example/cb?x=1&auth_code=queryauthcode%40%40%40a-b_c&expires_in=3600#top"
        );
    }

    #[test]
    fn appid_lockouts_double_and_are_forgotten() {
        let mut c = counter();
        for i in 1..APPID_FAILURES_PER_LOCK {
            assert_eq!(appid_failure(&mut c, 100 + i), None);
        }
        let first = appid_failure(&mut c, 200).expect("locked");
        assert_eq!(first, 200 + APPID_LOCK_SECS);
        for i in 1..APPID_FAILURES_PER_LOCK {
            assert_eq!(appid_failure(&mut c, first + i), None);
        }
        assert_eq!(appid_failure(&mut c, first + 10), Some(first + 10 + 2 * APPID_LOCK_SECS));
        // Many lockouts: capped at a day.
        c.lockouts = 40;
        c.failures = APPID_FAILURES_PER_LOCK - 1;
        let at = c.locked_until;
        assert_eq!(appid_failure(&mut c, at), Some(at + APPID_LOCK_MAX_SECS));
        // A quiet day after the lock: back to the first length.
        let later = c.locked_until + APPID_FORGET_SECS;
        c.failures = APPID_FAILURES_PER_LOCK - 1;
        assert_eq!(appid_failure(&mut c, later), None, "old failures forgotten");
        assert_eq!(c.lockouts, 0);
    }

    #[test]
    fn provider_window_is_the_clock_hour() {
        let mut c = counter();
        c.failures = 7;
        c.window_start = 7200;
        provider_window(&mut c, 7200 + 3599);
        assert_eq!(c.failures, 7);
        provider_window(&mut c, 7200 + 3600);
        assert_eq!((c.failures, c.window_start), (0, 10800));
    }

    #[test]
    fn clock_text_is_beijing_time() {
        // 2026-03-02 02:00 UTC = 10:00 Beijing.
        let now = 1_772_416_800;
        assert_eq!(clock_text(now, now + 900), "10:15");
        assert_eq!(clock_text(now, now + 86_400), "03月03日 10:00");
    }
}
