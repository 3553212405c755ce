//! Every endpoint against simulated traffic stored by the real writer and served by the
//! real reader: parameters, bad parameters (400 naming them), shapes, and the simulator's
//! ground truth where it applies.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Backend;
use crate::exposition::{Exposition, HTTP_BUCKETS, READER_FAMILIES};
use crate::helpers::{Served, node_num};

fn arr(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

async fn nodes(backend: Backend) {
    let s = Served::start(backend).await;
    let body = s.ok("/api/nodes").await;
    let nodes = arr(&body["nodes"]);
    assert_eq!(nodes.len(), s.truth.nodes.len(), "node count");
    let by_id: BTreeMap<String, &Value> = nodes
        .iter()
        .map(|n| (n["id"].as_str().unwrap().to_string(), n))
        .collect();
    for (id, t) in &s.truth.nodes {
        let n = by_id.get(id).unwrap_or_else(|| panic!("node {id} missing"));
        assert_eq!(n["node_id"].as_i64(), Some(node_num(id)));
        if let Some(name) = &t.long_name {
            assert_eq!(n["long_name"].as_str(), Some(name.as_str()), "{id}");
        }
        if let Some(name) = &t.short_name {
            assert_eq!(n["short_name"].as_str(), Some(name.as_str()), "{id}");
        }
        if t.is_gateway {
            assert_eq!(n["is_mqtt_gateway"], true, "{id}");
        }
    }
    // The hostile name is carried verbatim (escaping is the pages' job).
    assert!(
        nodes
            .iter()
            .any(|n| n["long_name"] == meshview_sim::HOSTILE_NAME),
        "hostile name"
    );
    for key in [
        "id",
        "node_id",
        "long_name",
        "short_name",
        "hw_model",
        "firmware",
        "role",
        "last_lat",
        "last_long",
        "channel",
        "is_mqtt_gateway",
        "first_seen_us",
        "last_seen_us",
    ] {
        assert!(nodes[0].get(key).is_some(), "node field {key}");
    }
    // Ordered by short name, unnamed last.
    let shorts: Vec<Option<&str>> = nodes.iter().map(|n| n["short_name"].as_str()).collect();
    let mut sorted = shorts.clone();
    sorted.sort_by_key(|s| (s.is_none(), *s));
    assert_eq!(shorts, sorted);

    // One node in each id spelling.
    let (id, _) = s.truth.nodes.iter().next().unwrap();
    let num = node_num(id);
    for spelled in [id.clone(), num.to_string(), format!("0x{num:x}")] {
        let body = s
            .ok(&format!("/api/nodes?node_id={}", urlencode(&spelled)))
            .await;
        let found = arr(&body["nodes"]);
        assert_eq!(found.len(), 1, "{spelled}");
        assert_eq!(found[0]["node_id"].as_i64(), Some(num));
    }
    let role = s.truth.nodes.values().find_map(|n| n.role.clone()).unwrap();
    let body = s
        .ok(&format!("/api/nodes?role={}", role.to_lowercase()))
        .await;
    assert!(!arr(&body["nodes"]).is_empty());
    assert!(
        arr(&body["nodes"])
            .iter()
            .all(|n| n["role"] == role.as_str())
    );
    assert_eq!(
        arr(&s.ok("/api/nodes?days_active=1").await["nodes"]).len(),
        nodes.len()
    );
    assert!(arr(&s.ok("/api/nodes?channel=NoSuchChannel").await["nodes"]).is_empty());
    assert_eq!(arr(&s.ok("/api/nodes?limit=3").await["nodes"]).len(), 3);
    s.bad("/api/nodes?days_active=soon", "days_active").await;
    s.bad("/api/nodes?days_active=-1", "days_active").await;
    s.bad("/api/nodes?node_id=!zz", "node_id").await;
    s.bad("/api/nodes?limit=x", "limit").await;
}

fn urlencode(s: &str) -> String {
    s.replace('!', "%21")
}

async fn packets(backend: Backend) {
    let s = Served::start(backend).await;
    let t = &s.truth;
    // Packets per port, each port's list complete and newest first.
    for (&port, &n) in &t.packets_by_port {
        let body = s
            .ok(&format!("/api/packets?portnum={port}&limit=1000"))
            .await;
        let items = arr(&body["packets"]);
        assert_eq!(items.len(), n, "port {port}");
        let times: Vec<i64> = items
            .iter()
            .map(|p| p["import_time_us"].as_i64().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "port {port} order");
        assert_eq!(body["latest_import_time"].as_i64(), times.first().copied());
    }
    let all = s.ok("/api/packets?limit=1000").await;
    let items = arr(&all["packets"]);
    assert_eq!(items.len(), t.packets.min(1000));
    for key in [
        "id",
        "import_time_us",
        "channel",
        "from_node_id",
        "to_node_id",
        "portnum",
        "long_name",
        "to_long_name",
        "payload",
        "decoded",
    ] {
        assert!(items[0].get(key).is_some(), "packet field {key}");
    }
    // Payload rules.
    let texts = arr(&s.ok("/api/packets?portnum=1&limit=1000").await["packets"]).clone();
    let dms = texts
        .iter()
        .filter(|p| p["to_node_id"].as_i64() != Some(0xFFFF_FFFF))
        .count();
    assert_eq!(dms, t.direct_messages);
    for p in &texts {
        if p["to_node_id"].as_i64() == Some(0xFFFF_FFFF) {
            assert_eq!(p["decoded"]["text"], p["payload"], "{p}");
        } else {
            assert_eq!(p["payload"], "<redacted>", "{p}");
            assert!(p["decoded"].is_null());
        }
    }
    let replies = texts.iter().filter(|p| p.get("reply_id").is_some()).count();
    assert_eq!(replies, t.replies + t.reactions);
    for p in arr(&s.ok("/api/packets?portnum=0&limit=1000").await["packets"]) {
        assert_eq!(p["payload"], "Did not decode");
    }
    let pos = arr(&s.ok("/api/packets?portnum=3&limit=5").await["packets"]).clone();
    assert!(pos[0]["payload"].as_str().unwrap().contains("latitude_i: "));
    assert!(pos[0]["decoded"]["latitude_i"].is_i64());

    // `contains`: the hostile text verbatim, case-insensitively, in SQL-like characters
    // taken literally.
    let body = s.ok("/api/packets?contains=%3CSCRIPT%3E").await;
    let hits = arr(&body["packets"]);
    assert_eq!(hits.len(), 1, "{body}");
    assert_eq!(hits[0]["payload"], meshview_sim::HOSTILE_TEXT);
    for needle in ["%25", "_"] {
        for p in arr(&s
            .ok(&format!("/api/packets?contains={needle}&limit=1000"))
            .await["packets"])
        {
            let lit = if needle == "%25" { "%" } else { "_" };
            assert!(p["payload"].as_str().unwrap().contains(lit), "{p}");
        }
    }
    // Direct messages are never searchable.
    let body = s.ok("/api/packets?contains=redacted&limit=1000").await;
    assert!(arr(&body["packets"]).is_empty(), "{body}");
    // Text messages are searched in packet_text (kept by the writer): exactly the
    // broadcast texts whose shown text contains the needle, newest first, every one.
    for needle in ["e", "MESH", "<script>", "%", "zzzz-none"] {
        let want: Vec<i64> = texts
            .iter()
            .filter(|p| p["to_node_id"].as_i64() == Some(0xFFFF_FFFF))
            .filter(|p| {
                let shown = p["payload"].as_str().unwrap();
                shown != "Did not decode" && shown.to_lowercase().contains(&needle.to_lowercase())
            })
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        let enc: String = url::form_urlencoded::byte_serialize(needle.as_bytes()).collect();
        let got: Vec<i64> = arr(&s
            .ok(&format!("/api/packets?portnum=1&contains={enc}&limit=1000"))
            .await["packets"])
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
        assert_eq!(got, want, "contains={needle}");
        // With a limit and a page back (keyset on time): the same list, cut.
        if want.len() > 2 {
            let first = s
                .ok(&format!("/api/packets?portnum=1&contains={enc}&limit=2"))
                .await;
            let ids: Vec<i64> = arr(&first["packets"])
                .iter()
                .map(|p| p["id"].as_i64().unwrap())
                .collect();
            assert_eq!(ids, want[..2]);
        }
    }
    // contains applies before the limit: 3 matches even when newer packets do not match.
    let n_pos = t.packets_by_port[&3];
    let body = s.ok("/api/packets?contains=latitude_i&limit=3").await;
    assert_eq!(arr(&body["packets"]).len(), 3.min(n_pos));

    // The collision: one Meshtastic id, two senders, both found by the id.
    let c = &t.collisions[0];
    let body = s.ok(&format!("/api/packets?packet_id={}", c.id)).await;
    let found = arr(&body["packets"]);
    assert_eq!(found.len(), 2, "{body}");
    let senders: BTreeSet<i64> = found
        .iter()
        .map(|p| p["from_node_id"].as_i64().unwrap())
        .collect();
    let want: BTreeSet<i64> = c.senders.iter().map(|h| node_num(h)).collect();
    assert_eq!(senders, want);
    for p in found {
        let id = p["id"].as_i64().unwrap();
        assert_eq!(id & 0xFFFF_FFFF, i64::from(c.id));
        // Links use the stored id.
        let one = s.ok(&format!("/api/packets?packet_id={id}")).await;
        assert_eq!(
            arr(&one["packets"]).len(),
            if id > 0xFFFF_FFFF { 1 } else { 2 }
        );
        let seen = s.ok(&format!("/api/packets_seen/{id}")).await;
        assert!(!arr(&seen["seen"]).is_empty());
    }

    // Node filters in every spelling, and either direction.
    let sender = items[0]["from_node_id"].as_i64().unwrap();
    for q in [
        format!("from_node_id={sender}"),
        format!("from_node_id=%21{sender:08x}"),
        format!("from_node_id=0x{sender:x}"),
    ] {
        let body = s.ok(&format!("/api/packets?{q}&limit=1000")).await;
        let got = arr(&body["packets"]);
        assert!(!got.is_empty());
        assert!(
            got.iter()
                .all(|p| p["from_node_id"].as_i64() == Some(sender))
        );
    }
    let either = arr(&s
        .ok(&format!("/api/packets?node_id={sender}&limit=1000"))
        .await["packets"])
    .clone();
    assert!(
        either
            .iter()
            .all(|p| p["from_node_id"].as_i64() == Some(sender)
                || p["to_node_id"].as_i64() == Some(sender))
    );
    let to = arr(&s
        .ok(&format!("/api/packets?to_node_id={sender}&limit=1000"))
        .await["packets"])
    .clone();
    assert!(to.iter().all(|p| p["to_node_id"].as_i64() == Some(sender)));

    // Cursors and limits.
    let latest = all["latest_import_time"].as_i64().unwrap();
    assert!(arr(&s.ok(&format!("/api/packets?since={latest}")).await["packets"]).is_empty());
    let page = s.ok("/api/packets?limit=10").await;
    let last = arr(&page["packets"])[9]["import_time_us"].as_i64().unwrap();
    let next = s.ok(&format!("/api/packets?limit=10&before={last}")).await;
    assert!(
        arr(&next["packets"])
            .iter()
            .all(|p| p["import_time_us"].as_i64().unwrap() < last)
    );
    assert_eq!(arr(&s.ok("/api/packets?limit=0").await["packets"]).len(), 1);
    assert_eq!(
        arr(&s.ok("/api/packets").await["packets"]).len(),
        50.min(t.packets)
    );
    assert!(
        arr(&s.ok("/api/packets?channel=longfast&limit=1000").await["packets"])
            .iter()
            .all(|p| p["channel"] == "LongFast")
    );

    for (q, param) in [
        ("packet_id=abc", "packet_id"),
        ("packet_id=-5", "packet_id"),
        ("limit=ten", "limit"),
        ("since=yesterday", "since"),
        ("before=x", "before"),
        ("portnum=text", "portnum"),
        ("portnum=70000", "portnum"),
        ("from_node_id=!xyz", "from_node_id"),
        ("to_node_id=1.5", "to_node_id"),
        ("node_id=-1", "node_id"),
    ] {
        s.bad(&format!("/api/packets?{q}"), param).await;
    }
    let long = "x".repeat(300);
    s.bad(&format!("/api/packets?contains={long}"), "contains")
        .await;

    // Receptions of one packet.
    let id = items[0]["id"].as_i64().unwrap();
    let seen = s.ok(&format!("/api/packets_seen/{id}")).await;
    let rows = arr(&seen["seen"]);
    assert!(!rows.is_empty());
    for key in [
        "packet_id",
        "node_id",
        "rx_time",
        "hop_limit",
        "hop_start",
        "channel",
        "rx_snr",
        "rx_rssi",
        "topic",
        "import_time_us",
    ] {
        assert!(rows[0].get(key).is_some(), "seen field {key}");
    }
    assert!(rows.iter().all(|r| r["packet_id"].as_i64() == Some(id)));
    s.bad("/api/packets_seen/abc", "packet_id").await;
    s.error("/api/packets_seen/12345", 404).await;
    // A NUL in a text filter is refused on both backends (PostgreSQL text cannot hold
    // one; schemathesis found it answered 500 there).
    s.bad("/api/packets?channel=Long%00Fast", "channel").await;
    s.bad("/api/packets?portnum=1&contains=a%00b", "contains")
        .await;
    s.bad("/api/stats?channel=%00", "channel").await;

    // Lists are cached while nothing newer is stored (web::cache): a packet stored after
    // a list was served shows in the next one well before the cache's 5 s lifetime.
    let before = s.ok("/api/packets?limit=5").await;
    assert_eq!(s.ok("/api/packets?limit=5").await, before);
    let newest = before["latest_import_time"].as_i64().unwrap();
    let new_id = (1_i64 << 40) + 7;
    s.db.exec(&format!(
        "INSERT INTO packet (id, portnum, from_node_id, to_node_id, payload, import_time_us, channel) \
         VALUES ({new_id}, 66, 1, 4294967295, NULL, {}, 'LongFast')",
        newest + 1
    ))
    .await;
    let stored = Instant::now();
    loop {
        let now = s.ok("/api/packets?limit=5").await;
        if now["packets"][0]["id"].as_i64() == Some(new_id) {
            assert_eq!(now["latest_import_time"].as_i64(), Some(newest + 1));
            break;
        }
        assert!(
            stored.elapsed() < Duration::from_secs(1),
            "a newly stored packet is still missing from the list after 1 s: {now}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stats(backend: Backend) {
    let s = Served::start(backend).await;
    daily_snapshots(&s).await;
    let t = &s.truth;
    let body = s.ok("/api/stats").await;
    assert_eq!(body["period_type"], "hour");
    assert_eq!(body["length"], 24);
    let data = arr(&body["data"]);
    assert_eq!(data.len(), 24, "every bucket listed");
    let total: i64 = data.iter().map(|d| d["count"].as_i64().unwrap()).sum();
    assert_eq!(total as usize, t.packets);
    let label = data.last().unwrap()["period"].as_str().unwrap();
    assert_eq!(
        label,
        chrono::Utc::now().format("%Y-%m-%d %H:00").to_string(),
        "UTC labels"
    );
    let body = s.ok("/api/stats?period_type=DAY&length=7").await;
    assert_eq!(arr(&body["data"]).len(), 7);
    assert_eq!(body["period_type"], "day");
    for (&port, &n) in &t.packets_by_port {
        let body = s
            .ok(&format!(
                "/api/stats?portnum={port}&period_type=day&length=1"
            ))
            .await;
        assert_eq!(
            body["data"][0]["count"].as_i64(),
            Some(n as i64),
            "port {port}"
        );
        assert_eq!(body["portnum"].as_i64(), Some(port as i64));
    }
    let channel = s
        .ok("/api/stats?channel=longfast&period_type=day&length=1")
        .await;
    let on_longfast = arr(&s.ok("/api/packets?channel=LongFast&limit=1000").await["packets"]).len();
    assert_eq!(
        channel["data"][0]["count"].as_i64(),
        Some(on_longfast as i64)
    );

    // Per node: sent = its packets, seen = receptions of them (MeshView: always 0).
    let sender = arr(&s.ok("/api/packets?limit=1").await["packets"])[0]["from_node_id"]
        .as_i64()
        .unwrap();
    let mine = arr(&s
        .ok(&format!("/api/packets?from_node_id={sender}&limit=1000"))
        .await["packets"])
    .clone();
    let body = s.ok(&format!("/api/stats?node=!{sender:08x}")).await;
    assert_eq!(body["node_id"].as_i64(), Some(sender));
    assert_eq!(body["sent"].as_i64(), Some(mine.len() as i64));
    let mut receptions = 0;
    for p in &mine {
        let seen = s.ok(&format!("/api/packets_seen/{}", p["id"])).await;
        receptions += arr(&seen["seen"]).len();
    }
    assert_eq!(body["seen"].as_i64(), Some(receptions as i64));
    let from = s
        .ok(&format!(
            "/api/stats?from_node={sender}&period_type=day&length=1"
        ))
        .await;
    assert_eq!(from["data"][0]["count"].as_i64(), Some(mine.len() as i64));
    let to = s
        .ok("/api/stats?to_node=4294967295&period_type=day&length=1")
        .await;
    let broadcast =
        arr(&s.ok("/api/packets?to_node_id=4294967295&limit=1000").await["packets"]).len();
    assert_eq!(to["data"][0]["count"].as_i64(), Some(broadcast as i64));

    for (q, param) in [
        ("period_type=week", "period_type"),
        ("length=0", "length"),
        ("length=many", "length"),
        ("node=!nothex", "node"),
        ("portnum=x", "portnum"),
        ("to_node=x", "to_node"),
        ("from_node=x", "from_node"),
    ] {
        s.bad(&format!("/api/stats?{q}"), param).await;
    }

    // Counts.
    let body = s.ok("/api/stats/count").await;
    assert_eq!(body["total_packets"].as_i64(), Some(t.packets as i64));
    assert_eq!(body["total_seen"].as_i64(), Some(t.receptions as i64));
    let body = s.ok("/api/stats/count?period_type=hour&length=2").await;
    assert_eq!(body["total_packets"].as_i64(), Some(t.packets as i64));
    let id = mine[0]["id"].as_i64().unwrap();
    let body = s.ok(&format!("/api/stats/count?packet_id={id}")).await;
    let seen = arr(&s.ok(&format!("/api/packets_seen/{id}")).await["seen"]).len();
    assert_eq!(body["total_seen"].as_i64(), Some(seen as i64));
    let body = s.ok(&format!("/api/stats/count?from_node={sender}")).await;
    assert_eq!(body["total_packets"].as_i64(), Some(mine.len() as i64));
    assert_eq!(body["total_seen"].as_i64(), Some(receptions as i64));
    let body = s.ok("/api/stats/count?to_node=4294967295").await;
    assert_eq!(body["total_packets"].as_i64(), Some(broadcast as i64));
    for (q, param) in [
        ("packet_id=x", "packet_id"),
        ("period_type=x", "period_type"),
        ("length=-2", "length"),
        ("from_node=x", "from_node"),
        ("to_node=x", "to_node"),
    ] {
        s.bad(&format!("/api/stats/count?{q}"), param).await;
    }

    // Top talkers: ranked by receptions; every packet accounted for across pages.
    let mut sent_sum = 0;
    let mut offset = 0;
    let mut total = None;
    loop {
        let body = s
            .ok(&format!("/api/stats/top?limit=100&offset={offset}"))
            .await;
        total.get_or_insert(body["total"].as_i64().unwrap());
        assert_eq!(body["limit"], 100);
        let nodes = arr(&body["nodes"]);
        let seen: Vec<i64> = nodes.iter().map(|n| n["seen"].as_i64().unwrap()).collect();
        assert!(seen.windows(2).all(|w| w[0] >= w[1]));
        for n in nodes {
            let (sent, seen) = (n["sent"].as_f64().unwrap(), n["seen"].as_f64().unwrap());
            let avg = ((seen / sent.max(1.0)) * 100.0).round() / 100.0;
            assert_eq!(n["avg"].as_f64(), Some(avg), "{n}");
            for key in ["node_id", "long_name", "short_name", "channel"] {
                assert!(n.get(key).is_some());
            }
            sent_sum += n["sent"].as_i64().unwrap();
        }
        offset += 100;
        if nodes.len() < 100 {
            break;
        }
    }
    assert_eq!(sent_sum as usize, t.packets);
    assert!(total.unwrap() > 0);
    assert_eq!(s.ok("/api/stats/top?limit=5000").await["limit"], 100);
    assert_eq!(arr(&s.ok("/api/stats/top?limit=3").await["nodes"]).len(), 3);
    for (q, param) in [
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
        ("length=0", "length"),
        ("period_type=year", "period_type"),
    ] {
        s.bad(&format!("/api/stats/top?{q}"), param).await;
    }

    // Channels.
    let body = s.ok("/api/channels").await;
    let channels: Vec<&str> = arr(&body["channels"])
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(channels.contains(&"LongFast"), "{body}");
    let mut sorted = channels.clone();
    sorted.sort();
    assert_eq!(channels, sorted);
    s.bad("/api/channels?period_type=x", "period_type").await;
    s.bad("/api/channels?length=x", "length").await;
}

async fn traceroutes_and_edges(backend: Backend) {
    let s = Served::start(backend).await;
    let t = &s.truth;
    let answered: Vec<_> = t
        .traceroutes
        .iter()
        .filter(|tr| tr.reply.is_some())
        .collect();
    assert!(!answered.is_empty(), "the simulation answers traceroutes");
    let path = |v: &Vec<String>| v.iter().map(|h| node_num(h)).collect::<Vec<i64>>();
    for tr in &answered {
        let stored_id = |r: &meshview_sim::PacketRef| {
            let from = node_num(&r.from);
            let id = r.id;
            let s = &s;
            async move {
                let body = s
                    .ok(&format!("/api/packets?packet_id={id}&from_node_id={from}"))
                    .await;
                arr(&body["packets"])[0]["id"].as_i64().unwrap()
            }
        };
        let request_id = stored_id(&tr.request).await;
        let reply_id = stored_id(tr.reply.as_ref().unwrap()).await;
        let forward = path(&tr.forward_path);
        let back = path(tr.return_path.as_ref().unwrap());
        // Either id gives the same exchange.
        for id in [request_id, reply_id] {
            let body = s.ok(&format!("/api/traceroute/{id}")).await;
            let fwd: Vec<Vec<i64>> =
                serde_json::from_value(body["winning_paths"]["forward"].clone()).unwrap();
            let rev: Vec<Vec<i64>> =
                serde_json::from_value(body["winning_paths"]["reverse"].clone()).unwrap();
            assert_eq!(fwd, vec![forward.clone()], "forward of {id}: {body}");
            assert_eq!(rev, vec![back.clone()], "return of {id}: {body}");
            assert_eq!(body["requester"].as_i64(), Some(forward[0]));
            assert_eq!(body["target"].as_i64(), Some(*forward.last().unwrap()));
            assert_eq!(body["request"]["id"].as_i64(), Some(request_id));
            assert_eq!(body["replies"], serde_json::json!([reply_id]));
            assert_eq!(body["packet"]["id"].as_i64(), Some(id));
            let paths = arr(&body["paths"]);
            assert_eq!(paths.len(), 2);
            for p in paths {
                let n = arr(&p["nodes"]).len();
                assert_eq!(arr(&p["snr"]).len(), n - 1, "one SNR per hop: {p}");
            }
            let rows = arr(&body["traceroute_packets"]);
            assert!(
                rows.iter()
                    .any(|r| r["kind"] == "reply" && r["done"] == true)
            );
            for r in rows {
                for key in [
                    "index",
                    "gateway_node_id",
                    "done",
                    "forward_hops",
                    "reverse_hops",
                ] {
                    assert!(r.get(key).is_some(), "{key}");
                }
            }
            for u in arr(&body["unique_forward_paths"]) {
                assert!(u["count"].as_i64().unwrap() >= 1);
                assert!(!arr(&u["path"]).is_empty());
            }
        }
    }
    // A direct (0-hop) traceroute still has its paths.
    if let Some(direct) = answered.iter().find(|tr| tr.forward_path.len() == 2) {
        let id = node_num(&direct.request.from);
        let body = s
            .ok(&format!(
                "/api/packets?packet_id={}&from_node_id={id}",
                direct.request.id
            ))
            .await;
        let stored = arr(&body["packets"])[0]["id"].as_i64().unwrap();
        let body = s.ok(&format!("/api/traceroute/{stored}")).await;
        assert_eq!(
            arr(&body["winning_paths"]["forward"])[0],
            serde_json::json!(path(&direct.forward_path))
        );
    }
    s.bad("/api/traceroute/abc", "packet_id").await;
    s.error("/api/traceroute/999", 404).await;

    // Edges: traceroute links are consecutive nodes of a true path; no self-loops.
    let mut true_links = HashSet::new();
    for tr in &t.traceroutes {
        let mut paths = vec![path(&tr.forward_path)];
        if let Some(b) = &tr.return_path {
            paths.push(path(b));
        }
        for p in paths {
            for w in p.windows(2) {
                true_links.insert((w[0], w[1]));
            }
        }
    }
    let body = s.ok("/api/edges?type=traceroute").await;
    let edges = arr(&body["edges"]);
    assert!(!edges.is_empty());
    for e in edges {
        let (a, b) = (e["from"].as_i64().unwrap(), e["to"].as_i64().unwrap());
        assert_ne!(a, b, "self-loop");
        assert!(true_links.contains(&(a, b)), "invented link {a} -> {b}");
        assert_eq!(e["type"], "traceroute");
    }
    let body = s.ok("/api/edges?type=neighbor").await;
    let neighbors = arr(&body["edges"]);
    assert!(!neighbors.is_empty());
    assert!(
        neighbors
            .iter()
            .all(|e| e["type"] == "neighbor" && e["from"] != e["to"])
    );
    let all = s.ok("/api/edges").await;
    assert!(arr(&all["edges"]).len() >= edges.len());
    let node = edges[0]["from"].as_i64().unwrap();
    let body = s.ok(&format!("/api/edges?node_id=!{node:08x}")).await;
    let mine = arr(&body["edges"]);
    assert!(!mine.is_empty());
    assert!(
        mine.iter()
            .all(|e| e["from"].as_i64() == Some(node) || e["to"].as_i64() == Some(node))
    );
    s.bad("/api/edges?type=radio", "type").await;
    s.bad("/api/edges?node_id=x", "node_id").await;
    s.bad("/api/edges?hours=0", "hours").await;

    // With quality=true (what the mesh graph asks): the same edges, each with the link
    // model's verdict on its direction when /api/links has one.
    assert!(
        arr(&all["edges"])
            .iter()
            .all(|e| e.get("quality").is_none() && e.get("confidence").is_none())
    );
    let rated = s.ok("/api/edges?quality=true").await;
    let rated = arr(&rated["edges"]);
    assert_eq!(rated.len(), arr(&all["edges"]).len());
    let links = s.ok("/api/links?limit=5000").await;
    assert!(links["next_offset"].is_null(), "every link on one page");
    let verdicts: std::collections::HashMap<(i64, i64), (Value, f64)> = arr(&links["links"])
        .iter()
        .map(|l| {
            (
                (l["from"].as_i64().unwrap(), l["to"].as_i64().unwrap()),
                (l["quality"].clone(), l["confidence"].as_f64().unwrap()),
            )
        })
        .collect();
    let mut matched = 0;
    for e in rated {
        let pair = (e["from"].as_i64().unwrap(), e["to"].as_i64().unwrap());
        match verdicts.get(&pair) {
            Some((quality, confidence)) => {
                assert_eq!(&e["quality"], quality, "{pair:?}");
                let c = e["confidence"].as_f64().unwrap();
                // Two places (as the graph shows it) from the model's value, which
                // /api/links gives to three.
                assert!(
                    (c - confidence).abs() <= 0.006,
                    "{pair:?}: {c} vs {confidence}"
                );
                matched += 1;
            }
            None => assert!(e.get("quality").is_none(), "{pair:?} rated without a link"),
        }
    }
    assert!(matched > 0, "no edge rated");
    s.bad("/api/edges?quality=maybe", "quality").await;
}

async fn node_tools_config_lang(backend: Backend) {
    let s = Served::start(backend).await;
    let t = &s.truth;
    let (id, named) = t.nodes.iter().find(|(_, n)| n.long_name.is_some()).unwrap();
    let body = s.ok(&format!("/api/node/{}/qr", urlencode(id))).await;
    assert_eq!(body["node_id"].as_i64(), Some(node_num(id)));
    assert_eq!(body["long_name"].as_str(), named.long_name.as_deref());
    let url = body["meshtastic_url"].as_str().unwrap();
    let b64 = url.strip_prefix("https://meshtastic.org/v/#").unwrap();
    assert!(!b64.is_empty() && !b64.contains(['=', '+', '/']), "{url}");
    s.bad("/api/node/!nothex/qr", "node_id").await;
    s.error("/api/node/12345/qr", 404).await;

    for (node, keys) in &t.public_keys {
        let body = s
            .ok(&format!("/api/node/{}/impersonation-check", node_num(node)))
            .await;
        assert_eq!(
            body["unique_public_key_count"].as_u64(),
            Some(keys.len() as u64),
            "{node}"
        );
        assert_eq!(body["potential_impersonation"], keys.len() > 1);
        assert_eq!(body["warning"].is_string(), keys.len() > 1);
    }
    assert!(
        t.public_keys.values().any(|k| k.len() > 1),
        "the simulation impersonates"
    );
    s.bad("/api/node/x/impersonation-check", "node_id").await;
    s.error("/api/node/12345/impersonation-check", 404).await;

    // Coverage itself is tested in coverage.rs.
    s.bad("/api/coverage/x", "node_id").await;

    let body = s.ok("/api/config").await;
    assert_eq!(body["site"]["nodes"], "true");
    assert!(body["site"]["map_top_left_lat"].is_f64());
    assert!(body["site"]["map_interval"].is_i64());
    assert!(body["site"]["version"].is_string());
    assert!(body["mqtt"]["topics"].is_array());
    assert!(body["cleanup"]["days_to_keep"].is_string());

    let all = s.ok("/api/lang").await;
    for section in [
        "base",
        "chat",
        "nodelist",
        "net",
        "map",
        "stats",
        "top",
        "nodegraph",
        "firehose",
        "node",
        "packet",
    ] {
        assert!(all[section].is_object(), "{section}");
        for lang in ["en", "es", "ru"] {
            let one = s
                .ok(&format!("/api/lang?lang={lang}&section={section}"))
                .await;
            assert!(one.is_object());
        }
    }
    let es = s.ok("/api/lang?lang=es&section=base").await;
    assert_ne!(es, all["base"], "Spanish differs from English");
    assert_eq!(
        s.ok("/api/lang?lang=xx&section=base").await,
        all["base"],
        "falls back to en"
    );
    assert_eq!(s.ok("/api/lang?section=BASE").await, all["base"]);
    s.error("/api/lang?section=nope", 404).await;
    s.bad("/api/lang?lang=../../etc/passwd", "lang").await;
    s.bad("/api/lang?lang=..%2F..%2Fsrc%2Fweb%2Fopenapi", "lang")
        .await;

    let body = s.error("/api/no/such/thing", 404).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("/api/no/such/thing")
    );
}

async fn health_metrics_openapi(backend: Backend) {
    let s = Served::start(backend).await;
    let body = s.ok("/health").await;
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], "connected");
    assert!(body["seconds_since_last_message"].is_f64());
    assert!(body["database_size_bytes"].as_u64().unwrap() > 0);
    assert!(body.get("writer").is_none(), "no writer in this process");
    let v = s.ok("/version").await;
    assert!(v["version"].is_string() && v["git_revision"].is_string());

    // Every documented path answers (ids filled with real ones).
    let doc = s.ok("/api/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let packet = arr(&s.ok("/api/packets?portnum=70&limit=1").await["packets"])[0]["id"]
        .as_i64()
        .unwrap();
    // A node with a position (coverage needs one) and a link the model knows.
    let node = arr(&s.ok("/api/nodes").await["nodes"])
        .iter()
        .find(|n| n["last_lat"].as_i64().is_some_and(|l| l != 0))
        .expect("a positioned node")["node_id"]
        .as_i64()
        .unwrap();
    let links = s.ok("/api/links").await;
    let link = &arr(&links["links"])[0];
    let (from, to) = (link["from"].as_i64().unwrap(), link["to"].as_i64().unwrap());
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(item["get"]["summary"].is_string(), "{path} has a summary");
        assert!(item["get"]["responses"]["200"].is_object(), "{path}");
        if path == "/api/stream" {
            continue; // never ends; covered by the stream tests
        }
        let url = path
            .replace("{packet_id}", &packet.to_string())
            .replace("{node_id}", &node.to_string())
            .replace("{from}", &from.to_string())
            .replace("{to}", &to.to_string());
        let r = crate::common::http()
            .get(format!("{}{}", s.base, url))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if path.ends_with("/profile") {
            // Profiles need elevation tiles, which this server has none of.
            assert_eq!(status, 404, "{url}");
            continue;
        }
        assert!(status != 404 && status < 500, "{url}: {status}");
    }

    s.error("/api/nope", 404).await;
    // The same list twice: the second is the packet-list cache's.
    for _ in 0..2 {
        s.ok("/api/packets?limit=3&portnum=3").await;
    }
    let r = crate::common::http()
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    // What a scraper sees: the families, their types and label names, exactly.
    let m = Exposition::parse(&text);
    m.assert_families(&[READER_FAMILIES]);
    let requests = m.family("meshview_http_requests_total");
    let listed = requests.value(
        "meshview_http_requests_total",
        &[
            ("route", "/api/packets"),
            ("method", "GET"),
            ("status", "200"),
        ],
    );
    assert!(listed.is_some_and(|n| n >= 2.0), "{text}");
    assert!(requests.values_of("route").contains("unmatched"), "{text}");
    assert!(requests.values_of("status").contains("404"), "{text}");
    let latency = m.family("meshview_http_request_duration_seconds");
    let les: Vec<&str> = latency
        .samples
        .iter()
        .filter(|s| {
            s.labels["route"] == "/api/traceroute/{packet_id}" && s.name.ends_with("_bucket")
        })
        .map(|s| s.labels["le"].as_str())
        .collect();
    assert_eq!(les, HTTP_BUCKETS, "{text}");
    let caches = m.family("meshview_cache_lookups_total");
    assert_eq!(
        caches.values_of("cache"),
        ["aggregates", "bodies", "packet_lists"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        caches.values_of("outcome"),
        ["hit", "miss"].map(String::from).into()
    );
    for gauge in ["meshview_cache_entries", "meshview_cache_bytes"] {
        assert_eq!(
            m.family(gauge).values_of("cache"),
            caches.values_of("cache"),
            "{gauge}"
        );
    }
    let one = |name: &str| m.family(name).value(name, &[]).unwrap();
    assert_eq!(one("meshview_database_ready"), 1.0);
    assert!(one("meshview_database_size_bytes") > 0.0);
    assert_eq!(one("meshview_stream_clients"), 0.0);
    let build = m.family("meshview_build_info");
    assert!(build.value("meshview_build_info", &[]) == Some(1.0));
    assert!(!build.values_of("version").iter().all(String::is_empty));
    // The exact lines dashboards and the docs show.
    for needle in [
        "meshview_http_requests_total{route=\"/api/packets\",method=\"GET\",status=\"200\"}",
        "meshview_http_request_duration_seconds_bucket{route=\"/api/traceroute/{packet_id}\"",
        "meshview_http_requests_total{route=\"unmatched\"",
        "meshview_stream_clients 0",
        "meshview_database_size_bytes ",
        "meshview_build_info{",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    let hits = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("meshview_cache_lookups_total{cache=\"packet_lists\",outcome=\"hit\"} ")
        })
        .and_then(|v| v.parse::<u64>().ok());
    assert!(hits.is_some_and(|n| n >= 1), "packet list hits: {text}");
    assert!(text.contains("meshview_cache_bytes{cache=\"packet_lists\"} "));
    assert!(
        !text.contains("meshview_ingest_"),
        "no writer in this process"
    );
    // Gzip for clients that accept it.
    let r = crate::common::http()
        .get(format!("{}/api/packets?limit=100", s.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("content-encoding").unwrap(), "gzip");
}

crate::both_backends!(
    nodes,
    packets,
    stats,
    traceroutes_and_edges,
    node_tools_config_lang,
    health_metrics_openapi
);

/// `/net` shows its check-ins a page at a time, newest first: the pages hold every
/// check-in it counts, each once; a bad offset is a 400 page.
#[tokio::test]
async fn net_check_ins_come_a_page_at_a_time() {
    let cfg = meshview_sim::SimConfig {
        packets: 4000,
        ..crate::helpers::sim_config("msh/US/bayarea")
    };
    let s = Served::start_with(Backend::Sqlite, cfg).await;
    // A tag nearly every text message carries (a space): more than a page of check-ins.
    let server = crate::helpers::start_serve(&s.db, &[("MESHVIEW_SITE__NET_TAG", " ")]);
    let base = server.base_url().await;
    crate::helpers::wait_healthy(&base, &server).await;
    let client = crate::common::http();
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (mut ids, mut pages, mut counted) = (Vec::new(), 0, None);
    let mut next = Some("/net".to_string());
    while let Some(path) = next.take() {
        let (status, html) = get(path.clone()).await;
        assert_eq!(status, 200, "{path}");
        pages += 1;
        let count: usize = html
            .split("id=\"net-count\">")
            .nth(1)
            .and_then(|t| t.split('<').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{path}: no count"));
        assert_eq!(
            *counted.get_or_insert(count),
            count,
            "{path}: the count changed"
        );
        let here: Vec<i64> = html
            .split("<article class=\"msg\" data-id=\"")
            .skip(1)
            .map(|t| t.split('"').next().unwrap().parse().unwrap())
            .collect();
        assert!(
            !here.is_empty() && here.len() <= 200,
            "{path}: {} check-ins",
            here.len()
        );
        ids.extend(here);
        // The link to the older ones, if any.
        next = html
            .split(" rel=\"next\"")
            .next()
            .filter(|_| html.contains(" rel=\"next\""))
            .map(|t| {
                let href = t.rsplit("href=\"").next().unwrap();
                href.trim_end_matches('"').replace("&amp;", "&")
            });
        assert!(pages < 10, "the pages never end");
    }
    let counted = counted.unwrap();
    assert!(
        counted > 200,
        "only {counted} check-ins: the test needs more than a page"
    );
    assert!(pages >= 2);
    assert_eq!(ids.len(), counted);
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        counted,
        "a check-in shown twice"
    );
    // Past the end: no check-in, and "newer" leads back to the last page.
    let (status, html) = get("/net?offset=100000".into()).await;
    assert_eq!(status, 200);
    assert!(!html.contains("<article"), "check-ins past the end");
    let last = (counted - 1) / 200 * 200;
    assert!(
        html.contains(&format!("href=\"/net?offset={last}\" rel=\"prev\"")),
        "no way back to the last page ({last})"
    );
    let (status, _) = get("/net?offset=-1".into()).await;
    assert_eq!(status, 400);
}

/// The values of `attr` on every `<tr` of `html`'s element `tbody_id`, in order.
fn row_attrs(html: &str, tbody_id: &str, attr: &str) -> Vec<String> {
    let body = html
        .split(&format!("<tbody id=\"{tbody_id}\""))
        .nth(1)
        .and_then(|t| t.split("</tbody>").next())
        .unwrap_or_else(|| panic!("no tbody {tbody_id}"));
    body.split("<tr ")
        .skip(1)
        .map(|r| {
            format!(" {r}")
                .split(&format!(" {attr}=\""))
                .nth(1)
                .and_then(|t| t.split('"').next())
                .unwrap_or_else(|| panic!("a row without {attr}"))
                .to_string()
        })
        .collect()
}

/// The node list and a busy node's packets come with their first rows only (the rest is
/// the scripts' to fetch: the browser tests scroll, filter and export them); the graph
/// page carries no nodes or links. Checked to fail with the full list in the page.
#[tokio::test]
async fn big_lists_come_with_their_first_rows() {
    let cfg = meshview_sim::SimConfig {
        nodes: 120,
        gateways: 12,
        packets: 3000,
        ..crate::helpers::sim_config("msh/US/bayarea")
    };
    let s = Served::start_with(Backend::Sqlite, cfg).await;
    let client = crate::common::http();
    let page = |path: String| {
        let client = client.clone();
        let url = format!("{}{path}", s.base);
        async move {
            let r = client.get(url).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{path}");
            r.text().await.unwrap()
        }
    };
    const FIRST: usize = 50;

    // The node list opens on the nodes active within 3 days, most recently seen first.
    let mut active: Vec<(i64, i64)> = arr(&s.ok("/api/nodes?days_active=3").await["nodes"])
        .iter()
        .map(|n| {
            (
                n["last_seen_us"].as_i64().unwrap(),
                n["node_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(active.len() > FIRST, "only {} active nodes", active.len());
    active.sort_by(|a, b| b.cmp(a));
    let html = page("/nodelist".into()).await;
    let count: usize = html
        .split("id=\"nl-count\">")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert_eq!(count, active.len(), "the count covers every active node");
    let lasts: Vec<i64> = row_attrs(&html, "nl-body", "data-last")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(lasts.len(), FIRST);
    let want: Vec<i64> = active.iter().take(FIRST).map(|a| a.0).collect();
    assert_eq!(lasts, want, "the most recently seen first");
    // A search names a node beyond the first rows: it is among them.
    let far = active[FIRST + 5].1;
    let html = page(format!("/nodelist?q=!{far:08x}")).await;
    let nums = row_attrs(&html, "nl-body", "data-num");
    assert_eq!(nums, vec![far.to_string()], "?q= filters the first rows");

    // A busy node: its newest packets, an "older" button for the rest.
    let busy = arr(&s.ok("/api/stats/top?limit=1").await["nodes"])[0]["node_id"]
        .as_i64()
        .unwrap();
    let newest: Vec<String> = arr(&s
        .ok(&format!("/api/packets?node_id={busy}&limit={FIRST}"))
        .await["packets"])
    .iter()
    .map(|p| p["id"].to_string())
    .collect();
    assert_eq!(newest.len(), FIRST, "the busy node has more than a page");
    let html = page(format!("/node/{busy}")).await;
    assert_eq!(row_attrs(&html, "pk-body", "data-id"), newest);
    assert!(html.contains("<button id=\"pk-more\" type=\"button\">"));

    // The graph's page: a frame, its script asks for nodes and links.
    let html = page("/nodegraph".into()).await;
    let data = html
        .split("<script type=\"application/json\" id=\"page-data\">")
        .nth(1)
        .and_then(|t| t.split("</script>").next())
        .expect("page data");
    let data: Value = serde_json::from_str(data).unwrap();
    assert!(data.get("nodes").is_none() && data.get("edges").is_none());
}

/// The firehose's channel filter (MeshView 3.0.6's): `?channel=` lists only that
/// channel's packets (with `?portnum=` too), offers the channels heard this week, keeps
/// the choice selected; a bad value is a 400 page.
#[tokio::test]
async fn firehose_filters_by_channel() {
    let s = Served::start(Backend::Sqlite).await;
    let client = crate::common::http();
    let page = |path: String| {
        let client = client.clone();
        let url = format!("{}{path}", s.base);
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let channels: Vec<String> =
        arr(&s.ok("/api/channels?period_type=day&length=7").await["channels"])
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
    assert!(
        channels.len() >= 2,
        "the test mesh has several channels: {channels:?}"
    );
    let cells = |html: &str| -> Vec<String> {
        html.split("<td data-label=\"Channel\">")
            .skip(1)
            .map(|t| t.split('<').next().unwrap().to_string())
            .collect()
    };
    let (status, all) = page("/firehose".into()).await;
    assert_eq!(status, 200);
    for c in &channels {
        assert!(
            all.contains(&format!("<option value=\"{c}\">")),
            "{c} offered"
        );
    }
    let mixed = cells(&all);
    assert!(
        mixed.iter().any(|c| c != &mixed[0]),
        "the unfiltered list mixes channels"
    );
    for c in &channels {
        let (status, html) = page(format!("/firehose?channel={c}")).await;
        assert_eq!(status, 200);
        let rows = cells(&html);
        assert!(
            !rows.is_empty() && rows.iter().all(|x| x == c),
            "{c}: {rows:?}"
        );
        assert!(html.contains(&format!("<option value=\"{c}\" selected>")));
    }
    let (_, text_only) = page(format!("/firehose?channel={}&portnum=1", channels[0])).await;
    assert!(text_only.contains("data-port=\"1\"") || !text_only.contains("<tr data-id"));
    assert!(!text_only.contains("data-port=\"3\""));
    let (status, _) = page(format!("/firehose?channel={}", "x".repeat(65))).await;
    assert_eq!(status, 400);
}

/// `/api/snapshots/daily` (MeshView 3.0.6's shape) against the stored rows, day by day.
async fn daily_snapshots(s: &Served) {
    const DAY: i64 = 86_400_000_000;
    let body = s.ok("/api/snapshots/daily?length=7").await;
    let data = arr(&body["data"]);
    assert!(!data.is_empty());
    let mut previous = String::new();
    let mut packets = 0;
    for d in data {
        let date = d["date"].as_str().unwrap().to_string();
        assert!(date > previous, "oldest first");
        previous = date.clone();
        let start = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros();
        let within = format!(
            "import_time_us >= {start} AND import_time_us < {}",
            start + DAY
        );
        for (field, count) in [
            ("packet_count", "COUNT(*) FROM packet"),
            ("node_count", "COUNT(DISTINCT from_node_id) FROM packet"),
            ("gateway_count", "COUNT(DISTINCT node_id) FROM packet_seen"),
        ] {
            let want = s.db.scalar(&format!("SELECT {count} WHERE {within}")).await;
            assert_eq!(d[field].as_i64().unwrap(), want, "{date}: {field}");
        }
        let at = d["captured_at_us"].as_i64().unwrap();
        assert!(at > start && at <= start + DAY, "{date}: captured at {at}");
        packets += d["packet_count"].as_i64().unwrap();
    }
    assert_eq!(
        packets,
        s.db.count("packet").await,
        "every packet on some day"
    );
    // MeshView clamps the length; a length that is no number is a 400.
    // length=0 is clamped to 1: today alone (today's numbers, taken again).
    let today = s.ok("/api/snapshots/daily?length=0").await;
    let today = arr(&today["data"]);
    let last = &data[data.len() - 1];
    assert_eq!(today.len(), 1);
    for k in ["date", "node_count", "packet_count", "gateway_count"] {
        assert_eq!(today[0][k], last[k], "{k}");
    }
    s.ok("/api/snapshots/daily?length=100000").await;
    s.bad("/api/snapshots/daily?length=week", "length").await;
}
