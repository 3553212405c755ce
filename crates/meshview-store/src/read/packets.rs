//! Packets and their receptions.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Reader, Sql};
use crate::row::Arg;
use crate::row::OwnedRow;
use crate::{Db, StoreError};

/// One `packet` row with its sender's and recipient's long names.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketRow {
    pub id: i64,
    pub portnum: Option<i32>,
    pub from_node_id: Option<i64>,
    pub to_node_id: Option<i64>,
    /// The stored MeshPacket.
    pub payload: Option<Vec<u8>>,
    pub import_time_us: Option<i64>,
    pub channel: Option<String>,
    /// Shared by every row of a list that names the node (a list of 500 packets names
    /// a few dozen nodes).
    pub from_long_name: Option<Arc<str>>,
    pub to_long_name: Option<Arc<str>>,
}

/// A position in "newest first" order: rows strictly older than this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub import_time_us: i64,
    /// Tie-break among rows stored in the same microsecond; `i64::MIN` takes none of them.
    pub id: i64,
}

/// Filters of a packet list; every one is optional and they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct PacketFilter {
    /// `import_time_us > since` (MeshView's polling cursor).
    pub since: Option<i64>,
    /// Keyset: only rows older than this.
    pub before: Option<Cursor>,
    pub portnum: Option<i32>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Either direction (read as two index-ordered halves).
    pub node: Option<i64>,
    pub channel: Option<String>,
    /// Only these stored ids.
    pub ids: Option<Vec<i64>>,
}

/// One `packet_seen` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenRow {
    pub packet_id: i64,
    pub node_id: i64,
    pub rx_time: i64,
    pub hop_limit: Option<i32>,
    pub hop_start: Option<i32>,
    pub channel: Option<String>,
    pub rx_snr: Option<f64>,
    pub rx_rssi: Option<i32>,
    pub topic: Option<String>,
    pub import_time_us: Option<i64>,
}

/// A packet's columns; the sender's and recipient's names are filled in afterwards by
/// [`Reader::fill_long_names`] (one look-up of the distinct nodes: a list of 500 packets
/// names a few dozen nodes, where two joins per row cost four B-tree descents each).
const PACKET_COLUMNS: &str = "SELECT p.id, p.portnum, p.from_node_id, p.to_node_id, \
     p.payload, p.import_time_us, p.channel FROM packet p WHERE 1 = 1";

fn packet_row(mut r: OwnedRow) -> Result<PacketRow, StoreError> {
    Ok(PacketRow {
        id: r.take("id")?,
        portnum: r.take("portnum")?,
        from_node_id: r.take("from_node_id")?,
        to_node_id: r.take("to_node_id")?,
        payload: r.take("payload")?,
        import_time_us: r.take("import_time_us")?,
        channel: r.take("channel")?,
        from_long_name: None,
        to_long_name: None,
    })
}

/// Broadcast is the recipient of most packets: an index on the recipient would read them
/// all and sort, so the unary `+` keeps SQLite (and PostgreSQL) on the time index; any
/// other recipient has few packets and its index is the right way in. On SQLite that
/// index leaves broadcasts out (migration 2e7a9c51b3f4: nine packets in ten, 150 MB of
/// the benchmark database), and SQLite uses a partial index only for a query that
/// states its condition.
pub(super) fn to_node_condition(to: i64) -> &'static str {
    if to == 0xFFFF_FFFF {
        " AND +p.to_node_id = "
    } else {
        " AND p.to_node_id <> 4294967295 AND p.to_node_id = "
    }
}

impl PacketFilter {
    /// Whether the rows are narrowed to one node (a sender, a recipient other than
    /// broadcast, or either): a few thousand packets at most, which their (node, time)
    /// index finds, whereas a port is a tenth of all packets or more.
    fn by_node(&self) -> bool {
        self.from.is_some() || self.node.is_some() || self.to.is_some_and(|t| t != 0xFFFF_FFFF)
    }

    fn push_where(&self, q: &mut Sql, sqlite: bool) {
        self.push_where_narrowed(q, self.by_node(), sqlite);
    }

