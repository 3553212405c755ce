//! Meshtastic protocol decoding for MeshView. Pure functions over bytes; no I/O.
//!
//! The pipeline for one MQTT message is
//! [`topic`] → [`envelope`] (ServiceEnvelope parse, gateway id) → [`crypto`]
//! (channel decryption with a [`keys::Keyring`]) → [`payload`] (per-port decoding)
//! → [`text_format`] (the text MeshView shows for a payload).
//!
//! | module | what it is |
//! | --- | --- |
//! | [`node_id`] | `NodeId`, the 32-bit node number, and its `!hex` form |
//! | [`topic`] | MQTT topic classification (`/2/e/`, `/2/map/`, `/2/stat/`, `/2/json/`) |
//! | [`keys`] | channel keys, firmware PSK shorthand, channel hash |
//! | [`crypto`] | AES-CTR channel decryption and key selection |
//! | [`envelope`] | `decode_envelope`: MQTT payload → decrypted packet or a counted reject reason |
//! | [`json`] | Meshtastic's MQTT JSON format → the same decoded packet |
//! | [`payload`] | `Data.payload` decoded per port, plus the fields the writer stores |
//! | [`text_format`] | Python protobuf text format, as MeshView's API prints payloads |
//!
//! The protobuf types are the `meshtastic` crate's, re-exported as [`pb`].
#![forbid(unsafe_code)]

pub mod crypto;
pub mod envelope;
pub mod json;
pub mod keys;
pub mod links;
pub mod node_id;
pub mod payload;
pub mod text_format;
pub mod topic;

pub use meshtastic::protobufs as pb;
pub use prost::Message;

pub use envelope::{
    DecodeOptions, DecodedEnvelope, Decryption, RejectReason, decode_envelope, decode_envelope_with,
};
pub use keys::{ChannelKey, KeyError, Keyring, parse_keys};
pub use node_id::{NodeId, NodeIdError};
pub use payload::{Payload, decode_payload};
pub use text_format::{TextFormat, to_text_format};
pub use topic::{Topic, TopicKind};
