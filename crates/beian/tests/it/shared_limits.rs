//! Rate limits several nodes on one PostgreSQL share (ARCHITECTURE.md, "Decisions worth
//! knowing"): failed sign-ins and public queries per client address are counted in the
//! database, exactly; the API's minute quota is counted on each node and flushed to the
//! database once a second, within the bound documented in `beian_api::limits`.

use crate::reliability::{pg_base, psql, Shared};
use crate::support::Backend;
use beian::app::Application;
use beian::limits::SharedCounter;
use beian_api::RateLimiter;
use beian_service::rate_limits::RateHit;
use beian_service::{Clock, Service};
use std::sync::Arc;

/// A node serving HTTP with the default per-client limits (60 queries a minute, 20 failed
/// sign-ins per 15 minutes).
struct Node {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Node {
    async fn serve((store, svc): (beian_store::Store, Arc<Service>)) -> Node {
        let app =
            Application::with_service("127.0.0.1:0", &store, svc, beian::config::GatewayChoice::Simulator)
                .await
                .expect("bind")
                .with_web_limits(beian_web::limits::WebLimitsConfig::default());
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run(async {
            let _ = rx.await;
        }));
        Node { base, stop, server }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.expect("join").expect("server stopped cleanly");
    }
}

/// One failed sign-in on `node` (console password, or staff token on odd `i`): the status.
async fn fail_sign_in(http: &reqwest::Client, node: &Node, i: usize) -> u16 {
    let r = if i % 2 == 1 {
        http.post(format!("{}/admin/login", node.base)).form(&[("token", format!("guess{i}"))])
    } else {
        http.post(format!("{}/console/login", node.base))
            .form(&[("username", format!("nobody{i}")), ("password", "guess-123".into())])
    };
    r.send().await.expect("send").status().as_u16()
}

async fn query(http: &reqwest::Client, node: &Node) -> (u16, String) {
    let r = http.get(format!("{}/api/public/query", node.base)).query(&[("q", "读书")]).send().await;
    let r = r.expect("send");
    (r.status().as_u16(), r.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_failures_and_public_queries_are_counted_across_nodes_on_postgres() {
    let shared = Shared::new(Backend::Postgres).await;
    let nodes = [
        Node::serve(shared.node_with_store().await).await,
        Node::serve(shared.node_with_store().await).await,
    ];
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");

    // 20 failed sign-ins from one address, spread over both nodes and both forms: each is
    // looked at; then the address is refused on both nodes.
    for i in 0..20 {
        assert_eq!(fail_sign_in(&http, &nodes[(i / 2) % 2], i).await, 401, "failure {i}");
    }
    for (n, node) in nodes.iter().enumerate() {
        for i in 0..2 {
            let status = fail_sign_in(&http, node, i).await;
            assert_eq!(status, 429, "node {n}, {} form: locked out", ["console", "staff"][i]);
        }
    }
    let r = http
        .post(format!("{}/console/login", nodes[1].base))
        .form(&[("username", "nobody"), ("password", "guess-123")])
        .send()
        .await
        .expect("send");
    let retry: i64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=900).contains(&retry), "{retry}");
    let page = r.text().await.expect("body");
    assert!(page.contains("同一网络地址15分钟内最多失败20次"), "{page}");

    // 60 public queries a minute per address, across the nodes: 30 on each are answered,
    // the 61st is refused wherever it lands.
    for i in 0..60 {
        let (status, body) = query(&http, &nodes[i % 2]).await;
        assert_eq!(status, 200, "query {i}: {body}");
    }
    for (n, node) in nodes.iter().enumerate() {
        let (status, body) = query(&http, node).await;
        assert_eq!(status, 429, "node {n}: {body}");
        assert!(body.contains("每分钟最多查询60次"), "{body}");
    }
    // The next minute: answered again on both.
    shared.clock.advance(chrono::Duration::seconds(60));
    for node in &nodes {
        assert_eq!(query(&http, node).await.0, 200);
    }
    // After the sign-in window (15 minutes), the address may try again on both.
    shared.clock.advance(chrono::Duration::minutes(15));
    for node in &nodes {
        assert_eq!(fail_sign_in(&http, node, 0).await, 401);
    }

    for node in nodes {
        node.stop().await;
    }
    if let Some(schema) = &shared.schema {
        psql(&pg_base(), &format!("DROP SCHEMA {schema} CASCADE"));
    }
}

/// The shared count of one API window, as the database holds it.
async fn stored(svc: &Service, key: &str, window_start: i64) -> i64 {
    let read = RateHit { scope: "api", key: key.into(), window_start, window_secs: 60, n: 0 };
    svc.operations().add_rate_counts(&[read]).await.expect("read")[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_minute_quota_is_shared_within_the_documented_bound() {
    const L: u32 = 50;
    let shared = Shared::new(Backend::Postgres).await;
    let (sa, sb) = (shared.node().await, shared.node().await);
    let a = RateLimiter::shared(L, Arc::new(SharedCounter::new(sa.clone())));
    let b = RateLimiter::shared(L, Arc::new(SharedCounter::new(sb.clone())));
    let minute = shared.clock.now().timestamp().div_euclid(60) * 60;
    let allowed = |l: &RateLimiter, now: i64, n: u32| (0..n).filter(|_| l.allow("wx1", "apply", now)).count();

    // The worst case: a burst on every node before any flush. Each node alone admits no more
    // than L, so the cluster no more than N × L; after a flush on both, both refuse.
    assert_eq!(allowed(&a, minute, L + 10), L as usize, "a node counts its own calls exactly");
    let burst_b = allowed(&b, minute + 1, L + 10);
    assert!(burst_b <= L as usize, "{burst_b}");
    a.flush().await.expect("flush a");
    b.flush().await.expect("flush b");
    assert_eq!(stored(&sa, "wx1/apply", minute).await, i64::from(L) + burst_b as i64);
    assert_eq!(allowed(&b, minute + 2, 5), 0, "b read the total");
    assert_eq!(allowed(&a, minute + 2, 5), 0, "a's own calls reach the limit");

    // Steady calls, 5 per node between flushes (a flush a second: 10 calls a second across the
    // cluster): the cluster admits at least L and at most L + two flush intervals of calls.
    let next = minute + 60;
    let mut total = 0;
    for round in 0..20 {
        total += allowed(&a, next + round, 5);
        total += allowed(&b, next + round, 5);
        a.flush().await.expect("flush a");
        b.flush().await.expect("flush b");
    }
    assert!((L as usize..=L as usize + 2 * 10).contains(&total), "admitted {total} of {L}");
    assert_eq!(stored(&sb, "wx1/apply", next).await, total as i64, "every admitted call was shared");

    // The background task flushes within about a second without being asked.
    let third = minute + 120;
    let mut flushes = a.flushes();
    flushes.borrow_and_update();
    assert!(a.allow("wx1", "apply", third));
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        // A flush that began before the call may end first: wait for the one that took it.
        while stored(&sb, "wx1/apply", third).await != 1 {
            flushes.changed().await.expect("limiter alive");
        }
    })
    .await
    .expect("the call shared within 5 s");

    drop((a, b));
    if let Some(schema) = &shared.schema {
        psql(&pg_base(), &format!("DROP SCHEMA {schema} CASCADE"));
    }
}
