//! Carrying out a plan of the core's planner (`beian_core::plan`): one function writes any
//! plan inside the caller's transaction, one loop re-runs a use case that lost a race.
//!
//! [`write_plan`] decides nothing: it issues the numbers the plan names (the one shared
//! counter), writes the subject, the order and the cascade with their optimistic row
//! versions, the public-index change, the provider event, and queues the plan's jobs, notice
//! and audit events as append-only rows in `out` (the caller writes them with
//! `Tx::insert_appends`, on SQLite once per group commit). [`claim`] counts the plan's quota
//! claims; callers run it last, just before commit, so PostgreSQL holds the counter's shard
//! row only through `COMMIT`.

use crate::jobs::{new_job, JobSpec};
use crate::{Actor, Result, ServiceError};
use beian_core::errcode;
use beian_core::model::{AuditEvent, FilingOrder, MiniProgram};
use beian_core::plan::{AuthorityJob, IndexChange, OrderKind, Plan, PlanError, RowWrite, SubjectWrite};
use beian_core::platform::NotifyPrefs;
use beian_core::state::{self, FilingState};
use beian_store::appends::{Appends, NewVersion};
use beian_store::Tx;
use serde::Serialize;
use std::future::Future;

/// A filing order with the derived WeChat status code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderView {
    pub order: FilingOrder,
    pub status: i64,
}

/// How many times a use case re-runs after losing an optimistic-concurrency race.
const RETRIES: usize = 8;

/// Run `attempt` until it does not lose a race (each attempt re-reads and re-plans), at most
/// [`RETRIES`] times; then answer the conflict.
pub(crate) async fn retrying<T, F, Fut>(what: &str, appid: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    for _ in 0..RETRIES {
        match attempt().await {
            Err(ServiceError::Conflict(m)) => tracing::debug!(appid, "{what} lost a race, retrying: {m}"),
            other => return other,
        }
    }
    Err(ServiceError::code(errcode::CONFLICT))
}

impl From<PlanError> for ServiceError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Refused { errcode, errmsg } => ServiceError::Refused { errcode, errmsg },
            PlanError::Hints(h) => ServiceError::Hints(h),
            PlanError::Inconsistent(m) => ServiceError::Internal(m),
        }
    }
}

/// Who acts and what the node can deliver, for [`write_plan`].
pub(crate) struct Writer<'a> {
    pub actor: &'a Actor,
    pub mini_program: &'a MiniProgram,
    /// The e-mail channel is configured on this node.
    pub email_channel: bool,
    /// Channel preferences and "has a webhook", when already read (apply reads them before
    /// it takes the writer); read here otherwise.
    pub targets: Option<(NotifyPrefs, Option<beian_core::platform::WebhookTarget>)>,
    /// New subject and order rows go to `out` (written with the other appends) instead of
    /// being inserted at once: apply's group commit writes a whole group's in two statements.
    /// Only for plans whose later steps read neither row (no cascade, no index change).
    pub defer_inserts: bool,
}

