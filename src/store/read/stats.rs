//! Traffic aggregates: series per hour or day, totals, top talkers, channels.
//!
//! They read the writer's rollup `traffic_hourly` (per UTC hour × sender × port ×
//! channel: distinct packets first stored that hour, receptions stored that hour), so a
//! day of a busy mesh is thousands of rows instead of millions. Only a recipient filter
//! (`to_node`), which the rollup does not carry, reads `packet` itself, bounded by its
//! window.

use sqlx::Row;

use super::{Reader, Sql, build_query, with_pool};

/// Filters of a traffic aggregate (AND-combined).
#[derive(Debug, Clone, Default)]
pub struct TrafficFilter {
    pub from: Option<i64>,
    /// Recipient: forces the raw `packet` table.
    pub to: Option<i64>,
    pub portnum: Option<i32>,
    /// Case-insensitive.
    pub channel: Option<String>,
}

/// One time bucket of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Start of the bucket (µs, UTC-aligned).
    pub start_us: i64,
    pub packets: i64,
    pub receptions: i64,
}

/// One node of the top-talkers list.
#[derive(Debug, Clone, PartialEq)]
pub struct TopRow {
    pub node_id: i64,
    pub long_name: Option<String>,
    pub short_name: Option<String>,
    pub channel: Option<String>,
    pub sent: i64,
    pub seen: i64,
}

impl TrafficFilter {
    fn push_rollup(&self, q: &mut Sql) {
        if let Some(v) = self.from {
            q.push(" AND from_node_id = ").int(v);
        }
        if let Some(v) = self.portnum {
            q.push(" AND portnum = ").int(v as i64);
        }
        if let Some(c) = &self.channel {
            q.and_channel("channel", c);
        }
    }

    fn push_raw(&self, q: &mut Sql) {
        if let Some(v) = self.from {
            q.push(" AND p.from_node_id = ").int(v);
        }
        if let Some(v) = self.to {
            q.push(super::packets::to_node_condition(v)).int(v);
        }
        if let Some(v) = self.portnum {
            q.push(" AND p.portnum = ").int(v as i64);
        }
        if let Some(c) = &self.channel {
            q.and_channel("p.channel", c);
        }
    }
}

impl Reader {
    /// Packets (and receptions, from the rollup) per bucket of `bucket_us` since
    /// `since_us` (aligned by the caller). Empty buckets are absent.
    pub async fn traffic_series(
        &self,
        filter: &TrafficFilter,
        since_us: i64,
        bucket_us: i64,
    ) -> Result<Vec<Bucket>, sqlx::Error> {
        let mut q = Sql::default();
        if filter.to.is_some() {
            q.push("SELECT (p.import_time_us / ")
                .int(bucket_us)
                .push(") * ")
                .int(bucket_us)
                .push(
                    " AS bucket, count(*) AS packets, CAST(0 AS BIGINT) AS receptions \
                     FROM packet p WHERE p.import_time_us >= ",
                )
                .int(since_us);
            filter.push_raw(&mut q);
        } else {
            q.push("SELECT (hour_us / ")
                .int(bucket_us)
                .push(") * ")
                .int(bucket_us)
                .push(
                    " AS bucket, CAST(SUM(packets) AS BIGINT) AS packets, \
                     CAST(SUM(receptions) AS BIGINT) AS receptions \
                     FROM traffic_hourly WHERE hour_us >= ",
                )
                .int(since_us);
            filter.push_rollup(&mut q);
        }
        q.push(" GROUP BY 1 ORDER BY 1");
        with_pool!(&self.db, |p| {
            let rows = build_query!(q).fetch_all(p).await?;
            Ok(rows
                .iter()
                .map(|r| Bucket {
                    start_us: r.get("bucket"),
                    packets: r.get::<Option<i64>, _>("packets").unwrap_or(0),
                    receptions: r.get::<Option<i64>, _>("receptions").unwrap_or(0),
                })
                .collect())
        })
    }

