//! A short-lived cache of aggregate answers (stats, top talkers, channels, edges): a
//! dashboard asks the same few questions every few seconds, and a few seconds of
//! staleness is invisible next to per-hour buckets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

const TTL: Duration = Duration::from_secs(5);
/// Distinct questions kept; beyond this the cache starts over (keys include parameters,
/// so a client walking through many of them cannot grow memory).
const MAX_ENTRIES: usize = 512;

#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<String, (Instant, Value)>>,
}

impl Cache {
    pub fn get(&self, key: &str) -> Option<Value> {
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: String, value: Value) {
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
