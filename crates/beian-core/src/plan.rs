//! The planner: everything one action on a filing order changes, decided in one pure function.
//!
//! [`plan`] (every action but apply) and [`plan_apply`] take what the service read — the mini
//! program, its order, the subject, the subject's other orders when a cascade may need them —
//! and the request, and return a [`Plan`]: the new state and order row, the subject's counters
//! (in progress, filed), the numbers to issue, the cascade of 注销主体 over the subject's other
//! services, the jobs to enqueue with their idempotency keys, the quota to claim, the new
//! version, the public-index change, and — derived from the plan once its numbers are issued —
//! the notice people get ([`Plan::notice`]) and the audit events ([`Plan::audit`]). The
//! service applies any plan the same way in one transaction; it decides nothing itself.
//!
//! Numbers come from the authority: an approval's request carries them
//! ([`Request::numbers`]) and the plan checks them against the subject (province, the number
//! the subject already holds, the service-kind suffix) before it writes them. beian issues no
//! number of its own.

use crate::calendar::WorkCalendar;
use crate::dict::Dictionaries;
use crate::errcode;
use crate::model::{AuditAction, AuditEntity, AuditItem, CancelType, FilingOrder, MiniProgram, Subject};
use crate::numbering::{self, IssuedNumbers};
use crate::payload::ApplyPayload;
use crate::policy::Policy;
use crate::rules::{self, ApplyContext, Hint, Refusal};
use crate::state::{self, Action, ChangeStage, Effect, FilingState, SmsVerifyStatus};
use crate::time::{beijing_date, end_of_beijing_day};
use chrono::{DateTime, Utc};
use serde_json::json;

/// The kind of request an order carries to the authority. One live record per service has at
/// most one open request: a new filing (`New`), a change of the filed record (`Change`), the
/// connection of a record filed through another access provider (`NewAccess`), a
/// cancellation (`Cancel`) or the removal of this platform's access (`CancelAccess`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderKind {
    /// 新增备案: a new subject and/or service.
    New,
    /// 变更备案: a change to a filed record (runs beside it).
    Change,
    /// 新增接入: connect a record filed through another access provider.
    NewAccess,
    /// 注销主体 / 注销服务: cancel the record.
    Cancel,
    /// 取消接入: remove this platform's access only.
    CancelAccess,
}

impl OrderKind {
    /// The request an order is carrying to the authority in its current state.
    pub fn of(order: &FilingOrder) -> OrderKind {
        match (order.state, order.cancel_type) {
            (FilingState::Changing { .. }, _) => OrderKind::Change,
            (FilingState::Filed { canceling: true }, Some(CancelType::Access)) => OrderKind::CancelAccess,
            (FilingState::Filed { canceling: true }, _) => OrderKind::Cancel,
            (state, _) if order.access_number.is_some() && !state.is_filed() => OrderKind::NewAccess,
            _ => OrderKind::New,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OrderKind::New => "new",
            OrderKind::Change => "change",
            OrderKind::NewAccess => "new_access",
            OrderKind::Cancel => "cancel",
            OrderKind::CancelAccess => "cancel_access",
        }
    }
}

/// What the caller asks for, beside the action.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// Rejection reasons (platform or authority rejection).
    pub reasons: Option<&'a [AuditItem]>,
    pub cancel_type: Option<CancelType>,
    /// WeChat's 注销原因 code, kept in the audit trail.
    pub reason_type: Option<u32>,
    /// Refuse unless the order is still at this row version (a reviewer's page).
    pub expected_version: Option<i64>,
    /// The reviewer acting: refused while another reviewer holds the claim.
    pub reviewer: Option<&'a str>,
    /// The numbers the authority issued (an approval).
    pub numbers: Option<&'a IssuedNumbers>,
    /// A confirmed 取消接入: whether the authority says the record is left without any access
    /// (空壳, an empty shell).
    pub empty_shell: Option<bool>,
}

/// What the service read, in the transaction that will apply the plan.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub now: DateTime<Utc>,
    pub mini_program: &'a MiniProgram,
    pub order: Option<&'a FilingOrder>,
    /// The order's subject and its row version.
    pub subject: Option<(&'a Subject, i64)>,
    /// The subject's orders, when [`needs_subject_orders`] says the plan reads them.
    pub subject_orders: &'a [FilingOrder],
    /// The order's latest submitted version, when [`needs_latest_version`] says the plan
    /// reads it (an approved change replaces the record with it).
    pub latest: Option<&'a ApplyPayload>,
}

/// Whether [`plan`] of `action` on `order` reads the latest submitted version.
pub fn needs_latest_version(action: Action, order: &FilingOrder) -> bool {
    action == Action::AuthorityApprove && matches!(order.state, FilingState::Changing { .. })
}

/// Whether planning `action` on `order` reads the subject's other orders (the cascade of a
/// confirmed 注销主体), so the service reads them only then.
pub fn needs_subject_orders(action: Action, order: &FilingOrder) -> bool {
    action == Action::CancelConfirmed && order.cancel_type == Some(CancelType::Subject)
}

/// Why there is no plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The request is refused as a whole (errcode, Chinese message).
    Refused { errcode: i64, errmsg: String },
    /// The application has field errors.
    Hints(Vec<Hint>),
    /// The rows read contradict each other (a bug or a damaged database), for the operator.
    Inconsistent(String),
}

impl From<state::TransitionError> for PlanError {
    fn from(e: state::TransitionError) -> Self {
        PlanError::Refused { errcode: e.errcode, errmsg: e.errmsg.to_string() }
    }
}

impl From<Refusal> for PlanError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Request { errcode, errmsg } => PlanError::Refused { errcode, errmsg },
            Refusal::Hints(h) => PlanError::Hints(h),
        }
    }
}

fn refused(errcode: i64, errmsg: impl Into<String>) -> PlanError {
    PlanError::Refused { errcode, errmsg: errmsg.into() }
}

/// How the order row is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowWrite {
    Insert,
    /// Update, refused unless the row is still at this version.
    Update {
        expected_version: i64,
    },
}

/// How the subject row is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectWrite {
    Insert(Subject),
    /// Update, refused unless the row is still at this version.
    Update {
        subject: Subject,
        expected_version: i64,
    },
}

