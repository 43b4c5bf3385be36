//! The built-in authority simulator (管局 + MIIT SMS verification), one implementation of
//! `beian_ports::authority::AuthorityGateway`.
//!
//! The real MIIT interface is not public. The simulator behaves like it: on submission it
//! texts every principal a 6-digit code valid 24 h (5 wrong tries), offers the verification
//! (phone + last 6 ID characters + code; the page is the API edge's `/miit/verify`), returns
//! the order to the platform when the window closes, decides after a configurable number of
//! working days with a configurable outcome ([`settings`]), and texts the MIIT-style rejection.
//! Cancellations are confirmed the same way, except 取消接入, which MIIT does not text
//! (REAL-WORLD.md §1): it is decided at once — removed, telling whether the record is left
//! without access (空壳), or refused when the record's last access may not be removed
//! (`refuse_last_access`). A new access (新增接入) is verified by SMS like a filing and
//! confirmed with the record's own numbers when the number is one of the records filed
//! elsewhere the simulator knows (`foreign_records`) and the subject matches; otherwise it is
//! rejected with the reason.
//!
//! It never imports the service: it learns what to do from the [`Operation`] it is handed,
//! keeps its own rows (codes, its copy of whom it texted, its settings) through `beian-store`,
//! texts and sets timers through the platform's [`AuthorityOutbox`] (durable jobs), and says
//! what happened only as [`AuthorityEvent`]s to the [`AuthorityInbox`]. Its time is the
//! platform's clock (`AuthorityOutbox::now`), so tests and demos move it.

pub mod settings;
pub mod standalone;

use beian_core::errcode;
use beian_core::model::{AuditEntity, AuditEvent};
use beian_core::numbering::{self, IssuedNumbers};
use beian_core::platform::SmsCode;
use beian_core::time::{beijing_date, end_of_beijing_day};
use beian_ports::authority::{
    AuthorityEvent, AuthorityGateway, AuthorityInbox, AuthorityOutbox, CancelKind, Operation, Principal,
    Receipt, SmsPurpose, Timer,
};
use beian_ports::{BoxFuture, PortError, PortResult};
use beian_store::{Store, StoreError};
use chrono::Datelike;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub use settings::SimulatorSettings;

pub const PURPOSE_FILING: &str = "filing";
pub const PURPOSE_CANCEL: &str = "cancel";
pub const SMS_WINDOW: i64 = 24 * 3600;
pub const MAX_WRONG_TRIES: u32 = 5;
/// The timer that decides a verified filing.
const DECISION: &str = "decision";
/// The timer that closes a round's SMS window (`sms_timeout:filing`, `sms_timeout:cancel`).
const SMS_TIMEOUT: &str = "sms_timeout:";

/// Why a simulator call failed: a refusal for the person (errcode and Chinese message), or
/// something broke inside (logged, never shown verbatim).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{errmsg} (errcode {errcode})")]
    Refused { errcode: i64, errmsg: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl SimError {
    fn refused(errmsg: impl Into<String>) -> SimError {
        SimError::Refused { errcode: errcode::INVALID_INPUT, errmsg: errmsg.into() }
    }
}

impl From<StoreError> for SimError {
    fn from(e: StoreError) -> Self {
        SimError::Internal(e.to_string())
    }
}

impl From<PortError> for SimError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Refused(m) => SimError::refused(m),
            PortError::Retry(m) => SimError::Internal(m),
        }
    }
}

impl From<beian_core::bounds::TooLong> for SimError {
    fn from(e: beian_core::bounds::TooLong) -> Self {
        SimError::Refused { errcode: e.errcode, errmsg: e.errmsg }
    }
}

fn port(e: SimError) -> PortError {
    match e {
        SimError::Refused { errmsg, .. } => PortError::Refused(errmsg),
        SimError::Internal(m) => PortError::Retry(m),
    }
}

type Result<T, E = SimError> = std::result::Result<T, E>;

