//! SMS on the vendors' template APIs behind `beian_ports::messaging::SmsSender`:
//! Alibaba Cloud `SendSms` (dysmsapi 2017-05-25, RPC style, ACS3-HMAC-SHA256) and Tencent
//! Cloud `SendSms` (sms 2021-01-11, TC3-HMAC-SHA256). Vendors send approved templates, not
//! free text: each beian event maps to a sign name, a template id and the order of its
//! parameters through the [`SmsTemplates`] registry (`[[sms.templates]]`,
//! `docs/sms-templates.md`).
//!
//! Outcome mapping (the vendor's code stays in the error text, for operators):
//! - Aliyun: `Code` `OK` → sent. Rate limits and passing trouble → **retry**:
//!   `isv.BUSINESS_LIMIT_CONTROL` (the per-number minute/hour/day flow control),
//!   `isv.DAY_LIMIT_CONTROL`, `isv.AMOUNT_NOT_ENOUGH` (top up, then it goes), `isp.*`,
//!   `Throttling*`, `ServiceUnavailable`, HTTP 5xx. Everything else (`isv.MOBILE_NUMBER_ILLEGAL`,
//!   `isv.SMS_TEMPLATE_ILLEGAL`, `isv.SMS_SIGNATURE_ILLEGAL`, signature or key errors) →
//!   **refused**: retrying the same request cannot help.
//! - Tencent: `Response.Error` as for every API 3.0 call (`InternalError*`,
//!   `RequestLimitExceeded*`, `ResourceUnavailable*` → retry, else refused); then the number's
//!   `SendStatusSet[0].Code`: `Ok` → sent; `LimitExceeded.*` (PhoneNumberDailyLimit,
//!   PhoneNumberOneHourLimit, PhoneNumberThirtySecondLimit, DeliveryFrequencyLimit, …),
//!   `InternalError*`, `FailedOperation.InsufficientBalanceInSmsPackage` → retry; anything
//!   else (`InvalidParameterValue.IncorrectPhoneNumber`,
//!   `FailedOperation.TemplateIncorrectOrUnapproved`, …) → refused.
//!
//! A text whose event has no template (or a parameter the template names is missing) is
//! refused; the binary refuses to start with a vendor and events without templates, so that
//! only happens to rows queued by an older version.

use beian_ports::messaging::{SmsMessage, SmsSender};
use beian_ports::{BoxFuture, PortError, PortResult};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;

pub const ALIYUN_ENDPOINT: &str = "https://dysmsapi.aliyuncs.com";
pub const ALIYUN_VERSION: &str = "2017-05-25";
pub const TENCENT_ENDPOINT: &str = "https://sms.tencentcloudapi.com";
pub const TENCENT_VERSION: &str = "2021-01-11";

/// One `[[sms.templates]]` entry: the vendor template an event is sent with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsTemplate {
    /// The beian event (`face_verification`, `status_notice`, …).
    pub event: String,
    /// The approved signature (签名), e.g. `小程序备案`.
    pub sign_name: String,
    /// Aliyun TemplateCode (`SMS_123456789`) / Tencent TemplateId (`1110`).
    pub template_id: String,
    /// The event's parameters in the template's order. Aliyun: also the template's variable
    /// names (`${name}`); Tencent: the order of `{1}`, `{2}`, …
    pub params: Vec<String>,
}

/// The event → template registry of one vendor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsTemplates {
    templates: BTreeMap<String, SmsTemplate>,
}

impl SmsTemplates {
    /// Refused when an event is listed twice, is not a beian event, or names a parameter its
    /// event does not have.
    pub fn new(list: Vec<SmsTemplate>) -> Result<SmsTemplates, String> {
        let mut templates = BTreeMap::new();
        for t in list {
            let Some((_, known)) = beian_ports::messaging::SMS_EVENTS.iter().find(|(e, _)| *e == t.event)
            else {
                return Err(format!(
                    "[[sms.templates]] event {:?} is not a beian SMS event (see docs/sms-templates.md)",
                    t.event
                ));
            };
            if let Some(p) = t.params.iter().find(|p| !known.contains(&p.as_str())) {
                return Err(format!(
                    "[[sms.templates]] event {:?}: parameter {p:?} is not one of {known:?}",
                    t.event
                ));
            }
            if t.sign_name.trim().is_empty() || t.template_id.trim().is_empty() {
                return Err(format!("[[sms.templates]] event {:?} needs sign_name and template_id", t.event));
            }
            if templates.insert(t.event.clone(), t.clone()).is_some() {
                return Err(format!("[[sms.templates]] event {:?} is listed twice", t.event));
            }
        }
        Ok(SmsTemplates { templates })
    }

