//! Predicted coverage of a node, as Python MeshView's `/api/coverage/{node_id}` computes it
//! (`meshview/radio/coverage.py`), plus a terrain-aware variant and link profiles.
//!
//! MeshView walks distances `max(step, 1)`, `+ step`, ... while `<= radius` (adding `step`
//! to a running float, as we do, so the last distance matches), for bearings 0°, 5°, ...
//! 355°, and runs ITM area mode ([`crate::itm::meshview_area_loss`]) for each; points where
//! ITM refuses the inputs are skipped. Both the perimeter and the heatmap start at
//! `max(step, 1)` km; the heatmap lists points distance by distance, bearing by bearing.

use thiserror::Error;

use crate::geo;
use crate::itm::{self, ItmError, P2pInput};
use crate::terrain::{Profile, Terrain, TerrainError};

/// Bearings are 0, 5, ... 355 degrees.
pub const BEARING_STEP_DEG: u32 = 5;
/// Number of bearings.
pub const BEARINGS: usize = (360 / BEARING_STEP_DEG) as usize;
/// MeshView widens the heatmap's colour scale to at least this range.
pub const HEATMAP_MIN_DBM: f64 = -130.0;
pub const HEATMAP_MAX_DBM: f64 = -80.0;

/// Largest radius: LoRa links rarely exceed 200 km, and the work grows with it.
pub const MAX_RADIUS_KM: f64 = 200.0;
/// Smallest distance step: SRTM's 3″ samples are ~90 m apart, so a finer walk adds no
/// terrain detail, only work. 75 m also keeps every radius and step the ranges allow
/// under [`MAX_POINTS`] (200 km / 75 m × 72 bearings ≈ 192,000), so no combination of
/// in-range values is refused.
pub const MIN_STEP_KM: f64 = 0.075;
/// Most points one request may compute (bearings × distances): 200,000 keeps a request
/// below a few seconds of CPU and its answer below ~10 MB of JSON.
pub const MAX_POINTS: usize = 200_000;
/// ITM's own frequency range.
pub const FREQ_MHZ_RANGE: (f64, f64) = (20.0, 20_000.0);
/// ITM's own antenna height range (metres above ground).
pub const HEIGHT_M_RANGE: (f64, f64) = (0.5, 3000.0);
/// ITM's quantile range for reliability.
pub const RELIABILITY_RANGE: (f64, f64) = (0.01, 0.99);
/// Transmit power: from very weak to well beyond any legal LoRa power.
pub const TX_DBM_RANGE: (f64, f64) = (-50.0, 80.0);
/// Receiver threshold: anything a receiver could be specified at.
pub const THRESHOLD_DBM_RANGE: (f64, f64) = (-200.0, 50.0);
/// Spacing of the terrain samples along each bearing in terrain mode (SRTM 3″ ≈ 90 m).
pub const TERRAIN_SAMPLE_M: f64 = 90.0;

/// A request's parameters, with MeshView's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoverageParams {
    pub freq_mhz: f64,
    pub tx_dbm: f64,
    pub tx_height_m: f64,
    pub rx_height_m: f64,
    pub radius_km: f64,
    pub step_km: f64,
    pub reliability: f64,
    pub threshold_dbm: f64,
}

impl Default for CoverageParams {
    fn default() -> Self {
        CoverageParams {
            freq_mhz: 907.0,
            tx_dbm: 20.0,
            tx_height_m: 5.0,
            rx_height_m: 1.5,
            radius_km: 40.0,
            step_km: 0.25,
            reliability: 0.5,
            threshold_dbm: -120.0,
        }
    }
}