    /// `by_node`: see [`Self::by_node`] (the halves of a "from or to" query pass it, as
    /// their node condition is added by the caller). `sqlite` picks the dialect.
    fn push_where_narrowed(&self, q: &mut Sql, by_node: bool, sqlite: bool) {
        // With stored ids the primary key finds at most a few rows: the unary `+` keeps
        // SQLite from walking a (port, time) or (sender, time) index instead, which it
        // would otherwise prefer for the ORDER BY (it has no statistics to know better).
        let by_id = self.ids.is_some();
        let col = |c: &'static str| -> String {
            if by_id {
                format!("+{c}")
            } else {
                c.to_string()
            }
        };
        if let Some(ids) = &self.ids {
            q.push(" AND p.id IN (");
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.int(*id);
            }
            if ids.is_empty() {
                q.push("NULL");
            }
            q.push(")");
        }
        if let Some(s) = self.since {
            q.push(&format!(" AND {} > ", col("p.import_time_us")))
                .int(s);
        }
        if let Some(c) = self.before {
            // The leading `<=` is what an index range can use; the OR alone (with bound
            // values) makes SQLite collect and sort every older row.
            let t = col("p.import_time_us");
            if c.id == i64::MIN {
                q.push(&format!(" AND {t} < ")).int(c.import_time_us);
            } else {
                q.push(&format!(" AND {t} <= "))
                    .int(c.import_time_us)
                    .push(&format!(" AND ({t} < "))
                    .int(c.import_time_us)
                    .push(" OR p.id < ")
                    .int(c.id)
                    .push(")");
            }
        }
        if let Some(v) = self.portnum {
            // Likewise a node's packets are found by its index, then checked for the port:
            // walking the port's index would read every packet of the port until `limit`
            // of the node's turned up (hundreds of ms for a quiet node). SQLite needs the
            // `+` to keep off the port's index; PostgreSQL, which has statistics, needs
            // the bare column to test the port inside the sender index (migration
            // 5c7dbbf4643f) rather than on every fetched row.
            let c = if by_node && sqlite {
                "+p.portnum".to_string()
            } else {
                col("p.portnum")
            };
            q.push(&format!(" AND {c} = ")).int(v as i64);
        }
        if let Some(v) = self.from {
            q.push(&format!(" AND {} = ", col("p.from_node_id"))).int(v);
        }
        if let Some(v) = self.to {
            if by_id {
                q.push(" AND +p.to_node_id = ").int(v);
            } else {
                q.push(to_node_condition(v)).int(v);
            }
        }
        if let Some(c) = &self.channel {
            q.and_channel("p.channel", c);
        }
    }
}

/// The SQL of a packet list (see [`Reader::packets`]); `sqlite` picks the dialect.
fn list_sql(filter: &PacketFilter, limit: i64, sqlite: bool) -> Sql {
    let mut q = Sql::default();
    match filter.node {
        None => {
            q.push(PACKET_COLUMNS);
            filter.push_where(&mut q, sqlite);
            q.push(" ORDER BY p.import_time_us DESC, p.id DESC LIMIT ")
                .count(limit);
        }
        Some(n) => {
            // "From or to n" as one OR would read every packet of n and sort them;
            // two index-ordered halves merge cheaply. SQLite merges the halves of a
            // compound SELECT as they come and stops at the LIMIT (limiting each half
            // in a subquery instead made it sort both materialized halves again:
            // ~30 % slower). PostgreSQL needs the limited subqueries: given the
            // compound form it reads all of n's packets and sorts them.
            let rest = PacketFilter {
                node: None,
                ..filter.clone()
            };
            let half_end = |q: &mut Sql| {
                if !sqlite {
                    q.push(" ORDER BY p.import_time_us DESC, p.id DESC LIMIT ")
                        .count(limit);
                }
            };
            if !sqlite {
                q.push("SELECT * FROM (");
            }
            q.push(PACKET_COLUMNS);
            rest.push_where_narrowed(&mut q, true, sqlite);
            q.push(" AND p.from_node_id = ").int(n);
            half_end(&mut q);
            q.push(if sqlite {
                " UNION ALL "
            } else {
                ") a UNION ALL SELECT * FROM ("
            });
            q.push(PACKET_COLUMNS);
            rest.push_where_narrowed(&mut q, true, sqlite);
            q.push(to_node_condition(n))
                .int(n)
                .push(" AND p.from_node_id <> ")
                .int(n);
            half_end(&mut q);
            if !sqlite {
                q.push(") b");
            }
            q.push(" ORDER BY import_time_us DESC, id DESC LIMIT ")
                .count(limit);
        }
    }
    q
}

impl Reader {
    /// Up to `limit` packets matching `filter`, newest first (ties by id, descending).
    pub async fn packets(
        &self,
        filter: &PacketFilter,
        limit: i64,
    ) -> Result<Vec<PacketRow>, StoreError> {
        let mut rows = self.packets_without_names(filter, limit).await?;
        self.fill_long_names(&mut rows).await?;
        Ok(rows)
    }

