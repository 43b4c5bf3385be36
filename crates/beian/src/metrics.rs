//! `/metrics` in Prometheus text format: request latency histograms per route, job queue
//! depth and age, filings by status. Served only with a bearer token configured
//! (`[metrics] token`, `BEIAN_METRICS_TOKEN`); without one there is no such page (404).

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use beian_service::Service;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Who may read `/metrics`: nobody (the route is not mounted) unless a bearer token is
/// configured. Only the token's SHA-256 is kept; a presented token is hashed and compared in
/// constant time.
#[derive(Clone, Default)]
pub struct MetricsAccess {
    token_sha256: Option<[u8; 32]>,
}

/// Shorter tokens are refused at startup: a scraper's token is typed once, it can be long.
pub const MIN_TOKEN_LEN: usize = 16;

impl MetricsAccess {
    /// Readable with `Authorization: Bearer <token>`.
    pub fn with_token(token: &str) -> MetricsAccess {
        MetricsAccess { token_sha256: Some(sha256(token)) }
    }

    pub fn enabled(&self) -> bool {
        self.token_sha256.is_some()
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(want) = &self.token_sha256 else { return false };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        given.is_some_and(|g| beian_store::crypto::constant_time_eq(&sha256(g), want))
    }
}

impl std::fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.enabled() { "MetricsAccess(token)" } else { "MetricsAccess(off)" })
    }
}

fn sha256(s: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).into()
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Default)]
struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
    }
}

/// (method, route template) → its histogram.
type Routes = HashMap<(String, String), Arc<Histogram>>;

/// Latency per (method, route template). Cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics {
    routes: Arc<RwLock<Routes>>,
}

impl Metrics {
    fn histogram(&self, method: &str, route: &str) -> Arc<Histogram> {
        let key = (method.to_string(), route.to_string());
        if let Some(h) = self.routes.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return h.clone();
        }
        self.routes.write().unwrap_or_else(|p| p.into_inner()).entry(key).or_default().clone()
    }
}

/// Middleware: time every request by its route template (never the raw path: bounded
/// cardinality, no tokens in labels).
pub async fn track(State(m): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    m.histogram(&method, &route).observe(start.elapsed().as_secs_f64());
    resp
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// GET /metrics, with the configured bearer token (else 401).
pub async fn render(
    State((m, svc, access)): State<(Metrics, Arc<Service>, MetricsAccess)>,
    headers: HeaderMap,
) -> Response {
    if !access.allows(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "/metrics 需要令牌：请求头 Authorization: Bearer <[metrics] token 或 BEIAN_METRICS_TOKEN 的值>",
        )
            .into_response();
    }
    let mut out = String::new();
    out.push_str("# HELP beian_http_request_duration_seconds Request latency by route.\n# TYPE beian_http_request_duration_seconds histogram\n");
    let routes = m.routes.read().unwrap_or_else(|p| p.into_inner()).clone();
    let mut keys: Vec<_> = routes.keys().cloned().collect();
    keys.sort();
    for key in keys {
        let Some(h) = routes.get(&key) else { continue };
        let (method, route) = (label(&key.0), label(&key.1));
        for (i, b) in BUCKETS.iter().enumerate() {
            out.push_str(&format!(
                "beian_http_request_duration_seconds_bucket{{method=\"{method}\",route=\"{route}\",le=\"{b}\"}} {}\n",
                h.counts[i].load(Ordering::Relaxed)
            ));
        }
        let count = h.count.load(Ordering::Relaxed);
        out.push_str(&format!("beian_http_request_duration_seconds_bucket{{method=\"{method}\",route=\"{route}\",le=\"+Inf\"}} {count}\n"));
        out.push_str(&format!(
            "beian_http_request_duration_seconds_sum{{method=\"{method}\",route=\"{route}\"}} {}\n",
            h.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        ));
        out.push_str(&format!(
            "beian_http_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\"}} {count}\n"
        ));
    }
    let now = svc.now().timestamp();
    out.push_str("# HELP beian_jobs Jobs by state.\n# TYPE beian_jobs gauge\n");
    out.push_str("# HELP beian_job_oldest_age_seconds Age of the oldest due job by state.\n# TYPE beian_job_oldest_age_seconds gauge\n");
    match svc.job_queue().job_stats().await {
        Ok(stats) => {
            for (state, n, oldest) in stats {
                out.push_str(&format!("beian_jobs{{state=\"{}\"}} {n}\n", label(&state)));
                if state == "pending" || state == "running" {
                    out.push_str(&format!(
                        "beian_job_oldest_age_seconds{{state=\"{}\"}} {}\n",
                        label(&state),
                        (now - oldest).max(0)
                    ));
                }
            }
        }
        Err(e) => tracing::warn!("metrics: job stats: {e}"),
    }
    out.push_str("# HELP beian_group_commits_total Commits of a grouping committer (applies on both databases, the job worker's writes on SQLite).\n# TYPE beian_group_commits_total counter\n");
    out.push_str("# HELP beian_group_commit_writes_total Writes those commits carried.\n# TYPE beian_group_commit_writes_total counter\n");
    for (kind, commits, writes) in svc.operations().group_commits() {
        out.push_str(&format!("beian_group_commits_total{{kind=\"{kind}\"}} {commits}\n"));
        out.push_str(&format!("beian_group_commit_writes_total{{kind=\"{kind}\"}} {writes}\n"));
    }
    out.push_str("# HELP beian_filings Filing orders by stored status.\n# TYPE beian_filings gauge\n");
    match svc.operations().filings_by_status().await {
        Ok(list) => {
            for (status, n) in list {
                out.push_str(&format!("beian_filings{{status=\"{status}\"}} {n}\n"));
            }
        }
        Err(e) => tracing::warn!("metrics: filings: {e}"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}
