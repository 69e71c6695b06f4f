//! [`SqliteSearch`]: the interim [`SearchEngine`] of the embedded backend.
//!
//! It answers a search by scanning the current resources of the searched type
//! ([`ResourceStore::scan`]), extracting the index values of each criterion's parameter
//! with [`hearth_interface::index::extract`], and matching them in memory. Index tables
//! will replace the scan later; the matching semantics live in the pure functions of the
//! "Criteria" and "Matching" sections below so that they can move to the interface crate.
//!
//! # Semantics (FHIR R4, hl7.org/fhir/R4/search.html)
//! Criteria are ANDed, the values of one criterion ORed. `:missing` works on every
//! parameter type. Supported per type:
//! - string: starts-with on the normalized text (lowercase, accents removed), `:exact`,
//!   `:contains`;
//! - token: `code`, `system|code`, `|code`, `system|`, and `:not`, `:text`, `:of-type`;
//! - reference: `Type/id`, `id`, absolute or other literal references (equal text, or
//!   equal trailing `Type/id`: the server base of an absolute URL is not checked),
//!   `:[Type]` and `:identifier`;
//! - uri: exact, `:below`, `:above`;
//! - date, number, quantity: the prefixes `eq ne gt lt ge le sa eb ap`; quantities
//!   also `number|system|code` and `number||code`.
//!
//! Scopes: one type, several or all types (system search: each type scanned in turn), and
//! the Patient compartment (the target type's compartment parameters, ORed, must reference
//! the patient; the Patient itself belongs to its own compartment).
//!
//! Chains, `_has` and `_include` are resolved by the router before the engine is asked.
//! `_sort`, `_text`, composite and special parameters are rejected as not supported yet.
//! Results come in the order of the resources' last change, oldest first.

use async_trait::async_trait;
use hearth_interface::compartment;
use hearth_interface::id::{all_resource_types, truncate_for_message};
use hearth_interface::index::{
    IndexValue, extract, normalize_string, parse_date_range, parse_decimal_range,
};
use hearth_interface::search::{
    Criterion, SearchEngine, SearchPage, SearchQuery, SearchScope, SupportedParam, TotalMode,
};
use hearth_interface::search_params::{SearchParamDef, SearchParamRegistry, SearchParamType};
use hearth_interface::store::{ResourceStore, ScanQuery, StoredResource};
use hearth_interface::{Error, ResourceType, Result};
use serde_json::Value;

use crate::SqliteStore;

/// How many resources one scan round trip reads.
const SCAN_BATCH: usize = 500;

/// Parameters that exist in FHIR but need machinery this engine does not have yet.
const UNSUPPORTED_PARAMS: [&str; 11] = [
    "_has",
    "_include",
    "_revinclude",
    "_sort",
    "_text",
    "_content",
    "_list",
    "_query",
    "_filter",
    "_type",
    "_containedType",
];

/// Searches a [`SqliteStore`] by scanning the current resources of the searched type and
/// matching criteria in memory.
///
/// Paging cursors are the store's scan positions: a cursor points just after the last
/// match returned, so later pages continue where the previous one stopped.
#[derive(Debug, Clone)]
pub struct SqliteSearch {
    store: SqliteStore,
}

impl SqliteSearch {
    /// A search engine over `store`.
    pub fn new(store: SqliteStore) -> Self {
        Self { store }
    }

    /// Scans each plan's type in turn from the query's cursor and collects one page of
    /// matches.
    async fn scan(&self, plans: &[Plan], query: &SearchQuery) -> Result<SearchPage> {
        let want_total = query.cursor.is_none() && query.total != TotalMode::None;
        let mut collector = Collector::new(query.count, want_total);
        let (mut plan_index, mut cursor) = parse_cursor(query.cursor.as_deref())?;
        while let Some(plan) = plans.get(plan_index) {
            if collector.is_done() {
                break;
            }
            loop {
                let scan = ScanQuery {
                    resource_type: plan.resource_type,
                    since: None,
                    count: SCAN_BATCH,
                    cursor: cursor.take(),
                };
                let page = self.store.scan(&scan).await?;
                for entry in page.entries {
                    if collector.is_done() {
                        break;
                    }
                    if plan.accepts(&entry)? {
                        collector.push(plan_index, entry);
                    }
                }
                match page.next_cursor {
                    Some(next) if !collector.is_done() => cursor = Some(next),
                    _ => break,
                }
            }
            plan_index += 1;
            cursor = None;
        }
        Ok(collector.finish())
    }
}

#[async_trait]
impl SearchEngine for SqliteSearch {
    async fn search(&self, scope: &SearchScope, query: &SearchQuery) -> Result<SearchPage> {
        let plans = plan(scope, &query.criteria)?;
        self.scan(&plans, query).await
    }

    fn supported_params(&self, resource_type: ResourceType) -> Vec<SupportedParam> {
        SearchParamRegistry::r4()
            .for_type(resource_type.as_str())
            .filter(|def| is_searchable(def))
            .map(|def| SupportedParam {
                code: def.code.clone(),
                kind: def.kind.as_str(),
                definition: def.url.clone(),
            })
            .collect()
    }
}

/// One resource type to scan, with the filters its resources must pass.
#[derive(Debug)]
struct Plan {
    resource_type: ResourceType,
    /// All must match.
    filters: Vec<Filter>,
    /// When not empty, one must match too (compartment membership).
    any_of: Vec<Filter>,
}

impl Plan {
    /// Whether the stored resource passes the filters.
    fn accepts(&self, stored: &StoredResource) -> Result<bool> {
        if self.filters.is_empty() && self.any_of.is_empty() {
            return Ok(true);
        }
        let Some(body) = stored.body.as_deref() else {
            return Ok(false);
        };
        let resource: Value = serde_json::from_str(body).map_err(|e| {
            Error::internal(
                format!(
                    "stored {}/{} is not valid JSON",
                    stored.resource_type, stored.id
                ),
                e,
            )
        })?;
        let passes = |f: &Filter| matches(&f.condition, &extract(f.def, &resource));
        Ok(self.filters.iter().all(passes)
            && (self.any_of.is_empty() || self.any_of.iter().any(passes)))
    }
}

/// The types a scope searches, in order, with their filters.
fn plan(scope: &SearchScope, criteria: &[Criterion]) -> Result<Vec<Plan>> {
    let plain = |resource_type: ResourceType| -> Result<Plan> {
        Ok(Plan {
            resource_type,
            filters: compile(resource_type, criteria)?,
            any_of: Vec::new(),
        })
    };
    match scope {
        SearchScope::Type(resource_type) => Ok(vec![plain(*resource_type)?]),
        SearchScope::System(types) if types.is_empty() => all_resource_types()
            .iter()
            .filter_map(|name| ResourceType::parse(name))
            .map(plain)
            .collect(),
        SearchScope::System(types) => types.iter().copied().map(plain).collect(),
        SearchScope::Compartment {
            compartment,
            id,
            target,
        } => {
            if !compartment::is_defined(compartment.as_str()) {
                return Err(Error::not_found(format!(
                    "this server has no {compartment} compartment definition (it knows the Patient compartment)"
                )));
            }
            let explicit = target.is_some();
            let targets: Vec<ResourceType> = match target {
                Some(t) => vec![*t],
                None => all_resource_types()
                    .iter()
                    .filter_map(|name| ResourceType::parse(name))
                    .collect(),
            };
            let mut plans = Vec::new();
            for target in targets {
                let mut any_of = Vec::new();
                for param in compartment::patient_params(target.as_str()) {
                    let member = Criterion {
                        name: param.clone(),
                        modifier: None,
                        values: vec![format!("{compartment}/{id}")],
                    };
                    any_of.push(compile_one(target, &member)?);
                }
                if target == *compartment {
                    let itself = Criterion {
                        name: "_id".into(),
                        modifier: None,
                        values: vec![id.to_string()],
                    };
                    any_of.push(compile_one(target, &itself)?);
                }
                if any_of.is_empty() {
                    if explicit {
                        return Err(Error::invalid(format!(
                            "{target} is not in the {compartment} compartment"
                        )));
                    }
                    continue;
                }
                plans.push(Plan {
                    resource_type: target,
                    filters: compile(target, criteria)?,
                    any_of,
                });
            }
            Ok(plans)
        }
    }
}

