//! Alibaba Cloud 实人认证 (Cloudauth) behind the identity contract: `InitFaceVerify` starts a
//! session (SceneId, OuterOrderNo, ProductCode, CertType, CertName, CertNo, MetaInfo,
//! ReturnUrl, CallbackUrl → ResultObject.CertifyId + CertifyUrl) and `DescribeFaceVerify`
//! reads its result (ResultObject.Passed T/F, SubCode, MaterialInfo), API version 2019-03-07,
//! RPC style (parameters in the query string, empty body), signed with **ACS3-HMAC-SHA256**
//! (the V3 signature; not the older RPC HMAC-SHA1) (help.aliyun.com/document_detail/160546.html).
//!
//! Mapping to [`Outcome`]: Code `200` with Passed `T` → passed (raw code = SubCode); Passed
//! `F` → failed (raw code = SubCode); no Passed yet → pending (beian marks a pending session
//! expired once its CertifyId's validity has passed). Score: `verifyScore` of
//! MaterialInfo's `facialPictureFront`, when present. HTTP 5xx, `Throttling*`,
//! `ServiceUnavailable*`, Code `500` and unreadable answers → retry later; other codes → refused.

use crate::acs3;
use beian_ports::identity::{IdentityProvider, Outcome, Session, StartRequest, Status};
use beian_ports::{BoxFuture, PortError, PortResult};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

pub const DEFAULT_ENDPOINT: &str = "https://cloudauth.aliyuncs.com";
pub const VERSION: &str = "2019-03-07";
/// How long a CertifyId can be completed (Alibaba: 30 minutes).
pub const DEFAULT_SESSION_SECS: i64 = 1800;
/// The device description sent for a browser flow when none is configured.
pub const DEFAULT_META_INFO: &str =
    r#"{"deviceType":"h5","ua":"beian","bioMetaInfo":"4.1.0:1150000,0","zimVer":"3.0.0"}"#;

/// `[identity] provider = "aliyun_cloudauth"`.
#[derive(Clone)]
pub struct AliyunConfig {
    /// `https://cloudauth.aliyuncs.com` (or a fake's `http://127.0.0.1:PORT`).
    pub endpoint: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    /// The 认证场景 SceneId from the Cloudauth console.
    pub scene_id: String,
    /// `ID_PRO` (liveness + comparison with the authority's photo) unless configured.
    pub product_code: String,
    pub meta_info: String,
    pub session_secs: i64,
}

impl fmt::Debug for AliyunConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AliyunConfig")
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"***")
            .field("scene_id", &self.scene_id)
            .field("product_code", &self.product_code)
            .finish()
    }
}

pub struct AliyunCloudauth {
    http: reqwest::Client,
    config: AliyunConfig,
    host: String,
}

impl AliyunCloudauth {
    pub fn new(http: reqwest::Client, config: AliyunConfig) -> AliyunCloudauth {
        let host = crate::tencent::host_of(&config.endpoint);
        AliyunCloudauth { http, config, host }
    }

    /// One signed call; the answer's JSON when Code is 200, else the error mapped.
    async fn call(&self, action: &str, params: BTreeMap<String, String>) -> PortResult<Value> {
        let query = acs3::canonical_query(&params);
        let mut headers = BTreeMap::new();
        headers.insert("host".to_string(), self.host.clone());
        headers.insert("x-acs-action".to_string(), action.to_string());
        headers.insert("x-acs-content-sha256".to_string(), acs3::EMPTY_SHA256.to_string());
        headers.insert("x-acs-date".to_string(), chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        headers.insert("x-acs-signature-nonce".to_string(), uuid::Uuid::new_v4().simple().to_string());
        headers.insert("x-acs-version".to_string(), VERSION.to_string());
        let auth = acs3::authorization(
            &self.config.access_key_id,
            &self.config.access_key_secret,
            "POST",
            "/",
            &query,
            &headers,
            acs3::EMPTY_SHA256,
        );
        let mut req = self.http.post(format!("{}/?{query}", self.config.endpoint.trim_end_matches('/')));
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req
            .header("Authorization", auth)
            .send()
            .await
            .map_err(|e| PortError::Retry(format!("{action}: {e}")))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| PortError::Retry(format!("{action}: {e}")))?;
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) => return Err(PortError::Retry(format!("{action}: unreadable answer (HTTP {status})"))),
        };
        let code = match v.get("Code") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let msg = v.get("Message").and_then(Value::as_str).unwrap_or("");
        if status.is_success() && code == "200" {
            return Ok(v);
        }
        let transient = status.is_server_error()
            || code == "500"
            || code.starts_with("Throttling")
            || code.starts_with("ServiceUnavailable");
        let why = format!("{action}: HTTP {status}, Code {code}: {msg}");
        Err(if transient { PortError::Retry(why) } else { PortError::Refused(why) })
    }
}

impl IdentityProvider for AliyunCloudauth {
    fn name(&self) -> &'static str {
        "aliyun_cloudauth"
    }

    fn biometric(&self) -> bool {
        true
    }

    fn start<'a>(&'a self, req: &'a StartRequest, now: i64) -> BoxFuture<'a, PortResult<Session>> {
        Box::pin(async move {
            let params: BTreeMap<String, String> = [
                ("SceneId", self.config.scene_id.as_str()),
                ("OuterOrderNo", req.task_id.as_str()),
                ("ProductCode", self.config.product_code.as_str()),
                ("CertType", "IDENTITY_CARD"),
                ("CertName", req.name.as_str()),
                ("CertNo", req.id_number.as_str()),
                ("MetaInfo", self.config.meta_info.as_str()),
                ("ReturnUrl", req.return_url.as_str()),
                ("CallbackUrl", &format!("{}/callback", req.return_url)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let v = self.call("InitFaceVerify", params).await?;
            let r = v.get("ResultObject").cloned().unwrap_or(Value::Null);
            let id = r.get("CertifyId").and_then(Value::as_str);
            let url = r.get("CertifyUrl").and_then(Value::as_str);
            match (id, url) {
                (Some(i), Some(u)) if !i.is_empty() && !u.is_empty() => Ok(Session {
                    session_id: i.to_string(),
                    url: u.to_string(),
                    expires_at: now + self.config.session_secs,
                }),
                _ => Err(PortError::Retry("InitFaceVerify: answer without CertifyId or CertifyUrl".into())),
            }
        })
    }

    fn result<'a>(&'a self, session_id: &'a str) -> BoxFuture<'a, PortResult<Outcome>> {
        Box::pin(async move {
            let params: BTreeMap<String, String> =
                [("SceneId", self.config.scene_id.as_str()), ("CertifyId", session_id)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            let v = self.call("DescribeFaceVerify", params).await?;
            let r = v.get("ResultObject").cloned().unwrap_or(Value::Null);
            let sub = r.get("SubCode").and_then(Value::as_str).unwrap_or("").to_string();
            let score = r
                .get("MaterialInfo")
                .and_then(Value::as_str)
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
                .and_then(|m| m.pointer("/facialPictureFront/verifyScore").and_then(Value::as_f64));
            Ok(match r.get("Passed").and_then(Value::as_str) {
                Some("T") => Outcome { status: Status::Passed, score, raw_code: sub },
                Some("F") => Outcome { status: Status::Failed, score, raw_code: sub },
                _ => Outcome { status: Status::Pending, score: None, raw_code: "pending".into() },
            })
        })
    }
}
