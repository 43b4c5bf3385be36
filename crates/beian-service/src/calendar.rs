//! The working-day calendar the platform counts deadlines with, replaceable without a rebuild.
//!
//! Each year comes from one of three sources; a later one replaces an earlier one for that
//! year: the built-in files (`beian-core/data/calendar`, 2023–2026), the files in
//! `<data_dir>/calendar/{year}.json` (read at start and on every reload), and operators'
//! uploads (stored per year and version in `calendar_years`, audited). A year without data
//! counts Monday–Friday only; [`Operations::calendar_gap`] says when the next
//! [`LOOKAHEAD_DAYS`] days reach such a year (the staff dashboard and `beian check` warn).
//!
//! The service holds the current calendar; every caller reads it through
//! [`Service::calendar`] (the planner's `Env`, the dashboard's SLA, the console's dates, the
//! authority simulator through `AuthorityOutbox::add_working_days`). An upload takes effect at
//! once on the node that stores it; other nodes pick it up at their next reload
//! ([`Operations::reload_calendar`]: the server reloads every [`RELOAD_SECS`] seconds).

use crate::aggregates::Operations;
use crate::{audit, Actor, Result, Service, ServiceError};
use beian_core::calendar::{HolidayYear, WorkCalendar};
use beian_core::model::{AuditAction, AuditEntity};
use chrono::{Duration, NaiveDate};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// How far ahead the calendar must have data before operators are warned.
pub const LOOKAHEAD_DAYS: i64 = 60;

/// How often the server reloads the calendar (files and other nodes' uploads).
pub const RELOAD_SECS: u64 = 60;

/// Where a year of the current calendar comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarSource {
    /// Embedded in beian.
    Builtin,
    /// A file of the data directory (its path).
    File(String),
    /// An operator's upload.
    Upload { version: i64, author: String, at: i64 },
}

impl CalendarSource {
    /// For the operator page.
    pub fn label(&self) -> String {
        match self {
            CalendarSource::Builtin => "内置".into(),
            CalendarSource::File(path) => format!("数据目录文件 {path}"),
            CalendarSource::Upload { version, author, .. } => format!("上传第{version}版（{author}）"),
        }
    }
}

/// One year of the current calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarYear {
    pub year: i32,
    pub source: CalendarSource,
    /// Days it lists (days off and make-up workdays).
    pub days: usize,
}

/// What the current calendar was built from.
#[derive(Debug, Clone)]
pub struct CalendarStatus {
    pub years: Vec<CalendarYear>,
    /// Files of the data directory that were skipped, with why (Chinese).
    pub problems: Vec<String>,
    /// The data directory's calendar folder, if the server has one.
    pub dir: Option<String>,
}

/// The next days reach years without data: deadlines there count Monday–Friday only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarGap {
    pub years: Vec<i32>,
    /// The last day looked at (today + [`LOOKAHEAD_DAYS`]).
    pub until: NaiveDate,
}

impl CalendarGap {
    /// The warning, for people.
    pub fn message(&self) -> String {
        let years: Vec<String> = self.years.iter().map(|y| format!("{y}年")).collect();
        format!(
            "{}节假日数据未加载：截止日期按周一至周五计算（未计入法定节假日和调休）。\
             请在运营页“工作日历”上传国务院放假安排（holiday-cn 格式的 JSON），\
             或放入数据目录 calendar/ 下。",
            years.join("、")
        )
    }
}

/// The calendar a node uses now, and the years it was built from.
pub(crate) struct Calendars {
    current: RwLock<Arc<Loaded>>,
    dir: RwLock<Option<PathBuf>>,
}

struct Loaded {
    calendar: Arc<WorkCalendar>,
    years: BTreeMap<i32, (HolidayYear, CalendarSource)>,
    problems: Vec<String>,
}

impl Loaded {
    fn build(years: BTreeMap<i32, (HolidayYear, CalendarSource)>, problems: Vec<String>) -> Loaded {
        let calendar = Arc::new(WorkCalendar::from_years(years.values().map(|(y, _)| y.clone())));
        Loaded { calendar, years, problems }
    }
}

impl Default for Calendars {
    /// The built-in years only.
    fn default() -> Calendars {
        let years = builtin();
        Calendars { current: RwLock::new(Arc::new(Loaded::build(years, Vec::new()))), dir: RwLock::new(None) }
    }
}

fn builtin() -> BTreeMap<i32, (HolidayYear, CalendarSource)> {
    WorkCalendar::builtin_years().into_iter().map(|y| (y.year(), (y, CalendarSource::Builtin))).collect()
}

/// The `{year}.json` files of `dir` (sorted), parsed; a missing directory has none.
fn read_dir_years(dir: &Path) -> (Vec<(HolidayYear, String)>, Vec<String>) {
    let mut years = Vec::new();
    let mut problems = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (years, problems),
        Err(e) => {
            problems.push(format!("无法读取目录 {}：{e}", dir.display()));
            return (years, problems);
        }
    };
    let mut paths: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    paths.sort();
    for path in paths {
        let shown = path.display().to_string();
        let Some(year) = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<i32>().ok()) else {
            problems.push(format!("{shown}：文件名应为年份，如 2027.json，已跳过"));
            continue;
        };
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| format!("无法读取：{e}"))
            .and_then(|text| HolidayYear::parse_json(&text, Some(year)).map_err(|e| e.to_string()));
        match parsed {
            Ok(y) => years.push((y, shown)),
            Err(e) => problems.push(format!("{shown}：{e}，已跳过")),
        }
    }
    (years, problems)
}

