//! The filing wizard: subject → mini program → principals → materials → face verification →
//! commitment letter → review & submit. The draft is saved at every step; the rules engine
//! runs on it and its hints show at their fields; rejected fields of the previous submission
//! are highlighted when re-submitting.
//!
//! The same steps serve a change of the filed record (变更备案, [`Mode::Change`], under
//! `/console/apps/{appid}/change`): the draft starts from the filed record, the review step
//! shows what differs from it, and the submit goes to `apply_change`.

use crate::auth::{check_csrf, decode, forbidden, form, get, require};
use crate::html::oops;
use crate::html::{csrf_field, error_box, field_state, input, layout, select, wrap};
use crate::pages::unread;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Json, Redirect, Response};
use beian_core::draft;
use beian_core::payload::ApplyPayload;
use beian_core::platform::{Access, Permission};
use beian_core::rules::{fields_for_key_name, Hint};
use beian_service::accounts::Session;
use beian_service::{Actor, MediaUpload, ServiceError};
use beian_web::application;
use maud::{html, Markup};
use serde_json::{json, Value};

pub const STEPS: [(&str, &str); 7] = [
    ("subject", "主体信息"),
    ("applet", "小程序信息"),
    ("principals", "负责人"),
    ("materials", "证件材料"),
    ("face", "人脸核身"),
    ("letter", "承诺书"),
    ("review", "确认提交"),
];

/// Which step a field belongs to.
pub fn step_of(field: &str) -> &'static str {
    let f = field;
    if f.contains("certificate_photo")
        || f.ends_with("authorization_letter")
        || f.contains("residence_permit")
    {
        "materials"
    } else if f.ends_with("verify_task_id") {
        "face"
    } else if f.starts_with("icp_materials.commitment_letter") {
        "letter"
    } else if f.starts_with("icp_materials") {
        "materials"
    } else if f.starts_with("icp_applets.base_info") {
        "applet"
    } else if f.contains("principal_info") {
        "principals"
    } else if f.starts_with("icp_subject") {
        "subject"
    } else {
        "review"
    }
}

/// A new application, or a change of the filed record (变更备案): the same steps, drafts and
/// rules; the mode is the address (`…/filing` or `…/change`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Filing,
    Change,
}

impl Mode {
    /// The mode of a wizard address: `/console/apps/{appid}/change…` is a change.
    pub fn of(uri: &Uri) -> Mode {
        if uri.path().split('/').nth(4) == Some("change") {
            Mode::Change
        } else {
            Mode::Filing
        }
    }

    /// The path segment after the appid.
    pub fn base(self) -> &'static str {
        match self {
            Mode::Filing => "filing",
            Mode::Change => "change",
        }
    }
}

fn q(query: &Option<String>, key: &str) -> Option<String> {
    query.as_deref()?.split('&').find_map(|p| p.strip_prefix(&format!("{key}="))).map(decode)
}

async fn guard(s: &AppState, headers: &HeaderMap, appid: &str, mode: Mode) -> Result<Session, Response> {
    let sess = require(s, headers, &format!("/console/apps/{appid}/{}", mode.base())).await?;
    match s.svc.accounts().require(&sess.account, appid, Access::Can(Permission::File)).await {
        Ok(_) => Ok(sess),
        Err(ServiceError::Refused { errmsg, .. }) => Err(forbidden(&sess, &errmsg)),
        Err(e) => Err(oops(Some(&sess), e)),
    }
}

/// The rules' hints on the draft: those of a new application, or those of a change.
async fn validate(
    s: &AppState,
    appid: &str,
    mode: Mode,
    draft: &ApplyPayload,
) -> Result<Vec<Hint>, ServiceError> {
    match mode {
        Mode::Filing => s.svc.filings().validate_application(appid, draft).await,
        Mode::Change => s.svc.filings().validate_change(appid, draft).await,
    }
}

async fn load_draft(s: &AppState, appid: &str) -> Result<ApplyPayload, ServiceError> {
    s.svc.filings().draft_or_start(appid).await
}

/// Rejected fields of the last decision that the draft still holds as they were submitted:
/// (field path, reason). A field the developer has since changed (a new upload, a new text)
/// is no longer marked.
async fn rejected(s: &AppState, appid: &str, draft: &Value) -> Vec<(String, String)> {
    let Ok(info) = s.svc.filings().entrance_info(appid).await else { return Vec::new() };
    let audit_data = match info.change {
        Some(c) => c.audit_data,
        None => info.audit_data,
    };
    if audit_data.is_empty() {
        return Vec::new();
    }
    let submitted = match s.svc.filings().order(appid).await {
        Ok(Some(v)) => s.svc.filings().submitted_version(appid, v.order.versions).await.ok().flatten(),
        _ => None,
    };
    let submitted = submitted.and_then(|p| serde_json::to_value(p).ok());
    let mut out = Vec::new();
    for a in audit_data {
        for f in fields_for_key_name(&a.key_name) {
            let changed = submitted.as_ref().is_some_and(|sub| get_path(sub, f) != get_path(draft, f));
            if !changed {
                out.push((f.to_string(), format!("{}（{}）", a.error, a.suggest)));
            }
        }
    }
    out
}

/// What the page says back after the developer's last action.
#[derive(Default)]
struct Flash {
    /// Hints are shown (after a save, an upload or a submit; always on 确认提交).
    checked: bool,
    /// 保存 pressed: say it was saved.
    saved: bool,
    /// The step saved just before moving on to this one.
    done: Option<String>,
    /// A message for the whole page.
    notice: Option<String>,
    /// An upload refused: (field, why), shown at the field.
    field_error: Option<(String, String)>,
}

