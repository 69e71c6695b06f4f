//! Full-text search (`_text`, `_content`): the texts every engine indexes and the words a
//! query looks for, so that all engines agree on what matches.
//!
//! - `_text` indexes the narrative: `text.div` with its tags removed and the common
//!   entities decoded.
//! - `_content` indexes all string content: every string value of the resource, except
//!   `text.div` (its narrative text is used instead), the values of `id`, `system`, `url`,
//!   `profile` and `reference` elements (names of resources, elements, code systems,
//!   profiles and targets, not content) and `meta.versionId`/`meta.lastUpdated` (set by the
//!   server).
//!
//! A query value matches when each of its words ([`query_words`]) starts a word of the
//! text, ignoring case and accents (`heart fail` matches "Heart failure"). Words are runs
//! of letters and digits. Values separated by commas are ORed, repeated parameters ANDed,
//! as for every parameter.

use std::collections::HashSet;

use serde_json::Value;

use crate::index::normalize_string;

/// The code of the narrative parameter.
pub const TEXT: &str = "_text";
/// The code of the all-content parameter.
pub const CONTENT: &str = "_content";

/// Elements whose string values `_content` leaves out.
const NOT_CONTENT: [&str; 7] = [
    "id",
    "system",
    "url",
    "profile",
    "reference",
    "versionId",
    "lastUpdated",
];

/// The narrative of `resource` as plain text; `None` without one.
pub fn narrative(resource: &Value) -> Option<String> {
    let div = resource.get("text")?.get("div")?.as_str()?;
    let text = strip_tags(div);
    (!text.trim().is_empty()).then_some(text)
}

/// All string content of `resource`, values separated by newlines; `None` without any.
pub fn content(resource: &Value) -> Option<String> {
    let mut out = String::new();
    collect_strings(resource, None, &mut out);
    if let Some(narrative) = narrative(resource) {
        out.push_str(&narrative);
        out.push('\n');
    }
    (!out.is_empty()).then_some(out)
}

fn collect_strings(value: &Value, key: Option<&str>, out: &mut String) {
    match value {
        Value::String(s) if !key.is_some_and(|k| NOT_CONTENT.contains(&k) || k == "div") => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, key, out)),
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| collect_strings(v, Some(k), out)),
        _ => {}
    }
}

/// XHTML to plain text: tags become spaces, comments and the common entities are handled.
/// Hand-written: the narrative only needs its words, which no HTML crate gives more cheaply.
fn strip_tags(div: &str) -> String {
    let mut out = String::with_capacity(div.len());
    let mut rest = div;
    while let Some(at) = rest.find(['<', '&']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if rest.starts_with("<!--") {
            rest = rest.find("-->").map_or("", |end| &rest[end + 3..]);
            out.push(' ');
        } else if rest.starts_with('<') {
            rest = rest.find('>').map_or("", |end| &rest[end + 1..]);
            out.push(' ');
        } else {
            let (decoded, used) = entity(rest);
            out.push_str(decoded);
            rest = &rest[used..];
        }
    }
    out.push_str(rest);
    out
}

/// The text of the entity at the start of `s` and its length; an unknown one is kept.
fn entity(s: &str) -> (&'static str, usize) {
    const ENTITIES: [(&str, &str); 7] = [
        ("&amp;", "&"),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&apos;", "'"),
        ("&#39;", "'"),
        ("&nbsp;", " "),
    ];
    ENTITIES
        .iter()
        .find(|(name, _)| s.starts_with(name))
        .map_or(("&", 1), |(name, text)| (text, name.len()))
}

/// The words of a query value, normalized (lowercase, accents removed); each must start a
/// word of the text.
pub fn query_words(value: &str) -> Vec<String> {
    words_of(&normalize_string(value))
        .map(str::to_owned)
        .collect()
}

/// The words of `text` as full-text indexes hold them: each distinct normalized word once,
/// sorted (so that the order of the text does not matter), separated by spaces; `None` when
/// it has no word. Matching ([`matches`]) gives the same answers on it as on `text`, and it
/// is about half the words to index.
pub fn index_words(text: &str) -> Option<String> {
    let normalized = normalize_string(text);
    let mut seen = HashSet::with_capacity_and_hasher(64, foldhash::fast::FixedState::default());
    let mut words: Vec<&str> = words_of(&normalized).filter(|w| seen.insert(*w)).collect();
    words.sort_unstable();
    (!words.is_empty()).then(|| words.join(" "))
}

/// The runs of letters and digits of `normalized`.
fn words_of(normalized: &str) -> impl Iterator<Item = &str> {
    normalized
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Whether `text` matches the query `words` (each starts some word of the text): the
/// reference semantics engines must follow.
pub fn matches(text: &str, words: &[String]) -> bool {
    let normalized = normalize_string(text);
    let text_words: Vec<&str> = words_of(&normalized).collect();
    words
        .iter()
        .all(|w| text_words.iter().any(|t| t.starts_with(w.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn narrative_without_tags_and_entities() {
        let resource = json!({"text": {"status": "generated",
            "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p><b>Name</b>: Peter&nbsp;Chalmers &amp; co<!-- x --></p>Café</div>"}});
        let text = narrative(&resource).expect("narrative");
        assert_eq!(
            text.split_whitespace().collect::<Vec<_>>(),
            ["Name", ":", "Peter", "Chalmers", "&", "co", "Café"]
        );
        assert_eq!(narrative(&json!({"text": {"div": "<div/>"}})), None);
        assert_eq!(narrative(&json!({})), None);
        assert_eq!(strip_tags("a &unknown; <unclosed"), "a &unknown;  ");
    }

    #[test]
    fn content_is_every_string_but_names_of_things() {
        let resource = json!({"resourceType": "Observation", "id": "f001",
            "code": {"coding": [{"id": "c1", "system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
            "subject": {"reference": "Patient/1", "display": "Ann"},
            "meta": {"profile": ["http://x/p"]},
            "valueQuantity": {"value": 5},
            "text": {"div": "<div>Narrative words</div>"}});
        let text = content(&resource).expect("content");
        for present in [
            "Observation",
            "8867-4",
            "Heart rate",
            "Ann",
            "Narrative words",
        ] {
            assert!(text.contains(present), "{present} in {text}");
        }
        for absent in ["loinc", "Patient/1", "http://x/p", "<div>", "f001", "c1"] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
    }

    #[test]
    fn indexed_words_match_as_the_text_does() {
        let text = "Heart failure, heart FAILURE (Müller) 8867-4";
        let indexed = index_words(text).expect("words");
        assert_eq!(indexed, "4 8867 failure heart muller");
        for query in ["heart fail", "MULL", "eart", "8867-4", "attack"] {
            let words = query_words(query);
            assert_eq!(matches(&indexed, &words), matches(text, &words), "{query}");
        }
        assert_eq!(index_words(" -- "), None);
    }

    #[test]
    fn words_start_words_ignoring_case_and_accents() {
        assert_eq!(query_words("Heart-FAIL, é"), ["heart", "fail", "e"]);
        let text = "Patient has Heart failure (Müller)";
        assert!(matches(text, &query_words("heart fail")));
        assert!(matches(text, &query_words("MULL")));
        assert!(!matches(text, &query_words("eart")));
        assert!(!matches(text, &query_words("heart attack")));
    }
}
