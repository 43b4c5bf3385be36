//! End-to-end tests of the `beian` binary: the same entry points a user has.

/// `both!(f, g)`: each `async fn f(Backend)` as two tests, `f::sqlite` and `f::postgres`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name(crate::support::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$name(crate::support::Backend::Postgres).await
                }
            }
        )*
    };
}

mod access;
mod api_e2e;
mod api_raw;
mod authority_contract;
mod bridge;
mod calendar;
mod change;
mod cli;
mod console;
mod crash;
mod hostile_forms;
mod identity_vendors;
mod members;
mod messaging;
mod nodes_s3;
mod pii_at_rest;
mod platform_api;
mod privacy;
mod public_query;
mod reliability;
mod rules_page;
mod security_auth;
mod security_staff;
mod server;
mod shared_limits;
mod signin;
mod sms_vendors;
mod support;
mod webhooks;
mod workflow;
