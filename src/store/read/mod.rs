//! Read queries for the web side (API and pages).
