//! Configuration: defaults < config file (`beian.toml`) < environment < command line.

use anyhow::{bail, Context, Result};
use beian_store::media::{Credentials, S3Config};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What `beian.toml` may contain. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub master_key: Option<String>,
    pub simulated_clock: Option<bool>,
    pub public_url: Option<String>,
    /// `[limits]`: per-client limits of the public query and the sign-in forms.
    pub limits: Option<crate::limits::LimitsFile>,
    /// `[smtp]`: host, port, from, security, ca_file, username, password (see
    /// [`beian_jobs::notify::SmtpConfig`]).
    pub smtp: Option<beian_jobs::notify::SmtpConfig>,
    /// `[sms_gateway]`: url, api_key, sign_name. Absent: no SMS channel (texts are
    /// dead-lettered), unless `sms_outbox` or demo mode picks the development outbox.
    pub sms_gateway: Option<beian_jobs::notify::HttpSmsConfig>,
    /// `sms_outbox = true`: texts go to the development outbox (a stand-in: nothing reaches
    /// a phone). Not together with `[sms_gateway]`.
    pub sms_outbox: Option<bool>,
    /// `[sms]`: provider (aliyun, tencent, http), credentials, `[[sms.templates]]`, `[sms.limits]`.
    pub sms: Option<crate::sms_config::SmsFileConfig>,
    /// `[media]`: where media bytes live.
    pub media: Option<MediaFileConfig>,
    /// `[metrics]`: who may read `/metrics`.
    pub metrics: Option<MetricsFileConfig>,
    /// `[privacy]`: how long personal data is kept after a filing ended.
    pub privacy: Option<PrivacyFileConfig>,
    /// `[jobs]`: the job worker (how many jobs it runs at once).
    pub jobs: Option<JobsFileConfig>,
    /// `[identity]`: who verifies administrators' identities (face tasks).
    pub identity: Option<IdentityFileConfig>,
    /// `[authority]`: how the platform reaches the authority.
    pub authority: Option<AuthorityFileConfig>,
    /// `[platform_api]`: the host platform's signed sync API (keys, replay window).
    pub platform_api: Option<crate::platform_api::PlatformApiFileConfig>,
    /// `[oidc]`: developer sign-in through the host platform's OpenID provider.
    pub oidc: Option<crate::signin::OidcFileConfig>,
    /// `[trusted_header]`: an authenticating proxy names the developer in a header.
    pub trusted_header: Option<crate::signin::TrustedHeaderFileConfig>,
}

/// `[identity]` in `beian.toml` (see README "Identity verification").
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityFileConfig {
    /// `builtin` (name + ID only, no biometrics), `tencent_faceid` or `aliyun_cloudauth`.
    pub provider: Option<String>,
    /// The vendor's API endpoint [default: the vendor's public one].
    pub endpoint: Option<String>,
    /// Tencent SecretId / Alibaba AccessKeyId.
    pub secret_id: Option<String>,
    /// Tencent SecretKey / Alibaba AccessKeySecret (or `BEIAN_IDENTITY_SECRET_KEY`).
    pub secret_key: Option<String>,
    /// Tencent `X-TC-Region` (optional).
    pub region: Option<String>,
    /// Tencent 业务流程 RuleId.
    pub rule_id: Option<String>,
    /// Alibaba 认证场景 SceneId.
    pub scene_id: Option<String>,
    /// Alibaba ProductCode [default: ID_PRO].
    pub product_code: Option<String>,
    /// Alibaba MetaInfo for the browser flow [default: a generic H5 description].
    pub meta_info: Option<String>,
    /// How long a session can be completed [default: Tencent 7200, Alibaba 1800].
    pub session_secs: Option<i64>,
}

/// Never printed with its secret.
impl std::fmt::Debug for IdentityFileConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityFileConfig").field("provider", &self.provider).finish_non_exhaustive()
    }
}

/// Who verifies administrators' identities.
#[derive(Debug, Clone)]
pub enum IdentityConfig {
    /// The built-in name + ID check (no biometrics). `explicit`: chosen in the configuration
    /// (`beian serve` refuses the implicit default; `demo` uses it).
    Builtin {
        explicit: bool,
    },
    Tencent(beian_vendors::tencent::TencentConfig),
    Aliyun(beian_vendors::aliyun::AliyunConfig),
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig::Builtin { explicit: false }
    }
}

