//! The manual desk, one implementation of `beian_ports::authority::AuthorityGateway`: how a
//! platform goes live before (or without) a programmatic link to the authority.
//!
//! [`AuthorityGateway::submit`] turns each [`Operation`] into a work item (one per appid, kind
//! and round — a repeated submission is the same item; the operation, which holds the
//! application's names, phones and ID numbers, is stored encrypted). Operators file the item
//! in the authority's own system by hand — as real access providers do: at least one large
//! cloud provider copies the 管局's statuses into its console by hand — and record each
//! outcome on the staff pages (`beian-admin` `desk`): SMS pending, verified or expired,
//! approved with the authority's numbers, rejected with reasons, refused, cancellation
//! confirmed or aborted. Each outcome is one [`AuthorityEvent`] to the platform's
//! [`AuthorityInbox`] under an event id derived from the item and the form
//! ([`event_id`]), so a double click or a resubmission is a duplicate, never a second event.
//! The desk sets no timers and texts nobody: the authority does, in its own name.
//!
//! It never imports the service: it keeps its own rows through `beian-store` (work items,
//! records, an audit event per record naming the operator) and reports only to the inbox.

use beian_core::model::{AuditAction, AuditEntity, AuditEvent};
/// What the desk's pages name of the contract (the staff pages depend on the desk, not on
/// the contracts crate).
pub use beian_ports::authority::{AuthorityEvent, Operation, Receipt, SmsPurpose};
use beian_ports::authority::{AuthorityGateway, AuthorityInbox, AuthorityOutbox, CancelKind};
use beian_ports::{BoxFuture, PortError, PortResult};
use beian_store::desk::{DeskItem, DeskRecord, NewDeskItem};
use beian_store::{Store, StoreError};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Why a desk call failed: a refusal for the operator (Chinese), or something broke inside
/// (logged, never shown verbatim).
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("{0}")]
    Refused(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for DeskError {
    fn from(e: StoreError) -> Self {
        DeskError::Internal(e.to_string())
    }
}

type Result<T, E = DeskError> = std::result::Result<T, E>;

/// Who records an outcome (a staff member: id for the audit trail, name for people).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: String,
    pub name: String,
}

/// An item with what the item page shows: its operation (`None` once personal data was
/// erased) and what was recorded on it.
#[derive(Debug, Clone)]
pub struct ItemView {
    pub item: DeskItem,
    pub operation: Option<Operation>,
    pub records: Vec<DeskRecord>,
}

/// The forms an item of `kind` offers, by the event kind each records: an application is
/// verified by SMS and decided; a cancellation confirmed or not (取消接入 needs no SMS —
/// REAL-WORLD.md §1); anything may be refused.
pub fn forms_for(kind: &str) -> &'static [&'static str] {
    match kind {
        "new_subject_and_service" | "new_service" | "new_access" | "change" => {
            &["sms_pending", "sms_verified", "sms_expired", "approved", "rejected", "refused"]
        }
        "cancel_subject" | "cancel_service" => {
            &["sms_pending", "cancel_confirmed", "cancel_aborted", "refused"]
        }
        "cancel_access" => &["cancel_confirmed", "cancel_aborted", "refused"],
        _ => &["refused"],
    }
}

/// The forms an open item of `kind` offers now, its last outcome being `outcome`: an
/// application's decision is recorded after its SMS verification (the authority reviews only
/// verified filings), its SMS news only before. The inbox would ignore an event its order does
/// not wait for — and keep its id — so the desk does not send one.
pub fn open_forms(kind: &str, outcome: &str) -> Vec<&'static str> {
    let application = forms_for(kind).contains(&"approved");
    forms_for(kind)
        .iter()
        .copied()
        .filter(|f| match *f {
            "sms_pending" | "sms_verified" | "sms_expired" if application => {
                matches!(outcome, "" | "sms_pending" | "refused")
            }
            "approved" | "rejected" => outcome == "sms_verified",
            _ => true,
        })
        .collect()
}

