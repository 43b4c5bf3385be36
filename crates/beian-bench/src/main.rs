//! `beian-bench`: the benchmark suite of issue 7 (run it through `scripts/bench`).
//!
//! 1. Bulk-seeds N mini programs (a realistic mix of statuses, filed orders with their
//!    encrypted applications, numbers, the public index) into a fresh data directory (SQLite)
//!    or a fresh PostgreSQL schema, through `beian_store::Store::bulk_seed`.
//! 2. Starts the release server as a child process and drives it over HTTP from this process
//!    with a bounded pool of concurrent keep-alive clients: the router floor (a 404 through the
//!    server's layers, the floor of every read), `/healthz`, `get_icp_entrance_info` (and the
//!    same through `wrk`, to check this load client), the public query, and
//!    `apply_icp_filing` with valid payloads (its floors: a durable raw insert of the same
//!    bytes into the same database, and this disk's fsync rate).
//! 3. Stops the server and runs `beian sweep` over all N (its floor: a keyed scan of every
//!    appid), measuring time and peak RSS.
//! 4. Prints one table, writes it as JSON, and marks each target pass or miss.

mod diag;
mod disk;
mod gen;
mod http;
mod jobs;
mod load;
mod proc;
mod stats;
mod wrk;

use anyhow::{Context, Result};
use beian::config::{Config, ConfigArgs};
use beian_service::{Actor, Service, SystemClock};
use beian_store::Store;
use clap::Parser;
use http::Expect;
use load::{errcode_ok, url_encode, Load};
use proc::{Beian, Sampler, Server, Usage};
use stats::{Report, Scenario, Verdict};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(name = "beian-bench", about = "Benchmark beian at N mini programs (see docs/benchmarks.md)")]
struct Args {
    /// Mini programs to seed [default: 1,000,000; 20,000 with --quick]
    #[arg(long)]
    n: Option<u64>,
    /// PostgreSQL (a fresh schema bench_<pid> on BEIAN_BENCH_PG_URL) instead of SQLite.
    #[arg(long)]
    postgres: bool,
    /// Small and short: N = 20,000 and scenario windows of a few seconds (about a minute).
    #[arg(long)]
    quick: bool,
    #[arg(long, env = "BEIAN_BENCH_PG_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    /// The release `beian` binary to run as the server.
    #[arg(long, default_value = "target/release/beian")]
    beian_bin: PathBuf,
    /// Where data directories go (removed afterwards unless --keep).
    #[arg(long, default_value = "target/bench")]
    work_dir: PathBuf,
    /// The JSON report.
    #[arg(long, default_value = "target/bench/latest.json")]
    out: PathBuf,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds per read scenario [default: 10; 4 with --quick].
    #[arg(long)]
    read_secs: Option<u64>,
    /// Seconds of apply load at most [default: 60; 10 with --quick].
    #[arg(long)]
    apply_secs: Option<u64>,
    /// Mini programs prepared to apply [default: 350,000 at N ≥ 5,000,000 (5,800/s for 60 s), else
    /// 100,000; 10,000 with --quick].
    #[arg(long)]
    apply_ready: Option<u64>,
    /// Mini programs with an authorizer token for the read scenarios.
    #[arg(long, default_value_t = 2000)]
    authorized: u64,
    /// Mini programs per seeding transaction.
    #[arg(long, default_value_t = 20_000)]
    seed_batch: u64,
    /// Mini programs per batch of the clearance sweep (`beian sweep --batch`).
    #[arg(long, default_value_t = beian_service::SWEEP_BATCH)]
    sweep_batch: i64,
    /// After seeding, run `beian check` (every database invariant) on the seeded data.
    #[arg(long)]
    check: bool,
    /// Seed, report the seeding, and stop (with --keep: a data set to explore by hand).
    #[arg(long)]
    seed_only: bool,
    /// Keep the data directory (and PostgreSQL schema) for a look afterwards.
    #[arg(long)]
    keep: bool,
    /// Seed even when the free disk space is below the estimate for N.
    #[arg(long)]
    no_disk_check: bool,
    /// The command line to print in the report (scripts/bench passes its own).
    #[arg(long, default_value = "beian-bench")]
    command_line: String,
}

/// mimalloc, as in the `beian` binary: glibc's `malloc`, `free` and their consolidation were
/// ~15 % of the seeding's generator and sealer threads at 10 M (perf), and the load client
/// shares the two cores with the server it measures.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        // Measured, but some target missed: still a successful benchmark run.
        Ok(false) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Mini programs prepared to apply by default: enough for the apply target (5,000/s for 60 s)
/// at ten million; 100,000 below five million (enough for 1,600/s for 60 s; at most half of N
/// is taken), so the smaller populations stay mostly historic.
fn default_apply_ready(n: u64, quick: bool) -> u64 {
    match (quick, n) {
        (true, _) => 10_000,
        (false, n) if n >= 5_000_000 => 350_000,
        (false, _) => 100_000,
    }
}

/// Refuse to seed `n` mini programs when the disk cannot hold them (`disk::needed_bytes`).
fn check_disk(n: u64, free: Option<u64>, dir: &Path, skip: bool) -> Result<()> {
    let (Some(free), false) = (free, skip) else { return Ok(()) };
    let needed = disk::needed_bytes(n);
    anyhow::ensure!(
        free >= needed,
        "not enough free disk for N = {n}: seeding needs about {:.1} GB ({:.0} bytes per mini program and {:.0} GB \
         of room for the WAL and sort files), {:.1} GB are free on the file system of {} — free some space, \
         choose a smaller --n or another --work-dir, or pass --no-disk-check",
        needed as f64 / disk::GB,
        disk::BYTES_PER_MINI_PROGRAM,
        disk::SLACK_BYTES / disk::GB,
        free as f64 / disk::GB,
        dir.display()
    );
    Ok(())
}