/// `[identity]` (and `--identity-provider`, `BEIAN_IDENTITY_SECRET_KEY`) resolved.
pub fn identity_config(
    provider: Option<String>,
    file: IdentityFileConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<IdentityConfig> {
    let provider = provider.or(file.provider);
    let Some(provider) = provider else { return Ok(IdentityConfig::Builtin { explicit: false }) };
    let secret_key = env("BEIAN_IDENTITY_SECRET_KEY").filter(|k| !k.is_empty()).or(file.secret_key);
    let need = |v: Option<String>, what: &str| -> Result<String> {
        match v.filter(|v| !v.trim().is_empty()) {
            Some(v) => Ok(v),
            None => bail!("[identity] provider = \"{provider}\" needs {what}"),
        }
    };
    match provider.as_str() {
        "builtin" => Ok(IdentityConfig::Builtin { explicit: true }),
        "tencent_faceid" => Ok(IdentityConfig::Tencent(beian_vendors::tencent::TencentConfig {
            endpoint: file.endpoint.unwrap_or_else(|| beian_vendors::tencent::DEFAULT_ENDPOINT.into()),
            secret_id: need(file.secret_id, "secret_id (SecretId)")?,
            secret_key: need(secret_key, "secret_key (SecretKey, or BEIAN_IDENTITY_SECRET_KEY)")?,
            region: file.region,
            rule_id: need(file.rule_id, "rule_id (业务流程 RuleId)")?,
            session_secs: file.session_secs.unwrap_or(beian_vendors::tencent::DEFAULT_SESSION_SECS),
        })),
        "aliyun_cloudauth" => Ok(IdentityConfig::Aliyun(beian_vendors::aliyun::AliyunConfig {
            endpoint: file.endpoint.unwrap_or_else(|| beian_vendors::aliyun::DEFAULT_ENDPOINT.into()),
            access_key_id: need(file.secret_id, "secret_id (AccessKeyId)")?,
            access_key_secret: need(
                secret_key,
                "secret_key (AccessKeySecret, or BEIAN_IDENTITY_SECRET_KEY)",
            )?,
            scene_id: need(file.scene_id, "scene_id (认证场景 SceneId)")?,
            product_code: file.product_code.unwrap_or_else(|| "ID_PRO".into()),
            meta_info: file.meta_info.unwrap_or_else(|| beian_vendors::aliyun::DEFAULT_META_INFO.into()),
            session_secs: file.session_secs.unwrap_or(beian_vendors::aliyun::DEFAULT_SESSION_SECS),
        })),
        other => bail!(
            "[identity] provider = \"{other}\" is unknown: choose builtin (no biometrics; demo only), \
             tencent_faceid or aliyun_cloudauth"
        ),
    }
}

/// `[authority]` in `beian.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityFileConfig {
    /// `simulator`, `manual` or `bridge` (see [`GatewayChoice`]).
    pub gateway: Option<String>,
    /// `[authority.bridge]`: see [`beian_authority_bridge::BridgeFileConfig`].
    pub bridge: Option<beian_authority_bridge::BridgeFileConfig>,
}

/// How the platform reaches the authority (`[authority] gateway`). `serve` needs a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayChoice {
    /// The built-in simulator (demos and tests only): it texts codes in the authority's name,
    /// serves `/miit/verify`, mints numbers and may run on a simulated clock.
    Simulator,
    /// The manual desk: operators file each submission in the authority's own system and
    /// record the outcome on the staff pages (`/admin/desk`).
    Manual,
    /// The HTTP bridge: signed JSON to a bridge the platform operates.
    Bridge,
}

impl GatewayChoice {
    pub const NAMES: &'static str = "\"simulator\" (demos only), \"manual\" (operators file by hand at /admin/desk) or \"bridge\" (an HTTP bridge the platform runs)";

    pub fn parse(s: &str) -> Result<GatewayChoice> {
        match s.trim().to_ascii_lowercase().as_str() {
            "simulator" => Ok(GatewayChoice::Simulator),
            "manual" => Ok(GatewayChoice::Manual),
            "bridge" => Ok(GatewayChoice::Bridge),
            other => bail!("authority gateway {other:?} is not known: use {}", GatewayChoice::NAMES),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GatewayChoice::Simulator => "simulator",
            GatewayChoice::Manual => "manual",
            GatewayChoice::Bridge => "bridge",
        }
    }
}

/// `[privacy]` in `beian.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyFileConfig {
    /// Days personal data is kept after a filing is cancelled or cleared.
    pub retention_days: Option<u32>,
}

/// `[jobs]` in `beian.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsFileConfig {
    /// Jobs the worker runs at once.
    pub concurrency: Option<usize>,
}

/// `[metrics]` in `beian.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFileConfig {
    /// Bearer token a scraper sends; absent: `/metrics` is not served.
    pub token: Option<String>,
}

