//! Local fakes of the identity vendors, for tests and development only: each speaks its
//! vendor's documented JSON (request shape checked, signature verified with the shared
//! secret, documented answers and error shapes) and runs as its own process
//! (`beian-vendor-fakes tencent|aliyun SECRET_ID SECRET_KEY`, which prints
//! `listening on http://127.0.0.1:PORT`).
//!
//! The person's check is scripted: the session URL is `/h5/{session}` on the fake; a POST
//! to `/h5/{session}?outcome=passed|failed|expired[&code=C]` is the person completing (or
//! letting expire) the check, and answers a redirect back to beian. `POST /_fake/fail-next`
//! makes the next API call fail the way the vendor fails when it is unavailable.
//!
//! `SendSms` (Aliyun dysmsapi 2017-05-25, Tencent sms 2021-01-11) is answered too, with the
//! vendor's shapes: a number ending in `0429` gets the per-number rate-limit code
//! (`isv.BUSINESS_LIMIT_CONTROL` / `LimitExceeded.PhoneNumberDailyLimit`), one ending in
//! `0400` an invalid-number error (`isv.MOBILE_NUMBER_ILLEGAL` /
//! `InvalidParameterValue.IncorrectPhoneNumber`); any other is accepted and recorded, and
//! `GET /_fake/sms` lists what was accepted (phone, sign name, template, parameters).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Tencent,
    Aliyun,
}

#[derive(Debug, Clone)]
struct FakeSession {
    /// `pending`, `passed`, `failed`, `expired`.
    state: String,
    code: String,
    return_url: String,
}

#[derive(Clone)]
struct Fake {
    vendor: Vendor,
    secret_id: String,
    secret_key: String,
    base: String,
    sessions: Arc<Mutex<HashMap<String, FakeSession>>>,
    fail_next: Arc<Mutex<bool>>,
    sms: Arc<Mutex<Vec<Value>>>,
}

/// Serve a fake on `listener` until the process ends.
pub async fn serve(vendor: Vendor, secret_id: String, secret_key: String, listener: tokio::net::TcpListener) {
    let base = match listener.local_addr() {
        Ok(a) => format!("http://{a}"),
        Err(_) => return,
    };
    let fake = Fake {
        vendor,
        secret_id,
        secret_key,
        base,
        sessions: Arc::default(),
        fail_next: Arc::default(),
        sms: Arc::default(),
    };
    let app = Router::new()
        .route("/", post(api))
        .route("/h5/{session}", post(person).get(h5_page))
        .route("/_fake/fail-next", post(fail_next))
        .route("/_fake/sms", axum::routing::get(sent_sms))
        .with_state(fake);
    let _ = axum::serve(listener, app).await;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn h5_page(Path(session): Path<String>) -> String {
    format!("fake liveness check for {session}")
}

async fn sent_sms(State(f): State<Fake>) -> Json<Value> {
    Json(Value::Array(lock(&f.sms).clone()))
}

/// How the fake answers a text to `phone`: accepted, rate-limited, or an invalid number.
fn sms_script(phone: &str) -> &'static str {
    if phone.ends_with("0429") {
        "limit"
    } else if phone.ends_with("0400") {
        "invalid"
    } else {
        "ok"
    }
}

async fn fail_next(State(f): State<Fake>) -> &'static str {
    *lock(&f.fail_next) = true;
    "ok"
}

async fn person(
    State(f): State<Fake>,
    Path(session): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut sessions = lock(&f.sessions);
    let Some(s) = sessions.get_mut(&session) else {
        return (StatusCode::NOT_FOUND, "no such session").into_response();
    };
    s.state = q.get("outcome").cloned().unwrap_or_else(|| "passed".into());
    s.code = q.get("code").cloned().unwrap_or_default();
    Redirect::to(&s.return_url).into_response()
}

