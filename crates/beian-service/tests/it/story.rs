//! The filing lifecycle told as stories, through the service layer.

use crate::both_backends;
use crate::support::*;
use beian_core::errcode;
use beian_core::model::AuditItem;
use beian_service::{Actor, ServiceError};
use chrono::Duration;

both_backends!(
    file_review_verify_approve_cancel,
    reject_fix_reapply,
    withdraw_only_in_platform_review,
    sms_timeout_then_resubmit_or_reject,
    concurrent_applies_one_never_filed_subject,
    concurrent_applies_same_appid,
    subject_number_shared_after_first_filing,
);

fn reason(key: &str) -> Vec<AuditItem> {
    vec![AuditItem {
        key_name: key.into(),
        error: "备注未描述实际服务内容".into(),
        suggest: "请具体描述小程序的主要服务，20-200字".into(),
    }]
}

fn reviewer() -> Actor {
    Actor::new("reviewer", "r1")
}

async fn file_review_verify_approve_cancel(b: Backend) {
    let env = env(b).await;
    let p = person(1);
    mini_program(&env, "wxstory0001", &p).await;
    let info = env.svc.filings().entrance_info("wxstory0001").await.expect("entrance");
    assert_eq!((info.status, info.available), (1024, 1));

    // A wrong field is refused with a hint at its path; nothing is stored.
    let mut payload = personal_payload(&env, "wxstory0001", &p).await;
    payload.icp_applets.base_info.comment = "太短".into();
    match env.svc.filings().apply(&actor(), "wxstory0001", payload.clone()).await {
        Err(ServiceError::Hints(h)) => {
            assert_eq!(h.len(), 1, "{h:?}");
            assert_eq!(h[0].err_field, "icp_applets.base_info.comment");
            assert_eq!(h[0].errcode, errcode::FIELD_LENGTH);
        }
        other => panic!("expected hints, got {other:?}"),
    }
    assert!(env.svc.filings().order("wxstory0001").await.expect("order").is_none());

    payload.icp_applets.base_info.comment =
        "本小程序为个人读书笔记分享工具，提供书目记录与笔记展示功能。".into();
    let v = env.svc.filings().apply(&actor(), "wxstory0001", payload).await.expect("apply");
    assert_eq!(v.status, 2);
    assert_eq!(
        env.svc
            .filings()
            .apply(&actor(), "wxstory0001", personal_payload(&env, "wxstory0001", &p).await)
            .await
            .err()
            .map(code),
        Some(errcode::UNDER_REVIEW)
    );

    let v = env.svc.filings().platform_approve(&reviewer(), "wxstory0001").await.expect("approve");
    assert_eq!((v.status, v.order.state.sms_verify_status().map(|s| s.code())), (4, Some(1)));
    env.clock.advance(Duration::hours(3));
    let v = env.svc.filings().sms_verified(&Actor::authority(), "wxstory0001").await.expect("sms");
    assert_eq!(v.order.state.sms_verify_status().map(|s| s.code()), Some(2));
    let v =
        beian_testkit::service::authority_approve(&env.svc, "wxstory0001").await.expect("authority approve");
    assert_eq!(v.status, 6);
    assert_eq!(v.order.subject_record_number.as_deref(), Some("粤ICP备2026000001号"));
    assert_eq!(v.order.service_record_number.as_deref(), Some("粤ICP备2026000001号-1X"));

    let online = env.svc.filings().online_order("wxstory0001").await.expect("online order");
    assert_eq!(online.icp_applets.base_info.record_number, "粤ICP备2026000001号-1X");
    assert_eq!(online.icp_applets.base_info.appid, "wxstory0001");

    // Cancellation: canceling until confirmed, then not filed and the number is gone.
    assert_eq!(
        env.svc.filings().cancel(&actor(), "wxstory0001", Some(9), None).await.err().map(code),
        Some(errcode::INVALID_ARGS)
    );
    let v = env.svc.filings().cancel(&actor(), "wxstory0001", Some(2), Some(1)).await.expect("cancel");
    assert!(v.order.state.is_canceling());
    let info = env.svc.filings().entrance_info("wxstory0001").await.expect("entrance");
    assert!(info.is_canceling);
    assert_eq!(
        env.svc.filings().cancel(&actor(), "wxstory0001", Some(2), None).await.err().map(code),
        Some(errcode::UNDER_REVIEW)
    );
    let v = env.svc.filings().cancel_confirmed(&Actor::authority(), "wxstory0001").await.expect("confirm");
    assert_eq!(v.status, 1024);
    assert_eq!(v.order.service_record_number, None);
    assert_eq!(
        env.svc.filings().cancel(&actor(), "wxstory0001", Some(2), None).await.err().map(code),
        Some(errcode::NOT_FILED_CANNOT_CANCEL)
    );

    // Every change left an audit event, in order.
    let trail: Vec<String> = env
        .svc
        .audit_trail(beian_core::model::AuditEntity::Filing, "wxstory0001")
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        trail,
        ["apply", "platform_approve", "sms_verified", "authority_approve", "cancel", "cancel_confirmed"]
    );

    assert_no_plaintext(&env, &[&p.id, &p.mobile, &p.emergency]);
}

