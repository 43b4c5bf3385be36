//! Regional rules and pre-approvals as data: the versioned, operator-editable rule table the
//! rules engine (`rules::check_apply`) reads instead of hard-coded province rules.
//!
//! Each row has a scope (a province code or `all`), the subjects it concerns, one
//! requirement, the Chinese hint shown at the field when the requirement is not met, and the
//! `source` and `as_of` date it was taken from. The built-in table (`data/rules.json`) seeds a
//! fresh installation; `docs/rules.md` lists every row with its source. A table is validated
//! against the dictionaries it names (provinces, service content types, pre-approval types).
//! Nothing here evaluates a payload: `rules.rs` does, row by row.

use crate::dict::{Dictionaries, LEVEL_PROVINCE};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

const BUILTIN_RULES: &str = include_str!("../data/rules.json");

/// The scope that applies everywhere.
pub const SCOPE_ALL: &str = "all";

/// The materials lists a `material` requirement may name (`icp_materials.<name>`).
pub const MATERIALS: [&str; 10] = [
    "commitment_letter",
    "business_name_change_letter",
    "party_building_confirmation_letter",
    "promise_video",
    "authenticity_responsibility_letter",
    "authenticity_commitment_letter",
    "website_construction_proposal",
    "subject_other_materials",
    "applets_other_materials",
    "holding_certificate_photo",
];

/// Which subjects a row concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subjects {
    /// Every subject.
    #[default]
    All,
    /// Individuals (the subject nature named 个人).
    Personal,
    /// Every subject nature but 个人.
    Organisation,
}

impl Subjects {
    pub fn label(self) -> &'static str {
        match self {
            Subjects::All => "全部主体",
            Subjects::Personal => "个人",
            Subjects::Organisation => "单位",
        }
    }

    fn includes(self, personal: bool) -> bool {
        match self {
            Subjects::All => true,
            Subjects::Personal => personal,
            Subjects::Organisation => !personal,
        }
    }
}

/// What a row requires. `docs/rules.md` says how each is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Requirement {
    /// Both principals' certificates valid for at least `months` after submission.
    ValidityMonths { months: u32 },
    /// An individual whose resident ID was issued in another province uploads a residence
    /// proof (`icp_subject.personal_info.residence_permit`).
    ResidenceProof,
    /// An individual files with a resident ID issued in the filing province.
    LocalId,
    /// The subject's certificate address lies in the filing city (no cross-city filing).
    SameCity,
    /// At most `max` filings of one subject under review at once, this one included.
    MaxInProgress { max: u32 },
    /// The materials list `icp_materials.<material>` is not empty — on a subject's first
    /// filing only if `first_filing_only`, and only when one of `service_content_types` is
    /// chosen if that list is not empty.
    Material {
        material: String,
        #[serde(default)]
        first_filing_only: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        service_content_types: Vec<u32>,
    },
    /// Choosing one of `service_content_types` requires a pre-approval of one of
    /// `nrlx_types` in `icp_applets.base_info.nrlx_details`.
    PreApproval { service_content_types: Vec<u32>, nrlx_types: Vec<u32> },
}

impl Requirement {
    /// A stable name of the kind (`kind` in the JSON).
    pub fn kind(&self) -> &'static str {
        match self {
            Requirement::ValidityMonths { .. } => "validity_months",
            Requirement::ResidenceProof => "residence_proof",
            Requirement::LocalId => "local_id",
            Requirement::SameCity => "same_city",
            Requirement::MaxInProgress { .. } => "max_in_progress",
            Requirement::Material { .. } => "material",
            Requirement::PreApproval { .. } => "pre_approval",
        }
    }

    /// Kinds of which a province row replaces the rows scoped to all provinces; rows of the
    /// other kinds (materials, pre-approvals) add up.
    pub fn replaces_national(&self) -> bool {
        !matches!(self, Requirement::Material { .. } | Requirement::PreApproval { .. })
    }

    /// What the row requires, in Chinese, with dictionary names (the staff page).
    pub fn describe(&self, dict: &Dictionaries) -> String {
        let services = |ids: &[u32]| {
            ids.iter()
                .map(|id| dict.service_content_type(*id).map_or(format!("#{id}"), |t| t.name.clone()))
                .collect::<Vec<_>>()
                .join("、")
        };
        match self {
            Requirement::ValidityMonths { months } => format!("证件有效期在提交后至少{months}个月"),
            Requirement::ResidenceProof => "外省身份证须上传临时居住证明".into(),
            Requirement::LocalId => "个人须使用本省身份证".into(),
            Requirement::SameCity => "证件住所须在备案城市（不支持跨市）".into(),
            Requirement::MaxInProgress { max } => format!("同一主体同时审核中的备案不超过{max}个"),
            Requirement::Material { material, first_filing_only, service_content_types } => {
                let mut s = format!("须上传材料 icp_materials.{material}");
                if *first_filing_only {
                    s.push_str("（仅主体首次备案）");
                }
                if !service_content_types.is_empty() {
                    s.push_str(&format!("（服务内容含：{}）", services(service_content_types)));
                }
                s
            }
            Requirement::PreApproval { service_content_types, nrlx_types } => {
                let nrlx = nrlx_types
                    .iter()
                    .map(|id| dict.nrlx_type(*id).map_or(format!("#{id}"), |t| t.name.clone()))
                    .collect::<Vec<_>>()
                    .join("或");
                format!("服务内容含{}时须有前置审批：{nrlx}", services(service_content_types))
            }
        }
    }
}

