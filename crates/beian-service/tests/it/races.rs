//! Races at scale, on both databases: 200 concurrent applies for one never-filed subject,
//! concurrent applies for one appid, 200 concurrent applies against a daily quota of 50,
//! reviewers racing on one order. After each race the stored
//! data still satisfies every invariant (`check_invariants`).

use crate::both_backends;
use crate::support::*;
use beian_core::errcode;
use beian_core::platform::Role;
use beian_service::review::RejectReason;
use beian_service::{Actor, ServiceError};
use std::sync::Arc;
use std::time::Instant;

both_backends!(
    two_hundred_applies_one_never_filed_subject,
    concurrent_applies_of_distinct_mini_programs,
    concurrent_applies_one_appid,
    daily_quota_holds_under_two_hundred_applies,
    reviewers_race_on_one_order,
    texts_sent_at_once_are_each_counted_and_kept,
    every_lifecycle_keeps_the_invariants,
    check_finds_planted_violations
);

/// Concurrent applications for the one subject.
const RACERS: u32 = 200;
/// Setup (registering, uploading, face tasks) runs this many tasks at once.
const SETUP_TASKS: usize = 16;

/// Store the test JPEG once before concurrent setup: every later upload of the same bytes finds
/// the file and skips writing it. Concurrent *first* writes of identical bytes race in
/// `MediaFiles::put` (see `concurrent_first_uploads_of_identical_bytes`).
async fn prewarm_media(env: &Env) {
    mini_program(env, "wxwarmup0001", &person(5)).await;
    upload(env, "wxwarmup0001", "icp_subject.principal_info.certificate_photo_front", Some(2)).await;
}

async fn assert_invariants(env: &Env) {
    let report = env.svc.operations().check_invariants().await.expect("check invariants");
    assert!(report.violations.is_empty(), "invariants broken after the race:\n{:#?}", report.violations);
}

/// Run `f(i)` for every `i` in `items`, at most `SETUP_TASKS` at a time, in order of `items`.
async fn bounded<T, F, Fut>(items: Vec<u32>, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let gate = Arc::new(tokio::sync::Semaphore::new(SETUP_TASKS));
    let mut handles = Vec::new();
    for i in items {
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        let fut = f(i);
        handles.push(tokio::spawn(async move {
            let out = fut.await;
            drop(permit);
            out
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}

async fn two_hundred_applies_one_never_filed_subject(b: Backend) {
    let env = Arc::new(env(b).await);
    prewarm_media(&env).await;
    let legal = Arc::new(person(10));
    let code = Arc::new(uscc("91440300MA5F00009"));
    let setup = Instant::now();
    let payloads = bounded((0..RACERS).collect(), |i| {
        let (env, legal, code) = (env.clone(), legal.clone(), code.clone());
        async move {
            let appid = format!("wxrace{i:04}");
            let admin = person(11 + i);
            mini_program(&env, &appid, &admin).await;
            let payload = enterprise_payload(&env, &appid, &code, &legal, &admin).await;
            (appid, payload)
        }
    })
    .await;
    let setup = setup.elapsed();

    let start = Instant::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(payloads.len()));
    let mut handles = Vec::new();
    for (appid, payload) in payloads {
        let (svc, barrier) = (env.svc.clone(), barrier.clone());
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = svc.filings().apply(&actor(), &appid, payload).await;
            (appid, r)
        }));
    }
    let (mut accepted, mut in_progress, mut conflicts) = (Vec::new(), 0, 0);
    for h in handles {
        match h.await.expect("join") {
            (appid, Ok(v)) => {
                assert_eq!(v.status, 2);
                accepted.push(appid);
            }
            (_, Err(ServiceError::Hints(h))) => {
                assert!(h.iter().any(|h| h.errcode == errcode::SUBJECT_IN_PROGRESS), "{h:?}");
                in_progress += 1;
            }
            (_, Err(ServiceError::Refused { errcode: errcode::CONFLICT, .. })) => conflicts += 1,
            (appid, Err(e)) => panic!("{appid}: unexpected {e:?}"),
        }
    }
    let race = start.elapsed();
    eprintln!(
        "{b:?}: {RACERS} concurrent applies for one never-filed subject in {} ms (setup {} ms): \
         1 accepted, {in_progress} refused with 86937, {conflicts} gave up with 86904",
        race.as_millis(),
        setup.as_millis()
    );
    assert_eq!(accepted.len(), 1, "exactly one application of a never-filed subject: {accepted:?}");
    assert_eq!(in_progress + conflicts, RACERS as usize - 1);

    // Only the winner has an order; every loser left nothing behind.
    for i in 0..RACERS {
        let appid = format!("wxrace{i:04}");
        let order = env.svc.filings().order(&appid).await.expect("order");
        assert_eq!(order.is_some(), accepted.contains(&appid), "{appid}");
    }
    assert_invariants(&env).await;
}

