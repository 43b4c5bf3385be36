//! Test support for beian's test suites, defined once: a fresh PostgreSQL schema per test
//! (`pg`), the backend a test runs on (`backend`), fixtures — images, identities, mini programs,
//! applications (`fixtures`) — service shortcuts (`service`), and fake SMTP/HTTP receivers and
//! server spawning (`servers`).
//!
//! It must not depend on the `beian` binary crate (whose tests use it); harness code that needs
//! the binary (`TestApp`) stays in `crates/beian/tests/it/support.rs`, built on this kit.

pub mod authority_contract;
pub mod backend;
pub mod fixtures;
pub mod pg;
pub mod servers;
pub mod service;

pub use backend::Backend;
