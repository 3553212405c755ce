//! A minimal protobuf *encoder* for the Meshtastic messages the simulator emits.
//!
//! Why hand-written: the main crate cannot name `prost::Message` (neither `prost`
//! nor `meshtastic` is a direct dependency and `meshview_protocol` does not
//! re-export the trait), so `encode_to_vec()` is out of reach. Decoding is never
//! done here; the tests decode everything with `meshview_protocol` (prost), which
//! checks these encoders field by field. Once `Message` is reachable, each
//! `encode_*` function can become `m.encode_to_vec()`.
//!
//! Proto3 rules followed: implicit-presence scalars are omitted when zero,
//! `optional` scalars and oneof members are written whenever set, repeated
//! scalars are packed.

use meshview_protocol::pb;
use meshview_protocol::pb::mesh_packet::PayloadVariant;

const VARINT: u32 = 0;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// A protobuf message under construction.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

impl Writer {
    pub(crate) fn new() -> Writer {
        Writer::default()
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }

    fn key(&mut self, field: u32, wire_type: u32) {
        put_varint(&mut self.buf, u64::from((field << 3) | wire_type));
    }

    /// `uint32`, `uint64`, `bool`, enums: written unless zero.
    pub(crate) fn uint(&mut self, field: u32, v: u64) -> &mut Self {
        if v != 0 {
            self.opt_uint(field, Some(v));
        }
        self
    }

    pub(crate) fn opt_uint(&mut self, field: u32, v: Option<u64>) -> &mut Self {
        if let Some(v) = v {
            self.key(field, VARINT);
            put_varint(&mut self.buf, v);
        }
        self
    }

    /// `int32`: negative values are sign-extended to ten bytes, as the spec says.
    pub(crate) fn int32(&mut self, field: u32, v: i32) -> &mut Self {
        self.uint(field, i64::from(v) as u64)
    }

    pub(crate) fn opt_int32(&mut self, field: u32, v: Option<i32>) -> &mut Self {
        self.opt_uint(field, v.map(|v| i64::from(v) as u64))
    }

    pub(crate) fn boolean(&mut self, field: u32, v: bool) -> &mut Self {
        self.uint(field, u64::from(v))
    }

    pub(crate) fn fixed32(&mut self, field: u32, v: u32) -> &mut Self {
        if v != 0 {
            self.opt_fixed32(field, Some(v));
        }
        self
    }

    pub(crate) fn opt_fixed32(&mut self, field: u32, v: Option<u32>) -> &mut Self {
        if let Some(v) = v {
            self.key(field, FIXED32);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self
    }

    pub(crate) fn opt_sfixed32(&mut self, field: u32, v: Option<i32>) -> &mut Self {
        self.opt_fixed32(field, v.map(|v| v as u32))
    }

    pub(crate) fn float(&mut self, field: u32, v: f32) -> &mut Self {
        if v != 0.0 {
            self.opt_float(field, Some(v));
        }
        self
    }

    pub(crate) fn opt_float(&mut self, field: u32, v: Option<f32>) -> &mut Self {
        self.opt_fixed32(field, v.map(f32::to_bits))
    }

    /// `bytes` and `string` (and pre-encoded fields): written unless empty.
    pub(crate) fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        if !v.is_empty() {
            self.message(field, v);
        }
        self
    }

