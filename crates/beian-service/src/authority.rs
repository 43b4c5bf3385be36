//! The service's side of the authority seam (`beian_ports::authority`).
//!
//! Outbound: the job worker asks [`Service::authority_submission`] /
//! [`Service::authority_cancellation`] for the [`Operation`] a queued job stands for (`None`
//! once the order has moved on) and hands it to whichever gateway is wired. Inbound:
//! [`Service::receive_authority_event`] (the [`AuthorityInbox`]) applies each event once by
//! its id, through the same public transitions a person's action uses. [`AuthorityOutbox`]
//! lets a gateway text people and set timers as durable jobs. No gateway is known here: the
//! simulator lives in `beian-authority-sim` and never imports this crate.

use crate::aggregates::Filings;
use crate::filing::Change;
use crate::jobs::{enqueue, JobSpec};
use crate::{audit, Actor, Result, Service, ServiceError};
use beian_core::errcode;
use beian_core::model::{AuditEntity, AuditItem, CancelType};
use beian_core::numbering::IssuedNumbers;
use beian_core::state::{Action, FilingState, SmsVerifyStatus};
use beian_ports::authority::{
    AuthorityEvent, AuthorityInbox, AuthorityOutbox, CancelKind, Operation, Principal, Receipt, SmsPurpose,
    Timer,
};
use beian_ports::{BoxFuture, PortError, PortResult};
use beian_store::authority::AuthorityEventRow;

