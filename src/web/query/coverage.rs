//! Predicted coverage of a node (`/api/coverage/{node_id}`, the node page's layer): the
//! radio crate's ITM over the node's last position, with MeshView's parameters, defaults
//! and answer shapes; over terrain when the operator has elevation tiles.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use meshview_radio::coverage::{
    self, CoverageError, CoverageParams, FREQ_MHZ_RANGE, HEIGHT_M_RANGE, MAX_RADIUS_KM,
    MIN_STEP_KM, Model, Perimeter, RELIABILITY_RANGE, THRESHOLD_DBM_RANGE, TX_DBM_RANGE,
};
use meshview_radio::terrain::Terrain;
use serde::Serialize;
use utoipa::ToSchema;

use crate::web::error::{ApiError, ApiResult};
use crate::web::params::Params;
use meshview_store::read::Reader;

/// What to draw: MeshView's two modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Perimeter,
    Heatmap,
}

/// Which propagation model to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Terrain when the operator has tiles, else area mode.
    Best,
    /// ITM area mode, as MeshView (no terrain).
    Area,
}

/// A checked coverage question.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoverageQuestion {
    pub node: i64,
    pub params: CoverageParams,
    pub mode: Mode,
    pub model: Wanted,
}

impl CoverageQuestion {
    /// MeshView's parameters and defaults, each bounded (MeshView bounds none: a request
    /// could ask for millions of points, or loop forever with `step_km=0`).
    pub fn parse(node: i64, p: &Params) -> ApiResult<CoverageQuestion> {
        let d = CoverageParams::default();
        let f = |name: &str, (lo, hi): (f64, f64), default: f64| -> ApiResult<f64> {
            Ok(p.float_range(name, lo, hi)?.unwrap_or(default))
        };
        let params = CoverageParams {
            freq_mhz: f("freq_mhz", FREQ_MHZ_RANGE, d.freq_mhz)?,
            tx_dbm: f("tx_dbm", TX_DBM_RANGE, d.tx_dbm)?,
            tx_height_m: f("tx_height_m", HEIGHT_M_RANGE, d.tx_height_m)?,
            rx_height_m: f("rx_height_m", HEIGHT_M_RANGE, d.rx_height_m)?,
            radius_km: f("radius_km", (0.0, MAX_RADIUS_KM), d.radius_km)?,
            step_km: f("step_km", (MIN_STEP_KM, MAX_RADIUS_KM), d.step_km)?,
            reliability: f("reliability", RELIABILITY_RANGE, d.reliability)?,
            threshold_dbm: f("threshold_dbm", THRESHOLD_DBM_RANGE, d.threshold_dbm)?,
        };
        // The point count depends on two parameters together.
        params.validate().map_err(invalid)?;
        let mode = match p.get("mode") {
            // MeshView: `perimeter`, anything else draws the heatmap.
            Some("perimeter") => Mode::Perimeter,
            _ => Mode::Heatmap,
        };
        let model = match p.get("model") {
            None | Some("best") => Wanted::Best,
            Some("area") => Wanted::Area,
            Some(other) => {
                return Err(ApiError::bad(
                    "model",
                    format!("expected \"best\" or \"area\", got {other:?}"),
                ));
            }
        };
        Ok(CoverageQuestion {
            node,
            params,
            mode,
            model,
        })
    }

    /// The cache key: everything the answer depends on but the node's position, which the
    /// caller adds.
    pub fn key(&self, lat: f64, lon: f64) -> String {
        format!(
            "coverage|{lat:.7}|{lon:.7}|{:?}|{:?}|{:?}",
            self.params, self.mode, self.model
        )
    }

