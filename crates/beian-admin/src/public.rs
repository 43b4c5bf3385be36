//! The public filing query (备案查询): `GET /query?q=` (page) and `GET /api/public/query?q=`
//! (JSON), no sign-in. Only filed mini programs are found; the principal's name is masked and
//! no phone or ID number is ever shown (the service's public index holds none).

use crate::auth::client_ip;
use crate::html::{error_box, public_layout};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use beian_core::errcode;
use beian_service::query::{PublicQueryResult, COUNT_CAP, MAX_QUERY_CHARS, MAX_RESULTS};
use beian_service::ServiceError;
use beian_web::limits::Limited;
use maud::{html, Markup};
use serde_json::json;

/// The value of `key` in a raw query string (`+` and percent escapes decoded).
pub(crate) fn param(query: &Option<String>, key: &str) -> Option<String> {
    query.as_deref()?.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (crate::auth::decode(k) == key).then(|| crate::auth::decode(v))
    })
}

/// A refusal's message, or a generic one for internal errors (logged, never shown).
fn refusal(e: ServiceError) -> (StatusCode, i64, String) {
    match e {
        ServiceError::Refused { errcode: code, errmsg } => (StatusCode::BAD_REQUEST, code, errmsg),
        other => {
            tracing::error!("public query: {other}");
            (StatusCode::SERVICE_UNAVAILABLE, errcode::SYSTEM_ERROR, "系统繁忙，请稍后再试".into())
        }
    }
}

/// `GET /api/public/query?q=`: `{"errcode":0,"errmsg":"ok","items":[…],"total":n,"truncated":b}`,
/// or HTTP 400 `{"errcode","errmsg"}` for an empty or too long query.
///
/// Each client address may ask `public_query_per_minute` times a minute (`beian_web::limits`;
/// counted across nodes on PostgreSQL);
/// beyond that HTTP 429 with `Retry-After` and `{"errcode":86920,"errmsg":…}`.
pub async fn api(
    State(s): State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(l) = s.limits.public_query(client_ip(&s, &headers, &ext), s.svc.now().timestamp()).await {
        let body = Json(json!({ "errcode": errcode::RATE_LIMITED, "errmsg": too_many(&s, l) }));
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, l.retry_after_secs.to_string())],
            body,
        )
            .into_response();
    }
    let q = param(&query, "q").unwrap_or_default();
    match s.svc.public_index().public_query(&q).await {
        Ok(r) => {
            let mut body = json!({ "errcode": 0, "errmsg": "ok" });
            if let (Some(obj), Ok(serde_json::Value::Object(result))) =
                (body.as_object_mut(), serde_json::to_value(&r))
            {
                obj.extend(result);
            }
            Json(body).into_response()
        }
        Err(e) => {
            let (status, code, msg) = refusal(e);
            (status, Json(json!({ "errcode": code, "errmsg": msg }))).into_response()
        }
    }
}

/// `GET /query?q=`: the search form and, with a query, the results.
pub async fn page(
    State(s): State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    RawQuery(query): RawQuery,
) -> Response {
    let q = param(&query, "q");
    let limited = match &q {
        Some(_) => s.limits.public_query(client_ip(&s, &headers, &ext), s.svc.now().timestamp()).await.err(),
        None => None,
    };
    let (status, results) = match &q {
        None => (StatusCode::OK, html! {}),
        Some(_) if limited.is_some() => {
            (StatusCode::TOO_MANY_REQUESTS, error_box(&limited.map(|l| too_many(&s, l)).unwrap_or_default()))
        }
        Some(q) => match s.svc.public_index().public_query(q).await {
            Ok(r) => (StatusCode::OK, results_card(&r)),
            Err(e) => {
                let (status, _, msg) = refusal(e);
                (status, error_box(&msg))
            }
        },
    };
    let body = html! {
        div.card {
            h1 { "小程序备案查询" }
            form method="get" action="/query" role="search" {
                label.field {
                    span { "备案号、小程序名称、主办单位名称或 AppID" }
                    small { "名称可输入其中连续的一部分（至少两个字）；备案号和 AppID 可输入完整内容或开头部分；单个字符只匹配备案号或 AppID 的开头。" }
                    input type="text" name="q" #q value=(q.as_deref().unwrap_or("")) maxlength=(MAX_QUERY_CHARS)
                        required autofocus placeholder="例如：粤ICP备2026000001号-1X、读书笔记";
                }
                button type="submit" #search { "查询" }
            }
            p.muted {
                "仅收录已通过管局审核的小程序备案；未备案、审核中或已注销的不会出现在结果中。负责人姓名已做脱敏处理。每次最多显示 "
                (MAX_RESULTS) " 条。"
            }
        }
        (results)
    };
    let mut r = (status, public_layout("备案查询", body)).into_response();
    if let Some(l) = limited {
        if let Ok(v) = HeaderValue::from_str(&l.retry_after_secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

/// The refusal of a client over the public query limit.
fn too_many(s: &AppState, l: Limited) -> String {
    format!(
        "查询过于频繁：同一网络地址每分钟最多查询{}次，请{}秒后再试",
        s.limits.public_query.limit(),
        l.retry_after_secs
    )
}

fn results_card(r: &PublicQueryResult) -> Markup {
    let summary = if r.truncated {
        format!(
            "匹配结果超过 {COUNT_CAP} 条，以下显示其中 {} 条。请输入更完整的名称或备案号以缩小范围。",
            r.items.len()
        )
    } else if r.total > r.items.len() {
        format!("共找到 {} 条，显示前 {} 条。", r.total, r.items.len())
    } else {
        format!("共找到 {} 条。", r.total)
    };
    html! {
        div.card #results {
            h2 { "查询结果" }
            @if let Some(n) = &r.note { p.hint { (n) } }
            @if r.items.is_empty() {
                p { "未查到已备案的记录。请核对输入内容，或换用备案号、完整的小程序名称查询。" }
            } @else {
                p { (summary) }
                div {
                    table.stack {
                        tr.head {
                            th { "主办单位名称" } th { "单位性质" } th { "主体备案号" } th { "服务备案号" }
                            th { "服务名称" } th { "负责人" } th { "前置审批" } th { "审核通过日期" }
                        }
                        @for i in &r.items {
                            tr {
                                td data-label="主办单位名称" { (i.subject_name) }
                                td data-label="单位性质" { (i.subject_type) }
                                td data-label="主体备案号" { (i.subject_record_number) }
                                td data-label="服务备案号" { (i.service_record_number) }
                                td data-label="服务名称" { (i.service_name) " " small.muted { (i.appid) } }
                                td data-label="负责人" { (i.principal_name) }
                                td data-label="前置审批" { (i.nrlx) }
                                td data-label="审核通过日期" { (i.approved_date) }
                            }
                        }
                    }
                }
            }
        }
    }
}
