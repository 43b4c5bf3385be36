//! The authority gateway (管局 + MIIT SMS verification) and its built-in simulator.
//!
//! The real MIIT interface is not public; the platform reaches the authority only through
//! [`AuthorityGateway`]. The [`Simulator`] behaves like the real thing: on submission it texts
//! every principal a 6-digit code valid 24 h (5 wrong tries), offers the verification page
//! (phone + last 6 ID characters + code), returns the order to the platform on timeout,
//! decides after a configurable number of working days with a configurable outcome, and
//! texts the MIIT-style rejection. Cancellations are confirmed the same way. Its time is the
//! service clock, so tests and demos move it.

use crate::filing::{end_of_beijing_day, Change};
use crate::jobs::{enqueue, JobSpec};
use crate::{Actor, Result, Service, ServiceError};
use beian_core::calendar::WorkCalendar;
use beian_core::errcode;
use beian_core::model::{AuditItem, CancelType};
use beian_core::platform::SmsCode;
use beian_core::state::{Action, FilingState, SmsVerifyStatus};
use beian_core::time::beijing_date;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How the platform hands work to the authority. Calls come from the job worker.
pub trait AuthorityGateway: Send + Sync {
    fn name(&self) -> &'static str;
    /// A filing approved by the platform (round `round`): start the SMS verification.
    fn submit<'a>(&'a self, svc: &'a Service, appid: &'a str, round: u32) -> BoxFuture<'a, Result<()>>;
    /// The authority's review period is over: decide.
    fn decide<'a>(&'a self, svc: &'a Service, appid: &'a str, round: u32) -> BoxFuture<'a, Result<()>>;
    /// A cancellation: text the principal for confirmation.
    fn submit_cancellation<'a>(
        &'a self,
        svc: &'a Service,
        appid: &'a str,
        round: u32,
    ) -> BoxFuture<'a, Result<()>>;
}

/// The built-in simulator.
#[derive(Debug, Default, Clone, Copy)]
pub struct Simulator;

impl AuthorityGateway for Simulator {
    fn name(&self) -> &'static str {
        "simulator"
    }
    fn submit<'a>(&'a self, svc: &'a Service, appid: &'a str, round: u32) -> BoxFuture<'a, Result<()>> {
        Box::pin(svc.sim_send_codes(appid, round, PURPOSE_FILING))
    }
    fn decide<'a>(&'a self, svc: &'a Service, appid: &'a str, round: u32) -> BoxFuture<'a, Result<()>> {
        Box::pin(svc.sim_decide(appid, round))
    }
    fn submit_cancellation<'a>(
        &'a self,
        svc: &'a Service,
        appid: &'a str,
        round: u32,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(svc.sim_send_codes(appid, round, PURPOSE_CANCEL))
    }
}

pub const PURPOSE_FILING: &str = "filing";
pub const PURPOSE_CANCEL: &str = "cancel";
pub const SMS_WINDOW: i64 = 24 * 3600;
pub const MAX_WRONG_TRIES: u32 = 5;

/// Simulator settings (operator-editable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulatorSettings {
    /// Working days from SMS verification to the authority's decision.
    pub review_working_days: u32,
    /// `approve` or `reject`.
    pub default_outcome: String,
    /// Reasons used when rejecting.
    pub reject_reasons: Vec<AuditItem>,
    /// Per-appid outcomes that override the default.
    pub forced: HashMap<String, String>,
}

impl Default for SimulatorSettings {
    fn default() -> Self {
        SimulatorSettings {
            review_working_days: 3,
            default_outcome: "approve".into(),
            reject_reasons: vec![AuditItem {
                key_name: "主体证件照片".into(),
                error: "证件照片不清晰，无法核对证件信息".into(),
                suggest: "请上传证件原件的彩色照片或扫描件，四角完整、文字清晰".into(),
            }],
            forced: HashMap::new(),
        }
    }
}

const SETTINGS_KEY: &str = "simulator";

/// The MIIT rejection SMS (PRODUCT rule 8).
pub fn rejection_sms(name: &str) -> String {
    format!("【工业和信息化部】尊敬的用户{name}您的新增备案不完全符合备案要求，现已被退回。详情请咨询您接入服务提供商。【工信部ICP备案】")
}

