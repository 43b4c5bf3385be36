//! The rules engine for applyIcpFiling: every reason an application is refused, in one place.
//!
//! [`check_apply`] is pure. The service layer gathers an [`ApplyContext`] (the mini program,
//! the media and face task the payload names, the subject as stored, today's quota use) and
//! the engine answers either a refusal of the whole request (entrance closed, quota spent)
//! or field hints (`86202` + `hints[]`), each with a dotted `err_field` path and a Chinese
//! message that says what to fix.
//!
//! Regional rules and pre-approvals by service content type are not code here: they are
//! rows of the rule table (`rule_table::RuleTable`, in the context), each evaluated by
//! [`Checker::table_rows`] and the validity and residence checks, each failing row yielding
//! its own hint text at its field.

use crate::dict::Dictionaries;
use crate::errcode;
use crate::ident::{self, IdFormat, ResidentId, ValidityEnd};
use crate::model::{FaceStatus, FaceTask, MediaMeta, MediaType, MiniProgram, Subject};
use crate::payload::{ApplyPayload, PrincipalInfo, INVALID_NUMBER};
use crate::policy::Policy;
use crate::rule_table::{Requirement, RuleRow, RuleTable};
use crate::time::beijing_date;
use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// One field-level problem, exactly as WeChat's `hints[]` items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hint {
    pub errcode: i64,
    pub errmsg: String,
    pub err_field: String,
}

/// Why an application is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The whole request is refused (entrance closed, quota exhausted …).
    Request { errcode: i64, errmsg: String },
    /// Field problems: answered as `86202` with these hints.
    Hints(Vec<Hint>),
}

/// Everything outside the payload the rules need. Built by the service layer.
pub struct ApplyContext<'a> {
    pub now: DateTime<Utc>,
    pub dict: &'a Dictionaries,
    pub policy: &'a Policy,
    pub mini_program: &'a MiniProgram,
    /// The media the payload references that exist (any appid); missing ids are absent.
    pub media: &'a HashMap<String, MediaMeta>,
    /// The face task named by `icp_applets.principal_info.verify_task_id`, if it exists.
    pub face_task: Option<&'a FaceTask>,
    /// The stored subject with the same certificate type + number, if any.
    pub subject: Option<&'a Subject>,
    /// Applications accepted in the current quota day.
    pub applies_today: u32,
    /// The regional rules and pre-approvals (the table's current version).
    pub rules: &'a RuleTable,
}

/// Run every rule. `Ok(())` means the application may be accepted.
pub fn check_apply(p: &ApplyPayload, ctx: &ApplyContext<'_>) -> Result<(), Refusal> {
    let entrance = ctx.policy.entrance(ctx.mini_program, ctx.now);
    if let Some((code, msg)) = entrance.closed {
        return Err(Refusal::Request { errcode: code, errmsg: msg });
    }
    if ctx.applies_today >= ctx.policy.daily_apply_quota {
        return Err(Refusal::Request {
            errcode: errcode::DAILY_QUOTA,
            errmsg: format!(
                "今日备案申请提交次数已达上限，请于次日{:02}:00后再提交",
                ctx.policy.quota_reset_hour
            ),
        });
    }
    let mut c = Checker {
        ctx,
        hints: Vec::new(),
        today: beijing_date(ctx.now),
        province: p.icp_subject.base_info.province.clone(),
        personal: {
            let id = ctx.dict.personal_subject_type_id();
            id.is_some() && p.icp_subject.base_info.subject_type == id
        },
    };
    c.subject(p);
    c.applets(p);
    c.materials(p);
    c.table_rows(p);
    c.media(p);
    if c.hints.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Hints(c.hints))
    }
}

