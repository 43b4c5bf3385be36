//! The whole provider journey over HTTP with the typed client, on SQLite and PostgreSQL:
//! ticket push → component token → merchant authorizes → authorizer token → lookups →
//! uploads → face task → apply (wrong, then right) → review → filed → online order → cancel.
//! The provider's receiver decrypts every push, checks its signature, refuses the first two
//! deliveries of each event, and must still see each exactly once.

use crate::support::*;
use beian_client::{Client, FieldPlacement, Upload};
use beian_core::errcode;
use beian_core::payload::ApplyPayload;
use beian_service::Actor;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_journey_sqlite() {
    provider_journey(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_journey_postgres() {
    provider_journey(Backend::Postgres).await
}

async fn provider_journey(backend: Backend) {
    let app = TestApp::start(backend, 1000).await;
    let rx = Receiver::start(2).await;
    let client = Client::new(&app.base);
    register(&app, "wxe2e00001", 7).await;
    let admin_mobile = format!("138{:08}", 10_000_007);
    let admin_id = admin_id(7);

    // The operator creates the provider; its first ticket is pushed by the job worker.
    let creds = app
        .svc
        .providers()
        .create_provider(&Actor::new("operator", "e2e"), "好帮手服务商", &rx.url)
        .await
        .expect("provider");
    rx.set_keys(&creds);
    pump(&app, &rx, "a component_verify_ticket", |e| {
        e.iter().any(|e| e.info_type == "component_verify_ticket")
    })
    .await;
    let ticket = rx.of_type("component_verify_ticket")[0].fields["ComponentVerifyTicket"].clone();

    let component = client
        .component_token(&creds.component_appid, &creds.component_appsecret, &ticket)
        .await
        .expect("component token");
    assert_eq!(component.expires_in, 7200);
    let wrong = client
        .component_token(&creds.component_appid, "wrong-secret", &ticket)
        .await
        .expect_err("bad secret");
    assert_eq!(wrong.errcode(), Some(errcode::INVALID_APPSECRET));
    let ctoken = component.component_access_token;

    // The merchant authorizes on the authorization page.
    let pre = client.create_pre_auth_code(&ctoken, &creds.component_appid).await.expect("pre auth code");
    let page_url = client.authorization_page_url(
        &creds.component_appid,
        &pre.pre_auth_code,
        "http://127.0.0.1:1/callback",
    );
    let page = reqwest::get(&page_url).await.expect("page").text().await.expect("html");
    assert!(page.contains("好帮手服务商") && page.contains("权限集 156"), "{page}");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http");
    let form = [
        ("component_appid", creds.component_appid.as_str()),
        ("pre_auth_code", pre.pre_auth_code.as_str()),
        ("redirect_uri", "http://127.0.0.1:1/callback"),
        ("appid", "wxe2e00001"),
        ("admin_mobile", admin_mobile.as_str()),
        ("admin_id_last6", &admin_id[12..]),
        ("scope", "18"),
        ("scope", "156"),
    ];
    let r = http.post(app.url("/cgi-bin/componentloginpage")).form(&form).send().await.expect("authorize");
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().expect("location").to_string();
    assert!(location.starts_with("http://127.0.0.1:1/callback?auth_code="), "{location}");
    let auth_code = beian_api_decode(
        location.split("auth_code=").nth(1).and_then(|s| s.split('&').next()).expect("code"),
    );
    // The pre-auth code is single use.
    let again = http.post(app.url("/cgi-bin/componentloginpage")).form(&form).send().await.expect("again");
    assert_eq!(again.status(), 400);

    let auth = client.query_auth(&ctoken, &creds.component_appid, &auth_code).await.expect("query auth");
    assert_eq!(auth.authorizer_appid, "wxe2e00001");
    assert_eq!(auth.func_info, vec![18, 156]);
    let reused =
        client.query_auth(&ctoken, &creds.component_appid, &auth_code).await.expect_err("code is single use");
    assert_eq!(reused.errcode(), Some(errcode::INVALID_AUTH_CODE));

    // Refresh: new tokens; the old refresh token keeps working for its 5-minute grace.
    let first = client
        .authorizer_token(&ctoken, &creds.component_appid, "wxe2e00001", &auth.authorizer_refresh_token)
        .await
        .expect("refresh");
    let second = client
        .authorizer_token(&ctoken, &creds.component_appid, "wxe2e00001", &auth.authorizer_refresh_token)
        .await
        .expect("old refresh token within its grace period");
    assert_ne!(first.authorizer_access_token, second.authorizer_access_token);
    app.clock.advance(chrono::Duration::seconds(301));
    let stale = client
        .authorizer_token(&ctoken, &creds.component_appid, "wxe2e00001", &auth.authorizer_refresh_token)
        .await
        .expect_err("grace is over");
    assert_eq!(stale.errcode(), Some(errcode::INVALID_REFRESH_TOKEN));
    let stale_access =
        client.get_icp_entrance_info(&first.authorizer_access_token).await.expect_err("superseded");
    assert_eq!(stale_access.errcode(), Some(errcode::INVALID_CREDENTIAL));
    let token = second.authorizer_access_token;
    pump(&app, &rx, "the authorized event", |e| e.iter().any(|e| e.info_type == "authorized")).await;

    // Every dictionary lookup.
    let types = client.query_icp_service_content_types(&token).await.expect("service types");
    assert!(types.iter().any(|t| t.type_id == 1 && t.parent_type == 500));
    assert!(client
        .query_icp_certificate_types(&token)
        .await
        .expect("certs")
        .iter()
        .any(|c| c.type_id == 2 && c.subject_type == 5));
    let districts = client.query_icp_district_code(&token).await.expect("districts");
    assert_eq!(districts.len(), 31);
    assert!(client.query_icp_nrlx_types(&token).await.expect("nrlx").iter().any(|n| n.type_id == 24));
    assert!(client.query_icp_subject_types(&token).await.expect("subjects").iter().any(|s| s.type_id == 5));

    // Uploads, with the fields in the form and in the query string.
    let front = client
        .upload_icp_media(
            &token,
            &Upload::image("icp_subject.principal_info.certificate_photo_front", "front.jpg", JPEG.to_vec())
                .certificate_type(2),
            FieldPlacement::Form,
        )
        .await
        .expect("upload front");
    let back = client
        .upload_icp_media(
            &token,
            &Upload::image("icp_subject.principal_info.certificate_photo_back", "back.jpg", JPEG.to_vec())
                .certificate_type(2),
            FieldPlacement::Query,
        )
        .await
        .expect("upload back");
    let fetched = client.get_icp_media(&token, &back.media_id).await.expect("get media");
    assert_eq!((fetched.content_type.as_str(), fetched.bytes.as_slice()), ("image/jpeg", JPEG));

    // Face verification by the admin, on the page the notice links to.
    let task = client.create_icp_verify_task(&token, false).await.expect("face task");
    let wrong = http
        .post(app.url(&format!("/face/{}", task.task_id)))
        .form(&[("name", "别人"), ("id_number", admin_id.as_str())])
        .send()
        .await
        .expect("face");
    assert_eq!(wrong.status(), 400);
    let done = http
        .post(app.url(&format!("/face/{}", task.task_id)))
        .form(&[("name", "管理员7"), ("id_number", admin_id.as_str())])
        .send()
        .await
        .expect("face");
    assert_eq!(done.status(), 200);
    let st = client.query_icp_verify_task(&token, &task.task_id).await.expect("query task");
    assert!(st.is_finish);
    assert_eq!(st.face_status, 3);
    pump(&app, &rx, "the face result", |e| {
        e.iter().filter(|e| e.info_type == "notify_icpfiling_verify_result").count() >= 2
    })
    .await;

    // Apply with a wrong field, then corrected.
    let mut payload: ApplyPayload = serde_json::from_value(serde_json::json!({
        "icp_subject": {
            "base_info": {"type": 5, "name": "管理员7", "province": "440000", "city": "440300", "district": "440305", "address": "科技园路1号A座101室"},
            "organize_info": {"certificate_type": 2, "certificate_number": admin_id, "certificate_address": "广东省深圳市南山区科技园路1号A座101室"},
            "principal_info": {"name": "管理员7", "mobile": admin_mobile, "email": "admin7@example.com", "emergency_contact": "13900000007",
                "certificate_type": 2, "certificate_number": admin_id, "certificate_validity_date_start": "20200101",
                "certificate_validity_date_end": "长期", "certificate_photo_front": front.media_id, "certificate_photo_back": back.media_id}
        },
        "icp_applets": {
            "base_info": {"service_content_types": [1], "nrlx_details": [{"type": 24}], "comment": "太短的备注"},
            "principal_info": {"name": "管理员7", "mobile": admin_mobile, "email": "admin7@example.com", "emergency_contact": "13900000007",
                "certificate_type": 2, "certificate_number": admin_id, "certificate_validity_date_start": "20200101",
                "certificate_validity_date_end": "长期", "certificate_photo_front": front.media_id, "certificate_photo_back": back.media_id,
                "verify_task_id": task.task_id}
        },
        "icp_materials": {}
    }))
    .expect("payload");
    let refused = client.apply_icp_filing(&token, &payload).await.expect_err("comment too short");
    assert_eq!(refused.errcode(), Some(errcode::APPLY_FAIL));
    assert_eq!(
        refused.hints().iter().map(|h| h.err_field.as_str()).collect::<Vec<_>>(),
        ["icp_applets.base_info.comment"]
    );
    payload.icp_applets.base_info.comment =
        "本小程序提供读书笔记记录、书单整理与阅读进度管理服务，不涉及交易。".into();
    client.apply_icp_filing(&token, &payload).await.expect("apply");
    assert_eq!(client.get_icp_entrance_info(&token).await.expect("info").status, 2);

    // Platform review, SMS verification and the authority (driven through the service here).
    app.svc.filings().platform_approve(&Actor::new("reviewer", "e2e"), "wxe2e00001").await.expect("approve");
    let info = client.get_icp_entrance_info(&token).await.expect("info");
    assert_eq!((info.status, info.sms_verify_status), (4, Some(1)));
    app.svc.filings().sms_verified(&Actor::authority(), "wxe2e00001").await.expect("sms");
    beian_testkit::service::authority_approve(&app.svc, "wxe2e00001").await.expect("filed");
    assert_eq!(client.get_icp_entrance_info(&token).await.expect("info").status, 6);
    pump(&app, &rx, "the filing result", |e| {
        e.iter().any(|e| e.info_type == "notify_apply_icpfiling_result")
    })
    .await;

    // The filed order, masked, without media.
    let online = client.get_online_icp_order(&token).await.expect("online order");
    assert_eq!(online.icp_applets.len(), 1);
    let raw = online.raw.to_string();
    assert!(raw.contains("粤ICP备2026000001号-1X"), "{raw}");
    assert!(!raw.contains(&admin_id) && !raw.contains(&admin_mobile), "PII must be masked: {raw}");
    assert!(
        !raw.contains("certificate_photo_front") && !raw.contains("verify_task_id"),
        "media fields omitted: {raw}"
    );
    assert_eq!(online.raw["icp_applets"][0]["principal_info"]["name"], "***7");

    // Cancellation.
    client.cancel_icp_filing(&token, 2, Some(1)).await.expect("cancel");
    assert!(client.get_icp_entrance_info(&token).await.expect("info").is_canceling);

    // Every event arrived exactly once, decrypted and correctly signed, despite the receiver
    // refusing the first two deliveries of each.
    let events = rx.events.lock().expect("lock").clone();
    assert_eq!(rx.bad.load(std::sync::atomic::Ordering::SeqCst), 0, "every push decrypts and verifies");
    let count = |t: &str| events.iter().filter(|e| e.info_type == t).count();
    assert_eq!(count("authorized"), 1, "{events:?}");
    assert_eq!(count("notify_icpfiling_verify_result"), 2, "one failed and one successful verification");
    assert_eq!(count("notify_apply_icpfiling_result"), 1);
    let results: Vec<&str> = events
        .iter()
        .filter(|e| e.info_type == "notify_icpfiling_verify_result")
        .map(|e| e.fields["result"].as_str())
        .collect();
    assert_eq!(results, ["2", "3"]);
    let filed = &rx.of_type("notify_apply_icpfiling_result")[0];
    assert_eq!(
        (filed.fields["authorizer_appid"].as_str(), filed.fields["beian_status"].as_str()),
        ("wxe2e00001", "6")
    );
    // Nothing left to deliver: the acknowledged events are done, none dead.
    let jobs = app.svc.job_queue().jobs(Some(beian_core::platform::JobState::Dead), 10).await.expect("jobs");
    assert!(jobs.is_empty(), "{jobs:?}");
    app.stop().await;
}

/// Percent-decoding of the redirect's auth_code.
fn beian_api_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
