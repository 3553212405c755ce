//! Synthetic SRTM elevation tiles for the reader benchmark's terrain coverage.
//!
//! `meshview-bench api` writes 3″ tiles (`N37W122.hgt`: 1201 × 1201 big-endian `i16`
//! metres, rows north to south) covering the seeded nodes' area plus the coverage radius
//! into a temporary folder, and starts the server with `MESHVIEW_COVERAGE__ELEVATION_DIR`
//! pointing there, so `/api/coverage/{id}` runs its terrain mode. The relief is made up
//! but plausible: rolling ridges of a few hundred metres with hills and small bumps on
//! them, and sea level (0 m) in the troughs; it is a function of the coordinates, so
//! neighbouring tiles join without seams.

use std::f64::consts::TAU;
use std::path::Path;

use anyhow::Context as _;
use meshview::config::DatabaseUrl;
use meshview_store::connect::{Conn, Role};

/// Samples per side of a 3″ tile.
const SIDE: usize = 1201;
/// Margin around the nodes' area, in degrees: the default coverage radius (40 km) is
/// 0.36° of latitude, and at most 0.5° of longitude below 45°.
const MARGIN_DEG: f64 = 0.5;
/// At most this many tiles (2.9 MB each) are written; a mesh spread wider gets the tiles
/// nearest its centre and falls back to area mode elsewhere.
const MAX_TILES: usize = 64;

/// The made-up terrain height at a point, in metres (0–1,000).
pub fn elevation_m(lat: f64, lon: f64) -> f64 {
    let ridges = (TAU * lat / 0.55).sin() * (TAU * lon / 0.7).cos();
    let hills = (TAU * (0.8 * lat + 0.6 * lon) / 0.13 + 1.1).sin()
        * (TAU * (0.8 * lon - 0.6 * lat) / 0.17).cos();
    let bumps = (TAU * lat / 0.031).sin() * (TAU * lon / 0.037 + 0.7).sin();
    (180.0 + 260.0 * ridges + 140.0 * hills + 45.0 * bumps).clamp(0.0, 1000.0)
}

/// The located nodes' extent `(south, west, north, east)` in degrees, read from the
/// database; `None` when no node has a position.
pub async fn node_area(url: &DatabaseUrl) -> anyhow::Result<Option<(f64, f64, f64, f64)>> {
    let mut conn = Conn::open(url, Role::Reader).await?;
    const WHERE: &str = "FROM node WHERE last_lat IS NOT NULL AND last_long IS NOT NULL \
                         AND NOT (last_lat = 0 AND last_long = 0)";
    let n = conn.scalar_i64(&format!("SELECT count(*) {WHERE}")).await?;
    let mut v = [0f64; 4];
    if n > 0 {
        for (i, agg) in [
            "min(last_lat)",
            "min(last_long)",
            "max(last_lat)",
            "max(last_long)",
        ]
        .iter()
        .enumerate()
        {
            v[i] = conn.scalar_i64(&format!("SELECT {agg} {WHERE}")).await? as f64 / 1e7;
        }
    }
    conn.close().await;
    Ok((n > 0).then_some((v[0], v[1], v[2], v[3])))
}

/// Writes the tiles covering `area` (plus the margin) into `dir`; returns how many.
pub fn write_tiles(dir: &Path, area: (f64, f64, f64, f64)) -> anyhow::Result<usize> {
    let (south, west, north, east) = area;
    let lat0 = ((south - MARGIN_DEG).floor() as i32).max(-90);
    let lat1 = ((north + MARGIN_DEG).floor() as i32).min(89);
    let lon0 = (west - MARGIN_DEG).floor() as i32;
    let lon1 = (east + MARGIN_DEG).floor() as i32;
    let (clat, clon) = ((south + north) / 2.0, (west + east) / 2.0);
    let mut tiles: Vec<(i32, i32)> = (lat0..=lat1)
        .flat_map(|la| (lon0..=lon1).map(move |lo| (la, lo)))
        .collect();
    tiles.sort_by(|a, b| {
        let d = |t: &(i32, i32)| {
            (f64::from(t.0) + 0.5 - clat).powi(2) + (f64::from(t.1) + 0.5 - clon).powi(2)
        };
        d(a).total_cmp(&d(b))
    });
    tiles.truncate(MAX_TILES);
    let mut buf = vec![0u8; SIDE * SIDE * 2];
    for &(lat, lon) in &tiles {
        for row in 0..SIDE {
            let la = f64::from(lat) + 1.0 - row as f64 / (SIDE - 1) as f64;
            for col in 0..SIDE {
                let lo = f64::from(lon) + col as f64 / (SIDE - 1) as f64;
                let h = elevation_m(la, lo).round() as i16;
                let at = (row * SIDE + col) * 2;
                buf[at..at + 2].copy_from_slice(&h.to_be_bytes());
            }
        }
        let path = dir.join(format!(
            "{}.hgt",
            meshview_radio::terrain::tile_name(lat, lon)
        ));
        std::fs::write(&path, &buf).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(tiles.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_read_back_as_the_relief() {
        let dir = tempfile::tempdir().unwrap();
        // A small area inside one tile: with the margin, 3 × 3 tiles.
        let n = write_tiles(dir.path(), (37.4, -122.6, 37.6, -122.4)).unwrap();
        assert_eq!(n, 9);
        let t = meshview_radio::terrain::Terrain::open(dir.path()).unwrap();
        assert_eq!(t.tile_count(), 9);
        for (lat, lon) in [
            (37.5, -122.5),
            (37.0, -122.0),
            (38.7, -121.2),
            (36.2, -123.9),
        ] {
            let e = t.elevation(lat, lon).unwrap();
            assert!((e - elevation_m(lat, lon)).abs() <= 2.0, "{lat} {lon}: {e}");
        }
        let hs: Vec<f64> = (0..100)
            .map(|i| elevation_m(37.0 + f64::from(i) / 100.0, -122.5))
            .collect();
        let (lo, hi) = hs
            .iter()
            .fold((f64::MAX, f64::MIN), |a, &h| (a.0.min(h), a.1.max(h)));
        assert!(lo >= 0.0 && hi > 300.0, "{lo}..{hi}");
    }
}
