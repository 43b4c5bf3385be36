//! New access (新增接入) and cancel access (取消接入) end to end through the service: a mini
//! program filed through another access provider is connected by its existing service number
//! — checked against the subject, reviewed, confirmed by the authority with the same numbers,
//! then filed here; a filed mini program's access is removed, the record possibly left as an
//! empty shell (空壳) that operators see, or the authority refuses to remove its last access.

use crate::both_backends;
use crate::support::*;
use beian_core::model::AuditItem;
use beian_core::plan::ACCESS_NUMBER_FIELD;
use beian_core::state::FilingState;
use beian_ports::authority::{AuthorityEvent, CancelKind, Operation, Receipt};
use beian_service::{Actor, ServiceError};

/// A number of the fixtures' subject province (广东), filed elsewhere.
const NUMBER: &str = "粤ICP备2019000777号-1X";

fn reviewer() -> Actor {
    Actor::new("reviewer", "r1")
}

async fn state(env: &Env, appid: &str) -> FilingState {
    env.svc.filings().order(appid).await.expect("order").expect("exists").order.state
}

async fn round(env: &Env, appid: &str) -> u32 {
    env.svc.filings().order(appid).await.expect("order").expect("exists").order.authority_round
}

async fn titles(env: &Env, appid: &str) -> Vec<String> {
    let (messages, _) = env.svc.mini_programs().messages(appid, 50).await.expect("messages");
    messages.into_iter().map(|m| format!("{}|{}", m.title, m.body)).collect()
}

fn hint_at(e: ServiceError, field: &str) -> String {
    match e {
        ServiceError::Hints(h) => h
            .iter()
            .find(|h| h.err_field == field)
            .map(|h| h.errmsg.clone())
            .unwrap_or_else(|| panic!("no hint at {field}: {h:?}")),
        other => panic!("expected hints, got {other:?}"),
    }
}

