//! Ingest counters, kept in one place for logs, `/metrics` and `/health`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;

use meshview_store::ops::FlushCounts;

/// Upper bounds (s) of the batch-commit-time histogram.
pub const BATCH_BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// Batch commit times (s) in prometheus-client's histogram, which `/metrics` exposes as it
/// is: the bucket counting is the crate's, as for the HTTP latencies. A type of its own so
/// that [`IngestStats`] keeps `derive(Default)`.
struct BatchDurations(Histogram);

impl Default for BatchDurations {
    fn default() -> Self {
        BatchDurations(Histogram::new(BATCH_BUCKETS))
    }
}

/// Lock-free counters; the per-reason drop map is small and rarely written.
#[derive(Default)]
pub struct IngestStats {
    received: AtomicU64,
    accepted: AtomicU64,
    undecryptable: AtomicU64,
    packets_stored: AtomicU64,
    receptions_stored: AtomicU64,
    receptions_duplicate: AtomicU64,
    write_failures: AtomicU64,
    batches: AtomicU64,
    batch_items: AtomicU64,
    batch_latency_us_sum: AtomicU64,
    batch_latency_us_max: AtomicU64,
    batch_durations: BatchDurations,
    db_retries: AtomicU64,
    queue_depth: AtomicU64,
    last_stored_us: AtomicU64,
    last_received_us: AtomicU64,
    dropped: Mutex<BTreeMap<&'static str, u64>>,
    noted: Mutex<BTreeMap<&'static str, u64>>,
    /// [`MqttSession`] as a number; 0 while no MQTT source runs.
    mqtt_session: AtomicU8,
    /// Since when (µs) the batch writer's commits have been failing and retried, with the
    /// last error; 0 while they succeed. A full disk, a database that is down.
    store_failing_since_us: AtomicU64,
    store_error: Mutex<Option<String>>,
}

/// The MQTT session the writer has with its broker (see `ingest::mqtt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttSession {
    /// Clean session, QoS 0: what is published while the writer is away is lost
    /// (`mqtt.persistent_session = false`, or shared subscriptions without a client id).
    Clean = 1,
    /// Persistent session, QoS 1, acknowledged after commit.
    Persistent = 2,
    /// A persistent session was asked for, and the broker refused it (a subscription
    /// downgraded to QoS 0, or the client id rejected): the writer carries on as with a
    /// clean session.
    Refused = 3,
}

impl MqttSession {
    pub fn as_str(self) -> &'static str {
        match self {
            MqttSession::Clean => "clean",
            MqttSession::Persistent => "persistent",
            MqttSession::Refused => "refused",
        }
    }
}

/// A consistent-enough copy for reporting.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StatsSnapshot {
    pub received: u64,
    pub accepted: u64,
    pub undecryptable: u64,
    pub packets_stored: u64,
    pub receptions_stored: u64,
    pub receptions_duplicate: u64,
    pub write_failures: u64,
    pub batches: u64,
    pub batch_items: u64,
    pub batch_latency_ms_avg: f64,
    pub batch_latency_ms_max: f64,
    pub db_retries: u64,
    pub queue_depth: u64,
    pub last_stored_us: u64,
    pub last_received_us: u64,
    pub dropped: BTreeMap<String, u64>,
    /// Oddities that were stored anyway (e.g. a NODEINFO claiming another node's id).
    pub noted: BTreeMap<String, u64>,
    /// `clean`, `persistent` or `refused`; absent without an MQTT source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt_session: Option<&'static str>,
    /// Since when (µs) commits have been failing; 0 while they succeed.
    pub store_failing_since_us: u64,
    /// The last failure while `store_failing_since_us` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_error: Option<String>,
}

