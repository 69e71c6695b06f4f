//! SQL: the conditions as predicates on `current c` over the index tables (see the
//! `indexing` module).

use super::*;
use crate::indexing::SHORT_DATE_MS;
use hearth_interface::geo::{NearQuery, unit_vector};

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

    pub(super) fn int(&mut self, value: i64) -> String {
        self.bind(SqlValue::Integer(value))
    }

    /// Binds a row count for `LIMIT`.
    pub(super) fn limit(&mut self, rows: usize) -> String {
        self.int(i64::try_from(rows).unwrap_or(i64::MAX))
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
        // `near`, the one special parameter with values.
        SearchParamType::Special => "ix_position",
    }
}

/// The rows `x` that hold the values of `def` for type `ty`: its index table, or for the
/// parameters read from the version tables (`indexing::FROM_VERSIONS`) a subquery with the
/// same columns: `_id` as token rows (`code` is the id), `_lastUpdated` as date rows whose
/// `start` and `end` are the version's `ts`, in microseconds (the filter's dates are
/// converted by [`in_microseconds`]). SQLite flattens the subquery into the statement, so
/// lookups use the `versions` and `current` keys.
pub(super) fn index_source(def: &SearchParamDef, ty: &str, b: &mut Binder) -> String {
    let is_id = match def.code.as_str() {
        "_id" => true,
        "_lastUpdated" => false,
        _ => return narrowed_source(def, ty).unwrap_or_else(|| table_for(def.kind).to_owned()),
    };
    let pid = b.int(crate::indexing::param_id(ty, &def.code));
    let ty = b.text(ty);
    if is_id {
        // `mv.type` lets an id be looked up in `versions_by_resource`.
        format!(
            "(SELECT mc.ts AS ts, {pid} AS pid, NULL AS system, mv.id AS code, \
             NULL AS text_norm, NULL AS of_type FROM current mc JOIN versions mv \
             ON mv.ts = mc.ts WHERE mc.type = {ty} AND mv.type = {ty})"
        )
    } else {
        format!(
            "(SELECT mc.ts AS ts, {pid} AS pid, mc.ts AS start, mc.ts AS end \
             FROM current mc WHERE mc.type = {ty})"
        )
    }
}

/// The rows of a narrowed reference parameter (`crate::indexing::narrowed`) as a subquery
/// with the columns of `ix_reference`: the rows of the parameter it narrows that point at
/// its type, under its own `pid`. Flattened by SQLite, a lookup uses the value indexes of
/// the broader parameter.
pub(super) fn narrowed_source(def: &SearchParamDef, ty: &str) -> Option<String> {
    let narrowed = crate::indexing::narrowed(ty, def)?;
    let pid = crate::indexing::param_id(ty, &def.code);
    let of = crate::indexing::param_id(ty, &narrowed.of.code);
    Some(format!(
        "(SELECT ts, {pid} AS pid, seq, reference, target_type, target_id, ident_system, \
         ident_value FROM ix_reference WHERE pid = {of} AND target_type = '{}')",
        narrowed.target_type
    ))
}

/// `filter` as [`index_source`] reads it: a `_lastUpdated` filter's date ranges in the
/// microseconds of `ts`. A version's `_lastUpdated` value is its `ts` in whole
/// milliseconds, so it is in the range `[start, end]` of milliseconds exactly when its `ts`
/// is in `[start * 1000, end * 1000 + 999]`.
pub(super) fn in_microseconds(mut filter: Filter) -> Filter {
    if filter.def.code != "_lastUpdated" {
        return filter;
    }
    if let Condition::AnyOf(queries) | Condition::NoneOf(queries) = &mut filter.condition {
        for query in queries {
            if let ValueQuery::Date { start, end, .. } = query {
                *start = start.saturating_mul(1000);
                *end = end.saturating_mul(1000).saturating_add(999);
            }
        }
    }
    filter
}

