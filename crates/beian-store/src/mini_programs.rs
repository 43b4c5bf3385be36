//! Mini programs (小程序): their rows, the listing sweep (清退) and its progress, and the
//! dashboard's listing counts.
//!
//! Also the hottest read, `get_icp_entrance_info`'s [`EntranceRow`]: one statement on the
//! read pool without `BEGIN`/`ROLLBACK`, answered from a short-lived per-node cache. A single
//! statement sees one consistent snapshot on both databases, so joining what a request needs
//! into one query is as consistent as a read transaction and costs one round trip instead of
//! several (on SQLite each statement, `BEGIN` and `ROLLBACK` is a hand-off to the driver's
//! worker thread: the benchmark showed those hand-offs, not SQLite, dominating
//! `get_icp_entrance_info`). See docs/benchmarks.md.

use crate::orders::order_from_row;
use crate::query::ListingReadiness;
use crate::tx::b;
use crate::{Crypto, Result, Store, StoreError, Tx};
use beian_core::model::{AuditItem, FilingOrder, MiniProgram, Person};
use beian_core::platform::Sweep;
use beian_core::state::{FilingState, ReadinessFlags};
use sqlx::any::AnyRow;
use sqlx::Row;

/// Mini programs (小程序): their rows, the listing sweep (清退) and its progress.
pub struct MiniPrograms<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Mini programs (小程序): their rows, the listing sweep (清退) and its progress.
    pub fn mini_programs(&mut self) -> MiniPrograms<'_> {
        MiniPrograms { tx: self }
    }
}

