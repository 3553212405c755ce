//! Time travel: `/api/edges` for a past window answers the links of the traffic stored
//! in it, checked against the simulator's ground truth as it stood when that traffic
//! ended; `/api/nodes` as of a moment answers what the live list said then; stats end
//! with the moment's bucket. Older than the raw rows, answers come from the rollups and
//! say so.

use std::collections::HashSet;

use meshview_sim::{GroundTruth, Simulator, capture_line};
use serde_json::Value;

use crate::both_backends;
use crate::common::{Backend, TestDb};
use crate::helpers::{node_num, replay, sim_config, start_serve, wait_healthy};
use meshview_store::{Db, Role, now_us};

type Pair = (i64, i64);

/// Stores the simulator's traffic in two halves, one after the other; returns the
/// times before, between and after, and the truth after each half.
async fn two_halves(db: &TestDb) -> ([i64; 3], GroundTruth, GroundTruth) {
    let mut sim = Simulator::new(sim_config("msh/US/bayarea")).expect("simulator");
    let all: Vec<String> = sim.by_ref().map(|m| capture_line(&m)).collect();
    // The truth is updated as messages are yielded: a second run stopped halfway is the
    // truth of the first half.
    let mut half = Simulator::new(sim_config("msh/US/bayarea")).expect("simulator");
    let n = all.len() / 2;
    half.by_ref().take(n).for_each(drop);
    let (first_truth, whole_truth) = (half.truth().clone(), sim.truth().clone());
    let mut times = [now_us(), 0, 0];
    for (i, part) in [&all[..n], &all[n..]].into_iter().enumerate() {
        let file = db.dir.path().join(format!("half{i}.jsonl"));
        std::fs::write(&file, part.join("\n") + "\n").unwrap();
        replay(db, &file).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        times[i + 1] = now_us();
    }
    (times, first_truth, whole_truth)
}

/// A 200 answer's body.
async fn ok(base: &str, q: String) -> Value {
    let (status, body) = crate::common::get_json(&format!("{base}{q}")).await;
    assert_eq!(status, 200, "{q}: {body}");
    body
}

fn traceroute_pairs(t: &GroundTruth) -> HashSet<Pair> {
    t.links
        .iter()
        .filter(|(_, l)| l.traceroute > 0)
        .map(|((f, to), _)| (node_num(f), node_num(to)))
        .filter(|(f, to)| f != to)
        .collect()
}

fn pairs(body: &Value, kind: &str) -> HashSet<Pair> {
    body["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges: {body}"))
        .iter()
        .filter(|e| e["type"] == kind)
        .map(|e| (e["from"].as_i64().unwrap(), e["to"].as_i64().unwrap()))
        .collect()
}

