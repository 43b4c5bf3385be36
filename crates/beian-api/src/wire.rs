//! Request parsing and response shapes of the WeChat wire format.

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use beian_core::errcode;
use beian_core::rules::Hint;
use beian_service::ServiceError;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// A request id in WeChat's shape (`xxxxxxxx-xxxxxxxx-xxxxxxxx`), appended to error messages.
pub fn rid() -> String {
    use rand::RngCore;
    let mut b = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut b);
    let h = hex::encode(b);
    format!("{}-{}-{}", &h[..8], &h[8..16], &h[16..])
}

/// A JSON answer, always HTTP 200.
pub struct WxJson(pub Value);

impl IntoResponse for WxJson {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.0)
            .unwrap_or_else(|_| br#"{"errcode":-1,"errmsg":"system error"}"#.to_vec());
        let mut r = (StatusCode::OK, body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
        r
    }
}

/// Success: `{"errcode":0,"errmsg":"ok", …fields}`.
pub fn ok(fields: Value) -> WxJson {
    let mut m = Map::new();
    m.insert("errcode".into(), json!(0));
    m.insert("errmsg".into(), json!("ok"));
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    WxJson(Value::Object(m))
}

/// An error answer with the request id appended.
pub fn err(code: i64, msg: &str) -> WxJson {
    WxJson(json!({ "errcode": code, "errmsg": format!("{msg} rid: {}", rid()) }))
}

pub fn hints(h: &[Hint]) -> WxJson {
    WxJson(json!({
        "errcode": errcode::APPLY_FAIL,
        "errmsg": format!("apply icp filing fail rid: {}", rid()),
        "hints": h,
    }))
}

/// Map a service error to the wire. Internal errors are logged, never echoed.
pub fn from_service(e: ServiceError) -> WxJson {
    match e {
        ServiceError::Refused { errcode, errmsg } => err(errcode, &errmsg),
        ServiceError::Hints(h) => hints(&h),
        ServiceError::Conflict(m) => {
            tracing::warn!("unresolved conflict reached the edge: {m}");
            err(errcode::CONFLICT, errcode::message(errcode::CONFLICT).unwrap_or("conflict"))
        }
        ServiceError::Internal(m) => {
            tracing::error!("internal error: {m}");
            err(errcode::SYSTEM_ERROR, "system error")
        }
    }
}

/// Query string as a map (later duplicates win; malformed pairs are skipped).
pub fn query_map(q: Option<&str>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for pair in q.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        m.insert(url_decode(k), url_decode(v));
    }
    m
}

pub use beian_web::url_decode;

/// The JSON body as WeChat reads it: any or no Content-Type, empty means `{}`.
pub fn json_body(body: &[u8]) -> Result<Value, WxJson> {
    let trimmed = body.iter().position(|b| !b.is_ascii_whitespace()).map(|i| &body[i..]).unwrap_or(&[]);
    if trimmed.is_empty() {
        return Ok(json!({}));
    }
    let text = std::str::from_utf8(trimmed)
        .map_err(|_| err(errcode::DATA_FORMAT_ERROR, "data format error: 请求体须为 UTF-8 编码的 JSON"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(Value::Null) => Ok(json!({})),
        Ok(_) => Err(err(errcode::DATA_FORMAT_ERROR, "data format error: 请求体须为 JSON 对象")),
        Err(e) => Err(err(
            errcode::DATA_FORMAT_ERROR,
            &format!("data format error: JSON 解析失败（第{}行第{}列）", e.line(), e.column()),
        )),
    }
}

/// A string field, tolerant: numbers are accepted as their text, "null" is absent.
pub fn str_field(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if s.trim().is_empty() || s.eq_ignore_ascii_case("null") => None,
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A numeric field, tolerant: numeric strings accepted; "", "null", null absent.
pub fn num_field(v: &Value, key: &str) -> Result<Option<u32>, ()> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().and_then(|x| u32::try_from(x).ok()).map(Some).ok_or(()),
        Some(Value::String(s)) if s.trim().is_empty() || s.eq_ignore_ascii_case("null") => Ok(None),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| ()),
        Some(_) => Err(()),
    }
}

/// WeChat answers a GET on a POST-only endpoint with 43002.
pub fn require_post(method: &Method) -> Result<(), WxJson> {
    if method == Method::POST {
        Ok(())
    } else {
        Err(err(errcode::REQUIRE_POST, "require POST method"))
    }
}