fn get_path<'a>(root: &'a Value, path: &str) -> &'a Value {
    let mut cur = root;
    for part in path.split('.') {
        cur = match part.parse::<usize>() {
            Ok(i) => cur.get(i).unwrap_or(&Value::Null),
            Err(_) => cur.get(part).unwrap_or(&Value::Null),
        };
    }
    cur
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// GET: one step of the wizard.
pub async fn step_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(appid): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let mode = Mode::of(&uri);
    let sess = match guard(&s, &headers, &appid, mode).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let asked = q(&query, "step");
    let mut step = asked.as_deref().and_then(|a| STEPS.iter().find(|(k, _)| *k == a)).map(|(k, _)| *k);
    // Re-submitting after a rejection: open the step that holds the first rejected field.
    if step.is_none() && q(&query, "resubmit").is_some() {
        if let (Ok(draft), Ok(info)) =
            (load_draft(&s, &appid).await, s.svc.filings().entrance_info(&appid).await)
        {
            let v = serde_json::to_value(&draft).unwrap_or(Value::Null);
            let audit_data = info.change.map(|c| c.audit_data).unwrap_or(info.audit_data);
            let first = audit_data.iter().flat_map(|a| fields_for_key_name(&a.key_name)).find(|f| {
                // Only fields this filing uses (a 主体证件照片 rejection of a personal subject
                // points nowhere useful).
                !get_path(&v, f).is_null()
            });
            step = first.map(step_of);
        }
    }
    let step = step.unwrap_or("subject");
    let saved = q(&query, "saved").is_some();
    let flash = Flash {
        checked: saved || step == "review",
        saved: saved && q(&query, "field").is_none(),
        done: q(&query, "done").and_then(|d| STEPS.iter().find(|(k, _)| *k == d).map(|(_, n)| n.to_string())),
        notice: q(&query, "error").filter(|_| q(&query, "field").is_none()),
        field_error: q(&query, "field").zip(q(&query, "error")),
    };
    render(&s, &sess, &appid, mode, step, flash, None).await
}