/// Why a computation was refused or failed.
#[derive(Debug, Error)]
pub enum CoverageError {
    /// A parameter outside its range (the web layer answers 400 with it).
    #[error("invalid parameter {param}={value}: {reason}")]
    InvalidParam {
        param: &'static str,
        value: f64,
        reason: String,
    },
    #[error(transparent)]
    Terrain(#[from] TerrainError),
}

fn check_range(param: &'static str, value: f64, (lo, hi): (f64, f64)) -> Result<(), CoverageError> {
    if value.is_finite() && value >= lo && value <= hi {
        Ok(())
    } else {
        Err(CoverageError::InvalidParam {
            param,
            value,
            reason: format!("must be a number from {lo} to {hi}"),
        })
    }
}

impl CoverageParams {
    /// Checks every parameter and the number of points; the error names the parameter.
    pub fn validate(&self) -> Result<(), CoverageError> {
        check_range("freq_mhz", self.freq_mhz, FREQ_MHZ_RANGE)?;
        check_range("tx_dbm", self.tx_dbm, TX_DBM_RANGE)?;
        check_range("tx_height_m", self.tx_height_m, HEIGHT_M_RANGE)?;
        check_range("rx_height_m", self.rx_height_m, HEIGHT_M_RANGE)?;
        check_range("radius_km", self.radius_km, (0.0, MAX_RADIUS_KM))?;
        check_range("step_km", self.step_km, (MIN_STEP_KM, MAX_RADIUS_KM))?;
        check_range("reliability", self.reliability, RELIABILITY_RANGE)?;
        check_range("threshold_dbm", self.threshold_dbm, THRESHOLD_DBM_RANGE)?;
        let points = self.distances().len() * BEARINGS;
        if points > MAX_POINTS {
            return Err(CoverageError::InvalidParam {
                param: "step_km",
                value: self.step_km,
                reason: format!(
                    "{points} points for radius_km={}; at most {MAX_POINTS}",
                    self.radius_km
                ),
            });
        }
        Ok(())
    }

    /// The distances MeshView walks, in km: `max(step, 1)`, then `+ step` while `<= radius`.
    pub fn distances(&self) -> Vec<f64> {
        let mut out = Vec::new();
        if self.step_km.is_nan() || self.step_km <= 0.0 || !self.radius_km.is_finite() {
            return out;
        }
        let mut d = self.step_km.max(1.0);
        while d <= self.radius_km {
            out.push(d);
            d += self.step_km;
        }
        out
    }
}

/// Which model produced a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Model {
    /// ITM area mode, like MeshView (no terrain given).
    Area,
    /// ITM point-to-point over SRTM profiles.
    Terrain,
    /// Terrain was asked for but this tile is missing: area mode was used instead.
    AreaFallback { missing_tile: String },
}

/// The perimeter: per bearing, the farthest point still at or above the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Perimeter {
    /// `[lat, lon]` pairs in bearing order (bearings without such a point are left out).
    pub points: Vec<[f64; 2]>,
    pub model: Model,
}

/// The heatmap: `[lat, lon, dbm]` for every (distance, bearing).
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    pub points: Vec<[f64; 3]>,
    pub min_dbm: f64,
    pub max_dbm: f64,
    pub model: Model,
}

/// Received power per distance (rows) and bearing (columns), `None` where ITM declined.
struct Grid {
    distances: Vec<f64>,
    /// `rx[d][b]`; in area mode every row has one column shared by all bearings.
    rx: Vec<Vec<Option<f64>>>,
    model: Model,
}

impl Grid {
    fn at(&self, d: usize, b: usize) -> Option<f64> {
        let row = &self.rx[d];
        if row.len() == 1 { row[0] } else { row[b] }
    }
}

fn bearing(b: usize) -> f64 {
    (b as u32 * BEARING_STEP_DEG) as f64
}

/// Area mode is bearing-independent: one ITM call per distance.
fn area_grid(p: &CoverageParams, model: Model) -> Grid {
    let distances = p.distances();
    let rx = distances
        .iter()
        .map(|&d| {
            let loss =
                itm::meshview_area_loss(p.freq_mhz, p.tx_height_m, p.rx_height_m, d, p.reliability);
            vec![loss.ok().map(|l| p.tx_dbm - l)]
        })
        .collect();
    Grid {
        distances,
        rx,
        model,
    }
}

/// Terrain mode: one profile per bearing out to the radius; each distance uses its prefix.
fn terrain_grid(lat: f64, lon: f64, p: &CoverageParams, terrain: &Terrain) -> Grid {
    let distances = p.distances();
    if distances.is_empty() {
        return Grid {
            distances,
            rx: Vec::new(),
            model: Model::Terrain,
        };
    }
    // Samples per step so that every walked distance falls on a sample.
    let per_step = (p.step_km * 1000.0 / TERRAIN_SAMPLE_M).ceil().max(1.0);
    let spacing_m = p.step_km * 1000.0 / per_step;
    let last = *distances.last().unwrap_or(&0.0);
    let intervals = (last * 1000.0 / spacing_m).round() as usize;
    let mut profiles: Vec<Profile> = Vec::with_capacity(BEARINGS);
    for b in 0..BEARINGS {
        match terrain.radial((lat, lon), bearing(b), spacing_m, intervals) {
            Ok(profile) => profiles.push(profile),
            Err(TerrainError::MissingTile(name)) => {
                return area_grid(p, Model::AreaFallback { missing_tile: name });
            }
            Err(e) => {
                return area_grid(
                    p,
                    Model::AreaFallback {
                        missing_tile: e.to_string(),
                    },
                );
            }
        }
    }
    let rx = distances
        .iter()
        .map(|&d| {
            let n = ((d * 1000.0 / spacing_m).round() as usize).clamp(2, intervals);
            profiles
                .iter()
                .map(|profile| {
                    let mut input = P2pInput::new(
                        &profile.elevations[..=n],
                        spacing_m,
                        p.tx_height_m,
                        p.rx_height_m,
                        p.freq_mhz,
                    );
                    input.rel = p.reliability;
                    itm::point_to_point(&input)
                        .ok()
                        .map(|o| p.tx_dbm - o.loss_db)
                })
                .collect()
        })
        .collect();
    Grid {
        distances,
        rx,
        model: Model::Terrain,
    }
}

