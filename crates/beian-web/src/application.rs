//! An application (申请信息) as a person reads it: the wizard's sections in the wizard's order,
//! Chinese labels, and values decoded through the dictionaries (广东省 深圳市 南山区, the
//! service types' and pre-approvals' names, 证件类型, 主体性质) instead of field paths and
//! codes. The reviewer's page and the console's 确认提交 step both show it ([`table`]); the
//! reviewer's diff against the previous submission compares it row by row ([`diff`]).

use beian_core::dict::Dictionaries;
use beian_core::model::{FaceStatus, FaceTask};
use beian_core::payload::{ApplyPayload, PrincipalInfo};
use maud::{html, Markup};

/// What a row shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// Readable text (already decoded).
    Text(String),
    /// Uploaded files (media ids), shown as thumbnails.
    Media(Vec<String>),
    /// An uploaded video (media ids), shown as links.
    Video(Vec<String>),
}

/// One filled-in field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The field's dotted path (for matching and test hooks; never shown).
    pub path: String,
    pub label: String,
    pub value: Shown,
}

/// A group of fields, titled as in the wizard.
#[derive(Debug, Clone)]
pub struct Section {
    pub title: &'static str,
    pub rows: Vec<Row>,
}

/// The filled-in fields of `p`, grouped and ordered like the wizard; empty fields are left out.
pub fn sections(p: &ApplyPayload, dict: &Dictionaries) -> Vec<Section> {
    let s = &p.icp_subject;
    let a = &p.icp_applets;
    let mut subject = Rows::default();
    subject.text(
        "icp_subject.base_info.type",
        "主体性质",
        s.base_info.subject_type.map(|t| dict.subject_type(t).map(|x| x.name.clone()).unwrap_or(unknown(t))),
    );
    subject.text("icp_subject.base_info.name", "主办单位名称 / 个人姓名", some(&s.base_info.name));
    subject.text(
        "icp_subject.base_info.district",
        "主体所在地区",
        region(dict, &s.base_info.province, &s.base_info.city, &s.base_info.district),
    );
    subject.text("icp_subject.base_info.address", "通讯地址", some(&s.base_info.address));
    subject.text(
        "icp_subject.organize_info.certificate_type",
        "主体证件类型",
        s.organize_info.certificate_type.map(|t| certificate(dict, t)),
    );
    subject.text(
        "icp_subject.organize_info.certificate_number",
        "主体证件号码",
        some(&s.organize_info.certificate_number),
    );
    subject.text(
        "icp_subject.organize_info.certificate_address",
        "证件住所",
        some(&s.organize_info.certificate_address),
    );
    subject.text("icp_subject.legal_person_info.name", "法定代表人姓名", some(&s.legal_person_info.name));
    subject.text(
        "icp_subject.legal_person_info.certificate_number",
        "法定代表人身份证号",
        some(&s.legal_person_info.certificate_number),
    );
    subject.text("icp_subject.base_info.comment", "主体备注", some(&s.base_info.comment));

    let mut applet = Rows::default();
    applet.text("icp_applets.base_info.name", "小程序名称", some(&a.base_info.name));
    applet.text("icp_applets.base_info.appid", "AppID", some(&a.base_info.appid));
    let services: Vec<String> = a
        .base_info
        .service_content_types
        .iter()
        .map(|&t| match dict.service_content_type(t) {
            Some(x) => match dict.service_content_type(x.parent_type) {
                Some(parent) if x.parent_type != 0 => format!("{} · {}", parent.name, x.name),
                _ => x.name.clone(),
            },
            None => unknown(t),
        })
        .collect();
    applet.text(
        "icp_applets.base_info.service_content_types",
        "服务内容类型",
        (!services.is_empty()).then(|| services.join("、")),
    );
    let approvals: Vec<String> = a
        .base_info
        .nrlx_details
        .iter()
        .filter_map(|d| d.nrlx_type)
        .map(|t| dict.nrlx_type(t).map(|x| x.name.clone()).unwrap_or(unknown(t)))
        .collect();
    applet.text(
        "icp_applets.base_info.nrlx_details",
        "前置审批项",
        (!approvals.is_empty()).then(|| approvals.join("、")),
    );
    for (i, d) in a.base_info.nrlx_details.iter().enumerate() {
        let name = d.nrlx_type.and_then(|t| dict.nrlx_type(t)).map(|x| x.name.as_str()).unwrap_or("前置审批");
        applet.text(
            &format!("icp_applets.base_info.nrlx_details.{i}.code"),
            &format!("{name}前置审批号"),
            some(&d.code),
        );
    }
    applet.text("icp_applets.base_info.comment", "小程序备注", some(&a.base_info.comment));

    let mut materials = Rows::default();
    materials.media(
        "icp_subject.organize_info.certificate_photo",
        "主体证件照片",
        &[&s.organize_info.certificate_photo],
    );
    materials.media(
        "icp_subject.personal_info.residence_permit",
        "临时居住证明",
        &[&s.personal_info.residence_permit],
    );
    for (prefix, who, pi) in [
        ("icp_subject.principal_info", "主体负责人", &s.principal_info),
        ("icp_applets.principal_info", "小程序负责人", &a.principal_info),
    ] {
        materials.media(
            &format!("{prefix}.certificate_photo_front"),
            &format!("{who}证件人像面"),
            &[&pi.certificate_photo_front],
        );
        materials.media(
            &format!("{prefix}.certificate_photo_back"),
            &format!("{who}证件国徽面"),
            &[&pi.certificate_photo_back],
        );
        materials.media(
            &format!("{prefix}.authorization_letter"),
            &format!("{who}授权书"),
            &[&pi.authorization_letter],
        );
    }
    for (i, d) in a.base_info.nrlx_details.iter().enumerate() {
        let name = d.nrlx_type.and_then(|t| dict.nrlx_type(t)).map(|x| x.name.as_str()).unwrap_or("前置审批");
        materials.media(
            &format!("icp_applets.base_info.nrlx_details.{i}.media"),
            &format!("{name}前置审批文件"),
            &[&d.media],
        );
    }

    let mut face = Rows::default();
    face.text(
        "icp_applets.principal_info.verify_task_id",
        "小程序管理员人脸核身",
        (!a.principal_info.verify_task_id.is_empty()).then(|| "已发起".to_string()),
    );

    let mut letters = Rows::default();
    for (name, list, _) in p.icp_materials.lists() {
        let path = format!("icp_materials.{name}");
        let ids: Vec<String> = list.iter().filter(|x| !x.is_empty()).cloned().collect();
        if ids.is_empty() {
            continue;
        }
        let value = if name == "promise_video" { Shown::Video(ids) } else { Shown::Media(ids) };
        letters.0.push(Row { path, label: material_label(name).to_string(), value });
    }

    let mut out = vec![
        Section { title: "主体信息", rows: subject.0 },
        Section { title: "小程序信息", rows: applet.0 },
        Section {
            title: "主体负责人",
            rows: principal(&s.principal_info, "icp_subject.principal_info", dict),
        },
        Section {
            title: "小程序负责人",
            rows: principal(&a.principal_info, "icp_applets.principal_info", dict),
        },
        Section { title: "证件材料", rows: materials.0 },
        Section { title: "人脸核身", rows: face.0 },
        Section { title: "承诺书及其他材料", rows: letters.0 },
    ];
    out.retain(|s| !s.rows.is_empty());
    out
}

