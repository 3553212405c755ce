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