    /// The node's last position, or 404 (no position, or (0, 0): a node without a fix).
    pub async fn position(&self, db: &Reader) -> ApiResult<(f64, f64)> {
        let node = db
            .node(self.node)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("node {} not found", self.node)))?;
        match (node.last_lat, node.last_long) {
            (Some(lat), Some(lon)) if (lat, lon) != (0, 0) => {
                Ok((lat as f64 / 1e7, lon as f64 / 1e7))
            }
            _ => Err(ApiError::NotFound(format!(
                "node {} has no known location",
                self.node
            ))),
        }
    }

    /// Computes the answer (CPU only: callers run it off the async threads).
    pub fn compute(
        &self,
        lat: f64,
        lon: f64,
        terrain: Option<Arc<Terrain>>,
    ) -> ApiResult<CoverageAnswer> {
        let terrain = match self.model {
            Wanted::Best => terrain,
            Wanted::Area => None,
        };
        let t = terrain.as_deref();
        Ok(match self.mode {
            Mode::Perimeter => {
                let r = coverage::perimeter(lat, lon, &self.params, t).map_err(invalid)?;
                let (model, missing_tile) = describe(r.model);
                CoverageAnswer::Perimeter(PerimeterBody {
                    mode: "perimeter",
                    threshold_dbm: self.params.threshold_dbm,
                    perimeter: r.points,
                    model,
                    missing_tile,
                })
            }
            Mode::Heatmap => {
                let r = coverage::heatmap(lat, lon, &self.params, t).map_err(invalid)?;
                let (model, missing_tile) = describe(r.model);
                CoverageAnswer::Heatmap(HeatmapBody {
                    mode: "heatmap",
                    min_dbm: r.min_dbm,
                    max_dbm: r.max_dbm,
                    points: r.points,
                    model,
                    missing_tile,
                })
            }
        })
    }
}

fn describe(m: Model) -> (&'static str, Option<String>) {
    match m {
        Model::Area => ("area", None),
        Model::Terrain => ("terrain", None),
        Model::AreaFallback { missing_tile } => ("area", Some(missing_tile)),
    }
}

fn invalid(e: CoverageError) -> ApiError {
    match e {
        CoverageError::InvalidParam { param, reason, .. } => ApiError::bad(param, reason),
        // Unreadable tiles are the server's problem, not the client's.
        CoverageError::Terrain(t) => ApiError::Internal(format!("elevation tiles: {t}")),
    }
}

/// `mode=perimeter`: per bearing (0°, 5°, … 355°) the farthest point still received at
/// `threshold_dbm` or better.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PerimeterBody {
    #[schema(pattern = "^perimeter$")]
    pub mode: &'static str,
    pub threshold_dbm: f64,
    /// `[lat, lon]` pairs.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub perimeter: Vec<[f64; 2]>,
    /// `terrain` (ITM point-to-point over the operator's elevation tiles) or `area` (ITM
    /// area mode, as MeshView).
    #[schema(pattern = "^(terrain|area)$")]
    pub model: &'static str,
    /// The elevation tile that was missing when terrain fell back to area mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_tile: Option<String>,
}

/// The heatmap: received power at every (distance, bearing).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeatmapBody {
    #[schema(pattern = "^heatmap$")]
    pub mode: &'static str,
    /// Lowest received power, widened to at least −130 dBm (MeshView's colour scale).
    pub min_dbm: f64,
    /// Highest, widened to at least −80 dBm.
    pub max_dbm: f64,
    /// `[lat, lon, dbm]` triples.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub points: Vec<[f64; 3]>,
    #[schema(pattern = "^(terrain|area)$")]
    pub model: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_tile: Option<String>,
}

/// `/api/coverage/{node_id}`'s answer, by mode.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CoverageAnswer {
    Perimeter(PerimeterBody),
    Heatmap(HeatmapBody),
}

/// Observed coverage: H3 resolutions offered (4: ~1,770 km² cells, 8: ~0.7 km²).
pub const RESOLUTIONS: (i64, i64) = (4, 8);
/// Default resolution of a node's observed coverage (~5 km² cells).
pub const NODE_RESOLUTION: i64 = 7;
/// Default resolution of the whole mesh's (~36 km² cells).
pub const MESH_RESOLUTION: i64 = 6;
const HOUR_US: i64 = 3_600_000_000;

fn resolution(p: &Params, default: i64) -> ApiResult<h3o::Resolution> {
    let r = p
        .int_range("resolution", RESOLUTIONS.0, RESOLUTIONS.1)?
        .unwrap_or(default);
    h3o::Resolution::try_from(r as u8).map_err(|e| ApiError::bad("resolution", e.to_string()))
}

fn hours(p: &Params) -> ApiResult<i64> {
    Ok(p.int_range("hours", 1, super::links::MAX_HOURS)?
        .unwrap_or(super::links::DEFAULT_HOURS))
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn cell_of(lat: f64, lon: f64, res: h3o::Resolution) -> Option<h3o::CellIndex> {
    h3o::LatLng::new(lat, lon).ok().map(|ll| ll.to_cell(res))
}

fn boundary(cell: h3o::CellIndex) -> Vec<[f64; 2]> {
    cell.boundary()
        .iter()
        .map(|ll| [round6(ll.lat()), round6(ll.lng())])
        .collect()
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[(v.len() - 1) / 2])
}

