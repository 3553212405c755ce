//! The step function of the writer: one MQTT message in, at most one write out.
//!
//! `Pipeline::handle(topic, payload, now_us)` decodes and decrypts the envelope, applies the
//! skip list and the flood guard, and builds the rows the packet produces. It never fails
//! and never panics on input: every rejection is counted by reason.

use std::collections::HashSet;
use std::sync::Arc;

use meshview_protocol::pb::PortNum;
use meshview_protocol::{
    DecodeOptions, DecodedEnvelope, Decryption, Keyring, NodeId, Payload, RejectReason,
    decode_envelope_with, links, pb,
};
use prost::Message;

use super::flood::{FloodGuard, FloodLimits, Verdict};
use super::stats::IngestStats;
use crate::config::Config;
use meshview_store::ops::{LinkObs, NodeFacts, Reception, TracerouteRow, WriteOp};

const PORT_TEXT: i32 = PortNum::TextMessageApp as i32;
const PORT_POSITION: i32 = PortNum::PositionApp as i32;
const PORT_NODEINFO: i32 = PortNum::NodeinfoApp as i32;
const PORT_TRACEROUTE: i32 = PortNum::TracerouteApp as i32;
const PORT_MAP_REPORT: i32 = PortNum::MapReportApp as i32;

/// Start-up problems in the ingest settings (named like config errors).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("config error: mqtt.secondary_keys: {0}")]
    Keys(String),
    #[error(
        "config error: mqtt.skip_node_ids = {value:?}: expected a node id (decimal, 0x… or !hex)"
    )]
    SkipId { value: String },
}

pub struct Pipeline {
    keyring: Keyring,
    skip: HashSet<u32>,
    flood: FloodGuard,
    redact_direct_messages: bool,
    decode_json: bool,
    decode: DecodeOptions,
    stats: Arc<IngestStats>,
}

impl Pipeline {
    pub fn from_config(cfg: &Config, stats: Arc<IngestStats>) -> Result<Pipeline, PipelineError> {
        let keyring = Keyring::with_secondary(&cfg.mqtt.secondary_keys.join(","))
            .map_err(|e| PipelineError::Keys(e.to_string()))?;
        let mut skip = HashSet::new();
        for v in &cfg.mqtt.skip_node_ids {
            let id: NodeId = v
                .parse()
                .map_err(|_| PipelineError::SkipId { value: v.clone() })?;
            skip.insert(id.0);
        }
        Ok(Pipeline {
            keyring,
            skip,
            flood: FloodGuard::new(FloodLimits {
                per_minute: cfg.mqtt.flood_per_minute,
                per_hour: cfg.mqtt.flood_per_hour,
            }),
            redact_direct_messages: cfg.mqtt.redact_direct_messages,
            decode_json: cfg.mqtt.decode_json,
            decode: DecodeOptions::default(),
            stats,
        })
    }

    pub fn stats(&self) -> &Arc<IngestStats> {
        &self.stats
    }

    /// Handles one message received at `now_us`.
    pub fn handle(&mut self, topic: &str, payload: &[u8], now_us: i64) -> Option<WriteOp> {
        self.stats.received();
        let decoded_env = match decode_envelope_with(topic, payload, &self.keyring, &self.decode) {
            Err(RejectReason::JsonTopic) if self.decode_json => {
                meshview_protocol::json::decode_json_envelope(topic, payload)
            }
            other => other,
        };
        let env = match decoded_env {
            Ok(e) => e,
            Err(reason) => {
                self.stats.dropped(reason.as_str());
                return None;
            }
        };
        let from = env.from().0;
        if self.skip.contains(&from) {
            self.stats.dropped("skip_list");
            return None;
        }
        if env.id() == 0 {
            // Map reports travel with id 0: they update the node but are no packet.
            if let Some(Payload::MapReport(m)) = &env.payload() {
                self.stats.accepted();
                return Some(WriteOp::Node {
                    node: from,
                    channel: clean(&env.channel),
                    facts: map_report_facts(m),
                    at_us: now_us,
                });
            }
            self.stats.dropped("zero_packet_id");
            return None;
        }
        match self
            .flood
            .check(from, env.id(), now_us.div_euclid(1_000_000))
        {
            Verdict::Accept => {}
            Verdict::Drop { warn } => {
                if warn {
                    let l = self.flood.limits();
                    tracing::warn!(
                        sender = %env.from(),
                        per_minute = l.per_minute,
                        per_hour = l.per_hour,
                        "flood guard: dropping this sender's packets over the limit for the rest of the window"
                    );
                }
                self.stats.dropped("flood");
                return None;
            }
        }
        if env.decryption == Decryption::Undecryptable {
            self.stats.undecryptable();
        }
        let reception = self.rows(&env, topic, now_us, true);
        self.stats.accepted();
        Some(WriteOp::Reception(Box::new(reception)))
    }