/// What the verification page tells the principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// This principal is done; `complete` when every principal of the order is.
    Verified { appid: String, complete: bool },
}

/// The MIIT rejection SMS (PRODUCT rule 8).
pub fn rejection_sms(name: &str) -> String {
    format!("【工业和信息化部】尊敬的用户{name}您的新增备案不完全符合备案要求，现已被退回。详情请咨询您接入服务提供商。【工信部ICP备案】")
}

/// The simulator. Cheap to share behind an `Arc`; all its state is in the database, so any
/// number of instances (nodes) over one store behave as one.
pub struct Simulator {
    store: Store,
    inbox: Arc<dyn AuthorityInbox>,
    outbox: Arc<dyn AuthorityOutbox>,
}

impl AuthorityGateway for Simulator {
    fn name(&self) -> &'static str {
        "simulator"
    }

    fn submit(&self, op: Operation) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(async move {
            let purpose = match &op {
                Operation::NewSubjectAndService { .. }
                | Operation::NewService { .. }
                | Operation::NewAccess { .. }
                | Operation::Change { .. } => PURPOSE_FILING,
                Operation::Cancel { cancel: CancelKind::Access, .. } => {
                    return self.cancel_access(&op).await.map_err(port);
                }
                Operation::Cancel { .. } => PURPOSE_CANCEL,
                other => {
                    return Err(PortError::Refused(format!(
                        "the simulator does not handle {} yet",
                        other.kind()
                    )))
                }
            };
            self.send_codes(&op, purpose).await.map_err(port)
        })
    }

    fn fire(&self, timer: Timer) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(async move {
            let r = if timer.name == DECISION {
                self.decide(&timer.appid, timer.round).await
            } else if let Some(purpose) = timer.name.strip_prefix(SMS_TIMEOUT) {
                self.timeout(&timer.appid, timer.round, purpose).await
            } else {
                tracing::warn!(name = %timer.name, "unknown simulator timer ignored");
                Ok(())
            };
            r.map_err(port)
        })
    }
}

impl Simulator {
    /// `store`: where its codes, its copy of recipients and its settings live; `inbox`: where
    /// it reports; `outbox`: how it texts, sets timers and reads the time.
    pub fn new(store: Store, inbox: Arc<dyn AuthorityInbox>, outbox: Arc<dyn AuthorityOutbox>) -> Simulator {
        Simulator { store, inbox, outbox }
    }

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

    /// The code texted to `phone` for a round: a keyed MAC of what identifies the text, so a
    /// retried submission texts the same code (the SMS job's key then makes it one text)
    /// and nobody without the master key can predict it.
    fn code_for(&self, appid: &str, purpose: &str, round: u32, phone: &str) -> String {
        let mac =
            self.store.crypto().secret_mac(&["sms-code-value", appid, purpose, &round.to_string(), phone]);
        format!("{:06}", code_from_mac(&mac))
    }

    /// A job's dedupe key must not carry a phone number in plain text: its keyed index.
    fn phone_key(&self, phone: &str) -> String {
        self.store.crypto().blind_index(phone)
    }

    fn now(&self) -> i64 {
        self.outbox.now()
    }

