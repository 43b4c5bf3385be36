//! Platform review (初审): staff and their API tokens, the review queue with SLA due dates,
//! claims, decisions with field-level reasons from an editable catalogue.

use crate::aggregates::{Filings, Review};
use crate::filing::Change;
use crate::{audit, token_hash, Actor, OrderView, Result, ServiceError};
use beian_core::errcode;
use beian_core::model::AuditAction;
use beian_core::model::AuditItem;
use beian_core::platform::{Reason, Role, Staff};
use beian_core::state::{Action, FilingState, SmsVerifyStatus};
use serde::{Deserialize, Serialize};

/// One row of the review queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub appid: String,
    pub name: String,
    pub status: i64,
    pub sms_verify_status: i64,
    pub province: String,
    pub subject_type: u32,
    pub submitted_at: Option<i64>,
    pub review_due_at: Option<i64>,
    pub overdue: bool,
    pub claimed_by: Option<String>,
    pub version: i64,
    /// A change of the filed record (变更备案), not a new application.
    pub change: bool,
    /// A new access (新增接入) of a record filed elsewhere: the service number it connects.
    pub access_number: Option<String>,
}

/// A rejection reason as a reviewer gives it: from the catalogue, or written freely.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RejectReason {
    pub reason_id: Option<i64>,
    #[serde(default)]
    pub key_name: String,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub suggest: String,
}

const DEFAULT_REASONS: &[(&str, &str, &str)] = &[
    (
        "小程序备注",
        "备注未描述小程序的实际服务内容",
        "请具体描述小程序提供的主要服务，20至200字，不要只写名称或口号",
    ),
    (
        "主体证件照片",
        "证件照片不清晰或不完整",
        "请上传证件原件的彩色照片或扫描件，四角完整、文字清晰，不要黑白复印件",
    ),
    (
        "负责人证件照片",
        "身份证正反面与填写信息不一致",
        "请核对姓名、证件号码后重新上传本人身份证人像面和国徽面",
    ),
    (
        "通讯地址",
        "通讯地址不详细或与证件住所不符",
        "请填写到门牌号的实际通讯地址，开发区请填写实际所属的行政区",
    ),
    ("前置审批", "涉及前置审批但未提供审批文件", "请选择对应的前置审批类型，填写审批号并上传审批文件"),
    (
        "授权书",
        "授权书缺少法定代表人签字或公章",
        "请下载授权书模板，由法定代表人签字并加盖公章后上传，落款日期为提交前1个月内",
    ),
];

