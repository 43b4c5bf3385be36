//! `send_mail` against the fake SMTP server of `servers`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use beian_jobs::notify::{send_mail, NotifyError, SmtpConfig};
use beian_testkit::servers::{closed_addr, SmtpMode, SmtpServer};
use std::net::SocketAddr;
use std::time::Duration;

const SUBJECT: &str = "小程序备案审核结果";
const BODY: &str = "您的小程序备案已通过。";

fn config(addr: SocketAddr) -> SmtpConfig {
    SmtpConfig {
        host: addr.ip().to_string(),
        port: addr.port(),
        from: "noreply@beian.example.cn".into(),
        hello: Some("beian.example.cn".into()),
        username: None,
        password: None,
        timeout_secs: Some(5),
    }
}

/// A parsed message: unfolded headers (name, value) and the raw body.
struct Message {
    headers: Vec<(String, String)>,
    body: String,
}

impl Message {
    fn parse(data: &[u8]) -> Message {
        let text = String::from_utf8(data.to_vec()).expect("message is ASCII/UTF-8");
        // Every line break is CRLF: no bare CR or LF anywhere.
        assert!(!text.replace("\r\n", "").contains(['\r', '\n']), "bare CR/LF in {text:?}");
        assert!(text.is_ascii(), "the message itself is 7-bit clean");
        let (head, body) = text.split_once("\r\n\r\n").expect("blank line after headers");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().expect("continuation after a header");
                last.1.push_str(line);
            } else {
                let (name, value) = line.split_once(':').expect("header has a colon");
                headers.push((name.to_string(), value.trim_start().to_string()));
            }
        }
        Message { headers, body: body.to_string() }
    }

    fn header(&self, name: &str) -> &str {
        let mut found = self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let (_, value) = found.next().unwrap_or_else(|| panic!("header {name} missing"));
        assert!(found.next().is_none(), "header {name} repeated");
        value
    }
}

/// Decodes a header value made of RFC 2047 `=?UTF-8?B?…?=` words (whitespace between
/// encoded words is ignored, as RFC 2047 requires).
fn decode_rfc2047(value: &str) -> String {
    let mut bytes = Vec::new();
    for word in value.split_whitespace() {
        assert!(word.len() <= 75, "encoded word too long: {word}");
        let b64 = word
            .strip_prefix("=?UTF-8?B?")
            .and_then(|w| w.strip_suffix("?="))
            .unwrap_or_else(|| panic!("not an encoded word: {word}"));
        bytes.extend(B64.decode(b64).expect("encoded word is base64"));
    }
    String::from_utf8(bytes).expect("subject is UTF-8")
}

/// Decodes a base64 body, checking its lines are at most 76 characters.
fn decode_body(body: &str) -> String {
    let lines: Vec<&str> = body.strip_suffix("\r\n").expect("body ends with CRLF").split("\r\n").collect();
    for line in &lines {
        assert!(line.len() <= 76, "base64 line longer than 76: {line}");
    }
    String::from_utf8(B64.decode(lines.concat()).expect("body is base64")).expect("body is UTF-8")
}

#[tokio::test]
async fn delivers_chinese_mail_with_auth() {
    let server = SmtpServer::start(SmtpMode::Normal).await;
    let mut cfg = config(server.addr);
    cfg.username = Some("mailer".into());
    cfg.password = Some("s3cret密码".into());

    send_mail(&cfg, "developer@example.cn", SUBJECT, BODY).await.expect("mail is delivered");
    let session = server.finish().await;

    assert_eq!(session.commands[0], "EHLO beian.example.cn");
    assert_eq!(session.auth_plain.as_deref(), Some("\0mailer\0s3cret密码".as_bytes()));
    assert_eq!(session.mail_from.as_deref(), Some("<noreply@beian.example.cn>"));
    assert_eq!(session.rcpt_to, ["<developer@example.cn>"]);
    assert!(session.quit, "the client says QUIT");

    let msg = Message::parse(session.data.as_deref().expect("DATA received"));
    assert_eq!(decode_rfc2047(msg.header("Subject")), SUBJECT);
    assert_eq!(msg.header("From"), "noreply@beian.example.cn");
    assert_eq!(msg.header("To"), "developer@example.cn");
    assert_eq!(msg.header("MIME-Version"), "1.0");
    assert_eq!(msg.header("Content-Type"), "text/plain; charset=UTF-8");
    assert_eq!(msg.header("Content-Transfer-Encoding"), "base64");
    let id = msg.header("Message-ID");
    assert!(id.starts_with('<') && id.ends_with("@beian.example.cn>"), "{id}");
    let date = msg.header("Date");
    assert!(date.ends_with(" +0000") && date.len() == "Tue, 01 Jul 2025 08:05:09 +0000".len(), "{date}");
    assert_eq!(decode_body(&msg.body), BODY);
}

