//! A fresh PostgreSQL schema per test on the server of `BEIAN_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), the URL whose connections use it
//! (`search_path`), and dropping it. The SQL itself lives in `beian_store::bulk`.

use std::sync::atomic::{AtomicU32, Ordering};

/// The PostgreSQL server tests use: `BEIAN_TEST_PG_URL`, or the local default.
pub fn base_url() -> String {
    std::env::var("BEIAN_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `url` with `options=-c search_path=<schema>`.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// A name unique to this process and moment: `<prefix>_<pid>_<nanos>_<counter>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{nanos}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A schema created for one test. Left in place unless [`PgSchema::drop_schema`] is called
/// (the test database is thrown away with the PostgreSQL instance).
#[derive(Debug, Clone)]
pub struct PgSchema {
    /// The schema's name.
    pub name: String,
    /// [`base_url`] with the schema as `search_path`.
    pub url: String,
}

impl PgSchema {
    /// Creates a schema named `<prefix>_…` (lowercase letters, digits and `_`).
    pub async fn create(prefix: &str) -> PgSchema {
        let name = unique_name(prefix);
        let url = beian_store::bulk::pg_create_schema(&base_url(), &name)
            .await
            .expect("PostgreSQL must be running for this test (scripts/test starts it)");
        PgSchema { name, url }
    }

    /// [`PgSchema::create`] outside an async runtime (plain `#[test]` functions).
    pub fn create_blocking(prefix: &str) -> PgSchema {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(PgSchema::create(prefix))
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(self) {
        beian_store::bulk::pg_drop_schema(&base_url(), &self.name).await.expect("drop schema");
    }
}
