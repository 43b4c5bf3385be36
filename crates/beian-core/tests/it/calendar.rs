//! Tests of the working-day calendar, checked against an independent oracle:
//! the npm package `chinese-days` (see scripts/gen-calendar-fixture).

use beian_core::calendar::{CalendarError, HolidayYear, WorkCalendar};
use chrono::{Datelike, NaiveDate, Weekday};

/// `isWorkday()` of npm `chinese-days` for every day of 2023–2026.
const ORACLE: &str = include_str!("data/chinese-days-2023-2026.txt");

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap_or_else(|| panic!("bad test date {y}-{m}-{day}"))
}

fn oracle_days() -> Vec<(NaiveDate, bool)> {
    ORACLE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (date, verdict) = l.split_once(' ').unwrap_or_else(|| panic!("bad fixture line {l:?}"));
            let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .unwrap_or_else(|e| panic!("bad fixture date {l:?}: {e}"));
            let working = match verdict {
                "work" => true,
                "off" => false,
                other => panic!("bad fixture verdict {other:?}"),
            };
            (date, working)
        })
        .collect()
}

#[test]
fn every_day_2023_to_2026_agrees_with_oracle() {
    let cal = WorkCalendar::china();
    let days = oracle_days();
    // The fixture is complete: every day of the four years, in order.
    assert_eq!(days.len(), 365 + 366 + 365 + 365);
    let mut expected = d(2023, 1, 1);
    let mut mismatches = Vec::new();
    for (date, working) in &days {
        assert_eq!(*date, expected, "fixture is not consecutive");
        expected = expected.succ_opt().unwrap_or(NaiveDate::MAX);
        if cal.is_working_day(*date) != *working {
            mismatches.push(format!("{date}: oracle says working={working}"));
        }
    }
    assert!(mismatches.is_empty(), "disagreements: {mismatches:#?}");
}

#[test]
fn working_days_per_year_agree_with_oracle() {
    let cal = WorkCalendar::china();
    let days = oracle_days();
    for year in 2023..=2026 {
        let oracle = days.iter().filter(|(date, w)| *w && date.year() == year).count();
        let ours = cal.working_days_between(d(year - 1, 12, 31), d(year, 12, 31));
        assert_eq!(ours as usize, oracle, "working days in {year}");
    }
}

#[test]
fn covered_years_are_2023_to_2026() {
    let cal = WorkCalendar::china();
    assert_eq!(cal.years(), [2023, 2024, 2025, 2026]);
    assert!(cal.covers(2026) && !cal.covers(2027) && !cal.covers(2022));
    assert_eq!(cal.uncovered_years(d(2026, 12, 2), d(2027, 1, 31)), [2027]);
    assert_eq!(cal.uncovered_years(d(2026, 3, 2), d(2026, 5, 1)), Vec::<i32>::new());
}

/// The shipped files are the holiday-cn format, each for its own year.
#[test]
fn builtin_files_parse() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/data/calendar");
    for year in 2023..=2026 {
        let text = std::fs::read_to_string(format!("{root}/{year}.json")).expect("shipped file");
        let parsed = HolidayYear::parse_json(&text, Some(year)).unwrap_or_else(|e| panic!("{year}: {e}"));
        assert!(parsed.len() > 20, "{year}");
        // What the service stores reads back as the same year.
        assert_eq!(HolidayYear::parse_json(&parsed.to_json(), Some(year)), Ok(parsed));
    }
    assert_eq!(WorkCalendar::builtin_years().len(), 4);
}

#[test]
fn known_days() {
    let cal = WorkCalendar::china();
    // 2024-09-29 is a Sunday worked for 国庆 2024.
    assert!(cal.is_working_day(d(2024, 9, 29)));
    assert_eq!(cal.day_name(d(2024, 9, 29)), Some("国庆节调休"));
    // 2024-10-01..07 off; 2024-10-12 is a Saturday worked.
    for day in 1..=7 {
        assert!(!cal.is_working_day(d(2024, 10, day)), "2024-10-{day:02}");
    }
    assert!(cal.is_working_day(d(2024, 10, 12)));
    // 春节 2025: 01-28 .. 02-04 off, 01-26 (Sun) and 02-08 (Sat) worked.
    assert!(!cal.is_working_day(d(2025, 1, 28)));
    assert!(!cal.is_working_day(d(2025, 2, 4)));
    assert!(cal.is_working_day(d(2025, 1, 26)));
    assert!(cal.is_working_day(d(2025, 2, 8)));
    assert_eq!(cal.day_name(d(2025, 2, 1)), Some("春节"));
    // A plain day has no name.
    assert_eq!(cal.day_name(d(2025, 3, 3)), None);
}