/// An operation's kind in the words of the authority's system.
pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "new_subject_and_service" => "新增主体及服务",
        "new_service" => "新增服务",
        "new_access" => "新增接入",
        "change" => "变更",
        "cancel_subject" => "注销主体",
        "cancel_service" => "注销服务",
        "cancel_access" => "取消接入",
        "attachments" => "补充材料",
        _ => "其他",
    }
}

/// A recorded form (the item's last outcome) in words.
pub fn outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "" => "待报送",
        "sms_pending" => "短信核验中",
        "sms_verified" => "管局审核中",
        "sms_expired" => "短信核验超时",
        "approved" => "已通过",
        "rejected" => "已驳回",
        "refused" => "管局未受理",
        "cancel_confirmed" => "已注销",
        "cancel_aborted" => "注销未确认",
        "ignored" => "已失效（订单状态已变化）",
        _ => "其他",
    }
}

/// Whether recording `form` (applied) ends the item's work.
fn closes(form: &str) -> bool {
    matches!(form, "sms_expired" | "approved" | "rejected" | "cancel_confirmed" | "cancel_aborted")
}

/// The event id of `event` recorded on item `item_id`: stable per item and form, so a
/// double click or a resubmitted form is a duplicate. An SMS-pending report may change
/// (one principal verified, a new deadline): its id also carries a digest of what it says.
pub fn event_id(item_id: i64, event: &AuthorityEvent) -> String {
    match event {
        AuthorityEvent::SmsPending { deadline, phones, .. } => {
            let digest = Sha256::digest(format!("{deadline}|{}", phones.join(",")).as_bytes());
            format!("desk:{item_id}:sms_pending:{}", &hex::encode(digest)[..12])
        }
        other => format!("desk:{item_id}:{}", other.kind()),
    }
}

/// `138****0001`: how the platform shows a phone it reports back.
pub fn mask_phone(phone: &str) -> String {
    let p: Vec<char> = phone.chars().collect();
    if p.len() == 11 {
        format!("{}****{}", p[..3].iter().collect::<String>(), p[7..].iter().collect::<String>())
    } else {
        "***".into()
    }
}

/// A unix second as Beijing time to the minute.
pub fn beijing_minute(ts: i64) -> String {
    beian_core::time::from_ts(ts)
        .with_timezone(&beian_core::time::beijing())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// What a record says, for the item page and the audit trail: no personal data.
fn summary(event: &AuthorityEvent) -> String {
    match event {
        AuthorityEvent::SmsPending { deadline, phones, .. } => {
            format!("待核验：{}；截止 {}", phones.join("、"), beijing_minute(*deadline))
        }
        AuthorityEvent::Approved { subject_number, service_number } => {
            format!("主体备案号 {subject_number}，服务备案号 {service_number}")
        }
        AuthorityEvent::Rejected { reasons } => {
            reasons.iter().map(|r| format!("{}：{}", r.key_name, r.error)).collect::<Vec<_>>().join("；")
        }
        AuthorityEvent::Refused { code, reason } => format!("代码 {code}：{reason}"),
        _ => String::new(),
    }
}

/// The manual desk. Cheap to share behind an `Arc`; its state is in the database, so every
/// node over one store shows the same work list.
pub struct ManualDesk {
    store: Store,
    inbox: Arc<dyn AuthorityInbox>,
    outbox: Arc<dyn AuthorityOutbox>,
}

impl AuthorityGateway for ManualDesk {
    fn name(&self) -> &'static str {
        "manual"
    }

    fn submit(&self, op: Operation) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(async move {
            self.add(&op).await.map_err(|e| match e {
                DeskError::Refused(m) => PortError::Refused(m),
                DeskError::Internal(m) => PortError::Retry(m),
            })
        })
    }
}

impl ManualDesk {
    /// `store`: where its work items live; `inbox`: where recorded outcomes go; `outbox`:
    /// only for the platform's time (the desk texts nobody and sets no timers).
    pub fn new(store: Store, inbox: Arc<dyn AuthorityInbox>, outbox: Arc<dyn AuthorityOutbox>) -> ManualDesk {
        ManualDesk { store, inbox, outbox }
    }

