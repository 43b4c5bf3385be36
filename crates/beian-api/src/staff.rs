//! The reviewer and operator JSON API (`/api/review/*`, `/api/operator/*`), authenticated
//! with staff bearer tokens (`beian staff add`). The reviewer console sits on it.
//!
//! Unlike the WeChat surface this one uses HTTP status codes: 400 bad input, 401 no/invalid
//! token, 403 wrong role, 404 unknown, 409 conflict (another reviewer, a stale version, a
//! state that moved). Bodies are `{"errcode", "errmsg"}` on errors, as everywhere.

use crate::wire::json_body;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use beian_authority_sim::{SimError, Simulator, SimulatorSettings};
use beian_core::errcode;
use beian_core::platform::{JobState, Reason, Role, Staff};
use beian_service::review::RejectReason;
use beian_service::{Actor, ServiceError};
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/review/queue", get(queue))
        .route("/api/review/reasons", get(reasons))
        .route("/api/review/orders/{appid}", get(order))
        .route("/api/review/orders/{appid}/claim", post(claim))
        .route("/api/review/orders/{appid}/release", post(release))
        .route("/api/review/orders/{appid}/approve", post(approve))
        .route("/api/review/orders/{appid}/reject", post(reject))
        .route("/api/operator/reasons", post(save_reason))
        .route("/api/operator/policy", get(get_policy).put(put_policy))
        .route("/api/operator/jobs", get(jobs))
        .route("/api/operator/jobs/{id}/retry", post(retry_job))
        .route("/api/operator/sms-outbox", get(outbox))
        .route("/api/operator/sweep", post(sweep))
        .route("/api/operator/providers", post(create_provider))
        .route("/api/operator/mini-programs", post(register_mini_program))
        .route("/api/operator/mini-programs/{appid}/list", post(list_mini_program))
        .route("/api/operator/mini-programs/{appid}/personal-data", get(export_personal_data))
}

/// The simulator's operator API: mounted only when the simulator is the authority gateway.
pub fn simulator_routes() -> Router<AppState> {
    Router::new()
        .route("/api/operator/simulator", get(get_simulator).put(put_simulator))
        .route("/api/operator/simulator/advance", post(advance))
}

/// The simulator, or 404 (it is not the configured gateway).
fn sim(s: &AppState) -> Result<&Simulator, ApiError> {
    s.sim
        .as_deref()
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, errcode::INVALID_INPUT, "没有管局模拟器".into()))
}

pub(crate) struct ApiError(StatusCode, i64, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "errcode": self.1, "errmsg": self.2 }))).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Refused { errcode, errmsg } => {
                let status = match errcode {
                    errcode::CONFLICT
                    | errcode::WRONG_REVIEW_STATE
                    | errcode::UNDER_REVIEW
                    | errcode::NO_CANCELLATION => StatusCode::CONFLICT,
                    errcode::INVALID_CREDENTIAL => StatusCode::UNAUTHORIZED,
                    errcode::UNKNOWN_APPID => StatusCode::NOT_FOUND,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError(status, errcode, errmsg)
            }
            ServiceError::Hints(h) => ApiError(
                StatusCode::BAD_REQUEST,
                errcode::APPLY_FAIL,
                format!("{} 个字段不符合要求", h.len()),
            ),
            ServiceError::Conflict(_) => {
                ApiError(StatusCode::CONFLICT, errcode::CONFLICT, "并发冲突，请重试".into())
            }
            ServiceError::Internal(m) => {
                tracing::error!("staff API: {m}");
                ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    errcode::SYSTEM_ERROR,
                    "系统繁忙，请稍后再试".into(),
                )
            }
        }
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// The simulator's refusals and failures answer like the service's.
pub(crate) fn sim_error(e: SimError) -> ServiceError {
    match e {
        SimError::Refused { errcode, errmsg } => ServiceError::Refused { errcode, errmsg },
        SimError::Internal(m) => ServiceError::Internal(m),
    }
}

