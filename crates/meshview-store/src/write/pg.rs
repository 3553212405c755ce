//! PostgreSQL statements of the batch writer: `INSERT … SELECT FROM UNNEST($1, …)` with one
//! array per column. A multi-row `VALUES` list with thousands of bind parameters costs
//! PostgreSQL several times more to parse and plan than the insert itself.

use std::collections::HashSet;

use sqlx::{PgConnection, Row};

use super::{BatchStatements, NodeWrite, node_fields};
use crate::archive::Segment;
use crate::ops::{Reception, TracerouteRow};
use crate::rollups::BatchRollup;

/// Arrays have no parameter limit: a whole batch goes in one statement per table. Fewer
/// round trips matter: sqlx 0.9.0 leaves Nagle's algorithm on, so every large statement
/// can wait ~40 ms for the server's delayed ACK (transact-rs/sqlx#4335).
const CHUNK: usize = usize::MAX;

impl BatchStatements for PgConnection {
    const CHUNK: usize = CHUNK;

    async fn lookup(&mut self, ids: &[i64]) -> Result<Vec<(i64, u32, i32)>, sqlx::Error> {
        let conn = self;
        Ok(
            sqlx::query("SELECT id, from_node_id, portnum FROM packet WHERE id = ANY($1)")
                .bind(ids)
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
                .collect(),
        )
    }

