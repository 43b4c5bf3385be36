//! The authority contract suite (`beian_testkit::authority_contract`) against (a) the built-in
//! simulator in the platform's process, on both databases, and (b) the simulator as a
//! separate process (`beian simulator serve`) reached over the HTTP bridge — where no number
//! is minted by the platform.

use crate::support::*;
use beian_core::model::AuditItem;
use beian_core::numbering::IssuedNumbers;
use beian_service::Actor;
use beian_testkit::authority_contract::{
    run_contract, AuthorityDriver, DriverFuture, KnownRecord, Platform, Received,
};
use std::collections::HashMap;
use std::sync::Mutex;

both!(the_contract_holds_for_the_in_process_simulator);

pub const SECRET_1: &str = "k1-secret-0123456789abcdef0123456789";
pub const SECRET_2: &str = "k2-secret-fedcba9876543210fedcba9876";

/// Codes texted to a phone, newest first, that no call used yet: each verification waits for
/// a text it has not used (two submissions of one person text the same phone).
#[derive(Default)]
struct CodesUsed(Mutex<HashMap<String, usize>>);

impl CodesUsed {
    fn used(&self, phone: &str) -> usize {
        self.0.lock().expect("lock").get(phone).copied().unwrap_or(0)
    }
    fn take(&self, phone: &str) {
        *self.0.lock().expect("lock").entry(phone.to_string()).or_insert(0) += 1;
    }
}

/// The newest code among `texts` (newest first), if there are more than `used`.
fn fresh_code(texts: &[String], used: usize) -> Option<String> {
    let codes: Vec<String> = texts
        .iter()
        .filter_map(|t| {
            let i = t.find("验证码")? + "验证码".len();
            let code: String = t[i..].chars().take(6).collect();
            (code.len() == 6 && code.chars().all(|c| c.is_ascii_digit())).then_some(code)
        })
        .collect();
    (codes.len() > used).then(|| codes[0].clone())
}

async fn post_verify(base: &str, phone: &str, last6: &str, code: &str) {
    let r = reqwest::Client::new()
        .post(format!("{base}/miit/verify"))
        .form(&[("phone", phone), ("id_last6", last6), ("code", code)])
        .send()
        .await
        .expect("verification page");
    let status = r.status().as_u16();
    let page = r.text().await.unwrap_or_default();
    assert_eq!(status, 200, "verification refused: {page}");
}

/// (a) The built-in simulator: its operator controls, its page, the platform's clock.
struct InProcess<'a> {
    app: &'a TestApp,
    used: CodesUsed,
}

impl InProcess<'_> {
    async fn verify(&self, appid: &str) {
        let held = self.app.sim().held(appid).await.expect("held operation");
        for p in held.principals {
            let used = self.used.used(&p.mobile);
            let texts = || async {
                let out = self.app.svc.job_queue().sms_outbox(Some(&p.mobile), 50).await.expect("outbox");
                out.into_iter().map(|m| m.text).collect::<Vec<_>>()
            };
            eventually("a new code", || async { fresh_code(&texts().await, used).is_some() }).await;
            let code = fresh_code(&texts().await, used).expect("code");
            self.used.take(&p.mobile);
            post_verify(&self.app.base, &p.mobile, &p.id_suffix, &code).await;
        }
    }
}

