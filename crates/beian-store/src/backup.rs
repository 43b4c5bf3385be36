//! The SQL side of `beian backup` and `beian restore`: SQLite's online snapshot, and the
//! PostgreSQL schema bookkeeping around `pg_dump` / `pg_restore` (which the binary runs).

use crate::check::quote_ident;
use crate::{Backend, Result, Store, StoreError};
use std::path::Path;

impl Store {
    /// SQLite only: write a consistent copy of the whole database to `path` with
    /// `VACUUM INTO`. Runs on a reader connection, so it works while the server serves and
    /// does not block writers; the copy is the state of one read snapshot. `path` must not
    /// exist yet.
    pub async fn snapshot_sqlite_to(&self, path: &Path) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Db(sqlx::Error::Configuration(
                "VACUUM INTO is SQLite only; PostgreSQL is backed up with pg_dump".into(),
            )));
        }
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Corrupt(format!("snapshot path is not UTF-8: {}", path.display())))?;
        sqlx::query("VACUUM INTO $1").bind(target).execute(&self.read).await?;
        Ok(())
    }

    /// PostgreSQL: the schema this connection creates and reads its tables in (the first
    /// existing schema of its `search_path`).
    pub async fn pg_current_schema(&self) -> Result<String> {
        let s: Option<String> =
            sqlx::query_scalar("SELECT current_schema()::text").fetch_one(&self.read).await?;
        s.ok_or_else(|| StoreError::Corrupt("no schema of the search_path exists".into()))
    }

    /// PostgreSQL: the first schema named by the connection's `search_path` (whether it exists
    /// or not); `public` when the path only names `$user`.
    pub async fn pg_target_schema(&self) -> Result<String> {
        let path: String =
            sqlx::query_scalar("SELECT current_setting('search_path')::text").fetch_one(&self.read).await?;
        let first = path
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .find(|s| !s.is_empty() && s != "$user")
            .unwrap_or_else(|| "public".to_string());
        Ok(first)
    }

    /// PostgreSQL: whether a schema exists, and how many tables it holds.
    pub async fn pg_schema_state(&self, schema: &str) -> Result<(bool, i64)> {
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1")
            .bind(schema)
            .fetch_one(&self.read)
            .await?;
        let tables: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1")
                .bind(schema)
                .fetch_one(&self.read)
                .await?;
        Ok((exists > 0, tables))
    }

    /// PostgreSQL: drop a schema that holds nothing (`RESTRICT`: refused if anything is in it).
    pub async fn pg_drop_empty_schema(&self, schema: &str) -> Result<()> {
        sqlx::raw_sql(&format!("DROP SCHEMA {} RESTRICT", quote_ident(schema))).execute(&self.write).await?;
        Ok(())
    }

    /// PostgreSQL: rename a schema (a restored dump moves to the schema the target URL names).
    pub async fn pg_rename_schema(&self, from: &str, to: &str) -> Result<()> {
        sqlx::raw_sql(&format!("ALTER SCHEMA {} RENAME TO {}", quote_ident(from), quote_ident(to)))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Rows per table (for a backup's manifest).
    pub async fn table_counts(&self) -> Result<Vec<(String, i64)>> {
        let mut tx = self.read().await?;
        tx.check().table_counts().await
    }
}
