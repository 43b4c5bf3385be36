//! SMS through a generic HTTP gateway.
//!
//! beian does not speak any SMS vendor's API itself. Instead it posts every message to one
//! HTTP endpoint, and an operator puts a small adapter in front of the vendor of their
//! choice (Aliyun, Tencent Cloud, a carrier gateway, ...). The contract of that endpoint:
//!
//! **Request**
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! Authorization: Bearer <api_key>          (only when api_key is configured)
//!
//! {"phone": "13800138000", "text": "您的验证码是 123456", "sign_name": "某某公司"}
//! ```
//!
//! - `phone`: the recipient as entered by the user (digits, optionally with a leading `+`
//!   and country code); beian does not reformat it.
//! - `text`: the full message text (UTF-8).
//! - `sign_name`: the configured SMS signature; the field is left out when none is
//!   configured.
//!
//! **Answer**
//!
//! - Any non-2xx status means failure; the job is retried later with backoff.
//! - A 2xx answer means success, unless its body is a JSON object with a `code` or
//!   `errcode` field that is not `0` (number or string): then it is a failure too, and
//!   `msg` / `errmsg` / `message` of the body is quoted in the error. A 2xx answer with
//!   an empty or non-JSON body is a success.
//!
//! The request has the time limits of the given [`reqwest::Client`]; use one with a timeout.

use super::{check_http_status, http_error, quote_body, NotifyError};

/// Where the SMS gateway adapter listens.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HttpSmsConfig {
    /// The endpoint that accepts the JSON request described in the module documentation.
    pub url: String,
    /// Sent as `Authorization: Bearer <api_key>` when set.
    #[serde(default)]
    pub api_key: Option<String>,
    /// The SMS signature passed on as `sign_name` when set.
    #[serde(default)]
    pub sign_name: Option<String>,
}

#[derive(serde::Serialize)]
struct SmsRequest<'a> {
    phone: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sign_name: Option<&'a str>,
}

/// Sends `text` to `phone` through the configured gateway.
pub async fn send_sms(
    http: &reqwest::Client,
    cfg: &HttpSmsConfig,
    phone: &str,
    text: &str,
) -> Result<(), NotifyError> {
    check_phone(phone)?;
    if text.trim().is_empty() {
        return Err(NotifyError::InvalidInput("SMS text is empty".into()));
    }
    let body = serde_json::to_vec(&SmsRequest { phone, text, sign_name: cfg.sign_name.as_deref() })
        .map_err(|e| NotifyError::InvalidInput(format!("SMS request: {e}")))?;

    let mut req = http
        .post(&cfg.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body);
    if let Some(key) = cfg.api_key.as_deref() {
        if key.chars().any(|c| c.is_control()) {
            return Err(NotifyError::InvalidInput("SMS gateway api_key contains control characters".into()));
        }
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.map_err(|e| http_error("SMS gateway", e))?;
    let body = check_http_status("SMS gateway", resp).await?;
    check_result_code(&body)
}

/// Accepts digits with optional separators and a leading `+`; rejects anything else.
fn check_phone(phone: &str) -> Result<(), NotifyError> {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed =
        phone.char_indices().all(|(i, c)| c.is_ascii_digit() || c == '-' || c == ' ' || (c == '+' && i == 0));
    if !allowed || !(5..=20).contains(&digits) {
        return Err(NotifyError::InvalidInput(format!(
            "the recipient is not a phone number ({} characters, {digits} digits)",
            phone.chars().count()
        )));
    }
    Ok(())
}

/// A 2xx body that is a JSON object with a non-zero `code` / `errcode` is a failure.
fn check_result_code(body: &[u8]) -> Result<(), NotifyError> {
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(());
    };
    for field in ["code", "errcode"] {
        let Some(code) = obj.get(field) else { continue };
        let zero = match code {
            serde_json::Value::Number(n) => n.as_f64() == Some(0.0),
            serde_json::Value::String(s) => s.trim() == "0",
            serde_json::Value::Null => true,
            _ => false,
        };
        if !zero {
            let msg = ["msg", "errmsg", "message"]
                .iter()
                .find_map(|k| obj.get(*k).and_then(|v| v.as_str()))
                .map(|m| format!(": {}", quote_body(m.as_bytes())))
                .unwrap_or_default();
            return Err(NotifyError::Rejected(format!("SMS gateway answered {field} {code}{msg}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes() {
        assert!(check_result_code(b"").is_ok());
        assert!(check_result_code(b"OK").is_ok());
        assert!(check_result_code(br#"{"code":0}"#).is_ok());
        assert!(check_result_code(br#"{"errcode":"0","errmsg":"ok"}"#).is_ok());
        assert!(check_result_code(br#"[1,2]"#).is_ok());
        let e = check_result_code(br#"{"code":1,"msg":"quota exceeded"}"#).expect_err("code 1");
        assert!(
            matches!(&e, NotifyError::Rejected(m) if m.contains("code 1") && m.contains("quota exceeded"))
        );
        assert!(check_result_code(br#"{"code":0,"errcode":40001}"#).is_err());
        assert!(check_result_code(br#"{"code":"E42"}"#).is_err());
    }

    #[test]
    fn phones() {
        for ok in ["13800138000", "+86 138-0013-8000"] {
            assert!(check_phone(ok).is_ok(), "{ok}");
        }
        for bad in ["", "123", "1380013800a", "138\r\n00138000", "86+13800138000"] {
            assert!(matches!(check_phone(bad), Err(NotifyError::InvalidInput(_))), "{bad:?}");
        }
    }
}
