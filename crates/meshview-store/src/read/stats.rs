//! Traffic aggregates: series per hour or day, totals, top talkers, channels.
//!
//! They read the writer's rollups: `traffic_hourly` (per UTC hour × sender × port ×
//! channel: distinct packets first stored that hour, receptions stored that hour) when a
//! sender is asked about, else `traffic_hourly_total` (the same summed over senders), so
//! a day of a busy mesh is dozens or thousands of rows instead of millions. Only a recipient filter
//! (`to_node`), which the rollup does not carry, reads `packet` itself, bounded by its
//! window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Reader, Sql};
use crate::StoreError;
use crate::row::Arg;

/// Filters of a traffic aggregate (AND-combined).
#[derive(Debug, Clone, Default)]
pub struct TrafficFilter {
    pub from: Option<i64>,
    /// Recipient: forces the raw `packet` table.
    pub to: Option<i64>,
    pub portnum: Option<i32>,
    /// Case-insensitive.
    pub channel: Option<String>,
    /// Only before this time (exclusive; an hour's start for the rollups): a window
    /// that ends in the past (time travel).
    pub until_us: Option<i64>,
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

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
/// Sender rows kept in [`SenderSums`] (about 24 bytes each): an hour of a 2,000-node
/// mesh is at most 2,000 rows, so this holds days of hour blocks per channel filter.
const MAX_CACHED_ROWS: usize = 250_000;

/// Per-sender sums of completed hours, shared by the reader's requests (see
/// [`Reader::top_talkers`]).
#[derive(Default)]
pub struct SenderSums {
    inner: Mutex<SumsInner>,
}

#[derive(Default)]
struct SumsInner {
    blocks: HashMap<BlockKey, (u64, Arc<Block>)>,
    rows: usize,
    tick: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BlockKey {
    /// The hour's start.
    start: i64,
    /// Lower-cased channel filter.
    channel: Option<String>,
}

struct Block {
    /// The `traffic_hourly_total` sums the block was built against.
    check: (i64, i64),
    /// (sender, packets, receptions).
    rows: Vec<(i64, i64, i64)>,
}

impl SenderSums {
    fn get(&self, key: &BlockKey) -> Option<Arc<Block>> {
        let mut inner = self.inner.lock().expect("sender sums lock");
        inner.tick += 1;
        let tick = inner.tick;
        inner.blocks.get_mut(key).map(|(used, b)| {
            *used = tick;
            b.clone()
        })
    }

    fn put(&self, key: BlockKey, block: Arc<Block>) {
        let mut inner = self.inner.lock().expect("sender sums lock");
        if block.rows.len() > MAX_CACHED_ROWS / 4 {
            return;
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.rows += block.rows.len();
        if let Some((_, old)) = inner.blocks.insert(key, (tick, block)) {
            inner.rows -= old.rows.len();
        }
        // Least recently used first.
        while inner.rows > MAX_CACHED_ROWS {
            let Some(oldest) = inner
                .blocks
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((_, b)) = inner.blocks.remove(&oldest) {
                inner.rows -= b.rows.len();
            }
        }
    }
}

impl TrafficFilter {
    /// The rollup that answers this filter: without a sender, the per-hour totals over
    /// all senders (`traffic_hourly_total`, a few dozen rows per hour) instead of the
    /// per-sender table (thousands of rows per hour on a big mesh).
    fn rollup_table(&self) -> &'static str {
        if self.from.is_some() {
            "traffic_hourly"
        } else {
            "traffic_hourly_total"
        }
    }

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
        if let Some(v) = self.until_us {
            q.push(" AND hour_us < ").int(v);
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
        if let Some(v) = self.until_us {
            q.push(" AND p.import_time_us < ").int(v);
        }
    }
}

/// Which traffic rollup per-sender sums read.
#[derive(Debug, Clone, Copy)]
enum Rollup {
    Hourly,
    Daily,
}

/// The window of [`Reader::top_talkers`].
#[derive(Debug, Clone, Copy)]
pub struct TalkWindow {
    pub since_us: i64,
    /// Now, or with `ended` the window's end (an hour's start).
    pub now_us: i64,
    /// The window ends at `now_us` (time travel); else it runs on through the current
    /// hour.
    pub ended: bool,
}

impl Reader {
    /// Packets (and receptions, from the rollup) per bucket of `bucket_us` since
    /// `since_us` (aligned by the caller). Empty buckets are absent.
    pub async fn traffic_series(
        &self,
        filter: &TrafficFilter,
        since_us: i64,
        bucket_us: i64,
    ) -> Result<Vec<Bucket>, StoreError> {
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
                     CAST(SUM(receptions) AS BIGINT) AS receptions FROM ",
                )
                .push(filter.rollup_table())
                .push(" WHERE hour_us >= ")
                .int(since_us);
            filter.push_rollup(&mut q);
        }
        q.push(" GROUP BY 1 ORDER BY 1");
        self.fetch_map(q, |mut r| {
            Ok(Bucket {
                start_us: r.take("bucket")?,
                packets: r.take::<Option<i64>>("packets")?.unwrap_or(0),
                receptions: r.take::<Option<i64>>("receptions")?.unwrap_or(0),
            })
        })
        .await
    }

