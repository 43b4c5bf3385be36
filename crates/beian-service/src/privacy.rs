//! Personal data (个人信息) lifecycle under PIPL: the export of everything held about a mini
//! program's subject and principals (Art. 45, access and copy), and erasure once its filing
//! ended — cancelled (注销) or cleared (清退) — longer ago than the retention period
//! (Art. 19 no longer than necessary; Art. 47 deletion).
//!
//! Both are audited with non-personal facts only (who, when, which appid, counts). Erasure is
//! one transaction per mini program, re-checked inside it, so it is idempotent and a run
//! interrupted anywhere resumes with the next one.

use crate::aggregates::{MiniPrograms, Operations};
use crate::{audit, Actor, Result, Service, ServiceError};
use beian_core::errcode;
use beian_core::model::AuditAction;
use beian_core::payload::ApplyPayload;
use beian_store::privacy::Erased;
use serde::Serialize;
use serde_json::json;

/// Days personal data is kept after a filing is cancelled or cleared (`[privacy]
/// retention_days`): see `docs/reliability.md`, "Personal data (PIPL)".
pub const DEFAULT_RETENTION_DAYS: u32 = 180;

/// Mini programs read per query while looking for ended ones.
const PAGE: i64 = 500;

/// What the export says it is.
pub const EXPORT_SCHEMA: &str =
    "beian personal data export v1: every personal value beian holds for one mini \
program's subject and principals (PIPL Art. 45), decrypted; media are listed by id and fields, their bytes \
are downloaded separately";

/// One run of [`Service::erase_expired`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct ErasureReport {
    pub retention_days: u32,
    /// Filings that ended before this (Unix seconds) are past retention.
    pub cutoff: i64,
    /// Mini programs past retention that still held personal data (the dry run's answer).
    pub due: Vec<String>,
    /// How many of them were erased now (0 in a dry run).
    pub erased: u64,
    /// Summed counts of what was removed.
    pub removed: Erased,
    /// Media objects deleted (only those no remaining row names).
    pub objects_deleted: u64,
}

/// Phones and e-mail addresses a payload names.
fn contacts_of(p: &ApplyPayload, out: &mut Vec<String>) {
    for pi in [&p.icp_subject.principal_info, &p.icp_applets.principal_info] {
        for v in [&pi.mobile, &pi.email, &pi.emergency_contact] {
            let v = v.trim();
            if !v.is_empty() && !out.iter().any(|o| o == v) {
                out.push(v.to_string());
            }
        }
    }
}

fn add_sum(sum: &mut Erased, e: &Erased) {
    sum.versions += e.versions;
    sum.drafts += e.drafts;
    sum.media_rows += e.media_rows;
    sum.face_tasks += e.face_tasks;
    sum.sms_codes += e.sms_codes;
    sum.sms_outbox += e.sms_outbox;
    sum.messages += e.messages;
    sum.jobs += e.jobs;
    sum.admin_identity += e.admin_identity;
    sum.subjects += e.subjects;
}

