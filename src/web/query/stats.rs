//! Traffic statistics: `/api/stats`, `/api/stats/count`, `/api/stats/top` and
//! `/api/channels` as typed questions and answers, each answered through the short-lived
//! cache (the API serializes the answer, the stats pages render it).
//!
//! Windows are whole UTC buckets: `length` hours (or days) ending with the current,
//! partial one. MeshView started them at exactly now − length, so its first bucket was
//! partial and, on PostgreSQL, labelled in the session's time zone.
//!
//! Answers' fields are in alphabetical order: the API wrote them as JSON maps, which
//! serde_json keeps sorted, and clients see the same bytes.

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::WindowOut;
use crate::web::AppState;
use crate::web::error::{ApiError, ApiResult};
use crate::web::params::{Params, Period, parse_packet_id};
use meshview_store::now_us;
use meshview_store::read::{Reader, TalkWindow, TrafficFilter};

/// The first bucket of a window of `length` buckets ending with the current one.
pub fn window_start(period: Period, length: i64, now_us: i64) -> i64 {
    let unit = period.micros();
    now_us.div_euclid(unit) * unit - (length - 1) * unit
}

/// A window of `length` whole buckets ending with the one that holds `end` (time
/// travel: `to`, or `at`), else with the current one: its first bucket's start, and with
/// `end` the end of its last bucket (exclusive).
pub fn span(period: Period, length: i64, end: Option<i64>) -> (i64, Option<i64>) {
    let unit = period.micros();
    let since = window_start(period, length, end.unwrap_or_else(now_us));
    (since, end.map(|e| e.div_euclid(unit) * unit + unit))
}

/// The window a time-travel answer covers. Stats always come from the rollups, except
/// counts by recipient (`to_node`), which only the raw packets know: with
/// `from_rollups`, those count no packet from before the purge's horizon.
async fn window_out(db: &Reader, since: i64, until: Option<i64>) -> ApiResult<Option<WindowOut>> {
    let Some(until) = until else {
        return Ok(None);
    };
    let horizon = db.raw_horizon_us().await?;
    Ok(Some(WindowOut {
        from_us: since,
        to_us: until - 1,
        from_rollups: horizon.is_some_and(|h| since < h),
    }))
}

/// MeshView's bucket labels (UTC).
pub fn label(period: Period, start_us: i64) -> String {
    let t = chrono::DateTime::from_timestamp_micros(start_us).unwrap_or_default();
    match period {
        Period::Hour => t.format("%Y-%m-%d %H:00").to_string(),
        Period::Day => t.format("%Y-%m-%d").to_string(),
    }
}

/// `/api/stats`: a series of packet counts, or one node's totals.
#[derive(Debug)]
pub struct SeriesQuery {
    pub period: Period,
    pub length: i64,
    /// With a node: its totals in the window instead of a series.
    pub node: Option<i64>,
    pub filter: TrafficFilter,
    /// Time travel: the window ends with the bucket holding this moment.
    pub end: Option<i64>,
}

/// One bucket of a series.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeriesPoint {
    pub count: i64,
    /// UTC: `YYYY-MM-DD HH:00` or `YYYY-MM-DD`.
    pub period: String,
}

/// Packets per bucket: every bucket of the window, empty ones with 0.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Series {
    #[schema(required = true)]
    pub channel: Option<String>,
    pub data: Vec<SeriesPoint>,
    #[schema(required = true)]
    pub from_node: Option<i64>,
    pub length: i64,
    #[schema(value_type = String)]
    pub period_type: &'static str,
    #[schema(required = true)]
    pub portnum: Option<i32>,
    #[schema(required = true)]
    pub to_node: Option<i64>,
    /// With `to` (or `at`): the window's first bucket's start and last bucket's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowOut>,
}

/// A node's packets sent and their receptions in the window.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeTotals {
    pub length: i64,
    pub node_id: i64,
    #[schema(value_type = String)]
    pub period_type: &'static str,
    pub seen: i64,
    pub sent: i64,
    /// With `to` (or `at`): the window's first bucket's start and last bucket's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowOut>,
}

/// `/api/stats`' answer: a series, or with `node` that node's totals.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SeriesAnswer {
    Series(Series),
    Node(NodeTotals),
}

