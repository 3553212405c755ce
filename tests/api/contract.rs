//! The served OpenAPI document is honest: schemathesis (PyPI, pinned by
//! `scripts/test.sh`) generates requests from `/api/openapi.json` and checks every answer
//! against it (no server error, documented status codes and content types, bodies valid
//! under their schemas, schema-valid requests accepted), on both backends.
//!
//! Left out, on purpose (and Hypothesis's own generation health checks):
//! - `negative_data_rejection`: the API is lenient as MeshView was (an empty value counts
//!   as absent, values are trimmed, unknown parameters are ignored), so some requests
//!   outside the schema are answered rather than refused.
//! - `/api/stream`: an endless Server-Sent Events body, tested in `stream.rs`.

use std::time::Duration;

use crate::common::Backend;
use crate::helpers::Served;

/// The schemathesis command `scripts/test.sh` installs (`MESHVIEW_SCHEMATHESIS`).
fn schemathesis() -> String {
    std::env::var("MESHVIEW_SCHEMATHESIS").unwrap_or_else(|_| {
        panic!(
            "MESHVIEW_SCHEMATHESIS is not set: run the tests with ./scripts/test.sh, which \
             installs schemathesis, or point it at a schemathesis executable"
        )
    })
}

async fn served_document_holds(backend: Backend) {
    let s = Served::start(backend).await;
    // schemathesis keeps a cache in its working directory: the test's, not the checkout.
    let work = tempfile::tempdir().expect("temporary directory");
    let out = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new(schemathesis())
            .args([
                "run",
                &format!("{}/api/openapi.json", s.base),
                "--url",
                &s.base,
                "--max-examples",
                "25",
                "--seed",
                "1",
                "--no-color",
                "--exclude-checks",
                "negative_data_rejection",
                // Hypothesis's health checks judge its own data generation (the node-id
                // pattern's alternation can trip "data too large" on a loaded machine),
                // not the API.
                "--suppress-health-check",
                "all",
                "--exclude-path",
                "/api/stream",
            ])
            .current_dir(work.path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("schemathesis finished within 10 minutes")
    .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found mismatches:\n{report}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.server.log()
    );
    // It really exercised the API (a document with no operations would pass too).
    let tested = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    assert!(tested >= 15, "only {tested} operations tested:\n{report}");
}

crate::both_backends!(served_document_holds);
