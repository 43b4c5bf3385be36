//! The merchant authorization flow under attack, over HTTP: guessing the admin's last 6 ID
//! characters (per code, per mini program, per provider, in parallel), tokens that outlive a
//! revocation, and redirect targets (authorization page `redirect_uri`, console `next`)
//! carrying CRLF or another origin.

use crate::support::*;
use beian_client::Client;
use beian_core::errcode;
use beian_service::{Actor, ProviderCredentials};

/// The provider's event URL: its host (127.0.0.1) is the domain redirects may go to.
const EVENT_URL: &str = "http://127.0.0.1:9/events";
const CALLBACK: &str = "http://127.0.0.1:1/callback";

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

async fn provider(app: &TestApp) -> ProviderCredentials {
    app.svc
        .providers()
        .create_provider(&Actor::new("test", "op"), "测试服务商", EVENT_URL)
        .await
        .expect("provider")
}

async fn pre_auth(app: &TestApp, creds: &ProviderCredentials) -> String {
    app.svc.providers().create_pre_auth_code(&creds.component_appid).await.expect("pre auth code").0
}

/// A wrong last 6 for admin `n` (a valid-looking one of another person).
fn wrong_last6(n: u32) -> String {
    admin_id(n + 500)[12..].to_string()
}

fn right_last6(n: u32) -> String {
    admin_id(n)[12..].to_string()
}

/// Submit the authorization page: (status, Location, page).
async fn submit(
    app: &TestApp,
    creds: &ProviderCredentials,
    pre: &str,
    appid: &str,
    n: u32,
    last6: &str,
    redirect: &str,
) -> (u16, String, String) {
    let mobile = admin_mobile(n);
    let form = [
        ("component_appid", creds.component_appid.as_str()),
        ("pre_auth_code", pre),
        ("redirect_uri", redirect),
        ("appid", appid),
        ("admin_mobile", mobile.as_str()),
        ("admin_id_last6", last6),
        ("scope", "156"),
    ];
    let r = http().post(app.url("/cgi-bin/componentloginpage")).form(&form).send().await.expect("submit");
    let status = r.status().as_u16();
    let loc = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (status, loc, r.text().await.unwrap_or_default())
}

async fn authorized(app: &TestApp, appid: &str) -> bool {
    !app.svc.providers().authorizations_of(appid).await.expect("authorizations").is_empty()
}

#[tokio::test]
async fn three_wrong_answers_use_up_the_code_even_for_the_right_fourth() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    register(&app, "wxsa000001", 61).await;
    let creds = provider(&app).await;
    let pre = pre_auth(&app, &creds).await;
    for left in [2, 1] {
        let (st, _, page) = submit(&app, &creds, &pre, "wxsa000001", 61, &wrong_last6(61), CALLBACK).await;
        assert_eq!(st, 400);
        assert!(page.contains(&format!("该授权链接还可尝试{left}次")), "{page}");
    }
    let (st, _, page) = submit(&app, &creds, &pre, "wxsa000001", 61, &wrong_last6(61), CALLBACK).await;
    assert_eq!(st, 400);
    assert!(page.contains("身份核验失败次数过多，该授权链接已失效，请服务商重新发起授权"), "{page}");
    let (st, loc, page) = submit(&app, &creds, &pre, "wxsa000001", 61, &right_last6(61), CALLBACK).await;
    assert_eq!((st, loc.as_str()), (400, ""), "{page}");
    assert!(page.contains("授权链接已失效"), "{page}");
    assert!(!authorized(&app, "wxsa000001").await);
    // The page itself says so too.
    let r = http()
        .get(app.url(&format!(
            "/cgi-bin/componentloginpage?component_appid={}&pre_auth_code={}",
            creds.component_appid,
            pre.replace('@', "%40")
        )))
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 400);
    // Three failures do not lock the mini program: a new code with the right answer works.
    let pre = pre_auth(&app, &creds).await;
    let (st, loc, page) = submit(&app, &creds, &pre, "wxsa000001", 61, &right_last6(61), CALLBACK).await;
    assert_eq!(st, 302, "{page}");
    assert!(loc.starts_with(&format!("{CALLBACK}?auth_code=")), "{loc}");
    assert!(authorized(&app, "wxsa000001").await);
    app.stop().await;
}