    /// A length-delimited field written even when empty (message presence).
    pub(crate) fn message(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.key(field, LEN);
        put_varint(&mut self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    pub(crate) fn packed_fixed32(&mut self, field: u32, v: &[u32]) -> &mut Self {
        if !v.is_empty() {
            let body: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            self.message(field, &body);
        }
        self
    }

    pub(crate) fn packed_int32(&mut self, field: u32, v: &[i32]) -> &mut Self {
        if !v.is_empty() {
            let mut body = Vec::new();
            for x in v {
                put_varint(&mut body, i64::from(*x) as u64);
            }
            self.message(field, &body);
        }
        self
    }
}

pub(crate) fn encode_envelope(e: &pb::ServiceEnvelope) -> Vec<u8> {
    let mut w = Writer::new();
    if let Some(p) = &e.packet {
        w.message(1, &encode_packet(p));
    }
    w.bytes(2, e.channel_id.as_bytes())
        .bytes(3, e.gateway_id.as_bytes());
    w.finish()
}

pub(crate) fn encode_packet(p: &pb::MeshPacket) -> Vec<u8> {
    let mut w = Writer::new();
    w.fixed32(1, p.from)
        .fixed32(2, p.to)
        .uint(3, p.channel.into());
    match &p.payload_variant {
        Some(PayloadVariant::Decoded(d)) => {
            w.message(4, &encode_data(d));
        }
        Some(PayloadVariant::Encrypted(c)) => {
            w.message(5, c);
        }
        None => {}
    }
    w.fixed32(6, p.id)
        .fixed32(7, p.rx_time)
        .float(8, p.rx_snr)
        .uint(9, p.hop_limit.into())
        .boolean(10, p.want_ack)
        .int32(11, p.priority)
        .int32(12, p.rx_rssi)
        .boolean(14, p.via_mqtt)
        .uint(15, p.hop_start.into())
        .bytes(16, &p.public_key)
        .boolean(17, p.pki_encrypted)
        .uint(18, p.next_hop.into())
        .uint(19, p.relay_node.into())
        .uint(20, p.tx_after.into())
        .int32(21, p.transport_mechanism);
    w.finish()
}

pub(crate) fn encode_data(d: &pb::Data) -> Vec<u8> {
    let mut w = Writer::new();
    w.int32(1, d.portnum)
        .bytes(2, &d.payload)
        .boolean(3, d.want_response)
        .fixed32(4, d.dest)
        .fixed32(5, d.source)
        .fixed32(6, d.request_id)
        .fixed32(7, d.reply_id)
        .fixed32(8, d.emoji)
        .opt_uint(9, d.bitfield.map(u64::from));
    w.finish()
}

pub(crate) fn encode_user(u: &pb::User) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(1, u.id.as_bytes())
        .bytes(2, u.long_name.as_bytes())
        .bytes(3, u.short_name.as_bytes())
        .int32(5, u.hw_model)
        .boolean(6, u.is_licensed)
        .int32(7, u.role)
        .bytes(8, &u.public_key)
        .opt_uint(9, u.is_unmessagable.map(u64::from));
    w.finish()
}

pub(crate) fn encode_position(p: &pb::Position) -> Vec<u8> {
    let mut w = Writer::new();
    w.opt_sfixed32(1, p.latitude_i)
        .opt_sfixed32(2, p.longitude_i)
        .opt_int32(3, p.altitude)
        .fixed32(4, p.time)
        .int32(5, p.location_source)
        .int32(6, p.altitude_source)
        .fixed32(7, p.timestamp)
        .uint(11, p.pdop.into())
        .uint(12, p.hdop.into())
        .opt_uint(15, p.ground_speed.map(u64::from))
        .opt_uint(16, p.ground_track.map(u64::from))
        .uint(19, p.sats_in_view.into())
        .uint(22, p.seq_number.into())
        .uint(23, p.precision_bits.into());
    w.finish()
}

pub(crate) fn encode_telemetry(t: &pb::Telemetry) -> Vec<u8> {
    use pb::telemetry::Variant;
    let mut w = Writer::new();
    w.fixed32(1, t.time);
    match &t.variant {
        Some(Variant::DeviceMetrics(m)) => {
            let mut d = Writer::new();
            d.opt_uint(1, m.battery_level.map(u64::from))
                .opt_float(2, m.voltage)
                .opt_float(3, m.channel_utilization)
                .opt_float(4, m.air_util_tx)
                .opt_uint(5, m.uptime_seconds.map(u64::from));
            w.message(2, &d.finish());
        }
        Some(Variant::EnvironmentMetrics(m)) => {
            let mut e = Writer::new();
            e.opt_float(1, m.temperature)
                .opt_float(2, m.relative_humidity)
                .opt_float(3, m.barometric_pressure)
                .opt_float(4, m.gas_resistance)
                .opt_float(5, m.voltage)
                .opt_float(6, m.current)
                .opt_uint(7, m.iaq.map(u64::from))
                .opt_float(9, m.lux);
            w.message(3, &e.finish());
        }
        // The simulator emits no other telemetry variants.
        _ => {}
    }
    w.finish()
}

pub(crate) fn encode_route_discovery(r: &pb::RouteDiscovery) -> Vec<u8> {
    let mut w = Writer::new();
    w.packed_fixed32(1, &r.route)
        .packed_int32(2, &r.snr_towards)
        .packed_fixed32(3, &r.route_back)
        .packed_int32(4, &r.snr_back);
    w.finish()
}

pub(crate) fn encode_routing(r: &pb::Routing) -> Vec<u8> {
    use pb::routing::Variant;
    let mut w = Writer::new();
    match &r.variant {
        Some(Variant::RouteRequest(d)) => {
            w.message(1, &encode_route_discovery(d));
        }
        Some(Variant::RouteReply(d)) => {
            w.message(2, &encode_route_discovery(d));
        }
        // A oneof member is present even when zero (error_reason NONE = an ack).
        Some(Variant::ErrorReason(e)) => {
            w.opt_int32(3, Some(*e));
        }
        None => {}
    }
    w.finish()
}

pub(crate) fn encode_neighbor_info(n: &pb::NeighborInfo) -> Vec<u8> {
    let mut w = Writer::new();
    w.uint(1, n.node_id.into())
        .uint(2, n.last_sent_by_id.into())
        .uint(3, n.node_broadcast_interval_secs.into());
    for nb in &n.neighbors {
        let mut m = Writer::new();
        m.uint(1, nb.node_id.into())
            .float(2, nb.snr)
            .fixed32(3, nb.last_rx_time)
            .uint(4, nb.node_broadcast_interval_secs.into());
        w.message(4, &m.finish());
    }
    w.finish()
}

pub(crate) fn encode_map_report(m: &pb::MapReport) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(1, m.long_name.as_bytes())
        .bytes(2, m.short_name.as_bytes())
        .int32(3, m.role)
        .int32(4, m.hw_model)
        .bytes(5, m.firmware_version.as_bytes())
        .int32(6, m.region)
        .int32(7, m.modem_preset)
        .boolean(8, m.has_default_channel)
        .opt_sfixed32(9, (m.latitude_i != 0).then_some(m.latitude_i))
        .opt_sfixed32(10, (m.longitude_i != 0).then_some(m.longitude_i))
        .int32(11, m.altitude)
        .uint(12, m.position_precision.into())
        .uint(13, m.num_online_local_nodes.into())
        .boolean(14, m.has_opted_report_location);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshview_protocol::{Keyring, Payload, decode_envelope, decode_payload};

