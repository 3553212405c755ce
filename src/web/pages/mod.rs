//! The web pages: MeshView's UI at MeshView's URLs, rendered on the server with askama
//! (first paint carries the data), kept current by small ES modules over the JSON API and
//! `/api/stream`.
//!
//! - every mesh string is escaped by askama in templates and inserted with `textContent`
//!   by the scripts; page data reaches scripts as a `<script type="application/json">`
//!   block (askama's `json` filter never emits `<`, `>`, `&` or `'`);
//! - a Content-Security-Policy without inline scripts covers every page ([`csp`]);
//! - scripts, styles and libraries are embedded under content-hashed names
//!   ([`assets`]); nothing is loaded from another host except map tiles;
//! - the language comes from `?lang=` (remembered in a cookie), the cookie, or
//!   `site.language`; the theme from a cookie ([`shell`]).
//!
//! Pages ask the typed queries the API answers from (`web::query`) and render their
//! answers; no page goes through an API handler or reads JSON back.

mod assets;
mod docs;
mod i18n;
mod live;
mod mesh;
mod node;
mod shell;
mod stats;
mod svg;
mod trace;
mod view;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::set_header::SetResponseHeaderLayer;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::limits::heavy;
use crate::config::Config;
use meshview_store::StoreError;

pub use shell::Prefs;

/// The tile URL template of the maps (`[site] map_tile_url`, e.g. OpenStreetMap's), or
/// OpenStreetMap's when the configured value is not an http(s) URL.
pub fn tile_url(config: &Config) -> String {
    let url = config.site.map_tile_url.trim();
    if tile_origin(url).is_some() {
        url.to_string()
    } else {
        crate::config::DEFAULT_TILE_URL.to_string()
    }
}

/// The CSP source of a tile URL template: `scheme://host[:port]`, `{s}` as a wildcard.
fn tile_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = rest.split('/').next()?.replace("{s}", "*");
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:*[]".contains(&b));
    ok.then(|| format!("{scheme}://{host}"))
}

/// The Content-Security-Policy of every page: scripts only from this server (no inline
/// script at all), connections only to this server, images also from the tile host.
/// Inline *styles* are allowed because the chart and map libraries position elements
/// with style attributes.
pub fn csp(config: &Config) -> String {
    let tiles = tile_origin(&tile_url(config)).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob: {tiles}; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    )
}

/// The page routes (merged beside the API by `web::router`).
pub fn router(config: &Config) -> Router<AppState> {
    let csp = HeaderValue::from_str(&csp(config))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    Router::new()
        .route("/", get(index))
        .route("/chat", get(live::chat))
        .route("/firehose", get(live::firehose))
        // Reads every node (for the filters' choices and the first rows).
        .route("/nodelist", get(node::nodelist).layer(heavy()))
        .route("/node/{node_id}", get(node::node))
        .route("/packet/{packet_id}", get(node::packet))
        .route("/packet_list/{node_id}", get(node::packet_list))
        .route("/map", get(mesh::map))
        .route("/kiosk", get(mesh::kiosk))
        .route("/heatmap", get(mesh::heatmap))
        .route("/nodegraph", get(mesh::nodegraph))
        .route("/net", get(stats::net))
        .route("/top", get(stats::top))
        .route("/stats", get(stats::stats))
        .route("/traceroute/{packet_id}", get(trace::traceroute))
        .route("/graph/traceroute/{packet_id}", get(trace::graph))
        .route("/api", get(docs::api_docs))
        .route("/static/{*path}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
}

/// A 302 to a local path (MeshView's status for its redirects).
pub fn found(to: &str) -> Response {
    // Only a local path, never `//host`.
    let to = if to.starts_with('/') && !to.starts_with("//") {
        to
    } else {
        "/chat"
    };
    match HeaderValue::from_str(to) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => (StatusCode::FOUND, [(header::LOCATION, "/chat")]).into_response(),
    }
}

/// `/`: MeshView's start page (`site.starting`).
async fn index(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    found(&state.config.site.starting)
}

/// Unknown paths: JSON under `/api/`, an HTML page elsewhere.
pub async fn fallback(uri: Uri, prefs: Prefs) -> Response {
    if uri.path().starts_with("/api/") {
        return super::api::not_found(uri).await.into_response();
    }
    PageError {
        status: StatusCode::NOT_FOUND,
        message: format!("No page at {}", uri.path()),
        prefs,
    }
    .into_response()
}

/// A failed page: an HTML page with the status and a message (internal causes are
/// logged, never shown).
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
    pub prefs: Prefs,
}

impl PageError {
    pub fn from_api(e: ApiError, prefs: &Prefs) -> PageError {
        let (status, message) = match e {
            ApiError::BadParam { name, message } => (
                StatusCode::BAD_REQUEST,
                format!("invalid parameter '{name}': {message}"),
            ),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::NotImplemented(m) => (StatusCode::NOT_IMPLEMENTED, m),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the server log".to_string(),
                )
            }
        };
        PageError {
            status,
            message,
            prefs: prefs.clone(),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        view::error_page(self.status, &self.message, &self.prefs)
    }
}

pub type PageResult = Result<Response, PageError>;

/// `?` on API results inside page handlers.
pub(crate) trait OrPage<T> {
    fn or_page(self, prefs: &Prefs) -> Result<T, PageError>;
}

impl<T> OrPage<T> for ApiResult<T> {
    fn or_page(self, prefs: &Prefs) -> Result<T, PageError> {
        self.map_err(|e| PageError::from_api(e, prefs))
    }
}

impl<T> OrPage<T> for Result<T, StoreError> {
    fn or_page(self, prefs: &Prefs) -> Result<T, PageError> {
        self.map_err(|e| PageError::from_api(ApiError::from(e), prefs))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tile_origins() {
        assert_eq!(
            super::tile_origin("https://{s}.tile.example.org/{z}/{x}/{y}.png").as_deref(),
            Some("https://*.tile.example.org")
        );
        assert_eq!(
            super::tile_origin("http://127.0.0.1:9/{z}/{x}/{y}.png").as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(super::tile_origin("javascript:alert(1)"), None);
        assert_eq!(super::tile_origin("https://a b/{z}"), None);
        assert_eq!(super::tile_origin("https://x.org;script-src *"), None);
    }
}