    /// Add the operation's work item; a repeat of (appid, kind, round) adds nothing.
    async fn add(&self, op: &Operation) -> Result<()> {
        let json = serde_json::to_string(op).map_err(|e| DeskError::Internal(e.to_string()))?;
        let mut tx = self.store.begin().await?;
        if tx.desk().find(op.appid(), op.kind(), op.round()).await?.is_some() {
            return Ok(());
        }
        let filed_name = match op {
            Operation::NewSubjectAndService { payload, .. }
            | Operation::NewService { payload, .. }
            | Operation::NewAccess { payload, .. }
            | Operation::Change { payload, .. } => payload.icp_applets.base_info.name.clone(),
            _ => String::new(),
        };
        let name = if filed_name.is_empty() {
            tx.mini_programs().get(op.appid()).await?.map(|m| m.name).unwrap_or_default()
        } else {
            filed_name
        };
        let now = self.outbox.now();
        let item = NewDeskItem {
            appid: op.appid(),
            kind: op.kind(),
            round: op.round(),
            name: &name,
            operation_json: &json,
            now,
        };
        if let Some(id) = tx.desk().insert(&item).await? {
            tx.commit().await?;
            tracing::info!(appid = op.appid(), kind = op.kind(), item = id, "manual desk: new work item");
        }
        Ok(())
    }

    /// The work list: open items first (longest waiting first), then closed ones unless
    /// `open_only`.
    pub async fn items(&self, open_only: bool) -> Result<Vec<DeskItem>> {
        let mut tx = self.store.read().await?;
        Ok(tx.desk().list(open_only, 500).await?)
    }

    /// One item with its operation and records.
    pub async fn item(&self, id: i64) -> Result<Option<ItemView>> {
        let mut tx = self.store.read().await?;
        let Some((item, json)) = tx.desk().get(id).await? else { return Ok(None) };
        let operation = match json {
            Some(j) => Some(
                serde_json::from_str(&j)
                    .map_err(|e| DeskError::Internal(format!("desk item {id}: unreadable operation: {e}")))?,
            ),
            None => None,
        };
        let records = tx.desk().records(id).await?;
        Ok(Some(ItemView { item, operation, records }))
    }

    /// Record an outcome of item `id`: the event goes to the inbox under [`event_id`], then
    /// the record and an audit event naming `by` are written. A refusal of the inbox (e.g.
    /// numbers that do not fit the subject) changes nothing and is returned. A repeat
    /// answers `Receipt::Duplicate` and writes nothing new.
    pub async fn record(&self, id: i64, by: &Operator, event: AuthorityEvent) -> Result<Receipt> {
        let event_id = event_id(id, &event);
        let (item, seen) = {
            let mut tx = self.store.read().await?;
            (tx.desk().get(id).await?.map(|(i, _)| i), tx.desk().recorded(&event_id).await?)
        };
        let Some(item) = item else { return Err(DeskError::Refused("没有这条待办".into())) };
        if seen {
            // A double click or a resubmitted form: recorded already, nothing is sent again.
            return Ok(Receipt::Duplicate);
        }
        let form = event.kind();
        if !forms_for(&item.kind).contains(&form) {
            return Err(DeskError::Refused(format!("“{}”不能登记此结果", kind_label(&item.kind))));
        }
        if !item.open {
            return Err(DeskError::Refused("这条待办已办结".into()));
        }
        if !open_forms(&item.kind, &item.outcome).contains(&form) {
            return Err(DeskError::Refused(if matches!(form, "approved" | "rejected") {
                "请先登记短信核验完成，再登记管局审核结果".into()
            } else {
                "短信核验已登记完成，不能再登记短信状态".into()
            }));
        }
        if let AuthorityEvent::SmsPending { purpose, .. } = &event {
            let cancel = item.kind.starts_with("cancel_");
            if cancel != (*purpose == beian_ports::authority::SmsPurpose::Cancel) {
                return Err(DeskError::Refused("短信核验的类型与待办不符".into()));
            }
        }
        let receipt = self
            .inbox
            .receive(event_id.clone(), item.appid.clone(), item.round, event.clone())
            .await
            .map_err(|e| match e {
                PortError::Refused(m) => DeskError::Refused(m),
                PortError::Retry(m) => DeskError::Internal(m),
            })?;
        let now = self.outbox.now();
        let mut tx = self.store.begin().await?;
        if tx.desk().recorded(&event_id).await? {
            return Ok(Receipt::Duplicate);
        }
        // A duplicate the desk has no record of: the inbox took it on an attempt that did
        // not get to write its record (a crash in between); record it now.
        let receipt_name = match receipt {
            Receipt::Applied => "applied",
            Receipt::Ignored => "ignored",
            Receipt::Duplicate => "duplicate",
        };
        let summary = summary(&event);
        tx.desk()
            .record(&DeskRecord {
                event_id: event_id.clone(),
                item_id: id,
                form: form.into(),
                receipt: receipt_name.into(),
                staff_id: by.id.clone(),
                staff_name: by.name.clone(),
                summary: summary.clone(),
                recorded_at: now,
            })
            .await?;
        match receipt {
            Receipt::Ignored => tx.desk().set_outcome(id, "ignored", true, now).await?,
            Receipt::Applied | Receipt::Duplicate => {
                tx.desk().set_outcome(id, form, closes(form), now).await?
            }
        }
        tx.audit()
            .append(&AuditEvent {
                at: now,
                actor: format!("operator:{}", by.id),
                entity: AuditEntity::Filing.as_str().into(),
                entity_id: item.appid.clone(),
                action: AuditAction::DeskRecorded.as_str().into(),
                detail: serde_json::json!({
                    "desk_item": id,
                    "kind": item.kind,
                    "round": item.round,
                    "form": form,
                    "event_id": event_id,
                    "receipt": receipt_name,
                    "operator": by.name,
                    "summary": summary,
                }),
            })
            .await?;
        tx.commit().await?;
        Ok(receipt)
    }
}

