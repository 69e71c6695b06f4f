//! The in-memory reference semantics of every condition (test-only): the SQL predicates
//! must agree with these functions on every unit-test case.

use super::*;
use hearth_interface::index::IndexValue;

/// Whether a parameter's index values satisfy a condition.
pub(super) fn matches(condition: &Condition, values: &[IndexValue]) -> bool {
    match condition {
        Condition::Missing(missing) => values.is_empty() == *missing,
        Condition::AnyOf(queries) => any_match(queries, values),
        Condition::NoneOf(queries) => !any_match(queries, values),
        Condition::FullText { alternatives, .. } => values.iter().any(|v| match v {
            IndexValue::Text(text) => alternatives
                .iter()
                .any(|words| hearth_interface::fulltext::matches(text, words)),
            _ => false,
        }),
    }
}

pub(super) fn any_match(queries: &[ValueQuery], values: &[IndexValue]) -> bool {
    queries
        .iter()
        .any(|q| values.iter().any(|v| value_matches(q, v)))
}

/// Whether one index value matches one search value; values of another kind never do.
pub(super) fn value_matches(query: &ValueQuery, value: &IndexValue) -> bool {
    match (query, value) {
        (ValueQuery::String { mode, text }, IndexValue::String { normalized, exact }) => {
            string_matches(*mode, text, normalized, exact)
        }
        (ValueQuery::Token(q), IndexValue::Token { system, code, .. }) => {
            token_matches(q, system.as_deref(), code.as_deref())
        }
        (ValueQuery::TokenText(prefix), IndexValue::Token { text, .. }) => text
            .as_deref()
            .is_some_and(|t| normalize_string(t).starts_with(prefix.as_str())),
        (
            ValueQuery::OfType {
                system,
                code,
                value: wanted,
            },
            IndexValue::Token {
                code: stored,
                of_type,
                ..
            },
        ) => stored.as_deref() == Some(wanted.as_str()) && has_type(of_type, system, code),
        (ValueQuery::Reference(q), v) => reference_matches(q, v),
        (ValueQuery::Uri { mode, uri }, IndexValue::Uri(stored)) => uri_matches(*mode, uri, stored),
        (ValueQuery::Date { prefix, start, end }, IndexValue::Date { start: s, end: e }) => {
            range_matches(*prefix, (*start, *end), (*s, *e))
        }
        (ValueQuery::Number { prefix, number }, IndexValue::Number { value, .. }) => {
            number_matches(*prefix, number, (*value, *value))
        }
        (
            ValueQuery::Quantity {
                prefix,
                number,
                unit: wanted,
            },
            IndexValue::Quantity {
                system, code, unit, ..
            },
        ) => {
            unit_matches(wanted, system.as_deref(), code.as_deref(), unit.as_deref())
                && value
                    .compared_range()
                    .is_some_and(|target| number_matches(*prefix, number, target))
        }
        (
            ValueQuery::Near(near),
            IndexValue::Position {
                latitude,
                longitude,
            },
        ) => near.contains(*latitude, *longitude),
        (ValueQuery::Composite(parts), IndexValue::Composite(values)) => {
            parts.len() == values.len()
                && parts
                    .iter()
                    .zip(values)
                    .all(|(q, vs)| vs.iter().any(|v| value_matches(q, v)))
        }
        _ => false,
    }
}

pub(super) fn string_matches(mode: StringMode, query: &str, normalized: &str, exact: &str) -> bool {
    match mode {
        StringMode::StartsWith => normalized.starts_with(query),
        StringMode::Contains => normalized.contains(query),
        StringMode::Exact => exact == query,
    }
}

pub(super) fn token_matches(query: &TokenQuery, system: Option<&str>, code: Option<&str>) -> bool {
    let system_ok = match &query.system {
        SystemMatch::Any => true,
        SystemMatch::Absent => system.is_none(),
        SystemMatch::Is(s) => system == Some(s.as_str()),
    };
    system_ok && query.code.as_deref().is_none_or(|c| code == Some(c))
}

