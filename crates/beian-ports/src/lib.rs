//! The seams between beian and the outside systems it talks to. Each module is one contract:
//! the operations beian sends, the events it accepts back, and the trait an implementation
//! provides. The service calls the traits and exposes the inbound-events API; an
//! implementation (simulator, real adapter, demo stand-in) depends on this crate and
//! `beian-core` only — never on `beian-service` — so a boundary cannot reach into the service.

pub mod authority;
pub mod host;
pub mod identity;
pub mod messaging;
pub mod signin;

use std::future::Future;
use std::pin::Pin;

/// A boxed future, so the contracts stay object-safe (`Arc<dyn Trait>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a call across a seam failed. `Retry` is transient (the caller's job backs off and
/// tries again); `Refused` is final and says why, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("temporarily unavailable: {0}")]
    Retry(String),
    #[error("refused: {0}")]
    Refused(String),
}

pub type PortResult<T> = Result<T, PortError>;
