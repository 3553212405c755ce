//! Helpers of the page tests: a database filled by the real writer, `meshview run`
//! subscribed to a private topic prefix, and ids worth looking at.

use std::path::PathBuf;
use std::time::Duration;

use meshview_sim::{DEFAULT_SECONDARY_KEY_B64, SimConfig, Simulator, capture_line};
use serde_json::Value;

use crate::common::{Backend, Spawned, TestDb, get_json, http};

/// A topic prefix no other test (or person) publishes under.
pub fn unique_region() -> String {
    format!(
        "msh/pagestest{}x{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros() % 1_000_000
    )
}

/// The writer settings the simulator's traffic needs.
pub fn writer_env(cmd: &mut tokio::process::Command) {
    cmd.env("MESHVIEW_MQTT__SECONDARY_KEYS", DEFAULT_SECONDARY_KEY_B64)
        .env("MESHVIEW_MQTT__FLOOD_PER_MINUTE", "0")
        .env("MESHVIEW_MQTT__FLOOD_PER_HOUR", "0");
}

/// Where map tiles are "served" in tests: a closed port on this machine, so nothing
/// leaves localhost and the maps must work without tiles.
pub const TILE_URL: &str = "http://127.0.0.1:9/{z}/{x}/{y}.png";

/// History (simulated traffic, replayed by the writer), then `meshview run` following
/// MQTT under a private prefix.
pub struct Site {
    pub db: TestDb,
    pub server: Spawned,
    pub base: String,
    pub region: String,
}

impl Site {
    /// `settings`: more of the server's settings, as `MESHVIEW_…` variables.
    pub async fn start(backend: Backend, settings: &[(&str, &str)]) -> Site {
        let db = TestDb::new(backend).await;
        let region = unique_region();
        // Enough for the busiest node to have more packets than its page shows at first.
        let mut sim = Simulator::new(SimConfig {
            packets: 3000,
            region_topic: region.clone(),
            ..SimConfig::default()
        })
        .expect("simulator");
        let mut text = String::new();
        for m in sim.by_ref() {
            text.push_str(&capture_line(&m));
            text.push('\n');
        }
        let file = db.dir.path().join("capture.jsonl");
        std::fs::write(&file, text).unwrap();
        let mut replay = db.command(&["ingest", "--replay", file.to_str().unwrap()]);
        writer_env(&mut replay);
        let out = crate::common::run_command(replay).await;
        assert!(out.success, "replay failed:\n{}", out.all());

        let mut cmd = db.command(&["run"]);
        writer_env(&mut cmd);
        cmd.env("MESHVIEW_MQTT__SERVER", "127.0.0.1")
            .env("MESHVIEW_MQTT__PORT", "1883")
            // The machine's shared broker keeps sessions on disk: a persistent one per test
            // database would pile up there (the session tests use private brokers).
            .env("MESHVIEW_MQTT__PERSISTENT_SESSION", "false")
            .env("MESHVIEW_MQTT__TOPICS", format!("[\"{region}/#\"]"))
            .env("MESHVIEW_SERVER__BIND", "127.0.0.1")
            .env("MESHVIEW_SERVER__PORT", "0")
            .env("MESHVIEW_SITE__TITLE", "Test Mesh")
            .env("MESHVIEW_SITE__DOMAIN", "mesh.test")
            .env("MESHVIEW_SITE__MAP_TILE_URL", TILE_URL)
            .envs(settings.iter().copied());
        let server = Spawned::start(cmd);
        let base = server.base_url().await;
        wait_healthy(&base, &server).await;
        server
            .wait_for_line("MQTT connected", Duration::from_secs(30))
            .await;
        // The subscription is acknowledged right after the connection.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Site {
            db,
            server,
            base,
            region,
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = get_json(&format!("{}{}", self.base, path)).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// The node whose long name is the simulator's hostile one.
    pub async fn hostile_node(&self) -> i64 {
        let nodes = self.get("/api/nodes").await;
        nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["long_name"].as_str().unwrap_or_default().contains("<img"))
            .and_then(|n| n["node_id"].as_i64())
            .expect("the simulator names one node <img …>")
    }

    /// A traceroute exchange with both a forward and a return path.
    pub async fn two_leg_traceroute(&self) -> i64 {
        let list = self.get("/api/packets?portnum=70&limit=300").await;
        for p in list["packets"].as_array().unwrap() {
            let id = p["id"].as_i64().unwrap();
            let tr = self.get(&format!("/api/traceroute/{id}")).await;
            let dirs: Vec<&str> = tr["paths"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|x| x["direction"].as_str())
                .collect();
            if dirs.contains(&"forward") && dirs.contains(&"return") {
                return id;
            }
        }
        panic!("no traceroute with both legs in the simulated traffic");
    }

    /// A node on the live map (position, active) with a link to another such node.
    pub async fn node_with_mapped_edge(&self) -> i64 {
        let nodes = self.get("/api/nodes?days_active=3").await;
        let mapped: std::collections::BTreeSet<i64> = nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["last_lat"].as_i64().unwrap_or(0) != 0)
            .filter_map(|n| n["node_id"].as_i64())
            .collect();
        let edges = self.get("/api/edges").await;
        edges["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                mapped.contains(&e["from"].as_i64().unwrap())
                    && mapped.contains(&e["to"].as_i64().unwrap())
            })
            .and_then(|e| e["from"].as_i64())
            .expect("an edge between two mapped nodes")
    }
}

impl Site {
    /// Nodes on the live map (active in 3 days, a position other than (0, 0)), by number.
    async fn mapped(&self) -> std::collections::BTreeSet<i64> {
        let nodes = self.get("/api/nodes?days_active=3").await;
        nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| {
                n["last_lat"].as_i64().unwrap_or(0) != 0
                    && n["last_long"].as_i64().unwrap_or(0) != 0
            })
            .filter_map(|n| n["node_id"].as_i64())
            .collect()
    }

    /// The mapped node that most mapped nodes heard directly (the link model's `from`):
    /// the richest node page for links and observed coverage.
    pub async fn node_with_links(&self) -> i64 {
        let mapped = self.mapped().await;
        let links = self.get("/api/links").await;
        let mut heard: std::collections::BTreeMap<i64, usize> = Default::default();
        for l in links["links"].as_array().unwrap() {
            let (from, to) = (l["from"].as_i64().unwrap(), l["to"].as_i64().unwrap());
            if mapped.contains(&from) && mapped.contains(&to) {
                *heard.entry(from).or_default() += 1;
            }
        }
        heard
            .into_iter()
            .max_by_key(|&(n, c)| (c, std::cmp::Reverse(n)))
            .map(|(n, _)| n)
            .expect("a mapped node that mapped nodes heard (the link model has links)")
    }

    /// A node without a position, when the simulated mesh has one.
    pub async fn node_without_position(&self) -> Option<i64> {
        let mapped = self.mapped().await;
        let nodes = self.get("/api/nodes").await;
        nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n["node_id"].as_i64())
            .find(|n| !mapped.contains(n))
    }
}

pub async fn wait_healthy(base: &str, server: &Spawned) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http().get(format!("{base}/health")).send().await
            && r.status().as_u16() == 200
        {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("server never became healthy; log:\n{}", server.log());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Chromium as Debian installs it (scripts/test.sh installs it when missing).
pub fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("Chromium is not installed: run scripts/test.sh (it installs Debian's chromium)");
}