/// Sixty applications of sixty people at once (on SQLite they share group commits, written
/// at once), in the same burst as racers on one appid and on one never-filed company: every
/// distinct application is accepted with its order and version, each contested one exactly
/// once, and the stored data keeps every invariant.
async fn concurrent_applies_of_distinct_mini_programs(b: Backend) {
    const PEOPLE: u32 = 60;
    let env = Arc::new(env(b).await);
    prewarm_media(&env).await;
    let mut jobs = bounded((0..PEOPLE).collect(), |i| {
        let env = env.clone();
        async move {
            let appid = format!("wxmany{i:04}");
            let p = person(300 + i);
            mini_program(&env, &appid, &p).await;
            (appid.clone(), personal_payload(&env, &appid, &p).await)
        }
    })
    .await;
    // Two racers on one appid and three on one company, in the same burst.
    let same = person(500);
    mini_program(&env, "wxmanysame01", &same).await;
    let same_payload = personal_payload(&env, "wxmanysame01", &same).await;
    jobs.push(("wxmanysame01".into(), same_payload.clone()));
    jobs.push(("wxmanysame01".into(), same_payload));
    let legal = person(501);
    let code = uscc("91440300MA5F00017");
    for i in 0..3 {
        let appid = format!("wxmanyco{i:04}");
        let admin = person(510 + i);
        mini_program(&env, &appid, &admin).await;
        let payload = enterprise_payload(&env, &appid, &code, &legal, &admin).await;
        jobs.push((appid, payload));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(jobs.len()));
    let mut handles = Vec::new();
    for (appid, payload) in jobs {
        let (svc, barrier) = (env.svc.clone(), barrier.clone());
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = svc.filings().apply(&actor(), &appid, payload).await;
            (appid, r)
        }));
    }
    let (mut distinct, mut same_ok, mut company_ok) = (0, 0, 0);
    for h in handles {
        match h.await.expect("join") {
            (appid, Ok(v)) => {
                assert_eq!(v.status, 2, "{appid}");
                assert_eq!(v.order.versions, 1, "{appid}");
                if appid == "wxmanysame01" {
                    same_ok += 1;
                } else if appid.starts_with("wxmanyco") {
                    company_ok += 1;
                } else {
                    distinct += 1;
                }
            }
            (appid, Err(e)) if appid.starts_with("wxmanysame") || appid.starts_with("wxmanyco") => {
                assert!(
                    matches!(&e, ServiceError::Refused { .. } | ServiceError::Hints(_)),
                    "{appid}: a contested application is refused, not failed: {e:?}"
                );
            }
            (appid, Err(e)) => panic!("{appid}: unexpected {e:?}"),
        }
    }
    assert_eq!(distinct, PEOPLE, "every distinct application accepted");
    assert_eq!(same_ok, 1, "one application of the contested appid");
    assert_eq!(company_ok, 1, "one application of the never-filed company");
    for i in 0..PEOPLE {
        let appid = format!("wxmany{i:04}");
        let order = env.svc.filings().order(&appid).await.expect("order").expect("an order");
        assert_eq!(order.order.versions, 1, "{appid}");
        assert!(
            env.svc.filings().submitted_version(&appid, 1).await.expect("version").is_some(),
            "{appid}: its version"
        );
    }
    assert_invariants(&env).await;
}