#[test]
fn outside_covered_years_only_weekends_are_off() {
    let cal = WorkCalendar::china();
    // 2022-10-03 was a real 国庆 holiday, but 2022 is not covered: plain Monday.
    assert!(cal.is_working_day(d(2022, 10, 3)));
    // 2027-01-01 (Friday) is not covered either.
    assert!(cal.is_working_day(d(2027, 1, 1)));
    assert!(!cal.is_working_day(d(2027, 1, 2)));
    assert!(!cal.is_working_day(d(2027, 1, 3)));
}

#[test]
fn add_working_days_across_national_day_2024() {
    let cal = WorkCalendar::china();
    // Friday 09-27 -> the make-up Sunday 09-29 -> Monday 09-30 -> after the holiday.
    assert_eq!(cal.add_working_days(d(2024, 9, 27), 1), d(2024, 9, 29));
    assert_eq!(cal.add_working_days(d(2024, 9, 27), 2), d(2024, 9, 30));
    assert_eq!(cal.add_working_days(d(2024, 9, 27), 3), d(2024, 10, 8));
    assert_eq!(cal.add_working_days(d(2024, 9, 29), 1), d(2024, 9, 30));
    assert_eq!(cal.add_working_days(d(2024, 9, 30), 1), d(2024, 10, 8));
    // Starting inside the holiday.
    assert_eq!(cal.add_working_days(d(2024, 10, 3), 1), d(2024, 10, 8));
    // 10-11 (Fri) -> 10-12 (make-up Saturday) -> 10-14 (Mon).
    assert_eq!(cal.add_working_days(d(2024, 10, 10), 2), d(2024, 10, 12));
    assert_eq!(cal.add_working_days(d(2024, 10, 10), 3), d(2024, 10, 14));
    // 15 working days from the make-up Sunday: 09-30, 10-08..12, 10-14..18, 10-21..24.
    assert_eq!(cal.add_working_days(d(2024, 9, 29), 15), d(2024, 10, 24));
}

#[test]
fn add_working_days_across_spring_festival() {
    let cal = WorkCalendar::china();
    // 2024: 除夕 02-09 (Fri) is worked; 02-10..17 off; 02-18 (Sun) worked.
    assert_eq!(cal.add_working_days(d(2024, 2, 8), 1), d(2024, 2, 9));
    assert_eq!(cal.add_working_days(d(2024, 2, 8), 2), d(2024, 2, 18));
    assert_eq!(cal.add_working_days(d(2024, 2, 8), 3), d(2024, 2, 19));
    // 2025: 01-26 (Sun) worked; 01-28..02-04 off.
    assert_eq!(cal.add_working_days(d(2025, 1, 24), 1), d(2025, 1, 26));
    assert_eq!(cal.add_working_days(d(2025, 1, 24), 2), d(2025, 1, 27));
    assert_eq!(cal.add_working_days(d(2025, 1, 24), 3), d(2025, 2, 5));
    // 2026: 02-14 (Sat) worked; 02-15..23 off (9 days).
    assert_eq!(cal.add_working_days(d(2026, 2, 13), 1), d(2026, 2, 14));
    assert_eq!(cal.add_working_days(d(2026, 2, 13), 2), d(2026, 2, 24));
}

#[test]
fn add_zero_returns_start_even_on_a_day_off() {
    let cal = WorkCalendar::china();
    assert_eq!(cal.add_working_days(d(2024, 10, 1), 0), d(2024, 10, 1));
    assert_eq!(cal.add_working_days(d(2024, 10, 5), 0), d(2024, 10, 5));
}

#[test]
fn add_working_days_leaves_the_covered_years() {
    let cal = WorkCalendar::china();
    // 2026-12-31 is a Thursday; 2027 is not covered, so 2027-01-01 (Fri) counts.
    assert_eq!(cal.add_working_days(d(2026, 12, 31), 1), d(2027, 1, 1));
    assert_eq!(cal.add_working_days(d(2026, 12, 31), 2), d(2027, 1, 4));
    // And from before the covered years into them: 2022-12-30 (Fri) -> 2023-01-03.
    assert_eq!(cal.add_working_days(d(2022, 12, 30), 1), d(2023, 1, 3));
}

