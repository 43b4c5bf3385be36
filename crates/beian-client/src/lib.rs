//! A typed async client for the WeChat third-party-platform ICP filing API (小程序备案), as
//! served by beian and — with [`Client::wechat`] or a base URL of `https://api.weixin.qq.com`
//! — by WeChat itself.
//!
//! ```no_run
//! # async fn demo() -> Result<(), beian_client::Error> {
//! use beian_client::{Client, FieldPlacement, Upload};
//! let client = Client::new("http://127.0.0.1:8080");
//! let component = client.component_token("wxcomponent", "secret", "ticket@@@…").await?;
//! let auth = client.query_auth(&component.component_access_token, "wxcomponent", "queryauthcode@@@…").await?;
//! let token = &auth.authorizer_access_token;
//! let media = client
//!     .upload_icp_media(
//!         token,
//!         &Upload::image("icp_subject.principal_info.certificate_photo_front", "front.jpg", vec![0xff, 0xd8])
//!             .certificate_type(2),
//!         FieldPlacement::Form,
//!     )
//!     .await?;
//! # let _ = media; Ok(()) }
//! ```
//!
//! Every JSON answer is HTTP 200 with `errcode`/`errmsg`; a non-zero `errcode` becomes
//! [`Error::Api`] (with the per-field `hints` of `86202`). A missing `errcode` means success
//! (the component token answers omit it).
//!
//! Features: `rustls` (default) enables TLS for `https://` base URLs; build with
//! `default-features = false` for plain HTTP only.
//!
//! Pushes to the provider's event URL are handled by [`EventReceiver`].

mod error;
mod event;
mod types;

use std::time::Duration;

use beian_core::payload::ApplyPayload;
use reqwest::multipart::{Form, Part};
use reqwest::RequestBuilder;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

pub use error::{Error, Hint, Result};
pub use event::{Event, EventReceiver, SUCCESS_REPLY};
pub use types::{
    AuditData, AuthorizationInfo, AuthorizerToken, CertificateType, ComponentToken, District, EntranceInfo,
    FieldPlacement, Media, MediaBytes, NrlxType, OnlineOrder, PreAuthCode, ServiceContentType, SubjectType,
    Upload, VerifyTask, VerifyTaskStatus,
};

/// WeChat's API host.
pub const WECHAT_API_BASE: &str = "https://api.weixin.qq.com";
/// WeChat's host for the merchant authorization page (`/cgi-bin/componentloginpage`).
pub const WECHAT_MP_BASE: &str = "https://mp.weixin.qq.com";

