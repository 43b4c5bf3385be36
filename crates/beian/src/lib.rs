//! The `beian` binary as a library, so end-to-end tests drive the same code as users:
//! configuration, startup, HTTP server and the CLI commands.

pub mod app;
pub mod authority_events;
pub mod backup;
pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod platform_api;
pub mod signin;
pub mod sms_config;