/// A node that heard the asked-for node directly.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Receiver {
    pub node_id: i64,
    /// `!hex`.
    pub id: String,
    pub lat: f64,
    pub lon: f64,
    /// From the asked-for node's position, when it has one.
    #[schema(required = true)]
    pub distance_km: Option<f64>,
    pub samples: i64,
    #[schema(required = true)]
    pub median_snr: Option<f64>,
    #[schema(required = true)]
    pub mean_rssi: Option<f64>,
    pub last_seen_us: i64,
}

/// One H3 cell of a node's observed coverage: where its receivers are.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceiverCell {
    /// H3 index.
    pub cell: String,
    /// The cell's centre.
    pub lat: f64,
    pub lon: f64,
    /// `[lat, lon]` corners.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub boundary: Vec<[f64; 2]>,
    pub receivers: i64,
    pub samples: i64,
    /// Median of the receivers' median SNRs (dB).
    #[schema(required = true)]
    pub median_snr: Option<f64>,
    #[schema(required = true)]
    pub best_snr: Option<f64>,
}

/// How the observation compares with the prediction ([`comparison_params`], the best
/// model the server has).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Comparison {
    #[schema(pattern = "^(terrain|area)$")]
    pub model: &'static str,
    /// Positioned receivers that heard the node directly.
    pub observed: i64,
    /// Share of them outside the predicted perimeter (`null` without receivers).
    #[schema(required = true)]
    pub observed_outside_predicted: Option<f64>,
    /// H3 cells (at the answer's resolution) whose centre lies inside the perimeter.
    pub predicted_cells: i64,
    /// Of those, cells holding a receiver that heard the node.
    pub predicted_cells_heard: i64,
    /// Share of predicted cells never heard from (`null` when nothing is predicted).
    /// Large wherever receivers are sparse: only places with a receiver can be heard.
    #[schema(required = true)]
    pub predicted_never_heard: Option<f64>,
}

/// `/api/coverage/{node_id}/observed`'s answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ObservedAnswer {
    pub node_id: i64,
    pub hours: i64,
    pub resolution: i64,
    /// The node's last position.
    #[schema(value_type = Option<Vec<f64>>, required = true)]
    pub position: Option<[f64; 2]>,
    pub heard_by: Vec<Receiver>,
    pub cells: Vec<ReceiverCell>,
    /// `null` when the node has no position.
    #[schema(required = true)]
    pub comparison: Option<Comparison>,
}

/// Positions whose perimeter [`Predictions`] keeps; beyond this it starts over. A
/// perimeter is about 1 KB (72 bearings), so this is at most a few MB.
const MAX_PREDICTIONS: usize = 4_096;

/// The comparison's radial step (km). The drawn perimeter steps 250 m; the comparison
/// counts receivers and H3 cells (edges of 0.5 km and more), and a 1 km step costs a
/// quarter of the time over terrain (each step is an ITM run over the profile so far).
pub const COMPARISON_STEP_KM: f64 = 1.0;

/// The prediction observed coverage is compared with: MeshView's default parameters,
/// evaluated every [`COMPARISON_STEP_KM`] along each bearing.
pub fn comparison_params() -> CoverageParams {
    CoverageParams {
        step_km: COMPARISON_STEP_KM,
        ..CoverageParams::default()
    }
}

/// The comparison's perimeter of each node position, computed once: every node's
/// observed coverage needs one (about 30 ms over terrain), and it depends only on the
/// position and the server's elevation tiles, which are fixed for the process, so a kept
/// perimeter never goes stale (a node that moves has a new key). This is the "cached
/// after" of predicted coverage, not a freshness trade-off: it stays on when the answer
/// caches are switched off.
#[derive(Default)]
pub struct Predictions {
    kept: Mutex<HashMap<(i64, i64), Arc<Perimeter>>>,
}

