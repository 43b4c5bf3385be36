//! The applyIcpFiling request body (`icp_subject`, `icp_applets`, `icp_materials`).
//!
//! Parsing is as tolerant as WeChat's server: unknown fields are ignored, numbers may arrive
//! as numbers or strings, and `""`, `0`, `"null"`, `null` and `[]` all mean "absent" — SDKs
//! that serialise every default field must still work. Whether a field is *required* is the
//! rules engine's business, not the parser's, so a missing field becomes a hint with its
//! path instead of an opaque parse error.

use serde::{Deserialize, Deserializer, Serialize};

/// The whole application (备案申请).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApplyPayload {
    #[serde(deserialize_with = "lenient_obj")]
    pub icp_subject: IcpSubject,
    #[serde(deserialize_with = "lenient_obj")]
    pub icp_applets: IcpApplets,
    #[serde(deserialize_with = "lenient_obj")]
    pub icp_materials: IcpMaterials,
}

/// 备案主体信息.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IcpSubject {
    #[serde(deserialize_with = "lenient_obj")]
    pub base_info: SubjectBaseInfo,
    #[serde(skip_serializing_if = "PersonalInfo::is_empty", deserialize_with = "lenient_obj")]
    pub personal_info: PersonalInfo,
    #[serde(deserialize_with = "lenient_obj")]
    pub organize_info: OrganizeInfo,
    #[serde(deserialize_with = "lenient_obj")]
    pub principal_info: PrincipalInfo,
    #[serde(skip_serializing_if = "LegalPersonInfo::is_empty", deserialize_with = "lenient_obj")]
    pub legal_person_info: LegalPersonInfo,
}

/// 主体基本信息.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubjectBaseInfo {
    /// 单位性质 (subject type id).
    #[serde(rename = "type", deserialize_with = "lenient_u32")]
    pub subject_type: Option<u32>,
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(deserialize_with = "lenient_string")]
    pub province: String,
    #[serde(deserialize_with = "lenient_string")]
    pub city: String,
    #[serde(deserialize_with = "lenient_string")]
    pub district: String,
    #[serde(deserialize_with = "lenient_string")]
    pub address: String,
    #[serde(deserialize_with = "lenient_string")]
    pub comment: String,
    /// Filled by the platform in getOnlineIcpOrder; ignored on apply.
    #[serde(deserialize_with = "lenient_string", skip_serializing_if = "String::is_empty")]
    pub record_number: String,
}

/// 个人主体额外信息.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersonalInfo {
    /// 临时居住证明 (media_id).
    #[serde(deserialize_with = "lenient_string")]
    pub residence_permit: String,
}

impl PersonalInfo {
    pub fn is_empty(&self) -> bool {
        self.residence_permit.is_empty()
    }
}

/// 主体额外信息 (certificate of the subject).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrganizeInfo {
    #[serde(deserialize_with = "lenient_u32")]
    pub certificate_type: Option<u32>,
    #[serde(deserialize_with = "lenient_string")]
    pub certificate_number: String,
    #[serde(deserialize_with = "lenient_string")]
    pub certificate_address: String,
    #[serde(deserialize_with = "lenient_string")]
    pub certificate_photo: String,
}

/// 负责人信息 — the same shape for the subject principal and the mini-program principal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrincipalInfo {
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(deserialize_with = "lenient_string")]
    pub mobile: String,
    #[serde(deserialize_with = "lenient_string")]
    pub email: String,
    #[serde(deserialize_with = "lenient_string")]
    pub emergency_contact: String,
    #[serde(deserialize_with = "lenient_u32")]
    pub certificate_type: Option<u32>,
    #[serde(deserialize_with = "lenient_string")]
    pub certificate_number: String,
    #[serde(deserialize_with = "lenient_string")]
    pub certificate_validity_date_start: String,
    #[serde(deserialize_with = "lenient_string")]
    pub certificate_validity_date_end: String,
    #[serde(deserialize_with = "lenient_string")]
    pub certificate_photo_front: String,
    #[serde(deserialize_with = "lenient_string")]
    pub certificate_photo_back: String,
    #[serde(deserialize_with = "lenient_string")]
    pub authorization_letter: String,
    #[serde(deserialize_with = "lenient_string")]
    pub verify_task_id: String,
}

