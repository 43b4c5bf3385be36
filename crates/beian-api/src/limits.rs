//! Per-appid, per-endpoint call limits (`45011 api minute-quota reach limit`).
//!
//! Counted in memory per node, in fixed one-minute windows: with several nodes the
//! effective limit is per node (documented in the README).

use std::collections::HashMap;
use std::sync::Mutex;

/// (appid, endpoint) → (minute, calls in that minute).
type Windows = HashMap<(String, &'static str), (i64, u32)>;

pub struct RateLimiter {
    limit: u32,
    windows: Mutex<Windows>,
}

impl RateLimiter {
    pub fn new(limit: u32) -> RateLimiter {
        RateLimiter { limit, windows: Mutex::new(HashMap::new()) }
    }

    /// Count a call at `now` (unix seconds); false when the minute's quota is spent.
    pub fn allow(&self, appid: &str, api: &'static str, now: i64) -> bool {
        let minute = now.div_euclid(60);
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if w.len() > 100_000 {
            w.retain(|_, (m, _)| *m == minute);
        }
        let entry = w.entry((appid.to_string(), api)).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= self.limit {
            return false;
        }
        entry.1 += 1;
        true
    }
}
