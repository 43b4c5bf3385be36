//! Staff pages in headless Chromium (test-artifacts/staff_journey/): a reviewer works the
//! queue (claim → reject one field with a catalogue reason → approve another); an operator
//! flips the authority-outage switch and the developer console shows the entrance closed;
//! role checks (a reviewer cannot reach operator pages, a developer reaches neither).

use beian_browser_tests::{Browser, TestServer};
use beian_core::ident::resident_id_check_char;
use beian_core::payload::ApplyPayload;
use beian_core::platform::Role;
use beian_core::state::ReadinessFlags;
use beian_service::{Actor, MediaUpload, MiniProgramInput};

pub fn id_of(n: u32) -> String {
    let body = format!("44030519900101{:03}", 100 + n);
    format!("{body}{}", resident_id_check_char(&body).expect("digits"))
}

/// A mini program with a submitted, valid personal application (through the service).
pub async fn submitted(server: &TestServer, appid: &str, name: &str, n: u32) {
    let a = Actor::new("test", "setup");
    let id = id_of(n);
    let mobile = format!("138{:08}", n);
    server
        .svc
        .mini_programs()
        .register_mini_program(
            &a,
            MiniProgramInput {
                appid: appid.into(),
                name: name.into(),
                admin_name: format!("负责人{n}"),
                admin_id_number: id.clone(),
                admin_mobile: mobile.clone(),
                flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
                listed: true,
                owner: String::new(),
            },
        )
        .await
        .expect("register");
    let jpeg = crate::ID_PHOTO.to_vec();
    let mut media = Vec::new();
    for f in [
        "icp_subject.principal_info.certificate_photo_front",
        "icp_subject.principal_info.certificate_photo_back",
    ] {
        let up = MediaUpload {
            media_type: "image".into(),
            certificate_type: Some(2),
            icp_order_field: f.into(),
            bytes: jpeg.clone(),
        };
        media.push(server.svc.materials().upload_media(&a, appid, up).await.expect("upload").media_id);
    }
    let task = server.svc.materials().create_face_task(&a, appid).await.expect("task");
    server.svc.materials().finish_face_task(&a, &task.task_id, true).await.expect("face");
    let p = serde_json::json!({
        "name": format!("负责人{n}"), "mobile": mobile, "email": "a@example.com", "emergency_contact": format!("139{:08}", n),
        "certificate_type": 2, "certificate_number": id, "certificate_validity_date_start": "20200101", "certificate_validity_date_end": "长期",
        "certificate_photo_front": media[0], "certificate_photo_back": media[1]
    });
    let mut ap = p.clone();
    ap["verify_task_id"] = task.task_id.into();
    let payload: ApplyPayload = serde_json::from_value(serde_json::json!({
        "icp_subject": {"base_info": {"type": 5, "name": format!("负责人{n}"), "province": "440000", "city": "440300", "district": "440305", "address": "科技园路1号"},
                        "organize_info": {"certificate_type": 2, "certificate_number": id, "certificate_address": "广东省深圳市南山区科技园路1号"},
                        "principal_info": p},
        "icp_applets": {"base_info": {"service_content_types": [1], "nrlx_details": [{"type": 24}], "comment": "本小程序提供读书笔记记录、书单整理与阅读进度管理服务，不涉及交易。"},
                        "principal_info": ap},
        "icp_materials": {}
    }))
    .expect("payload");
    server.svc.filings().apply(&a, appid, payload).await.expect("apply");
}

