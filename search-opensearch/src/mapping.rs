//! Index names and the explicit mapping of each resource type's index, derived from the
//! types of its R4 search parameters.
//!
//! Every document has these top-level fields:
//!
//! | field | type | holds |
//! |---|---|---|
//! | `type`, `id` | keyword | the resource type and id (sort tie-breakers) |
//! | `version` | long | the version indexed (also the document's external version) |
//! | `lastUpdated` | long | the version's time in microseconds (the sort order) |
//! | `change` | keyword | `create` or `update` |
//! | `deleted` | boolean | `true` for a tombstone |
//! | `body` | text, not indexed | the stored resource, returned by searches |
//! | `present` | keyword | the codes of the parameters with values (for `:missing`) |
//! | `p` | object | one entry per parameter, by type (below) |
//! | `s` | object | the sort values of each sortable parameter (below) |
//!
//! Under `p`, each searchable parameter has an object named by [`field`]:
//!
//! | parameter type | fields |
//! |---|---|
//! | string | `norm` (normalized: lowercase, no accents), `exact` (keywords) |
//! | token | `k` (keys: see [`crate::document`]), `text` (normalized display texts) |
//! | reference | `k` (keys of the literal reference, type and id), `ident` (token keys of `Reference.identifier`) |
//! | uri | `v` (keyword) |
//! | date | nested `{start, end}` (long, inclusive milliseconds) |
//! | number, quantity | nested `{lo, hi}` (double) with `system`, `code`, `unit` (keywords) |
//! | composite | nested, one document per item of the base expression: under `0`, `1`, … the fields of each component's type (above; a date or quantity part is one plain object) |
//! | `_text`, `_content` | `w` (keywords: the distinct normalized words of the text) |
//!
//! Date and quantity values are `nested` so that both ends of one value (and its unit)
//! are compared together, and composite items so that their parts are matched within one
//! item (an item with several dates or quantities in one part is indexed as one item per
//! combination, so a part holds one such value); the others are flat arrays of keys. Keywords longer than [`MAX_KEYWORD_CHARS`] are not indexed (Lucene's
//! term limit is 32,766 bytes).
//!
//! Under `s`, each parameter `_sort` can use has `{a, d}`: the value a resource sorts by
//! ascending (its lowest) and descending (its highest), as
//! [`SortKey`](hearth_interface::search::SortKey) defines them; keyword for string, token,
//! reference and uri parameters, long (milliseconds) for dates, double for numbers and
//! quantities ([`sort_type`]).

use hearth_interface::ResourceType;
use hearth_interface::search::criteria::{fulltext_column, is_searchable};
use hearth_interface::search_params::{SearchParamDef, SearchParamRegistry, SearchParamType};
use serde_json::{Map, Value, json};

/// The longest keyword indexed, in characters (4 bytes each at most in UTF-8).
pub const MAX_KEYWORD_CHARS: usize = 8191;

/// The index of `ty` under `prefix`: `{prefix}-{type in lowercase}`.
pub fn index_name(prefix: &str, ty: ResourceType) -> String {
    format!("{prefix}-{}", ty.as_str().to_ascii_lowercase())
}

/// The object name of a parameter under `p`: its code, with a leading `_` (`_id`,
/// `_lastUpdated`) spelled `meta-`, since OpenSearch reserves names starting with `_`.
pub fn field(code: &str) -> String {
    match code.strip_prefix('_') {
        Some(rest) => format!("meta-{rest}"),
        None => code.to_owned(),
    }
}

fn keyword() -> Value {
    json!({"type": "keyword", "ignore_above": MAX_KEYWORD_CHARS})
}

/// The mapping of one parameter's object under `p`, or `None` for parameters no engine
/// searches.
pub fn param_mapping(def: &SearchParamDef) -> Option<Value> {
    if fulltext_column(&def.code).is_some() {
        return Some(json!({"properties": {"w": keyword()}}));
    }
    if def.kind != SearchParamType::Composite {
        return kind_mapping(def.kind);
    }
    let parts: Map<String, Value> = def
        .components
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let mut part = kind_mapping(c.kind)?;
            // One value per part and item (see `crate::document`): a plain object.
            part.as_object_mut()?.remove("type");
            Some((i.to_string(), part))
        })
        .collect();
    Some(json!({"type": "nested", "properties": parts}))
}

