//! The developer console over plain HTTP (forms and redirects, as a browser without
//! JavaScript uses it): sign-in, lockout, CSRF, permissions, the wizard with inline rules,
//! rejection → highlighted re-submission, tickets, letters, security headers.

use crate::support::*;
use beian_core::platform::Role;
use beian_service::Actor;
use serde_json::json;

pub(crate) struct Browser {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) cookie: String,
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Browser {
        let http =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Browser { base: app.base.clone(), http, cookie: String::new() }
    }

    pub(crate) async fn login(&mut self, user: &str, pass: &str) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}/console/login", self.base))
            .form(&[("username", user), ("password", pass), ("next", "/console")])
            .send()
            .await
            .expect("login");
        let status = r.status().as_u16();
        if let Some(c) = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = c.split(';').next().unwrap_or_default().to_string();
        }
        (status, r.text().await.unwrap_or_default())
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("get");
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        (status, r.text().await.unwrap_or_default(), headers)
    }

    /// POST a form with the page's CSRF token; returns (status, Location, body).
    pub(crate) async fn post(
        &self,
        path: &str,
        csrf_from: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String, String) {
        let mut f: Vec<(&str, &str)> = fields.to_vec();
        let token = csrf(csrf_from);
        f.push(("_csrf", &token));
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(&f)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        let loc = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        (status, loc, r.text().await.unwrap_or_default())
    }

    async fn upload(&self, appid: &str, page: &str, field: &str, ct: &str, bytes: &[u8]) -> String {
        let form = reqwest::multipart::Form::new()
            .text("_csrf", csrf(page))
            .text("field", field.to_string())
            .text("certificate_type", ct.to_string())
            .part("media", reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("x.jpg"));
        let r = self
            .http
            .post(format!("{}/console/apps/{appid}/filing/upload", self.base))
            .header("cookie", &self.cookie)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }
}

pub(crate) fn csrf(html: &str) -> String {
    html.split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string()
}

pub(crate) async fn developer(app: &TestApp, appid: &str, n: u32) -> Browser {
    register(app, appid, n).await;
    let acc = app
        .svc
        .accounts()
        .create_account(&Actor::new("test", "c"), &format!("dev{n}"), &format!("开发者{n}"), "secret-pass-1")
        .await
        .expect("account");
    app.svc
        .accounts()
        .grant(&Actor::new("test", "c"), appid, &acc.id, beian_core::platform::MemberRole::Admin, &[])
        .await
        .expect("grant");
    let mut b = Browser::new(app);
    assert_eq!(b.login(&format!("dev{n}"), "secret-pass-1").await.0, 303);
    b
}

