//! SQL: the conditions as predicates on `current c` over the index tables (see the
//! `indexing` module).

use super::*;

// ---------------------------------------------------------------------------
// SQL: the conditions above as predicates on `current c` over the index tables (see the
// `indexing` module), with the same semantics as the matching functions.

/// Numbered SQL parameters.
#[derive(Debug, Default)]
pub(super) struct Binder {
    pub(super) args: Vec<SqlValue>,
}

impl Binder {
    /// Binds `value` and returns its placeholder.
    pub(super) fn bind(&mut self, value: SqlValue) -> String {
        self.args.push(value);
        format!("?{}", self.args.len())
    }

    pub(super) fn text(&mut self, value: &str) -> String {
        self.bind(SqlValue::Text(value.to_owned()))
    }

    fn int(&mut self, value: i64) -> String {
        self.bind(SqlValue::Integer(value))
    }

    fn real(&mut self, value: f64) -> String {
        self.bind(SqlValue::Real(value))
    }
}

/// The index table holding the values of a parameter type.
pub(super) fn table_for(kind: SearchParamType) -> &'static str {
    match kind {
        SearchParamType::String => "ix_string",
        SearchParamType::Token => "ix_token",
        SearchParamType::Reference => "ix_reference",
        SearchParamType::Date => "ix_date",
        SearchParamType::Number | SearchParamType::Quantity => "ix_quantity",
        SearchParamType::Uri => "ix_uri",
        SearchParamType::Composite => crate::composite_index::TABLE,
        // Not searchable: rejected when compiled.
        SearchParamType::Special => "ix_uri",
    }
}

/// A predicate on `c`, a current version of type `ty`, true when the filter matches.
/// With `drive`, positive filters are written as a lookup in the value index; otherwise as
/// a check of the candidate's own index rows. In those checks `+x.pid` keeps SQLite from
/// preferring the value index (leading on `pid`) over the primary key (leading on `ts`):
/// without statistics it would, and scan a whole parameter per candidate.
pub(super) fn filter_sql(filter: &Filter, ty: &str, b: &mut Binder, drive: bool) -> String {
    let table = table_for(filter.def.kind);
    let param = crate::indexing::param_id(ty, &filter.def.code);
    match &filter.condition {
        Condition::FullText {
            column,
            alternatives,
        } => fulltext_sql(column, alternatives, b),
        Condition::Missing(missing) => {
            let pid = b.int(param);
            format!(
                "{}EXISTS (SELECT 1 FROM {table} x WHERE x.ts = c.ts AND +x.pid = {pid})",
                if *missing { "NOT " } else { "" }
            )
        }
        Condition::AnyOf(queries) if !drive => {
            let pid = b.int(param);
            let tests = any_value_sql(queries, b);
            format!(
                "EXISTS (SELECT 1 FROM {table} x WHERE x.ts = c.ts AND +x.pid = {pid} AND ({tests}))"
            )
        }
        Condition::AnyOf(queries) => {
            let pid = b.int(param);
            // One SELECT per alternative, so that each can use the value index (SQLite
            // would scan all the parameter's rows for an OR of them).
            let selects: Vec<String> = queries
                .iter()
                .flat_map(|q| alternatives_sql(q, b))
                .map(|test| format!("SELECT x.ts FROM {table} x WHERE x.pid = {pid} AND ({test})"))
                .collect();
            if selects.is_empty() {
                "0".to_owned()
            } else {
                format!("c.ts IN ({})", selects.join(" UNION ALL "))
            }
        }
        Condition::NoneOf(queries) => {
            let pid = b.int(param);
            let tests = any_value_sql(queries, b);
            format!(
                "NOT EXISTS (SELECT 1 FROM {table} x WHERE x.ts = c.ts AND +x.pid = {pid} AND ({tests}))"
            )
        }
    }
}

/// Whether a condition likely matches few resources: equality on values that are rarely
/// shared widely.
pub(super) fn is_selective(condition: &Condition) -> bool {
    let queries = match condition {
        Condition::AnyOf(queries) => queries,
        Condition::FullText { .. } => return true,
        _ => return false,
    };
    queries.iter().all(|q| match q {
        ValueQuery::Token(t) => t.code.is_some(),
        ValueQuery::OfType { .. } => true,
        ValueQuery::Reference(r) => !matches!(r, ReferenceQuery::Identifier(_)),
        ValueQuery::String { mode, .. } => *mode == StringMode::Exact,
        ValueQuery::Uri { mode, .. } => *mode == UriMode::Exact,
        ValueQuery::Composite(parts) => parts
            .first()
            .is_some_and(|first| is_selective(&Condition::AnyOf(vec![first.clone()]))),
        _ => false,
    })
}