impl SubjectWrite {
    pub fn subject(&self) -> &Subject {
        match self {
            SubjectWrite::Insert(s) | SubjectWrite::Update { subject: s, .. } => s,
        }
    }
}

/// A job the plan enqueues, with its idempotency key; it runs at the plan's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedJob {
    pub job: AuthorityJob,
    pub key: String,
}

/// The work handed to the authority gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorityJob {
    /// Submit the order's request (round `round`): the authority starts its SMS verification.
    Submit { kind: OrderKind, round: u32 },
    /// Submit a cancellation: the authority texts the principal for confirmation.
    Cancel { kind: OrderKind, round: u32 },
}

/// A count the plan claims, refused past its limit (the day's apply quota).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterClaim {
    pub key: String,
    pub limit: i64,
    pub errcode: i64,
    pub errmsg: String,
}

/// The public query index follows the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexChange {
    Add,
    Remove,
}

/// The event told to the service providers authorized for the mini program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderResult {
    /// The event's `InfoType`: WeChat's `notify_apply_icpfiling_result` for a new filing, or
    /// beian's extensions `notify_change_icpfiling_result` (变更备案; WeChat has no change API
    /// for providers), `notify_icp_access_result` (新增接入) and
    /// `notify_icp_cancel_access_result` (取消接入).
    pub event: &'static str,
    /// WeChat's `beian_status` (3, 5 or 6; for a change the record's, which stays 6; 1024 once
    /// a cancelled access left the platform).
    pub beian_status: i64,
    /// Further fields of beian's extension events (name, value, numeric): a change's
    /// `change_status` (3 平台审核驳回, 5 管局审核驳回, 6 变更通过), a cancelled access's
    /// `result` and `empty_shell`.
    pub extra: Vec<(&'static str, String, bool)>,
    pub key: String,
}

/// `InfoType` of the result of a new filing (WeChat's event).
pub const APPLY_RESULT_EVENT: &str = "notify_apply_icpfiling_result";
/// `InfoType` of the result of a change (变更备案; beian extension).
pub const CHANGE_RESULT_EVENT: &str = "notify_change_icpfiling_result";
/// `InfoType` of the result of a new access (新增接入; beian extension).
pub const ACCESS_RESULT_EVENT: &str = "notify_icp_access_result";
/// `InfoType` of the result of a cancel access (取消接入; beian extension).
pub const CANCEL_ACCESS_RESULT_EVENT: &str = "notify_icp_cancel_access_result";

/// One notice: title and body for people, a stable kind for machines, and the key that keeps
/// a re-run from telling twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: &'static str,
    pub title: String,
    pub body: String,
    pub key: String,
}

/// One audit event (the actor and time are the service's).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub entity: AuditEntity,
    pub entity_id: String,
    pub action: AuditAction,
    pub detail: serde_json::Value,
}

/// Everything an action changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub action: Action,
    pub from: FilingState,
    pub to: FilingState,
    pub effects: &'static [Effect],
    /// The order as it is written.
    pub order: FilingOrder,
    pub order_write: RowWrite,
    pub subject: Option<SubjectWrite>,
    /// Other orders changed with this one (注销主体 over the subject's other filed services).
    pub cascade: Vec<FilingOrder>,
    pub jobs: Vec<PlannedJob>,
    /// Claimed last, just before commit (one hot row on PostgreSQL).
    pub claims: Vec<CounterClaim>,
    /// The submitted application, stored as the order's new version.
    pub version: Option<ApplyPayload>,
    pub index: Option<IndexChange>,
    pub provider_result: Option<ProviderResult>,
    /// The request's reasons and cancellation codes, for the notice and the audit trail.
    reasons: Option<Vec<AuditItem>>,
    reason_type: Option<u32>,
    /// The row version the order had when read (-1 for a new order): names this step in keys.
    step: i64,
    /// The platform-review due date (apply), for the notice.
    due: Option<chrono::NaiveDate>,
    review_sla_days: u32,
    /// The rule-table version an application was checked against (apply only).
    rules_version: Option<i64>,
    /// A confirmed 取消接入 left the record without access (空壳).
    empty_shell: Option<bool>,
}

/// The parts of the platform's configuration a plan reads.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    pub policy: &'a Policy,
    pub dict: &'a Dictionaries,
    pub calendar: &'a WorkCalendar,
}

