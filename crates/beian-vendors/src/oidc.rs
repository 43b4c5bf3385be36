//! Developer sign-in through the host platform's OpenID provider, with the `openidconnect`
//! crate: discovery (cached for [`DISCOVERY_TTL`], so rotated keys are picked up),
//! authorization code + PKCE (S256), `state` and `nonce`, and ID-token verification —
//! signature against the provider's JWKS, issuer, audience, expiry and nonce — before any
//! claim reaches beian (contract: `beian_ports::signin`).

use beian_ports::signin::{Authorization, Claims, SignInProvider};
use beian_ports::{BoxFuture, PortError, PortResult};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long a fetched discovery document (and its JWKS) is used before it is fetched again.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(600);

/// `[oidc]` as the adapter needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// The issuer URL; `{issuer}/.well-known/openid-configuration` is fetched.
    pub issuer: String,
    pub client_id: String,
    /// None for a public client (PKCE only).
    pub client_secret: Option<String>,
    /// beian's callback, registered at the provider: `{public_url}/console/oidc/callback`.
    pub redirect_url: String,
    /// Scopes besides `openid` (default `profile`, `email`).
    pub scopes: Vec<String>,
    /// The sign-in button's label.
    pub label: String,
}

/// The OpenID provider of `[oidc]`.
pub struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    metadata: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

fn retry(what: &str, e: impl std::fmt::Display) -> PortError {
    PortError::Retry(format!("OpenID provider {what}: {e}"))
}

fn refused(what: &str, e: impl std::fmt::Display) -> PortError {
    PortError::Refused(format!("{what}: {e}"))
}

impl Oidc {
    /// Checks the URLs now (a bad configuration stops the server at start); the provider
    /// is contacted at the first sign-in.
    pub fn new(config: OidcConfig) -> Result<Oidc, String> {
        IssuerUrl::new(config.issuer.clone()).map_err(|e| format!("[oidc] issuer: {e}"))?;
        RedirectUrl::new(config.redirect_url.clone()).map_err(|e| format!("[oidc] redirect_url: {e}"))?;
        if config.client_id.trim().is_empty() {
            return Err("[oidc] client_id is empty".into());
        }
        Ok(Oidc { config, http: crate::http_client(), metadata: Mutex::new(None) })
    }

    async fn client(
        &self,
    ) -> PortResult<
        openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
    > {
        let metadata = {
            let mut cached = self.metadata.lock().await;
            match cached.as_ref().filter(|(at, _)| at.elapsed() < DISCOVERY_TTL) {
                Some((_, m)) => m.clone(),
                None => {
                    let issuer =
                        IssuerUrl::new(self.config.issuer.clone()).map_err(|e| refused("issuer", e))?;
                    let m = CoreProviderMetadata::discover_async(issuer, &self.http)
                        .await
                        .map_err(|e| retry("discovery", error_chain(&e)))?;
                    *cached = Some((Instant::now(), m.clone()));
                    m
                }
            }
        };
        let redirect =
            RedirectUrl::new(self.config.redirect_url.clone()).map_err(|e| refused("redirect_url", e))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }
}

/// An error with its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl SignInProvider for Oidc {
    fn label(&self) -> String {
        self.config.label.clone()
    }

    fn start(&self) -> BoxFuture<'_, PortResult<Authorization>> {
        Box::pin(async move {
            let client = self.client().await?;
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            let mut req = client
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    CsrfToken::new_random,
                    Nonce::new_random,
                )
                .set_pkce_challenge(challenge);
            for s in &self.config.scopes {
                req = req.add_scope(Scope::new(s.clone()));
            }
            let (url, state, nonce) = req.url();
            Ok(Authorization {
                url: url.to_string(),
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
            })
        })
    }

    fn finish<'a>(
        &'a self,
        code: &'a str,
        pkce_verifier: &'a str,
        nonce: &'a str,
    ) -> BoxFuture<'a, PortResult<Claims>> {
        Box::pin(async move {
            let client = self.client().await?;
            let token = client
                .exchange_code(AuthorizationCode::new(code.to_string()))
                .map_err(|e| refused("token endpoint", e))?
                .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
                .request_async(&self.http)
                .await
                .map_err(|e| match e {
                    openidconnect::RequestTokenError::ServerResponse(r) => refused("the code was refused", r),
                    other => retry("token endpoint", error_chain(&other)),
                })?;
            let id_token = token.id_token().ok_or_else(|| refused("token response", "no id_token"))?;
            let claims = id_token
                .claims(&client.id_token_verifier(), &Nonce::new(nonce.to_string()))
                .map_err(|e| refused("ID token", error_chain(&e)))?;
            let name = claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_string());
            Ok(Claims {
                issuer: claims.issuer().as_str().to_string(),
                subject: claims.subject().as_str().to_string(),
                name,
                preferred_username: claims.preferred_username().map(|u| u.as_str().to_string()),
                email: claims.email().map(|e| e.as_str().to_string()),
                email_verified: claims.email_verified() == Some(true),
            })
        })
    }
}