impl Predictions {
    /// The perimeter at (lat, lon) in 1e-7 degrees with [`comparison_params`] and the
    /// best model `terrain` allows. CPU-bound: call it off the async threads.
    pub fn comparison_perimeter(
        &self,
        lat_e7: i64,
        lon_e7: i64,
        terrain: Option<&Terrain>,
    ) -> Result<Arc<Perimeter>, CoverageError> {
        let key = (lat_e7, lon_e7);
        if let Some(p) = self.kept.lock().expect("predictions lock").get(&key) {
            return Ok(p.clone());
        }
        // Computed outside the lock: two askers of one new position may both compute it.
        let p = Arc::new(coverage::perimeter(
            lat_e7 as f64 / 1e7,
            lon_e7 as f64 / 1e7,
            &comparison_params(),
            terrain,
        )?);
        let mut kept = self.kept.lock().expect("predictions lock");
        if kept.len() >= MAX_PREDICTIONS {
            kept.clear();
        }
        kept.insert(key, p.clone());
        Ok(p)
    }

    /// Positions kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.kept.lock().expect("predictions lock").len()
    }
}

/// Where a node was heard directly, from the link-quality model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObservedQuestion {
    pub node: i64,
    pub hours: i64,
    pub resolution: h3o::Resolution,
}

impl ObservedQuestion {
    pub fn parse(node: i64, p: &Params) -> ApiResult<ObservedQuestion> {
        Ok(ObservedQuestion {
            node,
            hours: hours(p)?,
            resolution: resolution(p, NODE_RESOLUTION)?,
        })
    }

    pub fn key(&self) -> String {
        format!("observed|{}|{}|{}", self.node, self.hours, self.resolution)
    }

    /// 404 when the node is unknown. The comparison's prediction runs off the async
    /// threads (it may walk terrain).
    pub async fn run(
        &self,
        db: &Reader,
        now_us: i64,
        terrain: Option<Arc<Terrain>>,
        predictions: Arc<Predictions>,
    ) -> ApiResult<ObservedAnswer> {
        let node = db
            .node(self.node)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("node {} not found", self.node)))?;
        let position = match (node.last_lat, node.last_long) {
            (Some(lat), Some(lon)) if (lat, lon) != (0, 0) => Some((lat, lon)),
            _ => None,
        };
        let links = db
            .heard_by(self.node, now_us - self.hours * HOUR_US)
            .await?;
        let q = *self;
        tokio::task::spawn_blocking(move || {
            let predicted = position
                .map(|(lat, lon)| predictions.comparison_perimeter(lat, lon, terrain.as_deref()))
                .transpose()
                .map_err(invalid)?;
            let position = position.map(|(lat, lon)| [lat as f64 / 1e7, lon as f64 / 1e7]);
            q.answer(position, &links, predicted.as_deref())
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
    }

    fn answer(
        &self,
        position: Option<[f64; 2]>,
        links: &[meshview_store::read::PositionedLink],
        predicted: Option<&Perimeter>,
    ) -> ApiResult<ObservedAnswer> {
        let heard_by: Vec<Receiver> = links
            .iter()
            .map(|l| {
                let (lat, lon) = (l.lat as f64 / 1e7, l.lon as f64 / 1e7);
                Receiver {
                    node_id: l.to,
                    id: meshview_protocol::NodeId(l.to as u32).to_string(),
                    lat,
                    lon,
                    distance_km: position.map(|[plat, plon]| {
                        (meshview_radio::geo::haversine_km(plat, plon, lat, lon) * 1000.0).round()
                            / 1000.0
                    }),
                    samples: l.samples,
                    median_snr: l.median_snr,
                    mean_rssi: l.mean_rssi(),
                    last_seen_us: l.last_seen_us,
                }
            })
            .collect();
        let mut by_cell: std::collections::BTreeMap<h3o::CellIndex, (i64, i64, Vec<f64>)> =
            Default::default();
        for r in &heard_by {
            if let Some(c) = cell_of(r.lat, r.lon, self.resolution) {
                let e = by_cell.entry(c).or_default();
                e.0 += 1;
                e.1 += r.samples;
                e.2.extend(r.median_snr);
            }
        }
        let heard_cells: std::collections::HashSet<h3o::CellIndex> =
            by_cell.keys().copied().collect();
        let cells = by_cell
            .into_iter()
            .map(|(c, (receivers, samples, mut snrs))| {
                let centre = h3o::LatLng::from(c);
                ReceiverCell {
                    cell: c.to_string(),
                    lat: round6(centre.lat()),
                    lon: round6(centre.lng()),
                    boundary: boundary(c),
                    receivers,
                    samples,
                    best_snr: snrs.iter().copied().reduce(f64::max),
                    median_snr: median(&mut snrs),
                }
            })
            .collect();
        let comparison = match (position, predicted) {
            (Some([lat, lon]), Some(p)) => Some(self.compare(lat, lon, &heard_by, &heard_cells, p)),
            _ => None,
        };
        Ok(ObservedAnswer {
            node_id: self.node,
            hours: self.hours,
            resolution: i64::from(u8::from(self.resolution)),
            position,
            heard_by,
            cells,
            comparison,
        })
    }

    fn compare(
        &self,
        lat: f64,
        lon: f64,
        heard_by: &[Receiver],
        heard_cells: &std::collections::HashSet<h3o::CellIndex>,
        p: &Perimeter,
    ) -> Comparison {
        let params = comparison_params();
        let (model, _) = describe(p.model.clone());
        let inside = |la: f64, lo: f64| point_in_polygon(la, lo, &p.points);
        let outside = heard_by.iter().filter(|r| !inside(r.lat, r.lon)).count();
        let observed = heard_by.len() as i64;
        // Cells whose centre is inside the perimeter: a disk of cells around the node wide
        // enough for the radius, filtered.
        let (mut predicted, mut predicted_heard) = (0i64, 0i64);
        if let Some(origin) = cell_of(lat, lon, self.resolution) {
            let spacing_km = self.resolution.edge_length_km() * 1.5;
            let k = (params.radius_km / spacing_km).ceil() as u32 + 1;
            for c in origin.grid_disk_safe(k) {
                let centre = h3o::LatLng::from(c);
                if inside(centre.lat(), centre.lng()) {
                    predicted += 1;
                    if heard_cells.contains(&c) {
                        predicted_heard += 1;
                    }
                }
            }
        }
        Comparison {
            model,
            observed,
            observed_outside_predicted: (observed > 0)
                .then(|| (outside as f64 / observed as f64 * 1000.0).round() / 1000.0),
            predicted_cells: predicted,
            predicted_cells_heard: predicted_heard,
            predicted_never_heard: (predicted > 0).then(|| {
                ((predicted - predicted_heard) as f64 / predicted as f64 * 1000.0).round() / 1000.0
            }),
        }
    }
}

