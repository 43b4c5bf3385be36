//! The staff side and the binary as an attacker sees them: staff browser sessions (not the API
//! token, CSRF on every POST, sign-out that ends the session, expiry), `/metrics` and
//! `/demo/events` outside demo mode, and the demo's secrets in its output.

use crate::support::{register, staff_api, Backend, TestApp};
use beian_core::platform::Role;
use beian_service::staff_sessions::{STAFF_SESSION_IDLE_SECS, STAFF_SESSION_TTL_SECS};
use beian_service::Actor;
use chrono::Duration;

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// An answer: status, `Location`, `Set-Cookie`, body.
pub(crate) struct Answer {
    pub status: u16,
    pub location: String,
    pub set_cookie: String,
    pub body: String,
}

async fn answer(r: reqwest::Response) -> Answer {
    let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (status, location, set_cookie) = (r.status().as_u16(), header("location"), header("set-cookie"));
    Answer { status, location, set_cookie, body: r.text().await.expect("body") }
}

pub(crate) async fn get(app: &TestApp, path: &str, cookie: &str) -> Answer {
    answer(client().get(app.url(path)).header("cookie", cookie).send().await.expect("send")).await
}

pub(crate) async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> Answer {
    answer(client().post(app.url(path)).header("cookie", cookie).form(form).send().await.expect("send")).await
}

/// Sign in through the form: the `name=value` cookie pair and the whole `Set-Cookie`.
pub(crate) async fn sign_in(app: &TestApp, api_token: &str) -> (String, String) {
    let a = answer(
        client().post(app.url("/admin/login")).form(&[("token", api_token)]).send().await.expect("send"),
    )
    .await;
    assert_eq!((a.status, a.location.as_str()), (303, "/admin"), "{}", a.body);
    let pair = a.set_cookie.split(';').next().expect("pair").to_string();
    (pair, a.set_cookie)
}

/// The CSRF token in a staff page's forms.
pub(crate) fn csrf_of(page: &str) -> String {
    let start =
        page.find("name=\"_csrf\" value=\"").expect("a form with _csrf") + "name=\"_csrf\" value=\"".len();
    page[start..].split('"').next().expect("value").to_string()
}

pub(crate) async fn staff(app: &TestApp, name: &str, role: Role) -> String {
    app.svc.review().create_staff(&Actor::new("test", "setup"), name, role).await.expect("staff").1
}

