//! The manual desk in headless Chromium (test-artifacts/desk_*/): an application the platform
//! approved appears on the operators' work list; the operator records the SMS verification
//! and the authority's numbers (a wrong one is refused at its field), and the developer
//! console shows 已备案 with those numbers; another is rejected with a catalogue reason. The
//! desk's `AuthorityDriver` (every step a click) runs the same kind of walk, plus a refusal, an
//! expired SMS window and a cancellation. `BEIAN_UPDATE_SCREENSHOTS=1` copies the work list
//! and the approval form to docs/screenshots/desk-*.png (the README shows them).

use crate::staff::submitted;
use beian::config::GatewayChoice;
use beian_browser_tests::desk_driver::DeskDriver;
use beian_browser_tests::{Browser, TestServer};
use beian_core::model::AuditItem;
use beian_core::numbering::IssuedNumbers;
use beian_core::platform::Role;
use beian_core::state::FilingState;
use beian_service::Actor;
use beian_testkit::authority_contract::AuthorityDriver;
use std::path::Path;
use std::time::{Duration, Instant};

/// Keep a screenshot for the README when asked to.
fn keep(shot: &Path, name: &str) {
    if std::env::var_os("BEIAN_UPDATE_SCREENSHOTS").is_some() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&dir).expect("docs/screenshots");
        std::fs::copy(shot, dir.join(format!("{name}.png"))).expect("copy the screenshot");
    }
}

async fn state(server: &TestServer, appid: &str) -> FilingState {
    server.svc.filings().order(appid).await.expect("order").expect("exists").order.state
}

