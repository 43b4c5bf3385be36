//! Dedupe and per-number limits of SMS, on beian's side before any sender (`[sms.limits]`).
//!
//! Vendors cap texts per number — Aliyun's default 短信发送频率限制 for verification texts is
//! 1 a minute, 5 an hour and 10 a day per number (REAL-WORLD.md, "SMS"), and Tencent Cloud's
//! defaults are alike — and answer a capped text with an error
//! (`isv.BUSINESS_LIMIT_CONTROL`, `LimitExceeded.PhoneNumber*Limit`). beian counts first, so a
//! capped text waits in the queue instead of bouncing off the vendor:
//!
//! - the same event with the same parameters to the same number within `dedupe_secs` is sent
//!   once (the later job completes, logged, without a second text);
//! - a text over a per-minute, per-hour or per-day cap is **deferred** to the end of the
//!   full window (the job's last error says which cap), or dead-lettered with that reason
//!   when it has no attempts left — never dropped.
//!
//! Counts live in `rate_windows` (fixed windows, shared by every node on PostgreSQL), keyed by
//! a keyed hash of the number (`Crypto::secret_mac`), never the number itself. A text is
//! counted once its sender accepted it, so two workers racing for one number may both send.

use crate::aggregates::JobQueue;
use crate::Result;
use beian_store::rate_windows::RateHit;

/// `[sms.limits]`; `0` turns a cap off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsLimits {
    pub per_minute: i64,
    pub per_hour: i64,
    pub per_day: i64,
    /// The same event + parameters to the same number within this many seconds: sent once.
    pub dedupe_secs: i64,
}

impl Default for SmsLimits {
    /// The vendors' default verification caps: 1/minute, 5/hour, 10/day; dedupe 10 minutes.
    fn default() -> Self {
        SmsLimits { per_minute: 1, per_hour: 5, per_day: 10, dedupe_secs: 600 }
    }
}

/// What may happen to one text now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsAdmission {
    Send,
    /// The same text went to this number within the dedupe window.
    Duplicate,
    /// Over a cap: wait until `until` (unix second); `reason` names the cap, for operators.
    Capped {
        until: i64,
        reason: String,
    },
}

impl crate::Service {
    /// Set `[sms.limits]` (startup).
    pub fn set_sms_limits(&self, limits: SmsLimits) {
        *self.sms_limits.write().unwrap_or_else(|e| e.into_inner()) = limits;
    }

    pub fn sms_limits(&self) -> SmsLimits {
        *self.sms_limits.read().unwrap_or_else(|e| e.into_inner())
    }
}

const CAPS: [(&str, i64); 3] = [("sms_minute", 60), ("sms_hour", 3600), ("sms_day", 86_400)];
const DEDUPE: &str = "sms_dedupe";

impl JobQueue<'_> {
    fn sms_keys(&self, phone: &str, event: &str, params: &[(String, String)]) -> (String, String) {
        let crypto = self.store.crypto();
        let phone: String = phone.chars().filter(|c| c.is_ascii_digit()).collect();
        let number = crypto.secret_mac(&["sms-number", &phone]);
        let mut parts = vec!["sms-text", phone.as_str(), event];
        for (k, v) in params {
            parts.push(k);
            parts.push(v);
        }
        (number, crypto.secret_mac(&parts))
    }

    /// Whether a text may go out now (read only; [`JobQueue::record_sms`] counts it once sent).
    pub async fn admit_sms(
        &self,
        phone: &str,
        event: &str,
        params: &[(String, String)],
    ) -> Result<SmsAdmission> {
        let limits = self.sms_limits();
        let now = self.now().timestamp();
        let (number, text) = self.sms_keys(phone, event, params);
        // Every window in one statement, without a transaction (the worker asks this for
        // each text; a count a moment old is what a racing sender would have seen too).
        let mut windows: Vec<(&str, &str, i64)> = Vec::with_capacity(5);
        if limits.dedupe_secs > 0 {
            let w = limits.dedupe_secs;
            let start = now - now.rem_euclid(w);
            // This window and the one before: a repeat is caught for at least `dedupe_secs`.
            windows.push((DEDUPE, &text, start));
            windows.push((DEDUPE, &text, start - w));
        }
        let dedupe = windows.len();
        for (scope, secs) in CAPS {
            windows.push((scope, &number, now - now.rem_euclid(secs)));
        }
        let counts = self.store.reads().await?.rate_windows().counts(&windows).await?;
        if counts[..dedupe].iter().any(|n| *n > 0) {
            return Ok(SmsAdmission::Duplicate);
        }
        let caps = [limits.per_minute, limits.per_hour, limits.per_day];
        for (((scope, secs), cap), count) in CAPS.iter().zip(caps).zip(&counts[dedupe..]) {
            if cap > 0 && *count >= cap {
                let start = now - now.rem_euclid(*secs);
                let what = &scope[4..];
                return Ok(SmsAdmission::Capped {
                    until: start + secs,
                    reason: format!("per-number SMS cap reached ({cap} per {what}, [sms.limits]); deferred"),
                });
            }
        }
        Ok(SmsAdmission::Send)
    }

    /// Count a text its sender accepted.
    pub async fn record_sms(&self, phone: &str, event: &str, params: &[(String, String)]) -> Result<()> {
        let limits = self.sms_limits();
        let now = self.now().timestamp();
        let (number, text) = self.sms_keys(phone, event, params);
        let mut hits: Vec<RateHit> = CAPS
            .iter()
            .map(|(scope, secs)| RateHit {
                scope,
                key: number.clone(),
                window_start: now - now.rem_euclid(*secs),
                window_secs: *secs,
                n: 1,
            })
            .collect();
        if limits.dedupe_secs > 0 {
            let w = limits.dedupe_secs;
            hits.push(RateHit {
                scope: DEDUPE,
                key: text,
                window_start: now - now.rem_euclid(w),
                window_secs: 2 * w,
                n: 1,
            });
        }
        // Committed with the other texts counted at this moment (see `small_writes`).
        self.small_writes.write(crate::small_writes::SmallWrite::RateHits(hits)).await
    }

    /// Put a leased job back until `until` (a capped text), or dead-letter it with `reason`
    /// when it has no attempts left.
    pub async fn defer_job(
        &self,
        job: &beian_core::platform::Job,
        worker: &str,
        reason: &str,
        until: i64,
    ) -> Result<bool> {
        let now = self.now().timestamp();
        let retry_at = (job.attempts < job.max_attempts).then_some(until);
        let mut tx = self.store.begin().await?;
        let ok = tx.jobs().fail(job.id, worker, reason, retry_at, now).await?;
        tx.commit().await?;
        if retry_at.is_none() {
            tracing::warn!(job = job.id, "SMS moved to dead letters: {reason}");
        }
        Ok(ok)
    }
}
