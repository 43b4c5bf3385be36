//! The working-day calendar at run time, on SQLite and PostgreSQL, through the entries people
//! use: an operator uploads a year on the staff console, files in `<data_dir>/calendar` are
//! read on reload, due dates computed afterwards follow, and the staff dashboard and
//! `beian check` warn when the next 60 days reach a year without data. Today is 2026-12-02,
//! so that year is 2027.

use crate::support::*;
use beian_core::model::AuditEntity;
use beian_core::platform::Role;
use beian_core::time::end_of_beijing_day;
use beian_service::{Actor, Service};
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

both!(upload_on_the_staff_page_changes_due_dates_and_is_audited, files_in_the_data_dir_take_effect_on_reload);

const WARNING: &str = "2027年节假日数据未加载：截止日期按周一至周五计算";

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("date")
}

/// 2026-12-02, a Wednesday, 10:00 Beijing time.
fn today(app: &TestApp) {
    app.clock.set(Utc.with_ymd_and_hms(2026, 12, 2, 2, 0, 0).single().expect("time"));
}

/// The shipped 2026 file with `extra` days off added.
fn year_2026_with(extra: &[&str]) -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../beian-core/data/calendar/2026.json"
    ))
    .expect("shipped 2026");
    let mut doc: Value = serde_json::from_str(&text).expect("json");
    for date in extra {
        doc["days"]
            .as_array_mut()
            .expect("days")
            .push(json!({ "name": "测试放假", "date": date, "isOffDay": true }));
    }
    doc.to_string()
}

fn year_2027() -> String {
    json!({ "year": 2027, "days": [
        { "name": "元旦", "date": "2027-01-01", "isOffDay": true },
        { "name": "春节", "date": "2027-02-08", "isOffDay": true },
        { "name": "春节调休", "date": "2027-02-06", "isOffDay": false }
    ]})
    .to_string()
}

async fn operator(app: &TestApp) -> String {
    let token = app
        .svc
        .review()
        .create_staff(&Actor::new("test", "setup"), "运营日历", Role::Operator)
        .await
        .expect("staff")
        .1;
    staff_cookie(app, &token).await
}

fn csrf(html: &str) -> String {
    html.split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string()
}

/// Upload through the staff page's form, as a browser sends it: a file, or pasted text.
async fn upload(app: &TestApp, cookie: &str, year: &str, file: Option<&str>, pasted: &str) -> (u16, String) {
    let (code, _, page) = staff_get(app, "/admin/ops/calendar", cookie).await;
    assert_eq!(code, 200, "{page}");
    let mut form = reqwest::multipart::Form::new()
        .text("_csrf", csrf(&page))
        .text("year", year.to_string())
        .text("json", pasted.to_string());
    if let Some(file) = file {
        let part = reqwest::multipart::Part::bytes(file.as_bytes().to_vec())
            .file_name(format!("{year}.json"))
            .mime_str("application/json")
            .expect("mime");
        form = form.part("file", part);
    }
    let r = reqwest::Client::new()
        .post(app.url("/admin/ops/calendar"))
        .header("cookie", cookie)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    (r.status().as_u16(), r.text().await.expect("body"))
}

async fn reload(app: &TestApp, cookie: &str) {
    let (_, _, page) = staff_get(app, "/admin/ops/calendar", cookie).await;
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = http
        .post(app.url("/admin/ops/calendar/reload"))
        .header("cookie", cookie)
        .form(&[("_csrf", csrf(&page))])
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status().as_u16(), 303, "back to the calendar page");
}

/// Apply for a new mini program now; the platform review's due date it got.
async fn review_due(app: &TestApp, appid: &str, n: u32) -> i64 {
    register(app, appid, n).await;
    apply_personal(app, appid, n).await;
    let view = app.svc.filings().order(appid).await.expect("order").expect("an order");
    view.order.review_due_at.expect("due date")
}