/// A client for one API host. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    login_page_base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8080`), with a 10 s connect and 60 s
    /// request timeout. The authorization page is assumed to live on the same host.
    pub fn new(base_url: &str) -> Client {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .expect("reqwest client with default settings");
        Client::with_http_client(base_url, http)
    }

    /// A client for `base_url` using a caller-configured `reqwest::Client`.
    pub fn with_http_client(base_url: &str, http: reqwest::Client) -> Client {
        let base = base_url.trim_end_matches('/').to_string();
        Client { login_page_base: base.clone(), base, http }
    }

    /// A client for WeChat itself: API on [`WECHAT_API_BASE`], authorization page on
    /// [`WECHAT_MP_BASE`]. Needs the `rustls` feature.
    pub fn wechat() -> Client {
        Client::new(WECHAT_API_BASE).with_login_page_base(WECHAT_MP_BASE)
    }

    /// Serve [`Client::authorization_page_url`] from another host.
    pub fn with_login_page_base(mut self, base_url: &str) -> Client {
        self.login_page_base = base_url.trim_end_matches('/').to_string();
        self
    }

    /// The API base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    // ---- component (third-party platform) token flow, §2 ----

    /// `POST /cgi-bin/component/api_component_token`.
    pub async fn component_token(
        &self,
        component_appid: &str,
        component_appsecret: &str,
        component_verify_ticket: &str,
    ) -> Result<ComponentToken> {
        let body = json!({
            "component_appid": component_appid,
            "component_appsecret": component_appsecret,
            "component_verify_ticket": component_verify_ticket,
        });
        self.post_json("/cgi-bin/component/api_component_token", &[], &body).await
    }

    /// `POST /cgi-bin/component/api_create_preauthcode?component_access_token=`.
    pub async fn create_pre_auth_code(
        &self,
        component_access_token: &str,
        component_appid: &str,
    ) -> Result<PreAuthCode> {
        self.post_json(
            "/cgi-bin/component/api_create_preauthcode",
            &[("component_access_token", component_access_token)],
            &json!({ "component_appid": component_appid }),
        )
        .await
    }

    /// The merchant authorization page:
    /// `{base}/cgi-bin/componentloginpage?component_appid=…&pre_auth_code=…&redirect_uri=…&auth_type=2`
    /// (`auth_type=2`: mini programs only). After authorizing, the merchant is redirected to
    /// `redirect_uri` with `auth_code`, and an [`Event::Authorized`] push follows.
    pub fn authorization_page_url(
        &self,
        component_appid: &str,
        pre_auth_code: &str,
        redirect_uri: &str,
    ) -> String {
        format!(
            "{}/cgi-bin/componentloginpage?component_appid={}&pre_auth_code={}&redirect_uri={}&auth_type=2",
            self.login_page_base,
            url_encode(component_appid),
            url_encode(pre_auth_code),
            url_encode(redirect_uri),
        )
    }

    /// `POST /cgi-bin/component/api_query_auth?component_access_token=`: exchange an
    /// authorization code for the authorizer's tokens and granted permission sets.
    pub async fn query_auth(
        &self,
        component_access_token: &str,
        component_appid: &str,
        authorization_code: &str,
    ) -> Result<AuthorizationInfo> {
        #[derive(Deserialize)]
        struct Wire {
            authorization_info: AuthorizationInfo,
        }
        let w: Wire = self
            .post_json(
                "/cgi-bin/component/api_query_auth",
                &[("component_access_token", component_access_token)],
                &json!({ "component_appid": component_appid, "authorization_code": authorization_code }),
            )
            .await?;
        Ok(w.authorization_info)
    }

    /// `POST /cgi-bin/component/api_authorizer_token?component_access_token=`: refresh an
    /// authorizer token (the refresh token may be rotated; keep the returned one).
    pub async fn authorizer_token(
        &self,
        component_access_token: &str,
        component_appid: &str,
        authorizer_appid: &str,
        authorizer_refresh_token: &str,
    ) -> Result<AuthorizerToken> {
        self.post_json(
            "/cgi-bin/component/api_authorizer_token",
            &[("component_access_token", component_access_token)],
            &json!({
                "component_appid": component_appid,
                "authorizer_appid": authorizer_appid,
                "authorizer_refresh_token": authorizer_refresh_token,
            }),
        )
        .await
    }

    // ---- ICP endpoints, §4; `token` is the authorizer_access_token ----

    /// `POST /wxa/icp/create_icp_verifytask`: send the face-verification notice to the
    /// mini program's administrator.
    pub async fn create_icp_verify_task(&self, token: &str, along_with_auth: bool) -> Result<VerifyTask> {
        self.post_json(
            "/wxa/icp/create_icp_verifytask",
            &[("access_token", token)],
            &json!({ "along_with_auth": along_with_auth }),
        )
        .await
    }

    /// `POST /wxa/icp/query_icp_verifytask`.
    pub async fn query_icp_verify_task(&self, token: &str, task_id: &str) -> Result<VerifyTaskStatus> {
        self.post_json(
            "/wxa/icp/query_icp_verifytask",
            &[("access_token", token)],
            &json!({ "task_id": task_id }),
        )
        .await
    }

    /// `POST /wxa/icp/upload_icp_media` (multipart; the file is the part `media`).
    pub async fn upload_icp_media(
        &self,
        token: &str,
        upload: &Upload,
        placement: FieldPlacement,
    ) -> Result<Media> {
        let part =
            Part::bytes(upload.bytes.clone()).file_name(upload.file_name.clone()).mime_str(upload.mime())?;
        let cert = upload.certificate_type.map(|c| c.to_string());
        let mut fields: Vec<(&str, &str)> =
            vec![("type", &upload.media_type), ("icp_order_field", &upload.icp_order_field)];
        if let Some(c) = &cert {
            fields.push(("certificate_type", c));
        }
        let mut query = vec![("access_token", token)];
        let mut form = Form::new();
        match placement {
            FieldPlacement::Form => {
                for (k, v) in fields {
                    form = form.text(k, v.to_string());
                }
            }
            FieldPlacement::Query => query.extend(fields),
        }
        let form = form.part("media", part);
        let req = self.http.post(self.url("/wxa/icp/upload_icp_media")).query(&query).multipart(form);
        self.send(req).await
    }

    /// `GET /wxa/icp/get_icp_media?media_id=`: the raw file. An `application/json` (or
    /// `text/plain`) answer is an error body and becomes [`Error::Api`].
    pub async fn get_icp_media(&self, token: &str, media_id: &str) -> Result<MediaBytes> {
        let resp = self
            .http
            .get(self.url("/wxa/icp/get_icp_media"))
            .query(&[("access_token", token), ("media_id", media_id)])
            .send()
            .await?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = resp.bytes().await?;
        let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if matches!(mime.as_str(), "application/json" | "text/json" | "text/plain") || !status.is_success() {
            check::<Value>(status, &bytes)?;
            return Err(Error::Decode(format!(
                "expected media bytes, got a {content_type} answer without errcode"
            )));
        }
        Ok(MediaBytes { content_type, bytes: bytes.to_vec() })
    }

    /// `POST /wxa/icp/apply_icp_filing`. Validation failures come back as
    /// `Error::Api { errcode: 86202, hints, .. }`.
    pub async fn apply_icp_filing(&self, token: &str, payload: &ApplyPayload) -> Result<()> {
        self.post_json::<Value>("/wxa/icp/apply_icp_filing", &[("access_token", token)], payload)
            .await
            .map(drop)
    }

    /// `POST /wxa/icp/cancel_apply_icp_filing` (no body): withdraw an application under
    /// platform review.
    pub async fn cancel_apply_icp_filing(&self, token: &str) -> Result<()> {
        let req =
            self.http.post(self.url("/wxa/icp/cancel_apply_icp_filing")).query(&[("access_token", token)]);
        self.send::<Value>(req).await.map(drop)
    }

    /// `POST /wxa/icp/cancel_icp_filing`: `cancel_type` 1 注销主体, 2 注销小程序, 3 注销微信小程序;
    /// `reason_type` 1 不再运营, 2 主体信息变更.
    pub async fn cancel_icp_filing(
        &self,
        token: &str,
        cancel_type: u32,
        reason_type: Option<u32>,
    ) -> Result<()> {
        let mut body = json!({ "cancel_type": cancel_type });
        if let Some(r) = reason_type {
            body["reason_type"] = json!(r);
        }
        self.post_json::<Value>("/wxa/icp/cancel_icp_filing", &[("access_token", token)], &body)
            .await
            .map(drop)
    }

    /// `GET /wxa/icp/get_icp_entrance_info`: filing status and rejection reasons.
    pub async fn get_icp_entrance_info(&self, token: &str) -> Result<EntranceInfo> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            info: Option<EntranceInfo>,
        }
        let w: Wire = self.get("/wxa/icp/get_icp_entrance_info", token).await?;
        Ok(w.info.unwrap_or_default())
    }

    /// `GET /wxa/icp/get_online_icp_order`: the filed data.
    pub async fn get_online_icp_order(&self, token: &str) -> Result<OnlineOrder> {
        let raw: Value = self.get("/wxa/icp/get_online_icp_order", token).await?;
        let w: types::OnlineOrderWire = serde_json::from_value(raw.clone())
            .map_err(|e| Error::Decode(format!("/wxa/icp/get_online_icp_order: {e}")))?;
        Ok(OnlineOrder { icp_subject: w.icp_subject, icp_applets: w.icp_applets, raw })
    }

    /// `GET /wxa/icp/query_icp_service_content_types`.
    pub async fn query_icp_service_content_types(&self, token: &str) -> Result<Vec<ServiceContentType>> {
        self.items("/wxa/icp/query_icp_service_content_types", token).await
    }

    /// `GET /wxa/icp/query_icp_certificate_types`.
    pub async fn query_icp_certificate_types(&self, token: &str) -> Result<Vec<CertificateType>> {
        self.items("/wxa/icp/query_icp_certificate_types", token).await
    }

    /// `GET /wxa/icp/query_icp_district_code`: provinces with nested `sub_list`s.
    pub async fn query_icp_district_code(&self, token: &str) -> Result<Vec<District>> {
        self.items("/wxa/icp/query_icp_district_code", token).await
    }

    /// `GET /wxa/icp/query_icp_nrlx_types`.
    pub async fn query_icp_nrlx_types(&self, token: &str) -> Result<Vec<NrlxType>> {
        self.items("/wxa/icp/query_icp_nrlx_types", token).await
    }

    /// `GET /wxa/icp/query_icp_subject_types`.
    pub async fn query_icp_subject_types(&self, token: &str) -> Result<Vec<SubjectType>> {
        self.items("/wxa/icp/query_icp_subject_types", token).await
    }

    // ---- plumbing ----

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: &impl serde::Serialize,
    ) -> Result<T> {
        let mut req = self.http.post(self.url(path));
        if !query.is_empty() {
            req = req.query(query);
        }
        self.send(req.json(body)).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, token: &str) -> Result<T> {
        self.send(self.http.get(self.url(path)).query(&[("access_token", token)])).await
    }

    async fn items<T: DeserializeOwned>(&self, path: &str, token: &str) -> Result<Vec<T>> {
        let w: types::Items<T> = self.get(path, token).await?;
        Ok(w.items)
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T> {
        let resp = req.send().await?;
        let status = resp.status();
        let path = resp.url().path().to_string();
        let bytes = resp.bytes().await?;
        check(status, &bytes).map_err(|e| match e {
            Error::Decode(m) => Error::Decode(format!("{path}: {m}")),
            e => e,
        })
    }
}

