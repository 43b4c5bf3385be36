//! The filing lifecycle: mini programs, face tasks, apply, and every later transition.

use crate::jobs::{enqueue, JobSpec};
use crate::{audit, random_id, Actor, Result, Service, ServiceError};
use beian_core::errcode;
use beian_core::ident::ResidentId;
use beian_core::model::{
    AuditItem, CancelType, FaceStatus, FaceTask, FilingOrder, MiniProgram, Person, Subject,
    FACE_TASK_TTL_SECS,
};
use beian_core::numbering;
use beian_core::payload::ApplyPayload;
use beian_core::state::{self, Action, Effect, FilingState, ReadinessFlags, SmsVerifyStatus};
use beian_core::time::beijing_date;
use beian_store::Tx;
use chrono::Datelike;
use serde::Serialize;

/// The face-verification notice (link) is valid 24 h; the finished task 3 days.
pub const FACE_NOTICE_TTL_SECS: i64 = 24 * 3600;

/// How many times a use case re-runs after losing an optimistic-concurrency race.
const RETRIES: usize = 8;

/// Input to register a mini program on the platform.
#[derive(Debug, Clone)]
pub struct MiniProgramInput {
    pub appid: String,
    pub name: String,
    pub admin_name: String,
    pub admin_id_number: String,
    pub admin_mobile: String,
    pub flags: ReadinessFlags,
    pub listed: bool,
    /// Developer account that owns it (console), may be empty.
    pub owner: String,
}

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
}

impl EntranceInfo {
    /// The typed state behind WeChat's status integers (they are for the WeChat edge; pages
    /// and rules read this). `NotFiled` for a status the table does not know.
    pub fn state(&self) -> FilingState {
        FilingState::from_columns(self.status, self.sms_verify_status, self.is_canceling)
            .unwrap_or(FilingState::NotFiled)
    }
}

/// A filing order with the derived WeChat status code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderView {
    pub order: FilingOrder,
    pub status: i64,
}

