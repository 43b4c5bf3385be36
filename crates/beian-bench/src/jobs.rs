//! The job backlog of the apply scenario (issue 19): every apply queues jobs (the authority
//! hand-off, the SMS / e-mail / webhook copies of its notice, provider events). Sampled while
//! the applies run and after, through a second connection to the server's database (reads
//! only), until the worker has caught up or the drain window ends.

use crate::stats::{Scenario, Verdict};
use beian_store::{Crypto, Store};
use std::time::{Duration, Instant};

/// How often the backlog is read.
const EVERY: Duration = Duration::from_millis(500);

/// Read-only view of the server's queue.
pub struct Queue {
    store: Store,
}

/// One reading: due jobs not done, the highest job id.
async fn read(store: &Store) -> Option<(i64, i64)> {
    let now = chrono::Utc::now().timestamp();
    let mut tx = store.read().await.ok()?;
    tx.jobs().backlog(now).await.ok()
}

/// What the sampler saw during the apply window.
pub struct During {
    pub max_due: i64,
    /// Jobs enqueued during the window (job ids handed out).
    pub enqueued: i64,
    pub secs: f64,
    /// Due jobs at the end of the window.
    pub last_due: i64,
}

impl During {
    pub fn enqueue_rate(&self) -> f64 {
        self.enqueued as f64 / self.secs.max(1e-9)
    }
}

/// Sampling during the apply window: stop it with [`Sampling::finish`].
pub struct Sampling {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<During>,
}

impl Queue {
    pub async fn connect(database_url: &str, crypto: Crypto) -> anyhow::Result<Queue> {
        Ok(Queue { store: Store::connect(database_url, crypto).await? })
    }

    /// Start reading the backlog every [`EVERY`] until [`Sampling::finish`].
    pub async fn sample(&self) -> Sampling {
        let store = self.store.clone();
        let (stop, mut rx) = tokio::sync::watch::channel(false);
        let first_id = read(&store).await.map(|(_, id)| id).unwrap_or(0);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let (mut max_due, mut last_id, mut last_due) = (0, first_id, 0);
            loop {
                if let Some((due, id)) = read(&store).await {
                    max_due = max_due.max(due);
                    last_id = last_id.max(id);
                    last_due = due;
                }
                if *rx.borrow() {
                    break;
                }
                tokio::select! {
                    _ = rx.changed() => {}
                    _ = tokio::time::sleep(EVERY) => {}
                }
            }
            During { max_due, enqueued: last_id - first_id, secs: started.elapsed().as_secs_f64(), last_due }
        });
        Sampling { stop, task }
    }

    /// After the applies: wait until no job is due (`Some(seconds)`) or `limit` passes
    /// (`None`); also the due jobs left.
    pub async fn drain(&self, limit: Duration) -> (Option<f64>, i64) {
        let started = Instant::now();
        let mut due = -1;
        while started.elapsed() < limit {
            if let Some((d, _)) = read(&self.store).await {
                due = d;
                if d == 0 {
                    return (Some(started.elapsed().as_secs_f64()), 0);
                }
            }
            tokio::time::sleep(EVERY).await;
        }
        (None, due)
    }

    pub async fn close(self) {
        self.store.close().await;
    }
}

impl Sampling {
    pub async fn finish(self) -> During {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or(During { max_due: 0, enqueued: 0, secs: 0.0, last_due: 0 })
    }
}

/// The "job backlog drain" row: drained within 60 s, and the backlog during the applies never
/// more than 10 s of what they produced.
pub fn row(during: &During, drain: (Option<f64>, i64), limit: Duration) -> Scenario {
    let mut s = Scenario::new("job backlog drain", "≤ 60 s, backlog ≤ 10 s of production");
    let rate = during.enqueue_rate();
    let backlog_secs = if rate > 0.0 { during.max_due as f64 / rate } else { 0.0 };
    let (drained, left) = drain;
    s.ops = during.enqueued.max(0) as u64;
    s.secs = drained.unwrap_or(limit.as_secs_f64());
    s.throughput = drained.map(|d| during.last_due as f64 / d.max(1e-9));
    s.verdict = Verdict::of(drained.is_some_and(|d| d <= 60.0) && backlog_secs <= 10.0);
    s.note(format!(
        "during the applies: {} jobs enqueued ({rate:.0}/s), max {} due at once = {backlog_secs:.1} s of production; \
         {} due when the applies stopped",
        during.enqueued, during.max_due, during.last_due
    ));
    match drained {
        Some(d) => s.note(format!(
            "queue empty {d:.1} s after the applies stopped (ops/s = that backlog ÷ drain time)"
        )),
        None => s.note(format!("{left} jobs still due after {} s", limit.as_secs())),
    }
    if backlog_secs > 10.0 {
        s.note(format!("backlog missed by {:.1} s of production", backlog_secs - 10.0));
    }
    s
}
