//! The typed questions and answers the JSON API and the pages share: each question is a
//! struct (parsed from a request's parameters by the API, built directly by a page), each
//! answer typed rows or a `Serialize` body. The API serializes the answers; pages render
//! them. Neither goes through the other.

pub mod coverage;
pub mod links;
pub mod node;
pub mod nodes;
pub mod packets;
pub mod stats;
pub mod traceroute;

use serde::Serialize;
use utoipa::ToSchema;

/// The past window an answer covers (time travel: `at`, `from`, `to`).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowOut {
    /// The window's start (0: since the beginning).
    pub from_us: i64,
    pub to_us: i64,
    /// The window starts before the time up to which the retention purge deleted raw
    /// rows (`cleanup.days_to_keep`), so the answer comes, at least in part, from the
    /// rollups, which keep less detail (each endpoint says what).
    pub from_rollups: bool,
}
