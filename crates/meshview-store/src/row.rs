//! A result row owned by the reader, the same on both backends: SQLite rows come from
//! rusqlite (the reader's own pool, `LitePool`), PostgreSQL rows are converted from
//! sqlx's. Each query's row mapping is written once against this type; [`Arg`] is a value
//! bound to a query on either.
//!
//! Reading a column never panics: a missing column, an unexpected NULL or a value of
//! the wrong type is a [`StoreError::Sql`] naming the column, which the web side answers
//! as an internal error like any other failed query.

use std::sync::Arc;

use sqlx::postgres::PgRow;
use sqlx::{Column, Row, TypeInfo};

use crate::{SqlContext, StoreError};

/// A bound value of a dynamically built query.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    I64(i64),
    F64(f64),
    Str(String),
}

/// The context of a row that does not read as expected.
const ROW: &str = "reading a result row";

fn column_error(col: impl std::fmt::Debug, why: impl std::fmt::Display) -> StoreError {
    StoreError::Sql {
        context: ROW.into(),
        cause: format!("column {col:?}: {why}").into(),
    }
}

/// One value as the database returned it (SQLite's storage classes; PostgreSQL's
/// integers and booleans become `Int`, its floats `Real`).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Cell {
    #[default]
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Cell {
    fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Int(_) => "INTEGER",
            Cell::Real(_) => "REAL",
            Cell::Text(_) => "TEXT",
            Cell::Blob(_) => "BLOB",
        }
    }
}

/// A Rust type a [`Cell`] converts into; the error says what was found instead.
pub(crate) trait FromCell: Sized {
    fn from_cell(cell: Cell) -> Result<Self, String>;
}

fn mismatch<T>(want: &str, got: &Cell) -> Result<T, String> {
    Err(format!("expected {want}, found {}", got.kind()))
}

impl FromCell for i64 {
    fn from_cell(cell: Cell) -> Result<Self, String> {
        match cell {
            Cell::Int(v) => Ok(v),
            other => mismatch("an integer", &other),
        }
    }
}

impl FromCell for i32 {
    fn from_cell(cell: Cell) -> Result<Self, String> {
        match cell {
            Cell::Int(v) => i32::try_from(v).map_err(|_| format!("{v} does not fit in i32")),
            other => mismatch("an integer", &other),
        }
    }
}

impl FromCell for f64 {
    fn from_cell(cell: Cell) -> Result<Self, String> {
        match cell {
            Cell::Real(v) => Ok(v),
            // A REAL column holding an integral value, or an aggregate over integers.
            Cell::Int(v) => Ok(v as f64),
            other => mismatch("a number", &other),
        }
    }
}

/// SQLite stores booleans as INTEGER 0/1 (PostgreSQL's BOOL arrives the same way).
impl FromCell for bool {
    fn from_cell(cell: Cell) -> Result<Self, String> {
        match cell {
            Cell::Int(v) => Ok(v != 0),
            other => mismatch("a boolean (integer)", &other),
        }
    }
}

impl FromCell for String {
    fn from_cell(cell: Cell) -> Result<Self, String> {
        match cell {
            Cell::Text(v) => Ok(v),
            other => mismatch("text", &other),
        }
    }
}

