//! The planner: for every state and action, the whole plan (counters, numbers, jobs with their
//! keys, cascade, index, provider event, notice) is a snapshot, so a workflow change shows up
//! as a readable diff. Regenerate with `UPDATE_SNAPSHOTS=1`.

use beian_core::calendar::WorkCalendar;
use beian_core::dict::Dictionaries;
use beian_core::model::{AuditItem, CancelType, FilingOrder, MiniProgram, Person, Subject};
use beian_core::numbering::IssuedNumbers;
use beian_core::plan::{plan, Env, Facts, PlanError, Request};
use beian_core::policy::Policy;
use beian_core::state::{Action, FilingState, ReadinessFlags, SmsVerifyStatus};
use chrono::{TimeZone, Utc};

fn order(appid: &str, state: FilingState, numbered: bool) -> FilingOrder {
    FilingOrder {
        appid: appid.into(),
        subject_id: Some("s1".into()),
        state,
        audit_data: Vec::new(),
        subject_record_number: numbered.then(|| "粤ICP备2026000001号".into()),
        service_record_number: numbered
            .then(|| format!("粤ICP备2026000001号-{}X", if appid == "wxa" { 1 } else { 2 })),
        versions: 1,
        filed_version: u32::from(numbered),
        cancel_type: None,
        submitted_at: Some(1),
        updated_at: 1,
        claimed_by: Some("rev-1".into()),
        claimed_at: Some(1),
        review_due_at: None,
        authority_round: 1,
        access_number: None,
        row_version: 4,
    }
}

fn mini_program() -> MiniProgram {
    MiniProgram {
        appid: "wxa".into(),
        name: "读书笔记".into(),
        admin: Person { name: "李四".into(), id_number: "x".into(), mobile: "13800000000".into() },
        flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
        listed: true,
        cleared: false,
        created_at: 0,
    }
}

fn render() -> String {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().expect("valid instant");
    let (policy, dict) = (Policy::default(), Dictionaries::builtin());
    let env = Env { policy: &policy, dict: &dict, calendar: WorkCalendar::china() };
    let mp = mini_program();
    let reasons =
        [AuditItem {
            key_name: "主体证件照片".into(), error: "不清晰".into(), suggest: "重拍".into()
        }];
    // As the authority issues them for the subject below (no number yet: a new subject).
    let numbers = IssuedNumbers {
        subject_number: "粤ICP备2026000042号".into(),
        service_number: "粤ICP备2026000042号-3X".into(),
    };
    let mut out = String::new();
    for state in FilingState::ALL {
        for action in Action::ALL
            .into_iter()
            .filter(|a| !matches!(a, Action::Apply | Action::ApplyChange | Action::ApplyAccess))
        {
            let filed = matches!(state, FilingState::Filed { .. });
            let mut read = order("wxa", state, filed);
            if state == (FilingState::Filed { canceling: true }) {
                read.cancel_type = Some(CancelType::Subject);
            }
            let subject = Subject {
                id: "s1".into(),
                subject_type: 5,
                certificate_type: 2,
                certificate_number: "X".into(),
                name: "李四".into(),
                province: "440000".into(),
                filed_count: if filed { 2 } else { 1 },
                ever_filed: true,
                in_progress: u32::from(state.in_progress()),
                record_number: filed.then(|| "粤ICP备2026000001号".into()),
                service_seq: 2,
            };
            let others = [read.clone(), order("wxb", FilingState::Filed { canceling: false }, true)];
            let facts = Facts {
                now,
                mini_program: &mp,
                order: Some(&read),
                subject: Some((&subject, 7)),
                subject_orders: &others,
                latest: None,
            };
            let request = Request {
                reasons: matches!(action, Action::PlatformReject | Action::AuthorityReject)
                    .then_some(&reasons[..]),
                cancel_type: (action == Action::Cancel).then_some(CancelType::Service),
                numbers: (action == Action::AuthorityApprove).then_some(&numbers),
                ..Request::default()
            };
            let line = match plan(action, &request, &facts, &env) {
                Ok(p) => p.summary(),
                Err(PlanError::Refused { errcode, .. }) => format!("refused {errcode}"),
                Err(e) => format!("error {e:?}"),
            };
            out.push_str(&format!("{:<34} {:<17} {line}\n", format!("{state:?}"), action.name()));
        }
    }
    out
}

