//! Platform policy and settings (one value per key), dictionary and rule-table versions,
//! uploaded working-day calendar years, named counters.

use crate::{Result, Tx};
use beian_core::dict::DictKind;
use sqlx::Row;

/// Platform settings (policy and the like), one value per key.
pub struct Settings<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Platform settings (policy and the like), one value per key.
    pub fn settings(&mut self) -> Settings<'_> {
        Settings { tx: self }
    }
}

impl Settings<'_> {
    pub async fn get(&mut self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *self.tx.conn)
            .await?)
    }

    pub async fn put(&mut self, key: &str, value: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }

    pub async fn delete(&mut self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM settings WHERE key = $1").bind(key).execute(&mut *self.tx.conn).await?;
        Ok(())
    }
}

/// Published versions of the five dictionaries.
pub struct Dictionaries<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Published versions of the five dictionaries.
    pub fn dictionaries(&mut self) -> Dictionaries<'_> {
        Dictionaries { tx: self }
    }
}

impl Dictionaries<'_> {
    /// The latest version of a dictionary: (version, JSON).
    pub async fn latest(&mut self, kind: DictKind) -> Result<Option<(i64, String)>> {
        self.latest_of(kind.as_str()).await
    }

    async fn latest_of(&mut self, kind: &str) -> Result<Option<(i64, String)>> {
        let row = sqlx::query(
            "SELECT version, data FROM dictionaries WHERE kind = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(kind)
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        row.map(|r| Ok((r.try_get("version")?, r.try_get("data")?))).transpose()
    }

    pub async fn insert(
        &mut self,
        kind: DictKind,
        version: i64,
        data: &str,
        author: &str,
        now: i64,
    ) -> Result<()> {
        self.insert_of(kind.as_str(), version, data, author, now).await
    }

    async fn insert_of(
        &mut self,
        kind: &str,
        version: i64,
        data: &str,
        author: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO dictionaries (kind, version, data, author, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(kind)
        .bind(version)
        .bind(data)
        .bind(author)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }
}

/// Operators' uploads of working-day data: versions of one year's file each.
pub struct CalendarYears<'t> {
    tx: &'t mut Tx,
}

/// One stored version of a year's working-day file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarYearRow {
    pub year: i32,
    pub version: i64,
    /// The year in the holiday-cn JSON format.
    pub data: String,
    pub author: String,
    pub created_at: i64,
}

impl<'t> Dictionaries<'t> {
    /// Operators' uploads of working-day data, versioned per year (versioned data beside the
    /// dictionaries).
    pub fn calendar_years(self) -> CalendarYears<'t> {
        CalendarYears { tx: self.tx }
    }
}

impl CalendarYears<'_> {
    /// The latest version of every uploaded year, by year.
    pub async fn latest_all(&mut self) -> Result<Vec<CalendarYearRow>> {
        let rows = sqlx::query(
            "SELECT c.year, c.version, c.data, c.author, c.created_at FROM calendar_years c \
             WHERE c.version = (SELECT MAX(l.version) FROM calendar_years l WHERE l.year = c.year) \
             ORDER BY c.year",
        )
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(CalendarYearRow {
                    year: i32::try_from(r.try_get::<i64, _>("year")?).unwrap_or(0),
                    version: r.try_get("version")?,
                    data: r.try_get("data")?,
                    author: r.try_get("author")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// The number of the latest version of `year` (0 if none).
    pub async fn latest_version(&mut self, year: i32) -> Result<i64> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM calendar_years WHERE year = $1")
            .bind(i64::from(year))
            .fetch_one(&mut *self.tx.conn)
            .await?;
        Ok(v.unwrap_or(0))
    }

    pub async fn insert(
        &mut self,
        year: i32,
        version: i64,
        data: &str,
        author: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO calendar_years (year, version, data, author, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(i64::from(year))
        .bind(version)
        .bind(data)
        .bind(author)
        .bind(now)
        .execute(&mut *self.tx.conn)
        .await?;
        Ok(())
    }
}

/// The `kind` under which rule-table versions are kept in the versioned-data table
/// (`dictionaries`: kind, version, data, author, created_at).
const RULE_TABLE_KIND: &str = "rule_table";

/// Published versions of the regional rule table (`beian_core::rule_table`), kept beside the
/// dictionaries' versions as a kind of their own.
pub struct RuleTables<'t> {
    tx: &'t mut Tx,
}

/// One published version of the rule table, without its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTableVersion {
    pub version: i64,
    pub author: String,
    pub created_at: i64,
}

impl<'t> Dictionaries<'t> {
    /// Published versions of the regional rule table (kept in the dictionaries' table).
    pub fn rule_tables(self) -> RuleTables<'t> {
        RuleTables { tx: self.tx }
    }
}

impl RuleTables<'_> {
    /// The latest version: (version, JSON).
    pub async fn latest(&mut self) -> Result<Option<(i64, String)>> {
        self.tx.dictionaries().latest_of(RULE_TABLE_KIND).await
    }

    /// The latest version's number (0 when none): what a node compares with its own.
    pub async fn latest_version(&mut self) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM dictionaries WHERE kind = $1")
            .bind(RULE_TABLE_KIND)
            .fetch_one(&mut *self.tx.conn)
            .await?
            .unwrap_or(0))
    }

    /// One version's JSON.
    pub async fn get(&mut self, version: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT data FROM dictionaries WHERE kind = $1 AND version = $2")
            .bind(RULE_TABLE_KIND)
            .bind(version)
            .fetch_optional(&mut *self.tx.conn)
            .await?)
    }

    pub async fn insert(&mut self, version: i64, data: &str, author: &str, now: i64) -> Result<()> {
        self.tx.dictionaries().insert_of(RULE_TABLE_KIND, version, data, author, now).await
    }

    /// The newest `limit` versions, newest first.
    pub async fn history(&mut self, limit: i64) -> Result<Vec<RuleTableVersion>> {
        let rows = sqlx::query(
            "SELECT version, author, created_at FROM dictionaries WHERE kind = $1 \
             ORDER BY version DESC LIMIT $2",
        )
        .bind(RULE_TABLE_KIND)
        .bind(limit)
        .fetch_all(&mut *self.tx.conn)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(RuleTableVersion {
                    version: r.try_get("version")?,
                    author: r.try_get("author")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}

/// Named counters (numbering).
pub struct Counters<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Named counters (numbering).
    pub fn counters(&mut self) -> Counters<'_> {
        Counters { tx: self }
    }
}

impl Counters<'_> {
    /// Add `by` to a named counter and return the new value (atomic on both backends).
    pub async fn add(&mut self, name: &str, by: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO counters (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value RETURNING value",
        )
        .bind(name)
        .bind(by)
        .fetch_one(&mut *self.tx.conn)
        .await?)
    }

    pub async fn get(&mut self, name: &str) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT value FROM counters WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *self.tx.conn)
            .await?
            .unwrap_or(0))
    }
}
