//! The workflow over HTTP with a moved clock, on SQLite and PostgreSQL: reviewers through
//! their API, principals on the SMS verification page, the authority simulator and the job
//! worker running as in production.

use crate::support::*;
use beian_core::platform::Role;
use beian_service::Actor;
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

both!(
    sms_window_is_24_hours,
    wrong_codes_and_resubmission,
    authority_decides_on_the_working_day_after_a_holiday,
    reviewers_conflict_and_roles,
    clearance_sweep_delists_exactly_the_unfiled_listed,
    abandoned_job_is_retried_and_delivered_once,
    notifications_reach_real_receivers_once,
    face_task_is_delivered_and_expires,
    deadline_reminders_go_to_listed_unfiled,
);

pub(crate) async fn token(app: &TestApp, role: Role) -> String {
    app.svc.review().create_staff(&Actor::new("test", "setup"), "测试人员", role).await.expect("staff").1
}

async fn status(app: &TestApp, appid: &str) -> (i64, i64) {
    let i = app.svc.filings().entrance_info(appid).await.expect("info");
    (i.status, i.sms_verify_status)
}

/// Apply and have a reviewer approve it; wait until the code is texted.
async fn to_sms(app: &TestApp, reviewer: &str, appid: &str, n: u32) -> String {
    register(app, appid, n).await;
    apply_personal(app, appid, n).await;
    let (code, body) =
        staff_api(app, "POST", &format!("/api/review/orders/{appid}/approve"), reviewer, json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(status(app, appid).await, (4, 1));
    let phone = admin_mobile(n);
    eventually("the verification SMS", || async { latest_code(app, &phone).await.is_some() }).await;
    latest_code(app, &phone).await.expect("code")
}

async fn sms_window_is_24_hours(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let reviewer = token(&app, Role::Reviewer).await;

    // Verified at 23 h 59 m: passes.
    let code = to_sms(&app, &reviewer, "wxwf0001", 11).await;
    app.clock.advance(Duration::hours(23) + Duration::minutes(59));
    let (st, page) = verify_sms(&app, &admin_mobile(11), &admin_id(11)[12..], &code).await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("核验成功"), "{page}");
    assert_eq!(status(&app, "wxwf0001").await, (4, 2));

    // At 24 h 00 m: timed out, the order is back with the platform, the code is dead.
    let code = to_sms(&app, &reviewer, "wxwf0002", 12).await;
    app.clock.advance(Duration::hours(24));
    eventually("the SMS timeout", || async { status(&app, "wxwf0002").await == (4, 3) }).await;
    let (st, page) = verify_sms(&app, &admin_mobile(12), &admin_id(12)[12..], &code).await;
    assert_eq!(st, 400, "{page}");
    let queue = app.svc.review().review_queue(50).await.expect("queue");
    assert!(
        queue.iter().any(|q| q.appid == "wxwf0002" && q.sms_verify_status == 3),
        "timed-out orders wait for the platform"
    );
    let (messages, unread) = app.svc.mini_programs().messages("wxwf0002", 20).await.expect("messages");
    assert!(unread >= 3 && messages.iter().any(|m| m.title == "短信核验超时"), "{messages:?}");
    app.stop().await;
}

async fn wrong_codes_and_resubmission(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let reviewer = token(&app, Role::Reviewer).await;
    let code = to_sms(&app, &reviewer, "wxwf0003", 13).await;
    let (phone, last6) = (admin_mobile(13), admin_id(13)[12..].to_string());
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for i in 1..=5 {
        let (st, page) = verify_sms(&app, &phone, &last6, wrong).await;
        assert_eq!(st, 400, "try {i}");
        if i < 5 {
            assert!(page.contains(&format!("还可尝试{}次", 5 - i)), "{page}");
        }
    }
    // The 6th try is refused even with the right code.
    let (st, _) = verify_sms(&app, &phone, &last6, &code).await;
    assert_eq!(st, 400);
    assert_eq!(status(&app, "wxwf0003").await, (4, 1));
    // A wrong ID suffix never matches.
    let (st, page) = verify_sms(&app, &phone, "000000", &code).await;
    assert_eq!(st, 400, "{page}");

    // Timeout, then the reviewer resubmits: a new code goes out, the old one is dead.
    app.clock.advance(Duration::hours(24));
    eventually("the SMS timeout", || async { status(&app, "wxwf0003").await == (4, 3) }).await;
    let (st, body) =
        staff_api(&app, "POST", "/api/review/orders/wxwf0003/approve", &reviewer, json!({})).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(status(&app, "wxwf0003").await, (4, 1));
    eventually("a new code", || async {
        latest_code(&app, &phone).await.is_some_and(|c| c != code)
            || app
                .svc
                .job_queue()
                .sms_outbox(Some(&phone), 20)
                .await
                .map(|o| o.iter().filter(|m| m.text.contains("验证码")).count() >= 2)
                .unwrap_or(false)
    })
    .await;
    let new_code = latest_code(&app, &phone).await.expect("new code");
    let (st, page) = verify_sms(&app, &phone, &last6, &new_code).await;
    assert_eq!(st, 200, "{page}");
    assert_eq!(status(&app, "wxwf0003").await, (4, 2));
    app.stop().await;
}

