//! Developer sign-in through a real OpenID provider: npm `oidc-provider` (installed by
//! `scripts/ensure-tools`) runs as a separate process (`oidc/provider.mjs`), beian is its
//! confidential client, and headless Chromium goes beian's sign-in page → the provider's login
//! and consent pages → back to the console, signed in; then signs out and in again (the same
//! account, found by issuer + subject).

use beian_browser_tests::{Browser, TestServer};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const CLIENT_ID: &str = "beian-console";
const CLIENT_SECRET: &str = "browser-test-client-secret";

/// `node oidc/provider.mjs` on a free port; killed when dropped.
struct OidcProvider {
    issuer: String,
    _child: tokio::process::Child,
}

impl OidcProvider {
    async fn start(redirect_uri: &str) -> OidcProvider {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("addr")
            .port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/oidc/provider.mjs");
        let mut child =
            tokio::process::Command::new(std::env::var("BEIAN_NODE").unwrap_or_else(|_| "node".into()))
                .arg(script)
                .env("PORT", port.to_string())
                .env("REDIRECT_URI", redirect_uri)
                .env("CLIENT_ID", CLIENT_ID)
                .env("CLIENT_SECRET", CLIENT_SECRET)
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("node runs oidc/provider.mjs (run scripts/ensure-tools once)");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let issuer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read provider output") {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    return issuer.to_string();
                }
            }
            panic!("oidc-provider exited before listening (is it installed? run scripts/ensure-tools)");
        })
        .await
        .expect("oidc-provider starts within 30 s");
        // Keep draining its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        OidcProvider { issuer, _child: child }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_in_through_a_real_openid_provider() {
    let server = TestServer::start().await;
    let provider = OidcProvider::start(&server.url("/console/oidc/callback")).await;
    let config = beian_vendors::oidc::OidcConfig {
        issuer: provider.issuer.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        redirect_url: server.url("/console/oidc/callback"),
        scopes: vec!["profile".into(), "email".into()],
        label: beian::signin::DEFAULT_OIDC_LABEL.into(),
    };
    server.svc.set_signin_provider(Some(Arc::new(beian_vendors::oidc::Oidc::new(config).expect("oidc"))));
    let browser = Browser::start("signs_in_through_a_real_openid_provider").await;

    browser.goto(&server.url("/console")).await;
    assert!(browser.current_path().await.starts_with("/console/login"), "{}", browser.current_path().await);
    browser.assert_text("使用平台账号登录").await;
    browser.assert_accessible().await;
    browser.screenshot("login-with-platform-button").await;
    browser.submit("#oidc-login").await;

    // The provider's own pages.
    assert!(browser.current_url().await.starts_with(&provider.issuer), "{}", browser.current_url().await);
    browser.fill("input[name=login]", "dev-zhang").await;
    browser.fill("input[name=password]", "any-password").await;
    browser.screenshot("provider-login").await;
    browser.submit("button[type=submit]").await;
    browser.assert_text("Authorize").await;
    browser.submit("button[type=submit]").await;

    // Back in the console, signed in as the provider's user.
    assert_eq!(browser.current_path().await, "/console");
    browser.assert_text("张开发").await;
    browser.screenshot("signed-in-through-the-provider").await;
    let accounts = server.svc.sign_in().list_accounts().await.expect("accounts");
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert_eq!(accounts[0].display_name, "张开发");
    assert_eq!(accounts[0].email.as_deref(), Some("dev-zhang@platform.example"));
    assert!(accounts[0].email_verified);
    assert!(server.svc.sign_in().is_identity(&accounts[0].id, &provider.issuer, "dev-zhang").await);

    // Sign out, then in again: the provider remembers the person; beian finds the same account.
    browser.submit("#menu form button[type=submit]").await;
    assert!(browser.current_path().await.starts_with("/console/login"), "{}", browser.current_path().await);
    browser.submit("#oidc-login").await;
    if browser.current_url().await.starts_with(&provider.issuer) {
        // The provider may ask for consent again; it never asks beian's questions.
        browser.submit("button[type=submit]").await;
    }
    assert_eq!(browser.current_path().await, "/console");
    browser.assert_text("张开发").await;
    assert_eq!(server.svc.sign_in().list_accounts().await.expect("accounts").len(), 1);
    server.stop().await;
}