/// A predicate on `c`, a current version of type `ty`, true when the filter matches.
/// With `drive`, positive filters are written as a lookup in the value index; otherwise as
/// a check of the candidate's own index rows. In those checks `+x.pid` keeps SQLite from
/// preferring the value index (leading on `pid`) over the primary key (leading on `ts`):
/// without statistics it would, and scan a whole parameter per candidate.
pub(super) fn filter_sql(filter: &Filter, ty: &str, b: &mut Binder, drive: bool) -> String {
    let table = &index_source(filter.def, ty, b);
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
            match matching_versions_sql(queries, table, &pid, b) {
                Some(selects) => format!("c.ts IN ({selects})"),
                None => "0".to_owned(),
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

/// The `ts` of the index rows of parameter `pid` in `table` that match any of `queries`
/// (a version may come more than once), or `None` when no row can match. One SELECT per
/// alternative, so that each can use the value index (SQLite would scan all the
/// parameter's rows for an OR of them).
fn matching_versions_sql(
    queries: &[ValueQuery],
    table: &str,
    pid: &str,
    b: &mut Binder,
) -> Option<String> {
    let selects: Vec<String> = queries
        .iter()
        .flat_map(|q| alternatives_sql(q, b))
        .map(|test| format!("SELECT x.ts FROM {table} x WHERE x.pid = {pid} AND ({test})"))
        .collect();
    (!selects.is_empty()).then(|| selects.join(" UNION ALL "))
}

/// A query counting the current versions of type `ty` that pass `filter`, from the index
/// rows alone, when the filter is a positive one: the index holds rows of current versions
/// only, and `pid` names the type, so no join with `current` is needed.
///
/// For a `single_valued` parameter (no version has several values of it) and one
/// searched value, rows are counted as they are: each version has one row at most, and
/// the alternatives [`alternatives_sql`] splits a value into never match the same row.
pub(super) fn index_count_sql(
    filter: &Filter,
    ty: &str,
    b: &mut Binder,
    single_valued: bool,
) -> Option<String> {
    let one_value = matches!(&filter.condition, Condition::AnyOf(queries) if queries.len() == 1);
    Some(match index_rows_sql(filter, ty, b)? {
        Some(selects) if one_value && single_valued => format!("SELECT COUNT(*) FROM ({selects})"),
        Some(selects) => format!("SELECT COUNT(*) FROM (SELECT DISTINCT ts FROM ({selects}))"),
        None => "SELECT 0".to_owned(),
    })
}

/// The `ts` of the date index rows of parameter `def` of `ty` that match every one of
/// `queries`, each row once. Rows no wider than [`SHORT_DATE_MS`] are looked up by `start` from the
/// latest lower bound the queries put on `end`, less that width, so the range read is
/// about the searched one rather than everything before or after it; wider rows come from
/// their own partial index.
pub(super) fn same_row_dates_sql(
    queries: &[&ValueQuery],
    def: &SearchParamDef,
    ty: &str,
    b: &mut Binder,
) -> String {
    let table = index_source(def, ty, b);
    let pid = crate::indexing::param_id(ty, &def.code);
    let tests: Vec<String> = queries
        .iter()
        .map(|q| format!("({})", value_sql(q, b)))
        .collect();
    let tests = tests.join(" AND ");
    let pid = b.int(pid);
    let lowest_end = queries.iter().filter_map(|q| lowest_end(q)).max();
    // `_lastUpdated` rows are points (the versions' `ts`): no row is wide.
    let lowest_end = lowest_end.filter(|_| def.code != "_lastUpdated");
    let Some(lowest_end) = lowest_end else {
        return format!("SELECT x.ts FROM {table} x WHERE x.pid = {pid} AND {tests}");
    };
    let from = b.int(lowest_end.saturating_sub(SHORT_DATE_MS));
    format!(
        "SELECT x.ts FROM {table} x WHERE x.pid = {pid} AND x.start >= {from} \
         AND x.end - x.start <= {SHORT_DATE_MS} AND {tests} \
         UNION ALL SELECT x.ts FROM {table} x WHERE x.pid = {pid} \
         AND x.end - x.start > {SHORT_DATE_MS} AND {tests}"
    )
}

/// The least `end` a date index row can have and match `query`, when it has one.
fn lowest_end(query: &ValueQuery) -> Option<i64> {
    let ValueQuery::Date { prefix, start, end } = query else {
        return None;
    };
    match prefix {
        Prefix::Eq | Prefix::Ge | Prefix::Ap => Some(*start),
        Prefix::Gt | Prefix::Sa => Some(end.saturating_add(1)),
        Prefix::Ne | Prefix::Lt | Prefix::Le | Prefix::Eb => None,
    }
}

/// The `ts` of the index rows matching a positive `filter` on type `ty` (see
/// [`matching_versions_sql`]), `Some(None)` when none can match, `None` for other filters.
pub(super) fn index_rows_sql(filter: &Filter, ty: &str, b: &mut Binder) -> Option<Option<String>> {
    let Condition::AnyOf(queries) = &filter.condition else {
        return None;
    };
    let table = index_source(filter.def, ty, b);
    let pid = b.int(crate::indexing::param_id(ty, &filter.def.code));
    Some(matching_versions_sql(queries, &table, &pid, b))
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
        }) => {
            let reference = b.text(reference);
            vec![
                format!("x.reference = {reference}"),
                format!(
                    "x.target_id = {} AND x.target_type = {} AND x.reference IS NOT {reference}",
                    b.text(id),
                    b.text(ty)
                ),
            ]
        }
        ValueQuery::Number { prefix, number } => number_alternatives(*prefix, number, b),
        ValueQuery::Quantity {
            prefix,
            number,
            unit,
        } => number_alternatives(*prefix, number, b)
            .into_iter()
            .map(|test| format!("{} AND ({test})", unit_sql(unit, b)))
            .collect(),
        _ => vec![value_sql(query, b)],
    }
}

