//! API area: MeshView's JSON API, the live stream, health, metrics, OpenAPI and TLS,
//! served by the real binary over data the real writer stored from simulated traffic,
//! on SQLite and PostgreSQL.

#[path = "../common/mod.rs"]
mod common;

mod bench;
mod contract;
mod coverage;
mod endpoints;
mod exposition;
mod helpers;
mod links;
mod outage;
mod stream;
mod time_travel;
mod tls;
