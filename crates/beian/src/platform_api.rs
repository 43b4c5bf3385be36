//! The host platform's sync API (`docs/platform-api.md`): `POST /api/platform/v1/events` (one
//! event, applied once per event id) and `POST /api/platform/v1/reconcile` (the host's full
//! list; beian answers what differs and changes nothing). Mounted only when `[platform_api]`
//! has keys.
//!
//! Signed as the authority bridge signs (`beian_authority_bridge::protocol`: `X-Beian-Key-Id`,
//! `X-Beian-Timestamp`, `X-Beian-Signature` = hex HMAC-SHA256 over timestamp + "\n" + body;
//! keys by id for rotation; a replay window). 401 with a JSON error for a missing, unknown or
//! wrong signature and a timestamp outside the window; 400 with `errcode`, Chinese `errmsg`
//! and the field's path for a body that is not what the document says; 503 when the database
//! cannot answer (the host retries). Never 500 for what a host sends.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use beian_authority_bridge::protocol::{
    unix_now, ErrorAnswer, Keys, Unauthenticated, DEFAULT_REPLAY_WINDOW_SECS, HEADER_KEY_ID,
    HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use beian_core::errcode;
use beian_ports::host::{EventRequest, PlatformEventOutcome, ReconcileRequest};
use beian_service::{Service, ServiceError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The protocol version every body carries.
pub const VERSION: u32 = 1;
/// A reconciliation's body may be this large (10 000 mini programs with their admins).
pub const MAX_RECONCILE_BYTES: usize = 16 * 1024 * 1024;

/// One signing key in `[platform_api] keys`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub id: String,
    pub secret: String,
}

/// `[platform_api]` in `beian.toml`. Secrets come from this file or the environment
/// (`BEIAN_PLATFORM_API_KEYS=id=secret,id=secret`), never a flag, and never print.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformApiFileConfig {
    /// `[{ id = "p1", secret = "…" }]`: any of them may sign a request.
    pub keys: Option<Vec<KeyEntry>>,
    /// Seconds a signed request stays acceptable either side of this server's clock (300).
    pub replay_window_secs: Option<u64>,
}

impl std::fmt::Debug for PlatformApiFileConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().flatten().map(|k| k.id.as_str()).collect();
        f.debug_struct("PlatformApiFileConfig").field("key_ids", &ids).finish()
    }
}

/// The sync API's effective settings (`Debug` prints key ids only).
#[derive(Debug, Clone)]
pub struct PlatformApiConfig {
    pub keys: Keys,
    pub replay_window_secs: u64,
}