async fn api(
    State(f): State<Fake>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let failing = std::mem::take(&mut *lock(&f.fail_next));
    match f.vendor {
        Vendor::Tencent => tencent(&f, &headers, &body, failing),
        Vendor::Aliyun => aliyun(&f, &q, &headers, &body, failing),
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

// ---- Tencent Cloud API 3.0 -----------------------------------------------------------------

fn tc_error(code: &str, message: &str) -> Response {
    Json(json!({ "Response": { "Error": { "Code": code, "Message": message }, "RequestId": uuid::Uuid::new_v4().to_string() } }))
        .into_response()
}

fn tc_ok(mut v: Value) -> Response {
    v["RequestId"] = json!(uuid::Uuid::new_v4().to_string());
    Json(json!({ "Response": v })).into_response()
}

fn tencent(f: &Fake, h: &HeaderMap, body: &[u8], failing: bool) -> Response {
    let payload = String::from_utf8_lossy(body);
    let ts: i64 = header(h, "x-tc-timestamp").parse().unwrap_or(0);
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return tc_error("AuthFailure.SignatureExpire", "签名过期");
    }
    let version = if header(h, "x-tc-action") == "SendSms" {
        crate::sms::TENCENT_VERSION
    } else {
        crate::tencent::VERSION
    };
    if header(h, "x-tc-version") != version {
        return tc_error("InvalidParameter", &format!("X-TC-Version must be {version}"));
    }
    let ok = crate::tc3::verify(
        header(h, "authorization"),
        &f.secret_id,
        &f.secret_key,
        header(h, "host"),
        header(h, "content-type"),
        &payload,
        ts,
    );
    if !ok {
        return tc_error("AuthFailure.SignatureFailure", "请求签名验证失败");
    }
    if failing {
        return tc_error("InternalError", "内部错误");
    }
    let Ok(req) = serde_json::from_str::<Value>(&payload) else {
        return tc_error("InvalidParameter", "请求体不是合法的 JSON");
    };
    let s = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match header(h, "x-tc-action") {
        "DetectAuth" => {
            for k in ["RuleId", "Name", "IdCard", "RedirectUrl"] {
                if s(k).is_empty() {
                    return tc_error("MissingParameter", &format!("缺少参数 {k}"));
                }
            }
            let token = uuid::Uuid::new_v4().to_string().to_uppercase();
            lock(&f.sessions).insert(
                token.clone(),
                FakeSession { state: "pending".into(), code: String::new(), return_url: s("RedirectUrl") },
            );
            tc_ok(json!({ "Url": format!("{}/h5/{token}", f.base), "BizToken": token }))
        }
        "GetDetectInfoEnhanced" => {
            let Some(sess) = lock(&f.sessions).get(&s("BizToken")).cloned() else {
                return tc_error("InvalidParameterValue.BizTokenIllegal", "BizToken不合法");
            };
            let text = |err: Value, sim: Value| json!({ "ErrCode": err, "ErrMsg": Value::Null, "LiveStatus": err, "Comparestatus": err, "Sim": sim });
            match sess.state.as_str() {
                "expired" => tc_error("InvalidParameterValue.BizTokenExpired", "BizToken过期"),
                "passed" => tc_ok(json!({ "Text": text(json!(0), json!("92.50")) })),
                "failed" => {
                    let code: i64 = sess.code.parse().unwrap_or(1001);
                    tc_ok(json!({ "Text": text(json!(code), json!("31.20")) }))
                }
                _ => tc_ok(json!({ "Text": text(Value::Null, Value::Null) })),
            }
        }
        "SendSms" => {
            for k in ["SmsSdkAppId", "SignName", "TemplateId"] {
                if s(k).is_empty() {
                    return tc_error("MissingParameter", &format!("缺少参数 {k}"));
                }
            }
            let phone = req["PhoneNumberSet"][0].as_str().unwrap_or("").to_string();
            let status = |code: &str, msg: &str| {
                tc_ok(
                    json!({ "SendStatusSet": [{ "SerialNo": uuid::Uuid::new_v4().to_string(), "PhoneNumber": phone,
                    "Fee": 1, "SessionContext": "", "Code": code, "Message": msg, "IsoCode": "CN" }] }),
                )
            };
            match sms_script(&phone) {
                "limit" => {
                    status("LimitExceeded.PhoneNumberDailyLimit", "单个手机号日下发短信条数超过设定的上限")
                }
                "invalid" => status("InvalidParameterValue.IncorrectPhoneNumber", "手机号格式错误"),
                _ => {
                    lock(&f.sms).push(json!({ "phone": phone, "sign_name": s("SignName"),
                        "template": s("TemplateId"), "params": req["TemplateParamSet"] }));
                    status("Ok", "send success")
                }
            }
        }
        other => tc_error("InvalidAction", &format!("接口不存在：{other}")),
    }
}

// ---- Alibaba Cloud Cloudauth (RPC style, V3 signature) -------------------------------------

fn ali(status: StatusCode, v: Value) -> Response {
    let mut v = v;
    v["RequestId"] = json!(uuid::Uuid::new_v4().to_string().to_uppercase());
    (status, Json(v)).into_response()
}

fn aliyun(f: &Fake, q: &BTreeMap<String, String>, h: &HeaderMap, body: &[u8], failing: bool) -> Response {
    let Some((key_id, signed, sig)) = crate::acs3::parse(header(h, "authorization")) else {
        return ali(
            StatusCode::BAD_REQUEST,
            json!({ "Code": "IncompleteSignature", "Message": "缺少或无法解析 Authorization" }),
        );
    };
    let mut headers = BTreeMap::new();
    for name in &signed {
        headers.insert(name.clone(), header(h, name).to_string());
    }
    let needed = [
        "host",
        "x-acs-action",
        "x-acs-content-sha256",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-version",
    ];
    let body_hash = crate::sha256_hex(body);
    let (_, want) = crate::acs3::signature(
        &f.secret_key,
        "POST",
        "/",
        &crate::acs3::canonical_query(q),
        &headers,
        &body_hash,
    );
    if key_id != f.secret_id
        || needed.iter().any(|n| !signed.iter().any(|s| s == n))
        || header(h, "x-acs-content-sha256") != body_hash
        || !crate::same(&want, &sig)
    {
        return ali(
            StatusCode::BAD_REQUEST,
            json!({ "Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched with our calculation." }),
        );
    }
    let version = if header(h, "x-acs-action") == "SendSms" {
        crate::sms::ALIYUN_VERSION
    } else {
        crate::aliyun::VERSION
    };
    if header(h, "x-acs-version") != version {
        return ali(
            StatusCode::BAD_REQUEST,
            json!({ "Code": "InvalidVersion", "Message": format!("x-acs-version must be {version}") }),
        );
    }
    if failing {
        return ali(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "Code": "ServiceUnavailable", "Message": "The request has failed due to a temporary failure of the server." }),
        );
    }
    let p = |k: &str| q.get(k).cloned().unwrap_or_default();
    match header(h, "x-acs-action") {
        "InitFaceVerify" => {
            for k in ["SceneId", "OuterOrderNo", "ProductCode", "CertName", "CertNo", "MetaInfo", "ReturnUrl"]
            {
                if p(k).is_empty() {
                    return ali(
                        StatusCode::OK,
                        json!({ "Code": "400", "Message": format!("参数不能为空：{k}") }),
                    );
                }
            }
            let id = uuid::Uuid::new_v4().simple().to_string();
            lock(&f.sessions).insert(
                id.clone(),
                FakeSession { state: "pending".into(), code: String::new(), return_url: p("ReturnUrl") },
            );
            ali(
                StatusCode::OK,
                json!({ "Code": "200", "Message": "success", "ResultObject": {
                "CertifyId": id, "CertifyUrl": format!("{}/h5/{id}", f.base) } }),
            )
        }
        "DescribeFaceVerify" => {
            if p("SceneId").is_empty() {
                return ali(StatusCode::OK, json!({ "Code": "400", "Message": "参数不能为空：SceneId" }));
            }
            let Some(sess) = lock(&f.sessions).get(&p("CertifyId")).cloned() else {
                return ali(StatusCode::OK, json!({ "Code": "401", "Message": "参数非法：CertifyId" }));
            };
            let material = |score: f64| {
                json!({ "faceAttack": "F", "faceOcclusion": "F", "facialPictureFront": { "qualityScore": 88.3, "verifyScore": score } })
                    .to_string()
            };
            let result = match sess.state.as_str() {
                "passed" => json!({ "Passed": "T", "SubCode": "200", "MaterialInfo": material(93.1) }),
                "failed" => {
                    json!({ "Passed": "F", "SubCode": if sess.code.is_empty() { "205".to_string() } else { sess.code }, "MaterialInfo": material(12.0) })
                }
                // Not completed (also a session left to expire): no verdict yet.
                _ => json!({ "Passed": Value::Null, "SubCode": Value::Null }),
            };
            ali(StatusCode::OK, json!({ "Code": "200", "Message": "success", "ResultObject": result }))
        }
        "SendSms" => {
            for k in ["PhoneNumbers", "SignName", "TemplateCode"] {
                if p(k).is_empty() {
                    return ali(
                        StatusCode::OK,
                        json!({ "Code": "isv.INVALID_PARAMETERS", "Message": format!("参数异常：{k}") }),
                    );
                }
            }
            let Ok(params) = serde_json::from_str::<Value>(&p("TemplateParam")) else {
                return ali(
                    StatusCode::OK,
                    json!({ "Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法" }),
                );
            };
            match sms_script(&p("PhoneNumbers")) {
                "limit" => ali(
                    StatusCode::OK,
                    json!({ "Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1" }),
                ),
                "invalid" => ali(
                    StatusCode::OK,
                    json!({ "Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号" }),
                ),
                _ => {
                    lock(&f.sms).push(json!({ "phone": p("PhoneNumbers"), "sign_name": p("SignName"),
                        "template": p("TemplateCode"), "params": params }));
                    ali(
                        StatusCode::OK,
                        json!({ "Code": "OK", "Message": "OK", "BizId": "900619746936498440^0" }),
                    )
                }
            }
        }
        other => ali(
            StatusCode::NOT_FOUND,
            json!({ "Code": "InvalidAction.NotFound", "Message": format!("Specified api is not found: {other}") }),
        ),
    }
}

/// The fakes' process: `beian-vendor-fakes tencent|aliyun SECRET_ID SECRET_KEY`.
pub async fn main_with_args(args: Vec<String>) -> Result<(), String> {
    let usage = "usage: beian-vendor-fakes tencent|aliyun SECRET_ID SECRET_KEY";
    let vendor = match args.first().map(String::as_str) {
        Some("tencent") => Vendor::Tencent,
        Some("aliyun") => Vendor::Aliyun,
        _ => return Err(usage.into()),
    };
    let (Some(id), Some(key)) = (args.get(1), args.get(2)) else { return Err(usage.into()) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{addr}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    serve(vendor, id.clone(), key.clone(), listener).await;
    Ok(())
}
