//! A strict reader of the Prometheus text format (0.0.4) that `/metrics` answers in, so
//! the tests compare what a scraper sees (families, types, label names) rather than
//! substrings, and notice a malformed line.

use std::collections::{BTreeMap, BTreeSet};

/// The families every `/metrics` answer has: (name, type, label names).
pub const READER_FAMILIES: &[(&str, &str, &[&str])] = &[
    ("meshview_build_info", "gauge", &["revision", "version"]),
    ("meshview_cache_bytes", "gauge", &["cache"]),
    ("meshview_cache_entries", "gauge", &["cache"]),
    (
        "meshview_cache_lookups_total",
        "counter",
        &["cache", "outcome"],
    ),
    ("meshview_database_ready", "gauge", &[]),
    ("meshview_database_size_bytes", "gauge", &[]),
    (
        "meshview_http_request_duration_seconds",
        "histogram",
        &["route"],
    ),
    (
        "meshview_http_requests_total",
        "counter",
        &["method", "route", "status"],
    ),
    ("meshview_stream_clients", "gauge", &[]),
    ("meshview_stream_events_total", "counter", &[]),
    ("meshview_stream_lagged_total", "counter", &[]),
    ("meshview_uptime_seconds", "gauge", &[]),
];

/// The families added when the writer runs in the same process (`meshview run`).
pub const INGEST_FAMILIES: &[(&str, &str, &[&str])] = &[
    ("meshview_ingest_batch_duration_seconds", "histogram", &[]),
    ("meshview_ingest_db_retries_total", "counter", &[]),
    (
        "meshview_ingest_last_received_timestamp_seconds",
        "gauge",
        &[],
    ),
    (
        "meshview_ingest_messages_total",
        "counter",
        &["outcome", "reason"],
    ),
    ("meshview_ingest_noted_total", "counter", &["what"]),
    ("meshview_ingest_packets_stored_total", "counter", &[]),
    ("meshview_ingest_queue_depth", "gauge", &[]),
    ("meshview_ingest_receptions_duplicate_total", "counter", &[]),
    ("meshview_ingest_receptions_stored_total", "counter", &[]),
    ("meshview_ingest_undecryptable_total", "counter", &[]),
    ("meshview_ingest_write_failures_total", "counter", &[]),
];

/// Upper bounds of `meshview_http_request_duration_seconds`, as `le` labels.
pub const HTTP_BUCKETS: &[&str] = &[
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "5", "+Inf",
];
/// Upper bounds of `meshview_ingest_batch_duration_seconds`, as `le` labels.
pub const BATCH_BUCKETS: &[&str] = &[
    "0.001", "0.002", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "1", "5", "+Inf",
];

#[derive(Debug, Clone)]
pub struct Sample {
    /// The sample's own name (`…_bucket`, `…_sum` and `…_count` for histograms).
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Default)]
pub struct Family {
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

impl Family {
    /// The label names of its samples (`le` of histogram buckets left out).
    pub fn label_names(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .flat_map(|s| s.labels.keys())
            .filter(|k| !(self.kind == "histogram" && *k == "le"))
            .cloned()
            .collect()
    }

    /// The values `label` takes.
    pub fn values_of(&self, label: &str) -> BTreeSet<String> {
        self.samples
            .iter()
            .filter_map(|s| s.labels.get(label).cloned())
            .collect()
    }

