//! Search index extraction: turns a resource into plain [`IndexValue`]s per search
//! parameter, following the FHIR R4 search rules (hl7.org/fhir/R4/search.html).
//! Shared by every search engine, so the output is plain, serializable data.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::fhirpath::{Expression, Node, field, reference_type};
use crate::search_params::{SearchParamDef, SearchParamRegistry, SearchParamType};

/// One indexed value of a search parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IndexValue {
    /// A string, or one part of a HumanName or Address.
    String {
        /// Lowercased with accents removed ([`normalize_string`]), for default and
        /// `:contains` matching.
        normalized: String,
        /// The original text, for `:exact`.
        exact: String,
    },
    /// A code with its system and display text.
    Token {
        /// Code system, or Identifier system.
        system: Option<String>,
        /// Code, Identifier or ContactPoint value, `true`/`false`, or a plain string.
        code: Option<String>,
        /// Coding display, CodeableConcept text or Identifier type text, for `:text`.
        text: Option<String>,
        /// The Identifier type codings as (system, code), for `:of-type`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        of_type: Vec<(Option<String>, Option<String>)>,
    },
    /// A reference to another resource, by literal reference and/or identifier.
    Reference {
        /// The reference as written (`Patient/123`, an absolute URL, `#contained`, or a
        /// canonical URL).
        reference: Option<String>,
        /// The referenced resource type, when known.
        resource_type: Option<String>,
        /// The referenced resource id, for literal references.
        id: Option<String>,
        /// The logical reference (`Reference.identifier`) as (system, value).
        identifier: Option<(Option<String>, Option<String>)>,
    },
    /// An inclusive time range in milliseconds since the Unix epoch, UTC. Open ends are
    /// `i64::MIN` / `i64::MAX`.
    Date {
        /// First millisecond of the range.
        start: i64,
        /// Last millisecond of the range.
        end: i64,
    },
    /// A number with the range implied by its precision (`5.4` covers 5.35..5.45).
    Number {
        /// The value.
        value: f64,
        /// Lower bound implied by the precision.
        low: f64,
        /// Upper bound implied by the precision.
        high: f64,
    },
    /// A Quantity (also Age, Duration, Money, Range).
    Quantity {
        /// The value; `None` for a Range.
        value: Option<f64>,
        /// Lower bound: the precision bound, or a Range's low (`f64::MIN` if open).
        low: f64,
        /// Upper bound: the precision bound, or a Range's high (`f64::MAX` if open).
        high: f64,
        /// Unit system (ISO 4217 for Money).
        system: Option<String>,
        /// Coded unit (currency for Money).
        code: Option<String>,
        /// Human-readable unit.
        unit: Option<String>,
    },
    /// A uri, url or canonical.
    Uri(String),
    /// A geographic position (Location.position, for `near`).
    Position {
        /// Latitude in decimal degrees.
        latitude: f64,
        /// Longitude in decimal degrees.
        longitude: f64,
    },
    /// One combination of a composite parameter: the values of each component, in order.
    Composite(Vec<Vec<IndexValue>>),
    /// The words of a full-text parameter (`_text`: the narrative, `_content`: all string
    /// content; see [`fulltext`](crate::fulltext)), as
    /// [`index_words`](crate::fulltext::index_words) gives them, for word matching.
    Text(String),
}

impl IndexValue {
    /// The range a number or quantity is compared by: its value twice, or for a quantity
    /// without a value (a Range) its bounds; `None` for other values.
    pub fn compared_range(&self) -> Option<(f64, f64)> {
        match self {
            IndexValue::Number { value, .. } => Some((*value, *value)),
            IndexValue::Quantity {
                value, low, high, ..
            } => Some(value.map_or((*low, *high), |v| (v, v))),
            _ => None,
        }
    }
}

/// Extracts the index values of one search parameter from `resource`.
///
/// `_text` and `_content` have no expression: their value is the one
/// [`IndexValue::Text`] of the words the [`fulltext`](crate::fulltext) rules give, when
/// there are any.
pub fn extract(def: &SearchParamDef, resource: &Value) -> Vec<IndexValue> {
    let nodes = def.expression.as_ref().map(|e| e.evaluate(resource));
    extract_with(def, nodes, resource)
}

/// [`extract`] from the `nodes` the parameter's expression selects (`None` without one).
fn extract_with(
    def: &SearchParamDef,
    nodes: Option<Vec<Node<'_>>>,
    resource: &Value,
) -> Vec<IndexValue> {
    let Some(nodes) = nodes else {
        let text = match def.code.as_str() {
            crate::fulltext::TEXT => crate::fulltext::narrative(resource),
            crate::fulltext::CONTENT => crate::fulltext::content(resource),
            _ => None,
        };
        return text
            .and_then(|text| crate::fulltext::index_words(&text))
            .map(IndexValue::Text)
            .into_iter()
            .collect();
    };
    let mut out = Vec::new();
    for node in nodes {
        if def.kind == SearchParamType::Composite {
            composite(def, resource, node, &mut out);
        } else {
            convert(def.kind, &node, resource, &mut out);
        }
    }
    out
}

