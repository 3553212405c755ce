//! The web side: axum routes over the read-only store.
//!
//! - [`api`]: MeshView's JSON API (`/api/...`), same paths, parameters and shapes, its
//!   bugs fixed (see `docs/api.md`);
//! - [`stream`]: `/api/stream`, stored packets pushed as Server-Sent Events;
//! - [`health`]: `/health`, `/version`; [`metrics`]: `/metrics` (Prometheus);
//! - [`pages`]: the web UI (server-rendered pages, embedded static assets, CSP);
//! - [`compat`]: MeshView's presentation of a packet; [`params`]: typed parameters;
//!   [`error`]: the one error type.
//!
//! The server binds first (so `/health` can say why it is not ready), then serves
//! plain HTTP or TLS (`[server] tls_cert`), gzip-compressed, with request timeouts and
//! size limits, until the shutdown token fires.

mod api;
mod cache;
pub mod compat;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod limits;
pub mod metrics;
mod openapi;
mod pages;
mod params;
mod query;
pub mod stream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{MethodRouter, get};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ApiResult};

use crate::config::{Config, DatabaseUrl, Server};
use crate::ingest::stats::IngestStats;
use meshview_store::Db;
use meshview_store::ops::LiveSender;
use meshview_store::read::Reader;

/// Longest time a (non-streaming) request may take before it is answered 503.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests are GETs; a body beyond this is refused.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where the reader stands: waiting for the schema, or serving from a pool.
#[derive(Clone, Debug)]
pub enum Phase {
    Starting(String),
    Ready(Db),
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub phase: watch::Receiver<Phase>,
    pub started: Instant,
    pub sqlite_path: Option<PathBuf>,
    pub schema_revision: String,
    pub config: Arc<Config>,
    /// The writer's counters when it runs in this process (`meshview run`).
    pub ingest: Option<Arc<IngestStats>>,
    /// The writer's announcements of stored packets, in `meshview run`.
    pub live: Option<LiveSender>,
    pub hub: Arc<stream::Hub>,
    pub metrics: Arc<metrics::Metrics>,
    cache: Arc<cache::Cache>,
    /// Per-sender sums of completed hours (top talkers), kept between requests.
    pub(crate) sender_sums: Arc<meshview_store::read::SenderSums>,
    /// PostgreSQL's last count of the database's size, and when (`health::database_size`).
    pg_size: Arc<std::sync::Mutex<Option<health::CountedSize>>>,
    /// The operator's elevation tiles (`[coverage] elevation_dir`), if any.
    pub terrain: Option<Arc<meshview_radio::terrain::Terrain>>,
    /// Default-parameter coverage perimeters by position, computed once each.
    pub predictions: Arc<query::coverage::Predictions>,
}

/// Opens `[coverage] elevation_dir`. A folder that cannot be read is logged and coverage
/// falls back to area mode: a map layer is not worth refusing to serve the mesh.
fn open_terrain(config: &Config) -> Option<Arc<meshview_radio::terrain::Terrain>> {
    let dir = config.coverage.elevation_dir.as_ref()?;
    match meshview_radio::terrain::Terrain::open(dir) {
        Ok(t) => {
            tracing::info!(dir = %dir.display(), tiles = t.tile_count(), "elevation tiles for coverage");
            Some(Arc::new(t))
        }
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "cannot read the elevation tiles; coverage uses area mode");
            None
        }
    }
}

impl AppState {
    pub fn new(phase: watch::Receiver<Phase>, config: Arc<Config>, schema_revision: &str) -> Self {
        AppState {
            phase,
            started: Instant::now(),
            sqlite_path: match &config.database.url {
                DatabaseUrl::Sqlite { path } => Some(path.clone()),
                DatabaseUrl::Postgres { .. } => None,
            },
            schema_revision: schema_revision.to_string(),
            ingest: None,
            live: None,
            hub: Arc::new(stream::Hub::new()),
            metrics: Arc::new(metrics::Metrics::default()),
            cache: Arc::new(cache::Cache::default()),
            sender_sums: Arc::default(),
            pg_size: Arc::default(),
            terrain: open_terrain(&config),
            predictions: Arc::default(),
            config,
        }
    }

