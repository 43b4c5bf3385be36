//! applyIcpFiling: validate on the read pool, then write in a short transaction.
//!
//! The rules need the mini program, its order, the subject with the same certificate, the
//! referenced media, the face task and the day's quota count. All of it is read and checked
//! **before** the writer is taken (on SQLite there is one writer connection for the whole
//! node). The write then re-reads only what another writer may have changed since — the
//! mini program, the subject and the order — and, if any of them differs, runs the rules
//! again on the fresh values inside the write; media rows and face tasks never change once
//! written. A lost race surfaces as a conflict and the whole use case re-runs.
//!
//! On SQLite, concurrent applies share commits (**group commit**): one task takes the writer,
//! runs the write sets of every apply waiting at that moment, each inside its own
//! `SAVEPOINT` (a refused one is rolled back alone), and commits once; each caller is answered
//! only after that commit is durable (`synchronous=FULL`). The benchmark showed commits, not
//! statements, as the unit cost of SQLite's writer (docs/benchmarks.md). On PostgreSQL each
//! apply commits on its own connection, and the daily quota counter — one hot row — is
//! incremented as the last statement so its lock is held only through `COMMIT`.

use crate::filing::{beian_date, end_of_beijing_day};
use crate::{random_id, Actor, Result, Service, ServiceError};
use beian_core::dict::Dictionaries;
use beian_core::errcode;
use beian_core::model::{AuditEvent, FaceTask, FilingOrder, MediaMeta, MiniProgram, Subject};
use beian_core::payload::ApplyPayload;
use beian_core::platform::NotifyPrefs;
use beian_core::policy::Policy;
use beian_core::rules::{self, ApplyContext, Refusal};
use beian_core::state::{self, Action, Effect, FilingState};
use beian_store::appends::{Appends, NewVersion};
use beian_store::{Store, Tx};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use crate::filing::OrderView;

/// How many times apply re-runs after losing an optimistic-concurrency race.
const RETRIES: usize = 8;

/// The most applies one group commit carries.
const MAX_GROUP: usize = 64;

/// Everything the rules look at, read together.
#[derive(Debug, Clone)]
struct ApplyRead {
    mp: MiniProgram,
    subject: Option<(Subject, i64)>,
    order: Option<FilingOrder>,
    media: HashMap<String, MediaMeta>,
    face: Option<FaceTask>,
    applies_today: u32,
    /// Channel preferences and whether a webhook is configured (for the notice).
    targets: (NotifyPrefs, bool),
}

/// One apply's write set: the payload and what it was validated against.
struct ApplyWrite {
    actor: Actor,
    appid: String,
    payload: ApplyPayload,
    now: DateTime<Utc>,
    policy: Arc<Policy>,
    dict: Arc<Dictionaries>,
    email_channel: bool,
    read: ApplyRead,
}

struct Pending {
    write: ApplyWrite,
    reply: oneshot::Sender<Result<OrderView>>,
}

/// The group-commit queue of a SQLite node (absent on PostgreSQL).
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<Pending>,
}

impl GroupCommit {
    /// Start the committer task (needs a Tokio runtime); it ends when the service is dropped.
    pub(crate) fn start(store: Store) -> GroupCommit {
        let (queue, rx) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(committer(store, rx));
        GroupCommit { queue }
    }
}

async fn committer(store: Store, mut rx: mpsc::Receiver<Pending>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.recv().await {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let results = commit_group(&store, &group).await;
        for (p, r) in group.drain(..).zip(results) {
            // A caller that went away (client disconnected) still had its apply committed.
            let _ = p.reply.send(r);
        }
    }
}