    /// Text a code to every principal of the operation and arm the 24 h timer. A repeat of
    /// the same (appid, purpose, round) writes no new codes and queues nothing new.
    async fn send_codes(&self, op: &Operation, purpose: &'static str) -> Result<()> {
        let (appid, round) = (op.appid(), op.round());
        let principals = op.principals();
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let existing = tx.authority().sms_codes().of(appid, purpose, round).await?;
        let sent_at = match existing.first() {
            Some(c) => {
                // A repeat: the codes stand. The transaction writes nothing, and is ended
                // now — on SQLite it holds the one writer the texts below are queued through.
                let sent_at = c.sent_at;
                drop(tx);
                sent_at
            }
            None => {
                for p in &principals {
                    let code = self.code_for(appid, purpose, round, &p.mobile);
                    tx.authority()
                        .sms_codes()
                        .insert(&SmsCode {
                            id: 0,
                            appid: appid.into(),
                            purpose: purpose.into(),
                            round,
                            phone: p.mobile.clone(),
                            id_last6_hash: self.last6_mac(appid, &p.id_suffix),
                            code_hash: self.code_mac(appid, purpose, round, &p.mobile, &code),
                            attempts: 0,
                            state: "pending".into(),
                            sent_at: now,
                            expires_at: now + SMS_WINDOW,
                        })
                        .await?;
                }
                let kept = Kept {
                    kind: Some(op.kind().to_string()),
                    principals: principals.clone(),
                    province: op_province(op),
                    subject_number: op_subject_number(op),
                    service_number: match op {
                        Operation::Change { service_number, .. }
                        | Operation::NewAccess { service_number, .. } => Some(service_number.clone()),
                        _ => None,
                    },
                    subject: match op {
                        Operation::NewAccess { payload, .. } => Some((
                            payload.icp_subject.base_info.name.clone(),
                            payload.icp_subject.organize_info.certificate_number.clone(),
                        )),
                        _ => None,
                    },
                };
                let json = serde_json::to_string(&kept).map_err(|e| SimError::Internal(e.to_string()))?;
                tx.authority().put_sim_submission(appid, purpose, round, &json, now).await?;
                tx.audit().append(&AuditEvent {
                    at: now,
                    actor: "authority".into(),
                    entity: AuditEntity::Filing.as_str().into(),
                    entity_id: appid.into(),
                    action: beian_core::model::AuditAction::SmsSent.as_str().into(),
                    detail: serde_json::json!({ "purpose": purpose, "round": round, "recipients": principals.len() }),
                })
                .await?;
                tx.commit().await?;
                now
            }
        };
        let what = if purpose == PURPOSE_CANCEL { "注销小程序备案" } else { "小程序备案" };
        let url = self.outbox.public_url();
        for p in &principals {
            let code = self.code_for(appid, purpose, round, &p.mobile);
            let text = format!(
                "【工信部ICP备案】验证码{code}。{}您好，您正在办理{what}，请于24小时内打开 {url}/miit/verify 输入手机号、身份证号后6位和本验证码完成核验。",
                p.name
            );
            let key = format!("simsms:{appid}:{purpose}:{round}:{}", self.phone_key(&p.mobile));
            self.outbox.send_sms(key, p.mobile.clone(), text).await?;
        }
        let timer = Timer { name: format!("{SMS_TIMEOUT}{purpose}"), appid: appid.into(), round };
        self.outbox
            .schedule(format!("smstimeout:{appid}:{purpose}:{round}"), sent_at + SMS_WINDOW, timer)
            .await?;
        self.report_pending(appid, purpose, round).await
    }

    /// Tell the platform who still owes verification of a round (masked) and by when.
    async fn report_pending(&self, appid: &str, purpose: &str, round: u32) -> Result<()> {
        let codes = {
            let mut tx = self.store.read().await?;
            tx.authority().sms_codes().of(appid, purpose, round).await?
        };
        let pending: Vec<&SmsCode> = codes.iter().filter(|c| c.state == "pending").collect();
        let deadline = codes.iter().map(|c| c.expires_at).min().unwrap_or(0);
        let phones = pending.iter().map(|c| mask_phone(&c.phone)).collect();
        // One event per state of the round: the count of settled codes only grows.
        let settled = codes.len() - pending.len();
        let event_id = format!("sim:{appid}:{purpose}:{round}:pending:{settled}");
        let purpose = if purpose == PURPOSE_CANCEL { SmsPurpose::Cancel } else { SmsPurpose::Filing };
        self.inbox
            .receive(event_id, appid.into(), round, AuthorityEvent::SmsPending { purpose, deadline, phones })
            .await?;
        Ok(())
    }

