//! Developer sign-in besides the password form, through the entries a person uses: 忘记密码
//! (the e-mail captured by a test double on the real job path), disabled accounts, OpenID
//! Connect against a fake issuer that signs real ID tokens (RS256, JWKS, discovery, PKCE)
//! — the happy path and the refusals (nonce, audience, issuer, state, replay), linking by
//! issuer + subject only — and the trusted-header mode (loopback proxy only, console only).

use crate::support::*;
use beian_ports::messaging::{EmailMessage, EmailSender};
use beian_ports::{BoxFuture, PortResult};
use beian_service::signin::NewAccount;
use beian_service::Actor;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

both!(
    a_forgotten_password_is_reset_by_an_emailed_single_use_link,
    a_disabled_account_cannot_sign_in_and_its_sessions_end,
    oidc_signs_in_and_links_by_issuer_and_subject_only,
    oidc_refuses_wrong_nonce_audience_issuer_and_replays,
    a_trusted_header_is_honoured_from_the_proxy_only_and_only_on_console_pages,
    operators_create_and_disable_accounts_on_the_staff_page
);

/// Records what it is asked to send.
#[derive(Default)]
struct Mailbox(Mutex<Vec<EmailMessage>>);

impl EmailSender for Mailbox {
    fn send_email<'a>(&'a self, m: &'a EmailMessage) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            self.0.lock().expect("lock").push(m.clone());
            Ok(())
        })
    }
}

impl Mailbox {
    fn all(&self) -> Vec<EmailMessage> {
        self.0.lock().expect("lock").clone()
    }
}

/// A browser without JavaScript: one cookie jar by name, no automatic redirects.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    location: String,
    body: String,
}

impl Browser {
    fn new() -> Browser {
        let http =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Browser { http, cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let r = req.header("cookie", self.cookie_header()).send().await.expect("request");
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().expect("cookie");
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').expect("k=v");
            if v.is_empty() || attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let status = r.status().as_u16();
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        Page { status, location, body: r.text().await.unwrap_or_default() }
    }

    async fn get(&mut self, url: &str) -> Page {
        let req = self.http.get(url);
        self.send(req).await
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let req = self.http.post(url).form(form);
        self.send(req).await
    }

    async fn login(&mut self, app: &TestApp, user: &str, pass: &str) -> Page {
        self.post(&app.url("/console/login"), &[("username", user), ("password", pass), ("next", "/console")])
            .await
    }

    /// Whether `/console` shows the signed-in home (not a redirect to the sign-in page).
    async fn signed_in(&mut self, app: &TestApp) -> bool {
        self.get(&app.url("/console")).await.status == 200
    }
}

async fn local_account(app: &TestApp, username: &str, email: Option<&str>) {
    let new = NewAccount {
        username: username.into(),
        display_name: format!("{username} 的名字"),
        password: "old-password-1".into(),
        email: email.map(str::to_string),
    };
    app.svc.sign_in().create_local_account(&Actor::new("test", "signin"), &new).await.expect("account");
}

fn reset_token(mail: &EmailMessage) -> String {
    let at = mail.body.find("/console/reset?token=").expect("a reset link") + "/console/reset?token=".len();
    mail.body[at..].chars().take_while(|c| c.is_ascii_hexdigit()).collect()
}

async fn a_forgotten_password_is_reset_by_an_emailed_single_use_link(b: Backend) {
    let mailbox = Arc::new(Mailbox::default());
    let app = TestApp::start_signin(b, Some(mailbox.clone()), None).await;
    local_account(&app, "lin", Some("Lin@Example.com")).await;
    local_account(&app, "noemail", None).await;
    let mut old_session = Browser::new();
    assert_eq!(old_session.login(&app, "lin", "old-password-1").await.status, 303);
    assert!(old_session.signed_in(&app).await);

    // The sign-in page links to 忘记密码.
    let mut b1 = Browser::new();
    let login = b1.get(&app.url("/console/login")).await;
    assert!(login.body.contains("忘记密码") && login.body.contains("/console/forgot"), "{}", login.body);
    // The answer is the same for a known username, an address (any case), an unknown name
    // and an account without an address.
    let mut answers = Vec::new();
    for who in ["lin", "nobody-here", "noemail", "lin@example.COM"] {
        let p = b1.post(&app.url("/console/forgot"), &[("login", who)]).await;
        answers.push((p.status, p.body));
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 200);
    assert!(answers[0].1.contains("30分钟内有效"), "{}", answers[0].1);
    // One link per account per minute: the two requests for lin sent one mail.
    eventually("the reset e-mail", || async { !mailbox.all().is_empty() }).await;
    let mails = mailbox.all();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, "Lin@Example.com");
    let token = reset_token(&mails[0]);
    assert_eq!(token.len(), 64, "{}", mails[0].body);
    // Stored hashed: the token is not in the database.
    let mut tx = app.store.read().await.expect("read");
    assert!(tx
        .account_sessions()
        .password_reset(&token, app.svc.now().timestamp())
        .await
        .expect("q")
        .is_none());
    drop(tx);

