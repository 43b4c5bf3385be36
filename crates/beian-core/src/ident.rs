//! Identity and format checks for filing forms: the resident ID number
//! (居民身份证号码), the Unified Social Credit Code (统一社会信用代码), the numbers of
//! every other certificate type a filing names ([`IdFormat`]: Hong Kong/Macau and Taiwan
//! permits and residence permits, passports, foreign permanent-residence IDs, organisation
//! codes), principals' age bounds, mobile numbers, e-mail addresses and `YYYYMMDD` dates.
//! `docs/identity-numbers.md` lists each format with its source.
//!
//! All checks are strict about their input: they neither trim nor strip
//! separators, so the caller decides how to normalise what a person typed.
//! Error messages are meant to be shown to that person.

use chrono::NaiveDate;

/// Why an identity number or code was rejected. The `Display` text is a
/// Chinese message that tells a person what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    /// The resident ID is empty.
    #[error("请填写身份证号码")]
    ResidentIdEmpty,
    /// The resident ID contains whitespace.
    #[error("身份证号码中不能包含空格")]
    ResidentIdWhitespace,
    /// The resident ID does not have 18 characters.
    #[error("身份证号码应为18位，当前为{found}位")]
    ResidentIdLength { found: usize },
    /// A character other than a digit (or a final X).
    #[error("身份证号码前17位只能是数字，最后一位只能是数字或字母X")]
    ResidentIdCharacter,
    /// Digits 7–14 are not a real date from 1900 on.
    #[error("身份证号码第7至14位的出生日期不正确，请核对后重新填写")]
    ResidentIdBirthDate,
    /// The check character does not match.
    #[error("身份证号码校验位不正确，请核对后重新填写")]
    ResidentIdChecksum,
    /// The USCC is empty.
    #[error("请填写统一社会信用代码")]
    UsccEmpty,
    /// The USCC does not have 18 characters.
    #[error("统一社会信用代码应为18位，当前为{found}位")]
    UsccLength { found: usize },
    /// A character outside the code's alphabet, at a 1-based position.
    #[error("统一社会信用代码第{position}位“{found}”无效：只能是数字或大写字母（不含I、O、S、V、Z）")]
    UsccCharacter { position: usize, found: char },
    /// Characters 3–8 (the administrative division code) are not all digits.
    #[error("统一社会信用代码第3至8位应为数字（登记管理机关行政区划码）")]
    UsccRegion,
    /// The check character does not match.
    #[error("统一社会信用代码校验位不正确，请核对后重新填写")]
    UsccChecksum,
    /// A certificate number is empty.
    #[error("请填写{kind}号码")]
    NumberEmpty { kind: &'static str },
    /// A certificate number contains whitespace.
    #[error("{kind}号码中不能包含空格，请按证件上的号码连续填写")]
    NumberWhitespace { kind: &'static str },
    /// An 18-character number (residence permit, 2023 permanent-residence ID) of the wrong length.
    #[error("{kind}号码应为18位，当前为{found}位")]
    NumberLength { kind: &'static str, found: usize },
    /// An 18-character number with a character other than digits and a final X.
    #[error("{kind}号码前17位只能是数字，最后一位只能是数字或字母X")]
    NumberCharacter { kind: &'static str },
    /// The birth date inside an 18-character number is not a real date from 1900 on.
    #[error("{kind}号码第7至14位的出生日期不正确，请核对后重新填写")]
    NumberBirthDate { kind: &'static str },
    /// The check character of an 18-character number does not match.
    #[error("{kind}号码校验位不正确，请核对后重新填写")]
    NumberChecksum { kind: &'static str },
    /// The birth date inside the number lies after today.
    #[error("{kind}号码中的出生日期晚于今天，请核对后重新填写")]
    BirthDateInFuture { kind: &'static str },
    /// A residence permit's first six digits are not the region code of its kind.
    #[error("{kind}号码应以{prefixes}开头，请核对证件类型和号码")]
    ResidencePermitRegion { kind: &'static str, prefixes: &'static str },
    /// 港澳居民来往内地通行证: not H/M + 8 digits.
    #[error("港澳居民来往内地通行证号码应为字母H（香港居民）或M（澳门居民）加8位数字，如 H12345678")]
    HkMacauPermit,
    /// 港澳居民来往内地通行证 with the 2-digit renewal count appended.
    #[error("港澳居民来往内地通行证号码为H或M加8位数字，请不要填写号码后面的2位换证次数")]
    HkMacauPermitRenewalCount,
    /// 台湾居民来往大陆通行证: not 8 digits.
    #[error("台湾居民来往大陆通行证号码应为8位数字，如 12345678")]
    TaiwanPermit,
    /// 台湾居民来往大陆通行证: a number of the booklet replaced by the card in 2015.
    #[error(
        "这是2015年以前本式台胞证的号码，本式证件已停止使用；请填写卡式台湾居民来往大陆通行证上的8位数字号码"
    )]
    TaiwanPermitBooklet,
    /// 外国人永久居留身份证 of neither format.
    #[error(
        "外国人永久居留身份证号码应为15位（3位国籍字母代码加12位数字，2017年版）或18位（以9开头，2023年版）"
    )]
    ForeignPermanentResidence,
    /// The 18-character 外国人永久居留身份证 does not start with 9.
    #[error("18位外国人永久居留身份证号码应以数字9开头（2023年版），请核对后重新填写")]
    ForeignPermanentResidenceStart,
    /// The 15-character 外国人永久居留身份证 has a part of the wrong shape.
    #[error("15位外国人永久居留身份证号码应为3位大写拉丁字母（国籍代码）加12位数字，请核对后重新填写")]
    ForeignPermanentResidenceOld,
    /// 护照: not 5–17 letters and digits.
    #[error("护照号码应为5至17位字母或数字（按护照资料页填写，不含空格和符号）")]
    Passport,
    /// 组织机构代码: wrong length.
    #[error("组织机构代码应为9位（8位本体代码加1位校验码，如 12345678-9），当前为{found}位")]
    OrgCodeLength { found: usize },
    /// 组织机构代码: a character outside digits and uppercase letters (check: digit or X).
    #[error("组织机构代码前8位只能是数字或大写字母，最后一位校验码只能是数字或X")]
    OrgCodeCharacter,
    /// 组织机构代码: the check character does not match.
    #[error("组织机构代码校验码不正确，请核对后重新填写")]
    OrgCodeChecksum,
    /// Other certificates: characters outside letters, digits and the usual separators.
    #[error("证件号码只能包含字母、数字和“-”，不超过64位")]
    OtherNumber,
    /// A principal younger than the minimum age.
    #[error("负责人须年满{min}周岁（按证件号码中的出生日期计算），请更换为成年负责人")]
    TooYoung { min: u32 },
    /// A birth date implying an age above the maximum.
    #[error("证件号码中的出生日期距今超过{max}年，请核对后重新填写")]
    TooOld { max: u32 },
}

/// A checked 18-digit resident ID (居民身份证, GB 11643-1999).
///
/// Parsing checks the length, the characters, the birth date (a real date
/// with year >= 1900; whether it lies in the past needs a clock and is left
/// to the caller) and the ISO 7064 MOD 11-2 check character. A lowercase
/// `x` is accepted and stored as `X`. The region code is not checked against
/// a list of divisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentId {
    /// 18 ASCII characters: 17 digits and a digit or `X`.
    number: String,
    birth_date: NaiveDate,
}

/// Weights of the 17 leading digits (2^(18-i) mod 11).
const RID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each value of the weighted sum mod 11.
const RID_CHECK: &[u8; 11] = b"10X98765432";

/// The check character for 17 leading digits (demo and test data generation).
pub fn resident_id_check_char(body17: &str) -> Option<char> {
    let b = body17.as_bytes();
    if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b.iter().zip(RID_WEIGHTS).map(|(c, w)| u32::from(c - b'0') * w).sum();
    RID_CHECK.get((sum % 11) as usize).map(|c| char::from(*c))
}

impl ResidentId {
    /// Parses and checks an 18-character resident ID number.
    pub fn parse(s: &str) -> Result<ResidentId, IdentError> {
        if s.is_empty() {
            return Err(IdentError::ResidentIdEmpty);
        }
        if s.chars().any(char::is_whitespace) {
            return Err(IdentError::ResidentIdWhitespace);
        }
        let found = s.chars().count();
        if found != 18 {
            return Err(IdentError::ResidentIdLength { found });
        }
        // 18 chars; if any is non-ASCII the byte checks below reject it.
        let bytes = s.as_bytes();
        if bytes.len() != 18 {
            return Err(IdentError::ResidentIdCharacter);
        }
        let (body, last) = bytes.split_at(17);
        if !body.iter().all(u8::is_ascii_digit) {
            return Err(IdentError::ResidentIdCharacter);
        }
        let check = match last {
            [c @ b'0'..=b'9'] => *c,
            [b'X' | b'x'] => b'X',
            _ => return Err(IdentError::ResidentIdCharacter),
        };
        let birth_date = parse_digits_date(&body[6..14])
            .filter(|d| chrono::Datelike::year(d) >= 1900)
            .ok_or(IdentError::ResidentIdBirthDate)?;
        let sum: u32 = body.iter().zip(RID_WEIGHTS).map(|(c, w)| u32::from(c - b'0') * w).sum();
        // sum % 11 is always < 11.
        let expected = RID_CHECK.get((sum % 11) as usize).copied();
        if expected != Some(check) {
            return Err(IdentError::ResidentIdChecksum);
        }
        let mut number = String::with_capacity(18);
        number.extend(body.iter().map(|&c| char::from(c)));
        number.push(char::from(check));
        Ok(ResidentId { number, birth_date })
    }

    /// The number, with a final `X` in uppercase.
    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// The 6-digit administrative division code of the place of registration.
    pub fn region_code(&self) -> &str {
        &self.number[..6]
    }

    /// The province-level division code: the first 2 digits and `"0000"`.
    pub fn province_code(&self) -> String {
        format!("{}0000", &self.number[..2])
    }

    /// The date of birth (digits 7–14).
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }
}

