//! Tests of the identity and format checks. The resident ID and USCC checks
//! are compared with an independent oracle, python-stdnum, through a fixture
//! made by scripts/gen-ident-fixtures.

use beian_core::ident::{
    check_uscc, is_email, is_mobile, parse_validity_end, parse_yyyymmdd, IdentError, ResidentId, ValidityEnd,
};
use chrono::NaiveDate;

/// Generated numbers with python-stdnum's verdict.
const STDNUM: &str = include_str!("data/stdnum-fixtures.txt");

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap_or_else(|| panic!("bad test date {y}-{m}-{day}"))
}

/// Does our error correspond to stdnum's exception name?
fn ric_error_matches(err: &IdentError, stdnum: &str) -> bool {
    matches!(
        (err, stdnum),
        (IdentError::ResidentIdChecksum, "InvalidChecksum")
            | (IdentError::ResidentIdBirthDate, "InvalidComponent")
            | (IdentError::ResidentIdLength { .. }, "InvalidLength")
            | (IdentError::ResidentIdCharacter, "InvalidFormat")
    )
}

fn uscc_error_matches(err: &IdentError, stdnum: &str) -> bool {
    matches!(
        (err, stdnum),
        (IdentError::UsccChecksum, "InvalidChecksum")
            | (IdentError::UsccLength { .. }, "InvalidLength")
            | (IdentError::UsccCharacter { .. }, "InvalidFormat")
            | (IdentError::UsccRegion, "InvalidFormat")
    )
}

#[test]
fn agrees_with_python_stdnum_on_every_fixture_line() {
    let mut checked = 0;
    let mut valid = 0;
    let mut failures = Vec::new();
    for line in STDNUM.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let [kind, number, verdict] = fields[..] else {
            panic!("bad fixture line {line:?}");
        };
        let result = match kind {
            "ric" => ResidentId::parse(number).map(|id| {
                assert_eq!(id.as_str(), number.to_uppercase());
            }),
            "uscc" => check_uscc(number),
            other => panic!("bad fixture kind {other:?}"),
        };
        let agrees = match (&result, verdict) {
            (Ok(()), "valid") => true,
            (Err(e), v) if kind == "ric" => ric_error_matches(e, v),
            (Err(e), v) => uscc_error_matches(e, v),
            (Ok(()), _) => false,
        };
        if !agrees {
            failures.push(format!("{line}: ours {result:?}"));
        }
        checked += 1;
        if verdict == "valid" {
            valid += 1;
        }
    }
    assert!(failures.is_empty(), "disagreements: {failures:#?}");
    assert!(checked >= 400, "fixture too small: {checked}");
    assert!(valid >= 100 && checked - valid >= 100, "valid {valid} of {checked}");
}

#[test]
fn resident_id_valid_samples() {
    // The example of GB 11643-1999.
    let id = ResidentId::parse("11010519491231002X").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(id.as_str(), "11010519491231002X");
    assert_eq!(id.region_code(), "110105");
    assert_eq!(id.province_code(), "110000");
    assert_eq!(id.birth_date(), d(1949, 12, 31));

    // Lowercase x is accepted and normalised.
    let id = ResidentId::parse("11010519491231002x").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(id.as_str(), "11010519491231002X");
    assert_eq!(id.to_string(), "11010519491231002X");

    let id = ResidentId::parse("440524198001010013").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(id.province_code(), "440000");
    assert_eq!(id.birth_date(), d(1980, 1, 1));
    assert_eq!(with_check("11010519491231002"), "11010519491231002X");
    // 1900-01-01 is the earliest accepted birth date.
    assert!(ResidentId::parse(&with_check("11010519000101002")).is_ok());
}

#[test]
fn resident_id_errors() {
    let cases = [
        ("", IdentError::ResidentIdEmpty),
        ("1101051949123100", IdentError::ResidentIdLength { found: 16 }),
        ("11010519491231002X1", IdentError::ResidentIdLength { found: 19 }),
        (" 11010519491231002X", IdentError::ResidentIdWhitespace),
        ("11010519491231002X ", IdentError::ResidentIdWhitespace),
        ("110105 19491231002", IdentError::ResidentIdWhitespace),
        ("X10105194912310021", IdentError::ResidentIdCharacter),
        ("1101051949123100X2", IdentError::ResidentIdCharacter),
        ("11010519491231002Y", IdentError::ResidentIdCharacter),
        ("１１0105194912310021", IdentError::ResidentIdCharacter),
        ("11010519491231002é", IdentError::ResidentIdCharacter),
        ("110105194902300021", IdentError::ResidentIdBirthDate),
        ("110105194913010021", IdentError::ResidentIdBirthDate),
        ("110105194912000021", IdentError::ResidentIdBirthDate),
        // 1899-12-31 is a real date but before 1900 (check char is correct).
        ("110105189912310023", IdentError::ResidentIdBirthDate),
        // 1900 is not a leap year.
        ("110105190002290025", IdentError::ResidentIdBirthDate),
        ("110105194912310021", IdentError::ResidentIdChecksum),
        ("11010519491231002x".get(..17).map_or("", |s| s), IdentError::ResidentIdLength { found: 17 }),
    ];
    for (input, expected) in cases {
        assert_eq!(ResidentId::parse(input), Err(expected), "{input:?}");
    }
    // Leap day of a leap year is fine.
    assert!(ResidentId::parse("110105200002290021").is_ok());
}

