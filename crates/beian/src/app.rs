//! Building the running application: store, service, HTTP server.

use crate::config::{Config, GatewayChoice, MediaBackend};
use anyhow::{bail, Context, Result};
use beian_authority_desk::ManualDesk;
use beian_authority_sim::Simulator;
use beian_ports::authority::AuthorityGateway;
use beian_service::{Clock, Service, SystemClock};
use beian_store::{Crypto, MediaFiles, MediaStore, S3Media, Store};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Open the database (migrating it) and start the service.
pub async fn open_service(config: &Config, clock: Arc<dyn Clock>) -> Result<Arc<Service>> {
    Ok(open(config, clock).await?.1)
}

/// The store and the service over it. The store is for what works below the use cases —
/// backups, the authority simulator's own rows, the benchmark's loader — never for edges.
pub async fn open(config: &Config, clock: Arc<dyn Clock>) -> Result<(Store, Arc<Service>)> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let crypto = load_or_create_key(config)?;
    let store = Store::connect(&config.database_url, crypto)
        .await
        .with_context(|| format!("connecting to {}", redact(&config.database_url)))?;
    store.migrate().await.context("migrating the database")?;
    let media = open_media(config).await?;
    let svc = Service::start(store.clone(), media, clock)
        .await
        .context("starting the service")?
        .with_identity_provider(identity_provider(&config.identity));
    svc.operations().set_retention_days(config.retention_days);
    svc.operations().set_calendar_dir(config.data_dir.join("calendar"));
    svc.operations().reload_calendar().await.context("loading the working-day calendar")?;
    svc.set_public_url(
        &config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", crate::config::local_address(&config.listen))),
    );
    // `[oidc]`: the one place the sign-in provider is chosen.
    if let Some(oidc) = &config.oidc {
        let provider = beian_vendors::oidc::Oidc::new(oidc.clone()).map_err(|e| anyhow::anyhow!(e))?;
        svc.set_signin_provider(Some(Arc::new(provider)));
    }
    Ok((store, Arc::new(svc)))
}

/// Where media bytes live: `<data dir>/media`, or the configured S3 bucket — which must
/// answer a HEAD with these credentials, or beian does not start.
pub async fn open_media(config: &Config) -> Result<MediaStore> {
    match &config.media {
        MediaBackend::Local => {
            Ok(MediaFiles::new(config.data_dir.join("media")).context("opening the media directory")?.into())
        }
        MediaBackend::S3(s3) => {
            let media = S3Media::new(s3.clone()).context("media backend s3")?;
            media.head_bucket().await.with_context(|| {
                format!(
                    "media backend s3: the bucket is not reachable ({}); check s3_endpoint, s3_bucket, \
                     s3_region and the keys, and create the bucket first (beian does not create it)",
                    media.describe()
                )
            })?;
            tracing::info!("media in {}", media.describe());
            Ok(media.into())
        }
    }
}

/// The master key: from config/env, else `<data_dir>/secret.key`, created on first start.
fn load_or_create_key(config: &Config) -> Result<Crypto> {
    if let Some(k) = &config.master_key {
        return Crypto::from_hex(k).context("BEIAN_MASTER_KEY / master_key");
    }
    let path = config.data_dir.join("secret.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return Crypto::from_hex(&text).with_context(|| format!("{} is not a valid key", path.display()));
    }
    let key = Crypto::generate_hex();
    write_private(&path, &key).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "created a new master key; back it up with the database");
    Crypto::from_hex(&key).context("generated key")
}

#[cfg(unix)]
pub fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
pub fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

/// A database URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A running HTTP server (tests bind port 0 and read the real address).
pub struct Application {
    listener: TcpListener,
    svc: Arc<Service>,
    authority: AuthorityLink,
    api: beian_api::ApiConfig,
    web_limits: beian_web::limits::WebLimitsConfig,
    worker_poll: std::time::Duration,
    worker_concurrency: usize,
    channels: beian_jobs::Channels,
    demo: bool,
    metrics: crate::metrics::MetricsAccess,
    /// Bridge mode: the gateway POSTs to the bridge and `/api/authority/events` is served.
    bridge: Option<beian_authority_bridge::BridgeConfig>,
    /// The host platform's signed sync API (`/api/platform/v1/*`), when keys are configured.
    platform_api: Option<crate::platform_api::PlatformApiConfig>,
    /// `[trusted_header]`: console pages honour an authenticating proxy's header.
    trusted_header: Option<beian_console::TrustedHeader>,
}

