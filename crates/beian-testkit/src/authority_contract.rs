//! The authority contract suite: what every implementation of the authority gateway
//! (`beian_ports::authority::AuthorityGateway`) must do for the platform, whatever drives it.
//! One suite, run against the in-process simulator, the simulator over the HTTP bridge (two
//! processes), and the manual desk driven through the staff console in headless Chromium.
//!
//! The platform side is the service under test (applications are filed through it and its
//! state is read back); the authority side is an [`AuthorityDriver`]: the controls of the
//! implementation under test — the simulator's verification page and settings, a bridge
//! peer's control API, an operator's forms on the desk. A driver only makes the authority do
//! something; the suite checks what the platform then shows.

use beian_core::model::AuditItem;
use beian_core::numbering::IssuedNumbers;
use std::future::Future;
use std::pin::Pin;

pub type DriverFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One operation as the authority received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub appid: String,
    /// `beian_ports::authority::Operation::kind` (`new_subject_and_service`, `cancel_service`…).
    pub kind: String,
    pub round: u32,
}

/// The controls of one authority implementation. Every method acts on the operation the
/// authority currently holds for `appid` and returns once the implementation took the step
/// (the platform may learn of it a moment later: the suite waits for the platform). A method
/// panics with context when the implementation cannot do it (a test failure).
pub trait AuthorityDriver: Send + Sync {
    /// For messages: `simulator`, `bridge`, `desk`.
    fn name(&self) -> String;
    /// Every operation received so far for `appid`, oldest first (one entry per distinct
    /// appid, kind and round: a repeated submission is not a second entry).
    fn received<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, Vec<Received>>;
    /// The principals pass the SMS verification of the held operation.
    fn verify_sms<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()>;
    /// The SMS window of the held operation closes unverified.
    fn expire_sms<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()>;
    /// The authority approves the held filing; answers the numbers it issued.
    fn approve<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, IssuedNumbers>;
    /// The authority approves with the numbers given (the suite checks that wrong ones are
    /// refused and change nothing). Answers whether the platform took them.
    fn approve_with<'a>(&'a self, appid: &'a str, numbers: &'a IssuedNumbers) -> DriverFuture<'a, bool>;
    /// The authority rejects the held filing with one reason.
    fn reject<'a>(&'a self, appid: &'a str, reason: &'a AuditItem) -> DriverFuture<'a, ()>;
    /// The principal confirms the held cancellation.
    fn confirm_cancel<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()>;
    /// The authority refuses the held operation outright (`code`, `reason`).
    fn refuse<'a>(&'a self, appid: &'a str, code: &'a str, reason: &'a str) -> DriverFuture<'a, ()>;
}
