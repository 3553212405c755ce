//! The entry point of the `web_params` fuzz target (`fuzz/`), compiled only with the
//! `fuzzing` feature. Not an API: it exists because the parameter parsers are private
//! to [`crate::web`].
//!
//! [`check_request`] runs every question parser the API and pages use on one query
//! string and a few path segments, and panics when a parser answers anything but a
//! value or a 400 (`ApiError::BadParam`): a hostile request must never become a 500.

use meshview_protocol::NodeId;

use super::api::edges::EdgeQuery;
use super::error::{ApiError, ApiResult};
use super::params::{Params, Period, parse_node, parse_packet_id};
use super::query::coverage::{
    CoverageQuestion, MeshObservedQuestion, ObservedQuestion, ProfileQuestion,
};
use super::query::links::{LinkHistoryQuestion, LinksQuestion};
use super::query::nodes::NodeQuery;
use super::query::packets::ListQuery;
use super::query::stats::{ChannelsQuery, CountQuery, SeriesQuery, SnapshotsQuery, TopQuery};

/// Panics unless `r` is a value or a 400.
fn value_or_400<T>(what: &str, r: ApiResult<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(ApiError::BadParam { .. }) => None,
        Err(e) => panic!("{what}: not a 400 but {e:?}"),
    }
}

/// A parsed node id is a 32-bit node number and round-trips through `!hex`.
fn checked_node(what: &str, r: ApiResult<i64>) -> Option<i64> {
    let n = value_or_400(what, r)?;
    let id = u32::try_from(n).unwrap_or_else(|_| panic!("{what}: {n} is not a node number"));
    let back: NodeId = NodeId(id).to_string().parse().expect("`!hex` parses");
    assert_eq!(back.0, id, "{what}: node id does not round-trip");
    Some(n)
}

/// Parses `query` (an `application/x-www-form-urlencoded` query string, as axum's `Query`
/// does) and `path` (`{node_id}`, `{from}`, `{to}`, `{packet_id}` in that order; missing
/// ones are skipped) with every parser, checking that each answers a value or a 400.
pub fn check_request(path: &[&str], query: &str) {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let p = Params::from_pairs(&borrowed);

    // The generic getters, on every parameter named.
    for (name, _) in &pairs {
        value_or_400("int", p.int(name));
        value_or_400("int_range", p.int_range(name, -5, 5));
        value_or_400("float_range", p.float_range(name, -90.0, 90.0));
        value_or_400("string", p.string(name, 64));
        value_or_400("portnum", p.portnum(name));
        if let Some(r) = p.node(name).transpose() {
            checked_node("node", r);
        }
        value_or_400("clamped", p.clamped(name, 50, 1, 1000));
        value_or_400("flag", p.flag(name));
        if let Some(period) = value_or_400("period", p.period(name, Period::Hour))
            && let Some(n) = value_or_400("length", p.length(name, 24, period))
        {
            assert!((1..=period.max_length()).contains(&n), "length {n}");
        }
    }

    // The query-only questions.
    value_or_400("LinksQuestion", LinksQuestion::parse(&p));
    value_or_400("MeshObservedQuestion", MeshObservedQuestion::parse(&p));
    value_or_400("NodeQuery", NodeQuery::parse(&p));
    value_or_400("ListQuery", ListQuery::parse(&p));
    value_or_400("SeriesQuery", SeriesQuery::parse(&p));
    value_or_400("CountQuery", CountQuery::parse(&p));
    value_or_400("TopQuery", TopQuery::parse(&p));
    value_or_400("ChannelsQuery", ChannelsQuery::parse(&p));
    value_or_400("SnapshotsQuery", SnapshotsQuery::parse(&p));
    value_or_400("EdgeQuery", EdgeQuery::parse(&p));

    // The questions with path parameters, as their handlers parse them.
    let node = path
        .first()
        .and_then(|s| checked_node("node_id", parse_node("node_id", s)));
    if let Some(node) = node {
        value_or_400("CoverageQuestion", CoverageQuestion::parse(node, &p));
        value_or_400("ObservedQuestion", ObservedQuestion::parse(node, &p));
    }
    let from = path
        .get(1)
        .and_then(|s| checked_node("from", parse_node("from", s)));
    let to = path
        .get(2)
        .and_then(|s| checked_node("to", parse_node("to", s)));
    if let (Some(from), Some(to)) = (from, to) {
        value_or_400(
            "LinkHistoryQuestion",
            LinkHistoryQuestion::parse(from, to, &p),
        );
        value_or_400("ProfileQuestion", ProfileQuestion::parse(from, to, &p));
    }
    if let Some(id) = path.get(3)
        && let Some(id) = value_or_400("packet_id", parse_packet_id("packet_id", id))
    {
        assert!(id >= 0, "packet id {id}");
    }
}
