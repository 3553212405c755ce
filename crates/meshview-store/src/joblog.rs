//! The maintenance log: every line goes to `tracing` (standard error) and, when
//! `logging.db_cleanup_logfile` is set, is also appended to that file, so operators keep a
//! compact history of purges and backups apart from the busy ingest log.

use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

/// Where maintenance messages go. Cheap to clone; the default logs to `tracing` only.
#[derive(Clone, Default)]
pub struct JobLog {
    file: Option<Arc<FileSink>>,
}

struct FileSink {
    path: PathBuf,
    tx: mpsc::Sender<Msg>,
}

enum Msg {
    Line(String),
    Flush(tokio::sync::oneshot::Sender<()>),
}

#[derive(Clone, Copy)]
enum Level {
    Info,
    Warn,
    Error,
}

impl JobLog {
    /// Logs to `tracing` only.
    pub fn stderr_only() -> JobLog {
        JobLog::default()
    }

    /// Also appends to `path` (created if missing; relative to the working directory).
    /// The file is written by a small dedicated thread so a slow disk never stalls the
    /// async runtime; the thread ends when the last clone of this log is dropped.
    pub fn open(path: &Path) -> std::io::Result<JobLog> {
        let path = std::path::absolute(path)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Open now so a bad path is reported at start-up, not at 2 a.m.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name("meshview-joblog".into())
            .spawn(move || write_loop(file, &thread_path, rx))?;
        Ok(JobLog {
            file: Some(Arc::new(FileSink { path, tx })),
        })
    }

    /// The absolute path of the log file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    pub fn info(&self, msg: impl Display) {
        self.emit(Level::Info, msg.to_string());
    }

    pub fn warn(&self, msg: impl Display) {
        self.emit(Level::Warn, msg.to_string());
    }

    pub fn error(&self, msg: impl Display) {
        self.emit(Level::Error, msg.to_string());
    }

    /// Waits until every line logged so far has reached the file.
    pub async fn flush(&self) {
        let Some(f) = &self.file else { return };
        let (tx, rx) = tokio::sync::oneshot::channel();
        if f.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    fn emit(&self, level: Level, msg: String) {
        match level {
            Level::Info => tracing::info!(target: "meshview::jobs", "{msg}"),
            Level::Warn => tracing::warn!(target: "meshview::jobs", "{msg}"),
            Level::Error => tracing::error!(target: "meshview::jobs", "{msg}"),
        }
        if let Some(f) = &self.file {
            let name = match level {
                Level::Info => "INFO",
                Level::Warn => "WARN",
                Level::Error => "ERROR",
            };
            let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.3f %:z");
            // A send fails only if the writer thread is gone; it already said why.
            let _ = f.tx.send(Msg::Line(format!("{now} {name} {msg}\n")));
        }
    }
}

fn write_loop(mut file: std::fs::File, path: &Path, rx: mpsc::Receiver<Msg>) {
    let mut failed = false;
    for msg in rx {
        match msg {
            Msg::Line(line) => {
                // Unbuffered, one write per line: `tail -f` shows each line at once.
                if let Err(e) = file.write_all(line.as_bytes()) {
                    // Say it once; maintenance itself goes on, logged to stderr.
                    if !failed {
                        tracing::warn!(
                            "cannot write to the cleanup log {}: {e}; further lines go to stderr only",
                            path.display()
                        );
                        failed = true;
                    }
                }
            }
            Msg::Flush(done) => {
                let _ = file.flush();
                let _ = done.send(());
            }
        }
    }
}
