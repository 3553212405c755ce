//! Writes seed corpora for the fuzz targets in `fuzz/` (see docs/fuzzing.md):
//! `cargo run -p meshview-sim --example fuzz_seeds -- fuzz/corpus`.
//!
//! Sources: the captured traffic under `tests/fixtures/real-traffic/`, the simulator's
//! messages (junk included), `src/config/example.ini` and a few hand-written strings.
//! Each seed is one file named by a hash of its bytes, so reruns do not duplicate them.
//! The corpora are generated, never committed (`fuzz/.gitignore`).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use meshview_protocol::{Keyring, Message, Payload, decode_envelope, pb};
use meshview_sim::{DEFAULT_SECONDARY_KEY_B64, SimConfig, Simulator, b64_decode};

/// Seeds longer than this are skipped (the simulator's 64 KiB junk only tests a length check).
const MAX_SEED: usize = 4096;
const DEFAULT_TOPIC: &str = "msh/EU_868/2/e/LongFast/!0000beef";

struct Corpus {
    dir: PathBuf,
    seen: BTreeSet<u64>,
}

impl Corpus {
    fn new(root: &Path, name: &str) -> Corpus {
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        Corpus {
            dir,
            seen: BTreeSet::new(),
        }
    }

    fn add(&mut self, bytes: &[u8]) {
        if bytes.len() > MAX_SEED {
            return;
        }
        // FNV-1a: stable across runs and platforms.
        let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        if self.seen.insert(h) {
            let path = self.dir.join(format!("{h:016x}"));
            fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        }
    }
}

fn text_format_selector(p: &Payload) -> Option<u8> {
    Some(match p {
        Payload::Position(_) => 0,
        Payload::User(_) => 1,
        Payload::Routing(_) => 2,
        Payload::RouteDiscovery(_) => 3,
        Payload::Telemetry(_) => 4,
        Payload::NeighborInfo(_) => 13,
        Payload::MapReport(_) => 15,
        Payload::Waypoint(_) => 16,
        _ => return None,
    })
}

/// The seeds one MQTT message gives the envelope, payload and text-format targets.
fn add_message(
    topic: &str,
    payload: &[u8],
    keyring: &Keyring,
    env_c: &mut Corpus,
    pay_c: &mut Corpus,
    txt_c: &mut Corpus,
) {
    let mut seed = topic.as_bytes().to_vec();
    seed.push(0);
    seed.extend_from_slice(payload);
    env_c.add(&seed);
    let Ok(env) = decode_envelope(topic, payload, keyring) else {
        return;
    };
    let Some(data) = env.data() else {
        return;
    };
    let Ok(port) = i16::try_from(data.portnum) else {
        return;
    };
    let mut seed = port.to_le_bytes().to_vec();
    seed.extend_from_slice(&data.payload);
    pay_c.add(&seed);
    let Some(decoded) = env.payload() else {
        return;
    };
    if let Some(sel) = text_format_selector(&decoded) {
        let mut seed = vec![sel];
        seed.extend_from_slice(&data.payload);
        txt_c.add(&seed);
    }
    // Telemetry's metrics messages, each for its own selector.
    if let Payload::Telemetry(t) = decoded {
        use pb::telemetry::Variant;
        let (sel, bytes) = match t.variant {
            Some(Variant::DeviceMetrics(m)) => (5, m.encode_to_vec()),
            Some(Variant::EnvironmentMetrics(m)) => (6, m.encode_to_vec()),
            Some(Variant::PowerMetrics(m)) => (7, m.encode_to_vec()),
            Some(Variant::AirQualityMetrics(m)) => (8, m.encode_to_vec()),
            Some(Variant::LocalStats(m)) => (9, m.encode_to_vec()),
            Some(Variant::HealthMetrics(m)) => (10, m.encode_to_vec()),
            Some(Variant::HostMetrics(m)) => (11, m.encode_to_vec()),
            _ => return,
        };
        let mut seed = vec![sel];
        seed.extend_from_slice(&bytes);
        txt_c.add(&seed);
    }
}

