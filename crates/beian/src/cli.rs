//! The command line: `beian serve | migrate | demo`.

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
    /// Apply database migrations and exit.
    Migrate,
    /// Seed a demo platform (idempotent), print its credentials, then serve.
    Demo {
        /// Seed and print, but do not start the server.
        #[arg(long)]
        seed_only: bool,
    },
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
    let config = Config::resolve(&cli.config)?;
    match cli.command {
        Command::Serve => serve(&config).await,
        Command::Migrate => {
            let svc = open_service(&config, Arc::new(SystemClock)).await?;
            println!("database {} is at the latest schema", redact(&config.database_url));
            svc.store().close().await;
            Ok(())
        }
        Command::Demo { seed_only } => {
            let svc = open_service(&config, Arc::new(SystemClock)).await?;
            let event_url = format!("http://{}/demo/events", crate::demo::local_address(&config.listen));
            let report = crate::demo::seed(&svc, &event_url, &config.data_dir.join("demo-credentials.txt")).await?;
            println!("{report}");
            if seed_only {
                svc.store().close().await;
                return Ok(());
            }
            let app = Application::with_service(&config.listen, svc).await?;
            println!("beian is serving on http://{}", app.local_addr()?);
            app.run(shutdown_signal()).await
        }
    }
}

async fn serve(config: &Config) -> Result<()> {
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