fn bad(msg: &str) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, errcode::INVALID_INPUT, msg.into())
}

async fn staff(s: &AppState, headers: &HeaderMap, need: Role) -> Result<Staff, ApiError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| {
            ApiError(
                StatusCode::UNAUTHORIZED,
                errcode::ACCESS_TOKEN_MISSING,
                "请在 Authorization 头中携带 Bearer 令牌".into(),
            )
        })?;
    let st = s.svc.review().staff_for_token(token).await?;
    if need == Role::Operator && st.role != Role::Operator {
        return Err(ApiError(StatusCode::FORBIDDEN, errcode::API_UNAUTHORIZED, "需要运营人员权限".into()));
    }
    Ok(st)
}

fn body(b: &Bytes) -> Result<Value, ApiError> {
    json_body(b).map_err(|_| bad("请求体须为 JSON 对象"))
}

fn version_of(v: &Value) -> Result<Option<i64>, ApiError> {
    match v.get("version") {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x.as_i64().map(Some).ok_or_else(|| bad("version 须为整数（队列或详情中的 version）")),
    }
}

async fn queue(State(s): State<AppState>, headers: HeaderMap) -> ApiResult {
    staff(&s, &headers, Role::Reviewer).await?;
    let items = s.svc.review().review_queue(500).await?;
    Ok(Json(json!({ "errcode": 0, "items": items })))
}

async fn reasons(State(s): State<AppState>, headers: HeaderMap) -> ApiResult {
    staff(&s, &headers, Role::Reviewer).await?;
    Ok(Json(json!({ "errcode": 0, "items": s.svc.review().reasons().await? })))
}

async fn order(State(s): State<AppState>, headers: HeaderMap, Path(appid): Path<String>) -> ApiResult {
    staff(&s, &headers, Role::Reviewer).await?;
    let Some(v) = s.svc.filings().order(&appid).await? else {
        return Err(ApiError(StatusCode::NOT_FOUND, errcode::UNKNOWN_APPID, "该小程序没有备案订单".into()));
    };
    let current = s.svc.filings().submitted_version(&appid, v.order.versions).await?;
    let previous = s.svc.filings().baseline_version(&v.order).await?;
    let trail = s.svc.audit_trail(beian_core::model::AuditEntity::Filing, &appid).await?;
    Ok(Json(json!({
        "errcode": 0,
        "status": v.status,
        "order": v.order,
        "version": v.order.row_version,
        "application": current,
        "previous_application": previous,
        "audit_trail": trail,
    })))
}

async fn claim(State(s): State<AppState>, headers: HeaderMap, Path(appid): Path<String>) -> ApiResult {
    let st = staff(&s, &headers, Role::Reviewer).await?;
    let v = s.svc.review().claim(&st, &appid, false).await?;
    Ok(Json(json!({ "errcode": 0, "claimed_by": v.order.claimed_by, "version": v.order.row_version })))
}

async fn release(State(s): State<AppState>, headers: HeaderMap, Path(appid): Path<String>) -> ApiResult {
    let st = staff(&s, &headers, Role::Reviewer).await?;
    let v = s.svc.review().claim(&st, &appid, true).await?;
    Ok(Json(json!({ "errcode": 0, "version": v.order.row_version })))
}

async fn approve(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    b: Bytes,
) -> ApiResult {
    let st = staff(&s, &headers, Role::Reviewer).await?;
    let v = body(&b)?;
    let r = s.svc.review().review_approve(&st, &appid, version_of(&v)?).await?;
    Ok(Json(
        json!({ "errcode": 0, "status": r.status, "sms_verify_status": r.order.state.sms_verify_status().map(|x| x.code()), "version": r.order.row_version }),
    ))
}

