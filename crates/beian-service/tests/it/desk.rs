//! The manual desk (`beian-authority-desk`) over the service: a submission is one work item
//! however often it comes, its operation encrypted; each recorded outcome reaches the order
//! once; wrong numbers change nothing; no number is minted by the platform.

use crate::support::*;
use beian_authority_desk::{ManualDesk, Operator};
use beian_core::model::AuditItem;
use beian_core::state::{FilingState, SmsVerifyStatus};
use beian_ports::authority::{AuthorityEvent, AuthorityGateway, Receipt, SmsPurpose};
use beian_service::Actor;
use std::sync::Arc;

fn desk(env: &Env) -> ManualDesk {
    ManualDesk::new(env.store.clone(), env.svc.clone(), env.svc.clone())
}

fn operator() -> Operator {
    Operator { id: "op1".into(), name: "王运营".into() }
}

async fn state(env: &Env, appid: &str) -> FilingState {
    env.svc.filings().order(appid).await.expect("order").expect("exists").order.state
}

/// An application approved by the platform and handed to the desk: its item id and round.
async fn submitted(env: &Env, desk: &ManualDesk, appid: &str, p: &Person) -> (i64, u32) {
    mini_program(env, appid, p).await;
    env.svc.filings().apply(&actor(), appid, personal_payload(env, appid, p).await).await.expect("apply");
    env.svc.filings().platform_approve(&Actor::new("reviewer", "r1"), appid).await.expect("approve");
    let round = env.svc.filings().order(appid).await.expect("order").expect("exists").order.authority_round;
    let op = env.svc.filings().authority_submission(appid, round).await.expect("op").expect("waiting");
    desk.submit(op).await.expect("submit");
    let item = desk.items(true).await.expect("items").into_iter().find(|i| i.appid == appid).expect("item");
    (item.id, round)
}

async fn counters(env: &Env, names: &[String]) -> Vec<i64> {
    let mut tx = env.store.read().await.expect("read");
    let mut out = Vec::new();
    for n in names {
        out.push(tx.counters().get(n).await.expect("counter"));
    }
    out
}

