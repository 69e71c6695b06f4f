//! The document indexed for one stored version: its index values (extracted by the code
//! every engine shares) in the layout of [`crate::mapping`], and the keys that turn token
//! and reference matching into exact term lookups.
//!
//! # Keys
//! Parts are separated by `\x1f` (unit separator), which FHIR strings cannot contain.
//!
//! A token value `(system, code)` has the keys
//! - `c␟code` (any system), and `sc␟system␟code` or `n␟code` (no system);
//! - `s␟system` (any code);
//! - `t␟type system␟type code␟code` per Identifier type coding (for `:of-type`).
//!
//! A reference value has `r␟reference` (its text), `t␟Type␟id` and `i␟id`; its
//! `Reference.identifier` has the token keys in `ident`.
//!
//! # Sort values
//! Each sortable parameter with values has under `s` its lowest value (`a`, for ascending
//! sorts) and its highest (`d`, descending), as [`SortKey`] defines them: string by the
//! normalized text, token by the code, reference by its text (`Type/id` when it has
//! none), uri by the uri, date by the start (`a`) and end (`d`) of its ranges, number and
//! quantity by `lo` (`a`) and `hi` (`d`).
//!
//! # Full text
//! `_text` and `_content` hold the distinct words of their text ([`words`]), so that the
//! word-prefix match of [`hearth_interface::fulltext`] is one `prefix` query per word.
//!
//! [`SortKey`]: hearth_interface::search::SortKey

use std::collections::BTreeSet;

use hearth_interface::fulltext::query_words;
use hearth_interface::index::{IndexValue, extract_all, normalize_string};
use hearth_interface::search::criteria::is_searchable;
use hearth_interface::search_params::SearchParamType;
use hearth_interface::store::{ChangeKind, StoredResource};
use hearth_interface::{Error, Result};
use serde_json::{Map, Value, json};

use crate::mapping::{MAX_KEYWORD_CHARS, field, is_sortable};

/// The key separator.
pub const SEP: char = '\u{1f}';

/// The keys of a token value (see the module docs).
pub fn token_keys(system: Option<&str>, code: Option<&str>, out: &mut Vec<String>) {
    if let Some(code) = code {
        out.push(format!("c{SEP}{code}"));
        match system {
            Some(system) => out.push(format!("sc{SEP}{system}{SEP}{code}")),
            None => out.push(format!("n{SEP}{code}")),
        }
    }
    if let Some(system) = system {
        out.push(format!("s{SEP}{system}"));
    }
}

/// The `:of-type` key of an identifier value with a type coding.
pub fn of_type_key(system: &str, code: &str, value: &str) -> String {
    format!("t{SEP}{system}{SEP}{code}{SEP}{value}")
}

/// The key of a reference's text.
pub fn reference_key(reference: &str) -> String {
    format!("r{SEP}{reference}")
}

/// The key of a reference's target type and id.
pub fn target_key(resource_type: &str, id: &str) -> String {
    format!("t{SEP}{resource_type}{SEP}{id}")
}

/// The key of a reference's target id, whatever its type.
pub fn id_key(id: &str) -> String {
    format!("i{SEP}{id}")
}

/// The document of a live version, or a tombstone for a deletion.
///
/// # Errors
/// `Internal` when a live version has no body or its body is not JSON.
pub fn document(stored: &StoredResource) -> Result<Value> {
    let mut doc = json!({
        "type": stored.resource_type.as_str(),
        "id": stored.id.as_str(),
        "version": stored.version,
        "lastUpdated": stored.last_updated.0,
        "deleted": stored.is_deleted(),
    });
    if stored.is_deleted() {
        return Ok(doc);
    }
    let body = stored.body.as_deref().ok_or_else(|| {
        Error::internal(
            format!("{} has no body", stored.versioned_path()),
            "live version without body",
        )
    })?;
    let resource: Value = serde_json::from_str(body).map_err(|e| {
        Error::internal(
            format!("stored {} is not valid JSON", stored.versioned_path()),
            e,
        )
    })?;
    let mut present = Vec::new();
    let mut params = Map::new();
    let mut sorts = Map::new();
    for (def, values) in extract_all(stored.resource_type.as_str(), &resource) {
        if !is_searchable(def) {
            continue;
        }
        if let Some(fields) = param_fields(&values) {
            present.push(Value::String(def.code.clone()));
            params.insert(field(&def.code), fields);
        }
        if is_sortable(def)
            && let Some((lowest, highest)) = sort_values(def.kind, &values)
        {
            sorts.insert(field(&def.code), json!({"a": lowest, "d": highest}));
        }
    }
    doc["change"] = json!(match stored.change {
        ChangeKind::Create => "create",
        _ => "update",
    });
    doc["body"] = Value::String(body.to_owned());
    doc["present"] = Value::Array(present);
    doc["p"] = Value::Object(params);
    doc["s"] = Value::Object(sorts);
    Ok(doc)
}

