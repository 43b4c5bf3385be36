//! A second opinion on the home-made load client: the same read scenario driven by `wrk`
//! (Debian package `wrk`, installed by `scripts/ensure-tools`), its figures parsed from its
//! text output. wrk judges answers by HTTP status only (not `errcode`).

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What one wrk run reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WrkRun {
    pub requests: u64,
    pub secs: f64,
    pub per_sec: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Answers with a status outside 2xx/3xx.
    pub non_2xx: u64,
    /// connect + read + write + timeout errors.
    pub socket_errors: u64,
}

/// Whether `wrk` can be run.
pub fn available() -> bool {
    Command::new("wrk").arg("--version").output().is_ok()
}

/// The Lua script: each request a GET of `path_prefix` + one of `tokens`, spread over them.
pub fn script(path_prefix: &str, tokens: &[String]) -> String {
    let mut s = String::from("local tokens = {\n");
    for t in tokens {
        // Tokens are URL-safe base64: nothing to escape in a Lua string.
        s.push_str(&format!("  \"{t}\",\n"));
    }
    s.push_str(&format!(
        "}}\nlocal n = #tokens\nlocal i = 0\nrequest = function()\n  i = i + 1\n  \
         return wrk.format(\"GET\", \"{path_prefix}\" .. tokens[(i * 7919) % n + 1])\nend\n"
    ));
    s
}

/// Run `wrk -t1 -c<connections> -d<secs>s --latency -s <script> <base>`; the script is
/// written to `dir`.
pub fn run(base: &str, dir: &Path, script_text: &str, connections: usize, secs: Duration) -> Result<WrkRun> {
    let path = dir.join("bench-wrk.lua");
    std::fs::write(&path, script_text).with_context(|| format!("writing {}", path.display()))?;
    let out = Command::new("wrk")
        .arg("-t1")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", secs.as_secs().max(1)))
        .arg("--latency")
        .arg("-s")
        .arg(&path)
        .arg(base)
        .output()
        .context("running wrk")?;
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk exited with {}: {}{}",
            out.status,
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse(&text).with_context(|| format!("reading wrk's output: {text}"))
}

/// A duration as wrk prints it (`635.91us`, `1.04ms`, `2.00s`, `1.00m`), in milliseconds.
fn millis(v: &str) -> Option<f64> {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
    let x: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => x / 1000.0,
        "ms" => x,
        "s" => x * 1000.0,
        "m" => x * 60_000.0,
        "h" => x * 3_600_000.0,
        _ => return None,
    })
}

fn parse(text: &str) -> Result<WrkRun> {
    let mut r = WrkRun::default();
    let mut seen = false;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => r.p50_ms = millis(v),
            ["99%", v] => r.p99_ms = millis(v),
            [n, "requests", "in", secs, ..] => {
                r.requests = n.parse().context("request count")?;
                r.secs = millis(secs.trim_end_matches(',')).map(|ms| ms / 1000.0).unwrap_or(0.0);
                seen = true;
            }
            ["Requests/sec:", v] => r.per_sec = v.parse().context("Requests/sec")?,
            ["Non-2xx", "or", "3xx", "responses:", n] => r.non_2xx = n.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                r.socket_errors =
                    rest.iter().filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok()).sum();
            }
            _ => {}
        }
    }
    if !seen {
        bail!("no \"requests in\" line");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Running 10s test @ http://127.0.0.1:8080\n  1 threads and 64 connections\n  \
        Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   774.43us  312.09us  12.74ms   90.11%\n    \
        Req/Sec    82.96k     3.10k   87.63k    77.00%\n  Latency Distribution\n     50%  712.00us\n     \
        75%  801.00us\n     90%    0.95ms\n     99%    2.01ms\n  825664 requests in 10.00s, 301.09MB read\n  \
        Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 5\n\
        Requests/sec:  82556.70\nTransfer/sec:     30.11MB\n";

    #[test]
    fn reads_wrk_output() {
        let r = parse(OUTPUT).expect("parse");
        assert_eq!(r.requests, 825_664);
        assert_eq!(r.secs, 10.0);
        assert_eq!(r.per_sec, 82_556.70);
        assert_eq!(r.p50_ms, Some(0.712));
        assert_eq!(r.p99_ms, Some(2.01));
        assert_eq!(r.non_2xx, 5);
        assert_eq!(r.socket_errors, 3);
        assert!(parse("garbage").is_err());
        assert_eq!(millis("1.50s"), Some(1500.0));
        assert_eq!(millis("1.00m"), Some(60_000.0));
    }

    #[test]
    fn script_spreads_over_tokens() {
        let s = script("/x?access_token=", &["a".into(), "b".into()]);
        assert!(s.contains("\"a\",") && s.contains("\"b\","));
        assert!(s.contains("wrk.format(\"GET\", \"/x?access_token=\" .. tokens[(i * 7919) % n + 1])"));
    }
}