/// Chinese names of the fields hints talk about.
pub fn label(field: &str) -> &'static str {
    let leaf = field.rsplit('.').next().unwrap_or(field);
    let subject_principal = field.starts_with("icp_subject.principal_info");
    let applet_principal = field.starts_with("icp_applets.principal_info");
    let who = if subject_principal {
        "主体负责人"
    } else if applet_principal {
        "小程序负责人"
    } else {
        ""
    };
    match (who, leaf) {
        ("主体负责人", "name") => "主体负责人姓名",
        ("小程序负责人", "name") => "小程序负责人姓名",
        ("主体负责人", "mobile") => "主体负责人手机号码",
        ("小程序负责人", "mobile") => "小程序负责人手机号码",
        ("主体负责人", "email") => "主体负责人电子邮箱",
        ("小程序负责人", "email") => "小程序负责人电子邮箱",
        ("主体负责人", "emergency_contact") => "主体负责人应急联系电话",
        ("小程序负责人", "emergency_contact") => "小程序负责人应急联系电话",
        ("主体负责人", "certificate_type") => "主体负责人证件类型",
        ("小程序负责人", "certificate_type") => "小程序负责人证件类型",
        ("主体负责人", "certificate_number") => "主体负责人证件号码",
        ("小程序负责人", "certificate_number") => "小程序负责人证件号码",
        ("主体负责人", "certificate_validity_date_start") => "主体负责人证件有效期开始日期",
        ("小程序负责人", "certificate_validity_date_start") => "小程序负责人证件有效期开始日期",
        ("主体负责人", "certificate_validity_date_end") => "主体负责人证件有效期结束日期",
        ("小程序负责人", "certificate_validity_date_end") => "小程序负责人证件有效期结束日期",
        ("主体负责人", "certificate_photo_front") => "主体负责人证件正面照片",
        ("小程序负责人", "certificate_photo_front") => "小程序负责人证件正面照片",
        ("主体负责人", "certificate_photo_back") => "主体负责人证件反面照片",
        ("小程序负责人", "certificate_photo_back") => "小程序负责人证件反面照片",
        ("主体负责人", "authorization_letter") => "主体负责人授权书",
        ("小程序负责人", "authorization_letter") => "小程序负责人授权书",
        ("小程序负责人", "verify_task_id") => "小程序负责人人脸核身任务",
        _ => match field {
            "icp_subject.base_info.type" => "主体性质",
            "icp_subject.base_info.name" => "主办单位名称",
            "icp_subject.base_info.province" => "主体所在省份",
            "icp_subject.base_info.city" => "主体所在城市",
            "icp_subject.base_info.district" => "主体所在区县",
            "icp_subject.base_info.address" => "通讯地址",
            "icp_subject.base_info.comment" => "主体备注",
            "icp_subject.personal_info.residence_permit" => "临时居住证明",
            "icp_subject.organize_info.certificate_type" => "主体证件类型",
            "icp_subject.organize_info.certificate_number" => "主体证件号码",
            "icp_subject.organize_info.certificate_address" => "主体证件住所",
            "icp_subject.organize_info.certificate_photo" => "主体证件照片",
            "icp_subject.legal_person_info.name" => "法定代表人姓名",
            "icp_subject.legal_person_info.certificate_number" => "法定代表人证件号码",
            "icp_applets.base_info.service_content_types" => "小程序服务内容类型",
            "icp_applets.base_info.nrlx_details" => "前置审批项",
            "icp_applets.base_info.comment" => "小程序备注",
            _ if field.starts_with("icp_applets.base_info.nrlx_details") => match leaf {
                "type" => "前置审批类型",
                "code" => "前置审批号",
                "media" => "前置审批材料",
                _ => "前置审批项",
            },
            _ => "该字段",
        },
    }
}

/// What to say about an empty field: an upload is uploaded, a choice chosen, the face
/// verification done; the rest is filled in.
fn missing(field: &str) -> String {
    let leaf = field.rsplit('.').next().unwrap_or(field);
    let upload = leaf.contains("photo")
        || leaf.ends_with("letter")
        || leaf == "residence_permit"
        || leaf == "media"
        || field.starts_with("icp_materials.");
    if upload {
        format!("请上传{}", label(field))
    } else if matches!(leaf, "province" | "city" | "district") {
        format!("请选择{}", label(field))
    } else if leaf == "verify_task_id" {
        "请由小程序管理员完成人脸核身".to_string()
    } else {
        format!("请填写{}", label(field))
    }
}

struct Checker<'c, 'a> {
    ctx: &'c ApplyContext<'a>,
    hints: Vec<Hint>,
    today: NaiveDate,
    /// The filing province code, for province-specific rules.
    province: String,
    /// Whether the subject is an individual (个人).
    personal: bool,
}

impl Checker<'_, '_> {
    fn hint(&mut self, code: i64, field: impl Into<String>, msg: impl Into<String>) {
        self.hints.push(Hint { errcode: code, errmsg: msg.into(), err_field: field.into() });
    }

    fn has_hint_at(&self, field: &str) -> bool {
        self.hints.iter().any(|h| h.err_field == field)
    }

