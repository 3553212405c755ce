//! `/metrics` in the Prometheus text format (version 0.0.4), encoded by `prometheus-client`:
//! HTTP requests and latency by route (the route *pattern*, so labels stay few whatever the
//! URLs), stream clients and events, the reader's caches, the database size, and — when the
//! writer runs in this process — its ingest counters.
//!
//! Only the HTTP metrics live here. Everything else is read from its owner at scrape time
//! and handed to the encoder by a [`Collector`] ([`Scrape`]), which also writes the
//! families in one fixed order.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, prometheus_text,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use super::cache::StoreStats;
use super::health::{GIT_REVISION, VERSION};
use super::{AppState, Phase};
use crate::ingest::stats::StatsSnapshot;

/// Upper bounds (s) of the request-latency histogram.
const HTTP_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// How long a scrape waits for the database's size before leaving it out.
const SIZE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The matched route pattern, or `unmatched`.
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

/// HTTP counters; the rest is read at scrape time from its owners.
#[derive(Debug)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(http_histogram),
        }
    }
}

impl Metrics {
    fn record(&self, route: String, method: &'static str, status: u16, secs: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                method,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(secs);
    }
}

fn method_label(m: &axum::http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts each request under its matched route (or `unmatched`).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.run(req).await;
    let secs = started.elapsed().as_secs_f64();
    metrics.record(route, method, res.status().as_u16(), secs);
    res
}

