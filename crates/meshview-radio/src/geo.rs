//! Great-circle helpers on a sphere of radius 6371 km, the radius Python MeshView uses.

/// Mean earth radius in km (MeshView's `EARTH_RADIUS_KM`).
pub const EARTH_RADIUS_KM: f64 = 6371.0;

/// The point `distance_km` from `(lat, lon)` along the initial bearing `bearing_deg`
/// (degrees clockwise from north); the same formula and operation order as MeshView's
/// `destination_point`, so the coordinates agree to the last bits.
pub fn destination_point(lat: f64, lon: f64, bearing_deg: f64, distance_km: f64) -> (f64, f64) {
    let lat1 = lat.to_radians();
    let lon1 = lon.to_radians();
    let bearing = bearing_deg.to_radians();
    let d = distance_km / EARTH_RADIUS_KM;
    let lat2 = (lat1.sin() * d.cos() + lat1.cos() * d.sin() * bearing.cos()).asin();
    let lon2 =
        lon1 + (bearing.sin() * d.sin() * lat1.cos()).atan2(d.cos() - lat1.sin() * lat2.sin());
    (lat2.to_degrees(), lon2.to_degrees())
}

/// Great-circle distance in km (haversine).
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let phi1 = lat1.to_radians();
    let phi2 = lat2.to_radians();
    let dphi = (lat2 - lat1).to_radians();
    let dlambda = (lon2 - lon1).to_radians();
    let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    // min() keeps rounding from pushing asin's argument past 1 for antipodes.
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// Initial bearing from the first point to the second, degrees in [0, 360).
pub fn initial_bearing_deg(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let phi1 = lat1.to_radians();
    let phi2 = lat2.to_radians();
    let dlambda = (lon2 - lon1).to_radians();
    let y = dlambda.sin() * phi2.cos();
    let x = phi1.cos() * phi2.sin() - phi1.sin() * phi2.cos() * dlambda.cos();
    (y.atan2(x).to_degrees() + 360.0) % 360.0
}

/// Wraps a longitude into [-180, 180).
pub fn normalize_lon(lon: f64) -> f64 {
    (lon + 180.0).rem_euclid(360.0) - 180.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_degree_of_latitude_is_111_km() {
        let (lat, lon) = destination_point(0.0, 0.0, 0.0, 111.19492664455873);
        assert!((lat - 1.0).abs() < 1e-9 && lon.abs() < 1e-12);
        assert!((haversine_km(0.0, 0.0, 1.0, 0.0) - 111.19492664455873).abs() < 1e-9);
    }

    #[test]
    fn destination_round_trips_through_distance_and_bearing() {
        for &(lat, lon) in &[
            (37.77, -122.42),
            (-33.9, 151.2),
            (64.1, -21.9),
            (0.0, 179.9),
        ] {
            for bearing in (0..360).step_by(25) {
                let b = bearing as f64;
                let (lat2, lon2) = destination_point(lat, lon, b, 40.0);
                let d = haversine_km(lat, lon, lat2, lon2);
                assert!((d - 40.0).abs() < 1e-6, "{d}");
                let back = initial_bearing_deg(lat, lon, lat2, lon2);
                let diff = ((back - b + 540.0) % 360.0 - 180.0).abs();
                assert!(diff < 1e-6, "{lat},{lon} {b}: {back}");
            }
        }
    }

    #[test]
    fn known_city_pair() {
        // London to Paris is about 343.5 km on this sphere, heading about 148°.
        let d = haversine_km(51.5074, -0.1278, 48.8566, 2.3522);
        assert!((d - 343.5).abs() < 1.0, "{d}");
        let b = initial_bearing_deg(51.5074, -0.1278, 48.8566, 2.3522);
        assert!((b - 148.1).abs() < 0.5, "{b}");
        assert_eq!(initial_bearing_deg(0.0, 0.0, 0.0, -1.0), 270.0);
    }

    #[test]
    fn longitudes_wrap() {
        assert_eq!(normalize_lon(190.0), -170.0);
        assert_eq!(normalize_lon(-180.0), -180.0);
        assert_eq!(normalize_lon(180.0), -180.0);
        assert_eq!(normalize_lon(45.0), 45.0);
    }
}
