//! Media bytes, content-addressed by SHA-256: a local directory ([`MediaFiles`], the default)
//! or an S3-compatible bucket ([`S3Media`], so several nodes share them), behind one
//! [`MediaStore`].
//!
//! Either way the bytes are stored durably before the metadata row is committed (local: written
//! to a temporary name, fsynced and renamed; S3: the PUT answered 2xx), so a committed `media`
//! row always has its bytes. Nothing here knows about rows: callers commit after `put`.

mod s3;
pub mod sigv4;

pub use s3::{S3Config, S3Media};
pub use sigv4::Credentials;

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why media bytes could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// No bytes under that digest.
    #[error("no such media")]
    NotFound,
    #[error("media file: {0}")]
    Io(std::io::Error),
    /// The object store failed or refused (network, timeout, non-2xx answer).
    #[error("{0}")]
    Remote(String),
    #[error("media configuration: {0}")]
    Config(String),
}

impl From<std::io::Error> for MediaError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::NotFound {
            MediaError::NotFound
        } else {
            MediaError::Io(e)
        }
    }
}

/// What `beian check` learns about stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspected {
    pub size: u64,
    /// Whether the bytes hash to their digest; `None` when not read (S3: a HEAD only — S3
    /// verified the body against `x-amz-content-sha256` when it was PUT).
    pub intact: Option<bool>,
}

/// Where media bytes live. Cheap to clone.
#[derive(Debug, Clone)]
pub enum MediaStore {
    /// `<data dir>/media`: one node, or several sharing the directory.
    Local(MediaFiles),
    /// An S3-compatible bucket shared by every node.
    S3(S3Media),
}

impl From<MediaFiles> for MediaStore {
    fn from(f: MediaFiles) -> Self {
        MediaStore::Local(f)
    }
}

impl From<S3Media> for MediaStore {
    fn from(s: S3Media) -> Self {
        MediaStore::S3(s)
    }
}

impl MediaStore {
    /// Store bytes durably; returns their SHA-256 (hex). Only after this returns may the row
    /// naming them commit.
    pub async fn put(&self, bytes: &[u8]) -> Result<String, MediaError> {
        match self {
            MediaStore::Local(f) => Ok(f.put(bytes)?),
            MediaStore::S3(s) => s.put(bytes).await,
        }
    }

    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, MediaError> {
        match self {
            MediaStore::Local(f) => Ok(f.get(sha256)?),
            MediaStore::S3(s) => s.get(sha256).await,
        }
    }

    /// Size (and, locally, integrity) of the bytes under `sha256`; `None` if there are none.
    pub async fn inspect(&self, sha256: &str) -> Result<Option<Inspected>, MediaError> {
        match self {
            MediaStore::Local(f) => match f.get(sha256) {
                Ok(bytes) => Ok(Some(Inspected {
                    size: bytes.len() as u64,
                    intact: Some(MediaFiles::sha256_hex(&bytes) == sha256),
                })),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(MediaError::Io(e)),
            },
            MediaStore::S3(s) => Ok(s.size_of(sha256).await?.map(|size| Inspected { size, intact: None })),
        }
    }

    /// Where the bytes are, for logs and messages.
    pub fn describe(&self) -> String {
        match self {
            MediaStore::Local(f) => format!("the media directory {}", f.root().display()),
            MediaStore::S3(s) => s.describe(),
        }
    }

    /// How a missing object is reported by `beian check`.
    pub fn missing_text(&self) -> &'static str {
        match self {
            MediaStore::Local(_) => "file missing from the media directory",
            MediaStore::S3(_) => "object missing from the S3 bucket",
        }
    }
}

/// The local directory: `{root}/{sha[..2]}/{sha}`.
#[derive(Debug, Clone)]
pub struct MediaFiles {
    root: PathBuf,
}

impl MediaFiles {
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<MediaFiles> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(MediaFiles { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn sha256_hex(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        // Only our own hex digests name files: no path tricks can reach outside the root.
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.root.join(&sha256[..2]).join(sha256))
    }

    /// Store bytes durably; returns their SHA-256 (hex).
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let sha = Self::sha256_hex(bytes);
        let path = self.path_of(&sha).ok_or_else(|| std::io::Error::other("bad digest"))?;
        if path.exists() {
            return Ok(sha);
        }
        let dir = path.parent().ok_or_else(|| std::io::Error::other("no parent"))?;
        std::fs::create_dir_all(dir)?;
        // A temporary name of our own: two uploads of the same new bytes at once must not
        // write (or truncate) one shared temporary file.
        let tmp = dir.join(format!(".{sha}.{}.{:016x}.tmp", std::process::id(), rand::random::<u64>()));
        {
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        // Renaming over an identical file another upload just put there is harmless.
        std::fs::rename(&tmp, &path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(sha)
    }

    /// Whether bytes under this digest are stored here.
    pub fn contains(&self, sha256: &str) -> bool {
        self.path_of(sha256).is_some_and(|p| p.exists())
    }

    pub fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        let path = self.path_of(sha256).ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        std::fs::read(path)
    }
}
