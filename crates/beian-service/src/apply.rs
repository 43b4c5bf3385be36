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
//! writes every apply waiting at that moment (up to 64) and commits once; each caller is
//! answered only after that commit is durable (`synchronous=FULL`). A group is first written
//! **at once**: its mini programs, orders and subjects re-read in two statements, its new
//! subjects and orders inserted with its versions, notices, jobs and audit events in a
//! multi-row statement per table, each quota key counted once — about ten statements for the
//! group instead of seven per apply, because the one writer's time goes to statements (each
//! a round trip to SQLite's thread), not to the rows. The application versions are sealed
//! (compressed, encrypted) before an apply queues. When that cannot work — two applies of one
//! mini program or one subject in the group, a write that fails, a quota claim past its
//! limit — nothing of it is kept and the group is written the careful way: each apply in its
//! own `SAVEPOINT`, a refused one rolled back alone. The same on PostgreSQL, where each
//! apply used to commit on its own connection: there the machine's CPU — the server's and
//! PostgreSQL's backends' — was the limit, and a group's ten statements cost less than
//! seven per apply (`scripts/bench --quick --postgres`: 481–641 → 893–1,130 applies/s, server
//! CPU per apply 1.05–1.36 → 0.57–0.71 ms, docs/benchmarks.md). Other writers (another node, the consoles)
//! still commit on their own connections; the re-read and the versioned updates keep a
//! group from writing over what they changed, as for a single apply.
//!
//! The day's quota is claimed last, just before commit (`plans::claim`), exactly on both
//! backends (`beian_store::settings::Counters::claim`): on SQLite one row under the one
//! writer (a group written at once claims its applies in one statement,
//! `Counters::claim_several`); on PostgreSQL the count is spread over 16 shard rows, an apply increments one
//! (its row lock held only through `COMMIT`) and checks the sum with a margin for the claims
//! in flight on the other shards; near the limit a claim locks every shard and counts
//! exactly.

use crate::aggregates::Filings;
use crate::plans::{claim, write_plan, Writer};
use crate::small_writes::CommitCounts;
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
    /// The plan's application version, sealed before the write (compressing and encrypting
    /// it is the largest piece of CPU of an apply's write; sealing outside the group commit
    /// keeps it off the one writer). Dropped when the write plans again.
    sealed_version: Option<Vec<u8>>,
}

struct Pending {
    write: ApplyWrite,
    reply: oneshot::Sender<Result<OrderView>>,
}

/// The group-commit queue of a node.
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<Pending>,
    /// Commits made and the applies they carried (`Operations::group_commits`).
    pub(crate) counts: Arc<CommitCounts>,
}

impl GroupCommit {
    /// Start the committer; it ends when the service is dropped.
    pub(crate) fn start(store: Store) -> GroupCommit {
        let (queue, rx) = mpsc::channel(4 * MAX_GROUP);
        let counts = Arc::new(CommitCounts::default());
        match store.backend() {
            beian_store::Backend::Sqlite => crate::small_writes::spawn_committer(
                "beian-apply-commit",
                committer(store, rx, counts.clone()),
            ),
            // Its connections' sockets belong to the server's runtime.
            beian_store::Backend::Postgres => {
                tokio::spawn(committer(store, rx, counts.clone()));
            }
        }
        GroupCommit { queue, counts }
    }
}

async fn committer(store: Store, mut rx: mpsc::Receiver<Pending>, counts: Arc<CommitCounts>) {
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
        let written = results.iter().filter(|r| r.is_ok()).count();
        if written > 0 {
            counts.add(written);
        }
        for (p, r) in group.drain(..).zip(results) {
            // A caller that went away (client disconnected) still had its apply committed.
            let _ = p.reply.send(r);
        }
    }
}

/// Write a group in one transaction and commit once: all at once when that works
/// ([`commit_group_at_once`]), else each write set in its own savepoint.
async fn commit_group(store: &Store, group: &mut [Pending]) -> Vec<Result<OrderView>> {
    if let Some(results) = commit_group_at_once(store, group).await {
        return results;
    }
    commit_group_by_savepoints(store, group).await
}

