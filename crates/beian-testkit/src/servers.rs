//! Fake servers on 127.0.0.1 and server spawning: a task that is aborted when its handle is
//! dropped, an axum router served on a random port, a free or closed port, an SMTP server
//! recording sessions and messages, an HTTP receiver recording requests and playing back
//! canned answers, and a server run until told to stop. Every wait is bounded.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The longest a fake server waits for a connection or a line.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server task on `addr`, aborted when dropped, so a failing test never leaves it running.
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

    /// Lets the server run until the test's runtime ends.
    pub fn detach(mut self) {
        self.handle = None;
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

/// A port of 127.0.0.1 free right now (bound, then released), for a server started later.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

// ---- server spawning ------------------------------------------------------------------------

/// Resolves when the [`Stoppable`] it belongs to is stopped (or dropped).
pub struct StopSignal(oneshot::Receiver<()>);

impl Future for StopSignal {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// A server future running on the runtime until [`Stoppable::stop`].
pub struct Stoppable<T> {
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Stoppable<T> {
    /// Spawns `run(signal)`; the server is expected to shut down gracefully once `signal`
    /// resolves (as `Application::run(shutdown)` does).
    pub fn spawn<F, Fut>(run: F) -> Stoppable<T>
    where
        F: FnOnce(StopSignal) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let (stop, rx) = oneshot::channel();
        Stoppable { stop: Some(stop), handle: Some(tokio::spawn(run(StopSignal(rx)))) }
    }

    /// Signals the server to stop and waits for what it returns.
    pub async fn stop(mut self) -> T {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let handle = self.handle.take().expect("not stopped yet");
        handle.await.expect("server task")
    }
}

impl<T> Drop for Stoppable<T> {
    /// A server dropped without [`Stoppable::stop`] (a failed test) is told to stop too.
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

// ---- SMTP -----------------------------------------------------------------------------------

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
    /// What followed `RCPT TO:`, as sent.
    pub rcpt_to: Vec<String>,
    /// The decoded `AUTH PLAIN` token.
    pub auth_plain: Option<Vec<u8>>,
    /// The raw DATA bytes as received, dot-stuffing removed, without the final `.` line.
    pub data: Option<Vec<u8>>,
    pub quit: bool,
}

/// One accepted message: (its last recipient without `<>`, its DATA as text with `\n` line
/// ends).
pub type Mail = (String, String);

/// An SMTP server on 127.0.0.1 speaking the commands beian's client sends; records each
/// session and each accepted message. Stops when dropped.
pub struct SmtpServer {
    pub addr: SocketAddr,
    /// Every accepted message, in order, as soon as its DATA ends.
    pub mail: Arc<Mutex<Vec<Mail>>>,
    sessions: tokio::sync::mpsc::UnboundedReceiver<JoinHandle<SmtpSession>>,
    accept: Running<()>,
}

impl SmtpServer {
    pub async fn start(mode: SmtpMode) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let addr = listener.local_addr().expect("local addr");
        let mail = Arc::new(Mutex::new(Vec::new()));
        let (tx, sessions) = tokio::sync::mpsc::unbounded_channel();
        let store = mail.clone();
        let handle = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = tx.send(tokio::spawn(smtp_session(stream, mode, store.clone())));
            }
        });
        SmtpServer { addr, mail, sessions, accept: Running { addr, handle: Some(handle) } }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits (bounded) for the first session to end and returns what it saw.
    pub async fn finish(mut self) -> SmtpSession {
        let session = tokio::time::timeout(WAIT, self.sessions.recv())
            .await
            .expect("client connects")
            .expect("accept loop runs");
        tokio::time::timeout(WAIT, session).await.expect("session finishes in time").expect("session task")
    }

    /// Keeps accepting until the test's runtime ends; the messages stay readable in `mail`.
    pub fn detach(self) -> Arc<Mutex<Vec<Mail>>> {
        self.accept.detach();
        self.mail
    }
}