    /// The events of `required` without a template.
    pub fn missing<'a>(&self, required: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        required.into_iter().filter(|e| !self.templates.contains_key(*e)).collect()
    }

    /// The template of a message and its parameter values in the template's order.
    pub fn resolve(&self, m: &SmsMessage) -> PortResult<(&SmsTemplate, Vec<(String, String)>)> {
        let t = self.templates.get(&m.event).ok_or_else(|| {
            PortError::Refused(format!("no SMS template for event {:?} ([[sms.templates]])", m.event))
        })?;
        let mut values = Vec::new();
        for p in &t.params {
            let v = m.params.iter().find(|(k, _)| k == p).map(|(_, v)| v.clone()).ok_or_else(|| {
                PortError::Refused(format!("SMS event {:?} carries no parameter {p:?}", m.event))
            })?;
            values.push((p.clone(), v));
        }
        Ok((t, values))
    }
}

/// Vendor credentials of `[sms]`.
#[derive(Clone)]
pub struct SmsVendorConfig {
    pub endpoint: String,
    /// Aliyun AccessKeyId / Tencent SecretId.
    pub key_id: String,
    /// Aliyun AccessKeySecret / Tencent SecretKey.
    pub secret: String,
    /// Tencent SmsSdkAppId (unused by Aliyun).
    pub sdk_app_id: Option<String>,
    /// Tencent `X-TC-Region` [default: ap-guangzhou].
    pub region: Option<String>,
}

impl fmt::Debug for SmsVendorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsVendorConfig")
            .field("endpoint", &self.endpoint)
            .field("key_id", &self.key_id)
            .field("secret", &"***")
            .field("sdk_app_id", &self.sdk_app_id)
            .finish_non_exhaustive()
    }
}

/// Digits of a number, a leading `+` kept.
fn clean_phone(phone: &str) -> PortResult<String> {
    let p: String = phone.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let digits = p.strip_prefix('+').unwrap_or(&p);
    if digits.len() < 5 || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PortError::Refused("the phone number is not a number".into()));
    }
    Ok(p)
}

/// Alibaba Cloud SendSms.
pub struct AliyunSms {
    http: reqwest::Client,
    config: SmsVendorConfig,
    templates: SmsTemplates,
    host: String,
}

impl AliyunSms {
    pub fn new(http: reqwest::Client, config: SmsVendorConfig, templates: SmsTemplates) -> AliyunSms {
        let host = crate::tencent::host_of(&config.endpoint);
        AliyunSms { http, config, templates, host }
    }

    /// The signed request of one text (what [`SmsSender::send_sms`] posts): URL with the
    /// query and the headers, `Authorization` included.
    pub fn request(
        &self,
        m: &SmsMessage,
        date: &str,
        nonce: &str,
    ) -> PortResult<(String, BTreeMap<String, String>)> {
        let (t, values) = self.templates.resolve(m)?;
        let phone = clean_phone(&m.phone)?;
        let phone = phone.strip_prefix('+').unwrap_or(&phone).to_string();
        let params: serde_json::Map<String, Value> =
            values.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        let mut q = BTreeMap::new();
        q.insert("PhoneNumbers".to_string(), phone);
        q.insert("SignName".to_string(), t.sign_name.clone());
        q.insert("TemplateCode".to_string(), t.template_id.clone());
        q.insert("TemplateParam".to_string(), Value::Object(params).to_string());
        let query = crate::acs3::canonical_query(&q);
        let mut headers = BTreeMap::new();
        headers.insert("host".to_string(), self.host.clone());
        headers.insert("x-acs-action".to_string(), "SendSms".to_string());
        headers.insert("x-acs-content-sha256".to_string(), crate::acs3::EMPTY_SHA256.to_string());
        headers.insert("x-acs-date".to_string(), date.to_string());
        headers.insert("x-acs-signature-nonce".to_string(), nonce.to_string());
        headers.insert("x-acs-version".to_string(), ALIYUN_VERSION.to_string());
        let auth = crate::acs3::authorization(
            &self.config.key_id,
            &self.config.secret,
            "POST",
            "/",
            &query,
            &headers,
            crate::acs3::EMPTY_SHA256,
        );
        headers.insert("authorization".to_string(), auth);
        Ok((format!("{}/?{query}", self.config.endpoint.trim_end_matches('/')), headers))
    }
}

