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

/// Every link `query` matches, walking its pages (`limit` per page): each page says the
/// same `total`, pages follow each other without repeat or gap, the last says so.
async fn all_links(s: &Served, query: &str, limit: i64) -> HashMap<Pair, Value> {
    let sep = if query.contains('?') { '&' } else { '?' };
    let (mut all, mut order) = (HashMap::new(), Vec::new());
    let mut offset = 0;
    let mut total = None;
    loop {
        let body = s
            .ok(&format!("{query}{sep}limit={limit}&offset={offset}"))
            .await;
        let t = body["total"].as_i64().unwrap();
        assert_eq!(
            *total.get_or_insert(t),
            t,
            "total changed between pages: {body}"
        );
        let page = body["links"].as_array().unwrap();
        assert!(page.len() as i64 <= limit, "{body}");
        for l in page {
            let k = (l["from"].as_i64().unwrap(), l["to"].as_i64().unwrap());
            assert!(all.insert(k, l.clone()).is_none(), "{k:?} on two pages");
            order.push(l["confidence"].as_f64().unwrap());
        }
        match body["next_offset"].as_i64() {
            Some(next) => {
                assert_eq!(next, offset + page.len() as i64, "{body}");
                offset = next;
            }
            None => {
                assert_eq!(offset + page.len() as i64, t, "the last page ends at total");
                break;
            }
        }
    }
    assert!(
        order.windows(2).all(|w| w[0] >= w[1]),
        "most confident first"
    );
    all
}

/// The model against the simulator's radio truth: every link it reports exists, it finds
/// the links the traffic evidenced, and its median SNR is the link's true SNR.
async fn links_match_truth(backend: Backend) {
    let s = Served::start(backend).await;
    check_truth(&s).await;

    // Pages: walked in small pages, the same links as one big page.
    let got = by_pair(&s.ok("/api/links?limit=5000").await);
    assert_eq!(all_links(&s, "/api/links", 37).await, got);
    let first = s.ok("/api/links?limit=5").await;
    assert_eq!(first["links"].as_array().unwrap().len(), 5.min(got.len()));
    assert_eq!(first["total"].as_i64().unwrap(), got.len() as i64);
    let past = s.ok("/api/links?offset=50000").await;
    assert_eq!(past["links"], serde_json::json!([]), "{past}");
    assert!(past["next_offset"].is_null(), "{past}");

    // Filters: one node's links touch it; a confidence floor holds.
    let (&(a, _), _) = got.iter().next().unwrap();
    let mine = by_pair(&s.ok(&format!("/api/links?node_id={a}")).await);
    assert!(!mine.is_empty());
    assert!(mine.keys().all(|&(f, t)| f == a || t == a));
    assert_eq!(
        mine.len(),
        got.keys().filter(|&&(f, t)| f == a || t == a).count()
    );
    let sure = all_links(&s, "/api/links?min_confidence=0.9", 1000).await;
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
    let got = all_links(s, "/api/links", 5000).await;
    assert!(!got.is_empty(), "no links");
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
    let before = all_links(&s, "/api/links?hours=200", 5000).await;
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
    s.bad("/api/links?limit=0", "limit").await;
    s.bad("/api/links?limit=5001", "limit").await;
    s.bad("/api/links?offset=-1", "offset").await;

    // `db rebuild-rollups` recomputes the model from the raw rows: the same links with the
    // same direct evidence. (Relays may differ: the rebuild names them knowing every
    // direct link, the writer only those seen so far.)
    let out = run_command(s.db.command(&["db", "rebuild-rollups"])).await;
    assert!(out.success, "rebuild failed:\n{}", out.all());
    let after = all_links(&s, "/api/links?hours=201", 5000).await;
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
