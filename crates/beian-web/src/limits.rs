//! Per-client limits of the surfaces anyone can reach without an account: the public query
//! and the two sign-in forms, in fixed windows aligned to the clock.
//!
//! What counts is a [`LimitCounter`]: [`MemoryCounter`] (one node: SQLite, the default)
//! counts in this process; with PostgreSQL the binary gives one that counts in the shared
//! database (`beian_service::rate_limits`), so every node sees the same counts and a limit is
//! the cluster's, exactly (one upsert per counted event: these events are rare).
//!
//! A client is its IP address — an IPv6 client by its /64, since one host commonly holds a
//! whole /64. The address is the TCP peer unless [`WebLimitsConfig::client_ip_header`] names
//! the header a reverse proxy sets; that header is trusted blindly, so name it only when every
//! request reaches beian through that proxy.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
/// The settings (`[limits]` in beian.toml, or the environment / flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebLimitsConfig {
    /// Public queries (`/query` with a query, `/api/public/query`) per client per minute;
    /// 0 turns the limit off.
    pub public_query_per_minute: u32,
    /// Failed sign-ins (console passwords, staff tokens) per client per 15 minutes, whatever
    /// the user names; 0 turns the limit off. The per-account lockout applies besides.
    pub login_failures_per_ip: u32,
    /// The header holding the client address, set by a reverse proxy in front of beian
    /// (`x-forwarded-for`: its last entry, the address the proxy saw; `x-real-ip`). `None`:
    /// the TCP peer address.
    pub client_ip_header: Option<String>,
}

impl Default for WebLimitsConfig {
    fn default() -> Self {
        WebLimitsConfig { public_query_per_minute: 60, login_failures_per_ip: 20, client_ip_header: None }
    }
}

/// The window of the sign-in limit, as long as the per-account lockout.
pub const LOGIN_WINDOW_SECS: i64 = 15 * 60;

/// An addition to one counted window (`n` 0: only read it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Which limit: `public_query`, `login_failures`, `api`.
    pub scope: &'static str,
    /// What is counted under it: a client address, `appid/endpoint`.
    pub key: String,
    /// Unix second the window starts (a multiple of `window_secs`).
    pub window_start: i64,
    pub window_secs: i64,
    pub n: u64,
}

/// Counting failed (the database could not be reached); the message is for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterError(pub String);

/// The counts after the additions, in the order of the hits.
pub type CountFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u64>, CounterError>> + Send + 'a>>;

/// Where limit counts live: in this process ([`MemoryCounter`]) or shared by every node.
/// The seam every counted limit goes through (this module's and the API's `45011`).
pub trait LimitCounter: Send + Sync + std::fmt::Debug {
    /// Add each hit's `n` to its window and return every window's count after it — on a
    /// shared counter, including what other nodes added.
    fn add_and_read(&self, hits: Vec<Hit>) -> CountFuture<'_>;
}

/// Counts in this process (one node). Windows that ended are forgotten once more than
/// 100,000 keys are held.
#[derive(Debug, Default)]
pub struct MemoryCounter {
    counts: Mutex<Counts>,
}

/// (scope, key) → (window start, count).
type Counts = HashMap<(&'static str, String), (i64, u64)>;

impl MemoryCounter {
    /// [`LimitCounter::add_and_read`], at once.
    pub fn add_now(&self, hits: &[Hit]) -> Vec<u64> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > 100_000 {
            if let Some(now) = hits.iter().map(|h| h.window_start).max() {
                counts.retain(|_, (start, _)| *start >= now - LOGIN_WINDOW_SECS);
            }
        }
        hits.iter()
            .map(|h| {
                let entry = counts.entry((h.scope, h.key.clone())).or_insert((h.window_start, 0));
                if entry.0 != h.window_start {
                    *entry = (h.window_start, 0);
                }
                entry.1 = entry.1.saturating_add(h.n);
                entry.1
            })
            .collect()
    }
}

impl LimitCounter for MemoryCounter {
    fn add_and_read(&self, hits: Vec<Hit>) -> CountFuture<'_> {
        let counts = self.add_now(&hits);
        Box::pin(std::future::ready(Ok(counts)))
    }
}

/// The limits of one node, counted by its [`LimitCounter`].
#[derive(Debug)]
pub struct WebLimits {
    pub public_query: FixedWindow,
    pub login_failures: FixedWindow,
    counter: Arc<dyn LimitCounter>,
    /// Counts on this node while a shared counter fails.
    fallback: MemoryCounter,
    client_ip_header: Option<String>,
}

impl WebLimits {
    /// Counted in this process.
    pub fn new(config: &WebLimitsConfig) -> WebLimits {
        WebLimits::with_counter(config, Arc::new(MemoryCounter::default()))
    }

