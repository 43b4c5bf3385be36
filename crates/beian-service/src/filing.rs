//! The filing lifecycle: mini programs, face tasks, apply, and every later transition.

use crate::aggregates::{Filings, Materials};
use crate::jobs::{enqueue, JobSpec};
use crate::plans::OrderView;
use crate::{audit, random_id, Actor, Result, Service, ServiceError};
use beian_core::errcode;
use beian_core::model::AuditAction;
use beian_core::model::{AuditItem, CancelType, FaceStatus, FaceTask, FACE_TASK_TTL_SECS};
use beian_core::numbering::IssuedNumbers;
use beian_core::payload::ApplyPayload;
use beian_core::plan;
use beian_core::state::{self, Action, FilingState};
use beian_store::appends::Appends;
use serde::Serialize;

pub(crate) use crate::plans::record_version;

/// The face-verification notice (link) is valid 24 h; the finished task 3 days.
pub const FACE_NOTICE_TTL_SECS: i64 = 24 * 3600;

/// getIcpEntranceInfo's `info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntranceInfo {
    pub status: i64,
    pub is_canceling: bool,
    pub audit_data: Vec<AuditItem>,
    pub available: i64,
    pub sms_verify_status: i64,
    /// Why the entrance is closed (beian extension; absent when open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_reason: Option<String>,
    /// The change (变更备案) under way beside the filed record (beian extension; absent
    /// without one): `status` stays 6 while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeInfo>,
    /// The new access (新增接入) under way or rejected (beian extension; absent otherwise):
    /// `status` is that of a new application (2, 3, 4, 5) while the authority has not
    /// confirmed the existing number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessInfo>,
}

/// A new access as entrance info shows it: the existing service number it connects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessInfo {
    pub service_number: String,
}

/// A change under way, as entrance info shows it: its stage as the status codes of a new
/// application (2 平台审核中, 3 平台审核驳回, 4 管局审核中, 5 管局审核驳回), the SMS status of its
/// verification (0 outside 4) and its rejection reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeInfo {
    pub status: i64,
    pub sms_verify_status: i64,
    pub audit_data: Vec<AuditItem>,
}

impl EntranceInfo {
    /// The typed state behind WeChat's status integers (they are for the WeChat edge; pages
    /// and rules read this). `NotFiled` for a status the table does not know.
    pub fn state(&self) -> FilingState {
        match &self.change {
            Some(c) => FilingState::from_columns(self.status, c.sms_verify_status, false, c.status),
            None => FilingState::from_columns(self.status, self.sms_verify_status, self.is_canceling, 0),
        }
        .unwrap_or(FilingState::NotFiled)
    }
}

impl Service {
    // ---- face verification ---------------------------------------------------------------

    // ---- reads ---------------------------------------------------------------------------

    // ---- apply ---------------------------------------------------------------------------

    // ---- every other transition ----------------------------------------------------------

    /// Any action but apply: read, plan (`beian_core::plan::plan`), write the plan; re-run
    /// from fresh reads after a lost race.
    pub(crate) async fn act(
        &self,
        actor: &Actor,
        appid: &str,
        action: Action,
        change: Change,
    ) -> Result<OrderView> {
        crate::plans::retrying(action.name(), appid, || self.try_act(actor, appid, action, &change)).await
    }

    async fn try_act(
        &self,
        actor: &Actor,
        appid: &str,
        action: Action,
        change: &Change,
    ) -> Result<OrderView> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if let Some(row) = &change.inbound {
            if !tx.authority().record_event(row).await? {
                return Err(ServiceError::refused(errcode::CONFLICT, DUPLICATE_EVENT));
            }
        }
        let mp =
            tx.mini_programs().get(appid).await?.ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
        let order = tx.orders().get(appid).await?;
        let subject = match order.as_ref().and_then(|o| o.subject_id.as_deref()) {
            Some(id) => tx.subjects().get(id).await?,
            None => None,
        };
        let subject_orders = match (&order, &subject) {
            (Some(o), Some((s, _))) if plan::needs_subject_orders(action, o) => {
                tx.orders().of_subject(&s.id).await?
            }
            _ => Vec::new(),
        };
        let latest = match &order {
            Some(o) if plan::needs_latest_version(action, o) => {
                tx.orders().version(appid, o.versions).await?
            }
            _ => None,
        };
        let (policy, dict) = (self.policy(), self.dictionaries());
        let env = plan::Env { policy: &policy, dict: &dict, calendar: &self.calendar() };
        let facts = plan::Facts {
            latest: latest.as_ref(),
            now,
            mini_program: &mp,
            order: order.as_ref(),
            subject: subject.as_ref().map(|(s, v)| (s, *v)),
            subject_orders: &subject_orders,
        };
        let request = plan::Request {
            reasons: change.audit_data.as_deref(),
            cancel_type: change.cancel_type,
            reason_type: change.reason_type,
            expected_version: change.expected_version,
            reviewer: change.reviewer.as_deref(),
            numbers: change.numbers.as_ref(),
            empty_shell: change.empty_shell,
        };
        let mut plan = plan::plan(action, &request, &facts, &env)?;
        if let Some(n) = plan.order.service_record_number.as_deref().filter(|_| change.numbers.is_some()) {
            // A service number names one service: the authority never issues it twice.
            let holders = tx.public_index().exact("", n).await?;
            if let Some(other) = holders.iter().find(|f| f.appid != appid) {
                return Err(ServiceError::refused(
                    errcode::INVALID_ARGS,
                    format!("服务备案号“{n}”已属于小程序 {}，请核对管局核发的备案号", other.appid),
                ));
            }
        }
        let writer = crate::plans::Writer {
            actor,
            mini_program: &mp,
            email_channel: self.email_channel(),
            targets: None,
            defer_inserts: false,
        };
        let mut appends = Appends::default();
        let view = crate::plans::write_plan(&mut tx, &mut plan, &writer, &mut appends).await?;
        tx.insert_appends(&appends).await?;
        crate::plans::claim(&mut tx, &plan).await?;
        tx.commit().await?;
        Ok(view)
    }
}

