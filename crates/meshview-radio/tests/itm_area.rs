//! Area mode against pyitm 0.3: `tests/data/itm_area.csv`, written by
//! `scripts/itm_vectors.py`.

use meshview_radio::itm::{
    AreaInput, Climate, ItmError, Polarization, SiteCriteria, VariabilityMode, area,
};

const TOLERANCE_DB: f64 = 0.1;

fn site(code: &str) -> SiteCriteria {
    match code {
        "0" => SiteCriteria::Random,
        "1" => SiteCriteria::Careful,
        "2" => SiteCriteria::VeryCareful,
        other => panic!("site criteria {other}"),
    }
}

#[test]
fn area_matches_pyitm() {
    let csv = include_str!("data/itm_area.csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (mut rows, mut errors, mut worst) = (0, 0, 0.0_f64);
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let num = |name: &str| -> f64 { f[col(name)].parse().unwrap() };
        let input = AreaInput {
            mode: VariabilityMode::from_code(num("mod_var") as i32).unwrap(),
            delta_h_m: num("delta_h"),
            tx_height_m: num("tht_m"),
            rx_height_m: num("rht_m"),
            dist_km: num("dist_km"),
            tx_site: site(f[col("tsite")]),
            rx_site: site(f[col("rsite")]),
            eps_dielect: num("eps"),
            sgm_conductivity: num("sgm"),
            ns_surfref: num("ns"),
            freq_mhz: num("frq_mhz"),
            climate: Climate::from_code(num("climate") as i32).unwrap(),
            polarization: if f[col("pol")] == "0" {
                Polarization::Horizontal
            } else {
                Polarization::Vertical
            },
            pct_time: num("pct_time"),
            pct_loc: num("pct_loc"),
            pct_conf: num("pct_conf"),
        };
        let got = area(&input);
        rows += 1;
        match f[col("error")] {
            "" => {
                let out = got.unwrap_or_else(|e| panic!("row {}: {e} for {input:?}", i + 2));
                let want = num("loss_db");
                let diff = (out.loss_db - want).abs();
                worst = worst.max(diff);
                assert!(
                    diff <= TOLERANCE_DB,
                    "row {}: loss {} vs pyitm {want} for {input:?}",
                    i + 2,
                    out.loss_db
                );
                assert_eq!(
                    out.warning as f64,
                    num("errnum"),
                    "row {}: warning code for {input:?}",
                    i + 2
                );
            }
            "InputError" => {
                errors += 1;
                assert!(
                    matches!(got, Err(ItmError::InputError { .. })),
                    "row {}: expected InputError, got {got:?}",
                    i + 2
                );
            }
            _ => {
                errors += 1;
                assert!(
                    matches!(got, Err(ItmError::Domain(_))),
                    "row {}: expected a domain error, got {got:?}",
                    i + 2
                );
            }
        }
    }
    assert!(rows > 600 && errors >= 8, "{rows} rows, {errors} errors");
    eprintln!("{rows} rows, max |error| {worst:.2e} dB");
}
