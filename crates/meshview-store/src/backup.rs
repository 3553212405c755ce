//! Backups. SQLite: a consistent online snapshot (`VACUUM INTO`, safe while the writer
//! writes), gzip-compressed into `<backup_dir>/<db stem>_backup_YYYYmmdd_HHMMSS.db.gz`
//! (UTC), keeping the newest `keep`. PostgreSQL: no file backup; the report points to
//! `pg_dump`, the right tool for a server database.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::joblog::JobLog;
use crate::retention::human_bytes;
use crate::{Db, FileContext, SqlContext, StoreError};

/// Backups kept when `keep` is not configured (one week of daily backups).
pub const DEFAULT_BACKUP_KEEP: usize = 7;

const NAME_MARK: &str = "_backup_";
const NAME_SUFFIX: &str = ".db.gz";
const TIME_FORMAT: &str = "%Y%m%d_%H%M%S";

#[derive(Clone)]
pub struct BackupOptions {
    /// Where backups go (created if missing; relative to the working directory).
    pub dir: PathBuf,
    /// How many backups of this database to keep, newest first; 0 keeps them all.
    pub keep: usize,
    pub log: JobLog,
}

impl BackupOptions {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BackupOptions {
            dir: dir.into(),
            keep: DEFAULT_BACKUP_KEEP,
            log: JobLog::default(),
        }
    }
}

/// What a backup did.
#[derive(Debug, Clone)]
pub enum BackupReport {
    Sqlite(SqliteBackup),
    /// No file was written; `advice` says how to back up PostgreSQL instead.
    Postgres {
        advice: String,
    },
}

#[derive(Debug, Clone)]
pub struct SqliteBackup {
    /// The compressed backup (absolute path).
    pub path: PathBuf,
    /// Size of the snapshot before compression.
    pub raw_bytes: u64,
    pub compressed_bytes: u64,
    /// `VACUUM INTO` (the database is read, not locked, meanwhile).
    pub snapshot_time: Duration,
    pub compress_time: Duration,
    pub total_time: Duration,
    /// Older backups deleted by rotation.
    pub removed: Vec<PathBuf>,
}

/// Backs up the database (see the module documentation).
pub async fn backup(db: &Db, opts: &BackupOptions) -> Result<BackupReport, StoreError> {
    match db {
        Db::Postgres(pool) => {
            let o = pool.connect_options();
            let name = o.get_database().unwrap_or("meshview");
            let advice = format!(
                "backup: PostgreSQL is not backed up by MeshView (cleanup.backup_enabled applies \
                 to SQLite only); use pg_dump, e.g. `pg_dump -Fc -h {} -p {} -U {} -f \
                 {name}_$(date +%Y%m%d_%H%M%S).dump {name}` from cron, and restore with pg_restore",
                o.get_host(),
                o.get_port(),
                o.get_username(),
            );
            opts.log.info(&advice);
            Ok(BackupReport::Postgres { advice })
        }
        Db::Sqlite(pool, _) => {
            let source = pool.connect_options().get_filename().to_path_buf();
            let r = sqlite_backup(pool, &source, opts).await;
            if let Err(e) = &r {
                opts.log
                    .error(format!("backup of {} failed: {e}", source.display()));
            }
            r.map(BackupReport::Sqlite)
        }
    }
}

