//! End-to-end tests of the `beian` binary: the same entry points a user has.

mod cli;
mod server;