fn principal(pi: &PrincipalInfo, prefix: &str, dict: &Dictionaries) -> Vec<Row> {
    let mut r = Rows::default();
    let path = |leaf: &str| format!("{prefix}.{leaf}");
    r.text(&path("name"), "姓名", some(&pi.name));
    r.text(&path("mobile"), "手机号码", some(&pi.mobile));
    r.text(&path("email"), "电子邮箱", some(&pi.email));
    r.text(&path("emergency_contact"), "应急联系电话", some(&pi.emergency_contact));
    r.text(&path("certificate_type"), "证件类型", pi.certificate_type.map(|t| certificate(dict, t)));
    r.text(&path("certificate_number"), "证件号码", some(&pi.certificate_number));
    let validity =
        match (pi.certificate_validity_date_start.as_str(), pi.certificate_validity_date_end.as_str()) {
            ("", "") => None,
            (from, to) => Some(format!("{} 至 {}", day(from), day(to))),
        };
    r.text(&path("certificate_validity_date_end"), "证件有效期", validity);
    r.0
}

/// The Chinese name of a materials list.
fn material_label(name: &str) -> &'static str {
    match name {
        "commitment_letter" => "承诺书",
        "business_name_change_letter" => "单位名称变更说明",
        "party_building_confirmation_letter" => "党建确认函",
        "promise_video" => "承诺视频",
        "authenticity_responsibility_letter" => "备案信息真实性责任告知书",
        "authenticity_commitment_letter" => "备案信息真实性承诺书",
        "website_construction_proposal" => "小程序建设方案书",
        "subject_other_materials" => "主体其他材料",
        "applets_other_materials" => "小程序其他材料",
        "holding_certificate_photo" => "手持证件照",
        _ => "其他材料",
    }
}