// On PostgreSQL several nodes share the database: the counters' row locks order concurrent
// attempts.
both!(parallel_guesses_with_one_code_get_three_answers, lockout_across_codes);

/// The reported attack: many guesses at once with one code. Only 3 are counted as answers.
async fn parallel_guesses_with_one_code_get_three_answers(backend: Backend) {
    let app = TestApp::start(backend, 1000).await;
    register(&app, "wxsa000002", 62).await;
    let creds = provider(&app).await;
    let pre = pre_auth(&app, &creds).await;
    let guesses: Vec<String> = (0..40).map(|i| format!("{:06}", 100_000 + i)).collect();
    let answers = futures_util::future::join_all(
        guesses.iter().map(|g| submit(&app, &creds, &pre, "wxsa000002", 62, g, CALLBACK)),
    )
    .await;
    let counted = answers
        .iter()
        .filter(|(_, _, p)| p.contains("身份核验失败次数过多") || p.contains("还可尝试"))
        .count();
    assert_eq!(counted, 3, "{:?}", answers.iter().map(|a| a.0).collect::<Vec<_>>());
    assert!(answers.iter().all(|(st, loc, _)| *st == 400 && loc.is_empty()));
    // The others were refused as such, none failed inside (a deadlock would say 系统繁忙).
    assert!(answers.iter().all(|(_, _, p)| p.contains("还可尝试") || p.contains("授权链接已失效")));
    let (st, _, page) = submit(&app, &creds, &pre, "wxsa000002", 62, &right_last6(62), CALLBACK).await;
    assert_eq!(st, 400, "{page}");
    assert!(!authorized(&app, "wxsa000002").await);
    app.stop().await;
}

/// Five failures over two codes lock the mini program (15 minutes; the clock starts at
/// 10:00 Beijing): even the right answer with a new code is refused, an audit event and a
/// 站内信 (with an SMS to the admin) tell what happened; the next lockout lasts twice as long.
async fn lockout_across_codes(backend: Backend) {
    let app = TestApp::start(backend, 1000).await;
    let appid = "wxsa000003";
    register(&app, appid, 63).await;
    let creds = provider(&app).await;
    let fail_five = |at: &'static str| {
        let (app, creds) = (&app, &creds);
        async move {
            let (a, b) = (pre_auth(app, creds).await, pre_auth(app, creds).await);
            for pre in [&a, &a, &a, &b] {
                let (st, _, page) = submit(app, creds, pre, appid, 63, &wrong_last6(63), CALLBACK).await;
                assert_eq!(st, 400, "{page}");
                assert!(!page.contains("已暂停"), "locked too early: {page}");
            }
            let (st, _, page) = submit(app, creds, &b, appid, 63, &wrong_last6(63), CALLBACK).await;
            assert_eq!(st, 400, "{page}");
            assert!(page.contains(&format!("该小程序的授权已暂停，请于{at}后再试")), "{page}");
        }
    };
    fail_five("10:15").await;
    let pre = pre_auth(&app, &creds).await;
    let (st, loc, page) = submit(&app, &creds, &pre, appid, 63, &right_last6(63), CALLBACK).await;
    assert_eq!((st, loc.as_str()), (429, ""), "{page}");
    assert!(page.contains("授权已暂停，请于10:15后再试"), "{page}");
    assert!(!authorized(&app, appid).await);

    let audit = app.svc.audit_trail(beian_core::model::AuditEntity::MiniProgram, appid).await.expect("audit");
    let locked: Vec<_> = audit.iter().filter(|e| e.action == "authorization_locked").collect();
    assert_eq!(locked.len(), 1, "{audit:?}");
    assert_eq!(locked[0].detail["component_appid"], creds.component_appid.as_str());
    let (messages, unread) = app.svc.mini_programs().messages(appid, 10).await.expect("messages");
    assert_eq!(unread, 1);
    assert!(messages[0].title.contains("暂停授权"), "{messages:?}");
    assert!(messages[0].body.contains("测试服务商") && messages[0].body.contains("10:15"), "{messages:?}");
    let phone = admin_mobile(63);
    eventually("the SMS to the admin", || {
        let (svc, phone) = (app.svc.clone(), phone.clone());
        async move {
            let out = svc.job_queue().sms_outbox(Some(&phone), 10).await.expect("outbox");
            out.iter().any(|m| m.text.contains("暂停授权"))
        }
    })
    .await;

    // After the lock, the next five failures lock for 30 minutes.
    app.clock.advance(chrono::Duration::minutes(16));
    fail_five("10:46").await;
    app.clock.advance(chrono::Duration::minutes(31));
    let pre = pre_auth(&app, &creds).await;
    let (st, loc, page) = submit(&app, &creds, &pre, appid, 63, &right_last6(63), CALLBACK).await;
    assert_eq!(st, 302, "{page}");
    assert!(loc.starts_with(CALLBACK), "{loc}");
    assert!(authorized(&app, appid).await);
    let audit = app.svc.audit_trail(beian_core::model::AuditEntity::MiniProgram, appid).await.expect("audit");
    assert_eq!(audit.iter().filter(|e| e.action == "authorization_locked").count(), 2);
    app.stop().await;
}