/// Turn an answer into `T`, mapping `errcode != 0` to [`Error::Api`].
fn check<T: DeserializeOwned>(status: reqwest::StatusCode, bytes: &[u8]) -> Result<T> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) if status.is_success() => return Err(Error::Decode(e.to_string())),
        Err(_) => {
            return Err(Error::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(bytes).chars().take(500).collect(),
            })
        }
    };
    let errcode = match value.get("errcode") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| Error::Decode(format!("errcode {n}")))?,
        Some(Value::String(s)) => s.trim().parse().map_err(|_| Error::Decode(format!("errcode {s:?}")))?,
        Some(other) => return Err(Error::Decode(format!("errcode {other}"))),
    };
    if errcode != 0 {
        let errmsg = value.get("errmsg").and_then(Value::as_str).unwrap_or_default().to_string();
        let hints = value
            .get("hints")
            .filter(|h| !h.is_null())
            .map(|h| serde_json::from_value(h.clone()))
            .transpose()
            .map_err(|e| Error::Decode(format!("hints: {e}")))?
            .unwrap_or_default();
        return Err(Error::Api { errcode, errmsg, hints });
    }
    if !status.is_success() {
        return Err(Error::Status {
            status: status.as_u16(),
            body: String::from_utf8_lossy(bytes).chars().take(500).collect(),
        });
    }
    serde_json::from_value(value).map_err(|e| Error::Decode(e.to_string()))
}

/// Percent-encode a query-string value (everything but RFC 3986 unreserved characters).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(url_encode("https://a.b/c?d=1&e=中"), "https%3A%2F%2Fa.b%2Fc%3Fd%3D1%26e%3D%E4%B8%AD");
    }

    #[test]
    fn missing_errcode_is_success_and_errors_keep_errmsg() {
        let ok: ComponentToken =
            check(reqwest::StatusCode::OK, br#"{"component_access_token":"t","expires_in":7200}"#)
                .expect("ok");
        assert_eq!(ok.expires_in, 7200);
        let e =
            check::<Value>(reqwest::StatusCode::OK, br#"{"errcode":"40001","errmsg":"invalid rid: 1-2-3"}"#)
                .expect_err("api error");
        assert!(matches!(e, Error::Api { errcode: 40001, ref errmsg, .. } if errmsg == "invalid rid: 1-2-3"));
        let e = check::<Value>(reqwest::StatusCode::NOT_FOUND, b"not found").expect_err("status");
        assert!(matches!(e, Error::Status { status: 404, .. }));
    }
}
