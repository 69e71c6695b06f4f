//! The index table of composite parameters (`code-value-quantity`, …), written with the
//! other index tables (see the `indexing` module).
//!
//! One composite value ([`IndexValue::Composite`]) is one item of the parameter's base
//! expression (an Observation, one of its components, a `useContext`…) with the values of
//! each component extracted from that item. Each component value is one row of
//! `ix_composite (ts, pid, item, part, n, …)`: `item` numbers the composite value within
//! the version (its `seq` among the version's index values), `part` is the component's
//! position, `n` numbers the values of one part. The other columns carry the part's value
//! under the names its type has in the typed tables (`system`/`code` for tokens and
//! units, `start`/`end` for dates, `lo`/`hi` for numbers and quantities, …), so the
//! per-type SQL tests apply unchanged; a search matches when one item has a matching row
//! for every part, which keeps the parts correlated.

use hearth_interface::index::{IndexValue, normalize_string};
use rusqlite::{Connection, params};

/// The table and its value index (on the code of tokens, which every R4 composite but
/// one starts with).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ix_composite (
    ts INTEGER NOT NULL, pid INTEGER NOT NULL, item INTEGER NOT NULL,
    part INTEGER NOT NULL, n INTEGER NOT NULL,
    system TEXT, code TEXT, text_norm TEXT, of_type TEXT,
    norm TEXT, exact TEXT,
    reference TEXT, target_type TEXT, target_id TEXT, ident_system TEXT, ident_value TEXT,
    start INTEGER, end INTEGER, lo REAL, hi REAL, unit TEXT, uri TEXT,
    PRIMARY KEY (ts, pid, item, part, n)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_composite_value ON ix_composite (pid, code);
";

/// The table name, for removal with the other index tables.
pub(crate) const TABLE: &str = "ix_composite";

/// One row's value columns, by the name they have in the typed tables, borrowed from the
/// index value where they are stored as extracted.
#[derive(Default)]
struct Row<'a> {
    system: Option<&'a str>,
    code: Option<&'a str>,
    text_norm: Option<String>,
    of_type: Option<String>,
    norm: Option<&'a str>,
    exact: Option<&'a str>,
    reference: Option<&'a str>,
    target_type: Option<&'a str>,
    target_id: Option<&'a str>,
    ident_system: Option<&'a str>,
    ident_value: Option<&'a str>,
    start: Option<i64>,
    end: Option<i64>,
    lo: Option<f64>,
    hi: Option<f64>,
    unit: Option<&'a str>,
    uri: Option<&'a str>,
}

impl<'a> Row<'a> {
    fn of(value: &'a IndexValue) -> Option<Row<'a>> {
        let row = match value {
            IndexValue::String { normalized, exact } => Row {
                norm: Some(normalized),
                exact: Some(exact),
                ..Row::default()
            },
            IndexValue::Token {
                system,
                code,
                text,
                of_type,
            } => Row {
                system: system.as_deref(),
                code: code.as_deref(),
                text_norm: text.as_deref().map(normalize_string),
                of_type: crate::indexing::of_type_column(of_type),
                ..Row::default()
            },
            IndexValue::Reference {
                reference,
                resource_type,
                id,
                identifier,
            } => {
                let (ident_system, ident_value) = identifier
                    .as_ref()
                    .map_or((None, None), |(s, v)| (s.as_deref(), v.as_deref()));
                Row {
                    reference: reference.as_deref(),
                    target_type: resource_type.as_deref(),
                    target_id: id.as_deref(),
                    ident_system,
                    ident_value,
                    ..Row::default()
                }
            }
            IndexValue::Date { start, end } => Row {
                start: Some(*start),
                end: Some(*end),
                ..Row::default()
            },
            IndexValue::Number { value, .. } => Row {
                lo: Some(*value),
                hi: Some(*value),
                ..Row::default()
            },
            IndexValue::Quantity {
                value,
                low,
                high,
                system,
                code,
                unit,
            } => {
                let (lo, hi) = value.map_or((*low, *high), |v| (v, v));
                Row {
                    lo: Some(lo),
                    hi: Some(hi),
                    system: system.as_deref(),
                    code: code.as_deref(),
                    unit: unit.as_deref(),
                    ..Row::default()
                }
            }
            IndexValue::Uri(uri) => Row {
                uri: Some(uri),
                ..Row::default()
            },
            IndexValue::Position { .. } | IndexValue::Composite(_) | IndexValue::Text(_) => {
                return None;
            }
        };
        Some(row)
    }
}

/// Writes the rows of composite value `item` of parameter `pid` of the version at `ts`.
pub(crate) fn insert(
    conn: &Connection,
    ts: i64,
    pid: i64,
    item: i64,
    parts: &[Vec<IndexValue>],
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO ix_composite (ts, pid, item, part, n, system, code, text_norm, of_type,
         norm, exact, reference, target_type, target_id, ident_system, ident_value,
         start, end, lo, hi, unit, uri)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
         ?17, ?18, ?19, ?20, ?21, ?22)",
    )?;
    for (part, values) in (0_i64..).zip(parts) {
        let rows = values.iter().filter_map(Row::of);
        for (n, r) in (0_i64..).zip(rows) {
            stmt.execute(params![
                ts,
                pid,
                item,
                part,
                n,
                r.system,
                r.code,
                r.text_norm,
                r.of_type,
                r.norm,
                r.exact,
                r.reference,
                r.target_type,
                r.target_id,
                r.ident_system,
                r.ident_value,
                r.start,
                r.end,
                r.lo,
                r.hi,
                r.unit,
                r.uri
            ])?;
        }
    }
    Ok(())
}