#[tokio::test]
async fn sign_in_lockout_csrf_and_headers() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    let b = developer(&app, "wxcs0001", 51).await;
    let (st, html, headers) = b.get("/console").await;
    assert_eq!(st, 200);
    assert!(html.contains("小程序需补充备案信息") && html.contains("去备案"), "{html}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers["content-security-policy"].to_str().expect("csp").contains("default-src 'self'"));
    // No page refers to another origin.
    for needle in ["http://", "https://", "//cdn"] {
        let external = html.match_indices(needle).any(|(i, _)| !html[i..].starts_with(&app.base));
        assert!(!external, "external reference {needle} in {html}");
    }
    // A POST without the CSRF token is refused.
    let r = b
        .http
        .post(format!("{}/console/apps/wxcs0001/filing/save", b.base))
        .header("cookie", &b.cookie)
        .form(&[("_step", "subject")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    // Five wrong passwords lock the account; then even the right one is refused.
    let mut other = Browser::new(&app);
    for _ in 0..5 {
        assert_eq!(other.login("dev51", "wrong-password").await.0, 401);
    }
    let (st, html) = other.login("dev51", "secret-pass-1").await;
    assert_eq!(st, 401);
    assert!(html.contains("锁定"), "{html}");
    // Signed out: the console sends you to the sign-in page.
    let (st, _, h) = Browser::new(&app).get("/console").await;
    assert_eq!((st, h["location"].to_str().expect("loc")), (303, "/console/login?next=/console"));
    app.stop().await;
}

#[tokio::test]
async fn member_without_permission_is_told_who_can_act() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    let _admin = developer(&app, "wxcs0002", 52).await;
    let member = app
        .svc
        .accounts()
        .create_account(&Actor::new("test", "c"), "member52", "成员", "secret-pass-2")
        .await
        .expect("account");
    app.svc
        .accounts()
        .grant(
            &Actor::new("test", "c"),
            "wxcs0002",
            &member.id,
            beian_core::platform::MemberRole::Member,
            &[],
        )
        .await
        .expect("grant");
    let mut b = Browser::new(&app);
    b.login("member52", "secret-pass-2").await;
    let (st, html, _) = b.get("/console/apps/wxcs0002").await;
    assert_eq!(st, 403);
    assert!(html.contains("暂无查看权限，请使用管理员帐号（开*"), "{html}");
    let (st, _, _) = b.get("/console/apps/wxcs0002/filing").await;
    assert_eq!(st, 403);
    app.stop().await;
}

#[tokio::test]
async fn wizard_to_filed_with_rejection_and_ticket() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    let b = developer(&app, "wxcs0003", 53).await;
    let id = admin_id(53);
    let base = "/console/apps/wxcs0003/filing";

    // Subject, with a mistake: the address repeats the province.
    let (_, page, _) = b.get(&format!("{base}?step=subject")).await;
    let (st, loc, _) = b
        .post(
            &format!("{base}/save"),
            &page,
            &[
                ("_step", "subject"),
                ("go", "next"),
                ("icp_subject.base_info.type", "5"),
                ("icp_subject.base_info.name", "管理员53"),
                ("icp_subject.base_info.province", "440000"),
                ("icp_subject.base_info.city", "440300"),
                ("icp_subject.base_info.district", "440305"),
                ("icp_subject.base_info.address", "广东省深圳市科技园路1号"),
                ("icp_subject.organize_info.certificate_type", "2"),
                ("icp_subject.organize_info.certificate_number", &id),
                ("icp_subject.organize_info.certificate_address", "广东省深圳市南山区科技园路1号"),
            ],
        )
        .await;
    assert_eq!(st, 303);
    assert!(loc.contains("step=subject&saved=1"), "a step with problems stays: {loc}");
    let (_, page, _) = b.get(&loc).await;
    assert!(page.contains("不要重复填写"), "the rule shows at its field: {page}");
    let (_, loc, _) = b
        .post(
            &format!("{base}/save"),
            &page,
            &[("_step", "subject"), ("go", "next"), ("icp_subject.base_info.address", "科技园路1号A座101室")],
        )
        .await;
    assert!(loc.contains("step=applet"), "{loc}");

    let (_, page, _) = b.get(&loc).await;
    let (_, loc, _) = b
        .post(
            &format!("{base}/save"),
            &page,
            &[
                ("_step", "applet"),
                ("go", "next"),
                ("sct", "1"),
                ("nrlx", "24"),
                (
                    "icp_applets.base_info.comment",
                    "本小程序提供读书笔记记录、书单整理与阅读进度管理服务，不涉及交易。",
                ),
            ],
        )
        .await;
    assert!(loc.contains("step=principals"), "{loc}");
    let (_, page, _) = b.get(&loc).await;
    let mobile = admin_mobile(53);
    let (_, loc, _) = b
        .post(
            &format!("{base}/save"),
            &page,
            &[
                ("_step", "principals"),
                ("go", "next"),
                ("same", "1"),
                ("icp_subject.principal_info.name", "管理员53"),
                ("icp_subject.principal_info.mobile", &mobile),
                ("icp_subject.principal_info.email", "dev53@example.com"),
                ("icp_subject.principal_info.emergency_contact", "13900000053"),
                ("icp_subject.principal_info.certificate_type", "2"),
                ("icp_subject.principal_info.certificate_number", &id),
                ("icp_subject.principal_info.certificate_validity_date_start", "20200101"),
                ("icp_subject.principal_info.certificate_validity_date_end", "长期"),
            ],
        )
        .await;
    assert!(loc.contains("step=materials"), "{loc}");

    // Uploads: a PDF where an image belongs is refused with the reason; JPEGs pass.
    let (_, page, _) = b.get(&loc).await;
    let refused = b
        .upload("wxcs0003", &page, "icp_subject.principal_info.certificate_photo_front", "2", b"%PDF-1.4")
        .await;
    let (_, shown, _) = b.get(&refused).await;
    assert!(shown.contains("文件格式不支持"), "{shown}");
    for f in [
        "icp_subject.principal_info.certificate_photo_front",
        "icp_subject.principal_info.certificate_photo_back",
    ] {
        b.upload("wxcs0003", &page, f, "2", JPEG).await;
    }
    let (_, page, _) = b.get(&format!("{base}?step=materials&saved=1")).await;
    assert!(page.contains("class=\"preview\""), "previews of uploads");

    // Face verification by the admin, the letter, then submit.
    let (_, page, _) = b.get(&format!("{base}?step=face")).await;
    b.post(&format!("{base}/face"), &page, &[]).await;
    let (_, page, _) = b.get(&format!("{base}?step=face")).await;
    let task =
        page.split("/face/").nth(1).and_then(|s| s.split(['"', '>']).next()).expect("face link").to_string();
    let r = reqwest::Client::new()
        .post(app.url(&format!("/face/{task}")))
        .form(&[("name", "管理员53"), ("id_number", id.as_str())])
        .send()
        .await
        .expect("face");
    assert_eq!(r.status(), 200);
    let (st, _, h) = b.get("/console/apps/wxcs0003/letter.pdf").await;
    assert_eq!((st, h["content-type"].to_str().expect("ct")), (200, "application/pdf"));
    let (_, page, _) = b.get(&format!("{base}?step=letter")).await;
    b.upload("wxcs0003", &page, "icp_materials.commitment_letter.0", "", JPEG).await;
    let (_, page, _) = b.get(&format!("{base}?step=review")).await;
    assert!(page.contains("所有信息已通过规则校验"), "{page}");
    // Not without the agreement.
    let (st, _, refused) = b.post(&format!("{base}/submit"), &page, &[]).await;
    assert!(st == 200 && refused.contains("请先勾选确认"), "{refused}");
    assert_eq!(app.svc.filings().entrance_info("wxcs0003").await.expect("info").status, 1024);
    let (st, loc, _) = b.post(&format!("{base}/submit"), &page, &[("agree", "1")]).await;
    assert_eq!((st, loc.as_str()), (303, "/console/apps/wxcs0003?submitted=1"));
    let (_, status, _) = b.get(&loc).await;
    assert!(status.contains("提交成功"), "{status}");
    assert_eq!(app.svc.filings().entrance_info("wxcs0003").await.expect("info").status, 2);

    // The reviewer rejects one field; the re-submission highlights only that field.
    let reviewer = app
        .svc
        .review()
        .create_staff(&Actor::new("test", "c"), "审核员", Role::Reviewer)
        .await
        .expect("staff")
        .1;
    let (st, _) = staff_api(&app, "POST", "/api/review/orders/wxcs0003/reject", &reviewer, json!({"reasons": [{"key_name": "小程序备注", "error": "未说明具体服务", "suggest": "请写明提供哪些服务"}]})).await;
    assert_eq!(st, 200);
    let (_, status, _) = b.get("/console/apps/wxcs0003").await;
    assert!(status.contains("未说明具体服务") && status.contains("修改后重新提交"), "{status}");
    let (_, page, _) = b.get(&format!("{base}?step=applet&resubmit=1")).await;
    assert_eq!(
        page.matches("class=\"field rejected\"").count()
            + page.matches("class=\"field invalid rejected\"").count(),
        1,
        "only the rejected field is highlighted: {page}"
    );
    assert!(page.contains("本小程序提供读书笔记记录"), "everything is pre-filled");
    let (_, loc, _) = b
        .post(
            &format!("{base}/save"),
            &page,
            &[
                ("_step", "applet"),
                ("go", "stay"),
                ("sct", "1"),
                ("nrlx", "24"),
                (
                    "icp_applets.base_info.comment",
                    "本小程序提供读书笔记记录、书单整理、阅读打卡与阅读进度管理服务，不涉及交易。",
                ),
            ],
        )
        .await;
    let (_, page, _) = b.get(&loc).await;
    let (_, page2, _) = b.get(&format!("{base}?step=review")).await;
    let _ = page;
    b.post(&format!("{base}/submit"), &page2, &[("agree", "1")]).await;
    assert_eq!(app.svc.filings().entrance_info("wxcs0003").await.expect("info").status, 2, "re-submitted");

    // A ticket from the rejection carries the appid and the notice.
    let (st, _) = staff_api(
        &app,
        "POST",
        "/api/review/orders/wxcs0003/reject",
        &reviewer,
        json!({"reasons": [{"key_name": "通讯地址", "error": "地址不详细", "suggest": "写到门牌号"}]}),
    )
    .await;
    assert_eq!(st, 200);
    let (_, page, _) = b.get("/console/tickets?appid=wxcs0003").await;
    assert!(page.contains("地址不详细"), "{page}");
    let (st, loc, _) = b
        .post(
            "/console/tickets",
            &page,
            &[("appid", "wxcs0003"), ("title", "驳回原因咨询"), ("body", "地址要写到哪一级？")],
        )
        .await;
    assert_eq!(st, 303);
    let id: i64 = loc.rsplit('/').next().and_then(|x| x.parse().ok()).expect("ticket id");
    let (t, msgs) = app.svc.accounts().ticket(id).await.expect("ticket").expect("exists");
    assert!(t.context.contains("wxcs0003") && t.context.contains("地址不详细"), "{t:?}");
    app.svc
        .accounts()
        .reply_ticket(id, "operator:op1", "请填写到门牌号，例如：科技园路1号A座101室。")
        .await
        .expect("reply");
    let (_, page, _) = b.get(&loc).await;
    assert!(page.contains("平台客服") && page.contains("门牌号") && msgs.len() == 1, "{page}");
    app.stop().await;
}