async fn a_filing_goes_through_the_desk_once(b: Backend) {
    let env = env(b).await;
    let desk = desk(&env);
    let p = person(1);
    let appid = "wxdesk00001";
    let (id, round) = submitted(&env, &desk, appid, &p).await;

    // A repeated submission (a retried job) is the same item.
    let op = env.svc.filings().authority_submission(appid, round).await.expect("op").expect("waiting");
    desk.submit(op.clone()).await.expect("again");
    let items = desk.items(false).await.expect("items");
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_eq!(
        (item.kind.as_str(), item.round, item.open, item.outcome.as_str()),
        ("new_subject_and_service", round, true, "")
    );
    assert!(!item.name.is_empty());
    let view = desk.item(id).await.expect("read").expect("exists");
    assert_eq!(view.operation.as_ref(), Some(&op), "the operation reads back whole");

    // The operation (names, phones, ID numbers) is not stored in plain text.
    let raw: Vec<u8> = {
        let sql = format!("SELECT operation_enc FROM desk_items WHERE id = {id}");
        env.store.raw_bytes(&sql).await.expect("raw row")
    };
    assert!(!raw.is_empty());
    for secret in [&p.id, &p.mobile] {
        assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} in plain text");
    }

    // SMS pending: the status page shows it; a double click is a duplicate.
    let pending = AuthorityEvent::SmsPending {
        purpose: SmsPurpose::Filing,
        deadline: 1_900_000_000,
        phones: vec![beian_authority_desk::mask_phone(&p.mobile)],
    };
    assert_eq!(desk.record(id, &operator(), pending.clone()).await.expect("pending"), Receipt::Applied);
    assert_eq!(desk.record(id, &operator(), pending).await.expect("again"), Receipt::Duplicate);
    let (deadline, phones) = env.svc.filings().sms_pending(appid).await.expect("read").expect("pending");
    assert_eq!((deadline, phones.len()), (1_900_000_000, 1));

    // A decision before the SMS verification is refused by the desk (the inbox would ignore it).
    let numbers =
        |s: &str, v: &str| AuthorityEvent::Approved { subject_number: s.into(), service_number: v.into() };
    let early = desk.record(id, &operator(), numbers("粤ICP备2026000301号", "粤ICP备2026000301号-1X")).await;
    assert!(
        matches!(early, Err(beian_authority_desk::DeskError::Refused(ref m)) if m.contains("短信核验")),
        "{early:?}"
    );

    assert_eq!(
        desk.record(id, &operator(), AuthorityEvent::SmsVerified).await.expect("verified"),
        Receipt::Applied
    );
    assert_eq!(
        desk.record(id, &operator(), AuthorityEvent::SmsVerified).await.expect("again"),
        Receipt::Duplicate
    );
    assert_eq!(state(&env, appid).await, FilingState::AuthorityReview { sms: SmsVerifyStatus::Done });

    // Wrong numbers: refused, nothing changes (order, item, records, counters).
    let minted = vec!["subject_seq:粤:2026".to_string(), "sim_service_seq:粤ICP备2026000301号".to_string()];
    let before = counters(&env, &minted).await;
    for bad in [
        numbers("京ICP备2026000301号", "京ICP备2026000301号-1X"),
        numbers("粤ICP备2026000301号", "粤ICP备2026000301号-1A"),
        numbers("粤ICP备2026000301号", "粤ICP备2026000302号-1X"),
    ] {
        let r = desk.record(id, &operator(), bad).await;
        assert!(matches!(r, Err(beian_authority_desk::DeskError::Refused(_))), "{r:?}");
    }
    assert_eq!(state(&env, appid).await, FilingState::AuthorityReview { sms: SmsVerifyStatus::Done });
    let view = desk.item(id).await.expect("read").expect("exists");
    assert_eq!((view.item.open, view.item.outcome.as_str(), view.records.len()), (true, "sms_verified", 2));

    // The authority's numbers, as typed: filed with them, the item closes, once.
    let approved = numbers("粤ICP备2026000301号", "粤ICP备2026000301号-1X");
    assert_eq!(desk.record(id, &operator(), approved.clone()).await.expect("approved"), Receipt::Applied);
    assert_eq!(desk.record(id, &operator(), approved).await.expect("again"), Receipt::Duplicate);
    let o = env.svc.filings().order(appid).await.expect("order").expect("exists").order;
    assert!(matches!(o.state, FilingState::Filed { .. }), "{:?}", o.state);
    assert_eq!(o.subject_record_number.as_deref(), Some("粤ICP备2026000301号"));
    assert_eq!(o.service_record_number.as_deref(), Some("粤ICP备2026000301号-1X"));
    assert_eq!(counters(&env, &minted).await, before, "the platform minted nothing");
    assert_eq!(before, vec![0, 0]);
    let view = desk.item(id).await.expect("read").expect("exists");
    assert!(!view.item.open && view.item.closed_at.is_some());
    assert_eq!(view.records.len(), 3, "pending, verified, approved: {:?}", view.records);
    assert!(view.records.iter().all(|r| r.staff_name == "王运营" && r.receipt == "applied"));
    assert!(!view.records[0].summary.contains(&p.mobile), "masked: {}", view.records[0].summary);
    let trail = env.svc.audit_trail(beian_core::model::AuditEntity::Filing, appid).await.expect("audit");
    let recorded: Vec<_> = trail.iter().filter(|e| e.action == "desk_recorded").collect();
    assert_eq!(recorded.len(), 3);
    assert!(recorded.iter().all(|e| e.actor == "operator:op1" && e.detail["operator"] == "王运营"));
    assert_eq!(trail.iter().filter(|e| e.action == "authority_approve").count(), 1);

    // The filing's cancellation is a new item; its confirmation cancels.
    env.svc.filings().cancel(&actor(), appid, Some(2), Some(1)).await.expect("cancel");
    let v = env.svc.filings().order(appid).await.expect("order").expect("exists").order;
    let cancel_round = u32::try_from(v.row_version).expect("round");
    let op =
        env.svc.filings().authority_cancellation(appid, cancel_round).await.expect("op").expect("canceling");
    desk.submit(op).await.expect("submit cancel");
    let open = desk.items(true).await.expect("items");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, "cancel_service");
    let refused = desk.record(open[0].id, &operator(), AuthorityEvent::SmsVerified).await;
    assert!(refused.is_err(), "a cancellation has no such form");
    assert_eq!(
        desk.record(open[0].id, &operator(), AuthorityEvent::CancelConfirmed { empty_shell: false })
            .await
            .expect("confirmed"),
        Receipt::Applied
    );
    let o = env.svc.filings().order(appid).await.expect("order").expect("exists").order;
    assert!(!o.state.is_canceling(), "{:?}", o.state);
    assert!(desk.items(true).await.expect("items").is_empty());
    assert_eq!(desk.items(false).await.expect("items").len(), 2, "closed items stay");
}

crate::both_backends!(a_filing_goes_through_the_desk_once);

async fn a_rejection_and_a_superseded_round(b: Backend) {
    let env = env(b).await;
    let desk = Arc::new(desk(&env));
    let (id, _) = submitted(&env, &desk, "wxdesk00002", &person(2)).await;
    desk.record(id, &operator(), AuthorityEvent::SmsVerified).await.expect("verified");
    let reason =
        AuditItem {
            key_name: "服务内容".into(), error: "与实际不符".into(), suggest: "请如实填写".into()
        };
    let r = desk.record(id, &operator(), AuthorityEvent::Rejected { reasons: vec![reason] }).await;
    assert_eq!(r.expect("rejected"), Receipt::Applied);
    assert!(matches!(state(&env, "wxdesk00002").await, FilingState::AuthorityRejected), "rejected");
    let view = desk.item(id).await.expect("read").expect("exists");
    assert_eq!((view.item.open, view.item.outcome.as_str()), (false, "rejected"));
    assert!(view.records[1].summary.contains("与实际不符"));

    // The order left the round while the operator filed (here its SMS window closed through
    // another path): the desk's news is ignored, the item closes as no longer current.
    let (id, _) = submitted(&env, &desk, "wxdesk00003", &person(3)).await;
    env.svc.filings().sms_timeout(&Actor::authority(), "wxdesk00003").await.expect("timeout");
    let r = desk.record(id, &operator(), AuthorityEvent::SmsVerified).await.expect("ignored");
    assert_eq!(r, Receipt::Ignored);
    let view = desk.item(id).await.expect("read").expect("exists");
    assert_eq!((view.item.open, view.item.outcome.as_str()), (false, "ignored"));

    // Refused outright: recorded, the item stays open for the operator's follow-up.
    let (id, _) = submitted(&env, &desk, "wxdesk00004", &person(4)).await;
    let refused = AuthorityEvent::Refused { code: "1017".into(), reason: "已有变更在办理中".into() };
    assert_eq!(desk.record(id, &operator(), refused).await.expect("refused"), Receipt::Applied);
    let view = desk.item(id).await.expect("read").expect("exists");
    assert_eq!((view.item.open, view.item.outcome.as_str()), (true, "refused"));
}