impl AuthorityDriver for InProcess<'_> {
    fn name(&self) -> String {
        "simulator".into()
    }
    fn received<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, Vec<Received>> {
        Box::pin(async move {
            let list = self.app.sim().submissions(appid).await.expect("submissions");
            list.into_iter().map(|s| Received { appid: s.appid, kind: s.kind, round: s.round }).collect()
        })
    }
    fn verify_sms<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()> {
        Box::pin(self.verify(appid))
    }
    fn expire_sms<'a>(&'a self, _appid: &'a str) -> DriverFuture<'a, ()> {
        Box::pin(
            async move { self.app.clock.advance(chrono::Duration::hours(24) + chrono::Duration::minutes(1)) },
        )
    }
    fn approve<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, IssuedNumbers> {
        Box::pin(async move {
            let receipt =
                self.app.sim().decide_now(appid, beian_authority_sim::Decision::Approve(None)).await;
            assert_eq!(receipt.expect("approve"), beian_ports::authority::Receipt::Applied);
            let round = self.app.sim().held(appid).await.expect("held").round;
            self.app.sim().issued_numbers(appid, round).await.expect("numbers").expect("issued")
        })
    }
    fn approve_with<'a>(&'a self, appid: &'a str, numbers: &'a IssuedNumbers) -> DriverFuture<'a, bool> {
        Box::pin(async move {
            let d = beian_authority_sim::Decision::Approve(Some(numbers.clone()));
            self.app.sim().decide_now(appid, d).await.is_ok()
        })
    }
    fn reject<'a>(&'a self, appid: &'a str, reason: &'a AuditItem) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let d = beian_authority_sim::Decision::Reject(vec![reason.clone()]);
            self.app.sim().decide_now(appid, d).await.expect("reject");
        })
    }
    fn confirm_cancel<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()> {
        Box::pin(self.verify(appid))
    }
    fn refuse<'a>(&'a self, appid: &'a str, code: &'a str, reason: &'a str) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            self.app.sim().refuse(appid, code, reason).await.expect("refuse");
        })
    }
    fn know_record<'a>(&'a self, record: &'a KnownRecord) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let mut settings = self.app.sim().settings().await.expect("settings");
            settings.foreign_records.push(foreign(record));
            self.app
                .sim()
                .set_settings(&Actor::new("test", "contract").0, &settings)
                .await
                .expect("settings");
        })
    }
}

/// The simulator's form of a record the contract says the authority knows.
fn foreign(r: &KnownRecord) -> beian_authority_sim::settings::ForeignRecord {
    beian_authority_sim::settings::ForeignRecord {
        service_number: r.service_number.clone(),
        subject_name: r.subject_name.clone(),
        certificate_number: r.certificate_number.clone(),
        accesses: Vec::new(),
    }
}

async fn the_contract_holds_for_the_in_process_simulator(b: Backend) {
    let app = TestApp::start(b, 1000).await;
    let platform = Platform { svc: app.svc.clone(), gateway: app.gateway.clone() };
    run_contract(&platform, &InProcess { app: &app, used: CodesUsed::default() }).await;
    app.stop().await;
}

/// A `beian simulator serve` process, killed when dropped.
pub struct SimulatorProcess {
    pub base: String,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

/// A free port on 127.0.0.1 (bound and released: the simulator binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub fn bridge_keys() -> beian_authority_bridge::protocol::Keys {
    beian_authority_bridge::protocol::Keys::parse_list(&format!("k1={SECRET_1},k2={SECRET_2}")).expect("keys")
}

/// The platform's bridge settings for a bridge at `url` (signing with k1).
pub fn bridge_config(url: &str) -> beian_authority_bridge::BridgeConfig {
    beian_authority_bridge::BridgeConfig {
        url: url.to_string(),
        keys: bridge_keys(),
        current_key: "k1".into(),
        replay_window_secs: 300,
        timeout: std::time::Duration::from_secs(5),
    }
}

impl SimulatorProcess {
    /// Start the simulator on `port`, reporting to `platform_url`, signing with k2 (the
    /// platform accepts any configured key).
    pub async fn start(port: u16, platform_url: &str) -> SimulatorProcess {
        use tokio::io::AsyncBufReadExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_beian"))
            .args([
                "simulator",
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--platform-url",
                platform_url,
            ])
            .args(["--key-id", "k2", "--data-dir"])
            .arg(dir.path())
            .env("BEIAN_BRIDGE_KEYS", format!("k1={SECRET_1},k2={SECRET_2}"))
            .env_remove("BEIAN_LISTEN")
            .env_remove("BEIAN_DATA_DIR")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn beian simulator serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .expect("the simulator starts in time")
            .expect("read")
            .expect("a first line");
        let base = line.strip_prefix("simulator serving on ").expect("the address line").trim().to_string();
        assert_eq!(base, format!("http://127.0.0.1:{port}"));
        SimulatorProcess { base, _child: child, _dir: dir }
    }
}

/// (b) The simulator in its own process: its control API and its own page.
struct OverBridge {
    base: String,
    http: reqwest::Client,
    used: CodesUsed,
}

