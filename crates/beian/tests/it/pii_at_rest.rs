//! No personal value at rest in plain text, after a whole lifecycle run as in production:
//! the simulator's SMS rounds (a wrong code, a timeout, the MIIT rejection text), a platform
//! rejection, re-submission, approval, cancellation with its SMS, and a backup. Every file the node writes is scanned — the
//! database, its WAL and shared memory, the media directory — and the backup directory.

use crate::support::*;
use beian_core::platform::Role;
use beian_service::Actor;
use chrono::Duration;
use serde_json::json;

async fn status(app: &TestApp, appid: &str) -> (i64, i64) {
    let i = app.svc.filings().entrance_info(appid).await.expect("info");
    (i.status, i.sms_verify_status)
}

// On PostgreSQL every table of the test's schema is scanned as `pg_dump --data-only` writes
// it, beside the media directory and the backup.
both!(a_whole_lifecycle_leaves_no_personal_value_in_plain_text);

async fn a_whole_lifecycle_leaves_no_personal_value_in_plain_text(backend: Backend) {
    let app = TestApp::start(backend, 1000).await;
    let setup = Actor::new("test", "setup");
    let reviewer = app.svc.review().create_staff(&setup, "隐私审核", Role::Reviewer).await.expect("staff").1;
    let (appid, n) = ("wxpii0001", 71);
    let (id, mobile) = (admin_id(n), admin_mobile(n));
    let emergency = format!("139{:08}", 10_000_000 + n);
    let email = format!("admin{n}@example.com");
    register(&app, appid, n).await;

    // Round 1: rejected by the platform.
    apply_personal(&app, appid, n).await;
    let reasons = json!({"reasons": [{"key_name": "小程序备注", "error": "未说明具体服务", "suggest": "请写明提供哪些服务"}]});
    let (st, body) =
        staff_api(&app, "POST", &format!("/api/review/orders/{appid}/reject"), &reviewer, reasons).await;
    assert_eq!(st, 200, "{body}");

    // Round 2: approved, a wrong code, then the SMS window runs out.
    apply_personal(&app, appid, n).await;
    let (st, body) =
        staff_api(&app, "POST", &format!("/api/review/orders/{appid}/approve"), &reviewer, json!({})).await;
    assert_eq!(st, 200, "{body}");
    let code = code_for(&app, &mobile, None).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(verify_sms(&app, &mobile, &id[12..], wrong).await.0, 400);
    app.clock.advance(Duration::hours(24));
    eventually("the SMS timeout", || async { status(&app, appid).await == (4, 3) }).await;

    // Round 3: the reviewer sends it again; verified; the authority rejects (MIIT's text).
    let mut settings = app.sim().settings().await.expect("settings");
    settings.forced.insert(appid.into(), "reject".into());
    app.sim().set_settings(&setup.0, &settings).await.expect("settings");
    let code = approve_verify_decide(&app, &reviewer, appid, &id, &mobile, &code, 5).await;

    // Round 4: approved and filed.
    settings.forced.clear();
    app.sim().set_settings(&setup.0, &settings).await.expect("settings");
    apply_personal(&app, appid, n).await;
    let code = approve_verify_decide(&app, &reviewer, appid, &id, &mobile, &code, 6).await;

    // Cancellation, confirmed by SMS.
    app.svc.filings().cancel(&Actor::new("test", "cancel"), appid, Some(2), None).await.expect("cancel");
    let code = code_for(&app, &mobile, Some(&code)).await;
    assert_eq!(verify_sms(&app, &mobile, &id[12..], &code).await.0, 200);
    eventually("the cancellation", || async { status(&app, appid).await.0 == 1024 }).await;

    // A backup of it all.
    let backup_dir = tempfile::tempdir().expect("backup dir");
    let config = beian::config::Config::resolve(&beian::config::ConfigArgs {
        data_dir: Some(app._dir.path().to_path_buf()),
        database_url: app.database_url.clone(),
        ..Default::default()
    })
    .expect("config");
    beian::backup::backup(&config, &backup_dir.path().join("b")).await.expect("backup");

    let personal = [
        ("ID number", id.as_str()),
        ("mobile", &mobile),
        ("emergency contact", &emergency),
        ("e-mail", &email),
    ];
    let mut scanned = 0usize;
    let mut media_files = 0;
    // Scanned while the node still runs: the WAL holds the newest pages until a checkpoint.
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(url) = &app.database_url {
        let schema = url.rsplit("search_path%3D").next().expect("the URL names its schema");
        let out = std::process::Command::new("pg_dump")
            .args(["--schema", schema, "--data-only", &beian_testkit::pg::base_url()])
            .output()
            .expect("pg_dump (PostgreSQL client) must be installed");
        assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
        blobs.push((format!("pg_dump of {schema}"), out.stdout));
    }
    for path in files(&config.data_dir).into_iter().chain(files(backup_dir.path())) {
        blobs.push((path.display().to_string(), std::fs::read(&path).expect("read")));
    }
    for (path, bytes) in blobs {
        scanned += bytes.len();
        if path.contains("/media/") {
            media_files += 1;
        }
        for (what, v) in personal {
            assert!(!contains(&bytes, v.as_bytes()), "{path} holds the {what} in plain text");
        }
    }
    assert!(scanned > 100_000, "the scan read the node's data ({scanned} bytes)");
    assert!(media_files > 0, "the media directory was scanned");
    app.stop().await;
}

/// The reviewer approves, the principal verifies the new code, ten days pass and the authority
/// decides: the order reaches `status` (5 rejected, 6 filed). Returns the code used.
async fn approve_verify_decide(
    app: &TestApp,
    reviewer: &str,
    appid: &str,
    id: &str,
    mobile: &str,
    previous_code: &str,
    status_after: i64,
) -> String {
    let (st, body) =
        staff_api(app, "POST", &format!("/api/review/orders/{appid}/approve"), reviewer, json!({})).await;
    assert_eq!(st, 200, "{body}");
    let code = code_for(app, mobile, Some(previous_code)).await;
    assert_eq!(verify_sms(app, mobile, &id[12..], &code).await.0, 200);
    app.clock.advance(Duration::days(10));
    eventually("the authority's decision", || async { status(app, appid).await.0 == status_after }).await;
    code
}