    /// Required string: returns the value when present and sane.
    fn required<'v>(&mut self, field: &str, value: &'v str) -> Option<&'v str> {
        if value.is_empty() {
            self.hint(errcode::FIELD_REQUIRED, field, missing(field));
            None
        } else if value.starts_with('\u{0}') {
            self.hint(errcode::FIELD_FORMAT, field, format!("{}应为字符串", label(field)));
            None
        } else {
            Some(value)
        }
    }

    fn required_number(&mut self, field: &str, value: Option<u32>) -> Option<u32> {
        match value {
            None => {
                self.hint(errcode::FIELD_REQUIRED, field, format!("请选择{}", label(field)));
                None
            }
            Some(INVALID_NUMBER) => {
                self.hint(errcode::FIELD_FORMAT, field, format!("{}应为数字编号", label(field)));
                None
            }
            Some(v) => Some(v),
        }
    }

    fn max_chars(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.hint(
                errcode::FIELD_LENGTH,
                field,
                format!("{}不能超过{}个字，请精简后再提交", label(field), max),
            );
        }
    }

    fn is_personal(&self, p: &ApplyPayload) -> bool {
        let personal = self.ctx.dict.personal_subject_type_id();
        personal.is_some() && p.icp_subject.base_info.subject_type == personal
    }

    // ---- icp_subject ---------------------------------------------------------------------

    fn subject(&mut self, p: &ApplyPayload) {
        let s = &p.icp_subject;
        let dict = self.ctx.dict;
        let personal = self.is_personal(p);

        let subject_type = self.required_number("icp_subject.base_info.type", s.base_info.subject_type);
        if let Some(t) = subject_type {
            if dict.subject_type(t).is_none() {
                self.hint(
                    errcode::FIELD_DICT,
                    "icp_subject.base_info.type",
                    format!("主体性质{t}不存在，请从“单位性质”列表中选择"),
                );
            }
        }
        if let Some(name) = self.required("icp_subject.base_info.name", &s.base_info.name) {
            self.max_chars("icp_subject.base_info.name", name, 100);
        }
        self.region(p);
        self.max_chars("icp_subject.base_info.comment", &s.base_info.comment, 200);

        // organize_info: the subject's certificate.
        let o = &s.organize_info;
        let cert_type =
            self.required_number("icp_subject.organize_info.certificate_type", o.certificate_type);
        if let (Some(ct), Some(st)) = (cert_type, subject_type) {
            match dict.certificate_type(ct) {
                None => self.hint(
                    errcode::FIELD_DICT,
                    "icp_subject.organize_info.certificate_type",
                    format!("证件类型{ct}不存在，请从“证件类型”列表中选择"),
                ),
                Some(c) if c.subject_type != st => {
                    let st_name = dict.subject_type(st).map(|x| x.name.as_str()).unwrap_or("所选主体性质");
                    self.hint(
                        errcode::FIELD_RELATION,
                        "icp_subject.organize_info.certificate_type",
                        format!(
                            "证件类型“{}”不属于主体性质“{}”，请选择该主体性质对应的证件类型",
                            c.name, st_name
                        ),
                    )
                }
                Some(_) => {}
            }
        }
        if let Some(num) =
            self.required("icp_subject.organize_info.certificate_number", &o.certificate_number)
        {
            self.certificate_number("icp_subject.organize_info.certificate_number", cert_type, num);
        }
        if let Some(addr) =
            self.required("icp_subject.organize_info.certificate_address", &o.certificate_address)
        {
            self.max_chars("icp_subject.organize_info.certificate_address", addr, 200);
        }
        if !personal {
            self.required("icp_subject.organize_info.certificate_photo", &o.certificate_photo);
        }

        self.principal("icp_subject.principal_info", &s.principal_info, false);

        if personal {
            // A person files as themselves: the subject is its principal.
            let pi = &s.principal_info;
            if !o.certificate_number.is_empty()
                && !pi.certificate_number.is_empty()
                && !o.certificate_number.eq_ignore_ascii_case(&pi.certificate_number)
            {
                self.hint(
                    errcode::FIELD_RELATION,
                    "icp_subject.organize_info.certificate_number",
                    "个人主体的证件号码应与主体负责人证件号码一致",
                );
            }
            if !s.base_info.name.is_empty() && !pi.name.is_empty() && s.base_info.name != pi.name {
                self.hint(
                    errcode::FIELD_RELATION,
                    "icp_subject.base_info.name",
                    "个人主体的主办单位名称应填写负责人本人姓名",
                );
            }
        } else {
            self.legal_person(p);
        }
        self.subject_limits(p);
    }

    fn region(&mut self, p: &ApplyPayload) {
        let b = &p.icp_subject.base_info;
        let dict = self.ctx.dict;
        let parse = |s: &str| s.parse::<u32>().ok();
        let prov = self.required("icp_subject.base_info.province", &b.province).map(str::to_string);
        let city = self.required("icp_subject.base_info.city", &b.city).map(str::to_string);
        let dist = self.required("icp_subject.base_info.district", &b.district).map(str::to_string);
        let mut names: Vec<(String, bool)> = Vec::new();
        let prov_ok = match prov.as_deref().and_then(parse).and_then(|c| dict.region_at(1, c)) {
            Some(r) => {
                names.push((r.name.to_string(), true));
                Some(r.code)
            }
            _ => {
                if prov.is_some() {
                    self.hint(
                        errcode::FIELD_DICT,
                        "icp_subject.base_info.province",
                        "省份编码不存在，请从“区域信息”中选择省份（如 440000）",
                    );
                }
                None
            }
        };
        let city_ok = match city.as_deref().and_then(parse).and_then(|c| dict.region_at(2, c)) {
            Some(r) => {
                if prov_ok.is_some() && r.parent != prov_ok {
                    self.hint(
                        errcode::FIELD_RELATION,
                        "icp_subject.base_info.city",
                        format!("城市“{}”不属于所选省份，请重新选择", r.name),
                    );
                }
                names.push((r.name.to_string(), true));
                Some(r.code)
            }
            _ => {
                if city.is_some() {
                    self.hint(
                        errcode::FIELD_DICT,
                        "icp_subject.base_info.city",
                        "城市编码不存在，请从“区域信息”中选择城市（如 440300）",
                    );
                }
                None
            }
        };
        match dist.as_deref().and_then(parse).and_then(|c| dict.region_at(3, c)) {
            Some(r) => {
                if city_ok.is_some() && r.parent != city_ok {
                    self.hint(
                        errcode::FIELD_RELATION,
                        "icp_subject.base_info.district",
                        format!("区县“{}”不属于所选城市，请重新选择", r.name),
                    );
                }
                names.push((r.name.to_string(), false));
            }
            _ => {
                if dist.is_some() {
                    self.hint(
                        errcode::FIELD_DICT,
                        "icp_subject.base_info.district",
                        "区县编码不存在，请从“区域信息”中选择区县（如 440305）；开发区请选择实际所属的行政区",
                    );
                }
            }
        }
        if let Some(addr) = self.required("icp_subject.base_info.address", &b.address) {
            self.max_chars("icp_subject.base_info.address", addr, 100);
            // Province and city also in short form ("广东", "深圳"); districts only in full,
            // because a short district name starts real road names ("南山大道", "朝阳路").
            let repeated = names.iter().find(|(n, allow_short)| {
                let short = n.trim_end_matches(['省', '市', '区', '县']);
                n.as_str() != "市辖区"
                    && (addr.starts_with(n.as_str())
                        || (*allow_short && short.chars().count() >= 2 && addr.starts_with(short)))
            });
            let repeated = repeated.map(|(n, _)| n);
            if let Some(n) = repeated {
                self.hint(
                    errcode::ADDRESS_REPEATS_REGION,
                    "icp_subject.base_info.address",
                    format!("通讯地址请从街道门牌开始填写，不要重复填写“{n}”等省市区名称"),
                );
            }
        }
    }

    /// Certificate number check by the certificate's format (`ident::IdFormat`, from the
    /// certificate type's name). Returns the checked number when it passes.
    fn certificate_number(
        &mut self,
        field: &str,
        cert_type: Option<u32>,
        num: &str,
    ) -> Option<ident::CheckedNumber> {
        let format = cert_type
            .and_then(|t| self.ctx.dict.certificate_type(t))
            .map_or(IdFormat::Other, |c| IdFormat::of_certificate_name(&c.name));
        match ident::check_certificate_number(format, num, self.today) {
            Ok(n) => Some(n),
            Err(e) => {
                self.hint(errcode::FIELD_FORMAT, field, format!("{}：{e}", label(field)));
                None
            }
        }
    }

    fn principal(&mut self, prefix: &str, pi: &PrincipalInfo, needs_face: bool) {
        let f = |leaf: &str| format!("{prefix}.{leaf}");
        let dict = self.ctx.dict;
        if let Some(name) = self.required(&f("name"), &pi.name) {
            self.max_chars(&f("name"), name, 50);
        }
        let mobile = self.required(&f("mobile"), &pi.mobile);
        if let Some(m) = mobile {
            if !ident::is_mobile(m) {
                self.hint(
                    errcode::FIELD_FORMAT,
                    f("mobile"),
                    format!("{}应为11位中国大陆手机号码，如 13800000000", label(&f("mobile"))),
                );
            }
        }
        if let Some(e) = self.required(&f("email"), &pi.email) {
            if !ident::is_email(e) {
                self.hint(
                    errcode::FIELD_FORMAT,
                    f("email"),
                    format!("{}格式不正确，如 name@example.com", label(&f("email"))),
                );
            }
        }
        if let Some(ec) = self.required(&f("emergency_contact"), &pi.emergency_contact) {
            let phone_like =
                (7..=20).contains(&ec.len()) && ec.chars().all(|c| c.is_ascii_digit() || c == '-');
            if !phone_like {
                self.hint(
                    errcode::FIELD_FORMAT,
                    f("emergency_contact"),
                    "应急联系电话应为手机号码或带区号的固定电话，如 13900000000 或 010-12345678",
                );
            } else if Some(ec) == mobile {
                self.hint(
                    errcode::FIELD_RELATION,
                    f("emergency_contact"),
                    "应急联系电话不能与手机号码相同，请填写另一个可联系的号码",
                );
            }
        }
        let cert_type = self.required_number(&f("certificate_type"), pi.certificate_type);
        if let Some(ct) = cert_type {
            match dict.certificate_type(ct) {
                None => self.hint(
                    errcode::FIELD_DICT,
                    f("certificate_type"),
                    format!("证件类型{ct}不存在，请从“证件类型”列表中选择"),
                ),
                Some(c) if Some(c.subject_type) != dict.personal_subject_type_id() => self.hint(
                    errcode::FIELD_RELATION,
                    f("certificate_type"),
                    format!("负责人须使用个人证件（如居民身份证），“{}”不是个人证件类型", c.name),
                ),
                Some(_) => {}
            }
        }
        if let Some(num) = self.required(&f("certificate_number"), &pi.certificate_number) {
            let checked = self.certificate_number(&f("certificate_number"), cert_type, num);
            // A principal is a person of full age (ident::PRINCIPAL_MIN_AGE ..= MAX_AGE).
            if let Some(birth) = checked.and_then(|n| n.birth_date) {
                if let Err(e) = ident::check_principal_age(birth, self.today) {
                    self.hint(
                        errcode::FIELD_FORMAT,
                        f("certificate_number"),
                        format!("{}：{e}", label(&f("certificate_number"))),
                    );
                }
            }
        }
        self.validity(prefix, pi);
        self.required(&f("certificate_photo_front"), &pi.certificate_photo_front);
        self.required(&f("certificate_photo_back"), &pi.certificate_photo_back);
        if needs_face {
            self.face(prefix, pi);
        }
    }

    fn validity(&mut self, prefix: &str, pi: &PrincipalInfo) {
        let fs = format!("{prefix}.certificate_validity_date_start");
        let fe = format!("{prefix}.certificate_validity_date_end");
        let start = self.required(&fs, &pi.certificate_validity_date_start).and_then(|s| {
            let d = ident::parse_yyyymmdd(s);
            if d.is_none() {
                self.hint(
                    errcode::FIELD_FORMAT,
                    fs.as_str(),
                    format!("{}应为8位日期，如 20200101", label(&fs)),
                );
            }
            d
        });
        if let Some(d) = start {
            if d > self.today {
                self.hint(errcode::FIELD_FORMAT, fs.as_str(), format!("{}不能晚于今天", label(&fs)));
            }
        }
        let end = self.required(&fe, &pi.certificate_validity_date_end).and_then(|s| {
            let d = ident::parse_validity_end(s);
            if d.is_none() {
                self.hint(
                    errcode::FIELD_FORMAT,
                    fe.as_str(),
                    format!("{}应为8位日期（如 20350101）或“长期”", label(&fe)),
                );
            }
            d
        });
        if let Some(ValidityEnd::Date(end)) = end {
            if start.is_some_and(|s| end <= s) {
                self.hint(errcode::FIELD_FORMAT, fe.as_str(), "证件有效期结束日期应晚于开始日期");
                return;
            }
            let rows = self.ctx.rules.applicable(&self.province, self.personal);
            for row in rows {
                let Requirement::ValidityMonths { months } = row.require else { continue };
                let min_end = self.today.checked_add_months(Months::new(months)).unwrap_or(self.today);
                if end < min_end {
                    let msg = fill(
                        &row.hint,
                        &[
                            ("{months}", months.to_string()),
                            ("{date}", min_end.format("%Y年%m月%d日").to_string()),
                        ],
                    );
                    self.hint(errcode::CERT_VALIDITY, fe.as_str(), msg);
                }
            }
        }
    }
}

