//! Filing numbers in the real format (dictionaries.md "Filing numbers").

/// Subject number: `{省简称}ICP备{year}{seq:06}号`, e.g. `粤ICP备2026012345号`.
pub fn subject_number(abbr: &str, year: i32, seq: u32) -> String {
    format!("{abbr}ICP备{year}{seq:06}号")
}

/// Mini-program service number: subject number + `-{n}X`, `n` counting the subject's services.
pub fn service_number(subject_number: &str, n: u32) -> String {
    format!("{subject_number}-{n}X")
}