/// Prometheus metrics
///
/// Prometheus text format: HTTP requests and latency by route, stream clients and events,
/// database size, and ingest counters when the writer runs in this process.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4.", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let scrape = Scrape::read(&state).await;
    // A registry per scrape, carrying only the values read above: the database size needs
    // an await, which a long-lived collector's synchronous `encode` could not do.
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut body = String::new();
    match prometheus_text::encode(&mut body, &registry) {
        Ok(()) => (
            [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
            body,
        )
            .into_response(),
        Err(_) => {
            tracing::error!("/metrics: encoding failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// One scrape: the HTTP metrics, and the values read from their owners just now.
#[derive(Debug)]
struct Scrape {
    http: Arc<Metrics>,
    caches: [(&'static str, StoreStats); 3],
    uptime_seconds: u64,
    stream_clients: i64,
    stream_events: u64,
    stream_lagged: u64,
    database_ready: bool,
    /// `None`: not known (starting, or the database did not say in time).
    database_size: Option<u64>,
    /// The writer's counters and batch histogram, when it runs in this process.
    ingest: Option<(StatsSnapshot, Histogram)>,
}

impl Scrape {
    async fn read(state: &AppState) -> Scrape {
        let db = match &*state.phase.borrow() {
            Phase::Ready(db) => Some(db.clone()),
            Phase::Starting(_) => None,
        };
        let database_size = match &db {
            Some(db) => tokio::time::timeout(SIZE_TIMEOUT, super::health::database_size(db, state))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten(),
            None => None,
        };
        Scrape {
            http: state.metrics.clone(),
            caches: state.cache.stats(),
            uptime_seconds: state.started.elapsed().as_secs(),
            stream_clients: state.hub.clients(),
            stream_events: state.hub.events(),
            stream_lagged: state.hub.lagged(),
            database_ready: db.is_some(),
            database_size,
            ingest: state
                .ingest
                .as_ref()
                .map(|s| (s.snapshot(), s.batch_durations().clone())),
        }
    }
}

/// Starts a family under the name scrapers see. The encoder appends `_total` to counters
/// and `_info` to info metrics, so those are taken off here: the code names each family
/// as dashboards do.
fn descriptor<'a>(
    out: &'a mut DescriptorEncoder,
    name: &'a str,
    help: &str,
    kind: MetricType,
) -> Result<MetricEncoder<'a>, fmt::Error> {
    let suffix = match kind {
        MetricType::Counter => "_total",
        MetricType::Info => "_info",
        _ => "",
    };
    debug_assert!(name.ends_with(suffix), "{name} must end with {suffix}");
    out.encode_descriptor(name.strip_suffix(suffix).unwrap_or(name), help, None, kind)
}

/// A family of one metric (a `Family` of several series counts as one).
fn one(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> fmt::Result {
    metric.encode(descriptor(out, name, help, metric.metric_type())?)
}

/// A family of series read at scrape time, one per label set.
fn labelled<S: EncodeLabelSet, M: EncodeMetric + TypedMetric>(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (S, M)>,
) -> fmt::Result {
    let mut family = descriptor(out, name, help, M::TYPE)?;
    for (labels, metric) in series {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Scrape {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        let out = &mut out;
        one(
            out,
            "meshview_build_info",
            "Version of this MeshView.",
            &Info::new([("version", VERSION), ("revision", GIT_REVISION)]),
        )?;
        labelled(
            out,
            "meshview_cache_lookups_total",
            "Answers looked up in the reader's caches, by cache and outcome (hit, or miss: computed).",
            self.caches.iter().flat_map(|(cache, s)| {
                [("hit", s.hits), ("miss", s.misses)].map(|(outcome, n)| {
                    (
                        [("cache", *cache), ("outcome", outcome)],
                        ConstCounter::new(n),
                    )
                })
            }),
        )?;
        labelled(
            out,
            "meshview_cache_entries",
            "Answers kept in the reader's caches.",
            self.caches
                .iter()
                .map(|(cache, s)| ([("cache", *cache)], ConstGauge::new(s.entries))),
        )?;
        labelled(
            out,
            "meshview_cache_bytes",
            "Bytes of serialized answers kept in the reader's caches.",
            self.caches
                .iter()
                .map(|(cache, s)| ([("cache", *cache)], ConstGauge::new(s.bytes))),
        )?;
        one(
            out,
            "meshview_uptime_seconds",
            "Seconds since the web server started.",
            &ConstGauge::new(self.uptime_seconds),
        )?;
        one(
            out,
            "meshview_http_requests_total",
            "HTTP requests by route pattern, method and status.",
            &self.http.requests,
        )?;
        one(
            out,
            "meshview_http_request_duration_seconds",
            "HTTP request latency by route pattern.",
            &self.http.latency,
        )?;
        one(
            out,
            "meshview_stream_clients",
            "Connected /api/stream clients.",
            &ConstGauge::new(self.stream_clients),
        )?;
        one(
            out,
            "meshview_stream_events_total",
            "Packets published to the stream.",
            &ConstCounter::new(self.stream_events),
        )?;
        one(
            out,
            "meshview_stream_lagged_total",
            "Events skipped by clients too slow to keep up.",
            &ConstCounter::new(self.stream_lagged),
        )?;
        one(
            out,
            "meshview_database_ready",
            "1 once the schema is current and the reader serves.",
            &ConstGauge::new(u64::from(self.database_ready)),
        )?;
        if let Some(bytes) = self.database_size {
            one(
                out,
                "meshview_database_size_bytes",
                "Size of the database (SQLite: file and WAL).",
                &ConstGauge::new(bytes),
            )?;
        }
        if let Some((stats, batches)) = &self.ingest {
            ingest(out, stats, batches)?;
        }
        Ok(())
    }
}

fn ingest(out: &mut DescriptorEncoder, s: &StatsSnapshot, batches: &Histogram) -> fmt::Result {
    let outcomes = [("received", "", s.received), ("accepted", "", s.accepted)];
    let dropped = s.dropped.iter().map(|(r, n)| ("dropped", r.as_str(), *n));
    labelled(
        out,
        "meshview_ingest_messages_total",
        "MQTT messages by outcome (received, accepted, dropped) and drop reason.",
        outcomes
            .into_iter()
            .chain(dropped)
            .map(|(outcome, reason, n)| {
                (
                    [("outcome", outcome), ("reason", reason)],
                    ConstCounter::new(n),
                )
            }),
    )?;
    labelled(
        out,
        "meshview_ingest_noted_total",
        "Oddities in messages that were stored anyway.",
        s.noted
            .iter()
            .map(|(what, n)| ([("what", what.as_str())], ConstCounter::new(*n))),
    )?;
    let counters = [
        (
            "meshview_ingest_undecryptable_total",
            "Accepted packets no key decrypts.",
            s.undecryptable,
        ),
        (
            "meshview_ingest_packets_stored_total",
            "Distinct packets stored.",
            s.packets_stored,
        ),
        (
            "meshview_ingest_receptions_stored_total",
            "Receptions stored.",
            s.receptions_stored,
        ),
        (
            "meshview_ingest_receptions_duplicate_total",
            "Receptions already stored.",
            s.receptions_duplicate,
        ),
        (
            "meshview_ingest_write_failures_total",
            "Writes dropped after a data error.",
            s.write_failures,
        ),
        (
            "meshview_ingest_db_retries_total",
            "Batch retries while the database was unavailable.",
            s.db_retries,
        ),
    ];
    for (name, help, n) in counters {
        one(out, name, help, &ConstCounter::new(n))?;
    }
    one(
        out,
        "meshview_ingest_queue_depth",
        "Accepted messages waiting for the writer.",
        &ConstGauge::new(s.queue_depth),
    )?;
    one(
        out,
        "meshview_ingest_last_received_timestamp_seconds",
        "When the last MQTT message arrived (Unix time).",
        &ConstGauge::new(s.last_received_us as f64 / 1e6),
    )?;
    one(
        out,
        "meshview_ingest_batch_duration_seconds",
        "Time to commit one batch.",
        batches,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::stats::IngestStats;
    use meshview_store::ops::FlushCounts;

    fn store(hits: u64) -> StoreStats {
        StoreStats {
            hits,
            misses: 2,
            entries: 3,
            bytes: 40,
        }
    }

    fn scrape(ingest: Option<&IngestStats>, database_size: Option<u64>) -> Scrape {
        let http = Arc::new(Metrics::default());
        http.record("/api/packets".into(), "GET", 200, 0.003);
        http.record("/api/packets".into(), "GET", 200, 0.2);
        http.record("unmatched".into(), "HEAD", 404, 0.0004);
        Scrape {
            http,
            caches: [
                ("aggregates", store(1)),
                ("bodies", store(0)),
                ("packet_lists", store(7)),
            ],
            uptime_seconds: 5,
            stream_clients: 2,
            stream_events: 11,
            stream_lagged: 0,
            database_ready: true,
            database_size,
            ingest: ingest.map(|s| (s.snapshot(), s.batch_durations().clone())),
        }
    }

    fn encode(scrape: Scrape) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(scrape));
        let mut text = String::new();
        prometheus_text::encode(&mut text, &registry).unwrap();
        text
    }

    fn assert_lines(text: &str, lines: &[&str]) {
        for line in lines {
            assert!(text.lines().any(|l| l == *line), "{line} missing:\n{text}");
        }
    }

    /// The exposed names are those dashboards scrape (the encoder adds `_total` and
    /// `_info` itself), in the order they were always written, in the 0.0.4 text format.
    #[test]
    fn every_family_keeps_its_name_type_and_labels() {
        let stats = IngestStats::default();
        stats.received();
        stats.received();
        stats.accepted();
        stats.dropped("json_topic");
        let counts = FlushCounts {
            packets_new: 1,
            receptions_new: 1,
            ..FlushCounts::default()
        };
        stats.record_flush(1, counts, Duration::from_micros(1500));
        let text = encode(scrape(Some(&stats), Some(4096)));
        let types: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(
            types,
            [
                "meshview_build_info gauge",
                "meshview_cache_lookups_total counter",
                "meshview_cache_entries gauge",
                "meshview_cache_bytes gauge",
                "meshview_uptime_seconds gauge",
                "meshview_http_requests_total counter",
                "meshview_http_request_duration_seconds histogram",
                "meshview_stream_clients gauge",
                "meshview_stream_events_total counter",
                "meshview_stream_lagged_total counter",
                "meshview_database_ready gauge",
                "meshview_database_size_bytes gauge",
                "meshview_ingest_messages_total counter",
                "meshview_ingest_noted_total counter",
                "meshview_ingest_undecryptable_total counter",
                "meshview_ingest_packets_stored_total counter",
                "meshview_ingest_receptions_stored_total counter",
                "meshview_ingest_receptions_duplicate_total counter",
                "meshview_ingest_write_failures_total counter",
                "meshview_ingest_db_retries_total counter",
                "meshview_ingest_queue_depth gauge",
                "meshview_ingest_last_received_timestamp_seconds gauge",
                "meshview_ingest_batch_duration_seconds histogram",
            ]
        );
        assert_lines(
            &text,
            &[
                "# HELP meshview_build_info Version of this MeshView.",
                &format!(
                    "meshview_build_info{{version=\"{VERSION}\",revision=\"{GIT_REVISION}\"}} 1"
                ),
                "# HELP meshview_http_requests_total HTTP requests by route pattern, method and status.",
                "meshview_http_requests_total{route=\"/api/packets\",method=\"GET\",status=\"200\"} 2",
                "meshview_http_requests_total{route=\"unmatched\",method=\"HEAD\",status=\"404\"} 1",
                "meshview_http_request_duration_seconds_bucket{route=\"/api/packets\",le=\"0.0025\"} 0",
                "meshview_http_request_duration_seconds_bucket{route=\"/api/packets\",le=\"0.005\"} 1",
                "meshview_http_request_duration_seconds_bucket{route=\"/api/packets\",le=\"0.25\"} 2",
                "meshview_http_request_duration_seconds_bucket{route=\"/api/packets\",le=\"5\"} 2",
                "meshview_http_request_duration_seconds_bucket{route=\"/api/packets\",le=\"+Inf\"} 2",
                "meshview_http_request_duration_seconds_count{route=\"/api/packets\"} 2",
                "meshview_cache_lookups_total{cache=\"packet_lists\",outcome=\"hit\"} 7",
                "meshview_cache_lookups_total{cache=\"bodies\",outcome=\"miss\"} 2",
                "meshview_cache_entries{cache=\"aggregates\"} 3",
                "meshview_cache_bytes{cache=\"bodies\"} 40",
                "meshview_uptime_seconds 5",
                "meshview_stream_clients 2",
                "meshview_stream_events_total 11",
                "meshview_stream_lagged_total 0",
                "meshview_database_ready 1",
                "meshview_database_size_bytes 4096",
                "meshview_ingest_messages_total{outcome=\"received\",reason=\"\"} 2",
                "meshview_ingest_messages_total{outcome=\"accepted\",reason=\"\"} 1",
                "meshview_ingest_messages_total{outcome=\"dropped\",reason=\"json_topic\"} 1",
                // Nothing noted: the family is declared, without samples, as before.
                "# HELP meshview_ingest_noted_total Oddities in messages that were stored anyway.",
                "meshview_ingest_packets_stored_total 1",
                "meshview_ingest_receptions_stored_total 1",
                "meshview_ingest_queue_depth 0",
                // 1.5 ms falls in the 2 ms bucket, not the 1 ms one.
                "meshview_ingest_batch_duration_seconds_bucket{le=\"0.001\"} 0",
                "meshview_ingest_batch_duration_seconds_bucket{le=\"0.002\"} 1",
                "meshview_ingest_batch_duration_seconds_bucket{le=\"5\"} 1",
                "meshview_ingest_batch_duration_seconds_bucket{le=\"+Inf\"} 1",
                "meshview_ingest_batch_duration_seconds_sum 0.0015",
                "meshview_ingest_batch_duration_seconds_count 1",
            ],
        );
        // Prometheus text, not OpenMetrics: no end marker.
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn without_writer_or_size_those_families_are_left_out() {
        let text = encode(scrape(None, None));
        assert!(!text.contains("meshview_ingest_"), "{text}");
        assert!(!text.contains("meshview_database_size_bytes"), "{text}");
        assert_lines(&text, &["meshview_database_ready 1"]);
    }

    #[test]
    fn label_values_are_escaped() {
        let s = scrape(None, None);
        s.http.record("/a\"b\\c\nd".into(), "GET", 200, 0.1);
        let text = encode(s);
        assert_lines(
            &text,
            &[
                "meshview_http_requests_total{route=\"/a\\\"b\\\\c\\nd\",method=\"GET\",status=\"200\"} 1",
            ],
        );
    }
}
