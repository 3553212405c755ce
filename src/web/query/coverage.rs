//! Predicted coverage of a node (`/api/coverage/{node_id}`, the node page's layer): the
//! radio crate's ITM over the node's last position, with MeshView's parameters, defaults
//! and answer shapes; over terrain when the operator has elevation tiles.

use std::sync::Arc;

use meshview_radio::coverage::{
    self, CoverageError, CoverageParams, FREQ_MHZ_RANGE, HEIGHT_M_RANGE, MAX_RADIUS_KM,
    MIN_STEP_KM, Model, RELIABILITY_RANGE, THRESHOLD_DBM_RANGE, TX_DBM_RANGE,
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
