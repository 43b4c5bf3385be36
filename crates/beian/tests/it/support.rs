//! Harness for HTTP tests: the real server on a random port with a moved clock, a provider
//! whose events go to a receiver the test runs, and shortcuts to authorized tokens.

use beian::app::Application;
use beian::config::{Config, ConfigArgs, GatewayChoice};
use beian_service::{Actor, ManualClock, ProviderCredentials, Service};
use beian_testkit::fixtures::Identity;
pub use beian_testkit::fixtures::{mobile as admin_mobile, resident_id as admin_id, JPEG};
use beian_testkit::servers::{HttpReceiver, Reply, SmtpMode, SmtpServer, Stoppable};
pub use beian_testkit::Backend;
use beian_testkit::{fixtures, service};
use beian_wxcrypt::WxCrypt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub struct TestApp {
    pub base: String,
    pub svc: Arc<Service>,
    /// The store under the service, for tests that look at rows directly.
    pub store: beian_store::Store,
    /// The built-in authority simulator, when it is the gateway (see [`TestApp::sim`]).
    pub simulator: Option<Arc<beian_authority_sim::Simulator>>,
    /// The authority gateway its job worker uses (the simulator, the desk or the bridge).
    pub gateway: Arc<dyn beian_ports::authority::AuthorityGateway>,
    pub clock: Arc<ManualClock>,
    /// The PostgreSQL URL (with its schema) when the backend is PostgreSQL.
    pub database_url: Option<String>,
    pub _dir: tempfile::TempDir,
    server: Stoppable<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn start(backend: Backend, per_minute_limit: u32) -> TestApp {
        TestApp::start_with(backend, per_minute_limit, |c| c).await
    }

    /// `channels` adjusts the configured senders (texts to the development outbox, no e-mail,
    /// webhooks over HTTP), e.g. to plug in an SMTP server or a test double.
    pub async fn start_with(
        backend: Backend,
        per_minute_limit: u32,
        channels: impl FnOnce(beian_jobs::Channels) -> beian_jobs::Channels,
    ) -> TestApp {
        TestApp::start_configured(backend, per_minute_limit, channels, Default::default()).await
    }

    /// With the public pages' per-client limits too.
    pub async fn start_configured(
        backend: Backend,
        per_minute_limit: u32,
        channels: impl FnOnce(beian_jobs::Channels) -> beian_jobs::Channels,
        web_limits: beian_web::limits::WebLimitsConfig,
    ) -> TestApp {
        let gateway = GatewayChoice::Simulator;
        TestApp::start_full(backend, per_minute_limit, channels, web_limits, Default::default(), gateway)
            .await
    }

    /// In bridge mode: operations go to the bridge `bridge.url`, events come in on
    /// `/api/authority/events` signed with its keys.
    pub async fn start_bridge(backend: Backend, bridge: beian_authority_bridge::BridgeConfig) -> TestApp {
        let identity = beian::config::IdentityConfig::default();
        let (limits, metrics) = (Default::default(), Default::default());
        TestApp::start_identity(
            backend,
            1000,
            |c| c,
            limits,
            metrics,
            GatewayChoice::Bridge,
            identity,
            Some(bridge),
        )
        .await
    }

    /// With `/metrics` readable with `Authorization: Bearer <metrics_token>`.
    pub async fn start_with_metrics(backend: Backend, metrics_token: &str) -> TestApp {
        let metrics = beian::metrics::MetricsAccess::with_token(metrics_token);
        TestApp::start_full(backend, 1000, |c| c, Default::default(), metrics, GatewayChoice::Simulator).await
    }

    /// With the authority reached through `gateway` instead of the simulator.
    pub async fn start_with_gateway(
        backend: Backend,
        gateway: GatewayChoice,
        web_limits: beian_web::limits::WebLimitsConfig,
    ) -> TestApp {
        TestApp::start_full(backend, 100_000, |c| c, web_limits, Default::default(), gateway).await
    }

    /// The built-in authority simulator (the app must run it: [`TestApp::start`] and friends).
    pub fn sim(&self) -> &beian_authority_sim::Simulator {
        self.simulator.as_deref().expect("the simulator is the gateway")
    }

    /// With `identity` as the configured identity provider.
    pub async fn start_with_identity(backend: Backend, identity: beian::config::IdentityConfig) -> TestApp {
        TestApp::start_identity(
            backend,
            1000,
            |c| c,
            Default::default(),
            Default::default(),
            GatewayChoice::Simulator,
            identity,
            None,
        )
        .await
    }

    async fn start_full(
        backend: Backend,
        per_minute_limit: u32,
        channels: impl FnOnce(beian_jobs::Channels) -> beian_jobs::Channels,
        web_limits: beian_web::limits::WebLimitsConfig,
        metrics: beian::metrics::MetricsAccess,
        gateway: GatewayChoice,
    ) -> TestApp {
        let identity = beian::config::IdentityConfig::default();
        TestApp::start_identity(
            backend,
            per_minute_limit,
            channels,
            web_limits,
            metrics,
            gateway,
            identity,
            None,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_identity(
        backend: Backend,
        per_minute_limit: u32,
        channels: impl FnOnce(beian_jobs::Channels) -> beian_jobs::Channels,
        web_limits: beian_web::limits::WebLimitsConfig,
        metrics: beian::metrics::MetricsAccess,
        gateway: GatewayChoice,
        identity: beian::config::IdentityConfig,
        bridge: Option<beian_authority_bridge::BridgeConfig>,
    ) -> TestApp {
        TestApp::start_trusting(
            backend,
            per_minute_limit,
            channels,
            web_limits,
            metrics,
            gateway,
            identity,
            bridge,
            None,
        )
        .await
    }

    /// With e-mail going to `email` and, optionally, `[trusted_header]` on.
    pub async fn start_signin(
        backend: Backend,
        email: Option<Arc<dyn beian_ports::messaging::EmailSender>>,
        trusted: Option<beian_console::TrustedHeader>,
    ) -> TestApp {
        let channels = move |c: beian_jobs::Channels| beian_jobs::Channels { email, ..c };
        let (limits, metrics, identity) = (Default::default(), Default::default(), Default::default());
        TestApp::start_trusting(
            backend,
            1000,
            channels,
            limits,
            metrics,
            GatewayChoice::Simulator,
            identity,
            None,
            trusted,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_trusting(
        backend: Backend,
        per_minute_limit: u32,
        channels: impl FnOnce(beian_jobs::Channels) -> beian_jobs::Channels,
        web_limits: beian_web::limits::WebLimitsConfig,
        metrics: beian::metrics::MetricsAccess,
        gateway: GatewayChoice,
        identity: beian::config::IdentityConfig,
        bridge: Option<beian_authority_bridge::BridgeConfig>,
        trusted: Option<beian_console::TrustedHeader>,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(pg_schema_url().await),
        };
        let args = ConfigArgs {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.path().to_path_buf()),
            database_url: database_url.clone(),
            // The tests read the codes and notices texted to people from the outbox.
            sms_outbox: Some(true),
            ..ConfigArgs::default()
        };
        let config = Config { identity, ..Config::resolve(&args).expect("config") };
        let clock = Arc::new(ManualClock::new(fixtures::start_time()));
        let (store, svc) = beian::app::open(&config, clock.clone()).await.expect("service");
        service::far_deadlines(&svc).await;
        let channels = channels(beian::app::channels(&config, &svc).expect("channels"));
        // Most tests drive the authority through the built-in simulator (its codes, its page).
        let app = Application::with_service(&config.listen, &store, svc.clone(), gateway)
            .await
            .expect("bind")
            .with_api_config(beian_api::ApiConfig { per_minute_limit })
            .with_worker_poll(std::time::Duration::from_millis(20))
            .with_channels(channels)
            .with_web_limits(web_limits)
            .with_metrics(metrics)
            .with_platform_api(Some(crate::platform_api::api_config()))
            .with_authority_bridge(bridge.clone())
            .with_trusted_header(trusted);
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let simulator = app.simulator();
        let gateway: Arc<dyn beian_ports::authority::AuthorityGateway> =
            match (&bridge, &simulator, app.desk()) {
                (Some(b), _, _) => beian::app::bridge_gateway(b),
                (None, Some(sim), _) => sim.clone(),
                (None, None, Some(desk)) => desk,
                (None, None, None) => panic!("no authority gateway"),
            };
        let server = Stoppable::spawn(|stop| app.run(stop));
        TestApp { base, svc, store, simulator, gateway, clock, database_url, _dir: dir, server }
    }

    pub async fn stop(self) {
        self.server.stop().await.expect("server stopped cleanly");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A fresh PostgreSQL schema's URL (see `beian_testkit::pg`).
pub async fn pg_schema_url() -> String {
    beian_testkit::pg::PgSchema::create("t_http").await.url
}

/// One received push, decrypted and signature-checked.
#[derive(Debug, Clone)]
pub struct Received {
    pub info_type: String,
    pub fields: HashMap<String, String>,
}

/// A provider's event receiver on 127.0.0.1: checks the signature, decrypts, records, and
/// answers `success` — except for the first `fail_first` deliveries of each event, which it
/// refuses with HTTP 500 to prove retries.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    crypt: Arc<Mutex<Option<WxCrypt>>>,
    pub events: Arc<Mutex<Vec<Received>>>,
    pub bad: Arc<AtomicUsize>,
    fail_first: usize,
    attempts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}/events", listener.local_addr().expect("addr"));
        let r = Receiver {
            url,
            crypt: Arc::new(Mutex::new(None)),
            events: Arc::new(Mutex::new(Vec::new())),
            bad: Arc::new(AtomicUsize::new(0)),
            fail_first,
            attempts: Arc::new(Mutex::new(HashMap::new())),
        };
        let state = r.clone();
        let app = axum::Router::new().route("/events", axum::routing::post(receive)).with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        r
    }

    pub fn set_keys(&self, creds: &ProviderCredentials) {
        *self.crypt.lock().expect("lock") =
            Some(WxCrypt::new(&creds.token, &creds.encoding_aes_key, &creds.component_appid).expect("keys"));
    }

    /// The mini programs (`AuthorizerAppid` or `verify_appid`) of the events of `info_type`,
    /// sorted.
    pub fn appids_of(&self, info_type: &str) -> Vec<String> {
        let mut appids: Vec<String> = self
            .of_type(info_type)
            .iter()
            .map(|e| {
                e.fields
                    .get("AuthorizerAppid")
                    .or_else(|| e.fields.get("verify_appid"))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        appids.sort();
        appids
    }

    pub fn of_type(&self, info_type: &str) -> Vec<Received> {
        self.events.lock().expect("lock").iter().filter(|e| e.info_type == info_type).cloned().collect()
    }
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
    body: String,
) -> (axum::http::StatusCode, &'static str) {
    let crypt = r.crypt.lock().expect("lock").clone();
    let Some(crypt) = crypt else { return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "no keys yet") };
    let Some(encrypt) = beian_wxcrypt::xml_field(&body, "Encrypt") else {
        r.bad.fetch_add(1, Ordering::SeqCst);
        return (axum::http::StatusCode::BAD_REQUEST, "no Encrypt");
    };
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    assert_eq!(get("encrypt_type"), "aes");
    let xml = match crypt.open(&get("msg_signature"), &get("timestamp"), &get("nonce"), &encrypt) {
        Ok(x) => x,
        Err(_) => {
            r.bad.fetch_add(1, Ordering::SeqCst);
            return (axum::http::StatusCode::BAD_REQUEST, "bad signature");
        }
    };
    let fields: HashMap<String, String> = beian_wxcrypt::xml_fields(&xml).into_iter().collect();
    let info_type = fields.get("InfoType").cloned().unwrap_or_default();
    // Identify "the same event" by everything but the ticket (each ticket push is new).
    let key = format!("{info_type}:{:?}", {
        let mut f: Vec<_> = fields.iter().filter(|(k, _)| k.as_str() != "ComponentVerifyTicket").collect();
        f.sort();
        f
    });
    if info_type != "component_verify_ticket" {
        let mut attempts = r.attempts.lock().expect("lock");
        let n = attempts.entry(key).or_insert(0);
        *n += 1;
        if *n <= r.fail_first {
            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "try again");
        }
    }
    r.events.lock().expect("lock").push(Received { info_type, fields });
    (axum::http::StatusCode::OK, "success")
}

pub async fn register(app: &TestApp, appid: &str, n: u32) {
    let input = fixtures::mini_program(appid, &format!("测试小程序{n}"), &Identity::admin(n));
    app.svc
        .mini_programs()
        .register_mini_program(&Actor::new("test", "http"), input)
        .await
        .expect("register");
}

/// A provider and an authorizer_access_token for `appid`, through the service (the HTTP
/// flow itself is covered by the client end-to-end test).
pub async fn authorized_token(
    app: &TestApp,
    appid: &str,
    n: u32,
    scopes: &[u32],
) -> (ProviderCredentials, String) {
    let creds = app
        .svc
        .providers()
        .create_provider(&Actor::new("test", "op"), "测试服务商", "http://127.0.0.1:9/events")
        .await
        .expect("provider");
    let (pre, _) = app.svc.providers().create_pre_auth_code(&creds.component_appid).await.expect("pre");
    let id = admin_id(n);
    let (code, _) = app
        .svc
        .providers()
        .authorize_provider(&creds.component_appid, &pre, appid, &admin_mobile(n), &id[12..], scopes)
        .await
        .expect("authorize");
    let t = app.svc.providers().query_auth(&creds.component_appid, &code).await.expect("query auth");
    (creds, t.access_token)
}

/// A valid personal application by admin `n` for `appid`, submitted through the service.
pub async fn apply_personal(app: &TestApp, appid: &str, n: u32) {
    let payload = personal_payload(&app.svc, appid, n).await;
    app.svc.filings().apply(&Actor::new("test", "apply"), appid, payload).await.expect("apply");
}

/// The materials (uploaded), the finished face task and the application of admin `n`.
pub async fn personal_payload(svc: &Service, appid: &str, n: u32) -> beian_core::payload::ApplyPayload {
    service::personal_payload(svc, appid, n).await
}

/// A JSON call to the staff API: (HTTP status, body).
pub async fn staff_api(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let http = reqwest::Client::new();
    let req = match method {
        "GET" => http.get(app.url(path)),
        "PUT" => http.put(app.url(path)).json(&body),
        _ => http.post(app.url(path)).json(&body),
    };
    let r = req.bearer_auth(token).send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Wait (bounded, real time) for the worker to make `cond` true.
pub async fn eventually<F, Fut>(what: &str, cond: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if cond().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The newest verification code texted to `phone` (from the development outbox).
pub async fn latest_code(app: &TestApp, phone: &str) -> Option<String> {
    let out = app.svc.job_queue().sms_outbox(Some(phone), 20).await.expect("outbox");
    out.iter().find_map(|m| {
        let i = m.text.find("验证码")? + "验证码".len();
        let code: String = m.text[i..].chars().take(6).collect();
        (code.len() == 6 && code.chars().all(|c| c.is_ascii_digit())).then_some(code)
    })
}

/// Submit the simulator's SMS verification page: (HTTP status, page text).
pub async fn verify_sms(app: &TestApp, phone: &str, last6: &str, code: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(app.url("/miit/verify"))
        .form(&[("phone", phone), ("id_last6", last6), ("code", code)])
        .send()
        .await
        .expect("send");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// An SMTP server on 127.0.0.1 (beian-testkit's) that accepts every message and records
/// (recipient, DATA with `\n` line ends). Runs until the test's runtime ends.
pub async fn smtp_server() -> (u16, Arc<Mutex<Vec<(String, String)>>>) {
    let server = SmtpServer::start(SmtpMode::Normal).await;
    (server.port(), server.detach())
}

/// The channels with e-mail sent to the SMTP server on `port` ([`smtp_server`]).
pub fn smtp_channels(port: u16) -> impl FnOnce(beian_jobs::Channels) -> beian_jobs::Channels {
    let smtp = beian_jobs::notify::SmtpConfig::new(
        "127.0.0.1",
        port,
        "beian@example.com",
        beian_jobs::notify::SmtpSecurity::None,
    );
    move |c| beian_jobs::Channels {
        email: Some(Arc::new(beian_jobs::notify::SmtpSender::new(smtp).expect("smtp"))),
        ..c
    }
}

/// An HTTP receiver on 127.0.0.1 recording every JSON body POSTed to `/hook` (answered `ok`).
pub async fn hook_server() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let rx = HttpReceiver::start(vec![Reply::text("ok")]).await;
    (rx.url("/hook"), rx.json)
}

/// Whether `needle` occurs in `hay` (scans of stored bytes for plain-text values).
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every regular file under `dir`, recursively.
pub fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The newest verification code texted to `phone` that is not `not`, once it arrives.
pub async fn code_for(app: &TestApp, phone: &str, not: Option<&str>) -> String {
    eventually("a verification code", || async {
        latest_code(app, phone).await.is_some_and(|c| Some(c.as_str()) != not)
    })
    .await;
    latest_code(app, phone).await.expect("code")
}

/// Sign in to the staff pages; the session cookie.
pub async fn staff_cookie(app: &TestApp, token: &str) -> String {
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = http.post(app.url("/admin/login")).form(&[("token", token)]).send().await.expect("login");
    assert_eq!(r.status().as_u16(), 303);
    let set = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_string();
    set.split(';').next().expect("pair").to_string()
}

pub async fn staff_get(app: &TestApp, path: &str, cookie: &str) -> (u16, String, String) {
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = http.get(app.url(path)).header("cookie", cookie).send().await.expect("send");
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (r.status().as_u16(), ct, r.text().await.expect("body"))
}

/// Let time pass (moved clock + real polling) until the receiver has what `pred` wants.
pub async fn pump(app: &TestApp, rx: &Receiver, what: &str, pred: impl Fn(&[Received]) -> bool) {
    for _ in 0..400 {
        if pred(&rx.events.lock().expect("lock")) {
            return;
        }
        app.clock.advance(chrono::Duration::seconds(5));
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    }
    panic!("timed out waiting for {what}: {:?}", rx.events.lock().expect("lock"));
}