#[derive(Default)]
struct Rows(Vec<Row>);

impl Rows {
    fn text(&mut self, path: &str, label: &str, value: Option<String>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.0.push(Row { path: path.into(), label: label.into(), value: Shown::Text(v) });
        }
    }
    fn media(&mut self, path: &str, label: &str, ids: &[&String]) {
        let ids: Vec<String> = ids.iter().filter(|x| !x.is_empty()).map(|x| x.to_string()).collect();
        if !ids.is_empty() {
            self.0.push(Row { path: path.into(), label: label.into(), value: Shown::Media(ids) });
        }
    }
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// A code the dictionaries do not know (an old dictionary): say so rather than show a number
/// as if it meant something.
fn unknown(code: u32) -> String {
    format!("未知代码 {code}")
}

fn certificate(dict: &Dictionaries, t: u32) -> String {
    dict.certificate_type(t).map(|c| c.name.clone()).unwrap_or(unknown(t))
}

/// 广东省 深圳市 南山区 (what of it the dictionaries know).
fn region(dict: &Dictionaries, province: &str, city: &str, district: &str) -> Option<String> {
    let names: Vec<String> = [(1u8, province), (2, city), (3, district)]
        .into_iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(level, c)| {
            c.parse()
                .ok()
                .and_then(|code| dict.region_at(level, code))
                .map(|r| r.name.to_string())
                .unwrap_or_else(|| format!("未知地区 {c}"))
        })
        .collect();
    // A city without a county level is also its own district: name it once.
    let mut shown: Vec<String> = Vec::new();
    for n in names {
        if shown.last() != Some(&n) {
            shown.push(n);
        }
    }
    (!shown.is_empty()).then(|| shown.join(" "))
}

/// Say how the face verification ended (the task as read now; `None`: it cannot be found any
/// more) instead of only that one was started.
pub fn set_face_outcome(sections: &mut [Section], task: Option<&FaceTask>) {
    let outcome = match task {
        Some(t) if t.face_status == FaceStatus::Succeeded => "核身通过",
        Some(t) if t.face_status == FaceStatus::Failed => "核身未通过",
        Some(_) => "核身未完成",
        None => "核身任务已失效",
    };
    let face =
        sections.iter_mut().flat_map(|s| s.rows.iter_mut()).find(|r| r.path.ends_with("verify_task_id"));
    if let Some(row) = face {
        row.value = Shown::Text(outcome.into());
    }
}

/// 20200101 → 2020-01-01; anything else (长期) as it is.
fn day(d: &str) -> String {
    if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..])
    } else {
        d.to_string()
    }
}

/// The sections as tables; `media_url` gives the address of an uploaded file.
pub fn table(sections: &[Section], media_url: &dyn Fn(&str) -> String) -> Markup {
    table_marked(sections, media_url, &[])
}

/// [`table`] with the rows of `marked` paths highlighted (class `changed`): a change's fields.
pub fn table_marked(sections: &[Section], media_url: &dyn Fn(&str) -> String, marked: &[String]) -> Markup {
    html! {
        @for s in sections {
            h3 { (s.title) }
            table.fields.stack {
                @for r in &s.rows {
                    tr data-field=(r.path) class=[marked.contains(&r.path).then_some("changed")] {
                        th { (r.label) }
                        td { (shown(&r.value, &r.label, media_url)) }
                    }
                }
            }
        }
    }
}

/// One value: text, thumbnails (each opening the file), or video links.
pub fn shown(v: &Shown, label: &str, media_url: &dyn Fn(&str) -> String) -> Markup {
    html! {
        @match v {
            Shown::Text(t) => { (t) },
            Shown::Media(ids) => {
                div.thumbs {
                    @for id in ids {
                        a href=(media_url(id)) target="_blank" rel="noopener" {
                            img.preview alt=(label) src=(media_url(id));
                        }
                    }
                }
            },
            Shown::Video(ids) => {
                @for (i, id) in ids.iter().enumerate() {
                    a href=(media_url(id)) target="_blank" rel="noopener" { "查看视频" @if i > 0 { (i + 1) } }
                    " "
                }
            },
        }
    }
}

/// One changed field: its label, the value before (if any) and after (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub label: String,
    pub old: Option<Shown>,
    pub new: Option<Shown>,
}

