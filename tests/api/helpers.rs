//! Helpers of the API tests: simulated traffic stored by the real writer, the real
//! reader serving it, and a small Server-Sent Events client.

use std::path::PathBuf;
use std::time::Duration;

use meshview_sim::{DEFAULT_SECONDARY_KEY_B64, GroundTruth, SimConfig, Simulator, capture_line};
use serde_json::Value;

use crate::common::{Backend, Spawned, TestDb, get_json, http};

/// Fewer packets than the default keep each test quick while every port, the
/// traceroute replies, the id collision and the hostile strings still occur.
pub const PACKETS: usize = 700;

pub fn sim_config(region: &str) -> SimConfig {
    SimConfig {
        packets: PACKETS,
        region_topic: region.to_string(),
        ..SimConfig::default()
    }
}

/// Writes the simulator's messages as a capture file; returns it with the truth.
pub fn capture(db: &TestDb, cfg: SimConfig) -> (PathBuf, GroundTruth, Vec<(String, Vec<u8>)>) {
    let mut sim = Simulator::new(cfg).expect("simulator");
    let mut text = String::new();
    let mut msgs = Vec::new();
    for m in sim.by_ref() {
        text.push_str(&capture_line(&m));
        text.push('\n');
        msgs.push((m.topic, m.payload));
    }
    let path = db.dir.path().join("capture.jsonl");
    std::fs::write(&path, text).unwrap();
    (path, sim.truth().clone(), msgs)
}

/// The writer settings the ground truth assumes: the secondary key, no flood guard
/// (a replay delivers minutes of traffic in a second).
pub fn writer_env(cmd: &mut tokio::process::Command) {
    cmd.env("MESHVIEW_MQTT__SECONDARY_KEYS", DEFAULT_SECONDARY_KEY_B64)
        .env("MESHVIEW_MQTT__FLOOD_PER_MINUTE", "0")
        .env("MESHVIEW_MQTT__FLOOD_PER_HOUR", "0");
}

/// `meshview ingest --replay FILE` to completion.
pub async fn replay(db: &TestDb, file: &std::path::Path) {
    let mut cmd = db.command(&["ingest", "--replay", file.to_str().unwrap()]);
    writer_env(&mut cmd);
    let out = crate::common::run_command(cmd).await;
    assert!(out.success, "replay failed:\n{}", out.all());
}

/// Starts `meshview serve` on an OS-chosen port of 127.0.0.1.
pub fn start_serve(db: &TestDb, extra: &[(&str, &str)]) -> Spawned {
    let mut cmd = db.command(&["serve"]);
    cmd.env("MESHVIEW_SERVER__BIND", "127.0.0.1")
        .env("MESHVIEW_SERVER__PORT", "0");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    Spawned::start(cmd)
}

/// Waits until `/health` answers 200.
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

/// A database filled from simulated traffic by the real writer, served by the real
/// reader.
pub struct Served {
    pub db: TestDb,
    pub truth: GroundTruth,
    /// Every radio link of the simulated mesh (evidenced or not), `(from, to)`.
    pub radio_links: std::collections::HashSet<(i64, i64)>,
    pub server: Spawned,
    pub base: String,
}

impl Served {
    pub async fn start(backend: Backend) -> Served {
        Served::start_with(backend, sim_config("msh/US/bayarea")).await
    }

    /// The same over another simulated mesh.
    pub async fn start_with(backend: Backend, cfg: SimConfig) -> Served {
        let db = TestDb::new(backend).await;
        let radio_links = Simulator::new(cfg.clone())
            .expect("simulator")
            .radio_links()
            .into_keys()
            .map(|(f, t)| (node_num(&f), node_num(&t)))
            .collect();
        let (file, truth, _) = capture(&db, cfg);
        replay(&db, &file).await;
        let server = start_serve(&db, &[]);
        let base = server.base_url().await;
        wait_healthy(&base, &server).await;
        Served {
            db,
            truth,
            radio_links,
            server,
            base,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        get_json(&format!("{}{}", self.base, path)).await
    }

    /// GET expecting 200; returns the body.
    pub async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// GET expecting 400 with a JSON error naming `param`.
    pub async fn bad(&self, path: &str, param: &str) {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["parameter"], param, "{path}: {body}");
        let msg = body["error"].as_str().unwrap_or_default();
        assert!(msg.contains(param), "{path}: {body}");
    }

    /// GET expecting `status` with a JSON `error`.
    pub async fn error(&self, path: &str, status: u16) -> Value {
        let (s, body) = self.get(path).await;
        assert_eq!(s, status, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
        body
    }
}

/// `!xxxxxxxx` → node number.
pub fn node_num(hex: &str) -> i64 {
    i64::from_str_radix(hex.trim_start_matches('!'), 16).unwrap()
}

/// A Server-Sent Events reader over a streaming HTTP response.
pub struct Sse {
    response: reqwest::Response,
    buf: String,
}

/// One event: its name (`message` if unnamed), id and data.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
    /// When it arrived (µs since the epoch).
    pub at_us: i64,
}

impl Sse {
    pub async fn connect(url: &str) -> Sse {
        // No overall timeout: the response never ends by itself.
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let response = client.get(url).send().await.expect("stream request");
        assert_eq!(response.status().as_u16(), 200, "{url}");
        let ct = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Sse {
            response,
            buf: String::new(),
        }
    }

    /// The next event (comments skipped), or `None` at the deadline or end of stream.
    pub async fn next(&mut self, deadline: tokio::time::Instant) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = SseEvent {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                    at_us: chrono::Utc::now().timestamp_micros(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("data:") {
                        if any {
                            ev.data.push('\n');
                        }
                        ev.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().to_string());
                    }
                }
                if any {
                    return Some(ev);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Collects packet events until `n` arrived or `timeout` passed.
    pub async fn collect(&mut self, n: usize, timeout: Duration) -> Vec<(SseEvent, Value)> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < n {
            let Some(ev) = self.next(deadline).await else {
                break;
            };
            if ev.event == "message" {
                let v: Value = serde_json::from_str(&ev.data).expect("event JSON");
                out.push((ev, v));
            }
        }
        out
    }
}
