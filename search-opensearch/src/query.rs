//! The parsed conditions ([`hearth_interface::search::criteria`]) as OpenSearch queries
//! on the fields of [`crate::document`], with the same semantics as the embedded
//! backend's SQL (its `matching` module is the reference).
//!
//! Composite values are one `nested` query on the items of the base expression, with one
//! clause per part on that item's fields; `_text` and `_content` ask for a `prefix` of some
//! word of the text for each query word.

use hearth_interface::search::criteria::{
    Condition, Decimal, Filter, Prefix, ReferenceQuery, StringMode, SystemMatch, TokenQuery,
    TypePlan, UnitQuery, UriMode, ValueQuery,
};
use serde_json::{Value, json};

use crate::document::{SEP, id_key, of_type_key, reference_key, target_key};
use crate::mapping::field;

/// The query matching the live documents of every plan: one branch per type (its type,
/// its filters, and one of its compartment memberships).
pub fn plans_query(plans: &[TypePlan]) -> Value {
    let branches: Vec<Value> = plans.iter().map(plan_query).collect();
    let types = match branches.as_slice() {
        [one] => one.clone(),
        _ => json!({"bool": {"should": branches, "minimum_should_match": 1}}),
    };
    json!({"bool": {"filter": [{"term": {"deleted": false}}, types]}})
}

fn plan_query(plan: &TypePlan) -> Value {
    let mut filter = vec![json!({"term": {"type": plan.resource_type.as_str()}})];
    filter.extend(plan.filters.iter().map(filter_query));
    if !plan.any_of.is_empty() {
        let any: Vec<Value> = plan.any_of.iter().map(filter_query).collect();
        filter.push(json!({"bool": {"should": any, "minimum_should_match": 1}}));
    }
    json!({"bool": {"filter": filter}})
}

/// The query of one filter.
pub fn filter_query(filter: &Filter) -> Value {
    let code = filter.def.code.as_str();
    let path = format!("p.{}", field(code));
    match &filter.condition {
        Condition::Missing(true) => {
            json!({"bool": {"must_not": [{"term": {"present": code}}]}})
        }
        Condition::Missing(false) => json!({"term": {"present": code}}),
        Condition::AnyOf(queries) => any_value(&path, queries),
        Condition::NoneOf(queries) => {
            json!({"bool": {"must_not": [any_value(&path, queries)]}})
        }
        Condition::FullText { alternatives, .. } => {
            let words = format!("{path}.w");
            let any: Vec<Value> = alternatives
                .iter()
                .map(|alternative| {
                    let all: Vec<Value> = alternative
                        .iter()
                        .map(|word| json!({"prefix": {words.as_str(): word}}))
                        .collect();
                    json!({"bool": {"filter": all}})
                })
                .collect();
            json!({"bool": {"should": any, "minimum_should_match": 1}})
        }
    }
}

/// Some value of the parameter at `path` matches one of `queries`. Exact key lookups
/// are gathered into one `terms` query per field, which keeps long OR lists within the
/// cluster's clause limit.
fn any_value(path: &str, queries: &[ValueQuery]) -> Value {
    let mut terms: Vec<(String, Vec<String>)> = Vec::new();
    let mut others = Vec::new();
    for query in queries {
        match keys(query) {
            Some((sub, keys)) => {
                let field = format!("{path}.{sub}");
                match terms.iter_mut().find(|(f, _)| *f == field) {
                    Some((_, all)) => all.extend(keys),
                    None => terms.push((field, keys)),
                }
            }
            None => others.push(value_query(path, query)),
        }
    }
    let mut should: Vec<Value> = terms
        .into_iter()
        .map(|(field, keys)| json!({"terms": {field: keys}}))
        .collect();
    should.extend(others);
    match should.len() {
        1 => should.remove(0),
        _ => json!({"bool": {"should": should, "minimum_should_match": 1}}),
    }
}

/// The keys one of which a value must have to match `query`, with the field holding
/// them; `None` when the query is not a key lookup.
fn keys(query: &ValueQuery) -> Option<(&'static str, Vec<String>)> {
    Some(match query {
        ValueQuery::String {
            mode: StringMode::Exact,
            text,
        } => ("exact", vec![text.clone()]),
        ValueQuery::Token(q) => ("k", vec![token_key(q)?]),
        ValueQuery::OfType {
            system,
            code,
            value,
        } => ("k", vec![of_type_key(system, code, value)]),
        ValueQuery::Reference(ReferenceQuery::Identifier(q)) => ("ident", vec![token_key(q)?]),
        ValueQuery::Reference(q) => ("k", reference_keys(q)),
        ValueQuery::Uri {
            mode: UriMode::Exact,
            uri,
        } => ("v", vec![uri.clone()]),
        ValueQuery::Uri {
            mode: UriMode::Above,
            uri,
        } => ("v", prefixes(uri)),
        _ => return None,
    })
}

