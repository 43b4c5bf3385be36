//! Fake servers on 127.0.0.1 and server spawning: a task that is aborted when its handle is
//! dropped, an axum router served on a random port, a free or closed port, an SMTP server
//! recording sessions and messages (plain, STARTTLS or implicit TLS with a certificate made at
//! test time, credentials checked), an HTTP receiver recording requests and playing back
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
    /// Accepts everything (and checks credentials when [`SmtpOptions::auth`] is set).
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

/// How the fake SMTP server protects the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain TCP only.
    None,
    /// Plain TCP; `STARTTLS` offered (and `AUTH` only offered after it).
    StartTls,
    /// TLS from the first byte (port 465 style).
    Implicit,
}

/// What the fake SMTP server is.
#[derive(Debug, Clone)]
pub struct SmtpOptions {
    pub mode: SmtpMode,
    pub tls: SmtpTls,
    /// `(user, password)` the server accepts in `AUTH PLAIN`/`AUTH LOGIN` (535 otherwise);
    /// `None`: any credentials are accepted.
    pub auth: Option<(String, String)>,
}

/// What the fake SMTP server saw during one session.
#[derive(Debug, Default)]
pub struct SmtpSession {
    /// Every command line received (without CRLF), in order; DATA content excluded.
    pub commands: Vec<String>,
    pub mail_from: Option<String>,
    /// What followed `RCPT TO:`, as sent.
    pub rcpt_to: Vec<String>,
    /// The decoded `AUTH PLAIN` token (`AUTH LOGIN` is recorded in the same form).
    pub auth_plain: Option<Vec<u8>>,
    /// Whether the conversation ran over TLS when the message (or the last command) came.
    pub tls: bool,
    /// The raw DATA bytes as received, dot-stuffing removed, without the final `.` line.
    pub data: Option<Vec<u8>>,
    pub quit: bool,
}

/// One accepted message: (its last recipient without `<>`, its DATA as text with `\n` line
/// ends).
pub type Mail = (String, String);

/// A self-signed certificate for `127.0.0.1` and `localhost`, made at test time: the
/// server's key pair and the certificate a client trusts as its root (`ca_pem`).
pub struct TestCert {
    pub cert_pem: String,
    key_der: Vec<u8>,
    cert_der: Vec<u8>,
}

impl TestCert {
    pub fn new() -> TestCert {
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let rcgen::CertifiedKey { cert, key_pair } =
            rcgen::generate_simple_self_signed(names).expect("self-signed certificate");
        TestCert { cert_pem: cert.pem(), key_der: key_pair.serialize_der(), cert_der: cert.der().to_vec() }
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .expect("server certificate");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

impl Default for TestCert {
    fn default() -> Self {
        TestCert::new()
    }
}

/// An SMTP server on 127.0.0.1 speaking the commands beian's client sends, optionally over
/// TLS (STARTTLS or implicit) with checked credentials; records each session and each
/// accepted message. Stops when dropped.
pub struct SmtpServer {
    pub addr: SocketAddr,
    /// Every accepted message, in order, as soon as its DATA ends.
    pub mail: Arc<Mutex<Vec<Mail>>>,
    /// The PEM certificate a client must trust (TLS modes only).
    pub ca_pem: Option<String>,
    sessions: tokio::sync::mpsc::UnboundedReceiver<JoinHandle<SmtpSession>>,
    accept: Running<()>,
}

impl SmtpServer {
    /// A plain-TCP server accepting any credentials.
    pub async fn start(mode: SmtpMode) -> SmtpServer {
        SmtpServer::start_with(SmtpOptions { mode, tls: SmtpTls::None, auth: None }).await
    }

    pub async fn start_with(options: SmtpOptions) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let addr = listener.local_addr().expect("local addr");
        let mail = Arc::new(Mutex::new(Vec::new()));
        let (tx, sessions) = tokio::sync::mpsc::unbounded_channel();
        let store = mail.clone();
        let cert = (options.tls != SmtpTls::None).then(TestCert::new);
        let ca_pem = cert.as_ref().map(|c| c.cert_pem.clone());
        let acceptor = cert.as_ref().map(TestCert::acceptor);
        let handle = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let session = smtp_session(stream, options.clone(), acceptor.clone(), store.clone());
                let _ = tx.send(tokio::spawn(session));
            }
        });
        SmtpServer { addr, mail, ca_pem, sessions, accept: Running { addr, handle: Some(handle) } }
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

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}
type Conn = BufReader<Box<dyn Io>>;

async fn read_line(conn: &mut Conn) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    match tokio::time::timeout(WAIT, conn.read_until(b'\n', &mut line)).await {
        Ok(Ok(n)) if n > 0 => Some(line),
        _ => None,
    }
}

async fn say(conn: &mut Conn, reply: &[u8]) -> std::io::Result<()> {
    conn.write_all(reply).await?;
    conn.flush().await
}

fn b64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s.trim()).ok()
}

