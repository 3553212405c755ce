//! Time travel: `/api/edges` for a past window answers the links of the traffic stored
//! in it, checked against the simulator's ground truth as it stood when that traffic
//! ended; older than the raw rows, it answers from the hourly rollups and says so.

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
    let get = |q: String| {
        let base = base.clone();
        async move {
            let (status, body) = crate::common::get_json(&format!("{base}{q}")).await;
            assert_eq!(status, 200, "{q}: {body}");
            body
        }
    };

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

both_backends!(edges_of_a_past_window_match_the_truth_then);