/// Whether (lat, lon) lies inside the polygon of `[lat, lon]` corners (even-odd rule on
/// plain degrees: fine at a node's coverage scale, away from the poles and the
/// antimeridian).
pub fn point_in_polygon(lat: f64, lon: f64, poly: &[[f64; 2]]) -> bool {
    if poly.len() < 3 {
        return false;
    }
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let ([yi, xi], [yj, xj]) = (poly[i], poly[j]);
        if (yi > lat) != (yj > lat) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// One H3 cell of the whole mesh's observed coverage: where transmitters stand that were
/// heard directly.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeshCell {
    pub cell: String,
    pub lat: f64,
    pub lon: f64,
    #[schema(value_type = Vec<Vec<f64>>)]
    pub boundary: Vec<[f64; 2]>,
    /// Positioned transmitters in the cell that someone heard directly.
    pub transmitters: i64,
    /// Distinct nodes that heard them.
    pub receivers: i64,
    pub samples: i64,
    /// Median of the links' median SNRs (dB).
    #[schema(required = true)]
    pub median_snr: Option<f64>,
    #[schema(required = true)]
    pub best_snr: Option<f64>,
}

/// `/api/coverage/observed`'s answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeshObservedAnswer {
    pub hours: i64,
    pub resolution: i64,
    pub cells: Vec<MeshCell>,
}

/// The whole mesh's observed coverage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeshObservedQuestion {
    pub hours: i64,
    pub resolution: h3o::Resolution,
}

impl MeshObservedQuestion {
    pub fn parse(p: &Params) -> ApiResult<MeshObservedQuestion> {
        Ok(MeshObservedQuestion {
            hours: hours(p)?,
            resolution: resolution(p, MESH_RESOLUTION)?,
        })
    }

    pub fn key(&self) -> String {
        format!("observed-mesh|{}|{}", self.hours, self.resolution)
    }

