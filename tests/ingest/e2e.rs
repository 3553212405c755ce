//! The simulated mesh through the real Mosquitto into the real writer, compared with the
//! simulator's ground truth.

use std::collections::BTreeMap;
use std::time::Duration;

use meshview_protocol::{Message, NodeId, links, pb};
use meshview_sim::{SimConfig, Simulator, hex};

use crate::both_backends;
use crate::common::{Backend, Broker, TestDb, free_port};
use crate::helpers::{pairs, start_ingest, traceroutes, unique_prefix, wait_for_count};

fn sim_config(prefix: &str) -> SimConfig {
    SimConfig {
        nodes: 40,
        gateways: 6,
        packets: 600,
        seed: 7,
        region_topic: prefix.to_string(),
        ..SimConfig::default()
    }
}

async fn simulated_mesh_through_mosquitto_matches_ground_truth(backend: Backend) {
    let db = TestDb::new(backend).await;
    let prefix = unique_prefix("e2e");
    // A private broker configured as docs/ingest.md asks of an operator: the publisher
    // sends at QoS 1 as fast as it can, faster than the writer commits, and the writer's
    // persistent session is fed from the broker's queue (Mosquitto's default of 1000
    // queued messages would drop the rest of the burst).
    let port = free_port();
    let _broker = Broker::start(port).await;
    let mut writer = start_ingest(
        &db,
        port,
        &format!("[\"{prefix}/#\"]"),
        &[(
            "MESHVIEW_MQTT__SECONDARY_KEYS",
            meshview_sim::DEFAULT_SECONDARY_KEY_B64,
        )],
    );
    writer
        .wait_for_line("MQTT connected", Duration::from_secs(30))
        .await;

    let cfg = sim_config(&prefix);
    let mut sim = Simulator::new(cfg.clone()).unwrap();
    for _ in sim.by_ref() {}
    let truth = sim.truth().clone();

    let mut cmd = db.command(&[
        "simulate",
        "--publish",
        "--rate",
        "0",
        "--topic-prefix",
        &prefix,
        "--nodes",
        "40",
        "--gateways",
        "6",
        "--packets",
        "600",
        "--seed",
        "7",
    ]);
    cmd.env("MESHVIEW_MQTT__SERVER", "127.0.0.1")
        .env("MESHVIEW_MQTT__PORT", port.to_string());
    let out = crate::common::run_command(cmd).await;
    assert!(out.success, "{}", out.all());
    let packets = wait_for_count(
        &db,
        "SELECT count(*) FROM packet",
        truth.packets as i64,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        packets,
        truth.packets as i64,
        "writer log:\n{}",
        writer.log()
    );
    let receptions = wait_for_count(
        &db,
        "SELECT count(*) FROM packet_seen",
        truth.receptions as i64,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(receptions, truth.receptions as i64);

    // Packets per port (0 = undecryptable, kept as ciphertext).
    let by_port = pairs(
        &db,
        "SELECT CAST(portnum AS VARCHAR), count(*) FROM packet GROUP BY portnum",
    )
    .await;
    let want: BTreeMap<String, i64> = truth
        .packets_by_port
        .iter()
        .map(|(p, n)| (p.to_string(), *n as i64))
        .collect();
    assert_eq!(by_port, want);
    assert_eq!(
        db.scalar("SELECT count(*) FROM packet WHERE portnum = 0")
            .await,
        truth.undecryptable as i64
    );
    // Receptions per gateway.
    let by_gw = pairs(
        &db,
        "SELECT CAST(node_id AS VARCHAR), count(*) FROM packet_seen GROUP BY node_id",
    )
    .await;
    let by_gw: BTreeMap<String, i64> = by_gw
        .into_iter()
        .map(|(k, v)| (hex(k.parse::<u32>().unwrap()), v))
        .collect();
    let want: BTreeMap<String, i64> = truth
        .receptions_by_gateway
        .iter()
        .map(|(g, n)| (g.clone(), *n as i64))
        .collect();
    assert_eq!(by_gw, want);
    // Gateways flagged, every node present, names and positions as sent.
    assert_eq!(
        db.scalar("SELECT count(*) FROM node WHERE is_mqtt_gateway")
            .await,
        truth.gateways.len() as i64
    );
    assert_eq!(db.count("node").await, truth.nodes.len() as i64);
    let mut conn = db.conn().await;
    type NodeRow = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<i64>,
    );
    const NQ: &str = "SELECT id, long_name, hw_model, role, last_lat, last_long FROM node";
    let rows: Vec<NodeRow> = match &mut conn {
        meshview_store::connect::Conn::Sqlite(c) => sqlx::query_as(NQ).fetch_all(&mut *c).await,
        meshview_store::connect::Conn::Postgres(c) => sqlx::query_as(NQ).fetch_all(&mut *c).await,
    }
    .unwrap();
    conn.close().await;
    for (id, long_name, hw, role, lat, lon) in rows {
        let t = truth
            .nodes
            .get(&id)
            .unwrap_or_else(|| panic!("unexpected node {id}"));
        assert_eq!(long_name, t.long_name, "{id}");
        assert_eq!(hw, t.hw_model, "{id}");
        assert_eq!(role, t.role, "{id}");
        if let (Some(lat), Some(lon)) = (lat, lon) {
            let p = (lat as i32, lon as i32);
            assert!(
                t.last_position == Some(p) || t.last_map_position == Some(p),
                "{id}: stored {p:?}, sent {:?} / {:?}",
                t.last_position,
                t.last_map_position
            );
        } else {
            assert!(!t.has_position, "{id} lost its position");
        }
    }
    assert!(
        truth
            .nodes
            .values()
            .any(|n| n.long_name.as_deref() == Some(meshview_sim::HOSTILE_NAME))
    );

    // Traceroutes: forward and return paths rebuilt from the stored rows.
    let rows = traceroutes(&db).await;
    let mut replies_checked = 0;
    for t in &truth.traceroutes {
        let (Some(reply), Some(ret)) = (&t.reply, &t.return_path) else {
            continue;
        };
        let reply_from: NodeId = reply.from.parse().unwrap();
        let row = rows
            .iter()
            .find(|r| r.request_id == Some(t.request.id as i64) && r.from == reply_from.0 as i64)
            .unwrap_or_else(|| panic!("no stored reply for traceroute {:?}", t.request));
        assert!(row.done);
        let rd = pb::RouteDiscovery::decode(row.route.as_slice()).unwrap();
        let (fwd, back) = links::traceroute_paths(
            NodeId(row.from as u32),
            NodeId(row.to as u32),
            false,
            t.request.id,
            &rd,
        );
        let names = |p: &links::Path| p.nodes.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(names(&fwd), t.forward_path);
        assert_eq!(names(&back.unwrap()), *ret);
        // route_return holds exactly the return leg.
        let rr = pb::RouteDiscovery::decode(row.route_return.as_deref().unwrap()).unwrap();
        assert_eq!(rr.route_back, rd.route_back);
        assert!(rr.route.is_empty());
        replies_checked += 1;
    }
    assert!(
        replies_checked > 0,
        "the simulation should contain answered traceroutes"
    );
    // Both kinds of links reach the node_link rollup.
    for source in ["traceroute", "neighbor"] {
        assert!(
            db.scalar(&format!(
                "SELECT count(*) FROM node_link WHERE source = '{source}'"
            ))
            .await
                > 0,
            "no {source} links"
        );
    }
    // One traceroute row per packet and gateway.
    let distinct = db
        .scalar(
            "SELECT count(*) FROM (SELECT DISTINCT s.packet_id, s.node_id FROM packet_seen s \
             JOIN packet p ON p.id = s.packet_id WHERE p.portnum = 70) t",
        )
        .await;
    assert_eq!(db.count("traceroute").await, distinct);
    // The deliberate id collision: both senders' packets are stored.
    for c in &truth.collisions {
        assert_eq!(
            db.scalar(&format!(
                "SELECT count(*) FROM packet WHERE id % 4294967296 = {}",
                c.id
            ))
            .await,
            2
        );
    }

    // Shutdown: exit 0, junk counted and rejected.
    writer.terminate();
    assert_eq!(
        writer.wait_exit(Duration::from_secs(30)).await,
        Some(0),
        "{}",
        writer.log()
    );
    let log = writer.log();
    assert!(log.contains("everything accepted is stored"), "{log}");
    let junk: usize = truth.junk.values().sum();
    assert!(junk > 0);
    assert!(
        log.contains(&format!("received={}", truth.messages)),
        "{log}"
    );
}

both_backends!(simulated_mesh_through_mosquitto_matches_ground_truth);
