//! A short-lived cache of aggregate answers (stats, top talkers, channels, edges): a
//! dashboard asks the same few questions every few seconds, and a few seconds of
//! staleness is invisible next to per-hour buckets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::Value;

const TTL: Duration = Duration::from_secs(5);
/// Distinct questions kept; beyond this the cache starts over (keys include parameters,
/// so a client walking through many of them cannot grow memory).
const MAX_ENTRIES: usize = 512;

/// Set to `off` to measure the queries behind cached answers (`meshview bench api`
/// does, unless asked to keep the cache).
pub const DISABLE_ENV: &str = "MESHVIEW_AGGREGATE_CACHE";

pub struct Cache {
    entries: Mutex<HashMap<String, (Instant, Value)>>,
    /// Answers kept as their serialized body (big lists: cloning a `Value` of tens of
    /// thousands of objects per hit would cost more than the query).
    raw: Mutex<HashMap<String, (Instant, Bytes)>>,
    enabled: bool,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            entries: Mutex::default(),
            raw: Mutex::default(),
            enabled: std::env::var(DISABLE_ENV).map_or(true, |v| v.trim() != "off"),
        }
    }
}

impl Cache {
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn get_raw(&self, key: &str) -> Option<Bytes> {
        if !self.enabled {
            return None;
        }
        let entries = self.raw.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }

    pub fn put_raw(&self, key: String, body: Bytes) {
        if !self.enabled {
            return;
        }
        let mut entries = self.raw.lock().expect("cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), body));
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        if !self.enabled {
            return None;
        }
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: String, value: Value) {
        if !self.enabled {
            return;
        }
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }
}
