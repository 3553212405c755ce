//! The 337 real envelopes (tests/fixtures/real-traffic): stored exactly as a correct writer
//! must store them.

use std::collections::{BTreeMap, HashSet};

use meshview_protocol::{Keyring, decode_envelope};

use crate::both_backends;
use crate::common::{Backend, TestDb};
use crate::helpers::{real_envelopes, replay, write_capture};

async fn real_traffic_is_stored_exactly(backend: Backend) {
    let db = TestDb::new(backend).await;
    let envelopes = real_envelopes();
    assert_eq!(envelopes.len(), 337);
    let msgs: Vec<(String, Vec<u8>)> = envelopes
        .iter()
        .map(|e| ("msh/EU_868/2/e/LongFast/!00000000".to_string(), e.clone()))
        .collect();
    let capture = write_capture(db.dir.path(), "real.jsonl", &msgs);
    let log = replay(&db, &capture).await;

    // What the decoder says, computed independently of the writer.
    let keyring = Keyring::new();
    let mut packets = HashSet::new();
    let mut receptions = HashSet::new();
    let mut ports: BTreeMap<i32, HashSet<(u32, u32)>> = BTreeMap::new();
    let mut senders = HashSet::new();
    let mut gateways = HashSet::new();
    for (topic, bytes) in &msgs {
        if let Ok(env) = decode_envelope(topic, bytes, &keyring) {
            let key = (env.from().0, env.id());
            packets.insert(key);
            receptions.insert((key, env.gateway.0, env.rx_time()));
            ports.entry(env.portnum()).or_default().insert(key);
            senders.insert(env.from().0);
            gateways.insert(env.gateway.0);
        }
    }
    // The facts the data's README lists.
    assert_eq!(packets.len(), 261);
    assert_eq!(gateways.len(), 131);
    assert_eq!(senders.len(), 177);

    assert_eq!(db.count("packet").await, 261);
    assert_eq!(db.count("packet_seen").await, receptions.len() as i64);
    for (port, set) in &ports {
        assert_eq!(
            db.scalar(&format!(
                "SELECT count(*) FROM packet WHERE portnum = {port}"
            ))
            .await,
            set.len() as i64,
            "port {port}"
        );
    }
    // Every sender and every gateway has a node row; gateways are flagged.
    let nodes: HashSet<u32> = senders.union(&gateways).copied().collect();
    assert_eq!(db.count("node").await, nodes.len() as i64);
    assert_eq!(
        db.scalar("SELECT count(*) FROM node WHERE is_mqtt_gateway")
            .await,
        gateways.len() as i64
    );
    // Every sender's last_seen is set (MeshView only set it for 3 ports).
    assert_eq!(
        db.scalar("SELECT count(*) FROM node WHERE last_seen_us IS NULL")
            .await,
        0
    );
    // Names from NODEINFO, including emoji.
    assert!(
        db.scalar("SELECT count(*) FROM node WHERE long_name IS NOT NULL")
            .await
            > 50
    );
    // Nothing undecryptable in this capture; the 14 junk lines were counted.
    assert_eq!(
        db.scalar("SELECT count(*) FROM packet WHERE portnum = 0")
            .await,
        0
    );
    assert!(log.contains("\"not_protobuf\": 14"), "{log}");
    // Traceroutes: one row per (packet, gateway) reception.
    assert_eq!(
        db.count("traceroute").await,
        db.scalar(
            "SELECT count(*) FROM (SELECT DISTINCT s.packet_id, s.node_id FROM packet_seen s \
             JOIN packet p ON p.id = s.packet_id WHERE p.portnum = 70) t"
        )
        .await
    );
    // Replaying the same capture again adds nothing, to raw rows or rollups.
    replay(&db, &capture).await;
    assert_eq!(db.count("packet").await, 261);
    assert_eq!(db.count("packet_seen").await, receptions.len() as i64);
    assert_eq!(
        db.scalar("SELECT SUM(packets) FROM traffic_hourly").await,
        261
    );
    assert_eq!(
        db.scalar("SELECT SUM(receptions) FROM traffic_hourly")
            .await,
        receptions.len() as i64
    );
    for (port, set) in &ports {
        assert_eq!(
            db.scalar(&format!(
                "SELECT SUM(packets) FROM traffic_hourly WHERE portnum = {port}"
            ))
            .await,
            set.len() as i64
        );
    }
    // Links the capture's traceroutes and neighbour reports prove, per the decoder.
    let mut expected_links = HashSet::new();
    let mut first = HashSet::new();
    for (topic, bytes) in &msgs {
        if let Ok(env) = decode_envelope(topic, bytes, &keyring)
            && first.insert((env.from().0, env.id()))
            && let (Some(d), Some(p)) = (env.data(), env.payload())
        {
            for (l, source) in meshview_protocol::links::packet_links(env.from(), env.to(), d, &p) {
                expected_links.insert((l.from.0, l.to.0, source.as_str()));
            }
        }
    }
    let links = db.count("node_link").await;
    assert_eq!(links, expected_links.len() as i64);
    let link_sum = db.scalar("SELECT SUM(count) FROM node_link").await;

    // The writer kept the searchable text of the broadcast text messages.
    let texts = db.count("packet_text").await;
    assert!(texts > 0);
    let text_sig = db
        .scalar("SELECT SUM(packet_id % 1000003 + LENGTH(text_lower)) FROM packet_text")
        .await;

    // The migration that introduced the rollups rebuilds the same numbers from raw rows
    // (and, on the way back up, packet_text's migration refills the same texts).
    let down = db.run(&["db", "downgrade", "b30c781dc8c4"]).await;
    assert!(down.success, "{}", down.all());
    assert!(!db.table_exists("traffic_hourly").await);
    let up = db.run(&["db", "upgrade"]).await;
    assert!(up.success, "{}", up.all());
    assert_eq!(
        db.scalar("SELECT SUM(packets) FROM traffic_hourly").await,
        261
    );
    assert_eq!(
        db.scalar("SELECT SUM(receptions) FROM traffic_hourly")
            .await,
        receptions.len() as i64
    );
    assert_eq!(
        db.scalar("SELECT SUM(receptions) FROM traffic_hourly_total")
            .await,
        receptions.len() as i64
    );
    assert_eq!(db.count("node_link").await, links);
    assert_eq!(
        db.scalar("SELECT SUM(count) FROM node_link").await,
        link_sum
    );
    assert_eq!(db.count("packet_text").await, texts);
    assert_eq!(
        db.scalar("SELECT SUM(packet_id % 1000003 + LENGTH(text_lower)) FROM packet_text")
            .await,
        text_sig
    );

    // The rebuild command recomputes the rollups from raw rows.
    db.exec("DELETE FROM node_link; UPDATE traffic_hourly SET packets = 0; DELETE FROM traffic_hourly_total")
        .await;
    let out = db.run(&["db", "rebuild-rollups"]).await;
    assert!(out.success, "{}", out.all());
    assert_eq!(
        db.scalar("SELECT SUM(packets) FROM traffic_hourly").await,
        261
    );
    assert_eq!(
        db.scalar("SELECT SUM(packets) FROM traffic_hourly_total")
            .await,
        261
    );
    assert_eq!(db.count("node_link").await, links);
}