    /// The writer runs in this process: stream from its announcements (no database
    /// poll) and report its counters on `/health` and `/metrics`.
    pub fn with_writer(mut self, live: Option<LiveSender>, stats: Arc<IngestStats>) -> Self {
        if live.is_some() {
            self.live = live;
            self.ingest = Some(stats);
        }
        self
    }
}

/// The reader, for handlers that need the database; 503 while the schema is not ready.
pub struct Ready(pub Reader);

impl FromRequestParts<AppState> for Ready {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let _ = parts;
        match &*state.phase.borrow() {
            Phase::Ready(db) => Ok(Ready(Reader::new(db.clone()))),
            Phase::Starting(why) => Err(ApiError::Unavailable(format!("starting: {why}"))),
        }
    }
}

/// Every route, in one list: the router is built from it and the OpenAPI test checks it
/// against the generated OpenAPI document.
fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/health", get(health::health)),
        ("/version", get(health::version)),
        ("/metrics", get(metrics::metrics)),
        ("/api/openapi.json", get(api::openapi)),
        (
            "/api/nodes",
            get(api::nodes::nodes_http).layer(limits::heavy()),
        ),
        ("/api/packets", get(api::packets::packets)),
        (
            "/api/packets_seen/{packet_id}",
            get(api::packets::packets_seen),
        ),
        ("/api/channels", get(api::stats::channels)),
        ("/api/snapshots/daily", get(api::stats::snapshots_daily)),
        ("/api/stats", get(api::stats::stats)),
        ("/api/stats/count", get(api::stats::count)),
        ("/api/stats/top", get(api::stats::top)),
        ("/api/edges", get(api::edges::edges).layer(limits::heavy())),
        ("/api/links", get(api::links::links).layer(limits::heavy())),
        ("/api/links/{from}/{to}", get(api::links::link_history)),
        (
            "/api/links/{from}/{to}/profile",
            get(api::links::profile).layer(limits::heavy()),
        ),
        (
            "/api/traceroute/{packet_id}",
            get(api::traceroute::traceroute),
        ),
        ("/api/node/{node_id}/qr", get(api::node::qr)),
        (
            "/api/node/{node_id}/impersonation-check",
            get(api::node::impersonation_check),
        ),
        (
            "/api/coverage/{node_id}",
            get(api::node::coverage).layer(limits::heavy()),
        ),
        (
            "/api/coverage/{node_id}/observed",
            get(api::node::observed).layer(limits::heavy()),
        ),
        (
            "/api/coverage/observed",
            get(api::node::mesh_observed).layer(limits::heavy()),
        ),
        ("/api/config", get(api::config::config)),
        ("/api/lang", get(api::config::lang)),
    ]
}

/// The streaming route lives outside the request timeout.
const STREAM_PATH: &str = "/api/stream";

/// Every path the router serves (for the OpenAPI check).
pub fn route_paths() -> Vec<&'static str> {
    let mut paths: Vec<&'static str> = routes().into_iter().map(|(p, _)| p).collect();
    paths.push(STREAM_PATH);
    paths
}

pub fn router(state: AppState) -> Router {
    let mut api = Router::new();
    for (path, route) in routes() {
        api = api.route(path, route);
    }
    let api = api
        .merge(pages::router(&state.config))
        .fallback(pages::fallback)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ));
    let app = Router::new()
        .route(STREAM_PATH, get(stream::stream))
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        // The default predicate skips Server-Sent Events and tiny bodies.
        .layer(CompressionLayer::new())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES));
    let app = if state.config.logging.access_log {
        app.layer(
            TraceLayer::new_for_http()
                .make_span_with(access_span)
                .on_response(
                    |res: &axum::http::Response<_>, took: Duration, _span: &tracing::Span| {
                        tracing::info!(
                            status = res.status().as_u16(),
                            ms = took.as_secs_f64() * 1000.0,
                            "request"
                        );
                    },
                ),
        )
    } else {
        app
    };
    app.with_state(state)
}

fn access_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!("http", method = %req.method(), uri = %req.uri())
}

