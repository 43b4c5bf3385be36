//! The developer's journey in headless Chromium, with a screenshot of every step
//! (test-artifacts/developer_journey/): sign in → banner → wizard with a mistake shown inline
//! → fix → face verification → generate and upload the letter → submit → a reviewer rejects
//! one field through the API → only that field highlighted → re-submit → filed. Plus: a
//! member without permission is refused, and a ticket is opened from the rejection.

use beian_browser_tests::{Browser, TestServer};
use beian_core::ident::resident_id_check_char;
use beian_core::platform::Role;
use beian_core::state::ReadinessFlags;
use beian_service::{Actor, MiniProgramInput};
use serde_json::json;

const APPID: &str = "wxjourney0001";

fn admin_id() -> String {
    let body = "44030519900101777";
    format!("{body}{}", resident_id_check_char(body).expect("digits"))
}

async fn setup(server: &TestServer) {
    let a = Actor::new("test", "setup");
    server
        .svc
        .mini_programs()
        .register_mini_program(
            &a,
            MiniProgramInput {
                appid: APPID.into(),
                name: "读书笔记".into(),
                admin_name: "张三".into(),
                admin_id_number: admin_id(),
                admin_mobile: "13800138000".into(),
                flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
                listed: true,
                owner: String::new(),
            },
        )
        .await
        .expect("mini program");
    let dev =
        server.svc.accounts().create_account(&a, "zhangsan", "张三", "zhangsan-pass").await.expect("account");
    server
        .svc
        .accounts()
        .grant(&a, APPID, &dev.id, beian_core::platform::MemberRole::Admin, &[])
        .await
        .expect("grant");
    let member =
        server.svc.accounts().create_account(&a, "lisi", "李四", "lisi-pass-1").await.expect("account");
    server
        .svc
        .accounts()
        .grant(&a, APPID, &member.id, beian_core::platform::MemberRole::Member, &[])
        .await
        .expect("grant");
}

pub async fn login(b: &Browser, server: &TestServer, user: &str, pass: &str) {
    b.goto(&server.url("/console/login")).await;
    b.fill("input[name=username]", user).await;
    b.fill("input[name=password]", pass).await;
    b.submit("#login").await;
}

/// The upload form of one field.
fn upload_input(field: &str) -> String {
    format!("form.upload:has(input[name=field][value=\"{field}\"]) input[type=file]")
}
fn upload_button(field: &str) -> String {
    format!("form.upload:has(input[name=field][value=\"{field}\"]) button")
}