impl MiniPrograms<'_> {
    /// The developer account that owns a mini program (the console's owner).
    pub async fn set_owner(&mut self, appid: &str, owner: &str, now: i64) -> Result<()> {
        self.tx.touch(appid);
        sqlx::query("UPDATE mini_programs SET owner = $2, updated_at = $3 WHERE appid = $1")
            .bind(appid)
            .bind(owner)
            .bind(now)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(())
    }

    pub async fn insert(&mut self, mp: &MiniProgram, owner: &str) -> Result<()> {
        self.tx.touch(&mp.appid);
        sqlx::query(
            "INSERT INTO mini_programs (appid, name, admin_name, admin_id_enc, admin_id_bidx, admin_mobile_enc, \
             basic_info_filled, category_filled, certified, listed, cleared, owner, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        )
        .bind(&mp.appid)
        .bind(&mp.name)
        .bind(&mp.admin.name)
        .bind(self.tx.crypto.encrypt_str(&mp.admin.id_number))
        .bind(self.tx.crypto.blind_index(&mp.admin.id_number))
        .bind(self.tx.crypto.encrypt_str(&mp.admin.mobile))
        .bind(b(mp.flags.basic_info_filled))
        .bind(b(mp.flags.category_filled))
        .bind(b(mp.flags.certified))
        .bind(b(mp.listed))
        .bind(b(mp.cleared))
        .bind(owner)
        .bind(mp.created_at)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    /// Update everything but the appid and creation time.
    pub async fn update(&mut self, mp: &MiniProgram, now: i64) -> Result<()> {
        self.tx.touch(&mp.appid);
        sqlx::query(
            "UPDATE mini_programs SET name = $2, admin_name = $3, admin_id_enc = $4, admin_id_bidx = $5, \
             admin_mobile_enc = $6, basic_info_filled = $7, category_filled = $8, certified = $9, listed = $10, \
             cleared = $11, updated_at = $12 WHERE appid = $1",
        )
        .bind(&mp.appid)
        .bind(&mp.name)
        .bind(&mp.admin.name)
        .bind(self.tx.crypto.encrypt_str(&mp.admin.id_number))
        .bind(self.tx.crypto.blind_index(&mp.admin.id_number))
        .bind(self.tx.crypto.encrypt_str(&mp.admin.mobile))
        .bind(b(mp.flags.basic_info_filled))
        .bind(b(mp.flags.category_filled))
        .bind(b(mp.flags.certified))
        .bind(b(mp.listed))
        .bind(b(mp.cleared))
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    pub async fn get(&mut self, appid: &str) -> Result<Option<MiniProgram>> {
        let row = sqlx::query("SELECT * FROM mini_programs WHERE appid = $1")
            .bind(appid)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| self.mini_program_from_row(&r)).transpose()
    }

    pub async fn list(&mut self, owner: Option<&str>, limit: i64) -> Result<Vec<MiniProgram>> {
        let rows = match owner {
            Some(o) => {
                sqlx::query("SELECT * FROM mini_programs WHERE owner = $1 ORDER BY appid LIMIT $2")
                    .bind(o)
                    .bind(limit)
                    .fetch_all(&mut *self.tx.conn)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM mini_programs ORDER BY appid LIMIT $1")
                    .bind(limit)
                    .fetch_all(&mut *self.tx.conn)
                    .await?
            }
        };
        rows.iter().map(|r| self.mini_program_from_row(r)).collect()
    }

    /// A mini program and its filing order in one statement.
    pub async fn get_with_order(
        &mut self,
        appid: &str,
    ) -> Result<Option<(MiniProgram, Option<FilingOrder>)>> {
        let row = sqlx::query(MINI_PROGRAM_WITH_ORDER).bind(appid).fetch_optional(&mut *self.tx.conn).await?;
        row.map(|r| mini_program_with_order_from_row(&self.tx.crypto, &r)).transpose()
    }

    /// What an apply is planned from, of one mini program, in one statement: the mini
    /// program and its order, its notice channels (`Notify::targets`) and the count of the
    /// capped counter `quota` (`Counters::capped_total`). `None`: no such mini program.
    pub async fn apply_facts(&mut self, appid: &str, quota: &str) -> Result<Option<ApplyFacts>> {
        let sql = format!(
            "SELECT {from_cols}, {targets}, ({total}) AS quota_total FROM {from_tables} {joins} WHERE m.appid = $1",
            from_cols = MINI_PROGRAM_WITH_ORDER_COLUMNS,
            targets = crate::messages::TARGET_COLUMNS,
            total = crate::settings::capped_total_of!("$2"),
            from_tables = MINI_PROGRAM_WITH_ORDER_TABLES,
            joins = crate::messages::target_joins("m.appid"),
        );
        let row = sqlx::query(&sql).bind(appid).bind(quota).fetch_optional(&mut *self.tx.conn).await?;
        let Some(r) = row else { return Ok(None) };
        let (mini_program, order) = mini_program_with_order_from_row(&self.tx.crypto, &r)?;
        Ok(Some(ApplyFacts {
            mini_program,
            order,
            targets: crate::messages::targets_from_row(&r)?,
            quota_total: r.try_get("quota_total")?,
        }))
    }

    /// Several mini programs with their orders in one statement (apply's group commit
    /// re-reads a whole group at once); appids not found are absent from the map.
    pub async fn get_with_order_many(
        &mut self,
        appids: &[&str],
    ) -> Result<std::collections::HashMap<String, (MiniProgram, Option<FilingOrder>)>> {
        let mut out = std::collections::HashMap::with_capacity(appids.len());
        for chunk in appids.chunks(crate::query::CHUNK) {
            let sql = format!(
                "{MINI_PROGRAM_WITH_ORDER_FROM} WHERE m.appid IN ({})",
                crate::tx::placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for a in chunk {
                q = q.bind(*a);
            }
            for r in q.fetch_all(&mut *self.tx.conn).await? {
                let (mp, order) = mini_program_with_order_from_row(&self.tx.crypto, &r)?;
                out.insert(mp.appid.clone(), (mp, order));
            }
        }
        Ok(out)
    }

    fn mini_program_from_row(&self, r: &AnyRow) -> Result<MiniProgram> {
        mini_program_from_row_as(&self.tx.crypto, r, "")
    }

    /// Listed mini programs and how many of them are unfiled; cleared ones.
    pub async fn listing_readiness(&mut self) -> Result<ListingReadiness> {
        let listed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM mini_programs WHERE listed = 1 AND cleared = 0")
                .fetch_one(&mut *self.tx.conn)
                .await?;
        let listed_unfiled: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mini_programs m LEFT JOIN filing_orders o ON o.appid = m.appid \
             WHERE m.listed = 1 AND m.cleared = 0 AND (o.status IS NULL OR o.status <> 6)",
        )
        .fetch_one(&mut *self.tx.conn)
        .await?;
        let cleared: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mini_programs WHERE cleared = 1")
            .fetch_one(&mut *self.tx.conn)
            .await?;
        Ok(ListingReadiness { listed, listed_unfiled, cleared })
    }

    /// Listed, not cleared mini programs without a filed order, after `after` (appid order).
    pub async fn listed_unfiled_after(&mut self, after: &str, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT m.appid FROM mini_programs m LEFT JOIN filing_orders o ON o.appid = m.appid \
             WHERE m.appid > $1 AND m.listed = 1 AND m.cleared = 0 AND (o.status IS NULL OR o.status <> 6) \
             ORDER BY m.appid LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?)
    }

    /// Mini programs after `after`, in appid order (for sweeps that count what they check).
    pub async fn appids_after(&mut self, after: &str, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT appid FROM mini_programs WHERE appid > $1 ORDER BY appid LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *self.tx.conn)
            .await?)
    }

    /// The next at most `limit` mini programs after `after` in appid order: how many, and the
    /// last appid (`None` when there are none).
    pub async fn appid_batch(&mut self, after: &str, limit: i64) -> Result<(u64, Option<String>)> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, MAX(appid) AS last FROM \
             (SELECT appid FROM mini_programs WHERE appid > $1 ORDER BY appid LIMIT $2) t",
        )
        .bind(after)
        .bind(limit)
        .fetch_one(&mut *self.tx.conn)
        .await?;
        Ok((u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0), r.try_get("last")?))
    }

    /// Delist (清退) every mini program in `(after, last]` that is listed and not filed and
    /// leave each a 站内信 (`title`, `body`); returns how many. Two set-based statements over
    /// the same rows in the caller's transaction, first the messages (by appid), then the
    /// rows: no appid travels to the caller and back (on SQLite each row returned was a message
    /// from the driver's thread, and each appid bound a parameter looked up by name).
    pub async fn clear_unfiled_between(
        &mut self,
        after: &str,
        last: &str,
        now: i64,
        title: &str,
        body: &str,
    ) -> Result<u64> {
        const UNFILED: &str = "appid > $1 AND appid <= $2 AND listed = 1 AND cleared = 0 \
             AND NOT EXISTS (SELECT 1 FROM filing_orders o WHERE o.appid = mini_programs.appid AND o.status = 6)";
        sqlx::query(&format!(
            "INSERT INTO messages (appid, title, body, created_at) \
             SELECT appid, $4, $5, $3 FROM mini_programs WHERE {UNFILED} ORDER BY appid"
        ))
        .bind(after)
        .bind(last)
        .bind(now)
        .bind(title)
        .bind(body)
        .execute(&mut *self.tx.conn)
        .await?;
        let done = sqlx::query(&format!(
            "UPDATE mini_programs SET listed = 0, cleared = 1, updated_at = $3 WHERE {UNFILED}"
        ))
        .bind(after)
        .bind(last)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn put_sweep(&mut self, s: &Sweep) -> Result<()> {
        sqlx::query(
            "INSERT INTO sweeps (id, started_at, finished_at, cursor_appid, checked, delisted) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET finished_at = excluded.finished_at, cursor_appid = excluded.cursor_appid, \
             checked = excluded.checked, delisted = excluded.delisted",
        )
        .bind(&s.id)
        .bind(s.started_at)
        .bind(s.finished_at)
        .bind(&s.cursor_appid)
        .bind(i64::try_from(s.checked).unwrap_or(i64::MAX))
        .bind(i64::try_from(s.delisted).unwrap_or(i64::MAX))
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    pub async fn sweep(&mut self, id: &str) -> Result<Option<Sweep>> {
        let row = sqlx::query("SELECT * FROM sweeps WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
        row.map(|r| {
            Ok(Sweep {
                id: r.try_get("id")?,
                started_at: r.try_get("started_at")?,
                finished_at: r.try_get("finished_at")?,
                cursor_appid: r.try_get("cursor_appid")?,
                checked: u64::try_from(r.try_get::<i64, _>("checked")?).unwrap_or(0),
                delisted: u64::try_from(r.try_get::<i64, _>("delisted")?).unwrap_or(0),
            })
        })
        .transpose()
    }
}

/// A mini program from a row whose columns carry the prefix `p` (e.g. `m_` in a join).
pub(crate) fn mini_program_from_row_as(crypto: &Crypto, r: &AnyRow, p: &str) -> Result<MiniProgram> {
    let c = |name: &str| format!("{p}{name}");
    let flag = |name: &str| -> Result<bool> { Ok(r.try_get::<i64, _>(c(name).as_str())? != 0) };
    Ok(MiniProgram {
        appid: r.try_get(c("appid").as_str())?,
        name: r.try_get(c("name").as_str())?,
        admin: Person {
            name: r.try_get(c("admin_name").as_str())?,
            id_number: crypto.decrypt_str(&r.try_get::<Vec<u8>, _>(c("admin_id_enc").as_str())?)?,
            mobile: crypto.decrypt_str(&r.try_get::<Vec<u8>, _>(c("admin_mobile_enc").as_str())?)?,
        },
        flags: ReadinessFlags {
            basic_info_filled: flag("basic_info_filled")?,
            category_filled: flag("category_filled")?,
            certified: flag("certified")?,
        },
        listed: flag("listed")?,
        cleared: flag("cleared")?,
        created_at: r.try_get(c("created_at").as_str())?,
    })
}

/// A mini program (columns prefixed `m_`) and its order (unprefixed, NULL without one).
/// A mini program joined with its order, without the condition.
macro_rules! mini_program_with_order_columns {
    () => {
        "o.*, m.appid AS m_appid, m.name AS m_name, \
     m.admin_name AS m_admin_name, m.admin_id_enc AS m_admin_id_enc, m.admin_mobile_enc AS m_admin_mobile_enc, \
     m.basic_info_filled AS m_basic_info_filled, m.category_filled AS m_category_filled, \
     m.certified AS m_certified, m.listed AS m_listed, m.cleared AS m_cleared, m.created_at AS m_created_at"
    };
}
macro_rules! mini_program_with_order_tables {
    () => {
        "mini_programs m LEFT JOIN filing_orders o ON o.appid = m.appid"
    };
}
macro_rules! mini_program_with_order_from {
    () => {
        concat!("SELECT ", mini_program_with_order_columns!(), " FROM ", mini_program_with_order_tables!())
    };
}
const MINI_PROGRAM_WITH_ORDER_COLUMNS: &str = mini_program_with_order_columns!();
const MINI_PROGRAM_WITH_ORDER_TABLES: &str = mini_program_with_order_tables!();
const MINI_PROGRAM_WITH_ORDER_FROM: &str = mini_program_with_order_from!();
const MINI_PROGRAM_WITH_ORDER: &str = concat!(mini_program_with_order_from!(), " WHERE m.appid = $1");

/// What [`MiniPrograms::apply_facts`] reads.
#[derive(Debug, Clone)]
pub struct ApplyFacts {
    pub mini_program: MiniProgram,
    pub order: Option<FilingOrder>,
    /// Channel preferences and the webhook's subscription.
    pub targets: (beian_core::platform::NotifyPrefs, Option<beian_core::platform::WebhookTarget>),
    /// The quota counter's count.
    pub quota_total: i64,
}

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

/// What `get_icp_entrance_info` needs of a mini program and its order, and nothing else (no
/// decryption, no payloads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntranceRow {
    pub name: String,
    pub flags: ReadinessFlags,
    /// The order's state and audit data, if it ever applied.
    pub order: Option<(FilingState, Vec<AuditItem>)>,
    /// The service number a new access (新增接入) of the order names, if any.
    pub access_number: Option<String>,
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
    let h = crate::fnv1a(key.as_bytes());
    let half = max / 2;
    half + half.mul_f64((h % 1024) as f64 / 1024.0)
}

/// Recently read [`EntranceRow`]s, for status polling (`get_icp_entrance_info`).
///
/// A row read before a write commits must not be cached after the write's invalidation: every
/// invalidation bumps `generation`, and a row is stored only if the generation is the one
/// seen before it was read.
///
/// Refresh ahead: in the last tenth of its lifetime ([`REFRESH_FROM`]), the first read of a
/// row starts one read of it in the background; that read and the ones after it are answered
/// from memory until the fresh row replaces it, so a row polled steadily is never waited for.
/// Whatever is answered was read from the database at most [`ENTRANCE_CACHE_MILLIS`] ago, as
/// before.
#[derive(Debug, Default)]
pub struct EntranceCache {
    rows: std::sync::Mutex<std::collections::HashMap<String, Cached>>,
    generation: std::sync::atomic::AtomicU64,
}

/// The share of a cached row's lifetime after which a read starts its refresh. Late, so that
/// a polled row is read from the database hardly more often than without refreshing ahead
/// (from half its lifetime it was twice as often, and `get_icp_entrance_info` lost a fifth of
/// its throughput in `scripts/bench`); the last tenth (at least 100 ms) is ample for one read.
const REFRESH_FROM: f64 = 0.9;

#[derive(Debug)]
struct Cached {
    row: EntranceRow,
    /// From here on a read starts a refresh.
    refresh_from: std::time::Instant,
    /// Here the row stops being answered.
    fresh_until: std::time::Instant,
    /// A refresh is under way.
    refreshing: bool,
}

/// What the cache holds for a read.
#[derive(Debug, PartialEq)]
enum Lookup {
    Fresh(EntranceRow),
    /// Answer this; the caller refreshes it in the background (no one else will).
    RefreshDue(EntranceRow),
    Miss,
}

impl EntranceCache {
    fn get(&self, appid: &str) -> Lookup {
        let now = std::time::Instant::now();
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        match rows.get_mut(appid) {
            Some(c) if now < c.refresh_from || (c.refreshing && now < c.fresh_until) => {
                Lookup::Fresh(c.row.clone())
            }
            Some(c) if now < c.fresh_until => {
                c.refreshing = true;
                Lookup::RefreshDue(c.row.clone())
            }
            _ => Lookup::Miss,
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Store a row read when the generation was `seen`. Nothing is stored if a commit
    /// invalidated rows since, or when the read found nothing or failed (`None`); a refresh
    /// under way then ends, and the next read late in the lifetime tries again.
    fn put(&self, appid: &str, row: Option<EntranceRow>, seen: u64) {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let row = match row {
            Some(row) if self.generation() == seen => row,
            _ => {
                if let Some(c) = rows.get_mut(appid) {
                    c.refreshing = false;
                }
                return;
            }
        };
        if rows.len() >= 100_000 {
            rows.clear();
        }
        let lifetime = spread_lifetime(std::time::Duration::from_millis(ENTRANCE_CACHE_MILLIS), appid);
        let now = std::time::Instant::now();
        let cached = Cached {
            row,
            refresh_from: now + lifetime.mul_f64(REFRESH_FROM),
            fresh_until: now + lifetime,
            refreshing: false,
        };
        rows.insert(appid.to_string(), cached);
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
        match self.entrance.get(appid) {
            Lookup::Fresh(row) => Ok(Some(row)),
            Lookup::RefreshDue(row) => {
                // Without a runtime to refresh on (never under the server), read it now.
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return self.load_entrance_row(appid).await;
                };
                let (store, appid) = (self.clone(), appid.to_string());
                runtime.spawn(async move {
                    if let Err(e) = store.load_entrance_row(&appid).await {
                        tracing::warn!("refreshing the entrance row of {appid}: {e}");
                    }
                });
                Ok(Some(row))
            }
            Lookup::Miss => self.load_entrance_row(appid).await,
        }
    }

    /// Read a row from the database and remember it, unless a commit invalidated rows while
    /// it was read (a failed read ends a refresh under way).
    async fn load_entrance_row(&self, appid: &str) -> Result<Option<EntranceRow>> {
        let seen = self.entrance.generation();
        let read = self.read_entrance_row(appid).await;
        self.entrance.put(appid, read.as_ref().ok().and_then(Clone::clone), seen);
        read
    }

    async fn read_entrance_row(&self, appid: &str) -> Result<Option<EntranceRow>> {
        let row = sqlx::query(
            "SELECT m.name, m.basic_info_filled, m.category_filled, m.certified, \
             o.status, o.sms_verify_status, o.is_canceling, o.change_status, o.audit_data, o.access_number \
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
                let change: i64 = r.try_get("change_status")?;
                let state = FilingState::from_columns(status, sms, flag("is_canceling")?, change)
                    .ok_or_else(|| StoreError::Corrupt(format!("filing status {status}/{sms}/{change}")))?;
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
        let access_number = r.try_get("access_number")?;
        Ok(Some(EntranceRow { name: r.try_get("name")?, flags, order, access_number }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::RowsChanged;

    fn row(name: &str) -> EntranceRow {
        EntranceRow { name: name.into(), flags: ReadinessFlags::default(), order: None, access_number: None }
    }

    #[test]
    fn a_row_read_before_an_invalidation_is_not_kept() {
        let cache = EntranceCache::default();
        let seen = cache.generation();
        cache.put("wx1", Some(row("old")), seen);
        assert_eq!(cache.get("wx1"), Lookup::Fresh(row("old")));
        // A reader starts, a writer commits and invalidates, the reader stores what it read.
        let seen = cache.generation();
        cache.invalidate(&["wx1".to_string()]);
        cache.put("wx1", Some(row("stale")), seen);
        assert_eq!(cache.get("wx1"), Lookup::Miss, "the stale row must not be served");
        // Nothing invalidated nothing.
        cache.invalidate(&[]);
        let seen = cache.generation();
        cache.put("wx1", Some(row("new")), seen);
        assert_eq!(cache.get("wx1"), Lookup::Fresh(row("new")));
    }

    /// Late in its lifetime one read is told to refresh a row, the others are answered
    /// from memory meanwhile; a refresh that fails (or races a commit) hands the job to the
    /// next read; past its lifetime a row is not answered.
    #[test]
    fn one_refresh_at_a_time_late_in_the_lifetime() {
        let cache = EntranceCache::default();
        cache.put("wx1", Some(row("old")), cache.generation());
        let age = |cache: &EntranceCache, refresh_in: i64, expire_in: i64| {
            let now = std::time::Instant::now();
            let at = |ms: i64| {
                if ms >= 0 {
                    now + std::time::Duration::from_millis(ms.unsigned_abs())
                } else {
                    now - std::time::Duration::from_millis(ms.unsigned_abs())
                }
            };
            let mut rows = cache.rows.lock().expect("lock");
            let c = rows.get_mut("wx1").expect("cached");
            (c.refresh_from, c.fresh_until) = (at(refresh_in), at(expire_in));
        };
        age(&cache, -1, 1000);
        assert_eq!(cache.get("wx1"), Lookup::RefreshDue(row("old")));
        assert_eq!(cache.get("wx1"), Lookup::Fresh(row("old")), "one refresh at a time");
        cache.put("wx1", None, cache.generation());
        assert_eq!(cache.get("wx1"), Lookup::RefreshDue(row("old")), "the failed refresh is retried");
        let seen = cache.generation();
        cache.invalidate(&["wx2".to_string()]);
        cache.put("wx1", Some(row("raced")), seen);
        assert_eq!(
            cache.get("wx1"),
            Lookup::RefreshDue(row("old")),
            "a refresh that raced a commit is retried"
        );
        cache.put("wx1", Some(row("new")), cache.generation());
        assert_eq!(cache.get("wx1"), Lookup::Fresh(row("new")));
        age(&cache, -2, -1);
        assert_eq!(cache.get("wx1"), Lookup::Miss, "expired");
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