    /// As [`Reader::packets`], without the sender's and recipient's names (`None`): for
    /// scans that drop most rows (their callers name the survivors).
    pub async fn packets_without_names(
        &self,
        filter: &PacketFilter,
        limit: i64,
    ) -> Result<Vec<PacketRow>, StoreError> {
        let sqlite = matches!(self.db(), Db::Sqlite(..));
        self.fetch_map(list_sql(filter, limit, sqlite), packet_row)
            .await
    }

    /// Broadcast text messages whose shown text contains `needle` (lower-case), newest
    /// first: reads the narrow `packet_text` table (see `store::text`) and visits
    /// `packet` only for matches, so a search covers every stored message without
    /// decoding any. `filter.portnum` is implied (text messages); its other filters apply.
    pub async fn search_text(
        &self,
        filter: &PacketFilter,
        needle: &str,
        limit: i64,
    ) -> Result<Vec<PacketRow>, StoreError> {
        // CROSS JOIN keeps SQLite on the text table's time order (PostgreSQL plans it as
        // an inner join).
        let mut q = Sql::new(
            "SELECT p.id, p.portnum, p.from_node_id, p.to_node_id, p.payload, p.import_time_us, \
             p.channel FROM packet_text t CROSS JOIN packet p WHERE p.id = t.packet_id",
        );
        q.push(match self.db() {
            Db::Sqlite(..) => " AND instr(t.text_lower, ",
            Db::Postgres(_) => " AND strpos(t.text_lower, ",
        })
        .str(needle)
        .push(") > 0");
        if let Some(s) = filter.since {
            q.push(" AND t.import_time_us > ").int(s);
        }
        if let Some(c) = filter.before {
            if c.id == i64::MIN {
                q.push(" AND t.import_time_us < ").int(c.import_time_us);
            } else {
                q.push(" AND t.import_time_us <= ")
                    .int(c.import_time_us)
                    .push(" AND (t.import_time_us < ")
                    .int(c.import_time_us)
                    .push(" OR t.packet_id < ")
                    .int(c.id)
                    .push(")");
            }
        }
        if let Some(n) = filter.node {
            q.push(" AND (p.from_node_id = ")
                .int(n)
                .push(" OR p.to_node_id = ")
                .int(n)
                .push(")");
        }
        let rest = PacketFilter {
            since: None,
            before: None,
            portnum: None,
            node: None,
            ..filter.clone()
        };
        rest.push_where_narrowed(&mut q, false, matches!(self.db(), Db::Sqlite(..)));
        q.push(" ORDER BY t.import_time_us DESC, t.packet_id DESC LIMIT ")
            .count(limit);
        let mut rows = self.fetch_map(q, packet_row).await?;
        self.fill_long_names(&mut rows).await?;
        Ok(rows)
    }

    /// Packets stored after `after_us` (inclusive of the lookback the caller chose),
    /// oldest first: the stream's shared database poll.
    pub async fn packets_after(
        &self,
        after_us: i64,
        limit: i64,
    ) -> Result<Vec<PacketRow>, StoreError> {
        let mut q = Sql::new(PACKET_COLUMNS);
        q.push(" AND p.import_time_us > ")
            .int(after_us)
            .push(" ORDER BY p.import_time_us ASC, p.id ASC LIMIT ")
            .count(limit);
        let mut rows = self.fetch_map(q, packet_row).await?;
        self.fill_long_names(&mut rows).await?;
        Ok(rows)
    }

    /// Sets each row's `from_long_name` and `to_long_name` (`None` for an unknown node
    /// or one without a name).
    pub async fn fill_long_names(&self, rows: &mut [PacketRow]) -> Result<(), StoreError> {
        let mut ids: Vec<i64> = rows
            .iter()
            .flat_map(|r| [r.from_node_id, r.to_node_id])
            .flatten()
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        ids.sort_unstable();
        ids.dedup();
        let names: HashMap<i64, Arc<str>> = self
            .long_names(&ids)
            .await?
            .into_iter()
            .map(|(id, name)| (id, Arc::from(name)))
            .collect();
        for row in rows {
            row.from_long_name = row.from_node_id.and_then(|n| names.get(&n).cloned());
            row.to_long_name = row.to_node_id.and_then(|n| names.get(&n).cloned());
        }
        Ok(())
    }

