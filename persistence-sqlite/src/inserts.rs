//! Writing index rows: the value columns of each kind of index value, shared by its typed
//! table (`ix_token`, …, keyed by `ts, pid, seq`) and by the composite rows of
//! `ix_composite` (keyed by `ts, pid, item, part, n`, the other kinds' columns NULL), and
//! the insert statements, prepared once per version written.

use std::sync::LazyLock;

use hearth_interface::index::{IndexValue, normalize_string};
use rusqlite::{CachedStatement, Connection, ToSql, params_from_iter};

use crate::indexing::{is_plain_reference, of_type_column};

/// The kinds of index values with columns of their own.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    String,
    Token,
    Reference,
    Date,
    Number,
    Quantity,
    Uri,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::String,
        Kind::Token,
        Kind::Reference,
        Kind::Date,
        Kind::Number,
        Kind::Quantity,
        Kind::Uri,
    ];

    /// The typed table of the kind.
    fn table(self) -> &'static str {
        match self {
            Kind::String => "ix_string",
            Kind::Token => "ix_token",
            Kind::Reference => "ix_reference",
            Kind::Date => "ix_date",
            Kind::Number | Kind::Quantity => "ix_quantity",
            Kind::Uri => "ix_uri",
        }
    }

    /// The value columns, in the order [`with_columns`] gives their values.
    fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::String => &["norm", "exact"],
            Kind::Token => &["system", "code", "text_norm", "of_type"],
            Kind::Reference => &[
                "reference",
                "target_type",
                "target_id",
                "ident_system",
                "ident_value",
            ],
            Kind::Date => &["start", "end"],
            Kind::Number => &["lo", "hi"],
            Kind::Quantity => &["lo", "hi", "system", "code", "unit"],
            Kind::Uri => &["uri"],
        }
    }
}

/// Calls `write` with the kind and the value columns of `value` (see [`Kind::columns`]);
/// `None` for the values stored elsewhere (positions, composites, full text). A reference
/// that is exactly `Type/id` has no text when `plain_without_text` (see the `indexing`
/// module).
pub(crate) fn with_columns<R>(
    value: &IndexValue,
    plain_without_text: bool,
    write: impl FnOnce(Kind, &[&dyn ToSql]) -> R,
) -> Option<R> {
    Some(match value {
        IndexValue::String { normalized, exact } => write(Kind::String, &[normalized, exact]),
        IndexValue::Token {
            system,
            code,
            text,
            of_type,
        } => {
            let text_norm = text.as_deref().map(normalize_string);
            let types = of_type_column(of_type);
            write(Kind::Token, &[system, code, &text_norm, &types])
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
            let reference = reference.as_deref().filter(|r| {
                !plain_without_text
                    || !is_plain_reference(r, resource_type.as_deref(), id.as_deref())
            });
            write(
                Kind::Reference,
                &[&reference, resource_type, id, &ident_system, &ident_value],
            )
        }
        IndexValue::Date { start, end } => write(Kind::Date, &[start, end]),
        IndexValue::Number { value, .. } => write(Kind::Number, &[value, value]),
        IndexValue::Quantity {
            system, code, unit, ..
        } => {
            let (lo, hi) = value.compared_range()?;
            write(Kind::Quantity, &[&lo, &hi, system, code, unit])
        }
        IndexValue::Uri(uri) => write(Kind::Uri, &[uri]),
        IndexValue::Position { .. } | IndexValue::Composite(_) | IndexValue::Text(_) => {
            return None;
        }
    })
}

/// The inserts of index rows, one statement each.
#[derive(Clone, Copy)]
pub(crate) enum Table {
    /// A row of a kind's typed table.
    Value(Kind),
    /// A composite row holding a part of that kind.
    Composite(Kind),
    /// A position (`ix_position`).
    Position,
    /// A multi-value mark (`ix_multi`).
    Multi,
}

impl Table {
    const COUNT: usize = 2 * Kind::ALL.len() + 2;

    fn index(self) -> usize {
        match self {
            Table::Value(kind) => kind as usize,
            Table::Composite(kind) => Kind::ALL.len() + kind as usize,
            Table::Position => 2 * Kind::ALL.len(),
            Table::Multi => 2 * Kind::ALL.len() + 1,
        }
    }

    fn sql(self) -> String {
        let insert = |verb: &str, table: &str, keys: &[&str], values: &[&str]| {
            let columns = [keys, values].concat();
            let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
            format!(
                "{verb} INTO {table} ({}) VALUES ({})",
                columns.join(", "),
                placeholders.join(", ")
            )
        };
        match self {
            Table::Value(kind) => insert(
                "INSERT",
                kind.table(),
                &["ts", "pid", "seq"],
                kind.columns(),
            ),
            Table::Composite(kind) => insert(
                "INSERT",
                crate::composite_index::TABLE,
                &["ts", "pid", "item", "part", "n"],
                kind.columns(),
            ),
            Table::Position => insert(
                "INSERT",
                "ix_position",
                &["ts", "pid", "seq"],
                &["lat", "lon", "x", "y", "z"],
            ),
            Table::Multi => insert("INSERT OR IGNORE", "ix_multi", &["ts", "pid"], &[]),
        }
    }
}

/// The text of every insert, by [`Table::index`].
static SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut tables: Vec<Table> = Kind::ALL.into_iter().map(Table::Value).collect();
    tables.extend(Kind::ALL.into_iter().map(Table::Composite));
    tables.extend([Table::Position, Table::Multi]);
    tables.into_iter().map(Table::sql).collect()
});

/// The insert statements for the rows of one version, each taken from the connection's
/// cache once rather than once per row (the cache looks statements up by their text,
/// which cost about a tenth of an indexed import).
pub(crate) struct Inserts<'c> {
    conn: &'c Connection,
    statements: [Option<CachedStatement<'c>>; Table::COUNT],
}

impl<'c> Inserts<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            statements: Default::default(),
        }
    }

    /// Inserts a row of `table`: its key columns, then its value columns.
    pub(crate) fn insert(
        &mut self,
        table: Table,
        key: &[&dyn ToSql],
        values: &[&dyn ToSql],
    ) -> rusqlite::Result<()> {
        let slot = &mut self.statements[table.index()];
        let statement = match slot.take() {
            Some(statement) => statement,
            None => self.conn.prepare_cached(&SQL[table.index()])?,
        };
        slot.insert(statement)
            .execute(params_from_iter(key.iter().chain(values)))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_name_each_column_once_with_a_placeholder() {
        assert_eq!(
            Table::Value(Kind::Token).sql(),
            "INSERT INTO ix_token (ts, pid, seq, system, code, text_norm, of_type) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        );
        assert_eq!(
            Table::Composite(Kind::Number).sql(),
            "INSERT INTO ix_composite (ts, pid, item, part, n, lo, hi) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        );
        assert_eq!(
            Table::Multi.sql(),
            "INSERT OR IGNORE INTO ix_multi (ts, pid) VALUES (?1, ?2)"
        );
        for (i, sql) in SQL.iter().enumerate() {
            assert!(sql.starts_with("INSERT"), "{i}: {sql}");
        }
        assert_eq!(SQL.len(), Table::COUNT);
    }
}
