//! `/api/config` (the site settings pages need, in MeshView's shape: booleans as the
//! strings "true"/"false") and `/api/lang` (UI strings per language and page section).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::web::AppState;
use crate::web::error::{ApiError, ApiResult};
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

pub async fn config(State(state): State<AppState>) -> Json<Value> {
    let c = &state.config;
    let s = &c.site;
    Json(json!({
        "site": {
            "domain": s.domain,
            "language": s.language,
            "title": s.title,
            "message": s.message,
            "starting": s.starting,
            "nodes": flag(s.nodes),
            "chat": flag(s.chat),
            "everything": flag(s.everything),
            "graphs": flag(s.graphs),
            "stats": flag(s.stats),
            "net": flag(s.net),
            "map": flag(s.map),
            "top": flag(s.top),
            "map_top_left_lat": s.map_top_left_lat,
            "map_top_left_lon": s.map_top_left_lon,
            "map_bottom_right_lat": s.map_bottom_right_lat,
            "map_bottom_right_lon": s.map_bottom_right_lon,
            "map_interval": s.map_interval,
            "firehose_interval": s.firehose_interval,
            "weekly_net_message": s.weekly_net_message,
            "net_tag": s.net_tag,
            "version": crate::web::health::VERSION,
        },
        "mqtt": {
            "server": c.mqtt.server,
            "topics": c.mqtt.topics,
        },
        "cleanup": {
            "enabled": flag(c.cleanup.enabled),
            "days_to_keep": c.cleanup.days_to_keep.to_string(),
            "hour": c.cleanup.hour.to_string(),
            "minute": c.cleanup.minute.to_string(),
            "vacuum": flag(c.cleanup.vacuum),
        },
    }))
}

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