/// The router floor's request: under `/wxa/` (an API path: the fallback answers an empty 404,
/// not the people's HTML page) and matched by no route.
const ROUTER_FLOOR_PATH: &str = "/wxa/icp/bench_router_floor";

/// get_icp_entrance_info, up to its token.
const ENTRANCE_PATH: &str = "/wxa/icp/get_icp_entrance_info?access_token=";

/// When the run started (UTC), for the report.
static STARTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn step(t0: Instant, what: &str) {
    eprintln!("[{:>6.1} s] {what}", t0.elapsed().as_secs_f64());
}

/// Where the run's data lives, and how to remove it.
struct Workspace {
    work: PathBuf,
    data_dir: PathBuf,
    database_url: Option<String>,
    pg: Option<(String, String)>,
    keep: bool,
}

impl Workspace {
    async fn cleanup(&self) {
        if self.keep {
            eprintln!("kept: {} {}", self.data_dir.display(), self.database_url.as_deref().unwrap_or(""));
            return;
        }
        proc::remove_dir(&self.work, &self.data_dir);
        if let Some((base, schema)) = &self.pg {
            if let Err(e) = beian_store::bulk::pg_drop_schema(base, schema).await {
                eprintln!("warning: could not drop schema {schema}: {e}");
            }
        }
    }

    fn config(&self) -> Result<Config> {
        Config::resolve(&ConfigArgs {
            data_dir: Some(self.data_dir.clone()),
            database_url: self.database_url.clone(),
            listen: Some("127.0.0.1:0".into()),
            ..ConfigArgs::default()
        })
    }

    fn beian(&self, bin: &Path) -> Beian {
        Beian {
            bin: bin.to_path_buf(),
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
        }
    }
}

async fn run(args: Args) -> Result<bool> {
    let t0 = Instant::now();
    let _ = STARTED.set(chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string());
    anyhow::ensure!(
        args.beian_bin.exists(),
        "{} not found: build it first (cargo build --release -p beian) or pass --beian-bin",
        args.beian_bin.display()
    );
    std::fs::create_dir_all(&args.work_dir)?;
    let work = std::fs::canonicalize(&args.work_dir)?;
    let pid = std::process::id();
    let data_dir = work.join(format!("data-{pid}"));
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)?;
    }
    std::fs::create_dir_all(&data_dir)?;
    let mut ws = Workspace { work, data_dir, database_url: None, pg: None, keep: args.keep };
    if args.postgres {
        let schema = format!("bench_{pid}");
        let url = beian_store::bulk::pg_create_schema(&args.pg_url, &schema)
            .await
            .with_context(|| format!("creating schema {schema} on {}", beian::app::redact(&args.pg_url)))?;
        ws.database_url = Some(url);
        ws.pg = Some((args.pg_url.clone(), schema));
    }
    let result = bench(&args, &ws, t0).await;
    ws.cleanup().await;
    result
}

async fn open(ws: &Workspace) -> Result<(Store, Arc<Service>)> {
    beian::app::open(&ws.config()?, Arc::new(SystemClock)).await
}

async fn set_dates(svc: &Service, clearance: chrono::NaiveDate) -> Result<()> {
    let mut policy = (*svc.policy()).clone();
    policy.deadline_date = clearance.pred_opt().unwrap_or(clearance);
    policy.clearance_date = clearance;
    policy.daily_apply_quota = 10_000_000;
    svc.set_policy(&Actor::new("bench", "setup"), policy).await.map_err(|e| anyhow::anyhow!("{e}"))
}