impl Materials<'_> {
    /// createIcpVerifyTask: a face task for the mini program's admin, valid 3 days.
    pub async fn create_face_task(&self, actor: &Actor, appid: &str) -> Result<FaceTask> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        if tx.mini_programs().get(appid).await?.is_none() {
            return Err(ServiceError::code(errcode::UNKNOWN_APPID));
        }
        let task = FaceTask {
            task_id: random_id(16),
            appid: appid.to_string(),
            face_status: FaceStatus::Waiting,
            is_finish: false,
            created_at: now,
            expires_at: now + FACE_TASK_TTL_SECS,
        };
        tx.face_tasks().insert(&task).await?;
        // Delivered to the admin: 站内信 and an SMS with the link, valid 24 h.
        let link = format!("{}/face/{}", self.public_url(), task.task_id);
        let mp =
            tx.mini_programs().get(appid).await?.ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
        tx.messages()
            .insert(
                appid,
                "请完成备案人脸核身",
                &format!(
                "小程序备案需要管理员本人完成人脸核身。请在24小时内打开 {link} 完成核身；逾期需重新发起。"
            ),
                now,
            )
            .await?;
        let sms = JobSpec::Sms {
            phone: mp.admin.mobile.clone(),
            text: format!("【小程序备案】{}：请管理员在24小时内完成备案人脸核身 {link}", mp.name),
            event: "face_verification".into(),
            params: vec![("name".into(), mp.name.clone()), ("link".into(), link.clone())],
        };
        enqueue(&mut tx, &sms, Some(&format!("face_notice:{}", task.task_id)), now, now).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::FaceTask,
            &task.task_id,
            AuditAction::Create,
            serde_json::json!({ "appid": appid }),
        )
        .await?;
        tx.commit().await?;
        Ok(task)
    }

    /// queryIcpVerifyTask: only the mini program the task belongs to may read it.
    /// A pending verification session's result is pulled first (a provider that cannot
    /// answer now leaves the task as it was).
    pub async fn face_task(&self, appid: &str, task_id: &str) -> Result<FaceTask> {
        let task = {
            let mut tx = self.store.read().await?;
            match tx.face_tasks().get(task_id).await? {
                Some(t) if t.appid == appid => t,
                _ => return Err(ServiceError::code(errcode::FACE_TASK_NOT_FOUND)),
            }
        };
        Ok(self.refreshed_or_current(task).await)
    }

    /// Record the outcome of the admin's face verification.
    pub async fn finish_face_task(&self, actor: &Actor, task_id: &str, success: bool) -> Result<FaceTask> {
        self.finish_face_task_with(actor, task_id, success, None).await
    }

    /// Record the outcome, with the identity provider's verdict (kept on the task).
    pub(crate) async fn finish_face_task_with(
        &self,
        actor: &Actor,
        task_id: &str,
        success: bool,
        outcome: Option<&beian_ports::identity::Outcome>,
    ) -> Result<FaceTask> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let task = tx
            .face_tasks()
            .get(task_id)
            .await?
            .ok_or_else(|| ServiceError::code(errcode::FACE_TASK_NOT_FOUND))?;
        if task.expires_at <= now {
            return Err(ServiceError::refused(
                errcode::FACE_TASK_NOT_FOUND,
                "人脸核身任务已过期，请重新发起",
            ));
        }
        if task.is_finish && task.face_status == FaceStatus::Succeeded {
            return Ok(task);
        }
        let status = if success { FaceStatus::Succeeded } else { FaceStatus::Failed };
        tx.face_tasks().finish(task_id, status, now).await?;
        if let Some(o) = outcome {
            tx.face_tasks().record_outcome(task_id, o.status.as_str(), &o.raw_code, o.score).await?;
        }
        crate::providers::notify_providers(
            &mut tx,
            &task.appid,
            "notify_icpfiling_verify_result",
            vec![
                ("task_id".into(), task_id.to_string(), false),
                ("verify_appid".into(), task.appid.clone(), false),
                ("result".into(), status.code().to_string(), true),
            ],
            Some(&format!("face:{task_id}:{}", status.code())),
            now,
        )
        .await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::FaceTask,
            task_id,
            AuditAction::Finish,
            match outcome {
                Some(o) => serde_json::json!({
                    "face_status": status.code(),
                    "outcome": o.status.as_str(),
                    "raw_code": o.raw_code,
                    "score": o.score,
                }),
                None => serde_json::json!({ "face_status": status.code() }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(FaceTask { face_status: status, is_finish: true, ..task })
    }
}