/// `[media]` in `beian.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaFileConfig {
    /// `local` (default) or `s3`.
    pub backend: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_region: Option<String>,
    pub s3_prefix: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
}

/// Where media bytes live.
#[derive(Debug, Clone, Default)]
pub enum MediaBackend {
    /// `<data dir>/media`.
    #[default]
    Local,
    /// An S3-compatible bucket, shared by every node.
    S3(S3Config),
}

pub const DEFAULT_S3_REGION: &str = "us-east-1";

/// Effective settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Hex master key for encryption at rest. `None`: use (or create) `<data_dir>/secret.key`.
    pub master_key: Option<String>,
    /// Let operators move the clock (authority simulator in demos). Never in production.
    pub simulated_clock: bool,
    /// The base URL people reach the platform at (links in SMS and 站内信).
    pub public_url: Option<String>,
    /// Per-client limits of the public query and the sign-in forms.
    pub web_limits: beian_web::limits::WebLimitsConfig,
    /// The WeChat-compatible API's minute quota per mini program and endpoint.
    pub api: beian_api::ApiConfig,
    pub smtp: Option<beian_jobs::notify::SmtpConfig>,
    pub sms_gateway: Option<beian_jobs::notify::HttpSmsConfig>,
    /// Texts go to the development outbox (demo mode sets it when no gateway is configured).
    pub sms_outbox: bool,
    /// `[sms]`: the SMS provider and beian's per-number limits.
    pub sms: crate::sms_config::SmsConfig,
    pub media: MediaBackend,
    /// Who may read `/metrics` (nobody unless a token is configured).
    pub metrics: crate::metrics::MetricsAccess,
    /// Days personal data is kept after a filing is cancelled or cleared, then erased.
    pub retention_days: u32,
    /// Jobs this node's worker runs at once (`[jobs] concurrency`).
    pub jobs_concurrency: usize,
    /// Who verifies administrators' identities (`[identity]`).
    pub identity: IdentityConfig,
    /// How the platform reaches the authority; `None` until chosen (`serve` refuses to start
    /// without it, `demo` runs the simulator).
    pub authority_gateway: Option<GatewayChoice>,
    /// `[authority] gateway = "bridge"`: the bridge's settings (`[authority.bridge]`).
    pub authority_bridge: Option<beian_authority_bridge::BridgeConfig>,
    /// `[platform_api]`: the host platform's sync API; `None`: not served (no keys).
    pub platform_api: Option<crate::platform_api::PlatformApiConfig>,
    /// `[oidc]`: the host platform's OpenID provider, if any.
    pub oidc: Option<beian_vendors::oidc::OidcConfig>,
    /// `[trusted_header]`, if configured (off by default).
    pub trusted_header: Option<beian_console::TrustedHeader>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./beian-data";

/// Command-line / environment values (clap fills them; env is read by clap too).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "BEIAN_LISTEN", global = true)]
    pub listen: Option<String>,
    /// Directory for the SQLite database, media files and the key [default: ./beian-data]
    #[arg(long, env = "BEIAN_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB [default: SQLite in the data dir]
    #[arg(long, env = "BEIAN_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Config file [default: <data dir>/beian.toml if it exists]
    #[arg(long, env = "BEIAN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Let operators advance the clock (the authority simulator's time); `demo` turns it on
    #[arg(long, env = "BEIAN_SIMULATED_CLOCK", global = true)]
    pub simulated_clock: Option<bool>,
    /// Base URL for links sent to people [default: http://<listen address>]
    #[arg(long, env = "BEIAN_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,
    /// Where media bytes live: local (the data dir) or s3 [default: local]
    #[arg(long, env = "BEIAN_MEDIA_BACKEND", global = true)]
    pub media_backend: Option<String>,
    /// S3-compatible endpoint, http(s)://HOST[:PORT] (path-style requests)
    #[arg(long, env = "BEIAN_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,
    /// S3 bucket for media (must exist)
    #[arg(long, env = "BEIAN_S3_BUCKET", global = true)]
    pub s3_bucket: Option<String>,
    /// S3 signing region [default: us-east-1]
    #[arg(long, env = "BEIAN_S3_REGION", global = true)]
    pub s3_region: Option<String>,
    /// Prefix of every media key in the bucket, e.g. beian/media/ [default: none]
    #[arg(long, env = "BEIAN_S3_PREFIX", global = true)]
    pub s3_prefix: Option<String>,
    /// Days personal data is kept after a filing is cancelled or cleared [default: 180]
    #[arg(long, env = "BEIAN_RETENTION_DAYS", global = true)]
    pub retention_days: Option<u32>,
    /// Jobs the job worker runs at once (notifications, event pushes, authority hand-offs)
    /// [default: 64]
    #[arg(long, env = "BEIAN_JOBS_CONCURRENCY", global = true)]
    pub jobs_concurrency: Option<usize>,
    /// Keep texts in the development outbox instead of sending them (a stand-in for
    /// development and tests; `demo` uses it unless [sms_gateway] is configured)
    #[arg(long, env = "BEIAN_SMS_OUTBOX", global = true)]
    pub sms_outbox: Option<bool>,
    /// Identity verification: builtin (name + ID only, no biometrics), tencent_faceid or
    /// aliyun_cloudauth; the vendors' settings are in [identity] [default: builtin in demo;
    /// serve requires a choice]
    #[arg(long, env = "BEIAN_IDENTITY_PROVIDER", global = true)]
    pub identity_provider: Option<String>,
    /// How the platform reaches the authority: simulator (demos only), manual (operators
    /// file by hand at /admin/desk) or bridge; `serve` needs one
    #[arg(long, env = "BEIAN_AUTHORITY_GATEWAY", global = true)]
    pub authority_gateway: Option<String>,
}