impl Checker<'_, '_> {
    fn face(&mut self, prefix: &str, pi: &PrincipalInfo) {
        let field = format!("{prefix}.verify_task_id");
        let Some(task_id) = self.required(&field, &pi.verify_task_id) else { return };
        let msg = match self.ctx.face_task {
            None => {
                Some("人脸核身任务不存在，请先发起小程序管理员人脸核身（create_icp_verifytask）".to_string())
            }
            Some(t) if t.task_id != task_id || t.appid != self.ctx.mini_program.appid => {
                Some("人脸核身任务不属于当前小程序，请为本小程序重新发起人脸核身".to_string())
            }
            Some(t) if t.expires_at <= self.ctx.now.timestamp() => {
                Some("人脸核身任务已过期（有效期3天），请重新发起人脸核身".to_string())
            }
            Some(t) if !t.is_finish => Some("小程序管理员尚未完成人脸核身，请管理员完成后再提交".to_string()),
            Some(t) if t.face_status != FaceStatus::Succeeded => {
                Some("人脸核身未通过，请管理员重新完成人脸核身后再提交".to_string())
            }
            Some(_) => None,
        };
        if let Some(m) = msg {
            self.hint(errcode::FACE_TASK_INVALID, field, m);
        }
    }

    /// The rule table's rows other than validity: local ID or residence proof for
    /// individuals, cross-city addresses, filings in progress, extra materials, pre-approvals.
    fn table_rows(&mut self, p: &ApplyPayload) {
        let personal = self.is_personal(p);
        let rows: Vec<&RuleRow> = self.ctx.rules.applicable(&self.province, personal);
        // A local-ID row makes a residence proof pointless: only its own hint is given.
        let local_id_required = rows.iter().any(|r| r.require == Requirement::LocalId);
        for row in rows {
            match &row.require {
                Requirement::ValidityMonths { .. } => {} // in `validity`, per principal
                Requirement::ResidenceProof if !local_id_required => self.residence(p, row),
                Requirement::ResidenceProof => {}
                Requirement::LocalId => {
                    if self.non_local_resident_id(p) {
                        self.hint(
                            errcode::RULE_TABLE,
                            "icp_subject.principal_info.certificate_number",
                            &row.hint,
                        );
                    }
                }
                Requirement::SameCity => self.same_city(p, row),
                Requirement::MaxInProgress { max } => {
                    let in_progress = self.ctx.subject.map_or(0, |s| s.in_progress);
                    if in_progress >= *max {
                        self.hint(
                            errcode::RULE_TABLE,
                            "icp_subject.organize_info.certificate_number",
                            fill(&row.hint, &[("{max}", max.to_string())]),
                        );
                    }
                }
                Requirement::Material { material, first_filing_only, service_content_types } => {
                    let first_filing = self.ctx.subject.is_none_or(|s| !s.ever_filed);
                    let chosen = &p.icp_applets.base_info.service_content_types;
                    let triggered = (!first_filing_only || first_filing)
                        && (service_content_types.is_empty()
                            || service_content_types.iter().any(|t| chosen.contains(t)));
                    let given = p
                        .icp_materials
                        .lists()
                        .iter()
                        .any(|(name, list, _)| *name == material.as_str() && !list.is_empty());
                    if triggered && !given {
                        self.hint(errcode::RULE_TABLE, format!("icp_materials.{material}"), &row.hint);
                    }
                }
                Requirement::PreApproval { service_content_types, nrlx_types } => {
                    let b = &p.icp_applets.base_info;
                    let triggered = service_content_types.iter().any(|t| b.service_content_types.contains(t));
                    let has =
                        b.nrlx_details.iter().any(|d| d.nrlx_type.is_some_and(|t| nrlx_types.contains(&t)));
                    if triggered && !has {
                        self.hint(errcode::RULE_TABLE, "icp_applets.base_info.nrlx_details", &row.hint);
                    }
                }
            }
        }
    }