    let form = b1.get(&app.url(&format!("/console/reset?token={token}"))).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("设置新密码"));
    let short = b1
        .post(&app.url("/console/reset"), &[("token", &token), ("password", "short"), ("password2", "short")])
        .await;
    assert_eq!(short.status, 400);
    assert!(short.body.contains("密码至少8位"), "{}", short.body);
    let done = b1
        .post(
            &app.url("/console/reset"),
            &[("token", &token), ("password", "new-password-2"), ("password2", "new-password-2")],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("密码已重置"));
    // Every session ended; the old password is gone, the new one works.
    assert!(!old_session.signed_in(&app).await, "the old session survived the reset");
    assert_eq!(Browser::new().login(&app, "lin", "old-password-1").await.status, 401);
    assert_eq!(Browser::new().login(&app, "lin", "new-password-2").await.status, 303);
    // Single use.
    let again = b1
        .post(
            &app.url("/console/reset"),
            &[("token", &token), ("password", "third-pass-3"), ("password2", "third-pass-3")],
        )
        .await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("重置链接无效或已过期"), "{}", again.body);
    // A link expires after 30 minutes.
    app.clock.advance(chrono::Duration::seconds(120));
    b1.post(&app.url("/console/forgot"), &[("login", "lin")]).await;
    eventually("the second e-mail", || async { mailbox.all().len() == 2 }).await;
    let second = reset_token(&mailbox.all()[1]);
    app.clock.advance(chrono::Duration::minutes(31));
    let expired = b1.get(&app.url(&format!("/console/reset?token={second}"))).await;
    assert_eq!(expired.status, 400);
    let trail =
        app.svc.audit_trail(beian_core::model::AuditEntity::Account, &account_id(&app, "lin").await).await;
    assert!(trail.expect("trail").iter().any(|e| e.action == "password_reset"));
    app.stop().await;
}

async fn account_id(app: &TestApp, username: &str) -> String {
    app.svc.sign_in().find_account(username).await.expect("find").expect("account").id
}

async fn a_disabled_account_cannot_sign_in_and_its_sessions_end(b: Backend) {
    let app = TestApp::start_signin(b, None, None).await;
    local_account(&app, "zhao", None).await;
    let mut br = Browser::new();
    assert_eq!(br.login(&app, "zhao", "old-password-1").await.status, 303);
    assert!(br.signed_in(&app).await);
    let actor = Actor::new("test", "ops");
    app.svc.sign_in().set_account_disabled(&actor, "zhao", true).await.expect("disable");
    assert!(!br.signed_in(&app).await, "the session survived disabling");
    let refused = Browser::new().login(&app, "zhao", "old-password-1").await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("帐号已停用"), "{}", refused.body);
    // A wrong password does not reveal that the account is disabled.
    let wrong = Browser::new().login(&app, "zhao", "wrong-password").await;
    assert!(wrong.body.contains("用户名或密码错误"), "{}", wrong.body);
    app.svc.sign_in().set_account_disabled(&actor, "zhao", false).await.expect("enable");
    assert_eq!(Browser::new().login(&app, "zhao", "old-password-1").await.status, 303);
    app.stop().await;
}

// ---- OpenID Connect against a fake issuer ----

const CLIENT_ID: &str = "beian-console";
const CLIENT_SECRET: &str = "fake-issuer-client-secret";

/// What the next ID token says, and how it is spoiled.
#[derive(Clone, Default)]
struct Mint {
    sub: String,
    name: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    wrong_nonce: bool,
    wrong_audience: bool,
    wrong_issuer: bool,
}