async fn new_access_is_confirmed_with_the_existing_number(b: Backend) {
    let env = env(b).await;
    let p = person(1);
    let appid = "wxaccess0001";
    mini_program(&env, appid, &p).await;
    // A service provider authorized for the mini program hears of the result.
    let providers = env.svc.providers();
    let creds = providers
        .create_provider(&Actor::new("test", "op"), "测试服务商", "http://127.0.0.1:9/events")
        .await
        .expect("provider");
    let (pre, _) = providers.create_pre_auth_code(&creds.component_appid).await.expect("pre");
    providers
        .authorize_provider(&creds.component_appid, &pre, appid, &p.mobile, &p.id[12..], &[18])
        .await
        .expect("authorize");
    let payload = personal_payload(&env, appid, &p).await;
    let v = env.svc.filings().apply_access(&actor(), appid, NUMBER, payload).await.expect("apply access");
    assert_eq!((v.order.state, v.status), (FilingState::PlatformReview, 2));
    assert_eq!(v.order.access_number.as_deref(), Some(NUMBER));
    // WeChat's answer: an application under review, with the number as beian's extension.
    let info = env.svc.filings().entrance_info(appid).await.expect("entrance");
    assert_eq!(info.status, 2);
    assert_eq!(info.access.as_ref().map(|a| a.service_number.as_str()), Some(NUMBER));
    assert!(titles(&env, appid).await.iter().any(|t| t.starts_with("接入申请已提交")));
    // No number is taken before the authority confirms.
    assert_eq!(v.order.service_record_number, None);

    env.svc.filings().platform_approve(&reviewer(), appid).await.expect("platform approve");
    let round = round(&env, appid).await;
    match env.svc.filings().authority_submission(appid, round).await.expect("op") {
        Some(Operation::NewAccess { service_number, payload, .. }) => {
            assert_eq!(service_number, NUMBER);
            assert_eq!(payload.icp_subject.base_info.record_number, "粤ICP备2019000777号");
            assert_eq!(payload.icp_applets.base_info.record_number, NUMBER);
        }
        other => panic!("expected a new access, got {other:?}"),
    }
    // The manual desk's form is prefilled with the numbers to confirm.
    let ctx = env.svc.filings().number_context(appid).await.expect("ctx").expect("a subject");
    assert_eq!(
        (ctx.subject_number.as_deref(), ctx.service_number.as_deref()),
        (Some("粤ICP备2019000777号"), Some(NUMBER))
    );
    let filings = env.svc.filings();
    let inbox = |id: &'static str, event| filings.receive_authority_event(id, appid, round, event);
    assert_eq!(inbox("a-verified", AuthorityEvent::SmsVerified).await.expect("verified"), Receipt::Applied);
    // The authority never issues a new number for an access: another one is refused.
    let other = AuthorityEvent::Approved {
        subject_number: "粤ICP备2019000777号".into(),
        service_number: "粤ICP备2019000777号-2X".into(),
    };
    assert!(inbox("a-wrong", other).await.is_err(), "another number is refused");
    assert_eq!(state(&env, appid).await.status_code(), 4, "nothing changed");
    let same = AuthorityEvent::Approved {
        subject_number: "粤ICP备2019000777号".into(),
        service_number: NUMBER.into(),
    };
    assert_eq!(inbox("a-approved", same).await.expect("approved"), Receipt::Applied);
    let o = env.svc.filings().order(appid).await.expect("order").expect("exists").order;
    assert_eq!(o.state, FilingState::Filed { canceling: false });
    assert_eq!(
        (o.subject_record_number.as_deref(), o.service_record_number.as_deref()),
        (Some("粤ICP备2019000777号"), Some(NUMBER))
    );
    let q = env.svc.public_index().public_query(NUMBER).await.expect("query");
    assert!(q.items.iter().any(|i| i.appid == appid), "in the public index: {q:?}");
    let info = env.svc.filings().entrance_info(appid).await.expect("entrance");
    assert_eq!((info.status, info.access), (6, None));
    let jobs = env.svc.job_queue().jobs(None, 500).await.expect("jobs");
    let pushed: Vec<&str> = jobs
        .iter()
        .filter(|j| j.dedupe_key.as_deref().is_some_and(|k| k.starts_with(&format!("apply_result:{appid}:"))))
        .map(|j| j.payload.as_str())
        .collect();
    assert!(
        pushed.len() == 1 && pushed[0].contains("notify_icp_access_result") && pushed[0].contains("\"6\""),
        "the provider's event: {pushed:?}"
    );
    assert!(titles(&env, appid).await.iter().any(|t| t.starts_with("新增接入已通过")));
}

async fn a_rejected_access_shows_the_authoritys_reason(b: Backend) {
    let env = env(b).await;
    let p = person(2);
    let appid = "wxaccess0002";
    mini_program(&env, appid, &p).await;
    let payload = personal_payload(&env, appid, &p).await;
    env.svc.filings().apply_access(&actor(), appid, NUMBER, payload).await.expect("apply access");
    env.svc.filings().platform_approve(&reviewer(), appid).await.expect("platform approve");
    let round = round(&env, appid).await;
    let filings = env.svc.filings();
    filings.receive_authority_event("r-v", appid, round, AuthorityEvent::SmsVerified).await.expect("sms");
    let reason = AuditItem {
        key_name: "服务备案号".into(),
        error: "管局备案系统中没有该服务备案号的备案".into(),
        suggest: "请核对后重新提交".into(),
    };
    let rejected = AuthorityEvent::Rejected { reasons: vec![reason.clone()] };
    filings.receive_authority_event("r-r", appid, round, rejected).await.expect("rejected");
    assert_eq!(state(&env, appid).await, FilingState::AuthorityRejected);
    let info = env.svc.filings().entrance_info(appid).await.expect("entrance");
    assert_eq!(info.audit_data, vec![reason]);
    assert!(info.access.is_some(), "the access is still what was asked");
    assert!(titles(&env, appid).await.iter().any(|t| t.starts_with("新增接入被管局驳回")));
    // Corrected, it can be asked again; or filed anew (which forgets the number).
    let again = personal_payload(&env, appid, &p).await;
    let v = env.svc.filings().apply(&actor(), appid, again).await.expect("a new filing instead");
    assert_eq!(v.order.access_number, None);
}

