//! Random form bodies against every POST route of the console and the staff pages, signed
//! in (so the handlers, not only the sign-in checks, read them) and with a valid CSRF token
//! half of the time: every answer is 2xx, 3xx or 4xx, and the connection is never dropped.
//! The list of routes is the routers' (`beian_console::router`, `beian_admin::router`):
//! a route added there belongs here too.

use crate::support::*;
use beian_core::platform::Role;
use beian_service::Actor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KEYS: &[&str] = &[
    "_csrf",
    "_step",
    "go",
    "same",
    "sct",
    "nrlx",
    "appid",
    "title",
    "body",
    "token",
    "next",
    "username",
    "password",
    "reason_id",
    "key_name",
    "error",
    "suggest",
    "version",
    "reasons",
    "kind",
    "json",
    "days",
    "hours",
    "url",
    "name",
    "event_url",
    "default_outcome",
    "review_working_days",
    "id",
    "active",
    "icp_subject.base_info.name",
    "icp_subject.base_info.type",
    "icp_applets.base_info.nrlx_details.0.code",
    "icp_materials.subject_other_materials.0",
    "icp_subject.principal_info.certificate_number",
    "form",
    "subject_number",
    "service_number",
    "deadline",
    "phone",
    "code",
    "reason",
];

const VALUES: &[&str] = &[
    "",
    "1",
    "0",
    "-1",
    "4294967296",
    "99999999999999999999",
    "null",
    "true",
    "next",
    "subject",
    "applet",
    "approve",
    "reject",
    "retry",
    "discard",
    "/console",
    "//evil.example",
    "\r\nLocation: http://evil.example",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "%",
    "%ZZ",
    "管理员",
    "{\"a\":[1,2,3]}",
    "[{\"key_name\":\"x\",\"error\":\"y\"}]",
    "\u{0}",
    "\u{FFFF}",
    "sms_pending",
    "sms_verified",
    "approved",
    "rejected",
    "refused",
    "cancel_confirmed",
    "2026-03-03 10:00",
    "粤ICP备2026000001号",
    "粤ICP备2026000001号-1X",
];

fn random_value(rng: &mut StdRng) -> String {
    match rng.gen_range(0..10) {
        0 => "长".repeat(rng.gen_range(1..4000)),
        1 => "a.".repeat(rng.gen_range(1..3000)),
        2 => rng.gen::<u64>().to_string(),
        _ => VALUES[rng.gen_range(0..VALUES.len())].to_string(),
    }
}

fn random_key(rng: &mut StdRng) -> String {
    match rng.gen_range(0..8) {
        0 => format!("icp_subject.{}b", "a.".repeat(rng.gen_range(1..3000))),
        1 => format!("icp_applets.base_info.nrlx_details.{}.code", rng.gen::<u32>()),
        2 => random_value(rng),
        _ => KEYS[rng.gen_range(0..KEYS.len())].to_string(),
    }
}

/// A urlencoded body of random pairs, with the CSRF token half of the time.
fn random_form(rng: &mut StdRng, csrf: &str) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> =
        (0..rng.gen_range(0..8)).map(|_| (random_key(rng), random_value(rng))).collect();
    if rng.gen_bool(0.5) {
        f.push(("_csrf".into(), csrf.into()));
    }
    f
}

fn csrf_of(html: &str) -> String {
    html.split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string()
}

fn cookie_of(r: &reqwest::Response) -> String {
    r.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_string()
}

