//! `_text` and `_content`: word-prefix queries on the FTS5 table of the
//! `fulltext_index` module, with the semantics of `hearth_interface::fulltext`.

use hearth_interface::fulltext::{CONTENT, TEXT, query_words};

use super::*;

/// The `ix_fulltext` column searched by full-text parameter `code`, if it is one.
pub(super) fn fulltext_column(code: &str) -> Option<&'static str> {
    match code {
        TEXT => Some("narrative"),
        CONTENT => Some("content"),
        _ => None,
    }
}

/// Parses the values of `_text`/`_content`: each value's words must all match, values are
/// ORed. No modifier applies.
pub(super) fn parse_fulltext(
    name: &str,
    column: &'static str,
    modifier: Option<&str>,
    values: &[String],
) -> Result<Condition> {
    if let Some(modifier) = modifier {
        return Err(unsupported_modifier(
            name,
            SearchParamType::String,
            Some(modifier),
        ));
    }
    let alternatives = values
        .iter()
        .map(|value| {
            let words = query_words(value);
            if words.is_empty() {
                Err(bad_value(name, value, "one or more words"))
            } else {
                Ok(words)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Condition::FullText {
        column,
        alternatives,
    })
}

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