/// Form keys and upload fields are field paths of the application: anything else — a path
/// 5,000 levels deep, a list index of ten million, an unknown field — is a 400 that names the
/// field, the draft is untouched, and the server keeps serving. (Before: a stack overflow that
/// killed the process, and 800 MB for one index.)
#[tokio::test]
async fn hostile_form_keys_are_refused_by_name_and_the_server_lives() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    let b = developer(&app, "wxcs0004", 54).await;
    let base = "/console/apps/wxcs0004/filing";
    let (_, page, _) = b.get(&format!("{base}?step=subject")).await;
    let (st, _, _) = b
        .post(&format!("{base}/save"), &page, &[("_step", "subject"), ("icp_subject.base_info.name", "原名")])
        .await;
    assert_eq!(st, 303);

    let deep = format!("icp_subject.{}b", "a.".repeat(5000));
    for (key, want) in [
        (deep.as_str(), "字段名过长"),
        ("icp_subject.base_info.x.10000000", "未知字段"),
        ("icp_applets.base_info.nrlx_details.10000000.code", "字段序号不正确"),
        ("icp_applets.base_info.nrlx_details.40.code", "该项最多32个"),
        ("icp_subject.base_info.name.0", "未知字段"),
    ] {
        let (st, _, body) = b
            .post(
                &format!("{base}/save"),
                &page,
                &[("_step", "subject"), ("icp_subject.base_info.name", "改名"), (key, "v")],
            )
            .await;
        assert_eq!(st, 400, "{}", &key[..key.len().min(80)]);
        assert!(body.contains(want) && body.contains("icp_"), "{want}: {body}");
        // The message names the field, cut to a readable length.
        assert!(body.len() < 20_000, "the page does not echo the whole key");
        let (st, _, _) = b.get("/healthz").await;
        assert_eq!(st, 200);
    }
    // The same through the upload's field value.
    for field in [deep.as_str(), "icp_materials.subject_other_materials.10000000", "icp_subject.x.y"] {
        let form = reqwest::multipart::Form::new()
            .text("_csrf", csrf(&page))
            .text("field", field.to_string())
            .text("certificate_type", "2")
            .part("media", reqwest::multipart::Part::bytes(JPEG.to_vec()).file_name("x.jpg"));
        let r = b
            .http
            .post(app.url("/console/apps/wxcs0004/filing/upload"))
            .header("cookie", &b.cookie)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), 400);
        assert!(r.text().await.expect("body").contains("请勿修改表单字段"));
    }
    // A form body over the limit is refused before it is read.
    let big = "x".repeat(beian_console::FORM_BODY_LIMIT + 1);
    let (st, _, _) = b
        .post(
            &format!("{base}/save"),
            &page,
            &[("_step", "subject"), ("icp_subject.base_info.comment", &big)],
        )
        .await;
    assert_eq!(st, 413);
    // Nothing of the refused requests reached the draft.
    let d = app.svc.filings().draft_or_start("wxcs0004").await.expect("draft");
    assert_eq!(d.icp_subject.base_info.name, "原名");
    app.stop().await;
}