impl PlatformApiConfig {
    /// The file's settings under the environment's; `None` (the API is not served) without
    /// keys. Refused for a short secret, a bad key id or a window outside 10..=3600 s.
    pub fn resolve(
        file: PlatformApiFileConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<PlatformApiConfig>, String> {
        let keys = match env("BEIAN_PLATFORM_API_KEYS").filter(|v| !v.trim().is_empty()) {
            Some(list) => Keys::parse_list(&list),
            None => Keys::new(file.keys.unwrap_or_default().into_iter().map(|k| (k.id, k.secret))),
        }
        .map_err(|e| format!("[platform_api] {e}"))?;
        if keys.is_empty() {
            return Ok(None);
        }
        let replay_window_secs = file.replay_window_secs.unwrap_or(DEFAULT_REPLAY_WINDOW_SECS);
        if !(10..=3600).contains(&replay_window_secs) {
            return Err("[platform_api] replay_window_secs must be between 10 and 3600".into());
        }
        Ok(Some(PlatformApiConfig { keys, replay_window_secs }))
    }
}

/// What `/events` answers: the event id and the outcome (the first one, for a replay).
#[derive(Debug, Serialize)]
struct EventAnswer {
    event_id: String,
    #[serde(flatten)]
    outcome: PlatformEventOutcome,
}

#[derive(Clone)]
struct Inbound {
    svc: Arc<Service>,
    config: PlatformApiConfig,
}

/// The two routes, checking signatures with the configured keys.
pub fn router(svc: Arc<Service>, config: PlatformApiConfig) -> Router {
    Router::new()
        .route("/api/platform/v1/events", post(event))
        .route(
            "/api/platform/v1/reconcile",
            post(reconcile).layer(DefaultBodyLimit::max(MAX_RECONCILE_BYTES)),
        )
        .with_state(Inbound { svc, config })
}

/// A refusal: its status and the JSON error.
struct Refusal(StatusCode, ErrorAnswer);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn answer(status: StatusCode, errcode: i64, errmsg: impl Into<String>, field: Option<String>) -> Refusal {
    Refusal(status, ErrorAnswer { errcode, errmsg: errmsg.into(), field })
}

/// The signature check every route starts with; the refusal to answer if it fails.
fn authenticate(s: &Inbound, headers: &HeaderMap, body: &[u8]) -> Result<(), Refusal> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let window = s.config.replay_window_secs;
    let verified = s.config.keys.verify(
        h(HEADER_KEY_ID),
        h(HEADER_TIMESTAMP),
        h(HEADER_SIGNATURE),
        body,
        unix_now(),
        window,
    );
    let Err(e) = verified else { return Ok(()) };
    tracing::warn!("host platform request refused: {e}");
    let (errmsg, field) = match e {
        Unauthenticated::MissingHeaders => {
            ("缺少签名：须带 X-Beian-Key-Id、X-Beian-Timestamp 和 X-Beian-Signature 请求头".to_string(), None)
        }
        Unauthenticated::UnknownKey => ("签名密钥编号未配置".to_string(), Some(HEADER_KEY_ID)),
        Unauthenticated::BadTimestamp => ("时间戳须为 Unix 秒数".to_string(), Some(HEADER_TIMESTAMP)),
        Unauthenticated::BadSignature => ("签名校验失败".to_string(), Some(HEADER_SIGNATURE)),
        Unauthenticated::Stale => (
            format!("请求时间戳超出允许范围（前后 {window} 秒），请用当前时间重新签名后发送"),
            Some(HEADER_TIMESTAMP),
        ),
    };
    Err(answer(StatusCode::UNAUTHORIZED, errcode::INVALID_INPUT, errmsg, field.map(str::to_string)))
}

/// Read a body as `T`, or the 400 naming the field's path.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        answer(
            StatusCode::BAD_REQUEST,
            errcode::INVALID_INPUT,
            format!("请求格式错误（{field}）：{}", e.inner()),
            Some(field),
        )
    })
}

