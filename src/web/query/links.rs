//! The link-quality model's questions: every link in a window (`/api/links`, the map and
//! the mesh graph's colours, a node page's direct links) and one link's history
//! (`/api/links/{from}/{to}`). The writer keeps the model current (the store's
//! `rollups::links`); answering reads one table, never the raw receptions.

use meshview_protocol::NodeId;
use serde::Serialize;
use utoipa::ToSchema;

use crate::web::error::{ApiError, ApiResult};
use crate::web::params::Params;
use meshview_store::read::{
    LinkHourRow, LinkQualityFilter, LinkQualityRow, MAX_QUALITY_LINKS, Reader,
};

const HOUR_US: i64 = 3_600_000_000;
/// Default window: links heard in the last week.
pub const DEFAULT_HOURS: i64 = 24 * 7;
/// Longest window: a year of rollups.
pub const MAX_HOURS: i64 = 24 * 366;

/// How a link's SNR reads for LoRa's long-range presets, which decode down to about
/// −17.5 dB (SF11): `good` at −7 dB and above, `fair` down to −15 dB, `poor` below, and
/// `unknown` when no sample carried an SNR.
pub fn quality_of(snr_db: Option<f64>) -> &'static str {
    match snr_db {
        Some(s) if s >= -7.0 => "good",
        Some(s) if s >= -15.0 => "fair",
        Some(_) => "poor",
        None => "unknown",
    }
}

/// Samples per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Samples {
    /// Traceroute hops.
    pub traceroute: i64,
    /// Neighbour reports.
    pub neighbor: i64,
    /// Receptions the receiving gateway heard directly (zero hops).
    pub reception: i64,
    /// Relayed receptions whose last relayer `relay_node` names unambiguously.
    pub relay: i64,
}

/// One directed radio link: `to` heard `from`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Link {
    /// Transmitting node number.
    pub from: i64,
    /// The same as `!hex`.
    pub from_id: String,
    /// Receiving node number.
    pub to: i64,
    pub to_id: String,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub samples: Samples,
    /// Samples that carried an SNR.
    pub snr_samples: i64,
    /// SNR of the newest sample (dB).
    #[schema(required = true)]
    pub last_snr: Option<f64>,
    /// Median SNR over every sample (dB, half-dB resolution).
    #[schema(required = true)]
    pub median_snr: Option<f64>,
    /// Mean RSSI of the gateway receptions (dBm).
    #[schema(required = true)]
    pub mean_rssi: Option<f64>,
    /// 0–1: how sure the model is the link exists now (docs/links.md).
    #[schema(minimum = 0, maximum = 1)]
    pub confidence: f64,
    /// `good`, `fair`, `poor` or `unknown`, from the median SNR.
    #[schema(pattern = "^(good|fair|poor|unknown)$")]
    pub quality: &'static str,
}

impl Link {
    pub fn from_row(r: &LinkQualityRow, now_us: i64) -> Link {
        Link {
            from: r.from,
            from_id: NodeId(r.from as u32).to_string(),
            to: r.to,
            to_id: NodeId(r.to as u32).to_string(),
            first_seen_us: r.first_seen_us,
            last_seen_us: r.last_seen_us,
            samples: Samples {
                traceroute: r.samples.traceroute,
                neighbor: r.samples.neighbor,
                reception: r.samples.reception,
                relay: r.samples.relay,
            },
            snr_samples: r.snr_samples,
            last_snr: r.last_snr,
            median_snr: r.median_snr,
            mean_rssi: r.mean_rssi(),
            confidence: r.confidence(now_us),
            quality: quality_of(r.median_snr.or(r.last_snr)),
        }
    }
}

/// `/api/links`' answer: one page of the matching links.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinksAnswer {
    pub links: Vec<Link>,
    /// Links matching the filters, on every page.
    pub total: i64,
    /// The `offset` of the next page; `null` on the last one.
    #[schema(required = true)]
    pub next_offset: Option<i64>,
}

/// Links per page unless `limit` says otherwise: a map or a list of the strongest links
/// needs no more, and a 2,000-node mesh's every link (20,000, 6 MB of JSON) is a
/// download no client should make by default.
pub const DEFAULT_LIMIT: i64 = 1_000;
/// The biggest page (about 1.5 MB of JSON); clients wanting more walk the pages.
pub const MAX_LIMIT: i64 = 5_000;

/// Which links: touching a node, at least this confident, heard in the window; one page
/// of them in the answer's order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinksQuestion {
    pub node: Option<i64>,
    pub min_confidence: f64,
    pub hours: i64,
    pub limit: i64,
    pub offset: i64,
}

