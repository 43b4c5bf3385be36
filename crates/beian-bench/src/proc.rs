//! Child processes: the release server and the sweep CLI, their memory from `/proc`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A process's own memory, kB: `RssAnon + RssShmem` of `/proc/<pid>/status` — its heap,
/// stacks and shared memory, without the file pages it has mapped. The server reads SQLite
/// through a memory map of the database file (`PRAGMA mmap_size`), so `VmRSS` also counts
/// every database page it touched: those are the kernel's page cache (the same pages a
/// `pread` would have cached outside the process, given back under memory pressure), and the
/// memory targets are about what the process itself holds. `VmRSS` is printed beside it.
pub fn private_kb(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(parse_status_kb(&text, "RssAnon")? + parse_status_kb(&text, "RssShmem").unwrap_or(0))
}

/// A `kB` field of `/proc/<pid>/status` (VmRSS, VmHWM), in kB.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kb(&text, field)
}

fn parse_status_kb(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

pub fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// How to run the `beian` binary against the benchmark's database.
#[derive(Debug, Clone)]
pub struct Beian {
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
}

impl Beian {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--data-dir").arg(&self.data_dir);
        if let Some(url) = &self.database_url {
            c.arg("--database-url").arg(url);
        }
        c.env("BEIAN_LOG", "error").env_remove("BEIAN_DATABASE_URL").env_remove("BEIAN_CONFIG");
        // Texts to the outbox, as before SMS senders had to be chosen: the same work measured.
        c.env("BEIAN_SMS_OUTBOX", "true");
        // The load comes from one address, far beyond the public query's per-IP default.
        c.env("BEIAN_PUBLIC_QUERY_LIMIT", "0");
        // Its 2,000 mini programs are each polled far more than WeChat's 600 times a minute;
        // a quota this high is still counted on every call (its cost stays measured) but never
        // answers `45011` (at 1 M the default did, 19 times in the paced entrance run).
        c.env("BEIAN_API_MINUTE_LIMIT", "1000000");
        // The measured flows run against the built-in authority simulator.
        c.env("BEIAN_AUTHORITY_GATEWAY", "simulator");
        // And the built-in identity check (name + ID number): `serve` requires a choice.
        c.env("BEIAN_IDENTITY_PROVIDER", "builtin");
        // `/metrics` for the group commits' sizes (see `group_commits`).
        c.env("BEIAN_METRICS_TOKEN", METRICS_TOKEN);
        c
    }
}

/// The bearer token the bench's server serves `/metrics` to.
pub const METRICS_TOKEN: &str = "beian-bench-metrics-token";

/// Commits and the writes they carried, per grouping committer (`beian_group_commits_total`,
/// `beian_group_commit_writes_total` of the server's `/metrics`); empty when not served.
pub async fn group_commits(
    http: &reqwest::Client,
    base: &str,
) -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(res) = http.get(format!("{base}/metrics")).bearer_auth(METRICS_TOKEN).send().await else {
        return out;
    };
    let Ok(text) = res.text().await else { return out };
    for line in text.lines() {
        for (metric, writes) in
            [("beian_group_commits_total{kind=\"", false), ("beian_group_commit_writes_total{kind=\"", true)]
        {
            let Some(rest) = line.strip_prefix(metric) else { continue };
            let Some((kind, value)) = rest.split_once("\"} ") else { continue };
            let Ok(v) = value.trim().parse::<u64>() else { continue };
            let e = out.entry(kind.to_string()).or_insert((0, 0));
            if writes {
                e.1 = v;
            } else {
                e.0 = v;
            }
        }
    }
    out
}

/// The release server as a child process; killed if dropped while running.
pub struct Server {
    child: Option<Child>,
    pub pid: u32,
    pub base: String,
}