/// An Aliyun SendSms answer as a port result.
pub fn aliyun_outcome(status: u16, body: &str) -> PortResult<()> {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Err(PortError::Retry(format!("SendSms: unreadable answer (HTTP {status})")));
    };
    let code = v.get("Code").and_then(Value::as_str).unwrap_or("");
    let msg = v.get("Message").and_then(Value::as_str).unwrap_or("");
    if (200..300).contains(&status) && code == "OK" {
        return Ok(());
    }
    let why = format!("Aliyun SendSms: HTTP {status}, Code {code}: {msg}");
    let transient = status >= 500
        || ["isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.AMOUNT_NOT_ENOUGH"].contains(&code)
        || ["isp.", "Throttling", "ServiceUnavailable"].iter().any(|p| code.starts_with(p));
    Err(if transient { PortError::Retry(why) } else { PortError::Refused(why) })
}

impl SmsSender for AliyunSms {
    fn send_sms<'a>(&'a self, m: &'a SmsMessage) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let (url, headers) = self.request(m, &date, &uuid::Uuid::new_v4().simple().to_string())?;
            let mut req = self.http.post(url);
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let resp = req
                .send()
                .await
                .map_err(|e| PortError::Retry(format!("Aliyun SendSms: {}", e.without_url())))?;
            let status = resp.status().as_u16();
            let body = resp.text().await.map_err(|e| PortError::Retry(format!("Aliyun SendSms: {e}")))?;
            aliyun_outcome(status, &body)
        })
    }
}

/// Tencent Cloud SendSms.
pub struct TencentSms {
    http: reqwest::Client,
    config: SmsVendorConfig,
    templates: SmsTemplates,
    host: String,
}

impl TencentSms {
    pub fn new(http: reqwest::Client, config: SmsVendorConfig, templates: SmsTemplates) -> TencentSms {
        let host = crate::tencent::host_of(&config.endpoint);
        TencentSms { http, config, templates, host }
    }

    /// The JSON body and headers (`Authorization` included) of one text at `ts`.
    pub fn request(&self, m: &SmsMessage, ts: i64) -> PortResult<(String, BTreeMap<String, String>)> {
        let (t, values) = self.templates.resolve(m)?;
        let phone = clean_phone(&m.phone)?;
        // E.164: a mainland number without a country code gets +86.
        let phone = if phone.starts_with('+') { phone } else { format!("+86{phone}") };
        let body = json!({
            "PhoneNumberSet": [phone],
            "SmsSdkAppId": self.config.sdk_app_id.clone().unwrap_or_default(),
            "SignName": t.sign_name,
            "TemplateId": t.template_id,
            "TemplateParamSet": values.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        })
        .to_string();
        let auth = crate::tc3::authorization(
            &self.config.key_id,
            &self.config.secret,
            &self.host,
            "sms",
            crate::tc3::CONTENT_TYPE,
            &body,
            ts,
        );
        let mut headers = BTreeMap::new();
        headers.insert("authorization".to_string(), auth);
        headers.insert("content-type".to_string(), crate::tc3::CONTENT_TYPE.to_string());
        headers.insert("host".to_string(), self.host.clone());
        headers.insert("x-tc-action".to_string(), "SendSms".to_string());
        headers.insert("x-tc-version".to_string(), TENCENT_VERSION.to_string());
        headers.insert("x-tc-timestamp".to_string(), ts.to_string());
        headers.insert(
            "x-tc-region".to_string(),
            self.config.region.clone().unwrap_or_else(|| "ap-guangzhou".to_string()),
        );
        Ok((body, headers))
    }
}