impl Filings<'_> {
    /// The new filing a queued `AuthoritySubmit` job of `round` stands for, or `None` when
    /// the order is no longer waiting for that round's SMS verification.
    pub async fn authority_submission(&self, appid: &str, round: u32) -> Result<Option<Operation>> {
        let mut tx = self.store.read().await?;
        let Some(order) = tx.orders().get(appid).await? else { return Ok(None) };
        if order.authority_round != round || !order.state.is_authority_review(SmsVerifyStatus::Waiting) {
            return Ok(None);
        }
        let Some(payload) = tx.orders().version(appid, order.versions).await? else { return Ok(None) };
        if order.state.change().is_some() {
            let service_number = order.service_record_number.clone().unwrap_or_default();
            return Ok(Some(Operation::Change {
                appid: appid.into(),
                round,
                service_number,
                payload: Box::new(payload),
            }));
        }
        if let Some(service_number) = order.access_number.clone() {
            // 新增接入: the version names the record (its record numbers).
            return Ok(Some(Operation::NewAccess {
                appid: appid.into(),
                round,
                service_number,
                payload: Box::new(payload),
            }));
        }
        let subject_number = match &order.subject_id {
            Some(id) => tx.subjects().get(id).await?.and_then(|(s, _)| s.record_number),
            None => None,
        };
        let (appid, payload) = (appid.to_string(), Box::new(payload));
        Ok(Some(match subject_number {
            Some(subject_number) => Operation::NewService { appid, round, subject_number, payload },
            None => Operation::NewSubjectAndService { appid, round, payload },
        }))
    }

    /// What the authority's numbers for `appid` must match (the manual desk's approval form
    /// shows it; demos and tests mint plausible numbers from it): the subject's province and
    /// the subject number it already holds. `None` without an order or a subject.
    pub async fn number_context(&self, appid: &str) -> Result<Option<NumberContext>> {
        let mut tx = self.store.read().await?;
        let Some(order) = tx.orders().get(appid).await? else { return Ok(None) };
        let Some(id) = &order.subject_id else { return Ok(None) };
        let Some((subject, _)) = tx.subjects().get(id).await? else { return Ok(None) };
        let abbr =
            self.dictionaries().province_abbr(subject.province.parse().unwrap_or(0)).unwrap_or_default();
        // A change and a new access are approved with the record's own numbers.
        let access = order.access_number.clone().filter(|_| !order.state.is_filed());
        let (subject_number, service_number) = match access {
            Some(n) => (
                beian_core::numbering::subject_of_service(&n).map(str::to_string).or(subject.record_number),
                Some(n),
            ),
            None => (subject.record_number, order.state.change().and(order.service_record_number)),
        };
        Ok(Some(NumberContext {
            province: subject.province,
            province_abbr: abbr.to_string(),
            subject_number,
            service_number,
        }))
    }

    /// The cancellation a queued `AuthorityCancel` job stands for, or `None` when the order
    /// is no longer canceling.
    pub async fn authority_cancellation(&self, appid: &str, round: u32) -> Result<Option<Operation>> {
        let mut tx = self.store.read().await?;
        let Some(order) = tx.orders().get(appid).await? else { return Ok(None) };
        if !order.state.is_canceling() {
            return Ok(None);
        }
        let Some(p) = tx.orders().version(appid, order.versions).await? else { return Ok(None) };
        let (cancel, pi, number) = match order.cancel_type {
            Some(CancelType::Subject) => {
                (CancelKind::Subject, &p.icp_subject.principal_info, &order.subject_record_number)
            }
            Some(CancelType::Access) => {
                (CancelKind::Access, &p.icp_applets.principal_info, &order.service_record_number)
            }
            _ => (CancelKind::Service, &p.icp_applets.principal_info, &order.service_record_number),
        };
        let principals = if pi.mobile.is_empty() {
            Vec::new()
        } else {
            vec![Principal::from_filed(&pi.name, &pi.mobile, &pi.certificate_number)]
        };
        Ok(Some(Operation::Cancel {
            appid: appid.to_string(),
            round,
            cancel,
            record_number: number.clone().unwrap_or_default(),
            principals,
        }))
    }

    /// Apply one event the authority reported, once per `event_id` (see [`AuthorityInbox`]).
    ///
    /// An event that changes the order is recorded in the transaction of its transition
    /// (`SmsVerified`, `SmsTimeout`, `AuthorityApprove`, `AuthorityReject`, `CancelConfirmed`,
    /// `CancelAborted`), so a crash leaves both or neither; an event that only informs, or that
    /// is ignored, is recorded in one transaction (with its audit event, if any). Of two
    /// deliveries racing each other one applies and records; the other finds the record (or
    /// the order moved on, and then the record) and answers `Duplicate` — an event never
    /// applies twice.
    pub async fn receive_authority_event(
        &self,
        event_id: &str,
        appid: &str,
        round: u32,
        event: AuthorityEvent,
    ) -> Result<Receipt> {
        {
            let mut tx = self.store.read().await?;
            if tx.authority().event_seen(event_id).await? {
                return Ok(Receipt::Duplicate);
            }
        }
        let order = self.order(appid).await?.ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?.order;
        let filing = |sms| order.authority_round == round && order.state.is_authority_review(sms);
        let canceling = order.state.is_canceling() && order.row_version == i64::from(round);
        let current = match &event {
            AuthorityEvent::SmsVerified | AuthorityEvent::SmsExpired => filing(SmsVerifyStatus::Waiting),
            AuthorityEvent::SmsPending { purpose: SmsPurpose::Filing, .. } => {
                filing(SmsVerifyStatus::Waiting)
            }
            AuthorityEvent::SmsPending { purpose: SmsPurpose::Cancel, .. } => canceling,
            AuthorityEvent::Approved { .. } | AuthorityEvent::Rejected { .. } => {
                filing(SmsVerifyStatus::Done)
            }
            AuthorityEvent::CancelConfirmed { .. } | AuthorityEvent::CancelAborted { .. } => canceling,
            AuthorityEvent::Accepted
            | AuthorityEvent::Refused { .. }
            | AuthorityEvent::InspectionTask { .. } => true,
            AuthorityEvent::AccessRevoked { .. } => matches!(order.state, FilingState::Filed { .. }),
        };
        let by = Actor::authority();
        let now = self.now().timestamp();
        let detail = serde_json::to_string(&event).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let row = AuthorityEventRow {
            event_id: event_id.into(),
            appid: appid.into(),
            round,
            kind: stored_kind(&event),
            outcome: if current { "applied" } else { "ignored" }.into(),
            detail,
            received_at: now,
        };
        // An event that changes the order: the transition and the event's record commit
        // together (`Change::inbound`).
        let mut empty_shell_flag = None;
        let transition = match &event {
            _ if !current => None,
            AuthorityEvent::Approved { subject_number, service_number } => {
                let numbers = IssuedNumbers {
                    subject_number: subject_number.clone(),
                    service_number: service_number.clone(),
                };
                Some((Action::AuthorityApprove, None, Some(numbers)))
            }
            AuthorityEvent::Rejected { reasons } => {
                crate::filing::require_reasons(reasons)?;
                Some((Action::AuthorityReject, Some(reasons.clone()), None))
            }
            AuthorityEvent::SmsVerified => Some((Action::SmsVerified, None, None)),
            AuthorityEvent::SmsExpired => Some((Action::SmsTimeout, None, None)),
            AuthorityEvent::CancelConfirmed { empty_shell } => {
                if *empty_shell && order.cancel_type != Some(CancelType::Access) {
                    return Err(ServiceError::refused(
                        errcode::INVALID_ARGS,
                        "只有取消接入会留下空壳备案（empty_shell 仅用于取消接入）",
                    ));
                }
                empty_shell_flag =
                    Some(*empty_shell).filter(|_| order.cancel_type == Some(CancelType::Access));
                Some((Action::CancelConfirmed, None, None))
            }
            AuthorityEvent::CancelAborted { reason } if !reason.trim().is_empty() => {
                let item = AuditItem {
                    key_name: "取消接入".into(),
                    error: reason.clone(),
                    suggest: "备案保持有效；如仍需取消，请先通过其他服务商接入后再办理".into(),
                };
                crate::filing::require_reasons(std::slice::from_ref(&item))?;
                Some((Action::CancelAborted, Some(vec![item]), None))
            }
            AuthorityEvent::CancelAborted { .. } => Some((Action::CancelAborted, None, None)),
            AuthorityEvent::AccessRevoked { reason } => {
                let item = AuditItem {
                    key_name: "备案接入".into(),
                    error: reason.clone(),
                    suggest: "如需继续在本平台提供服务，请重新申请备案".into(),
                };
                crate::filing::require_reasons(std::slice::from_ref(&item))?;
                Some((Action::AccessRevoked, Some(vec![item]), None))
            }
            _ => None,
        };
        if let Some((action, audit_data, numbers)) = transition {
            let change = Change {
                audit_data,
                numbers,
                inbound: Some(row),
                empty_shell: empty_shell_flag,
                ..Change::default()
            };
            return match self.act(&by, appid, action, change).await {
                Ok(_) => Ok(Receipt::Applied),
                // Another delivery of this event got there first (its record committed with
                // its transition), or the order moved on under it.
                Err(e) => {
                    let mut tx = self.store.read().await?;
                    if tx.authority().event_seen(event_id).await? {
                        Ok(Receipt::Duplicate)
                    } else {
                        Err(e)
                    }
                }
            };
        }
        if !current {
            tracing::debug!(
                appid,
                round,
                kind = event.kind(),
                "authority event for a round the order has left"
            );
        }
        let mut tx = self.store.begin().await?;
        let recorded = tx.authority().record_event(&row).await?;
        if recorded && current && is_news(&event) {
            // What no transition records yet is still in the audit trail, for operators.
            let detail = serde_json::to_value(&event).unwrap_or_default();
            if let Some(action) = news_action(&event) {
                audit(&mut tx, now, &by, AuditEntity::Filing, appid, action, detail).await?;
            }
            if let AuthorityEvent::InspectionTask { description, due, .. } = &event {
                // The developer must act on it: 站内信 (operators see it on the dashboard).
                let due = beian_core::time::from_ts(*due).with_timezone(&beian_core::time::beijing());
                let body = format!(
                    "管局对该小程序的备案发起核查：{description}\n请于{}前按要求完成整改或补充材料，如有疑问请提交工单。",
                    due.format("%Y-%m-%d %H:%M")
                );
                tx.messages().insert(appid, "管局核查任务", &body, now).await?;
            }
            tracing::warn!(appid, round, kind = event.kind(), "authority event needs an operator");
        }
        tx.commit().await?;
        Ok(match (recorded, current) {
            (false, _) => Receipt::Duplicate,
            (true, true) => Receipt::Applied,
            (true, false) => Receipt::Ignored,
        })
    }

    /// When the current SMS round must be verified by, and which phones still owe it
    /// (masked), for the status page: what the authority last reported for the round.
    pub async fn sms_pending(&self, appid: &str) -> Result<Option<(i64, Vec<String>)>> {
        let Some(v) = self.order(appid).await? else { return Ok(None) };
        // A cancellation's round is the order's row version when it was asked for (nothing
        // else changes the order while it is canceling).
        let (purpose, round) = if v.order.state.is_canceling() {
            (SmsPurpose::Cancel, u32::try_from(v.order.row_version).unwrap_or(0))
        } else if v.order.state.is_authority_review(SmsVerifyStatus::Waiting) {
            (SmsPurpose::Filing, v.order.authority_round)
        } else {
            return Ok(None);
        };
        let probe = AuthorityEvent::SmsPending { purpose, deadline: 0, phones: Vec::new() };
        let mut tx = self.store.read().await?;
        let Some(row) = tx.authority().latest_event(appid, &stored_kind(&probe), round).await? else {
            return Ok(None);
        };
        match serde_json::from_str(&row.detail) {
            Ok(AuthorityEvent::SmsPending { deadline, phones, .. }) if !phones.is_empty() => {
                Ok(Some((deadline, phones)))
            }
            Ok(_) => Ok(None),
            Err(e) => Err(ServiceError::Internal(format!(
                "stored authority event {} is unreadable: {e}",
                row.event_id
            ))),
        }
    }
}