/// 法人信息.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LegalPersonInfo {
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(deserialize_with = "lenient_string")]
    pub certificate_number: String,
}

impl LegalPersonInfo {
    pub fn is_empty(&self) -> bool {
        self.name.is_empty() && self.certificate_number.is_empty()
    }
}

/// 微信小程序信息.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IcpApplets {
    #[serde(deserialize_with = "lenient_obj")]
    pub base_info: AppletBaseInfo,
    #[serde(deserialize_with = "lenient_obj")]
    pub principal_info: PrincipalInfo,
}

/// 小程序基本信息. `appid` and `name` are filled by the platform, never trusted from input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppletBaseInfo {
    #[serde(deserialize_with = "lenient_string", skip_serializing_if = "String::is_empty")]
    pub appid: String,
    #[serde(deserialize_with = "lenient_string", skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(deserialize_with = "lenient_u32_vec")]
    pub service_content_types: Vec<u32>,
    #[serde(deserialize_with = "lenient_vec")]
    pub nrlx_details: Vec<NrlxDetail>,
    #[serde(deserialize_with = "lenient_string")]
    pub comment: String,
    #[serde(deserialize_with = "lenient_string", skip_serializing_if = "String::is_empty")]
    pub record_number: String,
}

/// 前置审批项.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NrlxDetail {
    #[serde(rename = "type", deserialize_with = "lenient_u32")]
    pub nrlx_type: Option<u32>,
    #[serde(deserialize_with = "lenient_string")]
    pub code: String,
    #[serde(deserialize_with = "lenient_string")]
    pub media: String,
}

/// 其他备案媒体材料: every field is a list of media_ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IcpMaterials {
    #[serde(deserialize_with = "lenient_string_vec")]
    pub commitment_letter: Vec<String>,
    #[serde(deserialize_with = "lenient_string_vec")]
    pub business_name_change_letter: Vec<String>,
    #[serde(deserialize_with = "lenient_string_vec")]
    pub party_building_confirmation_letter: Vec<String>,
    #[serde(deserialize_with = "lenient_string_vec")]
    pub promise_video: Vec<String>,
    #[serde(deserialize_with = "lenient_string_vec")]
    pub authenticity_responsibility_letter: Vec<String>,
    #[serde(deserialize_with = "lenient_string_vec")]
    pub authenticity_commitment_letter: Vec<String>,
    #[serde(deserialize_with = "lenient_string_vec")]
    pub website_construction_proposal: Vec<String>,
    #[serde(deserialize_with = "lenient_string_vec")]
    pub subject_other_materials: Vec<String>,
    #[serde(deserialize_with = "lenient_string_vec")]
    pub applets_other_materials: Vec<String>,
    #[serde(deserialize_with = "lenient_string_vec")]
    pub holding_certificate_photo: Vec<String>,
}

impl IcpMaterials {
    /// Every materials list with its field name and the maximum number of items.
    pub fn lists(&self) -> [(&'static str, &[String], usize); 10] {
        [
            ("commitment_letter", &self.commitment_letter, 1),
            ("business_name_change_letter", &self.business_name_change_letter, 1),
            ("party_building_confirmation_letter", &self.party_building_confirmation_letter, 1),
            ("promise_video", &self.promise_video, 1),
            ("authenticity_responsibility_letter", &self.authenticity_responsibility_letter, 1),
            ("authenticity_commitment_letter", &self.authenticity_commitment_letter, 1),
            ("website_construction_proposal", &self.website_construction_proposal, 1),
            ("subject_other_materials", &self.subject_other_materials, 10),
            ("applets_other_materials", &self.applets_other_materials, 10),
            ("holding_certificate_photo", &self.holding_certificate_photo, 1),
        ]
    }
}

impl ApplyPayload {
    /// Every media_id the application references, with the dotted path of the field.
    pub fn media_refs<'a>(&'a self) -> Vec<(String, &'a str)> {
        let mut out: Vec<(String, &'a str)> = Vec::new();
        let s = &self.icp_subject;
        let mut push = |path: &str, id: &'a str| {
            if !id.is_empty() {
                out.push((path.to_string(), id));
            }
        };
        push("icp_subject.personal_info.residence_permit", &s.personal_info.residence_permit);
        push("icp_subject.organize_info.certificate_photo", &s.organize_info.certificate_photo);
        for (prefix, p) in [
            ("icp_subject.principal_info", &s.principal_info),
            ("icp_applets.principal_info", &self.icp_applets.principal_info),
        ] {
            push(&format!("{prefix}.certificate_photo_front"), &p.certificate_photo_front);
            push(&format!("{prefix}.certificate_photo_back"), &p.certificate_photo_back);
            push(&format!("{prefix}.authorization_letter"), &p.authorization_letter);
        }
        for (i, d) in self.icp_applets.base_info.nrlx_details.iter().enumerate() {
            push(&format!("icp_applets.base_info.nrlx_details.{i}.media"), &d.media);
        }
        for (name, list, _) in self.icp_materials.lists() {
            for (i, id) in list.iter().enumerate() {
                push(&format!("icp_materials.{name}.{i}"), id);
            }
        }
        out
    }
}

