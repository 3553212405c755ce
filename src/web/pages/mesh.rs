//! The mesh-wide views: `/map` (live), `/kiosk` (the live map alone, full screen),
//! `/heatmap` and `/nodegraph`. Each page is a frame: its script asks `/api/nodes` (and
//! the graph `/api/edges?quality=true`) for what it draws, its channels and counts, and
//! follows the stream. On a 2,000-node mesh the nodes made the maps' pages 380 KB, and
//! the nodes and links the graph's 780 KB.

use askama::Template;
use axum::extract::State;
use serde_json::json;

use super::PageResult;
use super::live::prefs_title;
use super::shell::{Lib, Prefs, Shell};
use super::view::render;
use crate::web::{AppState, Ready};

#[derive(Template)]
#[template(path = "map.html")]
struct MapPage {
    shell: Shell,
}

pub async fn map(State(state): State<AppState>, _ready: Ready, prefs: Prefs) -> PageResult {
    let shell = Shell::new(
        &state,
        &prefs,
        "map",
        prefs_title(&prefs, "map"),
        "map",
        &[Lib::Leaflet],
    );
    Ok(render(&MapPage { shell }, &prefs))
}

#[derive(Template)]
#[template(path = "kiosk.html")]
struct KioskPage {
    shell: Shell,
}

pub async fn kiosk(State(state): State<AppState>, _ready: Ready, prefs: Prefs) -> PageResult {
    let shell = Shell::new(
        &state,
        &prefs,
        "kiosk",
        prefs_title(&prefs, "map"),
        "map",
        &[Lib::Leaflet],
    )
    .with("kiosk", json!(true));
    Ok(render(&KioskPage { shell }, &prefs))
}

#[derive(Template)]
#[template(path = "heatmap.html")]
struct HeatmapPage {
    shell: Shell,
}

/// `/heatmap`: the nodes heard in the last 3 days with a position, drawn by the page as
/// a Leaflet.heat density layer (every node weighs the same).
pub async fn heatmap(State(state): State<AppState>, _ready: Ready, prefs: Prefs) -> PageResult {
    let lang = super::i18n::Lang::new(&prefs.lang);
    let shell = Shell::new(
        &state,
        &prefs,
        "heatmap",
        lang.t("map", "heatmap").to_string(),
        "heatmap",
        &[Lib::Leaflet, Lib::LeafletHeat],
    );
    Ok(render(&HeatmapPage { shell }, &prefs))
}

#[derive(Template)]
#[template(path = "nodegraph.html")]
struct GraphPage {
    shell: Shell,
}

pub async fn nodegraph(State(state): State<AppState>, _ready: Ready, prefs: Prefs) -> PageResult {
    let shell = Shell::new(
        &state,
        &prefs,
        "nodegraph",
        prefs_title(&prefs, "nodegraph"),
        "nodegraph",
        &[Lib::Echarts],
    );
    Ok(render(&GraphPage { shell }, &prefs))
}
