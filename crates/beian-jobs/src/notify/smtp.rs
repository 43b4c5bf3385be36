//! A small SMTP client for plain-text e-mail.
//!
//! It speaks SMTP over a **plain TCP connection**: TLS (neither STARTTLS nor implicit TLS on
//! port 465) is not supported. Point it at a relay on the same host or a trusted network
//! (for example Postfix or msmtpd on `127.0.0.1:25`) and let the relay handle TLS and
//! delivery to the outside world. Because the connection is not encrypted, `AUTH PLAIN`
//! credentials (sent when `username` is set) travel in clear text: only use them with such a
//! local relay.
//!
//! The conversation is `EHLO` (or `HELO` when the server rejects `EHLO` with a 5xx reply),
//! optionally `AUTH PLAIN`, `MAIL FROM`, `RCPT TO`, `DATA`, the message, `.` and `QUIT`.
//! Every step has a time limit (`timeout_secs`, 10 s by default).
//!
//! The message is `text/plain; charset=UTF-8` with a base64 body (76-character lines) and a
//! subject encoded as RFC 2047 encoded words, so any Unicode text is carried safely.

use super::NotifyError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Default time limit of each SMTP step.
const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// The longest reply line accepted (RFC 5321 allows 512 bytes; be generous).
const MAX_LINE: u64 = 4096;
/// The most lines of one multi-line reply accepted.
const MAX_REPLY_LINES: usize = 100;
/// The longest address accepted (RFC 5321 path limit).
const MAX_ADDRESS: usize = 254;

/// Where and how to send e-mail.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SmtpConfig {
    /// The relay's host name or IP address.
    pub host: String,
    /// The relay's port (usually 25 or 587; TLS is not supported).
    pub port: u16,
    /// The envelope sender and `From` address, e.g. `noreply@example.cn`.
    pub from: String,
    /// The name given in `EHLO`/`HELO` (defaults to `localhost`).
    #[serde(default)]
    pub hello: Option<String>,
    /// When set, `AUTH PLAIN` is used with this user name.
    #[serde(default)]
    pub username: Option<String>,
    /// The password for `AUTH PLAIN` (empty when unset).
    #[serde(default)]
    pub password: Option<String>,
    /// The time limit of each step in seconds (defaults to 10).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// Sends one plain-text message to `to`.
///
/// Addresses containing CR, LF, `<` or `>` (or other control characters) are rejected with
/// [`NotifyError::InvalidInput`] before any connection is made. An unexpected server reply
/// gives [`NotifyError::Protocol`] naming the reply code and text.
pub async fn send_mail(cfg: &SmtpConfig, to: &str, subject: &str, body: &str) -> Result<(), NotifyError> {
    check_address("sender (from)", &cfg.from)?;
    check_address("recipient", to)?;
    let hello = cfg.hello.as_deref().unwrap_or("localhost");
    if hello.is_empty() || hello.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(NotifyError::InvalidInput(format!("SMTP hello name {hello:?} is not a valid host name")));
    }
    let timeout = Duration::from_secs(cfg.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS).max(1));
    let message = build_message(&cfg.from, to, subject, body, SystemTime::now());

    let addr = format!("{}:{}", cfg.host, cfg.port);
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
        Err(_) => return Err(NotifyError::Timeout(format!("connecting to SMTP server {addr}"))),
        Ok(Err(e)) => return Err(NotifyError::Connect(format!("SMTP server {addr}: {e}"))),
        Ok(Ok(s)) => s,
    };
    let mut conn = Conn { stream: BufReader::new(stream), timeout, addr };

    conn.expect("greeting", None, &[220]).await?;
    let ehlo = conn.command("EHLO", &format!("EHLO {hello}")).await?;
    match ehlo.code {
        250 => {}
        500..=599 => {
            conn.expect("HELO", Some(&format!("HELO {hello}")), &[250]).await?;
        }
        _ => return Err(ehlo.unexpected("EHLO")),
    }
    if let Some(user) = cfg.username.as_deref() {
        let pass = cfg.password.as_deref().unwrap_or("");
        let token = B64.encode(format!("\0{user}\0{pass}"));
        conn.expect("AUTH PLAIN", Some(&format!("AUTH PLAIN {token}")), &[235]).await?;
    }
    conn.expect("MAIL FROM", Some(&format!("MAIL FROM:<{}>", cfg.from)), &[250]).await?;
    conn.expect("RCPT TO", Some(&format!("RCPT TO:<{to}>")), &[250, 251]).await?;
    conn.expect("DATA", Some("DATA"), &[354]).await?;
    conn.send_data(&message).await?;
    conn.expect("end of data", None, &[250]).await?;
    // The message is accepted at this point; a failing QUIT does not change that.
    if let Err(e) = conn.expect("QUIT", Some("QUIT"), &[221]).await {
        tracing::debug!(error = %e, "SMTP QUIT failed after the message was accepted");
    }
    Ok(())
}

