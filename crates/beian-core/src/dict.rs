//! Dictionaries served by the WeChat-compatible lookup endpoints (`query_icp_*`) and used to
//! validate filings: subject natures (单位性质), certificate types, service content types,
//! pre-approval (前置审批, nrlx) types and the GB/T 2260 district tree.
//!
//! The platform owns this data: it is versioned and editable by the operator. The built-in
//! copy (embedded JSON under `data/dict/`) seeds a fresh installation; see
//! `docs/dictionaries.md` for where each list comes from. Nothing here hard-codes ids of the
//! lists themselves: well-known entries ("个人", "以上都不涉及") are looked up by name.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const BUILTIN_SUBJECT_TYPES: &str = include_str!("../data/dict/subject_types.json");
const BUILTIN_CERTIFICATE_TYPES: &str = include_str!("../data/dict/certificate_types.json");
const BUILTIN_SERVICE_CONTENT_TYPES: &str = include_str!("../data/dict/service_content_types.json");
const BUILTIN_NRLX_TYPES: &str = include_str!("../data/dict/nrlx_types.json");
const BUILTIN_DISTRICTS: &str = include_str!("../data/dict/districts.json");

/// Name of the personal subject nature.
const PERSONAL_SUBJECT_NAME: &str = "个人";
/// Name of the "none of the above" pre-approval type.
const NRLX_NONE_NAME: &str = "以上都不涉及";

/// Province abbreviations used in filing numbers, by the province's first two code digits
/// (GB/T 2260 order 11…65).
pub const PROVINCE_ABBRS: [(u32, &str); 31] = [
    (11, "京"),
    (12, "津"),
    (13, "冀"),
    (14, "晋"),
    (15, "蒙"),
    (21, "辽"),
    (22, "吉"),
    (23, "黑"),
    (31, "沪"),
    (32, "苏"),
    (33, "浙"),
    (34, "皖"),
    (35, "闽"),
    (36, "赣"),
    (37, "鲁"),
    (41, "豫"),
    (42, "鄂"),
    (43, "湘"),
    (44, "粤"),
    (45, "桂"),
    (46, "琼"),
    (50, "渝"),
    (51, "川"),
    (52, "贵"),
    (53, "云"),
    (54, "藏"),
    (61, "陕"),
    (62, "甘"),
    (63, "青"),
    (64, "宁"),
    (65, "新"),
];

/// District tree levels (`type` in `query_icp_district_code`).
pub const LEVEL_PROVINCE: u8 = 1;
/// City level.
pub const LEVEL_CITY: u8 = 2;
/// District (county) level.
pub const LEVEL_DISTRICT: u8 = 3;

/// The five dictionaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DictKind {
    /// 单位性质 (`query_icp_subject_types`).
    SubjectTypes,
    /// 证件类型 (`query_icp_certificate_types`).
    CertificateTypes,
    /// 服务内容类型 (`query_icp_service_content_types`).
    ServiceContentTypes,
    /// 前置审批类型 (`query_icp_nrlx_types`).
    NrlxTypes,
    /// 省市区 (`query_icp_district_code`).
    Districts,
}

impl DictKind {
    /// Every kind, in a stable order.
    pub const ALL: [DictKind; 5] = [
        DictKind::SubjectTypes,
        DictKind::CertificateTypes,
        DictKind::ServiceContentTypes,
        DictKind::NrlxTypes,
        DictKind::Districts,
    ];

    /// Stable machine name (storage key, admin API path segment).
    pub fn as_str(self) -> &'static str {
        match self {
            DictKind::SubjectTypes => "subject_types",
            DictKind::CertificateTypes => "certificate_types",
            DictKind::ServiceContentTypes => "service_content_types",
            DictKind::NrlxTypes => "nrlx_types",
            DictKind::Districts => "districts",
        }
    }

    /// Inverse of [`DictKind::as_str`].
    pub fn parse(s: &str) -> Option<DictKind> {
        DictKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for DictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 单位性质.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubjectType {
    #[serde(rename = "type")]
    pub type_id: u32,
    pub name: String,
    #[serde(default)]
    pub remark: String,
}

/// 证件类型; `subject_type` is the 单位性质 that may use it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CertificateType {
    #[serde(rename = "type")]
    pub type_id: u32,
    pub subject_type: u32,
    pub name: String,
    #[serde(default)]
    pub remark: String,
}

