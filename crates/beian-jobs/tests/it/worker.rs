//! The worker runs many jobs at once, each once, on SQLite and on PostgreSQL: batched leases
//! never hand one job to two workers, and jobs of one sequence key keep their order.

use beian_core::platform::JobState;
use beian_jobs::{Channels, Worker};
use beian_ports::messaging::{SmsMessage, SmsSender};
use beian_ports::{BoxFuture, PortResult};
use beian_service::jobs::{enqueue, JobSpec};
use beian_service::{ManualClock, Service};
use beian_store::{Crypto, MediaFiles, Store};
use beian_testkit::backend::{Backend, TestDatabase, BOTH};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Env {
    svc: Arc<Service>,
    store: Store,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
    _db: TestDatabase,
}

async fn env(backend: Backend) -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDatabase::fresh(backend, dir.path(), "jobs").await;
    let store = Store::connect(&db.url, Crypto::new(&[7u8; 32])).await.expect("connect");
    store.migrate().await.expect("migrate");
    let clock = Arc::new(ManualClock::new(beian_testkit::fixtures::start_time()));
    let media = MediaFiles::new(dir.path().join("media")).expect("media dir");
    let svc = Service::start(store.clone(), media, clock.clone()).await.expect("service");
    beian_testkit::service::far_deadlines(&svc).await;
    Env { svc: Arc::new(svc), store, clock, _dir: dir, _db: db }
}

/// Records every text (per number, in order), holding each a moment so that jobs overlap,
/// and how many were being sent at once.
#[derive(Default)]
struct Sink {
    sent: Mutex<HashMap<String, Vec<String>>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    total: AtomicUsize,
}

