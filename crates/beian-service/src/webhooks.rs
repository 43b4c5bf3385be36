//! Developers' webhooks (console) and the URL rules they share with providers' event URLs:
//! the configuration (URL, generated or given secret, events, on/off), test deliveries, the
//! delivery log and 重新发送. The deliveries themselves are `JobSpec::Webhook` jobs written by
//! `notify.rs` and sent by the worker (`beian-jobs`); the wire format is `docs/webhooks.md`.

use crate::aggregates::MiniPrograms;
use crate::jobs::{enqueue, JobSpec};
use crate::{Actor, Result, ServiceError};
use beian_core::errcode;
use beian_core::model::{AuditAction, AuditEntity, Timestamp};
use beian_core::platform::{
    EventFilter, WebhookConfig, WebhookDeliveryRecord, WebhookTarget, NOTICE_KINDS, TEST_EVENT,
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The shortest secret a developer may set (beian's own are 32 hex digits after `whsec_`).
pub const MIN_SECRET_CHARS: usize = 16;

/// What to do with the secret when the webhook is saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretChoice<'a> {
    /// Keep the current one (a new one is generated when there is none).
    Keep,
    /// Generate a new one (shown once).
    Generate,
    /// Use this one.
    Set(&'a str),
}

/// A webhook as the console shows it: never the secret, only its last 4 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookView {
    pub url: String,
    pub secret_last4: Option<String>,
    pub target: WebhookTarget,
    pub updated_at: Timestamp,
}

fn bad(msg: &str) -> ServiceError {
    ServiceError::refused(errcode::INVALID_INPUT, msg)
}

/// The URL rules of every webhook and provider event URL set by developers and providers
/// (docs/webhooks.md "Addresses"): an absolute `https://` URL; `http://` only to loopback
/// (development, a relay on the same host); no user name or password in it; no IP literal
/// in a private, link-local, shared, unspecified or multicast range (beian must not be made
/// to post into the network it runs in). Host names are not resolved here.
pub fn check_webhook_url(raw: &str) -> Result<String> {
    let raw = raw.trim();
    beian_core::bounds::text("Webhook 地址", raw, beian_core::bounds::URL_CHARS)?;
    let u = url::Url::parse(raw)
        .map_err(|_| bad("Webhook 地址格式不正确，请填写完整地址，如 https://example.com/hook"))?;
    let Some(host) = u.host() else { return Err(bad("Webhook 地址缺少主机名")) };
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("Webhook 地址中不能包含用户名或密码"));
    }
    let loopback = match &host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(bad("Webhook 地址须以 https:// 开头（仅本机地址 localhost、127.0.0.1 可用 http://）"))
        }
    }
    let internal = match host {
        url::Host::Domain(_) => false,
        url::Host::Ipv4(ip) => internal_v4(ip),
        url::Host::Ipv6(ip) => ip.to_ipv4_mapped().is_some_and(internal_v4) || internal_v6(ip),
    };
    if internal {
        return Err(bad("Webhook 地址不能指向内网地址（如 10.x、172.16–31.x、192.168.x、169.254.x）"));
    }
    Ok(raw.to_string())
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || (a == 100 && (64..128).contains(&b))
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let s0 = ip.segments()[0];
    ip.is_unspecified() || ip.is_multicast() || (s0 & 0xfe00) == 0xfc00 || (s0 & 0xffc0) == 0xfe80
}

/// Events chosen from `known`: every event (`None`), or a non-empty list of known names.
pub fn check_events(events: Option<Vec<String>>, known: &[&str]) -> Result<EventFilter> {
    match events {
        None => Ok(EventFilter(None)),
        Some(list) if list.is_empty() => Err(bad("请至少选择一个事件")),
        Some(list) => {
            if let Some(x) = list.iter().find(|e| !known.contains(&e.as_str())) {
                return Err(bad(&format!("未知的事件：{}", x.chars().take(40).collect::<String>())));
            }
            let mut list = list;
            list.sort();
            list.dedup();
            Ok(EventFilter(Some(list)))
        }
    }
}

/// The names of the notice kinds a developer's webhook can subscribe to.
pub fn notice_kinds() -> Vec<&'static str> {
    NOTICE_KINDS.iter().map(|(k, _)| *k).collect()
}

/// A delivery error as the console shows it: the first line, without what the receiver
/// answered in its body (it may echo anything), at most 120 characters.
pub fn masked_error(e: &str) -> String {
    let line = e.lines().next().unwrap_or_default();
    let cut = match line.find("HTTP ") {
        // "webhook: HTTP 500 Internal Server Error: <body>" → keep the status only.
        Some(i) => line[i..].split(": ").next().unwrap_or_default(),
        None => line,
    };
    cut.chars().take(120).collect()
}

