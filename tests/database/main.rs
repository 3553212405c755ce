//! Database area: migrations, adoption of MeshView databases, writer/reader
//! coordination and failure handling, on SQLite and PostgreSQL.

#[path = "../common/mod.rs"]
mod common;

mod adoption;
mod archive;
mod coordination;
mod failures;
mod meshview_fixture;
mod migrations;
