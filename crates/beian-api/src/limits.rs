//! Per-appid, per-endpoint call limits (`45011 api minute-quota reach limit`), in fixed
//! one-minute windows.
//!
//! Every call is counted in memory on the node that answers it — the hot path never waits
//! for the database. With one node (SQLite) that is the whole count. With several nodes on
//! PostgreSQL ([`RateLimiter::shared`]) a background task adds each node's new calls to the
//! shared window rows once a second ([`FLUSH_EVERY`], one batched upsert for every window
//! that had calls) and reads back the cluster's total; a node refuses once the total it last
//! read plus its own calls since reach the limit.
//!
//! The bound, for a limit L and N nodes: a node counts its own calls exactly and learns the
//! others' within two flushes (≤ 1 s for their calls to reach the table, ≤ 1 s for its own
//! flush to read them, plus a database round trip each). So the cluster admits at most L plus
//! the calls the nodes admitted in the ~2 s around the moment the shared total reached L —
//! about two seconds of the key's cluster-wide call rate — and never more than N × L a minute
//! (no node alone admits more than L). A burst that spends the quota within one flush interval
//! is the worst case. If the database cannot be reached, the unflushed calls are kept and
//! flushed later; meanwhile each node limits on what it knows (at least its own calls).

use beian_web::limits::{CounterError, Hit, LimitCounter};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often a node adds its calls to the shared count and reads the total back.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The counter scope of the API's windows.
const SCOPE: &str = "api";

/// One (appid, endpoint)'s window on this node.
#[derive(Debug, Clone, Copy)]
struct Window {
    minute: i64,
    /// Calls admitted here and not yet added to the shared count.
    pending: u64,
    /// The shared count as last read (this node's flushed calls included); 0 when not shared.
    shared: u64,
}

/// endpoint → appid → its current window (nested so that the hot path looks an appid up by
/// `&str`, without allocating a key).
type Windows = HashMap<&'static str, HashMap<String, Window>>;

struct Inner {
    limit: u32,
    windows: Mutex<Windows>,
    /// Where the counts are shared (PostgreSQL), if anywhere.
    counter: Option<Arc<dyn LimitCounter>>,
    /// One flush at a time (the background task's, or an explicit [`RateLimiter::flush`]).
    flushing: tokio::sync::Mutex<()>,
    /// Flushes completed (tests wait for the background task with it).
    flushes: tokio::sync::watch::Sender<u64>,
}

pub struct RateLimiter {
    inner: Arc<Inner>,
}

impl RateLimiter {
    /// Counted on this node only.
    pub fn new(limit: u32) -> RateLimiter {
        RateLimiter::build(limit, None)
    }

