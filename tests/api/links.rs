//! The link-quality model end to end: simulated traffic with per-link ground truth, stored
//! by the real writer (its rollups), served by `/api/links` and `/api/links/{from}/{to}`;
//! the rebuild from raw rows agrees with the writer; bad parameters are 400s.

use std::collections::HashMap;

use serde_json::Value;

use crate::common::{Backend, run_command};
use crate::helpers::{Served, node_num};

type Pair = (i64, i64);

fn by_pair(body: &Value) -> HashMap<Pair, Value> {
    body["links"]
        .as_array()
        .unwrap_or_else(|| panic!("no links array: {body}"))
        .iter()
        .map(|l| {
            (
                (l["from"].as_i64().unwrap(), l["to"].as_i64().unwrap()),
                l.clone(),
            )
        })
        .collect()
}

/// The model against the simulator's radio truth: every link it reports exists, it finds
/// the links the traffic evidenced, and its median SNR is the link's true SNR.
async fn links_match_truth(backend: Backend) {
    let s = Served::start(backend).await;
    check_truth(&s).await;

    // Filters: one node's links touch it; a confidence floor holds.
    let got = by_pair(&s.ok("/api/links").await);
    let (&(a, _), _) = got.iter().next().unwrap();
    let mine = by_pair(&s.ok(&format!("/api/links?node_id={a}")).await);
    assert!(!mine.is_empty());
    assert!(mine.keys().all(|&(f, t)| f == a || t == a));
    assert_eq!(
        mine.len(),
        got.keys().filter(|&&(f, t)| f == a || t == a).count()
    );
    let sure = by_pair(&s.ok("/api/links?min_confidence=0.9").await);
    assert!(
        sure.values()
            .all(|l| l["confidence"].as_f64().unwrap() >= 0.9)
    );
    assert_eq!(
        sure.len(),
        got.values()
            .filter(|l| l["confidence"].as_f64().unwrap() >= 0.9)
            .count()
    );
}

/// A big mesh, where many nodes share their low byte: `relay_node` is often ambiguous.
async fn links_match_truth_on_a_crowded_mesh(backend: Backend) {
    let cfg = meshview_sim::SimConfig {
        nodes: 900,
        gateways: 60,
        packets: 5000,
        seed: 11,
        ..crate::helpers::sim_config("msh/US/bayarea")
    };
    let s = Served::start_with(backend, cfg).await;
    check_truth(&s).await;
}