#[test]
fn resident_id_error_messages_are_chinese() {
    let msg = |s: &str| ResidentId::parse(s).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(msg("123"), "身份证号码应为18位，当前为3位");
    assert_eq!(msg("110105194912310021"), "身份证号码校验位不正确，请核对后重新填写");
    assert!(msg("110105194902300021").contains("出生日期"));
}

#[test]
fn uscc_samples() {
    assert_eq!(check_uscc("91110000600037341L"), Ok(()));
    assert_eq!(check_uscc("91350100M000100Y43"), Ok(()));
    assert_eq!(check_uscc("91440300708461136T"), Ok(()));
    let cases = [
        ("", IdentError::UsccEmpty),
        ("91110000600037341", IdentError::UsccLength { found: 17 }),
        ("91110000600037341LL", IdentError::UsccLength { found: 19 }),
        ("91110000600037341l", IdentError::UsccCharacter { position: 18, found: 'l' }),
        ("9111000060003734IL", IdentError::UsccCharacter { position: 17, found: 'I' }),
        ("9111000060003734统L", IdentError::UsccCharacter { position: 17, found: '统' }),
        (" 9111000060003734L", IdentError::UsccCharacter { position: 1, found: ' ' }),
        ("911A0000600037341L", IdentError::UsccRegion),
        ("91110000600037341M", IdentError::UsccChecksum),
    ];
    for (input, expected) in cases {
        assert_eq!(check_uscc(input), Err(expected), "{input:?}");
    }
    assert_eq!(
        check_uscc("91110000600037341M").err().map(|e| e.to_string()).unwrap_or_default(),
        "统一社会信用代码校验位不正确，请核对后重新填写"
    );
}

/// Resident ID check char by the GB 11643 formula (2^(17-i) mod 11 weights).
fn with_check(body: &str) -> String {
    let sum: u32 = body
        .chars()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).unwrap_or_else(|| panic!("{c}")) * ((1u32 << (17 - i)) % 11))
        .sum();
    let check = (12 - sum % 11) % 11;
    let c = if check == 10 { 'X' } else { char::from_digit(check, 10).unwrap_or('?') };
    format!("{body}{c}")
}

/// USCC check char by the formula, to build samples with a letter at position 1
/// (which python-stdnum rejects and GB 32100 allows, e.g. Y for "other").
fn uscc_with_check(body: &str) -> String {
    const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [usize; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    let sum: usize =
        body.chars().zip(WEIGHTS).map(|(c, w)| ALPHABET.find(c).unwrap_or_else(|| panic!("{c}")) * w).sum();
    let check = (31 - sum % 31) % 31;
    format!("{body}{}", &ALPHABET[check..=check])
}

#[test]
fn uscc_letter_as_registration_authority() {
    let code = uscc_with_check("Y1110000600037341");
    assert_eq!(check_uscc(&code), Ok(()), "{code}");
    let code = uscc_with_check("N2440300MA5F00001");
    assert_eq!(check_uscc(&code), Ok(()), "{code}");
}

#[test]
fn mobile_numbers() {
    for ok in ["13800138000", "19912345678", "15000000000", "17612345678"] {
        assert!(is_mobile(ok), "{ok}");
    }
    for bad in [
        "",
        "12800138000",
        "10800138000",
        "1380013800",
        "138001380000",
        "+8613800138000",
        "138 0013 8000",
        "1380013800a",
        "23800138000",
        "１3800138000",
        "13800138000\n",
    ] {
        assert!(!is_mobile(bad), "{bad:?}");
    }
}

#[test]
fn email_addresses() {
    for ok in ["a@b.cn", "zhang.san+beian@example.com.cn", "user@mail.example.org", "用户@例子.中国"] {
        assert!(is_email(ok), "{ok}");
    }
    let long_local = "a".repeat(250);
    for bad in [
        "",
        "plain",
        "@example.com",
        "a@b",
        "a@@b.cn",
        "a@b@c.cn",
        "a b@c.cn",
        "a@c.cn ",
        "a@.cn",
        "a@cn.",
        "a@b..cn",
        "a\t@b.cn",
        &format!("{long_local}@b.cn"),
    ] {
        assert!(!is_email(bad), "{bad:?}");
    }
    // Exactly 254 characters is still fine.
    let max = format!("{}@b.cn", "a".repeat(249));
    assert_eq!(max.len(), 254);
    assert!(is_email(&max));
}

#[test]
fn yyyymmdd_dates() {
    assert_eq!(parse_yyyymmdd("20240229"), Some(d(2024, 2, 29)));
    assert_eq!(parse_yyyymmdd("00010101"), Some(d(1, 1, 1)));
    for bad in [
        "",
        "2024022",
        "202402290",
        "20230229",
        "20241301",
        "20240100",
        "2024-02-29",
        "+2024022",
        "２0240229",
        "20240a29",
        " 20240229",
    ] {
        assert_eq!(parse_yyyymmdd(bad), None, "{bad:?}");
    }
}

#[test]
fn validity_end() {
    assert_eq!(parse_validity_end("长期"), Some(ValidityEnd::LongTerm));
    assert_eq!(parse_validity_end("20341231"), Some(ValidityEnd::Date(d(2034, 12, 31))));
    for bad in ["", "长期 ", "长", "永久", "2034-12-31", "20341232"] {
        assert_eq!(parse_validity_end(bad), None, "{bad:?}");
    }
}
