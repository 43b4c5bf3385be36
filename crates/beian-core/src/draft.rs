//! Editing a draft application one field at a time, as the console's forms do.
//!
//! A form key is a dotted field path of the applyIcpFiling body (`icp_subject.base_info.name`,
//! `icp_materials.subject_other_materials.3`). Only the paths of [`ApplyPayload`]'s own
//! fields are accepted — the match below walks the payload's types, so a path names exactly
//! one field or is refused — with list indexes below the API's own maximum for that list and
//! values of bounded length. Nothing here builds a tree from the path, so no input can nest
//! deeper than the payload itself or grow a list beyond its bound.

use crate::payload::{value_to_u32, ApplyPayload, NrlxDetail, PrincipalInfo};

/// The longest field path any form may send (the longest real one has 62 characters).
pub const MAX_PATH_CHARS: usize = 100;
/// The longest value of one field a form may send; the rules engine bounds each field far
/// below this, this only keeps what is stored in a draft bounded.
pub const MAX_VALUE_CHARS: usize = 2000;
/// At most this many 前置审批 items (the dictionary has 13 types and no type may repeat).
pub const MAX_NRLX_DETAILS: usize = 32;
/// At most this many service content types (the rules allow 5).
pub const MAX_SERVICE_CONTENT_TYPES: usize = 5;

/// Why one edit was refused: the field path as sent (cut to [`MAX_PATH_CHARS`]) and a
/// Chinese message that says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError {
    pub field: String,
    pub errmsg: String,
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}：{}", self.field, self.errmsg)
    }
}

impl std::error::Error for EditError {}

fn refuse(path: &str, errmsg: impl Into<String>) -> EditError {
    let field: String = path.chars().take(MAX_PATH_CHARS).collect();
    EditError { field, errmsg: errmsg.into() }
}

/// Whether `path` names a field a form may edit (without editing anything).
pub fn is_editable(path: &str) -> bool {
    set_field(&mut ApplyPayload::default(), path, "").is_ok()
}

/// Set one field of the draft from the text typed for it (trimmed). `""` clears it.
pub fn set_field(p: &mut ApplyPayload, path: &str, value: &str) -> Result<(), EditError> {
    if path.chars().count() > MAX_PATH_CHARS {
        return Err(refuse(path, format!("字段名过长（最多{MAX_PATH_CHARS}个字符），请勿修改表单字段")));
    }
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(refuse(path, format!("内容过长：最多{MAX_VALUE_CHARS}个字符")));
    }
    // What the payload's parser would keep of this text, so a stored draft reads back as
    // exactly what was set ("null" means absent there, as in every SDK's output).
    let value = value.trim();
    let value = if value.eq_ignore_ascii_case("null") { "" } else { value };
    let parts: Vec<&str> = path.split('.').collect();
    let unknown = || refuse(path, "未知字段，请勿修改表单字段名");
    let text = |slot: &mut String| {
        *slot = value.to_string();
        Ok(())
    };
    let number = |slot: &mut Option<u32>| {
        *slot = value_to_u32(&serde_json::Value::String(value.to_string()));
        Ok(())
    };
    match parts.as_slice() {
        ["icp_subject", "base_info", f] => {
            let b = &mut p.icp_subject.base_info;
            match *f {
                "type" => number(&mut b.subject_type),
                "name" => text(&mut b.name),
                "province" => text(&mut b.province),
                "city" => text(&mut b.city),
                "district" => text(&mut b.district),
                "address" => text(&mut b.address),
                "comment" => text(&mut b.comment),
                _ => Err(unknown()),
            }
        }
        ["icp_subject", "personal_info", "residence_permit"] => {
            text(&mut p.icp_subject.personal_info.residence_permit)
        }
        ["icp_subject", "organize_info", f] => {
            let o = &mut p.icp_subject.organize_info;
            match *f {
                "certificate_type" => number(&mut o.certificate_type),
                "certificate_number" => text(&mut o.certificate_number),
                "certificate_address" => text(&mut o.certificate_address),
                "certificate_photo" => text(&mut o.certificate_photo),
                _ => Err(unknown()),
            }
        }
        ["icp_subject", "legal_person_info", f] => {
            let l = &mut p.icp_subject.legal_person_info;
            match *f {
                "name" => text(&mut l.name),
                "certificate_number" => text(&mut l.certificate_number),
                _ => Err(unknown()),
            }
        }
        ["icp_subject", "principal_info", f] => {
            principal(&mut p.icp_subject.principal_info, f, value).ok_or_else(unknown)
        }
        ["icp_applets", "principal_info", f] => {
            principal(&mut p.icp_applets.principal_info, f, value).ok_or_else(unknown)
        }
        ["icp_applets", "base_info", "comment"] => text(&mut p.icp_applets.base_info.comment),
        ["icp_applets", "base_info", "service_content_types", i] => {
            let i = index(path, i, MAX_SERVICE_CONTENT_TYPES)?;
            let list = &mut p.icp_applets.base_info.service_content_types;
            let v = value_to_u32(&serde_json::Value::String(value.to_string()));
            match v {
                // Past the end appends: there is no "empty" service type to fill a gap with.
                Some(v) if i < list.len() => list[i] = v,
                Some(v) => list.push(v),
                None if i < list.len() => {
                    list.remove(i);
                }
                None => {}
            }
            Ok(())
        }
        ["icp_applets", "base_info", "nrlx_details", i, f] => {
            let i = index(path, i, MAX_NRLX_DETAILS)?;
            let list = &mut p.icp_applets.base_info.nrlx_details;
            if !matches!(*f, "type" | "code" | "media") {
                return Err(unknown());
            }
            if list.len() <= i {
                list.resize_with(i + 1, NrlxDetail::default);
            }
            let d = &mut list[i];
            match *f {
                "type" => number(&mut d.nrlx_type),
                "code" => text(&mut d.code),
                _ => text(&mut d.media),
            }
        }
        ["icp_materials", name, i] => {
            let max = p.icp_materials.lists().iter().find(|(n, _, _)| n == name).map(|(_, _, m)| *m);
            let Some(max) = max else { return Err(unknown()) };
            let i = index(path, i, max)?;
            let list = materials_list(&mut p.icp_materials, name).ok_or_else(unknown)?;
            if value.is_empty() {
                if i < list.len() {
                    list.remove(i);
                }
            } else {
                if list.len() <= i {
                    list.resize(i + 1, String::new());
                }
                list[i] = value.to_string();
                list.retain(|x| !x.is_empty());
            }
            Ok(())
        }
        _ => Err(unknown()),
    }
}