/// Cursors are `<plan index>:<scan cursor>`; no cursor starts at the first plan.
fn parse_cursor(cursor: Option<&str>) -> Result<(usize, Option<String>)> {
    let Some(cursor) = cursor else {
        return Ok((0, None));
    };
    cursor
        .split_once(':')
        .and_then(|(plan, scan)| Some((plan.parse().ok()?, Some(scan.to_owned()))))
        .ok_or_else(|| {
            Error::invalid(format!(
                "invalid paging cursor '{}'",
                truncate_for_message(cursor)
            ))
        })
}

/// The cursor that continues just after `entry` of plan `plan_index`. The scan part
/// mirrors the store's scan cursor encoding (the `ts` of the last row read, which is the
/// version's `last_updated`); the `cursor_after_matches_scan_cursor` test guards the
/// coupling.
fn cursor_after(plan_index: usize, entry: &StoredResource) -> String {
    format!("{plan_index}:{}", scan_cursor_after(entry))
}

fn scan_cursor_after(entry: &StoredResource) -> String {
    entry.last_updated.0.to_string()
}

/// Gathers one page of matches, counts all of them when a total is wanted, and learns
/// whether a match exists after the page.
#[derive(Debug)]
struct Collector {
    count: usize,
    want_total: bool,
    matches: Vec<StoredResource>,
    /// The plan of the last match on the page.
    last_plan: usize,
    total: u64,
    has_more: bool,
}

impl Collector {
    fn new(count: usize, want_total: bool) -> Self {
        Self {
            count,
            want_total,
            matches: Vec::new(),
            last_plan: 0,
            total: 0,
            has_more: false,
        }
    }

    /// Records one match of plan `plan_index`.
    fn push(&mut self, plan_index: usize, entry: StoredResource) {
        self.total += 1;
        if self.matches.len() < self.count {
            self.matches.push(entry);
            self.last_plan = plan_index;
        } else {
            self.has_more = true;
        }
    }

    /// Whether scanning further cannot change the page: it is full, a next match is
    /// known (or the page holds nothing at all), and no total is wanted.
    fn is_done(&self) -> bool {
        !self.want_total && (self.has_more || self.count == 0)
    }

    /// The page. With a page size of 0 there is no next page: no position precedes the
    /// first match.
    fn finish(self) -> SearchPage {
        let next_cursor = if self.has_more {
            self.matches
                .last()
                .map(|entry| cursor_after(self.last_plan, entry))
        } else {
            None
        };
        SearchPage {
            matches: self.matches,
            next_cursor,
            total: self.want_total.then_some(self.total),
        }
    }
}

// ---------------------------------------------------------------------------
// Criteria: turning `name[:modifier]=values` into conditions, with 400s for bad input.

/// A criterion resolved to its parameter definition and parsed values.
#[derive(Debug)]
struct Filter {
    def: &'static SearchParamDef,
    condition: Condition,
}

/// Whether a parameter is one this engine can search.
fn is_searchable(def: &SearchParamDef) -> bool {
    let kind_ok = !matches!(
        def.kind,
        SearchParamType::Composite | SearchParamType::Special
    );
    kind_ok && def.expression.is_some() && !UNSUPPORTED_PARAMS.contains(&def.code.as_str())
}

/// Resolves and parses every criterion; the first bad one fails the search.
fn compile(resource_type: ResourceType, criteria: &[Criterion]) -> Result<Vec<Filter>> {
    criteria
        .iter()
        .map(|c| compile_one(resource_type, c))
        .collect()
}

fn compile_one(resource_type: ResourceType, criterion: &Criterion) -> Result<Filter> {
    let name = criterion.name.as_str();
    check_not_deferred(criterion)?;
    let def = SearchParamRegistry::r4()
        .get(resource_type.as_str(), name)
        .ok_or_else(|| {
            Error::invalid(format!(
                "unknown search parameter '{}' for {resource_type}",
                truncate_for_message(name)
            ))
            .at(name)
        })?;
    if !is_searchable(def) {
        return Err(invalid_at(
            name,
            format!(
                "search parameter '{name}' ({} type) is not supported yet",
                def.kind.as_str()
            ),
        ));
    }
    let condition = parse_condition(def, criterion.modifier.as_deref(), &criterion.values)?;
    Ok(Filter { def, condition })
}

/// Rejects chains and the special parameters a later version adds.
fn check_not_deferred(criterion: &Criterion) -> Result<()> {
    let name = criterion.name.as_str();
    let modifier = criterion.modifier.as_deref().unwrap_or_default();
    if name.contains('.') || modifier.contains('.') {
        return Err(invalid_at(
            name,
            format!(
                "chained search parameter '{}' is not supported yet",
                truncate_for_message(&key(name, criterion.modifier.as_deref()))
            ),
        ));
    }
    if UNSUPPORTED_PARAMS.contains(&name) {
        return Err(invalid_at(
            name,
            format!("search parameter '{name}' is not supported yet"),
        ));
    }
    Ok(())
}

fn key(name: &str, modifier: Option<&str>) -> String {
    match modifier {
        Some(m) => format!("{name}:{m}"),
        None => name.to_owned(),
    }
}

fn invalid_at(name: &str, message: String) -> Error {
    Error::invalid(message).at(name)
}

/// Parses the values of one criterion for its parameter and modifier.
fn parse_condition(
    def: &SearchParamDef,
    modifier: Option<&str>,
    values: &[String],
) -> Result<Condition> {
    let name = def.code.as_str();
    if values.is_empty() || values.iter().any(String::is_empty) {
        return Err(invalid_at(
            name,
            format!("search parameter '{name}' has an empty value"),
        ));
    }
    match modifier {
        Some("missing") => parse_missing(name, values),
        Some("not") if def.kind == SearchParamType::Token => {
            let queries = parse_each(values, |v| parse_token(name, v).map(ValueQuery::Token))?;
            Ok(Condition::NoneOf(queries))
        }
        _ => {
            let queries = parse_each(values, |v| parse_value(def, modifier, v))?;
            Ok(Condition::AnyOf(queries))
        }
    }
}

fn parse_each<F>(values: &[String], parse: F) -> Result<Vec<ValueQuery>>
where
    F: Fn(&str) -> Result<ValueQuery>,
{
    values.iter().map(|v| parse(v)).collect()
}

fn parse_missing(name: &str, values: &[String]) -> Result<Condition> {
    match values {
        [v] if v == "true" => Ok(Condition::Missing(true)),
        [v] if v == "false" => Ok(Condition::Missing(false)),
        _ => Err(invalid_at(
            name,
            format!(
                "'{name}:missing' takes one value, true or false, not '{}'",
                truncate_for_message(&values.join(","))
            ),
        )),
    }
}

/// Parses one value of a parameter by its type and modifier.
fn parse_value(def: &SearchParamDef, modifier: Option<&str>, value: &str) -> Result<ValueQuery> {
    let name = def.code.as_str();
    match (def.kind, modifier) {
        (SearchParamType::String, None) => Ok(string_query(StringMode::StartsWith, value)),
        (SearchParamType::String, Some("contains")) => {
            Ok(string_query(StringMode::Contains, value))
        }
        (SearchParamType::String, Some("exact")) => Ok(string_query(StringMode::Exact, value)),
        (SearchParamType::Token, None) => parse_token(name, value).map(ValueQuery::Token),
        (SearchParamType::Token, Some("text")) => {
            Ok(ValueQuery::TokenText(normalize_string(value)))
        }
        (SearchParamType::Token, Some("of-type")) => parse_of_type(name, value),
        (SearchParamType::Reference, _) => parse_reference(def, modifier, value),
        (SearchParamType::Uri, None) => Ok(uri_query(UriMode::Exact, value)),
        (SearchParamType::Uri, Some("below")) => Ok(uri_query(UriMode::Below, value)),
        (SearchParamType::Uri, Some("above")) => Ok(uri_query(UriMode::Above, value)),
        (SearchParamType::Date, None) => parse_date(name, value, now_ms()),
        (SearchParamType::Number, None) => parse_number(name, value),
        (SearchParamType::Quantity, None) => parse_quantity(name, value),
        (kind, modifier) => Err(unsupported_modifier(name, kind, modifier)),
    }
}

fn unsupported_modifier(name: &str, kind: SearchParamType, modifier: Option<&str>) -> Error {
    invalid_at(
        name,
        format!(
            "modifier ':{}' is not supported on {} parameter '{name}'",
            truncate_for_message(modifier.unwrap_or_default()),
            kind.as_str()
        ),
    )
}

fn bad_value(name: &str, value: &str, expected: &str) -> Error {
    invalid_at(
        name,
        format!(
            "invalid value '{}' for search parameter '{name}': expected {expected}",
            truncate_for_message(value)
        ),
    )
}

