//! Filing numbers in the real format (dictionaries.md "Filing numbers").
//!
//! The authority issues them: a subject number `{省简称}ICP备{digits}号` and, per service, the
//! subject number with `-{n}` and the service kind's letter (`X` for a mini program, `A` an
//! app, `K` a quick app, none for a website). beian never issues a number itself: it checks
//! the numbers an approval carries ([`check_subject_number`], [`check_service_number`]) and
//! the built-in simulator, standing in for the authority, mints them with the two formatters.

use crate::dict::PROVINCE_ABBRS;

/// Subject number: `{省简称}ICP备{year}{seq:06}号`, e.g. `粤ICP备2026012345号`.
pub fn subject_number(abbr: &str, year: i32, seq: u32) -> String {
    format!("{abbr}ICP备{year}{seq:06}号")
}

/// Mini-program service number: subject number + `-{n}X`, `n` counting the subject's services.
pub fn service_number(subject_number: &str, n: u32) -> String {
    format!("{subject_number}-{n}X")
}

/// The numbers an approval carries, as the authority issued them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IssuedNumbers {
    pub subject_number: String,
    pub service_number: String,
}

/// Why a number is not acceptable (Chinese, for the operator who typed it or the bridge's log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberError(pub String);

impl std::fmt::Display for NumberError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subject number of the province whose abbreviation is `abbr` (粤 for 广东): the
/// abbreviation, `ICP备`, 8 to 10 digits (the year, two or four digits, and the sequence)
/// and `号`, e.g. `粤ICP备2026012345号` or the older `京ICP备05012345号`.
pub fn check_subject_number(number: &str, abbr: &str) -> Result<(), NumberError> {
    let Some((prefix, rest)) = number.split_once("ICP备") else {
        return Err(NumberError(format!("主体备案号格式应为“{abbr}ICP备2026012345号”，请核对后重新填写")));
    };
    if !PROVINCE_ABBRS.iter().any(|(_, a)| *a == prefix) {
        return Err(NumberError(format!("主体备案号应以省份简称开头（本主体为“{abbr}”）")));
    }
    if prefix != abbr {
        return Err(NumberError(format!("主体备案号的省份简称“{prefix}”与主体所在省份不符，应为“{abbr}”")));
    }
    let digits = rest.strip_suffix('号').unwrap_or("");
    if !(8..=10).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberError(format!(
            "主体备案号“ICP备”后应为8至10位数字并以“号”结尾，例如“{abbr}ICP备2026012345号”"
        )));
    }
    Ok(())
}

/// A mini program's service number under `subject_number`: `{subject_number}-{n}X` with
/// `n` from 1 (no leading zero). Answers `n`.
pub fn check_service_number(number: &str, subject_number: &str) -> Result<u32, NumberError> {
    let example = service_number(subject_number, 1);
    let Some(rest) = number.strip_prefix(subject_number).and_then(|r| r.strip_prefix('-')) else {
        return Err(NumberError(format!("服务备案号应为主体备案号加“-序号X”，例如“{example}”")));
    };
    let (n, kind) = rest.split_at(rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len()));
    if n.is_empty() || n.starts_with('0') || n.len() > 4 {
        return Err(NumberError(format!("服务备案号的序号应为不以0开头的数字，例如“{example}”")));
    }
    if kind != "X" {
        return Err(NumberError(format!(
            "服务备案号应以“X”结尾（小程序的服务类型后缀；A为App、K为快应用），例如“{example}”"
        )));
    }
    n.parse().map_err(|_| NumberError(format!("服务备案号的序号过大，例如“{example}”")))
}

/// The subject number a service number implies: everything before its last `-` (the service
/// number `粤ICP备2026012345号-1X` belongs to `粤ICP备2026012345号`). `None` without a `-`.
pub fn subject_of_service(service_number: &str) -> Option<&str> {
    service_number.rsplit_once('-').map(|(subject, _)| subject).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_numbers() {
        assert_eq!(check_subject_number("粤ICP备2026012345号", "粤"), Ok(()));
        assert_eq!(check_subject_number("京ICP备05012345号", "京"), Ok(()));
        assert_eq!(check_subject_number(&subject_number("沪", 2026, 7), "沪"), Ok(()));
        for bad in [
            "粤ICP备2026012345",
            "粤ICP证2026012345号",
            "ICP备2026012345号",
            "粤ICP备20260号",
            "粤ICP备20260123456789号",
            "粤ICP备2026O12345号",
        ] {
            assert!(check_subject_number(bad, "粤").is_err(), "{bad}");
        }
        let e = check_subject_number("京ICP备2026012345号", "粤").expect_err("another province");
        assert!(e.0.contains("应为“粤”"), "{e}");
    }

    #[test]
    fn service_numbers() {
        let s = "粤ICP备2026012345号";
        assert_eq!(check_service_number("粤ICP备2026012345号-1X", s), Ok(1));
        assert_eq!(check_service_number(&service_number(s, 12), s), Ok(12));
        for bad in [
            "粤ICP备2026012345号-1",
            "粤ICP备2026012345号-1A",
            "粤ICP备2026012345号-01X",
            "粤ICP备2026012345号-X",
            "粤ICP备2026012346号-1X",
            "粤ICP备2026012345号1X",
            "粤ICP备2026012345号-12345X",
        ] {
            assert!(check_service_number(bad, s).is_err(), "{bad}");
        }
        assert!(check_service_number("粤ICP备2026012345号-1A", s)
            .expect_err("an app suffix")
            .0
            .contains("A为App"));
    }

    #[test]
    fn a_service_number_implies_its_subject_number() {
        assert_eq!(subject_of_service("粤ICP备2026012345号-1X"), Some("粤ICP备2026012345号"));
        assert_eq!(subject_of_service("粤ICP备2026012345号"), None);
        assert_eq!(subject_of_service("-1X"), None);
    }
}
