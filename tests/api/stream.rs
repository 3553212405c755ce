//! `/api/stream`: what the writer stores reaches every client, filtered, quickly — from
//! the shared database poll (`serve` beside a separate writer) and from the in-memory
//! announcements (`meshview run`).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Backend, Spawned, TestDb, get_json};
use crate::exposition::{BATCH_BUCKETS, Exposition, INGEST_FAMILIES, READER_FAMILIES};
use crate::helpers::{
    Sse, capture, node_num, replay, sim_config, start_serve, wait_healthy, writer_env,
};

/// Arrival minus storage time (ms) of the events, sorted.
fn delays_ms(events: &[(crate::helpers::SseEvent, Value)]) -> Vec<f64> {
    let mut d: Vec<f64> = events
        .iter()
        .map(|(e, v)| (e.at_us - v["import_time_us"].as_i64().unwrap()) as f64 / 1000.0)
        .collect();
    d.sort_by(|a, b| a.partial_cmp(b).unwrap());
    d
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// The stream's items are exactly `/api/packets` items.
async fn same_as_list(base: &str, events: &[(crate::helpers::SseEvent, Value)]) {
    for (ev, item) in events.iter().step_by(97) {
        let id = item["id"].as_i64().unwrap();
        assert_eq!(ev.id.as_deref(), Some(id.to_string().as_str()));
        let (_, body) = get_json(&format!("{base}/api/packets?packet_id={id}")).await;
        let listed = body["packets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == item["id"])
            .unwrap()
            .clone();
        // Names are the ones known when the packet was stored; a NODEINFO stored later
        // renames the sender in lists, not in events already sent.
        let strip = |v: &Value| {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("long_name");
            v.as_object_mut().unwrap().remove("to_long_name");
            v
        };
        assert_eq!(strip(&listed), strip(item));
    }
}

async fn stream_polls_a_separate_writer(backend: Backend) {
    let db = TestDb::new(backend).await;
    let out = db.run(&["db", "upgrade"]).await;
    assert!(out.success, "{}", out.all());
    let (file, truth, _) = capture(&db, sim_config("msh/US/bayarea"));
    let server = start_serve(&db, &[]);
    let base = server.base_url().await;
    wait_healthy(&base, &server).await;

    let node = truth.nodes.keys().next().unwrap().clone();
    let mut all = Sse::connect(&format!("{base}/api/stream")).await;
    let mut texts = Sse::connect(&format!("{base}/api/stream?portnum=1")).await;
    let mut mine = Sse::connect(&format!(
        "{base}/api/stream?node={}",
        node.replace('!', "%21")
    ))
    .await;
    let mut private = Sse::connect(&format!("{base}/api/stream?channel=private")).await;
    let (_, metrics) = (0, metrics_text(&base).await);
    assert!(metrics.contains("meshview_stream_clients 4"), "{metrics}");

    // The writer runs while the first client reads, so arrival times are real.
    let writer = {
        let file = file.clone();
        let db_ref = &db;
        async move { replay(db_ref, &file).await }
    };
    let (events, ()) = tokio::join!(all.collect(truth.packets, Duration::from_secs(90)), writer);
    let ids: BTreeSet<i64> = events
        .iter()
        .map(|(_, v)| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), events.len(), "no duplicates");
    assert_eq!(events.len(), truth.packets, "every stored packet streamed");
    let d = delays_ms(&events);
    println!(
        "poll stream delay after storage (ms): p50 {:.0}, p90 {:.0}, max {:.0}",
        percentile(&d, 0.5),
        percentile(&d, 0.9),
        percentile(&d, 1.0)
    );
    // import_time_us is stamped on receipt; a replay stores everything in one or two big
    // batches, so this includes their commit. The paced run-mode test bounds the delay.
    assert!(percentile(&d, 0.5) < 3000.0, "{d:?}");
    same_as_list(&base, &events).await;

    let t = texts
        .collect(truth.packets_by_port[&1], Duration::from_secs(10))
        .await;
    assert_eq!(t.len(), truth.packets_by_port[&1]);
    assert!(t.iter().all(|(_, v)| v["portnum"] == 1));
    let n = node_num(&node);
    let (_, listed) = get_json(&format!("{base}/api/packets?node_id={n}&limit=1000")).await;
    let want = listed["packets"].as_array().unwrap().len();
    let m = mine.collect(want, Duration::from_secs(10)).await;
    assert_eq!(m.len(), want);
    assert!(
        m.iter()
            .all(|(_, v)| v["from_node_id"] == n || v["to_node_id"] == n)
    );
    let (_, listed) = get_json(&format!("{base}/api/packets?channel=Private&limit=1000")).await;
    let want = listed["packets"].as_array().unwrap().len();
    assert!(want > 0);
    let p = private.collect(want, Duration::from_secs(10)).await;
    assert_eq!(p.len(), want);
    assert!(p.iter().all(|(_, v)| v["channel"] == "Private"));

    for bad in ["portnum=x", "node=!zz", "portnum=-1"] {
        let (status, body) = get_json(&format!("{base}/api/stream?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    drop((all, texts, mine, private));
    server.terminate();
}

async fn metrics_text(base: &str) -> String {
    crate::common::http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn stream_in_run_mode(backend: Backend) {
    let db = TestDb::new(backend).await;
    let region = format!(
        "msh/apitest{}x{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros() % 1_000_000
    );
    let (_, truth, msgs) = capture(&db, sim_config(&region));
    let mut cmd = db.command(&["run"]);
    writer_env(&mut cmd);
    cmd.env("MESHVIEW_MQTT__SERVER", "127.0.0.1")
        .env("MESHVIEW_MQTT__PORT", "1883")
        // The machine's shared broker keeps sessions on disk: a persistent one per test
        // database would pile up there (the session tests use private brokers).
        .env("MESHVIEW_MQTT__PERSISTENT_SESSION", "false")
        .env("MESHVIEW_MQTT__TOPICS", format!("[\"{region}/#\"]"))
        .env("MESHVIEW_SERVER__BIND", "127.0.0.1")
        .env("MESHVIEW_SERVER__PORT", "0");
    let server = Spawned::start(cmd);
    let base = server.base_url().await;
    wait_healthy(&base, &server).await;
    server
        .wait_for_line("MQTT connected", Duration::from_secs(30))
        .await;
    // The subscription is acknowledged right after the connection.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut sse = Sse::connect(&format!("{base}/api/stream")).await;

    let publish = async {
        let mut opts = rumqttc::MqttOptions::new(region.replace('/', "-"), "127.0.0.1", 1883);
        opts.set_keep_alive(Duration::from_secs(30));
        // The capture includes deliberately oversized junk.
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 4096);
        let pump = tokio::spawn(async move {
            loop {
                if let Err(e) = eventloop.poll().await {
                    eprintln!("test publisher: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        // Paced like a busy broker (~400 messages/s), so batches stay small and the delay
        // measured is the stream's, not a huge batch's commit.
        for (i, (topic, payload)) in msgs.into_iter().enumerate() {
            client
                .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
            if i % 5 == 4 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        // Let the last publications leave before the client goes.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = client.disconnect().await;
        pump.abort();
    };
    let (events, ()) = tokio::join!(sse.collect(truth.packets, Duration::from_secs(90)), publish);
    let ids: BTreeSet<i64> = events
        .iter()
        .map(|(_, v)| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), events.len());
    assert_eq!(events.len(), truth.packets, "log:\n{}", server.log());
    let d = delays_ms(&events);
    println!(
        "in-process stream delay after storage (ms): p50 {:.0}, p90 {:.0}, max {:.0}",
        percentile(&d, 0.5),
        percentile(&d, 0.9),
        percentile(&d, 1.0)
    );
    // Receipt → batch (≤ 50 ms) → commit → stream; the stream's own part is small.
    assert!(percentile(&d, 0.5) < 250.0, "{d:?}");
    same_as_list(&base, &events).await;

    let (status, health) = get_json(&format!("{base}/health")).await;
    assert_eq!(status, 200);
    assert!(
        health["writer"]["seconds_since_last_received"].is_f64(),
        "{health}"
    );
    assert!(health["writer"]["packets_stored"].as_u64().unwrap() >= truth.packets as u64);
    let m = metrics_text(&base).await;
    for needle in [
        "meshview_ingest_messages_total{outcome=\"received\",reason=\"\"}",
        "meshview_ingest_batch_duration_seconds_bucket{le=\"+Inf\"}",
        "meshview_ingest_packets_stored_total ",
        "meshview_stream_clients 1",
    ] {
        assert!(m.contains(needle), "{needle} missing:\n{m}");
    }
    let e = Exposition::parse(&m);
    e.assert_families(&[READER_FAMILIES, INGEST_FAMILIES]);
    let messages = e.family("meshview_ingest_messages_total");
    let received = messages.value(
        "meshview_ingest_messages_total",
        &[("outcome", "received"), ("reason", "")],
    );
    assert!(received.is_some_and(|n| n >= truth.packets as f64), "{m}");
    let batches = e.family("meshview_ingest_batch_duration_seconds");
    let les: Vec<&str> = batches
        .samples
        .iter()
        .filter(|s| s.name.ends_with("_bucket"))
        .map(|s| s.labels["le"].as_str())
        .collect();
    assert_eq!(les, BATCH_BUCKETS, "{m}");
    let count = batches.value("meshview_ingest_batch_duration_seconds_count", &[]);
    assert!(count.is_some_and(|n| n >= 1.0), "{m}");
    // Shutdown ends open streams instead of waiting for them forever.
    let mut server = server;
    server.terminate();
    let code = server.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0), "log:\n{}", server.log());
    let rest = sse.collect(1, Duration::from_secs(2)).await;
    assert!(rest.is_empty());
}

crate::both_backends!(stream_polls_a_separate_writer, stream_in_run_mode);