#[tokio::test]
async fn long_multiline_body_without_auth() {
    let server = SmtpServer::start(SmtpMode::Normal).await;
    let cfg = config(server.addr);
    let subject = "关于您提交的小程序备案申请的审核结果通知（请于七日内处理）";
    let body = "您好：\n\n您的小程序备案已通过。备案号：京ICP备2025000001号-1X。\n".repeat(5);

    send_mail(&cfg, "a.b+c@example.cn", subject, &body).await.expect("mail is delivered");
    let session = server.finish().await;

    assert!(session.auth_plain.is_none(), "no AUTH without a username");
    assert!(session.commands.iter().all(|c| !c.starts_with("AUTH")));
    let msg = Message::parse(session.data.as_deref().expect("DATA received"));
    // The long subject is split over several encoded words on folded lines.
    assert!(msg.header("Subject").contains("?= =?UTF-8?B?"), "{}", msg.header("Subject"));
    assert_eq!(decode_rfc2047(msg.header("Subject")), subject);
    assert!(msg.body.split("\r\n").filter(|l| l.len() == 76).count() > 3);
    assert_eq!(decode_body(&msg.body), body.replace('\n', "\r\n"));
}

#[tokio::test]
async fn falls_back_to_helo() {
    let server = SmtpServer::start(SmtpMode::NoEhlo).await;
    let mut cfg = config(server.addr);
    cfg.hello = None;

    send_mail(&cfg, "developer@example.cn", SUBJECT, BODY).await.expect("mail is delivered");
    let session = server.finish().await;
    assert_eq!(session.commands[..2], ["EHLO localhost", "HELO localhost"]);
    assert!(session.data.is_some());
}

#[tokio::test]
async fn rejected_recipient_is_a_protocol_error() {
    let server = SmtpServer::start(SmtpMode::RejectRcpt).await;
    let cfg = config(server.addr);

    let err = send_mail(&cfg, "nobody@example.cn", SUBJECT, BODY).await.expect_err("550 fails");
    match &err {
        NotifyError::Protocol(m) => {
            assert!(m.contains("550"), "{m}");
            assert!(m.contains("RCPT"), "{m}");
            assert!(m.contains("user unknown"), "{m}");
        }
        other => panic!("expected Protocol, got {other:?}"),
    }
    assert!(err.to_string().contains("550"));
    drop(server);
}

#[tokio::test]
async fn rejected_auth_is_a_protocol_error() {
    let server = SmtpServer::start(SmtpMode::RejectAuth).await;
    let mut cfg = config(server.addr);
    cfg.username = Some("mailer".into());

    let err = send_mail(&cfg, "developer@example.cn", SUBJECT, BODY).await.expect_err("535 fails");
    assert!(matches!(&err, NotifyError::Protocol(m) if m.contains("535") && m.contains("AUTH")), "{err:?}");
    let session = server.finish().await;
    assert_eq!(session.auth_plain.as_deref(), Some(&b"\0mailer\0"[..]));
    assert!(session.mail_from.is_none());
}

#[tokio::test]
async fn header_injection_is_refused_without_connecting() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let cfg = config(listener.local_addr().expect("addr"));

    for to in [
        "victim@example.cn\r\nBcc: everyone@example.cn",
        "victim@example.cn>\r\nRCPT TO:<other@example.cn",
        "<victim@example.cn>",
        "victim@example.cn\n",
    ] {
        let err = send_mail(&cfg, to, SUBJECT, BODY).await.expect_err("injection refused");
        assert!(matches!(&err, NotifyError::InvalidInput(m) if m.contains("recipient")), "{to:?}: {err:?}");
    }
    let mut bad_from = cfg.clone();
    bad_from.from = "noreply@example.cn\r\nX-Evil: 1".into();
    let err = send_mail(&bad_from, "ok@example.cn", SUBJECT, BODY).await.expect_err("injection refused");
    assert!(matches!(&err, NotifyError::InvalidInput(m) if m.contains("sender")), "{err:?}");

    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "no connection was made");
}

#[tokio::test]
async fn silent_server_times_out() {
    let server = SmtpServer::start(SmtpMode::Silent).await;
    let mut cfg = config(server.addr);
    cfg.timeout_secs = Some(1);

    let started = std::time::Instant::now();
    let err = send_mail(&cfg, "developer@example.cn", SUBJECT, BODY).await.expect_err("times out");
    assert!(matches!(&err, NotifyError::Timeout(m) if m.contains("greeting")), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "gave up after the time limit");
    drop(server);
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let cfg = config(closed_addr().await);
    let err = send_mail(&cfg, "developer@example.cn", SUBJECT, BODY).await.expect_err("nothing listens");
    assert!(matches!(err, NotifyError::Connect(_)), "{err:?}");
}
