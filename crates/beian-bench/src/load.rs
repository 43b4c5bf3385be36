//! A bounded load: `concurrency` workers each send one request at a time until the deadline
//! passes or `max_ops` operations have been started. Closed loop (as fast as answers come:
//! the saturation throughput), or paced at a fixed rate (latency below saturation: operation
//! `i` is due at `start + i / rate` and its latency counts from then, so a server that falls
//! behind is charged for the wait).

use crate::stats::Sample;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub concurrency: usize,
    pub duration: Duration,
    pub max_ops: u64,
    /// Operations per second when paced; `None`: closed loop.
    pub rate: Option<f64>,
}

/// What one operation reported: success, or an error text (the first is kept for the report).
pub type Outcome = Result<(), String>;

/// Run `op(i)` for i = 0, 1, … under `load`; returns counts, elapsed time and latencies.
pub async fn run<F, Fut>(load: Load, op: F) -> (Sample, Option<String>)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let start = Instant::now();
    let deadline = start + load.duration;
    let mut workers = Vec::new();
    for _ in 0..load.concurrency.max(1) {
        let (op, next, first_error) = (op.clone(), next.clone(), first_error.clone());
        workers.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::with_capacity(4096));
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= load.max_ops {
                    break;
                }
                let t = match load.rate {
                    Some(rate) if rate > 0.0 => {
                        let due = start + Duration::from_secs_f64(i as f64 / rate);
                        if due >= deadline {
                            break;
                        }
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    _ => Instant::now(),
                };
                let outcome = op(i).await;
                latencies.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                match outcome {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        errors += 1;
                        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        if slot.is_none() {
                            *slot = Some(e);
                        }
                    }
                }
            }
            (ok, errors, latencies)
        }));
    }
    let mut sample = Sample::default();
    for w in workers {
        if let Ok((ok, errors, latencies)) = w.await {
            sample.ok += ok;
            sample.errors += errors;
            sample.latencies_us.extend(latencies);
        }
    }
    sample.secs = start.elapsed().as_secs_f64();
    let err = first_error.lock().unwrap_or_else(|p| p.into_inner()).take();
    (sample, err)
}

/// Percent-encode a query-string value (UTF-8 bytes; unreserved characters kept).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A WeChat-style JSON answer: `Ok` when `errcode` is 0, else the body (shortened). Only
/// `errcode` is read; the rest of the body is skipped, not built into a value.
pub fn errcode_ok(status: u16, body: &[u8]) -> Outcome {
    #[derive(serde::Deserialize)]
    struct Answer {
        errcode: Option<i64>,
    }
    let errcode = serde_json::from_slice::<Answer>(body).ok().and_then(|a| a.errcode);
    if status == 200 && errcode == Some(0) {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(body);
        Err(format!("HTTP {status}: {}", text.chars().take(300).collect::<String>()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_chinese_and_reserved() {
        assert_eq!(url_encode("读书"), "%E8%AF%BB%E4%B9%A6");
        assert_eq!(url_encode("a b&c"), "a%20b%26c");
        assert_eq!(url_encode("wx-1_.~"), "wx-1_.~");
    }

    #[test]
    fn errcode_zero_is_success() {
        assert!(errcode_ok(200, br#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        assert!(errcode_ok(200, br#"{"errcode":86202}"#).is_err());
        assert!(errcode_ok(500, br#"{"errcode":0}"#).is_err());
        assert!(errcode_ok(200, b"not json").is_err());
    }

    #[tokio::test]
    async fn load_is_bounded_by_count_and_time() {
        let load = Load { concurrency: 4, duration: Duration::from_secs(5), max_ops: 100, rate: None };
        let (s, err) = run(load, |i| async move {
            if i % 10 == 0 {
                Err(format!("e{i}"))
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(s.ok + s.errors, 100);
        assert_eq!(s.errors, 10);
        assert_eq!(s.latencies_us.len(), 100);
        assert!(err.is_some_and(|e| e.starts_with('e')));
        let load =
            Load { concurrency: 2, duration: Duration::from_millis(200), max_ops: u64::MAX, rate: None };
        let (s, _) = run(load, |_| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(())
        })
        .await;
        assert!(s.secs < 2.0 && s.ok > 5);
        // Paced: 100/s for 0.5 s is about 50 operations, however fast they are.
        let load = Load {
            concurrency: 8,
            duration: Duration::from_millis(500),
            max_ops: u64::MAX,
            rate: Some(100.0),
        };
        let (s, _) = run(load, |_| async { Ok(()) }).await;
        assert!((45..=51).contains(&s.ok), "{}", s.ok);
    }
}