pub(super) fn any_value_sql(queries: &[ValueQuery], b: &mut Binder) -> String {
    let tests: Vec<String> = queries
        .iter()
        .map(|q| format!("({})", value_sql(q, b)))
        .collect();
    if tests.is_empty() {
        "0".to_owned()
    } else {
        tests.join(" OR ")
    }
}

/// Tests on an index row `x` of which any must hold, as `matching::value_matches`.
pub(super) fn alternatives_sql(query: &ValueQuery, b: &mut Binder) -> Vec<String> {
    match query {
        ValueQuery::Reference(ReferenceQuery::Literal {
            reference,
            typed: Some((ty, id)),
        }) => vec![
            format!("x.reference = {}", b.text(reference)),
            format!(
                "x.target_id = {} AND x.target_type = {}",
                b.text(id),
                b.text(ty)
            ),
        ],
        _ => vec![value_sql(query, b)],
    }
}

/// A test on an index row `x` of the query's table, as `matching::value_matches`.
pub(super) fn value_sql(query: &ValueQuery, b: &mut Binder) -> String {
    match query {
        ValueQuery::String { mode, text } => match mode {
            StringMode::StartsWith => prefix_sql("x.norm", text, b),
            StringMode::Contains => format!("instr(x.norm, {}) > 0", b.text(text)),
            StringMode::Exact => format!(
                "x.norm = {} AND x.exact = {}",
                b.text(&normalize_string(text)),
                b.text(text)
            ),
        },
        ValueQuery::Token(q) => token_sql(q, "x.system", "x.code", b),
        ValueQuery::TokenText(prefix) => {
            format!(
                "x.text_norm IS NOT NULL AND {}",
                prefix_sql("x.text_norm", prefix, b)
            )
        }
        ValueQuery::OfType {
            system,
            code,
            value,
        } => format!(
            "x.code = {} AND instr(x.of_type, {}) > 0",
            b.text(value),
            b.text(&crate::indexing::of_type_entry(system, code))
        ),
        ValueQuery::Reference(q) => reference_sql(q, b),
        ValueQuery::Uri { mode, uri } => match mode {
            UriMode::Exact => format!("x.uri = {}", b.text(uri)),
            UriMode::Below => prefix_sql("x.uri", uri, b),
            UriMode::Above => format!("instr({}, x.uri) = 1", b.text(uri)),
        },
        ValueQuery::Date { prefix, start, end } => range_sql(*prefix, *start, *end, b),
        ValueQuery::Number { prefix, number } => number_sql(*prefix, number, b),
        ValueQuery::Quantity {
            prefix,
            number,
            unit,
        } => format!(
            "{} AND ({})",
            unit_sql(unit, b),
            number_sql(*prefix, number, b)
        ),
        ValueQuery::Composite(parts) => composite_sql(parts, b),
    }
}

/// `column` starts with `prefix`: a range on the index (SQLite compares text bytewise,
/// and every string starting with `prefix` sorts between it and `prefix` followed by the
/// highest character) and an exact check of the prefix.
pub(super) fn prefix_sql(column: &str, prefix: &str, b: &mut Binder) -> String {
    let low = b.text(prefix);
    let high = b.text(&format!("{prefix}{}", char::MAX));
    let blob = b.bind(SqlValue::Blob(prefix.as_bytes().to_vec()));
    format!(
        "{column} >= {low} AND {column} <= {high} AND substr(CAST({column} AS BLOB), 1, length({blob})) = {blob}"
    )
}

pub(super) fn token_sql(query: &TokenQuery, system: &str, code: &str, b: &mut Binder) -> String {
    let mut parts = Vec::new();
    match &query.system {
        SystemMatch::Any => {}
        SystemMatch::Absent => parts.push(format!("{system} IS NULL")),
        SystemMatch::Is(s) => parts.push(format!("{system} = {}", b.text(s))),
    }
    if let Some(c) = &query.code {
        parts.push(format!("{code} = {}", b.text(c)));
    }
    if parts.is_empty() {
        "1".to_owned()
    } else {
        parts.join(" AND ")
    }
}

