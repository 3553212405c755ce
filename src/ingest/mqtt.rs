//! The MQTT transport: connect, subscribe, reconnect with capped backoff, resubscribe, and
//! (with a persistent session) acknowledge each message once the writer has committed it.
//! Knows bytes and topics, nothing of Meshtastic.
//!
//! ## Delivery
//!
//! With `mqtt.persistent_session` (the default) the writer connects with a stable client id
//! and `clean_session = false`, subscribes at QoS 1 and acknowledges by hand: a message's
//! PUBACK is sent only after the batch holding it has committed (or the pipeline rejected
//! it, which is handling it too). The broker therefore keeps, and redelivers after a
//! reconnect, whatever the writer had not stored when it died; messages published while it
//! was down wait in the broker's queue for the session. Redeliveries are harmless: every
//! write is idempotent. Acknowledgements go out in the order the messages arrived (MQTT
//! 3.1.1 asks for that), and only on the connection that delivered them: after a
//! reconnect the broker resends what was not acknowledged, so an acknowledgement for the old
//! connection's packet id could only ever acknowledge the wrong message.

use std::collections::VecDeque;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Outgoing,
    Packet, Publish, QoS, SubscribeReasonCode, Transport,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::stats::{IngestStats, MqttSession};
use crate::config::Mqtt;

/// How the transport connects.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    pub host: String,
    pub port: u16,
    pub topics: Vec<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `mqtt.client_id`, when the operator set one.
    pub client_id: Option<String>,
    pub tls: bool,
    pub ca_pem: Option<Vec<u8>>,
    /// `mqtt.persistent_session`.
    pub persistent_session: bool,
}

/// The client id the writer connects with, and whether its session is persistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub client_id: String,
    pub persistent: bool,
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
            client_id: m.client_id.clone(),
            tls: m.tls,
            ca_pem,
            persistent_session: m.persistent_session,
        })
    }

    /// The writer's session. `store` names the database the writer stores into (see
    /// [`derived_client_id`]).
    ///
    /// - `persistent_session = false`: today's clean session, with `client_id` or a random id.
    /// - `client_id` set: that id, persistent.
    /// - Shared subscriptions (`$share/…`) without a `client_id`: the writers of one group
    ///   have the same configuration, so an id derived from it would be the same for all of
    ///   them and they would throw each other off the broker; they keep a random id and a
    ///   clean session (logged), until each is given its own `client_id`.
    /// - Otherwise an id derived from the database and the topics, so that a restarted
    ///   writer finds its session again.
    pub fn session(&self, store: &str) -> Session {
        if !self.persistent_session {
            return Session {
                client_id: self.client_id.clone().unwrap_or_else(random_client_id),
                persistent: false,
            };
        }
        if let Some(id) = &self.client_id {
            return Session {
                client_id: id.clone(),
                persistent: true,
            };
        }
        if self.topics.iter().any(|t| t.starts_with("$share/")) {
            tracing::warn!(
                "shared subscriptions without mqtt.client_id: using a random client id and a \
                 clean session (give each writer its own client_id for a persistent session)"
            );
            return Session {
                client_id: random_client_id(),
                persistent: false,
            };
        }
        Session {
            client_id: derived_client_id(store, &self.topics),
            persistent: true,
        }
    }
}

/// `meshview-` and eight random hex digits: today's id of a clean session.
pub fn random_client_id() -> String {
    format!("meshview-{:08x}", rand::random::<u32>())
}

/// A stable client id for the writer storing `topics` into the database `store`:
/// `meshview` and 15 hex digits of a hash (23 characters of `[0-9a-z]`, which MQTT 3.1.1
/// obliges every broker to accept). The same writer restarted (or upgraded, or moved to a
/// new container) gets the same id and finds its session; writers of other databases or
/// other topics on the same broker get other ids. FNV-1a, written out, so the id never
/// changes with a library or compiler version.
pub fn derived_client_id(store: &str, topics: &[String]) -> String {
    let mut topics: Vec<&str> = topics.iter().map(|t| t.as_str()).collect();
    topics.sort_unstable();
    topics.dedup();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in std::iter::once(store).chain(topics) {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("meshview{:015x}", h >> 4)
}

/// What became of a message handed to the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Handled now: rejected by the pipeline, or dropped and counted. Acknowledged.
    Done,
    /// In the writer's queue with its ticket: acknowledged once the writer reports the
    /// ticket committed.
    Queued,
    /// Not handled (the writer is stopping): never acknowledged, so the broker keeps it.
    Abandoned,
}

/// A received QoS 1 message waiting for its acknowledgement.
struct Unacked {
    ticket: u64,
    publish: Publish,
    done: bool,
}

/// Connection state, logged once per change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    Connected,
    Disconnected,
}

