//! Per-client limits of the surfaces anyone can reach without an account: the public query
//! and the two sign-in forms. Fixed windows counted in memory, per node (with several nodes
//! the effective limit is per node, as for the API's `45011`).
//!
//! A client is its IP address — an IPv6 client by its /64, since one host commonly holds a
//! whole /64. The address is the TCP peer unless [`WebLimitsConfig::client_ip_header`] names
//! the header a reverse proxy sets; that header is trusted blindly, so name it only when every
//! request reaches beian through that proxy.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

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

/// The limits of one node.
#[derive(Debug)]
pub struct WebLimits {
    pub public_query: FixedWindow,
    pub login_failures: FixedWindow,
    client_ip_header: Option<String>,
}

impl WebLimits {
    /// Before a sign-in is checked: `Err((retry_after_secs, Chinese message))` when this
    /// address has failed too often (console and staff pages say the same).
    pub fn login_refused(&self, ip: Option<IpAddr>, now: i64) -> Result<(), (i64, String)> {
        self.login_failures.check(ip, now).map_err(|l| {
            let msg = format!(
                "登录失败次数过多：同一网络地址15分钟内最多失败{}次，请{}分钟后再试",
                self.login_failures.limit(),
                (l.retry_after_secs + 59) / 60
            );
            (l.retry_after_secs, msg)
        })
    }

    pub fn new(config: &WebLimitsConfig) -> WebLimits {
        WebLimits {
            public_query: FixedWindow::new(config.public_query_per_minute, 60),
            login_failures: FixedWindow::new(config.login_failures_per_ip, LOGIN_WINDOW_SECS),
            client_ip_header: config.client_ip_header.as_ref().map(|h| h.trim().to_ascii_lowercase()),
        }
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
    limit: u32,
    window_secs: i64,
    /// client → (window number, events in it).
    counts: Mutex<HashMap<IpAddr, (i64, u32)>>,
}

/// Over the limit: the seconds until the window ends (for `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_secs: i64,
}

impl FixedWindow {
    /// `limit` 0: no limit.
    pub fn new(limit: u32, window_secs: i64) -> FixedWindow {
        FixedWindow { limit, window_secs: window_secs.max(1), counts: Mutex::new(HashMap::new()) }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Count an event of `ip` at `now` (unix seconds); refused when the window's quota is
    /// spent (a refused event is not counted). Requests without an address share one bucket.
    pub fn hit(&self, ip: Option<IpAddr>, now: i64) -> Result<(), Limited> {
        self.count(ip, now, true)
    }

    /// Whether `ip` is over the limit at `now`, without counting.
    pub fn check(&self, ip: Option<IpAddr>, now: i64) -> Result<(), Limited> {
        self.count(ip, now, false)
    }

    fn count(&self, ip: Option<IpAddr>, now: i64, add: bool) -> Result<(), Limited> {
        if self.limit == 0 {
            return Ok(());
        }
        let key = client_key(ip.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        let window = now.div_euclid(self.window_secs);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > 100_000 {
            counts.retain(|_, (w, _)| *w == window);
        }
        let entry = counts.entry(key).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= self.limit {
            return Err(Limited { retry_after_secs: (window + 1) * self.window_secs - now });
        }
        if add {
            entry.1 += 1;
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

    #[test]
    fn fixed_windows_per_client() {
        let w = FixedWindow::new(3, 60);
        for _ in 0..3 {
            assert_eq!(w.hit(ip("10.0.0.1"), 120), Ok(()));
        }
        assert_eq!(w.hit(ip("10.0.0.1"), 150), Err(Limited { retry_after_secs: 30 }));
        assert_eq!(w.check(ip("10.0.0.1"), 179), Err(Limited { retry_after_secs: 1 }));
        assert_eq!(w.hit(ip("10.0.0.2"), 150), Ok(()), "another client");
        assert!(w.hit(ip("::ffff:10.0.0.1"), 150).is_err(), "IPv4-mapped is the same client");
        assert_eq!(w.hit(ip("10.0.0.1"), 180), Ok(()), "the next window");
        // IPv6 by /64.
        let w = FixedWindow::new(1, 60);
        assert_eq!(w.hit(ip("2001:db8:1:2::1"), 0), Ok(()));
        assert!(w.hit(ip("2001:db8:1:2:ffff::9"), 0).is_err(), "same /64");
        assert_eq!(w.hit(ip("2001:db8:1:3::1"), 0), Ok(()), "another /64");
        // check() does not count; 0 is no limit.
        let w = FixedWindow::new(1, 60);
        assert_eq!(w.check(None, 0), Ok(()));
        assert_eq!(w.hit(None, 0), Ok(()));
        assert!(w.hit(None, 0).is_err(), "no address: one shared bucket");
        let off = FixedWindow::new(0, 60);
        assert!((0..1000).all(|_| off.hit(ip("10.0.0.1"), 0).is_ok()));
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
