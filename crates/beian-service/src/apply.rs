//! applyIcpFiling: plan on the read pool, then write in a short transaction.
//!
//! Apply is planned by the core like every other action (`beian_core::plan::plan_apply`: the
//! transition, every rule, the order, the subject's slot, the version, the quota claim) and
//! written by the same `plans::write_plan`. The rules need the mini program, its order, the subject with the same certificate, the
//! referenced media, the face task and the day's quota count. All of it is read and checked
//! **before** the writer is taken (on SQLite there is one writer connection for the whole
//! node). The write then re-reads only what another writer may have changed since — the
//! mini program, the subject and the order — and, if any of them differs, plans again on the
//! fresh values inside the write; media rows and face tasks never change once
//! written. A lost race surfaces as a conflict and the whole use case re-runs.
//!
//! On SQLite, concurrent applies share commits (**group commit**): one task takes the writer,
//! runs the write sets of every apply waiting at that moment, each inside its own
//! `SAVEPOINT` (a refused one is rolled back alone), and commits once; each caller is answered
//! only after that commit is durable (`synchronous=FULL`). The benchmark showed commits, not
//! statements, as the unit cost of SQLite's writer (docs/benchmarks.md). On PostgreSQL each
//! apply commits on its own connection.
//!
//! The day's quota is claimed last, just before commit (`plans::claim`), exactly on both
//! backends (`beian_store::settings::Counters::claim`): on SQLite one row under the one
//! writer; on PostgreSQL the count is spread over 16 shard rows, an apply increments one
//! (its row lock held only through `COMMIT`) and checks the sum with a margin for the claims
//! in flight on the other shards; near the limit a claim locks every shard and counts
//! exactly.

use crate::aggregates::Filings;
use crate::plans::{claim, write_plan, Writer};
use crate::{random_id, Actor, Result, Service, ServiceError};
use beian_core::dict::Dictionaries;
use beian_core::errcode;
use beian_core::model::{FaceTask, FilingOrder, MediaMeta, MiniProgram, Subject};
use beian_core::payload::ApplyPayload;
use beian_core::plan::{self, ApplyFacts, Env, Facts, Plan};
use beian_core::platform::NotifyPrefs;
use beian_core::policy::Policy;
use beian_core::rule_table::RuleTable;
use beian_store::appends::Appends;
use beian_store::{Store, Tx};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use crate::plans::OrderView;

/// The most applies one group commit carries.
const MAX_GROUP: usize = 64;

/// Everything the planner looks at, read together.
#[derive(Debug, Clone)]
struct ApplyRead {
    mp: MiniProgram,
    subject: Option<(Subject, i64)>,
    order: Option<FilingOrder>,
    media: HashMap<String, MediaMeta>,
    face: Option<FaceTask>,
    applies_today: u32,
    /// Channel preferences and whether a webhook is configured (for the notice).
    targets: (NotifyPrefs, Option<beian_core::platform::WebhookTarget>),
}

impl ApplyRead {
    /// What the planner reads, borrowed from this read.
    fn facts<'a>(&'a self, now: DateTime<Utc>, rules: &'a RuleTable) -> ApplyFacts<'a> {
        ApplyFacts {
            facts: Facts {
                latest: None,
                now,
                mini_program: &self.mp,
                order: self.order.as_ref(),
                subject: self.subject.as_ref().map(|(s, v)| (s, *v)),
                subject_orders: &[],
            },
            media: &self.media,
            face_task: self.face.as_ref(),
            applies_today: self.applies_today,
            rules,
        }
    }

    fn plan(
        &self,
        payload: &ApplyPayload,
        now: DateTime<Utc>,
        new_subject_id: &str,
        env: &Env<'_>,
        rules: &RuleTable,
    ) -> Result<Plan> {
        Ok(plan::plan_apply(payload, &self.facts(now, rules), new_subject_id, env)?)
    }

    /// The plan of a new access (新增接入) of `service_number` with this application.
    fn plan_access(
        &self,
        payload: &ApplyPayload,
        service_number: &str,
        now: DateTime<Utc>,
        new_subject_id: &str,
        env: &Env<'_>,
        rules: &RuleTable,
    ) -> Result<Plan> {
        Ok(plan::plan_access(payload, service_number, &self.facts(now, rules), new_subject_id, env)?)
    }
}

