//! Pages area: every page of the web UI in a real headless Chromium (driven by
//! `browser.mjs` through playwright-core), against the real server over data the real
//! writer stored from simulated traffic; live pages fed through Mosquitto.

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod helpers;
