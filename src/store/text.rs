//! `packet_text`: the searchable text of broadcast text messages, which the writer keeps
//! beside each new packet and migration `e541f28131e3` backfilled. Text searches read it
//! instead of decoding every stored message (see `store::read::packets`).

use meshview_protocol::pb;
use meshview_protocol::pb::mesh_packet::PayloadVariant;
use prost::Message;

use crate::store::connect::Conn;
use crate::store::{SqlContext, StoreError};

/// Meshtastic's TEXT_MESSAGE_APP port.
const PORT_TEXT: i32 = 1;
const BROADCAST: i64 = 0xFFFF_FFFF;

/// The text of a decoded text message as shown: lossy UTF-8, trimmed.
pub fn data_text(data: &pb::Data) -> String {
    String::from_utf8_lossy(&data.payload).trim().to_string()
}

/// [`data_text`] of a stored packet; `None` when it was not decrypted.
pub fn message_text(stored: &[u8]) -> Option<String> {
    let packet = pb::MeshPacket::decode(stored).ok()?;
    match packet.payload_variant {
        Some(PayloadVariant::Decoded(d)) => Some(data_text(&d)),
        _ => None,
    }
}

/// Range-test noise MeshView hides from text lists: an empty text or `seq <n>`.
pub fn is_text_noise(text: &str) -> bool {
    let t = text.trim();
    t.is_empty()
        || t.strip_prefix("seq ")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What a search matches for a stored packet: the shown text of a decoded broadcast
/// text message, lower-cased; `None` for anything a search never finds (other ports,
/// direct messages, undecryptable packets, noise).
pub fn searchable_text(portnum: i32, to: i64, stored: &[u8]) -> Option<String> {
    if portnum != PORT_TEXT || to != BROADCAST {
        return None;
    }
    let text = message_text(stored)?;
    (!is_text_noise(&text)).then(|| text.to_lowercase())
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
                let text = searchable_text(PORT_TEXT, (*to)?, payload.as_deref()?)?;
                Some((*id, *at, text))
            })
            .collect();
        written += texts.len() as u64;
        match conn {
            Conn::Sqlite(c) => crate::store::write::bulk_sqlite::insert_texts(c, &texts).await,
            Conn::Postgres(c) => crate::store::write::bulk_pg::insert_texts(c, &texts).await,
        }
        .context("writing packet_text")?;
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
            searchable_text(
                1,
                BROADCAST,
                &stored(b, " Check-in #BayMeshNet ÄÖ \n".as_bytes(), true)
            ),
            Some("check-in #baymeshnet äö".to_string())
        );
        // Redacted (direct), undecryptable, other ports, noise: never found.
        assert_eq!(searchable_text(1, 5, &stored(5, b"secret", true)), None);
        assert_eq!(searchable_text(1, BROADCAST, &stored(b, b"x", false)), None);
        assert_eq!(
            searchable_text(3, BROADCAST, &stored(b, b"hello", true)),
            None
        );
        assert_eq!(
            searchable_text(1, BROADCAST, &stored(b, b"seq 12", true)),
            None
        );
        assert_eq!(searchable_text(1, BROADCAST, &stored(b, b"  ", true)), None);
        assert_eq!(searchable_text(1, BROADCAST, b"\xff\xff"), None);
        assert!(is_text_noise("seq 12"));
        assert!(!is_text_noise("seq twelve"));
    }
}
