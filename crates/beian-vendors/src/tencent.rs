//! Tencent Cloud FaceID (人脸核身) behind the identity contract: `DetectAuth` starts a
//! session (RuleId, IdCard, Name, RedirectUrl, Extra → BizToken + Url) and
//! `GetDetectInfoEnhanced` reads its result (Text.ErrCode, Text.Sim), API version
//! 2018-03-01, signed with TC3-HMAC-SHA256 (cloud.tencent.com/document/api/1007/31816,
//! 41957).
//!
//! Mapping to [`Outcome`]: `Text.ErrCode` 0 → passed; any other number → failed (raw code =
//! that number); null (not completed) → pending; error `InvalidParameterValue.BizTokenExpired`
//! → expired. `Text.Sim` is the score. Errors `InternalError*`, `RequestLimitExceeded*`,
//! `ResourceUnavailable*`, HTTP 5xx and unreadable answers → retry later; any other error
//! (credentials, parameters) → refused.

use beian_ports::identity::{IdentityProvider, Outcome, Session, StartRequest, Status};
use beian_ports::{BoxFuture, PortError, PortResult};
use serde_json::{json, Value};
use std::fmt;

pub const DEFAULT_ENDPOINT: &str = "https://faceid.tencentcloudapi.com";
pub const VERSION: &str = "2018-03-01";
/// How long a BizToken's H5 flow can be completed (Tencent: 7200 s).
pub const DEFAULT_SESSION_SECS: i64 = 7200;

/// `[identity] provider = "tencent_faceid"`.
#[derive(Clone)]
pub struct TencentConfig {
    /// `https://faceid.tencentcloudapi.com` (or a fake's `http://127.0.0.1:PORT`).
    pub endpoint: String,
    pub secret_id: String,
    pub secret_key: String,
    /// `X-TC-Region`; DetectAuth does not need one.
    pub region: Option<String>,
    /// The 业务流程 RuleId from the FaceID console.
    pub rule_id: String,
    pub session_secs: i64,
}

impl fmt::Debug for TencentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TencentConfig")
            .field("endpoint", &self.endpoint)
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"***")
            .field("region", &self.region)
            .field("rule_id", &self.rule_id)
            .finish()
    }
}

pub struct TencentFaceId {
    http: reqwest::Client,
    config: TencentConfig,
    host: String,
}

impl TencentFaceId {
    pub fn new(http: reqwest::Client, config: TencentConfig) -> TencentFaceId {
        let host = host_of(&config.endpoint);
        TencentFaceId { http, config, host }
    }

    /// One signed call; the `Response` object on success, or the error mapped.
    async fn call(&self, action: &str, body: Value) -> PortResult<Value> {
        let payload = body.to_string();
        let ts = chrono::Utc::now().timestamp();
        let auth = crate::tc3::authorization(
            &self.config.secret_id,
            &self.config.secret_key,
            &self.host,
            "faceid",
            crate::tc3::CONTENT_TYPE,
            &payload,
            ts,
        );
        let mut req = self
            .http
            .post(format!("{}/", self.config.endpoint.trim_end_matches('/')))
            .header("Authorization", auth)
            .header("Content-Type", crate::tc3::CONTENT_TYPE)
            .header("Host", &self.host)
            .header("X-TC-Action", action)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", ts.to_string());
        if let Some(r) = &self.config.region {
            req = req.header("X-TC-Region", r);
        }
        let resp = req.body(payload).send().await.map_err(|e| PortError::Retry(format!("{action}: {e}")))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| PortError::Retry(format!("{action}: {e}")))?;
        if status.is_server_error() {
            return Err(PortError::Retry(format!("{action}: HTTP {status}")));
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| PortError::Retry(format!("{action}: unreadable answer (HTTP {status})")))?;
        let r = v.get("Response").cloned().unwrap_or(Value::Null);
        if let Some(err) = r.get("Error") {
            let code = err.get("Code").and_then(Value::as_str).unwrap_or("").to_string();
            let msg = err.get("Message").and_then(Value::as_str).unwrap_or("");
            return Err(map_error(action, &code, msg));
        }
        if r.is_null() {
            return Err(PortError::Retry(format!("{action}: answer without Response")));
        }
        Ok(r)
    }
}

/// A Tencent error code as a port error (the code stays in the text, for operators).
fn map_error(action: &str, code: &str, msg: &str) -> PortError {
    let transient = ["InternalError", "RequestLimitExceeded", "ResourceUnavailable"];
    if transient.iter().any(|t| code.starts_with(t)) {
        PortError::Retry(format!("{action}: {code}: {msg}"))
    } else {
        PortError::Refused(format!("{action}: {code}: {msg}"))
    }
}

/// The host of an endpoint URL (`https://h[:p]/…` → `h[:p]`), as signed and sent.
pub fn host_of(endpoint: &str) -> String {
    let rest = endpoint.split("://").nth(1).unwrap_or(endpoint);
    rest.split('/').next().unwrap_or(rest).to_string()
}

impl IdentityProvider for TencentFaceId {
    fn name(&self) -> &'static str {
        "tencent_faceid"
    }

    fn biometric(&self) -> bool {
        true
    }

    fn start<'a>(&'a self, req: &'a StartRequest, now: i64) -> BoxFuture<'a, PortResult<Session>> {
        Box::pin(async move {
            let body = json!({
                "RuleId": self.config.rule_id,
                "IdCard": req.id_number,
                "Name": req.name,
                "RedirectUrl": req.return_url,
                "Extra": req.task_id,
            });
            let r = self.call("DetectAuth", body).await?;
            let token = r.get("BizToken").and_then(Value::as_str);
            let url = r.get("Url").and_then(Value::as_str);
            match (token, url) {
                (Some(t), Some(u)) if !t.is_empty() && !u.is_empty() => Ok(Session {
                    session_id: t.to_string(),
                    url: u.to_string(),
                    expires_at: now + self.config.session_secs,
                }),
                _ => Err(PortError::Retry("DetectAuth: answer without BizToken or Url".into())),
            }
        })
    }

    fn result<'a>(&'a self, session_id: &'a str) -> BoxFuture<'a, PortResult<Outcome>> {
        Box::pin(async move {
            let body = json!({ "BizToken": session_id, "RuleId": self.config.rule_id, "InfoType": "1" });
            let r = match self.call("GetDetectInfoEnhanced", body).await {
                Err(PortError::Refused(why)) if why.contains("InvalidParameterValue.BizTokenExpired") => {
                    return Ok(Outcome {
                        status: Status::Expired,
                        score: None,
                        raw_code: "InvalidParameterValue.BizTokenExpired".into(),
                    })
                }
                other => other?,
            };
            let text = r.get("Text").cloned().unwrap_or(Value::Null);
            let score = match text.get("Sim") {
                Some(Value::String(s)) => s.parse::<f64>().ok(),
                Some(Value::Number(n)) => n.as_f64(),
                _ => None,
            };
            Ok(match text.get("ErrCode") {
                Some(Value::Number(n)) if n.as_i64() == Some(0) => {
                    Outcome { status: Status::Passed, score, raw_code: "0".into() }
                }
                Some(Value::Number(n)) => Outcome { status: Status::Failed, score, raw_code: n.to_string() },
                _ => Outcome { status: Status::Pending, score: None, raw_code: "pending".into() },
            })
        })
    }
}
