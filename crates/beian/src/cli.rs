//! The command line: `beian serve | migrate | demo`, and the operators' tools (staff, jobs,
//! sweep, outbox, check, backup, restore, pii).

use crate::app::{open_service, redact, Application};
use crate::config::{Config, ConfigArgs};
use anyhow::Result;
use beian_service::SystemClock;
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(name = "beian", version, about = "ICP filing (备案) platform for mini-program platforms")]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (migrates the database first).
    Serve,
    /// Apply database migrations, seal media objects stored before encryption, and exit.
    Migrate,
    /// Seed a demo platform (idempotent), print its credentials, then serve with the
    /// simulator's clock under operator control.
    Demo {
        /// Seed and print, but do not start the server.
        #[arg(long)]
        seed_only: bool,
    },
    /// Developer accounts (local sign-in): create, disable, enable, list, reset-password.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Platform staff: `beian staff add --name 王审核 --role reviewer` prints an API token once.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// The job queue: counts per state, recent jobs, dead letters; retry a dead job.
    Jobs {
        /// Only jobs in this state (pending, running, done, dead).
        #[arg(long)]
        state: Option<String>,
        /// Put this dead-lettered job back in the queue.
        #[arg(long)]
        retry: Option<i64>,
    },
    /// Run (or resume) the clearance sweep now, with progress on stderr.
    Sweep {
        /// Mini programs per batch (each batch commits its progress).
        #[arg(long, default_value_t = beian_service::SWEEP_BATCH)]
        batch: i64,
    },
    /// Rebuild the public filing index (备案查询) from the filed orders: to repair it, or after
    /// an upgrade that adds to what it stores (migration 0024's signatures). Queries see a
    /// partial index while it runs.
    ReindexPublic,
    /// Show the development SMS outbox (what the built-in SMS provider "sent").
    Outbox {
        /// Only messages to this phone number.
        #[arg(long)]
        phone: Option<String>,
    },
    /// Verify the database's invariants (states, counters, numbers, audit trail, encryption,
    /// media files, job leases); exits with status 1 if any is violated.
    Check {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Back up the database, media files and master key into DIR (a new or empty directory);
    /// safe while the server runs. PostgreSQL needs `pg_dump` installed.
    Backup {
        /// Where to write the backup.
        dir: std::path::PathBuf,
    },
    /// Personal data (PIPL): export what is held for one mini program, or erase what is kept
    /// past `[privacy] retention_days`.
    Pii {
        #[command(subcommand)]
        command: PiiCommand,
    },
    /// The authority simulator as a separate process speaking the bridge protocol (a stand-in
    /// for a platform's bridge): `beian simulator serve --listen ADDR --platform-url URL
    /// --data-dir DIR`, keys in BEIAN_BRIDGE_KEYS.
    Simulator {
        #[command(subcommand)]
        command: SimulatorCommand,
    },
    /// The regional rule table (docs/rules.md): print the current version as JSON, or publish
    /// a JSON file as a new version (validated; applies to new submissions only).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Restore a backup into a fresh data directory (--data-dir; and for PostgreSQL an empty
    /// schema, --database-url; needs `pg_restore`), then check it.
    Restore {
        /// The backup directory (written by `beian backup`).
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum SimulatorCommand {
    /// Serve `/v1/operations`, its `/miit/verify` page and its control API (`/control/…`);
    /// `--listen` (default 127.0.0.1:8090) and `--data-dir` (its own database; required) are
    /// the global flags. The shared keys come from BEIAN_BRIDGE_KEYS (`id=secret,…`), never a
    /// flag.
    Serve {
        /// The platform's base URL; events go to {URL}/api/authority/events.
        #[arg(long)]
        platform_url: String,
        /// The key id its events are signed with [default: BEIAN_BRIDGE_CURRENT_KEY]
        #[arg(long, env = "BEIAN_BRIDGE_CURRENT_KEY")]
        key_id: String,
        /// Seconds a signed operation stays acceptable.
        #[arg(long, default_value_t = beian_authority_bridge::protocol::DEFAULT_REPLAY_WINDOW_SECS)]
        replay_window_secs: u64,
    },
}

#[derive(Debug, Subcommand)]
enum PiiCommand {
    /// Print, as JSON, every personal value held for this mini program's subject and
    /// principals (decrypted); the export is audited.
    Export {
        #[arg(long)]
        appid: String,
    },
    /// Erase the personal data of mini programs whose filing was cancelled or cleared more
    /// than retention_days ago (what the daily job does).
    EraseExpired {
        /// Only list what would be erased.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Print a version of the rule table as JSON (default: the current one).
    Export {
        #[arg(long)]
        version: Option<i64>,
    },
    /// Publish FILE (a JSON array of rows) as the next version; audited as `cli:rules`.
    Import { file: std::path::PathBuf },
}

#[derive(Debug, Subcommand)]
enum AccountCommand {
    /// Create a local account. The password is read from BEIAN_ACCOUNT_PASSWORD, else one is
    /// generated and printed once.
    Create {
        #[arg(long)]
        username: String,
        /// The name shown in the console [default: the username]
        #[arg(long)]
        name: Option<String>,
        /// Where password-reset links go (stored encrypted)
        #[arg(long)]
        email: Option<String>,
    },
    /// Disable an account (by username or id): it cannot sign in by any method and its
    /// sessions end now.
    Disable { account: String },
    /// Enable a disabled account again.
    Enable { account: String },
    /// List accounts.
    List,
    /// Set a new password (BEIAN_ACCOUNT_PASSWORD, else generated and printed once); lifts the
    /// lockout and ends every session of the account.
    ResetPassword { account: String },
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Create a reviewer or operator and print its API token.
    Add {
        #[arg(long)]
        name: String,
        /// reviewer or operator
        #[arg(long, default_value = "reviewer")]
        role: String,
    },
    /// List staff.
    List,
}

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BEIAN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    if let Command::Simulator { command } = cli.command {
        return simulator(&cli.config, command).await;
    }
    let config = Config::resolve(&cli.config)?;
    match cli.command {
        Command::Simulator { .. } => Ok(()),
        Command::Serve => serve(&config).await,
        Command::Migrate => {
            let svc = open_service(&config, Arc::new(SystemClock)).await?;
            println!("database {} is at the latest schema", redact(&config.database_url));
            // Media stored before encryption at rest: sealed now (resumable; see
            // `Service::seal_plain_media`).
            let sealed = svc
                .materials()
                .seal_plain_media(|done, seen| {
                    if done % 100 == 1 {
                        println!("sealing plain media objects: {done} sealed, {seen} media rows read");
                    }
                })
                .await;
            svc.close().await;
            let sealed = sealed.map_err(|e| {
                anyhow::anyhow!("sealing plain media objects: {e} (run `beian migrate` again to resume)")
            })?;
            if sealed > 0 {
                println!("sealed {sealed} plain media objects in {}", svc.media().describe());
            }
            Ok(())
        }
        Command::Account { command } => {
            let svc = open_service(&config, Arc::new(SystemClock)).await?;
            let result = account(&svc, command).await;
            svc.close().await;
            result
        }
        Command::Staff { command } => {
            let svc = open_service(&config, Arc::new(SystemClock)).await?;
            match command {
                StaffCommand::Add { name, role } => {
                    let role = beian_core::platform::Role::parse(&role)
                        .ok_or_else(|| anyhow::anyhow!("--role must be reviewer or operator"))?;
                    let (staff, token) = svc
                        .review()
                        .create_staff(&beian_service::Actor::new("cli", "staff"), &name, role)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!(
                        "{} ({}) {}\ntoken: {token}\n(shown once; stored hashed)",
                        staff.id,
                        staff.role.as_str(),
                        staff.name
                    );
                }
                StaffCommand::List => {
                    for s in svc.review().staff().await.map_err(|e| anyhow::anyhow!("{e}"))? {
                        println!(
                            "{:<24} {:<9} {:<6} {}",
                            s.id,
                            s.role.as_str(),
                            if s.active { "active" } else { "off" },
                            s.name
                        );
                    }
                }
            }
            svc.close().await;
            Ok(())
        }
        Command::Jobs { state, retry } => {
            let svc = open_service(&config, Arc::new(SystemClock)).await?;
            if let Some(id) = retry {
                let ok = svc.job_queue().retry_dead_job(id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                anyhow::ensure!(ok, "job {id} is not a dead letter");
                println!("job {id} queued again");
            }
            for (state, n, oldest) in svc.job_queue().job_stats().await.map_err(|e| anyhow::anyhow!("{e}"))? {
                println!(
                    "{state:<8} {n:>8}  oldest run_at {}",
                    beian_core::time::from_ts(oldest).format("%Y-%m-%d %H:%M:%S UTC")
                );
            }
            let filter = match state.as_deref() {
                Some(s) => Some(
                    beian_core::platform::JobState::parse(s)
                        .ok_or_else(|| anyhow::anyhow!("--state must be pending, running, done or dead"))?,
                ),
                None => None,
            };
            for j in svc.job_queue().jobs(filter, 50).await.map_err(|e| anyhow::anyhow!("{e}"))? {
                println!(
                    "#{:<6} {:<18} {:<7} attempts {}/{} run_at {} {}",
                    j.id,
                    j.kind,
                    j.state.as_str(),
                    j.attempts,
                    j.max_attempts,
                    beian_core::time::from_ts(j.run_at).format("%Y-%m-%d %H:%M:%S"),
                    j.last_error.unwrap_or_default()
                );
            }
            svc.close().await;
            Ok(())
        }
        Command::Pii { command } => {
            let svc = open_service(&config, Arc::new(SystemClock)).await?;
            let result = pii(&svc, command).await;
            svc.close().await;
            result
        }
        Command::Sweep { batch } => {
            let svc = open_service(&config, Arc::new(SystemClock)).await?;
            let id = format!("clearance-{}", svc.policy().clearance_date);
            let report = svc
                .job_queue()
                .clearance_sweep(&beian_service::Actor::new("cli", "sweep"), &id, batch, |s| {
                    eprintln!(
                        "sweep {}: checked {} delisted {} (at {})",
                        s.id, s.checked, s.delisted, s.cursor_appid
                    );
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "sweep {} finished: checked {}, delisted {}",
                report.id, report.checked, report.delisted
            );
            svc.close().await;
            Ok(())
        }
        Command::ReindexPublic => {
            crate::backup::require_existing_database(&config)?;
            let svc = open_service(&config, Arc::new(SystemClock)).await?;
            let n = svc.public_index().reindex_public_filings().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("public index rebuilt: {n} filed mini programs");
            svc.close().await;
            Ok(())
        }
        Command::Check { json } => {
            crate::backup::require_existing_database(&config)?;
            let svc = open_service(&config, Arc::new(SystemClock)).await?;
            let report = svc.operations().check_invariants().await;
            svc.close().await;
            let report = report.map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            anyhow::ensure!(report.ok(), "{} invariant violation(s)", report.violations.len());
            Ok(())
        }
        Command::Backup { dir } => {
            let m = crate::backup::backup(&config, &dir).await?;
            println!(
                "backed up {} ({}) into {}: {} mini programs, {} filing orders, {} media files ({} bytes), key in {}",
                redact(&config.database_url),
                m.backend,
                dir.display(),
                m.counts.get("mini_programs").copied().unwrap_or(0),
                m.counts.get("filing_orders").copied().unwrap_or(0),
                m.media_files,
                m.media_bytes,
                m.key_file
            );
            println!("the backup holds the master key: keep it as safe as the key itself");
            if m.violations > 0 {
                eprintln!(
                    "warning: the backed-up data has {} invariant violation(s); run `beian check`",
                    m.violations
                );
            }
            Ok(())
        }
        Command::Restore { dir } => {
            let (m, report) = crate::backup::restore(&config, &dir).await?;
            println!(
                "restored the {} backup of {} into {} ({})",
                m.backend,
                m.created_at,
                config.data_dir.display(),
                redact(&config.database_url)
            );
            print_report(&report);
            anyhow::ensure!(
                report.ok(),
                "the restored data has {} invariant violation(s)",
                report.violations.len()
            );
            if config.database_url.starts_with("sqlite:") {
                println!("start it with: beian --data-dir {} serve", config.data_dir.display());
            } else {
                println!(
                    "start it with: beian --data-dir {} --database-url '{}' serve",
                    config.data_dir.display(),
                    redact(&config.database_url)
                );
            }
            Ok(())
        }
        Command::Rules { command } => {
            let svc = open_service(&config, Arc::new(SystemClock)).await?;
            let result = rules(&svc, command).await;
            svc.close().await;
            result
        }
        Command::Outbox { phone } => {
            let svc = open_service(&config, Arc::new(SystemClock)).await?;
            for m in
                svc.job_queue().sms_outbox(phone.as_deref(), 50).await.map_err(|e| anyhow::anyhow!("{e}"))?
            {
                println!(
                    "{} {} {}",
                    beian_core::time::from_ts(m.created_at).format("%Y-%m-%d %H:%M:%S"),
                    m.phone,
                    m.text
                );
            }
            svc.close().await;
            Ok(())
        }
        Command::Demo { seed_only } => {
            // The demo texts to the outbox, where its walkthrough reads the codes, unless a
            // gateway is configured.
            let sms_outbox = config.sms_gateway.is_none()
                && matches!(config.sms.provider, crate::sms_config::SmsProvider::Http);
            if config.authority_gateway.is_some_and(|g| g != crate::config::GatewayChoice::Simulator) {
                anyhow::bail!(
                    "beian demo runs the authority simulator; drop the authority gateway setting or use `beian serve`"
                );
            }
            let config = Config { simulated_clock: true, sms_outbox, ..config };
            let clock: Arc<dyn beian_service::Clock> = Arc::new(beian_service::OffsetClock::new());
            let (store, svc) = crate::app::open(&config, clock).await?;
            let event_url = format!("http://{}/demo/events", crate::config::local_address(&config.listen));
            let report =
                crate::demo::seed(&store, &svc, &event_url, &config.data_dir.join("demo-credentials.txt"))
                    .await?;
            println!("{report}");
            if seed_only {
                svc.close().await;
                return Ok(());
            }
            let channels = crate::app::channels(&config, &svc)?;
            let app = Application::with_service(
                &config.listen,
                &store,
                svc,
                crate::config::GatewayChoice::Simulator,
            )
            .await?
            .with_channels(channels)
            .with_worker_concurrency(config.jobs_concurrency)
            .with_metrics(config.metrics.clone())
            .with_trusted_header(config.trusted_header.clone())
            .with_demo(true);
            println!("beian is serving on http://{}", app.local_addr()?);
            app.run(shutdown_signal()).await
        }
    }
}

/// The password for `account create|reset-password`: BEIAN_ACCOUNT_PASSWORD (never a flag:
/// command lines are visible to every user of the machine), else a generated one.
fn account_password() -> (String, bool) {
    match std::env::var("BEIAN_ACCOUNT_PASSWORD").ok().filter(|p| !p.is_empty()) {
        Some(p) => (p, false),
        None => (beian_service::signin::generate_password(), true),
    }
}

async fn account(svc: &beian_service::Service, command: AccountCommand) -> Result<()> {
    let actor = beian_service::Actor::new("cli", "account");
    let accounts = svc.sign_in();
    let err = |e: beian_service::ServiceError| anyhow::anyhow!("{e}");
    match command {
        AccountCommand::Create { username, name, email } => {
            let (password, generated) = account_password();
            let new = beian_service::signin::NewAccount {
                display_name: name.unwrap_or_else(|| username.clone()),
                username,
                password: password.clone(),
                email,
            };
            let a = accounts.create_local_account(&actor, &new).await.map_err(err)?;
            println!("created account {} ({})", a.username, a.id);
            if generated {
                println!("password: {password}\n(shown once; stored hashed)");
            }
        }
        AccountCommand::Disable { account } => {
            let a = accounts.set_account_disabled(&actor, &account, true).await.map_err(err)?;
            println!("disabled {} ({}); its sessions ended", a.username, a.id);
        }
        AccountCommand::Enable { account } => {
            let a = accounts.set_account_disabled(&actor, &account, false).await.map_err(err)?;
            println!("enabled {} ({})", a.username, a.id);
        }
        AccountCommand::List => {
            for a in accounts.list_accounts().await.map_err(err)? {
                println!(
                    "{:<16} {:<24} {:<8} {:<6} {}",
                    a.id,
                    a.username,
                    if a.is_disabled() { "disabled" } else { "active" },
                    if a.email.is_some() { "email" } else { "-" },
                    a.display_name
                );
            }
        }
        AccountCommand::ResetPassword { account } => {
            let (password, generated) = account_password();
            let a = accounts.set_account_password(&actor, &account, &password).await.map_err(err)?;
            println!("new password set for {} ({}); its sessions ended", a.username, a.id);
            if generated {
                println!("password: {password}\n(shown once; stored hashed)");
            }
        }
    }
    Ok(())
}

async fn rules(svc: &beian_service::Service, command: RulesCommand) -> Result<()> {
    match command {
        RulesCommand::Export { version: None } => println!("{}", svc.rule_table().to_json()),
        RulesCommand::Export { version: Some(v) } => {
            let json = svc.rule_table_version(v).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", json.ok_or_else(|| anyhow::anyhow!("no rule table version {v}"))?);
        }
        RulesCommand::Import { file } => {
            let json = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            let v = svc
                .publish_rule_table(&beian_service::Actor::new("cli", "rules"), &json)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("published rule table version {v}");
        }
    }
    Ok(())
}

async fn pii(svc: &beian_service::Service, command: PiiCommand) -> Result<()> {
    match command {
        PiiCommand::Export { appid } => {
            let doc = svc
                .mini_programs()
                .export_personal_data(&beian_service::Actor::new("cli", "pii"), &appid)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        PiiCommand::EraseExpired { dry_run } => {
            let r = svc
                .operations()
                .erase_expired(&beian_service::Actor::new("cli", "pii"), dry_run)
                .await
                .map_err(|e| anyhow::anyhow!("{e} (run it again to resume)"))?;
            let cutoff = beian_core::time::from_ts(r.cutoff).format("%Y-%m-%d %H:%M:%S UTC");
            println!(
                "retention {} days: filings cancelled or cleared before {cutoff}; {} mini program(s) past retention hold personal data",
                r.retention_days,
                r.due.len()
            );
            for appid in &r.due {
                println!("  {appid}");
            }
            if dry_run {
                println!("dry run: nothing erased");
            } else {
                println!(
                    "erased {} mini program(s): {} versions, {} drafts, {} media rows ({} objects), {} face tasks, \
                     {} SMS codes, {} outbox texts, {} messages, {} jobs, {} admin identities, {} subjects",
                    r.erased,
                    r.removed.versions,
                    r.removed.drafts,
                    r.removed.media_rows,
                    r.objects_deleted,
                    r.removed.face_tasks,
                    r.removed.sms_codes,
                    r.removed.sms_outbox,
                    r.removed.messages,
                    r.removed.jobs,
                    r.removed.admin_identity,
                    r.removed.subjects
                );
            }
        }
    }
    Ok(())
}

/// The check report for people: counts, then every violation, warning and notice.
fn print_report(report: &beian_service::check::CheckReport) {
    let (tables, kinds): (Vec<_>, Vec<_>) = report.checked.iter().partition(|(k, _)| k.starts_with("table."));
    println!("checked:");
    for (kind, n) in kinds {
        println!("  {kind:<24} {n:>10}");
    }
    let rows: Vec<String> =
        tables.iter().map(|(k, n)| format!("{} {n}", k.trim_start_matches("table."))).collect();
    println!("rows per table: {}", rows.join(", "));
    if report.violations.is_empty() {
        println!("violations: none");
    } else {
        println!("violations ({}):", report.violations.len());
        for v in &report.violations {
            println!("  - {v}");
        }
    }
    if report.warnings.is_empty() {
        println!("warnings: none");
    } else {
        println!("warnings ({}):", report.warnings.len());
        for w in &report.warnings {
            println!("  - {w}");
        }
    }
    // Configuration, not data: shown only when there is something to say.
    if !report.notices.is_empty() {
        println!("notices ({}):", report.notices.len());
        for n in &report.notices {
            println!("  - {n}");
        }
    }
}

/// `beian simulator serve`: the platform's configuration is not read (this is another
/// process, with its own data directory).
async fn simulator(args: &ConfigArgs, command: SimulatorCommand) -> Result<()> {
    let SimulatorCommand::Serve { platform_url, key_id, replay_window_secs } = command;
    let data_dir = args.data_dir.clone().ok_or_else(|| {
        anyhow::anyhow!("--data-dir is required: the simulator keeps its own database there")
    })?;
    let keys = std::env::var("BEIAN_BRIDGE_KEYS").unwrap_or_default();
    let keys = beian_authority_bridge::protocol::Keys::parse_list(&keys).map_err(|e| anyhow::anyhow!(e))?;
    anyhow::ensure!(
        !keys.is_empty(),
        "BEIAN_BRIDGE_KEYS (id=secret,…) is required: the keys shared with the platform"
    );
    let config = beian_authority_sim::standalone::StandaloneConfig {
        listen: args.listen.clone().unwrap_or_else(|| "127.0.0.1:8090".into()),
        platform_url,
        data_dir,
        keys,
        key_id,
        replay_window_secs,
        public_url: args.public_url.clone(),
    };
    let sim = beian_authority_sim::standalone::Standalone::start(config).await?;
    let addr = sim.local_addr()?;
    tracing::info!(%addr, "the authority simulator is serving");
    println!("simulator serving on http://{addr}");
    sim.run(shutdown_signal()).await
}

async fn serve(config: &Config) -> Result<()> {
    match &config.identity {
        crate::config::IdentityConfig::Builtin { explicit: false } => anyhow::bail!(
            "no identity verification configured: set [identity] provider = \"tencent_faceid\" or \
             \"aliyun_cloudauth\" (see README, \"Identity verification\"); provider = \"builtin\" checks \
             name and ID number only, with no biometrics, and is meant for demos"
        ),
        crate::config::IdentityConfig::Builtin { explicit: true } => tracing::warn!(
            "IDENTITY VERIFICATION IS THE BUILT-IN NAME + ID CHECK: NO BIOMETRICS, NO LIVENESS. Anyone who \
             knows an administrator's name and ID number passes. Configure [identity] provider = \
             \"tencent_faceid\" or \"aliyun_cloudauth\" before going live."
        ),
        _ => {}
    }
    let app = Application::build(config).await?;
    tracing::info!(addr = %app.local_addr()?, db = %redact(&config.database_url), "beian is serving");
    println!("beian is serving on http://{}", app.local_addr()?);
    app.run(shutdown_signal()).await
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