    /// An individual whose subject principal's resident ID was issued outside the filing
    /// province (other certificates carry no province).
    fn non_local_resident_id(&self, p: &ApplyPayload) -> bool {
        let s = &p.icp_subject;
        let Ok(id) = ResidentId::parse(&s.principal_info.certificate_number) else { return false };
        !s.base_info.province.is_empty() && id.province_code() != s.base_info.province
    }

    /// 临时居住证明: an individual whose ID was issued outside the filing province.
    fn residence(&mut self, p: &ApplyPayload, row: &RuleRow) {
        if self.non_local_resident_id(p) && p.icp_subject.personal_info.residence_permit.is_empty() {
            self.hint(errcode::FIELD_REQUIRED, "icp_subject.personal_info.residence_permit", &row.hint);
        }
    }

    /// No cross-city filing: the certificate address names the filing city (or one of its
    /// districts); an address naming neither is refused with the row's hint.
    fn same_city(&mut self, p: &ApplyPayload, row: &RuleRow) {
        let b = &p.icp_subject.base_info;
        let addr = &p.icp_subject.organize_info.certificate_address;
        let dict = self.ctx.dict;
        let Some(city) = b.city.parse::<u32>().ok().and_then(|c| dict.region_at(crate::dict::LEVEL_CITY, c))
        else {
            return; // the city has its own hint
        };
        if addr.is_empty() {
            return; // required, hinted elsewhere
        }
        let short = |n: &str| {
            let s = n.strip_suffix("地区").unwrap_or(n).trim_end_matches(['市', '州', '盟']);
            if s.chars().count() >= 2 {
                s.to_string()
            } else {
                n.to_string()
            }
        };
        let names_city = city.name != "市辖区" && addr.contains(&short(city.name));
        let names_district = dict
            .districts()
            .iter()
            .flat_map(|prov| prov.sub_list.iter())
            .find(|c| c.code == city.code)
            .is_some_and(|c| {
                c.sub_list.iter().any(|d| d.name.chars().count() >= 3 && addr.contains(d.name.as_str()))
            });
        if !(names_city || names_district) {
            let msg = fill(&row.hint, &[("{city}", city.name.to_string())]);
            self.hint(errcode::RULE_TABLE, "icp_subject.organize_info.certificate_address", msg);
        }
    }

