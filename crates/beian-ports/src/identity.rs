//! Contract: identity verification (人脸核身) of a mini program's administrator, as a session
//! with a provider.
//!
//! Protocol, provider-neutral (ARCHITECTURE.md, "identity seam"):
//! 1. [`IdentityProvider::start`] — beian asks the provider for a session for the person it
//!    expects (name and ID number of the declared administrator), giving the URL the person
//!    comes back to and the face task's id. The provider answers a [`Session`]: its id, the URL
//!    the person is sent to for the liveness check (the vendor's H5 page; for the built-in check
//!    beian's own face page) and when the session expires.
//! 2. The person completes the check at that URL and is sent back to the return URL.
//! 3. [`IdentityProvider::result`] — beian pulls the session's [`Outcome`]: passed, failed,
//!    still pending or expired, an optional score and the provider's raw code (kept for
//!    operators). beian pulls when the person comes back, when the face task is queried and
//!    when a callback arrives.
//!
//! Callbacks: a provider may notify beian (`/face/{task_id}/callback`). beian verifies no
//! signature there and trusts nothing in the request: a callback only triggers a `result`
//! pull, which is an authenticated, signed call to the provider — so a forged callback can
//! at most cause one extra pull.
//!
//! Errors: `PortError::Retry` (provider down, throttled, unreadable answer) — nothing is
//! recorded, the person is asked to try again later; `PortError::Refused` — the provider
//! refused the request itself (bad configuration, bad credentials).

use crate::{BoxFuture, PortResult};
use beian_core::model::Person;

/// What beian asks a provider to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    /// The declared administrator's name (the principal).
    pub name: String,
    /// The declared administrator's ID number (居民身份证).
    pub id_number: String,
    /// Where the provider sends the person back after the check.
    pub return_url: String,
    /// The face task this session serves (the provider may echo it; beian does not rely on it).
    pub task_id: String,
}

/// A verification session at a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The provider's id of the session (Tencent `BizToken`, Alibaba `CertifyId`).
    pub session_id: String,
    /// Where the person does the check.
    pub url: String,
    /// Unix seconds after which the session can no longer be completed.
    pub expires_at: i64,
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The person is the declared administrator (liveness and comparison passed).
    Passed,
    /// The check was completed and failed (liveness, comparison or identity mismatch).
    Failed,
    /// Not completed yet.
    Pending,
    /// The session expired before it was completed.
    Expired,
}

impl Status {
    /// The stored word (`face_tasks.outcome`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Pending => "pending",
            Status::Expired => "expired",
        }
    }
}

/// A session's result as the provider reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    /// The provider's similarity score (0–100), when it gives one.
    pub score: Option<f64>,
    /// The provider's own result code, verbatim (e.g. Tencent `ErrCode`, Alibaba `SubCode`).
    pub raw_code: String,
}

/// What the person typed on beian's own face page (the built-in check only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Presented {
    pub name: String,
    pub id_number: String,
}

/// A provider of identity verification sessions.
pub trait IdentityProvider: Send + Sync {
    /// For logs and the stored task (`builtin`, `tencent_faceid`, `aliyun_cloudauth`).
    fn name(&self) -> &'static str;
    /// Whether the check compares a live face (false: the built-in name + ID check, which
    /// the pages label "no biometrics").
    fn biometric(&self) -> bool;
    /// Open a session. `now`: unix seconds (beian's clock), for the session's expiry.
    fn start<'a>(&'a self, req: &'a StartRequest, now: i64) -> BoxFuture<'a, PortResult<Session>>;
    /// The session's result (may be called many times).
    fn result<'a>(&'a self, session_id: &'a str) -> BoxFuture<'a, PortResult<Outcome>>;
    /// Checks done on beian's own page: `Some(outcome)` for what the person typed there, or
    /// `None` when this provider does not check on beian's page (every real vendor).
    fn check_on_page(&self, _claimed: &Person, _presented: &Presented) -> Option<Outcome> {
        None
    }
}

/// The built-in check: the person types the administrator's name and ID number on beian's
/// own face page and they must match. It compares text only — **no biometrics, no
/// liveness**: anyone who knows the administrator's name and ID number passes. For the
/// simulator and demos; `beian serve` refuses it unless configured explicitly (with a
/// warning at every start).
#[derive(Debug, Default, Clone, Copy)]
pub struct BuiltinCheck;

/// How long the built-in check's session (the form on beian's page) stays open.
pub const BUILTIN_SESSION_SECS: i64 = 24 * 3600;

impl IdentityProvider for BuiltinCheck {
    fn name(&self) -> &'static str {
        "builtin"
    }

    fn biometric(&self) -> bool {
        false
    }

    fn start<'a>(&'a self, req: &'a StartRequest, now: i64) -> BoxFuture<'a, PortResult<Session>> {
        let session = Session {
            session_id: format!("builtin-{}", req.task_id),
            url: req.return_url.clone(),
            expires_at: now + BUILTIN_SESSION_SECS,
        };
        Box::pin(async move { Ok(session) })
    }

    /// The built-in check is decided on beian's page ([`IdentityProvider::check_on_page`]);
    /// pulling it only ever says "not completed".
    fn result<'a>(&'a self, _session_id: &'a str) -> BoxFuture<'a, PortResult<Outcome>> {
        Box::pin(async move {
            Ok(Outcome { status: Status::Pending, score: None, raw_code: "awaiting_form".into() })
        })
    }

    fn check_on_page(&self, claimed: &Person, presented: &Presented) -> Option<Outcome> {
        let same = claimed.name == presented.name.trim()
            && claimed.id_number.eq_ignore_ascii_case(presented.id_number.trim());
        Some(if same {
            Outcome { status: Status::Passed, score: None, raw_code: "name_id_match".into() }
        } else {
            Outcome { status: Status::Failed, score: None, raw_code: "name_id_mismatch".into() }
        })
    }
}