async fn edges_of_a_past_window_match_the_truth_then(backend: Backend) {
    let db = TestDb::new(backend).await;
    let ([t0, t1, t2], first, whole) = two_halves(&db).await;
    let server = start_serve(&db, &[]);
    let base = server.base_url().await;
    wait_healthy(&base, &server).await;
    let get = |q: String| ok(&base, q);

    // The first half's window: exactly the traceroute links its traffic evidenced.
    let body = get(format!("/api/edges?type=traceroute&from={t0}&to={t1}")).await;
    assert_eq!(body["window"]["from_us"], t0, "{body}");
    assert_eq!(body["window"]["from_rollups"], false, "{body}");
    let want = traceroute_pairs(&first);
    assert!(!want.is_empty());
    assert_eq!(pairs(&body, "traceroute"), want);
    // `at` names the same window's end.
    let hours = (t1 - t0) / 3_600_000_000 + 1;
    let at = get(format!("/api/edges?type=traceroute&at={t1}&hours={hours}")).await;
    assert_eq!(pairs(&at, "traceroute"), want);

    // The second half's window: the links evidenced after the first half.
    let later = get(format!(
        "/api/edges?type=traceroute&from={}&to={t2}",
        t1 + 1
    ))
    .await;
    let second: HashSet<Pair> = whole
        .links
        .iter()
        .filter(|((f, to), l)| {
            let before = first
                .links
                .get(&(f.clone(), to.clone()))
                .map_or(0, |b| b.traceroute);
            l.traceroute > before && f != to
        })
        .map(|((f, to), _)| (node_num(f), node_num(to)))
        .collect();
    assert_eq!(pairs(&later, "traceroute"), second);
    assert_ne!(second, want, "the halves differ");

    // Neighbour links of the first half: each reporter's latest report then, all of them
    // links the truth had seen reported by then.
    let neighbor = get(format!("/api/edges?type=neighbor&from={t0}&to={t1}")).await;
    let got = pairs(&neighbor, "neighbor");
    let reported: HashSet<Pair> = first
        .links
        .iter()
        .filter(|(_, l)| l.neighbor > 0)
        .map(|((f, to), _)| (node_num(f), node_num(to)))
        .collect();
    assert!(!got.is_empty() && got.is_subset(&reported));

    // A time that is no time is a 400 naming the parameter; a window too long, or
    // starting after its end, is clamped, and the answer says which window it covers.
    for q in ["at=soon", "from=2020-13-01", "to=-5"] {
        let (status, body) = crate::common::get_json(&format!("{base}/api/edges?{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(
            body["parameter"],
            q.split('=').next().unwrap(),
            "{q}: {body}"
        );
    }
    const DAY: i64 = 86_400_000_000;
    for (q, from, to) in [
        (format!("from={t1}&to={t0}"), t0, t0),
        (format!("from={}&to={t1}", t1 - 40 * DAY), t1 - 31 * DAY, t1),
    ] {
        let body = get(format!("/api/edges?{q}")).await;
        assert_eq!(
            (&body["window"]["from_us"], &body["window"]["to_us"]),
            (&Value::from(from), &Value::from(to)),
            "{q}: {body}"
        );
    }

    // Once the raw rows of the first half are purged, its window is answered from the
    // hourly rollups, and says so: links with samples in those hours.
    // (A new reader: the first one has the window's answer cached.)
    server.terminate();
    let writer = Db::open(&db.url, Role::Writer).await.unwrap();
    let purged = meshview_store::retention::purge_before(&writer, t1, &Default::default())
        .await
        .unwrap();
    writer.close().await;
    assert!(purged.packets > 0);
    let server = start_serve(&db, &[]);
    let base = server.base_url().await;
    wait_healthy(&base, &server).await;
    let (status, old) = crate::common::get_json(&format!(
        "{base}/api/edges?type=traceroute&from={t0}&to={t1}"
    ))
    .await;
    assert_eq!(status, 200, "{old}");
    assert_eq!(old["window"]["from_rollups"], true, "{old}");
    let from_rollups = pairs(&old, "traceroute");
    assert!(
        want.is_subset(&from_rollups) && from_rollups.is_subset(&traceroute_pairs(&whole)),
        "the rollups' hours hold the first half's links, and no link never seen"
    );
}

/// Each node's number → (position, long and short name, gateway flag), as a node list
/// answers them.
type NodeFacts = std::collections::BTreeMap<i64, (Value, Value, Value, Value)>;

fn node_facts(body: &Value) -> NodeFacts {
    body["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no nodes: {body}"))
        .iter()
        .map(|n| {
            (
                n["node_id"].as_i64().unwrap(),
                (
                    serde_json::json!([n["last_lat"], n["last_long"]]),
                    n["long_name"].clone(),
                    n["short_name"].clone(),
                    n["is_mqtt_gateway"].clone(),
                ),
            )
        })
        .collect()
}

