//! A short-lived cache of aggregate answers (stats, top talkers, channels, edges) and node
//! lists: dashboards and maps ask the same few questions every few seconds, and a few
//! seconds of staleness is invisible next to per-hour buckets and `last_seen` times.
//!
//! Packet lists are cached too, but only while nothing newer was stored: every open
//! live page polls the same newest packets, chat and port lists, and on a busy site
//! those identical answers were most of the reader's work. Each list remembers the
//! newest stored packet (`MAX(import_time_us)`, read at most every [`MARK_EVERY`]) it
//! was computed under and is served only while that is still the newest, so a stored
//! packet shows in lists as soon as it would without the cache (plus at most
//! [`MARK_EVERY`], the stream's own delay). The [`TTL`] still bounds what a newest
//! packet cannot signal: retention deleting old rows, a node renamed.
//!
//! A burst of identical questions is answered by one computation: the first asker
//! computes while the others wait for its answer, instead of all running the same query
//! (on a big mesh, sixteen map clients asking for every link at once would otherwise run
//! sixteen scans).

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;

const TTL: Duration = Duration::from_secs(5);
/// Distinct questions kept; beyond this the cache starts over (keys include parameters,
/// so a client walking through many of them cannot grow memory).
const MAX_ENTRIES: usize = 512;
/// How long the newest stored packet's time is trusted before it is read again.
pub const MARK_EVERY: Duration = Duration::from_millis(100);
/// Packet lists bigger than this are not kept: a node's 500 or 1,000 packets are rarely
/// asked twice within a few seconds, and would crowd out the small live lists.
const MAX_LIST_BYTES: usize = 128 * 1024;
/// All kept packet lists together (the reader's memory budget is 128 MB).
const MAX_LISTS_BYTES: usize = 4 * 1024 * 1024;
/// Serialized answers bigger than this are not kept (the biggest page of links is about
/// 1.5 MB, a 2,000-node list about 1 MB).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// All kept serialized answers together: without a budget, sixteen clients asking for
/// different big answers within the TTL would hold them all.
const MAX_BODIES_BYTES: usize = 8 * 1024 * 1024;

/// Set to `off` to measure the queries behind cached answers (`meshview-bench api`
/// does, unless asked to keep the cache).
pub const DISABLE_ENV: &str = "MESHVIEW_AGGREGATE_CACHE";

/// What an answer's size counts for a store with a byte budget.
trait Weigh {
    fn weight(&self) -> usize;
}

/// A typed answer, kept as it was computed (`Cache::value` hands out the type it stored).
type Shared = Arc<dyn Any + Send + Sync>;

/// Aggregates are small and few; their store has no byte budget.
impl Weigh for Shared {
    fn weight(&self) -> usize {
        0
    }
}

impl Weigh for Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

/// One kept answer: when it was computed and the mark it is valid under.
struct Entry<T> {
    at: Instant,
    mark: Option<i64>,
    value: T,
}