    /// The legal representative. Absent `legal_person_info` means the subject principal is
    /// the legal representative. A principal who is not must bring an authorization letter,
    /// and an authorization letter means `legal_person_info` must say who is.
    fn legal_person(&mut self, p: &ApplyPayload) {
        let s = &p.icp_subject;
        let l = &s.legal_person_info;
        let sp = &s.principal_info;
        if !sp.authorization_letter.is_empty() && l.is_empty() {
            self.hint(
                errcode::FIELD_REQUIRED,
                "icp_subject.legal_person_info.name",
                "主体负责人不是法定代表人时，请填写法定代表人姓名和证件号码",
            );
        }
        if !l.is_empty() {
            self.required("icp_subject.legal_person_info.name", &l.name);
            if let Some(n) =
                self.required("icp_subject.legal_person_info.certificate_number", &l.certificate_number)
            {
                if n.len() == 18 && n.chars().take(17).all(|c| c.is_ascii_digit()) {
                    if let Err(e) = ident::check_certificate_number(IdFormat::ResidentId, n, self.today) {
                        self.hint(
                            errcode::FIELD_FORMAT,
                            "icp_subject.legal_person_info.certificate_number",
                            format!("法定代表人证件号码：{e}"),
                        );
                    }
                }
            }
        }
        let legal_id =
            if l.certificate_number.is_empty() { &sp.certificate_number } else { &l.certificate_number };
        if !sp.certificate_number.is_empty()
            && !sp.certificate_number.eq_ignore_ascii_case(legal_id)
            && sp.authorization_letter.is_empty()
        {
            self.hint(
                errcode::FIELD_REQUIRED,
                "icp_subject.principal_info.authorization_letter",
                "主体负责人不是法定代表人，请上传法定代表人签字并加盖公章的授权书（落款日期为提交前1个月内）",
            );
        }
        let ap = &p.icp_applets.principal_info;
        if !ap.certificate_number.is_empty()
            && !legal_id.is_empty()
            && !ap.certificate_number.eq_ignore_ascii_case(legal_id)
            && ap.authorization_letter.is_empty()
        {
            self.hint(
                errcode::FIELD_REQUIRED,
                "icp_applets.principal_info.authorization_letter",
                "小程序负责人不是法定代表人，请上传法定代表人签字并加盖公章的授权书（落款日期为提交前1个月内）",
            );
        }
    }

    /// PRODUCT rule 5 and the per-subject caps.
    fn subject_limits(&mut self, p: &ApplyPayload) {
        let Some(subject) = self.ctx.subject else { return };
        let field = "icp_subject.organize_info.certificate_number";
        if !subject.ever_filed && subject.in_progress > 0 {
            self.hint(
                errcode::SUBJECT_IN_PROGRESS,
                field,
                "该主体已有备案申请处理中，请等待申请完成后，再行发起备案申请（主体首次备案完成后，其小程序可同时备案）",
            );
        }
        let cap = self.subject_cap(p);
        if subject.filed_count >= cap {
            self.hint(
                errcode::SUBJECT_CAP,
                field,
                format!("当前主体已超过小程序备案数量上限（{cap}个），如需备案新的小程序，请先注销不再运营的小程序备案"),
            );
        }
    }

    fn subject_cap(&self, p: &ApplyPayload) -> u32 {
        let policy = self.ctx.policy;
        if self.is_personal(p) {
            return policy.cap_personal;
        }
        // 个体工商户: a USCC whose registration authority is 9 (工商) and category 2.
        if p.icp_subject.organize_info.certificate_number.starts_with("92") {
            return policy.cap_individual_business;
        }
        policy.cap_organisation
    }

    // ---- icp_applets ---------------------------------------------------------------------

