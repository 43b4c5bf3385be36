//! Identity and format checks for filing forms: the resident ID number
//! (居民身份证号码), the Unified Social Credit Code (统一社会信用代码), mobile
//! numbers, e-mail addresses and `YYYYMMDD` dates.
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
