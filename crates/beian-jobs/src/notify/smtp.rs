//! E-mail over SMTP with `lettre` (rustls; no native-tls or OpenSSL).
//!
//! `[smtp] security` chooses how the connection is protected:
//! - `starttls` (default, port 587): plain TCP, then `STARTTLS` is **required** — a server that
//!   does not offer it is an error, never a silent fallback to clear text;
//! - `tls` (port 465): TLS from the first byte (implicit TLS, "SMTPS");
//! - `none` (port 25): no TLS at all; allowed only to a loopback relay (`127.0.0.1`, `::1`,
//!   `localhost`) — [`SmtpConfig::check`] refuses anything else, and `beian` does not start.
//!
//! The server's certificate is checked against the Mozilla roots (webpki-roots) plus the
//! PEM certificates of `ca_file` (a private CA, or a test's self-signed certificate).
//! `AUTH` (PLAIN, else LOGIN) is used when `username` is set; the password comes from the
//! configuration or `BEIAN_SMTP_PASSWORD` and is never printed (`Debug` hides it, and lettre's
//! errors do not carry it). Connecting and every command have a time limit (`timeout_secs`,
//! 10 s by default), the whole conversation three times that.
//!
//! Outcomes: accepted → `Ok`; a 5xx answer (bad credentials, unknown recipient) or an address
//! lettre cannot parse → [`NotifyError::InvalidInput`] / [`NotifyError::Rejected`] with
//! `permanent = true` (the job is dead-lettered); a server that cannot be reached, times out,
//! answers 4xx or fails the TLS handshake → retried later.

use super::NotifyError;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

/// Default time limit of connecting and of each SMTP command.
const DEFAULT_TIMEOUT_SECS: u64 = 10;

/// How the SMTP connection is protected (`[smtp] security`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain TCP upgraded with the required `STARTTLS` (port 587 by default).
    #[default]
    Starttls,
    /// Implicit TLS (port 465 by default).
    Tls,
    /// No TLS (port 25 by default): a loopback relay only.
    None,
}

impl SmtpSecurity {
    fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        }
    }
}