/// One row of the rule table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleRow {
    /// Stable key (lowercase letters, digits and `-`), unique in the table.
    pub id: String,
    /// `all` or a province code (`640000`).
    pub scope: String,
    #[serde(default)]
    pub subjects: Subjects,
    pub require: Requirement,
    /// The Chinese hint shown at the field. Placeholders: `{months}`, `{date}` (validity),
    /// `{city}` (same city), `{max}` (in progress).
    pub hint: String,
    /// Where the rule was found (document title and/or URL).
    pub source: String,
    /// The date the source was read or published.
    pub as_of: NaiveDate,
}

impl RuleRow {
    /// Whether the row applies in `province` to a subject that is (or is not) personal.
    pub fn applies(&self, province: &str, personal: bool) -> bool {
        (self.scope == SCOPE_ALL || self.scope == province) && self.subjects.includes(personal)
    }

    /// The scope in words (`全国` or the province's name).
    pub fn scope_label(&self, dict: &Dictionaries) -> String {
        if self.scope == SCOPE_ALL {
            return "全国".into();
        }
        self.scope
            .parse::<u32>()
            .ok()
            .and_then(|c| dict.region_at(LEVEL_PROVINCE, c))
            .map_or_else(|| self.scope.clone(), |r| r.name.to_string())
    }
}

/// Why a rule table was refused; the text is shown to operators (Chinese).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("规则表不是合法的JSON（应为规则行的数组）：{0}")]
    Json(String),
    #[error("规则表不能为空")]
    Empty,
    #[error("第{index}行（id：{id}）：{reason}")]
    Row { index: usize, id: String, reason: String },
}

/// A validated rule table and the version it was stored as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTable {
    version: i64,
    rows: Vec<RuleRow>,
}