async fn bench(args: &Args, ws: &Workspace, t0: Instant) -> Result<bool> {
    let n = args.n.unwrap_or(if args.quick { 20_000 } else { 1_000_000 });
    let read_secs = Duration::from_secs(args.read_secs.unwrap_or(if args.quick { 4 } else { 10 }));
    let apply_secs = Duration::from_secs(args.apply_secs.unwrap_or(if args.quick { 10 } else { 60 }));
    let apply_ready = args.apply_ready.unwrap_or(default_apply_ready(n, args.quick)).min(n / 2);
    let authorized = args.authorized.min(n.saturating_sub(apply_ready) / 2);
    let backend = if args.postgres { "postgresql" } else { "sqlite" };
    let mut scenarios = Vec::new();

    // ---- 1. seed --------------------------------------------------------------------------
    let free_before = disk::free_bytes(&ws.data_dir);
    if !args.postgres {
        check_disk(n, free_before, &ws.data_dir, args.no_disk_check)?;
    }
    step(t0, &format!("opening a fresh {backend} database in {}", ws.data_dir.display()));
    let (store, svc) = open(ws).await?;
    // Dates far away while the server runs: its worker must not start the sweep by itself.
    set_dates(&svc, chrono::NaiveDate::from_ymd_opt(2099, 4, 1).unwrap_or_default()).await?;
    let creds = svc
        .providers()
        .create_provider(&Actor::new("bench", "setup"), "压测服务商", "http://127.0.0.1:9/events")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (jpeg_digest, sealed_jpeg) = store.crypto().seal_media(gen::JPEG);
    beian_store::MediaFiles::new(ws.data_dir.join("media"))?.put(&jpeg_digest, &sealed_jpeg)?;
    let public_index = store.has_table("public_filings").await?;
    let now = svc.now();
    let plan = gen::Plan {
        n,
        apply_ready,
        authorized,
        batch: args.seed_batch,
        now: now.timestamp(),
        component_appid: creds.component_appid.clone(),
        public_index,
        jpeg_digest,
    };
    let year = chrono::Datelike::year(&beian_core::time::beijing_date(now));
    step(
        t0,
        &format!(
            "seeding {n} mini programs ({apply_ready} prepared to apply, {authorized} authorized for reads)"
        ),
    );
    let cpu0 = proc::cpu_secs(std::process::id()).unwrap_or(0.0);
    let watch = disk::FreeWatch::start(&ws.data_dir);
    let (seed, handles) = seed(&store, plan, year).await?;
    let lowest_free = watch.finish();
    let seed_cpu = proc::cpu_secs(std::process::id()).unwrap_or(0.0) - cpu0;
    let mut s = Scenario::new("seeding N", "≤ 60 s and ≤ 3 GB per 1M (10 min, 30 GB at 10M)");
    s.ops = n;
    s.secs = seed.secs;
    s.throughput = Some(n as f64 / seed.secs.max(1e-9));
    let hwm = proc::mb(proc::status_kb(std::process::id(), "VmHWM").unwrap_or(0));
    s = s.with_usage(hwm, seed_cpu);
    s.note(format!(
        "this process (generator, encryption, SQL) used {seed_cpu:.0} CPU s, {:.0} % of one core, VmHWM \
         {hwm:.0} MB (mapped database pages included)",
        seed_cpu / seed.secs.max(1e-9) * 100.0
    ));
    let millions = n as f64 / 1e6;
    let projected = 1_000_000.0 / s.throughput.unwrap_or(1.0);
    let time_ok = if n >= 1_000_000 { seed.secs <= 60.0 * millions } else { projected <= 60.0 };
    let on_disk = (!args.postgres).then(|| disk::du_bytes(&ws.data_dir) as f64 / disk::GB);
    // 3 GB per million; small runs get 300 MB (the schema, the WAL and the media are fixed costs).
    let disk_limit = 3.0 * millions.max(0.1);
    let disk_ok = on_disk.is_none_or(|gb| gb <= disk_limit);
    s.verdict = Verdict::of(time_ok && disk_ok);
    let gb =
        |b: Option<u64>| b.map(|b| format!("{:.1} GB", b as f64 / disk::GB)).unwrap_or_else(|| "?".into());
    match on_disk {
        Some(used) => s.note(format!(
            "data directory {used:.2} GB on disk after seeding (du; {:.0} bytes per mini program); {} free \
             before, {} at the lowest during (other processes' writes included)",
            used * disk::GB / n.max(1) as f64,
            gb(free_before),
            gb(lowest_free)
        )),
        None => s.note(format!(
            "data in PostgreSQL's own directory (not measured); free on the work directory's disk: {} before, \
             {} at the lowest during",
            gb(free_before),
            gb(lowest_free)
        )),
    }
    s.note(format!(
        "{} rows ({} orders, {} filed{}); ops = mini programs; {:.0} rows/s",
        seed.rows,
        handles.orders,
        handles.filed,
        if public_index { ", public index included" } else { ", no public index table" },
        seed.rows as f64 / seed.secs.max(1e-9)
    ));
    if n < 1_000_000 {
        s.note(format!("judged on the rate extrapolated to 1M: {projected:.0} s"));
    }
    if !time_ok && n >= 1_000_000 {
        let limit = 60.0 * millions;
        s.note(format!("missed by {:.0} s ({:.0} %)", seed.secs - limit, (seed.secs / limit - 1.0) * 100.0));
    }
    if !disk_ok {
        s.note(format!("disk missed: more than {disk_limit:.1} GB"));
    }
    svc.close().await;
    drop(svc);
    if args.check {
        step(t0, "beian check on the seeded data");
        let started = Instant::now();
        let (ok, last) = proc::run_check(&ws.beian(&args.beian_bin))?;
        s.note(format!(
            "`beian check`: {} ({last}, {:.0} s)",
            if ok { "no violation" } else { "VIOLATIONS" },
            started.elapsed().as_secs_f64()
        ));
        if !ok {
            s.verdict = Verdict::Miss;
        }
    }
    scenarios.push(s);
    if args.seed_only {
        return finish(args, backend, n, scenarios, t0);
    }

    // ---- 2. the server under load ---------------------------------------------------------
    let beian = ws.beian(&args.beian_bin);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let port = proc::free_port()?;
    step(t0, &format!("starting the release server on 127.0.0.1:{port}"));
    let started = Instant::now();
    let mut server = Server::start(&beian, port)?;
    server.wait_healthy(&http).await?;
    let startup = started.elapsed().as_secs_f64();
    step(t0, &format!("server up in {startup:.1} s (RSS {:.0} MB)", rss(server.pid)));
    let base = server.base.clone();
    let reads = Load { concurrency: args.concurrency, duration: read_secs, max_ops: u64::MAX, rate: None };

    // The router floor: a path no route matches, answered 404 by the router's fallback through
    // the server's layers (catch_panic, metrics), no handler, no database.
    step(t0, "router floor");
    let lean = http::Lean::new(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let l = lean.clone();
    let rss_s = Sampler::start(server.pid);
    let (mut sample, err) = load::run(reads, move |_| {
        let l = l.clone();
        async move { l.get(ROUTER_FLOOR_PATH, Expect::NotFound).await }
    })
    .await;
    let mut router = Scenario::new("router floor (404 through the stack)", "-").with_sample(&mut sample);
    router = used(router, rss_s.finish().await);
    errors_note(&mut router, err);
    router.note(format!(
        "GET {ROUTER_FLOOR_PATH}: the router's fallback answers 404 through the server's layers (panic guard, \
         metrics), no handler, no database"
    ));
    let floor = router.throughput;
    // Half the router floor's rate: the rate entrance info's latency target is judged at, and
    // the most one load process (which reached the floor's rate, sharing the cores) paces.
    let pace_cap = floor.map(|f| f / 2.0).unwrap_or(f64::INFINITY);
    scenarios.push(router);

    // /healthz (HTTP + one database round trip), against the router floor.
    step(t0, "healthz");
    let rss_s = Sampler::start(server.pid);
    let l = lean.clone();
    let (mut sample, err) = load::run(reads, move |_| {
        let l = l.clone();
        async move { l.get("/healthz", Expect::Status200).await }
    })
    .await;
    let mut healthz = Scenario::new("GET /healthz", "-").with_sample(&mut sample).with_floor("router", floor);
    healthz = used(healthz, rss_s.finish().await);
    errors_note(&mut healthz, err);
    scenarios.push(healthz);

    // get_icp_entrance_info with valid tokens across random appids.
    step(t0, &format!("get_icp_entrance_info over {} appids", handles.authorized.len()));
    let tokens: Arc<Vec<String>> = Arc::new(handles.authorized.iter().map(|(_, t)| t.clone()).collect());
    let (l, t) = (lean.clone(), tokens.clone());
    let mut s = read_scenario(
        "get_icp_entrance_info",
        "≥ 80 % of router floor, p99 ≤ 2 ms at half its rate",
        reads,
        server.pid,
        Pace::At(pace_cap),
        move |i| {
            let token = &t[(gen::mix(i) % t.len().max(1) as u64) as usize];
            let (l, path) = (l.clone(), format!("{ENTRANCE_PATH}{token}"));
            async move { l.get(&path, Expect::WeChat).await }
        },
    )
    .await
    .with_floor("router", floor);
    let ok_ratio = s.ratio.is_some_and(|r| r >= 0.8);
    let ok_p99 = s.p99_ms.is_some_and(|p| p <= 2.0);
    s.verdict = Verdict::of(ok_ratio && ok_p99 && s.errors == 0);
    if !ok_ratio {
        s.note(format!(
            "throughput missed by {:.0} points of the router floor",
            (0.8 - s.ratio.unwrap_or(0.0)) * 100.0
        ));
    }
    if !ok_p99 {
        s.note(format!("p99 missed by {:.2} ms", s.p99_ms.unwrap_or(f64::NAN) - 2.0));
    }
    let home_made = (s.throughput, s.saturation_p99_ms);
    scenarios.push(s);

    // The same scenario through wrk: the home-made client checked against a known one.
    let mut s = Scenario::new("entrance info via wrk", "-");
    if wrk::available() {
        step(t0, "get_icp_entrance_info via wrk");
        let rss_s = Sampler::start(server.pid);
        let run = tokio::task::spawn_blocking({
            let (base, dir, script) =
                (base.clone(), ws.data_dir.clone(), wrk::script(ENTRANCE_PATH, &tokens));
            let conns = args.concurrency;
            move || wrk::run(&base, &dir, &script, conns, read_secs)
        })
        .await?;
        let u = rss_s.finish().await;
        match run {
            Ok(w) => {
                s.ops = w.requests.saturating_sub(w.non_2xx);
                s.errors = w.non_2xx + w.socket_errors;
                s.secs = w.secs;
                s.throughput = Some(w.per_sec);
                (s.p50_ms, s.p99_ms) = (w.p50_ms, w.p99_ms);
                s = s.with_usage(u.peak_rss_mb, u.cpu_secs).with_floor("router", floor);
                s.note(format!(
                    "wrk -t1 -c{} -d{}s --latency, a Lua script over the same {} tokens; closed loop, so p50/p99 \
                     are at saturation; wrk checks HTTP status only; home-made ÷ wrk: throughput {}, saturation \
                     p99 {} ms vs {} ms; server CPU {:.0} %",
                    args.concurrency,
                    read_secs.as_secs(),
                    tokens.len(),
                    stats::ratio(home_made.0, Some(w.per_sec))
                        .map(|r| format!("{:.0} %", r * 100.0))
                        .unwrap_or_else(|| "-".into()),
                    home_made.1.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into()),
                    w.p99_ms.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into()),
                    u.cpu_secs / w.secs.max(1e-9) * 100.0
                ));
            }
            Err(e) => s.note(format!("skipped: wrk failed: {e:#}")),
        }
    } else {
        s.note("skipped: wrk is not installed (scripts/ensure-tools installs it)");
    }
    scenarios.push(s);

    // The public query over the bench's mix (gen::QUERY_MIX), if the endpoint exists.
    let probe = http.get(format!("{base}/api/public/query?q={}", url_encode("读书"))).send().await;
    let probe_status = probe.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
    const QUERY_TARGET: &str = "p99 ≤ 5 ms at half load, ≥ 2000/s";
    let mut s = Scenario::new("public query (mix)", QUERY_TARGET);
    if probe_status == 404 || probe_status == 0 {
        s.note(format!(
            "skipped: GET /api/public/query answered {probe_status} (endpoint not in this build)"
        ));
    } else {
        step(t0, "public query (numbers, appids, rare and common substrings)");
        let l = lean.clone();
        let pool = Arc::new(handles.public_pool.clone());
        s = read_scenario(
            "public query (mix)",
            QUERY_TARGET,
            reads,
            server.pid,
            Pace::HalfSaturation { cap: pace_cap },
            move |i| {
                let q = gen::public_query(i, &pool);
                let (l, path) = (l.clone(), format!("/api/public/query?q={}", url_encode(&q)));
                async move { l.get(&path, Expect::WeChat).await }
            },
        )
        .await
        .with_floor("router", floor);
        let ok_p99 = s.p99_ms.is_some_and(|p| p <= 5.0);
        let ok_rate = s.throughput.is_some_and(|r| r >= 2000.0);
        s.verdict = Verdict::of(ok_p99 && ok_rate && s.errors == 0);
        if !ok_p99 {
            s.note(format!("p99 missed by {:.1} ms", s.p99_ms.unwrap_or(f64::NAN) - 5.0));
        }
        if !ok_rate {
            s.note(format!("saturation missed by {:.0}/s", 2000.0 - s.throughput.unwrap_or(0.0)));
        }
        s.note(format!(
            "mix: {} ({} mini programs in the sample)",
            gen::QUERY_MIX,
            handles.public_pool.len()
        ));
        if !public_index {
            s.note("the public index table was missing at seeding: nothing indexed");
        }
    }
    scenarios.push(s);

    // Steady RSS at N, after the reads and a short rest.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut s = Scenario::new("server steady RSS at N", "≤ 300 MB");
    let steady = rss(server.pid);
    s.peak_rss_mb = Some(steady);
    s.verdict = Verdict::of(steady <= 300.0);
    s.note(format!(
        "the server's own memory (RssAnon + RssShmem) after the read scenarios; VmRSS {:.0} MB, of it \
         {:.0} MB mapped database pages (the kernel's page cache, see proc::private_kb); VmHWM so far \
         {:.0} MB; startup {startup:.1} s",
        proc::mb(proc::status_kb(server.pid, "VmRSS").unwrap_or(0)),
        proc::mb(proc::status_kb(server.pid, "RssFile").unwrap_or(0)),
        proc::mb(proc::status_kb(server.pid, "VmHWM").unwrap_or(0))
    ));
    if steady > 300.0 {
        s.note(format!("missed by {:.0} MB", steady - 300.0));
    }
    let steady_row = s;

    // apply_icp_filing with full valid payloads, each acknowledged after a durable commit.
    step(
        t0,
        &format!(
            "apply_icp_filing: up to {} s over {} prepared mini programs",
            apply_secs.as_secs(),
            handles.ready.len()
        ),
    );
    let ready = Arc::new(handles.ready);
    let queue = jobs::Queue::connect(&ws.config()?.database_url, store.crypto().clone()).await?;
    let backlog_sampling = queue.sample().await;
    let groups_before = proc::group_commits(&http, &base).await;
    let rss_s = Sampler::start(server.pid);
    let (h, b, r) = (http.clone(), base.clone(), ready.clone());
    let apply_load =
        Load { concurrency: args.concurrency, duration: apply_secs, max_ops: ready.len() as u64, rate: None };
    let (mut apply_sample, apply_err) = load::run(apply_load, move |i| {
        let (h, b, r) = (h.clone(), b.clone(), r.clone());
        async move {
            let Some(p) = r.get(i as usize) else { return Err("no prepared mini program".into()) };
            let url = format!("{b}/wxa/icp/apply_icp_filing?access_token={}", p.token);
            let res = h.post(url).body(gen::apply_body(p)).send().await.map_err(|e| e.to_string())?;
            let status = res.status().as_u16();
            let body = res.bytes().await.map_err(|e| e.to_string())?;
            errcode_ok(status, &body)
        }
    })
    .await;
    let apply_usage = rss_s.finish().await;
    let groups_after = proc::group_commits(&http, &base).await;
    // Per committer: (commits, writes) during the apply window.
    let group_delta = |kind: &str| {
        let (c0, w0) = groups_before.get(kind).copied().unwrap_or((0, 0));
        groups_after.get(kind).map(|(c, w)| (c.saturating_sub(c0), w.saturating_sub(w0)))
    };
    let (apply_groups, job_groups) = (group_delta("apply"), group_delta("job_writes"));
    let hwm = proc::mb(proc::status_kb(server.pid, "VmHWM").unwrap_or(0));
    let during = backlog_sampling.finish().await;
    let drain_limit = Duration::from_secs(60);
    step(
        t0,
        &format!("job backlog: {} due; the server runs on until none is (at most 60 s)", during.last_due),
    );
    let drain = queue.drain(drain_limit).await;
    queue.close().await;
    let backlog_row = jobs::row(&during, drain, drain_limit);
    step(t0, "stopping the server");
    let stopped = server.stop(Duration::from_secs(if args.quick { 10 } else { 30 })).await?;
    step(t0, &format!("server {stopped}"));

    // Floor: the same bytes, encrypted, one durable insert per transaction, same concurrency.
    step(t0, "apply floor: raw durable inserts of the same bytes");
    let (store, svc) = open(ws).await?;
    let backlog: i64 = svc
        .job_queue()
        .job_stats()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .iter()
        .filter(|(state, _, _)| state == "pending" || state == "running")
        .map(|(_, n, _)| n)
        .sum();
    // Diagnostic: the entrance reads without HTTP, as three read transactions and as one.
    step(t0, "diagnostic: the entrance reads in-process, 3 transactions vs 1");
    let authorized = Arc::new(handles.authorized.clone());
    let mut diag_rows = Vec::new();
    for one_tx in [false, true] {
        let cpu0 = proc::cpu_secs(std::process::id()).unwrap_or(0.0);
        let (mut sample, err) =
            diag::entrance_reads(&store, authorized.clone(), &creds.component_appid, reads, one_tx).await;
        let cpu = proc::cpu_secs(std::process::id()).unwrap_or(0.0) - cpu0;
        let name = if one_tx { "entrance reads, 1 tx (diag)" } else { "entrance reads, 3 tx (diag)" };
        let mut d = Scenario::new(name, "-").with_sample(&mut sample).with_usage(0.0, cpu);
        d.peak_rss_mb = None;
        errors_note(&mut d, err);
        diag_rows.push(d);
    }
    if let [three, one] = &mut diag_rows[..] {
        let gain = stats::ratio(one.throughput, three.throughput).unwrap_or(f64::NAN);
        one.note(format!(
            "in this process, no HTTP, same store settings as the server: one read transaction instead of \
             three is {gain:.2}x the throughput"
        ));
    }
    store.floor_setup().await?;
    let floor_secs = Duration::from_secs(if args.quick { 5 } else { 10 });
    let floor_store = store.clone();
    let (r, ts) = (ready.clone(), now.timestamp());
    let floor_load =
        Load { concurrency: args.concurrency, duration: floor_secs, max_ops: u64::MAX, rate: None };
    let floor_cpu0 = proc::cpu_secs(std::process::id()).unwrap_or(0.0);
    let (mut floor_sample, floor_err) = load::run(floor_load, move |i| {
        let (store, r) = (floor_store.clone(), r.clone());
        async move {
            let Some(p) = r.get(i as usize % r.len().max(1)) else { return Err("nothing prepared".into()) };
            store.floor_insert(&p.appid, gen::apply_body(p).as_bytes(), ts).await.map_err(|e| e.to_string())
        }
    })
    .await;
    store.floor_drop().await?;
    let floor_cpu = proc::cpu_secs(std::process::id()).unwrap_or(0.0) - floor_cpu0;
    let mut fl = Scenario::new("raw durable insert (floor)", "-").with_sample(&mut floor_sample);
    fl = fl.with_usage(0.0, floor_cpu);
    fl.peak_rss_mb = None;
    fl.note("in the benchmark process (no HTTP): CPU per op is this process's");
    errors_note(&mut fl, floor_err);
    let apply_floor = fl.throughput;

    // This disk's pace of durable writes, in the data directory (on PostgreSQL: the same
    // machine's disk, where its data lives here too).
    step(t0, "disk floor: write + fdatasync of a small file");
    let fsync_secs = Duration::from_secs(if args.quick { 2 } else { 3 });
    let dir = ws.data_dir.clone();
    let mut fsync_sample = tokio::task::spawn_blocking(move || disk::fsync_rate(&dir, fsync_secs)).await??;
    let mut fs = Scenario::new("disk fsync (write + fdatasync)", "-").with_sample(&mut fsync_sample);
    fs.note("one 512-byte rewrite and fdatasync after another, in the data directory: what one durable commit waits for");
    let fsyncs = fs.throughput;

    let apply_target = if args.postgres { "≥ 50 % of floor for 60 s" } else { "≥ 5000/s for 60 s" };
    let mut s = Scenario::new("apply_icp_filing (valid, durable)", apply_target)
        .with_sample(&mut apply_sample)
        .with_floor("raw insert", apply_floor);
    s = used(s, apply_usage);
    errors_note(&mut s, apply_err);
    let rate = s.throughput.unwrap_or(0.0);
    let sustained = s.secs >= 59.0;
    let ran_out = (s.ops + s.errors) as usize >= ready.len();
    let fast_enough = if args.postgres { s.ratio.is_some_and(|r| r >= 0.5) } else { rate >= 5000.0 };
    s.verdict = Verdict::of(fast_enough && s.errors == 0 && (sustained || ran_out || args.quick));
    if !fast_enough && args.postgres {
        s.note(format!("missed by {:.0} points of the floor", (0.5 - s.ratio.unwrap_or(0.0)) * 100.0));
    } else if !fast_enough {
        s.note(format!("missed by {:.0}/s (reached {:.0} % of the target)", 5000.0 - rate, rate / 50.0));
    }
    if !sustained {
        s.note(format!(
            "measured {:.1} s ({} applies{})",
            s.secs,
            s.ops + s.errors,
            if ran_out {
                ", the prepared set ran out: judged on the rate (--apply-ready for more)"
            } else {
                ""
            }
        ));
    }
    match (fsyncs.filter(|f| *f > 0.0), apply_groups.filter(|(c, _)| *c > 0)) {
        (Some(f), Some((commits, applies))) => {
            let per = applies as f64 / commits as f64;
            s.note(format!(
                "group commits (server's /metrics): {applies} applies in {commits} commits = {per:.1} per commit; \
                 physical floor = this disk's {f:.0} fsyncs/s × {per:.1} = {:.0}/s, reached {:.0} %",
                f * per,
                100.0 * rate / (f * per)
            ));
        }
        (Some(f), None) => s.note(format!(
            "{:.1} applies per fsync of this disk ({f:.0} fsyncs/s); group sizes not observed (the server's /metrics gave no group-commit counts)",
            rate / f,
        )),
        _ => {}
    }
    if let Some((commits, writes)) = job_groups.filter(|(c, _)| *c > 0) {
        s.note(format!(
            "the job worker's own writes during the applies: {writes} in {commits} commits ({:.1} per commit)",
            writes as f64 / commits as f64
        ));
    }
    s.note(format!("server VmHWM after apply {hwm:.0} MB; at stop: {stopped}, {backlog} jobs still queued"));
    scenarios.push(s);
    scenarios.push(backlog_row);
    scenarios.push(fl);
    scenarios.push(fs);
    scenarios.push(steady_row);
    scenarios.extend(diag_rows);

    // ---- 3. the clearance sweep over all N ------------------------------------------------
    step(t0, "sweep floor: keyed scan of every appid");
    let started = Instant::now();
    let scanned = store.floor_scan_appids(args.sweep_batch).await?;
    let scan_secs = started.elapsed().as_secs_f64();
    let today = beian_core::time::beijing_date(svc.now());
    set_dates(&svc, today).await?;
    svc.close().await;
    drop(svc);
    step(
        t0,
        &format!(
            "beian sweep over {n} mini programs ({} listed and unfiled before the apply load)",
            handles.listed_unfiled
        ),
    );
    let sweep =
        proc::run_sweep(&beian, args.sweep_batch, Duration::from_secs(if args.quick { 120 } else { 600 }))
            .await?;
    let mut s = Scenario::new("clearance sweep over N", "≤ 30 s, peak RSS ≤ 200 MB");
    s.ops = n;
    s.secs = sweep.secs;
    s.throughput = Some(n as f64 / sweep.secs.max(1e-9));
    s = s.with_usage(sweep.peak_rss_mb, sweep.cpu_secs);
    s = s.with_floor("keyed scan", Some(scanned as f64 / scan_secs.max(1e-9)));
    s.verdict = Verdict::of(sweep.secs <= 30.0 && sweep.peak_rss_mb <= 200.0);
    if sweep.secs > 30.0 {
        s.note(format!("missed by {:.1} s", sweep.secs - 30.0));
    }
    if sweep.peak_rss_mb > 200.0 {
        s.note(format!("RSS missed by {:.0} MB", sweep.peak_rss_mb - 200.0));
    }
    s.note(format!(
        "`beian sweep --batch {}` process: {}; peak RSS is its own memory (RssAnon + RssShmem), VmHWM with \
         the mapped database pages {:.0} MB",
        args.sweep_batch, sweep.summary, sweep.vmhwm_mb
    ));
    scenarios.push(s);

    // ---- 4. report ------------------------------------------------------------------------
    finish(args, backend, n, scenarios, t0)
}