pub async fn staff_login(b: &Browser, server: &TestServer, token: &str) {
    b.goto(&server.url("/admin/login")).await;
    b.fill("input[name=token]", token).await;
    b.submit("#login").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_journey() {
    let server = TestServer::start().await;
    submitted(&server, "wxstaff0001", "读书笔记", 61).await;
    submitted(&server, "wxstaff0002", "城市天气", 62).await;
    let a = Actor::new("test", "setup");
    let reviewer = server.svc.review().create_staff(&a, "王审核", Role::Reviewer).await.expect("staff").1;
    let operator = server.svc.review().create_staff(&a, "赵运营", Role::Operator).await.expect("staff").1;
    let b = Browser::start("staff_journey").await;

    // The reviewer works the queue.
    staff_login(&b, &server, &reviewer).await;
    b.assert_text("审核队列").await;
    b.assert_text("wxstaff0001").await;
    b.screenshot("queue").await;
    b.assert_same_origin().await;
    b.goto(&server.url("/admin/review/wxstaff0001")).await;
    b.submit("#claim").await;
    b.assert_text("王审核").await;
    b.screenshot("claimed").await;
    // Reject one field with a catalogue reason (the first: 小程序备注).
    b.click("#reject-form input[name=reason_id]").await;
    b.screenshot("reject-reason").await;
    let asked = b.submit_confirmed("#reject", true).await;
    assert!(asked.contains("确认驳回"), "{asked}");
    assert!(b.text("#done").await.contains("已驳回"), "the reviewer is told it worked");
    let info = server.svc.filings().entrance_info("wxstaff0001").await.expect("info");
    assert_eq!(info.status, 3);
    assert_eq!(info.audit_data.len(), 1);
    assert_eq!(info.audit_data[0].key_name, "小程序备注");
    // Approve another.
    b.goto(&server.url("/admin/review/wxstaff0002")).await;
    b.screenshot("review-page").await;
    let asked = b.submit_confirmed("#approve", true).await;
    assert!(asked.contains("确认初审通过"), "{asked}");
    assert!(b.text("#done").await.contains("已初审通过"));
    assert_eq!(server.svc.filings().entrance_info("wxstaff0002").await.expect("info").status, 4);
    b.screenshot("queue-after").await;
    // A reviewer cannot reach operator pages.
    b.goto(&server.url("/admin/ops")).await;
    b.assert_text("此页面仅限运营人员访问").await;
    b.screenshot("reviewer-refused").await;
    b.submit("header form button").await;

    // The operator flips the outage switch; the developer console shows the entrance closed.
    staff_login(&b, &server, &operator).await;
    b.goto(&server.url("/admin/ops")).await;
    b.click("#outage").await;
    b.submit("#save-policy").await;
    assert!(server.svc.policy().authority_outage);
    b.screenshot("outage-on").await;
    b.submit("header form button").await;

    let dev = server
        .svc
        .accounts()
        .create_account(&a, "dev61", "负责人61", "dev61-password")
        .await
        .expect("account");
    server
        .svc
        .accounts()
        .grant(&a, "wxstaff0001", &dev.id, beian_core::platform::MemberRole::Admin, &[])
        .await
        .expect("grant");
    b.goto(&server.url("/console/login")).await;
    b.fill("input[name=username]", "dev61").await;
    b.fill("input[name=password]", "dev61-password").await;
    b.submit("#login").await;
    b.goto(&server.url("/console/apps/wxstaff0001/filing")).await;
    b.assert_text("管局备案系统维护中").await;
    b.screenshot("developer-entrance-closed").await;
    // A developer reaches neither the reviewer nor the operator pages.
    b.goto(&server.url("/admin")).await;
    assert!(b.current_path().await.starts_with("/admin/login"), "developers are sent to the staff sign-in");
    b.goto(&server.url("/admin/ops")).await;
    assert!(b.current_path().await.starts_with("/admin/login"));
    b.screenshot("developer-refused").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_public_query() {
    let server = TestServer::start().await;
    submitted(&server, "wxpublic0001", "星辰读书笔记", 63).await;
    submitted(&server, "wxpublic0002", "城市天气", 64).await;
    let a = Actor::new("test", "setup");
    let auth = Actor::authority();
    server.svc.filings().platform_approve(&a, "wxpublic0001").await.expect("approve");
    server.svc.filings().sms_verified(&auth, "wxpublic0001").await.expect("sms");
    beian_testkit::service::authority_approve(&server.svc, "wxpublic0001").await.expect("filed");
    let operator = server.svc.review().create_staff(&a, "赵运营", Role::Operator).await.expect("staff").1;
    let b = Browser::start("dashboard_and_public_query").await;

    // The public query finds the filed mini program by a substring of its name; the one
    // under review is not public.
    b.goto(&server.url("/query")).await;
    b.fill("input[name=q]", "读书").await;
    b.submit("button[type=submit]").await;
    b.assert_text("星辰读书笔记").await;
    b.assert_text("号-1X").await;
    assert!(!b.has_text("城市天气").await);
    b.screenshot("public-query").await;
    b.assert_same_origin().await;

    // The dashboard renders with real data.
    staff_login(&b, &server, &operator).await;
    b.goto(&server.url("/admin/dashboard")).await;
    assert!(b.exists("svg").await, "charts are server-rendered SVG");
    b.assert_text("已备案").await;
    // A bad count is not drawn in the good count's green.
    let fills = b
        .js("return Array.from(document.querySelectorAll('#readiness rect')).map(r => [r.textContent, r.getAttribute('fill')]);")
        .await;
    let fill = |label: &str| {
        fills.as_array().and_then(|a| {
            a.iter().find(|r| r[0].as_str().is_some_and(|t| t.starts_with(label))).map(|r| r[1].clone())
        })
    };
    assert!(fill("已上架未备案").is_some() && fill("已上架未备案") != fill("已上架且已备案"), "{fills}");
    // Chart labels are readable: their font, as drawn (the SVG is scaled to its box), is at
    // least 12 px.
    let drawn = b
        .js("const s = document.querySelector('#readiness svg'); const scale = s.getBoundingClientRect().width / s.viewBox.baseVal.width; return parseFloat(getComputedStyle(s.querySelector('text')).fontSize) * scale;")
        .await;
    assert!(drawn.as_f64().unwrap_or(0.0) >= 12.0, "chart labels drawn at {drawn} px");
    b.screenshot("dashboard").await;
    b.assert_same_origin().await;
    server.stop().await;
}
