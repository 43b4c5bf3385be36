//! China working-day calendar: public holidays (法定节假日) and make-up
//! workdays (调休上班日) as announced each year by the State Council.
//!
//! The built-in data lives in `data/holidays-cn.txt` and covers 2023–2026.
//! Operators can load their own data in the same format with
//! [`WorkCalendar::parse`].
//!
//! # Data format
//!
//! One entry per line, `YYYY-MM-DD <holiday|workday> [name]`, for example
//!
//! ```text
//! # 2024: 国务院办公厅关于2024年部分节假日安排的通知
//! 2024-02-10 holiday 春节
//! 2024-02-04 workday 春节调休
//! ```
//!
//! `#` starts a comment and blank lines are ignored. A `holiday` is a day off
//! (weekend days inside a holiday span may be listed too); a `workday` must be
//! a Saturday or Sunday that is worked. A date may appear only once. The years
//! that have entries are the covered years; they must be contiguous.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, Weekday};

/// The built-in data file.
const CHINA_DATA: &str = include_str!("../data/holidays-cn.txt");

/// What the calendar says about one listed date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Holiday,
    Workday,
}

/// A working-day calendar: Monday to Friday are working days, Saturday and
/// Sunday are not, except for the listed public holidays (days off) and
/// make-up workdays (weekend days that are worked).
///
/// Outside [`covered_years`](Self::covered_years) nothing is known about
/// holidays: there every Saturday and Sunday is a day off and every Monday to
/// Friday is a working day. Callers that schedule deadlines far ahead should
/// check the covered years and load newer data when the State Council
/// publishes the next year's arrangement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkCalendar {
    /// Every listed date with its kind and name, for [`is_working_day`](Self::is_working_day).
    entries: BTreeMap<NaiveDate, (Kind, String)>,
    /// Sorted holidays that fall on Monday–Friday (each removes a working day).
    weekday_holidays: Vec<NaiveDate>,
    /// Sorted make-up workdays (each adds a working day on a weekend).
    weekend_workdays: Vec<NaiveDate>,
    /// First and last covered year.
    years: (i32, i32),
}

/// Why calendar data could not be parsed. Line numbers start at 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A line does not have the form `YYYY-MM-DD <holiday|workday> [name]`.
    #[error("节假日数据第{line}行格式不正确，应为“YYYY-MM-DD holiday|workday 名称”")]
    Syntax { line: usize },
    /// The date field is not a real calendar date in `YYYY-MM-DD` form.
    #[error("节假日数据第{line}行的日期“{value}”无效，应为 YYYY-MM-DD 格式的真实日期")]
    BadDate { line: usize, value: String },
    /// The kind field is neither `holiday` nor `workday`.
    #[error("节假日数据第{line}行的类型“{value}”无效，只能是 holiday（放假）或 workday（调休上班）")]
    BadKind { line: usize, value: String },
    /// The same date is listed twice.
    #[error("节假日数据第{line}行的日期 {date} 与第{first_line}行重复")]
    Duplicate { line: usize, first_line: usize, date: NaiveDate },
    /// A make-up workday that is not a Saturday or Sunday.
    #[error("节假日数据第{line}行：调休上班日 {date} 不是周六或周日")]
    WorkdayNotWeekend { line: usize, date: NaiveDate },
    /// The years with entries have a gap, so the gap year would wrongly count as covered.
    #[error("节假日数据缺少{year}年的安排（各年份必须连续）")]
    MissingYear { year: i32 },
    /// No entry at all.
    #[error("节假日数据中没有任何日期")]
    Empty,
}

