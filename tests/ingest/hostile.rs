//! Hostile and odd input: counted per reason, skipped, never stopping the writer, and
//! never costing a valid packet.

use meshview_protocol::pb;
use prost::Message;

use crate::common::{Backend, TestDb};
use crate::helpers::{plain_envelope, replay, topic_for, write_capture};

fn user(id: &str, long: &str, hw_model: i32, role: i32) -> Vec<u8> {
    pb::User {
        id: id.into(),
        long_name: long.into(),
        short_name: "X".into(),
        hw_model,
        role,
        public_key: vec![7; 32],
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test]
async fn hostile_input_is_counted_and_valid_packets_survive() {
    let db = TestDb::new(Backend::Sqlite).await;
    let gw = 0x0a0b0c0d;
    let text = |s: &str| s.as_bytes().to_vec();
    let mut msgs: Vec<(String, Vec<u8>)> = Vec::new();
    let valid = plain_envelope(
        0x11,
        0xffffffff,
        1001,
        gw,
        pb::PortNum::TextMessageApp,
        text("hello"),
        1,
    );
    msgs.push((topic_for(gw), valid.clone()));
    // Junk bytes, a truncated envelope, a 70 KiB payload.
    msgs.push((
        topic_for(gw),
        (0..200u32).map(|i| (i * 7919 % 251) as u8).collect(),
    ));
    msgs.push((topic_for(gw), valid[..valid.len() / 2].to_vec()));
    msgs.push((topic_for(gw), vec![0x0a; 70 * 1024]));
    // Empty and malformed gateway ids, with topics that do not name one either.
    let mut no_gw = pb::ServiceEnvelope::decode(valid.as_slice()).unwrap();
    no_gw.gateway_id = String::new();
    no_gw.packet.as_mut().unwrap().id = 1002;
    msgs.push(("msh/test/2/e/LongFast".into(), no_gw.encode_to_vec()));
    let mut bad_gw = no_gw.clone();
    bad_gw.gateway_id = "gateway".into();
    msgs.push((
        "msh/test/2/e/LongFast/gateway".into(),
        bad_gw.encode_to_vec(),
    ));
    // Invalid UTF-8 in the channel_id string (field 2).
    let mut bad_utf8 = vec![0x12, 0x03, 0xff, 0xfe, 0xfd];
    bad_utf8.extend_from_slice(&valid);
    msgs.push((topic_for(gw), bad_utf8));
    // A stat topic, and a packet with id 0 that is no map report.
    msgs.push(("msh/test/2/stat/!0a0b0c0d".into(), b"online".to_vec()));
    msgs.push((
        topic_for(gw),
        plain_envelope(
            0x11,
            0xffffffff,
            0,
            gw,
            pb::PortNum::TextMessageApp,
            text("zero"),
            2,
        ),
    ));
    // Unknown enum values are stored by number, not dropped.
    msgs.push((
        topic_for(gw),
        plain_envelope(
            0x22,
            0xffffffff,
            2001,
            gw,
            pb::PortNum::NodeinfoApp,
            user("!00000022", "Odd", 9999, 99),
            3,
        ),
    ));
    // A NODEINFO claiming to be another node only describes its sender.
    msgs.push((
        topic_for(gw),
        plain_envelope(
            0x33,
            0xffffffff,
            3001,
            gw,
            pb::PortNum::NodeinfoApp,
            user("!00000044", "Spoof", 43, 0),
            4,
        ),
    ));
    // Two senders with the same packet id: both are packets.
    msgs.push((
        topic_for(gw),
        plain_envelope(
            0x55,
            0xffffffff,
            777,
            gw,
            pb::PortNum::TextMessageApp,
            text("from 55"),
            5,
        ),
    ));
    msgs.push((
        topic_for(gw),
        plain_envelope(
            0x66,
            0xffffffff,
            777,
            gw,
            pb::PortNum::TextMessageApp,
            text("from 66"),
            6,
        ),
    ));
    // The same packet heard again by another gateway is a reception, not a packet.
    msgs.push((
        topic_for(0x0a0b0c0e),
        plain_envelope(
            0x66,
            0xffffffff,
            777,
            0x0a0b0c0e,
            pb::PortNum::TextMessageApp,
            text("from 66"),
            6,
        ),
    ));
    // A skipped node and a flooding node.
    msgs.push((
        topic_for(gw),
        plain_envelope(
            0x99,
            0xffffffff,
            9001,
            gw,
            pb::PortNum::TextMessageApp,
            text("skip me"),
            7,
        ),
    ));
    for i in 0..12 {
        msgs.push((
            topic_for(gw),
            plain_envelope(
                0x77,
                0xffffffff,
                5000 + i,
                gw,
                pb::PortNum::TextMessageApp,
                text("spam"),
                8,
            ),
        ));
    }
    let capture = write_capture(db.dir.path(), "hostile.jsonl", &msgs);
    let mut cmd = db.command(&["ingest", "--replay", capture.to_str().unwrap()]);
    cmd.env("MESHVIEW_MQTT__SKIP_NODE_IDS", "!00000099, 12345")
        .env("MESHVIEW_MQTT__FLOOD_PER_MINUTE", "0")
        .env("MESHVIEW_MQTT__FLOOD_PER_HOUR", "5");
    let out = crate::common::run_command(cmd).await;
    assert!(out.success, "{}", out.all());
    let log = out.stderr;
    for reason in [
        "\"not_protobuf\": 3",
        "\"payload_too_large\": 1",
        "\"empty_gateway_id\": 1",
        "\"bad_gateway_id\": 1",
        "\"stat_topic\": 1",
        "\"zero_packet_id\": 1",
        "\"skip_list\": 1",
        "\"flood\": 7",
    ] {
        assert!(log.contains(reason), "missing {reason} in:\n{log}");
    }
    assert!(log.contains("flood guard"), "{log}");

    // Valid packets: hello, Odd, Spoof, two 777s, five of the spammer's.
    assert_eq!(db.count("packet").await, 1 + 1 + 1 + 2 + 5);
    assert_eq!(
        db.scalar("SELECT count(*) FROM packet WHERE id = 777")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM packet WHERE id = 777 + 4294967296")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM packet_seen WHERE packet_id = 777 + 4294967296")
            .await,
        2
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM packet WHERE from_node_id = 153")
            .await,
        0
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM node WHERE node_id = 34 AND hw_model = 'unknown(9999)' AND role = 'unknown(99)'")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM node WHERE node_id = 51 AND long_name = 'Spoof'")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM node WHERE node_id = 68")
            .await,
        0
    );
    assert_eq!(db.scalar("SELECT count(*) FROM node_public_key").await, 2);
}

#[tokio::test]
async fn bad_secondary_key_or_skip_id_is_a_start_up_error() {
    let db = TestDb::new(Backend::Sqlite).await;
    let capture = write_capture(db.dir.path(), "empty.jsonl", &[]);
    let mut cmd = db.command(&["ingest", "--replay", capture.to_str().unwrap()]);
    cmd.env("MESHVIEW_MQTT__SECONDARY_KEYS", "AQ==, c2hvcnQ=");
    let out = crate::common::run_command(cmd).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains("mqtt.secondary_keys") && out.stderr.contains("c2hvcnQ="),
        "{}",
        out.stderr
    );
    let mut cmd = db.command(&["ingest", "--replay", capture.to_str().unwrap()]);
    cmd.env("MESHVIEW_MQTT__SKIP_NODE_IDS", "!nothex");
    let out = crate::common::run_command(cmd).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains("mqtt.skip_node_ids = \"!nothex\""),
        "{}",
        out.stderr
    );
    // A valid replay still works afterwards.
    replay(&db, &capture).await;
}
