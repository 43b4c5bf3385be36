//! The harness's own promises: uploads reach file inputs, and a failing test leaves no
//! browser behind but a screenshot of where it failed.

use beian_browser_tests::Browser;
use beian_testkit::fixtures::{JPEG_MARKERS, PNG_SIGNATURE};
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_puts_local_files_into_a_file_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let front = dir.path().join("身份证正面.jpg");
    let back = dir.path().join("back.png");
    std::fs::write(&front, JPEG_MARKERS).expect("write");
    std::fs::write(&back, PNG_SIGNATURE).expect("write");

    let browser = Browser::start("upload_puts_local_files_into_a_file_input").await;
    browser
        .goto("data:text/html;charset=utf-8,<input type=file id=one><input type=file id=many multiple>")
        .await;
    browser.upload("#one", &front).await;
    let one = browser
        .js("const f = document.getElementById('one').files; return [f.length, f[0].name, f[0].size];")
        .await;
    assert_eq!(one, serde_json::json!([1, "身份证正面.jpg", 4]));
    browser.upload_many("#many", &[front.as_path(), back.as_path()]).await;
    let many = browser.js("return Array.from(document.getElementById('many').files).map(f => f.name);").await;
    assert_eq!(many, serde_json::json!(["身份证正面.jpg", "back.png"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_test_stops_the_browser_and_keeps_a_screenshot() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let run = tokio::spawn(async move {
        let browser = Browser::start("a_panicking_test_stops_the_browser").await;
        browser.goto("data:text/html;charset=utf-8,<h1>出错前的页面</h1>").await;
        let _ = tx.send((browser.process_ids(), browser.artifacts_dir().to_path_buf()));
        panic!("deliberate failure");
    });
    assert!(run.await.expect_err("the task panics").is_panic());
    let (pids, dir) = rx.await.expect("process ids");
    assert!(pids.len() > 1, "chromedriver started chromium: {pids:?}");
    for pid in &pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for init to reap it.
        let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next());
        assert!(matches!(state, None | Some("Z")), "process {pid} still running: {stat}");
    }
    let panic_shot = std::fs::read_dir(&dir)
        .expect("artifacts dir")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with("-PANIC.png"));
    assert!(panic_shot, "a screenshot in {}", Path::new(&dir).display());
}

/// A page on 127.0.0.1 that pulls an image and a script from elsewhere.
async fn page_with_external_resources() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let body = "<!doctype html><meta charset=utf-8><h1>外部资源</h1>\
                            <img src=\"http://cdn.example.com/logo.png\">\
                            <script src=\"https://fonts.googleapis.com/x.js\"></script>";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_other_origins_are_caught() {
    let base = page_with_external_resources().await;
    let run = tokio::spawn(async move {
        let browser = Browser::start("requests_to_other_origins_are_caught").await;
        let started = std::time::Instant::now();
        browser.goto(&format!("{base}/")).await;
        // External host names do not resolve in the test browser: the page loads at once.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "page load took {:?}",
            started.elapsed()
        );
        browser.assert_text("外部资源").await;
        let errors = browser.console_errors().await;
        assert!(errors.iter().any(|e| e.contains("cdn.example.com")), "console errors: {errors:?}");
        browser.assert_same_origin().await;
    });
    let panic = run.await.expect_err("assert_same_origin fails").into_panic();
    let msg = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("panic message");
    assert!(msg.contains("http://cdn.example.com/logo.png"), "{msg}");
    assert!(msg.contains("https://fonts.googleapis.com/x.js"), "{msg}");
}