#[derive(Default)]
struct IssuerState {
    mint: Mint,
    /// code → (nonce, PKCE challenge)
    codes: HashMap<String, (String, String)>,
}

/// A small OpenID provider: discovery, JWKS, an authorization endpoint that signs the person
/// in at once, and a token endpoint that checks the client secret and the PKCE verifier and
/// signs the ID token with a fixed RSA test key (RS256).
struct FakeIssuer {
    base: String,
    state: Arc<Mutex<IssuerState>>,
    _server: beian_testkit::servers::Stoppable<()>,
}

fn signing_key() -> openidconnect::core::CoreRsaPrivateSigningKey {
    openidconnect::core::CoreRsaPrivateSigningKey::from_pem(
        include_str!("test-only-oidc-signing-key.pem"),
        Some(openidconnect::JsonWebKeyId::new("test-key-1".into())),
    )
    .expect("test key")
}

impl FakeIssuer {
    async fn start() -> FakeIssuer {
        use axum::extract::{Form, Query, State};
        use axum::response::{IntoResponse, Redirect};
        use axum::routing::{get, post};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(IssuerState::default()));
        type S = (String, Arc<Mutex<IssuerState>>);
        async fn discovery(State((base, _)): State<S>) -> impl IntoResponse {
            axum::Json(serde_json::json!({
                "issuer": base,
                "authorization_endpoint": format!("{base}/authorize"),
                "token_endpoint": format!("{base}/token"),
                "jwks_uri": format!("{base}/jwks"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }))
        }
        async fn jwks() -> impl IntoResponse {
            use openidconnect::PrivateSigningKey;
            axum::Json(serde_json::json!({ "keys": [signing_key().as_verification_key()] }))
        }
        async fn authorize(
            State((_, st)): State<S>,
            Query(q): Query<HashMap<String, String>>,
        ) -> impl IntoResponse {
            assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
            assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
            let code = format!("code-{}", st.lock().expect("lock").codes.len() + 1);
            st.lock()
                .expect("lock")
                .codes
                .insert(code.clone(), (q["nonce"].clone(), q["code_challenge"].clone()));
            Redirect::to(&format!("{}?code={code}&state={}", q["redirect_uri"], q["state"]))
        }
        async fn token(
            State((base, st)): State<S>,
            headers: axum::http::HeaderMap,
            Form(f): Form<HashMap<String, String>>,
        ) -> axum::response::Response {
            use base64::Engine;
            use openidconnect::core::*;
            use openidconnect::*;
            use sha2::Digest;
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Basic {basic}")) {
                return (
                    axum::http::StatusCode::UNAUTHORIZED,
                    axum::Json(serde_json::json!({"error": "invalid_client"})),
                )
                    .into_response();
            }
            let (code, verifier) = (
                f.get("code").cloned().unwrap_or_default(),
                f.get("code_verifier").cloned().unwrap_or_default(),
            );
            let found = st.lock().expect("lock").codes.remove(&code);
            let Some((nonce, challenge)) = found else {
                return (
                    axum::http::StatusCode::BAD_REQUEST,
                    axum::Json(serde_json::json!({"error": "invalid_grant"})),
                )
                    .into_response();
            };
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()));
            if computed != challenge {
                return (
                    axum::http::StatusCode::BAD_REQUEST,
                    axum::Json(serde_json::json!({"error": "invalid_grant"})),
                )
                    .into_response();
            }
            let m = st.lock().expect("lock").mint.clone();
            let now = chrono::Utc::now();
            let mut standard = StandardClaims::new(SubjectIdentifier::new(m.sub.clone()))
                .set_email(m.email.clone().map(EndUserEmail::new))
                .set_email_verified(m.email_verified);
            if let Some(n) = &m.name {
                let mut claim = LocalizedClaim::new();
                claim.insert(None, EndUserName::new(n.clone()));
                standard = standard.set_name(Some(claim));
            }
            let issuer =
                if m.wrong_issuer { "http://127.0.0.1:1/other-issuer".to_string() } else { base.clone() };
            let audience = if m.wrong_audience { "another-client" } else { CLIENT_ID };
            let nonce = if m.wrong_nonce { "a-nonce-beian-never-sent".to_string() } else { nonce };
            let claims = CoreIdTokenClaims::new(
                IssuerUrl::new(issuer).expect("issuer"),
                vec![Audience::new(audience.into())],
                now + chrono::Duration::minutes(5),
                now,
                standard,
                EmptyAdditionalClaims {},
            )
            .set_nonce(Some(Nonce::new(nonce)));
            let id_token = CoreIdToken::new(
                claims,
                &signing_key(),
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                None,
                None,
            )
            .expect("sign");
            axum::Json(serde_json::json!({
                "access_token": "fake-access-token",
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token.to_string(),
            }))
            .into_response()
        }
        let router = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state((base.clone(), state.clone()));
        let server = beian_testkit::servers::Stoppable::spawn(|stop| async move {
            let _ = axum::serve(listener, router).with_graceful_shutdown(stop).await;
        });
        FakeIssuer { base, state, _server: server }
    }

    fn mint(&self, m: Mint) {
        self.state.lock().expect("lock").mint = m;
    }

    /// Plug this issuer into the app as its `[oidc]` provider.
    fn connect(&self, app: &TestApp) {
        let config = beian_vendors::oidc::OidcConfig {
            issuer: self.base.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            redirect_url: app.url("/console/oidc/callback"),
            scopes: vec!["profile".into(), "email".into()],
            label: beian::signin::DEFAULT_OIDC_LABEL.into(),
        };
        app.svc.set_signin_provider(Some(Arc::new(beian_vendors::oidc::Oidc::new(config).expect("oidc"))));
    }
}

