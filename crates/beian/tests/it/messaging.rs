//! Outbound messages through the messaging seam: a sender plugged in where the server is
//! built is the one the job worker uses, through the real job path (a use case writes the
//! job, the worker leases it, the sender answers); a transient failure backs off and is
//! retried, a refusal is dead-lettered at once with the phone number masked.

use crate::support::*;
use beian_core::platform::{backoff_secs, Job, JobState};
use beian_ports::messaging::{SmsMessage, SmsSender};
use beian_ports::{BoxFuture, PortError, PortResult};
use beian_service::Actor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

both!(a_plugged_in_sms_sender_is_used_and_retried, a_refused_text_is_dead_lettered_at_once);

/// A test double: records what it accepts; fails transiently `busy` times first, or refuses
/// every text.
#[derive(Default)]
struct Recording {
    sent: Mutex<Vec<SmsMessage>>,
    busy: AtomicUsize,
    refuse: bool,
}

impl SmsSender for Recording {
    fn send_sms<'a>(&'a self, m: &'a SmsMessage) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            if self.refuse {
                return Err(PortError::Refused(format!("number {} is not served", m.phone)));
            }
            if self.busy.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                return Err(PortError::Retry("gateway busy".into()));
            }
            self.sent.lock().expect("lock").push(m.clone());
            Ok(())
        })
    }
}

async fn start(b: Backend, sender: Arc<Recording>) -> TestApp {
    TestApp::start_with(b, 1000, move |c| beian_jobs::Channels { sms: sender, ..c }).await
}

async fn sms_jobs(app: &TestApp) -> Vec<Job> {
    let jobs = app.svc.job_queue().jobs(None, 100).await.expect("jobs");
    jobs.into_iter().filter(|j| j.kind == "sms").collect()
}

async fn a_plugged_in_sms_sender_is_used_and_retried(b: Backend) {
    let sender = Arc::new(Recording { busy: AtomicUsize::new(1), ..Recording::default() });
    let app = start(b, sender.clone()).await;
    register(&app, "wxms0001", 41).await;
    let task =
        app.svc.materials().create_face_task(&Actor::new("test", "p"), "wxms0001").await.expect("task");
    eventually("the first, failed attempt", || async {
        sms_jobs(&app).await.iter().any(|j| j.attempts == 1 && j.state == JobState::Pending)
    })
    .await;
    assert!(sender.sent.lock().expect("lock").is_empty());
    let job = sms_jobs(&app).await.remove(0);
    assert_eq!(job.last_error.as_deref(), Some("gateway busy"));
    // Due again after the backoff.
    app.clock.advance(chrono::Duration::seconds(backoff_secs(1)));
    eventually("the text, on the second attempt", || async { !sender.sent.lock().expect("lock").is_empty() })
        .await;
    let sent = sender.sent.lock().expect("lock").clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].phone, admin_mobile(41));
    assert!(sent[0].text.contains(&task.task_id), "{}", sent[0].text);
    eventually("the job done", || async {
        sms_jobs(&app).await.iter().all(|j| j.state == JobState::Done && j.attempts == 2)
    })
    .await;
    // The plugged-in sender replaced the development outbox.
    assert!(app.svc.job_queue().sms_outbox(Some(&admin_mobile(41)), 10).await.expect("outbox").is_empty());
    app.stop().await;
}

async fn a_refused_text_is_dead_lettered_at_once(b: Backend) {
    let sender = Arc::new(Recording { refuse: true, ..Recording::default() });
    let app = start(b, sender.clone()).await;
    register(&app, "wxms0002", 42).await;
    app.svc.materials().create_face_task(&Actor::new("test", "p"), "wxms0002").await.expect("task");
    eventually("the job dead-lettered", || async {
        sms_jobs(&app).await.iter().any(|j| j.state == JobState::Dead)
    })
    .await;
    let job = sms_jobs(&app).await.remove(0);
    assert_eq!(job.attempts, 1, "no retries of a refusal (of {})", job.max_attempts);
    let error = job.last_error.unwrap_or_default();
    assert!(error.contains("is not served"), "{error}");
    assert!(!error.contains(&admin_mobile(42)), "the number is masked: {error}");
    app.stop().await;
}
