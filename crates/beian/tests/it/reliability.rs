//! Reliability and security (docs/reliability.md): `beian check`, backup and restore through
//! the CLI, two nodes on one PostgreSQL (jobs run once, the never-filed-subject race holds
//! across nodes), token isolation between mini programs, and secrets stored hashed.

use crate::support::{admin_id, admin_mobile, contains, Backend, Receiver, JPEG};
use beian::app::Application;
use beian::config::{Config, ConfigArgs};
use beian_core::errcode;
use beian_core::payload::ApplyPayload;
use beian_core::state::FilingState;
use beian_service::{Actor, ManualClock, Service, ServiceError};
use beian_store::{Crypto, Store};
use beian_testkit::backend::TestDatabase;
use beian_testkit::fixtures::{self, uscc, Enterprise, Identity, Materials};
pub(crate) use beian_testkit::pg::{
    base_url as pg_base, unique_name as unique, with_search_path as with_schema,
};
use beian_testkit::servers::Stoppable;
use beian_testkit::service;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

// ---- the CLI --------------------------------------------------------------------------------

fn beian(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_beian"));
    c.current_dir(dir)
        .env("BEIAN_IDENTITY_PROVIDER", "builtin")
        .env_remove("BEIAN_DATABASE_URL")
        .env_remove("BEIAN_DATA_DIR")
        .env_remove("BEIAN_MASTER_KEY")
        .env("BEIAN_LOG", "warn");
    c
}

fn run(c: &mut Command) -> String {
    let out = c.output().expect("run beian");
    assert!(
        out.status.success(),
        "beian failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn check_json(c: &mut Command) -> Value {
    serde_json::from_str(&run(c.args(["check", "--json"]))).expect("check --json prints JSON")
}

pub(crate) fn psql(url: &str, sql: &str) {
    let status = Command::new("psql")
        .args([url, "-qc", sql])
        .env("PGOPTIONS", "-c client_min_messages=warning")
        .status()
        .expect("psql (PostgreSQL client) must be installed");
    assert!(status.success(), "psql {sql}");
}

/// The same server, another database (for restores next to the original).
fn other_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map(|(b, q)| (b, Some(q))).unwrap_or((url, None));
    let cut = base.rfind('/').expect("database in URL");
    match query {
        Some(q) => format!("{}/{db}?{q}", &base[..cut]),
        None => format!("{}/{db}", &base[..cut]),
    }
}

/// The order of `appid` read straight from a database with its key.
async fn stored_order(url: &str, key_hex: &str, appid: &str) -> beian_core::model::FilingOrder {
    let store = Store::connect(url, Crypto::from_hex(key_hex).expect("key")).await.expect("connect");
    let mut tx = store.read().await.expect("read");
    let order = tx.orders().get(appid).await.expect("get order").expect("order exists");
    drop(tx);
    store.close().await;
    order
}

fn key_of(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("secret.key")).expect("secret.key").trim().to_string()
}

const FILED_DEMO: &str = "wxdemo0000000002";

