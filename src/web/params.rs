//! Query and path parameters parsed into typed values at the edge, each failure a 400
//! naming the parameter. Empty values count as absent (HTML forms send `x=`), unknown
//! parameters are ignored (as MeshView does), and the first of repeated ones wins.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use meshview_protocol::NodeId;

use super::error::{ApiError, ApiResult};

/// The query string of a request.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::bad("query", format!("malformed query string: {e}")))?;
        Ok(Params(pairs))
    }
}

/// Hour or day buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Hour,
    Day,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Day => "day",
        }
    }

    pub fn micros(self) -> i64 {
        match self {
            Period::Hour => 3_600_000_000,
            Period::Day => 86_400_000_000,
        }
    }

    /// The longest window served per unit (30 days of hours, 10 years of days).
    pub fn max_length(self) -> i64 {
        match self {
            Period::Hour => 24 * 31,
            Period::Day => 3650,
        }
    }
}

/// The latest moment a time parameter may name: 2999-12-31 23:59:59 UTC.
const LAST_TIME_US: i64 = 32_503_679_999_000_000;

/// A past window of time (`at`, `from`, `to`), both ends included, µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub from_us: i64,
    pub to_us: i64,
}

impl Params {
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// The trimmed value, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The raw (untrimmed) value, for free text such as `contains`.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    pub fn string(&self, name: &str, max_len: usize) -> ApiResult<Option<String>> {
        match self.get(name) {
            Some(v) if v.chars().count() > max_len => Err(ApiError::bad(
                name,
                format!("longer than {max_len} characters"),
            )),
            // No stored name holds one (the writer removes them), and PostgreSQL text
            // cannot: a filter with one is a client's mistake, not a query to run.
            Some(v) if v.contains('\0') => Err(ApiError::bad(name, "contains a NUL character")),
            v => Ok(v.map(str::to_string)),
        }
    }

    pub fn int(&self, name: &str) -> ApiResult<Option<i64>> {
        self.get(name).map(|v| parse_int(name, v)).transpose()
    }

    /// An integer in `min..=max`; out-of-range values are an error.
    pub fn int_range(&self, name: &str, min: i64, max: i64) -> ApiResult<Option<i64>> {
        match self.int(name)? {
            Some(v) if v < min || v > max => Err(ApiError::bad(
                name,
                format!("{v} is out of range ({min}..={max})"),
            )),
            v => Ok(v),
        }
    }

    /// A finite number in `min..=max`; anything else is an error naming the parameter.
    pub fn float_range(&self, name: &str, min: f64, max: f64) -> ApiResult<Option<f64>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let x: f64 = v.trim().parse().map_err(|_| {
            ApiError::bad(
                name,
                format!("expected a number, got {:?}", truncate(v, 40)),
            )
        })?;
        if !x.is_finite() || x < min || x > max {
            return Err(ApiError::bad(
                name,
                format!("{x} is out of range ({min}..={max})"),
            ));
        }
        Ok(Some(x))
    }

    /// A moment: microseconds since the epoch (as every `*_us` field), an RFC 3339 time,
    /// or a UTC date (`YYYY-MM-DD`, its midnight); from 1970 to 2999.
    pub fn time(&self, name: &str) -> ApiResult<Option<i64>> {
        let Some(v) = self.get(name).map(str::trim) else {
            return Ok(None);
        };
        let us = if let Ok(n) = v.parse::<i64>() {
            Some(n)
        } else if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
            Some(t.timestamp_micros())
        } else {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp_micros())
        };
        match us {
            Some(us) if (0..=LAST_TIME_US).contains(&us) => Ok(Some(us)),
            Some(us) => Err(ApiError::bad(
                name,
                format!("{us} is out of range (0..={LAST_TIME_US} µs, 1970 to 2999)"),
            )),
            None => Err(ApiError::bad(
                name,
                format!(
                    "expected microseconds since the epoch, an RFC 3339 time or a YYYY-MM-DD date, got {:?}",
                    truncate(v, 40)
                ),
            )),
        }
    }

    /// The moment a time-travel answer stands at: `to`, or `at` (the same; `to` wins).
    /// Both are checked.
    pub fn moment(&self) -> ApiResult<Option<i64>> {
        let (at, to) = (self.time("at")?, self.time("to")?);
        Ok(to.or(at))
    }

    /// A past window (time travel): it ends at `to` (or `at`, the same without `to`;
    /// default now) and starts at `from` (default `default_us` before the end). `None`
    /// when none is given: the endpoint answers for now. The window is clamped rather
    /// than refused (the answer says which window it covers): at most `max_us` long, and
    /// a start after the end is the end.
    pub fn window(&self, now_us: i64, default_us: i64, max_us: i64) -> ApiResult<Option<Window>> {
        let (end, from) = (self.moment()?, self.time("from")?);
        if (end, from) == (None, None) {
            return Ok(None);
        }
        let to_us = end.unwrap_or(now_us);
        let from_us = from
            .unwrap_or(to_us - default_us)
            .clamp(to_us - max_us, to_us);
        Ok(Some(Window { from_us, to_us }))
    }

    /// A yes/no option: `true`/`false` or `1`/`0`; absent is `false`.
    pub fn flag(&self, name: &str) -> ApiResult<bool> {
        match self.get(name).map(str::trim) {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(ApiError::bad(
                name,
                format!("expected true or false, got {:?}", truncate(other, 40)),
            )),
        }
    }

    /// An integer clamped into `min..=max` (MeshView clamps its limits).
    pub fn clamped(&self, name: &str, default: i64, min: i64, max: i64) -> ApiResult<i64> {
        Ok(self.int(name)?.unwrap_or(default).clamp(min, max))
    }

    /// A port number (0..=65535 covers every Meshtastic port).
    pub fn portnum(&self, name: &str) -> ApiResult<Option<i32>> {
        Ok(self.int_range(name, 0, 65535)?.map(|v| v as i32))
    }

    /// A node id: decimal, `0x…` or `!hex`.
    pub fn node(&self, name: &str) -> ApiResult<Option<i64>> {
        self.get(name).map(|v| parse_node(name, v)).transpose()
    }

    /// `hour` or `day` (any case).
    pub fn period(&self, name: &str, default: Period) -> ApiResult<Period> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("hour") => Ok(Period::Hour),
            Some("day") => Ok(Period::Day),
            Some(other) => Err(ApiError::bad(
                name,
                format!("expected \"hour\" or \"day\", got {other:?}"),
            )),
        }
    }

    /// A window length in periods: at least 1, clamped to the period's maximum.
    pub fn length(&self, name: &str, default: i64, period: Period) -> ApiResult<i64> {
        match self.int(name)? {
            None => Ok(default),
            Some(v) if v < 1 => Err(ApiError::bad(name, format!("{v} must be at least 1"))),
            Some(v) => Ok(v.min(period.max_length())),
        }
    }
}