/// Whether an Identifier's type codings include `system|code`.
pub(super) fn has_type(
    of_type: &[(Option<String>, Option<String>)],
    system: &str,
    code: &str,
) -> bool {
    of_type
        .iter()
        .any(|(s, c)| s.as_deref() == Some(system) && c.as_deref() == Some(code))
}

pub(super) fn reference_matches(query: &ReferenceQuery, value: &IndexValue) -> bool {
    let IndexValue::Reference {
        reference,
        resource_type,
        id,
        identifier,
    } = value
    else {
        return false;
    };
    let same_target = |ty: &str, wanted: &str| {
        resource_type.as_deref() == Some(ty) && id.as_deref() == Some(wanted)
    };
    match query {
        ReferenceQuery::Typed {
            resource_type: ty,
            id: wanted,
        } => same_target(ty, wanted),
        ReferenceQuery::Id(wanted) => id.as_deref() == Some(wanted.as_str()),
        ReferenceQuery::Literal {
            reference: wanted,
            typed,
        } => {
            reference.as_deref() == Some(wanted.as_str())
                || typed.as_ref().is_some_and(|(ty, i)| same_target(ty, i))
        }
        ReferenceQuery::Identifier(q) => identifier
            .as_ref()
            .is_some_and(|(s, v)| token_matches(q, s.as_deref(), v.as_deref())),
    }
}

pub(super) fn uri_matches(mode: UriMode, query: &str, stored: &str) -> bool {
    match mode {
        UriMode::Exact => stored == query,
        UriMode::Below => stored.starts_with(query),
        UriMode::Above => query.starts_with(stored),
    }
}

/// Compares a target range with a query range (dates), per the R4 prefix table: `eq`
/// when the query range contains the target range; `gt` when the target reaches above
/// the query range, `lt` below; `ge`/`le` either of those or `eq`; `sa` when the target
/// starts after the query range, `eb` ends before it; `ap` when they overlap (the query
/// range was widened when parsed).
pub(super) fn range_matches<T: PartialOrd>(prefix: Prefix, query: (T, T), target: (T, T)) -> bool {
    let (qs, qe) = query;
    let (ts, te) = target;
    let contained = qs <= ts && te <= qe;
    match prefix {
        Prefix::Eq => contained,
        Prefix::Ne => !contained,
        Prefix::Gt => te > qe,
        Prefix::Lt => ts < qs,
        Prefix::Ge => te > qe || contained,
        Prefix::Le => ts < qs || contained,
        Prefix::Sa => ts > qe,
        Prefix::Eb => te < qs,
        Prefix::Ap => ts <= qe && te >= qs,
    }
}

/// Compares a target number (a point, or a Range's bounds) with a query number: `eq`
/// when the target lies in the query's precision range `[low, high)`; `gt`/`lt`/`ge`/`le`
/// against the query's value; `sa`/`eb` beyond its precision range; `ap` within 10% of
/// the value (or its precision, when wider).
pub(super) fn number_matches(prefix: Prefix, query: &Decimal, target: (f64, f64)) -> bool {
    let (lo, hi) = target;
    let in_precision = query.low <= lo && hi < query.high;
    match prefix {
        Prefix::Eq => in_precision,
        Prefix::Ne => !in_precision,
        Prefix::Gt => hi > query.value,
        Prefix::Lt => lo < query.value,
        Prefix::Ge => hi >= query.value,
        Prefix::Le => lo <= query.value,
        Prefix::Sa => lo >= query.high,
        Prefix::Eb => hi < query.low,
        Prefix::Ap => {
            let margin = (query.value.abs() / 10.0).max((query.high - query.low) / 2.0);
            lo <= query.value + margin && hi >= query.value - margin
        }
    }
}

pub(super) fn unit_matches(
    wanted: &UnitQuery,
    system: Option<&str>,
    code: Option<&str>,
    unit: Option<&str>,
) -> bool {
    let system_ok = wanted.system.as_deref().is_none_or(|s| system == Some(s));
    let code_ok = wanted
        .code
        .as_deref()
        .is_none_or(|c| code == Some(c) || (wanted.system.is_none() && unit == Some(c)));
    system_ok && code_ok
}