fn valid_appid(appid: &str) -> bool {
    (3..=32).contains(&appid.len()) && appid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Service {
    // ---- mini programs -------------------------------------------------------------------

    /// Register a mini program (platform side; the console and the demo use this).
    pub async fn register_mini_program(&self, actor: &Actor, input: MiniProgramInput) -> Result<MiniProgram> {
        if !valid_appid(&input.appid) {
            return Err(ServiceError::refused(
                errcode::INVALID_INPUT,
                "appid 只能包含字母、数字和下划线，长度3至32位",
            ));
        }
        if input.name.trim().is_empty() || input.admin_name.trim().is_empty() {
            return Err(ServiceError::refused(errcode::INVALID_INPUT, "请填写小程序名称和管理员姓名"));
        }
        beian_core::bounds::text("小程序名称", &input.name, beian_core::bounds::NAME_CHARS)?;
        beian_core::bounds::text("管理员姓名", &input.admin_name, beian_core::bounds::NAME_CHARS)?;
        let id = ResidentId::parse(input.admin_id_number.trim())
            .map_err(|e| ServiceError::refused(errcode::INVALID_INPUT, format!("管理员身份证号码：{e}")))?;
        if !beian_core::ident::is_mobile(input.admin_mobile.trim()) {
            return Err(ServiceError::refused(
                errcode::INVALID_INPUT,
                "管理员手机号码应为11位中国大陆手机号码",
            ));
        }
        let now = self.now().timestamp();
        let mp = MiniProgram {
            appid: input.appid.clone(),
            name: input.name.trim().to_string(),
            admin: Person {
                name: input.admin_name.trim().to_string(),
                id_number: id.as_str().to_string(),
                mobile: input.admin_mobile.trim().to_string(),
            },
            flags: input.flags,
            listed: input.listed,
            cleared: false,
            created_at: now,
        };
        let mut tx = self.store.begin().await?;
        if tx.get_mini_program(&mp.appid).await?.is_some() {
            return Err(ServiceError::refused(errcode::INVALID_INPUT, format!("小程序 {} 已存在", mp.appid)));
        }
        tx.insert_mini_program(&mp, &input.owner).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::MiniProgram,
            &mp.appid,
            "register",
            serde_json::json!({ "name": mp.name }),
        )
        .await?;
        tx.commit().await?;
        Ok(mp)
    }

    pub async fn mini_program(&self, appid: &str) -> Result<MiniProgram> {
        let mut tx = self.store.read().await?;
        tx.get_mini_program(appid).await?.ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))
    }

    /// Change a mini program's readiness flags and listing (platform side).
    pub async fn update_mini_program(
        &self,
        actor: &Actor,
        appid: &str,
        f: impl FnOnce(&mut MiniProgram),
    ) -> Result<MiniProgram> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let mut mp =
            tx.get_mini_program(appid).await?.ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
        f(&mut mp);
        tx.update_mini_program(&mp, now).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::MiniProgram,
            appid,
            "update",
            serde_json::json!({ "name": mp.name, "flags": mp.flags, "listed": mp.listed, "cleared": mp.cleared }),
        )
        .await?;
        tx.commit().await?;
        Ok(mp)
    }

    // ---- face verification ---------------------------------------------------------------

    /// createIcpVerifyTask: a face task for the mini program's admin, valid 3 days.
    pub async fn create_face_task(&self, actor: &Actor, appid: &str) -> Result<FaceTask> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        if tx.get_mini_program(appid).await?.is_none() {
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
        tx.insert_face_task(&task).await?;
        // Delivered to the admin: 站内信 and an SMS with the link, valid 24 h.
        let link = format!("{}/face/{}", self.public_url(), task.task_id);
        let mp =
            tx.get_mini_program(appid).await?.ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
        tx.insert_message(
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
        };
        enqueue(&mut tx, &sms, Some(&format!("face_notice:{}", task.task_id)), now, now).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::FaceTask,
            &task.task_id,
            "create",
            serde_json::json!({ "appid": appid }),
        )
        .await?;
        tx.commit().await?;
        Ok(task)
    }

    /// queryIcpVerifyTask: only the mini program the task belongs to may read it.
    pub async fn face_task(&self, appid: &str, task_id: &str) -> Result<FaceTask> {
        let mut tx = self.store.read().await?;
        match tx.get_face_task(task_id).await? {
            Some(t) if t.appid == appid => Ok(t),
            _ => Err(ServiceError::code(errcode::FACE_TASK_NOT_FOUND)),
        }
    }

    /// Record the outcome of the admin's face verification.
    pub async fn finish_face_task(&self, actor: &Actor, task_id: &str, success: bool) -> Result<FaceTask> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let task = tx
            .get_face_task(task_id)
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
        tx.finish_face_task(task_id, status, now).await?;
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
            "finish",
            serde_json::json!({ "face_status": status.code() }),
        )
        .await?;
        tx.commit().await?;
        Ok(FaceTask { face_status: status, is_finish: true, ..task })
    }

    // ---- reads ---------------------------------------------------------------------------

    /// getIcpEntranceInfo.
    pub async fn entrance_info(&self, appid: &str) -> Result<EntranceInfo> {
        let row = self
            .store
            .entrance_row(appid)
            .await?
            .ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
        let entrance = self.policy().entrance_of(&row.name, row.flags, self.now());
        let (status, is_canceling, audit_data, sms) = match row.order {
            Some((state, audit_data)) => (
                match state {
                    FilingState::NotFiled => state::not_filed_code(row.flags),
                    s => s.status_code(),
                },
                state.is_canceling(),
                audit_data,
                state.sms_verify_status().map(|s| s.code()).unwrap_or(0),
            ),
            None => (state::not_filed_code(row.flags), false, Vec::new(), 0),
        };
        Ok(EntranceInfo {
            status,
            is_canceling,
            audit_data,
            available: i64::from(entrance.available),
            sms_verify_status: sms,
            unavailable_reason: entrance.closed.map(|(_, m)| m),
        })
    }

    /// The order of a mini program, if it ever applied.
    pub async fn order(&self, appid: &str) -> Result<Option<OrderView>> {
        let mut tx = self.store.read().await?;
        let Some(order) = tx.get_order(appid).await? else { return Ok(None) };
        let status = match order.state {
            FilingState::NotFiled => {
                let mp = tx
                    .get_mini_program(appid)
                    .await?
                    .ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
                state::not_filed_code(mp.flags)
            }
            s => s.status_code(),
        };
        Ok(Some(OrderView { order, status }))
    }

    /// A submitted version of the application (1-based), decrypted.
    pub async fn submitted_version(&self, appid: &str, version: u32) -> Result<Option<ApplyPayload>> {
        let mut tx = self.store.read().await?;
        Ok(tx.get_version(appid, version).await?)
    }

    /// getOnlineIcpOrder: the filed application with its numbers (unmasked; edges mask).
    pub async fn online_order(&self, appid: &str) -> Result<ApplyPayload> {
        let mut tx = self.store.read().await?;
        let order = tx.get_order(appid).await?;
        let Some(order) = order.filter(|o| matches!(o.state, FilingState::Filed { .. })) else {
            return Err(ServiceError::code(errcode::NOT_FILED));
        };
        let mut p = tx.get_version(appid, order.versions).await?.ok_or_else(|| {
            ServiceError::Internal(format!("filed order {appid} has no version {}", order.versions))
        })?;
        p.icp_subject.base_info.record_number = order.subject_record_number.clone().unwrap_or_default();
        p.icp_applets.base_info.record_number = order.service_record_number.clone().unwrap_or_default();
        Ok(p)
    }

    // ---- apply ---------------------------------------------------------------------------

    // ---- every other transition ----------------------------------------------------------

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

    /// The authority approves: numbers are issued.
    pub async fn authority_approve(&self, actor: &Actor, appid: &str) -> Result<OrderView> {
        self.act(actor, appid, Action::AuthorityApprove, Change::default()).await
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

    pub(crate) async fn act(
        &self,
        actor: &Actor,
        appid: &str,
        action: Action,
        change: Change,
    ) -> Result<OrderView> {
        for _ in 0..RETRIES {
            match self.try_act(actor, appid, action, &change).await {
                Err(ServiceError::Conflict(m)) => {
                    tracing::debug!(appid, "{} lost a race, retrying: {m}", action.name())
                }
                other => return other,
            }
        }
        Err(ServiceError::code(errcode::CONFLICT))
    }

    async fn try_act(
        &self,
        actor: &Actor,
        appid: &str,
        action: Action,
        change: &Change,
    ) -> Result<OrderView> {
        let now = self.now();
        let ts = now.timestamp();
        let mut tx = self.store.begin().await?;
        let mp =
            tx.get_mini_program(appid).await?.ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
        let Some(mut order) = tx.get_order(appid).await? else {
            // No order at all: the transition function answers as for "not filed".
            state::transition(FilingState::NotFiled, action)?;
            return Err(ServiceError::code(errcode::WRONG_REVIEW_STATE));
        };
        if change.expected_version.is_some_and(|v| v != order.row_version) {
            return Err(ServiceError::refused(errcode::CONFLICT, "备案订单已被其他操作修改，请刷新后重试"));
        }
        if let (Some(me), Some(holder)) = (&change.reviewer, &order.claimed_by) {
            if me != holder {
                return Err(ServiceError::refused(
                    errcode::CONFLICT,
                    format!("该订单已被审核员 {holder} 认领，请先由其释放"),
                ));
            }
        }
        let from = order.state;
        let (to, effects) = state::transition(from, action)?;
        let expected_version = order.row_version;
        order.state = to;
        order.updated_at = ts;
        if let Some(reasons) = &change.audit_data {
            order.audit_data = reasons.clone();
        }
        if effects.contains(&Effect::ClearAuditData) {
            order.audit_data.clear();
        }
        if let Some(ct) = change.cancel_type {
            order.cancel_type = Some(ct);
        }

        let mut cascade: Vec<FilingOrder> = Vec::new();
        if let Some(subject_id) = order.subject_id.clone() {
            let (mut subject, version) = tx.get_subject(&subject_id).await?.ok_or_else(|| {
                ServiceError::Internal(format!("order {appid} names missing subject {subject_id}"))
            })?;
            let before = subject.clone();
            match (from.in_progress(), to.in_progress()) {
                (true, false) => subject.in_progress = subject.in_progress.saturating_sub(1),
                (false, true) => subject.in_progress += 1,
                _ => {}
            }
            if effects.contains(&Effect::IssueNumbers) {
                self.issue_numbers(&mut tx, &mut subject, &mut order, now).await?;
            }
            if effects.contains(&Effect::RevokeNumbers) {
                subject.filed_count = subject.filed_count.saturating_sub(1);
                order.service_record_number = None;
                if order.cancel_type == Some(CancelType::Subject) {
                    // 注销主体: every other filed service of the subject goes with it.
                    for mut other in tx.orders_of_subject(&subject_id).await? {
                        if other.appid == appid || !matches!(other.state, FilingState::Filed { .. }) {
                            continue;
                        }
                        other.state = FilingState::NotFiled;
                        other.service_record_number = None;
                        other.subject_record_number = None;
                        other.cancel_type = Some(CancelType::Subject);
                        other.updated_at = ts;
                        subject.filed_count = subject.filed_count.saturating_sub(1);
                        cascade.push(other);
                    }
                    subject.record_number = None;
                    order.subject_record_number = None;
                }
            }
            if subject != before {
                tx.update_subject(&subject, version, ts).await?;
            }
        }
        if effects.contains(&Effect::StartSmsVerification) {
            order.authority_round += 1;
            let spec = JobSpec::AuthoritySubmit { appid: appid.to_string(), round: order.authority_round };
            enqueue(
                &mut tx,
                &spec,
                Some(&format!("authority_submit:{appid}:{}", order.authority_round)),
                ts,
                ts,
            )
            .await?;
        }
        if effects.contains(&Effect::StartCancelConfirmation) {
            let spec = JobSpec::AuthorityCancel {
                appid: appid.to_string(),
                round: u32::try_from(expected_version + 1).unwrap_or(0),
            };
            enqueue(
                &mut tx,
                &spec,
                Some(&format!("authority_cancel:{appid}:{}", expected_version + 1)),
                ts,
                ts,
            )
            .await?;
        }
        if let Some((job, key, at)) = &change.then {
            enqueue(&mut tx, job, Some(key), *at, ts).await?;
        }
        if !matches!(to, FilingState::PlatformReview) {
            order.claimed_by = None;
            order.claimed_at = None;
        }
        tx.update_order(&order).await?;
        if let Some(notice) = notice_for(action, &order, change) {
            let email =
                tx.get_version(appid, order.versions).await?.map(|p| p.icp_applets.principal_info.email);
            crate::notify::notify(
                &mut tx,
                &mp,
                self.email_channel(),
                email.as_deref(),
                &notice,
                &format!("notice:{appid}:{}:{}", action.name(), expected_version + 1),
                ts,
            )
            .await?;
        }
        if effects.contains(&Effect::NotifyResult) && matches!(to.status_code(), 3 | 5 | 6) {
            crate::providers::notify_providers(
                &mut tx,
                appid,
                "notify_apply_icpfiling_result",
                vec![
                    ("authorizer_appid".into(), appid.to_string(), false),
                    ("beian_status".into(), to.status_code().to_string(), true),
                ],
                Some(&format!("apply_result:{appid}:{}", expected_version + 1)),
                ts,
            )
            .await?;
        }
        for other in &cascade {
            tx.update_order(other).await?;
            audit(
                &mut tx,
                ts,
                actor,
                beian_core::model::AuditEntity::Filing,
                &other.appid,
                "cancel_confirmed",
                serde_json::json!({ "via_subject_cancel_of": appid }),
            )
            .await?;
        }
        // The public query index follows the numbers (in the same transaction).
        if effects.contains(&Effect::IssueNumbers) {
            crate::query::index_filed(&mut tx, appid, ts).await?;
        }
        if effects.contains(&Effect::RevokeNumbers) {
            crate::query::unindex(&mut tx, appid).await?;
        }
        let effect_names: Vec<String> = effects.iter().map(|e| format!("{e:?}")).collect();
        audit(
            &mut tx,
            ts,
            actor,
            beian_core::model::AuditEntity::Filing,
            appid,
            action.name(),
            serde_json::json!({
                "from": from.status_code(),
                "to": to.status_code(),
                "sms_verify_status": to.sms_verify_status().map(SmsVerifyStatus::code),
                "effects": effect_names,
                // A reason's error and suggestion are free text a reviewer typed (they may
                // quote the application): only the fields they name go into the audit trail
                // (the dashboard counts rejections per field).
                "audit_data": change.audit_data.as_ref().map(|items| {
                    items.iter().map(|i| serde_json::json!({ "key_name": i.key_name })).collect::<Vec<_>>()
                }),
                "cancel_type": change.cancel_type.map(CancelType::code),
                "reason_type": change.reason_type,
                "service_record_number": order.service_record_number,
            }),
        )
        .await?;
        tx.commit().await?;
        order.row_version = expected_version + 1;
        let status = match order.state {
            FilingState::NotFiled => state::not_filed_code(mp.flags),
            s => s.status_code(),
        };
        Ok(OrderView { order, status })
    }

    /// Subject number on the subject's first filing, then the next service number.
    async fn issue_numbers(
        &self,
        tx: &mut Tx,
        subject: &mut Subject,
        order: &mut FilingOrder,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let dict = self.dictionaries();
        let province: u32 = subject.province.parse().unwrap_or(0);
        let abbr = dict.province_abbr(province).ok_or_else(|| {
            ServiceError::Internal(format!("no province abbreviation for {}", subject.province))
        })?;
        if subject.record_number.is_none() {
            let year = beijing_date(now).year();
            let seq = tx.counter_add(&format!("subject_seq:{abbr}:{year}"), 1).await?;
            subject.record_number =
                Some(numbering::subject_number(abbr, year, u32::try_from(seq).unwrap_or(u32::MAX)));
        }
        subject.service_seq += 1;
        subject.filed_count += 1;
        subject.ever_filed = true;
        let subject_number = subject.record_number.clone().unwrap_or_default();
        order.service_record_number = Some(numbering::service_number(&subject_number, subject.service_seq));
        order.subject_record_number = Some(subject_number);
        Ok(())
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
    /// A follow-up job written in the same transaction: (job, dedupe key, run at).
    pub then: Option<(JobSpec, String, i64)>,
}

pub(crate) fn require_reasons(reasons: &[AuditItem]) -> Result<()> {
    Ok(beian_core::bounds::reasons(reasons)?)
}

pub(crate) fn beian_date(now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    beijing_date(now)
}

pub(crate) use beian_core::time::end_of_beijing_day;

/// What people are told after an action (站内信, SMS, e-mail, webhook).
fn notice_for(action: Action, order: &FilingOrder, change: &Change) -> Option<crate::notify::Notice> {
    use crate::notify::Notice;
    let reasons = || {
        change
            .audit_data
            .iter()
            .flatten()
            .map(|r| format!("· {}：{}（建议：{}）", r.key_name, r.error, r.suggest))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let n =
        |kind: &'static str, title: &str, body: String| Some(Notice { kind, title: title.to_string(), body });
    match action {
        Action::Apply => None, // told by apply itself, with its due date
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
        Action::SmsVerified => n("sms_verified", "短信核验已完成，管局审核中", "管局审核一般需要1至20个工作日，请耐心等待。".into()),
        Action::SmsTimeout => n(
            "sms_timeout",
            "短信核验超时",
            "负责人未在24小时内完成短信核验，订单已退回平台，平台将重新提交（会再次发送验证码）或驳回。".into(),
        ),
        Action::Resubmit => n("resubmitted", "已重新提交管局，请完成短信核验", "新的短信验证码已发送，请负责人在24小时内完成核验。".into()),
        Action::AuthorityApprove => n(
            "filed",
            "备案已通过",
            format!(
                "主体备案号：{}\n服务备案号：{}\n请在小程序页面底部展示备案号并链接至 https://beian.miit.gov.cn/。",
                order.subject_record_number.as_deref().unwrap_or("-"),
                order.service_record_number.as_deref().unwrap_or("-")
            ),
        ),
        Action::AuthorityReject => n(
            "authority_rejected",
            "管局审核驳回",
            format!("管局退回了备案申请，请按以下原因修改后重新提交：\n{}", reasons()),
        ),
        Action::Cancel => n("cancel_requested", "注销申请已提交", "工信部将向负责人发送短信，请在24小时内确认；未确认则注销不生效。".into()),
        Action::CancelConfirmed => n("cancelled", "备案已注销", "备案已注销，对应的备案号不再有效。".into()),
        Action::CancelAborted => n("cancel_aborted", "注销未生效", "负责人未在24小时内确认注销，备案保持有效。".into()),
    }
}