/// The older, unkeyed forms of the two hashes below, still read for codes sent before the
/// keyed MAC (a code lives 24 h).
fn legacy_code_hash(appid: &str, purpose: &str, round: u32, phone: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{appid}:{purpose}:{round}:{phone}:{code}").as_bytes()))
}

fn legacy_last6_hash(appid: &str, last6: &str) -> String {
    hex::encode(Sha256::digest(format!("{appid}:{}", last6.trim().to_uppercase()).as_bytes()))
}

impl Service {
    /// A 6-digit code has a million values and an ID suffix about as few: both are stored
    /// as a keyed MAC under a sub-key of the master key, never as a plain hash.
    fn code_mac(&self, appid: &str, purpose: &str, round: u32, phone: &str, code: &str) -> String {
        self.store.crypto().secret_mac(&["sms-code", appid, purpose, &round.to_string(), phone, code])
    }

    fn last6_mac(&self, appid: &str, last6: &str) -> String {
        self.store.crypto().secret_mac(&["id-last6", appid, &last6.trim().to_uppercase()])
    }

    fn code_matches(&self, c: &SmsCode, code: &str) -> bool {
        let round = c.round.to_string();
        self.store.crypto().secret_matches(
            &c.code_hash,
            &["sms-code", &c.appid, &c.purpose, &round, &c.phone, code],
            || legacy_code_hash(&c.appid, &c.purpose, c.round, &c.phone, code),
        )
    }

    fn last6_matches(&self, c: &SmsCode, last6: &str) -> bool {
        let l = last6.trim().to_uppercase();
        self.store
            .crypto()
            .secret_matches(&c.id_last6_hash, &["id-last6", &c.appid, &l], || legacy_last6_hash(&c.appid, &l))
    }

    /// A job's dedupe key must not carry a phone number in plain text: its keyed index.
    fn phone_key(&self, phone: &str) -> String {
        self.store.crypto().blind_index(phone)
    }
}

/// What the verification page tells the principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// This principal is done; `complete` when every principal of the order is.
    Verified { appid: String, complete: bool },
}

impl Service {
    pub async fn simulator_settings(&self) -> Result<SimulatorSettings> {
        let mut tx = self.store.read().await?;
        match tx.settings().get(SETTINGS_KEY).await? {
            Some(j) => serde_json::from_str(&j).map_err(|e| {
                ServiceError::Internal(format!("stored simulator settings are unreadable: {e}"))
            }),
            None => Ok(SimulatorSettings::default()),
        }
    }

