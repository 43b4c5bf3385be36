//! The host platform's inbound events (`beian_ports::host`), applied exactly once per event
//! id: the id is recorded (`host_events`, migration 0013) in the same transaction as the
//! effect, and a repeat answers the first outcome without doing anything. A refusal is an
//! outcome too: nothing changes, and the refusal is what a repeat answers.
//!
//! The effects are the mini-program use cases (`mini_programs`: register, update) and the
//! listing gate (`deadlines`); what each event does is documented on
//! [`beian_ports::host::PlatformEvent`].

use crate::aggregates::MiniPrograms;
use crate::mini_programs::{checked_admin, checked_name, register_in, update_in, MiniProgramInput};
use crate::{audit, Actor, Result, Service, ServiceError};
use beian_core::errcode;
use beian_core::model::AuditAction;
use beian_core::model::{AuditEntity, Person};
use beian_core::state::FilingState;
use beian_core::time::beijing_date;
use beian_ports::host::{
    Difference, EventId, FieldDifference, PlatformEvent, PlatformEventOutcome, PlatformMiniProgram,
    Reconciliation,
};
use beian_store::Tx;

impl MiniPrograms<'_> {
    /// Apply one event of the host platform, once per `event_id` (see the module docs).
    /// `Err` only when beian could not decide (database down): nothing is recorded, and the
    /// host should deliver the event again.
    pub async fn receive_platform_event(
        &self,
        event_id: &EventId,
        event: &PlatformEvent,
    ) -> Result<PlatformEventOutcome> {
        crate::plans::retrying(event.kind(), event.appid(), || self.try_receive(event_id, event)).await
    }

    /// Compare the host's full list with beian's mini programs; changes nothing (see
    /// [`beian_ports::host::Reconciliation`]). The list is refused with more than
    /// [`beian_ports::host::MAX_RECONCILE_ITEMS`] entries or an appid listed twice.
    pub async fn reconcile(&self, list: &[PlatformMiniProgram]) -> Result<Reconciliation> {
        use std::collections::BTreeMap;
        if list.len() > beian_ports::host::MAX_RECONCILE_ITEMS {
            return Err(ServiceError::refused(
                errcode::INVALID_INPUT,
                format!("一次核对最多 {} 个小程序", beian_ports::host::MAX_RECONCILE_ITEMS),
            ));
        }
        let mut theirs = BTreeMap::new();
        for (i, item) in list.iter().enumerate() {
            if theirs.insert(item.appid.as_str(), item).is_some() {
                return Err(ServiceError::Hints(vec![beian_core::rules::Hint {
                    errcode: errcode::INVALID_INPUT,
                    errmsg: format!("小程序 {} 在列表中出现了两次", item.appid),
                    err_field: format!("mini_programs[{i}].appid"),
                }]));
            }
        }
        let ours = {
            let mut tx = self.store.read().await?;
            tx.mini_programs().list(None, i64::MAX).await?
        };
        let mut out = Reconciliation::default();
        let mut seen = std::collections::BTreeSet::new();
        for mp in &ours {
            seen.insert(mp.appid.as_str());
            match theirs.get(mp.appid.as_str()) {
                None => out.unknown_to_platform.push(mp.appid.clone()),
                Some(p) => {
                    let fields = differing_fields(p, mp);
                    if !fields.is_empty() {
                        out.differences.push(Difference { appid: mp.appid.clone(), fields });
                    }
                }
            }
        }
        out.unknown_to_beian = theirs.keys().filter(|a| !seen.contains(*a)).map(|a| a.to_string()).collect();
        Ok(out)
    }

    /// When `appid` was marked 负责人须变更 (a filed mini program whose admin is no longer
    /// the filing's principal), if it is.
    pub async fn principal_change_required(&self, appid: &str) -> Result<Option<i64>> {
        let mut tx = self.store.read().await?;
        Ok(tx.host_events().principal_change(appid).await?)
    }

    /// The mini programs marked 负责人须变更, oldest first: how many, and the first `limit`
    /// as (appid, name, marked at).
    pub async fn principal_changes(&self, limit: i64) -> Result<(i64, Vec<(String, String, i64)>)> {
        let mut tx = self.store.read().await?;
        Ok(tx.host_events().principal_changes(limit).await?)
    }
}