    /// Counted by `counter` (shared by every node on PostgreSQL).
    pub fn with_counter(config: &WebLimitsConfig, counter: Arc<dyn LimitCounter>) -> WebLimits {
        WebLimits {
            public_query: FixedWindow::new("public_query", config.public_query_per_minute, 60),
            login_failures: FixedWindow::new(
                "login_failures",
                config.login_failures_per_ip,
                LOGIN_WINDOW_SECS,
            ),
            counter,
            fallback: MemoryCounter::default(),
            client_ip_header: config.client_ip_header.as_ref().map(|h| h.trim().to_ascii_lowercase()),
        }
    }

    /// Count an event of `ip` in `limit` at `now` (unix seconds); refused when it is over
    /// the window's quota. Requests without an address share one bucket. While the counter
    /// fails (the shared one logs why), this node counts in memory on its own.
    pub async fn hit(&self, limit: &FixedWindow, ip: Option<IpAddr>, now: i64) -> Result<(), Limited> {
        self.count(limit, ip, now, 1).await
    }

    /// Whether `ip` is over `limit` at `now`, without counting.
    pub async fn check(&self, limit: &FixedWindow, ip: Option<IpAddr>, now: i64) -> Result<(), Limited> {
        self.count(limit, ip, now, 0).await
    }

    async fn count(&self, limit: &FixedWindow, ip: Option<IpAddr>, now: i64, n: u64) -> Result<(), Limited> {
        let Some(hit) = limit.hit(ip, now, n) else {
            return Ok(());
        };
        let start = hit.window_start;
        let counts = match self.counter.add_and_read(vec![hit.clone()]).await {
            Ok(counts) => counts,
            Err(_) => self.fallback.add_now(&[hit]),
        };
        limit.judge(counts.first().copied().unwrap_or(0), n, start, now)
    }

    /// A public query by `ip` (counted).
    pub async fn public_query(&self, ip: Option<IpAddr>, now: i64) -> Result<(), Limited> {
        self.hit(&self.public_query, ip, now).await
    }

    /// A failed sign-in by `ip` (counted).
    pub async fn login_failed(&self, ip: Option<IpAddr>, now: i64) {
        let _ = self.hit(&self.login_failures, ip, now).await;
    }

    /// Before a sign-in is checked: `Err((retry_after_secs, Chinese message))` when this
    /// address has failed too often (console and staff pages say the same).
    pub async fn login_refused(&self, ip: Option<IpAddr>, now: i64) -> Result<(), (i64, String)> {
        self.check(&self.login_failures, ip, now).await.map_err(|l| {
            let msg = format!(
                "登录失败次数过多：同一网络地址15分钟内最多失败{}次，请{}分钟后再试",
                self.login_failures.limit(),
                (l.retry_after_secs + 59) / 60
            );
            (l.retry_after_secs, msg)
        })
    }

    /// The client's address: from the configured header if it holds one, else the TCP peer.
    /// `header` looks a request header up by (lower-case) name.
    pub fn client_ip<'a>(
        &self,
        peer: Option<IpAddr>,
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> Option<IpAddr> {
        let forwarded = self
            .client_ip_header
            .as_deref()
            .and_then(header)
            .and_then(|v| v.rsplit(',').next())
            .and_then(|last| parse_ip(last.trim()));
        forwarded.or(peer)
    }
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|r| r.parse().ok())
}

/// The key a client is counted under: IPv4 as is (and IPv4-mapped IPv6 as IPv4), IPv6 by /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// `limit` events per client per `window_secs`, in fixed windows aligned to the clock.
#[derive(Debug)]
pub struct FixedWindow {
    /// The counter's scope (`public_query`, `login_failures`).
    scope: &'static str,
    limit: u32,
    window_secs: i64,
}

/// Over the limit: the seconds until the window ends (for `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_secs: i64,
}