/// The whole round trip as a browser makes it: the button, the provider, the callback.
async fn oidc_round_trip(app: &TestApp, br: &mut Browser) -> Page {
    let start = br.get(&app.url("/console/oidc/start?next=/console/messages")).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let at_provider = br.get(&start.location).await;
    assert_eq!(at_provider.status, 303, "{}", at_provider.body);
    assert!(
        at_provider.location.starts_with(&app.url("/console/oidc/callback?")),
        "{}",
        at_provider.location
    );
    br.get(&at_provider.location).await
}

async fn oidc_signs_in_and_links_by_issuer_and_subject_only(b: Backend) {
    let app = TestApp::start_signin(b, None, None).await;
    let issuer = FakeIssuer::start().await;
    issuer.connect(&app);
    // An existing local account whose (verified) address the provider will also claim.
    local_account(&app, "wang", Some("wang@example.com")).await;
    let login = Browser::new().get(&app.url("/console/login")).await;
    assert!(
        login.body.contains("使用平台账号登录") && login.body.contains("/console/oidc/start"),
        "{}",
        login.body
    );

    issuer.mint(Mint {
        sub: "user-1001".into(),
        name: Some("王小明".into()),
        email: Some("wang@example.com".into()),
        email_verified: Some(false),
        ..Mint::default()
    });
    let mut br = Browser::new();
    let back = oidc_round_trip(&app, &mut br).await;
    assert_eq!((back.status, back.location.as_str()), (303, "/console/messages"), "{}", back.body);
    assert!(!br.cookies.contains_key("beian_oidc"), "the pending sign-in cookie is cleared");
    let home = br.get(&app.url("/console")).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("王小明"), "{}", home.body);
    // A new account: an unverified address equal to wang's never links to it.
    let accounts = app.svc.sign_in().list_accounts().await.expect("list");
    assert_eq!(accounts.len(), 2, "{accounts:?}");
    let created = accounts.iter().find(|a| a.username != "wang").expect("created");
    assert_eq!(created.display_name, "王小明");
    assert_eq!(created.email.as_deref(), Some("wang@example.com"));
    assert!(!created.email_verified, "an unverified address is stored as unverified");
    // Nor does a verified one: only issuer + subject find an account. The same subject
    // finds the same account again.
    issuer.mint(Mint {
        sub: "user-1001".into(),
        name: Some("王小明".into()),
        email: Some("wang@example.com".into()),
        email_verified: Some(true),
        ..Mint::default()
    });
    let mut again = Browser::new();
    assert_eq!(oidc_round_trip(&app, &mut again).await.status, 303);
    issuer.mint(Mint {
        sub: "user-2002".into(),
        email: Some("wang@example.com".into()),
        email_verified: Some(true),
        ..Mint::default()
    });
    let mut third = Browser::new();
    assert_eq!(oidc_round_trip(&app, &mut third).await.status, 303);
    let accounts = app.svc.sign_in().list_accounts().await.expect("list");
    assert_eq!(accounts.len(), 3, "user-1001 twice is one account; user-2002 is another: {accounts:?}");
    let wang = accounts.iter().find(|a| a.username == "wang").expect("wang");
    assert!(app.svc.sign_in().is_identity(&created.id, &issuer.base, "user-1001").await);
    assert!(!app.svc.sign_in().is_identity(&wang.id, &issuer.base, "user-2002").await);
    // The break-glass local sign-in still works beside it.
    assert_eq!(Browser::new().login(&app, "wang", "old-password-1").await.status, 303);
    // A disabled account cannot sign in through the provider either.
    app.svc
        .sign_in()
        .set_account_disabled(&Actor::new("test", "ops"), &created.id, true)
        .await
        .expect("disable");
    assert!(!br.signed_in(&app).await);
    issuer.mint(Mint { sub: "user-1001".into(), ..Mint::default() });
    let refused = oidc_round_trip(&app, &mut Browser::new()).await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("帐号已停用"), "{}", refused.body);
    app.stop().await;
}