/// Print the table, write the JSON; true when no target was missed.
fn finish(args: &Args, backend: &str, n: u64, scenarios: Vec<Scenario>, t0: Instant) -> Result<bool> {
    let report = Report {
        command: args.command_line.clone(),
        backend: backend.into(),
        n,
        quick: args.quick,
        started_at: STARTED.get().cloned().unwrap_or_default(),
        machine: machine(),
        scenarios,
    };
    let table = stats::render_table(&report);
    println!("\n{} — {backend}, N = {n}{}\n", report.command, if args.quick { " (quick)" } else { "" });
    println!("{table}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)?;
    step(t0, &format!("report written to {}", args.out.display()));
    Ok(report.scenarios.iter().all(|s| s.verdict != Verdict::Miss))
}

/// The rate a read scenario's latency is measured at.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// A fixed rate: half the router floor's (entrance info's target is stated at that rate).
    At(f64),
    /// Half the scenario's own saturation rate, at most `cap` (half the router floor's rate).
    HalfSaturation { cap: f64 },
}

/// A read scenario in two runs: closed loop (saturation) for the throughput, then paced
/// (`pace`) for p50/p99 — at saturation latency is only `in flight / throughput` (Little's
/// law), so a latency target is judged below it. Both are in the row. The paced rate is at
/// most half the router floor's rate: the load process reached the floor's rate closed-loop,
/// and above half of it (sharing the cores with the server) it cannot send on time, so its own
/// lateness would count as the server's latency.
async fn read_scenario<F, Fut>(name: &str, target: &str, reads: Load, pid: u32, pace: Pace, op: F) -> Scenario
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = load::Outcome> + Send + 'static,
{
    let sampler = Sampler::start(pid);
    let (mut sat, err) = load::run(reads, op.clone()).await;
    let mut s = used(Scenario::new(name, target).with_sample(&mut sat), sampler.finish().await);
    errors_note(&mut s, err);
    let (sat_p50, sat_p99) = (s.p50_ms, s.p99_ms);
    s.saturation_p99_ms = sat_p99;
    let saturation = sat.throughput();
    let (rate, why) = match pace {
        Pace::At(rate) if rate.is_finite() => (
            rate,
            if rate > saturation {
                "half the router floor's rate, above this scenario's saturation: queueing included"
            } else {
                "half the router floor's rate"
            },
        ),
        Pace::At(_) => (saturation / 2.0, "half the saturation rate (no router floor)"),
        Pace::HalfSaturation { cap } if cap < saturation / 2.0 => {
            (cap, "half the router floor's rate, the most one load process paces")
        }
        Pace::HalfSaturation { .. } => (saturation / 2.0, "half the saturation rate"),
    };
    let paced = Load { rate: Some(rate.max(1.0)), ..reads };
    let sampler = Sampler::start(pid);
    let (mut at_half, err) = load::run(paced, op).await;
    let u = sampler.finish().await;
    let (p50, p99) = at_half.p50_p99_ms();
    s.p50_ms = p50;
    s.p99_ms = p99;
    s.errors += at_half.errors;
    s.peak_rss_mb = Some(s.peak_rss_mb.unwrap_or(0.0).max(u.peak_rss_mb));
    s.note(format!(
        "p50/p99 at {rate:.0}/s ({why}); at saturation ({} in flight) p50 {} ms, p99 {} ms",
        reads.concurrency,
        sat_p50.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into()),
        sat_p99.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
    ));
    if let Some(e) = err {
        s.note(format!("paced run: {} errors, first: {e}", at_half.errors));
    }
    s
}