/// Answers of one kind, by question.
struct Store<T> {
    entries: Mutex<HashMap<String, Entry<T>>>,
    ttl: Duration,
    /// Answers weighing more are not kept.
    max_weight: usize,
    /// The kept answers' total weight; the oldest go first to stay under it.
    max_total: usize,
    /// Questions answered from the store, and computed (for `/metrics`).
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<T: Clone + Weigh> Store<T> {
    fn new(ttl: Duration) -> Self {
        Store::with_budget(ttl, usize::MAX, usize::MAX)
    }

    fn with_budget(ttl: Duration, max_weight: usize, max_total: usize) -> Self {
        Store {
            entries: Mutex::default(),
            ttl,
            max_weight,
            max_total,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn stats(&self) -> StoreStats {
        let entries = self.entries.lock().expect("cache lock");
        StoreStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: entries.len(),
            bytes: entries.values().map(|e| e.value.weight()).sum(),
        }
    }

    /// The answer to `key` if it is younger than the TTL and was computed under `mark`.
    fn get(&self, key: &str, mark: Option<i64>) -> Option<T> {
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|e| e.at.elapsed() < self.ttl && e.mark == mark)
            .map(|e| e.value.clone())
    }

    fn put(&self, key: String, mark: Option<i64>, value: T) {
        let weight = value.weight();
        if weight > self.max_weight {
            return;
        }
        let mut entries = self.entries.lock().expect("cache lock");
        // Expired answers go now, not when the map fills: big bodies (all links, a few
        // MB each) would otherwise stay in memory long after their time.
        entries.retain(|_, e| e.at.elapsed() < self.ttl);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        if self.max_total != usize::MAX {
            let mut total: usize = entries.values().map(|e| e.value.weight()).sum();
            if total + weight > self.max_total {
                let mut by_age: Vec<(Instant, String)> =
                    entries.iter().map(|(k, e)| (e.at, k.clone())).collect();
                by_age.sort_unstable();
                for (_, k) in by_age {
                    if total + weight <= self.max_total {
                        break;
                    }
                    if let Some(e) = entries.remove(&k) {
                        total -= e.value.weight();
                    }
                }
            }
        }
        entries.insert(
            key,
            Entry {
                at: Instant::now(),
                mark,
                value,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").len()
    }
}

/// One store's counters, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
    /// Bytes of serialized answers kept (aggregates kept as values count 0).
    pub bytes: usize,
}

/// The newest stored packet's time, as last read.
#[derive(Default)]
struct Mark {
    read_at: Option<Instant>,
    newest: Option<i64>,
}

pub struct Cache {
    values: Store<Shared>,
    /// Answers kept as their serialized body (big lists: cloning a `Value` of tens of
    /// thousands of objects per hit would cost more than the query).
    bodies: Store<Bytes>,
    /// Packet lists, valid under the newest stored packet's time.
    lists: Store<Bytes>,
    mark: tokio::sync::Mutex<Mark>,
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
            bodies: Store::with_budget(ttl, MAX_BODY_BYTES, MAX_BODIES_BYTES),
            lists: Store::with_budget(ttl, MAX_LIST_BYTES, MAX_LISTS_BYTES),
            mark: tokio::sync::Mutex::default(),
            inflight: Mutex::default(),
            enabled,
        }
    }

