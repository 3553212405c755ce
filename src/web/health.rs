//! `/health` and `/version`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::{AppState, Phase};
use meshview_store::read::Reader;
use meshview_store::{Db, StoreError};

/// A health check that cannot reach the database within this is "unhealthy": a pool
/// waiting out its acquire timeout must not make `/health` hang.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Embedded at build time, so answering never spawns a process.
pub const GIT_REVISION: &str = env!("MESHVIEW_GIT_REVISION");

/// `/version`'s answer.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Version {
    pub git_revision: &'static str,
    pub git_revision_short: &'static str,
    pub version: &'static str,
}

/// Version
///
/// Version and git revision of the binary.
#[utoipa::path(
    get,
    path = "/version",
    tag = "operations",
    responses((status = 200, description = "OK", body = Version))
)]
pub async fn version() -> Json<Version> {
    Json(Version {
        git_revision: GIT_REVISION,
        git_revision_short: GIT_REVISION.get(..7).unwrap_or(GIT_REVISION),
        version: VERSION,
    })
}

/// `/health`'s answer (fields in alphabetical order, as the JSON map it was).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// `waiting`, `connected` or `disconnected`.
    pub database: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_size_bytes: Option<u64>,
    /// Why the reader is not ready yet (while starting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub git_revision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_since_last_message: Option<f64>,
    #[schema(inline)]
    pub status: HealthStatus,
    pub timestamp: String,
    pub uptime_seconds: u64,
    pub version: &'static str,
    /// The writer's liveness, when it runs in this process (`meshview run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer: Option<WriterHealth>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Starting,
    Unhealthy,
}

/// The writer's liveness: a quiet broker shows as a growing
/// `seconds_since_last_received`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriterHealth {
    /// The writer's MQTT session: `persistent` (messages published while it is away are
    /// kept by the broker and acknowledged after commit), `clean` (they are lost), or
    /// `refused` (a persistent session was asked for and the broker refused it). Absent
    /// without an MQTT source (replay, demo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt_session: Option<&'static str>,
    pub packets_stored: u64,
    pub queue_depth: u64,
    pub received: u64,
    pub seconds_since_last_received: Option<f64>,
    pub seconds_since_last_stored: Option<f64>,
    /// `ok`, or `failing` while the writer's commits fail and are retried (the database
    /// is down, its disk is full): it holds what it received (unacknowledged, with a
    /// persistent session) until a commit succeeds again.
    #[schema(pattern = "^(ok|failing)$")]
    pub storing: &'static str,
    /// Seconds since the commits started failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_failing: Option<f64>,
    /// The last failure, while failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_error: Option<String>,
}

/// Commits failing for this long make `/health` unhealthy: a moment's lock or a failover
/// is retried quietly, a full disk or a stopped database is not.
const STORE_FAILING_UNHEALTHY_S: f64 = 5.0;

/// Health
///
/// Liveness and readiness: `status` healthy/starting/unhealthy, database state, seconds
/// since the last stored packet, database size, and (in `meshview run`) the writer's
/// liveness under `writer`. 503 while waiting for the schema or when the database is
/// unreachable.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Healthy.", body = Health),
        (status = 503, description = "Starting or unhealthy.", body = Health),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let phase = state.phase.borrow().clone();
    let mut body = Health {
        database: "waiting",
        database_size: None,
        database_size_bytes: None,
        detail: None,
        git_revision: GIT_REVISION,
        schema_revision: None,
        seconds_since_last_message: None,
        status: HealthStatus::Starting,
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        uptime_seconds: state.started.elapsed().as_secs(),
        version: VERSION,
        writer: None,
    };
    let db = match phase {
        Phase::Starting(detail) => {
            body.detail = Some(detail);
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
        }
        Phase::Ready(db) => db,
    };
    body.writer = writer_health(&state);
    let writer_failing = body.writer.as_ref().and_then(|w| {
        w.seconds_failing
            .filter(|&s| s >= STORE_FAILING_UNHEALTHY_S)
            .map(|s| {
                format!(
                    "the writer cannot store (for {s:.0} s, retrying): {}",
                    w.store_error.as_deref().unwrap_or("unknown error")
                )
            })
    });
    let probed = tokio::time::timeout(PROBE_TIMEOUT, probe(&db, &state))
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Transient {
                context: "health probe".into(),
                cause: "no answer within the probe's time".into(),
            })
        });
    match probed {
        Ok(facts) => {
            body.database = "connected";
            body.schema_revision = Some(state.schema_revision.clone());
            body.seconds_since_last_message = facts.seconds_since_last_packet;
            body.database_size_bytes = facts.size_bytes;
            body.database_size = facts.size_bytes.map(human_size);
            if let Some(detail) = writer_failing {
                // Readable but not writable (a full disk): serving, but not healthy.
                body.status = HealthStatus::Unhealthy;
                body.detail = Some(detail);
                return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
            }
            body.status = HealthStatus::Healthy;
            (StatusCode::OK, Json(body))
        }
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            body.status = HealthStatus::Unhealthy;
            body.database = "disconnected";
            (StatusCode::SERVICE_UNAVAILABLE, Json(body))
        }
    }
}

