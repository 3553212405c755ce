//! Packet lists: the question (`/api/packets`' parameters) and the answer, read and
//! presented once for the API (as JSON) and the pages (as rows).
//!
//! `contains` and the range-test noise filter of text lists are applied to the text
//! MeshView shows (`payload`). For text messages the writer keeps that text searchable
//! in `packet_text` (`store::text`), so a chat search is one SQL query over every stored
//! message. For other ports only Rust can compute it (the text format is not SQL): the
//! list is read newest first in keyset pages and filtered here until `limit` items
//! match, or until [`SCAN_CAP`] rows were examined; then `scan_limit_reached` and
//! `next_before` tell the client where to go on. Matching the shown text also means
//! redacted direct messages are never searchable.

use crate::web::compat::{self, PORT_TEXT, PacketIn, Presented};
use crate::web::error::{ApiError, ApiResult};
use crate::web::params::{Params, parse_packet_id};
use serde::Serialize;
use utoipa::ToSchema;

use meshview_store::read::{Cursor, PacketFilter, PacketRow, Reader, SLOT, SeenRow, slot_ids};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 1000;
/// Rows examined per request when filtering in Rust.
const SCAN_CAP: usize = 20_000;
/// Rows per keyset page while filtering: the first page is a few times `limit` (most
/// rows match a noise filter), then pages grow to this size (on PostgreSQL much of a long
/// scan's cost is per query: measured ~60 ms less for 20,000 rows than pages of 500).
const PAGE: i64 = 2000;

pub fn packet_in(row: &PacketRow) -> PacketIn<'_> {
    PacketIn {
        id: row.id,
        portnum: row.portnum.unwrap_or(0),
        from: row.from_node_id.unwrap_or(0),
        to: row.to_node_id.unwrap_or(0),
        payload: row.payload.as_deref(),
        import_time_us: row.import_time_us.unwrap_or(0),
        channel: row.channel.as_deref(),
        long_name: row.from_long_name.as_deref(),
        to_long_name: row.to_long_name.as_deref(),
    }
}

/// The answer of `/api/packets`: the matching rows and their presentations, written as
/// items when serialized (fields in alphabetical order, as when it was a JSON map).
#[derive(Debug)]
pub struct PacketList {
    pub latest_import_time: Option<i64>,
    /// Where to go on when the scan stopped at [`SCAN_CAP`] rows.
    pub next_before: Option<i64>,
    rows: Vec<PacketRow>,
    shown: Vec<Presented>,
    pub scan_limit_reached: bool,
}

impl PacketList {
    fn new(rows: Vec<PacketRow>, shown: Vec<Presented>, capped_at: Option<i64>) -> Self {
        PacketList {
            latest_import_time: rows.iter().filter_map(|r| r.import_time_us).max(),
            next_before: capped_at,
            rows,
            shown,
            scan_limit_reached: capped_at.is_some(),
        }
    }
}

impl PacketList {
    /// Each matching row with its presentation, newest first.
    pub fn items(&self) -> impl Iterator<Item = (&PacketRow, &Presented)> {
        self.rows.iter().zip(&self.shown)
    }

    /// The answer as JSON (fields in alphabetical order, as when it was a JSON map).
    pub fn to_json(&self) -> Vec<u8> {
        // Items are a few hundred bytes; growing a big body by doubling copied it.
        let mut out = Vec::with_capacity(64 + self.rows.len() * 512);
        out.push(b'{');
        if let Some(t) = self.latest_import_time {
            out.extend_from_slice(b"\"latest_import_time\":");
            out.extend_from_slice(itoa::Buffer::new().format(t).as_bytes());
            out.push(b',');
        }
        if let Some(t) = self.next_before {
            out.extend_from_slice(b"\"next_before\":");
            out.extend_from_slice(itoa::Buffer::new().format(t).as_bytes());
            out.push(b',');
        }
        out.extend_from_slice(b"\"packets\":[");
        for (i, (row, shown)) in self.rows.iter().zip(&self.shown).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            compat::packet_item(&packet_in(row), shown).write_json(&mut out);
        }
        out.push(b']');
        if self.scan_limit_reached {
            out.extend_from_slice(b",\"scan_limit_reached\":true");
        }
        out.push(b'}');
        out
    }
}