impl std::fmt::Display for ResidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.number)
    }
}

/// Alphabet of the Unified Social Credit Code; a character's value is its index.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// Checks a Unified Social Credit Code (统一社会信用代码, GB 32100-2015):
/// 18 characters from `0-9` and the uppercase letters other than I, O, S, V
/// and Z; characters 3–8 (the administrative division code) are digits; the
/// last character is the check character, whose value is
/// `(31 - Σ value·weight mod 31) mod 31`.
///
/// Lowercase letters are rejected: the code is printed in uppercase on the
/// business licence, and the caller may upper-case input before checking.
pub fn check_uscc(s: &str) -> Result<(), IdentError> {
    if s.is_empty() {
        return Err(IdentError::UsccEmpty);
    }
    let found = s.chars().count();
    if found != 18 {
        return Err(IdentError::UsccLength { found });
    }
    let mut values = [0u32; 18];
    for (i, c) in s.chars().enumerate() {
        let value = u8::try_from(c).ok().and_then(|b| USCC_ALPHABET.iter().position(|&a| a == b));
        match (values.get_mut(i), value) {
            (Some(slot), Some(v)) => *slot = v as u32,
            _ => return Err(IdentError::UsccCharacter { position: i + 1, found: c }),
        }
    }
    // Values below 10 are the digits.
    if values[2..8].iter().any(|&v| v >= 10) {
        return Err(IdentError::UsccRegion);
    }
    let sum: u32 = values[..17].iter().zip(USCC_WEIGHTS).map(|(v, w)| v * w).sum();
    let expected = (31 - sum % 31) % 31;
    if values[17] != expected {
        return Err(IdentError::UsccChecksum);
    }
    Ok(())
}