    /// Distinct packets and receptions since `since_us` (`None`: all time) matching
    /// `filter`. With a recipient filter both come from the raw tables.
    pub async fn traffic_totals(
        &self,
        filter: &TrafficFilter,
        since_us: Option<i64>,
    ) -> Result<(i64, i64), sqlx::Error> {
        if filter.to.is_some() {
            return self.raw_totals(filter, since_us.unwrap_or(i64::MIN)).await;
        }
        let mut q = Sql::new(
            "SELECT CAST(SUM(packets) AS BIGINT) AS packets, \
             CAST(SUM(receptions) AS BIGINT) AS receptions FROM traffic_hourly WHERE 1 = 1",
        );
        if let Some(s) = since_us {
            q.push(" AND hour_us >= ").int(s);
        }
        filter.push_rollup(&mut q);
        with_pool!(&self.db, |p| {
            let r = build_query!(q).fetch_one(p).await?;
            Ok((
                r.get::<Option<i64>, _>("packets").unwrap_or(0),
                r.get::<Option<i64>, _>("receptions").unwrap_or(0),
            ))
        })
    }

    async fn raw_totals(
        &self,
        filter: &TrafficFilter,
        since_us: i64,
    ) -> Result<(i64, i64), sqlx::Error> {
        let mut packets = Sql::new("SELECT count(*) FROM packet p WHERE p.import_time_us >= ");
        packets.int(since_us);
        filter.push_raw(&mut packets);
        let mut seen = Sql::new(
            "SELECT count(*) FROM packet_seen s JOIN packet p ON p.id = s.packet_id \
             WHERE p.import_time_us >= ",
        );
        seen.int(since_us);
        filter.push_raw(&mut seen);
        with_pool!(&self.db, |p| {
            let a: i64 = build_query!(packets).fetch_one(p).await?.get(0);
            let b: i64 = build_query!(seen).fetch_one(p).await?.get(0);
            Ok((a, b))
        })
    }

    /// Receptions of one stored packet.
    pub async fn seen_count(&self, packet_id: i64) -> Result<i64, sqlx::Error> {
        const SQL: &str = "SELECT count(*) FROM packet_seen WHERE packet_id = $1";
        with_pool!(&self.db, |p| {
            sqlx::query_scalar(SQL).bind(packet_id).fetch_one(p).await
        })
    }

    /// Senders ranked by receptions of their packets since `since_us` (then by packets
    /// sent, then node number), with the number of ranked senders.
    pub async fn top_talkers(
        &self,
        since_us: i64,
        channel: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<TopRow>), sqlx::Error> {
        // `+from_node_id` keeps SQLite on the primary key's hour range; grouping by the
        // bare column would make it walk the whole sender index to avoid a sort.
        let mut inner = Sql::new(
            "SELECT +from_node_id AS from_node_id, CAST(SUM(packets) AS BIGINT) AS sent, \
             CAST(SUM(receptions) AS BIGINT) AS seen FROM traffic_hourly WHERE hour_us >= ",
        );
        inner.int(since_us);
        if let Some(c) = channel {
            inner.and_channel("channel", c);
        }
        inner.push(" GROUP BY 1");
        let mut count = Sql::new("SELECT count(*) FROM (");
        count.args = inner.args.clone();
        count.push(&inner.text).push(") c");
        let mut q = Sql::new(
            "SELECT t.from_node_id, t.sent, t.seen, n.long_name, n.short_name, n.channel FROM (",
        );
        q.args = inner.args.clone();
        q.push(&inner.text)
            .push(
                ") t LEFT JOIN node n ON n.node_id = t.from_node_id \
                 ORDER BY t.seen DESC, t.sent DESC, t.from_node_id LIMIT ",
            )
            .int(limit)
            .push(" OFFSET ")
            .int(offset);
        with_pool!(&self.db, |p| {
            let total: i64 = build_query!(count).fetch_one(p).await?.get(0);
            let rows = build_query!(q).fetch_all(p).await?;
            Ok((
                total,
                rows.iter()
                    .map(|r| TopRow {
                        node_id: r.get("from_node_id"),
                        long_name: r.get("long_name"),
                        short_name: r.get("short_name"),
                        channel: r.get("channel"),
                        sent: r.get::<Option<i64>, _>("sent").unwrap_or(0),
                        seen: r.get::<Option<i64>, _>("seen").unwrap_or(0),
                    })
                    .collect(),
            ))
        })
    }

    /// Channels with traffic since `since_us`, sorted.
    pub async fn channels(&self, since_us: i64) -> Result<Vec<String>, sqlx::Error> {
        const SQL: &str = "SELECT DISTINCT channel FROM traffic_hourly \
             WHERE hour_us >= $1 AND channel <> '' ORDER BY channel LIMIT 1000";
        with_pool!(&self.db, |p| {
            sqlx::query_scalar(SQL).bind(since_us).fetch_all(p).await
        })
    }
}