/// The question of one `/api/packets` request, parsed (its `Debug` form is the cache
/// key: `0x10`, `!00000010` and `16` ask the same).
#[derive(Debug)]
pub struct ListQuery {
    pub filter: PacketFilter,
    pub limit: i64,
    /// Lower-cased.
    pub contains: Option<String>,
}

impl ListQuery {
    /// The newest `limit` packets matching `filter`.
    pub fn new(filter: PacketFilter, limit: i64) -> ListQuery {
        ListQuery {
            filter,
            limit: limit.clamp(1, MAX_LIMIT),
            contains: None,
        }
    }

    /// Only packets whose shown text contains `needle` (case-insensitive).
    pub fn containing(mut self, needle: &str) -> ListQuery {
        self.contains = Some(needle.trim().to_lowercase());
        self
    }

    pub fn parse(params: &Params) -> ApiResult<ListQuery> {
        let mut filter = PacketFilter::default();
        if let Some(v) = params.get("packet_id") {
            let id = parse_packet_id("packet_id", v)?;
            // A Meshtastic id names every packet stored under it (one per sender); a
            // stored id above 2³² names exactly one.
            filter.ids = Some(if id < SLOT {
                slot_ids(id as u32)
            } else {
                vec![id]
            });
        }
        let limit = params.clamped("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?;
        filter.since = params.int("since")?;
        if let Some(b) = params.int("before")? {
            filter.before = Some(Cursor {
                import_time_us: b,
                id: i64::MIN,
            });
        }
        filter.portnum = params.portnum("portnum")?;
        filter.from = params.node("from_node_id")?;
        filter.to = params.node("to_node_id")?;
        filter.node = params.node("node_id")?;
        filter.channel = params.string("channel", 64)?;
        let contains = match params.raw("contains") {
            Some(c) if c.chars().count() > 200 => {
                return Err(ApiError::bad("contains", "longer than 200 characters"));
            }
            Some(c) if c.contains('\0') => {
                return Err(ApiError::bad("contains", "contains a NUL character"));
            }
            Some(c) => Some(c.trim().to_lowercase()),
            None => None,
        };
        Ok(ListQuery {
            filter,
            limit,
            contains,
        })
    }
}

/// Reads the rows of `query` and presents them.
pub async fn run(db: &Reader, query: ListQuery) -> ApiResult<PacketList> {
    let ListQuery {
        mut filter,
        limit,
        contains,
    } = query;
    // Text messages are searched in their index (store::text): every stored message,
    // no scan limit.
    if let Some(needle) = &contains
        && filter.portnum == Some(PORT_TEXT)
    {
        let rows = db.search_text(&filter, needle, limit).await?;
        let shown = rows
            .iter()
            .map(|r| {
                let p = packet_in(r);
                compat::present(p.portnum, p.to, p.payload)
            })
            .collect();
        return Ok(PacketList::new(rows, shown, None));
    }
    let drop_noise = filter.portnum == Some(PORT_TEXT);
    let filtering = contains.is_some() || drop_noise;

    let mut matched: Vec<PacketRow> = Vec::new();
    let mut shown_of: Vec<Presented> = Vec::new();
    let mut scanned = 0usize;
    let mut capped = false;
    let mut last: Option<Cursor> = None;
    let mut page = if filtering {
        (limit * 2).clamp(100, PAGE)
    } else {
        limit
    };
    loop {
        // A scan drops most rows: their names are looked up for the survivors only.
        let rows = if filtering {
            db.packets_without_names(&filter, page).await?
        } else {
            db.packets(&filter, page).await?
        };
        let n = rows.len() as i64;
        let room = usize::try_from(limit)
            .unwrap_or(0)
            .saturating_sub(matched.len())
            .min(rows.len());
        matched.reserve(room);
        shown_of.reserve(room);
        for row in rows {
            scanned += 1;
            last = Some(Cursor {
                import_time_us: row.import_time_us.unwrap_or(0),
                id: row.id,
            });
            let input = packet_in(&row);
            let shown = if filtering {
                // A text message's shown text is cheap to get; its full presentation is
                // built for matches only.
                let (text, shown) = if input.portnum == PORT_TEXT {
                    (compat::shown_text_message(input.to, input.payload), None)
                } else {
                    let shown = compat::present(input.portnum, input.to, input.payload);
                    (shown.payload.clone(), Some(shown))
                };
                if drop_noise && input.portnum == PORT_TEXT && compat::is_text_noise(&text) {
                    continue;
                }
                // A redacted message has no searchable text (not even its placeholder).
                if let Some(needle) = &contains
                    && (text == compat::REDACTED || !text.to_lowercase().contains(needle.as_str()))
                {
                    continue;
                }
                shown.unwrap_or_else(|| compat::present(input.portnum, input.to, input.payload))
            } else {
                compat::present(input.portnum, input.to, input.payload)
            };
            matched.push(row);
            shown_of.push(shown);
            if matched.len() as i64 >= limit {
                break;
            }
        }
        if !filtering || matched.len() as i64 >= limit || n < page {
            break;
        }
        if scanned >= SCAN_CAP {
            capped = true;
            break;
        }
        filter.before = last;
        page = (page * 4).min(PAGE);
    }
    if filtering {
        db.fill_long_names(&mut matched).await?;
    }
    let capped_at = if capped {
        last.map(|c| c.import_time_us)
    } else {
        None
    };
    Ok(PacketList::new(matched, shown_of, capped_at))
}

/// One gateway's reception of a packet, as `/api/packets_seen` lists it (fields in
/// alphabetical order, as the JSON map the API wrote had them).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Seen)]
pub struct SeenOut<'a> {
    #[schema(value_type = Option<String>, required = true)]
    pub channel: &'a Option<String>,
    #[schema(required = true)]
    pub hop_limit: Option<i32>,
    #[schema(required = true)]
    pub hop_start: Option<i32>,
    #[schema(required = true)]
    pub import_time_us: Option<i64>,
    /// The gateway.
    pub node_id: i64,
    pub packet_id: i64,
    #[schema(required = true)]
    pub rx_rssi: Option<i32>,
    #[schema(required = true)]
    pub rx_snr: Option<f64>,
    pub rx_time: i64,
    #[schema(value_type = Option<String>, required = true)]
    pub topic: &'a Option<String>,
}