    /// Counted on this node and shared through `counter` once a second, by a task on the
    /// current Tokio runtime that ends when the limiter is dropped (without a runtime only an
    /// explicit [`RateLimiter::flush`] shares the counts).
    pub fn shared(limit: u32, counter: Arc<dyn LimitCounter>) -> RateLimiter {
        let limiter = RateLimiter::build(limit, Some(counter));
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(flush_every_second(Arc::downgrade(&limiter.inner)));
            }
            Err(_) => tracing::warn!("no runtime: API minute quotas are not shared between nodes"),
        }
        limiter
    }

    fn build(limit: u32, counter: Option<Arc<dyn LimitCounter>>) -> RateLimiter {
        RateLimiter {
            inner: Arc::new(Inner {
                limit,
                windows: Mutex::new(HashMap::new()),
                counter,
                flushing: tokio::sync::Mutex::new(()),
                flushes: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    /// Count a call at `now` (unix seconds); false when the minute's quota is spent.
    pub fn allow(&self, appid: &str, api: &'static str, now: i64) -> bool {
        if self.inner.limit == 0 {
            return true;
        }
        let minute = now.div_euclid(60);
        let mut w = self.inner.windows.lock().unwrap_or_else(|p| p.into_inner());
        let per_api = w.entry(api).or_default();
        if per_api.len() > 100_000 {
            per_api.retain(|_, e| e.minute == minute);
        }
        let fresh = Window { minute, pending: 0, shared: 0 };
        let entry = match per_api.get_mut(appid) {
            Some(e) => e,
            None => per_api.entry(appid.to_string()).or_insert(fresh),
        };
        if entry.minute != minute {
            *entry = fresh;
        }
        if entry.shared.saturating_add(entry.pending) >= u64::from(self.inner.limit) {
            return false;
        }
        entry.pending += 1;
        true
    }

    /// Add this node's calls since the last flush to the shared count now and read the
    /// totals back (a no-op when not shared).
    pub async fn flush(&self) -> Result<(), CounterError> {
        flush(&self.inner).await
    }

    /// Flushes completed so far (changes after each).
    pub fn flushes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.flushes.subscribe()
    }
}

async fn flush_every_second(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if let Err(e) = flush(&inner).await {
            tracing::warn!("sharing API minute quotas: {}", e.0);
        }
    }
}

async fn flush(inner: &Inner) -> Result<(), CounterError> {
    let Some(counter) = &inner.counter else {
        return Ok(());
    };
    let _one = inner.flushing.lock().await;
    // What to add: every window with calls since the last flush. Windows of an ended minute
    // are added too (harmless) and then forgotten.
    let batch: Vec<((String, &'static str), Window)> = {
        let mut w = inner.windows.lock().unwrap_or_else(|p| p.into_inner());
        let latest = w.values().flat_map(|m| m.values()).map(|e| e.minute).max().unwrap_or(0);
        for m in w.values_mut() {
            m.retain(|_, e| e.minute == latest || e.pending > 0);
        }
        w.iter()
            .flat_map(|(api, m)| m.iter().map(move |(appid, e)| ((appid.clone(), *api), *e)))
            .filter(|(_, e)| e.pending > 0)
            .collect()
    };
    if !batch.is_empty() {
        let hits = batch
            .iter()
            .map(|((appid, api), e)| Hit {
                scope: SCOPE,
                key: format!("{appid}/{api}"),
                window_start: e.minute * 60,
                window_secs: 60,
                n: e.pending,
            })
            .collect();
        let totals = counter.add_and_read(hits).await?;
        let mut w = inner.windows.lock().unwrap_or_else(|p| p.into_inner());
        for (((appid, api), sent), total) in batch.into_iter().zip(totals) {
            if let Some(e) = w.get_mut(api).and_then(|m| m.get_mut(&appid)) {
                // A window that moved on meanwhile keeps its own calls.
                if e.minute == sent.minute {
                    e.pending = e.pending.saturating_sub(sent.pending);
                    e.shared = e.shared.max(total);
                }
            }
        }
    }
    inner.flushes.send_modify(|n| *n += 1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use beian_web::limits::MemoryCounter;

    #[test]
    fn counts_per_appid_endpoint_and_minute() {
        let l = RateLimiter::new(2);
        assert!(l.allow("wx1", "a", 60) && l.allow("wx1", "a", 61));
        assert!(!l.allow("wx1", "a", 119), "the minute's quota is spent");
        assert!(l.allow("wx1", "b", 119) && l.allow("wx2", "a", 119), "other endpoints and appids");
        assert!(l.allow("wx1", "a", 120), "the next minute");
    }

    #[tokio::test]
    async fn a_flush_adds_the_calls_and_reads_the_total_back() {
        // Two limiters over one counter stand for two nodes over one database.
        let counter: Arc<dyn LimitCounter> = Arc::new(MemoryCounter::default());
        let (a, b) = (RateLimiter::shared(10, counter.clone()), RateLimiter::shared(10, counter));
        assert!((0..6).all(|_| a.allow("wx1", "x", 60)));
        a.flush().await.expect("flush");
        // b has not flushed: it knows only its own calls.
        assert!((0..6).all(|_| b.allow("wx1", "x", 61)));
        b.flush().await.expect("flush");
        assert!(!b.allow("wx1", "x", 62), "b read the total (12)");
        a.flush().await.expect("nothing new to add");
        assert!(a.allow("wx1", "x", 62), "a has not read b's calls yet");
        a.flush().await.expect("flush");
        assert!(!a.allow("wx1", "x", 63), "a read the total (13)");
        assert!(a.allow("wx1", "x", 120) && b.allow("wx1", "x", 120), "the next minute");
    }
}
