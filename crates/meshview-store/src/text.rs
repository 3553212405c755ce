//! `packet_text`: the searchable text of broadcast text messages, which the writer keeps
//! beside each new packet and migration `e541f28131e3` backfilled. Text searches read it
//! instead of decoding every stored message (see `store::read::packets`).

use meshview_protocol::payload::searchable_text;
use meshview_protocol::pb::mesh_packet::PayloadVariant;
use meshview_protocol::{NodeId, pb};
use prost::Message;

use crate::connect::Conn;
use crate::{SqlContext, StoreError};

/// What a search matches for a stored packet (`packet.payload`, MeshPacket bytes):
/// [`searchable_text`] of its decoded payload; `None` when it was never decrypted.
pub fn stored_searchable_text(portnum: i32, to: i64, stored: &[u8]) -> Option<String> {
    let packet = pb::MeshPacket::decode(stored).ok()?;
    match &packet.payload_variant {
        Some(PayloadVariant::Decoded(d)) => searchable_text(portnum, NodeId(to as u32), d),
        _ => None,
    }
}

/// Rows per read and per insert of the backfill.
const BACKFILL_BATCH: i64 = 5000;

/// Fills `packet_text` from every stored text message (the migration's hook; runs inside
/// its transaction). Reads the port's index in keyset order (the leading `>=` is the
/// index range; each page starts where the last ended), logging progress.
pub async fn backfill(conn: &mut Conn) -> Result<u64, StoreError> {
    const Q: &str = "SELECT id, to_node_id, payload, import_time_us FROM packet \
         WHERE portnum = 1 AND import_time_us >= $1 AND (import_time_us > $1 OR id > $2) \
         ORDER BY import_time_us, id LIMIT $3";
    let started = std::time::Instant::now();
    let (mut at, mut after_id) = (i64::MIN, i64::MIN);
    let (mut read, mut written) = (0u64, 0u64);
    let mut last_log = std::time::Instant::now();
    // The total, for progress (the port's index counts it).
    let total = conn
        .scalar_i64("SELECT COUNT(*) FROM packet WHERE portnum = 1 AND import_time_us IS NOT NULL")
        .await
        .context("counting stored text messages")? as u64;
    loop {
        type Row = (i64, Option<i64>, Option<Vec<u8>>, i64);
        // The same statement on either backend (sqlx types differ per database).
        macro_rules! page {
            ($c:expr) => {
                sqlx::query_as(Q)
                    .bind(at)
                    .bind(after_id)
                    .bind(BACKFILL_BATCH)
                    .fetch_all(&mut *$c)
                    .await
            };
        }
        let rows: Vec<Row> = match conn {
            Conn::Sqlite(c) => page!(c),
            Conn::Postgres(c) => page!(c),
        }
        .context("reading stored text messages")?;
        let Some(last) = rows.last() else { break };
        (at, after_id) = (last.3, last.0);
        read += rows.len() as u64;
        let texts: Vec<(i64, i64, String)> = rows
            .iter()
            .filter_map(|(id, to, payload, at)| {
                let text = stored_searchable_text(1, (*to)?, payload.as_deref()?)?;
                Some((*id, *at, text))
            })
            .collect();
        written += texts.len() as u64;
        crate::write::insert_texts(conn, &texts)
            .await
            .context("writing packet_text")?;
        crate::progress::rows(read, total).await;
        if last_log.elapsed().as_secs() >= 5 {
            last_log = std::time::Instant::now();
            tracing::info!(
                messages = read,
                searchable = written,
                "backfilling packet_text"
            );
        }
        if (rows.len() as i64) < BACKFILL_BATCH {
            break;
        }
    }
    tracing::info!(
        messages = read,
        searchable = written,
        ms = started.elapsed().as_millis() as u64,
        "backfilled packet_text from stored text messages"
    );
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROADCAST: i64 = 0xFFFF_FFFF;

    fn stored(to: u32, text: &[u8], decoded: bool) -> Vec<u8> {
        pb::MeshPacket {
            from: 1,
            to,
            id: 7,
            payload_variant: Some(if decoded {
                PayloadVariant::Decoded(pb::Data {
                    portnum: 1,
                    payload: text.to_vec(),
                    ..Default::default()
                })
            } else {
                PayloadVariant::Encrypted(text.to_vec())
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn only_shown_broadcast_text_is_searchable() {
        let b = 0xFFFF_FFFF;
        assert_eq!(
            stored_searchable_text(
                1,
                BROADCAST,
                &stored(b, " Check-in #BayMeshNet ÄÖ \n".as_bytes(), true)
            ),
            Some("check-in #baymeshnet äö".to_string())
        );
        // Redacted (direct), undecryptable, other ports, noise: never found.
        assert_eq!(
            stored_searchable_text(1, 5, &stored(5, b"secret", true)),
            None
        );
        assert_eq!(
            stored_searchable_text(1, BROADCAST, &stored(b, b"x", false)),
            None
        );
        assert_eq!(
            stored_searchable_text(3, BROADCAST, &stored(b, b"hello", true)),
            None
        );
        assert_eq!(
            stored_searchable_text(1, BROADCAST, &stored(b, b"seq 12", true)),
            None
        );
        assert_eq!(
            stored_searchable_text(1, BROADCAST, &stored(b, b"  ", true)),
            None
        );
        assert_eq!(stored_searchable_text(1, BROADCAST, b"\xff\xff"), None);
    }
}
