//! The regional rule table as a use case: load the latest version at start (seeding the
//! built-in table as version 1), read it for every apply, publish a new version (validated
//! against the current dictionaries, audited), list the versions.
//!
//! Each node keeps the table in memory; before an apply or a pre-check it asks the database
//! for a newer version at most every [`RULES_FRESH_SECS`] (another node may have published
//! one). The rules engine refuses only at submission, so a new version applies to new
//! submissions only (docs/rules.md).

use crate::{audit, Actor, Result, Service, ServiceError};
use beian_core::dict::Dictionaries;
use beian_core::model::{AuditAction, AuditEntity};
use beian_core::rule_table::RuleTable;
use beian_store::settings::RuleTableVersion;
use beian_store::Tx;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a node trusts its rule table before it asks the database for a newer version.
pub const RULES_FRESH_SECS: u64 = 5;

/// When this node last compared its rule table with the database (never: `None`).
#[derive(Default)]
pub(crate) struct Freshness(Mutex<Option<Instant>>);

impl Freshness {
    /// Whether a check is due, marking it done now if so.
    fn due(&self) -> bool {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(RULES_FRESH_SECS));
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}

/// Load the latest stored table, or store the built-in one as version 1 (inside the start
/// transaction).
pub(crate) async fn load_or_seed(tx: &mut Tx, dict: &Dictionaries, now: i64) -> Result<RuleTable> {
    match tx.dictionaries().rule_tables().latest().await? {
        Some((version, json)) => RuleTable::from_json(&json, dict, version)
            .map_err(|e| ServiceError::Internal(format!("stored rule table v{version} is invalid: {e}"))),
        None => {
            let table = RuleTable::builtin();
            tx.dictionaries().rule_tables().insert(1, &table.to_json(), "seed", now).await?;
            Ok(table)
        }
    }
}

impl Service {
    /// The rule table new submissions are checked against.
    pub fn rule_table(&self) -> Arc<RuleTable> {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The rule table an application is checked against now: this node's, unless the
    /// database holds a newer version (asked at most every [`RULES_FRESH_SECS`]).
    pub(crate) async fn current_rule_table(&self) -> Result<Arc<RuleTable>> {
        let mine = self.rule_table();
        if !self.rules_freshness.due() {
            return Ok(mine);
        }
        let mut tx = self.store().read().await?;
        let latest = tx.dictionaries().rule_tables().latest_version().await?;
        if latest <= mine.version() {
            return Ok(mine);
        }
        let Some(json) = tx.dictionaries().rule_tables().get(latest).await? else { return Ok(mine) };
        drop(tx);
        match RuleTable::from_json(&json, &self.dictionaries(), latest) {
            Ok(table) => {
                let mut current = self.rules.write().unwrap_or_else(|p| p.into_inner());
                if current.version() < latest {
                    *current = Arc::new(table);
                }
                Ok(current.clone())
            }
            Err(e) => {
                // Published tables were validated; one that no longer is stays unused.
                tracing::error!(
                    "rule table v{latest} from the database is invalid here, keeping v{}: {e}",
                    mine.version()
                );
                Ok(mine)
            }
        }
    }

    /// Publish a new version of the rule table (a JSON array of rows), validated against the
    /// current dictionaries and audited; it applies to submissions from now on. Returns the
    /// new version.
    pub async fn publish_rule_table(&self, actor: &Actor, json: &str) -> Result<i64> {
        let dict = self.dictionaries();
        // Validated before the version is known; the version is set once stored.
        RuleTable::from_json(json, &dict, 0).map_err(|e| ServiceError::Refused {
            errcode: beian_core::errcode::INVALID_INPUT,
            errmsg: format!("规则表不合法：{e}"),
        })?;
        let now = self.now().timestamp();
        let mut tx = self.store().begin().await?;
        let version = tx.dictionaries().rule_tables().latest().await?.map(|(v, _)| v).unwrap_or(0) + 1;
        let table = RuleTable::from_json(json, &dict, version)
            .map_err(|e| ServiceError::Internal(format!("rule table: {e}")))?;
        tx.dictionaries().rule_tables().insert(version, &table.to_json(), &actor.0, now).await?;
        audit(
            &mut tx,
            now,
            actor,
            AuditEntity::RuleTable,
            "platform",
            AuditAction::Publish,
            serde_json::json!({ "version": version, "rows": table.rows().len() }),
        )
        .await?;
        tx.commit().await?;
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
        Ok(version)
    }

    /// The newest `limit` published versions, newest first.
    pub async fn rule_table_history(&self, limit: i64) -> Result<Vec<RuleTableVersion>> {
        let mut tx = self.store().read().await?;
        Ok(tx.dictionaries().rule_tables().history(limit).await?)
    }

    /// The JSON of one published version (the export of an older version).
    pub async fn rule_table_version(&self, version: i64) -> Result<Option<String>> {
        let mut tx = self.store().read().await?;
        Ok(tx.dictionaries().rule_tables().get(version).await?)
    }
}