impl Review<'_> {
    /// Create a reviewer or operator; the API token is returned once and stored hashed.
    pub async fn create_staff(&self, actor: &Actor, name: &str, role: Role) -> Result<(Staff, String)> {
        if name.trim().is_empty() {
            return Err(ServiceError::refused(errcode::INVALID_INPUT, "请填写姓名"));
        }
        beian_core::bounds::text("姓名", name, beian_core::bounds::NAME_CHARS)?;
        let now = self.now().timestamp();
        let staff = Staff {
            id: format!("{}-{}", role.as_str(), crate::random_id(4)),
            name: name.trim().into(),
            role,
            active: true,
        };
        let token = format!("staff_{}", crate::random_id(24));
        let mut tx = self.store.begin().await?;
        tx.staff().insert(&staff, &token_hash(&token), now).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Staff,
            &staff.id,
            AuditAction::Create,
            // The staff id names the person; the audit trail keeps no names.
            serde_json::json!({ "role": role.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok((staff, token))
    }

    /// The staff member behind a bearer token.
    pub async fn staff_for_token(&self, token: &str) -> Result<Staff> {
        let mut tx = self.store.read().await?;
        match tx.staff().by_token(&token_hash(token.trim())).await? {
            Some(s) if s.active => Ok(s),
            _ => Err(ServiceError::refused(
                errcode::INVALID_CREDENTIAL,
                "令牌无效，请使用审核员或运营人员的 API 令牌",
            )),
        }
    }

    pub async fn staff(&self) -> Result<Vec<Staff>> {
        let mut tx = self.store.read().await?;
        Ok(tx.staff().list().await?)
    }

    /// Orders waiting for the platform: in review (2), or back from an SMS timeout (4/3).
    /// Overdue first, then by due date.
    pub async fn review_queue(&self, limit: i64) -> Result<Vec<QueueItem>> {
        let now = self.now().timestamp();
        let mut tx = self.store.read().await?;
        let orders = tx.orders().in_status(&[2, 4], limit.saturating_mul(4)).await?;
        let mut items = Vec::new();
        for o in orders {
            // A change waits for the platform in the same stages as a new application.
            let waiting_platform =
                o.state.in_platform_review() || o.state.is_authority_review(SmsVerifyStatus::TimedOut);
            if !waiting_platform {
                continue;
            }
            let name = tx.mini_programs().get(&o.appid).await?.map(|m| m.name).unwrap_or_default();
            let subject = match &o.subject_id {
                Some(id) => tx.subjects().get(id).await?.map(|(s, _)| s),
                None => None,
            };
            items.push(QueueItem {
                appid: o.appid.clone(),
                name,
                // A change shows its stage's code (2 or 4), like a new application.
                status: o.state.change().map(|c| c.status_code()).unwrap_or_else(|| o.state.status_code()),
                sms_verify_status: o.state.sms_verify_status().map(|s| s.code()).unwrap_or(0),
                province: subject.as_ref().map(|s| s.province.clone()).unwrap_or_default(),
                subject_type: subject.as_ref().map(|s| s.subject_type).unwrap_or(0),
                submitted_at: o.submitted_at,
                review_due_at: o.review_due_at,
                overdue: o.state.in_platform_review() && o.review_due_at.is_some_and(|d| now > d),
                claimed_by: o.claimed_by.clone(),
                version: o.row_version,
                change: o.state.change().is_some(),
                access_number: o.access_number.clone(),
            });
        }
        items.sort_by_key(|i| (!i.overdue, i.review_due_at.unwrap_or(i64::MAX)));
        items.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(items)
    }

    /// Claim (or with `release`, give back) an order in platform review.
    pub async fn claim(&self, staff: &Staff, appid: &str, release: bool) -> Result<OrderView> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let mut order =
            tx.orders().get(appid).await?.ok_or_else(|| ServiceError::code(errcode::WRONG_REVIEW_STATE))?;
        if !matches!(
            order.state,
            FilingState::PlatformReview | FilingState::AuthorityReview { sms: SmsVerifyStatus::TimedOut }
        ) {
            return Err(ServiceError::refused(errcode::WRONG_REVIEW_STATE, "该订单不在平台审核中"));
        }
        match (&order.claimed_by, release) {
            (Some(h), _) if h != &staff.id => {
                let holder = tx.staff().list().await?.into_iter().find(|m| &m.id == h).map(|m| m.name);
                let holder = holder.unwrap_or_else(|| h.clone());
                return Err(ServiceError::refused(
                    errcode::CONFLICT,
                    format!("该订单已被审核员 {holder} 认领"),
                ));
            }
            (_, true) => {
                order.claimed_by = None;
                order.claimed_at = None;
            }
            (_, false) => {
                order.claimed_by = Some(staff.id.clone());
                order.claimed_at = Some(now);
            }
        }
        tx.orders().update(&order).await?;
        let action = if release { AuditAction::Release } else { AuditAction::Claim };
        audit(
            &mut tx,
            now,
            &Actor::new("reviewer", &staff.id),
            beian_core::model::AuditEntity::Filing,
            appid,
            action,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        order.row_version += 1;
        Ok(OrderView { status: order.state.status_code(), order })
    }

    /// Approve to the authority (初审通过).
    pub async fn review_approve(
        &self,
        staff: &Staff,
        appid: &str,
        version: Option<i64>,
    ) -> Result<OrderView> {
        let change =
            Change { expected_version: version, reviewer: Some(staff.id.clone()), ..Change::default() };
        let actor = Actor::new("reviewer", &staff.id);
        let order = self
            .filings()
            .order(appid)
            .await?
            .ok_or_else(|| ServiceError::code(errcode::WRONG_REVIEW_STATE))?;
        // Back from an SMS timeout, "approve" means resubmit to the authority with a new SMS.
        let action = match order.order.state {
            FilingState::AuthorityReview { sms: SmsVerifyStatus::TimedOut } => Action::Resubmit,
            _ => Action::PlatformApprove,
        };
        match self.act(&actor, appid, action, change).await {
            Err(e) => Err(self.claimer_by_name(e).await),
            ok => ok,
        }
    }

    /// A refusal that names the reviewer holding the claim by id (the planner knows ids
    /// only) names them as people know them.
    async fn claimer_by_name(&self, e: ServiceError) -> ServiceError {
        match e {
            ServiceError::Refused { errcode: code, errmsg } if code == errcode::CONFLICT => {
                let mut msg = errmsg;
                // Display only: if the names cannot be read, the ids stay.
                for m in self.staff().await.unwrap_or_default() {
                    msg = msg.replace(&format!("审核员 {} ", m.id), &format!("审核员 {} ", m.name));
                }
                ServiceError::Refused { errcode: code, errmsg: msg }
            }
            other => other,
        }
    }

    /// Rejection reasons as filed: each picked from the catalogue (its text, unless the
    /// reason overrides a part) or written out; refused when one names a reason that does
    /// not exist or is off, or when they are empty or too long. The review page's reject and
    /// the manual desk's record of the authority's rejection both use it.
    pub async fn reasons_from_catalogue(&self, reasons: Vec<RejectReason>) -> Result<Vec<AuditItem>> {
        beian_core::bounds::items("驳回原因", reasons.len(), beian_core::bounds::REASONS)?;
        let catalogue = self.reasons().await?;
        let mut items = Vec::new();
        for r in reasons {
            match r.reason_id {
                Some(id) => {
                    let c = catalogue.iter().find(|c| c.id == id && c.active).ok_or_else(|| {
                        ServiceError::refused(errcode::INVALID_INPUT, format!("驳回原因 {id} 不存在或已停用"))
                    })?;
                    items.push(AuditItem {
                        key_name: if r.key_name.trim().is_empty() {
                            c.key_name.clone()
                        } else {
                            r.key_name.trim().into()
                        },
                        error: if r.error.trim().is_empty() {
                            c.error.clone()
                        } else {
                            r.error.trim().into()
                        },
                        suggest: if r.suggest.trim().is_empty() {
                            c.suggest.clone()
                        } else {
                            r.suggest.trim().into()
                        },
                    });
                }
                None => items.push(AuditItem {
                    key_name: r.key_name.trim().into(),
                    error: r.error.trim().into(),
                    suggest: r.suggest.trim().into(),
                }),
            }
        }
        crate::filing::require_reasons(&items)?;
        Ok(items)
    }

    /// Reject with field-level reasons (catalogue ids or free text).
    pub async fn review_reject(
        &self,
        staff: &Staff,
        appid: &str,
        reasons: Vec<RejectReason>,
        version: Option<i64>,
    ) -> Result<OrderView> {
        let items = self.reasons_from_catalogue(reasons).await?;
        let change = Change {
            audit_data: Some(items),
            expected_version: version,
            reviewer: Some(staff.id.clone()),
            ..Change::default()
        };
        match self.act(&Actor::new("reviewer", &staff.id), appid, Action::PlatformReject, change).await {
            Err(e) => Err(self.claimer_by_name(e).await),
            ok => ok,
        }
    }

    /// The catalogue; seeded with common reasons the first time it is read empty.
    pub async fn reasons(&self) -> Result<Vec<Reason>> {
        let mut tx = self.store.read().await?;
        let list = tx.reasons().list().await?;
        drop(tx);
        if !list.is_empty() {
            return Ok(list);
        }
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        if tx.reasons().list().await?.is_empty() {
            for (k, e, s) in DEFAULT_REASONS {
                tx.reasons()
                    .insert(
                        &Reason {
                            id: 0,
                            key_name: (*k).into(),
                            error: (*e).into(),
                            suggest: (*s).into(),
                            active: true,
                        },
                        now,
                    )
                    .await?;
            }
        }
        let list = tx.reasons().list().await?;
        tx.commit().await?;
        Ok(list)
    }

    /// Add (id 0) or change a catalogue entry (operators).
    pub async fn save_reason(&self, actor: &Actor, r: &Reason) -> Result<i64> {
        if r.key_name.trim().is_empty() || r.error.trim().is_empty() {
            return Err(ServiceError::refused(
                errcode::INVALID_INPUT,
                "请填写字段名称（key_name）和驳回原因（error）",
            ));
        }
        crate::filing::require_reasons(&[beian_core::model::AuditItem {
            key_name: r.key_name.clone(),
            error: r.error.clone(),
            suggest: r.suggest.clone(),
        }])?;
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let id = if r.id == 0 {
            tx.reasons().insert(r, now).await?
        } else {
            if !tx.reasons().update(r, now).await? {
                return Err(ServiceError::refused(errcode::INVALID_INPUT, "驳回原因不存在"));
            }
            r.id
        };
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Reason,
            &id.to_string(),
            AuditAction::Save,
            serde_json::json!({ "key_name": r.key_name, "active": r.active }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }
}

/// Another filing of the same subject, for the review page.
#[derive(Debug, Clone, Serialize)]
pub struct SiblingFiling {
    pub appid: String,
    pub name: String,
    pub state: FilingState,
    pub service_record_number: Option<String>,
}

impl Filings<'_> {
    /// The subject's other filings (same certificate), so a reviewer sees the whole picture.
    pub async fn subject_filings(&self, appid: &str) -> Result<Vec<SiblingFiling>> {
        let mut tx = self.store.read().await?;
        let Some(order) = tx.orders().get(appid).await? else { return Ok(Vec::new()) };
        let Some(subject) = order.subject_id else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for o in tx.orders().of_subject(&subject).await? {
            if o.appid == appid {
                continue;
            }
            let name = tx.mini_programs().get(&o.appid).await?.map(|m| m.name).unwrap_or_default();
            out.push(SiblingFiling {
                appid: o.appid.clone(),
                name,
                state: o.state,
                service_record_number: o.service_record_number,
            });
        }
        Ok(out)
    }
}