/// One SMTP reply: its code and the text of all its lines (joined with ` / `).
#[derive(Debug)]
struct Reply {
    code: u16,
    text: String,
}

impl Reply {
    fn unexpected(&self, step: &str) -> NotifyError {
        NotifyError::Protocol(format!("{step}: server replied {} {}", self.code, self.text))
    }
}

struct Conn {
    stream: BufReader<TcpStream>,
    timeout: Duration,
    addr: String,
}

impl Conn {
    /// Sends `line` (when given), reads the reply and requires one of the `ok` codes.
    async fn expect(&mut self, step: &str, line: Option<&str>, ok: &[u16]) -> Result<Reply, NotifyError> {
        let reply = match line {
            Some(line) => self.command(step, line).await?,
            None => timed(self.timeout, &self.addr, step, Self::read_reply(&mut self.stream)).await?,
        };
        if ok.contains(&reply.code) {
            Ok(reply)
        } else {
            Err(reply.unexpected(step))
        }
    }

    /// Sends one command line and reads its reply (whatever the code).
    async fn command(&mut self, step: &str, line: &str) -> Result<Reply, NotifyError> {
        let Conn { stream, timeout, addr } = self;
        let fut = async move {
            let mut buf = Vec::with_capacity(line.len() + 2);
            buf.extend_from_slice(line.as_bytes());
            buf.extend_from_slice(b"\r\n");
            stream.get_mut().write_all(&buf).await.map_err(|e| format!("writing: {e}"))?;
            Self::read_reply(stream).await
        };
        timed(*timeout, addr, step, fut).await
    }

    /// Sends the message (dot-stuffed) followed by the terminating `.` line.
    async fn send_data(&mut self, message: &str) -> Result<(), NotifyError> {
        let mut data = String::with_capacity(message.len() + 8);
        for line in message.split("\r\n") {
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
            data.push_str("\r\n");
        }
        // `message` ends with CRLF, so the split yields a final empty piece: drop its CRLF.
        data.truncate(data.len() - 2);
        data.push_str(".\r\n");
        let Conn { stream, timeout, addr } = self;
        let stream = stream.get_mut();
        let fut = async move {
            stream.write_all(data.as_bytes()).await.map_err(|e| format!("writing: {e}"))?;
            stream.flush().await.map_err(|e| format!("writing: {e}"))
        };
        timed(*timeout, addr, "sending message", fut).await
    }

    /// Reads one possibly multi-line reply (`250-…` continuation lines, then `250 …`).
    async fn read_reply(stream: &mut BufReader<TcpStream>) -> Result<Reply, String> {
        let mut texts = Vec::new();
        let mut line = Vec::new();
        for _ in 0..MAX_REPLY_LINES {
            line.clear();
            let n = (&mut *stream)
                .take(MAX_LINE)
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| format!("reading: {e}"))?;
            if n == 0 {
                return Err("connection closed by server".into());
            }
            if line.last() != Some(&b'\n') {
                return Err(format!("reply line longer than {MAX_LINE} bytes"));
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let (code, rest) =
                parse_reply_line(text).ok_or_else(|| format!("malformed reply line {text:?}"))?;
            let (more, msg) = match rest.as_bytes().first() {
                Some(b'-') => (true, &rest[1..]),
                Some(b' ') => (false, &rest[1..]),
                None => (false, ""),
                Some(_) => return Err(format!("malformed reply line {text:?}")),
            };
            texts.push(msg.trim().to_string());
            if !more {
                let text = texts.into_iter().filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" / ");
                return Ok(Reply { code, text });
            }
        }
        Err(format!("reply longer than {MAX_REPLY_LINES} lines"))
    }
}

