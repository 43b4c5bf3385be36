//! Storage for beian: the only crate that speaks SQL.
//!
//! One [`Store`] over SQLite (the embedded default, chosen by a `sqlite:` URL) or PostgreSQL
//! (`postgres:`), through sqlx's `Any` driver so both backends run the same queries; only
//! the DDL differs (`migrations/{sqlite,postgres}`). Every query uses `$N` placeholders,
//! which both drivers accept.
//!
//! Invariants:
//! - People's identifiers (ID numbers, phones) and filing payloads are written only
//!   encrypted ([`crypto`]); lookups go through a keyed blind index.
//! - Every write happens in a [`Tx`]; callers append the audit event in the same one.
//! - Concurrent writers are detected, not trusted: updates name the `row_version` they read
//!   and a lost race surfaces as [`StoreError::Conflict`].
//! - On SQLite all writes go through one connection (WAL, `synchronous=FULL`), so an
//!   acknowledged commit is on disk and writers never deadlock on lock upgrades.

pub mod account_sessions;
pub mod accounts;
pub mod appends;
pub mod audit;
pub mod auth_attempts;
pub mod authority;
mod backup;
/// Bulk loading, the benchmark's floors and throw-away schemas: only with the `bench`
/// feature (`beian-bench`, and the tests that plant states), never in the server.
#[cfg(feature = "bench")]
pub mod bulk;
pub mod check;
pub mod crypto;
pub mod desk;
mod direct;
mod host_events;
pub mod jobs;
pub mod media;
pub mod media_rows;
pub mod memberships;
pub mod messages;
pub mod mini_programs;
pub mod orders;
pub mod privacy;
pub mod providers;
pub mod query;
pub mod rate_windows;
pub mod settings;
pub mod staff;
pub mod subjects;
mod tx;

pub use crypto::Crypto;
pub use media::{MediaError, MediaFiles, MediaStore, S3Config, S3Media};
pub use mini_programs::{spread_lifetime, EntranceRow};
pub use tx::Tx;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer changed the row first (or a unique key was taken): retry or refuse.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Db(sqlx::Error),
    /// An error of a read on the store's own SQLite connections (`direct.rs`).
    #[error("database error: {0}")]
    Sqlite(String),
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
    /// A stored value that cannot be read back (e.g. an unknown status code).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    BadUrl(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            // unique violation, PG serialization failure / deadlock, SQLite busy.
            if db.is_unique_violation() || code == "40001" || code == "40P01" || code == "5" || code == "517"
            {
                return StoreError::Conflict(db.message().to_string());
            }
        }
        StoreError::Db(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::BadUrl(url.to_string()))
        }
    }
}

/// FNV-1a (64-bit) of `bytes`: a cheap, stable spread (the cache lifetimes'
/// `spread_lifetime`, and the public index's stored bigram bits, `query::gram_bit`, so it must
/// not change).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// The database plus the keys to read what it holds.
#[derive(Debug, Clone)]
pub struct Store {
    write: AnyPool,
    read: AnyPool,
    backend: Backend,
    crypto: Crypto,
    /// Entrance rows recently read on this node (see [`mini_programs::EntranceCache`]).
    entrance: std::sync::Arc<mini_programs::EntranceCache>,
    /// SQLite (a file): the public index's lookups on the store's own connections, without
    /// the driver's thread hop (`direct.rs`).
    direct: Option<std::sync::Arc<direct::DirectReads>>,
}

/// WAL for concurrent readers; FULL sync so an acknowledged commit survives power loss.
const SQLITE_PRAGMAS: [&str; 7] = [
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    // Freed row space is zeroed where that costs no extra I/O; an erasure of personal data
    // turns full zeroing on for its own transaction (`Privacy::erase`), so erased
    // values do not linger in free pages either, without slowing every other write.
    "PRAGMA secure_delete=FAST",
    // Statement journals (every multi-row statement inside a transaction has one) and sorts
    // in memory: as files they were a create, writes and an unlink each, on the writer's
    // critical path (seen with strace under the apply load).
    "PRAGMA temp_store=MEMORY",
    // Pages are read from a memory map of the database file instead of with a `pread` into
    // each connection's own cache: a page miss was a system call and a 4 KiB copy, half the
    // server's CPU under the public query at 1M (docs/benchmarks.md, eighth session). The
    // mapped pages are the kernel's page cache (shared by the connections, given back under
    // memory pressure), not the server's heap. Up to 1 TiB (`SQLITE_MAX_MMAP_SIZE` is raised
    // to that in .cargo/config.toml; SQLite's own limit is 2 GiB). Pages written since the
    // last checkpoint are still read from the WAL.
    "PRAGMA mmap_size=1099511627776",
];