/// What changed between two submissions, field by field, in the wizard's order.
pub fn diff(old: &[Section], new: &[Section]) -> Vec<Change> {
    let flat = |s: &[Section]| -> Vec<Row> { s.iter().flat_map(|x| x.rows.iter().cloned()).collect() };
    let (old, new) = (flat(old), flat(new));
    let mut out = Vec::new();
    for r in &new {
        match old.iter().find(|o| o.path == r.path) {
            Some(o) if o.value == r.value => {}
            o => out.push(Change {
                path: r.path.clone(),
                label: r.label.clone(),
                old: o.map(|o| o.value.clone()),
                new: Some(r.value.clone()),
            }),
        }
    }
    for o in &old {
        if !new.iter().any(|r| r.path == o.path) {
            out.push(Change {
                path: o.path.clone(),
                label: o.label.clone(),
                old: Some(o.value.clone()),
                new: None,
            });
        }
    }
    out
}

/// The changed fields as a table: label, the value before (struck out), the value after;
/// `id` names the table, `before` and `after` head the value columns.
pub fn diff_table(
    id: &str,
    before: &str,
    after: &str,
    changes: &[Change],
    media_url: &dyn Fn(&str) -> String,
) -> Markup {
    html! {
        table.stack.diff id=(id) {
            tr { th { "字段" } th { (before) } th { (after) } }
            @for c in changes {
                tr data-field=(c.path) {
                    th { (c.label) }
                    td.old { @match &c.old { Some(v) => { del { (shown(v, &c.label, media_url)) } }, None => { span.muted { "（未填）" } } } }
                    td.new { @match &c.new { Some(v) => { ins { (shown(v, &c.label, media_url)) } }, None => { span.muted { "（已删除）" } } } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload() -> ApplyPayload {
        serde_json::from_value(json!({
            "icp_subject": {"base_info": {"type": 4, "name": "深圳市读书笔记科技有限公司", "province": "440000", "city": "440300", "district": "440305", "address": "科技园路1号"},
                            "organize_info": {"certificate_type": 1, "certificate_number": "91440300MA5ABCDE1H", "certificate_photo": "m1"},
                            "principal_info": {"name": "张三", "certificate_type": 2, "certificate_validity_date_start": "20200101", "certificate_validity_date_end": "长期", "certificate_photo_front": "m2"}},
            "icp_applets": {"base_info": {"appid": "wx1", "service_content_types": [20], "nrlx_details": [{"type": 24}], "comment": "备注"},
                            "principal_info": {"name": "张三", "verify_task_id": "t1"}},
            "icp_materials": {"commitment_letter": ["m3"]}
        }))
        .expect("payload")
    }

    #[test]
    fn codes_are_decoded_and_paths_never_shown() {
        let dict = Dictionaries::builtin();
        let s = sections(&payload(), &dict);
        let titles: Vec<&str> = s.iter().map(|x| x.title).collect();
        assert_eq!(
            titles,
            [
                "主体信息",
                "小程序信息",
                "主体负责人",
                "小程序负责人",
                "证件材料",
                "人脸核身",
                "承诺书及其他材料"
            ]
        );
        let text = table(&s, &|id| format!("/m/{id}")).into_string();
        for want in [
            "企业",
            "广东省 深圳市 南山区",
            "社交 · 内容分享",
            "以上都不涉及",
            "营业执照",
            "居民身份证",
            "2020-01-01 至 长期",
            "/m/m3",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
        // Paths stay in attributes only: no label or value is a path or a bare code.
        for r in s.iter().flat_map(|x| &x.rows) {
            assert!(!r.label.contains("icp_"), "{}", r.label);
            if let Shown::Text(t) = &r.value {
                assert!(!t.contains("icp_") && t != "440300" && t != "24" && t != "4", "{t}");
            }
        }
    }

    #[test]
    fn diff_names_changed_fields_and_media() {
        let dict = Dictionaries::builtin();
        let before = payload();
        let mut after = payload();
        after.icp_applets.base_info.comment = "新的备注".into();
        after.icp_subject.principal_info.certificate_photo_front = "m9".into();
        let d = diff(&sections(&before, &dict), &sections(&after, &dict));
        let labels: Vec<&str> = d.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["小程序备注", "主体负责人证件人像面"]);
        assert_eq!(d[1].old, Some(Shown::Media(vec!["m2".into()])));
        assert_eq!(d[1].new, Some(Shown::Media(vec!["m9".into()])));
        assert!(diff(&sections(&before, &dict), &sections(&before, &dict)).is_empty());
    }
}