    /// The verification page: phone + last 6 characters of the ID number + code.
    pub async fn verify(&self, phone: &str, id_last6: &str, code: &str) -> Result<VerifyOutcome> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let pending = tx.authority().sms_codes().pending_for_phone(phone.trim()).await?;
        let live: Vec<&SmsCode> = pending.iter().filter(|c| c.expires_at > now).collect();
        let Some(c) = live.iter().find(|c| self.last6_matches(c, id_last6)).copied() else {
            return Err(SimError::refused(if live.is_empty() {
                "没有待核验的短信：验证码已过期或未发送，请联系平台重新提交"
            } else {
                "身份证号后6位与备案信息不一致"
            }));
        };
        if !self.code_matches(c, code.trim()) {
            let attempts = c.attempts + 1;
            let state = if attempts >= MAX_WRONG_TRIES { "failed" } else { "pending" };
            tx.authority().sms_codes().update(c.id, attempts, state).await?;
            tx.commit().await?;
            let left = MAX_WRONG_TRIES.saturating_sub(attempts);
            if left == 0 {
                self.report_pending(&c.appid, &c.purpose, c.round).await?;
            }
            return Err(SimError::refused(if left == 0 {
                "验证码错误次数过多，本次核验已失败，请等待平台重新提交后使用新的验证码".to_string()
            } else {
                format!("验证码错误，还可尝试{left}次")
            }));
        }
        tx.authority().sms_codes().update(c.id, c.attempts, "verified").await?;
        let all = tx.authority().sms_codes().of(&c.appid, &c.purpose, c.round).await?;
        let complete = all.iter().all(|x| x.id == c.id || x.state == "verified");
        tx.commit().await?;
        let (appid, round) = (c.appid.clone(), c.round);
        if !complete {
            self.report_pending(&appid, &c.purpose, round).await?;
        } else if c.purpose == PURPOSE_CANCEL {
            let id = format!("sim:{appid}:{PURPOSE_CANCEL}:{round}:confirmed");
            let event = AuthorityEvent::CancelConfirmed { empty_shell: false };
            self.inbox.receive(id, appid.clone(), round, event).await?;
        } else {
            let days = self.settings().await?.review_working_days;
            let today = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
            let due = self.outbox.add_working_days(beijing_date(today), days);
            // 10:00 Beijing time of the due working day.
            let at = end_of_beijing_day(due) - (13 * 3600 + 59 * 60 + 59);
            // The decision is armed first: if reporting fails, it finds the order not verified
            // and does nothing, and the SMS window's timer returns the order.
            let timer = Timer { name: DECISION.into(), appid: appid.clone(), round };
            self.outbox.schedule(format!("decision:{appid}:{round}"), at, timer).await?;
            let id = format!("sim:{appid}:{PURPOSE_FILING}:{round}:verified");
            self.inbox.receive(id, appid.clone(), round, AuthorityEvent::SmsVerified).await?;
        }
        Ok(VerifyOutcome::Verified { appid, complete })
    }

    /// The 24 h window of a round closed: its codes expire and the platform hears of it (it
    /// ignores the news for a round already verified or superseded).
    async fn timeout(&self, appid: &str, round: u32, purpose: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.authority().sms_codes().expire(appid, purpose).await?;
        tx.commit().await?;
        let (event, what) = if purpose == PURPOSE_CANCEL {
            (AuthorityEvent::CancelAborted { reason: String::new() }, "aborted")
        } else {
            (AuthorityEvent::SmsExpired, "expired")
        };
        self.inbox
            .receive(format!("sim:{appid}:{purpose}:{round}:{what}"), appid.into(), round, event)
            .await?;
        tracing::debug!(appid, purpose, round, "SMS window closed");
        Ok(())
    }

    /// The review period ended: approve or reject as configured; a rejection is texted to
    /// the principals once the platform took it.
    async fn decide(&self, appid: &str, round: u32) -> Result<()> {
        let settings = self.settings().await?;
        let outcome = settings.forced.get(appid).unwrap_or(&settings.default_outcome);
        let decision = if outcome == "reject" {
            Decision::Reject(settings.reject_reasons.clone())
        } else {
            Decision::Approve(None)
        };
        self.decide_as(appid, round, decision).await.map(|_| ())
    }

    /// Decide round `round` of `appid` now, as `decision` says. One decision per round: its
    /// event id is the same whichever way it is taken (a later timer finds it a duplicate).
    async fn decide_as(&self, appid: &str, round: u32, decision: Decision) -> Result<Receipt> {
        let id = format!("sim:{appid}:{PURPOSE_FILING}:{round}:decided");
        let kept = self.kept(appid, PURPOSE_FILING, round).await?;
        let decision = match decision {
            // A new access is confirmed only for a record the authority knows, of this subject.
            Decision::Approve(None) if kept.kind.as_deref() == Some("new_access") => {
                let numbers = self.foreign_record_for(&kept).await?;
                if let Ok(n) = &numbers {
                    // Kept like minted numbers, for `issued_numbers`.
                    let json = serde_json::to_string(n).map_err(|e| SimError::Internal(e.to_string()))?;
                    let mut tx = self.store.begin().await?;
                    tx.settings().put(&format!("sim_numbers:{appid}:{round}"), &json, self.now()).await?;
                    tx.commit().await?;
                }
                match numbers {
                    Ok(n) => Decision::Approve(Some(n)),
                    Err(reason) => Decision::Reject(vec![reason]),
                }
            }
            other => other,
        };
        let reasons = match decision {
            Decision::Approve(given) => {
                let numbers = match (given, &kept.subject_number, &kept.service_number) {
                    (Some(n), _, _) => n,
                    // A change approved: the record keeps its numbers.
                    (None, Some(subject), Some(service)) => {
                        IssuedNumbers { subject_number: subject.clone(), service_number: service.clone() }
                    }
                    (None, _, _) => {
                        let Some(province) = kept.province.as_deref() else {
                            return Err(SimError::Internal(format!(
                                "no province kept for {appid} round {round}"
                            )));
                        };
                        self.numbers_for(appid, round, province, kept.subject_number.as_deref()).await?
                    }
                };
                let event = AuthorityEvent::Approved {
                    subject_number: numbers.subject_number,
                    service_number: numbers.service_number,
                };
                return Ok(self.inbox.receive(id, appid.into(), round, event).await?);
            }
            Decision::Reject(reasons) => reasons,
        };
        let event = AuthorityEvent::Rejected { reasons };
        let receipt = self.inbox.receive(id, appid.into(), round, event).await?;
        if receipt == Receipt::Ignored {
            return Ok(receipt); // superseded: nobody is told
        }
        for p in kept.principals {
            let key = format!("miitreject:{appid}:{round}:{}", self.phone_key(&p.mobile));
            self.outbox.send_sms(key, p.mobile.clone(), rejection_sms(&p.name)).await?;
        }
        Ok(receipt)
    }
}