fn main() {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let keyring = Keyring::with_secondary(DEFAULT_SECONDARY_KEY_B64).expect("valid key");
    let mut env_c = Corpus::new(&root, "envelope");
    let mut pay_c = Corpus::new(&root, "payload");
    let mut txt_c = Corpus::new(&root, "text_format");

    // Captured traffic: base64 ServiceEnvelopes (no topics: the default one).
    let fixtures = repo.join("tests/fixtures/real-traffic");
    let jsonl =
        fs::read_to_string(fixtures.join("real_samples.jsonl")).expect("real_samples.jsonl");
    let lines = fs::read_to_string(fixtures.join("friendlydev_meshtastic-decode_messages.txt"))
        .expect("friendlydev messages");
    let mut real = Vec::new();
    for line in jsonl.lines() {
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if let Some(b) = v["payload_b64"].as_str().and_then(|s| b64_decode(s).ok()) {
            let topic = v["topic"].as_str().unwrap_or(DEFAULT_TOPIC).to_string();
            real.push((topic, b));
        }
    }
    for line in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Ok(b) = b64_decode(line) {
            real.push((DEFAULT_TOPIC.to_string(), b));
        }
    }
    for (topic, payload) in &real {
        add_message(topic, payload, &keyring, &mut env_c, &mut pay_c, &mut txt_c);
    }

    // The simulator: every port, both keys, undecryptable packets and every junk kind.
    let cfg = SimConfig {
        nodes: 40,
        gateways: 5,
        packets: 1500,
        junk_percent: 10.0,
        ..SimConfig::default()
    };
    for msg in Simulator::new(cfg).expect("valid simulator config") {
        add_message(
            &msg.topic,
            &msg.payload,
            &keyring,
            &mut env_c,
            &mut pay_c,
            &mut txt_c,
        );
    }

    // Configuration text.
    let mut ini = Corpus::new(&root, "config_ini");
    let example = fs::read_to_string(repo.join("src/config/example.ini")).expect("example.ini");
    ini.add(example.as_bytes());
    for s in [
        "[mqtt]\nserver = mqtt.example.org\nport = 1883\ntopics = [\"msh/US/#\"]\n",
        "[database]\nconnection_string = postgresql+asyncpg://u:p@db:5432/meshview\n",
        "[server]\nport = 8081\n[cleanup]\nenabled = true\ndays_to_keep = 14\nhour = 2\nminute = 0\n",
        "[site]\nnet_tag = #mesh\n\x00MESHVIEW__MQTT__PORT=1884\nMESHVIEW__DATABASE__CONNECTION_STRING=sqlite:///x.db\n",
        "[mqtt]\nsecondary_keys = AQ==, 1PG7OiApB1nwvP+rz05pAQ==\nskip_node_ids = !deadbeef, 12\n",
    ] {
        ini.add(s.as_bytes());
    }

    // Database URLs.
    let mut urls = Corpus::new(&root, "database_url");
    for s in [
        "sqlite+aiosqlite:///packets.db",
        "sqlite+aiosqlite:////var/lib/meshview/packets.db",
        "sqlite://packets.db",
        "sqlite:///abs/packets.db?mode=rwc",
        "postgresql+asyncpg://meshview:secret@db.example:5432/meshview",
        "postgres://user@host/db?sslmode=require",
        "postgres://u:p@[::1]:5432/db",
    ] {
        urls.add(s.as_bytes());
    }

    // Requests: path segments, `?`, a query string naming the parameters the parsers read.
    let mut web = Corpus::new(&root, "web_params");
    for s in [
        "?limit=50&portnum=1&since=1700000000000000&contains=hello&channel=LongFast",
        "?from_node_id=!0000beef&to_node_id=0x10&node_id=12345&before=99&offset=5",
        "?period_type=day&length=30&channel=MediumFast&type=sent",
        "?days_active=3&role=ROUTER&hw_model=TBEAM&limit=10",
        "?mode=perimeter&model=itm&radius_km=25&step_km=0.5&tx_dbm=20&threshold_dbm=-120",
        "?tx_height_m=10&rx_height_m=2&freq_mhz=906.875&resolution=8",
        "!a1b2c3d4?mode=heatmap&model=terrain&hours=24",
        "!a1b2c3d4/1000/0x7d0/4294967297?min_confidence=0.5&hours=48&step_m=100",
        "12/!0000beef/!0000cafe?from_height_m=5&to_height_m=5&freq_mhz=869.525",
        "?type=neighbor&hours=1&min_confidence=x",
        "?limit=-1&length=0&period_type=week&portnum=70000",
    ] {
        web.add(s.as_bytes());
    }
    // Hand-picked seeds committed beside this program, when present.
    let picked = repo.join("fuzz/seeds");
    if let Ok(dirs) = fs::read_dir(&picked) {
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            let mut c = Corpus::new(&root, &name);
            for f in fs::read_dir(d.path()).into_iter().flatten().flatten() {
                if let Ok(b) = fs::read(f.path()) {
                    c.add(&b);
                }
            }
        }
    }
    println!(
        "seeds in {}: envelope {}, payload {}, text_format {}, config_ini {}, database_url {}, web_params {}",
        root.display(),
        env_c.seen.len(),
        pay_c.seen.len(),
        txt_c.seen.len(),
        ini.seen.len(),
        urls.seen.len(),
        web.seen.len()
    );
}
