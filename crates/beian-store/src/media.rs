//! Media objects under a 64-hex name chosen by the caller: a local directory ([`MediaFiles`],
//! the default) or an S3-compatible bucket ([`S3Media`], so several nodes share them), behind
//! one [`MediaStore`]. The service stores media sealed ([`crate::Crypto::seal_media`]) under
//! their keyed digest, so objects are content-addressed without revealing a hash of the
//! content; objects from before encryption are plain and named by their SHA-256 until
//! `beian migrate` converts them.
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

/// What `beian check` learns about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// The object's size as stored.
    pub size: u64,
    /// The object's bytes where reading them is cheap (local files); `None` for S3 (a HEAD
    /// only — S3 verified the body against `x-amz-content-sha256` when it was PUT).
    pub bytes: Option<Vec<u8>>,
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
    /// Store bytes durably under `name` (64 hex characters). Only after this returns may the
    /// row naming them commit. An object already there under that name is kept (names are
    /// digests of the content).
    pub async fn put(&self, name: &str, bytes: &[u8]) -> Result<(), MediaError> {
        match self {
            MediaStore::Local(f) => Ok(f.put(name, bytes)?),
            MediaStore::S3(s) => s.put(name, bytes).await,
        }
    }

    pub async fn get(&self, name: &str) -> Result<Vec<u8>, MediaError> {
        match self {
            MediaStore::Local(f) => Ok(f.get(name)?),
            MediaStore::S3(s) => s.get(name).await,
        }
    }

    /// Remove an object (gone already is fine). `beian migrate` does, for a plain object whose
    /// sealed copy the rows name instead, and the erasure of personal data past retention, for
    /// an object no remaining row names; media are otherwise never deleted.
    pub async fn delete(&self, name: &str) -> Result<(), MediaError> {
        match self {
            MediaStore::Local(f) => match f.delete(name) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(MediaError::Io(e)),
                _ => Ok(()),
            },
            MediaStore::S3(s) => s.delete(name).await,
        }
    }

    /// The object under `name` (its size; locally its bytes), `None` if there is none.
    pub async fn inspect(&self, name: &str) -> Result<Option<Inspected>, MediaError> {
        match self {
            MediaStore::Local(f) => match f.get(name) {
                Ok(bytes) => Ok(Some(Inspected { size: bytes.len() as u64, bytes: Some(bytes) })),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(MediaError::Io(e)),
            },
            MediaStore::S3(s) => Ok(s.size_of(name).await?.map(|size| Inspected { size, bytes: None })),
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

/// The local directory: `{root}/{name[..2]}/{name}`.
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

    /// Store bytes durably under `name`.
    pub fn put(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let sha = name;
        let path = self.path_of(sha).ok_or_else(|| std::io::Error::other("bad digest"))?;
        if path.exists() {
            return Ok(());
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
        Ok(())
    }

    pub fn delete(&self, name: &str) -> std::io::Result<()> {
        let path = self.path_of(name).ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        std::fs::remove_file(&path)?;
        if let Some(Ok(d)) = path.parent().map(std::fs::File::open) {
            let _ = d.sync_all();
        }
        Ok(())
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
