//! Settings of the per-client limits of the public pages (`beian_web::limits`): the public
//! query per minute, failed sign-ins per 15 minutes, and which header (if any) names the
//! client behind a reverse proxy. `[limits]` in beian.toml < environment < flags.
//!
//! Also [`SharedCounter`]: the limits' counter on PostgreSQL, counting in the shared database
//! through the service, so every node sees the same counts.

use anyhow::{bail, Result};
use beian_service::rate_limits::RateHit;
use beian_service::Service;
use beian_web::limits::{CountFuture, CounterError, Hit, LimitCounter, WebLimitsConfig};
use serde::Deserialize;
use std::sync::Arc;

/// Counts limits in the database (`beian_service::rate_limits`), shared by every node on it.
/// A failure is logged and returned: the public pages then count on their node
/// (`WebLimits`' fallback), the API keeps its unflushed calls for the next flush.
#[derive(Clone)]
pub struct SharedCounter {
    svc: Arc<Service>,
}

impl SharedCounter {
    pub fn new(svc: Arc<Service>) -> SharedCounter {
        SharedCounter { svc }
    }
}

impl std::fmt::Debug for SharedCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCounter")
    }
}

impl LimitCounter for SharedCounter {
    fn add_and_read(&self, hits: Vec<Hit>) -> CountFuture<'_> {
        Box::pin(async move {
            let hits: Vec<RateHit> = hits
                .into_iter()
                .map(|h| RateHit {
                    scope: h.scope,
                    key: h.key,
                    window_start: h.window_start,
                    window_secs: h.window_secs,
                    n: i64::try_from(h.n).unwrap_or(i64::MAX),
                })
                .collect();
            match self.svc.operations().add_rate_counts(&hits).await {
                Ok(counts) => Ok(counts.into_iter().map(|c| u64::try_from(c).unwrap_or(0)).collect()),
                Err(e) => {
                    tracing::warn!("counting rate limits in the database: {e}");
                    Err(CounterError(e.to_string()))
                }
            }
        })
    }
}

/// `[limits]` in `beian.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub public_query_per_minute: Option<u32>,
    pub login_failures_per_ip: Option<u32>,
    pub client_ip_header: Option<String>,
    pub api_calls_per_minute: Option<u32>,
}

#[derive(Debug, Default, Clone, clap::Args)]
pub struct LimitArgs {
    /// Public queries (/query, /api/public/query) per client IP per minute; 0: no limit [default: 60]
    #[arg(long, env = "BEIAN_PUBLIC_QUERY_LIMIT", global = true)]
    pub public_query_limit: Option<u32>,
    /// Failed sign-ins (console, staff) per client IP per 15 minutes; 0: no limit [default: 20]
    #[arg(long, env = "BEIAN_LOGIN_FAILURE_LIMIT", global = true)]
    pub login_failure_limit: Option<u32>,
    /// Header naming the client IP, set by your reverse proxy (x-forwarded-for: its last entry;
    /// x-real-ip). Only when every request comes through that proxy [default: the TCP peer]
    #[arg(long, env = "BEIAN_CLIENT_IP_HEADER", global = true)]
    pub client_ip_header: Option<String>,
    /// WeChat-compatible API calls per mini program per endpoint per minute, then `45011`;
    /// 0: no limit [default: 600, WeChat's]
    #[arg(long, env = "BEIAN_API_MINUTE_LIMIT", global = true)]
    pub api_minute_limit: Option<u32>,
}

/// The API edge's minute quota: the flag, else `[limits] api_calls_per_minute`, else WeChat's 600.
pub fn api_config(args: &LimitArgs, file: Option<&LimitsFile>) -> beian_api::ApiConfig {
    let d = beian_api::ApiConfig::default();
    beian_api::ApiConfig {
        per_minute_limit: args
            .api_minute_limit
            .or(file.and_then(|f| f.api_calls_per_minute))
            .unwrap_or(d.per_minute_limit),
    }
}

pub fn resolve(args: &LimitArgs, file: Option<LimitsFile>) -> Result<WebLimitsConfig> {
    let file = file.unwrap_or_default();
    let d = WebLimitsConfig::default();
    let header = args
        .client_ip_header
        .clone()
        .or(file.client_ip_header)
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty());
    if let Some(h) = &header {
        if !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            bail!("client_ip_header {h:?} is not a header name (e.g. x-forwarded-for, x-real-ip)");
        }
    }
    Ok(WebLimitsConfig {
        public_query_per_minute: args
            .public_query_limit
            .or(file.public_query_per_minute)
            .unwrap_or(d.public_query_per_minute),
        login_failures_per_ip: args
            .login_failure_limit
            .or(file.login_failures_per_ip)
            .unwrap_or(d.login_failures_per_ip),
        client_ip_header: header,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_over_file_over_defaults() {
        assert_eq!(resolve(&LimitArgs::default(), None).expect("defaults"), WebLimitsConfig::default());
        let file: LimitsFile =
            toml::from_str("public_query_per_minute = 10\nclient_ip_header = \"X-Forwarded-For\"\n")
                .expect("toml");
        let args = LimitArgs { public_query_limit: Some(0), ..LimitArgs::default() };
        let c = resolve(&args, Some(file)).expect("valid");
        assert_eq!(c.public_query_per_minute, 0, "the flag wins");
        assert_eq!(c.login_failures_per_ip, 20);
        assert_eq!(c.client_ip_header.as_deref(), Some("x-forwarded-for"));
        let bad = LimitArgs { client_ip_header: Some("x forwarded".into()), ..LimitArgs::default() };
        assert!(resolve(&bad, None).is_err());
    }

    #[test]
    fn api_minute_limit_flag_over_file_over_wechat_default() {
        assert_eq!(api_config(&LimitArgs::default(), None).per_minute_limit, 600);
        let file: LimitsFile = toml::from_str("api_calls_per_minute = 1200\n").expect("toml");
        assert_eq!(api_config(&LimitArgs::default(), Some(&file)).per_minute_limit, 1200);
        let args = LimitArgs { api_minute_limit: Some(0), ..LimitArgs::default() };
        assert_eq!(api_config(&args, Some(&file)).per_minute_limit, 0, "the flag wins");
    }
}