/// The shapes of the events' fields, read only to name the path of a bad field: serde reads
/// a tagged enum through a buffer, which loses the path below `event`.
mod shapes {
    use beian_core::model::Person;
    use beian_core::state::ReadinessFlags;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub struct Upserted {
        appid: String,
        name: String,
        flags: ReadinessFlags,
        listed: bool,
        owner: String,
        #[serde(default)]
        admin: Option<Person>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub struct AdminChanged {
        appid: String,
        name: String,
        id_number: String,
        mobile: String,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub struct Appid {
        appid: String,
    }
}

/// The 400 naming the bad field inside `event` (`event.flags.certified`), when there is one.
fn event_field(body: &[u8]) -> Option<Refusal> {
    fn check<T: serde::de::DeserializeOwned>(event: serde_json::Value) -> Option<Refusal> {
        let e = serde_path_to_error::deserialize::<_, T>(event).err()?;
        let path = e.path().to_string();
        let field = if path == "." { "event".to_string() } else { format!("event.{path}") };
        let errmsg = format!("请求格式错误（{field}）：{}", e.inner());
        Some(answer(StatusCode::BAD_REQUEST, errcode::INVALID_INPUT, errmsg, Some(field)))
    }
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut event = body.get("event")?.clone();
    let kind = event.as_object_mut()?.remove("type")?;
    match kind.as_str()? {
        "mini_program_upserted" => check::<shapes::Upserted>(event),
        "admin_changed" => check::<shapes::AdminChanged>(event),
        "listed" | "delisted" | "deleted" => check::<shapes::Appid>(event),
        _ => None,
    }
}

fn check_version(version: u32) -> Result<(), Refusal> {
    if version == VERSION {
        return Ok(());
    }
    Err(answer(
        StatusCode::BAD_REQUEST,
        errcode::INVALID_INPUT,
        "请求的协议版本不受支持：version 须为 1",
        Some("version".into()),
    ))
}

/// A service error: a refusal or hint is the host's (400), anything else is beian's (503).
fn service_error(e: ServiceError, what: &str) -> Refusal {
    match e {
        ServiceError::Refused { errcode, errmsg } => answer(StatusCode::BAD_REQUEST, errcode, errmsg, None),
        ServiceError::Hints(hints) => match hints.into_iter().next() {
            Some(h) => answer(StatusCode::BAD_REQUEST, h.errcode, h.errmsg, Some(h.err_field)),
            None => answer(StatusCode::BAD_REQUEST, errcode::INVALID_INPUT, "请求不被接受", None),
        },
        e => {
            tracing::error!("host platform {what}: {e}");
            answer(StatusCode::SERVICE_UNAVAILABLE, errcode::SYSTEM_ERROR, "系统繁忙，请稍后重试", None)
        }
    }
}

async fn event(State(s): State<Inbound>, headers: HeaderMap, body: Bytes) -> Result<Response, Refusal> {
    authenticate(&s, &headers, &body)?;
    let parsed: EventRequest = parse(&body).map_err(|r| event_field(&body).unwrap_or(r))?;
    check_version(parsed.version)?;
    match s.svc.mini_programs().receive_platform_event(&parsed.event_id, &parsed.event).await {
        Ok(outcome) => {
            Ok(Json(EventAnswer { event_id: parsed.event_id.to_string(), outcome }).into_response())
        }
        Err(e) => Err(service_error(e, "event")),
    }
}

async fn reconcile(State(s): State<Inbound>, headers: HeaderMap, body: Bytes) -> Result<Response, Refusal> {
    authenticate(&s, &headers, &body)?;
    let parsed: ReconcileRequest = parse(&body)?;
    check_version(parsed.version)?;
    match s.svc.mini_programs().reconcile(&parsed.mini_programs).await {
        Ok(answer) => Ok(Json(answer).into_response()),
        Err(e) => Err(service_error(e, "reconcile")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn keys_come_from_the_file_or_the_environment_and_never_print() {
        let none = PlatformApiConfig::resolve(PlatformApiFileConfig::default(), |_| None).expect("no keys");
        assert!(none.is_none(), "no keys: not served");
        let file = PlatformApiFileConfig {
            keys: Some(vec![KeyEntry { id: "p1".into(), secret: SECRET.into() }]),
            replay_window_secs: None,
        };
        let c = PlatformApiConfig::resolve(file, |_| None).expect("valid").expect("served");
        assert_eq!((c.keys.ids(), c.replay_window_secs), (vec!["p1".to_string()], 300));
        assert!(!format!("{c:?}").contains(SECRET));
        let env = |k: &str| (k == "BEIAN_PLATFORM_API_KEYS").then(|| format!("p2={SECRET}"));
        let c =
            PlatformApiConfig::resolve(PlatformApiFileConfig::default(), env).expect("valid").expect("on");
        assert_eq!(c.keys.ids(), vec!["p2".to_string()]);
        let short = PlatformApiFileConfig {
            keys: Some(vec![KeyEntry { id: "p1".into(), secret: "short".into() }]),
            replay_window_secs: None,
        };
        let err = PlatformApiConfig::resolve(short, |_| None).expect_err("short secret");
        assert!(err.contains("p1") && !err.contains("short"), "{err}");
    }
}