/// Whether `s` is a mainland China mobile number: 11 digits, `1` then `3`–`9`
/// (`^1[3-9]\d{9}$`). No country code, spaces or dashes.
pub fn is_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit)
}

/// A pragmatic e-mail address check: at most 254 characters, no whitespace or
/// control characters, exactly one `@`, a non-empty local part, and a domain
/// with at least one dot whose labels are all non-empty.
pub fn is_email(s: &str) -> bool {
    if s.is_empty() || s.chars().count() > 254 {
        return false;
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || domain.contains('@') {
        return false;
    }
    domain.contains('.') && domain.split('.').all(|label| !label.is_empty())
}

/// Parses exactly 8 ASCII digits `YYYYMMDD` as a real calendar date.
pub fn parse_yyyymmdd(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    parse_digits_date(b)
}

/// The end of a certificate's validity period (有效期至).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidityEnd {
    /// Valid up to and including this date.
    Date(NaiveDate),
    /// Valid without end (长期).
    LongTerm,
}

/// Parses a validity end: `YYYYMMDD` or the literal `长期` (long-term).
pub fn parse_validity_end(s: &str) -> Option<ValidityEnd> {
    if s == "长期" {
        return Some(ValidityEnd::LongTerm);
    }
    parse_yyyymmdd(s).map(ValidityEnd::Date)
}

