//! Publishing simulated traffic to a real broker (`meshview simulate --publish`).

use std::time::Duration;

use anyhow::Context as _;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::ingest::mqtt::MqttSettings;

/// Publishes every `(topic, payload)` at up to `rate` messages per second (0 = as fast as
/// the connection goes), then waits until the broker has taken them all.
pub async fn publish(
    messages: impl Iterator<Item = (String, Vec<u8>)>,
    settings: &MqttSettings,
    rate: f64,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<usize> {
    let mut opts = MqttOptions::new(
        // Its own id: never the writer's, whose session it would take over.
        format!(
            "{}-sim",
            settings
                .client_id
                .clone()
                .unwrap_or_else(crate::ingest::mqtt::random_client_id)
        ),
        &settings.host,
        settings.port,
    );
    opts.set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(1024 * 1024, 1024 * 1024)
        // A wide window of unacknowledged QoS 1 messages: the broker, not round trips,
        // sets the pace.
        .set_inflight(1000);
    if let Some(user) = &settings.username {
        opts.set_credentials(user, settings.password.clone().unwrap_or_default());
    }
    if settings.tls {
        crate::tls::install_crypto_provider();
        opts.set_transport(match &settings.ca_pem {
            Some(ca) => rumqttc::Transport::tls(ca.clone(), None, None),
            None => rumqttc::Transport::tls_with_default_config(),
        });
    }
    let (client, mut eventloop) = AsyncClient::new(opts, 1000);
    // QoS 1 so the count of acknowledged messages proves the broker took them.
    let driver = tokio::spawn(async move {
        let mut acked = 0usize;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(Event::Incoming(Packet::Disconnect)) => return Ok(acked),
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return Ok(acked),
                Ok(_) => {}
                Err(e) => return Err(anyhow::anyhow!("MQTT: {e}")),
            }
        }
    });
    let started = tokio::time::Instant::now();
    let mut sent = 0usize;
    for (topic, payload) in messages {
        if rate > 0.0 {
            let due = started + Duration::from_secs_f64(sent as f64 / rate);
            tokio::time::sleep_until(due).await;
        }
        client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .context("publishing")?;
        sent += 1;
        if sent.is_multiple_of(1000) {
            progress(sent);
        }
    }
    // Give the broker time to acknowledge what is in flight, then disconnect.
    tokio::time::sleep(Duration::from_millis(200)).await;
    client.disconnect().await.ok();
    let acked = tokio::time::timeout(Duration::from_secs(30), driver)
        .await
        .context("waiting for the broker's acknowledgements")??
        .context("publisher connection")?;
    if acked < sent {
        tracing::warn!(
            sent,
            acked,
            "the broker acknowledged fewer messages than were sent"
        );
    }
    Ok(sent)
}
