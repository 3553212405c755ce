//! The OpenAPI document, generated from the handlers' annotations (`#[utoipa::path]`
//! beside each handler), the parameters they read and the types they answer with; served
//! at `/api/openapi.json` and rendered by the `/api` page. The shared pieces live here:
//! the error body, the node-id parameter and the failure responses.

use std::sync::OnceLock;

use utoipa::openapi::schema::{Schema, Type};
use utoipa::openapi::{ObjectBuilder, RefOr};
use utoipa::{IntoResponses, OpenApi, PartialSchema, ToSchema};

use super::{api, health, metrics, stream};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MeshView API",
        description = "The JSON API of MeshView (Rust), compatible with the Python MeshView's clients; see docs/api.md.",
        license(name = "AGPL-3.0-or-later")
    ),
    paths(
        health::health,
        health::version,
        metrics::metrics,
        api::openapi,
        api::nodes::nodes_http,
        api::packets::packets,
        api::packets::packets_seen,
        api::stats::channels,
        api::stats::snapshots_daily,
        api::stats::stats,
        api::stats::count,
        api::stats::top,
        api::edges::edges,
        api::links::links,
        api::links::link_history,
        api::links::profile,
        api::traceroute::traceroute,
        api::node::qr,
        api::node::impersonation_check,
        api::node::coverage,
        api::node::observed,
        api::node::mesh_observed,
        api::config::config,
        api::config::lang,
        stream::stream,
    ),
    components(schemas(NodeIdParam, PeriodParam, ErrorBody)),
    tags(
        (name = "api", description = "MeshView's JSON API."),
        (name = "operations", description = "Health, version and metrics."),
    )
)]
struct ApiDoc;

/// The document as JSON, built once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    })
}

/// Every node-id spelling the API accepts: decimal (a 32-bit number, leading zeros
/// allowed), `0x…` hex or `!hex` (one to eight hex digits). See
/// `meshview_protocol::NodeId`'s parser, which this mirrors.
pub const NODE_ID_PATTERN: &str = concat!(
    r"^((!|0[xX])[0-9a-fA-F]{1,8}|0*([0-9]{1,9}|[1-3][0-9]{9}|4[01][0-9]{8}|42[0-8][0-9]{7}",
    r"|429[0-3][0-9]{6}|4294[0-8][0-9]{5}|42949[0-5][0-9]{4}|429496[0-6][0-9]{3}",
    r"|4294967[01][0-9]{2}|42949672[0-8][0-9]|429496729[0-5]))$"
);

/// A node id parameter (`NodeId` in the document).
pub struct NodeIdParam;

impl PartialSchema for NodeIdParam {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NODE_ID_PATTERN))
            .description(Some("A node id: decimal, `0x…` hex or `!hex`."))
            .into()
    }
}

impl ToSchema for NodeIdParam {
    fn name() -> std::borrow::Cow<'static, str> {
        "NodeId".into()
    }
}

/// Hour or day buckets (any case).
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = PeriodType)]
#[allow(dead_code)] // describes `Params::period`
pub enum PeriodParam {
    Hour,
    Day,
}

/// The body of every error answer.
#[derive(ToSchema)]
#[allow(dead_code)] // written by `ApiError`; this type describes it
pub struct ErrorBody {
    error: String,
    /// The offending parameter (400 only).
    parameter: Option<String>,
}

/// The failures every API endpoint can answer with.
#[derive(IntoResponses)]
#[allow(dead_code)] // describes `ApiError`'s answers
pub enum Failures {
    /// A parameter is malformed or out of range; `parameter` names it.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Starting (waiting for the schema) or the database is unreachable.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// [`Failures`], and no such packet, node, section or endpoint.
#[derive(IntoResponses)]
#[allow(dead_code)] // describes `ApiError`'s answers
pub enum LookupFailures {
    /// A parameter is malformed or out of range; `parameter` names it.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No such packet, node, section or endpoint.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Starting (waiting for the schema) or the database is unreachable.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The node-id pattern accepts exactly what the API's parser accepts.
    #[test]
    fn node_id_pattern_mirrors_the_parser() {
        // A tiny matcher for the anchored pattern, via the protocol crate's own rules:
        // every sample the parser accepts must match and every rejected one must not.
        let accepted = [
            "0",
            "7",
            "4294967295",
            "0004294967295",
            "!0",
            "!a1b2c3d4",
            "!000000a1",
            "0x0",
            "0XFFFFFFFF",
            "0x00ffffff",
            "123456789",
            "1000000000",
            "4099999999",
            "4289999999",
            "4293999999",
            "4294899999",
            "4294959999",
            "4294966999",
            "4294967199",
            "4294967289",
        ];
        let rejected = [
            "",
            "4294967296",
            "5000000000",
            "42949672950",
            "!",
            "0x",
            "!123456789",
            "-1",
            "!000000a1b2c3d4",
            "0x00ffffffff",
            "+1",
            " 1",
            "!g",
            "0x1g",
            "1.0",
            "abc",
        ];
        let re = regex_lite::Regex::new(NODE_ID_PATTERN).unwrap();
        for s in accepted {
            assert!(s.parse::<meshview_protocol::NodeId>().is_ok(), "{s}");
            assert!(re.is_match(s), "{s} should match");
        }
        for s in rejected {
            assert!(s.parse::<meshview_protocol::NodeId>().is_err(), "{s}");
            assert!(!re.is_match(s), "{s} should not match");
        }
    }
}