/// The real JSON-topic sample: skipped by default, stored when `mqtt.decode_json` is on,
/// with the NUL padding of its name removed (PostgreSQL text cannot hold NUL).
async fn json_topic_sample(backend: Backend) {
    let db = TestDb::new(backend).await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real-traffic/real_samples.jsonl");
    let line = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .find(|l| l.contains("JSON_TOPIC_NODEINFO"))
        .unwrap()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let payload = meshview_sim::b64_decode(v["payload_b64"].as_str().unwrap()).unwrap();
    let msgs = vec![("msh/EU_868/2/json/LongFast/!e2e52244".to_string(), payload)];
    let capture = write_capture(db.dir.path(), "json.jsonl", &msgs);
    let log = replay(&db, &capture).await;
    assert!(log.contains("\"json_topic\": 1"), "{log}");
    assert_eq!(db.count("packet").await, 0);

    let mut cmd = db.command(&["ingest", "--replay", capture.to_str().unwrap()]);
    cmd.env("MESHVIEW_MQTT__DECODE_JSON", "true");
    let out = crate::common::run_command(cmd).await;
    assert!(out.success, "{}", out.all());
    assert_eq!(db.count("packet").await, 1);
    assert_eq!(
        db.scalar("SELECT count(*) FROM node WHERE node_id = 4201166456 AND long_name = 'P2000 Portal ' AND short_name = 'P200'")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM node WHERE node_id = 3806667332 AND is_mqtt_gateway")
            .await,
        1
    );
}

both_backends!(real_traffic_is_stored_exactly, json_topic_sample);