/// What `beian check` says about the calendar (its notices).
async fn check_notices(svc: &Service) -> Vec<String> {
    svc.operations().check_invariants().await.expect("check").notices
}

async fn upload_on_the_staff_page_changes_due_dates_and_is_audited(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    today(&app);
    let cookie = operator(&app).await;

    // 2027 has no data and starts within 60 days: the dashboard and `check` say so.
    let (code, _, page) = staff_get(&app, "/admin/dashboard", &cookie).await;
    assert_eq!(code, 200, "{page}");
    assert!(page.contains(WARNING), "{page}");
    assert!(check_notices(&app.svc).await.iter().any(|w| w.contains("no holiday data for 2027")));

    // The platform's 2 working days from Wednesday 2026-12-02: Friday 12-04.
    assert_eq!(review_due(&app, "wxcal0001", 61).await, end_of_beijing_day(d(2026, 12, 4)));

    // An operator replaces 2026 with a file that gives 12-03 and 12-04 off.
    let (code, page) =
        upload(&app, &cookie, "2026", Some(&year_2026_with(&["2026-12-03", "2026-12-04"])), "").await;
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("2026年的放假安排已保存为第1版"), "{page}");
    // Thursday and Friday off, the weekend: Monday 12-07 and Tuesday 12-08.
    assert_eq!(review_due(&app, "wxcal0002", 62).await, end_of_beijing_day(d(2026, 12, 8)));
    // The authority simulator counts with the same calendar, through the outbox.
    let outbox: &dyn beian_ports::authority::AuthorityOutbox = &*app.svc;
    assert_eq!(outbox.add_working_days(d(2026, 12, 2), 2), d(2026, 12, 8));
    let trail = app.svc.audit_trail(AuditEntity::Calendar, "2026").await.expect("audit");
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].action, "publish");
    assert_eq!(trail[0].detail["version"], 1);
    assert!(trail[0].actor.starts_with("operator:"), "{}", trail[0].actor);
    let (_, _, page) = staff_get(&app, "/admin/ops/calendar", &cookie).await;
    assert!(page.contains("上传第1版"), "{page}");

    // Another node reads the upload when it starts (and on every reload).
    let other =
        Service::start(app.store.clone(), app.svc.media().clone(), app.clock.clone()).await.expect("node");
    assert!(!other.calendar().is_working_day(d(2026, 12, 3)));
    assert!(other.calendar().is_working_day(d(2026, 12, 2)));

    // Refused with a clear message, nothing stored, the calendar unchanged.
    let monday_worked =
        json!({ "year": 2027, "days": [{ "name": "x", "date": "2027-03-01", "isOffDay": false }] });
    for (year, file, pasted, want) in [
        ("2027", Some("{ not json"), "", "不是 holiday-cn 格式的 JSON"),
        ("2027", Some(year_2026_with(&[]).as_str()), "", "文件中的年份是2026年，不是2027年"),
        ("2027", None, monday_worked.to_string().as_str(), "调休上班日 2027-03-01 不是周六或周日"),
        ("2027", None, r#"{"year": 2027, "days": []}"#, "2027年的文件中没有任何日期"),
        ("二〇二七", None, year_2027().as_str(), "请填写年份"),
        ("2027", None, "", "请选择文件或粘贴 JSON"),
    ] {
        let (code, page) = upload(&app, &cookie, year, file, pasted).await;
        assert_eq!(code, 400, "{want}: {page}");
        assert!(page.contains(want), "{want}: {page}");
    }
    assert!(app.svc.audit_trail(AuditEntity::Calendar, "2027").await.expect("audit").is_empty());
    assert!(!app.svc.calendar().covers(2027));
    assert!(app.svc.operations().calendar_status().years.iter().all(|y| y.year != 2027));

    // 2027 uploaded (pasted this time): covered, the warnings are gone.
    let (code, page) = upload(&app, &cookie, "2027", None, &year_2027()).await;
    assert_eq!(code, 200, "{page}");
    assert!(!app.svc.calendar().is_working_day(d(2027, 1, 1)));
    let (_, _, page) = staff_get(&app, "/admin/dashboard", &cookie).await;
    assert!(!page.contains("节假日数据未加载"), "{page}");
    assert!(!check_notices(&app.svc).await.iter().any(|w| w.contains("working-day calendar")));

    // A second version of 2026 without the extra days: the due dates follow again.
    let (code, page) = upload(&app, &cookie, "2026", Some(&year_2026_with(&[])), "").await;
    assert!(code == 200 && page.contains("第2版"), "{page}");
    assert_eq!(review_due(&app, "wxcal0003", 63).await, end_of_beijing_day(d(2026, 12, 4)));
    assert_eq!(app.svc.audit_trail(AuditEntity::Calendar, "2026").await.expect("audit").len(), 2);

    // Reviewers cannot upload.
    let reviewer = app
        .svc
        .review()
        .create_staff(&Actor::new("test", "setup"), "审核日历", Role::Reviewer)
        .await
        .expect("staff")
        .1;
    let reviewer = staff_cookie(&app, &reviewer).await;
    let (code, _, _) = staff_get(&app, "/admin/ops/calendar", &reviewer).await;
    assert_eq!(code, 403);
    app.stop().await;
}