struct Facts {
    seconds_since_last_packet: Option<f64>,
    size_bytes: Option<u64>,
}

fn writer_health(state: &AppState) -> Option<WriterHealth> {
    let s = state.ingest.as_ref()?.snapshot();
    let now = meshview_store::now_us();
    let ago = |us: u64| {
        (us > 0).then(|| ((((now - us as i64).max(0)) as f64) / 100_000.0).round() / 10.0)
    };
    Some(WriterHealth {
        mqtt_session: s.mqtt_session,
        packets_stored: s.packets_stored,
        queue_depth: s.queue_depth,
        received: s.received,
        seconds_since_last_received: ago(s.last_received_us),
        seconds_since_last_stored: ago(s.last_stored_us),
        storing: if s.store_failing_since_us > 0 {
            "failing"
        } else {
            "ok"
        },
        seconds_failing: ago(s.store_failing_since_us),
        store_error: s.store_error,
    })
}

/// The SQLite database's size on disk (main file plus WAL).
pub fn sqlite_size(path: &std::path::Path) -> Option<u64> {
    let main = std::fs::metadata(path).ok()?.len();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    Some(main + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0))
}

/// How long PostgreSQL's count of the database's size is reused: the server counts it by
/// listing every file of the database (about a millisecond on a 5 GB one), and health
/// checks and scrapes ask often for a number that changes slowly.
const PG_SIZE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// A database size (`None`: not known) and when it was counted.
pub type CountedSize = (std::time::Instant, Option<u64>);

/// The database's size in bytes (SQLite: on disk; PostgreSQL: as the server counts it,
/// at most [`PG_SIZE_TTL`] ago).
pub async fn database_size(db: &Db, state: &AppState) -> Result<Option<u64>, StoreError> {
    match db {
        Db::Sqlite(..) => Ok(state.sqlite_path.as_deref().and_then(sqlite_size)),
        Db::Postgres(_) => {
            if let Some((at, size)) = *state.pg_size.lock().expect("size lock")
                && at.elapsed() < PG_SIZE_TTL
            {
                return Ok(size);
            }
            let size = Reader::new(db.clone())
                .postgres_size()
                .await?
                .map(|s| s.max(0) as u64);
            *state.pg_size.lock().expect("size lock") = Some((std::time::Instant::now(), size));
            Ok(size)
        }
    }
}

async fn probe(db: &Db, state: &AppState) -> Result<Facts, StoreError> {
    // Open SQLite connections keep working on a file that was deleted or moved away;
    // the database is gone all the same (a restart would not find it).
    if let Some(path) = &state.sqlite_path
        && !path.exists()
    {
        return Err(StoreError::Transient {
            context: "health probe".into(),
            cause: format!("{} no longer exists", path.display()).into(),
        });
    }
    let reader = Reader::new(db.clone());
    let last_us = reader.last_import_us().await?;
    let size = database_size(db, state).await?;
    let now = meshview_store::now_us();
    Ok(Facts {
        seconds_since_last_packet: last_us
            .map(|us| (((now - us).max(0) as f64) / 100_000.0).round() / 10.0),
        size_bytes: size,
    })
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_sizes() {
        assert_eq!(super::human_size(512), "512 B");
        assert_eq!(super::human_size(1536), "1.50 KB");
        assert_eq!(super::human_size(5 * 1024 * 1024 * 1024), "5.00 GB");
    }
}