async fn oidc_refuses_wrong_nonce_audience_issuer_and_replays(b: Backend) {
    let app = TestApp::start_signin(b, None, None).await;
    let issuer = FakeIssuer::start().await;
    issuer.connect(&app);
    let base = Mint { sub: "user-3003".into(), ..Mint::default() };
    for (what, mint) in [
        ("wrong nonce", Mint { wrong_nonce: true, ..base.clone() }),
        ("wrong audience", Mint { wrong_audience: true, ..base.clone() }),
        ("wrong issuer", Mint { wrong_issuer: true, ..base.clone() }),
    ] {
        issuer.mint(mint);
        let mut br = Browser::new();
        let back = oidc_round_trip(&app, &mut br).await;
        assert_eq!(back.status, 401, "{what}: {}", back.body);
        assert!(back.body.contains("身份令牌校验未通过"), "{what}: {}", back.body);
        assert!(!br.cookies.contains_key("beian_session"), "{what}");
        assert!(!br.signed_in(&app).await, "{what}");
    }
    assert!(app.svc.sign_in().list_accounts().await.expect("list").is_empty(), "no account from a bad token");

    issuer.mint(base);
    // A callback whose state does not match the pending sign-in.
    let mut br = Browser::new();
    let start = br.get(&app.url("/console/oidc/start")).await;
    let at_provider = br.get(&start.location).await;
    let forged = at_provider.location.replace("state=", "state=x");
    let refused = br.get(&forged).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.body.contains("登录请求已失效"));
    // The pending sign-in is used up by that attempt: the genuine callback is refused too.
    let replay = br.get(&at_provider.location).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    // Without the browser's cookie (another browser replaying a callback URL).
    let mut br2 = Browser::new();
    let start = br2.get(&app.url("/console/oidc/start")).await;
    let at_provider = br2.get(&start.location).await;
    let stolen = Browser::new().get(&at_provider.location).await;
    assert_eq!(stolen.status, 400, "{}", stolen.body);
    // A pending sign-in expires after 10 minutes.
    let mut slow = Browser::new();
    let start = slow.get(&app.url("/console/oidc/start")).await;
    let at_provider = slow.get(&start.location).await;
    app.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(slow.get(&at_provider.location).await.status, 401);
    assert!(app.svc.sign_in().list_accounts().await.expect("list").is_empty());
    app.stop().await;
}

// ---- trusted header ----

fn trusted(proxies: &[&str]) -> beian_console::TrustedHeader {
    beian::signin::trusted_header(Some(beian::signin::TrustedHeaderFileConfig {
        user_header: Some("X-Remote-User".into()),
        name_header: Some("X-Remote-Name".into()),
        email_header: Some("X-Remote-Email".into()),
        proxies: Some(proxies.iter().map(|p| p.to_string()).collect()),
    }))
    .expect("config")
    .expect("some")
}

