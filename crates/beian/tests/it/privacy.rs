//! Personal data under PIPL, as operators use it: the export (staff API and `beian pii
//! export`), erasure after the retention period (the daily job and `beian pii erase-expired`),
//! `beian check` reporting data kept past retention, and an audit trail without personal values.

use crate::support::*;
use beian_core::platform::Role;
use beian_service::Actor;
use chrono::Duration;
use serde_json::json;

/// Apply (with one extra ID photo of its own bytes), approve, verify the SMS and let the
/// authority file it. Returns the last code sent and the extra photo's bytes.
async fn file_one(
    app: &TestApp,
    reviewer: &str,
    appid: &str,
    n: u32,
    reject_first: bool,
) -> (String, Vec<u8>) {
    register(app, appid, n).await;
    let mut photo = JPEG.to_vec();
    photo.extend_from_slice(format!("photo of {appid}").as_bytes());
    let up = beian_service::MediaUpload {
        media_type: "image".into(),
        certificate_type: Some(2),
        icp_order_field: "icp_subject.principal_info.certificate_photo_front".into(),
        bytes: photo.clone(),
    };
    let media_id = app
        .svc
        .materials()
        .upload_media(&Actor::new("test", "apply"), appid, up)
        .await
        .expect("upload")
        .media_id;
    let mut payload = personal_payload(&app.svc, appid, n).await;
    payload.icp_subject.principal_info.certificate_photo_front = media_id;
    if reject_first {
        // A reason quoting the principal: free text the audit trail must not keep.
        app.svc.filings().apply(&Actor::new("test", "apply"), appid, payload.clone()).await.expect("apply");
        let why = format!("管理员{n}的证件号码{}与照片不符，请联系{}", admin_id(n), admin_mobile(n));
        let reasons =
            json!({"reasons": [{"key_name": "主体负责人证件", "error": why, "suggest": "请重新上传"}]});
        let (st, body) =
            staff_api(app, "POST", &format!("/api/review/orders/{appid}/reject"), reviewer, reasons).await;
        assert_eq!(st, 200, "{body}");
    }
    app.svc.filings().apply(&Actor::new("test", "apply"), appid, payload).await.expect("apply");
    let (st, body) =
        staff_api(app, "POST", &format!("/api/review/orders/{appid}/approve"), reviewer, json!({})).await;
    assert_eq!(st, 200, "{body}");
    let (mobile, id) = (admin_mobile(n), admin_id(n));
    let code = code_for(app, &mobile, None).await;
    assert_eq!(verify_sms(app, &mobile, &id[12..], &code).await.0, 200);
    app.clock.advance(Duration::days(30));
    eventually("filed", || async { app.svc.filings().entrance_info(appid).await.expect("info").status == 6 })
        .await;
    (code, photo)
}

/// Cancel (注销, type 2) and confirm by SMS.
async fn cancel(app: &TestApp, appid: &str, n: u32, last_code: &str) {
    let (mobile, id) = (admin_mobile(n), admin_id(n));
    app.svc.filings().cancel(&Actor::new("test", "cancel"), appid, Some(2), None).await.expect("cancel");
    let code = code_for(app, &mobile, Some(last_code)).await;
    assert_eq!(verify_sms(app, &mobile, &id[12..], &code).await.0, 200);
    eventually("cancelled", || async {
        app.svc.filings().entrance_info(appid).await.expect("info").status >= 1024
    })
    .await;
}

/// The `beian` binary against the test app's data directory (and database).
fn beian_cli(app: &TestApp, database_url: Option<&str>) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_beian"));
    c.env_remove("BEIAN_DATABASE_URL").env_remove("BEIAN_RETENTION_DAYS").env("BEIAN_LOG", "warn");
    c.arg("--data-dir").arg(app._dir.path());
    if let Some(url) = database_url {
        c.args(["--database-url", url]);
    }
    c
}

