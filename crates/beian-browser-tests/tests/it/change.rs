//! 变更备案 in headless Chromium (test-artifacts/change_journey/): a filed mini program → 变更备案
//! → one field changed → the diff shows only that field → submit → the reviewer sees 变更 and
//! the diff against the record → approve → the principal verifies the SMS and the simulated
//! authority approves → the record is replaced, the number kept; then a change the platform
//! rejects keeps the old record and shows the reason, and is withdrawn; the history lists it
//! all. Each page passes axe. With the manual desk as the gateway, the desk lists the change
//! as 变更.

use crate::journey::login;
use crate::staff::{id_of, staff_login, submitted};
use beian::config::GatewayChoice;
use beian_browser_tests::{Browser, TestServer};
use beian_core::model::AuditItem;
use beian_core::platform::{MemberRole, Role};
use beian_core::state::FilingState;
use beian_service::Actor;
use std::time::Duration;

const APPID: &str = "wxchange0b1";
const N: u32 = 72;

async fn state(server: &TestServer) -> FilingState {
    server.svc.filings().order(APPID).await.expect("order").expect("exists").order.state
}

/// Wait (real time; the worker polls every 20 ms) until `f` holds.
async fn until<F, Fut>(what: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The change wizard's face step: a new task, passed (through the service).
async fn verify_admin_again(b: &Browser, server: &TestServer) {
    b.goto(&server.url(&format!("/console/apps/{APPID}/change?step=face"))).await;
    b.submit("#start-face").await;
    let draft = server.svc.filings().draft_or_start(APPID).await.expect("draft");
    let task = draft.icp_applets.principal_info.verify_task_id;
    server.svc.materials().finish_face_task(&Actor::new("test", "face"), &task, true).await.expect("face");
}

/// The newest six-digit code texted to the principal.
async fn sms_code(server: &TestServer, not: Option<&str>) -> String {
    let phone = format!("138{N:08}");
    for _ in 0..300 {
        let out = server.svc.job_queue().sms_outbox(Some(&phone), 20).await.expect("outbox");
        let code = out.iter().find_map(|m| {
            let c: String = m.text.split("验证码").nth(1)?.chars().take(6).collect();
            (c.len() == 6 && c.chars().all(|x| x.is_ascii_digit()) && Some(c.as_str()) != not).then_some(c)
        });
        if let Some(c) = code {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no code texted to {phone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_journey() {
    let server = TestServer::start().await;
    let a = Actor::new("test", "setup");
    submitted(&server, APPID, "变更读书笔记", N).await;
    server.svc.filings().platform_approve(&a, APPID).await.expect("approve");
    server.svc.filings().sms_verified(&Actor::authority(), APPID).await.expect("sms");
    beian_testkit::service::authority_approve(&server.svc, APPID).await.expect("filed");
    let filed = server.svc.filings().online_order(APPID).await.expect("online");
    let number = filed.icp_applets.base_info.record_number.clone();
    let (user, pass) = (format!("dev{N}"), format!("dev{N}-password"));
    let dev = server.svc.accounts().create_account(&a, &user, "变更负责人", &pass).await.expect("account");
    server.svc.accounts().grant(&a, APPID, &dev.id, MemberRole::Admin, &[]).await.expect("grant");
    let reviewer = server.svc.review().create_staff(&a, "钱审核", Role::Reviewer).await.expect("staff").1;
    let b = Browser::start("change_journey").await;

    // 变更备案 from the status page: the wizard pre-filled from the record.
    login(&b, &server, &user, &pass).await;
    b.goto(&server.url(&format!("/console/apps/{APPID}"))).await;
    b.click("#start-change").await;
    b.assert_text("变更备案").await;
    assert_eq!(
        b.value("input[name='icp_subject.base_info.address']").await,
        filed.icp_subject.base_info.address
    );
    b.assert_accessible().await;
    b.screenshot("change-prefilled").await;
    let new_address = "科技园南区变更后大道8号";
    b.fill("input[name='icp_subject.base_info.address']", new_address).await;
    b.submit("#step-form button[value=stay]").await;
    verify_admin_again(&b, &server).await;

    // The review step: only the changed field, beside its filed value.
    b.goto(&server.url(&format!("/console/apps/{APPID}/change?step=review"))).await;
    assert_eq!(b.find_all("#change-diff tr[data-field]").await.len(), 1);
    assert_eq!(
        b.attr("#change-diff tr[data-field]", "data-field").await.as_deref(),
        Some("icp_subject.base_info.address")
    );
    assert_eq!(b.find_all("#summary tr.changed").await.len(), 1, "one row highlighted");
    b.assert_text("所有信息已通过规则校验").await;
    b.assert_accessible().await;
    b.screenshot("change-diff").await;
    b.click("#agree").await;
    b.submit("#submit-change").await;
    b.assert_text("变更备案已提交").await;
    assert_eq!(b.text("#service-number").await, number, "the record and its number stay");
    b.assert_accessible().await;
    b.screenshot("change-beside-record").await;
    b.submit("header form button").await;

    // The reviewer: 变更 in the queue, the diff against the record; approve.
    staff_login(&b, &server, &reviewer).await;
    let row = b.text(&format!("tr[data-href='/admin/review/{APPID}']")).await;
    assert!(row.contains("变更"), "{row}");
    b.goto(&server.url(&format!("/admin/review/{APPID}"))).await;
    assert!(b.exists("#change-label").await);
    assert_eq!(b.find_all("#diff tr[data-field]").await.len(), 1);
    b.assert_accessible().await;
    b.screenshot("staff-change-review").await;
    b.submit_confirmed("#approve", true).await;
    b.submit("header form button").await;

    // The principal verifies the SMS; the simulated authority approves: the record is replaced.
    let code = sms_code(&server, None).await;
    b.goto(&server.url("/miit/verify")).await;
    b.fill("input[name=phone]", &format!("138{N:08}")).await;
    b.fill("input[name=id_last6]", &id_of(N)[12..]).await;
    b.fill("input[name=code]", &code).await;
    b.submit("button[type=submit]").await;
    b.assert_text("核验成功").await;
    server.clock.advance(chrono::Duration::days(10));
    until("the simulated authority's approval", || async {
        state(&server).await == FilingState::Filed { canceling: false }
    })
    .await;
    let online = server.svc.filings().online_order(APPID).await.expect("online");
    assert_eq!(online.icp_subject.base_info.address, new_address, "the change is the record");
    assert_eq!(online.icp_applets.base_info.record_number, number, "the number is kept");

    // A change the platform rejects keeps the record and shows why; then it is withdrawn.
    login(&b, &server, &user, &pass).await;
    b.goto(&server.url(&format!("/console/apps/{APPID}/change?step=applet"))).await;
    b.fill(
        "textarea[name='icp_applets.base_info.comment']",
        "本小程序提供读书笔记记录、书单整理、阅读打卡与阅读进度管理服务，不涉及交易与社区发帖。",
    )
    .await;
    b.submit("#step-form button[value=stay]").await;
    verify_admin_again(&b, &server).await;
    b.goto(&server.url(&format!("/console/apps/{APPID}/change?step=review"))).await;
    b.click("#agree").await;
    b.submit("#submit-change").await;
    b.assert_text("变更备案已提交").await;
    let reasons = vec![AuditItem {
        key_name: "小程序备注".into(),
        error: "备注与实际服务不符".into(),
        suggest: "如实描述".into(),
    }];
    server.svc.filings().platform_reject(&a, APPID, reasons).await.expect("reject");
    b.goto(&server.url(&format!("/console/apps/{APPID}"))).await;
    assert!(b.text("#change-rejections").await.contains("备注与实际服务不符"));
    assert!(b.exists("#resubmit-change").await);
    assert_eq!(b.text("#service-number").await, number);
    assert_eq!(server.svc.filings().online_order(APPID).await.expect("online"), online, "the record stays");
    b.assert_accessible().await;
    b.screenshot("change-rejected").await;
    b.submit("#withdraw-change").await;
    assert!(b.exists("#start-change").await, "plainly filed again");
    assert_eq!(server.svc.filings().online_order(APPID).await.expect("online"), online);

    // The history: the filing, both changes, the decisions and the number.
    b.click("#history-link").await;
    for want in ["提交备案申请", "管局审核通过，变更生效", "平台初审驳回", "撤回变更", number.as_str()]
    {
        b.assert_text(want).await;
    }
    b.assert_accessible().await;
    b.screenshot("history").await;
    // The new pages fit a phone too.
    b.set_width(390).await;
    b.assert_fits_width().await;
    b.goto(&server.url(&format!("/console/apps/{APPID}/change?step=review"))).await;
    b.assert_fits_width().await;
    b.goto(&server.url(&format!("/console/apps/{APPID}"))).await;
    b.assert_fits_width().await;
    b.set_width(1280).await;
    b.goto(&server.url(&format!("/console/apps/{APPID}/history/2"))).await;
    assert_eq!(b.find_all("#version-diff tr[data-field]").await.len(), 1);
    b.assert_accessible().await;
    b.assert_same_origin().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_lists_a_change() {
    let server = TestServer::start_with(GatewayChoice::Manual).await;
    let (appid, a) = ("wxchange0d1", Actor::new("test", "setup"));
    submitted(&server, appid, "变更天气", 73).await;
    server.svc.filings().platform_approve(&a, appid).await.expect("approve");
    server.svc.filings().sms_verified(&Actor::authority(), appid).await.expect("sms");
    beian_testkit::service::authority_approve(&server.svc, appid).await.expect("filed");
    // A change of the address with a new face verification, through the service.
    let mut change = server.svc.filings().online_order(appid).await.expect("online");
    change.icp_subject.base_info.address = "科技园南区变更后大道9号".into();
    let task = server.svc.materials().create_face_task(&a, appid).await.expect("task");
    server.svc.materials().finish_face_task(&a, &task.task_id, true).await.expect("face");
    change.icp_applets.principal_info.verify_task_id = task.task_id;
    server.svc.filings().apply_change(&a, appid, change).await.expect("change");
    server.svc.filings().platform_approve(&a, appid).await.expect("approve the change");
    let operator = server.svc.review().create_staff(&a, "孙运营", Role::Operator).await.expect("staff").1;
    let b = Browser::start("change_on_the_desk").await;
    staff_login(&b, &server, &operator).await;
    let row = format!("#desk-items tr.row[data-appid={appid}][data-kind=change]");
    for _ in 0..100 {
        b.goto(&server.url("/admin/desk")).await;
        if b.exists(&row).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(b.text(&row).await.contains("变更"), "the change is listed as 变更");
    b.click(&format!("{row} a")).await;
    assert!(b.text("h1").await.starts_with("变更"), "the item says it is a change");
    b.assert_accessible().await;
    b.screenshot("desk-change").await;
    server.stop().await;
}