impl Config {
    pub fn resolve(args: &ConfigArgs) -> Result<Config> {
        let file_path = args.config.clone().or_else(|| {
            let dir = args.data_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
            let p = dir.join("beian.toml");
            p.exists().then_some(p)
        });
        let file = match &file_path {
            Some(p) => load_file(p)?,
            None => FileConfig::default(),
        };
        let data_dir =
            args.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("beian.db").display()));
        let media = media_backend(args, file.media.unwrap_or_default(), |k| std::env::var(k).ok())?;
        let metrics = metrics_access(file.metrics.unwrap_or_default(), |k| std::env::var(k).ok())?;
        let sms_outbox = args.sms_outbox.or(file.sms_outbox).unwrap_or(false);
        let vendor_sms =
            file.sms.as_ref().and_then(|s| s.provider.as_deref()).is_some_and(|p| p.trim() != "http");
        if sms_outbox && (file.sms_gateway.is_some() || vendor_sms) {
            bail!("sms_outbox and [sms_gateway] or an [sms] provider are both set: choose where texts go");
        }
        let authority_file = file.authority.unwrap_or_default();
        let authority_gateway = match args
            .authority_gateway
            .clone()
            .filter(|g| !g.trim().is_empty())
            .or(authority_file.gateway.clone())
        {
            Some(g) => Some(GatewayChoice::parse(&g)?),
            None => None,
        };
        let simulated_clock = args.simulated_clock.or(file.simulated_clock).unwrap_or(false);
        if simulated_clock && authority_gateway.is_some_and(|g| g != GatewayChoice::Simulator) {
            bail!(
                "simulated_clock is only for the authority simulator (gateway = \"simulator\"); \
                 a platform filing with the real authority runs on real time"
            );
        }
        let public_url = args.public_url.clone().or(file.public_url);
        Ok(Config {
            oidc: crate::signin::oidc_config(file.oidc, public_url.as_deref(), |k| std::env::var(k).ok())?,
            trusted_header: crate::signin::trusted_header(file.trusted_header)?,
            listen: args.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into()),
            data_dir,
            database_url,
            master_key: std::env::var("BEIAN_MASTER_KEY").ok().filter(|k| !k.is_empty()).or(file.master_key),
            simulated_clock,
            public_url,
            api: crate::limits::api_config(&args.limits, file.limits.as_ref()),
            web_limits: crate::limits::resolve(&args.limits, file.limits)?,
            smtp: smtp_config(file.smtp, |k| std::env::var(k).ok())?,
            sms: crate::sms_config::resolve(
                file.sms.unwrap_or_default(),
                file.sms_gateway.is_some(),
                authority_gateway == Some(GatewayChoice::Simulator),
                |k| std::env::var(k).ok(),
            )?,
            sms_gateway: file.sms_gateway,
            sms_outbox,
            media,
            metrics,
            retention_days: retention_days(args, file.privacy.unwrap_or_default())?,
            jobs_concurrency: jobs_concurrency(args, file.jobs.unwrap_or_default())?,
            identity: identity_config(
                args.identity_provider.clone(),
                file.identity.unwrap_or_default(),
                |k| std::env::var(k).ok(),
            )?,
            authority_gateway,
            authority_bridge: authority_bridge(authority_gateway, authority_file, |k| std::env::var(k).ok())?,
            platform_api: crate::platform_api::PlatformApiConfig::resolve(
                file.platform_api.unwrap_or_default(),
                |k| std::env::var(k).ok(),
            )
            .map_err(|e| anyhow::anyhow!(e))?,
        })
    }
}

