//! Reads on SQLite without the driver's thread hop, for the public query (备案查询).
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement is a command sent
//! to that thread and every row a message back, each a thread wake-up. Under the public
//! query's load those wake-ups (the switch itself and the waker's inter-processor interrupt)
//! were about a third of the server's CPU (perf, docs/benchmarks.md, "The tenth session").
//! The public index's lookups are short and read-only, so on SQLite they run here instead: on
//! the calling thread, on a connection of a small pool of the store's own (rusqlite over the
//! same bundled SQLite), opened with the readers' settings and `query_only`. As on
//! [`crate::Store::reads`], each statement sees the latest commit.
//!
//! The statements are the ones the sqlx path runs (`query.rs` builds each once and hands it
//! to [`Arg`]s and a row mapper over [`Cols`]); parameters are SQLite's `$N` names, bound by
//! name as sqlx binds them, so a statement may use them in any order.

use crate::{Result, StoreError};
use sqlx::Row;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A bound value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Text(&'a str),
    Int(i64),
}

/// The columns of a result row, by name, whichever driver read it.
pub(crate) trait Cols {
    fn text(&self, col: &str) -> Result<String>;
    fn int(&self, col: &str) -> Result<i64>;
}

impl Cols for sqlx::any::AnyRow {
    fn text(&self, col: &str) -> Result<String> {
        Ok(self.try_get(col)?)
    }
    fn int(&self, col: &str) -> Result<i64> {
        Ok(self.try_get(col)?)
    }
}

impl Cols for rusqlite::Row<'_> {
    fn text(&self, col: &str) -> Result<String> {
        Ok(self.get(col)?)
    }
    fn int(&self, col: &str) -> Result<i64> {
        Ok(self.get(col)?)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Conflict(e.to_string())
            }
            _ => StoreError::Sqlite(e.to_string()),
        }
    }
}

/// Connections kept open between reads (more are opened when more threads read at once, and
/// closed after).
const MAX_IDLE: usize = 8;

/// Statements each connection keeps prepared (the name search's count of bigrams differs by
/// query length).
const STATEMENT_CACHE: usize = 64;

/// `$1` … `$16`: the parameter names most statements bind (later ones are formatted).
const NAMES: [&str; 16] =
    ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15", "$16"];

/// The store's own read connections to one SQLite file.
pub(crate) struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl std::fmt::Debug for DirectReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectReads").field("path", &self.path).finish_non_exhaustive()
    }
}

impl DirectReads {
    /// Reads of the database at `url`; `None` for an in-memory database (another connection
    /// would see another database) or a URL that does not name a file.
    pub(crate) fn for_url(url: &str) -> Option<DirectReads> {
        use std::str::FromStr;
        if url.contains("mode=memory") {
            return None;
        }
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
        let path = options.get_filename();
        if path.as_os_str().is_empty() || path == Path::new(":memory:") {
            return None;
        }
        Some(DirectReads { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) })
    }

    fn open(&self) -> Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // The read pool's settings, and no writes.
        for pragma in crate::SQLITE_PRAGMAS.iter().chain(&[crate::SQLITE_READER_CACHE, "PRAGMA query_only=1"])
        {
            conn.execute_batch(pragma)?;
        }
        Ok(conn)
    }

    /// Run `sql` with `args`, each row through `row`.
    pub(crate) fn fetch<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        row: impl Fn(&dyn Cols) -> Result<T>,
    ) -> Result<Vec<T>> {
        let taken = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => self.open()?,
        };
        let out = run(&conn, sql, args, row);
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        out
    }
}

fn run<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
    row: impl Fn(&dyn Cols) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    for (n, arg) in args.iter().enumerate() {
        let name = match NAMES.get(n) {
            Some(name) => std::borrow::Cow::Borrowed(*name),
            None => std::borrow::Cow::Owned(format!("${}", n + 1)),
        };
        let Some(i) = stmt.parameter_index(&name)? else { continue };
        match arg {
            Arg::Text(s) => stmt.raw_bind_parameter(i, s)?,
            Arg::Int(v) => stmt.raw_bind_parameter(i, v)?,
        }
    }
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(row(r)?);
    }
    Ok(out)
}