/// Server peak memory and CPU per operation; the load generator's own CPU and the server's
/// VmRSS in the note.
fn used(s: Scenario, u: Usage) -> Scenario {
    let secs = s.secs;
    let mut s = s.with_usage(u.peak_rss_mb, u.cpu_secs);
    if secs > 0.0 {
        s.note(format!(
            "server CPU {:.0} %, load generator CPU {:.0} % (of one core); server VmRSS peak {:.0} MB",
            u.cpu_secs / secs * 100.0,
            u.self_cpu_secs / secs * 100.0,
            u.peak_vmrss_mb
        ));
    }
    s
}

/// The process's own memory ([`proc::private_kb`]), MB.
fn rss(pid: u32) -> f64 {
    proc::mb(proc::private_kb(pid).unwrap_or(0))
}

fn errors_note(s: &mut Scenario, err: Option<String>) {
    if let Some(e) = err {
        s.note(format!("{} errors, first: {e}", s.errors));
    }
}

/// GET a URL: `Ok` on HTTP 200 (and `errcode` 0 when `wechat`).
struct Seeded {
    rows: u64,
    secs: f64,
}

/// Generate and seal on threads of their own, load through the store batch by batch (one
/// transaction each), progress on stderr.
async fn seed(store: &Store, plan: gen::Plan, year: i32) -> Result<(Seeded, gen::Handles)> {
    let total = plan.n;
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let (to_seal, sealing) = std::sync::mpsc::sync_channel::<beian_store::bulk::SeedBatch>(2);
    let started = Instant::now();
    let crypto = store.crypto().clone();
    // Three stages on their own threads: generate (and collect the public index's bigrams),
    // seal (ciphertexts, blind indexes, deflated JSON: `SeedBatch::seal`), load (this task,
    // binding and writing through SQLite's writer thread). The writer does not wait for the
    // CPU work, and the two CPU stages share the second core.
    let producer = std::thread::spawn(move || {
        let mut g = gen::Generator::new(plan, year, beian_service::query::mask_principal);
        // The bigrams are inserted once at the end in key order (see `GramSink`).
        let mut grams = beian_store::bulk::GramSink::default();
        while let Some(mut batch) = g.next_batch() {
            batch.grams_later = true;
            for f in &batch.public {
                grams.add(f);
            }
            if to_seal.send(batch).is_err() {
                break;
            }
        }
        (g.handles, grams)
    });
    let sealer = std::thread::spawn(move || {
        for mut batch in sealing {
            let sealed =
                batch.seal(&crypto).map(|()| batch).map_err(|e| anyhow::anyhow!("sealing a seed batch: {e}"));
            if tx.blocking_send(sealed).is_err() {
                break;
            }
        }
    });
    let deferred = store.bulk_defer_indexes().await.context("setting indexes aside")?;
    let (mut rows, mut done) = (0u64, 0u64);
    while let Some(batch) = rx.recv().await {
        let batch = batch?;
        rows += store.bulk_seed(&batch).await.context("bulk seeding")?;
        done += batch.mini_programs.len() as u64;
        let secs = started.elapsed().as_secs_f64();
        eprint!(
            "\r  seeded {done:>9}/{total} mini programs, {rows:>9} rows, {secs:>5.1} s ({:.0} mini programs/s)   ",
            done as f64 / secs.max(1e-9)
        );
    }
    eprintln!();
    let (handles, grams) = producer.join().map_err(|_| anyhow::anyhow!("the seeding generator panicked"))?;
    sealer.join().map_err(|_| anyhow::anyhow!("the seeding sealer panicked"))?;
    let t = Instant::now();
    let n = grams.len();
    rows += store.bulk_insert_grams(grams, 2_000_000).await.context("loading the public index")?;
    eprintln!("  loaded {n} public-index bigrams in key order in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let indexes = deferred.0.len();
    store.bulk_rebuild_indexes(deferred).await.context("rebuilding indexes")?;
    eprintln!("  rebuilt {indexes} secondary indexes in {:.1} s", t.elapsed().as_secs_f64());
    Ok((Seeded { rows, secs: started.elapsed().as_secs_f64() }, handles))
}

/// CPU model and count, for the report.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_default();
    format!("{cpus} CPUs {model}")
}