/// The index values of one resource: each R4 search parameter that has values, with them.
pub type IndexValues = Vec<(&'static SearchParamDef, Vec<IndexValue>)>;

/// Extracts the index values of every R4 search parameter of `resource_type` that has
/// values in `resource`: the write-time indexing entry point.
pub fn extract_all(resource_type: &str, resource: &Value) -> IndexValues {
    let Some(indexing) = indexing_of(resource_type) else {
        return SearchParamRegistry::r4()
            .for_type(resource_type)
            .filter_map(|def| {
                let values = extract(def, resource);
                (!values.is_empty()).then_some((def, values))
            })
            .collect();
    };
    indexing
        .parameters
        .iter()
        .filter_map(|(def, expression)| {
            let nodes = |e: &'static Expression| e.evaluate_typed(resource, resource_type);
            let values = extract_with(def, expression.as_ref().map(nodes), resource);
            (!values.is_empty()).then_some((*def, values))
        })
        .collect()
}

/// A reference parameter of a resource type whose values are those of another of its
/// parameters that point at one resource type: for an Observation, `patient`
/// (`Observation.subject.where(resolve() is Patient)`) is `subject` narrowed to `Patient`.
/// An engine may index the broader parameter alone and answer the narrowed one from its
/// values whose `resource_type` is `target_type` (the type `resolve()` gives, except for a
/// `#id` reference to a contained resource that is missing).
#[derive(Debug)]
pub struct NarrowedReference {
    /// The narrowed parameter (`patient`).
    pub param: &'static SearchParamDef,
    /// The parameter whose values it narrows (`subject`).
    pub of: &'static SearchParamDef,
    /// The referenced type it keeps (`Patient`).
    pub target_type: String,
}

/// The narrowed reference parameters of `resource_type` (see [`NarrowedReference`]),
/// found on first use of the type; empty for an unknown type.
pub fn narrowed_references(resource_type: &str) -> &'static [NarrowedReference] {
    indexing_of(resource_type).map_or(&[], |indexing| &indexing.narrowed)
}

/// How the R4 search parameters index one resource type, worked out on its first use.
struct TypeIndexing {
    /// Every parameter of the type, with its expression reduced to the type
    /// ([`Expression::for_resource_type`]).
    parameters: Vec<(&'static SearchParamDef, Option<Expression>)>,
    /// The reference parameters that narrow others.
    narrowed: Vec<NarrowedReference>,
}

impl TypeIndexing {
    fn new(resource_type: &str) -> TypeIndexing {
        let parameters: Vec<(&'static SearchParamDef, Option<Expression>)> =
            SearchParamRegistry::r4()
                .for_type(resource_type)
                .map(|def| {
                    let expression = def.expression.as_ref();
                    (def, expression.map(|e| e.for_resource_type(resource_type)))
                })
                .collect();
        let references = || {
            parameters.iter().filter_map(|(def, expression)| {
                let expression = expression.as_ref()?;
                (def.kind == SearchParamType::Reference).then_some((*def, expression))
            })
        };
        let narrowed = references()
            .filter_map(|(param, narrowed)| {
                references().find_map(|(of, broad)| {
                    Some(NarrowedReference {
                        param,
                        of,
                        target_type: narrowed.narrows_to_type(broad)?.to_owned(),
                    })
                })
            })
            .collect();
        TypeIndexing {
            parameters,
            narrowed,
        }
    }
}

/// The [`TypeIndexing`] of `resource_type`; `None` for an unknown type.
fn indexing_of(resource_type: &str) -> Option<&'static TypeIndexing> {
    static TYPES: LazyLock<HashMap<&'static str, OnceLock<TypeIndexing>>> = LazyLock::new(|| {
        crate::id::all_resource_types()
            .iter()
            .map(|ty| (*ty, OnceLock::new()))
            .collect()
    });
    let cell = TYPES.get(resource_type)?;
    Some(cell.get_or_init(|| TypeIndexing::new(resource_type)))
}

fn composite(def: &SearchParamDef, resource: &Value, node: Node<'_>, out: &mut Vec<IndexValue>) {
    let mut parts = Vec::with_capacity(def.components.len());
    for component in &def.components {
        let mut values = Vec::new();
        for item in component.expression.evaluate_with_focus(resource, node) {
            convert(component.kind, &item, resource, &mut values);
        }
        values.retain(is_matchable_in_composite);
        if values.is_empty() {
            return;
        }
        parts.push(values);
    }
    push(out, IndexValue::Composite(parts));
}

/// Whether a composite search can match `value` as a component: a token with neither
/// system nor code (a CodeableConcept's `text` alone) is matched only by `:text`, and
/// composite parameters take no modifiers, so combinations with it are not indexed.
fn is_matchable_in_composite(value: &IndexValue) -> bool {
    !matches!(
        value,
        IndexValue::Token {
            system: None,
            code: None,
            ..
        }
    )
}

fn convert(kind: SearchParamType, node: &Node<'_>, resource: &Value, out: &mut Vec<IndexValue>) {
    match kind {
        SearchParamType::String => strings(node.value, out),
        SearchParamType::Token => tokens(node, out),
        SearchParamType::Reference => references(node.value, resource, out),
        SearchParamType::Date => dates(node.value, out),
        SearchParamType::Number => numbers(node.value, out),
        SearchParamType::Quantity => quantities(node.value, out),
        SearchParamType::Uri => {
            if let Some(uri) = node.value.as_str() {
                push(out, IndexValue::Uri(uri.to_owned()));
            }
        }
        SearchParamType::Special => positions(node.value, out),
        SearchParamType::Composite => {}
    }
}