/// One apply's write set: the plan and what it was made from.
struct ApplyWrite {
    actor: Actor,
    appid: String,
    payload: ApplyPayload,
    now: DateTime<Utc>,
    policy: Arc<Policy>,
    dict: Arc<Dictionaries>,
    calendar: Arc<beian_core::calendar::WorkCalendar>,
    /// The rule table the plan was made with (a re-plan uses the same version).
    rules: Arc<RuleTable>,
    email_channel: bool,
    new_subject_id: String,
    read: ApplyRead,
    /// Taken by the write that uses it.
    plan: Option<Plan>,
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
        let results = commit_group(&store, &mut group).await;
        for (p, r) in group.drain(..).zip(results) {
            // A caller that went away (client disconnected) still had its apply committed.
            let _ = p.reply.send(r);
        }
    }
}

/// Run each write set in its own savepoint inside one transaction; commit once.
async fn commit_group(store: &Store, group: &mut [Pending]) -> Vec<Result<OrderView>> {
    let n = group.len();
    let failed = |why: String| (0..n).map(|_| Err(ServiceError::Internal(why.clone()))).collect();
    let mut tx = match store.begin().await {
        Ok(tx) => tx,
        Err(e) => return failed(format!("group commit: begin: {e}")),
    };
    let mut out = Vec::with_capacity(group.len());
    let mut appends = Appends::default();
    for p in group.iter_mut() {
        if let Err(e) = tx.savepoint().await {
            return failed(format!("group commit: savepoint: {e}"));
        }
        let mut mine = Appends::default();
        let r = match write_apply(&mut tx, &mut p.write, &mut mine).await {
            Ok((view, plan)) => claim(&mut tx, &plan).await.map(|()| view),
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

/// Read what the planner needs (inside any transaction: a read one before the write, the
/// write one when re-checking).
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
        .mini_programs()
        .get_with_order(appid)
        .await?
        .ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
    let ids: Vec<&str> = payload.media_refs().into_iter().map(|(_, id)| id).collect();
    let media = tx.media().get_many(&ids).await?;
    let task_id = &payload.icp_applets.principal_info.verify_task_id;
    let face = if task_id.is_empty() { None } else { tx.face_tasks().get(task_id).await? };
    let applies_today =
        u32::try_from(tx.counters().capped_total(&plan::quota_key(policy, now)).await?).unwrap_or(u32::MAX);
    let targets = tx.notify().targets(appid).await?;
    Ok(ApplyRead { mp, subject, order, media, face, applies_today, targets })
}

async fn find_subject(tx: &mut Tx, payload: &ApplyPayload) -> Result<Option<(Subject, i64)>> {
    let organize = &payload.icp_subject.organize_info;
    Ok(match organize.certificate_type {
        Some(ct) if !organize.certificate_number.is_empty() => {
            tx.subjects().find(ct, &organize.certificate_number).await?
        }
        _ => None,
    })
}

impl Filings<'_> {
    /// applyIcpFiling: run every rule, then create the order version in platform review.
    /// Answered only after the commit is durable.
    pub async fn apply(&self, actor: &Actor, appid: &str, payload: ApplyPayload) -> Result<OrderView> {
        crate::plans::retrying("apply", appid, || self.try_apply(actor, appid, payload.clone())).await
    }

    /// Run every rule on an application without submitting it (the console shows the hints
    /// at their fields before submit). Request-level refusals come back as one hint with an
    /// empty `err_field`.
    pub async fn validate_application(
        &self,
        appid: &str,
        payload: &ApplyPayload,
    ) -> Result<Vec<beian_core::rules::Hint>> {
        self.validate(appid, payload, None).await
    }

    /// The hints of an application (`access`: a new access of that number).
    async fn validate(
        &self,
        appid: &str,
        payload: &ApplyPayload,
        access: Option<&str>,
    ) -> Result<Vec<beian_core::rules::Hint>> {
        let now = self.now();
        let policy = self.policy();
        let dict = self.dictionaries();
        let rules = self.current_rule_table().await?;
        let mut tx = self.store.read().await?;
        let read = read_for_apply(&mut tx, appid, payload, &policy, now).await?;
        let env = Env { policy: &policy, dict: &dict, calendar: &self.calendar() };
        let planned = match access {
            Some(number) => read.plan_access(payload, number, now, "", &env, &rules),
            None => read.plan(payload, now, "", &env, &rules),
        };
        // A plan made only to check: its hints, a request-level refusal as one hint with an
        // empty `err_field`.
        Ok(match planned {
            Ok(_) => Vec::new(),
            Err(ServiceError::Hints(h)) => h,
            Err(ServiceError::Refused { errcode, errmsg }) => {
                vec![beian_core::rules::Hint { errcode, errmsg, err_field: String::new() }]
            }
            Err(e) => return Err(e),
        })
    }
}

impl Service {
    async fn try_apply(&self, actor: &Actor, appid: &str, payload: ApplyPayload) -> Result<OrderView> {
        let now = self.now();
        let policy = self.policy();
        let dict = self.dictionaries();
        let rules = self.current_rule_table().await?;
        let read = {
            let mut tx = self.store.read().await?;
            read_for_apply(&mut tx, appid, &payload, &policy, now).await?
        };
        let new_subject_id = random_id(12);
        let plan = {
            let env = Env { policy: &policy, dict: &dict, calendar: &self.calendar() };
            read.plan(&payload, now, &new_subject_id, &env, &rules)?
        };
        let mut write = ApplyWrite {
            actor: actor.clone(),
            appid: appid.to_string(),
            payload,
            now,
            policy,
            dict,
            calendar: self.calendar(),
            rules,
            email_channel: self.email_channel(),
            new_subject_id,
            read,
            plan: Some(plan),
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
                let (view, plan) = write_apply(&mut tx, &mut write, &mut appends).await?;
                tx.insert_appends(&appends).await?;
                claim(&mut tx, &plan).await?;
                tx.commit().await?;
                Ok(view)
            }
        }
    }
}