async fn wrong_numbers_are_refused_at_the_field(b: Backend) {
    let env = env(b).await;
    let p = person(3);
    let appid = "wxaccess0003";
    mini_program(&env, appid, &p).await;
    let payload = personal_payload(&env, appid, &p).await;
    let try_number = |n: &'static str| {
        let payload = payload.clone();
        let svc = env.svc.clone();
        async move { svc.filings().apply_access(&actor(), appid, n, payload).await.expect_err(n) }
    };
    let e = hint_at(try_number("京ICP备2019000777号-1X").await, ACCESS_NUMBER_FIELD);
    assert!(e.contains("省份") && e.contains("粤"), "province mismatch: {e}");
    let e = hint_at(try_number("粤ICP备2019000777号-1A").await, ACCESS_NUMBER_FIELD);
    assert!(e.contains("X"), "{e}");
    let e = hint_at(try_number("粤ICP备2019000777号").await, ACCESS_NUMBER_FIELD);
    assert!(e.contains("序号"), "{e}");
    let e = hint_at(try_number("").await, ACCESS_NUMBER_FIELD);
    assert!(e.contains("请填写"), "{e}");
    // The same check without submitting (the console's field hints).
    let hints =
        env.svc.filings().validate_access(appid, "京ICP备2019000777号-1X", &payload).await.expect("v");
    assert!(hints.iter().any(|h| h.err_field == ACCESS_NUMBER_FIELD));
    assert!(env.svc.filings().validate_access(appid, NUMBER, &payload).await.expect("v").is_empty());
    // Nothing was written.
    assert!(env.svc.filings().order(appid).await.expect("order").is_none());

    // A number filed here already belongs to that mini program.
    let filed = "wxaccess0004";
    mini_program(&env, filed, &p).await;
    let payload2 = personal_payload(&env, filed, &p).await;
    env.svc.filings().apply(&actor(), filed, payload2).await.expect("apply");
    env.svc.filings().platform_approve(&reviewer(), filed).await.expect("platform approve");
    env.svc.filings().sms_verified(&Actor::authority(), filed).await.expect("sms");
    let o = beian_testkit::service::authority_approve(&env.svc, filed).await.expect("filed").order;
    let number = o.service_record_number.expect("number");
    let payload = personal_payload(&env, appid, &p).await;
    let e = env.svc.filings().apply_access(&actor(), appid, &number, payload).await.expect_err("taken");
    let msg = hint_at(e, ACCESS_NUMBER_FIELD);
    assert!(msg.contains(filed), "{msg}");
    // The subject holds a number here now: a record of another subject number is not its own.
    let payload = personal_payload(&env, appid, &p).await;
    let e =
        env.svc.filings().apply_access(&actor(), appid, NUMBER, payload).await.expect_err("another subject");
    let msg = hint_at(e, ACCESS_NUMBER_FIELD);
    assert!(msg.contains("不属于该主体"), "{msg}");
}

/// A filed mini program, through the service.
async fn filed(env: &Env, appid: &str, p: &Person) -> String {
    mini_program(env, appid, p).await;
    let payload = personal_payload(env, appid, p).await;
    env.svc.filings().apply(&actor(), appid, payload).await.expect("apply");
    env.svc.filings().platform_approve(&reviewer(), appid).await.expect("platform approve");
    env.svc.filings().sms_verified(&Actor::authority(), appid).await.expect("sms");
    let o = beian_testkit::service::authority_approve(&env.svc, appid).await.expect("filed").order;
    o.service_record_number.expect("number")
}

