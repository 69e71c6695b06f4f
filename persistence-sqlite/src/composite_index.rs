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

use hearth_interface::index::IndexValue;

use crate::inserts::{Inserts, Table, with_columns};

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
/// each row fills the columns of its part's kind only, the others stay NULL.
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
            let written = with_columns(value, false, |kind, columns| {
                inserts.insert(
                    Table::Composite(kind),
                    &[&ts, &pid, &item, &part, &n],
                    columns,
                )
            });
            if let Some(written) = written {
                written?;
                n += 1;
            }
        }
    }
    Ok(())
}
