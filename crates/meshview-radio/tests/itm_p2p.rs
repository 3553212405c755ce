//! Point-to-point mode against itmlogic 1.2 (driven like NTIA's `ITM_P2P_CR`):
//! `tests/data/itm_p2p.csv` over the profiles in `tests/data/itm_p2p_profiles.json`, both
//! written by `scripts/itm_p2p_vectors.py`.

use meshview_radio::itm::{Climate, P2pInput, Polarization, point_to_point};

const TOLERANCE_DB: f64 = 0.1;

#[test]
fn point_to_point_matches_itmlogic() {
    let profiles: serde_json::Value =
        serde_json::from_str(include_str!("data/itm_p2p_profiles.json")).unwrap();
    let csv = include_str!("data/itm_p2p.csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (mut rows, mut worst) = (0, 0.0_f64);
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let num = |name: &str| -> f64 { f[col(name)].parse().unwrap() };
        let profile = &profiles[f[col("profile")]];
        let elevations: Vec<f64> = profile["elevations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let mut input = P2pInput::new(
            &elevations,
            profile["spacing_m"].as_f64().unwrap(),
            num("tx_h"),
            num("rx_h"),
            num("fmhz"),
        );
        input.eps_dielect = num("eps");
        input.sgm_conductivity = num("sgm");
        input.ns_surfref = num("ns");
        input.climate = Climate::from_code(num("climate") as i32).unwrap();
        input.polarization = if num("pol") == 0.0 {
            Polarization::Horizontal
        } else {
            Polarization::Vertical
        };
        input.conf = num("conf");
        input.rel = num("rel");
        let out = point_to_point(&input).unwrap_or_else(|e| panic!("row {}: {e}", i + 2));
        let want = num("loss_db");
        let diff = (out.loss_db - want).abs();
        worst = worst.max(diff);
        assert!(
            diff <= TOLERANCE_DB,
            "row {} ({}): loss {} vs itmlogic {want}",
            i + 2,
            f[col("profile")],
            out.loss_db
        );
        rows += 1;
    }
    assert!(rows >= 150, "{rows} rows");
    eprintln!("{rows} rows, max |error| {worst:.2e} dB");
}
