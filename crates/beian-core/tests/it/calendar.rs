//! Tests of the working-day calendar, checked against an independent oracle:
//! the npm package `chinese-days` (see scripts/gen-calendar-fixture).

use beian_core::calendar::{CalendarError, WorkCalendar};
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
    assert_eq!(WorkCalendar::china().covered_years(), 2023..=2026);
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

#[test]
fn parse_custom_data() {
    let text = "\
# my calendar
2030-10-01 holiday 国庆节   # trailing comment
2030-10-02 holiday
2030-09-29 workday 国庆节调休

";
    let cal = WorkCalendar::parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cal.covered_years(), 2030..=2030);
    assert!(!cal.is_working_day(d(2030, 10, 1)));
    assert!(cal.is_working_day(d(2030, 9, 29)));
    assert_eq!(cal.day_name(d(2030, 10, 1)), Some("国庆节"));
    assert_eq!(cal.day_name(d(2030, 10, 2)), Some(""));
    // 09-28 (Sat) off, 09-29 (Sun) worked, 09-30 worked, 10-01 and 10-02 off,
    // 10-03 and 10-04 worked.
    assert_eq!(d(2030, 9, 29).weekday(), Weekday::Sun);
    assert_eq!(cal.working_days_between(d(2030, 9, 27), d(2030, 10, 4)), 4);
}

#[test]
fn parse_errors_name_the_line() {
    let cases: Vec<(&str, CalendarError)> = vec![
        ("2024-01-01", CalendarError::Syntax { line: 1 }),
        ("# c\n2024-02-30 holiday x", CalendarError::BadDate { line: 2, value: "2024-02-30".into() }),
        ("2024-1-01 holiday", CalendarError::BadDate { line: 1, value: "2024-1-01".into() }),
        ("+2024-01-1 holiday", CalendarError::BadDate { line: 1, value: "+2024-01-1".into() }),
        ("2024-01-01 off", CalendarError::BadKind { line: 1, value: "off".into() }),
        (
            "2024-01-01 holiday\n\n2024-01-01 holiday",
            CalendarError::Duplicate { line: 3, first_line: 1, date: d(2024, 1, 1) },
        ),
        ("2024-02-05 workday 周一", CalendarError::WorkdayNotWeekend { line: 1, date: d(2024, 2, 5) }),
        ("2023-01-01 holiday\n2025-01-01 holiday", CalendarError::MissingYear { year: 2024 }),
        ("# nothing\n\n", CalendarError::Empty),
        ("", CalendarError::Empty),
    ];
    for (text, expected) in cases {
        assert_eq!(WorkCalendar::parse(text), Err(expected), "{text:?}");
    }
    let msg = WorkCalendar::parse("x\n2024-13-01 holiday").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("第1行"), "{msg}");
}

#[test]
fn parse_never_panics_on_odd_input() {
    for text in [
        "\u{feff}2024-01-01 holiday",
        "2024-01-01\tholiday\t春节",
        "２０２４-01-01 holiday",
        "2024-01-0é holiday",
        "9999-12-31 holiday\n",
        "0000-01-01 holiday",
        "#",
        "   ",
        "2024-01-01 holiday 春节 # 注释 # more",
    ] {
        let _ = WorkCalendar::parse(text);
    }
    assert!(WorkCalendar::parse("2024-01-01\tholiday\t春节").is_ok());
    assert!(WorkCalendar::parse("\u{feff}2024-01-01 holiday").is_ok());
}
