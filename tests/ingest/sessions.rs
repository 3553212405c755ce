//! At-least-once delivery across restarts: the writer's persistent MQTT session (stable
//! client id, QoS 1, acknowledgements after commit) against a private Mosquitto that queues
//! for it, with the writer killed (`kill -9`) and restarted mid-stream; and the clean
//! session of `mqtt.persistent_session = false`, which loses what is published while the
//! writer is away, as before.

use std::collections::BTreeMap;
use std::time::Duration;

use meshview::ingest::mqtt::MqttSettings;
use meshview_sim::{SimConfig, Simulator, capture_line, hex};
use rand::Rng;

use crate::both_backends;
use crate::common::{Backend, Broker, Spawned, TestDb, free_port, get_json};
use crate::helpers::{keys, pairs, publish, run_cmd, start_ingest, truth_packets, unique_prefix};

/// The writer's environment in these tests: the simulator's key, no flood guard (the stream
/// is many simulated hours compressed into seconds).
fn writer_env() -> Vec<(&'static str, &'static str)> {
    vec![
        keys(),
        ("MESHVIEW_MQTT__FLOOD_PER_MINUTE", "0"),
        ("MESHVIEW_MQTT__FLOOD_PER_HOUR", "0"),
    ]
}

fn broker_settings(port: u16) -> MqttSettings {
    MqttSettings {
        host: "127.0.0.1".into(),
        port,
        topics: vec![],
        username: None,
        password: None,
        client_id: None,
        tls: false,
        ca_pem: None,
        persistent_session: true,
    }
}

