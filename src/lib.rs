//! MeshView in Rust: a monitoring tool for Meshtastic mesh networks.
//!
//! Data flows one way: MQTT → protocol decoding (`meshview-protocol` crate) → [`ingest`] →
//! [`store`] → database → [`store`] reads → [`web`]. See `docs/architecture.md`.

pub mod app;
pub mod cli;
pub mod config;
pub mod ingest;
pub mod jobs;
pub mod tls;
pub mod web;