/// Plan any action but [`Action::Apply`] on an existing order.
pub fn plan(action: Action, req: &Request<'_>, facts: &Facts<'_>, env: &Env<'_>) -> Result<Plan, PlanError> {
    let Some(read) = facts.order else {
        // No order at all: the transition function answers as for "not filed".
        state::transition(FilingState::NotFiled, action)?;
        return Err(refused(
            errcode::WRONG_REVIEW_STATE,
            errcode::message(errcode::WRONG_REVIEW_STATE).unwrap_or("请求被拒绝"),
        ));
    };
    if matches!(action, Action::Apply | Action::ApplyChange | Action::ApplyAccess) {
        return Err(PlanError::Inconsistent(
            "apply is planned by plan_apply, a change by plan_change, a new access by plan_access".into(),
        ));
    }
    if req.expected_version.is_some_and(|v| v != read.row_version) {
        return Err(refused(errcode::CONFLICT, "备案订单已被其他操作修改，请刷新后重试"));
    }
    if let (Some(me), Some(holder)) = (req.reviewer, &read.claimed_by) {
        if me != holder {
            return Err(refused(errcode::CONFLICT, format!("该订单已被审核员 {holder} 认领，请先由其释放")));
        }
    }
    let from = read.state;
    let (to, effects) = state::transition(from, action)?;
    let ts = facts.now.timestamp();
    let step = read.row_version;
    let mut order = read.clone();
    order.state = to;
    order.updated_at = ts;
    // (A refused 取消接入's reason is told, not kept on the filed record.)
    if let Some(reasons) = req.reasons.filter(|_| action != Action::CancelAborted) {
        order.audit_data = reasons.to_vec();
    }
    if effects.contains(&Effect::ClearAuditData) {
        order.audit_data.clear();
    }
    if let Some(ct) = req.cancel_type {
        order.cancel_type = Some(ct);
    }
    if !matches!(to, FilingState::PlatformReview) {
        order.claimed_by = None;
        order.claimed_at = None;
    }

    let mut plan = Plan {
        action,
        from,
        to,
        effects,
        order,
        order_write: RowWrite::Update { expected_version: step },
        subject: None,
        cascade: Vec::new(),
        jobs: Vec::new(),
        claims: Vec::new(),
        version: None,
        index: None,
        provider_result: None,
        reasons: req.reasons.map(<[AuditItem]>::to_vec),
        reason_type: req.reason_type,
        step,
        due: None,
        review_sla_days: env.policy.platform_review_sla_days,
        rules_version: None,
        empty_shell: req.empty_shell.filter(|_| action == Action::CancelConfirmed),
    };
    let appid = plan.order.appid.clone();

    if let Some(subject_id) = plan.order.subject_id.clone() {
        let Some((read_subject, version)) = facts.subject else {
            return Err(PlanError::Inconsistent(format!("order {appid} names missing subject {subject_id}")));
        };
        let mut subject = read_subject.clone();
        match (from.in_progress(), to.in_progress()) {
            (true, false) => subject.in_progress = subject.in_progress.saturating_sub(1),
            (false, true) => subject.in_progress += 1,
            _ => {}
        }
        if effects.contains(&Effect::ReplaceRecord) {
            // The authority's numbers for a change are the record's own.
            if let Some(n) = req.numbers {
                let held = (
                    plan.order.subject_record_number.as_deref(),
                    plan.order.service_record_number.as_deref(),
                );
                if held != (Some(n.subject_number.as_str()), Some(n.service_number.as_str())) {
                    return Err(PlanError::Refused {
                        errcode: errcode::INVALID_ARGS,
                        errmsg: format!(
                            "变更备案通过时备案号不变：应为主体备案号“{}”、服务备案号“{}”",
                            held.0.unwrap_or("-"),
                            held.1.unwrap_or("-")
                        ),
                    });
                }
            }
            let Some(latest) = facts.latest else {
                return Err(PlanError::Inconsistent(format!(
                    "change of {appid} approved without its version"
                )));
            };
            subject.name = latest.icp_subject.base_info.name.clone();
            plan.order.filed_version = plan.order.versions;
        }
        if effects.contains(&Effect::IssueNumbers) {
            let province: u32 = subject.province.parse().unwrap_or(0);
            let abbr = env.dict.province_abbr(province).ok_or_else(|| {
                PlanError::Inconsistent(format!("no province abbreviation for {}", subject.province))
            })?;
            let numbers = req.numbers.ok_or_else(|| PlanError::Refused {
                errcode: errcode::INVALID_ARGS,
                errmsg: "管局审核通过须附管局核发的主体备案号和服务备案号".into(),
            })?;
            if let Some(claimed) = plan.order.access_number.as_deref() {
                // 新增接入 issues no number: the authority confirms the record's own.
                if numbers.service_number != claimed
                    || numbering::subject_of_service(claimed) != Some(numbers.subject_number.as_str())
                {
                    return Err(PlanError::Refused {
                        errcode: errcode::INVALID_ARGS,
                        errmsg: format!(
                            "新增接入通过时备案号不变：应为主体备案号“{}”、服务备案号“{claimed}”",
                            numbering::subject_of_service(claimed).unwrap_or("-")
                        ),
                    });
                }
            }
            let refused = |e: numbering::NumberError| PlanError::Refused {
                errcode: errcode::INVALID_ARGS,
                errmsg: e.0,
            };
            numbering::check_subject_number(&numbers.subject_number, abbr).map_err(refused)?;
            if let Some(held) = subject.record_number.as_deref().filter(|h| *h != numbers.subject_number) {
                return Err(PlanError::Refused {
                    errcode: errcode::INVALID_ARGS,
                    errmsg: format!(
                        "该主体已有主体备案号“{held}”，管局核发的主体备案号“{}”与之不符",
                        numbers.subject_number
                    ),
                });
            }
            numbering::check_service_number(&numbers.service_number, &numbers.subject_number)
                .map_err(refused)?;
            subject.record_number = Some(numbers.subject_number.clone());
            plan.order.subject_record_number = Some(numbers.subject_number.clone());
            plan.order.service_record_number = Some(numbers.service_number.clone());
            plan.order.filed_version = plan.order.versions;
            subject.service_seq += 1;
            subject.filed_count += 1;
            subject.ever_filed = true;
        }
        if effects.contains(&Effect::RevokeNumbers) {
            subject.filed_count = subject.filed_count.saturating_sub(1);
            plan.order.service_record_number = None;
            if action == Action::AccessRevoked || plan.order.cancel_type == Some(CancelType::Access) {
                // Only this platform's access ends (revoked, or 取消接入 confirmed): the
                // subject and its other services stay; the MIIT record stays too.
                plan.order.cancel_type = Some(CancelType::Access);
                plan.order.subject_record_number = None;
            } else if plan.order.cancel_type == Some(CancelType::Subject) {
                // 注销主体: every other filed service of the subject goes with it.
                for other in facts.subject_orders {
                    if other.appid == appid || !matches!(other.state, FilingState::Filed { .. }) {
                        continue;
                    }
                    let mut other = other.clone();
                    other.state = FilingState::NotFiled;
                    other.service_record_number = None;
                    other.subject_record_number = None;
                    other.cancel_type = Some(CancelType::Subject);
                    other.updated_at = ts;
                    subject.filed_count = subject.filed_count.saturating_sub(1);
                    plan.cascade.push(other);
                }
                subject.record_number = None;
                plan.order.subject_record_number = None;
            }
        }
        if subject != *read_subject {
            plan.subject = Some(SubjectWrite::Update { subject, expected_version: version });
        }
    }
    if effects.contains(&Effect::StartSmsVerification) {
        plan.order.authority_round += 1;
        let round = plan.order.authority_round;
        plan.jobs.push(PlannedJob {
            job: AuthorityJob::Submit { kind: OrderKind::of(&plan.order), round },
            key: format!("authority_submit:{appid}:{round}"),
        });
    }
    if effects.contains(&Effect::StartCancelConfirmation) {
        let round = u32::try_from(step + 1).unwrap_or(0);
        plan.jobs.push(PlannedJob {
            job: AuthorityJob::Cancel { kind: OrderKind::of(&plan.order), round },
            key: format!("authority_cancel:{appid}:{}", step + 1),
        });
    }
    // A change's result keeps the filed status (6): it is its own event, with the change's
    // outcome (3, 5, or 6 when it became the record).
    let change = from.change().is_some() || to.change().is_some();
    let access = plan.order.access_number.is_some() && !from.is_filed();
    if effects.contains(&Effect::NotifyResult) && matches!(to.status_code(), 3 | 5 | 6) && !change {
        plan.provider_result = Some(ProviderResult {
            event: if access { ACCESS_RESULT_EVENT } else { APPLY_RESULT_EVENT },
            beian_status: to.status_code(),
            extra: Vec::new(),
            key: format!("apply_result:{appid}:{}", step + 1),
        });
    }
    if matches!(action, Action::CancelConfirmed | Action::CancelAborted)
        && plan.order.cancel_type == Some(CancelType::Access)
    {
        let confirmed = action == Action::CancelConfirmed;
        let mut extra = vec![("result", if confirmed { "cancelled" } else { "refused" }.to_string(), false)];
        if confirmed {
            extra.push(("empty_shell", u8::from(plan.empty_shell == Some(true)).to_string(), true));
        }
        plan.provider_result = Some(ProviderResult {
            event: CANCEL_ACCESS_RESULT_EVENT,
            beian_status: if confirmed { 1024 } else { 6 },
            extra,
            key: format!("cancel_access_result:{appid}:{}", step + 1),
        });
    }
    if from.change().is_some() && to.is_filed() {
        let change_status = match (to.change(), effects.contains(&Effect::ReplaceRecord)) {
            (Some(ChangeStage::PlatformRejected), _) => Some(3),
            (Some(ChangeStage::AuthorityRejected), _) => Some(5),
            (None, true) => Some(6),
            _ => None,
        };
        if let Some(change_status) = change_status {
            plan.provider_result = Some(ProviderResult {
                event: CHANGE_RESULT_EVENT,
                beian_status: to.status_code(),
                extra: vec![("change_status", change_status.to_string(), true)],
                key: format!("change_result:{appid}:{}", step + 1),
            });
        }
    }
    if effects.contains(&Effect::IssueNumbers) || effects.contains(&Effect::ReplaceRecord) {
        // (An approved change rewrites the entry: names may have changed.)
        plan.index = Some(IndexChange::Add);
    }
    if effects.contains(&Effect::RevokeNumbers) {
        plan.index = Some(IndexChange::Remove);
    }
    Ok(plan)
}

