//! `/metrics` in the Prometheus text format: HTTP requests and latency by route (the
//! route *pattern*, so labels stay few whatever the URLs), stream clients and events, the
//! database size, and — when the writer runs in this process — its ingest counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::cache::StoreStats;
use super::{AppState, Phase};

/// Upper bounds (s) of the request-latency histogram.
const HTTP_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; HTTP_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Http {
    /// (route, method, status) → count.
    requests: BTreeMap<(String, &'static str, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// HTTP counters; the rest is read at scrape time from its owners.
#[derive(Default)]
pub struct Metrics {
    http: Mutex<Http>,
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
    let mut http = metrics.http.lock().expect("metrics lock");
    *http
        .requests
        .entry((route.clone(), method, res.status().as_u16()))
        .or_default() += 1;
    let h = http.latency.entry(route).or_default();
    h.count += 1;
    h.sum += secs;
    for (i, bound) in HTTP_BUCKETS.iter().enumerate() {
        if secs <= *bound {
            h.buckets[i] += 1;
        }
    }
    res
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn line(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.head(name, kind, help);
        self.line(name, &[], value);
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut o = Out(String::new());
    o.head("meshview_build_info", "gauge", "Version of this MeshView.");
    o.line(
        "meshview_build_info",
        &[
            ("version", super::health::VERSION),
            ("revision", super::health::GIT_REVISION),
        ],
        1,
    );
    let caches = state.cache.stats();
    o.head(
        "meshview_cache_lookups_total",
        "counter",
        "Answers looked up in the reader's caches, by cache and outcome (hit, or miss: computed).",
    );
    for (cache, s) in &caches {
        for (outcome, n) in [("hit", s.hits), ("miss", s.misses)] {
            o.line(
                "meshview_cache_lookups_total",
                &[("cache", cache), ("outcome", outcome)],
                n,
            );
        }
    }
    type Gauge = (&'static str, &'static str, fn(&StoreStats) -> usize);
    let gauges: [Gauge; 2] = [
        (
            "meshview_cache_entries",
            "Answers kept in the reader's caches.",
            |s| s.entries,
        ),
        (
            "meshview_cache_bytes",
            "Bytes of serialized answers kept in the reader's caches.",
            |s| s.bytes,
        ),
    ];
    for (name, help, value) in gauges {
        o.head(name, "gauge", help);
        for (cache, s) in &caches {
            o.line(name, &[("cache", cache)], value(s));
        }
    }
    o.single(
        "meshview_uptime_seconds",
        "gauge",
        "Seconds since the web server started.",
        state.started.elapsed().as_secs(),
    );
    {
        let http = state.metrics.http.lock().expect("metrics lock");
        o.head(
            "meshview_http_requests_total",
            "counter",
            "HTTP requests by route pattern, method and status.",
        );
        for ((route, method, status), n) in &http.requests {
            o.line(
                "meshview_http_requests_total",
                &[
                    ("route", route),
                    ("method", method),
                    ("status", &status.to_string()),
                ],
                n,
            );
        }
        o.head(
            "meshview_http_request_duration_seconds",
            "histogram",
            "HTTP request latency by route pattern.",
        );
        for (route, h) in &http.latency {
            for (i, bound) in HTTP_BUCKETS.iter().enumerate() {
                o.line(
                    "meshview_http_request_duration_seconds_bucket",
                    &[("route", route), ("le", &bound.to_string())],
                    h.buckets[i],
                );
            }
            o.line(
                "meshview_http_request_duration_seconds_bucket",
                &[("route", route), ("le", "+Inf")],
                h.count,
            );
            o.line(
                "meshview_http_request_duration_seconds_sum",
                &[("route", route)],
                h.sum,
            );
            o.line(
                "meshview_http_request_duration_seconds_count",
                &[("route", route)],
                h.count,
            );
        }
    }
    o.single(
        "meshview_stream_clients",
        "gauge",
        "Connected /api/stream clients.",
        state.hub.clients(),
    );
    o.single(
        "meshview_stream_events_total",
        "counter",
        "Packets published to the stream.",
        state.hub.events(),
    );
    o.single(
        "meshview_stream_lagged_total",
        "counter",
        "Events skipped by clients too slow to keep up.",
        state.hub.lagged(),
    );

    let db = match &*state.phase.borrow() {
        Phase::Ready(db) => Some(db.clone()),
        Phase::Starting(_) => None,
    };
    o.single(
        "meshview_database_ready",
        "gauge",
        "1 once the schema is current and the reader serves.",
        u8::from(db.is_some()),
    );
    if let Some(db) = db {
        let size = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            super::health::database_size(&db, &state),
        )
        .await;
        if let Ok(Ok(Some(bytes))) = size {
            o.single(
                "meshview_database_size_bytes",
                "gauge",
                "Size of the database (SQLite: file and WAL).",
                bytes,
            );
        }
    }
    if let Some(stats) = &state.ingest {
        ingest(&mut o, &stats.snapshot());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        o.0,
    )
}

fn ingest(o: &mut Out, s: &crate::ingest::stats::StatsSnapshot) {
    o.head(
        "meshview_ingest_messages_total",
        "counter",
        "MQTT messages by outcome (received, accepted, dropped) and drop reason.",
    );
    o.line(
        "meshview_ingest_messages_total",
        &[("outcome", "received"), ("reason", "")],
        s.received,
    );
    o.line(
        "meshview_ingest_messages_total",
        &[("outcome", "accepted"), ("reason", "")],
        s.accepted,
    );
    for (reason, n) in &s.dropped {
        o.line(
            "meshview_ingest_messages_total",
            &[("outcome", "dropped"), ("reason", reason)],
            n,
        );
    }
    o.head(
        "meshview_ingest_noted_total",
        "counter",
        "Oddities in messages that were stored anyway.",
    );
    for (what, n) in &s.noted {
        o.line("meshview_ingest_noted_total", &[("what", what)], n);
    }
    o.single(
        "meshview_ingest_undecryptable_total",
        "counter",
        "Accepted packets no key decrypts.",
        s.undecryptable,
    );
    o.single(
        "meshview_ingest_packets_stored_total",
        "counter",
        "Distinct packets stored.",
        s.packets_stored,
    );
    o.single(
        "meshview_ingest_receptions_stored_total",
        "counter",
        "Receptions stored.",
        s.receptions_stored,
    );
    o.single(
        "meshview_ingest_receptions_duplicate_total",
        "counter",
        "Receptions already stored.",
        s.receptions_duplicate,
    );
    o.single(
        "meshview_ingest_write_failures_total",
        "counter",
        "Writes dropped after a data error.",
        s.write_failures,
    );
    o.single(
        "meshview_ingest_db_retries_total",
        "counter",
        "Batch retries while the database was unavailable.",
        s.db_retries,
    );
    o.single(
        "meshview_ingest_queue_depth",
        "gauge",
        "Accepted messages waiting for the writer.",
        s.queue_depth,
    );
    o.single(
        "meshview_ingest_last_received_timestamp_seconds",
        "gauge",
        "When the last MQTT message arrived (Unix time).",
        s.last_received_us as f64 / 1e6,
    );
    o.head(
        "meshview_ingest_batch_duration_seconds",
        "histogram",
        "Time to commit one batch.",
    );
    for (bound, n) in &s.batch_latency_buckets {
        // Bounds are milliseconds, the last one "+Inf" (which f64 parsing would accept).
        let le = match bound.parse::<u64>() {
            Ok(ms) => (ms as f64 / 1000.0).to_string(),
            Err(_) => "+Inf".to_string(),
        };
        o.line(
            "meshview_ingest_batch_duration_seconds_bucket",
            &[("le", &le)],
            n,
        );
    }
    o.line(
        "meshview_ingest_batch_duration_seconds_sum",
        &[],
        s.batch_latency_ms_avg * s.batches as f64 / 1000.0,
    );
    o.line(
        "meshview_ingest_batch_duration_seconds_count",
        &[],
        s.batches,
    );
}