/// An event operators must follow up, for the staff dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityNews {
    pub at: i64,
    pub appid: String,
    /// What happened, in Chinese (管局拒收 / 核查任务 / 取消接入).
    pub what: &'static str,
    /// The authority's code, reason or task, as it said it.
    pub detail: String,
}

impl crate::aggregates::Operations<'_> {
    /// The newest refusals, inspection tasks and access revocations the authority reported
    /// (at most `limit` of each kind), newest first.
    pub async fn authority_news(&self, limit: i64) -> Result<Vec<AuthorityNews>> {
        let mut tx = self.store.read().await?;
        let mut out = Vec::new();
        for kind in ["refused", "inspection_task", "access_revoked"] {
            for row in tx.authority().recent_of_kind(kind, limit).await? {
                let (what, detail) = match serde_json::from_str(&row.detail) {
                    Ok(AuthorityEvent::Refused { code, reason }) => ("管局拒收", format!("{code}：{reason}")),
                    Ok(AuthorityEvent::InspectionTask { task_id, description, due }) => (
                        "核查任务",
                        format!(
                            "{description}（任务 {task_id}，{}前完成）",
                            beian_core::time::beijing_date(beian_core::time::from_ts(due))
                        ),
                    ),
                    Ok(AuthorityEvent::AccessRevoked { reason }) => ("取消接入", reason),
                    _ => ("无法读取", row.detail.clone()),
                };
                out.push(AuthorityNews { at: row.received_at, appid: row.appid, what, detail });
            }
        }
        out.sort_by_key(|n| std::cmp::Reverse(n.at));
        Ok(out)
    }
}

