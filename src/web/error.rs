//! The one error type of the HTTP side. Client mistakes carry their message (and the
//! parameter they concern); internal failures are logged with their cause and answered
//! generically, so no database text ever reaches a client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    /// 400: a query or path parameter is malformed or out of its domain.
    BadParam { name: String, message: String },
    /// 404.
    NotFound(String),
    /// 501: an endpoint MeshView has that we do not serve yet.
    NotImplemented(String),
    /// 503: not ready yet (waiting for the schema) or the database is unreachable.
    Unavailable(String),
    /// 500: logged, answered generically.
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad(name: &str, message: impl Into<String>) -> ApiError {
        ApiError::BadParam {
            name: name.to_string(),
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        // An outage is not a bug: say so with 503, so clients and balancers retry.
        let outage = match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => true,
            sqlx::Error::Database(db) => {
                let msg = db.message();
                msg.contains("database is locked")
                    || msg.contains("unable to open")
                    || msg.contains("disk I/O error")
                    || msg.contains("not currently accepting connections")
                    // Connection failures, admin shutdown, out of resources, database gone.
                    || db.code().is_some_and(|c| {
                        c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") || c == "3D000"
                    })
            }
            _ => false,
        };
        if outage {
            tracing::warn!(error = %e, "database unavailable");
            ApiError::Unavailable("database unavailable".into())
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::BadParam { name, message } => (
                StatusCode::BAD_REQUEST,
                json!({"error": format!("invalid parameter '{name}': {message}"), "parameter": name}),
            ),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, json!({"error": m})),
            ApiError::NotImplemented(m) => (StatusCode::NOT_IMPLEMENTED, json!({"error": m})),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, json!({"error": m})),
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": "internal error; see the server log"}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::ApiError;
    use crate::store::read::{LitePool, lite_error};

    /// The reader's SQLite failures (rusqlite, mapped to `sqlx::Error`) are told apart
    /// as sqlx's own were: an unreachable or locked database is 503, a bad query 500.
    #[tokio::test]
    async fn sqlite_reader_outages_are_503() {
        let dir = tempfile::tempdir().unwrap();
        let gone = LitePool::new(&dir.path().join("missing.db"));
        let e = gone.fetch_all("SELECT 1".into(), vec![]).await.unwrap_err();
        assert!(matches!(ApiError::from(e), ApiError::Unavailable(_)));

        for code in [5, 10, 14] {
            // SQLITE_BUSY, SQLITE_IOERR, SQLITE_CANTOPEN without SQLite's message.
            let e = lite_error(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ));
            assert!(
                matches!(ApiError::from(e), ApiError::Unavailable(_)),
                "code {code}"
            );
        }

        let path = dir.path().join("empty.db");
        rusqlite::Connection::open(&path).unwrap();
        let pool = LitePool::new(&path);
        let e = pool
            .fetch_all("SELECT * FROM nope".into(), vec![])
            .await
            .unwrap_err();
        assert!(matches!(ApiError::from(e), ApiError::Internal(_)));
        pool.close();
        let e = pool.fetch_all("SELECT 1".into(), vec![]).await.unwrap_err();
        assert!(matches!(ApiError::from(e), ApiError::Unavailable(_)));
    }
}