async fn a_trusted_header_is_honoured_from_the_proxy_only_and_only_on_console_pages(b: Backend) {
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let get = |app: &TestApp, path: &str| {
        http.get(app.url(path))
            .header("X-Remote-User", "proxy-user-7")
            .header("X-Remote-Name", "代理用户")
            .header("X-Remote-Email", "p7@example.com")
    };
    // The test connects from 127.0.0.1: loopback is the (default) allowed proxy.
    let app = TestApp::start_signin(b, None, Some(trusted(&["127.0.0.1/32", "::1/128"]))).await;
    // APIs and staff pages never read it: no account is created by them.
    for path in [
        "/api/authority/events",
        "/cgi-bin/component/api_component_token",
        "/admin",
        "/wxa/icp/get_icp_filing",
    ] {
        let r = get(&app, path).send().await.expect("req");
        assert!(
            r.headers()
                .get_all("set-cookie")
                .iter()
                .all(|c| !c.to_str().unwrap_or("").contains("beian_session")),
            "{path}"
        );
    }
    assert!(app.svc.sign_in().list_accounts().await.expect("list").is_empty());
    let r = get(&app, "/console").send().await.expect("console");
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers().get("set-cookie").expect("a session cookie").to_str().expect("c").to_string();
    assert!(cookie.starts_with("beian_session="), "{cookie}");
    let body = r.text().await.expect("body");
    assert!(body.contains("代理用户"), "{body}");
    let accounts = app.svc.sign_in().list_accounts().await.expect("list");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].username, "proxy-user-7");
    assert!(!accounts[0].email_verified, "the proxy's address is not taken as verified");
    // The same person again: the same account, no second one.
    assert_eq!(get(&app, "/console").send().await.expect("again").status().as_u16(), 200);
    assert_eq!(app.svc.sign_in().list_accounts().await.expect("list").len(), 1);
    // Disabled: refused even through the proxy.
    app.svc
        .sign_in()
        .set_account_disabled(&Actor::new("test", "ops"), "proxy-user-7", true)
        .await
        .expect("disable");
    assert_eq!(get(&app, "/console").send().await.expect("disabled").status().as_u16(), 403);
    app.stop().await;

    // From an address not in the allow-list the header is ignored.
    let app = TestApp::start_signin(b, None, Some(trusted(&["10.9.9.9/32"]))).await;
    let r = get(&app, "/console").send().await.expect("console");
    assert_eq!(r.status().as_u16(), 303, "not signed in: to the sign-in page");
    assert!(app.svc.sign_in().list_accounts().await.expect("list").is_empty());
    app.stop().await;
}

// ---- operators: the staff page and the CLI ----

fn csrf_of(page: &str) -> String {
    let at =
        page.find("name=\"_csrf\" value=\"").expect("a form with _csrf") + "name=\"_csrf\" value=\"".len();
    page[at..].chars().take_while(|c| *c != '"').collect()
}