    /// Distinct packets and receptions since `since_us` (`None`: all time) matching
    /// `filter`. With a recipient filter both come from the raw tables.
    pub async fn traffic_totals(
        &self,
        filter: &TrafficFilter,
        since_us: Option<i64>,
    ) -> Result<(i64, i64), StoreError> {
        if filter.to.is_some() {
            return self.raw_totals(filter, since_us.unwrap_or(i64::MIN)).await;
        }
        let mut q = Sql::new(
            "SELECT CAST(SUM(packets) AS BIGINT) AS packets, \
             CAST(SUM(receptions) AS BIGINT) AS receptions FROM ",
        );
        q.push(filter.rollup_table()).push(" WHERE 1 = 1");
        if let Some(s) = since_us {
            q.push(" AND hour_us >= ").int(s);
        }
        filter.push_rollup(&mut q);
        let mut r = self.fetch_one(q).await?;
        Ok((
            r.take::<Option<i64>>("packets")?.unwrap_or(0),
            r.take::<Option<i64>>("receptions")?.unwrap_or(0),
        ))
    }

    async fn raw_totals(
        &self,
        filter: &TrafficFilter,
        since_us: i64,
    ) -> Result<(i64, i64), StoreError> {
        let mut packets = Sql::new("SELECT count(*) FROM packet p WHERE p.import_time_us >= ");
        packets.int(since_us);
        filter.push_raw(&mut packets);
        let mut seen = Sql::new(
            "SELECT count(*) FROM packet_seen s JOIN packet p ON p.id = s.packet_id \
             WHERE p.import_time_us >= ",
        );
        seen.int(since_us);
        filter.push_raw(&mut seen);
        let a: i64 = self.fetch_one(packets).await?.take(0)?;
        let b: i64 = self.fetch_one(seen).await?.take(0)?;
        Ok((a, b))
    }