/// A draft that cannot be read is an error page, and the stored draft is left as it is
/// (before: an empty draft was saved over it).
#[tokio::test]
async fn unreadable_draft_is_an_error_and_is_not_overwritten() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    let b = developer(&app, "wxcs0005", 55).await;
    let base = "/console/apps/wxcs0005/filing";
    let (_, page, _) = b.get(&format!("{base}?step=subject")).await;
    b.post(
        &format!("{base}/save"),
        &page,
        &[("_step", "subject"), ("icp_subject.base_info.name", "保留的名称")],
    )
    .await;
    let store = app.store.clone();
    store
        .exec_raw("CREATE TABLE kept_draft AS SELECT payload_enc FROM drafts WHERE appid = 'wxcs0005'")
        .await
        .expect("keep");
    store.exec_raw("UPDATE drafts SET payload_enc = X'00' WHERE appid = 'wxcs0005'").await.expect("damage");

    let (st, body, _) = b.get(&format!("{base}?step=subject")).await;
    assert_eq!(st, 503, "{body}");
    assert!(body.contains("系统繁忙"));
    let (st, _, _) = b
        .post(&format!("{base}/save"), &page, &[("_step", "subject"), ("icp_subject.base_info.comment", "x")])
        .await;
    assert_eq!(st, 503);
    let loc =
        b.upload("wxcs0005", &page, "icp_subject.principal_info.certificate_photo_front", "2", JPEG).await;
    assert!(loc.is_empty(), "no redirect to success: {loc}");
    let r = b
        .http
        .post(app.url("/console/apps/wxcs0005/filing/face"))
        .header("cookie", &b.cookie)
        .form(&[("_csrf", csrf(&page))])
        .send()
        .await
        .expect("face");
    assert_eq!(r.status(), 503);
    let (st, _, _) = b.get("/console/apps/wxcs0005/letter.pdf").await;
    assert_eq!(st, 503);

    // The damaged bytes are still there (nothing was written over them): put the kept ones
    // back only where the damage is, and the developer's draft is whole again.
    store
        .exec_raw(
            "UPDATE drafts SET payload_enc = (SELECT payload_enc FROM kept_draft) \
             WHERE appid = 'wxcs0005' AND payload_enc = X'00'",
        )
        .await
        .expect("repair");
    let d = app.svc.filings().draft_or_start("wxcs0005").await.expect("draft");
    assert_eq!(d.icp_subject.base_info.name, "保留的名称");
    assert_eq!(d.icp_subject.base_info.comment, "");
    app.stop().await;
}

