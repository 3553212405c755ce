//! The link-quality model as the writer keeps it (`rollups::links`): one row per directed
//! link with its evidence per source, SNR and RSSI, and its hourly series. The confidence
//! is computed here, at read time, because it fades with the time since the last sample.

use super::{Reader, Sql};
use crate::StoreError;
use crate::rollups::links;
use crate::row::OwnedRow;

/// A 2,000-node mesh has about 20,000 directed links in a week; this bounds a
/// pathological table (a read of this many rows holds about 6 MB) and how far pages go.
pub const MAX_QUALITY_LINKS: i64 = 50_000;

/// Which links to read: a page of them, most confident first.
#[derive(Debug, Clone, Copy)]
pub struct LinkQualityFilter {
    /// Only links touching this node (either end).
    pub node: Option<i64>,
    /// Only links with a sample at or after this time.
    pub since_us: i64,
    /// Only links at least this confident at `now_us` (0: all).
    pub min_confidence: f64,
    pub now_us: i64,
    pub limit: i64,
    pub offset: i64,
}

impl LinkQualityFilter {
    /// `WHERE …` of the filter. The confidence floor is a rank floor
    /// ([`links::rank`]); half a thousandth below it, because the confidence is shown
    /// (and compared) rounded to three decimals.
    fn push_where(&self, q: &mut Sql) {
        q.push(" WHERE last_seen_us >= ").int(self.since_us);
        if self.min_confidence > 0.0 {
            let floor = (self.min_confidence - 0.0005).max(1e-12);
            q.push(" AND rank >= ")
                .float(floor.ln() + links::fade_exponent(self.now_us));
        }
        if let Some(n) = self.node {
            q.push(" AND (from_node_id = ")
                .int(n)
                .push(" OR to_node_id = ")
                .int(n)
                .push(")");
        }
    }
}

/// Samples per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceCounts {
    pub traceroute: i64,
    pub neighbor: i64,
    /// Receptions the receiving gateway heard directly from the sender.
    pub reception: i64,
    /// Relayed receptions whose relayer the `relay_node` byte names.
    pub relay: i64,
}

/// One directed link: `to` heard `from`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkQualityRow {
    pub from: i64,
    pub to: i64,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub samples: SourceCounts,
    pub snr_samples: i64,
    /// dB, the newest sample's.
    pub last_snr: Option<f64>,
    /// dB, over every sample (half-dB resolution).
    pub median_snr: Option<f64>,
    pub rssi_samples: i64,
    pub rssi_sum: i64,
}

impl LinkQualityRow {
    /// Mean RSSI (dBm) of the receptions that reported one.
    pub fn mean_rssi(&self) -> Option<f64> {
        (self.rssi_samples > 0)
            .then(|| (self.rssi_sum as f64 / self.rssi_samples as f64 * 10.0).round() / 10.0)
    }

    /// How sure the model is that the link exists now, 0–1 (three decimals): the
    /// evidence ([`links::evidence`]) faded with a 7-day half-life since the last sample,
    /// so a link that stopped being heard loses confidence instead of lingering.
    pub fn confidence(&self, now_us: i64) -> f64 {
        let age_days = (now_us - self.last_seen_us).max(0) as f64 / 86_400e6;
        let fresh = 0.5f64.powf(age_days / links::HALF_LIFE_DAYS);
        (self.evidence() * fresh * 1000.0).round() / 1000.0
    }

    fn evidence(&self) -> f64 {
        let c = &self.samples;
        links::evidence(c.traceroute, c.neighbor, c.reception, c.relay)
    }
}

/// One hour of a link's series.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkHourRow {
    pub hour_us: i64,
    pub samples: i64,
    pub snr_samples: i64,
    pub mean_snr: Option<f64>,
    pub min_snr: Option<f64>,
    pub max_snr: Option<f64>,
}

const COLUMNS: &str = "SELECT from_node_id, to_node_id, first_seen_us, last_seen_us, \
     traceroute_samples, neighbor_samples, reception_samples, relay_samples, snr_samples, \
     last_snr, median_snr, rssi_samples, rssi_sum FROM link_quality";

