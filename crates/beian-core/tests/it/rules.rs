//! The rules engine (`check_apply`) as data.
//!
//! Two fully valid applications — a personal one (个人, subject type 5) and an enterprise one
//! (企业, type 4, 营业执照 with a valid USCC) — and a context in which both pass. Every case is
//! `(name, base fixture, mutation of payload and/or context, expectation)`: the mutation
//! breaks (or exercises) exactly one rule and the expectation names the errcode and the exact
//! dotted `err_field` of every hint the engine must answer — no more, no less. Every hint
//! and every request refusal must carry a Chinese message.

use beian_core::dict::Dictionaries;
use beian_core::errcode as ec;
use beian_core::ident::resident_id_check_char;
use beian_core::model::{
    FaceStatus, FaceTask, MediaMeta, MediaType, MiniProgram, Person, Subject, FACE_TASK_TTL_SECS,
};
use beian_core::payload::{
    ApplyPayload, IcpApplets, IcpMaterials, IcpSubject, LegalPersonInfo, NrlxDetail, OrganizeInfo,
    PersonalInfo, PrincipalInfo, SubjectBaseInfo,
};
use beian_core::policy::Policy;
use beian_core::rule_table::RuleTable;
use beian_core::rules::{check_apply, ApplyContext, Refusal};
use beian_core::state::ReadinessFlags;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::json;
use std::collections::HashMap;

// ---- identity numbers with correct check characters ------------------------------------

/// A resident ID (GB 11643) from its 17 leading digits.
fn rid(body17: &str) -> String {
    let c = resident_id_check_char(body17).expect("17 digits");
    format!("{body17}{c}")
}

/// The same 17 digits with a wrong check character.
fn bad_rid(body17: &str) -> String {
    let good = resident_id_check_char(body17).expect("17 digits");
    format!("{body17}{}", if good == '0' { '1' } else { '0' })
}

const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [usize; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// The GB 32100 check character of 17 leading USCC characters.
fn uscc_check_char(body17: &str) -> char {
    assert_eq!(body17.chars().count(), 17, "USCC body must have 17 characters: {body17}");
    let sum: usize = body17
        .chars()
        .zip(USCC_WEIGHTS)
        .map(|(c, w)| USCC_ALPHABET.find(c).expect("USCC alphabet") * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    USCC_ALPHABET.chars().nth(check).expect("index below 31")
}

/// A USCC (GB 32100) from its 17 leading characters.
fn uscc(body17: &str) -> String {
    format!("{body17}{}", uscc_check_char(body17))
}

fn bad_uscc(body17: &str) -> String {
    let good = uscc_check_char(body17);
    format!("{body17}{}", if good == '0' { '1' } else { '0' })
}

/// 李四: the personal filer (Shenzhen ID), subject and mini-program principal and admin.
const LISI: &str = "44030519920101123";
/// 王五: the enterprise's subject principal and legal representative (Shenzhen ID).
const WANGWU: &str = "44030419800505321";
/// 赵六: the enterprise mini program's admin and principal (not the legal representative).
const ZHAOLIU: &str = "44030619850808456";
/// 钱七: another Shenzhen resident (a different legal representative, a different filer).
const QIANQI: &str = "44030319750101002";
/// 周九: a person with a Beijing ID (needs residence proof to file in Guangdong).
const ZHOUJIU: &str = "11010519900307001";
/// 企业 (registration authority 9, category 1).
const USCC_ENTERPRISE: &str = "91440300MA5G12345";
/// 个体工商户 (registration authority 9, category 2).
const USCC_INDIVIDUAL: &str = "92440300MA5G12345";

const APPID: &str = "wx1234567890abcdef";
const TASK_ID: &str = "R5PqRPNb6GmG3i0rqd4pTg";

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad test date {y}-{m}-{d}"))
}

/// 2026-03-02 10:00 in Beijing.
fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().expect("valid instant")
}

// ---- the context -----------------------------------------------------------------------

/// An owned [`ApplyContext`] that mutations may change.
struct World {
    now: DateTime<Utc>,
    dict: Dictionaries,
    policy: Policy,
    mp: MiniProgram,
    media: HashMap<String, MediaMeta>,
    face: Option<FaceTask>,
    subject: Option<Subject>,
    applies_today: u32,
    rules: RuleTable,
}

impl World {
    fn check(&self, p: &ApplyPayload) -> Result<(), Refusal> {
        let ctx = ApplyContext {
            now: self.now,
            dict: &self.dict,
            policy: &self.policy,
            mini_program: &self.mp,
            media: &self.media,
            face_task: self.face.as_ref(),
            subject: self.subject.as_ref(),
            applies_today: self.applies_today,
            rules: &self.rules,
        };
        check_apply(p, &ctx)
    }

    fn media_mut(&mut self, id: &str) -> &mut MediaMeta {
        self.media.get_mut(id).unwrap_or_else(|| panic!("media {id} is in the catalogue"))
    }

    fn face_mut(&mut self) -> &mut FaceTask {
        self.face.as_mut().expect("the fixture has a face task")
    }
}

/// Every upload the cases use: `(media_id, appid, type, icp_order_field, certificate_type)`.
/// The map given to the engine is this whole catalogue, so it holds every media_id any
/// fixture or mutation references (and ids the payload does not reference are never read).
fn media_catalogue() -> Vec<(&'static str, &'static str, MediaType, &'static str, Option<u32>)> {
    use MediaType::{Image, Video};
    let mut v = vec![
        ("M_SP_FRONT", APPID, Image, "icp_subject.principal_info.certificate_photo_front", Some(2)),
        ("M_SP_BACK", APPID, Image, "icp_subject.principal_info.certificate_photo_back", Some(2)),
        ("M_AP_FRONT", APPID, Image, "icp_applets.principal_info.certificate_photo_front", Some(2)),
        ("M_AP_BACK", APPID, Image, "icp_applets.principal_info.certificate_photo_back", Some(2)),
        ("M_LICENSE", APPID, Image, "icp_subject.organize_info.certificate_photo", Some(1)),
        ("M_SP_AUTH", APPID, Image, "icp_subject.principal_info.authorization_letter", None),
        ("M_AP_AUTH", APPID, Image, "icp_applets.principal_info.authorization_letter", None),
        ("M_RESIDENCE", APPID, Image, "icp_subject.personal_info.residence_permit", None),
        ("M_NRLX", APPID, Image, "icp_applets.base_info.nrlx_details", None),
        ("M_NRLX2", APPID, Image, "icp_applets.base_info.nrlx_details", None),
        ("M_COMMIT", APPID, Image, "icp_materials.commitment_letter", None),
        ("M_COMMIT2", APPID, Image, "icp_materials.commitment_letter", None),
        ("M_VIDEO", APPID, Video, "icp_materials.promise_video", None),
        ("M_VIDEO2", APPID, Video, "icp_materials.promise_video", None),
        ("M_VIDEO_AS_IMAGE", APPID, Image, "icp_materials.promise_video", None),
        (
            "M_FOREIGN",
            "wxffffffffffffffff",
            Image,
            "icp_subject.principal_info.certificate_photo_front",
            Some(2),
        ),
    ];
    for id in OTHER_MATERIALS {
        v.push((id, APPID, Image, "icp_materials.subject_other_materials", None));
    }
    v
}

const OTHER_MATERIALS: [&str; 11] =
    ["M_O1", "M_O2", "M_O3", "M_O4", "M_O5", "M_O6", "M_O7", "M_O8", "M_O9", "M_O10", "M_O11"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    /// 个人: 李四 files as himself; he is the mini program's admin.
    Personal,
    /// 企业: 王五 is subject principal and legal representative; 赵六 (the admin) is the
    /// mini-program principal with an authorization letter.
    Enterprise,
}

fn world(base: Base) -> World {
    let now = fixed_now();
    let (admin_name, admin_body, mobile) = match base {
        Base::Personal => ("李四", LISI, "13800000000"),
        Base::Enterprise => ("赵六", ZHAOLIU, "13600000000"),
    };
    let media = media_catalogue()
        .into_iter()
        .map(|(id, appid, media_type, field, certificate_type)| {
            let meta = MediaMeta {
                media_id: id.to_string(),
                appid: appid.to_string(),
                media_type,
                certificate_type,
                icp_order_field: field.to_string(),
                content_type: if media_type == MediaType::Video { "video/mp4" } else { "image/jpeg" }.into(),
                size: 150_000,
                sha256: format!("sha256-of-{id}"),
                created_at: now.timestamp() - 3600,
            };
            (id.to_string(), meta)
        })
        .collect();
    World {
        now,
        dict: Dictionaries::builtin(),
        policy: Policy::default(),
        mp: MiniProgram {
            appid: APPID.into(),
            name: "读书笔记".into(),
            admin: Person { name: admin_name.into(), id_number: rid(admin_body), mobile: mobile.into() },
            flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
            listed: false,
            cleared: false,
            created_at: now.timestamp() - 86_400 * 30,
        },
        media,
        face: Some(FaceTask {
            task_id: TASK_ID.into(),
            appid: APPID.into(),
            face_status: FaceStatus::Succeeded,
            is_finish: true,
            created_at: now.timestamp() - 600,
            expires_at: now.timestamp() - 600 + FACE_TASK_TTL_SECS,
        }),
        subject: None,
        applies_today: 0,
        rules: RuleTable::builtin(),
    }
}

// ---- the two valid applications ----------------------------------------------------------

fn applet_comment() -> String {
    "本小程序为读书笔记分享工具，提供书目记录、阅读进度管理与笔记展示功能，不涉及交易。".into()
}

fn personal_payload() -> ApplyPayload {
    let lisi = || PrincipalInfo {
        name: "李四".into(),
        mobile: "13800000000".into(),
        email: "lisi@example.com".into(),
        emergency_contact: "13900000000".into(),
        certificate_type: Some(2),
        certificate_number: rid(LISI),
        certificate_validity_date_start: "20200101".into(),
        certificate_validity_date_end: "长期".into(),
        ..PrincipalInfo::default()
    };
    ApplyPayload {
        icp_subject: IcpSubject {
            base_info: SubjectBaseInfo {
                subject_type: Some(5),
                name: "李四".into(),
                province: "440000".into(),
                city: "440300".into(),
                district: "440305".into(),
                address: "科技园路1号A座101室".into(),
                ..SubjectBaseInfo::default()
            },
            personal_info: PersonalInfo::default(),
            organize_info: OrganizeInfo {
                certificate_type: Some(2),
                certificate_number: rid(LISI),
                certificate_address: "广东省深圳市南山区科技园路1号A座101室".into(),
                certificate_photo: String::new(),
            },
            principal_info: PrincipalInfo {
                certificate_photo_front: "M_SP_FRONT".into(),
                certificate_photo_back: "M_SP_BACK".into(),
                ..lisi()
            },
            legal_person_info: LegalPersonInfo::default(),
        },
        icp_applets: IcpApplets {
            base_info: beian_core::payload::AppletBaseInfo {
                service_content_types: vec![21, 20],
                nrlx_details: vec![NrlxDetail { nrlx_type: Some(24), ..NrlxDetail::default() }],
                comment: applet_comment(),
                ..Default::default()
            },
            principal_info: PrincipalInfo {
                certificate_photo_front: "M_AP_FRONT".into(),
                certificate_photo_back: "M_AP_BACK".into(),
                verify_task_id: TASK_ID.into(),
                ..lisi()
            },
        },
        icp_materials: IcpMaterials {
            commitment_letter: vec!["M_COMMIT".into()],
            promise_video: vec!["M_VIDEO".into()],
            ..IcpMaterials::default()
        },
    }
}