/// Polls `sql` until it stops changing for `quiet` and returns it (or the last value at
/// `timeout`).
async fn settled(db: &TestDb, sql: &str, want: i64, timeout: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = db.scalar(sql).await;
        if n >= want || tokio::time::Instant::now() > deadline {
            // Nothing more may arrive: a reception more would be a failure too.
            tokio::time::sleep(Duration::from_secs(1)).await;
            return db.scalar(sql).await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Receptions per gateway (`!hex` → count).
async fn by_gateway(db: &TestDb) -> BTreeMap<String, i64> {
    pairs(
        db,
        "SELECT CAST(node_id AS VARCHAR), count(*) FROM packet_seen GROUP BY node_id",
    )
    .await
    .into_iter()
    .map(|(k, v)| (hex(k.parse::<u32>().unwrap()), v))
    .collect()
}

/// What the rollups hold that does not depend on batch boundaries or clock: per-link
/// packet counts and evidence counts by source.
async fn rollups(db: &TestDb) -> BTreeMap<String, i64> {
    let mut out = pairs(
        db,
        "SELECT CAST(from_node_id AS VARCHAR) || '>' || CAST(to_node_id AS VARCHAR) || ' ' || source, \
         count FROM node_link",
    )
    .await;
    out.extend(
        pairs(
            db,
            "SELECT CAST(from_node_id AS VARCHAR) || '>' || CAST(to_node_id AS VARCHAR) || ' quality', \
             traceroute_samples * 1000000 + neighbor_samples * 1000 + reception_samples FROM link_quality",
        )
        .await,
    );
    out
}

/// Publishes a simulated capture at QoS 1 into a private Mosquitto that queues for
/// offline sessions, while the writer is killed with SIGKILL at random moments five times
/// and restarted; then the database holds exactly the ground truth, and the rollups count
/// each reception once.
async fn killed_writer_loses_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let port = free_port();
    let broker = Broker::start(port).await;
    let prefix = unique_prefix("kill");
    let topics = format!("[\"{prefix}/#\"]");
    let env = writer_env();

    let cfg = SimConfig {
        nodes: 30,
        gateways: 5,
        packets: 2500,
        seed: 21,
        region_topic: prefix.clone(),
        ..SimConfig::default()
    };
    let mut sim = Simulator::new(cfg).unwrap();
    let messages: Vec<(String, Vec<u8>)> = sim.by_ref().map(|m| (m.topic, m.payload)).collect();
    let truth = sim.truth().clone();
    // The reference: the same messages replayed into a fresh database, nobody killed.
    let capture: String = Simulator::new(SimConfig {
        nodes: 30,
        gateways: 5,
        packets: 2500,
        seed: 21,
        region_topic: prefix.clone(),
        ..SimConfig::default()
    })
    .unwrap()
    .map(|m| capture_line(&m) + "\n")
    .collect();
    let reference = TestDb::new(Backend::Sqlite).await;
    let capture_path = reference.dir.path().join("capture.jsonl");
    std::fs::write(&capture_path, capture).unwrap();
    let mut cmd = reference.command(&["ingest", "--replay", capture_path.to_str().unwrap()]);
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let out = crate::common::run_command(cmd).await;
    assert!(out.success, "{}", out.all());
    assert_eq!(
        reference.count("packet_seen").await,
        truth.receptions as i64
    );

    let mut writer = start_ingest(&db, port, &topics, &env);
    writer
        .wait_for_line("MQTT subscribed", Duration::from_secs(30))
        .await;
    assert!(
        writer.log().contains("session=persistent"),
        "{}",
        writer.log()
    );

    // About 1,000 messages per second for ~12 s (a debug build on two shared cores).
    let rate = 1000.0;
    let publisher = tokio::spawn({
        let settings = broker_settings(port);
        let messages = messages.clone();
        async move {
            meshview::ingest::publish::publish(messages.into_iter(), &settings, rate, |_| {})
                .await
                .unwrap()
        }
    });
    let mut rng = rand::rng();
    let mut logs = String::new();
    for round in 0..5 {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1500))).await;
        // SIGKILL: no flush, no goodbye.
        writer.child.start_kill().unwrap();
        let _ = writer.child.wait().await;
        logs.push_str(&format!(
            "--- writer run {round} (killed) ---\n{}\n",
            writer.log()
        ));
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..2000))).await;
        writer = start_ingest(&db, port, &topics, &env);
        writer
            .wait_for_line("MQTT session resumed", Duration::from_secs(30))
            .await;
    }
    let published = publisher.await.unwrap();
    assert_eq!(published, truth.messages);

    let receptions = settled(
        &db,
        "SELECT count(*) FROM packet_seen",
        truth.receptions as i64,
        Duration::from_secs(120),
    )
    .await;
    let all_logs = || format!("{logs}--- last writer ---\n{}", writer.log());
    assert_eq!(
        receptions,
        truth.receptions as i64,
        "receptions stored vs the ground truth\n{}",
        all_logs()
    );
    assert_eq!(db.count("packet").await, truth.packets as i64);
    let want: BTreeMap<String, i64> = truth
        .receptions_by_gateway
        .iter()
        .map(|(g, n)| (g.clone(), *n as i64))
        .collect();
    assert_eq!(by_gateway(&db).await, want);
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
    // Rollups count what was inserted, once: redelivered messages add nothing.
    for table in ["traffic_hourly", "traffic_hourly_total"] {
        assert_eq!(
            db.scalar(&format!("SELECT sum(receptions) FROM {table}"))
                .await,
            truth.receptions as i64,
            "{table}"
        );
        assert_eq!(
            db.scalar(&format!("SELECT sum(packets) FROM {table}"))
                .await,
            truth.packets as i64,
            "{table}"
        );
    }
    assert_eq!(rollups(&db).await, rollups(&reference).await);
    assert_eq!(
        db.count("traceroute").await,
        reference.count("traceroute").await
    );
    assert_eq!(db.count("node").await, truth.nodes.len() as i64);

    // A clean stop acknowledges what it committed: nothing is redelivered to the next run.
    writer.terminate();
    assert_eq!(writer.wait_exit(Duration::from_secs(30)).await, Some(0));
    let mut last = start_ingest(&db, port, &topics, &env);
    last.wait_for_line("MQTT subscribed", Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    last.terminate();
    assert_eq!(last.wait_exit(Duration::from_secs(30)).await, Some(0));
    assert!(
        last.log().contains("received=0"),
        "a clean stop left messages unacknowledged:\n{}",
        last.log()
    );
    drop(broker);
}

both_backends!(killed_writer_loses_nothing);

/// `mqtt.persistent_session = false`: today's clean session. What is published while the
/// writer is down is lost; the writer says so on `/health`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_session_forgets_what_was_published_while_down() {
    let db = TestDb::new(Backend::Sqlite).await;
    let port = free_port();
    let broker = Broker::start(port).await;
    let prefix = unique_prefix("clean");
    let start = || {
        let mut cmd = run_cmd(&db, port, &prefix);
        cmd.env("MESHVIEW_MQTT__PERSISTENT_SESSION", "false");
        for (k, v) in writer_env() {
            cmd.env(k, v);
        }
        Spawned::start(cmd)
    };
    let mut writer = start();
    writer
        .wait_for_line("MQTT subscribed", Duration::from_secs(30))
        .await;
    let base = writer.base_url().await;
    let health = writer_health(&base).await;
    assert_eq!(health["writer"]["mqtt_session"], "clean", "{health}");
    assert!(writer.log().contains("session=clean"), "{}", writer.log());

    writer.child.start_kill().unwrap();
    let _ = writer.child.wait().await;
    // Published while the writer is away: a clean session has nobody to keep it for.
    let (lost, _) = truth_packets(&format!("{prefix}/a"), 31, 60);
    assert!(lost > 0);
    publish(&db, port, &format!("{prefix}/a"), 31, 60).await;
    let mut writer = start();
    writer
        .wait_for_line("MQTT subscribed", Duration::from_secs(30))
        .await;
    let (kept, _) = truth_packets(&format!("{prefix}/b"), 32, 60);
    publish(&db, port, &format!("{prefix}/b"), 32, 60).await;
    let stored = settled(
        &db,
        "SELECT count(*) FROM packet",
        kept as i64,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(stored, kept as i64, "{}", writer.log());
    writer.terminate();
    assert_eq!(writer.wait_exit(Duration::from_secs(30)).await, Some(0));
    drop(broker);
}