fn quality_row(mut r: OwnedRow) -> Result<LinkQualityRow, StoreError> {
    Ok(LinkQualityRow {
        from: r.take("from_node_id")?,
        to: r.take("to_node_id")?,
        first_seen_us: r.take("first_seen_us")?,
        last_seen_us: r.take("last_seen_us")?,
        samples: SourceCounts {
            traceroute: r.take("traceroute_samples")?,
            neighbor: r.take("neighbor_samples")?,
            reception: r.take("reception_samples")?,
            relay: r.take("relay_samples")?,
        },
        snr_samples: r.take("snr_samples")?,
        last_snr: r.take("last_snr")?,
        median_snr: r.take("median_snr")?,
        rssi_samples: r.take("rssi_samples")?,
        rssi_sum: r.take("rssi_sum")?,
    })
}

impl Reader {
    /// A page of the links matching `f`, most confident first (then newest, then by
    /// node numbers): a walk of the rank index.
    pub async fn link_quality(
        &self,
        f: LinkQualityFilter,
    ) -> Result<Vec<LinkQualityRow>, StoreError> {
        let mut q = Sql::new(COLUMNS);
        f.push_where(&mut q);
        q.push(" ORDER BY rank DESC, last_seen_us DESC, from_node_id, to_node_id LIMIT ")
            .count(f.limit.clamp(0, MAX_QUALITY_LINKS))
            .push(" OFFSET ")
            .count(f.offset.clamp(0, MAX_QUALITY_LINKS));
        self.fetch_map(q, quality_row).await
    }

    /// How many links match `f` (every page's).
    pub async fn link_quality_count(&self, f: LinkQualityFilter) -> Result<i64, StoreError> {
        let mut q = Sql::new("SELECT count(*) FROM link_quality");
        f.push_where(&mut q);
        self.fetch_one(q).await?.take(0)
    }

    /// One link, if the model knows it.
    pub async fn link_quality_one(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Option<LinkQualityRow>, StoreError> {
        let mut q = Sql::new(COLUMNS);
        q.push(" WHERE from_node_id = ")
            .int(from)
            .push(" AND to_node_id = ")
            .int(to);
        Ok(self.fetch_map(q, quality_row).await?.into_iter().next())
    }

    /// A link's hourly series from `since_us`, oldest first.
    pub async fn link_hours(
        &self,
        from: i64,
        to: i64,
        since_us: i64,
    ) -> Result<Vec<LinkHourRow>, StoreError> {
        let mut q = Sql::new(
            "SELECT hour_us, samples, snr_samples, snr_sum, snr_min, snr_max FROM link_hourly \
             WHERE from_node_id = ",
        );
        q.int(from)
            .push(" AND to_node_id = ")
            .int(to)
            .push(" AND hour_us >= ")
            .int(since_us)
            .push(" ORDER BY hour_us");
        self.fetch_map(q, |mut r| {
            let snr_samples: i64 = r.take("snr_samples")?;
            let snr_sum: f64 = r.take("snr_sum")?;
            Ok(LinkHourRow {
                hour_us: r.take("hour_us")?,
                samples: r.take("samples")?,
                snr_samples,
                mean_snr: (snr_samples > 0)
                    .then(|| (snr_sum / snr_samples as f64 * 100.0).round() / 100.0),
                min_snr: r.take("snr_min")?,
                max_snr: r.take("snr_max")?,
            })
        })
        .await
    }
}

/// A link with the position of one of its ends (the receiver for "who heard this node",
/// the transmitter for the whole mesh's coverage). Positions are the node table's
/// (degrees × 10⁷); nodes without one, or at (0, 0) (no fix), are left out.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionedLink {
    pub from: i64,
    pub to: i64,
    pub lat: i64,
    pub lon: i64,
    pub samples: i64,
    pub median_snr: Option<f64>,
    pub rssi_samples: i64,
    pub rssi_sum: i64,
    pub last_seen_us: i64,
}

impl PositionedLink {
    pub fn mean_rssi(&self) -> Option<f64> {
        (self.rssi_samples > 0)
            .then(|| (self.rssi_sum as f64 / self.rssi_samples as f64 * 10.0).round() / 10.0)
    }
}

fn positioned_row(mut r: OwnedRow) -> Result<PositionedLink, StoreError> {
    Ok(PositionedLink {
        from: r.take("from_node_id")?,
        to: r.take("to_node_id")?,
        lat: r.take("last_lat")?,
        lon: r.take("last_long")?,
        samples: r.take("samples")?,
        median_snr: r.take("median_snr")?,
        rssi_samples: r.take("rssi_samples")?,
        rssi_sum: r.take("rssi_sum")?,
        last_seen_us: r.take("last_seen_us")?,
    })
}