    fn applets(&mut self, p: &ApplyPayload) {
        let b = &p.icp_applets.base_info;
        let dict = self.ctx.dict;
        let f = "icp_applets.base_info.service_content_types";
        if b.service_content_types.is_empty() {
            self.hint(errcode::FIELD_REQUIRED, f, "请选择1至5个服务内容类型（二级类型）");
        } else if b.service_content_types.len() > 5 {
            self.hint(errcode::FIELD_LENGTH, f, "服务内容类型最多选择5个");
        }
        let mut seen = HashSet::new();
        for (i, t) in b.service_content_types.iter().enumerate() {
            let fi = format!("{f}.{i}");
            match dict.service_content_type(*t) {
                _ if !seen.insert(*t) => {
                    self.hint(errcode::FIELD_RELATION, fi, "服务内容类型重复，请删除重复项")
                }
                None => {
                    self.hint(errcode::FIELD_DICT, fi, "服务内容类型不存在，请从“服务内容类型”列表中选择")
                }
                Some(s) if s.parent_type == 0 => self.hint(
                    errcode::FIELD_DICT,
                    fi,
                    format!("“{}”是一级类型，请选择其下的二级服务内容类型", s.name),
                ),
                Some(_) => {}
            }
        }

        let f = "icp_applets.base_info.nrlx_details";
        let none_id = dict.nrlx_none_id();
        if b.nrlx_details.is_empty() {
            self.hint(errcode::FIELD_REQUIRED, f, "请填写前置审批项；如不涉及，请选择“以上都不涉及”");
        }
        let mut seen = HashSet::new();
        let has_none = b.nrlx_details.iter().any(|d| d.nrlx_type.is_some() && d.nrlx_type == none_id);
        for (i, d) in b.nrlx_details.iter().enumerate() {
            let fi = format!("{f}.{i}");
            let Some(t) = self.required_number(&format!("{fi}.type"), d.nrlx_type) else { continue };
            if dict.nrlx_type(t).is_none() {
                self.hint(
                    errcode::FIELD_DICT,
                    format!("{fi}.type"),
                    "前置审批类型不存在，请从“前置审批项类型”列表中选择",
                );
                continue;
            }
            if !seen.insert(t) {
                self.hint(errcode::FIELD_RELATION, format!("{fi}.type"), "前置审批类型重复，请删除重复项");
                continue;
            }
            if Some(t) == none_id {
                if b.nrlx_details.len() > 1 {
                    self.hint(
                        errcode::FIELD_RELATION,
                        format!("{fi}.type"),
                        "已选择“以上都不涉及”时不能再选择其他前置审批类型",
                    );
                }
            } else if !has_none {
                self.required(&format!("{fi}.code"), &d.code);
                self.required(&format!("{fi}.media"), &d.media);
            }
        }

        let f = "icp_applets.base_info.comment";
        if let Some(c) = self.required(f, &b.comment) {
            let n = c.chars().count();
            if !(20..=200).contains(&n) {
                self.hint(
                    errcode::FIELD_LENGTH,
                    f,
                    format!("小程序备注需20至200个字（当前{n}个字），请具体描述小程序实际提供的主要服务"),
                );
            }
        }

        self.principal("icp_applets.principal_info", &p.icp_applets.principal_info, true);
        if self.is_personal(p) {
            let (sp, ap) = (&p.icp_subject.principal_info, &p.icp_applets.principal_info);
            if !sp.certificate_number.is_empty()
                && !ap.certificate_number.is_empty()
                && !sp.certificate_number.eq_ignore_ascii_case(&ap.certificate_number)
            {
                self.hint(
                    errcode::FIELD_RELATION,
                    "icp_applets.principal_info.certificate_number",
                    "个人主体备案时，小程序负责人须为备案人本人，请填写与主体负责人相同的证件信息",
                );
            }
        }
        self.admin(p);
        self.shared_mobile(p);
    }

    /// PRODUCT rule 6: the mini-program principal is the administrator.
    fn admin(&mut self, p: &ApplyPayload) {
        let ap = &p.icp_applets.principal_info;
        let admin = &self.ctx.mini_program.admin;
        if ap.name.is_empty() || ap.certificate_number.is_empty() {
            return;
        }
        let same_id = ap.certificate_number.eq_ignore_ascii_case(&admin.id_number);
        if !same_id || ap.name != admin.name {
            let field = if same_id {
                "icp_applets.principal_info.name"
            } else {
                "icp_applets.principal_info.certificate_number"
            };
            self.hint(
                errcode::PRINCIPAL_NOT_ADMIN,
                field,
                "负责人与小程序管理员不一致：小程序负责人须为小程序管理员本人，请填写管理员的姓名和证件号码，或先变更小程序管理员",
            );
        }
    }

    /// Different people must not share a mobile number.
    fn shared_mobile(&mut self, p: &ApplyPayload) {
        let sp = &p.icp_subject.principal_info;
        let ap = &p.icp_applets.principal_info;
        // Only when both certificate numbers are known can we tell they are different people
        // (a missing number already has its own hint).
        if !sp.mobile.is_empty()
            && sp.mobile == ap.mobile
            && !sp.certificate_number.is_empty()
            && !ap.certificate_number.is_empty()
            && !sp.certificate_number.eq_ignore_ascii_case(&ap.certificate_number)
            && !self.has_hint_at("icp_applets.principal_info.mobile")
        {
            self.hint(
                errcode::FIELD_RELATION,
                "icp_applets.principal_info.mobile",
                "主体负责人与小程序负责人不是同一人时，不能使用相同的手机号码",
            );
        }
    }

    fn materials(&mut self, p: &ApplyPayload) {
        for (name, list, max) in p.icp_materials.lists() {
            if list.len() > max {
                self.hint(
                    errcode::FIELD_LENGTH,
                    format!("icp_materials.{name}"),
                    format!("该材料最多上传{max}个文件"),
                );
            }
        }
    }

    // ---- media ---------------------------------------------------------------------------

