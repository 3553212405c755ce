//! The embedded static files (`/static/…`): our `web/` folder and the npm libraries,
//! copied and content-hashed by `build.rs`. A hashed name (`js/chat.1a2b3c4d5e6f.js`) is
//! served as immutable; the plain name (`js/chat.js`, used by relative references inside
//! library CSS) for a short time. Nothing here touches the file system at run time, so
//! no request path can reach a file.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub struct Asset {
    pub name: &'static str,
    pub hashed: &'static str,
    pub mime: &'static str,
    pub body: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The URL of an asset by its plain name (`js/chat.js`).
pub fn url(name: &str) -> String {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => format!("/static/{}", a.hashed),
        None => {
            tracing::error!(asset = name, "unknown asset");
            format!("/static/{name}")
        }
    }
}

pub async fn serve(Path(path): Path<String>) -> Response {
    if let Some(a) = ASSETS.iter().find(|a| a.hashed == path) {
        return reply(a, "public, max-age=31536000, immutable");
    }
    if let Some(a) = ASSETS.iter().find(|a| a.name == path) {
        return reply(a, "public, max-age=300");
    }
    (StatusCode::NOT_FOUND, "no such file").into_response()
}

/// `/favicon.ico`, which browsers ask for on their own (for the API's JSON, say): our
/// SVG icon, by its hashed name.
pub async fn favicon() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, url("img/favicon.svg"))],
    )
        .into_response()
}

fn reply(a: &'static Asset, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(a.mime)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        a.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn assets_are_hashed_and_found() {
        for name in [
            "vendor/leaflet.js",
            "vendor/leaflet-heat.js",
            "vendor/leaflet-heat.LICENSE.txt",
        ] {
            assert!(super::ASSETS.iter().any(|a| a.name == name), "{name}");
        }
        for a in super::ASSETS {
            assert_ne!(a.name, a.hashed);
            assert!(!a.body.is_empty(), "{}", a.name);
        }
        assert!(super::url("css/app.css").starts_with("/static/css/app."));
        assert!(super::url("img/favicon.svg").starts_with("/static/img/favicon."));
    }
}