/// 服务内容类型; `parent_type` is 0 for the first level.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceContentType {
    #[serde(rename = "type")]
    pub type_id: u32,
    pub parent_type: u32,
    pub name: String,
    #[serde(default)]
    pub remark: String,
}

/// 前置审批类型.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NrlxType {
    #[serde(rename = "type")]
    pub type_id: u32,
    pub name: String,
}

/// A node of the district tree: level 1 省, 2 市, 3 区/县.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct District {
    #[serde(rename = "type")]
    pub level: u8,
    pub code: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_list: Vec<District>,
}

/// A province, city or district found by code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionRef<'a> {
    pub level: u8,
    pub code: u32,
    pub name: &'a str,
    /// Code of the enclosing province (for a city) or city (for a district).
    pub parent: Option<u32>,
}

/// A checked province → city → district triple (see [`Dictionaries::location`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location<'a> {
    pub province: RegionRef<'a>,
    pub city: RegionRef<'a>,
    pub district: RegionRef<'a>,
}

/// Why a set of dictionaries was rejected. Messages name the kind and the offending entry.
#[derive(Debug, thiserror::Error)]
pub enum DictError {
    #[error("dictionary {kind}: missing")]
    Missing { kind: DictKind },
    #[error("dictionary {kind}: supplied more than once")]
    Duplicate { kind: DictKind },
    #[error("dictionary {kind}: invalid JSON: {source}")]
    Json {
        kind: DictKind,
        #[source]
        source: serde_json::Error,
    },
    #[error("dictionary {kind}: is empty")]
    Empty { kind: DictKind },
    #[error("dictionary {kind}: entry {entry}: {reason}")]
    Invalid { kind: DictKind, entry: String, reason: String },
}

fn invalid(kind: DictKind, entry: impl fmt::Display, reason: impl Into<String>) -> DictError {
    DictError::Invalid { kind, entry: entry.to_string(), reason: reason.into() }
}

/// Index entry of the district tree.
#[derive(Debug, Clone, PartialEq)]
struct RegionEntry {
    name: String,
    parent: Option<u32>,
}

/// All five dictionaries with lookup indexes built once.
#[derive(Debug, Clone, PartialEq)]
pub struct Dictionaries {
    subject_types: Vec<SubjectType>,
    certificate_types: Vec<CertificateType>,
    service_content_types: Vec<ServiceContentType>,
    nrlx_types: Vec<NrlxType>,
    districts: Vec<District>,
    subject_index: HashMap<u32, usize>,
    certificate_index: HashMap<u32, usize>,
    service_index: HashMap<u32, usize>,
    nrlx_index: HashMap<u32, usize>,
    /// Keyed by (level, code): a city without a county level has a district entry with its
    /// own code (东莞 441900), so a code alone is not unique across levels.
    regions: HashMap<(u8, u32), RegionEntry>,
}