async fn sqlite_backup(
    pool: &sqlx::SqlitePool,
    source: &Path,
    opts: &BackupOptions,
) -> Result<SqliteBackup, StoreError> {
    let started = Instant::now();
    let stem = db_stem(source);
    let dir = std::path::absolute(&opts.dir)
        .file_context(|| format!("backup directory {}", opts.dir.display()))?;
    tokio::fs::create_dir_all(&dir)
        .await
        .file_context(|| format!("cannot create the backup directory {}", dir.display()))?;

    let (final_path, name) = free_name(&dir, &stem).await;
    // Hidden, distinct names: rotation never sees them, and a crash leaves no file that
    // looks like a finished backup.
    let raw = dir.join(format!(".{name}.snapshot"));
    let gz_tmp = dir.join(format!(".{name}.partial"));
    let mut cleanup = RemoveOnDrop(vec![raw.clone(), gz_tmp.clone()]);

    opts.log.info(format!(
        "backup: {} -> {}",
        source.display(),
        final_path.display()
    ));
    let raw_str = raw.to_str().ok_or_else(|| {
        StoreError::Refused(format!("backup path {} is not valid UTF-8", raw.display()))
    })?;
    // VACUUM INTO reads one consistent snapshot (a read transaction: the writer carries
    // on) and writes a compact copy without WAL — unlike copying the live file.
    let snap = Instant::now();
    sqlx::query("VACUUM INTO ?1")
        .bind(raw_str)
        .execute(pool)
        .await
        .context(format!("VACUUM INTO {}", raw.display()))?;
    let snapshot_time = snap.elapsed();

    let comp = Instant::now();
    let (raw_bytes, compressed_bytes) = {
        let (raw, gz_tmp, final_path) = (raw.clone(), gz_tmp.clone(), final_path.clone());
        // Compression is CPU and disk work: keep it off the async runtime's threads.
        tokio::task::spawn_blocking(move || compress(&raw, &gz_tmp, &final_path))
            .await
            .map_err(std::io::Error::other)
            .file_context(|| "compressing the snapshot".into())??
    };
    let compress_time = comp.elapsed();
    // Both temporary files are gone now (renamed, deleted).
    cleanup.0.clear();

    let removed = if opts.keep > 0 {
        let (d, stem, keep) = (dir.clone(), stem.clone(), opts.keep);
        tokio::task::spawn_blocking(move || rotate(&d, &stem, keep))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .file_context(|| format!("rotating backups in {}", dir.display()))?
    } else {
        Vec::new()
    };
    for p in &removed {
        opts.log
            .info(format!("backup: rotated out {}", p.display()));
    }

    let total_time = started.elapsed();
    let ratio = if raw_bytes > 0 {
        compressed_bytes as f64 / raw_bytes as f64 * 100.0
    } else {
        0.0
    };
    opts.log.info(format!(
        "backup: wrote {} ({} raw -> {} compressed, {ratio:.1}%), snapshot {snapshot_time:.1?}, \
         compression {compress_time:.1?}, total {total_time:.1?}",
        final_path.display(),
        human_bytes(raw_bytes),
        human_bytes(compressed_bytes),
    ));
    Ok(SqliteBackup {
        path: final_path,
        raw_bytes,
        compressed_bytes,
        snapshot_time,
        compress_time,
        total_time,
        removed,
    })
}

/// `packets` for `/data/packets.db`.
fn db_stem(source: &Path) -> String {
    source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "meshview".into())
}

/// The backup file name for `stem` at `time` (UTC).
pub fn backup_file_name(stem: &str, time: chrono::DateTime<chrono::Utc>) -> String {
    format!("{stem}{NAME_MARK}{}{NAME_SUFFIX}", time.format(TIME_FORMAT))
}

/// A name not taken yet: two backups in the same second get consecutive seconds, so the
/// names keep sorting in time order.
async fn free_name(dir: &Path, stem: &str) -> (PathBuf, String) {
    let mut t = chrono::Utc::now();
    loop {
        let name = backup_file_name(stem, t);
        let path = dir.join(&name);
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return (path, name);
        }
        t += chrono::Duration::seconds(1);
    }
}

/// gzip `raw` into `tmp`, make it durable, rename it to `dest` (atomic on one file
/// system: readers see no file or a whole one), delete `raw`. Returns (raw, compressed)
/// sizes.
fn compress(raw: &Path, tmp: &Path, dest: &Path) -> Result<(u64, u64), StoreError> {
    let raw_bytes = std::fs::metadata(raw)
        .file_context(|| format!("snapshot {}", raw.display()))?
        .len();
    let mut input =
        BufReader::new(File::open(raw).file_context(|| format!("open {}", raw.display()))?);
    let out = File::create(tmp).file_context(|| format!("create {}", tmp.display()))?;
    let mut enc = GzEncoder::new(
        BufWriter::with_capacity(1 << 20, out),
        Compression::default(),
    );
    std::io::copy(&mut input, &mut enc)
        .file_context(|| format!("compress into {}", tmp.display()))?;
    let out = enc
        .finish()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .file_context(|| format!("write {}", tmp.display()))?;
    out.sync_all()
        .file_context(|| format!("sync {}", tmp.display()))?;
    let compressed_bytes = out
        .metadata()
        .file_context(|| format!("size of {}", tmp.display()))?
        .len();
    drop(out);
    std::fs::rename(tmp, dest)
        .file_context(|| format!("rename {} to {}", tmp.display(), dest.display()))?;
    // Make the rename itself durable (best effort: not every platform can sync a folder).
    if let Some(dir) = dest.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    std::fs::remove_file(raw).file_context(|| format!("remove {}", raw.display()))?;
    Ok((raw_bytes, compressed_bytes))
}