    pub async fn set_simulator_settings(&self, actor: &Actor, s: &SimulatorSettings) -> Result<()> {
        if !["approve", "reject"].contains(&s.default_outcome.as_str())
            || s.forced.values().any(|o| !["approve", "reject"].contains(&o.as_str()))
        {
            return Err(ServiceError::refused(errcode::INVALID_INPUT, "审核结果只能是 approve 或 reject"));
        }
        if !s.reject_reasons.is_empty() {
            crate::filing::require_reasons(&s.reject_reasons)?;
        }
        let now = self.now().timestamp();
        let json = serde_json::to_string(s).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let mut tx = self.store.begin().await?;
        tx.settings().put(SETTINGS_KEY, &json, now).await?;
        crate::audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Simulator,
            "settings",
            "update",
            serde_json::from_str(&json).unwrap_or_default(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Text a code to every principal the round concerns, and arm the 24 h timer.
    async fn sim_send_codes(&self, appid: &str, round: u32, purpose: &'static str) -> Result<()> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let Some(order) = tx.orders().get(appid).await? else { return Ok(()) };
        let current = match purpose {
            PURPOSE_FILING => {
                order.authority_round == round
                    && order.state == (FilingState::AuthorityReview { sms: SmsVerifyStatus::Waiting })
            }
            _ => order.state.is_canceling(),
        };
        if !current || !tx.sms_codes().of(appid, purpose, round).await?.is_empty() {
            return Ok(()); // superseded, or already sent (a retried job)
        }
        let Some(p) = tx.orders().version(appid, order.versions).await? else { return Ok(()) };
        let principals = match (purpose, order.cancel_type) {
            (PURPOSE_CANCEL, Some(CancelType::Subject)) => vec![&p.icp_subject.principal_info],
            (PURPOSE_CANCEL, _) => vec![&p.icp_applets.principal_info],
            _ => vec![&p.icp_subject.principal_info, &p.icp_applets.principal_info],
        };
        let mut seen = Vec::new();
        for pi in principals {
            if pi.mobile.is_empty() || seen.contains(&pi.mobile) {
                continue;
            }
            seen.push(pi.mobile.clone());
            let code = random_code();
            let last6: String =
                pi.certificate_number.chars().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
            tx.sms_codes()
                .insert(&SmsCode {
                    id: 0,
                    appid: appid.into(),
                    purpose: purpose.into(),
                    round,
                    phone: pi.mobile.clone(),
                    id_last6_hash: self.last6_mac(appid, &last6),
                    code_hash: self.code_mac(appid, purpose, round, &pi.mobile, &code),
                    attempts: 0,
                    state: "pending".into(),
                    sent_at: now,
                    expires_at: now + SMS_WINDOW,
                })
                .await?;
            let what = if purpose == PURPOSE_CANCEL { "注销小程序备案" } else { "小程序备案" };
            let text = format!(
                "【工信部ICP备案】验证码{code}。{}您好，您正在办理{what}，请于24小时内打开 {}/miit/verify 输入手机号、身份证号后6位和本验证码完成核验。",
                pi.name,
                self.public_url()
            );
            enqueue(
                &mut tx,
                &JobSpec::Sms { phone: pi.mobile.clone(), text },
                Some(&format!("simsms:{appid}:{purpose}:{round}:{}", self.phone_key(&pi.mobile))),
                now,
                now,
            )
            .await?;
        }
        let timer = JobSpec::SmsTimeout { appid: appid.into(), round, purpose: purpose.into() };
        enqueue(
            &mut tx,
            &timer,
            Some(&format!("smstimeout:{appid}:{purpose}:{round}")),
            now + SMS_WINDOW,
            now,
        )
        .await?;
        crate::audit(
            &mut tx,
            now,
            &Actor::authority(),
            beian_core::model::AuditEntity::Filing,
            appid,
            "sms_sent",
            serde_json::json!({ "purpose": purpose, "round": round, "recipients": seen.len() }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The verification page: phone + last 6 characters of the ID number + code.
    pub async fn sim_verify(&self, phone: &str, id_last6: &str, code: &str) -> Result<VerifyOutcome> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let pending = tx.sms_codes().pending_for_phone(phone.trim()).await?;
        let live: Vec<&SmsCode> = pending.iter().filter(|c| c.expires_at > now).collect();
        let Some(c) = live.iter().find(|c| self.last6_matches(c, id_last6)).copied() else {
            return Err(ServiceError::refused(
                errcode::INVALID_INPUT,
                if live.is_empty() {
                    "没有待核验的短信：验证码已过期或未发送，请联系平台重新提交"
                } else {
                    "身份证号后6位与备案信息不一致"
                },
            ));
        };
        if !self.code_matches(c, code.trim()) {
            let attempts = c.attempts + 1;
            let state = if attempts >= MAX_WRONG_TRIES { "failed" } else { "pending" };
            tx.sms_codes().update(c.id, attempts, state).await?;
            tx.commit().await?;
            let left = MAX_WRONG_TRIES.saturating_sub(attempts);
            return Err(ServiceError::refused(
                errcode::INVALID_INPUT,
                if left == 0 {
                    "验证码错误次数过多，本次核验已失败，请等待平台重新提交后使用新的验证码".to_string()
                } else {
                    format!("验证码错误，还可尝试{left}次")
                },
            ));
        }
        tx.sms_codes().update(c.id, c.attempts, "verified").await?;
        let all = tx.sms_codes().of(&c.appid, &c.purpose, c.round).await?;
        let complete = all.iter().all(|x| x.id == c.id || x.state == "verified");
        tx.commit().await?;
        let appid = c.appid.clone();
        if complete {
            if c.purpose == PURPOSE_CANCEL {
                self.cancel_confirmed(&Actor::authority(), &appid).await?;
            } else {
                let days = self.simulator_settings().await?.review_working_days;
                let due = WorkCalendar::china().add_working_days(beijing_date(self.now()), days);
                // 10:00 Beijing time of the due working day.
                let at = end_of_beijing_day(due) - (13 * 3600 + 59 * 60 + 59);
                let then = (
                    JobSpec::AuthorityDecision { appid: appid.clone(), round: c.round },
                    format!("decision:{appid}:{}", c.round),
                    at,
                );
                self.act(
                    &Actor::authority(),
                    &appid,
                    Action::SmsVerified,
                    Change { then: Some(then), ..Change::default() },
                )
                .await?;
            }
        }
        Ok(VerifyOutcome::Verified { appid, complete })
    }

    /// When the current SMS round must be verified by, and which phones still owe it
    /// (masked), for the status page.
    pub async fn sms_pending(&self, appid: &str) -> Result<Option<(i64, Vec<String>)>> {
        let Some(v) = self.order(appid).await? else { return Ok(None) };
        // A cancellation's round is the order's row version when it was asked for (nothing
        // else changes the order while it is canceling).
        let (purpose, round) = if v.order.state.is_canceling() {
            (PURPOSE_CANCEL, u32::try_from(v.order.row_version).unwrap_or(0))
        } else if v.order.state == (FilingState::AuthorityReview { sms: SmsVerifyStatus::Waiting }) {
            (PURPOSE_FILING, v.order.authority_round)
        } else {
            return Ok(None);
        };
        let mut tx = self.store.read().await?;
        let codes = tx.sms_codes().of(appid, purpose, round).await?;
        let pending: Vec<&SmsCode> = codes.iter().filter(|c| c.state == "pending").collect();
        let Some(deadline) = pending.iter().map(|c| c.expires_at).min() else { return Ok(None) };
        let phones = pending
            .iter()
            .map(|c| {
                let p: Vec<char> = c.phone.chars().collect();
                if p.len() == 11 {
                    format!("{}****{}", p[..3].iter().collect::<String>(), p[7..].iter().collect::<String>())
                } else {
                    "***".into()
                }
            })
            .collect();
        Ok(Some((deadline, phones)))
    }

    /// The 24 h window closed.
    pub async fn sim_timeout(&self, appid: &str, round: u32, purpose: &str) -> Result<()> {
        let order = self.order(appid).await?;
        let Some(o) = order.map(|v| v.order) else { return Ok(()) };
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        tx.sms_codes().expire(appid, purpose).await?;
        tx.commit().await?;
        if purpose == PURPOSE_CANCEL {
            if o.state.is_canceling() {
                self.cancel_aborted(&Actor::authority(), appid).await?;
            }
        } else if o.authority_round == round
            && o.state == (FilingState::AuthorityReview { sms: SmsVerifyStatus::Waiting })
        {
            self.sms_timeout(&Actor::authority(), appid).await?;
        }
        tracing::debug!(appid, purpose, round, now, "SMS window closed");
        Ok(())
    }

    /// The review period ended: approve or reject as configured.
    async fn sim_decide(&self, appid: &str, round: u32) -> Result<()> {
        let Some(v) = self.order(appid).await? else { return Ok(()) };
        if v.order.authority_round != round
            || v.order.state != (FilingState::AuthorityReview { sms: SmsVerifyStatus::Done })
        {
            return Ok(());
        }
        let settings = self.simulator_settings().await?;
        let outcome = settings.forced.get(appid).unwrap_or(&settings.default_outcome);
        if outcome == "reject" {
            let now = self.now().timestamp();
            let payload = self.submitted_version(appid, v.order.versions).await?;
            let mut sms = Vec::new();
            if let Some(p) = &payload {
                for pi in [&p.icp_subject.principal_info, &p.icp_applets.principal_info] {
                    if !pi.mobile.is_empty() && !sms.iter().any(|(m, _)| m == &pi.mobile) {
                        sms.push((pi.mobile.clone(), rejection_sms(&pi.name)));
                    }
                }
            }
            self.authority_reject(&Actor::authority(), appid, settings.reject_reasons.clone()).await?;
            let mut tx = self.store.begin().await?;
            for (phone, text) in sms {
                enqueue(
                    &mut tx,
                    &JobSpec::Sms { phone: phone.clone(), text },
                    Some(&format!("miitreject:{appid}:{round}:{}", self.phone_key(&phone))),
                    now,
                    now,
                )
                .await?;
            }
            tx.commit().await?;
        } else {
            self.authority_approve(&Actor::authority(), appid).await?;
        }
        Ok(())
    }
}

fn random_code() -> String {
    use rand::Rng;
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}
