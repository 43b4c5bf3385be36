//! `/wxa/icp/*` and `/wxa/sec/*`: the filing endpoints, called with an
//! authorizer_access_token that carries permission set 18 or 156.

use crate::wire::{err, from_service, json_body, num_field, ok, query_map, require_post, str_field, WxJson};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use beian_core::errcode;
use beian_service::Caller;
use serde_json::{json, Value};

/// Uploads up to the video limit plus multipart overhead.
const UPLOAD_BODY_LIMIT: usize = beian_service::media::MAX_VIDEO_BYTES + 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/wxa/icp/create_icp_verifytask", any(create_verify_task))
        .route("/wxa/icp/query_icp_verifytask", any(query_verify_task))
        .route(
            "/wxa/icp/upload_icp_media",
            any(upload_media).layer(axum::extract::DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route("/wxa/icp/get_icp_media", any(get_media))
        .route("/wxa/icp/apply_icp_filing", any(apply))
        .route("/wxa/icp/cancel_apply_icp_filing", any(cancel_apply))
        .route("/wxa/icp/cancel_icp_filing", any(cancel_filing))
        .route("/wxa/icp/get_icp_entrance_info", any(entrance_info))
        .route("/wxa/icp/get_online_icp_order", any(online_order))
        .route("/wxa/icp/query_icp_service_content_types", any(service_content_types))
        .route("/wxa/icp/query_icp_certificate_types", any(certificate_types))
        .route("/wxa/icp/query_icp_district_code", any(district_code))
        .route("/wxa/icp/query_icp_nrlx_types", any(nrlx_types))
        .route("/wxa/icp/query_icp_subject_types", any(subject_types))
        .route("/wxa/sec/submit_auth_and_icp", any(auth_and_icp))
        .route("/wxa/sec/query_auth_and_icp", any(auth_and_icp))
}

/// Token, permission set and per-minute limit: the prelude of every ICP call.
async fn caller(s: &AppState, query: &Option<String>, api: &'static str) -> Result<Caller, WxJson> {
    let q = query_map(query.as_deref());
    let c = s
        .svc
        .providers()
        .icp_caller(q.get("access_token").map(String::as_str))
        .await
        .map_err(from_service)?;
    if !s.limiter.allow(&c.appid, api, s.svc.now().timestamp()) {
        return Err(err(errcode::MINUTE_QUOTA, "api minute-quota reach limit: 调用过于频繁，请一分钟后再试"));
    }
    Ok(c)
}

macro_rules! try_wx {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return e,
        }
    };
}