async fn concurrent_applies_one_appid(b: Backend) {
    let env = Arc::new(env(b).await);
    // Ten rounds of two racers, then one round of sixteen, each on its own appid.
    let rounds: Vec<(u32, usize)> = (0..10).map(|r| (r, 2)).chain([(10, 16)]).collect();
    for (round, racers) in rounds {
        let appid = format!("wxsame{round:04}");
        let p = person(40 + round);
        mini_program(&env, &appid, &p).await;
        let payload = personal_payload(&env, &appid, &p).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(racers));
        let mut handles = Vec::new();
        for _ in 0..racers {
            let (svc, payload, barrier, appid) =
                (env.svc.clone(), payload.clone(), barrier.clone(), appid.clone());
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                svc.filings().apply(&actor(), &appid, payload).await
            }));
        }
        let mut ok = 0;
        for h in handles {
            match h.await.expect("join") {
                Ok(v) => {
                    assert_eq!(v.order.versions, 1);
                    ok += 1;
                }
                Err(ServiceError::Refused { errcode, .. })
                    if errcode == errcode::UNDER_REVIEW || errcode == errcode::CONFLICT => {}
                // PostgreSQL (READ COMMITTED): the loser can read "no order yet" and then the
                // winner's just-committed subject, and is refused by the never-filed-subject
                // rule instead of "under review". Still exactly one application.
                Err(ServiceError::Hints(h))
                    if h.len() == 1
                        && h[0].errcode == errcode::SUBJECT_IN_PROGRESS
                        && b == Backend::Postgres => {}
                Err(e) => panic!("{appid}: unexpected {e:?}"),
            }
        }
        assert_eq!(ok, 1, "{appid}: {racers} racers, exactly one application");
        let order = env.svc.filings().order(&appid).await.expect("order").expect("the winner's order");
        assert_eq!(order.order.versions, 1, "one version, not one per racer");
    }
    assert_invariants(&env).await;
}

/// The daily quota.
const QUOTA: u32 = 50;

/// 200 applications on their own appids and subjects at once against a daily quota of 50:
/// exactly 50 are accepted (on PostgreSQL the count is sharded and the first claims take the
/// fast way, the last ones the exact way), every other one is refused with 86911, and the
/// day's count reads 50 wherever it is read.
async fn daily_quota_holds_under_two_hundred_applies(b: Backend) {
    use beian_service::Clock as _;
    let env = Arc::new(env(b).await);
    prewarm_media(&env).await;
    let mut policy = (*env.svc.policy()).clone();
    policy.daily_apply_quota = QUOTA;
    env.svc.set_policy(&actor(), policy).await.expect("policy");
    let payloads = bounded((0..=RACERS).collect(), |i| {
        let env = env.clone();
        async move {
            let appid = format!("wxquota{i:04}");
            let p = person(300 + i);
            mini_program(&env, &appid, &p).await;
            let payload = personal_payload(&env, &appid, &p).await;
            (appid, payload)
        }
    })
    .await;
    let mut payloads = payloads.into_iter();
    let (late_appid, late_payload) = payloads.next().expect("one left for after the race");

    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS as usize));
    let mut handles = Vec::new();
    for (appid, payload) in payloads {
        let (svc, barrier) = (env.svc.clone(), barrier.clone());
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            (appid.clone(), svc.filings().apply(&actor(), &appid, payload).await)
        }));
    }
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for h in handles {
        match h.await.expect("join") {
            (appid, Ok(v)) => {
                assert_eq!(v.status, 2);
                accepted.push(appid);
            }
            (_, Err(ServiceError::Refused { errcode: errcode::DAILY_QUOTA, .. })) => refused += 1,
            (appid, Err(e)) => panic!("{appid}: unexpected {e:?}"),
        }
    }
    assert_eq!(accepted.len(), QUOTA as usize, "{b:?}: exactly the quota is accepted");
    assert_eq!(refused, (RACERS - QUOTA) as usize);
    for i in 1..=RACERS {
        let appid = format!("wxquota{i:04}");
        let order = env.svc.filings().order(&appid).await.expect("order");
        assert_eq!(order.is_some(), accepted.contains(&appid), "{appid}");
    }

    // The day's count reads the same wherever it is read: the store's total, the check
    // before submit, and a later application.
    let key = beian_core::plan::quota_key(&env.svc.policy(), env.clock.now());
    let mut tx = env.store.read().await.expect("read");
    assert_eq!(tx.counters().capped_total(&key).await.expect("total"), i64::from(QUOTA));
    drop(tx);
    let hints = env.svc.filings().validate_application(&late_appid, &late_payload).await.expect("validate");
    assert!(hints.iter().any(|h| h.errcode == errcode::DAILY_QUOTA), "{hints:?}");
    match env.svc.filings().apply(&actor(), &late_appid, late_payload.clone()).await {
        Err(ServiceError::Refused { errcode: errcode::DAILY_QUOTA, .. }) => {}
        other => panic!("after the race: {other:?}"),
    }
    // One more allowed: exactly one more is accepted.
    let mut policy = (*env.svc.policy()).clone();
    policy.daily_apply_quota = QUOTA + 1;
    env.svc.set_policy(&actor(), policy).await.expect("policy");
    env.svc.filings().apply(&actor(), &late_appid, late_payload).await.expect("the 51st");
    let mut tx = env.store.read().await.expect("read");
    assert_eq!(tx.counters().capped_total(&key).await.expect("total"), i64::from(QUOTA) + 1);
    drop(tx);
    assert_invariants(&env).await;
}

