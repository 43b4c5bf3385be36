//! The consoles as people use them (issue 18), in headless Chromium at 1280 and 390 px with
//! screenshots (test-artifacts/<test>/): the review page reads like the wizard (no field
//! path, no raw code, images side by side in the diff, 释放, confirmations that say they
//! worked); the developer console fits a phone; 站内信 links are links and the admin's face
//! link stays the admin's; unknown addresses get a Chinese page.

use crate::staff::submitted;
use beian_browser_tests::{Browser, TestServer};
use beian_core::model::AuditItem;
use beian_core::platform::{MemberRole, Role};
use beian_core::state::ReadinessFlags;
use beian_service::{Actor, MiniProgramInput};

async fn staff_login(b: &Browser, server: &TestServer, token: &str) {
    b.goto(&server.url("/admin/login")).await;
    b.fill("input[name=token]", token).await;
    b.submit("#login").await;
}

async fn console_login(b: &Browser, server: &TestServer, user: &str, pass: &str) {
    b.goto(&server.url("/console/login")).await;
    b.fill("input[name=username]", user).await;
    b.fill("input[name=password]", pass).await;
    b.submit("#login").await;
}

/// The texts of every cell matching `css`.
async fn cell_texts(b: &Browser, css: &str) -> Vec<String> {
    let script =
        format!("return Array.from(document.querySelectorAll({css:?})).map(e => e.innerText.trim());");
    b.js(&script)
        .await
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Rejected once, then submitted again with a new comment and a new ID photo.
async fn resubmitted(server: &TestServer, appid: &str) {
    let a = Actor::new("test", "setup");
    let reasons = vec![AuditItem {
        key_name: "小程序备注".into(),
        error: "备注未说明具体服务".into(),
        suggest: "请写明提供哪些服务".into(),
    }];
    server.svc.filings().platform_reject(&a, appid, reasons).await.expect("reject");
    let mut p = server.svc.filings().submitted_version(appid, 1).await.expect("read").expect("version 1");
    p.icp_applets.base_info.comment =
        "本小程序提供读书笔记记录、书单整理、阅读打卡与阅读进度管理服务，不涉及交易。".into();
    let photo = crate::ID_PHOTO_NEW.to_vec();
    let front = beian_testkit::service::upload_image(
        &server.svc,
        &a,
        appid,
        "icp_subject.principal_info.certificate_photo_front",
        Some(2),
        &photo,
    )
    .await;
    p.icp_subject.principal_info.certificate_photo_front = front.clone();
    p.icp_applets.principal_info.certificate_photo_front = front;
    server.svc.filings().apply(&a, appid, p).await.expect("second submission");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_pages_read_like_the_wizard() {
    let server = TestServer::start().await;
    submitted(&server, "wxux00001", "读书笔记", 71).await;
    submitted(&server, "wxux00002", "城市天气", 72).await;
    resubmitted(&server, "wxux00002").await;
    let reviewer = server
        .svc
        .review()
        .create_staff(&Actor::new("test", "setup"), "王审核", Role::Reviewer)
        .await
        .expect("staff")
        .1;
    let b = Browser::start("review_pages_read_like_the_wizard").await;
    staff_login(&b, &server, &reviewer).await;

    // The queue's filters sit in one row.
    let tops = b
        .js("return Array.from(document.querySelectorAll('form.filters select, form.filters button')).map(e => Math.round(e.getBoundingClientRect().top));")
        .await;
    let tops: Vec<i64> = tops.as_array().expect("tops").iter().filter_map(|v| v.as_i64()).collect();
    assert_eq!(tops.len(), 4, "{tops:?}");
    assert!(tops.iter().all(|t| (t - tops[0]).abs() < 8), "filters in a row: {tops:?}");
    b.screenshot("queue").await;
    // By keyboard alone: j selects the first row, Enter opens it.
    let body = b.wait_for("body").await;
    body.send_keys("j").await.expect("j");
    assert_eq!(b.find_all("#queue tr.row.selected").await.len(), 1, "the selected row is marked");
    b.js("window.__beianLeaving = true; return null;").await;
    body.send_keys("\u{E007}").await.expect("Enter");
    b.wait_for("#fields").await;
    assert!(b.current_path().await.starts_with("/admin/review/"), "Enter opens the selected order");

    // The application in the wizard's sections, Chinese labels, codes decoded.
    b.goto(&server.url("/admin/review/wxux00001")).await;
    let text = b.body_text().await;
    for absent in ["icp_", "该字段", "base_info", "状态：2"] {
        assert!(!text.contains(absent), "{absent:?} is shown:\n{text}");
    }
    for shown in [
        "主体信息",
        "小程序信息",
        "主体负责人",
        "证件材料",
        "广东省 深圳市 南山区",
        "以上都不涉及",
        "生活服务 · 生活缴费",
        "居民身份证",
        "核身通过",
        "2020-01-01 至 长期",
    ] {
        assert!(text.contains(shown), "{shown:?} missing:\n{text}");
    }
    // No value is a bare code (a number of up to six digits).
    let values = cell_texts(&b, "#fields td").await;
    assert!(values.len() > 15, "{values:?}");
    let codes: Vec<&String> = values
        .iter()
        .filter(|v| !v.is_empty() && v.len() <= 6 && v.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert!(codes.is_empty(), "raw codes shown: {codes:?}");
    assert!(b.find_all("#fields img.preview").await.len() >= 2, "materials as thumbnails");
    b.screenshot("review-page").await;
    b.assert_same_origin().await;

    // Claim → 释放 → claimed again; the claimer by name.
    b.submit("#claim").await;
    assert!(b.text("#claimer").await.contains("王审核"));
    assert!(b.exists("#release").await, "释放 after claiming");
    b.submit("#release").await;
    assert!(b.text("#done").await.contains("已释放"), "the release is confirmed");
    b.goto(&server.url("/admin/review/wxux00001")).await;
    assert!(b.text("#claimer").await.contains("未认领"));
    b.submit("#claim").await;

    // Approve asks first; saying no changes nothing; yes says it worked.
    let asked = b.submit_confirmed("#approve", false).await;
    assert!(asked.contains("确认初审通过") && asked.contains("读书笔记"), "{asked}");
    assert_eq!(server.svc.filings().entrance_info("wxux00001").await.expect("info").status, 2);
    b.submit_confirmed("#approve", true).await;
    assert!(b.text("#done").await.contains("已初审通过"));
    assert_eq!(server.svc.filings().entrance_info("wxux00001").await.expect("info").status, 4);
    b.screenshot("approved").await;

    // The second submission: the diff names the fields and shows the two photos side by side.
    b.goto(&server.url("/admin/review/wxux00002")).await;
    let diff = b.text("#diff").await;
    assert!(!diff.contains("icp_"), "{diff}");
    assert!(diff.contains("小程序备注") && diff.contains("主体负责人证件人像面"), "{diff}");
    let row = "#diff tr[data-field='icp_subject.principal_info.certificate_photo_front']";
    assert!(b.exists(&format!("{row} td.old img")).await && b.exists(&format!("{row} td.new img")).await);
    let lefts = b
        .js(&format!("return Array.from(document.querySelectorAll(\"{row} img\")).map(e => [Math.round(e.getBoundingClientRect().left), Math.round(e.getBoundingClientRect().top)]);"))
        .await;
    let lefts = lefts.as_array().expect("positions");
    assert_eq!(lefts.len(), 2);
    assert!(
        lefts[0][0].as_i64() < lefts[1][0].as_i64() && lefts[0][1] == lefts[1][1],
        "side by side: {lefts:?}"
    );
    b.js("document.getElementById('diff').scrollIntoView(); return null;").await;
    b.screenshot("diff-side-by-side").await;

    // Reject asks first and says it worked.
    b.click("#reject-form input[name=reason_id]").await;
    let asked = b.submit_confirmed("#reject", true).await;
    assert!(asked.contains("确认驳回"), "{asked}");
    assert!(b.text("#done").await.contains("已驳回"));

    // On a phone: the queue and the review page fit.
    b.set_width(390).await;
    b.goto(&server.url("/admin")).await;
    b.assert_fits_width().await;
    b.screenshot("queue-390").await;
    b.goto(&server.url("/admin/review/wxux00001")).await;
    b.assert_fits_width().await;
    b.screenshot("review-390").await;
    server.stop().await;
}

/// A developer with a filed mini program, an unfiled listed one and a read-only colleague.
async fn console_setup(server: &TestServer) {
    let a = Actor::new("test", "setup");
    let auth = Actor::authority();
    submitted(server, "wxux00011", "星辰读书笔记", 73).await;
    server.svc.filings().platform_approve(&a, "wxux00011").await.expect("approve");
    server.svc.filings().sms_verified(&auth, "wxux00011").await.expect("sms");
    beian_testkit::service::authority_approve(&server.svc, "wxux00011").await.expect("filed");
    server
        .svc
        .mini_programs()
        .register_mini_program(
            &a,
            MiniProgramInput {
                appid: "wxux00012".into(),
                name: "城市天气预报".into(),
                admin_name: "负责人73".into(),
                admin_id_number: crate::staff::id_of(73),
                admin_mobile: "13800000073".into(),
                flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
                listed: true,
                owner: String::new(),
            },
        )
        .await
        .expect("register");
    let dev = server
        .svc
        .accounts()
        .create_account(&a, "dev73", "负责人73", "dev73-password")
        .await
        .expect("account");
    let member = server
        .svc
        .accounts()
        .create_account(&a, "viewer73", "只读同事", "viewer73-pass")
        .await
        .expect("account");
    for appid in ["wxux00011", "wxux00012"] {
        server.svc.accounts().grant(&a, appid, &dev.id, MemberRole::Admin, &[]).await.expect("grant");
        server.svc.accounts().grant(&a, appid, &member.id, MemberRole::Member, &[]).await.expect("grant");
    }
    // 站内信: the admin's face-verification link, and a deadline reminder (去备案).
    server.svc.materials().create_face_task(&a, "wxux00012").await.expect("face task");
    let deadline = server.svc.policy().deadline_date;
    let reminded = server
        .svc
        .job_queue()
        .deadline_reminders(deadline - chrono::Duration::days(7))
        .await
        .expect("reminders");
    assert!(reminded >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_fits_a_phone() {
    let server = TestServer::start().await;
    console_setup(&server).await;
    let b = Browser::start("console_fits_a_phone").await;
    b.set_width(390).await;
    console_login(&b, &server, "dev73", "dev73-password").await;

    // Home: the menu folds behind 菜单; banner and table stack; nothing wraps per character.
    assert!(
        !b.js("return document.querySelector('header.top nav').offsetParent !== null;")
            .await
            .as_bool()
            .unwrap_or(true),
        "the menu starts folded"
    );
    b.assert_fits_width().await;
    b.screenshot("home-390").await;
    b.click("#menu-toggle").await;
    assert_eq!(b.attr("#menu-toggle", "aria-expanded").await.as_deref(), Some("true"));
    assert!(
        b.js("return document.querySelector('header.top nav').offsetParent !== null;")
            .await
            .as_bool()
            .unwrap_or(false),
        "the menu opens"
    );
    b.assert_fits_width().await;
    b.screenshot("home-390-menu").await;
    let go = b.wait_for("#go-file-wxux00012").await;
    let r = go.rectangle().await.expect("rect");
    assert!(r.2 > r.3, "去备案 reads across, not down: {r:?}");

    // The filed page: the number as text and as WXML/JS, no HTML link, no other platform.
    b.goto(&server.url("/console/apps/wxux00011")).await;
    b.assert_fits_width().await;
    let number = b.text("#service-number").await;
    assert_eq!(b.text("#snippet-text").await, number);
    let wxml = b.text("#snippet-wxml").await;
    assert!(wxml.starts_with("<text") && wxml.contains(&number), "{wxml}");
    assert!(b.text("#snippet-js").await.contains("setClipboardData"));
    let text = b.body_text().await;
    assert!(!text.contains("<a ") && !text.contains("微信"), "{text}");
    b.screenshot("filed-390").await;
    b.js("document.getElementById('snippet-wxml').scrollIntoView(); return null;").await;
    b.screenshot("filed-390-snippet").await;

    // The status page of the unfiled one, 站内信, tickets, the public query.
    for (path, name) in [
        ("/console/apps/wxux00012", "status-390"),
        ("/console/messages", "messages-390"),
        ("/console/tickets", "tickets-390"),
        ("/query?q=%E8%AF%BB%E4%B9%A6", "query-390"),
    ] {
        b.goto(&server.url(path)).await;
        b.assert_fits_width().await;
        b.screenshot(name).await;
        b.assert_same_origin().await;
    }
    // The public query carries no staff branding.
    assert!(b.title().await.starts_with("备案查询") && !b.title().await.contains("备案管理"));
    assert!(!b.exists("a[href^='/admin']").await, "no staff links on the public page");
    assert_eq!(b.text("header .brand").await, "小程序备案查询");
    b.assert_text("星辰读书笔记").await;

    // The same pages at 1280.
    b.set_width(1280).await;
    b.goto(&server.url("/console")).await;
    assert!(b
        .js("return document.querySelector('header.top nav').offsetParent !== null;")
        .await
        .as_bool()
        .unwrap_or(false));
    b.assert_fits_width().await;
    b.screenshot("home-1280").await;
    b.goto(&server.url("/console/apps/wxux00011")).await;
    b.assert_fits_width().await;
    b.screenshot("filed-1280").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_link_and_keep_the_face_link_for_the_admin() {
    let server = TestServer::start().await;
    console_setup(&server).await;
    let b = Browser::start("messages_link_and_keep_the_face_link_for_the_admin").await;

    // The admin: the face link is a link; the reminder has a real 去备案 button; one marker.
    console_login(&b, &server, "dev73", "dev73-password").await;
    b.goto(&server.url("/console/messages")).await;
    let face = b.attr("ul.messages a[href*='/face/']", "href").await.expect("the face link is a link");
    assert!(face.contains("/face/"), "{face}");
    assert_eq!(
        b.attr("ul.messages a.btn[href='/console/apps/wxux00012/filing']", "href").await.as_deref(),
        Some("/console/apps/wxux00012/filing"),
        "去备案 is a button"
    );
    let bullets = b.js("return getComputedStyle(document.querySelector('ul.messages')).listStyleType;").await;
    assert_eq!(bullets, "none", "one unread marker, no list bullet beside it");
    assert!(!b.body_text().await.contains('●'));
    b.screenshot("admin-messages").await;
    b.submit("header form button").await;

    // A read-only member sees that there is a face verification, not the admin's link.
    console_login(&b, &server, "viewer73", "viewer73-pass").await;
    b.goto(&server.url("/console/messages")).await;
    b.assert_text("请完成备案人脸核身").await;
    assert!(!b.exists("a[href*='/face/']").await, "a member must not get the admin's face link");
    let text = b.body_text().await;
    assert!(!text.contains("/face/"), "{text}");
    assert!(text.contains("核身链接只发给管理员本人"), "{text}");
    assert!(!b.exists("ul.messages a.btn").await, "a member who may not file gets no 去备案 button");
    b.screenshot("member-messages").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_addresses_get_a_chinese_page() {
    let server = TestServer::start().await;
    let b = Browser::start("unknown_addresses_get_a_chinese_page").await;
    b.goto(&server.url("/console/no-such-page")).await;
    assert_eq!(b.title().await, "页面不存在 - 小程序备案");
    b.assert_text("你访问的地址不存在").await;
    assert!(b.exists("#not-found a[href='/console']").await);
    b.screenshot("not-found").await;
    b.set_width(390).await;
    b.assert_fits_width().await;
    b.screenshot("not-found-390").await;
    b.assert_same_origin().await;
    let page = reqwest::get(server.url("/nope")).await.expect("get");
    assert_eq!(page.status(), 404);
    assert!(page.text().await.expect("body").contains("页面不存在"));
    // API clients keep a bare 404.
    let api = reqwest::get(server.url("/wxa/no-such-api")).await.expect("get");
    assert_eq!(api.status(), 404);
    assert!(api.text().await.expect("body").is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_and_fits_at_1280_and_390() {
    let server = TestServer::start().await;
    console_setup(&server).await;
    submitted(&server, "wxux00021", "读书笔记", 74).await;
    let a = Actor::new("test", "setup");
    let task = server.svc.materials().create_face_task(&a, "wxux00012").await.expect("face task").task_id;
    let reviewer = server.svc.review().create_staff(&a, "王审核", Role::Reviewer).await.expect("staff").1;
    let operator = server.svc.review().create_staff(&a, "赵运营", Role::Operator).await.expect("staff").1;
    let b = Browser::start("every_page_passes_axe_and_fits_at_1280_and_390").await;
    let mut found = Vec::new();
    // axe-core's findings, whether the page fits the width, and a screenshot of each.
    async fn look(b: &Browser, page: &str, width: u32) -> Vec<String> {
        let mut list = b.accessibility_violations().await;
        list.extend(b.overflow().await);
        b.screenshot(&format!("{page}-{width}")).await;
        list
    }

    let public = [
        "/console/login",
        "/console/forgot",
        "/admin/login",
        "/query",
        "/query?q=%E8%AF%BB%E4%B9%A6",
        "/docs/api",
        "/miit/verify",
        "/no-such-page",
    ];
    let face = format!("/face/{task}");
    let console = [
        "/console",
        "/console/settings/beian",
        "/console/apps/wxux00011",
        "/console/apps/wxux00012",
        "/console/apps/wxux00012/filing?step=subject",
        "/console/apps/wxux00012/filing?step=subject&saved=1",
        "/console/apps/wxux00012/filing?step=applet",
        "/console/apps/wxux00012/filing?step=principals&saved=1",
        "/console/apps/wxux00012/filing?step=materials&saved=1",
        "/console/apps/wxux00012/filing?step=face",
        "/console/apps/wxux00012/filing?step=letter",
        "/console/apps/wxux00012/filing?step=review",
        "/console/apps/wxux00011/providers",
        "/console/apps/wxux00011/change",
        "/console/apps/wxux00011/history",
        "/console/apps/wxux00011/members",
        "/console/apps/wxux00011/webhook",
        "/console/apps/wxux00011/webhook/deliveries",
        "/console/apps/wxux00011/cancel-access",
        "/console/apps/wxux00012/access",
        "/console/messages",
        "/console/tickets",
    ];
    let staff = [
        "/admin",
        "/admin/review/wxux00021",
        "/admin/ops",
        "/admin/ops/jobs",
        "/admin/ops/audit",
        "/admin/ops/sms",
        "/admin/accounts",
        "/admin/dashboard",
    ];
    for width in [1280, 390] {
        b.set_width(width).await;
        for path in public.iter().copied().chain([face.as_str()]) {
            b.goto(&server.url(path)).await;
            found.extend(look(&b, path, width).await.into_iter().map(|v| format!("{path} @{width}: {v}")));
        }
        console_login(&b, &server, "dev73", "dev73-password").await;
        for path in console {
            b.goto(&server.url(path)).await;
            found.extend(look(&b, path, width).await.into_iter().map(|v| format!("{path} @{width}: {v}")));
        }
        b.client().delete_all_cookies().await.expect("sign out");
        for token in [&reviewer, &operator] {
            staff_login(&b, &server, token).await;
            for path in staff {
                b.goto(&server.url(path)).await;
                found
                    .extend(look(&b, path, width).await.into_iter().map(|v| format!("{path} @{width}: {v}")));
            }
            b.client().delete_all_cookies().await.expect("sign out");
        }
    }
    assert!(
        found.is_empty(),
        "serious or critical accessibility violations, or pages too wide:\n{}",
        found.join("\n")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_works_by_keyboard() {
    let server = TestServer::start().await;
    console_setup(&server).await;
    let b = Browser::start("the_wizard_works_by_keyboard").await;
    console_login(&b, &server, "dev73", "dev73-password").await;
    b.goto(&server.url("/console/apps/wxux00012/filing?step=subject")).await;
    // Tab through the step: every stop is visibly focused, and 保存并下一步 is reached.
    let body = b.wait_for("body").await;
    let mut reached = false;
    for _ in 0..80 {
        body.send_keys("\u{E004}").await.expect("Tab");
        let focus = b
            .js("const e = document.activeElement; return [e.id, e.tagName, getComputedStyle(e).outlineStyle];")
            .await;
        if focus[1] != "BODY" {
            assert_ne!(focus[2], "none", "the focused element shows it: {focus}");
        }
        if focus[0] == "save-next" {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab reaches 保存并下一步");
    b.screenshot("focus-on-save").await;
    b.js("window.__beianLeaving = true; return null;").await;
    b.client().active_element().await.expect("focused").send_keys("\u{E007}").await.expect("Enter");
    b.wait_for("#saved").await;
    assert!(b.text("#saved").await.starts_with("已保存"));
    server.stop().await;
}
