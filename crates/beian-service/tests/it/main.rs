//! Service-level tests, each run on SQLite and on PostgreSQL.

mod access;
mod change;
mod desk;
mod host;
mod identity;
mod inbox;
mod races;
mod rule_tables;
mod story;
mod support;

/// Run an `async fn(Backend)` test on both databases.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            }
        )*
    };
}