/// The database (SQLite files, or a PostgreSQL dump of the test's schema) holds no ID number
/// or phone number in plain text.
fn assert_no_plaintext(env: &Env, secrets: &[&str]) {
    if let Some(schema) = &env.pg_schema {
        let out = std::process::Command::new("pg_dump")
            .args(["--schema", schema, "--data-only", &pg_admin_url()])
            .output()
            .expect("pg_dump (PostgreSQL client) must be installed");
        assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.len() > 1000, "the dump holds the test's data");
        for s in secrets {
            assert!(!contains(&out.stdout, s.as_bytes()), "the PostgreSQL dump contains {s} in plain text");
        }
        return;
    }
    let mut checked = 0;
    for entry in std::fs::read_dir(env.dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if !name.starts_with("beian.db") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read db file");
        checked += bytes.len();
        for s in secrets {
            assert!(!contains(&bytes, s.as_bytes()), "{name} contains {s} in plain text");
        }
    }
    assert!(checked > 0, "no database file found");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn code(e: ServiceError) -> i64 {
    match e {
        ServiceError::Refused { errcode, .. } => errcode,
        ServiceError::Hints(_) => errcode::APPLY_FAIL,
        other => panic!("unexpected error {other:?}"),
    }
}

async fn reject_fix_reapply(b: Backend) {
    let env = env(b).await;
    let p = person(2);
    mini_program(&env, "wxstory0002", &p).await;
    let payload = personal_payload(&env, "wxstory0002", &p).await;
    env.svc.filings().apply(&actor(), "wxstory0002", payload.clone()).await.expect("apply");
    assert_eq!(
        env.svc.filings().platform_reject(&reviewer(), "wxstory0002", vec![]).await.err().map(code),
        Some(errcode::INVALID_INPUT)
    );
    let v = env
        .svc
        .filings()
        .platform_reject(&reviewer(), "wxstory0002", reason("小程序备注"))
        .await
        .expect("reject");
    assert_eq!(v.status, 3);
    let info = env.svc.filings().entrance_info("wxstory0002").await.expect("info");
    assert_eq!(info.audit_data[0].key_name, "小程序备注");

    // Fixed and re-applied: a second version, reasons cleared, back in review.
    let mut fixed = payload;
    fixed.icp_applets.base_info.comment =
        "本小程序提供个人读书笔记记录、书单整理与阅读进度管理服务，不涉及交易与社区。".into();
    let v = env.svc.filings().apply(&actor(), "wxstory0002", fixed).await.expect("re-apply");
    assert_eq!((v.status, v.order.versions), (2, 2));
    assert!(env.svc.filings().entrance_info("wxstory0002").await.expect("info").audit_data.is_empty());
    let first = env.svc.filings().submitted_version("wxstory0002", 1).await.expect("v1").expect("v1 exists");
    assert!(first.icp_applets.base_info.comment.starts_with("本小程序为个人"));

    // The authority rejects too; a third version goes through.
    env.svc.filings().platform_approve(&reviewer(), "wxstory0002").await.expect("approve");
    env.svc.filings().sms_verified(&Actor::authority(), "wxstory0002").await.expect("sms");
    let v = env
        .svc
        .filings()
        .authority_reject(&Actor::authority(), "wxstory0002", reason("主体证件照片"))
        .await
        .expect("reject");
    assert_eq!(v.status, 5);
    let again = personal_payload(&env, "wxstory0002", &p).await;
    assert_eq!(
        env.svc.filings().apply(&actor(), "wxstory0002", again).await.expect("third").order.versions,
        3
    );
}

async fn withdraw_only_in_platform_review(b: Backend) {
    let env = env(b).await;
    let p = person(3);
    mini_program(&env, "wxstory0003", &p).await;
    assert_eq!(
        env.svc.filings().withdraw(&actor(), "wxstory0003").await.err().map(code),
        Some(errcode::NO_WITHDRAWABLE_ORDER)
    );
    let payload = personal_payload(&env, "wxstory0003", &p).await;
    env.svc.filings().apply(&actor(), "wxstory0003", payload.clone()).await.expect("apply");
    let v = env.svc.filings().withdraw(&actor(), "wxstory0003").await.expect("withdraw");
    assert_eq!(v.status, 1024);
    assert_eq!(
        env.svc.filings().withdraw(&actor(), "wxstory0003").await.err().map(code),
        Some(errcode::NO_WITHDRAWABLE_ORDER)
    );
    // The subject's slot was released: it may apply again.
    env.svc.filings().apply(&actor(), "wxstory0003", payload).await.expect("apply again");
    env.svc.filings().platform_approve(&reviewer(), "wxstory0003").await.expect("approve");
    assert_eq!(
        env.svc.filings().withdraw(&actor(), "wxstory0003").await.err().map(code),
        Some(errcode::NOT_WITHDRAWABLE)
    );
}

