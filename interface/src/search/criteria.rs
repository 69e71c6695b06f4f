//! Criteria: turning `name[:modifier]=values` into conditions, with 400s for bad input,
//! the condition types search engines translate into their own queries, and the scope
//! resolution (which types a search covers, with compartment membership).
//!
//! Shared by every [`SearchEngine`](super::SearchEngine) so that all backends accept and
//! reject the same criteria with the same messages.
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
//!   also `number|system|code` and `number||code`;
//! - composite: `part$part…`, each part with its component's type semantics, matched
//!   by one item of the base expression;
//! - `_text` and `_content`: word-prefix searches over the narrative and over all string
//!   content ([`crate::fulltext`]);
//! - `near` (the one special parameter): positions within a distance ([`crate::geo`]).
//!
//! Scopes ([`plan`]): one type, several or all types, and the Patient compartment (the
//! target type's compartment parameters, ORed, must reference the patient; the Patient
//! itself belongs to its own compartment).
//!
//! Chains, `_has` and `_include` are resolved by the router before an engine is asked.

use crate::compartment;
use crate::fulltext::{CONTENT, TEXT, query_words};
use crate::geo::NearQuery;
use crate::id::{all_resource_types, truncate_for_message};
use crate::index::{normalize_string, parse_date_range, parse_decimal_range};
use crate::search::{Criterion, SearchScope, SupportedParam};
use crate::search_params::{SearchParamDef, SearchParamRegistry, SearchParamType};
use crate::{Error, ResourceType, Result};

/// Parameters that exist in FHIR but are not criteria an engine evaluates: the router
/// resolves `_has`, `_include`, `_revinclude` and `_list`, the others are not supported.
pub const UNSUPPORTED_PARAMS: [&str; 8] = [
    "_has",
    "_include",
    "_revinclude",
    "_list",
    "_query",
    "_filter",
    "_type",
    "_containedType",
];

