//! Test data defined once: images, identities (valid resident ID numbers, mobiles), a ready
//! mini program, the start time of every moved clock, and the JSON of valid applications.
//! Pure data: nothing here touches a service or the network.

use beian_core::state::ReadinessFlags;
use beian_service::MiniProgramInput;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

/// The smallest JFIF JPEG header the media checks accept (SOI, APP0 "JFIF", EOI).
pub const JPEG: &[u8] =
    &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9];

/// A JPEG that is only its start and end markers (4 bytes).
pub const JPEG_MARKERS: &[u8] = &[0xFF, 0xD8, 0xFF, 0xD9];

/// The PNG signature (8 bytes).
pub const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Monday 2026-03-02 10:00 Beijing time: where every test's moved clock starts.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().expect("valid time")
}

/// `body17` (17 digits) with its GB 11643 check character.
pub fn with_check_char(body17: &str) -> String {
    let check = beian_core::ident::resident_id_check_char(body17).expect("17 digits");
    format!("{body17}{check}")
}

/// A resident ID number with a correct check character from its parts (region, birth date
/// `YYYYMMDD`, sequence).
pub fn resident_id_of(region: &str, birth: &str, seq: &str) -> String {
    let body = format!("{region}{birth}{seq}");
    assert_eq!(body.len(), 17, "region + birth + sequence are 17 digits");
    with_check_char(&body)
}

/// Person `n`'s resident ID number: Shenzhen Nanshan, born 1990-01-01, sequence `100 + n`
/// (`n` < 900).
pub fn resident_id(n: u32) -> String {
    resident_id_of("440305", "19900101", &format!("{:03}", 100 + n))
}

/// Person `n`'s mobile number (`138…`).
pub fn mobile(n: u32) -> String {
    format!("138{:08}", 10_000_000 + n)
}

/// Person `n`'s emergency contact (`139…`).
pub fn emergency_mobile(n: u32) -> String {
    format!("139{:08}", 10_000_000 + n)
}

/// A Unified Social Credit Code with a correct check character (GB 32100).
pub fn uscc(body17: &str) -> String {
    const A: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const W: [usize; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    let sum: usize = body17.chars().zip(W).map(|(c, w)| A.find(c).expect("uscc char") * w).sum();
    format!("{body17}{}", A.as_bytes()[(31 - sum % 31) % 31] as char)
}

/// A person as an application names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub id_number: String,
    pub mobile: String,
    pub emergency: String,
    pub email: String,
}

impl Identity {
    /// Admin `n`: 管理员n with [`resident_id`], [`mobile`], [`emergency_mobile`] and
    /// `admin{n}@example.com`.
    pub fn admin(n: u32) -> Identity {
        Identity {
            name: format!("管理员{n}"),
            id_number: resident_id(n),
            mobile: mobile(n),
            emergency: emergency_mobile(n),
            email: format!("admin{n}@example.com"),
        }
    }

    pub fn named(mut self, name: impl Into<String>) -> Identity {
        self.name = name.into();
        self
    }

    pub fn with_email(mut self, email: impl Into<String>) -> Identity {
        self.email = email.into();
        self
    }
}

/// A listed mini program, ready to file (basic info, category, certified), whose admin is
/// `admin` and which has no owner account.
pub fn mini_program(appid: &str, name: &str, admin: &Identity) -> MiniProgramInput {
    mini_program_of(appid, name, &admin.name, &admin.id_number, &admin.mobile)
}

/// [`mini_program`] from the admin's name, ID number and mobile.
pub fn mini_program_of(
    appid: &str,
    name: &str,
    admin_name: &str,
    id_number: &str,
    mobile: &str,
) -> MiniProgramInput {
    MiniProgramInput {
        appid: appid.into(),
        name: name.into(),
        admin_name: admin_name.into(),
        admin_id_number: id_number.into(),
        admin_mobile: mobile.into(),
        flags: ReadinessFlags { basic_info_filled: true, category_filled: true, certified: true },
        listed: true,
        owner: String::new(),
    }
}

/// The uploaded materials and finished face task a personal application refers to.
#[derive(Debug, Clone)]
pub struct Materials {
    /// Media id of the ID card's front.
    pub front: String,
    /// Media id of the ID card's back.
    pub back: String,
    /// A finished face-verification task.
    pub task: String,
}