async fn smtp_session(
    stream: tokio::net::TcpStream,
    mode: SmtpMode,
    mail: Arc<Mutex<Vec<Mail>>>,
) -> SmtpSession {
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
                let to = session.rcpt_to.last().map(|r| r.trim().trim_matches(['<', '>']).to_string());
                let text = String::from_utf8_lossy(&data).replace("\r\n", "\n");
                mail.lock().expect("lock").push((to.unwrap_or_default(), text));
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
            let token = base64::engine::general_purpose::STANDARD.decode(&cmd[11..]).expect("AUTH base64");
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
}

// ---- HTTP -----------------------------------------------------------------------------------

/// One request as the [`HttpReceiver`] saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HashMap<String, String>,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// The multipart body as (name, file name, content type, bytes).
    pub async fn parts(&self) -> Vec<(String, Option<String>, Option<String>, Vec<u8>)> {
        let req = Request::builder()
            .header(CONTENT_TYPE, &self.content_type)
            .body(Body::from(self.body.clone()))
            .expect("request");
        let mut mp = Multipart::from_request(req, &()).await.expect("multipart body");
        let mut out = Vec::new();
        while let Some(field) = mp.next_field().await.expect("field") {
            let name = field.name().unwrap_or_default().to_string();
            let file = field.file_name().map(str::to_string);
            let ct = field.content_type().map(str::to_string);
            let bytes = field.bytes().await.expect("field bytes").to_vec();
            out.push((name, file, ct, bytes));
        }
        out
    }
}

/// A canned answer of the [`HttpReceiver`].
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    /// HTTP 200 with `v` as `application/json; charset=UTF-8`.
    pub fn json(v: serde_json::Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json; charset=UTF-8",
            body: v.to_string().into_bytes(),
        }
    }

    /// HTTP 200 with `text` as `text/plain`.
    pub fn text(text: &str) -> Reply {
        Reply { status: 200, content_type: "text/plain; charset=utf-8", body: text.as_bytes().to_vec() }
    }
}

/// What the [`HttpReceiver`]'s handler shares with the test.
#[derive(Clone)]
struct Recording {
    requests: Arc<Mutex<Vec<Recorded>>>,
    json: Arc<Mutex<Vec<serde_json::Value>>>,
    replies: Arc<Vec<Reply>>,
}

/// An HTTP server on 127.0.0.1 that records every request (any method, any path) and
/// answers the n-th with `replies[n]` (the last one repeats). It serves until the test's
/// runtime ends.
#[derive(Clone)]
pub struct HttpReceiver {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    pub addr: SocketAddr,
    /// Every request, in order.
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    /// The body of every request parsed as JSON (`null` when it is not JSON), in order.
    pub json: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl HttpReceiver {
    pub async fn start(replies: Vec<Reply>) -> HttpReceiver {
        assert!(!replies.is_empty(), "at least one canned reply");
        let state = Recording { requests: Arc::default(), json: Arc::default(), replies: Arc::new(replies) };
        let router = axum::Router::new().fallback(record).with_state(state.clone());
        let server = serve_http(router).await;
        let addr = server.addr;
        server.detach();
        HttpReceiver { base: format!("http://{addr}"), addr, requests: state.requests, json: state.json }
    }

    /// `base` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn record(State(rx): State<Recording>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.expect("body").to_vec();
    let query = parts.uri.query().map(|q| query_pairs(q).into_iter().collect()).unwrap_or_default();
    let headers: HashMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).to_string()))
        .collect();
    let content_type = headers.get("content-type").cloned().unwrap_or_default();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let n = {
        let mut seen = rx.requests.lock().expect("lock");
        seen.push(Recorded {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query,
            headers,
            content_type,
            body,
        });
        seen.len() - 1
    };
    rx.json.lock().expect("lock").push(json);
    let reply = rx.replies.get(n).or(rx.replies.last()).cloned().expect("a canned reply");
    (
        axum::http::StatusCode::from_u16(reply.status).expect("status"),
        [(CONTENT_TYPE, reply.content_type)],
        reply.body,
    )
        .into_response()
}

/// Decodes `a=1&b=%E4%B8%AD` with axum's own query extractor.
pub fn query_pairs(q: &str) -> Vec<(String, String)> {
    let uri: axum::http::Uri = format!("/?{q}").parse().expect("uri");
    let axum::extract::Query(v) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri).expect("query");
    v
}
