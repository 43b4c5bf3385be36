//! China working-day calendar: public holidays (法定节假日) and make-up
//! workdays (调休上班日) as announced each year by the State Council.
//!
//! Data comes one year at a time in the JSON format of NateScarlet/holiday-cn
//! (`{year}.json`), parsed by [`HolidayYear::parse_json`]:
//!
//! ```json
//! {"year": 2026, "days": [
//!   {"name": "元旦", "date": "2026-01-01", "isOffDay": true},
//!   {"name": "春节调休", "date": "2026-02-14", "isOffDay": false}
//! ]}
//! ```
//!
//! `isOffDay: true` is a day off (weekend days inside a holiday span may be listed too);
//! `false` is a make-up workday and must be a Saturday or Sunday. Other fields (`papers`,
//! `$schema`) are ignored. A file may list a few days of the neighbouring years (a New Year
//! span that starts on 31 December). The built-in files, `data/calendar/2023.json` to
//! `2026.json`, are embedded ([`WorkCalendar::china`]); the service replaces or adds years
//! at run time ([`WorkCalendar::from_years`]). This module does no IO.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, Weekday};

/// The built-in data files, one per year.
const CHINA_DATA: [&str; 4] = [
    include_str!("../data/calendar/2023.json"),
    include_str!("../data/calendar/2024.json"),
    include_str!("../data/calendar/2025.json"),
    include_str!("../data/calendar/2026.json"),
];

/// What the calendar says about one listed date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Holiday,
    Workday,
}

/// One year's arrangement, parsed and checked: the unit the data directory and the operators'
/// upload replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayYear {
    year: i32,
    entries: BTreeMap<NaiveDate, (Kind, String)>,
}

/// A working-day calendar: Monday to Friday are working days, Saturday and
/// Sunday are not, except for the listed public holidays (days off) and
/// make-up workdays (weekend days that are worked).
///
/// For a year that is not [covered](Self::covers) nothing is known about
/// holidays: there every Saturday and Sunday is a day off and every Monday to
/// Friday is a working day. Callers that schedule deadlines far ahead should
/// check [`uncovered_years`](Self::uncovered_years) and load newer data when the State Council
/// publishes the next year's arrangement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkCalendar {
    /// Every listed date with its kind and name, for [`is_working_day`](Self::is_working_day).
    entries: BTreeMap<NaiveDate, (Kind, String)>,
    /// Sorted holidays that fall on Monday–Friday (each removes a working day).
    weekday_holidays: Vec<NaiveDate>,
    /// Sorted make-up workdays (each adds a working day on a weekend).
    weekend_workdays: Vec<NaiveDate>,
    /// The years with data, sorted.
    years: Vec<i32>,
}

/// Why a year's file was refused. Items of `days` are numbered from 1. The messages are for
/// operators (Chinese, with what to do).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// Not JSON, or not the holiday-cn shape.
    #[error("节假日文件不是 holiday-cn 格式的 JSON（应为 {{\"year\": 2027, \"days\": [{{\"name\": \"元旦\", \"date\": \"2027-01-01\", \"isOffDay\": true}}]}}）：{detail}")]
    Json { detail: String },
    /// The file is for another year than the one it is loaded as.
    #[error("文件中的年份是{found}年，不是{expected}年，请上传{expected}年的文件")]
    WrongYear { expected: i32, found: i32 },
    /// `year` is outside the years this calendar accepts.
    #[error("年份{year}无效，应在2000年至2100年之间")]
    BadYear { year: i32 },
    /// A date that is not a real calendar date in `YYYY-MM-DD` form.
    #[error("days 第{item}项的日期“{value}”无效，应为 YYYY-MM-DD 格式的真实日期")]
    BadDate { item: usize, value: String },
    /// A date too far from the file's year.
    #[error("days 第{item}项的日期 {date} 不属于{year}年的安排")]
    DateOutsideYear { item: usize, date: NaiveDate, year: i32 },
    /// The same date is listed twice.
    #[error("days 第{item}项的日期 {date} 与第{first}项重复")]
    Duplicate { item: usize, first: usize, date: NaiveDate },
    /// A make-up workday that is not a Saturday or Sunday.
    #[error("days 第{item}项：调休上班日 {date} 不是周六或周日（isOffDay 为 false 的日期必须是周末）")]
    WorkdayNotWeekend { item: usize, date: NaiveDate },
    /// No day at all: the arrangement is not published yet (holiday-cn ships such files).
    #[error("{year}年的文件中没有任何日期（国务院的放假安排可能尚未发布）")]
    Empty { year: i32 },
}

/// The accepted years: far enough for any real arrangement, small enough that date arithmetic
/// near them never overflows.
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

#[derive(serde::Deserialize)]
struct RawYear {
    year: i32,
    days: Vec<RawDay>,
}

#[derive(serde::Deserialize)]
struct RawDay {
    #[serde(default)]
    name: String,
    date: String,
    #[serde(rename = "isOffDay")]
    is_off_day: bool,
}