fn run(c: &mut std::process::Command) -> (bool, String) {
    let out = c.output().expect("run beian");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Every audit event of the platform, as text.
async fn audit_texts(app: &TestApp) -> Vec<String> {
    let mut tx = app.store.read().await.expect("read");
    tx.audit()
        .search("", 100_000)
        .await
        .expect("audit")
        .iter()
        .map(|e| format!("{} {} {} {} {}", e.actor, e.entity, e.entity_id, e.action, e.detail))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_holds_the_values_and_is_audited() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    let setup = Actor::new("test", "setup");
    let reviewer = app.svc.review().create_staff(&setup, "导出审核", Role::Reviewer).await.expect("staff").1;
    let operator = app.svc.review().create_staff(&setup, "导出运营", Role::Operator).await.expect("staff").1;
    let (appid, n) = ("wxpiiexp01", 81);
    file_one(&app, &reviewer, appid, n, false).await;

    let path = format!("/api/operator/mini-programs/{appid}/personal-data");
    let (st, _) = staff_api(&app, "GET", &path, &reviewer, json!({})).await;
    assert_eq!(st, 403, "reviewers may not export");
    let (st, body) = staff_api(&app, "GET", &path, &operator, json!({})).await;
    assert_eq!(st, 200, "{body}");
    let doc = &body["export"];
    let text = doc.to_string();
    assert!(doc["schema"].as_str().is_some_and(|s| s.contains("PIPL")), "{doc}");
    assert!(doc["generated_at"].as_str().is_some(), "{doc}");
    for v in [admin_id(n), admin_mobile(n), format!("admin{n}@example.com"), format!("管理员{n}")] {
        assert!(text.contains(&v), "the export holds {v}: {text}");
    }
    assert_eq!(doc["subject"]["certificate_number"], admin_id(n).as_str());
    assert_eq!(doc["versions"].as_array().map(Vec::len), Some(1));
    assert!(doc["media"].as_array().is_some_and(|m| m.len() >= 3), "every media row listed: {doc}");
    assert!(doc["sms_outbox"].as_array().is_some_and(|m| !m.is_empty()), "texts to the principal: {doc}");
    assert!(doc["sms_codes"].as_array().is_some_and(|m| !m.is_empty()), "{doc}");

    // The CLI gives the same document.
    let (ok, out) = run(beian_cli(&app, None).args(["pii", "export", "--appid", appid]));
    assert!(ok, "{out}");
    assert!(out.contains(&admin_id(n)) && out.contains("\"generated_at\""), "{out}");

    // Both exports are audited, without the data.
    let trail = app.svc.audit_trail(beian_core::model::AuditEntity::Privacy, appid).await.expect("trail");
    let exports: Vec<_> = trail.iter().filter(|e| e.action == "export").collect();
    assert_eq!(exports.len(), 2, "{trail:?}");
    assert!(exports[0].actor.starts_with("operator:"), "{:?}", exports[0]);
    assert_eq!(exports[1].actor, "cli:pii");
    for e in &exports {
        let d = e.detail.to_string();
        assert!(!d.contains(&admin_id(n)) && !d.contains(&admin_mobile(n)), "{d}");
    }
    app.stop().await;
}

/// The whole erasure story on one backend: nothing before retention; `beian check` reports
/// data kept past it; the daily job erases it; the other mini program stays whole; the check
/// is clean; the audit trail never held a personal value.
async fn erasure_after_retention(backend: Backend) {
    let app = TestApp::start(backend, 1000).await;
    let setup = Actor::new("test", "setup");
    let reviewer = app.svc.review().create_staff(&setup, "隐私审核", Role::Reviewer).await.expect("staff").1;
    let (gone, keep) = (("wxpiigone1", 91u32), ("wxpiikeep1", 92u32));
    let (code, gone_photo) = file_one(&app, &reviewer, gone.0, gone.1, true).await;
    let (_, keep_photo) = file_one(&app, &reviewer, keep.0, keep.1, false).await;
    cancel(&app, gone.0, gone.1, &code).await;
    let database_url = app.database_url.clone();

    // 179 days later: nothing is due, an erasure run (what the daily job runs) erases
    // nothing, check is clean. (The job itself is queued only below: a queued job could run
    // after the clock moves on.)
    app.clock.advance(Duration::days(179));
    let report =
        app.svc.operations().erase_expired(&Actor::new("test", "early"), false).await.expect("early run");
    assert!(report.due.is_empty() && report.erased == 0, "{report:?}");
    assert!(!app
        .svc
        .audit_trail(beian_core::model::AuditEntity::Privacy, gone.0)
        .await
        .expect("trail")
        .iter()
        .any(|e| e.action == "erase"));
    let check = app.svc.operations().check_invariants().await.expect("check");
    assert!(check.ok(), "{:?}", check.violations);

    // Past 180 days without the erasure: `beian check` reports it.
    app.clock.advance(Duration::days(2));
    let check = app.svc.operations().check_invariants().await.expect("check");
    let kept: Vec<_> = check
        .violations
        .iter()
        .filter(|v| v.contains("past retention") || v.contains("still holds personal data"))
        .collect();
    assert_eq!(kept.len(), 1, "{:?}", check.violations);
    assert!(kept[0].contains(gone.0), "{kept:?}");
    // The CLI reads the system clock, months after the test's: one day of retention puts
    // the cancellation behind it (and passes the flag through the configuration).
    let (ok, out) = run(beian_cli(&app, database_url.as_deref()).args([
        "--retention-days",
        "1",
        "pii",
        "erase-expired",
        "--dry-run",
    ]));
    assert!(ok, "{out}");
    assert!(out.contains(gone.0) && !out.contains(keep.0) && out.contains("dry run"), "{out}");
    assert!(app
        .svc
        .mini_programs()
        .export_personal_data(&setup, gone.0)
        .await
        .expect("export")
        .to_string()
        .contains(&admin_id(gone.1)));

    // The daily job erases it.
    app.svc.job_queue().ensure_daily_jobs().await.expect("daily jobs");
    eventually("the erasure job", || async {
        app.svc
            .audit_trail(beian_core::model::AuditEntity::Privacy, gone.0)
            .await
            .expect("trail")
            .iter()
            .any(|e| e.action == "erase")
    })
    .await;
    let check = app.svc.operations().check_invariants().await.expect("check");
    assert!(check.ok(), "{:?}", check.violations);

    // What remains of the erased one is non-personal; the other is whole.
    let doc = app.svc.mini_programs().export_personal_data(&setup, gone.0).await.expect("export").to_string();
    for v in [
        admin_id(gone.1),
        admin_mobile(gone.1),
        format!("admin{}@example.com", gone.1),
        format!("管理员{}", gone.1),
    ] {
        assert!(!doc.contains(&v), "{v} erased: {doc}");
    }
    let info = app.svc.filings().entrance_info(gone.0).await.expect("the mini program row stays");
    assert!(info.status >= 1024);
    let kept_doc =
        app.svc.mini_programs().export_personal_data(&setup, keep.0).await.expect("export").to_string();
    for v in [admin_id(keep.1), admin_mobile(keep.1), format!("admin{}@example.com", keep.1)] {
        assert!(kept_doc.contains(&v), "{v} of the filed mini program kept: {kept_doc}");
    }
    assert_eq!(app.svc.filings().entrance_info(keep.0).await.expect("info").status, 6);
    let erase = app.svc.audit_trail(beian_core::model::AuditEntity::Privacy, gone.0).await.expect("trail");
    let erase = erase.iter().find(|e| e.action == "erase").expect("erase event");
    assert_eq!(erase.detail["removed"]["versions"], 2, "{}", erase.detail);
    assert_eq!(erase.detail["removed"]["subjects"], 1, "{}", erase.detail);
    assert_eq!(erase.detail["removed"]["admin_identity"], 1, "{}", erase.detail);

    // Idempotent: another run (the CLI, any retention) finds nothing.
    let (ok, out) =
        run(beian_cli(&app, database_url.as_deref()).args(["--retention-days", "1", "pii", "erase-expired"]));
    assert!(ok, "{out}");
    assert!(out.contains("erased 0 mini program"), "{out}");

    // The audit trail never held a personal value of either principal.
    for n in [gone.1, keep.1] {
        let values = [admin_id(n), admin_mobile(n), format!("admin{n}@example.com"), format!("管理员{n}")];
        for e in audit_texts(&app).await {
            for v in &values {
                assert!(!e.contains(v.as_str()), "an audit event holds {v}: {e}");
            }
        }
    }

    if backend == Backend::Sqlite {
        // The files: none of the erased principal's values, blind indexes, or media bytes; the
        // kept one's media object is still there.
        let crypto = app.store.crypto().clone();
        let gone_values = [
            admin_id(gone.1),
            admin_mobile(gone.1),
            format!("admin{}@example.com", gone.1),
            format!("管理员{}", gone.1),
            crypto.blind_index(&admin_id(gone.1)),
            crypto.blind_index(&admin_mobile(gone.1)),
        ];
        let gone_object = crypto.media_digest(&gone_photo);
        let keep_object = crypto.media_digest(&keep_photo);
        let all = files(app._dir.path());
        assert!(all.iter().any(|p| p.to_string_lossy().contains(&keep_object)), "the kept object stays");
        assert!(
            !all.iter().any(|p| p.to_string_lossy().contains(&gone_object)),
            "the erased object is deleted"
        );
        for path in all {
            let bytes = std::fs::read(&path).expect("read");
            assert!(!contains(&bytes, &gone_photo), "{} holds the erased photo", path.display());
            for (i, v) in gone_values.iter().enumerate() {
                if let Some(at) = bytes.windows(v.len()).position(|w| w == v.as_bytes()) {
                    let ctx =
                        String::from_utf8_lossy(&bytes[at.saturating_sub(200)..(at + 100).min(bytes.len())])
                            .to_string();
                    panic!("{} still holds value #{i} {v} at {at}: {ctx:?}", path.display());
                }
            }
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn erasure_after_retention_on_sqlite() {
    erasure_after_retention(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn erasure_after_retention_on_postgres() {
    erasure_after_retention(Backend::Postgres).await;
}