impl Server {
    pub fn start(beian: &Beian, port: u16) -> Result<Server> {
        let child = beian
            .command()
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("serve")
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} serve", beian.bin.display()))?;
        Ok(Server { pid: child.id(), child: Some(child), base: format!("http://127.0.0.1:{port}") })
    }

    pub async fn wait_healthy(&mut self, http: &reqwest::Client) -> Result<()> {
        let until = Instant::now() + Duration::from_secs(120);
        while Instant::now() < until {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("the server exited during startup: {status}");
                }
            }
            let ok = http
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .map(|r| r.status().as_u16() == 200)
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the server did not answer /healthz within 120 s")
    }

    /// SIGTERM (graceful: in-flight requests finish, the store closes), then wait up to
    /// `grace`; SIGKILL if it is still there (beian is crash-safe: an acknowledged write is on
    /// disk). Returns how the server went, for the report.
    pub async fn stop(mut self, grace: Duration) -> Result<String> {
        let Some(mut child) = self.child.take() else { return Ok("not running".into()) };
        let started = Instant::now();
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        while started.elapsed() < grace {
            if child.try_wait()?.is_some() {
                return Ok(format!("stopped {:.1} s after SIGTERM", started.elapsed().as_secs_f64()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        child.kill()?;
        child.wait()?;
        Ok(format!("still running {} s after SIGTERM: killed", grace.as_secs()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// User + system CPU seconds a process has used so far (`/proc/<pid>/stat`).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&text).map(|ticks| ticks as f64 / clock_ticks())
}

/// utime + stime in clock ticks: fields 14 and 15, counted after the `(comm)` field, which
/// may itself contain spaces.
fn parse_stat_cpu(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// What a process used while a scenario ran.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Peak private memory ([`private_kb`]), MB.
    pub peak_rss_mb: f64,
    /// Peak VmRSS (mapped database pages included), MB.
    pub peak_vmrss_mb: f64,
    /// CPU seconds of the watched process (the server).
    pub cpu_secs: f64,
    /// CPU seconds of this process (the load generator) over the same time.
    pub self_cpu_secs: f64,
}

/// Samples a process's private memory ([`private_kb`]) and VmRSS every 100 ms until stopped
/// (keeps the maxima), and its CPU time.
pub struct Sampler {
    pid: u32,
    stop: Arc<AtomicBool>,
    max_kb: Arc<AtomicU64>,
    max_vm_kb: Arc<AtomicU64>,
    cpu0: f64,
    self_cpu0: f64,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max_kb = Arc::new(AtomicU64::new(private_kb(pid).unwrap_or(0)));
        let max_vm_kb = Arc::new(AtomicU64::new(status_kb(pid, "VmRSS").unwrap_or(0)));
        let (s, m, v) = (stop.clone(), max_kb.clone(), max_vm_kb.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                if let Some(kb) = private_kb(pid) {
                    m.fetch_max(kb, Ordering::Relaxed);
                }
                if let Some(kb) = status_kb(pid, "VmRSS") {
                    v.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let cpu0 = cpu_secs(pid).unwrap_or(0.0);
        let self_cpu0 = cpu_secs(std::process::id()).unwrap_or(0.0);
        Sampler { pid, stop, max_kb, max_vm_kb, cpu0, self_cpu0, task }
    }

    pub async fn finish(self) -> Usage {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        Usage {
            peak_rss_mb: mb(self.max_kb.load(Ordering::Relaxed)),
            peak_vmrss_mb: mb(self.max_vm_kb.load(Ordering::Relaxed)),
            cpu_secs: cpu_secs(self.pid).map(|c| c - self.cpu0).unwrap_or(0.0),
            self_cpu_secs: cpu_secs(std::process::id()).map(|c| c - self.self_cpu0).unwrap_or(0.0),
        }
    }
}

/// What `beian sweep` did: wall time, peak private memory ([`private_kb`]) and VmHWM (polled
/// every 20 ms), and its summary line.
pub struct SweepRun {
    pub secs: f64,
    pub peak_rss_mb: f64,
    pub vmhwm_mb: f64,
    /// CPU seconds (last sample before it exited, every 20 ms).
    pub cpu_secs: f64,
    pub summary: String,
}

/// Run `beian sweep --batch N` to completion (bounded by `timeout`).
pub async fn run_sweep(beian: &Beian, batch: i64, timeout: Duration) -> Result<SweepRun> {
    let out_path = beian.data_dir.join("sweep.out");
    let out = std::fs::File::create(&out_path)?;
    let start = Instant::now();
    let mut child = beian
        .command()
        .arg("sweep")
        .arg("--batch")
        .arg(batch.to_string())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .context("starting beian sweep")?;
    let pid = child.id();
    let (mut private, mut hwm, mut cpu) = (0u64, 0u64, 0.0f64);
    let status = loop {
        if let Some(kb) = private_kb(pid) {
            private = private.max(kb);
        }
        if let Some(kb) = status_kb(pid, "VmHWM") {
            hwm = hwm.max(kb);
        }
        if let Some(c) = cpu_secs(pid) {
            cpu = cpu.max(c);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("beian sweep did not finish within {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let secs = start.elapsed().as_secs_f64();
    let summary = std::fs::read_to_string(&out_path).unwrap_or_default().trim().to_string();
    if !status.success() {
        bail!("beian sweep failed ({status}): {summary}");
    }
    Ok(SweepRun { secs, peak_rss_mb: mb(private), vmhwm_mb: mb(hwm), cpu_secs: cpu, summary })
}

/// Run `beian check` (the database invariants) and return its exit status and last line.
pub fn run_check(beian: &Beian) -> Result<(bool, String)> {
    let out = beian.command().arg("check").stderr(Stdio::piped()).output().context("running beian check")?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_string();
    Ok((out.status.success(), last))
}

/// Remove a directory tree the benchmark created (only under its own work directory).
pub fn remove_dir(work: &Path, dir: &Path) {
    if dir.starts_with(work) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_fields() {
        let text = "Name:\tbeian\nVmHWM:\t  123456 kB\nVmRSS:\t   65432 kB\n";
        assert_eq!(parse_status_kb(text, "VmRSS"), Some(65432));
        assert_eq!(parse_status_kb(text, "VmHWM"), Some(123_456));
        assert_eq!(parse_status_kb(text, "VmSwap"), None);
        assert!(status_kb(std::process::id(), "VmRSS").is_some_and(|kb| kb > 0));
        let stat = "1234 (tokio rt) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0";
        assert_eq!(parse_stat_cpu(stat), Some(300));
        assert!(cpu_secs(std::process::id()).is_some());
    }
}