impl MiniPrograms<'_> {
    /// Configure a mini program's webhook (developer action, audited). Answers the secret
    /// when one was generated: it is shown once and never again (the console shows its last
    /// 4 characters).
    pub async fn set_webhook(
        &self,
        actor: &Actor,
        appid: &str,
        url: &str,
        secret: SecretChoice<'_>,
        target: WebhookTarget,
    ) -> Result<Option<String>> {
        let url = check_webhook_url(url)?;
        if let SecretChoice::Set(s) = secret {
            if s.trim().chars().count() < MIN_SECRET_CHARS {
                return Err(bad(&format!("Webhook 密钥至少{MIN_SECRET_CHARS}个字符，或留空由平台生成")));
            }
            beian_core::bounds::text("Webhook 密钥", s, beian_core::bounds::SECRET_CHARS)?;
        }
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        if tx.mini_programs().get(appid).await?.is_none() {
            return Err(ServiceError::code(errcode::UNKNOWN_APPID));
        }
        let current = tx.notify().webhook(appid).await?.and_then(|c| c.secret);
        let (secret, generated, how) = match (secret, current) {
            (SecretChoice::Set(s), _) => (s.trim().to_string(), None, "set"),
            (SecretChoice::Keep, Some(c)) => (c, None, "kept"),
            (SecretChoice::Keep, None) | (SecretChoice::Generate, _) => {
                let s = format!("whsec_{}", crate::random_id(16));
                (s.clone(), Some(s), "generated")
            }
        };
        tx.notify().put_webhook(appid, &url, &secret, &target, now).await?;
        crate::audit(
            &mut tx,
            now,
            actor,
            AuditEntity::Webhook,
            appid,
            AuditAction::Set,
            serde_json::json!({
                "url": url,
                "events": target.events.0,
                "enabled": target.enabled,
                "secret": how,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(generated)
    }

    /// The webhook as the console shows it (no secret).
    pub async fn webhook_view(&self, appid: &str) -> Result<Option<WebhookView>> {
        let mut tx = self.store.read().await?;
        Ok(tx.notify().webhook(appid).await?.map(|c| WebhookView {
            url: c.url,
            secret_last4: c.secret.map(|s| {
                let chars: Vec<char> = s.chars().collect();
                chars[chars.len().saturating_sub(4)..].iter().collect()
            }),
            target: c.target,
            updated_at: c.updated_at,
        }))
    }

    /// For the worker, before it sends job `job_id` (`event`): the webhook to send it to, or
    /// `None` when there is none or it is switched off (a test delivery goes out anyway: it
    /// was asked for). The delivery is logged for the console when it is sent.
    pub async fn webhook_for_delivery(
        &self,
        appid: &str,
        job_id: i64,
        event: &str,
    ) -> Result<Option<WebhookConfig>> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let hook = tx.notify().webhook(appid).await?.filter(|c| c.target.enabled || event == TEST_EVENT);
        if hook.is_some() {
            tx.notify().log_delivery(job_id, appid, event, now).await?;
        }
        tx.commit().await?;
        Ok(hook)
    }

    /// Queue a test delivery to the configured webhook (audited); answers its job id.
    pub async fn send_test_webhook(&self, actor: &Actor, appid: &str) -> Result<i64> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let mp =
            tx.mini_programs().get(appid).await?.ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
        if tx.notify().webhook(appid).await?.is_none() {
            return Err(bad("请先保存 Webhook 地址，再发送测试推送"));
        }
        let spec = JobSpec::Webhook {
            appid: appid.to_string(),
            payload: serde_json::json!({
                "template": TEST_EVENT,
                "appid": appid,
                "name": mp.name,
                "title": "测试推送",
                "body": "这是一条测试推送，用于检查 Webhook 地址和签名校验。",
                "time": now,
            }),
        };
        let id = enqueue(&mut tx, &spec, None, now, now)
            .await?
            .ok_or_else(|| ServiceError::Internal("a job without a dedupe key was not written".into()))?;
        tx.notify().log_delivery(id, appid, TEST_EVENT, now).await?;
        crate::audit(
            &mut tx,
            now,
            actor,
            AuditEntity::Webhook,
            appid,
            AuditAction::Create,
            serde_json::json!({ "test_delivery": id }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The webhook's deliveries, newest first; errors masked ([`masked_error`]).
    pub async fn webhook_deliveries(&self, appid: &str, limit: i64) -> Result<Vec<WebhookDeliveryRecord>> {
        let mut tx = self.store.read().await?;
        let mut list = tx.notify().deliveries(appid, limit).await?;
        for d in &mut list {
            d.last_error = d.last_error.as_deref().map(masked_error);
        }
        Ok(list)
    }

    /// 重新发送: a failed or dead-lettered delivery of `appid` is tried again now, once
    /// (audited). Refused when `job_id` is not a failed delivery of this mini program.
    pub async fn redeliver_webhook(&self, actor: &Actor, appid: &str, job_id: i64) -> Result<()> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        if !tx.notify().redeliver(appid, job_id, now).await? {
            return Err(bad("该推送不存在，或未失败，无需重新发送"));
        }
        crate::audit(
            &mut tx,
            now,
            actor,
            AuditEntity::Webhook,
            appid,
            AuditAction::Update,
            serde_json::json!({ "redeliver": job_id }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every notice kind the code writes (`kind: "…"`, and `n("…"` in `Plan::notice`) is one a
    /// webhook can subscribe to, so a new kind cannot be left out of the console's list.
    #[test]
    fn every_written_notice_kind_is_listed() {
        let sources = [
            include_str!("../../beian-core/src/plan.rs"),
            include_str!("deadlines.rs"),
            include_str!("merchant_auth.rs"),
            include_str!("host.rs"),
        ];
        let mut found = Vec::new();
        for src in sources {
            for marker in ["kind: \"", "n(\"", "n(\n                \""] {
                for (i, _) in src.match_indices(marker) {
                    let rest = &src[i + marker.len()..];
                    let name: String =
                        rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    if rest[name.len()..].starts_with('"') && !name.is_empty() {
                        found.push(name);
                    }
                }
            }
        }
        let plan = include_str!("../../beian-core/src/plan.rs");
        // `n(` calls spread over lines: the first string literal after `n(`.
        for (i, _) in plan.match_indices(" n(\n") {
            let rest = plan[i + 4..].trim_start();
            if let Some(lit) = rest.strip_prefix('"') {
                found.push(lit.chars().take_while(|c| *c != '"').collect());
            }
        }
        found.sort();
        found.dedup();
        assert!(found.len() >= 20, "the scan finds the kinds: {found:?}");
        let listed = notice_kinds();
        for k in &found {
            assert!(listed.contains(&k.as_str()), "notice kind {k} is missing from NOTICE_KINDS");
        }
    }

    #[test]
    fn webhook_urls() {
        let ok = [
            "https://example.com/hook",
            "https://hooks.example.com:8443/a/b?x=1",
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://[::1]:9000/hook",
            "https://8.8.8.8/hook",
        ];
        for u in ok {
            assert!(check_webhook_url(u).is_ok(), "{u}");
        }
        let refused = [
            ("http://example.com/hook", "https://"),
            ("ftp://example.com/hook", "https://"),
            ("example.com/hook", "格式"),
            ("https://user:pw@example.com/hook", "用户名"),
            ("https://10.0.0.5/hook", "内网"),
            ("https://172.16.3.4/hook", "内网"),
            ("https://192.168.1.1/hook", "内网"),
            ("https://169.254.169.254/latest/meta-data", "内网"),
            ("https://100.64.0.1/hook", "内网"),
            ("https://0.0.0.0/hook", "内网"),
            ("https://[fd00::1]/hook", "内网"),
            ("https://[fe80::1]/hook", "内网"),
            ("https://[::ffff:10.0.0.1]/hook", "内网"),
        ];
        for (u, why) in refused {
            match check_webhook_url(u) {
                Err(ServiceError::Refused { errcode, errmsg }) => {
                    assert_eq!(errcode, errcode::INVALID_INPUT, "{u}");
                    assert!(errmsg.contains(why), "{u}: {errmsg}");
                }
                other => panic!("{u} accepted: {other:?}"),
            }
        }
    }

    #[test]
    fn events_and_errors() {
        let known = notice_kinds();
        assert_eq!(check_events(None, &known).expect("all"), EventFilter(None));
        assert!(check_events(Some(vec![]), &known).is_err());
        assert!(check_events(Some(vec!["no_such".into()]), &known).is_err());
        let f = check_events(Some(vec!["filed".into(), "apply_submitted".into(), "filed".into()]), &known)
            .expect("known");
        assert_eq!(f.0, Some(vec!["apply_submitted".to_string(), "filed".to_string()]));
        assert!(f.wants("filed") && !f.wants("withdrawn"));
        assert_eq!(
            masked_error("webhook: HTTP 500 Internal Server Error: \"身份证 110101199003070011\""),
            "HTTP 500 Internal Server Error"
        );
        assert_eq!(masked_error("webhook: error sending request"), "webhook: error sending request");
    }
}