/// A text sort value as indexed: cut to [`MAX_KEYWORD_CHARS`] characters (Lucene refuses
/// longer terms, and the order of such texts rarely depends on what follows).
fn sort_keyword(text: &str) -> &str {
    match text.char_indices().nth(MAX_KEYWORD_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The distinct normalized words of a full-text parameter's text.
pub fn words(text: &str) -> Vec<String> {
    let words: BTreeSet<String> = query_words(text).into_iter().collect();
    words.into_iter().collect()
}

/// The lowest and highest sort values of a parameter of type `kind` among `values`
/// (see the module docs); `None` when no value has one.
fn sort_values(kind: SearchParamType, values: &[IndexValue]) -> Option<(Value, Value)> {
    match kind {
        SearchParamType::Date => {
            let ranges: Vec<(i64, i64)> = values
                .iter()
                .filter_map(|value| match value {
                    IndexValue::Date { start, end } => Some((*start, *end)),
                    _ => None,
                })
                .collect();
            let lowest = ranges.iter().map(|r| r.0).min()?;
            let highest = ranges.iter().map(|r| r.1).max()?;
            Some((json!(lowest), json!(highest)))
        }
        SearchParamType::Number | SearchParamType::Quantity => {
            let bounds: Vec<(f64, f64)> = values
                .iter()
                .filter_map(IndexValue::compared_range)
                .collect();
            let lowest = bounds.iter().map(|b| b.0).reduce(f64::min)?;
            let highest = bounds.iter().map(|b| b.1).reduce(f64::max)?;
            Some((json!(lowest), json!(highest)))
        }
        _ => {
            let texts: Vec<String> = values
                .iter()
                .filter_map(|value| match value {
                    IndexValue::String { normalized, .. } => Some(normalized.clone()),
                    IndexValue::Token { code, .. } => code.clone(),
                    IndexValue::Reference {
                        reference,
                        resource_type,
                        id,
                        ..
                    } => match (reference, resource_type, id) {
                        (Some(reference), _, _) => Some(reference.clone()),
                        (None, Some(ty), Some(id)) => Some(format!("{ty}/{id}")),
                        _ => None,
                    },
                    IndexValue::Uri(uri) => Some(uri.clone()),
                    _ => None,
                })
                .collect();
            let lowest = texts.iter().min()?;
            let highest = texts.iter().max()?;
            Some((json!(sort_keyword(lowest)), json!(sort_keyword(highest))))
        }
    }
}

/// The fields of one parameter's values (all of one kind), or `None` when none is
/// searchable (positions).
fn param_fields(values: &[IndexValue]) -> Option<Value> {
    let mut fields = Fields::default();
    for value in values {
        fields.add(value);
    }
    fields.into_value()
}

/// The fields of one date, number or quantity value; `None` for other values.
fn range_fields(value: &IndexValue) -> Option<Value> {
    Some(match value {
        IndexValue::Date { start, end } => json!({"start": start, "end": end}),
        IndexValue::Number { value, .. } => json!({"lo": value, "hi": value}),
        IndexValue::Quantity {
            system, code, unit, ..
        } => {
            let (lo, hi) = value.compared_range()?;
            json!({"lo": lo, "hi": hi, "system": system, "code": code, "unit": unit})
        }
        _ => return None,
    })
}

/// The nested documents of one composite value: under `0`, `1`, ... the fields of each
/// part. A date, number or quantity part holds one value (a plain object, not nested),
/// so an item with several values in such a part becomes one document per combination:
/// matching "one item matches every part" stays exact with one `nested` level.
fn composite_items(parts: &[Vec<IndexValue>]) -> Vec<Map<String, Value>> {
    let mut items = vec![Map::new()];
    for (i, values) in parts.iter().enumerate() {
        let key = i.to_string();
        let ranges: Vec<Value> = values.iter().filter_map(range_fields).collect();
        if ranges.is_empty() {
            if let Some(fields) = param_fields(values) {
                for item in &mut items {
                    item.insert(key.clone(), fields.clone());
                }
            }
            continue;
        }
        items = items
            .into_iter()
            .flat_map(|item| {
                ranges.iter().map(move |range| {
                    let mut item = item.clone();
                    item.insert(i.to_string(), range.clone());
                    item
                })
            })
            .collect();
    }
    items
}

/// The fields of one parameter, collected value by value.
#[derive(Default)]
struct Fields {
    norm: Vec<String>,
    exact: Vec<String>,
    keys: Vec<String>,
    texts: Vec<String>,
    idents: Vec<String>,
    uris: Vec<String>,
    nested: Vec<Value>,
    words: Vec<String>,
    points: Vec<Value>,
    kind: Option<&'static str>,
}

impl Fields {
    fn add(&mut self, value: &IndexValue) {
        match value {
            IndexValue::String { normalized, exact } => {
                self.kind = Some("string");
                self.norm.push(normalized.clone());
                self.exact.push(exact.clone());
            }
            IndexValue::Token {
                system,
                code,
                text,
                of_type,
            } => {
                self.kind = Some("token");
                token_keys(system.as_deref(), code.as_deref(), &mut self.keys);
                if let Some(code) = code {
                    for (s, c) in of_type {
                        if let (Some(s), Some(c)) = (s, c) {
                            self.keys.push(of_type_key(s, c, code));
                        }
                    }
                }
                if let Some(text) = text {
                    self.texts.push(normalize_string(text));
                }
            }
            IndexValue::Reference {
                reference,
                resource_type,
                id,
                identifier,
            } => {
                self.kind = Some("reference");
                if let Some(r) = reference {
                    self.keys.push(reference_key(r));
                }
                if let Some(id) = id {
                    if let Some(ty) = resource_type {
                        self.keys.push(target_key(ty, id));
                    }
                    self.keys.push(id_key(id));
                }
                if let Some((system, value)) = identifier {
                    token_keys(system.as_deref(), value.as_deref(), &mut self.idents);
                }
            }
            IndexValue::Uri(uri) => {
                self.kind = Some("uri");
                self.uris.push(uri.clone());
            }
            IndexValue::Date { .. } | IndexValue::Number { .. } | IndexValue::Quantity { .. } => {
                self.kind = Some("nested");
                self.nested.extend(range_fields(value));
            }
            IndexValue::Composite(parts) => {
                self.kind = Some("nested");
                self.nested
                    .extend(composite_items(parts).into_iter().map(Value::Object));
            }
            IndexValue::Text(text) => {
                self.kind = Some("text");
                self.words.extend(words(text));
            }
            IndexValue::Position {
                latitude,
                longitude,
            } => {
                self.kind = Some("position");
                self.points.push(json!({"lat": latitude, "lon": longitude}));
            }
        }
    }

    fn into_value(self) -> Option<Value> {
        Some(match self.kind? {
            "string" => json!({"norm": self.norm, "exact": self.exact}),
            "token" => json!({"k": self.keys, "text": self.texts}),
            "reference" => json!({"k": self.keys, "ident": self.idents}),
            "uri" => json!({"v": self.uris}),
            "text" => json!({"w": self.words}),
            "position" => json!({"g": self.points}),
            _ => Value::Array(self.nested),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_interface::instant::Instant;
    use hearth_interface::{ResourceId, ResourceType};

    fn stored(body: Value) -> StoredResource {
        StoredResource {
            resource_type: ResourceType::parse("Patient").expect("type"),
            id: ResourceId::parse("p").expect("id"),
            version: 3,
            last_updated: Instant(1_700_000_000_000_000),
            change: ChangeKind::Update,
            body: Some(body.to_string()),
        }
    }

    #[test]
    fn documents_hold_keys_per_parameter() {
        let doc = document(&stored(json!({
            "resourceType": "Patient", "id": "p",
            "name": [{"family": "Müller"}],
            "identifier": [{"system": "urn:s", "value": "1",
                "type": {"coding": [{"system": "urn:t", "code": "MR"}]}}],
            "generalPractitioner": [{"reference": "Practitioner/d"}],
            "birthDate": "2000",
        })))
        .expect("document");
        assert_eq!(doc["p"]["family"]["norm"], json!(["muller"]));
        assert_eq!(doc["p"]["family"]["exact"], json!(["Müller"]));
        let keys = doc["p"]["identifier"]["k"].as_array().expect("keys");
        for key in ["c\u{1f}1", "sc\u{1f}urn:s\u{1f}1", "s\u{1f}urn:s"] {
            assert!(keys.contains(&json!(key)), "{key}");
        }
        assert!(keys.contains(&json!(of_type_key("urn:t", "MR", "1"))));
        let refs = doc["p"]["general-practitioner"]["k"]
            .as_array()
            .expect("refs");
        assert!(refs.contains(&json!(target_key("Practitioner", "d"))));
        assert!(
            doc["p"]["birthdate"]
                .as_array()
                .is_some_and(|v| v.len() == 1)
        );
        assert!(doc["p"]["meta-id"]["k"].is_array());
        assert!(
            doc["present"]
                .as_array()
                .expect("present")
                .contains(&json!("family"))
        );
        assert_eq!(doc["deleted"], false);
    }

    #[test]
    fn documents_hold_sort_values_words_and_composite_items() {
        let doc = document(&stored(json!({
            "resourceType": "Patient", "id": "p",
            "name": [{"family": "Zed", "given": ["Ann"]}, {"family": "Émile"}],
            "birthDate": "2000",
            "text": {"div": "<div>Heart <b>heart</b> failure</div>"},
        })))
        .expect("document");
        assert_eq!(doc["s"]["name"], json!({"a": "ann", "d": "zed"}));
        let birth = &doc["s"]["birthdate"];
        assert!(birth["a"].as_i64() < birth["d"].as_i64(), "{birth}");
        assert_eq!(doc["p"]["meta-text"]["w"], json!(["failure", "heart"]));
        assert!(doc["s"].get("meta-text").is_none());
        assert_eq!(sort_keyword(&"é".repeat(9000)).chars().count(), 8191);

        let mut observation = stored(json!({
            "resourceType": "Observation", "id": "o", "status": "final",
            "code": {"coding": [{"code": "bp"}]},
            "component": [
                {"code": {"coding": [{"code": "sys"}]}, "valueQuantity": {"value": 120}},
                {"code": {"coding": [{"code": "dia"}]}, "valueQuantity": {"value": 80}}
            ]
        }));
        observation.resource_type = ResourceType::parse("Observation").expect("type");
        let doc = document(&observation).expect("document");
        let items = doc["p"]["component-code-value-quantity"]
            .as_array()
            .expect("items");
        assert_eq!(items.len(), 2);
        assert!(
            items[0]["0"]["k"]
                .as_array()
                .expect("keys")
                .contains(&json!("c\u{1f}sys"))
        );
        assert_eq!(items[0]["1"]["lo"], json!(120.0));
        assert_eq!(items[1]["1"]["hi"], json!(80.0));
        let parts = [
            vec![IndexValue::Token {
                system: None,
                code: Some("c".into()),
                text: None,
                of_type: Vec::new(),
            }],
            vec![
                IndexValue::Date { start: 1, end: 2 },
                IndexValue::Date { start: 5, end: 6 },
            ],
        ];
        let items = composite_items(&parts);
        assert_eq!(items.len(), 2);
        assert_eq!(items[1]["1"], json!({"start": 5, "end": 6}));
        assert_eq!(items[0]["0"], items[1]["0"]);
    }

    #[test]
    fn deletions_are_tombstones() {
        let mut deleted = stored(json!({}));
        deleted.change = ChangeKind::Delete;
        deleted.body = None;
        let doc = document(&deleted).expect("tombstone");
        assert_eq!(doc["deleted"], true);
        assert!(doc.get("body").is_none() && doc.get("p").is_none());
    }
}