async fn hammer(
    app: &TestApp,
    http: &reqwest::Client,
    rng: &mut StdRng,
    cookie: &str,
    csrf: &str,
    path: &str,
    rounds: usize,
) {
    for i in 0..rounds {
        let req = http.post(app.url(path)).header("cookie", cookie);
        let req = if path.ends_with("/upload") && rng.gen_bool(0.7) {
            let mut form = reqwest::multipart::Form::new();
            for (k, v) in random_form(rng, csrf) {
                form = form.text(k, v);
            }
            if rng.gen_bool(0.5) {
                form = form.part("media", reqwest::multipart::Part::bytes(JPEG.to_vec()).file_name("x.jpg"));
            }
            req.multipart(form)
        } else {
            req.form(&random_form(rng, csrf))
        };
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path} (round {i}): the connection failed: {e}"));
        let st = r.status().as_u16();
        assert!((200..500).contains(&st), "POST {path} (round {i}) answered {st}");
        r.bytes().await.unwrap_or_else(|e| panic!("POST {path} (round {i}): the body was cut: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_forms_to_every_post_route_answer_without_5xx() {
    let seed: u64 =
        std::env::var("BEIAN_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("BEIAN_FUZZ_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let rounds = 25;
    // No sign-in limit: the random bodies sent to the sign-in forms would otherwise lock the
    // test out of the staff pages.
    let limits = beian_web::limits::WebLimitsConfig {
        public_query_per_minute: 0,
        login_failures_per_ip: 0,
        client_ip_header: None,
    };
    let app = TestApp::start_configured(Backend::Sqlite, 100_000, |c| c, limits).await;
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let setup = Actor::new("test", "setup");
    register(&app, "wxhf0001", 81).await;
    apply_personal(&app, "wxhf0001", 81).await;
    let acc = app
        .svc
        .accounts()
        .create_account(&setup, "dev81", "开发者81", "secret-pass-81")
        .await
        .expect("account");
    app.svc
        .accounts()
        .grant(&setup, "wxhf0001", &acc.id, beian_core::platform::MemberRole::Admin, &[])
        .await
        .expect("grant");
    let ticket = app.svc.accounts().open_ticket(&acc, "wxhf0001", "问题", "描述").await.expect("ticket");
    let (_, staff_token) =
        app.svc.review().create_staff(&setup, "运营", Role::Operator).await.expect("staff");

    // The developer console.
    let r = http
        .post(app.url("/console/login"))
        .form(&[("username", "dev81"), ("password", "secret-pass-81"), ("next", "/console")])
        .send()
        .await
        .expect("login");
    let cookie = cookie_of(&r);
    let page = http.get(app.url("/console/tickets")).header("cookie", &cookie).send().await.expect("page");
    let csrf = csrf_of(&page.text().await.expect("page"));
    assert!(!csrf.is_empty(), "signed in to the console");
    for path in [
        "/console/apps/wxhf0001/filing/save".to_string(),
        "/console/apps/wxhf0001/filing/upload".into(),
        "/console/apps/wxhf0001/filing/face".into(),
        "/console/apps/wxhf0001/filing/submit".into(),
        "/console/apps/wxhf0001/withdraw".into(),
        "/console/apps/wxhf0001/cancel".into(),
        "/console/apps/wxhf0001/providers/revoke".into(),
        "/console/apps/wxhf0001/webhook".into(),
        "/console/apps/wxhf0001/webhook/test".into(),
        "/console/apps/wxhf0001/webhook/deliveries/1/retry".into(),
        "/console/messages/read".into(),
        "/console/prefs".into(),
        "/console/tickets".into(),
        format!("/console/tickets/{ticket}/reply"),
        "/console/login".into(),
        "/console/logout".into(),
    ] {
        hammer(&app, &http, &mut rng, &cookie, &csrf, &path, rounds).await;
    }

    // The staff pages.
    let r = http
        .post(app.url("/admin/login"))
        .form(&[("token", staff_token.as_str())])
        .send()
        .await
        .expect("login");
    let cookie = cookie_of(&r);
    let page = http.get(app.url("/admin/ops")).header("cookie", &cookie).send().await.expect("page");
    let csrf = csrf_of(&page.text().await.expect("page"));
    assert!(!csrf.is_empty(), "signed in to the staff pages");
    for path in [
        "/admin/review/wxhf0001/claim".to_string(),
        "/admin/review/wxhf0001/approve".into(),
        "/admin/review/wxhf0001/reject".into(),
        "/admin/ops/policy".into(),
        "/admin/ops/simulator".into(),
        "/admin/ops/advance".into(),
        "/admin/ops/providers".into(),
        "/admin/ops/providers/wxnone/rotate".into(),
        "/admin/ops/providers/wxnone/url".into(),
        "/admin/ops/reasons".into(),
        "/admin/ops/dictionaries".into(),
        "/admin/ops/calendar".into(),
        "/admin/ops/calendar/reload".into(),
        "/admin/ops/jobs/1/retry".into(),
        "/admin/ops/jobs/1/discard".into(),
        format!("/admin/tickets/{ticket}/reply"),
        "/admin/login".into(),
        "/admin/logout".into(),
    ] {
        hammer(&app, &http, &mut rng, &cookie, &csrf, &path, rounds).await;
    }
    let (st, _, _) = {
        let r = http.get(app.url("/healthz")).send().await.expect("healthz");
        (r.status().as_u16(), (), ())
    };
    assert_eq!(st, 200);
    app.stop().await;
}

/// The manual desk's forms (mounted only when it is the gateway), signed in as an operator,
/// on an item that exists and on ones that do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_forms_to_the_desk_answer_without_5xx() {
    let seed: u64 =
        std::env::var("BEIAN_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("BEIAN_FUZZ_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let limits = beian_web::limits::WebLimitsConfig {
        public_query_per_minute: 0,
        login_failures_per_ip: 0,
        client_ip_header: None,
    };
    let app =
        TestApp::start_with_gateway(Backend::Sqlite, beian::config::GatewayChoice::Manual, limits).await;
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let setup = Actor::new("test", "setup");
    register(&app, "wxhf0002", 82).await;
    apply_personal(&app, "wxhf0002", 82).await;
    app.svc.filings().platform_approve(&setup, "wxhf0002").await.expect("approve");
    let (_, staff_token) =
        app.svc.review().create_staff(&setup, "运营", Role::Operator).await.expect("staff");
    let r = http
        .post(app.url("/admin/login"))
        .form(&[("token", staff_token.as_str())])
        .send()
        .await
        .expect("login");
    let cookie = cookie_of(&r);
    let page = || async {
        let r = http.get(app.url("/admin/desk")).header("cookie", &cookie).send().await.expect("page");
        r.text().await.expect("page")
    };
    eventually("the submission reaches the desk", || async { page().await.contains("wxhf0002") }).await;
    let html = page().await;
    let csrf = csrf_of(&html);
    assert!(!csrf.is_empty(), "signed in to the staff pages");
    let id =
        html.split("data-id=\"").nth(1).and_then(|s| s.split('"').next()).expect("the item's id").to_string();
    for path in
        [format!("/admin/desk/{id}/record"), "/admin/desk/999/record".into(), "/admin/desk/x/record".into()]
    {
        hammer(&app, &http, &mut rng, &cookie, &csrf, &path, 60).await;
    }
    let r =
        http.get(app.url(&format!("/admin/desk/{id}"))).header("cookie", &cookie).send().await.expect("item");
    assert_eq!(r.status().as_u16(), 200);
    app.stop().await;
}