/// Write `plan` in the caller's transaction (see the module doc); the plan's numbers are
/// issued here. Answers the order as written.
pub(crate) async fn write_plan(
    tx: &mut Tx,
    plan: &mut Plan,
    w: &Writer<'_>,
    out: &mut Appends,
) -> Result<OrderView> {
    let ts = plan.order.updated_at;
    let appid = plan.order.appid.clone();
    let defer = w.defer_inserts && plan.cascade.is_empty() && plan.index.is_none();
    match &plan.subject {
        Some(SubjectWrite::Insert(s)) if defer => out.subjects.push((s.clone(), ts)),
        Some(SubjectWrite::Insert(s)) => tx.subjects().insert(s, ts).await?,
        Some(SubjectWrite::Update { subject, expected_version }) => {
            tx.subjects().update(subject, *expected_version, ts).await?
        }
        None => {}
    }
    match plan.order_write {
        RowWrite::Insert if defer => out.orders.push(plan.order.clone()),
        RowWrite::Insert => tx.orders().insert(&plan.order).await?,
        RowWrite::Update { .. } => tx.orders().update(&plan.order).await?,
    }
    for other in &plan.cascade {
        tx.orders().update(other).await?;
    }
    if plan.from.change().is_some() && plan.to.is_filed() {
        clear_principal_change_if_admin(tx, &plan.order, w.mini_program).await?;
    }
    // The public query index follows the numbers, after the order rows are written.
    match plan.index {
        Some(IndexChange::Add) => crate::query::index_filed(tx, &appid, ts).await?,
        Some(IndexChange::Remove) => crate::query::unindex(tx, &appid).await?,
        None => {}
    }
    for planned in &plan.jobs {
        let spec = match planned.job {
            AuthorityJob::Submit {
                kind: OrderKind::New | OrderKind::Change | OrderKind::NewAccess,
                round,
            } => JobSpec::AuthoritySubmit { appid: appid.clone(), round },
            AuthorityJob::Cancel { kind: OrderKind::Cancel | OrderKind::CancelAccess, round } => {
                JobSpec::AuthorityCancel { appid: appid.clone(), round }
            }
            other => {
                return Err(ServiceError::Internal(format!("no authority operation for {other:?} yet")));
            }
        };
        out.jobs.push(new_job(&spec, Some(&planned.key), ts, ts)?);
    }
    if let Some(notice) = plan.notice() {
        let email = match &plan.version {
            Some(p) => Some(p.icp_applets.principal_info.email.clone()),
            None => tx
                .orders()
                .version(&appid, plan.order.versions)
                .await?
                .map(|p| p.icp_applets.principal_info.email),
        };
        let targets = match &w.targets {
            Some(t) => t.clone(),
            None => tx.notify().targets(&appid).await?,
        };
        let (message, jobs) = crate::notify::notice_rows(
            w.mini_program,
            targets,
            w.email_channel,
            email.as_deref(),
            &notice,
            ts,
        )?;
        out.messages.push(message);
        out.jobs.extend(jobs);
    }
    if let Some(result) = &plan.provider_result {
        let mut fields = vec![
            ("authorizer_appid".into(), appid.clone(), false),
            ("beian_status".into(), result.beian_status.to_string(), true),
        ];
        fields.extend(
            result.extra.iter().map(|(name, value, numeric)| (name.to_string(), value.clone(), *numeric)),
        );
        crate::providers::notify_providers(tx, &appid, result.event, fields, Some(&result.key), ts).await?;
    }
    out.audit.extend(plan.audit().into_iter().map(|a| AuditEvent {
        at: ts,
        actor: w.actor.0.clone(),
        entity: a.entity.as_str().into(),
        entity_id: a.entity_id,
        action: a.action.as_str().into(),
        detail: a.detail,
    }));
    // The version is written once; moved out of the plan rather than copied.
    if let Some(payload) = plan.version.take() {
        out.versions.push(NewVersion {
            appid: appid.clone(),
            version: plan.order.versions,
            payload,
            sealed: None,
            at: ts,
            actor: w.actor.0.clone(),
        });
    }
    let mut order = plan.order.clone();
    order.row_version = plan.written_version();
    let status = match order.state {
        FilingState::NotFiled => state::not_filed_code(w.mini_program.flags),
        s => s.status_code(),
    };
    Ok(OrderView { order, status })
}

/// Count the plan's claims (the day's apply quota), refusing past a limit, exactly under
/// concurrency (`beian_store::settings::Counters::claim`: sharded on PostgreSQL). Run last.
pub(crate) async fn claim(tx: &mut Tx, plan: &Plan) -> Result<()> {
    for c in &plan.claims {
        if !tx.counters().claim(&c.key, c.limit).await? {
            return Err(ServiceError::refused(c.errcode, c.errmsg.clone()));
        }
    }
    Ok(())
}

/// An approved change whose record names the admin as principal ends 负责人须变更
/// (`beian-service/src/host.rs` marks it).
async fn clear_principal_change_if_admin(tx: &mut Tx, order: &FilingOrder, mp: &MiniProgram) -> Result<()> {
    if tx.host_events().principal_change(&order.appid).await?.is_none() {
        return Ok(());
    }
    let record = tx.orders().version(&order.appid, record_version(order)).await?;
    if record.is_some_and(|p| p.icp_applets.principal_info.certificate_number == mp.admin.id_number) {
        tx.host_events().clear_principal_change(&order.appid).await?;
    }
    Ok(())
}

/// The version that is the filed record of `order` (its latest for rows filed before the
/// record was tracked apart).
pub(crate) fn record_version(order: &FilingOrder) -> u32 {
    if order.filed_version > 0 {
        order.filed_version
    } else {
        order.versions
    }
}