/// Uploads racing into one draft all land (each edit re-applies itself when another won).
#[tokio::test]
async fn concurrent_uploads_into_one_draft_keep_every_file() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::start(backend, 1000).await;
        let b = developer(&app, "wxcs0006", 56).await;
        let (_, page, _) = b.get("/console/apps/wxcs0006/filing?step=materials").await;
        let fields = [
            "icp_subject.principal_info.certificate_photo_front",
            "icp_subject.principal_info.certificate_photo_back",
            "icp_applets.principal_info.certificate_photo_front",
            "icp_applets.principal_info.certificate_photo_back",
        ];
        let locs =
            futures_util::future::join_all(fields.iter().map(|f| b.upload("wxcs0006", &page, f, "2", JPEG)))
                .await;
        for l in &locs {
            assert!(l.contains("saved=1"), "{l}");
        }
        let d = app.svc.filings().draft_or_start("wxcs0006").await.expect("draft");
        let (sp, ap) = (&d.icp_subject.principal_info, &d.icp_applets.principal_info);
        for (f, v) in fields.iter().zip([
            &sp.certificate_photo_front,
            &sp.certificate_photo_back,
            &ap.certificate_photo_front,
            &ap.certificate_photo_back,
        ]) {
            assert!(!v.is_empty(), "{backend:?}: {f} lost");
        }
        app.stop().await;
    }
}

