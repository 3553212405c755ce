//! `meshview db rebuild`: derives the stored rows again from the raw archive, through
//! today's pipeline and keys: after a decoder fix, or once a channel key is known.
//!
//! Under the migration lock (a writer that starts meanwhile waits): the rows stored from
//! the archive's first message (or `--since`) on are deleted, the archived messages are
//! replayed through the pipeline and the batch writer at their own receive times (packet
//! ids, times and slots come out as the first time), and the rollups are recomputed.
//! Rows older than the archive stay as they are. The reader keeps serving, but until the
//! replay ends it shows only what has been replayed so far.

use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::mpsc;

use super::pipeline::Pipeline;
use super::{Item, Source, WriterContext};
use crate::config::Config;
use meshview_store::connect::Conn;
use meshview_store::{Role, archive, migrations, retention, utc_text};

/// What a rebuild did.
#[derive(Debug)]
pub struct Rebuilt {
    pub from_us: i64,
    pub deleted: retention::DeletedFrom,
    pub messages: u64,
    pub packets: i64,
    pub receptions: i64,
    pub links: u64,
    pub seconds: f64,
}

/// Runs the whole rebuild. `since`: the first receive time to derive again (µs); the
/// archive's first message by default.
pub async fn run(
    ctx: WriterContext,
    chain: &migrations::Chain,
    since: Option<i64>,
) -> anyhow::Result<Rebuilt> {
    let started = Instant::now();
    let url = ctx.config.database.url.clone();
    let held = migrations::hold(&url, chain).await?;
    let result = async {
        let mut conn = Conn::open(&url, Role::Writer).await?;
        let stats = archive::stats(&mut conn).await?;
        let Some(first_us) = stats.first_us else {
            anyhow::bail!(
                "the archive is empty: nothing to rebuild from (archive.enabled keeps the messages the writer accepts from now on)"
            );
        };
        let from_us = match since {
            Some(s) if s < first_us => anyhow::bail!(
                "--since is before the archive's first message ({}): rows older than that cannot be derived again",
                utc_text(first_us)
            ),
            Some(s) => s,
            None => first_us,
        };
        let total = archive::count_from(&mut conn, from_us).await?;
        eprintln!(
            "rebuild: {total} archived messages from {}; until the replay ends the pages and the API show only what has been replayed",
            utc_text(from_us)
        );
        let mut shown = Instant::now();
        let deleted = retention::delete_from(&mut conn, from_us, |d| {
            if shown.elapsed().as_secs() >= 5 {
                shown = Instant::now();
                eprintln!(
                    "rebuild: deleted {} packets and {} receptions so far",
                    d.packets, d.receptions
                );
            }
        })
        .await?;
        eprintln!(
            "rebuild: deleted {} packets, {} receptions, {} traceroutes stored since then",
            deleted.packets, deleted.receptions, deleted.traceroutes
        );
        conn.close().await;
        // The replay must not archive the messages a second time.
        let mut config = (*ctx.config).clone();
        config.archive.enabled = false;
        let writer = WriterContext {
            config: std::sync::Arc::new(config),
            ..ctx.clone()
        };
        super::run(writer, Source::Archive { from_us, total }).await?;
        Ok((from_us, deleted, total))
    }
    .await;
    held.release().await;
    let (from_us, deleted, messages) = result?;
    eprintln!("rebuild: recomputing the rollups and the link model");
    let r = migrations::rebuild_rollups(&url, chain).await?;
    let s = ctx.stats.snapshot();
    Ok(Rebuilt {
        from_us,
        deleted,
        messages,
        packets: s.packets_stored as i64,
        receptions: s.receptions_stored as i64,
        links: r.links,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The archive's messages from `from_us` on into the pipeline, at their own times.
pub(super) async fn from_archive(
    config: &Config,
    from_us: i64,
    total: u64,
    pipeline: &mut Pipeline,
    tx: &mpsc::Sender<Item>,
) -> anyhow::Result<()> {
    let mut conn = Conn::open(&config.database.url, Role::Reader).await?;
    let mut done = 0u64;
    let mut shown = Instant::now();
    let replayed = archive::replay(&mut conn, from_us, async |messages| {
        for m in messages {
            if let Some(op) = pipeline.handle(&m.topic, &m.payload, m.at_us)
                && tx.send((op, None, None)).await.is_err()
            {
                return Err(meshview_store::StoreError::Refused(
                    "the batch writer stopped".into(),
                ));
            }
            done += 1;
        }
        if shown.elapsed().as_secs() >= 5 {
            shown = Instant::now();
            eprintln!(
                "rebuild: replayed {done} of {total} messages ({:.0} %)",
                done as f64 * 100.0 / total.max(1) as f64
            );
        }
        Ok(())
    })
    .await
    .context("replaying the archive");
    conn.close().await;
    let replayed = replayed?;
    eprintln!("rebuild: replayed {replayed} of {total} messages");
    Ok(())
}
