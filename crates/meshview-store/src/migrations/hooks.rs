//! Rust steps of migrations, for data changes SQL cannot express (decoding stored
//! protobuf payloads). A migration names its hook in `migration.toml` (`hook = "…"`); it
//! runs after the upgrade SQL, inside the same transaction.

use crate::StoreError;
use crate::connect::Conn;

/// Every hook a migration may name.
pub const NAMES: &[&str] = &[
    "backfill_node_link",
    "backfill_packet_text",
    "backfill_link_quality",
    "rank_link_quality",
];

pub async fn run(name: &str, conn: &mut Conn) -> Result<(), StoreError> {
    match name {
        "backfill_node_link" => {
            let n = crate::rollups::rebuild_node_link(conn).await?;
            tracing::info!(
                links = n,
                "backfilled node_link from stored traceroutes and neighbour reports"
            );
            Ok(())
        }
        "backfill_packet_text" => crate::text::backfill(conn).await.map(|_| ()),
        "backfill_link_quality" => {
            // Migration 0014's: `link_quality.rank` comes with 0016, whose hook ranks.
            let n =
                crate::rollups::links::rebuild(conn, crate::rollups::links::Ranked::NotYet).await?;
            tracing::info!(
                links = n,
                "backfilled the link-quality model from stored rows"
            );
            Ok(())
        }
        "rank_link_quality" => {
            let n = crate::rollups::links::rank_all(conn).await?;
            tracing::info!(links = n, "ranked the link-quality model's links");
            Ok(())
        }
        other => Err(StoreError::Schema(format!(
            "unknown migration hook {other:?}"
        ))),
    }
}