/// The admin's fingerprint a reconciliation may carry instead of the admin: lowercase hex
/// SHA-256 of `name + "\n" + id_number + "\n" + mobile`.
pub fn admin_fingerprint(admin: &Person) -> String {
    use sha2::{Digest, Sha256};
    let text = format!("{}\n{}\n{}", admin.name, admin.id_number, admin.mobile);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The fields in which the host's record `p` differs from beian's `mp`.
fn differing_fields(p: &PlatformMiniProgram, mp: &beian_core::model::MiniProgram) -> Vec<FieldDifference> {
    use serde_json::{json, Value};
    let mut fields = Vec::new();
    let mut differ = |field: &str, platform: Value, beian: Value| {
        if platform != beian {
            fields.push(FieldDifference { field: field.into(), platform, beian });
        }
    };
    differ("name", json!(p.name.trim()), json!(mp.name));
    differ("flags.basic_info_filled", json!(p.flags.basic_info_filled), json!(mp.flags.basic_info_filled));
    differ("flags.category_filled", json!(p.flags.category_filled), json!(mp.flags.category_filled));
    differ("flags.certified", json!(p.flags.certified), json!(mp.flags.certified));
    differ("listed", json!(p.listed), json!(mp.listed));
    let admin_differs = match (&p.admin, &p.admin_fingerprint) {
        (Some(a), _) => admin_fingerprint(a) != admin_fingerprint(&mp.admin),
        (None, Some(f)) => !f.trim().eq_ignore_ascii_case(&admin_fingerprint(&mp.admin)),
        (None, None) => false,
    };
    if admin_differs {
        fields.push(FieldDifference { field: "admin".into(), platform: Value::Null, beian: Value::Null });
    }
    fields
}

impl Service {
    /// One attempt; a lost race is `Err(Conflict)` for [`crate::plans::retrying`].
    async fn try_receive(&self, event_id: &EventId, event: &PlatformEvent) -> Result<PlatformEventOutcome> {
        let actor = Actor::new("host", event_id.as_str());
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        // The id is claimed first, so a concurrent delivery of it waits for this one (or, on
        // SQLite, comes after it); the outcome is filled in before the commit, so the empty
        // placeholder is never read.
        if !tx.host_events().insert(event_id.as_str(), event.kind(), event.appid(), "", now).await? {
            return stored_outcome(&mut tx, event_id).await;
        }
        match self.apply_platform_event(&mut tx, &actor, event, now).await {
            Ok(outcome) => {
                tx.host_events().set_outcome(event_id.as_str(), &outcome_json(&outcome)?).await?;
                tx.commit().await?;
                Ok(outcome)
            }
            Err(ServiceError::Refused { errcode, errmsg }) => {
                // Undo whatever the refused effect wrote; keep only the refusal.
                drop(tx);
                let outcome = PlatformEventOutcome::Refused { errcode, reason: errmsg };
                let mut tx = self.store.begin().await?;
                let json = outcome_json(&outcome)?;
                if !tx
                    .host_events()
                    .insert(event_id.as_str(), event.kind(), event.appid(), &json, now)
                    .await?
                {
                    return stored_outcome(&mut tx, event_id).await;
                }
                tx.commit().await?;
                Ok(outcome)
            }
            Err(e) => Err(e),
        }
    }

    async fn apply_platform_event(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        event: &PlatformEvent,
        now: i64,
    ) -> Result<PlatformEventOutcome> {
        let appid = event.appid();
        let known = tx.mini_programs().get(appid).await?;
        match (event, known) {
            (PlatformEvent::MiniProgramUpserted { name, flags, listed, owner, admin, .. }, None) => {
                let Some(admin) = admin else {
                    return Err(ServiceError::refused(
                        errcode::INVALID_INPUT,
                        format!("小程序 {appid} 尚未登记：首次同步须附管理员姓名、身份证号码和手机号码"),
                    ));
                };
                let input = MiniProgramInput {
                    appid: appid.to_string(),
                    name: name.clone(),
                    admin_name: admin.name.clone(),
                    admin_id_number: admin.id_number.clone(),
                    admin_mobile: admin.mobile.clone(),
                    flags: *flags,
                    listed: *listed,
                    owner: owner.clone(),
                };
                register_in(tx, actor, input, now).await?;
                Ok(PlatformEventOutcome::Registered)
            }
            (_, None) => Err(ServiceError::code(errcode::UNKNOWN_APPID)),
            (PlatformEvent::MiniProgramUpserted { name, flags, listed, owner, admin, .. }, Some(mp)) => {
                let name = checked_name(name)?;
                if *listed && !mp.listed {
                    self.check_listing(tx, appid).await?;
                }
                let (flags, listed) = (*flags, *listed);
                update_in(
                    tx,
                    actor,
                    appid,
                    |m| {
                        m.name = name;
                        m.flags = flags;
                        if listed && !m.listed {
                            m.cleared = false;
                        }
                        m.listed = listed;
                    },
                    now,
                )
                .await?;
                tx.mini_programs().set_owner(appid, owner, now).await?;
                let (admin_changed, filed) = match admin {
                    Some(a) => self.change_admin(tx, actor, appid, a, now).await?,
                    None => (false, false),
                };
                Ok(PlatformEventOutcome::Updated { admin_changed, filed })
            }
            (PlatformEvent::AdminChanged { admin, .. }, Some(_)) => {
                let (admin_changed, filed) = self.change_admin(tx, actor, appid, admin, now).await?;
                Ok(PlatformEventOutcome::Updated { admin_changed, filed })
            }
            (PlatformEvent::Listed { .. }, Some(_)) => {
                self.check_listing(tx, appid).await?;
                update_in(
                    tx,
                    actor,
                    appid,
                    |m| {
                        m.listed = true;
                        m.cleared = false;
                    },
                    now,
                )
                .await?;
                Ok(PlatformEventOutcome::Listed)
            }
            (PlatformEvent::Delisted { .. }, Some(_)) => {
                update_in(tx, actor, appid, |m| m.listed = false, now).await?;
                Ok(PlatformEventOutcome::Delisted)
            }
            (PlatformEvent::Deleted { .. }, Some(_)) => {
                let state = tx.orders().get(appid).await?.map(|o| o.state);
                if let Some(reason) = state.and_then(deletion_refusal) {
                    return Err(ServiceError::refused(errcode::WRONG_REVIEW_STATE, reason));
                }
                update_in(tx, actor, appid, |m| m.listed = false, now).await?;
                audit(
                    tx,
                    now,
                    actor,
                    AuditEntity::MiniProgram,
                    appid,
                    AuditAction::HostDeleted,
                    serde_json::json!({}),
                )
                .await?;
                Ok(PlatformEventOutcome::Deleted)
            }
        }
    }

    /// The listing gate, read inside `tx`.
    async fn check_listing(&self, tx: &mut Tx, appid: &str) -> Result<()> {
        let filed = tx.orders().get(appid).await?.is_some_and(|o| o.state.is_filed());
        crate::deadlines::listing_gate(beijing_date(self.now()), &self.policy(), filed)
    }

    /// Store a new admin; `(changed, filed)`. With a filed order the change is audited, and
    /// the mini program is marked 负责人须变更 when the filed record's principal is no longer
    /// the admin (the developer is told: 站内信 and the usual channels), or unmarked when the
    /// admin is the filed principal again.
    async fn change_admin(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        appid: &str,
        admin: &Person,
        now: i64,
    ) -> Result<(bool, bool)> {
        let admin = checked_admin(&admin.name, &admin.id_number, &admin.mobile)?;
        let mp =
            tx.mini_programs().get(appid).await?.ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
        if mp.admin == admin {
            return Ok((false, false));
        }
        update_in(tx, actor, appid, |m| m.admin = admin.clone(), now).await?;
        let Some(order) = tx.orders().get(appid).await?.filter(|o| o.state.is_filed()) else {
            return Ok((true, false));
        };
        let record = tx.orders().version(appid, crate::plans::record_version(&order)).await?;
        let principal = record.as_ref().map(|p| &p.icp_applets.principal_info);
        let principal_is_admin = principal.is_some_and(|p| p.certificate_number == admin.id_number);
        audit(
            tx,
            now,
            actor,
            AuditEntity::MiniProgram,
            appid,
            AuditAction::AdminChangedAfterFiling,
            serde_json::json!({ "principal_change_required": !principal_is_admin }),
        )
        .await?;
        if principal_is_admin {
            tx.host_events().clear_principal_change(appid).await?;
            return Ok((true, true));
        }
        tx.host_events().mark_principal_change(appid, now).await?;
        let mp = beian_core::model::MiniProgram { admin, ..mp };
        let notice = crate::notify::Notice {
            kind: "principal_change_required",
            title: "负责人须变更".into(),
            body: format!(
                "小程序「{}」的管理员已在平台变更，已备案信息中登记的小程序负责人仍是原管理员。\
                 小程序负责人须与管理员一致：请在备案控制台办理变更备案，将小程序负责人变更为新管理员；\
                 变更完成前备案继续有效。",
                mp.name
            ),
            key: format!("principal_change:{appid}:{now}"),
        };
        let email = principal.map(|p| p.email.clone());
        crate::notify::notify(tx, &mp, self.email_channel(), email.as_deref(), &notice, now).await?;
        Ok((true, true))
    }
}

/// Why a mini program in `state` cannot be deleted, if it cannot.
fn deletion_refusal(state: FilingState) -> Option<&'static str> {
    match state {
        FilingState::NotFiled => None,
        FilingState::PlatformReview | FilingState::AuthorityReview { .. } => {
            Some("小程序有审核中的备案申请，不能删除：请先撤回备案申请或等待审核结束")
        }
        FilingState::PlatformRejected | FilingState::AuthorityRejected => {
            Some("小程序有被驳回、尚待修改后重新提交的备案申请，不能删除")
        }
        FilingState::Filed { .. } | FilingState::Changing { .. } => {
            Some("小程序已备案，不能删除：请先注销备案")
        }
    }
}

fn outcome_json(outcome: &PlatformEventOutcome) -> Result<String> {
    serde_json::to_string(outcome).map_err(|e| ServiceError::Internal(e.to_string()))
}

async fn stored_outcome(tx: &mut Tx, event_id: &EventId) -> Result<PlatformEventOutcome> {
    let json = tx
        .host_events()
        .outcome(event_id.as_str())
        .await?
        .ok_or_else(|| ServiceError::Internal(format!("host event {event_id} vanished")))?;
    serde_json::from_str(&json)
        .map_err(|e| ServiceError::Internal(format!("stored outcome of host event {event_id}: {e}")))
}
