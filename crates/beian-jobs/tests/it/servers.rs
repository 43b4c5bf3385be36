//! Receivers on 127.0.0.1 for the notification tests: a minimal SMTP server and a helper
//! that runs an axum router. Every wait is bounded, and servers stop when dropped.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The longest any server waits for a connection or a line.
const WAIT: Duration = Duration::from_secs(10);

/// Aborts the task when dropped, so a failing test never leaves a server running.
pub struct Running<T> {
    pub addr: SocketAddr,
    handle: Option<JoinHandle<T>>,
}

impl<T> Running<T> {
    /// Waits (bounded) for the server task to finish and returns what it recorded.
    pub async fn finish(mut self) -> T {
        let handle = self.handle.take().expect("not finished yet");
        tokio::time::timeout(WAIT, handle).await.expect("server finishes in time").expect("server task")
    }
}

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            h.abort();
        }
    }
}

/// Serves an axum router on 127.0.0.1:0 until dropped.
pub async fn serve_http(router: axum::Router) -> Running<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let handle = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    Running { addr, handle: Some(handle) }
}

/// An address on which nothing listens (bound, then released).
pub async fn closed_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("local addr")
}

/// How the fake SMTP server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    /// Accepts everything.
    Normal,
    /// Answers 502 to `EHLO` (the client must fall back to `HELO`).
    NoEhlo,
    /// Answers 535 to `AUTH`.
    RejectAuth,
    /// Answers 550 to `RCPT TO`.
    RejectRcpt,
    /// Accepts the connection and never says anything.
    Silent,
}

/// What the fake SMTP server saw during one session.
#[derive(Debug, Default)]
pub struct SmtpSession {
    /// Every command line received (without CRLF), in order; DATA content excluded.
    pub commands: Vec<String>,
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
    /// The decoded `AUTH PLAIN` token.
    pub auth_plain: Option<Vec<u8>>,
    /// The raw DATA bytes as received, dot-stuffing removed, without the final `.` line.
    pub data: Option<Vec<u8>>,
    pub quit: bool,
}

/// Starts an SMTP server that handles exactly one connection.
pub async fn start_smtp(mode: SmtpMode) -> Running<SmtpSession> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let handle = tokio::spawn(async move {
        let (stream, _) =
            tokio::time::timeout(WAIT, listener.accept()).await.expect("client connects").expect("accept");
        let mut session = SmtpSession::default();
        if mode == SmtpMode::Silent {
            // Hold the connection open without a greeting; the client must give up first.
            tokio::time::sleep(WAIT).await;
            return session;
        }
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        write.write_all(b"220 test.local ESMTP ready\r\n").await.expect("write");
        let mut in_data = false;
        let mut data = Vec::new();
        for _ in 0..10_000 {
            let mut line = Vec::new();
            let n = tokio::time::timeout(WAIT, read.read_until(b'\n', &mut line))
                .await
                .expect("client sends a line in time")
                .expect("read");
            if n == 0 {
                break;
            }
            if in_data {
                if line == b".\r\n" {
                    in_data = false;
                    session.data = Some(std::mem::take(&mut data));
                    write.write_all(b"250 2.0.0 queued as TEST1\r\n").await.expect("write");
                } else {
                    let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
                    data.extend_from_slice(unstuffed);
                }
                continue;
            }
            let text = String::from_utf8(line).expect("command is UTF-8");
            let cmd = text.strip_suffix("\r\n").expect("command ends with CRLF").to_string();
            session.commands.push(cmd.clone());
            let upper = cmd.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO ") {
                if mode == SmtpMode::NoEhlo {
                    b"502 5.5.2 EHLO not implemented\r\n"
                } else {
                    b"250-test.local greets you\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 AUTH PLAIN LOGIN\r\n"
                }
            } else if upper.starts_with("HELO ") {
                b"250 test.local\r\n"
            } else if upper.starts_with("AUTH PLAIN ") {
                use base64::Engine as _;
                let token =
                    base64::engine::general_purpose::STANDARD.decode(&cmd[11..]).expect("AUTH base64");
                session.auth_plain = Some(token);
                if mode == SmtpMode::RejectAuth {
                    b"535 5.7.8 Authentication credentials invalid\r\n"
                } else {
                    b"235 2.7.0 Authentication successful\r\n"
                }
            } else if let Some(from) = upper.starts_with("MAIL FROM:").then(|| cmd[10..].to_string()) {
                session.mail_from = Some(from);
                b"250 2.1.0 Ok\r\n"
            } else if let Some(to) = upper.starts_with("RCPT TO:").then(|| cmd[8..].to_string()) {
                session.rcpt_to.push(to);
                if mode == SmtpMode::RejectRcpt {
                    b"550 5.1.1 Recipient address rejected: user unknown\r\n"
                } else {
                    b"250 2.1.5 Ok\r\n"
                }
            } else if upper == "DATA" {
                in_data = true;
                b"354 End data with <CR><LF>.<CR><LF>\r\n"
            } else if upper == "QUIT" {
                session.quit = true;
                write.write_all(b"221 2.0.0 Bye\r\n").await.expect("write");
                break;
            } else {
                b"500 5.5.2 unrecognized command\r\n"
            };
            write.write_all(reply).await.expect("write");
        }
        session
    });
    Running { addr, handle: Some(handle) }
}
