//! `/health` and `/version`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{AppState, Phase};
use crate::store::Db;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Embedded at build time, so answering never spawns a process.
pub const GIT_REVISION: &str = env!("MESHVIEW_GIT_REVISION");

pub async fn version() -> Json<Value> {
    Json(json!({
        "version": VERSION,
        "git_revision": GIT_REVISION,
        "git_revision_short": GIT_REVISION.get(..7).unwrap_or(GIT_REVISION),
    }))
}

pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let phase = state.phase.borrow().clone();
    let mut body = json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "version": VERSION,
        "git_revision": GIT_REVISION,
        "uptime_seconds": state.started.elapsed().as_secs(),
    });
    let db = match phase {
        Phase::Starting(detail) => {
            body["status"] = json!("starting");
            body["database"] = json!("waiting");
            body["detail"] = json!(detail);
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
        }
        Phase::Ready(db) => db,
    };
    match probe(&db, &state).await {
        Ok(facts) => {
            body["status"] = json!("healthy");
            body["database"] = json!("connected");
            body["schema_revision"] = json!(state.schema_revision);
            if let Some(secs) = facts.seconds_since_last_packet {
                body["seconds_since_last_message"] = json!(secs);
            }
            if let Some(bytes) = facts.size_bytes {
                body["database_size_bytes"] = json!(bytes);
                body["database_size"] = json!(human_size(bytes));
            }
            (StatusCode::OK, Json(body))
        }
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            body["status"] = json!("unhealthy");
            body["database"] = json!("disconnected");
            (StatusCode::SERVICE_UNAVAILABLE, Json(body))
        }
    }
}

struct Facts {
    seconds_since_last_packet: Option<f64>,
    size_bytes: Option<u64>,
}

async fn probe(db: &Db, state: &AppState) -> Result<Facts, sqlx::Error> {
    const LAST: &str = "SELECT MAX(import_time_us) FROM packet";
    let (last_us, size): (Option<i64>, Option<u64>) = match db {
        Db::Sqlite(p) => {
            let last: Option<i64> = sqlx::query_scalar(LAST).fetch_one(p).await?;
            let size = state.sqlite_path.as_ref().map(|path| {
                let main = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                let mut wal = path.as_os_str().to_owned();
                wal.push("-wal");
                main + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
            });
            (last, size)
        }
        Db::Postgres(p) => {
            let last: Option<i64> = sqlx::query_scalar(LAST).fetch_one(p).await?;
            let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(p)
                .await?;
            (last, Some(size.max(0) as u64))
        }
    };
    let now = crate::store::now_us();
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