/// The key a matching token value has; `None` for the queries the parser never makes
/// (no code and no system), which [`value_query`] answers without keys.
fn token_key(query: &TokenQuery) -> Option<String> {
    Some(match (&query.system, &query.code) {
        (SystemMatch::Any, Some(code)) => format!("c{SEP}{code}"),
        (SystemMatch::Absent, Some(code)) => format!("n{SEP}{code}"),
        (SystemMatch::Is(system), Some(code)) => format!("sc{SEP}{system}{SEP}{code}"),
        (SystemMatch::Is(system), None) => format!("s{SEP}{system}"),
        (SystemMatch::Any | SystemMatch::Absent, None) => return None,
    })
}

fn reference_keys(query: &ReferenceQuery) -> Vec<String> {
    match query {
        ReferenceQuery::Typed { resource_type, id } => vec![target_key(resource_type, id)],
        ReferenceQuery::Id(id) => vec![id_key(id)],
        ReferenceQuery::Literal { reference, typed } => {
            let mut keys = vec![reference_key(reference)];
            if let Some((ty, id)) = typed {
                keys.push(target_key(ty, id));
            }
            keys
        }
        // Handled with the identifier keys.
        ReferenceQuery::Identifier(_) => Vec::new(),
    }
}

/// Every non-empty prefix of `uri` (for `:above`: the stored uri is a prefix of the
/// searched one).
fn prefixes(uri: &str) -> Vec<String> {
    uri.char_indices()
        .map(|(i, c)| uri[..i + c.len_utf8()].to_owned())
        .collect()
}

/// The query of one value.
fn value_query(path: &str, query: &ValueQuery) -> Value {
    if let Some((sub, keys)) = keys(query) {
        return json!({"terms": {format!("{path}.{sub}"): keys}});
    }
    match query {
        ValueQuery::String { mode, text } => {
            let norm = format!("{path}.norm");
            match mode {
                StringMode::StartsWith => json!({"prefix": {norm: text}}),
                StringMode::Contains => {
                    json!({"wildcard": {norm: {"value": format!("*{}*", escape_wildcard(text))}}})
                }
                StringMode::Exact => json!({"term": {format!("{path}.exact"): text}}),
            }
        }
        ValueQuery::TokenText(prefix) => json!({"prefix": {format!("{path}.text"): prefix}}),
        // No code (the parser always asks for one): any value with a code, or without
        // a system.
        ValueQuery::Token(TokenQuery { system, .. }) => match system {
            SystemMatch::Absent => json!({"prefix": {format!("{path}.k"): format!("n{SEP}")}}),
            _ => json!({"exists": {"field": format!("{path}.k")}}),
        },
        ValueQuery::Reference(ReferenceQuery::Identifier(_)) => {
            json!({"exists": {"field": format!("{path}.ident")}})
        }
        ValueQuery::Uri { uri, .. } => json!({"prefix": {format!("{path}.v"): uri}}),
        ValueQuery::Date { .. } | ValueQuery::Number { .. } | ValueQuery::Quantity { .. } => {
            nested(path, range_query(path, query))
        }
        // One item of the base expression matches every part; the parts of an item hold
        // one value each for dates, numbers and quantities (see `crate::document`).
        ValueQuery::Composite(parts) => {
            let all: Vec<Value> = parts
                .iter()
                .enumerate()
                .map(|(i, part)| {
                    let path = format!("{path}.{i}");
                    match part {
                        ValueQuery::Date { .. }
                        | ValueQuery::Number { .. }
                        | ValueQuery::Quantity { .. } => range_query(&path, part),
                        _ => value_query(&path, part),
                    }
                })
                .collect();
            nested(path, json!({"bool": {"filter": all}}))
        }
        // Arc distance on the Earth's mean radius, as `hearth_interface::geo` measures.
        ValueQuery::Near(near) => json!({"geo_distance": {
            "distance": format!("{}km", near.distance_km),
            "distance_type": "arc",
            format!("{path}.g"): {"lat": near.latitude, "lon": near.longitude},
        }}),
        // Key lookups, answered above.
        ValueQuery::OfType { .. } | ValueQuery::Reference(_) => json!({"match_none": {}}),
    }
}