async fn session_is_its_own_token_and_sign_out_ends_it(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let api_token = staff(&app, "审核甲", Role::Reviewer).await;
    let (cookie, set_cookie) = sign_in(&app, &api_token).await;
    let session = cookie.trim_start_matches("beian_staff=").to_string();
    assert!(cookie.starts_with("beian_staff=") && session.len() >= 32, "{set_cookie}");
    assert!(!set_cookie.contains(&api_token) && session != api_token, "the cookie is not the API token");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", &format!("Max-Age={STAFF_SESSION_TTL_SECS}")] {
        assert!(set_cookie.contains(attr), "{attr} in {set_cookie}");
    }
    // The session token is no API token, and the API token is no session.
    let (status, _) = staff_api(&app, "GET", "/api/review/queue", &session, serde_json::Value::Null).await;
    assert_eq!(status, 401, "a stolen cookie does not open the staff API");
    let (status, _) = staff_api(&app, "GET", "/api/review/queue", &api_token, serde_json::Value::Null).await;
    assert_eq!(status, 200, "the API token keeps working for the JSON API");
    let a = get(&app, "/admin", &format!("beian_staff={api_token}")).await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (303, "/admin/login"),
        "an API token in the cookie is refused"
    );

    let page = get(&app, "/admin", &cookie).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = csrf_of(&page.body);
    assert!(csrf.len() >= 32 && !session.contains(&csrf) && !api_token.contains(&csrf), "{csrf}");
    // Another session of the same staff member has another CSRF token.
    let (other, _) = sign_in(&app, &api_token).await;
    assert_ne!(csrf_of(&get(&app, "/admin", &other).await.body), csrf);

    // Sign-out without the CSRF token (a cross-site form) is refused and ends nothing.
    for form in [vec![], vec![("_csrf", "")], vec![("_csrf", "0123456789abcdef0123456789abcdef")]] {
        let a = post(&app, "/admin/logout", &cookie, &form).await;
        assert_eq!(a.status, 403, "{form:?}: {}", a.body);
        assert!(a.body.contains("CSRF 校验失败"), "{}", a.body);
        assert!(a.set_cookie.is_empty(), "the cookie is kept");
    }
    assert_eq!(get(&app, "/admin", &cookie).await.status, 200, "the session still works");

    // With it: the session ends on the server, so a copy of the cookie is refused too.
    let a = post(&app, "/admin/logout", &cookie, &[("_csrf", &csrf)]).await;
    assert_eq!((a.status, a.location.as_str()), (303, "/admin/login"), "{}", a.body);
    assert!(
        a.set_cookie.starts_with("beian_staff=;") && a.set_cookie.contains("Max-Age=0"),
        "{}",
        a.set_cookie
    );
    let a = get(&app, "/admin", &cookie).await;
    assert_eq!((a.status, a.location.as_str()), (303, "/admin/login"), "the old cookie is sent to sign in");
    let a = post(&app, "/admin/review/wxsess0001/claim", &cookie, &[("_csrf", &csrf)]).await;
    assert_eq!((a.status, a.location.as_str()), (303, "/admin/login"), "nor can it post");
    assert_eq!(get(&app, "/admin", &other).await.status, 200, "the other session is its own");
    let staff_id = app.svc.review().staff_for_token(&api_token).await.expect("staff").id;
    let trail = app.svc.audit_trail(beian_core::model::AuditEntity::Staff, &staff_id).await.expect("audit");
    let actions: Vec<String> = trail.into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["create", "sign_in", "sign_in", "sign_out"]);
    app.stop().await;
}

#[tokio::test]
async fn staff_session_is_its_own_token_and_sign_out_ends_it_sqlite() {
    session_is_its_own_token_and_sign_out_ends_it(Backend::Sqlite).await;
}

#[tokio::test]
async fn staff_session_is_its_own_token_and_sign_out_ends_it_postgres() {
    session_is_its_own_token_and_sign_out_ends_it(Backend::Postgres).await;
}

async fn sessions_end_idle_after_twelve_hours_and_with_their_staff(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let api_token = staff(&app, "审核乙", Role::Reviewer).await;
    let idle = Duration::seconds(STAFF_SESSION_IDLE_SECS);
    let signed_out = |a: Answer| (a.status, a.location) == (303, "/admin/login".to_string());

    // Idle: used just before the idle limit, it lives on; left alone for it, it ends.
    let (cookie, _) = sign_in(&app, &api_token).await;
    for _ in 0..3 {
        app.clock.advance(idle - Duration::minutes(2));
        assert_eq!(get(&app, "/admin", &cookie).await.status, 200, "each use counts");
    }
    app.clock.advance(idle);
    assert!(signed_out(get(&app, "/admin", &cookie).await), "idle for the limit: ended");

    // Absolute: in use all along, it still ends 12 hours after sign-in.
    let (cookie, _) = sign_in(&app, &api_token).await;
    let step = Duration::minutes(20);
    let mut elapsed = Duration::zero();
    while elapsed + step < Duration::seconds(STAFF_SESSION_TTL_SECS) {
        app.clock.advance(step);
        elapsed += step;
        assert_eq!(get(&app, "/admin", &cookie).await.status, 200, "after {elapsed}");
    }
    app.clock.advance(step);
    assert!(signed_out(get(&app, "/admin", &cookie).await), "12 hours after sign-in: ended");

    // A staff member who is no longer active has no session.
    let (cookie, _) = sign_in(&app, &api_token).await;
    app.store.exec_raw("UPDATE staff SET active = 0").await.expect("deactivate");
    assert!(signed_out(get(&app, "/admin", &cookie).await), "inactive staff: ended");
    let a = answer(
        client().post(app.url("/admin/login")).form(&[("token", &api_token)]).send().await.expect("send"),
    )
    .await;
    assert_eq!(a.status, 401, "nor can they sign in again");
    app.stop().await;
}