    /// The cached answer to `key`, or `compute`'s (then cached). Errors are not cached.
    /// Answers are kept typed, shared by the API (which serializes them) and the pages
    /// (which render them); the key is qualified by the answer's type.
    pub async fn value<T, E, Fut>(
        &self,
        key: String,
        compute: impl FnOnce() -> Fut,
    ) -> Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>>,
    {
        let key = format!("{}|{key}", std::any::type_name::<T>());
        let shared = self
            .answer(&self.values, key, None, || async {
                compute().await.map(|v| Arc::new(v) as Shared)
            })
            .await?;
        Ok(shared
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("each key is qualified by its answer's type")))
    }

    /// As [`Cache::value`], for an answer kept as its serialized body.
    pub async fn body<E, Fut>(&self, key: String, compute: impl FnOnce() -> Fut) -> Result<Bytes, E>
    where
        Fut: Future<Output = Result<Bytes, E>>,
    {
        self.answer(&self.bodies, key, None, compute).await
    }

    /// Counters by store: `aggregates` (JSON values), `bodies` (big serialized
    /// answers: links, nodes) and `packet_lists`.
    pub fn stats(&self) -> [(&'static str, StoreStats); 3] {
        [
            ("aggregates", self.values.stats()),
            ("bodies", self.bodies.stats()),
            ("packet_lists", self.lists.stats()),
        ]
    }

    /// A packet list: kept while `newest` (the newest stored packet's time, asked at
    /// most every [`MARK_EVERY`]) stays what it was when the list was computed.
    pub async fn list<E, Fut, NewestFut>(
        &self,
        key: String,
        newest: impl FnOnce() -> NewestFut,
        compute: impl FnOnce() -> Fut,
    ) -> Result<Bytes, E>
    where
        Fut: Future<Output = Result<Bytes, E>>,
        NewestFut: Future<Output = Result<Option<i64>, E>>,
    {
        if !self.enabled {
            return compute().await;
        }
        let mark = {
            let mut mark = self.mark.lock().await;
            match mark.read_at {
                Some(at) if at.elapsed() < MARK_EVERY => mark.newest,
                _ => {
                    // Timed from before the read: whatever was stored before then is in it.
                    let read_at = Instant::now();
                    mark.newest = newest().await?;
                    mark.read_at = Some(read_at);
                    mark.newest
                }
            }
        };
        // `None` (an empty database) is a mark like any other.
        self.answer(&self.lists, key, Some(mark.unwrap_or(i64::MIN)), compute)
            .await
    }

    async fn answer<T: Clone + Weigh, E, Fut>(
        &self,
        store: &Store<T>,
        key: String,
        mark: Option<i64>,
        compute: impl FnOnce() -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        if !self.enabled {
            return compute().await;
        }
        if let Some(v) = store.get(&key, mark) {
            store.hits.fetch_add(1, Ordering::Relaxed);
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
        if let Some(v) = store.get(&key, mark) {
            store.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(v);
        }
        store.misses.fetch_add(1, Ordering::Relaxed);
        let v = compute().await?;
        store.put(key, mark, v.clone());
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
        let r: Result<Arc<i64>, &str> = cache.value("k".into(), || async { Err("down") }).await;
        assert_eq!(r, Err("down"));
        let r: Result<Arc<i64>, &str> = cache.value("k".into(), || async { Ok(2) }).await;
        assert_eq!(r, Ok(Arc::new(2)));
        // The same key for another type of answer is another question.
        let r: Result<Arc<String>, &str> = cache
            .value("k".into(), || async { Ok("two".to_string()) })
            .await;
        assert_eq!(r.as_deref().map(String::as_str), Ok("two"));
        let r: Result<Arc<i64>, &str> = cache.value("k".into(), || async { Ok(3) }).await;
        assert_eq!(r, Ok(Arc::new(2)), "still the kept answer");

        let off = Cache::new(false);
        let computed = AtomicUsize::new(0);
        for _ in 0..3 {
            let _: Result<Arc<()>, ()> = off
                .value("k".into(), || async {
                    computed.fetch_add(1, Ordering::SeqCst);
                    Ok(())
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

    /// Lists through the cache with `newest` as the newest stored time; counts reads.
    async fn ask_list(
        cache: &Cache,
        key: &str,
        newest: i64,
        body: &'static [u8],
        reads: &AtomicUsize,
        computed: &AtomicUsize,
    ) -> Bytes {
        let r: Result<Bytes, ()> = cache
            .list(
                key.into(),
                || async {
                    reads.fetch_add(1, Ordering::SeqCst);
                    Ok(Some(newest))
                },
                || async {
                    computed.fetch_add(1, Ordering::SeqCst);
                    Ok(Bytes::from_static(body))
                },
            )
            .await;
        r.unwrap()
    }

    #[tokio::test]
    async fn a_list_is_kept_until_a_newer_packet_is_stored() {
        let cache = Cache::new(true);
        let (reads, computed) = (AtomicUsize::new(0), AtomicUsize::new(0));
        for _ in 0..5 {
            assert_eq!(
                ask_list(&cache, "newest", 100, b"[a]", &reads, &computed).await,
                Bytes::from_static(b"[a]")
            );
        }
        // One read of the newest time serves a burst; one computation serves them all.
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert_eq!(computed.load(Ordering::SeqCst), 1);

        // Nothing new stored: the mark is read again and the list still holds.
        tokio::time::sleep(MARK_EVERY + Duration::from_millis(20)).await;
        ask_list(&cache, "newest", 100, b"[a]", &reads, &computed).await;
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        assert_eq!(computed.load(Ordering::SeqCst), 1);

        // A newer packet: the next question after the mark's refresh computes afresh.
        tokio::time::sleep(MARK_EVERY + Duration::from_millis(20)).await;
        assert_eq!(
            ask_list(&cache, "newest", 101, b"[b, a]", &reads, &computed).await,
            Bytes::from_static(b"[b, a]")
        );
        assert_eq!(computed.load(Ordering::SeqCst), 2);
        // Another question is its own entry.
        ask_list(&cache, "chat", 101, b"[c]", &reads, &computed).await;
        assert_eq!(computed.load(Ordering::SeqCst), 3);
        let lists = cache.stats()[2];
        assert_eq!(lists.0, "packet_lists");
        assert_eq!((lists.1.hits, lists.1.misses, lists.1.entries), (5, 3, 2));

        // Off means off.
        let off = Cache::new(false);
        for _ in 0..2 {
            ask_list(&off, "newest", 100, b"[a]", &reads, &computed).await;
        }
        assert_eq!(computed.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn lists_keep_to_their_byte_budget() {
        let store: Store<Bytes> = Store::with_budget(TTL, 100, 260);
        let body = |n: usize| Bytes::from(vec![b'x'; n]);
        store.put("big".into(), Some(1), body(101));
        assert_eq!(store.len(), 0, "over the per-answer limit");
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            store.put(key.into(), Some(1), body(80 + i));
        }
        assert_eq!(store.len(), 3);
        // 243 bytes kept; 90 more evict the oldest until they fit.
        std::thread::sleep(Duration::from_millis(2));
        store.put("d".into(), Some(1), body(90));
        assert!(store.get("a", Some(1)).is_none());
        assert!(store.get("b", Some(1)).is_some() && store.get("d", Some(1)).is_some());
        // A different mark does not match.
        assert!(store.get("d", Some(2)).is_none());
    }
}