/// Replace a whole list of service content types (the wizard's checkboxes).
pub fn set_service_content_types(p: &mut ApplyPayload, values: &[&str]) -> Result<(), EditError> {
    const F: &str = "icp_applets.base_info.service_content_types";
    if values.len() > MAX_SERVICE_CONTENT_TYPES {
        return Err(refuse(F, format!("服务内容类型最多选择{MAX_SERVICE_CONTENT_TYPES}个")));
    }
    p.icp_applets.base_info.service_content_types = values
        .iter()
        .filter_map(|v| value_to_u32(&serde_json::Value::String(v.trim().to_string())))
        .collect();
    Ok(())
}

/// Replace the 前置审批 items by the chosen types, keeping each kept type's code and material.
pub fn set_nrlx_types(p: &mut ApplyPayload, types: &[&str]) -> Result<(), EditError> {
    const F: &str = "icp_applets.base_info.nrlx_details";
    if types.len() > MAX_NRLX_DETAILS {
        return Err(refuse(F, format!("前置审批项最多{MAX_NRLX_DETAILS}项")));
    }
    let old = std::mem::take(&mut p.icp_applets.base_info.nrlx_details);
    let mut chosen: Vec<u32> = Vec::new();
    for t in types {
        // As the payload's parser reads a type: "0" and "" are absent (a 0 would be stored
        // and read back as no type at all).
        match value_to_u32(&serde_json::Value::String(t.trim().to_string())) {
            None => {}
            Some(crate::payload::INVALID_NUMBER) => {
                p.icp_applets.base_info.nrlx_details = old;
                return Err(refuse(F, "前置审批类型应为数字"));
            }
            Some(t) if !chosen.contains(&t) => chosen.push(t),
            Some(_) => {}
        }
    }
    p.icp_applets.base_info.nrlx_details = chosen
        .into_iter()
        .map(|t| {
            old.iter()
                .find(|d| d.nrlx_type == Some(t))
                .cloned()
                .unwrap_or(NrlxDetail { nrlx_type: Some(t), ..NrlxDetail::default() })
        })
        .collect();
    Ok(())
}

fn index(path: &str, part: &str, max: usize) -> Result<usize, EditError> {
    // Digits only, at most three of them: "+0", " 1", "01e2" are not indexes.
    if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse(path, "字段序号不正确，请勿修改表单字段名"));
    }
    let i: usize = part.parse().map_err(|_| refuse(path, "字段序号不正确"))?;
    if i >= max {
        return Err(refuse(path, format!("该项最多{max}个")));
    }
    Ok(i)
}

fn principal(pi: &mut PrincipalInfo, field: &str, value: &str) -> Option<()> {
    let slot = match field {
        "name" => &mut pi.name,
        "mobile" => &mut pi.mobile,
        "email" => &mut pi.email,
        "emergency_contact" => &mut pi.emergency_contact,
        "certificate_type" => {
            pi.certificate_type = value_to_u32(&serde_json::Value::String(value.to_string()));
            return Some(());
        }
        "certificate_number" => &mut pi.certificate_number,
        "certificate_validity_date_start" => &mut pi.certificate_validity_date_start,
        "certificate_validity_date_end" => &mut pi.certificate_validity_date_end,
        "certificate_photo_front" => &mut pi.certificate_photo_front,
        "certificate_photo_back" => &mut pi.certificate_photo_back,
        "authorization_letter" => &mut pi.authorization_letter,
        "verify_task_id" => &mut pi.verify_task_id,
        _ => return None,
    };
    *slot = value.to_string();
    Some(())
}

