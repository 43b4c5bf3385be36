//! The CLI commands, run as a user runs them.

use std::process::Command;

fn beian(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_beian"));
    c.current_dir(dir).env_remove("BEIAN_DATABASE_URL").env_remove("BEIAN_DATA_DIR").env("BEIAN_LOG", "warn");
    c
}

fn run(c: &mut Command) -> String {
    let out = c.output().expect("run beian");
    assert!(out.status.success(), "beian failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `beian demo --seed-only` in `dir`: its data directory and the configuration that opens it.
fn demo_seeded(dir: &std::path::Path) -> (std::path::PathBuf, beian::config::Config) {
    use beian::config::{Config, ConfigArgs};
    run(beian(dir).args(["demo", "--seed-only"]));
    let data = dir.join("beian-data");
    let config =
        Config::resolve(&ConfigArgs { data_dir: Some(data.clone()), ..Default::default() }).expect("config");
    (data, config)
}

#[test]
fn demo_seeds_once_and_files_a_mini_program() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = run(beian(dir.path()).args(["demo", "--seed-only"]));
    assert!(first.contains("演示平台已初始化"), "{first}");
    assert!(first.contains("京ICP备"), "the demo files one mini program: {first}");
    // Statuses in words, the addresses to open and the next steps; no bare status codes.
    assert!(first.contains("未备案 · 小程序信息未完善") && first.contains("已备案"), "{first}");
    assert!(!first.contains("status 10"), "{first}");
    for path in ["/console", "/admin", "/query", "/miit/verify", "/admin/ops/sms"] {
        assert!(first.contains(&format!("127.0.0.1:8080{path}")), "{path} in {first}");
    }
    assert!(first.contains("下一步"), "{first}");
    // The README section it points at exists.
    let readme = include_str!("../../../../README.md");
    assert!(readme.contains("## Walkthrough: file through the API and watch it reach 已备案"));
    assert!(first.contains("Walkthrough: file through the API and watch it reach 已备案"), "{first}");
    assert!(first.contains("component_appsecret = "), "the demo provider's secret is shown once: {first}");
    let creds = dir.path().join("beian-data/demo-credentials.txt");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&creds).expect("creds file").permissions().mode() & 0o777, 0o600);
    }
    let second = run(beian(dir.path()).args(["demo", "--seed-only"]));
    assert!(second.contains("演示数据已存在"), "{second}");
    assert!(dir.path().join("beian-data/beian.db").exists(), "default data dir is ./beian-data");
}

#[test]
fn demo_and_migrate_on_postgres() {
    let url = beian_testkit::pg::PgSchema::create_blocking("t_cli").url;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(beian(dir.path()).args(["--database-url", &url, "migrate"]));
    assert!(out.contains("latest schema"), "{out}");
    let out = run(beian(dir.path()).args(["--database-url", &url, "demo", "--seed-only"]));
    assert!(out.contains("京ICP备"), "{out}");
}

#[test]
fn a_bad_database_url_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = beian(dir.path()).args(["--database-url", "mysql://x", "migrate"]).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sqlite://") && err.contains("postgres://"), "{err}");
}

/// The README walkthrough, as a person runs it (curl against `beian demo`).
#[test]
fn readme_walkthrough_reaches_filed() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new("bash")
        .arg(format!("{root}/scripts/demo-walkthrough"))
        .env("BEIAN_BIN", env!("CARGO_BIN_EXE_beian"))
        .env_remove("BEIAN_URL")
        .output()
        .expect("run the walkthrough (needs bash, curl, python3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "walkthrough failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("walkthrough complete") && stdout.contains("号-1X"), "{stdout}");
}