    /// A stored undecryptable packet decoded again with today's keys
    /// (`meshview_store::write::retro`): `envelope` is rebuilt from the stored ciphertext
    /// and its first reception. The rows are those [`Pipeline::handle`] would have built
    /// had the key been known then; `None` unless the packet decrypts now (or its sender
    /// is on the skip list). Nothing is counted and the flood guard is not asked: the
    /// packet was accepted once already.
    pub fn decode_again(&self, topic: &str, envelope: &[u8], at_us: i64) -> Option<Reception> {
        let env = decode_envelope_with(topic, envelope, &self.keyring, &self.decode).ok()?;
        if !matches!(env.decryption, Decryption::Decrypted { .. })
            || env.id() == 0
            || self.skip.contains(&env.from().0)
        {
            return None;
        }
        Some(self.rows(&env, topic, at_us, false))
    }

    /// The rows an accepted packet produces; `count`: note payload oddities in the stats.
    fn rows(&self, env: &DecodedEnvelope, topic: &str, now_us: i64, count: bool) -> Reception {
        let from = env.from().0;
        let decoded = env.payload();
        let portnum = env.portnum();
        let mut facts = None;
        let mut public_key = None;
        let mut traceroute = None;
        match &decoded {
            Some(Payload::User(u)) => {
                let claimed = NodeId::parse_bang(&u.id).ok();
                if count && (claimed.is_some_and(|c| c.0 != from) || claimed.is_none()) {
                    // Keyed by the sender, never by the id the payload claims.
                    self.stats.noted("nodeinfo_claims_other_id");
                    tracing::debug!(sender = %env.from(), claimed = %u.id, "NODEINFO claims another node id");
                }
                facts = Some(NodeFacts::Info {
                    long_name: clean(&u.long_name),
                    short_name: clean(&u.short_name),
                    hw_model: meshview_protocol::payload::hw_model_name(u.hw_model),
                    role: meshview_protocol::payload::role_name(u.role),
                });
                if !u.public_key.is_empty() {
                    public_key = Some(hex::encode(&u.public_key));
                }
            }
            Some(Payload::Position(p)) => {
                // (0, 0) is a radio without a fix; 0 on one axis is the equator or the
                // prime meridian, a real place.
                if let (Some(lat), Some(lon)) = (p.latitude_i, p.longitude_i)
                    && (lat, lon) != (0, 0)
                {
                    facts = Some(NodeFacts::Position {
                        lat: lat as i64,
                        lon: lon as i64,
                    });
                }
            }
            Some(Payload::MapReport(m)) => facts = Some(map_report_facts(m)),
            Some(Payload::RouteDiscovery(r)) => {
                let data = env.data().expect("decoded payload implies data");
                let reply = !data.want_response && data.request_id != 0;
                traceroute = Some(TracerouteRow {
                    done: !data.want_response,
                    route: data.payload.to_vec(),
                    route_return: reply.then(|| {
                        pb::RouteDiscovery {
                            route_back: r.route_back.clone(),
                            snr_back: r.snr_back.clone(),
                            ..Default::default()
                        }
                        .encode_to_vec()
                    }),
                    request_id: reply.then_some(data.request_id as i64),
                });
            }
            Some(Payload::Undecodable(port, _))
                if count
                    && matches!(
                        *port,
                        PORT_NODEINFO | PORT_POSITION | PORT_TRACEROUTE | PORT_MAP_REPORT
                    ) =>
            {
                self.stats.noted("payload_undecodable");
            }
            _ => {}
        }

        let mut packet = env.packet.clone();
        if self.redact_direct_messages
            && portnum == PORT_TEXT
            && env.to() != NodeId::BROADCAST
            && let Some(pb::mesh_packet::PayloadVariant::Decoded(d)) = &mut packet.payload_variant
        {
            d.payload = Default::default();
        }

        Reception {
            packet_id: env.id(),
            from,
            to: env.to().0,
            portnum,
            channel: clean(&env.channel),
            payload: packet.encode_to_vec(),
            gateway: env.gateway.0,
            rx_time: env.rx_time() as i64,
            hop_limit: env.hop_limit() as i32,
            hop_start: env.hop_start() as i32,
            rx_snr: env.rx_snr(),
            rx_rssi: env.rx_rssi(),
            relay_node: env.relay_node(),
            topic: clean(topic),
            received_us: now_us,
            facts,
            public_key,
            traceroute,
            links: match (env.data(), &decoded) {
                (Some(d), Some(p)) => links::packet_links(env.from(), env.to(), d, p)
                    .into_iter()
                    .map(LinkObs::from)
                    .collect(),
                _ => Vec::new(),
            },
            text: env
                .data()
                .and_then(|d| meshview_protocol::payload::searchable_text(portnum, env.to(), d)),
        }
    }
}