/// What apply checks an application against, beside [`Facts`].
#[derive(Debug, Clone, Copy)]
pub struct ApplyFacts<'a> {
    pub facts: Facts<'a>,
    pub media: &'a std::collections::HashMap<String, crate::model::MediaMeta>,
    pub face_task: Option<&'a crate::model::FaceTask>,
    /// Applications counted against today's quota so far.
    pub applies_today: u32,
    /// The rule table's current version: the application is checked against it, and its
    /// version is recorded in the apply's audit event (`rules_version`).
    pub rules: &'a crate::rule_table::RuleTable,
}

/// Plan an application (申请备案): every rule, then the order in platform review with its
/// due date, the subject's slot, the new version, the quota claim. `new_subject_id` names the
/// subject if this certificate has none yet (the service draws it).
pub fn plan_apply(
    payload: &ApplyPayload,
    read: &ApplyFacts<'_>,
    new_subject_id: &str,
    env: &Env<'_>,
) -> Result<Plan, PlanError> {
    plan_application(payload, read, new_subject_id, env, None)
}

/// The field a new access's service number is checked at (新增接入; the payload carries the
/// number there once accepted).
pub const ACCESS_NUMBER_FIELD: &str = "icp_applets.base_info.record_number";

/// Plan a new access (新增接入; REAL-WORLD.md §2): a mini program filed through another access
/// provider is connected by its existing service number. The application is checked like a
/// new one (identity, principals, the subject's limits), and the number against it: its
/// format, the province of the subject number it implies (`numbering::subject_of_service`)
/// against the subject's, and the subject number the subject already holds here. The order
/// goes to platform review carrying the number (`FilingOrder::access_number`, and the
/// version's record numbers); the authority later confirms it with the same numbers — no
/// number is issued.
pub fn plan_access(
    payload: &ApplyPayload,
    service_number: &str,
    read: &ApplyFacts<'_>,
    new_subject_id: &str,
    env: &Env<'_>,
) -> Result<Plan, PlanError> {
    plan_application(payload, read, new_subject_id, env, Some(service_number.trim()))
}

/// Why `service_number` cannot be connected to the subject of `payload` (hints at
/// [`ACCESS_NUMBER_FIELD`]); the subject number it implies otherwise.
fn check_access_number<'n>(
    service_number: &'n str,
    payload: &ApplyPayload,
    subject: Option<&Subject>,
    dict: &Dictionaries,
) -> Result<&'n str, Vec<Hint>> {
    let hint = |errmsg: String| {
        vec![Hint { errcode: errcode::ACCESS_NUMBER, errmsg, err_field: ACCESS_NUMBER_FIELD.to_string() }]
    };
    if service_number.is_empty() {
        return Err(hint("请填写已有的服务备案号，例如“粤ICP备2026012345号-1X”".into()));
    }
    let province = payload.icp_subject.base_info.province.trim();
    let Some(abbr) = province.parse::<u32>().ok().and_then(|p| dict.province_abbr(p)) else {
        // The province's own hint says what to fix; the number is checked once it is known.
        return Ok(numbering::subject_of_service(service_number).unwrap_or_default());
    };
    let Some(subject_number) = numbering::subject_of_service(service_number) else {
        return Err(hint(format!("服务备案号应为主体备案号加“-序号X”，例如“{abbr}ICP备2026012345号-1X”")));
    };
    numbering::check_subject_number(subject_number, abbr).map_err(|e| hint(e.0))?;
    numbering::check_service_number(service_number, subject_number).map_err(|e| hint(e.0))?;
    if let Some(held) = subject.and_then(|s| s.record_number.as_deref()).filter(|h| *h != subject_number) {
        return Err(hint(format!(
            "该主体在本平台的主体备案号为“{held}”，服务备案号“{service_number}”不属于该主体，请核对"
        )));
    }
    Ok(subject_number)
}