/// The SQLite readers' page cache (16 MiB; SQLite's default is 2 MiB): the read pool's and the
/// store's own read connections' (`direct.rs`).
const SQLITE_READER_CACHE: &str = "PRAGMA cache_size = -16384";

const MIGRATIONS_SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_core.sql")),
    (2, include_str!("../migrations/sqlite/0002_providers_jobs.sql")),
    (3, include_str!("../migrations/sqlite/0003_workflow.sql")),
    (4, include_str!("../migrations/sqlite/0004_console.sql")),
    (5, include_str!("../migrations/sqlite/0005_query.sql")),
    (6, include_str!("../migrations/sqlite/0006_name_forms.sql")),
    (7, include_str!("../migrations/sqlite/0007_name_match.sql")),
    (8, include_str!("../migrations/sqlite/0008_draft_version.sql")),
    (9, include_str!("../migrations/sqlite/0009_auth_attempts.sql")),
    (10, include_str!("../migrations/sqlite/0010_staff_sessions.sql")),
    (11, include_str!("../migrations/sqlite/0011_rate_windows.sql")),
    (12, include_str!("../migrations/sqlite/0012_authority_events.sql")),
    (13, include_str!("../migrations/sqlite/0013_host_events.sql")),
    (14, include_str!("../migrations/sqlite/0014_authority_numbers.sql")),
    (15, include_str!("../migrations/sqlite/0015_face_sessions.sql")),
    (16, include_str!("../migrations/sqlite/0016_manual_desk.sql")),
    (17, include_str!("../migrations/sqlite/0017_calendar_years.sql")),
    (18, include_str!("../migrations/sqlite/0018_webhooks.sql")),
    (19, include_str!("../migrations/sqlite/0019_host_platform.sql")),
    (20, include_str!("../migrations/sqlite/0020_new_access.sql")),
    (21, include_str!("../migrations/sqlite/0021_signin.sql")),
    (22, include_str!("../migrations/sqlite/0022_counter_shards.sql")),
    (23, include_str!("../migrations/sqlite/0023_jobs_due_order.sql")),
    (24, include_str!("../migrations/sqlite/0024_gram_signatures.sql")),
    (25, include_str!("../migrations/sqlite/0025_name_equal_order.sql")),
];
const MIGRATIONS_POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_core.sql")),
    (2, include_str!("../migrations/postgres/0002_providers_jobs.sql")),
    (3, include_str!("../migrations/postgres/0003_workflow.sql")),
    (4, include_str!("../migrations/postgres/0004_console.sql")),
    (5, include_str!("../migrations/postgres/0005_query.sql")),
    (6, include_str!("../migrations/postgres/0006_name_forms.sql")),
    (7, include_str!("../migrations/postgres/0007_name_match.sql")),
    (8, include_str!("../migrations/postgres/0008_draft_version.sql")),
    (9, include_str!("../migrations/postgres/0009_auth_attempts.sql")),
    (10, include_str!("../migrations/postgres/0010_staff_sessions.sql")),
    (11, include_str!("../migrations/postgres/0011_rate_windows.sql")),
    (12, include_str!("../migrations/postgres/0012_authority_events.sql")),
    (13, include_str!("../migrations/postgres/0013_host_events.sql")),
    (14, include_str!("../migrations/postgres/0014_authority_numbers.sql")),
    (15, include_str!("../migrations/postgres/0015_face_sessions.sql")),
    (16, include_str!("../migrations/postgres/0016_manual_desk.sql")),
    (17, include_str!("../migrations/postgres/0017_calendar_years.sql")),
    (18, include_str!("../migrations/postgres/0018_webhooks.sql")),
    (19, include_str!("../migrations/postgres/0019_host_platform.sql")),
    (20, include_str!("../migrations/postgres/0020_new_access.sql")),
    (21, include_str!("../migrations/postgres/0021_signin.sql")),
    (22, include_str!("../migrations/postgres/0022_counter_shards.sql")),
    (23, include_str!("../migrations/postgres/0023_jobs_due_order.sql")),
    (24, include_str!("../migrations/postgres/0024_gram_signatures.sql")),
    (25, include_str!("../migrations/postgres/0025_name_equal_order.sql")),
];