impl Application {
    /// `serve`: the configured server. Refused without an authority gateway (see
    /// [`GatewayChoice`]).
    pub async fn build(config: &Config) -> Result<Application> {
        let Some(gateway) = config.authority_gateway else {
            bail!(
                "no authority gateway chosen: set [authority] gateway in beian.toml (or --authority-gateway, \
                 BEIAN_AUTHORITY_GATEWAY) to {}",
                GatewayChoice::NAMES
            );
        };
        let clock: Arc<dyn Clock> = if config.simulated_clock {
            Arc::new(beian_service::OffsetClock::new())
        } else {
            Arc::new(SystemClock)
        };
        let (store, svc) = open(config, clock).await?;
        let channels = channels(config, &svc)?;
        Ok(Application::with_service(&config.listen, &store, svc, gateway)
            .await?
            .with_channels(channels)
            .with_worker_concurrency(config.jobs_concurrency)
            .with_web_limits(config.web_limits.clone())
            .with_api_config(config.api.clone())
            .with_metrics(config.metrics.clone())
            .with_authority_bridge(config.authority_bridge.clone())
            .with_platform_api(config.platform_api.clone())
            .with_trusted_header(config.trusted_header.clone()))
    }

    /// `[trusted_header]` (off by default): see [`beian_console::TrustedHeader`].
    pub fn with_trusted_header(mut self, trusted: Option<beian_console::TrustedHeader>) -> Application {
        self.trusted_header = trusted;
        self
    }

    /// Bridge mode (`[authority] gateway = "bridge"`): operations go to the bridge
    /// ([`bridge_gateway`]) and its signed events come in on `/api/authority/events`.
    pub fn with_authority_bridge(
        mut self,
        bridge: Option<beian_authority_bridge::BridgeConfig>,
    ) -> Application {
        self.bridge = bridge;
        self
    }

    /// Serve the host platform's sync API with these keys (`None`: not served).
    pub fn with_platform_api(
        mut self,
        config: Option<crate::platform_api::PlatformApiConfig>,
    ) -> Application {
        self.platform_api = config;
        self
    }

    /// An application over a service already opened, and the store it was opened on (the
    /// simulator and the manual desk keep their own rows there), reaching the authority
    /// through `gateway` ([`authority_link`]).
    pub async fn with_service(
        listen: &str,
        store: &Store,
        svc: Arc<Service>,
        gateway: GatewayChoice,
    ) -> Result<Application> {
        let authority = authority_link(gateway, store, &svc)?;
        let listener = TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
        if listen.ends_with(":0") {
            // An ephemeral port: links must name the port actually bound.
            svc.set_public_url(&format!("http://{}", listener.local_addr()?));
        }
        Ok(Application {
            listener,
            authority,
            svc,
            api: beian_api::ApiConfig::default(),
            web_limits: beian_web::limits::WebLimitsConfig::default(),
            worker_poll: std::time::Duration::from_millis(500),
            worker_concurrency: beian_jobs::DEFAULT_CONCURRENCY,
            channels: beian_jobs::Channels::default(),
            demo: false,
            metrics: crate::metrics::MetricsAccess::default(),
            bridge: None,
            platform_api: None,
            trusted_header: None,
        })
    }

    /// Demo mode: mount the demo provider's event receiver.
    pub fn with_demo(mut self, demo: bool) -> Application {
        self.demo = demo;
        self
    }

    /// Who may read `/metrics` (by default nobody: 404).
    pub fn with_metrics(mut self, metrics: crate::metrics::MetricsAccess) -> Application {
        self.metrics = metrics;
        self
    }

    /// Where the job worker sends SMS, e-mail and webhooks (default: nothing configured, see
    /// [`beian_jobs::Channels::default`]; the configured ones come from [`channels`]).
    pub fn with_channels(mut self, channels: beian_jobs::Channels) -> Application {
        self.channels = channels;
        self
    }

    /// Override the API edge's settings (rate limits).
    pub fn with_api_config(mut self, api: beian_api::ApiConfig) -> Application {
        self.api = api;
        self
    }

    /// Override the per-client limits of the public query and the sign-in forms.
    pub fn with_web_limits(mut self, limits: beian_web::limits::WebLimitsConfig) -> Application {
        self.web_limits = limits;
        self
    }

