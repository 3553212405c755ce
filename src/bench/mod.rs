//! Benchmarks shipped with the binary (`meshview bench …`); results are recorded in
//! docs/benchmarks.md.

pub mod api;
pub mod ingest;
pub mod seed;
