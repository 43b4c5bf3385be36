//! Use cases shared by every edge of beian (WeChat-compatible API, consoles, CLI, simulator):
//! register a mini program, upload media, face tasks, apply, withdraw, review, SMS
//! verification, authority decision, cancellation, and the reads they need.
//!
//! Invariants:
//! - No SQL here: storage goes through `beian_store::Tx`; rules through `beian_core`.
//! - Every state change and its audit event commit in one transaction.
//! - The clock is injected ([`Clock`]); nothing here reads the system time directly.
//! - A lost optimistic-concurrency race is retried from scratch (re-reading and
//!   re-checking every rule); a caller sees either success or a rule's refusal.

pub mod accounts;
mod aggregates;
mod apply;
pub mod authority;
pub mod calendar;
pub mod check;
mod clock;
mod deadlines;
mod drafts;
mod error;
mod filing;
pub mod host;
pub mod identity;
pub mod jobs;
pub mod media;
pub mod members;
pub mod merchant_auth;
mod mini_programs;
pub mod notify;
mod plans;
pub mod privacy;
pub mod providers;
pub mod query;
pub mod rate_limits;
pub mod review;
mod rule_tables;
pub mod signin;
mod small_writes;
pub mod sms_limits;
pub mod staff_sessions;
pub mod webhooks;

pub use aggregates::{
    Accounts, Filings, JobQueue, Materials, MiniPrograms, Operations, Providers, PublicIndex, Review,
};
pub use clock::{Clock, ManualClock, OffsetClock, SystemClock};
pub use deadlines::SWEEP_BATCH;
pub use error::ServiceError;
pub use filing::EntranceInfo;
pub use media::MediaUpload;
pub use mini_programs::MiniProgramInput;
pub use plans::OrderView;
pub use providers::{AuthorizerTokens, Caller, ProviderCredentials};

use beian_core::dict::{DictKind, Dictionaries};
use beian_core::model::AuditAction;
use beian_core::model::AuditEvent;
use beian_core::policy::Policy;
use beian_store::{MediaStore, Store, Tx};
use chrono::{DateTime, Utc};
use std::sync::{Arc, RwLock};

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Who is acting: recorded on every audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn system() -> Actor {
        Actor("system".into())
    }
    pub fn authority() -> Actor {
        Actor("authority".into())
    }
    pub fn new(kind: &str, id: &str) -> Actor {
        Actor(format!("{kind}:{id}"))
    }
}

/// The application core. Cheap to share behind an `Arc`.
pub struct Service {
    store: Store,
    media: MediaStore,
    clock: Arc<dyn Clock>,
    dict: RwLock<Arc<Dictionaries>>,
    /// The regional rule table new submissions are checked against (see `rule_tables`).
    rules: RwLock<Arc<beian_core::rule_table::RuleTable>>,
    /// When this node last looked for a newer rule table (see `rule_tables`).
    rules_freshness: rule_tables::Freshness,
    policy: RwLock<Arc<Policy>>,
    /// Where people reach this platform (links in SMS and 站内信).
    public_url: RwLock<String>,
    /// Resolved authorizer tokens, for a few seconds (see `providers::CALLER_CACHE_SECS`).
    callers: providers::CallerCache,
    /// Bigram posting counts for the public query, for a minute (see `query::GramStats`).
    gram_stats: query::GramStats,
    /// Applies share commits, on both databases (see `apply.rs`).
    group_commit: apply::GroupCommit,
    /// The job worker's small writes, grouped on SQLite (see `small_writes`).
    small_writes: small_writes::SmallWrites,
    /// Whether e-mail can be delivered (an SMTP server is configured); without it no e-mail
    /// jobs are queued.
    email_channel: std::sync::atomic::AtomicBool,
    /// `[privacy] retention_days` (see `privacy`).
    retention_days: std::sync::atomic::AtomicU32,
    /// `[sms.limits]` (see `sms_limits`).
    sms_limits: std::sync::RwLock<sms_limits::SmsLimits>,
    /// When this node last pruned shared rate-limit windows (see `rate_limits`).
    rate_pruning: rate_limits::Pruning,
    /// Who judges face tasks (see `identity`).
    identity: Arc<dyn beian_ports::identity::IdentityProvider>,
    /// The working-day calendar in force (see `calendar`).
    calendars: calendar::Calendars,
    /// The host platform's OpenID provider, when `[oidc]` is configured (see `signin`).
    signin: RwLock<Option<Arc<dyn beian_ports::signin::SignInProvider>>>,
}