/// Free text that is stored and shown to someone else is bounded, and the refusal says the
/// limit: a reviewer's reasons (before: 100,000 reasons stored 22 MB on the order), a
/// ticket's body (before: 1 MB accepted), a form body over the console's limit.
#[tokio::test]
async fn stored_free_text_is_bounded_and_the_limit_is_said() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    let b = developer(&app, "wxcs0007", 57).await;
    apply_personal(&app, "wxcs0007", 57).await;
    let reviewer = app
        .svc
        .review()
        .create_staff(&Actor::new("test", "c"), "审核员", Role::Reviewer)
        .await
        .expect("staff")
        .1;
    let one = json!({"key_name": "小程序备注", "error": "未说明具体服务", "suggest": "请写明提供哪些服务"});
    let many: Vec<_> = (0..100_000).map(|_| one.clone()).collect();
    let (st, body) =
        staff_api(&app, "POST", "/api/review/orders/wxcs0007/reject", &reviewer, json!({ "reasons": many }))
            .await;
    assert!(st == 400 || st == 413, "{st} {body}");
    let long = json!({"key_name": "小程序备注", "error": "很".repeat(301), "suggest": ""});
    let (st, body) = staff_api(
        &app,
        "POST",
        "/api/review/orders/wxcs0007/reject",
        &reviewer,
        json!({ "reasons": [long] }),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.to_string().contains("最多300个字符"), "{body}");
    assert_eq!(
        app.svc.filings().entrance_info("wxcs0007").await.expect("info").status,
        2,
        "nothing was decided"
    );

    // Tickets: over the form limit → 413 with the limit; over the text limit → 400 with it.
    let (_, page, _) = b.get("/console/tickets").await;
    let (st, _, html) = b
        .post(
            "/console/tickets",
            &page,
            &[("appid", "wxcs0007"), ("title", "问题"), ("body", &"长".repeat(1 << 20))],
        )
        .await;
    assert_eq!(st, 413);
    assert!(html.contains("表单最多64 KB"), "{html}");
    let (st, _, html) = b
        .post(
            "/console/tickets",
            &page,
            &[("appid", "wxcs0007"), ("title", "问题"), ("body", &"长".repeat(5001))],
        )
        .await;
    assert_eq!(st, 400);
    assert!(html.contains("问题描述过长：最多5000个字符"), "{html}");
    app.stop().await;
}