/// How the simulator decides a filing.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Approve with the numbers given (an operator's or a test's), or with numbers the
    /// simulator mints ([`mint_numbers`]) when `None`.
    Approve(Option<IssuedNumbers>),
    /// Reject with these reasons (texting the MIIT rejection).
    Reject(Vec<beian_core::model::AuditItem>),
}

/// One operation the simulator received (repeats are one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub appid: String,
    /// `Operation::kind` (empty for rows kept before the kind was).
    pub kind: String,
    /// `filing` or `cancel`.
    pub purpose: String,
    pub round: u32,
    /// Whom it texted (the verification page asks them for their codes).
    pub principals: Vec<Principal>,
}

/// The operator's (and the contract tests') controls beside the timers: decide now, refuse,
/// read what was received and which numbers were issued.
impl Simulator {
    /// Every operation received for `appid`, oldest first.
    pub async fn submissions(&self, appid: &str) -> Result<Vec<Submission>> {
        let rows = {
            let mut tx = self.store.read().await?;
            tx.authority().sim_submissions_of(appid).await?
        };
        rows.into_iter()
            .map(|(purpose, round, json)| {
                let kept = parse_kept(&json)?;
                Ok(Submission {
                    appid: appid.into(),
                    kind: kept.kind.unwrap_or_default(),
                    purpose,
                    round,
                    principals: kept.principals,
                })
            })
            .collect()
    }

