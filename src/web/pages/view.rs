//! Rendering helpers and the view models the templates share: packets and nodes from
//! the typed query answers, formatted once (ids, times, labels). Every string stays raw here;
//! askama escapes it in the template.

use std::borrow::Borrow;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;

use super::assets;
use super::i18n::Lang;
use super::shell::Prefs;
use crate::web::compat::{BROADCAST, PacketItem, packet_item};
use crate::web::query::packets::{PacketList, packet_in};
use meshview_store::read::NodeRow;

/// Renders a page; remembers a `?lang=` choice in a cookie.
pub fn render(tpl: &impl Template, prefs: &Prefs) -> Response {
    match tpl.render() {
        Ok(html) => {
            let mut res = Html(html).into_response();
            let h = res.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            if prefs.remember_lang
                && let Ok(v) = HeaderValue::from_str(&format!(
                    "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
                    prefs.lang
                ))
            {
                h.insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    message: &'a str,
    theme: &'a str,
    lang: &'a str,
    css: String,
    home: &'a str,
}

pub fn error_page(status: StatusCode, message: &str, prefs: &Prefs) -> Response {
    let lang = Lang::new(&prefs.lang);
    let page = ErrorPage {
        status: status.as_u16(),
        message,
        theme: prefs.theme,
        lang: &prefs.lang,
        css: assets::url("css/app.css"),
        home: lang.t("base", "home"),
    };
    let mut res = render(&page, prefs);
    *res.status_mut() = status;
    res
}

/// `!hex` of a node number.
pub fn hex(id: impl Borrow<i64>) -> String {
    format!("!{:08x}", *id.borrow() as u32)
}

/// UTC `YYYY-MM-DDTHH:MM:SSZ` (the `datetime` attribute; scripts show local time).
pub fn iso(us: impl Borrow<i64>) -> String {
    chrono::DateTime::from_timestamp_micros(*us.borrow())
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// UTC `YYYY-MM-DD HH:MM:SS` (first paint, before the script localises it).
pub fn when(us: impl Borrow<i64>) -> String {
    chrono::DateTime::from_timestamp_micros(*us.borrow())
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// A node for display.
#[derive(Clone, Debug, Default)]
pub struct NodeView {
    pub num: i64,
    pub hex: String,
    pub long_name: String,
    pub short_name: String,
    pub hw_model: String,
    pub firmware: String,
    pub role: String,
    pub channel: String,
    pub gateway: bool,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub first_us: i64,
    pub last_us: i64,
}

impl NodeView {
    pub fn from_row(n: &NodeRow) -> NodeView {
        let num = n.node_id.unwrap_or(0);
        let coord = |v: Option<i64>| v.filter(|&x| x != 0).map(|x| x as f64 / 1e7);
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        NodeView {
            num,
            hex: hex(num),
            long_name: s(&n.long_name),
            short_name: s(&n.short_name),
            hw_model: s(&n.hw_model),
            firmware: s(&n.firmware),
            role: s(&n.role),
            channel: s(&n.channel),
            gateway: n.is_mqtt_gateway.unwrap_or(false),
            lat: coord(n.last_lat),
            lon: coord(n.last_long),
            first_us: n.first_seen_us.unwrap_or(0),
            last_us: n.last_seen_us.unwrap_or(0),
        }
    }

    /// The long name, else the short name, else the `!hex` id.
    pub fn name(&self) -> &str {
        if !self.long_name.is_empty() {
            &self.long_name
        } else if !self.short_name.is_empty() {
            &self.short_name
        } else {
            &self.hex
        }
    }

    pub fn position(&self) -> String {
        match (self.lat, self.lon) {
            (Some(a), Some(b)) => format!("{a:.5}, {b:.5}"),
            _ => String::new(),
        }
    }
}

/// A packet for display.
#[derive(Clone, Debug, Default)]
pub struct PacketView {
    pub id: i64,
    /// The Meshtastic id (low 32 bits), which replies refer to.
    pub mesh_id: i64,
    pub us: i64,
    pub iso: String,
    pub when: String,
    pub channel: String,
    pub from: i64,
    pub from_name: String,
    pub to: i64,
    pub to_name: String,
    pub broadcast: bool,
    pub portnum: i64,
    pub port_label: String,
    pub payload: String,
    pub reply_id: i64,
    pub emoji: bool,
    pub decoded: Value,
}

impl PacketView {
    /// A listed packet (a row and its presentation, as `/api/packets` lists it).
    pub fn from_item(p: &PacketItem<'_>, lang: &Lang) -> PacketView {
        let name = |v: &str, id: i64| {
            if v.is_empty() { hex(id) } else { v.to_string() }
        };
        let to = p.to_node_id;
        let to_name = if to == BROADCAST {
            lang.t("base", "all").to_string()
        } else if to == 1 {
            lang.t("base", "direct_to_mqtt").to_string()
        } else {
            name(p.to_long_name, to)
        };
        // The structured payload as the API shows it (JSON text of the presentation):
        // the page pretty-prints it and reads a position or an emoji flag from it.
        let decoded: Value = serde_json::from_str(p.decoded).unwrap_or(Value::Null);
        let portnum = i64::from(p.portnum);
        PacketView {
            id: p.id,
            mesh_id: p.id & 0xFFFF_FFFF,
            us: p.import_time_us,
            iso: iso(p.import_time_us),
            when: when(p.import_time_us),
            channel: p.channel.unwrap_or_default().to_string(),
            from: p.from_node_id,
            from_name: name(p.long_name, p.from_node_id),
            to,
            to_name,
            broadcast: to == BROADCAST,
            portnum,
            port_label: lang.port(portnum),
            payload: p.payload.to_string(),
            reply_id: p.reply_id.map_or(0, i64::from),
            emoji: decoded["emoji"].as_i64().is_some_and(|e| e != 0),
            decoded,
        }
    }

    /// The payload shortened for a table cell.
    pub fn preview(&self) -> String {
        let one_line = self.payload.replace('\n', " ");
        if one_line.chars().count() > 90 {
            format!("{}…", one_line.chars().take(90).collect::<String>())
        } else {
            one_line
        }
    }

    /// The decoded payload as indented JSON (or the payload text).
    pub fn pretty(&self) -> String {
        if self.decoded.is_null() {
            self.payload.clone()
        } else {
            serde_json::to_string_pretty(&self.decoded).unwrap_or_default()
        }
    }

    /// `(lat, lon)` of a POSITION or MAP_REPORT payload.
    pub fn position(&self) -> Option<(f64, f64)> {
        let lat = self.decoded["latitude_i"].as_i64()?;
        let lon = self.decoded["longitude_i"].as_i64()?;
        (lat != 0 || lon != 0).then(|| (lat as f64 / 1e7, lon as f64 / 1e7))
    }
}

/// The packets of a list, for display.
pub fn packets(list: &PacketList, lang: &Lang) -> Vec<PacketView> {
    list.items()
        .map(|(row, shown)| PacketView::from_item(&packet_item(&packet_in(row), shown), lang))
        .collect()
}

/// Nodes for display.
pub fn nodes(rows: &[NodeRow]) -> Vec<NodeView> {
    rows.iter().map(NodeView::from_row).collect()
}

/// Great-circle distance in km.
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::hex(0xa1b2c3d4), "!a1b2c3d4");
        assert_eq!(super::iso(0), "1970-01-01T00:00:00Z");
        let d = super::haversine_km((37.0, -122.0), (38.0, -122.0));
        assert!((d - 111.2).abs() < 0.5, "{d}");
    }
}