/// A setting that cannot be read is an error on the staff pages, and saving the form does not
/// write defaults over it (before: the defaults were shown and saved back).
#[tokio::test]
async fn unreadable_simulator_settings_are_an_error_not_defaults_saved_back() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    let (_, token) =
        app.svc.review().create_staff(&Actor::new("test", "c"), "运营", Role::Operator).await.expect("staff");
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r =
        http.post(app.url("/admin/login")).form(&[("token", token.as_str())]).send().await.expect("login");
    let cookie =
        r.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_string();
    let queue = http.get(app.url("/admin")).header("cookie", &cookie).send().await.expect("queue");
    let page = queue.text().await.expect("page");
    let mut settings = app.sim().settings().await.expect("settings");
    settings.review_working_days = 7;
    app.sim().set_settings(&Actor::new("test", "c").0, &settings).await.expect("save");
    app.store
        .exec_raw("UPDATE settings SET value = '{broken' WHERE key = 'simulator'")
        .await
        .expect("damage");

    let r = http.get(app.url("/admin/ops")).header("cookie", &cookie).send().await.expect("ops");
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("body").contains("系统繁忙"));
    let r = http
        .post(app.url("/admin/ops/simulator"))
        .header("cookie", &cookie)
        .form(&[
            ("_csrf", csrf(&page).as_str()),
            ("review_working_days", "3"),
            ("default_outcome", "approve"),
        ])
        .send()
        .await
        .expect("save");
    assert_eq!(r.status(), 400);
    assert!(app.sim().settings().await.is_err(), "the stored value was not replaced");
    app.store
        .exec_raw("UPDATE settings SET value = '{}' WHERE key = 'simulator' AND value = '{broken'")
        .await
        .expect("repair");
    app.stop().await;
}

/// Hostile text typed by a developer or a provider (a mini program's name, a ticket's title)
/// shows as text on every page that lists it: the console home, the review queue and page,
/// the operators' lists, and the public query. The pages are maud templates, which escape
/// every value; this checks the pages use them.
#[tokio::test]
async fn hostile_names_show_escaped_on_every_page() {
    const HOSTILE: &str = "<script>alert(1)</script>\"'&";
    const SHOWN: &str = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;'&amp;";
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    let appid = "wxxs0001";
    let setup = Actor::new("test", "xss");
    let input =
        beian_testkit::fixtures::mini_program(appid, HOSTILE, &beian_testkit::fixtures::Identity::admin(71));
    app.svc.mini_programs().register_mini_program(&setup, input).await.expect("register");
    let acc = app
        .svc
        .accounts()
        .create_account(&setup, "dev71", "开发者71", "secret-pass-1")
        .await
        .expect("account");
    app.svc
        .accounts()
        .grant(&setup, appid, &acc.id, beian_core::platform::MemberRole::Admin, &[])
        .await
        .expect("grant");
    let escaped = |what: &str, page: &str| {
        assert!(page.contains(SHOWN), "{what}: the name shows escaped: {page}");
        assert!(!page.contains("<script>alert(1)"), "{what}: no live markup: {page}");
    };

    // The developer's home, and the filing's status page.
    let mut dev = Browser::new(&app);
    assert_eq!(dev.login("dev71", "secret-pass-1").await.0, 303);
    let (st, home, _) = dev.get("/console").await;
    assert_eq!(st, 200);
    escaped("console home", &home);
    apply_personal(&app, appid, 71).await;
    let ticket = app.svc.accounts().open_ticket(&acc, appid, HOSTILE, HOSTILE).await.expect("ticket");
    escaped("status page", &dev.get(&format!("/console/apps/{appid}")).await.1);
    escaped("console tickets", &dev.get("/console/tickets").await.1);

    // The staff pages: the queue, the review page, the operators' lists.
    let (_, token) = app.svc.review().create_staff(&setup, "运营", Role::Operator).await.expect("staff");
    let staff = Browser::new(&app);
    let r = staff
        .http
        .post(app.url("/admin/login"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_string();
    let staff = Browser { cookie, ..staff };
    for path in [
        "/admin".to_string(),
        format!("/admin/review/{appid}"),
        "/admin/tickets".into(),
        format!("/admin/tickets/{ticket}"),
    ] {
        let (st, page, _) = staff.get(&path).await;
        assert_eq!(st, 200, "{path}");
        escaped(&path, &page);
    }

    // Filed: the public query lists it.
    app.svc
        .filings()
        .platform_approve(&Actor::new("reviewer", "test"), appid)
        .await
        .expect("platform approve");
    app.svc.filings().sms_verified(&Actor::authority(), appid).await.expect("sms verified");
    beian_testkit::service::authority_approve(&app.svc, appid).await.expect("authority approve");
    let r = reqwest::Client::new().get(app.url("/query")).query(&[("q", appid)]).send().await.expect("query");
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    assert!(page.contains("共找到 1 条"), "{page}");
    escaped("public query", &page);
    app.stop().await;
}