fn reject_reason() -> Vec<RejectReason> {
    vec![RejectReason {
        reason_id: None,
        key_name: "小程序备注".into(),
        error: "备注未描述实际服务内容".into(),
        suggest: "请具体描述小程序的主要服务".into(),
    }]
}

async fn reviewers_race_on_one_order(b: Backend) {
    let env = Arc::new(env(b).await);
    prewarm_media(&env).await;
    let (alice, _) = env
        .svc
        .review()
        .create_staff(&Actor::new("test", "op"), "审核甲", Role::Reviewer)
        .await
        .expect("staff");
    let (bob, _) = env
        .svc
        .review()
        .create_staff(&Actor::new("test", "op"), "审核乙", Role::Reviewer)
        .await
        .expect("staff");
    const ORDERS: u32 = 12;
    bounded((0..ORDERS).collect(), |i| {
        let env = env.clone();
        async move {
            let appid = format!("wxrev{i:04}");
            let p = person(60 + i);
            mini_program(&env, &appid, &p).await;
            let payload = personal_payload(&env, &appid, &p).await;
            env.svc.filings().apply(&actor(), &appid, payload).await.expect("apply");
        }
    })
    .await;

    let (mut approvals, mut rejections) = (0, 0);
    for i in 0..ORDERS {
        let appid = format!("wxrev{i:04}");
        // Half the rounds name the version both reviewers saw (as the review page does): the
        // loser must then be told the order changed (86904); without it, that its state no
        // longer allows the action (86902) — or 86904 if it lost every retry.
        let version = if i % 2 == 0 {
            Some(env.svc.filings().order(&appid).await.expect("order").expect("order").order.row_version)
        } else {
            None
        };
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let approve = {
            let (svc, alice, appid, barrier) =
                (env.svc.clone(), alice.clone(), appid.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                svc.review().review_approve(&alice, &appid, version).await
            })
        };
        let reject = {
            let (svc, bob, appid, barrier) = (env.svc.clone(), bob.clone(), appid.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                svc.review().review_reject(&bob, &appid, reject_reason(), version).await
            })
        };
        let (a, r) = (approve.await.expect("join"), reject.await.expect("join"));
        let loser = match (&a, &r) {
            (Ok(v), Err(e)) => {
                assert_eq!(v.status, 4);
                approvals += 1;
                e
            }
            (Err(e), Ok(v)) => {
                assert_eq!(v.status, 3);
                rejections += 1;
                e
            }
            _ => panic!("{appid}: exactly one reviewer must win: approve {a:?}, reject {r:?}"),
        };
        match loser {
            ServiceError::Refused { errcode, errmsg } => {
                let allowed: &[i64] = if version.is_some() {
                    &[errcode::CONFLICT]
                } else {
                    &[errcode::WRONG_REVIEW_STATE, errcode::CONFLICT]
                };
                assert!(allowed.contains(errcode), "{appid}: loser got {errcode} {errmsg}");
                assert!(!errmsg.is_empty());
            }
            other => panic!("{appid}: the loser must get a clear refusal, got {other:?}"),
        }
        // One decision in the audit trail, by the winner.
        let trail = env.svc.audit_trail(beian_core::model::AuditEntity::Filing, &appid).await.expect("trail");
        let decisions =
            trail.iter().filter(|e| e.action == "platform_approve" || e.action == "platform_reject").count();
        assert_eq!(decisions, 1, "{appid}: {trail:?}");
    }
    eprintln!("{b:?}: {ORDERS} reviewer races: approve won {approvals}, reject won {rejections}");
    assert_invariants(&env).await;
}