/// A record this platform's 取消接入 left without any access (空壳), for operators: the MIIT
/// record stands with no provider and the authority may cancel it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptyShell {
    pub at: i64,
    pub appid: String,
    /// The service number whose last access was removed.
    pub service_number: String,
}

impl crate::aggregates::Operations<'_> {
    /// The newest empty shells (at most `limit`), newest first: every confirmed 取消接入 whose
    /// event said the record was left without access.
    pub async fn empty_shells(&self, limit: i64) -> Result<Vec<EmptyShell>> {
        let mut tx = self.store.read().await?;
        let mut out = Vec::new();
        for row in tx.authority().recent_of_kind(EMPTY_SHELL_KIND, limit).await? {
            // The number was cleared with the access; the cancellation's audit event kept it.
            let service_number = tx
                .audit()
                .of("filing", &row.appid)
                .await?
                .iter()
                .rev()
                .find_map(|e| {
                    e.detail.get("service_record_number").and_then(|v| v.as_str()).map(str::to_string)
                })
                .unwrap_or_default();
            out.push(EmptyShell { at: row.received_at, appid: row.appid, service_number });
        }
        Ok(out)
    }
}

/// What an approval's numbers must match: see [`Filings::number_context`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberContext {
    /// The subject's province code (440000).
    pub province: String,
    /// Its abbreviation in numbers (粤).
    pub province_abbr: String,
    /// The subject number the subject already holds (a further service keeps it).
    pub subject_number: Option<String>,
    /// The service number a change under way keeps (approved, a change keeps its numbers).
    pub service_number: Option<String>,
}

