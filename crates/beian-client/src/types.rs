//! Request and response types. Responses are parsed tolerantly: unknown fields are ignored,
//! optional fields may be absent or `null`, and numbers may arrive as strings.

use std::str::FromStr;

use beian_core::payload::{IcpApplets, IcpSubject};
use serde::{Deserialize, Deserializer, Serialize};

/// `component_access_token` (§2 step 2). Valid for `expires_in` seconds (7200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentToken {
    pub component_access_token: String,
    #[serde(default, deserialize_with = "lenient_num")]
    pub expires_in: i64,
}

/// `pre_auth_code` (§2 step 3), used to build the authorization page URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreAuthCode {
    pub pre_auth_code: String,
    #[serde(default, deserialize_with = "lenient_num")]
    pub expires_in: i64,
}

/// What `api_query_auth` returns under `authorization_info` (§2 step 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationInfo {
    pub authorizer_appid: String,
    pub authorizer_access_token: String,
    #[serde(default, deserialize_with = "lenient_num")]
    pub expires_in: i64,
    pub authorizer_refresh_token: String,
    /// Granted permission-set ids (18, 156, …), flattened from
    /// `[{"funcscope_category":{"id":18}}, …]`.
    #[serde(default, deserialize_with = "func_ids")]
    pub func_info: Vec<u32>,
}

/// A refreshed authorizer token (§2 step 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerToken {
    pub authorizer_access_token: String,
    #[serde(default, deserialize_with = "lenient_num")]
    pub expires_in: i64,
    pub authorizer_refresh_token: String,
}

/// A face-verification task (createIcpVerifyTask).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyTask {
    pub task_id: String,
    /// Only for `along_with_auth = true`.
    #[serde(default, deserialize_with = "non_empty")]
    pub verify_url: Option<String>,
}

/// The state of a face-verification task (queryIcpVerifyTask).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyTaskStatus {
    pub is_finish: bool,
    /// 0 未开始, 1 等待中, 2 失败, 3 成功.
    #[serde(deserialize_with = "lenient_num")]
    pub face_status: i64,
    /// Combined auth+filing tasks only: 9 = 认证短信核验通过.
    #[serde(deserialize_with = "lenient_opt_num")]
    pub along_with_auth_result: Option<i64>,
}

/// Where [`crate::Client::upload_icp_media`] puts `type`, `certificate_type` and
/// `icp_order_field`: as multipart form fields (WxJava, SKIT, Senparc) or in the query string
/// (reezon/wxapp-open-api). The file is always the multipart part `media`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldPlacement {
    #[default]
    Form,
    Query,
}

/// A file to upload with uploadIcpMedia.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// `"image"` or `"video"` (kept a string so a server's validation can be exercised).
    pub media_type: String,
    /// Certificate type id (§5.2), required for certificate/ID documents.
    pub certificate_type: Option<u32>,
    /// The applyIcpFiling field the file belongs to, e.g.
    /// `icp_subject.principal_info.certificate_photo_front`.
    pub icp_order_field: String,
    pub file_name: String,
    /// MIME type of the part; guessed from `file_name`'s extension when `None`.
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

impl Upload {
    /// An image for `icp_order_field`.
    pub fn image(icp_order_field: &str, file_name: &str, bytes: impl Into<Vec<u8>>) -> Upload {
        Upload {
            media_type: "image".into(),
            certificate_type: None,
            icp_order_field: icp_order_field.into(),
            file_name: file_name.into(),
            content_type: None,
            bytes: bytes.into(),
        }
    }

    /// A video (e.g. `icp_materials.promise_video`).
    pub fn video(icp_order_field: &str, file_name: &str, bytes: impl Into<Vec<u8>>) -> Upload {
        Upload { media_type: "video".into(), ..Upload::image(icp_order_field, file_name, bytes) }
    }

    /// Set `certificate_type`.
    pub fn certificate_type(mut self, certificate_type: u32) -> Upload {
        self.certificate_type = Some(certificate_type);
        self
    }

    pub(crate) fn mime(&self) -> &str {
        if let Some(ct) = &self.content_type {
            return ct;
        }
        let ext = self.file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        match ext.as_str() {
            "jpg" | "jpeg" => "image/jpeg",
            "png" => "image/png",
            "bmp" => "image/bmp",
            "gif" => "image/gif",
            "mp4" => "video/mp4",
            _ => "application/octet-stream",
        }
    }
}

/// An uploaded media item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub media_id: String,
    /// `"image"` or `"video"`.
    #[serde(rename = "type", default)]
    pub media_type: String,
    /// UNIX seconds. Also accepted as `create_at` (SKIT's name) or as a string (WxJava's type).
    #[serde(default, alias = "create_at", deserialize_with = "lenient_num")]
    pub created_at: i64,
}

