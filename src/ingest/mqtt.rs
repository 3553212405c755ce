//! The MQTT transport: connect, subscribe, reconnect with capped backoff, resubscribe.
//! Knows bytes and topics, nothing of Meshtastic.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, Transport};
use tokio_util::sync::CancellationToken;

use crate::config::Mqtt;

/// How the transport connects.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    pub host: String,
    pub port: u16,
    pub topics: Vec<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: String,
    pub tls: bool,
    pub ca_pem: Option<Vec<u8>>,
}

impl MqttSettings {
    pub fn from_config(m: &Mqtt) -> anyhow::Result<MqttSettings> {
        let ca_pem = match &m.ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| {
                anyhow::anyhow!(
                    "config error: mqtt.ca_file = {:?}: cannot read it: {e}",
                    p.display().to_string()
                )
            })?),
            None => None,
        };
        Ok(MqttSettings {
            host: m.server.clone(),
            port: m.port,
            topics: m.topics.clone(),
            username: m.username.clone(),
            password: (!m.password.is_empty()).then(|| m.password.expose().to_string()),
            client_id: m
                .client_id
                .clone()
                .unwrap_or_else(|| format!("meshview-{:08x}", rand::random::<u32>())),
            tls: m.tls,
            ca_pem,
        })
    }
}

/// Connection state, logged once per change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    Connected,
    Disconnected,
}

/// Receives until shutdown, handing every publish to `on_message`. While the handler
/// waits (a full queue), the connection is not read, so bursts back up into the TCP
/// socket and the broker instead of being dropped at once.
pub async fn run(
    settings: MqttSettings,
    shutdown: CancellationToken,
    mut on_message: impl AsyncFnMut(&str, &[u8]),
) -> anyhow::Result<()> {
    let mut opts = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
    opts.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        // Meshtastic envelopes are small, but a hostile 64 KiB+ payload must not kill the
        // connection: allow up to 1 MiB and reject big ones in the decoder.
        .set_max_packet_size(1024 * 1024, 64 * 1024)
        .set_request_channel_capacity(settings.topics.len() + 16);
    if let Some(user) = &settings.username {
        opts.set_credentials(user, settings.password.clone().unwrap_or_default());
    }
    if settings.tls {
        crate::tls::install_crypto_provider();
        opts.set_transport(match &settings.ca_pem {
            Some(ca) => Transport::tls(ca.clone(), None, None),
            None => Transport::tls_with_default_config(),
        });
    }
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    let mut state = State::Connecting;
    let mut backoff = Duration::from_millis(500);
    tracing::info!(
        broker = %format!("{}:{}", settings.host, settings.port),
        tls = settings.tls,
        client_id = %settings.client_id,
        "connecting to MQTT"
    );
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            _ = shutdown.cancelled() => {
                let _ = client.try_disconnect();
                return Ok(());
            }
        };
        match event {
            Ok(Event::Incoming(Packet::Publish(p))) => on_message(&p.topic, &p.payload).await,
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if state != State::Connected {
                    tracing::info!(topics = ?settings.topics, "MQTT connected; subscribing");
                }
                state = State::Connected;
                backoff = Duration::from_millis(500);
                // A clean session forgets subscriptions: subscribe on every (re)connect.
                for t in &settings.topics {
                    if let Err(e) = client.try_subscribe(t, QoS::AtMostOnce) {
                        tracing::error!(topic = %t, error = %e, "cannot subscribe");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                for code in &ack.return_codes {
                    if matches!(code, rumqttc::SubscribeReasonCode::Failure) {
                        tracing::error!(
                            "the broker refused a subscription (check the topic and ACLs)"
                        );
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                if state != State::Disconnected {
                    tracing::warn!(error = %e, "MQTT connection lost; reconnecting with backoff");
                }
                state = State::Disconnected;
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => return Ok(()),
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
