//! Ingest area: the writer against real captured traffic, hostile input, the simulated
//! mesh through the real Mosquitto, broker and database outages, a full disk, shutdown,
//! and the raw archive of what was accepted.

#[path = "../common/mod.rs"]
mod common;

mod archive;
mod disk_full;
mod e2e;
mod helpers;
mod hostile;
mod outages;
mod real_traffic;
mod retro;
mod sessions;
mod transport;