impl WorkCalendar {
    /// The built-in calendar of China for 2023–2026, from the State Council
    /// notices (国务院办公厅关于20XX年部分节假日安排的通知). Parsed once.
    pub fn china() -> &'static WorkCalendar {
        static CHINA: OnceLock<WorkCalendar> = OnceLock::new();
        CHINA.get_or_init(|| {
            // The built-in data is checked by the tests; a parse failure here
            // is a build defect, not an input error.
            Self::parse(CHINA_DATA).expect("built-in data/holidays-cn.txt must parse")
        })
    }

    /// Parses calendar data in the format described in the [module docs](self).
    /// A leading UTF-8 byte-order mark is ignored. Errors name the offending line.
    pub fn parse(text: &str) -> Result<WorkCalendar, CalendarError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut entries: BTreeMap<NaiveDate, (Kind, String)> = BTreeMap::new();
        let mut lines_of: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for (idx, raw) in text.lines().enumerate() {
            let line = idx + 1;
            let content = match raw.find('#') {
                Some(pos) => &raw[..pos],
                None => raw,
            };
            let content = content.trim();
            if content.is_empty() {
                continue;
            }
            let (date_str, rest) = split_field(content);
            let (kind_str, name) = split_field(rest);
            if kind_str.is_empty() {
                return Err(CalendarError::Syntax { line });
            }
            let date = parse_iso_date(date_str)
                .ok_or_else(|| CalendarError::BadDate { line, value: date_str.to_owned() })?;
            let kind = match kind_str {
                "holiday" => Kind::Holiday,
                "workday" => Kind::Workday,
                other => return Err(CalendarError::BadKind { line, value: other.to_owned() }),
            };
            if kind == Kind::Workday && !is_weekend(date) {
                return Err(CalendarError::WorkdayNotWeekend { line, date });
            }
            if let Some(&first_line) = lines_of.get(&date) {
                return Err(CalendarError::Duplicate { line, first_line, date });
            }
            lines_of.insert(date, line);
            entries.insert(date, (kind, name.trim().to_owned()));
        }

        let (first, last) = match (entries.keys().next(), entries.keys().next_back()) {
            (Some(first), Some(last)) => (first.year(), last.year()),
            _ => return Err(CalendarError::Empty),
        };
        for year in first..=last {
            let start = NaiveDate::from_ymd_opt(year, 1, 1);
            let end = NaiveDate::from_ymd_opt(year, 12, 31);
            let has_entry = match (start, end) {
                (Some(start), Some(end)) => entries.range(start..=end).next().is_some(),
                _ => false,
            };
            if !has_entry {
                return Err(CalendarError::MissingYear { year });
            }
        }

        // BTreeMap iteration is sorted, so both vectors are sorted.
        let weekday_holidays = entries
            .iter()
            .filter(|(d, (k, _))| *k == Kind::Holiday && !is_weekend(**d))
            .map(|(d, _)| *d)
            .collect();
        let weekend_workdays =
            entries.iter().filter(|(_, (k, _))| *k == Kind::Workday).map(|(d, _)| *d).collect();
        Ok(WorkCalendar { entries, weekday_holidays, weekend_workdays, years: (first, last) })
    }

    /// Years covered by the data, e.g. `2023..=2026` for [`china`](Self::china).
    /// Outside these years weekends are off and Monday–Friday are working days.
    pub fn covered_years(&self) -> RangeInclusive<i32> {
        self.years.0..=self.years.1
    }

    /// Whether `d` is a working day: Monday–Friday that is not a public
    /// holiday, or a make-up workday.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        match self.entries.get(&d) {
            Some((Kind::Holiday, _)) => false,
            Some((Kind::Workday, _)) => true,
            None => !is_weekend(d),
        }
    }

    /// The name of the holiday or make-up workday on `d` as given in the data
    /// (e.g. "春节", "春节调休"), if `d` is listed.
    pub fn day_name(&self, d: NaiveDate) -> Option<&str> {
        self.entries.get(&d).map(|(_, name)| name.as_str())
    }

    /// The date that is `n` working days after `start` (`start` itself is not
    /// counted, so the result is always a working day when `n > 0`).
    /// `n = 0` returns `start`.
    ///
    /// Should the answer lie beyond the last date chrono can represent, the
    /// result saturates at [`NaiveDate::MAX`].
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        if n == 0 {
            return start;
        }
        // The smallest d > start with working_days_between(start, d) >= n: the
        // count only grows on working days, so that d is a working day.
        let base = day_number(start);
        let mut lo = base; // count(start, lo) < n
        let mut hi = day_number(NaiveDate::MAX);
        if self.count(base, hi) < i64::from(n) {
            return NaiveDate::MAX;
        }
        // Invariant: count(base, lo) < n <= count(base, hi).
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.count(base, mid) >= i64::from(n) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        from_day_number(hi).unwrap_or(NaiveDate::MAX)
    }

    /// Number of working days `d` with `from < d <= to` (0 if `to <= from`).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        if to <= from {
            return 0;
        }
        // Even the whole range of chrono dates holds fewer than u32::MAX days.
        u32::try_from(self.count(day_number(from), day_number(to))).unwrap_or(u32::MAX)
    }

    /// Working days in the day-number range `(from, to]`, for `from <= to`.
    fn count(&self, from: i64, to: i64) -> i64 {
        let plain = weekdays_up_to(to) - weekdays_up_to(from);
        let removed = count_in(&self.weekday_holidays, from, to);
        let added = count_in(&self.weekend_workdays, from, to);
        plain - removed + added
    }
}

/// Splits off the first whitespace-separated field; returns (field, rest).
fn split_field(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(pos) => (&s[..pos], &s[pos..]),
        None => (s, ""),
    }
}

/// Parses a strict `YYYY-MM-DD` date (four-digit year, two-digit month and day).
fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(range)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Days since the common era; day 1 is 0001-01-01, a Monday.
fn day_number(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce())
}

fn from_day_number(n: i64) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(n).ok()?)
}

/// Number of Monday–Friday days among day numbers `1..=k` (relative count:
/// `weekdays_up_to(b) - weekdays_up_to(a)` counts the weekdays in `(a, b]`
/// for any `a <= b`, negative day numbers included).
fn weekdays_up_to(k: i64) -> i64 {
    // Day numbers with k mod 7 in 1..=5 are Monday..Friday, 6 and 0 are the weekend.
    k.div_euclid(7) * 5 + k.rem_euclid(7).min(5)
}

/// Number of dates in the sorted slice with day number in `(from, to]`.
fn count_in(sorted: &[NaiveDate], from: i64, to: i64) -> i64 {
    let upto = |limit: i64| sorted.partition_point(|d| day_number(*d) <= limit);
    // A slice length always fits in i64.
    i64::try_from(upto(to).saturating_sub(upto(from))).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_one_is_monday() {
        assert_eq!(from_day_number(1).map(|d| d.weekday()), Some(Weekday::Mon));
    }

    #[test]
    fn weekday_count_matches_brute_force_around_zero() {
        for a in -30i64..30 {
            for b in a..a + 30 {
                let brute = ((a + 1)..=b).filter(|k| (1..=5).contains(&k.rem_euclid(7))).count();
                assert_eq!(weekdays_up_to(b) - weekdays_up_to(a), brute as i64);
            }
        }
    }
}