impl Dictionaries {
    /// The dictionaries shipped with the platform (embedded JSON), used to seed a fresh store.
    pub fn builtin() -> Dictionaries {
        static BUILTIN: OnceLock<Dictionaries> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                Dictionaries::from_json(&[
                    (DictKind::SubjectTypes, BUILTIN_SUBJECT_TYPES),
                    (DictKind::CertificateTypes, BUILTIN_CERTIFICATE_TYPES),
                    (DictKind::ServiceContentTypes, BUILTIN_SERVICE_CONTENT_TYPES),
                    (DictKind::NrlxTypes, BUILTIN_NRLX_TYPES),
                    (DictKind::Districts, BUILTIN_DISTRICTS),
                ])
                // Embedded, not input: the crate's tests prove this data is valid.
                .expect("built-in dictionaries are valid")
            })
            .clone()
    }

    /// Parses and validates all five dictionaries (each kind exactly once).
    ///
    /// Checks: non-empty lists, non-zero unique ids and non-empty names; every certificate
    /// type's `subject_type` exists and every subject type has a certificate type; service
    /// content types have two levels (a second-level `parent_type` names an existing
    /// first-level type); districts nest as levels 1/2/3 with six-digit codes, a city's code
    /// starting with its province's two digits, a district's with its city's four, codes
    /// unique per level, and every province known to [`Dictionaries::province_abbr`].
    pub fn from_json(parts: &[(DictKind, &str)]) -> Result<Dictionaries, DictError> {
        let mut texts: HashMap<DictKind, &str> = HashMap::new();
        for &(kind, text) in parts {
            if texts.insert(kind, text).is_some() {
                return Err(DictError::Duplicate { kind });
            }
        }
        let text = |kind: DictKind| texts.get(&kind).copied().ok_or(DictError::Missing { kind });

        let subject_types: Vec<SubjectType> =
            parse_list(DictKind::SubjectTypes, text(DictKind::SubjectTypes)?)?;
        let certificate_types: Vec<CertificateType> =
            parse_list(DictKind::CertificateTypes, text(DictKind::CertificateTypes)?)?;
        let service_content_types: Vec<ServiceContentType> =
            parse_list(DictKind::ServiceContentTypes, text(DictKind::ServiceContentTypes)?)?;
        let nrlx_types: Vec<NrlxType> = parse_list(DictKind::NrlxTypes, text(DictKind::NrlxTypes)?)?;
        let districts: Vec<District> = parse_list(DictKind::Districts, text(DictKind::Districts)?)?;

        let subject_index =
            index_by_id(DictKind::SubjectTypes, subject_types.iter().map(|t| (t.type_id, t.name.as_str())))?;
        let certificate_index = index_by_id(
            DictKind::CertificateTypes,
            certificate_types.iter().map(|t| (t.type_id, t.name.as_str())),
        )?;
        let service_index = index_by_id(
            DictKind::ServiceContentTypes,
            service_content_types.iter().map(|t| (t.type_id, t.name.as_str())),
        )?;
        let nrlx_index =
            index_by_id(DictKind::NrlxTypes, nrlx_types.iter().map(|t| (t.type_id, t.name.as_str())))?;

        check_certificate_types(&subject_types, &certificate_types, &subject_index)?;
        check_service_content_types(&service_content_types, &service_index)?;
        let regions = index_districts(&districts)?;

        Ok(Dictionaries {
            subject_types,
            certificate_types,
            service_content_types,
            nrlx_types,
            districts,
            subject_index,
            certificate_index,
            service_index,
            nrlx_index,
            regions,
        })
    }

    /// The JSON array for `kind`, as stored and served in `items`.
    pub fn kind_json(&self, kind: DictKind) -> String {
        let json = match kind {
            DictKind::SubjectTypes => serde_json::to_string(&self.subject_types),
            DictKind::CertificateTypes => serde_json::to_string(&self.certificate_types),
            DictKind::ServiceContentTypes => serde_json::to_string(&self.service_content_types),
            DictKind::NrlxTypes => serde_json::to_string(&self.nrlx_types),
            DictKind::Districts => serde_json::to_string(&self.districts),
        };
        // Serialising plain structs of strings and integers cannot fail.
        json.unwrap_or_else(|_| String::from("[]"))
    }

    pub fn subject_types(&self) -> &[SubjectType] {
        &self.subject_types
    }

    pub fn certificate_types(&self) -> &[CertificateType] {
        &self.certificate_types
    }

    pub fn service_content_types(&self) -> &[ServiceContentType] {
        &self.service_content_types
    }

    pub fn nrlx_types(&self) -> &[NrlxType] {
        &self.nrlx_types
    }

    pub fn districts(&self) -> &[District] {
        &self.districts
    }

    pub fn subject_type(&self, id: u32) -> Option<&SubjectType> {
        self.subject_index.get(&id).and_then(|&i| self.subject_types.get(i))
    }

    pub fn certificate_type(&self, id: u32) -> Option<&CertificateType> {
        self.certificate_index.get(&id).and_then(|&i| self.certificate_types.get(i))
    }

    pub fn service_content_type(&self, id: u32) -> Option<&ServiceContentType> {
        self.service_index.get(&id).and_then(|&i| self.service_content_types.get(i))
    }

    pub fn nrlx_type(&self, id: u32) -> Option<&NrlxType> {
        self.nrlx_index.get(&id).and_then(|&i| self.nrlx_types.get(i))
    }

    /// id of the "以上都不涉及" nrlx type (looked up by name, not hard-coded).
    pub fn nrlx_none_id(&self) -> Option<u32> {
        self.nrlx_types.iter().find(|t| t.name == NRLX_NONE_NAME).map(|t| t.type_id)
    }

    /// Name of a province/city/district by code, with its level and parent code.
    ///
    /// A city without a county level (东莞 441900, 中山 442000, 儋州 460400) also appears as
    /// its own single district with the same code; for such a code this returns the city
    /// (the least specific level). Use [`Dictionaries::region_at`] or
    /// [`Dictionaries::location`] when the level matters.
    pub fn region(&self, code: u32) -> Option<RegionRef<'_>> {
        [LEVEL_PROVINCE, LEVEL_CITY, LEVEL_DISTRICT].into_iter().find_map(|level| self.region_at(level, code))
    }

    /// The region with `code` at exactly `level` (1 省, 2 市, 3 区/县).
    pub fn region_at(&self, level: u8, code: u32) -> Option<RegionRef<'_>> {
        self.regions.get(&(level, code)).map(|e| RegionRef {
            level,
            code,
            name: e.name.as_str(),
            parent: e.parent,
        })
    }

    /// Checks that `district` lies in `city` which lies in `province` (the three codes of a
    /// filing address) and returns the three regions. For a city without a county level the
    /// district code equals the city code.
    pub fn location(&self, province: u32, city: u32, district: u32) -> Option<Location<'_>> {
        let p = self.region_at(LEVEL_PROVINCE, province)?;
        let c = self.region_at(LEVEL_CITY, city)?;
        let d = self.region_at(LEVEL_DISTRICT, district)?;
        (c.parent == Some(province) && d.parent == Some(city)).then_some(Location {
            province: p,
            city: c,
            district: d,
        })
    }

    /// Province abbreviation for filing numbers (京 津 冀 … 新).
    ///
    /// Accepts the province's two-digit prefix (44) or any six-digit code in the province
    /// (440000, 440300, 440305); returns `None` unless the province is in the district
    /// dictionary.
    pub fn province_abbr(&self, province_code: u32) -> Option<&'static str> {
        let prefix = match province_code {
            10..=99 => province_code,
            100_000..=999_999 => province_code / 10_000,
            _ => return None,
        };
        self.region_at(LEVEL_PROVINCE, prefix * 10_000)?;
        abbr_for_prefix(prefix)
    }

    /// id of the subject nature named "个人".
    pub fn personal_subject_type_id(&self) -> Option<u32> {
        self.subject_types.iter().find(|t| t.name == PERSONAL_SUBJECT_NAME).map(|t| t.type_id)
    }
}

