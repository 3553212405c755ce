//! Coverage end to end: MeshView's `/api/coverage/{id}` (ITM area mode, its shapes and
//! defaults, bounded parameters), terrain mode over an elevation tile the test writes,
//! and observed coverage from the link model against the simulator's truth.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

use crate::common::Backend;
use crate::helpers::{Served, node_num, start_serve, wait_healthy};

/// Positioned nodes from `/api/nodes`: id → (lat, lon) in degrees.
async fn positions(s: &Served) -> HashMap<i64, (f64, f64)> {
    let body = s.ok("/api/nodes").await;
    body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| {
            let (lat, lon) = (n["last_lat"].as_i64()?, n["last_long"].as_i64()?);
            ((lat, lon) != (0, 0)).then(|| {
                (
                    n["node_id"].as_i64().unwrap(),
                    (lat as f64 / 1e7, lon as f64 / 1e7),
                )
            })
        })
        .collect()
}

/// 3″ SRTM tiles (1201 × 1201 big-endian metres) around `(lat, lon)`, flat at 20 m but
/// for a 600 m ridge running north–south 3 km east of it. Returns the tiles' names.
fn write_tiles(dir: &Path, lat: f64, lon: f64) -> Vec<String> {
    let coslat = lat.to_radians().cos();
    let ridge_lon = lon + 3.0 / (111.32 * coslat);
    let mut names = Vec::new();
    for tlat in (lat - 0.3).floor() as i32..=(lat + 0.3).floor() as i32 {
        for tlon in (lon - 0.4).floor() as i32..=(lon + 0.4).floor() as i32 {
            let name = format!(
                "{}{:02}{}{:03}.hgt",
                if tlat >= 0 { 'N' } else { 'S' },
                tlat.abs(),
                if tlon >= 0 { 'E' } else { 'W' },
                tlon.abs()
            );
            let mut row = Vec::with_capacity(1201 * 2);
            for col in 0..1201 {
                let plon = tlon as f64 + col as f64 / 1200.0;
                let km = (plon - ridge_lon).abs() * 111.32 * coslat;
                let h: i16 = if km < 0.5 { 600 } else { 20 };
                row.extend_from_slice(&h.to_be_bytes());
            }
            std::fs::write(dir.join(&name), row.repeat(1201)).unwrap();
            names.push(name);
        }
    }
    names
}

fn dist_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let r = 6371.0;
    let (la1, la2) = (a.0.to_radians(), b.0.to_radians());
    let dl = (b.1 - a.1).to_radians();
    let dp = la2 - la1;
    let h = (dp / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

async fn predicted(backend: Backend) {
    let s = Served::start(backend).await;
    let pos = positions(&s).await;
    let (&node, &at) = pos.iter().min_by_key(|(id, _)| **id).unwrap();

    // MeshView's perimeter: area mode ignores bearing, so a circle of 72 points.
    let p = s.ok(&format!("/api/coverage/{node}?mode=perimeter")).await;
    assert_eq!(p["mode"], "perimeter");
    assert_eq!(p["threshold_dbm"], -120.0);
    assert_eq!(p["model"], "area");
    let ring = p["perimeter"].as_array().unwrap();
    assert_eq!(ring.len(), 72);
    let radii: Vec<f64> = ring
        .iter()
        .map(|q| dist_km(at, (q[0].as_f64().unwrap(), q[1].as_f64().unwrap())))
        .collect();
    let (lo, hi) = radii
        .iter()
        .fold((f64::MAX, 0f64), |(l, h), r| (l.min(*r), h.max(*r)));
    assert!(hi - lo < 0.01 && lo > 1.0, "a circle: {lo}..{hi} km");
    // A stronger transmitter reaches further.
    let loud = s
        .ok(&format!("/api/coverage/{node}?mode=perimeter&tx_dbm=30"))
        .await;
    let far = dist_km(
        at,
        (
            loud["perimeter"][0][0].as_f64().unwrap(),
            loud["perimeter"][0][1].as_f64().unwrap(),
        ),
    );
    assert!(far > hi + 1.0, "{far} vs {hi}");

    // The heatmap: every (distance, bearing), scale widened to −130…−80 dBm at least.
    let h = s
        .ok(&format!("/api/coverage/!{node:08x}?radius_km=10&step_km=1"))
        .await;
    assert_eq!(h["mode"], "heatmap");
    let points = h["points"].as_array().unwrap();
    assert_eq!(points.len(), 10 * 72);
    assert!(h["min_dbm"].as_f64().unwrap() <= -130.0);
    assert!(h["max_dbm"].as_f64().unwrap() >= -80.0);
    // Weaker further out along one bearing.
    let dbm = |i: usize| points[i][2].as_f64().unwrap();
    assert!(dbm(0) > dbm(72 * 9));

    // Unknown node, node without a position, bad and unbounded parameters.
    s.error("/api/coverage/1", 404).await;
    let all: Vec<i64> = s.ok("/api/nodes").await["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node_id"].as_i64().unwrap())
        .collect();
    if let Some(blind) = all.iter().find(|id| !pos.contains_key(id)) {
        let e = s.error(&format!("/api/coverage/{blind}"), 404).await;
        assert!(e["error"].as_str().unwrap().contains("location"), "{e}");
    }
    for (q, param) in [
        ("step_km=0", "step_km"),
        ("step_km=-1", "step_km"),
        ("radius_km=100000", "radius_km"),
        ("radius_km=200&step_km=0.05", "step_km"),
        ("freq_mhz=abc", "freq_mhz"),
        ("tx_dbm=inf", "tx_dbm"),
        ("reliability=2", "reliability"),
        ("model=magic", "model"),
    ] {
        s.bad(&format!("/api/coverage/{node}?{q}"), param).await;
    }
    s.bad("/api/coverage/zz", "node_id").await;
}