/// Media stored before encryption at rest (plain files named by their SHA-256) are reported by
/// `beian check` and sealed by `beian migrate`: afterwards no media file holds a plaintext,
/// every row names a sealed object that opens to the same bytes, and the check is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_seals_plain_media_and_check_reports_them() {
    use beian_store::MediaFiles;
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, config) = demo_seeded(dir.path());

    // Make the demo's media what an older version stored: plain files under their SHA-256.
    let (store, svc) =
        beian::app::open(&config, std::sync::Arc::new(beian_service::SystemClock)).await.expect("open");
    let rows = svc.operations().media_rows_page("", 1000).await.expect("rows");
    assert!(rows.len() >= 2, "the demo uploads media");
    let files = MediaFiles::new(data.join("media")).expect("media dir");
    let mut plains = Vec::new();
    for m in &rows {
        plains.push(svc.materials().get_media(&m.appid, &m.media_id).await.expect("media").1);
    }
    for (m, plain) in rows.iter().zip(&plains) {
        let sha = MediaFiles::sha256_hex(plain);
        files.put(&sha, plain).expect("plain file");
        store
            .exec_raw(&format!("UPDATE media SET sha256 = '{sha}' WHERE media_id = '{}'", m.media_id))
            .await
            .expect("point the row at the plain file");
    }
    for m in &rows {
        let _ = files.delete(&m.sha256);
    }
    svc.close().await;

    let out = beian(dir.path()).args(["check"]).output().expect("check");
    assert!(!out.status.success(), "plain objects are a violation");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("plain (unencrypted) object"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = run(beian(dir.path()).args(["migrate"]));
    assert!(out.contains("sealed") && out.contains("plain media objects"), "{out}");
    run(beian(dir.path()).args(["check"]));
    let again = run(beian(dir.path()).args(["migrate"]));
    assert!(!again.contains("sealed"), "nothing left to seal: {again}");

    for p in crate::support::files(&data.join("media")) {
        let bytes = std::fs::read(&p).expect("read");
        assert!(beian_store::Crypto::is_sealed_media(&bytes), "{} is not sealed", p.display());
        assert!(!plains.contains(&bytes));
    }
    let svc = beian::app::open_service(&config, std::sync::Arc::new(beian_service::SystemClock))
        .await
        .expect("open");
    for (m, plain) in rows.iter().zip(&plains) {
        assert_eq!(&svc.materials().get_media(&m.appid, &m.media_id).await.expect("media").1, plain);
    }
    svc.close().await;
}

/// `beian check` warns when the next 60 days (by the system clock: the binary has no other)
/// reach a year without working-day data, and a file in `<data_dir>/calendar` ends it. On
/// 2026-12-02 that year is 2027.
#[test]
fn check_warns_about_years_without_calendar_data() {
    use chrono::Datelike;
    let dir = tempfile::tempdir().expect("tempdir");
    run(beian(dir.path()).args(["migrate"]));
    let today = beian_core::time::beijing_date(chrono::Utc::now());
    let missing = beian_core::calendar::WorkCalendar::china()
        .uncovered_years(today, today + chrono::Duration::days(beian_service::calendar::LOOKAHEAD_DAYS));
    let out = run(beian(dir.path()).args(["check"]));
    let warned = out.contains("working-day calendar: no holiday data for");
    if missing.is_empty() {
        assert!(!warned, "{out}");
        return;
    }
    let years: Vec<String> = missing.iter().map(|y| y.to_string()).collect();
    assert!(out.contains(&format!("no holiday data for {}", years.join(", "))), "{out}");
    assert!(out.contains("节假日数据未加载"), "{out}");
    let calendar = dir.path().join("beian-data/calendar");
    std::fs::create_dir_all(&calendar).expect("dir");
    for year in &missing {
        // A year's first Monday off: any valid file covers the year.
        let first_monday = (1..=7)
            .filter_map(|day| chrono::NaiveDate::from_ymd_opt(*year, 1, day))
            .find(|d| d.weekday() == chrono::Weekday::Mon)
            .expect("a Monday");
        let file = serde_json::json!({ "year": year, "days": [
            { "name": "测试", "date": first_monday.to_string(), "isOffDay": true }
        ]});
        std::fs::write(calendar.join(format!("{year}.json")), file.to_string()).expect("write");
    }
    let out = run(beian(dir.path()).args(["check"]));
    assert!(!out.contains("working-day calendar"), "{out}");
}

