//! The manual desk as an authority under test: an [`AuthorityDriver`] whose every step is an
//! operator's click on the desk's staff pages (`/admin/desk`) in headless Chromium — the work
//! list read from the page, each outcome recorded through its form. It plays the authority's
//! part too: for an approval it issues numbers of the real form (the subject's own number
//! when the page prefills one, else the next of the province shown on the form).

use crate::Browser;
use beian_core::model::AuditItem;
use beian_core::numbering::{self, IssuedNumbers};
use beian_testkit::authority_contract::{AuthorityDriver, DriverFuture, Received};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

/// An operator at the desk, signed in in `browser`.
pub struct DeskDriver {
    browser: Browser,
    base: String,
    /// The numbers this "authority" issued so far: per province, per subject.
    issued: Mutex<HashMap<String, u32>>,
}

/// One row of the work list, as the page shows it.
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    appid: String,
    kind: String,
    round: u32,
    open: bool,
}

impl DeskDriver {
    /// Sign in at `base` with an operator's API token.
    pub async fn sign_in(browser: Browser, base: &str, operator_token: &str) -> DeskDriver {
        browser.goto(&format!("{base}/admin/login")).await;
        browser.fill("input[name=token]", operator_token).await;
        browser.submit("#login").await;
        DeskDriver { browser, base: base.to_string(), issued: Mutex::new(HashMap::new()) }
    }

    /// The browser (for screenshots and checks in the caller's test).
    pub fn browser(&self) -> &Browser {
        &self.browser
    }

    async fn rows(&self) -> Vec<Row> {
        self.browser.goto(&format!("{}/admin/desk", self.base)).await;
        self.browser.wait_for("h1").await;
        let v = self
            .browser
            .js("return Array.from(document.querySelectorAll('#desk-items tr.row')).map(r => \
                 [r.dataset.id, r.dataset.appid, r.dataset.kind, r.dataset.round, r.dataset.state]);")
            .await;
        let s = |x: &Value| x.as_str().unwrap_or_default().to_string();
        v.as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| Row {
                        id: s(&r[0]).parse().unwrap_or(0),
                        appid: s(&r[1]),
                        kind: s(&r[2]),
                        round: s(&r[3]).parse().unwrap_or(0),
                        open: s(&r[4]) == "open",
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Open the newest open item of `appid` (the operation the authority holds for it).
    async fn open_item(&self, appid: &str) -> i64 {
        let rows = self.rows().await;
        let Some(row) = rows.iter().filter(|r| r.open && r.appid == appid).max_by_key(|r| r.id) else {
            panic!("desk: no open work item for {appid} in {rows:?}")
        };
        self.browser.goto(&format!("{}/admin/desk/{}", self.base, row.id)).await;
        self.browser.wait_for("#desk-state").await;
        row.id
    }

    /// Submit one form of the open item and wait for the page that answers it.
    async fn record(&self, appid: &str, button: &str) {
        self.open_item(appid).await;
        self.browser.submit(button).await;
        self.browser.wait_for("h1").await;
    }

    /// Whether the last answer was "recorded" (the notice), not a refusal.
    async fn recorded(&self) -> bool {
        self.browser.exists("#desk-notice").await
    }

    /// The numbers this authority issues for the open item of `appid` (its page is open).
    async fn next_numbers(&self) -> IssuedNumbers {
        let abbr = self.browser.attr("#form-approved", "data-abbr").await.unwrap_or_default();
        let held = self.browser.attr("#form-approved", "data-subject").await.unwrap_or_default();
        // A change or a new access is approved with the record's own numbers (prefilled).
        let record = self.browser.attr("#form-approved", "data-service").await.unwrap_or_default();
        if !record.is_empty() {
            return IssuedNumbers { subject_number: held, service_number: record };
        }
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = |key: String| {
            let n = issued.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        let subject_number = if held.is_empty() {
            numbering::subject_number(&abbr, 2026, 500 + next(format!("subject:{abbr}")))
        } else {
            held
        };
        let service_number =
            numbering::service_number(&subject_number, next(format!("service:{subject_number}")));
        IssuedNumbers { subject_number, service_number }
    }

    async fn approve_here(&self, numbers: &IssuedNumbers) -> bool {
        self.browser.fill("#subject_number", &numbers.subject_number).await;
        self.browser.fill("#service_number", &numbers.service_number).await;
        self.browser.submit("#record-approved").await;
        self.browser.wait_for("h1").await;
        self.recorded().await
    }
}

impl AuthorityDriver for DeskDriver {
    fn name(&self) -> String {
        "desk".into()
    }

    fn received<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, Vec<Received>> {
        Box::pin(async move {
            let mut rows: Vec<Row> = self.rows().await.into_iter().filter(|r| r.appid == appid).collect();
            rows.sort_by_key(|r| r.id);
            rows.into_iter().map(|r| Received { appid: r.appid, kind: r.kind, round: r.round }).collect()
        })
    }

    fn verify_sms<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            self.record(appid, "#record-sms-verified").await;
            assert!(self.recorded().await, "desk: SMS verification of {appid} not recorded");
        })
    }

    fn expire_sms<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            self.record(appid, "#record-sms-expired").await;
            assert!(self.recorded().await, "desk: SMS expiry of {appid} not recorded");
        })
    }

    fn approve<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, IssuedNumbers> {
        Box::pin(async move {
            self.open_item(appid).await;
            let numbers = self.next_numbers().await;
            assert!(
                self.approve_here(&numbers).await,
                "desk: approval of {appid} with {numbers:?} not recorded"
            );
            numbers
        })
    }

    fn approve_with<'a>(&'a self, appid: &'a str, numbers: &'a IssuedNumbers) -> DriverFuture<'a, bool> {
        Box::pin(async move {
            self.open_item(appid).await;
            self.approve_here(numbers).await
        })
    }

    fn reject<'a>(&'a self, appid: &'a str, reason: &'a AuditItem) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            self.open_item(appid).await;
            self.browser.fill("#form-rejected #key_name", &reason.key_name).await;
            self.browser.fill("#form-rejected #error", &reason.error).await;
            self.browser.fill("#form-rejected #suggest", &reason.suggest).await;
            self.browser.submit("#record-rejected").await;
            self.browser.wait_for("h1").await;
            assert!(self.recorded().await, "desk: rejection of {appid} not recorded");
        })
    }

    fn confirm_cancel<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            self.record(appid, "#record-cancel-confirmed").await;
            assert!(self.recorded().await, "desk: cancellation of {appid} not recorded");
        })
    }

    fn refuse<'a>(&'a self, appid: &'a str, code: &'a str, reason: &'a str) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            self.open_item(appid).await;
            self.browser.fill("#form-refused #code", code).await;
            self.browser.fill("#form-refused #reason", reason).await;
            self.browser.submit("#record-refused").await;
            self.browser.wait_for("h1").await;
            assert!(self.recorded().await, "desk: refusal of {appid} not recorded");
        })
    }
}