async fn check_truth(s: &Served) {
    let body = s.ok("/api/links").await;
    let got = by_pair(&body);
    assert!(!got.is_empty(), "no links: {body}");
    let truth: HashMap<Pair, &meshview_sim::LinkTruth> = s
        .truth
        .links
        .iter()
        .map(|((f, t), l)| ((node_num(f), node_num(t)), l))
        .collect();
    let exists = &s.radio_links;

    // Never a link that does not exist; precision against the evidenced links too.
    let mut true_positive = 0;
    for (pair, l) in &got {
        assert_ne!(pair.0, pair.1, "self link: {l}");
        assert!(exists.contains(pair), "reported a link the mesh lacks: {l}");
        if truth.contains_key(pair) {
            true_positive += 1;
        }
        let c = l["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c), "{l}");
        assert!(
            ["good", "fair", "poor", "unknown"].contains(&l["quality"].as_str().unwrap()),
            "{l}"
        );
        assert_eq!(
            l["from_id"].as_str().unwrap(),
            format!("!{:08x}", pair.0),
            "{l}"
        );
    }
    let precision = true_positive as f64 / got.len() as f64;
    let recall = truth.keys().filter(|p| got.contains_key(p)).count() as f64 / truth.len() as f64;
    assert!(
        precision >= 0.95 && recall >= 0.95,
        "precision {precision:.3}, recall {recall:.3} ({} reported, {} true)",
        got.len(),
        truth.len()
    );
    // The median of noisy samples recovers the true SNR.
    let mut checked = 0;
    for (pair, t) in &truth {
        let Some(l) = got.get(pair) else { continue };
        if let Some(m) = l["median_snr"].as_f64() {
            assert!(
                (m - f64::from(t.snr_db)).abs() <= 2.0,
                "median {m} vs true {} dB: {l}",
                t.snr_db
            );
            checked += 1;
        }
        // Evidence counts are the simulator's, source by source (relays are attributed
        // only where the byte is unambiguous, so at most the truth's).
        let n = |k: &str| l["samples"][k].as_i64().unwrap();
        assert_eq!(n("traceroute"), i64::from(t.traceroute), "{l}");
        assert_eq!(n("neighbor"), i64::from(t.neighbor), "{l}");
        assert_eq!(n("reception"), i64::from(t.reception), "{l}");
        assert!(n("relay") <= i64::from(t.relay), "{l}");
    }
    assert!(checked > truth.len() / 2, "{checked} medians checked");
    // Relayed receptions were attributed, each to a link that exists (checked above).
    let relays: i64 = got
        .values()
        .map(|l| l["samples"]["relay"].as_i64().unwrap())
        .sum();
    let true_relays: u32 = truth.values().map(|t| t.relay).sum();
    eprintln!(
        "links: {} reported, {} evidenced, precision {precision:.3}, recall {recall:.3}, \
         {checked} medians within 2 dB, relays attributed {relays} of {true_relays}",
        got.len(),
        truth.len()
    );
    assert!(relays > 0, "no relay attributed");
}

/// One link's history, its reverse, 404 and 400s; the rebuild agrees with the writer.
async fn link_history_and_rebuild(backend: Backend) {
    let s = Served::start(backend).await;
    let before = by_pair(&s.ok("/api/links?hours=200").await);
    let (&(f, t), link) = before
        .iter()
        .max_by_key(|(_, l)| l["snr_samples"].as_i64().unwrap())
        .unwrap();
    let h = s.ok(&format!("/api/links/{f}/!{t:08x}")).await;
    assert_eq!(h["link"], *link, "{h}");
    let hours = h["hours"].as_array().unwrap();
    let total: i64 = hours.iter().map(|x| x["samples"].as_i64().unwrap()).sum();
    let n = &link["samples"];
    let all: i64 = ["traceroute", "neighbor", "reception", "relay"]
        .iter()
        .map(|k| n[k].as_i64().unwrap())
        .sum();
    assert_eq!(total, all, "hourly samples add up to the link's: {h}");
    match before.get(&(t, f)) {
        Some(rev) => assert_eq!(h["reverse"], *rev),
        None => assert!(h["reverse"].is_null()),
    }
    // Unknown pair (two real-looking nodes without a link), bad ids, bad windows.
    s.error("/api/links/1/2", 404).await;
    s.bad("/api/links/!zz/1", "from").await;
    s.bad("/api/links/1/0x1ffffffff", "to").await;
    s.bad(&format!("/api/links/{f}/{t}?hours=0"), "hours").await;
    s.bad("/api/links?min_confidence=1.01", "min_confidence")
        .await;
    s.bad("/api/links?min_confidence=nan", "min_confidence")
        .await;
    s.bad("/api/links?hours=9000", "hours").await;
    s.bad("/api/links?node_id=abc", "node_id").await;

    // `db rebuild-rollups` recomputes the model from the raw rows: the same links with the
    // same direct evidence. (Relays may differ: the rebuild names them knowing every
    // direct link, the writer only those seen so far.)
    let out = run_command(s.db.command(&["db", "rebuild-rollups"])).await;
    assert!(out.success, "rebuild failed:\n{}", out.all());
    let after = by_pair(&s.ok("/api/links?hours=201").await);
    let direct = |m: &HashMap<Pair, Value>| -> HashMap<Pair, [i64; 3]> {
        m.iter()
            .filter_map(|(k, l)| {
                let n = |s: &str| l["samples"][s].as_i64().unwrap();
                let d = [n("traceroute"), n("neighbor"), n("reception")];
                (d.iter().sum::<i64>() > 0).then_some((*k, d))
            })
            .collect()
    };
    assert_eq!(direct(&before), direct(&after));
    for (k, l) in &before {
        if l["samples"]["relay"] == 0 && after[k]["samples"]["relay"] == 0 {
            assert_eq!(l["median_snr"], after[k]["median_snr"], "{l}");
            assert_eq!(l["first_seen_us"], after[k]["first_seen_us"], "{l}");
        }
    }
}

crate::both_backends!(
    links_match_truth,
    links_match_truth_on_a_crowded_mesh,
    link_history_and_rebuild
);