async fn cancel_access_can_leave_an_empty_shell_for_operators(b: Backend) {
    let env = env(b).await;
    let p = person(4);
    let appid = "wxaccess0005";
    let number = filed(&env, appid, &p).await;
    let v = env.svc.filings().cancel(&actor(), appid, Some(3), None).await.expect("cancel access");
    assert_eq!(v.order.state, FilingState::Filed { canceling: true });
    let round = u32::try_from(v.order.row_version).expect("round");
    match env.svc.filings().authority_cancellation(appid, round).await.expect("op") {
        Some(Operation::Cancel { cancel: CancelKind::Access, record_number, .. }) => {
            assert_eq!(record_number, number)
        }
        other => panic!("expected a cancel access, got {other:?}"),
    }
    let filings = env.svc.filings();
    // Confirmed, leaving the record without any access.
    let confirmed = AuthorityEvent::CancelConfirmed { empty_shell: true };
    assert_eq!(
        filings.receive_authority_event("x-c", appid, round, confirmed).await.expect("c"),
        Receipt::Applied
    );
    let o = env.svc.filings().order(appid).await.expect("order").expect("exists").order;
    assert_eq!(o.state, FilingState::NotFiled);
    assert_eq!((o.subject_record_number, o.service_record_number), (None, None));
    assert!(env.svc.public_index().public_query(&number).await.expect("q").items.is_empty());
    let shells = env.svc.operations().empty_shells(10).await.expect("shells");
    assert_eq!(shells.len(), 1);
    assert_eq!((shells[0].appid.as_str(), shells[0].service_number.as_str()), (appid, number.as_str()));
    let trail = env.svc.audit_trail(beian_core::model::AuditEntity::Filing, appid).await.expect("audit");
    assert!(trail.iter().any(|e| e.action == "cancel_confirmed" && e.detail["empty_shell"] == true));
    assert!(titles(&env, appid).await.iter().any(|t| t.starts_with("已取消接入") && t.contains("空壳")));

    // A cancellation of a service cannot claim an empty shell.
    let other = "wxaccess0006";
    filed(&env, other, &person(5)).await;
    let v = env.svc.filings().cancel(&actor(), other, Some(2), Some(1)).await.expect("cancel service");
    let round = u32::try_from(v.order.row_version).expect("round");
    let wrong = AuthorityEvent::CancelConfirmed { empty_shell: true };
    assert!(filings.receive_authority_event("x-w", other, round, wrong).await.is_err());
    assert_eq!(env.svc.operations().empty_shells(10).await.expect("shells").len(), 1);
}

async fn the_authority_may_refuse_to_remove_the_last_access(b: Backend) {
    let env = env(b).await;
    let p = person(4);
    let appid = "wxaccess0007";
    let number = filed(&env, appid, &p).await;
    let v = env.svc.filings().cancel(&actor(), appid, Some(3), None).await.expect("cancel access");
    let round = u32::try_from(v.order.row_version).expect("round");
    let refused =
        AuthorityEvent::CancelAborted { reason: "1025 该备案仅剩本接入服务商的接入".into() };
    let filings = env.svc.filings();
    assert_eq!(
        filings.receive_authority_event("y-a", appid, round, refused).await.expect("a"),
        Receipt::Applied
    );
    let o = env.svc.filings().order(appid).await.expect("order").expect("exists").order;
    assert_eq!(o.state, FilingState::Filed { canceling: false });
    assert_eq!(o.service_record_number.as_deref(), Some(number.as_str()));
    let info = env.svc.filings().entrance_info(appid).await.expect("entrance");
    assert!(info.audit_data.is_empty(), "the refusal is told, not kept on the record");
    assert!(titles(&env, appid).await.iter().any(|t| t.starts_with("取消接入未完成") && t.contains("1025")));
    assert!(env.svc.operations().empty_shells(10).await.expect("shells").is_empty());
}

both_backends!(
    new_access_is_confirmed_with_the_existing_number,
    a_rejected_access_shows_the_authoritys_reason,
    wrong_numbers_are_refused_at_the_field,
    cancel_access_can_leave_an_empty_shell_for_operators,
    the_authority_may_refuse_to_remove_the_last_access
);