impl SeriesQuery {
    pub fn parse(params: &Params) -> ApiResult<SeriesQuery> {
        let period = params.period("period_type", Period::Hour)?;
        Ok(SeriesQuery {
            period,
            length: params.length("length", 24, period)?,
            node: params.node("node")?,
            filter: TrafficFilter {
                from: params.node("from_node")?,
                to: params.node("to_node")?,
                portnum: params.portnum("portnum")?,
                channel: params.string("channel", 64)?,
                until_us: None,
            },
            end: params.moment()?,
        })
    }

    pub async fn answer(self, state: &AppState, db: &Reader) -> ApiResult<Arc<SeriesAnswer>> {
        let (since, until) = span(self.period, self.length, self.end);
        let key = format!("{self:?}|{since}");
        state
            .cache
            .value(key, || async move { self.compute(db, since, until).await })
            .await
    }

    async fn compute(self, db: &Reader, since: i64, until: Option<i64>) -> ApiResult<SeriesAnswer> {
        let SeriesQuery {
            period,
            length,
            node,
            mut filter,
            end: _,
        } = self;
        filter.until_us = until;
        let window = window_out(db, since, until).await?;
        if let Some(node) = node {
            // Fixed: MeshView always answered 0 here.
            let (sent, seen) = db
                .traffic_totals(
                    &TrafficFilter {
                        from: Some(node),
                        until_us: until,
                        ..Default::default()
                    },
                    Some(since),
                )
                .await?;
            return Ok(SeriesAnswer::Node(NodeTotals {
                length,
                node_id: node,
                period_type: period.as_str(),
                seen,
                sent,
                window,
            }));
        }
        let buckets = db.traffic_series(&filter, since, period.micros()).await?;
        // Every bucket of the window is listed, empty ones with 0, so charts need no
        // gap filling.
        let mut data = Vec::with_capacity(length as usize);
        let mut it = buckets.iter().peekable();
        for i in 0..length {
            let start = since + i * period.micros();
            let mut count = 0;
            while let Some(b) = it.peek() {
                if b.start_us < start {
                    it.next();
                } else {
                    if b.start_us == start {
                        count = b.packets;
                    }
                    break;
                }
            }
            data.push(SeriesPoint {
                count,
                period: label(period, start),
            });
        }
        Ok(SeriesAnswer::Series(Series {
            channel: filter.channel,
            data,
            from_node: filter.from,
            length,
            period_type: period.as_str(),
            portnum: filter.portnum,
            to_node: filter.to,
            window,
        }))
    }
}

/// `/api/stats/count`: packets and their receptions.
#[derive(Debug)]
pub struct CountQuery {
    /// No parameter at all: every stored packet, no window.
    pub everything: bool,
    /// The receptions of this packet instead of the window's.
    pub packet_id: Option<i64>,
    pub period: Period,
    pub length: i64,
    pub filter: TrafficFilter,
    /// Time travel: the window ends with the bucket holding this moment.
    pub end: Option<i64>,
}

/// `/api/stats/count`'s answer.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    pub total_packets: i64,
    pub total_seen: i64,
    /// With `to` (or `at`): the window's first bucket's start and last bucket's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowOut>,
}

impl CountQuery {
    /// Every stored packet and reception.
    pub fn everything() -> CountQuery {
        CountQuery {
            everything: true,
            ..CountQuery::window(Period::Day, 1, TrafficFilter::default())
        }
    }

    /// Packets (and their receptions) in the window, matching `filter`.
    pub fn window(period: Period, length: i64, filter: TrafficFilter) -> CountQuery {
        CountQuery {
            everything: false,
            packet_id: None,
            period,
            length,
            filter,
            end: None,
        }
    }

    pub fn parse(params: &Params) -> ApiResult<CountQuery> {
        const KNOWN: [&str; 8] = [
            "packet_id",
            "period_type",
            "length",
            "channel",
            "from_node",
            "to_node",
            "to",
            "at",
        ];
        let packet_id = params
            .get("packet_id")
            .map(|v| parse_packet_id("packet_id", v))
            .transpose()?;
        let period = params.period("period_type", Period::Day)?;
        Ok(CountQuery {
            everything: KNOWN.iter().all(|k| params.get(k).is_none()),
            packet_id,
            period,
            length: params.length("length", 1, period)?,
            filter: TrafficFilter {
                from: params.node("from_node")?,
                to: params.node("to_node")?,
                portnum: None,
                channel: params.string("channel", 64)?,
                until_us: None,
            },
            end: params.moment()?,
        })
    }

