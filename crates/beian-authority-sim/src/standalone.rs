//! The simulator as a separate process that speaks the bridge protocol
//! (`beian simulator serve`): the stand-in for a platform's bridge in development and in the
//! contract tests, so the platform and "the authority" talk over real HTTP.
//!
//! It receives signed operations on `POST /v1/operations` and runs the same [`Simulator`]
//! over its own SQLite database in its data directory, with its own [`AuthorityOutbox`] —
//! its clock (the wall clock plus an offset its control API moves), texts into its own
//! outbox table and timers in its own job table, worked by a loop here — and a
//! [`SignedInbox`] that POSTs signed events to the platform. It serves its own `/miit/verify`
//! page and a control API under `/control/` (settings, clock, SMS outbox, received
//! operations, decisions, refusals) for tests and operators.
//!
//! The control API has no authentication: it is a simulator's, for a private address
//! (`127.0.0.1`); the protocol endpoint checks every signature.

use crate::{Decision, SimError, Simulator, SimulatorSettings, VerifyOutcome};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use beian_authority_bridge::protocol::{unix_now, ErrorAnswer, Keys, OperationEnvelope, VERSION};
use beian_authority_bridge::SignedInbox;
use beian_core::errcode;
use beian_core::numbering::IssuedNumbers;
use beian_ports::authority::{AuthorityGateway, AuthorityOutbox, Timer};
use beian_ports::{BoxFuture, PortError, PortResult};
use beian_store::{Crypto, Store};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the standalone simulator runs.
#[derive(Debug, Clone)]
pub struct StandaloneConfig {
    /// Where it listens (`127.0.0.1:8090`; port 0 picks one).
    pub listen: String,
    /// The platform's base URL (events go to `{platform_url}/api/authority/events`).
    pub platform_url: String,
    /// Its database (`simulator.db`) and master key (`secret.key`).
    pub data_dir: PathBuf,
    /// The keys shared with the platform: operations must be signed with one of them.
    pub keys: Keys,
    /// The key its events are signed with.
    pub key_id: String,
    /// Seconds a signed operation stays acceptable (300).
    pub replay_window_secs: u64,
    /// Where principals reach its verification page (links in its texts); default the
    /// address it listens on.
    pub public_url: Option<String>,
}

/// Job kinds in its own queue.
const JOB_SMS: &str = "sim_sms";
const JOB_TIMER: &str = "sim_timer";
const MAX_ATTEMPTS: u32 = 10;

/// Its clock: the wall clock moved by the control API.
#[derive(Default)]
struct SimClock {
    offset: AtomicI64,
}

impl SimClock {
    fn now(&self) -> i64 {
        unix_now() + self.offset.load(Ordering::SeqCst)
    }
}

/// What the simulator does "for itself" here: texts into its own outbox, timers as its own
/// jobs, its own clock.
struct LocalOutbox {
    store: Store,
    clock: Arc<SimClock>,
    public_url: String,
}

impl LocalOutbox {
    async fn enqueue(&self, kind: &str, payload: String, key: String, at: i64) -> PortResult<()> {
        let now = self.clock.now();
        let retry = |e: beian_store::StoreError| PortError::Retry(e.to_string());
        let mut tx = self.store.begin().await.map_err(retry)?;
        tx.jobs().enqueue(kind, &payload, Some(&key), at, MAX_ATTEMPTS, now).await.map_err(retry)?;
        tx.commit().await.map_err(retry)
    }
}

impl AuthorityOutbox for LocalOutbox {
    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The standalone simulator keeps the built-in calendar (it stands in for the authority,
    /// whose calendar is the State Council's; the platform's operators keep theirs).
    fn add_working_days(&self, start: chrono::NaiveDate, n: u32) -> chrono::NaiveDate {
        beian_core::calendar::WorkCalendar::china().add_working_days(start, n)
    }

    fn public_url(&self) -> String {
        self.public_url.clone()
    }

    fn send_sms(&self, key: String, phone: String, text: String) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(async move {
            let payload = serde_json::json!({ "phone": phone, "text": text }).to_string();
            self.enqueue(JOB_SMS, payload, key, self.clock.now()).await
        })
    }

    fn schedule(&self, key: String, at: i64, timer: Timer) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(async move {
            let payload = serde_json::to_string(&timer).map_err(|e| PortError::Retry(e.to_string()))?;
            self.enqueue(JOB_TIMER, payload, key, at).await
        })
    }
}

#[derive(Clone)]
struct AppState {
    sim: Arc<Simulator>,
    store: Store,
    clock: Arc<SimClock>,
    keys: Keys,
    window: u64,
}

