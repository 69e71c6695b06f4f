//! Content negotiation (`_format`, `Accept`, `Content-Type`), presentation parameters
//! (`_pretty`, `_summary`, `_elements`) and the `Prefer` header.

use hearth_interface::{Error, IssueKind, Result};
use http::HeaderMap;
use http::header::{ACCEPT, CONTENT_TYPE};

/// The FHIR JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";
/// Plain JSON, answered when a client asks for it.
pub const PLAIN_JSON: &str = "application/json";
/// JSON Patch bodies.
pub const JSON_PATCH: &str = "application/json-patch+json";

/// Whether a query parameter is a presentation setting ([`Presentation`] reads it) rather
/// than a search criterion.
pub fn is_presentation_param(name: &str) -> bool {
    matches!(name, "_format" | "_pretty" | "_summary" | "_elements")
}

/// What `_summary` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SummaryMode {
    /// The whole resource.
    #[default]
    False,
    /// Only summary elements.
    True,
    /// Only `text`, `id`, `meta` and mandatory elements.
    Text,
    /// Everything but `text`.
    Data,
    /// Only the count (searches).
    Count,
}

/// How to present an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation {
    /// The response media type.
    pub content_type: &'static str,
    /// Indent the JSON.
    pub pretty: bool,
    /// `_summary`.
    pub summary: SummaryMode,
    /// `_elements`, when given.
    pub elements: Option<Vec<String>>,
}

impl Default for Presentation {
    fn default() -> Self {
        Self {
            content_type: FHIR_JSON,
            pretty: false,
            summary: SummaryMode::False,
            elements: None,
        }
    }
}

impl Presentation {
    /// Whether the stored bytes can be sent as they are.
    pub fn is_verbatim(&self) -> bool {
        !self.pretty && self.summary == SummaryMode::False && self.elements.is_none()
    }

    /// Reads `_format`, `_pretty`, `_summary` and `_elements` from the query and `Accept`
    /// from the headers.
    ///
    /// # Errors
    /// 406 for XML or unknown formats, 400 for bad parameter values.
    pub fn negotiate(query: &[(String, String)], headers: &HeaderMap) -> Result<Self> {
        let mut p = Self::default();
        let format = query
            .iter()
            .find(|(k, _)| k == "_format")
            .map(|(_, v)| v.as_str());
        p.content_type = match format {
            Some(f) => format_media_type(f)?,
            None => accept_media_type(headers)?,
        };
        for (key, value) in query {
            match key.as_str() {
                "_pretty" => p.pretty = parse_bool("_pretty", value)?,
                "_summary" => p.summary = parse_summary(value)?,
                "_elements" => {
                    let names: Vec<String> = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| s.rsplit('.').next().unwrap_or(s).to_owned())
                        .collect();
                    p.elements = Some(names);
                }
                _ => {}
            }
        }
        Ok(p)
    }
}

fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(Error::invalid(format!(
            "{name} must be true or false, not '{other}'"
        ))),
    }
}

fn parse_summary(value: &str) -> Result<SummaryMode> {
    Ok(match value {
        "true" => SummaryMode::True,
        "false" => SummaryMode::False,
        "text" => SummaryMode::Text,
        "data" => SummaryMode::Data,
        "count" => SummaryMode::Count,
        other => {
            return Err(Error::invalid(format!(
                "_summary must be one of true, false, text, data, count; not '{other}'"
            )));
        }
    })
}

fn is_xml(media: &str) -> bool {
    media == "xml" || media.ends_with("/xml") || media.ends_with("+xml")
}

fn format_media_type(format: &str) -> Result<&'static str> {
    let media = format
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "json" | "application/fhir+json" | "fhir+json" | "application/json+fhir" => Ok(FHIR_JSON),
        "application/json" | "text/json" => Ok(PLAIN_JSON),
        m if is_xml(m) => Err(Error::new(
            IssueKind::NotAcceptable,
            "XML is not supported by this server: use _format=json or application/fhir+json",
        )),
        m => Err(Error::new(
            IssueKind::NotAcceptable,
            format!("unsupported _format '{m}': this server answers application/fhir+json"),
        )),
    }
}