/// Serves `state` on `listener` (TLS when `[server] tls_cert` is set) until `shutdown`;
/// also runs the stream's feed.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let feed = tokio::spawn(stream::feed(
        state.hub.clone(),
        state.phase.clone(),
        state.live.clone(),
        shutdown.clone(),
    ));
    let warm = tokio::spawn(warm_up(state.phase.clone(), state.sender_sums.clone()));
    // Open streams end with the server, or graceful shutdown would wait for them forever.
    state.hub.set_shutdown(shutdown.clone());
    let tls = state.config.server.tls_cert.clone();
    let key = state.config.server.tls_key.clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = match tls {
        None => axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .context("web server"),
        Some(cert) => {
            let config = tls_config(&cert, key.as_deref()).await?;
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                h.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            axum_server::from_tcp_rustls(listener.into_std()?, config)?
                .handle(handle)
                .serve(app)
                .await
                .context("web server (TLS)")
        }
    };
    feed.abort();
    warm.abort();
    result
}

/// Once the database is ready, computes the top talkers of the usual windows (the last
/// 24 hours, today, the last 7 days) in the background, so the first visitor does not
/// pay for summing a week of the per-sender rollup (a second or more on a big mesh).
async fn warm_up(mut phase: watch::Receiver<Phase>, sums: Arc<meshview_store::read::SenderSums>) {
    let db = loop {
        if let Phase::Ready(db) = &*phase.borrow_and_update() {
            break db.clone();
        }
        if phase.changed().await.is_err() {
            return;
        }
    };
    let reader = Reader::new(db);
    let now = meshview_store::now_us();
    let started = Instant::now();
    for (period, length) in [(params::Period::Hour, 24), (params::Period::Day, 7)] {
        let since = query::stats::window_start(period, length, now);
        if let Err(e) = reader
            .top_talkers(
                &sums,
                meshview_store::read::TalkWindow {
                    since_us: since,
                    now_us: now,
                    ended: false,
                },
                None,
                1,
                0,
            )
            .await
        {
            tracing::debug!(error = %e, "top talkers warm-up failed");
            return;
        }
    }
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "top talkers warmed up"
    );
}

/// Loads the certificate chain and key: MeshView keeps both in one PEM (`tls_cert`);
/// `tls_key` names a separate key file.
async fn tls_config(
    cert: &std::path::Path,
    key: Option<&std::path::Path>,
) -> anyhow::Result<axum_server::tls_rustls::RustlsConfig> {
    crate::tls::install_crypto_provider();
    let cert_pem = tokio::fs::read(cert)
        .await
        .with_context(|| format!("server.tls_cert: cannot read {}", cert.display()))?;
    let key_pem = match key {
        Some(k) => tokio::fs::read(k)
            .await
            .with_context(|| format!("server.tls_key: cannot read {}", k.display()))?,
        None => cert_pem.clone(),
    };
    axum_server::tls_rustls::RustlsConfig::from_pem(cert_pem, key_pem)
        .await
        .with_context(|| {
            format!(
                "server.tls_cert {}: expected PEM certificates and one private key{}",
                cert.display(),
                if key.is_none() {
                    " (or set server.tls_key)"
                } else {
                    ""
                }
            )
        })
}

/// Binds `[server] bind:port`. `*` means every interface (IPv6 and IPv4 where the system
/// allows dual-stack sockets, else IPv4).
pub async fn bind(server: &Server) -> std::io::Result<TcpListener> {
    let host = server.bind.trim();
    if host == "*" || host.is_empty() {
        match TcpListener::bind(SocketAddr::from(([0u16; 8], server.port))).await {
            Ok(l) => return Ok(l),
            Err(_) => return TcpListener::bind(("0.0.0.0", server.port)).await,
        }
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    TcpListener::bind((host, server.port)).await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The OpenAPI document lists exactly the routes the router serves, and every
    /// reference in it resolves.
    #[test]
    fn openapi_documents_every_route() {
        let text = super::openapi::document();
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let documented: BTreeSet<String> =
            doc["paths"].as_object().unwrap().keys().cloned().collect();
        let served: BTreeSet<String> = super::route_paths().iter().map(|p| p.to_string()).collect();
        assert_eq!(documented, served);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (i, _) in text.match_indices("#/components/schemas/") {
            let name: String = text[i + 21..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(schemas.contains_key(&name), "unresolved $ref {name}");
        }
        // Every operation says what it is and what it answers.
        for (path, ops) in doc["paths"].as_object().unwrap() {
            let op = &ops["get"];
            assert!(op["summary"].is_string(), "{path} has no summary");
            assert!(op["description"].is_string(), "{path} has no description");
            assert!(
                op["responses"]["200"].is_object() || op["responses"]["501"].is_object(),
                "{path}"
            );
        }
    }
}