/// True for `<stem>_backup_YYYYmmdd_HHMMSS.db.gz` exactly.
fn is_backup_name(name: &str, stem: &str) -> bool {
    let Some(rest) = name
        .strip_prefix(stem)
        .and_then(|r| r.strip_prefix(NAME_MARK))
        .and_then(|r| r.strip_suffix(NAME_SUFFIX))
    else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() == 15
        && b[8] == b'_'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || c.is_ascii_digit())
}

/// Deletes all but the newest `keep` backups of `stem` in `dir`; only files named by our
/// pattern are considered, anything else in the folder is left alone. Returns what it
/// deleted. `keep == 0` deletes nothing.
pub fn rotate(dir: &Path, stem: &str, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    if keep == 0 {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_backup_name(name, stem) && entry.file_type()?.is_file() {
            names.push(name.to_string());
        }
    }
    // The timestamp is fixed-width UTC, so name order is time order.
    names.sort_unstable_by(|a, b| b.cmp(a));
    let mut removed = Vec::new();
    for name in names.into_iter().skip(keep) {
        let path = dir.join(name);
        std::fs::remove_file(&path)?;
        removed.push(path);
    }
    Ok(removed)
}

/// Decompresses a backup to `to` (which must not exist), e.g. to inspect or restore it;
/// returns the size written. Restoring for real: stop MeshView first, and remove the
/// database's `-wal` and `-shm` files before putting the restored file in its place.
pub async fn restore(gz: &Path, to: &Path) -> Result<u64, StoreError> {
    let (gz, to) = (gz.to_path_buf(), to.to_path_buf());
    tokio::task::spawn_blocking(move || {
        if to.exists() {
            return Err(StoreError::Refused(format!(
                "{} already exists; not overwriting it",
                to.display()
            )));
        }
        let mut input = GzDecoder::new(BufReader::new(
            File::open(&gz).file_context(|| format!("open {}", gz.display()))?,
        ));
        let mut out = BufWriter::new(
            File::create_new(&to).file_context(|| format!("create {}", to.display()))?,
        );
        let n = std::io::copy(&mut input, &mut out)
            .file_context(|| format!("decompress {} into {}", gz.display(), to.display()))?;
        out.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .file_context(|| format!("write {}", to.display()))?;
        Ok(n)
    })
    .await
    .map_err(std::io::Error::other)
    .file_context(|| "restoring the backup".into())?
}

/// Deletes its paths when dropped (temporary files left by a failed step).
struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_pattern() {
        let t = chrono::DateTime::parse_from_rfc3339("2025-03-04T05:06:07Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let n = backup_file_name("packets", t);
        assert_eq!(n, "packets_backup_20250304_050607.db.gz");
        assert!(is_backup_name(&n, "packets"));
        assert!(!is_backup_name(&n, "packet"));
        assert!(!is_backup_name(
            "packets_backup_20250304_050607.db",
            "packets"
        ));
        assert!(!is_backup_name(
            "packets_backup_2025030x_050607.db.gz",
            "packets"
        ));
        assert!(!is_backup_name(
            "packets_backup_20250304-050607.db.gz",
            "packets"
        ));
        assert!(!is_backup_name(
            ".packets_backup_20250304_050607.db.gz.partial",
            "packets"
        ));
        assert_eq!(db_stem(Path::new("/data/packets.db")), "packets");
        assert_eq!(db_stem(Path::new("mesh")), "mesh");
    }
}
