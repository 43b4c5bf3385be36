//! `[oidc]` and `[trusted_header]` in `beian.toml`: how developers sign in besides local
//! accounts (README, "Connect your accounts").

use anyhow::{bail, Result};
use serde::Deserialize;

/// `[oidc]`: the host platform's OpenID provider.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcFileConfig {
    /// The issuer URL (discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// Or `BEIAN_OIDC_CLIENT_SECRET`; absent: a public client (PKCE only).
    pub client_secret: Option<String>,
    /// [default: `{public_url}/console/oidc/callback`]
    pub redirect_url: Option<String>,
    /// Scopes besides `openid` [default: profile, email].
    pub scopes: Option<Vec<String>>,
    /// The button on the sign-in page [default: 使用平台账号登录].
    pub button_label: Option<String>,
}

/// Never printed with its secret.
impl std::fmt::Debug for OidcFileConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcFileConfig").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

pub const DEFAULT_OIDC_LABEL: &str = "使用平台账号登录";

/// `[oidc]` resolved: the adapter's settings; `None` when the section is absent.
pub fn oidc_config(
    file: Option<OidcFileConfig>,
    public_url: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<beian_vendors::oidc::OidcConfig>> {
    let Some(file) = file else { return Ok(None) };
    let need = |v: Option<String>, what: &str| -> Result<String> {
        match v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            Some(v) => Ok(v),
            None => bail!("[oidc] needs {what}"),
        }
    };
    let redirect_url = match (file.redirect_url, public_url) {
        (Some(r), _) => r,
        (None, Some(base)) => format!("{}/console/oidc/callback", base.trim_end_matches('/')),
        (None, None) => bail!(
            "[oidc] needs redirect_url, or public_url to derive it from ({{public_url}}/console/oidc/callback)"
        ),
    };
    let config = beian_vendors::oidc::OidcConfig {
        issuer: need(file.issuer, "issuer (the provider's issuer URL)")?,
        client_id: need(file.client_id, "client_id")?,
        client_secret: env("BEIAN_OIDC_CLIENT_SECRET").filter(|s| !s.is_empty()).or(file.client_secret),
        redirect_url,
        scopes: file.scopes.unwrap_or_else(|| vec!["profile".into(), "email".into()]),
        label: file
            .button_label
            .filter(|l| !l.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_OIDC_LABEL.into()),
    };
    // URLs checked now, so a typo stops the server at start rather than at the first sign-in.
    beian_vendors::oidc::Oidc::new(config.clone()).map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some(config))
}

/// `[trusted_header]`: an authenticating proxy names the person in a header.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedHeaderFileConfig {
    /// The header naming the user (required), e.g. `X-Remote-User`.
    pub user_header: Option<String>,
    pub name_header: Option<String>,
    pub email_header: Option<String>,
    /// Peer addresses (CIDR) allowed to send it [default: 127.0.0.1/32, ::1/128].
    pub proxies: Option<Vec<String>>,
}

/// `[trusted_header]` resolved; refuses an allow-list that lets everyone in.
pub fn trusted_header(file: Option<TrustedHeaderFileConfig>) -> Result<Option<beian_console::TrustedHeader>> {
    let Some(file) = file else { return Ok(None) };
    let header = |h: Option<String>, what: &str| -> Result<Option<String>> {
        match h.map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()) {
            None => Ok(None),
            Some(h) if axum::http::HeaderName::from_bytes(h.as_bytes()).is_ok() => Ok(Some(h)),
            Some(h) => bail!("[trusted_header] {what} = {h:?} is not a valid header name"),
        }
    };
    let Some(user_header) = header(file.user_header, "user_header")? else {
        bail!("[trusted_header] needs user_header (e.g. \"X-Remote-User\")");
    };
    let proxies = file.proxies.unwrap_or_else(|| vec!["127.0.0.1/32".into(), "::1/128".into()]);
    if proxies.is_empty() {
        bail!("[trusted_header] proxies is empty: list the authenticating proxy's addresses");
    }
    let mut nets = Vec::new();
    for p in &proxies {
        let net: ipnet::IpNet = match p.trim().parse() {
            Ok(n) => n,
            Err(_) => match p.trim().parse::<std::net::IpAddr>() {
                Ok(ip) => ipnet::IpNet::from(ip),
                Err(_) => bail!("[trusted_header] proxies: {p:?} is not an address or CIDR range"),
            },
        };
        if net.prefix_len() == 0 {
            bail!(
                "[trusted_header] proxies contains {p:?}, which trusts every address: anyone could sign in as \
                 anyone by sending the header. List only the authenticating proxy's addresses."
            );
        }
        nets.push(net);
    }
    Ok(Some(beian_console::TrustedHeader {
        user_header,
        name_header: header(file.name_header, "name_header")?,
        email_header: header(file.email_header, "email_header")?,
        proxies: nets,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn th(proxies: &[&str]) -> Result<Option<beian_console::TrustedHeader>> {
        trusted_header(Some(TrustedHeaderFileConfig {
            user_header: Some("X-Remote-User".into()),
            proxies: Some(proxies.iter().map(|p| p.to_string()).collect()),
            ..Default::default()
        }))
    }

    #[test]
    fn an_allow_list_of_everyone_is_refused() {
        for all in ["0.0.0.0/0", "::/0"] {
            let e = th(&[all]).expect_err(all).to_string();
            assert!(e.contains("trusts every address"), "{e}");
        }
        assert!(th(&["10.0.0.0/8", "not-an-address"]).is_err());
        let ok = th(&["10.1.2.3", "192.168.0.0/16"]).expect("ok").expect("some");
        assert_eq!(ok.user_header, "x-remote-user");
        assert_eq!(ok.proxies.len(), 2);
        let default = trusted_header(Some(TrustedHeaderFileConfig {
            user_header: Some("X-Remote-User".into()),
            ..Default::default()
        }))
        .expect("ok")
        .expect("some");
        assert_eq!(
            default.proxies.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            ["127.0.0.1/32", "::1/128"]
        );
        assert!(trusted_header(Some(TrustedHeaderFileConfig::default())).is_err(), "no user_header");
    }

    #[test]
    fn the_redirect_url_is_derived_from_the_public_url() {
        let file = || OidcFileConfig {
            issuer: Some("https://sso.example.com".into()),
            client_id: Some("beian".into()),
            ..Default::default()
        };
        let c = oidc_config(Some(file()), Some("https://beian.example.com/"), |_| None)
            .expect("ok")
            .expect("some");
        assert_eq!(c.redirect_url, "https://beian.example.com/console/oidc/callback");
        assert_eq!(c.label, DEFAULT_OIDC_LABEL);
        assert_eq!(c.scopes, ["profile", "email"]);
        assert!(oidc_config(Some(file()), None, |_| None).is_err());
        let secret = oidc_config(Some(file()), Some("https://b.example"), |k| {
            (k == "BEIAN_OIDC_CLIENT_SECRET").then(|| "s3cret".to_string())
        })
        .expect("ok")
        .expect("some");
        assert_eq!(secret.client_secret.as_deref(), Some("s3cret"));
        let bad = OidcFileConfig { issuer: Some("not a url".into()), ..file() };
        assert!(oidc_config(Some(bad), Some("https://b.example"), |_| None).is_err());
        assert!(oidc_config(None, None, |_| None).expect("ok").is_none());
    }
}