fn reasons() -> Vec<beian_core::model::AuditItem> {
    vec![beian_core::model::AuditItem {
        key_name: "小程序备注".into(),
        error: "备注未描述实际服务内容".into(),
        suggest: "请具体描述小程序的主要服务".into(),
    }]
}

/// Not a race: every path through the lifecycle (reject and re-apply, withdraw, SMS timeout
/// and resubmit, authority rejection, the three cancellations with the subject cascade, an
/// aborted cancellation), with `check_invariants` after every step.
async fn every_lifecycle_keeps_the_invariants(b: Backend) {
    let env = env(b).await;
    let svc = &env.svc;
    let (a, authority) = (actor(), Actor::authority());
    let reviewer = Actor::new("reviewer", "r1");

    // An enterprise files three mini programs, cancels one service, re-files it, then cancels
    // the subject (every filed service goes with it), and files again under a new number.
    let legal = person(80);
    let code = uscc("91440300MA5F0L001");
    let mut payloads = Vec::new();
    for i in 0..3u32 {
        let appid = format!("wxlife{i:04}");
        let admin = person(81 + i);
        mini_program(&env, &appid, &admin).await;
        payloads.push(enterprise_payload(&env, &appid, &code, &legal, &admin).await);
    }
    let env = &env;
    let file = |appid: String, payload| async move {
        svc.filings().apply(&actor(), &appid, payload).await.expect("apply");
        assert_invariants(env).await;
        svc.filings().platform_approve(&Actor::new("reviewer", "r1"), &appid).await.expect("approve");
        svc.filings().sms_verified(&Actor::authority(), &appid).await.expect("sms");
        assert_invariants(env).await;
        let v = beian_testkit::service::authority_approve(svc, &appid).await.expect("authority approve");
        assert_eq!(v.status, 6);
        assert_invariants(env).await;
        v.order
    };
    let first = file("wxlife0000".into(), payloads[0].clone()).await;
    let subject_number = first.subject_record_number.clone().expect("subject number");
    file("wxlife0001".into(), payloads[1].clone()).await;
    file("wxlife0002".into(), payloads[2].clone()).await;
    svc.filings().cancel(&a, "wxlife0001", Some(2), Some(1)).await.expect("cancel service");
    assert_invariants(env).await;
    svc.filings().cancel_confirmed(&authority, "wxlife0001").await.expect("confirm");
    assert_invariants(env).await;
    let refiled = file("wxlife0001".into(), payloads[1].clone()).await;
    assert_eq!(refiled.subject_record_number.as_deref(), Some(subject_number.as_str()));
    svc.filings().cancel(&a, "wxlife0000", Some(1), Some(2)).await.expect("cancel subject");
    svc.filings().cancel_confirmed(&authority, "wxlife0000").await.expect("confirm subject");
    assert_invariants(env).await;
    for i in 0..3 {
        let o = svc.filings().order(&format!("wxlife{i:04}")).await.expect("order").expect("order");
        assert!(o.order.service_record_number.is_none() && o.status != 6, "{o:?}");
    }
    let again = file("wxlife0002".into(), payloads[2].clone()).await;
    assert_ne!(again.subject_record_number.as_deref(), Some(subject_number.as_str()), "a new subject number");

    // A person: rejected, re-applied, withdrawn, SMS timeout and resubmission, authority
    // rejection, filed, a cancellation that is not confirmed.
    let p = person(90);
    mini_program(env, "wxlife0100", &p).await;
    let payload = personal_payload(env, "wxlife0100", &p).await;
    let appid = "wxlife0100";
    let steps: Vec<&str> = vec![
        "apply",
        "reject",
        "apply",
        "withdraw",
        "apply",
        "approve",
        "timeout",
        "resubmit",
        "verified",
        "authority_reject",
        "apply",
        "approve",
        "verified",
        "authority_approve",
        "cancel",
        "abort",
    ];
    for step in steps {
        let r = match step {
            "apply" => svc.filings().apply(&a, appid, payload.clone()).await,
            "reject" => svc.filings().platform_reject(&reviewer, appid, reasons()).await,
            "withdraw" => svc.filings().withdraw(&a, appid).await,
            "approve" => svc.filings().platform_approve(&reviewer, appid).await,
            "timeout" => svc.filings().sms_timeout(&authority, appid).await,
            "resubmit" => svc.filings().resubmit(&reviewer, appid).await,
            "verified" => svc.filings().sms_verified(&authority, appid).await,
            "authority_reject" => svc.filings().authority_reject(&authority, appid, reasons()).await,
            "authority_approve" => beian_testkit::service::authority_approve(svc, appid).await,
            "cancel" => svc.filings().cancel(&a, appid, Some(3), None).await,
            _ => svc.filings().cancel_aborted(&authority, appid).await,
        };
        r.unwrap_or_else(|e| panic!("{step}: {e:?}"));
        assert_invariants(env).await;
    }
    assert_eq!(svc.filings().order(appid).await.expect("order").expect("order").status, 6);
}