/// Runs one step under the time limit, mapping I/O failures to [`NotifyError::Connect`].
async fn timed<T>(
    timeout: Duration,
    addr: &str,
    step: &str,
    fut: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, NotifyError> {
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(NotifyError::Timeout(format!(
            "SMTP server {addr} did not answer {step} within {} s",
            timeout.as_secs()
        ))),
        Ok(Err(e)) => Err(NotifyError::Connect(format!("SMTP server {addr} during {step}: {e}"))),
        Ok(Ok(v)) => Ok(v),
    }
}

/// Splits `250-text` / `250 text` / `250` into the code and the rest.
fn parse_reply_line(line: &str) -> Option<(u16, &str)> {
    let code = line.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((code.parse().ok()?, &line[3..]))
}

/// Rejects addresses that could break out of an SMTP command or a header.
fn check_address(what: &str, addr: &str) -> Result<(), NotifyError> {
    if addr.is_empty() {
        return Err(NotifyError::InvalidInput(format!("e-mail {what} address is empty")));
    }
    if addr.len() > MAX_ADDRESS {
        return Err(NotifyError::InvalidInput(format!(
            "e-mail {what} address is longer than {MAX_ADDRESS} bytes"
        )));
    }
    if let Some(c) = addr.chars().find(|&c| c == '<' || c == '>' || c.is_control() || c.is_whitespace()) {
        let shown = match c {
            '\r' => "CR".to_string(),
            '\n' => "LF".to_string(),
            c if c.is_control() => format!("control character U+{:04X}", c as u32),
            c if c.is_whitespace() => "whitespace".to_string(),
            c => format!("'{c}'"),
        };
        return Err(NotifyError::InvalidInput(format!(
            "e-mail {what} address {addr:?} contains {shown} (possible header injection)"
        )));
    }
    match addr.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(()),
        _ => Err(NotifyError::InvalidInput(format!(
            "e-mail {what} address {addr:?} is not of the form local@domain"
        ))),
    }
}

/// Builds the full message (headers and base64 body) with CRLF line endings.
pub(crate) fn build_message(from: &str, to: &str, subject: &str, body: &str, now: SystemTime) -> String {
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost");
    let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let message_id = format!("<{secs}.{}@{domain}>", hex::encode(rand::random::<[u8; 12]>()));

    let mut m = String::with_capacity(body.len() * 2 + 512);
    m.push_str(&format!("Date: {}\r\n", rfc2822_date(now)));
    m.push_str(&format!("From: {from}\r\n"));
    m.push_str(&format!("To: {to}\r\n"));
    m.push_str(&format!("Subject: {}\r\n", encode_header_words(subject)));
    m.push_str(&format!("Message-ID: {message_id}\r\n"));
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str("Content-Type: text/plain; charset=UTF-8\r\n");
    m.push_str("Content-Transfer-Encoding: base64\r\n");
    m.push_str("\r\n");
    // Text in canonical form has CRLF line breaks.
    let canonical = body.replace("\r\n", "\n").replace('\r', "\n").replace('\n', "\r\n");
    let encoded = B64.encode(canonical.as_bytes());
    for chunk in encoded.as_bytes().chunks(76) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        m.push_str(&String::from_utf8_lossy(chunk));
        m.push_str("\r\n");
    }
    m
}

