//! The one error type of the HTTP side. Client mistakes carry their message (and the
//! parameter they concern); internal failures are logged with their cause and answered
//! generically, so no database text ever reaches a client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meshview_store::StoreError;
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // An outage is not a bug: say so with 503, so clients and balancers retry.
        if e.is_transient() {
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
    use meshview_store::StoreError;

    /// What the store calls transient (an outage) is 503; anything else 500.
    #[test]
    fn transient_store_errors_are_503_others_500() {
        let outage = StoreError::Transient {
            context: "reading".into(),
            cause: "database is locked".into(),
        };
        assert!(matches!(ApiError::from(outage), ApiError::Unavailable(_)));
        let bad = StoreError::Sql {
            context: "reading".into(),
            cause: "no such table: nope".into(),
        };
        assert!(matches!(ApiError::from(bad), ApiError::Internal(_)));
    }
}
