//! Protobuf text format as printed by Python's `text_format.MessageToString`
//! (default options), which MeshView's JSON API exposes as a packet's `payload`.
//!
//! Rules reproduced: fields in field-number order; implicit-presence fields
//! omitted when zero/empty; `optional` and oneof members printed whenever set;
//! enums by name (number if unknown); strings and bytes quoted with C escapes
//! and non-ASCII bytes as octal; floats as Python's `str()` of the shortest
//! decimal that round-trips the f32; nested messages as `name {…}` indented two
//! spaces per level. prost has no reflection, so each message lists its fields.
//!
//! The same walk can also write the message as JSON ([`Payload::text_and_json`]), so
//! the API's structured `decoded` comes from the one field list too, without reading
//! the text back.

use crate::payload::Payload;
use crate::pb;
use crate::pb::config::device_config::Role;
use crate::pb::config::lo_ra_config::{ModemPreset, RegionCode};

/// Messages that can be printed in MeshView's text format.
pub trait TextFormat {
    /// The text format, without the trailing newline (MeshView strips it).
    fn to_text_format(&self) -> String;

    /// The text format and the same fields as a JSON object: proto field names in
    /// field-number order, enums by name (number if unknown), `public_key` and
    /// `macaddr` as hex, repeated fields as lists, floats as printed in the text (NaN
    /// and infinities as `null`).
    fn to_text_and_json(&self) -> (String, String);
}

/// Prints `msg` in MeshView's text format. See [`TextFormat`].
pub fn to_text_format<M: TextFormat + ?Sized>(msg: &M) -> String {
    msg.to_text_format()
}

impl Payload {
    /// The text MeshView shows for this payload: the message text for text
    /// messages, the text format for decoded messages, `None` otherwise.
    pub fn text_format(&self) -> Option<String> {
        Some(match self {
            Payload::Text(s) => s.clone(),
            Payload::Position(m) => m.to_text_format(),
            Payload::User(m) => m.to_text_format(),
            Payload::Routing(m) => m.to_text_format(),
            Payload::Telemetry(m) => m.to_text_format(),
            Payload::RouteDiscovery(m) => m.to_text_format(),
            Payload::NeighborInfo(m) => m.to_text_format(),
            Payload::MapReport(m) => m.to_text_format(),
            Payload::Waypoint(m) => m.to_text_format(),
            Payload::Other(..) | Payload::Undecodable(..) => return None,
        })
    }

    /// [`Payload::text_format`] and the payload as a JSON object (see
    /// [`TextFormat::to_text_and_json`]; a text is `{"text": …}`).
    pub fn text_and_json(&self) -> Option<(String, String)> {
        Some(match self {
            Payload::Text(s) => {
                let mut j = JsonWriter::default();
                j.open(b'{');
                j.key("text");
                j.string(s);
                j.close(b'}');
                (s.clone(), j.finish())
            }
            Payload::Position(m) => m.to_text_and_json(),
            Payload::User(m) => m.to_text_and_json(),
            Payload::Routing(m) => m.to_text_and_json(),
            Payload::Telemetry(m) => m.to_text_and_json(),
            Payload::RouteDiscovery(m) => m.to_text_and_json(),
            Payload::NeighborInfo(m) => m.to_text_and_json(),
            Payload::MapReport(m) => m.to_text_and_json(),
            Payload::Waypoint(m) => m.to_text_and_json(),
            Payload::Other(..) | Payload::Undecodable(..) => return None,
        })
    }
}

/// Field listing for one message type.
trait Fields {
    fn fields(&self, p: &mut Printer);
}

macro_rules! text_format_via_fields {
    ($($t:ty),* $(,)?) => {$(
        impl TextFormat for $t {
            fn to_text_format(&self) -> String {
                let mut p = Printer::default();
                self.fields(&mut p);
                p.text()
            }

            fn to_text_and_json(&self) -> (String, String) {
                // Room for a typical telemetry or position (growing costs a copy).
                let mut json = JsonWriter {
                    out: Vec::with_capacity(256),
                    ..Default::default()
                };
                json.open(b'{');
                let mut p = Printer {
                    out: String::with_capacity(256),
                    json: Some(json),
                    ..Default::default()
                };
                self.fields(&mut p);
                let mut json = p.json.take().expect("set above");
                json.close(b'}');
                (p.text(), json.finish())
            }
        }
    )*};
}

text_format_via_fields!(
    pb::Position,
    pb::User,
    pb::Routing,
    pb::RouteDiscovery,
    pb::Telemetry,
    pb::DeviceMetrics,
    pb::EnvironmentMetrics,
    pb::PowerMetrics,
    pb::AirQualityMetrics,
    pb::LocalStats,
    pb::HealthMetrics,
    pb::HostMetrics,
    pb::TrafficManagementStats,
    pb::NeighborInfo,
    pb::Neighbor,
    pb::MapReport,
    pb::Waypoint,
);