pub(super) fn reference_sql(query: &ReferenceQuery, b: &mut Binder) -> String {
    let same_target = |ty: &str, id: &str, b: &mut Binder| {
        format!(
            "x.target_id = {} AND x.target_type = {}",
            b.text(id),
            b.text(ty)
        )
    };
    match query {
        ReferenceQuery::Typed { resource_type, id } => same_target(resource_type, id, b),
        ReferenceQuery::Id(id) => format!("x.target_id = {}", b.text(id)),
        ReferenceQuery::Literal { reference, typed } => {
            let text = format!("x.reference = {}", b.text(reference));
            match typed {
                Some((ty, id)) => format!("({text}) OR ({})", same_target(ty, id, b)),
                None => text,
            }
        }
        // Every identifier query constrains the system or the value, so rows without an
        // identifier never match.
        ReferenceQuery::Identifier(q) => token_sql(q, "x.ident_system", "x.ident_value", b),
    }
}

/// `matching::range_matches` on the row's `start`/`end` against the query range. Each
/// test leads with a bound on `start` or `end` that the index can range over (implied by
/// the exact test, as `start <= end`).
pub(super) fn range_sql(prefix: Prefix, start: i64, end: i64, b: &mut Binder) -> String {
    let (qs, qe) = (b.int(start), b.int(end));
    let contained = format!("({qs} <= x.start AND x.end <= {qe})");
    match prefix {
        Prefix::Eq => format!("x.start >= {qs} AND x.start <= {qe} AND {contained}"),
        Prefix::Ne => format!("NOT {contained}"),
        // The second bounds are implied (`qs <= qe`); they keep both values referenced.
        Prefix::Gt => format!("x.end > {qe} AND x.end >= {qs}"),
        Prefix::Lt => format!("x.start < {qs} AND x.start <= {qe}"),
        Prefix::Ge => format!("x.end >= {qs} AND (x.end > {qe} OR {contained})"),
        Prefix::Le => format!("x.start <= {qe} AND (x.start < {qs} OR {contained})"),
        Prefix::Sa => format!("x.start > {qe} AND x.start >= {qs}"),
        Prefix::Eb => format!("x.end < {qs} AND x.end <= {qe}"),
        Prefix::Ap => format!("x.start <= {qe} AND x.end >= {qs}"),
    }
}

/// `matching::number_matches` on the row's `lo`/`hi`.
pub(super) fn number_sql(prefix: Prefix, query: &Decimal, b: &mut Binder) -> String {
    let in_precision = |b: &mut Binder| {
        format!(
            "({} <= x.lo AND x.hi < {})",
            b.real(query.low),
            b.real(query.high)
        )
    };
    match prefix {
        Prefix::Eq => in_precision(b),
        Prefix::Ne => format!("NOT COALESCE({}, 0)", in_precision(b)),
        Prefix::Gt => format!("x.hi > {}", b.real(query.value)),
        Prefix::Lt => format!("x.lo < {}", b.real(query.value)),
        Prefix::Ge => format!("x.hi >= {}", b.real(query.value)),
        Prefix::Le => format!("x.lo <= {}", b.real(query.value)),
        Prefix::Sa => format!("x.lo >= {}", b.real(query.high)),
        Prefix::Eb => format!("x.hi < {}", b.real(query.low)),
        Prefix::Ap => {
            let margin = (query.value.abs() / 10.0).max((query.high - query.low) / 2.0);
            format!(
                "x.lo <= {} AND x.hi >= {}",
                b.real(query.value + margin),
                b.real(query.value - margin)
            )
        }
    }
}

/// `matching::unit_matches` on the row's `system`/`code`/`unit`.
pub(super) fn unit_sql(wanted: &UnitQuery, b: &mut Binder) -> String {
    let mut parts = vec!["1".to_owned()];
    if let Some(s) = &wanted.system {
        parts.push(format!("x.system = {}", b.text(s)));
    }
    if let Some(c) = &wanted.code {
        let c = b.text(c);
        if wanted.system.is_none() {
            parts.push(format!("(x.code = {c} OR x.unit = {c})"));
        } else {
            parts.push(format!("x.code = {c}"));
        }
    }
    parts.join(" AND ")
}
