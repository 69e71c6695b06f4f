//! Request extractors: the request context (query, headers, negotiation, base URL), the
//! interaction target from the path, and size-limited JSON bodies. Their rejections are
//! `OperationOutcome`s, like every other error.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, RawPathParams};
use hearth_interface::{Error, IssueKind, ResourceId, ResourceType, Result};
use http::HeaderMap;
use http::request::Parts;
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::negotiate::{Prefer, Presentation, is_presentation_param};

/// What every handler needs to know about the request besides its body.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The request headers.
    pub headers: HeaderMap,
    /// How to present the answer.
    pub presentation: Presentation,
    /// The `Prefer` header.
    pub prefer: Prefer,
    /// The FHIR base URL, without trailing slash.
    pub base: String,
}

impl Ctx {
    /// The query parameters that are not presentation settings handled by [`Presentation`].
    pub fn criteria_params(&self) -> impl Iterator<Item = &(String, String)> {
        self.query.iter().filter(|(k, _)| !is_presentation_param(k))
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let query: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let presentation = Presentation::negotiate(&query, &parts.headers)?;
        let prefer = Prefer::from_headers(&parts.headers);
        let base = base_url(state, &parts.headers);
        Ok(Self {
            query,
            headers: parts.headers.clone(),
            presentation,
            prefer,
            base,
        })
    }
}

fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(base) = &state.config.base_url {
        return base.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// The resource type, id and version named by the path.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resource type (404 when unknown).
    pub ty: ResourceType,
    /// The logical id, when the path has one (400 when invalid).
    pub id: Option<ResourceId>,
    /// The version, for vread (404 when not a number).
    pub version: Option<u64>,
}

impl Target {
    /// The id, which the route guarantees.
    pub fn id(&self) -> Result<&ResourceId> {
        self.id
            .as_ref()
            .ok_or_else(|| Error::invalid("the request path needs a resource id"))
    }
}

/// Parses a resource type name as it appears in a URL.
pub fn resource_type(name: &str) -> Result<ResourceType> {
    ResourceType::parse(name).ok_or_else(|| {
        Error::not_found(format!(
            "unknown resource type '{}'",
            hearth_interface::id::truncate_for_message(name)
        ))
    })
}

impl FromRequestParts<AppState> for Target {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::invalid(format!("invalid path: {e}")))?;
        let (mut ty, mut id, mut version) = (None, None, None);
        for (key, value) in &params {
            match key {
                "type" => ty = Some(resource_type(value)?),
                "id" => id = Some(ResourceId::parse(value)?),
                "vid" => {
                    let v = value
                        .parse::<u64>()
                        .ok()
                        .filter(|v| *v > 0)
                        .ok_or_else(|| {
                            Error::not_found(format!(
                                "version '{}' does not exist",
                                hearth_interface::id::truncate_for_message(value)
                            ))
                        })?;
                    version = Some(v);
                }
                _ => {}
            }
        }
        let ty = ty.ok_or_else(|| Error::invalid("the request path needs a resource type"))?;
        Ok(Target { ty, id, version })
    }
}

/// Reads a body up to the configured size limit.
///
/// A body over the limit is still read (and discarded) up to a bound, so that the client,
/// which is usually still sending, receives the 413 instead of a broken connection.
///
/// # Errors
/// 413 past the limit, 400 when the body cannot be read.
pub async fn read_body(state: &AppState, body: Body) -> Result<Bytes> {
    read_body_up_to(body, state.config.max_body_bytes).await
}

/// Reads a body up to `limit` bytes, like [`read_body`].
///
/// # Errors
/// 413 past the limit, 400 when the body cannot be read.
pub async fn read_body_up_to(body: Body, limit: usize) -> Result<Bytes> {
    use http_body_util::BodyExt;
    let drain_bound = limit.saturating_mul(4).max(64 << 20);
    let too_large = || {
        Error::new(
            IssueKind::TooLarge,
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    };
    let mut body = body;
    let mut buffer = Vec::new();
    let mut seen = 0_usize;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| Error::invalid(format!("the request body could not be read: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            buffer.extend_from_slice(&data);
        } else if seen > drain_bound {
            return Err(too_large());
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(Bytes::from(buffer))
}

/// Parses a FHIR JSON resource: a JSON object with a string `resourceType`.
///
/// # Errors
/// 400 for malformed JSON (with line and column), non-objects and a missing `resourceType`.
pub fn parse_resource(bytes: &[u8]) -> Result<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid(
            "the request body is empty: a FHIR resource is required",
        ));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::invalid(format!("malformed JSON: {e}")))?;
    match value.get("resourceType") {
        Some(Value::String(_)) if value.is_object() => Ok(value),
        Some(_) => Err(Error::invalid("resourceType must be a string").at("resourceType")),
        None if value.is_object() => Err(Error::invalid("the resource has no resourceType")),
        None => Err(Error::invalid(
            "the request body must be a JSON object (a FHIR resource)",
        )),
    }
}
