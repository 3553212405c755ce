//! SQLite statements of the batch writer: multi-row `VALUES` upserts (SQLite parses them
//! fast and has no array types). Not cached as prepared statements: their length varies
//! with the batch, and each cached variant would hold memory for nothing.

use std::collections::HashSet;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::{BatchStatements, NodeWrite, node_fields};
use crate::archive::Segment;
use crate::ops::{Reception, TracerouteRow};
use crate::rollups::BatchRollup;

/// Rows per multi-row statement: 13 columns × 1000 stays well under SQLite's 32 766 bound
/// parameters.
const CHUNK: usize = 1000;

impl BatchStatements for SqliteConnection {
    const CHUNK: usize = CHUNK;

    async fn lookup(&mut self, ids: &[i64]) -> Result<Vec<(i64, u32, i32)>, sqlx::Error> {
        let conn = self;
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT id, from_node_id, portnum FROM packet WHERE id IN (",
        );
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(*id);
        }
        q.push(")");
        Ok(q.build()
            .persistent(false)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| {
                let from: Option<i64> = row.get(1);
                let port: Option<i32> = row.get(2);
                (
                    row.get::<i64, _>(0),
                    from.unwrap_or(0) as u32,
                    port.unwrap_or(0),
                )
            })
            .collect())
    }

    /// Inserts packets; with `returning`, reports which ids were really inserted.
    async fn insert_packets(
        &mut self,
        rows: &[(&Reception, i64)],
        returning: bool,
    ) -> Result<HashSet<i64>, sqlx::Error> {
        let conn = self;
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO packet (id, portnum, from_node_id, to_node_id, payload, import_time_us, channel) ",
        );
        q.push_values(rows, |mut b, (r, id)| {
            b.push_bind(*id)
                .push_bind(r.portnum)
                .push_bind(r.from as i64)
                .push_bind(r.to as i64)
                .push_bind(r.payload.as_slice())
                .push_bind(r.received_us)
                .push_bind(r.channel.as_str());
        });
        q.push(" ON CONFLICT (id) DO NOTHING");
        if !returning {
            q.build().persistent(false).execute(&mut *conn).await?;
            return Ok(HashSet::new());
        }
        q.push(" RETURNING id");
        Ok(q.build()
            .persistent(false)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.get::<i64, _>(0))
            .collect())
    }

    /// Inserts receptions; with `returning`, reports which were really inserted.
    async fn insert_receptions(
        &mut self,
        rows: &[(&Reception, i64)],
        returning: bool,
    ) -> Result<HashSet<(i64, i64, i64)>, sqlx::Error> {
        let conn = self;
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO packet_seen (packet_id, node_id, rx_time, hop_limit, hop_start, channel, rx_snr, rx_rssi, topic, import_time_us, relay_node) ",
        );
        q.push_values(rows, |mut b, (r, id)| {
            b.push_bind(*id)
                .push_bind(r.gateway as i64)
                .push_bind(r.rx_time)
                .push_bind(r.hop_limit)
                .push_bind(r.hop_start)
                .push_bind(r.channel.as_str())
                .push_bind(r.rx_snr as f64)
                .push_bind(r.rx_rssi)
                .push_bind(r.topic.as_str())
                .push_bind(r.received_us)
                .push_bind((r.relay_node != 0).then_some(r.relay_node as i64));
        });
        q.push(" ON CONFLICT DO NOTHING");
        if !returning {
            q.build().persistent(false).execute(&mut *conn).await?;
            return Ok(HashSet::new());
        }
        q.push(" RETURNING packet_id, node_id, rx_time");
        Ok(q.build()
            .persistent(false)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1), r.get::<i64, _>(2)))
            .collect())
    }

    /// `packet_text` rows: (packet id, import time, searchable text), at most [`CHUNK`].
    async fn insert_texts(&mut self, rows: &[(i64, i64, String)]) -> Result<(), sqlx::Error> {
        let conn = self;
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO packet_text (packet_id, import_time_us, text_lower) ",
            );
            q.push_values(chunk, |mut b, (id, at, text)| {
                b.push_bind(*id).push_bind(*at).push_bind(text.as_str());
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().persistent(false).execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn insert_traceroutes(
        &mut self,
        rows: &[(&Reception, i64, &TracerouteRow)],
    ) -> Result<(), sqlx::Error> {
        let conn = self;
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO traceroute (packet_id, gateway_node_id, done, route, import_time_us, route_return, request_id) ",
        );
        q.push_values(rows, |mut b, (r, id, t)| {
            b.push_bind(*id)
                .push_bind(r.gateway as i64)
                .push_bind(t.done)
                .push_bind(t.route.as_slice())
                .push_bind(r.received_us)
                .push_bind(t.route_return.as_deref())
                .push_bind(t.request_id);
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build().persistent(false).execute(&mut *conn).await?;
        Ok(())
    }

    async fn upsert_keys(&mut self, rows: &[(u32, String, i64, i64)]) -> Result<(), sqlx::Error> {
        let conn = self;
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO node_public_key (node_id, public_key, first_seen_us, last_seen_us) ",
        );
        q.push_values(rows, |mut b, (node, key, first, last)| {
            b.push_bind(*node as i64)
                .push_bind(key.as_str())
                .push_bind(*first)
                .push_bind(*last);
        });
        q.push(super::KEY_CONFLICT);
        q.build().persistent(false).execute(&mut *conn).await?;
        Ok(())
    }

    async fn upsert_nodes(&mut self, nodes: &[NodeWrite]) -> Result<(), sqlx::Error> {
        let conn = self;
        let mut q = QueryBuilder::<Sqlite>::new(super::NODE_INSERT);
        q.push_values(nodes, |mut b, n| {
            let f = node_fields(n);
            b.push_bind(format!("!{:08x}", n.node))
                .push_bind(n.node as i64)
                .push_bind(f.long_name)
                .push_bind(f.short_name)
                .push_bind(f.hw_model)
                .push_bind(f.firmware)
                .push_bind(f.role)
                .push_bind(f.position.map(|p| p.0))
                .push_bind(f.position.map(|p| p.1))
                .push_bind(f.channel)
                .push_bind(n.first_us)
                .push_bind(n.last_us)
                .push_bind(f.gateway.then_some(true));
        });
        q.push(super::NODE_CONFLICT);
        q.build().persistent(false).execute(&mut *conn).await?;
        Ok(())
    }

    async fn write_rollup(&mut self, rollup: &BatchRollup) -> Result<(), sqlx::Error> {
        crate::rollups::write_rollup_sqlite(self, rollup).await
    }

    async fn relay_candidates(&mut self) -> Result<Vec<(i64, i64, Option<f64>)>, sqlx::Error> {
        sqlx::query_as(crate::rollups::links::RESOLVER_LINKS)
            .fetch_all(&mut *self)
            .await
    }

    async fn insert_segment(&mut self, segment: &Segment) -> Result<(), sqlx::Error> {
        crate::archive::insert_sqlite(self, segment).await
    }
}