pub fn parse_int(name: &str, v: &str) -> ApiResult<i64> {
    v.parse::<i64>().map_err(|_| {
        ApiError::bad(
            name,
            format!("expected an integer, got {:?}", truncate(v, 40)),
        )
    })
}

/// A node id in any of the three spellings.
pub fn parse_node(name: &str, v: &str) -> ApiResult<i64> {
    v.parse::<NodeId>().map(|n| n.0 as i64).map_err(|_| {
        ApiError::bad(
            name,
            format!(
                "expected a node id (decimal, 0x… or !hex), got {:?}",
                truncate(v, 40)
            ),
        )
    })
}

/// A stored packet id: a non-negative integer below 8·2³² (see `store::write`).
pub fn parse_packet_id(name: &str, v: &str) -> ApiResult<i64> {
    let id = parse_int(name, v.trim())?;
    if !(0..meshview_store::read::SLOTS * meshview_store::read::SLOT).contains(&id) {
        return Err(ApiError::bad(name, format!("{id} is not a packet id")));
    }
    Ok(id)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_windows() {
        const H: i64 = 3_600_000_000;
        let day = 1_764_979_200_000_000; // 2025-12-06 00:00 UTC
        let p = Params::from_pairs(&[
            ("a", "1764979200000000"),
            ("b", "2025-12-06"),
            ("c", "2025-12-06T01:00:00+01:00"),
            ("d", "yesterday"),
            ("e", "-5"),
        ]);
        assert_eq!(p.time("a").unwrap(), Some(day));
        assert_eq!(p.time("b").unwrap(), Some(day));
        assert_eq!(p.time("c").unwrap(), Some(day));
        assert!(matches!(p.time("d"), Err(ApiError::BadParam { name, .. }) if name == "d"));
        assert!(p.time("e").is_err());
        let now = day + 100 * H;
        let w = |pairs: &[(&str, &str)]| Params::from_pairs(pairs).window(now, 12 * H, 48 * H);
        assert_eq!(w(&[]).unwrap(), None);
        let at = Window {
            from_us: day - 12 * H,
            to_us: day,
        };
        assert_eq!(w(&[("at", "2025-12-06")]).unwrap(), Some(at));
        assert_eq!(w(&[("to", "2025-12-06")]).unwrap(), Some(at));
        // `to` wins over `at`.
        assert_eq!(
            w(&[("to", "2025-12-06"), ("at", "2025-12-07")]).unwrap(),
            Some(at)
        );
        // Up to now: 100 hours, clamped to the 48 allowed.
        assert_eq!(
            w(&[("from", "2025-12-06")]).unwrap(),
            Some(Window {
                from_us: now - 48 * H,
                to_us: now
            })
        );
        assert_eq!(
            w(&[("from", "2025-12-06"), ("to", "2025-12-06T06:00:00Z")]).unwrap(),
            Some(Window {
                from_us: day,
                to_us: day + 6 * H
            })
        );
        // A start after the end: the end.
        assert_eq!(
            w(&[("from", "2025-12-07"), ("to", "2025-12-06")]).unwrap(),
            Some(Window {
                from_us: day,
                to_us: day
            })
        );
    }

    #[test]
    fn parses_and_names_the_parameter() {
        let p = Params::from_pairs(&[
            ("a", "12"),
            ("b", "x"),
            ("n", "!0000ff01"),
            ("h", "0x10"),
            ("e", " "),
            ("period_type", "DAY"),
        ]);
        assert_eq!(p.int("a").unwrap(), Some(12));
        assert_eq!(p.int("e").unwrap(), None);
        assert_eq!(p.int("missing").unwrap(), None);
        match p.int("b") {
            Err(ApiError::BadParam { name, .. }) => assert_eq!(name, "b"),
            other => panic!("{other:?}"),
        }
        assert_eq!(p.node("n").unwrap(), Some(0xff01));
        assert_eq!(p.node("h").unwrap(), Some(16));
        assert_eq!(p.node("a").unwrap(), Some(12));
        assert!(p.node("b").is_err());
        assert_eq!(p.period("period_type", Period::Hour).unwrap(), Period::Day);
        assert_eq!(p.clamped("a", 50, 1, 10).unwrap(), 10);
        assert!(p.int_range("a", 0, 5).is_err());
        let nul = Params::from_pairs(&[("c", "Long\0Fast")]);
        assert!(matches!(
            nul.string("c", 64),
            Err(ApiError::BadParam { .. })
        ));
        assert!(parse_packet_id("id", "-1").is_err());
        assert!(parse_packet_id("id", "34359738368").is_err());
        assert_eq!(parse_packet_id("id", "4294967297").unwrap(), 4294967297);
    }
}