/// With elevation tiles, coverage follows the terrain: a ridge east of the node cuts the
/// perimeter short on that side; nodes off the tiles fall back to area mode and say so.
async fn predicted_over_terrain(backend: Backend) {
    let s = Served::start(backend).await;
    let pos = positions(&s).await;
    let (&node, &at) = pos.iter().min_by_key(|(id, _)| **id).unwrap();
    let tiles = tempfile::tempdir().unwrap();
    let written = write_tiles(tiles.path(), at.0, at.1);
    let server = start_serve(
        &s.db,
        &[(
            "MESHVIEW_COVERAGE__ELEVATION_DIR",
            tiles.path().to_str().unwrap(),
        )],
    );
    let base = server.base_url().await;
    wait_healthy(&base, &server).await;
    let get = |path: String| {
        let base = base.clone();
        async move { crate::common::get_json(&format!("{base}{path}")).await }
    };
    let (status, p) = get(format!(
        "/api/coverage/{node}?mode=perimeter&radius_km=20&tx_dbm=30"
    ))
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["model"], "terrain", "{p}");
    assert!(p.get("missing_tile").is_none());
    let reach = |b: usize| -> f64 {
        // Bearing b·5°: the perimeter lists bearings in order, skipping empty ones.
        p["perimeter"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| (q[0].as_f64().unwrap(), q[1].as_f64().unwrap()))
            .map(|q| (q, dist_km(at, q)))
            .find(|(q, _)| {
                let bearing = (q.1 - at.1)
                    .atan2(q.0 - at.0)
                    .to_degrees()
                    .rem_euclid(360.0);
                (bearing - b as f64 * 5.0).abs() < 2.5
            })
            .map_or(0.0, |(_, d)| d)
    };
    let (east, west) = (reach(18), reach(54));
    eprintln!("terrain reach: east {east} km, west {west} km");
    assert!(east < 4.0, "the ridge 3 km east blocks: east {east} km");
    assert!(
        west > east + 2.0,
        "open to the west: west {west} km, east {east} km"
    );
    // Area mode on request, as MeshView.
    let (_, a) = get(format!("/api/coverage/{node}?mode=perimeter&model=area")).await;
    assert_eq!(a["model"], "area");
    // Reaching beyond the tiles: area mode, naming a missing tile.
    let (_, o) = get(format!(
        "/api/coverage/{node}?mode=perimeter&radius_km=150&step_km=5"
    ))
    .await;
    assert_eq!(o["model"], "area", "{o}");
    let missing = o["missing_tile"].as_str().unwrap_or_else(|| panic!("{o}"));
    assert!(
        !written.iter().any(|w| w.starts_with(missing)),
        "{missing} {written:?}"
    );
}

/// Observed coverage: exactly the receivers the simulator says heard the node directly.
async fn observed(backend: Backend) {
    let s = Served::start(backend).await;
    let pos = positions(&s).await;
    let mut heard: HashMap<i64, HashSet<i64>> = HashMap::new();
    for (f, t) in s.truth.links.keys() {
        heard.entry(node_num(f)).or_default().insert(node_num(t));
    }
    let (&node, receivers) = heard
        .iter()
        .filter(|(n, _)| pos.contains_key(n))
        .max_by_key(|(n, r)| (r.len(), **n))
        .unwrap();
    let o = s.ok(&format!("/api/coverage/{node}/observed")).await;
    assert_eq!(o["node_id"], node);
    assert_eq!(o["resolution"], 7);
    let got: HashSet<i64> = o["heard_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["node_id"].as_i64().unwrap())
        .collect();
    let want: HashSet<i64> = receivers
        .iter()
        .copied()
        .filter(|r| pos.contains_key(r))
        .collect();
    assert_eq!(got, want, "{o}");
    let cells = o["cells"].as_array().unwrap();
    let in_cells: i64 = cells.iter().map(|c| c["receivers"].as_i64().unwrap()).sum();
    assert_eq!(in_cells as usize, want.len());
    assert!(
        cells
            .iter()
            .all(|c| c["boundary"].as_array().unwrap().len() >= 5)
    );
    let c = &o["comparison"];
    assert_eq!(c["observed"].as_i64().unwrap() as usize, want.len(), "{o}");
    let outside = c["observed_outside_predicted"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&outside));
    assert!(c["predicted_cells"].as_i64().unwrap() > 0);

    // The whole mesh: one cell entry per place with heard transmitters.
    let m = s.ok("/api/coverage/observed?resolution=5").await;
    let cells = m["cells"].as_array().unwrap();
    let tx: i64 = cells
        .iter()
        .map(|c| c["transmitters"].as_i64().unwrap())
        .sum();
    let positioned_senders: HashSet<i64> = heard
        .keys()
        .copied()
        .filter(|n| pos.contains_key(n))
        .collect();
    assert_eq!(tx as usize, positioned_senders.len(), "{m}");

    s.error("/api/coverage/1/observed", 404).await;
    s.bad(
        &format!("/api/coverage/{node}/observed?resolution=9"),
        "resolution",
    )
    .await;
    s.bad(&format!("/api/coverage/{node}/observed?hours=0"), "hours")
        .await;
    s.bad("/api/coverage/observed?resolution=3", "resolution")
        .await;
    let _: Value = o;
}

crate::both_backends!(predicted, predicted_over_terrain, observed);