fn enterprise_payload() -> ApplyPayload {
    ApplyPayload {
        icp_subject: IcpSubject {
            base_info: SubjectBaseInfo {
                subject_type: Some(4),
                name: "深圳市示例科技有限公司".into(),
                province: "440000".into(),
                city: "440300".into(),
                district: "440305".into(),
                address: "科技园路2号B座201室".into(),
                ..SubjectBaseInfo::default()
            },
            personal_info: PersonalInfo::default(),
            organize_info: OrganizeInfo {
                certificate_type: Some(1),
                certificate_number: uscc(USCC_ENTERPRISE),
                certificate_address: "深圳市南山区粤海街道科技园路2号B座201室".into(),
                certificate_photo: "M_LICENSE".into(),
            },
            principal_info: PrincipalInfo {
                name: "王五".into(),
                mobile: "13700000000".into(),
                email: "wangwu@example.com".into(),
                emergency_contact: "0755-12345678".into(),
                certificate_type: Some(2),
                certificate_number: rid(WANGWU),
                certificate_validity_date_start: "20180601".into(),
                certificate_validity_date_end: "20380601".into(),
                certificate_photo_front: "M_SP_FRONT".into(),
                certificate_photo_back: "M_SP_BACK".into(),
                ..PrincipalInfo::default()
            },
            legal_person_info: LegalPersonInfo::default(),
        },
        icp_applets: IcpApplets {
            base_info: beian_core::payload::AppletBaseInfo {
                service_content_types: vec![21, 24, 26],
                nrlx_details: vec![NrlxDetail { nrlx_type: Some(24), ..NrlxDetail::default() }],
                comment: "企业内部知识库与文档检索工具，为员工提供文档管理、信息查询与在线协作功能。".into(),
                ..Default::default()
            },
            principal_info: PrincipalInfo {
                name: "赵六".into(),
                mobile: "13600000000".into(),
                email: "zhaoliu@example.com".into(),
                emergency_contact: "13500000000".into(),
                certificate_type: Some(2),
                certificate_number: rid(ZHAOLIU),
                certificate_validity_date_start: "20210101".into(),
                certificate_validity_date_end: "20410101".into(),
                certificate_photo_front: "M_AP_FRONT".into(),
                certificate_photo_back: "M_AP_BACK".into(),
                authorization_letter: "M_AP_AUTH".into(),
                verify_task_id: TASK_ID.into(),
            },
        },
        icp_materials: IcpMaterials { commitment_letter: vec!["M_COMMIT".into()], ..IcpMaterials::default() },
    }
}

fn fixture(base: Base) -> (ApplyPayload, World) {
    let p = match base {
        Base::Personal => personal_payload(),
        Base::Enterprise => enterprise_payload(),
    };
    (p, world(base))
}

// ---- mutation helpers --------------------------------------------------------------------

/// The personal filer becomes another person with ID `id` everywhere (subject certificate,
/// both principals, the admin).
fn personal_id(p: &mut ApplyPayload, w: &mut World, id: &str) {
    p.icp_subject.organize_info.certificate_number = id.into();
    p.icp_subject.principal_info.certificate_number = id.into();
    p.icp_applets.principal_info.certificate_number = id.into();
    w.mp.admin.id_number = id.into();
}

/// The personal filer identifies with a passport (护照, personal certificate type 7) numbered
/// `number`; the ID photos were uploaded as passport photos.
fn personal_passport(p: &mut ApplyPayload, w: &mut World, number: &str) {
    p.icp_subject.organize_info.certificate_type = Some(7);
    sp(p).certificate_type = Some(7);
    ap(p).certificate_type = Some(7);
    personal_id(p, w, number);
    for m in ["M_SP_FRONT", "M_SP_BACK", "M_AP_FRONT", "M_AP_BACK"] {
        w.media_mut(m).certificate_type = Some(7);
    }
}

/// The enterprise moves to 宁夏 银川 兴庆区.
fn to_ningxia(p: &mut ApplyPayload) {
    let b = &mut p.icp_subject.base_info;
    b.province = "640000".into();
    b.city = "640100".into();
    b.district = "640104".into();
}

fn sp(p: &mut ApplyPayload) -> &mut PrincipalInfo {
    &mut p.icp_subject.principal_info
}

fn ap(p: &mut ApplyPayload) -> &mut PrincipalInfo {
    &mut p.icp_applets.principal_info
}

fn nrlx(t: u32, code: &str, media: &str) -> NrlxDetail {
    NrlxDetail { nrlx_type: Some(t), code: code.into(), media: media.into() }
}

fn subject(ever_filed: bool, in_progress: u32, filed_count: u32) -> Subject {
    Subject {
        id: "subject-1".into(),
        subject_type: 5,
        certificate_type: 2,
        certificate_number: rid(LISI),
        name: "李四".into(),
        province: "440000".into(),
        filed_count,
        ever_filed,
        in_progress,
        record_number: ever_filed.then(|| "粤ICP备2024000001号".into()),
        service_seq: filed_count,
    }
}

// ---- the case runner ---------------------------------------------------------------------