async fn operators_create_and_disable_accounts_on_the_staff_page(b: Backend) {
    use beian_core::platform::Role;
    let app = TestApp::start_signin(b, None, None).await;
    let actor = Actor::new("test", "staff");
    let (_, op_token) =
        app.svc.review().create_staff(&actor, "运营甲", Role::Operator).await.expect("operator");
    let (_, rev_token) =
        app.svc.review().create_staff(&actor, "审核乙", Role::Reviewer).await.expect("reviewer");
    let op = staff_cookie(&app, &op_token).await;
    let reviewer = staff_cookie(&app, &rev_token).await;
    // Operators only.
    let (st, _, _) = staff_get(&app, "/admin/accounts", &reviewer).await;
    assert_ne!(st, 200, "a reviewer reached the accounts page");
    let (st, _, page) = staff_get(&app, "/admin/accounts", &op).await;
    assert_eq!(st, 200, "{page}");
    let csrf = csrf_of(&page);
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let post = |path: &str, form: Vec<(&str, &str)>| {
        http.post(app.url(path)).header("cookie", &op).form(&form).send()
    };
    // Without the CSRF token nothing is created.
    let forged =
        post("/admin/accounts", vec![("username", "forged"), ("display_name", "x")]).await.expect("post");
    assert_eq!(forged.status().as_u16(), 403);
    let created = post(
        "/admin/accounts",
        vec![("_csrf", &csrf), ("username", "sun"), ("display_name", "孙开发"), ("email", "sun@example.com")],
    )
    .await
    .expect("post");
    assert_eq!(created.status().as_u16(), 200);
    let body = created.text().await.expect("body");
    let at =
        body.find("id=\"initial-password\">").expect("the password, once") + "id=\"initial-password\">".len();
    let password: String = body[at..].chars().take_while(|c| *c != '<').collect();
    assert_eq!(password.len(), 16, "{body}");
    let mut br = Browser::new();
    assert_eq!(br.login(&app, "sun", &password).await.status, 303);
    assert!(br.signed_in(&app).await);
    let sun = app.svc.sign_in().find_account("sun").await.expect("find").expect("sun");
    assert_eq!(sun.email.as_deref(), Some("sun@example.com"));
    // Stored encrypted: the address is not in the accounts table in clear.
    let mut tx = app.store.read().await.expect("read");
    assert_eq!(tx.accounts().by_email("SUN@example.com").await.expect("by email").len(), 1);
    drop(tx);
    let dup = post("/admin/accounts", vec![("_csrf", &csrf), ("username", "sun"), ("display_name", "再来")])
        .await
        .expect("post");
    assert_eq!(dup.status().as_u16(), 400);
    assert!(dup.text().await.expect("body").contains("用户名已被使用"));
    let off =
        post(&format!("/admin/accounts/{}/disable", sun.id), vec![("_csrf", &csrf)]).await.expect("post");
    assert_eq!(off.status().as_u16(), 303);
    assert!(!br.signed_in(&app).await, "disabled: the session ended");
    let (_, _, page) = staff_get(&app, "/admin/accounts", &op).await;
    assert!(page.contains("已停用"), "{page}");
    let on = post(&format!("/admin/accounts/{}/enable", sun.id), vec![("_csrf", &csrf)]).await.expect("post");
    assert_eq!(on.status().as_u16(), 303);
    assert_eq!(Browser::new().login(&app, "sun", &password).await.status, 303);
    let trail = app.svc.audit_trail(beian_core::model::AuditEntity::Account, &sun.id).await.expect("trail");
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    for a in ["create", "disable", "enable"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    app.stop().await;
}

#[test]
fn the_account_cli_creates_disables_enables_lists_and_resets() {
    use std::process::Command;
    let dir = tempfile::tempdir().expect("tempdir");
    let beian = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_beian"));
        c.current_dir(dir.path())
            .env_remove("BEIAN_DATABASE_URL")
            .env_remove("BEIAN_DATA_DIR")
            .env_remove("BEIAN_ACCOUNT_PASSWORD")
            .env("BEIAN_LOG", "warn");
        c
    };
    let run = |c: &mut Command| {
        let out = c.output().expect("run beian");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(beian()
        .args(["account", "create", "--username", "zhou", "--name", "周开发", "--email", "zhou@example.com"])
        .env("BEIAN_ACCOUNT_PASSWORD", "given-password-1"));
    assert!(ok, "{out}");
    assert!(out.contains("created account zhou") && !out.contains("given-password-1"), "{out}");
    let (ok, out) = run(beian().args(["account", "create", "--username", "wu-dev"]));
    assert!(ok && out.contains("password: "), "a generated password is printed once: {out}");
    let (ok, out) = run(beian().args(["account", "create", "--username", "x"]));
    assert!(!ok && out.contains("用户名须为3至64位"), "{out}");
    let (ok, out) = run(beian().args(["account", "disable", "zhou"]));
    assert!(ok && out.contains("disabled zhou"), "{out}");
    let (_, list) = run(beian().args(["account", "list"]));
    let zhou = list.lines().find(|l| l.contains("zhou")).expect("zhou listed");
    assert!(zhou.contains("disabled") && zhou.contains("email") && zhou.contains("周开发"), "{list}");
    assert!(list.lines().find(|l| l.contains(" wu-dev ")).expect("wu").contains("active"), "{list}");
    let (ok, _) = run(beian().args(["account", "enable", "zhou"]));
    assert!(ok);
    let (_, list) = run(beian().args(["account", "list"]));
    assert!(list.lines().find(|l| l.contains("zhou")).expect("zhou").contains("active"), "{list}");
    let (ok, out) = run(beian().args(["account", "reset-password", "zhou"]));
    assert!(ok && out.contains("new password set for zhou") && out.contains("password: "), "{out}");
    let (ok, out) = run(beian().args(["account", "disable", "nobody"]));
    assert!(!ok && out.contains("帐号不存在"), "{out}");
}