/// `serve` needs an identity provider chosen: without one it refuses and names the choices;
/// an unknown one or a vendor without its settings is refused too (the secret never echoed).
#[test]
fn serve_refuses_without_an_identity_provider() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = beian(dir.path())
        .env_remove("BEIAN_IDENTITY_PROVIDER")
        .args(["--listen", "127.0.0.1:0", "serve"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tencent_faceid") && err.contains("aliyun_cloudauth") && err.contains("no biometrics"),
        "{err}"
    );

    let out =
        beian(dir.path()).env("BEIAN_IDENTITY_PROVIDER", "face_magic").args(["serve"]).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"face_magic\" is unknown"));

    std::fs::write(
        dir.path().join("beian.toml"),
        "[identity]\nprovider = \"tencent_faceid\"\nsecret_id = \"AKIDx\"\nsecret_key = \"very-secret-value\"\n",
    )
    .expect("config");
    let out = beian(dir.path()).args(["--config", "beian.toml", "serve"]).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rule_id"), "{err}");
    assert!(!err.contains("very-secret-value"), "the secret is never printed: {err}");
}

#[test]
fn check_names_sms_events_without_a_template_and_refuses_clear_text_smtp() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("beian.toml"),
        "[sms]\nprovider = \"tencent\"\nkey_id = \"AKIDx\"\nsecret = \"very-secret-sms\"\nsdk_app_id = \"1400006666\"\n\
         [[sms.templates]]\nevent = \"status_notice\"\nsign_name = \"小程序备案\"\ntemplate_id = \"1110\"\nparams = [\"name\", \"title\"]\n",
    )
    .expect("config");
    let out = beian(dir.path()).args(["--config", "beian.toml", "check"]).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("face_verification") && err.contains("docs/sms-templates.md"), "{err}");
    assert!(!err.contains("very-secret-sms"), "the secret is never printed: {err}");

    std::fs::write(
        dir.path().join("beian.toml"),
        "[smtp]\nhost = \"smtp.example.cn\"\nfrom = \"noreply@example.cn\"\nsecurity = \"none\"\n",
    )
    .expect("config");
    let out = beian(dir.path()).args(["--config", "beian.toml", "check"]).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only allowed to a relay on this machine"));
}

/// `beian reindex-public` rebuilds the public index: postings left without a signature by an
/// older version (migration 0024 gives them 0) get theirs, and the filed mini program is
/// still found by name.
#[tokio::test(flavor = "multi_thread")]
async fn reindex_public_fills_in_signatures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, config) = demo_seeded(dir.path());
    let unsigned = "SELECT COUNT(*) FROM public_filing_grams WHERE sig = 0";
    {
        let (store, svc) =
            beian::app::open(&config, std::sync::Arc::new(beian_service::SystemClock)).await.expect("open");
        store
            .exec_raw("UPDATE public_filing_grams SET sig = 0")
            .await
            .expect("as an older version left them");
        assert_ne!(
            store
                .raw_bytes(&format!("SELECT CAST(CAST(({unsigned}) AS TEXT) AS BLOB)"))
                .await
                .expect("count"),
            b"0"
        );
        svc.close().await;
    }
    let out = run(beian(dir.path()).arg("reindex-public"));
    assert_eq!(out.trim(), "public index rebuilt: 1 filed mini programs", "{out}");
    let (store, svc) =
        beian::app::open(&config, std::sync::Arc::new(beian_service::SystemClock)).await.expect("open");
    assert_eq!(
        store.raw_bytes(&format!("SELECT CAST(CAST(({unsigned}) AS TEXT) AS BLOB)")).await.expect("count"),
        b"0"
    );
    let total = store
        .raw_bytes("SELECT CAST(CAST(COUNT(*) AS TEXT) AS BLOB) FROM public_filing_grams")
        .await
        .expect("count");
    assert_ne!(total, b"0", "the demo's filed mini program has postings");
    let name = store.raw_bytes("SELECT CAST(service_name AS BLOB) FROM public_filings").await.expect("name");
    let name = String::from_utf8(name).expect("utf-8");
    let found = svc.public_index().public_query(&name).await.expect("query");
    assert_eq!(found.items.len(), 1, "{name}: {found:?}");
    svc.close().await;
}