/// The common case, without a savepoint per apply: the group's mini programs, orders and
/// subjects re-read in two statements, its new subjects and orders inserted in two more with
/// the other appended rows, and each quota key counted once for the group. `None` (nothing
/// written, the transaction rolled back) when the group needs the careful way: two applies
/// of one mini program or one subject, a write that failed (a lost race), a quota claim past
/// its limit — [`commit_group_by_savepoints`] then answers each apply on its own. A plan
/// refused on the re-read values is answered here: nothing of it was written.
async fn commit_group_at_once(store: &Store, group: &mut [Pending]) -> Option<Vec<Result<OrderView>>> {
    let mut appids = std::collections::HashSet::new();
    let mut certificates = std::collections::HashSet::new();
    for p in group.iter() {
        let fresh_cert = p.write.certificate().is_none_or(|c| certificates.insert(c));
        if !appids.insert(p.write.appid.as_str()) || !fresh_cert {
            return None;
        }
    }
    let appids: Vec<&str> = appids.into_iter().collect();
    let certificates: Vec<(u32, &str)> = certificates.into_iter().collect();
    let mut tx = store.begin().await.ok()?;
    let rows = tx.mini_programs().get_with_order_many(&appids).await.ok()?;
    let subjects = tx.subjects().find_many(&certificates).await.ok()?;
    let mut out = Vec::with_capacity(group.len());
    let mut appends = Appends::default();
    // Quota key → (claimed by the group, limit).
    let mut claims: HashMap<String, (i64, i64)> = HashMap::new();
    for p in group.iter_mut() {
        let w = &mut p.write;
        let Some((mp, order)) = rows.get(&w.appid).cloned() else {
            out.push(Err(ServiceError::code(errcode::UNKNOWN_APPID)));
            continue;
        };
        let subject = w.certificate().and_then(|(t, n)| subjects.get(&(t, n.to_string()))).cloned();
        let mut plan = match w.plan_for_write(&mp, subject, order) {
            Ok(plan) => plan,
            Err(e) => {
                out.push(Err(e));
                continue;
            }
        };
        let view = write_plan(&mut tx, &mut plan, &w.writer(&mp, true), &mut appends).await.ok()?;
        w.attach_sealed(&mut appends);
        for c in &plan.claims {
            claims.entry(c.key.clone()).or_insert((0, c.limit)).0 += 1;
        }
        out.push(Ok(view));
    }
    for (key, (n, limit)) in &claims {
        if !tx.counters().claim_several(key, *n, *limit).await.ok()? {
            return None;
        }
    }
    if let Err(e) = tx.insert_appends(&appends).await {
        tracing::warn!("group commit of {} applies at once: {e}; writing them one by one", group.len());
        return None;
    }
    if let Err(e) = tx.commit().await {
        tracing::warn!(
            "group commit of {} applies at once failed: {e}; writing them one by one",
            group.len()
        );
        return None;
    }
    Some(out)
}

/// Run each write set in its own savepoint inside one transaction; commit once.
async fn commit_group_by_savepoints(store: &Store, group: &mut [Pending]) -> Vec<Result<OrderView>> {
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

/// Read what the planner needs (before the write on [`beian_store::Store::reads`], each
/// statement on its own: the write re-reads the rows that may change since, and media rows
/// and face tasks do not).
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
    // The mini program, its order, its notice channels and the day's quota count together.
    let facts = tx
        .mini_programs()
        .apply_facts(appid, &plan::quota_key(policy, now))
        .await?
        .ok_or_else(|| ServiceError::code(errcode::UNKNOWN_APPID))?;
    let ids: Vec<&str> = payload.media_refs().into_iter().map(|(_, id)| id).collect();
    let media = tx.media().get_many(&ids).await?;
    let task_id = &payload.icp_applets.principal_info.verify_task_id;
    let face = if task_id.is_empty() { None } else { tx.face_tasks().get(task_id).await? };
    Ok(ApplyRead {
        mp: facts.mini_program,
        subject,
        order: facts.order,
        media,
        face,
        applies_today: u32::try_from(facts.quota_total).unwrap_or(u32::MAX),
        targets: facts.targets,
    })
}

