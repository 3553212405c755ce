//! MQTT topic classification.
//!
//! Firmware publishes to `<root>/2/<kind>/…` where `<root>` is any number of
//! segments (`msh/US/bayarea`) and `<kind>` says what the payload is:
//! `e/<channel>/<gateway>` (protobuf ServiceEnvelope, usually encrypted),
//! `json/<channel>/<gateway>`, `map/` (map reports) and `stat/<gateway>` (online status).

use crate::node_id::NodeId;

/// What a topic carries, judged from the segment after `/2/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// `…/2/e/…` (or the pre-2.3 `…/2/c/…`): a protobuf ServiceEnvelope.
    Encrypted,
    /// `…/2/map/…`: a plaintext ServiceEnvelope holding a MAP_REPORT_APP packet.
    MapReport,
    /// `…/2/stat/…`: gateway online/offline status text.
    Stat,
    /// `…/2/json/…`: JSON-encoded packets.
    Json,
    /// Anything else.
    Other,
}

/// A topic split into the parts MeshView cares about. Borrows from the topic string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Topic<'a> {
    pub kind: TopicKind,
    /// The channel segment (`LongFast`, `PKI`, …) for `e`/`json` topics.
    pub channel: Option<&'a str>,
    /// The gateway segment (normally `!hex`) when the topic has one.
    pub gateway: Option<&'a str>,
}

impl<'a> Topic<'a> {
    /// Classifies `topic`. Never fails: unknown layouts give [`TopicKind::Other`].
    pub fn parse(topic: &'a str) -> Topic<'a> {
        let segs: Vec<&str> = topic.split('/').collect();
        // The first `2/<known kind>` pair wins, so channel or gateway names that
        // happen to be "2" cannot confuse it.
        let found = segs.windows(2).enumerate().find_map(|(i, w)| {
            if w[0] != "2" {
                return None;
            }
            let kind = match w[1] {
                "e" | "c" => TopicKind::Encrypted,
                "map" => TopicKind::MapReport,
                "stat" => TopicKind::Stat,
                "json" => TopicKind::Json,
                _ => return None,
            };
            Some((i + 2, kind))
        });
        let Some((rest, kind)) = found else {
            return Topic {
                kind: TopicKind::Other,
                channel: None,
                gateway: None,
            };
        };
        let seg = |i: usize| segs.get(i).copied().filter(|s| !s.is_empty());
        let (channel, gateway) = match kind {
            TopicKind::Encrypted | TopicKind::Json => (seg(rest), seg(rest + 1)),
            _ => (None, seg(rest)),
        };
        Topic {
            kind,
            channel,
            gateway,
        }
    }

    /// The gateway segment as a node id, when it is in `!hex` form.
    pub fn gateway_node_id(&self) -> Option<NodeId> {
        self.gateway.and_then(|g| NodeId::parse_bang(g).ok())
    }

    /// The last non-empty segment of `topic` as a `!hex` node id, if it is one.
    pub fn last_segment_node_id(topic: &str) -> Option<NodeId> {
        topic
            .rsplit('/')
            .find(|s| !s.is_empty())
            .and_then(|s| NodeId::parse_bang(s).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_topic() {
        let t = Topic::parse("msh/US/bayarea/2/e/LongFast/!a1b2c3d4");
        assert_eq!(t.kind, TopicKind::Encrypted);
        assert_eq!(t.channel, Some("LongFast"));
        assert_eq!(t.gateway, Some("!a1b2c3d4"));
        assert_eq!(t.gateway_node_id(), Some(NodeId(0xa1b2c3d4)));
    }

    #[test]
    fn other_kinds() {
        let t = Topic::parse("msh/US/bayarea/2/map/");
        assert_eq!(
            (t.kind, t.channel, t.gateway),
            (TopicKind::MapReport, None, None)
        );
        let t = Topic::parse("msh/EU_868/2/stat/!deadbeef");
        assert_eq!(t.kind, TopicKind::Stat);
        assert_eq!(t.gateway_node_id(), Some(NodeId(0xdeadbeef)));
        let t = Topic::parse("msh/EU_868/2/json/LongFast/!e2e52244");
        assert_eq!((t.kind, t.channel), (TopicKind::Json, Some("LongFast")));
        let t = Topic::parse("msh/2/c/LongFast/!00000001");
        assert_eq!(t.kind, TopicKind::Encrypted);
        let t = Topic::parse("msh/US/2/e/2/!00000001");
        assert_eq!(t.channel, Some("2"));
        assert_eq!(Topic::parse("msh/US/2/x/y").kind, TopicKind::Other);
    }

    #[test]
    fn partial_and_odd_topics() {
        let t = Topic::parse("msh/US/2/e/");
        assert_eq!(
            (t.kind, t.channel, t.gateway),
            (TopicKind::Encrypted, None, None)
        );
        let t = Topic::parse("msh/US/2/e/LongFast");
        assert_eq!((t.channel, t.gateway), (Some("LongFast"), None));
        let t = Topic::parse("msh/US/2/e/LongFast/not-a-node");
        assert_eq!(t.gateway, Some("not-a-node"));
        assert_eq!(t.gateway_node_id(), None);
        for s in [
            "",
            "/",
            "//",
            "2",
            "2/",
            "/2/e",
            "msh/\u{0}/2/e/\u{fffd}/!",
            "ü/2/json",
        ] {
            let _ = Topic::parse(s);
            let _ = Topic::last_segment_node_id(s);
        }
    }

    #[test]
    fn last_segment() {
        assert_eq!(
            Topic::last_segment_node_id("msh/US/2/e/LongFast/!0000abcd/"),
            Some(NodeId(0xabcd))
        );
        assert_eq!(Topic::last_segment_node_id("msh/US/2/map/"), None);
    }
}