impl IngestStats {
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.last_received_us
            .store(meshview_store::now_us().max(0) as u64, Ordering::Relaxed);
    }

    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn undecryptable(&self) {
        self.undecryptable.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a message dropped for `reason` (a stable, low-cardinality label).
    pub fn dropped(&self, reason: &'static str) {
        *self.dropped.lock().unwrap().entry(reason).or_insert(0) += 1;
    }

    /// Counts an oddity in a message that was still accepted.
    pub fn noted(&self, what: &'static str) {
        *self.noted.lock().unwrap().entry(what).or_insert(0) += 1;
    }

    /// Records the MQTT session; a refusal stays (a later grant of another topic does not
    /// undo it).
    pub fn set_mqtt_session(&self, session: MqttSession) {
        let _ = self
            .mqtt_session
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                (old != MqttSession::Refused as u8 || session == MqttSession::Refused)
                    .then_some(session as u8)
            });
    }

    pub fn mqtt_session(&self) -> Option<MqttSession> {
        match self.mqtt_session.load(Ordering::Relaxed) {
            1 => Some(MqttSession::Clean),
            2 => Some(MqttSession::Persistent),
            3 => Some(MqttSession::Refused),
            _ => None,
        }
    }

    pub fn db_retry(&self) {
        self.db_retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_queue_depth(&self, n: usize) {
        self.queue_depth.store(n as u64, Ordering::Relaxed);
    }

    pub fn record_flush(&self, items: usize, c: FlushCounts, took: Duration) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_items.fetch_add(items as u64, Ordering::Relaxed);
        self.packets_stored
            .fetch_add(c.packets_new, Ordering::Relaxed);
        self.receptions_stored
            .fetch_add(c.receptions_new, Ordering::Relaxed);
        self.receptions_duplicate
            .fetch_add(c.receptions_duplicate, Ordering::Relaxed);
        self.write_failures
            .fetch_add(c.failed_items, Ordering::Relaxed);
        let us = took.as_micros() as u64;
        self.batch_latency_us_sum.fetch_add(us, Ordering::Relaxed);
        self.batch_latency_us_max.fetch_max(us, Ordering::Relaxed);
        self.batch_durations.0.observe(took.as_secs_f64());
        if c.packets_new + c.receptions_new > 0 {
            self.last_stored_us
                .store(meshview_store::now_us().max(0) as u64, Ordering::Relaxed);
        }
    }

    /// The batch commit times, for `/metrics`.
    pub fn batch_durations(&self) -> &Histogram {
        &self.batch_durations.0
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let batches = g(&self.batches);
        StatsSnapshot {
            received: g(&self.received),
            accepted: g(&self.accepted),
            undecryptable: g(&self.undecryptable),
            packets_stored: g(&self.packets_stored),
            receptions_stored: g(&self.receptions_stored),
            receptions_duplicate: g(&self.receptions_duplicate),
            write_failures: g(&self.write_failures),
            batches,
            batch_items: g(&self.batch_items),
            batch_latency_ms_avg: if batches == 0 {
                0.0
            } else {
                g(&self.batch_latency_us_sum) as f64 / batches as f64 / 1000.0
            },
            batch_latency_ms_max: g(&self.batch_latency_us_max) as f64 / 1000.0,
            db_retries: g(&self.db_retries),
            queue_depth: g(&self.queue_depth),
            last_stored_us: g(&self.last_stored_us),
            last_received_us: g(&self.last_received_us),
            dropped: self
                .dropped
                .lock()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            noted: self
                .noted
                .lock()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            mqtt_session: self.mqtt_session().map(MqttSession::as_str),
            store_failing_since_us: g(&self.store_failing_since_us),
            store_error: self.store_error.lock().unwrap().clone(),
        }
    }

    /// A commit failed for a reason that passes (it is retried).
    pub fn store_failing(&self, error: &impl std::fmt::Display) {
        let now = meshview_store::now_us().max(1) as u64;
        let _ = self.store_failing_since_us.compare_exchange(
            0,
            now,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        *self.store_error.lock().unwrap() = Some(error.to_string());
    }

    /// A commit succeeded: whatever failed before is over.
    fn store_recovered(&self) {
        if self.store_failing_since_us.swap(0, Ordering::Relaxed) != 0 {
            *self.store_error.lock().unwrap() = None;
        }
    }
}

/// The batch writer reports into these counters.
impl meshview_store::write::WriteObserver for IngestStats {
    fn flushed(&self, items: usize, counts: FlushCounts, took: Duration) {
        self.record_flush(items, counts, took);
        self.store_recovered();
    }
    fn retried(&self, error: &meshview_store::StoreError) {
        self.db_retry();
        self.store_failing(error);
    }
    fn queue_depth(&self, n: usize) {
        self.set_queue_depth(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The histogram took over the bucket counting; what logs read stays in the snapshot.
    #[test]
    fn flushes_are_counted_and_timed() {
        let stats = IngestStats::default();
        let counts = FlushCounts {
            packets_new: 2,
            receptions_new: 3,
            ..FlushCounts::default()
        };
        stats.record_flush(5, counts, Duration::from_millis(1));
        stats.record_flush(1, FlushCounts::default(), Duration::from_millis(2));
        let s = stats.snapshot();
        assert_eq!((s.batches, s.batch_items), (2, 6));
        assert_eq!((s.packets_stored, s.receptions_stored), (2, 3));
        assert_eq!(s.batch_latency_ms_avg, 1.5);
        assert_eq!(s.batch_latency_ms_max, 2.0);
        assert!(s.last_stored_us > 0);
    }
}
