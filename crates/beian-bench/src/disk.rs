//! The disk: free space before seeding (and a refusal when N will not fit), the data
//! directory's size on disk afterwards, and this disk's fsync rate — the physical floor of a
//! durable commit.

use crate::stats::Sample;
use anyhow::{Context, Result};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Bytes on disk per mini program of a seeded SQLite data directory, with room to spare: the
/// 1M database measured 2.2 GB (docs/benchmarks.md, payloads deflated), 20,000 about 2,000
/// bytes each; while a secondary index is rebuilt its pages sit in the WAL and SQLite's sort
/// spills to temporary files, so the peak is higher than the end. Not yet measured at 10M.
pub const BYTES_PER_MINI_PROGRAM: f64 = 2_800.0;
/// Besides the data: the WAL of the largest transaction, temporary sort files, the report.
pub const SLACK_BYTES: f64 = 2.0 * GB;

/// The free disk space seeding `n` mini programs needs, in bytes (see the constants).
pub fn needed_bytes(n: u64) -> u64 {
    (n as f64 * BYTES_PER_MINI_PROGRAM + SLACK_BYTES) as u64
}

/// Free bytes for an unprivileged writer on the file system holding `path` (`df`).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(path).output().ok()?;
    parse_df_avail(&String::from_utf8_lossy(&out.stdout))
}

/// The `Available` column (kB) of `df -Pk` output, in bytes.
fn parse_df_avail(text: &str) -> Option<u64> {
    let line = text.lines().nth(1)?;
    let kb: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kb * 1024)
}

/// Bytes a directory tree occupies on disk (allocated blocks, as `du` counts them).
pub fn du_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut total = 0;
    for e in entries.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() {
            total += du_bytes(&e.path());
        } else {
            total += meta.blocks() * 512;
        }
    }
    total
}

/// Samples the free space of a file system every second on a thread of its own, keeping the
/// lowest value: how far a load ate into the disk at its peak (other processes' writes
/// included).
pub struct FreeWatch {
    stop: Arc<AtomicBool>,
    low: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FreeWatch {
    pub fn start(path: &Path) -> FreeWatch {
        let (stop, low) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(u64::MAX)));
        let (s, l, path) = (stop.clone(), low.clone(), path.to_path_buf());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(free) = free_bytes(&path) {
                    l.fetch_min(free, Ordering::Relaxed);
                }
                for _ in 0..10 {
                    if s.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        FreeWatch { stop, low, thread: Some(thread) }
    }

    /// The lowest free space seen, in bytes (`None` if `df` never answered).
    pub fn finish(mut self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        Some(self.low.load(Ordering::Relaxed)).filter(|v| *v != u64::MAX)
    }
}

/// This disk's pace of durable writes: rewrite 512 bytes of a small file in `dir` and
/// `fdatasync` it, one after the other, for `secs` — what every durable commit waits for at
/// least once (SQLite in WAL mode with `synchronous=FULL` syncs the WAL once per commit).
/// The file is removed afterwards.
pub fn fsync_rate(dir: &Path, secs: Duration) -> Result<Sample> {
    let path = dir.join("bench-fsync-probe");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let block = [0x5au8; 512];
    f.write_all(&block)?;
    f.sync_all()?;
    let mut sample = Sample { latencies_us: Vec::with_capacity(4096), ..Sample::default() };
    let start = Instant::now();
    while start.elapsed() < secs {
        let t = Instant::now();
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&block)?;
        f.sync_data()?;
        sample.latencies_us.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
        sample.ok += 1;
    }
    sample.secs = start.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_available_column() {
        let text = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n\
                    /dev/vda         263174148 13000000  82000000      14% /\n";
        assert_eq!(parse_df_avail(text), Some(82_000_000 * 1024));
        assert_eq!(parse_df_avail("nothing"), None);
    }

    #[test]
    fn the_estimate_grows_with_n() {
        let one = needed_bytes(1_000_000) as f64 / GB;
        let ten = needed_bytes(10_000_000) as f64 / GB;
        assert!(one > 2.2 && one < 6.0, "{one}");
        assert!(ten > 22.0 && ten <= 30.0, "{ten}");
    }

    #[test]
    fn du_and_fsync_in_a_scratch_directory() {
        let dir = std::env::temp_dir().join(format!("beian-bench-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("a"), vec![1u8; 10_000]).expect("write");
        assert!(du_bytes(&dir) >= 8192);
        let s = fsync_rate(&dir, Duration::from_millis(50)).expect("fsync");
        assert!(s.ok > 0 && s.latencies_us.len() as u64 == s.ok);
        assert!(!dir.join("bench-fsync-probe").exists());
        assert!(free_bytes(&dir).is_some_and(|b| b > 0));
        let w = FreeWatch::start(&dir);
        std::thread::sleep(Duration::from_millis(50));
        assert!(w.finish().is_some());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