async fn find_subject(tx: &mut Tx, payload: &ApplyPayload) -> Result<Option<(Subject, i64)>> {
    Ok(match certificate_of(payload) {
        Some((ct, number)) => tx.subjects().find(ct, number).await?,
        None => None,
    })
}

/// The certificate an application's subject is found by, if it names one.
fn certificate_of(payload: &ApplyPayload) -> Option<(u32, &str)> {
    let organize = &payload.icp_subject.organize_info;
    match organize.certificate_type {
        Some(ct) if !organize.certificate_number.is_empty() => {
            Some((ct, organize.certificate_number.as_str()))
        }
        _ => None,
    }
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
        let mut tx = self.store.reads().await?;
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
        // No transaction around these reads: the write re-reads what may change.
        let read = {
            let mut tx = self.store.reads().await?;
            read_for_apply(&mut tx, appid, &payload, &policy, now).await?
        };
        let new_subject_id = random_id(12);
        let plan = {
            let env = Env { policy: &policy, dict: &dict, calendar: &self.calendar() };
            read.plan(&payload, now, &new_subject_id, &env, &rules)?
        };
        let sealed_version = plan.version.as_ref().map(|p| self.store.seal_application(p)).transpose()?;
        let write = ApplyWrite {
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
            sealed_version,
        };
        let (reply, answer) = oneshot::channel();
        self.group_commit
            .queue
            .send(Pending { write, reply })
            .await
            .map_err(|_| ServiceError::Internal("the group committer has stopped".into()))?;
        answer.await.map_err(|_| ServiceError::Internal("the group committer dropped an apply".into()))?
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
    let mut plan = w.plan_for_write(&mp, subject, order)?;
    let view = write_plan(tx, &mut plan, &w.writer(&mp, false), out).await?;
    w.attach_sealed(out);
    Ok((view, plan))
}

impl ApplyWrite {
    /// The plan to write, given the mini program, subject and order the writer reads now: the
    /// plan made before the write if none of them changed since, else a new one.
    fn plan_for_write(
        &mut self,
        mp: &MiniProgram,
        subject: Option<(Subject, i64)>,
        order: Option<FilingOrder>,
    ) -> Result<Plan> {
        let version = |o: &Option<FilingOrder>| o.as_ref().map(|o| o.row_version);
        let same = *mp == self.read.mp
            && subject.as_ref().map(|(_, v)| *v) == self.read.subject.as_ref().map(|(_, v)| *v)
            && version(&order) == version(&self.read.order);
        // The plan is used once: taken, not copied (it holds the whole application).
        if let (true, Some(plan)) = (same, self.plan.take()) {
            return Ok(plan);
        }
        self.sealed_version = None;
        let fresh = ApplyRead { mp: mp.clone(), subject, order, ..self.read.clone() };
        let env = Env { policy: &self.policy, dict: &self.dict, calendar: &self.calendar };
        fresh.plan(&self.payload, self.now, &self.new_subject_id, &env, &self.rules)
    }

    fn writer<'a>(&'a self, mp: &'a MiniProgram, defer_inserts: bool) -> Writer<'a> {
        Writer {
            actor: &self.actor,
            mini_program: mp,
            email_channel: self.email_channel,
            targets: Some(self.read.targets.clone()),
            defer_inserts,
        }
    }

    /// Hand the version sealed before the write to the row the write queued for it (the last
    /// version in `out`, when it is this apply's).
    fn attach_sealed(&mut self, out: &mut Appends) {
        if let Some(v) = out.versions.last_mut().filter(|v| v.appid == self.appid && v.sealed.is_none()) {
            v.sealed = self.sealed_version.take();
        }
    }

    /// The certificate the application's subject is found by, if it names one.
    fn certificate(&self) -> Option<(u32, &str)> {
        certificate_of(&self.payload)
    }
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
            defer_inserts: false,
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