#[tokio::test]
async fn staff_sessions_end_idle_after_twelve_hours_and_with_their_staff_sqlite() {
    sessions_end_idle_after_twelve_hours_and_with_their_staff(Backend::Sqlite).await;
}

#[tokio::test]
async fn staff_sessions_end_idle_after_twelve_hours_and_with_their_staff_postgres() {
    sessions_end_idle_after_twelve_hours_and_with_their_staff(Backend::Postgres).await;
}

/// Every staff form refuses a POST without the session's CSRF token, before it acts.
#[tokio::test]
async fn every_staff_post_needs_the_csrf_token() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    register(&app, "wxcsrf0001", 81).await;
    let operator = staff(&app, "运营丙", Role::Operator).await;
    let (cookie, _) = sign_in(&app, &operator).await;
    let csrf = csrf_of(&get(&app, "/admin/ops", &cookie).await.body);
    let (other, _) = sign_in(&app, &operator).await;
    let other_csrf = csrf_of(&get(&app, "/admin/ops", &other).await.body);
    let policy_before = app.svc.policy().authority_outage;
    let providers_before = app.svc.providers().list_providers().await.expect("providers").len();
    let paths = [
        "/admin/logout",
        "/admin/review/wxcsrf0001/claim",
        "/admin/review/wxcsrf0001/approve",
        "/admin/review/wxcsrf0001/reject",
        "/admin/ops/policy",
        "/admin/ops/simulator",
        "/admin/ops/advance",
        "/admin/ops/providers",
        "/admin/ops/providers/wxcomp/rotate",
        "/admin/ops/providers/wxcomp/url",
        "/admin/ops/reasons",
        "/admin/ops/dictionaries",
        "/admin/ops/calendar",
        "/admin/ops/calendar/reload",
        "/admin/ops/rules",
        "/admin/ops/jobs/1/retry",
        "/admin/tickets/1/reply",
    ];
    for path in paths {
        for form in [
            vec![("authority_outage", "on"), ("name", "攻击者服务商"), ("days", "30")],
            vec![("_csrf", "not-the-token"), ("authority_outage", "on"), ("name", "攻击者服务商")],
            // Another session's token does not serve either.
            vec![("_csrf", other_csrf.as_str()), ("name", "攻击者服务商")],
        ] {
            let a = post(&app, path, &cookie, &form).await;
            assert_eq!(a.status, 403, "{path} {form:?}: {}", a.body);
        }
    }
    assert_eq!(app.svc.policy().authority_outage, policy_before, "nothing changed");
    assert_eq!(app.svc.providers().list_providers().await.expect("providers").len(), providers_before);
    assert_eq!(get(&app, "/admin/ops", &cookie).await.status, 200, "still signed in");
    // The same form with the token is accepted (the check is not simply closed).
    let form =
        [("_csrf", csrf.as_str()), ("name", "正常服务商"), ("event_url", "https://example.com/events")];
    let a = post(&app, "/admin/ops/providers", &cookie, &form).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(app.svc.providers().list_providers().await.expect("providers").len(), providers_before + 1);
    app.stop().await;
}

// ---- the binary: /metrics, /demo/events, the demo's output --------------------------------

fn beian(dir: &std::path::Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_beian"));
    c.current_dir(dir)
        .env("BEIAN_IDENTITY_PROVIDER", "builtin")
        .env_remove("BEIAN_DATABASE_URL")
        .env_remove("BEIAN_DATA_DIR")
        .env_remove("BEIAN_METRICS_TOKEN")
        .env_remove("BEIAN_AUTHORITY_GATEWAY")
        .env("BEIAN_LOG", "warn")
        .kill_on_drop(true);
    c
}