/// A `fn(i32) -> Option<name>` for a prost enum type.
macro_rules! names {
    ($e:ty) => {
        |v: i32| <$e>::try_from(v).ok().map(|e| e.as_str_name())
    };
}

type EnumNames = fn(i32) -> Option<&'static str>;

#[derive(Default)]
struct Printer {
    out: String,
    depth: usize,
    /// The same fields as JSON, when asked for.
    json: Option<JsonWriter>,
}

/// A JSON object written member by member alongside the text.
#[derive(Default)]
struct JsonWriter {
    out: Vec<u8>,
    /// Per open object or list: whether it has a member yet.
    has_member: Vec<bool>,
}

impl JsonWriter {
    fn open(&mut self, bracket: u8) {
        self.out.push(bracket);
        self.has_member.push(false);
    }

    fn close(&mut self, bracket: u8) {
        self.out.push(bracket);
        self.has_member.pop();
    }

    /// The comma before every member but the first.
    fn separate(&mut self) {
        if let Some(has) = self.has_member.last_mut() {
            if *has {
                self.out.push(b',');
            }
            *has = true;
        }
    }

    fn key(&mut self, name: &str) {
        self.separate();
        self.string(name);
        self.out.push(b':');
    }

    fn string(&mut self, s: &str) {
        // serde_json's escaping; writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.out, s);
    }

    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn finish(self) -> String {
        // Only `str`s and serde_json's output were written: valid UTF-8.
        String::from_utf8(self.out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// How a field's JSON value relates to its text-format value.
enum JsonAs<'a> {
    /// The same characters (numbers, booleans).
    Same,
    Null,
    /// A JSON string of this text.
    Str(&'a str),
    /// A JSON string of these bytes in hex.
    Hex(&'a [u8]),
}

/// A field value: its text format, written once (the JSON reuses it where it can).
trait Scalar {
    fn text(&self, out: &mut String);
    fn json(&self) -> JsonAs<'_>;
}

macro_rules! integer_scalars {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            fn text(&self, out: &mut String) {
                out.push_str(itoa::Buffer::new().format(*self));
            }
            fn json(&self) -> JsonAs<'_> {
                JsonAs::Same
            }
        }
    )*};
}

integer_scalars!(i32, u32, i64, u64);

impl Scalar for bool {
    fn text(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
    fn json(&self) -> JsonAs<'_> {
        JsonAs::Same
    }
}

impl Scalar for PyFloat {
    fn text(&self, out: &mut String) {
        push_py_float(out, self.0);
    }
    fn json(&self) -> JsonAs<'_> {
        // Python's repr is a valid JSON number (`7.0`, `1e-05`); JSON has no NaN or
        // infinities.
        if self.0.is_finite() {
            JsonAs::Same
        } else {
            JsonAs::Null
        }
    }
}

/// A string field.
struct Str<'a>(&'a str);

impl Scalar for Str<'_> {
    fn text(&self, out: &mut String) {
        push_quoted(out, self.0.as_bytes());
    }
    fn json(&self) -> JsonAs<'_> {
        JsonAs::Str(self.0)
    }
}

/// A bytes field (keys and addresses), shown as hex in JSON.
struct Hex<'a>(&'a [u8]);

impl Scalar for Hex<'_> {
    fn text(&self, out: &mut String) {
        push_quoted(out, self.0);
    }
    fn json(&self) -> JsonAs<'_> {
        JsonAs::Hex(self.0)
    }
}

/// An enum value's name.
struct Name(&'static str);

impl Scalar for Name {
    fn text(&self, out: &mut String) {
        out.push_str(self.0);
    }
    fn json(&self) -> JsonAs<'_> {
        JsonAs::Str(self.0)
    }
}

impl JsonWriter {
    /// A value whose text was just written to `text[start..]`.
    fn value(&mut self, v: &impl Scalar, text: &str) {
        match v.json() {
            JsonAs::Same => self.raw(text),
            JsonAs::Null => self.raw("null"),
            JsonAs::Str(s) => self.string(s),
            JsonAs::Hex(b) => {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                self.out.push(b'"');
                for b in b {
                    self.out.push(DIGITS[usize::from(b >> 4)]);
                    self.out.push(DIGITS[usize::from(b & 0xf)]);
                }
                self.out.push(b'"');
            }
        }
    }
}