/// The parameters searchable on `resource_type`, for the CapabilityStatement.
pub fn supported_params(resource_type: ResourceType) -> Vec<SupportedParam> {
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

// ---------------------------------------------------------------------------
// Scopes: which types a search covers, with the filters their resources must pass.

/// One resource type to search, with the filters its resources must pass.
#[derive(Debug)]
pub struct TypePlan {
    /// The type searched.
    pub resource_type: ResourceType,
    /// All must match.
    pub filters: Vec<Filter>,
    /// When not empty, one must match too (compartment membership).
    pub any_of: Vec<Filter>,
}

/// The types a scope searches, in order, with their filters: all types in the registry
/// order for an empty system scope, and for a compartment the types that can be in it.
///
/// # Errors
/// `Invalid` for a bad criterion or a type outside the compartment, `NotFound` for a
/// compartment without definition.
pub fn plan(scope: &SearchScope, criteria: &[Criterion]) -> Result<Vec<TypePlan>> {
    let plain = |resource_type: ResourceType| -> Result<TypePlan> {
        Ok(TypePlan {
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
                plans.push(TypePlan {
                    resource_type: target,
                    filters: compile(target, criteria)?,
                    any_of,
                });
            }
            Ok(plans)
        }
    }
}

// ---------------------------------------------------------------------------
// Criteria: turning `name[:modifier]=values` into conditions, with 400s for bad input.

/// A criterion resolved to its parameter definition and parsed values.
#[derive(Debug)]
pub struct Filter {
    /// The parameter's definition.
    pub def: &'static SearchParamDef,
    /// What its values must satisfy.
    pub condition: Condition,
}

/// Whether a parameter is one the engines can search.
pub fn is_searchable(def: &SearchParamDef) -> bool {
    let has_values = def.expression.is_some() || fulltext_column(&def.code).is_some();
    (def.kind != SearchParamType::Special || def.code == NEAR)
        && has_values
        && !UNSUPPORTED_PARAMS.contains(&def.code.as_str())
}

/// The one special parameter of R4 with values: Location's `near` ([`crate::geo`]).
pub const NEAR: &str = "near";

/// Resolves and parses every criterion; the first bad one fails the search.
pub fn compile(resource_type: ResourceType, criteria: &[Criterion]) -> Result<Vec<Filter>> {
    criteria
        .iter()
        .map(|c| compile_one(resource_type, c))
        .collect()
}

/// Resolves one criterion to its parameter on `resource_type` and parses its values.
///
/// # Errors
/// `Invalid` naming the parameter: unknown, chained, not supported, bad modifier or value.
pub fn compile_one(resource_type: ResourceType, criterion: &Criterion) -> Result<Filter> {
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

/// An `Invalid` error about parameter `name`, with `name` as its expression.
pub fn invalid_at(name: &str, message: String) -> Error {
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
    if let Some(column) = fulltext_column(name) {
        return parse_fulltext(name, column, modifier, values);
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
        (SearchParamType::Composite, None) => parse_composite(def, value),
        (SearchParamType::Special, None) if name == NEAR => NearQuery::parse(value)
            .map(ValueQuery::Near)
            .map_err(|reason| {
                bad_value(
                    name,
                    value,
                    &format!("latitude|longitude|distance|units ({reason})"),
                )
            }),
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
pub fn split_pipes(value: &str) -> Vec<String> {
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
pub fn trailing_type_id(reference: &str) -> Option<(String, String)> {
    let path = reference.split("/_history/").next().unwrap_or(reference);
    let mut segments = path.rsplit('/');
    let id = segments.next().filter(|id| !id.is_empty())?;
    let ty = ResourceType::parse(segments.next()?)?;
    Some((ty.as_str().to_owned(), id.to_owned()))
}

/// A date search value: `[prefix]date`; `ap` widens the range now.
pub fn parse_date(name: &str, value: &str, now: i64) -> Result<ValueQuery> {
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
pub fn approximate_dates(start: i64, end: i64, now: i64) -> (i64, i64) {
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
// The parsed conditions, which each engine turns into its own query.

/// What one criterion requires of a parameter's index values.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `:missing`: `true` when the resource must have no value, `false` when some.
    Missing(bool),
    /// Some value matches some query (the default: values are ORed).
    AnyOf(Vec<ValueQuery>),
    /// No value matches any query (`:not`; a resource without values matches).
    NoneOf(Vec<ValueQuery>),
    /// `_text`/`_content`: the text in `column` of the full-text table has every word of
    /// one of the alternatives, each as the start of a word.
    FullText {
        /// Which text: `narrative` or `content` ([`fulltext_column`]).
        column: &'static str,
        /// The ORed alternatives, each a list of words that must all match.
        alternatives: Vec<Vec<String>>,
    },
}

/// One parsed search value.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueQuery {
    /// A string; `text` is normalized except for [`StringMode::Exact`].
    String {
        /// How the text is compared.
        mode: StringMode,
        /// The searched text.
        text: String,
    },
    /// A token by system and code.
    Token(TokenQuery),
    /// `:text`: the normalized start of a token's display text.
    TokenText(String),
    /// `:of-type`: an Identifier with a type coding and value.
    OfType {
        /// The type coding's system.
        system: String,
        /// The type coding's code.
        code: String,
        /// The identifier value.
        value: String,
    },
    /// A reference.
    Reference(ReferenceQuery),
    /// A uri.
    Uri {
        /// How the uri is compared.
        mode: UriMode,
        /// The searched uri.
        uri: String,
    },
    /// A date range (already widened for `ap`), inclusive milliseconds.
    Date {
        /// The comparison.
        prefix: Prefix,
        /// First millisecond of the searched range.
        start: i64,
        /// Last millisecond of the searched range.
        end: i64,
    },
    /// A number.
    Number {
        /// The comparison.
        prefix: Prefix,
        /// The searched number.
        number: Decimal,
    },
    /// A quantity with optional unit constraints.
    Quantity {
        /// The comparison.
        prefix: Prefix,
        /// The searched number.
        number: Decimal,
        /// The unit constraints.
        unit: UnitQuery,
    },
    /// A composite value: one query per component, all matched by one item.
    Composite(Vec<ValueQuery>),
    /// `near`: a position within a distance of a centre.
    Near(NearQuery),
}

/// How a string parameter is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringMode {
    /// The normalized value starts with the normalized query (no modifier).
    StartsWith,
    /// The normalized value contains the normalized query (`:contains`).
    Contains,
    /// The value equals the query exactly (`:exact`).
    Exact,
}

/// How a uri parameter is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriMode {
    /// Equal uris (no modifier).
    Exact,
    /// The stored uri starts with the searched one.
    Below,
    /// The searched uri starts with the stored one.
    Above,
}

/// A token by system and code; `code` `None` matches any code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenQuery {
    /// What the system must be.
    pub system: SystemMatch,
    /// The code, when constrained.
    pub code: Option<String>,
}

/// What the system of a token must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemMatch {
    /// `code`: any system or none.
    Any,
    /// `|code`: no system.
    Absent,
    /// `system|code` or `system|`.
    Is(String),
}

/// One reference search value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceQuery {
    /// `:[Type]=id`: exactly this type and id.
    Typed {
        /// The target type.
        resource_type: String,
        /// The target id.
        id: String,
    },
    /// A plain id: any type.
    Id(String),
    /// A literal reference: equal text, or equal trailing `Type/id`.
    Literal {
        /// The reference as searched.
        reference: String,
        /// Its trailing `Type/id`, when it has one.
        typed: Option<(String, String)>,
    },
    /// `:identifier`: the logical reference's identifier.
    Identifier(TokenQuery),
}

