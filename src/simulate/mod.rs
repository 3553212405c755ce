//! Simulated mesh traffic with ground truth (see docs/simulator.md).