/// The OpenSearch type of the sort values of a parameter of type `kind`; `None` for the
/// types that cannot be sorted on (composite, special).
pub fn sort_type(kind: SearchParamType) -> Option<&'static str> {
    match kind {
        SearchParamType::String
        | SearchParamType::Token
        | SearchParamType::Reference
        | SearchParamType::Uri => Some("keyword"),
        SearchParamType::Date => Some("long"),
        SearchParamType::Number | SearchParamType::Quantity => Some("double"),
        SearchParamType::Composite | SearchParamType::Special => None,
    }
}

/// Whether `_sort` can use parameter `def` (a type with sort values, and an expression).
pub fn is_sortable(def: &SearchParamDef) -> bool {
    is_searchable(def) && def.expression.is_some() && sort_type(def.kind).is_some()
}

/// The mapping of the values of one parameter type (or composite component).
fn kind_mapping(kind: SearchParamType) -> Option<Value> {
    let keyword = keyword();
    let mapping = match kind {
        SearchParamType::String => json!({"properties": {"norm": keyword, "exact": keyword}}),
        SearchParamType::Token => json!({"properties": {"k": keyword, "text": keyword}}),
        SearchParamType::Reference => json!({"properties": {"k": keyword, "ident": keyword}}),
        SearchParamType::Uri => json!({"properties": {"v": keyword}}),
        SearchParamType::Date => json!({"type": "nested", "properties": {
            "start": {"type": "long"}, "end": {"type": "long"}
        }}),
        SearchParamType::Number | SearchParamType::Quantity => {
            json!({"type": "nested", "properties": {
                "lo": {"type": "double"}, "hi": {"type": "double"},
                "system": keyword, "code": keyword, "unit": keyword
            }})
        }
        // `near`, the one special parameter with values: positions.
        SearchParamType::Special => json!({"properties": {"g": {"type": "geo_point"}}}),
        SearchParamType::Composite => return None,
    };
    Some(mapping)
}

/// The `p` and `s` objects of the mapping of `ty`: the index fields of each searchable
/// parameter and the sort fields of each sortable one.
fn param_properties(ty: ResourceType) -> (Map<String, Value>, Map<String, Value>) {
    let mut params = Map::new();
    let mut sorts = Map::new();
    for def in SearchParamRegistry::r4().for_type(ty.as_str()) {
        if !is_searchable(def) {
            continue;
        }
        if let Some(mapping) = param_mapping(def) {
            params.insert(field(&def.code), mapping);
        }
        if let (true, Some(kind)) = (is_sortable(def), sort_type(def.kind)) {
            let value = json!({"type": kind});
            sorts.insert(
                field(&def.code),
                json!({"properties": {"a": value, "d": value}}),
            );
        }
    }
    (params, sorts)
}

/// The mapping of `ty`'s index (without settings and alias): the body of a put-mapping
/// request that adds the fields of a newer version to an existing index.
pub fn mapping_body(ty: ResourceType) -> Value {
    index_body("unused", ty)["mappings"].take()
}

/// The body that creates the index of `ty`: settings, the alias and the mapping.
pub fn index_body(alias: &str, ty: ResourceType) -> Value {
    let (params, sorts) = param_properties(ty);
    json!({
        "settings": {"index": {
            "number_of_shards": 1,
            "mapping.total_fields.limit": 4000,
            "mapping.nested_fields.limit": 200,
        }},
        "aliases": {alias: {}},
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "type": {"type": "keyword"},
                "id": {"type": "keyword"},
                "version": {"type": "long"},
                "lastUpdated": {"type": "long"},
                "change": {"type": "keyword", "index": false},
                "deleted": {"type": "boolean"},
                "body": {"type": "text", "index": false},
                "present": {"type": "keyword"},
                "p": {"properties": params},
                "s": {"properties": sorts},
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_interface::id::all_resource_types;

    #[test]
    fn every_type_has_a_mapping_within_the_limits() {
        for name in all_resource_types() {
            let ty = ResourceType::parse(name).expect("type");
            let body = index_body("h-all", ty);
            let params = body["mappings"]["properties"]["p"]["properties"]
                .as_object()
                .expect("params");
            assert!(params.contains_key("meta-id") && params.contains_key("meta-lastUpdated"));
            let nested = params.values().filter(|m| m["type"] == "nested").count();
            let nested_fields = body.to_string().matches(r#""nested""#).count();
            assert!(nested_fields < 200, "{name}: {nested_fields} nested fields");
            let fields = body.to_string().matches(r#""type":"#).count();
            assert!(nested < 200 && fields < 4000, "{name}: {fields} fields");
        }
        assert_eq!(
            index_name(
                "hearth",
                ResourceType::parse("MedicationRequest").expect("type")
            ),
            "hearth-medicationrequest"
        );
    }
}