/// The write set of one apply, inside the caller's transaction: re-read what another writer
/// may have changed since the plan, plan again if it did, and write the plan (its
/// append-only rows go to `out`, which the caller writes before it commits). The caller
/// claims the plan's quota last ([`claim`]).
async fn write_apply(tx: &mut Tx, w: &mut ApplyWrite, out: &mut Appends) -> Result<(OrderView, Plan)> {
    let subject = find_subject(tx, &w.payload).await?;
    let (mp, order) = tx
        .mini_programs()
        .get_with_order(&w.appid)
        .await?
        .ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
    let version = |o: &Option<FilingOrder>| o.as_ref().map(|o| o.row_version);
    let same = mp == w.read.mp
        && subject.as_ref().map(|(_, v)| *v) == w.read.subject.as_ref().map(|(_, v)| *v)
        && version(&order) == version(&w.read.order);
    // The plan is used once: taken, not copied (it holds the whole application).
    let mut plan = if let (true, Some(plan)) = (same, w.plan.take()) {
        plan
    } else {
        let fresh = ApplyRead { mp: mp.clone(), subject, order, ..w.read.clone() };
        let env = Env { policy: &w.policy, dict: &w.dict, calendar: &w.calendar };
        fresh.plan(&w.payload, w.now, &w.new_subject_id, &env, &w.rules)?
    };
    let writer = Writer {
        actor: &w.actor,
        mini_program: &mp,
        email_channel: w.email_channel,
        targets: Some(w.read.targets.clone()),
    };
    let view = write_plan(tx, &mut plan, &writer, out).await?;
    Ok((view, plan))
}

impl Filings<'_> {
    /// 变更备案: a change of the filed record, checked like an application plus what a change
    /// may not do (`beian_core::plan::plan_change`), then in platform review beside the
    /// record, which stays filed. One transaction; retried after a lost race.
    pub async fn apply_change(&self, actor: &Actor, appid: &str, payload: ApplyPayload) -> Result<OrderView> {
        crate::plans::retrying("apply_change", appid, || self.try_apply_change(actor, appid, &payload)).await
    }
}

impl Filings<'_> {
    /// Run every rule a change (变更备案) is checked against without submitting it: the
    /// console's change wizard shows these hints. Request-level refusals (nothing changed,
    /// another province…) come back as one hint with an empty `err_field`.
    pub async fn validate_change(
        &self,
        appid: &str,
        payload: &ApplyPayload,
    ) -> Result<Vec<beian_core::rules::Hint>> {
        let mut tx = self.store.read().await?;
        Ok(match self.plan_change(&mut tx, appid, payload).await {
            Ok(_) => Vec::new(),
            Err(ServiceError::Hints(h)) => h,
            Err(ServiceError::Refused { errcode, errmsg }) => {
                vec![beian_core::rules::Hint { errcode, errmsg, err_field: String::new() }]
            }
            Err(e) => return Err(e),
        })
    }
}

