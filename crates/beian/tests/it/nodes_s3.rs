//! Several nodes with media in S3-compatible object storage (docs/reliability.md): moto's S3
//! server as the bucket, two nodes on one PostgreSQL schema, each with its own (empty) data
//! directory. Uploads through one node are served and accepted by the other, every event is
//! delivered once, `beian check` verifies the objects (and notices a missing one), backup
//! downloads the objects and restore uploads them again. Misconfiguration stops startup.
//!
//! moto's server comes from `scripts/ensure-tools` (`pip install 'moto[server]'`); without it
//! these tests fail and say so — they never skip.

use crate::reliability::{all_due_jobs_ran_once, code, face_task, person, register_n, serve, unique, wx};
use crate::support::{admin_id, admin_mobile, Receiver, JPEG};
use beian::app::open_service;
use beian::config::{Config, ConfigArgs, MediaBackend};
use beian_core::errcode;
use beian_service::{Actor, ManualClock, Service};
use beian_store::media::{sigv4, Credentials, S3Config};
use beian_store::{Crypto, MediaFiles};
use beian_testkit::fixtures::{self, Materials};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---- moto's S3 server --------------------------------------------------------------------------

/// `moto_server` on a free port of 127.0.0.1, killed when dropped.
struct Moto {
    endpoint: String,
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Moto {
    async fn start() -> Moto {
        let port = beian_testkit::servers::free_port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let spawn = |program: &str, pre: &[&str]| {
            Command::new(program)
                .args(pre)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log.reopen().expect("log"))
                .spawn()
        };
        // The console script, or the module in whichever Python `python3` is.
        let child = spawn("moto_server", &[])
            .or_else(|_| spawn("python3", &["-m", "moto.server"]))
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto's S3 server ({e}): install it with scripts/ensure-tools \
                 (python3 -m pip install 'moto[server]')"
                )
            });
        let mut moto = Moto { endpoint: format!("http://127.0.0.1:{port}"), child, log };
        let started = Instant::now();
        let http = reqwest::Client::new();
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto's S3 server exited at once ({status}): install it with scripts/ensure-tools \
                     (python3 -m pip install 'moto[server]'); its output:\n{}",
                    moto.output()
                );
            }
            if http.get(&moto.endpoint).timeout(Duration::from_secs(2)).send().await.is_ok() {
                return moto;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto's S3 server did not answer on {} within 60 s; its output:\n{}",
                moto.endpoint,
                moto.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn config(&self, bucket: &str, prefix: &str) -> S3Config {
        S3Config {
            endpoint: self.endpoint.clone(),
            bucket: bucket.into(),
            region: "us-east-1".into(),
            prefix: prefix.into(),
            credentials: credentials(),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn credentials() -> Credentials {
    Credentials { access_key_id: "AKIDBEIANTEST".into(), secret_access_key: "beian/test/secret".into() }
}

/// A request to the bucket (`key: None`) or an object, signed like beian signs (moto does not
/// check signatures, but a real S3 would).
async fn raw(cfg: &S3Config, method: reqwest::Method, key: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let path = match key {
        Some(k) => format!("/{}/{k}", cfg.bucket),
        None => format!("/{}", cfg.bucket),
    };
    let url: reqwest::Url = format!("{}{path}", cfg.endpoint).parse().expect("url");
    let host = format!("{}:{}", url.host_str().expect("host"), url.port().expect("port"));
    let sha = MediaFiles::sha256_hex(&body);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    let date = sigv4::amz_date(now as i64);
    let headers = [("host", host.as_str()), ("x-amz-content-sha256", sha.as_str()), ("x-amz-date", &date)];
    let auth = sigv4::authorization(
        &cfg.credentials,
        &cfg.region,
        "s3",
        &date,
        &sigv4::Request {
            method: method.as_str(),
            canonical_uri: &path,
            canonical_query: "",
            headers: &headers,
            payload_sha256: &sha,
        },
    );
    reqwest::Client::new()
        .request(method, url)
        .header("x-amz-content-sha256", &sha)
        .header("x-amz-date", &date)
        .header("authorization", auth)
        .body(body)
        .send()
        .await
        .expect("S3 request")
}

async fn create_bucket(cfg: &S3Config) {
    let r = raw(cfg, reqwest::Method::PUT, None, Vec::new()).await;
    assert!(r.status().is_success(), "create bucket {}: {}", cfg.bucket, r.status());
}

fn key_of(cfg: &S3Config, sha: &str) -> String {
    format!("{}{}/{sha}", cfg.prefix, &sha[..2])
}

/// No media file was written under a data directory.
fn no_local_media(data_dir: &Path) {
    let files = walk(&data_dir.join("media"));
    assert!(files.is_empty(), "media must not land in {}: {files:?}", data_dir.display());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for e in entries.flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

// ---- two nodes -----------------------------------------------------------------------------------

/// One node on the shared database and bucket, with a data directory of its own.
async fn s3_node(
    url: &str,
    key: &str,
    clock: Arc<ManualClock>,
    s3: &S3Config,
    dir: &Path,
) -> (beian_store::Store, Arc<Service>) {
    let args = ConfigArgs {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_path_buf()),
        database_url: Some(url.into()),
        ..ConfigArgs::default()
    };
    let config = Config {
        master_key: Some(key.into()),
        media: MediaBackend::S3(s3.clone()),
        ..Config::resolve(&args).expect("config")
    };
    let (store, svc) = beian::app::open(&config, clock).await.expect("service");
    beian_testkit::service::far_deadlines(&svc).await;
    (store, svc)
}

/// Distinct image bytes per mini program and side (the JPEG magic, then a marker).
fn photo(n: u32, side: &str) -> Vec<u8> {
    let mut b = JPEG.to_vec();
    b.extend_from_slice(format!("beian-s3-test {n} {side} {}", unique("x")).as_bytes());
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_s3_share_media_and_deliver_each_event_once() {
    let moto = Moto::start().await;
    let s3 = moto.config("beian-media", "media/");
    create_bucket(&s3).await;
    let schema = beian_testkit::pg::PgSchema::create("t_s3").await;
    let url = schema.url.clone();
    let key = Crypto::generate_hex();
    // Monday 2026-03-02 10:00 Beijing time.
    let clock = Arc::new(ManualClock::new(fixtures::start_time()));
    let dirs = [tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp")];
    let (store_a, a) = s3_node(&url, &key, clock.clone(), &s3, dirs[0].path()).await;
    let (store_b, b) = s3_node(&url, &key, clock.clone(), &s3, dirs[1].path()).await;
    let nodes = [a.clone(), b.clone()];
    let crypto = store_a.crypto().clone();
    let serving = [serve((store_a, a.clone())).await, serve((store_b, b.clone())).await];
    let http = reqwest::Client::new();
    let actor = Actor::new("test", "op");

    // Two providers, each with an event receiver; mini programs authorized to them.
    let mut providers = Vec::new();
    for (i, svc) in nodes.iter().enumerate() {
        let receiver = Receiver::start(0).await;
        let creds = svc
            .providers()
            .create_provider(&actor, &format!("对象存储服务商{i}"), &receiver.url)
            .await
            .expect("provider");
        receiver.set_keys(&creds);
        providers.push((creds, receiver));
    }
    const APPS: u32 = 6;
    let mut uploaded: Vec<Vec<u8>> = Vec::new();
    // The first mini program's token and first media id (read again once its object is lost).
    let mut first: Option<(String, String)> = None;
    for n in 0..APPS {
        let appid = format!("wxs3node{n:04}");
        let (up, down) = (&serving[n as usize % 2], &serving[(n as usize + 1) % 2]);
        let svc = &nodes[n as usize % 2];
        register_n(svc, &appid, n).await;
        let component = &providers[n as usize % 2].0.component_appid;
        let (pre, _) = svc.providers().create_pre_auth_code(component).await.expect("pre");
        let (auth, _) = svc
            .providers()
            .authorize_provider(component, &pre, &appid, &admin_mobile(n), &admin_id(n)[12..], &[18, 156])
            .await
            .expect("authorize");
        let token = svc.providers().query_auth(component, &auth).await.expect("tokens").access_token;

        // Materials through one node's API …
        let mut ids = Vec::new();
        for (side, field) in [
            ("front", "icp_subject.principal_info.certificate_photo_front"),
            ("back", "icp_subject.principal_info.certificate_photo_back"),
        ] {
            let bytes = photo(n, side);
            let form = reqwest::multipart::Form::new()
                .text("type", "image")
                .text("certificate_type", "2")
                .text("icp_order_field", field)
                .part("media", reqwest::multipart::Part::bytes(bytes.clone()).file_name("id.jpg"));
            let v = wx(http
                .post(format!("{}/wxa/icp/upload_icp_media?access_token={token}", up.base))
                .multipart(form)
                .send()
                .await
                .expect("send"))
            .await;
            assert_eq!(code(&v), 0, "upload through node {}: {v}", n % 2);
            let id = v["media_id"].as_str().expect("media_id").to_string();
            // … served by the other node, byte for byte.
            let r = http
                .get(format!("{}/wxa/icp/get_icp_media?access_token={token}&media_id={id}", down.base))
                .send()
                .await
                .expect("send");
            assert_eq!(r.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("image/jpeg"));
            assert_eq!(
                r.bytes().await.expect("bytes").as_ref(),
                bytes.as_slice(),
                "the other node serves the bytes"
            );
            if first.is_none() {
                first = Some((token.clone(), id.clone()));
            }
            ids.push(id);
            uploaded.push(bytes);
        }
        // … and accepted by the other node's apply (media ownership and purpose hold).
        let task = face_task(&nodes[(n as usize + 1) % 2], &appid).await;
        let m = Materials { front: ids[0].clone(), back: ids[1].clone(), task };
        let payload = fixtures::personal_application(&person(n, &format!("管理员{n}")), &m);
        let v = wx(http
            .post(format!("{}/wxa/icp/apply_icp_filing?access_token={token}", down.base))
            .body(payload.to_string())
            .send()
            .await
            .expect("send"))
        .await;
        assert_eq!(code(&v), 0, "apply through the other node with the first node's uploads: {v}");
    }

    // Both workers run every job once; each event reaches its provider once.
    let jobs = all_due_jobs_ran_once(&a).await;
    for (i, (creds, receiver)) in providers.iter().enumerate() {
        assert_eq!(receiver.of_type("component_verify_ticket").len(), 1, "one ticket per provider");
        let mine: Vec<String> =
            (0..APPS).filter(|n| *n as usize % 2 == i).map(|n| format!("wxs3node{n:04}")).collect();
        for info in ["authorized", "notify_icpfiling_verify_result"] {
            let got = receiver.appids_of(info);
            assert_eq!(got, mine, "{}: {info} delivered exactly once each", creds.component_appid);
        }
        assert_eq!(receiver.bad.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    // The objects are where the layout says, sealed (named by their keyed digest, not their
    // SHA-256), and no node kept a local copy.
    for bytes in &uploaded {
        let name = crypto.media_digest(bytes);
        assert_ne!(name, MediaFiles::sha256_hex(bytes));
        let r = raw(&s3, reqwest::Method::GET, Some(&key_of(&s3, &name)), Vec::new()).await;
        assert_eq!(r.status(), 200, "object {name}");
        let stored = r.bytes().await.expect("bytes");
        assert!(!stored.windows(bytes.len().min(16)).any(|w| w == &bytes[..bytes.len().min(16)]), "sealed");
        assert_eq!(crypto.open_media(&name, &stored).expect("opens"), bytes.as_slice());
    }
    for d in &dirs {
        no_local_media(d.path());
    }

    // `beian check` on either node: every object there with its size.
    for svc in &nodes {
        let report = svc.operations().check_invariants().await.expect("check");
        assert!(report.violations.is_empty(), "{:#?}", report.violations);
        assert_eq!(report.checked.get("media").copied(), Some(2 * u64::from(APPS)));
        assert_eq!(report.checked.get("media_files").copied(), Some(2 * u64::from(APPS)));
    }
    // A lost object is reported (and answered as a system error, not a panic); put back, the
    // check is clean again.
    let lost = crypto.media_digest(&uploaded[0]);
    let r = raw(&s3, reqwest::Method::DELETE, Some(&key_of(&s3, &lost)), Vec::new()).await;
    assert!(r.status().is_success(), "delete: {}", r.status());
    let report = b.operations().check_invariants().await.expect("check");
    assert_eq!(report.violations.len(), 1, "{:#?}", report.violations);
    assert!(
        report.violations[0].contains(&lost)
            && report.violations[0].contains("object missing from the S3 bucket"),
        "{:#?}",
        report.violations
    );
    let (token, id) = first.expect("uploads");
    let v = wx(http
        .get(format!("{}/wxa/icp/get_icp_media?access_token={token}&media_id={id}", serving[1].base))
        .send()
        .await
        .expect("send"))
    .await;
    assert_eq!(code(&v), errcode::SYSTEM_ERROR, "a lost object is an internal error: {v}");
    let (name, sealed) = crypto.seal_media(&uploaded[0]);
    assert_eq!(name, lost);
    a.media().put(&name, &sealed).await.expect("put back");
    assert!(a.operations().check_invariants().await.expect("check").violations.is_empty());

    eprintln!(
        "two nodes with media in S3: {} uploads each served by the other node, {APPS} applies, {jobs} jobs each run once",
        uploaded.len()
    );
    for s in serving {
        s.stop().await;
    }
    schema.drop_schema().await;
}

// ---- startup refusals --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_s3_refuse_to_start_without_a_reachable_bucket() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let args = ConfigArgs { data_dir: Some(dir.path().to_path_buf()), ..ConfigArgs::default() };
    let clock = Arc::new(ManualClock::new(fixtures::start_time()));
    let open = |s3: S3Config| {
        let config = Config { media: MediaBackend::S3(s3), ..Config::resolve(&args).expect("config") };
        let clock = clock.clone();
        async move { open_service(&config, clock).await.map(|_| ()) }
    };
    let err = open(moto.config("no-such-bucket", "")).await.expect_err("a missing bucket stops startup");
    let msg = format!("{err:#}");
    assert!(msg.contains("not reachable") && msg.contains("no such bucket"), "{msg}");
    let closed = beian_testkit::servers::free_port();
    let s3 = S3Config { endpoint: format!("http://127.0.0.1:{closed}"), ..moto.config("beian-media", "") };
    let err = open(s3).await.expect_err("an unreachable endpoint stops startup");
    assert!(format!("{err:#}").contains("not reachable"), "{err:#}");

    // Through the binary: s3 chosen, keys missing.
    let out = cli(dir.path())
        .args([
            "--media-backend",
            "s3",
            "--s3-endpoint",
            &moto.endpoint,
            "--s3-bucket",
            "beian-media",
            "migrate",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("BEIAN_S3_ACCESS_KEY_ID") && stderr.contains("BEIAN_S3_SECRET_ACCESS_KEY"),
        "{stderr}"
    );
}

// ---- backup and restore ------------------------------------------------------------------------

/// The binary, with nothing inherited that would change its configuration.
fn cli(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_beian"));
    c.current_dir(dir).env("BEIAN_LOG", "warn");
    for k in [
        "BEIAN_DATABASE_URL",
        "BEIAN_DATA_DIR",
        "BEIAN_MASTER_KEY",
        "BEIAN_CONFIG",
        "BEIAN_MEDIA_BACKEND",
        "BEIAN_S3_ENDPOINT",
        "BEIAN_S3_BUCKET",
        "BEIAN_S3_REGION",
        "BEIAN_S3_PREFIX",
        "BEIAN_S3_ACCESS_KEY_ID",
        "BEIAN_S3_SECRET_ACCESS_KEY",
    ] {
        c.env_remove(k);
    }
    c
}

/// The binary with media in `cfg`'s bucket (keys through the environment, as in production).
fn cli_s3(dir: &Path, cfg: &S3Config) -> Command {
    let mut c = cli(dir);
    c.env("BEIAN_MEDIA_BACKEND", "s3")
        .env("BEIAN_S3_ENDPOINT", &cfg.endpoint)
        .env("BEIAN_S3_BUCKET", &cfg.bucket)
        .env("BEIAN_S3_PREFIX", &cfg.prefix)
        .env("BEIAN_S3_ACCESS_KEY_ID", &cfg.credentials.access_key_id)
        .env("BEIAN_S3_SECRET_ACCESS_KEY", &cfg.credentials.secret_access_key);
    c
}

fn ok(c: &mut Command) -> String {
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
    serde_json::from_str(&ok(c.args(["check", "--json"]))).expect("check --json prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_s3_backup_downloads_and_restore_uploads_the_objects() {
    let moto = Moto::start().await;
    let src = moto.config("beian-src", "m/");
    let dst = moto.config("beian-dst", "");
    create_bucket(&src).await;
    create_bucket(&dst).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();

    ok(cli_s3(dir, &src).args(["demo", "--seed-only"]));
    no_local_media(&dir.join("beian-data"));
    let original = check_json(&mut cli_s3(dir, &src));
    assert_eq!(original["violations"], serde_json::json!([]), "{original}");
    let objects = original["checked"]["media_files"].as_u64().unwrap_or(0);
    assert!(objects >= 1, "{original}");

    // The backup holds every object, in the local layout, sealed as stored: each opens under
    // the backup's key to bytes whose keyed digest is its name.
    ok(cli_s3(dir, &src).args(["backup", "bk"]));
    let files = walk(&dir.join("bk/media"));
    assert_eq!(files.len() as u64, objects, "{files:?}");
    let key = std::fs::read_to_string(dir.join("bk/secret.key")).expect("the backup keeps the key");
    let crypto = Crypto::from_hex(&key).expect("key");
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        assert!(crypto.open_media(&name, &bytes).is_ok(), "{name}");
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bk/backup.json")).expect("manifest"))
            .expect("json");
    assert_eq!(manifest["media_files"], objects);
    assert_eq!(manifest["violations"], 0, "the snapshot checks against the downloaded objects: {manifest}");

    // Restored with S3 configured: uploaded into the (empty) other bucket.
    let out = ok(cli_s3(dir, &dst).args(["--data-dir", "restored", "restore", "bk"]));
    assert!(out.contains("violations: none"), "{out}");
    no_local_media(&dir.join("restored"));
    for f in &files {
        let sha = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let r = raw(&dst, reqwest::Method::HEAD, Some(&key_of(&dst, &sha)), Vec::new()).await;
        assert_eq!(r.status(), 200, "{sha} uploaded by restore");
    }
    let restored = check_json(cli_s3(dir, &dst).args(["--data-dir", "restored"]));
    assert_eq!(restored["violations"], serde_json::json!([]), "{restored}");
    assert_eq!(restored["checked"], original["checked"], "every count survives the round trip");

    // The same backup restores onto local disks too.
    ok(cli(dir).args(["--data-dir", "restored-local", "restore", "bk"]));
    assert_eq!(walk(&dir.join("restored-local/media")).len() as u64, objects);
    let local = check_json(cli(dir).args(["--data-dir", "restored-local"]));
    assert_eq!(local["checked"], original["checked"]);
}
