//! The web side: axum routes over the read-only store. For now the operational
//! endpoints (`/health`, `/version`); the JSON API and pages build on this router.

mod health;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{DatabaseUrl, Server};
use crate::store::Db;

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
}

impl AppState {
    pub fn new(phase: watch::Receiver<Phase>, url: &DatabaseUrl, schema_revision: &str) -> Self {
        AppState {
            phase,
            started: Instant::now(),
            sqlite_path: match url {
                DatabaseUrl::Sqlite { path } => Some(path.clone()),
                DatabaseUrl::Postgres { .. } => None,
            },
            schema_revision: schema_revision.to_string(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/version", get(health::version))
        .with_state(state)
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