/// Encodes a header value as RFC 2047 `=?UTF-8?B?…?=` words of at most 75 characters,
/// folded onto continuation lines; characters are never split across words.
pub(crate) fn encode_header_words(value: &str) -> String {
    // 75 - len("=?UTF-8?B?") - len("?=") = 63 base64 characters, i.e. at most 45 bytes.
    const MAX_BYTES: usize = 45;
    // Control characters (CR, LF, ...) have no place in a subject.
    let value: String = value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut words = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (i, c) in value.char_indices() {
        if i + c.len_utf8() - start > MAX_BYTES {
            words.push(&value[start..end]);
            start = i;
        }
        end = i + c.len_utf8();
    }
    if start < value.len() || words.is_empty() {
        words.push(&value[start..]);
    }
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", B64.encode(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// Formats a time as an RFC 2822 date in UTC, e.g. `Tue, 01 Jul 2025 08:05:09 +0000`.
pub(crate) fn rfc2822_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Converts days since 1970-01-01 to (year, month 1..=12, day 1..=31) in the proleptic
/// Gregorian calendar (H. Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let at = |s: u64| rfc2822_date(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        // 2000-02-29 12:34:56 UTC (leap day of a century leap year).
        assert_eq!(at(951_827_696), "Tue, 29 Feb 2000 12:34:56 +0000");
        // 2025-07-01 08:05:09 UTC.
        assert_eq!(at(1_751_357_109), "Tue, 01 Jul 2025 08:05:09 +0000");
        // 2024-12-31 23:59:59 UTC.
        assert_eq!(at(1_735_689_599), "Tue, 31 Dec 2024 23:59:59 +0000");
    }

    #[test]
    fn header_words_split_on_char_boundaries() {
        let subject = "小程序备案审核结果".repeat(4);
        let encoded = encode_header_words(&subject);
        let mut decoded = String::new();
        for word in encoded.split("\r\n ") {
            assert!(word.len() <= 75, "{word}");
            let b64 = word.strip_prefix("=?UTF-8?B?").and_then(|w| w.strip_suffix("?=")).expect("word");
            let bytes = B64.decode(b64).expect("base64");
            decoded.push_str(&String::from_utf8(bytes).expect("whole characters"));
        }
        assert_eq!(decoded, subject);
        assert_eq!(encode_header_words(""), "=?UTF-8?B??=");
        assert!(!encode_header_words("a\r\nBcc: x@y").contains('\n'));
    }

    #[test]
    fn addresses() {
        assert!(check_address("recipient", "user@example.cn").is_ok());
        for bad in ["", "user", "@x", "x@", "a@b\r\nRCPT TO:<c@d>", "a@b>", "<a@b", "a b@c", "a@b\n"] {
            assert!(matches!(check_address("recipient", bad), Err(NotifyError::InvalidInput(_))), "{bad:?}");
        }
    }

    #[test]
    fn message_is_crlf_with_76_char_body_lines() {
        let body = "第一行\n第二行\r\n".repeat(20);
        let m = build_message("a@example.cn", "b@example.cn", "主题", &body, UNIX_EPOCH);
        assert!(m.ends_with("\r\n"));
        assert!(!m.replace("\r\n", "").contains('\n'));
        let (head, enc) = m.split_once("\r\n\r\n").expect("header/body separator");
        assert!(head.contains("Message-ID: <0."));
        assert!(head.contains("@example.cn>"));
        let lines: Vec<&str> = enc.trim_end().split("\r\n").collect();
        assert!(lines.iter().all(|l| l.len() <= 76));
        assert!(lines[..lines.len() - 1].iter().all(|l| l.len() == 76));
        let decoded = B64.decode(lines.concat()).expect("base64");
        assert_eq!(
            String::from_utf8(decoded).expect("utf-8"),
            body.replace("\r\n", "\n").replace('\n', "\r\n")
        );
    }

    #[test]
    fn reply_lines() {
        assert_eq!(parse_reply_line("250-PIPELINING"), Some((250, "-PIPELINING")));
        assert_eq!(parse_reply_line("250"), Some((250, "")));
        assert_eq!(parse_reply_line("25"), None);
        assert_eq!(parse_reply_line("abc def"), None);
    }
}
