//! TLS: `[server] tls_cert` as MeshView expects it (certificate and key in one PEM), or
//! with a separate `tls_key`. The certificate is made by the `openssl` command line.

use std::process::Command;
use std::time::Duration;

use crate::common::{Backend, Spawned, TestDb};
use crate::helpers::{capture, replay, sim_config};

fn openssl_available() -> bool {
    Command::new("openssl").arg("version").output().is_ok()
}

/// `curl -k` GET (reqwest is built without TLS here).
fn curl(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "10", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn https_base(server: &Spawned) -> String {
    let line = server
        .wait_for_line("listening on https://", Duration::from_secs(30))
        .await;
    let at = line.find("https://").unwrap();
    line[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .replace("[::]", "127.0.0.1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_a_combined_or_separate_key() {
    if !openssl_available() {
        eprintln!("openssl not installed; skipping the TLS test");
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await;
    let (file, _, _) = capture(&db, sim_config("msh/US/bayarea"));
    replay(&db, &file).await;
    let dir = db.dir.path();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let combined = dir.join("combined.pem");
    let mut both = std::fs::read(&cert).unwrap();
    both.extend(std::fs::read(&key).unwrap());
    std::fs::write(&combined, both).unwrap();

    for env in [
        vec![(
            "MESHVIEW_SERVER__TLS_CERT",
            combined.to_str().unwrap().to_string(),
        )],
        vec![
            (
                "MESHVIEW_SERVER__TLS_CERT",
                cert.to_str().unwrap().to_string(),
            ),
            (
                "MESHVIEW_SERVER__TLS_KEY",
                key.to_str().unwrap().to_string(),
            ),
        ],
    ] {
        let mut cmd = db.command(&["serve"]);
        cmd.env("MESHVIEW_SERVER__BIND", "127.0.0.1")
            .env("MESHVIEW_SERVER__PORT", "0");
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let server = Spawned::start(cmd);
        let base = https_base(&server).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let health = loop {
            if let Some(body) = curl(&format!("{base}/health"))
                && body.contains("healthy")
                && !body.contains("starting")
            {
                break body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no HTTPS; log:\n{}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let v: serde_json::Value = serde_json::from_str(&health).unwrap();
        assert_eq!(v["status"], "healthy");
        let nodes = curl(&format!("{base}/api/nodes?limit=2")).unwrap();
        assert!(nodes.contains("\"nodes\""), "{nodes}");
        // Plain HTTP on the TLS port gets no API answer.
        let plain = base.replace("https://", "http://");
        assert!(
            curl(&format!("{plain}/health")).is_none_or(|b| !b.contains("healthy")),
            "plain HTTP answered"
        );
        server.terminate();
    }

    // A key that is not there stops start-up with the key named.
    let mut cmd = db.command(&["serve"]);
    cmd.env("MESHVIEW_SERVER__BIND", "127.0.0.1")
        .env("MESHVIEW_SERVER__PORT", "0")
        .env("MESHVIEW_SERVER__TLS_CERT", cert.to_str().unwrap());
    let mut server = Spawned::start(cmd);
    let code = server.wait_exit(Duration::from_secs(30)).await;
    assert_ne!(code, Some(0));
    assert!(server.log().contains("tls_cert"), "{}", server.log());
}
