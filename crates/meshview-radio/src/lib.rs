//! Radio computations for MeshView, pure and synchronous (callers run them on a blocking
//! thread):
//! - [`itm`]: the Irregular Terrain Model (Longley-Rice) 1.2.2, area and point-to-point modes;
//! - [`geo`]: great-circle helpers on MeshView's 6371 km sphere;
//! - [`terrain`]: elevations from an operator's folder of SRTM `.hgt` tiles;
//! - [`coverage`]: predicted coverage as Python MeshView's `/api/coverage` computes it, a
//!   terrain-aware variant, and link profiles with Fresnel clearance.

pub mod coverage;
pub mod geo;
pub mod itm;
pub mod terrain;
