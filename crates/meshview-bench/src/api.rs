//! `meshview-bench api`: the reader's speed and memory on a (big) database.
//!
//! Against a running server (`--url`) or a `meshview serve` started here on the configured
//! database (then its memory is read from `/proc/<pid>/status`), it measures:
//! - every endpoint of docs/api.md, one parameter variant per row, sequentially:
//!   p50/p95/p99/max over `--requests` requests;
//! - `/api/stream`: the time until the `: connected` comment;
//! - every page's HTML (the first paint): p50/p95 over `--page-requests` requests;
//! - a mixed load of the API rows (weighted like a busy site) on `--concurrency`
//!   keep-alive connections for `--seconds`: requests per second and latency.
//!
//! Parameters are realistic and vary from request to request: node numbers, packet ids,
//! traceroute ids and channels are read from the API first (nodes from `/api/nodes`,
//! packets from keyset pages spread over the whole stored period). A server started here
//! runs the sequential pass with its caches off (`MESHVIEW_AGGREGATE_CACHE=off`) unless
//! `--cache` is given, so those numbers are the queries', not the caches'. It is then
//! restarted with the caches on for the mixed load, which measures the reader as operators
//! run it (`--mix-without-cache`: the queries alone there too).
//!
//! The HTTP client is a small HTTP/1.1 client over a tokio `TcpStream` (keep-alive,
//! `Content-Length` and chunked bodies, no compression, no TLS), so the binary needs no
//! HTTP client dependency.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

use meshview::config::{Config, DatabaseUrl};

/// Latency target of an API endpoint (p95).
pub(crate) const API_TARGET_MS: f64 = 50.0;
/// Latency target of a time-travel query (p95), the issue's.
const TIME_TRAVEL_MS: f64 = 100.0;
/// Latency target of a page's HTML (p95).
const PAGE_TARGET_MS: f64 = 100.0;
/// Mixed-load target.
const MIX_TARGET_RPS: f64 = 2000.0;
/// Reader memory target.
pub(crate) const RSS_TARGET_MB: f64 = 128.0;

#[derive(clap::Args, Debug, Clone)]
pub struct ApiArgs {
    /// A running server (http only); without it `meshview serve` is started on the
    /// configured database.
    #[arg(long)]
    pub url: Option<String>,
    /// Requests per API row in the sequential pass.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Requests per page.
    #[arg(long, default_value_t = 50)]
    pub page_requests: usize,
    /// Connections of the mixed load.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Duration of the mixed load, in seconds.
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Keep the server's caches on (aggregates for 5 s, packet lists while nothing newer is
    /// stored) for the sequential pass too; a server started here turns them off for it.
    #[arg(long)]
    pub cache: bool,
    /// Run the mixed load with the caches off (the queries alone); by default a server
    /// started here runs it with them on, as `meshview serve` runs for operators.
    #[arg(long)]
    pub mix_without_cache: bool,
    /// Start the server without elevation tiles (coverage then runs in area mode only); by
    /// default a server started here gets synthetic SRTM tiles over the nodes' area.
    #[arg(long)]
    pub no_terrain: bool,
    /// Nodes whose coverage is predicted twice (cold, then cached) per coverage variant.
    #[arg(long, default_value_t = 10)]
    pub coverage_nodes: usize,
    /// The stored period to draw times and packets from (days back from the newest packet).
    #[arg(long, default_value_t = 14.0)]
    pub days: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

// ---------------------------------------------------------------------------------------
// A small HTTP/1.1 client.

pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

pub(crate) struct Http {
    addr: String,
    stream: Option<BufStream<TcpStream>>,
}

impl Http {
    pub(crate) fn new(addr: &str) -> Http {
        Http {
            addr: addr.to_string(),
            stream: None,
        }
    }

    async fn connect(&self) -> anyhow::Result<BufStream<TcpStream>> {
        let s = TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        s.set_nodelay(true)?;
        Ok(BufStream::new(s))
    }

    /// GET `path`, reusing the connection; a request on a connection the server closed
    /// meanwhile is sent again once on a new one.
    pub(crate) async fn get(&mut self, path: &str) -> anyhow::Result<Response> {
        for attempt in 0..2 {
            let reused = self.stream.is_some();
            if self.stream.is_none() {
                self.stream = Some(self.connect().await?);
            }
            match self.exchange(path).await {
                Ok(r) => return Ok(r),
                Err(e) => {
                    self.stream = None;
                    if attempt == 1 || !reused {
                        return Err(e.context(format!("GET {path}")));
                    }
                }
            }
        }
        unreachable!("two attempts")
    }

