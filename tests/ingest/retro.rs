//! Retroactive decryption: a simulated capture stored without the private channel's key,
//! then the key added (by `meshview keys add`, or configured before a writer starts),
//! ends up with the rows of a writer that had the key from the start, decoded in place,
//! with no archive; the rollups it moved equal a recomputation.

use crate::both_backends;
use crate::common::{Backend, TestDb, run_command};
use crate::helpers::{assert_same, derived, keys, replay_sim, rollups, write_capture, writer};

const UNDECODED: &str = "SELECT COUNT(*) FROM packet WHERE portnum = 0";

/// The rows of a writer that had the key from the start, without time columns; and how
/// many of its packets stay undecryptable (the channel whose key nobody has).
async fn with_key_from_the_start(backend: Backend) -> (Vec<(String, Vec<String>)>, i64) {
    let early = TestDb::new(backend).await;
    replay_sim(&early, false, true).await;
    (derived(&early, false).await, early.scalar(UNDECODED).await)
}

/// A capture stored without the key: (database, undecryptable packets).
async fn without_key(backend: Backend) -> (TestDb, i64) {
    let late = TestDb::new(backend).await;
    replay_sim(&late, false, false).await;
    let undecoded = late.scalar(UNDECODED).await;
    (late, undecoded)
}

/// The rollups equal what `db rebuild-rollups` computes from the raw rows.
async fn assert_rollups_recomputed(db: &TestDb) {
    let kept = rollups(db).await;
    let out = db.run(&["db", "rebuild-rollups"]).await;
    assert!(out.success, "{}", out.all());
    assert_same(&kept, &rollups(db).await);
}

/// `meshview keys add`: the key goes into config.ini and the stored packets it opens are
/// decoded in place; a second run finds nothing more to do.
async fn keys_add_decrypts_the_stored_packets_in_place(backend: Backend) {
    let (want, undecodable) = with_key_from_the_start(backend).await;
    let (late, undecoded) = without_key(backend).await;
    assert!(undecoded > undecodable, "the key makes a difference");
    assert_ne!(derived(&late, false).await, want);
    let ini = late.dir.path().join("config.ini");
    std::fs::write(
        &ini,
        "# mine\n[mqtt]\nsecondary_keys =\n\n[site]\ntitle = T\n",
    )
    .unwrap();
    let key = keys().1;

    let out = late.run(&["keys", "add", key]).await;
    assert!(out.success, "{}", out.all());
    let decrypted = undecoded - undecodable;
    assert!(
        out.stdout.contains(&format!(
            "decrypted {decrypted} of {undecoded} stored undecryptable packets"
        )),
        "{}",
        out.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&ini).unwrap(),
        format!("# mine\n[mqtt]\nsecondary_keys = {key}\n\n[site]\ntitle = T\n")
    );
    assert_eq!(late.scalar(UNDECODED).await, undecodable);
    assert_same(&derived(&late, false).await, &want);
    assert_rollups_recomputed(&late).await;

    // Counted: the key's mark says how many it decrypted.
    let out = late.run(&["keys", "list"]).await;
    assert!(out.success, "{}", out.all());
    assert!(
        out.stdout.contains(&format!("decrypted {decrypted}\n")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("stored undecryptable packets: {undecodable}")),
        "{}",
        out.stdout
    );
    let again = late.run(&["keys", "add", key]).await;
    assert!(again.success, "{}", again.all());
    assert!(
        again.stdout.contains("configured already") && again.stdout.contains("decrypted 0 of 0 "),
        "{}",
        again.stdout
    );
    // A key that is no key is refused before anything changes.
    let bad = late.run(&["keys", "add", "not base64!"]).await;
    assert!(!bad.success, "{}", bad.all());
}

/// A writer that starts with a new key configured decrypts the stored packets itself.
async fn a_writer_started_with_a_new_key_decrypts_the_stored_packets(backend: Backend) {
    let (want, undecodable) = with_key_from_the_start(backend).await;
    let (late, _) = without_key(backend).await;
    let empty = write_capture(late.dir.path(), "empty.jsonl", &[]);
    let mut cmd = late.command(&["ingest", "--replay", empty.to_str().unwrap()]);
    writer(&mut cmd, false, true);
    let out = run_command(cmd).await;
    assert!(out.success, "{}", out.all());
    assert!(
        out.stderr.contains("retroactive decryption"),
        "logged:\n{}",
        out.stderr
    );
    assert_eq!(late.scalar(UNDECODED).await, undecodable);
    assert_same(&derived(&late, false).await, &want);
    assert_rollups_recomputed(&late).await;
}

both_backends!(
    keys_add_decrypts_the_stored_packets_in_place,
    a_writer_started_with_a_new_key_decrypts_the_stored_packets
);
