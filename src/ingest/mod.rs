//! The writer's ingest loop (MQTT → decode → store).

use crate::app::Context;

/// Runs until shutdown.
pub async fn run(ctx: Context) -> anyhow::Result<()> {
    ctx.shutdown.cancelled().await;
    Ok(())
}
