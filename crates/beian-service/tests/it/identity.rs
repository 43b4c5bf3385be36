//! Face tasks are decided by the identity provider the service was built with.

use crate::support::{actor, env, env_with, mini_program, person, Backend};
use beian_core::model::FaceStatus;
use beian_ports::identity::{IdentityProvider, Outcome, Session, StartRequest, Status};
use beian_ports::{BoxFuture, PortResult};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A provider whose every session fails liveness, and counts how often it was asked.
#[derive(Default)]
struct FailsEveryone(AtomicUsize);

impl IdentityProvider for FailsEveryone {
    fn name(&self) -> &'static str {
        "fails_everyone"
    }
    fn biometric(&self) -> bool {
        true
    }
    fn start<'a>(&'a self, req: &'a StartRequest, now: i64) -> BoxFuture<'a, PortResult<Session>> {
        let s = Session {
            session_id: format!("s-{}", req.task_id),
            url: "https://vendor.invalid/h5".into(),
            expires_at: now + 600,
        };
        Box::pin(async move { Ok(s) })
    }
    fn result<'a>(&'a self, _: &'a str) -> BoxFuture<'a, PortResult<Outcome>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {
            Ok(Outcome { status: Status::Failed, score: Some(12.5), raw_code: "LIVE_FAIL".into() })
        })
    }
}

async fn a_plugged_in_provider_is_the_one_consulted(b: Backend) {
    let admin = person(1);
    // The built-in check passes the admin's own name and ID number on beian's page…
    let plain = env(b).await;
    mini_program(&plain, "wxidv001", &admin).await;
    let task = plain.svc.materials().create_face_task(&actor(), "wxidv001").await.expect("task");
    let done = plain
        .svc
        .materials()
        .complete_face_verification(&task.task_id, &admin.name, &admin.id)
        .await
        .expect("done");
    assert_eq!(done.face_status, FaceStatus::Succeeded, "the built-in check accepts the admin");

    // …a plugged-in provider that fails everyone fails the task when its result is pulled;
    // the page's name + ID form is refused with it.
    let provider = Arc::new(FailsEveryone::default());
    let plugged = provider.clone();
    let env = env_with(b, move |svc| svc.with_identity_provider(plugged)).await;
    mini_program(&env, "wxidv001", &admin).await;
    let task = env.svc.materials().create_face_task(&actor(), "wxidv001").await.expect("task");
    assert!(env
        .svc
        .materials()
        .complete_face_verification(&task.task_id, &admin.name, &admin.id)
        .await
        .is_err());
    let url = env.svc.materials().start_face_session(&task.task_id).await.expect("start");
    assert_eq!(url, "https://vendor.invalid/h5");
    let done = env.svc.materials().face_task("wxidv001", &task.task_id).await.expect("query");
    assert_eq!(provider.0.load(Ordering::SeqCst), 1, "the plugged-in provider was asked once");
    assert_eq!(done.face_status, FaceStatus::Failed, "its failure fails the face task");
    let page = env.svc.materials().face_task_for_page(&task.task_id).await.expect("page");
    assert_eq!(page.raw_code.as_deref(), Some("LIVE_FAIL"));
    assert_eq!(provider.0.load(Ordering::SeqCst), 1, "a decided session is not pulled again");
}

crate::both_backends!(a_plugged_in_provider_is_the_one_consulted);