async fn authority_decides_on_the_working_day_after_a_holiday(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let operator = token(&app, Role::Operator).await;
    let reviewer = token(&app, Role::Reviewer).await;
    let (st, body) = staff_api(
        &app,
        "PUT",
        "/api/operator/simulator",
        &operator,
        json!({"review_working_days": 2, "default_outcome": "approve"}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    // Wednesday 2026-09-30 10:00 Beijing, the eve of National Day.
    app.clock.set(Utc.with_ymd_and_hms(2026, 9, 30, 2, 0, 0).single().expect("time"));
    let code = to_sms(&app, &reviewer, "wxwf0004", 14).await;
    let (st, _) = verify_sms(&app, &admin_mobile(14), &admin_id(14)[12..], &code).await;
    assert_eq!(st, 200);
    let cal = beian_core::calendar::WorkCalendar::china();
    let due = cal.add_working_days(chrono::NaiveDate::from_ymd_opt(2026, 9, 30).expect("date"), 2);
    assert!(
        due > chrono::NaiveDate::from_ymd_opt(2026, 10, 7).expect("date"),
        "the holiday is skipped: {due}"
    );
    // 09:59 Beijing on the due day: still under review.
    let due_10am = Utc.from_utc_datetime(&due.and_hms_opt(2, 0, 0).expect("time"));
    app.clock.set(due_10am - Duration::minutes(1));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(status(&app, "wxwf0004").await, (4, 2));
    app.clock.set(due_10am + Duration::minutes(1));
    eventually("the authority's approval", || async { status(&app, "wxwf0004").await.0 == 6 }).await;

    // A forced rejection texts the MIIT message.
    let mut settings = app.sim().settings().await.expect("settings");
    settings.forced.insert("wxwf0005".into(), "reject".into());
    app.sim().set_settings(&Actor::new("test", "op").0, &settings).await.expect("settings");
    let code = to_sms(&app, &reviewer, "wxwf0005", 15).await;
    verify_sms(&app, &admin_mobile(15), &admin_id(15)[12..], &code).await;
    app.clock.advance(Duration::days(10));
    eventually("the authority's rejection", || async { status(&app, "wxwf0005").await.0 == 5 }).await;
    eventually("the MIIT rejection SMS", || async {
        app.svc
            .job_queue()
            .sms_outbox(Some(&admin_mobile(15)), 20)
            .await
            .map(|o| {
                o.iter().any(|m| {
                    m.text.contains("【工业和信息化部】尊敬的用户管理员15您的新增备案不完全符合备案要求")
                })
            })
            .unwrap_or(false)
    })
    .await;
    app.stop().await;
}

async fn reviewers_conflict_and_roles(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let a = token(&app, Role::Reviewer).await;
    let b_ = token(&app, Role::Reviewer).await;
    let operator = token(&app, Role::Operator).await;
    register(&app, "wxwf0006", 16).await;
    apply_personal(&app, "wxwf0006", 16).await;

    let (st, q) = staff_api(&app, "GET", "/api/review/queue", &a, json!(null)).await;
    assert_eq!(st, 200);
    let item = q["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["appid"] == "wxwf0006")
        .cloned()
        .expect("queued");
    assert_eq!(item["overdue"], false);
    let version = item["version"].as_i64().expect("version");
    // Roles.
    assert_eq!(
        staff_api(&app, "GET", "/api/operator/jobs", &a, json!(null)).await.0,
        403,
        "a reviewer cannot reach operator pages"
    );
    assert_eq!(staff_api(&app, "GET", "/api/review/queue", "nope", json!(null)).await.0, 401);
    assert_eq!(staff_api(&app, "GET", "/api/operator/jobs", &operator, json!(null)).await.0, 200);

    // A claims; B is refused with a clear conflict.
    assert_eq!(staff_api(&app, "POST", "/api/review/orders/wxwf0006/claim", &a, json!({})).await.0, 200);
    let (st, body) = staff_api(&app, "POST", "/api/review/orders/wxwf0006/approve", &b_, json!({})).await;
    assert_eq!(st, 409, "{body}");
    assert!(body["errmsg"].as_str().is_some_and(|m| m.contains("认领")), "{body}");
    // A stale version is a conflict too.
    let (st, _) =
        staff_api(&app, "POST", "/api/review/orders/wxwf0006/approve", &a, json!({"version": version})).await;
    assert_eq!(st, 409, "the claim moved the version");
    // Concurrent decisions by the claimer: exactly one wins.
    let reasons = app.svc.review().reasons().await.expect("reasons");
    let r1 = staff_api(
        &app,
        "POST",
        "/api/review/orders/wxwf0006/reject",
        &a,
        json!({"reasons": [{"reason_id": reasons[0].id}]}),
    );
    let r2 = staff_api(&app, "POST", "/api/review/orders/wxwf0006/approve", &a, json!({}));
    let (x, y) = tokio::join!(r1, r2);
    let mut codes = [x.0, y.0];
    codes.sort();
    assert_eq!(codes, [200, 409], "{x:?} {y:?}");

    // SLA: two working days, then overdue.
    register(&app, "wxwf0007", 17).await;
    apply_personal(&app, "wxwf0007", 17).await;
    app.clock.advance(Duration::days(5));
    let q = app.svc.review().review_queue(50).await.expect("queue");
    assert!(q.first().is_some_and(|i| i.appid == "wxwf0007" && i.overdue), "overdue first: {q:?}");
    app.stop().await;
}

async fn clearance_sweep_delists_exactly_the_unfiled_listed(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let operator = token(&app, Role::Operator).await;
    for (i, appid) in ["wxsw0001", "wxsw0002", "wxsw0003", "wxsw0004", "wxsw0005"].iter().enumerate() {
        register(&app, appid, 20 + i as u32).await;
    }
    // wxsw0004 is filed; wxsw0005 is not listed.
    apply_personal(&app, "wxsw0004", 23).await;
    let auth = Actor::authority();
    app.svc.filings().platform_approve(&Actor::new("test", "r"), "wxsw0004").await.expect("approve");
    app.svc.filings().sms_verified(&auth, "wxsw0004").await.expect("sms");
    beian_testkit::service::authority_approve(&app.svc, "wxsw0004").await.expect("filed");
    app.svc
        .mini_programs()
        .update_mini_program(&Actor::new("test", "op"), "wxsw0005", |m| m.listed = false)
        .await
        .expect("unlist");
    // The listing gate: an unfiled mini program cannot be listed again.
    let (st, body) =
        staff_api(&app, "POST", "/api/operator/mini-programs/wxsw0005/list", &operator, json!({})).await;
    assert_eq!((st, body["errcode"].as_i64()), (400, Some(beian_core::errcode::LISTING_GATE)), "{body}");

    // Before the clearance date the sweep is refused; the operator moves the date.
    let (st, _) = staff_api(&app, "POST", "/api/operator/sweep", &operator, json!({})).await;
    assert_eq!(st, 400);
    let (_, p) = staff_api(&app, "GET", "/api/operator/policy", &operator, json!(null)).await;
    let mut policy = p["policy"].clone();
    policy["clearance_date"] = json!("2026-03-01");
    policy["deadline_date"] = json!("2026-02-28");
    assert_eq!(staff_api(&app, "PUT", "/api/operator/policy", &operator, policy).await.0, 200);
    let (st, body) = staff_api(&app, "POST", "/api/operator/sweep", &operator, json!({})).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        (body["sweep"]["checked"].as_i64(), body["sweep"]["delisted"].as_i64()),
        (Some(5), Some(3)),
        "{body}"
    );
    for (appid, cleared) in
        [("wxsw0001", true), ("wxsw0002", true), ("wxsw0003", true), ("wxsw0004", false), ("wxsw0005", false)]
    {
        let mp = app.svc.mini_programs().mini_program(appid).await.expect("mp");
        assert_eq!(mp.cleared, cleared, "{appid}");
        assert_eq!(mp.listed, !cleared && appid == "wxsw0004", "{appid}");
        // Each delisted mini program, and only those, has its 站内信 with the deadline.
        let (messages, _) = app.svc.mini_programs().messages(appid, 50).await.expect("messages");
        let notices: Vec<_> = messages.iter().filter(|m| m.title == "小程序已被清退").collect();
        assert_eq!(notices.len(), usize::from(cleared), "{appid}: {messages:?}");
        if let Some(m) = notices.first() {
            assert!(m.body.contains("2026年02月28日前完成备案"), "{}", m.body);
        }
    }
    // Running it again changes nothing: the sweep is finished and resumable by id.
    let (_, again) = staff_api(&app, "POST", "/api/operator/sweep", &operator, json!({})).await;
    assert_eq!(again["sweep"]["delisted"].as_i64(), Some(3));
    app.stop().await;
}

async fn abandoned_job_is_retried_and_delivered_once(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    // A worker that "dies" holding a job: lease the SMS job of a notification, never finish.
    // The live worker polls every 20 ms and may take the SMS first; then try again with
    // another mini program (a few attempts at most).
    let mut attempt = 0u32;
    let (phone, leased) = 'attempts: loop {
        attempt += 1;
        assert!(attempt <= 5, "the live worker took the SMS job first {attempt} times in a row");
        let n = 8 + 10 * attempt;
        let appid = format!("wxwf{:04}", 8 + 100 * attempt);
        register(&app, &appid, n).await;
        let phone = admin_mobile(n);
        app.svc
            .mini_programs()
            .update_mini_program(&Actor::new("test", "op"), &appid, |m| m.listed = true)
            .await
            .expect("update");
        apply_personal(&app, &appid, n).await;
        let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while std::time::Instant::now() < until {
            if let Some(j) = app.svc.job_queue().claim_job("crashed-worker").await.expect("claim") {
                let ours = matches!(&j.spec, Some(beian_service::jobs::JobSpec::Sms { phone: p, text, .. })
                    if *p == phone && text.contains("备案申请已提交"));
                if ours {
                    break 'attempts (phone, j);
                }
                // Give other jobs back to the real worker by failing them once.
                app.svc.job_queue().fail_job(&j.job, "crashed-worker", "test: not mine").await.expect("fail");
                continue;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    assert_eq!(leased.job.state, beian_core::platform::JobState::Running);
    // The lease (60 s) expires; the live worker takes the job over and delivers it once.
    app.clock.advance(Duration::seconds(61));
    eventually("the abandoned job to be retried", || async {
        app.svc
            .job_queue()
            .job(leased.job.id)
            .await
            .ok()
            .flatten()
            .is_some_and(|j| j.state == beian_core::platform::JobState::Done)
    })
    .await;
    let job = app.svc.job_queue().job(leased.job.id).await.expect("job").expect("exists");
    assert_eq!(job.attempts, 2, "leased twice: the crashed worker and the live one");
    assert!(
        !app.svc.job_queue().complete_job(leased.job.id, "crashed-worker").await.expect("complete"),
        "the dead worker's lease is gone"
    );
    let texts = app.svc.job_queue().sms_outbox(Some(&phone), 50).await.expect("outbox");
    let submitted: Vec<_> = texts.iter().filter(|m| m.text.contains("备案申请已提交")).collect();
    assert_eq!(submitted.len(), 1, "delivered once: {texts:?}");
    app.stop().await;
}

async fn notifications_reach_real_receivers_once(b: Backend) {
    let (port, mail) = smtp_server().await;
    let (hook_url, hooks) = hook_server().await;
    let channels = smtp_channels(port);
    let app = TestApp::start_with(b, 1000, channels).await;
    register(&app, "wxnt0001", 31).await;
    app.svc
        .mini_programs()
        .set_webhook(
            &Actor::new("dev", "d1"),
            "wxnt0001",
            &hook_url,
            beian_service::webhooks::SecretChoice::Keep,
            beian_core::platform::WebhookTarget { enabled: true, events: Default::default() },
        )
        .await
        .expect("webhook");
    apply_personal(&app, "wxnt0001", 31).await;
    let reviewer = token(&app, Role::Reviewer).await;
    let reasons = app.svc.review().reasons().await.expect("reasons");
    let (st, _) = staff_api(
        &app,
        "POST",
        "/api/review/orders/wxnt0001/reject",
        &reviewer,
        json!({"reasons": [{"reason_id": reasons[0].id}]}),
    )
    .await;
    assert_eq!(st, 200);
    eventually("e-mails and template messages", || async {
        mail.lock().expect("lock").len() >= 2 && hooks.lock().expect("lock").len() >= 2
    })
    .await;
    // Let the worker settle, then count: each notice once per channel.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mail = mail.lock().expect("lock").clone();
    assert_eq!(mail.len(), 2, "apply + rejection: {mail:?}");
    assert!(mail.iter().all(|(to, _)| to == "admin31@example.com"));
    assert!(mail[1].1.to_ascii_lowercase().contains("subject: =?utf-8?b?"), "{}", mail[1].1);
    let hooks = hooks.lock().expect("lock").clone();
    let templates: Vec<&str> = hooks.iter().filter_map(|h| h["template"].as_str()).collect();
    assert_eq!(templates, ["apply_submitted", "platform_rejected"], "{hooks:?}");
    assert!(hooks[1]["body"].as_str().is_some_and(|b| b.contains(&reasons[0].key_name)));
    let sms = app.svc.job_queue().sms_outbox(Some(&admin_mobile(31)), 20).await.expect("outbox");
    assert_eq!(sms.iter().filter(|m| m.text.contains("平台审核驳回")).count(), 1, "{sms:?}");
    let (messages, unread) = app.svc.mini_programs().messages("wxnt0001", 20).await.expect("messages");
    assert!(messages.iter().any(|m| m.title == "平台审核驳回" && m.body.contains(&reasons[0].suggest)));
    assert!(unread >= 2);
    app.svc.mini_programs().mark_message_read("wxnt0001", messages[0].id).await.expect("read");
    assert_eq!(app.svc.mini_programs().messages("wxnt0001", 20).await.expect("messages").1, unread - 1);
    app.stop().await;
}

async fn face_task_is_delivered_and_expires(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    register(&app, "wxft0001", 32).await;
    let task =
        app.svc.materials().create_face_task(&Actor::new("test", "p"), "wxft0001").await.expect("task");
    // The admin gets the link by SMS and 站内信.
    let link = format!("{}/face/{}", app.base, task.task_id);
    eventually("the face-verification SMS", || async {
        app.svc
            .job_queue()
            .sms_outbox(Some(&admin_mobile(32)), 10)
            .await
            .map(|o| o.iter().any(|m| m.text.contains(&link)))
            .unwrap_or(false)
    })
    .await;
    assert!(app
        .svc
        .mini_programs()
        .messages("wxft0001", 10)
        .await
        .expect("messages")
        .0
        .iter()
        .any(|m| m.body.contains(&link)));
    let page = reqwest::get(&link).await.expect("page").text().await.expect("html");
    assert!(page.contains("测试小程序32"), "{page}");
    // After 24 h the notice is dead; a new task is needed.
    app.clock.advance(Duration::hours(24));
    let r = reqwest::Client::new()
        .post(&link)
        .form(&[("name", "管理员32"), ("id_number", admin_id(32).as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap_or_default().contains("24小时"));
    // A task done in time is usable for 3 days, then gone.
    let task =
        app.svc.materials().create_face_task(&Actor::new("test", "p"), "wxft0001").await.expect("task");
    let r = reqwest::Client::new()
        .post(format!("{}/face/{}", app.base, task.task_id))
        .form(&[("name", "管理员32"), ("id_number", admin_id(32).as_str())])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert!(app.svc.materials().face_task("wxft0001", &task.task_id).await.expect("task").is_finish);
    app.clock.advance(Duration::days(3));
    let r = reqwest::get(format!("{}/face/{}", app.base, task.task_id)).await.expect("page");
    assert_eq!(r.status(), 410);
    app.stop().await;
}

async fn deadline_reminders_go_to_listed_unfiled(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    register(&app, "wxdl0001", 41).await;
    register(&app, "wxdl0002", 42).await;
    app.svc
        .mini_programs()
        .update_mini_program(&Actor::new("test", "op"), "wxdl0002", |m| m.listed = false)
        .await
        .expect("unlist");
    let today = beian_core::time::beijing_date(app.svc.now());
    let mut policy = (*app.svc.policy()).clone();
    policy.deadline_date = today + Duration::days(30);
    app.svc.set_policy(&Actor::new("test", "op"), policy).await.expect("policy");
    let first = app.svc.job_queue().deadline_reminders(today).await.expect("reminders");
    assert!(first <= 1, "at most the one listed, unfiled mini program (the worker may have run first)");
    assert_eq!(
        app.svc
            .job_queue()
            .deadline_reminders(today + Duration::days(1))
            .await
            .expect("no reminder on day 29"),
        0
    );
    let (m, _) = app.svc.mini_programs().messages("wxdl0001", 10).await.expect("messages");
    assert!(m.iter().any(|m| m.title.contains("还剩30天")), "{m:?}");
    assert!(
        app.svc.mini_programs().messages("wxdl0002", 10).await.expect("messages").0.is_empty(),
        "unlisted mini programs are not reminded"
    );
    // Idempotent: the same day again does not notify twice.
    app.svc.job_queue().deadline_reminders(today).await.expect("again");
    let (m, _) = app.svc.mini_programs().messages("wxdl0001", 10).await.expect("messages");
    assert_eq!(
        m.iter().filter(|m| m.title.contains("还剩30天")).count(),
        1,
        "reminded once however often it runs"
    );
    app.stop().await;
}