    /// The value of the sample named `name` whose labels include all of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }
}

#[derive(Debug)]
pub struct Exposition {
    pub families: BTreeMap<String, Family>,
}

impl Exposition {
    /// Parses `text`, panicking (with the line) on anything a Prometheus scraper would
    /// reject or misread: a sample outside its declared family, a family declared twice,
    /// a bad label or value, histogram buckets that are not cumulative.
    pub fn parse(text: &str) -> Exposition {
        let mut families: BTreeMap<String, Family> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                assert!(
                    !families.contains_key(name),
                    "{name} declared twice:\n{text}"
                );
                families.insert(
                    name.to_string(),
                    Family {
                        help: help.to_string(),
                        ..Family::default()
                    },
                );
                current = Some(name.to_string());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect(line);
                assert_eq!(
                    Some(name),
                    current.as_deref(),
                    "TYPE after its HELP: {line}"
                );
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "{line}"
                );
                families.get_mut(name).unwrap().kind = kind.to_string();
            } else if line.starts_with('#') {
                panic!("unexpected comment {line:?}");
            } else {
                let sample = parse_sample(line);
                let family = current.as_deref().expect("a sample before any family");
                let f = families.get_mut(family).unwrap();
                let own = match f.kind.as_str() {
                    "histogram" => ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| sample.name.strip_suffix(s) == Some(family)),
                    _ => sample.name == family,
                };
                assert!(own, "{line:?} is not a sample of {family}");
                f.samples.push(sample);
            }
        }
        for (name, f) in &families {
            assert!(!f.kind.is_empty(), "{name} has no TYPE");
            assert!(!f.help.is_empty(), "{name} has no HELP");
            if f.kind == "histogram" {
                check_histogram(name, f);
            }
        }
        Exposition { families }
    }

    pub fn family(&self, name: &str) -> &Family {
        self.families
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing: {:?}", self.families.keys()))
    }

    /// Asserts that the families are exactly `want`: names and types, and the label names
    /// of those that have samples (a counter family nothing was counted in yet has none).
    pub fn assert_families(&self, want: &[&[(&str, &str, &[&str])]]) {
        let want: BTreeMap<String, (String, BTreeSet<String>)> = want
            .iter()
            .flat_map(|list| list.iter())
            .map(|(name, kind, labels)| {
                let labels = labels.iter().map(|l| l.to_string()).collect();
                (name.to_string(), (kind.to_string(), labels))
            })
            .collect();
        let got: BTreeMap<String, (String, BTreeSet<String>)> = self
            .families
            .iter()
            .map(|(name, f)| {
                let labels = match (f.samples.is_empty(), want.get(name)) {
                    (true, Some((_, labels))) => labels.clone(),
                    _ => f.label_names(),
                };
                (name.clone(), (f.kind.clone(), labels))
            })
            .collect();
        assert_eq!(got, want);
    }
}

/// Buckets per series are cumulative, end with `+Inf` equal to `_count`, and `_sum` is
/// there.
fn check_histogram(name: &str, f: &Family) {
    let mut series: BTreeMap<Vec<(String, String)>, Vec<&Sample>> = BTreeMap::new();
    for s in &f.samples {
        let key = s
            .labels
            .iter()
            .filter(|(k, _)| *k != "le")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        series.entry(key).or_default().push(s);
    }
    for (key, samples) in series {
        let buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.name.ends_with("_bucket"))
            .map(|s| (parse_value(&s.labels["le"]), s.value))
            .collect();
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{name}{key:?}: {buckets:?}"
        );
        assert_eq!(buckets.last().map(|b| b.0), Some(f64::INFINITY), "{name}");
        let count = samples.iter().find(|s| s.name.ends_with("_count"));
        assert_eq!(
            count.map(|s| s.value),
            buckets.last().map(|b| b.1),
            "{name}"
        );
        assert!(samples.iter().any(|s| s.name.ends_with("_sum")), "{name}");
    }
}

fn parse_value(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => v.parse().unwrap_or_else(|_| panic!("not a number: {v:?}")),
    }
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).expect(line);
    let name = &line[..name_end];
    assert!(is_name(name, true), "bad metric name: {line:?}");
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut body) = rest.strip_prefix('{') {
        // One `key="value"` per turn, then `,` or `}`.
        loop {
            let (key, after) = body.split_once("=\"").expect(line);
            assert!(is_name(key, false), "bad label name {key:?}: {line:?}");
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().expect(line) {
                    (_, '\\') => value.push(match chars.next().expect(line).1 {
                        '\\' => '\\',
                        '"' => '"',
                        'n' => '\n',
                        other => panic!("bad escape \\{other}: {line:?}"),
                    }),
                    (i, '"') => break i,
                    (_, c) => value.push(c),
                }
            };
            assert!(
                labels.insert(key.to_string(), value).is_none(),
                "label {key} twice: {line:?}"
            );
            let after = &after[end + 1..];
            if let Some(next) = after.strip_prefix(',') {
                body = next;
            } else {
                rest = after.strip_prefix('}').expect(line);
                break;
            }
        }
    }
    let value = rest.strip_prefix(' ').expect(line);
    assert!(!value.contains(' '), "timestamps are not written: {line:?}");
    Sample {
        name: name.to_string(),
        labels,
        value: parse_value(value),
    }
}
