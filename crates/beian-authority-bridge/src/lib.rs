//! The HTTP bridge to the authority (protocol version 1, `docs/authority-bridge.md`).
//!
//! Real access providers reach the national filing system through a provincial interface
//! that is asynchronous and often partly manual (`REAL-WORLD.md`); a platform puts its own
//! bridge in front of it and beian talks to that bridge:
//! - beian → bridge: [`BridgeGateway`] (an `AuthorityGateway`) POSTs each operation, signed,
//!   to `{url}/v1/operations`;
//! - bridge → beian: the bridge POSTs signed events to `/api/authority/events` (the route is
//!   the binary's; it checks them with [`protocol::Keys::verify`]); [`SignedInbox`] is that
//!   sender for a peer written in Rust (the standalone simulator).
//!
//! Depends on `beian-ports` and `beian-core`, never on the service.

pub mod config;
pub mod gateway;
pub mod peer;
pub mod protocol;

pub use config::{BridgeConfig, BridgeFileConfig};
pub use gateway::BridgeGateway;
pub use peer::SignedInbox;
