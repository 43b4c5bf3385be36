//! `/cgi-bin/component/*`: the third-party platform token flow, and the merchant's
//! authorization page (`/cgi-bin/componentloginpage`).

use crate::pages::{error_line, page};
use crate::wire::{err, from_service, json_body, query_map, require_post, str_field, WxJson};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use beian_core::errcode;
use beian_service::providers::GRANTABLE_SCOPES;
use maud::{html, Markup};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cgi-bin/component/api_component_token", any(component_token))
        .route("/cgi-bin/component/api_create_preauthcode", any(create_preauthcode))
        .route("/cgi-bin/component/api_query_auth", any(query_auth))
        .route("/cgi-bin/component/api_authorizer_token", any(authorizer_token))
        .route("/cgi-bin/component/beian_get_event_config", any(get_event_config))
        .route("/cgi-bin/component/beian_set_event_config", any(set_event_config))
        .route("/cgi-bin/componentloginpage", get(login_page).post(login_submit))
}

fn missing(field: &str) -> WxJson {
    err(errcode::INVALID_ARGS, &format!("invalid args: 缺少参数 {field}"))
}

async fn component_token(State(s): State<AppState>, method: Method, body: Bytes) -> WxJson {
    if let Err(e) = require_post(&method) {
        return e;
    }
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let (Some(appid), Some(secret), Some(ticket)) = (
        str_field(&v, "component_appid"),
        str_field(&v, "component_appsecret"),
        str_field(&v, "component_verify_ticket"),
    ) else {
        return missing("component_appid / component_appsecret / component_verify_ticket");
    };
    match s.svc.providers().component_token(&appid, &secret, &ticket).await {
        Ok((token, expires_in)) => {
            WxJson(json!({ "component_access_token": token, "expires_in": expires_in }))
        }
        Err(e) => from_service(e),
    }
}

/// The provider behind `component_access_token` (WeChat's newer docs call it `access_token`).
async fn component_caller(s: &AppState, query: &Option<String>) -> Result<String, WxJson> {
    let q = query_map(query.as_deref());
    let token = q.get("component_access_token").or_else(|| q.get("access_token"));
    s.svc.providers().component_caller(token.map(String::as_str)).await.map_err(from_service)
}

/// The body's component_appid must be the token's provider.
fn same_component(caller: &str, v: &serde_json::Value) -> Result<(), WxJson> {
    match str_field(v, "component_appid") {
        Some(a) if a == caller => Ok(()),
        Some(_) => {
            Err(err(errcode::INVALID_ARGS, "invalid args: component_appid 与 component_access_token 不匹配"))
        }
        None => Err(missing("component_appid")),
    }
}