/// `/api/nodes` as of the moment the first half was stored equals the live list of a
/// database that holds only the first half: the same nodes, at the positions they had
/// then (the simulator's mobile nodes move between the halves).
async fn nodes_and_stats_of_a_past_moment(backend: Backend) {
    let db = TestDb::new(backend).await;
    let ([t0, t1, t2], first, _) = two_halves(&db).await;
    let then = TestDb::new(backend).await;
    replay(&then, &db.dir.path().join("half0.jsonl")).await;
    let (server, earlier) = (start_serve(&db, &[]), start_serve(&then, &[]));
    let (base, base_then) = (server.base_url().await, earlier.base_url().await);
    wait_healthy(&base, &server).await;
    wait_healthy(&base_then, &earlier).await;
    let get = |q: String| ok(&base, q);
    let (_, live_then) = crate::common::get_json(&format!("{base_then}/api/nodes")).await;
    let want = node_facts(&live_then);
    assert!(!want.is_empty());

    let past = get(format!("/api/nodes?at={t1}")).await;
    assert_eq!(past["window"]["to_us"], t1, "{past}");
    assert_eq!(past["window"]["from_rollups"], false, "{past}");
    // The same nodes at the same positions. Names are the current ones (nodes announce
    // theirs now and then: some were first named in the second half).
    let got = node_facts(&past);
    assert_eq!(
        got.iter().map(|(k, v)| (k, &v.0)).collect::<Vec<_>>(),
        want.iter().map(|(k, v)| (k, &v.0)).collect::<Vec<_>>()
    );
    for (id, (_, long, short, _)) in &want {
        if !long.is_null() {
            assert_eq!((long, short), (&got[id].1, &got[id].2), "node {id}");
        }
    }
    for n in past["nodes"].as_array().unwrap() {
        let seen = n["last_seen_us"].as_i64().unwrap();
        assert!((t0..=t1).contains(&seen), "{n}");
    }
    // Every node the truth saw a position of by then has one.
    let positioned: HashSet<i64> = first
        .nodes
        .iter()
        .filter(|(_, n)| n.has_position)
        .map(|(id, _)| node_num(id))
        .collect();
    for (id, (pos, ..)) in node_facts(&past) {
        assert_eq!(
            pos[0].is_i64(),
            positioned.contains(&id),
            "node {id}: {pos}"
        );
    }
    // Before anything was stored: no node.
    let none = get(format!("/api/nodes?at={}", t0 - 1)).await;
    assert_eq!(none["nodes"], serde_json::json!([]), "{none}");

    // The second half's window: the nodes heard in it, which the live list says were
    // last heard after the first half.
    let live = get("/api/nodes".into()).await;
    let heard_later: HashSet<i64> = live["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["last_seen_us"].as_i64().unwrap() > t1)
        .map(|n| n["node_id"].as_i64().unwrap())
        .collect();
    // (The positions then are not the current ones: mobile nodes moved.)
    let now = node_facts(&live);
    assert!(
        want.iter().any(|(id, v)| now[id].0 != v.0),
        "no node moved between the halves"
    );
    let window = get(format!("/api/nodes?from={}&to={t2}", t1 + 1)).await;
    let got: HashSet<i64> = node_facts(&window).into_keys().collect();
    assert_eq!(got, heard_later);
    assert_eq!(window["window"]["from_us"], t1 + 1, "{window}");
    // `days_active` counts back from the moment; a bad time is a 400 naming it.
    let recent = get(format!("/api/nodes?at={t1}&days_active=0")).await;
    assert_eq!(recent["nodes"], serde_json::json!([]), "{recent}");
    let (status, body) = crate::common::get_json(&format!("{base}/api/nodes?at=later")).await;
    assert_eq!(
        (status, &body["parameter"]),
        (400, &Value::from("at")),
        "{body}"
    );

    // Stats: a window ending with the hour of the moment counts what the rollups hold up
    // to that hour's end; one ending before anything was stored counts nothing.
    const HOUR: i64 = 3_600_000_000;
    let live_series = get("/api/stats?period_type=hour&length=3".into()).await;
    let ahead = get(format!(
        "/api/stats?period_type=hour&length=5&to={}",
        t2 + 2 * HOUR
    ))
    .await;
    let counts = |b: &Value| -> Vec<i64> {
        b["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{b}"))
            .iter()
            .map(|p| p["count"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(counts(&ahead)[..3], counts(&live_series)[..], "{ahead}");
    assert_eq!(counts(&ahead)[3..], [0, 0]);
    assert_eq!(ahead["data"][0], live_series["data"][0]);
    assert_eq!(
        ahead["window"]["to_us"],
        (t2 + 2 * HOUR).div_euclid(HOUR) * HOUR + HOUR - 1
    );
    let before = get(format!(
        "/api/stats?period_type=day&length=7&to={}",
        t0 - 86_400_000_000
    ))
    .await;
    assert!(counts(&before).iter().all(|&c| c == 0), "{before}");
    let count_before = get(format!("/api/stats/count?to={}", t0 - 86_400_000_000)).await;
    assert_eq!(count_before["total_packets"], 0, "{count_before}");
    let count_now = get(format!("/api/stats/count?to={t2}")).await;
    let everything = get("/api/stats/count".into()).await;
    assert_eq!(count_now["total_packets"], everything["total_packets"]);
    let top_before = get(format!("/api/stats/top?to={}", t0 - 86_400_000_000)).await;
    assert_eq!(top_before["total"], 0, "{top_before}");
    let top_now = get(format!("/api/stats/top?to={t2}")).await;
    let top_live = get("/api/stats/top".into()).await;
    assert_eq!(top_now["nodes"], top_live["nodes"]);
    assert!(top_live["total"].as_i64().unwrap() > 0);

    // Once the first half's raw rows are purged, the list as of then comes from the
    // rollups and says so: the same nodes, last seen on their day.
    server.terminate();
    earlier.terminate();
    let writer = Db::open(&db.url, Role::Writer).await.unwrap();
    meshview_store::retention::purge_before(&writer, t1 + 1, &Default::default())
        .await
        .unwrap();
    writer.close().await;
    let server = start_serve(&db, &[]);
    let base = server.base_url().await;
    wait_healthy(&base, &server).await;
    let (status, old) = crate::common::get_json(&format!("{base}/api/nodes?at={t1}")).await;
    assert_eq!(status, 200, "{old}");
    assert_eq!(old["window"]["from_rollups"], true, "{old}");
    assert_eq!(
        node_facts(&old).into_keys().collect::<Vec<_>>(),
        want.into_keys().collect::<Vec<_>>()
    );
}

both_backends!(
    edges_of_a_past_window_match_the_truth_then,
    nodes_and_stats_of_a_past_moment
);
