//! Terrain elevations from SRTM `.hgt` tiles in an operator's folder (nothing is downloaded).
//!
//! A tile `N37W122.hgt` (any letter case) covers latitudes 37..38 and longitudes -122..-121:
//! big-endian `i16` metres, rows from north to south, columns from west to east, either
//! 1201 × 1201 samples (3 arc-seconds) or 3601 × 3601 (1 arc-second); -32768 marks a void.
//!
//! Memory: the web reader must stay within 128 MB RSS, so decoded tiles live in a small cache
//! bounded in bytes ([`DEFAULT_CACHE_BYTES`]), least recently used out first. A 1″ tile is
//! decimated to 3″ while it is read (every third row and column): decoded whole it would
//! take 26 MB; at 3″ it takes 2.9 MB and four fit, which is what a default 40 km radius
//! touches at most (a node near a tile corner). A bigger radius reads tiles again as the
//! bearings sweep round (a 3″ tile reads in a few ms). The 90 m spacing matches what
//! coverage sampling uses anyway.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use thiserror::Error;

use crate::geo;

/// The cache's default budget for decoded tiles: four 3″ tiles.
pub const DEFAULT_CACHE_BYTES: usize = 4 * TILE_SIDE * TILE_SIDE * 2;
/// Samples per side of a 3″ tile, the resolution tiles are kept at.
pub const TILE_SIDE: usize = 1201;
const SIDE_1ARCSEC: usize = 3601;
const VOID: i16 = -32768;

/// What went wrong reading terrain.
#[derive(Debug, Error)]
pub enum TerrainError {
    /// No file for the tile a point needs; the caller can fall back to area mode.
    #[error("terrain tile {0}.hgt is missing")]
    MissingTile(String),
    #[error("{path}: {size} bytes is neither a 1201x1201 (3\") nor a 3601x3601 (1\") tile")]
    BadSize { path: PathBuf, size: u64 },
    #[error("terrain folder {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid coordinate {lat},{lon}")]
    BadCoordinate { lat: f64, lon: f64 },
}

/// Elevations sampled at equal spacing along a great circle.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Metres above sea level, from the start to the end (both included).
    pub elevations: Vec<f64>,
    /// Distance between samples in metres.
    pub spacing_m: f64,
    /// Samples whose four neighbours were all voids (counted as 0 m).
    pub voids: usize,
}

impl Profile {
    /// Length of the profile in metres.
    pub fn length_m(&self) -> f64 {
        self.spacing_m * self.elevations.len().saturating_sub(1) as f64
    }
}

/// One decoded tile at 3″.
struct Tile {
    data: Vec<i16>,
}

impl Tile {
    const BYTES: usize = TILE_SIDE * TILE_SIDE * 2;

    fn at(&self, row: usize, col: usize) -> i16 {
        self.data[row * TILE_SIDE + col]
    }
}

#[derive(Default)]
struct Cache {
    tiles: Vec<(TileKey, Arc<Tile>, u64)>,
    clock: u64,
}

type TileKey = (i32, i32);

/// A folder of `.hgt` tiles; cheap to share behind an `Arc` (`Send + Sync`).
pub struct Terrain {
    files: HashMap<TileKey, PathBuf>,
    cache: Mutex<Cache>,
    budget_bytes: usize,
}

impl std::fmt::Debug for Terrain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terrain")
            .field("tiles", &self.files.len())
            .field("budget_bytes", &self.budget_bytes)
            .finish()
    }
}

/// The tile name for the tile holding the south-west corner `(lat, lon)` (whole degrees).
pub fn tile_name(lat: i32, lon: i32) -> String {
    format!(
        "{}{:02}{}{:03}",
        if lat >= 0 { 'N' } else { 'S' },
        lat.unsigned_abs(),
        if lon >= 0 { 'E' } else { 'W' },
        lon.unsigned_abs()
    )
}

/// Parses `N37W122.hgt` (any case) into its south-west corner.
fn parse_tile_name(name: &str) -> Option<TileKey> {
    let name = name.to_ascii_uppercase();
    let stem = name.strip_suffix(".HGT")?;
    let b = stem.as_bytes();
    if b.len() != 7 || !b[1..3].iter().chain(&b[4..7]).all(u8::is_ascii_digit) {
        return None;
    }
    let lat: i32 = stem[1..3].parse().ok()?;
    let lon: i32 = stem[4..7].parse().ok()?;
    let lat = match b[0] {
        b'N' => lat,
        b'S' => -lat,
        _ => return None,
    };
    let lon = match b[3] {
        b'E' => lon,
        b'W' => -lon,
        _ => return None,
    };
    ((-90..90).contains(&lat) && (-180..180).contains(&lon)).then_some((lat, lon))
}