/// A new application ([`plan_apply`]) or a new access ([`plan_access`], `access` the number).
fn plan_application(
    payload: &ApplyPayload,
    read: &ApplyFacts<'_>,
    new_subject_id: &str,
    env: &Env<'_>,
    access: Option<&str>,
) -> Result<Plan, PlanError> {
    let facts = &read.facts;
    let action = if access.is_some() { Action::ApplyAccess } else { Action::Apply };
    let from = facts.order.map(|o| o.state).unwrap_or(FilingState::NotFiled);
    let (to, effects) = state::transition(from, action)?;
    let ctx = ApplyContext {
        now: facts.now,
        dict: env.dict,
        policy: env.policy,
        mini_program: facts.mini_program,
        media: read.media,
        face_task: read.face_task,
        subject: facts.subject.map(|(s, _)| s),
        applies_today: read.applies_today,
        rules: read.rules,
    };
    let mut payload = payload.clone();
    payload.icp_subject.base_info.record_number.clear();
    payload.icp_applets.base_info.record_number.clear();
    let numbers = match access {
        None => {
            rules::check_apply(&payload, &ctx)?;
            None
        }
        Some(number) => {
            // Every field's hint at once: the number's beside the application's.
            let mut hints =
                check_access_number(number, &payload, ctx.subject, env.dict).err().unwrap_or_default();
            match rules::check_apply(&payload, &ctx) {
                Ok(()) => {}
                Err(Refusal::Hints(h)) => hints.extend(h),
                Err(other) if hints.is_empty() => return Err(other.into()),
                Err(_) => {}
            }
            if !hints.is_empty() {
                return Err(PlanError::Hints(hints));
            }
            let subject_number = numbering::subject_of_service(number).unwrap_or_default();
            Some((subject_number.to_string(), number.to_string()))
        }
    };
    let (now, ts, mp) = (facts.now, facts.now.timestamp(), facts.mini_program);
    let appid = mp.appid.as_str();

    // The platform fills appid and name; the caller's values are never trusted.
    payload.icp_applets.base_info.appid = mp.appid.clone();
    payload.icp_applets.base_info.name = mp.name.clone();
    // A new access names the record it connects.
    if let Some((subject_number, service_number)) = &numbers {
        payload.icp_subject.base_info.record_number = subject_number.clone();
        payload.icp_applets.base_info.record_number = service_number.clone();
    }

    // Claim the subject's slot: the row version makes two racing applies collide there.
    let b = &payload.icp_subject.base_info;
    let organize = &payload.icp_subject.organize_info;
    let subject_type = b.subject_type.unwrap_or_default();
    let subject = match facts.subject {
        Some((s, version)) => {
            let mut s = s.clone();
            s.in_progress += 1;
            s.subject_type = subject_type;
            s.name = b.name.clone();
            s.province = b.province.clone();
            SubjectWrite::Update { subject: s, expected_version: version }
        }
        None => SubjectWrite::Insert(Subject {
            id: new_subject_id.to_string(),
            subject_type,
            certificate_type: organize.certificate_type.unwrap_or_default(),
            certificate_number: organize.certificate_number.to_uppercase(),
            name: b.name.clone(),
            province: b.province.clone(),
            filed_count: 0,
            ever_filed: false,
            in_progress: 1,
            record_number: None,
            service_seq: 0,
        }),
    };

    let (mut order, order_write) = match facts.order {
        Some(o) => (o.clone(), RowWrite::Update { expected_version: o.row_version }),
        None => (
            FilingOrder {
                appid: appid.to_string(),
                subject_id: None,
                state: FilingState::NotFiled,
                audit_data: Vec::new(),
                subject_record_number: None,
                service_record_number: None,
                versions: 0,
                filed_version: 0,
                cancel_type: None,
                submitted_at: None,
                updated_at: ts,
                claimed_by: None,
                claimed_at: None,
                review_due_at: None,
                authority_round: 0,
                row_version: -1,
                access_number: None,
            },
            RowWrite::Insert,
        ),
    };
    let step = order.row_version;
    order.subject_id = Some(subject.subject().id.clone());
    order.state = to;
    order.versions += 1;
    order.submitted_at = Some(ts);
    order.updated_at = ts;
    order.cancel_type = None;
    order.claimed_by = None;
    order.claimed_at = None;
    order.access_number = numbers.map(|(_, service_number)| service_number);
    let due = env.calendar.add_working_days(beijing_date(now), env.policy.platform_review_sla_days);
    order.review_due_at = Some(end_of_beijing_day(due));
    if effects.contains(&Effect::ClearAuditData) {
        order.audit_data.clear();
    }
    let policy = env.policy;
    let claim = quota_claim(policy, now);
    Ok(Plan {
        action,
        from,
        to,
        effects,
        order,
        order_write,
        subject: Some(subject),
        cascade: Vec::new(),
        jobs: Vec::new(),
        claims: vec![claim],
        version: Some(payload),
        index: None,
        provider_result: None,
        reasons: None,
        reason_type: None,
        step,
        due: Some(due),
        review_sla_days: policy.platform_review_sla_days,
        rules_version: Some(read.rules.version()),
        empty_shell: None,
    })
}

