//! The authority's events reach the order through the inbox: once per event id, and only
//! for the round the order is in.

use crate::support::*;
use beian_core::state::{FilingState, SmsVerifyStatus};
use beian_ports::authority::{AuthorityEvent, AuthorityInbox, Operation, Receipt, SmsPurpose};
use beian_service::Actor;

async fn events_apply_once_and_only_to_their_round(b: Backend) {
    let env = env(b).await;
    let p = person(5);
    let appid = "wxinbox0001";
    mini_program(&env, appid, &p).await;
    env.svc.filings().apply(&actor(), appid, personal_payload(&env, appid, &p).await).await.expect("apply");
    env.svc.filings().platform_approve(&Actor::new("reviewer", "r1"), appid).await.expect("approve");
    let order = env.svc.filings().order(appid).await.expect("order").expect("exists").order;
    let round = order.authority_round;

    // What the worker hands the gateway: the whole application of this round.
    match env.svc.filings().authority_submission(appid, round).await.expect("op") {
        Some(op @ Operation::NewSubjectAndService { .. }) => {
            assert_eq!((op.appid(), op.round(), op.principals().len()), (appid, round, 1));
        }
        other => panic!("expected a new subject and service, got {other:?}"),
    }
    assert_eq!(
        env.svc.filings().authority_submission(appid, round + 1).await.expect("op"),
        None,
        "not this round"
    );

    // The status page shows what the authority last said is pending.
    let pending = AuthorityEvent::SmsPending {
        purpose: SmsPurpose::Filing,
        deadline: 1_900_000_000,
        phones: vec!["138****0001".into()],
    };
    let r =
        env.svc.filings().receive_authority_event("e-pending", appid, round, pending).await.expect("pending");
    assert_eq!(r, Receipt::Applied);
    assert_eq!(
        env.svc.filings().sms_pending(appid).await.expect("read"),
        Some((1_900_000_000, vec!["138****0001".to_string()]))
    );

    // An event of an older round changes nothing.
    let stale = env
        .svc
        .filings()
        .receive_authority_event("e-old", appid, round - 1, AuthorityEvent::SmsVerified)
        .await;
    assert_eq!(stale.expect("stale is fine"), Receipt::Ignored);
    let state = |o: beian_core::model::FilingOrder| o.state;
    let now = state(env.svc.filings().order(appid).await.expect("order").expect("exists").order);
    assert_eq!(now, FilingState::AuthorityReview { sms: SmsVerifyStatus::Waiting });

    // The same event twice: applied once, the repeat is a no-op (through the port too).
    let inbox: &dyn AuthorityInbox = &*env.svc;
    let first = inbox.receive("e-verified".into(), appid.into(), round, AuthorityEvent::SmsVerified).await;
    assert_eq!(first.expect("applied"), Receipt::Applied);
    let again = inbox.receive("e-verified".into(), appid.into(), round, AuthorityEvent::SmsVerified).await;
    assert_eq!(again.expect("repeat"), Receipt::Duplicate);
    let v = env.svc.filings().order(appid).await.expect("order").expect("exists");
    assert_eq!(v.order.state, FilingState::AuthorityReview { sms: SmsVerifyStatus::Done });
    assert_eq!(
        env.svc.filings().sms_pending(appid).await.expect("read"),
        None,
        "nothing pending once verified"
    );
    let trail = env.svc.audit_trail(beian_core::model::AuditEntity::Filing, appid).await.expect("audit");
    assert_eq!(trail.iter().filter(|e| e.action == "sms_verified").count(), 1, "one transition");

    // The authority's numbers are checked against the subject (province, form) and then
    // taken as they are; a refused approval changes nothing and leaves its id unused.
    let wrong =
        |s: &str, v: &str| AuthorityEvent::Approved { subject_number: s.into(), service_number: v.into() };
    for (i, bad) in [
        wrong("京ICP备2026000007号", "京ICP备2026000007号-1X"),
        wrong("粤ICP备2026000007号", "粤ICP备2026000007号-1A"),
        wrong("粤ICP备2026000007号", "粤ICP备2026000008号-1X"),
        wrong("粤ICP备2026000007", "粤ICP备2026000007-1X"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = env.svc.filings().receive_authority_event(&format!("e-bad-{i}"), appid, round, bad).await;
        assert!(r.is_err(), "{r:?}");
    }
    let v = env.svc.filings().order(appid).await.expect("order").expect("exists");
    assert_eq!(v.order.state, FilingState::AuthorityReview { sms: SmsVerifyStatus::Done });
    let approved = wrong("粤ICP备2026000007号", "粤ICP备2026000007号-1X");
    let r = env
        .svc
        .filings()
        .receive_authority_event("e-approved", appid, round, approved)
        .await
        .expect("approved");
    assert_eq!(r, Receipt::Applied);
    let v = env.svc.filings().order(appid).await.expect("order").expect("exists");
    assert!(matches!(v.order.state, FilingState::Filed { .. }), "{:?}", v.order.state);
    assert_eq!(v.order.subject_record_number.as_deref(), Some("粤ICP备2026000007号"));
    assert_eq!(v.order.service_record_number.as_deref(), Some("粤ICP备2026000007号-1X"));
    assert!(env
        .svc
        .filings()
        .receive_authority_event("e-x", "wxnosuch01", 1, AuthorityEvent::Accepted)
        .await
        .is_err());
}

crate::both_backends!(events_apply_once_and_only_to_their_round);

/// Deliveries of one event racing each other: exactly one applies, the record of the event
/// commits with its transition, every other delivery answers `Duplicate`.
async fn racing_deliveries_of_one_event_apply_once(b: Backend) {
    let env = env(b).await;
    let p = person(6);
    let appid = "wxinbox0002";
    mini_program(&env, appid, &p).await;
    env.svc.filings().apply(&actor(), appid, personal_payload(&env, appid, &p).await).await.expect("apply");
    env.svc.filings().platform_approve(&Actor::new("reviewer", "r1"), appid).await.expect("approve");
    let round = env.svc.filings().order(appid).await.expect("order").expect("exists").order.authority_round;

    let deliveries = (0..8).map(|_| {
        let svc = env.svc.clone();
        tokio::spawn(async move {
            svc.filings().receive_authority_event("e-race", appid, round, AuthorityEvent::SmsVerified).await
        })
    });
    let mut receipts = Vec::new();
    for d in deliveries.collect::<Vec<_>>() {
        receipts.push(d.await.expect("join").expect("every delivery is answered"));
    }
    assert_eq!(receipts.iter().filter(|r| **r == Receipt::Applied).count(), 1, "{receipts:?}");
    assert_eq!(receipts.iter().filter(|r| **r == Receipt::Duplicate).count(), 7, "{receipts:?}");
    let trail = env.svc.audit_trail(beian_core::model::AuditEntity::Filing, appid).await.expect("audit");
    assert_eq!(trail.iter().filter(|e| e.action == "sms_verified").count(), 1, "one transition");
}

crate::both_backends!(racing_deliveries_of_one_event_apply_once);

/// What the authority says after filing: an inspection task reaches the developer (站内信)
/// and the operators (dashboard news), a refusal the operators, and a revoked access ends the
/// filing here — numbers and public index gone, the developer told — once.
async fn later_news_reaches_developers_and_operators(b: Backend) {
    let env = env(b).await;
    let p = person(6);
    let appid = "wxinbox0002";
    mini_program(&env, appid, &p).await;
    env.svc.filings().apply(&actor(), appid, personal_payload(&env, appid, &p).await).await.expect("apply");
    env.svc.filings().platform_approve(&Actor::new("reviewer", "r1"), appid).await.expect("approve");
    env.svc.filings().sms_verified(&Actor::authority(), appid).await.expect("verified");
    let filed = beian_testkit::service::authority_approve(&env.svc, appid).await.expect("filed").order;
    let round = filed.authority_round;
    let service_number = filed.service_record_number.clone().expect("numbered");
    assert!(!env.svc.public_index().public_query(&service_number).await.expect("query").items.is_empty());

    let task = AuthorityEvent::InspectionTask {
        task_id: "HC-2026-0001".into(),
        description: "请核实小程序实际服务内容与备案内容一致".into(),
        due: 1_900_000_000,
    };
    let r = env.svc.filings().receive_authority_event("e-task", appid, round, task.clone()).await;
    assert_eq!(r.expect("task"), Receipt::Applied);
    let again = env.svc.filings().receive_authority_event("e-task", appid, round, task).await;
    assert_eq!(again.expect("repeat"), Receipt::Duplicate);
    let (messages, _) = env.svc.mini_programs().messages(appid, 20).await.expect("messages");
    let told: Vec<_> = messages.iter().filter(|m| m.title == "管局核查任务").collect();
    assert_eq!(told.len(), 1, "told once: {messages:?}");
    assert!(
        told[0].body.contains("请核实小程序实际服务内容") && told[0].body.contains("2030-03-18 01:46"),
        "{}",
        told[0].body
    );

    let refused =
        AuthorityEvent::Refused { code: "E1203".into(), reason: "接入商无权操作该备案".into() };
    let r = env.svc.filings().receive_authority_event("e-refused", appid, round, refused).await;
    assert_eq!(r.expect("refused"), Receipt::Applied);
    let v = env.svc.filings().order(appid).await.expect("order").expect("exists");
    assert_eq!(v.order.state, FilingState::Filed { canceling: false }, "a refusal changes nothing");

    let revoked = AuthorityEvent::AccessRevoked { reason: "接入信息核查不通过".into() };
    let r = env.svc.filings().receive_authority_event("e-revoked", appid, round, revoked.clone()).await;
    assert_eq!(r.expect("revoked"), Receipt::Applied);
    let r = env.svc.filings().receive_authority_event("e-revoked", appid, round, revoked.clone()).await;
    assert_eq!(r.expect("repeat"), Receipt::Duplicate);
    let v = env.svc.filings().order(appid).await.expect("order").expect("exists");
    assert_eq!(v.order.state, FilingState::NotFiled);
    assert_eq!((v.order.service_record_number, v.order.subject_record_number), (None, None));
    assert!(v.order.audit_data.iter().any(|i| i.error == "接入信息核查不通过"), "{:?}", v.order.audit_data);
    assert!(env.svc.public_index().public_query(&service_number).await.expect("query").items.is_empty());
    let (messages, _) = env.svc.mini_programs().messages(appid, 20).await.expect("messages");
    assert!(messages
        .iter()
        .any(|m| m.title == "管局已取消本平台的备案接入" && m.body.contains("接入信息核查不通过")));
    // A second revocation (another id) finds nothing filed: recorded, ignored.
    let r = env.svc.filings().receive_authority_event("e-revoked-2", appid, round, revoked).await;
    assert_eq!(r.expect("late"), Receipt::Ignored);

    let news = env.svc.operations().authority_news(10).await.expect("news");
    let whats: Vec<&str> = news.iter().map(|n| n.what).collect();
    assert_eq!(news.len(), 3, "{news:?}");
    for what in ["管局拒收", "核查任务", "取消接入"] {
        assert!(whats.contains(&what), "{whats:?}");
    }
    assert!(news.iter().any(|n| n.detail == "E1203：接入商无权操作该备案"));
}

crate::both_backends!(later_news_reaches_developers_and_operators);