#[test]
fn working_days_between_examples() {
    let cal = WorkCalendar::china();
    assert_eq!(cal.working_days_between(d(2024, 9, 30), d(2024, 10, 8)), 1);
    assert_eq!(cal.working_days_between(d(2024, 2, 8), d(2024, 2, 18)), 2);
    // 09-29, 09-30, 10-08, 10-09, 10-10, 10-11, 10-12.
    assert_eq!(cal.working_days_between(d(2024, 9, 27), d(2024, 10, 12)), 7);
    // `from` itself is not counted, `to` is.
    assert_eq!(cal.working_days_between(d(2024, 9, 29), d(2024, 9, 30)), 1);
    // Empty and reversed ranges.
    assert_eq!(cal.working_days_between(d(2024, 5, 6), d(2024, 5, 6)), 0);
    assert_eq!(cal.working_days_between(d(2024, 5, 7), d(2024, 5, 6)), 0);
    // A plain week outside the covered years.
    assert_eq!(cal.working_days_between(d(2030, 3, 3), d(2030, 3, 10)), 5);
}

/// add_working_days and working_days_between agree with stepping day by day.
#[test]
fn add_and_between_match_brute_force() {
    let cal = WorkCalendar::china();
    let mut start = d(2022, 12, 1);
    while start <= d(2027, 1, 31) {
        let mut day = start;
        let mut count = 0u32;
        for n in 1..=25u32 {
            loop {
                day = day.succ_opt().unwrap_or(NaiveDate::MAX);
                if cal.is_working_day(day) {
                    count += 1;
                    break;
                }
            }
            assert_eq!(cal.add_working_days(start, n), day, "{start} + {n}");
            assert_eq!(cal.working_days_between(start, day), count);
        }
        start = start.succ_opt().unwrap_or(NaiveDate::MAX);
    }
}

#[test]
fn extreme_inputs_do_not_panic() {
    let cal = WorkCalendar::china();
    assert_eq!(cal.add_working_days(NaiveDate::MAX, 1), NaiveDate::MAX);
    assert_eq!(cal.add_working_days(NaiveDate::MIN, u32::MAX), NaiveDate::MAX);
    assert_eq!(cal.add_working_days(d(2024, 1, 1), u32::MAX), NaiveDate::MAX);
    let all = cal.working_days_between(NaiveDate::MIN, NaiveDate::MAX);
    assert!(all > 0);
    // Far from the covered years the arithmetic is exact.
    let start = NaiveDate::MIN;
    let target = cal.add_working_days(start, 1_000_000);
    assert_eq!(cal.working_days_between(start, target), 1_000_000);
    assert!(cal.is_working_day(target));
    assert_ne!(target.weekday(), Weekday::Sat);
}

fn year(text: &str) -> HolidayYear {
    HolidayYear::parse_json(text, None).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn parse_custom_data() {
    let text = r#"{"year": 2030, "papers": ["ignored"], "days": [
        {"name": "国庆节", "date": "2030-10-01", "isOffDay": true},
        {"date": "2030-10-02", "isOffDay": true},
        {"name": "国庆节调休", "date": "2030-09-29", "isOffDay": false}
    ]}"#;
    let cal = WorkCalendar::from_years([year(text)]);
    assert_eq!(cal.years(), [2030]);
    assert!(!cal.is_working_day(d(2030, 10, 1)));
    assert!(cal.is_working_day(d(2030, 9, 29)));
    assert_eq!(cal.day_name(d(2030, 10, 1)), Some("国庆节"));
    assert_eq!(cal.day_name(d(2030, 10, 2)), Some(""));
    // 09-28 (Sat) off, 09-29 (Sun) worked, 09-30 worked, 10-01 and 10-02 off,
    // 10-03 and 10-04 worked.
    assert_eq!(d(2030, 9, 29).weekday(), Weekday::Sun);
    assert_eq!(cal.working_days_between(d(2030, 9, 27), d(2030, 10, 4)), 4);
    assert!(WorkCalendar::from_years([]).years().is_empty());
}

/// A later file of the same year replaces the earlier one; a year's own file decides its
/// dates over a neighbour's New Year span; years need not be contiguous.
#[test]
fn years_replace_and_merge() {
    let builtin = WorkCalendar::builtin_years();
    // 2026-01-02 (Fri) is off in the shipped data.
    assert!(!WorkCalendar::china().is_working_day(d(2026, 1, 2)));
    let replaced = year(r#"{"year": 2026, "days": [{"name": "x", "date": "2026-05-04", "isOffDay": true}]}"#);
    let cal = WorkCalendar::from_years(builtin.into_iter().chain([replaced]));
    assert!(cal.is_working_day(d(2026, 1, 2)), "the old 2026 is gone");
    assert!(!cal.is_working_day(d(2026, 5, 4)));
    let y2028 = year(
        r#"{"year": 2028, "days": [{"name": "元旦", "date": "2027-12-31", "isOffDay": true},
        {"name": "元旦", "date": "2028-01-01", "isOffDay": true}]}"#,
    );
    let y2027 = year(
        r#"{"year": 2027, "days": [{"name": "元旦", "date": "2027-01-01", "isOffDay": true},
        {"name": "年末", "date": "2027-12-31", "isOffDay": true}]}"#,
    );
    let cal = WorkCalendar::from_years([y2028.clone()]);
    assert_eq!(cal.years(), [2028]);
    assert!(!cal.is_working_day(d(2027, 12, 31)), "the neighbour's span counts");
    assert_eq!(cal.day_name(d(2027, 12, 31)), Some("元旦"));
    let cal = WorkCalendar::from_years([y2028, y2027]);
    assert_eq!(cal.day_name(d(2027, 12, 31)), Some("年末"), "2027's own file decides 2027's dates");
    assert_eq!(cal.years(), [2027, 2028]);
}