impl HolidayYear {
    /// Parses one year's file in the holiday-cn format (see the [module docs](self)). With
    /// `expected`, the file must say that year. A leading UTF-8 byte-order mark is ignored.
    pub fn parse_json(text: &str, expected: Option<i32>) -> Result<HolidayYear, CalendarError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let raw: RawYear =
            serde_json::from_str(text).map_err(|e| CalendarError::Json { detail: e.to_string() })?;
        let year = raw.year;
        if let Some(expected) = expected {
            if expected != year {
                return Err(CalendarError::WrongYear { expected, found: year });
            }
        }
        if !YEARS.contains(&year) {
            return Err(CalendarError::BadYear { year });
        }
        let mut entries: BTreeMap<NaiveDate, (Kind, String)> = BTreeMap::new();
        let mut items: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for (idx, day) in raw.days.into_iter().enumerate() {
            let item = idx + 1;
            let date = parse_iso_date(&day.date)
                .ok_or_else(|| CalendarError::BadDate { item, value: day.date.clone() })?;
            // The year itself, or a neighbouring month (a span across New Year).
            let near = date.year() == year
                || (date.year() == year - 1 && date.month() == 12)
                || (date.year() == year + 1 && date.month() == 1);
            if !near {
                return Err(CalendarError::DateOutsideYear { item, date, year });
            }
            let kind = if day.is_off_day { Kind::Holiday } else { Kind::Workday };
            if kind == Kind::Workday && !is_weekend(date) {
                return Err(CalendarError::WorkdayNotWeekend { item, date });
            }
            if let Some(&first) = items.get(&date) {
                return Err(CalendarError::Duplicate { item, first, date });
            }
            items.insert(date, item);
            entries.insert(date, (kind, day.name.trim().to_owned()));
        }
        if entries.is_empty() {
            return Err(CalendarError::Empty { year });
        }
        Ok(HolidayYear { year, entries })
    }

    /// The year this file arranges.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// How many days it lists (days off and make-up workdays).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Never true for a parsed year (an empty file is refused); for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The year in the holiday-cn JSON format, dates in order (what the service stores).
    pub fn to_json(&self) -> String {
        let days: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|(date, (kind, name))| {
                serde_json::json!({
                    "name": name,
                    "date": date.format("%Y-%m-%d").to_string(),
                    "isOffDay": *kind == Kind::Holiday,
                })
            })
            .collect();
        serde_json::json!({ "year": self.year, "days": days }).to_string()
    }
}

impl WorkCalendar {
    /// The built-in calendar of China for 2023–2026, from the State Council
    /// notices (国务院办公厅关于20XX年部分节假日安排的通知). Parsed once.
    pub fn china() -> &'static WorkCalendar {
        static CHINA: OnceLock<WorkCalendar> = OnceLock::new();
        CHINA.get_or_init(|| WorkCalendar::from_years(WorkCalendar::builtin_years()))
    }

    /// The built-in years, parsed (the service starts from these and replaces years with
    /// files and uploads).
    pub fn builtin_years() -> Vec<HolidayYear> {
        // The built-in files are checked by the tests (`builtin_files_parse`); one that did
        // not parse would be a build defect, and the year would count weekdays only.
        CHINA_DATA.iter().filter_map(|text| HolidayYear::parse_json(text, None).ok()).collect()
    }

    /// A calendar of these years; a later year of the same number replaces an earlier one.
    /// Where two files list the same date (a New Year span), the file of the date's own year
    /// wins.
    pub fn from_years(years: impl IntoIterator<Item = HolidayYear>) -> WorkCalendar {
        let mut by_year: BTreeMap<i32, HolidayYear> = BTreeMap::new();
        for y in years {
            by_year.insert(y.year, y);
        }
        let mut entries: BTreeMap<NaiveDate, (Kind, String)> = BTreeMap::new();
        for y in by_year.values() {
            for (date, entry) in y.entries.iter().filter(|(d, _)| d.year() != y.year) {
                entries.entry(*date).or_insert_with(|| entry.clone());
            }
        }
        for y in by_year.values() {
            for (date, entry) in y.entries.iter().filter(|(d, _)| d.year() == y.year) {
                entries.insert(*date, entry.clone());
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
        WorkCalendar { entries, weekday_holidays, weekend_workdays, years: by_year.into_keys().collect() }
    }

    /// The years with data, e.g. `[2023, 2024, 2025, 2026]` for [`china`](Self::china).
    /// In other years weekends are off and Monday–Friday are working days.
    pub fn years(&self) -> &[i32] {
        &self.years
    }

    /// Whether `year` has data.
    pub fn covers(&self, year: i32) -> bool {
        self.years.binary_search(&year).is_ok()
    }

    /// The years without data among the days `from..=to` (ascending): deadlines there count
    /// Monday–Friday only.
    pub fn uncovered_years(&self, from: NaiveDate, to: NaiveDate) -> Vec<i32> {
        (from.year()..=to.year()).filter(|y| !self.covers(*y)).collect()
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
