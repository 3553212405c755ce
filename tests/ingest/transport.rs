//! MQTT transport features: TLS to the broker, and shared subscriptions that split one
//! stream across several writers.

use std::time::Duration;

use meshview_sim::{SimConfig, Simulator};

use crate::common::{Backend, TestDb, free_port, run_command};
use crate::helpers::{
    keys, publish_cmd, start_ingest, truth_packets as truth, unique_prefix, wait_for_count,
};

/// A broker that only speaks TLS, with a certificate for `localhost` signed by a test CA.
struct TlsBroker {
    child: std::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl TlsBroker {
    async fn start() -> TlsBroker {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let sh = |script: &str| {
            let ok = std::process::Command::new("sh")
                .args(["-c", script])
                .current_dir(d)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "{script}");
        };
        sh(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=meshview-test-ca -keyout ca.key -out ca.pem",
        );
        sh(
            "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr",
        );
        sh(
            "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem",
        );
        // Mosquitto started as root drops to its own user before reading the certificates.
        sh("chmod 755 . && chmod 644 ca.pem server.pem server.key");
        let port = free_port();
        std::fs::write(
            d.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n",
                d.display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new("mosquitto")
            .args(["-c", d.join("mosquitto.conf").to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        TlsBroker { child, dir, port }
    }
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_over_tls() {
    let db = TestDb::new(Backend::Sqlite).await;
    let broker = TlsBroker::start().await;
    let ca = broker.dir.path().join("ca.pem");
    let prefix = unique_prefix("tls");
    let tls_env = [("MESHVIEW_MQTT__CA_FILE", ca.to_str().unwrap()), keys()];
    let mut cmd = db.command(&["ingest"]);
    cmd.env("MESHVIEW_MQTT__SERVER", "mqtts://localhost")
        .env("MESHVIEW_MQTT__PORT", broker.port.to_string())
        .env("MESHVIEW_MQTT__TOPICS", format!("[\"{prefix}/#\"]"));
    for (k, v) in tls_env {
        cmd.env(k, v);
    }
    let mut writer = crate::common::Spawned::start(cmd);
    writer
        .wait_for_line("MQTT connected", Duration::from_secs(30))
        .await;
    assert!(writer.log().contains("tls=true"), "{}", writer.log());
    let (n, _) = truth(&prefix, 11, 80);
    let mut publish = publish_cmd(&db, &prefix, 11, 80);
    publish
        .env("MESHVIEW_MQTT__SERVER", "mqtts://localhost")
        .env("MESHVIEW_MQTT__PORT", broker.port.to_string())
        .env("MESHVIEW_MQTT__CA_FILE", ca.to_str().unwrap());
    let out = run_command(publish).await;
    assert!(out.success, "{}", out.all());
    assert_eq!(
        wait_for_count(
            &db,
            "SELECT count(*) FROM packet",
            n as i64,
            Duration::from_secs(30)
        )
        .await,
        n as i64,
        "{}",
        writer.log()
    );
    writer.terminate();
    assert_eq!(writer.wait_exit(Duration::from_secs(30)).await, Some(0));

    // Without the CA the broker's certificate is refused: no connection, a clear log line.
    let mut cmd = db.command(&["ingest"]);
    cmd.env("MESHVIEW_MQTT__SERVER", "mqtts://localhost")
        .env("MESHVIEW_MQTT__PORT", broker.port.to_string())
        .env("MESHVIEW_MQTT__TOPICS", format!("[\"{prefix}/#\"]"));
    let mut untrusting = crate::common::Spawned::start(cmd);
    untrusting
        .wait_for_line("MQTT connection lost", Duration::from_secs(30))
        .await;
    assert!(!untrusting.log().contains("MQTT connected"));
    untrusting.terminate();
    untrusting.wait_exit(Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_splits_the_stream_between_writers() {
    let db = TestDb::new(Backend::Postgres).await;
    let prefix = unique_prefix("share");
    let topics = format!("[\"$share/meshview/{prefix}/#\"]");
    let mut a = start_ingest(
        &db,
        1883,
        &topics,
        &[keys(), ("MESHVIEW_MQTT__CLIENT_ID", "mv-a")],
    );
    let mut b = start_ingest(
        &db,
        1883,
        &topics,
        &[keys(), ("MESHVIEW_MQTT__CLIENT_ID", "mv-b")],
    );
    a.wait_for_line("MQTT connected", Duration::from_secs(30))
        .await;
    b.wait_for_line("MQTT connected", Duration::from_secs(30))
        .await;
    // Give the broker a moment to register both members of the group.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut publish = publish_cmd(&db, &prefix, 12, 200);
    publish.env("MESHVIEW_MQTT__SERVER", "127.0.0.1");
    let out = run_command(publish).await;
    assert!(out.success, "{}", out.all());
    let (n, receptions) = truth(&prefix, 12, 200);
    assert_eq!(
        wait_for_count(
            &db,
            "SELECT count(*) FROM packet",
            n as i64,
            Duration::from_secs(30)
        )
        .await,
        n as i64
    );
    assert_eq!(
        wait_for_count(
            &db,
            "SELECT count(*) FROM packet_seen",
            receptions as i64,
            Duration::from_secs(30)
        )
        .await,
        receptions as i64
    );
    a.terminate();
    b.terminate();
    assert_eq!(a.wait_exit(Duration::from_secs(30)).await, Some(0));
    assert_eq!(b.wait_exit(Duration::from_secs(30)).await, Some(0));
    // Each writer took part of the stream, and together exactly all of it.
    let received = |log: &str| -> i64 {
        let line = log
            .lines()
            .find(|l| l.contains("everything accepted is stored"))
            .unwrap();
        let at = line.find("received=").unwrap() + "received=".len();
        line[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (ra, rb) = (received(&a.log()), received(&b.log()));
    assert!(ra > 0 && rb > 0, "both writers should receive: {ra} / {rb}");
    let mut sim = Simulator::new(SimConfig {
        nodes: 20,
        gateways: 4,
        packets: 200,
        seed: 12,
        region_topic: prefix.clone(),
        ..SimConfig::default()
    })
    .unwrap();
    for _ in sim.by_ref() {}
    assert_eq!((ra + rb) as usize, sim.truth().messages);
}