impl FixedWindow {
    /// `limit` 0: no limit.
    pub fn new(scope: &'static str, limit: u32, window_secs: i64) -> FixedWindow {
        FixedWindow { scope, limit, window_secs: window_secs.max(1) }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// What to count for an event of `ip` at `now` (`None`: no limit).
    fn hit(&self, ip: Option<IpAddr>, now: i64, n: u64) -> Option<Hit> {
        if self.limit == 0 {
            return None;
        }
        let key = client_key(ip.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        Some(Hit {
            scope: self.scope,
            key: key.to_string(),
            window_start: now.div_euclid(self.window_secs) * self.window_secs,
            window_secs: self.window_secs,
            n,
        })
    }

    /// Whether `count` (after adding `n`) is over the limit. A counted event is refused when
    /// it is past the limit; a check (n = 0) when the limit is reached.
    fn judge(&self, count: u64, n: u64, window_start: i64, now: i64) -> Result<(), Limited> {
        let before = count.saturating_sub(n);
        if before >= u64::from(self.limit) {
            return Err(Limited { retry_after_secs: (window_start + self.window_secs - now).max(1) });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    /// Runs a future that is ready at once (the memory counter's).
    fn ready<T>(f: impl Future<Output = T>) -> T {
        use std::task::{Context, Poll, Wake, Waker};
        struct Noop;
        impl Wake for Noop {
            fn wake(self: Arc<Self>) {}
        }
        let waker = Waker::from(Arc::new(Noop));
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the memory counter is never pending"),
        }
    }

    /// Public queries limited to `limit` a minute, counted in memory.
    fn per_minute(limit: u32) -> WebLimits {
        WebLimits::new(&WebLimitsConfig { public_query_per_minute: limit, ..WebLimitsConfig::default() })
    }

    #[test]
    fn fixed_windows_per_client() {
        let w = per_minute(3);
        let hit = |ip, now| ready(w.public_query(ip, now));
        for _ in 0..3 {
            assert_eq!(hit(ip("10.0.0.1"), 120), Ok(()));
        }
        assert_eq!(hit(ip("10.0.0.1"), 150), Err(Limited { retry_after_secs: 30 }));
        assert_eq!(
            ready(w.check(&w.public_query, ip("10.0.0.1"), 179)),
            Err(Limited { retry_after_secs: 1 })
        );
        assert_eq!(hit(ip("10.0.0.2"), 150), Ok(()), "another client");
        assert!(hit(ip("::ffff:10.0.0.1"), 150).is_err(), "IPv4-mapped is the same client");
        assert_eq!(hit(ip("10.0.0.1"), 180), Ok(()), "the next window");
        // IPv6 by /64.
        let w = per_minute(1);
        let hit = |ip, now| ready(w.public_query(ip, now));
        assert_eq!(hit(ip("2001:db8:1:2::1"), 0), Ok(()));
        assert!(hit(ip("2001:db8:1:2:ffff::9"), 0).is_err(), "same /64");
        assert_eq!(hit(ip("2001:db8:1:3::1"), 0), Ok(()), "another /64");
        // check() does not count; 0 is no limit.
        let w = per_minute(1);
        assert_eq!(ready(w.check(&w.public_query, None, 0)), Ok(()));
        assert_eq!(ready(w.public_query(None, 0)), Ok(()));
        assert!(ready(w.public_query(None, 0)).is_err(), "no address: one shared bucket");
        let off = per_minute(0);
        assert!((0..1000).all(|_| ready(off.public_query(ip("10.0.0.1"), 0)).is_ok()));
    }

    #[test]
    fn sign_in_failures_lock_out_for_the_window() {
        let w = WebLimits::new(&WebLimitsConfig { login_failures_per_ip: 2, ..WebLimitsConfig::default() });
        assert_eq!(ready(w.login_refused(ip("10.0.0.1"), 900)), Ok(()));
        ready(w.login_failed(ip("10.0.0.1"), 900));
        assert_eq!(ready(w.login_refused(ip("10.0.0.1"), 901)), Ok(()), "checking counts nothing");
        ready(w.login_failed(ip("10.0.0.1"), 901));
        let (retry, msg) = ready(w.login_refused(ip("10.0.0.1"), 902)).expect_err("locked out");
        assert_eq!(retry, 1800 - 902);
        assert!(msg.contains("最多失败2次") && msg.contains("15分钟后"), "{msg}");
        assert_eq!(ready(w.login_refused(ip("10.0.0.1"), 1800)), Ok(()), "the next window");
        // The public query is counted apart.
        assert_eq!(ready(w.public_query(ip("10.0.0.1"), 902)), Ok(()));
    }

    #[test]
    fn client_ip_trusts_only_the_configured_header() {
        let headers = |name: &str| match name {
            "x-forwarded-for" => Some("6.6.6.6, 203.0.113.7"),
            "x-real-ip" => Some("[2001:db8::5]:443"),
            _ => None,
        };
        let peer = ip("127.0.0.1");
        let direct = WebLimits::new(&WebLimitsConfig::default());
        assert_eq!(direct.client_ip(peer, headers), peer, "headers ignored unless configured");
        let xff = WebLimits::new(&WebLimitsConfig {
            client_ip_header: Some("X-Forwarded-For".into()),
            ..WebLimitsConfig::default()
        });
        assert_eq!(xff.client_ip(peer, headers), ip("203.0.113.7"), "the entry the proxy appended");
        assert_eq!(xff.client_ip(peer, |_| None), peer, "no header: the peer");
        assert_eq!(xff.client_ip(peer, |_| Some("garbage")), peer);
        let real = WebLimits::new(&WebLimitsConfig {
            client_ip_header: Some("x-real-ip".into()),
            ..WebLimitsConfig::default()
        });
        assert_eq!(real.client_ip(peer, headers), ip("2001:db8::5"));
    }
}