/// The abbreviation of the province with two-digit prefix `prefix` (44 → 粤), without a
/// dictionary (filing numbers are minted and checked with it).
pub fn abbr_for_prefix(prefix: u32) -> Option<&'static str> {
    PROVINCE_ABBRS.iter().find(|(p, _)| *p == prefix).map(|&(_, abbr)| abbr)
}

fn parse_list<T: DeserializeOwned>(kind: DictKind, text: &str) -> Result<Vec<T>, DictError> {
    let list: Vec<T> = serde_json::from_str(text).map_err(|source| DictError::Json { kind, source })?;
    if list.is_empty() {
        return Err(DictError::Empty { kind });
    }
    Ok(list)
}

/// Builds an id → position index, rejecting id 0, duplicate ids and blank names.
fn index_by_id<'a>(
    kind: DictKind,
    entries: impl Iterator<Item = (u32, &'a str)>,
) -> Result<HashMap<u32, usize>, DictError> {
    let mut index = HashMap::new();
    for (pos, (id, name)) in entries.enumerate() {
        if id == 0 {
            return Err(invalid(kind, format!("#{pos} ({name})"), "type must not be 0"));
        }
        if name.trim().is_empty() {
            return Err(invalid(kind, format!("type {id}"), "name is empty"));
        }
        if index.insert(id, pos).is_some() {
            return Err(invalid(kind, format!("type {id} ({name})"), "duplicate type id"));
        }
    }
    Ok(index)
}

