//! Media bytes in an S3-compatible bucket, so several nodes share them.
//!
//! Objects are content-addressed like the local files: path-style URLs
//! `{endpoint}/{bucket}/{prefix}{sha[..2]}/{sha}`. A PUT sends the bytes' SHA-256 as
//! `x-amz-content-sha256` (S3 checks the body against it) and must answer 2xx before the
//! caller commits the row that names the object. Every request is signed (SigV4, [`sigv4`])
//! and has a timeout; failures are errors, never panics.

use super::sigv4::{self, Credentials, EMPTY_SHA256};
use super::{MediaError, MediaFiles};
use reqwest::{Method, StatusCode, Url};
use std::sync::Arc;
use std::time::Duration;

/// Connecting to the endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole PUT or GET (videos are up to 50 MB).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);
/// HEAD requests.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the bucket is and how to sign for it.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `http(s)://host[:port]`, path-style addressing (MinIO, Ceph, moto, AWS alike).
    pub endpoint: String,
    pub bucket: String,
    /// Signing region (`us-east-1` for most S3-compatible servers).
    pub region: String,
    /// Prepended to every key; empty or ending in `/`.
    pub prefix: String,
    pub credentials: Credentials,
}

/// A client of one bucket. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct S3Media {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cfg: S3Config,
    endpoint: Url,
    client: reqwest::Client,
}

