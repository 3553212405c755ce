//! Terrain tiles, terrain-mode coverage and link profiles over a synthetic SRTM tile:
//! `N37W122` with a gentle west-to-east ramp and a cone-shaped hill in the middle.

use std::path::Path;

use meshview_radio::coverage::{self, CoverageParams, LinkEnd, Model};
use meshview_radio::geo;
use meshview_radio::terrain::{Terrain, TerrainError};

const SIDE: usize = 1201;
/// The hill: centre sample, radius in samples, height in metres.
const HILL: (usize, usize, f64, f64) = (600, 600, 60.0, 400.0);

fn synthetic(row: usize, col: usize) -> i16 {
    let ramp = 100.0 + col as f64 / 10.0;
    let dr = row as f64 - HILL.0 as f64;
    let dc = col as f64 - HILL.1 as f64;
    let cone = HILL.3 * (1.0 - (dr * dr + dc * dc).sqrt() / HILL.2).max(0.0);
    (ramp + cone).round() as i16
}

fn write_tile(dir: &Path, name: &str, side: usize, f: impl Fn(usize, usize) -> i16) {
    let mut bytes = Vec::with_capacity(side * side * 2);
    for r in 0..side {
        for c in 0..side {
            bytes.extend_from_slice(&f(r, c).to_be_bytes());
        }
    }
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn folder() -> (tempfile::TempDir, Terrain) {
    let dir = tempfile::tempdir().unwrap();
    // Lower-case name on purpose: operators' downloads come both ways.
    write_tile(dir.path(), "n37w122.hgt", SIDE, synthetic);
    std::fs::write(dir.path().join("README.txt"), "not a tile").unwrap();
    let terrain = Terrain::open(dir.path()).unwrap();
    (dir, terrain)
}

/// Coordinates of sample (row, col) of N37W122.
fn at(row: f64, col: f64) -> (f64, f64) {
    (38.0 - row / 1200.0, -122.0 + col / 1200.0)
}

#[test]
fn samples_and_bilinear_interpolation() {
    let (_dir, t) = folder();
    assert_eq!(t.tile_count(), 1);
    for &(r, c) in &[
        (0, 0),
        (10, 20),
        (600, 600),
        (650, 610),
        (1200, 1200),
        (1200, 3),
    ] {
        let (lat, lon) = at(r as f64, c as f64);
        let e = t.elevation(lat, lon).unwrap();
        assert!((e - synthetic(r, c) as f64).abs() < 1e-6, "{r},{c}: {e}");
    }
    // Between two samples of the ramp (away from the hill): the mean of both.
    let (lat, lon) = at(100.0, 100.5);
    let want = (synthetic(100, 100) as f64 + synthetic(100, 101) as f64) / 2.0;
    assert!((t.elevation(lat, lon).unwrap() - want).abs() < 1e-6);
    // In the middle of four samples: the mean of the four.
    let (lat, lon) = at(300.5, 900.5);
    let want = [(300, 900), (300, 901), (301, 900), (301, 901)]
        .iter()
        .map(|&(r, c)| synthetic(r, c) as f64)
        .sum::<f64>()
        / 4.0;
    assert!((t.elevation(lat, lon).unwrap() - want).abs() < 1e-6);
    assert_eq!(t.cached_tiles(), 1);
}

#[test]
fn tile_edges_and_missing_tiles() {
    let (_dir, t) = folder();
    // North and east edges belong to absent neighbours but are this tile's last samples.
    assert_eq!(t.elevation(38.0, -121.5), Some(synthetic(0, 600) as f64));
    assert_eq!(t.elevation(37.5, -121.0), Some(synthetic(600, 1200) as f64));
    assert_eq!(t.elevation(37.0, -122.0), Some(synthetic(1200, 0) as f64));
    assert_eq!(t.elevation(36.99, -121.5), None);
    assert!(!t.covers(36.5, -121.5) && t.covers(37.5, -121.5));
    match t.sample(36.5, -121.5) {
        Err(TerrainError::MissingTile(name)) => assert_eq!(name, "N36W122"),
        other => panic!("{other:?}"),
    }
    assert!(t.elevation(f64::NAN, 0.0).is_none());
    let err = t.profile((37.5, -121.5), (36.8, -121.5), 90.0).unwrap_err();
    assert_eq!(err.to_string(), "terrain tile N36W122.hgt is missing");
}

#[test]
fn profile_follows_the_great_circle() {
    let (_dir, t) = folder();
    // West to east along row 200, away from the hill: the ramp.
    let (from, to) = (at(200.0, 100.0), at(200.0, 1100.0));
    let p = t.profile(from, to, 90.0).unwrap();
    let dist = geo::haversine_km(from.0, from.1, to.0, to.1) * 1000.0;
    assert!((p.length_m() - dist).abs() < 1e-6);
    assert!(p.spacing_m <= 90.0 && p.spacing_m > 85.0);
    assert_eq!(p.voids, 0);
    assert!((p.elevations[0] - synthetic(200, 100) as f64).abs() < 0.5);
    assert!((p.elevations.last().unwrap() - synthetic(200, 1100) as f64).abs() < 0.5);
    assert!(p.elevations.windows(2).all(|w| w[1] >= w[0] - 0.6));
    // Across the hill's top: the highest sample is the summit.
    let p = t.profile(at(600.0, 400.0), at(600.0, 800.0), 30.0).unwrap();
    let top = p.elevations.iter().cloned().fold(f64::MIN, f64::max);
    assert!((top - synthetic(600, 600) as f64).abs() < 15.0, "{top}");
}

#[test]
fn voids_are_filled_from_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    write_tile(dir.path(), "N10E020.hgt", SIDE, |r, c| {
        let hole = (500..503).contains(&r) && (500..503).contains(&c);
        if hole || (r < 100 && c < 100) {
            -32768
        } else {
            250
        }
    });
    let t = Terrain::open(dir.path()).unwrap();
    let lat = 11.0 - 501.0 / 1200.0;
    let lon = 20.0 + 501.5 / 1200.0;
    // Inside a 3x3 void only void corners are near; the outer ring is too far for bilinear.
    let (e, void) = t.sample(lat, lon).unwrap();
    assert_eq!((e, void), (0.0, true));
    let (e, void) = t
        .sample(11.0 - 500.0 / 1200.0, 20.0 + 499.5 / 1200.0)
        .unwrap();
    assert_eq!((e, void), (250.0, false));
    let p = t.profile((10.95, 20.01), (10.95, 20.2), 90.0).unwrap();
    assert!(p.voids > 0);
}