    /// Receptions of one stored packet.
    pub async fn seen_count(&self, packet_id: i64) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT count(*) FROM packet_seen WHERE packet_id = $1";
        self.fetch_one(Sql::bound(SQL, vec![Arg::I64(packet_id)]))
            .await?
            .take(0)
    }

    /// Senders ranked by receptions of their packets since `since_us` (then by packets
    /// sent, then node number), with the number of ranked senders.
    ///
    /// A day of a big mesh is a hundred thousand `traffic_hourly` rows (senders × ports ×
    /// channels × hours), too many to sum per request. Whole UTC days come from
    /// `traffic_daily` (a row per sender, day and channel, kept in the same transaction
    /// as the hourly rows). Completed hours never change (traffic is counted in the hour
    /// it is stored), so the per-sender sums of the hours outside whole days are kept in
    /// `sums` as hour blocks and only the current hour is summed from the table. A block
    /// is used only while the hour totals of `traffic_hourly_total` it was built from
    /// are unchanged (a late commit or a rollup rebuild makes it recomputed), so answers
    /// are always exact.
    pub async fn top_talkers(
        &self,
        sums: &SenderSums,
        window: TalkWindow,
        channel: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<TopRow>), StoreError> {
        let TalkWindow {
            since_us,
            now_us,
            ended,
        } = window;
        let since = since_us.div_euclid(HOUR) * HOUR
            + if since_us.rem_euclid(HOUR) > 0 {
                HOUR
            } else {
                0
            };
        let current = now_us.div_euclid(HOUR) * HOUR;
        let channel_key = channel.map(str::to_lowercase);
        let mut acc: HashMap<i64, (i64, i64)> = HashMap::new();
        let mut add = |rows: &[(i64, i64, i64)]| {
            for &(id, sent, seen) in rows {
                let e = acc.entry(id).or_default();
                e.0 += sent;
                e.1 += seen;
            }
        };
        // Whole UTC days from `traffic_daily`, a row per sender and day in one range
        // read; the hours before the first and after the last from hour blocks.
        let first_day =
            since.div_euclid(DAY) * DAY + if since.rem_euclid(DAY) > 0 { DAY } else { 0 };
        let last_day = current.div_euclid(DAY) * DAY;
        let hour_spans = if first_day < last_day {
            add(&self
                .sender_sums(Rollup::Daily, first_day, Some(last_day), channel)
                .await?);
            vec![(since, first_day), (last_day, current)]
        } else {
            vec![(since, current)]
        };
        for (from, to) in hour_spans {
            if from >= to {
                continue;
            }
            let checks = self.hour_totals(from, to, channel).await?;
            let mut t = from;
            while t < to {
                let check = checks.get(&t).copied().unwrap_or((0, 0));
                // No traffic in the hour: no rows to sum.
                if check != (0, 0) {
                    let key = BlockKey {
                        start: t,
                        channel: channel_key.clone(),
                    };
                    let block = match sums.get(&key) {
                        Some(b) if b.check == check => b,
                        _ => {
                            let rows = self
                                .sender_sums(Rollup::Hourly, t, Some(t + HOUR), channel)
                                .await?;
                            let b = Arc::new(Block { check, rows });
                            sums.put(key, b.clone());
                            b
                        }
                    };
                    add(&block.rows);
                }
                t += HOUR;
            }
        }
        if !ended {
            for (id, sent, seen) in self
                .sender_sums(Rollup::Hourly, since.max(current), None, channel)
                .await?
            {
                let e = acc.entry(id).or_default();
                e.0 += sent;
                e.1 += seen;
            }
        }
        let total = acc.len() as i64;
        let mut ranked: Vec<(i64, i64, i64)> = acc
            .into_iter()
            .map(|(id, (sent, seen))| (id, sent, seen))
            .collect();
        ranked.sort_unstable_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));
        let page: Vec<(i64, i64, i64)> = ranked
            .into_iter()
            .skip(offset.max(0) as usize)
            .take(limit.max(0) as usize)
            .collect();
        let names = self
            .node_names(&page.iter().map(|r| r.0).collect::<Vec<_>>())
            .await?;
        Ok((
            total,
            page.into_iter()
                .map(|(node_id, sent, seen)| {
                    let (long_name, short_name, channel) =
                        names.get(&node_id).cloned().unwrap_or_default();
                    TopRow {
                        node_id,
                        long_name,
                        short_name,
                        channel,
                        sent,
                        seen,
                    }
                })
                .collect(),
        ))
    }

    /// Packets and receptions per hour in `[from, to)` over all senders.
    async fn hour_totals(
        &self,
        from: i64,
        to: i64,
        channel: Option<&str>,
    ) -> Result<HashMap<i64, (i64, i64)>, StoreError> {
        let mut q = Sql::new(
            "SELECT hour_us, CAST(SUM(packets) AS BIGINT) AS packets, \
             CAST(SUM(receptions) AS BIGINT) AS receptions FROM traffic_hourly_total \
             WHERE hour_us >= ",
        );
        q.int(from).push(" AND hour_us < ").int(to);
        if let Some(c) = channel {
            q.and_channel("channel", c);
        }
        q.push(" GROUP BY hour_us");
        let mut out = HashMap::new();
        for mut r in self.fetch_all(q).await? {
            out.insert(
                r.take("hour_us")?,
                (
                    r.take::<Option<i64>>("packets")?.unwrap_or(0),
                    r.take::<Option<i64>>("receptions")?.unwrap_or(0),
                ),
            );
        }
        Ok(out)
    }

    /// Per-sender packets and receptions in `[from, to)` (`to = None`: open-ended), from
    /// the hourly rollup or, for whole UTC days, the daily one.
    async fn sender_sums(
        &self,
        rollup: Rollup,
        from: i64,
        to: Option<i64>,
        channel: Option<&str>,
    ) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        let (table, bucket) = match rollup {
            Rollup::Hourly => ("traffic_hourly", "hour_us"),
            Rollup::Daily => ("traffic_daily", "day_us"),
        };
        // `+from_node_id` keeps SQLite on the primary key's time range; grouping by the
        // bare column would make it walk the whole sender index to avoid a sort.
        let mut q = Sql::new(&format!(
            "SELECT +from_node_id AS from_node_id, CAST(SUM(packets) AS BIGINT) AS sent, \
             CAST(SUM(receptions) AS BIGINT) AS seen FROM {table} WHERE {bucket} >= "
        ));
        q.int(from);
        if let Some(to) = to {
            q.push(&format!(" AND {bucket} < ")).int(to);
        }
        if let Some(c) = channel {
            q.and_channel("channel", c);
        }
        q.push(" GROUP BY 1");
        self.fetch_map(q, |mut r| {
            Ok((
                r.take("from_node_id")?,
                r.take::<Option<i64>>("sent")?.unwrap_or(0),
                r.take::<Option<i64>>("seen")?.unwrap_or(0),
            ))
        })
        .await
    }

    /// Long name, short name and channel of the given nodes (absent: no node row).
    #[allow(clippy::type_complexity)]
    async fn node_names(
        &self,
        ids: &[i64],
    ) -> Result<HashMap<i64, (Option<String>, Option<String>, Option<String>)>, StoreError> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut q = Sql::new("SELECT node_id, long_name, short_name, channel FROM node WHERE ");
        self.push_in_ints(&mut q, "node_id", ids);
        for mut r in self.fetch_all(q).await? {
            out.insert(
                r.take("node_id")?,
                (
                    r.take("long_name")?,
                    r.take("short_name")?,
                    r.take("channel")?,
                ),
            );
        }
        Ok(out)
    }

    /// Per UTC day from `since_us` on (a day's start), oldest first, from the rollups
    /// (`node_daily`, `gateway_hourly`):
    /// the nodes that sent a packet, the packets stored, the gateways that uplinked one.
    /// Days without a packet are left out.
    pub async fn daily_activity(&self, since_us: i64) -> Result<Vec<DayActivity>, StoreError> {
        const TRAFFIC: &str = "SELECT day_us AS day, COUNT(*) AS nodes, \
             CAST(SUM(packets) AS BIGINT) AS packets \
             FROM node_daily WHERE day_us >= $1 GROUP BY day_us";
        const GATEWAYS: &str = "SELECT (hour_us / 86400000000) * 86400000000 AS day, \
             COUNT(DISTINCT gateway_node_id) AS gateways FROM gateway_hourly \
             WHERE hour_us >= $1 GROUP BY (hour_us / 86400000000) * 86400000000";
        let traffic = self.fetch_map(Sql::bound(TRAFFIC, vec![Arg::I64(since_us)]), |mut r| {
            Ok((
                r.take::<i64>("day")?,
                r.take::<i64>("nodes")?,
                r.take::<Option<i64>>("packets")?.unwrap_or(0),
            ))
        });
        let gateways = self.fetch_map(Sql::bound(GATEWAYS, vec![Arg::I64(since_us)]), |mut r| {
            Ok((r.take::<i64>("day")?, r.take::<i64>("gateways")?))
        });
        let (traffic, gateways) = futures_util::try_join!(traffic, gateways)?;
        let gateways: HashMap<i64, i64> = gateways.into_iter().collect();
        let mut out: Vec<DayActivity> = traffic
            .into_iter()
            .map(|(day_us, nodes, packets)| DayActivity {
                day_us,
                nodes,
                packets,
                gateways: gateways.get(&day_us).copied().unwrap_or(0),
            })
            .collect();
        out.sort_by_key(|d| d.day_us);
        Ok(out)
    }

    /// Channels with traffic since `since_us`, sorted.
    pub async fn channels(&self, since_us: i64) -> Result<Vec<String>, StoreError> {
        const SQL: &str = "SELECT DISTINCT channel FROM traffic_hourly_total \
             WHERE hour_us >= $1 AND channel <> '' ORDER BY channel LIMIT 1000";
        self.fetch_map(Sql::bound(SQL, vec![Arg::I64(since_us)]), |mut r| r.take(0))
            .await
    }
}