crate::both_backends!(a_rejection_and_a_superseded_round);

/// A mini program filed through the desk with the authority's numbers.
async fn filed_at_the_desk(env: &Env, desk: &ManualDesk, appid: &str, p: &Person, serial: u32) {
    let (id, _) = submitted(env, desk, appid, p).await;
    desk.record(id, &operator(), AuthorityEvent::SmsVerified).await.expect("verified");
    let subject = format!("粤ICP备2026{serial:06}号");
    let approved =
        AuthorityEvent::Approved { subject_number: subject.clone(), service_number: format!("{subject}-1X") };
    assert_eq!(desk.record(id, &operator(), approved).await.expect("approved"), Receipt::Applied);
    assert!(matches!(state(env, appid).await, FilingState::Filed { canceling: false }));
}

/// The developer asks to cancel this platform's access (取消接入); the desk's open item for it.
async fn cancel_access_item(env: &Env, desk: &ManualDesk, appid: &str) -> i64 {
    env.svc.filings().cancel(&actor(), appid, Some(3), Some(1)).await.expect("cancel access");
    let v = env.svc.filings().order(appid).await.expect("order").expect("exists").order;
    let round = u32::try_from(v.row_version).expect("round");
    let op = env.svc.filings().authority_cancellation(appid, round).await.expect("op").expect("canceling");
    desk.submit(op).await.expect("submit");
    let open = desk.items(true).await.expect("items");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].kind, "cancel_access");
    open[0].id
}

/// 取消接入 at the desk: the operator records the authority's refusal to remove the record's
/// last access (the filing stays, the reason reaches the developer), then, on a second request,
/// the removal leaving an empty shell (the access is gone here, the shell listed for operators).
async fn cancel_access_at_the_desk(b: Backend) {
    let env = env(b).await;
    let desk = desk(&env);
    let appid = "wxdesk00011";
    filed_at_the_desk(&env, &desk, appid, &person(11), 311).await;

    // Refused: the record's only access cannot be removed (code 1025).
    let id = cancel_access_item(&env, &desk, appid).await;
    let refused = AuthorityEvent::CancelAborted {
        reason: "该备案仅有本接入商接入，不能取消接入".into()
    };
    assert_eq!(desk.record(id, &operator(), refused.clone()).await.expect("refused"), Receipt::Applied);
    assert_eq!(desk.record(id, &operator(), refused).await.expect("again"), Receipt::Duplicate);
    let o = env.svc.filings().order(appid).await.expect("order").expect("exists").order;
    assert_eq!(o.state, FilingState::Filed { canceling: false }, "the filing stays");
    assert_eq!(o.service_record_number.as_deref(), Some("粤ICP备2026000311号-1X"));
    let (notices, _) = env.svc.mini_programs().messages(appid, 20).await.expect("messages");
    assert!(
        notices.iter().any(|m| m.body.contains("不能取消接入")),
        "the developer is told the authority's reason: {notices:?}"
    );
    assert!(env.svc.operations().empty_shells(10).await.expect("shells").is_empty());

    // Removed, leaving an empty shell.
    let id = cancel_access_item(&env, &desk, appid).await;
    let removed = AuthorityEvent::CancelConfirmed { empty_shell: true };
    assert_eq!(desk.record(id, &operator(), removed).await.expect("removed"), Receipt::Applied);
    let o = env.svc.filings().order(appid).await.expect("order").expect("exists").order;
    assert!(!o.state.is_filed(), "not filed here any more: {:?}", o.state);
    assert_eq!(o.service_record_number, None, "the numbers are gone here");
    let shells = env.svc.operations().empty_shells(10).await.expect("shells");
    assert_eq!(
        shells.iter().map(|s| (s.appid.as_str(), s.service_number.as_str())).collect::<Vec<_>>(),
        vec![(appid, "粤ICP备2026000311号-1X")]
    );
    let view = desk.item(id).await.expect("read").expect("exists");
    assert!(!view.item.open);
    assert!(view.records.iter().all(|r| r.staff_name == "王运营"));
}

crate::both_backends!(cancel_access_at_the_desk);