/// A downloaded media file (getIcpMedia).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaBytes {
    /// E.g. `image/jpeg`, `video/mp4` (empty if the server sent none).
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One rejection reason of getIcpEntranceInfo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditData {
    /// Chinese name of the rejected field.
    pub key_name: String,
    pub error: String,
    pub suggest: String,
}

/// getIcpEntranceInfo's `info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EntranceInfo {
    /// 备案状态 (§5.1): 2, 3, 4, 5, 6, 1024–1031.
    #[serde(deserialize_with = "lenient_num")]
    pub status: i64,
    pub is_canceling: bool,
    #[serde(deserialize_with = "null_default")]
    pub audit_data: Vec<AuditData>,
    /// 1 = the filing entrance is open.
    #[serde(deserialize_with = "lenient_num")]
    pub available: i64,
    /// Meaningful when `status == 4`: 1 等待核验中, 2 核验完成, 3 核验超时.
    #[serde(deserialize_with = "lenient_opt_num")]
    pub sms_verify_status: Option<i64>,
}

/// getOnlineIcpOrder: the filed data (without media fields).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnlineOrder {
    pub icp_subject: IcpSubject,
    /// An array per the docs; a single object (as some clients model it) is accepted too.
    pub icp_applets: Vec<IcpApplets>,
    /// The whole answer as received, for fields the typed view does not carry.
    pub raw: serde_json::Value,
}

#[derive(Deserialize)]
pub(crate) struct OnlineOrderWire {
    #[serde(default, deserialize_with = "null_default")]
    pub icp_subject: IcpSubject,
    #[serde(default, deserialize_with = "one_or_many")]
    pub icp_applets: Vec<IcpApplets>,
}

/// queryIcpServiceContentTypes item: a two-level tree (`parent_type == 0` is the first level).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceContentType {
    #[serde(rename = "type", deserialize_with = "lenient_num")]
    pub type_id: u32,
    #[serde(deserialize_with = "lenient_num")]
    pub parent_type: u32,
    pub name: String,
    pub remark: String,
}

/// queryIcpCertificateTypes item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertificateType {
    #[serde(rename = "type", deserialize_with = "lenient_num")]
    pub type_id: u32,
    /// The 单位性质 (subject type) this certificate belongs to.
    #[serde(deserialize_with = "lenient_num")]
    pub subject_type: u32,
    pub name: String,
    pub remark: String,
}

/// queryIcpDistrictCode item: province (type 1) → city (2) → district (3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct District {
    #[serde(rename = "type", deserialize_with = "lenient_num")]
    pub level: u32,
    /// A number here, but a string (`"110000"`) in applyIcpFiling.
    #[serde(deserialize_with = "lenient_num")]
    pub code: i64,
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub sub_list: Vec<District>,
}

impl District {
    /// Depth-first search of this node and its descendants by code.
    pub fn find(&self, code: i64) -> Option<&District> {
        if self.code == code {
            return Some(self);
        }
        self.sub_list.iter().find_map(|d| d.find(code))
    }
}

/// queryIcpNrlxTypes item (前置审批项类型).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NrlxType {
    #[serde(rename = "type", deserialize_with = "lenient_num")]
    pub type_id: u32,
    pub name: String,
}

/// queryIcpSubjectTypes item (单位性质).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubjectType {
    #[serde(rename = "type", deserialize_with = "lenient_num")]
    pub type_id: u32,
    pub name: String,
    pub remark: String,
}

#[derive(Deserialize)]
pub(crate) struct Items<T> {
    #[serde(
        default = "Vec::new",
        deserialize_with = "null_default",
        bound(deserialize = "T: Deserialize<'de>")
    )]
    pub items: Vec<T>,
}

// ---- tolerant field parsers ----

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr<T> {
    Num(T),
    Str(String),
}

/// A number, a numeric string, `""` or `null` (the last two → default).
fn lenient_num<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + FromStr + Default,
{
    Ok(lenient_opt_num(d)?.unwrap_or_default())
}

fn lenient_opt_num<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + FromStr,
{
    match Option::<NumOrStr<T>>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrStr::Num(n)) => Ok(Some(n)),
        Some(NumOrStr::Str(s)) if s.trim().is_empty() || s == "null" => Ok(None),
        Some(NumOrStr::Str(s)) => {
            s.trim().parse().map(Some).map_err(|_| serde::de::Error::custom(format!("not a number: {s:?}")))
        }
    }
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match Option::<OneOrMany<T>>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::Many(v)) => v,
        Some(OneOrMany::One(t)) => vec![t],
    })
}

fn func_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
    #[derive(Deserialize)]
    struct Item {
        funcscope_category: Option<Category>,
    }
    #[derive(Deserialize)]
    struct Category {
        #[serde(deserialize_with = "lenient_num")]
        id: u32,
    }
    let items: Option<Vec<Item>> = Option::deserialize(d)?;
    Ok(items.unwrap_or_default().into_iter().filter_map(|i| i.funcscope_category.map(|c| c.id)).collect())
}