    /// The operation the simulator holds for `appid`: the newest received.
    pub async fn held(&self, appid: &str) -> Result<Submission> {
        self.submissions(appid)
            .await?
            .pop()
            .ok_or_else(|| SimError::refused(format!("管局模拟器没有收到 {appid} 的报送")))
    }

    /// Decide the held filing of `appid` now (not waiting for the review period).
    pub async fn decide_now(&self, appid: &str, decision: Decision) -> Result<Receipt> {
        let held = self.held(appid).await?;
        if held.purpose != PURPOSE_FILING {
            return Err(SimError::refused("管局模拟器持有的报送不是备案申请"));
        }
        self.decide_as(appid, held.round, decision).await
    }

    /// The numbers the simulator issued for round `round` of `appid`, if it approved it.
    pub async fn issued_numbers(&self, appid: &str, round: u32) -> Result<Option<IssuedNumbers>> {
        let mut tx = self.store.read().await?;
        match tx.settings().get(&format!("sim_numbers:{appid}:{round}")).await? {
            Some(json) => {
                serde_json::from_str(&json).map(Some).map_err(|e| SimError::Internal(e.to_string()))
            }
            None => Ok(None),
        }
    }

    /// Refuse the held operation of `appid` outright, with the authority's `code`.
    pub async fn refuse(&self, appid: &str, code: &str, reason: &str) -> Result<Receipt> {
        let held = self.held(appid).await?;
        let id = format!("sim:{appid}:{}:{}:refused", held.purpose, held.round);
        let event = AuthorityEvent::Refused { code: code.into(), reason: reason.into() };
        Ok(self.inbox.receive(id, appid.into(), held.round, event).await?)
    }
}

/// What the simulator keeps of a submission (encrypted): whom it texted, and what it needs
/// to number the service when it approves. Rows written before numbering moved here hold the
/// principals alone.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Kept {
    #[serde(default)]
    kind: Option<String>,
    principals: Vec<Principal>,
    #[serde(default)]
    province: Option<String>,
    #[serde(default)]
    subject_number: Option<String>,
    /// A change's record (approved, it keeps its numbers), or the record a new access names.
    #[serde(default)]
    service_number: Option<String>,
    /// A new access's subject (name, certificate number), checked against the record.
    #[serde(default)]
    subject: Option<(String, String)>,
}

fn parse_kept(json: &str) -> Result<Kept> {
    serde_json::from_str::<Kept>(json)
        .or_else(|_| {
            serde_json::from_str::<Vec<Principal>>(json)
                .map(|principals| Kept { principals, ..Kept::default() })
        })
        .map_err(|e| SimError::Internal(e.to_string()))
}

fn op_province(op: &Operation) -> Option<String> {
    match op {
        Operation::NewSubjectAndService { payload, .. }
        | Operation::NewService { payload, .. }
        | Operation::NewAccess { payload, .. }
        | Operation::Change { payload, .. } => Some(payload.icp_subject.base_info.province.clone()),
        _ => None,
    }
}

fn op_subject_number(op: &Operation) -> Option<String> {
    match op {
        Operation::NewService { subject_number, .. } => Some(subject_number.clone()),
        Operation::Change { payload, .. } | Operation::NewAccess { payload, .. } => {
            Some(payload.icp_subject.base_info.record_number.clone())
        }
        _ => None,
    }
}

