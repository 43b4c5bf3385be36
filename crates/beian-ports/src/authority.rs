//! Contract: the authority (管局 and the MIIT SMS verification behind it).
//!
//! Outbound, the platform hands the authority an [`Operation`] through
//! [`AuthorityGateway::submit`] (from a durable job, so a call may repeat). Inbound, whatever
//! the authority decides or observes comes back as an [`AuthorityEvent`] through
//! [`AuthorityInbox::receive`], which the service implements and applies exactly once per
//! event id. An implementation (the built-in simulator, a real adapter) depends on this crate,
//! `beian-core` and whatever it stores for itself — never on `beian-service`: it never calls a
//! transition, it reports an event and the service decides.
//!
//! What the platform does for an implementation that must act later or text people on its
//! behalf — SMS through the platform's durable outbox, timers that come back to it as
//! [`AuthorityGateway::fire`] — is [`AuthorityOutbox`], also implemented by the service.

use crate::{BoxFuture, PortResult};
use beian_core::model::AuditItem;
use beian_core::payload::ApplyPayload;
use serde::{Deserialize, Serialize};

/// A person the authority texts or identifies: a principal (负责人) of the subject or of the
/// service, as filed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub name: String,
    pub mobile: String,
    /// The last six characters of the ID number (what the MIIT page asks for).
    pub id_suffix: String,
}

impl Principal {
    /// The principal as filed, with the last six characters of `certificate_number`.
    pub fn from_filed(name: &str, mobile: &str, certificate_number: &str) -> Principal {
        let chars: Vec<char> = certificate_number.trim().chars().collect();
        let id_suffix = chars[chars.len().saturating_sub(6)..].iter().collect();
        Principal { name: name.to_string(), mobile: mobile.to_string(), id_suffix }
    }
}

/// Which cancellation (注销) — WeChat's `cancel_type` 1, 2, 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelKind {
    /// 注销主体: the subject number and every service filed under it.
    Subject,
    /// 注销服务: this mini program's service number.
    Service,
    /// 取消接入: this platform no longer hosts the service (its number stays with the subject).
    Access,
}

/// What the platform asks of the authority. Every operation names the mini program (`appid`)
/// and the platform's sequence number of the request (`round`): a new filing's authority
/// round, or the order's row version when a cancellation was asked for. Together with the
/// kind ([`Operation::kind`]) they identify the request: a gateway treats a repeat of the same
/// (appid, kind, round) as the same request.
///
/// The platform sends [`Operation::NewSubjectAndService`], [`Operation::NewService`],
/// [`Operation::NewAccess`], [`Operation::Change`] and the three cancellations;
/// [`Operation::Attachments`] is the contract a later issue (supplementary materials)
/// implements against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Operation {
    /// 新增备案 of a subject not filed before together with its first service: the whole
    /// application as the platform approved it.
    NewSubjectAndService { appid: String, round: u32, payload: Box<ApplyPayload> },
    /// 新增服务: a further service of a subject that holds `subject_number`.
    NewService { appid: String, round: u32, subject_number: String, payload: Box<ApplyPayload> },
    /// 新增接入: a service filed through another access provider (`service_number`; the subject
    /// number it implies is the payload's `icp_subject.base_info.record_number`) now hosted
    /// here too. The application lets the authority check the subject and the principals (who
    /// verify by SMS as for a filing). Approved with the record's own numbers — no number is
    /// issued — or rejected with reasons (unknown number, another subject).
    NewAccess { appid: String, round: u32, service_number: String, payload: Box<ApplyPayload> },
    /// 变更备案: the filed service `service_number` with the changed application.
    Change { appid: String, round: u32, service_number: String, payload: Box<ApplyPayload> },
    /// 注销主体 / 注销服务 / 取消接入 of a filed service; `principals` are who must confirm
    /// (the subject's principal for a subject, the service's otherwise).
    Cancel {
        appid: String,
        round: u32,
        cancel: CancelKind,
        /// The number cancelled: the subject number for [`CancelKind::Subject`], the service
        /// number otherwise (empty if the platform holds none).
        record_number: String,
        principals: Vec<Principal>,
    },
    /// 补充材料: media the authority asked for, by the platform's media ids.
    Attachments { appid: String, round: u32, media_ids: Vec<String> },
}

impl Operation {
    pub fn appid(&self) -> &str {
        match self {
            Operation::NewSubjectAndService { appid, .. }
            | Operation::NewService { appid, .. }
            | Operation::NewAccess { appid, .. }
            | Operation::Change { appid, .. }
            | Operation::Cancel { appid, .. }
            | Operation::Attachments { appid, .. } => appid,
        }
    }