async fn smtp_session(
    stream: tokio::net::TcpStream,
    options: SmtpOptions,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mail: Arc<Mutex<Vec<Mail>>>,
) -> SmtpSession {
    let mode = options.mode;
    let mut session = SmtpSession::default();
    if mode == SmtpMode::Silent {
        // Hold the connection open without a greeting; the client must give up first.
        tokio::time::sleep(WAIT).await;
        return session;
    }
    let mut conn: Conn = match (options.tls, &acceptor) {
        (SmtpTls::Implicit, Some(a)) => match a.accept(stream).await {
            Ok(tls) => {
                session.tls = true;
                BufReader::new(Box::new(tls))
            }
            Err(_) => return session,
        },
        _ => BufReader::new(Box::new(stream)),
    };
    if say(&mut conn, b"220 test.local ESMTP ready\r\n").await.is_err() {
        return session;
    }
    let mut in_data = false;
    let mut data = Vec::new();
    for _ in 0..10_000 {
        let Some(line) = read_line(&mut conn).await else { break };
        if in_data {
            if line == b".\r\n" {
                in_data = false;
                let to = session.rcpt_to.last().map(|r| r.trim().trim_matches(['<', '>']).to_string());
                let text = String::from_utf8_lossy(&data).replace("\r\n", "\n");
                mail.lock().expect("lock").push((to.unwrap_or_default(), text));
                session.data = Some(std::mem::take(&mut data));
                let _ = say(&mut conn, b"250 2.0.0 queued as TEST1\r\n").await;
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
        // AUTH is offered over TLS only, as real submission servers do.
        let auth_offered = options.tls == SmtpTls::None || session.tls;
        let check = |token: &[u8]| -> &'static [u8] {
            let ok = match &options.auth {
                Some((u, p)) => token == format!("\0{u}\0{p}").as_bytes(),
                None => true,
            };
            if mode == SmtpMode::RejectAuth || !ok {
                b"535 5.7.8 Authentication credentials invalid\r\n"
            } else {
                b"235 2.7.0 Authentication successful\r\n"
            }
        };
        let reply: Vec<u8> = if upper.starts_with("EHLO ") {
            if mode == SmtpMode::NoEhlo {
                b"502 5.5.2 EHLO not implemented\r\n".to_vec()
            } else {
                let mut r = "250-test.local greets you\r\n250-PIPELINING\r\n".to_string();
                if options.tls == SmtpTls::StartTls && !session.tls {
                    r.push_str("250-STARTTLS\r\n");
                }
                if auth_offered {
                    r.push_str("250-AUTH PLAIN LOGIN\r\n");
                }
                r.push_str("250 8BITMIME\r\n");
                r.into_bytes()
            }
        } else if upper.starts_with("HELO ") {
            b"250 test.local\r\n".to_vec()
        } else if upper == "STARTTLS" && options.tls == SmtpTls::StartTls && !session.tls {
            let Some(acceptor) = &acceptor else { break };
            if say(&mut conn, b"220 2.0.0 Ready to start TLS\r\n").await.is_err() {
                break;
            }
            let plain = conn.into_inner();
            match acceptor.accept(plain).await {
                Ok(tls) => {
                    session.tls = true;
                    conn = BufReader::new(Box::new(tls));
                    continue;
                }
                Err(_) => return session,
            }
        } else if upper.starts_with("AUTH PLAIN ") && auth_offered {
            let token = b64(&cmd[11..]).unwrap_or_default();
            let reply = check(&token);
            session.auth_plain = Some(token);
            reply.to_vec()
        } else if upper == "AUTH LOGIN" && auth_offered {
            // 334 Username: / 334 Password:, each base64.
            let _ = say(&mut conn, b"334 VXNlcm5hbWU6\r\n").await;
            let user = read_line(&mut conn).await.and_then(|l| b64(&String::from_utf8_lossy(&l)));
            let _ = say(&mut conn, b"334 UGFzc3dvcmQ6\r\n").await;
            let pass = read_line(&mut conn).await.and_then(|l| b64(&String::from_utf8_lossy(&l)));
            let mut token = vec![0];
            token.extend(user.unwrap_or_default());
            token.push(0);
            token.extend(pass.unwrap_or_default());
            let reply = check(&token);
            session.auth_plain = Some(token);
            reply.to_vec()
        } else if let Some(from) = upper.starts_with("MAIL FROM:").then(|| cmd[10..].to_string()) {
            if options.auth.is_some() && session.auth_plain.is_none() {
                b"530 5.7.0 Authentication required\r\n".to_vec()
            } else {
                session.mail_from = Some(from);
                b"250 2.1.0 Ok\r\n".to_vec()
            }
        } else if let Some(to) = upper.starts_with("RCPT TO:").then(|| cmd[8..].to_string()) {
            session.rcpt_to.push(to);
            if mode == SmtpMode::RejectRcpt {
                b"550 5.1.1 Recipient address rejected: user unknown\r\n".to_vec()
            } else {
                b"250 2.1.5 Ok\r\n".to_vec()
            }
        } else if upper == "DATA" {
            in_data = true;
            b"354 End data with <CR><LF>.<CR><LF>\r\n".to_vec()
        } else if upper == "QUIT" {
            session.quit = true;
            let _ = say(&mut conn, b"221 2.0.0 Bye\r\n").await;
            break;
        } else {
            b"500 5.5.2 unrecognized command\r\n".to_vec()
        };
        if say(&mut conn, &reply).await.is_err() {
            break;
        }
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