/// Start `beian ARGS --listen 127.0.0.1:0` and wait for its address; the child is killed
/// when dropped.
async fn serving(mut c: tokio::process::Command, args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = c
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start beian");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(base) = line.strip_prefix("beian is serving on ") {
                return base.trim().to_string();
            }
        }
        panic!("beian exited without serving");
    };
    let base = tokio::time::timeout(std::time::Duration::from_secs(120), read).await.expect("beian started");
    (child, base)
}

async fn status(url: &str, bearer: Option<&str>) -> u16 {
    let mut req = client().get(url);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("send").status().as_u16()
}

#[tokio::test]
async fn serve_mode_has_neither_demo_events_nor_open_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = beian(dir.path());
    c.env("BEIAN_AUTHORITY_GATEWAY", "manual");
    let (mut child, base) = serving(c, &["serve"]).await;
    assert_eq!(status(&format!("{base}/healthz"), None).await, 200);
    assert_eq!(status(&format!("{base}/demo/events"), None).await, 404, "no demo receiver in serve mode");
    let posted = client().post(format!("{base}/demo/events")).body("<xml/>").send().await.expect("send");
    assert_eq!(posted.status().as_u16(), 404);
    assert_eq!(status(&format!("{base}/metrics"), None).await, 404, "no metrics without a token");
    assert_eq!(status(&format!("{base}/metrics"), Some("anything-at-all-0123")).await, 404);
    child.kill().await.expect("stop beian");

    // With a token in the environment: 401 without it or with another, 200 with it.
    let token = "metrics-scraper-token-9f8e7d";
    let mut c = beian(dir.path());
    c.env("BEIAN_METRICS_TOKEN", token).env("BEIAN_AUTHORITY_GATEWAY", "manual");
    let (mut child, base) = serving(c, &["serve"]).await;
    let url = format!("{base}/metrics");
    assert_eq!(status(&url, None).await, 401);
    assert_eq!(status(&url, Some("metrics-scraper-token-9f8e7e")).await, 401);
    assert_eq!(status(&url, Some(token)).await, 200);
    let body = client().get(&url).bearer_auth(token).send().await.expect("send").text().await.expect("body");
    assert!(body.contains("beian_jobs"), "{body}");
    child.kill().await.expect("stop beian");

    // A token too short to be a secret is refused at startup.
    let out =
        beian(dir.path()).env("BEIAN_METRICS_TOKEN", "short").arg("migrate").output().await.expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 16"));
}

#[tokio::test]
async fn demo_mode_has_its_event_receiver() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, base) = serving(beian(dir.path()), &["demo"]).await;
    assert_eq!(status(&format!("{base}/demo/events"), None).await, 200);
    assert_eq!(status(&format!("{base}/metrics"), None).await, 404, "not in the demo either");
    child.kill().await.expect("stop beian");
}

#[tokio::test]
async fn demo_prints_its_secrets_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = || async {
        let out = beian(dir.path()).args(["demo", "--seed-only"]).output().await.expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };
    let first = run().await;
    let creds = std::fs::read_to_string(dir.path().join("beian-data/demo-credentials.txt")).expect("creds");
    let value = |key: &str| {
        creds
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("{key} in {creds}"))
            .to_string()
    };
    let secrets = ["reviewer_token", "operator_token", "component_appsecret", "token", "encoding_aes_key"]
        .map(|k| (k, value(k)));
    for (k, v) in &secrets {
        assert!(first.contains(v.as_str()), "{k} shown when created: {first}");
    }
    for _ in 0..2 {
        let again = run().await;
        assert!(again.contains("演示数据已存在"), "{again}");
        for (k, v) in &secrets {
            assert!(!again.contains(v.as_str()), "{k} printed again: {again}");
        }
        assert!(!again.contains("demo-password"), "{again}");
        assert!(again.contains("demo-credentials.txt"), "says where they are: {again}");
    }
}

