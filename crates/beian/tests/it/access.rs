//! 接入已有备案 and 取消接入 end to end, through the console a developer uses (HTTP forms, CSRF)
//! and the built-in simulator as the authority (its registry of records filed elsewhere, its
//! SMS verification, its decision; 取消接入 without SMS, an empty shell or a refusal of the
//! last access), down to what operators see on the staff dashboard.

use crate::console::{csrf, developer};
use crate::support::*;
use beian_authority_sim::settings::ForeignRecord;
use beian_core::platform::Role;
use beian_core::state::FilingState;
use beian_service::Actor;

const NUMBER: &str = "粤ICP备2019000777号-1X";

/// The simulator knows `NUMBER` as filed elsewhere by admin `n` (or by someone else).
async fn registry(app: &TestApp, n: u32, refuse_last_access: bool) {
    let mut settings = app.sim().settings().await.expect("settings");
    settings.foreign_records = vec![ForeignRecord {
        service_number: NUMBER.into(),
        subject_name: format!("管理员{n}"),
        certificate_number: admin_id(n),
        accesses: Vec::new(),
    }];
    settings.refuse_last_access = refuse_last_access;
    app.sim().set_settings(&Actor::new("test", "access").0, &settings).await.expect("settings");
}

/// The wizard's draft holds a complete application of admin `n` (as the wizard leaves it).
async fn draft(app: &TestApp, appid: &str, n: u32) {
    let payload = personal_payload(&app.svc, appid, n).await;
    app.svc
        .filings()
        .update_draft(appid, |p| {
            *p = payload.clone();
            Ok(())
        })
        .await
        .expect("draft");
}

async fn state(app: &TestApp, appid: &str) -> FilingState {
    app.svc.filings().entrance_info(appid).await.expect("entrance").state()
}

/// Platform review, then the principal's SMS verification on the simulator's page.
async fn through_review_and_sms(app: &TestApp, appid: &str, n: u32) {
    app.svc.filings().platform_approve(&Actor::new("reviewer", "r1"), appid).await.expect("platform approve");
    let code = code_for(app, &admin_mobile(n), None).await;
    let (st, page) = verify_sms(app, &admin_mobile(n), &admin_id(n)[12..], &code).await;
    assert_eq!(st, 200, "{page}");
    eventually("the authority's review", || async {
        state(app, appid).await
            == FilingState::AuthorityReview { sms: beian_core::state::SmsVerifyStatus::Done }
    })
    .await;
}

async fn new_access_through_the_console(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let (appid, n) = ("wxacc0001", 71);
    let browser = developer(&app, appid, n).await;
    registry(&app, n, false).await;
    draft(&app, appid, n).await;

    let (st, status, _) = browser.get(&format!("/console/apps/{appid}")).await;
    assert_eq!(st, 200);
    assert!(status.contains(&format!("/console/apps/{appid}/access")), "the way in: {status}");
    let path = format!("/console/apps/{appid}/access");
    let (st, page, _) = browser.get(&path).await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains(&format!("主体名称：管理员{n}")), "the draft's subject: {page}");

    // Another province: refused at the number, in Chinese; nothing written.
    let (st, _, shown) =
        browser.post(&path, &page, &[("service_number", "京ICP备2019000777号-1X"), ("agree", "1")]).await;
    assert_eq!(st, 400, "{shown}");
    assert!(shown.contains("data-field=\"service_number\""), "{shown}");
    assert!(shown.contains("省份简称“京”与主体所在省份不符"), "at the field: {shown}");
    assert!(app.svc.filings().order(appid).await.expect("order").is_none());
    // Not without the confirmation, nor with a forged token.
    let (st, _, shown) = browser.post(&path, &page, &[("service_number", NUMBER)]).await;
    assert!(st == 400 && shown.contains("请先勾选确认"), "{shown}");
    let forged = page.replace(&csrf(&page), "forged-token");
    let (st, _, _) = browser.post(&path, &forged, &[("service_number", NUMBER), ("agree", "1")]).await;
    assert_eq!(st, 403, "CSRF");
    assert!(app.svc.filings().order(appid).await.expect("order").is_none());

    let (st, loc, _) = browser.post(&path, &page, &[("service_number", NUMBER), ("agree", "1")]).await;
    assert_eq!((st, loc.as_str()), (303, format!("/console/apps/{appid}?submitted=1").as_str()));
    let (_, status, _) = browser.get(&loc).await;
    assert!(status.contains("平台审核中") && status.contains(NUMBER), "status like a filing: {status}");
    // The reviewer sees the number the application is checked against.
    let token = app
        .svc
        .review()
        .create_staff(&Actor::new("test", "setup"), "审核接入", Role::Reviewer)
        .await
        .expect("staff")
        .1;
    let cookie = staff_cookie(&app, &token).await;
    let (code, _, review) = staff_get(&app, &format!("/admin/review/{appid}"), &cookie).await;
    assert_eq!(code, 200, "{review}");
    assert!(review.contains("新增接入：服务备案号") && review.contains(NUMBER), "{review}");
    assert!(review.contains("规则引擎未发现问题"), "the number passes the rules: {review}");
    // The queue labels it, so a reviewer knows before opening it.
    let (code, _, queue) = staff_get(&app, "/admin", &cookie).await;
    assert_eq!(code, 200, "{queue}");
    let row = queue.split("<tr").find(|r| r.contains(appid)).unwrap_or_default();
    assert!(row.contains("新增接入"), "the queue's row: {row}");

    through_review_and_sms(&app, appid, n).await;
    // The simulator's decision: the number is known and the subject matches.
    app.sim().decide_now(appid, beian_authority_sim::Decision::Approve(None)).await.expect("decided");
    eventually("filed", || async { state(&app, appid).await == FilingState::Filed { canceling: false } })
        .await;
    let o = app.svc.filings().order(appid).await.expect("order").expect("order").order;
    assert_eq!(o.service_record_number.as_deref(), Some(NUMBER), "no new number");
    assert_eq!(o.subject_record_number.as_deref(), Some("粤ICP备2019000777号"));
    let q = app.svc.public_index().public_query(NUMBER).await.expect("query");
    assert!(q.items.iter().any(|i| i.appid == appid));
    let (_, status, _) = browser.get(&format!("/console/apps/{appid}")).await;
    assert!(status.contains(NUMBER) && status.contains("已备案"), "{status}");
    app.stop().await;
}

