//! Who heard whom: radio links implied by traceroutes and neighbour reports.
//!
//! A traceroute request goes from requester R to target T; each relaying hop appends
//! itself to `route` and the SNR at which it heard the previous hop to `snr_towards`. T's
//! reply (from T to R, `request_id` = the request's id) carries the full forward `route`
//! and gains `route_back` / `snr_back` on its way back. So:
//! forward path = R + route + T, return path = T + route_back + R, and SNR value i is
//! measured by the receiver of link i. SNRs are int8 dB × 4; −128 means unknown.

use crate::pb;
use crate::{NodeId, Payload};

/// One directed radio link: `to` heard `from`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    pub from: NodeId,
    pub to: NodeId,
    /// SNR in dB measured by `to`, when known.
    pub snr_db: Option<f32>,
}

/// A path with the SNR of each hop's reception (`snr_db[i]` belongs to the link
/// `nodes[i] → nodes[i + 1]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Path {
    pub nodes: Vec<NodeId>,
    pub snr_db: Vec<Option<f32>>,
}

impl Path {
    fn build(nodes: Vec<NodeId>, raw_snr: &[i32]) -> Path {
        let snr_db = (0..nodes.len().saturating_sub(1))
            .map(|i| raw_snr.get(i).copied().and_then(snr_from_raw))
            .collect();
        Path { nodes, snr_db }
    }

    /// Consecutive pairs as links, skipping placeholders and self-loops.
    pub fn links(&self) -> Vec<Link> {
        self.nodes
            .windows(2)
            .zip(&self.snr_db)
            .filter(|(w, _)| w[0] != w[1] && is_real(w[0]) && is_real(w[1]))
            .map(|(w, snr)| Link {
                from: w[0],
                to: w[1],
                snr_db: *snr,
            })
            .collect()
    }
}

/// Converts the firmware's int8 "dB × 4" (−128 = unknown) to dB.
pub fn snr_from_raw(raw: i32) -> Option<f32> {
    (raw != -128 && (-127..=127).contains(&raw)).then(|| raw as f32 / 4.0)
}

/// Node numbers that name no radio (broadcast, 0) appear in routes of some firmware.
fn is_real(n: NodeId) -> bool {
    n.0 != 0 && !n.is_broadcast()
}

/// The paths a TRACEROUTE packet proves, given its own header.
///
/// - A reply (`want_response` false, `request_id` set), sent by the target to the
///   requester: the complete forward path and the return path.
/// - A request still travelling (`want_response` true): the forward path so far,
///   `requester + route` (who relayed it up to now); its target has not answered yet.
pub fn traceroute_paths(
    packet_from: NodeId,
    packet_to: NodeId,
    want_response: bool,
    request_id: u32,
    rd: &pb::RouteDiscovery,
) -> (Path, Option<Path>) {
    let ids = |v: &[u32]| v.iter().copied().map(NodeId).collect::<Vec<_>>();
    if !want_response && request_id != 0 {
        let (target, requester) = (packet_from, packet_to);
        let mut fwd = vec![requester];
        fwd.extend(ids(&rd.route));
        fwd.push(target);
        let mut back = vec![target];
        back.extend(ids(&rd.route_back));
        back.push(requester);
        (
            Path::build(fwd, &rd.snr_towards),
            Some(Path::build(back, &rd.snr_back)),
        )
    } else {
        let mut fwd = vec![packet_from];
        fwd.extend(ids(&rd.route));
        (Path::build(fwd, &rd.snr_towards), None)
    }
}

/// Links from a NEIGHBORINFO: the reporter heard each neighbour at the given SNR.
pub fn neighbor_links(reporter: NodeId, ni: &pb::NeighborInfo) -> Vec<Link> {
    ni.neighbors
        .iter()
        .map(|n| Link {
            from: NodeId(n.node_id),
            to: reporter,
            snr_db: Some(n.snr),
        })
        .filter(|l| l.from != l.to && is_real(l.from))
        .collect()
}

/// What a link was learned from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkSource {
    Traceroute,
    Neighbor,
}

impl LinkSource {
    /// The name stored in `node_link.source`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkSource::Traceroute => "traceroute",
            LinkSource::Neighbor => "neighbor",
        }
    }
}