/// `[smtp]` with the password from `BEIAN_SMTP_PASSWORD` over the file; refused when unusable
/// (`security = "none"` to another machine, a sender that is not an address).
fn smtp_config(
    file: Option<beian_jobs::notify::SmtpConfig>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<beian_jobs::notify::SmtpConfig>> {
    let Some(mut smtp) = file else { return Ok(None) };
    if let Some(p) = env("BEIAN_SMTP_PASSWORD").filter(|p| !p.is_empty()) {
        smtp.password = Some(p);
    }
    smtp.check().map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some(smtp))
}

/// `[authority.bridge]` when `[authority] gateway = "bridge"`; refused if incomplete.
fn authority_bridge(
    gateway: Option<GatewayChoice>,
    file: AuthorityFileConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<beian_authority_bridge::BridgeConfig>> {
    match gateway {
        Some(GatewayChoice::Bridge) => {
            beian_authority_bridge::BridgeConfig::resolve(file.bridge.unwrap_or_default(), env)
                .map(Some)
                .map_err(|e| anyhow::anyhow!(e))
        }
        _ => Ok(None),
    }
}

/// `[jobs] concurrency`: the flag or environment over the file over the default
/// ([`beian_jobs::DEFAULT_CONCURRENCY`]). From 1 to 1024.
fn jobs_concurrency(args: &ConfigArgs, file: JobsFileConfig) -> Result<usize> {
    let n = args.jobs_concurrency.or(file.concurrency).unwrap_or(beian_jobs::DEFAULT_CONCURRENCY);
    if !(1..=1024).contains(&n) {
        bail!("[jobs] concurrency ({n}) must be from 1 to 1024");
    }
    Ok(n)
}

/// `[privacy] retention_days`: the flag or environment over the file over the default
/// ([`beian_service::privacy::DEFAULT_RETENTION_DAYS`]). At most ten years.
fn retention_days(args: &ConfigArgs, file: PrivacyFileConfig) -> Result<u32> {
    let days =
        args.retention_days.or(file.retention_days).unwrap_or(beian_service::privacy::DEFAULT_RETENTION_DAYS);
    if days > 3660 {
        bail!("retention_days ({days}) must be at most 3660 (ten years)");
    }
    Ok(days)
}

/// `/metrics` access: the token from `BEIAN_METRICS_TOKEN` over `[metrics] token`, never a
/// flag (command lines are visible to every user of the machine). Empty: not served.
fn metrics_access(
    file: MetricsFileConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<crate::metrics::MetricsAccess> {
    let set = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    match set(env("BEIAN_METRICS_TOKEN")).or(set(file.token)) {
        None => Ok(crate::metrics::MetricsAccess::default()),
        Some(t) if t.chars().count() < crate::metrics::MIN_TOKEN_LEN => bail!(
            "the metrics token (BEIAN_METRICS_TOKEN or [metrics] token) must be at least {} characters",
            crate::metrics::MIN_TOKEN_LEN
        ),
        Some(t) => Ok(crate::metrics::MetricsAccess::with_token(&t)),
    }
}

/// The media backend from flags/environment (`args`) over `[media]`; the S3 keys only from
/// the environment (`BEIAN_S3_ACCESS_KEY_ID`, `BEIAN_S3_SECRET_ACCESS_KEY`) or the file, never a
/// flag (command lines are visible to every user of the machine). S3 with a setting missing
/// is refused, naming every missing one.
fn media_backend(
    args: &ConfigArgs,
    file: MediaFileConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<MediaBackend> {
    let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let backend = set(args.media_backend.clone()).or(set(file.backend)).unwrap_or_else(|| "local".into());
    match backend.trim().to_ascii_lowercase().as_str() {
        "local" => return Ok(MediaBackend::Local),
        "s3" => {}
        other => bail!("media backend {other:?} is not known: use \"local\" or \"s3\""),
    }
    let endpoint = set(args.s3_endpoint.clone()).or(set(file.s3_endpoint));
    let bucket = set(args.s3_bucket.clone()).or(set(file.s3_bucket));
    let key_id = set(env("BEIAN_S3_ACCESS_KEY_ID")).or(set(file.s3_access_key_id));
    let secret = set(env("BEIAN_S3_SECRET_ACCESS_KEY")).or(set(file.s3_secret_access_key));
    let mut missing = Vec::new();
    for (value, name) in [
        (&endpoint, "s3_endpoint (--s3-endpoint, BEIAN_S3_ENDPOINT)"),
        (&bucket, "s3_bucket (--s3-bucket, BEIAN_S3_BUCKET)"),
        (&key_id, "s3_access_key_id (BEIAN_S3_ACCESS_KEY_ID)"),
        (&secret, "s3_secret_access_key (BEIAN_S3_SECRET_ACCESS_KEY)"),
    ] {
        if value.is_none() {
            missing.push(name);
        }
    }
    match (endpoint, bucket, key_id, secret) {
        (Some(endpoint), Some(bucket), Some(access_key_id), Some(secret_access_key)) => {
            Ok(MediaBackend::S3(S3Config {
                endpoint: endpoint.trim().to_string(),
                bucket: bucket.trim().to_string(),
                region: set(args.s3_region.clone())
                    .or(set(file.s3_region))
                    .unwrap_or_else(|| DEFAULT_S3_REGION.into())
                    .trim()
                    .to_string(),
                prefix: set(args.s3_prefix.clone()).or(file.s3_prefix).unwrap_or_default().trim().to_string(),
                credentials: Credentials {
                    access_key_id: access_key_id.trim().to_string(),
                    secret_access_key: secret_access_key.trim().to_string(),
                },
            }))
        }
        _ => bail!(
            "media backend \"s3\" needs {} (in [media] of beian.toml or the environment)",
            missing.join(", ")
        ),
    }
}

fn load_file(path: &Path) -> Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}

/// An address other processes on this machine can reach the server at.
pub fn local_address(listen: &str) -> String {
    match listen.rsplit_once(':') {
        Some(("0.0.0.0" | "[::]", port)) => format!("127.0.0.1:{port}"),
        _ => listen.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3_args() -> ConfigArgs {
        ConfigArgs {
            media_backend: Some("s3".into()),
            s3_endpoint: Some("http://127.0.0.1:9000".into()),
            ..ConfigArgs::default()
        }
    }

    #[test]
    fn metrics_are_off_by_default_and_the_env_token_wins_over_the_file() {
        let off = metrics_access(MetricsFileConfig::default(), |_| None).expect("off");
        assert!(!off.enabled());
        let file: FileConfig =
            toml::from_str("[metrics]\ntoken = \"from-the-file-0123456789\"\n").expect("toml");
        let from_file = metrics_access(file.metrics.expect("[metrics]"), |_| None).expect("file");
        assert!(from_file.enabled());
        assert!(!format!("{from_file:?}").contains("from-the-file"), "the token never prints");
        let env = |k: &str| (k == "BEIAN_METRICS_TOKEN").then(|| "short".to_string());
        let file = MetricsFileConfig { token: Some("from-the-file-0123456789".into()) };
        let err = metrics_access(file, env).expect_err("the environment's token wins, and is too short");
        assert!(err.to_string().contains("at least 16"), "{err}");
        let blank = |_: &str| Some("  ".to_string());
        let file = MetricsFileConfig { token: Some("from-the-file-0123456789".into()) };
        assert!(metrics_access(file, blank).expect("blank env: the file").enabled());
    }

    #[test]
    fn jobs_concurrency_defaults_to_64_and_layers_flag_over_file() {
        assert_eq!(jobs_concurrency(&ConfigArgs::default(), JobsFileConfig::default()).expect("default"), 64);
        let file: FileConfig = toml::from_str("[jobs]\nconcurrency = 4\n").expect("toml");
        assert_eq!(jobs_concurrency(&ConfigArgs::default(), file.jobs.unwrap_or_default()).expect("file"), 4);
        let args = ConfigArgs { jobs_concurrency: Some(32), ..ConfigArgs::default() };
        let file = JobsFileConfig { concurrency: Some(4) };
        assert_eq!(jobs_concurrency(&args, file).expect("flag"), 32, "the flag (or environment) wins");
        let args = ConfigArgs { jobs_concurrency: Some(0), ..ConfigArgs::default() };
        assert!(jobs_concurrency(&args, JobsFileConfig::default()).is_err(), "at least one");
        assert!(toml::from_str::<FileConfig>("[jobs]\nworkers = 1\n").is_err(), "unknown keys refused");
    }

    #[test]
    fn retention_defaults_to_180_days_and_layers_flag_over_file() {
        assert_eq!(
            retention_days(&ConfigArgs::default(), PrivacyFileConfig::default()).expect("default"),
            180
        );
        let file: FileConfig = toml::from_str("[privacy]\nretention_days = 365\n").expect("toml");
        let privacy = file.privacy.expect("[privacy]");
        assert_eq!(retention_days(&ConfigArgs::default(), privacy).expect("file"), 365);
        let args = ConfigArgs { retention_days: Some(30), ..ConfigArgs::default() };
        let file = PrivacyFileConfig { retention_days: Some(365) };
        assert_eq!(retention_days(&args, file).expect("flag"), 30, "the flag (or environment) wins");
        let args = ConfigArgs { retention_days: Some(100_000), ..ConfigArgs::default() };
        assert!(retention_days(&args, PrivacyFileConfig::default()).is_err(), "bounded");
        assert!(toml::from_str::<FileConfig>("[privacy]\nretention = 1\n").is_err(), "unknown keys refused");
    }

    #[test]
    fn the_sms_outbox_is_chosen_explicitly_and_not_beside_a_gateway() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = |file: &str, sms_outbox: Option<bool>| {
            let path = dir.path().join("beian.toml");
            std::fs::write(&path, file).expect("write");
            Config::resolve(&ConfigArgs { config: Some(path), sms_outbox, ..ConfigArgs::default() })
        };
        assert!(!at("", None).expect("default").sms_outbox, "no stand-in unless asked for");
        assert!(at("sms_outbox = true\n", None).expect("file").sms_outbox);
        assert!(!at("sms_outbox = true\n", Some(false)).expect("flag").sms_outbox, "the flag wins");
        let gateway = "sms_outbox = true\n[sms_gateway]\nurl = \"http://127.0.0.1:9/sms\"\n";
        let err = at(gateway, None).expect_err("both");
        assert!(err.to_string().contains("choose where texts go"), "{err}");
    }

    #[test]
    fn the_gateway_is_chosen_by_flag_over_file_and_the_simulated_clock_needs_the_simulator() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = |file: &str, gateway: Option<&str>, clock: Option<bool>| {
            let path = dir.path().join("beian.toml");
            std::fs::write(&path, file).expect("write");
            Config::resolve(&ConfigArgs {
                config: Some(path),
                authority_gateway: gateway.map(str::to_string),
                simulated_clock: clock,
                ..ConfigArgs::default()
            })
        };
        assert_eq!(at("", None, None).expect("none").authority_gateway, None, "no default");
        let manual = at("[authority]\ngateway = \"manual\"\n", None, None).expect("file");
        assert_eq!(manual.authority_gateway, Some(GatewayChoice::Manual));
        let flag = at("[authority]\ngateway = \"manual\"\n", Some("simulator"), None).expect("flag");
        assert_eq!(flag.authority_gateway, Some(GatewayChoice::Simulator), "the flag wins");
        let err = at("", Some("miit"), None).expect_err("unknown");
        for name in ["simulator", "manual", "bridge"] {
            assert!(err.to_string().contains(name), "{err}");
        }
        let err = at("simulated_clock = true\n", Some("manual"), None).expect_err("clock");
        assert!(err.to_string().contains("only for the authority simulator"), "{err}");
        assert!(at("", Some("simulator"), Some(true)).expect("simulator clock").simulated_clock);
        assert!(toml::from_str::<FileConfig>("[authority]\ngateway = \"manual\"\nurl = 1\n").is_err());
    }

    #[test]
    fn the_platform_api_is_read_from_the_file() {
        let text =
            "[platform_api]\nkeys = [{ id = \"p1\", secret = \"0123456789abcdef0123456789abcdef\" }]\n\
                    replay_window_secs = 120\n";
        let file = toml::from_str::<FileConfig>(text).expect("toml").platform_api.expect("section");
        let api =
            crate::platform_api::PlatformApiConfig::resolve(file, |_| None).expect("valid").expect("on");
        assert_eq!((api.keys.ids(), api.replay_window_secs), (vec!["p1".to_string()], 120));
        assert!(toml::from_str::<FileConfig>("[platform_api]\nkey = []\n").is_err(), "unknown keys refused");
        let wide = toml::from_str::<FileConfig>(
            "[platform_api]\nkeys = [{ id = \"p1\", secret = \"0123456789abcdef0123456789abcdef\" }]\nreplay_window_secs = 5\n",
        )
        .expect("toml")
        .platform_api
        .expect("section");
        assert!(crate::platform_api::PlatformApiConfig::resolve(wide, |_| None).is_err());
    }

    #[test]
    fn the_bridge_is_configured_in_full_or_refused() {
        let file = |t: &str| toml::from_str::<FileConfig>(t).expect("toml").authority.unwrap_or_default();
        assert!(authority_bridge(None, file(""), |_| None).expect("no bridge").is_none());
        let err = authority_bridge(
            Some(GatewayChoice::Bridge),
            file("[authority]\ngateway = \"bridge\"\n"),
            |_| None,
        )
        .expect_err("incomplete");
        assert!(err.to_string().contains("url") && err.to_string().contains("keys"), "{err}");
        let full = "[authority]\ngateway = \"bridge\"\n[authority.bridge]\nurl = \"https://bridge:8443/\"\n\
                    current_key = \"a\"\n[authority.bridge.keys]\na = \"0123456789abcdef0123456789abcdef\"\n";
        let b = authority_bridge(Some(GatewayChoice::Bridge), file(full), |_| None)
            .expect("complete")
            .expect("bridge");
        assert_eq!((b.url.as_str(), b.replay_window_secs), ("https://bridge:8443", 300));
        let short = full.replace("0123456789abcdef0123456789abcdef", "short");
        assert!(
            authority_bridge(Some(GatewayChoice::Bridge), file(&short), |_| None).is_err(),
            "a short secret is refused"
        );
        assert!(
            toml::from_str::<FileConfig>("[authority.bridge]\nurll = \"x\"\n").is_err(),
            "unknown keys refused"
        );
    }

    #[test]
    fn smtp_refuses_clear_text_to_another_machine_and_takes_the_password_from_env() {
        let file = |t: &str| toml::from_str::<FileConfig>(t).expect("toml").smtp;
        let remote = "[smtp]\nhost = \"smtp.example.cn\"\nfrom = \"a@example.cn\"\nsecurity = \"none\"\n";
        let err = smtp_config(file(remote), |_| None).expect_err("clear text to a remote host");
        assert!(err.to_string().contains("security = \"none\""), "{err}");
        let tls = "[smtp]\nhost = \"smtp.example.cn\"\nfrom = \"a@example.cn\"\nsecurity = \"tls\"\nusername = \"u\"\n";
        let env = |k: &str| (k == "BEIAN_SMTP_PASSWORD").then(|| "from-env".to_string());
        let c = smtp_config(file(tls), env).expect("ok").expect("smtp");
        assert_eq!((c.port(), c.password.as_deref()), (465, Some("from-env")));
        assert!(toml::from_str::<FileConfig>(
            "[smtp]\nhost = \"h\"\nfrom = \"a@b.cn\"\nsecurity = \"ssl\"\n"
        )
        .is_err());
    }

    #[test]
    fn local_is_the_default() {
        let m = media_backend(&ConfigArgs::default(), MediaFileConfig::default(), |_| None).expect("local");
        assert!(matches!(m, MediaBackend::Local));
    }

    #[test]
    fn s3_names_every_missing_setting() {
        let err = media_backend(&s3_args(), MediaFileConfig::default(), |_| None).expect_err("incomplete");
        let msg = err.to_string();
        for name in ["s3_bucket", "BEIAN_S3_ACCESS_KEY_ID", "BEIAN_S3_SECRET_ACCESS_KEY"] {
            assert!(msg.contains(name), "{msg}");
        }
        assert!(!msg.contains("s3_endpoint"), "the endpoint was given: {msg}");
        let err = media_backend(
            &ConfigArgs { media_backend: Some("nfs".into()), ..ConfigArgs::default() },
            MediaFileConfig::default(),
            |_| None,
        )
        .expect_err("unknown backend");
        assert!(err.to_string().contains("\"nfs\" is not known"), "{err}");
    }

    #[test]
    fn s3_layers_flags_over_the_file_and_keys_from_env_or_file() {
        let file: FileConfig = toml::from_str(
            "[media]\nbackend = \"s3\"\ns3_endpoint = \"http://file:1\"\ns3_bucket = \"media\"\n\
             s3_access_key_id = \"FILEKEY\"\ns3_secret_access_key = \"filesecret\"\ns3_prefix = \"beian/\"\n",
        )
        .expect("toml");
        let env = |k: &str| (k == "BEIAN_S3_SECRET_ACCESS_KEY").then(|| "envsecret".to_string());
        let m = media_backend(&s3_args(), file.media.expect("[media]"), env).expect("complete");
        let MediaBackend::S3(c) = m else { panic!("s3 expected") };
        assert_eq!(c.endpoint, "http://127.0.0.1:9000", "the flag wins over the file");
        assert_eq!(
            (c.bucket.as_str(), c.prefix.as_str(), c.region.as_str()),
            ("media", "beian/", "us-east-1")
        );
        assert_eq!(c.credentials.access_key_id, "FILEKEY");
        assert_eq!(c.credentials.secret_access_key, "envsecret", "the environment wins over the file");
        assert!(!format!("{c:?}").contains("envsecret"), "the secret never prints");
    }
}