/// Reads `YYYYMMDD` from 8 bytes already known to be ASCII digits.
fn parse_digits_date(b: &[u8]) -> Option<NaiveDate> {
    if b.len() != 8 {
        return None;
    }
    let num = |part: &[u8]| {
        part.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let year = i32::try_from(num(&b[..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, num(&b[4..6])?, num(&b[6..8])?)
}

/// The number format a certificate type uses (by the type's name in the certificate-type
/// dictionary; ids are data, names are not — see `docs/identity-numbers.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdFormat {
    /// 居民身份证: GB 11643-1999, 18 characters.
    ResidentId,
    /// 港澳居民来往内地通行证 (card since 2013): `H` (Hong Kong) or `M` (Macau) + 8 digits.
    HkMacauPermit,
    /// 台湾居民来往大陆通行证 (card since 2015): 8 digits.
    TaiwanPermit,
    /// 港澳居民居住证 (2018): GB 11643 layout and check, region 810000 or 820000.
    HkMacauResidencePermit,
    /// 台湾居民居住证 (2018): GB 11643 layout and check, region 830000.
    TaiwanResidencePermit,
    /// 外国人永久居留身份证: 2017 edition 3 letters + 12 digits; 2023 edition 18 characters
    /// starting with 9, GB 11643 check.
    ForeignPermanentResidence,
    /// 护照: 5–17 letters and digits.
    Passport,
    /// 组织机构代码证: GB 11714-1997, 8 characters + check character.
    OrganizationCode,
    /// 统一社会信用代码 and the business licence that carries it: GB 32100-2015.
    Uscc,
    /// Any other certificate: letters, digits and separators, at most 64 characters.
    Other,
}

impl IdFormat {
    /// The format of a certificate type named `name` (the dictionary's name).
    pub fn of_certificate_name(name: &str) -> IdFormat {
        if name.contains("港澳居民来往内地通行证") {
            IdFormat::HkMacauPermit
        } else if name.contains("台湾居民来往大陆通行证") {
            IdFormat::TaiwanPermit
        } else if name.contains("港澳居民居住证") {
            IdFormat::HkMacauResidencePermit
        } else if name.contains("台湾居民居住证") {
            IdFormat::TaiwanResidencePermit
        } else if name.contains("外国人永久居留身份证") {
            IdFormat::ForeignPermanentResidence
        } else if name.contains("居民身份证") {
            IdFormat::ResidentId
        } else if name == "护照" {
            IdFormat::Passport
        } else if name.contains("组织机构代码") {
            IdFormat::OrganizationCode
        } else if name.contains("统一社会信用代码") || name.contains("营业执照") {
            IdFormat::Uscc
        } else {
            IdFormat::Other
        }
    }

    /// The certificate's Chinese name, as error messages say it.
    pub fn name(self) -> &'static str {
        match self {
            IdFormat::ResidentId => "身份证",
            IdFormat::HkMacauPermit => "港澳居民来往内地通行证",
            IdFormat::TaiwanPermit => "台湾居民来往大陆通行证",
            IdFormat::HkMacauResidencePermit => "港澳居民居住证",
            IdFormat::TaiwanResidencePermit => "台湾居民居住证",
            IdFormat::ForeignPermanentResidence => "外国人永久居留身份证",
            IdFormat::Passport => "护照",
            IdFormat::OrganizationCode => "组织机构代码",
            IdFormat::Uscc => "统一社会信用代码",
            IdFormat::Other => "证件",
        }
    }
}

/// A certificate number that passed its format's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedNumber {
    pub format: IdFormat,
    /// The number with letters in uppercase (and an organisation code without its hyphen).
    pub number: String,
    /// The birth date the number carries (18-character personal numbers), if any.
    pub birth_date: Option<NaiveDate>,
}