/// The reviewer's pages speak in words and names: an empty queue says so, the status is
/// written out, and a claim shows who holds it (not the staff id).
async fn review_pages_show_status_words_and_the_claimers_name(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let api_token = staff(&app, "审核乙", Role::Reviewer).await;
    let (cookie, _) = sign_in(&app, &api_token).await;
    let queue = get(&app, "/admin", &cookie).await;
    assert!(queue.body.contains("队列为空"), "{}", queue.body);

    register(&app, "wxrvw00001", 41).await;
    crate::support::apply_personal(&app, "wxrvw00001", 41).await;
    let page = get(&app, "/admin/review/wxrvw00001", &cookie).await;
    assert!(page.body.contains("状态：平台审核中"), "{}", page.body);
    assert!(!page.body.contains("状态：2"), "no raw status code");
    let csrf = csrf_of(&page.body);
    let a =
        post(&app, "/admin/review/wxrvw00001/claim", &cookie, &[("_csrf", &csrf), ("version", "0")]).await;
    assert_eq!(a.status, 303, "{}", a.body);
    let staff_id = app.svc.review().staff_for_token(&api_token).await.expect("staff").id;
    // Seen by another reviewer (whose own name is in the page header).
    let (other, _) = sign_in(&app, &staff(&app, "审核丙", Role::Reviewer).await).await;
    for path in ["/admin", "/admin/review/wxrvw00001"] {
        let page = get(&app, path, &other).await;
        assert!(page.body.contains("审核乙"), "{path} names the claimer: {}", page.body);
        assert!(!page.body.contains(&staff_id), "{path} shows no staff id");
    }
    // The other reviewer's claim, approval and rejection are refused naming the holder.
    let page = get(&app, "/admin/review/wxrvw00001", &other).await;
    let csrf = csrf_of(&page.body);
    for (action, extra) in [("claim", None), ("approve", None), ("reject", Some(("key_name", "小程序备注")))]
    {
        let mut form = vec![("_csrf", csrf.as_str()), ("error", "备注不清楚")];
        form.extend(extra);
        let r = post(&app, &format!("/admin/review/wxrvw00001/{action}"), &other, &form).await;
        assert_eq!(r.status, 409, "{action}: {}", r.body);
        assert!(r.body.contains("审核员 审核乙"), "{action} names the holder: {}", r.body);
        assert!(!r.body.contains(&staff_id), "{action} shows no staff id");
    }
    app.stop().await;
}

#[tokio::test]
async fn review_pages_speak_words_and_names_sqlite() {
    review_pages_show_status_words_and_the_claimers_name(Backend::Sqlite).await;
}

#[tokio::test]
async fn review_pages_speak_words_and_names_postgres() {
    review_pages_show_status_words_and_the_claimers_name(Backend::Postgres).await;
}

/// Operators read the development SMS outbox on a page of their own (filtered by phone);
/// reviewers cannot.
async fn operators_read_the_sms_outbox_on_a_page(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    register(&app, "wxsms00001", 42).await;
    let phone = app.svc.mini_programs().mini_program("wxsms00001").await.expect("mp").admin.mobile;
    app.svc.materials().create_face_task(&Actor::new("test", "face"), "wxsms00001").await.expect("task");
    crate::support::eventually("the face notice in the outbox", || async {
        !app.svc.job_queue().sms_outbox(Some(&phone), 5).await.expect("outbox").is_empty()
    })
    .await;
    let (op, _) = sign_in(&app, &staff(&app, "运营甲", Role::Operator).await).await;
    let page = get(&app, "/admin/ops/sms", &op).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&phone) && page.body.contains("人脸核身"), "{}", page.body);
    // Beijing time, like every other page: the text's own time, moved from UTC by eight hours.
    let sent = app.svc.job_queue().sms_outbox(Some(&phone), 5).await.expect("outbox")[0].created_at;
    let beijing =
        beian_core::time::from_ts(sent).with_timezone(&beian_core::time::beijing()).format("%Y-%m-%d %H:%M");
    assert!(
        page.body.contains(&beijing.to_string()) && page.body.contains("北京时间"),
        "{beijing}: {}",
        page.body
    );
    let none = get(&app, "/admin/ops/sms?phone=13900000000", &op).await;
    assert!(none.body.contains("发件箱里没有短信") && !none.body.contains(&phone), "{}", none.body);
    let (rev, _) = sign_in(&app, &staff(&app, "审核丁", Role::Reviewer).await).await;
    assert_ne!(get(&app, "/admin/ops/sms", &rev).await.status, 200, "reviewers do not read the outbox");
    app.stop().await;
}

