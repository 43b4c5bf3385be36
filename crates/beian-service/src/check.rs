//! `beian check`: verify the database's invariants on a running or restored platform.
//!
//! Every violation is one line naming the entity and what is wrong; nothing here writes. The
//! whole run reads one snapshot, page by page, so it is safe against a live server and does
//! not load a large platform into memory.

use crate::aggregates::Operations;
use crate::{Result, Service};
use beian_core::state::FilingState;
use beian_store::media::Inspected;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// Rows read per query.
const PAGE: i64 = 500;

/// A `running` job whose lease ended this long ago and was never taken over is reported.
pub const STALE_LEASE_SECS: i64 = 3600;

/// What `check_invariants` looked at and what it found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// How many entities of each kind were checked (and rows per table, `table.NAME`).
    pub checked: BTreeMap<String, u64>,
    /// Broken invariants: the data is wrong and someone must look.
    pub violations: Vec<String>,
    /// Worth a look, not wrong in itself (stale job leases, dead letters).
    pub warnings: Vec<String>,
    /// About the platform's configuration rather than its data: years the next days reach
    /// without working-day data, calendar files that were skipped.
    pub notices: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    fn count(&mut self, kind: &str) {
        *self.checked.entry(kind.to_string()).or_insert(0) += 1;
    }
}

fn show(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("none")
}

