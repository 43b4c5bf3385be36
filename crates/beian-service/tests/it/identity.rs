//! Face tasks are decided by the identity verifier the service was built with.

use crate::support::{actor, env, env_with, mini_program, person, Backend};
use beian_core::model::{FaceStatus, Person};
use beian_ports::identity::{IdentityVerifier, Presented, Verdict};
use beian_ports::{BoxFuture, PortResult};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A verifier that says no to everyone, and counts how often it was asked.
#[derive(Default)]
struct RefusesEveryone(AtomicUsize);

impl IdentityVerifier for RefusesEveryone {
    fn name(&self) -> &'static str {
        "refuses_everyone"
    }
    fn verify<'a>(&'a self, _: &'a Person, _: &'a Presented) -> BoxFuture<'a, PortResult<Verdict>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(Verdict::NoMatch) })
    }
}

async fn a_plugged_in_verifier_is_the_one_consulted(b: Backend) {
    let admin = person(1);
    // The built-in check passes the admin's own name and ID number…
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

    // …a plugged-in verifier that refuses everyone fails the same answer.
    let verifier = Arc::new(RefusesEveryone::default());
    let plugged = verifier.clone();
    let env = env_with(b, move |svc| svc.with_identity_verifier(plugged)).await;
    mini_program(&env, "wxidv001", &admin).await;
    let task = env.svc.materials().create_face_task(&actor(), "wxidv001").await.expect("task");
    let done = env
        .svc
        .materials()
        .complete_face_verification(&task.task_id, &admin.name, &admin.id)
        .await
        .expect("done");
    assert_eq!(verifier.0.load(Ordering::SeqCst), 1, "the plugged-in verifier was asked once");
    assert_eq!(done.face_status, FaceStatus::Failed, "its no fails the face task");
}

crate::both_backends!(a_plugged_in_verifier_is_the_one_consulted);