async fn reject(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    b: Bytes,
) -> ApiResult {
    let st = staff(&s, &headers, Role::Reviewer).await?;
    let v = body(&b)?;
    let reasons: Vec<RejectReason> =
        serde_json::from_value(v.get("reasons").cloned().unwrap_or(Value::Array(vec![])))
            .map_err(|_| bad("reasons 须为数组，每项为 {reason_id} 或 {key_name, error, suggest}"))?;
    let r = s.svc.review().review_reject(&st, &appid, reasons, version_of(&v)?).await?;
    Ok(Json(
        json!({ "errcode": 0, "status": r.status, "audit_data": r.order.audit_data, "version": r.order.row_version }),
    ))
}

async fn save_reason(State(s): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let st = staff(&s, &headers, Role::Operator).await?;
    let v = body(&b)?;
    let r = Reason {
        id: v.get("id").and_then(Value::as_i64).unwrap_or(0),
        key_name: v.get("key_name").and_then(Value::as_str).unwrap_or_default().trim().into(),
        error: v.get("error").and_then(Value::as_str).unwrap_or_default().trim().into(),
        suggest: v.get("suggest").and_then(Value::as_str).unwrap_or_default().trim().into(),
        active: v.get("active").and_then(Value::as_bool).unwrap_or(true),
    };
    let id = s.svc.review().save_reason(&Actor::new("operator", &st.id), &r).await?;
    Ok(Json(json!({ "errcode": 0, "id": id })))
}

async fn get_policy(State(s): State<AppState>, headers: HeaderMap) -> ApiResult {
    staff(&s, &headers, Role::Operator).await?;
    Ok(Json(json!({ "errcode": 0, "policy": *s.svc.policy() })))
}

async fn put_policy(State(s): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let st = staff(&s, &headers, Role::Operator).await?;
    let policy = serde_json::from_value(body(&b)?).map_err(|e| bad(&format!("策略格式不正确：{e}")))?;
    s.svc.set_policy(&Actor::new("operator", &st.id), policy).await?;
    Ok(Json(json!({ "errcode": 0, "policy": *s.svc.policy() })))
}