/// Plan a change of the filed record (变更备案; REAL-WORLD.md §2): the same rules as an
/// application, then what a change may not do — move the subject to another province, turn
/// a subject into another (a new certificate is a new subject; an organisation never becomes
/// a person, a person becomes an organisation only by cancelling and filing anew on this
/// platform) — and a change must change something. The order stays filed with its numbers;
/// the change waits beside it in platform review. `filed`: the filed record's version.
pub fn plan_change(
    payload: &ApplyPayload,
    read: &ApplyFacts<'_>,
    filed: &ApplyPayload,
    env: &Env<'_>,
) -> Result<Plan, PlanError> {
    let facts = &read.facts;
    let Some(read_order) = facts.order else {
        state::transition(FilingState::NotFiled, Action::ApplyChange)?;
        return Err(refused(errcode::NOT_FILED_CANNOT_CHANGE, "小程序未备案，不能变更备案；请先申请备案"));
    };
    let from = read_order.state;
    let (to, effects) = state::transition(from, Action::ApplyChange)?;
    let ctx = ApplyContext {
        now: facts.now,
        dict: env.dict,
        policy: env.policy,
        mini_program: facts.mini_program,
        media: read.media,
        face_task: read.face_task,
        // The subject's limits count new services, not a change of a filed one.
        subject: None,
        applies_today: read.applies_today,
        rules: read.rules,
    };
    let (now, ts, mp) = (facts.now, facts.now.timestamp(), facts.mini_program);
    let mut payload = payload.clone();
    payload.icp_applets.base_info.appid = mp.appid.clone();
    payload.icp_applets.base_info.name = mp.name.clone();
    payload.icp_subject.base_info.record_number.clear();
    payload.icp_applets.base_info.record_number.clear();
    // What a change may not do is said first: no field fixes it.
    check_change(&payload, filed, env.dict)?;
    rules::check_apply(&payload, &ctx)?;
    // The change names the record it changes.
    payload.icp_subject.base_info.record_number =
        read_order.subject_record_number.clone().unwrap_or_default();
    payload.icp_applets.base_info.record_number =
        read_order.service_record_number.clone().unwrap_or_default();

    let mut order = read_order.clone();
    let step = order.row_version;
    order.state = to;
    order.versions += 1;
    order.submitted_at = Some(ts);
    order.updated_at = ts;
    order.claimed_by = None;
    order.claimed_at = None;
    let due = env.calendar.add_working_days(beijing_date(now), env.policy.platform_review_sla_days);
    order.review_due_at = Some(end_of_beijing_day(due));
    if effects.contains(&Effect::ClearAuditData) {
        order.audit_data.clear();
    }
    let policy = env.policy;
    Ok(Plan {
        action: Action::ApplyChange,
        from,
        to,
        effects,
        order,
        order_write: RowWrite::Update { expected_version: read_order.row_version },
        subject: None,
        cascade: Vec::new(),
        jobs: Vec::new(),
        claims: vec![quota_claim(policy, now)],
        version: Some(payload),
        index: None,
        provider_result: None,
        reasons: None,
        reason_type: None,
        step,
        due: Some(due),
        review_sla_days: policy.platform_review_sla_days,
        rules_version: Some(read.rules.version()),
        empty_shell: None,
    })
}

/// What a change may not do (see [`plan_change`]); both payloads without record numbers.
fn check_change(new: &ApplyPayload, filed: &ApplyPayload, dict: &Dictionaries) -> Result<(), PlanError> {
    let not_allowed = |msg: &str| Err(refused(errcode::CHANGE_NOT_ALLOWED, msg));
    let personal = dict.personal_subject_type_id();
    let (was, is) = (filed.icp_subject.base_info.subject_type, new.icp_subject.base_info.subject_type);
    if was != is {
        if personal.is_some() && is == personal {
            return not_allowed("单位主体不能变更为个人主体；如需以个人名义备案，请注销本备案后重新申请");
        }
        if personal.is_some() && was == personal {
            return not_allowed(
                "个人主体变更为单位主体须注销本备案后以单位重新申请（本平台暂不支持按省份办理主体性质变更）",
            );
        }
        return not_allowed("主体性质不能通过变更备案修改，请注销本备案后重新申请");
    }
    let (a, b) = (&filed.icp_subject.organize_info, &new.icp_subject.organize_info);
    if a.certificate_type != b.certificate_type
        || !a.certificate_number.trim().eq_ignore_ascii_case(b.certificate_number.trim())
    {
        return not_allowed("主体证件类型或号码变化视为新的主体（如新的统一社会信用代码），不能通过变更备案办理：请注销本备案后以新主体重新申请");
    }
    if filed.icp_subject.base_info.province != new.icp_subject.base_info.province {
        return not_allowed("变更备案不能变更主体所在省份，请注销本备案后在新省份重新申请");
    }
    // The record's numbers are the order's, not the applicant's (a record that was itself a
    // change holds them), and a new face verification alone changes nothing on the record.
    let unnumbered = |p: &ApplyPayload| {
        let mut p = p.clone();
        p.icp_subject.base_info.record_number.clear();
        p.icp_applets.base_info.record_number.clear();
        p.icp_subject.principal_info.verify_task_id.clear();
        p.icp_applets.principal_info.verify_task_id.clear();
        p
    };
    if unnumbered(new) == unnumbered(filed) {
        return Err(refused(
            errcode::NOTHING_CHANGED,
            "变更内容与已备案信息一致，无需变更；请修改需要变更的信息后再提交",
        ));
    }
    Ok(())
}

fn quota_claim(policy: &Policy, now: DateTime<Utc>) -> CounterClaim {
    CounterClaim {
        key: quota_key(policy, now),
        limit: i64::from(policy.daily_apply_quota),
        errcode: errcode::DAILY_QUOTA,
        errmsg: format!("今日备案申请提交次数已达上限，请于次日{:02}:00后再提交", policy.quota_reset_hour),
    }
}

/// The key of the day's apply quota counter (what [`plan_apply`] claims).
pub fn quota_key(policy: &Policy, now: DateTime<Utc>) -> String {
    format!("apply:{}", policy.quota_day(now))
}

impl Plan {
    /// The row version the order has once the plan is written.
    pub fn written_version(&self) -> i64 {
        self.step + 1
    }