fn grid(
    lat: f64,
    lon: f64,
    p: &CoverageParams,
    terrain: Option<&Terrain>,
) -> Result<Grid, CoverageError> {
    p.validate()?;
    check_range("lat", lat, (-90.0, 90.0))?;
    check_range("lon", lon, (-180.0, 180.0))?;
    Ok(match terrain {
        None => area_grid(p, Model::Area),
        Some(t) => terrain_grid(lat, lon, p, t),
    })
}

/// MeshView's perimeter mode; with `terrain`, point-to-point over SRTM profiles instead
/// of area mode (falling back to area mode when a tile is missing).
pub fn perimeter(
    lat: f64,
    lon: f64,
    params: &CoverageParams,
    terrain: Option<&Terrain>,
) -> Result<Perimeter, CoverageError> {
    let g = grid(lat, lon, params, terrain)?;
    let mut points = Vec::with_capacity(BEARINGS);
    for b in 0..BEARINGS {
        let farthest = (0..g.distances.len())
            .rev()
            .find(|&d| g.at(d, b).is_some_and(|rx| rx >= params.threshold_dbm));
        if let Some(d) = farthest {
            let (plat, plon) = geo::destination_point(lat, lon, bearing(b), g.distances[d]);
            points.push([plat, plon]);
        }
    }
    Ok(Perimeter {
        points,
        model: g.model,
    })
}

/// MeshView's heatmap mode (see [`perimeter`] for `terrain`).
pub fn heatmap(
    lat: f64,
    lon: f64,
    params: &CoverageParams,
    terrain: Option<&Terrain>,
) -> Result<Heatmap, CoverageError> {
    let g = grid(lat, lon, params, terrain)?;
    let mut points = Vec::with_capacity(g.distances.len() * BEARINGS);
    let (mut min_dbm, mut max_dbm) = (HEATMAP_MIN_DBM, HEATMAP_MAX_DBM);
    for (d, &dist) in g.distances.iter().enumerate() {
        for b in 0..BEARINGS {
            if let Some(rx) = g.at(d, b) {
                let (plat, plon) = geo::destination_point(lat, lon, bearing(b), dist);
                points.push([plat, plon, rx]);
                min_dbm = min_dbm.min(rx);
                max_dbm = max_dbm.max(rx);
            }
        }
    }
    Ok(Heatmap {
        points,
        min_dbm,
        max_dbm,
        model: g.model,
    })
}

/// One end of a link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkEnd {
    pub lat: f64,
    pub lon: f64,
    /// Antenna height above ground, metres.
    pub height_m: f64,
}

/// One sample of a link profile; heights in metres above sea level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSample {
    /// Distance from the first end, metres.
    pub distance_m: f64,
    /// Ground elevation.
    pub ground_m: f64,
    /// Ground raised by the earth's bulge (k = 4/3) relative to the straight ray.
    pub terrain_m: f64,
    /// Height of the straight line between the antennas.
    pub los_m: f64,
    /// Radius of the first Fresnel zone.
    pub fresnel_m: f64,
    /// `los_m - terrain_m` (negative: the ray is blocked).
    pub clearance_m: f64,
}

/// A line-of-sight analysis between two nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkProfile {
    pub distance_m: f64,
    pub samples: Vec<LinkSample>,
    /// The straight ray touches or passes below the terrain somewhere between the ends.
    pub obstructed: bool,
    /// Smallest clearance divided by the Fresnel radius between the ends (1.0 = first zone
    /// clear, < 0 blocked); the usual rule wants at least [`FRESNEL_CLEAR_FRACTION`].
    pub worst_clearance_ratio: f64,
    /// Distance of that worst sample from the first end.
    pub worst_at_m: f64,
    /// Whether at least 60% of the first Fresnel zone is clear everywhere.
    pub fresnel_clear: bool,
    pub free_space_loss_db: f64,
    /// ITM point-to-point loss over this profile (`Err` text when ITM declined).
    pub itm_loss_db: Result<f64, String>,
    /// Samples whose terrain was void (counted as 0 m).
    pub voids: usize,
}