fn string_query(mode: StringMode, value: &str) -> ValueQuery {
    let text = match mode {
        StringMode::Exact => value.to_owned(),
        StringMode::StartsWith | StringMode::Contains => normalize_string(value),
    };
    ValueQuery::String { mode, text }
}

fn uri_query(mode: UriMode, value: &str) -> ValueQuery {
    ValueQuery::Uri {
        mode,
        uri: value.to_owned(),
    }
}

/// Splits a search value on `|` not escaped by `\`, and unescapes `\|`, `\$`, `\,` and
/// `\\` in the parts.
fn split_pipes(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ ('|' | '$' | ',' | '\\')) => current.push(next),
                Some(next) => {
                    current.push('\\');
                    current.push(next);
                }
                None => current.push('\\'),
            },
            '|' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
}

/// `code`, `system|code`, `|code` or `system|`.
fn parse_token(name: &str, value: &str) -> Result<TokenQuery> {
    let parts = split_pipes(value);
    let query = match parts.as_slice() {
        [code] => TokenQuery {
            system: SystemMatch::Any,
            code: Some(code.clone()),
        },
        [system, code] if !(system.is_empty() && code.is_empty()) => TokenQuery {
            system: if system.is_empty() {
                SystemMatch::Absent
            } else {
                SystemMatch::Is(system.clone())
            },
            code: (!code.is_empty()).then(|| code.clone()),
        },
        _ => return Err(bad_value(name, value, "[system|]code or system|")),
    };
    Ok(query)
}

/// `system|code|value` for `:of-type`: an Identifier type coding and the identifier value.
fn parse_of_type(name: &str, value: &str) -> Result<ValueQuery> {
    match split_pipes(value).as_slice() {
        [system, code, id] if !system.is_empty() && !code.is_empty() && !id.is_empty() => {
            Ok(ValueQuery::OfType {
                system: system.clone(),
                code: code.clone(),
                value: id.clone(),
            })
        }
        _ => Err(bad_value(name, value, "system|code|value")),
    }
}

/// A reference value under no modifier, `:identifier` or `:[Type]`.
fn parse_reference(
    def: &SearchParamDef,
    modifier: Option<&str>,
    value: &str,
) -> Result<ValueQuery> {
    let name = def.code.as_str();
    let query = match modifier {
        None => plain_reference(value),
        Some("identifier") => ReferenceQuery::Identifier(parse_token(name, value)?),
        Some(ty) => typed_reference(def, ty, value)?,
    };
    Ok(ValueQuery::Reference(query))
}

/// `id`, or a literal reference (`Type/id`, an absolute URL, a canonical...).
fn plain_reference(value: &str) -> ReferenceQuery {
    if value.contains(['/', ':']) {
        ReferenceQuery::Literal {
            reference: value.to_owned(),
            typed: trailing_type_id(value),
        }
    } else {
        ReferenceQuery::Id(value.to_owned())
    }
}

/// `subject:Patient=123`: the modifier names one of the parameter's target types.
fn typed_reference(def: &SearchParamDef, ty: &str, value: &str) -> Result<ReferenceQuery> {
    let name = def.code.as_str();
    let Some(resource_type) = ResourceType::parse(ty) else {
        return Err(unsupported_modifier(name, def.kind, Some(ty)));
    };
    if !def.targets.is_empty() && !def.targets.iter().any(|t| t == ty) {
        return Err(invalid_at(
            name,
            format!("{ty} is not a target type of search parameter '{name}'"),
        ));
    }
    if value.contains('/') {
        return Err(bad_value(
            name,
            value,
            &format!("a plain {ty} id after ':{ty}'"),
        ));
    }
    Ok(ReferenceQuery::Typed {
        resource_type: resource_type.as_str().to_owned(),
        id: value.to_owned(),
    })
}

/// The `Type/id` at the end of a literal reference (`http://x/Patient/1/_history/2`
/// gives `Patient`, `1`), when the segment before the id is a resource type.
fn trailing_type_id(reference: &str) -> Option<(String, String)> {
    let path = reference.split("/_history/").next().unwrap_or(reference);
    let mut segments = path.rsplit('/');
    let id = segments.next().filter(|id| !id.is_empty())?;
    let ty = ResourceType::parse(segments.next()?)?;
    Some((ty.as_str().to_owned(), id.to_owned()))
}