impl Simulator {
    /// The record a new access names, if the simulator knows it and its subject is the
    /// applicant's; otherwise the reason it is rejected with.
    async fn foreign_record_for(
        &self,
        kept: &Kept,
    ) -> Result<std::result::Result<IssuedNumbers, beian_core::model::AuditItem>> {
        let settings = self.settings().await?;
        let number = kept.service_number.clone().unwrap_or_default();
        let reason = |error: String, suggest: &str| beian_core::model::AuditItem {
            key_name: "服务备案号".into(),
            error,
            suggest: suggest.into(),
        };
        let Some(record) = settings.foreign_records.iter().find(|r| r.service_number == number) else {
            return Ok(Err(reason(
                format!("管局备案系统中没有服务备案号“{number}”的备案"),
                "请核对已有的服务备案号（可在 https://beian.miit.gov.cn/ 查询）后重新提交",
            )));
        };
        let (name, certificate) = kept.subject.clone().unwrap_or_default();
        if record.subject_name != name || !record.certificate_number.eq_ignore_ascii_case(certificate.trim())
        {
            return Ok(Err(reason(
                format!("服务备案号“{number}”的备案主体与申请的主体（名称或证件号码）不一致"),
                "新增接入只能接入本主体已有的备案；请核对主体名称和证件号码",
            )));
        }
        let subject_number =
            numbering::subject_of_service(&record.service_number).unwrap_or_default().to_string();
        Ok(Ok(IssuedNumbers { subject_number, service_number: record.service_number.clone() }))
    }

    /// 取消接入: no SMS (MIIT texts no one for it). The record's last access — no other
    /// provider hosts it: not one of the known records filed elsewhere, or one without other
    /// accesses — is refused when `refuse_last_access` says so (code 1025); otherwise the
    /// access is removed and the event tells whether an empty shell (空壳) is left.
    async fn cancel_access(&self, op: &Operation) -> Result<()> {
        let (appid, round) = (op.appid(), op.round());
        let Operation::Cancel { record_number, .. } = op else {
            return Err(SimError::Internal(format!("{} is not a cancellation", op.kind())));
        };
        let now = self.now();
        {
            let mut tx = self.store.begin().await?;
            if tx.authority().sim_submission(appid, PURPOSE_CANCEL, round).await?.is_none() {
                let kept = Kept { kind: Some(op.kind().to_string()), ..Kept::default() };
                let json = serde_json::to_string(&kept).map_err(|e| SimError::Internal(e.to_string()))?;
                tx.authority().put_sim_submission(appid, PURPOSE_CANCEL, round, &json, now).await?;
                tx.commit().await?;
            }
        }
        let settings = self.settings().await?;
        let last = settings
            .foreign_records
            .iter()
            .find(|r| &r.service_number == record_number)
            .is_none_or(|r| r.accesses.is_empty());
        let (event, what) = if last && settings.refuse_last_access {
            let reason = format!(
                "1025 服务备案号“{record_number}”仅剩本接入服务商的接入，不能取消最后一个接入；如不再使用，请办理注销备案"
            );
            (AuthorityEvent::CancelAborted { reason }, "aborted")
        } else {
            (AuthorityEvent::CancelConfirmed { empty_shell: last }, "confirmed")
        };
        let id = format!("sim:{appid}:{PURPOSE_CANCEL}:{round}:{what}");
        self.inbox.receive(id, appid.into(), round, event).await?;
        Ok(())
    }

    async fn kept(&self, appid: &str, purpose: &str, round: u32) -> Result<Kept> {
        let mut tx = self.store.read().await?;
        let Some(json) = tx.authority().sim_submission(appid, purpose, round).await? else {
            return Ok(Kept::default());
        };
        parse_kept(&json)
    }

    /// The numbers the simulator issues when it approves round `round` of `appid`, minted once
    /// (a decision timer that fires again after a crash finds them): see [`mint_numbers`].
    async fn numbers_for(
        &self,
        appid: &str,
        round: u32,
        province: &str,
        subject_number: Option<&str>,
    ) -> Result<IssuedNumbers> {
        let key = format!("sim_numbers:{appid}:{round}");
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if let Some(json) = tx.settings().get(&key).await? {
            return serde_json::from_str(&json).map_err(|e| SimError::Internal(e.to_string()));
        }
        let numbers = mint_in(&mut tx, now, province, subject_number).await?;
        let json = serde_json::to_string(&numbers).map_err(|e| SimError::Internal(e.to_string()))?;
        tx.settings().put(&key, &json, now).await?;
        tx.commit().await?;
        Ok(numbers)
    }
}