async fn sms_timeout_then_resubmit_or_reject(b: Backend) {
    let env = env(b).await;
    let p = person(4);
    mini_program(&env, "wxstory0004", &p).await;
    env.svc
        .filings()
        .apply(&actor(), "wxstory0004", personal_payload(&env, "wxstory0004", &p).await)
        .await
        .expect("apply");
    env.svc.filings().platform_approve(&reviewer(), "wxstory0004").await.expect("approve");
    let v = env.svc.filings().sms_timeout(&Actor::authority(), "wxstory0004").await.expect("timeout");
    assert_eq!(v.order.state.sms_verify_status().map(|s| s.code()), Some(3));
    assert_eq!(env.svc.filings().entrance_info("wxstory0004").await.expect("info").sms_verify_status, 3);
    // The authority cannot decide before verification.
    assert_eq!(
        beian_testkit::service::authority_approve(&env.svc, "wxstory0004").await.err().map(code),
        Some(errcode::WRONG_REVIEW_STATE)
    );
    let v = env.svc.filings().resubmit(&reviewer(), "wxstory0004").await.expect("resubmit");
    assert_eq!(v.order.state.sms_verify_status().map(|s| s.code()), Some(1));
    env.svc.filings().sms_timeout(&Actor::authority(), "wxstory0004").await.expect("timeout again");
    let v = env
        .svc
        .filings()
        .platform_reject(&reviewer(), "wxstory0004", reason("主体负责人手机号码"))
        .await
        .expect("reject");
    assert_eq!(v.status, 3);
}

async fn concurrent_applies_one_never_filed_subject(b: Backend) {
    let env = env(b).await;
    let legal = person(10);
    let code = uscc("91440300MA5F00001");
    let mut payloads = Vec::new();
    for i in 0..4 {
        let appid = format!("wxrace{i:04}");
        let admin = person(11 + i);
        mini_program(&env, &appid, &admin).await;
        payloads.push((appid.clone(), enterprise_payload(&env, &appid, &code, &legal, &admin).await));
    }
    let mut handles = Vec::new();
    for (appid, payload) in payloads {
        let svc = env.svc.clone();
        handles.push(tokio::spawn(async move { svc.filings().apply(&actor(), &appid, payload).await }));
    }
    let mut accepted = 0;
    for h in handles {
        match h.await.expect("join") {
            Ok(_) => accepted += 1,
            Err(ServiceError::Hints(h)) => {
                assert_eq!(h.len(), 1, "{h:?}");
                assert_eq!(h[0].errcode, errcode::SUBJECT_IN_PROGRESS);
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(accepted, 1, "exactly one application of a never-filed subject may be in progress");
}

async fn concurrent_applies_same_appid(b: Backend) {
    let env = env(b).await;
    let p = person(20);
    mini_program(&env, "wxsame0001", &p).await;
    let payload = personal_payload(&env, "wxsame0001", &p).await;
    let mut handles = Vec::new();
    for _ in 0..2 {
        let (svc, payload) = (env.svc.clone(), payload.clone());
        handles.push(tokio::spawn(async move { svc.filings().apply(&actor(), "wxsame0001", payload).await }));
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.expect("join").map(|v| v.order.versions).map_err(code));
    }
    results.sort();
    assert_eq!(results, vec![Ok(1), Err(errcode::UNDER_REVIEW)]);
}

async fn subject_number_shared_after_first_filing(b: Backend) {
    let env = env(b).await;
    let legal = person(30);
    let code = uscc("91440300MA5F00002");
    let admins = [person(31), person(32), person(33)];
    for (i, admin) in admins.iter().enumerate() {
        mini_program(&env, &format!("wxshare{i:04}"), admin).await;
    }
    let file = |appid: String, admin: usize| {
        let env = &env;
        let (legal, code, admin) = (&legal, &code, &admins[admin]);
        async move {
            let p = enterprise_payload(env, &appid, code, legal, admin).await;
            env.svc.filings().apply(&actor(), &appid, p).await.expect("apply");
            env.svc.filings().platform_approve(&reviewer(), &appid).await.expect("approve");
            env.svc.filings().sms_verified(&Actor::authority(), &appid).await.expect("sms");
            beian_testkit::service::authority_approve(&env.svc, &appid).await.expect("filed")
        }
    };
    let first = file("wxshare0000".into(), 0).await;
    assert_eq!(first.order.service_record_number.as_deref(), Some("粤ICP备2026000001号-1X"));
    // After the first filing completed, two more may be in progress at once.
    let p1 = enterprise_payload(&env, "wxshare0001", &code, &legal, &admins[1]).await;
    env.svc.filings().apply(&actor(), "wxshare0001", p1).await.expect("second in progress");
    let second = file("wxshare0002".into(), 2).await;
    assert_eq!(second.order.service_record_number.as_deref(), Some("粤ICP备2026000001号-2X"));
}