/// The test of a date, number or quantity query on one value `{start, end}` or
/// `{lo, hi, system, code, unit}` at `path`.
fn range_query(path: &str, query: &ValueQuery) -> Value {
    match query {
        ValueQuery::Date { prefix, start, end } => date_query(path, *prefix, *start, *end),
        ValueQuery::Number { prefix, number } => number_query(path, *prefix, number),
        ValueQuery::Quantity {
            prefix,
            number,
            unit,
        } => {
            let mut all = unit_query(path, unit);
            all.push(number_query(path, *prefix, number));
            json!({"bool": {"filter": all}})
        }
        _ => json!({"match_none": {}}),
    }
}

/// Escapes the wildcard syntax (`*`, `?`, `\`) in literal text.
fn escape_wildcard(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn nested(path: &str, query: Value) -> Value {
    json!({"nested": {"path": path, "query": query}})
}

fn range(path: &str, sub: &str, op: &str, value: impl Into<Value>) -> Value {
    json!({"range": {format!("{path}.{sub}"): {op: value.into()}}})
}

fn all(queries: Vec<Value>) -> Value {
    json!({"bool": {"filter": queries}})
}

fn either(a: Value, b: Value) -> Value {
    json!({"bool": {"should": [a, b], "minimum_should_match": 1}})
}

fn not(query: Value) -> Value {
    json!({"bool": {"must_not": [query]}})
}

/// The R4 prefix table on one date value `{start, end}` against the query range (as the
/// embedded backend's `range_matches`).
fn date_query(path: &str, prefix: Prefix, qs: i64, qe: i64) -> Value {
    let contained = || {
        all(vec![
            range(path, "start", "gte", qs),
            range(path, "end", "lte", qe),
        ])
    };
    match prefix {
        Prefix::Eq => contained(),
        Prefix::Ne => not(contained()),
        Prefix::Gt => range(path, "end", "gt", qe),
        Prefix::Lt => range(path, "start", "lt", qs),
        Prefix::Ge => either(range(path, "end", "gt", qe), contained()),
        Prefix::Le => either(range(path, "start", "lt", qs), contained()),
        Prefix::Sa => range(path, "start", "gt", qe),
        Prefix::Eb => range(path, "end", "lt", qs),
        Prefix::Ap => all(vec![
            range(path, "start", "lte", qe),
            range(path, "end", "gte", qs),
        ]),
    }
}

/// The prefixes on one number or quantity value `{lo, hi}` (as `number_matches`).
fn number_query(path: &str, prefix: Prefix, q: &Decimal) -> Value {
    let in_precision = || {
        all(vec![
            range(path, "lo", "gte", q.low),
            range(path, "hi", "lt", q.high),
        ])
    };
    match prefix {
        Prefix::Eq => in_precision(),
        Prefix::Ne => not(in_precision()),
        Prefix::Gt => range(path, "hi", "gt", q.value),
        Prefix::Lt => range(path, "lo", "lt", q.value),
        Prefix::Ge => range(path, "hi", "gte", q.value),
        Prefix::Le => range(path, "lo", "lte", q.value),
        Prefix::Sa => range(path, "lo", "gte", q.high),
        Prefix::Eb => range(path, "hi", "lt", q.low),
        Prefix::Ap => {
            let margin = (q.value.abs() / 10.0).max((q.high - q.low) / 2.0);
            all(vec![
                range(path, "lo", "lte", q.value + margin),
                range(path, "hi", "gte", q.value - margin),
            ])
        }
    }
}

/// The unit constraints on one quantity value (as `unit_matches`).
fn unit_query(path: &str, unit: &UnitQuery) -> Vec<Value> {
    let term = |sub: &str, value: &str| json!({"term": {format!("{path}.{sub}"): value}});
    let mut out = Vec::new();
    if let Some(system) = &unit.system {
        out.push(term("system", system));
    }
    if let Some(code) = &unit.code {
        if unit.system.is_none() {
            out.push(either(term("code", code), term("unit", code)));
        } else {
            out.push(term("code", code));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_prefixes_and_wildcard_escapes() {
        assert_eq!(prefixes("ab"), ["a", "ab"]);
        assert_eq!(prefixes("é1"), ["é", "é1"]);
        assert_eq!(escape_wildcard(r"a*b?c\"), r"a\*b\?c\\");
    }

    #[test]
    fn token_lookups_are_gathered_into_one_terms_query() {
        let values: Vec<ValueQuery> = (0..1000)
            .map(|i| {
                ValueQuery::Token(TokenQuery {
                    system: SystemMatch::Any,
                    code: Some(i.to_string()),
                })
            })
            .collect();
        let query = any_value("p.code", &values);
        assert_eq!(
            query["terms"]["p.code.k"].as_array().map(Vec::len),
            Some(1000)
        );
    }
}