impl RuleTable {
    /// The table shipped with the platform (version 1), checked against the built-in
    /// dictionaries.
    pub fn builtin() -> RuleTable {
        static BUILTIN: OnceLock<RuleTable> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                RuleTable::from_json(BUILTIN_RULES, &Dictionaries::builtin(), 1)
                    // Embedded, not input: the crate's tests prove it is valid.
                    .expect("the built-in rule table is valid")
            })
            .clone()
    }

    /// The built-in table's JSON text (what `beian rules export` of a fresh store prints).
    pub fn builtin_json() -> &'static str {
        BUILTIN_RULES
    }

    /// Parses and validates a table (a JSON array of rows) against `dict`.
    ///
    /// Checks: at least one row; ids non-empty, of `a-z 0-9 -`, unique; scope `all` or a
    /// province of the district dictionary; hint with Chinese text; source non-empty;
    /// months 1–60; max ≥ 1; a material list that exists; service content types that exist
    /// and are second-level; pre-approval types that exist and are not "以上都不涉及";
    /// at most one row per (scope, subjects, kind) for kinds a province row replaces.
    pub fn from_json(text: &str, dict: &Dictionaries, version: i64) -> Result<RuleTable, RuleError> {
        let rows: Vec<RuleRow> = serde_json::from_str(text).map_err(|e| RuleError::Json(e.to_string()))?;
        if rows.is_empty() {
            return Err(RuleError::Empty);
        }
        let mut ids = HashSet::new();
        let mut singles = HashSet::new();
        for (i, row) in rows.iter().enumerate() {
            let fail = |reason: String| RuleError::Row { index: i + 1, id: row.id.clone(), reason };
            if row.id.is_empty()
                || !row.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(fail("id 只能由小写字母、数字和“-”组成，且不能为空".into()));
            }
            if !ids.insert(row.id.as_str()) {
                return Err(fail("id 重复".into()));
            }
            if row.scope != SCOPE_ALL {
                let province = row.scope.parse::<u32>().ok().and_then(|c| dict.region_at(LEVEL_PROVINCE, c));
                if province.is_none() || row.scope.len() != 6 {
                    return Err(fail(format!("scope “{}” 应为 all 或省份编码（如 640000）", row.scope)));
                }
            }
            if !row.hint.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
                return Err(fail("hint 应为告诉申请人如何修改的中文提示".into()));
            }
            if row.hint.chars().count() > 200 {
                return Err(fail("hint 不能超过200个字".into()));
            }
            if row.source.trim().is_empty() {
                return Err(fail("source 不能为空：请写明规则出处（文档标题或网址）".into()));
            }
            check_requirement(&row.require, dict).map_err(fail)?;
            if row.require.replaces_national()
                && !singles.insert((row.scope.as_str(), row.subjects, row.require.kind()))
            {
                return Err(fail(format!(
                    "同一范围（{} / {}）已有一行 {} 规则",
                    row.scope,
                    row.subjects.label(),
                    row.require.kind()
                )));
            }
        }
        Ok(RuleTable { version, rows })
    }

    /// The stored version this table was loaded as.
    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn rows(&self) -> &[RuleRow] {
        &self.rows
    }

    /// The table as stored and exported: a pretty-printed JSON array.
    pub fn to_json(&self) -> String {
        // Plain structs of strings, integers and dates: serialising cannot fail.
        serde_json::to_string_pretty(&self.rows).unwrap_or_else(|_| String::from("[]"))
    }

    /// The rows that apply to an application in `province` by a subject that is (or is not)
    /// personal: every matching row, except that for kinds a province row replaces
    /// ([`Requirement::replaces_national`]), a matching province row hides the `all` rows of
    /// the same kind.
    pub fn applicable(&self, province: &str, personal: bool) -> Vec<&RuleRow> {
        let matching: Vec<&RuleRow> = self.rows.iter().filter(|r| r.applies(province, personal)).collect();
        let local_kinds: HashSet<&str> = matching
            .iter()
            .filter(|r| r.scope != SCOPE_ALL && r.require.replaces_national())
            .map(|r| r.require.kind())
            .collect();
        matching
            .into_iter()
            .filter(|r| {
                r.scope != SCOPE_ALL
                    || !r.require.replaces_national()
                    || !local_kinds.contains(r.require.kind())
            })
            .collect()
    }
}

impl fmt::Display for RuleTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule table v{} ({} rows)", self.version, self.rows.len())
    }
}

fn check_requirement(r: &Requirement, dict: &Dictionaries) -> Result<(), String> {
    let services = |ids: &[u32], what: &str| -> Result<(), String> {
        for id in ids {
            match dict.service_content_type(*id) {
                None => return Err(format!("{what}中的服务内容类型 {id} 不存在")),
                Some(t) if t.parent_type == 0 => {
                    return Err(format!(
                        "{what}中的服务内容类型 {id}（{}）是一级类型，请填写二级类型",
                        t.name
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    };
    match r {
        Requirement::ValidityMonths { months } if !(1..=60).contains(months) => {
            Err(format!("months 应在1到60之间，当前为{months}"))
        }
        Requirement::MaxInProgress { max: 0 } => Err("max 至少为1".into()),
        Requirement::Material { material, service_content_types, .. } => {
            if !MATERIALS.contains(&material.as_str()) {
                return Err(format!(
                    "material “{material}” 不是 icp_materials 中的材料（可选：{}）",
                    MATERIALS.join("、")
                ));
            }
            services(service_content_types, "service_content_types ")
        }
        Requirement::PreApproval { service_content_types, nrlx_types } => {
            if service_content_types.is_empty() || nrlx_types.is_empty() {
                return Err("前置审批规则须填写 service_content_types 和 nrlx_types".into());
            }
            services(service_content_types, "service_content_types ")?;
            for id in nrlx_types {
                if dict.nrlx_type(*id).is_none() || Some(*id) == dict.nrlx_none_id() {
                    return Err(format!("nrlx_types 中的前置审批类型 {id} 不存在或为“以上都不涉及”"));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
