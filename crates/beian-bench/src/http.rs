//! A lean HTTP/1.1 keep-alive client for the read scenarios.
//!
//! The load generator shares the machine's two cores with the server. Through reqwest (hyper's
//! client, a pool, a `Url` parsed per request, the body turned into a `serde_json::Value`) it
//! needed most of a core at 14,000 requests/s, and an open-loop latency run counts the load
//! process's own lateness as the server's latency. This client sends a request line built
//! once per operation over a connection it owns, reads the head line by line, the body by its
//! `Content-Length` (or chunk by chunk), and reads only `errcode` from WeChat-style answers —
//! what `wrk` does, and the reason a load generator is lean. The apply scenario (POST, a few
//! thousand per second) still goes through reqwest.

use crate::load::{errcode_ok, Outcome};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Bodies larger than this are refused (the read answers are a few kilobytes).
const MAX_BODY: usize = 8 << 20;

/// How an answer is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// HTTP 200, whatever the body.
    Status200,
    /// HTTP 200 and `"errcode": 0`.
    WeChat,
    /// HTTP 404 (the router floor: a path no route matches).
    NotFound,
}

/// Keep-alive connections to one server, shared by the load's workers: each operation takes
/// an idle connection (or opens one) and gives it back when the answer was read whole.
#[derive(Clone)]
pub struct Lean {
    addr: SocketAddr,
    idle: Arc<Mutex<Vec<Conn>>>,
}

struct Conn {
    io: BufReader<TcpStream>,
    body: Vec<u8>,
    line: Vec<u8>,
}

impl Lean {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, idle: Arc::new(Mutex::new(Vec::new())) }
    }

    /// `GET path` (path and query, already encoded), judged by `expect`.
    pub async fn get(&self, path: &str, expect: Expect) -> Outcome {
        let conn = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match conn {
            Some(c) => c,
            None => {
                let stream = TcpStream::connect(self.addr).await.map_err(|e| format!("connect: {e}"))?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                Conn { io: BufReader::with_capacity(16 * 1024, stream), body: Vec::new(), line: Vec::new() }
            }
        };
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        let (status, keep) =
            conn.exchange(request.as_bytes()).await.map_err(|e| format!("GET {path}: {e}"))?;
        let outcome = match expect {
            Expect::WeChat => errcode_ok(status, &conn.body),
            Expect::Status200 if status == 200 => Ok(()),
            Expect::Status200 => Err(format!("HTTP {status}")),
            Expect::NotFound if status == 404 => Ok(()),
            Expect::NotFound => Err(format!("HTTP {status}, expected 404")),
        };
        if keep {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        }
        outcome
    }
}

impl Conn {
    /// Send one request and read its answer into `self.body`: the status, and whether the
    /// connection may be used again.
    async fn exchange(&mut self, request: &[u8]) -> Result<(u16, bool), String> {
        self.io.get_mut().write_all(request).await.map_err(|e| format!("write: {e}"))?;
        self.read_line().await?;
        let status = parse_status(&self.line)?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            self.read_line().await?;
            let line = trim_crlf(&self.line);
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(format!("malformed header line {:?}", String::from_utf8_lossy(line)));
            };
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"content-length") {
                length = Some(parse_usize(value, 10).ok_or("malformed Content-Length")?);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = value.eq_ignore_ascii_case(b"chunked");
            } else if name.eq_ignore_ascii_case(b"connection") {
                close = value.eq_ignore_ascii_case(b"close");
            }
        }
        self.body.clear();
        if chunked {
            loop {
                self.read_line().await?;
                let size = trim_crlf(&self.line);
                let size = size.split(|&b| b == b';').next().unwrap_or_default();
                let size = parse_usize(size.trim_ascii(), 16).ok_or("malformed chunk size")?;
                if size == 0 {
                    // Trailers, then the empty line.
                    loop {
                        self.read_line().await?;
                        if trim_crlf(&self.line).is_empty() {
                            break;
                        }
                    }
                    break;
                }
                self.read_body(size).await?;
                self.read_line().await?;
            }
        } else if let Some(n) = length {
            self.read_body(n).await?;
        } else if status >= 200 && status != 204 && status != 304 {
            return Err("an answer without Content-Length or chunked encoding".into());
        }
        Ok((status, !close))
    }

    async fn read_line(&mut self) -> Result<(), String> {
        self.line.clear();
        let n = self.io.read_until(b'\n', &mut self.line).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        if self.line.len() > 64 * 1024 {
            return Err("a header line over 64 KiB".into());
        }
        Ok(())
    }

    async fn read_body(&mut self, n: usize) -> Result<(), String> {
        let start = self.body.len();
        if start + n > MAX_BODY {
            return Err(format!("a body over {MAX_BODY} bytes"));
        }
        self.body.resize(start + n, 0);
        self.io.read_exact(&mut self.body[start..]).await.map_err(|e| format!("read body: {e}"))?;
        Ok(())
    }
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status(line: &[u8]) -> Result<u16, String> {
    let bad = || format!("malformed status line {:?}", String::from_utf8_lossy(line));
    if !line.starts_with(b"HTTP/1.") {
        return Err(bad());
    }
    let code = line.get(9..12).ok_or_else(bad)?;
    let code = parse_usize(code, 10).ok_or_else(bad)?;
    u16::try_from(code).map_err(|_| bad())
}

fn parse_usize(digits: &[u8], radix: u32) -> Option<usize> {
    std::str::from_utf8(digits).ok().and_then(|s| usize::from_str_radix(s, radix).ok())
}

fn trim_crlf(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").map(|l| l.strip_suffix(b"\r").unwrap_or(l)).unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-connection server answering each request with the next canned answer.
    async fn serve(answers: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let mut io = BufReader::new(stream);
            for answer in answers {
                let mut line = Vec::new();
                loop {
                    line.clear();
                    if io.read_until(b'\n', &mut line).await.expect("read") == 0 {
                        return;
                    }
                    if line == b"\r\n" {
                        break;
                    }
                }
                io.get_mut().write_all(answer).await.expect("write");
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_length_and_chunked_answers_on_one_connection() {
        let addr = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 27\r\n\r\n{\"errcode\":0,\"errmsg\":\"ok\"}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"err\r\n11\r\ncode\":86202,\"x\":1}\r\n0\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        ])
        .await;
        let lean = Lean::new(addr);
        assert_eq!(lean.get("/a", Expect::WeChat).await, Ok(()));
        let err = lean.get("/b", Expect::WeChat).await.expect_err("an error");
        assert!(err.contains("86202"), "{err}");
        assert_eq!(lean.get("/c", Expect::Status200).await, Err("HTTP 503".into()));
        // The router floor expects the 404 and nothing else.
        assert_eq!(lean.get("/nf", Expect::NotFound).await, Ok(()));
        assert!(lean.get("/ok", Expect::NotFound).await.is_err_and(|e| e.contains("expected 404")));
        assert_eq!(lean.get("/d", Expect::Status200).await, Ok(()));
        // The server said close: the connection is not kept for another request.
        assert!(lean.idle.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn a_broken_answer_is_an_error_not_a_hang() {
        let addr = serve(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]).await;
        // The server task ends after its answers, closing the connection mid-body.
        let err = Lean::new(addr).get("/", Expect::Status200).await.expect_err("an error");
        assert!(err.contains("read body"), "{err}");
        assert!(parse_status(b"HTTX/1.1 200 OK\r\n").is_err());
        assert_eq!(parse_status(b"HTTP/1.0 404 Not Found\r\n"), Ok(404));
    }
}
