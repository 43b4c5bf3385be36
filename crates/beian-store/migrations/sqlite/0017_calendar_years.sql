-- Working-day data uploaded by operators (beian_service::calendar, beian_store::settings
-- CalendarYears): one row per version of a year's file in the holiday-cn JSON format, as
-- normalised by beian_core::calendar::HolidayYear::to_json. The latest version of a year
-- replaces the built-in data and the files of <data_dir>/calendar for that year. Old
-- versions are kept.
-- Keep in step with ../postgres/0016_calendar_years.sql.
CREATE TABLE calendar_years (
    year BIGINT NOT NULL,
    version BIGINT NOT NULL,
    data TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL,     -- unix second
    PRIMARY KEY (year, version)
);