impl Filings<'_> {
    /// getIcpEntranceInfo.
    pub async fn entrance_info(&self, appid: &str) -> Result<EntranceInfo> {
        let row = self
            .store
            .entrance_row(appid)
            .await?
            .ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
        let entrance = self.policy().entrance_of(&row.name, row.flags, self.now());
        let (status, is_canceling, audit_data, sms, change) = match row.order {
            Some((FilingState::Changing { stage }, audit_data)) => {
                let change = ChangeInfo {
                    status: stage.status_code(),
                    sms_verify_status: FilingState::Changing { stage }
                        .sms_verify_status()
                        .map(|s| s.code())
                        .unwrap_or(0),
                    audit_data,
                };
                (6, false, Vec::new(), 0, Some(change))
            }
            Some((state, audit_data)) => (
                match state {
                    FilingState::NotFiled => state::not_filed_code(row.flags),
                    s => s.status_code(),
                },
                state.is_canceling(),
                audit_data,
                state.sms_verify_status().map(|s| s.code()).unwrap_or(0),
                None,
            ),
            None => (state::not_filed_code(row.flags), false, Vec::new(), 0, None),
        };
        Ok(EntranceInfo {
            status,
            is_canceling,
            audit_data,
            available: i64::from(entrance.available),
            sms_verify_status: sms,
            unavailable_reason: entrance.closed.map(|(_, m)| m),
            change,
            access: row
                .access_number
                .filter(|_| matches!(status, 2..=5))
                .map(|service_number| AccessInfo { service_number }),
        })
    }

    /// The order of a mini program, if it ever applied.
    pub async fn order(&self, appid: &str) -> Result<Option<OrderView>> {
        let mut tx = self.store.read().await?;
        let Some(order) = tx.orders().get(appid).await? else { return Ok(None) };
        let status = match order.state {
            FilingState::NotFiled => {
                let mp = tx
                    .mini_programs()
                    .get(appid)
                    .await?
                    .ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
                state::not_filed_code(mp.flags)
            }
            s => s.status_code(),
        };
        Ok(Some(OrderView { order, status }))
    }

    /// What a reviewer compares the order's latest version with: the filed record for a
    /// change (变更备案), the previous submission otherwise (`None` for a first one).
    pub async fn baseline_version(
        &self,
        order: &beian_core::model::FilingOrder,
    ) -> Result<Option<ApplyPayload>> {
        let version = match order.state {
            FilingState::Changing { .. } => record_version(order),
            _ if order.versions > 1 => order.versions - 1,
            _ => return Ok(None),
        };
        self.submitted_version(&order.appid, version).await
    }

    /// A submitted version of the application (1-based), decrypted.
    pub async fn submitted_version(&self, appid: &str, version: u32) -> Result<Option<ApplyPayload>> {
        let mut tx = self.store.read().await?;
        Ok(tx.orders().version(appid, version).await?)
    }

    /// getOnlineIcpOrder: the filed application with its numbers (unmasked; edges mask).
    pub async fn online_order(&self, appid: &str) -> Result<ApplyPayload> {
        let mut tx = self.store.read().await?;
        let order = tx.orders().get(appid).await?;
        let Some(order) = order.filter(|o| o.state.is_filed()) else {
            return Err(ServiceError::code(errcode::NOT_FILED));
        };
        // The filed record: a change under way is not it until the authority approves it.
        let mut p = tx.orders().version(appid, record_version(&order)).await?.ok_or_else(|| {
            ServiceError::Internal(format!("filed order {appid} has no version {}", order.versions))
        })?;
        p.icp_subject.base_info.record_number = order.subject_record_number.clone().unwrap_or_default();
        p.icp_applets.base_info.record_number = order.service_record_number.clone().unwrap_or_default();
        Ok(p)
    }

    /// cancelApplyIcpFiling (撤回): only in platform review.
    pub async fn withdraw(&self, actor: &Actor, appid: &str) -> Result<OrderView> {
        self.act(actor, appid, Action::Withdraw, Change::default()).await
    }

    /// Platform reviewer approves: to the authority, SMS verification starts.
    pub async fn platform_approve(&self, actor: &Actor, appid: &str) -> Result<OrderView> {
        self.act(actor, appid, Action::PlatformApprove, Change::default()).await
    }

    /// Platform reviewer rejects with field-level reasons.
    pub async fn platform_reject(
        &self,
        actor: &Actor,
        appid: &str,
        reasons: Vec<AuditItem>,
    ) -> Result<OrderView> {
        require_reasons(&reasons)?;
        self.act(
            actor,
            appid,
            Action::PlatformReject,
            Change { audit_data: Some(reasons), ..Change::default() },
        )
        .await
    }

    pub async fn sms_verified(&self, actor: &Actor, appid: &str) -> Result<OrderView> {
        self.act(actor, appid, Action::SmsVerified, Change::default()).await
    }

    pub async fn sms_timeout(&self, actor: &Actor, appid: &str) -> Result<OrderView> {
        self.act(actor, appid, Action::SmsTimeout, Change::default()).await
    }

    /// After an SMS timeout the platform resubmits unchanged (a new SMS goes out).
    pub async fn resubmit(&self, actor: &Actor, appid: &str) -> Result<OrderView> {
        self.act(actor, appid, Action::Resubmit, Change::default()).await
    }

    /// The authority approved with `numbers` (checked against the subject; see
    /// [`beian_core::numbering`]): the filing is filed under them.
    pub async fn authority_approve(
        &self,
        actor: &Actor,
        appid: &str,
        numbers: IssuedNumbers,
    ) -> Result<OrderView> {
        self.act(
            actor,
            appid,
            Action::AuthorityApprove,
            Change { numbers: Some(numbers), ..Change::default() },
        )
        .await
    }

    pub async fn authority_reject(
        &self,
        actor: &Actor,
        appid: &str,
        reasons: Vec<AuditItem>,
    ) -> Result<OrderView> {
        require_reasons(&reasons)?;
        self.act(
            actor,
            appid,
            Action::AuthorityReject,
            Change { audit_data: Some(reasons), ..Change::default() },
        )
        .await
    }

    /// cancelIcpFiling (注销): `cancel_type` 1 subject, 2 service, 3 access.
    pub async fn cancel(
        &self,
        actor: &Actor,
        appid: &str,
        cancel_type: Option<u32>,
        reason_type: Option<u32>,
    ) -> Result<OrderView> {
        let ct = cancel_type.and_then(CancelType::from_code).ok_or_else(|| {
            ServiceError::refused(
                errcode::INVALID_ARGS,
                "cancel_type 须为 1（注销主体）、2（注销小程序）或 3（注销微信小程序）",
            )
        })?;
        if let Some(r) = reason_type {
            if !(1..=2).contains(&r) {
                return Err(ServiceError::refused(
                    errcode::INVALID_ARGS,
                    "reason_type 须为 1（不再运营）或 2（主体信息变更）",
                ));
            }
        }
        self.act(
            actor,
            appid,
            Action::Cancel,
            Change { cancel_type: Some(ct), reason_type, ..Change::default() },
        )
        .await
    }

    pub async fn cancel_confirmed(&self, actor: &Actor, appid: &str) -> Result<OrderView> {
        self.act(actor, appid, Action::CancelConfirmed, Change::default()).await
    }

    pub async fn cancel_aborted(&self, actor: &Actor, appid: &str) -> Result<OrderView> {
        self.act(actor, appid, Action::CancelAborted, Change::default()).await
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Change {
    pub audit_data: Option<Vec<AuditItem>>,
    pub cancel_type: Option<CancelType>,
    pub reason_type: Option<u32>,
    /// Refuse with a conflict unless the order is still at this row version.
    pub expected_version: Option<i64>,
    /// The reviewer acting: refused if another reviewer holds the claim.
    pub reviewer: Option<String>,
    /// The authority event this action applies, recorded in the same transaction (once per
    /// event id: a second delivery is refused before anything is read).
    pub inbound: Option<beian_store::authority::AuthorityEventRow>,
    /// The numbers the authority issued (an approval).
    pub numbers: Option<IssuedNumbers>,
    /// A confirmed 取消接入 left the record without access (空壳).
    pub empty_shell: Option<bool>,
}

/// The refusal of an authority event whose id was already recorded.
pub(crate) const DUPLICATE_EVENT: &str = "该事件已处理";

pub(crate) fn require_reasons(reasons: &[AuditItem]) -> Result<()> {
    Ok(beian_core::bounds::reasons(reasons)?)
}
