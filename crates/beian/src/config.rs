//! Configuration: defaults < config file (`beian.toml`) < environment < command line.

use anyhow::{Context, Result};
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
    /// `[smtp]`: host, port, from (plain SMTP to a relay).
    pub smtp: Option<beian_jobs::notify::SmtpConfig>,
    /// `[sms_gateway]`: url, api_key, sign_name. Absent: the development outbox.
    pub sms_gateway: Option<beian_jobs::notify::HttpSmsConfig>,
}

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
    pub smtp: Option<beian_jobs::notify::SmtpConfig>,
    pub sms_gateway: Option<beian_jobs::notify::HttpSmsConfig>,
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
        Ok(Config {
            listen: args.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into()),
            data_dir,
            database_url,
            master_key: std::env::var("BEIAN_MASTER_KEY").ok().filter(|k| !k.is_empty()).or(file.master_key),
            simulated_clock: args.simulated_clock.or(file.simulated_clock).unwrap_or(false),
            public_url: args.public_url.clone().or(file.public_url),
            smtp: file.smtp,
            sms_gateway: file.sms_gateway,
        })
    }
}

fn load_file(path: &Path) -> Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}
