//! Contract: identity verification (人脸核身) of a mini program's administrator.
//!
//! The service asks an [`IdentityVerifier`] whether the person completing a face task is the
//! administrator the developer declared; the answer decides the task (success or failure).
//! A real deployment plugs in a face-comparison provider here (it is given what the person
//! presented, and answers); the built-in [`IdentityMatch`] is the stand-in.

use crate::{BoxFuture, PortResult};
use beian_core::model::Person;

/// What the person on the verification page presented.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Presented {
    pub name: String,
    pub id_number: String,
    /// A face image or liveness token from the page, if the verifier asked for one (the
    /// built-in check does not).
    pub evidence: Option<Vec<u8>>,
}

/// The verifier's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The person is the claimed administrator.
    Match,
    /// They are not (the task records a failed attempt; the person may try again).
    NoMatch,
    /// The verifier cannot answer now (provider down, rate-limited): nothing is recorded,
    /// the person is asked to try again later.
    RetryLater(String),
}

/// Decides whether the person completing a face task is the administrator.
pub trait IdentityVerifier: Send + Sync {
    /// For logs (`identity_match`, the provider's name).
    fn name(&self) -> &'static str;
    /// `claimed`: the administrator as the developer declared them.
    fn verify<'a>(
        &'a self,
        claimed: &'a Person,
        presented: &'a Presented,
    ) -> BoxFuture<'a, PortResult<Verdict>>;
}

/// The built-in verifier: the stated name and ID number must be the administrator's. It
/// compares text only — **no biometrics, no liveness**: anyone who knows the administrator's
/// name and ID number passes. Suitable for development and demos, not as proof of identity.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdentityMatch;

impl IdentityVerifier for IdentityMatch {
    fn name(&self) -> &'static str {
        "identity_match"
    }

    fn verify<'a>(
        &'a self,
        claimed: &'a Person,
        presented: &'a Presented,
    ) -> BoxFuture<'a, PortResult<Verdict>> {
        let same = claimed.name == presented.name.trim()
            && claimed.id_number.eq_ignore_ascii_case(presented.id_number.trim());
        Box::pin(async move { Ok(if same { Verdict::Match } else { Verdict::NoMatch }) })
    }
}