impl Printer {
    /// The text without its trailing newline (MeshView strips it).
    fn text(&mut self) -> String {
        let mut out = std::mem::take(&mut self.out);
        out.truncate(out.trim_end_matches('\n').len());
        out
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn line(&mut self, name: &str, value: impl Scalar) {
        let start = self.line_text(name, &value);
        if let Some(j) = &mut self.json {
            j.key(name);
            j.value(&value, &self.out[start..self.out.len() - 1]);
        }
    }

    /// The text line; returns where its value starts. Pieces are pushed directly: a
    /// format string costs more than the line (lists of 1,000 packets print every
    /// field of each).
    fn line_text(&mut self, name: &str, value: &impl Scalar) -> usize {
        self.indent();
        self.out.push_str(name);
        self.out.push_str(": ");
        let start = self.out.len();
        value.text(&mut self.out);
        self.out.push('\n');
        start
    }

    /// Implicit-presence scalar: printed only when non-default.
    fn num<T: Scalar + Default + PartialEq>(&mut self, name: &str, v: T) {
        if v != T::default() {
            self.line(name, v);
        }
    }

    /// Explicit-presence scalar (`optional`): printed whenever set.
    fn opt<T: Scalar>(&mut self, name: &str, v: Option<T>) {
        if let Some(v) = v {
            self.line(name, v);
        }
    }

    fn float(&mut self, name: &str, v: f32) {
        // Presence is by bit pattern, as on the wire: -0.0 counts as set.
        if v.to_bits() != 0 {
            self.line(name, PyFloat(v));
        }
    }

    fn opt_float(&mut self, name: &str, v: Option<f32>) {
        self.opt(name, v.map(PyFloat));
    }

    fn boolean(&mut self, name: &str, v: bool) {
        if v {
            self.line(name, true);
        }
    }

    fn string(&mut self, name: &str, v: &str) {
        if !v.is_empty() {
            self.line(name, Str(v));
        }
    }

    fn hex_bytes(&mut self, name: &str, v: &[u8]) {
        if !v.is_empty() {
            self.line(name, Hex(v));
        }
    }

    fn enumeration(&mut self, name: &str, v: i32, names: EnumNames) {
        if v != 0 {
            self.enum_always(name, v, names);
        }
    }

    fn enum_always(&mut self, name: &str, v: i32, names: EnumNames) {
        match names(v) {
            Some(n) => self.line(name, Name(n)),
            None => self.line(name, v),
        }
    }

    /// A repeated integer field: a line per value, one JSON list.
    fn repeated_ints(&mut self, name: &str, values: impl ExactSizeIterator<Item = i64>) {
        if values.len() == 0 {
            return;
        }
        if let Some(j) = &mut self.json {
            j.key(name);
            j.open(b'[');
        }
        for v in values {
            let start = self.line_text(name, &v);
            if let Some(j) = &mut self.json {
                j.separate();
                j.value(&v, &self.out[start..self.out.len() - 1]);
            }
        }
        if let Some(j) = &mut self.json {
            j.close(b']');
        }
    }

    fn message(&mut self, name: &str, m: &dyn Fields) {
        if let Some(j) = &mut self.json {
            j.key(name);
        }
        self.message_body(name, m);
    }

    /// A repeated message field: a block per message, one JSON list.
    fn repeated_messages<M: Fields>(&mut self, name: &str, items: &[M]) {
        if items.is_empty() {
            return;
        }
        if let Some(j) = &mut self.json {
            j.key(name);
            j.open(b'[');
        }
        for m in items {
            if let Some(j) = &mut self.json {
                j.separate();
            }
            self.message_body(name, m);
        }
        if let Some(j) = &mut self.json {
            j.close(b']');
        }
    }

    /// `name {…}` in the text, `{…}` in the JSON (its key or list written by the caller).
    fn message_body(&mut self, name: &str, m: &dyn Fields) {
        self.indent();
        self.out.push_str(name);
        self.out.push_str(" {\n");
        if let Some(j) = &mut self.json {
            j.open(b'{');
        }
        self.depth += 1;
        m.fields(self);
        self.depth -= 1;
        self.indent();
        self.out.push_str("}\n");
        if let Some(j) = &mut self.json {
            j.close(b'}');
        }
    }
}

/// Python's `str()` of the shortest decimal that round-trips the f32 (an exact tie
/// between two shortest candidates goes to the even digit, as Python's `%g` rounds):
/// positional notation for exponents -4..16 (always with a fraction, `7.0`),
/// scientific otherwise (`1e-05`, `1.5e+16`).
struct PyFloat(f32);

/// Appends Python's `str()` of `v` (see [`PyFloat`]).
fn push_py_float(out: &mut String, v: f32) {
    if v.is_nan() {
        out.push_str("nan");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
        return;
    }
    // ryu gives the shortest round-trip digits ("-3.489", "1e-5", "1.5e16", "100.0");
    // read them as digits and a decimal exponent, then lay them out as Python does.
    let mut buf = ryu::Buffer::new();
    let shortest = buf.format_finite(v);
    let (sign, unsigned) = match shortest.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", shortest),
    };
    let (mantissa, exp) = unsigned.split_once('e').unwrap_or((unsigned, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits = [0u8; 24];
    let mut n = 0;
    // Where the decimal point falls after the first kept digit's position.
    let mut point = int_part.len() as i32 + exp;
    for &d in int_part.as_bytes().iter().chain(frac_part.as_bytes()) {
        if n == 0 && d == b'0' {
            point -= 1;
            continue;
        }
        if n < digits.len() {
            digits[n] = d;
            n += 1;
        }
    }
    while n > 0 && digits[n - 1] == b'0' {
        n -= 1;
    }
    out.push_str(sign);
    if n == 0 {
        out.push_str("0.0");
        return;
    }
    let digits = std::str::from_utf8(&digits[..n]).unwrap_or("0");
    let exp = point - 1;
    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 1..exp.unsigned_abs() {
                out.push('0');
            }
            out.push_str(digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(itoa::Buffer::new().format(e));
    }
}

/// Appends a quoted string with Python protobuf's C escaping (`as_utf8=False`).
fn push_quoted(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &b in bytes {
        match b {
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'"' => out.push_str("\\\""),
            b'\'' => out.push_str("\\'"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                out.push('\\');
                out.push(char::from(b'0' + (b >> 6)));
                out.push(char::from(b'0' + ((b >> 3) & 7)));
                out.push(char::from(b'0' + (b & 7)));
            }
        }
    }
    out.push('"');
}

impl Fields for pb::Position {
    fn fields(&self, p: &mut Printer) {
        p.opt("latitude_i", self.latitude_i);
        p.opt("longitude_i", self.longitude_i);
        p.opt("altitude", self.altitude);
        p.num("time", self.time);
        p.enumeration(
            "location_source",
            self.location_source,
            names!(pb::position::LocSource),
        );
        p.enumeration(
            "altitude_source",
            self.altitude_source,
            names!(pb::position::AltSource),
        );
        p.num("timestamp", self.timestamp);
        p.num("timestamp_millis_adjust", self.timestamp_millis_adjust);
        p.opt("altitude_hae", self.altitude_hae);
        p.opt(
            "altitude_geoidal_separation",
            self.altitude_geoidal_separation,
        );
        p.num("PDOP", self.pdop);
        p.num("HDOP", self.hdop);
        p.num("VDOP", self.vdop);
        p.num("gps_accuracy", self.gps_accuracy);
        p.opt("ground_speed", self.ground_speed);
        p.opt("ground_track", self.ground_track);
        p.num("fix_quality", self.fix_quality);
        p.num("fix_type", self.fix_type);
        p.num("sats_in_view", self.sats_in_view);
        p.num("sensor_id", self.sensor_id);
        p.num("next_update", self.next_update);
        p.num("seq_number", self.seq_number);
        p.num("precision_bits", self.precision_bits);
    }
}

impl Fields for pb::User {
    fn fields(&self, p: &mut Printer) {
        p.string("id", &self.id);
        p.string("long_name", &self.long_name);
        p.string("short_name", &self.short_name);
        #[allow(deprecated)] // still sent by older firmware, and Python prints it
        p.hex_bytes("macaddr", &self.macaddr);
        p.enumeration("hw_model", self.hw_model, names!(pb::HardwareModel));
        p.boolean("is_licensed", self.is_licensed);
        p.enumeration("role", self.role, names!(Role));
        p.hex_bytes("public_key", &self.public_key);
        p.opt("is_unmessagable", self.is_unmessagable);
    }
}

impl Fields for pb::Routing {
    fn fields(&self, p: &mut Printer) {
        use pb::routing::Variant;
        match &self.variant {
            Some(Variant::RouteRequest(r)) => p.message("route_request", r),
            Some(Variant::RouteReply(r)) => p.message("route_reply", r),
            // A oneof member is printed even when zero: an ACK shows `error_reason: NONE`.
            Some(Variant::ErrorReason(e)) => {
                p.enum_always("error_reason", *e, names!(pb::routing::Error))
            }
            None => {}
        }
    }
}

impl Fields for pb::RouteDiscovery {
    fn fields(&self, p: &mut Printer) {
        p.repeated_ints("route", self.route.iter().map(|&v| i64::from(v)));
        p.repeated_ints(
            "snr_towards",
            self.snr_towards.iter().map(|&v| i64::from(v)),
        );
        p.repeated_ints("route_back", self.route_back.iter().map(|&v| i64::from(v)));
        p.repeated_ints("snr_back", self.snr_back.iter().map(|&v| i64::from(v)));
    }
}

impl Fields for pb::Telemetry {
    fn fields(&self, p: &mut Printer) {
        use pb::telemetry::Variant;
        p.num("time", self.time);
        match &self.variant {
            Some(Variant::DeviceMetrics(m)) => p.message("device_metrics", m),
            Some(Variant::EnvironmentMetrics(m)) => p.message("environment_metrics", m),
            Some(Variant::AirQualityMetrics(m)) => p.message("air_quality_metrics", m),
            Some(Variant::PowerMetrics(m)) => p.message("power_metrics", m),
            Some(Variant::LocalStats(m)) => p.message("local_stats", m),
            Some(Variant::HealthMetrics(m)) => p.message("health_metrics", m),
            Some(Variant::HostMetrics(m)) => p.message("host_metrics", m),
            Some(Variant::TrafficManagementStats(m)) => p.message("traffic_management_stats", m),
            None => {}
        }
    }
}

impl Fields for pb::DeviceMetrics {
    fn fields(&self, p: &mut Printer) {
        p.opt("battery_level", self.battery_level);
        p.opt_float("voltage", self.voltage);
        p.opt_float("channel_utilization", self.channel_utilization);
        p.opt_float("air_util_tx", self.air_util_tx);
        p.opt("uptime_seconds", self.uptime_seconds);
    }
}

impl Fields for pb::EnvironmentMetrics {
    fn fields(&self, p: &mut Printer) {
        let m = self;
        p.opt_float("temperature", m.temperature);
        p.opt_float("relative_humidity", m.relative_humidity);
        p.opt_float("barometric_pressure", m.barometric_pressure);
        p.opt_float("gas_resistance", m.gas_resistance);
        p.opt_float("voltage", m.voltage);
        p.opt_float("current", m.current);
        p.opt("iaq", m.iaq);
        p.opt_float("distance", m.distance);
        p.opt_float("lux", m.lux);
        p.opt_float("white_lux", m.white_lux);
        p.opt_float("ir_lux", m.ir_lux);
        p.opt_float("uv_lux", m.uv_lux);
        p.opt("wind_direction", m.wind_direction);
        p.opt_float("wind_speed", m.wind_speed);
        p.opt_float("weight", m.weight);
        p.opt_float("wind_gust", m.wind_gust);
        p.opt_float("wind_lull", m.wind_lull);
        p.opt_float("radiation", m.radiation);
        p.opt_float("rainfall_1h", m.rainfall_1h);
        p.opt_float("rainfall_24h", m.rainfall_24h);
        p.opt("soil_moisture", m.soil_moisture);
        p.opt_float("soil_temperature", m.soil_temperature);
    }
}

impl Fields for pb::PowerMetrics {
    fn fields(&self, p: &mut Printer) {
        let m = self;
        let channels = [
            (m.ch1_voltage, m.ch1_current),
            (m.ch2_voltage, m.ch2_current),
            (m.ch3_voltage, m.ch3_current),
            (m.ch4_voltage, m.ch4_current),
            (m.ch5_voltage, m.ch5_current),
            (m.ch6_voltage, m.ch6_current),
            (m.ch7_voltage, m.ch7_current),
            (m.ch8_voltage, m.ch8_current),
        ];
        // Tags alternate voltage/current per channel, so this is field-number order.
        for (i, (voltage, current)) in channels.into_iter().enumerate() {
            p.opt_float(&format!("ch{}_voltage", i + 1), voltage);
            p.opt_float(&format!("ch{}_current", i + 1), current);
        }
    }
}

impl Fields for pb::AirQualityMetrics {
    fn fields(&self, p: &mut Printer) {
        let m = self;
        p.opt("pm10_standard", m.pm10_standard);
        p.opt("pm25_standard", m.pm25_standard);
        p.opt("pm100_standard", m.pm100_standard);
        p.opt("pm10_environmental", m.pm10_environmental);
        p.opt("pm25_environmental", m.pm25_environmental);
        p.opt("pm100_environmental", m.pm100_environmental);
        p.opt("particles_03um", m.particles_03um);
        p.opt("particles_05um", m.particles_05um);
        p.opt("particles_10um", m.particles_10um);
        p.opt("particles_25um", m.particles_25um);
        p.opt("particles_50um", m.particles_50um);
        p.opt("particles_100um", m.particles_100um);
        p.opt("co2", m.co2);
        p.opt_float("co2_temperature", m.co2_temperature);
        p.opt_float("co2_humidity", m.co2_humidity);
        p.opt_float("form_formaldehyde", m.form_formaldehyde);
        p.opt_float("form_humidity", m.form_humidity);
        p.opt_float("form_temperature", m.form_temperature);
        p.opt("pm40_standard", m.pm40_standard);
        p.opt("particles_40um", m.particles_40um);
        p.opt_float("pm_temperature", m.pm_temperature);
        p.opt_float("pm_humidity", m.pm_humidity);
        p.opt_float("pm_voc_idx", m.pm_voc_idx);
        p.opt_float("pm_nox_idx", m.pm_nox_idx);
        p.opt_float("particles_tps", m.particles_tps);
    }
}

impl Fields for pb::LocalStats {
    fn fields(&self, p: &mut Printer) {
        let m = self;
        p.num("uptime_seconds", m.uptime_seconds);
        p.float("channel_utilization", m.channel_utilization);
        p.float("air_util_tx", m.air_util_tx);
        p.num("num_packets_tx", m.num_packets_tx);
        p.num("num_packets_rx", m.num_packets_rx);
        p.num("num_packets_rx_bad", m.num_packets_rx_bad);
        p.num("num_online_nodes", m.num_online_nodes);
        p.num("num_total_nodes", m.num_total_nodes);
        p.num("num_rx_dupe", m.num_rx_dupe);
        p.num("num_tx_relay", m.num_tx_relay);
        p.num("num_tx_relay_canceled", m.num_tx_relay_canceled);
        p.num("heap_total_bytes", m.heap_total_bytes);
        p.num("heap_free_bytes", m.heap_free_bytes);
        p.num("num_tx_dropped", m.num_tx_dropped);
        p.num("noise_floor", m.noise_floor);
    }
}

impl Fields for pb::HealthMetrics {
    fn fields(&self, p: &mut Printer) {
        p.opt("heart_bpm", self.heart_bpm);
        p.opt("spO2", self.sp_o2);
        p.opt_float("temperature", self.temperature);
    }
}

impl Fields for pb::HostMetrics {
    fn fields(&self, p: &mut Printer) {
        let m = self;
        p.num("uptime_seconds", m.uptime_seconds);
        p.num("freemem_bytes", m.freemem_bytes);
        p.num("diskfree1_bytes", m.diskfree1_bytes);
        p.opt("diskfree2_bytes", m.diskfree2_bytes);
        p.opt("diskfree3_bytes", m.diskfree3_bytes);
        p.num("load1", m.load1);
        p.num("load5", m.load5);
        p.num("load15", m.load15);
        if let Some(s) = &m.user_string {
            // Explicit presence: an empty string is still printed.
            p.line("user_string", Str(s));
        }
    }
}

impl Fields for pb::TrafficManagementStats {
    fn fields(&self, p: &mut Printer) {
        let m = self;
        p.num("packets_inspected", m.packets_inspected);
        p.num("position_dedup_drops", m.position_dedup_drops);
        p.num("nodeinfo_cache_hits", m.nodeinfo_cache_hits);
        p.num("rate_limit_drops", m.rate_limit_drops);
        p.num("unknown_packet_drops", m.unknown_packet_drops);
        p.num("hop_exhausted_packets", m.hop_exhausted_packets);
        p.num("router_hops_preserved", m.router_hops_preserved);
    }
}

impl Fields for pb::NeighborInfo {
    fn fields(&self, p: &mut Printer) {
        p.num("node_id", self.node_id);
        p.num("last_sent_by_id", self.last_sent_by_id);
        p.num(
            "node_broadcast_interval_secs",
            self.node_broadcast_interval_secs,
        );
        p.repeated_messages("neighbors", &self.neighbors);
    }
}

impl Fields for pb::Neighbor {
    fn fields(&self, p: &mut Printer) {
        p.num("node_id", self.node_id);
        p.float("snr", self.snr);
        p.num("last_rx_time", self.last_rx_time);
        p.num(
            "node_broadcast_interval_secs",
            self.node_broadcast_interval_secs,
        );
    }
}

impl Fields for pb::MapReport {
    fn fields(&self, p: &mut Printer) {
        let m = self;
        p.string("long_name", &m.long_name);
        p.string("short_name", &m.short_name);
        p.enumeration("role", m.role, names!(Role));
        p.enumeration("hw_model", m.hw_model, names!(pb::HardwareModel));
        p.string("firmware_version", &m.firmware_version);
        p.enumeration("region", m.region, names!(RegionCode));
        p.enumeration("modem_preset", m.modem_preset, names!(ModemPreset));
        p.boolean("has_default_channel", m.has_default_channel);
        p.num("latitude_i", m.latitude_i);
        p.num("longitude_i", m.longitude_i);
        p.num("altitude", m.altitude);
        p.num("position_precision", m.position_precision);
        p.num("num_online_local_nodes", m.num_online_local_nodes);
        p.boolean("has_opted_report_location", m.has_opted_report_location);
    }
}

impl Fields for pb::Waypoint {
    fn fields(&self, p: &mut Printer) {
        let m = self;
        p.num("id", m.id);
        p.opt("latitude_i", m.latitude_i);
        p.opt("longitude_i", m.longitude_i);
        p.num("expire", m.expire);
        p.num("locked_to", m.locked_to);
        p.string("name", &m.name);
        p.string("description", &m.description);
        p.num("icon", m.icon);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position() {
        let m = pb::Position {
            latitude_i: Some(373063680),
            longitude_i: Some(-1224572928),
            altitude: Some(140),
            time: 1735693926,
            location_source: pb::position::LocSource::LocInternal as i32,
            precision_bits: 16,
            ..Default::default()
        };
        assert_eq!(
            to_text_format(&m),
            "latitude_i: 373063680\nlongitude_i: -1224572928\naltitude: 140\ntime: 1735693926\nlocation_source: LOC_INTERNAL\nprecision_bits: 16"
        );
        // Optional fields print even when zero; implicit ones do not.
        let m = pb::Position {
            latitude_i: Some(0),
            pdop: 0,
            hdop: 150,
            ..Default::default()
        };
        assert_eq!(to_text_format(&m), "latitude_i: 0\nHDOP: 150");
    }

    #[test]
    fn telemetry() {
        let m = pb::Telemetry {
            time: 1735689834,
            variant: Some(pb::telemetry::Variant::DeviceMetrics(pb::DeviceMetrics {
                battery_level: Some(22),
                voltage: Some(3.489),
                channel_utilization: Some(20.33),
                air_util_tx: Some(3.309),
                uptime_seconds: Some(1002442),
            })),
        };
        assert_eq!(
            to_text_format(&m),
            "time: 1735689834\ndevice_metrics {\n  battery_level: 22\n  voltage: 3.489\n  channel_utilization: 20.33\n  air_util_tx: 3.309\n  uptime_seconds: 1002442\n}"
        );
        let empty = pb::Telemetry {
            time: 0,
            variant: Some(pb::telemetry::Variant::LocalStats(Default::default())),
        };
        assert_eq!(to_text_format(&empty), "local_stats {\n}");
    }

    #[test]
    fn neighbor_info() {
        let m = pb::NeighborInfo {
            node_id: 333338396,
            last_sent_by_id: 333338396,
            node_broadcast_interval_secs: 21600,
            neighbors: vec![pb::Neighbor {
                node_id: 687402603,
                snr: 7.0,
                ..Default::default()
            }],
        };
        assert_eq!(
            to_text_format(&m),
            "node_id: 333338396\nlast_sent_by_id: 333338396\nnode_broadcast_interval_secs: 21600\nneighbors {\n  node_id: 687402603\n  snr: 7.0\n}"
        );
    }

    #[test]
    fn user_strings_bytes_and_enums() {
        let m = pb::User {
            id: "!a1b2c3d4".into(),
            long_name: "☠️🐮 \"x\"\\'\n".into(),
            short_name: "é".into(),
            hw_model: 9999,
            role: Role::Router as i32,
            public_key: vec![0, 0x7f, 0x80, b'A'],
            is_unmessagable: Some(false),
            ..Default::default()
        };
        assert_eq!(
            to_text_format(&m),
            "id: \"!a1b2c3d4\"\n\
             long_name: \"\\342\\230\\240\\357\\270\\217\\360\\237\\220\\256 \\\"x\\\"\\\\\\'\\n\"\n\
             short_name: \"\\303\\251\"\n\
             hw_model: 9999\n\
             role: ROUTER\n\
             public_key: \"\\000\\177\\200A\"\n\
             is_unmessagable: false"
        );
    }

    #[test]
    fn routing_and_traceroute() {
        let ack = pb::Routing {
            variant: Some(pb::routing::Variant::ErrorReason(0)),
        };
        assert_eq!(to_text_format(&ack), "error_reason: NONE");
        let rd = pb::RouteDiscovery {
            route: vec![1, 2],
            snr_towards: vec![-8],
            route_back: vec![],
            snr_back: vec![0],
        };
        assert_eq!(
            to_text_format(&rd),
            "route: 1\nroute: 2\nsnr_towards: -8\nsnr_back: 0"
        );
        let reply = pb::Routing {
            variant: Some(pb::routing::Variant::RouteReply(rd)),
        };
        assert!(to_text_format(&reply).starts_with("route_reply {\n  route: 1\n"));
    }

    #[test]
    fn map_report() {
        let m = pb::MapReport {
            long_name: "LowMesh".into(),
            short_name: "LwMs".into(),
            role: Role::ClientMute as i32,
            hw_model: pb::HardwareModel::HeltecV3 as i32,
            firmware_version: "2.5.16".into(),
            region: RegionCode::Us as i32,
            modem_preset: ModemPreset::MediumSlow as i32,
            has_default_channel: true,
            latitude_i: 379421185,
            ..Default::default()
        };
        assert_eq!(
            to_text_format(&m),
            "long_name: \"LowMesh\"\nshort_name: \"LwMs\"\nrole: CLIENT_MUTE\nhw_model: HELTEC_V3\nfirmware_version: \"2.5.16\"\nregion: US\nmodem_preset: MEDIUM_SLOW\nhas_default_channel: true\nlatitude_i: 379421185"
        );
    }

    fn py(v: f32) -> String {
        let mut s = String::new();
        push_py_float(&mut s, v);
        s
    }

    /// The previous implementation (via `{:e}`), kept as the reference.
    fn reference_py_float(v: f32) -> String {
        if v.is_nan() {
            return "nan".into();
        }
        if v.is_infinite() {
            return if v > 0.0 { "inf" } else { "-inf" }.into();
        }
        let sci = format!("{v:e}");
        let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let exp: i32 = exp.parse().unwrap();
        let (sign, mantissa) = match mantissa.strip_prefix('-') {
            Some(m) => ("-", m),
            None => ("", mantissa),
        };
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        let body = if (-4..16).contains(&exp) {
            if exp < 0 {
                format!("0.{}{digits}", "0".repeat(exp.unsigned_abs() as usize - 1))
            } else {
                let int_len = exp as usize + 1;
                if digits.len() <= int_len {
                    format!("{digits}{}.0", "0".repeat(int_len - digits.len()))
                } else {
                    format!("{}.{}", &digits[..int_len], &digits[int_len..])
                }
            }
        } else {
            let (first, rest) = digits.split_at(1);
            let dot = if rest.is_empty() { "" } else { "." };
            let esign = if exp < 0 { '-' } else { '+' };
            format!("{first}{dot}{rest}e{esign}{:02}", exp.unsigned_abs())
        };
        format!("{sign}{body}")
    }

    #[test]
    fn python_float_repr_matches_the_reference_everywhere() {
        // Every exponent and sign, with pseudo-random mantissas, plus the edges.
        let mut x: u32 = 0x9e37_79b9;
        let (mut checked, mut ties) = (0, 0);
        for i in 0..2_000_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let bits = if i < 512 { i << 23 | (i & 1) } else { x };
            let v = f32::from_bits(bits);
            let (ours, reference) = (py(v), reference_py_float(v));
            if ours != reference {
                // An exact tie between two shortest candidates (-2077748.25 as
                // 2077748.2 or .3): Python's `%g` rounds half to even, as ryu does,
                // where `{:e}` rounded up. Both must read back as `v`.
                assert_eq!(ours.len(), reference.len(), "{bits:#x}: {ours} {reference}");
                assert_eq!(ours.parse::<f32>().ok(), Some(v), "{bits:#x}: {ours}");
                assert_eq!(reference.parse::<f32>().ok(), Some(v), "{bits:#x}");
                let last = ours.trim_end_matches(|c: char| !c.is_ascii_digit());
                let digit = last.bytes().last().unwrap_or(b'0');
                assert!(
                    (digit - b'0').is_multiple_of(2),
                    "{bits:#x}: {ours} {reference}"
                );
                ties += 1;
            }
            checked += 1;
        }
        for v in [
            0.0f32,
            -0.0,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
            1e-45,
            1e16,
            9.999999e15,
        ] {
            assert_eq!(py(v), reference_py_float(v), "{v:e}");
        }
        assert_eq!(checked, 2_000_000);
        // Ties are rare (about 0.2 % of random bit patterns).
        assert!(ties < 10_000, "{ties}");
    }

    #[test]
    fn quoting() {
        let mut s = String::new();
        push_quoted(&mut s, b"a\t\n\r\"'\\\x00\x7f\xff~ ");
        assert_eq!(s, r#""a\t\n\r\"\'\\\000\177\377~ ""#);
    }

    #[test]
    fn python_float_repr() {
        let cases: [(f32, &str); 14] = [
            (7.0, "7.0"),
            (3.489, "3.489"),
            (20.33, "20.33"),
            (-0.25, "-0.25"),
            (0.1, "0.1"),
            (1e-4, "0.0001"),
            (1.5e-5, "1.5e-05"),
            (1e-5, "1e-05"),
            (123456.79, "123456.79"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (3.4028235e38, "3.4028235e+38"),
            (-0.0, "-0.0"),
            (f32::NAN, "nan"),
        ];
        for (v, want) in cases {
            assert_eq!(py(v), want, "{v:e}");
        }
        assert_eq!(py(f32::NEG_INFINITY), "-inf");
    }
}