/// The restored counts equal the original's, nothing is violated, the filed demo mini program
/// is there with its numbers.
fn assert_same_platform(original: &Value, restored: &Value) {
    assert_eq!(restored["violations"], serde_json::json!([]), "{restored}");
    assert_eq!(original["checked"], restored["checked"], "every count survives the round trip");
    assert!(original["checked"]["filing_orders"].as_u64().unwrap_or(0) >= 1, "{original}");
    assert!(original["checked"]["media_files"].as_u64().unwrap_or(0) >= 1, "{original}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_sqlite_through_the_cli() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    run(beian(dir).args(["demo", "--seed-only"]));
    let original = check_json(&mut beian(dir));
    assert_eq!(original["violations"], serde_json::json!([]), "{original}");

    let out = run(beian(dir).args(["backup", "bk"]));
    assert!(out.contains("backed up") && out.contains("3 mini programs"), "{out}");
    for f in ["backup.json", "beian.db", "secret.key", "media"] {
        assert!(dir.join("bk").join(f).exists(), "{f} in the backup");
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bk/backup.json")).expect("manifest"))
            .expect("manifest JSON");
    assert_eq!(manifest["backend"], "sqlite");
    assert_eq!(manifest["counts"], original["checked"], "the manifest counts the snapshot");
    // Backing up into the same directory again is refused (no silent overwrite).
    let again = beian(dir).args(["backup", "bk"]).output().expect("run");
    assert!(!again.status.success());

    let out = run(beian(dir).args(["--data-dir", "restored", "restore", "bk"]));
    assert!(out.contains("violations: none"), "{out}");
    let restored = check_json(beian(dir).args(["--data-dir", "restored"]));
    assert_same_platform(&original, &restored);
    let before = stored_order(
        &format!("sqlite://{}", dir.join("beian-data/beian.db").display()),
        &key_of(&dir.join("beian-data")),
        FILED_DEMO,
    )
    .await;
    let after = stored_order(
        &format!("sqlite://{}", dir.join("restored/beian.db").display()),
        &key_of(&dir.join("restored")),
        FILED_DEMO,
    )
    .await;
    assert_eq!(after.state, FilingState::Filed { canceling: false });
    assert!(after.service_record_number.is_some());
    assert_eq!(before, after, "the filed demo order is restored as it was");

    // A non-empty target is refused.
    let refused = beian(dir).args(["--data-dir", "restored", "restore", "bk"]).output().expect("run");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"));

    // The restored directory serves the same data: the demo's reviewer token (stored hashed in
    // the database) reads the filed order through the staff API.
    let creds = std::fs::read_to_string(dir.join("beian-data/demo-credentials.txt")).expect("creds");
    let reviewer = creds
        .lines()
        .find_map(|l| l.strip_prefix("reviewer_token = "))
        .expect("reviewer token in the credentials")
        .trim()
        .to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let mut server = beian(dir)
        .args(["--data-dir", "restored", "--listen", &format!("127.0.0.1:{port}"), "serve"])
        .env("BEIAN_AUTHORITY_GATEWAY", "manual")
        .spawn()
        .expect("serve");
    let url = format!("http://127.0.0.1:{port}/api/review/orders/{FILED_DEMO}");
    let mut body = String::new();
    for _ in 0..200 {
        if let Ok(r) = reqwest::Client::new().get(&url).bearer_auth(&reviewer).send().await {
            assert_eq!(r.status(), 200);
            body = r.text().await.expect("body");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // A backup while that server runs (its job worker writes meanwhile) is consistent too.
    let live = beian(dir).args(["--data-dir", "restored", "backup", "bk-live"]).output().expect("run");
    let _ = server.kill();
    let _ = server.wait();
    assert!(live.status.success(), "backup while serving: {}", String::from_utf8_lossy(&live.stderr));
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bk-live/backup.json")).expect("manifest"))
            .expect("manifest JSON");
    assert_eq!(manifest["violations"], 0, "{manifest}");
    assert_eq!(manifest["counts"]["filing_orders"], original["checked"]["filing_orders"]);
    let number = after.service_record_number.clone().unwrap_or_default();
    assert!(body.contains(&number), "the restored server serves {FILED_DEMO} filed as {number}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_postgres_through_the_cli() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let base = pg_base();
    let schema = beian_testkit::pg::PgSchema::create("t_rel_src").await;
    let src = schema.url.clone();
    // Restore next to the original: another database, another schema name.
    let db = unique("t_rel_db");
    psql(&base, &format!("CREATE DATABASE {db}"));
    let dst = with_schema(&other_database(&base, &db), "t_restored");

    run(beian(dir).args(["--database-url", &src, "demo", "--seed-only"]));
    let original = check_json(beian(dir).args(["--database-url", &src]));
    let out = run(beian(dir).args(["--database-url", &src, "backup", "bk"]));
    assert!(out.contains("(postgres)"), "{out}");
    assert!(dir.join("bk/beian.pgdump").exists());
    let out = run(beian(dir).args(["--data-dir", "restored", "--database-url", &dst, "restore", "bk"]));
    assert!(out.contains("violations: none"), "{out}");
    let restored = check_json(beian(dir).args(["--data-dir", "restored", "--database-url", &dst]));
    let before = stored_order(&src, &key_of(&dir.join("beian-data")), FILED_DEMO).await;
    let after = stored_order(&dst, &key_of(&dir.join("restored")), FILED_DEMO).await;

    // A second restore into the now-populated schema is refused.
    let refused = beian(dir)
        .args(["--data-dir", "again", "--database-url", &dst, "restore", "bk"])
        .output()
        .expect("run");
    psql(&base, &format!("DROP DATABASE {db} WITH (FORCE)"));
    schema.drop_schema().await;
    assert_same_platform(&original, &restored);
    assert_eq!(after.state, FilingState::Filed { canceling: false });
    assert_eq!(before, after, "the filed demo order is restored as it was");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_planted_violations_and_exits_non_zero() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    run(beian(dir).args(["demo", "--seed-only"]));
    let data = dir.join("beian-data");
    let url = format!("sqlite://{}", data.join("beian.db").display());
    let store = Store::connect(&url, Crypto::from_hex(&key_of(&data)).expect("key")).await.expect("connect");
    // The filed demo's subject claims an application in review; a (second) order gets a status
    // that does not exist; a job is left running with a lease that ended long ago.
    store.exec_raw("UPDATE subjects SET in_progress = in_progress + 1").await.expect("plant in_progress");
    store
        .exec_raw(&format!("UPDATE filing_orders SET status = 7 WHERE appid = '{FILED_DEMO}'"))
        .await
        .expect("plant status");
    store
        .exec_raw(
            "UPDATE jobs SET state = 'running', locked_by = 'worker-gone', locked_until = 1 \
             WHERE id = (SELECT MIN(id) FROM jobs)",
        )
        .await
        .expect("plant lease");
    store.close().await;
    // And one media file is lost.
    let media = data.join("media");
    let sub =
        std::fs::read_dir(&media).expect("media dir").next().expect("a media subdir").expect("entry").path();
    let file = std::fs::read_dir(&sub).expect("subdir").next().expect("a media file").expect("entry").path();
    std::fs::remove_file(&file).expect("remove media file");

    let out = beian(dir).arg("check").output().expect("run check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "violations exit non-zero:\n{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("invariant violation"));
    for needle in [
        &format!("filing order {FILED_DEMO}: stored status 7"),
        "in_progress is 1 but 0 of its orders are in status 2 or 4",
        "filed_count is 1 but 0 of its orders are in status 6",
        "file missing from the media directory",
        "nobody took it over",
    ] {
        assert!(stdout.contains(needle), "`{needle}` in:\n{stdout}");
    }
    let json = beian(dir).args(["check", "--json"]).output().expect("run check --json");
    assert_eq!(json.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    assert_eq!(report["checked"]["corrupt_filing_states"], 1, "counted, not fatal: {report}");
    assert_eq!(report["checked"]["filing_orders"], 1);
    assert_eq!(report["warnings"].as_array().map(Vec::len), Some(1), "{report}");
}

// ---- nodes sharing one database ---------------------------------------------------------------

/// A database (and media directory, key and clock) that several nodes share.
pub(crate) struct Shared {
    url: String,
    /// PostgreSQL: the test's schema (for pg_dump).
    pub(crate) schema: Option<String>,
    key: String,
    pub(crate) clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
}

impl Shared {
    pub(crate) async fn new(backend: Backend) -> Shared {
        let dir = tempfile::tempdir().expect("tmp");
        let db = TestDatabase::fresh(backend, dir.path(), "t_rel").await;
        let clock = Arc::new(ManualClock::new(fixtures::start_time()));
        Shared { schema: db.schema_name(), url: db.url, key: Crypto::generate_hex(), clock, dir }
    }

    /// One node's service (not serving yet): the shared database, key (as
    /// `BEIAN_MASTER_KEY` would give it), media directory and clock.
    pub(crate) async fn node(&self) -> Arc<Service> {
        self.node_with_store().await.1
    }

    /// [`Shared::node`] and the store it was opened on (what serving it needs).
    pub(crate) async fn node_with_store(&self) -> (Store, Arc<Service>) {
        let args = ConfigArgs {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(self.dir.path().to_path_buf()),
            database_url: Some(self.url.clone()),
            ..ConfigArgs::default()
        };
        let config = Config { master_key: Some(self.key.clone()), ..Config::resolve(&args).expect("config") };
        let (store, svc) = beian::app::open(&config, self.clock.clone()).await.expect("service");
        service::far_deadlines(&svc).await;
        (store, svc)
    }
}

/// A node serving HTTP with its job worker.
pub(crate) struct Serving {
    pub(crate) base: String,
    server: Stoppable<anyhow::Result<()>>,
}

pub(crate) async fn serve((store, svc): (Store, Arc<Service>)) -> Serving {
    // The texts go to the development outbox, where the test counts them.
    let channels = beian_jobs::Channels { sms: Arc::new(svc.sms_outbox_sender()), ..Default::default() };
    let app = Application::with_service("127.0.0.1:0", &store, svc, beian::config::GatewayChoice::Simulator)
        .await
        .expect("bind")
        .with_channels(channels)
        .with_api_config(beian_api::ApiConfig { per_minute_limit: 100_000 })
        .with_worker_poll(std::time::Duration::from_millis(20));
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let server = Stoppable::spawn(|stop| app.run(stop));
    Serving { base, server }
}

impl Serving {
    pub(crate) async fn stop(self) {
        self.server.stop().await.expect("server stopped cleanly");
    }
}

pub(crate) async fn register_n(svc: &Service, appid: &str, n: u32) {
    let input = fixtures::mini_program(appid, &format!("可靠性{n}"), &Identity::admin(n));
    svc.mini_programs()
        .register_mini_program(&Actor::new("test", "reliability"), input)
        .await
        .expect("register");
}

async fn upload(svc: &Service, appid: &str, field: &str, cert: Option<u32>) -> String {
    service::upload_jpeg(svc, &Actor::new("test", "reliability"), appid, field, cert).await
}

pub(crate) async fn face_task(svc: &Service, appid: &str) -> String {
    service::finished_face_task(svc, &Actor::new("test", "reliability"), &Actor::new("admin", appid), appid)
        .await
}

/// Admin `n` as a principal named `name` (ID card valid 长期).
pub(crate) fn principal(n: u32, name: &str, front: &str, back: &str) -> Value {
    fixtures::principal(&person(n, name), "长期", front, back)
}

/// Admin `n` named `name`, with `p{n}@example.com`.
pub(crate) fn person(n: u32, name: &str) -> Identity {
    Identity::admin(n).named(name).with_email(format!("p{n}@example.com"))
}

/// A personal application by admin `n` (subject, principal and admin are the same person).
async fn personal(svc: &Service, appid: &str, n: u32) -> ApplyPayload {
    let (front, back) = service::id_card_photos(svc, &Actor::new("test", "reliability"), appid).await;
    let task = face_task(svc, appid).await;
    let m = Materials { front, back, task };
    serde_json::from_value(fixtures::personal_application(&person(n, &format!("管理员{n}")), &m))
        .expect("payload")
}

/// An enterprise application: person `legal` is the legal representative (subject principal),
/// admin `n` the mini program's principal with an authorization letter.
async fn enterprise(svc: &Service, appid: &str, code: &str, legal: u32, n: u32) -> ApplyPayload {
    let licence = upload(svc, appid, "icp_subject.organize_info.certificate_photo", Some(1)).await;
    let (front, back) = service::id_card_photos(svc, &Actor::new("test", "reliability"), appid).await;
    let letter = upload(svc, appid, "icp_applets.principal_info.authorization_letter", None).await;
    let task = face_task(svc, appid).await;
    let e = Enterprise {
        name: "深圳市可靠性测试有限公司",
        uscc: code,
        licence: &licence,
        letter: &letter,
        task: &task,
    };
    let (legal, admin) =
        (principal(legal, "法定代表人", &front, &back), principal(n, &format!("管理员{n}"), &front, &back));
    serde_json::from_value(fixtures::enterprise_application(&e, legal, admin)).expect("payload")
}

/// Every job due now is done, after exactly one attempt; returns how many.
pub(crate) async fn all_due_jobs_ran_once(svc: &Service) -> usize {
    let now = svc.now().timestamp();
    let mut due = Vec::new();
    for _ in 0..1500 {
        let jobs = svc.job_queue().jobs(None, 100_000).await.expect("jobs");
        due = jobs.into_iter().filter(|j| j.run_at <= now).collect::<Vec<_>>();
        if due.iter().all(|j| j.state.as_str() == "done" || j.state.as_str() == "dead") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for j in &due {
        assert_eq!(
            (j.state.as_str(), j.attempts),
            ("done", 1),
            "job #{} ({}) must run exactly once: {:?}",
            j.id,
            j.kind,
            j.last_error
        );
    }
    due.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_nodes_on_one_postgres_run_each_job_once_and_hold_the_subject_race() {
    let shared = Shared::new(Backend::Postgres).await;
    let ((store_a, a), (store_b, b)) = (shared.node_with_store().await, shared.node_with_store().await);
    let nodes = [a.clone(), b.clone()];
    let actor = Actor::new("test", "op");

    // Before the workers start: providers with receivers (ticket jobs), mini programs
    // authorized to them (authorized events), applications (face-task SMS, face-result events,
    // apply notices), spread over both nodes.
    const PROVIDERS: usize = 4;
    const APPS: u32 = 24;
    let mut providers = Vec::new();
    for i in 0..PROVIDERS {
        let svc = &nodes[i % 2];
        let receiver = Receiver::start(0).await;
        let creds = svc
            .providers()
            .create_provider(&actor, &format!("服务商{i}"), &receiver.url)
            .await
            .expect("provider");
        receiver.set_keys(&creds);
        providers.push((creds, receiver));
    }
    for n in 0..APPS {
        let svc = &nodes[n as usize % 2];
        let appid = format!("wxnode{n:04}");
        register_n(svc, &appid, n).await;
        let component = &providers[n as usize % PROVIDERS].0.component_appid;
        let (pre, _) = svc.providers().create_pre_auth_code(component).await.expect("pre");
        let id = admin_id(n);
        svc.providers()
            .authorize_provider(component, &pre, &appid, &admin_mobile(n), &id[12..], &[156])
            .await
            .expect("authorize");
        let payload = personal(svc, &appid, n).await;
        svc.filings().apply(&actor, &appid, payload).await.expect("apply");
    }

    let serving = [serve((store_a, a.clone())).await, serve((store_b, b.clone())).await];
    let jobs = all_due_jobs_ran_once(&a).await;
    for (creds, receiver) in &providers {
        assert_eq!(receiver.of_type("component_verify_ticket").len(), 1, "one ticket per provider");
        let mine: Vec<String> = (0..APPS)
            .filter(|n| providers[*n as usize % PROVIDERS].0.component_appid == creds.component_appid)
            .map(|n| format!("wxnode{n:04}"))
            .collect();
        for info in ["authorized", "notify_icpfiling_verify_result"] {
            let got = receiver.appids_of(info);
            assert_eq!(got, mine, "{info}: each event delivered exactly once");
        }
        assert_eq!(receiver.bad.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
    for n in 0..APPS {
        let outbox = a.job_queue().sms_outbox(Some(&admin_mobile(n)), 100).await.expect("outbox");
        let count = |needle: &str| outbox.iter().filter(|m| m.text.contains(needle)).count();
        assert_eq!((count("人脸核身"), count("备案申请已提交")), (1, 1), "wxnode{n:04}: one SMS per notice");
    }
    eprintln!("two nodes: {jobs} jobs, each run exactly once");

    // The never-filed-subject race across both nodes: 200 mini programs of one enterprise,
    // half the applies through each node. (The test JPEG is already stored by the sequential
    // setup above, so the concurrent uploads below do not hit the `MediaFiles::put`
    // temporary-name race described in docs/reliability.md.)
    const RACERS: u32 = 200;
    let code = uscc("91440300MA5F0R001");
    let setup = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    let mut prepared = Vec::new();
    for i in 0..RACERS {
        let svc = nodes[i as usize % 2].clone();
        let (permit, code) = (gate.clone().acquire_owned().await.expect("gate"), code.clone());
        prepared.push(tokio::spawn(async move {
            let n = 300 + i;
            let appid = format!("wxrace{i:04}");
            register_n(&svc, &appid, n).await;
            let p = enterprise(&svc, &appid, &code, 299, n).await;
            drop(permit);
            (appid, p)
        }));
    }
    let mut payloads = Vec::new();
    for p in prepared {
        payloads.push(p.await.expect("join"));
    }
    let setup = setup.elapsed();
    let start = Instant::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(payloads.len()));
    let mut racers = Vec::new();
    for (i, (appid, payload)) in payloads.into_iter().enumerate() {
        let (svc, barrier) = (nodes[i % 2].clone(), barrier.clone());
        racers.push(tokio::spawn(async move {
            barrier.wait().await;
            svc.filings().apply(&Actor::new("test", "race"), &appid, payload).await
        }));
    }
    let (mut accepted, mut refused) = (0, 0);
    for r in racers {
        match r.await.expect("join") {
            Ok(_) => accepted += 1,
            Err(ServiceError::Hints(h)) if h.iter().any(|h| h.errcode == errcode::SUBJECT_IN_PROGRESS) => {
                refused += 1
            }
            Err(ServiceError::Refused { errcode: errcode::CONFLICT, .. }) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    eprintln!(
        "two nodes: {RACERS} concurrent applies (100 per node) for one never-filed subject in {} ms \
         (setup {} ms): {accepted} accepted, {refused} refused",
        start.elapsed().as_millis(),
        setup.as_millis()
    );
    assert_eq!(accepted, 1, "exactly one application across both nodes");
    let jobs = all_due_jobs_ran_once(&b).await;
    eprintln!("two nodes: {jobs} jobs after the race, each run exactly once");
    for svc in &nodes {
        let report = svc.operations().check_invariants().await.expect("check");
        assert!(report.violations.is_empty(), "{:#?}", report.violations);
        assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
    }
    for s in serving {
        s.stop().await;
    }
    if let Some(schema) = &shared.schema {
        psql(&pg_base(), &format!("DROP SCHEMA {schema} CASCADE"));
    }
}

// ---- isolation ----------------------------------------------------------------------------------

pub(crate) async fn wx(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), 200, "WeChat-style answers are HTTP 200");
    r.json().await.expect("json")
}

pub(crate) fn code(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_token_reaches_only_its_own_mini_program() {
    let shared = Shared::new(Backend::Sqlite).await;
    let (store, svc) = shared.node_with_store().await;
    let node = serve((store, svc.clone())).await;
    let actor = Actor::new("test", "op");
    let (ma, mb) = ("wxisoa000001", "wxisob000001");
    register_n(&svc, ma, 1).await;
    register_n(&svc, mb, 2).await;
    // One provider, authorized by both mini programs: one token each.
    let creds = svc
        .providers()
        .create_provider(&actor, "隔离测试服务商", "http://127.0.0.1:9/events")
        .await
        .expect("provider");
    let mut tokens = Vec::new();
    for (appid, n) in [(ma, 1), (mb, 2)] {
        let (pre, _) = svc.providers().create_pre_auth_code(&creds.component_appid).await.expect("pre");
        let id = admin_id(n);
        let (auth, _) = svc
            .providers()
            .authorize_provider(&creds.component_appid, &pre, appid, &admin_mobile(n), &id[12..], &[18, 156])
            .await
            .expect("authorize");
        tokens.push(svc.providers().query_auth(&creds.component_appid, &auth).await.expect("tokens"));
    }
    let (ta, tb) = (tokens[0].access_token.clone(), tokens[1].access_token.clone());
    let http = reqwest::Client::new();
    let url = |path: &str, token: &str| format!("{}{path}?access_token={token}", node.base);

    // B's materials and face task, through the API with B's token.
    let upload = |token: String| {
        let form = reqwest::multipart::Form::new()
            .text("type", "image")
            .text("certificate_type", "2")
            .text("icp_order_field", "icp_subject.principal_info.certificate_photo_front")
            .part("media", reqwest::multipart::Part::bytes(JPEG.to_vec()).file_name("id.jpg"));
        http.post(url("/wxa/icp/upload_icp_media", &token)).multipart(form).send()
    };
    let media_b =
        wx(upload(tb.clone()).await.expect("send")).await["media_id"].as_str().expect("media").to_string();
    let media_a =
        wx(upload(ta.clone()).await.expect("send")).await["media_id"].as_str().expect("media").to_string();
    let task_b = wx(http.post(url("/wxa/icp/create_icp_verifytask", &tb)).send().await.expect("send")).await
        ["task_id"]
        .as_str()
        .expect("task")
        .to_string();
    svc.filings().apply(&actor, mb, personal(&svc, mb, 2).await).await.expect("B applies");

    // A's token never sees B: not its media, not its face task, not its status.
    let get_media = |token: &str, id: &str| {
        http.get(format!("{}&media_id={id}", url("/wxa/icp/get_icp_media", token))).send()
    };
    let r = get_media(&ta, &media_b).await.expect("send");
    assert_eq!(code(&wx(r).await), errcode::MEDIA_ID_INVALID, "A cannot read B's media");
    let r = get_media(&ta, &media_a).await.expect("send");
    assert_eq!(r.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("image/jpeg"));
    let r = get_media(&tb, &media_b).await.expect("send");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), JPEG, "B reads its own media");
    let v = wx(http
        .post(url("/wxa/icp/query_icp_verifytask", &ta))
        .body(format!(r#"{{"task_id":"{task_b}"}}"#))
        .send()
        .await
        .expect("send"))
    .await;
    assert_eq!(code(&v), errcode::FACE_TASK_NOT_FOUND, "A cannot read B's face task: {v}");
    for token in [&ta, &tb] {
        // An appid in the query or the body is ignored: the token decides.
        let v = wx(http
            .post(format!(
                "{}&appid={mb}&authorizer_appid={mb}",
                url("/wxa/icp/get_icp_entrance_info", token)
            ))
            .body(format!(r#"{{"appid":"{mb}"}}"#))
            .send()
            .await
            .expect("send"))
        .await;
        let expected = if token == &ta { 1024 } else { 2 };
        assert_eq!(v["info"]["status"], expected, "{v}");
    }
    // A's token cannot withdraw B's application either.
    let v = wx(http.post(url("/wxa/icp/cancel_apply_icp_filing", &ta)).send().await.expect("send")).await;
    assert_ne!(code(&v), 0, "{v}");
    assert_eq!(svc.filings().entrance_info(mb).await.expect("B").status, 2, "B's application untouched");

    // Revoked: A's token is refused at once (no grace period), B's keeps working.
    svc.providers()
        .revoke_authorization(&Actor::new("admin", ma), &creds.component_appid, ma)
        .await
        .expect("revoke");
    let v = wx(http.get(url("/wxa/icp/get_icp_entrance_info", &ta)).send().await.expect("send")).await;
    assert_eq!(code(&v), errcode::INVALID_CREDENTIAL, "{v}");
    let v = wx(http.get(url("/wxa/icp/get_icp_entrance_info", &tb)).send().await.expect("send")).await;
    assert_eq!(code(&v), 0, "{v}");
    match svc.providers().refresh_authorizer_token(&creds.component_appid, ma, &tokens[0].refresh_token).await
    {
        Err(ServiceError::Refused { errcode, .. }) => {
            assert!([errcode::INVALID_REFRESH_TOKEN, errcode::NOT_AUTHORIZED].contains(&errcode))
        }
        other => panic!("a revoked authorization's refresh token must be refused: {other:?}"),
    }
    node.stop().await;
}

// ---- secrets at rest ----------------------------------------------------------------------------

async fn secrets_are_stored_hashed(backend: Backend) {
    let shared = Shared::new(backend).await;
    let svc = shared.node().await;
    let actor = Actor::new("test", "op");
    let mut secrets: Vec<(&str, String)> = Vec::new();

    let creds = svc
        .providers()
        .create_provider(&actor, "密钥测试服务商", "http://127.0.0.1:9/events")
        .await
        .expect("provider");
    secrets.push(("component_appsecret", creds.component_appsecret.clone()));
    secrets.push(("message token", creds.token.clone()));
    secrets.push(("EncodingAESKey", creds.encoding_aes_key.clone()));
    let ticket = svc.providers().issue_verify_ticket(&creds.component_appid).await.expect("ticket");
    secrets.push(("component_verify_ticket", ticket.clone()));
    let (component_token, _) = svc
        .providers()
        .component_token(&creds.component_appid, &creds.component_appsecret, &ticket)
        .await
        .expect("token");
    secrets.push(("component_access_token", component_token));
    register_n(&svc, "wxsecret0001", 7).await;
    let (pre, _) = svc.providers().create_pre_auth_code(&creds.component_appid).await.expect("pre");
    secrets.push(("pre_auth_code", pre.clone()));
    let id = admin_id(7);
    let (auth, _) = svc
        .providers()
        .authorize_provider(&creds.component_appid, &pre, "wxsecret0001", &admin_mobile(7), &id[12..], &[156])
        .await
        .expect("authorize");
    secrets.push(("authorization_code", auth.clone()));
    let t = svc.providers().query_auth(&creds.component_appid, &auth).await.expect("tokens");
    secrets.push(("authorizer_access_token", t.access_token.clone()));
    secrets.push(("authorizer_refresh_token", t.refresh_token.clone()));
    let t2 = svc
        .providers()
        .refresh_authorizer_token(&creds.component_appid, "wxsecret0001", &t.refresh_token)
        .await
        .expect("refresh");
    secrets.push(("refreshed access token", t2.access_token));
    secrets.push(("rotated refresh token", t2.refresh_token));
    let rotated =
        svc.providers().rotate_provider_secret(&actor, &creds.component_appid).await.expect("rotate");
    secrets.push(("rotated component_appsecret", rotated));
    let (_, staff_token) = svc
        .review()
        .create_staff(&actor, "密钥审核", beian_core::platform::Role::Reviewer)
        .await
        .expect("staff");
    secrets.push(("staff token", staff_token));
    let password = "correct-horse-battery-staple".to_string();
    svc.accounts().create_account(&actor, "secretuser", "密钥用户", &password).await.expect("account");
    secrets.push(("password", password.clone()));
    let (session, _) = svc.accounts().login("secretuser", &password).await.expect("login");
    secrets.push(("session token", session));
    secrets.push(("admin ID number", id.clone()));
    secrets.push(("admin mobile", admin_mobile(7)));
    svc.close().await;

    let dumps: Vec<(String, Vec<u8>)> = match &shared.schema {
        Some(schema) => {
            let out = Command::new("pg_dump")
                .args(["--schema", schema, "--data-only", &pg_base()])
                .output()
                .expect("pg_dump (PostgreSQL client) must be installed");
            assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
            vec![("pg_dump".to_string(), out.stdout)]
        }
        None => std::fs::read_dir(shared.dir.path())
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("beian.db")))
            .map(|p| (p.display().to_string(), std::fs::read(&p).expect("read db file")))
            .collect(),
    };
    let total: usize = dumps.iter().map(|(_, d)| d.len()).sum();
    assert!(total > 10_000, "the database holds the test's data ({total} bytes)");
    // The password hash is there (so the scan looks at the right data)...
    assert!(dumps.iter().any(|(_, d)| contains(d, b"$argon2")), "the password hash is stored");
    // ...the secrets are not.
    for (name, bytes) in &dumps {
        for (what, secret) in &secrets {
            assert!(!contains(bytes, secret.as_bytes()), "{name} contains the {what} in plain text");
        }
    }
    if let Some(schema) = &shared.schema {
        psql(&pg_base(), &format!("DROP SCHEMA {schema} CASCADE"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_stored_hashed_sqlite() {
    secrets_are_stored_hashed(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_stored_hashed_postgres() {
    secrets_are_stored_hashed(Backend::Postgres).await;
}
