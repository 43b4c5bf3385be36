//! Certificate-number formats of every certificate type (`ident::check_certificate_number`),
//! as tables: one per format, valid and invalid rows with the error each must give. The
//! formats and their sources are in docs/identity-numbers.md.

use beian_core::dict::Dictionaries;
use beian_core::ident::{
    age_on, check_certificate_number, check_org_code, check_principal_age, org_code_check_char,
    resident_id_check_char, IdFormat, IdentError,
};
use chrono::NaiveDate;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap_or_else(|| panic!("bad test date {y}-{m}-{day}"))
}

/// The day the tables are checked on (Beijing).
fn today() -> NaiveDate {
    d(2026, 3, 2)
}

/// A GB 11643 number from its 17 leading digits.
fn gb(body17: &str) -> String {
    format!("{body17}{}", resident_id_check_char(body17).expect("17 digits"))
}

/// The same 17 digits with a wrong check character.
fn bad_gb(body17: &str) -> String {
    let good = resident_id_check_char(body17).expect("17 digits");
    format!("{body17}{}", if good == '0' { '1' } else { '0' })
}

/// `Ok(normalised number)` or the error a row expects.
type Want = Result<String, IdentError>;

fn run(format: IdFormat, rows: &[(String, Want)]) {
    let mut failures = Vec::new();
    for (input, want) in rows {
        let got = check_certificate_number(format, input, today());
        let ok = match (&got, want) {
            (Ok(n), Ok(number)) => n.number == *number && n.format == format,
            (Err(e), Err(w)) => e == w,
            _ => false,
        };
        if !ok {
            failures.push(format!("{format:?} {input:?}: want {want:?}, got {got:?}"));
        }
        if let Err(e) = &got {
            let msg = e.to_string();
            if !msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
                failures.push(format!("{format:?} {input:?}: error without Chinese: {msg}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} rows failed:\n{}", failures.len(), failures.join("\n"));
}

fn row(input: &str, want: Want) -> (String, Want) {
    (input.to_string(), want)
}

#[test]
fn hong_kong_macau_permit() {
    use IdentError::{HkMacauPermit as Bad, HkMacauPermitRenewalCount as Count};
    let kind = "港澳居民来往内地通行证";
    run(
        IdFormat::HkMacauPermit,
        &[
            row("H12345678", Ok("H12345678".to_string())),
            row("M87654321", Ok("M87654321".to_string())),
            row("h12345678", Ok("H12345678".to_string())),
            row("H1234567", Err(Bad)),
            row("H123456789", Err(Bad)),
            row("H1234567801", Err(Count)),
            row("K12345678", Err(Bad)),
            row("12345678", Err(Bad)),
            row("HA2345678", Err(Bad)),
            row("Ｈ12345678", Err(Bad)),
            row("H 2345678", Err(IdentError::NumberWhitespace { kind })),
            row("", Err(IdentError::NumberEmpty { kind })),
        ],
    );
}

#[test]
fn taiwan_permit() {
    use IdentError::{TaiwanPermit as Bad, TaiwanPermitBooklet as Booklet};
    run(
        IdFormat::TaiwanPermit,
        &[
            row("12345678", Ok("12345678".to_string())),
            row("00000001", Ok("00000001".to_string())),
            row("1234567", Err(Bad)),
            row("123456789", Err(Bad)),
            row("A1234567", Err(Bad)),
            row("1234567890", Err(Booklet)),
            row("12345678(B)", Err(Booklet)),
            row("1234567-8", Err(Bad)),
        ],
    );
}

#[test]
fn hong_kong_macau_residence_permit() {
    let kind = "港澳居民居住证";
    let region =
        IdentError::ResidencePermitRegion { kind, prefixes: "810000（香港）或820000（澳门）" };
    let hk = gb("81000019900101123");
    let mo = gb("82000019851231002");
    let lower_x = {
        // a body whose check character is X, written in lowercase
        let body = (0..1000)
            .map(|i| format!("810000199001{:02}{:03}", 1 + i % 28, i))
            .find(|b| resident_id_check_char(b) == Some('X'))
            .expect("some body has check character X");
        format!("{body}x")
    };
    let upper_x = lower_x.to_uppercase();
    run(
        IdFormat::HkMacauResidencePermit,
        &[
            (hk.clone(), Ok(hk.clone())),
            (mo.clone(), Ok(mo.clone())),
            (lower_x, Ok(upper_x)),
            (gb("83000019900101123"), Err(region.clone())),
            (gb("44030519900101123"), Err(region)),
            (bad_gb("81000019900101123"), Err(IdentError::NumberChecksum { kind })),
            (gb("81000019900230123"), Err(IdentError::NumberBirthDate { kind })),
            (gb("81000020300101123"), Err(IdentError::BirthDateInFuture { kind })),
            row("81000019900101123", Err(IdentError::NumberLength { kind, found: 17 })),
            row("81000019900101123A", Err(IdentError::NumberCharacter { kind })),
        ],
    );
}

#[test]
fn taiwan_residence_permit() {
    let kind = "台湾居民居住证";
    let tw = gb("83000019900101123");
    run(
        IdFormat::TaiwanResidencePermit,
        &[
            (tw.clone(), Ok(tw)),
            (
                gb("81000019900101123"),
                Err(IdentError::ResidencePermitRegion { kind, prefixes: "830000（台湾）" }),
            ),
            (bad_gb("83000019900101123"), Err(IdentError::NumberChecksum { kind })),
        ],
    );
}

#[test]
fn foreign_permanent_residence_id() {
    let kind = "外国人永久居留身份证";
    // 2023 edition: 9, then digits in the resident ID's layout, MOD 11-2 check.
    let new = gb("91184019850101123");
    run(
        IdFormat::ForeignPermanentResidence,
        &[
            row("USA310085010101", Ok("USA310085010101".to_string())),
            row("usa310085010101", Ok("USA310085010101".to_string())),
            row("US1310085010101", Err(IdentError::ForeignPermanentResidenceOld)),
            row("USA31008501010A", Err(IdentError::ForeignPermanentResidenceOld)),
            (new.clone(), Ok(new)),
            (gb("11010519850101123"), Err(IdentError::ForeignPermanentResidenceStart)),
            (bad_gb("91184019850101123"), Err(IdentError::NumberChecksum { kind })),
            (gb("91184020400101123"), Err(IdentError::BirthDateInFuture { kind })),
            row("USA3100850101", Err(IdentError::ForeignPermanentResidence)),
            row("9118401985010112345", Err(IdentError::ForeignPermanentResidence)),
        ],
    );
}

#[test]
fn passport() {
    run(
        IdFormat::Passport,
        &[
            // Chinese ordinary passports: E + 8 digits, E + letter + 7 digits, G + 8 digits.
            row("E12345678", Ok("E12345678".to_string())),
            row("EA1234567", Ok("EA1234567".to_string())),
            row("G12345678", Ok("G12345678".to_string())),
            // Foreign passports: 5–17 letters and digits.
            row("123456789", Ok("123456789".to_string())),
            row("c01x00t47", Ok("C01X00T47".to_string())),
            row("A1234", Ok("A1234".to_string())),
            row("A1234567890123456", Ok("A1234567890123456".to_string())),
            row("A123", Err(IdentError::Passport)),
            row("A12345678901234567", Err(IdentError::Passport)),
            row("E1234-5678", Err(IdentError::Passport)),
            row("Ｅ12345678", Err(IdentError::Passport)),
        ],
    );
}

#[test]
fn organization_code() {
    use IdentError::{OrgCodeCharacter as Char, OrgCodeChecksum as Sum, OrgCodeLength as Len};
    let uscc = "91350100M000100Y43";
    run(
        IdFormat::OrganizationCode,
        &[
            row("D2143569-X", Ok("D2143569X".to_string())),
            row("D2143569X", Ok("D2143569X".to_string())),
            row("d2143569-x", Ok("D2143569X".to_string())),
            row("MA5G1234-3", Ok("MA5G12343".to_string())),
            row("12345604-0", Ok("123456040".to_string())),
            row("12345678-8", Ok("123456788".to_string())),
            row("12345678-9", Err(Sum)),
            row("D2143569-0", Err(Sum)),
            row("1234567-8", Err(Char)),
            row("123456788X", Err(Len { found: 10 })),
            row("1234567-88", Err(Len { found: 10 })),
            row("1234567*8", Err(Char)),
            row("12345678-A", Err(Char)),
            // After 三证合一 the USCC carries the code (characters 9–17).
            row(uscc, Ok(uscc.to_string())),
            row("91350100M000100Y44", Err(IdentError::UsccChecksum)),
        ],
    );
    assert_eq!(org_code_check_char("D2143569"), Some('X'));
    assert_eq!(org_code_check_char("12345604"), Some('0'));
    assert_eq!(check_org_code("M000100Y-4"), Ok("M000100Y4".to_string()), "the USCC's embedded code");
}

#[test]
fn resident_id_birth_date_is_not_in_the_future() {
    let kind = IdFormat::ResidentId;
    let yesterday = gb("11010520260301001");
    run(
        kind,
        &[
            (yesterday.clone(), Ok(yesterday)),
            (gb("11010520260302001"), Ok(gb("11010520260302001"))),
            (gb("11010520260303001"), Err(IdentError::BirthDateInFuture { kind: "身份证" })),
            (gb("11010520990101001"), Err(IdentError::BirthDateInFuture { kind: "身份证" })),
            (bad_gb("11010519900307001"), Err(IdentError::ResidentIdChecksum)),
            (gb("11010519900230001"), Err(IdentError::ResidentIdBirthDate)),
            row("", Err(IdentError::ResidentIdEmpty)),
        ],
    );
}

#[test]
fn principal_age_bounds() {
    let t = today();
    let cases: [(NaiveDate, NaiveDate, Result<(), IdentError>); 8] = [
        (d(2008, 3, 2), t, Ok(())),
        (d(2008, 3, 3), t, Err(IdentError::TooYoung { min: 18 })),
        (d(2020, 1, 1), t, Err(IdentError::TooYoung { min: 18 })),
        (d(1906, 3, 2), t, Ok(())),
        (d(1905, 3, 3), t, Ok(())),
        (d(1905, 3, 2), t, Err(IdentError::TooOld { max: 120 })),
        // Born on 29 February: of age on 1 March in a common year.
        (d(2008, 2, 29), d(2026, 2, 28), Err(IdentError::TooYoung { min: 18 })),
        (d(2008, 2, 29), d(2026, 3, 1), Ok(())),
    ];
    for (birth, on, want) in cases {
        assert_eq!(check_principal_age(birth, on), want, "born {birth} on {on}");
    }
    assert_eq!(age_on(d(2008, 3, 2), t), 18);
    assert_eq!(age_on(d(2008, 3, 3), t), 17);
}

/// Every personal certificate type of the built-in dictionary has a format of its own;
/// organisation codes and USCC-based types are recognised by name.
#[test]
fn every_personal_certificate_type_has_a_format() {
    let dict = Dictionaries::builtin();
    let personal = dict.personal_subject_type_id();
    for c in dict.certificate_types() {
        let f = IdFormat::of_certificate_name(&c.name);
        if Some(c.subject_type) == personal {
            assert_ne!(f, IdFormat::Other, "{} ({}) has no format", c.name, c.type_id);
        }
        if c.name.contains("组织机构代码证") {
            assert_eq!(f, IdFormat::OrganizationCode, "{}", c.name);
        }
    }
    let names = [
        ("居民身份证", IdFormat::ResidentId),
        ("护照", IdFormat::Passport),
        ("港澳居民来往内地通行证", IdFormat::HkMacauPermit),
        ("台湾居民来往大陆通行证", IdFormat::TaiwanPermit),
        ("港澳居民居住证", IdFormat::HkMacauResidencePermit),
        ("台湾居民居住证", IdFormat::TaiwanResidencePermit),
        ("外国人永久居留身份证", IdFormat::ForeignPermanentResidence),
        ("营业执照（个人或企业）", IdFormat::Uscc),
        ("统一社会信用代码证书", IdFormat::Uscc),
        ("部队代号", IdFormat::Other),
    ];
    for (name, want) in names {
        assert_eq!(IdFormat::of_certificate_name(name), want, "{name}");
    }
}