fn push(out: &mut Vec<IndexValue>, value: IndexValue) {
    if !out.contains(&value) {
        out.push(value);
    }
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    field(map, key).and_then(Value::as_str).map(str::to_owned)
}

// ---------------------------------------------------------------------------
// string

/// The parts of a HumanName and an Address that string searches match, plus `text`.
const STRING_PARTS: [&str; 11] = [
    "text",
    "family",
    "given",
    "prefix",
    "suffix",
    "line",
    "city",
    "district",
    "state",
    "postalCode",
    "country",
];

fn strings(value: &Value, out: &mut Vec<IndexValue>) {
    match value {
        Value::String(s) => push_string(s, out),
        Value::Object(map) => {
            for part in STRING_PARTS.iter().filter_map(|k| field(map, k)) {
                match part {
                    Value::String(s) => push_string(s, out),
                    Value::Array(items) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .for_each(|s| push_string(s, out)),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn push_string(s: &str, out: &mut Vec<IndexValue>) {
    push(
        out,
        IndexValue::String {
            normalized: normalize_string(s),
            exact: s.to_owned(),
        },
    );
}

/// Lowercases `s` and removes accents (Latin-1 and Latin Extended-A letters are folded
/// to ASCII, combining diacritical marks are dropped), for string matching.
pub fn normalize_string(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue;
        }
        match fold_accent(c) {
            Some(folded) => out.push_str(folded),
            None => out.push(c),
        }
    }
    out
}

fn fold_accent(c: char) -> Option<&'static str> {
    Some(match c {
        'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ð' | 'ď' | 'đ' => "d",
        'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' | 'ĸ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => "n",
        'ò'..='ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'þ' => "th",
        'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// token

/// `ContactPoint.system` codes: a ContactPoint's system is not a token namespace.
const CONTACT_SYSTEMS: [&str; 7] = ["phone", "fax", "email", "pager", "url", "sms", "other"];

fn tokens(node: &Node<'_>, out: &mut Vec<IndexValue>) {
    match node.value {
        Value::Bool(b) => push_token(out, None, Some(b.to_string()), None),
        Value::String(s) => push_token(out, None, Some(s.clone()), None),
        Value::Number(n) => push_token(out, None, Some(n.to_string()), None),
        Value::Object(map)
            if map.contains_key("coding") || node.fhir_type == Some("CodeableConcept") =>
        {
            codeable_concept(map, out);
        }
        Value::Object(map) if map.contains_key("value") => identifier(map, node.fhir_type, out),
        Value::Object(map) if map.contains_key("code") || map.contains_key("system") => {
            coding(map, out)
        }
        Value::Object(map) => {
            if let Some(t) = text(map, "text") {
                push_token(out, None, None, Some(t));
            }
        }
        _ => {}
    }
}

fn push_token(
    out: &mut Vec<IndexValue>,
    system: Option<String>,
    code: Option<String>,
    text: Option<String>,
) {
    let token = IndexValue::Token {
        system,
        code,
        text,
        of_type: Vec::new(),
    };
    push(out, token);
}

fn codeable_concept(map: &Map<String, Value>, out: &mut Vec<IndexValue>) {
    let codings = map
        .get("coding")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for c in codings.filter_map(Value::as_object) {
        coding(c, out);
    }
    // A text that is a coding's display is already indexed with that coding (`:text`
    // matches either), so it needs no value of its own.
    if let Some(t) = text(map, "text")
        && !out
            .iter()
            .any(|v| matches!(v, IndexValue::Token { text: Some(d), .. } if *d == t))
    {
        push_token(out, None, None, Some(t));
    }
}

fn coding(map: &Map<String, Value>, out: &mut Vec<IndexValue>) {
    push_token(
        out,
        text(map, "system"),
        text(map, "code"),
        text(map, "display"),
    );
}

/// An Identifier (system|value, type for `:of-type`) or a ContactPoint (value only).
fn identifier(map: &Map<String, Value>, fhir_type: Option<&str>, out: &mut Vec<IndexValue>) {
    let value = match field(map, "value") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return,
    };
    let system = text(map, "system");
    let contact = fhir_type == Some("ContactPoint")
        || system
            .as_deref()
            .is_some_and(|s| CONTACT_SYSTEMS.contains(&s));
    if contact {
        push_token(out, None, Some(value), None);
        return;
    }
    let kind = field(map, "type").and_then(Value::as_object);
    let of_type = kind
        .and_then(|t| t.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|c| (text(c, "system"), text(c, "code")))
        .collect();
    push(
        out,
        IndexValue::Token {
            system,
            code: Some(value),
            text: kind.and_then(|t| text(t, "text")),
            of_type,
        },
    );
}

// ---------------------------------------------------------------------------
// reference

fn references(value: &Value, resource: &Value, out: &mut Vec<IndexValue>) {
    match value {
        Value::String(canonical) => push(
            out,
            IndexValue::Reference {
                reference: Some(canonical.clone()),
                resource_type: None,
                id: None,
                identifier: None,
            },
        ),
        Value::Object(map) if map.contains_key("resourceType") => embedded_resource(map, out),
        Value::Object(map) => reference(map, resource, out),
        _ => {}
    }
}

/// A resource inside the resource (e.g. `Bundle.entry[0].resource`), indexed as a
/// reference to `Type/id`.
fn embedded_resource(map: &Map<String, Value>, out: &mut Vec<IndexValue>) {
    let (Some(rt), Some(id)) = (text(map, "resourceType"), text(map, "id")) else {
        return;
    };
    push(
        out,
        IndexValue::Reference {
            reference: Some(format!("{rt}/{id}")),
            resource_type: Some(rt),
            id: Some(id),
            identifier: None,
        },
    );
}

fn reference(map: &Map<String, Value>, resource: &Value, out: &mut Vec<IndexValue>) {
    let literal = field(map, "reference").and_then(Value::as_str);
    let identifier = map
        .get("identifier")
        .and_then(Value::as_object)
        .map(|i| (text(i, "system"), text(i, "value")));
    if literal.is_none() && identifier.is_none() {
        return;
    }
    let (mut resource_type, id) = literal.map(split_reference).unwrap_or_default();
    if let Some(contained) = literal.and_then(|r| r.strip_prefix('#')) {
        resource_type = contained_type(resource, contained);
    }
    push(
        out,
        IndexValue::Reference {
            reference: literal.map(str::to_owned),
            resource_type: resource_type.or_else(|| text(map, "type")),
            id,
            identifier,
        },
    );
}

/// Splits a literal reference (`Patient/1`, `http://x/Patient/1/_history/2`) into
/// resource type and id.
fn split_reference(reference: &str) -> (Option<String>, Option<String>) {
    let Some(rt) = reference_type(reference) else {
        return (None, None);
    };
    let path = reference.split("/_history/").next().unwrap_or(reference);
    let id = path.rsplit('/').next().map(str::to_owned);
    (Some(rt.to_owned()), id)
}

fn contained_type(resource: &Value, id: &str) -> Option<String> {
    resource
        .get("contained")?
        .as_array()?
        .iter()
        .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
        .and_then(|r| r.get("resourceType"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------
// date

fn dates(value: &Value, out: &mut Vec<IndexValue>) {
    let range = match value {
        Value::String(s) => parse_date_range(s),
        Value::Object(map) if map.contains_key("start") || map.contains_key("end") => period(map),
        Value::Object(map) => timing(map),
        _ => None,
    };
    if let Some((start, end)) = range {
        push(out, IndexValue::Date { start, end });
    }
}

fn date_of(map: &Map<String, Value>, key: &str) -> Option<(i64, i64)> {
    field(map, key)
        .and_then(Value::as_str)
        .and_then(parse_date_range)
}

/// A Period; a missing end is open (`i64::MAX`), as is a missing start (`i64::MIN`).
fn period(map: &Map<String, Value>) -> Option<(i64, i64)> {
    let start = date_of(map, "start");
    let end = date_of(map, "end");
    if start.is_none() && end.is_none() {
        return None;
    }
    Some((
        start.map_or(i64::MIN, |s| s.0),
        end.map_or(i64::MAX, |e| e.1),
    ))
}

/// A Timing: the outer limits of its events and `repeat.boundsPeriod`.
fn timing(map: &Map<String, Value>) -> Option<(i64, i64)> {
    let events = map
        .get("event")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let bounds = map
        .get("repeat")
        .and_then(|r| r.get("boundsPeriod"))
        .and_then(Value::as_object)
        .and_then(period);
    events
        .filter_map(Value::as_str)
        .filter_map(parse_date_range)
        .chain(bounds)
        .reduce(|(s1, e1), (s2, e2)| (s1.min(s2), e1.max(e2)))
}

const MS_PER_DAY: i64 = 86_400_000;

/// Parses a FHIR date, dateTime or instant (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`,
/// `YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]`) into the inclusive range of milliseconds
/// since the Unix epoch (UTC) it covers: `2020` is the whole year, `2020-01-01T10:00`
/// a whole minute. A time without a zone is taken as UTC.
pub fn parse_date_range(s: &str) -> Option<(i64, i64)> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    if b.len() == 4 {
        return Some((civil_ms(year, 1, 1), civil_ms(year + 1, 1, 1) - 1));
    }
    let month = separated(b, 4, b'-', 2).filter(|m| (1..=12).contains(m))?;
    if b.len() == 7 {
        let (ny, nm) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        return Some((civil_ms(year, month, 1), civil_ms(ny, nm, 1) - 1));
    }
    let day = separated(b, 7, b'-', 2).filter(|d| (1..=days_in_month(year, month)).contains(d))?;
    let midnight = civil_ms(year, month, day);
    if b.len() == 10 {
        return Some((midnight, midnight + MS_PER_DAY - 1));
    }
    let (time, width, rest) = parse_time(b)?;
    let start = midnight + time - parse_offset(rest)? * 60_000;
    Some((start, start + width - 1))
}

/// Parses `Thh:mm[:ss[.fff]]` at offset 10: (milliseconds into the day, width of the
/// precision in milliseconds, remaining bytes).
fn parse_time(b: &[u8]) -> Option<(i64, i64, &[u8])> {
    let hour = separated(b, 10, b'T', 2).filter(|h| *h < 24)?;
    let minute = separated(b, 13, b':', 2).filter(|m| *m < 60)?;
    let mut ms = (hour * 60 + minute) * 60_000;
    if b.get(16) != Some(&b':') {
        return Some((ms, 60_000, b.get(16..)?));
    }
    ms += separated(b, 16, b':', 2).filter(|s| *s <= 60)? * 1000;
    if b.get(19) != Some(&b'.') {
        return Some((ms, 1000, b.get(19..)?));
    }
    let fraction = b.get(20..)?;
    let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
    if len == 0 {
        return None;
    }
    let precision = len.min(3);
    let millis = digits(fraction, 0, precision)? * 10_i64.pow(3 - precision as u32);
    Some((
        ms + millis,
        10_i64.pow(3 - precision as u32),
        fraction.get(len..)?,
    ))
}

/// Parses a zone (`Z`, `±hh:mm`, or nothing for UTC) into minutes east of UTC.
fn parse_offset(b: &[u8]) -> Option<i64> {
    match b {
        [] | [b'Z'] => Some(0),
        [sign @ (b'+' | b'-'), ..] if b.len() == 6 && b.get(3) == Some(&b':') => {
            let minutes = digits(b, 1, 2)? * 60 + digits(b, 4, 2)?;
            Some(if *sign == b'-' { -minutes } else { minutes })
        }
        _ => None,
    }
}

/// `n` ASCII digits at `at` as a number.
fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    b.get(at..at + n)?.iter().try_fold(0_i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// The separator `sep` at `at` followed by `n` digits.
fn separated(b: &[u8], at: usize, sep: u8, n: usize) -> Option<i64> {
    (b.get(at) == Some(&sep)).then_some(())?;
    digits(b, at + 1, n)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Milliseconds since the epoch at midnight UTC of a proleptic Gregorian date
/// (H. Hinnant's `days_from_civil`).
fn civil_ms(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * MS_PER_DAY
}

// ---------------------------------------------------------------------------
// number and quantity

/// Parses a decimal into (value, low, high), where the bounds are implied by the
/// precision it is written with: `100` covers 99.5..100.5, `5.40` 5.395..5.405,
/// `1e2` 50..150.
pub fn parse_decimal_range(text: &str) -> Option<(f64, f64, f64)> {
    let value: f64 = text.parse().ok().filter(|v: &f64| v.is_finite())?;
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let decimals = mantissa.split_once('.').map_or(0, |(_, f)| f.len());
    let decimals = i32::try_from(decimals).ok()?;
    let half = 0.5 * 10_f64.powi(exponent.checked_sub(decimals)?);
    Some((value, value - half, value + half))
}

fn numbers(value: &Value, out: &mut Vec<IndexValue>) {
    if let Some((value, low, high)) = value
        .as_number()
        .and_then(|n| parse_decimal_range(&n.to_string()))
    {
        push(out, IndexValue::Number { value, low, high });
    }
}

const ISO_4217: &str = "urn:iso:std:iso:4217";

fn quantities(value: &Value, out: &mut Vec<IndexValue>) {
    let Some(map) = value.as_object() else {
        return;
    };
    let quantity = if map.contains_key("low") || map.contains_key("high") {
        range(map)
    } else {
        single_quantity(map)
    };
    if let Some(q) = quantity {
        push(out, q);
    }
}

/// A Quantity, Age, Duration, SimpleQuantity or Money; a comparator opens one side.
fn single_quantity(map: &Map<String, Value>) -> Option<IndexValue> {
    let number = field(map, "value")?.as_number()?;
    let (value, mut low, mut high) = parse_decimal_range(&number.to_string())?;
    match field(map, "comparator").and_then(Value::as_str) {
        Some("<" | "<=") => low = f64::MIN,
        Some(">" | ">=") => high = f64::MAX,
        _ => {}
    }
    let currency = text(map, "currency");
    let system = if currency.is_some() {
        Some(ISO_4217.to_owned())
    } else {
        text(map, "system")
    };
    Some(IndexValue::Quantity {
        value: Some(value),
        low,
        high,
        system,
        code: currency.or_else(|| text(map, "code")),
        unit: text(map, "unit"),
    })
}

/// A Range: its low and high values, open when missing; units from either end.
fn range(map: &Map<String, Value>) -> Option<IndexValue> {
    let end = |key: &str| field(map, key).and_then(Value::as_object);
    let bound = |key: &str| {
        end(key)
            .and_then(|q| q.get("value"))
            .and_then(Value::as_f64)
    };
    let (low, high) = (bound("low"), bound("high"));
    if low.is_none() && high.is_none() {
        return None;
    }
    let units = end("low")
        .filter(|_| low.is_some())
        .or_else(|| end("high"))?;
    Some(IndexValue::Quantity {
        value: None,
        low: low.unwrap_or(f64::MIN),
        high: high.unwrap_or(f64::MAX),
        system: text(units, "system"),
        code: text(units, "code"),
        unit: text(units, "unit"),
    })
}

fn positions(value: &Value, out: &mut Vec<IndexValue>) {
    let coordinate = |key: &str| value.get(key).and_then(Value::as_f64);
    if let (Some(latitude), Some(longitude)) = (coordinate("latitude"), coordinate("longitude")) {
        push(
            out,
            IndexValue::Position {
                latitude,
                longitude,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn examples() -> impl Iterator<Item = Value> {
        include_str!("../../tests/data/examples.ndjson")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("example json"))
    }

    fn example(resource_type: &str, id: &str) -> Value {
        examples()
            .find(|r| r["resourceType"] == resource_type && r["id"] == id)
            .expect("example exists")
    }

    fn values(resource: &Value, code: &str) -> Vec<IndexValue> {
        let rt = resource["resourceType"].as_str().expect("resourceType");
        let def = SearchParamRegistry::r4().get(rt, code).expect("param");
        extract(def, resource)
    }

    fn string(s: &str) -> IndexValue {
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

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .timestamp_millis()
    }

    #[test]
    fn extracts_every_example_without_panicking() {
        let mut total = 0;
        for resource in examples() {
            let rt = resource["resourceType"]
                .as_str()
                .expect("resourceType")
                .to_owned();
            total += extract_all(&rt, &resource).len();
        }
        assert!(total > 5000, "{total}");
    }

    #[test]
    fn malformed_resources_yield_nothing_rather_than_panicking() {
        let odd = [
            json!(null),
            json!([1, 2]),
            json!({"resourceType": "Patient"}),
            json!({
                "resourceType": "Patient",
                "name": "x",
                "birthDate": 5,
                "identifier": [null, 3, {"value": {}}, {"type": "t", "value": "v"}],
                "telecom": "a",
                "address": [[]],
                "meta": [],
                "generalPractitioner": [{"reference": 7}, {"reference": "/"}, {"reference": "#"}],
                "deceasedDateTime": "not a date",
            }),
        ];
        let registry = SearchParamRegistry::r4();
        for resource in &odd {
            for def in registry.all() {
                for base in &def.base {
                    extract_all(base, resource);
                }
            }
        }
        let patient = &odd[3];
        assert_eq!(values(patient, "name"), vec![string("x")]);
        assert!(values(patient, "birthdate").is_empty());
        assert_eq!(values(patient, "general-practitioner").len(), 2);
    }

    #[test]
    fn patient_parameters() {
        let patient = example("Patient", "example");
        let names = values(&patient, "name");
        for part in ["Chalmers", "Peter", "James", "Jim", "Windsor"] {
            assert!(names.contains(&string(part)), "{part}");
        }
        assert_eq!(
            values(&patient, "family"),
            vec![string("Chalmers"), string("Windsor")]
        );
        assert_eq!(
            values(&patient, "identifier"),
            vec![IndexValue::Token {
                system: Some("urn:oid:1.2.36.146.595.217.0.1".into()),
                code: Some("12345".into()),
                text: None,
                of_type: vec![(
                    Some("http://terminology.hl7.org/CodeSystem/v2-0203".into()),
                    Some("MR".into())
                )],
            }]
        );
        assert_eq!(
            values(&patient, "birthdate"),
            vec![IndexValue::Date {
                start: ms("1974-12-25T00:00:00Z"),
                end: ms("1974-12-25T23:59:59.999Z"),
            }]
        );
        assert_eq!(
            values(&patient, "gender"),
            vec![token(None, Some("male"), None)]
        );
        assert_eq!(
            values(&patient, "_id"),
            vec![token(None, Some("example"), None)]
        );
        assert_eq!(
            values(&patient, "deceased"),
            vec![token(None, Some("false"), None)]
        );
    }

    #[test]
    fn observation_parameters() {
        let obs = example("Observation", "example");
        let codes = values(&obs, "code");
        assert_eq!(codes.len(), 4);
        assert_eq!(
            codes[0],
            token(
                Some("http://loinc.org"),
                Some("29463-7"),
                Some("Body Weight")
            )
        );
        let quantity = IndexValue::Quantity {
            value: Some(185.0),
            low: 184.5,
            high: 185.5,
            system: Some("http://unitsofmeasure.org".into()),
            code: Some("[lb_av]".into()),
            unit: Some("lbs".into()),
        };
        assert_eq!(values(&obs, "value-quantity"), vec![quantity.clone()]);
        let subject = IndexValue::Reference {
            reference: Some("Patient/example".into()),
            resource_type: Some("Patient".into()),
            id: Some("example".into()),
            identifier: None,
        };
        assert_eq!(values(&obs, "subject"), vec![subject.clone()]);
        assert_eq!(values(&obs, "patient"), vec![subject]);
        assert_eq!(
            values(&obs, "code-value-quantity"),
            vec![IndexValue::Composite(vec![codes, vec![quantity]])]
        );
    }

    /// Composite values stay correlated: each component of a blood pressure pairs its own
    /// code with its own value, and `combo-` adds the Observation's own code and value.
    #[test]
    fn composite_components_follow_each_item() {
        let bp = example("Observation", "blood-pressure");
        let pairs = |code: &str| -> Vec<(Vec<String>, Vec<f64>)> {
            values(&bp, code)
                .into_iter()
                .map(|v| {
                    let IndexValue::Composite(parts) = v else {
                        panic!("{code}: not composite");
                    };
                    let codes = parts[0]
                        .iter()
                        .filter_map(|t| match t {
                            IndexValue::Token { code: Some(c), .. } => Some(c.clone()),
                            _ => None,
                        })
                        .collect();
                    let numbers = parts[1]
                        .iter()
                        .filter_map(|q| match q {
                            IndexValue::Quantity { value, .. } => *value,
                            _ => None,
                        })
                        .collect();
                    (codes, numbers)
                })
                .collect()
        };
        let components = pairs("component-code-value-quantity");
        assert_eq!(components.len(), 2);
        assert!(components[0].0.contains(&"8480-6".to_owned()));
        assert_eq!(components[0].1, [107.0]);
        assert!(components[1].0.contains(&"8462-4".to_owned()));
        assert_eq!(components[1].1, [60.0]);
        // The Observation itself has no valueQuantity, so combo- has the two components.
        assert_eq!(pairs("combo-code-value-quantity"), components);
        assert!(values(&bp, "code-value-quantity").is_empty());
    }

    /// A CodeableConcept's text is a token for `:text` only; composite parameters take no
    /// modifiers, so their combinations pair the codings alone with the value.
    #[test]
    fn composites_pair_codes_not_concept_texts() {
        let obs = json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}], "text": "Height"},
            "valueQuantity": {"value": 180, "system": "http://unitsofmeasure.org", "code": "cm"}});
        assert_eq!(values(&obs, "code").len(), 2);
        let displayed = json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"code": "8302-2", "display": "Height"}], "text": "Height"}});
        assert_eq!(
            values(&displayed, "code"),
            [token(None, Some("8302-2"), Some("Height"))]
        );
        let combinations = values(&obs, "code-value-quantity");
        let [IndexValue::Composite(parts)] = combinations.as_slice() else {
            panic!("one combination");
        };
        assert_eq!(
            parts[0],
            [token(Some("http://loinc.org"), Some("8302-2"), None)]
        );
        let text_only = json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "Height"}, "valueQuantity": {"value": 180}});
        assert!(values(&text_only, "code-value-quantity").is_empty());
    }

    /// The expressions reduced to each resource type select what the full ones select, on
    /// every official example.
    #[test]
    fn per_type_expressions_extract_what_the_full_ones_do() {
        for resource in examples() {
            let ty = resource["resourceType"].as_str().expect("type");
            let full: Vec<(&str, Vec<IndexValue>)> = SearchParamRegistry::r4()
                .for_type(ty)
                .map(|def| (def.code.as_str(), extract(def, &resource)))
                .filter(|(_, values)| !values.is_empty())
                .collect();
            let reduced: Vec<(&str, Vec<IndexValue>)> = extract_all(ty, &resource)
                .into_iter()
                .map(|(def, values)| (def.code.as_str(), values))
                .collect();
            assert_eq!(reduced, full, "{ty}/{}", resource["id"]);
        }
    }

    /// On every official example, a narrowed reference parameter has exactly the values
    /// of the parameter it narrows that point at its type.
    #[test]
    fn narrowed_references_are_the_broad_values_of_one_type() {
        let mut checked = 0;
        for resource in examples() {
            let ty = resource["resourceType"].as_str().expect("type");
            for narrowed in narrowed_references(ty) {
                let of_type = |v: &IndexValue| {
                    matches!(v, IndexValue::Reference { resource_type: Some(t), .. }
                        if *t == narrowed.target_type)
                };
                let mut broad = extract(narrowed.of, &resource);
                broad.retain(of_type);
                let what = format!("{ty}/{} {}", resource["id"], narrowed.param.code);
                assert_eq!(extract(narrowed.param, &resource), broad, "{what}");
                checked += usize::from(!broad.is_empty());
            }
        }
        assert!(checked > 100, "{checked}");
        let observation = narrowed_references("Observation");
        assert!(observation.iter().any(|n| n.param.code == "patient"
            && n.of.code == "subject"
            && n.target_type == "Patient"));
        assert!(narrowed_references("Patient").is_empty());
        assert!(narrowed_references("Bogus").is_empty());
    }

    #[test]
    fn period_dates() {
        let obs = example("Observation", "abdo-tender");
        assert_eq!(
            values(&obs, "date"),
            vec![IndexValue::Date {
                start: ms("2018-04-02T09:30:10Z"),
                end: i64::MAX,
            }]
        );
        let encounter = example("Encounter", "emerg");
        let dates = values(&encounter, "date");
        assert_eq!(dates.len(), 1);
        assert!(
            matches!(dates[0], IndexValue::Date { start, .. } if start == ms("2017-01-31T21:15:00Z"))
        );
    }

    #[test]
    fn meta_parameters() {
        let bundle = example("Bundle", "bundle-example");
        assert_eq!(
            values(&bundle, "_lastUpdated"),
            vec![IndexValue::Date {
                start: ms("2014-08-18T01:43:30Z"),
                end: ms("2014-08-18T01:43:30.999Z"),
            }]
        );
        let tagged = json!({
            "resourceType": "Patient",
            "meta": {"tag": [{"system": "s", "code": "c"}], "profile": ["http://p"], "source": "http://src"},
        });
        assert_eq!(
            values(&tagged, "_tag"),
            vec![token(Some("s"), Some("c"), None)]
        );
        assert_eq!(
            values(&tagged, "_profile"),
            vec![IndexValue::Uri("http://p".into())]
        );
        assert_eq!(
            values(&tagged, "_source"),
            vec![IndexValue::Uri("http://src".into())]
        );
    }

    #[test]
    fn multi_base_reference_branches_and_identifiers() {
        let encounter = json!({
            "resourceType": "Encounter",
            "subject": {"reference": "http://x/fhir/Group/g/_history/1"},
            "contained": [{"resourceType": "Patient", "id": "p"}],
            "participant": [{"individual": {"reference": "#p"}}, {"individual": {"identifier": {"system": "s", "value": "v"}, "type": "Practitioner"}}],
        });
        assert!(values(&encounter, "patient").is_empty());
        assert_eq!(
            values(&encounter, "subject"),
            vec![IndexValue::Reference {
                reference: Some("http://x/fhir/Group/g/_history/1".into()),
                resource_type: Some("Group".into()),
                id: Some("g".into()),
                identifier: None,
            }]
        );
        let participants = values(&encounter, "participant");
        assert_eq!(
            participants,
            vec![
                IndexValue::Reference {
                    reference: Some("#p".into()),
                    resource_type: Some("Patient".into()),
                    id: None,
                    identifier: None
                },
                IndexValue::Reference {
                    reference: None,
                    resource_type: Some("Practitioner".into()),
                    id: None,
                    identifier: Some((Some("s".into()), Some("v".into()))),
                },
            ]
        );
        assert_eq!(values(&encounter, "practitioner").len(), 1);
    }

    #[test]
    fn strings_tokens_and_quantities_by_shape() {
        let patient = json!({
            "resourceType": "Patient",
            "address": [{"line": ["1 Rue"], "city": "Besançon", "postalCode": "25000"}],
            "telecom": [{"system": "phone", "value": "555"}, {"system": "email", "value": "a@b"}],
            "active": true,
        });
        assert_eq!(
            values(&patient, "address"),
            vec![string("1 Rue"), string("Besançon"), string("25000")]
        );
        assert_eq!(
            values(&patient, "address-city")[0],
            IndexValue::String {
                normalized: "besancon".into(),
                exact: "Besançon".into(),
            }
        );
        assert_eq!(
            values(&patient, "phone"),
            vec![token(None, Some("555"), None)]
        );
        assert_eq!(values(&patient, "telecom").len(), 2);
        assert_eq!(
            values(&patient, "active"),
            vec![token(None, Some("true"), None)]
        );
        let condition = json!({
            "resourceType": "Condition",
            "onsetRange": {"low": {"value": 2, "unit": "a"}},
            "abatementAge": {"value": 5.5, "comparator": "<"},
        });
        assert_eq!(
            values(&condition, "onset-age"),
            vec![IndexValue::Quantity {
                value: None,
                low: 2.0,
                high: f64::MAX,
                system: None,
                code: None,
                unit: Some("a".into()),
            }]
        );
        assert_eq!(
            values(&condition, "abatement-age"),
            vec![IndexValue::Quantity {
                value: Some(5.5),
                low: f64::MIN,
                high: 5.55,
                system: None,
                code: None,
                unit: None,
            }]
        );
        let location =
            json!({"resourceType": "Location", "position": {"latitude": 1.5, "longitude": -2}});
        assert_eq!(
            values(&location, "near"),
            vec![IndexValue::Position {
                latitude: 1.5,
                longitude: -2.0
            }]
        );
    }

    #[test]
    fn date_ranges() {
        let cases = [
            ("2020", "2020-01-01T00:00:00Z", "2020-12-31T23:59:59.999Z"),
            (
                "2020-02",
                "2020-02-01T00:00:00Z",
                "2020-02-29T23:59:59.999Z",
            ),
            (
                "2019-12",
                "2019-12-01T00:00:00Z",
                "2019-12-31T23:59:59.999Z",
            ),
            (
                "1969-07-20",
                "1969-07-20T00:00:00Z",
                "1969-07-20T23:59:59.999Z",
            ),
            (
                "2020-01-01T10:00",
                "2020-01-01T10:00:00Z",
                "2020-01-01T10:00:59.999Z",
            ),
            (
                "2020-01-01T10:00:05",
                "2020-01-01T10:00:05Z",
                "2020-01-01T10:00:05.999Z",
            ),
            (
                "2020-01-01T10:00:05.1+02:00",
                "2020-01-01T08:00:05.100Z",
                "2020-01-01T08:00:05.199Z",
            ),
            (
                "2020-01-01T10:00:05.123456Z",
                "2020-01-01T10:00:05.123Z",
                "2020-01-01T10:00:05.123Z",
            ),
            (
                "2020-01-01T00:30:00-05:30",
                "2020-01-01T06:00:00Z",
                "2020-01-01T06:00:00.999Z",
            ),
        ];
        for (input, start, end) in cases {
            assert_eq!(
                parse_date_range(input),
                Some((ms(start), ms(end))),
                "{input}"
            );
        }
        for bad in [
            "",
            "20",
            "2020-13",
            "2020-02-30",
            "2020-01-01T25:00",
            "2020-01-01T10:00:00+0200",
            "2020-01-01 10:00",
            "٢٠٢٠",
            "2020-01-01T10:00:00.",
        ] {
            assert_eq!(parse_date_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn decimal_precision_and_normalization() {
        assert_eq!(parse_decimal_range("100"), Some((100.0, 99.5, 100.5)));
        let (v, low, high) = parse_decimal_range("5.40").expect("decimal");
        assert!(
            (v - 5.4).abs() < 1e-12 && (low - 5.395).abs() < 1e-12 && (high - 5.405).abs() < 1e-12
        );
        assert_eq!(parse_decimal_range("1e2"), Some((100.0, 50.0, 150.0)));
        assert_eq!(parse_decimal_range("abc"), None);
        assert_eq!(
            normalize_string("ÉLODIE Œuvre Straße"),
            "elodie oeuvre strasse"
        );
        assert_eq!(normalize_string("Zoe\u{301}"), "zoe");
    }
}
