//! End-to-end tests of the `beian` binary: the same entry points a user has.

mod api_e2e;
mod api_raw;
mod cli;
mod console;
mod crash;
mod hostile_forms;
mod nodes_s3;
mod pii_at_rest;
mod privacy;
mod public_query;
mod reliability;
mod security_auth;
mod security_staff;
mod server;
mod shared_limits;
mod support;
mod workflow;