#[tokio::test]
async fn operators_read_the_sms_outbox_sqlite() {
    operators_read_the_sms_outbox_on_a_page(Backend::Sqlite).await;
}

#[tokio::test]
async fn operators_read_the_sms_outbox_postgres() {
    operators_read_the_sms_outbox_on_a_page(Backend::Postgres).await;
}

// ---- production mode: the authority gateway is chosen, the simulator exists only by choice --

#[tokio::test]
async fn serve_refuses_to_start_without_a_gateway_and_production_has_no_simulator() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No choice: refused, naming the three.
    let out = beian(dir.path()).args(["--listen", "127.0.0.1:0", "serve"]).output().await.expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for word in [
        "no authority gateway chosen",
        "\"simulator\"",
        "\"manual\"",
        "\"bridge\"",
        "BEIAN_AUTHORITY_GATEWAY",
    ] {
        assert!(err.contains(word), "{word}: {err}");
    }
    // The bridge is not in this build: refused, not replaced.
    let out = beian(dir.path())
        .args(["--listen", "127.0.0.1:0", "--authority-gateway", "bridge", "serve"])
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("[authority.bridge]"));
    // A simulated clock is the simulator's.
    let out = beian(dir.path())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--authority-gateway",
            "manual",
            "--simulated-clock",
            "true",
            "serve",
        ])
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only for the authority simulator"));
    // `demo` is the simulator's.
    let out = beian(dir.path())
        .env("BEIAN_AUTHORITY_GATEWAY", "manual")
        .args(["demo", "--seed-only"])
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("beian demo runs the authority simulator"));

    // The manual desk: no simulator page, API, settings or clock; the desk is there.
    let mut c = beian(dir.path());
    c.env("BEIAN_AUTHORITY_GATEWAY", "manual");
    let (mut child, base) = serving(c, &["serve"]).await;
    assert_eq!(status(&format!("{base}/miit/verify"), None).await, 404);
    let post = |path: &str| {
        let url = format!("{base}{path}");
        async move {
            client()
                .post(url)
                .header("authorization", "Bearer anything")
                .body("phone=13800010001&id_last6=12345X&code=123456")
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }
    };
    for path in
        ["/miit/verify", "/api/operator/simulator/advance", "/admin/ops/simulator", "/admin/ops/advance"]
    {
        assert_eq!(post(path).await, 404, "{path}");
    }
    assert_eq!(status(&format!("{base}/api/operator/simulator"), Some("anything")).await, 404);
    let desk = status(&format!("{base}/admin/desk"), None).await;
    assert!(desk == 303 || desk == 302, "the desk asks for sign-in: {desk}");
    child.kill().await.expect("stop beian");

    // The simulator: its page is there, the desk is not.
    let mut c = beian(dir.path());
    c.env("BEIAN_AUTHORITY_GATEWAY", "simulator");
    let (mut child, base) = serving(c, &["serve"]).await;
    assert_eq!(status(&format!("{base}/miit/verify"), None).await, 200);
    assert_eq!(status(&format!("{base}/admin/desk"), None).await, 404);
    child.kill().await.expect("stop beian");
}