impl OverBridge {
    async fn get(&self, path: &str) -> serde_json::Value {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.expect("control API");
        assert_eq!(r.status().as_u16(), 200, "GET {path}");
        r.json().await.expect("json")
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self.http.post(format!("{}{path}", self.base)).json(&body).send().await.expect("control API");
        (r.status().as_u16(), r.json().await.unwrap_or(serde_json::Value::Null))
    }

    async fn verify(&self, appid: &str) {
        let ops = self.get(&format!("/control/operations?appid={appid}")).await;
        let held = ops["operations"].as_array().and_then(|a| a.last()).cloned().expect("held operation");
        for p in held["principals"].as_array().expect("principals") {
            let phone = p["mobile"].as_str().expect("mobile").to_string();
            let used = self.used.used(&phone);
            let texts = || async {
                let v = self.get(&format!("/control/sms?phone={phone}")).await;
                // Newest first, as the control API lists them.
                v["messages"]
                    .as_array()
                    .expect("messages")
                    .iter()
                    .map(|m| m["text"].as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
            };
            eventually("a new code", || async { fresh_code(&texts().await, used).is_some() }).await;
            let code = fresh_code(&texts().await, used).expect("code");
            self.used.take(&phone);
            post_verify(&self.base, &phone, p["id_suffix"].as_str().expect("suffix"), &code).await;
        }
    }
}

impl AuthorityDriver for OverBridge {
    fn name(&self) -> String {
        "bridge".into()
    }
    fn received<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, Vec<Received>> {
        Box::pin(async move {
            let v = self.get(&format!("/control/operations?appid={appid}")).await;
            v["operations"]
                .as_array()
                .expect("operations")
                .iter()
                .map(|o| Received {
                    appid: o["appid"].as_str().unwrap_or("").into(),
                    kind: o["kind"].as_str().unwrap_or("").into(),
                    round: o["round"].as_u64().unwrap_or(0) as u32,
                })
                .collect()
        })
    }
    fn verify_sms<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()> {
        Box::pin(self.verify(appid))
    }
    fn expire_sms<'a>(&'a self, _appid: &'a str) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let (st, body) =
                self.post("/control/clock/advance", serde_json::json!({ "seconds": 24 * 3600 + 60 })).await;
            assert_eq!(st, 200, "{body}");
        })
    }
    fn approve<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, IssuedNumbers> {
        Box::pin(async move {
            let (st, body) = self
                .post("/control/decide", serde_json::json!({ "appid": appid, "outcome": "approve" }))
                .await;
            assert_eq!((st, body["receipt"].as_str()), (200, Some("applied")), "{body}");
            serde_json::from_value(body["numbers"].clone()).expect("numbers")
        })
    }
    fn approve_with<'a>(&'a self, appid: &'a str, numbers: &'a IssuedNumbers) -> DriverFuture<'a, bool> {
        Box::pin(async move {
            let body = serde_json::json!({
                "appid": appid, "outcome": "approve",
                "subject_number": numbers.subject_number, "service_number": numbers.service_number,
            });
            let (st, answer) = self.post("/control/decide", body).await;
            if st != 200 {
                assert!(answer["errmsg"].as_str().is_some_and(|m| !m.is_empty()), "a reason: {answer}");
            }
            st == 200
        })
    }
    fn reject<'a>(&'a self, appid: &'a str, reason: &'a AuditItem) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let body = serde_json::json!({ "appid": appid, "outcome": "reject", "reasons": [reason] });
            let (st, answer) = self.post("/control/decide", body).await;
            assert_eq!(st, 200, "{answer}");
        })
    }
    fn confirm_cancel<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()> {
        Box::pin(self.verify(appid))
    }
    fn refuse<'a>(&'a self, appid: &'a str, code: &'a str, reason: &'a str) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let body = serde_json::json!({ "appid": appid, "code": code, "reason": reason });
            let (st, answer) = self.post("/control/refuse", body).await;
            assert_eq!(st, 200, "{answer}");
        })
    }
    fn know_record<'a>(&'a self, record: &'a KnownRecord) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let mut settings = self.get("/control/settings").await;
            let record = serde_json::to_value(foreign(record)).expect("json");
            settings["foreign_records"].as_array_mut().expect("foreign_records").push(record);
            let r = self
                .http
                .put(format!("{}/control/settings", self.base))
                .json(&settings)
                .send()
                .await
                .expect("control API");
            assert_eq!(r.status().as_u16(), 200, "PUT /control/settings");
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_contract_holds_over_the_bridge_to_a_separate_simulator_process_and_no_number_is_minted() {
    let port = free_port();
    let app =
        TestApp::start_bridge(Backend::Sqlite, bridge_config(&format!("http://127.0.0.1:{port}"))).await;
    let sim = SimulatorProcess::start(port, &app.base).await;
    let platform = Platform { svc: app.svc.clone(), gateway: app.gateway.clone() };
    let driver =
        OverBridge { base: sim.base.clone(), http: reqwest::Client::new(), used: CodesUsed::default() };
    run_contract(&platform, &driver).await;

    // The numbers came from the peer: the platform's own number counters were never touched.
    let order = app.svc.filings().order("wxct0001").await.expect("order").expect("filed").order;
    let subject = order.subject_record_number.expect("a subject number");
    let abbr: String = subject.chars().take(1).collect();
    let year: String = subject.split("ICP备").nth(1).expect("number form").chars().take(4).collect();
    let mut tx = app.store.read().await.expect("read");
    for counter in [format!("subject_seq:{abbr}:{year}"), format!("sim_service_seq:{subject}")] {
        assert_eq!(
            tx.counters().get(&counter).await.expect("counter"),
            0,
            "{counter} untouched by the platform"
        );
    }
    drop(tx);
    app.stop().await;
}