/// The fraction of the first Fresnel zone a good link keeps clear.
pub const FRESNEL_CLEAR_FRACTION: f64 = 0.6;
/// Effective earth radius factor for the bulge.
pub const K_FACTOR: f64 = 4.0 / 3.0;

/// Line-of-sight profile between `a` and `b` sampled every `step_m` (at most) with the first
/// Fresnel zone at `freq_mhz`, and the ITM point-to-point loss over it.
pub fn link_profile(
    a: LinkEnd,
    b: LinkEnd,
    freq_mhz: f64,
    terrain: &Terrain,
    step_m: f64,
) -> Result<LinkProfile, CoverageError> {
    check_range("freq_mhz", freq_mhz, FREQ_MHZ_RANGE)?;
    check_range("a.height_m", a.height_m, HEIGHT_M_RANGE)?;
    check_range("b.height_m", b.height_m, HEIGHT_M_RANGE)?;
    check_range("a.lat", a.lat, (-90.0, 90.0))?;
    check_range("b.lat", b.lat, (-90.0, 90.0))?;
    check_range("a.lon", a.lon, (-180.0, 180.0))?;
    check_range("b.lon", b.lon, (-180.0, 180.0))?;
    check_range("step_m", step_m, (10.0, 10_000.0))?;
    let distance_m = geo::haversine_km(a.lat, a.lon, b.lat, b.lon) * 1000.0;
    check_range("distance_m", distance_m, (1.0, MAX_RADIUS_KM * 1000.0))?;
    // At least 3 samples so ITM has a profile.
    let step = step_m.min(distance_m / 2.0);
    let profile = terrain.profile((a.lat, a.lon), (b.lat, b.lon), step)?;
    let n = profile.elevations.len() - 1;
    let wavelength_m = 299.792_458 / freq_mhz;
    let reff = K_FACTOR * geo::EARTH_RADIUS_KM * 1000.0;
    let top_a = profile.elevations[0] + a.height_m;
    let top_b = profile.elevations[n] + b.height_m;
    let mut samples = Vec::with_capacity(n + 1);
    let (mut worst, mut worst_at, mut obstructed) = (f64::INFINITY, 0.0, false);
    for (i, &ground) in profile.elevations.iter().enumerate() {
        let d1 = i as f64 * profile.spacing_m;
        let d2 = (distance_m - d1).max(0.0);
        let bulge = d1 * d2 / (2.0 * reff);
        let terrain_m = ground + bulge;
        let los_m = top_a + (top_b - top_a) * d1 / distance_m;
        let fresnel_m = (wavelength_m * d1 * d2 / distance_m).sqrt();
        let clearance_m = los_m - terrain_m;
        if i > 0 && i < n {
            obstructed |= clearance_m <= 0.0;
            let ratio = clearance_m / fresnel_m;
            if ratio < worst {
                worst = ratio;
                worst_at = d1;
            }
        }
        samples.push(LinkSample {
            distance_m: d1,
            ground_m: ground,
            terrain_m,
            los_m,
            fresnel_m,
            clearance_m,
        });
    }
    let input = P2pInput::new(
        &profile.elevations,
        profile.spacing_m,
        a.height_m,
        b.height_m,
        freq_mhz,
    );
    let itm_loss_db = itm::point_to_point(&input)
        .map(|o| o.loss_db)
        .map_err(|e: ItmError| e.to_string());
    Ok(LinkProfile {
        distance_m,
        samples,
        obstructed,
        worst_clearance_ratio: worst,
        worst_at_m: worst_at,
        fresnel_clear: worst >= FRESNEL_CLEAR_FRACTION,
        free_space_loss_db: 32.45 + 20.0 * freq_mhz.log10() + 20.0 * (distance_m / 1000.0).log10(),
        itm_loss_db,
        voids: profile.voids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meshview_distance_walk() {
        let p = CoverageParams::default();
        let d = p.distances();
        assert_eq!(d.first(), Some(&1.0));
        assert_eq!(d.last(), Some(&40.0));
        assert_eq!(d.len(), 157);
        let p = CoverageParams {
            step_km: 2.5,
            radius_km: 10.0,
            ..p
        };
        assert_eq!(p.distances(), vec![2.5, 5.0, 7.5, 10.0]);
        let p = CoverageParams {
            step_km: 0.3,
            radius_km: 0.9,
            ..p
        };
        assert!(p.distances().is_empty());
    }

    #[test]
    fn validation_names_the_parameter() {
        let bad = |p: CoverageParams| match p.validate() {
            Err(CoverageError::InvalidParam { param, .. }) => param,
            other => panic!("{other:?}"),
        };
        let d = CoverageParams::default();
        assert!(d.validate().is_ok());
        assert_eq!(
            bad(CoverageParams {
                freq_mhz: 10.0,
                ..d
            }),
            "freq_mhz"
        );
        assert_eq!(
            bad(CoverageParams {
                radius_km: f64::NAN,
                ..d
            }),
            "radius_km"
        );
        assert_eq!(
            bad(CoverageParams {
                radius_km: 500.0,
                ..d
            }),
            "radius_km"
        );
        assert_eq!(bad(CoverageParams { step_km: 0.0, ..d }), "step_km");
        assert_eq!(
            bad(CoverageParams {
                rx_height_m: 0.1,
                ..d
            }),
            "rx_height_m"
        );
        assert_eq!(
            bad(CoverageParams {
                reliability: 1.0,
                ..d
            }),
            "reliability"
        );
        assert_eq!(
            bad(CoverageParams {
                tx_dbm: f64::INFINITY,
                ..d
            }),
            "tx_dbm"
        );
        // Below the smallest step.
        assert_eq!(
            bad(CoverageParams {
                radius_km: 200.0,
                step_km: 0.05,
                ..d
            }),
            "step_km"
        );
        // The extremes the ranges allow stay within the point budget.
        let widest = CoverageParams {
            radius_km: MAX_RADIUS_KM,
            step_km: MIN_STEP_KM,
            ..d
        };
        assert!(widest.validate().is_ok());
        assert!(widest.distances().len() * BEARINGS <= MAX_POINTS);
    }

    #[test]
    fn area_perimeter_is_a_circle_at_the_last_distance_above_threshold() {
        let p = CoverageParams::default();
        let out = perimeter(37.0, -122.0, &p, None).unwrap();
        assert_eq!(out.model, Model::Area);
        assert_eq!(out.points.len(), BEARINGS);
        let want = p
            .distances()
            .into_iter()
            .rev()
            .find(|&d| {
                let l = itm::meshview_area_loss(907.0, 5.0, 1.5, d, 0.5).unwrap();
                p.tx_dbm - l >= p.threshold_dbm
            })
            .unwrap();
        for pt in &out.points {
            let r = geo::haversine_km(37.0, -122.0, pt[0], pt[1]);
            assert!((r - want).abs() < 1e-6, "{r} vs {want}");
        }
        // Due north first, as MeshView lists bearings from 0°.
        assert!(out.points[0][0] > 37.0 && (out.points[0][1] + 122.0).abs() < 1e-9);
    }

    #[test]
    fn heatmap_order_and_widened_range() {
        let p = CoverageParams {
            radius_km: 3.0,
            step_km: 1.0,
            ..CoverageParams::default()
        };
        let out = heatmap(0.0, 0.0, &p, None).unwrap();
        assert_eq!(out.points.len(), 3 * BEARINGS);
        // Distance-major: the first 72 points are all at 1 km.
        let r = geo::haversine_km(0.0, 0.0, out.points[71][0], out.points[71][1]);
        assert!((r - 1.0).abs() < 1e-9);
        let lo = out
            .points
            .iter()
            .map(|p| p[2])
            .fold(f64::INFINITY, f64::min);
        let hi = out
            .points
            .iter()
            .map(|p| p[2])
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(out.min_dbm, lo.min(-130.0));
        assert_eq!(out.max_dbm, hi.max(-80.0));
        // A strong transmitter widens the top of the scale past -80 dBm.
        let loud = heatmap(0.0, 0.0, &CoverageParams { tx_dbm: 60.0, ..p }, None).unwrap();
        assert!(loud.max_dbm > -80.0 && loud.min_dbm == -130.0);
        // No points at all (radius below the first 1 km step) keeps the default scale.
        let none = heatmap(
            0.0,
            0.0,
            &CoverageParams {
                radius_km: 0.5,
                ..p
            },
            None,
        )
        .unwrap();
        assert!(none.points.is_empty());
        assert_eq!((none.min_dbm, none.max_dbm), (-130.0, -80.0));
    }
}