/// Run each write set in its own savepoint inside one transaction; commit once.
async fn commit_group(store: &Store, group: &[Pending]) -> Vec<Result<OrderView>> {
    let failed = |why: String| group.iter().map(|_| Err(ServiceError::Internal(why.clone()))).collect();
    let mut tx = match store.begin().await {
        Ok(tx) => tx,
        Err(e) => return failed(format!("group commit: begin: {e}")),
    };
    let mut out = Vec::with_capacity(group.len());
    let mut appends = Appends::default();
    for p in group {
        if let Err(e) = tx.savepoint().await {
            return failed(format!("group commit: savepoint: {e}"));
        }
        let mut mine = Appends::default();
        let r = match write_apply(&mut tx, &p.write, &mut mine).await {
            Ok(view) => claim_quota(&mut tx, &p.write).await.map(|()| view),
            Err(e) => Err(e),
        };
        let closed = if r.is_ok() { tx.release_savepoint().await } else { tx.rollback_to_savepoint().await };
        if let Err(e) = closed {
            return failed(format!("group commit: closing a savepoint: {e}"));
        }
        if r.is_ok() {
            appends.extend(mine);
        }
        out.push(r);
    }
    if let Err(e) = tx.insert_appends(&appends).await {
        tracing::error!("group commit of {} applies: writing their rows failed: {e}", group.len());
        return failed(format!("group commit: {e}"));
    }
    if let Err(e) = tx.commit().await {
        tracing::error!("group commit of {} applies failed: {e}", group.len());
        return failed(format!("group commit: {e}"));
    }
    out
}