const POSITIONED: &str = "SELECT l.from_node_id, l.to_node_id, n.last_lat, n.last_long, \
     l.traceroute_samples + l.neighbor_samples + l.reception_samples + l.relay_samples AS samples, \
     l.median_snr, l.rssi_samples, l.rssi_sum, l.last_seen_us FROM link_quality l JOIN node n ON ";

impl Reader {
    /// The nodes that heard `node` directly since `since_us`, with their positions.
    pub async fn heard_by(
        &self,
        node: i64,
        since_us: i64,
    ) -> Result<Vec<PositionedLink>, StoreError> {
        let mut q = Sql::new(POSITIONED);
        q.push("n.node_id = l.to_node_id WHERE l.from_node_id = ")
            .int(node)
            .push(" AND l.last_seen_us >= ")
            .int(since_us)
            .push(
                " AND n.last_lat IS NOT NULL AND n.last_long IS NOT NULL \
                 AND NOT (n.last_lat = 0 AND n.last_long = 0) ORDER BY l.to_node_id LIMIT ",
            )
            .count(MAX_QUALITY_LINKS);
        self.fetch_map(q, positioned_row).await
    }

    /// Every link heard since `since_us` whose transmitter has a position, with it.
    pub async fn links_from_positioned(
        &self,
        since_us: i64,
    ) -> Result<Vec<PositionedLink>, StoreError> {
        let mut q = Sql::new(POSITIONED);
        // `+`: most links are in any useful window, so a scan in key order (already the
        // answer's order) beats the time index's lookups and the sort after them.
        q.push("n.node_id = l.from_node_id WHERE +l.last_seen_us >= ")
            .int(since_us)
            .push(
                " AND n.last_lat IS NOT NULL AND n.last_long IS NOT NULL \
                 AND NOT (n.last_lat = 0 AND n.last_long = 0) \
                 ORDER BY l.from_node_id, l.to_node_id LIMIT ",
            )
            .count(MAX_QUALITY_LINKS);
        self.fetch_map(q, positioned_row).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(samples: SourceCounts, last_seen_us: i64) -> LinkQualityRow {
        LinkQualityRow {
            from: 1,
            to: 2,
            first_seen_us: 0,
            last_seen_us,
            samples,
            snr_samples: 0,
            last_snr: None,
            median_snr: None,
            rssi_samples: 2,
            rssi_sum: -201,
        }
    }

    #[test]
    fn confidence_grows_with_evidence_and_fades_with_silence() {
        let day = 86_400_000_000;
        let one = row(
            SourceCounts {
                reception: 1,
                ..Default::default()
            },
            0,
        );
        assert_eq!(one.confidence(0), 0.393);
        let six = row(
            SourceCounts {
                reception: 6,
                ..Default::default()
            },
            0,
        );
        assert_eq!(six.confidence(0), 0.95);
        // Two independent sources halve the doubt.
        let both = row(
            SourceCounts {
                reception: 1,
                traceroute: 1,
                ..Default::default()
            },
            0,
        );
        assert_eq!(both.confidence(0), 0.816);
        // A relay attribution is half a sample.
        let relay = row(
            SourceCounts {
                relay: 2,
                ..Default::default()
            },
            0,
        );
        assert_eq!(relay.confidence(0), one.confidence(0));
        // A week of silence halves it; the future does not raise it.
        assert_eq!(six.confidence(7 * day), 0.475);
        assert_eq!(six.confidence(-day), 0.95);
        assert_eq!(one.mean_rssi(), Some(-100.5));
    }

    #[test]
    fn rank_orders_links_as_their_confidence_does_at_any_moment() {
        let day = 86_400_000_000i64;
        let links: Vec<LinkQualityRow> = [(1, 0), (6, 0), (6, 3 * day), (2, 5 * day), (40, -day)]
            .iter()
            .map(|&(n, last)| {
                row(
                    SourceCounts {
                        reception: n,
                        ..Default::default()
                    },
                    last,
                )
            })
            .collect();
        let mut by_rank: Vec<&LinkQualityRow> = links.iter().collect();
        let rank = |l: &LinkQualityRow| {
            let c = &l.samples;
            links::rank(
                c.traceroute,
                c.neighbor,
                c.reception,
                c.relay,
                l.last_seen_us,
            )
        };
        by_rank.sort_by(|a, b| rank(b).total_cmp(&rank(a)));
        for now in [5 * day, 9 * day, 60 * day] {
            let c: Vec<f64> = by_rank.iter().map(|l| l.confidence(now)).collect();
            assert!(c.windows(2).all(|w| w[0] >= w[1]), "at {now}: {c:?}");
        }
    }
}