/// Where and how to send e-mail (`[smtp]`).
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The server's host name (checked against its certificate) or IP address.
    pub host: String,
    /// The server's port [default: 587 starttls, 465 tls, 25 none].
    #[serde(default)]
    pub port: Option<u16>,
    /// The envelope sender and `From` address, e.g. `noreply@example.cn`.
    pub from: String,
    /// `starttls` (default), `tls` or `none` (loopback only).
    #[serde(default)]
    pub security: SmtpSecurity,
    /// PEM file of extra root certificates to trust (a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The name given in `EHLO` [default: this machine's host name].
    #[serde(default)]
    pub hello: Option<String>,
    /// When set, `AUTH` is used with this user name.
    #[serde(default)]
    pub username: Option<String>,
    /// The `AUTH` password (or `BEIAN_SMTP_PASSWORD`).
    #[serde(default)]
    pub password: Option<String>,
    /// The time limit of connecting and of each command in seconds [default: 10].
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// Never printed with its password.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port())
            .field("from", &self.from)
            .field("security", &self.security)
            .field("ca_file", &self.ca_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl SmtpConfig {
    /// A configuration for `host:port` with the given security and nothing else set.
    pub fn new(host: &str, port: u16, from: &str, security: SmtpSecurity) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port: Some(port),
            from: from.into(),
            security,
            ca_file: None,
            hello: None,
            username: None,
            password: None,
            timeout_secs: None,
        }
    }

    /// The port in use (configured, or the security's default).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.security.default_port())
    }

    /// Whether the configuration may be used (checked at startup): the sender parses,
    /// `security = "none"` only to a loopback host, a password only with a user name.
    pub fn check(&self) -> Result<(), String> {
        if self.host.trim().is_empty() {
            return Err("[smtp] host is empty".into());
        }
        self.from
            .parse::<Mailbox>()
            .map_err(|e| format!("[smtp] from {:?} is not an address: {e}", self.from))?;
        if self.security == SmtpSecurity::None && !is_loopback(&self.host) {
            return Err(format!(
                "[smtp] security = \"none\" sends mail (and any password) in clear text: it is only allowed to a \
                 relay on this machine (127.0.0.1, ::1, localhost), not to {:?}; use \"starttls\" or \"tls\"",
                self.host
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err("[smtp] password is set without username".into());
        }
        Ok(())
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// A built SMTP transport for one configuration.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    describe: String,
    /// The whole conversation's limit (lettre bounds connecting and each command, not the
    /// server's greeting): three steps' worth.
    overall: Duration,
}

impl Mailer {
    /// Builds the transport (reads `ca_file`); an unusable configuration is an error that
    /// names what is wrong.
    pub fn new(cfg: &SmtpConfig) -> Result<Mailer, NotifyError> {
        cfg.check().map_err(NotifyError::InvalidInput)?;
        let from: Mailbox =
            cfg.from.parse().map_err(|e| NotifyError::InvalidInput(format!("[smtp] from: {e}")))?;
        let port = cfg.port();
        let step = Duration::from_secs(cfg.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS).max(1));
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.trim())
            .port(port)
            .timeout(Some(step));
        if cfg.security != SmtpSecurity::None {
            let mut params = TlsParameters::builder(cfg.host.trim().to_string());
            if let Some(path) = &cfg.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    NotifyError::InvalidInput(format!("[smtp] ca_file {}: {e}", path.display()))
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    NotifyError::InvalidInput(format!(
                        "[smtp] ca_file {} is not a PEM certificate: {e}",
                        path.display()
                    ))
                })?;
                params = params.add_root_certificate(cert);
            }
            let params = params
                .build()
                .map_err(|e| NotifyError::InvalidInput(format!("[smtp] TLS parameters: {e}")))?;
            builder = builder.tls(match cfg.security {
                SmtpSecurity::Tls => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        if let Some(hello) = &cfg.hello {
            builder = builder.hello_name(ClientId::Domain(hello.clone()));
        }
        if let Some(user) = &cfg.username {
            builder =
                builder.credentials(Credentials::new(user.clone(), cfg.password.clone().unwrap_or_default()));
        }
        let describe = format!("SMTP server {}:{port} ({:?})", cfg.host.trim(), cfg.security);
        Ok(Mailer { transport: builder.build(), from, describe, overall: step * 3 })
    }

    /// Sends one plain-text message (UTF-8, base64 body) to `to`.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), NotifyError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| NotifyError::InvalidInput(format!("recipient {to:?} is not an address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .header(ContentTransferEncoding::Base64)
                    .body(body.to_string()),
            )
            .map_err(|e| NotifyError::InvalidInput(format!("building the message: {e}")))?;
        match tokio::time::timeout(self.overall, self.transport.send(message)).await {
            Ok(sent) => sent.map(|_| ()).map_err(|e| self.error(e)),
            Err(_) => {
                Err(NotifyError::Timeout(format!("{}: no answer within {:?}", self.describe, self.overall)))
            }
        }
    }

    fn error(&self, e: lettre::transport::smtp::Error) -> NotifyError {
        let what = &self.describe;
        if e.is_timeout() {
            NotifyError::Timeout(format!("{what}: {e}"))
        } else if e.is_permanent() {
            let code = e.status().map(|c| c.to_string()).unwrap_or_default();
            let hint = if code.starts_with("53") {
                " — the server refused the credentials: check [smtp] username and password (BEIAN_SMTP_PASSWORD)"
            } else {
                ""
            };
            NotifyError::Refused(format!("{what}: {e}{hint}"))
        } else if e.is_transient() || e.is_response() {
            NotifyError::Rejected(format!("{what}: {e}"))
        } else {
            NotifyError::Connect(format!("{what}: {e}"))
        }
    }
}

/// Sends one plain-text message to `to` (builds a [`Mailer`] for the call).
pub async fn send_mail(cfg: &SmtpConfig, to: &str, subject: &str, body: &str) -> Result<(), NotifyError> {
    Mailer::new(cfg)?.send(to, subject, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_text_only_to_loopback() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            assert!(SmtpConfig::new(host, 25, "a@b.cn", SmtpSecurity::None).check().is_ok(), "{host}");
        }
        let err =
            SmtpConfig::new("smtp.example.cn", 25, "a@b.cn", SmtpSecurity::None).check().expect_err("remote");
        assert!(err.contains("security = \"none\"") && err.contains("smtp.example.cn"), "{err}");
        assert!(SmtpConfig::new("smtp.example.cn", 465, "a@b.cn", SmtpSecurity::Tls).check().is_ok());
        assert!(SmtpConfig::new("h", 1, "not an address", SmtpSecurity::Tls).check().is_err());
    }

    #[test]
    fn security_defaults_and_password_never_printed() {
        let c: SmtpConfig =
            toml_like("host", "smtp.example.cn", "from", "a@b.cn").expect("minimal config deserializes");
        assert_eq!((c.security, c.port()), (SmtpSecurity::Starttls, 587));
        let mut c = SmtpConfig::new("h", 465, "a@b.cn", SmtpSecurity::Tls);
        c.username = Some("u".into());
        c.password = Some("hunter2-secret".into());
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    fn toml_like(k1: &str, v1: &str, k2: &str, v2: &str) -> Result<SmtpConfig, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ k1: v1, k2: v2 }))
    }
}