/// One UTC day's activity ([`Reader::daily_activity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayActivity {
    /// The day's start (µs, UTC midnight).
    pub day_us: i64,
    pub nodes: i64,
    pub packets: i64,
    pub gateways: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::{Conn, Db};
    use crate::migrations::{Chain, UpgradeOptions, upgrade};
    use crate::{DatabaseUrl, Role};

    /// Top talkers over windows that span whole days (from `traffic_daily`) and hours
    /// (hour blocks, cached), with and without a channel, open and ended, equal the sums
    /// of `traffic_hourly` itself.
    #[tokio::test]
    async fn top_talkers_equal_the_hourly_sums() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("top.db").display()))
            .unwrap();
        upgrade(
            &url,
            &Chain::embedded().unwrap(),
            None,
            &UpgradeOptions::default(),
        )
        .await
        .unwrap();
        let day0 = 1_699_920_000_000_000i64; // a UTC midnight
        let mut values = Vec::new();
        // Five senders on two channels, from 05:00 of day 0 to 10:00 of day 3.
        for h in 5..(3 * 24 + 11) {
            for sender in 1..=5i64 {
                if (h + sender) % 3 == 0 {
                    continue;
                }
                let channel = if sender % 2 == 0 { "B" } else { "LongFast" };
                let (p, r) = ((h * sender) % 4, (h + 2 * sender) % 7 + 1);
                values.push(format!(
                    "({}, {sender}, 1, '{channel}', {p}, {r})",
                    day0 + h * HOUR
                ));
            }
        }
        let mut conn = Conn::open(&url, Role::Writer).await.unwrap();
        conn.execute(&format!(
            "INSERT INTO traffic_hourly (hour_us, from_node_id, portnum, channel, packets, receptions) VALUES {};
             INSERT INTO traffic_hourly_total (hour_us, portnum, channel, packets, receptions)
             SELECT hour_us, portnum, channel, SUM(packets), SUM(receptions) FROM traffic_hourly
             GROUP BY hour_us, portnum, channel;
             INSERT INTO traffic_daily (day_us, from_node_id, channel, packets, receptions)
             SELECT (hour_us / 86400000000) * 86400000000, from_node_id, channel, SUM(packets),
                    SUM(receptions) FROM traffic_hourly
             GROUP BY (hour_us / 86400000000) * 86400000000, from_node_id, channel;",
            values.join(", ")
        ))
        .await
        .unwrap();
        conn.close().await;
        let reader = Reader::new(Db::open(&url, Role::Reader).await.unwrap());
        let sums = SenderSums::default();
        let now = day0 + 3 * DAY + 10 * HOUR + 1_000;
        for (since, end, ended) in [
            (day0 + 5 * HOUR + 7, now, false),
            (day0, now, false),
            (day0 + DAY, day0 + 3 * DAY, true),
            (day0 + 2 * HOUR, day0 + 2 * DAY + 4 * HOUR, true),
        ] {
            for channel in [None, Some("b")] {
                let aligned = since.div_euclid(HOUR) * HOUR
                    + if since.rem_euclid(HOUR) > 0 { HOUR } else { 0 };
                let mut q = format!(
                    "SELECT from_node_id, SUM(packets), SUM(receptions) FROM traffic_hourly \
                     WHERE hour_us >= {aligned}"
                );
                if ended {
                    q.push_str(&format!(" AND hour_us < {end}"));
                }
                if channel.is_some() {
                    q.push_str(" AND channel = 'B'");
                }
                q.push_str(" GROUP BY from_node_id");
                let mut want: Vec<(i64, i64, i64)> = reader
                    .fetch_all(Sql::new(&q))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|mut r| (r.take(0).unwrap(), r.take(1).unwrap(), r.take(2).unwrap()))
                    .collect();
                want.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));
                // Twice: the second answer comes from the cached hour blocks.
                for _ in 0..2 {
                    let window = TalkWindow {
                        since_us: since,
                        now_us: end,
                        ended,
                    };
                    let (total, rows) = reader
                        .top_talkers(&sums, window, channel, 100, 0)
                        .await
                        .unwrap();
                    let got: Vec<(i64, i64, i64)> =
                        rows.iter().map(|r| (r.node_id, r.sent, r.seen)).collect();
                    assert_eq!(total as usize, want.len());
                    assert_eq!(got, want, "since {since}, end {end}, {channel:?}");
                }
            }
        }
    }
}