impl Operations<'_> {
    /// Set the retention period (the server and the CLI set it from `[privacy] retention_days`).
    pub fn set_retention_days(&self, days: u32) {
        self.retention_days.store(days, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn retention_days(&self) -> u32 {
        self.retention_days.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Erase the personal data of every mini program whose filing ended more than
    /// `retention_days` ago and that has no live or open order (`dry_run`: only list them).
    pub async fn erase_expired(&self, actor: &Actor, dry_run: bool) -> Result<ErasureReport> {
        let cutoff = self.retention_cutoff();
        let mut report =
            ErasureReport { retention_days: self.retention_days(), cutoff, ..Default::default() };
        let mut after = String::new();
        loop {
            let page = {
                let mut tx = self.store.read().await?;
                tx.privacy().ended_after(cutoff, &after, PAGE).await?
            };
            let Some(last) = page.last() else { break };
            after = last.appid.clone();
            for e in page.iter().filter(|e| e.holds_personal_data) {
                report.due.push(e.appid.clone());
                if dry_run {
                    continue;
                }
                if let Some((erased, objects)) = self.erase_one(actor, &e.appid, cutoff).await? {
                    report.erased += 1;
                    report.objects_deleted += objects;
                    add_sum(&mut report.removed, &erased);
                }
            }
        }
        if report.erased > 0 {
            self.store.scrub_freed().await?;
        }
        Ok(report)
    }
}

impl Service {
    /// Filings that ended at or before this instant are past retention.
    pub(crate) fn retention_cutoff(&self) -> i64 {
        self.now().timestamp() - i64::from(self.operations().retention_days()) * 86_400
    }

    /// Erase one ended mini program's personal data in one transaction, re-checking inside it
    /// that it ended before `cutoff`. `None` if it no longer qualifies or holds nothing.
    async fn erase_one(&self, actor: &Actor, appid: &str, cutoff: i64) -> Result<Option<(Erased, u64)>> {
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let Some(ended) = tx.privacy().ended(cutoff, appid).await? else { return Ok(None) };
        if !ended.holds_personal_data {
            return Ok(None);
        }
        let Some(mp) = tx.mini_programs().get(appid).await? else { return Ok(None) };
        let order = tx.orders().get(appid).await?;
        let h = tx.privacy().holdings(appid).await?;
        let mut contacts = vec![mp.admin.mobile.clone()];
        for p in h.versions.iter().filter_map(|v| v.2.as_ref()).chain(h.draft.as_ref()) {
            contacts_of(p, &mut contacts);
        }
        contacts.retain(|c| !c.is_empty());
        // Objects first: if this transaction fails after, its rows stay and the next run
        // deletes the (then missing) objects again; the reverse order could orphan them.
        let objects = tx.privacy().objects_only_of(appid).await?;
        for name in &objects {
            self.media
                .delete(name)
                .await
                .map_err(|e| ServiceError::Internal(format!("deleting media object of {appid}: {e}")))?;
        }
        // Texts, e-mails and 站内信 to them since registration. A notice of the end itself may
        // have gone out after it (the worker delivers late), so everything up to now.
        let mut erased = tx.privacy().erase(appid, &contacts, mp.created_at, now).await?;
        if let Some(subject_id) = order.as_ref().and_then(|o| o.subject_id.clone()) {
            let mut all_ended = true;
            for other in tx.orders().of_subject(&subject_id).await? {
                if other.appid != appid && tx.privacy().ended(cutoff, &other.appid).await?.is_none() {
                    all_ended = false;
                    break;
                }
            }
            if all_ended {
                let personal = tx.subjects().get(&subject_id).await?.is_some_and(|(s, _)| {
                    Some(s.subject_type) == self.dictionaries().personal_subject_type_id()
                });
                if tx.privacy().erase_subject(&subject_id, personal, now).await? {
                    erased.subjects = 1;
                }
            }
        }
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Privacy,
            appid,
            AuditAction::Erase,
            json!({
                "reason": ended.reason,
                "ended_at": ended.ended_at,
                "retention_days": self.operations().retention_days(),
                "removed": erased,
                "media_objects_deleted": objects.len(),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(Some((erased, objects.len() as u64)))
    }
}

impl MiniPrograms<'_> {
    /// Every personal value held for `appid`'s subject and principals, decrypted, as one JSON
    /// document. Audited (who, when, which appid — not the data).
    pub async fn export_personal_data(&self, actor: &Actor, appid: &str) -> Result<serde_json::Value> {
        let now = self.now();
        let mut tx = self.store.read().await?;
        let mp =
            tx.mini_programs().get(appid).await?.ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
        let order = tx.orders().get(appid).await?;
        let subject = match order.as_ref().and_then(|o| o.subject_id.clone()) {
            Some(id) => tx.subjects().get(&id).await?.map(|(s, _)| s),
            None => None,
        };
        let h = tx.privacy().holdings(appid).await?;
        let mut phones = vec![mp.admin.mobile.clone()];
        for p in h.versions.iter().filter_map(|v| v.2.as_ref()).chain(h.draft.as_ref()) {
            contacts_of(p, &mut phones);
        }
        phones.retain(|p| !p.is_empty() && !p.contains('@'));
        let outbox = tx.privacy().outbox_to(&phones, 0, now.timestamp()).await?;
        drop(tx);
        let doc = json!({
            "schema": EXPORT_SCHEMA,
            "generated_at": now.to_rfc3339(),
            "appid": appid,
            "mini_program": {
                "name": mp.name,
                "admin": { "name": mp.admin.name, "id_number": mp.admin.id_number, "mobile": mp.admin.mobile },
                "created_at": mp.created_at,
            },
            "subject": subject.map(|s| json!({
                "id": s.id, "subject_type": s.subject_type, "certificate_type": s.certificate_type,
                "certificate_number": s.certificate_number, "name": s.name, "province": s.province,
                "record_number": s.record_number,
            })),
            "order": order.map(|o| json!({
                "status": o.state.status_code(), "subject_record_number": o.subject_record_number,
                "service_record_number": o.service_record_number, "cancel_type": o.cancel_type.map(beian_core::model::CancelType::code),
                "submitted_at": o.submitted_at, "updated_at": o.updated_at, "audit_data": o.audit_data,
            })),
            "versions": h.versions.iter().map(|(v, at, p)| json!({
                "version": v, "submitted_at": at, "payload": p, "erased": p.is_none(),
            })).collect::<Vec<_>>(),
            "draft": h.draft,
            "media": h.media.iter().map(|m| json!({
                "media_id": m.media_id, "media_type": m.media_type.as_str(), "certificate_type": m.certificate_type,
                "icp_order_field": m.icp_order_field, "content_type": m.content_type, "size": m.size,
                "created_at": m.created_at,
            })).collect::<Vec<_>>(),
            "face_tasks": h.face_tasks.iter().map(|(id, created, expires, finished)| json!({
                "task_id": id, "created_at": created, "expires_at": expires, "is_finish": finished,
            })).collect::<Vec<_>>(),
            "sms_codes": h.sms_codes.iter().map(|c| json!({
                "phone": c.phone, "purpose": c.purpose, "round": c.round, "state": c.state,
                "sent_at": c.sent_at, "expires_at": c.expires_at,
            })).collect::<Vec<_>>(),
            "sms_outbox": outbox.iter().map(|m| json!({
                "phone": m.phone, "text": m.text, "created_at": m.created_at,
            })).collect::<Vec<_>>(),
        });
        let mut tx = self.store.begin().await?;
        audit(
            &mut tx,
            now.timestamp(),
            actor,
            beian_core::model::AuditEntity::Privacy,
            appid,
            AuditAction::Export,
            json!({ "versions": h.versions.len(), "media": h.media.len(), "sms_outbox": outbox.len() }),
        )
        .await?;
        tx.commit().await?;
        Ok(doc)
    }
}