    pub async fn run(&self, db: &Reader, now_us: i64) -> ApiResult<MeshObservedAnswer> {
        let links = db
            .links_from_positioned(now_us - self.hours * HOUR_US)
            .await?;
        type Acc = (
            std::collections::HashSet<i64>,
            std::collections::HashSet<i64>,
            i64,
            Vec<f64>,
        );
        let mut by_cell: std::collections::BTreeMap<h3o::CellIndex, Acc> = Default::default();
        // Rows come by transmitter: its cell is computed once, not once per link (a
        // 2,000-node mesh has ten links a node).
        let mut last: Option<(i64, Option<h3o::CellIndex>)> = None;
        for l in &links {
            let cell = match last {
                Some((from, cell)) if from == l.from => cell,
                _ => {
                    let cell = cell_of(l.lat as f64 / 1e7, l.lon as f64 / 1e7, self.resolution);
                    last = Some((l.from, cell));
                    cell
                }
            };
            let Some(c) = cell else {
                continue;
            };
            let e = by_cell.entry(c).or_default();
            e.0.insert(l.from);
            e.1.insert(l.to);
            e.2 += l.samples;
            e.3.extend(l.median_snr);
        }
        let cells = by_cell
            .into_iter()
            .map(|(c, (tx, rx, samples, mut snrs))| {
                let centre = h3o::LatLng::from(c);
                MeshCell {
                    cell: c.to_string(),
                    lat: round6(centre.lat()),
                    lon: round6(centre.lng()),
                    boundary: boundary(c),
                    transmitters: tx.len() as i64,
                    receivers: rx.len() as i64,
                    samples,
                    best_snr: snrs.iter().copied().reduce(f64::max),
                    median_snr: median(&mut snrs),
                }
            })
            .collect();
        Ok(MeshObservedAnswer {
            hours: self.hours,
            resolution: i64::from(u8::from(self.resolution)),
            cells,
        })
    }
}

/// A line-of-sight profile between two nodes over the operator's elevation tiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileQuestion {
    pub from: i64,
    pub to: i64,
    pub freq_mhz: f64,
    pub from_height_m: f64,
    pub to_height_m: f64,
    pub step_m: f64,
}

/// Sample spacing along a profile (m): SRTM 3″ is ~90 m; at most 10 km.
pub const PROFILE_STEP_M: (f64, f64) = (10.0, 10_000.0);

impl ProfileQuestion {
    pub fn parse(from: i64, to: i64, p: &Params) -> ApiResult<ProfileQuestion> {
        let d = CoverageParams::default();
        Ok(ProfileQuestion {
            from,
            to,
            freq_mhz: p
                .float_range("freq_mhz", FREQ_MHZ_RANGE.0, FREQ_MHZ_RANGE.1)?
                .unwrap_or(d.freq_mhz),
            from_height_m: p
                .float_range("from_height_m", HEIGHT_M_RANGE.0, HEIGHT_M_RANGE.1)?
                .unwrap_or(d.tx_height_m),
            to_height_m: p
                .float_range("to_height_m", HEIGHT_M_RANGE.0, HEIGHT_M_RANGE.1)?
                .unwrap_or(d.tx_height_m),
            step_m: p
                .float_range("step_m", PROFILE_STEP_M.0, PROFILE_STEP_M.1)?
                .unwrap_or(90.0),
        })
    }

