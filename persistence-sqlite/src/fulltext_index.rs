//! The full-text index of `_text` and `_content` (see `hearth_interface::fulltext`): an
//! SQLite FTS5 table written with the other index tables.
//!
//! `ix_fulltext (narrative, content)` has one row per current version that has text, with
//! the version's `ts` as rowid. It is contentless (the texts are not stored twice, only
//! their words) with deletes enabled, keeps which column a word is in but not its
//! positions (`detail=column`: prefix queries per column need no more), and folds case
//! and accents like `normalize_string` (`unicode61`, `remove_diacritics 2`).

use hearth_interface::fulltext::{CONTENT, TEXT};
use hearth_interface::index::IndexValue;
use rusqlite::{Connection, params};

use crate::indexing::Extracted;

pub(crate) const SCHEMA: &str = "
CREATE VIRTUAL TABLE IF NOT EXISTS ix_fulltext USING fts5(
    narrative, content,
    content = '', contentless_delete = 1, detail = column,
    tokenize = 'unicode61 remove_diacritics 2'
);
";

/// The text of full-text parameter `code` among `extracted`.
fn text<'a>(extracted: &'a Extracted, code: &str) -> Option<&'a str> {
    extracted
        .iter()
        .filter(|(def, _)| def.code == code)
        .flat_map(|(_, values)| values)
        .find_map(|value| match value {
            IndexValue::Text(text) => Some(text.as_str()),
            _ => None,
        })
}

/// Indexes the texts of the version written at `ts`, if it has any.
pub(crate) fn insert(conn: &Connection, ts: i64, extracted: &Extracted) -> rusqlite::Result<()> {
    let narrative = text(extracted, TEXT);
    let content = text(extracted, CONTENT);
    if narrative.is_none() && content.is_none() {
        return Ok(());
    }
    conn.prepare_cached("INSERT INTO ix_fulltext (rowid, narrative, content) VALUES (?1, ?2, ?3)")?
        .execute(params![ts, narrative, content])
        .map(|_| ())
}

/// Removes the texts of the version written at `ts`.
pub(crate) fn remove(conn: &Connection, ts: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM ix_fulltext WHERE rowid = ?1")?
        .execute(params![ts])
        .map(|_| ())
}

/// Removes every text (before a full re-index).
pub(crate) fn clear(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO ix_fulltext (ix_fulltext) VALUES ('delete-all')",
        [],
    )
    .map(|_| ())
}