type Mutation = fn(&mut ApplyPayload, &mut World);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Pass,
    /// Exactly these hints, as `(errcode, err_field)`, in any order.
    Hints(Vec<(i64, &'static str)>),
    /// A refusal of the whole request with this errcode.
    Request(i64),
}

fn hint(code: i64, field: &'static str) -> Expect {
    Expect::Hints(vec![(code, field)])
}

fn hints(list: &[(i64, &'static str)]) -> Expect {
    Expect::Hints(list.to_vec())
}

struct Case {
    name: &'static str,
    base: Base,
    mutate: Mutation,
    expect: Expect,
}

fn c(name: &'static str, base: Base, mutate: Mutation, expect: Expect) -> Case {
    Case { name, base, mutate, expect }
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Compares a result with an expectation; `Err` describes the difference.
fn verify(result: &Result<(), Refusal>, expect: &Expect) -> Result<(), String> {
    // The message contract holds whatever the expectation.
    match result {
        Err(Refusal::Hints(hs)) => {
            for h in hs {
                if !has_cjk(&h.errmsg) {
                    return Err(format!("hint at {} has no Chinese message: {:?}", h.err_field, h.errmsg));
                }
            }
        }
        Err(Refusal::Request { errcode, errmsg }) if !has_cjk(errmsg) => {
            return Err(format!("refusal {errcode} has no Chinese message: {errmsg:?}"));
        }
        _ => {}
    }
    match (result, expect) {
        (Ok(()), Expect::Pass) => Ok(()),
        (Err(Refusal::Hints(hs)), Expect::Hints(want)) => {
            let mut got: Vec<(i64, String)> = hs.iter().map(|h| (h.errcode, h.err_field.clone())).collect();
            let mut want: Vec<(i64, String)> = want.iter().map(|(c, f)| (*c, f.to_string())).collect();
            got.sort();
            want.sort();
            if got == want {
                Ok(())
            } else {
                Err(format!("expected hints {want:?}\n      got {hs:#?}"))
            }
        }
        (Err(Refusal::Request { errcode, .. }), Expect::Request(want)) if errcode == want => Ok(()),
        (got, want) => Err(format!("expected {want:?}, got {got:#?}")),
    }
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &cases {
        let (mut p, mut w) = fixture(case.base);
        (case.mutate)(&mut p, &mut w);
        let result = w.check(&p);
        if let Err(why) = verify(&result, &case.expect) {
            failures.push(format!("case `{}` ({:?}): {why}", case.name, case.base));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

use Base::{Enterprise as E, Personal as P};

// ---- the fixtures themselves -------------------------------------------------------------

#[test]
fn both_fixtures_are_valid() {
    for base in [P, E] {
        let (p, w) = fixture(base);
        assert_eq!(w.check(&p), Ok(()), "the {base:?} fixture must pass every rule");
    }
}

#[test]
fn fixture_identity_numbers_are_valid() {
    for body in [LISI, WANGWU, ZHAOLIU, QIANQI, ZHOUJIU] {
        assert!(beian_core::ident::ResidentId::parse(&rid(body)).is_ok(), "{body}");
        assert!(beian_core::ident::ResidentId::parse(&bad_rid(body)).is_err(), "{body}");
    }
    for body in [USCC_ENTERPRISE, USCC_INDIVIDUAL] {
        assert_eq!(beian_core::ident::check_uscc(&uscc(body)), Ok(()), "{body}");
        assert!(beian_core::ident::check_uscc(&bad_uscc(body)).is_err(), "{body}");
    }
    // Codes python-stdnum calls valid (tests/it/data/stdnum-fixtures.txt).
    assert_eq!(uscc("19177271F61QFQM2E"), "19177271F61QFQM2EK");
    assert_eq!(uscc("152753450NHF7FXYX"), "152753450NHF7FXYXT");
}

#[test]
fn validity_months_by_province() {
    let months = |province: &str| {
        let t = RuleTable::builtin();
        let rows = t.applicable(province, false);
        let m: Vec<u32> = rows
            .iter()
            .filter_map(|r| match r.require {
                beian_core::rule_table::Requirement::ValidityMonths { months } => Some(months),
                _ => None,
            })
            .collect();
        m
    };
    assert_eq!(months("640000"), vec![6], "宁夏's row replaces the national one");
    assert_eq!(months("440000"), vec![3]);
    assert_eq!(months(""), vec![3]);
}

// ---- required fields ---------------------------------------------------------------------

#[test]
fn required_fields() {
    use ec::FIELD_REQUIRED as R;
    run(vec![
        c(
            "subject type",
            E,
            |p, _| p.icp_subject.base_info.subject_type = None,
            hint(R, "icp_subject.base_info.type"),
        ),
        c(
            "subject name",
            P,
            |p, _| p.icp_subject.base_info.name.clear(),
            hint(R, "icp_subject.base_info.name"),
        ),
        c(
            "province",
            E,
            |p, _| p.icp_subject.base_info.province.clear(),
            hint(R, "icp_subject.base_info.province"),
        ),
        c("city", E, |p, _| p.icp_subject.base_info.city.clear(), hint(R, "icp_subject.base_info.city")),
        c(
            "district",
            E,
            |p, _| p.icp_subject.base_info.district.clear(),
            hint(R, "icp_subject.base_info.district"),
        ),
        c(
            "address",
            P,
            |p, _| p.icp_subject.base_info.address.clear(),
            hint(R, "icp_subject.base_info.address"),
        ),
        c(
            "organize certificate_type",
            P,
            |p, _| p.icp_subject.organize_info.certificate_type = None,
            hint(R, "icp_subject.organize_info.certificate_type"),
        ),
        c(
            "organize certificate_number",
            P,
            |p, _| p.icp_subject.organize_info.certificate_number.clear(),
            hint(R, "icp_subject.organize_info.certificate_number"),
        ),
        c(
            "organize certificate_address",
            E,
            |p, _| p.icp_subject.organize_info.certificate_address.clear(),
            hint(R, "icp_subject.organize_info.certificate_address"),
        ),
        c(
            "enterprise needs organize certificate_photo",
            E,
            |p, _| p.icp_subject.organize_info.certificate_photo.clear(),
            hint(R, "icp_subject.organize_info.certificate_photo"),
        ),
        c("subject principal name", P, |p, _| sp(p).name.clear(), hint(R, "icp_subject.principal_info.name")),
        c(
            "subject principal mobile",
            E,
            |p, _| sp(p).mobile.clear(),
            hint(R, "icp_subject.principal_info.mobile"),
        ),
        c(
            "subject principal email",
            P,
            |p, _| sp(p).email.clear(),
            hint(R, "icp_subject.principal_info.email"),
        ),
        c(
            "subject principal emergency_contact",
            P,
            |p, _| sp(p).emergency_contact.clear(),
            hint(R, "icp_subject.principal_info.emergency_contact"),
        ),
        c(
            "subject principal certificate_type",
            P,
            |p, _| sp(p).certificate_type = None,
            hint(R, "icp_subject.principal_info.certificate_type"),
        ),
        c(
            "subject principal certificate_number",
            P,
            |p, _| sp(p).certificate_number.clear(),
            hint(R, "icp_subject.principal_info.certificate_number"),
        ),
        c(
            "subject principal validity start",
            P,
            |p, _| sp(p).certificate_validity_date_start.clear(),
            hint(R, "icp_subject.principal_info.certificate_validity_date_start"),
        ),
        c(
            "subject principal validity end",
            E,
            |p, _| sp(p).certificate_validity_date_end.clear(),
            hint(R, "icp_subject.principal_info.certificate_validity_date_end"),
        ),
        c(
            "subject principal photo front",
            P,
            |p, _| sp(p).certificate_photo_front.clear(),
            hint(R, "icp_subject.principal_info.certificate_photo_front"),
        ),
        c(
            "subject principal photo back",
            E,
            |p, _| sp(p).certificate_photo_back.clear(),
            hint(R, "icp_subject.principal_info.certificate_photo_back"),
        ),
        c("applet principal name", P, |p, _| ap(p).name.clear(), hint(R, "icp_applets.principal_info.name")),
        c(
            "applet principal mobile",
            P,
            |p, _| ap(p).mobile.clear(),
            hint(R, "icp_applets.principal_info.mobile"),
        ),
        c(
            "applet principal certificate_number",
            P,
            |p, _| ap(p).certificate_number.clear(),
            hint(R, "icp_applets.principal_info.certificate_number"),
        ),
        c(
            "applet principal photo back",
            E,
            |p, _| ap(p).certificate_photo_back.clear(),
            hint(R, "icp_applets.principal_info.certificate_photo_back"),
        ),
        c(
            "applet principal verify_task_id",
            P,
            |p, _| ap(p).verify_task_id.clear(),
            hint(R, "icp_applets.principal_info.verify_task_id"),
        ),
        c(
            "applet principal verify_task_id (enterprise)",
            E,
            |p, _| ap(p).verify_task_id.clear(),
            hint(R, "icp_applets.principal_info.verify_task_id"),
        ),
        c(
            "applet comment",
            P,
            |p, _| p.icp_applets.base_info.comment.clear(),
            hint(R, "icp_applets.base_info.comment"),
        ),
        // The subject principal needs no face verification.
        c("subject principal has no verify_task_id", P, |p, _| sp(p).verify_task_id.clear(), Expect::Pass),
        // Optional fields.
        c("subject comment is optional", E, |p, _| p.icp_subject.base_info.comment.clear(), Expect::Pass),
        c("materials are optional", P, |p, _| p.icp_materials = IcpMaterials::default(), Expect::Pass),
    ]);
}

#[test]
fn an_empty_body_names_every_required_field() {
    let (_, w) = fixture(P);
    let Err(Refusal::Hints(hs)) = w.check(&ApplyPayload::default()) else {
        panic!("an empty body must be answered with hints");
    };
    for field in [
        "icp_subject.base_info.type",
        "icp_subject.base_info.name",
        "icp_subject.base_info.province",
        "icp_subject.base_info.city",
        "icp_subject.base_info.district",
        "icp_subject.base_info.address",
        "icp_subject.organize_info.certificate_type",
        "icp_subject.organize_info.certificate_number",
        "icp_subject.organize_info.certificate_address",
        "icp_subject.principal_info.name",
        "icp_subject.principal_info.mobile",
        "icp_subject.principal_info.certificate_number",
        "icp_subject.principal_info.certificate_validity_date_end",
        "icp_applets.base_info.service_content_types",
        "icp_applets.base_info.nrlx_details",
        "icp_applets.base_info.comment",
        "icp_applets.principal_info.name",
        "icp_applets.principal_info.verify_task_id",
    ] {
        assert!(
            hs.iter().any(|h| h.err_field == field && h.errcode == ec::FIELD_REQUIRED),
            "no FIELD_REQUIRED hint at {field}: {hs:#?}"
        );
    }
    assert!(hs.iter().all(|h| has_cjk(&h.errmsg)), "{hs:#?}");
    // Missing fields are the only problem: no format or relation noise.
    assert!(hs.iter().all(|h| h.errcode == ec::FIELD_REQUIRED), "{hs:#?}");
}

#[test]
fn a_missing_field_is_asked_for_by_its_kind() {
    // A choice is chosen, an upload uploaded, the face verification done; text is filled in.
    let (_, w) = fixture(Base::Personal);
    let hs = match w.check(&ApplyPayload::default()) {
        Err(Refusal::Hints(h)) => h,
        other => panic!("{other:?}"),
    };
    let msg =
        |field: &str| hs.iter().find(|h| h.err_field == field).map(|h| h.errmsg.clone()).unwrap_or_default();
    assert_eq!(msg("icp_subject.base_info.province"), "请选择主体所在省份");
    assert_eq!(msg("icp_subject.base_info.type"), "请选择主体性质");
    assert_eq!(msg("icp_subject.principal_info.certificate_photo_front"), "请上传主体负责人证件正面照片");
    assert_eq!(msg("icp_applets.principal_info.verify_task_id"), "请由小程序管理员完成人脸核身");
    assert_eq!(msg("icp_subject.base_info.name"), "请填写主办单位名称");
}

// ---- lengths -----------------------------------------------------------------------------

#[test]
fn field_lengths() {
    use ec::FIELD_LENGTH as L;
    run(vec![
        c("subject name 100", E, |p, _| p.icp_subject.base_info.name = "企".repeat(100), Expect::Pass),
        c(
            "subject name 101",
            E,
            |p, _| p.icp_subject.base_info.name = "企".repeat(101),
            hint(L, "icp_subject.base_info.name"),
        ),
        c(
            "address 101",
            E,
            |p, _| p.icp_subject.base_info.address = format!("科技园路{}", "号".repeat(97)),
            hint(L, "icp_subject.base_info.address"),
        ),
        c(
            "subject comment 201",
            E,
            |p, _| p.icp_subject.base_info.comment = "注".repeat(201),
            hint(L, "icp_subject.base_info.comment"),
        ),
        c(
            "certificate address 201",
            E,
            |p, _| p.icp_subject.organize_info.certificate_address = "址".repeat(201),
            hint(L, "icp_subject.organize_info.certificate_address"),
        ),
        c(
            "principal name 51",
            E,
            |p, _| sp(p).name = "名".repeat(51),
            hint(L, "icp_subject.principal_info.name"),
        ),
    ]);
}

// ---- identity numbers --------------------------------------------------------------------

#[test]
fn certificate_numbers() {
    use ec::FIELD_FORMAT as F;
    run(vec![
        c(
            "subject principal resident ID check digit",
            E,
            |p, _| sp(p).certificate_number = bad_rid(WANGWU),
            hint(F, "icp_subject.principal_info.certificate_number"),
        ),
        c(
            "applet principal resident ID check digit",
            E,
            |p, w| {
                ap(p).certificate_number = bad_rid(ZHAOLIU);
                w.mp.admin.id_number = bad_rid(ZHAOLIU);
            },
            hint(F, "icp_applets.principal_info.certificate_number"),
        ),
        c(
            "resident ID too short",
            E,
            |p, _| sp(p).certificate_number = WANGWU.into(),
            hint(F, "icp_subject.principal_info.certificate_number"),
        ),
        c(
            "resident ID with an impossible birth date",
            E,
            |p, _| sp(p).certificate_number = rid("44030419801305321"),
            hint(F, "icp_subject.principal_info.certificate_number"),
        ),
        c("resident ID with a lowercase x", P, |p, w| personal_id(p, w, "11010519491231002x"), {
            // 11010519491231002X is the GB 11643 standard example; the personal filer then
            // needs residence proof for Guangdong, and nothing else.
            hint(ec::FIELD_REQUIRED, "icp_subject.personal_info.residence_permit")
        }),
        c(
            "personal subject certificate (居民身份证) is checked as a resident ID",
            P,
            |p, w| personal_id(p, w, &bad_rid(LISI)),
            hints(&[
                (F, "icp_subject.organize_info.certificate_number"),
                (F, "icp_subject.principal_info.certificate_number"),
                (F, "icp_applets.principal_info.certificate_number"),
            ]),
        ),
        c(
            "USCC check character",
            E,
            |p, _| p.icp_subject.organize_info.certificate_number = bad_uscc(USCC_ENTERPRISE),
            hint(F, "icp_subject.organize_info.certificate_number"),
        ),
        c(
            "USCC with a letter outside the alphabet",
            E,
            |p, _| p.icp_subject.organize_info.certificate_number = "91440300MA5GI23450".into(),
            hint(F, "icp_subject.organize_info.certificate_number"),
        ),
        c(
            "USCC in lowercase",
            E,
            |p, _| p.icp_subject.organize_info.certificate_number = uscc(USCC_ENTERPRISE).to_lowercase(),
            hint(F, "icp_subject.organize_info.certificate_number"),
        ),
        c(
            "legal representative resident ID check digit",
            E,
            |p, _| {
                p.icp_subject.legal_person_info =
                    LegalPersonInfo { name: "钱七".into(), certificate_number: bad_rid(QIANQI) };
                sp(p).authorization_letter = "M_SP_AUTH".into();
            },
            hint(F, "icp_subject.legal_person_info.certificate_number"),
        ),
        // Other certificates: letters, digits and '-' only.
        c("personal filer with a passport", P, |p, w| personal_passport(p, w, "E12345678"), Expect::Pass),
        c(
            "passport number with a space",
            P,
            |p, w| personal_passport(p, w, "E1234 5678"),
            hints(&[
                (F, "icp_subject.organize_info.certificate_number"),
                (F, "icp_subject.principal_info.certificate_number"),
                (F, "icp_applets.principal_info.certificate_number"),
            ]),
        ),
    ]);
}

// ---- contacts ----------------------------------------------------------------------------

#[test]
fn contacts() {
    use ec::{FIELD_FORMAT as F, FIELD_RELATION as X};
    run(vec![
        c(
            "mobile with 10 digits",
            P,
            |p, _| sp(p).mobile = "1380000000".into(),
            hint(F, "icp_subject.principal_info.mobile"),
        ),
        c(
            "mobile not starting 13-19",
            P,
            |p, _| sp(p).mobile = "12800000000".into(),
            hint(F, "icp_subject.principal_info.mobile"),
        ),
        c(
            "mobile with country code",
            E,
            |p, _| ap(p).mobile = "+8613600000000".into(),
            hint(F, "icp_applets.principal_info.mobile"),
        ),
        c(
            "email without a dot",
            P,
            |p, _| sp(p).email = "lisi@example".into(),
            hint(F, "icp_subject.principal_info.email"),
        ),
        c(
            "email with a space",
            E,
            |p, _| ap(p).email = "zhao liu@example.com".into(),
            hint(F, "icp_applets.principal_info.email"),
        ),
        c(
            "email without @",
            P,
            |p, _| sp(p).email = "lisi.example.com".into(),
            hint(F, "icp_subject.principal_info.email"),
        ),
        c(
            "emergency contact not a phone",
            P,
            |p, _| sp(p).emergency_contact = "找我弟弟".into(),
            hint(F, "icp_subject.principal_info.emergency_contact"),
        ),
        c(
            "emergency contact too short",
            E,
            |p, _| ap(p).emergency_contact = "123456".into(),
            hint(F, "icp_applets.principal_info.emergency_contact"),
        ),
        c(
            "emergency landline passes",
            P,
            |p, _| sp(p).emergency_contact = "010-12345678".into(),
            Expect::Pass,
        ),
        c(
            "emergency contact equals own mobile (subject)",
            P,
            |p, _| sp(p).emergency_contact = "13800000000".into(),
            hint(X, "icp_subject.principal_info.emergency_contact"),
        ),
        c(
            "emergency contact equals own mobile (applet)",
            E,
            |p, _| ap(p).emergency_contact = "13600000000".into(),
            hint(X, "icp_applets.principal_info.emergency_contact"),
        ),
        c(
            "two different people share a mobile",
            E,
            |p, w| {
                ap(p).mobile = "13700000000".into();
                w.mp.admin.mobile = "13700000000".into();
            },
            hint(X, "icp_applets.principal_info.mobile"),
        ),
        // 李四 is both principals: the same mobile is right.
        c("one person, one mobile", P, |_, _| {}, Expect::Pass),
    ]);
}

// ---- dates and validity ------------------------------------------------------------------

#[test]
fn validity_dates() {
    use ec::{CERT_VALIDITY as V, FIELD_FORMAT as F};
    const S_START: &str = "icp_subject.principal_info.certificate_validity_date_start";
    const S_END: &str = "icp_subject.principal_info.certificate_validity_date_end";
    const A_START: &str = "icp_applets.principal_info.certificate_validity_date_start";
    const A_END: &str = "icp_applets.principal_info.certificate_validity_date_end";
    run(vec![
        c(
            "start with dashes",
            P,
            |p, _| sp(p).certificate_validity_date_start = "2020-01-01".into(),
            hint(F, S_START),
        ),
        c(
            "start not a date",
            P,
            |p, _| sp(p).certificate_validity_date_start = "20200230".into(),
            hint(F, S_START),
        ),
        c("start 长期", P, |p, _| sp(p).certificate_validity_date_start = "长期".into(), hint(F, S_START)),
        c(
            "start tomorrow",
            P,
            |p, _| sp(p).certificate_validity_date_start = "20260303".into(),
            hint(F, S_START),
        ),
        c("start today", P, |p, _| sp(p).certificate_validity_date_start = "20260302".into(), Expect::Pass),
        c(
            "applet start tomorrow",
            E,
            |p, _| ap(p).certificate_validity_date_start = "20260303".into(),
            hint(F, A_START),
        ),
        c("end month 13", E, |p, _| sp(p).certificate_validity_date_end = "20351301".into(), hint(F, S_END)),
        c("end 永久", P, |p, _| sp(p).certificate_validity_date_end = "永久".into(), hint(F, S_END)),
        c("end 长期 passes", E, |p, _| sp(p).certificate_validity_date_end = "长期".into(), Expect::Pass),
        c(
            "end before start",
            E,
            |p, _| sp(p).certificate_validity_date_end = "20180531".into(),
            hint(F, S_END),
        ),
        c(
            "end equal to start",
            E,
            |p, _| sp(p).certificate_validity_date_end = "20180601".into(),
            hint(F, S_END),
        ),
        c(
            "end before start, both recent",
            E,
            |p, _| {
                sp(p).certificate_validity_date_start = "20260101".into();
                sp(p).certificate_validity_date_end = "20251231".into();
            },
            hint(F, S_END),
        ),
        // Certificate validity ≥ 3 months after submission (2026-03-02 → 2026-06-02).
        c("expired", E, |p, _| sp(p).certificate_validity_date_end = "20260301".into(), hint(V, S_END)),
        c("ends today", E, |p, _| sp(p).certificate_validity_date_end = "20260302".into(), hint(V, S_END)),
        c(
            "3 months less a day",
            P,
            |p, _| sp(p).certificate_validity_date_end = "20260601".into(),
            hint(V, S_END),
        ),
        c(
            "exactly 3 months",
            P,
            |p, _| sp(p).certificate_validity_date_end = "20260602".into(),
            Expect::Pass,
        ),
        c(
            "applet principal 3 months less a day",
            E,
            |p, _| ap(p).certificate_validity_date_end = "20260601".into(),
            hint(V, A_END),
        ),
        // 宁夏 needs 6 months (→ 2026-09-02).
        c("4 months, 广东", E, |p, _| sp(p).certificate_validity_date_end = "20260702".into(), Expect::Pass),
        c(
            "4 months, 宁夏",
            E,
            |p, _| {
                to_ningxia(p);
                sp(p).certificate_validity_date_end = "20260702".into();
            },
            hint(V, S_END),
        ),
        c(
            "6 months less a day, 宁夏",
            E,
            |p, _| {
                to_ningxia(p);
                ap(p).certificate_validity_date_end = "20260901".into();
            },
            hint(V, A_END),
        ),
        c(
            "exactly 6 months, 宁夏",
            E,
            |p, _| {
                to_ningxia(p);
                sp(p).certificate_validity_date_end = "20260902".into();
                ap(p).certificate_validity_date_end = "20260902".into();
            },
            Expect::Pass,
        ),
        c("宁夏 with long validity", E, |p, _| to_ningxia(p), Expect::Pass),
    ]);
}

// ---- the mini program ------------------------------------------------------------------

#[test]
fn applet_comment_length() {
    const F: &str = "icp_applets.base_info.comment";
    run(vec![
        c(
            "19 characters",
            P,
            |p, _| p.icp_applets.base_info.comment = "读".repeat(19),
            hint(ec::FIELD_LENGTH, F),
        ),
        c("20 characters", P, |p, _| p.icp_applets.base_info.comment = "读".repeat(20), Expect::Pass),
        c("200 characters", P, |p, _| p.icp_applets.base_info.comment = "读".repeat(200), Expect::Pass),
        c(
            "201 characters",
            P,
            |p, _| p.icp_applets.base_info.comment = "读".repeat(201),
            hint(ec::FIELD_LENGTH, F),
        ),
        // Characters, not bytes: 20 ASCII letters are enough, 19 are not.
        c("20 ASCII characters", E, |p, _| p.icp_applets.base_info.comment = "a".repeat(20), Expect::Pass),
        c(
            "19 ASCII characters",
            E,
            |p, _| p.icp_applets.base_info.comment = "a".repeat(19),
            hint(ec::FIELD_LENGTH, F),
        ),
    ]);
}

#[test]
fn service_content_types() {
    const F: &str = "icp_applets.base_info.service_content_types";
    run(vec![
        c(
            "empty",
            P,
            |p, _| p.icp_applets.base_info.service_content_types.clear(),
            hint(ec::FIELD_REQUIRED, F),
        ),
        c(
            "five",
            P,
            |p, _| p.icp_applets.base_info.service_content_types = vec![21, 22, 23, 24, 25],
            Expect::Pass,
        ),
        c(
            "six",
            P,
            |p, _| p.icp_applets.base_info.service_content_types = vec![21, 22, 23, 24, 25, 26],
            hint(ec::FIELD_LENGTH, F),
        ),
        c(
            "unknown id",
            P,
            |p, _| p.icp_applets.base_info.service_content_types = vec![21, 9999],
            hint(ec::FIELD_DICT, "icp_applets.base_info.service_content_types.1"),
        ),
        c(
            "first-level id",
            P,
            |p, _| p.icp_applets.base_info.service_content_types = vec![300],
            hint(ec::FIELD_DICT, "icp_applets.base_info.service_content_types.0"),
        ),
        c(
            "duplicate",
            E,
            |p, _| p.icp_applets.base_info.service_content_types = vec![21, 24, 21],
            hint(ec::FIELD_RELATION, "icp_applets.base_info.service_content_types.2"),
        ),
    ]);
}

#[test]
fn nrlx_details() {
    const F: &str = "icp_applets.base_info.nrlx_details";
    run(vec![
        c("empty", P, |p, _| p.icp_applets.base_info.nrlx_details.clear(), hint(ec::FIELD_REQUIRED, F)),
        c(
            "type missing",
            P,
            |p, _| p.icp_applets.base_info.nrlx_details = vec![NrlxDetail::default()],
            hint(ec::FIELD_REQUIRED, "icp_applets.base_info.nrlx_details.0.type"),
        ),
        c(
            "unknown type",
            P,
            |p, _| p.icp_applets.base_info.nrlx_details = vec![nrlx(99, "粤-12345号", "M_NRLX")],
            hint(ec::FIELD_DICT, "icp_applets.base_info.nrlx_details.0.type"),
        ),
        c(
            "one approval with code and media",
            P,
            |p, _| p.icp_applets.base_info.nrlx_details = vec![nrlx(3, "粤教-12345号", "M_NRLX")],
            Expect::Pass,
        ),
        c(
            "two different approvals",
            E,
            |p, _| {
                p.icp_applets.base_info.nrlx_details =
                    vec![nrlx(3, "粤教-12345号", "M_NRLX"), nrlx(4, "粤卫-678号", "M_NRLX2")]
            },
            Expect::Pass,
        ),
        c(
            "duplicate type",
            E,
            |p, _| {
                p.icp_applets.base_info.nrlx_details =
                    vec![nrlx(3, "粤教-12345号", "M_NRLX"), nrlx(3, "粤教-678号", "M_NRLX2")]
            },
            hint(ec::FIELD_RELATION, "icp_applets.base_info.nrlx_details.1.type"),
        ),
        c(
            "以上都不涉及 with another type",
            P,
            |p, _| {
                p.icp_applets.base_info.nrlx_details =
                    vec![nrlx(24, "", ""), nrlx(3, "粤教-12345号", "M_NRLX")]
            },
            hint(ec::FIELD_RELATION, "icp_applets.base_info.nrlx_details.0.type"),
        ),
        c(
            "another type with 以上都不涉及 after it",
            P,
            |p, _| p.icp_applets.base_info.nrlx_details = vec![nrlx(3, "", ""), nrlx(24, "", "")],
            hint(ec::FIELD_RELATION, "icp_applets.base_info.nrlx_details.1.type"),
        ),
        c(
            "approval without code",
            P,
            |p, _| p.icp_applets.base_info.nrlx_details = vec![nrlx(3, "", "M_NRLX")],
            hint(ec::FIELD_REQUIRED, "icp_applets.base_info.nrlx_details.0.code"),
        ),
        c(
            "approval without media",
            P,
            |p, _| p.icp_applets.base_info.nrlx_details = vec![nrlx(3, "粤教-12345号", "")],
            hint(ec::FIELD_REQUIRED, "icp_applets.base_info.nrlx_details.0.media"),
        ),
    ]);
}

// ---- region and address ------------------------------------------------------------------

fn region(p: &mut ApplyPayload, province: &str, city: &str, district: &str) {
    let b = &mut p.icp_subject.base_info;
    b.province = province.into();
    b.city = city.into();
    b.district = district.into();
}

#[test]
fn regions() {
    use ec::{FIELD_DICT as D, FIELD_RELATION as X};
    run(vec![
        c(
            "unknown province",
            E,
            |p, _| region(p, "990000", "440300", "440305"),
            hint(D, "icp_subject.base_info.province"),
        ),
        c(
            "province not a number",
            E,
            |p, _| region(p, "广东", "440300", "440305"),
            hint(D, "icp_subject.base_info.province"),
        ),
        c(
            "city code as province",
            E,
            |p, _| region(p, "440300", "440300", "440305"),
            hint(D, "icp_subject.base_info.province"),
        ),
        c(
            "unknown city",
            E,
            |p, _| region(p, "440000", "449900", "440305"),
            hint(D, "icp_subject.base_info.city"),
        ),
        c(
            "unknown district",
            E,
            |p, _| region(p, "440000", "440300", "440399"),
            hint(D, "icp_subject.base_info.district"),
        ),
        c(
            "city code as district",
            E,
            |p, _| region(p, "440000", "440300", "440300"),
            hint(D, "icp_subject.base_info.district"),
        ),
        c(
            "city not in province",
            E,
            |p, _| region(p, "440000", "110100", "110105"),
            hint(X, "icp_subject.base_info.city"),
        ),
        c(
            "district not in city",
            E,
            |p, _| region(p, "440000", "440300", "440106"),
            hint(X, "icp_subject.base_info.district"),
        ),
        c("东莞 has no county level", E, |p, _| region(p, "440000", "441900", "441900"), Expect::Pass),
        c("东莞 for a personal filer", P, |p, _| region(p, "440000", "441900", "441900"), Expect::Pass),
        c("广州 天河", E, |p, _| region(p, "440000", "440100", "440106"), Expect::Pass),
        c("宁夏 银川 兴庆", E, |p, _| region(p, "640000", "640100", "640104"), Expect::Pass),
    ]);
}

#[test]
fn address_must_not_repeat_region_names() {
    const F: &str = "icp_subject.base_info.address";
    use ec::ADDRESS_REPEATS_REGION as A;
    run(vec![
        c(
            "starts with 广东省",
            P,
            |p, _| p.icp_subject.base_info.address = "广东省深圳市南山区科技园路1号".into(),
            hint(A, F),
        ),
        c(
            "starts with 深圳市",
            P,
            |p, _| p.icp_subject.base_info.address = "深圳市南山区科技园路1号".into(),
            hint(A, F),
        ),
        c(
            "starts with 南山区",
            E,
            |p, _| p.icp_subject.base_info.address = "南山区科技园路1号".into(),
            hint(A, F),
        ),
        c(
            "starts with 广东 (short)",
            E,
            |p, _| p.icp_subject.base_info.address = "广东深圳科技园路1号".into(),
            hint(A, F),
        ),
        c(
            "starts with 深圳 (short)",
            E,
            |p, _| p.icp_subject.base_info.address = "深圳科技园路1号".into(),
            hint(A, F),
        ),
        c(
            "starts with 宁夏回族自治区",
            E,
            |p, _| {
                to_ningxia(p);
                p.icp_subject.base_info.address = "宁夏回族自治区银川市兴庆区解放西街1号".into();
            },
            hint(A, F),
        ),
        c(
            "starts with 东莞市",
            E,
            |p, _| {
                region(p, "440000", "441900", "441900");
                p.icp_subject.base_info.address = "东莞市松山湖大道1号".into();
            },
            hint(A, F),
        ),
        c(
            "a road named like the district (南山大道 in 南山区)",
            E,
            |p, _| p.icp_subject.base_info.address = "南山大道1001号".into(),
            Expect::Pass,
        ),
        c(
            "a region name later in the address",
            E,
            |p, _| p.icp_subject.base_info.address = "科技园路1号（南山区政务中心旁）".into(),
            Expect::Pass,
        ),
        // 北京 has the city level "市辖区", which is never a repeat.
        c(
            "北京 朝阳",
            E,
            |p, _| {
                region(p, "110000", "110100", "110105");
                p.icp_subject.base_info.address = "高碑店路181号1栋12345室".into();
            },
            Expect::Pass,
        ),
        // The subject certificate's address is the full one, region names included.
        c(
            "certificate address keeps region names",
            E,
            |p, _| p.icp_subject.organize_info.certificate_address = "广东省深圳市南山区科技园路2号".into(),
            Expect::Pass,
        ),
    ]);
}

// ---- certificate types and the personal subject ------------------------------------------

#[test]
fn certificate_types() {
    use ec::{FIELD_DICT as D, FIELD_FORMAT as F, FIELD_RELATION as X};
    run(vec![
        c(
            "subject type unknown",
            E,
            |p, _| p.icp_subject.base_info.subject_type = Some(99),
            // The certificate type then cannot belong to it either.
            hints(&[(D, "icp_subject.base_info.type"), (X, "icp_subject.organize_info.certificate_type")]),
        ),
        c(
            "organize certificate type of another subject type",
            E,
            |p, w| {
                p.icp_subject.organize_info.certificate_type = Some(6); // 社会团体法人登记证书
                w.media_mut("M_LICENSE").certificate_type = Some(6);
            },
            hint(X, "icp_subject.organize_info.certificate_type"),
        ),
        c(
            "organize certificate type unknown",
            E,
            |p, w| {
                p.icp_subject.organize_info.certificate_type = Some(99);
                w.media_mut("M_LICENSE").certificate_type = Some(99);
            },
            hint(D, "icp_subject.organize_info.certificate_type"),
        ),
        c(
            "enterprise 组织机构代码证 (type 12) passes",
            E,
            |p, w| {
                p.icp_subject.organize_info.certificate_type = Some(12);
                p.icp_subject.organize_info.certificate_number = "MA5G1234-3".into();
                w.media_mut("M_LICENSE").certificate_type = Some(12);
            },
            Expect::Pass,
        ),
        c(
            "enterprise 组织机构代码证 with a wrong check character",
            E,
            |p, w| {
                p.icp_subject.organize_info.certificate_type = Some(12);
                p.icp_subject.organize_info.certificate_number = "MA5G1234-5".into();
                w.media_mut("M_LICENSE").certificate_type = Some(12);
            },
            hint(F, "icp_subject.organize_info.certificate_number"),
        ),
        c(
            "personal subject with a business licence",
            P,
            |p, _| p.icp_subject.organize_info.certificate_type = Some(1),
            // ... and the number is then checked as a USCC.
            hints(&[
                (X, "icp_subject.organize_info.certificate_type"),
                (F, "icp_subject.organize_info.certificate_number"),
            ]),
        ),
        c(
            "principal with a non-personal certificate type",
            P,
            |p, w| {
                sp(p).certificate_type = Some(12); // 组织机构代码证 (企业)
                w.media_mut("M_SP_FRONT").certificate_type = Some(12);
                w.media_mut("M_SP_BACK").certificate_type = Some(12);
            },
            hints(&[
                (X, "icp_subject.principal_info.certificate_type"),
                // an 18-character number under 组织机构代码证 is read as a USCC
                (F, "icp_subject.principal_info.certificate_number"),
            ]),
        ),
        c(
            "principal with a business licence",
            P,
            |p, _| sp(p).certificate_type = Some(1),
            hints(&[
                (X, "icp_subject.principal_info.certificate_type"),
                // a resident ID is no USCC
                (F, "icp_subject.principal_info.certificate_number"),
                // the ID photos were uploaded as 居民身份证
                (ec::MEDIA_ID_INVALID, "icp_subject.principal_info.certificate_photo_front"),
                (ec::MEDIA_ID_INVALID, "icp_subject.principal_info.certificate_photo_back"),
            ]),
        ),
        c(
            "applet principal with a non-personal certificate type",
            E,
            |p, w| {
                ap(p).certificate_type = Some(6);
                w.media_mut("M_AP_FRONT").certificate_type = Some(6);
                w.media_mut("M_AP_BACK").certificate_type = Some(6);
            },
            hint(X, "icp_applets.principal_info.certificate_type"),
        ),
        c(
            "principal certificate type unknown",
            E,
            |p, w| {
                ap(p).certificate_type = Some(99);
                w.media_mut("M_AP_FRONT").certificate_type = Some(99);
                w.media_mut("M_AP_BACK").certificate_type = Some(99);
            },
            hint(D, "icp_applets.principal_info.certificate_type"),
        ),
        c(
            "principal with 港澳居民居住证 (personal type 41)",
            E,
            |p, w| {
                sp(p).certificate_type = Some(41);
                sp(p).certificate_number = rid("81000019900101123");
                w.media_mut("M_SP_FRONT").certificate_type = Some(41);
                w.media_mut("M_SP_BACK").certificate_type = Some(41);
            },
            Expect::Pass,
        ),
    ]);
}

#[test]
fn personal_subject_is_its_principal() {
    use ec::FIELD_RELATION as X;
    run(vec![
        c(
            "subject certificate number differs from principal's",
            P,
            |p, _| p.icp_subject.organize_info.certificate_number = rid(QIANQI),
            hint(X, "icp_subject.organize_info.certificate_number"),
        ),
        c(
            "subject name differs from principal's",
            P,
            |p, _| p.icp_subject.base_info.name = "李小四".into(),
            hint(X, "icp_subject.base_info.name"),
        ),
        c(
            "subject name is a shop name",
            P,
            |p, _| p.icp_subject.base_info.name = "李四的书店".into(),
            hint(X, "icp_subject.base_info.name"),
        ),
        // Not a personal subject: the name is the organisation's.
        c("enterprise name differs from principal's", E, |_, _| {}, Expect::Pass),
    ]);
}

// ---- the legal representative and authorization letters --------------------------------

#[test]
fn legal_representative_and_authorization() {
    use ec::FIELD_REQUIRED as R;
    run(vec![
        c(
            "authorization letter but no legal person",
            E,
            |p, _| sp(p).authorization_letter = "M_SP_AUTH".into(),
            hint(R, "icp_subject.legal_person_info.name"),
        ),
        c(
            "another legal person, no authorization letter",
            E,
            |p, _| {
                p.icp_subject.legal_person_info =
                    LegalPersonInfo { name: "钱七".into(), certificate_number: rid(QIANQI) }
            },
            hint(R, "icp_subject.principal_info.authorization_letter"),
        ),
        c(
            "another legal person with an authorization letter",
            E,
            |p, _| {
                p.icp_subject.legal_person_info =
                    LegalPersonInfo { name: "钱七".into(), certificate_number: rid(QIANQI) };
                sp(p).authorization_letter = "M_SP_AUTH".into();
            },
            Expect::Pass,
        ),
        c(
            "legal person info naming the principal himself",
            E,
            |p, _| {
                p.icp_subject.legal_person_info =
                    LegalPersonInfo { name: "王五".into(), certificate_number: rid(WANGWU) }
            },
            Expect::Pass,
        ),
        c(
            "legal person without a name",
            E,
            |p, _| {
                p.icp_subject.legal_person_info =
                    LegalPersonInfo { name: String::new(), certificate_number: rid(QIANQI) };
                sp(p).authorization_letter = "M_SP_AUTH".into();
            },
            hint(R, "icp_subject.legal_person_info.name"),
        ),
        c(
            "legal person without a certificate number",
            E,
            |p, _| {
                p.icp_subject.legal_person_info =
                    LegalPersonInfo { name: "钱七".into(), certificate_number: String::new() };
                sp(p).authorization_letter = "M_SP_AUTH".into();
            },
            hint(R, "icp_subject.legal_person_info.certificate_number"),
        ),
        c(
            "applet principal not the legal person, no authorization letter",
            E,
            |p, _| ap(p).authorization_letter.clear(),
            hint(R, "icp_applets.principal_info.authorization_letter"),
        ),
        c(
            "applet principal is the legal person (the principal), no letter needed",
            E,
            |p, w| {
                let wangwu = p.icp_subject.principal_info.clone();
                *ap(p) = PrincipalInfo {
                    certificate_photo_front: "M_AP_FRONT".into(),
                    certificate_photo_back: "M_AP_BACK".into(),
                    verify_task_id: TASK_ID.into(),
                    ..wangwu
                };
                w.mp.admin =
                    Person { name: "王五".into(), id_number: rid(WANGWU), mobile: "13700000000".into() };
            },
            Expect::Pass,
        ),
        c(
            "applet principal is the legal person named in legal_person_info",
            E,
            |p, _| {
                p.icp_subject.legal_person_info =
                    LegalPersonInfo { name: "赵六".into(), certificate_number: rid(ZHAOLIU) };
                sp(p).authorization_letter = "M_SP_AUTH".into();
                ap(p).authorization_letter.clear();
            },
            Expect::Pass,
        ),
        // A person files for himself: there is no legal representative to authorize.
        c("personal filer needs no authorization letter", P, |_, _| {}, Expect::Pass),
        // A person files for himself: the mini program principal is that person too.
        c(
            "personal filer with another person as mini program principal",
            P,
            |p, _| {
                let other = rid(WANGWU);
                sp(p).certificate_number = other.clone();
                sp(p).name = "王五".into();
                sp(p).mobile = "13700000001".into();
                sp(p).emergency_contact = "13700000002".into();
                p.icp_subject.organize_info.certificate_number = other;
                p.icp_subject.base_info.name = "王五".into();
            },
            hint(ec::FIELD_RELATION, "icp_applets.principal_info.certificate_number"),
        ),
    ]);
}

// ---- residence proof ---------------------------------------------------------------------

#[test]
fn residence_proof() {
    const F: &str = "icp_subject.personal_info.residence_permit";
    run(vec![
        c(
            "Beijing ID filing in Guangdong without proof",
            P,
            |p, w| {
                personal_id(p, w, &rid(ZHOUJIU));
            },
            hint(ec::FIELD_REQUIRED, F),
        ),
        c(
            "Beijing ID filing in Guangdong with proof",
            P,
            |p, w| {
                personal_id(p, w, &rid(ZHOUJIU));
                p.icp_subject.personal_info.residence_permit = "M_RESIDENCE".into();
            },
            Expect::Pass,
        ),
        c(
            "Beijing ID filing in Beijing",
            P,
            |p, w| {
                personal_id(p, w, &rid(ZHOUJIU));
                region(p, "110000", "110100", "110105");
            },
            Expect::Pass,
        ),
        c(
            "Guangdong ID filing in 江苏 without proof",
            P,
            |p, _| region(p, "320000", "320100", "320102"),
            hint(ec::FIELD_REQUIRED, F),
        ),
        // 宁夏 wants a local ID (rule table): a residence proof does not help there.
        c(
            "Guangdong ID filing in 宁夏, even with proof",
            P,
            |p, _| {
                region(p, "640000", "640100", "640104");
                p.icp_subject.personal_info.residence_permit = "M_RESIDENCE".into();
            },
            hint(ec::RULE_TABLE, "icp_subject.principal_info.certificate_number"),
        ),
        c(
            "proof uploaded for another field",
            P,
            |p, w| {
                personal_id(p, w, &rid(ZHOUJIU));
                p.icp_subject.personal_info.residence_permit = "M_COMMIT".into();
            },
            hint(ec::MEDIA_ID_INVALID, F),
        ),
        // Enterprises have no residence rule: 王五's Shenzhen ID in 宁夏 is fine.
        c("enterprise in another province", E, |p, _| to_ningxia(p), Expect::Pass),
    ]);
}

// ---- media -------------------------------------------------------------------------------

#[test]
fn media() {
    use ec::MEDIA_ID_INVALID as M;
    run(vec![
        c(
            "unknown media_id",
            P,
            |p, _| sp(p).certificate_photo_front = "NO_SUCH_MEDIA".into(),
            hint(M, "icp_subject.principal_info.certificate_photo_front"),
        ),
        c(
            "media of another appid",
            P,
            |p, _| sp(p).certificate_photo_front = "M_FOREIGN".into(),
            hint(M, "icp_subject.principal_info.certificate_photo_front"),
        ),
        c(
            "the fixture's own upload, now of another appid",
            E,
            |_, w| w.media_mut("M_LICENSE").appid = "wxffffffffffffffff".into(),
            hint(M, "icp_subject.organize_info.certificate_photo"),
        ),
        c(
            "image where the promise video belongs",
            P,
            |p, _| p.icp_materials.promise_video = vec!["M_VIDEO_AS_IMAGE".into()],
            hint(M, "icp_materials.promise_video.0"),
        ),
        c(
            "video for an image field",
            P,
            |p, _| p.icp_materials.commitment_letter = vec!["M_VIDEO".into()],
            hint(M, "icp_materials.commitment_letter.0"),
        ),
        c(
            "video as an ID photo",
            E,
            |p, _| ap(p).certificate_photo_back = "M_VIDEO".into(),
            hint(M, "icp_applets.principal_info.certificate_photo_back"),
        ),
        c(
            "commitment letter as ID front",
            P,
            |p, _| sp(p).certificate_photo_front = "M_COMMIT".into(),
            hint(M, "icp_subject.principal_info.certificate_photo_front"),
        ),
        c(
            "ID photo as authorization letter",
            E,
            |p, _| ap(p).authorization_letter = "M_SP_FRONT".into(),
            hint(M, "icp_applets.principal_info.authorization_letter"),
        ),
        c(
            "commitment letter as pre-approval material",
            P,
            |p, _| p.icp_applets.base_info.nrlx_details = vec![nrlx(3, "粤教-12345号", "M_COMMIT")],
            hint(M, "icp_applets.base_info.nrlx_details.0.media"),
        ),
        c(
            "pre-approval material as a commitment letter",
            P,
            |p, _| p.icp_materials.commitment_letter = vec!["M_NRLX".into()],
            hint(M, "icp_materials.commitment_letter.0"),
        ),
        c(
            "upload's certificate type differs from the principal's",
            P,
            |_, w| w.media_mut("M_SP_FRONT").certificate_type = Some(7),
            hint(M, "icp_subject.principal_info.certificate_photo_front"),
        ),
        c(
            "business licence as an ID photo",
            E,
            |p, _| ap(p).certificate_photo_back = "M_LICENSE".into(),
            hint(M, "icp_applets.principal_info.certificate_photo_back"),
        ),
        c(
            "ID photo as the business licence",
            E,
            |p, _| p.icp_subject.organize_info.certificate_photo = "M_SP_FRONT".into(),
            hint(M, "icp_subject.organize_info.certificate_photo"),
        ),
        c(
            "applet principal reuses the subject principal's ID photos",
            P,
            |p, _| {
                ap(p).certificate_photo_front = "M_SP_FRONT".into();
                ap(p).certificate_photo_back = "M_SP_BACK".into();
            },
            Expect::Pass,
        ),
        c(
            "front and back upload slots are interchangeable",
            P,
            |p, _| {
                sp(p).certificate_photo_front = "M_AP_BACK".into();
                sp(p).certificate_photo_back = "M_AP_FRONT".into();
            },
            Expect::Pass,
        ),
        c(
            "one authorization letter for both principals",
            E,
            |p, _| {
                p.icp_subject.legal_person_info =
                    LegalPersonInfo { name: "钱七".into(), certificate_number: rid(QIANQI) };
                sp(p).authorization_letter = "M_AP_AUTH".into();
            },
            Expect::Pass,
        ),
        c(
            "two materials of the list, both checked",
            E,
            |p, _| p.icp_materials.subject_other_materials = vec!["M_O1".into(), "NO_SUCH_MEDIA".into()],
            hint(M, "icp_materials.subject_other_materials.1"),
        ),
    ]);
}

#[test]
fn materials_counts() {
    use ec::FIELD_LENGTH as L;
    run(vec![
        c(
            "two commitment letters",
            P,
            |p, _| p.icp_materials.commitment_letter = vec!["M_COMMIT".into(), "M_COMMIT2".into()],
            hint(L, "icp_materials.commitment_letter"),
        ),
        c(
            "two promise videos",
            P,
            |p, _| p.icp_materials.promise_video = vec!["M_VIDEO".into(), "M_VIDEO2".into()],
            hint(L, "icp_materials.promise_video"),
        ),
        c(
            "ten other materials",
            E,
            |p, _| {
                p.icp_materials.subject_other_materials =
                    OTHER_MATERIALS[..10].iter().map(|s| s.to_string()).collect()
            },
            Expect::Pass,
        ),
        c(
            "eleven other materials",
            E,
            |p, _| {
                p.icp_materials.subject_other_materials =
                    OTHER_MATERIALS.iter().map(|s| s.to_string()).collect()
            },
            hint(L, "icp_materials.subject_other_materials"),
        ),
    ]);
}

// ---- face verification and the admin ----------------------------------------------------

#[test]
fn face_task() {
    const F: &str = "icp_applets.principal_info.verify_task_id";
    use ec::FACE_TASK_INVALID as T;
    run(vec![
        c("no such task", P, |_, w| w.face = None, hint(T, F)),
        c("task of another appid", P, |_, w| w.face_mut().appid = "wxffffffffffffffff".into(), hint(T, F)),
        c("payload names another task", E, |p, _| ap(p).verify_task_id = "another-task".into(), hint(T, F)),
        c(
            "expired",
            P,
            |_, w| {
                let now = w.now.timestamp();
                w.face_mut().expires_at = now;
            },
            hint(T, F),
        ),
        c(
            "expires in a second",
            P,
            |_, w| {
                let now = w.now.timestamp();
                w.face_mut().expires_at = now + 1;
            },
            Expect::Pass,
        ),
        c(
            "not finished",
            P,
            |_, w| {
                let t = w.face_mut();
                t.is_finish = false;
                t.face_status = FaceStatus::Waiting;
            },
            hint(T, F),
        ),
        c(
            "not started",
            E,
            |_, w| {
                let t = w.face_mut();
                t.is_finish = false;
                t.face_status = FaceStatus::NotStarted;
            },
            hint(T, F),
        ),
        c("failed", P, |_, w| w.face_mut().face_status = FaceStatus::Failed, hint(T, F)),
    ]);
}

#[test]
fn principal_is_the_admin() {
    use ec::PRINCIPAL_NOT_ADMIN as A;
    run(vec![
        c(
            "admin has another certificate number",
            P,
            |_, w| w.mp.admin.id_number = rid(QIANQI),
            hint(A, "icp_applets.principal_info.certificate_number"),
        ),
        c(
            "admin has another name",
            P,
            |_, w| w.mp.admin.name = "李五".into(),
            hint(A, "icp_applets.principal_info.name"),
        ),
        c(
            "enterprise applet principal is the subject principal, not the admin",
            E,
            |p, _| {
                let wangwu = p.icp_subject.principal_info.clone();
                *ap(p) = PrincipalInfo {
                    certificate_photo_front: "M_AP_FRONT".into(),
                    certificate_photo_back: "M_AP_BACK".into(),
                    verify_task_id: TASK_ID.into(),
                    ..wangwu
                };
            },
            hint(A, "icp_applets.principal_info.certificate_number"),
        ),
        c(
            "admin's ID with a lowercase x",
            P,
            |p, w| {
                personal_id(p, w, "11010519491231002X");
                p.icp_subject.personal_info.residence_permit = "M_RESIDENCE".into();
                w.mp.admin.id_number = "11010519491231002x".into();
            },
            Expect::Pass,
        ),
    ]);
}

// ---- the stored subject ------------------------------------------------------------------

#[test]
fn subject_state_and_caps() {
    const F: &str = "icp_subject.organize_info.certificate_number";
    use ec::{SUBJECT_CAP as CAP, SUBJECT_IN_PROGRESS as IP};
    run(vec![
        c("never filed, one in progress", P, |_, w| w.subject = Some(subject(false, 1, 0)), hint(IP, F)),
        c("ever filed, one in progress", P, |_, w| w.subject = Some(subject(true, 1, 1)), Expect::Pass),
        c("never filed, nothing in progress", P, |_, w| w.subject = Some(subject(false, 0, 0)), Expect::Pass),
        c("personal with 4 filed", P, |_, w| w.subject = Some(subject(true, 0, 4)), Expect::Pass),
        c("personal with 5 filed", P, |_, w| w.subject = Some(subject(true, 0, 5)), hint(CAP, F)),
        c(
            "个体工商户 with 4 filed",
            E,
            |p, w| {
                p.icp_subject.organize_info.certificate_number = uscc(USCC_INDIVIDUAL);
                w.subject = Some(subject(true, 0, 4));
            },
            Expect::Pass,
        ),
        c(
            "个体工商户 with 5 filed",
            E,
            |p, w| {
                p.icp_subject.organize_info.certificate_number = uscc(USCC_INDIVIDUAL);
                w.subject = Some(subject(true, 0, 5));
            },
            hint(CAP, F),
        ),
        c("enterprise with 5 filed", E, |_, w| w.subject = Some(subject(true, 0, 5)), Expect::Pass),
        c("enterprise with 49 filed", E, |_, w| w.subject = Some(subject(true, 0, 49)), Expect::Pass),
        c("enterprise with 50 filed", E, |_, w| w.subject = Some(subject(true, 0, 50)), hint(CAP, F)),
        c(
            "caps come from the policy",
            E,
            |_, w| {
                w.policy.cap_organisation = 3;
                w.subject = Some(subject(true, 0, 3));
            },
            hint(CAP, F),
        ),
        c(
            "never filed, in progress and at the cap",
            P,
            |_, w| w.subject = Some(subject(false, 1, 5)),
            hints(&[(IP, F), (CAP, F)]),
        ),
    ]);
}

// ---- request-level refusals --------------------------------------------------------------

#[test]
fn request_refusals() {
    use Expect::Request as Q;
    run(vec![
        c(
            "system not yet open",
            P,
            |_, w| w.policy.system_open_date = date(2026, 3, 3),
            Q(ec::ENTRANCE_NOT_OPEN),
        ),
        c("system opens today", P, |_, w| w.policy.system_open_date = date(2026, 3, 2), Expect::Pass),
        c(
            "opening day starts at midnight Beijing time",
            P,
            |_, w| {
                w.policy.system_open_date = date(2026, 3, 2);
                w.now = Utc.with_ymd_and_hms(2026, 3, 1, 16, 0, 0).single().expect("valid instant");
            },
            Expect::Pass,
        ),
        c(
            "the evening before, Beijing time",
            P,
            |_, w| {
                w.policy.system_open_date = date(2026, 3, 2);
                w.now = Utc.with_ymd_and_hms(2026, 3, 1, 15, 59, 59).single().expect("valid instant");
            },
            Q(ec::ENTRANCE_NOT_OPEN),
        ),
        c("authority outage", E, |_, w| w.policy.authority_outage = true, Q(ec::ENTRANCE_AUTHORITY_DOWN)),
        c(
            "blocklisted keyword",
            P,
            |_, w| w.policy.name_keyword_blocklist = vec!["笔记".into()],
            Q(ec::ENTRANCE_KEYWORD),
        ),
        c(
            "empty keyword ignored",
            P,
            |_, w| w.policy.name_keyword_blocklist = vec![String::new()],
            Expect::Pass,
        ),
        c("other keyword", P, |_, w| w.policy.name_keyword_blocklist = vec!["彩票".into()], Expect::Pass),
        c("not certified", E, |_, w| w.mp.flags.certified = false, Q(ec::ENTRANCE_INFO_MISSING)),
        c("no category", P, |_, w| w.mp.flags.category_filled = false, Q(ec::ENTRANCE_INFO_MISSING)),
        c(
            "nothing ready",
            P,
            |_, w| {
                w.mp.flags =
                    ReadinessFlags { basic_info_filled: false, category_filled: false, certified: false }
            },
            Q(ec::ENTRANCE_INFO_MISSING),
        ),
        // Filing is how a cleared mini program gets listed again: its entrance stays open.
        c("cleared", P, |_, w| w.mp.cleared = true, Expect::Pass),
        c("quota spent", P, |_, w| w.applies_today = w.policy.daily_apply_quota, Q(ec::DAILY_QUOTA)),
        c("quota over-spent", P, |_, w| w.applies_today = w.policy.daily_apply_quota + 1, Q(ec::DAILY_QUOTA)),
        c("one left", P, |_, w| w.applies_today = w.policy.daily_apply_quota - 1, Expect::Pass),
        c(
            "small quota spent",
            E,
            |_, w| {
                w.policy.daily_apply_quota = 3;
                w.applies_today = 3;
            },
            Q(ec::DAILY_QUOTA),
        ),
        c(
            "entrance before quota",
            P,
            |_, w| {
                w.policy.authority_outage = true;
                w.applies_today = w.policy.daily_apply_quota;
            },
            Q(ec::ENTRANCE_AUTHORITY_DOWN),
        ),
        c(
            "refused before any field is read",
            P,
            |p, w| {
                *p = ApplyPayload::default();
                w.applies_today = w.policy.daily_apply_quota;
            },
            Q(ec::DAILY_QUOTA),
        ),
    ]);
}

#[test]
fn daily_quota_is_errcode_45009() {
    assert_eq!(ec::DAILY_QUOTA, 45009);
    let (p, mut w) = fixture(P);
    w.applies_today = w.policy.daily_apply_quota;
    let Err(Refusal::Request { errcode, errmsg }) = w.check(&p) else {
        panic!("quota must refuse the request")
    };
    assert_eq!(errcode, 45009);
    assert!(errmsg.contains("10:00"), "names the reset hour: {errmsg}");
}

// ---- tolerant parsing ----------------------------------------------------------------------

fn parse(body: serde_json::Value) -> ApplyPayload {
    serde_json::from_value(body).expect("a tolerant parser accepts the body")
}

fn clean_json(base: Base) -> serde_json::Value {
    let (p, _) = fixture(base);
    serde_json::to_value(&p).expect("payload serialises")
}

#[test]
fn clean_json_round_trips() {
    for base in [P, E] {
        let (p, w) = fixture(base);
        let parsed = parse(clean_json(base));
        assert_eq!(parsed, p, "{base:?}");
        assert_eq!(w.check(&parsed), Ok(()), "{base:?}");
    }
}

#[test]
fn sloppy_sdk_body_is_the_clean_body() {
    let lisi = rid(LISI);
    let principal = |front: &str, back: &str, task: serde_json::Value| {
        json!({
            "name": "李四", "mobile": 13800000000_u64, "email": "lisi@example.com",
            "emergency_contact": "13900000000",
            "certificate_type": "2",
            "certificate_number": lisi,
            "certificate_validity_date_start": "20200101", "certificate_validity_date_end": "长期",
            "certificate_photo_front": front, "certificate_photo_back": back,
            "authorization_letter": "null",
            "verify_task_id": task,
            "some_new_field": {"nested": [1, 2, 3]},
        })
    };
    let sloppy = json!({
        "icp_subject": {
            "base_info": {
                "type": "5", "name": "李四", "province": 440000, "city": "440300", "district": "440305",
                "address": " 科技园路1号A座101室 ", "comment": null, "record_number": "",
            },
            "personal_info": {"residence_permit": ""},
            "organize_info": {
                "certificate_type": 2, "certificate_number": lisi,
                "certificate_address": "广东省深圳市南山区科技园路1号A座101室",
                "certificate_photo": "null",
            },
            "principal_info": principal("M_SP_FRONT", "M_SP_BACK", json!("")),
            "legal_person_info": {"name": null, "certificate_number": "null"},
        },
        "icp_applets": {
            "base_info": {
                "appid": "", "name": null,
                "service_content_types": ["21", 20],
                "nrlx_details": [{"type": "24", "code": "", "media": null}, null],
                "comment": applet_comment(),
            },
            "principal_info": principal("M_AP_FRONT", "M_AP_BACK", json!(TASK_ID)),
        },
        "icp_materials": {
            "commitment_letter": ["M_COMMIT", "", "null", null],
            "promise_video": "M_VIDEO",
            "business_name_change_letter": [],
            "party_building_confirmation_letter": null,
            "authenticity_responsibility_letter": "",
            "subject_other_materials": [],
            "applets_other_materials": "null",
        },
        "unknown_top_level": true,
    });
    let (clean, w) = fixture(P);
    let parsed = parse(sloppy);
    assert_eq!(parsed, clean);
    assert_eq!(w.check(&parsed), w.check(&clean));
    assert_eq!(w.check(&parsed), Ok(()));
}

#[test]
fn absent_markers_give_the_same_hints_as_absence() {
    // The clean body without the principal's certificate type ...
    let (mut clean, w) = fixture(P);
    clean.icp_subject.principal_info.certificate_type = None;
    let expected = w.check(&clean);
    assert_eq!(
        verify(&expected, &hint(ec::FIELD_REQUIRED, "icp_subject.principal_info.certificate_type")),
        Ok(())
    );
    // ... is what every "absent" spelling of it gives.
    for marker in [json!(null), json!("null"), json!("NULL"), json!(""), json!(0), json!("0")] {
        let mut body = clean_json(P);
        body["icp_subject"]["principal_info"]["certificate_type"] = marker.clone();
        let parsed = parse(body);
        assert_eq!(parsed, clean, "certificate_type = {marker}");
        assert_eq!(w.check(&parsed), expected, "certificate_type = {marker}");
    }
    // A missing key likewise.
    let mut body = clean_json(P);
    body["icp_subject"]["principal_info"].as_object_mut().expect("object").remove("certificate_type");
    assert_eq!(w.check(&parse(body)), expected);
}

#[test]
fn absent_arrays_and_objects() {
    let (clean, w) = fixture(E);
    let mut body = clean_json(E);
    for (k, v) in [
        ("business_name_change_letter", json!([])),
        ("party_building_confirmation_letter", json!(null)),
        ("website_construction_proposal", json!("")),
        ("holding_certificate_photo", json!("null")),
    ] {
        body["icp_materials"][k] = v;
    }
    body["icp_subject"]["legal_person_info"] = json!({});
    body["icp_subject"]["personal_info"] = json!({"residence_permit": null});
    let parsed = parse(body);
    assert_eq!(parsed, clean);
    assert_eq!(w.check(&parsed), Ok(()));
}

/// Optional objects spelled as `null` (most SDKs) or `[]` (PHP's `json_encode` of an empty
/// array). The module doc of `payload` promises `null` and `[]` mean "absent"; `[]` parses
/// (serde reads a struct from an empty sequence) but the nested objects are plain structs
/// without a lenient deserializer, so `null` is a parse error of the whole body.
#[test]
fn absent_objects_spelled_null_or_empty_array() {
    let (clean, w) = fixture(E);
    for marker in [json!(null), json!([])] {
        let mut body = clean_json(E);
        body["icp_subject"]["legal_person_info"] = marker.clone();
        body["icp_subject"]["personal_info"] = marker.clone();
        let parsed: Result<ApplyPayload, _> = serde_json::from_value(body);
        let parsed = parsed.unwrap_or_else(|e| panic!("optional objects = {marker}: {e}"));
        assert_eq!(parsed, clean, "{marker}");
        assert_eq!(w.check(&parsed), Ok(()), "{marker}");
    }
}

#[test]
fn not_a_number_is_a_format_hint() {
    let (_, w) = fixture(E);
    let mut body = clean_json(E);
    body["icp_subject"]["base_info"]["type"] = json!("abc");
    let parsed = parse(body);
    assert_eq!(verify(&w.check(&parsed), &hint(ec::FIELD_FORMAT, "icp_subject.base_info.type")), Ok(()));

    for bad in [json!("abc"), json!(-3), json!(1.5), json!(true), json!([2])] {
        let mut body = clean_json(E);
        body["icp_applets"]["principal_info"]["certificate_type"] = bad.clone();
        let parsed = parse(body);
        let r = w.check(&parsed);
        assert!(
            matches!(&r, Err(Refusal::Hints(hs)) if hs.iter().any(|h| h.errcode == ec::FIELD_FORMAT
                && h.err_field == "icp_applets.principal_info.certificate_type")),
            "certificate_type = {bad}: {r:#?}"
        );
        assert_eq!(
            verify(&r, &hint(ec::FIELD_FORMAT, "icp_applets.principal_info.certificate_type")),
            Ok(()),
            "{bad}"
        );
    }

    // A list item that is not a number.
    let mut body = clean_json(E);
    body["icp_applets"]["base_info"]["service_content_types"] = json!([21, "abc"]);
    let r = w.check(&parse(body));
    assert_eq!(verify(&r, &hint(ec::FIELD_DICT, "icp_applets.base_info.service_content_types.1")), Ok(()));
}

#[test]
fn not_a_string_is_a_format_hint() {
    let (_, w) = fixture(P);
    let mut body = clean_json(P);
    body["icp_subject"]["principal_info"]["email"] = json!({"address": "lisi@example.com"});
    let r = w.check(&parse(body));
    assert_eq!(verify(&r, &hint(ec::FIELD_FORMAT, "icp_subject.principal_info.email")), Ok(()));

    let mut body = clean_json(E);
    body["icp_subject"]["base_info"]["address"] = json!(["科技园路", "2号"]);
    let (_, w) = fixture(E);
    let r = w.check(&parse(body));
    assert_eq!(verify(&r, &hint(ec::FIELD_FORMAT, "icp_subject.base_info.address")), Ok(()));
}

// ---- apply through the planner -------------------------------------------------------------

/// The planner runs the same rules: a valid application is planned, a refused one is not.
#[test]
fn apply_is_planned_with_the_rules_it_checks() {
    use beian_core::calendar::WorkCalendar;
    use beian_core::plan::{plan_apply, ApplyFacts, Env, Facts, PlanError, SubjectWrite};
    let (p, w) = fixture(Base::Personal);
    let env = Env { policy: &w.policy, dict: &w.dict, calendar: WorkCalendar::china() };
    fn facts(w: &World) -> ApplyFacts<'_> {
        ApplyFacts {
            facts: Facts {
                now: w.now,
                mini_program: &w.mp,
                order: None,
                subject: None,
                subject_orders: &[],
                latest: None,
            },
            media: &w.media,
            face_task: w.face.as_ref(),
            applies_today: w.applies_today,
            rules: &w.rules,
        }
    }
    let plan = plan_apply(&p, &facts(&w), "subject-1", &env).expect("a valid application is planned");
    assert_eq!(plan.order.state, beian_core::state::FilingState::PlatformReview);
    assert!(
        matches!(&plan.subject, Some(SubjectWrite::Insert(s)) if s.id == "subject-1" && s.in_progress == 1)
    );
    assert_eq!(plan.claims.len(), 1, "the day's quota is claimed");
    // 2026-03-02 is a Monday; the SLA of the default policy counts working days from it.
    let due = WorkCalendar::china().add_working_days(date(2026, 3, 2), w.policy.platform_review_sla_days);
    assert_eq!(plan.order.review_due_at, Some(beian_core::time::end_of_beijing_day(due)));
    assert_eq!(plan.notice().map(|n| n.kind), Some("apply_submitted"));

    let mut w2 = world(Base::Personal);
    w2.face = None;
    match plan_apply(&p, &facts(&w2), "subject-1", &env) {
        Err(PlanError::Hints(h)) => assert!(!h.is_empty()),
        other => panic!("an application without its face task is refused with hints, got {other:?}"),
    }
}

// ---- the rule table: every seeded row with a passing and a failing case -------------------

/// How the table test builds an application in a row's province.
mod table {
    use super::*;
    use beian_core::dict::District;
    use beian_core::rule_table::{Requirement, RuleRow, Subjects, SCOPE_ALL};
    use beian_core::rules::Hint;

    /// The province a row is tested in: its own, or for a national row the first province
    /// no row is scoped to (so no province row hides or adds to it).
    pub fn province_for<'d>(row: &RuleRow, t: &RuleTable, dict: &'d Dictionaries) -> &'d District {
        let scoped: Vec<&str> = t.rows().iter().map(|r| r.scope.as_str()).collect();
        dict.districts()
            .iter()
            .find(|p| {
                if row.scope == SCOPE_ALL {
                    !scoped.contains(&p.code.to_string().as_str())
                } else {
                    p.code.to_string() == row.scope
                }
            })
            .unwrap_or_else(|| panic!("row {}: no province to test it in", row.id))
    }

    fn address(prov: &District, city: &District) -> String {
        let district = city.sub_list.first().map_or("", |d| d.name.as_str());
        format!("{}{}{}建设路1号", prov.name, city.name, district)
    }

    /// A resident ID issued in the province with two-digit `prefix`.
    pub fn id_from(prefix: &str) -> String {
        rid(&format!("{prefix}0102199201011{}", if prefix == "44" { "23" } else { "45" }))
    }

    /// The valid application of `base`, moved to `prov` (first city, first district), with
    /// an ID issued there for an individual and every optional material uploaded.
    pub fn valid_in(base: Base, prov: &District) -> (ApplyPayload, World) {
        let (mut p, mut w) = fixture(base);
        let city = &prov.sub_list[0];
        region(&mut p, &prov.code.to_string(), &city.code.to_string(), &city.sub_list[0].code.to_string());
        p.icp_subject.base_info.address = "建设路1号".into();
        p.icp_subject.organize_info.certificate_address = address(prov, city);
        if base == Base::Personal {
            personal_id(&mut p, &mut w, &id_from(&prov.code.to_string()[..2]));
        }
        for (name, _, _) in IcpMaterials::default().lists() {
            let id = format!("M_MAT_{name}");
            let field = format!("icp_materials.{name}");
            let mut meta = w.media["M_COMMIT"].clone();
            meta.media_id = id.clone();
            meta.icp_order_field = field;
            if name == "promise_video" {
                continue;
            }
            w.media.insert(id.clone(), meta);
            set_material(&mut p, name, vec![id]);
        }
        (p, w)
    }

    pub fn set_material(p: &mut ApplyPayload, name: &str, value: Vec<String>) {
        let m = &mut p.icp_materials;
        let list = match name {
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
            other => panic!("unknown materials list {other}"),
        };
        *list = value;
    }

    /// Choose `services` and bring the pre-approvals every applicable row then asks for.
    pub fn choose_services(p: &mut ApplyPayload, w: &World, services: &[u32]) {
        p.icp_applets.base_info.service_content_types = services.to_vec();
        let personal = p.icp_subject.base_info.subject_type == Some(5);
        let mut details = Vec::new();
        for r in w.rules.applicable(&p.icp_subject.base_info.province, personal) {
            if let Requirement::PreApproval { service_content_types, nrlx_types } = &r.require {
                let wanted = nrlx_types[0];
                if service_content_types.iter().any(|s| services.contains(s))
                    && !details.iter().any(|d: &NrlxDetail| d.nrlx_type == Some(wanted))
                {
                    let media = if details.is_empty() { "M_NRLX" } else { "M_NRLX2" };
                    details.push(nrlx(wanted, "审批号2026-001", media));
                }
            }
        }
        if !details.is_empty() {
            p.icp_applets.base_info.nrlx_details = details;
        }
    }

    /// A change to an application and its world.
    pub type Change = Box<dyn Fn(&mut ApplyPayload, &mut World)>;

    /// The case a row is tested with: (base, pass mutation, fail mutation, expected hint).
    pub struct RowCase {
        pub base: Base,
        pub pass: Change,
        pub fail: Change,
        pub expect: Hint,
    }

    pub fn case_for(row: &RuleRow, prov: &District, today: NaiveDate) -> RowCase {
        let prefix = prov.code.to_string()[..2].to_string();
        let foreign_prefix = if prefix == "44" { "11" } else { "44" }.to_string();
        let hint =
            |errcode: i64, field: &str, errmsg: String| Hint { errcode, errmsg, err_field: field.into() };
        let base = match (row.subjects, &row.require) {
            (_, Requirement::ResidenceProof | Requirement::LocalId) | (Subjects::Personal, _) => {
                Base::Personal
            }
            _ => Base::Enterprise,
        };
        match row.require.clone() {
            Requirement::ValidityMonths { months } => {
                let min_end = today.checked_add_months(chrono::Months::new(months)).expect("date");
                let end =
                    move |days: i64| (min_end + chrono::Duration::days(days)).format("%Y%m%d").to_string();
                let msg = row
                    .hint
                    .replace("{months}", &months.to_string())
                    .replace("{date}", &min_end.format("%Y年%m月%d日").to_string());
                RowCase {
                    base,
                    pass: Box::new(move |p, _| sp(p).certificate_validity_date_end = end(0)),
                    fail: Box::new(move |p, _| sp(p).certificate_validity_date_end = end(-1)),
                    expect: hint(
                        ec::CERT_VALIDITY,
                        "icp_subject.principal_info.certificate_validity_date_end",
                        msg,
                    ),
                }
            }
            Requirement::ResidenceProof => {
                let (fp, fp2) = (foreign_prefix.clone(), foreign_prefix);
                RowCase {
                    base,
                    pass: Box::new(move |p, w| {
                        personal_id(p, w, &id_from(&fp));
                        p.icp_subject.personal_info.residence_permit = "M_RESIDENCE".into();
                    }),
                    fail: Box::new(move |p, w| personal_id(p, w, &id_from(&fp2))),
                    expect: hint(
                        ec::FIELD_REQUIRED,
                        "icp_subject.personal_info.residence_permit",
                        row.hint.clone(),
                    ),
                }
            }
            Requirement::LocalId => RowCase {
                base,
                // The baseline already files with a local ID.
                pass: Box::new(|_, _| {}),
                fail: Box::new(move |p, w| {
                    personal_id(p, w, &id_from(&foreign_prefix));
                    p.icp_subject.personal_info.residence_permit = "M_RESIDENCE".into();
                }),
                expect: hint(
                    ec::RULE_TABLE,
                    "icp_subject.principal_info.certificate_number",
                    row.hint.clone(),
                ),
            },
            Requirement::SameCity => {
                let (p0, c0, c1) = (prov.clone(), prov.sub_list[0].clone(), prov.sub_list[1].clone());
                let msg = row.hint.replace("{city}", &c0.name);
                RowCase {
                    base,
                    pass: Box::new(move |p, _| {
                        // A district of the city is enough.
                        p.icp_subject.organize_info.certificate_address =
                            format!("{}建设路1号", c0.sub_list[0].name);
                    }),
                    fail: Box::new(move |p, _| {
                        p.icp_subject.organize_info.certificate_address = address(&p0, &c1);
                    }),
                    expect: hint(ec::RULE_TABLE, "icp_subject.organize_info.certificate_address", msg),
                }
            }
            Requirement::MaxInProgress { max } => {
                let with = move |w: &mut World, in_progress: u32| {
                    let mut s = subject(true, in_progress, 1);
                    s.subject_type = 4;
                    w.subject = Some(s);
                };
                RowCase {
                    base,
                    pass: Box::new(move |_, w| with(w, max - 1)),
                    fail: Box::new(move |_, w| with(w, max)),
                    expect: hint(
                        ec::RULE_TABLE,
                        "icp_subject.organize_info.certificate_number",
                        row.hint.replace("{max}", &max.to_string()),
                    ),
                }
            }
            Requirement::Material { material, first_filing_only, service_content_types } => {
                let services = service_content_types.clone();
                let (m, services2) = (material.clone(), services.clone());
                RowCase {
                    base,
                    pass: Box::new(move |p, w| {
                        if !services.is_empty() {
                            choose_services(p, w, &services);
                        }
                    }),
                    fail: Box::new(move |p, w| {
                        if !services2.is_empty() {
                            choose_services(p, w, &services2);
                        }
                        if first_filing_only {
                            w.subject = None;
                        }
                        set_material(p, &m, Vec::new());
                    }),
                    expect: hint(ec::RULE_TABLE, &format!("icp_materials.{material}"), row.hint.clone()),
                }
            }
            Requirement::PreApproval { service_content_types, .. } => {
                let (s1, s2) = (service_content_types.clone(), service_content_types);
                RowCase {
                    base,
                    pass: Box::new(move |p, w| choose_services(p, w, &s1[..1])),
                    fail: Box::new(move |p, _| {
                        p.icp_applets.base_info.service_content_types = vec![s2[0]];
                        p.icp_applets.base_info.nrlx_details =
                            vec![NrlxDetail { nrlx_type: Some(24), ..NrlxDetail::default() }];
                    }),
                    expect: hint(ec::RULE_TABLE, "icp_applets.base_info.nrlx_details", row.hint.clone()),
                }
            }
        }
    }
}

/// Every row of the built-in table has a passing and a failing case: the failing one
/// answers exactly the row's hint (its errcode, field and text); the passing one passes
/// every rule.
#[test]
fn every_seeded_rule_row_passes_and_fails() {
    let t = RuleTable::builtin();
    let dict = Dictionaries::builtin();
    let today = date(2026, 3, 2);
    let mut failures = Vec::new();
    for row in t.rows() {
        let prov = table::province_for(row, &t, &dict);
        let case = table::case_for(row, prov, today);
        let (mut p, mut w) = table::valid_in(case.base, prov);
        (case.pass)(&mut p, &mut w);
        if let Err(r) = w.check(&p) {
            failures.push(format!("row {} in {}: the passing case is refused: {r:#?}", row.id, prov.name));
        }
        let (mut p, mut w) = table::valid_in(case.base, prov);
        (case.fail)(&mut p, &mut w);
        match w.check(&p) {
            Err(Refusal::Hints(h)) if h == vec![case.expect.clone()] => {}
            other => failures.push(format!(
                "row {} in {}: the failing case should answer only {:?}, got {other:#?}",
                row.id, prov.name, case.expect
            )),
        }
    }
    assert!(failures.is_empty(), "{} of {} rows:\n{}", failures.len(), t.rows().len(), failures.join("\n"));
    assert!(t.rows().len() >= 20, "the seed has {} rows", t.rows().len());
}

/// A subject's later filings in 新疆 need no 党建 letter again (first filing only).
#[test]
fn first_filing_only_material_is_not_asked_again() {
    let t = RuleTable::builtin();
    let dict = Dictionaries::builtin();
    let row = t.rows().iter().find(|r| r.id == "xinjiang-party-building").expect("the seed has the row");
    let prov = table::province_for(row, &t, &dict);
    let (mut p, mut w) = table::valid_in(Base::Enterprise, prov);
    table::set_material(&mut p, "party_building_confirmation_letter", Vec::new());
    assert!(w.check(&p).is_err(), "a first filing needs it");
    let mut s = subject(true, 0, 1);
    s.subject_type = 4;
    w.subject = Some(s);
    assert_eq!(w.check(&p), Ok(()), "a subject filed before does not");
}

/// A table without a validity row asks for no minimum; the engine reads only the table.
#[test]
fn the_engine_reads_the_table_not_code() {
    let dict = Dictionaries::builtin();
    let json = r#"[{"id":"only-news","scope":"all","require":{"kind":"pre_approval","service_content_types":[13],"nrlx_types":[1]},
        "hint":"新闻须前置审批","source":"test","as_of":"2026-12-01"}]"#;
    let t = RuleTable::from_json(json, &dict, 7).expect("valid table");
    let (mut p, mut w) = fixture(Base::Enterprise);
    w.rules = t;
    to_ningxia(&mut p);
    p.icp_subject.organize_info.certificate_address = "宁夏回族自治区银川市兴庆区解放西街1号".into();
    sp(&mut p).certificate_validity_date_end = "20260402".into(); // one month left
    assert_eq!(w.check(&p), Ok(()), "no validity row, no minimum");
    p.icp_applets.base_info.service_content_types = vec![13];
    match w.check(&p) {
        Err(Refusal::Hints(h)) => {
            assert_eq!(h.len(), 1);
            assert_eq!(h[0].errmsg, "新闻须前置审批");
        }
        other => panic!("{other:?}"),
    }
}