/// 30 failures in an hour across mini programs pause the provider's authorizations.
#[tokio::test]
async fn provider_is_paused_after_too_many_failures_in_an_hour() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    let creds = provider(&app).await;
    for i in 0..7u32 {
        register(&app, &format!("wxsa0001{i:02}"), 70 + i).await;
    }
    // Six mini programs, five failures each (two codes each): 30.
    for i in 0..6u32 {
        let appid = format!("wxsa0001{i:02}");
        let (a, b) = (pre_auth(&app, &creds).await, pre_auth(&app, &creds).await);
        for pre in [&a, &a, &a, &b, &b] {
            let (st, _, page) =
                submit(&app, &creds, pre, &appid, 70 + i, &wrong_last6(70 + i), CALLBACK).await;
            assert_eq!(st, 400, "{page}");
        }
    }
    let pre = pre_auth(&app, &creds).await;
    let (st, _, page) = submit(&app, &creds, &pre, "wxsa000106", 76, &right_last6(76), CALLBACK).await;
    assert_eq!(st, 429, "{page}");
    assert!(
        page.contains("该服务商的授权页面本小时内身份核验失败次数过多，已暂停授权，请于11:00后再试"),
        "{page}"
    );
    assert!(!authorized(&app, "wxsa000106").await);
    let audit = app
        .svc
        .audit_trail(beian_core::model::AuditEntity::Provider, &creds.component_appid)
        .await
        .expect("audit");
    assert!(audit.iter().any(|e| e.action == "authorization_paused"), "{audit:?}");
    // The next hour: the right answer passes again.
    app.clock.advance(chrono::Duration::hours(1));
    let pre = pre_auth(&app, &creds).await;
    let (st, _, page) = submit(&app, &creds, &pre, "wxsa000106", 76, &right_last6(76), CALLBACK).await;
    assert_eq!(st, 302, "{page}");
    app.stop().await;
}

/// The provider's side over HTTP: a ticket from the push, a component token.
async fn component_token(app: &TestApp, client: &Client) -> (ProviderCredentials, String) {
    let rx = Receiver::start(0).await;
    let creds = app
        .svc
        .providers()
        .create_provider(&Actor::new("test", "op"), "测试服务商", &rx.url)
        .await
        .expect("provider");
    rx.set_keys(&creds);
    eventually("a component_verify_ticket", || {
        let rx = rx.clone();
        async move { !rx.of_type("component_verify_ticket").is_empty() }
    })
    .await;
    let ticket = rx.of_type("component_verify_ticket")[0].fields["ComponentVerifyTicket"].clone();
    let token = client
        .component_token(&creds.component_appid, &creds.component_appsecret, &ticket)
        .await
        .expect("component token")
        .component_access_token;
    (creds, token)
}