    /// One packet by its stored id.
    pub async fn packet(&self, id: i64) -> Result<Option<PacketRow>, StoreError> {
        let filter = PacketFilter {
            ids: Some(vec![id]),
            ..Default::default()
        };
        Ok(self.packets(&filter, 1).await?.pop())
    }

    /// The receptions of one stored packet, newest first (bounded: a packet is heard by
    /// a handful of gateways, a flood by at most a few hundred).
    pub async fn packet_seen(&self, packet_id: i64) -> Result<Vec<SeenRow>, StoreError> {
        const SQL: &str = "SELECT packet_id, node_id, rx_time, hop_limit, hop_start, channel, \
             rx_snr, rx_rssi, topic, import_time_us FROM packet_seen WHERE packet_id = $1 \
             ORDER BY import_time_us DESC, node_id, rx_time LIMIT 5000";
        self.fetch_map(Sql::bound(SQL, vec![Arg::I64(packet_id)]), |mut r| {
            Ok(SeenRow {
                packet_id: r.take("packet_id")?,
                node_id: r.take("node_id")?,
                rx_time: r.take("rx_time")?,
                hop_limit: r.take("hop_limit")?,
                hop_start: r.take("hop_start")?,
                channel: r.take("channel")?,
                rx_snr: r.take("rx_snr")?,
                rx_rssi: r.take("rx_rssi")?,
                topic: r.take("topic")?,
                import_time_us: r.take("import_time_us")?,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DatabaseUrl;
    use crate::migrations::{Chain, UpgradeOptions, upgrade};

    /// Every shape of packet list reads its rows in the order it returns them (no sort
    /// of the rows with their payloads); a node's lists walk the sender index (its port
    /// tested there) and the recipient's, which leaves broadcasts out.
    /// SQLite plans without statistics here as on a big database (MeshView databases
    /// are never `ANALYZE`d), so the plans are those of production.
    #[tokio::test]
    async fn packet_lists_walk_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.db");
        let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
        let chain = Chain::embedded().unwrap();
        upgrade(&url, &chain, None, &UpgradeOptions::default())
            .await
            .unwrap();
        let node = 0x1234_5678;
        let cursor = Cursor {
            import_time_us: 1_700_000_000_000_000,
            id: 42,
        };
        let shapes: Vec<(&str, PacketFilter, bool)> = vec![
            ("newest", PacketFilter::default(), false),
            (
                "since",
                PacketFilter {
                    since: Some(1),
                    ..Default::default()
                },
                false,
            ),
            (
                "before, keyset",
                PacketFilter {
                    before: Some(cursor),
                    ..Default::default()
                },
                false,
            ),
            (
                "port",
                PacketFilter {
                    portnum: Some(1),
                    ..Default::default()
                },
                false,
            ),
            (
                "broadcast",
                PacketFilter {
                    to: Some(0xFFFF_FFFF),
                    ..Default::default()
                },
                false,
            ),
            (
                "recipient",
                PacketFilter {
                    to: Some(node),
                    ..Default::default()
                },
                false,
            ),
            (
                "sender",
                PacketFilter {
                    from: Some(node),
                    ..Default::default()
                },
                true,
            ),
            (
                "sender's port, paged",
                PacketFilter {
                    from: Some(node),
                    portnum: Some(67),
                    before: Some(cursor),
                    ..Default::default()
                },
                true,
            ),
            (
                "node",
                PacketFilter {
                    node: Some(node),
                    ..Default::default()
                },
                true,
            ),
            (
                "node's port since",
                PacketFilter {
                    node: Some(node),
                    portnum: Some(3),
                    since: Some(1),
                    ..Default::default()
                },
                true,
            ),
        ];
        for (name, filter, by_node) in shapes {
            let q = list_sql(&filter, 500, true);
            let plan = crate::connect::lite_query_plan(&path, &q.text, &q.args).unwrap();
            let plan = plan.join("\n");
            assert!(!plan.contains("TEMP B-TREE"), "{name} sorts:\n{plan}");
            assert!(
                !plan.contains("SCAN p\n") && !plan.ends_with("SCAN p"),
                "{name}:\n{plan}"
            );
            assert_eq!(
                plan.contains("INDEX idx_packet_from_node_time_us"),
                by_node,
                "{name}:\n{plan}"
            );
            // A recipient other than broadcast is found by the (partial) recipient index.
            let to_someone = filter.node.is_some() || filter.to.is_some_and(|t| t != 0xFFFF_FFFF);
            assert_eq!(
                plan.contains("INDEX idx_packet_to_node_time_us"),
                to_someone,
                "{name}:\n{plan}"
            );
        }
    }
}