    /// How often an idle job worker looks for due jobs.
    pub fn with_worker_poll(mut self, d: std::time::Duration) -> Application {
        self.worker_poll = d;
        self
    }

    /// How many jobs the job worker runs at once (`[jobs] concurrency`).
    pub fn with_worker_concurrency(mut self, n: usize) -> Application {
        self.worker_concurrency = n;
        self
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub fn service(&self) -> Arc<Service> {
        self.svc.clone()
    }

    /// The built-in authority simulator, when it is the configured gateway.
    pub fn simulator(&self) -> Option<Arc<Simulator>> {
        self.authority.simulator.clone()
    }

    /// The manual desk, when it is the configured gateway.
    pub fn desk(&self) -> Option<Arc<ManualDesk>> {
        self.authority.desk.clone()
    }

    /// Serve, with a job worker beside the server, until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
        let router = crate::http::router(
            self.svc.clone(),
            self.authority.simulator.clone(),
            self.authority.desk.clone(),
            self.api.clone(),
            &self.web_limits,
            self.demo,
            &self.metrics,
            self.trusted_header.clone(),
        );
        let mut channels = self.channels.clone();
        let router = match &self.bridge {
            Some(bridge) => {
                tracing::info!(url = %bridge.url, keys = ?bridge.keys, "authority gateway: the HTTP bridge");
                channels.authority = Some(bridge_gateway(bridge));
                router.merge(crate::authority_events::router(
                    self.svc.clone(),
                    bridge.keys.clone(),
                    bridge.replay_window_secs,
                ))
            }
            None => router,
        };
        let router = match &self.platform_api {
            Some(api) => {
                tracing::info!(keys = ?api.keys, "the host platform's sync API is served");
                router.merge(crate::platform_api::router(self.svc.clone(), api.clone()))
            }
            None => router,
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // Without an SMTP server no e-mail job is queued (it could only be skipped).
        self.svc.set_email_channel(self.channels.email.is_some());
        if channels.authority.is_none() {
            channels.authority = self.authority.gateway.clone();
        }
        if channels.authority.is_none() {
            bail!("authority gateway \"bridge\" needs [authority.bridge] (the bridge's url and keys)");
        }
        let worker = beian_jobs::Worker::new(self.svc.clone())
            .with_idle_poll(self.worker_poll)
            .with_concurrency(self.worker_concurrency)
            .with_channels(channels);
        let worker = tokio::spawn(worker.run(async move {
            let mut rx = stop_rx;
            let _ = rx.wait_for(|stop| *stop).await;
        }));
        // Calendar files and other nodes' uploads take effect here within a minute.
        let calendar = tokio::spawn(reload_calendar(self.svc.clone(), stop_tx.subscribe()));
        // The peer address reaches handlers for the per-client limits.
        let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(self.listener, router).with_graceful_shutdown(shutdown).await;
        let _ = stop_tx.send(true);
        let _ = worker.await;
        let _ = calendar.await;
        self.svc.close().await;
        served.context("HTTP server")
    }
}

/// How the platform reaches the authority: the gateway the job worker hands operations to,
/// and the simulator's or the desk's own pages when it is one of them (nothing of the
/// simulator — `/miit/verify`, its settings, the clock control — exists otherwise). The bridge's
/// gateway comes with its configuration ([`Application::with_authority_bridge`]).
#[derive(Clone)]
pub struct AuthorityLink {
    pub gateway: Option<Arc<dyn AuthorityGateway>>,
    pub simulator: Option<Arc<Simulator>>,
    pub desk: Option<Arc<ManualDesk>>,
}

/// The one place the authority gateway is chosen (`[authority] gateway`).
pub fn authority_link(choice: GatewayChoice, store: &Store, svc: &Arc<Service>) -> Result<AuthorityLink> {
    match choice {
        GatewayChoice::Simulator => {
            let sim = builtin_simulator(store, svc);
            Ok(AuthorityLink { gateway: Some(sim.clone()), simulator: Some(sim), desk: None })
        }
        GatewayChoice::Manual => {
            let desk = Arc::new(ManualDesk::new(store.clone(), svc.clone(), svc.clone()));
            Ok(AuthorityLink { gateway: Some(desk.clone()), simulator: None, desk: Some(desk) })
        }
        GatewayChoice::Bridge => Ok(AuthorityLink { gateway: None, simulator: None, desk: None }),
    }
}

/// The HTTP bridge as the authority gateway (`[authority.bridge]`).
pub fn bridge_gateway(
    config: &beian_authority_bridge::BridgeConfig,
) -> Arc<dyn beian_ports::authority::AuthorityGateway> {
    Arc::new(beian_authority_bridge::BridgeGateway::new(config.clone()))
}

/// Reload the working-day calendar every `RELOAD_SECS` until `stop` (see
/// `beian_service::calendar`); a failed reload keeps the calendar in force.
async fn reload_calendar(svc: Arc<Service>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every = std::time::Duration::from_secs(beian_service::calendar::RELOAD_SECS);
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
            _ = tokio::time::sleep(every) => {
                if let Err(e) = svc.operations().reload_calendar().await {
                    tracing::warn!("reloading the working-day calendar: {e}");
                }
            }
        }
    }
}