async fn unknown_numbers_and_other_subjects_are_rejected_by_the_authority(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    // The registry knows the number as admin 72's; admin 73 asks for it, admin 74 for another.
    registry(&app, 72, false).await;
    for (appid, n, number, why) in [
        ("wxacc0002", 73, NUMBER, "主体与申请的主体"),
        ("wxacc0003", 74, "粤ICP备2019000888号-1X", "没有服务备案号"),
    ] {
        register(&app, appid, n).await;
        let payload = personal_payload(&app.svc, appid, n).await;
        let actor = Actor::new("test", "access");
        app.svc.filings().apply_access(&actor, appid, number, payload).await.expect("apply access");
        through_review_and_sms(&app, appid, n).await;
        app.sim().decide_now(appid, beian_authority_sim::Decision::Approve(None)).await.expect("decided");
        eventually("rejected", || async { state(&app, appid).await == FilingState::AuthorityRejected }).await;
        let info = app.svc.filings().entrance_info(appid).await.expect("entrance");
        assert!(info.audit_data.iter().any(|a| a.error.contains(why)), "{why}: {:?}", info.audit_data);
        let o = app.svc.filings().order(appid).await.expect("order").expect("order").order;
        assert_eq!(o.service_record_number, None);
    }
    app.stop().await;
}

async fn cancel_access_through_the_console_leaves_an_empty_shell_or_is_refused(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let (appid, n) = ("wxacc0004", 75);
    let browser = developer(&app, appid, n).await;
    apply_personal(&app, appid, n).await;
    through_review_and_sms(&app, appid, n).await;
    app.sim().decide_now(appid, beian_authority_sim::Decision::Approve(None)).await.expect("approved");
    eventually("filed", || async { state(&app, appid).await == FilingState::Filed { canceling: false } })
        .await;
    let number = app.svc.filings().order(appid).await.expect("o").expect("o").order.service_record_number;
    let number = number.expect("a number");

    // First the authority refuses to remove the record's last access.
    registry(&app, 1, true).await;
    let (_, status, _) = browser.get(&format!("/console/apps/{appid}")).await;
    assert!(status.contains(&format!("/console/apps/{appid}/cancel-access")), "{status}");
    let path = format!("/console/apps/{appid}/cancel-access");
    let (st, page, _) = browser.get(&path).await;
    assert_eq!(st, 200);
    for consequence in ["不再视为已备案", "下架", "不再展示备案号", "工信部的备案记录仍然保留", "空壳"]
    {
        assert!(page.contains(consequence), "{consequence}: {page}");
    }
    assert!(page.contains(&number));
    let (st, _, shown) = browser.post(&path, &page, &[]).await;
    assert!(st == 400 && shown.contains("请先勾选确认"), "{shown}");
    let forged = page.replace(&csrf(&page), "forged-token");
    assert_eq!(browser.post(&path, &forged, &[("confirm", "1")]).await.0, 403);
    assert_eq!(state(&app, appid).await, FilingState::Filed { canceling: false }, "nothing changed");
    let (st, loc, _) = browser.post(&path, &page, &[("confirm", "1")]).await;
    assert_eq!((st, loc.as_str()), (303, format!("/console/apps/{appid}").as_str()));
    eventually("the refusal", || async {
        let (messages, _) = app.svc.mini_programs().messages(appid, 20).await.expect("messages");
        messages.iter().any(|m| m.title == "取消接入未完成" && m.body.contains("1025"))
    })
    .await;
    assert_eq!(state(&app, appid).await, FilingState::Filed { canceling: false });

    // Allowed: the access is removed, the record left without access (空壳).
    registry(&app, 1, false).await;
    let (_, page, _) = browser.get(&path).await;
    let (st, _, _) = browser.post(&path, &page, &[("confirm", "1")]).await;
    assert_eq!(st, 303);
    eventually("not filed here", || async { state(&app, appid).await == FilingState::NotFiled }).await;
    assert!(app.svc.public_index().public_query(&number).await.expect("q").items.is_empty());
    let (_, status, _) = browser.get(&format!("/console/apps/{appid}")).await;
    assert!(!status.contains(&number), "the number is no longer shown: {status}");
    // No SMS was sent for it.
    assert!(app.sim().submissions(appid).await.expect("subs").iter().any(|s| s.kind == "cancel_access"));

    // Operators see the empty shell.
    let token = app
        .svc
        .review()
        .create_staff(&Actor::new("test", "setup"), "运营空壳", Role::Operator)
        .await
        .expect("staff")
        .1;
    let cookie = staff_cookie(&app, &token).await;
    let (code, _, dash) = staff_get(&app, "/admin/dashboard", &cookie).await;
    assert_eq!(code, 200);
    let section = dash.split("id=\"empty-shells\"").nth(1).expect("the 空壳 section");
    assert!(section.contains(appid) && section.contains(&number), "{section}");
    app.stop().await;
}

both!(
    new_access_through_the_console,
    unknown_numbers_and_other_subjects_are_rejected_by_the_authority,
    cancel_access_through_the_console_leaves_an_empty_shell_or_is_refused
);
