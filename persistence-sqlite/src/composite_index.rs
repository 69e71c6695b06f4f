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
use rusqlite::params;

use crate::indexing::{Inserts, Table, of_type_column};

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

/// Writes the rows of composite value `item` of parameter `pid` of the version at `ts`:
/// each row fills the columns of its part's type only, the others stay NULL.
pub(crate) fn insert(
    inserts: &mut Inserts<'_>,
    ts: i64,
    pid: i64,
    item: i64,
    parts: &[Vec<IndexValue>],
) -> rusqlite::Result<()> {
    for (part, values) in (0_i64..).zip(parts) {
        let mut n = 0_i64;
        for value in values {
            let written = match value {
                IndexValue::String { normalized, exact } => inserts
                    .statement(Table::CompositeString)?
                    .execute(params![ts, pid, item, part, n, normalized, exact]),
                IndexValue::Token {
                    system,
                    code,
                    text,
                    of_type,
                } => {
                    let text_norm = text.as_deref().map(normalize_string);
                    let types = of_type_column(of_type);
                    inserts.statement(Table::CompositeToken)?.execute(params![
                        ts, pid, item, part, n, system, code, text_norm, types
                    ])
                }
                IndexValue::Reference {
                    reference,
                    resource_type,
                    id,
                    identifier,
                } => {
                    let (ident_system, ident_value) = identifier
                        .as_ref()
                        .map_or((None, None), |(s, v)| (s.as_deref(), v.as_deref()));
                    inserts
                        .statement(Table::CompositeReference)?
                        .execute(params![
                            ts,
                            pid,
                            item,
                            part,
                            n,
                            reference,
                            resource_type,
                            id,
                            ident_system,
                            ident_value
                        ])
                }
                IndexValue::Date { start, end } => inserts
                    .statement(Table::CompositeDate)?
                    .execute(params![ts, pid, item, part, n, start, end]),
                IndexValue::Number { value, .. } => inserts
                    .statement(Table::CompositeNumber)?
                    .execute(params![ts, pid, item, part, n, value]),
                IndexValue::Quantity {
                    value,
                    low,
                    high,
                    system,
                    code,
                    unit,
                } => {
                    let (lo, hi) = value.map_or((*low, *high), |v| (v, v));
                    inserts
                        .statement(Table::CompositeQuantity)?
                        .execute(params![ts, pid, item, part, n, lo, hi, system, code, unit])
                }
                IndexValue::Uri(uri) => inserts
                    .statement(Table::CompositeUri)?
                    .execute(params![ts, pid, item, part, n, uri]),
                IndexValue::Position { .. } | IndexValue::Composite(_) | IndexValue::Text(_) => {
                    continue;
                }
            };
            written?;
            n += 1;
        }
    }
    Ok(())
}

// The inserts of the rows of a part of each type, with that type's columns.
pub(crate) const INSERT_STRING: &str =
    "INSERT INTO ix_composite (ts, pid, item, part, n, norm, exact)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
pub(crate) const INSERT_TOKEN: &str =
    "INSERT INTO ix_composite (ts, pid, item, part, n, system, code, text_norm, of_type)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
pub(crate) const INSERT_REFERENCE: &str =
    "INSERT INTO ix_composite (ts, pid, item, part, n, reference, target_type,
     target_id, ident_system, ident_value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
pub(crate) const INSERT_DATE: &str = "INSERT INTO ix_composite (ts, pid, item, part, n, start, end)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
pub(crate) const INSERT_NUMBER: &str = "INSERT INTO ix_composite (ts, pid, item, part, n, lo, hi)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)";
pub(crate) const INSERT_QUANTITY: &str =
    "INSERT INTO ix_composite (ts, pid, item, part, n, lo, hi, system, code, unit)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
pub(crate) const INSERT_URI: &str =
    "INSERT INTO ix_composite (ts, pid, item, part, n, uri) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