/// The built-in authority simulator over the service's store: it reports to the service's
/// inbox and texts and sets timers through its outbox (the service never sees it).
pub fn builtin_simulator(store: &Store, svc: &Arc<Service>) -> Arc<Simulator> {
    Arc::new(Simulator::new(store.clone(), svc.clone(), svc.clone()))
}

/// The worker's outbound senders as configured — the one place a sender is chosen.
/// SMS: `[sms] provider` aliyun / tencent (the vendor's SendSms on `[[sms.templates]]`), else
/// `[sms_gateway]` (the HTTP gateway), else the development outbox when asked for
/// (`sms_outbox`, demo mode), else none (texts are dead-lettered, and a warning says so).
/// E-mail: `[smtp]`, else none. Webhooks: always over HTTP.
pub fn channels(config: &Config, svc: &Service) -> Result<beian_jobs::Channels> {
    use beian_jobs::notify::{http_client, HttpSmsSender, HttpWebhookSender, SmtpSender};
    use beian_ports::messaging::{EmailSender, NoSmsChannel, SmsSender};
    let http = http_client();
    use crate::sms_config::SmsProvider;
    use beian_vendors::sms::{AliyunSms, TencentSms};
    svc.set_sms_limits(config.sms.limits);
    let sms: Arc<dyn SmsSender> = match (&config.sms.provider, &config.sms_gateway) {
        (SmsProvider::Aliyun(c, t), _) => {
            Arc::new(AliyunSms::new(beian_vendors::http_client(), c.clone(), t.clone()))
        }
        (SmsProvider::Tencent(c, t), _) => {
            Arc::new(TencentSms::new(beian_vendors::http_client(), c.clone(), t.clone()))
        }
        (SmsProvider::Http, Some(gateway)) => Arc::new(HttpSmsSender::new(http.clone(), gateway.clone())),
        _ if config.sms_outbox => {
            tracing::info!("SMS go to the development outbox (a stand-in: nothing reaches a phone)");
            Arc::new(svc.sms_outbox_sender())
        }
        _ => {
            tracing::warn!(
                "no SMS channel: texts are dead-lettered; configure [sms] or [sms_gateway] (or sms_outbox for development)"
            );
            Arc::new(NoSmsChannel)
        }
    };
    // beian's dedupe and per-number caps guard the real senders, not the development outbox.
    let sms_limited = !matches!(config.sms.provider, SmsProvider::Http) || config.sms_gateway.is_some();
    let email = match config.smtp.clone() {
        Some(c) => Some(Arc::new(SmtpSender::new(c).context("[smtp]")?) as Arc<dyn EmailSender>),
        None => None,
    };
    Ok(beian_jobs::Channels {
        sms,
        email,
        webhook: Arc::new(HttpWebhookSender::new(http)),
        sms_limited,
        ..Default::default()
    })
}

/// The identity provider as configured — the one place it is chosen (`[identity]`).
pub fn identity_provider(
    config: &crate::config::IdentityConfig,
) -> Arc<dyn beian_ports::identity::IdentityProvider> {
    use crate::config::IdentityConfig;
    match config {
        IdentityConfig::Builtin { .. } => Arc::new(beian_ports::identity::BuiltinCheck),
        IdentityConfig::Tencent(c) => {
            Arc::new(beian_vendors::tencent::TencentFaceId::new(beian_vendors::http_client(), c.clone()))
        }
        IdentityConfig::Aliyun(c) => {
            Arc::new(beian_vendors::aliyun::AliyunCloudauth::new(beian_vendors::http_client(), c.clone()))
        }
    }
}
