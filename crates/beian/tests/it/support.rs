//! Harness for HTTP tests: the real server on a random port with a moved clock, a provider
//! whose events go to a receiver the test runs, and shortcuts to authorized tokens.

use beian::app::{open_service, Application};
use beian::config::{Config, ConfigArgs};
use beian_core::state::ReadinessFlags;
use beian_service::{Actor, ManualClock, MiniProgramInput, ProviderCredentials, Service};
use beian_wxcrypt::WxCrypt;
use chrono::{TimeZone, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub svc: Arc<Service>,
    pub clock: Arc<ManualClock>,
    /// The PostgreSQL URL (with its schema) when the backend is PostgreSQL.
    pub database_url: Option<String>,
    pub _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn start(backend: Backend, per_minute_limit: u32) -> TestApp {
        TestApp::start_with(backend, per_minute_limit, beian_jobs::Channels::default()).await
    }

    pub async fn start_with(
        backend: Backend,
        per_minute_limit: u32,
        channels: beian_jobs::Channels,
    ) -> TestApp {
        TestApp::start_configured(backend, per_minute_limit, channels, Default::default()).await
    }

    /// With the public pages' per-client limits too.
    pub async fn start_configured(
        backend: Backend,
        per_minute_limit: u32,
        channels: beian_jobs::Channels,
        web_limits: beian_web::limits::WebLimitsConfig,
    ) -> TestApp {
        TestApp::start_full(backend, per_minute_limit, channels, web_limits, Default::default()).await
    }

    /// With `/metrics` readable with `Authorization: Bearer <metrics_token>`.
    pub async fn start_with_metrics(backend: Backend, metrics_token: &str) -> TestApp {
        let metrics = beian::metrics::MetricsAccess::with_token(metrics_token);
        TestApp::start_full(backend, 1000, Default::default(), Default::default(), metrics).await
    }

    async fn start_full(
        backend: Backend,
        per_minute_limit: u32,
        channels: beian_jobs::Channels,
        web_limits: beian_web::limits::WebLimitsConfig,
        metrics: beian::metrics::MetricsAccess,
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
            ..ConfigArgs::default()
        };
        let config = Config::resolve(&args).expect("config");
        // Monday 2026-03-02 10:00 Beijing time.
        let clock =
            Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().expect("time")));
        let svc = open_service(&config, clock.clone()).await.expect("service");
        // Deadlines far away, so the automatic clearance sweep stays out of tests that do not
        // ask for it.
        let mut policy = (*svc.policy()).clone();
        policy.deadline_date = chrono::NaiveDate::from_ymd_opt(2099, 3, 31).expect("date");
        policy.clearance_date = chrono::NaiveDate::from_ymd_opt(2099, 4, 1).expect("date");
        svc.set_policy(&Actor::new("test", "setup"), policy).await.expect("policy");
        let app = Application::with_service(&config.listen, svc.clone())
            .await
            .expect("bind")
            .with_api_config(beian_api::ApiConfig { per_minute_limit })
            .with_worker_poll(std::time::Duration::from_millis(20))
            .with_channels(channels)
            .with_web_limits(web_limits)
            .with_metrics(metrics);
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run(async {
            let _ = rx.await;
        }));
        TestApp { base, svc, clock, database_url, _dir: dir, stop: Some(stop), server: Some(server) }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.expect("join").expect("server stopped cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

pub async fn pg_schema_url() -> String {
    let base = std::env::var("BEIAN_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!(
        "t_http_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    );
    let status = tokio::process::Command::new("psql")
        .args([base.as_str(), "-qc", &format!("CREATE SCHEMA {schema}")])
        .status()
        .await
        .expect("psql must be installed (PostgreSQL client)");
    assert!(status.success(), "create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
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

pub fn admin_id(n: u32) -> String {
    let body = format!("440305{}{:03}", "19900101", 100 + n);
    let check = beian_core::ident::resident_id_check_char(&body).expect("17 digits");
    format!("{body}{check}")
}

pub async fn register(app: &TestApp, appid: &str, n: u32) {
    app.svc
        .register_mini_program(
            &Actor::new("test", "http"),
            MiniProgramInput {
                appid: appid.into(),
                name: format!("测试小程序{n}"),
                admin_name: format!("管理员{n}"),
                admin_id_number: admin_id(n),
                admin_mobile: format!("138{:08}", 10_000_000 + n),
                flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
                listed: true,
                owner: String::new(),
            },
        )
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
        .create_provider(&Actor::new("test", "op"), "测试服务商", "http://127.0.0.1:9/events")
        .await
        .expect("provider");
    let (pre, _) = app.svc.create_pre_auth_code(&creds.component_appid).await.expect("pre");
    let id = admin_id(n);
    let (code, _) = app
        .svc
        .authorize_provider(
            &creds.component_appid,
            &pre,
            appid,
            &format!("138{:08}", 10_000_000 + n),
            &id[12..],
            scopes,
        )
        .await
        .expect("authorize");
    let t = app.svc.query_auth(&creds.component_appid, &code).await.expect("query auth");
    (creds, t.access_token)
}

pub const JPEG: &[u8] =
    &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9];

pub fn admin_mobile(n: u32) -> String {
    format!("138{:08}", 10_000_000 + n)
}

/// A valid personal application by admin `n` for `appid`, submitted through the service.
pub async fn apply_personal(app: &TestApp, appid: &str, n: u32) {
    let payload = personal_payload(&app.svc, appid, n).await;
    app.svc.apply(&Actor::new("test", "apply"), appid, payload).await.expect("apply");
}

/// The materials (uploaded), the finished face task and the application of admin `n`.
pub async fn personal_payload(svc: &Service, appid: &str, n: u32) -> beian_core::payload::ApplyPayload {
    let actor = Actor::new("test", "apply");
    let mut media = Vec::new();
    for field in [
        "icp_subject.principal_info.certificate_photo_front",
        "icp_subject.principal_info.certificate_photo_back",
    ] {
        let up = beian_service::MediaUpload {
            media_type: "image".into(),
            certificate_type: Some(2),
            icp_order_field: field.into(),
            bytes: JPEG.to_vec(),
        };
        media.push(svc.upload_media(&actor, appid, up).await.expect("upload").media_id);
    }
    let task = svc.create_face_task(&actor, appid).await.expect("task");
    svc.finish_face_task(&actor, &task.task_id, true).await.expect("face");
    let id = admin_id(n);
    let principal = serde_json::json!({
        "name": format!("管理员{n}"), "mobile": admin_mobile(n), "email": format!("admin{n}@example.com"),
        "emergency_contact": format!("139{:08}", 10_000_000 + n), "certificate_type": 2, "certificate_number": id,
        "certificate_validity_date_start": "20200101", "certificate_validity_date_end": "长期",
        "certificate_photo_front": media[0], "certificate_photo_back": media[1]
    });
    let mut ap = principal.clone();
    ap["verify_task_id"] = task.task_id.into();
    serde_json::from_value(serde_json::json!({
        "icp_subject": {
            "base_info": {"type": 5, "name": format!("管理员{n}"), "province": "440000", "city": "440300", "district": "440305", "address": "科技园路1号A座101室"},
            "organize_info": {"certificate_type": 2, "certificate_number": id, "certificate_address": "广东省深圳市南山区科技园路1号A座101室"},
            "principal_info": principal
        },
        "icp_applets": {
            "base_info": {"service_content_types": [1], "nrlx_details": [{"type": 24}],
                          "comment": "本小程序提供读书笔记记录、书单整理与阅读进度管理服务，不涉及交易。"},
            "principal_info": ap
        },
        "icp_materials": {}
    }))
    .expect("payload")
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
    let out = app.svc.sms_outbox(Some(phone), 20).await.expect("outbox");
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

/// A minimal SMTP server on 127.0.0.1 that accepts every message and records
/// (recipient, raw DATA). Stops with the test's runtime.
pub async fn smtp_server() -> (u16, Arc<Mutex<Vec<(String, String)>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
    let port = listener.local_addr().expect("addr").port();
    let mail = Arc::new(Mutex::new(Vec::new()));
    let store = mail.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 test ESMTP\r\n").await;
                let (mut rcpt, mut data, mut in_data) = (String::new(), String::new(), false);
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            store.lock().expect("lock").push((rcpt.clone(), std::mem::take(&mut data)));
                            let _ = w.write_all(b"250 queued\r\n").await;
                        } else {
                            data.push_str(&line);
                            data.push('\n');
                        }
                        continue;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-test\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        rcpt = line[8..].trim().trim_matches(|c| c == '<' || c == '>').to_string();
                        b"250 ok\r\n"
                    } else if upper.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = w.write_all(reply).await;
                }
            });
        }
    });
    (port, mail)
}

/// An HTTP receiver on 127.0.0.1 recording every JSON body POSTed to `/hook`.
pub async fn hook_server() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let store = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                store
                    .lock()
                    .expect("lock")
                    .push(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind hook");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got)
}