impl Operations<'_> {
    /// Media rows after `after` (by media_id), `limit` at a time: what a backup must copy
    /// out of an object store.
    pub async fn media_rows_page(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<beian_store::check::MediaFacts>> {
        Ok(self.store.read().await?.check().media_page(after, limit).await?)
    }

    /// Check every invariant of the stored data (see `docs/reliability.md`).
    pub async fn check_invariants(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let mut tx = self.store.check_snapshot().await?;

        // ---- filing orders -------------------------------------------------------------------
        let mut after = String::new();
        loop {
            let page = tx.check().orders_page(&after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.appid.clone();
            for o in &page {
                report.count("filing_orders");
                let who = format!("filing order {}", o.appid);
                let v = &mut report.violations;
                match FilingState::from_columns(
                    o.status,
                    o.sms_verify_status,
                    o.is_canceling != 0,
                    o.change_status,
                ) {
                    None => {
                        *report.checked.entry("corrupt_filing_states".into()).or_insert(0) += 1;
                        v.push(format!(
                            "{who}: stored status {} / sms_verify_status {} / is_canceling {} / change_status {} is not a valid filing state",
                            o.status, o.sms_verify_status, o.is_canceling, o.change_status
                        ));
                    }
                    Some(state) => {
                        let sms = state.sms_verify_status().map(|s| s.code()).unwrap_or(0);
                        if sms != o.sms_verify_status || i64::from(state.is_canceling()) != o.is_canceling {
                            *report.checked.entry("corrupt_filing_states".into()).or_insert(0) += 1;
                            v.push(format!(
                                "{who}: status {} stored with sms_verify_status {} and is_canceling {} (expected {sms} and {})",
                                o.status,
                                o.sms_verify_status,
                                o.is_canceling,
                                i64::from(state.is_canceling())
                            ));
                        }
                    }
                }
                if o.versions != o.version_rows {
                    v.push(format!(
                        "{who}: versions is {} but {} filing_versions rows exist",
                        o.versions, o.version_rows
                    ));
                }
                if o.apply_events == 0 {
                    v.push(format!("{who}: no `apply` audit event"));
                } else if o.apply_events != o.versions {
                    v.push(format!(
                        "{who}: {} `apply` and `apply_change` audit events for {} submitted versions",
                        o.apply_events, o.versions
                    ));
                }
                match (&o.subject_id, &o.subject_found) {
                    (None, _) => v.push(format!("{who}: names no subject")),
                    (Some(s), None) => v.push(format!("{who}: names subject {s}, which does not exist")),
                    _ => {}
                }
                if o.status == 6 {
                    match (&o.subject_record_number, &o.service_record_number) {
                        (Some(subject), Some(service)) if !subject.is_empty() && !service.is_empty() => {
                            if !service.starts_with(subject.as_str()) {
                                v.push(format!(
                                    "{who}: service number {service} is not under its subject number {subject}"
                                ));
                            }
                            if o.subject_found.is_some() && o.subject_number_now.as_deref() != Some(subject) {
                                v.push(format!(
                                    "{who}: filed under subject number {subject}, but its subject holds {}",
                                    show(&o.subject_number_now)
                                ));
                            }
                        }
                        _ => v.push(format!(
                            "{who}: filed (status 6) without both numbers (subject {}, service {})",
                            show(&o.subject_record_number),
                            show(&o.service_record_number)
                        )),
                    }
                } else if let Some(n) = &o.service_record_number {
                    v.push(format!("{who}: status {} but holds service number {n}", o.status));
                }
            }
        }
        for (number, n) in tx.check().duplicate_service_numbers().await? {
            report.violations.push(format!("service number {number}: held by {n} filing orders"));
        }
        for (number, n) in tx.check().duplicate_subject_numbers().await? {
            report.violations.push(format!("subject number {number}: held by {n} subjects"));
        }

        // ---- subjects ------------------------------------------------------------------------
        let mut after = String::new();
        loop {
            let page = tx.check().subjects_page(&after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            for s in &page {
                report.count("subjects");
                let who = format!("subject {}", s.id);
                if s.in_progress != s.orders_in_progress {
                    report.violations.push(format!(
                        "{who}: in_progress is {} but {} of its orders are in status 2 or 4",
                        s.in_progress, s.orders_in_progress
                    ));
                }
                if s.filed_count != s.orders_filed {
                    report.violations.push(format!(
                        "{who}: filed_count is {} but {} of its orders are in status 6",
                        s.filed_count, s.orders_filed
                    ));
                }
                if let Some(p) = &s.problem {
                    report.violations.push(format!("{who}: {p}"));
                }
            }
        }

        // ---- filing versions decrypt ---------------------------------------------------------
        let (mut after_appid, mut after_version) = (String::new(), 0i64);
        loop {
            let page = tx.check().versions_page(&after_appid, after_version, PAGE).await?;
            let Some((appid, version, _)) = page.last() else { break };
            (after_appid, after_version) = (appid.clone(), *version);
            for (appid, version, problem) in &page {
                report.count("filing_versions");
                if let Some(p) = problem {
                    report.violations.push(format!("filing version {appid}#{version}: {p}"));
                }
            }
        }

        // ---- mini programs' admin identities decrypt -----------------------------------------
        let mut after = String::new();
        loop {
            let page = tx.check().mini_programs_page(&after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.key.clone();
            for m in &page {
                report.count("mini_programs");
                if let Some(p) = &m.problem {
                    report.violations.push(format!("mini program {}: {p}", m.key));
                }
            }
        }

        // ---- media bytes exist, are sealed and match their rows --------------------------------
        // Local files are read, opened and their keyed digest compared with their name; S3
        // objects are HEADed (exists, Content-Length — a sealed object is the plaintext plus a
        // fixed overhead): S3 checked each body against its SHA-256 when it was PUT. A plain
        // object (stored before media were encrypted) is reported: `beian migrate` seals it.
        let mut verified: HashSet<String> = HashSet::new();
        let mut bad: BTreeMap<String, String> = BTreeMap::new();
        let mut after = String::new();
        loop {
            let page = tx.check().media_page(&after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.media_id.clone();
            for m in &page {
                report.count("media");
                if !verified.contains(&m.sha256) && !bad.contains_key(&m.sha256) {
                    let plain_text = "a plain (unencrypted) object: run `beian migrate` to seal it";
                    let inspected = self.media.inspect(&m.sha256).await;
                    match inspected.map(|i| i.map(|i| self.plaintext_size(&m.sha256, m.size, i))) {
                        Ok(Some(Err(why))) => {
                            bad.insert(m.sha256.clone(), why.into());
                        }
                        Ok(Some(Ok((_, false)))) => {
                            bad.insert(m.sha256.clone(), plain_text.into());
                        }
                        Ok(Some(Ok((size, true)))) => {
                            report.count("media_files");
                            if i64::try_from(size).ok() != Some(m.size) {
                                // Same content, other size: the row is wrong, not the file.
                                report.violations.push(format!(
                                    "media {} (appid {}): size {} recorded, file holds {} bytes",
                                    m.media_id, m.appid, m.size, size
                                ));
                            }
                            verified.insert(m.sha256.clone());
                        }
                        Ok(None) => {
                            bad.insert(m.sha256.clone(), self.media.missing_text().into());
                        }
                        Err(e) => {
                            bad.insert(m.sha256.clone(), format!("file unreadable: {e}"));
                        }
                    }
                }
                if let Some(why) = bad.get(&m.sha256) {
                    report.violations.push(format!(
                        "media {} (appid {}, sha256 {}): {why}",
                        m.media_id, m.appid, m.sha256
                    ));
                }
            }
        }

        // ---- personal data kept past retention (PIPL Art. 19, 47) --------------------------------
        let cutoff = self.retention_cutoff();
        let mut after = String::new();
        loop {
            let page = tx.privacy().ended_after(cutoff, &after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.appid.clone();
            for e in page.iter().filter(|e| e.holds_personal_data) {
                report.count("personal_data_past_retention");
                report.violations.push(format!(
                    "mini program {}: {} at {} — more than {} days ago — and still holds personal data \
                     (payload, draft, media, face task, SMS code or admin identity): run `beian pii erase-expired`",
                    e.appid,
                    e.reason,
                    beian_core::time::from_ts(e.ended_at).format("%Y-%m-%d %H:%M:%S UTC"),
                    self.retention_days()
                ));
            }
        }

        // ---- jobs ----------------------------------------------------------------------------
        let before = self.now().timestamp() - STALE_LEASE_SECS;
        for j in tx.check().stale_jobs(before, 1000).await? {
            report.warnings.push(format!(
                "job #{} ({}): running, lease held by {} ended at {} and nobody took it over (is any worker running?)",
                j.id,
                j.kind,
                j.locked_by.as_deref().unwrap_or("?"),
                j.locked_until
                    .map(|t| beian_core::time::from_ts(t).format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_else(|| "?".into()),
            ));
        }
        for (name, n) in tx.check().table_counts().await? {
            if name == "jobs" {
                report.checked.insert("jobs".into(), u64::try_from(n).unwrap_or(0));
            }
            report.checked.insert(format!("table.{name}"), u64::try_from(n).unwrap_or(0));
        }
        for (state, n, _) in tx.jobs().stats().await? {
            if state == "dead" && n > 0 {
                report.warnings.push(format!(
                    "{n} dead-lettered job(s): see `beian jobs --state dead` (retry with --retry ID)"
                ));
            }
        }
        drop(tx);
        // Deadlines in a year without working-day data count Monday–Friday only.
        if let Some(gap) = self.calendar_gap() {
            let years: Vec<String> = gap.years.iter().map(|y| y.to_string()).collect();
            report.notices.push(format!(
                "working-day calendar: no holiday data for {} (the next {} days, until {}): deadlines \
                 there count Monday–Friday only; upload the year's holiday-cn JSON on \
                 /admin/ops/calendar or put it in <data_dir>/calendar/YEAR.json — {}",
                years.join(", "),
                crate::calendar::LOOKAHEAD_DAYS,
                gap.until,
                gap.message()
            ));
        }
        for problem in self.calendar_status().problems {
            report.notices.push(format!("working-day calendar: {problem}"));
        }
        Ok(report)
    }
}

impl Service {
    /// (plaintext size, sealed) of an inspected media object, or why it is broken. Local
    /// objects are opened; an S3 object is judged by its size against the row's (`recorded`).
    fn plaintext_size(
        &self,
        name: &str,
        recorded: i64,
        i: Inspected,
    ) -> std::result::Result<(u64, bool), &'static str> {
        use beian_store::crypto::MEDIA_OVERHEAD;
        match i.bytes {
            Some(bytes) if beian_store::Crypto::is_sealed_media(&bytes) => {
                match self.store.crypto().open_media(name, &bytes) {
                    Ok(plain) => Ok((plain.len() as u64, true)),
                    Err(_) => {
                        Err("the object does not open with this platform's key or does not match its name")
                    }
                }
            }
            Some(bytes) => Ok((bytes.len() as u64, false)),
            None if i64::try_from(i.size).ok() == Some(recorded) => Ok((i.size, false)),
            None => Ok((i.size.saturating_sub(MEDIA_OVERHEAD), true)),
        }
    }
}
