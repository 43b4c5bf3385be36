//! Time helpers. The clock is never read here: callers pass `now`.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// China Standard Time (UTC+8), the zone of every date in filing rules.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The calendar date in Beijing at `now`.
pub fn beijing_date(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&beijing()).date_naive()
}

/// Unix seconds to a UTC datetime (out-of-range values clamp to the epoch).
pub fn from_ts(ts: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(ts, 0).unwrap_or_default()
}

/// 23:59:59 Beijing time of `day`, as unix seconds.
pub fn end_of_beijing_day(day: NaiveDate) -> i64 {
    day.and_hms_opt(23, 59, 59).map(|t| t.and_utc().timestamp() - 8 * 3600).unwrap_or(0)
}