fn check_certificate_types(
    subject_types: &[SubjectType],
    certificate_types: &[CertificateType],
    subject_index: &HashMap<u32, usize>,
) -> Result<(), DictError> {
    let kind = DictKind::CertificateTypes;
    let mut used = HashSet::new();
    for c in certificate_types {
        if !subject_index.contains_key(&c.subject_type) {
            return Err(invalid(
                kind,
                format!("type {} ({})", c.type_id, c.name),
                format!("subject_type {} does not exist", c.subject_type),
            ));
        }
        used.insert(c.subject_type);
    }
    if let Some(s) = subject_types.iter().find(|s| !used.contains(&s.type_id)) {
        return Err(invalid(
            kind,
            format!("subject_type {} ({})", s.type_id, s.name),
            "subject type has no certificate type",
        ));
    }
    Ok(())
}

fn check_service_content_types(
    types: &[ServiceContentType],
    index: &HashMap<u32, usize>,
) -> Result<(), DictError> {
    let kind = DictKind::ServiceContentTypes;
    for t in types.iter().filter(|t| t.parent_type != 0) {
        let entry = || format!("type {} ({})", t.type_id, t.name);
        let parent = index.get(&t.parent_type).and_then(|&i| types.get(i));
        match parent {
            None => {
                return Err(invalid(kind, entry(), format!("parent_type {} does not exist", t.parent_type)))
            }
            Some(p) if p.parent_type != 0 => {
                return Err(invalid(
                    kind,
                    entry(),
                    format!("parent_type {} ({}) is not a first-level type", p.type_id, p.name),
                ))
            }
            Some(_) => {}
        }
    }
    if !types.iter().any(|t| t.parent_type != 0) {
        return Err(invalid(kind, "(all)", "no second-level types"));
    }
    Ok(())
}

fn index_districts(provinces: &[District]) -> Result<HashMap<(u8, u32), RegionEntry>, DictError> {
    let kind = DictKind::Districts;
    let entry = |d: &District| format!("{} ({})", d.code, d.name);
    let mut regions = HashMap::new();
    let mut add = |d: &District, parent: Option<u32>| -> Result<(), DictError> {
        if d.name.trim().is_empty() {
            return Err(invalid(kind, d.code, "name is empty"));
        }
        if !(100_000..=999_999).contains(&d.code) {
            return Err(invalid(kind, entry(d), "code must have six digits"));
        }
        match regions.entry((d.level, d.code)) {
            Entry::Occupied(_) => Err(invalid(kind, entry(d), "duplicate code")),
            Entry::Vacant(v) => {
                v.insert(RegionEntry { name: d.name.clone(), parent });
                Ok(())
            }
        }
    };
    for p in provinces {
        if p.level != LEVEL_PROVINCE {
            return Err(invalid(kind, entry(p), "top-level entry must have type 1"));
        }
        add(p, None)?;
        if p.code % 10_000 != 0 {
            return Err(invalid(kind, entry(p), "province code must end in 0000"));
        }
        if abbr_for_prefix(p.code / 10_000).is_none() {
            return Err(invalid(
                kind,
                entry(p),
                "not a province usable for filing (no filing-number abbreviation)",
            ));
        }
        if p.sub_list.is_empty() {
            return Err(invalid(kind, entry(p), "province has no cities"));
        }
        for c in &p.sub_list {
            if c.level != LEVEL_CITY {
                return Err(invalid(
                    kind,
                    entry(c),
                    format!("entry under province {} must have type 2", p.code),
                ));
            }
            add(c, Some(p.code))?;
            if c.code % 100 != 0 || c.code == p.code || c.code / 10_000 != p.code / 10_000 {
                return Err(invalid(
                    kind,
                    entry(c),
                    format!(
                        "city code does not nest in province {} (must be {}xx00)",
                        p.code,
                        p.code / 10_000
                    ),
                ));
            }
            if c.sub_list.is_empty() {
                return Err(invalid(kind, entry(c), "city has no districts"));
            }
            for d in &c.sub_list {
                if d.level != LEVEL_DISTRICT {
                    return Err(invalid(
                        kind,
                        entry(d),
                        format!("entry under city {} must have type 3", c.code),
                    ));
                }
                add(d, Some(c.code))?;
                if d.code / 100 != c.code / 100 {
                    return Err(invalid(
                        kind,
                        entry(d),
                        format!(
                            "district code does not nest in city {} (must be {}xx)",
                            c.code,
                            c.code / 100
                        ),
                    ));
                }
                if !d.sub_list.is_empty() {
                    return Err(invalid(kind, entry(d), "districts must not have a sub_list"));
                }
            }
        }
    }
    Ok(regions)
}