/// Checks a certificate number of `format`. `today` (Beijing) bounds the birth date a
/// personal number carries: it must not lie after today.
///
/// Letters are compared case-insensitively and returned in uppercase (the stored subject
/// number is uppercase); nothing is trimmed.
pub fn check_certificate_number(
    format: IdFormat,
    s: &str,
    today: NaiveDate,
) -> Result<CheckedNumber, IdentError> {
    let kind = format.name();
    if s.is_empty() {
        return Err(match format {
            IdFormat::ResidentId => IdentError::ResidentIdEmpty,
            IdFormat::Uscc => IdentError::UsccEmpty,
            _ => IdentError::NumberEmpty { kind },
        });
    }
    if s.chars().any(char::is_whitespace) {
        return Err(match format {
            IdFormat::ResidentId => IdentError::ResidentIdWhitespace,
            _ => IdentError::NumberWhitespace { kind },
        });
    }
    let upper = s.to_ascii_uppercase();
    let checked = |birth_date: Option<NaiveDate>, number: String| {
        if birth_date.is_some_and(|d| d > today) {
            return Err(IdentError::BirthDateInFuture { kind });
        }
        Ok(CheckedNumber { format, number, birth_date })
    };
    match format {
        IdFormat::ResidentId => {
            let id = ResidentId::parse(s)?;
            checked(Some(id.birth_date()), id.as_str().to_string())
        }
        IdFormat::HkMacauResidencePermit | IdFormat::TaiwanResidencePermit => {
            let id = parse_gb11643(s, kind)?;
            let (allowed, prefixes): (&[&str], &'static str) = if format == IdFormat::TaiwanResidencePermit {
                (&["830000"], "830000（台湾）")
            } else {
                (&["810000", "820000"], "810000（香港）或820000（澳门）")
            };
            if !allowed.contains(&id.region_code()) {
                return Err(IdentError::ResidencePermitRegion { kind, prefixes });
            }
            checked(Some(id.birth_date()), id.as_str().to_string())
        }
        IdFormat::ForeignPermanentResidence => match s.chars().count() {
            15 => {
                let b = upper.as_bytes();
                let ok = b.len() == 15
                    && b[..3].iter().all(u8::is_ascii_uppercase)
                    && b[3..].iter().all(u8::is_ascii_digit);
                if !ok {
                    return Err(IdentError::ForeignPermanentResidenceOld);
                }
                checked(None, upper)
            }
            18 => {
                if !s.starts_with('9') {
                    return Err(IdentError::ForeignPermanentResidenceStart);
                }
                let id = parse_gb11643(s, kind)?;
                checked(Some(id.birth_date()), id.as_str().to_string())
            }
            _ => Err(IdentError::ForeignPermanentResidence),
        },
        IdFormat::HkMacauPermit => {
            let b = upper.as_bytes();
            let letter = matches!(b.first(), Some(b'H' | b'M'));
            let digits = b.get(1..).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
            match (letter && digits, b.len()) {
                (true, 9) => checked(None, upper),
                (true, 11) => Err(IdentError::HkMacauPermitRenewalCount),
                _ => Err(IdentError::HkMacauPermit),
            }
        }
        IdFormat::TaiwanPermit => {
            let b = upper.as_bytes();
            if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
                return checked(None, upper);
            }
            // The booklet (until 2015): 10 characters, digits with a letter or a bracketed
            // issue mark, e.g. 1234567890 or 12345678(B).
            let booklet = (10..=11).contains(&b.len())
                && b.iter().take(7).all(u8::is_ascii_digit)
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'(' || *c == b')');
            Err(if booklet { IdentError::TaiwanPermitBooklet } else { IdentError::TaiwanPermit })
        }
        IdFormat::Passport => {
            let n = upper.len();
            if (5..=17).contains(&n) && upper.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
                checked(None, upper)
            } else {
                Err(IdentError::Passport)
            }
        }
        IdFormat::OrganizationCode => {
            // A USCC carries the organisation code in characters 9–17 (三证合一).
            if upper.chars().count() == 18 {
                check_uscc(&upper)?;
                return checked(None, upper);
            }
            let code = check_org_code(&upper)?;
            checked(None, code)
        }
        IdFormat::Uscc => {
            check_uscc(s)?;
            checked(None, s.to_string())
        }
        IdFormat::Other => {
            let ok = s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-()（）".contains(c));
            if ok {
                checked(None, upper)
            } else {
                Err(IdentError::OtherNumber)
            }
        }
    }
}