    fn media(&mut self, p: &ApplyPayload) {
        let appid = &self.ctx.mini_program.appid;
        for (field, id) in p.media_refs() {
            let msg = match self.ctx.media.get(id) {
                None => Some("media_id不合法：该材料不存在或已过期，请重新上传".to_string()),
                Some(m) if &m.appid != appid => {
                    Some("media_id不合法：该材料不是为本小程序上传的，请重新上传".to_string())
                }
                Some(m) => self.media_suits(p, &field, m),
            };
            if let Some(m) = msg {
                self.hint(errcode::MEDIA_ID_INVALID, field, m);
            }
        }
    }

    /// Whether an uploaded file may stand in this field: right kind (image/video), uploaded
    /// for a field of the same group, and with the certificate type the field needs.
    fn media_suits(&self, p: &ApplyPayload, field: &str, m: &MediaMeta) -> Option<String> {
        let want_video = field.starts_with("icp_materials.promise_video");
        match (want_video, m.media_type) {
            (true, MediaType::Image) => return Some("承诺视频须上传视频文件（type=video）".into()),
            (false, MediaType::Video) => return Some("该字段须上传图片（type=image）".into()),
            _ => {}
        }
        if field_group(field) != field_group(&m.icp_order_field) {
            return Some(format!(
                "该材料上传时的用途（icp_order_field={}）与此字段不符，请按此字段重新上传",
                m.icp_order_field
            ));
        }
        let expected = if field.starts_with("icp_subject.principal_info.certificate_photo") {
            p.icp_subject.principal_info.certificate_type
        } else if field.starts_with("icp_applets.principal_info.certificate_photo") {
            p.icp_applets.principal_info.certificate_type
        } else if field == "icp_subject.organize_info.certificate_photo" {
            p.icp_subject.organize_info.certificate_type
        } else {
            None
        };
        match (expected, m.certificate_type) {
            // INVALID_NUMBER: the certificate type itself already has a format hint.
            (Some(want), Some(got)) if want != got && want != INVALID_NUMBER => {
                Some(format!("上传该证件照片时的证件类型（{got}）与所填证件类型（{want}）不一致，请重新上传"))
            }
            _ => None,
        }
    }
}

/// A row's hint with its placeholders filled.
fn fill(hint: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(hint.to_string(), |s, (k, v)| s.replace(k, v))
}

/// Fields whose uploads are interchangeable: the same ID photo may serve both principals.
fn field_group(field: &str) -> &str {
    let f = field.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    if f.ends_with("certificate_photo_front")
        || f.ends_with("certificate_photo_back")
        || f == "icp_subject.organize_info.certificate_photo"
    {
        "certificate_photo"
    } else if f.ends_with("authorization_letter") {
        "authorization_letter"
    } else if f.starts_with("icp_applets.base_info.nrlx_details") {
        "nrlx"
    } else {
        f
    }
}

/// Every field path of an application that a person fills (for forms and highlighting).
pub const FIELDS: &[&str] = &[
    "icp_subject.base_info.type",
    "icp_subject.base_info.name",
    "icp_subject.base_info.province",
    "icp_subject.base_info.city",
    "icp_subject.base_info.district",
    "icp_subject.base_info.address",
    "icp_subject.base_info.comment",
    "icp_subject.personal_info.residence_permit",
    "icp_subject.organize_info.certificate_type",
    "icp_subject.organize_info.certificate_number",
    "icp_subject.organize_info.certificate_address",
    "icp_subject.organize_info.certificate_photo",
    "icp_subject.legal_person_info.name",
    "icp_subject.legal_person_info.certificate_number",
    "icp_subject.principal_info.name",
    "icp_subject.principal_info.mobile",
    "icp_subject.principal_info.email",
    "icp_subject.principal_info.emergency_contact",
    "icp_subject.principal_info.certificate_type",
    "icp_subject.principal_info.certificate_number",
    "icp_subject.principal_info.certificate_validity_date_start",
    "icp_subject.principal_info.certificate_validity_date_end",
    "icp_subject.principal_info.certificate_photo_front",
    "icp_subject.principal_info.certificate_photo_back",
    "icp_subject.principal_info.authorization_letter",
    "icp_applets.base_info.service_content_types",
    "icp_applets.base_info.nrlx_details",
    "icp_applets.base_info.comment",
    "icp_applets.principal_info.name",
    "icp_applets.principal_info.mobile",
    "icp_applets.principal_info.email",
    "icp_applets.principal_info.emergency_contact",
    "icp_applets.principal_info.certificate_type",
    "icp_applets.principal_info.certificate_number",
    "icp_applets.principal_info.certificate_validity_date_start",
    "icp_applets.principal_info.certificate_validity_date_end",
    "icp_applets.principal_info.certificate_photo_front",
    "icp_applets.principal_info.certificate_photo_back",
    "icp_applets.principal_info.authorization_letter",
    "icp_applets.principal_info.verify_task_id",
];

/// The fields a rejection reason's `key_name` (a Chinese field name, as in `audit_data`)
/// points at, so a form can highlight exactly them.
pub fn fields_for_key_name(key_name: &str) -> Vec<&'static str> {
    let key = key_name.trim();
    if key.is_empty() {
        return Vec::new();
    }
    FIELDS
        .iter()
        .copied()
        .filter(|f| {
            let l = label(f);
            l == key
                || l.contains(key)
                || l.replace("正面", "").replace("反面", "").contains(key)
                || key.contains(l)
        })
        .collect()
}