/// Authorize on the page and exchange the code: (access token, refresh token).
async fn authorize(
    app: &TestApp,
    client: &Client,
    creds: &ProviderCredentials,
    ctoken: &str,
) -> (String, String) {
    let pre = client.create_pre_auth_code(ctoken, &creds.component_appid).await.expect("pre").pre_auth_code;
    let (st, loc, page) = submit(app, creds, &pre, "wxsa000201", 81, &right_last6(81), CALLBACK).await;
    assert_eq!(st, 302, "{page}");
    let code = loc.split("auth_code=").nth(1).and_then(|s| s.split('&').next()).expect("auth_code");
    let code = beian_web::url_decode(code);
    let a = client.query_auth(ctoken, &creds.component_appid, &code).await.expect("query auth");
    (a.authorizer_access_token, a.authorizer_refresh_token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_revoke_reauthorize_leaves_old_tokens_dead() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    register(&app, "wxsa000201", 81).await;
    let client = Client::new(&app.base);
    let (creds, ctoken) = component_token(&app, &client).await;
    let comp = creds.component_appid.clone();
    let (access0, refresh0) = authorize(&app, &client, &creds, &ctoken).await;
    let refreshed = client.authorizer_token(&ctoken, &comp, "wxsa000201", &refresh0).await.expect("refresh");
    let (access1, refresh1) = (refreshed.authorizer_access_token, refreshed.authorizer_refresh_token);
    // In the refresh's grace both old and new work (and are now in this node's cache).
    client.get_icp_entrance_info(&access0).await.expect("old access token in grace");
    client.get_icp_entrance_info(&access1).await.expect("new access token");

    app.svc
        .providers()
        .revoke_authorization(&Actor::new("admin", "wxsa000201"), &comp, "wxsa000201")
        .await
        .expect("revoke");
    for t in [&access0, &access1] {
        let e = client.get_icp_entrance_info(t).await.expect_err("revoked");
        assert_eq!(e.errcode(), Some(errcode::INVALID_CREDENTIAL));
    }

    let (access2, refresh2) = authorize(&app, &client, &creds, &ctoken).await;
    for t in [&access0, &access1] {
        let e = client.get_icp_entrance_info(t).await.expect_err("dead after re-authorization");
        assert_eq!(e.errcode(), Some(errcode::INVALID_CREDENTIAL));
    }
    for r in [&refresh0, &refresh1] {
        let e =
            client.authorizer_token(&ctoken, &comp, "wxsa000201", r).await.expect_err("dead refresh token");
        assert_eq!(e.errcode(), Some(errcode::INVALID_REFRESH_TOKEN));
    }
    client.get_icp_entrance_info(&access2).await.expect("the new authorization's token");
    client.authorizer_token(&ctoken, &comp, "wxsa000201", &refresh2).await.expect("its refresh token");
    app.stop().await;
}

/// A re-authorization without a revocation ends the previous tokens (in grace too) and an
/// authorization code not yet exchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reauthorization_ends_tokens_in_grace_and_unexchanged_codes() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    register(&app, "wxsa000201", 81).await;
    let client = Client::new(&app.base);
    let (creds, ctoken) = component_token(&app, &client).await;
    let comp = creds.component_appid.clone();
    let (access0, refresh0) = authorize(&app, &client, &creds, &ctoken).await;
    let refreshed = client.authorizer_token(&ctoken, &comp, "wxsa000201", &refresh0).await.expect("refresh");
    // A code the provider has not exchanged yet.
    let pre = client.create_pre_auth_code(&ctoken, &comp).await.expect("pre").pre_auth_code;
    let (st, loc, _) = submit(&app, &creds, &pre, "wxsa000201", 81, &right_last6(81), CALLBACK).await;
    assert_eq!(st, 302);
    let pending = beian_web::url_decode(
        loc.split("auth_code=").nth(1).and_then(|s| s.split('&').next()).expect("code"),
    );
    let (access2, _) = authorize(&app, &client, &creds, &ctoken).await;
    for t in [&access0, &refreshed.authorizer_access_token] {
        let e = client.get_icp_entrance_info(t).await.expect_err("ended by the re-authorization");
        assert_eq!(e.errcode(), Some(errcode::INVALID_CREDENTIAL));
    }
    for r in [&refresh0, &refreshed.authorizer_refresh_token] {
        let e = client.authorizer_token(&ctoken, &comp, "wxsa000201", r).await.expect_err("ended");
        assert_eq!(e.errcode(), Some(errcode::INVALID_REFRESH_TOKEN));
    }
    let e = client.query_auth(&ctoken, &comp, &pending).await.expect_err("superseded code");
    assert_eq!(e.errcode(), Some(errcode::INVALID_AUTH_CODE));
    client.get_icp_entrance_info(&access2).await.expect("the newest token");
    app.stop().await;
}

