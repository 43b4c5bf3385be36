//! The lettre SMTP sender against beian-testkit's SMTP server: STARTTLS and implicit TLS with
//! a certificate made at test time (trusted through `[smtp] ca_file`) and checked
//! credentials, plain SMTP to a loopback relay, and the failures an operator must tell apart.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use beian_jobs::notify::{send_mail, NotifyError, SmtpConfig, SmtpSecurity, SmtpSender};
use beian_ports::messaging::{EmailMessage, EmailSender};
use beian_ports::PortError;
use beian_testkit::servers::{closed_addr, SmtpMode, SmtpOptions, SmtpServer, SmtpTls};
use std::net::SocketAddr;
use std::time::Duration;

const SUBJECT: &str = "小程序备案审核结果";
const BODY: &str = "您的小程序备案已通过。";
const USER: &str = "mailer";
const PASSWORD: &str = "s3cret密码";

fn config(addr: SocketAddr, security: SmtpSecurity) -> SmtpConfig {
    let mut c = SmtpConfig::new(&addr.ip().to_string(), addr.port(), "noreply@beian.example.cn", security);
    c.hello = Some("beian.example.cn".into());
    c.timeout_secs = Some(5);
    c
}

/// A TLS server that checks `USER`/`PASSWORD`, and a client configured to trust it.
async fn tls_server(tls: SmtpTls, mode: SmtpMode) -> (SmtpServer, SmtpConfig, tempfile::TempDir) {
    let server =
        SmtpServer::start_with(SmtpOptions { mode, tls, auth: Some((USER.into(), PASSWORD.into())) }).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem.as_deref().expect("a TLS server has a certificate")).expect("write ca");
    let security = if tls == SmtpTls::Implicit { SmtpSecurity::Tls } else { SmtpSecurity::Starttls };
    let mut cfg = config(server.addr, security);
    cfg.ca_file = Some(ca);
    cfg.username = Some(USER.into());
    cfg.password = Some(PASSWORD.into());
    (server, cfg, dir)
}

/// The decoded subject and body of a message lettre wrote (base64 body, RFC 2047 subject).
fn decode(data: &[u8]) -> (String, String) {
    let text = String::from_utf8(data.to_vec()).expect("message is UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("blank line after headers");
    let mut subject = String::new();
    let mut in_subject = false;
    for line in head.split("\r\n") {
        if let Some(v) = line.strip_prefix("Subject:") {
            subject.push_str(v);
            in_subject = true;
        } else if in_subject && line.starts_with([' ', '\t']) {
            subject.push_str(line);
        } else {
            in_subject = false;
        }
    }
    let mut bytes = Vec::new();
    for word in subject.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        let b64 = lower
            .strip_prefix("=?utf-8?b?")
            .and_then(|w| w.strip_suffix("?="))
            .map(|_| &word[10..word.len() - 2]);
        match b64 {
            Some(b) => bytes.extend(B64.decode(b).expect("encoded word is base64")),
            None => bytes.extend(word.as_bytes()),
        }
    }
    assert!(head.to_ascii_lowercase().contains("content-transfer-encoding: base64"), "{head}");
    let body = B64.decode(body.split("\r\n").collect::<String>()).expect("body is base64");
    (String::from_utf8(bytes).expect("subject"), String::from_utf8(body).expect("body"))
}

#[tokio::test]
async fn starttls_with_auth_delivers() {
    let (server, cfg, _dir) = tls_server(SmtpTls::StartTls, SmtpMode::Normal).await;
    send_mail(&cfg, "developer@example.cn", SUBJECT, BODY).await.expect("mail is delivered");
    let session = server.finish().await;
    assert!(session.tls, "the message went over TLS");
    let starttls = session.commands.iter().position(|c| c == "STARTTLS").expect("STARTTLS sent");
    let auth = session.commands.iter().position(|c| c.starts_with("AUTH")).expect("AUTH sent");
    assert!(starttls < auth, "credentials only after TLS: {:?}", session.commands);
    assert_eq!(session.auth_plain.as_deref(), Some(format!("\0{USER}\0{PASSWORD}").as_bytes()));
    assert_eq!(session.rcpt_to, ["<developer@example.cn>"]);
    let (subject, body) = decode(session.data.as_deref().expect("DATA received"));
    assert_eq!((subject.as_str(), body.as_str()), (SUBJECT, BODY));
}