async fn staff_call(
    server: &TestServer,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("staff api");
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developer_journey() {
    let server = TestServer::start().await;
    setup(&server).await;
    let b = Browser::start("developer_journey").await;
    let work = tempfile::tempdir().expect("tmp");
    let jpeg = work.path().join("id.png");
    // A real picture (screenshots show it), not only the bytes the checks accept.
    std::fs::write(&jpeg, crate::ID_PHOTO).expect("photo");
    let not_image = work.path().join("scan.jpg");
    std::fs::write(&not_image, b"%PDF-1.4 not an image").expect("pdf");

    // Sign in: the banner with 去备案.
    login(&b, &server, "zhangsan", "zhangsan-pass").await;
    b.assert_text("小程序需补充备案信息").await;
    b.screenshot("home-banner").await;
    b.assert_same_origin().await;
    b.submit(&format!("#go-file-{APPID}")).await;

    // The step opens clean: no hint before anything was typed or saved.
    assert!(b.find_all(".field-error, .invalid").await.is_empty(), "a step opens without red fields");
    b.screenshot("subject-opens-clean").await;
    // 保存 says so, and only then the hints show: a select asks to be chosen.
    b.click("#step-form button[value=stay]").await;
    b.wait_for("#saved").await;
    assert!(b.text("#saved").await.starts_with("已保存"), "保存 is confirmed");
    let prov = b.text("[data-field='icp_subject.base_info.province'] .field-error").await;
    assert!(prov.starts_with("请选择"), "{prov}");
    // 主体证件类型 lists only the types of the chosen 主体性质.
    let offered = |nature: u32| {
        let dict = beian_core::dict::Dictionaries::builtin();
        dict.certificate_types().iter().filter(|c| c.subject_type == nature).count() as u64
    };
    let shown = "return Array.from(document.querySelectorAll(\"select[name='icp_subject.organize_info.certificate_type'] option\")).filter(o => o.value && !o.hidden && !o.disabled).length;";
    let all = b.js("return document.querySelectorAll(\"select[name='icp_subject.organize_info.certificate_type'] option[value]:not([value=''])\").length;").await;
    b.select("select[name='icp_subject.base_info.type']", "4").await;
    assert_eq!(b.js(shown).await.as_u64(), Some(offered(4)), "企业: its types only (of {all})");
    assert!(offered(4) < all.as_u64().unwrap_or(0));

    // 主体信息, with a mistake: the address repeats the province.
    b.select("select[name='icp_subject.base_info.type']", "5").await;
    assert_eq!(b.js(shown).await.as_u64(), Some(offered(5)), "个人: its types only");
    b.fill("input[name='icp_subject.base_info.name']", "张三").await;
    b.select("select[data-region=province]", "440000").await;
    b.wait_for("select[data-region=city] option[value='440300']").await;
    b.select("select[data-region=city]", "440300").await;
    b.wait_for("select[data-region=district] option[value='440305']").await;
    b.select("select[data-region=district]", "440305").await;
    b.fill("input[name='icp_subject.base_info.address']", "广东省深圳市科技园路1号").await;
    b.select("select[name='icp_subject.organize_info.certificate_type']", "2").await;
    b.fill("input[name='icp_subject.organize_info.certificate_number']", &admin_id()).await;
    b.fill("input[name='icp_subject.organize_info.certificate_address']", "广东省深圳市南山区科技园路1号")
        .await;
    b.screenshot("subject-filled").await;
    b.submit("#save-next").await;
    assert_eq!(
        b.js(shown).await.as_u64(),
        Some(offered(5)),
        "after saving, the page itself lists only the chosen nature's types"
    );
    let err = b.text("[data-field='icp_subject.base_info.address'] .field-error").await;
    assert!(err.contains("不要重复填写"), "the rule shows at its field: {err}");
    b.screenshot("subject-mistake-inline").await;
    b.fill("input[name='icp_subject.base_info.address']", "科技园路1号A座101室").await;
    b.submit("#save-next").await;
    // The next step opens clean, saying the last one was saved.
    b.assert_text("「主体信息」已保存").await;
    assert!(b.find_all(".field-error, .invalid").await.is_empty(), "the next step opens without red fields");

    // 小程序信息.
    b.click("input[name=sct][value='1']").await;
    b.click("input[name=nrlx][value='24']").await;
    b.fill(
        "textarea[name='icp_applets.base_info.comment']",
        "本小程序提供读书笔记记录、书单整理与阅读进度管理服务，不涉及交易。",
    )
    .await;
    b.screenshot("applet").await;
    b.submit("#save-next").await;

    // 负责人: the same person fills once.
    for (leaf, v) in [
        ("name", "张三"),
        ("mobile", "13800138000"),
        ("email", "zhangsan@example.com"),
        ("emergency_contact", "13900139000"),
        ("certificate_number", admin_id().as_str()),
        ("certificate_validity_date_start", "20200101"),
        ("certificate_validity_date_end", "长期"),
    ] {
        b.fill(&format!("input[name='icp_subject.principal_info.{leaf}']"), v).await;
    }
    b.select("select[name='icp_subject.principal_info.certificate_type']", "2").await;
    let hidden = "return document.getElementById('applet-principal').hidden;";
    assert_eq!(b.js(hidden).await, json!(false));
    b.click("input[name=same]").await;
    assert_eq!(b.js(hidden).await, json!(true), "the same person: the second block is not asked for");
    b.screenshot("principals").await;
    b.submit("#step-form button[value=stay]").await;
    assert_eq!(b.js("return document.getElementById('same').checked;").await, json!(true), "stays checked");
    assert_eq!(b.js(hidden).await, json!(true), "and the block stays hidden");
    b.submit("#save-next").await;

    // 证件材料: a file that is not an image is refused with the reason, then real uploads.
    let front = "icp_subject.principal_info.certificate_photo_front";
    b.upload(&upload_input(front), &not_image).await;
    b.submit(&upload_button(front)).await;
    let refusal = b.text(&format!("[data-field='{front}'] .field-error")).await;
    assert!(refusal.contains("文件格式不支持") && refusal.contains("JPG 或 PNG"), "{refusal}");
    assert!(!b.body_text().await.contains("MP4"), "a photo is not told about video");
    let back_hint =
        b.text("[data-field='icp_subject.principal_info.certificate_photo_back'] .field-error").await;
    assert!(back_hint.starts_with("请上传"), "the other fields keep their hints: {back_hint}");
    b.screenshot("upload-refused").await;
    for f in [front, "icp_subject.principal_info.certificate_photo_back"] {
        b.upload(&upload_input(f), &jpeg).await;
        b.submit(&upload_button(f)).await;
    }
    assert!(b.exists("img.preview").await, "uploads are previewed");
    b.screenshot("materials").await;
    b.submit("#next").await;

    // 人脸核身: the admin completes it on the page the notice links to.
    b.submit("#start-face").await;
    let face = b.attr("#face-link", "href").await.expect("face link");
    let step = b.text("#step-form").await;
    assert!(step.contains("24小时内有效") && !step.contains("3天"), "one validity: {step}");
    b.screenshot("face-pending").await;
    b.goto(&server.url(&face)).await;
    assert_eq!(b.title().await, "备案人脸核身 - 小程序备案");
    b.screenshot("face-page").await;
    b.fill("input[name=name]", "张三").await;
    b.fill("input[name=id_number]", &admin_id()).await;
    b.submit("button[type=submit]").await;
    b.assert_text("核身成功").await;
    assert!(!b.has_text("服务商会收到").await, "a console user is not told about providers");
    b.screenshot("face-done").await;
    // The way back to the wizard.
    b.submit("#back-to-filing").await;
    b.assert_text("人脸核身已完成").await;
    b.submit("#next").await;

    // 承诺书: generate it, "stamp" it (render to an image), upload it.
    let cookie = b.client().get_named_cookie("beian_session").await.expect("session cookie");
    let pdf = reqwest::Client::new()
        .get(server.url(&format!("/console/apps/{APPID}/letter.pdf")))
        .header("cookie", format!("beian_session={}", cookie.value()))
        .send()
        .await
        .expect("letter")
        .bytes()
        .await
        .expect("pdf");
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    let pdf_path = work.path().join("letter.pdf");
    std::fs::write(&pdf_path, &pdf).expect("write pdf");
    let status = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "40", "-singlefile"])
        .arg(&pdf_path)
        .arg(work.path().join("letter"))
        .status()
        .expect("pdftoppm (scripts/ensure-tools installs poppler-utils)");
    assert!(status.success());
    b.upload(&upload_input("icp_materials.commitment_letter.0"), work.path().join("letter.png")).await;
    b.submit(&upload_button("icp_materials.commitment_letter.0")).await;
    b.screenshot("letter-uploaded").await;
    b.submit("#next").await;

    // 确认提交.
    b.assert_text("所有信息已通过规则校验").await;
    let rows = b.find_all("#summary tr").await.len();
    assert!(rows >= 20, "确认提交 shows every field: {rows}");
    assert!(b.find_all("#summary img.preview").await.len() >= 3, "with thumbnails");
    assert!(!b.body_text().await.contains("icp_"), "no field paths");
    assert!(b.text("#summary").await.contains("核身通过"), "the face verification's outcome");
    assert_eq!(b.attr("#agree", "required").await.as_deref(), Some("true"), "the agreement must be ticked");
    b.screenshot("review").await;
    b.click("#agree").await;
    b.submit("#submit-filing").await;
    b.assert_text("提交成功").await;
    b.assert_text("平台审核中").await;
    b.screenshot("submitted").await;
    b.assert_same_origin().await;

    // A reviewer rejects one field through the API.
    let reviewer = server
        .svc
        .review()
        .create_staff(&Actor::new("test", "setup"), "审核员", Role::Reviewer)
        .await
        .expect("staff")
        .1;
    staff_call(&server, &reviewer, &format!("/api/review/orders/{APPID}/reject"), json!({"reasons": [{"key_name": "小程序备注", "error": "备注未说明具体服务", "suggest": "请写明提供哪些服务，20-200字"}]})).await;
    b.goto(&server.url(&format!("/console/apps/{APPID}"))).await;
    b.assert_text("备注未说明具体服务").await;
    let timeline = b.text("#timeline").await;
    assert!(!timeline.contains("预计"), "no expected date after a rejection: {timeline}");
    assert!(timeline.contains("未通过（2026-03-02"), "the rejection with its date: {timeline}");
    b.screenshot("rejected").await;

    // A ticket from the rejection carries the appid and the notice.
    b.submit("#open-ticket").await;
    let option = b.text("select[name=appid] option:checked").await;
    assert!(option.contains("读书笔记") && option.contains(APPID), "the mini program by name: {option}");
    b.fill("input[name=title]", "驳回原因咨询").await;
    b.fill("textarea[name=body]", "备注要写到多详细？").await;
    b.submit("#submit-ticket").await;
    let context = b.text("#ticket-context").await;
    assert!(context.contains(APPID) && context.contains("备注未说明具体服务"), "{context}");
    b.screenshot("ticket").await;

    // Re-submit: everything pre-filled, only the rejected field highlighted.
    b.goto(&server.url(&format!("/console/apps/{APPID}"))).await;
    b.submit("#resubmit").await;
    // It opens the step with the rejected field, marked in the banner's orange.
    assert_eq!(b.text(".card h2").await, "小程序信息", "lands on the rejected field's step");
    assert_eq!(b.text(".steps li.rejected-step").await, "小程序信息");
    let colours = b
        .js("const c = e => getComputedStyle(document.querySelector(e)); return [c('.steps li.rejected-step a').borderTopColor, c('.rejected').outlineColor];")
        .await;
    assert_eq!(colours[0], colours[1], "tab and field in the same colour: {colours}");
    let highlighted = b.find_all(".rejected").await;
    assert_eq!(highlighted.len(), 1, "only the rejected field is highlighted");
    assert_eq!(b.attr(".rejected", "data-field").await.as_deref(), Some("icp_applets.base_info.comment"));
    b.screenshot("resubmit-highlight").await;
    b.fill(
        "textarea[name='icp_applets.base_info.comment']",
        "本小程序提供读书笔记记录、书单整理、阅读打卡与阅读进度管理服务，不涉及交易与社区发帖。",
    )
    .await;
    b.submit("#step-form button[value=stay]").await;
    assert!(
        b.find_all(".rejected, .rejected-note, .steps li.rejected-step").await.is_empty(),
        "a replaced field is no longer marked"
    );
    b.goto(&server.url(&format!("/console/apps/{APPID}/filing?step=review"))).await;
    b.click("#agree").await;
    b.submit("#submit-filing").await;
    b.assert_text("平台审核中").await;

    // Approved; the principal verifies the SMS; the authority decides; filed.
    staff_call(&server, &reviewer, &format!("/api/review/orders/{APPID}/approve"), json!({})).await;
    let mut code = String::new();
    for _ in 0..200 {
        let out = server.svc.job_queue().sms_outbox(Some("13800138000"), 20).await.expect("outbox");
        if let Some(c) = out
            .iter()
            .find_map(|m| m.text.split("验证码").nth(1).map(|t| t.chars().take(6).collect::<String>()))
        {
            if c.chars().all(|x| x.is_ascii_digit()) && c.len() == 6 {
                code = c;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    b.goto(&server.url(&format!("/console/apps/{APPID}"))).await;
    b.assert_text("请负责人完成短信核验").await;
    b.screenshot("sms-instructions").await;
    b.goto(&server.url("/miit/verify")).await;
    b.fill("input[name=phone]", "13800138000").await;
    b.fill("input[name=id_last6]", &admin_id()[12..]).await;
    b.fill("input[name=code]", &code).await;
    b.submit("button[type=submit]").await;
    b.assert_text("核验成功").await;
    server.clock.advance(chrono::Duration::days(10));
    let mut filed = false;
    for _ in 0..300 {
        if server.svc.filings().entrance_info(APPID).await.map(|i| i.status == 6).unwrap_or(false) {
            filed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(filed, "the simulated authority approved");
    // Ten days passed: the 12-hour session expired, so sign in again.
    b.goto(&server.url(&format!("/console/apps/{APPID}"))).await;
    assert!(b.current_path().await.starts_with("/console/login"), "expired sessions go to sign-in");
    b.fill("input[name=username]", "zhangsan").await;
    b.fill("input[name=password]", "zhangsan-pass").await;
    b.submit("#login").await;
    let number = b.text("#service-number").await;
    assert!(number.ends_with("号-1X"), "{number}");
    b.screenshot("filed").await;
    b.assert_same_origin().await;

    // A member without permission is refused and told who can act.
    b.submit("header form button").await;
    login(&b, &server, "lisi", "lisi-pass-1").await;
    b.goto(&server.url(&format!("/console/apps/{APPID}"))).await;
    b.assert_text("暂无查看权限，请使用管理员帐号").await;
    b.screenshot("member-refused").await;
    server.stop().await;
}
