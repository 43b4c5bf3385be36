//! The server as a black box on a random port.

use beian::app::Application;
use beian::config::{Config, ConfigArgs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal HTTP/1.1 GET on 127.0.0.1: status code and body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http_get_with(addr, path, &[]).await
}

/// [`http_get`] with request headers.
pub async fn http_get_with(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn healthz_answers_on_the_embedded_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ConfigArgs {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_path_buf()),
        authority_gateway: Some("manual".into()),
        ..ConfigArgs::default()
    };
    let config = Config::resolve(&args).expect("config");
    assert!(config.database_url.starts_with("sqlite://"));
    let app = Application::build(&config).await.expect("build");
    let addr = app.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = rx.await;
    }));
    let (status, body) = http_get(addr, "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body.trim(), r#"{"status":"ok"}"#);
    let (status, _) = http_get(addr, "/no-such-page").await;
    assert_eq!(status, 404);
    let _ = tx.send(());
    server.await.expect("join").expect("clean shutdown");
    // The key was created next to the database, readable only by its owner.
    let key = dir.path().join("secret.key");
    assert!(key.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).expect("meta").permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn config_file_is_overridden_by_flags_and_env() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("beian.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9999\"\ndatabase_url = \"sqlite:///tmp/from-file.db\"\n\n[limits]\napi_calls_per_minute = 1200\n",
    )
    .expect("write");
    let from_file =
        Config::resolve(&ConfigArgs { config: Some(file.clone()), ..ConfigArgs::default() }).expect("cfg");
    assert_eq!(from_file.listen, "127.0.0.1:9999");
    assert_eq!(from_file.database_url, "sqlite:///tmp/from-file.db");
    assert_eq!(from_file.api.per_minute_limit, 1200);
    // clap fills these from flags or BEIAN_* variables; either wins over the file.
    let overridden = Config::resolve(&ConfigArgs {
        config: Some(file.clone()),
        listen: Some("127.0.0.1:7000".into()),
        ..ConfigArgs::default()
    })
    .expect("cfg");
    assert_eq!(overridden.listen, "127.0.0.1:7000");
    assert_eq!(overridden.database_url, "sqlite:///tmp/from-file.db");

    std::fs::write(&file, "listne = \"typo\"\n").expect("write");
    let err = Config::resolve(&ConfigArgs { config: Some(file), ..ConfigArgs::default() }).expect_err("typo");
    assert!(format!("{err:#}").contains("listne"), "{err:#}");
}

#[tokio::test]
async fn metrics_in_prometheus_format() {
    let token = "scraper-token-0123456789";
    let app = crate::support::TestApp::start_with_metrics(crate::support::Backend::Sqlite, token).await;
    crate::support::register(&app, "wxmetrics01", 71).await;
    crate::support::apply_personal(&app, "wxmetrics01", 71).await;
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().expect("addr");
    for _ in 0..3 {
        http_get(addr, "/healthz").await;
    }
    let (status, body) =
        http_get_with(addr, "/metrics", &[("Authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("beian_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 3"),
        "{body}"
    );
    assert!(body.contains(
        "beian_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"+Inf\"} 3"
    ));
    assert!(body.contains("beian_filings{status=\"2\"} 1"), "{body}");
    assert!(body.contains("beian_jobs{state="), "{body}");
    // The one apply went through the group committer (SQLite) in one commit.
    assert!(body.contains("beian_group_commits_total{kind=\"apply\"} 1\n"), "{body}");
    assert!(body.contains("beian_group_commit_writes_total{kind=\"apply\"} 1\n"), "{body}");
    app.stop().await;
}
