//! `_text` and `_content`: word-prefix queries on the FTS5 table of the
//! `fulltext_index` module, with the semantics of `hearth_interface::fulltext`.

use super::*;

/// The current versions whose `column` text matches: the FTS5 query
/// `column : (("w1"* AND "w2"*) OR …)`. Words hold only letters and digits, so quoting
/// them is enough to keep FTS5 syntax out.
pub(super) fn fulltext_sql(column: &str, alternatives: &[Vec<String>], b: &mut Binder) -> String {
    let any: Vec<String> = alternatives
        .iter()
        .map(|words| {
            let all: Vec<String> = words.iter().map(|w| format!("\"{w}\"*")).collect();
            format!("({})", all.join(" AND "))
        })
        .collect();
    let query = b.text(&format!("{column} : ({})", any.join(" OR ")));
    format!("c.ts IN (SELECT rowid FROM ix_fulltext WHERE ix_fulltext MATCH {query})")
}