    pub async fn answer(mut self, state: &AppState, db: &Reader) -> ApiResult<Arc<Totals>> {
        let (since, until) = span(self.period, self.length, self.end);
        self.filter.until_us = until;
        let key = format!("{self:?}|{since}");
        state
            .cache
            .value(key, || async move {
                if self.everything {
                    let (packets, seen) =
                        db.traffic_totals(&TrafficFilter::default(), None).await?;
                    return Ok(Totals {
                        total_packets: packets,
                        total_seen: seen,
                        window: None,
                    });
                }
                let (packets, mut seen) = db.traffic_totals(&self.filter, Some(since)).await?;
                if let Some(id) = self.packet_id {
                    seen = db.seen_count(id).await?;
                }
                Ok(Totals {
                    total_packets: packets,
                    total_seen: seen,
                    window: window_out(db, since, until).await?,
                })
            })
            .await
    }
}

/// `/api/stats/top`: senders ranked by receptions of their packets.
#[derive(Debug)]
pub struct TopQuery {
    pub period: Period,
    pub length: i64,
    pub channel: Option<String>,
    pub limit: i64,
    pub offset: i64,
    /// Time travel: the window ends with the bucket holding this moment.
    pub end: Option<i64>,
}

/// One ranked sender.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopNode {
    /// Receptions per packet, to two decimals.
    pub avg: f64,
    #[schema(required = true)]
    pub channel: Option<String>,
    #[schema(required = true)]
    pub long_name: Option<String>,
    pub node_id: i64,
    /// Receptions of its packets.
    pub seen: i64,
    /// Packets it sent.
    pub sent: i64,
    #[schema(required = true)]
    pub short_name: Option<String>,
}

/// `/api/stats/top`'s answer.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopAnswer {
    pub limit: i64,
    pub nodes: Vec<TopNode>,
    pub offset: i64,
    /// Ranked senders in all.
    pub total: i64,
    /// With `to` (or `at`): the window's first bucket's start and last bucket's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowOut>,
}

impl TopQuery {
    pub fn parse(params: &Params) -> ApiResult<TopQuery> {
        let period = params.period("period_type", Period::Day)?;
        let offset = params.int("offset")?.unwrap_or(0);
        if !(0..=1_000_000).contains(&offset) {
            return Err(ApiError::bad(
                "offset",
                format!("{offset} is out of range (0..=1000000)"),
            ));
        }
        Ok(TopQuery {
            period,
            length: params.length("length", 1, period)?,
            channel: params.string("channel", 64)?,
            limit: params.clamped("limit", 20, 1, 100)?,
            offset,
            end: params.moment()?,
        })
    }

    pub async fn answer(self, state: &AppState, db: &Reader) -> ApiResult<Arc<TopAnswer>> {
        let now = now_us();
        let (since, until) = span(self.period, self.length, self.end);
        // A window ending in the future is summed as the current one: its blocks are
        // kept only once complete.
        let ended = until.filter(|&u| u <= now);
        let key = format!(
            "{since}|{until:?}|{:?}|{}|{}",
            self.channel, self.limit, self.offset
        );
        let sums = state.sender_sums.clone();
        state
            .cache
            .value(key, || async move {
                let (total, rows) = db
                    .top_talkers(
                        &sums,
                        TalkWindow {
                            since_us: since,
                            now_us: ended.unwrap_or(now),
                            ended: ended.is_some(),
                        },
                        self.channel.as_deref(),
                        self.limit,
                        self.offset,
                    )
                    .await?;
                let nodes = rows
                    .into_iter()
                    .map(|r| {
                        let avg = r.seen as f64 / r.sent.max(1) as f64;
                        TopNode {
                            avg: (avg * 100.0).round() / 100.0,
                            channel: r.channel,
                            long_name: r.long_name,
                            node_id: r.node_id,
                            seen: r.seen,
                            sent: r.sent,
                            short_name: r.short_name,
                        }
                    })
                    .collect();
                Ok(TopAnswer {
                    limit: self.limit,
                    nodes,
                    offset: self.offset,
                    total,
                    window: window_out(db, since, until).await?,
                })
            })
            .await
    }
}