/// Read what the rules need (inside any transaction: a read one before the write, the write
/// one when re-checking).
async fn read_for_apply(
    tx: &mut Tx,
    appid: &str,
    payload: &ApplyPayload,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<ApplyRead> {
    // The subject before the order: under READ COMMITTED a racing apply for this appid
    // that commits in between then shows up as "under review" (86324), not as the
    // subject's in-progress rule (86937) — one application wins either way.
    let subject = find_subject(tx, payload).await?;
    let (mp, order) = tx
        .get_mini_program_with_order(appid)
        .await?
        .ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
    let ids: Vec<&str> = payload.media_refs().into_iter().map(|(_, id)| id).collect();
    let media = tx.get_media_many(&ids).await?;
    let task_id = &payload.icp_applets.principal_info.verify_task_id;
    let face = if task_id.is_empty() { None } else { tx.get_face_task(task_id).await? };
    let applies_today = u32::try_from(tx.counter_get(&quota_key(policy, now)).await?).unwrap_or(u32::MAX);
    let targets = tx.notify_targets(appid).await?;
    Ok(ApplyRead { mp, subject, order, media, face, applies_today, targets })
}

async fn find_subject(tx: &mut Tx, payload: &ApplyPayload) -> Result<Option<(Subject, i64)>> {
    let organize = &payload.icp_subject.organize_info;
    Ok(match organize.certificate_type {
        Some(ct) if !organize.certificate_number.is_empty() => {
            tx.find_subject(ct, &organize.certificate_number).await?
        }
        _ => None,
    })
}

fn quota_key(policy: &Policy, now: DateTime<Utc>) -> String {
    format!("apply:{}", policy.quota_day(now))
}

/// The state transition and every rule, on what was read.
fn check(
    payload: &ApplyPayload,
    r: &ApplyRead,
    policy: &Policy,
    dict: &Dictionaries,
    now: DateTime<Utc>,
) -> Result<()> {
    let from = r.order.as_ref().map(|o| o.state).unwrap_or(FilingState::NotFiled);
    state::transition(from, Action::Apply)?;
    let ctx = ApplyContext {
        now,
        dict,
        policy,
        mini_program: &r.mp,
        media: &r.media,
        face_task: r.face.as_ref(),
        subject: r.subject.as_ref().map(|(s, _)| s),
        applies_today: r.applies_today,
    };
    match rules::check_apply(payload, &ctx) {
        Ok(()) => Ok(()),
        Err(Refusal::Request { errcode, errmsg }) => Err(ServiceError::Refused { errcode, errmsg }),
        Err(Refusal::Hints(h)) => Err(ServiceError::Hints(h)),
    }
}

impl Service {
    /// applyIcpFiling: run every rule, then create the order version in platform review.
    /// Answered only after the commit is durable.
    pub async fn apply(&self, actor: &Actor, appid: &str, payload: ApplyPayload) -> Result<OrderView> {
        for _ in 0..RETRIES {
            match self.try_apply(actor, appid, payload.clone()).await {
                Err(ServiceError::Conflict(m)) => tracing::debug!(appid, "apply lost a race, retrying: {m}"),
                other => return other,
            }
        }
        Err(ServiceError::code(errcode::CONFLICT))
    }

    /// Run every rule on an application without submitting it (the console shows the hints
    /// at their fields before submit). Request-level refusals come back as one hint with an
    /// empty `err_field`.
    pub async fn validate_application(
        &self,
        appid: &str,
        payload: &ApplyPayload,
    ) -> Result<Vec<beian_core::rules::Hint>> {
        let now = self.now();
        let policy = self.policy();
        let dict = self.dictionaries();
        let mut tx = self.store.read().await?;
        let read = read_for_apply(&mut tx, appid, payload, &policy, now).await?;
        let ctx = ApplyContext {
            now,
            dict: &dict,
            policy: &policy,
            mini_program: &read.mp,
            media: &read.media,
            face_task: read.face.as_ref(),
            subject: read.subject.as_ref().map(|(s, _)| s),
            applies_today: read.applies_today,
        };
        Ok(match rules::check_apply(payload, &ctx) {
            Ok(()) => Vec::new(),
            Err(Refusal::Hints(h)) => h,
            Err(Refusal::Request { errcode, errmsg }) => {
                vec![beian_core::rules::Hint { errcode, errmsg, err_field: String::new() }]
            }
        })
    }

    async fn try_apply(&self, actor: &Actor, appid: &str, payload: ApplyPayload) -> Result<OrderView> {
        let now = self.now();
        let policy = self.policy();
        let dict = self.dictionaries();
        let read = {
            let mut tx = self.store.read().await?;
            read_for_apply(&mut tx, appid, &payload, &policy, now).await?
        };
        check(&payload, &read, &policy, &dict, now)?;
        let write = ApplyWrite {
            actor: actor.clone(),
            appid: appid.to_string(),
            payload,
            now,
            policy,
            dict,
            email_channel: self.email_channel(),
            read,
        };
        match &self.group_commit {
            Some(g) => {
                let (reply, answer) = oneshot::channel();
                g.queue
                    .send(Pending { write, reply })
                    .await
                    .map_err(|_| ServiceError::Internal("the group committer has stopped".into()))?;
                answer
                    .await
                    .map_err(|_| ServiceError::Internal("the group committer dropped an apply".into()))?
            }
            None => {
                let mut tx = self.store.begin().await?;
                let mut appends = Appends::default();
                let view = write_apply(&mut tx, &write, &mut appends).await?;
                tx.insert_appends(&appends).await?;
                claim_quota(&mut tx, &write).await?;
                tx.commit().await?;
                Ok(view)
            }
        }
    }
}

/// The write set of one apply, inside the caller's transaction. The rows only ever inserted
/// (version, 站内信, jobs, audit event) go to `out`, for the caller to write with
/// [`Tx::insert_appends`] before it commits.
async fn write_apply(tx: &mut Tx, w: &ApplyWrite, out: &mut Appends) -> Result<OrderView> {
    let (appid, now, policy) = (w.appid.as_str(), w.now, &*w.policy);
    let ts = now.timestamp();
    // Re-read what another writer may have changed since the check; check again if it did.
    let subject = find_subject(tx, &w.payload).await?;
    let (mp, order) = tx
        .get_mini_program_with_order(appid)
        .await?
        .ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
    let version = |o: &Option<FilingOrder>| o.as_ref().map(|o| o.row_version);
    let same = mp == w.read.mp
        && subject.as_ref().map(|(_, v)| *v) == w.read.subject.as_ref().map(|(_, v)| *v)
        && version(&order) == version(&w.read.order);
    if !same {
        let fresh =
            ApplyRead { mp: mp.clone(), subject: subject.clone(), order: order.clone(), ..w.read.clone() };
        check(&w.payload, &fresh, policy, &w.dict, now)?;
    }
    let from = order.as_ref().map(|o| o.state).unwrap_or(FilingState::NotFiled);
    let (to, effects) = state::transition(from, Action::Apply)?;

    // The platform fills appid and name; the caller's values are never trusted.
    let mut payload = w.payload.clone();
    payload.icp_applets.base_info.appid = mp.appid.clone();
    payload.icp_applets.base_info.name = mp.name.clone();
    payload.icp_subject.base_info.record_number.clear();
    payload.icp_applets.base_info.record_number.clear();

    // Claim the subject's slot: the row version makes two racing applies collide here.
    let b = &payload.icp_subject.base_info;
    let organize = &payload.icp_subject.organize_info;
    let subject_type = b.subject_type.unwrap_or_default();
    let cert_type = organize.certificate_type.unwrap_or_default();
    let subject_id = match subject {
        Some((mut s, version)) => {
            s.in_progress += 1;
            s.subject_type = subject_type;
            s.name = b.name.clone();
            s.province = b.province.clone();
            tx.update_subject(&s, version, ts).await?;
            s.id
        }
        None => {
            let s = Subject {
                id: random_id(12),
                subject_type,
                certificate_type: cert_type,
                certificate_number: organize.certificate_number.to_uppercase(),
                name: b.name.clone(),
                province: b.province.clone(),
                filed_count: 0,
                ever_filed: false,
                in_progress: 1,
                record_number: None,
                service_seq: 0,
            };
            tx.insert_subject(&s, ts).await?;
            s.id
        }
    };

    let mut order = order.unwrap_or_else(|| FilingOrder {
        appid: appid.to_string(),
        subject_id: None,
        state: FilingState::NotFiled,
        audit_data: Vec::new(),
        subject_record_number: None,
        service_record_number: None,
        versions: 0,
        cancel_type: None,
        submitted_at: None,
        updated_at: ts,
        claimed_by: None,
        claimed_at: None,
        review_due_at: None,
        authority_round: 0,
        row_version: -1,
    });
    let is_new = order.row_version < 0;
    order.subject_id = Some(subject_id.clone());
    order.state = to;
    order.versions += 1;
    order.submitted_at = Some(ts);
    order.updated_at = ts;
    order.cancel_type = None;
    order.claimed_by = None;
    order.claimed_at = None;
    let due = beian_core::calendar::WorkCalendar::china()
        .add_working_days(beian_date(now), policy.platform_review_sla_days);
    order.review_due_at = Some(end_of_beijing_day(due));
    if effects.contains(&Effect::ClearAuditData) {
        order.audit_data.clear();
    }
    if is_new {
        tx.insert_order(&order).await?;
    } else {
        tx.update_order(&order).await?;
    }
    let version = order.versions;
    let notice = crate::notify::Notice {
        kind: "apply_submitted",
        title: "备案申请已提交，平台审核中".into(),
        body: format!(
            "平台将在{}个工作日内（{}前）完成初审；初审通过后，工信部会向负责人手机发送短信验证码。",
            policy.platform_review_sla_days,
            due.format("%Y年%m月%d日")
        ),
    };
    let (message, jobs) = crate::notify::notice_rows(
        &mp,
        w.read.targets,
        w.email_channel,
        Some(payload.icp_applets.principal_info.email.as_str()),
        &notice,
        &format!("notice:{appid}:apply:{}", order.versions),
        ts,
    )?;
    let audit = AuditEvent {
        at: ts,
        actor: w.actor.0.clone(),
        entity: beian_core::model::AuditEntity::Filing.as_str().into(),
        entity_id: appid.into(),
        action: Action::Apply.name().into(),
        detail: serde_json::json!({ "from": from.status_code(), "to": to.status_code(), "version": order.versions, "subject": subject_id }),
    };
    // The rows nothing reads back in this transaction: written with the rest of the group.
    out.versions.push(NewVersion { appid: appid.into(), version, payload, at: ts, actor: w.actor.0.clone() });
    out.messages.push(message);
    out.jobs.extend(jobs);
    out.audit.push(audit);
    order.row_version = if is_new { 0 } else { order.row_version + 1 };
    Ok(OrderView { status: order.state.status_code(), order })
}

/// Count the apply against the day's quota, refusing it past the limit. The last statement
/// before the rows are final: on PostgreSQL this row is shared by every apply of the day,
/// and its lock is held from here to COMMIT.
async fn claim_quota(tx: &mut Tx, w: &ApplyWrite) -> Result<()> {
    let (now, policy) = (w.now, &*w.policy);
    let used = tx.counter_add(&quota_key(policy, now), 1).await?;
    if used > i64::from(policy.daily_apply_quota) {
        return Err(ServiceError::refused(
            errcode::DAILY_QUOTA,
            format!("今日备案申请提交次数已达上限，请于次日{:02}:00后再提交", policy.quota_reset_hour),
        ));
    }
    Ok(())
}