/// A running standalone simulator.
pub struct Standalone {
    listener: tokio::net::TcpListener,
    state: AppState,
}

impl Standalone {
    /// Open (and migrate) its database, bind its address.
    pub async fn start(config: StandaloneConfig) -> anyhow::Result<Standalone> {
        use anyhow::Context;
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let crypto = key(&config.data_dir)?;
        let url = format!("sqlite://{}", config.data_dir.join("simulator.db").display());
        let store = Store::connect(&url, crypto).await.with_context(|| format!("opening {url}"))?;
        store.migrate().await.context("migrating the simulator's database")?;
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        anyhow::ensure!(config.keys.contains(&config.key_id), "key {} is not among the keys", config.key_id);
        let clock = Arc::new(SimClock::default());
        let outbox = LocalOutbox {
            store: store.clone(),
            clock: clock.clone(),
            public_url: config.public_url.clone().unwrap_or_else(|| format!("http://{addr}")),
        };
        let inbox = SignedInbox::new(&config.platform_url, config.keys.clone(), &config.key_id);
        let sim = Arc::new(Simulator::new(store.clone(), Arc::new(inbox), Arc::new(outbox)));
        let state = AppState { sim, store, clock, keys: config.keys, window: config.replay_window_secs };
        Ok(Standalone { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve, with its timer loop beside the server, until `shutdown` resolves.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(work(self.state.clone(), stop_rx));
        let app = router(self.state.clone());
        let served = axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await;
        let _ = stop_tx.send(true);
        let _ = worker.await;
        self.state.store.close().await;
        Ok(served?)
    }
}

/// The master key of its own database: `secret.key` in its data directory, created once.
fn key(dir: &std::path::Path) -> anyhow::Result<Crypto> {
    use anyhow::Context;
    let path = dir.join("secret.key");
    if !path.exists() {
        let key = Crypto::generate_hex();
        write_private(&path, &key).with_context(|| format!("writing {}", path.display()))?;
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Crypto::from_hex(&text).with_context(|| format!("{} is not a valid key", path.display()))
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

/// The timer loop: texts into the outbox, due timers to the simulator; failures back off.
async fn work(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let worker = "standalone-simulator";
    loop {
        if *stop.borrow() {
            return;
        }
        let worked = match run_one(&state, worker).await {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("simulator timer loop: {e}");
                false
            }
        };
        if !worked {
            tokio::select! {
                _ = stop.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }
}

async fn run_one(state: &AppState, worker: &str) -> Result<bool, SimError> {
    let now = state.clock.now();
    let job = {
        let mut tx = state.store.begin().await?;
        let job = tx.jobs().claim(worker, now, 120).await?;
        tx.commit().await?;
        job
    };
    let Some(job) = job else { return Ok(false) };
    let outcome: Result<(), String> = match job.kind.as_str() {
        JOB_SMS => match serde_json::from_str::<HashMap<String, String>>(&job.payload) {
            Ok(m) => {
                let mut tx = state.store.begin().await?;
                let phone = m.get("phone").cloned().unwrap_or_default();
                tx.outbox().insert(&phone, m.get("text").map(String::as_str).unwrap_or(""), now).await?;
                tx.commit().await?;
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
        JOB_TIMER => match serde_json::from_str::<Timer>(&job.payload) {
            Ok(t) => state.sim.fire(t).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        other => Err(format!("unknown job kind {other}")),
    };
    let mut tx = state.store.begin().await?;
    match outcome {
        Ok(()) => {
            tx.jobs().complete(job.id, worker, now).await?;
        }
        Err(e) => {
            let retry_at = (job.attempts < job.max_attempts)
                .then(|| now + beian_core::platform::backoff_secs(job.attempts));
            tracing::warn!(job = job.id, kind = %job.kind, "simulator job failed: {e}");
            tx.jobs().fail(job.id, worker, &e, retry_at, now).await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/operations", post(operations))
        .route("/miit/verify", get(verify_page).post(verify_submit))
        .route("/control/settings", get(get_settings).put(put_settings))
        .route("/control/clock", get(clock))
        .route("/control/clock/advance", post(advance))
        .route("/control/sms", get(sms))
        .route("/control/operations", get(received))
        .route("/control/decide", post(decide))
        .route("/control/refuse", post(refuse))
        .route("/control/numbers", get(numbers))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

fn refusal(status: StatusCode, errcode: i64, errmsg: impl Into<String>, field: Option<&str>) -> Response {
    let answer = ErrorAnswer { errcode, errmsg: errmsg.into(), field: field.map(str::to_string) };
    (status, Json(answer)).into_response()
}

fn sim_error(e: SimError) -> Response {
    match e {
        SimError::Refused { errcode, errmsg } => refusal(StatusCode::BAD_REQUEST, errcode, errmsg, None),
        SimError::Internal(m) => {
            tracing::error!("simulator: {m}");
            refusal(StatusCode::SERVICE_UNAVAILABLE, errcode::SYSTEM_ERROR, "系统繁忙，请稍后再试", None)
        }
    }
}

/// `POST /v1/operations`: a signed [`OperationEnvelope`].
async fn operations(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    use beian_authority_bridge::protocol::{HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
    if let Err(e) =
        s.keys.verify(h(HEADER_KEY_ID), h(HEADER_TIMESTAMP), h(HEADER_SIGNATURE), &body, unix_now(), s.window)
    {
        let status = if e == beian_authority_bridge::protocol::Unauthenticated::Stale {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNAUTHORIZED
        };
        return refusal(status, errcode::INVALID_INPUT, format!("签名校验失败：{e}"), None);
    }
    let envelope: OperationEnvelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                errcode::INVALID_INPUT,
                format!("报文格式错误：{e}"),
                None,
            )
        }
    };
    if envelope.version != VERSION {
        return refusal(StatusCode::BAD_REQUEST, errcode::INVALID_INPUT, "不支持的协议版本", Some("version"));
    }
    match s.sim.submit(envelope.operation).await {
        Ok(()) => Json(serde_json::json!({ "operation_id": envelope.operation_id, "accepted": true }))
            .into_response(),
        Err(PortError::Refused(m)) => refusal(StatusCode::BAD_REQUEST, errcode::INVALID_INPUT, m, None),
        Err(PortError::Retry(m)) => {
            tracing::warn!(operation = %envelope.operation_id, "operation not taken now: {m}");
            refusal(StatusCode::SERVICE_UNAVAILABLE, errcode::SYSTEM_ERROR, "系统繁忙，请稍后重试", None)
        }
    }
}

fn page(message: Option<(&str, bool)>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head { meta charset="utf-8"; title { "ICP备案短信核验" } }
            body {
                h1 { "ICP备案短信核验（模拟工信部）" }
                p { "收到“【工信部ICP备案】验证码”短信的负责人，请在24小时内输入手机号、身份证号后6位和验证码。验证码错误5次后本次核验失败。" }
                @match message {
                    Some((m, true)) => { p role="status" { strong { (m) } } },
                    Some((m, false)) => { p.error role="alert" { (m) } },
                    None => {},
                }
                form method="post" {
                    p { label { "手机号 " input name="phone" required inputmode="numeric" maxlength="11"; } }
                    p { label { "身份证号后6位 " input name="id_last6" required maxlength="6"; } }
                    p { label { "短信验证码 " input name="code" required inputmode="numeric" maxlength="6"; } }
                    p { button type="submit" { "提交核验" } }
                }
                p { small { "这是 beian 管局模拟器（独立进程）的页面；真实管局由管局系统提供核验。" } }
            }
        }
    }
}

async fn verify_page() -> Markup {
    page(None)
}

async fn verify_submit(
    State(s): State<AppState>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    match s.sim.verify(&get("phone"), &get("id_last6"), &get("code")).await {
        Ok(VerifyOutcome::Verified { complete, .. }) => {
            let msg = if complete {
                "核验成功，备案已进入管局审核。"
            } else {
                "核验成功。还有其他负责人需要完成核验。"
            };
            page(Some((msg, true))).into_response()
        }
        Err(SimError::Refused { errmsg, .. }) => {
            (StatusCode::BAD_REQUEST, page(Some((&errmsg, false)))).into_response()
        }
        Err(SimError::Internal(m)) => {
            tracing::error!("verification page: {m}");
            (StatusCode::SERVICE_UNAVAILABLE, page(Some(("系统繁忙，请稍后再试", false)))).into_response()
        }
    }
}

async fn get_settings(State(s): State<AppState>) -> Response {
    match s.sim.settings().await {
        Ok(x) => Json(x).into_response(),
        Err(e) => sim_error(e),
    }
}

async fn put_settings(State(s): State<AppState>, body: Bytes) -> Response {
    let settings: SimulatorSettings = match serde_json::from_slice(&body) {
        Ok(x) => x,
        Err(e) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                errcode::INVALID_INPUT,
                format!("设置格式错误：{e}"),
                None,
            )
        }
    };
    match s.sim.set_settings("control", &settings).await {
        Ok(()) => Json(settings).into_response(),
        Err(e) => sim_error(e),
    }
}

async fn clock(State(s): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "now": s.clock.now() }))
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

/// Move its clock forward (never back): its timers fall due.
async fn advance(State(s): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<Advance>(&body) {
        Ok(a) if a.seconds >= 0 => {
            s.clock.offset.fetch_add(a.seconds, Ordering::SeqCst);
            Json(serde_json::json!({ "now": s.clock.now() })).into_response()
        }
        _ => {
            refusal(StatusCode::BAD_REQUEST, errcode::INVALID_INPUT, "seconds 须为非负整数", Some("seconds"))
        }
    }
}

async fn sms(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let listed = async {
        let mut tx = s.store.read().await?;
        tx.outbox().list(q.get("phone").map(String::as_str), 100).await
    };
    match listed.await {
        Ok(list) => Json(serde_json::json!({
            "messages": list.iter().map(|m| serde_json::json!({
                "phone": m.phone, "text": m.text, "created_at": m.created_at,
            })).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => sim_error(e.into()),
    }
}

async fn received(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(appid) = q.get("appid") else {
        return refusal(StatusCode::BAD_REQUEST, errcode::INVALID_INPUT, "缺少 appid", Some("appid"));
    };
    match s.sim.submissions(appid).await {
        Ok(list) => Json(serde_json::json!({ "operations": list })).into_response(),
        Err(e) => sim_error(e),
    }
}

#[derive(Deserialize)]
struct DecideBody {
    appid: String,
    /// `approve` or `reject`.
    outcome: String,
    /// Approve with these numbers instead of minting (both or neither).
    subject_number: Option<String>,
    service_number: Option<String>,
    /// Reject with these reasons (default: the settings').
    reasons: Option<Vec<beian_core::model::AuditItem>>,
}

/// Decide the held filing now; answers the platform's receipt and the numbers issued.
async fn decide(State(s): State<AppState>, body: Bytes) -> Response {
    let b: DecideBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return refusal(StatusCode::BAD_REQUEST, errcode::INVALID_INPUT, format!("格式错误：{e}"), None)
        }
    };
    let decision = match b.outcome.as_str() {
        "approve" => match (b.subject_number, b.service_number) {
            (Some(subject_number), Some(service_number)) => {
                Decision::Approve(Some(IssuedNumbers { subject_number, service_number }))
            }
            (None, None) => Decision::Approve(None),
            _ => {
                return refusal(
                    StatusCode::BAD_REQUEST,
                    errcode::INVALID_INPUT,
                    "主体备案号和服务备案号须同时给出",
                    Some("service_number"),
                )
            }
        },
        "reject" => match b.reasons {
            Some(r) => Decision::Reject(r),
            None => match s.sim.settings().await {
                Ok(st) => Decision::Reject(st.reject_reasons),
                Err(e) => return sim_error(e),
            },
        },
        _ => {
            return refusal(
                StatusCode::BAD_REQUEST,
                errcode::INVALID_INPUT,
                "outcome 只能是 approve 或 reject",
                Some("outcome"),
            )
        }
    };
    let receipt = match s.sim.decide_now(&b.appid, decision).await {
        Ok(r) => r,
        Err(e) => return sim_error(e),
    };
    let round = match s.sim.held(&b.appid).await {
        Ok(h) => h.round,
        Err(e) => return sim_error(e),
    };
    let numbers = match s.sim.issued_numbers(&b.appid, round).await {
        Ok(n) => n,
        Err(e) => return sim_error(e),
    };
    Json(serde_json::json!({ "receipt": format!("{receipt:?}").to_lowercase(), "round": round, "numbers": numbers }))
        .into_response()
}

#[derive(Deserialize)]
struct RefuseBody {
    appid: String,
    code: String,
    reason: String,
}

async fn refuse(State(s): State<AppState>, body: Bytes) -> Response {
    let b: RefuseBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return refusal(StatusCode::BAD_REQUEST, errcode::INVALID_INPUT, format!("格式错误：{e}"), None)
        }
    };
    match s.sim.refuse(&b.appid, &b.code, &b.reason).await {
        Ok(r) => Json(serde_json::json!({ "receipt": format!("{r:?}").to_lowercase() })).into_response(),
        Err(e) => sim_error(e),
    }
}

async fn numbers(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (Some(appid), Some(round)) = (q.get("appid"), q.get("round").and_then(|r| r.parse::<u32>().ok()))
    else {
        return refusal(StatusCode::BAD_REQUEST, errcode::INVALID_INPUT, "须给出 appid 和 round", None);
    };
    match s.sim.issued_numbers(appid, round).await {
        Ok(n) => Json(serde_json::json!({ "numbers": n })).into_response(),
        Err(e) => sim_error(e),
    }
}