    /// 404 when a node or its position is unknown, when the server has no elevation tiles
    /// or a tile on the path is missing.
    pub async fn run(
        &self,
        db: &Reader,
        terrain: Option<Arc<Terrain>>,
    ) -> ApiResult<ProfileAnswer> {
        let position = |node: i64| async move {
            CoverageQuestion {
                node,
                params: CoverageParams::default(),
                mode: Mode::Perimeter,
                model: Wanted::Best,
            }
            .position(db)
            .await
        };
        let (a, b) = futures_util::try_join!(position(self.from), position(self.to))?;
        let terrain = terrain.ok_or_else(|| {
            ApiError::NotFound(
                "no elevation tiles: set [coverage] elevation_dir to draw profiles".into(),
            )
        })?;
        let q = *self;
        tokio::task::spawn_blocking(move || {
            let end = |(lat, lon): (f64, f64), height_m| coverage::LinkEnd { lat, lon, height_m };
            let p = coverage::link_profile(
                end(a, q.from_height_m),
                end(b, q.to_height_m),
                q.freq_mhz,
                &terrain,
                q.step_m,
            )
            .map_err(|e| match e {
                CoverageError::Terrain(t) => ApiError::NotFound(format!("elevation: {t}")),
                // The distance is the two nodes' doing, not a parameter the client sent:
                // name the end it chose.
                CoverageError::InvalidParam {
                    param: "distance_m",
                    reason,
                    ..
                } => ApiError::bad("to", format!("the nodes' distance {reason}")),
                CoverageError::InvalidParam { param, reason, .. } => ApiError::bad(param, reason),
            })?;
            let (itm_loss_db, itm_error) = match p.itm_loss_db {
                Ok(l) => (Some(l), None),
                Err(e) => (None, Some(e)),
            };
            Ok(ProfileAnswer {
                from: q.from,
                to: q.to,
                freq_mhz: q.freq_mhz,
                from_height_m: q.from_height_m,
                to_height_m: q.to_height_m,
                distance_m: p.distance_m,
                obstructed: p.obstructed,
                fresnel_clear: p.fresnel_clear,
                worst_clearance_ratio: p.worst_clearance_ratio,
                worst_at_m: p.worst_at_m,
                free_space_loss_db: p.free_space_loss_db,
                itm_loss_db,
                itm_error,
                voids: p.voids as i64,
                samples: p
                    .samples
                    .iter()
                    .map(|s| ProfileSample {
                        distance_m: s.distance_m,
                        ground_m: s.ground_m,
                        terrain_m: s.terrain_m,
                        los_m: s.los_m,
                        fresnel_m: s.fresnel_m,
                        clearance_m: s.clearance_m,
                    })
                    .collect(),
            })
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
    }
}

/// One point of a profile; heights in metres above sea level.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProfileSample {
    /// From the transmitting end.
    pub distance_m: f64,
    pub ground_m: f64,
    /// Ground raised by the earth's bulge (k = 4/3) relative to the straight ray.
    pub terrain_m: f64,
    /// The straight line between the antennas.
    pub los_m: f64,
    /// Radius of the first Fresnel zone.
    pub fresnel_m: f64,
    /// `los_m − terrain_m`; negative where the ray is blocked.
    pub clearance_m: f64,
}

/// `/api/links/{from}/{to}/profile`'s answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProfileAnswer {
    pub from: i64,
    pub to: i64,
    pub freq_mhz: f64,
    pub from_height_m: f64,
    pub to_height_m: f64,
    pub distance_m: f64,
    /// The straight ray touches or passes below the terrain.
    pub obstructed: bool,
    /// At least 60 % of the first Fresnel zone is clear everywhere.
    pub fresnel_clear: bool,
    /// Smallest clearance over the Fresnel radius (1 = first zone clear, < 0 blocked).
    pub worst_clearance_ratio: f64,
    pub worst_at_m: f64,
    pub free_space_loss_db: f64,
    /// ITM point-to-point loss over the profile.
    #[schema(required = true)]
    pub itm_loss_db: Option<f64>,
    /// Why ITM declined, when it did.
    #[schema(required = true)]
    pub itm_error: Option<String>,
    /// Samples whose elevation was void in the tiles (counted as 0 m).
    pub voids: i64,
    pub samples: Vec<ProfileSample>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> ApiResult<CoverageQuestion> {
        CoverageQuestion::parse(7, &Params::from_pairs(pairs))
    }

    #[test]
    fn defaults_are_meshviews_and_bounds_name_the_parameter() {
        let d = q(&[]).unwrap();
        assert_eq!(d.params, CoverageParams::default());
        assert_eq!((d.mode, d.model), (Mode::Heatmap, Wanted::Best));
        assert_eq!(q(&[("mode", "perimeter")]).unwrap().mode, Mode::Perimeter);
        assert_eq!(q(&[("mode", "whatever")]).unwrap().mode, Mode::Heatmap);
        assert_eq!(q(&[("model", "area")]).unwrap().model, Wanted::Area);
        for (k, v) in [
            ("step_km", "0"),
            ("step_km", "-1"),
            ("radius_km", "1e9"),
            ("freq_mhz", "abc"),
            ("tx_dbm", "inf"),
            ("reliability", "1"),
            ("model", "magic"),
        ] {
            let e = q(&[(k, v)]).unwrap_err();
            assert!(format!("{e:?}").contains(k), "{k}={v}: {e:?}");
        }
        // Too many points: radius and step together.
        let e = q(&[("radius_km", "200"), ("step_km", "0.05")]).unwrap_err();
        assert!(format!("{e:?}").contains("step_km"), "{e:?}");
    }

