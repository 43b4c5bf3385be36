//! The database a test runs on: the store's one `Backend` enum (SQLite or PostgreSQL), and a
//! fresh database of either kind for a test.

pub use beian_store::Backend;

use crate::pg::PgSchema;
use std::path::Path;

/// Both backends, for tests that run the same body on each.
pub const BOTH: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// A fresh database for one test: its URL and, on PostgreSQL, its schema.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    /// PostgreSQL: the test's schema (None on SQLite).
    pub schema: Option<PgSchema>,
}

impl TestDatabase {
    /// SQLite: `beian.db` in `dir`. PostgreSQL: a fresh schema named `<prefix>_…`.
    pub async fn fresh(backend: Backend, dir: &Path, prefix: &str) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                TestDatabase { url: format!("sqlite://{}", dir.join("beian.db").display()), schema: None }
            }
            Backend::Postgres => {
                let schema = PgSchema::create(prefix).await;
                TestDatabase { url: schema.url.clone(), schema: Some(schema) }
            }
        }
    }

    /// The PostgreSQL schema's name (None on SQLite).
    pub fn schema_name(&self) -> Option<String> {
        self.schema.as_ref().map(|s| s.name.clone())
    }
}