#[test]
fn plan_snapshot() {
    crate::assert_snapshot("plans.txt", &render());
}

#[test]
fn a_stale_page_or_another_reviewers_claim_is_refused_before_anything_is_planned() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().expect("valid instant");
    let (policy, dict) = (Policy::default(), Dictionaries::builtin());
    let env = Env { policy: &policy, dict: &dict, calendar: WorkCalendar::china() };
    let mp = mini_program();
    let read = order("wxa", FilingState::PlatformReview, false);
    let facts = Facts {
        now,
        mini_program: &mp,
        order: Some(&read),
        subject: None,
        subject_orders: &[],
        latest: None,
    };
    let stale = Request { expected_version: Some(3), ..Request::default() };
    assert!(matches!(
        plan(Action::PlatformApprove, &stale, &facts, &env),
        Err(PlanError::Refused { errcode: beian_core::errcode::CONFLICT, .. })
    ));
    let other = Request { reviewer: Some("rev-2"), ..Request::default() };
    assert!(matches!(
        plan(Action::PlatformApprove, &other, &facts, &env),
        Err(PlanError::Refused { errcode: beian_core::errcode::CONFLICT, .. })
    ));
    // The order names a subject the database does not have: an inconsistency, not a refusal.
    assert!(matches!(
        plan(Action::PlatformApprove, &Request::default(), &facts, &env),
        Err(PlanError::Inconsistent(_))
    ));
}

/// An approval writes the authority's numbers after checking them against the subject; it
/// never makes one up.
#[test]
fn approval_takes_the_authoritys_numbers_and_checks_them() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().expect("valid instant");
    let (policy, dict) = (Policy::default(), Dictionaries::builtin());
    let env = Env { policy: &policy, dict: &dict, calendar: WorkCalendar::china() };
    let mp = mini_program();
    let read = order("wxa", FilingState::AuthorityReview { sms: SmsVerifyStatus::Done }, false);
    let subject = |record_number: Option<&str>| Subject {
        id: "s1".into(),
        subject_type: 5,
        certificate_type: 2,
        certificate_number: "X".into(),
        name: "李四".into(),
        province: "440000".into(),
        filed_count: 0,
        ever_filed: false,
        in_progress: 1,
        record_number: record_number.map(Into::into),
        service_seq: 0,
    };
    let try_with = |held: Option<&str>, numbers: Option<(&str, &str)>| {
        let s = subject(held);
        let facts = Facts {
            now,
            mini_program: &mp,
            order: Some(&read),
            subject: Some((&s, 1)),
            subject_orders: &[],
            latest: None,
        };
        let numbers =
            numbers.map(|(a, b)| IssuedNumbers { subject_number: a.into(), service_number: b.into() });
        let request = Request { numbers: numbers.as_ref(), ..Request::default() };
        plan(Action::AuthorityApprove, &request, &facts, &env)
    };
    let refused = |r: Result<_, PlanError>| match r {
        Err(PlanError::Refused { errmsg, .. }) => errmsg,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let p = try_with(None, Some(("粤ICP备2026000042号", "粤ICP备2026000042号-1X"))).expect("approved");
    assert_eq!(p.order.subject_record_number.as_deref(), Some("粤ICP备2026000042号"));
    assert_eq!(p.order.service_record_number.as_deref(), Some("粤ICP备2026000042号-1X"));
    assert!(refused(try_with(None, None)).contains("管局核发"));
    assert!(
        refused(try_with(None, Some(("京ICP备2026000042号", "京ICP备2026000042号-1X")))).contains("应为“粤”")
    );
    assert!(refused(try_with(None, Some(("粤ICP备2026000042号", "粤ICP备2026000042号-1A")))).contains("X"));
    let held = Some("粤ICP备2020000001号");
    assert!(refused(try_with(held, Some(("粤ICP备2026000042号", "粤ICP备2026000042号-1X"))))
        .contains("已有主体备案号"));
    let p =
        try_with(held, Some(("粤ICP备2020000001号", "粤ICP备2020000001号-2X"))).expect("a further service");
    assert_eq!(p.order.service_record_number.as_deref(), Some("粤ICP备2020000001号-2X"));
}

