//! The browser runs: `node tests/pages/browser.mjs` with the site's address and the ids
//! to visit. `SCOPE=all` checks every page, the live updates, the map, the traceroute,
//! hostile strings and the language switch; `SCOPE=links` checks link quality and
//! coverage (the node page's links table, SNR chart and coverage layers, the map's and
//! the mesh graph's quality colours), on both backends; `SCOPE=layout` checks every page
//! at a phone's size (390×844) and a desktop's (1360×900) in both themes: no sideways
//! scrolling, the folding menu, touch targets, and axe-core's accessibility rules.
//! Screenshots go to `test-artifacts/`.

use std::time::Duration;

use crate::common::Backend;
use crate::helpers::{Site, TILE_URL, chromium, root};

/// One browser run at a time: each is a server and a Chromium, and the machines that
/// run the suite may have two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_a_real_browser() {
    run(Backend::Sqlite, "all").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_on_a_phone_and_a_desktop() {
    run(Backend::Sqlite, "layout").await;
}

async fn links_and_coverage(backend: Backend) {
    run(backend, "links").await;
}

crate::both_backends!(links_and_coverage);

async fn run(backend: Backend, scope: &str) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let driver = root().join("node_modules/playwright-core");
    assert!(
        driver.exists(),
        "node_modules is missing: run `npm ci` (scripts/test.sh does)"
    );
    let browser = chromium();
    // The layout run's map box is set far from the simulated mesh (a box left from
    // another region): the maps must open on the nodes. The other runs keep the default
    // box, which holds the mesh: the maps must keep it.
    let settings: &[(&str, &str)] = match scope {
        "layout" => &[
            ("MESHVIEW_SITE__MAP_TOP_LEFT_LAT", "52.6"),
            ("MESHVIEW_SITE__MAP_TOP_LEFT_LON", "4.6"),
            ("MESHVIEW_SITE__MAP_BOTTOM_RIGHT_LAT", "52.2"),
            ("MESHVIEW_SITE__MAP_BOTTOM_RIGHT_LON", "5.2"),
        ],
        _ => &[],
    };
    let site = Site::start(backend, settings).await;
    let hostile = site.hostile_node().await;
    let traceroute = site.two_leg_traceroute().await;
    let map_node = site.node_with_mapped_edge().await;
    let link_node = site.node_with_links().await;
    let no_position = site.node_without_position().await;
    let packet = site.get("/api/packets?limit=1").await["packets"][0]["id"]
        .as_i64()
        .unwrap();
    let artifacts = root().join("test-artifacts").join(match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    });
    std::fs::create_dir_all(&artifacts).unwrap();
    let profile = tempfile::tempdir().unwrap();

    // What the script runs to publish fresh traffic once the live pages are open.
    let publish = serde_json::json!([
        env!("CARGO_BIN_EXE_meshview"),
        "simulate",
        "--publish",
        "--topic-prefix",
        site.region,
        "--seed",
        "7",
        "--packets",
        "200",
        "--rate",
        "0",
    ]);
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(root().join("tests/pages/browser.mjs"))
        .current_dir(root())
        .env("SCOPE", scope)
        .env("BASE", &site.base)
        .env("CHROMIUM", &browser)
        .env("PROFILE", profile.path())
        .env("ARTIFACTS", &artifacts)
        .env("TILE_PREFIX", TILE_URL.split("/{z}").next().unwrap())
        .env("HOSTILE_NODE", hostile.to_string())
        .env("TRACEROUTE", traceroute.to_string())
        .env("MAP_NODE", map_node.to_string())
        .env("LINK_NODE", link_node.to_string())
        .env(
            "NO_POSITION_NODE",
            no_position.map(|n| n.to_string()).unwrap_or_default(),
        )
        .env("PACKET", packet.to_string())
        .env("PUBLISH", publish.to_string())
        .env("MESHVIEW_MQTT__SERVER", "127.0.0.1")
        .env("MESHVIEW_MQTT__PORT", "1883")
        // The machine's shared broker keeps sessions on disk: a persistent one per test
        // database would pile up there (the session tests use private brokers).
        .env("MESHVIEW_MQTT__PERSISTENT_SESSION", "false")
        .env("MESHVIEW_DATABASE__CONNECTION_STRING", &site.db.url_string)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(600), cmd.output())
        .await
        .expect("browser run finished within 10 minutes")
        .expect("node runs (Node.js is installed with npm)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser checks ({scope}) failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        site.server.log()
    );
    assert!(stdout.contains("all page checks passed"), "{stdout}");
}
