//! Change filing (变更备案) end to end through the service: a change runs beside the filed
//! record — the mini program stays filed with its numbers and online record — through
//! platform review, the authority's SMS verification and decision; approved, it replaces the
//! record; rejected or withdrawn, the record stays. What a change may not do is refused.

use crate::both_backends;
use crate::support::*;
use beian_core::errcode;
use beian_core::model::{AuditItem, Person as Admin};
use beian_core::payload::ApplyPayload;
use beian_core::state::{ChangeStage, FilingState, SmsVerifyStatus};
use beian_ports::authority::{AuthorityEvent, Operation, Receipt};
use beian_ports::host::{EventId, PlatformEvent};
use beian_service::{Actor, ServiceError};

fn reviewer() -> Actor {
    Actor::new("reviewer", "r1")
}

fn code(e: ServiceError) -> i64 {
    match e {
        ServiceError::Refused { errcode, .. } => errcode,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A filed personal mini program: its numbers and the payload it was filed with.
async fn filed(env: &Env, appid: &str, p: &Person) -> (String, String, ApplyPayload) {
    mini_program(env, appid, p).await;
    let payload = personal_payload(env, appid, p).await;
    env.svc.filings().apply(&actor(), appid, payload.clone()).await.expect("apply");
    env.svc.filings().platform_approve(&reviewer(), appid).await.expect("platform approve");
    env.svc.filings().sms_verified(&Actor::authority(), appid).await.expect("sms");
    let o = beian_testkit::service::authority_approve(&env.svc, appid).await.expect("filed").order;
    (o.subject_record_number.expect("subject"), o.service_record_number.expect("service"), payload)
}

/// A fresh, complete application of `p` for `appid` (new face task, uploads), changed by `edit`.
async fn changed(env: &Env, appid: &str, p: &Person, edit: impl FnOnce(&mut ApplyPayload)) -> ApplyPayload {
    let mut payload = personal_payload(env, appid, p).await;
    edit(&mut payload);
    payload
}

async fn state(env: &Env, appid: &str) -> FilingState {
    env.svc.filings().order(appid).await.expect("order").expect("exists").order.state
}

async fn subject_change_is_filed_beside_the_record(b: Backend) {
    let env = env(b).await;
    let p = person(1);
    let appid = "wxchange001";
    let (subject_no, service_no, _) = filed(&env, appid, &p).await;
    let before = env.svc.filings().online_order(appid).await.expect("online");

    let new_address = "科技园南区变更后大道8号";
    let change = changed(&env, appid, &p, |c| c.icp_subject.base_info.address = new_address.into()).await;
    let v = env.svc.filings().apply_change(&actor(), appid, change).await.expect("apply change");
    assert_eq!(v.order.state, FilingState::Changing { stage: ChangeStage::PlatformReview });
    assert_eq!(v.status, 6, "the record stays filed");

    // While the change runs: the WeChat answers keep the filed record; the change is beside it.
    let info = env.svc.filings().entrance_info(appid).await.expect("entrance");
    assert_eq!((info.status, info.sms_verify_status), (6, 0));
    assert_eq!(info.change.as_ref().map(|c| c.status), Some(2));
    assert_eq!(env.svc.filings().online_order(appid).await.expect("online"), before);
    let q = env.svc.public_index().public_query(&service_no).await.expect("query");
    assert_eq!(q.items.len(), 1, "still in the public query");
    // One open request: another change, a new application, a cancellation are refused.
    let again = changed(&env, appid, &p, |c| c.icp_subject.base_info.address = "另一个地址1号".into()).await;
    let e = env.svc.filings().apply_change(&actor(), appid, again).await.expect_err("one open request");
    assert_eq!(code(e), errcode::CHANGE_OPEN);
    let e = env
        .svc
        .filings()
        .cancel(&actor(), appid, Some(2), Some(1))
        .await
        .expect_err("no cancel during a change");
    assert_eq!(code(e), errcode::CHANGE_OPEN);

    // The reviewer compares it with the filed record.
    let order = env.svc.filings().order(appid).await.expect("order").expect("exists").order;
    let baseline =
        env.svc.filings().baseline_version(&order).await.expect("baseline").expect("filed version");
    assert_ne!(baseline.icp_subject.base_info.address, new_address);

    env.svc.filings().platform_approve(&reviewer(), appid).await.expect("platform approve");
    let round = env.svc.filings().order(appid).await.expect("order").expect("exists").order.authority_round;
    // The gateway is handed a change of the filed service.
    match env.svc.filings().authority_submission(appid, round).await.expect("op") {
        Some(Operation::Change { service_number, payload, .. }) => {
            assert_eq!(service_number, service_no);
            assert_eq!(payload.icp_subject.base_info.address, new_address);
        }
        other => panic!("expected a change, got {other:?}"),
    }
    let filings = env.svc.filings();
    let inbox = |id: &'static str, event| filings.receive_authority_event(id, appid, round, event);
    assert_eq!(inbox("c-verified", AuthorityEvent::SmsVerified).await.expect("verified"), Receipt::Applied);
    assert_eq!(
        state(&env, appid).await,
        FilingState::Changing { stage: ChangeStage::AuthorityReview { sms: SmsVerifyStatus::Done } }
    );
    // Approved with other numbers: refused, nothing changes.
    let other = AuthorityEvent::Approved {
        subject_number: subject_no.clone(),
        service_number: format!("{subject_no}-9X"),
    };
    assert!(inbox("c-wrong", other).await.is_err());
    let approved =
        AuthorityEvent::Approved { subject_number: subject_no.clone(), service_number: service_no.clone() };
    assert_eq!(inbox("c-approved", approved).await.expect("approved"), Receipt::Applied);
    let v = env.svc.filings().order(appid).await.expect("order").expect("exists");
    assert_eq!(v.order.state, FilingState::Filed { canceling: false });
    assert_eq!(
        (v.order.subject_record_number.as_deref(), v.order.service_record_number.as_deref()),
        (Some(subject_no.as_str()), Some(service_no.as_str()))
    );
    let after = env.svc.filings().online_order(appid).await.expect("online");
    assert_eq!(after.icp_subject.base_info.address, new_address, "the change is the record now");
    assert_eq!(after.icp_applets.base_info.record_number, service_no);
    assert!(env.svc.filings().entrance_info(appid).await.expect("entrance").change.is_none());
    let (messages, _) = env.svc.mini_programs().messages(appid, 20).await.expect("messages");
    assert!(messages.iter().any(|m| m.title == "变更备案已通过"), "{messages:?}");
    let report = env.svc.operations().check_invariants().await.expect("check");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}

async fn a_rejected_change_keeps_the_record(b: Backend) {
    let env = env(b).await;
    let p = person(2);
    let appid = "wxchange002";
    let (_, service_no, _) = filed(&env, appid, &p).await;
    let before = env.svc.filings().online_order(appid).await.expect("online");
    let change = changed(&env, appid, &p, |c| {
        c.icp_applets.base_info.comment =
            "本小程序为个人读书笔记分享工具，新增书评功能，提供书目记录与阅读进度管理，不涉及交易。".into()
    })
    .await;
    env.svc.filings().apply_change(&actor(), appid, change).await.expect("apply change");
    env.svc.filings().platform_approve(&reviewer(), appid).await.expect("platform approve");
    env.svc.filings().sms_verified(&Actor::authority(), appid).await.expect("sms");
    let reasons = vec![AuditItem {
        key_name: "小程序备注".into(),
        error: "服务内容与实际不符".into(),
        suggest: "如实填写".into(),
    }];
    env.svc.filings().authority_reject(&Actor::authority(), appid, reasons).await.expect("reject");
    assert_eq!(state(&env, appid).await, FilingState::Changing { stage: ChangeStage::AuthorityRejected });
    let info = env.svc.filings().entrance_info(appid).await.expect("entrance");
    assert_eq!(info.status, 6, "still filed");
    let change = info.change.expect("the rejected change is shown");
    assert_eq!((change.status, change.audit_data.len()), (5, 1));
    assert_eq!(env.svc.filings().online_order(appid).await.expect("online"), before);
    assert_eq!(env.svc.public_index().public_query(&service_no).await.expect("query").items.len(), 1);
    // Given up: plain filed again, the record untouched.
    env.svc.filings().withdraw(&actor(), appid).await.expect("withdraw the rejected change");
    assert_eq!(state(&env, appid).await, FilingState::Filed { canceling: false });
    assert_eq!(env.svc.filings().online_order(appid).await.expect("online"), before);
    assert!(env.svc.filings().entrance_info(appid).await.expect("entrance").change.is_none());
}

async fn what_a_change_may_not_do(b: Backend) {
    let env = env(b).await;
    let p = person(3);
    let appid = "wxchange003";
    // Not filed yet: nothing to change.
    mini_program(&env, appid, &p).await;
    let payload = personal_payload(&env, appid, &p).await;
    let e = env.svc.filings().apply_change(&actor(), appid, payload).await.expect_err("not filed");
    assert_eq!(code(e), errcode::NOT_FILED_CANNOT_CHANGE);
    let appid = "wxchange004";
    filed(&env, appid, &p).await;
    // Another province: cancel and file anew.
    let moved = changed(&env, appid, &p, |c| {
        let b = &mut c.icp_subject.base_info;
        (b.province, b.city, b.district) = ("110000".into(), "110100".into(), "110105".into());
    })
    .await;
    let e = env.svc.filings().apply_change(&actor(), appid, moved).await.expect_err("province");
    match e {
        ServiceError::Refused { errcode: c, errmsg } => {
            assert_eq!(c, errcode::CHANGE_NOT_ALLOWED);
            assert!(errmsg.contains("省份"), "{errmsg}");
        }
        other => panic!("{other:?}"),
    }
    // Another certificate is another subject.
    let other = person(4);
    let renamed =
        changed(&env, appid, &p, |c| c.icp_subject.organize_info.certificate_number = other.id.clone()).await;
    let e = env.svc.filings().apply_change(&actor(), appid, renamed).await.expect_err("certificate");
    assert_eq!(code(e), errcode::CHANGE_NOT_ALLOWED);
    // Nothing changed.
    let same = changed(&env, appid, &p, |_| {}).await;
    let filed_payload = env.svc.filings().online_order(appid).await.expect("online");
    let e = env.svc.filings().apply_change(&actor(), appid, filed_payload).await.expect_err("same");
    assert_eq!(code(e), errcode::NOTHING_CHANGED);
    assert_eq!(state(&env, appid).await, FilingState::Filed { canceling: false }, "nothing written");
    // WeChat's applyIcpFiling on a filed mini program still says it is filed.
    let e = env.svc.filings().apply(&actor(), appid, same).await.expect_err("apply when filed");
    assert_eq!(code(e), errcode::ALREADY_FILED);
}

async fn withdrawn_before_the_authority(b: Backend) {
    let env = env(b).await;
    let p = person(5);
    let appid = "wxchange005";
    filed(&env, appid, &p).await;
    let before = env.svc.filings().online_order(appid).await.expect("online");
    let change =
        changed(&env, appid, &p, |c| c.icp_subject.base_info.address = "福田街道新地址2号".into()).await;
    env.svc.filings().apply_change(&actor(), appid, change.clone()).await.expect("apply change");
    env.svc.filings().withdraw(&actor(), appid).await.expect("withdraw in platform review");
    assert_eq!(state(&env, appid).await, FilingState::Filed { canceling: false });
    assert_eq!(env.svc.filings().online_order(appid).await.expect("online"), before);
    // Once with the authority it can no longer be withdrawn.
    let change =
        changed(&env, appid, &p, |c| c.icp_subject.base_info.address = "福田街道新地址3号".into()).await;
    env.svc.filings().apply_change(&actor(), appid, change).await.expect("apply change again");
    env.svc.filings().platform_approve(&reviewer(), appid).await.expect("platform approve");
    let e = env.svc.filings().withdraw(&actor(), appid).await.expect_err("with the authority");
    assert_eq!(code(e), errcode::NOT_WITHDRAWABLE);
}

/// The filing's principal must be the admin: after the host platform changes the admin of a
/// filed organisation's mini program, a change naming the new admin as the service's principal
/// goes through (the subject and its legal person stay).
async fn principal_change_after_an_admin_change(b: Backend) {
    let env = env(b).await;
    let (legal, old_admin, new_admin) = (person(1), person(2), person(3));
    let appid = "wxchange006";
    let code_ = uscc("91440300MA5F0C006");
    mini_program(&env, appid, &old_admin).await;
    let payload = enterprise_payload(&env, appid, &code_, &legal, &old_admin).await;
    env.svc.filings().apply(&actor(), appid, payload).await.expect("apply");
    env.svc.filings().platform_approve(&reviewer(), appid).await.expect("platform approve");
    env.svc.filings().sms_verified(&Actor::authority(), appid).await.expect("sms");
    beian_testkit::service::authority_approve(&env.svc, appid).await.expect("filed");

    let admin = Admin {
        name: new_admin.name.clone(),
        id_number: new_admin.id.clone(),
        mobile: new_admin.mobile.clone(),
    };
    let event = PlatformEvent::AdminChanged { appid: appid.into(), admin };
    let id = EventId::parse("e-admin-1").expect("id");
    env.svc.mini_programs().receive_platform_event(&id, &event).await.expect("admin changed");
    let marked = env.svc.mini_programs().principal_change_required(appid).await.expect("mark");
    assert!(marked.is_some(), "负责人须变更 once the filed principal is no longer the admin");
    let change = enterprise_payload(&env, appid, &code_, &legal, &new_admin).await;
    match env.svc.filings().apply_change(&actor(), appid, change).await {
        Ok(v) => assert_eq!(v.order.state, FilingState::Changing { stage: ChangeStage::PlatformReview }),
        Err(ServiceError::Hints(h)) => panic!("the principal change should pass the rules: {h:?}"),
        Err(e) => panic!("{e:?}"),
    }
    env.svc.filings().platform_approve(&reviewer(), appid).await.expect("platform approve");
    env.svc.filings().sms_verified(&Actor::authority(), appid).await.expect("sms");
    let still = env.svc.mini_programs().principal_change_required(appid).await.expect("mark");
    assert!(still.is_some(), "marked until the change is approved");
    beian_testkit::service::authority_approve(&env.svc, appid).await.expect("change filed");
    let cleared = env.svc.mini_programs().principal_change_required(appid).await.expect("mark");
    assert_eq!(cleared, None, "the approved change names the admin as principal");
    let (count, _) = env.svc.mini_programs().principal_changes(10).await.expect("list");
    assert_eq!(count, 0);
    let online = env.svc.filings().online_order(appid).await.expect("online");
    assert_eq!(online.icp_applets.principal_info.name, new_admin.name);
    assert_eq!(online.icp_subject.principal_info.name, legal.name);
}

both_backends!(
    subject_change_is_filed_beside_the_record,
    a_rejected_change_keeps_the_record,
    what_a_change_may_not_do,
    withdrawn_before_the_authority,
    principal_change_after_an_admin_change
);
