//! 接入已有备案 and 取消接入 in headless Chromium at 1280 and 390 px: the number's error at
//! its field in Chinese, the status page after submitting; the consequences of cancelling an
//! access spelled out, nothing without the checkbox; every page accessible (axe-core) and
//! fitting a phone.

use beian_browser_tests::{Browser, TestServer};
use beian_core::model::CancelType;
use beian_core::platform::MemberRole;
use beian_core::state::FilingState;
use beian_service::Actor;
use beian_testkit::fixtures::{mini_program, Identity};

/// `appid` of admin `n`, with a developer `dev{n}` who may file for it.
async fn setup(server: &TestServer, appid: &str, n: u32) {
    let a = Actor::new("test", "setup");
    let input = mini_program(appid, &format!("接入测试{n}"), &Identity::admin(n));
    server.svc.mini_programs().register_mini_program(&a, input).await.expect("register");
    let dev = server
        .svc
        .accounts()
        .create_account(&a, &format!("dev{n}"), &format!("开发者{n}"), "access-password-1")
        .await
        .expect("account");
    server.svc.accounts().grant(&a, appid, &dev.id, MemberRole::Admin, &[]).await.expect("grant");
}

async fn login(b: &Browser, server: &TestServer, n: u32) {
    b.goto(&server.url("/console/login")).await;
    b.fill("input[name=username]", &format!("dev{n}")).await;
    b.fill("input[name=password]", "access-password-1").await;
    b.submit("#login").await;
}

/// Accessible and fitting at both widths.
async fn checked(b: &Browser, name: &str) {
    for width in [1280, 390] {
        b.set_width(width).await;
        b.assert_accessible().await;
        b.assert_fits_width().await;
        b.screenshot(&format!("{name}-{width}")).await;
    }
    b.set_width(1280).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_pages_in_the_browser() {
    let server = TestServer::start().await;
    let a = Actor::new("test", "setup");
    // An unfiled mini program whose wizard draft is complete.
    setup(&server, "wxbacc0001", 81).await;
    let payload = beian_testkit::service::personal_payload(&server.svc, "wxbacc0001", 81).await;
    server
        .svc
        .filings()
        .update_draft("wxbacc0001", |p| {
            *p = payload.clone();
            Ok(())
        })
        .await
        .expect("draft");
    // A filed one.
    setup(&server, "wxbacc0002", 82).await;
    let payload = beian_testkit::service::personal_payload(&server.svc, "wxbacc0002", 82).await;
    server.svc.filings().apply(&a, "wxbacc0002", payload).await.expect("apply");
    server.svc.filings().platform_approve(&a, "wxbacc0002").await.expect("platform approve");
    server.svc.filings().sms_verified(&Actor::authority(), "wxbacc0002").await.expect("sms");
    beian_testkit::service::authority_approve(&server.svc, "wxbacc0002").await.expect("filed");

    let b = Browser::start("access_pages_in_the_browser").await;
    login(&b, &server, 81).await;
    b.goto(&server.url("/console/apps/wxbacc0001")).await;
    b.click("#access-link").await;
    b.wait_for("#service_number").await;
    b.assert_text("主体名称：管理员81").await;
    checked(&b, "access").await;
    // Another province: the error at the number, in Chinese.
    b.fill("#service_number", "京ICP备2019000781号-1X").await;
    b.click("input[name=agree]").await;
    b.submit("#submit-access").await;
    let error = b.text("label[data-field=service_number] .field-error").await;
    assert!(error.contains("与主体所在省份不符"), "{error}");
    checked(&b, "access-error").await;
    assert!(server.svc.filings().order("wxbacc0001").await.expect("order").is_none());
    b.fill("#service_number", "粤ICP备2019000781号-1X").await;
    b.click("input[name=agree]").await;
    b.submit("#submit-access").await;
    b.wait_for("#access-note").await;
    b.assert_text("粤ICP备2019000781号-1X").await;
    b.assert_text("平台审核中").await;
    checked(&b, "access-submitted").await;

    // 取消接入 of the filed one.
    let b = Browser::start("access_pages_in_the_browser_cancel").await;
    login(&b, &server, 82).await;
    b.goto(&server.url("/console/apps/wxbacc0002")).await;
    b.click("#cancel-access-link").await;
    b.wait_for("#consequences").await;
    for text in ["不再视为已备案", "不再展示备案号", "工信部的备案记录仍然保留", "空壳备案"]
    {
        b.assert_text(text).await;
    }
    checked(&b, "cancel-access").await;
    b.submit("#submit-cancel-access").await;
    b.assert_text("请先勾选确认").await;
    let o = server.svc.filings().order("wxbacc0002").await.expect("order").expect("order").order;
    assert_eq!(o.state, FilingState::Filed { canceling: false }, "nothing without the checkbox");
    b.click("#confirm-cancel-access").await;
    b.submit("#submit-cancel-access").await;
    b.wait_for("#status-label").await;
    let o = server.svc.filings().order("wxbacc0002").await.expect("order").expect("order").order;
    assert_eq!(o.cancel_type, Some(CancelType::Access));
    assert!(
        matches!(o.state, FilingState::Filed { canceling: true } | FilingState::NotFiled),
        "asked of the authority: {:?}",
        o.state
    );
    server.stop().await;
}