#[tokio::test]
async fn bad_redirect_targets_are_refused_before_anything_is_written() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    register(&app, "wxsa000301", 91).await;
    let creds = provider(&app).await;
    let pre = pre_auth(&app, &creds).await;
    for (redirect, why) in [
        ("http://127.0.0.1:1/callback\r\nSet-Cookie: stolen=1", "控制字符"),
        ("http://127.0.0.1:1/callback\n", "控制字符"),
        ("https://evil.example/callback", "不是服务商登记的域名 127.0.0.1"),
        ("http://127.0.0.1.evil.example/callback", "不是服务商登记的域名"),
        ("http://127.0.0.1:1@evil.example/callback", "用户名或密码"),
        ("javascript:alert(1)", "http:// 或 https://"),
        ("//evil.example/callback", "http:// 或 https://"),
    ] {
        let (st, loc, page) = submit(&app, &creds, &pre, "wxsa000301", 91, &right_last6(91), redirect).await;
        assert_eq!((st, loc.as_str()), (400, ""), "{redirect:?}: {page}");
        assert!(page.contains("授权失败") && page.contains(why), "{redirect:?}: {page}");
        assert!(!authorized(&app, "wxsa000301").await, "{redirect:?} authorized");
        // The authorization page refuses it as well.
        let url = format!(
            "/cgi-bin/componentloginpage?component_appid={}&pre_auth_code={}&redirect_uri={}",
            creds.component_appid,
            beian_web::url_encode(&pre, false),
            beian_web::url_encode(redirect, false)
        );
        let r = http().get(app.url(&url)).send().await.expect("page");
        assert_eq!(r.status(), 400, "{redirect:?}");
        assert!(r.text().await.expect("html").contains(why));
    }
    // Nothing was written: not even the code was used.
    let (st, loc, page) = submit(&app, &creds, &pre, "wxsa000301", 91, &right_last6(91), CALLBACK).await;
    assert_eq!(st, 302, "{page}");
    assert!(loc.starts_with(&format!("{CALLBACK}?auth_code=")), "{loc}");
    // A subdomain-free IP host on another port is the same domain; no redirect at all shows
    // the success page.
    let pre = pre_auth(&app, &creds).await;
    let (st, loc, page) = submit(&app, &creds, &pre, "wxsa000301", 91, &right_last6(91), "").await;
    assert_eq!((st, loc.as_str()), (200, ""));
    assert!(page.contains("授权成功"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn console_next_only_follows_console_paths() {
    let app = TestApp::start(Backend::Sqlite, 1000).await;
    app.svc
        .accounts()
        .create_account(&Actor::new("test", "c"), "dev95", "开发者95", "secret-pass-1")
        .await
        .expect("account");
    for (next, to) in [
        ("/console\r\nSet-Cookie: stolen=1", "/console"),
        ("/console/apps\r\n", "/console"),
        ("//evil.example/console", "/console"),
        ("/console//evil.example", "/console"),
        ("/console\\evil", "/console"),
        ("https://evil.example/console", "/console"),
        ("/admin", "/console"),
        ("/console/messages", "/console/messages"),
    ] {
        let r = http()
            .post(app.url("/console/login"))
            .form(&[("username", "dev95"), ("password", "secret-pass-1"), ("next", next)])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 303, "{next:?}");
        assert_eq!(r.headers().get("location").and_then(|v| v.to_str().ok()), Some(to), "{next:?}");
        // The sign-in page carries only the safe value in its form.
        let page = http()
            .get(app.url(&format!("/console/login?next={}", beian_web::url_encode(next, true))))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        assert!(page.contains(&format!("name=\"next\" value=\"{to}\"")), "{next:?}: {page}");
    }
    app.stop().await;
}
