//! Rate-limit counters in fixed windows that several nodes share (migration 0011): the
//! public query and failed sign-ins per client address, and the API's per-appid minute quota
//! (flushed in batches). The service decides what a count means; this module only adds and
//! reads.
//!
//! [`RateWindows::add`] is one `INSERT … ON CONFLICT … DO UPDATE SET count = count + n
//! RETURNING count` per batch (rows in key order, so two nodes adding overlapping batches lock
//! them in the same order and cannot deadlock): the count returned includes every addition
//! committed before, on any node.

use crate::{Result, Tx};
use sqlx::Row;
use std::collections::BTreeMap;

/// An addition to one window's count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateHit {
    /// Which limit (`public_query`, `login_failures`, `api`).
    pub scope: &'static str,
    /// What is counted under it (a client address; `appid/endpoint`).
    pub key: String,
    /// Unix second the window starts.
    pub window_start: i64,
    /// The window's length in seconds (the row may be pruned once it has ended).
    pub window_secs: i64,
    /// How much to add; 0 only reads.
    pub n: i64,
}

/// Rows per statement: 5 parameters each, far below either database's limit.
const BATCH_ROWS: usize = 200;

type WindowKey = (&'static str, String, i64);

/// Rate-limit windows shared by every node.
pub struct RateWindows<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Rate-limit windows shared by every node.
    pub fn rate_windows(&mut self) -> RateWindows<'_> {
        RateWindows { tx: self }
    }
}

impl RateWindows<'_> {
    /// Add each hit's `n` to its window's count (the row is created on first use) and return
    /// the counts after, in the order of `hits`. Hits naming the same window are added up
    /// once, and each gets the same total.
    pub async fn add(&mut self, hits: &[RateHit]) -> Result<Vec<i64>> {
        // Sorted and unique: one row per window in a statement, locked in a fixed order.
        let mut merged: BTreeMap<WindowKey, (i64, i64)> = BTreeMap::new();
        for h in hits {
            let e = merged.entry((h.scope, h.key.clone(), h.window_start)).or_insert((0, h.window_secs));
            e.0 += h.n;
            e.1 = e.1.max(h.window_secs);
        }
        let rows: Vec<(WindowKey, (i64, i64))> = merged.into_iter().collect();
        let mut totals: BTreeMap<WindowKey, i64> = BTreeMap::new();
        for chunk in rows.chunks(BATCH_ROWS) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = i * 5;
                    format!("(${}, ${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4, p + 5)
                })
                .collect();
            let sql = format!(
                "INSERT INTO rate_windows (scope, key, window_start, expires_at, count) VALUES {} \
                 ON CONFLICT (scope, key, window_start) DO UPDATE SET count = rate_windows.count + excluded.count \
                 RETURNING scope, key, window_start, count",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for ((scope, key, start), (n, secs)) in chunk {
                q = q.bind(*scope).bind(key.as_str()).bind(*start).bind(start.saturating_add(*secs)).bind(*n);
            }
            for r in q.fetch_all(&mut *self.tx.conn).await? {
                let scope: String = r.try_get("scope")?;
                let key: String = r.try_get("key")?;
                let start: i64 = r.try_get("window_start")?;
                let count: i64 = r.try_get("count")?;
                // Map the returned scope back to the caller's &'static str.
                if let Some(((s, _, _), _)) =
                    chunk.iter().find(|((s, k, w), _)| *s == scope && *k == key && *w == start)
                {
                    totals.insert((s, key, start), count);
                }
            }
        }
        hits.iter()
            .map(|h| {
                totals.get(&(h.scope, h.key.clone(), h.window_start)).copied().ok_or_else(|| {
                    crate::StoreError::Corrupt(format!("rate window {}/{} not returned", h.scope, h.key))
                })
            })
            .collect()
    }

    /// The count of one window, 0 if nothing was counted in it (reads only).
    pub async fn count(&mut self, scope: &str, key: &str, window_start: i64) -> Result<i64> {
        let count: Option<i64> = sqlx::query_scalar(
            "SELECT count FROM rate_windows WHERE scope = $1 AND key = $2 AND window_start = $3",
        )
        .bind(scope)
        .bind(key)
        .bind(window_start)
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        Ok(count.unwrap_or(0))
    }

    /// The counts of several windows in one statement, in the order asked (0 where a window
    /// has no row).
    pub async fn counts(&mut self, windows: &[(&str, &str, i64)]) -> Result<Vec<i64>> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<String> = (0..windows.len())
            .map(|i| {
                format!("(scope = ${} AND key = ${} AND window_start = ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3)
            })
            .collect();
        let sql =
            format!("SELECT scope, key, window_start, count FROM rate_windows WHERE {}", wanted.join(" OR "));
        let mut q = sqlx::query(&sql);
        for (scope, key, start) in windows {
            q = q.bind(*scope).bind(*key).bind(*start);
        }
        let rows = q.fetch_all(&mut *self.tx.conn).await?;
        let mut out = vec![0; windows.len()];
        for r in &rows {
            let (scope, key, start): (String, String, i64) =
                (r.try_get("scope")?, r.try_get("key")?, r.try_get("window_start")?);
            for (slot, w) in out.iter_mut().zip(windows) {
                if w.0 == scope && w.1 == key && w.2 == start {
                    *slot = r.try_get("count")?;
                }
            }
        }
        Ok(out)
    }

    /// Delete the windows that ended before `before` (unix second); returns how many.
    pub async fn prune(&mut self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM rate_windows WHERE expires_at < $1")
            .bind(before)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(done.rows_affected())
    }
}