impl Service {
    /// Read what a change is planned from, in `tx`, and plan it (`plan::plan_change`).
    async fn plan_change(
        &self,
        tx: &mut Tx,
        appid: &str,
        payload: &ApplyPayload,
    ) -> Result<(ApplyRead, plan::Plan)> {
        let now = self.now();
        let policy = self.policy();
        let dict = self.dictionaries();
        let rules = self.current_rule_table().await?;
        let read = read_for_apply(tx, appid, payload, &policy, now).await?;
        let from = read.order.as_ref().map(|o| o.state).unwrap_or(beian_core::state::FilingState::NotFiled);
        beian_core::state::transition(from, beian_core::state::Action::ApplyChange)
            .map_err(plan::PlanError::from)?;
        let filed = match &read.order {
            Some(o) => tx.orders().version(appid, crate::filing::record_version(o)).await?,
            None => None,
        }
        .ok_or_else(|| ServiceError::Internal(format!("filed order {appid} has no filed version")))?;
        let facts = ApplyFacts {
            facts: Facts {
                latest: None,
                now,
                mini_program: &read.mp,
                order: read.order.as_ref(),
                subject: None,
                subject_orders: &[],
            },
            media: &read.media,
            face_task: read.face.as_ref(),
            applies_today: read.applies_today,
            rules: &rules,
        };
        let env = Env { policy: &policy, dict: &dict, calendar: &self.calendar() };
        let plan = plan::plan_change(payload, &facts, &filed, &env)?;
        Ok((read, plan))
    }

    async fn try_apply_change(
        &self,
        actor: &Actor,
        appid: &str,
        payload: &ApplyPayload,
    ) -> Result<OrderView> {
        let mut tx = self.store.begin().await?;
        let (read, mut plan) = self.plan_change(&mut tx, appid, payload).await?;
        self.commit_plan(tx, &mut plan, actor, &read).await
    }
}

impl Service {
    /// Write `plan` (made from `read`) in `tx`, claim its quota last, commit.
    async fn commit_plan(
        &self,
        mut tx: Tx,
        plan: &mut Plan,
        actor: &Actor,
        read: &ApplyRead,
    ) -> Result<OrderView> {
        let writer = Writer {
            actor,
            mini_program: &read.mp,
            email_channel: self.email_channel(),
            targets: Some(read.targets.clone()),
        };
        let mut appends = Appends::default();
        let view = write_plan(&mut tx, plan, &writer, &mut appends).await?;
        tx.insert_appends(&appends).await?;
        claim(&mut tx, plan).await?;
        tx.commit().await?;
        Ok(view)
    }
}

impl Filings<'_> {
    /// 新增接入: connect a record filed through another access provider by its service number
    /// (`beian_core::plan::plan_access`: the application's rules, the number's format and
    /// province against the subject), then in platform review like an application. One
    /// transaction; retried after a lost race.
    pub async fn apply_access(
        &self,
        actor: &Actor,
        appid: &str,
        service_number: &str,
        payload: ApplyPayload,
    ) -> Result<OrderView> {
        crate::plans::retrying("apply_access", appid, || {
            self.try_apply_access(actor, appid, service_number, &payload)
        })
        .await
    }

    /// Check a new access without submitting it (the console shows the hints at their
    /// fields); request-level refusals come back as one hint with an empty `err_field`.
    pub async fn validate_access(
        &self,
        appid: &str,
        service_number: &str,
        payload: &ApplyPayload,
    ) -> Result<Vec<beian_core::rules::Hint>> {
        self.validate(appid, payload, Some(service_number)).await
    }

    async fn try_apply_access(
        &self,
        actor: &Actor,
        appid: &str,
        service_number: &str,
        payload: &ApplyPayload,
    ) -> Result<OrderView> {
        let now = self.now();
        let policy = self.policy();
        let dict = self.dictionaries();
        let rules = self.current_rule_table().await?;
        let mut tx = self.store.begin().await?;
        let read = read_for_apply(&mut tx, appid, payload, &policy, now).await?;
        let env = Env { policy: &policy, dict: &dict, calendar: &self.calendar() };
        let mut plan = read.plan_access(payload, service_number, now, &random_id(12), &env, &rules)?;
        // A service number names one service: it may not be filed here already.
        let number = service_number.trim();
        if let Some(other) = tx.public_index().exact("", number).await?.iter().find(|f| f.appid != appid) {
            return Err(ServiceError::Hints(vec![beian_core::rules::Hint {
                errcode: errcode::ACCESS_NUMBER,
                errmsg: format!("服务备案号“{number}”已在本平台属于小程序 {}，不能重复接入", other.appid),
                err_field: plan::ACCESS_NUMBER_FIELD.into(),
            }]));
        }
        self.commit_plan(tx, &mut plan, actor, &read).await
    }
}