/// `/health` once it reports the writer: in `meshview run` the web side may still be
/// checking the schema when the writer has connected.
async fn writer_health(base: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, health) = get_json(&format!("{base}/health")).await;
        if !health["writer"]["mqtt_session"].is_null() || tokio::time::Instant::now() > deadline {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A broker that grants only QoS 0: the writer says the persistent session was refused (log
/// and `/health`) and ingests as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_session_is_reported_and_ingest_goes_on() {
    let db = TestDb::new(Backend::Sqlite).await;
    let port = free_port();
    let broker = Broker::start_with(port, "max_qos 0\n").await;
    let prefix = unique_prefix("refused");
    let mut cmd = run_cmd(&db, port, &prefix);
    for (k, v) in writer_env() {
        cmd.env(k, v);
    }
    let mut writer = Spawned::start(cmd);
    writer
        .wait_for_line("the broker granted QoS 0", Duration::from_secs(30))
        .await;
    let base = writer.base_url().await;
    let health = writer_health(&base).await;
    assert_eq!(health["writer"]["mqtt_session"], "refused", "{health}");
    let (n, _) = truth_packets(&prefix, 33, 60);
    // The publisher's QoS 1 is over this broker's limit too: publish at QoS 0 by hand.
    let (client, mut eventloop) = rumqttc::AsyncClient::new(
        rumqttc::MqttOptions::new("refused-pub", "127.0.0.1", port),
        100,
    );
    let driver = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let mut sim = Simulator::new(SimConfig {
        nodes: 20,
        gateways: 4,
        packets: 60,
        seed: 33,
        region_topic: prefix.clone(),
        ..SimConfig::default()
    })
    .unwrap();
    for m in sim.by_ref() {
        client
            .publish(m.topic, rumqttc::QoS::AtMostOnce, false, m.payload)
            .await
            .unwrap();
    }
    let stored = settled(
        &db,
        "SELECT count(*) FROM packet",
        n as i64,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(stored, n as i64, "{}", writer.log());
    driver.abort();
    assert_eq!(
        writer.log().matches("the broker granted QoS 0").count(),
        1,
        "logged once"
    );
    writer.terminate();
    assert_eq!(writer.wait_exit(Duration::from_secs(30)).await, Some(0));
    drop(broker);
}

/// The same database and topics give the same client id, run after run; the writer keeps
/// the session (what is published between two runs arrives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_writer_finds_its_session() {
    let db = TestDb::new(Backend::Sqlite).await;
    let port = free_port();
    let broker = Broker::start(port).await;
    let prefix = unique_prefix("resume");
    let topics = format!("[\"{prefix}/#\"]");
    let mut writer = start_ingest(&db, port, &topics, &writer_env());
    writer
        .wait_for_line("new MQTT session", Duration::from_secs(30))
        .await;
    writer
        .wait_for_line("MQTT subscribed", Duration::from_secs(30))
        .await;
    let id = |log: &str| -> String {
        let line = log
            .lines()
            .find(|l| l.contains("connecting to MQTT"))
            .unwrap();
        let at = line.find("client_id=").unwrap() + "client_id=".len();
        line[at..].split_whitespace().next().unwrap().to_string()
    };
    let first = id(&writer.log());
    assert!(
        first.starts_with("meshview") && first.len() == 23,
        "{first}"
    );
    writer.terminate();
    assert_eq!(writer.wait_exit(Duration::from_secs(30)).await, Some(0));

    let (n, _) = truth_packets(&prefix, 34, 80);
    publish(&db, port, &prefix, 34, 80).await;
    let mut writer = start_ingest(&db, port, &topics, &writer_env());
    writer
        .wait_for_line("MQTT session resumed", Duration::from_secs(30))
        .await;
    assert_eq!(id(&writer.log()), first);
    let stored = settled(
        &db,
        "SELECT count(*) FROM packet",
        n as i64,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(stored, n as i64, "{}", writer.log());
    writer.terminate();
    assert_eq!(writer.wait_exit(Duration::from_secs(30)).await, Some(0));
    drop(broker);
}
