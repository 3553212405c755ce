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
/// Sender rows kept in [`SenderSums`] (about 24 bytes each): a day of a 2,000-node mesh
/// is 2,000 rows, so this holds weeks of day blocks per channel filter.
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
    start: i64,
    len: i64,
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

    /// The rows of day block `day` summed from its cached, still valid hour blocks, if
    /// all 24 are there.
    fn merge_hours(
        &self,
        day: &BlockKey,
        checks: &HashMap<i64, (i64, i64)>,
    ) -> Option<Vec<(i64, i64, i64)>> {
        if day.len != DAY {
            return None;
        }
        let inner = self.inner.lock().expect("sender sums lock");
        let mut acc: HashMap<i64, (i64, i64)> = HashMap::new();
        let mut h = day.start;
        while h < day.start + DAY {
            let check = checks.get(&h).copied().unwrap_or((0, 0));
            if check != (0, 0) {
                let key = BlockKey {
                    start: h,
                    len: HOUR,
                    channel: day.channel.clone(),
                };
                let (_, b) = inner.blocks.get(&key)?;
                if b.check != check {
                    return None;
                }
                for &(id, sent, seen) in &b.rows {
                    let e = acc.entry(id).or_default();
                    e.0 += sent;
                    e.1 += seen;
                }
            }
            h += HOUR;
        }
        Some(
            acc.into_iter()
                .map(|(id, (sent, seen))| (id, sent, seen))
                .collect(),
        )
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
    /// channels × hours), too many to sum per request. Completed hours never change
    /// (traffic is counted in the hour it is stored), so their per-sender sums are kept
    /// in `sums` as blocks (whole UTC days, else single hours) and only the current hour
    /// is summed from the table. A block is used only while the hour totals of
    /// `traffic_hourly_total` it was built from are unchanged (a late commit or a rollup
    /// rebuild makes it recomputed), so answers are always exact.
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
        if since < current {
            let checks = self.hour_totals(since, current, channel).await?;
            let mut t = since;
            while t < current {
                let len = if t.rem_euclid(DAY) == 0 && t + DAY <= current {
                    DAY
                } else {
                    HOUR
                };
                let mut check = (0i64, 0i64);
                let mut h = t;
                while h < t + len {
                    if let Some((p, r)) = checks.get(&h) {
                        check.0 += p;
                        check.1 += r;
                    }
                    h += HOUR;
                }
                // No traffic in the block: no rows to sum.
                if check != (0, 0) {
                    let key = BlockKey {
                        start: t,
                        len,
                        channel: channel_key.clone(),
                    };
                    let block = match sums.get(&key) {
                        Some(b) if b.check == check => b,
                        _ => {
                            // A day whose hours are all known (it was "the last 24 hours"
                            // until midnight) is their sum; else it is read.
                            let rows = match sums.merge_hours(&key, &checks) {
                                Some(rows) => rows,
                                None => self.sender_sums(t, Some(t + len), channel).await?,
                            };
                            let b = Arc::new(Block { check, rows });
                            sums.put(key, b.clone());
                            b
                        }
                    };
                    for &(id, sent, seen) in &block.rows {
                        let e = acc.entry(id).or_default();
                        e.0 += sent;
                        e.1 += seen;
                    }
                }
                t += len;
            }
        }
        if !ended {
            for (id, sent, seen) in self.sender_sums(since.max(current), None, channel).await? {
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

    /// Per-sender packets and receptions in `[from, to)` (`to = None`: open-ended).
    async fn sender_sums(
        &self,
        from: i64,
        to: Option<i64>,
        channel: Option<&str>,
    ) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        // `+from_node_id` keeps SQLite on the primary key's hour range; grouping by the
        // bare column would make it walk the whole sender index to avoid a sort.
        let mut q = Sql::new(
            "SELECT +from_node_id AS from_node_id, CAST(SUM(packets) AS BIGINT) AS sent, \
             CAST(SUM(receptions) AS BIGINT) AS seen FROM traffic_hourly WHERE hour_us >= ",
        );
        q.int(from);
        if let Some(to) = to {
            q.push(" AND hour_us < ").int(to);
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