async fn create_preauthcode(
    State(s): State<AppState>,
    method: Method,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> WxJson {
    if let Err(e) = require_post(&method) {
        return e;
    }
    let caller = match component_caller(&s, &q).await {
        Ok(c) => c,
        Err(e) => return e,
    };
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if let Err(e) = same_component(&caller, &v) {
        return e;
    }
    match s.svc.providers().create_pre_auth_code(&caller).await {
        Ok((code, expires_in)) => WxJson(json!({ "pre_auth_code": code, "expires_in": expires_in })),
        Err(e) => from_service(e),
    }
}

/// The caller and its body, for a POST with a component_access_token whose body names the
/// same component_appid.
async fn component_post(
    s: &AppState,
    method: &Method,
    q: &Option<String>,
    body: &Bytes,
) -> Result<(String, serde_json::Value), WxJson> {
    require_post(method)?;
    let caller = component_caller(s, q).await?;
    let v = json_body(body)?;
    same_component(&caller, &v)?;
    Ok((caller, v))
}

fn event_config(url: String, events: beian_core::platform::EventFilter) -> WxJson {
    crate::wire::ok(json!({ "event_url": url, "events": events.0 }))
}

/// beian extension (not in WeChat's API): the provider's own event URL and chosen events
/// (docs/webhooks.md "Providers").
async fn get_event_config(
    State(s): State<AppState>,
    method: Method,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> WxJson {
    let caller = match component_post(&s, &method, &q, &body).await {
        Ok((c, _)) => c,
        Err(e) => return e,
    };
    match s.svc.providers().event_config(&caller).await {
        Ok((url, events)) => event_config(url, events),
        Err(e) => from_service(e),
    }
}

/// beian extension (not in WeChat's API): the provider sets its own event URL and chooses its
/// events; `events` absent or null is every event.
async fn set_event_config(
    State(s): State<AppState>,
    method: Method,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> WxJson {
    let (caller, v) = match component_post(&s, &method, &q, &body).await {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(url) = str_field(&v, "event_url") else { return missing("event_url") };
    let events = match v.get("events") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Array(a)) => {
            let names: Option<Vec<String>> = a.iter().map(|x| x.as_str().map(str::to_string)).collect();
            match names {
                Some(n) => Some(n),
                None => return err(errcode::INVALID_ARGS, "invalid args: events 须为字符串数组"),
            }
        }
        Some(_) => return err(errcode::INVALID_ARGS, "invalid args: events 须为字符串数组"),
    };
    let actor = beian_service::Actor::new("provider", &caller);
    match s.svc.providers().set_event_config(&actor, &caller, &url, events).await {
        Ok(events) => event_config(url.trim().to_string(), events),
        Err(e) => from_service(e),
    }
}

fn func_info(scopes: &[u32]) -> serde_json::Value {
    json!(scopes.iter().map(|id| json!({ "funcscope_category": { "id": id } })).collect::<Vec<_>>())
}

async fn query_auth(State(s): State<AppState>, method: Method, RawQuery(q): RawQuery, body: Bytes) -> WxJson {
    if let Err(e) = require_post(&method) {
        return e;
    }
    let caller = match component_caller(&s, &q).await {
        Ok(c) => c,
        Err(e) => return e,
    };
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if let Err(e) = same_component(&caller, &v) {
        return e;
    }
    let Some(code) = str_field(&v, "authorization_code") else { return missing("authorization_code") };
    match s.svc.providers().query_auth(&caller, &code).await {
        Ok(t) => WxJson(json!({ "authorization_info": {
            "authorizer_appid": t.appid,
            "authorizer_access_token": t.access_token,
            "expires_in": t.expires_in,
            "authorizer_refresh_token": t.refresh_token,
            "func_info": func_info(&t.scopes),
        }})),
        Err(e) => from_service(e),
    }
}

async fn authorizer_token(
    State(s): State<AppState>,
    method: Method,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> WxJson {
    if let Err(e) = require_post(&method) {
        return e;
    }
    let caller = match component_caller(&s, &q).await {
        Ok(c) => c,
        Err(e) => return e,
    };
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if let Err(e) = same_component(&caller, &v) {
        return e;
    }
    let (Some(appid), Some(refresh)) =
        (str_field(&v, "authorizer_appid"), str_field(&v, "authorizer_refresh_token"))
    else {
        return missing("authorizer_appid / authorizer_refresh_token");
    };
    match s.svc.providers().refresh_authorizer_token(&caller, &appid, &refresh).await {
        Ok(t) => WxJson(json!({
            "authorizer_access_token": t.access_token,
            "expires_in": t.expires_in,
            "authorizer_refresh_token": t.refresh_token,
        })),
        Err(e) => from_service(e),
    }
}

fn scope_name(id: u32) -> &'static str {
    match id {
        17 => "小程序帐号管理",
        18 => "小程序开发与数据分析",
        156 => "小程序备案",
        _ => "其他权限",
    }
}

async fn login_page(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let q = query_map(q.as_deref());
    let appid = q.get("component_appid").cloned().unwrap_or_default();
    let code = q.get("pre_auth_code").cloned().unwrap_or_default();
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    let checked = match s.svc.providers().pre_auth_provider(&appid, &code).await {
        Ok(p) => s.svc.providers().authorization_redirect(&appid, &redirect).await.map(|_| p),
        Err(e) => Err(e),
    };
    match checked {
        Ok(p) => auth_form(&p.name, &appid, &code, &redirect, None).into_response(),
        Err(e) => refusal_page(e),
    }
}

/// "授权失败" with what went wrong and what to do; nothing was written.
fn refusal_page(e: beian_service::ServiceError) -> Response {
    let status = refusal_status(&e);
    (status, page("授权失败", html! { h1 { "授权失败" } (error_line(&service_msg(e))) })).into_response()
}

/// 429 for a paused authorization (too many failed identity checks), else 400.
fn refusal_status(e: &beian_service::ServiceError) -> StatusCode {
    match e {
        beian_service::ServiceError::Refused { errcode: errcode::RATE_LIMITED, .. } => {
            StatusCode::TOO_MANY_REQUESTS
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

fn service_msg(e: beian_service::ServiceError) -> String {
    match e {
        beian_service::ServiceError::Refused { errmsg, .. } => errmsg,
        other => {
            tracing::error!("authorization page: {other}");
            "系统繁忙，请稍后再试".into()
        }
    }
}

fn auth_form(provider: &str, appid: &str, code: &str, redirect: &str, error: Option<&str>) -> Markup {
    page(
        "授权服务商",
        html! {
            h1 { "授权给服务商「" (provider) "」" }
            p { "授权后，该服务商可以代你的小程序调用所选权限集内的接口（如代为提交小程序备案）。你可以随时取消授权。" }
            @if let Some(e) = error { (error_line(e)) }
            form method="post" action="/cgi-bin/componentloginpage" {
                input type="hidden" name="component_appid" value=(appid);
                input type="hidden" name="pre_auth_code" value=(code);
                input type="hidden" name="redirect_uri" value=(redirect);
                p { label { "小程序 AppID " input name="appid" required autocomplete="off"; } }
                p { label { "管理员手机号 " input name="admin_mobile" required inputmode="numeric"; } }
                p { label { "管理员身份证号后6位 " input name="admin_id_last6" required maxlength="6"; } }
                fieldset {
                    legend { "授予的权限集" }
                    @for id in GRANTABLE_SCOPES.iter() {
                        label {
                            input type="checkbox" name="scope" value=(id) checked[beian_core::platform::ICP_SCOPES.contains(id)];
                            " 权限集 " (id) "：" (scope_name(*id))
                        }
                        br;
                    }
                }
                p { button type="submit" { "确认授权" } }
            }
        },
    )
}

async fn login_submit(State(s): State<AppState>, body: Bytes) -> Response {
    let form = crate::pages::form_pairs(&body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let scopes: Vec<u32> =
        form.iter().filter(|(k, _)| k == "scope").filter_map(|(_, v)| v.parse().ok()).collect();
    let (component, code, redirect) = (get("component_appid"), get("pre_auth_code"), get("redirect_uri"));
    // Where to send the merchant back is checked before anything is written.
    let target = match s.svc.providers().authorization_redirect(&component, &redirect).await {
        Ok(t) => t,
        Err(e) => return refusal_page(e),
    };
    match s
        .svc
        .providers()
        .authorize_provider(
            &component,
            &code,
            &get("appid"),
            &get("admin_mobile"),
            &get("admin_id_last6"),
            &scopes,
        )
        .await
    {
        Ok((auth_code, expires_in)) => match target {
            Some(t) => {
                (StatusCode::FOUND, [(header::LOCATION, t.with_code(&auth_code, expires_in))]).into_response()
            }
            None => {
                page("授权成功", html! { h1 { "授权成功" } p { "服务商已收到授权通知，你可以关闭此页面。" } })
                    .into_response()
            }
        },
        Err(e) => {
            let provider = s.svc.providers().provider(&component).await.map(|p| p.name).unwrap_or_default();
            let status = refusal_status(&e);
            let msg = service_msg(e);
            (status, auth_form(&provider, &component, &code, &redirect, Some(&msg))).into_response()
        }
    }
}
