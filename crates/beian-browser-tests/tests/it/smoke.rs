//! The harness itself: server and browser start, pages render, forms submit, requests stay
//! on the server's origin, and everything stops again.

use beian_browser_tests::{Browser, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_docs_and_sms_verification_page() {
    let server = TestServer::start().await;
    let browser = Browser::start("api_docs_and_sms_verification_page").await;

    browser.goto(&server.url("/docs/api")).await;
    let heading = browser.text("h1").await;
    assert!(heading.contains("服务商接口"), "heading: {heading}");
    browser.assert_text("/openapi.json").await;
    let shot = browser.screenshot("api-docs").await;
    assert!(std::fs::metadata(&shot).expect("screenshot written").len() > 1000);
    browser.assert_same_origin().await;

    browser.goto(&server.url("/miit/verify")).await;
    assert!(browser.has_text("ICP备案短信核验").await);
    browser.fill("input[name=phone]", "13800000000").await;
    browser.fill("input[name=id_last6]", "123456").await;
    browser.fill("input[name=code]", "000000").await;
    assert_eq!(browser.value("input[name=code]").await, "000000");
    browser.screenshot("sms-verify-filled").await;
    browser.submit("button[type=submit]").await;
    let error = browser.text(".error").await;
    assert!(!error.trim().is_empty(), "an error message is shown");
    assert_eq!(browser.current_path().await, "/miit/verify");
    browser.screenshot("sms-verify-error").await;
    browser.assert_same_origin().await;

    let requests = browser.requests().await;
    assert!(requests.iter().any(|u| u.ends_with("/docs/api")), "requests: {requests:?}");
    assert!(requests.iter().any(|u| u.ends_with("/miit/verify")), "requests: {requests:?}");
    server.stop().await;
}