/// An 18-character GB 11643 number of another kind than the resident ID, its errors named
/// after that kind.
fn parse_gb11643(s: &str, kind: &'static str) -> Result<ResidentId, IdentError> {
    ResidentId::parse(s).map_err(|e| match e {
        IdentError::ResidentIdLength { found } => IdentError::NumberLength { kind, found },
        IdentError::ResidentIdBirthDate => IdentError::NumberBirthDate { kind },
        IdentError::ResidentIdChecksum => IdentError::NumberChecksum { kind },
        IdentError::ResidentIdEmpty => IdentError::NumberEmpty { kind },
        IdentError::ResidentIdWhitespace => IdentError::NumberWhitespace { kind },
        _ => IdentError::NumberCharacter { kind },
    })
}

/// Weights of GB 11714-1997's eight body characters.
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// The GB 11714 check character of 8 body characters (digits and uppercase letters).
pub fn org_code_check_char(body8: &str) -> Option<char> {
    let b = body8.as_bytes();
    if b.len() != 8 {
        return None;
    }
    let mut sum = 0;
    for (c, w) in b.iter().zip(ORG_WEIGHTS) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return None,
        };
        sum += v * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        v => char::from_digit(v, 10)?,
    })
}

/// Checks an organisation code (组织机构代码, GB 11714-1997): 8 body characters (digits or
/// uppercase letters) and a check character `11 - Σ value·weight mod 11` (10 → `X`,
/// 11 → `0`), weights 3 7 9 10 5 8 4 2, letters A–Z worth 10–35. Written with or without the
/// hyphen before the check character (`12345678-9`); returns the code without it.
pub fn check_org_code(s: &str) -> Result<String, IdentError> {
    let plain: String = match s.chars().count() {
        10 if s.chars().nth(8) == Some('-') => s.chars().filter(|&c| c != '-').collect(),
        9 => s.to_string(),
        found => return Err(IdentError::OrgCodeLength { found }),
    };
    let b = plain.as_bytes();
    if b.len() != 9 {
        return Err(IdentError::OrgCodeCharacter);
    }
    let body_ok = b[..8].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
    if !body_ok || !(b[8].is_ascii_digit() || b[8] == b'X') {
        return Err(IdentError::OrgCodeCharacter);
    }
    let expected = org_code_check_char(&plain[..8]);
    if expected != Some(char::from(b[8])) {
        return Err(IdentError::OrgCodeChecksum);
    }
    Ok(plain)
}

/// The youngest a principal (负责人) may be: 18, the age of full civil capacity (民法典
/// art. 17–18); filing commits the person to the MIIT's undertakings.
pub const PRINCIPAL_MIN_AGE: u32 = 18;
/// The oldest birth date accepted in a principal's number: 120 years, beyond which a
/// birth date is a typo rather than a person.
pub const PRINCIPAL_MAX_AGE: u32 = 120;

/// Full years between `birth` and `today` (a person born on 29 February comes of age on
/// 1 March in common years).
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> u32 {
    use chrono::Datelike;
    let mut years = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// A principal's age bounds ([`PRINCIPAL_MIN_AGE`] ..= [`PRINCIPAL_MAX_AGE`]).
pub fn check_principal_age(birth: NaiveDate, today: NaiveDate) -> Result<(), IdentError> {
    let age = age_on(birth, today);
    if age < PRINCIPAL_MIN_AGE {
        Err(IdentError::TooYoung { min: PRINCIPAL_MIN_AGE })
    } else if age > PRINCIPAL_MAX_AGE {
        Err(IdentError::TooOld { max: PRINCIPAL_MAX_AGE })
    } else {
        Ok(())
    }
}