/// The kind column of a confirmed 取消接入 that left the record without access (空壳): the
/// operators' list of empty shells ([`crate::aggregates::Operations::empty_shells`]).
pub const EMPTY_SHELL_KIND: &str = "cancel_confirmed:empty_shell";

/// The kind column: the event's kind, and for SMS news whose verification it is about (a
/// filing's and a cancellation's rounds are counted apart); an empty shell apart.
fn stored_kind(event: &AuthorityEvent) -> String {
    match event {
        AuthorityEvent::CancelConfirmed { empty_shell: true } => EMPTY_SHELL_KIND.into(),
        AuthorityEvent::SmsPending { purpose: SmsPurpose::Filing, .. } => "sms_pending:filing".into(),
        AuthorityEvent::SmsPending { purpose: SmsPurpose::Cancel, .. } => "sms_pending:cancel".into(),
        other => other.kind().into(),
    }
}

/// Events no transition handles yet: an operator follows up.
fn is_news(event: &AuthorityEvent) -> bool {
    news_action(event).is_some()
}

/// The audit action of an event no transition records yet (operators must see it).
fn news_action(event: &AuthorityEvent) -> Option<beian_core::model::AuditAction> {
    use beian_core::model::AuditAction;
    match event {
        AuthorityEvent::Refused { .. } => Some(AuditAction::AuthorityRefused),
        AuthorityEvent::InspectionTask { .. } => Some(AuditAction::InspectionTask),
        _ => None,
    }
}

fn port_error(e: ServiceError) -> PortError {
    match e {
        ServiceError::Refused { errmsg, .. } => PortError::Refused(errmsg),
        ServiceError::Hints(h) => PortError::Refused(format!("{} field hints", h.len())),
        ServiceError::Internal(m) | ServiceError::Conflict(m) => PortError::Retry(m),
    }
}

impl AuthorityInbox for Service {
    fn receive(
        &self,
        event_id: String,
        appid: String,
        round: u32,
        event: AuthorityEvent,
    ) -> BoxFuture<'_, PortResult<Receipt>> {
        Box::pin(async move {
            self.filings().receive_authority_event(&event_id, &appid, round, event).await.map_err(port_error)
        })
    }
}

impl Service {
    /// Queue one job for a gateway, idempotent on `key`.
    async fn queue_for_gateway(&self, spec: JobSpec, key: &str, at: i64) -> Result<()> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        enqueue(&mut tx, &spec, Some(key), at, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl AuthorityOutbox for Service {
    fn now(&self) -> i64 {
        Service::now(self).timestamp()
    }

    fn public_url(&self) -> String {
        Service::public_url(self)
    }

    fn send_sms(&self, key: String, phone: String, text: String) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(async move {
            let now = Service::now(self).timestamp();
            let params = vec![("text".to_string(), text.clone())];
            let sms = JobSpec::Sms { phone, text, event: "authority_simulator".into(), params };
            self.queue_for_gateway(sms, &key, now).await.map_err(port_error)
        })
    }

    fn schedule(&self, key: String, at: i64, timer: Timer) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(async move {
            let spec = JobSpec::AuthorityTimer { name: timer.name, appid: timer.appid, round: timer.round };
            self.queue_for_gateway(spec, &key, at).await.map_err(port_error)
        })
    }

    fn add_working_days(&self, start: chrono::NaiveDate, n: u32) -> chrono::NaiveDate {
        self.calendar().add_working_days(start, n)
    }
}
