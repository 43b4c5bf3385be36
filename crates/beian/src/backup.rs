//! `beian backup DIR` and `beian restore DIR`.
//!
//! A backup directory holds the database (SQLite: a `VACUUM INTO` snapshot, `beian.db`;
//! PostgreSQL: a `pg_dump --format=custom` of the configured schema, `beian.pgdump`), the media
//! files (`media/`, content-addressed), the master key (`secret.key`) and `backup.json`, the
//! manifest. Both backends back up while the server runs: SQLite's snapshot is one read
//! transaction, `pg_dump` one repeatable-read snapshot. Media files are written before the row
//! that names them commits and never change, so copying the directory after the snapshot gives
//! every file the snapshot references (files added later are harmless extras).
//!
//! With media in S3 the backup is still self-contained: after the database snapshot, every
//! object a media row names is downloaded into `media/` (same layout, each checked against its
//! digest). Restore copies `media/` into the data directory, or — with S3 configured — uploads
//! it to the bucket, so a backup of either kind restores onto either kind.
//!
//! Restore goes into a fresh data directory (refused if not empty) and, for PostgreSQL, an
//! empty schema, then runs `beian check` on the result.

use crate::app::{open, redact, write_private};
use crate::config::{Config, MediaBackend};
use anyhow::{bail, Context, Result};
use beian_service::check::CheckReport;
use beian_service::{Service, SystemClock};
use beian_store::{Backend, Crypto, MediaError, MediaFiles, MediaStore, Store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const MANIFEST_FILE: &str = "backup.json";
pub const SQLITE_FILE: &str = "beian.db";
pub const PG_DUMP_FILE: &str = "beian.pgdump";
pub const KEY_FILE: &str = "secret.key";
pub const MEDIA_DIR: &str = "media";

/// `backup.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version of the backup directory.
    pub format: u32,
    /// When the backup was taken (RFC 3339, UTC).
    pub created_at: String,
    pub beian_version: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The database file inside the backup directory.
    pub database_file: String,
    /// PostgreSQL: the schema that was dumped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_schema: Option<String>,
    pub key_file: String,
    pub media_files: u64,
    pub media_bytes: u64,
    /// What `beian check` counted (SQLite: in the snapshot itself; PostgreSQL: in the live
    /// database just before the dump).
    pub counts: BTreeMap<String, u64>,
    /// Invariant violations found then (a backup is taken even of a damaged database).
    pub violations: usize,
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// Whether `dir` is missing or an empty directory.
fn missing_or_empty(dir: &Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

/// The master key in use, hex: `BEIAN_MASTER_KEY` / `master_key`, else `<data dir>/secret.key`.
fn master_key_hex(config: &Config) -> Result<String> {
    if let Some(k) = &config.master_key {
        return Ok(k.trim().to_ascii_lowercase());
    }
    let path = config.data_dir.join(KEY_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.trim().to_ascii_lowercase())
}

/// Refuse to work on a SQLite database that does not exist yet (opening it would create an
/// empty platform, which checks and backs up "fine").
pub fn require_existing_database(config: &Config) -> Result<()> {
    if Backend::from_url(&config.database_url)? == Backend::Sqlite {
        let path = sqlite_path(&config.database_url);
        if !path.exists() {
            bail!("no database at {}: give the data directory with --data-dir", path.display());
        }
    }
    Ok(())
}

/// Back up the configured platform into `dir` (which must be missing or empty).
pub async fn backup(config: &Config, dir: &Path) -> Result<Manifest> {
    require_existing_database(config)?;
    if !missing_or_empty(dir)? {
        bail!("{} is not empty: back up into a new directory", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (store, svc) = open(config, Arc::new(SystemClock)).await?;
    let result = backup_with(config, &store, &svc, dir).await;
    svc.close().await;
    result
}

async fn backup_with(config: &Config, store: &Store, svc: &Service, dir: &Path) -> Result<Manifest> {
    let backend = store.backend();
    let key = master_key_hex(config)?;
    let (database_file, pg_schema, report) = match backend {
        Backend::Sqlite => {
            let target = dir.join(SQLITE_FILE);
            store.snapshot_sqlite_to(&target).await.context("VACUUM INTO the backup directory")?;
            sync_file(&target)?;
            (SQLITE_FILE, None, None)
        }
        Backend::Postgres => {
            let schema = store.pg_current_schema().await.context("reading the current schema")?;
            let report =
                svc.operations().check_invariants().await.context("checking the database before the dump")?;
            let target = dir.join(PG_DUMP_FILE);
            pg_dump(&config.database_url, &schema, &target).await?;
            sync_file(&target)?;
            (PG_DUMP_FILE, Some(schema), Some(report))
        }
    };
    // After the snapshot: every row it holds was committed after its bytes were stored.
    let (media_files, media_bytes) = match svc.media() {
        MediaStore::Local(_) => copy_tree(&config.data_dir.join(MEDIA_DIR), &dir.join(MEDIA_DIR))
            .context("copying the media directory")?,
        remote => download_media(store, svc, remote, &dir.join(MEDIA_DIR)).await?,
    };
    write_private(&dir.join(KEY_FILE), &format!("{key}\n")).context("writing the key into the backup")?;
    let report = match report {
        Some(r) => r,
        // SQLite: check the snapshot itself, with the copied media — the backup proves itself.
        None => check_sqlite_copy(&dir.join(SQLITE_FILE), &dir.join(MEDIA_DIR), &key).await?,
    };
    let manifest = Manifest {
        format: 1,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        beian_version: env!("CARGO_PKG_VERSION").to_string(),
        backend: backend_name(backend).to_string(),
        database_file: database_file.to_string(),
        pg_schema,
        key_file: KEY_FILE.to_string(),
        media_files,
        media_bytes,
        counts: report.checked.clone(),
        violations: report.violations.len(),
    };
    let json = serde_json::to_string_pretty(&manifest).context("encoding the manifest")?;
    std::fs::write(dir.join(MANIFEST_FILE), format!("{json}\n")).context("writing backup.json")?;
    sync_file(&dir.join(MANIFEST_FILE))?;
    sync_dir(dir);
    Ok(manifest)
}

/// Open a SQLite copy read-only in spirit (nothing is written) and check it.
async fn check_sqlite_copy(db: &Path, media: &Path, key: &str) -> Result<CheckReport> {
    let crypto = Crypto::from_hex(key).context("the master key")?;
    let store = Store::connect(&format!("sqlite://{}", db.display()), crypto)
        .await
        .with_context(|| format!("opening the snapshot {}", db.display()))?;
    let media = MediaFiles::new(media).context("opening the copied media")?;
    let svc = Service::start(store, media, Arc::new(SystemClock)).await.context("reading the snapshot")?;
    let report = svc.operations().check_invariants().await.context("checking the snapshot");
    svc.close().await;
    report
}

/// Restore the backup in `dir` into the configured (fresh) data directory and database, then
/// check it. Returns the manifest and the check of the restored platform.
pub async fn restore(config: &Config, dir: &Path) -> Result<(Manifest, CheckReport)> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("{} is not a beian backup (no readable {MANIFEST_FILE})", dir.display()))?;
    let manifest: Manifest = serde_json::from_str(&text).context("backup.json is not valid")?;
    if manifest.format != 1 {
        bail!("backup format {} is not supported by this beian", manifest.format);
    }
    let key = std::fs::read_to_string(dir.join(&manifest.key_file))
        .with_context(|| format!("reading the backup's key {}", manifest.key_file))?
        .trim()
        .to_ascii_lowercase();
    let crypto = Crypto::from_hex(&key).context("the backup's key is not valid")?;
    if let Some(k) = &config.master_key {
        if k.trim().to_ascii_lowercase() != key {
            bail!(
                "BEIAN_MASTER_KEY (or master_key) differs from the key in the backup: the restored data \
                 could not be read; unset it or set it to the backup's key"
            );
        }
    }
    let target_backend = Backend::from_url(&config.database_url)?;
    match (manifest.backend.as_str(), target_backend) {
        ("sqlite", Backend::Sqlite) | ("postgres", Backend::Postgres) => {}
        (b, _) => bail!(
            "this is a {b} backup but the target database is {}: restore into the same kind of database",
            redact(&config.database_url)
        ),
    }
    if !missing_or_empty(&config.data_dir)? {
        bail!("{} is not empty: restore into a new data directory (--data-dir)", config.data_dir.display());
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;

    // The database first: if it is refused, nothing else was written.
    match target_backend {
        Backend::Sqlite => {
            let path = sqlite_path(&config.database_url);
            if path.exists() {
                bail!("{} already exists: restore into a new database file", path.display());
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            let src = dir.join(&manifest.database_file);
            std::fs::copy(&src, &path)
                .with_context(|| format!("copying {} to {}", src.display(), path.display()))?;
            sync_file(&path)?;
            if let Some(parent) = path.parent() {
                sync_dir(parent);
            }
        }
        Backend::Postgres => {
            let from = manifest.pg_schema.clone().context("the manifest names no PostgreSQL schema")?;
            pg_restore_into(&config.database_url, &crypto, &from, &dir.join(&manifest.database_file)).await?;
        }
    }
    let to_s3 = matches!(config.media, MediaBackend::S3(_));
    if !to_s3 {
        copy_tree(&dir.join(MEDIA_DIR), &config.data_dir.join(MEDIA_DIR))
            .context("copying the media files")?;
    }
    if config.master_key.is_none() {
        write_private(&config.data_dir.join(KEY_FILE), &format!("{key}\n")).context("writing secret.key")?;
    }
    sync_dir(&config.data_dir);

    // Start on it as the server would (migrating a backup of an older version), and check.
    let (store, svc) = open(config, Arc::new(SystemClock)).await.context("opening the restored platform")?;
    if to_s3 {
        match upload_media(&store, &svc, &dir.join(MEDIA_DIR)).await {
            Ok((files, bytes)) => {
                tracing::info!("uploaded {files} media files ({bytes} bytes) to {}", svc.media().describe())
            }
            Err(e) => {
                svc.close().await;
                return Err(e);
            }
        }
    }
    let report = svc.operations().check_invariants().await.context("checking the restored platform");
    svc.close().await;
    Ok((manifest, report?))
}

/// The file of a `sqlite://PATH[?…]` URL.
fn sqlite_path(url: &str) -> PathBuf {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

/// Restore a custom-format dump of schema `from` into the schema the target URL names (its
/// `search_path`), which must be empty or missing. `pg_restore` recreates `from`; it is then
/// renamed if the target's name differs, so `from` must not exist in the target database.
async fn pg_restore_into(url: &str, crypto: &Crypto, from: &str, dump: &Path) -> Result<()> {
    let store = Store::connect(url, crypto.clone())
        .await
        .with_context(|| format!("connecting to {}", redact(url)))?;
    let result = async {
        let target = store.pg_target_schema().await?;
        let (exists, tables) = store.pg_schema_state(&target).await?;
        if tables > 0 {
            bail!(
                "schema {target} of {} is not empty ({tables} tables): restore into an empty schema",
                redact(url)
            );
        }
        if from != target {
            let (from_exists, _) = store.pg_schema_state(from).await?;
            if from_exists {
                bail!(
                    "the backup's schema {from} already exists in the target database: restore into another \
                     database (createdb), or name {from} in the target URL's search_path"
                );
            }
        }
        if exists {
            store
                .pg_drop_empty_schema(&target)
                .await
                .with_context(|| format!("dropping the empty schema {target}"))?;
        }
        pg_tool(
            "pg_restore",
            url,
            &["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"],
            dump,
        )
        .await?;
        if from != target {
            store
                .pg_rename_schema(from, &target)
                .await
                .with_context(|| format!("renaming {from} to {target}"))?;
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

async fn pg_dump(url: &str, schema: &str, target: &Path) -> Result<()> {
    let schema_arg = format!("--schema={schema}");
    let file_arg = format!("--file={}", target.display());
    pg_tool("pg_dump", url, &["--format=custom", &schema_arg, &file_arg], Path::new("")).await
}

/// Run `pg_dump` / `pg_restore` against `url` (the password goes through `PGPASSWORD`, not the
/// command line). `input` is the archive for `pg_restore`.
async fn pg_tool(tool: &str, url: &str, args: &[&str], input: &Path) -> Result<()> {
    let (conn, password) = libpq_url(url);
    let mut cmd = tokio::process::Command::new(tool);
    cmd.args(args);
    if tool == "pg_restore" {
        cmd.arg(format!("--dbname={conn}")).arg(input);
    } else {
        cmd.arg(&conn);
    }
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot run {tool} ({e}): install the PostgreSQL client tools (e.g. `apt install postgresql-client`), \
             of the server's major version or newer"
        )
    })?;
    if !out.status.success() {
        bail!("{tool} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// A database URL as libpq takes it: without the password (returned apart, decoded) and
/// without query parameters libpq does not know.
fn libpq_url(url: &str) -> (String, Option<String>) {
    const KNOWN: [&str; 12] = [
        "options",
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "application_name",
        "connect_timeout",
        "host",
        "port",
        "user",
        "dbname",
        "target_session_attrs",
    ];
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut password = None;
    let mut base = base.to_string();
    if let Some(scheme_end) = base.find("://") {
        let rest_start = scheme_end + 3;
        let auth_end = base[rest_start..].find('/').map(|i| rest_start + i).unwrap_or(base.len());
        if let Some(at) = base[rest_start..auth_end].rfind('@').map(|i| rest_start + i) {
            if let Some(colon) = base[rest_start..at].find(':').map(|i| rest_start + i) {
                password = Some(percent_decode(&base[colon + 1..at]));
                base.replace_range(colon..at, "");
            }
        }
    }
    let kept: Vec<&str> = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|kv| KNOWN.contains(&kv.split('=').next().unwrap_or("")))
        .collect();
    if kept.is_empty() {
        (base, password)
    } else {
        (format!("{base}?{}", kept.join("&")), password)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Download every object a media row names into `to` (the local layout), each checked against
/// its digest. Returns (files, bytes). An object that is missing is skipped with a warning: the
/// backup is still taken, and its check reports the row.
async fn download_media(store: &Store, svc: &Service, media: &MediaStore, to: &Path) -> Result<(u64, u64)> {
    let target = MediaFiles::new(to).with_context(|| format!("creating {}", to.display()))?;
    let (mut files, mut bytes) = (0, 0);
    let mut after = String::new();
    loop {
        let page = svc.operations().media_rows_page(&after, 500).await.context("reading the media rows")?;
        let Some(last) = page.last() else { break };
        after = last.media_id.clone();
        for m in &page {
            if target.contains(&m.sha256) {
                continue;
            }
            let data = match media.get(&m.sha256).await {
                Ok(d) => d,
                Err(MediaError::NotFound) => {
                    tracing::warn!(
                        "media {} (sha256 {}) is missing from {}; backing up without it",
                        m.media_id,
                        m.sha256,
                        media.describe()
                    );
                    continue;
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("downloading media {} from {}", m.sha256, media.describe()))
                }
            };
            if !object_matches(store.crypto(), &m.sha256, &data) {
                bail!("the object {} in {} holds other bytes than its name says", m.sha256, media.describe());
            }
            target
                .put(&m.sha256, &data)
                .with_context(|| format!("writing media {} into the backup", m.sha256))?;
            files += 1;
            bytes += data.len() as u64;
        }
    }
    sync_dir(to);
    Ok((files, bytes))
}

/// Whether a media object holds what its name says: a sealed object opens under this
/// platform's key to bytes with that keyed digest; a plain one (from before media were
/// encrypted) has that SHA-256.
fn object_matches(crypto: &beian_store::Crypto, name: &str, data: &[u8]) -> bool {
    if beian_store::Crypto::is_sealed_media(data) {
        crypto.open_media(name, data).is_ok()
    } else {
        MediaFiles::sha256_hex(data) == name
    }
}

/// Upload every file of a backup's `media/` to the configured object store; each file's name
/// must be its digest. Returns (files, bytes).
async fn upload_media(store: &Store, svc: &Service, from: &Path) -> Result<(u64, u64)> {
    let media = svc.media();
    let (mut files, mut bytes) = (0, 0);
    for path in files_under(from)? {
        let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if !object_matches(store.crypto(), &name, &data) {
            bail!("{} does not hold the bytes its name says: the backup is damaged", path.display());
        }
        media
            .put(&name, &data)
            .await
            .with_context(|| format!("uploading {} to {}", path.display(), media.describe()))?;
        files += 1;
        bytes += data.len() as u64;
    }
    Ok((files, bytes))
}

/// Every regular file under `dir`, skipping hidden (temporary) names. A missing `dir` has none.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            out.extend(files_under(&entry.path())?);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Copy every regular file under `from` into `to` (same layout), skipping hidden (temporary)
/// names; each copied file is fsynced. Returns (files, bytes). A missing `from` copies nothing.
fn copy_tree(from: &Path, to: &Path) -> Result<(u64, u64)> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let entries = match std::fs::read_dir(from) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e).with_context(|| format!("reading {}", from.display())),
    };
    let (mut files, mut bytes) = (0, 0);
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        let (src, dst) = (entry.path(), to.join(&name));
        if kind.is_dir() {
            let (f, b) = copy_tree(&src, &dst)?;
            files += f;
            bytes += b;
        } else if kind.is_file() {
            bytes += std::fs::copy(&src, &dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
            sync_file(&dst)?;
            files += 1;
        }
    }
    sync_dir(to);
    Ok((files, bytes))
}

fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", path.display()))
}

/// Best effort: make a directory's entries durable.
fn sync_dir(path: &Path) {
    if let Ok(d) = std::fs::File::open(path) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_urls_lose_the_password_and_unknown_parameters() {
        let (u, p) = libpq_url("postgres://beian:s%40cret@db.example:5432/beian?options=-c%20search_path%3Dx&statement-cache-capacity=10");
        assert_eq!(u, "postgres://beian@db.example:5432/beian?options=-c%20search_path%3Dx");
        assert_eq!(p.as_deref(), Some("s@cret"));
        let (u, p) = libpq_url("postgres://postgres@127.0.0.1/test");
        assert_eq!((u.as_str(), p), ("postgres://postgres@127.0.0.1/test", None));
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(sqlite_path("sqlite:///tmp/x/beian.db?mode=rwc"), PathBuf::from("/tmp/x/beian.db"));
        assert_eq!(sqlite_path("sqlite://./d/beian.db"), PathBuf::from("./d/beian.db"));
    }
}
