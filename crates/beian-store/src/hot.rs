//! Reads on the hottest paths, each one statement on the read pool without `BEGIN`/`ROLLBACK`.
//!
//! A single statement sees one consistent snapshot on both databases, so joining what a
//! request needs into one query is as consistent as a read transaction and costs one round
//! trip instead of several (on SQLite each statement, `BEGIN` and `ROLLBACK` is a hand-off to
//! the driver's worker thread: the benchmark showed those hand-offs, not SQLite, dominating
//! `get_icp_entrance_info`). See docs/benchmarks.md.

use crate::platform::token_from_row;
use crate::tx::{mini_program_from_row_as, order_from_row};
use crate::{Crypto, Result, Store, StoreError, Tx};
use beian_core::model::{AuditItem, FilingOrder, MiniProgram};
use beian_core::platform::{scopes_from_string, Authorization, TokenRecord};
use beian_core::state::{FilingState, ReadinessFlags};
use sqlx::any::AnyRow;
use sqlx::Row;

/// A mini program (columns prefixed `m_`) and its order (unprefixed, NULL without one).
const MINI_PROGRAM_WITH_ORDER: &str = "SELECT o.*, m.appid AS m_appid, m.name AS m_name, \
     m.admin_name AS m_admin_name, m.admin_id_enc AS m_admin_id_enc, m.admin_mobile_enc AS m_admin_mobile_enc, \
     m.basic_info_filled AS m_basic_info_filled, m.category_filled AS m_category_filled, \
     m.certified AS m_certified, m.listed AS m_listed, m.cleared AS m_cleared, m.created_at AS m_created_at \
     FROM mini_programs m LEFT JOIN filing_orders o ON o.appid = m.appid WHERE m.appid = $1";

fn mini_program_with_order_from_row(
    crypto: &Crypto,
    r: &AnyRow,
) -> Result<(MiniProgram, Option<FilingOrder>)> {
    let mp = mini_program_from_row_as(crypto, r, "m_")?;
    let order = match r.try_get::<Option<i64>, _>("status")? {
        Some(_) => Some(order_from_row(r)?),
        None => None,
    };
    Ok((mp, order))
}

impl Tx {
    /// A mini program and its filing order in one statement.
    pub async fn get_mini_program_with_order(
        &mut self,
        appid: &str,
    ) -> Result<Option<(MiniProgram, Option<FilingOrder>)>> {
        let row = sqlx::query(MINI_PROGRAM_WITH_ORDER).bind(appid).fetch_optional(&mut *self.tx).await?;
        row.map(|r| mini_program_with_order_from_row(&self.crypto, &r)).transpose()
    }
}

/// What `get_icp_entrance_info` needs of a mini program and its order, and nothing else (no
/// decryption, no payloads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntranceRow {
    pub name: String,
    pub flags: ReadinessFlags,
    /// The order's state and audit data, if it ever applied.
    pub order: Option<(FilingState, Vec<AuditItem>)>,
}

/// How long an entrance row read on this node is answered from memory. Writes on this node
/// remove the rows they change when they commit; a write on another node shows after at most
/// this long.
pub const ENTRANCE_CACHE_MILLIS: u64 = 2000;

/// How long a cached entry for `key` stays fresh: between half and all of `max`, spread by a
/// hash of the key. Entries cached together (a node's first seconds, a provider polling all
/// its mini programs) would otherwise expire in the same instant and send all their reads to
/// the database at once — a burst the requests caught in it wait out (measured: the p99 of
/// `get_icp_entrance_info` in `scripts/bench`, docs/benchmarks.md).
pub fn spread_lifetime(max: std::time::Duration, key: &str) -> std::time::Duration {
    let h =
        key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let half = max / 2;
    half + half.mul_f64((h % 1024) as f64 / 1024.0)
}

/// Recently read [`EntranceRow`]s, for status polling (`get_icp_entrance_info`).
///
/// A row read before a write commits must not be cached after the write's invalidation: every
/// invalidation bumps `generation`, and a row is stored only if the generation is the one
/// seen before it was read.
#[derive(Debug, Default)]
pub struct EntranceCache {
    /// Each row with the instant it stops being fresh.
    rows: std::sync::Mutex<std::collections::HashMap<String, (EntranceRow, std::time::Instant)>>,
    generation: std::sync::atomic::AtomicU64,
}

impl EntranceCache {
    fn get(&self, appid: &str) -> Option<EntranceRow> {
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        rows.get(appid)
            .filter(|(_, fresh_until)| std::time::Instant::now() < *fresh_until)
            .map(|(r, _)| r.clone())
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn put(&self, appid: &str, row: EntranceRow, seen: u64) {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation() != seen {
            return;
        }
        if rows.len() >= 100_000 {
            rows.clear();
        }
        let lifetime = spread_lifetime(std::time::Duration::from_millis(ENTRANCE_CACHE_MILLIS), appid);
        rows.insert(appid.to_string(), (row, std::time::Instant::now() + lifetime));
    }
}

impl crate::tx::RowsChanged for EntranceCache {
    /// After a commit that changed these mini programs' rows.
    fn invalidate(&self, appids: &[String]) {
        if appids.is_empty() {
            return;
        }
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        for a in appids {
            rows.remove(a);
        }
    }
}

impl Store {
    /// [`EntranceRow`] of a mini program: from this node's [`EntranceCache`], or one narrow
    /// statement.
    pub async fn entrance_row(&self, appid: &str) -> Result<Option<EntranceRow>> {
        if let Some(row) = self.entrance.get(appid) {
            return Ok(Some(row));
        }
        let seen = self.entrance.generation();
        let row = self.read_entrance_row(appid).await?;
        if let Some(r) = &row {
            self.entrance.put(appid, r.clone(), seen);
        }
        Ok(row)
    }