async fn render(
    s: &AppState,
    sess: &Session,
    appid: &str,
    mode: Mode,
    step: &str,
    flash: Flash,
    submit_hints: Option<Vec<Hint>>,
) -> Response {
    let base = mode.base();
    let checked = flash.checked;
    let draft = match load_draft(s, appid).await {
        Ok(d) => d,
        Err(e) => return oops(Some(sess), e),
    };
    let info = match s.svc.filings().entrance_info(appid).await {
        Ok(i) => i,
        Err(e) => return oops(Some(sess), e),
    };
    let mp_name = or_page!(s.svc.mini_programs().mini_program(appid).await, sess).name;
    let st = info.state();
    if mode == Mode::Filing && info.available == 0 {
        let why = info.unavailable_reason.unwrap_or_else(|| "备案入口暂未开放".into());
        let body = html! { div class="banner closed" { div { strong { "暂不能备案" } "：" (why) } } };
        return layout("备案", Some(sess), 0, body).into_response();
    }
    if !mode_fits(mode, st) {
        return Redirect::to(&format!("/console/apps/{appid}")).into_response();
    }
    let all_hints = match &submit_hints {
        Some(h) => h.clone(),
        None if checked => or_page!(validate(s, appid, mode, &draft).await, sess),
        None => Vec::new(),
    };
    let v = serde_json::to_value(&draft).unwrap_or(Value::Null);
    let rejected = rejected(s, appid, &v).await;
    let step_hints: Vec<Hint> =
        all_hints.iter().filter(|h| step == "review" || step_of(&h.err_field) == step).cloned().collect();
    let steps: Vec<Markup> = STEPS
        .iter()
        .map(|(k, name)| {
            let mut class = String::new();
            if *k == step {
                class.push_str("current");
            }
            if all_hints.iter().any(|h| step_of(&h.err_field) == *k) {
                class.push_str(" bad");
            }
            // Rejected by the reviewer: orange, like the fields and the banner.
            if rejected.iter().any(|(f, _)| step_of(f) == *k) {
                class.push_str(" rejected-step");
            }
            html! { li class=(class) { a href={ "/console/apps/" (appid) "/" (base) "?step=" (k) } { (name) } } }
        })
        .collect();
    let st = |path: &str| field_state(path, &step_hints, &rejected);
    let val = |path: &str| text_of(get_path(&v, path));
    let dict = s.svc.dictionaries();
    let mut f: Vec<Markup> = Vec::new();
    match step {
        "subject" => {
            let types: Vec<(String, String)> =
                dict.subject_types().iter().map(|t| (t.type_id.to_string(), t.name.clone())).collect();
            f.push(select(
                "icp_subject.base_info.type",
                "主体性质（单位性质）",
                &types,
                &val("icp_subject.base_info.type"),
                "个人备案请选择“个人”；个体工商户选择“企业”。",
                &st("icp_subject.base_info.type"),
                "",
            ));
            f.push(input(
                "icp_subject.base_info.name",
                "主办单位名称 / 个人姓名",
                &val("icp_subject.base_info.name"),
                "text",
                "与证件上的名称完全一致。",
                &st("icp_subject.base_info.name"),
            ));
            let provinces: Vec<(String, String)> =
                dict.districts().iter().map(|p| (p.code.to_string(), p.name.clone())).collect();
            let prov = val("icp_subject.base_info.province");
            let cities: Vec<(String, String)> = dict
                .districts()
                .iter()
                .find(|p| p.code.to_string() == prov)
                .map(|p| p.sub_list.iter().map(|c| (c.code.to_string(), c.name.clone())).collect())
                .unwrap_or_default();
            let city = val("icp_subject.base_info.city");
            let districts: Vec<(String, String)> = dict
                .districts()
                .iter()
                .flat_map(|p| p.sub_list.iter())
                .find(|c| c.code.to_string() == city)
                .map(|c| c.sub_list.iter().map(|d| (d.code.to_string(), d.name.clone())).collect())
                .unwrap_or_default();
            f.push(select(
                "icp_subject.base_info.province",
                "省份",
                &provinces,
                &prov,
                "按主体实际所在地选择；不同省份所需材料略有不同。",
                &st("icp_subject.base_info.province"),
                "province",
            ));
            f.push(select(
                "icp_subject.base_info.city",
                "城市",
                &cities,
                &city,
                "选好省份后点“保存”即可列出城市（启用脚本时自动列出）。",
                &st("icp_subject.base_info.city"),
                "city",
            ));
            f.push(select(
                "icp_subject.base_info.district",
                "区县",
                &districts,
                &val("icp_subject.base_info.district"),
                "开发区请选择实际所属的行政区。",
                &st("icp_subject.base_info.district"),
                "district",
            ));
            f.push(input(
                "icp_subject.base_info.address",
                "通讯地址",
                &val("icp_subject.base_info.address"),
                "text",
                "从街道门牌填起，不要重复填写省市区，如：高碑店路181号1栋101室。",
                &st("icp_subject.base_info.address"),
            ));
            // Only the types of the chosen nature (the dictionary says which nature a type
            // belongs to); the script narrows the list again when the nature changes.
            let nature = draft.icp_subject.base_info.subject_type;
            let chosen = val("icp_subject.organize_info.certificate_type");
            let control = html! {
                select name="icp_subject.organize_info.certificate_type" data-nature-of="icp_subject.base_info.type" {
                    option value="" selected[chosen.is_empty()] { "请选择" }
                    @for c in dict.certificate_types() {
                        @let other = nature.is_some_and(|n| n != c.subject_type);
                        @let id = c.type_id.to_string();
                        option value=(id) data-nature=(c.subject_type) selected[id == chosen] hidden[other] disabled[other] {
                            (c.name)
                            @if !c.remark.is_empty() && c.remark != c.name { "（" (c.remark) "）" }
                        }
                    }
                }
            };
            f.push(wrap(
                "icp_subject.organize_info.certificate_type",
                "主体证件类型",
                control,
                "只列出所选主体性质可用的证件；个人选择“居民身份证”。",
                &st("icp_subject.organize_info.certificate_type"),
            ));
            f.push(input(
                "icp_subject.organize_info.certificate_number",
                "主体证件号码",
                &val("icp_subject.organize_info.certificate_number"),
                "text",
                "营业执照填18位统一社会信用代码；个人填18位身份证号。",
                &st("icp_subject.organize_info.certificate_number"),
            ));
            f.push(input(
                "icp_subject.organize_info.certificate_address",
                "证件住所",
                &val("icp_subject.organize_info.certificate_address"),
                "text",
                "按证件上的住所完整填写。",
                &st("icp_subject.organize_info.certificate_address"),
            ));
            f.push(input(
                "icp_subject.legal_person_info.name",
                "法定代表人姓名（单位主体，负责人不是法定代表人时填写）",
                &val("icp_subject.legal_person_info.name"),
                "text",
                "",
                &st("icp_subject.legal_person_info.name"),
            ));
            f.push(input(
                "icp_subject.legal_person_info.certificate_number",
                "法定代表人身份证号",
                &val("icp_subject.legal_person_info.certificate_number"),
                "text",
                "",
                &st("icp_subject.legal_person_info.certificate_number"),
            ));
        }
        "applet" => {
            let chosen = &draft.icp_applets.base_info.service_content_types;
            let types = dict.service_content_types();
            let groups = html! {
                @for parent in types.iter().filter(|t| t.parent_type == 0) {
                    fieldset {
                        legend { (parent.name) }
                        @for t in types.iter().filter(|t| t.parent_type == parent.type_id) {
                            label {
                                input type="checkbox" name="sct" value=(t.type_id) checked[chosen.contains(&t.type_id)];
                                " " (t.name)
                            }
                            " "
                        }
                    }
                }
            };
            f.push(wrap(
                "icp_applets.base_info.service_content_types",
                "服务内容类型（1至5个二级类型）",
                groups,
                "按小程序实际提供的服务选择。",
                &st("icp_applets.base_info.service_content_types"),
            ));
            let chosen_nrlx: Vec<u32> =
                draft.icp_applets.base_info.nrlx_details.iter().filter_map(|d| d.nrlx_type).collect();
            let mut nrlx = vec![html! {
                @for t in dict.nrlx_types() {
                    label {
                        input type="checkbox" name="nrlx" value=(t.type_id) checked[chosen_nrlx.contains(&t.type_id)];
                        " " (t.name)
                    }
                    " "
                }
            }];
            for (i, d) in draft.icp_applets.base_info.nrlx_details.iter().enumerate() {
                let Some(t) = d.nrlx_type else { continue };
                if Some(t) == dict.nrlx_none_id() {
                    continue;
                }
                let name = dict.nrlx_type(t).map(|x| x.name.as_str()).unwrap_or("");
                let path = format!("icp_applets.base_info.nrlx_details.{i}.code");
                nrlx.push(input(
                    &path,
                    &format!("{name} 前置审批号"),
                    &d.code,
                    "text",
                    "如：粤-12345号",
                    &st(&path),
                ));
            }
            let nrlx = html! { @for x in &nrlx { (x) } };
            f.push(wrap("icp_applets.base_info.nrlx_details", "前置审批项", nrlx, "涉及新闻、出版、教育、医疗、药品、金融等须先取得主管部门审批；都不涉及请只选“以上都不涉及”。审批文件在“证件材料”一步上传。", &st("icp_applets.base_info.nrlx_details")));
            f.push(input(
                "icp_applets.base_info.comment",
                "小程序备注",
                &val("icp_applets.base_info.comment"),
                "textarea",
                "20至200字，具体描述小程序实际提供的主要服务，是管局审核的重要依据。",
                &st("icp_applets.base_info.comment"),
            ));
        }
        "principals" => {
            // The same person when the two blocks hold the same person (the face task aside).
            let (sp, ap) = (&draft.icp_subject.principal_info, &draft.icp_applets.principal_info);
            let same = !sp.name.is_empty() && {
                let mut a = ap.clone();
                a.verify_task_id = sp.verify_task_id.clone();
                a == *sp
            };
            for (prefix, who) in
                [("icp_subject.principal_info", "主体负责人"), ("icp_applets.principal_info", "小程序负责人")]
            {
                let mut block: Vec<Markup> = Vec::new();
                if prefix == "icp_applets.principal_info" {
                    f.push(html! {
                        h3 { (who) }
                        label.same {
                            input #same type="checkbox" name="same" value="1" checked[same] aria-controls="applet-principal";
                            " 与主体负责人为同一人（只需填写一次）"
                        }
                        p.muted { "小程序负责人须为小程序管理员本人（人脸核身由管理员完成）。" }
                    });
                } else {
                    f.push(html! { h3 { (who) } });
                }
                for (leaf, label, kind, help) in [
                    ("name", "姓名", "text", ""),
                    ("mobile", "手机号码", "tel", "工信部会向此号码发送短信验证码。"),
                    ("email", "电子邮箱", "email", ""),
                    ("emergency_contact", "应急联系电话", "tel", "不能与手机号码相同。"),
                    ("certificate_number", "身份证号码", "text", "18位，末位X大写。"),
                    ("certificate_validity_date_start", "证件有效期开始（YYYYMMDD）", "text", "如 20200101"),
                    (
                        "certificate_validity_date_end",
                        "证件有效期结束（YYYYMMDD 或“长期”）",
                        "text",
                        "须在提交后至少还有3个月（宁夏6个月）。",
                    ),
                ] {
                    let path = format!("{prefix}.{leaf}");
                    block.push(input(&path, label, &val(&path), kind, help, &st(&path)));
                }
                let path = format!("{prefix}.certificate_type");
                let certs: Vec<(String, String)> = dict
                    .certificate_types()
                    .iter()
                    .filter(|c| Some(c.subject_type) == dict.personal_subject_type_id())
                    .map(|c| (c.type_id.to_string(), c.name.clone()))
                    .collect();
                block.push(select(
                    &path,
                    "证件类型",
                    &certs,
                    &val(&path),
                    "负责人须使用个人证件。",
                    &st(&path),
                    "",
                ));
                if prefix == "icp_applets.principal_info" {
                    f.push(html! { div #applet-principal hidden[same] { @for x in &block { (x) } } });
                } else {
                    f.extend(block);
                }
            }
        }
        "materials" => {
            // Uploads are their own forms (rendered below the main form).
        }
        "face" => {
            let task = &draft.icp_applets.principal_info.verify_task_id;
            let state = if task.is_empty() {
                html! { "尚未发起人脸核身。" }
            } else {
                match s.svc.materials().face_task(appid, task).await {
                    Ok(t) if t.is_finish && t.face_status == beian_core::model::FaceStatus::Succeeded => {
                        html! { strong #face-state { "人脸核身已完成" } "，请在3天内提交备案。" }
                    }
                    Ok(t) if t.face_status == beian_core::model::FaceStatus::Failed => html! {
                        strong #face-state { "上次核身未通过" }
                        "，请管理员重新打开 " a href={ "/face/" (t.task_id) } { "核身页面" } "。"
                    },
                    Ok(t) => html! {
                        strong #face-state { "等待管理员核身" }
                        "：已通过站内信和短信把链接发给管理员，也可直接打开 "
                        a #face-link href={ "/face/" (t.task_id) } { "核身页面" }
                        "（24小时内有效）。"
                    },
                    Err(_) => html! { "核身任务已失效，请重新发起。" },
                }
            };
            // The configured check: a vendor's liveness check, or the built-in one, which
            // has no biometrics and says so.
            let state = if s.svc.identity_provider().1 {
                state
            } else {
                html! { (state) br; small #no-biometrics { "当前为演示核身（无生物识别）：只核对管理员姓名与身份证号。" } }
            };
            f.push(wrap(
                "icp_applets.principal_info.verify_task_id",
                "小程序管理员人脸核身",
                html! { p { (state) } },
                "由小程序管理员本人完成；核身前请先填好其他信息。",
                &st("icp_applets.principal_info.verify_task_id"),
            ));
        }
        "letter" => {
            f.push(html! {
                p { "承诺书须打印后由负责人签字（单位加盖公章），拍照或扫描后上传。可使用按备案信息自动生成的承诺书，也可使用空白模板自行填写，两种均可。" }
                p {
                    a.btn #letter-pdf href={ "/console/apps/" (appid) "/letter.pdf" } { "下载自动生成的承诺书（PDF）" }
                    " "
                    a class="btn secondary" #letter-template href="/console/letter-template.pdf" { "下载空白模板" }
                }
            });
        }
        _ => {
            // Everything that will be submitted, as the reviewer will read it.
            let mut sections = application::sections(&draft, &dict);
            let task = &draft.icp_applets.principal_info.verify_task_id;
            if !task.is_empty() {
                let task = s.svc.materials().face_task(appid, task).await.ok();
                application::set_face_outcome(&mut sections, task.as_ref());
            }
            let media_url = |id: &str| format!("/console/apps/{appid}/media/{id}");
            let changes = match mode {
                Mode::Change => Some(or_page!(change_diff(s, appid, &draft).await, sess)),
                Mode::Filing => None,
            };
            let marked: Vec<String> = changes.iter().flatten().map(|c| c.path.clone()).collect();
            f.push(html! {
                @if let Some(changes) = &changes {
                    h3 { "与已备案信息相比的变更" }
                    @if changes.is_empty() {
                        p.error-box #no-change { "与已备案信息相同：请先修改需要变更的信息。" }
                    } @else {
                        (application::diff_table("change-diff", "已备案", "变更为", changes, &media_url))
                    }
                    h3 { "变更后的全部信息" } p.muted { "变更的字段已高亮。" }
                }
                div #summary { (application::table_marked(&sections, &media_url, &marked)) }
                @if step_hints.is_empty() {
                    div.ok-box { "所有信息已通过规则校验，可以提交。" }
                } @else {
                    div.error-box role="alert" {
                        strong { "还有" (step_hints.len()) "处需要修改" }
                        ul #all-hints {
                            @for h in &step_hints {
                                @let st = step_of(&h.err_field);
                                @let name = STEPS.iter().find(|(k, _)| *k == st).map(|(_, n)| *n).unwrap_or("");
                                li {
                                    (beian_core::rules::label(&h.err_field)) "：" (h.errmsg) " "
                                    a href={ "/console/apps/" (appid) "/" (base) "?step=" (st) "&saved=1" } { "去修改（" (name) "）" }
                                }
                            }
                        }
                    }
                }
            });
        }
    }
    let idx = STEPS.iter().position(|(k, _)| *k == step).unwrap_or(0);
    let next = STEPS.get(idx + 1).map(|(k, _)| *k).unwrap_or("review");
    let next_link =
        html! { a.btn #next href={ "/console/apps/" (appid) "/" (base) "?step=" (next) } { "下一步" } };
    let buttons = match step {
        "review" => html! {
            form method="post" action={ "/console/apps/" (appid) "/" (base) "/submit" } {
                (csrf_field(sess))
                label.agree {
                    input #agree type="checkbox" name="agree" value="1" required;
                    " 我已核对以上信息，保证真实、准确、完整，并同意按承诺书的内容履行备案义务。"
                }
                @if mode == Mode::Change {
                    button type="submit" #submit-change { "提交变更备案" }
                } @else {
                    button type="submit" #submit-filing { "提交备案" }
                }
            }
        },
        "face" => html! {
            form method="post" action={ "/console/apps/" (appid) "/" (base) "/face" } {
                (csrf_field(sess))
                button type="submit" #start-face { "发起人脸核身" }
            }
            p {
                a class="btn secondary" href={ "/console/apps/" (appid) "/" (base) "?step=face&saved=1" } { "刷新核身状态" }
                " "
                (next_link)
            }
        },
        "materials" | "letter" => html! { p { (next_link) } },
        _ => html! {},
    };
    let fields = html! { @for x in &f { (x) } };
    let main_form = if matches!(step, "subject" | "applet" | "principals") {
        html! {
            form method="post" action={ "/console/apps/" (appid) "/" (base) "/save" } #step-form {
                (csrf_field(sess))
                input type="hidden" name="_step" value=(step);
                (fields)
                p {
                    button type="submit" name="go" value="next" #save-next { "保存并下一步" }
                    " "
                    button.secondary type="submit" name="go" value="stay" { "保存" }
                }
            }
        }
    } else {
        html! { div #step-form { (fields) } }
    };
    let uploads =
        uploads_for(step, &draft, appid, mode, sess, &step_hints, &rejected, flash.field_error.as_ref());
    let body = html! {
        @if mode == Mode::Change {
            h1 { "变更备案 · " (mp_name) }
            div.banner #change-banner {
                div {
                    "已按" strong { "已备案的信息" } "预填，只需修改要变更的内容；变更期间小程序保持已备案状态，备案号不变。"
                    "主体所在省份、主体性质和主体证件不能通过变更备案修改（须注销后重新备案）。"
                    "提交前须由管理员重新完成人脸核身。"
                }
            }
        } @else {
            h1 { "小程序备案 · " (mp_name) }
        }
        @if !rejected.is_empty() {
            div.banner {
                div { "上次提交被驳回：已为你保留全部信息，" strong { "只需修改橙色框标出的字段" } "后重新提交。" }
            }
        }
        @if let Some(n) = &flash.notice { (error_box(n)) }
        @if let Some(d) = &flash.done { p.ok-box #saved role="status" { "「" (d) "」已保存。" } }
        @if flash.saved {
            p.ok-box #saved role="status" {
                "已保存。"
                @if !step_hints.is_empty() && step != "review" { "还有" (step_hints.len()) "处需要修改，见标红的字段。" }
            }
        }
        ol.steps { @for x in &steps { (x) } }
        div.card {
            h2 { (STEPS[idx].1) }
            (main_form)
            (uploads)
            (buttons)
        }
    };
    let title = if mode == Mode::Change { "变更备案" } else { "小程序备案" };
    layout(title, Some(sess), unread(s, sess).await, body).into_response()
}

/// Whether the wizard in `mode` is open in state `st`: a new application while not filed and
/// not under review; a change on a plainly filed record or to correct a rejected change.
fn mode_fits(mode: Mode, st: beian_core::state::FilingState) -> bool {
    use beian_core::state::{ChangeStage, FilingState as S};
    match mode {
        Mode::Filing => !st.in_progress() && !st.is_filed(),
        Mode::Change => matches!(
            st,
            S::Filed { canceling: false }
                | S::Changing { stage: ChangeStage::PlatformRejected | ChangeStage::AuthorityRejected }
        ),
    }
}

/// Upload forms of the materials and letter steps, with previews.
#[allow(clippy::too_many_arguments)]
fn uploads_for(
    step: &str,
    draft: &ApplyPayload,
    appid: &str,
    mode: Mode,
    sess: &Session,
    hints: &[Hint],
    rejected: &[(String, String)],
    refused: Option<&(String, String)>,
) -> Markup {
    let mut list: Vec<(String, &str, Option<u32>, String)> = Vec::new(); // (path, label, certificate_type, current)
    match step {
        "materials" => {
            let sp = &draft.icp_subject.principal_info;
            let ap = &draft.icp_applets.principal_info;
            if draft.icp_subject.base_info.subject_type != Some(5) {
                list.push((
                    "icp_subject.organize_info.certificate_photo".into(),
                    "主体证件照片（如营业执照）",
                    draft.icp_subject.organize_info.certificate_type,
                    draft.icp_subject.organize_info.certificate_photo.clone(),
                ));
                list.push((
                    "icp_subject.principal_info.authorization_letter".into(),
                    "主体负责人授权书（负责人不是法定代表人时）",
                    None,
                    sp.authorization_letter.clone(),
                ));
                list.push((
                    "icp_applets.principal_info.authorization_letter".into(),
                    "小程序负责人授权书（负责人不是法定代表人时）",
                    None,
                    ap.authorization_letter.clone(),
                ));
            } else {
                list.push((
                    "icp_subject.personal_info.residence_permit".into(),
                    "临时居住证明（身份证不是备案省份签发时）",
                    None,
                    draft.icp_subject.personal_info.residence_permit.clone(),
                ));
            }
            list.push((
                "icp_subject.principal_info.certificate_photo_front".into(),
                "主体负责人身份证人像面",
                sp.certificate_type,
                sp.certificate_photo_front.clone(),
            ));
            list.push((
                "icp_subject.principal_info.certificate_photo_back".into(),
                "主体负责人身份证国徽面",
                sp.certificate_type,
                sp.certificate_photo_back.clone(),
            ));
            if !ap.certificate_number.eq_ignore_ascii_case(&sp.certificate_number)
                || ap.certificate_number.is_empty()
            {
                list.push((
                    "icp_applets.principal_info.certificate_photo_front".into(),
                    "小程序负责人身份证人像面",
                    ap.certificate_type,
                    ap.certificate_photo_front.clone(),
                ));
                list.push((
                    "icp_applets.principal_info.certificate_photo_back".into(),
                    "小程序负责人身份证国徽面",
                    ap.certificate_type,
                    ap.certificate_photo_back.clone(),
                ));
            }
            for (i, d) in draft.icp_applets.base_info.nrlx_details.iter().enumerate() {
                if d.nrlx_type.is_some() && !d.code.is_empty() {
                    list.push((
                        format!("icp_applets.base_info.nrlx_details.{i}.media"),
                        "前置审批文件",
                        None,
                        d.media.clone(),
                    ));
                }
            }
        }
        "letter" => {
            list.push((
                "icp_materials.commitment_letter.0".into(),
                "已签字/盖章的承诺书（照片或扫描件）",
                None,
                draft.icp_materials.commitment_letter.first().cloned().unwrap_or_default(),
            ));
        }
        _ => return html! {},
    }
    // A refused upload is said at its field, first.
    let mut hints = hints.to_vec();
    if let Some((field, why)) = refused {
        let h = Hint {
            errcode: beian_core::errcode::INVALID_FILE_TYPE,
            errmsg: why.clone(),
            err_field: field.clone(),
        };
        hints.insert(0, h);
    }
    html! {
        @for (path, label, ct, current) in &list {
            @let control = html! {
                form method="post" enctype="multipart/form-data" action={ "/console/apps/" (appid) "/" (mode.base()) "/upload" } class="upload" {
                    (csrf_field(sess))
                    input type="hidden" name="field" value=(path);
                    input type="hidden" name="certificate_type" value=(ct.map(|c| c.to_string()).unwrap_or_default());
                    @if current.is_empty() {
                        small.muted { "未上传" }
                    } @else {
                        img.preview alt="已上传" src={ "/console/apps/" (appid) "/media/" (current) };
                    }
                    input type="file" name="media" accept="image/jpeg,image/png";
                    " "
                    button.secondary type="submit" { "上传" }
                }
            };
            (wrap(path, label, control, "JPG/PNG 彩色原件照片或扫描件，不超过5MB。", &field_state(path, &hints, rejected)))
        }
    }
}

/// POST: save a step's fields into the draft.
pub async fn save_step(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let mode = Mode::of(&uri);
    let base = mode.base();
    let sess = match guard(&s, &headers, &appid, mode).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form(&body);
    if let Err(r) = check_csrf(&sess, get(&f, "_csrf")) {
        return r;
    }
    let step = get(&f, "_step").to_string();
    let edit = |p: &mut ApplyPayload| -> Result<(), ServiceError> {
        for (k, val) in &f {
            if k.starts_with("icp_subject.") || k.starts_with("icp_applets.") {
                draft::set_field(p, k, val)?;
            }
        }
        if step == "applet" {
            let sct: Vec<&str> = f.iter().filter(|(k, _)| k == "sct").map(|(_, x)| x.as_str()).collect();
            draft::set_service_content_types(p, &sct)?;
            // Codes typed on this page went to the items' old places above; the chosen types
            // keep their items (with those codes), new types start empty.
            let nrlx: Vec<&str> = f.iter().filter(|(k, _)| k == "nrlx").map(|(_, x)| x.as_str()).collect();
            draft::set_nrlx_types(p, &nrlx)?;
        }
        if step == "principals" && get(&f, "same") == "1" {
            let task = std::mem::take(&mut p.icp_applets.principal_info.verify_task_id);
            p.icp_applets.principal_info = p.icp_subject.principal_info.clone();
            p.icp_applets.principal_info.verify_task_id = task;
        }
        Ok(())
    };
    let payload = match s.svc.filings().update_draft(&appid, edit).await {
        Ok(p) => p,
        Err(e) => return oops(Some(&sess), e),
    };
    // Stay on the step while it has problems; otherwise move on.
    // The draft is saved; if the rules cannot run now, stay on the step (its page then
    // shows the error) rather than move on as if it had none.
    let step_has_errors = match validate(&s, &appid, mode, &payload).await {
        Ok(hints) => hints.iter().any(|h| step_of(&h.err_field) == step),
        Err(_) => true,
    };
    let idx = STEPS.iter().position(|(k, _)| *k == step).unwrap_or(0);
    // Moving on opens the next step clean (its hints show after its own save); staying shows
    // 已保存 and this step's hints.
    if get(&f, "go") == "next" && !step_has_errors {
        let next = STEPS.get(idx + 1).map(|(k, _)| *k).unwrap_or("review");
        Redirect::to(&format!("/console/apps/{appid}/{base}?step={next}&done={}", STEPS[idx].0))
            .into_response()
    } else {
        Redirect::to(&format!("/console/apps/{appid}/{base}?step={}&saved=1", STEPS[idx].0)).into_response()
    }
}

/// POST (multipart): upload one material and put it into the draft.
pub async fn upload(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    req: Request,
) -> Response {
    // The whole body first (bounded by the route's limit): every answer, refusals included,
    // then comes after the request was read, so a client still sending is never cut off.
    let mode = Mode::of(req.uri());
    let base = mode.base();
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, crate::UPLOAD_BODY_LIMIT).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let req = Request::from_parts(parts, axum::body::Body::from(body));
    let sess = match guard(&s, &headers, &appid, mode).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mp = match Multipart::from_request(req, &s).await {
        Ok(m) => m,
        Err(_) => {
            return oops(
                Some(&sess),
                ServiceError::refused(beian_core::errcode::INVALID_INPUT, "上传请求格式不正确"),
            )
        }
    };
    let Ok(form) = crate::parse::upload_form(mp).await else {
        return Redirect::to(&format!(
            "/console/apps/{appid}/{base}?step=materials&saved=1&error={}",
            crate::auth::encode("文件过大：图片不能超过5MB")
        ))
        .into_response();
    };
    let crate::parse::UploadForm { csrf, field, certificate_type: ct, media: bytes } = form;
    if let Err(r) = check_csrf(&sess, &csrf) {
        return r;
    }
    let step = step_of(&field);
    // Only a field of the draft that holds a media_id (the upload's own check then says
    // whether this file suits it).
    if let Err(e) = draft::set_field(&mut ApplyPayload::default(), &field, "m") {
        return oops(Some(&sess), e.into());
    }
    let order_field = if field.starts_with("icp_applets.base_info.nrlx_details") {
        "icp_applets.base_info.nrlx_details".to_string()
    } else if let Some(rest) = field.strip_prefix("icp_materials.") {
        format!("icp_materials.{}", rest.split('.').next().unwrap_or(""))
    } else {
        field.clone()
    };
    let up = MediaUpload {
        media_type: "image".into(),
        certificate_type: ct.parse().ok(),
        icp_order_field: order_field,
        bytes,
    };
    match s.svc.filings().attach_media(&Actor::new("developer", &sess.account.id), &appid, &field, up).await {
        Ok(_) => Redirect::to(&format!("/console/apps/{appid}/{base}?step={step}&saved=1")).into_response(),
        // Said at the field that was refused; the step's other hints stay.
        Err(ServiceError::Refused { errmsg, .. }) => Redirect::to(&format!(
            "/console/apps/{appid}/{base}?step={step}&saved=1&field={}&error={}",
            crate::auth::encode(&field),
            crate::auth::encode(&format!("上传未成功：{errmsg}"))
        ))
        .into_response(),
        Err(e) => oops(Some(&sess), e),
    }
}

/// GET: an uploaded file, for previews (members who may view only).
pub async fn media(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((appid, media_id)): Path<(String, String)>,
) -> Response {
    let Ok(sess) = require(&s, &headers, "/console").await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if s.svc.accounts().require(&sess.account, &appid, Access::Can(Permission::View)).await.is_err() {
        return StatusCode::FORBIDDEN.into_response();
    }
    match s.svc.materials().get_media(&appid, &media_id).await {
        Ok((meta, bytes)) => ([(header::CONTENT_TYPE, meta.content_type)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// POST: create the face task for the admin and keep its id in the draft.
pub async fn start_face(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let mode = Mode::of(&uri);
    let sess = match guard(&s, &headers, &appid, mode).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = check_csrf(&sess, get(&form(&body), "_csrf")) {
        return r;
    }
    match s.svc.materials().create_face_task(&Actor::new("developer", &sess.account.id), &appid).await {
        Ok(task) => {
            let id = task.task_id;
            let saved = s
                .svc
                .filings()
                .update_draft(&appid, |p| {
                    p.icp_applets.principal_info.verify_task_id = id.clone();
                    Ok(())
                })
                .await;
            if let Err(e) = saved {
                return oops(Some(&sess), e);
            }
            Redirect::to(&format!("/console/apps/{appid}/{}?step=face", mode.base())).into_response()
        }
        Err(e) => oops(Some(&sess), e),
    }
}

/// POST: submit the draft (a change: to `apply_change`). Hints come back on the review step,
/// each linking to its step; what a change may not do is said at the field it concerns.
pub async fn submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let mode = Mode::of(&uri);
    let sess = match guard(&s, &headers, &appid, mode).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form(&body);
    if let Err(r) = check_csrf(&sess, get(&f, "_csrf")) {
        return r;
    }
    let review = |notice: &str| Flash { checked: true, notice: Some(notice.to_string()), ..Flash::default() };
    if get(&f, "agree") != "1" {
        return render(
            &s,
            &sess,
            &appid,
            mode,
            "review",
            review("请先勾选确认信息真实并同意承诺书的内容"),
            None,
        )
        .await;
    }
    let draft = match load_draft(&s, &appid).await {
        Ok(d) => d,
        Err(e) => return oops(Some(&sess), e),
    };
    let actor = Actor::new("developer", &sess.account.id);
    let done = match mode {
        Mode::Filing => s.svc.filings().apply(&actor, &appid, draft.clone()).await,
        Mode::Change => s.svc.filings().apply_change(&actor, &appid, draft.clone()).await,
    };
    match done {
        Ok(_) => {
            // Submitted; a draft left behind only pre-fills the next visit of the wizard.
            if let Err(e) = s.svc.filings().discard_draft(&appid).await {
                tracing::warn!(appid, "submitted, but the draft was not discarded: {e}");
            }
            let said = if mode == Mode::Change { "change" } else { "1" };
            Redirect::to(&format!("/console/apps/{appid}?submitted={said}")).into_response()
        }
        Err(ServiceError::Hints(h)) => {
            let flash = Flash { checked: true, ..Flash::default() };
            render(&s, &sess, &appid, mode, "review", flash, Some(h)).await
        }
        Err(ServiceError::Refused { errcode, errmsg })
            if errcode == beian_core::errcode::CHANGE_NOT_ALLOWED =>
        {
            // Said at the field the change may not touch, on its step.
            let field = match s.svc.filings().online_order(&appid).await {
                Ok(filed) => refused_change_field(&draft, &filed),
                Err(e) => return oops(Some(&sess), e),
            };
            let hint = Hint { errcode, errmsg: errmsg.clone(), err_field: field.to_string() };
            let flash = Flash { checked: true, notice: Some(errmsg), ..Flash::default() };
            render(&s, &sess, &appid, mode, step_of(field), flash, Some(vec![hint])).await
        }
        Err(ServiceError::Refused { errmsg, .. }) => {
            render(&s, &sess, &appid, mode, "review", review(&errmsg), None).await
        }
        Err(e) => oops(Some(&sess), e),
    }
}

/// The field a refused change (86907) touched that a change may not: the subject's nature,
/// its certificate, or its province (in the order the core checks them).
fn refused_change_field(draft: &ApplyPayload, filed: &ApplyPayload) -> &'static str {
    let (new, old) = (&draft.icp_subject, &filed.icp_subject);
    if new.base_info.subject_type != old.base_info.subject_type {
        "icp_subject.base_info.type"
    } else if new.organize_info.certificate_type != old.organize_info.certificate_type {
        "icp_subject.organize_info.certificate_type"
    } else if !new
        .organize_info
        .certificate_number
        .trim()
        .eq_ignore_ascii_case(old.organize_info.certificate_number.trim())
    {
        "icp_subject.organize_info.certificate_number"
    } else {
        "icp_subject.base_info.province"
    }
}

/// What the change alters, as the review step shows it: every field of the draft that differs
/// from the filed record (the face verification aside: a change always verifies anew).
async fn change_diff(
    s: &AppState,
    appid: &str,
    draft: &ApplyPayload,
) -> Result<Vec<application::Change>, ServiceError> {
    let dict = s.svc.dictionaries();
    let mut filed = s.svc.filings().online_order(appid).await?;
    filed.icp_subject.base_info.record_number.clear();
    filed.icp_applets.base_info.record_number.clear();
    let mut draft = draft.clone();
    draft.icp_subject.base_info.record_number.clear();
    draft.icp_applets.base_info.record_number.clear();
    let d = application::diff(&application::sections(&filed, &dict), &application::sections(&draft, &dict));
    Ok(d.into_iter().filter(|c| !c.path.ends_with("verify_task_id")).collect())
}

/// GET: the commitment letter, pre-filled from the draft and dated today.
pub async fn letter(State(s): State<AppState>, headers: HeaderMap, Path(appid): Path<String>) -> Response {
    let sess = match guard(&s, &headers, &appid, Mode::Filing).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let draft = match load_draft(&s, &appid).await {
        Ok(d) => d,
        Err(e) => return oops(Some(&sess), e),
    };
    let dict = s.svc.dictionaries();
    let mp = Some(or_page!(s.svc.mini_programs().mini_program(&appid).await, &sess));
    let b = &draft.icp_subject.base_info;
    let data = beian_letter::LetterData {
        subject_name: b.name.clone(),
        subject_type: b
            .subject_type
            .and_then(|t| dict.subject_type(t))
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        applet_name: mp.map(|m| m.name).unwrap_or_default(),
        appid: appid.clone(),
        principal_name: draft.icp_subject.principal_info.name.clone(),
        province: b
            .province
            .parse()
            .ok()
            .and_then(|c| dict.region_at(1, c))
            .map(|r| r.name.to_string())
            .unwrap_or_default(),
        date: beian_core::time::beijing_date(s.svc.now()),
    };
    pdf(beian_letter::commitment_letter(&data), "commitment-letter.pdf", Some(&sess))
}

pub async fn letter_template() -> Response {
    pdf(beian_letter::blank_template(), "commitment-letter-template.pdf", None)
}

fn pdf(r: Result<Vec<u8>, beian_letter::LetterError>, name: &str, sess: Option<&Session>) -> Response {
    match r {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (header::CONTENT_DISPOSITION, format!("inline; filename=\"{name}\"")),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => oops(sess, ServiceError::Internal(format!("letter: {e}"))),
    }
}

/// GET `/console/districts?parent=CODE`: the cities or districts under a code (JSON), for the
/// cascading selects.
pub async fn districts(State(s): State<AppState>, RawQuery(query): RawQuery) -> Json<Value> {
    let parent: u32 = q(&query, "parent").and_then(|p| p.parse().ok()).unwrap_or(0);
    let dict = s.svc.dictionaries();
    let list: Vec<Value> = dict
        .districts()
        .iter()
        .find(|p| p.code == parent)
        .map(|p| p.sub_list.iter().map(|c| json!({ "code": c.code, "name": c.name })).collect())
        .or_else(|| {
            dict.districts()
                .iter()
                .flat_map(|p| p.sub_list.iter())
                .find(|c| c.code == parent)
                .map(|c| c.sub_list.iter().map(|d| json!({ "code": d.code, "name": d.name })).collect())
        })
        .unwrap_or_default();
    Json(Value::Array(list))
}