/// A Tencent SendSms answer as a port result.
pub fn tencent_outcome(status: u16, body: &str) -> PortResult<()> {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Err(PortError::Retry(format!("SendSms: unreadable answer (HTTP {status})")));
    };
    let r = &v["Response"];
    let transient = |code: &str| {
        ["InternalError", "RequestLimitExceeded", "ResourceUnavailable", "LimitExceeded"]
            .iter()
            .any(|p| code.starts_with(p))
            || code == "FailedOperation.InsufficientBalanceInSmsPackage"
    };
    let (code, msg) = match (r.get("Error"), r["SendStatusSet"].get(0)) {
        (Some(e), _) => (e["Code"].as_str().unwrap_or(""), e["Message"].as_str().unwrap_or("")),
        (None, Some(s)) => (s["Code"].as_str().unwrap_or(""), s["Message"].as_str().unwrap_or("")),
        (None, None) if status >= 500 => ("", "HTTP error"),
        (None, None) => {
            return Err(PortError::Retry(format!("Tencent SendSms: HTTP {status}, no SendStatusSet")))
        }
    };
    if code == "Ok" {
        return Ok(());
    }
    // A top-level LimitExceeded is a quota of the account, a per-number one is the number's:
    // both pass with time.
    let why = format!("Tencent SendSms: HTTP {status}, Code {code}: {msg}");
    Err(if status >= 500 || transient(code) { PortError::Retry(why) } else { PortError::Refused(why) })
}

impl SmsSender for TencentSms {
    fn send_sms<'a>(&'a self, m: &'a SmsMessage) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            let (body, headers) = self.request(m, chrono::Utc::now().timestamp())?;
            let mut req = self.http.post(format!("{}/", self.config.endpoint.trim_end_matches('/')));
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let resp = req
                .body(body)
                .send()
                .await
                .map_err(|e| PortError::Retry(format!("Tencent SendSms: {}", e.without_url())))?;
            let status = resp.status().as_u16();
            let text = resp.text().await.map_err(|e| PortError::Retry(format!("Tencent SendSms: {e}")))?;
            tencent_outcome(status, &text)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> SmsTemplates {
        SmsTemplates::new(vec![SmsTemplate {
            event: "status_notice".into(),
            sign_name: "小程序备案".into(),
            template_id: "SMS_154950909".into(),
            params: vec!["title".into(), "name".into()],
        }])
        .expect("registry")
    }

    fn message() -> SmsMessage {
        SmsMessage {
            phone: "13800138000".into(),
            text: "【小程序备案】示例：备案已通过".into(),
            event: "status_notice".into(),
            params: vec![("name".into(), "示例".into()), ("title".into(), "备案已通过".into())],
        }
    }

    fn config() -> SmsVendorConfig {
        SmsVendorConfig {
            endpoint: "https://dysmsapi.aliyuncs.com".into(),
            key_id: "YourAccessKeyId".into(),
            secret: "YourAccessKeySecret".into(),
            sdk_app_id: Some("1400006666".into()),
            region: None,
        }
    }

    #[test]
    fn registry_refuses_unknown_events_and_parameters_and_names_missing_events() {
        let t = |event: &str, params: &[&str]| SmsTemplate {
            event: event.into(),
            sign_name: "s".into(),
            template_id: "1".into(),
            params: params.iter().map(|p| p.to_string()).collect(),
        };
        assert!(SmsTemplates::new(vec![t("nope", &[])]).expect_err("unknown event").contains("\"nope\""));
        assert!(SmsTemplates::new(vec![t("status_notice", &["code"])])
            .expect_err("unknown parameter")
            .contains("\"code\""));
        assert!(SmsTemplates::new(vec![t("status_notice", &[]), t("status_notice", &[])]).is_err());
        assert_eq!(templates().missing(["status_notice", "face_verification"]), ["face_verification"]);
    }