/// Every link a decoded packet proves, with what proved it: a traceroute's paths (forward,
/// and back for a reply) or a neighbour report. `payload` is `data.payload` already decoded
/// (the writer decodes each payload once and reuses it here).
pub fn packet_links(
    from: NodeId,
    to: NodeId,
    data: &pb::Data,
    payload: &Payload,
) -> Vec<(Link, LinkSource)> {
    match payload {
        Payload::RouteDiscovery(rd) => {
            let (fwd, back) = traceroute_paths(from, to, data.want_response, data.request_id, rd);
            let mut out = fwd.links();
            if let Some(back) = back {
                out.extend(back.links());
            }
            out.into_iter()
                .map(|l| (l, LinkSource::Traceroute))
                .collect()
        }
        Payload::NeighborInfo(ni) => neighbor_links(from, ni)
            .into_iter()
            .map(|l| (l, LinkSource::Neighbor))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rd(route: &[u32], snr: &[i32], back: &[u32], snr_back: &[i32]) -> pb::RouteDiscovery {
        pb::RouteDiscovery {
            route: route.to_vec(),
            snr_towards: snr.to_vec(),
            route_back: back.to_vec(),
            snr_back: snr_back.to_vec(),
        }
    }

    #[test]
    fn reply_gives_forward_and_return_paths_with_snr() {
        // R=1 asked T=9 via 2,3; T answered via 4.
        let (fwd, back) = traceroute_paths(
            NodeId(9),
            NodeId(1),
            false,
            555,
            &rd(&[2, 3], &[20, -8, 4], &[4], &[12, -128]),
        );
        assert_eq!(fwd.nodes, vec![NodeId(1), NodeId(2), NodeId(3), NodeId(9)]);
        assert_eq!(fwd.snr_db, vec![Some(5.0), Some(-2.0), Some(1.0)]);
        let back = back.unwrap();
        assert_eq!(back.nodes, vec![NodeId(9), NodeId(4), NodeId(1)]);
        assert_eq!(back.snr_db, vec![Some(3.0), None]);
        assert_eq!(back.links().len(), 2);
    }

    #[test]
    fn direct_traceroute_has_one_link_each_way() {
        let (fwd, back) =
            traceroute_paths(NodeId(9), NodeId(1), false, 7, &rd(&[], &[10], &[], &[6]));
        assert_eq!(
            fwd.links(),
            vec![Link {
                from: NodeId(1),
                to: NodeId(9),
                snr_db: Some(2.5)
            }]
        );
        assert_eq!(
            back.unwrap().links(),
            vec![Link {
                from: NodeId(9),
                to: NodeId(1),
                snr_db: Some(1.5)
            }]
        );
    }

    #[test]
    fn request_in_flight_gives_partial_forward_path() {
        let (fwd, back) = traceroute_paths(
            NodeId(1),
            NodeId(9),
            true,
            0,
            &rd(&[2, 0xffff_ffff, 3], &[8, 8], &[], &[]),
        );
        assert!(back.is_none());
        assert_eq!(fwd.nodes.len(), 4);
        // The unknown hop breaks the chain rather than inventing links.
        assert_eq!(
            fwd.links(),
            vec![Link {
                from: NodeId(1),
                to: NodeId(2),
                snr_db: Some(2.0)
            }]
        );
    }

    #[test]
    fn neighbours_point_at_the_reporter() {
        let ni = pb::NeighborInfo {
            node_id: 5,
            neighbors: vec![
                pb::Neighbor {
                    node_id: 6,
                    snr: 7.0,
                    ..Default::default()
                },
                pb::Neighbor {
                    node_id: 5,
                    snr: 1.0,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            neighbor_links(NodeId(5), &ni),
            vec![Link {
                from: NodeId(6),
                to: NodeId(5),
                snr_db: Some(7.0)
            }]
        );
    }

    #[test]
    fn packet_links_name_their_source() {
        // A reply from T (0x20) to R (0x10) via 0x30: forward R→30→T, back T→30→R.
        let data = pb::Data {
            want_response: false,
            request_id: 99,
            ..Default::default()
        };
        let reply = Payload::RouteDiscovery(rd(&[0x30], &[8, 12], &[0x30], &[-4, -128]));
        let got = packet_links(NodeId(0x20), NodeId(0x10), &data, &reply);
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|(_, s)| *s == LinkSource::Traceroute));
        assert_eq!(got[0].0.from, NodeId(0x10));
        assert_eq!(got[0].0.snr_db, Some(2.0));
        assert_eq!(got[3].0.snr_db, None);

        let ni = Payload::NeighborInfo(pb::NeighborInfo {
            neighbors: vec![pb::Neighbor {
                node_id: 0x40,
                snr: 6.5,
                ..Default::default()
            }],
            ..Default::default()
        });
        let got = packet_links(NodeId(0x20), NodeId::BROADCAST, &pb::Data::default(), &ni);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, LinkSource::Neighbor);
        assert_eq!((got[0].0.from, got[0].0.to), (NodeId(0x40), NodeId(0x20)));
        assert_eq!(LinkSource::Neighbor.as_str(), "neighbor");

        let text = Payload::Text("hi".into());
        assert!(packet_links(NodeId(1), NodeId(2), &pb::Data::default(), &text).is_empty());
    }
}