/// A number with the range implied by its precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decimal {
    /// The value.
    pub value: f64,
    /// Lower bound implied by the precision.
    pub low: f64,
    /// Upper bound implied by the precision (exclusive).
    pub high: f64,
}

/// Unit constraints of a quantity search; `None` parts are unconstrained. Without a
/// system, the code also matches the human-readable unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitQuery {
    /// The unit system.
    pub system: Option<String>,
    /// The unit code (or, without a system, the human-readable unit).
    pub code: Option<String>,
}

/// The comparison prefix of a date, number or quantity value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// `eq` (the default).
    Eq,
    /// `ne`.
    Ne,
    /// `gt`.
    Gt,
    /// `lt`.
    Lt,
    /// `ge`.
    Ge,
    /// `le`.
    Le,
    /// `sa`: starts after.
    Sa,
    /// `eb`: ends before.
    Eb,
    /// `ap`: approximately.
    Ap,
}

impl Prefix {
    /// Splits a leading prefix off `value`; none means `eq`.
    pub fn split(value: &str) -> (Prefix, &str) {
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

/// Parses `part$part…` of composite parameter `def`: one part per component, each by the
/// component's type.
fn parse_composite(def: &SearchParamDef, value: &str) -> Result<ValueQuery> {
    let name = def.code.as_str();
    let parts = split_dollars(value);
    if parts.len() != def.components.len() {
        let expected = format!("{} values separated by '$'", def.components.len());
        return Err(bad_value(name, value, &expected));
    }
    let registry = SearchParamRegistry::r4();
    let mut queries = Vec::with_capacity(parts.len());
    for (component, part) in def.components.iter().zip(&parts) {
        let component_def = registry.by_url(&component.definition).ok_or_else(|| {
            Error::invalid(format!(
                "search parameter '{name}' has an unknown component {}",
                component.definition
            ))
        })?;
        if part.is_empty() {
            return Err(bad_value(name, value, "a value for every component"));
        }
        let query = parse_value(component_def, None, part)
            .map_err(|e| invalid_at(name, format!("in '{name}': {}", e.message())))?;
        queries.push(query);
    }
    Ok(ValueQuery::Composite(queries))
}

/// Splits on `$` not escaped by `\`; escapes are kept for the part parsers.
fn split_dollars(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push('\\');
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            '$' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
}

/// The text a full-text parameter searches (`narrative` for `_text`, `content` for
/// `_content`), if `code` is one.
pub fn fulltext_column(code: &str) -> Option<&'static str> {
    match code {
        TEXT => Some("narrative"),
        CONTENT => Some("content"),
        _ => None,
    }
}

/// Parses the values of `_text`/`_content`: each value's words must all match, values are
/// ORed. No modifier applies.
fn parse_fulltext(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IssueKind;

    /// Parses `key=value` for `ty` the way the router would.
    fn condition(ty: &str, key: &str, value: &str) -> Result<Condition> {
        let criterion = Criterion::parse(key, value);
        let resource_type = ResourceType::parse(ty).expect("type");
        compile_one(resource_type, &criterion).map(|f| f.condition)
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

    #[test]
    fn bad_dates_are_invalid() {
        for bad in ["2020-13", "ge", "xx2020", "2020-01-01T25:00", "yesterday"] {
            let err = condition("Patient", "birthdate", bad).expect_err(bad);
            assert_eq!(err.kind(), IssueKind::Invalid);
            assert!(err.message().contains("birthdate"), "{}", err.message());
        }
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
            ("Patient", "_text:exact", "x", "':exact'"),
            ("Patient", "_content", "%-%", "one or more words"),
            (
                "Observation",
                "code-value-quantity",
                "x",
                "2 values separated by '$'",
            ),
            (
                "Observation",
                "code-value-quantity:exact",
                "a$1",
                "':exact'",
            ),
            ("Location", "near", "1", "latitude|longitude|distance|units"),
            ("Location", "near", "95|2", "latitude 95"),
            ("Location", "near", "1|2|3|furlong", "'furlong'"),
            ("Location", "near:exact", "1|2", "':exact'"),
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
    fn near_values_are_a_centre_and_a_distance() {
        let Ok(Condition::AnyOf(queries)) = condition("Location", "near", "42.2|-83.7|5|km,1|2")
        else {
            panic!("near condition expected");
        };
        assert_eq!(
            queries,
            [
                ValueQuery::Near(NearQuery::parse("42.2|-83.7|5").expect("near")),
                ValueQuery::Near(NearQuery::parse("1|2").expect("near")),
            ]
        );
        assert_eq!(
            condition("Location", "near:missing", "true").expect("missing"),
            Condition::Missing(true)
        );
    }

    fn day_ms(s: &str) -> i64 {
        parse_date_range(s).expect("date").0
    }

    #[test]
    fn splits_parts_keeping_escapes() {
        assert_eq!(split_dollars("a|b$gt5"), ["a|b", "gt5"]);
        assert_eq!(split_dollars(r"a\$b$c"), [r"a\$b", "c"]);
        assert_eq!(split_dollars("x"), ["x"]);
    }

    #[test]
    fn parses_each_part_by_its_type() {
        let def = SearchParamRegistry::r4()
            .get("Observation", "code-value-quantity")
            .expect("def");
        let query = parse_composite(def, "http://loinc.org|8480-6$gt100||mm[Hg]").expect("ok");
        let ValueQuery::Composite(parts) = query else {
            panic!("not composite: {query:?}");
        };
        assert!(matches!(parts[0], ValueQuery::Token(_)));
        assert!(matches!(
            parts[1],
            ValueQuery::Quantity {
                prefix: Prefix::Gt,
                ..
            }
        ));
        for bad in ["8480-6", "8480-6$100$1", "8480-6$", "8480-6$big"] {
            let err = parse_composite(def, bad).expect_err(bad);
            assert!(err.message().contains("code-value-quantity"), "{bad}");
        }
    }
}
