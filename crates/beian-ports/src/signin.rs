//! Contract: developer sign-in through the host platform's OpenID Connect provider.
//!
//! Protocol (OpenID Connect Core 1.0, authorization code flow with PKCE):
//! 1. [`SignInProvider::start`] — the provider (its discovery document fetched by the
//!    implementation) gives an authorization URL carrying a fresh `state`, `nonce` and PKCE
//!    challenge; beian keeps the three secrets server-side (single use, expiring) and sends
//!    the browser to the URL.
//! 2. The person signs in at the provider, which redirects to beian's callback with `code`
//!    and `state`; beian checks `state` against what it kept.
//! 3. [`SignInProvider::finish`] — the implementation exchanges the code (with the PKCE
//!    verifier) at the token endpoint and verifies the ID token: signature (the provider's
//!    JWKS), issuer, audience, expiry and `nonce`. Only then does beian see [`Claims`]; it
//!    links accounts by `issuer` + `subject`, never by e-mail.
//!
//! Errors: `PortError::Retry` — the provider is unreachable or answered something unreadable
//! (the person is asked to try again); `PortError::Refused` — the code or the ID token was
//! refused (wrong nonce, audience, issuer, signature, expired): the sign-in fails.

use crate::{BoxFuture, PortResult};

/// An authorization request: where to send the browser, and the secrets to keep until it
/// comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// What a verified ID token says about the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `iss`, as verified.
    pub issuer: String,
    /// `sub`: with the issuer, the person's stable identity.
    pub subject: String,
    /// `name`, else `preferred_username`, if given.
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    pub email: Option<String>,
    /// `email_verified` = true in the token (absent means false).
    pub email_verified: bool,
}

/// The host platform's OpenID provider.
pub trait SignInProvider: Send + Sync {
    /// The sign-in button's label (「使用平台账号登录」 unless configured).
    fn label(&self) -> String;
    /// A new authorization request (step 1).
    fn start(&self) -> BoxFuture<'_, PortResult<Authorization>>;
    /// Exchange `code` and verify the ID token against `nonce` (step 3).
    fn finish<'a>(
        &'a self,
        code: &'a str,
        pkce_verifier: &'a str,
        nonce: &'a str,
    ) -> BoxFuture<'a, PortResult<Claims>>;
}