/// Which SMS verification an item's SMS form reports.
pub fn sms_purpose(kind: &str) -> beian_ports::authority::SmsPurpose {
    if kind.starts_with("cancel_") {
        beian_ports::authority::SmsPurpose::Cancel
    } else {
        beian_ports::authority::SmsPurpose::Filing
    }
}

/// What a cancellation item cancels, in words.
pub fn cancel_label(kind: CancelKind) -> &'static str {
    match kind {
        CancelKind::Subject => "注销主体（主体备案号及其全部服务）",
        CancelKind::Service => "注销服务（本小程序的服务备案号）",
        CancelKind::Access => "取消接入（本平台不再为该服务提供接入）",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_stable_per_item_and_form() {
        let a = event_id(7, &AuthorityEvent::SmsVerified);
        assert_eq!(a, "desk:7:sms_verified");
        assert_eq!(a, event_id(7, &AuthorityEvent::SmsVerified));
        assert_ne!(a, event_id(8, &AuthorityEvent::SmsVerified));
        let p = |phones: &[&str]| AuthorityEvent::SmsPending {
            purpose: beian_ports::authority::SmsPurpose::Filing,
            deadline: 100,
            phones: phones.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(event_id(7, &p(&["138****0001"])), event_id(7, &p(&["138****0001"])));
        assert_ne!(event_id(7, &p(&["138****0001"])), event_id(7, &p(&[])));
    }

    #[test]
    fn forms_follow_the_kind() {
        assert!(forms_for("new_service").contains(&"approved"));
        assert!(!forms_for("cancel_access").contains(&"sms_pending"), "取消接入 needs no SMS");
        assert!(!forms_for("cancel_subject").contains(&"approved"));
        assert_eq!(open_forms("new_service", ""), ["sms_pending", "sms_verified", "sms_expired", "refused"]);
        assert_eq!(open_forms("new_service", "sms_verified"), ["approved", "rejected", "refused"]);
        assert_eq!(open_forms("cancel_service", "sms_pending"), forms_for("cancel_service"));
        assert_eq!(kind_label("attachments"), "补充材料");
        assert_eq!(mask_phone("13800010001"), "138****0001");
    }
}