    /// What people are told (站内信, SMS, e-mail, webhook), after the numbers are issued.
    pub fn notice(&self) -> Option<Notice> {
        let appid = &self.order.appid;
        let key = format!("notice:{appid}:{}:{}", self.action.name(), self.step + 1);
        let reasons = || {
            self.reasons
                .iter()
                .flatten()
                .map(|r| format!("· {}：{}（建议：{}）", r.key_name, r.error, r.suggest))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let n = |kind: &'static str, title: &str, body: String| {
            Some(Notice { kind, title: title.to_string(), body, key: key.clone() })
        };
        // A change's steps: the filed record stands throughout.
        if (self.from.change().is_some() || self.to.change().is_some())
            && self.action != Action::AccessRevoked
        {
            return self.change_notice(&key, &reasons());
        }
        if let Some(notice) = self.access_notice(&key, &reasons()) {
            return Some(notice);
        }
        match self.action {
            Action::ApplyChange | Action::ApplyAccess => None,
            Action::Apply => {
                let due = self.due?;
                Some(Notice {
                    kind: "apply_submitted",
                    title: "备案申请已提交，平台审核中".into(),
                    body: format!(
                        "平台将在{}个工作日内（{}前）完成初审；初审通过后，工信部会向负责人手机发送短信验证码。",
                        self.review_sla_days,
                        due.format("%Y年%m月%d日")
                    ),
                    key: format!("notice:{appid}:apply:{}", self.order.versions),
                })
            }
            Action::Withdraw => n("withdrawn", "备案申请已撤回", "你已撤回备案申请，可修改后重新提交。".into()),
            Action::PlatformApprove => n(
                "platform_approved",
                "平台初审通过，请完成短信核验",
                "工信部将向负责人手机发送短信验证码，请负责人在24小时内完成核验，逾期需重新提交。".into(),
            ),
            Action::PlatformReject => n(
                "platform_rejected",
                "平台审核驳回",
                format!("请按以下原因修改后重新提交：\n{}\n如仍不清楚如何修改，可提交工单咨询。", reasons()),
            ),
            Action::SmsVerified => {
                n("sms_verified", "短信核验已完成，管局审核中", "管局审核一般需要1至20个工作日，请耐心等待。".into())
            }
            Action::SmsTimeout => n(
                "sms_timeout",
                "短信核验超时",
                "负责人未在24小时内完成短信核验，订单已退回平台，平台将重新提交（会再次发送验证码）或驳回。".into(),
            ),
            Action::Resubmit => n(
                "resubmitted",
                "已重新提交管局，请完成短信核验",
                "新的短信验证码已发送，请负责人在24小时内完成核验。".into(),
            ),
            Action::AuthorityApprove => n(
                "filed",
                "备案已通过",
                format!("{}\n请在小程序页面底部展示备案号并链接至 https://beian.miit.gov.cn/。", self.numbers_text()),
            ),
            Action::AuthorityReject => n(
                "authority_rejected",
                "管局审核驳回",
                format!("管局退回了备案申请，请按以下原因修改后重新提交：\n{}", reasons()),
            ),
            Action::Cancel => n(
                "cancel_requested",
                "注销申请已提交",
                "工信部将向负责人发送短信，请在24小时内确认；未确认则注销不生效。".into(),
            ),
            Action::CancelConfirmed => n("cancelled", "备案已注销", "备案已注销，对应的备案号不再有效。".into()),
            Action::CancelAborted => {
                n("cancel_aborted", "注销未生效", "负责人未在24小时内确认注销，备案保持有效。".into())
            }
            Action::AccessRevoked => n(
                "access_revoked",
                "管局已取消本平台的备案接入",
                format!(
                    "管局取消了本平台对该小程序备案的接入，小程序在本平台不再视为已备案（备案信息仍保留在管局）。原因：\n{}\n如需继续在本平台提供服务，请重新申请备案。",
                    reasons()
                ),
            ),
        }
    }

    /// The order's numbers as a notice lists them.
    fn numbers_text(&self) -> String {
        format!(
            "主体备案号：{}\n服务备案号：{}",
            self.order.subject_record_number.as_deref().unwrap_or("-"),
            self.order.service_record_number.as_deref().unwrap_or("-")
        )
    }