/// [`number_sql`] as tests of which any must hold, each led by a bound the value indexes
/// can range over: tests on the upper bound `hi` split into points and ranges passing the
/// test on `lo` too (found by `lo`), and the other ranges (`lo IS NOT hi`, found by the
/// partial index on `hi`). No row passes two of them.
fn number_alternatives(prefix: Prefix, query: &Decimal, b: &mut Binder) -> Vec<String> {
    let on_hi = |op: &str, bound: f64, b: &mut Binder| {
        let v = b.real(bound);
        vec![
            format!("x.lo {op} {v} AND x.hi {op} {v}"),
            format!("x.hi {op} {v} AND x.lo IS NOT x.hi AND NOT COALESCE(x.lo {op} {v}, 0)"),
        ]
    };
    match prefix {
        Prefix::Gt => on_hi(">", query.value, b),
        Prefix::Ge => on_hi(">=", query.value, b),
        Prefix::Eb => on_hi("<", query.low, b),
        _ => vec![number_sql(prefix, query, b)],
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
        ValueQuery::Near(near) => near_sql(near, b),
    }
}

/// A position within `near`'s circle: in its latitude band (read by index; widened by a
/// hair so that rounding cannot drop a position on the edge), then the exact test of
/// `NearQuery::contains` on the unit-sphere point.
fn near_sql(near: &NearQuery, b: &mut Binder) -> String {
    const EDGE: f64 = 1e-9;
    let (south, north) = near.latitude_band();
    let [cx, cy, cz] = unit_vector(near.latitude, near.longitude);
    let (south, north) = (b.real(south - EDGE), b.real(north + EDGE));
    let (cx, cy, cz) = (b.real(cx), b.real(cy), b.real(cz));
    let chord = b.real(near.max_chord_squared());
    format!(
        "x.lat >= {south} AND x.lat <= {north} AND \
         (x.x - {cx}) * (x.x - {cx}) + (x.y - {cy}) * (x.y - {cy}) + (x.z - {cz}) * (x.z - {cz}) <= {chord}"
    )
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
/// the exact test, as `start <= end`), and binds only the query bounds it compares with:
/// a redundant comparison costs a test per row read.
pub(super) fn range_sql(prefix: Prefix, start: i64, end: i64, b: &mut Binder) -> String {
    let both = |b: &mut Binder| {
        let (qs, qe) = (b.int(start), b.int(end));
        let contained = format!("({qs} <= x.start AND x.end <= {qe})");
        (qs, qe, contained)
    };
    match prefix {
        Prefix::Gt => format!("x.end > {}", b.int(end)),
        Prefix::Sa => format!("x.start > {}", b.int(end)),
        Prefix::Lt => format!("x.start < {}", b.int(start)),
        Prefix::Eb => format!("x.end < {}", b.int(start)),
        Prefix::Eq => {
            let (qs, qe, contained) = both(b);
            format!("x.start >= {qs} AND x.start <= {qe} AND {contained}")
        }
        Prefix::Ne => format!("NOT {}", both(b).2),
        Prefix::Ge => {
            let (qs, qe, contained) = both(b);
            format!("x.end >= {qs} AND (x.end > {qe} OR {contained})")
        }
        Prefix::Le => {
            let (qs, qe, contained) = both(b);
            format!("x.start <= {qe} AND (x.start < {qs} OR {contained})")
        }
        Prefix::Ap => {
            let (qs, qe, _) = both(b);
            format!("x.start <= {qe} AND x.end >= {qs}")
        }
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