impl SmsSender for Sink {
    fn send_sms<'a>(&'a self, m: &'a SmsMessage) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(3)).await;
            self.sent.lock().expect("lock").entry(m.phone.clone()).or_default().push(m.text.clone());
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.total.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

/// One SMS job in `tx`, due at `run_at`, with dedupe key `key`: its id, or `None` when the
/// key is already queued.
async fn enqueue_text(
    tx: &mut beian_store::Tx,
    phone: &str,
    text: &str,
    key: &str,
    run_at: i64,
    now: i64,
) -> Option<i64> {
    let spec = JobSpec::Sms { phone: phone.into(), text: text.into(), event: "test".into(), params: vec![] };
    enqueue(tx, &spec, Some(key), run_at, now).await.expect("enqueue")
}

/// `texts` SMS jobs, one transaction, each with its own dedupe key.
async fn enqueue_texts(e: &Env, texts: &[(String, String)]) {
    let now = e.svc.now().timestamp();
    let mut tx = e.store.begin().await.expect("begin");
    for (i, (phone, text)) in texts.iter().enumerate() {
        assert!(enqueue_text(&mut tx, phone, text, &format!("text:{i}"), now, now).await.is_some());
    }
    // The same keys again: nothing more is queued.
    for (i, (phone, text)) in texts.iter().enumerate().take(10) {
        assert!(enqueue_text(&mut tx, phone, text, &format!("text:{i}"), now, now).await.is_none());
    }
    tx.commit().await.expect("commit");
}

fn worker(e: &Env, sink: &Arc<Sink>, concurrency: usize) -> Worker {
    let channels = Channels { sms: sink.clone(), ..Channels::default() };
    Worker::new(e.svc.clone())
        .with_channels(channels)
        .with_concurrency(concurrency)
        .with_idle_poll(Duration::from_millis(20))
}

/// Run `workers` until the sink has `expected` texts, then stop them.
async fn run_until(workers: Vec<Worker>, sink: &Arc<Sink>, expected: usize) {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let running: Vec<_> = workers
        .into_iter()
        .map(|w| {
            let mut rx = rx.clone();
            tokio::spawn(w.run(async move {
                let _ = rx.wait_for(|s| *s).await;
            }))
        })
        .collect();
    let until = tokio::time::Instant::now() + Duration::from_secs(120);
    while sink.total.load(Ordering::SeqCst) < expected {
        assert!(
            tokio::time::Instant::now() < until,
            "{} of {expected} sent",
            sink.total.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A moment for a stray second delivery to show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).expect("stop");
    for r in running {
        tokio::time::timeout(Duration::from_secs(30), r).await.expect("the worker stops").expect("join");
    }
}

/// Every SMS job is done, none left leased or queued.
async fn all_texts_done(e: &Env, n: usize) {
    let jobs = e.svc.job_queue().jobs(None, 10_000).await.expect("jobs");
    let texts: Vec<_> = jobs.iter().filter(|j| j.kind == "sms").collect();
    assert_eq!(texts.len(), n);
    for j in texts {
        assert_eq!(j.state, JobState::Done, "job #{} {:?} {:?}", j.id, j.state, j.last_error);
        assert_eq!(j.attempts, 1, "job #{} ran once", j.id);
        assert_eq!(j.locked_by, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_runs_jobs_concurrently_each_once() {
    for backend in BOTH {
        let e = env(backend).await;
        let texts: Vec<_> = (0..500).map(|i| (format!("1380000{i:04}"), format!("text {i}"))).collect();
        enqueue_texts(&e, &texts).await;
        let sink = Arc::new(Sink::default());
        run_until(vec![worker(&e, &sink, 8)], &sink, 500).await;
        let sent = sink.sent.lock().expect("lock").clone();
        assert_eq!(sent.len(), 500, "{backend:?}: every number texted");
        assert!(sent.values().all(|v| v.len() == 1), "{backend:?}: each text sent once");
        let max = sink.max_in_flight.load(Ordering::SeqCst);
        assert!((2..=8).contains(&max), "{backend:?}: {max} texts at once (concurrency 8)");
        all_texts_done(&e, 500).await;
        e.svc.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_never_run_the_same_job() {
    for backend in BOTH {
        let e = env(backend).await;
        let texts: Vec<_> = (0..500).map(|i| (format!("1390000{i:04}"), format!("text {i}"))).collect();
        enqueue_texts(&e, &texts).await;
        let sink = Arc::new(Sink::default());
        run_until(vec![worker(&e, &sink, 8), worker(&e, &sink, 8)], &sink, 500).await;
        let sent = sink.sent.lock().expect("lock").clone();
        assert_eq!(sent.len(), 500, "{backend:?}: every number texted");
        assert!(sent.values().all(|v| v.len() == 1), "{backend:?}: each text sent once");
        all_texts_done(&e, 500).await;
        e.svc.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batched_leases_are_disjoint() {
    for backend in BOTH {
        let e = env(backend).await;
        let texts: Vec<_> = (0..400).map(|i| (format!("1370000{i:04}"), format!("text {i}"))).collect();
        enqueue_texts(&e, &texts).await;
        let tasks: Vec<_> = (0..4)
            .map(|w| {
                let svc = e.svc.clone();
                tokio::spawn(async move {
                    let name = format!("lessee-{w}");
                    let mut mine = Vec::new();
                    loop {
                        let (_, leased) =
                            svc.job_queue().complete_and_claim(&name, &[], 7).await.expect("claim");
                        if leased.is_empty() {
                            return mine;
                        }
                        for l in leased {
                            assert_eq!(l.job.locked_by.as_deref(), Some(name.as_str()));
                            mine.push(l.job.id);
                        }
                    }
                })
            })
            .collect();
        let mut seen = HashSet::new();
        let mut total = 0;
        for t in tasks {
            let ids = t.await.expect("join");
            total += ids.len();
            seen.extend(ids);
        }
        let sms = e.svc.job_queue().jobs(None, 10_000).await.expect("jobs");
        let sms_ids: HashSet<i64> = sms.iter().filter(|j| j.kind == "sms").map(|j| j.id).collect();
        assert_eq!(total, seen.len(), "{backend:?}: no job leased twice");
        assert!(sms_ids.is_subset(&seen), "{backend:?}: every job leased");
        // Completing through another lessee's name does nothing; through the holder's, all.
        let one = *sms_ids.iter().next().expect("a job");
        let holder = e.svc.job_queue().job(one).await.expect("job").and_then(|j| j.locked_by).expect("held");
        let (done, _) =
            e.svc.job_queue().complete_and_claim("someone-else", &[one], 0).await.expect("complete");
        assert!(done.is_empty(), "{backend:?}: not the holder");
        let (done, _) = e.svc.job_queue().complete_and_claim(&holder, &[one], 0).await.expect("complete");
        assert_eq!(done, vec![one]);
        e.svc.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_of_one_key_keep_their_order() {
    for backend in BOTH {
        let e = env(backend).await;
        // 30 texts to one number among 60 to others: the number's arrive in order, one at a time.
        let mut texts = Vec::new();
        for i in 0..90 {
            match i % 3 {
                0 => texts.push(("13600000000".to_string(), format!("{:02}", i / 3))),
                _ => texts.push((format!("1350000{i:04}"), format!("other {i}"))),
            }
        }
        enqueue_texts(&e, &texts).await;
        let sink = Arc::new(Sink::default());
        run_until(vec![worker(&e, &sink, 8)], &sink, 90).await;
        let sent = sink.sent.lock().expect("lock").clone();
        let ordered: Vec<String> = (0..30).map(|i| format!("{i:02}")).collect();
        assert_eq!(sent.get("13600000000"), Some(&ordered), "{backend:?}: in order");
        assert!(sink.max_in_flight.load(Ordering::SeqCst) >= 2, "{backend:?}: others ran side by side");
        all_texts_done(&e, 90).await;
        e.svc.close().await;
    }
}

/// A claim takes the earliest due jobs first, whether pending or held under a lease that has
/// ended, and never a job due later: jobs whose lessee stopped (its lease ran out) are taken
/// over before newer ones, each once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_leases_are_claimed_first_and_later_jobs_wait() {
    for backend in BOTH {
        let e = env(backend).await;
        let texts: Vec<_> = (0..20).map(|i| (format!("1330000{i:04}"), format!("text {i}"))).collect();
        enqueue_texts(&e, &texts).await;
        let later = {
            let now = e.svc.now().timestamp();
            let mut tx = e.store.begin().await.expect("begin");
            let id = enqueue_text(&mut tx, "13300009999", "later", "text:later", now + 3600, now).await;
            tx.commit().await.expect("commit");
            id.expect("queued")
        };
        let claim = |who: &'static str, n: usize| {
            let svc = e.svc.clone();
            async move {
                let (_, leased) = svc.job_queue().complete_and_claim(who, &[], n).await.expect("claim");
                leased.into_iter().map(|l| (l.job.id, l.job.attempts, l.job.locked_by)).collect::<Vec<_>>()
            }
        };
        let a = claim("a", 5).await;
        let b = claim("b", 3).await;
        assert_eq!((a.len(), b.len()), (5, 3), "{backend:?}");
        let first: Vec<i64> = a.iter().chain(&b).map(|j| j.0).collect();
        assert!(
            first.windows(2).all(|w| w[0] < w[1]),
            "{backend:?}: earliest first, no job twice: {first:?}"
        );
        // Both leases end; the next claim takes those eight back before any pending job.
        e.clock.advance(chrono::Duration::seconds(beian_service::jobs::LEASE_SECS + 1));
        let c = claim("c", 8).await;
        assert_eq!(c.iter().map(|j| j.0).collect::<Vec<_>>(), first, "{backend:?}: expired leases first");
        assert!(c.iter().all(|j| j.1 == 2 && j.2.as_deref() == Some("c")), "{backend:?}: {c:?}");
        let d = claim("d", 100).await;
        let rest: Vec<i64> = d.iter().map(|j| j.0).collect();
        assert!(rest.iter().all(|id| !first.contains(id)), "{backend:?}: c's leases still hold");
        assert!(!rest.contains(&later), "{backend:?}: a job due in an hour is not claimed");
        assert!(rest.len() >= 12, "{backend:?}: the other texts: {rest:?}");
        assert!(d.iter().all(|j| j.1 == 1), "{backend:?}: first attempt");
        e.svc.close().await;
    }
}