/// A date search value: `[prefix]date`; `ap` widens the range now.
fn parse_date(name: &str, value: &str, now: i64) -> Result<ValueQuery> {
    let (prefix, text) = Prefix::split(value);
    let (mut start, mut end) = parse_date_range(text)
        .ok_or_else(|| bad_value(name, value, "[prefix]YYYY[-MM[-DD[Thh:mm[:ss][zone]]]]"))?;
    if prefix == Prefix::Ap {
        (start, end) = approximate_dates(start, end, now);
    }
    Ok(ValueQuery::Date { prefix, start, end })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Widens a date range on both sides by 10% of the distance between `now` and it, the
/// spec's suggestion for `ap`.
fn approximate_dates(start: i64, end: i64, now: i64) -> (i64, i64) {
    let distance = if now < start {
        start.saturating_sub(now)
    } else {
        now.saturating_sub(end).max(0)
    };
    let margin = distance / 10;
    (start.saturating_sub(margin), end.saturating_add(margin))
}

/// `[prefix]number`.
fn parse_number(name: &str, value: &str) -> Result<ValueQuery> {
    let (prefix, text) = Prefix::split(value);
    let number = parse_decimal(text).ok_or_else(|| bad_value(name, value, "[prefix]number"))?;
    Ok(ValueQuery::Number { prefix, number })
}

/// The most exponent digits a search number may have: larger exponents are outside the
/// `f64` range anyway, and bounding them keeps `parse_decimal_range`'s exponent
/// arithmetic from overflowing (it panics on `1.5e-2147483648` in checked builds).
const MAX_EXPONENT_DIGITS: usize = 4;

fn parse_decimal(text: &str) -> Option<Decimal> {
    let exponent = text.split_once(['e', 'E']).map_or("", |(_, e)| e);
    if exponent.trim_start_matches(['+', '-']).len() > MAX_EXPONENT_DIGITS {
        return None;
    }
    let (value, low, high) = parse_decimal_range(text)?;
    Some(Decimal { value, low, high })
}

/// `[prefix]number`, `[prefix]number|system|code` or `[prefix]number||code`.
fn parse_quantity(name: &str, value: &str) -> Result<ValueQuery> {
    const EXPECTED: &str = "[prefix]number[|[system]|code]";
    let parts = split_pipes(value);
    let (number, unit) = match parts.as_slice() {
        [number] => (number, UnitQuery::default()),
        [number, system, code] => (
            number,
            UnitQuery {
                system: (!system.is_empty()).then(|| system.clone()),
                code: (!code.is_empty()).then(|| code.clone()),
            },
        ),
        _ => return Err(bad_value(name, value, EXPECTED)),
    };
    let (prefix, text) = Prefix::split(number);
    let number = parse_decimal(text).ok_or_else(|| bad_value(name, value, EXPECTED))?;
    Ok(ValueQuery::Quantity {
        prefix,
        number,
        unit,
    })
}

// ---------------------------------------------------------------------------
// Matching: pure functions from parsed criteria and index values to yes or no.

/// What one criterion requires of a parameter's index values.
#[derive(Debug, Clone, PartialEq)]
enum Condition {
    /// `:missing`: `true` when the resource must have no value, `false` when some.
    Missing(bool),
    /// Some value matches some query (the default: values are ORed).
    AnyOf(Vec<ValueQuery>),
    /// No value matches any query (`:not`; a resource without values matches).
    NoneOf(Vec<ValueQuery>),
}

/// One parsed search value.
#[derive(Debug, Clone, PartialEq)]
enum ValueQuery {
    /// A string; `text` is normalized except for [`StringMode::Exact`].
    String { mode: StringMode, text: String },
    /// A token by system and code.
    Token(TokenQuery),
    /// `:text`: the normalized start of a token's display text.
    TokenText(String),
    /// `:of-type`: an Identifier with a type coding and value.
    OfType {
        system: String,
        code: String,
        value: String,
    },
    /// A reference.
    Reference(ReferenceQuery),
    /// A uri.
    Uri { mode: UriMode, uri: String },
    /// A date range (already widened for `ap`), inclusive milliseconds.
    Date {
        prefix: Prefix,
        start: i64,
        end: i64,
    },
    /// A number.
    Number { prefix: Prefix, number: Decimal },
    /// A quantity with optional unit constraints.
    Quantity {
        prefix: Prefix,
        number: Decimal,
        unit: UnitQuery,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StringMode {
    StartsWith,
    Contains,
    Exact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UriMode {
    Exact,
    /// The stored uri starts with the searched one.
    Below,
    /// The searched uri starts with the stored one.
    Above,
}

/// A token by system and code; `code` `None` matches any code.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TokenQuery {
    system: SystemMatch,
    code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SystemMatch {
    /// `code`: any system or none.
    Any,
    /// `|code`: no system.
    Absent,
    /// `system|code` or `system|`.
    Is(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ReferenceQuery {
    /// `:[Type]=id`: exactly this type and id.
    Typed { resource_type: String, id: String },
    /// A plain id: any type.
    Id(String),
    /// A literal reference: equal text, or equal trailing `Type/id`.
    Literal {
        reference: String,
        typed: Option<(String, String)>,
    },
    /// `:identifier`: the logical reference's identifier.
    Identifier(TokenQuery),
}

/// A number with the range implied by its precision.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Decimal {
    value: f64,
    low: f64,
    high: f64,
}

/// Unit constraints of a quantity search; `None` parts are unconstrained. Without a
/// system, the code also matches the human-readable unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct UnitQuery {
    system: Option<String>,
    code: Option<String>,
}

/// The comparison prefix of a date, number or quantity value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

impl Prefix {
    /// Splits a leading prefix off `value`; none means `eq`.
    fn split(value: &str) -> (Prefix, &str) {
        let prefix = match value.get(..2) {
            Some("eq") => Prefix::Eq,
            Some("ne") => Prefix::Ne,
            Some("gt") => Prefix::Gt,
            Some("lt") => Prefix::Lt,
            Some("ge") => Prefix::Ge,
            Some("le") => Prefix::Le,
            Some("sa") => Prefix::Sa,
            Some("eb") => Prefix::Eb,
            Some("ap") => Prefix::Ap,
            _ => return (Prefix::Eq, value),
        };
        (prefix, value.get(2..).unwrap_or_default())
    }
}

/// Whether a parameter's index values satisfy a condition.
fn matches(condition: &Condition, values: &[IndexValue]) -> bool {
    match condition {
        Condition::Missing(missing) => values.is_empty() == *missing,
        Condition::AnyOf(queries) => any_match(queries, values),
        Condition::NoneOf(queries) => !any_match(queries, values),
    }
}

fn any_match(queries: &[ValueQuery], values: &[IndexValue]) -> bool {
    queries
        .iter()
        .any(|q| values.iter().any(|v| value_matches(q, v)))
}

/// Whether one index value matches one search value; values of another kind never do.
fn value_matches(query: &ValueQuery, value: &IndexValue) -> bool {
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
                value: point,
                low,
                high,
                system,
                code,
                unit,
            },
        ) => {
            let target = point.map_or((*low, *high), |v| (v, v));
            unit_matches(wanted, system.as_deref(), code.as_deref(), unit.as_deref())
                && number_matches(*prefix, number, target)
        }
        _ => false,
    }
}

fn string_matches(mode: StringMode, query: &str, normalized: &str, exact: &str) -> bool {
    match mode {
        StringMode::StartsWith => normalized.starts_with(query),
        StringMode::Contains => normalized.contains(query),
        StringMode::Exact => exact == query,
    }
}

fn token_matches(query: &TokenQuery, system: Option<&str>, code: Option<&str>) -> bool {
    let system_ok = match &query.system {
        SystemMatch::Any => true,
        SystemMatch::Absent => system.is_none(),
        SystemMatch::Is(s) => system == Some(s.as_str()),
    };
    system_ok && query.code.as_deref().is_none_or(|c| code == Some(c))
}

/// Whether an Identifier's type codings include `system|code`.
fn has_type(of_type: &[(Option<String>, Option<String>)], system: &str, code: &str) -> bool {
    of_type
        .iter()
        .any(|(s, c)| s.as_deref() == Some(system) && c.as_deref() == Some(code))
}

fn reference_matches(query: &ReferenceQuery, value: &IndexValue) -> bool {
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

fn uri_matches(mode: UriMode, query: &str, stored: &str) -> bool {
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
fn range_matches<T: PartialOrd>(prefix: Prefix, query: (T, T), target: (T, T)) -> bool {
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
fn number_matches(prefix: Prefix, query: &Decimal, target: (f64, f64)) -> bool {
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

fn unit_matches(
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

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_interface::IssueKind;

    fn string_value(s: &str) -> IndexValue {
        IndexValue::String {
            normalized: normalize_string(s),
            exact: s.to_owned(),
        }
    }

    fn token(system: Option<&str>, code: Option<&str>, text: Option<&str>) -> IndexValue {
        IndexValue::Token {
            system: system.map(str::to_owned),
            code: code.map(str::to_owned),
            text: text.map(str::to_owned),
            of_type: Vec::new(),
        }
    }

    fn reference(r: Option<&str>, ty: Option<&str>, id: Option<&str>) -> IndexValue {
        IndexValue::Reference {
            reference: r.map(str::to_owned),
            resource_type: ty.map(str::to_owned),
            id: id.map(str::to_owned),
            identifier: None,
        }
    }

    fn quantity(
        value: f64,
        system: Option<&str>,
        code: Option<&str>,
        unit: Option<&str>,
    ) -> IndexValue {
        IndexValue::Quantity {
            value: Some(value),
            low: value - 0.5,
            high: value + 0.5,
            system: system.map(str::to_owned),
            code: code.map(str::to_owned),
            unit: unit.map(str::to_owned),
        }
    }

    /// Parses `key=value` for `ty` the way the router would.
    fn condition(ty: &str, key: &str, value: &str) -> Result<Condition> {
        let criterion = Criterion::parse(key, value);
        let resource_type = ResourceType::parse(ty).expect("type");
        compile_one(resource_type, &criterion).map(|f| f.condition)
    }

    fn check(ty: &str, key: &str, value: &str, values: &[IndexValue]) -> bool {
        matches(&condition(ty, key, value).expect("valid criterion"), values)
    }

    #[test]
    fn splits_pipes_with_escapes() {
        assert_eq!(split_pipes("a|b"), vec!["a", "b"]);
        assert_eq!(split_pipes(r"a\|b|c"), vec!["a|b", "c"]);
        assert_eq!(split_pipes("|x"), vec!["", "x"]);
        assert_eq!(split_pipes(r"x\"), vec![r"x\"]);
        assert_eq!(split_pipes(r"\n\$"), vec![r"\n$"]);
    }

    #[test]
    fn splits_prefixes() {
        assert_eq!(Prefix::split("ge2020"), (Prefix::Ge, "2020"));
        assert_eq!(Prefix::split("2020"), (Prefix::Eq, "2020"));
        assert_eq!(Prefix::split("ap5"), (Prefix::Ap, "5"));
        assert_eq!(Prefix::split("xx5"), (Prefix::Eq, "xx5"));
        assert_eq!(Prefix::split("é"), (Prefix::Eq, "é"));
        assert_eq!(Prefix::split("e"), (Prefix::Eq, "e"));
    }

    #[test]
    fn string_modes_fold_case_and_accents() {
        let values = [string_value("Müller")];
        assert!(check("Patient", "family", "mul", &values));
        assert!(check("Patient", "family", "MÜLLER", &values));
        assert!(!check("Patient", "family", "ller", &values));
        assert!(check("Patient", "family:contains", "LLé", &values));
        assert!(check("Patient", "family:exact", "Müller", &values));
        assert!(!check("Patient", "family:exact", "Muller", &values));
        assert!(!check("Patient", "family:exact", "müller", &values));
    }

    #[test]
    fn token_forms() {
        let values = [
            token(
                Some("http://loinc.org"),
                Some("1234-5"),
                Some("Body Weight"),
            ),
            token(None, Some("local"), None),
        ];
        assert!(check("Observation", "code", "1234-5", &values));
        assert!(check(
            "Observation",
            "code",
            "http://loinc.org|1234-5",
            &values
        ));
        assert!(!check(
            "Observation",
            "code",
            "http://snomed.info/sct|1234-5",
            &values
        ));
        assert!(check("Observation", "code", "|local", &values));
        assert!(!check("Observation", "code", "|1234-5", &values));
        assert!(check("Observation", "code", "http://loinc.org|", &values));
        assert!(!check("Observation", "code", "http://x|", &values));
        assert!(check("Observation", "code:text", "body w", &values));
        assert!(!check("Observation", "code:text", "weight", &values));
        assert!(check("Observation", "code:not", "other", &values));
        assert!(!check("Observation", "code:not", "other,local", &values));
        assert!(check("Observation", "code:not", "local", &[]));
    }

    #[test]
    fn token_of_type_and_escaped_codes() {
        let identifier = IndexValue::Token {
            system: Some("urn:a|b".into()),
            code: Some("X|1".into()),
            text: None,
            of_type: vec![(Some("http://t".into()), Some("MR".into()))],
        };
        let values = [identifier];
        assert!(check("Patient", "identifier", r"urn:a\|b|X\|1", &values));
        assert!(check("Patient", "identifier", r"X\|1", &values));
        assert!(check(
            "Patient",
            "identifier:of-type",
            r"http://t|MR|X\|1",
            &values
        ));
        assert!(!check(
            "Patient",
            "identifier:of-type",
            r"http://t|DL|X\|1",
            &values
        ));
        assert!(condition("Patient", "identifier:of-type", "http://t|MR").is_err());
        assert!(condition("Patient", "identifier", "|").is_err());
        assert!(condition("Patient", "identifier", "a|b|c").is_err());
    }

    #[test]
    fn reference_forms() {
        let values = [
            reference(Some("Patient/1"), Some("Patient"), Some("1")),
            IndexValue::Reference {
                reference: None,
                resource_type: None,
                id: None,
                identifier: Some((Some("http://ids".into()), Some("abc".into()))),
            },
        ];
        assert!(check("Observation", "subject", "Patient/1", &values));
        assert!(check("Observation", "subject", "1", &values));
        assert!(!check("Observation", "subject", "Group/1", &values));
        assert!(check("Observation", "subject:Patient", "1", &values));
        assert!(!check("Observation", "subject:Group", "1", &values));
        assert!(check(
            "Observation",
            "subject",
            "http://server/fhir/Patient/1",
            &values
        ));
        assert!(check(
            "Observation",
            "subject",
            "Patient/1/_history/3",
            &values
        ));
        assert!(check(
            "Observation",
            "subject:identifier",
            "http://ids|abc",
            &values
        ));
        assert!(check("Observation", "subject:identifier", "abc", &values));
        assert!(!check(
            "Observation",
            "subject:identifier",
            "http://other|abc",
            &values
        ));
        assert!(condition("Observation", "subject:Bogus", "1").is_err());
        assert!(condition("Observation", "subject:Medication", "1").is_err());
        assert!(condition("Observation", "subject:Patient", "Patient/1").is_err());
    }

    #[test]
    fn literal_references_match_text_or_trailing_type_and_id() {
        let absolute = [reference(
            Some("http://x/fhir/Patient/1"),
            Some("Patient"),
            Some("1"),
        )];
        assert!(check("Observation", "subject", "Patient/1", &absolute));
        assert!(check(
            "Observation",
            "subject",
            "http://x/fhir/Patient/1",
            &absolute
        ));
        let canonical = [reference(Some("urn:uuid:123"), None, None)];
        assert!(check("Observation", "subject", "urn:uuid:123", &canonical));
        assert_eq!(trailing_type_id("a/b"), None);
        assert_eq!(trailing_type_id("Patient/"), None);
        assert_eq!(
            trailing_type_id("http://x/Group/g/_history/2"),
            Some(("Group".into(), "g".into()))
        );
    }

    #[test]
    fn uri_modes() {
        let values = [IndexValue::Uri("http://acme.org/fhir/ValueSet/123".into())];
        assert!(check(
            "ValueSet",
            "url",
            "http://acme.org/fhir/ValueSet/123",
            &values
        ));
        assert!(!check("ValueSet", "url", "http://acme.org/fhir", &values));
        assert!(check(
            "ValueSet",
            "url:below",
            "http://acme.org/fhir",
            &values
        ));
        assert!(check(
            "ValueSet",
            "url:above",
            "http://acme.org/fhir/ValueSet/123/_history/5",
            &values
        ));
        assert!(!check("ValueSet", "url:above", "http://acme.org", &values));
    }

    #[test]
    fn missing_both_ways_and_bad_values() {
        let some = [token(None, Some("male"), None)];
        assert!(check("Patient", "gender:missing", "true", &[]));
        assert!(!check("Patient", "gender:missing", "true", &some));
        assert!(check("Patient", "gender:missing", "false", &some));
        assert!(!check("Patient", "birthdate:missing", "false", &[]));
        assert!(condition("Patient", "gender:missing", "yes").is_err());
        assert!(condition("Patient", "gender:missing", "true,false").is_err());
    }

    #[test]
    fn date_prefix_table() {
        let day = |s: &str| parse_date_range(s).expect("date");
        let (qs, qe) = day("2020-06");
        let q = (qs, qe);
        let inside = day("2020-06-15");
        let before = day("2020-05-31");
        let after = day("2020-07-01");
        let spanning = (day("2020-05-31").0, day("2020-06-02").1);
        assert!(range_matches(Prefix::Eq, q, inside));
        assert!(!range_matches(Prefix::Eq, q, spanning));
        assert!(range_matches(Prefix::Ne, q, spanning));
        assert!(range_matches(Prefix::Gt, q, after));
        assert!(!range_matches(Prefix::Gt, q, inside));
        assert!(range_matches(Prefix::Lt, q, before));
        assert!(range_matches(Prefix::Lt, q, spanning));
        assert!(range_matches(Prefix::Ge, q, inside));
        assert!(range_matches(Prefix::Ge, q, after));
        assert!(!range_matches(Prefix::Ge, q, before));
        assert!(range_matches(Prefix::Le, q, before));
        assert!(!range_matches(Prefix::Le, q, after));
        assert!(range_matches(Prefix::Sa, q, after));
        assert!(!range_matches(Prefix::Sa, q, spanning));
        assert!(range_matches(Prefix::Eb, q, before));
        assert!(!range_matches(Prefix::Eb, q, spanning));
        assert!(range_matches(Prefix::Ap, q, spanning));
        assert!(!range_matches(Prefix::Ap, q, after));
        let open = (day("2020-06-10").0, i64::MAX);
        assert!(range_matches(Prefix::Gt, q, open));
        assert!(!range_matches(Prefix::Eq, q, open));
    }

    #[test]
    fn approximate_dates_widen_by_a_tenth_of_the_distance_to_now() {
        assert_eq!(approximate_dates(1000, 1999, 12_000), (0, 2999));
        assert_eq!(approximate_dates(1000, 1999, 1500), (1000, 1999));
        assert_eq!(approximate_dates(1000, 1999, -9000), (0, 2999));
        assert_eq!(
            approximate_dates(i64::MIN, i64::MAX, 0),
            (i64::MIN, i64::MAX)
        );
        let query = parse_date("date", "ap2020-01-01", day_ms("2030-01-01")).expect("date");
        let ValueQuery::Date { start, end, .. } = query else {
            panic!("date query expected");
        };
        assert!(start < day_ms("2020-01-01") && end > day_ms("2020-01-02"));
    }

    fn day_ms(s: &str) -> i64 {
        parse_date_range(s).expect("date").0
    }

    #[test]
    fn bad_dates_are_invalid() {
        for bad in ["2020-13", "ge", "xx2020", "2020-01-01T25:00", "yesterday"] {
            let err = condition("Patient", "birthdate", bad).expect_err(bad);
            assert_eq!(err.kind(), IssueKind::Invalid);
            assert!(err.message().contains("birthdate"), "{}", err.message());
        }
    }

    #[test]
    fn number_prefixes_use_the_precision_of_the_query() {
        let n = |v: f64| {
            [IndexValue::Number {
                value: v,
                low: v,
                high: v,
            }]
        };
        assert!(check("ChargeItem", "factor-override", "100", &n(100.4)));
        assert!(!check("ChargeItem", "factor-override", "100", &n(100.5)));
        assert!(check("ChargeItem", "factor-override", "100.0", &n(100.04)));
        assert!(!check("ChargeItem", "factor-override", "100.0", &n(100.4)));
        assert!(check("ChargeItem", "factor-override", "ne100", &n(101.0)));
        assert!(check("ChargeItem", "factor-override", "gt1.5", &n(1.6)));
        assert!(!check("ChargeItem", "factor-override", "gt1.5", &n(1.5)));
        assert!(check("ChargeItem", "factor-override", "ge1.5", &n(1.5)));
        assert!(check("ChargeItem", "factor-override", "lt1.5", &n(1.4)));
        assert!(check("ChargeItem", "factor-override", "le1.5", &n(1.5)));
        assert!(check("ChargeItem", "factor-override", "sa1.5", &n(1.6)));
        assert!(!check("ChargeItem", "factor-override", "sa1.5", &n(1.5)));
        assert!(check("ChargeItem", "factor-override", "eb1.5", &n(1.44)));
        assert!(check("ChargeItem", "factor-override", "ap100", &n(109.0)));
        assert!(!check("ChargeItem", "factor-override", "ap100", &n(111.0)));
        assert!(condition("ChargeItem", "factor-override", "gtabc").is_err());
        for bad in ["NaN", "inf", "1e400", "1.5e-2147483648", "1.5e+99999"] {
            assert!(
                condition("ChargeItem", "factor-override", bad).is_err(),
                "{bad}"
            );
            assert!(
                condition("Observation", "value-quantity", bad).is_err(),
                "{bad}"
            );
        }
        assert!(check("ChargeItem", "factor-override", "1e-3", &n(0.001)));
    }

    #[test]
    fn quantity_units_and_ranges() {
        let ucum = "http://unitsofmeasure.org";
        let values = [quantity(70.0, Some(ucum), Some("kg"), Some("kilogram"))];
        let q = |v: &str| check("Observation", "value-quantity", v, &values);
        assert!(q("70"));
        assert!(q("70|http://unitsofmeasure.org|kg"));
        assert!(!q("70|http://unitsofmeasure.org|g"));
        assert!(!q("70|http://other|kg"));
        assert!(q("70||kg"));
        assert!(q("70||kilogram"));
        assert!(q("gt60||kg"));
        assert!(!q("lt60||kg"));
        assert!(condition("Observation", "value-quantity", "70|kg").is_err());
        let range = [IndexValue::Quantity {
            value: None,
            low: 10.0,
            high: 20.0,
            system: None,
            code: Some("a".into()),
            unit: None,
        }];
        let r = |v: &str| check("Observation", "value-quantity", v, &range);
        assert!(r("gt15") && r("lt15") && r("sa9") && !r("sa10") && r("eb21") && !r("eq15"));
    }

    #[test]
    fn rejects_deferred_unknown_and_malformed_criteria() {
        let cases = [
            (
                "Patient",
                "nope",
                "x",
                "unknown search parameter 'nope' for Patient",
            ),
            ("Patient", "organization.name", "x", "chained"),
            ("Observation", "subject:Patient.name", "x", "chained"),
            (
                "Patient",
                "_has:Observation:patient:code",
                "x",
                "not supported yet",
            ),
            ("Patient", "_text", "x", "not supported yet"),
            (
                "Observation",
                "code-value-quantity",
                "x",
                "not supported yet",
            ),
            ("Location", "near", "1|2", "not supported yet"),
            ("Patient", "family:below", "x", "':below'"),
            ("Patient", "birthdate:exact", "2020", "':exact'"),
            ("Patient", "gender:in", "x", "':in'"),
            ("Patient", "family", "", "empty value"),
            ("Patient", "family", "a,", "empty value"),
        ];
        for (ty, key, value, message) in cases {
            let err = condition(ty, key, value).expect_err(key);
            assert_eq!(err.kind(), IssueKind::Invalid, "{key}");
            assert!(err.message().contains(message), "{key}: {}", err.message());
        }
        let err = condition("Patient", "nope", "x").expect_err("unknown");
        assert_eq!(err.expression(), Some("nope"));
    }

    #[test]
    fn values_of_another_kind_never_match() {
        let values = [IndexValue::Uri("x".into())];
        assert!(!check("Patient", "family", "x", &values));
        assert!(!check("Patient", "gender", "x", &values));
        assert!(check("Patient", "gender:not", "x", &values));
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;
    use hearth_interface::instant::Instant;
    use hearth_interface::store::{Precondition, Write};
    use hearth_interface::{IssueKind, ResourceId};
    use serde_json::json;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: SqliteStore,
        search: SqliteSearch,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("open store");
        let search = SqliteSearch::new(store.clone());
        Fixture {
            _dir: dir,
            store,
            search,
        }
    }

    async fn put(store: &SqliteStore, resource: Value) {
        let ty = resource["resourceType"].as_str().expect("resourceType");
        let id = resource["id"].as_str().expect("id");
        let write = Write::upsert(
            ResourceType::parse(ty).expect("type"),
            ResourceId::parse(id).expect("id"),
            resource,
            Precondition::None,
        );
        store.write(write).await.expect("write");
    }

    fn patients() -> Vec<Value> {
        vec![
            json!({
                "resourceType": "Patient", "id": "p1",
                "meta": {"profile": ["http://example.org/fhir/StructureDefinition/vip"]},
                "name": [{"family": "Müller", "given": ["Anna"]}],
                "gender": "female", "birthDate": "1980-05-12",
                "identifier": [{
                    "system": "http://hospital/mrn", "value": "MRN-1",
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
                }],
                "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "display": "Married"}]},
                "generalPractitioner": [{"reference": "Practitioner/doc1"}]
            }),
            json!({
                "resourceType": "Patient", "id": "p2",
                "name": [{"family": "Muller", "given": ["Bob"]}],
                "gender": "male", "birthDate": "1990",
                "identifier": [{"system": "http://other", "value": "X|1"}]
            }),
            json!({
                "resourceType": "Patient", "id": "p3",
                "name": [{"family": "Smith", "given": ["Carl"]}],
                "birthDate": "2000-01-01",
                "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr"}], "text": "French"}}]
            }),
            json!({
                "resourceType": "Patient", "id": "p4",
                "name": [{"family": "Smithson"}],
                "gender": "male", "birthDate": "2000-06-15"
            }),
            json!({
                "resourceType": "Patient", "id": "p5",
                "name": [{"family": "Jones"}],
                "gender": "female", "birthDate": "2010-02-03"
            }),
        ]
    }

    fn observations() -> Vec<Value> {
        let loinc = |code: &str, display: &str| json!({"coding": [{"system": "http://loinc.org", "code": code, "display": display}]});
        let ucum = "http://unitsofmeasure.org";
        vec![
            json!({
                "resourceType": "Observation", "id": "o1", "status": "final",
                "code": loinc("29463-7", "Body Weight"),
                "subject": {"reference": "Patient/p1"},
                "effectiveDateTime": "2021-03-04T10:00:00Z",
                "valueQuantity": {"value": 70, "unit": "kg", "system": ucum, "code": "kg"}
            }),
            json!({
                "resourceType": "Observation", "id": "o2", "status": "final",
                "code": loinc("8867-4", "Heart rate"),
                "subject": {"reference": "Patient/p2"},
                "effectiveDateTime": "2021-03-05",
                "valueQuantity": {"value": 80, "unit": "beats/minute", "system": ucum, "code": "/min"}
            }),
            json!({
                "resourceType": "Observation", "id": "o3", "status": "preliminary",
                "code": {"coding": [{"code": "local-1"}], "text": "Custom thing"},
                "subject": {"reference": "http://example.org/fhir/Patient/p1"},
                "effectiveDateTime": "2021-03-04T12:00:00+02:00",
                "valueQuantity": {"value": 150, "unit": "lbs"}
            }),
            json!({
                "resourceType": "Observation", "id": "o4", "status": "final",
                "code": loinc("29463-7", "Body Weight"),
                "subject": {"reference": "Group/p1"},
                "effectivePeriod": {"start": "2020-01-01", "end": "2020-12-31"}
            }),
        ]
    }

    async fn loaded() -> Fixture {
        let f = fixture();
        for resource in patients().into_iter().chain(observations()) {
            put(&f.store, resource).await;
        }
        f
    }

    fn query(criteria: &[(&str, &str)]) -> SearchQuery {
        SearchQuery {
            criteria: criteria
                .iter()
                .map(|(k, v)| Criterion::parse(k, v))
                .collect(),
            count: 100,
            cursor: None,
            total: TotalMode::Accurate,
        }
    }

    fn scope(ty: &str) -> SearchScope {
        SearchScope::Type(ResourceType::parse(ty).expect("type"))
    }

    async fn run(f: &Fixture, ty: &str, q: &SearchQuery) -> Result<SearchPage> {
        f.search.search(&scope(ty), q).await
    }

    /// The ids matching `criteria`, in result order.
    async fn ids(f: &Fixture, ty: &str, criteria: &[(&str, &str)]) -> Vec<String> {
        let page = run(f, ty, &query(criteria)).await.expect("search");
        page.matches.iter().map(|m| m.id.to_string()).collect()
    }

    /// Runs one-criterion searches `(key, value, expected ids)` on `ty`.
    async fn expect(f: &Fixture, ty: &str, cases: &[(&str, &str, &[&str])]) {
        for (key, value, expected) in cases {
            let found = ids(f, ty, &[(key, value)]).await;
            assert_eq!(found, *expected, "{ty}?{key}={value}");
        }
    }

    async fn error(f: &Fixture, ty: &str, criteria: &[(&str, &str)]) -> Error {
        let result = run(f, ty, &query(criteria)).await;
        result.expect_err("search must fail")
    }

    #[tokio::test]
    async fn string_searches() {
        let f = loaded().await;
        let cases: &[(&str, &str, &[&str])] = &[
            ("family", "muller", &["p1", "p2"]),
            ("name", "MÜL", &["p1", "p2"]),
            ("family:exact", "Müller", &["p1"]),
            ("family:exact", "müller", &[]),
            ("family:contains", "LLÉ", &["p1", "p2"]),
            ("family", "smith", &["p3", "p4"]),
            ("family:exact", "Smith", &["p3"]),
            ("given", "bo", &["p2"]),
        ];
        expect(&f, "Patient", cases).await;
    }

    #[tokio::test]
    async fn token_searches() {
        let f = loaded().await;
        let observations: &[(&str, &str, &[&str])] = &[
            ("code", "http://loinc.org|29463-7", &["o1", "o4"]),
            ("code", "29463-7", &["o1", "o4"]),
            ("code", "|local-1", &["o3"]),
            ("code", "|29463-7", &[]),
            ("code", "http://loinc.org|", &["o1", "o2", "o4"]),
            ("code:not", "http://loinc.org|29463-7", &["o2", "o3"]),
            ("code:text", "heart", &["o2"]),
            ("code:text", "custom", &["o3"]),
            ("status", "final,preliminary", &["o1", "o2", "o3", "o4"]),
        ];
        expect(&f, "Observation", observations).await;
        let patients: &[(&str, &str, &[&str])] = &[
            ("gender", "male", &["p2", "p4"]),
            ("gender:not", "male", &["p1", "p3", "p5"]),
            ("language:text", "fren", &["p3"]),
            ("language", "urn:ietf:bcp:47|fr", &["p3"]),
        ];
        expect(&f, "Patient", patients).await;
    }

    #[tokio::test]
    async fn identifier_searches() {
        let f = loaded().await;
        let mr = "http://terminology.hl7.org/CodeSystem/v2-0203|MR|MRN-1";
        let cases: &[(&str, &str, &[&str])] = &[
            ("identifier", "http://hospital/mrn|MRN-1", &["p1"]),
            ("identifier", "MRN-1", &["p1"]),
            ("identifier", "http://other|MRN-1", &[]),
            ("identifier", r"http://other|X\|1", &["p2"]),
            ("identifier:of-type", mr, &["p1"]),
        ];
        expect(&f, "Patient", cases).await;
    }

    #[tokio::test]
    async fn reference_searches() {
        let f = loaded().await;
        let cases: &[(&str, &str, &[&str])] = &[
            ("subject", "Patient/p1", &["o1", "o3"]),
            ("subject", "p1", &["o1", "o3", "o4"]),
            ("subject:Patient", "p1", &["o1", "o3"]),
            ("subject:Group", "p1", &["o4"]),
            (
                "subject",
                "http://example.org/fhir/Patient/p1",
                &["o1", "o3"],
            ),
            ("patient", "p2", &["o2"]),
        ];
        expect(&f, "Observation", cases).await;
        let gp = [("general-practitioner", "Practitioner/doc1", &["p1"][..])];
        expect(&f, "Patient", &gp).await;
    }

    #[tokio::test]
    async fn date_searches() {
        let f = loaded().await;
        let patients: &[(&str, &str, &[&str])] = &[
            ("birthdate", "2000", &["p3", "p4"]),
            ("birthdate", "eq2000-06", &["p4"]),
            ("birthdate", "1990-05", &[]),
            ("birthdate", "ge2000", &["p3", "p4", "p5"]),
            ("birthdate", "lt1990-06", &["p1", "p2"]),
            ("birthdate", "sa1990-06", &["p3", "p4", "p5"]),
            ("birthdate", "eb1990-06", &["p1"]),
            ("birthdate", "ne2000", &["p1", "p2", "p5"]),
        ];
        expect(&f, "Patient", patients).await;
        let observations: &[(&str, &str, &[&str])] = &[
            ("date", "2021-03-04", &["o1", "o3"]),
            ("date", "2021-03-04T10:00:00Z", &["o1", "o3"]),
            ("date", "2020-06", &[]),
            ("date", "lt2020-06", &["o4"]),
            ("date", "2020", &["o4"]),
        ];
        expect(&f, "Observation", observations).await;
    }

    #[tokio::test]
    async fn number_and_quantity_searches() {
        let f = fixture();
        for (id, factor) in [("c1", 0.4), ("c2", 1.25), ("c3", 2.0)] {
            let item = json!({"resourceType": "ChargeItem", "id": id, "factorOverride": factor});
            put(&f.store, item).await;
        }
        put(&f.store, json!({"resourceType": "ChargeItem", "id": "c4"})).await;
        let numbers: &[(&str, &str, &[&str])] = &[
            ("factor-override", "1.25", &["c2"]),
            ("factor-override", "1", &["c2"]),
            ("factor-override", "gt1.25", &["c3"]),
            ("factor-override", "le1.25", &["c1", "c2"]),
            ("factor-override", "lt1", &["c1"]),
            ("factor-override:missing", "true", &["c4"]),
        ];
        expect(&f, "ChargeItem", numbers).await;

        let f = loaded().await;
        let quantities: &[(&str, &str, &[&str])] = &[
            ("value-quantity", "70", &["o1"]),
            ("value-quantity", "gt60", &["o1", "o2", "o3"]),
            (
                "value-quantity",
                "gt60|http://unitsofmeasure.org|kg",
                &["o1"],
            ),
            ("value-quantity", "ge80||/min", &["o2"]),
            ("value-quantity", "lt200||lbs", &["o3"]),
            ("value-quantity", "le75||lbs", &[]),
        ];
        expect(&f, "Observation", quantities).await;
    }

    #[tokio::test]
    async fn uri_missing_and_id_searches() {
        let f = loaded().await;
        let cases: &[(&str, &str, &[&str])] = &[
            ("_profile:below", "http://example.org/fhir/", &["p1"]),
            ("_profile", "http://example.org/fhir/", &[]),
            ("gender:missing", "true", &["p3"]),
            ("gender:missing", "false", &["p1", "p2", "p4", "p5"]),
            ("_id", "p3,p5", &["p3", "p5"]),
            ("_id", "nope", &[]),
        ];
        expect(&f, "Patient", cases).await;
    }

    #[tokio::test]
    async fn and_across_criteria_or_within() {
        let f = loaded().await;
        let both = [("gender", "male"), ("birthdate", "ge2000")];
        assert_eq!(ids(&f, "Patient", &both).await, ["p4"]);
        let either = [("family", "jones,smithson")];
        assert_eq!(ids(&f, "Patient", &either).await, ["p4", "p5"]);
        let repeated = [("birthdate", "ge1985"), ("birthdate", "lt2000-03")];
        assert_eq!(ids(&f, "Patient", &repeated).await, ["p2", "p3"]);
        assert_eq!(ids(&f, "Patient", &[]).await.len(), 5);
    }

    #[tokio::test]
    async fn last_updated_searches() {
        let f = fixture();
        let mut all = patients().into_iter();
        for resource in all.by_ref().take(2) {
            put(&f.store, resource).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let mid = Instant::now()
            .to_datetime()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        for resource in all {
            put(&f.store, resource).await;
        }
        let ge = format!("ge{mid}");
        let lt = format!("lt{mid}");
        assert_eq!(
            ids(&f, "Patient", &[("_lastUpdated", ge.as_str())]).await,
            ["p3", "p4", "p5"]
        );
        assert_eq!(
            ids(&f, "Patient", &[("_lastUpdated", lt.as_str())]).await,
            ["p1", "p2"]
        );
    }

    #[tokio::test]
    async fn pages_through_matches_with_a_stable_cursor() {
        let f = loaded().await;
        let mut q = query(&[("birthdate", "ge1900")]);
        q.count = 2;
        let first = run(&f, "Patient", &q).await.expect("page 1");
        assert_eq!(first.total, Some(5));
        q.cursor = first.next_cursor.clone();
        let second = run(&f, "Patient", &q).await.expect("page 2");
        let again = run(&f, "Patient", &q).await.expect("page 2 again");
        assert_eq!(second, again);
        assert_eq!(second.total, None);
        q.cursor = second.next_cursor.clone();
        let third = run(&f, "Patient", &q).await.expect("page 3");
        assert_eq!(third.next_cursor, None);
        let pages: Vec<Vec<String>> = [&first, &second, &third]
            .iter()
            .map(|p| p.matches.iter().map(|m| m.id.to_string()).collect())
            .collect();
        assert_eq!(pages, [vec!["p1", "p2"], vec!["p3", "p4"], vec!["p5"]]);
    }

    #[tokio::test]
    async fn next_page_only_when_another_match_exists() {
        let f = loaded().await;
        let mut q = query(&[("gender", "male")]);
        q.count = 2;
        q.total = TotalMode::None;
        let page = run(&f, "Patient", &q).await.expect("search");
        assert_eq!(page.matches.len(), 2);
        assert_eq!(page.next_cursor, None);
        assert_eq!(page.total, None);
        q.count = 1;
        let page = run(&f, "Patient", &q).await.expect("search");
        assert!(page.next_cursor.is_some());
    }

    #[tokio::test]
    async fn count_zero_gives_only_the_total() {
        let f = loaded().await;
        let mut q = query(&[("gender", "male")]);
        q.count = 0;
        let page = run(&f, "Patient", &q).await.expect("search");
        assert!(page.matches.is_empty());
        assert_eq!(page.total, Some(2));
        assert_eq!(page.next_cursor, None);
        q.total = TotalMode::Estimate;
        assert_eq!(run(&f, "Patient", &q).await.expect("search").total, Some(2));
    }

    #[tokio::test]
    async fn scans_across_batches() {
        let f = fixture();
        let writes = (0..SCAN_BATCH + 20)
            .map(|i| {
                Write::upsert(
                    ResourceType::parse("Patient").expect("type"),
                    ResourceId::parse(&format!("b{i}")).expect("id"),
                    json!({
                        "resourceType": "Patient",
                        "gender": if i % 100 == 0 { "male" } else { "female" },
                    }),
                    Precondition::None,
                )
            })
            .collect();
        f.store.write_batch(writes).await.expect("batch");
        let mut q = query(&[("gender", "male")]);
        q.count = 3;
        let first = run(&f, "Patient", &q).await.expect("page 1");
        assert_eq!(first.total, Some(6));
        q.cursor = first.next_cursor;
        let second = run(&f, "Patient", &q).await.expect("page 2");
        let ids: Vec<String> = second.matches.iter().map(|m| m.id.to_string()).collect();
        assert_eq!(ids, ["b300", "b400", "b500"]);
        assert_eq!(second.next_cursor, None);
    }

    #[tokio::test]
    async fn cursor_after_matches_scan_cursor() {
        let f = loaded().await;
        let scan = ScanQuery {
            resource_type: ResourceType::parse("Patient").expect("type"),
            since: None,
            count: 1,
            cursor: None,
        };
        let page = f.store.scan(&scan).await.expect("scan");
        let entry = page.entries.first().expect("one entry");
        assert_eq!(page.next_cursor, Some(scan_cursor_after(entry)));
    }

    #[tokio::test]
    async fn invalid_searches_fail_before_scanning() {
        let f = loaded().await;
        let unknown = error(&f, "Patient", &[("shoe-size", "42")]).await;
        assert_eq!(unknown.kind(), IssueKind::Invalid);
        assert_eq!(
            unknown.message(),
            "unknown search parameter 'shoe-size' for Patient"
        );
        let date = error(&f, "Patient", &[("birthdate", "ge2020-02-30")]).await;
        assert_eq!(date.kind(), IssueKind::Invalid);
        assert!(date.message().contains("birthdate") && date.message().contains("ge2020-02-30"));
        let chain = error(&f, "Observation", &[("subject.name", "x")]).await;
        assert_eq!(chain.kind(), IssueKind::Invalid);
        assert!(chain.message().contains("chained"), "{}", chain.message());
        let mut bad_cursor = query(&[]);
        bad_cursor.cursor = Some("garbage".into());
        let err = run(&f, "Patient", &bad_cursor).await.expect_err("cursor");
        assert_eq!(err.kind(), IssueKind::Invalid);
    }

    #[tokio::test]
    async fn system_search_spans_types_and_pages_across_them() {
        let f = loaded().await;
        let ty = |t: &str| ResourceType::parse(t).expect("type");
        let all = f
            .search
            .search(&SearchScope::System(Vec::new()), &query(&[]))
            .await
            .expect("system");
        assert_eq!(all.total, Some(9));
        let two = SearchScope::System(vec![ty("Patient"), ty("Observation")]);
        let by_id = f
            .search
            .search(&two, &query(&[("_id", "p1,o2")]))
            .await
            .expect("by id");
        let found: Vec<String> = by_id
            .matches
            .iter()
            .map(|m| format!("{}/{}", m.resource_type, m.id))
            .collect();
        assert_eq!(found, ["Patient/p1", "Observation/o2"]);
        let mut q = query(&[]);
        q.count = 4;
        let mut seen = Vec::new();
        loop {
            let page = f.search.search(&two, &q).await.expect("page");
            seen.extend(page.matches.iter().map(|m| m.id.to_string()));
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 9, "{seen:?}");
        let unknown = f.search.search(&two, &query(&[("gender", "male")])).await;
        assert_eq!(
            unknown
                .expect_err("gender is not an Observation parameter")
                .kind(),
            IssueKind::Invalid
        );
    }

    #[tokio::test]
    async fn compartment_search_follows_the_compartment_definition() {
        let f = loaded().await;
        let in_compartment = |target: Option<&str>| SearchScope::Compartment {
            compartment: ResourceType::parse("Patient").expect("type"),
            id: ResourceId::parse("p1").expect("id"),
            target: target.map(|t| ResourceType::parse(t).expect("type")),
        };
        let ids = |page: SearchPage| {
            page.matches
                .iter()
                .map(|m| m.id.to_string())
                .collect::<Vec<_>>()
        };
        let observations = f
            .search
            .search(&in_compartment(Some("Observation")), &query(&[]))
            .await
            .expect("search");
        assert_eq!(
            ids(observations),
            ["o1", "o3"],
            "Group/p1 is not the patient"
        );
        let weights = f
            .search
            .search(
                &in_compartment(Some("Observation")),
                &query(&[("code", "29463-7")]),
            )
            .await
            .expect("search");
        assert_eq!(ids(weights), ["o1"]);
        let itself = f
            .search
            .search(&in_compartment(Some("Patient")), &query(&[]))
            .await
            .expect("search");
        assert_eq!(ids(itself), ["p1"]);
        let everything = f
            .search
            .search(&in_compartment(None), &query(&[]))
            .await
            .expect("search");
        assert_eq!(everything.total, Some(3));
        let outside = f
            .search
            .search(&in_compartment(Some("Organization")), &query(&[]))
            .await;
        assert_eq!(
            outside.expect_err("not in the compartment").kind(),
            IssueKind::Invalid
        );
        let encounter = SearchScope::Compartment {
            compartment: ResourceType::parse("Encounter").expect("type"),
            id: ResourceId::parse("e1").expect("id"),
            target: None,
        };
        let unknown = f.search.search(&encounter, &query(&[])).await;
        assert_eq!(
            unknown.expect_err("no definition").kind(),
            IssueKind::NotFound
        );
    }

    #[test]
    fn supported_params_cover_the_searchable_kinds() {
        let f = fixture();
        let params = f
            .search
            .supported_params(ResourceType::parse("Observation").expect("type"));
        let find = |code: &str| params.iter().find(|p| p.code == code);
        let code = find("code").expect("code");
        assert_eq!(code.kind, "token");
        assert_eq!(
            code.definition,
            "http://hl7.org/fhir/SearchParameter/clinical-code"
        );
        assert!(find("_id").is_some() && find("_lastUpdated").is_some());
        assert!(find("value-quantity").is_some_and(|p| p.kind == "quantity"));
        assert!(find("code-value-quantity").is_none());
        assert!(find("_text").is_none() && find("_content").is_none());
    }
}