impl Terrain {
    /// Indexes the `.hgt` files directly inside `dir` (no subfolders, no archives); tiles
    /// are read when first needed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Terrain, TerrainError> {
        Self::with_cache_bytes(dir, DEFAULT_CACHE_BYTES)
    }

    /// Like [`Terrain::open`] with another cache budget (at least one tile is kept).
    pub fn with_cache_bytes(
        dir: impl AsRef<Path>,
        budget_bytes: usize,
    ) -> Result<Terrain, TerrainError> {
        let dir = dir.as_ref();
        let io = |source| TerrainError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut files = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let Some(key) = entry.file_name().to_str().and_then(parse_tile_name) else {
                continue;
            };
            if entry.file_type().map_err(io)?.is_file() {
                files.insert(key, entry.path());
            }
        }
        Ok(Terrain {
            files,
            cache: Mutex::new(Cache::default()),
            budget_bytes,
        })
    }

    /// Number of tiles found in the folder.
    pub fn tile_count(&self) -> usize {
        self.files.len()
    }

    /// Whether the folder has the tile holding `(lat, lon)`.
    pub fn covers(&self, lat: f64, lon: f64) -> bool {
        self.files.contains_key(&key_of(lat, lon))
    }

    fn tile(&self, key: TileKey) -> Result<Arc<Tile>, TerrainError> {
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.clock += 1;
            let now = cache.clock;
            if let Some(entry) = cache.tiles.iter_mut().find(|e| e.0 == key) {
                entry.2 = now;
                return Ok(entry.1.clone());
            }
        }
        let path = self
            .files
            .get(&key)
            .ok_or_else(|| TerrainError::MissingTile(tile_name(key.0, key.1)))?;
        // Read outside the lock: other threads keep using cached tiles meanwhile.
        let tile = Arc::new(read_tile(path)?);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.clock += 1;
        let now = cache.clock;
        if let Some(entry) = cache.tiles.iter().find(|e| e.0 == key) {
            return Ok(entry.1.clone());
        }
        let max_tiles = (self.budget_bytes / Tile::BYTES).max(1);
        while cache.tiles.len() >= max_tiles {
            let oldest = (0..cache.tiles.len())
                .min_by_key(|&i| cache.tiles[i].2)
                .unwrap_or(0);
            cache.tiles.swap_remove(oldest);
        }
        cache.tiles.push((key, tile.clone(), now));
        Ok(tile)
    }

    /// Number of decoded tiles held now (for tests and metrics).
    pub fn cached_tiles(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tiles
            .len()
    }

    /// Elevation in metres at `(lat, lon)`, bilinear between the four nearest samples;
    /// `None` where the tile is missing or unreadable, or the coordinate is invalid.
    pub fn elevation(&self, lat: f64, lon: f64) -> Option<f64> {
        self.sample(lat, lon).ok().map(|(e, _)| e)
    }

    /// Like [`Terrain::elevation`] with the reason for a missing value; the flag is true
    /// when every neighbour was void (the elevation is then 0).
    pub fn sample(&self, lat: f64, lon: f64) -> Result<(f64, bool), TerrainError> {
        if !(lon.is_finite() && (-90.0..=90.0).contains(&lat)) {
            return Err(TerrainError::BadCoordinate { lat, lon });
        }
        let lon = geo::normalize_lon(lon);
        let key = key_of(lat, lon);
        match self.tile(key) {
            Ok(tile) => Ok(interpolate(&tile, key, lat, lon)),
            // A point on a tile's south or west edge is also on its neighbours' north or
            // east edges: use a neighbour when only that one is present.
            Err(TerrainError::MissingTile(name)) => {
                let on_lat_edge = lat.floor() == lat;
                let on_lon_edge = lon.floor() == lon;
                let candidates = [
                    (on_lon_edge, (key.0, key.1 - 1)),
                    (on_lat_edge, (key.0 - 1, key.1)),
                    (on_lat_edge && on_lon_edge, (key.0 - 1, key.1 - 1)),
                ];
                for (applies, alt) in candidates {
                    if applies && self.files.contains_key(&alt) {
                        let tile = self.tile(alt)?;
                        return Ok(interpolate(&tile, alt, lat, lon));
                    }
                }
                Err(TerrainError::MissingTile(name))
            }
            Err(e) => Err(e),
        }
    }

    /// Elevations along the great circle from `from` to `to` (`(lat, lon)` pairs) at equal
    /// spacing no longer than `step_m`, both ends included; an error names the first
    /// missing tile.
    pub fn profile(
        &self,
        from: (f64, f64),
        to: (f64, f64),
        step_m: f64,
    ) -> Result<Profile, TerrainError> {
        let dist_m = geo::haversine_km(from.0, from.1, to.0, to.1) * 1000.0;
        let bearing = geo::initial_bearing_deg(from.0, from.1, to.0, to.1);
        let intervals = ((dist_m / step_m).ceil() as usize).max(1);
        self.radial(from, bearing, dist_m / intervals as f64, intervals)
    }

    /// `intervals + 1` elevations from `from` along `bearing_deg`, `spacing_m` apart.
    pub fn radial(
        &self,
        from: (f64, f64),
        bearing_deg: f64,
        spacing_m: f64,
        intervals: usize,
    ) -> Result<Profile, TerrainError> {
        let mut elevations = Vec::with_capacity(intervals + 1);
        let mut voids = 0;
        for i in 0..=intervals {
            let (lat, lon) =
                geo::destination_point(from.0, from.1, bearing_deg, i as f64 * spacing_m / 1000.0);
            let (e, void) = self.sample(lat, lon)?;
            voids += usize::from(void);
            elevations.push(e);
        }
        Ok(Profile {
            elevations,
            spacing_m,
            voids,
        })
    }
}