/// 新增接入 issues no number: the authority confirms the record's own numbers, anything else is
/// refused; a confirmed 取消接入 clears the numbers and tells providers whether a shell is left.
#[test]
fn a_new_access_is_confirmed_with_its_own_numbers_and_a_cancelled_access_tells_the_shell() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().expect("valid instant");
    let (policy, dict) = (Policy::default(), Dictionaries::builtin());
    let env = Env { policy: &policy, dict: &dict, calendar: WorkCalendar::china() };
    let mp = mini_program();
    let mut read = order("wxa", FilingState::AuthorityReview { sms: SmsVerifyStatus::Done }, false);
    read.access_number = Some("粤ICP备2019000777号-2X".into());
    assert_eq!(beian_core::plan::OrderKind::of(&read), beian_core::plan::OrderKind::NewAccess);
    let subject = Subject {
        id: "s1".into(),
        subject_type: 5,
        certificate_type: 2,
        certificate_number: "X".into(),
        name: "李四".into(),
        province: "440000".into(),
        filed_count: 0,
        ever_filed: false,
        in_progress: 1,
        record_number: None,
        service_seq: 0,
    };
    let facts = Facts {
        now,
        mini_program: &mp,
        order: Some(&read),
        subject: Some((&subject, 1)),
        subject_orders: &[],
        latest: None,
    };
    let approve = |a: &str, b: &str| {
        let numbers = IssuedNumbers { subject_number: a.into(), service_number: b.into() };
        plan(
            Action::AuthorityApprove,
            &Request { numbers: Some(&numbers), ..Request::default() },
            &facts,
            &env,
        )
    };
    match approve("粤ICP备2019000777号", "粤ICP备2019000777号-3X") {
        Err(PlanError::Refused { errmsg, .. }) => assert!(errmsg.contains("备案号不变"), "{errmsg}"),
        other => panic!("another number must be refused, got {other:?}"),
    }
    let p = approve("粤ICP备2019000777号", "粤ICP备2019000777号-2X").expect("confirmed");
    assert_eq!(p.order.service_record_number.as_deref(), Some("粤ICP备2019000777号-2X"));
    assert_eq!(p.provider_result.as_ref().map(|r| r.event), Some("notify_icp_access_result"));
    assert_eq!(p.notice().map(|n| n.kind), Some("access_filed"));

    let mut filed = order("wxa", FilingState::Filed { canceling: true }, true);
    filed.cancel_type = Some(CancelType::Access);
    let facts = Facts { order: Some(&filed), ..facts };
    let shell = Request { empty_shell: Some(true), ..Request::default() };
    let p = plan(Action::CancelConfirmed, &shell, &facts, &env).expect("cancelled");
    assert_eq!(
        (p.order.service_record_number.as_deref(), p.order.subject_record_number.as_deref()),
        (None, None)
    );
    let r = p.provider_result.as_ref().expect("providers are told");
    assert_eq!(r.event, "notify_icp_cancel_access_result");
    assert!(r.extra.contains(&("empty_shell", "1".into(), true)));
    assert!(p.notice().expect("told").body.contains("空壳"));
    assert_eq!(p.audit()[0].detail["empty_shell"], serde_json::json!(true));
    let p = plan(Action::CancelAborted, &Request::default(), &facts, &env).expect("kept");
    assert_eq!(p.to, FilingState::Filed { canceling: false });
    assert_eq!(p.notice().map(|n| n.kind), Some("cancel_access_refused"));
}
