//! Receiving the pushes WeChat (or beian) POSTs to the provider's 授权事件接收URL (§6).
//!
//! A push is `<xml><AppId>…</AppId><Encrypt>…</Encrypt></xml>` with `timestamp`, `nonce`,
//! `encrypt_type=aes` and `msg_signature` in the query string. [`EventReceiver::open`] checks
//! the signature, decrypts, and parses the inner XML into an [`Event`]. Reply to the push with
//! the plain body [`SUCCESS_REPLY`].

use std::collections::HashMap;

use beian_wxcrypt::{xml_field, xml_fields, WxCrypt};

use crate::error::{Error, Result};

/// The body a receiver answers every push with.
pub const SUCCESS_REPLY: &str = "success";

/// A decrypted push, keyed by its `InfoType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `component_verify_ticket`, every 10 minutes; feeds [`crate::Client::component_token`].
    ComponentVerifyTicket { app_id: String, create_time: i64, ticket: String },
    /// `authorized`: a merchant authorized the platform; exchange `authorization_code` with
    /// [`crate::Client::query_auth`].
    Authorized {
        authorizer_appid: String,
        authorization_code: String,
        authorization_code_expired_time: i64,
        pre_auth_code: String,
    },
    /// `updateauthorized`: the merchant changed the granted permission sets.
    UpdateAuthorized {
        authorizer_appid: String,
        authorization_code: String,
        authorization_code_expired_time: i64,
        pre_auth_code: String,
    },
    /// `unauthorized`: the merchant revoked the authorization.
    Unauthorized { authorizer_appid: String },
    /// `notify_icpfiling_verify_result`: a face-verification task finished
    /// (`result`: 2 失败, 3 成功).
    IcpFilingVerifyResult {
        task_id: String,
        verify_appid: String,
        result: i64,
        /// Combined auth+filing flow only (9 = 认证短信核验通过).
        along_with_auth_result: Option<i64>,
    },
    /// `notify_apply_icpfiling_result`: a filing was rejected (3, 5) or approved (6).
    ApplyIcpFilingResult { authorizer_appid: String, beian_status: i64 },
    /// `notify_3rd_wxa_auth_and_icp`: a node of the combined auth+filing flow (§5.5).
    AuthAndIcpResult { procedure_id: String, procedure_status: i64 },
    /// Any other `InfoType` (or none), with every field of the inner XML in order.
    Other { info_type: String, fields: Vec<(String, String)> },
}

impl Event {
    /// Parse a decrypted (inner) XML message.
    pub fn parse(xml: &str) -> Result<Event> {
        let fields = xml_fields(xml);
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string());
        let text = |name: &str| get(name).ok_or_else(|| Error::Decode(format!("event lacks <{name}>")));
        let num = |name: &str| -> Result<i64> {
            let v = text(name)?;
            v.parse().map_err(|_| Error::Decode(format!("event field <{name}> is not a number: {v:?}")))
        };
        let opt_num = |name: &str| -> Result<Option<i64>> {
            match get(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(_) => num(name).map(Some),
            }
        };
        let info_type = get("InfoType").unwrap_or_default();
        Ok(match info_type.as_str() {
            "component_verify_ticket" => Event::ComponentVerifyTicket {
                app_id: text("AppId")?,
                create_time: opt_num("CreateTime")?.unwrap_or_default(),
                ticket: text("ComponentVerifyTicket")?,
            },
            "authorized" | "updateauthorized" => {
                let authorizer_appid = text("AuthorizerAppid")?;
                let authorization_code = text("AuthorizationCode")?;
                let authorization_code_expired_time =
                    opt_num("AuthorizationCodeExpiredTime")?.unwrap_or_default();
                let pre_auth_code = get("PreAuthCode").unwrap_or_default();
                if info_type == "authorized" {
                    Event::Authorized {
                        authorizer_appid,
                        authorization_code,
                        authorization_code_expired_time,
                        pre_auth_code,
                    }
                } else {
                    Event::UpdateAuthorized {
                        authorizer_appid,
                        authorization_code,
                        authorization_code_expired_time,
                        pre_auth_code,
                    }
                }
            }
            "unauthorized" => Event::Unauthorized { authorizer_appid: text("AuthorizerAppid")? },
            "notify_icpfiling_verify_result" => Event::IcpFilingVerifyResult {
                task_id: text("task_id")?,
                verify_appid: text("verify_appid")?,
                result: num("result")?,
                along_with_auth_result: opt_num("along_with_auth_result")?,
            },
            "notify_apply_icpfiling_result" => Event::ApplyIcpFilingResult {
                authorizer_appid: text("authorizer_appid")?,
                beian_status: num("beian_status")?,
            },
            "notify_3rd_wxa_auth_and_icp" => Event::AuthAndIcpResult {
                procedure_id: text("procedure_id")?,
                procedure_status: num("procedure_status")?,
            },
            _ => Event::Other { info_type, fields },
        })
    }
}

/// Checks, decrypts and parses pushes for one third-party platform.
#[derive(Debug, Clone)]
pub struct EventReceiver {
    crypt: WxCrypt,
}

impl EventReceiver {
    /// The platform's message token, its 43-character EncodingAESKey and its component appid
    /// (the appid every push must be encrypted for).
    pub fn new(token: &str, encoding_aes_key: &str, component_appid: &str) -> Result<EventReceiver> {
        Ok(EventReceiver { crypt: WxCrypt::new(token, encoding_aes_key, component_appid)? })
    }

    /// Check `msg_signature`, decrypt the envelope `body` and parse the inner XML.
    pub fn open(&self, msg_signature: &str, timestamp: &str, nonce: &str, body: &str) -> Result<Event> {
        Event::parse(&self.open_xml(msg_signature, timestamp, nonce, body)?)
    }

    /// [`EventReceiver::open`] with the request's query parameters (`msg_signature`,
    /// `timestamp`, `nonce`, and optionally `encrypt_type`, which must then be `aes`).
    pub fn open_query(&self, query: &HashMap<String, String>, body: &str) -> Result<Event> {
        if let Some(t) = query.get("encrypt_type") {
            if !t.eq_ignore_ascii_case("aes") {
                return Err(Error::Decode(format!("unsupported encrypt_type {t:?}")));
            }
        }
        let param = |name: &str| {
            query.get(name).map(String::as_str).ok_or_else(|| Error::Decode(format!("query lacks {name}")))
        };
        self.open(param("msg_signature")?, param("timestamp")?, param("nonce")?, body)
    }

    /// Check and decrypt only: the inner XML as sent.
    pub fn open_xml(&self, msg_signature: &str, timestamp: &str, nonce: &str, body: &str) -> Result<String> {
        let encrypt =
            xml_field(body, "Encrypt").ok_or_else(|| Error::Decode("push body lacks <Encrypt>".into()))?;
        Ok(self.crypt.open(msg_signature, timestamp, nonce, &encrypt)?)
    }
}
