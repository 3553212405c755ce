//! A short-lived cache of aggregate answers (stats, top talkers, channels, edges) and node
//! lists: dashboards and maps ask the same few questions every few seconds, and a few
//! seconds of staleness is invisible next to per-hour buckets and `last_seen` times.
//!
//! A burst of identical questions is answered by one computation: the first asker
//! computes while the others wait for its answer, instead of all running the same query
//! (on a big mesh, sixteen map clients asking for every link at once would otherwise run
//! sixteen scans).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
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

/// Answers of one kind, by question.
struct Store<T> {
    entries: Mutex<HashMap<String, (Instant, T)>>,
    ttl: Duration,
}

impl<T: Clone> Store<T> {
    fn new(ttl: Duration) -> Self {
        Store {
            entries: Mutex::default(),
            ttl,
        }
    }

    fn get(&self, key: &str) -> Option<T> {
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: String, value: T) {
        let mut entries = self.entries.lock().expect("cache lock");
        // Expired answers go now, not when the map fills: big bodies (all links, a few
        // MB each) would otherwise stay in memory long after their time.
        entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").len()
    }
}

pub struct Cache {
    values: Store<Value>,
    /// Answers kept as their serialized body (big lists: cloning a `Value` of tens of
    /// thousands of objects per hit would cost more than the query).
    bodies: Store<Bytes>,
    /// One lock per question being computed.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    enabled: bool,
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new(std::env::var(DISABLE_ENV).map_or(true, |v| v.trim() != "off"))
    }
}

impl Cache {
    pub fn new(enabled: bool) -> Cache {
        Cache::with_ttl(enabled, TTL)
    }

    fn with_ttl(enabled: bool, ttl: Duration) -> Cache {
        Cache {
            values: Store::new(ttl),
            bodies: Store::new(ttl),
            inflight: Mutex::default(),
            enabled,
        }
    }

    /// The cached answer to `key`, or `compute`'s (then cached). Errors are not cached.
    pub async fn value<E, Fut>(
        &self,
        key: String,
        compute: impl FnOnce() -> Fut,
    ) -> Result<Value, E>
    where
        Fut: Future<Output = Result<Value, E>>,
    {
        self.answer(&self.values, key, compute).await
    }

    /// As [`Cache::value`], for an answer kept as its serialized body.
    pub async fn body<E, Fut>(&self, key: String, compute: impl FnOnce() -> Fut) -> Result<Bytes, E>
    where
        Fut: Future<Output = Result<Bytes, E>>,
    {
        self.answer(&self.bodies, key, compute).await
    }

    async fn answer<T: Clone, E, Fut>(
        &self,
        store: &Store<T>,
        key: String,
        compute: impl FnOnce() -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        if !self.enabled {
            return compute().await;
        }
        if let Some(v) = store.get(&key) {
            return Ok(v);
        }
        let lock = {
            let mut inflight = self.inflight.lock().expect("cache lock");
            if inflight.len() >= MAX_ENTRIES {
                // Only questions someone is computing or waiting for need a lock.
                inflight.retain(|_, l| Arc::strong_count(l) > 1);
            }
            inflight.entry(key.clone()).or_default().clone()
        };
        let _turn = lock.lock_owned().await;
        // Whoever held the turn before has usually stored the answer meanwhile.
        if let Some(v) = store.get(&key) {
            return Ok(v);
        }
        let v = compute().await?;
        store.put(key, v.clone());
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_burst_of_one_question_computes_once() {
        let cache = Arc::new(Cache::new(true));
        let computed = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, computed) = (cache.clone(), computed.clone());
                tokio::spawn(async move {
                    cache
                        .body("edges".into(), || async {
                            computed.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            Ok::<_, ()>(Bytes::from_static(b"[1]"))
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), Bytes::from_static(b"[1]"));
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_off_means_off() {
        let cache = Cache::new(true);
        let r: Result<Value, &str> = cache.value("k".into(), || async { Err("down") }).await;
        assert_eq!(r, Err("down"));
        let r: Result<Value, &str> = cache
            .value("k".into(), || async { Ok(Value::from(2)) })
            .await;
        assert_eq!(r, Ok(Value::from(2)));

        let off = Cache::new(false);
        let computed = AtomicUsize::new(0);
        for _ in 0..3 {
            let _: Result<Value, ()> = off
                .value("k".into(), || async {
                    computed.fetch_add(1, Ordering::SeqCst);
                    Ok(Value::Null)
                })
                .await;
        }
        assert_eq!(computed.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn expired_answers_leave_memory_at_the_next_put() {
        let cache = Cache::with_ttl(true, Duration::from_millis(20));
        for key in ["a", "b"] {
            let _: Result<Bytes, ()> = cache
                .body(key.into(), || async { Ok(Bytes::from(vec![0u8; 1 << 20])) })
                .await;
        }
        assert_eq!(cache.bodies.len(), 2);
        tokio::time::sleep(Duration::from_millis(40)).await;
        let _: Result<Bytes, ()> = cache
            .body("c".into(), || async { Ok(Bytes::from_static(b"{}")) })
            .await;
        assert_eq!(cache.bodies.len(), 1);
    }
}