/// Text from the mesh as stored: NUL characters removed (PostgreSQL text cannot hold
/// them, and firmware pads some names with them).
fn clean(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s.to_owned()
    }
}

fn map_report_facts(m: &pb::MapReport) -> NodeFacts {
    let f = meshview_protocol::payload::MapReportFields::from(m);
    let has_position = (f.latitude_i, f.longitude_i) != (0, 0);
    NodeFacts::MapReport {
        long_name: clean(&f.long_name),
        short_name: clean(&f.short_name),
        hw_model: f.hw_model,
        role: f.role,
        firmware: clean(&f.firmware_version),
        lat: has_position.then_some(f.latitude_i as i64),
        lon: has_position.then_some(f.longitude_i as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshview_protocol::pb;
    use prost::Message;

    /// A cleartext POSITION from `!00001234` heard by gateway `!0000abcd`.
    fn position(lat: i32, lon: i32) -> Vec<u8> {
        let pos = pb::Position {
            latitude_i: Some(lat),
            longitude_i: Some(lon),
            ..Default::default()
        };
        let packet = pb::MeshPacket {
            from: 0x1234,
            to: u32::MAX,
            id: 77,
            hop_start: 3,
            hop_limit: 3,
            payload_variant: Some(pb::mesh_packet::PayloadVariant::Decoded(pb::Data {
                portnum: pb::PortNum::PositionApp as i32,
                payload: pos.encode_to_vec(),
                ..Default::default()
            })),
            ..Default::default()
        };
        pb::ServiceEnvelope {
            packet: Some(packet),
            channel_id: "LongFast".into(),
            gateway_id: "!0000abcd".into(),
        }
        .encode_to_vec()
    }

    fn facts(lat: i32, lon: i32) -> Option<NodeFacts> {
        let mut p = Pipeline::from_config(&Config::defaults(), Arc::default()).unwrap();
        match p.handle("msh/US/2/e/LongFast/!0000abcd", &position(lat, lon), 1) {
            Some(WriteOp::Reception(r)) => r.facts,
            other => panic!("not stored: {other:?}"),
        }
    }

    #[test]
    fn zero_zero_is_no_fix_but_the_equator_is_a_place() {
        assert_eq!(facts(0, 0), None);
        assert_eq!(
            facts(0, 325_000_000),
            Some(NodeFacts::Position {
                lat: 0,
                lon: 325_000_000
            })
        );
        assert_eq!(
            facts(515_000_000, 0),
            Some(NodeFacts::Position {
                lat: 515_000_000,
                lon: 0
            })
        );
    }
}