/// The simulator process checks what reaches `/v1/operations` as beian checks its events, and
/// refuses what it does not handle; without keys it does not start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_process_checks_signatures_and_refuses_what_it_does_not_handle() {
    use beian_authority_bridge::protocol::unix_now;
    let sim = SimulatorProcess::start(free_port(), "http://127.0.0.1:9").await;
    let op = serde_json::json!({
        "version": 1, "operation_id": "wxsp0001:attachments:1", "sent_at": unix_now(),
        "operation": {"kind": "attachments", "appid": "wxsp0001", "round": 1, "media_ids": []}
    });
    let body = serde_json::to_vec(&op).expect("json");
    let post = |headers: Vec<(&'static str, String)>| {
        let mut req = reqwest::Client::new().post(format!("{}/v1/operations", sim.base)).body(body.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let r = req.send().await.expect("send");
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let keys = bridge_keys();
    assert_eq!(post(Vec::new()).await.0, 401, "unsigned");
    let mut other = keys.sign("k1", unix_now(), b"{}").expect("sign").to_vec();
    other[1].1 = unix_now().to_string();
    assert_eq!(post(other).await.0, 401, "signed over another body");
    assert_eq!(post(keys.sign("k1", unix_now() - 301, &body).expect("sign").to_vec()).await.0, 400, "stale");
    let (st, answer) = post(keys.sign("k2", unix_now(), &body).expect("sign").to_vec()).await;
    assert_eq!(st, 400, "not handled by the simulator: {answer}");
    assert!(answer["errmsg"].as_str().is_some_and(|m| m.contains("attachments")), "{answer}");

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_beian"))
        .args([
            "simulator",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--platform-url",
            "http://127.0.0.1:9",
            "--key-id",
            "k1",
        ])
        .arg("--data-dir")
        .arg(sim._dir.path().join("other"))
        .env_remove("BEIAN_BRIDGE_KEYS")
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BEIAN_BRIDGE_KEYS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Over the bridge the simulator decides on its own clock and settings, and texts from its own
/// outbox: the platform's outbox holds no text in the authority's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_simulator_process_decides_on_its_own_clock_and_texts_from_its_own_outbox() {
    let port = free_port();
    let app =
        TestApp::start_bridge(Backend::Sqlite, bridge_config(&format!("http://127.0.0.1:{port}"))).await;
    let sim = SimulatorProcess::start(port, &app.base).await;
    let driver =
        OverBridge { base: sim.base.clone(), http: reqwest::Client::new(), used: CodesUsed::default() };
    let r = driver
        .http
        .put(format!("{}/control/settings", sim.base))
        .json(&serde_json::json!({ "review_working_days": 1, "default_outcome": "reject" }))
        .send()
        .await
        .expect("settings");
    assert_eq!(r.status().as_u16(), 200);
    register(&app, "wxsp0002", 81).await;
    apply_personal(&app, "wxsp0002", 81).await;
    app.svc
        .filings()
        .platform_approve(&beian_service::Actor::new("test", "r"), "wxsp0002")
        .await
        .expect("approve");
    eventually("the operation at the simulator", || async { !driver.received("wxsp0002").await.is_empty() })
        .await;
    driver.verify_sms("wxsp0002").await;
    let state = || async { app.svc.filings().entrance_info("wxsp0002").await.expect("info").status };
    assert_eq!(state().await, 4);
    let (st, _) = driver.post("/control/clock/advance", serde_json::json!({ "seconds": 10 * 86400 })).await;
    assert_eq!(st, 200);
    eventually("the simulator's rejection", || async { state().await == 5 }).await;
    eventually("the MIIT rejection text in the simulator's outbox", || async {
        let texts = driver.get(&format!("/control/sms?phone={}", admin_mobile(81))).await;
        texts.to_string().contains("【工业和信息化部】")
    })
    .await;
    let platform = app.svc.job_queue().sms_outbox(Some(&admin_mobile(81)), 50).await.expect("outbox");
    assert!(
        platform.iter().all(|m| !m.text.contains("工信部") && !m.text.contains("工业和信息化部")),
        "nothing in the authority's name from the platform: {platform:?}"
    );
    app.stop().await;
}

/// A change of a filed service (变更备案) through the simulator: submitted as a change of the
/// record's service number, verified by SMS like a filing, approved with the record's own
/// numbers; the record then reads as changed.
async fn a_change_goes_through_the_simulator(b: Backend) {
    use beian_core::state::{ChangeStage, FilingState, SmsVerifyStatus};
    let app = TestApp::start(b, 1000).await;
    let d = InProcess { app: &app, used: CodesUsed::default() };
    let appid = "wxctchg001";
    let reviewer = beian_service::Actor::new("reviewer", "t");
    let state = || async { app.svc.filings().entrance_info(appid).await.expect("entrance").state() };
    register(&app, appid, 91).await;
    apply_personal(&app, appid, 91).await;
    app.svc.filings().platform_approve(&reviewer, appid).await.expect("approve");
    eventually("the filing reaches the simulator", || async { !d.received(appid).await.is_empty() }).await;
    d.verify_sms(appid).await;
    let verified = FilingState::AuthorityReview { sms: SmsVerifyStatus::Done };
    eventually("SMS verified", || async { state().await == verified }).await;
    let numbers = d.approve(appid).await;
    eventually("filed", || async { state().await.is_filed() }).await;

    let mut change = personal_payload(&app.svc, appid, 91).await;
    change.icp_subject.base_info.address = "科技园南区变更后大道8号".into();
    app.svc
        .filings()
        .apply_change(&beian_service::Actor::new("test", "dev"), appid, change)
        .await
        .expect("change");
    app.svc.filings().platform_approve(&reviewer, appid).await.expect("approve the change");
    let is_change = || async { d.received(appid).await.last().is_some_and(|r| r.kind == "change") };
    eventually("the change reaches the simulator as a change", is_change).await;
    d.verify_sms(appid).await;
    let verified =
        FilingState::Changing { stage: ChangeStage::AuthorityReview { sms: SmsVerifyStatus::Done } };
    eventually("the change's SMS verified", || async { state().await == verified }).await;
    let receipt = app.sim().decide_now(appid, beian_authority_sim::Decision::Approve(None)).await;
    assert_eq!(receipt.expect("approve"), beian_ports::authority::Receipt::Applied);
    assert_eq!(state().await, FilingState::Filed { canceling: false });
    let o = app.svc.filings().order(appid).await.expect("order").expect("exists").order;
    assert_eq!(o.subject_record_number.as_deref(), Some(numbers.subject_number.as_str()));
    assert_eq!(
        o.service_record_number.as_deref(),
        Some(numbers.service_number.as_str()),
        "a change keeps its numbers"
    );
    let online = app.svc.filings().online_order(appid).await.expect("online");
    assert_eq!(online.icp_subject.base_info.address, "科技园南区变更后大道8号");
    app.stop().await;
}

both!(a_change_goes_through_the_simulator);