/// `/api/packets_seen`' answer (the schema of [`Receptions`]).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // `Receptions` writes it
pub struct SeenBody<'a> {
    seen: Vec<SeenOut<'a>>,
}

/// `/api/packets`' answer, as [`PacketList::to_json`] writes it.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // `PacketList::to_json` writes it
pub struct PacketsBody<'a> {
    /// Newest `import_time_us` in the answer (absent when empty).
    latest_import_time: Option<i64>,
    /// With `scan_limit_reached`: where to go on (`before`).
    next_before: Option<i64>,
    packets: Vec<crate::web::compat::PacketItem<'a>>,
    /// The scan stopped after 20000 rows before `limit` items matched.
    scan_limit_reached: Option<bool>,
}

/// A packet's receptions.
pub struct Receptions(Vec<SeenRow>);

impl Serialize for Receptions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            seen: Vec<SeenOut<'a>>,
        }
        Body {
            seen: self
                .0
                .iter()
                .map(|r| SeenOut {
                    channel: &r.channel,
                    hop_limit: r.hop_limit,
                    hop_start: r.hop_start,
                    import_time_us: r.import_time_us,
                    node_id: r.node_id,
                    packet_id: r.packet_id,
                    rx_rssi: r.rx_rssi,
                    rx_snr: r.rx_snr,
                    rx_time: r.rx_time,
                    topic: &r.topic,
                })
                .collect(),
        }
        .serialize(s)
    }
}

/// The receptions of stored packet `id`; `None` when there is no such packet.
pub async fn receptions(db: &Reader, id: i64) -> ApiResult<Option<Receptions>> {
    let seen = db.packet_seen(id).await?;
    // Every stored packet has at least one reception: none means no such packet.
    if seen.is_empty() && db.packet(id).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(Receptions(seen)))
}
