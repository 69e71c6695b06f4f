//! Criteria: turning `name[:modifier]=values` into conditions, with 400s for bad input,
//! and the condition types the SQL predicates are built from.

use super::*;

// ---------------------------------------------------------------------------
// Criteria: turning `name[:modifier]=values` into conditions, with 400s for bad input.

/// A criterion resolved to its parameter definition and parsed values.
#[derive(Debug)]
pub(super) struct Filter {
    pub(super) def: &'static SearchParamDef,
    pub(super) condition: Condition,
}

/// Whether a parameter is one this engine can search.
pub(super) fn is_searchable(def: &SearchParamDef) -> bool {
    let has_values = def.expression.is_some() || fulltext_column(&def.code).is_some();
    def.kind != SearchParamType::Special
        && has_values
        && !UNSUPPORTED_PARAMS.contains(&def.code.as_str())
}

/// Resolves and parses every criterion; the first bad one fails the search.
pub(super) fn compile(resource_type: ResourceType, criteria: &[Criterion]) -> Result<Vec<Filter>> {
    criteria
        .iter()
        .map(|c| compile_one(resource_type, c))
        .collect()
}

pub(super) fn compile_one(resource_type: ResourceType, criterion: &Criterion) -> Result<Filter> {
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
pub(super) fn check_not_deferred(criterion: &Criterion) -> Result<()> {
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

pub(super) fn key(name: &str, modifier: Option<&str>) -> String {
    match modifier {
        Some(m) => format!("{name}:{m}"),
        None => name.to_owned(),
    }
}

pub(super) fn invalid_at(name: &str, message: String) -> Error {
    Error::invalid(message).at(name)
}

/// Parses the values of one criterion for its parameter and modifier.
pub(super) fn parse_condition(
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

pub(super) fn parse_each<F>(values: &[String], parse: F) -> Result<Vec<ValueQuery>>
where
    F: Fn(&str) -> Result<ValueQuery>,
{
    values.iter().map(|v| parse(v)).collect()
}

pub(super) fn parse_missing(name: &str, values: &[String]) -> Result<Condition> {
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
pub(super) fn parse_value(
    def: &SearchParamDef,
    modifier: Option<&str>,
    value: &str,
) -> Result<ValueQuery> {
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
        (kind, modifier) => Err(unsupported_modifier(name, kind, modifier)),
    }
}

pub(super) fn unsupported_modifier(
    name: &str,
    kind: SearchParamType,
    modifier: Option<&str>,
) -> Error {
    invalid_at(
        name,
        format!(
            "modifier ':{}' is not supported on {} parameter '{name}'",
            truncate_for_message(modifier.unwrap_or_default()),
            kind.as_str()
        ),
    )
}

pub(super) fn bad_value(name: &str, value: &str, expected: &str) -> Error {
    invalid_at(
        name,
        format!(
            "invalid value '{}' for search parameter '{name}': expected {expected}",
            truncate_for_message(value)
        ),
    )
}

pub(super) fn string_query(mode: StringMode, value: &str) -> ValueQuery {
    let text = match mode {
        StringMode::Exact => value.to_owned(),
        StringMode::StartsWith | StringMode::Contains => normalize_string(value),
    };
    ValueQuery::String { mode, text }
}

pub(super) fn uri_query(mode: UriMode, value: &str) -> ValueQuery {
    ValueQuery::Uri {
        mode,
        uri: value.to_owned(),
    }
}

/// Splits a search value on `|` not escaped by `\`, and unescapes `\|`, `\$`, `\,` and
/// `\\` in the parts.
pub(super) fn split_pipes(value: &str) -> Vec<String> {
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
pub(super) fn parse_token(name: &str, value: &str) -> Result<TokenQuery> {
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
pub(super) fn parse_of_type(name: &str, value: &str) -> Result<ValueQuery> {
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
pub(super) fn parse_reference(
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
pub(super) fn plain_reference(value: &str) -> ReferenceQuery {
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
pub(super) fn typed_reference(
    def: &SearchParamDef,
    ty: &str,
    value: &str,
) -> Result<ReferenceQuery> {
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
pub(super) fn trailing_type_id(reference: &str) -> Option<(String, String)> {
    let path = reference.split("/_history/").next().unwrap_or(reference);
    let mut segments = path.rsplit('/');
    let id = segments.next().filter(|id| !id.is_empty())?;
    let ty = ResourceType::parse(segments.next()?)?;
    Some((ty.as_str().to_owned(), id.to_owned()))
}

/// A date search value: `[prefix]date`; `ap` widens the range now.
pub(super) fn parse_date(name: &str, value: &str, now: i64) -> Result<ValueQuery> {
    let (prefix, text) = Prefix::split(value);
    let (mut start, mut end) = parse_date_range(text)
        .ok_or_else(|| bad_value(name, value, "[prefix]YYYY[-MM[-DD[Thh:mm[:ss][zone]]]]"))?;
    if prefix == Prefix::Ap {
        (start, end) = approximate_dates(start, end, now);
    }
    Ok(ValueQuery::Date { prefix, start, end })
}

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Widens a date range on both sides by 10% of the distance between `now` and it, the
/// spec's suggestion for `ap`.
pub(super) fn approximate_dates(start: i64, end: i64, now: i64) -> (i64, i64) {
    let distance = if now < start {
        start.saturating_sub(now)
    } else {
        now.saturating_sub(end).max(0)
    };
    let margin = distance / 10;
    (start.saturating_sub(margin), end.saturating_add(margin))
}

/// `[prefix]number`.
pub(super) fn parse_number(name: &str, value: &str) -> Result<ValueQuery> {
    let (prefix, text) = Prefix::split(value);
    let number = parse_decimal(text).ok_or_else(|| bad_value(name, value, "[prefix]number"))?;
    Ok(ValueQuery::Number { prefix, number })
}

/// The most exponent digits a search number may have: larger exponents are outside the
/// `f64` range anyway, and bounding them keeps `parse_decimal_range`'s exponent
/// arithmetic from overflowing (it panics on `1.5e-2147483648` in checked builds).
pub(super) const MAX_EXPONENT_DIGITS: usize = 4;

pub(super) fn parse_decimal(text: &str) -> Option<Decimal> {
    let exponent = text.split_once(['e', 'E']).map_or("", |(_, e)| e);
    if exponent.trim_start_matches(['+', '-']).len() > MAX_EXPONENT_DIGITS {
        return None;
    }
    let (value, low, high) = parse_decimal_range(text)?;
    Some(Decimal { value, low, high })
}

/// `[prefix]number`, `[prefix]number|system|code` or `[prefix]number||code`.
pub(super) fn parse_quantity(name: &str, value: &str) -> Result<ValueQuery> {
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
pub(super) enum Condition {
    /// `:missing`: `true` when the resource must have no value, `false` when some.
    Missing(bool),
    /// Some value matches some query (the default: values are ORed).
    AnyOf(Vec<ValueQuery>),
    /// No value matches any query (`:not`; a resource without values matches).
    NoneOf(Vec<ValueQuery>),
    /// `_text`/`_content`: the text in `column` of the full-text table has every word of
    /// one of the alternatives, each as the start of a word.
    FullText {
        column: &'static str,
        alternatives: Vec<Vec<String>>,
    },
}

/// One parsed search value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ValueQuery {
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
    /// A composite value: one query per component, all matched by one item.
    Composite(Vec<ValueQuery>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StringMode {
    StartsWith,
    Contains,
    Exact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UriMode {
    Exact,
    /// The stored uri starts with the searched one.
    Below,
    /// The searched uri starts with the stored one.
    Above,
}

/// A token by system and code; `code` `None` matches any code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TokenQuery {
    pub(super) system: SystemMatch,
    pub(super) code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SystemMatch {
    /// `code`: any system or none.
    Any,
    /// `|code`: no system.
    Absent,
    /// `system|code` or `system|`.
    Is(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ReferenceQuery {
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
pub(super) struct Decimal {
    pub(super) value: f64,
    pub(super) low: f64,
    pub(super) high: f64,
}

/// Unit constraints of a quantity search; `None` parts are unconstrained. Without a
/// system, the code also matches the human-readable unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct UnitQuery {
    pub(super) system: Option<String>,
    pub(super) code: Option<String>,
}

/// The comparison prefix of a date, number or quantity value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prefix {
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
    pub(super) fn split(value: &str) -> (Prefix, &str) {
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