/// `/api/channels`: channels with traffic in the window, sorted.
#[derive(Debug)]
pub struct ChannelsQuery {
    pub period: Period,
    pub length: i64,
}

impl Default for ChannelsQuery {
    /// The last 24 hours.
    fn default() -> Self {
        ChannelsQuery {
            period: Period::Hour,
            length: 24,
        }
    }
}

/// `/api/channels`' answer.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    pub channels: Vec<String>,
}

impl ChannelsQuery {
    pub fn parse(params: &Params) -> ApiResult<ChannelsQuery> {
        let period = params.period("period_type", Period::Hour)?;
        Ok(ChannelsQuery {
            period,
            length: params.length("length", 24, period)?,
        })
    }

    pub async fn answer(self, state: &AppState, db: &Reader) -> ApiResult<Arc<Channels>> {
        let since = window_start(self.period, self.length, now_us());
        state
            .cache
            .value(format!("{since}"), || async move {
                Ok(Channels {
                    channels: db.channels(since).await?,
                })
            })
            .await
    }
}

/// `/api/snapshots/daily`: MeshView 3.0.6's daily snapshots, computed from the rollups
/// (they outlive the raw rows) instead of captured by a timer.
#[derive(Debug)]
pub struct SnapshotsQuery {
    /// Days back, today included (MeshView clamps to 1–3650).
    pub length: i64,
}

/// One day of `/api/snapshots/daily`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    /// Nodes that sent a packet that day.
    pub node_count: i64,
    /// Packets stored that day.
    pub packet_count: i64,
    /// Gateways that uplinked a packet that day.
    pub gateway_count: i64,
    /// When the numbers were taken: the day's end, or now for today (µs).
    pub captured_at_us: i64,
}

/// `/api/snapshots/daily`' answer: oldest first; days without a packet are left out.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshots {
    pub data: Vec<Snapshot>,
}

impl SnapshotsQuery {
    pub fn parse(params: &Params) -> ApiResult<SnapshotsQuery> {
        Ok(SnapshotsQuery {
            length: params.clamped("length", 30, 1, 3650)?,
        })
    }

    pub async fn answer(self, state: &AppState, db: &Reader) -> ApiResult<Arc<Snapshots>> {
        let now = now_us();
        let since = window_start(Period::Day, self.length, now);
        state
            .cache
            .value(format!("{since}"), || async move {
                let days = db.daily_activity(since).await?;
                Ok::<_, ApiError>(Snapshots {
                    data: days
                        .into_iter()
                        .map(|d| Snapshot {
                            date: label(Period::Day, d.day_us),
                            node_count: d.nodes,
                            packet_count: d.packets,
                            gateway_count: d.gateways,
                            captured_at_us: (d.day_us + Period::Day.micros()).min(now),
                        })
                        .collect(),
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_utc_buckets() {
        // 2026-01-01T10:30:00Z
        let now = 1_767_263_400_000_000;
        let s = window_start(Period::Hour, 24, now);
        assert_eq!(label(Period::Hour, s), "2025-12-31 11:00");
        assert_eq!(
            label(Period::Day, window_start(Period::Day, 1, now)),
            "2026-01-01"
        );
        assert_eq!(
            label(Period::Day, window_start(Period::Day, 7, now)),
            "2025-12-26"
        );
    }

    /// The answers serialize with the keys MeshView's clients read, in the order the
    /// JSON maps had (alphabetical).
    #[test]
    fn answers_keep_their_json_shape() {
        let top = TopAnswer {
            limit: 20,
            nodes: vec![TopNode {
                avg: 2.5,
                channel: None,
                long_name: Some("A".into()),
                node_id: 7,
                seen: 5,
                sent: 2,
                short_name: None,
            }],
            offset: 0,
            total: 1,
            window: None,
        };
        assert_eq!(
            serde_json::to_string(&top).unwrap(),
            r#"{"limit":20,"nodes":[{"avg":2.5,"channel":null,"long_name":"A","node_id":7,"seen":5,"sent":2,"short_name":null}],"offset":0,"total":1}"#
        );
        let node = SeriesAnswer::Node(NodeTotals {
            length: 24,
            node_id: 7,
            period_type: "hour",
            seen: 3,
            sent: 1,
            window: None,
        });
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            r#"{"length":24,"node_id":7,"period_type":"hour","seen":3,"sent":1}"#
        );
    }
}