    async fn exchange(&mut self, path: &str) -> anyhow::Result<Response> {
        let s = self.stream.as_mut().expect("connected");
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: meshview-bench\r\nAccept: */*\r\n\r\n",
            self.addr
        );
        s.write_all(req.as_bytes()).await?;
        s.flush().await?;
        let mut line = String::new();
        if s.read_line(&mut line).await? == 0 {
            bail!("connection closed");
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            line.clear();
            if s.read_line(&mut line).await? == 0 {
                bail!("connection closed in the headers");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                match k.as_str() {
                    "content-length" => length = v.parse::<usize>().ok(),
                    "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                    "connection" => close = v.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                s.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .with_context(|| format!("bad chunk size {line:?}"))?;
                if size == 0 {
                    // Trailers, then the empty line.
                    loop {
                        line.clear();
                        if s.read_line(&mut line).await? == 0 || line.trim_end().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let start = body.len();
                body.resize(start + size, 0);
                s.read_exact(&mut body[start..]).await?;
                let mut crlf = [0u8; 2];
                s.read_exact(&mut crlf).await?;
            }
        } else if let Some(n) = length {
            body.resize(n, 0);
            s.read_exact(&mut body).await?;
        } else {
            s.read_to_end(&mut body).await?;
            close = true;
        }
        if close {
            self.stream = None;
        }
        Ok(Response { status, body })
    }

    /// Opens `/api/stream` and waits for its `: connected` comment.
    async fn stream_connected(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let mut s = self.connect().await?;
        let req = format!(
            "GET /api/stream HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
            self.addr
        );
        s.write_all(req.as_bytes()).await?;
        s.flush().await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
                .await
                .context("no `: connected` from /api/stream within 5 s")??;
            if n == 0 {
                bail!("/api/stream closed before `: connected`");
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(9).any(|w| w == b"connected") {
                return Ok(started.elapsed());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// What is requested.

/// Real identifiers to build requests from.
pub(crate) struct Sample {
    nodes: Vec<i64>,
    /// Nodes with many packets (gateways and busy senders).
    busy_nodes: Vec<i64>,
    packets: Vec<i64>,
    traceroutes: Vec<i64>,
    channels: Vec<String>,
    roles: Vec<String>,
    hw_models: Vec<String>,
    /// Nodes with a known position (coverage predictions need one).
    located: Vec<i64>,
    /// Links the model knows, `(from, to)`, most confident first; one made-up pair (its
    /// history answers 404) when it knows none.
    links: Vec<(i64, i64)>,
    /// Known links whose two ends have a position (line-of-sight profiles need both).
    located_links: Vec<(i64, i64)>,
    /// Whether the server has elevation tiles (`None`: a server given with `--url`).
    terrain: Option<bool>,
    newest_us: i64,
    oldest_us: i64,
}

impl Sample {
    fn has_links(&self) -> bool {
        self.links.first().is_some_and(|&(f, t)| f != t)
    }
}

type PathFn = Box<dyn Fn(&Sample, &mut StdRng) -> String + Send + Sync>;

/// One row of the API table.
pub(crate) struct Case {
    endpoint: &'static str,
    variant: &'static str,
    path: PathFn,
    /// Relative frequency in the mixed load (0 = not in the mix).
    weight: f64,
    /// The status a correct answer has on this sample.
    expect: fn(&Sample) -> u16,
    /// At most this many requests in the sequential pass (rows that compute for a long
    /// time, such as coverage predictions).
    max_requests: Option<usize>,
    /// The row's p95 target (ms): [`API_TARGET_MS`] unless the issue sets another.
    target_ms: f64,
}

fn case(
    endpoint: &'static str,
    variant: &'static str,
    weight: impl Into<f64>,
    path: impl Fn(&Sample, &mut StdRng) -> String + Send + Sync + 'static,
) -> Case {
    Case {
        endpoint,
        variant,
        path: Box::new(path),
        weight: weight.into(),
        expect: |_| 200,
        max_requests: None,
        target_ms: API_TARGET_MS,
    }
}

impl Case {
    /// A target of its own: predicted coverage is ≤ 200 ms cold in area mode, ≤ 2 s over
    /// terrain (every request of the sequential pass is cold).
    fn target(mut self, ms: f64) -> Case {
        self.target_ms = ms;
        self
    }

    fn at_most(mut self, n: usize) -> Case {
        self.max_requests = Some(n);
        self
    }

    fn expecting(mut self, f: fn(&Sample) -> u16) -> Case {
        self.expect = f;
        self
    }
}

fn pick<T: Clone>(v: &[T], rng: &mut StdRng) -> T {
    v.choose(rng).expect("non-empty sample").clone()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A time within the stored period.
fn some_time(s: &Sample, rng: &mut StdRng) -> i64 {
    rng.random_range(s.oldest_us..=s.newest_us)
}

/// A moment to look back at: a day after a random stored moment, so that a day of
/// history lies before it, and never after the newest.
fn past_moment(s: &Sample, rng: &mut StdRng) -> i64 {
    (some_time(s, rng) + 86_400_000_000).min(s.newest_us)
}

/// Every endpoint of docs/api.md with realistic parameter variants; weights model a busy
/// public site (live lists and packet details dominate, aggregates are polled).
pub(crate) fn api_cases() -> Vec<Case> {
    use meshview_protocol::pb::PortNum as P;
    const PORTS: [i32; 7] = [
        P::TextMessageApp as i32,
        P::PositionApp as i32,
        P::NodeinfoApp as i32,
        P::RoutingApp as i32,
        P::TelemetryApp as i32,
        P::TracerouteApp as i32,
        P::NeighborinfoApp as i32,
    ];
    const WORDS: [&str; 6] = ["mesh", "hello", "ping", "signal", "node", "73"];
    vec![
        case("/api/nodes", "all (limit 10000)", 2, |_, _| {
            "/api/nodes".into()
        }),
        case("/api/nodes", "days_active=3", 2, |_, _| {
            "/api/nodes?days_active=3".into()
        }),
        case("/api/nodes", "node_id", 4, |s, r| {
            format!("/api/nodes?node_id={}", pick(&s.nodes, r))
        }),
        case("/api/nodes", "role + hw_model", 1, |s, r| {
            format!(
                "/api/nodes?role={}&hw_model={}",
                enc(&pick(&s.roles, r)),
                enc(&pick(&s.hw_models, r))
            )
        }),
        case("/api/packets", "newest 50", 10, |_, _| {
            "/api/packets".into()
        }),
        case("/api/packets", "since (poll, last 60 s)", 10, |s, _| {
            format!("/api/packets?since={}", s.newest_us - 60_000_000)
        }),
        case("/api/packets", "before (page back)", 5, |s, r| {
            format!("/api/packets?before={}&limit=50", some_time(s, r))
        }),
        case("/api/packets", "node_id, limit 500", 4, |s, r| {
            format!("/api/packets?node_id={}&limit=500", pick(&s.nodes, r))
        }),
        case("/api/packets", "node_id (busy), limit 500", 2, |s, r| {
            format!("/api/packets?node_id={}&limit=500", pick(&s.busy_nodes, r))
        }),
        case("/api/packets", "from_node_id", 3, |s, r| {
            format!("/api/packets?from_node_id={}", pick(&s.nodes, r))
        }),
        // What the node page's scripts ask for.
        case(
            "/api/packets",
            "positions of a node, limit 200",
            2,
            |s, r| {
                format!(
                    "/api/packets?portnum=3&from_node_id={}&limit=200",
                    pick(&s.nodes, r)
                )
            },
        ),
        case(
            "/api/packets",
            "telemetry of a node, limit 1000",
            2,
            |s, r| {
                format!(
                    "/api/packets?portnum=67&from_node_id={}&limit=1000",
                    pick(&s.nodes, r)
                )
            },
        ),
        case(
            "/api/packets",
            "node_id, last 7 days, limit 1000",
            2,
            |s, r| {
                format!(
                    "/api/packets?node_id={}&since={}&limit=1000",
                    pick(&s.nodes, r),
                    s.newest_us - 7 * 86_400_000_000
                )
            },
        ),
        case("/api/packets", "to_node_id (direct)", 2, |s, r| {
            format!("/api/packets?to_node_id={}", pick(&s.nodes, r))
        }),
        case("/api/packets", "portnum, limit 100", 5, |_, r| {
            format!("/api/packets?portnum={}&limit=100", pick(&PORTS, r))
        }),
        case("/api/packets", "portnum=1 (chat), limit 100", 5, |_, _| {
            "/api/packets?portnum=1&limit=100".into()
        }),
        case("/api/packets", "packet_id", 3, |s, r| {
            format!(
                "/api/packets?packet_id={}",
                pick(&s.packets, r) & 0xFFFF_FFFF
            )
        }),
        case("/api/packets", "channel", 2, |s, r| {
            format!("/api/packets?channel={}", enc(&pick(&s.channels, r)))
        }),
        case("/api/packets", "contains (text search)", 1, |_, r| {
            format!("/api/packets?portnum=1&contains={}", pick(&WORDS, r))
        }),
        case("/api/packets_seen/{id}", "packet", 8, |s, r| {
            format!("/api/packets_seen/{}", pick(&s.packets, r))
        }),
        case("/api/stats", "hour × 24", 3, |_, _| "/api/stats".into()),
        case("/api/stats", "day × 14", 2, |_, _| {
            "/api/stats?period_type=day&length=14".into()
        }),
        case("/api/stats", "hour × 168, channel + portnum", 1, |s, r| {
            format!(
                "/api/stats?length=168&channel={}&portnum={}",
                enc(&pick(&s.channels, r)),
                pick(&PORTS, r)
            )
        }),
        case("/api/stats", "from_node, day × 7", 1, |s, r| {
            format!(
                "/api/stats?from_node={}&period_type=day&length=7",
                pick(&s.nodes, r)
            )
        }),
        case("/api/stats", "to_node, hour × 24", 1, |s, r| {
            format!("/api/stats?to_node={}", pick(&s.nodes, r))
        }),
        case("/api/stats", "node totals", 2, |s, r| {
            format!("/api/stats?node={}", pick(&s.nodes, r))
        }),
        case("/api/stats/count", "all time", 2, |_, _| {
            "/api/stats/count".into()
        }),
        case("/api/stats/count", "from_node, day × 1", 2, |s, r| {
            format!(
                "/api/stats/count?from_node={}&period_type=day&length=1",
                pick(&s.nodes, r)
            )
        }),
        case("/api/stats/count", "packet_id", 1, |s, r| {
            format!("/api/stats/count?packet_id={}", pick(&s.packets, r))
        }),
        case("/api/stats/top", "day × 1", 2, |_, _| {
            "/api/stats/top".into()
        }),
        case("/api/stats/top", "day × 7, offset 20", 1, |_, _| {
            "/api/stats/top?period_type=day&length=7&offset=20".into()
        }),
        case("/api/stats/top", "hour × 1, channel", 1, |s, r| {
            format!(
                "/api/stats/top?period_type=hour&length=1&channel={}",
                enc(&pick(&s.channels, r))
            )
        }),
        case("/api/channels", "hour × 24", 2, |_, _| {
            "/api/channels".into()
        }),
        case("/api/channels", "day × 14", 1, |_, _| {
            "/api/channels?period_type=day&length=14".into()
        }),
        case("/api/snapshots/daily", "30 days", 0.2, |_, _| {
            "/api/snapshots/daily?length=30".into()
        }),
        case("/api/snapshots/daily", "a year", 0.2, |_, _| {
            "/api/snapshots/daily?length=365".into()
        }),
        case("/api/edges", "both types", 2, |_, _| "/api/edges".into()),
        case(
            "/api/edges",
            "with link quality (the graph)",
            0.2,
            |_, _| "/api/edges?quality=true".into(),
        ),
        case("/api/edges", "traceroute, 24 h", 1, |_, _| {
            "/api/edges?type=traceroute&hours=24".into()
        }),
        case("/api/edges", "node_id", 2, |s, r| {
            format!("/api/edges?node_id={}", pick(&s.nodes, r))
        }),
        // Time travel: the graph as of a moment of the stored history (the evidence of the
        // 12 and 24 hours before it, from the raw packets), and an hour of "play this
        // day". Occasional, interactive views: weighted like the graph itself.
        case(
            "/api/edges",
            "time travel: at a past moment",
            0.1,
            |s, r| format!("/api/edges?at={}", past_moment(s, r)),
        )
        .target(TIME_TRAVEL_MS),
        case("/api/edges", "time travel: an hour of play", 0.1, |s, r| {
            let from = some_time(s, r);
            format!(
                "/api/edges?quality=true&from={from}&to={}",
                from + 3_600_000_000
            )
        })
        .target(TIME_TRAVEL_MS),
        // The map as of a moment asks for the nodes then; the stats page for a past day.
        case(
            "/api/nodes",
            "time travel: at a past moment",
            0.1,
            |s, r| format!("/api/nodes?days_active=3&at={}", past_moment(s, r)),
        )
        .target(TIME_TRAVEL_MS),
        case("/api/stats", "time travel: a past day", 0.1, |s, r| {
            format!(
                "/api/stats?period_type=hour&length=24&to={}",
                past_moment(s, r)
            )
        })
        .target(TIME_TRAVEL_MS),
        case("/api/traceroute/{id}", "request or reply", 3, |s, r| {
            format!("/api/traceroute/{}", pick(&s.traceroutes, r))
        }),
        case("/api/node/{id}/qr", "node", 2, |s, r| {
            format!("/api/node/{}/qr", pick(&s.nodes, r))
        }),
        case("/api/node/{id}/impersonation-check", "node", 2, |s, r| {
            format!("/api/node/{}/impersonation-check", pick(&s.nodes, r))
        }),
        // The link-quality model (docs/links.md): the map's link layer asks for every
        // link, node pages for a node's.
        case("/api/links", "all (168 h)", 2, |_, _| "/api/links".into()),
        case("/api/links", "node_id", 2, |s, r| {
            format!("/api/links?node_id={}", pick(&s.nodes, r))
        }),
        case("/api/links", "min_confidence=0.5, 24 h", 1, |_, _| {
            "/api/links?min_confidence=0.5&hours=24".into()
        }),
        case(
            "/api/links/{from}/{to}",
            "a known link, 168 h",
            1,
            |s, r| {
                let (f, t) = pick(&s.links, r);
                format!("/api/links/{f}/{t}")
            },
        )
        .expecting(|s| if s.has_links() { 200 } else { 404 }),
        // The line of sight of a link over the elevation tiles (node page, on demand).
        case(
            "/api/links/{from}/{to}/profile",
            "a located link",
            0.05,
            |s, r| {
                let (f, t) = pick(&s.located_links, r);
                format!("/api/links/{f}/{t}/profile")
            },
        )
        .at_most(COVERAGE_REQUESTS)
        .expecting(|s| {
            if s.terrain != Some(false) && s.located_links.first().is_some_and(|l| l.0 != l.1) {
                200
            } else {
                404
            }
        }),
        // Predicted coverage (ITM) of a located node; every request of the sequential pass
        // is cold (caches off). Clicked on a node page now and then: rare in the mix.
        case("/api/coverage/{id}", "area, perimeter", 0.05, |s, r| {
            format!(
                "/api/coverage/{}?model=area&mode=perimeter",
                pick(&s.located, r)
            )
        })
        .at_most(COVERAGE_REQUESTS)
        .target(200.0)
        .expecting(located_status),
        case("/api/coverage/{id}", "area, heatmap", 0.05, |s, r| {
            format!("/api/coverage/{}?model=area", pick(&s.located, r))
        })
        .at_most(COVERAGE_REQUESTS)
        .target(200.0)
        .expecting(located_status),
        // The default model: terrain when the server has elevation tiles (a server started
        // here gets synthetic ones), else area mode.
        case(
            "/api/coverage/{id}",
            "best (terrain), perimeter",
            0.01,
            |s, r| format!("/api/coverage/{}?mode=perimeter", pick(&s.located, r)),
        )
        .at_most(TERRAIN_REQUESTS)
        .target(2000.0)
        .expecting(located_status),
        case(
            "/api/coverage/{id}",
            "best (terrain), heatmap",
            0.01,
            |s, r| format!("/api/coverage/{}", pick(&s.located, r)),
        )
        .at_most(TERRAIN_REQUESTS)
        .target(2000.0)
        .expecting(located_status),
        // Observed coverage from the link model: who heard a node directly (and how that
        // compares with its prediction), and the mesh's cells. The pages ask for them only
        // when a coverage toggle is switched on (node page, map), so they are as rare in
        // the mix as the predictions behind the same toggles; a node's first comparison
        // walks its terrain (~30 ms of CPU).
        case(
            "/api/coverage/{id}/observed",
            "node, 168 h, res 7",
            0.05,
            |s, r| format!("/api/coverage/{}/observed", pick(&s.nodes, r)),
        )
        .at_most(COVERAGE_REQUESTS),
        case(
            "/api/coverage/{id}/observed",
            "node, 24 h, res 8",
            0.02,
            |s, r| {
                format!(
                    "/api/coverage/{}/observed?hours=24&resolution=8",
                    pick(&s.nodes, r)
                )
            },
        )
        .at_most(COVERAGE_REQUESTS),
        case(
            "/api/coverage/observed",
            "mesh, 168 h, res 6",
            0.1,
            |_, _| "/api/coverage/observed".into(),
        ),
        case(
            "/api/coverage/observed",
            "mesh, 24 h, res 8",
            0.05,
            |_, _| "/api/coverage/observed?hours=24&resolution=8".into(),
        ),
        case("/api/config", "", 1, |_, _| "/api/config".into()),
        case("/api/lang", "section", 1, |_, r| {
            format!(
                "/api/lang?lang=en&section={}",
                pick(&["base", "chat", "node", "stats", "map"], r)
            )
        }),
        case("/api/openapi.json", "", 0, |_, _| {
            "/api/openapi.json".into()
        }),
        case("/health", "", 1, |_, _| "/health".into()),
        case("/version", "", 0, |_, _| "/version".into()),
        case("/metrics", "", 1, |_, _| "/metrics".into()),
    ]
}

/// Requests per area-mode coverage row in the sequential pass (each is a full ITM run).
const COVERAGE_REQUESTS: usize = 40;
/// Requests per terrain coverage row in the sequential pass (up to seconds each).
const TERRAIN_REQUESTS: usize = 10;

/// Coverage answers 404 for a node without a position.
fn located_status(s: &Sample) -> u16 {
    if s.located.is_empty() { 404 } else { 200 }
}

fn page_cases() -> Vec<Case> {
    vec![
        case("/chat", "", 0, |_, _| "/chat".into()),
        case("/firehose", "", 0, |_, _| "/firehose".into()),
        case("/firehose", "portnum", 0, |_, r| {
            format!("/firehose?portnum={}", pick(&[3, 4, 67, 70], r))
        }),
        case("/nodelist", "", 0, |_, _| "/nodelist".into()),
        case("/node/{id}", "", 0, |s, r| {
            format!("/node/{}", pick(&s.nodes, r))
        }),
        case("/node/{id}", "busy node", 0, |s, r| {
            format!("/node/{}", pick(&s.busy_nodes, r))
        }),
        case("/packet/{id}", "", 0, |s, r| {
            format!("/packet/{}", pick(&s.packets, r))
        }),
        case("/map", "", 0, |_, _| "/map".into()),
        case("/kiosk", "", 0, |_, _| "/kiosk".into()),
        case("/heatmap", "", 0, |_, _| "/heatmap".into()),
        case("/nodegraph", "", 0, |_, _| "/nodegraph".into()),
        case("/net", "", 0, |_, _| "/net".into()),
        case("/top", "", 0, |_, _| "/top".into()),
        case("/top", "week, page 2", 0, |_, _| {
            "/top?period=week&offset=20".into()
        }),
        case("/stats", "", 0, |_, _| "/stats".into()),
        case("/traceroute/{id}", "", 0, |s, r| {
            format!("/traceroute/{}", pick(&s.traceroutes, r))
        }),
        case("/graph/traceroute/{id}", "SVG", 0, |s, r| {
            format!("/graph/traceroute/{}", pick(&s.traceroutes, r))
        }),
        case("/api", "API reference", 0, |_, _| "/api".into()),
    ]
}

// ---------------------------------------------------------------------------------------
// Measuring.

#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    /// The first (unmeasured, cold) request, in ms.
    first: f64,
    n: usize,
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
    mean_bytes: f64,
    errors: usize,
}

fn summarize(mut ms: Vec<f64>, bytes: u64, errors: usize) -> Summary {
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    let q = |p: f64| {
        if n == 0 {
            f64::NAN
        } else {
            ms[((p * n as f64).ceil() as usize).clamp(1, n) - 1]
        }
    };
    Summary {
        first: f64::NAN,
        n,
        p50: q(0.50),
        p95: q(0.95),
        p99: q(0.99),
        max: ms.last().copied().unwrap_or(f64::NAN),
        mean_bytes: bytes as f64 / n.max(1) as f64,
        errors,
    }
}

async fn measure(
    http: &mut Http,
    c: &Case,
    sample: &Sample,
    rng: &mut StdRng,
    n: usize,
) -> anyhow::Result<(Summary, Option<String>)> {
    let n = c.max_requests.map_or(n, |m| n.min(m));
    let expect = (c.expect)(sample);
    let mut ms = Vec::with_capacity(n);
    let (mut bytes, mut errors, mut first_error) = (0u64, 0usize, None);
    // One unmeasured request warms the connection (and the reader's caches): its time
    // is reported apart as the cold one.
    let t = Instant::now();
    let _ = http.get(&(c.path)(sample, rng)).await?;
    let first = t.elapsed().as_secs_f64() * 1000.0;
    for _ in 0..n {
        let path = (c.path)(sample, rng);
        let t = Instant::now();
        let r = http.get(&path).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        bytes += r.body.len() as u64;
        if r.status != expect {
            errors += 1;
            first_error.get_or_insert_with(|| {
                format!(
                    "{path}: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
                )
            });
        }
    }
    let mut s = summarize(ms, bytes, errors);
    s.first = first;
    Ok((s, first_error))
}

#[derive(Debug, Default)]
pub(crate) struct MixResult {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) seconds: f64,
    pub(crate) latency: Summary,
}

/// `concurrency` connections, each sending weighted random API requests back to back.
pub(crate) async fn mixed(
    addr: &str,
    cases: Arc<Vec<Case>>,
    sample: Arc<Sample>,
    concurrency: usize,
    seconds: f64,
    seed: u64,
) -> anyhow::Result<MixResult> {
    let weights: Vec<(usize, f64)> = cases
        .iter()
        .enumerate()
        .filter(|(_, c)| c.weight > 0.0)
        .map(|(i, c)| (i, c.weight))
        .collect();
    let total_weight: f64 = weights.iter().map(|w| w.1).sum();
    let expected: Vec<u16> = cases.iter().map(|c| (c.expect)(&sample)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (cases, sample, stop, errors) =
            (cases.clone(), sample.clone(), stop.clone(), errors.clone());
        let (weights, expected) = (weights.clone(), expected.clone());
        let mut http = Http::new(addr);
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1000 + worker as u64));
            let mut ms = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let mut x = rng.random_range(0.0..total_weight);
                let mut idx = weights[0].0;
                for (i, w) in &weights {
                    if x < *w {
                        idx = *i;
                        break;
                    }
                    x -= w;
                }
                let c = &cases[idx];
                let path = (c.path)(&sample, &mut rng);
                let t = Instant::now();
                match http.get(&path).await {
                    Ok(r) if r.status == expected[idx] => {}
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            ms
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.context("load worker")?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = all.len() as u64;
    Ok(MixResult {
        requests: n,
        errors: errors.load(Ordering::Relaxed),
        seconds: elapsed,
        latency: summarize(all, 0, 0),
    })
}

/// Coverage of `n` located nodes per variant: each asked twice in a row, the first answer
/// computed (cold), the second from the server's cache when it has one.
async fn coverage_table(
    out: &mut String,
    http: &mut Http,
    sample: &Sample,
    rng: &mut StdRng,
    n: usize,
    cache: bool,
) -> anyhow::Result<()> {
    // (label, first query, second query). Observed coverage is asked the second time
    // for another window: not the answer cache's, but the prediction the server kept.
    const VARIANTS: [(&str, &str, &str); 5] = [
        (
            "area, perimeter",
            "?model=area&mode=perimeter",
            "?model=area&mode=perimeter",
        ),
        ("area, heatmap", "?model=area", "?model=area"),
        ("best, perimeter", "?mode=perimeter", "?mode=perimeter"),
        ("best, heatmap", "", ""),
        (
            "observed (`/{id}/observed`), then another window",
            "/observed",
            "/observed?hours=167",
        ),
    ];
    let mut nodes = sample.located.clone();
    nodes.shuffle(rng);
    nodes.truncate(n);
    writeln!(
        out,
        "\n| coverage `/api/coverage/{{id}}` ({} nodes, caches {}) | model answered | first ms | cold p50 ms | cold p95 ms | cold max ms | again p50 ms | again p95 ms | bytes |",
        nodes.len(),
        if cache { "on" } else { "off" }
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
    for (label, query, again_query) in VARIANTS {
        let (mut cold, mut again, mut bytes) = (Vec::new(), Vec::new(), 0u64);
        let mut models = std::collections::BTreeSet::new();
        for &node in &nodes {
            let path = format!("/api/coverage/{node}{query}");
            let t = Instant::now();
            let r = http.get(&path).await?;
            cold.push(t.elapsed().as_secs_f64() * 1000.0);
            let body = json(&r, &path)?;
            bytes += r.body.len() as u64;
            let model = body["model"]
                .as_str()
                .or(body["comparison"]["model"].as_str());
            if let Some(m) = model {
                models.insert(m.to_string());
            }
            let path = format!("/api/coverage/{node}{again_query}");
            let t = Instant::now();
            let r = http.get(&path).await?;
            again.push(t.elapsed().as_secs_f64() * 1000.0);
            if r.status != 200 {
                bail!("{path}: HTTP {} the second time", r.status);
            }
        }
        let first = cold.first().copied().unwrap_or(f64::NAN);
        let (c, a) = (summarize(cold, bytes, 0), summarize(again, 0, 0));
        eprintln!(
            "  coverage {label}: cold p50 {:.1} ms, p95 {:.1} ms; again p50 {:.2} ms",
            c.p50, c.p95, a.p50
        );
        writeln!(
            out,
            "| {label} | {} | {first:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} |",
            models.into_iter().collect::<Vec<_>>().join(", "),
            c.p50,
            c.p95,
            c.max,
            a.p50,
            a.p95,
            c.mean_bytes
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The sample of real identifiers.

fn json(r: &Response, what: &str) -> anyhow::Result<Value> {
    if r.status != 200 {
        bail!(
            "{what}: HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
        );
    }
    serde_json::from_slice(&r.body).with_context(|| format!("{what}: not JSON"))
}

pub(crate) async fn sample(
    http: &mut Http,
    days: f64,
    terrain: Option<bool>,
    rng: &mut StdRng,
) -> anyhow::Result<Sample> {
    let nodes_json = json(&http.get("/api/nodes").await?, "/api/nodes")?;
    let list = nodes_json["nodes"].as_array().cloned().unwrap_or_default();
    let strings = |key: &str| {
        let mut v: Vec<String> = list
            .iter()
            .filter_map(|n| n[key].as_str().map(str::to_string))
            .filter(|s| !s.is_empty())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let nodes: Vec<i64> = list.iter().filter_map(|n| n["node_id"].as_i64()).collect();
    if nodes.is_empty() {
        bail!("the database has no nodes: seed it first (meshview-bench seed)");
    }
    let busy_nodes: Vec<i64> = list
        .iter()
        .filter(|n| n["is_mqtt_gateway"].as_bool() == Some(true))
        .filter_map(|n| n["node_id"].as_i64())
        .collect();
    let (roles, hw_models) = (strings("role"), strings("hw_model"));
    let located: Vec<i64> = list
        .iter()
        .filter(|n| {
            let (lat, lon) = (n["last_lat"].as_i64(), n["last_long"].as_i64());
            lat.is_some() && lon.is_some() && (lat, lon) != (Some(0), Some(0))
        })
        .filter_map(|n| n["node_id"].as_i64())
        .collect();
    let links_json = json(&http.get("/api/links").await?, "/api/links")?;
    let mut links: Vec<(i64, i64)> = links_json["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| Some((l["from"].as_i64()?, l["to"].as_i64()?)))
        .take(500)
        .collect();
    if links.is_empty() {
        links.push((nodes[0], nodes[0]));
    }
    // Positions of the located nodes: a profile needs two ends at least a metre apart
    // (two nodes reporting one spot answer 400).
    let position: std::collections::HashMap<i64, (i64, i64)> = list
        .iter()
        .filter_map(|n| {
            Some((
                n["node_id"].as_i64()?,
                (n["last_lat"].as_i64()?, n["last_long"].as_i64()?),
            ))
        })
        .filter(|(id, _)| located.contains(id))
        .collect();
    let mut located_links: Vec<(i64, i64)> = links
        .iter()
        .copied()
        .filter(|(f, t)| match (position.get(f), position.get(t)) {
            (Some(a), Some(b)) => f != t && a != b,
            _ => false,
        })
        .collect();
    if located_links.is_empty() {
        located_links.push((nodes[0], nodes[0]));
    }
    let latest = json(&http.get("/api/packets?limit=1").await?, "/api/packets")?;
    let newest_us = latest["latest_import_time"]
        .as_i64()
        .context("the database has no packets: seed it first (meshview-bench seed)")?;
    let oldest_us = newest_us - (days * 86_400e6) as i64;
    let mut packets = Vec::new();
    let mut traceroutes = Vec::new();
    for i in 0..40 {
        let before = if i == 0 {
            newest_us + 1
        } else {
            rng.random_range(oldest_us..newest_us)
        };
        let page = json(
            &http
                .get(&format!("/api/packets?limit=100&before={before}"))
                .await?,
            "/api/packets",
        )?;
        for p in page["packets"].as_array().into_iter().flatten() {
            if let Some(id) = p["id"].as_i64() {
                packets.push(id);
            }
        }
        let page = json(
            &http
                .get(&format!("/api/packets?limit=20&portnum=70&before={before}"))
                .await?,
            "/api/packets",
        )?;
        for p in page["packets"].as_array().into_iter().flatten() {
            if let Some(id) = p["id"].as_i64() {
                traceroutes.push(id);
            }
        }
    }
    if packets.is_empty() || traceroutes.is_empty() {
        bail!("found no packets or no traceroutes to ask about");
    }
    let ch = json(
        &http
            .get(&format!(
                "/api/channels?period_type=day&length={}",
                days.ceil() as i64
            ))
            .await?,
        "/api/channels",
    )?;
    let mut channels: Vec<String> = ch["channels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    if channels.is_empty() {
        channels = strings("channel");
    }
    Ok(Sample {
        busy_nodes: if busy_nodes.is_empty() {
            nodes.clone()
        } else {
            busy_nodes
        },
        nodes,
        packets,
        traceroutes,
        channels,
        roles,
        hw_models,
        located,
        links,
        located_links,
        terrain,
        newest_us,
        oldest_us,
    })
}

// ---------------------------------------------------------------------------------------
// The server under test.

pub(crate) struct Server {
    pub(crate) addr: String,
    child: Option<tokio::process::Child>,
}

impl Server {
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// (VmHWM, VmRSS) in MB.
    pub(crate) fn memory_mb(&self) -> Option<(f64, f64)> {
        let pid = self.pid()?;
        let mb = |field| crate::status_kb(pid, field).map(|kb| kb as f64 / 1024.0);
        Some((mb("VmHWM:")?, mb("VmRSS:")?))
    }
}

fn connection_string(url: &DatabaseUrl) -> String {
    match url {
        // Three slashes and the path (absolute paths keep their own slash).
        DatabaseUrl::Sqlite { path } => format!("sqlite+aiosqlite:///{}", path.display()),
        DatabaseUrl::Postgres { url } => url.clone(),
    }
}

pub(crate) async fn start_server(
    cfg: &Config,
    config_path: Option<&Path>,
    cache: bool,
    elevation_dir: Option<&Path>,
) -> anyhow::Result<Server> {
    let mut cmd = crate::meshview_command()?;
    if let Some(p) = config_path {
        cmd.arg("--config").arg(p);
    }
    cmd.arg("serve")
        .env(
            "MESHVIEW_DATABASE__CONNECTION_STRING",
            connection_string(&cfg.database.url),
        )
        .env("MESHVIEW_SERVER__BIND", "127.0.0.1")
        .env("MESHVIEW_SERVER__PORT", "0")
        .env("MESHVIEW_SERVER__TLS_CERT", "")
        .env("MESHVIEW_LOGGING__ACCESS_LOG", "false")
        .env("MESHVIEW_LOG", "warn,meshview::app=info,meshview::web=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if !cache {
        cmd.env("MESHVIEW_AGGREGATE_CACHE", "off");
    }
    if let Some(dir) = elevation_dir {
        cmd.env("MESHVIEW_COVERAGE__ELEVATION_DIR", dir);
    }
    let mut child = cmd.spawn().context("starting meshview serve")?;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("piped")).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(l) = lines.next_line().await? {
            if let Some(rest) = l.split("listening on http://").nth(1) {
                return Ok::<_, std::io::Error>(Some(
                    rest.split_whitespace().next().unwrap_or("").to_string(),
                ));
            }
            eprintln!("  server: {l}");
        }
        Ok(None)
    })
    .await;
    let addr = match addr {
        Ok(Ok(Some(a))) if !a.is_empty() => a,
        _ => bail!("meshview serve did not start listening (see its log above)"),
    };
    // Keep draining its log (and show warnings); note when its warm-up is done.
    let (warm_tx, warm_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut warm_tx = Some(warm_tx);
        while let Ok(Some(l)) = lines.next_line().await {
            if l.contains("top talkers warmed up") {
                if let Some(tx) = warm_tx.take() {
                    let _ = tx.send(());
                }
                continue;
            }
            eprintln!("  server: {l}");
        }
    });
    let server = Server {
        addr,
        child: Some(child),
    };
    // Ready when /health says so (the reader waits for the schema first).
    let mut http = Http::new(&server.addr);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get("/health").await
            && r.status == 200
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("meshview serve did not become healthy within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The reader sums the usual top-talker windows once it is ready: measure after that.
    let _ = tokio::time::timeout(Duration::from_secs(60), warm_rx).await;
    Ok(server)
}

// ---------------------------------------------------------------------------------------
// The run and its report.

pub async fn run(
    cfg: &Config,
    config_path: Option<&Path>,
    args: &ApiArgs,
) -> anyhow::Result<String> {
    // Synthetic elevation tiles over the nodes' area, for coverage's terrain mode.
    let tiles = match &args.url {
        None if !args.no_terrain => match crate::terrain::node_area(&cfg.database.url).await? {
            Some(area) => {
                let dir = tempfile::Builder::new()
                    .prefix("meshview-bench-terrain")
                    .tempdir()?;
                let t = Instant::now();
                let n = crate::terrain::write_tiles(dir.path(), area)?;
                eprintln!(
                    "bench api: wrote {n} synthetic SRTM tiles over the nodes' area to {} in {:.1} s",
                    dir.path().display(),
                    t.elapsed().as_secs_f64()
                );
                Some((dir, n))
            }
            None => None,
        },
        _ => None,
    };
    let elevation_dir = tiles.as_ref().map(|(d, _)| d.path());
    let mut server = match &args.url {
        Some(u) => {
            let parsed = url::Url::parse(u).with_context(|| format!("--url {u}"))?;
            if parsed.scheme() != "http" {
                bail!("--url: only http:// is supported");
            }
            let host = parsed.host_str().context("--url: a host")?;
            let port = parsed.port_or_known_default().unwrap_or(80);
            Server {
                addr: if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                },
                child: None,
            }
        }
        None => {
            eprintln!(
                "bench api: starting meshview serve on {} (caches {})",
                cfg.database.url.redacted(),
                if args.cache { "on" } else { "off" }
            );
            start_server(cfg, config_path, args.cache, elevation_dir).await?
        }
    };
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut http = Http::new(&server.addr);
    let mut started_rss = server.memory_mb();
    eprintln!("bench api: sampling identifiers from {}", server.addr);
    let terrain = args.url.is_none().then_some(tiles.is_some());
    let sample = Arc::new(sample(&mut http, args.days, terrain, &mut rng).await?);
    let api = Arc::new(api_cases());
    let pages = page_cases();

    let mut out = String::new();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let on_off = |on: bool| if on { "on" } else { "off" };
    let cache_note = match &args.url {
        Some(_) => "as configured on that server".to_string(),
        None => format!(
            "{} for the sequential pass, {} for the mixed load",
            on_off(args.cache),
            on_off(!args.mix_without_cache)
        ),
    };
    let terrain_note = match (&args.url, &tiles) {
        (Some(_), _) => "elevation tiles as configured on that server".to_string(),
        (None, Some((_, n))) => format!("{n} synthetic elevation tiles"),
        (None, None) => "no elevation tiles".to_string(),
    };
    writeln!(
        out,
        "`meshview-bench api` {date}; server {}; {} nodes ({} located), {} links, {} packet ids \
         and {} traceroute ids sampled; caches {cache_note}; {terrain_note}.\n",
        server.addr,
        sample.nodes.len(),
        sample.located.len(),
        if sample.has_links() {
            sample.links.len()
        } else {
            0
        },
        sample.packets.len(),
        sample.traceroutes.len(),
    )?;

    // Sequential API.
    writeln!(
        out,
        "| endpoint | parameters | first ms | n | p50 ms | p95 ms | p99 ms | max ms | bytes | p95 ≤ target ({API_TARGET_MS:.0} ms unless given) |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|")?;
    let mut problems = Vec::new();
    let mut api_misses = 0;
    for c in api.iter() {
        let (s, err) = measure(&mut http, c, &sample, &mut rng, args.requests).await?;
        let ok = s.p95 <= c.target_ms;
        api_misses += usize::from(!ok);
        eprintln!(
            "  {} {}: p50 {:.2} ms, p95 {:.2} ms",
            c.endpoint, c.variant, s.p50, s.p95
        );
        writeln!(
            out,
            "| `{}` | {} | {:.1} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {} |",
            c.endpoint,
            c.variant,
            s.first,
            s.n,
            s.p50,
            s.p95,
            s.p99,
            s.max,
            s.mean_bytes,
            match (ok, c.target_ms == API_TARGET_MS) {
                (true, true) => "yes".to_string(),
                (true, false) => format!("yes (≤ {:.0} ms)", c.target_ms),
                (false, true) => "**no**".to_string(),
                (false, false) => format!("**no** (≤ {:.0} ms)", c.target_ms),
            }
        )?;
        if let Some(e) = err {
            problems.push(format!("{} unexpected answers, e.g. {e}", s.errors));
        }
    }
    // The stream: time to `: connected`.
    let mut stream_ms = Vec::new();
    for _ in 0..args.requests.clamp(1, 50) {
        stream_ms.push(http.stream_connected().await?.as_secs_f64() * 1000.0);
    }
    let s = summarize(stream_ms, 0, 0);
    writeln!(
        out,
        "| `/api/stream` | time to `: connected` | – | {} | {:.2} | {:.2} | {:.2} | {:.2} | – | {} |",
        s.n,
        s.p50,
        s.p95,
        s.p99,
        s.max,
        if s.p95 <= API_TARGET_MS {
            "yes"
        } else {
            "**no**"
        }
    )?;

    // Pages.
    writeln!(
        out,
        "\n| page | variant | first ms | n | p50 ms | p95 ms | max ms | bytes | p95 ≤ {PAGE_TARGET_MS:.0} ms |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
    let mut page_misses = 0;
    for c in &pages {
        let (s, err) = measure(&mut http, c, &sample, &mut rng, args.page_requests).await?;
        let ok = s.p95 <= PAGE_TARGET_MS;
        page_misses += usize::from(!ok);
        eprintln!(
            "  {} {}: p50 {:.2} ms, p95 {:.2} ms",
            c.endpoint, c.variant, s.p50, s.p95
        );
        writeln!(
            out,
            "| `{}` | {} | {:.1} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {} |",
            c.endpoint,
            c.variant,
            s.first,
            s.n,
            s.p50,
            s.p95,
            s.max,
            s.mean_bytes,
            match (ok, c.target_ms == API_TARGET_MS) {
                (true, true) => "yes".to_string(),
                (true, false) => format!("yes (≤ {:.0} ms)", c.target_ms),
                (false, true) => "**no**".to_string(),
                (false, false) => format!("**no** (≤ {:.0} ms)", c.target_ms),
            }
        )?;
        if let Some(e) = err {
            problems.push(format!("{} unexpected answers, e.g. {e}", s.errors));
        }
    }

    // Mixed load, on a server restarted with the caches it asks for.
    let mut memory_rows = Vec::new();
    let mix_cache = !args.mix_without_cache;
    if args.url.is_none() && mix_cache != args.cache {
        if let Some((hwm, rss)) = server.memory_mb() {
            let label = format!("sequential pass, caches {}", on_off(args.cache));
            memory_rows.push((label, started_rss, None, rss, hwm));
        }
        if let Some(mut child) = server.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        eprintln!(
            "bench api: restarting meshview serve (caches {})",
            on_off(mix_cache)
        );
        server = start_server(cfg, config_path, mix_cache, elevation_dir).await?;
        started_rss = server.memory_mb();
    }
    // Coverage predictions, cold then cached, on the mixed load's server.
    if !sample.located.is_empty() && args.coverage_nodes > 0 {
        let mut h = Http::new(&server.addr);
        coverage_table(
            &mut out,
            &mut h,
            &sample,
            &mut rng,
            args.coverage_nodes,
            mix_cache,
        )
        .await?;
    }
    eprintln!(
        "  mixed load: {} connections for {} s…",
        args.concurrency, args.seconds
    );
    let rss_peak = Arc::new(AtomicU64::new(0));
    let sampler = server.pid().map(|pid| {
        let rss_peak = rss_peak.clone();
        tokio::spawn(async move {
            loop {
                if let Some(kb) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find(|l| l.starts_with("VmRSS:"))?
                            .split_whitespace()
                            .nth(1)?
                            .parse::<u64>()
                            .ok()
                    })
                {
                    rss_peak.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    });
    let mix = mixed(
        &server.addr,
        api.clone(),
        sample.clone(),
        args.concurrency.max(1),
        args.seconds,
        args.seed,
    )
    .await?;
    if let Some(s) = sampler {
        s.abort();
    }
    let rps = mix.requests as f64 / mix.seconds;
    writeln!(
        out,
        "\n| mixed API load | connections | seconds | requests | requests/s | p50 ms | p95 ms | p99 ms | max ms | errors | ≥ {MIX_TARGET_RPS:.0}/s |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|")?;
    writeln!(
        out,
        "| weighted (see the weights in src/bench/api.rs) | {} | {:.1} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
        args.concurrency,
        mix.seconds,
        mix.requests,
        rps,
        mix.latency.p50,
        mix.latency.p95,
        mix.latency.p99,
        mix.latency.max,
        mix.errors,
        if rps >= MIX_TARGET_RPS {
            "yes"
        } else {
            "**no**"
        }
    )?;

    if let Some((hwm, rss)) = server.memory_mb() {
        let sampled = rss_peak.load(Ordering::Relaxed) as f64 / 1024.0;
        let label = if memory_rows.is_empty() {
            "whole run".to_string()
        } else {
            format!("mixed load, caches {}", on_off(mix_cache))
        };
        memory_rows.push((label, started_rss, Some(sampled), rss, hwm));
    }
    if !memory_rows.is_empty() {
        writeln!(
            out,
            "\n| reader memory (`meshview serve` RSS) | at start | during the mixed load (max sampled) | now | peak (VmHWM) | ≤ {RSS_TARGET_MB:.0} MB |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|")?;
        for (label, start, sampled, rss, hwm) in &memory_rows {
            let mb = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.1} MB"));
            writeln!(
                out,
                "| {label} | {} | {} | {rss:.1} MB | {hwm:.1} MB | {} |",
                mb(start.map(|(_, r)| r)),
                mb(*sampled),
                if *hwm <= RSS_TARGET_MB {
                    "yes"
                } else {
                    "**no**"
                }
            )?;
        }
    }
    writeln!(
        out,
        "\nTargets missed: {api_misses} API rows, {page_misses} pages{}.",
        if rps < MIX_TARGET_RPS {
            ", the mixed load"
        } else {
            ""
        }
    )?;
    for p in &problems {
        writeln!(out, "- {p}")?;
    }
    if let Some(mut child) = server.child.take() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let s = summarize((1..=100).map(f64::from).collect(), 1000, 0);
        assert_eq!((s.p50, s.p95, s.p99, s.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(s.mean_bytes, 10.0);
        let one = summarize(vec![3.0], 0, 0);
        assert_eq!((one.p50, one.p99), (3.0, 3.0));
    }

    #[test]
    fn every_route_is_measured() {
        let measured: std::collections::BTreeSet<String> = api_cases()
            .iter()
            .map(|c| c.endpoint.replace("{id}", ""))
            .collect();
        for route in meshview::web::route_paths() {
            let generic = route.replace("{packet_id}", "").replace("{node_id}", "");
            assert!(
                measured.contains(&generic) || route == "/api/stream",
                "{route} is not measured by bench api"
            );
        }
    }
}