    #[test]
    fn polygons_contain_what_they_surround() {
        let square = [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]];
        assert!(point_in_polygon(0.5, 0.5, &square));
        assert!(!point_in_polygon(1.5, 0.5, &square));
        assert!(!point_in_polygon(0.5, -0.1, &square));
        assert!(!point_in_polygon(0.5, 0.5, &square[..2]));
        assert_eq!(median(&mut [3.0, -1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn observed_coverage_groups_receivers_and_compares_with_the_prediction() {
        use meshview_store::read::PositionedLink;
        let q = ObservedQuestion::parse(1, &Params::from_pairs(&[])).unwrap();
        let at = |to: i64, lat: f64, lon: f64, snr: f64| PositionedLink {
            from: 1,
            to,
            lat: (lat * 1e7) as i64,
            lon: (lon * 1e7) as i64,
            samples: 3,
            median_snr: Some(snr),
            rssi_samples: 0,
            rssi_sum: 0,
            last_seen_us: 5,
        };
        // Two receivers a few hundred metres apart (one cell), one 2 km away, one
        // far beyond the 40 km prediction.
        let links = [
            at(2, 37.5001, -122.0001, -3.0),
            at(3, 37.5004, -122.0003, 1.0),
            at(4, 37.52, -122.0, -9.0),
            at(5, 39.0, -122.0, -14.0),
        ];
        let memo = Predictions::default();
        let predicted = memo
            .comparison_perimeter(375_000_000, -1_220_000_000, None)
            .unwrap();
        assert!(Arc::ptr_eq(
            &predicted,
            &memo
                .comparison_perimeter(375_000_000, -1_220_000_000, None)
                .unwrap()
        ));
        assert_eq!(memo.len(), 1);
        let a = q
            .answer(Some([37.5, -122.0]), &links, Some(&predicted))
            .unwrap();
        assert_eq!(a.heard_by.len(), 4);
        assert_eq!(a.heard_by[0].id, "!00000002");
        assert!(a.heard_by[3].distance_km.unwrap() > 160.0);
        let shared = a
            .cells
            .iter()
            .find(|c| c.receivers == 2)
            .expect("a shared cell");
        assert_eq!((shared.samples, shared.best_snr), (6, Some(1.0)));
        assert_eq!(shared.median_snr, Some(-3.0));
        assert_eq!(shared.boundary.len(), 6);
        let c = a.comparison.unwrap();
        assert_eq!((c.model, c.observed), ("area", 4));
        assert_eq!(c.observed_outside_predicted, Some(0.25));
        // Area mode with MeshView's defaults reaches ~8 km: a few dozen ~5 km² cells, two
        // of them with receivers.
        assert!(
            (20..200).contains(&c.predicted_cells),
            "{}",
            c.predicted_cells
        );
        assert_eq!(c.predicted_cells_heard, 2);
        let never = c.predicted_never_heard.unwrap();
        let expected = (c.predicted_cells - 2) as f64 / c.predicted_cells as f64;
        assert!((never - expected).abs() < 0.001, "{never} vs {expected}");
        // Without a position: receivers and cells, no comparison.
        let a = q.answer(None, &links, None).unwrap();
        assert!(a.comparison.is_none() && a.heard_by[0].distance_km.is_none());
    }

    #[test]
    fn area_mode_answers_meshviews_shapes() {
        let p = q(&[("mode", "perimeter")]).unwrap();
        let CoverageAnswer::Perimeter(b) = p.compute(37.5, -122.0, None).unwrap() else {
            panic!("perimeter expected")
        };
        // Area mode ignores bearing: a circle, one point per bearing.
        assert_eq!(b.perimeter.len(), 72);
        assert_eq!(b.model, "area");
        let json = serde_json::to_value(CoverageAnswer::Perimeter(b)).unwrap();
        assert_eq!(json["mode"], "perimeter");
        assert_eq!(json["threshold_dbm"], -120.0);
        assert!(json.get("missing_tile").is_none());
        let h = q(&[]).unwrap();
        let CoverageAnswer::Heatmap(b) = h.compute(37.5, -122.0, None).unwrap() else {
            panic!("heatmap expected")
        };
        assert!(b.min_dbm <= -130.0 && b.max_dbm >= -80.0);
        assert_eq!(b.points.len() % 72, 0);
    }
}