    /// The notice of a step of a new access (新增接入) or of a 取消接入, where it differs from a
    /// new filing's or a cancellation's.
    fn access_notice(&self, key: &str, reasons: &str) -> Option<Notice> {
        let appid = &self.order.appid;
        let n = |kind: &'static str, title: &str, body: String| {
            Some(Notice { kind, title: title.to_string(), body, key: key.to_string() })
        };
        if self.order.cancel_type == Some(CancelType::Access) && self.from.is_canceling() {
            return match self.action {
                Action::CancelConfirmed => n(
                    "access_cancelled",
                    "已取消接入",
                    format!(
                        "本平台对该小程序备案的接入已取消：小程序在本平台不再视为已备案，不再展示备案号；工信部的备案记录仍保留。{}",
                        if self.empty_shell == Some(true) {
                            "该备案已没有任何接入服务商（空壳），管局可能注销空壳备案；如需继续使用，请尽快通过其他服务商接入或重新申请备案。"
                        } else {
                            ""
                        }
                    ),
                ),
                Action::CancelAborted => n(
                    "cancel_access_refused",
                    "取消接入未完成",
                    format!("管局未同意取消接入，备案保持有效。原因：\n{reasons}"),
                ),
                _ => None,
            };
        }
        if self.order.cancel_type == Some(CancelType::Access) && self.action == Action::Cancel {
            return n(
                "cancel_access_requested",
                "取消接入申请已提交",
                "取消接入已报送管局（无需短信核验），管局确认后小程序在本平台不再视为已备案。".into(),
            );
        }
        if self.order.access_number.is_none() || self.from.is_filed() {
            return None;
        }
        let number = self.order.access_number.as_deref().unwrap_or("-");
        match self.action {
            Action::ApplyAccess => {
                let due = self.due?;
                Some(Notice {
                    kind: "access_submitted",
                    title: "接入申请已提交，平台审核中".into(),
                    body: format!(
                        "服务备案号 {number} 的接入申请已提交。平台将在{}个工作日内（{}前）完成核验；通过后报送管局确认，负责人会收到工信部的短信验证码。",
                        self.review_sla_days,
                        due.format("%Y年%m月%d日")
                    ),
                    key: format!("notice:{appid}:apply_access:{}", self.order.versions),
                })
            }
            Action::AuthorityApprove => n(
                "access_filed",
                "新增接入已通过",
                format!("管局已确认接入，备案号不变：\n{}\n请在小程序页面底部展示备案号并链接至 https://beian.miit.gov.cn/。", self.numbers_text()),
            ),
            Action::AuthorityReject => n(
                "access_rejected",
                "新增接入被管局驳回",
                format!("管局未确认服务备案号 {number} 的接入，原因：\n{reasons}\n请核对备案号和主体信息后重新提交。"),
            ),
            _ => None,
        }
    }

    /// The notice of a step of a change (变更备案).
    fn change_notice(&self, key: &str, reasons: &str) -> Option<Notice> {
        let appid = &self.order.appid;
        let n = |kind: &'static str, title: &str, body: String| {
            Some(Notice { kind, title: title.to_string(), body, key: key.to_string() })
        };
        let kept = "已备案信息和备案号保持不变，小程序可正常使用。";
        match self.action {
            Action::ApplyChange => {
                let due = self.due?;
                Some(Notice {
                    kind: "change_submitted",
                    title: "变更备案已提交，平台审核中".into(),
                    body: format!(
                        "平台将在{}个工作日内（{}前）完成初审；初审通过后，工信部会向相关负责人手机发送短信验证码。变更完成前，{kept}",
                        self.review_sla_days,
                        due.format("%Y年%m月%d日")
                    ),
                    key: format!("notice:{appid}:apply_change:{}", self.order.versions),
                })
            }
            Action::Withdraw => n("change_withdrawn", "变更备案已撤回", kept.to_string()),
            Action::PlatformApprove => n(
                "change_platform_approved",
                "变更备案平台初审通过，请完成短信核验",
                "工信部将向相关负责人手机发送短信验证码，请在24小时内完成核验，逾期需重新提交。".into(),
            ),
            Action::PlatformReject => n(
                "change_platform_rejected",
                "变更备案平台审核驳回",
                format!("请按以下原因修改后重新提交变更，或撤回变更：\n{reasons}\n{kept}"),
            ),
            Action::SmsVerified => {
                n("change_sms_verified", "变更备案短信核验已完成，管局审核中", kept.to_string())
            }
            Action::SmsTimeout => n(
                "change_sms_timeout",
                "变更备案短信核验超时",
                format!("负责人未在24小时内完成短信核验，变更已退回平台。{kept}"),
            ),
            Action::Resubmit => n(
                "change_resubmitted",
                "变更备案已重新提交管局，请完成短信核验",
                "新的短信验证码已发送，请负责人在24小时内完成核验。".into(),
            ),
            Action::AuthorityApprove => n(
                "change_filed",
                "变更备案已通过",
                format!("备案信息已更新为变更后的内容，备案号不变：\n{}", self.numbers_text()),
            ),
            Action::AuthorityReject => n(
                "change_authority_rejected",
                "变更备案被管局驳回",
                format!(
                    "管局驳回了变更申请，原因：\n{reasons}\n可按原因修改后重新提交变更，或撤回变更。{kept}"
                ),
            ),
            _ => None,
        }
    }

    /// The audit events of the plan: the action on the order, then one per cascaded order.
    pub fn audit(&self) -> Vec<AuditRecord> {
        let appid = &self.order.appid;
        let detail = if matches!(self.action, Action::Apply | Action::ApplyChange | Action::ApplyAccess) {
            json!({
                "from": self.from.status_code(),
                "to": self.to.status_code(),
                "version": self.order.versions,
                "subject": self.order.subject_id,
                "rules_version": self.rules_version,
                "access_number": self.order.access_number.as_ref().filter(|_| self.action == Action::ApplyAccess),
            })
        } else {
            let effect_names: Vec<String> = self.effects.iter().map(|e| format!("{e:?}")).collect();
            json!({
                "from": self.from.status_code(),
                "to": self.to.status_code(),
                "sms_verify_status": self.to.sms_verify_status().map(SmsVerifyStatus::code),
                "effects": effect_names,
                // A reason's error and suggestion are free text a reviewer typed (they may
                // quote the application): only the fields they name go into the audit trail
                // (the dashboard counts rejections per field).
                "audit_data": self.reasons.as_ref().map(|items| {
                    items.iter().map(|i| json!({ "key_name": i.key_name })).collect::<Vec<_>>()
                }),
                "cancel_type": self.cancel_type_asked().map(CancelType::code),
                "reason_type": self.reason_type,
                "service_record_number": self.order.service_record_number,
                "empty_shell": self.empty_shell,
            })
        };
        let mut out = vec![AuditRecord {
            entity: AuditEntity::Filing,
            entity_id: appid.clone(),
            action: AuditAction::Transition(self.action),
            detail,
        }];
        out.extend(self.cascade.iter().map(|other| AuditRecord {
            entity: AuditEntity::Filing,
            entity_id: other.appid.clone(),
            action: AuditAction::Transition(Action::CancelConfirmed),
            detail: json!({ "via_subject_cancel_of": appid }),
        }));
        out
    }

    /// The cancel type this request asked for (only a cancellation request names one).
    fn cancel_type_asked(&self) -> Option<CancelType> {
        (self.action == Action::Cancel).then_some(self.order.cancel_type).flatten()
    }

    /// One line per part of the plan: the snapshot tests compare these.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{:?} -> {:?}", self.from, self.to)];
        if let Some(s) = &self.subject {
            let s = s.subject();
            parts.push(format!(
                "subject(in_progress={}, filed={}, seq={})",
                s.in_progress, s.filed_count, s.service_seq
            ));
        }
        if self.effects.contains(&Effect::IssueNumbers) {
            parts.push(format!(
                "numbers(subject={} service={})",
                self.order.subject_record_number.as_deref().unwrap_or("-"),
                self.order.service_record_number.as_deref().unwrap_or("-")
            ));
        }
        for j in &self.jobs {
            parts.push(format!("job({:?} {})", j.job, j.key));
        }
        for c in &self.claims {
            parts.push(format!("claim({} <= {})", c.key, c.limit));
        }
        if !self.cascade.is_empty() {
            let ids: Vec<&str> = self.cascade.iter().map(|o| o.appid.as_str()).collect();
            parts.push(format!("cascade({})", ids.join(",")));
        }
        if self.version.is_some() {
            parts.push("version".into());
        }
        if let Some(i) = self.index {
            parts.push(format!("index({i:?})"));
        }
        if let Some(p) = &self.provider_result {
            let extra: String = p.extra.iter().map(|(k, v, _)| format!(" {k}={v}")).collect();
            match p.event {
                APPLY_RESULT_EVENT => parts.push(format!("provider({} {})", p.beian_status, p.key)),
                event => parts.push(format!("provider({event} {}{extra} {})", p.beian_status, p.key)),
            }
        }
        if let Some(n) = self.notice() {
            parts.push(format!("notice({} {})", n.kind, n.key));
        }
        if let Some(due) =
            self.order.review_due_at.filter(|_| matches!(self.action, Action::Apply | Action::ApplyAccess))
        {
            parts.push(format!("due({due})"));
        }
        parts.join(" ")
    }
}
