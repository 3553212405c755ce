//! Bounds on how much work the reader does at once.
//!
//! A few answers are big: every link of the mesh (`/api/edges`, tens of thousands of rows
//! on a large mesh), every node (`/api/nodes`, and `/nodelist`, which reads them all).
//! Each one holds its rows and body in memory while it is built, so sixteen at once took
//! the reader past 200 MB. They share a small number of slots: extra requests wait their
//! turn (briefly: on two cores more at once would not finish sooner), and the reader's
//! memory stays bounded whatever the load.

use std::sync::OnceLock;

use tower::limit::GlobalConcurrencyLimitLayer;

/// Big answers built at once, across all routes that take a slot.
pub const HEAVY_SLOTS: usize = 3;

/// The layer for routes with big answers; every clone shares the same slots.
pub fn heavy() -> GlobalConcurrencyLimitLayer {
    static LAYER: OnceLock<GlobalConcurrencyLimitLayer> = OnceLock::new();
    LAYER
        .get_or_init(|| GlobalConcurrencyLimitLayer::new(HEAVY_SLOTS))
        .clone()
}