async fn create_verify_task(
    State(s): State<AppState>,
    method: Method,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> WxJson {
    try_wx!(require_post(&method));
    let c = try_wx!(caller(&s, &q, "create_icp_verifytask").await);
    let v = try_wx!(json_body(&body));
    if matches!(v.get("along_with_auth"), Some(Value::Bool(true))) {
        return err(
            errcode::NOT_SUPPORTED,
            "beian 暂不支持认证及备案二合一（along_with_auth=true），请先完成认证后按普通备案流程发起核身",
        );
    }
    match s.svc.materials().create_face_task(&c.actor(), &c.appid).await {
        Ok(t) => ok(json!({ "task_id": t.task_id })),
        Err(e) => from_service(e),
    }
}

async fn query_verify_task(
    State(s): State<AppState>,
    method: Method,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> WxJson {
    try_wx!(require_post(&method));
    let c = try_wx!(caller(&s, &q, "query_icp_verifytask").await);
    let v = try_wx!(json_body(&body));
    let Some(task_id) = str_field(&v, "task_id") else {
        return err(errcode::INVALID_ARGS, "invalid args: 缺少参数 task_id");
    };
    match s.svc.materials().face_task(&c.appid, &task_id).await {
        Ok(t) if t.expires_at <= s.svc.now().timestamp() => {
            err(errcode::FACE_TASK_NOT_FOUND, "code过期或不存在：核身任务已过期，请重新发起")
        }
        Ok(t) => ok(json!({ "is_finish": t.is_finish, "face_status": t.face_status.code() })),
        Err(e) => from_service(e),
    }
}

async fn upload_media(State(s): State<AppState>, RawQuery(q): RawQuery, req: Request) -> WxJson {
    if req.method() != Method::POST {
        return err(errcode::REQUIRE_POST, "require POST method");
    }
    let c = try_wx!(caller(&s, &q, "upload_icp_media").await);
    let up = try_wx!(crate::parse::upload(q.as_deref(), req).await);
    match s.svc.materials().upload_media(&c.actor(), &c.appid, up).await {
        Ok(m) => {
            ok(json!({ "type": m.media_type.as_str(), "media_id": m.media_id, "created_at": m.created_at }))
        }
        Err(e) => from_service(e),
    }
}

async fn get_media(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let c = match caller(&s, &q, "get_icp_media").await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let Some(media_id) = query_map(q.as_deref()).remove("media_id").filter(|m| !m.is_empty()) else {
        return err(errcode::INVALID_ARGS, "invalid args: 缺少参数 media_id").into_response();
    };
    match s.svc.materials().get_media(&c.appid, &media_id).await {
        Ok((meta, bytes)) => {
            // WeChat serves images as image/jpeg and videos as video/mp4; PNGs keep their type.
            let ct = match meta.content_type.as_str() {
                "image/png" => "image/png",
                "video/mp4" => "video/mp4",
                _ => "image/jpeg",
            };
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            (StatusCode::OK, headers, bytes).into_response()
        }
        Err(e) => from_service(e).into_response(),
    }
}

async fn apply(State(s): State<AppState>, method: Method, RawQuery(q): RawQuery, body: Bytes) -> WxJson {
    try_wx!(require_post(&method));
    let c = try_wx!(caller(&s, &q, "apply_icp_filing").await);
    let payload = try_wx!(crate::parse::apply_body(&body));
    match s.svc.filings().apply(&c.actor(), &c.appid, payload).await {
        Ok(_) => ok(json!({})),
        Err(e) => from_service(e),
    }
}

async fn cancel_apply(State(s): State<AppState>, method: Method, RawQuery(q): RawQuery) -> WxJson {
    try_wx!(require_post(&method));
    let c = try_wx!(caller(&s, &q, "cancel_apply_icp_filing").await);
    match s.svc.filings().withdraw(&c.actor(), &c.appid).await {
        Ok(_) => ok(json!({})),
        Err(e) => from_service(e),
    }
}

async fn cancel_filing(
    State(s): State<AppState>,
    method: Method,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> WxJson {
    try_wx!(require_post(&method));
    let c = try_wx!(caller(&s, &q, "cancel_icp_filing").await);
    let v = try_wx!(json_body(&body));
    let (Ok(cancel_type), Ok(reason_type)) = (num_field(&v, "cancel_type"), num_field(&v, "reason_type"))
    else {
        return err(errcode::INVALID_ARGS, "invalid args: cancel_type 与 reason_type 须为数字");
    };
    match s.svc.filings().cancel(&c.actor(), &c.appid, cancel_type, reason_type).await {
        Ok(_) => ok(json!({})),
        Err(e) => from_service(e),
    }
}

async fn entrance_info(State(s): State<AppState>, RawQuery(q): RawQuery) -> WxJson {
    let c = try_wx!(caller(&s, &q, "get_icp_entrance_info").await);
    match s.svc.filings().entrance_info(&c.appid).await {
        Ok(info) => ok(json!({ "info": info })),
        Err(e) => from_service(e),
    }
}

async fn online_order(State(s): State<AppState>, RawQuery(q): RawQuery) -> WxJson {
    let c = try_wx!(caller(&s, &q, "get_online_icp_order").await);
    match s.svc.filings().online_order(&c.appid).await {
        Ok(p) => {
            let (subject, applet) = crate::mask::online_order(&p);
            ok(json!({ "icp_subject": subject, "icp_applets": [applet] }))
        }
        Err(e) => from_service(e),
    }
}

async fn lookup(
    s: &AppState,
    q: &Option<String>,
    api: &'static str,
    kind: beian_core::dict::DictKind,
) -> WxJson {
    try_wx!(caller(s, q, api).await);
    let items: Value =
        serde_json::from_str(&s.svc.dictionaries().kind_json(kind)).unwrap_or(Value::Array(vec![]));
    ok(json!({ "items": items }))
}

async fn service_content_types(State(s): State<AppState>, RawQuery(q): RawQuery) -> WxJson {
    lookup(&s, &q, "query_icp_service_content_types", beian_core::dict::DictKind::ServiceContentTypes).await
}
async fn certificate_types(State(s): State<AppState>, RawQuery(q): RawQuery) -> WxJson {
    lookup(&s, &q, "query_icp_certificate_types", beian_core::dict::DictKind::CertificateTypes).await
}
async fn district_code(State(s): State<AppState>, RawQuery(q): RawQuery) -> WxJson {
    lookup(&s, &q, "query_icp_district_code", beian_core::dict::DictKind::Districts).await
}
async fn nrlx_types(State(s): State<AppState>, RawQuery(q): RawQuery) -> WxJson {
    lookup(&s, &q, "query_icp_nrlx_types", beian_core::dict::DictKind::NrlxTypes).await
}
async fn subject_types(State(s): State<AppState>, RawQuery(q): RawQuery) -> WxJson {
    lookup(&s, &q, "query_icp_subject_types", beian_core::dict::DictKind::SubjectTypes).await
}

/// 认证及备案二合一 needs WeChat certification (微信认证), which beian does not run.
async fn auth_and_icp(State(s): State<AppState>, RawQuery(q): RawQuery) -> WxJson {
    let qm = query_map(q.as_deref());
    if let Err(e) = s.svc.providers().sec_caller(qm.get("access_token").map(String::as_str)).await {
        return from_service(e);
    }
    err(
        errcode::NOT_SUPPORTED,
        "beian 暂不支持认证及备案二合一（submit_auth_and_icp / query_auth_and_icp）：请先完成认证，再使用 apply_icp_filing 备案",
    )
}