impl Store {
    /// Connect. For SQLite the file is created if missing.
    pub async fn connect(url: &str, crypto: Crypto) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let (write, read) = match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') { url.to_string() } else { format!("{url}?mode=rwc") };
                let opts = || {
                    // A connection to a local file does not go stale: no ping before each
                    // use (a round trip to SQLite's thread per transaction otherwise).
                    AnyPoolOptions::new()
                        .acquire_timeout(Duration::from_secs(30))
                        .test_before_acquire(false)
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                for pragma in SQLITE_PRAGMAS {
                                    sqlx::query(pragma).execute(&mut *conn).await?;
                                }
                                Ok(())
                            })
                        })
                };
                let write = opts().max_connections(1).connect(&url).await?;
                // Readers keep 16 MiB of pages each (SQLite's default is 2 MiB); a page
                // beyond those is read from the memory map (`mmap_size` above).
                let read = opts()
                    .max_connections(4)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            for pragma in SQLITE_PRAGMAS.iter().chain(&[SQLITE_READER_CACHE]) {
                                sqlx::query(pragma).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                (write, read)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await?;
                (pool.clone(), pool)
            }
        };
        let direct = match backend {
            Backend::Sqlite => direct::DirectReads::for_url(url).map(std::sync::Arc::new),
            Backend::Postgres => None,
        };
        Ok(Store { write, read, backend, crypto, entrance: Default::default(), direct })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn crypto(&self) -> &Crypto {
        &self.crypto
    }

    /// An application as a version row stores it (compressed, encrypted): for a writer that
    /// seals before it takes the writer connection ([`appends::NewVersion::sealed`]).
    pub fn seal_application(&self, payload: &beian_core::payload::ApplyPayload) -> Result<Vec<u8>> {
        crypto::seal_payload(&self.crypto, payload)
    }

    /// Apply pending migrations (idempotent, safe to race: the version row is the lock).
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.write)
        .await?;
        let list = match self.backend {
            Backend::Sqlite => MIGRATIONS_SQLITE,
            Backend::Postgres => MIGRATIONS_POSTGRES,
        };
        let mut applied = Vec::new();
        for (version, sql) in list {
            let mut tx = self.write.begin().await?;
            if self.backend == Backend::Postgres {
                // Serialise concurrent migrators (several nodes starting at once).
                sqlx::query("SELECT pg_advisory_xact_lock(7262846)").execute(&mut *tx).await?;
            }
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_some() {
                continue;
            }
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(unix_now())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            applied.push(*version);
        }
        Ok(applied)
    }

    /// A read-write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(Tx::new(tx::Conn::Tx(self.write.begin().await?), self.crypto.clone(), self.backend)
            .invalidating(self.entrance.clone()))
    }

    /// A transaction for reads only (on SQLite it does not wait for the writer).
    pub async fn read(&self) -> Result<Tx> {
        Ok(Tx::new(tx::Conn::Tx(self.read.begin().await?), self.crypto.clone(), self.backend))
    }

    /// Reads without a transaction around them: each statement sees what was committed when
    /// it ran, as under READ COMMITTED, and no `BEGIN`/`ROLLBACK` is sent (on SQLite each is a
    /// round trip to the connection's thread). For callers that check again under the writer
    /// what they read, or whose reads need not agree with each other. Writing through it is a
    /// bug: each statement would commit on its own. On a SQLite file the public index's
    /// lookups through it run on the store's own connections (`direct.rs`).
    pub async fn reads(&self) -> Result<Tx> {
        let mut tx = Tx::new(tx::Conn::Plain(self.read.acquire().await?), self.crypto.clone(), self.backend);
        tx.direct = self.direct.clone();
        Ok(tx)
    }

    /// Run raw SQL outside any transaction: for tests that plant a broken state and for the
    /// benchmark; only with the `bench` feature.
    #[cfg(feature = "bench")]
    pub async fn exec_raw(&self, sql: &str) -> Result<()> {
        sqlx::raw_sql(sql).execute(&self.write).await?;
        Ok(())
    }

    /// The first column of the first row of raw SQL, as bytes: for tests that look at what
    /// is stored (encrypted columns); only with the `bench` feature.
    #[cfg(feature = "bench")]
    pub async fn raw_bytes(&self, sql: &str) -> Result<Vec<u8>> {
        use sqlx::Row;
        let row = sqlx::query(sql).fetch_one(&self.read).await?;
        Ok(row.try_get::<Vec<u8>, _>(0)?)
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// Wall-clock seconds, only for bookkeeping columns that are not domain time.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