/// The detector the races rely on: every kind of planted damage is reported, on both
/// databases, and a corrupt row is counted instead of failing the check.
async fn check_finds_planted_violations(b: Backend) {
    let env = env(b).await;
    let svc = &env.svc;
    let (a, authority, reviewer) = (actor(), Actor::authority(), Actor::new("reviewer", "r1"));
    let mut appids = Vec::new();
    for i in 0..4u32 {
        let appid = format!("wxplant{i:04}");
        let p = person(100 + i);
        mini_program(&env, &appid, &p).await;
        let payload = personal_payload(&env, &appid, &p).await;
        svc.filings().apply(&a, &appid, payload).await.expect("apply");
        appids.push(appid);
    }
    svc.filings().platform_approve(&reviewer, &appids[0]).await.expect("approve");
    svc.filings().sms_verified(&authority, &appids[0]).await.expect("sms");
    let filed = beian_testkit::service::authority_approve(svc, &appids[0]).await.expect("filed").order;
    let number = filed.service_record_number.clone().expect("number");
    let clean = svc.operations().check_invariants().await.expect("check");
    assert!(clean.ok() && clean.warnings.is_empty(), "{clean:?}");
    assert_eq!(clean.checked.get("filing_orders"), Some(&4));
    assert_eq!(clean.checked.get("media"), Some(&8));

    let foreign = hex::encode(beian_store::Crypto::new(&[9u8; 32]).encrypt(b"13800000000"));
    let blob = match b {
        Backend::Sqlite => format!("X'{foreign}'"),
        Backend::Postgres => format!("'\\x{foreign}'::bytea"),
    };
    let store = &env.store;
    for sql in [
        // versions without their rows and apply events
        format!("UPDATE filing_orders SET versions = versions + 1 WHERE appid = '{}'", appids[1]),
        // a second order claims the filed order's numbers (and status 6)
        format!(
            "UPDATE filing_orders SET status = 6, service_record_number = '{number}', subject_record_number = 'X' \
             WHERE appid = '{}'",
            appids[2]
        ),
        // a state that does not exist
        format!("UPDATE filing_orders SET status = 4, sms_verify_status = 9 WHERE appid = '{}'", appids[3]),
        // an application that is not one, a phone written with another key, a stale index
        format!(
            "UPDATE filing_versions SET payload_enc = (SELECT admin_id_enc FROM mini_programs WHERE appid = '{}') \
             WHERE appid = '{}'",
            appids[0], appids[0]
        ),
        format!("UPDATE mini_programs SET admin_mobile_enc = {blob} WHERE appid = '{}'", appids[1]),
        format!("UPDATE mini_programs SET admin_id_bidx = 'stale' WHERE appid = '{}'", appids[2]),
        // a lost audit event, a job abandoned with its lease
        format!("DELETE FROM audit_events WHERE entity_id = '{}' AND action = 'apply'", appids[3]),
        "UPDATE jobs SET state = 'running', locked_by = 'gone', locked_until = 1 WHERE id = (SELECT MIN(id) FROM jobs)"
            .to_string(),
    ] {
        store.exec_raw(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    // A media file disappears.
    let media = env.dir.path().join("media");
    let sub = std::fs::read_dir(&media).expect("media").next().expect("subdir").expect("entry").path();
    let file = std::fs::read_dir(&sub).expect("subdir").next().expect("file").expect("entry").path();
    std::fs::remove_file(&file).expect("remove");

    let r = svc.operations().check_invariants().await.expect("check");
    let expect = [
        format!("filing order {}: versions is 2 but 1 filing_versions rows exist", appids[1]),
        format!(
            "filing order {}: 1 `apply` and `apply_change` audit events for 2 submitted versions",
            appids[1]
        ),
        format!("service number {number}: held by 2 filing orders"),
        format!("filing order {}: service number {number} is not under its subject number X", appids[2]),
        format!("filing order {}: stored status 4 / sms_verify_status 9", appids[3]),
        format!("filing order {}: no `apply` audit event", appids[3]),
        format!("filing version {}#1: decrypts but is not an application", appids[0]),
        format!("mini program {}: admin mobile does not decrypt", appids[1]),
        format!("mini program {}: admin ID blind index does not match", appids[2]),
        "in_progress is 1 but 0 of its orders".to_string(),
        "filed_count is 0 but 1 of its orders are in status 6".to_string(),
        "file missing from the media directory".to_string(),
    ];
    for e in &expect {
        assert!(
            r.violations.iter().any(|v| v.contains(e.as_str())),
            "`{e}` not reported:\n{:#?}",
            r.violations
        );
    }
    assert_eq!(r.checked.get("corrupt_filing_states"), Some(&1), "{:?}", r.checked);
    assert!(r.warnings.iter().any(|w| w.contains("lease held by gone")), "{:?}", r.warnings);
}

/// Two uploads of the same new bytes at the same moment (the same ID photo for two mini
/// programs, a shared letter template): both must succeed. `MediaFiles::put` writes to
/// `.{sha}.{pid}.tmp`, a name shared by every upload of those bytes in one process, so the
/// second rename finds the file gone ("media write: No such file or directory") and an
/// `O_TRUNC` open can empty the file the first writer is about to rename. Ignored until
/// `crates/beian-store/src/media.rs` uses a unique temporary name (docs/reliability.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_uploads_of_identical_bytes() {
    // PostgreSQL: uploads run in parallel (on SQLite the single writer connection, taken
    // before the file is written, serialises them and hides the race).
    let env = Arc::new(env(Backend::Postgres).await);
    mini_program(&env, "wxmedia0001", &person(6)).await;
    let mut failures = Vec::new();
    for round in 0..20u32 {
        // Fresh bytes each round: a JPEG with a comment segment naming the round.
        let mut bytes = JPEG[..JPEG.len() - 2].to_vec();
        let comment = format!("round {round}");
        bytes.extend_from_slice(&[0xFF, 0xFE, 0, u8::try_from(comment.len() + 2).expect("short")]);
        bytes.extend_from_slice(comment.as_bytes());
        bytes.extend_from_slice(&[0xFF, 0xD9]);
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let mut handles = Vec::new();
        for _ in 0..16 {
            let (env, bytes, barrier) = (env.clone(), bytes.clone(), barrier.clone());
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                env.svc
                    .materials()
                    .upload_media(
                        &actor(),
                        "wxmedia0001",
                        beian_service::MediaUpload {
                            media_type: "image".into(),
                            certificate_type: Some(2),
                            icp_order_field: "icp_subject.principal_info.certificate_photo_front".into(),
                            bytes,
                        },
                    )
                    .await
            }));
        }
        for h in handles {
            if let Err(e) = h.await.expect("join") {
                failures.push(format!("round {round}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 320 concurrent uploads failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let report = env.svc.operations().check_invariants().await.expect("check");
    assert!(report.ok(), "{:#?}", report.violations);
}

/// The job worker's small writes (a sent text counted against its number's limits; the
/// development outbox's copy) share commits on SQLite: 120 texts sent at once, each counted
/// once and each kept, whatever groups they were committed in.
async fn texts_sent_at_once_are_each_counted_and_kept(backend: Backend) {
    use beian_ports::messaging::{SmsMessage, SmsSender};
    use beian_service::sms_limits::{SmsAdmission, SmsLimits};
    const TEXTS: i64 = 120;
    let env = env(backend).await;
    env.svc.set_sms_limits(SmsLimits { per_minute: TEXTS, per_hour: 0, per_day: 0, dedupe_secs: 0 });
    let sender = Arc::new(env.svc.sms_outbox_sender());
    let phone = "13800138000";
    let mut tasks = Vec::new();
    for i in 0..TEXTS {
        let (svc, sender) = (env.svc.clone(), sender.clone());
        tasks.push(tokio::spawn(async move {
            let params = vec![("n".to_string(), i.to_string())];
            let m =
                SmsMessage { phone: phone.into(), text: format!("第{i}条"), event: "test".into(), params };
            sender.send_sms(&m).await.expect("kept in the outbox");
            svc.job_queue().record_sms(phone, &m.event, &m.params).await.expect("counted");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let kept = env.svc.job_queue().sms_outbox(Some(phone), 1000).await.expect("outbox");
    assert_eq!(kept.len() as i64, TEXTS, "every text kept once");
    // The minute's cap is exactly the number sent: one more is capped, so each was counted.
    let next = env.svc.job_queue().admit_sms(phone, "test", &[]).await.expect("admit");
    assert!(matches!(next, SmsAdmission::Capped { .. }), "{TEXTS} texts counted: {next:?}");
    env.svc.set_sms_limits(SmsLimits { per_minute: TEXTS + 1, per_hour: 0, per_day: 0, dedupe_secs: 0 });
    let next = env.svc.job_queue().admit_sms(phone, "test", &[]).await.expect("admit");
    assert!(matches!(next, SmsAdmission::Send), "not more than {TEXTS} counted: {next:?}");
    let groups = env.svc.operations().group_commits();
    if backend == Backend::Sqlite {
        let (_, commits, writes) = groups.iter().find(|g| g.0 == "job_writes").copied().expect("job_writes");
        assert_eq!(writes, 2 * TEXTS as u64, "each write committed once");
        assert!(commits <= writes, "{commits} commits for {writes} writes");
    } else {
        // Applies are grouped on both databases; the worker's writes only on SQLite.
        assert!(
            groups.iter().all(|g| g.0 != "job_writes"),
            "PostgreSQL commits each job write on its own: {groups:?}"
        );
    }
}