// ---- lenient deserializers -------------------------------------------------------------

/// Accepts a JSON number, a numeric string, or an "absent" marker (`null`, `""`, `"null"`, `0`).
/// Anything else (e.g. `"abc"`, `-3`, `1.5`) is kept as [`INVALID_NUMBER`] so the rules
/// engine can name the field instead of the parser failing the whole body.
fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(value_to_u32(&v))
}

/// `Some(INVALID_NUMBER)` marks a value that was present but not a usable id, so the rules
/// engine can say "must be a number" instead of "missing".
pub const INVALID_NUMBER: u32 = u32::MAX;

pub fn value_to_u32(v: &serde_json::Value) -> Option<u32> {
    use serde_json::Value;
    match v {
        Value::Null => None,
        Value::Bool(_) => Some(INVALID_NUMBER),
        Value::Number(n) => match n.as_u64() {
            Some(0) => None,
            Some(x) => Some(u32::try_from(x).unwrap_or(INVALID_NUMBER)),
            None => Some(INVALID_NUMBER),
        },
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() || t.eq_ignore_ascii_case("null") || t == "0" {
                None
            } else {
                // "+0" and "00" parse as 0, which is absent like "0" (the stored form must
                // read back as what was parsed).
                match t.parse::<u32>() {
                    Ok(0) => None,
                    Ok(x) => Some(x),
                    Err(_) => Some(INVALID_NUMBER),
                }
            }
        }
        _ => Some(INVALID_NUMBER),
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde_json::Value;
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Null => String::new(),
        Value::String(s) if s.trim().eq_ignore_ascii_case("null") => String::new(),
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        // Objects and arrays where a string belongs: keep a marker the rules engine rejects.
        other => format!("\u{0}{other}"),
    })
}

fn lenient_u32_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
    use serde_json::Value;
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Array(items) => items.iter().map(|i| value_to_u32(i).unwrap_or(INVALID_NUMBER)).collect(),
        Value::Null => Vec::new(),
        Value::String(s) if s.trim().is_empty() || s.trim().eq_ignore_ascii_case("null") => Vec::new(),
        single => vec![value_to_u32(&single).unwrap_or(INVALID_NUMBER)],
    })
}

fn lenient_string_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    use serde_json::Value;
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| match i {
                Value::String(s) if s.trim().is_empty() || s.trim().eq_ignore_ascii_case("null") => None,
                Value::String(s) => Some(s.trim().to_string()),
                Value::Null => None,
                other => Some(format!("\u{0}{other}")),
            })
            .collect(),
        Value::String(s) if s.trim().is_empty() || s.trim().eq_ignore_ascii_case("null") => Vec::new(),
        Value::String(s) => vec![s.trim().to_string()],
        _ => Vec::new(),
    })
}

/// An object that SDKs may also send as `null`, `""` or `[]` when empty.
fn lenient_obj<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    use serde_json::Value;
    match Value::deserialize(d)? {
        Value::Object(map) => serde_json::from_value(Value::Object(map)).map_err(serde::de::Error::custom),
        // Absent markers, and anything else that is not an object, leave the defaults so the
        // rules engine names the missing fields instead of failing the whole body.
        _ => Ok(T::default()),
    }
}

fn lenient_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde_json::Value;
    let v = Value::deserialize(d)?;
    match v {
        Value::Array(items) => items
            .into_iter()
            .filter(|i| !i.is_null())
            .map(|i| serde_json::from_value(i).map_err(serde::de::Error::custom))
            .collect(),
        _ => Ok(Vec::new()),
    }
}
