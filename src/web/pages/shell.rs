//! What every page shares: the visitor's preferences (language, theme), the header with
//! the config-driven menu, the language switch, and the page's data for its script.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde_json::{Value, json};

use super::assets;
use super::i18n::{self, Lang};
use crate::web::AppState;

/// The visitor's choices: language (`?lang=` > `lang` cookie > `site.language`) and
/// theme (`theme` cookie: `dark`, `light`, or the system's).
#[derive(Clone, Debug)]
pub struct Prefs {
    pub lang: String,
    /// `?lang=` was given: remember it in a cookie.
    pub remember_lang: bool,
    pub theme: &'static str,
}

fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn query<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .uri
        .query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for Prefs {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let asked = query(parts, "lang").map(str::to_ascii_lowercase);
        let remember_lang = asked.as_deref().is_some_and(i18n::exists);
        let lang = asked
            .filter(|c| i18n::exists(c))
            .or_else(|| {
                cookie(parts, "lang")
                    .map(str::to_ascii_lowercase)
                    .filter(|c| i18n::exists(c))
            })
            .or_else(|| {
                Some(state.config.site.language.to_ascii_lowercase()).filter(|c| i18n::exists(c))
            })
            .unwrap_or_else(|| "en".to_string());
        let theme = match cookie(parts, "theme") {
            Some("dark") => "dark",
            Some("light") => "light",
            _ => "auto",
        };
        Ok(Prefs {
            lang,
            remember_lang,
            theme,
        })
    }
}

pub struct MenuItem {
    pub href: &'static str,
    pub label: String,
    pub active: bool,
}

pub struct LangOption {
    pub code: String,
    pub name: String,
    pub selected: bool,
}

/// The layout's data.
pub struct Shell {
    pub lang: Lang,
    /// Page key (menu highlight, `body` class).
    pub page: &'static str,
    pub title: String,
    pub site_title: String,
    pub domain: String,
    pub message: String,
    pub menu: Vec<MenuItem>,
    pub languages: Vec<LangOption>,
    pub theme: &'static str,
    pub version: &'static str,
    pub app_css: String,
    /// The site icon (declared, so browsers do not ask for `/favicon.ico`).
    pub icon: String,
    pub styles: Vec<String>,
    /// Classic library scripts (deferred, in order), then the page's module.
    pub scripts: Vec<String>,
    pub module: String,
    /// Handed to the page's script as JSON.
    pub data: Value,
}

/// Libraries a page needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lib {
    Leaflet,
    /// The Leaflet.heat plugin (a canvas density layer); list it after `Leaflet`.
    LeafletHeat,
    Echarts,
    Qr,
}

impl Shell {
    /// `page` names the menu entry and the lang section; `module` the script in `web/js`.
    pub fn new(
        state: &AppState,
        prefs: &Prefs,
        page: &'static str,
        title: String,
        module: &str,
        libs: &[Lib],
    ) -> Shell {
        let site = &state.config.site;
        let lang = Lang::new(&prefs.lang);
        let entries: [(&str, bool, &'static str); 8] = [
            ("nodes", site.nodes, "/nodelist"),
            ("chat", site.chat, "/chat"),
            ("everything", site.everything, "/firehose"),
            ("graphs", site.graphs, "/nodegraph"),
            ("stats", site.stats, "/stats"),
            ("net", site.net, "/net"),
            ("map", site.map, "/map"),
            ("top", site.top, "/top"),
        ];
        let menu = entries
            .iter()
            .filter(|(_, on, _)| *on)
            .map(|(key, _, href)| MenuItem {
                href,
                label: lang.t("base", key).to_string(),
                active: href.trim_start_matches('/') == page
                    || (*key == "nodes" && page == "nodelist")
                    || (*key == "everything" && page == "firehose")
                    || (*key == "graphs" && page == "nodegraph"),
            })
            .collect();
        let languages = i18n::languages()
            .into_iter()
            .map(|(code, name)| LangOption {
                selected: code == lang.code,
                code,
                name,
            })
            .collect();
        let mut styles = Vec::new();
        let mut scripts = Vec::new();
        for lib in libs {
            match lib {
                Lib::Leaflet => {
                    styles.push(assets::url("vendor/leaflet.css"));
                    scripts.push(assets::url("vendor/leaflet.js"));
                }
                Lib::LeafletHeat => scripts.push(assets::url("vendor/leaflet-heat.js")),
                Lib::Echarts => scripts.push(assets::url("vendor/echarts.js")),
                Lib::Qr => scripts.push(assets::url("vendor/qrcode.js")),
            }
        }
        // The page's own strings; the packet tables' rows (web/js/packetrows.js) also
        // use the firehose's and the packet page's.
        let sections: &[&str] = match page {
            "chat" | "net" | "top" | "packet" => &["base", page],
            // The pages that can be shown as of a past moment.
            "map" | "nodegraph" | "nodelist" | "stats" => &["base", page, "time"],
            "firehose" => &["base", "firehose", "packet"],
            "node" => &["base", "node", "firehose", "packet"],
            "kiosk" | "heatmap" => &["base", "map"],
            _ => &["base"],
        };
        Shell {
            data: json!({
                "page": page,
                "lang": lang.code,
                "i18n": lang.sections(sections),
                "tile_url": super::tile_url(&state.config),
                "bounds": [[site.map_top_left_lat, site.map_top_left_lon],
                           [site.map_bottom_right_lat, site.map_bottom_right_lon]],
                "map_interval": site.map_interval,
                "firehose_interval": site.firehose_interval,
            }),
            lang,
            page,
            title,
            site_title: if site.title.is_empty() {
                "MeshView".to_string()
            } else {
                site.title.clone()
            },
            domain: site.domain.clone(),
            message: site.message.clone(),
            menu,
            languages,
            theme: prefs.theme,
            version: crate::web::health::VERSION,
            app_css: assets::url("css/app.css"),
            icon: assets::url("img/favicon.svg"),
            styles,
            scripts,
            module: assets::url(&format!("js/{module}.js")),
        }
    }

    /// Adds a key to the page's data.
    pub fn with(mut self, key: &str, value: Value) -> Shell {
        self.data[key] = value;
        self
    }

    pub fn t<'a>(&self, section: &str, key: &'a str) -> &'a str {
        self.lang.t(section, key)
    }
}