fn accept_media_type(headers: &HeaderMap) -> Result<&'static str> {
    let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(FHIR_JSON);
    };
    let mut saw_xml = false;
    for media in accept.split(',').map(|m| {
        m.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }) {
        match media.as_str() {
            "" | "*/*" | "application/*" | "application/fhir+json" | "application/json+fhir" => {
                return Ok(FHIR_JSON);
            }
            "application/json" | "text/json" | "text/*" => return Ok(PLAIN_JSON),
            m if is_xml(m) => saw_xml = true,
            _ => {}
        }
    }
    let message = if saw_xml {
        "XML is not supported by this server: accept application/fhir+json"
    } else {
        "none of the Accept media types is supported: this server answers application/fhir+json"
    };
    Err(Error::new(IssueKind::NotAcceptable, message))
}

/// The kind of body a request carries, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// FHIR JSON (or plain JSON).
    FhirJson,
    /// A JSON Patch document.
    JsonPatch,
}

/// Classifies the request's `Content-Type`.
///
/// # Errors
/// 415 for a missing, XML or otherwise unsupported media type.
pub fn body_kind(headers: &HeaderMap) -> Result<BodyKind> {
    let Some(raw) = headers.get(CONTENT_TYPE) else {
        return Err(Error::new(
            IssueKind::UnsupportedMediaType,
            "a Content-Type header is required: send application/fhir+json",
        ));
    };
    let media = raw
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/fhir+json" | "application/json" | "application/json+fhir" | "text/json" => {
            Ok(BodyKind::FhirJson)
        }
        JSON_PATCH => Ok(BodyKind::JsonPatch),
        m if is_xml(m) => Err(Error::new(
            IssueKind::UnsupportedMediaType,
            "XML bodies are not supported by this server: send application/fhir+json",
        )),
        m => Err(Error::new(
            IssueKind::UnsupportedMediaType,
            format!(
                "unsupported Content-Type '{}': send application/fhir+json",
                hearth_interface::id::truncate_for_message(m)
            ),
        )),
    }
}

/// What `Prefer: return=` asks for after a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnPreference {
    /// No body.
    Minimal,
    /// The resource (the default).
    #[default]
    Representation,
    /// An `OperationOutcome`.
    OperationOutcome,
}

/// The `Prefer` header's settings this server honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prefer {
    /// `return=`.
    pub return_pref: ReturnPreference,
    /// `handling=lenient`.
    pub lenient: bool,
}

impl Prefer {
    /// Reads the `Prefer` headers; unknown preferences are ignored, as RFC 7240 says.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut prefer = Self::default();
        for value in headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            for token in value.split([',', ';']).map(str::trim) {
                match token.replace(' ', "").as_str() {
                    "return=minimal" => prefer.return_pref = ReturnPreference::Minimal,
                    "return=representation" => {
                        prefer.return_pref = ReturnPreference::Representation
                    }
                    "return=OperationOutcome" => {
                        prefer.return_pref = ReturnPreference::OperationOutcome
                    }
                    "handling=lenient" => prefer.lenient = true,
                    "handling=strict" => prefer.lenient = false,
                    _ => {}
                }
            }
        }
        prefer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn negotiates_json_and_refuses_xml() {
        let q = |f: &str| vec![("_format".to_owned(), f.to_owned())];
        assert_eq!(
            Presentation::negotiate(&q("json"), &HeaderMap::new())
                .unwrap()
                .content_type,
            FHIR_JSON
        );
        assert_eq!(
            Presentation::negotiate(&q("application/json"), &HeaderMap::new())
                .unwrap()
                .content_type,
            PLAIN_JSON
        );
        let err = Presentation::negotiate(&q("xml"), &HeaderMap::new()).unwrap_err();
        assert_eq!(err.kind(), IssueKind::NotAcceptable);
        let h = headers(&[("accept", "application/fhir+xml")]);
        assert_eq!(
            Presentation::negotiate(&[], &h).unwrap_err().kind(),
            IssueKind::NotAcceptable
        );
        let h = headers(&[(
            "accept",
            "application/fhir+xml, application/fhir+json;q=0.5",
        )]);
        assert_eq!(
            Presentation::negotiate(&[], &h).unwrap().content_type,
            FHIR_JSON
        );
    }

    #[test]
    fn reads_prefer() {
        let h = headers(&[("prefer", "return=minimal, handling=lenient")]);
        let p = Prefer::from_headers(&h);
        assert_eq!(p.return_pref, ReturnPreference::Minimal);
        assert!(p.lenient);
    }
}