    pub fn round(&self) -> u32 {
        match self {
            Operation::NewSubjectAndService { round, .. }
            | Operation::NewService { round, .. }
            | Operation::NewAccess { round, .. }
            | Operation::Change { round, .. }
            | Operation::Cancel { round, .. }
            | Operation::Attachments { round, .. } => *round,
        }
    }

    /// The operation's kind, as the third part of its identity.
    pub fn kind(&self) -> &'static str {
        match self {
            Operation::NewSubjectAndService { .. } => "new_subject_and_service",
            Operation::NewService { .. } => "new_service",
            Operation::NewAccess { .. } => "new_access",
            Operation::Change { .. } => "change",
            Operation::Cancel { cancel: CancelKind::Subject, .. } => "cancel_subject",
            Operation::Cancel { cancel: CancelKind::Service, .. } => "cancel_service",
            Operation::Cancel { cancel: CancelKind::Access, .. } => "cancel_access",
            Operation::Attachments { .. } => "attachments",
        }
    }

    /// Who the authority verifies by SMS: the subject's and the service's principals of an
    /// application (one entry per phone number, subject first), or a cancellation's.
    pub fn principals(&self) -> Vec<Principal> {
        let payload = match self {
            Operation::NewSubjectAndService { payload, .. }
            | Operation::NewService { payload, .. }
            | Operation::NewAccess { payload, .. }
            | Operation::Change { payload, .. } => payload,
            Operation::Cancel { principals, .. } => return principals.clone(),
            Operation::Attachments { .. } => return Vec::new(),
        };
        let mut out: Vec<Principal> = Vec::new();
        for pi in [&payload.icp_subject.principal_info, &payload.icp_applets.principal_info] {
            if !pi.mobile.is_empty() && !out.iter().any(|p| p.mobile == pi.mobile) {
                out.push(Principal::from_filed(&pi.name, &pi.mobile, &pi.certificate_number));
            }
        }
        out
    }
}

/// Which SMS verification an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsPurpose {
    /// The principals confirm a new filing (its `round` is the authority round).
    Filing,
    /// The principal confirms a cancellation (its `round` is the cancellation's).
    Cancel,
}

/// What the authority tells the platform. Each comes with an event id (unique per event, the
/// same on redelivery), the appid and the round of the [`Operation`] it answers; an event for
/// a round the order has left is recorded and ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthorityEvent {
    /// The operation was received and will be processed.
    Accepted,
    /// The operation was not accepted at all (malformed, not allowed); nothing changes on
    /// the order — an operator follows up.
    Refused { code: String, reason: String },
    /// Codes were texted (or some principals verified / used up their tries): `phones`
    /// (masked, `138****0001`) still owe verification by `deadline` (unix seconds). Replaces
    /// the previous one of the same round.
    SmsPending { purpose: SmsPurpose, deadline: i64, phones: Vec<String> },
    /// Every principal verified the filing: the authority's review starts.
    SmsVerified,
    /// The verification window closed first: the order returns to the platform.
    SmsExpired,
    /// Filed, with the numbers the authority issued: the subject's (the one it already holds,
    /// for a further service) and the service's (`{subject}-{n}X` for a mini program). The
    /// platform checks them (`beian_core::numbering`) and never issues a number itself.
    Approved { subject_number: String, service_number: String },
    /// Rejected with field-level reasons.
    Rejected { reasons: Vec<AuditItem> },
    /// The cancellation takes effect (the principal confirmed it; a 取消接入 needs no SMS).
    /// `empty_shell`: a 取消接入 removed the record's last access — the MIIT record is left
    /// without any access provider (空壳), which the authority may later cancel. Absent
    /// (false) for the other cancellations.
    CancelConfirmed {
        #[serde(default)]
        empty_shell: bool,
    },
    /// The cancellation did not take effect: not confirmed in time, or refused by the
    /// authority with `reason` (e.g. code 1025: a record's only access cannot be removed).
    /// The filing stays.
    CancelAborted {
        #[serde(default)]
        reason: String,
    },
    /// The authority revoked this platform's access (接入) to a filed service.
    AccessRevoked { reason: String },
    /// The authority asks for an inspection (核查) of a filed service by `due` (unix seconds).
    InspectionTask { task_id: String, description: String, due: i64 },
}

