//! Platform policy and settings (one value per key), dictionary and rule-table versions,
//! uploaded working-day calendar years, named counters and capped (sharded) counters.

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

/// Named counters (numbering), and capped counters (the day's apply quota) kept in shards.
pub struct Counters<'t> {
    tx: &'t mut Tx,
}

impl Tx {
    /// Named counters (numbering), and capped counters (the day's apply quota).
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

/// How many rows a capped counter is spread over on PostgreSQL (SQLite uses shard 0 only).
pub const CAPPED_SHARDS: i64 = 16;

/// On PostgreSQL a claim whose count, read before it takes a shard, is within this of the
/// limit goes the exact way (all shards locked) at once.
const EXACT_MARGIN: i64 = 2 * CAPPED_SHARDS;

/// The shard the next claim of this node increments (round-robin).
static NEXT_SHARD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A capped counter's count: the sum of its shards (what was committed, plus this
/// transaction's own claims).
const CAPPED_TOTAL: &str = capped_total_of!("$1");

/// [`CAPPED_TOTAL`] of the counter named by an SQL expression (as a subquery elsewhere).
macro_rules! capped_total_of {
    ($name:literal) => {
        concat!("SELECT CAST(COALESCE(SUM(value), 0) AS BIGINT) FROM counter_shards WHERE name = ", $name)
    };
}
pub(crate) use capped_total_of;

/// Capped counters (`counter_shards`, migration 0022): a count that may not pass a limit and
/// that many transactions claim at once — the day's apply quota. The count is the sum of the
/// counter's shard rows; [`Counters::capped_total`] is how it is read everywhere.
///
/// A claim counts one unless that would pass the limit, exactly, under concurrency:
/// - SQLite has one writer: one statement adds one to shard 0 if the sum is below the limit.
/// - PostgreSQL (READ COMMITTED, many writers): the claim first reads the committed sum `S`.
///   **Fast way**, when `S + 2K <= limit` (`K` = [`CAPPED_SHARDS`]): add one to one shard
///   (round-robin on this node; the row lock is held until commit), then read the sum again
///   in a new statement, `V` (committed values, this transaction's own shard included). The
///   claim stands if `V + K - 1 <= limit`: a shard's row lock lets at most one transaction
///   hold an uncounted increment on it, so at most `K - 1` claims on the other shards can be
///   in flight unseen at that moment, and every claim decided later sees this one or is
///   itself one of those `K - 1` (the increments not seen by the last claim to decide are at
///   most `K - 1`). Otherwise (more than `K` claims committed between the two reads) the
///   claim answers [`StoreError::Conflict`](crate::StoreError::Conflict): the caller rolls
///   back and re-runs, and the re-run's first read is within the margin.
///   **Exact way**, near the limit: lock all `K` shard rows in shard order (`FOR UPDATE`,
///   waiting for the fast claims in flight to commit), sum them, and add one only if the sum
///   is below the limit. Exact claims wait on each other; they hold no shard before they
///   lock in order, and fast claims hold one shard and wait on nothing after it, so claims
///   never deadlock.
///
/// A refused claim leaves the count as it was. Callers claim last, just before commit, so
/// the shard locks last only through `COMMIT`.
impl Counters<'_> {
    /// Count one on the capped counter `name` unless the count has reached `limit`; true
    /// when counted (see above; the caller commits or rolls back).
    pub async fn claim(&mut self, name: &str, limit: i64) -> Result<bool> {
        if self.tx.backend == crate::Backend::Sqlite {
            // One writer: the sum cannot move between the check and the add.
            let counted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO counter_shards (name, shard, value) SELECT $1, 0, 1 \
                 WHERE (SELECT COALESCE(SUM(value), 0) FROM counter_shards WHERE name = $1) < $2 \
                 ON CONFLICT (name, shard) DO UPDATE SET value = counter_shards.value + 1 RETURNING value",
            )
            .bind(name)
            .bind(limit)
            .fetch_optional(&mut *self.tx.conn)
            .await?;
            return Ok(counted.is_some());
        }
        let committed = self.capped_total(name).await?;
        if committed + EXACT_MARGIN > limit {
            return self.claim_exact(name, limit).await;
        }
        let shard =
            (NEXT_SHARD.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % CAPPED_SHARDS as u64) as i64;
        sqlx::query(
            "INSERT INTO counter_shards (name, shard, value) VALUES ($1, $2, 1) \
             ON CONFLICT (name, shard) DO UPDATE SET value = counter_shards.value + 1",
        )
        .bind(name)
        .bind(shard)
        .execute(&mut *self.tx.conn)
        .await?;
        // A new statement: its snapshot is taken after the shard's lock is held.
        let seen = self.capped_total(name).await?;
        if seen + CAPPED_SHARDS - 1 <= limit {
            Ok(true)
        } else {
            Err(crate::StoreError::Conflict(format!(
                "capped counter {name} reached its exact margin during a claim; re-run"
            )))
        }
    }

    /// Count `by` at once on the capped counter `name` if the count stays within `limit`;
    /// nothing otherwise (apply's group commit claims a group's applies together). On
    /// PostgreSQL it takes the exact way.
    pub async fn claim_several(&mut self, name: &str, by: i64, limit: i64) -> Result<bool> {
        if self.tx.backend == crate::Backend::Postgres {
            return self.claim_exact_by(name, by, limit).await;
        }
        let counted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO counter_shards (name, shard, value) SELECT $1, 0, $3 \
             WHERE (SELECT COALESCE(SUM(value), 0) FROM counter_shards WHERE name = $1) + $3 <= $2 \
             ON CONFLICT (name, shard) DO UPDATE SET value = counter_shards.value + $3 RETURNING value",
        )
        .bind(name)
        .bind(limit)
        .bind(by)
        .fetch_optional(&mut *self.tx.conn)
        .await?;
        Ok(counted.is_some())
    }

    /// The exact way of [`Counters::claim`] on PostgreSQL: every shard locked in order.
    async fn claim_exact(&mut self, name: &str, limit: i64) -> Result<bool> {
        self.claim_exact_by(name, 1, limit).await
    }

    /// [`Counters::claim_exact`] of `by` at once.
    async fn claim_exact_by(&mut self, name: &str, by: i64, limit: i64) -> Result<bool> {
        // Every shard row exists, so that all can be locked (inserted in shard order).
        sqlx::query(
            "INSERT INTO counter_shards (name, shard, value) \
             SELECT $1, s, 0 FROM generate_series(CAST(0 AS BIGINT), $2 - 1) AS s ORDER BY s \
             ON CONFLICT (name, shard) DO NOTHING",
        )
        .bind(name)
        .bind(CAPPED_SHARDS)
        .execute(&mut *self.tx.conn)
        .await?;
        let values: Vec<i64> =
            sqlx::query_scalar("SELECT value FROM counter_shards WHERE name = $1 ORDER BY shard FOR UPDATE")
                .bind(name)
                .fetch_all(&mut *self.tx.conn)
                .await?;
        if values.iter().sum::<i64>() + by > limit {
            return Ok(false);
        }
        sqlx::query("UPDATE counter_shards SET value = value + $2 WHERE name = $1 AND shard = 0")
            .bind(name)
            .bind(by)
            .execute(&mut *self.tx.conn)
            .await?;
        Ok(true)
    }

    /// A capped counter's count (the sum of its shards): 0 if never claimed.
    pub async fn capped_total(&mut self, name: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(CAPPED_TOTAL).bind(name).fetch_one(&mut *self.tx.conn).await?)
    }
}