/// Mint the numbers the simulated authority issues, as the real one does: a subject without a
/// number gets the next of its province and year (`{简称}ICP备{year}{seq:06}号`, counter
/// `subject_seq:{简称}:{year}`), every service the next `-{n}X` of its subject (counter
/// `sim_service_seq:{subject number}`, seeded from the subjects filed before the simulator
/// numbered them). `province`: the subject's province code (440000). Also how demos and tests
/// that approve directly obtain numbers; the platform itself never calls it.
pub async fn mint_numbers(
    store: &Store,
    now: i64,
    province: &str,
    subject_number: Option<&str>,
) -> Result<IssuedNumbers> {
    let mut tx = store.begin().await?;
    let numbers = mint_in(&mut tx, now, province, subject_number).await?;
    tx.commit().await?;
    Ok(numbers)
}

async fn mint_in(
    tx: &mut beian_store::Tx,
    now: i64,
    province: &str,
    subject_number: Option<&str>,
) -> Result<IssuedNumbers> {
    let code: u32 = province.trim().parse().unwrap_or(0);
    let abbr = beian_core::dict::abbr_for_prefix(code / 10_000)
        .ok_or_else(|| SimError::Internal(format!("no province abbreviation for {province}")))?;
    let subject_number = match subject_number {
        Some(s) => s.to_string(),
        None => {
            let year = beijing_date(chrono::DateTime::from_timestamp(now, 0).unwrap_or_default()).year();
            let seq = tx.counters().add(&format!("subject_seq:{abbr}:{year}"), 1).await?;
            numbering::subject_number(abbr, year, u32::try_from(seq).unwrap_or(u32::MAX))
        }
    };
    let n = tx.counters().add(&format!("sim_service_seq:{subject_number}"), 1).await?;
    let service_number = numbering::service_number(&subject_number, u32::try_from(n).unwrap_or(u32::MAX));
    Ok(IssuedNumbers { subject_number, service_number })
}

/// Six decimal digits from a MAC (`m1:` and 64 hex digits): its first 32 bits modulo a
/// million (the bias, 2^32 mod 10^6 values out of 2^32, is negligible).
fn code_from_mac(mac: &str) -> u32 {
    let hex = mac.rsplit(':').next().unwrap_or(mac);
    let n = hex.chars().take(8).filter_map(|c| c.to_digit(16)).fold(0u32, |n, d| (n << 4) | d);
    n % 1_000_000
}

/// `138****0001`; anything but 11 characters as `***`.
fn mask_phone(phone: &str) -> String {
    let p: Vec<char> = phone.chars().collect();
    if p.len() == 11 {
        format!("{}****{}", p[..3].iter().collect::<String>(), p[7..].iter().collect::<String>())
    } else {
        "***".into()
    }
}

/// The older, unkeyed forms of the two hashes, still read for codes sent before the keyed
/// MAC (a code lives 24 h).
fn legacy_code_hash(appid: &str, purpose: &str, round: u32, phone: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{appid}:{purpose}:{round}:{phone}:{code}").as_bytes()))
}

fn legacy_last6_hash(appid: &str, last6: &str) -> String {
    hex::encode(Sha256::digest(format!("{appid}:{}", last6.trim().to_uppercase()).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked_like_the_status_page_shows_them() {
        assert_eq!(mask_phone("13800010001"), "138****0001");
        assert_eq!(mask_phone("+8613800010001"), "***");
    }

    #[test]
    fn codes_come_from_the_mac_digits_not_its_prefix() {
        assert_eq!(code_from_mac("m1:00000001ffff"), 1);
        assert_eq!(code_from_mac("m1:ffffffff00"), 4_294_967_295 % 1_000_000);
        assert_ne!(code_from_mac("m1:0a1b2c3d"), code_from_mac("m1:0a1b2c3e"));
    }
}