impl Default for LinksQuestion {
    fn default() -> Self {
        LinksQuestion {
            node: None,
            min_confidence: 0.0,
            hours: DEFAULT_HOURS,
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

impl LinksQuestion {
    pub fn parse(p: &Params) -> ApiResult<LinksQuestion> {
        Ok(LinksQuestion {
            node: p.node("node_id")?,
            min_confidence: p.float_range("min_confidence", 0.0, 1.0)?.unwrap_or(0.0),
            hours: p.int_range("hours", 1, MAX_HOURS)?.unwrap_or(DEFAULT_HOURS),
            limit: p.int_range("limit", 1, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT),
            offset: p.int_range("offset", 0, MAX_QUALITY_LINKS)?.unwrap_or(0),
        })
    }

    /// Every matching link on one page (the pages that draw the whole model in-process).
    pub fn all(self) -> LinksQuestion {
        LinksQuestion {
            limit: MAX_QUALITY_LINKS,
            offset: 0,
            ..self
        }
    }

    /// The key of the cached answer.
    pub fn key(&self) -> String {
        format!(
            "links|{:?}|{}|{}|{}|{}",
            self.node, self.min_confidence, self.hours, self.limit, self.offset
        )
    }

    /// Most confident first, then newest, then by node numbers: a total order that does
    /// not change with time, so pages neither repeat nor skip a link while no new sample
    /// arrives (a link heard meanwhile moves up).
    pub async fn run(&self, db: &Reader, now_us: i64) -> ApiResult<LinksAnswer> {
        let f = LinkQualityFilter {
            node: self.node,
            since_us: now_us - self.hours * HOUR_US,
            min_confidence: self.min_confidence,
            now_us,
            limit: self.limit,
            offset: self.offset,
        };
        let (rows, total) = futures_util::try_join!(db.link_quality(f), db.link_quality_count(f))?;
        let links: Vec<Link> = rows.iter().map(|r| Link::from_row(r, now_us)).collect();
        let end = self.offset + links.len() as i64;
        Ok(LinksAnswer {
            links,
            total,
            next_offset: (end < total).then_some(end),
        })
    }
}

/// One hour of a link's series.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LinkHour {
    /// Start of the UTC hour.
    pub hour_us: i64,
    pub samples: i64,
    pub snr_samples: i64,
    #[schema(required = true)]
    pub mean_snr: Option<f64>,
    #[schema(required = true)]
    pub min_snr: Option<f64>,
    #[schema(required = true)]
    pub max_snr: Option<f64>,
}

impl From<LinkHourRow> for LinkHour {
    fn from(r: LinkHourRow) -> Self {
        LinkHour {
            hour_us: r.hour_us,
            samples: r.samples,
            snr_samples: r.snr_samples,
            mean_snr: r.mean_snr,
            min_snr: r.min_snr,
            max_snr: r.max_snr,
        }
    }
}

/// `/api/links/{from}/{to}`' answer: the link, the opposite direction, and the link's
/// hourly series in the window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkHistory {
    /// `to` heard `from`; `null` when only the reverse direction is known.
    #[schema(required = true)]
    pub link: Option<Link>,
    /// `from` heard `to`.
    #[schema(required = true)]
    pub reverse: Option<Link>,
    pub hours: Vec<LinkHour>,
}

/// One link's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkHistoryQuestion {
    pub from: i64,
    pub to: i64,
    pub hours: i64,
}

impl LinkHistoryQuestion {
    pub fn parse(from: i64, to: i64, p: &Params) -> ApiResult<LinkHistoryQuestion> {
        Ok(LinkHistoryQuestion {
            from,
            to,
            hours: p.int_range("hours", 1, MAX_HOURS)?.unwrap_or(DEFAULT_HOURS),
        })
    }

    /// 404 when the model knows neither direction.
    pub async fn run(&self, db: &Reader, now_us: i64) -> ApiResult<LinkHistory> {
        let (link, reverse, hours) = futures_util::try_join!(
            db.link_quality_one(self.from, self.to),
            db.link_quality_one(self.to, self.from),
            db.link_hours(self.from, self.to, now_us - self.hours * HOUR_US),
        )?;
        if link.is_none() && reverse.is_none() {
            return Err(ApiError::NotFound(format!(
                "no link between {} and {}",
                NodeId(self.from as u32),
                NodeId(self.to as u32)
            )));
        }
        Ok(LinkHistory {
            link: link.as_ref().map(|r| Link::from_row(r, now_us)),
            reverse: reverse.as_ref().map(|r| Link::from_row(r, now_us)),
            hours: hours.into_iter().map(LinkHour::from).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_classes_follow_lora_margins() {
        assert_eq!(quality_of(Some(3.0)), "good");
        assert_eq!(quality_of(Some(-7.0)), "good");
        assert_eq!(quality_of(Some(-7.5)), "fair");
        assert_eq!(quality_of(Some(-15.0)), "fair");
        assert_eq!(quality_of(Some(-15.25)), "poor");
        assert_eq!(quality_of(None), "unknown");
    }

    #[test]
    fn parameters_are_checked_and_named() {
        let q = LinksQuestion::parse(&Params::from_pairs(&[
            ("node_id", "!0000abcd"),
            ("min_confidence", "0.5"),
            ("hours", "24"),
        ]))
        .unwrap();
        assert_eq!(
            q,
            LinksQuestion {
                node: Some(0xabcd),
                min_confidence: 0.5,
                hours: 24,
                limit: DEFAULT_LIMIT,
                offset: 0,
            }
        );
        for (k, v) in [
            ("min_confidence", "1.5"),
            ("min_confidence", "NaN"),
            ("min_confidence", "x"),
            ("hours", "0"),
            ("hours", "100000"),
            ("node_id", "!zz"),
            ("limit", "0"),
            ("limit", "5001"),
            ("offset", "-1"),
        ] {
            let e = LinksQuestion::parse(&Params::from_pairs(&[(k, v)])).unwrap_err();
            assert!(format!("{e:?}").contains(k), "{k}={v}: {e:?}");
        }
        assert_eq!(
            LinksQuestion::parse(&Params::from_pairs(&[])).unwrap(),
            LinksQuestion::default()
        );
    }
}
