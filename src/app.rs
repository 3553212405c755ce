//! The long-running roles and their supervision: `serve` (reader), `ingest` (writer) and
//! `run` (both in one process, migrating first).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::ingest::Source;
use crate::ingest::stats::IngestStats;
use crate::web::{self, AppState, Phase};
use meshview_store::coordination::{self, WaitOptions};
use meshview_store::migrations::Chain;
use meshview_store::ops::LiveSender;
use meshview_store::{Db, Role};

/// Everything a role needs, shared between supervised tasks.
#[derive(Clone)]
pub struct Context {
    pub config: Arc<Config>,
    pub chain: Arc<Chain>,
    pub shutdown: CancellationToken,
    /// Ingest counters, shared by the writer and the web side.
    pub stats: Arc<IngestStats>,
    /// In `run` (one process), the writer announces stored packets here and the web
    /// side's live stream listens; separate processes leave it `None`.
    pub live: Option<LiveSender>,
}

impl Context {
    /// The part of the context the writer uses.
    pub fn writer(&self) -> crate::ingest::WriterContext {
        crate::ingest::WriterContext {
            config: self.config.clone(),
            stats: self.stats.clone(),
            live: self.live.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

/// The reader: bind at once (so `/health` can say why it is not ready), wait for the
/// schema, then serve until shutdown.
pub async fn serve(ctx: Context, bound: Option<oneshot::Sender<SocketAddr>>) -> anyhow::Result<()> {
    let cfg = &ctx.config;
    let listener = web::bind(&cfg.server).await.with_context(|| {
        format!(
            "cannot listen on {}:{} (server.bind, server.port)",
            cfg.server.bind, cfg.server.port
        )
    })?;
    let addr = listener.local_addr()?;
    let scheme = if cfg.server.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!("listening on {scheme}://{addr}");
    if let Some(tx) = bound {
        let _ = tx.send(addr);
    }
    let head = ctx.chain.head_revision().unwrap_or("base").to_string();
    let (phase_tx, phase_rx) =
        watch::channel(Phase::Starting("checking the database schema".to_string()));
    let state = AppState::new(phase_rx, cfg.clone(), &head)
        .with_writer(ctx.live.clone(), ctx.stats.clone());
    let server = tokio::spawn(web::serve(listener, state, ctx.shutdown.clone()));

    let url = &cfg.database.url;
    let wait_opts = WaitOptions::with_timeout_secs(cfg.database.schema_wait_timeout);
    let wait = coordination::wait_for_schema(url, &ctx.chain, &wait_opts, |m| {
        phase_tx.send_replace(Phase::Starting(m.to_string()));
    });
    tokio::select! {
        r = wait => r?,
        _ = ctx.shutdown.cancelled() => {
            return server.await?;
        }
    }
    let db = Db::open(url, Role::Reader).await?;
    phase_tx.send_replace(Phase::Ready(db.clone()));
    tracing::info!(database = %url.redacted(), "serving");
    let result = server.await?;
    db.close().await;
    result
}

/// The writer: migrate (exactly as `meshview db upgrade`), then ingest until shutdown.
pub async fn ingest(ctx: Context, source: Source) -> anyhow::Result<()> {
    if matches!(source, Source::Mqtt) {
        ctx.config.require_mqtt()?;
    }
    coordination::writer_startup(
        &ctx.config.database.url,
        &ctx.chain,
        &ctx.config.upgrade_options(),
    )
    .await?;
    crate::ingest::run(ctx.writer(), source).await
}

/// Both halves in one process: migrate first, then the writer and the web server run
/// side by side, each restarted with backoff if it fails, until one shutdown signal.
pub async fn run(mut ctx: Context, source: Source) -> anyhow::Result<()> {
    if matches!(source, Source::Mqtt) {
        ctx.config.require_mqtt()?;
    }
    // One process: the web side hears stored packets straight from the writer.
    ctx.live = Some(tokio::sync::broadcast::channel(4096).0);
    coordination::writer_startup(
        &ctx.config.database.url,
        &ctx.chain,
        &ctx.config.upgrade_options(),
    )
    .await?;
    let writer = {
        let ctx = ctx.clone();
        supervise("writer", ctx.shutdown.clone(), move || {
            crate::ingest::run(ctx.writer(), source.clone())
        })
    };
    let web = {
        let ctx = ctx.clone();
        supervise("web", ctx.shutdown.clone(), move || {
            serve(ctx.clone(), None)
        })
    };
    tokio::join!(writer, web);
    Ok(())
}

/// Runs a task until shutdown, restarting it after failures or unexpected exits with
/// capped exponential backoff; each exit is logged once with its cause.
pub async fn supervise<F, Fut>(name: &'static str, shutdown: CancellationToken, mut start: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = tokio::time::Instant::now();
        // Tasks watch the shutdown token themselves and finish their work (the writer
        // flushes its last batch), so they are awaited, never dropped mid-flight.
        let result = start().await;
        if shutdown.is_cancelled() {
            if let Err(e) = result {
                tracing::error!(
                    task = name,
                    error = format!("{e:#}"),
                    "task failed while shutting down"
                );
            }
            return;
        }
        match result {
            Ok(()) => tracing::warn!(task = name, "task stopped; restarting"),
            Err(e) => tracing::error!(
                task = name,
                error = format!("{e:#}"),
                "task failed; restarting"
            ),
        }
        // A task that ran for a while earns a fresh backoff.
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        tracing::info!(
            task = name,
            seconds = backoff.as_secs(),
            "restarting after backoff"
        );
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        token.cancel();
    });
}