impl AuthorityEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            AuthorityEvent::Accepted => "accepted",
            AuthorityEvent::Refused { .. } => "refused",
            AuthorityEvent::SmsPending { .. } => "sms_pending",
            AuthorityEvent::SmsVerified => "sms_verified",
            AuthorityEvent::SmsExpired => "sms_expired",
            AuthorityEvent::Approved { .. } => "approved",
            AuthorityEvent::Rejected { .. } => "rejected",
            AuthorityEvent::CancelConfirmed { .. } => "cancel_confirmed",
            AuthorityEvent::CancelAborted { .. } => "cancel_aborted",
            AuthorityEvent::AccessRevoked { .. } => "access_revoked",
            AuthorityEvent::InspectionTask { .. } => "inspection_task",
        }
    }
}

/// A timer an implementation set through [`AuthorityOutbox::schedule`]: handed back to
/// [`AuthorityGateway::fire`] when due. What `name` means is the implementation's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub name: String,
    pub appid: String,
    pub round: u32,
}

/// How the platform reaches the authority. Called from the job worker, so a call may be
/// repeated after a failure or a crash: `submit` is idempotent on (appid, kind, round).
/// `Err(PortError::Retry)` makes the job try again later with backoff (until its last attempt
/// dead-letters it); `Err(PortError::Refused)` dead-letters it at once, with the message for
/// operators (the jobs page), who retry it once the cause is fixed.
pub trait AuthorityGateway: Send + Sync {
    /// For logs and the operator pages (`simulator`, the adapter's name).
    fn name(&self) -> &'static str;
    /// Hand over one operation.
    fn submit(&self, op: Operation) -> BoxFuture<'_, PortResult<()>>;
    /// A timer set through [`AuthorityOutbox::schedule`] is due (at least once; a timer may
    /// fire again after a crash). An implementation without timers keeps the default.
    fn fire(&self, _timer: Timer) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// What the inbox did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// Recorded, and the order changed as the event says (or, for events that only inform,
    /// recorded).
    Applied,
    /// Recorded without effect: the order is no longer where the event's round left it
    /// (superseded, already decided, timed out).
    Ignored,
    /// An event with this id was received before: nothing happened now.
    Duplicate,
}

/// The platform's inbound side: implemented by the service, called by an implementation
/// (the simulator's page and timers, a real adapter's callback or poller).
pub trait AuthorityInbox: Send + Sync {
    /// Apply one event exactly once per `event_id`: a repeat answers
    /// `Ok(Receipt::Duplicate)` and changes nothing. An event for a round the order has left,
    /// or one its state no longer waits for, is recorded and answers `Ok(Receipt::Ignored)`.
    /// `Err(PortError::Refused)`: no such order, or the event itself is unacceptable (e.g.
    /// rejection reasons without a field name).
    fn receive(
        &self,
        event_id: String,
        appid: String,
        round: u32,
        event: AuthorityEvent,
    ) -> BoxFuture<'_, PortResult<Receipt>>;
}

/// What the platform does for an implementation, durably: each call writes a job row in the
/// platform's queue, idempotent on `key` (a repeat with the same key writes nothing).
pub trait AuthorityOutbox: Send + Sync {
    /// The platform's time (the injected clock: tests and demos move it).
    fn now(&self) -> i64;
    /// Where people reach the platform (links in texts), no trailing slash.
    fn public_url(&self) -> String;
    /// Text `phone` through the platform's SMS channel, as the authority.
    fn send_sms(&self, key: String, phone: String, text: String) -> BoxFuture<'_, PortResult<()>>;
    /// Call [`AuthorityGateway::fire`] with `timer` at `at` (unix seconds) or later.
    fn schedule(&self, key: String, at: i64, timer: Timer) -> BoxFuture<'_, PortResult<()>>;
    /// The date `n` working days after `start` in the platform's working-day calendar (the
    /// one operators keep current; see `beian_core::calendar::WorkCalendar::add_working_days`).
    fn add_working_days(&self, start: chrono::NaiveDate, n: u32) -> chrono::NaiveDate;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_one_per_phone_with_the_id_suffix() {
        let mut p = ApplyPayload::default();
        p.icp_subject.principal_info.name = "张三".into();
        p.icp_subject.principal_info.mobile = "13800010001".into();
        p.icp_subject.principal_info.certificate_number = "11010519491231002X".into();
        p.icp_applets.principal_info = p.icp_subject.principal_info.clone();
        let op = Operation::NewSubjectAndService { appid: "wx1".into(), round: 1, payload: Box::new(p) };
        let principals = op.principals();
        assert_eq!(principals.len(), 1);
        assert_eq!(principals[0].id_suffix, "31002X");
        assert_eq!(op.kind(), "new_subject_and_service");
        assert_eq!(Principal::from_filed("a", "1", "12").id_suffix, "12");
    }
}
