//! Rate-limit counts several nodes share (PostgreSQL): the edges' limits add to fixed windows
//! in the database (`beian_store::rate_windows`) and read the cluster's total back. Which
//! counter an edge uses is chosen by the binary: on SQLite (one node) the edges count in
//! memory and never call this.
//!
//! Windows that ended are pruned by whichever node counts next, at most once a minute per
//! node, [`PRUNE_MARGIN_SECS`] after they ended (so a node whose clock lags a little never
//! loses a window it still counts in).

use crate::aggregates::Operations;
use crate::{Result, Service};
pub use beian_store::rate_windows::RateHit;
use beian_store::Backend;
use std::sync::atomic::{AtomicI64, Ordering};

/// How long after its end a window's row is kept.
pub const PRUNE_MARGIN_SECS: i64 = 300;

/// When this node last pruned (unix second).
#[derive(Debug, Default)]
pub(crate) struct Pruning {
    last: AtomicI64,
}

impl Operations<'_> {
    /// Whether several nodes may share this database, so limits must be counted in it.
    pub fn rate_counts_shared(&self) -> bool {
        self.store().backend() == Backend::Postgres
    }

    /// Add each hit's `n` to its window and return every window's count after it, including
    /// what other nodes added (hits that only read — `n` 0 — read without writing).
    pub async fn add_rate_counts(&self, hits: &[RateHit]) -> Result<Vec<i64>> {
        let counts = if hits.iter().all(|h| h.n == 0) {
            let mut tx = self.store().read().await?;
            let mut counts = Vec::with_capacity(hits.len());
            for h in hits {
                counts.push(tx.rate_windows().count(h.scope, &h.key, h.window_start).await?);
            }
            counts
        } else {
            let mut tx = self.store().begin().await?;
            let counts = tx.rate_windows().add(hits).await?;
            tx.commit().await?;
            counts
        };
        self.prune_rate_windows().await;
        Ok(counts)
    }
}

impl Service {
    /// Delete ended windows, if this node has not in the last minute. Failures are logged:
    /// an unpruned row only takes room.
    async fn prune_rate_windows(&self) {
        let now = self.now().timestamp();
        let last = self.rate_pruning.last.load(Ordering::Relaxed);
        if now - last < 60
            || self
                .rate_pruning
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let pruned = async {
            let mut tx = self.store().begin().await?;
            let n = tx.rate_windows().prune(now - PRUNE_MARGIN_SECS).await?;
            tx.commit().await?;
            Ok::<u64, crate::ServiceError>(n)
        };
        if let Err(e) = pruned.await {
            tracing::warn!("pruning rate windows: {e}");
        }
    }
}