    #[test]
    fn varints_and_negative_int32() {
        let mut w = Writer::new();
        w.uint(1, 300).int32(2, -1).uint(3, 0).fixed32(4, 1);
        let b = w.finish();
        assert_eq!(&b[..3], &[0x08, 0xac, 0x02]);
        // -1 as int32 is ten bytes of varint.
        assert_eq!(b[3], 0x10);
        assert_eq!(
            &b[4..14],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(&b[14..], &[0x25, 1, 0, 0, 0]);
    }

    /// Every field the encoder writes survives a prost decode unchanged.
    #[test]
    fn packet_and_envelope_round_trip() {
        let data = pb::Data {
            portnum: pb::PortNum::TextMessageApp as i32,
            payload: "héllo 👋".as_bytes().to_vec(),
            want_response: true,
            dest: 5,
            source: 6,
            request_id: 0xdead_beef,
            reply_id: 7,
            emoji: 1,
            bitfield: Some(0),
        };
        let packet = pb::MeshPacket {
            from: 0xa1b2_c3d4,
            to: 0xffff_ffff,
            channel: 8,
            id: 0x1234_5678,
            rx_time: 1_767_225_600,
            rx_snr: -13.25,
            hop_limit: 2,
            want_ack: true,
            priority: pb::mesh_packet::Priority::Reliable as i32,
            rx_rssi: -117,
            via_mqtt: true,
            hop_start: 7,
            public_key: vec![1, 2, 3],
            next_hop: 9,
            relay_node: 0xd4,
            tx_after: 3,
            transport_mechanism: 1,
            payload_variant: Some(PayloadVariant::Decoded(data)),
            ..Default::default()
        };
        let env = pb::ServiceEnvelope {
            packet: Some(packet.clone()),
            channel_id: "LongFast".into(),
            gateway_id: "!0000beef".into(),
        };
        let topic = "msh/US/2/e/LongFast/!0000beef";
        let got = decode_envelope(topic, &encode_envelope(&env), &Keyring::new()).unwrap();
        assert_eq!(got.packet, packet);
        assert_eq!(got.channel, "LongFast");
        assert_eq!(got.gateway.0, 0xbeef);
    }

    #[test]
    fn payload_messages_round_trip() {
        use pb::telemetry::Variant as T;
        let check = |port: pb::PortNum, bytes: Vec<u8>, want: Payload| {
            assert_eq!(decode_payload(port as i32, &bytes), want);
        };
        let user = pb::User {
            id: "!a1b2c3d4".into(),
            long_name: "Café 🐙".into(),
            short_name: "🐙".into(),
            hw_model: pb::HardwareModel::HeltecV3 as i32,
            is_licensed: true,
            role: 11,
            public_key: vec![9; 32],
            is_unmessagable: Some(false),
            ..Default::default()
        };
        check(
            pb::PortNum::NodeinfoApp,
            encode_user(&user),
            Payload::User(user),
        );
        let pos = pb::Position {
            latitude_i: Some(377_749_000),
            longitude_i: Some(-1_224_194_000),
            altitude: Some(-12),
            time: 5,
            location_source: 1,
            altitude_source: 1,
            timestamp: 6,
            pdop: 7,
            hdop: 8,
            ground_speed: Some(0),
            ground_track: Some(90),
            sats_in_view: 9,
            seq_number: 10,
            precision_bits: 32,
            ..Default::default()
        };
        check(
            pb::PortNum::PositionApp,
            encode_position(&pos),
            Payload::Position(pos),
        );
        for variant in [
            T::DeviceMetrics(pb::DeviceMetrics {
                battery_level: Some(0),
                voltage: Some(3.7),
                channel_utilization: Some(12.5),
                air_util_tx: Some(1.25),
                uptime_seconds: Some(99),
            }),
            T::EnvironmentMetrics(pb::EnvironmentMetrics {
                temperature: Some(-7.5),
                relative_humidity: Some(40.0),
                barometric_pressure: Some(1013.2),
                gas_resistance: Some(1.0),
                voltage: Some(5.0),
                current: Some(0.5),
                iaq: Some(20),
                lux: Some(300.0),
                ..Default::default()
            }),
        ] {
            let t = pb::Telemetry {
                time: 42,
                variant: Some(variant),
            };
            check(
                pb::PortNum::TelemetryApp,
                encode_telemetry(&t),
                Payload::Telemetry(t),
            );
        }
        let rd = pb::RouteDiscovery {
            route: vec![1, 0xffff_fffe],
            snr_towards: vec![-40, 12, 48],
            route_back: vec![3],
            snr_back: vec![-80, 0],
        };
        check(
            pb::PortNum::TracerouteApp,
            encode_route_discovery(&rd),
            Payload::RouteDiscovery(rd.clone()),
        );
        for variant in [
            pb::routing::Variant::ErrorReason(0),
            pb::routing::Variant::ErrorReason(5),
            pb::routing::Variant::RouteReply(rd),
        ] {
            let r = pb::Routing {
                variant: Some(variant),
            };
            check(
                pb::PortNum::RoutingApp,
                encode_routing(&r),
                Payload::Routing(r),
            );
        }
        let ni = pb::NeighborInfo {
            node_id: 1,
            last_sent_by_id: 2,
            node_broadcast_interval_secs: 900,
            neighbors: vec![
                pb::Neighbor {
                    node_id: 3,
                    snr: -2.5,
                    last_rx_time: 4,
                    node_broadcast_interval_secs: 5,
                },
                pb::Neighbor::default(),
            ],
        };
        check(
            pb::PortNum::NeighborinfoApp,
            encode_neighbor_info(&ni),
            Payload::NeighborInfo(ni),
        );
        let mr = pb::MapReport {
            long_name: "Ñandú".into(),
            short_name: "Ñ1".into(),
            role: 2,
            hw_model: 9,
            firmware_version: "2.6.11.60ec05e".into(),
            region: 1,
            modem_preset: 0,
            has_default_channel: true,
            latitude_i: 377_000_000,
            longitude_i: -1_220_000_000,
            altitude: 30,
            position_precision: 14,
            num_online_local_nodes: 17,
            has_opted_report_location: true,
        };
        check(
            pb::PortNum::MapReportApp,
            encode_map_report(&mr),
            Payload::MapReport(mr),
        );
    }
}