fn key_of(lat: f64, lon: f64) -> TileKey {
    // The north pole row belongs to the tiles below it.
    ((lat.floor() as i32).min(89), (lon.floor() as i32).min(179))
}

/// Bilinear interpolation inside `tile`; void corners are left out and the others
/// reweighted, so an isolated void takes its neighbours' heights.
fn interpolate(tile: &Tile, key: TileKey, lat: f64, lon: f64) -> (f64, bool) {
    let last = (TILE_SIDE - 1) as f64;
    let y = ((key.0 as f64 + 1.0 - lat) * last).clamp(0.0, last);
    let x = ((lon - key.1 as f64) * last).clamp(0.0, last);
    let r0 = (y.floor() as usize).min(TILE_SIDE - 2);
    let c0 = (x.floor() as usize).min(TILE_SIDE - 2);
    let (fy, fx) = (y - r0 as f64, x - c0 as f64);
    let corners = [
        (tile.at(r0, c0), (1.0 - fy) * (1.0 - fx)),
        (tile.at(r0, c0 + 1), (1.0 - fy) * fx),
        (tile.at(r0 + 1, c0), fy * (1.0 - fx)),
        (tile.at(r0 + 1, c0 + 1), fy * fx),
    ];
    let (mut sum, mut weight) = (0.0, 0.0);
    for (v, w) in corners {
        if v != VOID {
            sum += f64::from(v) * w;
            weight += w;
        }
    }
    if weight > 1e-9 {
        (sum / weight, false)
    } else if corners.iter().any(|c| c.0 != VOID) {
        // On a sample that is void with only zero-weight neighbours valid: average those.
        let valid: Vec<f64> = corners
            .iter()
            .filter(|c| c.0 != VOID)
            .map(|c| f64::from(c.0))
            .collect();
        (valid.iter().sum::<f64>() / valid.len() as f64, false)
    } else {
        (0.0, true)
    }
}

fn read_tile(path: &Path) -> Result<Tile, TerrainError> {
    let io = |source| TerrainError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let (side, every) = if size == (TILE_SIDE * TILE_SIDE * 2) as u64 {
        (TILE_SIDE, 1)
    } else if size == (SIDE_1ARCSEC * SIDE_1ARCSEC * 2) as u64 {
        (SIDE_1ARCSEC, 3)
    } else {
        return Err(TerrainError::BadSize {
            path: path.to_path_buf(),
            size,
        });
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut row = vec![0u8; side * 2];
    let mut data = Vec::with_capacity(TILE_SIDE * TILE_SIDE);
    for r in 0..side {
        reader.read_exact(&mut row).map_err(io)?;
        if r % every != 0 {
            continue;
        }
        data.extend(
            row.chunks_exact(2)
                .step_by(every)
                .map(|b| i16::from_be_bytes([b[0], b[1]])),
        );
    }
    debug_assert_eq!(data.len(), TILE_SIDE * TILE_SIDE);
    Ok(Tile { data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_names_round_trip() {
        assert_eq!(tile_name(37, -122), "N37W122");
        assert_eq!(tile_name(-1, 5), "S01E005");
        assert_eq!(parse_tile_name("N37W122.hgt"), Some((37, -122)));
        assert_eq!(parse_tile_name("s01e005.HGT"), Some((-1, 5)));
        assert_eq!(parse_tile_name("N37W122.hgt.zip"), None);
        assert_eq!(parse_tile_name("X37W122.hgt"), None);
        assert_eq!(parse_tile_name("N95W122.hgt"), None);
    }

    #[test]
    fn terrain_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Terrain>();
    }

    #[test]
    fn voids_take_the_neighbours_height() {
        let mut data = vec![100i16; TILE_SIDE * TILE_SIDE];
        data[10 * TILE_SIDE + 10] = VOID;
        let tile = Tile { data };
        let lat = 1.0 - 10.0 / 1200.0;
        let lon = 10.0 / 1200.0 + 0.0001;
        let (e, void) = interpolate(&tile, (0, 0), lat, lon);
        assert_eq!((e, void), (100.0, false));
        let tile = Tile {
            data: vec![VOID; TILE_SIDE * TILE_SIDE],
        };
        assert_eq!(interpolate(&tile, (0, 0), 0.5, 0.5), (0.0, true));
    }
}