impl FromCell for Vec<u8> {
    fn from_cell(cell: Cell) -> Result<Self, String> {
        match cell {
            Cell::Blob(v) => Ok(v),
            Cell::Text(v) => Ok(v.into_bytes()),
            other => mismatch("a blob", &other),
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: Cell) -> Result<Self, String> {
        match cell {
            Cell::Null => Ok(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

/// How a column is named in [`OwnedRow::take`]: by name or by position.
pub(crate) trait Col: Copy + std::fmt::Debug {
    /// Its position; `hint` is where the next column usually is.
    fn position(self, columns: &[String], hint: usize) -> Option<usize>;
}

impl Col for &str {
    fn position(self, columns: &[String], hint: usize) -> Option<usize> {
        // Mappings take columns in select order, so the hint is nearly always right
        // (searching by name showed in profiles of 1,000-row lists).
        if columns.get(hint).is_some_and(|c| c == self) {
            return Some(hint);
        }
        columns.iter().position(|c| c == self)
    }
}

impl Col for usize {
    fn position(self, columns: &[String], _hint: usize) -> Option<usize> {
        (self < columns.len()).then_some(self)
    }
}

/// One row: its query's column names (shared by every row of the result) and values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OwnedRow {
    columns: Arc<[String]>,
    cells: Vec<Cell>,
    /// The column after the last one taken.
    next: usize,
}

impl OwnedRow {
    pub fn new(columns: Arc<[String]>, cells: Vec<Cell>) -> OwnedRow {
        debug_assert_eq!(columns.len(), cells.len());
        OwnedRow {
            columns,
            cells,
            next: 0,
        }
    }

    /// Moves the value of `col` out of the row (leaving NULL), converted to `T`. Rows
    /// are mapped once, so payloads and strings are moved rather than copied.
    pub fn take<T: FromCell>(&mut self, col: impl Col) -> Result<T, StoreError> {
        let i = col
            .position(&self.columns, self.next)
            .ok_or_else(|| column_error(col, "not in the result"))?;
        self.next = i + 1;
        let cell = std::mem::take(&mut self.cells[i]);
        T::from_cell(cell).map_err(|why| column_error(col, why))
    }
}

/// Converts PostgreSQL rows (every row of one result has the same columns).
pub(crate) fn from_pg(rows: Vec<PgRow>) -> Result<Vec<OwnedRow>, StoreError> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let columns: Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    // Each column's type is looked up once per result, not once per cell.
    let kinds = first
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| pg_kind(i, c.type_info().name()))
        .collect::<Result<Vec<_>, _>>()?;
    rows.iter()
        .map(|r| {
            let cells = kinds
                .iter()
                .enumerate()
                .map(|(i, k)| pg_cell(r, i, *k))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(OwnedRow::new(columns.clone(), cells))
        })
        .collect()
}

/// The PostgreSQL types the reader reads.
#[derive(Clone, Copy)]
enum PgKind {
    Int8,
    Int4,
    Int2,
    Bool,
    Float8,
    Float4,
    Text,
    Bytea,
}

fn pg_kind(i: usize, type_name: &str) -> Result<PgKind, StoreError> {
    Ok(match type_name {
        "INT8" => PgKind::Int8,
        "INT4" => PgKind::Int4,
        "INT2" => PgKind::Int2,
        "BOOL" => PgKind::Bool,
        "FLOAT8" => PgKind::Float8,
        "FLOAT4" => PgKind::Float4,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => PgKind::Text,
        "BYTEA" => PgKind::Bytea,
        other => {
            return Err(column_error(
                i,
                format_args!("the reader does not read PostgreSQL type {other}"),
            ));
        }
    })
}

fn pg_cell(r: &PgRow, i: usize, kind: PgKind) -> Result<Cell, StoreError> {
    pg_cell_of(r, i, kind).context(ROW)
}

fn pg_cell_of(r: &PgRow, i: usize, kind: PgKind) -> Result<Cell, sqlx::Error> {
    fn cell<T>(v: Option<T>, f: impl FnOnce(T) -> Cell) -> Cell {
        v.map(f).unwrap_or(Cell::Null)
    }
    Ok(match kind {
        PgKind::Int8 => cell(r.try_get::<Option<i64>, _>(i)?, Cell::Int),
        PgKind::Int4 => cell(r.try_get::<Option<i32>, _>(i)?, |v| Cell::Int(v.into())),
        PgKind::Int2 => cell(r.try_get::<Option<i16>, _>(i)?, |v| Cell::Int(v.into())),
        PgKind::Bool => cell(r.try_get::<Option<bool>, _>(i)?, |v| Cell::Int(v.into())),
        PgKind::Float8 => cell(r.try_get::<Option<f64>, _>(i)?, Cell::Real),
        PgKind::Float4 => cell(r.try_get::<Option<f32>, _>(i)?, |v| Cell::Real(v.into())),
        PgKind::Text => cell(r.try_get::<Option<String>, _>(i)?, Cell::Text),
        PgKind::Bytea => cell(r.try_get::<Option<Vec<u8>>, _>(i)?, Cell::Blob),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> OwnedRow {
        OwnedRow::new(
            vec!["i".into(), "r".into(), "t".into(), "b".into(), "n".into()].into(),
            vec![
                Cell::Int(7),
                Cell::Real(-3.5),
                Cell::Text("x".into()),
                Cell::Blob(vec![1, 2]),
                Cell::Null,
            ],
        )
    }

    #[test]
    fn converts_by_name_and_position() {
        let mut r = row();
        assert_eq!(r.take::<i64>("i").unwrap(), 7);
        assert_eq!(r.take::<Option<f64>>("r").unwrap(), Some(-3.5));
        assert_eq!(r.take::<String>(2).unwrap(), "x");
        assert_eq!(r.take::<Option<Vec<u8>>>("b").unwrap(), Some(vec![1, 2]));
        assert_eq!(r.take::<Option<i32>>("n").unwrap(), None);
        let mut r = row();
        assert_eq!(r.take::<Option<bool>>("i").unwrap(), Some(true));
        // Taken: NULL now.
        assert_eq!(r.take::<Option<i64>>("i").unwrap(), None);
    }

    #[test]
    fn mismatches_are_errors_not_panics() {
        let mut r = row();
        for (e, names) in [
            (
                r.take::<i64>("missing").unwrap_err(),
                "\"missing\": not in the result",
            ),
            (r.take::<i64>("t").unwrap_err(), "\"t\""),
            (r.take::<i64>("n").unwrap_err(), "\"n\""),
            (r.take::<i64>(9).unwrap_err(), "9: not in the result"),
        ] {
            assert!(matches!(e, StoreError::Sql { .. }), "{e:?}");
            assert!(e.to_string().contains(names), "{e}");
            assert!(!e.is_transient());
        }
        let mut big = OwnedRow::new(vec!["v".into()].into(), vec![Cell::Int(1 << 40)]);
        assert!(big.take::<i32>("v").is_err());
    }
}