fn materials_list<'a>(m: &'a mut crate::payload::IcpMaterials, name: &str) -> Option<&'a mut Vec<String>> {
    Some(match name {
        "commitment_letter" => &mut m.commitment_letter,
        "business_name_change_letter" => &mut m.business_name_change_letter,
        "party_building_confirmation_letter" => &mut m.party_building_confirmation_letter,
        "promise_video" => &mut m.promise_video,
        "authenticity_responsibility_letter" => &mut m.authenticity_responsibility_letter,
        "authenticity_commitment_letter" => &mut m.authenticity_commitment_letter,
        "website_construction_proposal" => &mut m.website_construction_proposal,
        "subject_other_materials" => &mut m.subject_other_materials,
        "applets_other_materials" => &mut m.applets_other_materials,
        "holding_certificate_photo" => &mut m.holding_certificate_photo,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_set_their_field() {
        let mut p = ApplyPayload::default();
        set_field(&mut p, "icp_subject.base_info.name", " 深圳某某 ").expect("edit");
        set_field(&mut p, "icp_subject.base_info.type", "4").expect("edit");
        set_field(&mut p, "icp_applets.principal_info.mobile", "13800000000").expect("edit");
        set_field(&mut p, "icp_applets.base_info.nrlx_details.1.code", "X1").expect("edit");
        set_field(&mut p, "icp_materials.subject_other_materials.0", "m1").expect("edit");
        assert_eq!(p.icp_subject.base_info.name, "深圳某某");
        assert_eq!(p.icp_subject.base_info.subject_type, Some(4));
        assert_eq!(p.icp_applets.principal_info.mobile, "13800000000");
        assert_eq!(p.icp_applets.base_info.nrlx_details.len(), 2);
        assert_eq!(p.icp_applets.base_info.nrlx_details[1].code, "X1");
        assert_eq!(p.icp_materials.subject_other_materials, vec!["m1".to_string()]);
        // "" clears a number (absent), and "+0" is not a number the payload would keep.
        set_field(&mut p, "icp_subject.base_info.type", "").expect("edit");
        assert_eq!(p.icp_subject.base_info.subject_type, None);
    }

    #[test]
    fn unknown_deep_or_large_paths_are_refused_by_name() {
        let deep = format!("icp_subject.{}b", "a.".repeat(5000));
        for (path, want) in [
            (deep.as_str(), "字段名过长"),
            ("icp_subject.base_info.x.10000000", "未知字段"),
            ("icp_subject.base_info.record_number", "未知字段"),
            ("icp_applets.base_info.nrlx_details.10000000.code", "字段序号"),
            ("icp_applets.base_info.nrlx_details.32.code", "最多32个"),
            ("icp_materials.commitment_letter.1", "最多1个"),
            ("icp_materials.subject_other_materials.+1", "字段序号"),
            ("icp_materials.nope.0", "未知字段"),
            ("icp_applets.principal_info.name.x", "未知字段"),
            ("", "未知字段"),
        ] {
            let e = set_field(&mut ApplyPayload::default(), path, "v").expect_err("refused");
            assert!(e.errmsg.contains(want), "{path}: {e}");
            assert!(e.field.chars().count() <= MAX_PATH_CHARS);
        }
        let long = "x".repeat(MAX_VALUE_CHARS + 1);
        assert!(set_field(&mut ApplyPayload::default(), "icp_subject.base_info.name", &long).is_err());
    }

    #[test]
    fn every_rules_field_is_editable() {
        for f in crate::rules::FIELDS {
            let path = match *f {
                "icp_applets.base_info.service_content_types" => format!("{f}.0"),
                "icp_applets.base_info.nrlx_details" => format!("{f}.0.type"),
                f if f.starts_with("icp_materials.") => format!("{f}.0"),
                f => f.to_string(),
            };
            if matches!(*f, "icp_applets.base_info.appid" | "icp_applets.base_info.name") {
                continue; // filled by the platform from the mini program, never typed
            }
            assert!(is_editable(&path), "{path}");
        }
    }

    #[test]
    fn nrlx_types_keep_their_codes() {
        let mut p = ApplyPayload::default();
        set_nrlx_types(&mut p, &["3", "5"]).expect("edit");
        set_field(&mut p, "icp_applets.base_info.nrlx_details.1.code", "C5").expect("edit");
        set_nrlx_types(&mut p, &["5", "7", "5", "0", "+0"]).expect("edit");
        let d = &p.icp_applets.base_info.nrlx_details;
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].nrlx_type, d[0].code.as_str()), (Some(5), "C5"));
        assert!(set_nrlx_types(&mut p, &["x"]).is_err());
        assert_eq!(p.icp_applets.base_info.nrlx_details.len(), 2);
    }
}
