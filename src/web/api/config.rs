//! `/api/config` (the site settings pages need, in MeshView's shape: booleans as the
//! strings "true"/"false") and `/api/lang` (UI strings per language and page section).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::json_of;
use crate::web::AppState;
use crate::web::error::{ApiError, ApiResult};
use crate::web::openapi::LookupFailures;
use crate::web::params::Params;

/// The language files, embedded at build time: adding a language is adding
/// `src/web/lang/<code>.json`. Requests can only pick among these names, so no path
/// from a request ever reaches the file system.
#[derive(rust_embed::RustEmbed)]
#[folder = "src/web/lang/"]
struct LangFiles;

/// Parsed once: language code → its JSON.
fn languages() -> &'static BTreeMap<String, Value> {
    static LANGS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    LANGS.get_or_init(|| {
        let mut out = BTreeMap::new();
        for name in LangFiles::iter() {
            let Some(code) = name.strip_suffix(".json") else {
                continue;
            };
            let Some(file) = LangFiles::get(&name) else {
                continue;
            };
            match serde_json::from_slice::<Value>(&file.data) {
                Ok(v) => {
                    out.insert(code.to_string(), v);
                }
                // A broken file is a build-time mistake the lang tests catch.
                Err(e) => tracing::error!(file = %name, error = %e, "bad language file"),
            }
        }
        out
    })
}

/// The language codes served.
pub fn language_codes() -> Vec<String> {
    languages().keys().cloned().collect()
}

fn flag(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// `/api/config`'s answer: MeshView's shape, switches as the strings "true"/"false"
/// (fields in alphabetical order, as the JSON map it was).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Config)]
pub struct SiteConfig<'a> {
    cleanup: CleanupOut,
    mqtt: MqttOut<'a>,
    site: SiteOut<'a>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CleanupOut {
    days_to_keep: String,
    enabled: &'static str,
    hour: String,
    minute: String,
    vacuum: &'static str,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MqttOut<'a> {
    #[schema(value_type = String)]
    server: &'a str,
    #[schema(value_type = Vec<String>)]
    topics: &'a [String],
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SiteOut<'a> {
    chat: &'static str,
    #[schema(value_type = String)]
    domain: &'a str,
    everything: &'static str,
    firehose_interval: i64,
    graphs: &'static str,
    #[schema(value_type = String)]
    language: &'a str,
    map: &'static str,
    map_bottom_right_lat: f64,
    map_bottom_right_lon: f64,
    map_interval: i64,
    map_top_left_lat: f64,
    map_top_left_lon: f64,
    #[schema(value_type = String)]
    message: &'a str,
    net: &'static str,
    #[schema(value_type = String)]
    net_tag: &'a str,
    nodes: &'static str,
    #[schema(value_type = String)]
    starting: &'a str,
    stats: &'static str,
    #[schema(value_type = String)]
    title: &'a str,
    top: &'static str,
    version: &'static str,
    #[schema(value_type = String)]
    weekly_net_message: &'a str,
}

/// Site configuration
///
/// The `[site]`, `[mqtt]` (server, topics) and `[cleanup]` settings, MeshView's shape:
/// switches as the strings "true"/"false".
#[utoipa::path(
    get,
    path = "/api/config",
    tag = "api",
    responses((status = 200, description = "OK", body = SiteConfig))
)]
pub async fn config(State(state): State<AppState>) -> ApiResult<Response> {
    let c = &state.config;
    let s = &c.site;
    let body = SiteConfig {
        cleanup: CleanupOut {
            days_to_keep: c.cleanup.days_to_keep.to_string(),
            enabled: flag(c.cleanup.enabled),
            hour: c.cleanup.hour.to_string(),
            minute: c.cleanup.minute.to_string(),
            vacuum: flag(c.cleanup.vacuum),
        },
        mqtt: MqttOut {
            server: &c.mqtt.server,
            topics: &c.mqtt.topics,
        },
        site: SiteOut {
            chat: flag(s.chat),
            domain: &s.domain,
            everything: flag(s.everything),
            firehose_interval: s.firehose_interval,
            graphs: flag(s.graphs),
            language: &s.language,
            map: flag(s.map),
            map_bottom_right_lat: s.map_bottom_right_lat,
            map_bottom_right_lon: s.map_bottom_right_lon,
            map_interval: s.map_interval,
            map_top_left_lat: s.map_top_left_lat,
            map_top_left_lon: s.map_top_left_lon,
            message: &s.message,
            net: flag(s.net),
            net_tag: &s.net_tag,
            nodes: flag(s.nodes),
            starting: &s.starting,
            stats: flag(s.stats),
            title: &s.title,
            top: flag(s.top),
            version: crate::web::health::VERSION,
            weekly_net_message: &s.weekly_net_message,
        },
    };
    json_of(&body)
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes what `lang` reads through `Params`
pub struct LangParams {
    /// Language code (default: site.language). Letters, digits, - and _ only.
    #[param(pattern = r"^[A-Za-z0-9_-]{1,16}$")]
    lang: Option<String>,
    /// One section, e.g. base, chat, nodelist, net, map, stats, top, nodegraph, firehose,
    /// node, packet.
    section: Option<String>,
}

/// UI strings
///
/// A language's strings, whole or one section. Unknown languages fall back to English.
#[utoipa::path(
    get,
    path = "/api/lang",
    tag = "api",
    params(LangParams),
    responses((status = 200, description = "OK", body = Object), LookupFailures)
)]
pub async fn lang(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let requested = params
        .get("lang")
        .map(str::to_string)
        .unwrap_or_else(|| state.config.site.language.clone());
    let valid = !requested.is_empty()
        && requested.len() <= 16
        && requested
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(ApiError::bad(
            "lang",
            format!(
                "expected a language code such as \"en\"; available: {}",
                language_codes().join(", ")
            ),
        ));
    }
    let langs = languages();
    // Like MeshView, an unknown language falls back to English.
    let (code, doc) = match langs.get(&requested.to_ascii_lowercase()) {
        Some(doc) => (requested.to_ascii_lowercase(), doc),
        None => match langs.get("en") {
            Some(doc) => ("en".to_string(), doc),
            None => return Err(ApiError::Internal("no English language file".into())),
        },
    };
    match params.get("section") {
        None => Ok(Json(doc.clone())),
        Some(section) => {
            let section = section.to_lowercase();
            doc.get(&section).map(|v| Json(v.clone())).ok_or_else(|| {
                ApiError::NotFound(format!("Section '{section}' not found in {code}"))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every language has every section and key English has (and nothing English lacks).
    #[test]
    fn languages_are_complete() {
        let langs = super::languages();
        let en = langs.get("en").expect("en.json");
        for section in [
            "base",
            "chat",
            "nodelist",
            "net",
            "map",
            "stats",
            "top",
            "nodegraph",
            "firehose",
            "node",
            "packet",
        ] {
            assert!(
                en.get(section).is_some_and(|s| s.is_object()),
                "en lacks {section}"
            );
        }
        for (code, doc) in langs {
            for (section, keys) in en.as_object().unwrap() {
                let other = doc.get(section).and_then(|s| s.as_object());
                let other = other.unwrap_or_else(|| panic!("{code} lacks section {section}"));
                for key in keys.as_object().unwrap().keys() {
                    assert!(other.contains_key(key), "{code}.{section} lacks {key}");
                }
                for key in other.keys() {
                    assert!(keys.get(key).is_some(), "{code}.{section} has extra {key}");
                }
            }
        }
        assert!(langs.len() >= 3);
    }
}