/// The platform approved `appid`; wait until its job handed it to the desk.
async fn on_the_desk(b: &Browser, server: &TestServer, appid: &str) {
    server.svc.filings().platform_approve(&Actor::new("reviewer", "r1"), appid).await.expect("approve");
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        b.goto(&server.url("/admin/desk")).await;
        if b.has_text(appid).await {
            return;
        }
        assert!(Instant::now() < until, "{appid} never reached the desk");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn operator(server: &TestServer) -> String {
    server
        .svc
        .review()
        .create_staff(&Actor::new("test", "setup"), "赵运营", Role::Operator)
        .await
        .expect("staff")
        .1
}

async fn staff_login(b: &Browser, server: &TestServer, token: &str) {
    b.goto(&server.url("/admin/login")).await;
    b.fill("input[name=token]", token).await;
    b.submit("#login").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desk_journey() {
    let server = TestServer::start_with(GatewayChoice::Manual).await;
    submitted(&server, "wxdesk0001", "读书笔记", 71).await;
    submitted(&server, "wxdesk0002", "城市天气", 72).await;
    let token = operator(&server).await;
    let b = Browser::start("desk_journey").await;
    staff_login(&b, &server, &token).await;
    on_the_desk(&b, &server, "wxdesk0001").await;
    on_the_desk(&b, &server, "wxdesk0002").await;

    // The work list: both open, in Chinese, submitted in Beijing time.
    b.goto(&server.url("/admin/desk")).await;
    b.assert_text("新增主体及服务").await;
    b.assert_text("读书笔记").await;
    b.assert_text("2026-03-02 10:").await;
    assert_eq!(b.find_all("#desk-items tr.row[data-state=open]").await.len(), 2);
    keep(&b.screenshot("desk-list").await, "desk-list");
    b.assert_same_origin().await;
    b.assert_accessible().await;

    // The item: what to type into the authority's system, and the forms.
    let id = b.attr("tr.row[data-appid=wxdesk0001]", "data-id").await.expect("id");
    b.goto(&server.url(&format!("/admin/desk/{id}"))).await;
    b.assert_text("在管局系统中填写").await;
    b.assert_text("负责人71").await;
    // The application as the reviewer read it (no field paths, no codes), accessible, and
    // fitting a phone too.
    let what = b.text("#desk-operation").await;
    assert!(
        !what.contains("icp_") && what.contains("广东省 深圳市 南山区") && what.contains("居民身份证"),
        "{what}"
    );
    b.assert_accessible().await;
    b.set_width(390).await;
    b.assert_fits_width().await;
    b.assert_accessible().await;
    b.screenshot("desk-item-390").await;
    b.set_width(1280).await;
    assert!(!b.exists("#form-approved").await, "no decision before the SMS verification");
    b.submit("#record-sms-pending").await;
    b.assert_text("已登记").await;
    assert!(server.svc.filings().sms_pending("wxdesk0001").await.expect("read").is_some());
    b.submit("#record-sms-verified").await;
    b.assert_text("已登记").await;
    assert_eq!(
        state(&server, "wxdesk0001").await,
        FilingState::AuthorityReview { sms: beian_core::state::SmsVerifyStatus::Done }
    );
    // The same form posted again (a double click, a resubmitted page): recorded once, shown
    // as 已记录.
    assert!(!b.exists("#record-sms-verified").await, "the form is gone once recorded");
    b.js(&format!(
        "window.__beianLeaving = true; var f = document.createElement('form'); f.method = 'post'; \
         f.action = '/admin/desk/{id}/record'; \
         [['_csrf', document.querySelector('input[name=_csrf]').value], ['form', 'sms_verified']].forEach(function(p) {{ \
           var i = document.createElement('input'); i.type = 'hidden'; i.name = p[0]; i.value = p[1]; f.appendChild(i); }}); \
         document.body.appendChild(f); setTimeout(function() {{ f.submit(); }}, 0); return null;"
    ))
    .await;
    let until = Instant::now() + Duration::from_secs(10);
    while !b.current_url().await.contains("done=duplicate") {
        assert!(Instant::now() < until, "the repeated form was answered: {}", b.current_url().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.wait_for("#desk-notice").await;
    b.assert_text("已记录").await;
    let trail =
        server.svc.audit_trail(beian_core::model::AuditEntity::Filing, "wxdesk0001").await.expect("audit");
    assert_eq!(trail.iter().filter(|e| e.action == "sms_verified").count(), 1, "applied once");

    // A wrong number is refused at its field; nothing changes.
    b.fill("#subject_number", "京ICP备2026000701号").await;
    b.fill("#service_number", "京ICP备2026000701号-1X").await;
    b.submit("#record-approved").await;
    b.assert_text("与主体所在省份不符").await;
    assert!(b.exists("#subject_number-error").await);
    assert_eq!(
        state(&server, "wxdesk0001").await,
        FilingState::AuthorityReview { sms: beian_core::state::SmsVerifyStatus::Done }
    );
    b.fill("#subject_number", "粤ICP备2026000701号").await;
    b.fill("#service_number", "粤ICP备2026000701号-1").await;
    b.submit("#record-approved").await;
    assert!(b.exists("#service_number-error").await, "the suffix is checked");
    b.screenshot("desk-number-refused").await;
    b.goto(&server.url(&format!("/admin/desk/{id}"))).await;
    b.fill("#subject_number", "粤ICP备2026000701号").await;
    b.fill("#service_number", "粤ICP备2026000701号-1X").await;
    keep(&b.screenshot("desk-approval").await, "desk-approval");
    b.submit("#record-approved").await;
    b.assert_text("已登记").await;
    b.assert_text("已办结").await;
    b.screenshot("desk-approved").await;
    assert!(matches!(state(&server, "wxdesk0001").await, FilingState::Filed { .. }));

    // The other is rejected with a catalogue reason.
    let id2 = {
        b.goto(&server.url("/admin/desk")).await;
        b.attr("tr.row[data-appid=wxdesk0002]", "data-id").await.expect("id")
    };
    b.goto(&server.url(&format!("/admin/desk/{id2}"))).await;
    // A form posted without the session's CSRF token is refused and changes nothing.
    let status = b
        .js(&format!(
            "var x = new XMLHttpRequest(); x.open('POST', '/admin/desk/{id2}/record', false); \
             x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded'); \
             x.send('form=sms_verified&_csrf=forged'); return x.status;"
        ))
        .await;
    assert_eq!(status, serde_json::json!(403));
    assert_eq!(
        state(&server, "wxdesk0002").await,
        FilingState::AuthorityReview { sms: beian_core::state::SmsVerifyStatus::Waiting }
    );
    b.submit("#record-sms-verified").await;
    b.click("#form-rejected input[name=reason_id]").await;
    b.submit("#record-rejected").await;
    b.assert_text("已登记").await;
    assert_eq!(state(&server, "wxdesk0002").await, FilingState::AuthorityRejected);
    let info = server.svc.filings().entrance_info("wxdesk0002").await.expect("info");
    assert_eq!(info.audit_data.len(), 1);
    b.goto(&server.url("/admin/desk?open=1")).await;
    b.assert_text("没有待办").await;
    b.goto(&server.url("/admin/desk")).await;
    assert_eq!(
        b.find_all("#desk-items tr.row[data-state=closed]").await.len(),
        2,
        "closed items stay visible"
    );
    b.submit("header form button").await;
    // Reviewers do not file with the authority.
    let reviewer = server
        .svc
        .review()
        .create_staff(&Actor::new("test", "setup"), "王审核", Role::Reviewer)
        .await
        .expect("staff")
        .1;
    staff_login(&b, &server, &reviewer).await;
    b.goto(&server.url("/admin/desk")).await;
    b.assert_text("此页面仅限运营人员访问").await;
    b.submit("header form button").await;

    // The developer console: 已备案 with the authority's numbers.
    let a = Actor::new("test", "setup");
    let dev = server
        .svc
        .accounts()
        .create_account(&a, "dev71", "负责人71", "dev71-password")
        .await
        .expect("account");
    server
        .svc
        .accounts()
        .grant(&a, "wxdesk0001", &dev.id, beian_core::platform::MemberRole::Admin, &[])
        .await
        .expect("grant");
    b.goto(&server.url("/console/login")).await;
    b.fill("input[name=username]", "dev71").await;
    b.fill("input[name=password]", "dev71-password").await;
    b.submit("#login").await;
    b.goto(&server.url("/console/apps/wxdesk0001")).await;
    b.assert_text("已备案").await;
    b.assert_text("粤ICP备2026000701号-1X").await;
    b.screenshot("developer-filed").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desk_driver_walks() {
    let server = TestServer::start_with(GatewayChoice::Manual).await;
    for (appid, n) in [("wxdrive0001", 81), ("wxdrive0002", 82), ("wxdrive0003", 83), ("wxdrive0004", 84)] {
        submitted(&server, appid, &format!("驱动{n}"), n).await;
    }
    let token = operator(&server).await;
    let driver = DeskDriver::sign_in(Browser::start("desk_driver_walks").await, &server.base, &token).await;
    for appid in ["wxdrive0001", "wxdrive0002", "wxdrive0003", "wxdrive0004"] {
        on_the_desk(driver.browser(), &server, appid).await;
    }
    assert_eq!(driver.name(), "desk");
    let received = driver.received("wxdrive0001").await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].kind, "new_subject_and_service");

    // Approved with numbers the "authority" issued; wrong ones first change nothing.
    driver.verify_sms("wxdrive0001").await;
    let wrong = IssuedNumbers {
        subject_number: "粤ICP备2026000801号".into(),
        service_number: "粤ICP备2026000801号-1A".into(),
    };
    assert!(!driver.approve_with("wxdrive0001", &wrong).await);
    assert!(matches!(state(&server, "wxdrive0001").await, FilingState::AuthorityReview { .. }));
    let numbers = driver.approve("wxdrive0001").await;
    let o = server.svc.filings().order("wxdrive0001").await.expect("order").expect("exists").order;
    assert_eq!(o.service_record_number.as_deref(), Some(numbers.service_number.as_str()));

    // Rejected; expired; refused (the item stays open).
    driver.verify_sms("wxdrive0002").await;
    let reason = AuditItem {
        key_name: "小程序名称".into(),
        error: "名称与服务内容不符".into(),
        suggest: "请修改名称".into(),
    };
    driver.reject("wxdrive0002", &reason).await;
    assert_eq!(state(&server, "wxdrive0002").await, FilingState::AuthorityRejected);
    driver.expire_sms("wxdrive0003").await;
    assert_eq!(
        state(&server, "wxdrive0003").await,
        FilingState::AuthorityReview { sms: beian_core::state::SmsVerifyStatus::TimedOut },
        "returned to the platform"
    );
    driver.refuse("wxdrive0004", "1017", "已有变更在办理中").await;
    assert!(matches!(state(&server, "wxdrive0004").await, FilingState::AuthorityReview { .. }));

    // The filed one is cancelled: a second item; confirmed through the desk.
    server
        .svc
        .filings()
        .cancel(&Actor::new("test", "dev"), "wxdrive0001", Some(2), Some(1))
        .await
        .expect("cancel");
    let until = Instant::now() + Duration::from_secs(20);
    while driver.received("wxdrive0001").await.len() < 2 {
        assert!(Instant::now() < until, "the cancellation never reached the desk");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(driver.received("wxdrive0001").await[1].kind, "cancel_service");
    driver.confirm_cancel("wxdrive0001").await;
    let o = server.svc.filings().order("wxdrive0001").await.expect("order").expect("exists").order;
    assert!(!o.state.is_canceling(), "{:?}", o.state);
    server.stop().await;
}

/// The authority contract suite (`beian_testkit::authority_contract`), the same one the
/// simulator passes in process and over the bridge, with the manual desk as the authority:
/// every outcome recorded by an operator through the staff console in headless Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_holds_for_the_manual_desk() {
    let server = TestServer::start_with(GatewayChoice::Manual).await;
    let token = operator(&server).await;
    let driver = DeskDriver::sign_in(Browser::start("desk_contract").await, &server.base, &token).await;
    let platform = beian_testkit::authority_contract::Platform {
        svc: server.svc.clone(),
        gateway: server.gateway.clone(),
    };
    beian_testkit::authority_contract::run_contract(&platform, &driver).await;
    server.stop().await;
}