/// The default description of a personal mini program's service.
pub const PERSONAL_COMMENT: &str = "本小程序提供读书笔记记录、书单整理与阅读进度管理服务，不涉及交易。";

/// The description of the enterprise sample's service.
pub const ENTERPRISE_COMMENT: &str =
    "本小程序为企业招聘与生活缴费服务工具，提供职位浏览、简历投递与水电缴费提醒等服务。";

/// A principal (负责人) with an ID card valid from 2020-01-01 until `valid_until`
/// (`YYYYMMDD` or `长期`) and the media ids of its photos.
pub fn principal(p: &Identity, valid_until: &str, front: &str, back: &str) -> Value {
    json!({
        "name": p.name, "mobile": p.mobile, "email": p.email,
        "emergency_contact": p.emergency, "certificate_type": 2, "certificate_number": p.id_number,
        "certificate_validity_date_start": "20200101", "certificate_validity_date_end": valid_until,
        "certificate_photo_front": front, "certificate_photo_back": back
    })
}

/// A complete, valid personal (个人) application (applyIcpFiling body) where `p` is subject,
/// principal and admin, in Shenzhen Nanshan, with [`PERSONAL_COMMENT`].
pub fn personal_application(p: &Identity, m: &Materials) -> Value {
    let principal = principal(p, "长期", &m.front, &m.back);
    let mut applet_principal = principal.clone();
    applet_principal["verify_task_id"] = m.task.clone().into();
    json!({
        "icp_subject": {
            "base_info": {"type": 5, "name": p.name, "province": "440000", "city": "440300",
                          "district": "440305", "address": "科技园路1号A座101室"},
            "organize_info": {"certificate_type": 2, "certificate_number": p.id_number,
                              "certificate_address": "广东省深圳市南山区科技园路1号A座101室"},
            "principal_info": principal
        },
        "icp_applets": {
            "base_info": {"service_content_types": [1], "nrlx_details": [{"type": 24}],
                          "comment": PERSONAL_COMMENT},
            "principal_info": applet_principal
        },
        "icp_materials": {}
    })
}

/// What an enterprise (企业) application names besides its principals.
#[derive(Debug, Clone)]
pub struct Enterprise<'a> {
    /// The company's name.
    pub name: &'a str,
    /// Its Unified Social Credit Code.
    pub uscc: &'a str,
    /// Media id of its business licence.
    pub licence: &'a str,
    /// Media id of the admin's authorization letter.
    pub letter: &'a str,
    /// A finished face-verification task of the admin.
    pub task: &'a str,
}

/// A valid enterprise application in Shenzhen Nanshan: `legal` (a [`principal`]) is the
/// subject's principal, `admin` (a [`principal`]) the mini program's, with the letter and task.
pub fn enterprise_application(e: &Enterprise<'_>, legal: Value, admin: Value) -> Value {
    let mut ap = admin;
    ap["verify_task_id"] = e.task.into();
    ap["authorization_letter"] = e.letter.into();
    json!({
        "icp_subject": {
            "base_info": {"type": 4, "name": e.name, "province": "440000", "city": "440300",
                          "district": "440305", "address": "科技园路2号B座"},
            "organize_info": {"certificate_type": 1, "certificate_number": e.uscc,
                              "certificate_address": "深圳市南山区科技园路2号B座", "certificate_photo": e.licence},
            "principal_info": legal
        },
        "icp_applets": {
            "base_info": {"service_content_types": [1, 2], "nrlx_details": [{"type": 24}],
                          "comment": ENTERPRISE_COMMENT},
            "principal_info": ap
        },
        "icp_materials": {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_valid() {
        for n in [0, 1, 31, 899] {
            assert!(beian_core::ident::ResidentId::parse(&resident_id(n)).is_ok(), "{n}");
            assert!(
                beian_core::ident::is_mobile(&mobile(n))
                    && beian_core::ident::is_mobile(&emergency_mobile(n))
            );
        }
        assert!(beian_core::ident::check_uscc(&uscc("91440300MA5F00001")).is_ok());
    }
}