async fn jobs(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> ApiResult {
    staff(&s, &headers, Role::Operator).await?;
    let q = crate::wire::query_map(q.as_deref());
    let state = match q.get("state") {
        Some(x) => Some(JobState::parse(x).ok_or_else(|| bad("state 须为 pending、running、done 或 dead"))?),
        None => None,
    };
    let jobs = s.svc.job_queue().jobs(state, 200).await?;
    // Payloads may carry codes and phone numbers: list kinds and status only.
    let items: Vec<Value> = jobs
        .iter()
        .map(|j| json!({ "id": j.id, "kind": j.kind, "state": j.state, "attempts": j.attempts, "max_attempts": j.max_attempts, "run_at": j.run_at, "last_error": j.last_error }))
        .collect();
    Ok(Json(json!({ "errcode": 0, "items": items, "stats": s.svc.job_queue().job_stats().await? })))
}

async fn retry_job(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    staff(&s, &headers, Role::Operator).await?;
    if !s.svc.job_queue().retry_dead_job(id).await? {
        return Err(ApiError(
            StatusCode::CONFLICT,
            errcode::WRONG_REVIEW_STATE,
            "只能重试死信中的任务".into(),
        ));
    }
    Ok(Json(json!({ "errcode": 0 })))
}

async fn outbox(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> ApiResult {
    staff(&s, &headers, Role::Operator).await?;
    let q = crate::wire::query_map(q.as_deref());
    let items = s.svc.job_queue().sms_outbox(q.get("phone").map(String::as_str), 100).await?;
    Ok(Json(json!({ "errcode": 0, "items": items })))
}

async fn get_simulator(State(s): State<AppState>, headers: HeaderMap) -> ApiResult {
    staff(&s, &headers, Role::Operator).await?;
    Ok(Json(
        json!({ "errcode": 0, "settings": sim(&s)?.settings().await.map_err(sim_error)?, "now": s.svc.now().timestamp() }),
    ))
}

async fn put_simulator(State(s): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let st = staff(&s, &headers, Role::Operator).await?;
    let settings: SimulatorSettings =
        serde_json::from_value(body(&b)?).map_err(|e| bad(&format!("模拟器设置格式不正确：{e}")))?;
    sim(&s)?.set_settings(&Actor::new("operator", &st.id).0, &settings).await.map_err(sim_error)?;
    Ok(Json(json!({ "errcode": 0 })))
}

async fn advance(State(s): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    sim(&s)?;
    let st = staff(&s, &headers, Role::Operator).await?;
    let v = body(&b)?;
    let hours = v.get("hours").and_then(Value::as_i64).unwrap_or(0)
        + 24 * v.get("days").and_then(Value::as_i64).unwrap_or(0);
    if !(1..=24 * 366).contains(&hours) {
        return Err(bad("请给出 hours 或 days（正整数，最多一年）"));
    }
    if !s.svc.advance_clock(&Actor::new("operator", &st.id), chrono::Duration::hours(hours)).await? {
        return Err(bad("当前时钟不可调整（仅模拟器时钟可以）"));
    }
    Ok(Json(json!({ "errcode": 0, "now": s.svc.now().timestamp() })))
}

async fn sweep(State(s): State<AppState>, headers: HeaderMap) -> ApiResult {
    let st = staff(&s, &headers, Role::Operator).await?;
    let id = format!("clearance-{}", s.svc.policy().clearance_date);
    let report = s
        .svc
        .job_queue()
        .clearance_sweep(&Actor::new("operator", &st.id), &id, beian_service::SWEEP_BATCH, |_| {})
        .await?;
    Ok(Json(json!({ "errcode": 0, "sweep": report })))
}

async fn create_provider(State(s): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let st = staff(&s, &headers, Role::Operator).await?;
    let v = body(&b)?;
    let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
    let url = v.get("event_url").and_then(Value::as_str).unwrap_or_default();
    let c = s.svc.providers().create_provider(&Actor::new("operator", &st.id), name, url).await?;
    Ok(Json(json!({
        "errcode": 0,
        "component_appid": c.component_appid,
        "component_appsecret": c.component_appsecret,
        "token": c.token,
        "encoding_aes_key": c.encoding_aes_key,
    })))
}

async fn register_mini_program(State(s): State<AppState>, headers: HeaderMap, b: Bytes) -> ApiResult {
    let st = staff(&s, &headers, Role::Operator).await?;
    let v = body(&b)?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(true);
    let mp = s
        .svc
        .mini_programs()
        .register_mini_program(
            &Actor::new("operator", &st.id),
            beian_service::MiniProgramInput {
                appid: text("appid"),
                name: text("name"),
                admin_name: text("admin_name"),
                admin_id_number: text("admin_id_number"),
                admin_mobile: text("admin_mobile"),
                flags: beian_core::state::ReadinessFlags {
                    basic_info_filled: flag("basic_info_filled"),
                    category_filled: flag("category_filled"),
                    certified: flag("certified"),
                },
                listed: false,
                owner: text("owner"),
            },
        )
        .await?;
    Ok(Json(json!({ "errcode": 0, "appid": mp.appid })))
}

async fn list_mini_program(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
) -> ApiResult {
    let st = staff(&s, &headers, Role::Operator).await?;
    s.svc.mini_programs().list_mini_program(&Actor::new("operator", &st.id), &appid).await?;
    Ok(Json(json!({ "errcode": 0 })))
}

/// Everything personal held for the mini program (PIPL Art. 45), for an operator answering a
/// request; audited (who, when, which appid).
async fn export_personal_data(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
) -> ApiResult {
    let st = staff(&s, &headers, Role::Operator).await?;
    let doc = s.svc.mini_programs().export_personal_data(&Actor::new("operator", &st.id), &appid).await?;
    Ok(Json(json!({ "errcode": 0, "export": doc })))
}
