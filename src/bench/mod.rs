//! Benchmarks shipped with the binary (`meshview bench …`); results are recorded in
//! docs/benchmarks.md.

pub mod ingest;