#[tokio::test]
async fn implicit_tls_with_auth_delivers_through_the_port() {
    let (server, cfg, _dir) = tls_server(SmtpTls::Implicit, SmtpMode::Normal).await;
    let sender = SmtpSender::new(cfg).expect("sender");
    let m = EmailMessage { to: "developer@example.cn".into(), subject: SUBJECT.into(), body: BODY.into() };
    sender.send_email(&m).await.expect("mail is delivered");
    let session = server.finish().await;
    assert!(session.tls && session.commands.iter().all(|c| c != "STARTTLS"));
    assert_eq!(decode(session.data.as_deref().expect("DATA")).1, BODY);
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_an_operator_message() {
    let (server, mut cfg, _dir) = tls_server(SmtpTls::StartTls, SmtpMode::Normal).await;
    cfg.password = Some("wrong".into());
    let sender = SmtpSender::new(cfg).expect("sender");
    let m = EmailMessage { to: "developer@example.cn".into(), subject: SUBJECT.into(), body: BODY.into() };
    let err = sender.send_email(&m).await.expect_err("535");
    match &err {
        PortError::Refused(why) => {
            assert!(why.contains("535") && why.contains("username and password"), "{why}");
            assert!(!why.contains("wrong"), "the password is never in the message: {why}");
        }
        other => panic!("a wrong password is Refused (dead-lettered at once): {other:?}"),
    }
    let session = server.finish().await;
    assert!(session.mail_from.is_none(), "nothing sent after the refusal");
}

#[tokio::test]
async fn an_untrusted_certificate_is_not_accepted() {
    let (server, mut cfg, _dir) = tls_server(SmtpTls::StartTls, SmtpMode::Normal).await;
    cfg.ca_file = None;
    let err = send_mail(&cfg, "developer@example.cn", SUBJECT, BODY).await.expect_err("unknown issuer");
    assert!(err.is_retryable(), "a TLS failure may be a transient misconfiguration: {err:?}");
    let session = server.finish().await;
    assert!(session.auth_plain.is_none(), "no credentials to a server that failed verification");
}

#[tokio::test]
async fn starttls_is_required_not_optional() {
    // A plain server that does not offer STARTTLS: the client must not fall back to clear text.
    let server = SmtpServer::start(SmtpMode::Normal).await;
    let mut cfg = config(server.addr, SmtpSecurity::Starttls);
    cfg.username = Some(USER.into());
    cfg.password = Some(PASSWORD.into());
    let err = send_mail(&cfg, "developer@example.cn", SUBJECT, BODY).await.expect_err("no STARTTLS");
    let session = server.finish().await;
    assert!(session.auth_plain.is_none(), "no credentials in clear: {err:?}");
    assert!(session.data.is_none());
}

#[tokio::test]
async fn plain_to_a_loopback_relay_without_auth() {
    let server = SmtpServer::start(SmtpMode::Normal).await;
    let cfg = config(server.addr, SmtpSecurity::None);
    let body = "您好：\n\n您的小程序备案已通过。备案号：京ICP备2025000001号-1X。\n".repeat(5);
    send_mail(&cfg, "a.b+c@example.cn", SUBJECT, &body).await.expect("mail is delivered");
    let session = server.finish().await;
    assert!(session.auth_plain.is_none() && !session.tls);
    assert_eq!(decode(session.data.as_deref().expect("DATA")).1.replace("\r\n", "\n"), body);
}

#[tokio::test]
async fn a_rejected_recipient_is_refused() {
    let server = SmtpServer::start(SmtpMode::RejectRcpt).await;
    let cfg = config(server.addr, SmtpSecurity::None);
    let err = send_mail(&cfg, "nobody@example.cn", SUBJECT, BODY).await.expect_err("550 fails");
    assert!(matches!(&err, NotifyError::Refused(m) if m.contains("550")), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn header_injection_is_refused_without_connecting() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let cfg = config(listener.local_addr().expect("addr"), SmtpSecurity::None);
    for to in
        ["victim@example.cn\r\nBcc: everyone@example.cn", "victim@example.cn>\r\nRCPT TO:<other@example.cn"]
    {
        let err = send_mail(&cfg, to, SUBJECT, BODY).await.expect_err("injection refused");
        assert!(matches!(&err, NotifyError::InvalidInput(m) if m.contains("recipient")), "{to:?}: {err:?}");
    }
    let mut bad_from = cfg.clone();
    bad_from.from = "noreply@example.cn\r\nX-Evil: 1".into();
    let err = send_mail(&bad_from, "ok@example.cn", SUBJECT, BODY).await.expect_err("injection refused");
    assert!(matches!(&err, NotifyError::InvalidInput(m) if m.contains("from")), "{err:?}");
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "no connection was made");
}

#[tokio::test]
async fn a_silent_server_times_out_and_is_retried() {
    let server = SmtpServer::start(SmtpMode::Silent).await;
    let mut cfg = config(server.addr, SmtpSecurity::None);
    cfg.timeout_secs = Some(1);
    let started = std::time::Instant::now();
    let err = send_mail(&cfg, "developer@example.cn", SUBJECT, BODY).await.expect_err("times out");
    assert!(err.is_retryable(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "gave up after the time limit");
    drop(server);
}

#[tokio::test]
async fn a_down_server_is_retried() {
    let (_, cfg, _dir) = tls_server(SmtpTls::StartTls, SmtpMode::Normal).await;
    let mut cfg = SmtpConfig { port: None, ..cfg };
    cfg.port = Some(closed_addr().await.port());
    let sender = SmtpSender::new(cfg).expect("sender");
    let m = EmailMessage { to: "developer@example.cn".into(), subject: SUBJECT.into(), body: BODY.into() };
    let err = sender.send_email(&m).await.expect_err("nothing listens");
    assert!(matches!(err, PortError::Retry(_)), "{err:?}");
}
