//! Media bytes, content-addressed by SHA-256, in a local directory.
//!
//! Files are written to a temporary name, fsynced and renamed before the metadata row is
//! committed, so a committed `media` row always has its bytes.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

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

    pub fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        let path = self.path_of(sha256).ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        std::fs::read(path)
    }
}