    async fn insert_packets(
        &mut self,
        rows: &[(&Reception, i64)],
        returning: bool,
    ) -> Result<HashSet<i64>, sqlx::Error> {
        let conn = self;
        let sql = if returning {
            "INSERT INTO packet (id, portnum, from_node_id, to_node_id, payload, import_time_us, channel) \
         SELECT * FROM UNNEST($1::bigint[], $2::int[], $3::bigint[], $4::bigint[], $5::bytea[], $6::bigint[], $7::varchar[]) \
         ON CONFLICT (id) DO NOTHING RETURNING id"
        } else {
            "INSERT INTO packet (id, portnum, from_node_id, to_node_id, payload, import_time_us, channel) \
         SELECT * FROM UNNEST($1::bigint[], $2::int[], $3::bigint[], $4::bigint[], $5::bytea[], $6::bigint[], $7::varchar[]) \
         ON CONFLICT (id) DO NOTHING"
        };
        let q = sqlx::query(sql)
            .bind(rows.iter().map(|(_, id)| *id).collect::<Vec<i64>>())
            .bind(rows.iter().map(|(r, _)| r.portnum).collect::<Vec<i32>>())
            .bind(
                rows.iter()
                    .map(|(r, _)| r.from as i64)
                    .collect::<Vec<i64>>(),
            )
            .bind(rows.iter().map(|(r, _)| r.to as i64).collect::<Vec<i64>>())
            .bind(
                rows.iter()
                    .map(|(r, _)| r.payload.clone())
                    .collect::<Vec<Vec<u8>>>(),
            )
            .bind(
                rows.iter()
                    .map(|(r, _)| r.received_us)
                    .collect::<Vec<i64>>(),
            )
            .bind(
                rows.iter()
                    .map(|(r, _)| r.channel.clone())
                    .collect::<Vec<String>>(),
            );
        if !returning {
            q.execute(&mut *conn).await?;
            return Ok(HashSet::new());
        }
        Ok(q.fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.get::<i64, _>(0))
            .collect())
    }

    async fn insert_receptions(
        &mut self,
        rows: &[(&Reception, i64)],
        returning: bool,
    ) -> Result<HashSet<(i64, i64, i64)>, sqlx::Error> {
        let conn = self;
        let base = "INSERT INTO packet_seen (packet_id, node_id, rx_time, hop_limit, hop_start, channel, rx_snr, rx_rssi, topic, import_time_us, relay_node) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::int[], $5::int[], $6::varchar[], $7::float8[], $8::int[], $9::varchar[], $10::bigint[], $11::int[]) \
         ON CONFLICT DO NOTHING";
        let sql = if returning {
            format!("{base} RETURNING packet_id, node_id, rx_time")
        } else {
            base.to_string()
        };
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(rows.iter().map(|(_, id)| *id).collect::<Vec<i64>>())
            .bind(
                rows.iter()
                    .map(|(r, _)| r.gateway as i64)
                    .collect::<Vec<i64>>(),
            )
            .bind(rows.iter().map(|(r, _)| r.rx_time).collect::<Vec<i64>>())
            .bind(rows.iter().map(|(r, _)| r.hop_limit).collect::<Vec<i32>>())
            .bind(rows.iter().map(|(r, _)| r.hop_start).collect::<Vec<i32>>())
            .bind(
                rows.iter()
                    .map(|(r, _)| r.channel.clone())
                    .collect::<Vec<String>>(),
            )
            .bind(
                rows.iter()
                    .map(|(r, _)| r.rx_snr as f64)
                    .collect::<Vec<f64>>(),
            )
            .bind(rows.iter().map(|(r, _)| r.rx_rssi).collect::<Vec<i32>>())
            .bind(
                rows.iter()
                    .map(|(r, _)| r.topic.clone())
                    .collect::<Vec<String>>(),
            )
            .bind(
                rows.iter()
                    .map(|(r, _)| r.received_us)
                    .collect::<Vec<i64>>(),
            )
            .bind(
                rows.iter()
                    .map(|(r, _)| (r.relay_node != 0).then_some(r.relay_node as i32))
                    .collect::<Vec<Option<i32>>>(),
            );
        if !returning {
            q.execute(&mut *conn).await?;
            return Ok(HashSet::new());
        }
        Ok(q.fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1), r.get::<i64, _>(2)))
            .collect())
    }

    async fn insert_traceroutes(
        &mut self,
        rows: &[(&Reception, i64, &TracerouteRow)],
    ) -> Result<(), sqlx::Error> {
        let conn = self;
        sqlx::query(
        "INSERT INTO traceroute (packet_id, gateway_node_id, done, route, import_time_us, route_return, request_id) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bool[], $4::bytea[], $5::bigint[], $6::bytea[], $7::bigint[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(rows.iter().map(|(_, id, _)| *id).collect::<Vec<i64>>())
    .bind(rows.iter().map(|(r, _, _)| r.gateway as i64).collect::<Vec<i64>>())
    .bind(rows.iter().map(|(_, _, t)| t.done).collect::<Vec<bool>>())
    .bind(rows.iter().map(|(_, _, t)| t.route.clone()).collect::<Vec<Vec<u8>>>())
    .bind(rows.iter().map(|(r, _, _)| r.received_us).collect::<Vec<i64>>())
    .bind(rows.iter().map(|(_, _, t)| t.route_return.clone()).collect::<Vec<Option<Vec<u8>>>>())
    .bind(rows.iter().map(|(_, _, t)| t.request_id).collect::<Vec<Option<i64>>>())
    .execute(&mut *conn)
    .await?;
        Ok(())
    }

    /// `packet_text` rows: (packet id, import time, searchable text).
    async fn insert_texts(&mut self, rows: &[(i64, i64, String)]) -> Result<(), sqlx::Error> {
        let conn = self;
        if rows.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO packet_text (packet_id, import_time_us, text_lower) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(rows.iter().map(|r| r.0).collect::<Vec<i64>>())
        .bind(rows.iter().map(|r| r.1).collect::<Vec<i64>>())
        .bind(rows.iter().map(|r| r.2.as_str()).collect::<Vec<&str>>())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn upsert_keys(&mut self, rows: &[(u32, String, i64, i64)]) -> Result<(), sqlx::Error> {
        let conn = self;
        let sql = format!(
            "INSERT INTO node_public_key (node_id, public_key, first_seen_us, last_seen_us) \
         SELECT * FROM UNNEST($1::bigint[], $2::varchar[], $3::bigint[], $4::bigint[]){}",
            super::KEY_CONFLICT
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(rows.iter().map(|r| r.0 as i64).collect::<Vec<i64>>())
            .bind(rows.iter().map(|r| r.1.clone()).collect::<Vec<String>>())
            .bind(rows.iter().map(|r| r.2).collect::<Vec<i64>>())
            .bind(rows.iter().map(|r| r.3).collect::<Vec<i64>>())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn upsert_nodes(&mut self, nodes: &[NodeWrite]) -> Result<(), sqlx::Error> {
        let conn = self;
        let fields: Vec<_> = nodes.iter().map(node_fields).collect();
        let sql = format!(
            "{} SELECT * FROM UNNEST($1::varchar[], $2::bigint[], $3::varchar[], $4::varchar[], $5::varchar[], \
         $6::varchar[], $7::varchar[], $8::bigint[], $9::bigint[], $10::varchar[], $11::bigint[], $12::bigint[], $13::bool[]){}",
            super::NODE_INSERT,
            super::NODE_CONFLICT
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(
                nodes
                    .iter()
                    .map(|n| format!("!{:08x}", n.node))
                    .collect::<Vec<String>>(),
            )
            .bind(nodes.iter().map(|n| n.node as i64).collect::<Vec<i64>>())
            .bind(
                fields
                    .iter()
                    .map(|f| f.long_name.clone())
                    .collect::<Vec<Option<String>>>(),
            )
            .bind(
                fields
                    .iter()
                    .map(|f| f.short_name.clone())
                    .collect::<Vec<Option<String>>>(),
            )
            .bind(
                fields
                    .iter()
                    .map(|f| f.hw_model.clone())
                    .collect::<Vec<Option<String>>>(),
            )
            .bind(
                fields
                    .iter()
                    .map(|f| f.firmware.clone())
                    .collect::<Vec<Option<String>>>(),
            )
            .bind(
                fields
                    .iter()
                    .map(|f| f.role.clone())
                    .collect::<Vec<Option<String>>>(),
            )
            .bind(
                fields
                    .iter()
                    .map(|f| f.position.map(|p| p.0))
                    .collect::<Vec<Option<i64>>>(),
            )
            .bind(
                fields
                    .iter()
                    .map(|f| f.position.map(|p| p.1))
                    .collect::<Vec<Option<i64>>>(),
            )
            .bind(
                fields
                    .iter()
                    .map(|f| f.channel.clone())
                    .collect::<Vec<Option<String>>>(),
            )
            .bind(nodes.iter().map(|n| n.first_us).collect::<Vec<i64>>())
            .bind(nodes.iter().map(|n| n.last_us).collect::<Vec<i64>>())
            .bind(
                fields
                    .iter()
                    .map(|f| f.gateway.then_some(true))
                    .collect::<Vec<Option<bool>>>(),
            )
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn write_rollup(&mut self, rollup: &BatchRollup) -> Result<(), sqlx::Error> {
        crate::rollups::write_rollup_pg(self, rollup).await
    }

    async fn relay_candidates(&mut self) -> Result<Vec<(i64, i64, Option<f64>)>, sqlx::Error> {
        sqlx::query_as(crate::rollups::links::RESOLVER_LINKS)
            .fetch_all(&mut *self)
            .await
    }

    async fn insert_segment(&mut self, segment: &Segment) -> Result<(), sqlx::Error> {
        crate::archive::insert_pg(self, segment).await
    }
}