    /// The Aliyun request carries the template's parameters as named JSON and is signed by the
    /// V3 signer (whose published example `acs3::tests` checks): the fake's verifier accepts it.
    #[test]
    fn aliyun_request_is_signed_over_the_template_query() {
        let sms = AliyunSms::new(reqwest::Client::new(), config(), templates());
        let (url, headers) = sms
            .request(&message(), "2023-10-26T10:22:32Z", "3156853299f313e23d1673dc12e1703d")
            .expect("request");
        assert!(
            url.starts_with("https://dysmsapi.aliyuncs.com/?PhoneNumbers=13800138000&SignName="),
            "{url}"
        );
        assert!(url.contains("&TemplateCode=SMS_154950909&TemplateParam="), "{url}");
        let query: BTreeMap<String, String> = url
            .split_once('?')
            .expect("query")
            .1
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("k=v");
                (k.to_string(), percent_decode(v))
            })
            .collect();
        let params: Value = serde_json::from_str(&query["TemplateParam"]).expect("json");
        assert_eq!(params, json!({ "title": "备案已通过", "name": "示例" }));
        assert_eq!(query["SignName"], "小程序备案");
        let (key_id, signed, sig) = crate::acs3::parse(&headers["authorization"]).expect("authorization");
        assert_eq!(key_id, "YourAccessKeyId");
        let signed_headers: BTreeMap<String, String> =
            signed.iter().map(|n| (n.clone(), headers[n].clone())).collect();
        let (_, want) = crate::acs3::signature(
            "YourAccessKeySecret",
            "POST",
            "/",
            &crate::acs3::canonical_query(&query),
            &signed_headers,
            crate::acs3::EMPTY_SHA256,
        );
        assert_eq!(sig, want);
        assert_eq!(headers["x-acs-version"], "2017-05-25");
    }

    /// The Tencent request: E.164 number, ordered TemplateParamSet, signed with TC3 (whose
    /// published example `tc3::tests` checks) for service `sms`.
    #[test]
    fn tencent_request_is_signed_with_ordered_parameters() {
        let mut c = config();
        c.endpoint = TENCENT_ENDPOINT.into();
        let sms = TencentSms::new(reqwest::Client::new(), c, templates());
        let (body, headers) = sms.request(&message(), 1_551_113_065).expect("request");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["PhoneNumberSet"], json!(["+8613800138000"]));
        assert_eq!(v["TemplateParamSet"], json!(["备案已通过", "示例"]));
        assert_eq!(
            (v["SmsSdkAppId"].as_str(), v["TemplateId"].as_str()),
            (Some("1400006666"), Some("SMS_154950909"))
        );
        assert!(crate::tc3::verify(
            &headers["authorization"],
            "YourAccessKeyId",
            "YourAccessKeySecret",
            "sms.tencentcloudapi.com",
            crate::tc3::CONTENT_TYPE,
            &body,
            1_551_113_065,
        ));
        assert!(
            headers["authorization"].contains("/2019-02-25/sms/tc3_request"),
            "{}",
            headers["authorization"]
        );
    }

    #[test]
    fn vendor_codes_map_to_retry_or_refused() {
        assert!(aliyun_outcome(200, r#"{"Code":"OK","Message":"OK","BizId":"1"}"#).is_ok());
        let limit = r#"{"Code":"isv.BUSINESS_LIMIT_CONTROL","Message":"触发分钟级流控Permits:1"}"#;
        assert!(
            matches!(aliyun_outcome(200, limit), Err(PortError::Retry(m)) if m.contains("BUSINESS_LIMIT_CONTROL"))
        );
        let bad = r#"{"Code":"isv.MOBILE_NUMBER_ILLEGAL","Message":"非法手机号"}"#;
        assert!(matches!(aliyun_outcome(200, bad), Err(PortError::Refused(_))));
        assert!(matches!(aliyun_outcome(503, "<html>"), Err(PortError::Retry(_))));
        let ok = r#"{"Response":{"SendStatusSet":[{"Code":"Ok","Message":"send success"}],"RequestId":"r"}}"#;
        assert!(tencent_outcome(200, ok).is_ok());
        let daily = r#"{"Response":{"SendStatusSet":[{"Code":"LimitExceeded.PhoneNumberDailyLimit","Message":"单个手机号日下发短信条数超过设定的上限"}]}}"#;
        assert!(matches!(tencent_outcome(200, daily), Err(PortError::Retry(_))));
        let tpl = r#"{"Response":{"SendStatusSet":[{"Code":"FailedOperation.TemplateIncorrectOrUnapproved","Message":"x"}]}}"#;
        assert!(matches!(tencent_outcome(200, tpl), Err(PortError::Refused(_))));
        let auth = r#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"x"}}}"#;
        assert!(matches!(tencent_outcome(200, auth), Err(PortError::Refused(_))));
    }

    fn percent_decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() + 1 {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex"));
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).expect("utf8")
    }
}