fn client(settings: &MqttSettings, session: &Session) -> (AsyncClient, EventLoop) {
    let mut opts = MqttOptions::new(&session.client_id, &settings.host, settings.port);
    opts.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(!session.persistent)
        .set_manual_acks(session.persistent)
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
    AsyncClient::new(opts, 1024)
}

/// Receives until shutdown, handing every publish to `on_message` with its ticket (QoS 1
/// messages of a persistent session; `None` otherwise). While the handler waits (a full
/// queue), the connection is not read, so bursts back up into the TCP socket and the broker
/// instead of being dropped at once. `committed` carries the writer's last committed
/// ticket. At shutdown the handler is dropped (closing the writer's queue) and, with a
/// persistent session, what the writer commits meanwhile is still acknowledged.
pub async fn run(
    settings: MqttSettings,
    mut session: Session,
    shutdown: CancellationToken,
    stats: &IngestStats,
    mut committed: watch::Receiver<u64>,
    mut on_message: impl AsyncFnMut(&str, &[u8], Option<u64>) -> Delivery,
) -> anyhow::Result<()> {
    let (mut client, mut eventloop) = client(&settings, &session);
    stats.set_mqtt_session(if session.persistent {
        MqttSession::Persistent
    } else {
        MqttSession::Clean
    });
    let mut state = State::Connecting;
    let mut backoff = Duration::from_millis(500);
    let mut connected_once = false;
    let mut refusal_logged = false;
    let mut next_ticket = 1u64;
    let mut unacked: VecDeque<Unacked> = VecDeque::new();
    tracing::info!(
        broker = %format!("{}:{}", settings.host, settings.port),
        tls = settings.tls,
        client_id = %session.client_id,
        session = %if session.persistent { "persistent" } else { "clean" },
        "connecting to MQTT"
    );
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            Ok(()) = committed.changed(), if session.persistent => {
                ack_ready(&client, &mut unacked, *committed.borrow_and_update());
                continue;
            }
            _ = shutdown.cancelled() => break,
        };
        match event {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let ticket = (session.persistent && p.qos != QoS::AtMostOnce).then(|| {
                    next_ticket += 1;
                    next_ticket - 1
                });
                let delivery = on_message(&p.topic, &p.payload, ticket).await;
                if let Some(ticket) = ticket
                    && delivery != Delivery::Abandoned
                {
                    unacked.push_back(Unacked {
                        ticket,
                        publish: p,
                        done: delivery == Delivery::Done,
                    });
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                // A new connection: the broker resends what the last one left unacknowledged.
                unacked.clear();
                if state != State::Connected {
                    tracing::info!(topics = ?settings.topics, "MQTT connected; subscribing");
                }
                if session.persistent {
                    match (connected_once, ack.session_present) {
                        (false, false) => tracing::info!(
                            client_id = %session.client_id,
                            "new MQTT session: from now on the broker keeps messages while the writer is away"
                        ),
                        (_, true) => tracing::info!(
                            client_id = %session.client_id,
                            "MQTT session resumed: the broker delivers what it kept"
                        ),
                        (true, false) => {
                            stats.noted("mqtt_session_lost");
                            tracing::warn!(
                                client_id = %session.client_id,
                                "the broker did not keep the MQTT session: messages published while \
                                 the writer was disconnected are lost (broker restarted without \
                                 persistence, or it expires sessions)"
                            )
                        }
                    }
                }
                connected_once = true;
                state = State::Connected;
                backoff = Duration::from_millis(500);
                // Subscribe on every (re)connect: a clean session forgets subscriptions, and a
                // persistent one may have been dropped by the broker.
                let qos = if session.persistent {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                };
                for t in &settings.topics {
                    if let Err(e) = client.try_subscribe(t, qos) {
                        tracing::error!(topic = %t, error = %e, "cannot subscribe");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                tracing::info!(granted = ?ack.return_codes, "MQTT subscribed");
                for code in &ack.return_codes {
                    match code {
                        SubscribeReasonCode::Failure => tracing::error!(
                            "the broker refused a subscription (check the topic and ACLs)"
                        ),
                        SubscribeReasonCode::Success(QoS::AtMostOnce) if session.persistent => {
                            stats.set_mqtt_session(MqttSession::Refused);
                            if !refusal_logged {
                                refusal_logged = true;
                                tracing::warn!(
                                    "the broker granted QoS 0 instead of 1: messages are not \
                                     acknowledged and are lost if the writer stops with them \
                                     queued (check the broker's max_qos and ACLs)"
                                );
                            }
                        }
                        SubscribeReasonCode::Success(_) => {}
                    }
                }
            }
            Ok(_) => {}
            Err(ConnectionError::ConnectionRefused(ConnectReturnCode::BadClientId))
                if session.persistent && settings.client_id.is_none() =>
            {
                // A broker that will not keep a session under our derived id: carry on as
                // before persistent sessions.
                tracing::warn!(
                    client_id = %session.client_id,
                    "the broker refused the client id of a persistent session; using a random \
                     id and a clean session"
                );
                stats.set_mqtt_session(MqttSession::Refused);
                session = Session {
                    client_id: random_client_id(),
                    persistent: false,
                };
                (client, eventloop) = self::client(&settings, &session);
                unacked.clear();
            }
            Err(e) => {
                if state != State::Disconnected {
                    tracing::warn!(error = %e, "MQTT connection lost; reconnecting with backoff");
                }
                state = State::Disconnected;
                // The broker resends these on the next connection.
                unacked.clear();
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        if session.persistent {
            ack_ready(&client, &mut unacked, *committed.borrow());
        }
    }
    // Closing the handler closes the writer's queue: the writer drains it and commits.
    drop(on_message);
    if session.persistent && state == State::Connected {
        drain(&client, &mut eventloop, &mut unacked, &mut committed).await;
    } else {
        let _ = client.try_disconnect();
    }
    Ok(())
}

/// Sends the acknowledgements that are due, in arrival order: the front messages that were
/// handled at once or whose ticket the writer has committed.
fn ack_ready(client: &AsyncClient, unacked: &mut VecDeque<Unacked>, committed: u64) {
    while let Some(front) = unacked.front() {
        if !(front.done || front.ticket <= committed) {
            break;
        }
        // A full request channel: try again after the next event.
        if client.try_ack(&front.publish).is_err() {
            break;
        }
        unacked.pop_front();
    }
}

/// At shutdown: waits (a bounded time) for the writer to commit what it was given,
/// acknowledges it, and disconnects, so a clean restart is not sent it again. Messages
/// arriving meanwhile are not handled and stay with the broker.
async fn drain(
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    unacked: &mut VecDeque<Unacked>,
    committed: &mut watch::Receiver<u64>,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut disconnecting = false;
    loop {
        ack_ready(client, unacked, *committed.borrow());
        if unacked.is_empty() && !disconnecting {
            disconnecting = true;
            let _ = client.try_disconnect();
        }
        let event = tokio::select! {
            e = eventloop.poll() => e,
            Ok(()) = committed.changed(), if !disconnecting => continue,
            _ = tokio::time::sleep_until(deadline) => break,
        };
        match event {
            Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
            Ok(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
    }
    let _ = client.try_disconnect();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(topics: &[&str], client_id: Option<&str>, persistent: bool) -> MqttSettings {
        MqttSettings {
            host: "localhost".into(),
            port: 1883,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            username: None,
            password: None,
            client_id: client_id.map(str::to_string),
            tls: false,
            ca_pem: None,
            persistent_session: persistent,
        }
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = settings(&["msh/US/#", "msh/EU/#"], None, true);
        let id = a.session("sqlite:///var/lib/meshview/packets.db");
        assert!(id.persistent);
        assert_eq!(id.client_id.len(), 23);
        assert!(id.client_id.chars().all(|c| c.is_ascii_alphanumeric()));
        // The same database and topics (in any order): the same id, run after run.
        let b = settings(&["msh/EU/#", "msh/US/#"], None, true);
        assert_eq!(b.session("sqlite:///var/lib/meshview/packets.db"), id);
        assert_eq!(
            derived_client_id("sqlite:///x.db", &["a/#".into()]),
            "meshview0391728df0edcff"
        );
        // Another database, or other topics: another id.
        assert_ne!(a.session("sqlite:///srv/other.db"), id);
        let c = settings(&["msh/US/#"], None, true);
        assert_ne!(c.session("sqlite:///var/lib/meshview/packets.db"), id);
        // Field boundaries count: ("ab", "c") is not ("a", "bc").
        assert_ne!(
            derived_client_id("ab", &["c".into()]),
            derived_client_id("a", &["bc".into()])
        );
    }

    #[test]
    fn configured_ids_shared_subscriptions_and_clean_sessions() {
        let s = settings(&["msh/#"], Some("mv-1"), true).session("db");
        assert_eq!((s.client_id.as_str(), s.persistent), ("mv-1", true));
        let s = settings(&["msh/#"], Some("mv-1"), false).session("db");
        assert_eq!((s.client_id.as_str(), s.persistent), ("mv-1", false));
        let s = settings(&["msh/#"], None, false).session("db");
        assert!(!s.persistent && s.client_id.starts_with("meshview-"));
        let s = settings(&["$share/g/msh/#"], None, true).session("db");
        assert!(!s.persistent && s.client_id.starts_with("meshview-"));
        let s = settings(&["$share/g/msh/#"], Some("mv-2"), true).session("db");
        assert!(s.persistent);
    }
}
