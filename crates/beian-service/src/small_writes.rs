//! The job worker's own small writes, committed together on SQLite.
//!
//! Each delivered text writes a row or two of beian's own: the count against its number's
//! limits (`rate_windows`, [`crate::aggregates::JobQueue::record_sms`]) and, with the
//! development outbox as the sender, the text itself (`sms_outbox`). Written one
//! transaction each, they were a commit — an fsync — per job on SQLite's one writer, in
//! turn with the applies' group commits; with the worker running many jobs at once that
//! halved the apply rate. Here, as for applies (`apply::GroupCommit`), the writes waiting
//! at a moment share one transaction and one commit, and each caller is answered only after
//! that commit. A write that fails takes the group down to one transaction per write, so
//! it fails alone. PostgreSQL has a connection per job: each write commits on its own.

use crate::aggregates::Operations;
use crate::{Result, ServiceError};
use beian_store::rate_windows::RateHit;
use beian_store::{Store, Tx};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// What a grouping committer has done: commits, and the writes they carried (their ratio is
/// the mean group size; `/metrics` shows both).
#[derive(Debug, Default)]
pub(crate) struct CommitCounts {
    commits: AtomicU64,
    writes: AtomicU64,
}

impl CommitCounts {
    /// One commit carrying `writes` writes.
    pub(crate) fn add(&self, writes: usize) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(writes as u64, Ordering::Relaxed);
    }

    fn get(&self) -> (u64, u64) {
        (self.commits.load(Ordering::Relaxed), self.writes.load(Ordering::Relaxed))
    }
}

impl Operations<'_> {
    /// Each grouping committer of this node with its commits and the writes they carried
    /// since start: `apply` (applies, `apply.rs`; both databases) and `job_writes` (the job
    /// worker's small writes; SQLite only).
    pub fn group_commits(&self) -> Vec<(&'static str, u64, u64)> {
        let (c, w) = self.group_commit.counts.get();
        let mut out = vec![("apply", c, w)];
        if self.small_writes.queue.is_some() {
            let (c, w) = self.small_writes.counts.get();
            out.push(("job_writes", c, w));
        }
        out
    }
}

/// The most writes one commit carries.
const MAX_GROUP: usize = 256;

/// One small write.
#[derive(Debug, Clone)]
pub(crate) enum SmallWrite {
    /// Add to rate-limit windows.
    RateHits(Vec<RateHit>),
    /// Keep a text in the development outbox.
    Outbox { phone: String, text: String, at: i64 },
}

impl SmallWrite {
    async fn write(&self, tx: &mut Tx) -> Result<()> {
        match self {
            SmallWrite::RateHits(hits) => {
                tx.rate_windows().add(hits).await?;
            }
            SmallWrite::Outbox { phone, text, at } => {
                tx.outbox().insert(phone, text, *at).await?;
            }
        }
        Ok(())
    }
}

struct Pending {
    write: SmallWrite,
    reply: oneshot::Sender<Result<()>>,
}

/// Writes [`SmallWrite`]s: grouped on SQLite, one transaction each on PostgreSQL.
#[derive(Clone)]
pub(crate) struct SmallWrites {
    store: Store,
    /// SQLite: the committer's queue.
    queue: Option<mpsc::Sender<Pending>>,
    counts: Arc<CommitCounts>,
}

impl SmallWrites {
    /// Start the committer on SQLite (needs a Tokio runtime); it ends with the last handle.
    pub(crate) fn start(store: Store) -> SmallWrites {
        let counts = Arc::new(CommitCounts::default());
        let queue = match store.backend() {
            beian_store::Backend::Sqlite => {
                let (queue, rx) = mpsc::channel(4 * MAX_GROUP);
                spawn_committer("beian-small-writes", committer(store.clone(), rx, counts.clone()));
                Some(queue)
            }
            beian_store::Backend::Postgres => None,
        };
        SmallWrites { store, queue, counts }
    }

    /// Write and commit; answered once the commit is durable.
    pub(crate) async fn write(&self, write: SmallWrite) -> Result<()> {
        let Some(queue) = &self.queue else { return alone(&self.store, &write).await };
        let (reply, answer) = oneshot::channel();
        queue
            .send(Pending { write, reply })
            .await
            .map_err(|_| ServiceError::Internal("the small-write committer has stopped".into()))?;
        answer
            .await
            .map_err(|_| ServiceError::Internal("the small-write committer dropped a write".into()))?
    }
}

/// Run a grouping committer (`committer` here, `apply::committer`) on a thread of its own
/// with a single-threaded Tokio runtime, not as a task among the server's.
///
/// A committer sends a group's statements to SQLite's writer thread one after another, and
/// every answer wakes it from outside the runtime. As a task among the server's it waited
/// behind the request tasks queued on the worker it was woken onto — under the apply load the
/// writer thread was busy 30 % of the time and waited for its committer the rest, so the
/// groups took as long to commit as the tasks ahead of the committer took to run. Woken on a
/// thread that runs nothing else, it sends the next statement at once. The thread ends when
/// the committer does (every sender gone).
pub(crate) fn spawn_committer<F>(name: &str, committer: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let slot = Arc::new(std::sync::Mutex::new(Some(committer)));
    let started = tokio::runtime::Builder::new_current_thread().enable_all().build().and_then(|rt| {
        let slot = slot.clone();
        std::thread::Builder::new().name(name.to_string()).spawn(move || {
            let job = slot.lock().ok().and_then(|mut s| s.take());
            if let Some(job) = job {
                rt.block_on(job);
            }
        })
    });
    if let Err(e) = started {
        // Still a committer, as a task among the others, rather than none.
        tracing::warn!("could not start the {name} thread ({e}); committing from the server's runtime");
        if let Some(job) = slot.lock().ok().and_then(|mut s| s.take()) {
            tokio::spawn(job);
        }
    }
}

/// One write in its own transaction.
async fn alone(store: &Store, write: &SmallWrite) -> Result<()> {
    let mut tx = store.begin().await?;
    write.write(&mut tx).await?;
    tx.commit().await?;
    Ok(())
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
        if together(&store, &group).await.is_ok() {
            counts.add(group.len());
            for p in group.drain(..) {
                let _ = p.reply.send(Ok(()));
            }
            continue;
        }
        for p in group.drain(..) {
            let r = alone(&store, &p.write).await;
            if r.is_ok() {
                counts.add(1);
            }
            let _ = p.reply.send(r);
        }
    }
}

/// Every write of the group in one transaction; nothing kept when one fails.
async fn together(store: &Store, group: &[Pending]) -> Result<()> {
    let mut tx = store.begin().await?;
    // Rate hits of the whole group in one statement (windows are merged by key).
    let hits: Vec<RateHit> = group
        .iter()
        .filter_map(|p| match &p.write {
            SmallWrite::RateHits(h) => Some(h.iter().cloned()),
            SmallWrite::Outbox { .. } => None,
        })
        .flatten()
        .collect();
    if !hits.is_empty() {
        tx.rate_windows().add(&hits).await?;
    }
    // And the texts in multi-row statements.
    let texts: Vec<(&str, &str, i64)> = group
        .iter()
        .filter_map(|p| match &p.write {
            SmallWrite::Outbox { phone, text, at } => Some((phone.as_str(), text.as_str(), *at)),
            SmallWrite::RateHits(_) => None,
        })
        .collect();
    if !texts.is_empty() {
        tx.outbox().insert_many(&texts).await?;
    }
    tx.commit().await?;
    Ok(())
}