impl S3Media {
    pub fn new(mut cfg: S3Config) -> Result<S3Media, MediaError> {
        let endpoint = Url::parse(cfg.endpoint.trim())
            .map_err(|e| MediaError::Config(format!("s3_endpoint {:?} is not a URL: {e}", cfg.endpoint)))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(MediaError::Config(format!(
                "s3_endpoint {:?} must be http://HOST[:PORT] or https://HOST[:PORT]",
                cfg.endpoint
            )));
        }
        if endpoint.query().is_some() {
            return Err(MediaError::Config(format!("s3_endpoint {:?} must not have a query", cfg.endpoint)));
        }
        let bucket_ok = (3..=63).contains(&cfg.bucket.len())
            && cfg
                .bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(MediaError::Config(format!(
                "s3_bucket {:?} is not a bucket name (3–63 of a-z 0-9 . -)",
                cfg.bucket
            )));
        }
        if !cfg.prefix.is_empty() && !cfg.prefix.ends_with('/') {
            cfg.prefix.push('/');
        }
        if cfg.prefix.starts_with('/') {
            return Err(MediaError::Config(format!("s3_prefix {:?} must not start with /", cfg.prefix)));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TRANSFER_TIMEOUT)
            .build()
            .map_err(|e| MediaError::Config(format!("building the S3 HTTP client: {e}")))?;
        Ok(S3Media { inner: Arc::new(Inner { cfg, endpoint, client }) })
    }

    /// `bucket at endpoint`, for logs and messages.
    pub fn describe(&self) -> String {
        format!(
            "S3 bucket {} at {} (prefix {:?})",
            self.inner.cfg.bucket, self.inner.cfg.endpoint, self.inner.cfg.prefix
        )
    }

    /// The object key of a digest; `None` for anything but our own hex digests.
    pub fn key_of(&self, sha256: &str) -> Option<String> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(format!("{}{}/{}", self.inner.cfg.prefix, &sha256[..2], sha256))
    }

    /// Send one signed request for the bucket (`key: None`) or an object.
    async fn send(
        &self,
        method: Method,
        key: Option<&str>,
        body: Option<(Vec<u8>, &str)>,
        timeout: Duration,
    ) -> Result<reqwest::Response, MediaError> {
        let base = self.inner.endpoint.path().trim_end_matches('/');
        let path = match key {
            Some(k) => {
                format!("{base}/{}", sigv4::uri_encode_path(&format!("{}/{k}", self.inner.cfg.bucket)))
            }
            None => format!("{base}/{}", sigv4::uri_encode_path(&self.inner.cfg.bucket)),
        };
        let mut url = self.inner.endpoint.clone();
        url.set_path(&path);
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(MediaError::Config("s3_endpoint has no host".into())),
        };
        let payload_sha =
            body.as_ref().map(|(_, sha)| sha.to_string()).unwrap_or_else(|| EMPTY_SHA256.into());
        // The wall clock, not the service's: S3 refuses signatures more than 15 minutes off,
        // and the simulator's clock may have been moved days ahead.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let date = sigv4::amz_date(now);
        let headers =
            [("host", host.as_str()), ("x-amz-content-sha256", &payload_sha), ("x-amz-date", &date)];
        let authorization = sigv4::authorization(
            &self.inner.cfg.credentials,
            &self.inner.cfg.region,
            "s3",
            &date,
            &sigv4::Request {
                method: method.as_str(),
                canonical_uri: url.path(),
                canonical_query: "",
                headers: &headers,
                payload_sha256: &payload_sha,
            },
        );
        let what = format!("S3 {method} {}", url);
        let mut req = self
            .inner
            .client
            .request(method, url)
            .timeout(timeout)
            .header("host", &host)
            .header("x-amz-content-sha256", &payload_sha)
            .header("x-amz-date", &date)
            .header("authorization", authorization);
        if let Some((bytes, _)) = body {
            req = req.header("content-type", "application/octet-stream").body(bytes);
        }
        req.send().await.map_err(|e| MediaError::Remote(format!("{what}: {}", e.without_url())))
    }

    /// A non-2xx answer as an error line: status, and S3's `<Code>`/`<Message>` if any.
    async fn refused(what: &str, resp: reqwest::Response) -> MediaError {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let tag = |t: &str| {
            let (open, close) = (format!("<{t}>"), format!("</{t}>"));
            body.find(&open)
                .and_then(|s| {
                    body[s + open.len()..].find(&close).map(|e| &body[s + open.len()..s + open.len() + e])
                })
                .unwrap_or("")
                .to_string()
        };
        let (code, message) = (tag("Code"), tag("Message"));
        if code.is_empty() {
            MediaError::Remote(format!("{what}: HTTP {status}"))
        } else {
            MediaError::Remote(format!("{what}: HTTP {status} {code}: {message}"))
        }
    }

    /// HEAD the bucket: it exists and these credentials may use it.
    pub async fn head_bucket(&self) -> Result<(), MediaError> {
        let resp = self.send(Method::HEAD, None, None, HEAD_TIMEOUT).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => {
                Err(MediaError::Remote(format!("{}: no such bucket (HTTP 404)", self.describe())))
            }
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => Err(MediaError::Remote(format!(
                "{}: access denied (HTTP {}): check s3_access_key_id, s3_secret_access_key and s3_region",
                self.describe(),
                resp.status().as_u16()
            ))),
            _ => Err(Self::refused(&format!("HEAD {}", self.describe()), resp).await),
        }
    }

    /// Store bytes under `name` (a 64-hex digest). Succeeds only on a 2xx answer to the PUT.
    pub async fn put(&self, name: &str, bytes: &[u8]) -> Result<(), MediaError> {
        let sha = MediaFiles::sha256_hex(bytes);
        let key = self.key_of(name).ok_or_else(|| MediaError::Remote("bad digest".into()))?;
        let resp = self.send(Method::PUT, Some(&key), Some((bytes.to_vec(), &sha)), TRANSFER_TIMEOUT).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(Self::refused(&format!("S3 PUT {}/{key}", self.inner.cfg.bucket), resp).await)
        }
    }

    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, MediaError> {
        let key = self.key_of(sha256).ok_or(MediaError::NotFound)?;
        let resp = self.send(Method::GET, Some(&key), None, TRANSFER_TIMEOUT).await?;
        match resp.status() {
            s if s.is_success() => resp.bytes().await.map(|b| b.to_vec()).map_err(|e| {
                MediaError::Remote(format!("S3 GET {}/{key}: {}", self.inner.cfg.bucket, e.without_url()))
            }),
            StatusCode::NOT_FOUND => Err(MediaError::NotFound),
            _ => Err(Self::refused(&format!("S3 GET {}/{key}", self.inner.cfg.bucket), resp).await),
        }
    }

    /// Remove the object (a plain object once its sealed copy is referenced instead).
    pub async fn delete(&self, name: &str) -> Result<(), MediaError> {
        let key = self.key_of(name).ok_or(MediaError::NotFound)?;
        let resp = self.send(Method::DELETE, Some(&key), None, TRANSFER_TIMEOUT).await?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(Self::refused(&format!("S3 DELETE {}/{key}", self.inner.cfg.bucket), resp).await),
        }
    }

    /// The object's size (HEAD, `Content-Length`), `None` if there is no such object.
    pub async fn size_of(&self, sha256: &str) -> Result<Option<u64>, MediaError> {
        let Some(key) = self.key_of(sha256) else { return Ok(None) };
        let resp = self.send(Method::HEAD, Some(&key), None, HEAD_TIMEOUT).await?;
        match resp.status() {
            s if s.is_success() => {
                let len = resp
                    .headers()
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                match len {
                    Some(n) => Ok(Some(n)),
                    None => Err(MediaError::Remote(format!(
                        "S3 HEAD {}/{key}: no Content-Length in the answer",
                        self.inner.cfg.bucket
                    ))),
                }
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(Self::refused(&format!("S3 HEAD {}/{key}", self.inner.cfg.bucket), resp).await),
        }
    }
}