impl Service {
    /// The working-day calendar in force on this node (see the module docs).
    pub fn calendar(&self) -> Arc<WorkCalendar> {
        self.calendars.current.read().unwrap_or_else(|p| p.into_inner()).calendar.clone()
    }
}

impl Operations<'_> {
    /// Where this node reads calendar files from (`<data_dir>/calendar`); takes effect at the
    /// next [`reload_calendar`](Self::reload_calendar).
    pub fn set_calendar_dir(&self, dir: PathBuf) {
        *self.calendars.dir.write().unwrap_or_else(|p| p.into_inner()) = Some(dir);
    }

    /// Build the calendar again: built-in years, then the data directory's files, then the
    /// latest upload of each year. Files that do not parse are skipped (logged, and listed
    /// in [`calendar_status`](Self::calendar_status)); a failing database keeps the calendar
    /// in force.
    pub async fn reload_calendar(&self) -> Result<()> {
        let mut years = builtin();
        let dir = self.calendars.dir.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut problems = Vec::new();
        if let Some(dir) = dir {
            let (files, skipped) = tokio::task::spawn_blocking(move || read_dir_years(&dir))
                .await
                .map_err(|e| ServiceError::Internal(format!("reading calendar files: {e}")))?;
            for (y, path) in files {
                years.insert(y.year(), (y, CalendarSource::File(path)));
            }
            problems = skipped;
        }
        let rows = self.store.read().await?.dictionaries().calendar_years().latest_all().await?;
        for row in rows {
            match HolidayYear::parse_json(&row.data, Some(row.year)) {
                Ok(y) => {
                    let source = CalendarSource::Upload {
                        version: row.version,
                        author: row.author,
                        at: row.created_at,
                    };
                    years.insert(row.year, (y, source));
                }
                // Stored rows were checked before they were written; one that no longer
                // parses is a defect to see, not a reason to stop counting.
                Err(e) => problems.push(format!("数据库中{}年第{}版：{e}，已跳过", row.year, row.version)),
            }
        }
        for p in &problems {
            tracing::warn!("calendar: {p}");
        }
        *self.calendars.current.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Loaded::build(years, problems));
        Ok(())
    }

    /// Store an operator's file for `year` (holiday-cn JSON) as the year's next version,
    /// audited, and use it on this node at once. Refused with a Chinese message — nothing
    /// stored — when the text is not such a file, is for another year, or breaks a rule.
    pub async fn upload_calendar_year(&self, actor: &Actor, year: i32, json: &str) -> Result<i64> {
        let parsed = HolidayYear::parse_json(json, Some(year)).map_err(|e| {
            ServiceError::refused(beian_core::errcode::INVALID_INPUT, format!("节假日数据未保存：{e}"))
        })?;
        let now = self.now().timestamp();
        let mut tx = self.store.begin().await?;
        let previous = tx.dictionaries().calendar_years().latest_version(year).await?;
        let version = previous + 1;
        tx.dictionaries().calendar_years().insert(year, version, &parsed.to_json(), &actor.0, now).await?;
        audit(
            &mut tx,
            now,
            actor,
            AuditEntity::Calendar,
            &year.to_string(),
            AuditAction::Publish,
            serde_json::json!({ "version": version, "days": parsed.len() }),
        )
        .await?;
        tx.commit().await?;
        // In force here at once, without waiting for a reload.
        let mut lock = self.calendars.current.write().unwrap_or_else(|p| p.into_inner());
        let mut years = lock.years.clone();
        years.insert(year, (parsed, CalendarSource::Upload { version, author: actor.0.clone(), at: now }));
        *lock = Arc::new(Loaded::build(years, lock.problems.clone()));
        Ok(version)
    }

    /// What the calendar in force was built from.
    pub fn calendar_status(&self) -> CalendarStatus {
        let loaded = self.calendars.current.read().unwrap_or_else(|p| p.into_inner()).clone();
        let dir = self.calendars.dir.read().unwrap_or_else(|p| p.into_inner()).clone();
        CalendarStatus {
            years: loaded
                .years
                .iter()
                .map(|(year, (y, source))| CalendarYear {
                    year: *year,
                    source: source.clone(),
                    days: y.len(),
                })
                .collect(),
            problems: loaded.problems.clone(),
            dir: dir.map(|d| d.display().to_string()),
        }
    }

    /// The years without data among today and the next [`LOOKAHEAD_DAYS`] days (Beijing
    /// time), if any.
    pub fn calendar_gap(&self) -> Option<CalendarGap> {
        let today = beian_core::time::beijing_date(self.now());
        let until = today + Duration::days(LOOKAHEAD_DAYS);
        let years = self.calendar().uncovered_years(today, until);
        (!years.is_empty()).then_some(CalendarGap { years, until })
    }
}
