//! `/api/stats`, `/api/stats/count`, `/api/stats/top`, `/api/channels`.
//!
//! Windows are whole UTC buckets: `length` hours (or days) ending with the current,
//! partial one. MeshView started them at exactly now − length, so its first bucket was
//! partial and, on PostgreSQL, labelled in the session's time zone.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::{cached, now_us};
use crate::web::error::{ApiError, ApiResult};
use crate::web::params::{Params, Period, parse_packet_id};
use crate::web::{AppState, Ready};
use meshview_store::read::TrafficFilter;

/// The first bucket of a window of `length` buckets ending with the current one.
pub fn window_start(period: Period, length: i64, now_us: i64) -> i64 {
    let unit = period.micros();
    now_us.div_euclid(unit) * unit - (length - 1) * unit
}

/// MeshView's bucket labels (UTC).
pub fn label(period: Period, start_us: i64) -> String {
    let t = chrono::DateTime::from_timestamp_micros(start_us).unwrap_or_default();
    match period {
        Period::Hour => t.format("%Y-%m-%d %H:00").to_string(),
        Period::Day => t.format("%Y-%m-%d").to_string(),
    }
}

pub async fn stats(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Json<Value>> {
    let period = params.period("period_type", Period::Hour)?;
    let length = params.length("length", 24, period)?;
    let node = params.node("node")?;
    let filter = TrafficFilter {
        from: params.node("from_node")?,
        to: params.node("to_node")?,
        portnum: params.portnum("portnum")?,
        channel: params.string("channel", 64)?,
    };
    let now = now_us();
    let since = window_start(period, length, now);
    let key = format!("stats|{period:?}|{length}|{node:?}|{filter:?}|{since}");
    cached(&state, key, || async move {
        if let Some(node) = node {
            // Fixed: MeshView always answered 0 here.
            let (sent, seen) = db
                .traffic_totals(
                    &TrafficFilter {
                        from: Some(node),
                        ..Default::default()
                    },
                    Some(since),
                )
                .await?;
            return Ok(json!({
                "node_id": node,
                "period_type": period.as_str(),
                "length": length,
                "sent": sent,
                "seen": seen,
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
            data.push(json!({"period": label(period, start), "count": count}));
        }
        Ok(json!({
            "period_type": period.as_str(),
            "length": length,
            "channel": filter.channel,
            "portnum": filter.portnum,
            "to_node": filter.to,
            "from_node": filter.from,
            "data": data,
        }))
    })
    .await
}

pub async fn count(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Json<Value>> {
    const KNOWN: [&str; 6] = [
        "packet_id",
        "period_type",
        "length",
        "channel",
        "from_node",
        "to_node",
    ];
    let packet_id = params
        .get("packet_id")
        .map(|v| parse_packet_id("packet_id", v))
        .transpose()?;
    let period = params.period("period_type", Period::Day)?;
    let length = params.length("length", 1, period)?;
    let filter = TrafficFilter {
        from: params.node("from_node")?,
        to: params.node("to_node")?,
        portnum: None,
        channel: params.string("channel", 64)?,
    };
    let everything = KNOWN.iter().all(|k| params.get(k).is_none());
    let since = window_start(period, length, now_us());
    let key = format!("count|{everything}|{packet_id:?}|{period:?}|{length}|{filter:?}|{since}");
    cached(&state, key, || async move {
        if everything {
            let (packets, seen) = db.traffic_totals(&TrafficFilter::default(), None).await?;
            return Ok(json!({"total_packets": packets, "total_seen": seen}));
        }
        let (packets, mut seen) = db.traffic_totals(&filter, Some(since)).await?;
        if let Some(id) = packet_id {
            seen = db.seen_count(id).await?;
        }
        Ok(json!({"total_packets": packets, "total_seen": seen}))
    })
    .await
}

pub async fn top(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Json<Value>> {
    let period = params.period("period_type", Period::Day)?;
    let length = params.length("length", 1, period)?;
    let channel = params.string("channel", 64)?;
    let limit = params.clamped("limit", 20, 1, 100)?;
    let offset = params.int("offset")?.unwrap_or(0);
    if !(0..=1_000_000).contains(&offset) {
        return Err(ApiError::bad(
            "offset",
            format!("{offset} is out of range (0..=1000000)"),
        ));
    }
    let now = now_us();
    let since = window_start(period, length, now);
    let key = format!("top|{since}|{channel:?}|{limit}|{offset}");
    let sums = state.sender_sums.clone();
    cached(&state, key, || async move {
        let (total, rows) = db
            .top_talkers(&sums, since, now, channel.as_deref(), limit, offset)
            .await?;
        let nodes: Vec<Value> = rows
            .iter()
            .map(|r| {
                let avg = r.seen as f64 / r.sent.max(1) as f64;
                json!({
                    "node_id": r.node_id,
                    "long_name": r.long_name,
                    "short_name": r.short_name,
                    "channel": r.channel,
                    "sent": r.sent,
                    "seen": r.seen,
                    "avg": (avg * 100.0).round() / 100.0,
                })
            })
            .collect();
        Ok(json!({"total": total, "limit": limit, "offset": offset, "nodes": nodes}))
    })
    .await
}

pub async fn channels(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Json<Value>> {
    let period = params.period("period_type", Period::Hour)?;
    let length = params.length("length", 24, period)?;
    let since = window_start(period, length, now_us());
    cached(&state, format!("channels|{since}"), || async move {
        Ok(json!({ "channels": db.channels(since).await? }))
    })
    .await
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
}