async fn files_in_the_data_dir_take_effect_on_reload(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    today(&app);
    let cookie = operator(&app).await;
    assert_eq!(review_due(&app, "wxcal0011", 71).await, end_of_beijing_day(d(2026, 12, 4)));

    // The data directory's files replace the built-in 2026 and add 2027 at the next reload.
    let dir = app._dir.path().join("calendar");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("2026.json"), year_2026_with(&["2026-12-03"])).expect("write");
    std::fs::write(dir.join("2027.json"), year_2027()).expect("write");
    // Files that cannot be used are skipped and shown.
    std::fs::write(dir.join("2028.json"), year_2027()).expect("write");
    std::fs::write(dir.join("holidays.json"), year_2027()).expect("write");
    assert!(app.svc.calendar().is_working_day(d(2026, 12, 3)), "not before the reload");
    reload(&app, &cookie).await;

    // Thursday off: Friday 12-04 and Monday 12-07.
    assert_eq!(review_due(&app, "wxcal0012", 72).await, end_of_beijing_day(d(2026, 12, 7)));
    let (_, _, page) = staff_get(&app, "/admin/ops/calendar", &cookie).await;
    for want in ["数据目录文件", "2026.json", "文件中的年份是2027年，不是2028年", "文件名应为年份"]
    {
        assert!(page.contains(want), "{want}: {page}");
    }
    let (_, _, page) = staff_get(&app, "/admin/dashboard", &cookie).await;
    assert!(!page.contains("节假日数据未加载"), "2027 is covered: {page}");
    let warnings = check_notices(&app.svc).await;
    assert!(warnings.iter().any(|w| w.contains("2028.json")), "{warnings:?}");
    assert!(!warnings.iter().any(|w| w.contains("no holiday data")), "{warnings:?}");

    // An upload of the same year wins over the file.
    let (code, page) = upload(&app, &cookie, "2026", Some(&year_2026_with(&["2026-12-04"])), "").await;
    assert_eq!(code, 200, "{page}");
    reload(&app, &cookie).await;
    assert!(app.svc.calendar().is_working_day(d(2026, 12, 3)));
    assert!(!app.svc.calendar().is_working_day(d(2026, 12, 4)));

    // The file removed: 2027 is weekdays-only again, and the warning is back.
    std::fs::remove_file(dir.join("2027.json")).expect("rm");
    reload(&app, &cookie).await;
    let (_, _, page) = staff_get(&app, "/admin/dashboard", &cookie).await;
    assert!(page.contains(WARNING), "{page}");
    app.stop().await;
}
