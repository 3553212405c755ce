//! The raw archive's upkeep, every 10 minutes while the writer runs: joins the small
//! segments a quiet mesh writes (see `meshview_store::archive::compact`) and deletes
//! messages older than `archive.days_to_keep`. Failures are logged and tried again at the
//! next round. Each round opens a connection of its own and closes it: a second connection
//! in the writer's pool would be taken in turn by the batch writer, and its page cache
//! filled too (measured: 14 MB more writer memory).

use std::sync::Arc;
use std::time::Duration;

use meshview_store::connect::Conn;
use meshview_store::{DatabaseUrl, Role, archive, now_us};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Between rounds.
const EVERY: Duration = Duration::from_secs(600);
/// Segments younger than this are left alone: the batch writer may still be writing their
/// neighbours.
const SETTLE_US: i64 = 60_000_000;
const DAY_US: i64 = 86_400_000_000;

pub async fn run(config: Arc<Config>, shutdown: CancellationToken) {
    if !config.archive.enabled {
        return;
    }
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        upkeep(&config.database.url, config.archive.days_to_keep).await;
    }
}

/// One round: compaction, then the purge.
pub async fn upkeep(url: &DatabaseUrl, days_to_keep: u32) {
    let mut conn = match Conn::open(url, Role::Writer).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "archive: cannot connect; tried again in 10 minutes");
            return;
        }
    };
    let now = now_us();
    match archive::compact(&mut conn, now - SETTLE_US).await {
        Ok(c) if c.joined > 0 => tracing::info!(
            joined = c.joined,
            into = c.into,
            messages = c.messages,
            bytes_before = c.bytes_before,
            bytes_after = c.bytes_after,
            "archive: joined small segments"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "archive: compaction failed; tried again in 10 minutes")
        }
    }
    let cutoff = now - i64::from(days_to_keep) * DAY_US;
    match archive::purge_before(&mut conn, cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(messages = n, days_to_keep, "archive: deleted old messages"),
        Err(e) => tracing::warn!(error = %e, "archive: purge failed; tried again in 10 minutes"),
    }
    conn.close().await;
}