const POLICY_KEY: &str = "policy";

impl Service {
    /// Build the service: seeds the dictionaries on first start, loads the policy and the
    /// working-day calendar (built-in years and uploads; files once a directory is set).
    /// `media`: a [`beian_store::MediaFiles`] directory or an S3 bucket ([`MediaStore`]).
    pub async fn start(store: Store, media: impl Into<MediaStore>, clock: Arc<dyn Clock>) -> Result<Service> {
        let media = media.into();
        let now = clock.now().timestamp();
        let mut tx = store.begin().await?;
        let builtin = Dictionaries::builtin();
        let mut parts = Vec::new();
        for kind in DictKind::ALL {
            match tx.dictionaries().latest(kind).await? {
                Some((_, json)) => parts.push((kind, json)),
                None => {
                    let json = builtin.kind_json(kind);
                    tx.dictionaries().insert(kind, 1, &json, "seed", now).await?;
                    parts.push((kind, json));
                }
            }
        }
        let policy = match tx.settings().get(POLICY_KEY).await? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| ServiceError::Internal(format!("stored policy is unreadable: {e}")))?,
            None => Policy::default(),
        };
        let refs: Vec<(DictKind, &str)> = parts.iter().map(|(k, j)| (*k, j.as_str())).collect();
        let dict = Dictionaries::from_json(&refs)
            .map_err(|e| ServiceError::Internal(format!("stored dictionaries are invalid: {e}")))?;
        let rules = rule_tables::load_or_seed(&mut tx, &dict, now).await?;
        tx.commit().await?;
        let group_commit = apply::GroupCommit::start(store.clone());
        let svc = Service {
            calendars: calendar::Calendars::default(),
            callers: providers::CallerCache::default(),
            gram_stats: query::GramStats::default(),
            group_commit,
            small_writes: small_writes::SmallWrites::start(store.clone()),
            email_channel: std::sync::atomic::AtomicBool::new(true),
            retention_days: std::sync::atomic::AtomicU32::new(privacy::DEFAULT_RETENTION_DAYS),
            sms_limits: std::sync::RwLock::new(sms_limits::SmsLimits::default()),
            rate_pruning: rate_limits::Pruning::default(),
            identity: Arc::new(beian_ports::identity::BuiltinCheck),
            signin: RwLock::new(None),
            store,
            media,
            clock,
            dict: RwLock::new(Arc::new(dict)),
            rules: RwLock::new(Arc::new(rules)),
            rules_freshness: rule_tables::Freshness::default(),
            policy: RwLock::new(Arc::new(policy)),
            public_url: RwLock::new("http://127.0.0.1:8080".into()),
        };
        // Operators' uploads replace the built-in years from the start.
        svc.operations().reload_calendar().await?;
        Ok(svc)
    }

    /// The base URL people use to reach this platform (no trailing slash).
    pub fn set_public_url(&self, url: &str) {
        *self.public_url.write().unwrap_or_else(|p| p.into_inner()) = url.trim_end_matches('/').to_string();
    }

    /// Say whether e-mail can be delivered (the server sets this from its SMTP
    /// configuration); while false, notices queue no e-mail jobs. Default: true.
    pub fn set_email_channel(&self, available: bool) {
        self.email_channel.store(available, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn email_channel(&self) -> bool {
        self.email_channel.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn public_url(&self) -> String {
        self.public_url.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Close the database pools (at shutdown, and before a backup or restore touches files).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// One round trip to the database (health checks).
    pub async fn ping(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// Where media bytes live (backups copy them).
    pub fn media(&self) -> &MediaStore {
        &self.media
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Move the service clock forward (simulator control), audited. False if the clock is
    /// the plain system clock.
    pub async fn advance_clock(&self, actor: &Actor, d: chrono::Duration) -> Result<bool> {
        if d <= chrono::Duration::zero() || !self.clock.advance_by(d) {
            return Ok(false);
        }
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Clock,
            "simulator",
            AuditAction::Advance,
            serde_json::json!({ "seconds": d.num_seconds() }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub fn dictionaries(&self) -> Arc<Dictionaries> {
        self.dict.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replace the policy (operator action), audited.
    pub async fn set_policy(&self, actor: &Actor, policy: Policy) -> Result<()> {
        let now = self.now().timestamp();
        let json = serde_json::to_string(&policy).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let mut tx = self.store.begin().await?;
        tx.settings().put(POLICY_KEY, &json, now).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Policy,
            "platform",
            AuditAction::Update,
            serde_json::from_str(&json).unwrap_or_default(),
        )
        .await?;
        tx.commit().await?;
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
        Ok(())
    }

    /// Publish a new version of one dictionary (validated together with the others).
    pub async fn update_dictionary(&self, actor: &Actor, kind: DictKind, json: &str) -> Result<i64> {
        let current = self.dictionaries();
        let mut parts: Vec<(DictKind, String)> =
            DictKind::ALL.iter().map(|k| (*k, current.kind_json(*k))).collect();
        for p in parts.iter_mut() {
            if p.0 == kind {
                p.1 = json.to_string();
            }
        }
        let refs: Vec<(DictKind, &str)> = parts.iter().map(|(k, j)| (*k, j.as_str())).collect();
        let dict = Dictionaries::from_json(&refs).map_err(|e| ServiceError::Refused {
            errcode: beian_core::errcode::INVALID_INPUT,
            errmsg: format!("字典数据不合法：{e}"),
        })?;
        // The rule table names provinces and types of these dictionaries: it must stay valid.
        let rules = self.rule_table();
        beian_core::rule_table::RuleTable::from_json(&rules.to_json(), &dict, rules.version()).map_err(
            |e| ServiceError::Refused {
                errcode: beian_core::errcode::INVALID_INPUT,
                errmsg: format!(
                    "字典修改后当前规则表（第{}版）将不再有效，请先修改规则表：{e}",
                    rules.version()
                ),
            },
        )?;
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let version = tx.dictionaries().latest(kind).await?.map(|(v, _)| v).unwrap_or(0) + 1;
        tx.dictionaries().insert(kind, version, &dict.kind_json(kind), &actor.0, now).await?;
        audit(
            &mut tx,
            now,
            actor,
            beian_core::model::AuditEntity::Dictionary,
            kind.as_str(),
            AuditAction::Publish,
            serde_json::json!({ "version": version }),
        )
        .await?;
        tx.commit().await?;
        *self.dict.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(dict);
        Ok(version)
    }

    /// The audit trail of one entity, oldest first.
    pub async fn audit_trail(
        &self,
        entity: beian_core::model::AuditEntity,
        entity_id: &str,
    ) -> Result<Vec<AuditEvent>> {
        let mut tx = self.store.read().await?;
        Ok(tx.audit().of(entity.as_str(), entity_id).await?)
    }
}

/// Append one audit event inside the caller's transaction.
async fn audit(
    tx: &mut Tx,
    at: i64,
    actor: &Actor,
    entity: beian_core::model::AuditEntity,
    entity_id: &str,
    action: beian_core::model::AuditAction,
    detail: serde_json::Value,
) -> Result<()> {
    tx.audit()
        .append(&AuditEvent {
            at,
            actor: actor.0.clone(),
            entity: entity.as_str().into(),
            entity_id: entity_id.into(),
            action: action.as_str().into(),
            detail,
        })
        .await?;
    Ok(())
}

/// A random identifier of `n` bytes, hex encoded.
fn random_id(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// SHA-256 of a token, hex encoded: the only form in which tokens are stored.
fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}