    async fn read_entrance_row(&self, appid: &str) -> Result<Option<EntranceRow>> {
        let row = sqlx::query(
            "SELECT m.name, m.basic_info_filled, m.category_filled, m.certified, \
             o.status, o.sms_verify_status, o.is_canceling, o.audit_data \
             FROM mini_programs m LEFT JOIN filing_orders o ON o.appid = m.appid WHERE m.appid = $1",
        )
        .bind(appid)
        .fetch_optional(&self.read)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let flag = |c: &str| -> Result<bool> { Ok(r.try_get::<i64, _>(c)? != 0) };
        let flags = ReadinessFlags {
            basic_info_filled: flag("basic_info_filled")?,
            category_filled: flag("category_filled")?,
            certified: flag("certified")?,
        };
        let order = match r.try_get::<Option<i64>, _>("status")? {
            Some(status) => {
                let sms: i64 = r.try_get("sms_verify_status")?;
                let state = FilingState::from_columns(status, sms, flag("is_canceling")?)
                    .ok_or_else(|| StoreError::Corrupt(format!("filing status {status}/{sms}")))?;
                let audit: String = r.try_get("audit_data")?;
                let audit = if audit == "[]" {
                    Vec::new()
                } else {
                    serde_json::from_str(&audit)
                        .map_err(|e| StoreError::Corrupt(format!("audit_data: {e}")))?
                };
                Some((state, audit))
            }
            None => None,
        };
        Ok(Some(EntranceRow { name: r.try_get("name")?, flags, order }))
    }

    /// A token by its hash, with the authorization it acts under (provider and mini program
    /// of the token), if one exists.
    pub async fn token_with_authorization(
        &self,
        hash: &str,
    ) -> Result<Option<(TokenRecord, Option<Authorization>)>> {
        let row = sqlx::query(
            "SELECT t.*, a.scopes AS a_scopes, a.active AS a_active, a.created_at AS a_created_at, \
             a.updated_at AS a_updated_at \
             FROM tokens t LEFT JOIN authorizations a \
             ON a.component_appid = t.component_appid AND a.appid = t.appid \
             WHERE t.token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.read)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let token = token_from_row(&r)?;
        let authorization = match r.try_get::<Option<String>, _>("a_scopes")? {
            Some(scopes) => Some(Authorization {
                component_appid: token.component_appid.clone(),
                appid: token.appid.clone(),
                scopes: scopes_from_string(&scopes),
                active: r.try_get::<i64, _>("a_active")? != 0,
                created_at: r.try_get("a_created_at")?,
                updated_at: r.try_get("a_updated_at")?,
            }),
            None => None,
        };
        Ok(Some((token, authorization)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::RowsChanged;

    fn row(name: &str) -> EntranceRow {
        EntranceRow { name: name.into(), flags: ReadinessFlags::default(), order: None }
    }

    #[test]
    fn a_row_read_before_an_invalidation_is_not_kept() {
        let cache = EntranceCache::default();
        let seen = cache.generation();
        cache.put("wx1", row("old"), seen);
        assert_eq!(cache.get("wx1"), Some(row("old")));
        // A reader starts, a writer commits and invalidates, the reader stores what it read.
        let seen = cache.generation();
        cache.invalidate(&["wx1".to_string()]);
        cache.put("wx1", row("stale"), seen);
        assert_eq!(cache.get("wx1"), None, "the stale row must not be served");
        // Nothing invalidated nothing.
        cache.invalidate(&[]);
        let seen = cache.generation();
        cache.put("wx1", row("new"), seen);
        assert_eq!(cache.get("wx1"), Some(row("new")));
    }

    #[test]
    fn lifetimes_stay_within_the_bound_and_are_spread() {
        let max = std::time::Duration::from_millis(ENTRANCE_CACHE_MILLIS);
        let lifetimes: Vec<_> = (0..2000).map(|i| spread_lifetime(max, &format!("wx{i:016x}"))).collect();
        assert!(lifetimes.iter().all(|l| *l >= max / 2 && *l <= max));
        // Spread over the whole second: no tenth of it holds more than a fifth of the keys.
        let mut tenths = [0usize; 10];
        for l in &lifetimes {
            let i = ((l.as_secs_f64() - 1.0) * 10.0) as usize;
            tenths[i.min(9)] += 1;
        }
        assert!(tenths.iter().all(|&n| n > 100 && n < 400), "{tenths:?}");
        assert_eq!(spread_lifetime(max, "wx1"), spread_lifetime(max, "wx1"));
    }
}