#[test]
fn one_arc_second_tiles_are_decimated_and_odd_sizes_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_tile(dir.path(), "S01E005.hgt", 3601, |r, c| {
        ((r + 2 * c) % 3000) as i16
    });
    std::fs::write(dir.path().join("N01E005.hgt"), vec![0u8; 1000]).unwrap();
    let t = Terrain::open(dir.path()).unwrap();
    for &(r, c) in &[(0usize, 0usize), (3, 3), (600, 300), (1200, 1200)] {
        let lat = 0.0 - r as f64 / 1200.0;
        let lon = 5.0 + c as f64 / 1200.0;
        let e = t.elevation(lat, lon).unwrap();
        assert!(
            (e - ((3 * r + 6 * c) % 3000) as f64).abs() < 1e-6,
            "{r},{c}: {e}"
        );
    }
    match t.sample(1.5, 5.5) {
        Err(e @ TerrainError::BadSize { .. }) => assert!(e.to_string().contains("1000 bytes")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_cache_stays_within_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["N00E000.hgt", "N00E001.hgt", "N01E000.hgt"] {
        write_tile(dir.path(), name, SIDE, |_, _| 7);
    }
    let t = Terrain::with_cache_bytes(dir.path(), 1).unwrap();
    for (lat, lon) in [(0.5, 0.5), (0.5, 1.5), (1.5, 0.5), (0.5, 0.5)] {
        assert_eq!(t.elevation(lat, lon), Some(7.0));
        assert_eq!(t.cached_tiles(), 1);
    }
    let t = Terrain::with_cache_bytes(dir.path(), 2 * SIDE * SIDE * 2).unwrap();
    for (lat, lon) in [(0.5, 0.5), (0.5, 1.5), (1.5, 0.5)] {
        t.elevation(lat, lon).unwrap();
    }
    assert_eq!(t.cached_tiles(), 2);
}

#[test]
fn terrain_coverage_sees_the_hill() {
    let (_dir, t) = folder();
    // West of the hill by 2.5 km; east lies behind the hill, west is open ramp.
    let (lat, lon) = at(600.0, 560.0);
    let p = CoverageParams {
        radius_km: 8.0,
        step_km: 0.5,
        ..CoverageParams::default()
    };
    let map = coverage::heatmap(lat, lon, &p, Some(&t)).unwrap();
    assert_eq!(map.model, Model::Terrain);
    let per_distance = coverage::BEARINGS;
    let dists = p.distances();
    assert_eq!(map.points.len(), dists.len() * per_distance);
    // 5 km away: bearing 90° (index 18) behind the hill, 270° (index 54) in the open.
    let k = dists.iter().position(|&d| d == 5.0).unwrap();
    let east = map.points[k * per_distance + 18][2];
    let west = map.points[k * per_distance + 54][2];
    assert!(east < west - 10.0, "east {east} west {west}");
    let area = coverage::heatmap(lat, lon, &p, None).unwrap();
    assert_eq!(area.model, Model::Area);
    let per = coverage::perimeter(lat, lon, &p, Some(&t)).unwrap();
    assert_eq!(per.model, Model::Terrain);
}

#[test]
fn terrain_coverage_falls_back_to_area_mode_without_a_tile() {
    let (_dir, t) = folder();
    let (lat, lon) = (37.05, -121.5);
    let p = CoverageParams {
        radius_km: 10.0,
        step_km: 1.0,
        ..CoverageParams::default()
    };
    let with = coverage::perimeter(lat, lon, &p, Some(&t)).unwrap();
    assert_eq!(
        with.model,
        Model::AreaFallback {
            missing_tile: "N36W122".into()
        }
    );
    let without = coverage::perimeter(lat, lon, &p, None).unwrap();
    assert_eq!(with.points, without.points);
}

#[test]
fn link_profile_over_and_beside_the_hill() {
    let (_dir, t) = folder();
    let end = |r: f64, c: f64, h: f64| {
        let (lat, lon) = at(r, c);
        LinkEnd {
            lat,
            lon,
            height_m: h,
        }
    };
    let blocked = coverage::link_profile(
        end(600.0, 480.0, 5.0),
        end(600.0, 720.0, 5.0),
        907.0,
        &t,
        50.0,
    )
    .unwrap();
    assert!(blocked.obstructed && !blocked.fresnel_clear);
    assert!(blocked.worst_clearance_ratio < 0.0);
    let mid = blocked.distance_m / 2.0;
    assert!(
        (blocked.worst_at_m - mid).abs() < 300.0,
        "{}",
        blocked.worst_at_m
    );
    let blocked_loss = blocked.itm_loss_db.clone().unwrap();
    assert!(blocked_loss > blocked.free_space_loss_db + 20.0);

    let open = coverage::link_profile(
        end(100.0, 480.0, 30.0),
        end(100.0, 720.0, 30.0),
        907.0,
        &t,
        50.0,
    )
    .unwrap();
    assert!(
        !open.obstructed && open.fresnel_clear,
        "{}",
        open.worst_clearance_ratio
    );
    let open_loss = open.itm_loss_db.clone().unwrap();
    assert!(
        (open_loss - open.free_space_loss_db).abs() < 8.0,
        "{open_loss}"
    );
    // Samples: ends at the antennas, Fresnel radius zero at both ends.
    let first = open.samples.first().unwrap();
    let last = open.samples.last().unwrap();
    assert_eq!(first.fresnel_m, 0.0);
    assert!(last.fresnel_m.abs() < 1e-6);
    assert!((first.los_m - first.ground_m - 30.0).abs() < 1e-9);
    // At 907 MHz over ~17.6 km the first zone's radius is ~38 m in the middle.
    assert!(
        (open.distance_m - 17_630.0).abs() < 100.0,
        "{}",
        open.distance_m
    );
    let widest = open.samples.iter().map(|s| s.fresnel_m).fold(0.0, f64::max);
    let want = 0.5 * (299.792_458 / 907.0 * open.distance_m).sqrt();
    assert!((widest - want).abs() < 0.01, "{widest} vs {want}");
    // Bad input names its parameter.
    let err = coverage::link_profile(
        end(100.0, 480.0, 0.1),
        end(100.0, 720.0, 30.0),
        907.0,
        &t,
        50.0,
    )
    .unwrap_err();
    assert!(err.to_string().contains("a.height_m"), "{err}");
}