#[test]
fn parse_errors_say_what_is_wrong() {
    let day = |date: &str, off: bool| format!(r#"{{"name": "n", "date": "{date}", "isOffDay": {off}}}"#);
    let file = |y: i32, days: &[String]| format!(r#"{{"year": {y}, "days": [{}]}}"#, days.join(","));
    let cases: Vec<(String, Option<i32>, CalendarError)> = vec![
        (
            file(2027, &[day("2027-02-30", true)]),
            None,
            CalendarError::BadDate { item: 1, value: "2027-02-30".into() },
        ),
        (
            file(2027, &[day("2027-01-01", true), day("2027-1-02", true)]),
            None,
            CalendarError::BadDate { item: 2, value: "2027-1-02".into() },
        ),
        (
            file(2027, &[day("2027-01-01", true)]),
            Some(2028),
            CalendarError::WrongYear { expected: 2028, found: 2027 },
        ),
        (file(1900, &[day("1900-01-01", true)]), None, CalendarError::BadYear { year: 1900 }),
        (
            file(2027, &[day("2025-06-01", true)]),
            None,
            CalendarError::DateOutsideYear { item: 1, date: d(2025, 6, 1), year: 2027 },
        ),
        (
            file(2027, &[day("2027-01-01", true), day("2027-01-01", true)]),
            None,
            CalendarError::Duplicate { item: 2, first: 1, date: d(2027, 1, 1) },
        ),
        (
            file(2027, &[day("2027-02-01", false)]),
            None,
            CalendarError::WorkdayNotWeekend { item: 1, date: d(2027, 2, 1) },
        ),
        (file(2027, &[]), None, CalendarError::Empty { year: 2027 }),
    ];
    for (text, expected, error) in cases {
        assert_eq!(HolidayYear::parse_json(&text, expected), Err(error), "{text}");
    }
    for text in [
        "",
        "[]",
        "{\"year\": 2027}",
        "{\"year\": \"2027\", \"days\": []}",
        "{\"year\": 2027, \"days\": [{\"date\": \"2027-01-01\"}]}",
    ] {
        let err = HolidayYear::parse_json(text, None).err();
        assert!(matches!(err, Some(CalendarError::Json { .. })), "{text}: {err:?}");
    }
    let msg = HolidayYear::parse_json(&file(2027, &[day("2027-02-01", false)]), None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("第1项") && msg.contains("不是周六或周日"), "{msg}");
    let msg = HolidayYear::parse_json("not json", None).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("holiday-cn 格式"), "{msg}");
}

#[test]
fn parse_never_panics_on_odd_input() {
    for text in [
        "\u{feff}{\"year\": 2024, \"days\": [{\"date\": \"2024-01-01\", \"isOffDay\": true}]}",
        "{\"year\": 2147483647, \"days\": [{\"date\": \"2024-01-01\", \"isOffDay\": true}]}",
        "{\"year\": -2147483648, \"days\": []}",
        "{\"year\": 2024, \"days\": [{\"date\": \"２０２４-01-01\", \"isOffDay\": true}]}",
        "{\"year\": 2024, \"days\": [{\"date\": \"2024-01-0é\", \"isOffDay\": true}]}",
        "{\"year\": 2100, \"days\": [{\"date\": \"2101-01-01\", \"isOffDay\": true}]}",
        "{\"year\": 2000, \"days\": [{\"date\": \"1999-12-31\", \"isOffDay\": true}]}",
    ] {
        let _ = HolidayYear::parse_json(text, None);
    }
    assert!(HolidayYear::parse_json(
        "\u{feff}{\"year\": 2024, \"days\": [{\"date\": \"2024-01-01\", \"isOffDay\": true}]}",
        None
    )
    .is_ok());
}
